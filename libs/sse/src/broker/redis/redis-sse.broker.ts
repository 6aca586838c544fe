import type {
  SseBroker,
  SseBrokerHost,
  SseEnvelope,
  SsePublishReceipt,
  SseReplay,
} from '../sse-broker.interface.js';
import { uuidV7Floor } from '../../history/sse-replay.js';
import { SseError } from '../../sse.errors.js';
import { answersWithin } from '../sse-broker-ping.js';
import { closeRedisConnection, firstOutcome } from './redis-sse.connection.js';
import {
  resolveRedisSseOptions,
  type RedisSseBrokerOptions,
  type RedisSseResolvedOptions,
} from './redis-sse.options.js';
import { RedisSseRecentWrites } from './redis-sse.recent-writes.js';
import { RedisSseReadiness, whenReady } from './redis-sse.readiness.js';
import { followFailovers, loadScripts } from './redis-sse.failover.js';
import { deliverSignal } from './redis-sse.signals.js';
import { openRedisSseSession, type RedisSseSession } from './redis-sse.session.js';

const DISABLED: SseReplay = { events: [], gap: 'disabled' };
const UNAVAILABLE: SseReplay = { events: [], gap: 'unavailable' };

/**
 * A broker for many instances on one Redis: every instance's connections get every
 * message of their users, once each and in order; history is shared, so a client that
 * reconnects to another instance replays what it missed; `isOnline`, `onlineUsers` and
 * `delivered` count every live instance.
 *
 * When Redis is out of reach or refuses writes, each instance keeps serving its own
 * connections: a message reaches this instance's connections only, and its receipt says so
 * (`stored: false`, the local `delivered`); the other instances are told, before any later
 * message of the same users from this instance reaches them, and write `sse:gap` on their
 * clients' open streams; presence answers for this instance. The broker
 * reconnects by itself and takes up where it was. See docs/scaling.md for the design and
 * its costs.
 *
 * On a Redis Cluster (`cluster: { nodes }`, or an ioredis `Cluster` as `redis`), live
 * events travel by sharded pub/sub, so that a message goes to the one shard of its user;
 * every script touches one slot. A master that fails over costs a reconnect: the sharded
 * subscriptions are made again on the new master, and this instance's clients replay what
 * they missed meanwhile (or are told of a gap); until this instance has looked for what the
 * old master acknowledged but lost (10 s at most), its sends wait, so that none reaches a
 * client before the news of such a loss.
 *
 * @example
 * ```ts
 * import { RedisSseBroker } from 'nestjs-sse-hub/redis';
 *
 * SseModule.forRoot({ broker: new RedisSseBroker({ url: process.env.REDIS_URL }) });
 * ```
 */
export class RedisSseBroker implements SseBroker {
  private readonly options: RedisSseResolvedOptions;
  private session: RedisSseSession | undefined;
  /** Local deliveries wait for the ones before them: publish order holds on this instance. */
  private tail: Promise<unknown> = Promise.resolve();
  private readonly readiness = new RedisSseReadiness(() => this.session?.host.logger);
  /** On a Redis Cluster: what a failover may have lost. */
  private readonly recent = new RedisSseRecentWrites();

  /**
   * Checks the options; connects only when the module starts (`attach`).
   * @throws RedisSseBrokerOptionsError when an option cannot work.
   */
  constructor(options: RedisSseBrokerOptions = {}) {
    this.options = resolveRedisSseOptions(options);
  }

