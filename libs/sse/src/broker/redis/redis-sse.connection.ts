import { Redis, type RedisOptions } from 'ioredis';
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

/** One of the broker's two connections: `commands`, or `events` (pub/sub). */
export function openRedisConnection(
  options: RedisSseResolvedOptions,
  role: 'commands' | 'events',
  instanceId: string,
): Redis {
  const settings: RedisOptions = {
    ...BROKER_CONNECTION,
    commandTimeout: options.commandTimeoutMs,
    connectionName: `sse:${role}:${instanceId}`,
  };
  return options.redis !== undefined
    ? options.redis.duplicate(settings)
    : new Redis(options.url, settings);
}

/** The `keyPrefix` of a client the broker copies: its keys go under it too. */
export function clientKeyPrefix(options: RedisSseResolvedOptions): string {
  return options.redis?.options.keyPrefix ?? '';
}

/** The database a client uses: pub/sub channels carry it, as pub/sub ignores databases. */
export function clientDatabase(client: Redis): number {
  return client.options.db ?? 0;
}

/**
 * Resolves at the first outcome of a connection attempt, `true` once ready, `false` once
 * it failed or `timeoutMs` passed: start-up goes on either way, without Redis if need be.
 */
export function firstOutcome(client: Redis, timeoutMs: number): Promise<boolean> {
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
export async function closeRedisConnection(client: Redis, timeoutMs: number): Promise<void> {
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
