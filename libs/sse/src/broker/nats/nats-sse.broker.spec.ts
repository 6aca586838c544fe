import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { jetstreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/nats-core';
import { connect } from '@nats-io/transport-node';
import { v7 as uuidv7 } from 'uuid';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { natsRequirement, TEST_NATS_URL } from '../../../../../test/support/requirements.js';
import { startApp } from '../../../../../test/support/app.js';
import { RawSseClient } from '../../../../../test/support/sse-client.js';
import { describeSseBroker } from '../../../../../test/support/sse-broker.test-suite.js';
import { receivedData } from '../../../../../test/support/sse-client.js';
import { NatsSseBroker, NatsSseBrokerOptionsError } from '../../nats.js';
import { presenceShard, token, untoken } from './nats-sse.subjects.js';

const nats = await natsRequirement();

/** Deletes the streams (the history and the presence bucket's) made under the prefixes. */
async function deleteStreams(nc: NatsConnection, prefixes: Iterable<string>): Promise<void> {
  const jsm = await jetstreamManager(nc);
  for (const prefix of prefixes) {
    for (const name of [`${prefix}-history`, `KV_${prefix}-presence`, `KV_${prefix}-topics`]) {
      await jsm.streams.delete(name).catch(() => false);
    }
  }
}

describe('NatsSseBroker options and subjects', () => {
  it('refuses options that cannot work, naming the option', () => {
    const cases: Array<[object, string]> = [
      [{ servers: [] }, 'servers'],
      [{ servers: 'a b' }, 'servers'],
      [{ prefix: 'a.b' }, 'prefix'],
      [{ prefix: '' }, 'prefix'],
      [{ storage: 'disk' }, 'storage'],
      [{ replicas: 0 }, 'replicas'],
      [{ presenceTtlMs: 0 }, 'presenceTtlMs'],
      [{ presenceTtlMs: 1000, presenceHeartbeatMs: 1000 }, 'presenceHeartbeatMs'],
      [{ requestTimeoutMs: 1.5 }, 'requestTimeoutMs'],
    ];
    for (const [options, option] of cases) {
      let error: unknown;
      try {
        new NatsSseBroker(options);
      } catch (thrown) {
        error = thrown;
      }
      expect(error).toBeInstanceOf(NatsSseBrokerOptionsError);
      expect((error as NatsSseBrokerOptionsError).option).toBe(option);
      expect((error as Error).message).toContain('Potential solutions');
    }
  });

  it('makes one subject token of any user id or topic name, and reads it back', () => {
    for (const value of ['alice', 'a.b', 'team:42', 'x y*>', 'ünï', '', 'a@b_c-d']) {
      const encoded = token(value);
      expect(encoded).toMatch(/^[A-Za-z0-9_=-]+$/);
      expect(untoken(encoded)).toBe(value);
    }
    expect(presenceShard('alice')).toBe(presenceShard('alice'));
  });

  it('is the only part of the library that imports @nats-io', () => {
    const root = fileURLToPath(new URL('../../', import.meta.url));
    const offenders: string[] = [];
    const visit = (dir: string): void => {
      for (const entry of readdirSync(dir, { withFileTypes: true })) {
        const path = join(dir, entry.name);
        if (entry.isDirectory()) {
          if (path !== join(root, 'broker', 'nats')) visit(path);
        } else if (
          entry.name.endsWith('.ts') &&
          !entry.name.endsWith('.spec.ts') &&
          /from '@nats-io\//.test(readFileSync(path, 'utf8'))
        ) {
          offenders.push(path.slice(root.length));
        }
      }
    };
    visit(root);
    expect(offenders).toEqual([]);
  });
});

describe.skipIf(!nats.available)('NatsSseBroker on a real NATS', () => {
  let admin: NatsConnection;
  const prefixes = new Set<string>();
  const freshPrefix = (): string => {
    const prefix = `ssetest-${uuidv7()}`;
    prefixes.add(prefix);
    return prefix;
  };

  beforeAll(async () => {
    admin = await connect({ servers: TEST_NATS_URL });
  });

  afterAll(async () => {
    await deleteStreams(admin, prefixes);
    await admin.close();
  });

  describeSseBroker('NatsSseBroker', {
    create: () =>
      new NatsSseBroker({ servers: TEST_NATS_URL, prefix: freshPrefix(), storage: 'memory' }),
    cleanup: async () => {
      await deleteStreams(admin, prefixes);
      prefixes.clear();
    },
  });

  it('keeps a user’s history at history.size, and leaves no presence behind', async () => {
    const prefix = freshPrefix();
    const test = await startApp('express', {
      broker: new NatsSseBroker({ servers: TEST_NATS_URL, prefix, storage: 'memory' }),
      history: { size: 3 },
    });
    const client = await RawSseClient.open(`${test.url}/sse`, { 'x-user': 'alice' });
    await client.waitForEvents(1);
    for (let i = 0; i < 5; i++) await test.sse.send('alice', `m${i}`);
    await client.waitFor((c) => receivedData(c).length >= 5);
    const jsm = await jetstreamManager(admin);
    const info = await jsm.streams.info(`${prefix}-history`, { subjects_filter: '>' });
    // Three kept, one spare that tells a reader older ones were dropped.
    expect(info.state.subjects).toEqual({ [`${prefix}.u.${token('alice')}`]: 4 });
    expect(info.config.max_msgs_per_subject).toBe(4);
    const kv = await new Kvm(admin).open(`${prefix}-presence`);
    const keys = async (): Promise<string[]> => {
      const found: string[] = [];
      for await (const key of await kv.keys()) found.push(key);
      return found;
    };
    const { instanceId } = test.sse.stats();
    expect(await keys()).toEqual([`${instanceId}.${presenceShard('alice')}`]);
    expect((await kv.get(`${instanceId}.${presenceShard('alice')}`))?.json()).toEqual({ alice: 1 });
    client.close();
    await test.close();
    expect(await keys()).toEqual([]);
  });
});
