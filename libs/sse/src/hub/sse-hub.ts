import {
  Inject,
  Injectable,
  Logger,
  type BeforeApplicationShutdown,
  type OnApplicationShutdown,
  type OnModuleInit,
} from '@nestjs/common';
import { v7 as uuidv7 } from 'uuid';
import { SseBroker, type SseBrokerHost, type SseEnvelope } from '../broker/sse-broker.interface.js';
import { isUuidV7 } from '../history/sse-replay.js';
import type { SseDisconnectReason, SseStats } from '../interfaces/sse-service.interface.js';
import { SSE_LOGGER_CONTEXT, SSE_RESOLVED_OPTIONS } from '../sse.internal-constants.js';
import type { SseResolvedOptions } from '../sse.options.js';
import { eventIdProblem } from '../wire/sse-event-id.js';
import { SseFrame } from '../wire/sse-frame.js';
import { sseId } from '../wire/sse-id.js';
import { spreadRetry } from '../wire/sse-retry.js';
import { SseConnection } from './sse-connection.js';
import { SseCounters } from './sse-counters.js';
import { SseDeadlines } from './sse-deadlines.js';
import { SseGroups } from './sse-groups.js';
import { SseHeartbeat } from './sse-heartbeat.js';
import { SseLifecycle } from './sse-lifecycle.js';
import { SseRateLimitedLog } from './sse-rate-limited-log.js';
import { SseTopics } from './sse-topics.js';
import { isPromiseLike, SseReplayer } from './sse-replayer.js';
import { waitForResponsesToEnd } from './sse-shutdown-wait.js';
import type { SseSink } from './sse-sink.interface.js';

/**
 * The registry of this instance's connections and the core of delivery: it opens streams
 * (whatever the transport, through `open`), hands messages to their recipients' connections
 * serialised once, and ends streams for timeouts, eviction, disconnect and shutdown. Each
 * connection keeps its own state; transports only say how a frame reaches a socket
 * (`SseSink`).
 */