  /** Connects to Redis and waits for a first answer (`commandTimeoutMs` at most), never failing. */
  async attach(host: SseBrokerHost): Promise<void> {
    if (this.session !== undefined) {
      throw new SseError(
        'This RedisSseBroker is already attached to an SseModule. Potential solutions: ' +
          'give each SseModule (each application instance) its own broker instance.',
      );
    }
    this.readiness.reset();
    const report = (what: string, error: unknown): void => this.readiness.report(what, error);
    const session = openRedisSseSession(this.options, host, report);
    const { commands, events } = session;
    this.session = session;

    let started: Promise<unknown> = Promise.resolve();
    commands.on('ready', () => (started = this.commandsReady(session)));
    let attached = false;
    events.on('ready', () => {
      this.readiness.ready(commands, events);
      const resubscribed = session.subscriptions.resubscribe();
      started = Promise.all([started, resubscribed]);
      // While there was no subscription, other instances' messages did not reach this
      // instance's clients: they reconnect and replay them from the shared history, once
      // this instance can read it.
      if (attached) {
        void resubscribed
          .then(() => whenReady(commands))
          .then((ready) => ready && this.session === session && session.host.reconnectLocal());
      }
    });
    events.on(session.cluster ? 'smessage' : 'message', (channel: string, payload: string) =>
      this.receive(session, channel, payload),
    );
    if (session.cluster) {
      followFailovers(session, this.recent, {
        current: () => attached && this.session === session,
        loadScripts: () => this.loadScripts(session),
      });
    }
    for (const client of [commands, events]) {
      client.on('error', (error: unknown) => report('connection', error));
      client.on('close', () => report('connection', new Error('connection closed')));
    }

    commands.connect().catch(() => undefined);
    events.connect().catch(() => undefined);
    const timeout = this.options.commandTimeoutMs;
    await Promise.all([firstOutcome(commands, timeout), firstOutcome(events, timeout)]);
    await started;
    attached = true;
  }

  /** Loads the scripts on Redis, or on every master of a cluster. */
  private loadScripts(session: RedisSseSession): Promise<unknown> {
    return loadScripts(session, (error) => this.readiness.report('script', error));
  }

  /** Runs on every `ready` of the commands connection: the instance (re)joins the cluster. */
  private async commandsReady(session: RedisSseSession): Promise<void> {
    this.readiness.ready(session.commands, session.events);
    const { commands, keys, presence, ledger } = session;
    const report = (what: string) => (error: unknown) => this.readiness.report(what, error);
    await Promise.all([
      this.loadScripts(session),
      commands.set(keys.epoch, uuidV7Floor(Date.now()), 'NX').catch(report('epoch')),
      presence.rewrite(),
      session.topicPresence.rewrite(),
    ]);
    // After the scripts: the markers are written by one of them.
    await ledger.flush();
  }

  /**
   * Keeps the message (history on), counts its recipients' connections on the other
   * instances and publishes it to them, in one script; then writes it to this instance's
   * connections. When Redis does not take it, only the latter (`stored: false`, the local
   * `delivered`), and the ledger tells the other instances and marks it lost; the messages
   * after it go to Redis once the others were told (`RedisSseSendOrder`).
   */
  publish(message: SseEnvelope): Promise<SsePublishReceipt> {
    const session = this.requireSession();
    const remote = session.order.send(message);
    const receipt = this.tail
      .then(() => remote)
      .then((others): SsePublishReceipt => {
        const delivered =
          message.topic === undefined
            ? session.host.deliver(message)
            : session.topics.deliver(message);
        if (typeof others !== 'number') {
          session.ledger.lose(message, others === 'lost');
          return { delivered, stored: false };
        }
        this.readiness.succeeded();
        if (session.cluster) this.recent.record(message);
        return { delivered: delivered + others, stored: session.host.history.size > 0 };
      });
    this.tail = receipt.catch(() => undefined);
    return receipt;
  }

  /** A pub/sub message from another instance. */
  private receive(session: RedisSseSession, channel: string, payload: string): void {
    try {
      deliverSignal(session, channel, payload);
    } catch (error) {
      this.readiness.report('delivery', error);
    }
  }

  /**
   * The user's kept events after `lastEventId`, with those of `topics` (the connection's
   * subscriptions) and of the user's membership windows, read from Redis by `planReplay`,
   * the rule the in-memory broker follows too. Live events that Redis published before the
   * read are handled before this resolves, so that the hub drops them as already replayed.
   */
  async replay(
    userId: string,
    lastEventId: string,
    topics: readonly string[] = [],
  ): Promise<SseReplay> {
    const session = this.requireSession();
    const { commands, host, subscriptions, history } = session;
    if (host.history.size === 0) return DISABLED;
    if (commands.status !== 'ready') return UNAVAILABLE;
    await subscriptions.subscribed(userId);
    await subscriptions.topicsSubscribed([...topics, ...session.topics.memberships(userId)]);
    let replay: SseReplay;
    try {
      replay = await history.replay(userId, lastEventId, topics);
    } catch (error) {
      this.readiness.report('replay', error);
      return UNAVAILABLE;
    }
    await subscriptions.caughtUp();
    // A join told before that read makes a catch-up here, which may write what the replay
    // holds: the connection still holds live events back, and drops those it replays.
    await session.topics.caughtUp();
    return replay;
  }

