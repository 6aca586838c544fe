/**
 * The parts the broker throughput scripts share: brokers of their own (a nats-server, a
 * redis-server) on free ports, the library's instances as child processes driven over IPC,
 * a raw SSE reader, and Redis's own counters.
 */
import { fork, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Every broker process still running, ended at exit whatever ends the runner. */
const brokers = new Set();
process.on('exit', () => {
  for (const child of brokers) if (child.exitCode === null) child.kill('SIGKILL');
});
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => process.exit(130));
}

/** A free TCP port on 127.0.0.1. */
export function freePort() {
  return new Promise((resolve) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/**
 * CPU seconds (user plus system) of a process from /proc/<pid>/stat, or null where there is
 * no such file (not Linux, or the process is gone).
 */
export function processCpuSeconds(pid) {
  const file = `/proc/${pid}/stat`;
  if (!existsSync(file)) return null;
  const stat = readFileSync(file, 'utf8').split(') ')[1].split(' ');
  // utime and stime, in clock ticks (100 a second on Linux).
  return (Number(stat[11]) + Number(stat[12])) / 100;
}

/** Spawns a broker and resolves once its output says `readyText`. */
function spawnBroker(command, args, readyText) {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  brokers.add(child);
  child.once('exit', () => brokers.delete(child));
  const ready = new Promise((resolve, reject) => {
    let output = '';
    const read = (chunk) => {
      output += chunk;
      if (output.includes(readyText)) resolve();
    };
    child.stdout.on('data', read);
    child.stderr.on('data', read);
    child.once('error', (error) =>
      reject(new Error(`${command} could not start: ${error.message}`)),
    );
    child.once('exit', (code) => reject(new Error(`${command} exited (${code}): ${output}`)));
  });
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    }
  };
  return { child, ready, stop };
}

/**
 * A nats-server of the caller's own: JetStream on (data in a temporary folder), monitoring
 * on, so that its counters (/varz) and its CPU time are the caller's alone.
 */
export async function startNats() {
  const [port, monitor] = [await freePort(), await freePort()];
  const dir = mkdtempSync(join(tmpdir(), 'sse-bench-nats-'));
  const args = ['-js', '-a', '127.0.0.1', '-p', String(port), '-m', String(monitor), '-sd', dir];
  const { child, ready, stop } = spawnBroker('nats-server', args, 'Server is ready');
  await ready;
  return {
    url: `nats://127.0.0.1:${port}`,
    pid: child.pid,
    async counters() {
      const varz = await (await fetch(`http://127.0.0.1:${monitor}/varz`)).json();
      const cpu = processCpuSeconds(child.pid);
      return { in: varz.in_msgs, out: varz.out_msgs, bytesIn: varz.in_bytes, cpu };
    },
    async stop() {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A redis-server of the caller's own on a free port, nothing persisted. */
export async function startRedis() {
  const port = await freePort();
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'];
  const { child, ready, stop } = spawnBroker('redis-server', args, 'Ready to accept connections');
  await ready;
  return { url: `redis://127.0.0.1:${port}`, port, pid: child.pid, stop };
}

/** Redis's counters: command calls by name, bytes in and out, CPU seconds. */
export async function redisCounters(admin) {
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

/**
 * An instance of the library: `script --instance` forked with `env`, which answers
 * `{ ready: port }` once listening and `{ id, result }` to each `call`.
 */
export class Instance {
  constructor(script, env) {
    this.calls = new Map();
    this.lastId = 0;
    this.child = fork(script, ['--instance'], { env: { ...process.env, ...env } });
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
 * A raw SSE client of `GET /sse` as `user` (header `x-user`) that counts the events it
 * receives after the first; `until(n)` waits for n of them. Resolves once the first event
 * (the connection's own) has come.
 */
export function reader(port, user = 'reader', lastEventId) {
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
        // Events end with a blank line; a split one is completed by the next chunk.
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

/**
 * Runs an instance of the library in this (child) process for a runner that drives it as an
 * {@link Instance}: `SseModule` with `options` over these defaults (users from the `x-user`
 * header, no heartbeat, no reader dropped as slow: throughput is measured), on a free port.
 * `commands(sse)` gives the handlers of the runner's calls by name; `cpu` (this process's CPU
 * microseconds) and `close` are built in.
 */
export async function serveInstance(options, commands) {
  const { Module } = await import('@nestjs/common');
  const { NestFactory } = await import('@nestjs/core');
  const { SseModule, SseService } = await import('nestjs-sse-hub');
  class AppModule {}
  Module({
    imports: [
      SseModule.forRoot({
        resolveUser: (request) => request.headers['x-user'],
        heartbeat: 0,
        maxPendingBytes: 256 * 1024 * 1024,
        ...options,
      }),
    ],
  })(AppModule);
  const app = await NestFactory.create(AppModule, { logger: ['error', 'warn'] });
  await app.listen(0, '127.0.0.1');
  const handlers = commands(app.get(SseService));
  // The runner gone (killed, interrupted), the instance ends too.
  process.on('disconnect', () => process.exit(0));
  process.on('message', async ({ id, command, input }) => {
    if (command === 'close') {
      await app.close();
      process.send({ id, result: true });
      process.disconnect();
    } else if (command === 'cpu') {
      const { user, system } = process.cpuUsage();
      process.send({ id, result: user + system });
    } else {
      process.send({ id, result: await handlers[command](input) });
    }
  });
  process.send({ ready: app.getHttpServer().address().port });
}

/**
 * Sends `count` messages of `bytes` bytes, to `users` in turn (or broadcasts them),
 * `inflight` at most unanswered at a time: how long it took, the deliveries `send` counted,
 * how many were stored, and the id of the last.
 */
export async function sendCounted(sse, { count, inflight, bytes, broadcast, users = ['reader'] }) {
  const data = 'x'.repeat(bytes);
  let next = 0;
  let delivered = 0;
  let stored = 0;
  let lastId;
  const started = performance.now();
  const lane = async () => {
    while (next < count) {
      const to = users[next++ % users.length];
      const result = broadcast ? await sse.broadcast(data) : await sse.send(to, data);
      delivered += result.delivered;
      if (result.stored) stored++;
      lastId = result.id;
    }
  };
  await Promise.all(Array.from({ length: inflight }, lane));
  return { ms: performance.now() - started, delivered, stored, lastId };
}
