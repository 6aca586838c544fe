import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect as connectNats } from '@nats-io/transport-node';
import { Redis } from 'ioredis';
import { v7 as uuidv7 } from 'uuid';
import { afterEach, describe, expect, it } from 'vitest';
import {
  SseInvalidTopicError,
  SseMessageTooLargeError,
  SseOptionsError,
  type SseBroker,
  type SseSendResult,
} from 'nestjs-sse-hub';
import { NatsSseBroker } from 'nestjs-sse-hub/nats';
import { SsePublisher } from 'nestjs-sse-hub/publisher';
import { RedisSseBroker } from 'nestjs-sse-hub/redis';
import { openStream, startApp, type TestApp } from './support/app.js';
import { eventually } from './support/eventually.js';
import {
  natsRequirement,
  redisRequirement,
  TEST_NATS_URL,
  TEST_REDIS_URL,
} from './support/requirements.js';
import { received, type RawSseClient } from './support/sse-client.js';

const run = promisify(execFile);
const WORKER = fileURLToPath(new URL('./fixtures/publisher/worker.mjs', import.meta.url));
const [redis, nats] = await Promise.all([redisRequirement(), natsRequirement()]);

interface WorkerResults {
  send: SseSendResult;
  sendToUsers: SseSendResult;
  publish: SseSendResult | null;
  broadcast: SseSendResult;
  refused: string;
}

const kinds = [
  {
    kind: 'redis' as const,
    available: redis.available,
    topics: true,
    url: TEST_REDIS_URL,
    broker: (prefix: string): SseBroker =>
      new RedisSseBroker({ url: TEST_REDIS_URL, keyPrefix: prefix }),
    cleanup: async (prefix: string) => {
      const client = new Redis(TEST_REDIS_URL);
      const keys = await client.keys(`${prefix}*`);
      if (keys.length > 0) await client.del(...keys);
      await client.quit();
    },
  },
  {
    kind: 'nats' as const,
    available: nats.available,
    topics: true,
    url: TEST_NATS_URL,
    broker: (prefix: string): SseBroker =>
      new NatsSseBroker({ servers: TEST_NATS_URL, prefix, storage: 'memory' }),
    cleanup: async (prefix: string) => {
      const nc = await connectNats({ servers: TEST_NATS_URL });
      const jsm = await jetstreamManager(nc);
      for (const name of [`${prefix}-history`, `KV_${prefix}-presence`, `KV_${prefix}-topics`]) {
        await jsm.streams.delete(name).catch(() => false);
      }
      await nc.close();
    },
  },
];

for (const setup of kinds) {
  describe.skipIf(!setup.available)(`SsePublisher in a worker process over ${setup.kind}`, () => {
    const apps: TestApp[] = [];
    const clients: RawSseClient[] = [];
    let prefix = '';

    afterEach(async () => {
      for (const client of clients.splice(0)) client.close();
      await Promise.all(apps.splice(0).map((app) => app.close()));
      await setup.cleanup(prefix);
    });

    async function connect(app: TestApp, userId: string, lastEventId?: string) {
      const client = await openStream(app, userId, lastEventId);
      clients.push(client);
      return client;
    }

    const data = (client: RawSseClient) =>
      received(client)
        .filter((event) => event.event !== 'probe')
        .map((event) => event.data);

    it('reaches two instances’ clients, counts them, and is replayed after a reconnect', async () => {
      prefix = setup.kind === 'redis' ? `ssepub-${uuidv7()}:` : `ssepub-${uuidv7()}`;
      for (let i = 0; i < 2; i++) {
        const app = await startApp('express', {
          broker: setup.broker(prefix),
          heartbeat: 0,
          history: { size: 50 },
        });
        apps.push(app);
      }
      const [a, b] = apps;
      const topic = setup.topics ? 'team:7' : null;
      const aliceA = await connect(a, 'alice');
      const aliceB = await connect(b, 'alice');
      const bob = await connect(b, 'bob');
      if (topic !== null) await b.sse.join('alice', topic);
      // Every instance's presence counts what the worker's sends will be measured against.
      await eventually(async () => {
        const both = await a.sse.sendToUsers(['alice', 'bob'], '', { event: 'probe' });
        const team =
          topic === null ? 2 : (await b.sse.publish(topic, '', { event: 'probe' })).delivered;
        return both.delivered === 3 && team === 2;
      }, 'presence on both instances');

      const { stdout } = await run(process.execPath, [WORKER], {
        env: {
          ...process.env,
          SSE_WORKER: JSON.stringify({
            broker: setup.kind,
            url: setup.url,
            prefix,
            topic,
            users: { alice: 2, bob: 1 },
            topics: topic === null ? {} : { [topic]: 2 },
          }),
        },
        timeout: 20_000,
      });
      const results = JSON.parse(stdout) as WorkerResults;
      expect(results.send).toMatchObject({ delivered: 2, stored: true });
      expect(results.sendToUsers).toMatchObject({ delivered: 3, stored: true });
      expect(results.publish).toEqual(
        topic === null ? null : { id: 'topic-1', delivered: 2, stored: true },
      );
      expect(results.broadcast).toMatchObject({ delivered: 3, stored: true });
      expect(results.refused).toBe('SseInvalidTopicError');

      const forAlice = ['to alice', '{"to":"both"}', 'to the topic', 'to everyone'].filter(
        (d) => topic !== null || d !== 'to the topic',
      );
      for (const client of [aliceA, aliceB]) {
        await client.waitFor((c) => data(c).length >= forAlice.length);
        expect(data(client)).toEqual(forAlice);
      }
      await bob.waitFor((c) => data(c).length >= 2);
      expect(data(bob)).toEqual(['{"to":"both"}', 'to everyone']);
      const workEvent = received(aliceA).find((e) => e.data === 'to alice');
      expect(workEvent).toMatchObject({ event: 'work', id: results.send.id });

      // A client that was away from the first event on replays the worker's events.
      const resumeFrom = aliceA.events[0].id!;
      const back = await connect(a, 'alice', resumeFrom);
      await back.waitFor((c) => data(c).includes('to everyone'));
      expect(data(back)).toEqual(forAlice);
      expect(received(back).some((e) => e.id === 'topic-1')).toBe(topic !== null);
    });

    it('refuses what SseService refuses, and stops after close()', async () => {
      prefix = setup.kind === 'redis' ? `ssepub-${uuidv7()}:` : `ssepub-${uuidv7()}`;
      const publisher = new SsePublisher({ broker: setup.broker(prefix) });
      await publisher.ready();
      await expect(publisher.send('', 'x')).rejects.toThrow(/Potential solutions/);
      await expect(publisher.send('alice', 'x', { event: 'a\nb' })).rejects.toThrow(
        /Potential solutions/,
      );
      await expect(publisher.send('alice', 'x'.repeat(70_000))).rejects.toThrow(
        SseMessageTooLargeError,
      );
      await expect(publisher.publish('a b', 'x')).rejects.toThrow(SseInvalidTopicError);
      expect(() => new SsePublisher({ broker: {} as SseBroker })).toThrow(SseOptionsError);
      expect(await publisher.sendToUsers([], 'x')).toMatchObject({ delivered: 0, stored: false });
      expect(await publisher.send('nobody', 'x')).toMatchObject({ delivered: 0, stored: true });
      await publisher.close();
      await expect(publisher.broadcast('late')).rejects.toThrow(/closed/);
    });
  });
}
