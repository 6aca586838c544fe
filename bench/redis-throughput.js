/**
 * Messages per second through Redis between two instances, and what each costs Redis.
 *
 * Two instances of the library (each its own process) share a Redis: the clients are
 * connected to one, the other sends. Each run sends N messages with a window of sends in
 * flight and times them until the last has reached every client; Redis's own counters
 * (INFO commandstats, stats, cpu) give the commands, bytes and CPU per message. A run of
 * one in-memory instance, same clients and same sender code, is the baseline.
 *
 *   npm run build --workspace nestjs-sse-hub && node bench/redis-throughput.js
 *   node bench/redis-throughput.js --messages=20000 --inflight=256 --bytes=100 --clients=10
 *
 * REDIS_URL picks the server (default redis://127.0.0.1:6379); every key it writes is under
 * a prefix of its own, deleted at the end.
 *
 * Throughput with 1, 2 and 4 instances, on one Redis, a Redis Cluster and NATS:
 * bench/broker-throughput.js.
 */
import 'reflect-metadata';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { RedisSseBroker } from 'nestjs-sse-hub/redis';
import { Instance, reader, redisCounters, sendCounted, serveInstance } from './lib/throughput.js';

const REDIS_URL = process.env.REDIS_URL || 'redis://127.0.0.1:6379';
const args = process.argv.slice(2);
const option = (name, fallback) =>
  Number(args.find((arg) => arg.startsWith(`--${name}=`))?.split('=')[1] ?? fallback);

// --- an instance (child process) -------------------------------------------------------

async function runInstance() {
  const { BENCH_BROKER, BENCH_PREFIX, BENCH_HISTORY } = process.env;
  const broker =
    BENCH_BROKER === 'redis'
      ? new RedisSseBroker({ url: REDIS_URL, keyPrefix: BENCH_PREFIX })
      : undefined;
  const options = {
    history: { size: Number(BENCH_HISTORY) },
    ...(broker === undefined ? {} : { broker }),
  };
  await serveInstance(options, (sse) => ({ send: (input) => sendCounted(sse, input) }));
}

// --- the runner ------------------------------------------------------------------------

function until(clients, count, timeoutMs = 120_000) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => {
      const got = clients.map((client) => client.count).join(', ');
      reject(new Error(`Timed out waiting for ${count} events per client; got ${got}`));
    }, timeoutMs);
  });
  const all = Promise.all(clients.map((client) => client.until(count)));
  return Promise.race([all, timeout]).finally(() => clearTimeout(timer));
}

let runs = 0;

function perMessage(before, after, messages) {
  const commands = {};
  for (const [name, n] of Object.entries(after.calls)) {
    const delta = n - (before.calls[name] ?? 0);
    if (delta > 0 && !['info', 'ping', 'client|list'].includes(name)) {
      commands[name] = Math.round((delta / messages) * 100) / 100;
    }
  }
  return {
    commands,
    bytesIn: Math.round((after.in - before.in) / messages),
    bytesOut: Math.round((after.out - before.out) / messages),
    redisCpuUs: Math.round(((after.cpu - before.cpu) * 1e6) / messages),
  };
}

async function measure({ name, broker, history, broadcast, messages, inflight, bytes, clients }) {
  // As short as the default `sse:`, so that the bytes per message are those of a real app.
  const prefix = `b${(process.pid % 1000).toString(36)}${(runs++).toString(36)}:`;
  const script = fileURLToPath(import.meta.url);
  const env = { BENCH_BROKER: broker, BENCH_PREFIX: prefix, BENCH_HISTORY: history };
  const receiver = new Instance(script, env);
  const sender = broker === 'redis' ? new Instance(script, env) : receiver;
  await Promise.all([receiver.ready, sender.ready]);
  const readers = await Promise.all(Array.from({ length: clients }, () => reader(receiver.port)));
  const admin = new Redis(REDIS_URL);
  // Warm-up: scripts loaded, connections and JIT warm.
  const warm = Math.min(2000, messages);
  await sender.call('send', { count: warm, inflight, bytes, broadcast });
  await until(readers, warm);
  for (const client of readers) client.count = 0;

  const before = await redisCounters(admin);
  const started = performance.now();
  const sent = await sender.call('send', { count: messages, inflight, bytes, broadcast });
  await until(readers, messages);
  const ms = performance.now() - started;
  const after = await redisCounters(admin);

  for (const client of readers) client.close();
  await Promise.all([...new Set([receiver, sender])].map((instance) => instance.call('close')));
  const keys = await admin.keys(`${prefix}*`);
  if (keys.length > 0) await admin.del(...keys);
  await admin.quit();
  return {
    name,
    messages,
    messagesPerSec: Math.round((messages / ms) * 1000),
    deliveriesPerSec: Math.round(((messages * clients) / ms) * 1000),
    sendsAnsweredPerSec: Math.round((messages / sent.ms) * 1000),
    deliveredPerMessage: sent.delivered / messages,
    storedShare: sent.stored / messages,
    ...(broker === 'redis' ? perMessage(before, after, messages) : {}),
  };
}

async function main() {
  const messages = option('messages', 20_000);
  const inflight = option('inflight', 256);
  const bytes = option('bytes', 100);
  const clients = option('clients', 1);
  const common = { messages, inflight, bytes, clients };
  const runs = [
    { name: 'in-memory, one instance, send', broker: 'memory', history: 100, broadcast: false },
    { name: 'redis, two instances, send', broker: 'redis', history: 100, broadcast: false },
    { name: 'redis, two instances, send, history off', broker: 'redis', history: 0 },
    { name: 'in-memory, one instance, broadcast', broker: 'memory', history: 100, broadcast: true },
    { name: 'redis, two instances, broadcast', broker: 'redis', history: 100, broadcast: true },
  ];
  const results = [];
  for (const run of runs) {
    const result = await measure({ broadcast: false, ...run, ...common });
    results.push(result);
    console.log(JSON.stringify(result));
  }
  console.log(
    `\n${messages} messages of ${bytes} bytes, ${inflight} sends in flight, ${clients} client(s)\n`,
  );
  console.table(
    results.map((r) => ({
      run: r.name,
      'msg/s': r.messagesPerSec,
      'deliveries/s': r.deliveriesPerSec,
      'Redis µs/msg': r.redisCpuUs ?? '',
      'bytes in/out per msg': r.bytesIn === undefined ? '' : `${r.bytesIn} / ${r.bytesOut}`,
    })),
  );
}

if (process.argv.includes('--instance')) await runInstance();
else await main();
