/**
 * The benchmark: every server of the comparison, measured by the same load client, each in
 * its own process, at each number of connections. Writes bench/results/latest.json,
 * docs/benchmarks.md and docs/benchmarks.svg.
 *
 *   npm run bench                  1k, 5k and 10k connections
 *   npm run bench -- --quick       1k and 2k, within a minute (about 45 s here)
 *   node bench/run.js --servers=raw-node,nestjs-sse-hub --sizes=1000,5000
 *
 * BENCH_NODE_ARGS passes flags to the servers' Node (to profile one: "--cpu-prof").
 */
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { Child, placement } from './lib/proc.js';
import { machine, writeReport } from './lib/report.js';

const here = (path) => fileURLToPath(new URL(path, import.meta.url));
const args = process.argv.slice(2);
const option = (name) => args.find((arg) => arg.startsWith(`--${name}=`))?.split('=')[1];
const quick = args.includes('--quick');

const REDIS_URL = process.env.REDIS_URL || 'redis://127.0.0.1:6379';
const HUB = here('./servers/nestjs-sse-hub.js');

/** Every server of the comparison, in the order they run at each size. */
const SERVERS = [
  { name: 'raw-node', script: here('./servers/raw-node.js') },
  { name: 'nestjs-sse-hub', script: HUB },
  { name: 'better-sse', script: here('./servers/better-sse.js') },
  { name: 'nestjs-naive', script: here('./servers/nestjs-naive.js') },
  { name: 'nestjs-sse-hub:observable', script: HUB, env: { BENCH_TRANSPORT: 'observable' } },
  { name: 'nestjs-sse-hub:fastify', script: HUB, env: { BENCH_PLATFORM: 'fastify' } },
  {
    name: 'nestjs-sse-hub+redis',
    script: HUB,
    env: { BENCH_REDIS_URL: REDIS_URL },
    instances: 2,
    unavailable: redisUnavailable,
  },
];

/** How much each measurement does: enough to last about a second at full size. */
const PLAN = quick
  ? {
      sizes: [1000, 2000],
      deliveries: 8_000,
      sends: 4_000,
      latencyMessages: 4,
      minMessages: 8,
      repeats: 1,
    }
  : {
      sizes: [1000, 5000, 10_000],
      deliveries: 200_000,
      sends: 100_000,
      latencyMessages: 30,
      minMessages: 20,
      repeats: 3,
    };
const sizes = option('sizes')?.split(',').map(Number) ?? PLAN.sizes;
const only = option('servers')?.split(',');
const servers = only ? SERVERS.filter((server) => only.includes(server.name)) : SERVERS;
const CONNECT_CONCURRENCY = 100;
const WARM_CONNECTIONS = 50;
const LATENCY_WARM_UP = 2;

// --- progress -----------------------------------------------------------------------

const startedAt = Date.now();
let step = 0;
let steps = 0;
const tty = process.stderr.isTTY;

function progress(text) {
  const seconds = Math.round((Date.now() - startedAt) / 1000);
  const clock = `${Math.floor(seconds / 60)}:${String(seconds % 60).padStart(2, '0')}`;
  const line = `[${String(step).padStart(2)}/${steps} ${clock}] ${text}`;
  if (tty) process.stderr.write(`\r\x1b[K${line.slice(0, process.stderr.columns - 1)}`);
  else process.stderr.write(`${line}\n`);
}

function log(text) {
  if (tty) process.stderr.write('\r\x1b[K');
  process.stderr.write(`${text}\n`);
}

// --- Redis ----------------------------------------------------------------------------

