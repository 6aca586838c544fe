import 'reflect-metadata';
import type { MessageEvent } from '@nestjs/common';
import { Test, type TestingModule } from '@nestjs/testing';
import type { Subscription } from 'rxjs';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { isDispatched } from '../../../test/support/sse-client.js';
import { SseHub } from './hub/sse-hub.js';
import type { SseConnectionEvent } from './interfaces/sse-service.interface.js';
import type { SseModuleOptions } from './interfaces/sse-module-options.interface.js';
import { SSE_CLOSE_EVENT, SSE_GAP_EVENT } from './sse.constants.js';
import {
  SseInvalidDataError,
  SseInvalidEventIdError,
  SseInvalidEventNameError,
  SseInvalidUserIdError,
  SseMessageTooLargeError,
  SseOptionsError,
} from './sse.errors.js';
import { SseModule } from './sse.module.js';
import { SseService } from './sse.service.js';

interface Tab {
  readonly messages: MessageEvent[];
  completed: boolean;
  readonly subscription: Subscription;
}

describe('SseService', () => {
  let moduleRef: TestingModule | undefined;

  async function start(options: SseModuleOptions = {}): Promise<SseService> {
    moduleRef = await Test.createTestingModule({
      imports: [SseModule.forRoot({ path: null, ...options })],
    }).compile();
    await moduleRef.init();
    return moduleRef.get(SseService);
  }

  function open(sse: SseService, userId: string, lastEventId?: string): Tab {
    const tab = { messages: [] as MessageEvent[], completed: false } as Tab & {
      subscription?: Subscription;
    };
    (tab as { subscription: Subscription }).subscription = sse
      .stream(userId, { lastEventId })
      .subscribe({
        next: (message) => tab.messages.push(message),
        complete: () => (tab.completed = true),
      });
    return tab as Tab;
  }

  const events = (tab: Tab) => tab.messages.filter(isDispatched);

  afterEach(async () => {
    await moduleRef?.close();
    moduleRef = undefined;
    vi.useRealTimers();
  });

  it('resolves SseService and the hub by constructor injection', async () => {
    const sse = await start();
    expect(sse).toBeInstanceOf(SseService);
    expect(moduleRef!.get(SseHub)).toBeInstanceOf(SseHub);
  });

  describe('stream', () => {
    it('starts with an id, retry and empty data, at once', async () => {
      const sse = await start({ retry: 1234 });
      const tab = open(sse, 'alice');
      expect(tab.messages).toHaveLength(1);
      const [first] = tab.messages;
      expect(first.id).toMatch(/^[0-9a-f-]{36}$/);
      expect(first.retry).toBe(1234);
      expect(first.data).toBe('');
      expect(first.type).toBeUndefined();
    });

    it('delivers to every tab of the user, in order, and to nobody else', async () => {
      const sse = await start();
      const a1 = open(sse, 'alice');
      const a2 = open(sse, 'alice');
      const bob = open(sse, 'bob');
      for (let i = 0; i < 5; i++) {
        const result = await sse.send('alice', { n: i });
        expect(result.delivered).toBe(2);
      }
      const expected = [0, 1, 2, 3, 4].map((n) => JSON.stringify({ n }));
      expect(
        events(a1)
          .slice(1)
          .map((m) => m.data),
      ).toEqual(expected);
      expect(
        events(a2)
          .slice(1)
          .map((m) => m.data),
      ).toEqual(expected);
      expect(events(bob)).toHaveLength(1);
    });

    it('gives every event a uuid v7 id, or the caller’s, and its event name', async () => {
      const sse = await start();
      const tab = open(sse, 'alice');
      const generated = await sse.send('alice', 'hi');
      const given = await sse.send('alice', 'there', { id: 'order-42', event: 'order' });
      expect(generated.id).toMatch(
        /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
      );
      expect(given.id).toBe('order-42');
      expect(events(tab)[1]).toMatchObject({ id: generated.id, data: 'hi' });
      expect(events(tab)[2]).toMatchObject({ id: 'order-42', type: 'order', data: 'there' });
    });

    it('sends a string as it is and anything else as JSON', async () => {
      const sse = await start();
      const tab = open(sse, 'alice');
      await sse.send('alice', 'line 1\nline 2');
      await sse.send('alice', [1, 'two', null]);
      await sse.send('alice', 7);
      await sse.send('alice', null);
      expect(
        events(tab)
          .slice(1)
          .map((m) => m.data),
      ).toEqual(['line 1\nline 2', '[1,"two",null]', '7', 'null']);
    });

    it('refuses an invalid user id', async () => {
      const sse = await start();
      expect(() => sse.stream('')).toThrow(SseInvalidUserIdError);
      expect(() => sse.stream('a\nb')).toThrow(SseInvalidUserIdError);
    });
  });

  describe('send refuses bad input with a clear error, and loses nothing', () => {
    it.each([
      ['an id with LF', { id: 'a\nb' }, SseInvalidEventIdError],
      ['an id with CR', { id: 'a\rb' }, SseInvalidEventIdError],
      ['an empty id', { id: '' }, SseInvalidEventIdError],
      ['an event name with LF', { event: 'a\nb' }, SseInvalidEventNameError],
      ['a reserved event name', { event: SSE_GAP_EVENT }, SseInvalidEventNameError],
      ['another reserved event name', { event: 'sse:anything' }, SseInvalidEventNameError],
      ['the event name error', { event: 'error' }, SseInvalidEventNameError],
    ])('%s', async (_what, options, error) => {
      const sse = await start();
      const tab = open(sse, 'alice');
      await expect(sse.send('alice', 'x', options)).rejects.toThrow(error);
      await expect(sse.send('alice', 'x', options)).rejects.toThrow(/Potential solutions/);
      // The stream is unharmed: the next valid send arrives.
      await sse.send('alice', 'after');
      expect(events(tab).map((m) => m.data)).toEqual(['', 'after']);
    });

    it.each([
      ['undefined', undefined],
      ['a function', () => 1],
      ['a symbol', Symbol('s')],
      ['a BigInt', 10n],
      [
        'a circular object',
        (() => {
          const o: Record<string, unknown> = {};
          o.self = o;
          return o;
        })(),
      ],
    ])('data that cannot be serialised: %s', async (_what, data) => {
      const sse = await start();
      await expect(sse.send('alice', data)).rejects.toThrow(SseInvalidDataError);
    });

    it('data over maxMessageBytes, counted in UTF-8 bytes', async () => {
      const sse = await start({ maxMessageBytes: 10 });
      await expect(sse.send('alice', 'x'.repeat(11))).rejects.toThrow(SseMessageTooLargeError);
      // 4 characters, 12 bytes.
      await expect(sse.send('alice', '€€€€')).rejects.toThrow(/is 12 bytes/);
      await expect(sse.send('alice', 'x'.repeat(10))).resolves.toMatchObject({ delivered: 0 });
    });

    it('a bad user id', async () => {
      const sse = await start();
      await expect(sse.send('', 'x')).rejects.toThrow(SseInvalidUserIdError);
      await expect(sse.send(42 as unknown as string, 'x')).rejects.toThrow(SseInvalidUserIdError);
      await expect(sse.sendToUsers(['ok', ''], 'x')).rejects.toThrow(SseInvalidUserIdError);
    });
  });

  describe('delivery', () => {
    it('reports delivered 0 and stored for an offline user', async () => {
      const sse = await start();
      await expect(sse.send('nobody', 'x')).resolves.toMatchObject({ delivered: 0, stored: true });
    });

    it('reports stored false when history is off', async () => {
      const sse = await start({ history: { size: 0 } });
      await expect(sse.send('nobody', 'x')).resolves.toMatchObject({ stored: false });
    });

    it('sendToUsers sends one event to each user, once', async () => {
      const sse = await start();
      const alice = open(sse, 'alice');
      const bob = open(sse, 'bob');
      const carol = open(sse, 'carol');
      const result = await sse.sendToUsers(['alice', 'bob', 'alice'], 'both');
      expect(result.delivered).toBe(2);
      expect(events(alice)[1]).toMatchObject({ id: result.id, data: 'both' });
      expect(events(bob)[1]).toMatchObject({ id: result.id, data: 'both' });
      expect(events(alice)).toHaveLength(2);
      expect(events(carol)).toHaveLength(1);
    });

    it('broadcast reaches every connection', async () => {
      const sse = await start();
      const tabs = [open(sse, 'a'), open(sse, 'a'), open(sse, 'b'), open(sse, 'c')];
      const result = await sse.broadcast({ all: true }, { event: 'news' });
      expect(result).toMatchObject({ delivered: 4, stored: true });
      for (const tab of tabs) expect(events(tab)[1]).toMatchObject({ type: 'news', id: result.id });
    });
  });

  describe('connections', () => {
    it('closes the oldest tab with sse:close past maxConnectionsPerUser', async () => {
      const sse = await start({ maxConnectionsPerUser: 2 });
      const seen: SseConnectionEvent[] = [];
      sse.events$.subscribe((event) => seen.push(event));
      const first = open(sse, 'alice');
      const second = open(sse, 'alice');
      const third = open(sse, 'alice');
      expect(first.completed).toBe(true);
      expect(events(first).at(-1)).toMatchObject({
        type: SSE_CLOSE_EVENT,
        data: JSON.stringify({ reason: 'replaced' }),
      });
      expect(second.completed).toBe(false);
      expect(third.completed).toBe(false);
      expect(seen.filter((e) => e.type === 'disconnect')).toEqual([
        expect.objectContaining({ userId: 'alice', reason: 'replaced' }),
      ]);
      await expect(sse.send('alice', 'x')).resolves.toMatchObject({ delivered: 2 });
    });

    it('replaces on connect with maxConnectionsPerUser 1', async () => {
      const sse = await start({ maxConnectionsPerUser: 1 });
      const first = open(sse, 'alice');
      const second = open(sse, 'alice');
      expect(first.completed).toBe(true);
      expect(second.completed).toBe(false);
      expect(sse.stats()).toMatchObject({ users: 1, connections: 1 });
    });

    it('disconnect ends every tab of the user with sse:close and says whether any was open', async () => {
      const sse = await start();
      const tabs = [open(sse, 'alice'), open(sse, 'alice')];
      const bob = open(sse, 'bob');
      await expect(sse.disconnect('alice')).resolves.toBe(true);
      await expect(sse.disconnect('alice')).resolves.toBe(false);
      for (const tab of tabs) {
        expect(tab.completed).toBe(true);
        expect(events(tab).at(-1)).toMatchObject({
          type: SSE_CLOSE_EVENT,
          data: JSON.stringify({ reason: 'disconnected' }),
        });
      }
      expect(bob.completed).toBe(false);
      await expect(sse.isOnline('alice')).resolves.toBe(false);
      await expect(sse.isOnline('bob')).resolves.toBe(true);
    });

    it('tracks presence, stats and events$, and forgets a user with its last tab', async () => {
      const sse = await start();
      const seen: SseConnectionEvent[] = [];
      sse.events$.subscribe((event) => seen.push(event));
      const a1 = open(sse, 'alice');
      const a2 = open(sse, 'alice');
      const bob = open(sse, 'bob');
      await expect(sse.onlineUsers()).resolves.toEqual(['alice', 'bob']);
      expect(sse.stats()).toMatchObject({ users: 2, connections: 3 });
      a1.subscription.unsubscribe();
      await expect(sse.isOnline('alice')).resolves.toBe(true);
      a2.subscription.unsubscribe();
      bob.subscription.unsubscribe();
      await expect(sse.onlineUsers()).resolves.toEqual([]);
      expect(moduleRef!.get(SseHub).resourceCounts()).toEqual({
        channels: 0,
        connections: 0,
        deadlines: 0,
        timers: 0,
      });
      expect(seen.map((e) => e.type)).toEqual([
        'connect',
        'connect',
        'connect',
        'disconnect',
        'disconnect',
        'disconnect',
      ]);
      expect(
        seen.filter((e) => e.type === 'disconnect').map((e) => 'reason' in e && e.reason),
      ).toEqual(['client', 'client', 'client']);
    });
  });

  describe('timers', () => {
    it('sends a heartbeat comment on an idle connection only', async () => {
      vi.useFakeTimers();
      const sse = await start({ heartbeat: 1000, timeout: 0 });
      const idle = open(sse, 'idle');
      const busy = open(sse, 'busy');
      for (let tick = 0; tick < 3; tick++) {
        await sse.send('busy', tick);
        vi.advanceTimersByTime(1000);
      }
      const heartbeats = (tab: Tab) => tab.messages.filter((m) => m.comment !== undefined).length;
      // The first tick finds every connection fresh (its first event), the next ones find
      // the idle one idle.
      expect(heartbeats(idle)).toBe(2);
      expect(heartbeats(busy)).toBe(0);
      vi.advanceTimersByTime(5000);
      expect(heartbeats(idle)).toBe(7);
      // The tick after its last event finds it fresh; the five after find it idle.
      expect(heartbeats(busy)).toBe(5);
      expect(idle.messages.filter((m) => m.comment !== undefined)[0]).toEqual({ comment: '' });
    });

    it('sends no heartbeat with heartbeat 0', async () => {
      vi.useFakeTimers();
      const sse = await start({ heartbeat: 0, timeout: 0 });
      const tab = open(sse, 'alice');
      vi.advanceTimersByTime(120_000);
      expect(tab.messages).toHaveLength(1);
      expect(moduleRef!.get(SseHub).resourceCounts().timers).toBe(0);
    });

    it('ends a connection cleanly after timeout, each at its own time', async () => {
      vi.useFakeTimers();
      const sse = await start({ timeout: 10_000, heartbeat: 0 });
      const reasons: string[] = [];
      sse.events$.subscribe((e) => e.type === 'disconnect' && reasons.push(e.reason));
      const early = open(sse, 'alice');
      vi.advanceTimersByTime(4000);
      const late = open(sse, 'bob');
      vi.advanceTimersByTime(5999);
      expect(early.completed).toBe(false);
      vi.advanceTimersByTime(1);
      expect(early.completed).toBe(true);
      // Ended normally: no sse:close, nothing after the first event.
      expect(events(early)).toHaveLength(1);
      expect(late.completed).toBe(false);
      vi.advanceTimersByTime(4000);
      expect(late.completed).toBe(true);
      expect(reasons).toEqual(['timeout', 'timeout']);
      expect(moduleRef!.get(SseHub).resourceCounts()).toEqual({
        channels: 0,
        connections: 0,
        deadlines: 0,
        timers: 0,
      });
    });

    it('never times out with timeout 0', async () => {
      vi.useFakeTimers();
      const sse = await start({ timeout: 0, heartbeat: 0 });
      const tab = open(sse, 'alice');
      vi.advanceTimersByTime(24 * 3600 * 1000);
      expect(tab.completed).toBe(false);
    });
  });

  describe('shutdown', () => {
    it('ends every stream at once with a randomised retry and refuses new ones', async () => {
      const sse = await start({ retry: 60_000 });
      const tabs = Array.from({ length: 50 }, (_, i) => open(sse, `user-${i % 10}`));
      const reasons: string[] = [];
      sse.events$.subscribe((e) => e.type === 'disconnect' && reasons.push(e.reason));
      await moduleRef!.close();
      const retries = tabs.map((tab) => {
        expect(tab.completed).toBe(true);
        const last = tab.messages.at(-1)!;
        // The last event keeps the client's resume point and only changes its retry.
        expect(last.id).toBe(tab.messages[0].id);
        expect(last.data).toBeUndefined();
        return last.retry!;
      });
      for (const retry of retries) {
        expect(retry).toBeGreaterThanOrEqual(1000);
        expect(retry).toBeLessThanOrEqual(15_000);
      }
      expect(new Set(retries).size).toBeGreaterThan(10);
      expect(reasons).toHaveLength(50);
      expect(new Set(reasons)).toEqual(new Set(['shutdown']));
      const late = open(sse, 'late');
      expect(late.completed).toBe(true);
      moduleRef = undefined;
    });
  });

  describe('options', () => {
    it.each([
      [{ timeout: -1 }, /"timeout" must be between 0/],
      [{ retry: 1.5 }, /"retry" must be a whole number/],
      [{ heartbeat: Number.NaN }, /"heartbeat" must be a whole number/],
      [{ maxConnectionsPerUser: 0 }, /"maxConnectionsPerUser" must be between 1/],
      [{ history: { size: -5 } }, /"history.size"/],
      [{ history: { ttlMs: 0 } }, /"history.ttlMs"/],
      [{ maxMessageBytes: 0 }, /"maxMessageBytes"/],
      [{ maxMessageBytes: 1000, maxPendingBytes: 10 }, /"maxPendingBytes" must be at least/],
      [{ transport: 'websocket' }, /"transport" must be 'direct' or 'observable'/],
      [{ maxTopicsPerUser: 0 }, /"maxTopicsPerUser" must be between 1/],
      [{ maxTopicsPerConnection: '5' }, /"maxTopicsPerConnection" must be a number/],
      [{ authorizeTopics: true }, /"authorizeTopics" must be a function/],
    ])('stops start-up on %o', async (options, message) => {
      const attempt = async () => {
        const ref = await Test.createTestingModule({
          imports: [SseModule.forRoot({ path: null, ...(options as SseModuleOptions) })],
        }).compile();
        await ref.close();
      };
      await expect(attempt()).rejects.toThrow(SseOptionsError);
      await expect(attempt()).rejects.toThrow(message);
    });

    it('takes options from an async factory', async () => {
      moduleRef = await Test.createTestingModule({
        imports: [
          SseModule.forRootAsync({
            path: null,
            useFactory: async () => ({ retry: 4321 }),
          }),
        ],
      }).compile();
      await moduleRef.init();
      const tab = open(moduleRef.get(SseService), 'alice');
      expect(tab.messages[0].retry).toBe(4321);
    });

    it('refuses a path set from an async factory, which comes too late for routes', async () => {
      const attempt = Test.createTestingModule({
        // @ts-expect-error `path` is an extra: the factory's type refuses it too.
        imports: [SseModule.forRootAsync({ useFactory: () => ({ path: 'events' }) })],
      }).compile();
      await expect(attempt).rejects.toThrow(/beside useFactory/);
    });
  });

  describe('replay', () => {
    it('replays what a client missed since its last event id, then live events', async () => {
      const sse = await start();
      const tab = open(sse, 'alice');
      const first = await sse.send('alice', 1);
      tab.subscription.unsubscribe();
      await sse.send('alice', 2);
      await sse.send('alice', 3);
      const again = open(sse, 'alice', first.id);
      await sse.send('alice', 4);
      const back = events(again);
      expect(back[0].id).toBe(first.id);
      expect(back.slice(1).map((m) => m.data)).toEqual(['2', '3', '4']);
    });

    it('resumes from the id of a connection’s first event', async () => {
      const sse = await start();
      const tab = open(sse, 'alice');
      const resumeFrom = tab.messages[0].id!;
      tab.subscription.unsubscribe();
      await sse.send('alice', 'while away');
      const again = open(sse, 'alice', resumeFrom);
      expect(
        events(again)
          .slice(1)
          .map((m) => m.data),
      ).toEqual(['while away']);
    });

    it('sends sse:gap first for an unknown id', async () => {
      const sse = await start();
      await sse.send('alice', 'kept');
      const tab = open(sse, 'alice', 'no-such-id');
      const [, gap] = events(tab);
      expect(gap.type).toBe(SSE_GAP_EVENT);
      expect(JSON.parse(gap.data as string)).toEqual({
        reason: 'unknown',
        lastEventId: 'no-such-id',
      });
    });
  });
});
