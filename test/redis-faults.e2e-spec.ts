import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openStream, startApp, type TestApp } from './support/app.js';
import { eventually } from './support/eventually.js';
import { OwnRedis } from './support/own-redis.js';
import { redisServerBinaryRequirement } from './support/requirements.js';
import { received, type RawSseClient } from './support/sse-client.js';
import { describeServerFaults } from './support/sse-faults.test-suite.js';

const binary = redisServerBinaryRequirement();
const keyPrefix = 'faults:';

/** Whether an instance listens to the user's channel on the server at `url`. */
async function listening(url: string, userId: string): Promise<boolean> {
  const probe = new Redis(url, { lazyConnect: true, retryStrategy: () => null });
  try {
    await probe.connect();
    const reply = (await probe.call('PUBSUB', 'NUMSUB', `${keyPrefix}u:{${userId}}`)) as unknown[];
    return Number(reply[1]) > 0;
  } catch {
    return false;
  } finally {
    probe.disconnect();
  }
}

describe.skipIf(!binary.available)('Redis', () => {
  /** The latest server of the shared cases. */
  let latest: OwnRedis | undefined;

  describeServerFaults('redis', {
    async server(dir) {
      const redis = await OwnRedis.onDisk(dir);
      latest = redis;
      return { url: redis.url, start: () => redis.run(), stop: () => redis.stop() };
    },
    broker: (url) => latest!.broker(keyPrefix, url),
    // An instance counts a user online once presence in Redis says so, and hears the user's
    // messages once it has subscribed to the channel.
    async settled(userId, apps) {
      const online = await Promise.all(apps.map((app) => app.sse.isOnline(userId)));
      return online.every(Boolean) && (await listening(latest!.url, userId));
    },
    // A command on a closed connection fails at once.
    noticesAtOnce: true,
    exactTimers: false,
  });

  describe('the Redis broker when Redis fails, beyond what every broker keeps', () => {
    const apps: TestApp[] = [];
    const clients: RawSseClient[] = [];
    let dir = '';
    let redis: OwnRedis | undefined;

    beforeEach(() => {
      dir = mkdtempSync(join(tmpdir(), 'sse-redis-'));
    });

    afterEach(async () => {
      for (const client of clients.splice(0)) client.close();
      await Promise.all(apps.splice(0).map((app) => app.close()));
      await redis?.stop();
      redis = undefined;
      rmSync(dir, { recursive: true, force: true });
    });

    async function instance(): Promise<TestApp> {
      const app = await startApp('express', { broker: redis!.broker(keyPrefix), heartbeat: 0 });
      apps.push(app);
      return app;
    }

    async function connect(app: TestApp, userId: string, lastEventId?: string) {
      const client = await openStream(app, userId, lastEventId);
      clients.push(client);
      return client;
    }

    it('sends its scripts again when Redis has forgotten them', async () => {
      redis = await OwnRedis.onDisk(dir);
      await redis.run();
      const [a, b] = [await instance(), await instance()];
      const first = await connect(b, 'alice');
      const from = first.events[0].id!;
      first.close();
      await eventually(async () => !(await a.sse.isOnline('alice')), 'alice has left');
      await redis.admin.script('FLUSH');
      const sent = await a.sse.send('alice', 'after a flush');
      expect(sent).toMatchObject({ delivered: 0, stored: true });
      await redis.admin.script('FLUSH');
      const back = await connect(b, 'alice', from);
      await back.waitFor((c) => received(c).length >= 1);
      expect(received(back).map((e) => e.id)).toEqual([sent.id]);
    });
  });
});
