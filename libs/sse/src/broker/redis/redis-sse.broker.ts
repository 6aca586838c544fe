import type { Redis } from 'ioredis';
import type {
  SseBroker,
  SseBrokerHost,
  SseEnvelope,
  SsePublishReceipt,
  SseReplay,
} from '../sse-broker.interface.js';
import {
  planReplay,
  uuidV7Floor,
  type SseHistoryEntry,
  type SseHistorySource,
} from '../../history/sse-replay.js';
import { SseError } from '../../sse.errors.js';
import { decodeEntry, decodeSignal, encodeDisconnect, encodeEntry } from './redis-sse.codec.js';
import {
  clientDatabase,
  clientKeyPrefix,
  closeRedisConnection,
  firstOutcome,
  openRedisConnection,
} from './redis-sse.connection.js';
import { RedisSseKeys } from './redis-sse.keys.js';
import {
  resolveRedisSseOptions,
  type RedisSseBrokerOptions,
  type RedisSseResolvedOptions,
} from './redis-sse.options.js';
import { RedisSsePresence } from './redis-sse.presence.js';
import {
  ALL_SCRIPTS,
  MARK_DROPPED,
  PUBLISH_TO_ALL,
  PREPARE_REPLAY,
  PUBLISH_TO_USERS,
  REMOTE_CONNECTIONS,
  REMOTE_USERS,
  type RedisSseScript,
} from './redis-sse.scripts.js';
import { RedisSseSubscriptions } from './redis-sse.subscriptions.js';

const DISABLED: SseReplay = { events: [], gap: 'disabled' };
const UNAVAILABLE: SseReplay = { events: [], gap: 'unavailable' };

// Recipients per publish script, so that a message to very many users does not hold
// Redis for long; each user's events still go out in order.
const USERS_PER_SCRIPT = 500;
// Users whose lost events are remembered one by one while Redis is away; past it, a lost
// event counts as lost for everyone (a gap for any client resuming from before it).
const MAX_LOST_USERS = 10_000;

/** What the broker holds while attached. */
interface RedisSseSession {
  readonly host: SseBrokerHost;
  readonly commands: Redis;
  readonly events: Redis;
  readonly keys: RedisSseKeys;
  readonly subscriptions: RedisSseSubscriptions;
  readonly presence: RedisSsePresence;
}

