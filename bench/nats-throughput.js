/**
 * Messages per second through NATS between two instances, and what each message, replay
 * and presence change costs the NATS server.
 *
 * The benchmark starts a nats-server of its own (JetStream on, monitoring on, data in a
 * temporary folder), so that the server's counters (/varz: messages and bytes in and out)
 * and its CPU time (/proc/<pid>/stat) are this benchmark's alone. Two instances of the
 * library (each its own process) share it: the clients are connected to one, the other
 * sends, as in bench/redis-throughput.js. Then the receiving instance answers a series of
 * resuming connections (replay) and of connects and disconnects (presence).
 *
 *   npm run build --workspace nestjs-sse-hub && node bench/nats-throughput.js
 *   node bench/nats-throughput.js --messages=20000 --inflight=256 --bytes=100 --replays=200
 */
import 'reflect-metadata';
import { fileURLToPath } from 'node:url';
import { NatsSseBroker } from 'nestjs-sse-hub/nats';
import { Instance, reader, sendCounted, serveInstance, startNats } from './lib/throughput.js';

const args = process.argv.slice(2);
const option = (name, fallback) =>
  Number(args.find((arg) => arg.startsWith(`--${name}=`))?.split('=')[1] ?? fallback);

// --- an instance (child process) -------------------------------------------------------

async function runInstance() {
  const { BENCH_NATS, BENCH_HISTORY } = process.env;
  const options = {
    history: { size: Number(BENCH_HISTORY) },
    broker: new NatsSseBroker({ servers: BENCH_NATS, prefix: 'bench' }),
  };
  await serveInstance(options, (sse) => ({ send: (input) => sendCounted(sse, input) }));
}

// --- the runner ------------------------------------------------------------------------

function perUnit(before, after, units) {
  const round = (n) => Math.round(n * 100) / 100;
  return {
    natsMsgsIn: round((after.in - before.in) / units),
    natsMsgsOut: round((after.out - before.out) / units),
    natsBytesIn: Math.round((after.bytesIn - before.bytesIn) / units),
    natsCpuUs: Math.round(((after.cpu - before.cpu) * 1e6) / units),
  };
}

async function main() {
  const messages = option('messages', 20_000);
  const inflight = option('inflight', 256);
  const bytes = option('bytes', 100);
  const replays = option('replays', 200);
  const results = [];
  for (const { name, history, broadcast } of [
    { name: 'nats, two instances, send', history: 100, broadcast: false },
    { name: 'nats, two instances, send, history off', history: 0, broadcast: false },
    { name: 'nats, two instances, broadcast', history: 100, broadcast: true },
  ]) {
    const nats = await startNats();
    const script = fileURLToPath(import.meta.url);
    const env = { BENCH_NATS: nats.url, BENCH_HISTORY: history };
    const [receiver, sender] = [new Instance(script, env), new Instance(script, env)];
    await Promise.all([receiver.ready, sender.ready]);
    const client = await reader(receiver.port);
    // Warm-up, and time for the sender to see the reader in presence.
    await new Promise((resolve) => setTimeout(resolve, 500));
    const warm = Math.min(2000, messages);
    await sender.call('send', { count: warm, inflight, bytes, broadcast });
    await client.until(warm);
    client.count = 0;
    const before = await nats.counters();
    const started = performance.now();
    const sent = await sender.call('send', { count: messages, inflight, bytes, broadcast });
    await client.until(messages);
    const ms = performance.now() - started;
    const after = await nats.counters();
    results.push({
      name,
      messagesPerSec: Math.round((messages / ms) * 1000),
      deliveredPerMessage: sent.delivered / messages,
      storedShare: sent.stored / messages,
      ...perUnit(before, after, messages),
    });
    console.log(JSON.stringify(results.at(-1)));

    if (history > 0 && !broadcast) {
      // Replays: each resuming connection reads the reader's 100 kept events and the
      // broadcasts, from the id of the 50th newest.
      const r0 = await nats.counters();
      const t0 = performance.now();
      for (let i = 0; i < replays; i++) {
        const resumed = await reader(receiver.port, 'reader', sent.lastId);
        resumed.close();
      }
      const r1 = await nats.counters();
      results.push({
        name: 'nats, replay of a user with history full',
        perSec: Math.round((replays / (performance.now() - t0)) * 1000),
        ...perUnit(r0, r1, replays),
      });
      console.log(JSON.stringify(results.at(-1)));
      // Presence changes: a new user's connection opened and closed.
      const p0 = await nats.counters();
      const t1 = performance.now();
      for (let i = 0; i < replays; i++) {
        const visitor = await reader(receiver.port, `visitor-${i}`);
        visitor.close();
      }
      await new Promise((resolve) => setTimeout(resolve, 200));
      const p1 = await nats.counters();
      results.push({
        name: 'nats, presence: a connection opened and closed',
        perSec: Math.round((replays / (performance.now() - t1)) * 1000),
        ...perUnit(p0, p1, replays),
      });
      console.log(JSON.stringify(results.at(-1)));
    }
    client.close();
    await Promise.all([receiver.call('close'), sender.call('close')]);
    await nats.stop();
  }
  console.log(`\n${messages} messages of ${bytes} bytes, ${inflight} sends in flight\n`);
  console.table(
    results.map((r) => ({
      run: r.name,
      'per s': r.messagesPerSec ?? r.perSec,
      'NATS msgs in/out': `${r.natsMsgsIn} / ${r.natsMsgsOut}`,
      'NATS bytes in': r.natsBytesIn,
      'NATS µs CPU': r.natsCpuUs,
    })),
  );
}

if (process.argv.includes('--instance')) await runInstance();
else await main();
