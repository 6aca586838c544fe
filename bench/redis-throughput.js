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
 * With REDIS_CLUSTER_NODES=host:port,... (a Redis Cluster), it measures the cluster instead,
 * with 1, 2 and 4 instances: each instance holds `--users` readers (users of their own) and
 * sends to the users of the other instances in turn (with one instance, to its own), all
 * instances at once; the counters are the sum over the masters.
 *
 *   REDIS_CLUSTER_NODES=127.0.0.1:7000,127.0.0.1:7001 node bench/redis-throughput.js
 */
import 'reflect-metadata';
import { fork } from 'node:child_process';
import { request } from 'node:http';
import { fileURLToPath } from 'node:url';
import { Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Cluster, Redis } from 'ioredis';
import { SseModule, SseService } from 'nestjs-sse-hub';
import { RedisSseBroker } from 'nestjs-sse-hub/redis';

const REDIS_URL = process.env.REDIS_URL || 'redis://127.0.0.1:6379';
const CLUSTER_NODES = (process.env.REDIS_CLUSTER_NODES || '')
  .split(',')
  .filter((node) => node !== '');
const args = process.argv.slice(2);
const option = (name, fallback) =>
  Number(args.find((arg) => arg.startsWith(`--${name}=`))?.split('=')[1] ?? fallback);

// --- an instance (child process) -------------------------------------------------------

async function runInstance() {
  const { BENCH_BROKER, BENCH_PREFIX, BENCH_HISTORY } = process.env;
  const broker =
    BENCH_BROKER === 'redis'
      ? new RedisSseBroker({ url: REDIS_URL, keyPrefix: BENCH_PREFIX })
      : BENCH_BROKER === 'redis-cluster'
        ? new RedisSseBroker({ cluster: { nodes: CLUSTER_NODES }, keyPrefix: BENCH_PREFIX })
        : undefined;
  class AppModule {}
  Module({
    imports: [
      SseModule.forRoot({
        resolveUser: (request) => request.headers['x-user'],
        heartbeat: 0,
        history: { size: Number(BENCH_HISTORY) },
        // A burst must not get the reader dropped as slow: throughput is measured here.
        maxPendingBytes: 256 * 1024 * 1024,
        ...(broker === undefined ? {} : { broker }),
      }),
    ],
  })(AppModule);
  const app = await NestFactory.create(AppModule, { logger: ['error', 'warn'] });
  await app.listen(0, '127.0.0.1');
  const sse = app.get(SseService);

  /** Sends `count` messages, `inflight` at most unanswered at a time. */
  async function send({ count, inflight, bytes, broadcast, users = ['reader'] }) {
    const data = 'x'.repeat(bytes);
    let next = 0;
    let delivered = 0;
    let stored = 0;
    const started = performance.now();
    const lane = async () => {
      while (next < count) {
        const to = users[next++ % users.length];
        const result = broadcast ? await sse.broadcast(data) : await sse.send(to, data);
        delivered += result.delivered;
        if (result.stored) stored++;
      }
    };
    await Promise.all(Array.from({ length: inflight }, lane));
    return { ms: performance.now() - started, delivered, stored };
  }

  process.on('message', async ({ id, command, input }) => {
    if (command === 'send') process.send({ id, result: await send(input) });
    if (command === 'close') {
      await app.close();
      process.send({ id, result: true });
      process.disconnect();
    }
  });
  process.send({ ready: app.getHttpServer().address().port });
}

// --- the runner ------------------------------------------------------------------------

class Instance {
  constructor(broker, prefix, history) {
    this.calls = new Map();
    this.lastId = 0;
    this.child = fork(fileURLToPath(import.meta.url), ['--instance'], {
      env: { ...process.env, BENCH_BROKER: broker, BENCH_PREFIX: prefix, BENCH_HISTORY: history },
    });
    this.ready = new Promise((resolve, reject) => {
      this.child.once('exit', (code) => reject(new Error(`instance exited (${code})`)));
      this.child.on('message', (message) => {
        if (message.ready !== undefined) resolve((this.port = message.ready));
        this.calls.get(message.id)?.(message.result);
      });
    });
  }

  call(command, input) {
    const id = ++this.lastId;
    return new Promise((resolve) => {
      this.calls.set(id, resolve);
      this.child.send({ id, command, input });
    });
  }
}

/** A raw SSE client that counts the events it receives after the first. */
function reader(port, userId = 'reader') {
  return new Promise((resolve, reject) => {
    const state = { count: 0, waiter: undefined, close: undefined };
    const req = request({ port, host: '127.0.0.1', path: '/sse', headers: { 'x-user': userId } });
    req.on('response', (response) => {
      let first = true;
      let tail = '';
      response.setEncoding('utf8');
      response.on('data', (chunk) => {
        // Events end with a blank line; a split one is completed by the next chunk.
        const text = tail + chunk;
        let at = text.indexOf('\n\n');
        let from = 0;
        while (at !== -1) {
          if (first) first = false;
          else state.count++;
          from = at + 2;
          at = text.indexOf('\n\n', from);
        }
        tail = text.slice(from);
        if (first === false && state.resolveOpen) {
          state.resolveOpen();
          state.resolveOpen = undefined;
        }
        state.waiter?.();
      });
    });
    req.on('error', reject);
    req.end();
    state.close = () => req.destroy();
    state.resolveOpen = () => resolve(state);
  });
}

