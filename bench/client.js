/**
 * The load client, in its own process: opens N streams over raw HTTP/1.1 sockets and
 * counts the events on each by their blank lines, with no EventSource objects and no
 * per-event parsing beyond the tail of each event, where the benchmark's payload
 * `{"n":<sequence>,"t":<sent at, µs>}` ends. Each stream must get every message of a
 * phase exactly once and in order; anything else is reported as an error.
 */
import { connect } from 'node:net';
import hdr from 'hdr-histogram-js';

const LF = 0x0a;
const CLOSE_BRACE = 0x7d;
const DIGIT_0 = 0x30;
const DIGIT_9 = 0x39;
const BLANK_LINE = Buffer.from('\n\n');
const HEAD_END = Buffer.from('\r\n\r\n');
/** `,"t":` and `{"n":` read backwards from the end of an event. */
const T_MARK = Buffer.from(',"t":').reverse();
const N_MARK = Buffer.from('{"n":').reverse();
const TAIL_KEPT = 96;

function nowUs() {
  return Number(process.hrtime.bigint() / 1000n);
}

if (typeof process.send !== 'function') {
  throw new Error('client: start it through bench/run.js (it is driven over IPC)');
}
process.on('disconnect', () => process.exit(0));
const fatal = (error) => {
  process.send({ type: 'fatal', error: String(error?.stack ?? error) }, () => process.exit(1));
};
process.on('uncaughtException', fatal);
process.on('unhandledRejection', fatal);

/** Every stream of the current server. */
let streams = [];
/** The phase being counted: how many messages each stream must get, and who got what. */
let phase = { count: 0, latency: false, skip: 0, reached: new Int32Array(0), completed: 0 };
let histogram;
let errors = 0;
/** When the read being handled arrived (latency phases only). */
let readAt = 0;

function report(type, fields) {
  process.send({ type, ...fields });
}

function violation(stream, text) {
  if (++errors <= 5) report('violation', { error: `stream ${stream.index}: ${text}` });
}

/** A byte of the stream at `at`, counting back into the previous read when negative. */
function byteAt(stream, buffer, at) {
  if (at >= 0) return buffer[at];
  const tail = stream.tail;
  return tail === null || tail.length + at < 0 ? -1 : tail[tail.length + at];
}

/**
 * Reads `{"n":N,"t":T}` backwards from the event's last byte. Returns N, or -1 when the
 * event carries no benchmark payload (first event, heartbeat, blank line).
 */
function readTail(stream, buffer, end) {
  let at = end - 1;
  if (byteAt(stream, buffer, at) !== CLOSE_BRACE) return -1;
  let t = 0;
  let scale = 1;
  let c;
  while ((c = byteAt(stream, buffer, --at)) >= DIGIT_0 && c <= DIGIT_9) {
    t += (c - DIGIT_0) * scale;
    scale *= 10;
  }
  for (let i = 0; i < T_MARK.length; i++, at--) {
    if (byteAt(stream, buffer, at) !== T_MARK[i]) return -2;
  }
  let n = 0;
  scale = 1;
  while ((c = byteAt(stream, buffer, at)) >= DIGIT_0 && c <= DIGIT_9) {
    n += (c - DIGIT_0) * scale;
    scale *= 10;
    at--;
  }
  for (let i = 0; i < N_MARK.length; i++, at--) {
    if (byteAt(stream, buffer, at) !== N_MARK[i]) return -2;
  }
  stream.lastT = t;
  return n;
}

function onEvent(stream, n) {
  if (n !== stream.next) {
    violation(stream, `got message ${n}, expected ${stream.next} (of ${phase.count})`);
    stream.next = n + 1;
    return;
  }
  stream.next = n + 1;
  if (n >= phase.count) {
    violation(stream, `got message ${n} beyond the ${phase.count} of this phase`);
    return;
  }
  if (phase.latency) {
    if (n >= phase.skip) histogram.recordValue(Math.max(1, readAt - stream.lastT));
    if (++phase.reached[n] === streams.length) report('progress', { n, at: readAt });
  }
  if (n === phase.count - 1 && ++phase.completed === streams.length) {
    report('done', { at: nowUs(), errors });
  }
}

function onFrame(stream, buffer, end) {
  stream.frames++;
  const n = readTail(stream, buffer, end);
  if (n >= 0) onEvent(stream, n);
  else if (n === -2) violation(stream, 'an event with a malformed payload');
}

function onBody(stream, buffer) {
  const tail = stream.tail;
  let from = 0;
  let last = -1;
  if (tail !== null && tail[tail.length - 1] === LF && buffer[0] === LF) {
    // A blank line split between two reads: the event ended on the previous read.
    onFrame(stream, buffer, -1);
    from = last = 1;
  }
  let end = buffer.indexOf(BLANK_LINE, from);
  while (end !== -1) {
    onFrame(stream, buffer, end);
    last = end + 2;
    end = buffer.indexOf(BLANK_LINE, last);
  }
  // The bytes after the last blank line may be the start of an event the next read ends.
  if (last === -1) {
    stream.tail =
      tail === null || buffer.length >= TAIL_KEPT
        ? buffer.subarray(-TAIL_KEPT)
        : Buffer.concat([tail, buffer]).subarray(-TAIL_KEPT);
  } else if (last < buffer.length) {
    stream.tail = buffer.subarray(Math.max(last, buffer.length - TAIL_KEPT));
  } else {
    stream.tail = null;
  }
}

