import { jetstreamManager } from '@nats-io/jetstream';
import { connect as connectNats } from '@nats-io/transport-node';
import { Redis } from 'ioredis';
import { v7 as uuidv7 } from 'uuid';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DemoServer } from './support/demo-server.js';
import { eventually } from './support/eventually.js';
import {
  natsRequirement,
  redisRequirement,
  TEST_NATS_URL,
  TEST_REDIS_URL,
} from './support/requirements.js';
import { RawSseClient } from './support/sse-client.js';

/**
 * Two demo instances on one broker and one `DEMO_SECRET`, one on Express with the direct
 * transport and one on Fastify with the observable one, act as one: tokens, messages,
 * presence, disconnects and replay cross over. Once on one Redis (`REDIS_URL`), once on
 * NATS (`NATS_URL`).
 */

interface DemoBroker {
  name: string;
  available: boolean;
  /** The demo's options naming the broker, with a prefix of this run's own. */
  options: Partial<Parameters<typeof DemoServer.start>[0]>;
  /** Deletes what the run left on the broker. */
  cleanup(): Promise<void>;
}

const redisPrefix = `demo-test:${uuidv7()}:`;
const natsPrefix = `demotest-${uuidv7()}`;
const brokers: DemoBroker[] = [
  {
    name: 'one Redis',
    available: (await redisRequirement()).available,
    options: { redisUrl: TEST_REDIS_URL, redisKeyPrefix: redisPrefix },
    async cleanup() {
      const admin = new Redis(TEST_REDIS_URL);
      try {
        const keys = await admin.keys(`${redisPrefix}*`);
        if (keys.length > 0) await admin.del(...keys);
      } finally {
        await admin.quit();
      }
    },
  },
  {
    name: 'NATS',
    available: (await natsRequirement()).available,
    options: { natsUrl: TEST_NATS_URL, natsPrefix },
    async cleanup() {
      const admin = await connectNats({ servers: TEST_NATS_URL });
      const jsm = await jetstreamManager(admin);
      for (const name of [
        `${natsPrefix}-history`,
        `KV_${natsPrefix}-presence`,
        `KV_${natsPrefix}-topics`,
      ]) {
        await jsm.streams.delete(name).catch(() => false);
      }
      await admin.close();
    },
  },
];

describe.each(brokers)('two demo instances on $name', (broker) => {
  const shared = { ...broker.options, secret: 'shared' };
  let one: DemoServer;
  let two: DemoServer;
  const clients: RawSseClient[] = [];

  beforeAll(async () => {
    if (!broker.available) return;
    one = await DemoServer.start({ ...shared, platform: 'express', transport: 'direct' });
    two = await DemoServer.start({ ...shared, platform: 'fastify', transport: 'observable' });
  });

  afterEach(async () => {
    for (const client of clients.splice(0)) client.close();
    if (broker.available) await Promise.all([one.untilConnections(0), two.untilConnections(0)]);
  });

  afterAll(async () => {
    await one?.close();
    await two?.close();
    if (broker.available) await broker.cleanup();
  });

  async function open(demo: DemoServer, token: string, lastEventId?: string) {
    const headers: Record<string, string> = { authorization: `Bearer ${token}` };
    if (lastEventId !== undefined) headers['last-event-id'] = lastEventId;
    const client = await RawSseClient.open(`${demo.url}/sse`, headers);
    clients.push(client);
    expect({ status: client.status, body: client.body }).toEqual({ status: 200, body: '' });
    await client.waitForEvents(1);
    return client;
  }

  it.skipIf(!broker.available)(
    'accepts one instance’s token on the other, delivers across them, answers presence for both and disconnects everywhere',
    async () => {
      const alice = await one.login('alice');
      const bob = await one.login('bob');
      const stream = await open(two, bob.token);
      await eventually(async () => {
        const online = await one.request('GET', '/sse/online', { token: alice.token });
        return JSON.stringify(online.body) === JSON.stringify({ users: ['bob'] });
      }, 'bob is online on the other instance');

      const json = { to: 'bob', data: { text: 'across instances' }, event: 'chat' };
      const answer = await one.request('POST', '/messages', { token: alice.token, json });
      expect(answer.body).toEqual({ id: expect.any(String), delivered: 1 });
      await stream.waitFor((c) => c.messages.length >= 2);
      expect(stream.messages[1]).toMatchObject({
        id: (answer.body as { id: string }).id,
        event: 'chat',
        data: '{"text":"across instances"}',
      });

      // DELETE /sse on one instance closes the user's stream on the other.
      const deleted = await one.request('DELETE', '/sse', { token: bob.token });
      expect(deleted.body).toEqual({ disconnected: true });
      await stream.waitForEnd();
      expect(stream.messages.at(-1)?.event).toBe('sse:close');
    },
  );

  it.skipIf(!broker.available)(
    'replays on one instance what was missed after leaving the other',
    async () => {
      const alice = await two.login('alice');
      const carol = await two.login('carol');
      const first = await open(two, carol.token);
      const resumeFrom = first.events[0].id!;
      first.close();
      await two.untilConnections(0);

      const ids: string[] = [];
      for (const data of ['while away 1', 'while away 2']) {
        const answer = await two.request('POST', '/messages', {
          token: alice.token,
          json: { to: 'carol', data },
        });
        expect((answer.body as { delivered: number }).delivered).toBe(0);
        ids.push((answer.body as { id: string }).id);
      }

      // Back through the other instance, which sent none of it: the history is the broker's.
      const resumed = await open(one, carol.token, resumeFrom);
      await resumed.waitFor((c) => c.messages.length >= 3);
      expect(resumed.messages.map((m) => [m.id, m.event, m.data])).toEqual([
        [resumeFrom, undefined, ''],
        [ids[0], undefined, 'while away 1'],
        [ids[1], undefined, 'while away 2'],
      ]);
    },
  );
});