/**
 * A broker for many instances on one Redis: every instance's connections get every
 * message of their users, once each and in order; history is shared, so a client that
 * reconnects to another instance replays what it missed; `isOnline`, `onlineUsers` and
 * `delivered` count every live instance.
 *
 * When Redis is out of reach, each instance keeps serving its own connections: a message
 * reaches this instance's connections only, and its receipt says so (`stored: false`, the
 * local `delivered`); presence answers for this instance. The broker reconnects by itself
 * and takes up where it was. See docs/scaling.md for the design and its costs.
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
  /** Newest seq per user of events sent but not kept while Redis was away. */
  private readonly lost = new Map<string, string>();
  private lostForAll: string | undefined;
  private marking: Promise<void> | undefined;
  /** Something failed and was reported; quiet until Redis answers again. */
  private failing = false;
  private closing = false;

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
    this.closing = false;
    this.failing = false;
    const commands = openRedisConnection(this.options, 'commands', host.instanceId);
    const events = openRedisConnection(this.options, 'events', host.instanceId);
    const keys = new RedisSseKeys(
      clientKeyPrefix(this.options) + this.options.keyPrefix,
      clientDatabase(commands),
    );
    const report = (what: string, error: unknown): void => this.report(what, error);
    const session: RedisSseSession = {
      host,
      commands,
      events,
      keys,
      subscriptions: new RedisSseSubscriptions(events, keys, report),
      presence: new RedisSsePresence(
        commands,
        keys,
        host,
        this.options.presenceTtlMs,
        this.options.presenceHeartbeatMs,
        report,
      ),
    };
    this.session = session;

    let started: Promise<unknown> = Promise.resolve();
    commands.on('ready', () => (started = this.commandsReady(session)));
    let attached = false;
    events.on('ready', () => {
      this.recovered();
      const resubscribed = session.subscriptions.resubscribe();
      started = Promise.all([started, resubscribed]);
      // While there was no subscription, other instances' messages did not reach this
      // instance's clients: they reconnect and replay them from the shared history, once
      // this instance can read it.
      if (attached) {
        void resubscribed
          .then(() => commandsReady(commands))
          .then((ready) => ready && this.session === session && session.host.reconnectLocal());
      }
    });
    events.on('message', (channel: string, payload: string) =>
      this.receive(session, channel, payload),
    );
    for (const client of [commands, events]) {
      client.on('error', (error: unknown) => this.report('connection', error));
      client.on('close', () => this.report('connection', new Error('connection closed')));
    }

    commands.connect().catch(() => undefined);
    events.connect().catch(() => undefined);
    const timeout = this.options.commandTimeoutMs;
    await Promise.all([firstOutcome(commands, timeout), firstOutcome(events, timeout)]);
    await started;
    attached = true;
  }

  /** Runs on every `ready` of the commands connection: the instance (re)joins the cluster. */
  private async commandsReady(session: RedisSseSession): Promise<void> {
    this.recovered();
    const { commands, keys, presence } = session;
    await Promise.all([
      ...ALL_SCRIPTS.map((script) =>
        script.load(commands).catch((error: unknown) => this.report('script', error)),
      ),
      commands
        .set(keys.epoch, uuidV7Floor(Date.now()), 'NX')
        .catch((error: unknown) => this.report('epoch', error)),
      presence.rewrite(),
      this.markLost(),
    ]);
  }

  /**
   * Keeps the message (history on), counts its recipients' connections on the other
   * instances and publishes it to them, in one script; then writes it to this instance's
   * connections. Without Redis, only the latter: `stored: false`, the local `delivered`.
   */
  publish(message: SseEnvelope): Promise<SsePublishReceipt> {
    const session = this.requireSession();
    const remote = this.relay(session, message);
    const receipt = this.tail
      .then(() => remote)
      .then((others): SsePublishReceipt => {
        const delivered = session.host.deliver(message);
        if (others === undefined) {
          this.remember(message);
          return { delivered, stored: false };
        }
        return { delivered: delivered + others, stored: session.host.history.size > 0 };
      });
    this.tail = receipt.catch(() => undefined);
    return receipt;
  }

  /** Connections the message reached elsewhere; `undefined` when Redis did not take it. */
  private async relay(session: RedisSseSession, message: SseEnvelope): Promise<number | undefined> {
    const { commands, keys, host } = session;
    if (commands.status !== 'ready') return undefined;
    const entry = encodeEntry(message);
    const { size, ttlMs } = host.history;
    try {
      let reached: unknown;
      if (message.to === null) {
        reached = await PUBLISH_TO_ALL.run(
          commands,
          [keys.instances, keys.counts, keys.broadcastStream, keys.broadcastDropped],
          [host.instanceId, entry, size, slackOf(size), 2 * ttlMs, keys.broadcastChannel],
        );
      } else {
        // All parts at once: nothing this instance sends next can come between them.
        const parts: Promise<unknown>[] = [];
        for (let i = 0; i < message.to.length; i += USERS_PER_SCRIPT) {
          const scriptKeys = [keys.instances];
          const args: (string | number)[] = [host.instanceId, entry, size, slackOf(size)];
          args.push(2 * ttlMs);
          for (const userId of message.to.slice(i, i + USERS_PER_SCRIPT)) {
            scriptKeys.push(keys.userStream(userId), keys.userDropped(userId));
            scriptKeys.push(keys.userPresence(userId));
            args.push(keys.userChannel(userId));
          }
          parts.push(PUBLISH_TO_USERS.run(commands, scriptKeys, args));
        }
        reached = (await Promise.all(parts)).reduce<number>((sum, n) => sum + Number(n), 0);
      }
      this.failing = false;
      return Number(reached);
    } catch (error) {
      this.report('publish', error);
      return undefined;
    }
  }

  /** A pub/sub message from another instance. */
  private receive(session: RedisSseSession, channel: string, payload: string): void {
    try {
      this.deliverSignal(session, channel, payload);
    } catch (error) {
      this.report('delivery', error);
    }
  }

  private deliverSignal(session: RedisSseSession, channel: string, payload: string): void {
    const userId = session.keys.userOfChannel(channel);
    if (userId === undefined) return;
    const signal = decodeSignal(payload);
    // This instance's own messages were written to its connections already.
    if (signal === undefined || signal.origin === session.host.instanceId) return;
    if (signal.kind === 'disconnect') {
      if (userId !== null) session.host.disconnectLocal(userId);
      return;
    }
    const message = decodeEntry(payload, userId === null ? null : [userId], signal.entry);
    if (message !== undefined) session.host.deliver(message);
  }

  /**
   * The user's kept events after `lastEventId`, read from Redis by `planReplay`, the rule
   * the in-memory broker follows too. Live events that Redis published before the read
   * are handled before this resolves, so that the hub drops them as already replayed.
   */
  async replay(userId: string, lastEventId: string): Promise<SseReplay> {
    const session = this.requireSession();
    const { commands, host, subscriptions } = session;
    if (host.history.size === 0) return DISABLED;
    if (commands.status !== 'ready') return UNAVAILABLE;
    await subscriptions.subscribed(userId);
    let read: HistoryRead;
    try {
      read = await this.readHistory(session, userId);
    } catch (error) {
      this.report('replay', error);
      return UNAVAILABLE;
    }
    await subscriptions.caughtUp();
    const horizon = uuidV7Floor(Date.now() - 2 * host.history.ttlMs);
    return planReplay(
      lastEventId,
      [source(read.own, read.ownDropped, [userId]), source(read.all, read.allDropped, null)],
      read.epoch > horizon ? read.epoch : horizon,
    );
  }

  /** Trims the user's and the broadcasts' history, then reads both, in one MULTI. */
  private async readHistory(session: RedisSseSession, userId: string): Promise<HistoryRead> {
    const { commands, keys, host } = session;
    const { size, ttlMs } = host.history;
    const stream = keys.userStream(userId);
    const read = async (full: boolean): Promise<[Error | null, unknown][]> => {
      const batch = PREPARE_REPLAY.addTo(
        commands.multi(),
        [stream, keys.userDropped(userId), keys.broadcastStream, keys.broadcastDropped, keys.epoch],
        [ttlMs, 2 * ttlMs, uuidV7Floor(Date.now()), size],
        full,
      );
      const replies = await batch
        .xrange(stream, '-', '+')
        .xrange(keys.broadcastStream, '-', '+')
        .exec();
      if (replies === null) throw new Error('the history read was aborted');
      return replies;
    };
    let replies = await read(false);
    if (replies[0][0]?.message.startsWith('NOSCRIPT')) replies = await read(true);
    for (const [error] of replies) if (error !== null) throw error;
    const [[, prepared], [, own], [, all]] = replies;
    const [ownDropped, allDropped, epoch] = Array.isArray(prepared) ? prepared : [];
    return { own, ownDropped, all, allDropped, epoch: typeof epoch === 'string' ? epoch : '' };
  }

  /**
   * A connection of the user opened here: listen to the user's channel, count it. The
   * user's first connection here resolves once the channel is subscribed: the hub then
   * reads what other instances sent before that, so that nothing sent at the instant of
   * connecting is missed.
   */
  connected(userId: string): Promise<void> | undefined {
    const session = this.session;
    if (session === undefined) return undefined;
    const subscribing = session.subscriptions.want(userId);
    session.presence.touch(userId, 1);
    return subscribing?.then(() => undefined);
  }

  /** A connection of the user closed here: count it; the last one stops the listening. */
  disconnected(userId: string): void {
    const session = this.session;
    if (session === undefined) return;
    session.presence.touch(userId, -1);
    if (session.host.localConnections(userId) === 0) session.subscriptions.drop(userId);
  }

  /** Ends the user's connections here and tells the other instances to end theirs. */
  async disconnect(userId: string): Promise<boolean> {
    const { host, keys } = this.requireSession();
    const local = host.disconnectLocal(userId);
    const remote = await this.query(
      REMOTE_CONNECTIONS,
      [keys.instances, keys.userPresence(userId)],
      [host.instanceId, keys.userChannel(userId), encodeDisconnect(host.instanceId)],
    );
    return local > 0 || Number(remote ?? 0) > 0;
  }

  /** Whether the user has a connection here or on another live instance. */
  async isOnline(userId: string): Promise<boolean> {
    const { host, keys } = this.requireSession();
    if (host.localConnections(userId) > 0) return true;
    const remote = await this.query(
      REMOTE_CONNECTIONS,
      [keys.instances, keys.userPresence(userId)],
      [host.instanceId],
    );
    return Number(remote ?? 0) > 0;
  }

  /** Users with a connection here or on another live instance: this instance's first. */
  async onlineUsers(): Promise<string[]> {
    const { host, keys } = this.requireSession();
    const users = new Set(host.localUsers());
    const remote = await this.query(REMOTE_USERS, [keys.instances], [host.instanceId, keys.prefix]);
    if (Array.isArray(remote)) for (const userId of remote) users.add(String(userId));
    return [...users];
  }

  /**
   * Leaves presence, waits for messages on their way, and closes both connections
   * (`commandTimeoutMs` at most each).
   */
  async detach(): Promise<void> {
    const session = this.session;
    if (session === undefined) return;
    await this.tail;
    this.closing = true;
    await session.presence.leave();
    await Promise.all([
      closeRedisConnection(session.commands, this.options.commandTimeoutMs),
      closeRedisConnection(session.events, this.options.commandTimeoutMs),
    ]);
    this.session = undefined;
  }

  /** Runs a read-mostly script; `undefined` when Redis does not answer. */
  private async query(
    script: RedisSseScript,
    keys: readonly string[],
    args: readonly (string | number)[],
  ): Promise<unknown> {
    const { commands } = this.requireSession();
    if (commands.status !== 'ready') return undefined;
    try {
      return await script.run(commands, keys, args);
    } catch (error) {
      this.report('query', error);
      return undefined;
    }
  }

  /** Notes an event that was not kept, to mark it as dropped once Redis is back. */
  private remember(message: SseEnvelope): void {
    const session = this.session;
    if (session === undefined || session.host.history.size === 0) return;
    if (message.to === null) this.rememberLost(null, message.seq);
    else for (const userId of message.to) this.rememberLost(userId, message.seq);
    if (session.commands.status === 'ready') void this.markLost();
  }

  /** Keeps the newest lost seq of a user (`null`: of everyone). */
  private rememberLost(userId: string | null, seq: string): void {
    if (userId !== null) {
      const known = this.lost.get(userId);
      if (known !== undefined || this.lost.size < MAX_LOST_USERS) {
        if (known === undefined || seq > known) this.lost.set(userId, seq);
        return;
      }
    }
    if (this.lostForAll === undefined || seq > this.lostForAll) this.lostForAll = seq;
  }

  /** Writes what was not kept as dropped, so that replays report the gap. */
  private markLost(): Promise<void> {
    this.marking ??= this.writeLost().finally(() => (this.marking = undefined));
    return this.marking;
  }

  private async writeLost(): Promise<void> {
    const session = this.session;
    if (session === undefined || (this.lost.size === 0 && this.lostForAll === undefined)) return;
    const { commands, keys, host } = session;
    const lost = [...this.lost];
    const lostForAll = this.lostForAll;
    this.lost.clear();
    this.lostForAll = undefined;
    const markers = lost.map(([userId, seq]) => [keys.userDropped(userId), seq]);
    if (lostForAll !== undefined) markers.push([keys.broadcastDropped, lostForAll]);
    try {
      for (let i = 0; i < markers.length; i += USERS_PER_SCRIPT) {
        const chunk = markers.slice(i, i + USERS_PER_SCRIPT);
        await MARK_DROPPED.run(
          commands,
          chunk.map(([key]) => key),
          [2 * host.history.ttlMs, ...chunk.map(([, seq]) => seq)],
        );
      }
    } catch (error) {
      // Marked again on the next ready; a marker written twice does no harm.
      for (const [userId, seq] of lost) this.rememberLost(userId, seq);
      if (lostForAll !== undefined) this.rememberLost(null, lostForAll);
      this.report('history', error);
    }
  }

  /** Logs the first failure of an outage as a warning; the rest are verbose. */
  private report(what: string, error: unknown): void {
    if (this.closing) return;
    const logger = this.session?.host.logger;
    const reason = error instanceof Error ? error.message : String(error);
    if (this.failing) {
      logger?.verbose?.(`Redis broker: ${what} failed: ${reason}`);
      return;
    }
    this.failing = true;
    logger?.warn(
      `Redis broker: ${what} failed (${reason}). Messages reach this instance's connections ` +
        `only, presence answers for this instance and replay reports a gap, until Redis ` +
        `answers again; the broker reconnects by itself.`,
    );
  }

  private recovered(): void {
    const session = this.session;
    if (!this.failing || this.closing || session === undefined) return;
    if (session.commands.status !== 'ready' || session.events.status !== 'ready') return;
    this.failing = false;
    session.host.logger.log('Redis broker: connected to Redis again.');
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

/**
 * Entries a stream may hold past `size` before it is trimmed: trimming then happens once
 * every `slack` messages rather than at each. Reads trim to `size` first.
 */
function slackOf(size: number): number {
  return Math.max(1, Math.ceil(size / 8));
}

/** What a replay reads of Redis: each source's entries (XRANGE replies) and marker. */
interface HistoryRead {
  readonly own: unknown;
  readonly ownDropped: unknown;
  readonly all: unknown;
  readonly allDropped: unknown;
  readonly epoch: string;
}

/** A history source out of an XRANGE reply (`[[id, ['m', entry]], ...]`) and its marker. */
function source(range: unknown, dropped: unknown, to: readonly string[] | null): SseHistorySource {
  const entries: SseHistoryEntry[] = [];
  if (Array.isArray(range)) {
    for (const item of range as unknown[]) {
      if (!Array.isArray(item) || !Array.isArray(item[1])) continue;
      const envelope = decodeEntry(String(item[1][1]), to);
      if (envelope !== undefined) entries.push({ envelope, at: parseInt(String(item[0]), 10) });
    }
  }
  return typeof dropped === 'string' && dropped !== ''
    ? { entries, droppedSeq: dropped }
    : { entries };
}

/**
 * Resolves true once the commands connection is ready (at once if it is), false if it
 * ends first.
 */
function commandsReady(commands: Redis): Promise<boolean> {
  if (commands.status === 'ready') return Promise.resolve(true);
  return new Promise((resolve) => {
    const ready = (): void => {
      commands.off('end', ended);
      resolve(true);
    };
    const ended = (): void => {
      commands.off('ready', ready);
      resolve(false);
    };
    commands.once('ready', ready);
    commands.once('end', ended);
  });
}
