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
import { fork, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { SseModule, SseService } from 'nestjs-sse-hub';
import { NatsSseBroker } from 'nestjs-sse-hub/nats';

const args = process.argv.slice(2);
const option = (name, fallback) =>
  Number(args.find((arg) => arg.startsWith(`--${name}=`))?.split('=')[1] ?? fallback);

// --- an instance (child process) -------------------------------------------------------

async function runInstance() {
  const { BENCH_NATS, BENCH_HISTORY } = process.env;
  class AppModule {}
  Module({
    imports: [
      SseModule.forRoot({
        resolveUser: (request) => request.headers['x-user'],
        heartbeat: 0,
        history: { size: Number(BENCH_HISTORY) },
        maxPendingBytes: 256 * 1024 * 1024,
        broker: new NatsSseBroker({ servers: BENCH_NATS, prefix: 'bench' }),
      }),
    ],
  })(AppModule);
  const app = await NestFactory.create(AppModule, { logger: ['error', 'warn'] });
  await app.listen(0, '127.0.0.1');
  const sse = app.get(SseService);

  async function send({ count, inflight, bytes, broadcast }) {
    const data = 'x'.repeat(bytes);
    let next = 0;
    let delivered = 0;
    let stored = 0;
    const started = performance.now();
    const lane = async () => {
      while (next < count) {
        next++;
        const result = broadcast ? await sse.broadcast(data) : await sse.send('reader', data);
        delivered += result.delivered;
        if (result.stored) stored++;
        lastId = result.id;
      }
    };
    let lastId;
    await Promise.all(Array.from({ length: inflight }, lane));
    return { ms: performance.now() - started, delivered, stored, lastId };
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

function freePort() {
  return new Promise((resolve) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

async function startNats() {
  const [port, monitor] = [await freePort(), await freePort()];
  const dir = mkdtempSync(join(tmpdir(), 'sse-bench-nats-'));
  const child = spawn(
    'nats-server',
    ['-js', '-a', '127.0.0.1', '-p', String(port), '-m', String(monitor), '-sd', dir],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  await new Promise((resolve, reject) => {
    let output = '';
    const read = (chunk) => {
      output += chunk;
      if (output.includes('Server is ready')) resolve();
    };
    child.stdout.on('data', read);
    child.stderr.on('data', read);
    child.once('exit', (code) => reject(new Error(`nats-server exited (${code}): ${output}`)));
  });
  return {
    url: `nats://127.0.0.1:${port}`,
    async counters() {
      const varz = await (await fetch(`http://127.0.0.1:${monitor}/varz`)).json();
      const stat = readFileSync(`/proc/${child.pid}/stat`, 'utf8').split(') ')[1].split(' ');
      // utime and stime, in clock ticks (100 a second on Linux).
      const cpu = (Number(stat[11]) + Number(stat[12])) / 100;
      return { in: varz.in_msgs, out: varz.out_msgs, bytesIn: varz.in_bytes, cpu };
    },
    async stop() {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

class Instance {
  constructor(nats, history) {
    this.calls = new Map();
    this.lastId = 0;
    this.child = fork(fileURLToPath(import.meta.url), ['--instance'], {
      env: { ...process.env, BENCH_NATS: nats, BENCH_HISTORY: history },
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

/**
 * A raw SSE client that counts the events it receives after the first; `until(n)` waits
 * for n of them.
 */
function reader(port, user = 'reader', lastEventId) {
  return new Promise((resolve, reject) => {
    const state = { count: 0, waiters: [] };
    const headers = { 'x-user': user };
    if (lastEventId !== undefined) headers['last-event-id'] = lastEventId;
    const req = request({ port, host: '127.0.0.1', path: '/sse', headers });
    req.on('response', (response) => {
      let first = true;
      let tail = '';
      response.setEncoding('utf8');
      response.on('data', (chunk) => {
        const text = tail + chunk;
        let at = text.indexOf('\n\n');
        let from = 0;
        while (at !== -1) {
          if (first) {
            first = false;
            resolve(state);
          } else state.count++;
          from = at + 2;
          at = text.indexOf('\n\n', from);
        }
        tail = text.slice(from);
        for (const waiter of state.waiters) waiter();
      });
    });
    req.on('error', reject);
    req.end();
    state.close = () => req.destroy();
    state.until = (n) =>
      new Promise((done) => {
        const check = () => state.count >= n && done();
        state.waiters.push(check);
        check();
      });
  });
}

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
    const [receiver, sender] = [new Instance(nats.url, history), new Instance(nats.url, history)];
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
