/**
 * The benchmark: every server of the comparison, measured by the same load client, each in
 * its own process, at each number of connections. The headline figures are the servers'
 * own CPU time per unit of work (per delivery, per send, per connect); throughput, memory
 * and latency stand beside them.
 *
 *   npm run bench                  1k, 5k and 10k connections, five repeats: writes
 *                                  bench/results/latest.json, docs/benchmarks.md and .svg
 *   npm run bench -- --quick       a smoke run at 1k, one repeat: bench/results/quick.json
 *   node bench/run.js --estimate   how long the run would take, from the last full run's rates
 *   node bench/run.js --servers=raw-node,nestjs-sse-hub --sizes=1000 --repeats=5
 *                     --phases=unicast,connect     a partial run: bench/results/partial.json
 *   node bench/run.js --report=bench/results/latest.json [--report-dir=docs/]
 *                                  writes the report of a results file, runs nothing
 *
 * Only a full run (none of --quick, --servers, --sizes, --phases, --repeats) writes
 * latest.json and the docs. `--out=<file>` names the results file of any other run.
 * BENCH_NODE_ARGS passes flags to the servers' Node (to profile one: "--cpu-prof").
 */
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { availableParallelism, loadavg } from 'node:os';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { measure, startProcesses, workOf } from './lib/measure.js';
import { placement } from './lib/proc.js';
import { machine, writeReport } from './lib/report.js';
import { SERVERS } from './lib/servers.js';
import { ratio } from './lib/stats.js';

const here = (path) => fileURLToPath(new URL(path, import.meta.url));
const args = process.argv.slice(2);
const option = (name) => args.find((arg) => arg.startsWith(`--${name}=`))?.split('=')[1];
const quick = args.includes('--quick');
const PHASES = ['broadcast', 'burst', 'topic', 'unicast', 'latency', 'connect'];

/** How much each measurement does: each repeat of a phase lasts about a second at full size. */
const PLAN = quick
  ? {
      sizes: [1000],
      deliveries: 8_000,
      sends: 4_000,
      latencyMessages: 4,
      minMessages: 8,
      minRounds: 4,
      repeats: 1,
      connectRepeats: 2,
    }
  : {
      sizes: [1000, 5000, 10_000],
      deliveries: 100_000,
      sends: 50_000,
      latencyMessages: 20,
      minMessages: 10,
      minRounds: 5,
      repeats: 5,
      connectRepeats: 5,
    };
if (option('repeats')) PLAN.repeats = PLAN.connectRepeats = Number(option('repeats'));
PLAN.phases = option('phases')?.split(',') ?? PHASES;
const sizes = option('sizes')?.split(',').map(Number) ?? PLAN.sizes;
const only = option('servers')?.split(',');
const servers = only ? SERVERS.filter((server) => only.includes(server.name)) : SERVERS;
const partial = ['servers', 'sizes', 'phases', 'repeats'].some((name) => option(name));
const mode = quick ? 'quick' : partial ? 'partial' : 'full';
const LATEST = here('./results/latest.json');
const out = option('out')
  ? resolve(option('out'))
  : here(`./results/${mode === 'full' ? 'latest' : mode}.json`);

// --- progress -----------------------------------------------------------------------

const startedAt = Date.now();
let step = 0;
let steps = 0;
const tty = process.stderr.isTTY;

function clock(seconds) {
  const s = Math.round(seconds);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}

function progress(text) {
  const line = `[${String(step).padStart(2)}/${steps} ${clock((Date.now() - startedAt) / 1000)}] ${text}`;
  if (tty) process.stderr.write(`\r\x1b[K${line.slice(0, process.stderr.columns - 1)}`);
  else process.stderr.write(`${line}\n`);
}

function log(text) {
  if (tty) process.stderr.write('\r\x1b[K');
  process.stderr.write(`${text}\n`);
}

// --- how long it will take -------------------------------------------------------------

/** Rates to plan with where no earlier full run measured a server (HTTP publishers: less). */
const GUESS = {
  broadcastDeliveriesPerSec: 80_000,
  burstDeliveriesPerSec: 300_000,
  unicastSendsPerSec: 40_000,
  connectionsPerSec: 2_500,
  latencyMs: { p99: 100 },
};

/** The run's duration from the plan and the rates of the last full run (or guesses). */
function estimateSec(planned) {
  const earlier = existsSync(LATEST) ? JSON.parse(readFileSync(LATEST, 'utf8')).runs : [];
  let total = 0;
  for (const n of sizes) {
    for (const server of planned) {
      const seen = earlier.find((run) => run.server === server.name && run.connections === n);
      const rate = (key) =>
        seen?.[key] ||
        GUESS[key] * (server.publish === 'http' && key === 'unicastSendsPerSec' ? 0.25 : 1);
      const { count, rounds } = workOf(server, n, PLAN);
      const wants = (phase) => PLAN.phases.includes(phase);
      total += 4; // start, warm-up, memory readings, stop
      if (wants('broadcast'))
        total += PLAN.repeats * ((count * n) / rate('broadcastDeliveriesPerSec') + 0.2);
      if (wants('burst'))
        total += PLAN.repeats * ((count * n) / rate('burstDeliveriesPerSec') + 0.2);
      if (
        wants('topic') &&
        server.script.endsWith('nestjs-sse-hub.js') &&
        server.publish !== 'http'
      )
        total += PLAN.repeats * ((count * n) / rate('broadcastDeliveriesPerSec') + 0.2) + 1;
      if (wants('unicast'))
        total += PLAN.repeats * ((rounds * n) / rate('unicastSendsPerSec') + 0.2);
      const p99 = seen?.latencyMs?.p99 || GUESS.latencyMs.p99;
      if (wants('latency')) total += (PLAN.latencyMessages + 2) * ((p99 + 10) / 1000);
      const connects = wants('connect') ? PLAN.connectRepeats : 1;
      total += connects * (n / rate('connectionsPerSec') + n / 20_000 + 0.8);
    }
  }
  return total;
}

