import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { v7 as uuidv7 } from 'uuid';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SSE_GAP_EVENT } from 'nestjs-sse-hub';
import { RedisSseBroker } from 'nestjs-sse-hub/redis';
import { openStream, startApp, type TestApp } from './support/app.js';
import { eventually } from './support/eventually.js';
import { redisServerBinaryRequirement } from './support/requirements.js';
import { RawSseClient, received, receivedData } from './support/sse-client.js';

const binary = redisServerBinaryRequirement();

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/**
 * A redis-server of this test's own, on its own port, that saves its data when stopped
 * and loads it when started again: Redis going away and coming back, data intact.
 */
class OwnRedisServer {
  private process: ChildProcess | undefined;

  constructor(
    readonly port: number,
    private readonly dir: string,
  ) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    const child = spawn(
      'redis-server',
      [
        '--port',
        String(this.port),
        '--bind',
        '127.0.0.1',
        '--dir',
        this.dir,
        '--save',
        '3600 1',
        '--appendonly',
        'no',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    this.process = child;
    await new Promise<void>((resolve, reject) => {
      let output = '';
      const read = (chunk: Buffer): void => {
        output += chunk.toString();
        if (output.includes('Ready to accept connections')) resolve();
      };
      child.stdout!.on('data', read);
      child.stderr!.on('data', read);
      child.once('exit', (code) => reject(new Error(`redis-server exited (${code}): ${output}`)));
    });
  }

  /** Stops the server (it saves its data first) and waits until it is gone. */
  async stop(): Promise<void> {
    const child = this.process;
    this.process = undefined;
    if (child === undefined || child.exitCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await exited;
  }
}

/** Sockets and timers of the process, by kind: what an instance must give back on close. */
function handles(): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const kind of process.getActiveResourcesInfo()) counts[kind] = (counts[kind] ?? 0) + 1;
  return { sockets: counts.TCPSocketWrap ?? 0, timers: counts.Timeout ?? 0 };
}