function until(clients, count, timeoutMs = 120_000) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => {
      const got = clients.map((client) => client.count).join(', ');
      reject(new Error(`Timed out waiting for ${count} events per client; got ${got}`));
    }, timeoutMs);
  });
  const all = Promise.all(
    clients.map(
      (client) =>
        new Promise((resolve) => {
          const check = () => {
            if (client.count < count) return;
            client.waiter = undefined;
            resolve();
          };
          client.waiter = check;
          check();
        }),
    ),
  );
  return Promise.race([all, timeout]).finally(() => clearTimeout(timer));
}

/** Redis's counters: command calls by name, bytes in and out, CPU seconds. */
async function redisCounters(admin) {
  const text = `${await admin.info('commandstats')}\n${await admin.info('stats')}\n${await admin.info('cpu')}`;
  const calls = {};
  for (const [, name, n] of text.matchAll(/^cmdstat_([a-z|]+):calls=(\d+)/gm)) {
    calls[name] = Number(n);
  }
  const field = (name) => Number(text.match(new RegExp(`^${name}:([\\d.]+)`, 'm'))?.[1] ?? 0);
  return {
    calls,
    in: field('total_net_input_bytes'),
    out: field('total_net_output_bytes'),
    cpu: field('used_cpu_user') + field('used_cpu_sys'),
  };
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
  const receiver = new Instance(broker, prefix, history);
  const sender = broker === 'redis' ? new Instance(broker, prefix, history) : receiver;
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

/** The counters of every master of the cluster, summed. */
async function clusterCounters(admin) {
  const all = await Promise.all(admin.nodes('master').map((node) => redisCounters(node)));
  const sum = { calls: {}, in: 0, out: 0, cpu: 0 };
  for (const counters of all) {
    for (const [name, n] of Object.entries(counters.calls))
      sum.calls[name] = (sum.calls[name] ?? 0) + n;
    sum.in += counters.in;
    sum.out += counters.out;
    sum.cpu += counters.cpu;
  }
  return sum;
}

/** `count` instances on the cluster, each sending to the others' users, all at once. */
async function measureCluster({ count, users, messages, inflight, bytes }) {
  const prefix = `b${(process.pid % 1000).toString(36)}${(runs++).toString(36)}:`;
  const instances = Array.from({ length: count }, () => new Instance('redis-cluster', prefix, 100));
  await Promise.all(instances.map((instance) => instance.ready));
  const userOf = (i, k) => `i${i}u${k}`;
  const readers = [];
  for (const [i, instance] of instances.entries()) {
    for (let k = 0; k < users; k++) readers.push(await reader(instance.port, userOf(i, k)));
  }
  const targets = instances.map((_, i) => {
    const to = [];
    for (let j = 0; j < count; j++) {
      if (j === i && count > 1) continue;
      for (let k = 0; k < users; k++) to.push(userOf(j, k));
    }
    return to;
  });
  // Each reader gets `perReader`: every sender cycles over the same number of users.
  const perSender = Math.ceil(messages / count / targets[0].length) * targets[0].length;
  const perReader = (perSender * count) / (users * count);
  const admin = new Cluster(
    CLUSTER_NODES.map((node) => ({ host: node.split(':')[0], port: Number(node.split(':')[1]) })),
  );
  await new Promise((resolve) => admin.once('ready', resolve));
  const sendAll = (n) =>
    Promise.all(
      instances.map((instance, i) =>
        instance.call('send', { count: n, inflight, bytes, users: targets[i] }),
      ),
    );
  const warm = targets[0].length * 50;
  await sendAll(warm);
  await until(readers, (warm * count) / (users * count));
  for (const client of readers) client.count = 0;

  const before = await clusterCounters(admin);
  const started = performance.now();
  const sent = await sendAll(perSender);
  await until(readers, perReader);
  const ms = performance.now() - started;
  const after = await clusterCounters(admin);
  const total = perSender * count;
  const masters = admin.nodes('master').length;
  for (const client of readers) client.close();
  await Promise.all(instances.map((instance) => instance.call('close')));
  for (const node of admin.nodes('master')) {
    const keys = await node.keys(`${prefix}*`);
    for (const key of keys) await node.del(key);
  }
  admin.disconnect();
  return {
    name: `redis-cluster, ${count} instance(s), send`,
    messages: total,
    messagesPerSec: Math.round((total / ms) * 1000),
    deliveriesPerSec: Math.round((total / ms) * 1000),
    deliveredPerMessage: sent.reduce((sum, s) => sum + s.delivered, 0) / total,
    storedShare: sent.reduce((sum, s) => sum + s.stored, 0) / total,
    masters,
    ...perMessage(before, after, total),
  };
}

async function main() {
  if (CLUSTER_NODES.length > 0) {
    await mainCluster();
    return;
  }
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

async function mainCluster() {
  const common = {
    messages: option('messages', 20_000),
    inflight: option('inflight', 256),
    bytes: option('bytes', 100),
    users: option('users', 8),
  };
  const results = [];
  for (const count of [1, 2, 4]) {
    const result = await measureCluster({ count, ...common });
    results.push(result);
    console.log(JSON.stringify(result));
  }
  console.table(
    results.map((r) => ({
      run: r.name,
      'msg/s': r.messagesPerSec,
      'Redis µs/msg (all masters)': r.redisCpuUs,
      'bytes in/out per msg': `${r.bytesIn} / ${r.bytesOut}`,
    })),
  );
}

if (process.argv.includes('--instance')) await runInstance();
else await main();
