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
import { RedisSseSendOrder } from './redis-sse.send-order.js';

const redis = await redisRequirement();

/** A message with a fresh seq. */
function message(to: readonly string[] | null): SseEnvelope {
  const seq = uuidv7();
  return { id: seq, seq, data: 'x', to };
}

/** Deletes what a test wrote and closes its connections. */
async function cleanUp(client: Redis, keys: RedisSseKeys, listener: Redis): Promise<void> {
  const left = await client.keys(`${keys.prefix}*`);
  if (left.length > 0) await client.del(...left);
  await Promise.all([client.quit(), listener.quit()]);
}

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
    await cleanUp(client, keys, listener);
  });

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

describe.skipIf(!redis.available)('the order of sends after a loss, on a real Redis', () => {
  const history = { size: 100, ttlMs: 60_000 };
  let client: Redis;
  let listener: Redis;
  let keys: RedisSseKeys;
  let ledger: RedisSseLedger;
  let order: RedisSseSendOrder;
  /** What another instance hears, in order: a message's seq, or `lost:<seq>`. */
  let heard: string[];

  beforeEach(async () => {
    // As the broker's own connection: nothing waits in a queue for Redis.
    client = new Redis(TEST_REDIS_URL, {
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
    });
    listener = new Redis(TEST_REDIS_URL);
    keys = new RedisSseKeys(`send-order-spec:${uuidv7()}:`, 0);
    const onError = (): void => undefined;
    const publisher = new RedisSsePublisher(client, keys, 'me', history, onError);
    ledger = new RedisSseLedger(client, keys, publisher, 'me', history, onError);
    order = new RedisSseSendOrder(ledger, publisher);
    heard = [];
    listener.on('message', (_channel: string, payload: string) => {
      const signal = decodeSignal(payload);
      if (signal?.kind === 'lost') {
        const { all, users } = signal.lost;
        heard.push(...(all === undefined ? [] : [`lost:${all}`]));
        heard.push(...users.map(([, seq]) => `lost:${seq}`));
      } else if (signal?.kind === 'message') {
        heard.push(payload.slice(signal.entry).split('\n')[0]);
      }
    });
    await listener.subscribe(keys.broadcastChannel, keys.userChannel('alice'));
  });

  afterEach(async () => {
    ledger.stop();
    if (client.status !== 'ready') await client.connect();
    await cleanUp(client, keys, listener);
  });

  it('a message sent once Redis is back follows the news of one lost while it was away', async () => {
    const lost = message(['alice']);
    // Lost before the connection is up: nothing could be told then.
    expect(await order.send(lost)).toBe('lost');
    ledger.lose(lost, true);
    await client.connect();
    const next = message(['alice']);
    expect(typeof (await order.send(next))).toBe('number');
    await eventually(async () => heard.length === 2, 'both arrive');
    expect(heard).toEqual([`lost:${lost.seq}`, next.seq]);
  });

  it('a message after a timed-out one waits for the stream check and its news', async () => {
    await client.connect();
    const timedOut = message(['alice']);
    ledger.lose(timedOut, false);
    const next = message(['alice']);
    const broadcast = message(null);
    const sends = [order.send(next), order.send(broadcast)];
    for (const outcome of await Promise.all(sends)) expect(typeof outcome).toBe('number');
    await eventually(async () => heard.length === 3, 'all arrive');
    expect(heard).toEqual([`lost:${timedOut.seq}`, next.seq, broadcast.seq]);
    expect(await client.get(keys.userDropped('alice'))).toBe(timedOut.seq);
  });

  it('a timed-out message that Redis kept after all is not told, and holds nothing', async () => {
    await client.connect();
    const late = message(['alice']);
    await client.xadd(keys.userStream('alice'), '*', 'm', encodeEntry(late));
    ledger.lose(late, false);
    const next = message(['alice']);
    expect(typeof (await order.send(next))).toBe('number');
    await eventually(async () => heard.length === 1, 'the message arrives');
    expect(heard).toEqual([next.seq]);
    expect(ledger.before(message(['alice']))).toBeUndefined();
  });

  it('a broadcast follows the news of a user’s loss; other users’ messages do not wait', async () => {
    await client.connect();
    const bobs = message(['bob']);
    ledger.lose(bobs, true);
    // Alice's client cannot skip bob's loss: nothing to wait for.
    const toAlice = message(['alice']);
    expect(ledger.before(toAlice)).toBeUndefined();
    const broadcast = message(null);
    expect(ledger.before(broadcast)).toBeDefined();
    await order.send(broadcast);
    await eventually(async () => heard.includes(broadcast.seq), 'the broadcast arrives');
    expect(heard.indexOf(`lost:${bobs.seq}`)).toBeLessThan(heard.indexOf(broadcast.seq));
  });

  it('holds every send while a failover is checked, then sends them after its news', async () => {
    await client.connect();
    let checked!: () => void;
    order.holdUntil(new Promise<void>((resolve) => (checked = resolve)));
    const first = message(['alice']);
    const second = message(null);
    const sends = Promise.all([order.send(first), order.send(second)]);
    // The check finds a message the old master acknowledged but never copied.
    const acknowledged = message(['alice']);
    await client.ping();
    expect(heard).toEqual([]);
    ledger.lose(acknowledged, true);
    checked();
    for (const outcome of await sends) expect(typeof outcome).toBe('number');
    await eventually(async () => heard.length === 3, 'all arrive');
    expect(heard).toEqual([`lost:${acknowledged.seq}`, first.seq, second.seq]);
  });

  it('without Redis, a held message fails at once rather than waiting for it', async () => {
    const lost = message(['alice']);
    ledger.lose(lost, true);
    expect(ledger.before(message(['alice']))).toBeUndefined();
    expect(await order.send(message(['alice']))).toBe('lost');
  });
});
