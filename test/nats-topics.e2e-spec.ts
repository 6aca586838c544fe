import { jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';
import { connect as connectNats } from '@nats-io/transport-node';
import { filter, firstValueFrom } from 'rxjs';
import { v7 as uuidv7 } from 'uuid';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { NatsSseBroker } from 'nestjs-sse-hub/nats';
import { openStream, startApp, type TestApp } from './support/app.js';
import { eventually } from './support/eventually.js';
import { natsRequirement, TEST_NATS_URL } from './support/requirements.js';
import { RawSseClient, received, receivedData } from './support/sse-client.js';

const nats = await natsRequirement();

describe.skipIf(!nats.available)('topics on two instances over NATS', () => {
  let admin: NatsConnection;
  const prefixes: string[] = [];
  const apps: TestApp[] = [];
  const brokers = new Map<TestApp, NatsSseBroker>();
  const clients: RawSseClient[] = [];

  beforeAll(async () => {
    admin = await connectNats({ servers: TEST_NATS_URL });
  });

  afterAll(async () => {
    const jsm = await jetstreamManager(admin);
    for (const used of prefixes) {
      for (const name of [`${used}-history`, `KV_${used}-presence`, `KV_${used}-topics`]) {
        await jsm.streams.delete(name).catch(() => false);
      }
    }
    await admin.close();
  });

  afterEach(async () => {
    for (const client of clients.splice(0)) client.close();
    await Promise.all(apps.splice(0).map((app) => app.close()));
    brokers.clear();
  });

  async function pair(): Promise<[TestApp, TestApp]> {
    const prefix = `ssetopics-${uuidv7()}`;
    prefixes.push(prefix);
    for (let i = 0; i < 2; i++) {
      const broker = new NatsSseBroker({ servers: TEST_NATS_URL, prefix, storage: 'memory' });
      const app = await startApp('express', {
        broker,
        heartbeat: 0,
        authorizeTopics: () => true,
      });
      apps.push(app);
      brokers.set(app, broker);
    }
    return [apps[0], apps[1]];
  }

  async function connect(app: TestApp, userId: string, lastEventId?: string) {
    const client = await openStream(app, userId, lastEventId);
    clients.push(client);
    return client;
  }

  /** Waits until every instance counts the topic's receiving connections as `n`. */
  async function topicCounted(topic: string, n: number): Promise<void> {
    await eventually(async () => {
      for (const app of apps) {
        const { delivered } = await app.sse.publish(topic, 'probe', { event: 'probe' });
        if (delivered !== n) return false;
      }
      return true;
    }, `${n} receiving connections of ${topic} on every instance`);
  }

  const data = (client: RawSseClient) =>
    received(client)
      .filter((event) => event.event !== 'probe')
      .map((event) => event.data);

  it('a join on one instance reaches the member’s open stream on the other, and delivered counts both', async () => {
    const [a, b] = await pair();
    const alice = await connect(b, 'alice');
    const bob = await connect(a, 'bob');
    expect(await a.sse.join('alice', 'team:1')).toBe(true);
    expect(await a.sse.join('alice', 'team:1')).toBe(false);
    expect(await b.sse.join('bob', 'team:1')).toBe(true);
    await topicCounted('team:1', 2);
    const sent = await a.sse.publish('team:1', 'hello', { event: 'note' });
    expect(sent).toMatchObject({ delivered: 2, stored: true });
    const fromB = await b.sse.publish('team:1', 'again');
    expect(fromB.delivered).toBe(2);
    for (const client of [alice, bob]) {
      await client.waitFor((c) => data(c).includes('again'));
      expect(data(client)).toEqual(['hello', 'again']);
    }
    expect(await b.sse.members('team:1')).toEqual(['alice', 'bob']);
    expect(await a.sse.topicsOf('alice')).toEqual(['team:1']);
    expect(await b.sse.leave('alice', 'team:1')).toBe(true);
    await topicCounted('team:1', 1);
    const after = await a.sse.publish('team:1', 'after');
    expect(after.delivered).toBe(1);
    await bob.waitFor((c) => data(c).includes('after'));
    // Bob's stream got the event after alice's stopped: hers, on the same path, did not.
    await b.sse.send('alice', 'marker');
    await alice.waitFor((c) => data(c).includes('marker'));
    expect(data(alice)).toEqual(['hello', 'again', 'marker']);
  });

  it('an event published the instant a join resolves reaches the member on the other instance once', async () => {
    const [a, b] = await pair();
    const alice = await connect(b, 'alice');
    const expected: string[] = [];
    for (let i = 0; i < 5; i++) {
      // B applies the join after A's publish, or before it: either way, once.
      await a.sse.join('alice', `burst:${i}`);
      await a.sse.publish(`burst:${i}`, `first of ${i}`);
      await a.sse.publish(`burst:${i}`, `second of ${i}`);
      expected.push(`first of ${i}`, `second of ${i}`);
    }
    await alice.waitFor((c) => data(c).length >= expected.length);
    await b.sse.send('alice', 'end');
    await alice.waitFor((c) => data(c).includes('end'));
    const got = data(alice);
    expect([...got].sort()).toEqual([...expected, 'end'].sort());
    // In order within each topic; topics catch up side by side.
    for (let i = 0; i < 5; i++) {
      expect(got.indexOf(`first of ${i}`)).toBeLessThan(got.indexOf(`second of ${i}`));
    }
  });

  it('a member and subscriber on both instances counts once per connection', async () => {
    const [a, b] = await pair();
    await a.sse.join('carol', 'doc:9');
    const onA = await connect(a, 'carol');
    const subscribed = await openStreamWithTopics(b, 'carol', ['doc:9']);
    clients.push(subscribed);
    await topicCounted('doc:9', 2);
    const sent = await b.sse.publish('doc:9', 'once');
    expect(sent.delivered).toBe(2);
    for (const client of [onA, subscribed]) {
      await client.waitFor((c) => data(c).includes('once'));
      expect(data(client).filter((d) => d === 'once')).toHaveLength(1);
    }
  });

  it.each([
    ['on the other instance', 0],
    ['on its own instance', 1],
  ] as const)(
    'a join %s while topic events stream in: a subscribed stream gets each once, another stream of the user each after the join once',
    async (_, joiner) => {
      const [a, b] = await pair();
      // On B: one stream subscribed to the topics, one of the same user that is not.
      const subscribed = await openStreamWithTopics(b, 'erin', ['feed:0', 'feed:1', 'feed:2']);
      clients.push(subscribed);
      const plain = await connect(b, 'erin');
      await topicCounted('feed:0', 1);
      const ids = (client: RawSseClient, topic: string) =>
        received(client)
          .filter((event) => event.event === topic)
          .map((event) => event.id!);
      for (let round = 0; round < 3; round++) {
        const topic = `feed:${round}`;
        // Events keep coming from A while the join is written, told and applied on B.
        const sent: string[] = [];
        let joined = false;
        const afterJoin: string[] = [];
        const publishing = (async () => {
          for (let i = 0; i < 60; i++) {
            const done = joined;
            const { id } = await a.sse.publish(topic, `${topic} ${i}`, { event: topic });
            sent.push(id);
            if (done) afterJoin.push(id);
          }
        })();
        await new Promise((resolve) => setImmediate(resolve));
        expect(await [a, b][joiner].sse.join('erin', topic)).toBe(true);
        joined = true;
        await publishing;
        const marker = await b.sse.send('erin', `end of ${topic}`);
        for (const client of [subscribed, plain]) {
          await client.waitFor((c) => received(c).some((event) => event.id === marker.id));
        }
        // The subscribed stream had every event live: the join adds none again.
        expect(ids(subscribed, topic)).toEqual(sent);
        // The other stream gets each event after the join's seq once, in order, and every
        // event published once the join had resolved.
        const got = ids(plain, topic);
        expect(new Set(got).size).toBe(got.length);
        expect(got).toEqual(sent.slice(sent.indexOf(got[0])));
        expect(got).toEqual(expect.arrayContaining(afterJoin));
      }
    },
  );

  it('replays, after moving instance, only what was sent while the user was a member', async () => {
    const [a, b] = await pair();
    const first = await connect(a, 'dave');
    const resumeFrom = first.events[0].id!;
    const gone = firstValueFrom(a.sse.events$.pipe(filter((e) => e.type === 'disconnect')));
    first.close();
    await gone;
    await a.sse.publish('room', 'before join');
    await b.sse.join('dave', 'room');
    await a.sse.publish('room', 'member 1');
    await a.sse.leave('dave', 'room');
    await b.sse.publish('room', 'after leave');
    await a.sse.join('dave', 'room');
    await b.sse.publish('room', 'member 2');
    const moved = await connect(b, 'dave', resumeFrom);
    await moved.waitFor((c) => receivedData(c).includes('member 2'));
    expect(data(moved)).toEqual(['member 1', 'member 2']);
    const live = await a.sse.publish('room', 'live');
    expect(live.delivered).toBe(1);
    await moved.waitFor((c) => receivedData(c).includes('live'));
    expect(data(moved)).toEqual(['member 1', 'member 2', 'live']);
  });
});

/** A stream with subscriptions, through the ready route's `?topic=`. */
async function openStreamWithTopics(
  app: TestApp,
  userId: string,
  topics: readonly string[],
): Promise<RawSseClient> {
  const query = topics.map((t) => `topic=${encodeURIComponent(t)}`).join('&');
  const client = await RawSseClient.open(`${app.url}/sse?${query}`, { 'x-user': userId });
  await client.waitForEvents(1);
  return client;
}
