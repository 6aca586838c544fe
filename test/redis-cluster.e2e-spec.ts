import { createServer, connect as connectTcp, type Server, type Socket } from 'node:net';
import { Redis } from 'ioredis';
import { filter, firstValueFrom } from 'rxjs';
import { v7 as uuidv7 } from 'uuid';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  SSE_CLOSE_EVENT,
  SSE_GAP_EVENT,
  type SseModuleOptions,
  type SseSendResult,
} from 'nestjs-sse-hub';
import { RedisSseBroker, type RedisSseBrokerOptions } from 'nestjs-sse-hub/redis';
import { openStream, startApp, type TestApp } from './support/app.js';
import { eventually } from './support/eventually.js';
import { redisRequirement, TEST_REDIS_URL } from './support/requirements.js';
import { RawSseClient, received, receivedData } from './support/sse-client.js';

const redis = await redisRequirement();

/**
 * A TCP relay to Redis that can be cut: the instance behind it loses Redis at once, its
 * sockets closed and new ones refused, as when its process is killed. Nothing of it runs
 * its clean-up on Redis.
 */
class CuttableRelay {
  private readonly sockets = new Set<Socket>();
  private constructor(
    private readonly server: Server,
    readonly url: string,
  ) {}

  /** `delayMs`: how long what the instance sends waits before it goes on to Redis. */
  static async start(target: string, delayMs = 0): Promise<CuttableRelay> {
    const { hostname, port } = new URL(target);
    let relay: CuttableRelay | undefined;
    const server = createServer((socket) => {
      const upstream = connectTcp(Number(port || 6379), hostname);
      for (const end of [socket, upstream]) {
        relay!.sockets.add(end);
        end.on('close', () => relay!.sockets.delete(end));
        end.on('error', () => undefined);
      }
      if (delayMs > 0) {
        // Timers of one delay fire in the order they were set: the bytes keep their order.
        socket.on('data', (chunk) => setTimeout(() => upstream.write(chunk), delayMs));
        upstream.pipe(socket);
      } else {
        socket.pipe(upstream).pipe(socket);
      }
      socket.on('close', () => upstream.destroy());
      upstream.on('close', () => socket.destroy());
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    const relayPort = typeof address === 'object' && address !== null ? address.port : 0;
    relay = new CuttableRelay(server, `redis://127.0.0.1:${relayPort}`);
    return relay;
  }

  cut(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const socket of this.sockets) socket.destroy();
    return closed;
  }
}

describe.skipIf(!redis.available)('several instances on one Redis', () => {
  let admin: Redis;
  let keyPrefix = '';
  const apps: TestApp[] = [];
  const clients: RawSseClient[] = [];
  const prefixes: string[] = [];
  const relays: CuttableRelay[] = [];

  beforeAll(() => {
    admin = new Redis(TEST_REDIS_URL);
  });

  afterAll(async () => {
    for (const prefix of prefixes) {
      const keys = await admin.keys(`${prefix}*`);
      if (keys.length > 0) await admin.del(...keys);
    }
    await admin.quit();
  });

  afterEach(async () => {
    for (const client of clients.splice(0)) client.close();
    await Promise.all(apps.splice(0).map((app) => app.close()));
    await Promise.all(relays.splice(0).map((relay) => relay.cut()));
  });

  /** Instances sharing a key prefix that no other test uses. */
  async function cluster(
    count: number,
    options: SseModuleOptions = {},
    brokerOptions: RedisSseBrokerOptions = {},
  ): Promise<TestApp[]> {
    keyPrefix = `sse-cluster:${uuidv7()}:`;
    prefixes.push(keyPrefix);
    const started: TestApp[] = [];
    for (let i = 0; i < count; i++) {
      const broker = new RedisSseBroker({ url: TEST_REDIS_URL, keyPrefix, ...brokerOptions });
      const app = await startApp('express', { broker, heartbeat: 0, ...options });
      apps.push(app);
      started.push(app);
    }
    return started;
  }

  async function connect(app: TestApp, userId: string, lastEventId?: string) {
    const client = await openStream(app, userId, lastEventId);
    clients.push(client);
    // The connection counts on the other instances once its instance has written it to
    // Redis, just after the first event: wait for that, as the counts are asserted.
    const instanceId = app.sse.stats().instanceId;
    const open = app.hub.localConnections(userId);
    await eventually(
      async () => Number(await admin.hget(`${keyPrefix}u:{${userId}}:p`, instanceId)) >= open,
      `the presence of ${userId}`,
    );
    return client;
  }

  async function drop(app: TestApp, client: RawSseClient, userId: string): Promise<void> {
    const gone = firstValueFrom(
      app.sse.events$.pipe(filter((e) => e.type === 'disconnect' && e.userId === userId)),
    );
    client.close();
    await gone;
  }

  const ids = (client: RawSseClient) => received(client).map((event) => event.id);

  it('misses nothing sent on another instance at the instant a user first connects here', async () => {
    // History big enough to hold all that is sent during the window.
    const [a] = await cluster(1, { history: { size: 10_000 } });
    // b's commands reach Redis 30 ms late, its subscriptions too: a wide window in which a
    // sends to a user whose first connection on b is open but not yet subscribed.
    const slow = await CuttableRelay.start(TEST_REDIS_URL, 30);
    relays.push(slow);
    const b = await startApp('express', {
      broker: new RedisSseBroker({ url: slow.url, keyPrefix }),
      heartbeat: 0,
      history: { size: 10_000 },
    });
    apps.push(b);
    for (let round = 0; round < 5; round++) {
      const userId = `fresh-${round}`;
      const sent: SseSendResult[] = [];
      let sending = true;
      const sender = (async () => {
        while (sending && sent.length < 5000) sent.push(await a.sse.send(userId, sent.length));
      })();
      await eventually(async () => sent.length >= 10, 'sending has started');
      // The user's first connection on b: b subscribes to the user's channel meanwhile.
      const client = await connect(b, userId);
      const firstId = client.events[0].id!;
      const atConnect = sent.length;
      await eventually(async () => sent.length >= atConnect + 50, 'more was sent');
      sending = false;
      await sender;
      const due = sent.filter((message) => message.id > firstId).map((message) => message.id);
      const last = sent.at(-1)!.id;
      await client.waitFor((c) => ids(c).includes(last), 10_000, 'the last message');
      const got = ids(client);
      expect(received(client).some((event) => event.event === SSE_GAP_EVENT)).toBe(false);
      // Everything sent after the first event arrived; in order and once each.
      expect(due.filter((id) => !got.includes(id))).toEqual([]);
      expect(got).toEqual([...new Set(got)].sort());
      client.close();
    }
  });

  it('delivers a message sent on one instance to every tab on every instance, once, in order', async () => {
    const [a, b, c] = await cluster(3);
    const tabs = [
      await connect(a, 'alice'),
      await connect(b, 'alice'),
      await connect(b, 'alice'),
      await connect(c, 'alice'),
    ];
    const bob = await connect(c, 'bob');
    const sent: SseSendResult[] = [];
    for (let i = 0; i < 10; i++) sent.push(await a.sse.send('alice', `m${i}`));
    const last = await c.sse.send('alice', 'last');
    expect(sent.map((s) => s.delivered)).toEqual(Array(10).fill(4));
    expect(sent.every((s) => s.stored)).toBe(true);
    for (const tab of tabs) {
      await tab.waitFor((t) => ids(t).includes(last.id));
      expect(ids(tab)).toEqual([...sent.map((s) => s.id), last.id]);
    }
    const forBob = await b.sse.send('bob', 'bob');
    expect(forBob.delivered).toBe(1);
    await bob.waitFor((t) => received(t).length >= 1);
    expect(ids(bob)).toEqual([forBob.id]);
  });

  it('broadcasts from one instance to every connection of every instance', async () => {
    const [a, b, c] = await cluster(3);
    const everyone = [
      await connect(a, 'alice'),
      await connect(b, 'bob'),
      await connect(b, 'bob'),
      await connect(c, 'carol'),
    ];
    const news = await b.sse.broadcast({ headline: 'hello' }, { event: 'news' });
    expect(news).toMatchObject({ delivered: 4, stored: true });
    const some = await c.sse.sendToUsers(['alice', 'bob', 'zed'], 'to some');
    expect(some.delivered).toBe(3);
    for (const client of everyone) {
      await client.waitFor((t) => received(t).length >= 1);
      expect(received(client)[0]).toMatchObject({ id: news.id, event: 'news' });
    }
    for (const client of everyone.slice(0, 3)) {
      await client.waitFor((t) => received(t).length >= 2);
      expect(ids(client)).toEqual([news.id, some.id]);
    }
  });

  it('sends one event to a long list of users, parts of it in order with what follows', async () => {
    const [a, b] = await cluster(2);
    const alice = await connect(b, 'alice');
    const zed = await connect(a, 'zed');
    const many = [...Array.from({ length: 1200 }, (_, i) => `user-${i}`), 'zed', 'alice'];
    const [first, next] = await Promise.all([
      a.sse.sendToUsers(many, 'to many'),
      a.sse.send('alice', 'right after'),
    ]);
    expect(first).toMatchObject({ delivered: 2, stored: true });
    for (const client of [alice, zed]) {
      await client.waitFor((t) => ids(t).includes(first.id));
    }
    await alice.waitFor((t) => ids(t).includes(next.id));
    expect(ids(alice)).toEqual([first.id, next.id]);
    expect(ids(zed)).toEqual([first.id]);
  });

  it('replays on another instance exactly what was missed on the first', async () => {
    const [a, b, c] = await cluster(3);
    const first = await connect(a, 'alice');
    const from = first.events[0].id!;
    await drop(a, first, 'alice');
    const missed = [
      await c.sse.send('alice', 'one'),
      await b.sse.broadcast('news'),
      await a.sse.send('alice', 'two', { id: 'custom-2' }),
      await c.sse.send('bob', 'not for alice'),
    ];
    expect(missed[0].delivered).toBe(0);
    const back = await connect(b, 'alice', from);
    expect(back.events[0].id).toBe(from);
    await back.waitFor((t) => received(t).length >= 3);
    const live = await c.sse.send('alice', 'live');
    await back.waitFor((t) => ids(t).includes(live.id));
    expect(ids(back)).toEqual([missed[0].id, missed[1].id, 'custom-2', live.id]);
    expect(received(back).some((e) => e.event === SSE_GAP_EVENT)).toBe(false);

    // From a message id, on a third instance.
    const again = await connect(c, 'alice', 'custom-2');
    await again.waitFor((t) => received(t).length >= 1);
    expect(ids(again)).toEqual([live.id]);
  });

  it('loses and repeats nothing when a client resumes on one instance while another sends', async () => {
    const [a, b] = await cluster(2, { history: { size: 1000 } });
    const first = await connect(a, 'alice');
    const from = first.events[0].id!;
    await drop(a, first, 'alice');
    const sent: string[] = [];
    let resumed: Promise<RawSseClient> | undefined;
    for (let batch = 0; batch < 8; batch++) {
      if (batch === 2) resumed = connect(b, 'alice', from);
      const results = await Promise.all(
        Array.from({ length: 25 }, (_, i) => a.sse.send('alice', `b${batch}m${i}`)),
      );
      sent.push(...results.map((r) => r.id));
    }
    const back = await resumed!;
    // Anything doubled would arrive before this last one.
    const last = await a.sse.send('alice', 'last');
    await back.waitFor((t) => ids(t).includes(last.id));
    expect(ids(back)).toEqual([...sent, last.id]);
  });

  it('sends sse:gap on another instance when more was missed than is kept', async () => {
    const [a, b] = await cluster(2, { history: { size: 2 } });
    const first = await connect(a, 'alice');
    const from = first.events[0].id!;
    await drop(a, first, 'alice');
    const sent: SseSendResult[] = [];
    for (let i = 0; i < 4; i++) sent.push(await a.sse.send('alice', `m${i}`));
    const back = await connect(b, 'alice', from);
    await back.waitFor((t) => received(t).length >= 3);
    const [gap, ...events] = received(back);
    expect(gap.event).toBe(SSE_GAP_EVENT);
    expect(JSON.parse(gap.data!).reason).toBe('expired');
    expect(events.map((e) => e.id)).toEqual([sent[2].id, sent[3].id]);
  });

  it('answers presence for the whole cluster, and disconnects a user everywhere', async () => {
    const [a, b, c] = await cluster(3);
    const alice = [await connect(b, 'alice'), await connect(c, 'alice')];
    await connect(c, 'carol');
    expect(await a.sse.isOnline('alice')).toBe(true);
    expect(await a.sse.isOnline('nobody')).toBe(false);
    expect((await a.sse.onlineUsers()).sort()).toEqual(['alice', 'carol']);
    expect((await a.sse.send('alice', 'x')).delivered).toBe(2);

    expect(await a.sse.disconnect('alice')).toBe(true);
    for (const tab of alice) {
      await tab.waitForEnd();
      expect(received(tab).at(-1)?.event).toBe(SSE_CLOSE_EVENT);
    }
    await eventually(async () => !(await a.sse.isOnline('alice')), 'alice is offline');
    expect(await a.sse.onlineUsers()).toEqual(['carol']);
    expect(await a.sse.disconnect('alice')).toBe(false);

    // An instance that shuts down cleanly leaves presence at once.
    await c.close();
    apps.splice(apps.indexOf(c), 1);
    expect(await a.sse.isOnline('carol')).toBe(false);
    expect(await b.sse.onlineUsers()).toEqual([]);
  });

  it('drops an instance that dies without cleaning up out of presence within presenceTtlMs', async () => {
    const presence = { presenceTtlMs: 1500, presenceHeartbeatMs: 300 };
    const [a] = await cluster(1, {}, presence);
    const relay = await CuttableRelay.start(TEST_REDIS_URL);
    const doomed = await startApp('express', {
      broker: new RedisSseBroker({ url: relay.url, keyPrefix, ...presence }),
      heartbeat: 0,
    });
    apps.push(doomed);
    const doomedId = doomed.sse.stats().instanceId;
    await connect(doomed, 'bob');
    await connect(a, 'alice');
    expect(await a.sse.isOnline('bob')).toBe(true);
    expect((await a.sse.send('bob', 'hi')).delivered).toBe(1);
    expect((await a.sse.broadcast('all')).delivered).toBe(2);

    await relay.cut();
    await eventually(async () => !(await a.sse.isOnline('bob')), 'bob drops out');
    expect(await a.sse.onlineUsers()).toEqual(['alice']);
    expect((await a.sse.send('bob', 'hi')).delivered).toBe(0);
    expect((await a.sse.broadcast('all')).delivered).toBe(1);
    // The survivors' heartbeat clears what the dead instance left.
    await eventually(
      async () =>
        (await admin.exists(`${keyPrefix}i:${doomedId}:u`)) === 0 &&
        (await admin.zscore(`${keyPrefix}instances`, doomedId)) === null,
      'the dead instance is cleared',
    );
    expect(await admin.hget(`${keyPrefix}u:{bob}:p`, doomedId)).toBeNull();
    // The cut-off instance still serves its own connection.
    expect(await doomed.sse.isOnline('bob')).toBe(true);
    expect((await doomed.sse.send('bob', 'local')).delivered).toBe(1);
  });

  it('closes every Redis connection of every instance on app.close()', async () => {
    const [a, b] = await cluster(2);
    const instanceIds = [a, b].map((app) => app.sse.stats().instanceId);
    const list = async (): Promise<string> => String(await admin.call('CLIENT', 'LIST'));
    for (const id of instanceIds) expect(await list()).toContain(id);
    await Promise.all(apps.splice(0).map((app) => app.close()));
    const after = await list();
    for (const id of instanceIds) expect(after).not.toContain(id);
  });

  it('keeps data intact across instances: strings, lines, JSON, names', async () => {
    const [a, b] = await cluster(2);
    const client = await connect(b, 'alice');
    await a.sse.send('alice', 'line one\nline two\n\nline four', { event: 'multi' });
    await a.sse.send('alice', { text: 'é€😀', n: [1, 2] });
    const last = await a.sse.send('alice', '');
    await client.waitFor((t) => ids(t).includes(last.id));
    expect(receivedData(client)).toEqual([
      'line one\nline two\n\nline four',
      JSON.stringify({ text: 'é€😀', n: [1, 2] }),
      '',
    ]);
    expect(received(client)[0].event).toBe('multi');
  });
});
