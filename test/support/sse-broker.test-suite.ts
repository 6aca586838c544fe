import { filter, firstValueFrom } from 'rxjs';
import { v7 as uuidv7 } from 'uuid';
import { afterEach, describe, expect, it } from 'vitest';
import {
  SSE_CLOSE_EVENT,
  SSE_GAP_EVENT,
  SseError,
  type SseBroker,
  type SseModuleOptions,
  type SseSendResult,
} from 'nestjs-sse-hub';
import { startApp, type TestApp } from './app.js';
import { describeSseBrokerTopics } from './sse-broker-topics.test-suite.js';
import { RawSseClient, received, receivedData } from './sse-client.js';

/** A broker implementation under test. */
export interface SseBrokerSuiteTarget {
  /** A new broker, not attached yet. Brokers made for different tests share nothing. */
  create(): SseBroker;
  /** Runs after each test, once its application is closed (to delete its keys, say). */
  cleanup?(): Promise<void> | void;
  /**
   * Whether the broker implements topics (SPEC §7): `false` leaves out the topic cases.
   * @default true
   */
  topics?: boolean;
}

/**
 * The contract every broker keeps on one instance, against a real application and a
 * real SSE client: delivery to every tab once and in order, `delivered` and `stored`,
 * replay from any kept id or a connection's first id, gaps, presence and disconnect.
 * The in-memory broker and `RedisSseBroker` both run it, and the topic cases
 * (`describeSseBrokerTopics`) unless `target.topics` is `false`.
 */
