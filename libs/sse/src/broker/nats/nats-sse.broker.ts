import type {
  SseBroker,
  SseBrokerHost,
  SseEnvelope,
  SsePublishReceipt,
  SseReplay,
} from '../sse-broker.interface.js';
import {
  planReplay,
  topicReads,
  uuidV7Floor,
  type SseHistorySource,
} from '../../history/sse-replay.js';
import { SseError } from '../../sse.errors.js';
import { answersWithin } from '../sse-broker-ping.js';
import { encodeDisconnect, encodeEntry, messageHead } from '../sse-broker.codec.js';
import type { NatsSseHistoryRead } from './nats-sse.history.js';
import { NatsSseLostEvents } from './nats-sse.lost-events.js';
import {
  resolveNatsSseOptions,
  type NatsSseBrokerOptions,
  type NatsSseResolvedOptions,
} from './nats-sse.options.js';
import { NatsSseSession } from './nats-sse.session.js';
import { NatsSseSubjects } from './nats-sse.subjects.js';

const DISABLED: SseReplay = { events: [], gap: 'disabled' };
const UNAVAILABLE: SseReplay = { events: [], gap: 'unavailable' };

/**
 * A broker for many instances on NATS: history in a JetStream stream, live events on core
 * subjects, presence in a KV bucket, topic memberships in another. Instances act as one:
 * every connection gets every message of its user and of its topics once and in order, a
 * client that reconnects to another instance replays what it missed, and `isOnline`,
 * `onlineUsers` and `delivered` count every live instance.
 *
 * When NATS is out of reach, each instance keeps serving its own connections (`stored:
 * false`, the local `delivered`); once it is back, the instance's clients reconnect and
 * replay what other instances sent meanwhile. See docs/scaling.md for the design and costs.
 *
 * @example
 * ```ts
 * import { NatsSseBroker } from 'nestjs-sse-hub/nats';
 *
 * SseModule.forRoot({ broker: new NatsSseBroker({ servers: process.env.NATS_URL }) });
 * ```
 */
export class NatsSseBroker implements SseBroker {
  private readonly options: NatsSseResolvedOptions;
  private readonly subjects: NatsSseSubjects;
  private session: NatsSseSession | undefined;
  /** Local deliveries wait for the ones before them: publish order holds on this instance. */
  private tail: Promise<unknown> = Promise.resolve();
  private readonly lost = new NatsSseLostEvents();

  /**
   * Checks the options; connects only when the module starts (`attach`).
   * @throws NatsSseBrokerOptionsError when an option cannot work.
   */
  constructor(options: NatsSseBrokerOptions = {}) {
    this.options = resolveNatsSseOptions(options);
    this.subjects = new NatsSseSubjects(this.options.prefix);
  }

  /** Connects to NATS, waiting `requestTimeoutMs` at most; goes on without it if need be. */
  async attach(host: SseBrokerHost): Promise<void> {
    if (this.session !== undefined) {
      throw new SseError(
        'This NatsSseBroker is already attached to an SseModule. Potential solutions: ' +
          'give each SseModule (each application instance) its own broker instance.',
      );
    }
    const session = new NatsSseSession(host, this.options, this.subjects, this.lost);
    this.session = session;
    await session.connection.start();
  }

  /**
   * Sends the message on its recipients' subjects, where the stream keeps it (history on)
   * and other instances' subscriptions receive it, then writes it to this instance's
   * connections. `delivered` counts the others' connections from the presence copy held
   * here: no request per message. Without NATS: this instance only, `stored: false`.
   */
  publish(message: SseEnvelope): Promise<SsePublishReceipt> {
    const session = this.requireSession();
    const remote = this.relay(session, message);
    const receipt = this.tail
      .then(() => remote)
      .then((others): SsePublishReceipt => {
        const delivered = session.host.deliver(message);
        if (others === undefined) {
          if (session.host.history.size > 0) this.lost.remember(message);
          return { delivered, stored: false };
        }
        return { delivered: delivered + others, stored: session.host.history.size > 0 };
      });
    this.tail = receipt.catch(() => undefined);
    return receipt;
  }

