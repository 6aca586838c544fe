import type { IncomingHttpHeaders } from 'node:http';
import type { SseBroker } from '../broker/sse-broker.interface.js';

/**
 * How the ready route writes events.
 *
 * - `'direct'`: each event is serialised once per message and written straight to every
 *   connection's socket. The fastest path, and the default.
 * - `'observable'`: a NestJS `@Sse()` handler returning `SseService.stream()`, so that
 *   interceptors see the stream. Same wire, more work per event.
 */
export type SseTransport = 'direct' | 'observable';

/** What the library reads of an incoming request: Express's and Fastify's requests fit. */
export interface SseRequestLike {
  /** The request's headers. */
  readonly headers: IncomingHttpHeaders;
  /** The authenticated user, as Passport and most auth guards set it. */
  readonly user?: unknown;
}

/** Keeps events per user so that a reconnecting client gets what it missed. */
export interface SseHistoryOptions {
  /**
   * Events kept per user (and, apart, the last broadcasts). `0` turns replay off.
   * @default 100
   */
  size?: number;
  /**
   * How long an event stays replayable, in milliseconds.
   * @default 300000
   */
  ttlMs?: number;
}

/**
 * Options of `SseModule.forRoot()` and what the factory of `SseModule.forRootAsync()`
 * returns. Numbers must be numbers: a value read from the environment is a string, so
 * convert it (`Number(config.get('SSE_HEARTBEAT_MS'))`). What shapes the module itself
 * (`path`, `transport`, `guards`, `interceptors`, `isGlobal`) is in `SseModuleExtras`.
 */
export interface SseModuleOptions {
  /**
   * Milliseconds a client waits before reconnecting, sent as `retry:` in the first event
   * of every connection. A whole number.
   * @default 60000
   */
  retry?: number;
  /**
   * Milliseconds a connection lives before the server ends it cleanly; the client then
   * reconnects and replays what it missed. `0`: never.
   * @default 300000
   */
  timeout?: number;
  /**
   * Milliseconds between comment lines on an idle connection, so that proxies keep it
   * open and dead peers are found. `0`: off.
   * @default 20000
   */
  heartbeat?: number;
  /**
   * Open connections per user on this instance (tabs). Past it the oldest is closed with
   * `sse:close`. `1` gives replace-on-connect.
   * @default 8
   */
  maxConnectionsPerUser?: number;
  /**
   * Per-user history for `Last-Event-ID` replay.
   * @default { size: 100, ttlMs: 300000 }
   */
  history?: SseHistoryOptions;
  /**
   * Largest serialised event data `send` accepts, in bytes (UTF-8).
   * @default 65536
   */
  maxMessageBytes?: number;
  /**
   * Bytes that may wait for a client that does not read before its connection is dropped
   * (reason `slow`); it reconnects and replays. Bounds the server's memory per connection.
   * At least `maxMessageBytes`. With the `'observable'` transport on HTTP/1 it bounds what
   * waits in NestJS's queue and the socket's buffer (event data counted in characters);
   * NestJS's own bound on the route (4M characters) stays behind it, and is the only one on
   * HTTP/2, where the socket is shared by the session's streams.
   * @default 1048576, or 4 × `maxMessageBytes` when that is larger
   */
  maxPendingBytes?: number;
  /**
   * Finds the user of a request; no user (undefined, null, empty) answers 401. Sync or
   * async. The default reads `req.user.id`, then `req.user.sub`.
   */
  resolveUser?(request: SseRequestLike): unknown;
  /**
   * Where messages, history and presence live. Use `RedisSseBroker` from
   * `nestjs-sse-hub/redis` to run several instances as one.
   * @default an in-memory broker (one process)
   */
  broker?: SseBroker;
  /**
   * Decides whether a stream may subscribe to topics (the ready route's repeated `?topic=`
   * parameters), sync or async; `false` answers 403 and opens no stream. Asked once per
   * stream, only when it asks for topics. Without it every subscription is refused (403):
   * memberships (`SseService.join`) need no such decision, as your code makes them.
   * @default undefined (every subscription refused)
   */
  authorizeTopics?(
    request: SseRequestLike,
    userId: string,
    topics: readonly string[],
  ): boolean | Promise<boolean>;
  /**
   * Memberships a user may hold (`SseService.join`); past it `join` rejects with
   * `SseTooManyTopicsError`.
   * @default 100
   */
  maxTopicsPerUser?: number;
  /**
   * Topics one stream may subscribe to; past it the ready route answers 400 and
   * `SseService.stream()` throws `SseTooManyTopicsError`.
   * @default 20
   */
  maxTopicsPerConnection?: number;
}

/**
 * A class that makes the options, for `SseModule.forRootAsync({ useClass })` or
 * `useExisting`, as `CacheOptionsFactory` does for `@nestjs/cache-manager`.
 *
 * @example
 * ```ts
 * @Injectable()
 * class SseConfig implements SseOptionsFactory {
 *   constructor(private readonly config: ConfigService) {}
 *   createSseOptions(): SseModuleOptions {
 *     return { heartbeat: Number(this.config.get('SSE_HEARTBEAT_MS') ?? 20000) };
 *   }
 * }
 * ```
 */
export interface SseOptionsFactory {
  /** The module's options, sync or async. */
  createSseOptions(): SseModuleOptions | Promise<SseModuleOptions>;
}
