import type { SseBrokerHost, SseEnvelope } from '../sse-broker.interface.js';
import { SseError } from '../../sse.errors.js';
import { decodeEntry, decodeSignal } from '../sse-broker.codec.js';
import type { NatsSseMemberships } from './nats-sse.memberships.js';
import type { NatsSsePresence } from './nats-sse.presence.js';
import type { NatsSseParts } from './nats-sse.session.js';
import type { NatsSseSubjects } from './nats-sse.subjects.js';

// Reads of a topic's kept events tried at a join before giving up on them.
const CATCH_UP_ATTEMPTS = 3;

/**
 * Topics on this instance: which of its users are members of what, the live subscription
 * of each topic with a receiving connection here, the per-topic presence that `delivered`
 * counts, and the catch-up of a member that joins while connected here.
 *
 * A join or leave is written to the memberships bucket, then told on `<prefix>.j.<user>`;
 * every instance with connections of the user applies it. A join applied here buffers the
 * topic's live events, subscribes to the topic (if this instance did not receive it yet),
 * reads the topic's kept events after the join's seq and gives those the user missed to its
 * connections that do not receive the topic yet (a subscribed one had them live), then makes
 * them members and delivers the buffer: nothing lost, none twice.
 */
export class NatsSseTopics {
  /** The memberships bucket, once NATS has answered. */
  store: NatsSseMemberships | undefined;
  /** Memberships of the users with connections here. */
  private readonly mine = new Map<string, Set<string>>();
  /** Users whose memberships are being read at their first connection here. */
  private readonly loading = new Map<string, Promise<void>>();
  /** Topics catching up: their live events wait here meanwhile. */
  private readonly catching = new Map<string, SseEnvelope[]>();
  /** Catch-ups of one topic run one after the other. */
  private readonly tails = new Map<string, Promise<void>>();

  constructor(
    private readonly host: SseBrokerHost,
    private readonly subjects: NatsSseSubjects,
    readonly presence: NatsSsePresence,
    private readonly parts: () => NatsSseParts | undefined,
    private readonly up: () => boolean,
    private readonly report: (what: string, error: unknown) => void,
  ) {}

  /** A topic event from another instance. */
  receive(topic: string, payload: string): void {
    const signal = decodeSignal(payload);
    if (signal?.kind !== 'message' || signal.origin === this.host.instanceId) return;
    const entry = decodeEntry(payload, null, signal.entry);
    if (entry === undefined) return;
    const message: SseEnvelope = { ...entry, topic };
    const buffer = this.catching.get(topic);
    if (buffer !== undefined) buffer.push(message);
    else this.host.deliver(message);
  }

  /** A join or leave told by another instance: applied when the user has connections here. */
  signal(userId: string, payload: string): void {
    if (this.host.localConnections(userId) === 0) return;
    const kind = payload.charAt(0);
    const lines = payload.slice(1).split('\n');
    if (lines[0] === this.host.instanceId) return;
    if (kind === 'j' && lines.length === 3) void this.applyJoin(userId, lines[2], lines[1]);
    if (kind === 'l' && lines.length === 2) this.applyLeave(userId, lines[1]);
  }

  /** A connection opened: its subscriptions, and on the user's first one, its memberships. */
  async connected(userId: string, topics: readonly string[]): Promise<void> {
    const waits: Array<Promise<void> | undefined> = [];
    for (const topic of topics) waits.push(this.receiveHere(topic));
    if (!this.mine.has(userId)) {
      this.mine.set(userId, new Set());
      const loading = this.load(userId);
      this.loading.set(userId, loading);
      void loading.finally(() => {
        if (this.loading.get(userId) === loading) this.loading.delete(userId);
      });
    }
    waits.push(this.loading.get(userId));
    await Promise.all(waits);
  }

  private async load(userId: string): Promise<void> {
    const store = this.store;
    if (store === undefined || !this.up()) return;
    let current: Record<string, string>;
    try {
      current = await store.current(userId);
    } catch (error) {
      this.report('memberships', error);
      return;
    }
    const mine = this.mine.get(userId);
    if (mine === undefined) return;
    const waits: Array<Promise<void> | undefined> = [];
    for (const topic of Object.keys(current)) {
      mine.add(topic);
      this.host.joinLocal(userId, topic);
      waits.push(this.receiveHere(topic));
    }
    await Promise.all(waits);
  }

  /** A connection closed: its subscriptions, and with the user's last one, its memberships. */
  disconnected(userId: string, topics: readonly string[]): void {
    for (const topic of topics) this.idle(topic);
    if (this.host.localConnections(userId) > 0) return;
    const mine = this.mine.get(userId);
    this.mine.delete(userId);
    if (mine !== undefined) for (const topic of mine) this.idle(topic);
  }

