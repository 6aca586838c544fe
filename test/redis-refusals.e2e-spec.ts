import { afterEach, describe, expect, it } from 'vitest';
import { SSE_GAP_EVENT } from 'nestjs-sse-hub';
import { openStream, startApp, type TestApp } from './support/app.js';
import { eventually } from './support/eventually.js';
import { OwnRedis } from './support/own-redis.js';
import { freePort } from './support/free-port.js';
import { redisServerBinaryRequirement } from './support/requirements.js';
import type { RawSseClient } from './support/sse-client.js';

const binary = redisServerBinaryRequirement();

/**
 * A user's client as an EventSource is: when its stream ends it comes back at once from
 * the last id it saw, on the same instance. Keeps what it received over all its streams.
 */
class ResumingClient {
  readonly data: string[] = [];
  readonly gaps: { reason: string; lastEventId: string; at: number }[] = [];
  /** When each message (not gap) arrived. */
  readonly arrivals: number[] = [];
  reconnects = 0;
  private stream: RawSseClient | undefined;
  private seen = 0;
  private lastId: string | undefined;
  private stopped = false;
  private following: Promise<void> = Promise.resolve();

  constructor(
    private readonly app: TestApp,
    private readonly userId: string,
  ) {}

  async start(): Promise<void> {
    await this.open();
  }

  private async open(): Promise<void> {
    const stream = await openStream(this.app, this.userId, this.lastId);
    this.stream = stream;
    this.seen = 0;
    this.following = this.follow(stream);
  }

  private async follow(stream: RawSseClient): Promise<void> {
    // Reads every event as it comes, and reconnects once the server ends the stream.
    await stream
      .waitFor(
        (c) => {
          for (; this.seen < c.events.length; this.seen++) this.take(c.events[this.seen]);
          return c.ended;
        },
        60_000,
        'the end of the stream',
      )
      .catch(() => undefined);
    if (this.stopped || this.stream !== stream) return;
    this.reconnects++;
    await this.open();
  }

