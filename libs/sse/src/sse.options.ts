import type { SseBroker } from './broker/sse-broker.interface.js';
import type {
  SseModuleOptions,
  SseRequestLike,
  SseTransport,
} from './interfaces/sse-module-options.interface.js';
import { SseOptionsError } from './sse.errors.js';

/** Default of every option: the one place they are declared. */
export const SSE_DEFAULTS = {
  retry: 60_000,
  timeout: 300_000,
  heartbeat: 20_000,
  maxConnectionsPerUser: 8,
  history: { size: 100, ttlMs: 300_000 },
  maxMessageBytes: 65_536,
  maxPendingBytes: 1_048_576,
  path: 'sse',
  transport: 'direct',
  maxTopicsPerUser: 100,
  maxTopicsPerConnection: 20,
} as const;

/** The options in force, defaults applied and checked. */
export interface SseResolvedOptions {
  readonly retry: number;
  readonly timeout: number;
  readonly heartbeat: number;
  readonly maxConnectionsPerUser: number;
  readonly history: { readonly size: number; readonly ttlMs: number };
  readonly maxMessageBytes: number;
  readonly maxPendingBytes: number;
  readonly resolveUser: (request: SseRequestLike) => unknown;
  readonly broker: SseBroker | undefined;
  readonly path: string | null;
  readonly transport: SseTransport;
  readonly authorizeTopics:
    ((request: SseRequestLike, userId: string, topics: readonly string[]) => unknown) | undefined;
  readonly maxTopicsPerUser: number;
  readonly maxTopicsPerConnection: number;
}

/** Where the ready route is and how it writes: fixed before routes are registered. */
export interface SseRouteOptions {
  readonly path: string | null;
  readonly transport: SseTransport;
}

/** Reads `req.user.id`, then `req.user.sub`. */
export function defaultResolveUser(request: SseRequestLike): unknown {
  const user = request.user as { id?: unknown; sub?: unknown } | null | undefined;
  return user?.id ?? user?.sub;
}

function wholeNumber(option: string, value: unknown, min: number, max: number): number {
  if (typeof value === 'string') {
    // Environment variables are strings; coercing silently would hide a typo ('15s').
    throw new SseOptionsError(
      option,
      `must be a number, got the string ${JSON.stringify(value)} ` +
        `(values read from the environment are strings). Potential solutions: convert it ` +
        `where you read it, as in Number(config.get('SSE_HEARTBEAT_MS', 20000)), or have ` +
        `your ConfigModule's validate or load function turn it into a number.`,
    );
  }
  if (typeof value !== 'number' || !Number.isInteger(value)) {
    const got = typeof value === 'number' ? String(value) : `${typeof value} ${String(value)}`;
    throw new SseOptionsError(option, `must be a whole number, got ${got}`);
  }
  if (value < min || value > max) {
    throw new SseOptionsError(option, `must be between ${min} and ${max}, got ${value}`);
  }
  return value;
}

// setTimeout and setInterval take at most 2^31 - 1 ms.
const MAX_DELAY = 2_147_483_647;

/** Checks the route options; throws `SseOptionsError` at start-up when they cannot work. */
export function resolveSseRoute(path: unknown, transport: unknown): SseRouteOptions {
  const resolvedPath = path === undefined ? SSE_DEFAULTS.path : path;
  if (resolvedPath !== null && typeof resolvedPath !== 'string') {
    throw new SseOptionsError('path', `must be a string or null, got ${typeof resolvedPath}`);
  }
  const resolvedTransport = transport === undefined ? SSE_DEFAULTS.transport : transport;
  if (resolvedTransport !== 'direct' && resolvedTransport !== 'observable') {
    throw new SseOptionsError(
      'transport',
      `must be 'direct' or 'observable', got ${String(resolvedTransport)}`,
    );
  }
  return { path: resolvedPath, transport: resolvedTransport };
}

/**
 * Applies the defaults to the options and checks them once, so that a mistake stops the
 * application at start-up with the option's name rather than misbehaving later.
 */
