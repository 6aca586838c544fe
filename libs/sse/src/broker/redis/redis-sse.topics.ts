import type { SseBrokerHost, SseEnvelope } from '../sse-broker.interface.js';
import { SseTooManyTopicsError } from '../../sse.errors.js';
import { sseId } from '../../wire/sse-id.js';
import { decodeEntry, type SseMembershipSignal } from '../sse-broker.codec.js';
import { RedisSseUnavailableError } from './redis-sse.errors.js';
import type { RedisSseClient } from './redis-sse.connection.js';
import type { RedisSseKeys } from './redis-sse.keys.js';
import type { RedisSseSubscriptions } from './redis-sse.subscriptions.js';
import type { RedisSseTopicPresence } from './redis-sse.topic-presence.js';
import { JOIN_TOPIC, LEAVE_TOPIC, SHARDED_TOPIC_SCRIPTS } from './redis-sse.topic-scripts.js';

/** A local user's memberships as known here: topic -> join seq, and their version. */
interface LocalMemberships {
  readonly topics: Map<string, string>;
  version: number;
  /** Joins and leaves told while the memberships were being read, applied after. */
  queued: SseMembershipSignal[] | undefined;
}

/**
 * Topics on this instance: memberships in Redis (`join`, `leave`, `topicsOf`, `members`),
 * the memberships of the users with connections here (told by `j`/`p` messages on the
 * user's channel, numbered so that a read and the messages agree), the topic channels this
 * instance listens to (those with a receiving connection here), and the catch-up of a topic
 * that starts being received here because of a join.
 */
export class RedisSseTopics {
  private readonly local = new Map<string, LocalMemberships>();
  /** Topics catching up: their live events wait here until the catch-up is written. */
  private readonly catching = new Map<string, SseEnvelope[]>();
  private readonly catchUps = new Map<string, Promise<void>>();

  constructor(
    private readonly client: RedisSseClient,
    private readonly keys: RedisSseKeys,
    private readonly host: SseBrokerHost,
    private readonly subscriptions: RedisSseSubscriptions,
    private readonly presence: RedisSseTopicPresence,
    private readonly onError: (what: string, error: unknown) => void,
  ) {}

  /**
   * The user-side script (limit, membership, the message to the user's instances), then the
   * topic's member set (another slot on Redis Cluster). When the user has connections here,
   * resolves once they receive the topic.
   */
  async join(userId: string, topic: string): Promise<boolean> {
    const { keys, host } = this;
    const limit = host.limits.maxTopicsPerUser;
    const joined = Number(
      await this.command(() =>
        (keys.cluster ? SHARDED_TOPIC_SCRIPTS.join : JOIN_TOPIC).run(
          this.client,
          [keys.userTopics(userId), keys.userTopicsVersion(userId)],
          [topic, sseId(), limit, keys.userChannel(userId), host.instanceId],
        ),
      ),
    );
    if (joined === -1) {
      throw new SseTooManyTopicsError('maxTopicsPerUser', limit, `User ${userId} is in`);
    }
    await this.command(() => this.client.sadd(keys.topicMembers(topic), userId));
    await this.settled(userId, topic);
    return joined === 1;
  }

  /** The user-side script, then the topic's member set; resolves whether it was a member. */
  async leave(userId: string, topic: string): Promise<boolean> {
    const { keys, host } = this;
    const left = Number(
      await this.command(() =>
        (keys.cluster ? SHARDED_TOPIC_SCRIPTS.leave : LEAVE_TOPIC).run(
          this.client,
          [keys.userTopics(userId), keys.userTopicsVersion(userId), keys.userTopicsLeft(userId)],
          [topic, sseId(), 2 * host.history.ttlMs, keys.userChannel(userId), host.instanceId],
        ),
      ),
    );
    await this.command(() => this.client.srem(keys.topicMembers(topic), userId));
    await this.settled(userId, topic);
    return left === 1;
  }

  async topicsOf(userId: string): Promise<string[]> {
    return (await this.command(() => this.client.hkeys(this.keys.userTopics(userId)))).sort();
  }

  async members(topic: string): Promise<string[]> {
    return (await this.command(() => this.client.smembers(this.keys.topicMembers(topic)))).sort();
  }

  /** Memberships of the user known here (the user has connections here). */
  memberships(userId: string): Iterable<string> {
    return this.local.get(userId)?.topics.keys() ?? [];
  }

  /**
   * A connection opened here. On the user's first, reads its memberships once the user's
   * channel is subscribed (`subscribing`) and joins them here. Returns what to wait for:
   * the read and the new topic subscriptions.
   */
  connected(
    userId: string,
    topics: readonly string[],
    subscribing: Promise<unknown> | undefined,
  ): Promise<unknown> | undefined {
    const waits: Promise<unknown>[] = [];
    let mine = this.local.get(userId);
    if (mine === undefined) {
      mine = { topics: new Map(), version: 0, queued: [] };
      this.local.set(userId, mine);
      waits.push(this.load(userId, mine, subscribing));
    } else {
      for (const topic of mine.topics.keys()) this.receive(topic);
    }
    for (const topic of topics) {
      const subscribed = this.receive(topic);
      if (subscribed !== undefined) waits.push(subscribed);
    }
    return waits.length === 0 ? undefined : Promise.all(waits);
  }