@Injectable()
export class SseHub
  implements SseBrokerHost, OnModuleInit, BeforeApplicationShutdown, OnApplicationShutdown
{
  readonly instanceId = uuidv7();
  readonly logger = new Logger(SSE_LOGGER_CONTEXT);
  /** Connections opening and closing, as `SseService.events$` gives them. */
  readonly lifecycle = new SseLifecycle(this.logger);
  readonly history: { readonly size: number; readonly ttlMs: number };
  readonly limits: { readonly maxTopicsPerUser: number };

  /** Connections by user: a message to a user is one loop over its group. */
  private readonly users = new SseGroups();
  /** Receiving connections by topic: a topic event is one loop over its group. */
  private readonly topics = new SseTopics();
  private readonly connections = new Set<SseConnection>();
  private readonly deadlines: SseDeadlines<SseConnection> | undefined;
  private readonly heartbeat: SseHeartbeat;
  private readonly replayer: SseReplayer;
  private readonly warnings = new SseRateLimitedLog(this.logger);
  private connectionCounter = 0;
  private closing = false;
  private attached: Promise<void> | undefined;

  constructor(
    @Inject(SSE_RESOLVED_OPTIONS) private readonly options: SseResolvedOptions,
    @Inject(SseBroker) private readonly broker: SseBroker,
    @Inject(SseCounters) private readonly counters: SseCounters,
  ) {
    this.history = options.history;
    this.limits = { maxTopicsPerUser: options.maxTopicsPerUser };
    this.heartbeat = new SseHeartbeat(options.heartbeat, this.connections);
    this.replayer = new SseReplayer(broker, this.warnings, counters);
    if (options.timeout > 0) {
      this.deadlines = new SseDeadlines(options.timeout, (connection) =>
        this.close(connection, 'timeout'),
      );
    }
  }

  /** Attaches the broker: messages flow from here on. */
  async onModuleInit(): Promise<void> {
    this.attached ??= Promise.resolve(this.broker.attach(this));
    await this.attached;
  }

  /**
   * Ends every stream at once, before the HTTP server closes, and waits (a second at most)
   * for their responses to be over: the server then finds the connections idle and closes
   * them at once instead of waiting for their keep-alive timeout.
   */
  async beforeApplicationShutdown(): Promise<void> {
    await waitForResponsesToEnd(this.shutdown());
  }

  /** Ends what is left, detaches the broker and completes the lifecycle's events. */
  async onApplicationShutdown(): Promise<void> {
    this.shutdown();
    if (this.attached !== undefined) {
      this.attached = undefined;
      await this.broker.detach();
    }
    this.lifecycle.complete();
  }

  /** Whether new streams are refused because the application is shutting down. */
  get isClosing(): boolean {
    return this.closing;
  }

  /**
   * Opens a stream, the one way every transport does: registers it, writes its first event
   * at once, replays what the client missed when it sent a usable resume point, then lets
   * live events through. `topics` are its subscriptions, checked and authorised already.
   */
  open(
    userId: string,
    lastEventId: string | null | undefined,
    createSink: (connection: SseConnection) => SseSink,
    topics?: readonly string[],
  ): SseConnection {
    const id = `${this.instanceId}:${(++this.connectionCounter).toString(36)}`;
    const connection = new SseConnection(id, userId, createSink, topics);
    if (this.closing) {
      connection.close('shutdown', this.options.retry);
      return connection;
    }
    const tabs = this.users.get(userId)?.connections;
    if (tabs !== undefined) {
      for (const oldest of tabs) {
        if (tabs.size < this.options.maxConnectionsPerUser) break;
        this.close(oldest, 'replaced');
      }
    }
    this.users.join(userId, connection);
    this.topics.open(connection);
    this.connections.add(connection);
    if (this.connections.size === 1) this.heartbeat.start();
    this.deadlines?.add(connection);

    const resumeFrom = lastEventId ?? '';
    // An id `send` would refuse cannot be one the client got from us: it is not looked up.
    const resumable = resumeFrom !== '' && eventIdProblem(resumeFrom) === undefined;
    let ready: void | Promise<void> = undefined;
    try {
      ready = this.broker.connected(userId, id, connection.topics);
    } catch (error) {
      this.warnings.warn('presence', `Presence of user ${userId} failed: ${String(error)}`);
    }
    // A resuming client gets its own resume point back as the first id, so that dropping
    // before the replay is written loses nothing. Live events wait until the replay is
    // written; a fresh connection whose broker needs time to receive the user's events
    // catches up from its own first id once it can.
    const catchUp = resumeFrom === '' && isPromiseLike(ready);
    const firstId = resumable ? resumeFrom : sseId();
    const since = !resumable ? firstId : isUuidV7(resumeFrom) ? resumeFrom : '';
    connection.start(firstId, this.options.retry, resumable || catchUp, since);
    this.lifecycle.connected(userId, id);

    if (resumeFrom !== '' && !resumable) {
      connection.gap('unknown', resumeFrom);
      this.counters.gap('unknown');
    } else if (isPromiseLike(ready)) {
      const replay = () => this.replayer.replay(connection, firstId, catchUp);
      ready.then(replay, replay);
    } else if (resumable) {
      this.replayer.replay(connection, firstId, false);
    }
    return connection;
  }

  /**
   * Writes a message to this instance's connections of its recipients (`SseBrokerHost`),
   * serialised once for all of them: a broadcast is one loop over every connection, a
   * message to users one loop over each user's group, a topic event one loop over the
   * topic's group. A connection belongs to one user, and is in a topic's group once
   * (however many reasons it has), so each is reached once.
   */
  deliver(message: SseEnvelope): number {
    const frame = SseFrame.message(message);
    let reached = 0;
    if (message.topic !== undefined) {
      const group = this.topics.get(message.topic);
      if (group !== undefined) {
        reached = group.connections.size;
        for (const connection of group.connections.keys()) connection.push(frame);
      }
    } else if (message.to === null) {
      reached = this.connections.size;
      for (const connection of this.connections) connection.push(frame);
    } else {
      for (const userId of message.to) {
        const group = this.users.get(userId);
        if (group === undefined) continue;
        reached += group.connections.size;
        for (const connection of group.connections) connection.push(frame);
      }
    }
    this.counters.delivered(reached);
    return reached;
  }

  /** Ends this instance's connections of a user with `sse:close` (`SseBrokerHost`). */
  disconnectLocal(userId: string): number {
    const group = this.users.get(userId);
    if (group === undefined) return 0;
    const connections = [...group.connections];
    for (const connection of connections) this.close(connection, 'disconnected');
    return connections.length;
  }

  /** Open connections of a user here (`SseBrokerHost`). */
  localConnections(userId: string): number {
    return this.users.get(userId)?.connections.size ?? 0;
  }

  /** Users with a connection here (`SseBrokerHost`). */
  localUsers(): Iterable<string> {
    return this.users.keys();
  }

  /** The user is a member of `topic`: its connections here receive it (`SseBrokerHost`). */
  joinLocal(userId: string, topic: string): void {
    const group = this.users.get(userId);
    if (group !== undefined) this.topics.join(userId, topic, group.connections);
  }

  /** A topic event the user, who joined it, missed, to its other tabs (`SseBrokerHost`). */
  deliverMissed(userId: string, message: SseEnvelope): number {
    const group = this.users.get(userId);
    if (group === undefined || message.topic === undefined) return 0;
    const reached = this.topics.deliverMissed(message, group.connections);
    this.counters.delivered(reached);
    return reached;
  }

  /** The user left `topic`: its connections here stop receiving it (`SseBrokerHost`). */
  leaveLocal(userId: string, topic: string): void {
    const group = this.users.get(userId);
    if (group !== undefined) this.topics.leave(userId, topic, group.connections);
  }

  /** Connections here that receive the topic's events (`SseBrokerHost`). */
  localTopicConnections(topic: string): number {
    return this.topics.get(topic)?.connections.size ?? 0;
  }

  /** Topics with a receiving connection here (`SseBrokerHost`). */
  localTopics(): Iterable<string> {
    return this.topics.keys();
  }

  /** Ends every stream so that clients reconnect at once and replay (`SseBrokerHost`). */
  reconnectLocal(): number {
    const open = [...this.connections];
    for (const connection of open) this.close(connection, 'error');
    if (open.length > 0) {
      this.logger.warn(`Ended ${open.length} stream(s) so that they replay what they missed`);
    }
    return open.length;
  }

  /** Tells the user's (`null`: every) connection here of events lost elsewhere (`SseBrokerHost`). */
  gapLocal(userId: string | null, seq: string): number {
    const connections =
      userId === null ? this.connections : (this.users.get(userId)?.connections ?? []);
    let told = 0;
    for (const connection of connections) {
      if (!connection.tellLost(seq)) continue;
      this.counters.gap('expired');
      told++;
    }
    return told;
  }

  /** Ends a connection for a reason, once; whatever ends it first wins. */
  close(connection: SseConnection, reason: SseDisconnectReason): void {
    if (!connection.close(reason, this.options.retry)) return;
    const { id, userId } = connection;
    this.connections.delete(connection);
    if (this.connections.size === 0) this.heartbeat.stop();
    this.deadlines?.delete(connection);
    this.counters.disconnected(reason);
    if (reason === 'slow') {
      this.warnings.warn(
        'slow',
        `Dropped ${id} of user ${userId}: it is not reading its events ` +
          `(more than maxPendingBytes, ${this.options.maxPendingBytes}, waiting)`,
      );
    }
    if (this.users.get(userId) === undefined) this.topics.forgetUser(userId);
    this.broker.disconnected(userId, id, connection.topics);
    this.lifecycle.disconnected(userId, id, reason);
  }

  /**
   * Ends every stream with a randomised `retry`, and refuses new ones. Returns a promise per
   * stream whose response is known, resolved when it is over.
   */
  shutdown(): Promise<void>[] {
    if (this.closing) return [];
    this.closing = true;
    const open = [...this.connections];
    const closing: Promise<void>[] = [];
    for (const connection of open) {
      this.close(connection, 'shutdown');
      const closed = connection.sink.whenClosed?.();
      if (closed !== undefined) closing.push(closed);
    }
    if (open.length > 0) this.logger.log(`Ended ${open.length} stream(s) for shutdown`);
    this.deadlines?.clear();
    return closing;
  }

  /**
   * A reconnection delay between 1 s and `min(retry, 15 s)`, different for each client: the
   * routes give it to stream requests that come in while the instance shuts down.
   */
  spreadRetry(): number {
    return spreadRetry(this.options.retry);
  }

  /** This instance's counts, for `SseService.stats()`. */
  stats(): SseStats {
    return {
      instanceId: this.instanceId,
      users: this.users.size,
      connections: this.connections.size,
      ...this.counters.counts(),
    };
  }

  /** Internal counts that must all fall back to 0 once every client has left. */
  resourceCounts(): { channels: number; connections: number; deadlines: number; timers: number } {
    return {
      channels: this.users.size + this.topics.size + this.topics.users,
      connections: this.connections.size,
      deadlines: this.deadlines?.size ?? 0,
      timers: (this.heartbeat.armed ? 1 : 0) + (this.deadlines?.armed ? 1 : 0),
    };
  }
}
