import { Redis } from 'ioredis';
import { v7 as uuidv7 } from 'uuid';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { SSE_GAP_EVENT, type SseModuleOptions, type SseSendResult } from 'nestjs-sse-hub';
import { RedisSseBroker } from 'nestjs-sse-hub/redis';
import { startApp, type TestApp } from './support/app.js';
import { eventually } from './support/eventually.js';
import { redisRequirement, TEST_REDIS_URL } from './support/requirements.js';
import { RawSseClient, received } from './support/sse-client.js';

const redis = await redisRequirement();

describe.skipIf(!redis.available)('topics across instances on one Redis', () => {
  let admin: Redis;
  let keyPrefix = '';
  const apps: TestApp[] = [];
  const clients: RawSseClient[] = [];
  const prefixes: string[] = [];

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
  });

  /** Two instances sharing a key prefix that no other test uses. */
  async function pair(options: SseModuleOptions = {}): Promise<[TestApp, TestApp]> {
    keyPrefix = `sse-topics:${uuidv7()}:`;
    prefixes.push(keyPrefix);
    const started: TestApp[] = [];
    for (let i = 0; i < 2; i++) {
      const broker = new RedisSseBroker({ url: TEST_REDIS_URL, keyPrefix });
      const app = await startApp('express', {
        broker,
        heartbeat: 0,
        authorizeTopics: () => true,
        ...options,
      });
      apps.push(app);
      started.push(app);
    }
    return [started[0], started[1]];
  }

  async function connect(
    app: TestApp,
    userId: string,
    options: { lastEventId?: string; topics?: string[] } = {},
  ): Promise<RawSseClient> {
    const query = (options.topics ?? []).map((t) => `topic=${encodeURIComponent(t)}`).join('&');
    const headers: Record<string, string> = { 'x-user': userId };
    if (options.lastEventId !== undefined) headers['last-event-id'] = options.lastEventId;
    const client = await RawSseClient.open(`${app.url}/sse${query ? `?${query}` : ''}`, headers);
    clients.push(client);
    await client.waitForEvents(1);
    return client;
  }

  /** Until the instance has written how many of its connections receive the topic. */
  async function counted(app: TestApp, topic: string, connections: number): Promise<void> {
    const instanceId = app.sse.stats().instanceId;
    await eventually(
      async () =>
        Number((await admin.hget(`${keyPrefix}t:{${topic}}:p`, instanceId)) ?? 0) === connections,
      `${connections} receiving connection(s) of ${topic} counted for an instance`,
    );
  }

  const ids = (client: RawSseClient): (string | undefined)[] => received(client).map((e) => e.id);

  it('a join on one instance reaches the member’s open stream on the other, without reconnecting', async () => {
    const [a, b] = await pair();
    const alice = await connect(b, 'alice');
    // Sent with the join, before B can have heard of it and subscribed to the topic's
    // channel: B reads them back from the topic's history (the catch-up), each once, then
    // the live ones.
    const joining = a.sse.join('alice', 'room');
    const early = Array.from({ length: 10 }, (_, i) => a.sse.publish('room', `m${i}`));
    expect(await joining).toBe(true);
    const sent: SseSendResult[] = await Promise.all(early);
    for (let i = 10; i < 20; i++) sent.push(await a.sse.publish('room', `m${i}`));
    await alice.waitFor((c) => received(c).length >= 20);
    const last = await b.sse.publish('room', 'from b');
    await alice.waitFor((c) => received(c).length >= 21);
    expect(ids(alice)).toEqual([...sent.map((r) => r.id), last.id]);
    expect(received(alice).map((e) => e.data)).toEqual([...sent.map((_, i) => `m${i}`), 'from b']);

    expect(await b.sse.leave('alice', 'room')).toBe(true);
    await counted(b, 'room', 0);
    const after = await a.sse.publish('room', 'after leave');
    expect(after.delivered).toBe(0);
    const mark = await a.sse.send('alice', 'mark');
    await alice.waitFor((c) => received(c).some((e) => e.id === mark.id));
    expect(ids(alice)).not.toContain(after.id);
    expect(alice.ended).toBe(false);
  });

  it('counts delivered across both instances, each connection once', async () => {
    const [a, b] = await pair();
    await a.sse.join('alice', 'team');
    await a.sse.join('carol', 'team');
    const aliceA = [await connect(a, 'alice'), await connect(a, 'alice')];
    const aliceB = await connect(b, 'alice');
    // Carol is a member and subscribed too: reached once.
    const carol = await connect(b, 'carol', { topics: ['team'] });
    const dave = await connect(a, 'dave', { topics: ['team'] });
    const bob = await connect(a, 'bob');
    await counted(a, 'team', 3);
    await counted(b, 'team', 2);
    const fromB = await b.sse.publish('team', 'hello', { event: 'chat' });
    const fromA = await a.sse.publish('team', 'again');
    expect(fromB.delivered).toBe(5);
    expect(fromA.delivered).toBe(5);
    expect(fromB.stored).toBe(true);
    for (const client of [...aliceA, aliceB, carol, dave]) {
      await client.waitFor((c) => received(c).length >= 2);
      expect(ids(client)).toEqual([fromB.id, fromA.id]);
      expect(received(client)[0].event).toBe('chat');
    }
    const mark = await a.sse.send('bob', 'mark');
    await bob.waitFor((c) => received(c).length >= 1);
    expect(ids(bob)).toEqual([mark.id]);
    expect(await b.sse.members('team')).toEqual(['alice', 'carol']);
    expect(await b.sse.topicsOf('alice')).toEqual(['team']);
  });

  it('replays after moving instance within the join and leave windows', async () => {
    const [a, b] = await pair();
    const first = await connect(a, 'alice');
    const from = first.events[0].id!;
    first.close();
    await eventually(async () => a.hub.localConnections('alice') === 0, 'alice gone from A');
    const before = await a.sse.publish('news', 'before join');
    await b.sse.join('alice', 'news');
    const during = [await a.sse.publish('news', 'member'), await a.sse.send('alice', 'own')];
    await a.sse.leave('alice', 'news');
    const after = await a.sse.publish('news', 'after leave');
    await b.sse.join('alice', 'news');
    const again = await b.sse.publish('news', 'member again');

    const back = await connect(b, 'alice', { lastEventId: from });
    await back.waitFor((c) => received(c).length >= 3);
    const live = await a.sse.publish('news', 'live');
    await back.waitFor((c) => received(c).length >= 4);
    expect(ids(back)).toEqual([during[0].id, during[1].id, again.id, live.id]);
    expect(ids(back)).not.toContain(before.id);
    expect(ids(back)).not.toContain(after.id);
    expect(received(back).some((e) => e.event === SSE_GAP_EVENT)).toBe(false);
  });

  it('a subscription alone replays the topic’s whole kept history after the resume point', async () => {
    const [a, b] = await pair();
    const first = await connect(a, 'bob', { topics: ['public:feed'] });
    const from = first.events[0].id!;
    first.close();
    await counted(a, 'public:feed', 0);
    const missed = [
      await b.sse.publish('public:feed', 'one'),
      await b.sse.publish('public:feed', 'two'),
    ];
    const back = await connect(b, 'bob', { lastEventId: from, topics: ['public:feed'] });
    await back.waitFor((c) => received(c).length >= 2);
    expect(ids(back)).toEqual(missed.map((r) => r.id));
  });

  it('listens to a topic’s channel only where a connection receives it, and leaves nothing behind', async () => {
    const [a, b] = await pair();
    const channel = `${keyPrefix}t:{lobby}`;
    const listeners = async (): Promise<number> => {
      const reply = (await admin.call('PUBSUB', 'NUMSUB', channel)) as [string, number];
      return Number(reply[1]);
    };
    await a.sse.join('alice', 'lobby');
    expect(await listeners()).toBe(0);
    const alice = await connect(b, 'alice');
    await eventually(async () => (await listeners()) === 1, 'B listens to the topic');
    await counted(b, 'lobby', 1);
    const sent = await a.sse.publish('lobby', 'hi');
    expect(sent.delivered).toBe(1);
    await alice.waitFor((c) => received(c).length >= 1);
    alice.close();
    await eventually(async () => (await listeners()) === 0, 'nobody listens to the topic');
    await counted(b, 'lobby', 0);
    expect(await admin.hlen(`${keyPrefix}t:{lobby}:p`)).toBe(0);
    expect(await admin.xlen(`${keyPrefix}t:{lobby}:h`)).toBe(1);
    expect(await admin.hkeys(`${keyPrefix}u:{alice}:t`)).toEqual(['lobby']);
    expect(b.hub.resourceCounts().connections).toBe(0);
  });

  it('refuses a join past maxTopicsPerUser, whatever instance asks', async () => {
    const [a, b] = await pair({ maxTopicsPerUser: 2 });
    await a.sse.join('alice', 't1');
    await b.sse.join('alice', 't2');
    await expect(a.sse.join('alice', 't3')).rejects.toMatchObject({
      name: 'SseTooManyTopicsError',
    });
    expect(await b.sse.join('alice', 't1')).toBe(false);
    expect(await a.sse.topicsOf('alice')).toEqual(['t1', 't2']);
  });
});
