/**
 * Messages per second delivered end to end through each broker with 1, 2 and 4 instances,
 * and what each message costs the broker's servers and the instances in CPU time.
 *
 * Brokers, each of the benchmark's own on free ports: `redis` (one redis-server), `redis-cluster`
 * (three masters without replicas) and `nats` (a nats-server with JetStream, file storage as
 * the library's default). For each broker and number of instances (each its own process),
 * every instance holds `--users` readers of its own (raw SSE clients in this process) and
 * sends to the users of the other instances in turn (with one instance, to its own), all
 * instances at once, `--inflight` sends in flight each, for `--seconds`; a message counts once
 * its reader has it. Each configuration is measured `--repeats` times after a warm-up.
 *
 * Figures per message delivered: the broker's CPU (Redis: `INFO cpu` used_cpu_user +
 * used_cpu_sys on every node, summed; NATS: /proc/<pid>/stat of the nats-server, where there is
 * /proc) and the instances' CPU (`process.cpuUsage()` of each, summed: sending, and writing to
 * the readers' sockets).
 *
 *   npm run build --workspace nestjs-sse-hub && node bench/broker-throughput.js
 *   node bench/broker-throughput.js --brokers=redis-cluster --instances=1,2,4 --repeats=5
 *     --seconds=3 --users=8 --inflight=64 --bytes=100 [--pin]
 *
 * `--pin` puts every broker process, every instance and this process (the readers) on a core
 * of its own (`taskset`), and refuses to run on a machine with too few cores for it.
 */
import 'reflect-metadata';
import { spawnSync } from 'node:child_process';
import { availableParallelism, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { BenchRedisCluster, clusterUnavailable, missingTool } from './lib/redis-cluster.js';
import { spread } from './lib/stats.js';
import {
  Instance,
  reader,
  redisCounters,
  serveInstance,
  startNats,
  startRedis,
} from './lib/throughput.js';

const args = process.argv.slice(2);
const text = (name, fallback) =>
  args.find((arg) => arg.startsWith(`--${name}=`))?.split('=')[1] ?? fallback;
const option = (name, fallback) => Number(text(name, fallback));

// --- an instance (child process) -------------------------------------------------------

async function runInstance() {
  const { BENCH_BROKER, BENCH_ADDRESS, BENCH_PREFIX } = process.env;
  let broker;
  if (BENCH_BROKER === 'nats') {
    const { NatsSseBroker } = await import('nestjs-sse-hub/nats');
    broker = new NatsSseBroker({ servers: BENCH_ADDRESS, prefix: BENCH_PREFIX });
  } else {
    const { RedisSseBroker } = await import('nestjs-sse-hub/redis');
    const where =
      BENCH_BROKER === 'redis'
        ? { url: BENCH_ADDRESS }
        : { cluster: { nodes: BENCH_ADDRESS.split(',') } };
    broker = new RedisSseBroker({ ...where, keyPrefix: `${BENCH_PREFIX}:` });
  }
  await serveInstance({ broker }, (sse) => ({ send: (input) => send(sse, input) }));
}

/** Sends to `users` in turn for `ms`, `inflight` sends at most unanswered at a time. */
async function send(sse, { ms, inflight, bytes, users }) {
  const data = 'x'.repeat(bytes);
  const end = performance.now() + ms;
  let next = 0;
  let sent = 0;
  let failed = 0;
  let firstError;
  const lane = async () => {
    while (performance.now() < end) {
      const to = users[next++ % users.length];
      try {
        await sse.send(to, data);
        sent++;
      } catch (error) {
        failed++;
        firstError ??= String(error?.message ?? error);
      }
    }
  };
  await Promise.all(Array.from({ length: inflight }, lane));
  return { sent, failed, firstError };
}

// --- the brokers -----------------------------------------------------------------------

/** CPU seconds of each node of a Redis (one server or a cluster's masters). */
async function redisCpu(ports) {
  const { Redis } = await import('ioredis');
  const seconds = [];
  for (const port of ports) {
    const admin = new Redis({ host: '127.0.0.1', port, lazyConnect: true });
    try {
      await admin.connect();
      seconds.push((await redisCounters(admin)).cpu);
    } finally {
      admin.disconnect();
    }
  }
  return seconds;
}

const BROKERS = {
  redis: {
    label: 'Redis, one server',
    unavailable: () =>
      missingTool(['redis-server']) &&
      'redis-server was not found on PATH (Debian: apt-get install redis-server)',
    async start() {
      const redis = await startRedis();
      return {
        address: redis.url,
        pids: [redis.pid],
        cpu: () => redisCpu([redis.port]),
        stop: redis.stop,
      };
    },
  },
  'redis-cluster': {
    label: 'Redis Cluster, three masters',
    unavailable: () => clusterUnavailable(),
    async start() {
      const cluster = await BenchRedisCluster.start(3);
      return {
        address: cluster.seedList,
        pids: cluster.pids,
        cpu: () => redisCpu(cluster.ports),
        stop: () => cluster.stop(),
      };
    },
  },
  nats: {
    label: 'NATS, one server (JetStream, file storage)',
    unavailable: () =>
      missingTool(['nats-server']) &&
      'nats-server was not found on PATH (https://nats.io/download)',
    async start() {
      const nats = await startNats();
      return {
        address: nats.url,
        pids: [nats.pid],
        // Where /proc cannot be read, the server's CPU is not measured (null).
        cpu: async () => {
          const { cpu } = await nats.counters();
          return cpu === null ? null : [cpu];
        },
        stop: () => nats.stop(),
      };
    },
  },
};

// --- the runner ------------------------------------------------------------------------

/**
 * Resolves once the readers have `total` events between them, or `timeoutMs` after the last
 * one came: with the number they got and when the last came.
 */
function delivered(readers, total, timeoutMs = 10_000) {
  const sum = () => readers.reduce((n, client) => n + client.count, 0);
  return new Promise((resolve) => {
    let lastAt = performance.now();
    let timer;
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      for (const client of readers) client.waiters.splice(client.waiters.indexOf(check), 1);
      resolve({ got: sum(), lastAt });
    };
    const idle = () => {
      clearTimeout(timer);
      timer = setTimeout(finish, timeoutMs);
    };
    function check() {
      lastAt = performance.now();
      idle();
      if (sum() >= total) finish();
    }
    for (const client of readers) client.waiters.push(check);
    idle();
    if (sum() >= total) finish();
  });
}