export function resolveSseOptions(
  options: SseModuleOptions,
  route: SseRouteOptions,
): SseResolvedOptions {
  // The type has no `path` or `transport`: this stops a factory that passes them anyway
  // (plain JavaScript, a cast) from being ignored without a word.
  const untyped = options as Partial<Record<'path' | 'transport', unknown>>;
  for (const key of ['path', 'transport'] as const) {
    if (untyped[key] !== undefined && untyped[key] !== route[key]) {
      throw new SseOptionsError(
        key,
        `is fixed when routes are registered, before an async factory runs. Potential ` +
          `solutions: pass it to SseModule.forRootAsync() beside useFactory, not from it.`,
      );
    }
  }
  const history = options.history ?? SSE_DEFAULTS.history;
  if (typeof history !== 'object' || history === null) {
    throw new SseOptionsError('history', 'must be an object such as { size: 100, ttlMs: 300000 }');
  }
  const maxMessageBytes = wholeNumber(
    'maxMessageBytes',
    options.maxMessageBytes ?? SSE_DEFAULTS.maxMessageBytes,
    1,
    256 * 1024 * 1024,
  );
  const maxPendingBytes = wholeNumber(
    'maxPendingBytes',
    options.maxPendingBytes ?? Math.max(SSE_DEFAULTS.maxPendingBytes, 4 * maxMessageBytes),
    1,
    Number.MAX_SAFE_INTEGER,
  );
  if (maxPendingBytes < maxMessageBytes) {
    throw new SseOptionsError(
      'maxPendingBytes',
      `must be at least maxMessageBytes (${maxMessageBytes}), got ${maxPendingBytes}`,
    );
  }
  const resolveUser = options.resolveUser ?? defaultResolveUser;
  if (typeof resolveUser !== 'function') {
    throw new SseOptionsError('resolveUser', 'must be a function (request) => userId');
  }
  const broker = options.broker;
  if (broker !== undefined && (typeof broker !== 'object' || broker === null)) {
    throw new SseOptionsError('broker', 'must be a broker instance such as new RedisSseBroker()');
  }
  const authorizeTopics = options.authorizeTopics;
  if (authorizeTopics !== undefined && typeof authorizeTopics !== 'function') {
    throw new SseOptionsError(
      'authorizeTopics',
      'must be a function (request, userId, topics) => boolean',
    );
  }
  return {
    retry: wholeNumber('retry', options.retry ?? SSE_DEFAULTS.retry, 0, MAX_DELAY),
    timeout: wholeNumber('timeout', options.timeout ?? SSE_DEFAULTS.timeout, 0, MAX_DELAY),
    heartbeat: wholeNumber('heartbeat', options.heartbeat ?? SSE_DEFAULTS.heartbeat, 0, MAX_DELAY),
    maxConnectionsPerUser: wholeNumber(
      'maxConnectionsPerUser',
      options.maxConnectionsPerUser ?? SSE_DEFAULTS.maxConnectionsPerUser,
      1,
      1_000_000,
    ),
    history: {
      size: wholeNumber('history.size', history.size ?? SSE_DEFAULTS.history.size, 0, 1_000_000),
      ttlMs: wholeNumber(
        'history.ttlMs',
        history.ttlMs ?? SSE_DEFAULTS.history.ttlMs,
        1,
        MAX_DELAY,
      ),
    },
    maxMessageBytes,
    maxPendingBytes,
    resolveUser: (request) => resolveUser.call(options, request),
    broker,
    path: route.path,
    transport: route.transport,
    authorizeTopics:
      authorizeTopics === undefined
        ? undefined
        : (request, userId, topics) => authorizeTopics.call(options, request, userId, topics),
    maxTopicsPerUser: wholeNumber(
      'maxTopicsPerUser',
      options.maxTopicsPerUser ?? SSE_DEFAULTS.maxTopicsPerUser,
      1,
      1_000_000,
    ),
    maxTopicsPerConnection: wholeNumber(
      'maxTopicsPerConnection',
      options.maxTopicsPerConnection ?? SSE_DEFAULTS.maxTopicsPerConnection,
      1,
      10_000,
    ),
  };
}
