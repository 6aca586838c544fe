import { Redis } from 'ioredis';
import { v7 as uuidv7 } from 'uuid';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { RedisSseBroker } from 'nestjs-sse-hub/redis';
import { startApp, type TestApp } from './support/app.js';
import { eventually } from './support/eventually.js';
import { redisRequirement, TEST_REDIS_URL } from './support/requirements.js';
import {
  describeInstancesBehindRelays,
  describeSeveralInstances,
  type SseRelayedTarget,
} from './support/sse-instances.test-suite.js';

const redis = await redisRequirement();
const server = new URL(TEST_REDIS_URL);

describe.skipIf(!redis.available)('Redis', () => {
  let admin: Redis;
  // Prefixes used here, their keys deleted at the end.
  const prefixes: string[] = [];
  /** The key prefix of the latest group. */
  let keyPrefix = '';
  const presenceOf = (userId: string) => `${keyPrefix}u:{${userId}}:p`;

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

  /** A key prefix that no other test uses. */
  function newPrefix(): string {
    keyPrefix = `sse-cluster:${uuidv7()}:`;
    prefixes.push(keyPrefix);
    return keyPrefix;
  }

  const target: SseRelayedTarget = {
    server: { host: server.hostname, port: Number(server.port || 6379) },
    leavesAtOnce: true,
    group() {
      const prefix = newPrefix();
      return {
        broker: ({ via, presence } = {}) =>
          new RedisSseBroker({
            url: via === undefined ? TEST_REDIS_URL : `redis://${via}`,
            keyPrefix: prefix,
            ...presence,
          }),
        // A connection counts on the other instances once its instance has written it to
        // Redis, just after the first event.
        async settled(userId, apps) {
          const written = async (app: TestApp) =>
            Number(await admin.hget(presenceOf(userId), app.sse.stats().instanceId)) ===
            app.hub.localConnections(userId);
          await eventually(
            async () => (await Promise.all(apps.map(written))).every(Boolean),
            `the presence of ${userId}`,
          );
        },
        // The survivors' heartbeat clears the dead instance's keys.
        deadCleared: async (instanceId) =>
          (await admin.exists(`${prefix}i:${instanceId}:u`)) === 0 &&
          (await admin.zscore(`${prefix}instances`, instanceId)) === null &&
          (await admin.hget(presenceOf('bob'), instanceId)) === null,
      };
    },
  };
  describeSeveralInstances('one Redis', target);
  describeInstancesBehindRelays('one Redis', target);

  describe('one Redis, beyond what every broker keeps', () => {
    const apps: TestApp[] = [];

    afterEach(async () => {
      await Promise.all(apps.splice(0).map((app) => app.close()));
    });

    it('closes every Redis connection of every instance on app.close()', async () => {
      const keyPrefix = newPrefix();
      for (let i = 0; i < 2; i++) {
        const broker = new RedisSseBroker({ url: TEST_REDIS_URL, keyPrefix });
        apps.push(await startApp('express', { broker, heartbeat: 0 }));
      }
      const instanceIds = apps.map((app) => app.sse.stats().instanceId);
      const list = async (): Promise<string> => String(await admin.call('CLIENT', 'LIST'));
      for (const id of instanceIds) expect(await list()).toContain(id);
      await Promise.all(apps.splice(0).map((app) => app.close()));
      const after = await list();
      for (const id of instanceIds) expect(after).not.toContain(id);
    });
  });
});
