import 'reflect-metadata';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Redis } from 'ioredis';
import { v7 as uuidv7 } from 'uuid';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { redisRequirement, TEST_REDIS_URL } from '../../../../../test/support/requirements.js';
import { startApp } from '../../../../../test/support/app.js';
import { RawSseClient, receivedData } from '../../../../../test/support/sse-client.js';
import { SseModule } from '../../sse.module.js';
import { SseService } from '../../sse.service.js';
import { describeSseBroker } from '../../../../../test/support/sse-broker.test-suite.js';
import { RedisSseBroker, RedisSseBrokerOptionsError } from '../../redis.js';

const redis = await redisRequirement();

/** Deletes every key under the prefixes, without touching anything else on the server. */
async function deleteKeys(admin: Redis, prefixes: Iterable<string>): Promise<void> {
  for (const prefix of prefixes) {
    let cursor = '0';
    do {
      const [next, keys] = await admin.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      if (keys.length > 0) await admin.del(...keys);
      cursor = next;
    } while (cursor !== '0');
  }
}

describe('RedisSseBroker options', () => {
  it('refuses options that cannot work, naming the option', () => {
    const cases: Array<[object, string]> = [
      [{ url: 'redis://h', redis: new Redis({ lazyConnect: true }) }, 'url'],
      [{ url: 'http://localhost' }, 'url'],
      [{ keyPrefix: 'a{b}' }, 'keyPrefix'],
      [{ presenceTtlMs: 0 }, 'presenceTtlMs'],
      [{ presenceTtlMs: 1000, presenceHeartbeatMs: 1000 }, 'presenceHeartbeatMs'],
      [{ commandTimeoutMs: 1.5 }, 'commandTimeoutMs'],
      [{ cluster: { nodes: [] } }, 'cluster'],
      [{ cluster: { nodes: ['no-port'] } }, 'cluster'],
      [{ cluster: { nodes: [{ host: 'h' }] } }, 'cluster'],
      [{ cluster: { nodes: ['h:7000'] }, url: 'redis://h' }, 'cluster'],
    ];
    for (const [options, option] of cases) {
      let error: unknown;
      try {
        new RedisSseBroker(options);
      } catch (thrown) {
        error = thrown;
      }
      expect(error).toBeInstanceOf(RedisSseBrokerOptionsError);
      expect((error as RedisSseBrokerOptionsError).option).toBe(option);
      expect((error as Error).message).toContain('Potential solutions');
    }
  });

  it('is the only part of the library that imports ioredis', () => {
    const root = fileURLToPath(new URL('../../', import.meta.url));
    const offenders: string[] = [];
    const visit = (dir: string): void => {
      for (const entry of readdirSync(dir, { withFileTypes: true })) {
        const path = join(dir, entry.name);
        if (entry.isDirectory()) {
          if (path !== join(root, 'broker', 'redis')) visit(path);
        } else if (
          entry.name.endsWith('.ts') &&
          !entry.name.endsWith('.spec.ts') &&
          path !== join(root, 'redis.ts') &&
          /from 'ioredis'/.test(readFileSync(path, 'utf8'))
        ) {
          offenders.push(path.slice(root.length));
        }
      }
    };
    visit(root);
    expect(offenders).toEqual([]);
  });
});

