import { Redis } from 'ioredis';
import { v7 as uuidv7 } from 'uuid';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { redisRequirement, TEST_REDIS_URL } from '../../../../../test/support/requirements.js';
import { eventually } from '../../../../../test/support/eventually.js';
import type { SseEnvelope } from '../sse-broker.interface.js';
import { decodeSignal, encodeEntry, type SseBrokerSignal } from '../sse-broker.codec.js';
import { RedisSseKeys } from './redis-sse.keys.js';
import { RedisSseLedger } from './redis-sse.ledger.js';
import { RedisSsePublisher } from './redis-sse.publisher.js';

const redis = await redisRequirement();

describe.skipIf(!redis.available)('the lost-event ledger, on a real Redis', () => {
  const history = { size: 100, ttlMs: 60_000 };
  let client: Redis;
  let listener: Redis;
  let keys: RedisSseKeys;
  let ledger: RedisSseLedger;
  let heard: SseBrokerSignal[];
  let errors: unknown[];

  beforeEach(async () => {
    client = new Redis(TEST_REDIS_URL);
    listener = new Redis(TEST_REDIS_URL);
    keys = new RedisSseKeys(`ledger-spec:${uuidv7()}:`, 0);
    const onError = (_what: string, error: unknown): void => void errors.push(error);
    const publisher = new RedisSsePublisher(client, keys, 'me', history, onError);
    ledger = new RedisSseLedger(client, keys, publisher, 'me', history, onError);
    heard = [];
    errors = [];
    listener.on('message', (_channel: string, payload: string) => {
      const signal = decodeSignal(payload);
      if (signal !== undefined) heard.push(signal);
    });
    await listener.subscribe(keys.broadcastChannel);
    await eventually(async () => client.status === 'ready', 'connected');
  });

  afterEach(async () => {
    ledger.stop();
    const left = await client.keys(`${keys.prefix}*`);
    if (left.length > 0) await client.del(...left);
    await Promise.all([client.quit(), listener.quit()]);
  });

  function message(to: readonly string[] | null): SseEnvelope {
    const seq = uuidv7();
    return { id: seq, seq, data: 'x', to };
  }

  it('tells every instance of a sure loss at once, marks it, and reports it for replays', async () => {
    const lost = message(['alice']);
    ledger.lose(lost, true);
    expect(ledger.lostSeq('alice')).toBe(lost.seq);
    await ledger.flush();
    expect(await client.get(keys.userDropped('alice'))).toBe(lost.seq);
    await eventually(async () => heard.length === 1, 'the news arrives');
    expect(heard[0]).toEqual({
      kind: 'lost',
      origin: 'me',
      lost: { users: [['alice', lost.seq]] },
    });
    expect(errors).toEqual([]);
  });

  it('marks a timed-out message only when Redis did not keep it after all', async () => {
    const kept = message(['alice']);
    await client.xadd(keys.userStream('alice'), '*', 'm', encodeEntry(kept));
    const gone = message(['bob']);
    ledger.lose(kept, false);
    ledger.lose(gone, false);
    expect(ledger.lostSeq('alice')).toBeUndefined();
    expect(ledger.lostSeq('bob')).toBeUndefined();
    await ledger.flush();
    expect(await client.get(keys.userDropped('alice'))).toBeNull();
    expect(await client.get(keys.userDropped('bob'))).toBe(gone.seq);
    expect(ledger.lostSeq('alice')).toBeUndefined();
    expect(ledger.lostSeq('bob')).toBe(gone.seq);
    await eventually(async () => heard.length === 1, 'the news arrives');
    expect(heard[0]).toEqual({ kind: 'lost', origin: 'me', lost: { users: [['bob', gone.seq]] } });
    expect(errors).toEqual([]);
  });

  it('remembers what other instances lost, broadcasts as lost for everyone', () => {
    const all = uuidv7();
    const alice = uuidv7();
    ledger.heard({ all, users: [['alice', alice]] });
    expect(ledger.lostSeq(null)).toBe(all);
    expect(ledger.lostSeq('alice')).toBe(alice);
    expect(ledger.lostSeq('bob')).toBeUndefined();
  });
});
