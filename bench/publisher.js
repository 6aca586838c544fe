/**
 * The HTTP publisher, in its own process: for servers that take their messages over HTTP
 * (nginx + nchan's publisher, and the library behind a NestJS route), it sends what the
 * in-process harness would call, as `POST <prefix><channel>` requests with the benchmark's
 * payload as a JSON body. The requests are pipelined on one keep-alive connection, so the
 * server sees them in the order they were sent (what the order checks of the client
 * need), with a window of requests in flight.
 */
import { connect } from 'node:net';

const HEAD_END = Buffer.from('\r\n\r\n');
/** Requests in flight while sending to users. */
const UNICAST_WINDOW = 32;

if (typeof process.send !== 'function') {
  throw new Error('publisher: start it through bench/run.js (it is driven over IPC)');
}
process.on('disconnect', () => process.exit(0));
const fatal = (error) => {
  process.send({ type: 'fatal', error: String(error?.stack ?? error) }, () => process.exit(1));
};
process.on('uncaughtException', fatal);
process.on('unhandledRejection', fatal);

function nowUs() {
  return Number(process.hrtime.bigint() / 1000n);
}

/** One pipelined HTTP/1.1 connection: `post()` resolves once there is room in its window. */
class Pipeline {
  constructor(port, prefix) {
    this.port = port;
    this.prefix = prefix;
    this.inFlight = 0;
    this.buffered = Buffer.alloc(0);
    this.waiters = [];
    this.failure = undefined;
    this.socket = connect({ host: '127.0.0.1', port, noDelay: true });
    this.connected = new Promise((resolve, reject) => {
      this.socket.once('connect', resolve);
      this.socket.once('error', reject);
    });
    this.socket.on('data', (chunk) => this.onData(chunk));
    this.socket.on('error', (error) => this.fail(error));
    this.socket.on('close', () => this.fail(new Error('the server closed the publish connection')));
  }

  fail(error) {
    this.failure ??= error;
    for (const waiter of this.waiters.splice(0)) waiter.reject(this.failure);
  }

  /** Counts the complete responses in what came; each frees a place in the window. */
  onData(chunk) {
    let data = this.buffered.length === 0 ? chunk : Buffer.concat([this.buffered, chunk]);
    for (;;) {
      const end = data.indexOf(HEAD_END);
      if (end === -1) break;
      const head = data.toString('latin1', 0, end);
      const length = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? 0);
      if (/\r\ntransfer-encoding:/i.test(head)) {
        return this.fail(new Error(`a chunked publish response, which this client cannot read`));
      }
      if (data.length < end + 4 + length) break;
      const status = Number(head.slice(9, 12));
      if (status >= 300) {
        const body = data.toString('utf8', end + 4, end + 4 + length);
        return this.fail(new Error(`publish answered ${status}: ${body.slice(0, 200)}`));
      }
      data = data.subarray(end + 4 + length);
      this.inFlight--;
      for (const waiter of this.waiters.splice(0)) waiter.resolve();
    }
    this.buffered = data;
  }

  async post(channel, payload, window) {
    if (this.failure !== undefined) throw this.failure;
    const body = JSON.stringify(payload);
    this.socket.write(
      `POST ${this.prefix}${channel} HTTP/1.1\r\nHost: 127.0.0.1:${this.port}\r\n` +
        `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n` +
        body,
    );
    this.inFlight++;
    while (this.inFlight >= window) await this.nextAnswer();
  }

  /** Resolves once every request has its answer. */
  async drain() {
    while (this.inFlight > 0) await this.nextAnswer();
  }

  nextAnswer() {
    if (this.failure !== undefined) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  close() {
    this.socket.destroy();
  }
}

/** @type {Pipeline | undefined} */
let pipeline;

async function target({ port, prefix }) {
  pipeline?.close();
  pipeline = new Pipeline(port, prefix);
  await pipeline.connected;
  return {};
}

/** `count` broadcasts, `burst` of them in flight at a time. */
async function broadcast({ count, burst }) {
  const t0 = nowUs();
  for (let n = 0; n < count; n++) await pipeline.post('all', { n, t: nowUs() }, burst);
  await pipeline.drain();
  return { t0, t1: nowUs() };
}

/** `rounds` messages to each of `users` users, round after round. */
async function unicast({ rounds, users }) {
  const ids = Array.from({ length: users }, (_, u) => `u${u}`);
  const t0 = nowUs();
  for (let n = 0; n < rounds; n++) {
    for (let u = 0; u < users; u++) await pipeline.post(ids[u], { n, t: nowUs() }, UNICAST_WINDOW);
  }
  await pipeline.drain();
  return { t0, t1: nowUs() };
}

async function one({ n }) {
  await pipeline.post('all', { n, t: nowUs() }, 1);
  return { t: nowUs() };
}

process.on('message', async ({ id, command, args }) => {
  try {
    let result;
    if (command === 'target') result = await target(args);
    else if (command === 'broadcast') result = await broadcast(args);
    else if (command === 'unicast') result = await unicast(args);
    else if (command === 'one') result = await one(args);
    else if (command === 'exit') {
      pipeline?.close();
      process.send({ type: 'reply', id, result: {} }, () => process.exit(0));
      return;
    } else throw new Error(`unknown command ${command}`);
    process.send({ type: 'reply', id, result });
  } catch (error) {
    process.send({ type: 'reply', id, error: String(error?.stack ?? error) });
  }
});
process.send({ type: 'ready', pid: process.pid });
