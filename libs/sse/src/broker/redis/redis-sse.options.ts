import type { Cluster, ClusterNode, ClusterOptions, Redis } from 'ioredis';
import { RedisSseBrokerOptionsError } from './redis-sse.errors.js';

/** Options of `new RedisSseBroker(options)`. Every option is optional. */
export interface RedisSseBrokerOptions {
  /**
   * Where Redis is, as a `redis://` or `rediss://` URL (user, password and database
   * number included). Give `url` or `redis`, not both.
   * @default 'redis://127.0.0.1:6379'
   */
  url?: string;
  /**
   * An ioredis client whose settings (host, TLS, password, database, Sentinel) the broker
   * copies with `duplicate()` for its own two connections. The client itself is neither
   * used nor closed by the broker. Its `keyPrefix`, if any, goes before `keyPrefix`.
   */
  redis?: Redis | Cluster;
  /**
   * A Redis Cluster (Redis 7 or later) to use instead of one server: its seed nodes
   * (`{ host, port }` or `'host:port'`) and, optionally, ioredis `Cluster` options (TLS,
   * password in `redisOptions`, `natMap`). Live events then travel by sharded pub/sub, and
   * every script touches one slot (see docs/scaling.md). Give `cluster`, `url` or `redis`.
   */
  cluster?: { nodes: readonly (ClusterNode | string)[]; options?: ClusterOptions };
  /**
   * Start of every key and pub/sub channel the broker uses. Applications (or tests) that
   * share a Redis server and must not see each other's users take different prefixes.
   * @default 'sse:'
   */
  keyPrefix?: string;
  /**
   * Milliseconds after its last heartbeat that an instance stops counting in presence
   * (`isOnline`, `onlineUsers`, `delivered`): the bound within which an instance that died
   * without cleaning up drops out.
   * @default 15000
   */
  presenceTtlMs?: number;
  /**
   * Milliseconds between an instance's heartbeats; each also clears what dead instances
   * left behind. Less than `presenceTtlMs`.
   * @default 5000
   */
  presenceHeartbeatMs?: number;
  /**
   * Milliseconds a Redis command may take before it counts as failed (the message is then
   * delivered on this instance only). Start-up waits as long for a first answer of Redis.
   * @default 2000
   */
  commandTimeoutMs?: number;
}

/** Default of every `RedisSseBrokerOptions` option: the one place they are declared. */
export const REDIS_SSE_BROKER_DEFAULTS = {
  url: 'redis://127.0.0.1:6379',
  keyPrefix: 'sse:',
  presenceTtlMs: 15_000,
  presenceHeartbeatMs: 5_000,
  commandTimeoutMs: 2_000,
} as const;

/** The options in force, defaults applied and checked. */
export interface RedisSseResolvedOptions {
  readonly url: string;
  readonly redis: Redis | Cluster | undefined;
  /** Seed nodes and options of a Redis Cluster, when the broker runs on one. */
  readonly cluster: { readonly nodes: ClusterNode[]; readonly options: ClusterOptions } | undefined;
  readonly keyPrefix: string;
  readonly presenceTtlMs: number;
  readonly presenceHeartbeatMs: number;
  readonly commandTimeoutMs: number;
}

function positiveWhole(option: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) {
    throw new RedisSseBrokerOptionsError(
      option,
      `must be a whole number of milliseconds above 0, got ${String(value)}`,
    );
  }
  if (value > 2_147_483_647) {
    throw new RedisSseBrokerOptionsError(option, `must be at most 2147483647, got ${value}`);
  }
  return value;
}

/**
 * Applies the defaults and checks the options once, so that a mistake stops the
 * application where the broker is made, with the option's name.
 */