  /** Connections the message reaches elsewhere; `undefined` when NATS did not take it. */
  private async relay(session: NatsSseSession, message: SseEnvelope): Promise<number | undefined> {
    const { parts, host, presence } = session;
    if (!session.up || parts === undefined) return undefined;
    const { nc, js } = parts;
    const payload = messageHead(host.instanceId) + encodeEntry(message);
    let subjects: string[];
    let others = 0;
    if (message.topic !== undefined) {
      // One subject, one count: the members are never looked at.
      subjects = [this.subjects.topic(message.topic)];
      others = session.topics.presence.remoteConnections(message.topic);
    } else if (message.to === null) {
      subjects = [this.subjects.broadcast];
      others = presence.remoteTotal();
    } else {
      subjects = message.to.map((u) => this.subjects.user(u));
      for (const userId of message.to) others += presence.remoteConnections(userId);
    }
    try {
      if (host.history.size === 0) {
        for (const subject of subjects) nc.publish(subject, payload);
      } else {
        // All at once, in order on the one connection; acknowledged once kept.
        await Promise.all(subjects.map((subject) => js.publish(subject, payload)));
      }
      return others;
    } catch (error) {
      session.reporter.report('publish', error);
      return undefined;
    }
  }

  /**
   * The user's kept events after `lastEventId`, read from the stream by `planReplay`, the
   * rule every broker follows: the user's own, the broadcasts, the subscribed topics' and
   * the memberships' within their windows. The user's subscription is in place first; live
   * events that reach this instance while the stream is read are dropped by the hub as
   * replayed.
   */
  async replay(
    userId: string,
    lastEventId: string,
    topics: readonly string[] = [],
  ): Promise<SseReplay> {
    const session = this.requireSession();
    const { host, parts } = session;
    if (host.history.size === 0) return DISABLED;
    const store = session.topics.store;
    if (!session.up || parts === undefined || store === undefined) return UNAVAILABLE;
    const { history, subscriptions, nc } = parts;
    await subscriptions.subscribed(userId);
    const reads: NatsSseHistoryRead[] = [];
    const sources: SseHistorySource[] = [];
    try {
      const plan = topicReads(topics, await store.windows(userId));
      const names = [...new Set(plan.map((read) => read.topic))];
      const [own, all, ...topical] = await Promise.all([
        history.read(this.subjects.user(userId), this.subjects.userLost(userId), [userId]),
        history.read(this.subjects.broadcast, this.subjects.broadcastLost, null),
        ...names.map((t) =>
          history.read(this.subjects.topic(t), this.subjects.topicLost(t), null, t),
        ),
      ]);
      reads.push(own, all, ...topical);
      sources.push(own, all);
      const byTopic = new Map(names.map((name, i) => [name, topical[i]]));
      for (const { topic, after, until } of plan) {
        sources.push({ ...(byTopic.get(topic) ?? { entries: [] }), after, until });
      }
      // Acknowledgements of this instance's own messages come before now: delivered first.
      await nc.flush();
    } catch (error) {
      session.reporter.report('replay', error);
      return UNAVAILABLE;
    }
    // A resume id that only the spare still holds is placed by its seq.
    const spare = reads.flatMap((read) => read.spare).find((e) => e.envelope.id === lastEventId);
    const horizon = uuidV7Floor(Date.now() - host.history.ttlMs);
    return planReplay(
      spare?.envelope.seq ?? lastEventId,
      sources,
      history.epoch > horizon ? history.epoch : horizon,
    );
  }

  /**
   * A connection of the user opened here: listen to the user's subject and its topics',
   * count it; on the user's first connection here, its memberships are read and applied.
   */
  async connected(
    userId: string,
    _connectionId?: string,
    topics: readonly string[] = [],
  ): Promise<void> {
    const session = this.session;
    if (session === undefined) return;
    const subscribing = session.parts?.subscriptions.want(userId, session.up);
    session.presence.touch(userId);
    await Promise.all([subscribing, session.topics.connected(userId, topics)]);
  }

