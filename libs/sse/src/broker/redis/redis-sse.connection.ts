import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';
import type { RedisSseResolvedOptions } from './redis-sse.options.js';

/**
 * Settings the broker's connections always take, whatever the client they copy says:
 *
 * - a command never waits in a queue for Redis to come back, nor is sent again after a
 *   reconnect: a message is delivered on this instance at once instead, and said not to
 *   be stored, rather than reaching others late or twice;
 * - the broker subscribes again itself after a reconnect (it knows which users are here);
 * - keys are named by the broker, in full;
 * - closing does not wait for a socket that is not connected anyway.
 */
const BROKER_CONNECTION: RedisOptions = {
  enableOfflineQueue: false,
  maxRetriesPerRequest: 0,
  autoResendUnfulfilledCommands: false,
  autoResubscribe: false,
  keyPrefix: '',
  lazyConnect: true,
  disconnectTimeout: 0,
};

/**
 * A connection of the broker: to one Redis server, or to a Redis Cluster (then the
 * commands go to the master of their slot, and pub/sub is sharded).
 */
export type RedisSseClient = Redis | Cluster;

/** Whether a connection is to a Redis Cluster. */
export function isCluster(client: RedisSseClient): client is Cluster {
  return client instanceof Cluster || (client as { isCluster?: boolean }).isCluster === true;
}

/** One of the broker's two connections: `commands`, or `events` (pub/sub). */
export function openRedisConnection(
  options: RedisSseResolvedOptions,
  role: 'commands' | 'events',
  instanceId: string,
): RedisSseClient {
  const settings: RedisOptions = {
    ...BROKER_CONNECTION,
    commandTimeout: options.commandTimeoutMs,
    connectionName: `sse:${role}:${instanceId}`,
  };
  const given = options.redis;
  if (options.cluster !== undefined || (given !== undefined && isCluster(given))) {
    const { enableOfflineQueue, lazyConnect, ...nodeSettings } = settings;
    const clusterSettings: ClusterOptions = {
      enableOfflineQueue,
      lazyConnect,
      // Sharded pub/sub: one subscriber connection per master, each holding the channels
      // of its slots, made again on the new master after a failover.
      shardedSubscribers: role === 'events',
      keyPrefix: '',
    };
    if (given !== undefined && isCluster(given)) {
      return given.duplicate(undefined, {
        ...clusterSettings,
        redisOptions: { ...given.options.redisOptions, ...nodeSettings },
      });
    }
    const cluster = options.cluster!;
    return new Cluster(cluster.nodes, {
      ...cluster.options,
      ...clusterSettings,
      redisOptions: { ...cluster.options.redisOptions, ...nodeSettings },
    });
  }
  return given !== undefined
    ? (given as Redis).duplicate(settings)
    : new Redis(options.url, settings);
}

/** The `keyPrefix` of a client the broker copies: its keys go under it too. */
export function clientKeyPrefix(options: RedisSseResolvedOptions): string {
  return options.redis?.options.keyPrefix ?? '';
}

/** The database a client uses: pub/sub channels carry it, as pub/sub ignores databases. */
export function clientDatabase(client: RedisSseClient): number {
  return isCluster(client) ? 0 : (client.options.db ?? 0);
}

/**
 * Resolves at the first outcome of a connection attempt, `true` once ready, `false` once
 * it failed or `timeoutMs` passed: start-up goes on either way, without Redis if need be.
 */
export function firstOutcome(client: RedisSseClient, timeoutMs: number): Promise<boolean> {
  if (client.status === 'ready') return Promise.resolve(true);
  return new Promise((resolve) => {
    const done = (ready: boolean): void => {
      clearTimeout(timer);
      client.off('ready', onReady);
      client.off('error', onFailure);
      client.off('end', onFailure);
      resolve(ready);
    };
    const onReady = (): void => done(true);
    const onFailure = (): void => done(false);
    const timer = setTimeout(onFailure, timeoutMs);
    timer.unref();
    client.once('ready', onReady);
    client.once('error', onFailure);
    client.once('end', onFailure);
  });
}

/**
 * Closes a connection for good, leaving nothing behind that keeps the process alive:
 * when connected, QUIT (answers to commands already sent come first) and wait for the
 * socket to close (`timeoutMs` at most); otherwise stop reconnecting at once.
 */
export async function closeRedisConnection(
  client: RedisSseClient,
  timeoutMs: number,
): Promise<void> {
  if (client.status === 'end') return;
  if (client.status === 'ready') {
    let timer: NodeJS.Timeout | undefined;
    const ended = await Promise.race([
      new Promise<boolean>((resolve) => {
        client.once('end', () => resolve(true));
        client.quit().catch(() => undefined);
      }),
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(false), timeoutMs);
      }),
    ]);
    clearTimeout(timer);
    if (ended) return;
  }
  client.disconnect();
  // ioredis ends a socket that never closes after `disconnectTimeout` (0 here): let that
  // timer run before returning.
  await new Promise((resolve) => setTimeout(resolve, 0));
}