describe.skipIf(!redis.available)('RedisSseBroker on a real Redis', () => {
  let admin: Redis;
  const prefixes = new Set<string>();
  const freshPrefix = (): string => {
    const prefix = `sse-test:${uuidv7()}:`;
    prefixes.add(prefix);
    return prefix;
  };

  beforeAll(() => {
    admin = new Redis(TEST_REDIS_URL);
  });

  afterAll(async () => {
    await deleteKeys(admin, prefixes);
    await admin.quit();
  });

  describeSseBroker('RedisSseBroker', {
    create: () => new RedisSseBroker({ url: TEST_REDIS_URL, keyPrefix: freshPrefix() }),
    cleanup: async () => {
      await deleteKeys(admin, prefixes);
      prefixes.clear();
    },
  });

  it('keeps a user’s stream at history.size, and leaves no presence nor connection behind', async () => {
    const keyPrefix = freshPrefix();
    const test = await startApp('express', {
      broker: new RedisSseBroker({ url: TEST_REDIS_URL, keyPrefix }),
      history: { size: 3 },
    });
    const { instanceId } = test.sse.stats();
    const client = await RawSseClient.open(`${test.url}/sse`, { 'x-user': 'alice' });
    await client.waitForEvents(1);
    const sent = [];
    for (let i = 0; i < 5; i++) sent.push(await test.sse.send('alice', `m${i}`));
    expect(await admin.xlen(`${keyPrefix}u:{alice}:h`)).toBe(3);
    expect(await admin.get(`${keyPrefix}u:{alice}:d`)).toBe(sent[1].id);
    expect(await admin.hget(`${keyPrefix}u:{alice}:p`, instanceId)).toBe('1');
    expect(await admin.zscore(`${keyPrefix}instances`, instanceId)).not.toBeNull();
    expect(await admin.smembers(`${keyPrefix}i:${instanceId}:u`)).toEqual(['alice']);
    const names = async (): Promise<string> => String(await admin.call('CLIENT', 'LIST'));
    expect(await names()).toContain(`sse:events:${instanceId}`);

    client.close();
    await test.close();
    expect(await admin.exists(`${keyPrefix}u:{alice}:p`)).toBe(0);
    expect(await admin.zscore(`${keyPrefix}instances`, instanceId)).toBeNull();
    expect(await admin.hget(`${keyPrefix}counts`, instanceId)).toBeNull();
    expect(await admin.exists(`${keyPrefix}i:${instanceId}:u`)).toBe(0);
    expect(await names()).not.toContain(instanceId);
  });

  it('runs on copies of an existing client, under its key prefix, and leaves it open', async () => {
    const keyPrefix = freshPrefix();
    const own = new Redis(TEST_REDIS_URL, { keyPrefix: `${keyPrefix}outer:` });
    const test = await startApp('express', {
      broker: new RedisSseBroker({ redis: own, keyPrefix: 'inner:' }),
    });
    const client = await RawSseClient.open(`${test.url}/sse`, { 'x-user': 'alice' });
    await client.waitForEvents(1);
    const result = await test.sse.send('alice', 'hello');
    expect(result).toMatchObject({ delivered: 1, stored: true });
    await client.waitFor((c) => receivedData(c).length >= 1);
    expect(receivedData(client)).toEqual(['hello']);
    expect(await admin.xlen(`${keyPrefix}outer:inner:u:{alice}:h`)).toBe(1);
    client.close();
    await test.close();
    expect(own.status).toBe('ready');
    expect(await own.ping()).toBe('PONG');
    await own.quit();
  });

  it('is set up from SseModule.forRootAsync with a factory', async () => {
    const keyPrefix = freshPrefix();
    @Module({
      imports: [
        SseModule.forRootAsync({
          useFactory: async () => ({
            broker: new RedisSseBroker({ url: TEST_REDIS_URL, keyPrefix }),
            resolveUser: (request) => request.headers['x-user'],
          }),
        }),
      ],
    })
    class AsyncModule {}
    const app = await NestFactory.create(AsyncModule, { logger: false });
    await app.listen(0, '127.0.0.1');
    const url = (await app.getUrl()).replace('[::1]', '127.0.0.1');
    const client = await RawSseClient.open(`${url}/sse`, { 'x-user': 'alice' });
    await client.waitForEvents(1);
    const result = await app.get(SseService).send('alice', 'from async');
    expect(result).toMatchObject({ delivered: 1, stored: true });
    await client.waitFor((c) => receivedData(c).length >= 1);
    expect(receivedData(client)).toEqual(['from async']);
    client.close();
    await app.close();
  });
});