  private take(event: RawSseClient['events'][number]): void {
    if (event.id !== undefined) this.lastId = event.id;
    if (event.data === undefined || event.data === '') return;
    if (event.event === SSE_GAP_EVENT)
      this.gaps.push({ ...JSON.parse(event.data), at: Date.now() });
    else if (event.event === undefined) {
      this.data.push(event.data);
      this.arrivals.push(Date.now());
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.stream?.close();
    await this.following;
  }
}

/** A message `a` sent to bob, and what its receipt said. */
interface Sent {
  readonly id: string;
  readonly stored: boolean;
  readonly data: string;
  readonly at: number;
}

describe.skipIf(!binary.available)('the Redis broker when Redis refuses writes', () => {
  const apps: TestApp[] = [];
  const clients: ResumingClient[] = [];
  let redis: OwnRedis | undefined;

  afterEach(async () => {
    for (const client of clients.splice(0)) await client.stop();
    await Promise.all(apps.splice(0).map((app) => app.close()));
    await redis?.stop();
    redis = undefined;
  });

  async function instance(url: string): Promise<TestApp> {
    const app = await startApp('express', {
      broker: redis!.broker('refusals:', url),
      heartbeat: 0,
    });
    apps.push(app);
    return app;
  }

  async function follow(app: TestApp, userId: string): Promise<ResumingClient> {
    const client = new ResumingClient(app, userId);
    clients.push(client);
    await client.start();
    return client;
  }

  /**
   * Two instances, bob's client on b and alice's on a; `a` sends to bob (and broadcasts)
   * while `fault` is on, then once it is healed until Redis stores again. Every message
   * either reaches bob's client or bob's client is told of a gap from before it.
   */
  async function sendThrough(
    fault: { inject(a: TestApp): Promise<void>; between?(a: TestApp): Promise<void> },
    heal: () => Promise<void>,
  ): Promise<{ bob: ResumingClient; sent: Sent[] }> {
    const url = redis!.url;
    const [a, b] = [await instance(url), await instance(url)];
    const bob = await follow(b, 'bob');
    await follow(a, 'alice');
    await eventually(async () => a.sse.isOnline('bob'), 'a sees bob online');
    const sent: Sent[] = [];
    const send = async (data: string): Promise<void> => {
      const at = Date.now();
      const receipt = await a.sse.send('bob', data);
      sent.push({ id: receipt.id, stored: receipt.stored, data, at });
    };
    await send('before');
    await fault.inject(a);
    for (let i = 0; i < 20; i++) {
      await fault.between?.(a);
      await send(`during ${i}`);
    }
    await heal();
    await eventually(async () => {
      await send('after');
      return sent.at(-1)!.stored;
    }, 'Redis stores again');
    // The last message was stored and published: once bob has it, he has had all he gets.
    await eventually(async () => bob.data.includes('after'), 'bob has the last message');
    return { bob, sent };
  }

  /**
   * Messages bob's client neither received nor was told of: by a gap that came after the
   * message was sent (from a replay, or at once on the stream it had open), or by one that
   * came before it with no message between (a gap says that events may be missing until
   * the next one arrives).
   */
  function silentlyLost(bob: ResumingClient, sent: readonly Sent[]): string[] {
    const told = (m: Sent): boolean =>
      bob.gaps.some(
        (gap) => gap.at >= m.at || !bob.arrivals.some((at) => at > gap.at && at < m.at),
      );
    const silent = sent
      .filter((message) => !bob.data.includes(message.data))
      .filter((m) => !told(m))
      .map((message) => message.data);
    const received = sent.filter((message) => bob.data.includes(message.data)).length;
    console.info(
      `[refusals] sent ${sent.length}, not stored ${sent.filter((m) => !m.stored).length}, ` +
        `received ${received}, gaps ${bob.gaps.length}, reconnects ${bob.reconnects}, ` +
        `silent ${silent.length}`,
    );
    return silent;
  }

  it('out of memory: other instances tell their clients of the gap', async () => {
    redis = await OwnRedis.start();
    const { bob, sent } = await sendThrough(
      {
        inject: async () => {
          await redis!.admin.config('SET', 'maxmemory-policy', 'noeviction');
          await redis!.admin.config('SET', 'maxmemory', '1');
        },
      },
      async () => {
        await redis!.admin.config('SET', 'maxmemory', '0');
      },
    );
    expect(sent.filter((m) => !m.stored).length).toBeGreaterThan(0);
    expect(bob.gaps.length).toBeGreaterThan(0);
    // Redis still answers reads when it refuses writes: never "unavailable".
    expect(bob.gaps.map((gap) => gap.reason)).toEqual(bob.gaps.map(() => 'expired'));
    expect(silentlyLost(bob, sent)).toEqual([]);
    await expectMarked(sent);
  });

  it('read-only (an old primary turned replica): the same', async () => {
    redis = await OwnRedis.start();
    const nowhere = await freePort();
    const { bob, sent } = await sendThrough(
      { inject: async () => void (await redis!.admin.call('REPLICAOF', '127.0.0.1', nowhere)) },
      async () => void (await redis!.admin.call('REPLICAOF', 'NO', 'ONE')),
    );
    expect(sent.filter((m) => !m.stored).length).toBeGreaterThan(0);
    expect(bob.gaps.length).toBeGreaterThan(0);
    expect(bob.gaps.map((gap) => gap.reason)).toEqual(bob.gaps.map(() => 'expired'));
    expect(silentlyLost(bob, sent)).toEqual([]);
    await expectMarked(sent);
  });

  it('the sender loses its commands socket again and again: nothing is lost silently', async () => {
    redis = await OwnRedis.start();
    let kills = 0;
    // Each kill waits for the socket to be back (named again) first.
    const kill = (a: TestApp): Promise<void> =>
      eventually(async () => {
        const killed = await redis!.killClients(`sse:commands:${a.hub.instanceId}`);
        kills += killed;
        return killed > 0;
      }, 'the commands socket is back and killed');
    let i = 0;
    const { bob, sent } = await sendThrough(
      { inject: kill, between: async (a) => (i++ % 4 === 0 ? kill(a) : undefined) },
      async () => undefined,
    );
    expect(kills).toBeGreaterThanOrEqual(5);
    expect(silentlyLost(bob, sent)).toEqual([]);
    // A send right after a kill finds the socket gone: Redis does not take it.
    expect(sent.filter((m) => !m.stored).length).toBeGreaterThan(0);
    expect(bob.gaps.length).toBeGreaterThan(0);
    await expectMarked(sent);
  });

  it('another instance’s later message does not hide a loss: the client is told at once', async () => {
    redis = await OwnRedis.start();
    // The sender logs in as a user of its own, so that it alone can be kept from Redis.
    await redis.admin.call('ACL', 'SETUSER', 'sender', 'on', '>secret', '~*', '&*', '+@all');
    const port = new URL(redis.url).port;
    const a = await instance(`redis://sender:secret@127.0.0.1:${port}`);
    const [b, c] = [await instance(redis.url), await instance(redis.url)];
    const bob = await follow(b, 'bob');
    await eventually(async () => a.sse.isOnline('bob'), 'a sees bob online');
    const sent: Sent[] = [];
    const send = async (from: TestApp, data: string): Promise<void> => {
      const at = Date.now();
      const receipt = await from.sse.send('bob', data);
      sent.push({ id: receipt.id, stored: receipt.stored, data, at });
    };
    await send(a, 'before');
    await eventually(async () => bob.data.includes('before'), 'bob has "before"');
    // a loses Redis until let in again: its socket killed, its logins refused.
    await redis.admin.call('ACL', 'SETUSER', 'sender', 'off');
    await eventually(
      async () => (await redis!.killClients(`sse:commands:${a.hub.instanceId}`)) > 0,
      "a's commands socket is killed",
    );
    await eventually(async () => {
      await send(a, `lost ${sent.length}`);
      return !sent.at(-1)!.stored;
    }, 'a message Redis does not take');
    // Another instance's message reaches bob first, past the lost one.
    await send(c, 'later');
    await eventually(async () => bob.data.includes('later'), 'bob has "later"');
    const gapsBefore = bob.gaps.length;
    await redis.admin.call('ACL', 'SETUSER', 'sender', 'on');
    await eventually(async () => bob.gaps.length > gapsBefore, 'bob is told of the loss');
    await send(a, 'after');
    await eventually(async () => bob.data.includes('after'), 'bob has "after"');
    expect(bob.gaps.map((gap) => gap.reason)).toEqual(bob.gaps.map(() => 'expired'));
    expect(silentlyLost(bob, sent)).toEqual([]);
  });

  it('after a freeze, a message Redis took late is replayed, not reported lost', async () => {
    redis = await OwnRedis.start();
    const [a, b] = [await instance(redis.url), await instance(redis.url)];
    const bob = await follow(b, 'bob');
    await eventually(async () => a.sse.isOnline('bob'), 'a sees bob online');
    const before = await a.sse.send('bob', 'before');
    await eventually(async () => bob.data.includes('before'), 'bob has "before"');
    redis.freeze();
    const late = await a.sse.send('bob', 'late');
    expect(late.stored).toBe(false);
    redis.thaw();
    await eventually(async () => bob.data.includes('late'), 'bob has "late"');
    // The ledger checks the stream before marking: "late" is there.
    const marker = 'refusals:u:{bob}:d';
    await eventually(async () => {
      const resumed = await openStream(b, 'bob', before.id);
      await resumed.waitFor((c) =>
        c.events.some((e) => e.id === late.id || e.event === SSE_GAP_EVENT),
      );
      resumed.close();
      return !resumed.events.some((e) => e.event === SSE_GAP_EVENT);
    }, 'the replay has "late" and no gap');
    expect(await redis.admin.get(marker)).toBeNull();
  });

  /** A fresh instance, that heard nothing, reports the gap from the markers in Redis. */
  async function expectMarked(sent: readonly Sent[]): Promise<void> {
    const firstLost = sent.findIndex((m) => !m.stored);
    const from = sent[firstLost - 1].id;
    await eventually(
      async () => ((await redis!.admin.get('refusals:u:{bob}:d')) ?? '') > from,
      'markers are written',
    );
    const c = await instance(redis!.url);
    const resumed = await openStream(c, 'bob', from);
    await resumed.waitFor((s) => s.events.some((e) => e.event === SSE_GAP_EVENT));
    resumed.close();
  }
});
