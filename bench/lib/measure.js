/**
 * One server at one number of connections: its processes, the phases that measure it, and
 * the figures of its run. Every phase reads the server's own CPU time (each process of the
 * server: two instances on Redis, nginx for nchan) at its start and at its end, so that its
 * cost per unit of work does not depend on what else runs on the machine.
 */
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { Child, placement } from './proc.js';
import { BenchRedisCluster } from './redis-cluster.js';
import { forgetNatsStreams, forgetRedisKeys } from './servers.js';
import { connectRate, round, roundTo, spread } from './stats.js';

const here = (path) => fileURLToPath(new URL(path, import.meta.url));

const CONNECT_CONCURRENCY = 100;
const WARM_CONNECTIONS = 50;
const LATENCY_WARM_UP = 2;

// BENCH_NODE_ARGS adds flags to the servers' Node, e.g. "--cpu-prof --cpu-prof-dir=prof".
const NODE_ARGS = [
  '--expose-gc',
  ...(process.env.BENCH_NODE_ARGS?.split(' ').filter(Boolean) ?? []),
];

/**
 * The processes of one server (one or two instances, or nginx's driver), its client and
 * publisher, and the Redis Cluster of its own if it has one.
 */
export async function startProcesses(server) {
  const prefix = `sse-bench:${process.pid}:${Date.now().toString(36)}:`;
  const instances = [];
  const started = [];
  let cluster;
  const stop = async () => {
    await Promise.all(started.map((child) => child.stop()));
    if (cluster !== undefined) {
      await cluster.stop();
    } else if (server.env?.BENCH_NATS_URL !== undefined) {
      await forgetNatsStreams(prefix).catch(() => {});
    } else if (server.instances > 1) {
      await forgetRedisKeys(prefix).catch(() => {});
    }
  };
  try {
    if (server.redisCluster !== undefined)
      cluster = await BenchRedisCluster.start(server.redisCluster);
    for (let i = 0; i < (server.instances ?? 1); i++) {
      const child = new Child(`${server.name}#${i}`, server.script, {
        env: {
          ...server.env,
          ...(cluster === undefined ? {} : { BENCH_REDIS_CLUSTER_NODES: cluster.seedList }),
          BENCH_REDIS_PREFIX: prefix,
          ...(server.driver && placement.pinned ? { BENCH_SERVER_CPU: placement.serverCpu } : {}),
        },
        // A driver only starts the real server on the server's core, and stays out of its way.
        cpu: server.driver ? placement.clientCpu : placement.serverCpu,
        nodeArgs: NODE_ARGS,
      });
      started.push(child);
      instances.push(child);
      const ready = await Promise.race([child.ready, child.failed]);
      child.port = ready.port;
    }
    const client = new Child('client', here('../client.js'), { cpu: placement.clientCpu });
    started.push(client);
    await Promise.race([client.ready, client.failed]);
    let publisher;
    if (server.publish === 'http') {
      publisher = new Child('publisher', here('../publisher.js'), { cpu: placement.clientCpu });
      started.push(publisher);
      await Promise.race([publisher.ready, publisher.failed]);
    }
    return { instances, client, publisher, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

/**
 * Messages a stream gets in each phase: `plan.deliveries` and `plan.sends` in all, less for
 * the slowest servers (`work`), so that each repeat lasts about as long; what a unit of work
 * costs does not depend on how many there are.
 */
export function workOf(server, n, plan) {
  const work = server.work ?? 1;
  const count = Math.max(plan.minMessages, Math.round((plan.deliveries * work) / n));
  return {
    count,
    burstCount: roundTo(count, 10),
    rounds: Math.max(plan.minRounds, Math.round((plan.sends * work) / n)),
  };
}

async function waitForConnections(server, expected, timeoutMs = 20_000) {
  const until = Date.now() + timeoutMs;
  let open;
  while ((open = await server.call('connections')) !== expected) {
    if (Date.now() > until) {
      throw new Error(`the server counts ${open} connections, the client opened ${expected}`);
    }
    await sleep(20);
  }
}

/** CPU time of every process of the server, in microseconds. */
async function serverCpu(instances) {
  const readings = await Promise.all(instances.map((instance) => instance.call('cpu')));
  return readings.reduce((sum, { user, system }) => sum + user + system, 0);
}

/**
 * The measurements of one server at `n` connections, as the runner's plan says: each
 * throughput phase and the connects `plan.repeats` times, the latency once.
 */
export async function measure(processes, server, n, plan, progress) {
  const { instances, client, publisher } = processes;
  const [receiver] = instances;
  const sender = publisher ?? instances[instances.length - 1];
  const label = `${server.name} at ${n}`;
  const timings = {};
  const timed = async (name, run) => {
    const start = Date.now();
    try {
      return await run();
    } finally {
      timings[name] = round((timings[name] ?? 0) + (Date.now() - start) / 1000, 1);
    }
  };

  /** Runs one phase: the client expects `count` messages a stream, the sender sends them. */
  async function phase(count, command, args) {
    if (publisher !== undefined)
      await publisher.call('target', { port: receiver.port, prefix: '/pub/' });
    client.discard();
    await client.call('expect', { count });
    const cpu = await serverCpu(instances);
    const done = client.next('done', 600_000);
    const sent = await Promise.race([
      sender.call(command, args, 300_000),
      sender.failed,
      client.failed,
    ]);
    // Once everything is sent, the client has a while to receive it; past that, what has not
    // come is lost.
    const grace = Math.max(15_000, (3 * (sent.t1 - sent.t0)) / 1000);
    let timer;
    const lost = new Promise((_, reject) => {
      timer = setTimeout(async () => {
        const { streams, first } = await client.call('missing').catch(() => ({ streams: '?' }));
        reject(new Error(`${streams} stream(s) never got every message: ${first?.join('; ')}`));
      }, grace);
    });
    const { at, errors } = await Promise.race([done, lost, sender.failed, client.failed]).finally(
      () => clearTimeout(timer),
    );
    if (errors > 0 || client.failure !== undefined) {
      throw new Error(client.failure ?? `${errors} stream(s) got a message twice or out of order`);
    }
    const cpuUs = (await serverCpu(instances)) - cpu;
    return { elapsedUs: at - sent.t0, cpuUs };
  }

  /** Opens `n` streams; the server's CPU from the first request until it counts them all. */
  async function connect(count, concurrency) {
    const cpu = await serverCpu(instances);
    const opening = await client.call(
      'open',
      { port: receiver.port, n: count, concurrency },
      300_000,
    );
    await waitForConnections(receiver, count);
    const cpuUs = (await serverCpu(instances)) - cpu;
    return { rate: connectRate(opening), cpuUs };
  }

  async function close() {
    const { frames } = await client.call('close');
    await waitForConnections(receiver, 0);
    return frames;
  }

  // Warm up: the first requests compile routes and code paths; they are not per-connection
  // costs, so they happen before the baseline.
  progress(`${label}: warming up`);
  await timed('warmUp', async () => {
    await connect(WARM_CONNECTIONS, 10);
    await phase(20, 'broadcast', { count: 20, burst: 1 });
    await phase(2, 'unicast', { rounds: 2, users: WARM_CONNECTIONS });
    await close();
  });

  const wants = (name) => plan.phases.includes(name);
  const connects = [];
  const heaps = [];
  let rss = null;
  let memory;
  /** Opens the `n` streams, with the memory read (after a forced GC) before and after. */
  const open = async (text) => {
    progress(`${label}: ${text}`);
    if (server.replaysItsSecond) await sleep(1050 - (Date.now() % 1000));
    const before = await receiver.call('memory');
    connects.push(await connect(n, CONNECT_CONCURRENCY));
    await sleep(100);
    const after = await receiver.call('memory');
    const per = (key) =>
      after[key] === null || before[key] === null ? null : (after[key] - before[key]) / n;
    heaps.push(per('heapUsed'));
    // Resident memory only from a fresh process: once pages are touched they stay.
    if (rss === null) {
      rss = per('rss');
      memory = { before, after };
    }
  };
  await timed('connect', () => open(`opening ${n} connections`));

  const { count, burstCount, rounds } = workOf(server, n, plan);
  const repeat = async (name, times, text, run) => {
    const runs = [];
    if (!wants(name)) return runs;
    await timed(name, async () => {
      for (let i = 0; i < times; i++) {
        progress(`${label}: ${text}${times > 1 ? ` (run ${i + 1} of ${times})` : ''}`);
        runs.push(await run());
      }
    });
    return runs;
  };
  await phase(2, 'broadcast', { count: 2, burst: 1 });
  const single = await repeat('broadcast', plan.repeats, 'broadcast, one a turn', () =>
    phase(count, 'broadcast', { count, burst: 1 }),
  );
  const burst = await repeat('burst', plan.repeats, 'broadcast, bursts of ten', () =>
    phase(burstCount, 'broadcast', { count: burstCount, burst: 10 }),
  );
  // One topic with every connection in it, as members: the broadcast's work through a topic.
  let topic = [];
  // Publishing over HTTP has no topic route (nchan's publisher neither): no topic row there.
  if (wants('topic') && server.publish !== 'http') {
    const joined = await receiver.call('membership', { users: n, join: true }, 300_000);
    if (joined.supported) {
      topic = await repeat('topic', plan.repeats, 'one topic with every connection', () =>
        phase(count, 'topic', { count, burst: 1 }),
      );
      // Left again, so that the connects measured afterwards do not carry memberships.
      await receiver.call('membership', { users: n, join: false }, 300_000);
    } else if (server.script.endsWith('nestjs-sse-hub.js')) {
      progress(`${label}: no topic row (${joined.reason})`);
    }
  }
  const unicast = await repeat('unicast', plan.repeats, 'unicast', () =>
    phase(rounds, 'unicast', { rounds, users: n }),
  );

  // Fan-out latency: one broadcast at a time, the next once every stream has the last.
  // The first few only warm up and are not counted.
  let latency = { p50: null, p99: null, max: null };
  if (wants('latency')) {
    progress(`${label}: fan-out latency`);
    latency = await timed('latency', async () => {
      if (publisher !== undefined)
        await publisher.call('target', { port: receiver.port, prefix: '/pub/' });
      const warm = LATENCY_WARM_UP;
      client.discard();
      await client.call('expect', {
        count: warm + plan.latencyMessages,
        latency: true,
        skip: warm,
      });
      for (let i = 0; i < warm + plan.latencyMessages; i++) {
        const reached = client.next('progress', 60_000);
        await sender.call('one', { n: i });
        await Promise.race([reached, sender.failed, client.failed]);
        await sleep(5);
      }
      const result = await client.call('latency');
      if (client.failure !== undefined) throw new Error(client.failure);
      return result;
    });
  }
  let frames = await close();

  // The connects again, each from no connection at all: the heap, unlike the resident
  // memory, comes back once they are closed.
  if (wants('connect')) {
    await timed('connect', async () => {
      for (let i = 1; i < plan.connectRepeats; i++) {
        await open(`opening ${n} connections (run ${i + 1} of ${plan.connectRepeats})`);
        frames += await close();
      }
    });
  }

  const rates = (units, runs) => spread(runs.map((run) => (units * 1e6) / run.elapsedUs));
  const cpus = (units, runs) =>
    spread(
      runs.map((run) => run.cpuUs / units),
      3,
    );
  const figures = {
    broadcastDeliveriesPerSec: rates(count * n, single),
    burstDeliveriesPerSec: rates(burstCount * n, burst),
    unicastSendsPerSec: rates(rounds * n, unicast),
    topicDeliveriesPerSec: rates(count * n, topic),
    connectionsPerSec: spread(connects.map((c) => c.rate)),
    cpuPerDeliveryUs: cpus(count * n, single),
    cpuPerBurstDeliveryUs: cpus(burstCount * n, burst),
    cpuPerUnicastSendUs: cpus(rounds * n, unicast),
    cpuPerTopicDeliveryUs: cpus(count * n, topic),
    cpuPerConnectUs: spread(
      connects.map((c) => c.cpuUs / n),
      2,
    ),
    heapPerConnectionBytes: spread(heaps),
  };
  const medians = Object.fromEntries(Object.entries(figures).map(([k, v]) => [k, v.median]));
  const rssPerConnection = round(rss);
  return {
    server: server.name,
    connections: n,
    memoryPerConnectionBytes: rssPerConnection,
    rssPerConnectionBytes: rssPerConnection,
    ...medians,
    latencyMs: {
      p50: round(latency.p50, 3),
      p99: round(latency.p99, 3),
      max: round(latency.max, 3),
    },
    spread: figures,
    publish: server.publish === 'http' ? 'http' : 'in-process',
    memory,
    messages: {
      broadcast: count,
      burst: burstCount,
      unicastRounds: rounds,
      work: server.work ?? 1,
      latency: plan.latencyMessages,
      repeats: plan.repeats,
      connectRepeats: plan.connectRepeats,
    },
    phaseSec: timings,
    framesReceived: frames,
  };
}