  /** A connection closed here; the user's last one forgets its memberships here. */
  disconnected(userId: string, topics: readonly string[]): void {
    for (const topic of topics) this.receive(topic);
    const mine = this.local.get(userId);
    if (mine === undefined) return;
    if (this.host.localConnections(userId) === 0) this.local.delete(userId);
    for (const topic of mine.topics.keys()) this.receive(topic);
  }

  /** A join or leave told on the user's channel, from any instance (this one too). */
  told(userId: string, signal: SseMembershipSignal): void {
    const mine = this.local.get(userId);
    if (mine === undefined) return;
    if (mine.queued !== undefined) mine.queued.push(signal);
    else this.apply(userId, mine, signal);
  }

  /** A topic event, from Redis or this instance: to its connections here, or held. */
  deliver(message: SseEnvelope): number {
    const held = this.catching.get(message.topic!);
    if (held === undefined) return this.host.deliver(message);
    held.push(message);
    return this.host.localTopicConnections(message.topic!);
  }

  private async load(
    userId: string,
    mine: LocalMemberships,
    subscribing: Promise<unknown> | undefined,
  ): Promise<void> {
    await subscribing;
    const { keys } = this;
    let memberships: Record<string, string> = {};
    try {
      const replies = await this.client
        .multi()
        .hgetall(keys.userTopics(userId))
        .get(keys.userTopicsVersion(userId))
        .exec();
      for (const [error] of replies ?? []) if (error !== null) throw error;
      memberships = (replies?.[0][1] ?? {}) as Record<string, string>;
      mine.version = Number(replies?.[1][1] ?? 0);
    } catch (error) {
      this.onError('memberships', error);
    }
    const queued = mine.queued ?? [];
    mine.queued = undefined;
    if (this.local.get(userId) !== mine) return;
    const waits: Promise<unknown>[] = [];
    for (const [topic, from] of Object.entries(memberships)) {
      mine.topics.set(topic, from);
      this.host.joinLocal(userId, topic);
      const subscribed = this.receive(topic);
      if (subscribed !== undefined) waits.push(subscribed);
    }
    for (const signal of queued) this.apply(userId, mine, signal);
    await Promise.all(waits);
  }

  private apply(userId: string, mine: LocalMemberships, signal: SseMembershipSignal): void {
    if (signal.version <= mine.version) return;
    mine.version = signal.version;
    const { topic } = signal;
    if (signal.kind === 'leave') {
      if (!mine.topics.delete(topic)) return;
      this.host.leaveLocal(userId, topic);
      this.receive(topic);
      return;
    }
    if (mine.topics.has(topic)) return;
    mine.topics.set(topic, signal.from);
    const before = this.host.localTopicConnections(topic);
    this.host.joinLocal(userId, topic);
    const subscribing = this.receive(topic);
    if (before === 0 && subscribing !== undefined) this.catchUp(topic, signal.from, subscribing);
  }

  /**
   * Listens to the topic's channel while a connection here receives it, and not after;
   * marks its presence for writing. Returns the subscription this call started, if any.
   */
  private receive(topic: string): Promise<unknown> | undefined {
    this.presence.touch(topic);
    if (this.host.localTopicConnections(topic) > 0) return this.subscriptions.wantTopic(topic);
    this.subscriptions.dropTopic(topic);
    return undefined;
  }

  /**
   * The topic starts being received here because of a join: once its channel is
   * subscribed, reads what it kept after the join and writes that first, then the live
   * events that came meanwhile, those the read held left out (by `seq`).
   */
  private catchUp(topic: string, from: string, subscribing: Promise<unknown>): void {
    const held: SseEnvelope[] = [];
    this.catching.set(topic, held);
    const done = (async () => {
      let kept: SseEnvelope[] = [];
      try {
        await subscribing;
        const range = await this.client.xrange(this.keys.topicStream(topic), '-', '+');
        // Live events Redis sent before the read are held before this resolves.
        await this.subscriptions.caughtUp();
        for (const [, fields] of range) {
          const envelope = decodeEntry(String(fields[1]), null, 0, topic);
          if (envelope !== undefined && envelope.seq > from) kept.push(envelope);
        }
      } catch (error) {
        this.onError('catch-up', error);
        kept = [];
      }
      if (this.catching.get(topic) !== held) return;
      this.catching.delete(topic);
      const written = new Set<string>();
      for (const envelope of kept) {
        written.add(envelope.seq);
        this.host.deliver(envelope);
      }
      for (const envelope of held) if (!written.has(envelope.seq)) this.host.deliver(envelope);
    })();
    this.catchUps.set(topic, done);
    void done.finally(() => {
      if (this.catchUps.get(topic) === done) this.catchUps.delete(topic);
    });
  }

  /** Resolves once every catch-up under way has written its events. */
  async caughtUp(): Promise<void> {
    await Promise.all(this.catchUps.values());
  }

  /**
   * After a join or leave from here: when the user has connections here, waits until this
   * instance has read its own message (a PING on the pub/sub connection) and caught up.
   */
  private async settled(userId: string, topic: string): Promise<void> {
    if (this.host.localConnections(userId) === 0) return;
    await this.subscriptions.caughtUp();
    await this.catchUps.get(topic);
  }

  private async command<T>(run: () => Promise<T>): Promise<T> {
    if (this.client.status !== 'ready') throw new RedisSseUnavailableError('not connected');
    try {
      return await run();
    } catch (error) {
      this.onError('topics', error);
      throw new RedisSseUnavailableError(error instanceof Error ? error.message : String(error));
    }
  }
}
