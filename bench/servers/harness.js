/**
 * The control side every benchmark server shares: it takes commands from the runner over
 * IPC, drives the server under test (broadcasts, unicasts, memory readings) and answers.
 * The server under test only says how it starts, broadcasts and sends to one user.
 */
import { setImmediate as nextTurn } from 'node:timers/promises';

/** Microseconds on the monotonic clock, which every process of the machine shares. */
export function nowUs() {
  return Number(process.hrtime.bigint() / 1000n);
}

function userId(index) {
  return `u${index}`;
}

async function memory() {
  if (typeof global.gc !== 'function') throw new Error('run the server with --expose-gc');
  for (let i = 0; i < 3; i++) {
    global.gc();
    await nextTurn();
  }
  const { rss, heapUsed, external, arrayBuffers } = process.memoryUsage();
  return { rss, heapUsed, external, arrayBuffers };
}

/** Broadcasts `count` messages, `burst` of them in each turn of the event loop. */
async function broadcast(server, { count, burst }) {
  const t0 = nowUs();
  const cpu = process.cpuUsage();
  for (let n = 0; n < count;) {
    for (let b = 0; b < burst && n < count; b++, n++) server.broadcast({ n, t: nowUs() });
    await nextTurn();
  }
  return { t0, t1: nowUs(), cpu: process.cpuUsage(cpu) };
}

/** The one topic of the topic phase: every connection of the benchmark is in it. */
const TOPIC = 'bench';

/** Publishes `count` messages to the topic, `burst` of them in each turn, as `broadcast`. */
async function topic(server, { count, burst }) {
  const t0 = nowUs();
  const cpu = process.cpuUsage();
  for (let n = 0; n < count;) {
    for (let b = 0; b < burst && n < count; b++, n++) server.publish(TOPIC, { n, t: nowUs() });
    await nextTurn();
  }
  return { t0, t1: nowUs(), cpu: process.cpuUsage(cpu) };
}

/** Makes users `u0`…`u<users - 1>` members of the topic (or no longer), before the clock. */
async function membership(server, { users, join }) {
  if (typeof server.join !== 'function') return { supported: false, reason: 'no topics' };
  if (join) {
    // A broker without topics refuses the first join: the phase is skipped, not failed.
    try {
      await server.join(userId(0), TOPIC);
    } catch (error) {
      return { supported: false, reason: String(error?.message ?? error) };
    }
  }
  for (let u = join ? 1 : 0; u < users; u++) {
    if (join) await server.join(userId(u), TOPIC);
    else await server.leave(userId(u), TOPIC);
  }
  return { supported: true };
}

/** Sends `rounds` messages to each of `users` users, one round a turn. */
async function unicast(server, { rounds, users }) {
  // The ids are built before the clock starts: the loop should cost the server under test
  // as little as it can beside its own work.
  const ids = Array.from({ length: users }, (_, u) => userId(u));
  const t0 = nowUs();
  const cpu = process.cpuUsage();
  for (let n = 0; n < rounds; n++) {
    for (let u = 0; u < users; u++) server.unicast(ids[u], { n, t: nowUs() });
    await nextTurn();
  }
  return { t0, t1: nowUs(), cpu: process.cpuUsage(cpu) };
}

/**
 * Runs a benchmark server: `start()` listens on a free loopback port and returns
 * `{ port, broadcast(data), unicast(userId, data), connections(), close() }`, servers
 * with topics also `join(userId, topic)`, `leave(userId, topic)` and `publish(topic, data)`, and
 * optionally `cpu()` and `memory()` when the server under test is another process than
 * this one (nginx), and `pids` (processes the runner must end should this one die).
 * The process exits when told to, or as soon as the runner goes away.
 */
export async function serve(name, start) {
  if (typeof process.send !== 'function') {
    throw new Error(`${name}: start it through bench/run.js (it is driven over IPC)`);
  }
  const fail = (error) => {
    process.send({ type: 'fatal', error: String(error?.stack ?? error) }, () => process.exit(1));
  };
  process.on('uncaughtException', fail);
  process.on('unhandledRejection', fail);
  process.on('disconnect', () => process.exit(0));

  const server = await start();
  const reply = (id, result) => process.send({ type: 'reply', id, result });
  process.on('message', async (message) => {
    const { id, command, args } = message;
    try {
      switch (command) {
        case 'memory':
          return reply(id, await (server.memory ?? memory)());
        case 'broadcast':
          return reply(id, await broadcast(server, args));
        case 'unicast':
          return reply(id, await unicast(server, args));
        case 'topic':
          return reply(id, await topic(server, args));
        case 'membership':
          return reply(id, await membership(server, args));
        case 'one':
          server.broadcast({ n: args.n, t: nowUs() });
          return reply(id, { t: nowUs() });
        case 'cpu':
          return reply(id, server.cpu ? await server.cpu() : process.cpuUsage());
        case 'connections':
          return reply(id, await server.connections());
        case 'exit':
          reply(id, {});
          await Promise.race([server.close(), new Promise((r) => setTimeout(r, 2000))]);
          return process.exit(0);
        default:
          throw new Error(`unknown command ${command}`);
      }
    } catch (error) {
      process.send({ type: 'reply', id, error: String(error?.stack ?? error) });
    }
  });
  process.send({ type: 'ready', port: server.port, pid: process.pid, pids: server.pids ?? [] });
}

/** The user a request is from: the benchmark client names it in a header. */
export function requestUser(request) {
  const user = request.headers['x-user'];
  return typeof user === 'string' && user !== '' ? user : undefined;
}