  /** Makes the user a member everywhere: `false` when it already was. */
  async join(userId: string, topic: string): Promise<boolean> {
    const { change, nc } = await this.change('join', userId, topic);
    if (!change.changed) return false;
    nc.publish(
      this.subjects.membership(userId),
      `j${this.host.instanceId}\n${change.from}\n${topic}`,
    );
    if (this.host.localConnections(userId) > 0) await this.applyJoin(userId, topic, change.from);
    return true;
  }

  /** Ends the membership everywhere: `false` when there was none. */
  async leave(userId: string, topic: string): Promise<boolean> {
    const { change, nc } = await this.change('leave', userId, topic);
    if (!change.changed) return false;
    nc.publish(this.subjects.membership(userId), `l${this.host.instanceId}\n${topic}`);
    this.applyLeave(userId, topic);
    return true;
  }

  /** The user's memberships, sorted. */
  async topicsOf(userId: string): Promise<string[]> {
    return Object.keys(await this.requireStore().current(userId)).sort();
  }

  /** The topic's members, online or not, sorted. */
  members(topic: string): Promise<string[]> {
    return this.requireStore().members(topic);
  }

  private async change(
    what: 'join' | 'leave',
    userId: string,
    topic: string,
  ): Promise<{
    change: Awaited<ReturnType<NatsSseMemberships['join']>>;
    nc: NatsSseParts['nc'];
  }> {
    const store = this.requireStore();
    const nc = this.parts()?.nc;
    if (nc === undefined) throw unavailable();
    const change = await (what === 'join' ? store.join(userId, topic) : store.leave(userId, topic));
    return { change, nc };
  }

  private requireStore(): NatsSseMemberships {
    if (this.store === undefined || !this.up()) throw unavailable();
    return this.store;
  }

  /** Applies a join here, one catch-up at a time per topic. */
  private applyJoin(userId: string, topic: string, from: string): Promise<void> {
    const run = (this.tails.get(topic) ?? Promise.resolve()).then(() =>
      this.catchUp(userId, topic, from),
    );
    this.tails.set(topic, run);
    void run.finally(() => {
      if (this.tails.get(topic) === run) this.tails.delete(topic);
    });
    return run;
  }

  private async catchUp(userId: string, topic: string, from: string): Promise<void> {
    const mine = this.mine.get(userId);
    if (mine === undefined || mine.has(topic)) return;
    mine.add(topic);
    const buffer: SseEnvelope[] = [];
    this.catching.set(topic, buffer);
    let missed: SseEnvelope[] = [];
    try {
      missed = await this.missed(topic, from);
    } finally {
      this.catching.delete(topic);
    }
    // Written to the user's connections that do not receive the topic yet: a connection
    // subscribed to it had every one of them live.
    const live = new Set(buffer.map((e) => e.seq));
    for (const event of missed) if (!live.has(event.seq)) this.host.deliverMissed(userId, event);
    this.host.joinLocal(userId, topic);
    this.presence.touch(topic);
    for (const event of buffer) this.host.deliver(event);
  }

  /**
   * The topic's kept events after `from`, once this instance receives the topic live. A
   * failed read is tried again (a slow JetStream answer should not cost the member events);
   * after the last try it is reported and the member goes on with live events only.
   */
  private async missed(topic: string, from: string): Promise<SseEnvelope[]> {
    for (let attempt = 1; ; attempt++) {
      try {
        await this.receiveHere(topic);
        const parts = this.parts();
        if (parts === undefined || this.host.history.size === 0 || !this.up()) return [];
        const read = await parts.history.read(
          this.subjects.topic(topic),
          this.subjects.topicLost(topic),
          null,
          topic,
        );
        // Live copies of what the read found reached this connection before it.
        await parts.nc.flush();
        return read.entries.map((e) => e.envelope).filter((e) => e.seq > from);
      } catch (error) {
        if (attempt >= CATCH_UP_ATTEMPTS) {
          this.report('topic catch-up', error);
          return [];
        }
      }
    }
  }

  private applyLeave(userId: string, topic: string): void {
    const mine = this.mine.get(userId);
    if (mine === undefined || !mine.delete(topic)) return;
    this.host.leaveLocal(userId, topic);
    this.idle(topic);
  }

  /** This instance receives the topic: resolves once the server has the subscription. */
  private receiveHere(topic: string): Promise<void> | undefined {
    this.presence.touch(topic);
    return this.parts()?.topics.want(topic, this.up());
  }

  /** A topic's receiving connections here changed: stop listening when none is left. */
  private idle(topic: string): void {
    this.presence.touch(topic);
    if (this.host.localTopicConnections(topic) === 0) this.parts()?.topics.drop(topic);
  }
}

function unavailable(): SseError {
  return new SseError(
    'NATS is out of reach: memberships cannot be read or changed now. Potential ' +
      'solutions: try again once NATS is back (the broker reconnects by itself); check ' +
      'the servers option and that the NATS server runs with JetStream (-js).',
  );
}
