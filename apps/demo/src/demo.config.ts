import type { LoggerService, LogLevel } from '@nestjs/common';
import type { SseTransport } from 'nestjs-sse-hub';

/** HTTP platform the demo runs on. */
export type DemoPlatform = 'express' | 'fastify';

/**
 * Everything the demo needs to start. Tests build one directly; `main.ts` reads it from the
 * environment with `demoConfigFromEnv`. Library options left out keep the library's defaults.
 */
export interface DemoConfig {
  /**
   * Port to listen on (`PORT`); `0` picks a free one.
   * @default 3000
   */
  port: number;
  /**
   * Address to listen on (`HOST`); unset: every interface.
   * @default undefined
   */
  host?: string;
  /**
   * HTTP platform (`PLATFORM`).
   * @default 'express'
   */
  platform: DemoPlatform;
  /**
   * How the library's ready route writes (`SSE_TRANSPORT`).
   * @default 'direct'
   */
  transport: SseTransport;
  /** The library's `retry` option, in milliseconds (`SSE_RETRY_MS`). */
  retry?: number;
  /** The library's `timeout` option, in milliseconds (`SSE_TIMEOUT_MS`). */
  timeout?: number;
  /** The library's `heartbeat` option, in milliseconds (`SSE_HEARTBEAT_MS`). */
  heartbeat?: number;
  /** The library's `history.size` option (`SSE_HISTORY_SIZE`). */
  historySize?: number;
  /** The library's `maxConnectionsPerUser` option (`SSE_MAX_CONNECTIONS_PER_USER`). */
  maxConnectionsPerUser?: number;
  /** Redis server to share messages and presence with other instances (`REDIS_URL`). */
  redisUrl?: string;
  /**
   * Seed nodes of a Redis Cluster to share messages and presence with other instances
   * (`REDIS_CLUSTER_NODES=host:port,host:port,...`); excludes `redisUrl` and `natsUrl`.
   */
  redisClusterNodes?: string[];
  /**
   * Start of the broker's Redis keys: demos on one Redis with different prefixes do not see
   * each other. Not read from the environment.
   * @default the broker's default, 'sse:'
   */
  redisKeyPrefix?: string;
  /**
   * NATS server(s), JetStream on, to share messages and presence with other instances
   * (`NATS_URL`, comma-separated for several); excludes `redisUrl`.
   */
  natsUrl?: string;
  /**
   * First token of the NATS broker's subjects, stream and bucket. Not read from the
   * environment.
   * @default the broker's default, 'sse'
   */
  natsPrefix?: string;
  /**
   * Key that signs the demo's tokens (`DEMO_SECRET`). Unset: a random key made at start-up,
   * so that tokens do not outlive the process and no other instance accepts them.
   */
  secret?: string;
  /**
   * How long a token (and its cookie) is valid, in seconds.
   * @default 43200 (12 hours)
   */
  tokenTtlSeconds: number;
  /**
   * Milliseconds the demo keeps listening on SIGTERM once its streams have ended, before it
   * closes, as an app behind a load balancer that is slow to notice does
   * (`SHUTDOWN_DRAIN_MS`). Stream requests meanwhile get a stream that says retry.
   */
  shutdownDrainMs: number;
  /**
   * Nest's logger setting: a logger, the levels to print, or `false` for none.
   * @default Nest's default logger
   */
  logger?: LoggerService | LogLevel[] | false;
}

/** Defaults of the demo's own settings. */
export const DEMO_DEFAULTS = {
  port: 3000,
  platform: 'express',
  transport: 'direct',
  tokenTtlSeconds: 43_200,
  shutdownDrainMs: 0,
} as const satisfies Partial<DemoConfig>;

/** A setting of the demo that cannot work; thrown before the application starts. */
export class DemoConfigError extends Error {
  override readonly name = 'DemoConfigError';
}

