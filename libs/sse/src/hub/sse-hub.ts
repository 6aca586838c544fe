import {
  Inject,
  Injectable,
  Logger,
  type BeforeApplicationShutdown,
  type OnApplicationShutdown,
  type OnModuleInit,
} from '@nestjs/common';
import type { MessageEvent } from '@nestjs/common';
import type { ServerResponse } from 'node:http';
import * as nodeTimers from 'node:timers';
import { Observable, Subject } from 'rxjs';
import { v7 as uuidv7 } from 'uuid';
import {
  SseBroker,
  type SseBrokerHost,
  type SseEnvelope,
  type SseReplay,
} from '../broker/sse-broker.interface.js';
import type {
  SseConnectionEvent,
  SseDisconnectReason,
  SseStats,
} from '../interfaces/sse-service.interface.js';
import { ObservableSseSink } from '../transport/observable-sse.sink.js';
import type { SseSink } from '../transport/sse-sink.interface.js';
import { SSE_CLOSE_EVENT, SSE_GAP_EVENT } from '../sse.constants.js';
import {
  SSE_LOGGER_CONTEXT,
  SSE_MAX_TOKEN_LENGTH,
  SSE_RESOLVED_OPTIONS,
} from '../sse.internal-constants.js';
import type { SseResolvedOptions } from '../sse.options.js';
import { SseFrame } from '../wire/sse-frame.js';
import { sseId } from '../wire/sse-id.js';
import { SseConnection, SseConnectionState } from './sse-connection.js';
import { SseDeadlines } from './sse-deadlines.js';

/** Longest wait, at shutdown, for ended streams' responses to be over. */
const SHUTDOWN_WAIT_MS = 1000;

/**
 * All connections of one user on this instance, fed by one rxjs Subject. The Subject has a
 * single subscriber that loops over the user's tabs, so a message to a user is one emission
 * whatever the number of its tabs. Created with the user's first connection here, completed
 * with its last.
 */
class SseUserChannel {
  readonly subject = new Subject<SseFrame>();
  readonly connections = new Set<SseConnection>();

  constructor() {
    this.subject.subscribe((frame) => {
      for (const connection of this.connections) connection.push(frame);
    });
  }
}

// eslint-disable-next-line no-control-regex
const UNUSABLE_RESUME_ID = /[\u0000-\u001f\u007f]/;

/** Resume points a client may send: what `send` would have accepted as an id. */
function usableResumeId(lastEventId: string | null | undefined): boolean | undefined {
  if (lastEventId === undefined || lastEventId === null || lastEventId === '') return undefined;
  return lastEventId.length <= SSE_MAX_TOKEN_LENGTH && !UNUSABLE_RESUME_ID.test(lastEventId);
}

function isPromiseLike<T>(value: T | PromiseLike<T>): value is PromiseLike<T> {
  return typeof (value as PromiseLike<T> | undefined)?.then === 'function';
}

/**
 * The connections of this instance and every rule of their life: the first event, replay,
 * live events, heartbeats, the timeout, eviction, disconnect and shutdown. Transports only
 * say how a frame reaches a socket (`SseSink`).
 */