export function describeSseBroker(name: string, target: SseBrokerSuiteTarget): void {
  if (target.topics !== false) describeSseBrokerTopics(name, target);
  describe(`${name} keeps the broker contract`, () => {
    let test: TestApp | undefined;
    let broker: SseBroker | undefined;
    const clients: RawSseClient[] = [];

    async function start(options: SseModuleOptions = {}): Promise<TestApp> {
      broker = target.create();
      test = await startApp('express', { broker, heartbeat: 0, ...options });
      return test;
    }

    async function connect(userId: string, lastEventId?: string): Promise<RawSseClient> {
      const headers: Record<string, string> = { 'x-user': userId };
      if (lastEventId !== undefined) headers['last-event-id'] = lastEventId;
      const client = await RawSseClient.open(`${test!.url}/sse`, headers);
      clients.push(client);
      await client.waitForEvents(1);
      return client;
    }

    /** Closes a client and waits until the server has seen it go. */
    async function drop(client: RawSseClient, userId: string): Promise<void> {
      const gone = firstValueFrom(
        test!.sse.events$.pipe(filter((e) => e.type === 'disconnect' && e.userId === userId)),
      );
      client.close();
      await gone;
    }

    /** A client that connected and left: its first id is a resume point. */
    async function leftAt(userId: string): Promise<string> {
      const client = await connect(userId);
      await drop(client, userId);
      return client.events[0].id!;
    }

    afterEach(async () => {
      for (const client of clients.splice(0)) client.close();
      await test?.close();
      test = undefined;
      await target.cleanup?.();
    });

    it('delivers to every tab of a user once, in order, and counts the tabs', async () => {
      const { sse } = await start();
      const tabs = [await connect('alice'), await connect('alice')];
      const bob = await connect('bob');
      const results: SseSendResult[] = [];
      for (let i = 0; i < 5; i++) results.push(await sse.send('alice', `m${i}`));
      const last = await sse.send('bob', 'for bob');
      for (const tab of tabs) {
        await tab.waitFor((c) => received(c).some((e) => e.id === results[4].id));
        expect(received(tab).map((e) => e.id)).toEqual(results.map((r) => r.id));
        expect(receivedData(tab)).toEqual(['m0', 'm1', 'm2', 'm3', 'm4']);
      }
      await bob.waitFor((c) => received(c).length >= 1);
      expect(received(bob).map((e) => e.id)).toEqual([last.id]);
      expect(results.map((r) => r.delivered)).toEqual([2, 2, 2, 2, 2]);
      expect(results.every((r) => r.stored)).toBe(true);
    });

    it('counts an offline user as reached by nobody, and keeps the message for later', async () => {
      const { sse } = await start();
      const from = await leftAt('carol');
      const result = await sse.send('carol', { note: 'while away' }, { event: 'note' });
      expect(result).toEqual({ id: result.id, delivered: 0, stored: true });
      const back = await connect('carol', from);
      await back.waitFor((c) => received(c).length >= 1);
      expect(received(back)).toEqual([
        { id: result.id, event: 'note', data: '{"note":"while away"}', comments: [] },
      ]);
    });

    it('broadcasts to every connection and sends one event to a list of users', async () => {
      const { sse } = await start();
      const alice = [await connect('alice'), await connect('alice')];
      const bob = await connect('bob');
      const dave = await connect('dave');
      const all = await sse.broadcast('to all', { event: 'news' });
      expect(all.delivered).toBe(4);
      const some = await sse.sendToUsers(['alice', 'bob', 'nobody'], 'to some');
      expect(some.delivered).toBe(3);
      await dave.waitFor((c) => received(c).length >= 1);
      for (const client of [...alice, bob]) {
        await client.waitFor((c) => received(c).length >= 2);
        expect(received(client).map((e) => [e.id, e.data])).toEqual([
          [all.id, 'to all'],
          [some.id, 'to some'],
        ]);
      }
      const last = await sse.send('dave', 'last');
      await dave.waitFor((c) => received(c).length >= 2);
      expect(received(dave).map((e) => e.id)).toEqual([all.id, last.id]);
    });

    it('replays what a client missed from its first id, broadcasts merged in order', async () => {
      const { sse } = await start();
      const from = await leftAt('alice');
      const missed = [
        await sse.send('alice', 'one'),
        await sse.broadcast('news'),
        await sse.send('bob', 'not for alice'),
        await sse.send('alice', 'two', { event: 'chat' }),
      ];
      const back = await connect('alice', from);
      expect(back.events[0].id).toBe(from);
      await back.waitFor((c) => received(c).length >= 3);
      const live = await sse.send('alice', 'live');
      await back.waitFor((c) => received(c).length >= 4);
      expect(received(back).map((e) => e.id)).toEqual([
        missed[0].id,
        missed[1].id,
        missed[3].id,
        live.id,
      ]);
      expect(received(back)[2].event).toBe('chat');
      expect(received(back).some((e) => e.event === SSE_GAP_EVENT)).toBe(false);
    });

    it('resumes after a message id, generated or the caller’s own', async () => {
      const { sse } = await start();
      const a = await connect('alice');
      const sent = [
        await sse.send('alice', 'one', { id: 'order-1' }),
        await sse.send('alice', 'two'),
        await sse.send('alice', 'three', { id: 'order-3' }),
      ];
      await a.waitFor((c) => received(c).length >= 3);
      await drop(a, 'alice');
      const fromCustom = await connect('alice', 'order-1');
      await fromCustom.waitFor((c) => received(c).length >= 2);
      expect(received(fromCustom).map((e) => e.id)).toEqual([sent[1].id, 'order-3']);
      const fromGenerated = await connect('alice', sent[1].id);
      await fromGenerated.waitFor((c) => received(c).length >= 1);
      const after = await sse.send('alice', 'four');
      await fromGenerated.waitFor((c) => received(c).length >= 2);
      expect(received(fromGenerated).map((e) => e.id)).toEqual(['order-3', after.id]);
    });

    it('loses and repeats nothing when a client resumes while messages go out', async () => {
      const { sse } = await start();
      const from = await leftAt('alice');
      const sent: string[] = [];
      let resumed: Promise<RawSseClient> | undefined;
      for (let batch = 0; batch < 6; batch++) {
        if (batch === 2) resumed = connect('alice', from);
        const results = await Promise.all(
          Array.from({ length: 10 }, (_, i) => sse.send('alice', `b${batch}m${i}`)),
        );
        sent.push(...results.map((r) => r.id));
      }
      const back = await resumed!;
      // Anything doubled would arrive before this last one.
      const last = await sse.send('alice', 'last');
      await back.waitFor((c) => received(c).some((e) => e.id === last.id));
      expect(received(back).map((e) => e.id)).toEqual([...sent, last.id]);
    });

    it('sends sse:gap "expired" first when more was sent than is kept', async () => {
      const { sse } = await start({ history: { size: 2 } });
      const from = await leftAt('alice');
      const sent: SseSendResult[] = [];
      for (let i = 0; i < 4; i++) sent.push(await sse.send('alice', `m${i}`));
      const back = await connect('alice', from);
      await back.waitFor((c) => received(c).length >= 3);
      const [gap, ...events] = received(back);
      expect(gap.event).toBe(SSE_GAP_EVENT);
      expect(JSON.parse(gap.data!)).toEqual({ reason: 'expired', lastEventId: from });
      expect(events.map((e) => e.id)).toEqual([sent[2].id, sent[3].id]);
    });

    it('sends sse:gap "expired" when the missed events are older than ttlMs', async () => {
      const ttlMs = 300;
      const { sse } = await start({ history: { size: 10, ttlMs } });
      const from = await leftAt('alice');
      await sse.send('alice', 'soon too old');
      // What is under test is time passing: no event marks it.
      await new Promise((resolve) => setTimeout(resolve, ttlMs * 1.5));
      const back = await connect('alice', from);
      await back.waitFor((c) => received(c).length >= 1);
      const fresh = await sse.send('alice', 'fresh');
      await back.waitFor((c) => received(c).length >= 2);
      const [gap, next] = received(back);
      expect(gap.event).toBe(SSE_GAP_EVENT);
      expect(JSON.parse(gap.data!).reason).toBe('expired');
      expect(next.id).toBe(fresh.id);
    });

    it('sends sse:gap "unknown" for a resume point it cannot place', async () => {
      await start();
      const back = await connect('alice', 'never-sent');
      await back.waitFor((c) => received(c).length >= 1);
      expect(received(back)[0].event).toBe(SSE_GAP_EVENT);
      expect(JSON.parse(received(back)[0].data!)).toEqual({
        reason: 'unknown',
        lastEventId: 'never-sent',
      });
    });

    it('keeps nothing with history off, and says so', async () => {
      const { sse } = await start({ history: { size: 0 } });
      const live = await connect('alice');
      const result = await sse.send('alice', 'not kept');
      expect(result.delivered).toBe(1);
      expect(result.stored).toBe(false);
      await live.waitFor((c) => received(c).length >= 1);
      const back = await connect('alice', uuidv7());
      await back.waitFor((c) => received(c).length >= 1);
      expect(JSON.parse(received(back)[0].data!).reason).toBe('disabled');
    });

    it('answers isOnline and onlineUsers as connections come and go', async () => {
      const { sse } = await start();
      expect(await sse.isOnline('alice')).toBe(false);
      expect(await sse.onlineUsers()).toEqual([]);
      const alice = await connect('alice');
      const bob = await connect('bob');
      expect(await sse.isOnline('alice')).toBe(true);
      expect((await sse.onlineUsers()).sort()).toEqual(['alice', 'bob']);
      await drop(alice, 'alice');
      expect(await sse.isOnline('alice')).toBe(false);
      expect(await sse.onlineUsers()).toEqual(['bob']);
      await drop(bob, 'bob');
      expect(await sse.onlineUsers()).toEqual([]);
    });

    it('disconnects every tab of a user with sse:close, and says whether any was open', async () => {
      const { sse } = await start();
      const tabs = [await connect('alice'), await connect('alice')];
      const bob = await connect('bob');
      expect(await sse.disconnect('alice')).toBe(true);
      for (const tab of tabs) {
        await tab.waitForEnd();
        expect(received(tab).at(-1)?.event).toBe(SSE_CLOSE_EVENT);
      }
      expect(await sse.isOnline('alice')).toBe(false);
      expect(await sse.disconnect('alice')).toBe(false);
      expect(bob.ended).toBe(false);
      expect(await sse.isOnline('bob')).toBe(true);
    });

    it('refuses to publish once the application is closed', async () => {
      await start();
      await test!.close();
      test = undefined;
      const message = { id: uuidv7(), seq: uuidv7(), data: 'late', to: ['alice'] };
      await expect(Promise.resolve().then(() => broker!.publish(message))).rejects.toThrow(
        SseError,
      );
    });
  });
}