export function resolveRedisSseOptions(options: RedisSseBrokerOptions): RedisSseResolvedOptions {
  if (typeof options !== 'object' || options === null) {
    throw new RedisSseBrokerOptionsError('options', 'must be an object such as { url }');
  }
  if (options.url !== undefined && options.redis !== undefined) {
    throw new RedisSseBrokerOptionsError('url', 'and "redis" exclude each other: give one');
  }
  const cluster = resolveCluster(options);
  const url = options.url ?? REDIS_SSE_BROKER_DEFAULTS.url;
  if (typeof url !== 'string' || !/^rediss?:\/\//.test(url)) {
    throw new RedisSseBrokerOptionsError(
      'url',
      `must be a redis:// or rediss:// URL, got ${String(url)}`,
    );
  }
  const redis = options.redis;
  if (redis !== undefined && typeof redis?.duplicate !== 'function') {
    throw new RedisSseBrokerOptionsError(
      'redis',
      'must be an ioredis client (new Redis(...) or new Cluster(...))',
    );
  }
  const keyPrefix = options.keyPrefix ?? REDIS_SSE_BROKER_DEFAULTS.keyPrefix;
  if (typeof keyPrefix !== 'string' || /[{}]/.test(keyPrefix)) {
    throw new RedisSseBrokerOptionsError(
      'keyPrefix',
      `must be a string without braces (they mark Redis Cluster hash tags), got ${String(keyPrefix)}`,
    );
  }
  const presenceTtlMs = positiveWhole(
    'presenceTtlMs',
    options.presenceTtlMs ?? REDIS_SSE_BROKER_DEFAULTS.presenceTtlMs,
  );
  const presenceHeartbeatMs = positiveWhole(
    'presenceHeartbeatMs',
    options.presenceHeartbeatMs ??
      Math.min(REDIS_SSE_BROKER_DEFAULTS.presenceHeartbeatMs, Math.floor(presenceTtlMs / 3)),
  );
  if (presenceHeartbeatMs >= presenceTtlMs) {
    throw new RedisSseBrokerOptionsError(
      'presenceHeartbeatMs',
      `must be less than presenceTtlMs (${presenceTtlMs}), got ${presenceHeartbeatMs}; ` +
        `a third of it leaves room for a late heartbeat`,
    );
  }
  return {
    url,
    redis,
    cluster,
    keyPrefix,
    presenceTtlMs,
    presenceHeartbeatMs,
    commandTimeoutMs: positiveWhole(
      'commandTimeoutMs',
      options.commandTimeoutMs ?? REDIS_SSE_BROKER_DEFAULTS.commandTimeoutMs,
    ),
  };
}

/** Checks `cluster`: seeds as `{ host, port }` or `host:port`, and no `url` or `redis` with it. */
function resolveCluster(options: RedisSseBrokerOptions): RedisSseResolvedOptions['cluster'] {
  const cluster = options.cluster;
  if (cluster === undefined) return undefined;
  if (options.url !== undefined || options.redis !== undefined) {
    throw new RedisSseBrokerOptionsError('cluster', 'excludes "url" and "redis": give one');
  }
  const nodes = typeof cluster === 'object' && cluster !== null ? cluster.nodes : undefined;
  if (!Array.isArray(nodes) || nodes.length === 0) {
    throw new RedisSseBrokerOptionsError(
      'cluster',
      'must be { nodes: [...] } with at least one seed node, such as { host: "10.0.0.1", port: 7000 }',
    );
  }
  return {
    nodes: nodes.map((node: unknown) => seedNode(node)),
    options: cluster.options ?? {},
  };
}

function seedNode(node: unknown): ClusterNode {
  if (typeof node === 'string') {
    const match = /^(.+):(\d{1,5})$/.exec(node.trim());
    if (match !== null) return { host: match[1], port: Number(match[2]) };
  } else if (typeof node === 'object' && node !== null) {
    const { host, port } = node as { host?: unknown; port?: unknown };
    if (typeof host === 'string' && typeof port === 'number' && Number.isInteger(port)) {
      return { host, port };
    }
  }
  throw new RedisSseBrokerOptionsError(
    'cluster',
    `has a seed node that is neither "host:port" nor { host, port }: ${JSON.stringify(node)}`,
  );
}