describe.skipIf(!binary.available)('the Redis broker when Redis fails', () => {
  const apps: TestApp[] = [];
  const clients: RawSseClient[] = [];
  let dir = '';
  let server: OwnRedisServer | undefined;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'sse-redis-'));
  });

  afterEach(async () => {
    for (const client of clients.splice(0)) client.close();
    await Promise.all(apps.splice(0).map((app) => app.close()));
    await server?.stop();
    server = undefined;
    rmSync(dir, { recursive: true, force: true });
  });

  async function instance(url: string): Promise<TestApp> {
    const broker = new RedisSseBroker({
      url,
      keyPrefix: 'faults:',
      presenceTtlMs: 3000,
      presenceHeartbeatMs: 500,
      commandTimeoutMs: 1000,
    });
    const app = await startApp('express', { broker, heartbeat: 0 });
    apps.push(app);
    return app;
  }

  async function connect(app: TestApp, userId: string, lastEventId?: string) {
    const client = await openStream(app, userId, lastEventId);
    clients.push(client);
    return client;
  }

  /** Whether the app's instance listens to the user's channel on this server. */
  async function listening(url: string, userId: string): Promise<boolean> {
    const probe = new Redis(url, { lazyConnect: true, retryStrategy: () => null });
    try {
      await probe.connect();
      const reply = (await probe.call('PUBSUB', 'NUMSUB', `faults:u:{${userId}}`)) as unknown[];
      return Number(reply[1]) > 0;
    } catch {
      return false;
    } finally {
      probe.disconnect();
    }
  }

  it('starts without Redis, serves its own connections, and joins the cluster once Redis is up', async () => {
    server = new OwnRedisServer(await freePort(), dir);
    const a = await instance(server.url);
    const alice = await connect(a, 'alice');

    const local = await a.sse.send('alice', 'without redis');
    expect(local).toMatchObject({ delivered: 1, stored: false });
    await alice.waitFor((c) => receivedData(c).length >= 1);
    expect(receivedData(alice)).toEqual(['without redis']);
    expect(await a.sse.isOnline('alice')).toBe(true);
    expect(await a.sse.isOnline('bob')).toBe(false);
    expect(await a.sse.onlineUsers()).toEqual(['alice']);
    const resumed = await connect(a, 'alice', uuidv7());
    await resumed.waitFor((c) => received(c).length >= 1);
    expect(received(resumed)[0].event).toBe(SSE_GAP_EVENT);
    expect(JSON.parse(received(resumed)[0].data!).reason).toBe('unavailable');
    resumed.close();

    await server.start();
    // Once subscribed, the instance ends its streams with a short retry: their clients
    // reconnect and replay what other instances sent while it was cut off.
    await alice.waitForEnd(20_000);
    expect(alice.events.at(-1)!.id).toBe(local.id);
    expect(alice.events.at(-1)!.data).toBeUndefined();
    expect(alice.events.at(-1)!.retry).toBeGreaterThanOrEqual(1000);
    const aliceBack = await connect(a, 'alice', local.id);
    // "without redis" was never stored: the history cannot vouch for what followed it.
    await aliceBack.waitFor((c) => received(c).length >= 1);
    expect(received(aliceBack)[0].event).toBe(SSE_GAP_EVENT);
    const b = await instance(server.url);
    await eventually(
      async () => (await b.sse.isOnline('alice')) && (await listening(server!.url, 'alice')),
      'the first instance has joined',
    );
    const across = await b.sse.send('alice', 'through redis');
    expect(across.stored).toBe(true);
    expect(across.delivered).toBeGreaterThanOrEqual(1);
    await aliceBack.waitFor((c) => receivedData(c).includes('through redis'));
    expect(receivedData(alice)).toEqual(['without redis']);
    expect(receivedData(aliceBack)).toEqual(['through redis']);
  });

  it('delivers locally while Redis is away, says so, and tells resuming clients what was lost', async () => {
    server = new OwnRedisServer(await freePort(), dir);
    await server.start();
    const [a, b] = [await instance(server.url), await instance(server.url)];
    const alice = await connect(a, 'alice');
    const bob = await connect(b, 'bob');
    // `delivered` counts what presence in Redis says: an instance that took longer than
    // `commandTimeoutMs` to reach Redis at start writes its presence once it has.
    await eventually(
      async () => (await a.sse.isOnline('bob')) && (await listening(server!.url, 'bob')),
      'b has written its presence',
    );
    const before = await a.sse.send('bob', 'before');
    expect(before).toMatchObject({ delivered: 1, stored: true });
    await bob.waitFor((c) => receivedData(c).length >= 1);

    await server.stop();
    const whileDown = await a.sse.send('alice', 'while down');
    expect(whileDown).toMatchObject({ delivered: 1, stored: false });
    const missed = await a.sse.send('bob', 'missed');
    expect(missed).toMatchObject({ delivered: 0, stored: false });
    const everyone = await a.sse.broadcast('local broadcast');
    expect(everyone).toMatchObject({ delivered: 1, stored: false });
    await alice.waitFor((c) => receivedData(c).length >= 2);
    expect(receivedData(alice)).toEqual(['while down', 'local broadcast']);
    expect(await a.sse.isOnline('alice')).toBe(true);
    expect(await a.sse.isOnline('bob')).toBe(false);
    expect(await a.sse.onlineUsers()).toEqual(['alice']);
    expect(await a.sse.disconnect('bob')).toBe(false);

    await server.start();
    // Back on Redis, each instance ends its streams with a short retry, keeping each
    // client's resume point: they reconnect and replay what they missed.
    await Promise.all([alice.waitForEnd(20_000), bob.waitForEnd(20_000)]);
    expect(bob.events.at(-1)!.id).toBe(before.id);
    expect(alice.events.at(-1)!.id).toBe(everyone.id);
    expect(bob.events.at(-1)!.data).toBeUndefined();
    expect(bob.events.at(-1)!.retry).toBeGreaterThanOrEqual(1000);

    // Bob's client comes back from the last event it saw: it is told that some are lost.
    const back = await connect(a, 'bob', before.id);
    await eventually(
      async () => (await b.sse.isOnline('bob')) && (await listening(server!.url, 'bob')),
      'bob is back',
    );
    const after = await a.sse.send('bob', 'after');
    expect(after).toMatchObject({ delivered: 1, stored: true });
    await back.waitFor((c) => received(c).length >= 2);
    expect(received(back)[0].event).toBe(SSE_GAP_EVENT);
    expect(JSON.parse(received(back)[0].data!).reason).toBe('expired');
    expect(received(back)[1].id).toBe(after.id);
    // Alice saw everything sent to her: nothing to report from her last event.
    const aliceBack = await connect(b, 'alice', everyone.id);
    const next = await b.sse.send('alice', 'next');
    await aliceBack.waitFor((c) => received(c).length >= 1);
    expect(received(aliceBack).map((e) => e.id)).toEqual([next.id]);
  });

  it('sends its scripts again when Redis has forgotten them', async () => {
    server = new OwnRedisServer(await freePort(), dir);
    await server.start();
    const [a, b] = [await instance(server.url), await instance(server.url)];
    const first = await connect(b, 'alice');
    const from = first.events[0].id!;
    first.close();
    await eventually(async () => !(await a.sse.isOnline('alice')), 'alice has left');
    const admin = new Redis(server.url);
    await admin.script('FLUSH');
    const sent = await a.sse.send('alice', 'after a flush');
    expect(sent).toMatchObject({ delivered: 0, stored: true });
    await admin.script('FLUSH');
    const back = await connect(b, 'alice', from);
    await back.waitFor((c) => received(c).length >= 1);
    expect(received(back).map((e) => e.id)).toEqual([sent.id]);
    await admin.quit();
  });

  it('gives back every socket and timer on close, even while Redis is away', async () => {
    const port = await freePort();
    const before = handles();
    const a = await instance(`redis://127.0.0.1:${port}`);
    await connect(a, 'alice');
    await a.sse.send('alice', 'local');
    for (const client of clients.splice(0)) client.close();
    await apps.splice(0)[0].close();
    await new Promise((resolve) => setImmediate(resolve));
    // A timer of the test runner's own may expire meanwhile: none may be added.
    const after = handles();
    expect(after.sockets).toBe(before.sockets);
    expect(after.timers).toBeLessThanOrEqual(before.timers);
  });
});