/** Puts each process on a core of its own (every thread of it), in order from core 0. */
function pin(pids) {
  for (const [core, pid] of pids.entries()) {
    const done = spawnSync('taskset', ['-a', '-pc', String(core), String(pid)], {
      encoding: 'utf8',
    });
    if (done.status !== 0) throw new Error(`taskset could not pin ${pid}: ${done.stderr}`);
  }
}

let configurations = 0;

/** One broker with `count` instances: `repeats` measurements after a warm-up. */
async function measure(broker, server, count, plan) {
  const prefix = `bt${(process.pid % 1000).toString(36)}${(configurations++).toString(36)}`;
  const script = fileURLToPath(import.meta.url);
  const instances = Array.from(
    { length: count },
    () =>
      new Instance(script, {
        BENCH_BROKER: broker,
        BENCH_ADDRESS: server.address,
        BENCH_PREFIX: prefix,
      }),
  );
  try {
    await Promise.all(instances.map((instance) => instance.ready));
    if (plan.pin) pin([...server.pids, ...instances.map((i) => i.child.pid), process.pid]);
    const userOf = (i, k) => `i${i}u${k}`;
    const readers = [];
    for (const [i, instance] of instances.entries()) {
      for (let k = 0; k < plan.users; k++) readers.push(await reader(instance.port, userOf(i, k)));
    }
    const targets = instances.map((_, i) => {
      const to = [];
      for (let j = 0; j < count; j++) {
        if (j === i && count > 1) continue;
        for (let k = 0; k < plan.users; k++) to.push(userOf(j, k));
      }
      return to;
    });
    const instancesCpu = async () =>
      (await Promise.all(instances.map((instance) => instance.call('cpu')))).reduce(
        (sum, us) => sum + us,
        0,
      );
    const run = async (ms) => {
      for (const client of readers) client.count = 0;
      const [brokerBefore, cpuBefore] = [await server.cpu(), await instancesCpu()];
      const started = performance.now();
      const sent = await Promise.all(
        instances.map((instance, i) =>
          instance.call('send', {
            ms,
            inflight: plan.inflight,
            bytes: plan.bytes,
            users: targets[i],
          }),
        ),
      );
      const total = sent.reduce((sum, s) => sum + s.sent, 0);
      const { got, lastAt } = await delivered(readers, total);
      const [brokerAfter, cpuAfter] = [await server.cpu(), await instancesCpu()];
      const nodesCpuUs =
        brokerBefore === null || brokerAfter === null
          ? null
          : brokerAfter.map((after, node) => ((after - brokerBefore[node]) * 1e6) / got);
      return {
        messagesPerSec: (got / (lastAt - started)) * 1000,
        brokerCpuUs: nodesCpuUs?.reduce((sum, us) => sum + us, 0) ?? null,
        nodesCpuUs,
        instancesCpuUs: (cpuAfter - cpuBefore) / got,
        lost: total - got,
        failed: sent.reduce((sum, s) => sum + s.failed, 0),
        firstError: sent.find((s) => s.firstError !== undefined)?.firstError,
      };
    };
    // Time for every instance to see the others' readers (NATS presence), then a warm-up:
    // scripts loaded, connections to every node open, JIT warm (one second was not enough
    // for four instances: their first repeat came out at a third of the others).
    await new Promise((resolve) => setTimeout(resolve, 500));
    await run(2000);
    const repeats = [];
    for (let r = 0; r < plan.repeats; r++) repeats.push(await run(plan.seconds * 1000));
    for (const client of readers) client.close();
    const of = (key, digits = 0) =>
      spread(
        repeats.map((repeat) => repeat[key]),
        digits,
      );
    return {
      broker,
      instances: count,
      messagesPerSec: of('messagesPerSec'),
      brokerCpuUs: of('brokerCpuUs', 1),
      // Each node's median, where the broker has several (a cluster's masters).
      nodesCpuUs:
        repeats[0].nodesCpuUs === null
          ? null
          : repeats[0].nodesCpuUs.map(
              (_, node) =>
                spread(
                  repeats.map((repeat) => repeat.nodesCpuUs[node]),
                  1,
                ).median,
            ),
      instancesCpuUs: of('instancesCpuUs', 1),
      lost: repeats.reduce((sum, repeat) => sum + repeat.lost, 0),
      failed: repeats.reduce((sum, repeat) => sum + repeat.failed, 0),
      firstError: repeats.find((repeat) => repeat.firstError !== undefined)?.firstError,
    };
  } finally {
    await Promise.all(
      instances.map((instance) =>
        instance.child.exitCode === null ? instance.call('close') : undefined,
      ),
    );
  }
}

