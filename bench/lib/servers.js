/**
 * Every server of the comparison, in the order they run at each size, with what each needs
 * (Redis, nginx + nchan) and how its messages reach it: sent in its own process by the
 * harness, or over HTTP by bench/publisher.js.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { clusterUnavailable } from './redis-cluster.js';

const here = (path) => fileURLToPath(new URL(path, import.meta.url));

export const REDIS_URL = process.env.REDIS_URL || 'redis://127.0.0.1:6379';
export const NATS_URL = process.env.NATS_URL || 'nats://127.0.0.1:4222';
const HUB = here('../servers/nestjs-sse-hub.js');
const NGINX = '/usr/sbin/nginx';
const NCHAN_MODULE = '/usr/lib/nginx/modules/ngx_nchan_module.so';

/**
 * `instances`: processes of the server (two share a Redis); `redisCluster`: the masters of
 * the Redis Cluster the runner starts for the server on free ports, and ends with it; `publish: 'http'`: messages come
 * from the publisher process; `driver: true`: the process the runner starts only drives
 * another (nginx), which runs on the server's core in its place; `work`: the share of the
 * plan's messages it gets (the slowest get fewer, so that a full run keeps its time).
 */
export const SERVERS = [
  { name: 'raw-node', script: here('../servers/raw-node.js') },
  { name: 'nestjs-sse-hub', script: HUB },
  { name: 'better-sse', script: here('../servers/better-sse.js') },
  { name: 'nestjs-naive', script: here('../servers/nestjs-naive.js'), work: 0.5 },
  {
    name: 'nestjs-sse-hub:observable',
    script: HUB,
    env: { BENCH_TRANSPORT: 'observable' },
    work: 0.5,
  },
  { name: 'nestjs-sse-hub:fastify', script: HUB, env: { BENCH_PLATFORM: 'fastify' } },
  {
    name: 'nestjs-sse-hub+redis',
    script: HUB,
    env: { BENCH_REDIS_URL: REDIS_URL },
    instances: 2,
    unavailable: redisUnavailable,
  },
  {
    name: 'nestjs-sse-hub+redis-cluster',
    script: HUB,
    redisCluster: 3,
    instances: 2,
    unavailable: redisClusterUnavailable,
  },
  {
    name: 'nestjs-sse-hub+nats',
    script: HUB,
    env: { BENCH_NATS_URL: NATS_URL },
    instances: 2,
    unavailable: natsUnavailable,
  },
  {
    name: 'nestjs-sse-hub:http-publish',
    script: HUB,
    env: { BENCH_PLATFORM: 'fastify', BENCH_PUBLISH: 'http' },
    publish: 'http',
    work: 0.5,
  },
  {
    name: 'nchan',
    script: here('../servers/nchan.js'),
    publish: 'http',
    work: 0.5,
    driver: true,
    // nchan starts a new subscriber at the current second of its message ids: messages of
    // that second reach it, so connections are opened once the second of the last ones is over.
    replaysItsSecond: true,
    unavailable: nchanUnavailable,
  },
];

async function nchanUnavailable() {
  if (!existsSync(NGINX)) return `nginx is not installed (${NGINX}; Debian: apt-get install nginx)`;
  if (!existsSync(NCHAN_MODULE)) {
    return `the nchan module is not installed (${NCHAN_MODULE}; Debian: apt-get install libnginx-mod-nchan)`;
  }
  return null;
}

async function redisUnavailable() {
  if (!existsSync(here('../../libs/sse/dist/redis.js'))) {
    return 'the Redis broker (nestjs-sse-hub/redis) is not built';
  }
  const { Redis } = await import('ioredis');
  const redis = new Redis(REDIS_URL, {
    lazyConnect: true,
    connectTimeout: 1000,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  redis.on('error', () => {});
  try {
    await redis.connect();
    await redis.ping();
    return null;
  } catch (error) {
    // Host and port only: the URL may carry a password.
    const { hostname, port } = new URL(REDIS_URL);
    const reason = error instanceof Error ? error.message : String(error);
    return `no Redis answered at ${hostname}:${port || 6379} (${reason})`;
  } finally {
    redis.disconnect();
  }
}

async function redisClusterUnavailable() {
  if (!existsSync(here('../../libs/sse/dist/redis.js'))) {
    return 'the Redis broker (nestjs-sse-hub/redis) is not built';
  }
  return clusterUnavailable();
}

async function natsUnavailable() {
  if (!existsSync(here('../../libs/sse/dist/nats.js'))) {
    return 'the NATS broker (nestjs-sse-hub/nats) is not built';
  }
  const { connect } = await import('@nats-io/transport-node');
  try {
    const nc = await connect({ servers: NATS_URL, timeout: 1000, reconnect: false });
    try {
      const { jetstreamManager } = await import('@nats-io/jetstream');
      await jetstreamManager(nc, { timeout: 1000 });
    } finally {
      await nc.close();
    }
    return null;
  } catch (error) {
    const { hostname, port } = new URL(NATS_URL);
    const reason = error instanceof Error ? error.message : String(error);
    return `no NATS with JetStream answered at ${hostname}:${port || 4222} (${reason})`;
  }
}

/** The NATS prefix of a run: its Redis prefix in the characters a subject token allows. */
export function natsPrefix(prefix) {
  return prefix.replace(/[^A-Za-z0-9_-]/g, '-').replace(/-+$/, '');
}

/** Deletes the stream and buckets a run of two instances left in NATS under its prefix. */
export async function forgetNatsStreams(prefix) {
  const { connect } = await import('@nats-io/transport-node');
  const { jetstreamManager } = await import('@nats-io/jetstream');
  const nc = await connect({ servers: NATS_URL, timeout: 1000, reconnect: false });
  try {
    const jsm = await jetstreamManager(nc);
    const name = natsPrefix(prefix);
    for (const stream of [`${name}-history`, `KV_${name}-presence`, `KV_${name}-topics`]) {
      await jsm.streams.delete(stream).catch(() => false);
    }
  } finally {
    await nc.close();
  }
}

/** Deletes what a run of two instances left in Redis under its prefix. */
export async function forgetRedisKeys(prefix) {
  const { Redis } = await import('ioredis');
  const redis = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await redis.connect();
    let cursor = '0';
    let rounds = 0;
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      if (keys.length > 0) await redis.del(...keys);
      cursor = next;
    } while (cursor !== '0' && ++rounds < 10_000);
  } finally {
    redis.disconnect();
  }
}
