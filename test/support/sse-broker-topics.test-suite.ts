import { filter, firstValueFrom } from 'rxjs';
import { afterEach, describe, expect, it } from 'vitest';
import {
  SSE_GAP_EVENT,
  SseInvalidTopicError,
  SseTooManyTopicsError,
  type SseBroker,
  type SseModuleOptions,
} from 'nestjs-sse-hub';
import { startApp, type TestApp } from './app.js';
import { eventually } from './eventually.js';
import { RawSseClient, received, receivedData } from './sse-client.js';

/** What the topic cases need of a broker under test (`SseBrokerSuiteTarget`). */
export interface SseBrokerTopicsTarget {
  create(): SseBroker;
  cleanup?(): Promise<void> | void;
}

/**
 * The topic part of the broker contract (SPEC §7), on one instance: memberships held by
 * the broker and seen by connections open before and after the join, subscriptions of a
 * connection, `delivered` counting each connection once, and replay that merges a user's,
 * broadcast and topic events in order within the user's membership windows.
 */
export function describeSseBrokerTopics(name: string, target: SseBrokerTopicsTarget): void {
  describe(`${name} keeps the topic contract`, () => {
    let test: TestApp | undefined;
    const clients: RawSseClient[] = [];

    async function start(options: SseModuleOptions = {}): Promise<TestApp> {
      test = await startApp('express', {
        broker: target.create(),
        heartbeat: 0,
        authorizeTopics: () => true,
        ...options,
      });
      return test;
    }

    async function open(
      userId: string,
      topics: string[] = [],
      lastEventId?: string,
    ): Promise<RawSseClient> {
      const headers: Record<string, string> = { 'x-user': userId };
      if (lastEventId !== undefined) headers['last-event-id'] = lastEventId;
      const query = topics.map((t) => `topic=${encodeURIComponent(t)}`).join('&');
      const client = await RawSseClient.open(
        `${test!.url}/sse${query ? `?${query}` : ''}`,
        headers,
      );
      clients.push(client);
      return client;
    }

    async function connect(
      userId: string,
      topics: string[] = [],
      lastEventId?: string,
    ): Promise<RawSseClient> {
      const client = await open(userId, topics, lastEventId);
      expect(client.status).toBe(200);
      await client.waitForEvents(1);
      return client;
    }

    async function drop(client: RawSseClient, userId: string): Promise<void> {
      const gone = firstValueFrom(
        test!.sse.events$.pipe(filter((e) => e.type === 'disconnect' && e.userId === userId)),
      );
      client.close();
      await gone;
    }

    afterEach(async () => {
      for (const client of clients.splice(0)) client.close();
      await test?.close();
      test = undefined;
      await target.cleanup?.();
    });

    it('holds memberships: join, leave, topicsOf and members, sorted, with bad input refused', async () => {
      const { sse } = await start({ maxTopicsPerUser: 3 });
      expect(await sse.join('alice', 'team:b')).toBe(true);
      expect(await sse.join('alice', 'team:b')).toBe(false);
      expect(await sse.join('alice', 'team:a')).toBe(true);
      expect(await sse.join('bob', 'team:b')).toBe(true);
      expect(await sse.topicsOf('alice')).toEqual(['team:a', 'team:b']);
      expect(await sse.members('team:b')).toEqual(['alice', 'bob']);
      expect(await sse.members('nobody-here')).toEqual([]);
      expect(await sse.leave('alice', 'team:b')).toBe(true);
      expect(await sse.leave('alice', 'team:b')).toBe(false);
      expect(await sse.members('team:b')).toEqual(['bob']);
      expect(await sse.topicsOf('alice')).toEqual(['team:a']);
      await expect(sse.join('alice', 'bad topic')).rejects.toThrow(SseInvalidTopicError);
      await expect(sse.join('alice', 'x'.repeat(129))).rejects.toThrow(SseInvalidTopicError);
      await expect(sse.publish('', 'd')).rejects.toThrow(SseInvalidTopicError);
      await sse.join('alice', 'c');
      await sse.join('alice', 'd');
      await expect(sse.join('alice', 'e')).rejects.toThrow(SseTooManyTopicsError);
      expect(await sse.join('alice', 'd')).toBe(false);
      expect(await sse.topicsOf('alice')).toEqual(['c', 'd', 'team:a']);
    });

    it('delivers to members’ connections opened before and after the join, without reconnecting', async () => {
      const { sse } = await start();
      const before = await connect('alice');
      const outsider = await connect('bob');
      const early = await sse.publish('room', 'before the join');
      expect(early.delivered).toBe(0);
      await sse.join('alice', 'room');
      const after = await connect('alice');
      const first = await sse.publish('room', { n: 1 }, { event: 'chat' });
      expect(first.delivered).toBe(2);
      expect(first.stored).toBe(true);
      const second = await sse.publish('room', 'two', { id: 'room-2' });
      expect(second.id).toBe('room-2');
      for (const tab of [before, after]) {
        await tab.waitFor((c) => received(c).some((e) => e.id === 'room-2'));
        expect(received(tab).map((e) => [e.id, e.event, e.data])).toEqual([
          [first.id, 'chat', '{"n":1}'],
          ['room-2', undefined, 'two'],
        ]);
      }
      const mark = await sse.send('bob', 'only bob');
      await outsider.waitFor((c) => received(c).length >= 1);
      expect(received(outsider).map((e) => e.id)).toEqual([mark.id]);
    });

    it('delivers to subscribers, counting a connection both member’s and subscribed once', async () => {
      const { sse } = await start();
      await sse.join('alice', 'news');
      const both = await connect('alice', ['news']);
      const member = await connect('alice');
      const subscriber = await connect('bob', ['news', 'other']);
      const result = await sse.publish('news', 'headline');
      expect(result.delivered).toBe(3);
      for (const client of [both, member, subscriber]) {
        await client.waitFor((c) => received(c).length >= 1);
      }
      const last = await sse.broadcast('end');
      for (const client of [both, member, subscriber]) {
        await client.waitFor((c) => received(c).some((e) => e.id === last.id));
        expect(receivedData(client)).toEqual(['headline', 'end']);
      }
    });

    it('stops delivering after leave, except to a connection that subscribed', async () => {
      const { sse } = await start();
      await sse.join('alice', 'room');
      const member = await connect('alice');
      const subscribed = await connect('alice', ['room']);
      expect((await sse.publish('room', 'in')).delivered).toBe(2);
      expect(await sse.leave('alice', 'room')).toBe(true);
      expect((await sse.publish('room', 'after leave')).delivered).toBe(1);
      const mark = await sse.send('alice', 'mark');
      for (const client of [member, subscribed]) {
        await client.waitFor((c) => received(c).some((e) => e.id === mark.id));
      }
      expect(receivedData(member)).toEqual(['in', 'mark']);
      expect(receivedData(subscribed)).toEqual(['in', 'after leave', 'mark']);
      await drop(member, 'alice');
      await drop(subscribed, 'alice');
      await eventually(async () => (await sse.onlineUsers()).length === 0, 'alice is offline');
      expect(test!.hub.resourceCounts().channels).toBe(0);
    });

    it('replays user, broadcast and topic events in order, within the membership windows', async () => {
      const { sse } = await start();
      const away = await connect('alice', ['feed']);
      const from = away.events[0].id!;
      await drop(away, 'alice');
      await sse.publish('room', 'before join');
      await sse.join('alice', 'room');
      const missed = [
        await sse.send('alice', 'own'),
        await sse.publish('room', 'in window'),
        await sse.broadcast('to all'),
        await sse.publish('feed', 'subscribed'),
      ];
      await sse.leave('alice', 'room');
      await sse.publish('room', 'after leave');
      await sse.join('alice', 'room');
      missed.push(await sse.publish('room', 'joined again'));
      await sse.publish('other', 'never alice’s');
      const back = await connect('alice', ['feed'], from);
      await back.waitFor((c) => received(c).length >= missed.length);
      const live = await sse.publish('room', 'live');
      await back.waitFor((c) => received(c).some((e) => e.id === live.id));
      expect(received(back).map((e) => e.id)).toEqual([...missed.map((m) => m.id), live.id]);
      expect(received(back).some((e) => e.event === SSE_GAP_EVENT)).toBe(false);

      // Without the subscription, the topic it was subscribed to is not replayed.
      const plain = await connect('alice', [], from);
      await plain.waitFor((c) => received(c).length >= missed.length - 1);
      const mark = await sse.send('alice', 'mark');
      await plain.waitFor((c) => received(c).some((e) => e.id === mark.id));
      expect(receivedData(plain)).toEqual([
        'own',
        'in window',
        'to all',
        'joined again',
        'live',
        'mark',
      ]);
    });

    it('refuses a stream with a bad topic or more than maxTopicsPerConnection (400)', async () => {
      await start({ maxTopicsPerConnection: 2 });
      expect((await open('alice', ['a', 'b', 'c'])).status).toBe(400);
      expect((await open('alice', ['a b'])).status).toBe(400);
      expect((await open('alice', ['a', 'b', 'a'])).status).toBe(200);
    });
  });
}
