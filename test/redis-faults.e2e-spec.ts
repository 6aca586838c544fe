import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { eventually } from './support/eventually.js';
import { OwnRedis } from './support/own-redis.js';
import { redisServerBinaryRequirement } from './support/requirements.js';
import { received } from './support/sse-client.js';
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

  describeServerFaults(
    'redis',
    {
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
    },
    ({ serve, instance, connect }) => {
      it('sends its scripts again when Redis has forgotten them', async () => {
        await (await serve()).start();
        const redis = latest!;
        const [a, b] = [await instance(redis.url), await instance(redis.url)];
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
    },
  );
});