const number = (n) => n.toLocaleString('en-US');
const figure = ({ median, min, max }) =>
  median === null ? 'not measured' : `${number(median)} (${number(min)}–${number(max)})`;

async function main() {
  const plan = {
    brokers: text('brokers', 'redis,redis-cluster,nats').split(','),
    instances: text('instances', '1,2,4').split(',').map(Number),
    repeats: option('repeats', 3),
    seconds: option('seconds', 3),
    users: option('users', 8),
    inflight: option('inflight', 64),
    bytes: option('bytes', 100),
    pin: args.includes('--pin'),
  };
  const refuse = (reason) => {
    console.error(reason);
    process.exitCode = 1;
  };
  const unknown = plan.brokers.find((broker) => BROKERS[broker] === undefined);
  if (unknown !== undefined) {
    return refuse(`unknown broker ${unknown}: --brokers takes ${Object.keys(BROKERS).join(', ')}`);
  }
  if (plan.pin) {
    const brokerProcesses = plan.brokers.includes('redis-cluster') ? 3 : 1;
    const needed = brokerProcesses + Math.max(...plan.instances) + 1;
    if (availableParallelism() < needed) {
      return refuse(
        `--pin puts every process on a core of its own: it needs ${needed} cores, this machine has ${availableParallelism()}`,
      );
    }
  }
  console.log(
    `${plan.repeats} repeats of ${plan.seconds} s per configuration, ${plan.users} readers per ` +
      `instance, ${plan.inflight} sends in flight per instance, ${plan.bytes} bytes per message; ` +
      `${availableParallelism()} cores, load average ${loadavg()[0].toFixed(1)}, Node ${process.version}` +
      (plan.pin ? ', each process pinned to a core of its own' : ', nothing pinned'),
  );
  const results = [];
  for (const broker of plan.brokers) {
    const reason = BROKERS[broker].unavailable();
    if (reason) {
      console.log(`skipping ${broker}: ${reason}`);
      continue;
    }
    const server = await BROKERS[broker].start();
    try {
      for (const count of plan.instances) {
        const result = await measure(broker, server, count, plan);
        results.push(result);
        console.log(JSON.stringify(result));
      }
    } finally {
      await server.stop();
    }
  }
  console.log(
    "\n| broker | instances | messages/s delivered | broker CPU per message | instances' CPU per message | lost |",
  );
  console.log('| --- | --- | --- | --- | --- | --- |');
  for (const r of results) {
    const cpu = (spread) => (spread.median === null ? 'not measured' : `${figure(spread)} µs`);
    const nodes = r.nodesCpuUs?.length > 1 ? ` (per node ${r.nodesCpuUs.join(' + ')})` : '';
    console.log(
      `| ${BROKERS[r.broker].label} | ${r.instances} | ${figure(r.messagesPerSec)} | ` +
        `${cpu(r.brokerCpuUs)}${nodes} | ${cpu(r.instancesCpuUs)} | ${r.lost + r.failed} |`,
    );
  }
  console.log(
    `\nmedian of the repeats, lowest–highest in brackets; load average now ${loadavg()[0].toFixed(1)}`,
  );
}

if (process.argv.includes('--instance')) await runInstance();
else await main();
