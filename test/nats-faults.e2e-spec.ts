import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { v7 as uuidv7 } from 'uuid';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SSE_GAP_EVENT } from 'nestjs-sse-hub';
import { NatsSseBroker } from 'nestjs-sse-hub/nats';
import { received, receivedData } from './support/sse-client.js';
import { openStream, startApp, type TestApp } from './support/app.js';
import { eventually } from './support/eventually.js';
import { OwnNatsServer } from './support/nats-server.js';
import { freePort } from './support/free-port.js';
import { natsServerBinaryRequirement } from './support/requirements.js';
import { RawSseClient } from './support/sse-client.js';

const binary = natsServerBinaryRequirement();

/** Sockets and timers of the process, by kind: what an instance must give back on close. */
function handles(): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const kind of process.getActiveResourcesInfo()) counts[kind] = (counts[kind] ?? 0) + 1;
  return { sockets: counts.TCPSocketWrap ?? 0, timers: counts.Timeout ?? 0 };
}

describe.skipIf(!binary.available)('the NATS broker when NATS fails', () => {
  const apps: TestApp[] = [];
  const brokers = new Map<TestApp, NatsSseBroker>();
  const clients: RawSseClient[] = [];
  let dir = '';
  let server: OwnNatsServer | undefined;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'sse-nats-'));
  });

  afterEach(async () => {
    for (const client of clients.splice(0)) client.close();
    await Promise.all(apps.splice(0).map((app) => app.close()));
    brokers.clear();
    await server?.stop();
    server = undefined;
    rmSync(dir, { recursive: true, force: true });
  });

  async function instance(url: string): Promise<TestApp> {
    const broker = new NatsSseBroker({
      servers: url,
      prefix: 'faults',
      presenceTtlMs: 3000,
      presenceHeartbeatMs: 500,
      requestTimeoutMs: 1000,
    });
    const app = await startApp('express', { broker, heartbeat: 0 });
    apps.push(app);
    brokers.set(app, broker);
    return app;
  }

  async function connect(app: TestApp, userId: string, lastEventId?: string) {
    const client = await openStream(app, userId, lastEventId);
    clients.push(client);
    return client;
  }

  /** Whether every instance counts the user's open connections, all instances together. */
  async function seen(userId: string): Promise<boolean> {
    const total = apps.reduce((n, app) => n + app.hub.localConnections(userId), 0);
    return apps.every((app) => brokers.get(app)!.connectionsOf(userId) === total);
  }

  it('starts without NATS, serves its own connections, and joins the cluster once NATS is up', async () => {
    server = new OwnNatsServer(await freePort(), dir);
    const a = await instance(server.url);
    const alice = await connect(a, 'alice');

    const local = await a.sse.send('alice', 'without nats');
    expect(local).toMatchObject({ delivered: 1, stored: false });
    await alice.waitFor((c) => receivedData(c).length >= 1);
    expect(receivedData(alice)).toEqual(['without nats']);
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
    // "without nats" was never stored: the history cannot vouch for what followed it.
    await aliceBack.waitFor((c) => received(c).length >= 1);
    expect(received(aliceBack)[0].event).toBe(SSE_GAP_EVENT);
    const b = await instance(server.url);
    await eventually(() => seen('alice'), 'the first instance has joined');
    const across = await b.sse.send('alice', 'through nats');
    expect(across).toMatchObject({ delivered: 1, stored: true });
    await aliceBack.waitFor((c) => receivedData(c).includes('through nats'));
    expect(receivedData(aliceBack)).toEqual(['through nats']);
  });

  it('delivers locally while NATS is away, says so, and tells resuming clients what was lost', async () => {
    server = new OwnNatsServer(await freePort(), dir);
    await server.start();
    const [a, b] = [await instance(server.url), await instance(server.url)];
    const alice = await connect(a, 'alice');
    const bob = await connect(b, 'bob');
    await eventually(async () => (await seen('alice')) && (await seen('bob')), 'presence');
    const before = await a.sse.send('bob', 'before');
    expect(before).toMatchObject({ delivered: 1, stored: true });
    await bob.waitFor((c) => receivedData(c).length >= 1);

    await server.stop();
    await eventually(async () => !(await a.sse.isOnline('bob')), 'a knows NATS is away');
    const whileDown = await a.sse.send('alice', 'while down');
    expect(whileDown).toMatchObject({ delivered: 1, stored: false });
    const missed = await a.sse.send('bob', 'missed');
    expect(missed).toMatchObject({ delivered: 0, stored: false });
    const everyone = await a.sse.broadcast('local broadcast');
    expect(everyone).toMatchObject({ delivered: 1, stored: false });
    await alice.waitFor((c) => receivedData(c).length >= 2);
    expect(receivedData(alice)).toEqual(['while down', 'local broadcast']);
    expect(await a.sse.onlineUsers()).toEqual(['alice']);
    expect(await a.sse.disconnect('bob')).toBe(false);

    await server.start();
    // Back on NATS, each instance ends its streams with a short retry, keeping each
    // client's resume point: they reconnect and replay what they missed.
    await Promise.all([alice.waitForEnd(20_000), bob.waitForEnd(20_000)]);
    expect(bob.events.at(-1)!.id).toBe(before.id);
    expect(alice.events.at(-1)!.id).toBe(everyone.id);
    expect(bob.events.at(-1)!.retry).toBeGreaterThanOrEqual(1000);

    // Bob's client comes back from the last event it saw: it is told that some are lost.
    const back = await connect(a, 'bob', before.id);
    await eventually(() => seen('bob'), 'bob is back');
    const after = await b.sse.send('bob', 'after');
    expect(after).toMatchObject({ delivered: 1, stored: true });
    await back.waitFor((c) => received(c).length >= 2);
    expect(received(back)[0].event).toBe(SSE_GAP_EVENT);
    expect(JSON.parse(received(back)[0].data!).reason).toBe('expired');
    expect(received(back)[1].id).toBe(after.id);
    // Alice saw everything sent to her: nothing to report from her last event.
    const aliceBack = await connect(b, 'alice', everyone.id);
    const next = await a.sse.send('alice', 'next');
    await aliceBack.waitFor((c) => received(c).length >= 1);
    expect(received(aliceBack).map((e) => e.id)).toEqual([next.id]);
  });

  it('gives back every socket and timer on close, even while NATS is away', async () => {
    const port = await freePort();
    const before = handles();
    const a = await instance(`nats://127.0.0.1:${port}`);
    await connect(a, 'alice');
    await a.sse.send('alice', 'local');
    for (const client of clients.splice(0)) client.close();
    await apps.splice(0)[0].close();
    await new Promise((resolve) => setImmediate(resolve));
    expect(handles()).toEqual(before);
  });
});