/** Fills in the defaults of a partial configuration. */
export function resolveDemoConfig(config: Partial<DemoConfig> = {}): DemoConfig {
  const defined = Object.fromEntries(
    Object.entries(config).filter(([, value]) => value !== undefined),
  ) as Partial<DemoConfig>;
  return { ...DEMO_DEFAULTS, ...defined };
}

type Env = Readonly<Record<string, string | undefined>>;

function text(env: Env, name: string): string | undefined {
  const value = env[name]?.trim();
  return value === undefined || value === '' ? undefined : value;
}

function wholeNumber(env: Env, name: string): number | undefined {
  const value = text(env, name);
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(Number(value))) {
    throw new DemoConfigError(`${name} must be a whole number, got "${value}"`);
  }
  return Number(value);
}

function oneOf<T extends string>(env: Env, name: string, allowed: readonly T[]): T | undefined {
  const value = text(env, name)?.toLowerCase();
  if (value === undefined) return undefined;
  if (!(allowed as readonly string[]).includes(value)) {
    throw new DemoConfigError(`${name} must be one of ${allowed.join(', ')}, got "${value}"`);
  }
  return value as T;
}

/**
 * Reads the demo's settings from environment variables. Unset or empty variables keep
 * their defaults; a malformed one throws `DemoConfigError` naming it. Ranges of the
 * library's options are checked by the library when the module starts.
 */
export function demoConfigFromEnv(env: Env = process.env): DemoConfig {
  const port = wholeNumber(env, 'PORT');
  if (port !== undefined && port > 65_535) {
    throw new DemoConfigError(`PORT must be between 0 and 65535, got ${port}`);
  }
  if (text(env, 'REDIS_URL') !== undefined && text(env, 'NATS_URL') !== undefined) {
    throw new DemoConfigError('REDIS_URL and NATS_URL exclude each other: set one broker');
  }
  const redisClusterNodes = clusterNodes(env);
  if (
    redisClusterNodes !== undefined &&
    (text(env, 'REDIS_URL') !== undefined || text(env, 'NATS_URL') !== undefined)
  ) {
    throw new DemoConfigError(
      'REDIS_CLUSTER_NODES excludes REDIS_URL and NATS_URL: set one broker',
    );
  }
  return resolveDemoConfig({
    port,
    redisClusterNodes,
    host: text(env, 'HOST'),
    platform: oneOf(env, 'PLATFORM', ['express', 'fastify']),
    transport: oneOf(env, 'SSE_TRANSPORT', ['direct', 'observable']),
    retry: wholeNumber(env, 'SSE_RETRY_MS'),
    timeout: wholeNumber(env, 'SSE_TIMEOUT_MS'),
    heartbeat: wholeNumber(env, 'SSE_HEARTBEAT_MS'),
    historySize: wholeNumber(env, 'SSE_HISTORY_SIZE'),
    maxConnectionsPerUser: wholeNumber(env, 'SSE_MAX_CONNECTIONS_PER_USER'),
    shutdownDrainMs: wholeNumber(env, 'SHUTDOWN_DRAIN_MS'),
    redisUrl: text(env, 'REDIS_URL'),
    natsUrl: text(env, 'NATS_URL'),
    // A secret is taken as it is: spaces may be part of it.
    secret: env.DEMO_SECRET === '' ? undefined : env.DEMO_SECRET,
  });
}

/** `REDIS_CLUSTER_NODES`: `host:port` seeds, comma-separated. */
function clusterNodes(env: Env): string[] | undefined {
  const value = text(env, 'REDIS_CLUSTER_NODES');
  if (value === undefined) return undefined;
  const nodes = value.split(',').map((node) => node.trim());
  for (const node of nodes) {
    if (!/^[^:\s]+:\d{1,5}$/.test(node)) {
      throw new DemoConfigError(
        `REDIS_CLUSTER_NODES must be host:port,host:port,..., got "${node}" among them`,
      );
    }
  }
  return nodes;
}