async function redisUnavailable() {
  if (!existsSync(here('../libs/sse/dist/redis.js'))) {
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

async function forgetRedisKeys(prefix) {
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

// --- one server at one size -----------------------------------------------------------

// BENCH_NODE_ARGS adds flags to the servers' Node, e.g. "--cpu-prof --cpu-prof-dir=prof".
const NODE_ARGS = [
  '--expose-gc',
  ...(process.env.BENCH_NODE_ARGS?.split(' ').filter(Boolean) ?? []),
];

async function startServers(server) {
  const prefix = `sse-bench:${process.pid}:${Date.now().toString(36)}:`;
  const instances = [];
  for (let i = 0; i < (server.instances ?? 1); i++) {
    const child = new Child(`${server.name}#${i}`, server.script, {
      env: { ...server.env, BENCH_REDIS_PREFIX: prefix },
      cpu: placement.serverCpu,
      nodeArgs: NODE_ARGS,
    });
    instances.push(child);
    const ready = await Promise.race([child.ready, child.failed]);
    child.port = ready.port;
  }
  return { instances, prefix };
}

async function waitForConnections(server, expected, timeoutMs = 10_000) {
  const until = Date.now() + timeoutMs;
  let open;
  while ((open = await server.call('connections')) !== expected) {
    if (Date.now() > until) {
      throw new Error(`the server counts ${open} connections, the client opened ${expected}`);
    }
    await sleep(20);
  }
}

/** Runs one phase: the client expects `count` messages a stream, the sender sends them. */
async function phase(client, sender, count, send) {
  client.discard();
  await client.call('expect', { count });
  const cpu = await sender.call('cpu');
  const done = client.next('done', 600_000);
  const sent = await Promise.race([send(), sender.failed, client.failed]);
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
  const used = await sender.call('cpu');
  const cpuUs = used.user + used.system - cpu.user - cpu.system;
  return { ...sent, at, elapsedUs: at - sent.t0, cpuUs };
}

function roundTo(value, multiple) {
  return Math.max(multiple, Math.round(value / multiple) * multiple);
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

/**
 * Connections opened per second: the median rate over ten consecutive tenths of the
 * connections, so that the ramp-up and a stall of the machine do not decide the figure.
 */
function connectRate({ t0, opened }) {
  const windows = 10;
  const size = Math.max(1, Math.floor(opened.length / windows));
  const rates = [];
  let from = t0;
  for (let end = size - 1; end < opened.length; end += size) {
    rates.push((size * 1e6) / Math.max(1, opened[end] - from));
    from = opened[end];
  }
  return Math.round(median(rates));
}

/** Repeats a throughput phase; the figure is the median of the runs. */
async function repeated(times, label, run) {
  const runs = [];
  for (let i = 0; i < times; i++) {
    progress(`${label}${times > 1 ? ` (run ${i + 1} of ${times})` : ''}`);
    runs.push(await run());
  }
  return runs;
}

/** The processes of one server (one or two instances) and its client. */
async function startProcesses(server) {
  const { instances, prefix } = await startServers(server);
  const client = new Child('client', here('./client.js'), { cpu: placement.clientCpu });
  const stop = async () => {
    await Promise.all([client.stop(), ...instances.map((instance) => instance.stop())]);
    if (server.instances > 1) await forgetRedisKeys(prefix).catch(() => {});
  };
  try {
    await Promise.race([client.ready, client.failed]);
  } catch (error) {
    await stop();
    throw error;
  }
  return { instances, client, stop };
}

async function measure({ instances, client }, server, n) {
  const [receiver] = instances;
  const sender = instances[instances.length - 1];
  const label = `${server.name} at ${n}`;

  // Warm up: the first requests compile routes and code paths; they are not per-connection
  // costs, so they happen before the baseline.
  progress(`${label}: warming up`);
  await client.call('open', { port: receiver.port, n: WARM_CONNECTIONS, concurrency: 10 });
  await waitForConnections(receiver, WARM_CONNECTIONS);
  await phase(client, sender, 20, () => sender.call('broadcast', { count: 20, burst: 1 }));
  await phase(client, sender, 2, () =>
    sender.call('unicast', { rounds: 2, users: WARM_CONNECTIONS }),
  );
  await client.call('close');
  await waitForConnections(receiver, 0);

  progress(`${label}: memory at 0`);
  const before = await receiver.call('memory');
  progress(`${label}: opening ${n} connections`);
  const opening = await client.call(
    'open',
    { port: receiver.port, n, concurrency: CONNECT_CONCURRENCY },
    300_000,
  );
  await waitForConnections(receiver, n);
  await sleep(100);
  progress(`${label}: memory at ${n}`);
  const after = await receiver.call('memory');

  const count = Math.max(PLAN.minMessages, Math.round(PLAN.deliveries / n));
  const burstCount = roundTo(count, 10);
  const rounds = Math.max(5, Math.round(PLAN.sends / n));
  await phase(client, sender, 2, () => sender.call('broadcast', { count: 2, burst: 1 }));
  const single = await repeated(PLAN.repeats, `${label}: broadcast, one a turn`, () =>
    phase(client, sender, count, () => sender.call('broadcast', { count, burst: 1 }, 300_000)),
  );
  const burst = await repeated(PLAN.repeats, `${label}: broadcast, bursts of ten`, () =>
    phase(client, sender, burstCount, () =>
      sender.call('broadcast', { count: burstCount, burst: 10 }, 300_000),
    ),
  );
  const unicast = await repeated(PLAN.repeats, `${label}: unicast`, () =>
    phase(client, sender, rounds, () => sender.call('unicast', { rounds, users: n }, 300_000)),
  );

  // Fan-out latency: one broadcast at a time, the next once every stream has the last.
  // The first few only warm up and are not counted.
  progress(`${label}: fan-out latency`);
  const warm = LATENCY_WARM_UP;
  client.discard();
  await client.call('expect', { count: warm + PLAN.latencyMessages, latency: true, skip: warm });
  for (let i = 0; i < warm + PLAN.latencyMessages; i++) {
    const reached = client.next('progress', 60_000);
    await sender.call('one', { n: i });
    await Promise.race([reached, sender.failed, client.failed]);
    await sleep(5);
  }
  const latency = await client.call('latency');
  if (client.failure !== undefined) throw new Error(client.failure);
  const { frames } = await client.call('close');

  const perConnection = (key) => Math.round((after[key] - before[key]) / n);
  const rate = (deliveries, runs) =>
    Math.round(median(runs.map((run) => (deliveries * 1e6) / run.elapsedUs)));
  const cpuPer = (deliveries, runs) =>
    Number(median(runs.map((run) => run.cpuUs / deliveries)).toFixed(3));
  return {
    server: server.name,
    connections: n,
    memoryPerConnectionBytes: perConnection('rss'),
    heapPerConnectionBytes: perConnection('heapUsed'),
    broadcastDeliveriesPerSec: rate(count * n, single),
    burstDeliveriesPerSec: rate(burstCount * n, burst),
    unicastSendsPerSec: rate(rounds * n, unicast),
    latencyMs: {
      p50: Number(latency.p50.toFixed(3)),
      p99: Number(latency.p99.toFixed(3)),
      max: Number(latency.max.toFixed(3)),
    },
    connectionsPerSec: connectRate(opening),
    serverCpuUsPerDelivery: {
      broadcast: cpuPer(count * n, single),
      burst: cpuPer(burstCount * n, burst),
      unicast: cpuPer(rounds * n, unicast),
    },
    memory: { before, after },
    messages: {
      broadcast: count,
      burst: burstCount,
      unicastRounds: rounds,
      latency: PLAN.latencyMessages,
      repeats: PLAN.repeats,
    },
    framesReceived: frames,
  };
}

// --- the run --------------------------------------------------------------------------

const RATIO_SERVER = 'nestjs-sse-hub';
const FLOOR = 'raw-node';

function ratio(a, b, digits = 3) {
  return a && b ? Number((a / b).toFixed(digits)) : null;
}

function ratiosOf(run, floor) {
  return {
    broadcastDeliveriesPerSec: ratio(
      run.broadcastDeliveriesPerSec,
      floor.broadcastDeliveriesPerSec,
    ),
    burstDeliveriesPerSec: ratio(run.burstDeliveriesPerSec, floor.burstDeliveriesPerSec),
    unicastSendsPerSec: ratio(run.unicastSendsPerSec, floor.unicastSendsPerSec),
    memoryPerConnection: ratio(run.memoryPerConnectionBytes, floor.memoryPerConnectionBytes),
    heapPerConnection: ratio(run.heapPerConnectionBytes, floor.heapPerConnectionBytes),
    latencyP50: ratio(run.latencyMs.p50, floor.latencyMs.p50),
    latencyP99: ratio(run.latencyMs.p99, floor.latencyMs.p99),
    connectionsPerSec: ratio(run.connectionsPerSec, floor.connectionsPerSec),
  };
}

async function main() {
  const skipped = [];
  const planned = [];
  for (const server of servers) {
    const reason = server.unavailable ? await server.unavailable() : null;
    if (reason) skipped.push({ server: server.name, reason });
    else planned.push(server);
  }
  for (const { server, reason } of skipped) log(`skipping ${server}: ${reason}`);
  steps = planned.length * sizes.length;

  const runs = [];
  const failures = [];
  // Fresh processes for each server at each size (memory is measured from a clean start),
  // every server at one size before the next size.
  for (const n of sizes) {
    for (const server of planned) {
      step++;
      let processes;
      try {
        processes = await startProcesses(server);
        const run = await measure(processes, server, n);
        runs.push(run);
        log(
          `${server.name.padEnd(26)} ${String(n).padStart(6)}  ` +
            `broadcast ${run.broadcastDeliveriesPerSec}/s  bursts ${run.burstDeliveriesPerSec}/s  ` +
            `unicast ${run.unicastSendsPerSec}/s  p99 ${run.latencyMs.p99} ms  ` +
            `rss ${run.memoryPerConnectionBytes} B  heap ${run.heapPerConnectionBytes} B`,
        );
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        failures.push({ server: server.name, connections: n, error: message });
        log(`${server.name} at ${n} FAILED: ${message}`);
      } finally {
        await processes?.stop();
      }
    }
  }

  for (const run of runs) {
    const floor = runs.find((r) => r.server === FLOOR && r.connections === run.connections);
    if (floor !== undefined) run.vsRawNode = ratiosOf(run, floor);
  }
  const largest = Math.max(...sizes);
  const headline = runs.find((r) => r.server === RATIO_SERVER && r.connections === largest);
  const ratios = headline?.vsRawNode
    ? {
        broadcastDeliveriesPerSec: headline.vsRawNode.broadcastDeliveriesPerSec,
        unicastSendsPerSec: headline.vsRawNode.unicastSendsPerSec,
        memoryPerConnection: headline.vsRawNode.memoryPerConnection,
        burstDeliveriesPerSec: headline.vsRawNode.burstDeliveriesPerSec,
        heapPerConnection: headline.vsRawNode.heapPerConnection,
        latencyP99: headline.vsRawNode.latencyP99,
        connections: largest,
      }
    : null;

  const results = {
    generatedAt: new Date().toISOString(),
    mode: quick ? 'quick' : 'full',
    durationSec: Math.round((Date.now() - startedAt) / 1000),
    machine: machine(placement),
    runs,
    ratios,
    skipped,
    failures,
  };
  await mkdir(here('./results'), { recursive: true });
  await writeFile(here('./results/latest.json'), `${JSON.stringify(results, null, 2)}\n`);
  await writeReport(results, here('../docs/'));
  log(
    `done in ${results.durationSec} s: bench/results/latest.json, docs/benchmarks.md, ` +
      `docs/benchmarks.svg`,
  );
  if (ratios) {
    log(
      `${RATIO_SERVER} / ${FLOOR} at ${largest}: broadcast ${ratios.broadcastDeliveriesPerSec}, ` +
        `bursts ${ratios.burstDeliveriesPerSec}, unicast ${ratios.unicastSendsPerSec}, ` +
        `memory ${ratios.memoryPerConnection}, heap ${ratios.heapPerConnection}, ` +
        `p99 ${ratios.latencyP99}`,
    );
  }
  if (failures.length > 0) process.exitCode = 1;
}

await main();