function onData(buffer) {
  const stream = this.stream;
  if (phase.latency) readAt = nowUs();
  if (stream.head !== null) {
    const head = stream.head.length === 0 ? buffer : Buffer.concat([stream.head, buffer]);
    const at = head.indexOf(HEAD_END);
    if (at === -1) {
      stream.head = head;
      return;
    }
    stream.head = null;
    const status = head.toString('latin1', 9, 12);
    if (status !== '200') {
      stream.failed(new Error(`status ${status}: ${head.toString('latin1', 0, at)}`));
      return;
    }
    stream.opened();
    if (head.length > at + 4) onBody(stream, head.subarray(at + 4));
    return;
  }
  onBody(stream, buffer);
}

function open(port, index) {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, noDelay: true });
    const stream = {
      index,
      socket,
      head: Buffer.alloc(0),
      tail: null,
      next: 0,
      lastT: 0,
      frames: 0,
      open: false,
      opened: () => {
        stream.open = true;
        resolve(stream);
      },
      failed: (error) => {
        socket.destroy();
        reject(error);
      },
    };
    socket.stream = stream;
    socket.on('connect', () => {
      socket.write(
        `GET /sse HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nAccept: text/event-stream\r\n` +
          `X-User: u${index}\r\nAuthorization: Bearer u${index}\r\n\r\n`,
      );
    });
    socket.on('data', onData);
    socket.on('error', (error) => {
      if (!stream.open) reject(error);
      else if (!stream.closing) violation(stream, `socket error ${error.message}`);
    });
    socket.on('close', () => {
      if (!stream.open) reject(new Error(`stream ${index} closed before its headers`));
      else if (!stream.closing) violation(stream, 'closed by the server');
    });
  });
}

/**
 * Opens `n` streams, `concurrency` at a time. Resolves with when it started and when each
 * stream had its headers, in the order they came.
 */
async function openAll({ port, n, concurrency }) {
  streams = Array.from({ length: n });
  const opened = [];
  const t0 = nowUs();
  let nextIndex = 0;
  const worker = async () => {
    while (nextIndex < n) {
      const index = nextIndex++;
      streams[index] = await open(port, index);
      opened.push(nowUs());
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, n) }, worker));
  return { t0, t1: nowUs(), opened };
}

/** Starts a phase: `count` messages a stream; in latency phases the first `skip` are not timed. */
function expect({ count, latency, skip = 0 }) {
  for (const stream of streams) stream.next = 0;
  errors = 0;
  phase = { count, latency, skip, reached: new Int32Array(count), completed: 0 };
  if (latency) {
    histogram = hdr.build({
      lowestDiscernibleValue: 1,
      highestTrackableValue: 120_000_000,
      numberOfSignificantValueDigits: 3,
    });
  }
  return {};
}

function latencyStats() {
  const us = (p) => histogram.getValueAtPercentile(p) / 1000;
  return {
    p50: us(50),
    p99: us(99),
    max: histogram.maxValue / 1000,
    samples: histogram.totalCount,
  };
}

/** The streams still short of the phase's messages, for the report of a lost event. */
function missing() {
  const short = streams.filter((stream) => stream.next < phase.count);
  return {
    streams: short.length,
    first: short
      .slice(0, 3)
      .map((stream) => `stream ${stream.index} got ${stream.next} of ${phase.count}`),
  };
}

async function closeAll() {
  const closing = streams.map(
    (stream) =>
      new Promise((resolve) => {
        stream.closing = true;
        if (stream.socket.destroyed) return resolve();
        stream.socket.once('close', resolve);
        stream.socket.destroy();
      }),
  );
  await Promise.all(closing);
  const frames = streams.reduce((sum, stream) => sum + stream.frames, 0);
  streams = [];
  return { frames };
}

process.on('message', async ({ id, command, args }) => {
  try {
    let result;
    if (command === 'open') result = await openAll(args);
    else if (command === 'expect') result = expect(args);
    else if (command === 'latency') result = latencyStats();
    else if (command === 'cpu') result = process.cpuUsage();
    else if (command === 'missing') result = missing();
    else if (command === 'close') result = await closeAll();
    else if (command === 'exit') {
      process.send({ type: 'reply', id, result: {} }, () => process.exit(0));
      return;
    } else throw new Error(`unknown command ${command}`);
    process.send({ type: 'reply', id, result });
  } catch (error) {
    process.send({ type: 'reply', id, error: String(error?.stack ?? error) });
  }
});
process.send({ type: 'ready', pid: process.pid });