// --- the run --------------------------------------------------------------------------

const RATIO_SERVER = 'nestjs-sse-hub';
const FLOOR = 'raw-node';
/** Figures compared with raw-node's: name in the ratios, figure of the run. */
const COMPARED = {
  broadcastDeliveriesPerSec: 'broadcastDeliveriesPerSec',
  burstDeliveriesPerSec: 'burstDeliveriesPerSec',
  unicastSendsPerSec: 'unicastSendsPerSec',
  connectionsPerSec: 'connectionsPerSec',
  memoryPerConnection: 'memoryPerConnectionBytes',
  rssPerConnection: 'rssPerConnectionBytes',
  heapPerConnection: 'heapPerConnectionBytes',
  cpuPerDelivery: 'cpuPerDeliveryUs',
  cpuPerBurstDelivery: 'cpuPerBurstDeliveryUs',
  cpuPerUnicastSend: 'cpuPerUnicastSendUs',
  cpuPerConnect: 'cpuPerConnectUs',
};

function ratiosOf(run, floor) {
  const ratios = {};
  for (const [name, key] of Object.entries(COMPARED)) ratios[name] = ratio(run[key], floor[key]);
  ratios.latencyP50 = ratio(run.latencyMs.p50, floor.latencyMs.p50);
  ratios.latencyP99 = ratio(run.latencyMs.p99, floor.latencyMs.p99);
  return ratios;
}

function summary(run) {
  const s = run.spread;
  const cpu = (key) => `${s[key].median} [${s[key].min}-${s[key].max}]`;
  return (
    `${run.server.padEnd(28)} ${String(run.connections).padStart(6)}  µs CPU: ` +
    `delivery ${cpu('cpuPerDeliveryUs')}  burst ${cpu('cpuPerBurstDeliveryUs')}  ` +
    `send ${cpu('cpuPerUnicastSendUs')}  connect ${cpu('cpuPerConnectUs')}\n${' '.repeat(37)}` +
    `broadcast ${run.broadcastDeliveriesPerSec}/s  bursts ${run.burstDeliveriesPerSec}/s  ` +
    (run.topicDeliveriesPerSec === null
      ? ''
      : `topic ${run.topicDeliveriesPerSec}/s (${cpu('cpuPerTopicDeliveryUs')} µs CPU, ` +
        `${ratio(run.topicDeliveriesPerSec, run.broadcastDeliveriesPerSec)}× broadcast's rate)  `) +
    `unicast ${run.unicastSendsPerSec}/s  connects ${run.connectionsPerSec}/s  ` +
    `p99 ${run.latencyMs.p99} ms  rss ${run.rssPerConnectionBytes} B  heap ${run.heapPerConnectionBytes} B`
  );
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
  log(
    `${mode} run: ${planned.length} servers at ${sizes.join(', ')} connections, ` +
      `${PLAN.repeats} repeats; estimated ${clock(estimateSec(planned))} (m:ss) on an idle ` +
      `machine (load average now ${loadavg()[0].toFixed(1)} on ${availableParallelism()} cores)`,
  );
  if (args.includes('--estimate')) return;

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
        const run = await measure(processes, server, n, PLAN, progress);
        runs.push(run);
        log(summary(run));
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
  const ratios = headline?.vsRawNode ? { ...headline.vsRawNode, connections: largest } : null;

  const results = {
    generatedAt: new Date().toISOString(),
    mode,
    durationSec: Math.round((Date.now() - startedAt) / 1000),
    machine: machine(placement),
    plan: { ...PLAN, sizes },
    runs,
    ratios,
    skipped,
    failures,
  };
  await mkdir(dirname(out), { recursive: true });
  await writeFile(out, `${JSON.stringify(results, null, 2)}\n`);
  const written = [out];
  if (mode === 'full') {
    await writeReport(results, here('../docs/'));
    written.push('docs/benchmarks.md', 'docs/benchmarks.svg');
  }
  log(`done in ${clock(results.durationSec)}: ${written.join(', ')}`);
  if (ratios) {
    log(
      `${RATIO_SERVER} / ${FLOOR} at ${largest}: CPU per delivery ${ratios.cpuPerDelivery}, ` +
        `per send ${ratios.cpuPerUnicastSend}, per connect ${ratios.cpuPerConnect}; ` +
        `broadcast/s ${ratios.broadcastDeliveriesPerSec}, unicast/s ${ratios.unicastSendsPerSec}, ` +
        `heap ${ratios.heapPerConnection}, p99 ${ratios.latencyP99}`,
    );
  }
  if (failures.length > 0) process.exitCode = 1;
}

const report = option('report');
if (report !== undefined) {
  const dir = resolve(option('report-dir') ?? here('../docs/'));
  await writeReport(JSON.parse(readFileSync(resolve(report), 'utf8')), `${dir}/`);
  log(`wrote ${dir}/benchmarks.md and benchmarks.svg from ${report}`);
} else {
  await main();
}