  /** A connection of the user closed here: count it; the last one stops the listening. */
  disconnected(userId: string, _connectionId?: string, topics: readonly string[] = []): void {
    const session = this.session;
    if (session === undefined) return;
    session.presence.touch(userId);
    if (session.host.localConnections(userId) === 0) session.parts?.subscriptions.drop(userId);
    session.topics.disconnected(userId, topics);
  }

  /** Makes the user a member of the topic on every instance (see `SseBroker.join`). */
  join(userId: string, topic: string): Promise<boolean> {
    return this.requireSession().topics.join(userId, topic);
  }

  /** Ends the user's membership of the topic on every instance. */
  leave(userId: string, topic: string): Promise<boolean> {
    return this.requireSession().topics.leave(userId, topic);
  }

  /** The user's memberships, sorted, from the memberships bucket. */
  topicsOf(userId: string): Promise<string[]> {
    return this.requireSession().topics.topicsOf(userId);
  }

  /** The topic's members, online or not, sorted, from the memberships bucket. */
  members(topic: string): Promise<string[]> {
    return this.requireSession().topics.members(topic);
  }

  /** Ends the user's connections here and tells the other instances to end theirs. */
  async disconnect(userId: string): Promise<boolean> {
    const session = this.requireSession();
    const local = session.host.disconnectLocal(userId);
    const nc = session.parts?.nc;
    if (!session.up || nc === undefined) return local > 0;
    const remote = session.presence.remoteConnections(userId);
    nc.publish(this.subjects.disconnect(userId), encodeDisconnect(session.host.instanceId));
    await nc.flush().catch((error: unknown) => session.reporter.report('disconnect', error));
    return local > 0 || remote > 0;
  }

  /** Whether the user has a connection here or on another live instance. */
  isOnline(userId: string): Promise<boolean> {
    const session = this.requireSession();
    if (session.host.localConnections(userId) > 0) return Promise.resolve(true);
    return Promise.resolve(session.up && session.presence.remoteConnections(userId) > 0);
  }

  /** Users with a connection here or on another live instance: this instance's first. */
  onlineUsers(): Promise<string[]> {
    const session = this.requireSession();
    const users = new Set(session.host.localUsers());
    if (session.up) for (const userId of session.presence.remoteUsers()) users.add(userId);
    return Promise.resolve([...users]);
  }

  /**
   * Open connections of a user on every live instance, as this instance knows them (its
   * copy of the presence bucket): what `delivered` counts. For diagnostics and tests.
   */
  connectionsOf(userId: string): number {
    const session = this.requireSession();
    const remote = session.up ? session.presence.remoteConnections(userId) : 0;
    return session.host.localConnections(userId) + remote;
  }

  /** Whether NATS answers a round trip within `requestTimeoutMs` (health checks). */
  ping(): Promise<boolean> {
    const session = this.session;
    const nc = session?.up === true ? session.parts?.nc : undefined;
    if (nc === undefined) return Promise.resolve(false);
    return answersWithin(() => nc.flush().then(() => true), this.options.requestTimeoutMs);
  }

  /**
   * Connections here and on every live instance that receive a topic's events, as this
   * instance knows them: what a topic event's `delivered` counts. For diagnostics and tests.
   */
  topicConnectionsOf(topic: string): number {
    const session = this.requireSession();
    const remote = session.up ? session.topics.presence.remoteConnections(topic) : 0;
    return session.host.localTopicConnections(topic) + remote;
  }

  /** Leaves presence, waits for messages on their way, and closes the connection. */
  async detach(): Promise<void> {
    const session = this.session;
    if (session === undefined) return;
    await this.tail;
    this.session = undefined;
    await session.close();
  }

  private requireSession(): NatsSseSession {
    if (this.session === undefined) {
      throw new SseError(
        'The SSE broker is not attached yet. Potential solutions: send after the ' +
          'application has initialised (app.init() or app.listen()).',
      );
    }
    return this.session;
  }
}