  /**
   * A connection opened here: listen to the user's and its topics' channels, count it; the
   * first resolves once they listen and the memberships are read, and the hub replays
   * what came before, so that nothing sent at the instant of connecting is missed.
   */
  connected(
    userId: string,
    connectionId?: string,
    topics: readonly string[] = [],
  ): Promise<void> | undefined {
    const session = this.session;
    if (session === undefined) return undefined;
    const subscribing = session.subscriptions.want(userId);
    session.presence.touch(userId, 1);
    // The first connection here reads the memberships once the user's channel listens.
    const joining = session.topics.connected(userId, topics, subscribing);
    if (joining !== undefined) return joining.then(() => undefined);
    return subscribing?.then(() => undefined);
  }

  /** A connection of the user closed here: count it; the last one stops the listening. */
  disconnected(userId: string, connectionId?: string, topics: readonly string[] = []): void {
    const session = this.session;
    if (session === undefined) return;
    session.presence.touch(userId, -1);
    session.topics.disconnected(userId, topics);
    if (session.host.localConnections(userId) === 0) session.subscriptions.drop(userId);
  }

  /**
   * Makes the user a member of `topic` on every instance (see `RedisSseTopics.join`).
   * Rejects with `SseTooManyTopicsError`, or `RedisSseUnavailableError` without Redis.
   */
  join(userId: string, topic: string): Promise<boolean> {
    return this.requireSession().topics.join(userId, topic);
  }

  /** Ends the user's membership of `topic` on every instance; whether it was a member. */
  leave(userId: string, topic: string): Promise<boolean> {
    return this.requireSession().topics.leave(userId, topic);
  }

  /** The user's memberships, from Redis, sorted. */
  topicsOf(userId: string): Promise<string[]> {
    return this.requireSession().topics.topicsOf(userId);
  }

  /** The topic's members, online or not, from Redis, sorted. */
  members(topic: string): Promise<string[]> {
    return this.requireSession().topics.members(topic);
  }

  /** Ends the user's connections here and tells the other instances to end theirs. */
  async disconnect(userId: string): Promise<boolean> {
    const { host, presence } = this.requireSession();
    const local = host.disconnectLocal(userId);
    return (await presence.remoteConnections(userId, true)) > 0 || local > 0;
  }

  /** Whether the user has a connection here or on another live instance. */
  async isOnline(userId: string): Promise<boolean> {
    const { host, presence } = this.requireSession();
    if (host.localConnections(userId) > 0) return true;
    return (await presence.remoteConnections(userId, false)) > 0;
  }

  /** Users with a connection here or on another live instance: this instance's first. */
  async onlineUsers(): Promise<string[]> {
    const { host, presence } = this.requireSession();
    const users = new Set(host.localUsers());
    for (const userId of await presence.remoteUsers()) users.add(userId);
    return [...users];
  }

  /** Whether Redis answers a PING within `commandTimeoutMs` (health checks). */
  ping(): Promise<boolean> {
    const commands = this.session?.commands;
    if (commands?.status !== 'ready') return Promise.resolve(false);
    return answersWithin(() => commands.ping(), this.options.commandTimeoutMs);
  }

  /**
   * Leaves presence, waits for messages on their way, and closes both connections
   * (`commandTimeoutMs` at most each).
   */
  async detach(): Promise<void> {
    const session = this.session;
    if (session === undefined) return;
    await this.tail;
    this.readiness.close();
    session.ledger.stop();
    await Promise.all([session.presence.leave(), session.topicPresence.leave()]);
    await Promise.all([
      closeRedisConnection(session.commands, this.options.commandTimeoutMs),
      closeRedisConnection(session.events, this.options.commandTimeoutMs),
    ]);
    this.session = undefined;
  }

  private requireSession(): RedisSseSession {
    if (this.session === undefined) {
      throw new SseError(
        'The SSE broker is not attached yet. Potential solutions: send after the ' +
          'application has initialised (app.init() or app.listen()).',
      );
    }
    return this.session;
  }
}