@Injectable()
export class SseHub
  implements SseBrokerHost, OnModuleInit, BeforeApplicationShutdown, OnApplicationShutdown
{
  readonly instanceId = uuidv7();
  readonly logger = new Logger(SSE_LOGGER_CONTEXT);
  readonly events$ = new Subject<SseConnectionEvent>();
  readonly history: { readonly size: number; readonly ttlMs: number };

  private readonly channels = new Map<string, SseUserChannel>();
  private readonly connections = new Set<SseConnection>();
  private readonly deadlines: SseDeadlines<SseConnection> | undefined;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private connectionCounter = 0;
  private closing = false;
  private attached: Promise<void> | undefined;

  messagesSent = 0;
  private eventsDelivered = 0;
  private slowDisconnects = 0;

  constructor(
    @Inject(SSE_RESOLVED_OPTIONS) private readonly options: SseResolvedOptions,
    @Inject(SseBroker) readonly broker: SseBroker,
  ) {
    this.history = options.history;
    if (options.timeout > 0) {
      this.deadlines = new SseDeadlines(options.timeout, (connection) =>
        this.close(connection, 'timeout'),
      );
    }
  }

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
    const closing = this.shutdown();
    // Node's own timers, not the global ones that test suites fake: shutdown must not wait
    // for a fake clock to be advanced.
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.all(closing),
      new Promise((resolve) => (timer = nodeTimers.setTimeout(resolve, SHUTDOWN_WAIT_MS))),
    ]);
    nodeTimers.clearTimeout(timer);
    // Streams of `stream()` in an app's own handler end through NestJS's pipeline, which
    // finishes the response a few ticks later.
    await new Promise((resolve) => nodeTimers.setImmediate(resolve));
  }

  async onApplicationShutdown(): Promise<void> {
    this.shutdown();
    if (this.attached !== undefined) {
      this.attached = undefined;
      await this.broker.detach();
    }
    this.events$.complete();
  }

  /** Whether new streams are refused because the application is shutting down. */
  get isClosing(): boolean {
    return this.closing;
  }

  /**
   * Opens a stream: registers it, writes its first event at once, replays what the client
   * missed when it sent a resume point, then lets live events through.
   */
  open(
    userId: string,
    lastEventId: string | null | undefined,
    createSink: (connection: SseConnection) => SseSink,
  ): SseConnection {
    const connection = new SseConnection(
      `${this.instanceId}:${(++this.connectionCounter).toString(36)}`,
      userId,
    );
    connection.sink = createSink(connection);
    if (this.closing) {
      connection.state = SseConnectionState.Closed;
      connection.sink.end();
      return connection;
    }

    let channel = this.channels.get(userId);
    if (channel !== undefined) {
      for (const oldest of channel.connections) {
        if (channel.connections.size < this.options.maxConnectionsPerUser) break;
        this.close(oldest, 'replaced');
      }
      channel = this.channels.get(userId);
    }
    if (channel === undefined) this.channels.set(userId, (channel = new SseUserChannel()));
    channel.connections.add(connection);
    this.connections.add(connection);
    if (this.connections.size === 1) this.startHeartbeat();
    this.deadlines?.add(connection);

    const resumable = usableResumeId(lastEventId);
    // A resuming client gets its own resume point back as the first id, so that dropping
    // before the replay is written loses nothing.
    const firstId = resumable ? lastEventId! : sseId();
    connection.lastId = firstId;
    connection.sink.write(new SseFrame(firstId, firstId, undefined, '', this.options.retry));

    let ready: void | Promise<void> = undefined;
    try {
      ready = this.broker.connected(userId, connection.id);
    } catch (error) {
      this.logger.warn(`Presence of user ${userId} failed: ${String(error)}`);
    }
    this.logger.debug(`Connected ${connection.id} of user ${userId}`);
    this.events$.next({ type: 'connect', userId, connectionId: connection.id, at: Date.now() });

    if (resumable === false) {
      this.writeGap(connection, 'unknown', lastEventId!);
    } else if (resumable || isPromiseLike(ready)) {
      // Live events wait until the replay is written. A fresh connection whose broker needs
      // time to receive the user's events catches up from its own first id once it can.
      connection.state = SseConnectionState.Replaying;
      connection.pending = [];
      const from = resumable ? lastEventId! : firstId;
      if (isPromiseLike(ready)) {
        const replay = () => this.replay(connection, from, !resumable);
        ready.then(replay, replay);
      } else {
        this.replay(connection, from, false);
      }
    }
    return connection;
  }

  /**
   * A stream as an Observable of NestJS `MessageEvent`s: opened on subscribe, closed on
   * unsubscribe (reason `slow` when `isSlow` says so, else `client`).
   */
  streamOf(
    userId: string,
    lastEventId: string | null | undefined,
    isSlow?: () => boolean,
    response?: ServerResponse,
  ): Observable<MessageEvent> {
    return new Observable<MessageEvent>((subscriber) => {
      const connection = this.open(
        userId,
        lastEventId,
        () => new ObservableSseSink(subscriber, response),
      );
      return () => this.close(connection, isSlow?.() ? 'slow' : 'client');
    });
  }

  /** Replays from `lastEventId`, or, for a fresh connection, catches up from its first id. */
  private replay(connection: SseConnection, lastEventId: string, catchUp: boolean): void {
    if (connection.state !== SseConnectionState.Replaying) return;
    let result: SseReplay | PromiseLike<SseReplay>;
    try {
      result = this.broker.replay(connection.userId, lastEventId);
    } catch (error) {
      this.logger.warn(`Replay for user ${connection.userId} failed: ${String(error)}`);
      result = { events: [], gap: 'unavailable' };
    }
    if (!isPromiseLike(result)) {
      this.finishReplay(connection, lastEventId, result, catchUp);
      return;
    }
    result.then(
      (replay) => this.finishReplay(connection, lastEventId, replay, catchUp),
      (error: unknown) => {
        this.logger.warn(`Replay for user ${connection.userId} failed: ${String(error)}`);
        this.finishReplay(connection, lastEventId, { events: [], gap: 'unavailable' }, catchUp);
      },
    );
  }

  private finishReplay(
    connection: SseConnection,
    lastEventId: string,
    replay: SseReplay,
    catchUp: boolean,
  ): void {
    if (connection.state !== SseConnectionState.Replaying) return;
    const pending = connection.pending!;
    connection.pending = null;
    connection.state = SseConnectionState.Live;
    // A fresh connection's catch-up without history has nothing to vouch for: no gap.
    if (replay.gap !== undefined && !(catchUp && replay.gap === 'disabled')) {
      this.writeGap(connection, replay.gap, lastEventId);
    }
    let replayed: Set<string> | undefined;
    if (pending.length > 0) replayed = new Set();
    for (const envelope of replay.events) {
      replayed?.add(envelope.seq);
      connection.push(new SseFrame(envelope.id, envelope.seq, envelope.event, envelope.data));
    }
    for (const frame of pending) {
      if (replayed?.has(frame.seq)) continue;
      connection.push(frame);
      if (connection.state !== SseConnectionState.Live) return;
    }
  }

  private writeGap(connection: SseConnection, reason: string, lastEventId: string): void {
    const data = JSON.stringify({ reason, lastEventId });
    connection.push(new SseFrame(connection.lastId, connection.lastId, SSE_GAP_EVENT, data));
  }

  /**
   * Writes a message to this instance's connections of its recipients (`SseBrokerHost`),
   * serialised once for all of them. A message to users is one emission of each user's
   * Subject; a broadcast is one loop over every connection, rather than one emission per
   * user.
   */
  deliver(message: SseEnvelope): number {
    const frame = new SseFrame(message.id, message.seq, message.event, message.data);
    let reached = 0;
    if (message.to === null) {
      reached = this.connections.size;
      for (const connection of this.connections) connection.push(frame);
    } else {
      for (const userId of message.to) {
        const channel = this.channels.get(userId);
        if (channel === undefined) continue;
        reached += channel.connections.size;
        channel.subject.next(frame);
      }
    }
    this.eventsDelivered += reached;
    return reached;
  }

  /** Ends this instance's connections of a user with `sse:close` (`SseBrokerHost`). */
  disconnectLocal(userId: string): number {
    const channel = this.channels.get(userId);
    if (channel === undefined) return 0;
    const connections = [...channel.connections];
    for (const connection of connections) this.close(connection, 'disconnected');
    return connections.length;
  }

  localConnections(userId: string): number {
    return this.channels.get(userId)?.connections.size ?? 0;
  }

  localUsers(): Iterable<string> {
    return this.channels.keys();
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

  /** Ends a connection for a reason, once; whatever ends it first wins. */
  close(connection: SseConnection, reason: SseDisconnectReason): void {
    if (connection.state === SseConnectionState.Closed) return;
    connection.state = SseConnectionState.Closed;
    connection.pending = null;
    const { userId } = connection;
    const channel = this.channels.get(userId);
    if (channel !== undefined && channel.connections.delete(connection)) {
      if (channel.connections.size === 0) {
        this.channels.delete(userId);
        // Completing the Subject releases its subscriber: nothing of the user stays.
        channel.subject.complete();
      }
    }
    this.connections.delete(connection);
    if (this.connections.size === 0) this.stopHeartbeat();
    this.deadlines?.delete(connection);

    switch (reason) {
      case 'replaced':
      case 'disconnected':
        connection.sink.end(
          new SseFrame(connection.lastId, '', SSE_CLOSE_EVENT, JSON.stringify({ reason })),
        );
        break;
      case 'shutdown':
      case 'error':
        // No data: browsers take the id and retry without dispatching an event.
        connection.sink.end(
          new SseFrame(connection.lastId, '', undefined, undefined, this.spreadRetry()),
        );
        break;
      case 'timeout':
        connection.sink.end();
        break;
      case 'slow':
        this.slowDisconnects++;
        this.logger.warn(
          `Dropped ${connection.id} of user ${userId}: it is not reading its events ` +
            `(more than maxPendingBytes, ${this.options.maxPendingBytes}, waiting)`,
        );
        connection.sink.destroy();
        break;
      case 'client':
        break;
    }
    this.broker.disconnected(userId, connection.id);
    this.logger.debug(`Disconnected ${connection.id} of user ${userId}: ${reason}`);
    this.events$.next({
      type: 'disconnect',
      userId,
      connectionId: connection.id,
      reason,
      at: Date.now(),
    });
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
   * A reconnection delay between 1 s and `min(retry, 15 s)`, different for each client, so
   * that a restart is not followed by every client at once. The routes give it to stream
   * requests that come in while the instance shuts down.
   */
  spreadRetry(): number {
    const high = Math.max(1000, Math.min(this.options.retry, 15_000));
    return 1000 + Math.floor(Math.random() * (high - 1000 + 1));
  }

  private startHeartbeat(): void {
    if (this.options.heartbeat === 0 || this.heartbeatTimer !== undefined) return;
    // One timer for every connection: each tick writes a comment only to connections
    // that had nothing written since the previous one.
    this.heartbeatTimer = setInterval(() => {
      for (const connection of this.connections) {
        if (connection.active) connection.active = false;
        else connection.sink.heartbeat();
      }
    }, this.options.heartbeat);
    this.heartbeatTimer.unref();
  }

  private stopHeartbeat(): void {
    if (this.heartbeatTimer !== undefined) {
      clearInterval(this.heartbeatTimer);
      this.heartbeatTimer = undefined;
    }
  }

  stats(): SseStats {
    return {
      instanceId: this.instanceId,
      users: this.channels.size,
      connections: this.connections.size,
      messagesSent: this.messagesSent,
      eventsDelivered: this.eventsDelivered,
      slowDisconnects: this.slowDisconnects,
    };
  }

  /** Internal counts that must all fall back to 0 once every client has left. */
  resourceCounts(): { channels: number; connections: number; deadlines: number; timers: number } {
    return {
      channels: this.channels.size,
      connections: this.connections.size,
      deadlines: this.deadlines?.size ?? 0,
      timers: (this.heartbeatTimer ? 1 : 0) + (this.deadlines?.armed ? 1 : 0),
    };
  }
}
