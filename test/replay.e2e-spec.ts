import { EventSource } from 'eventsource';
import { afterEach, describe, expect, it } from 'vitest';
import { InMemorySseBroker, SSE_GAP_EVENT, type SseReplay } from 'nestjs-sse-hub';
import { MATRIX, startApp, StreamSession, type TestApp } from './support/app.js';
import { RawSseClient, type ParsedEvent } from './support/sse-client.js';

const events = (client: RawSseClient): ParsedEvent[] => client.messages;

/**
 * The in-memory broker with a replay that waits for a gate, as a broker that reads its
 * history over the network does: live events sent meanwhile must come once, after it.
 * `readAfterGate` takes the history snapshot after the gate opens (so it contains the live
 * events too), else before.
 */
class GatedReplayBroker extends InMemorySseBroker {
  private open!: () => void;
  readonly gate = new Promise<void>((resolve) => (this.open = resolve));
  constructor(private readonly readAfterGate: boolean) {
    super();
  }
  release(): void {
    this.open();
  }
  override replay(userId: string, lastEventId: string): Promise<SseReplay> {
    if (this.readAfterGate) return this.gate.then(() => super.replay(userId, lastEventId));
    const snapshot = super.replay(userId, lastEventId);
    return this.gate.then(() => snapshot);
  }
}

describe.concurrent.each(MATRIX)(
  'nothing lost across reconnects on $platform, $transport transport',
  ({ platform, transport }) => {
    it('an EventSource timed out every second while messages go every 50 ms gets each once, in order', async () => {
      const test = await startApp(platform, {
        transport,
        timeout: 1000,
        retry: 100,
        heartbeat: 0,
      });
      let opened = 0;
      const source = new EventSource(`${test.url}/sse`, {
        fetch: (input, init) =>
          fetch(input, { ...init, headers: { ...init?.headers, 'x-user': 'alice' } }),
      });
      source.addEventListener('open', () => opened++);
      const received: number[] = [];
      const total = 200;
      const allIn = new Promise<void>((resolve) => {
        source.addEventListener('message', (event) => {
          // The first event of every connection has empty data: it only sets id and retry.
          if (event.data === '') return;
          received.push(Number(event.data));
          if (received.length === total) resolve();
        });
      });
      await new Promise((resolve) => source.addEventListener('open', resolve, { once: true }));
      for (let i = 0; i < total; i++) {
        await test.sse.send('alice', i);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      await allIn;
      source.close();
      await test.close();
      expect(received).toEqual([...Array(total).keys()]);
      // The scenario did what it says: the stream was cut and resumed several times.
      expect(opened).toBeGreaterThanOrEqual(4);
    }, 60_000);
  },
);

describe.each(MATRIX)(
  'Last-Event-ID replay on $platform, $transport transport',
  ({ platform, transport }) => {
    const session = new StreamSession();
    let test: TestApp | undefined;
    const connect = (user: string, lastEventId?: string): Promise<RawSseClient> =>
      session.connect(user, lastEventId === undefined ? {} : { 'last-event-id': lastEventId });

    afterEach(() => session.close());

    it('replays every kept event after the id, in order, none twice, none from before, then live ones', async () => {
      test = await session.start(platform, { transport });
      const before = await test.sse.send('alice', 'before');
      const first = await connect('alice');
      const seen = await test.sse.send('alice', 'seen');
      await first.waitForEvents(2);
      first.close();
      const missed = [];
      for (let i = 0; i < 5; i++) missed.push(await test.sse.send('alice', `missed ${i}`));
      await test.sse.send('bob', 'not yours');
      const again = await connect('alice', seen.id);
      await test.sse.send('alice', 'live');
      await again.waitForEvents(7);
      const got = events(again);
      expect(got[0].id).toBe(seen.id);
      expect(got.slice(1).map((e) => e.data)).toEqual([
        'missed 0',
        'missed 1',
        'missed 2',
        'missed 3',
        'missed 4',
        'live',
      ]);
      expect(got.slice(1, 6).map((e) => e.id)).toEqual(missed.map((m) => m.id));
      expect(got.some((e) => e.id === before.id)).toBe(false);
    });

    it('takes the id of a connection’s first event as a resume point', async () => {
      test = await session.start(platform, { transport });
      const first = await connect('alice');
      const resume = events(first)[0].id!;
      first.close();
      await test.sse.send('alice', 'sent while away');
      const again = await connect('alice', resume);
      await again.waitForEvents(2);
      expect(events(again).map((e) => e.data)).toEqual(['', 'sent while away']);
      expect(events(again).some((e) => e.event === SSE_GAP_EVENT)).toBe(false);
    });

    it('takes a caller’s own id as a resume point, and replays broadcasts too', async () => {
      test = await session.start(platform, { transport });
      await test.sse.send('alice', 'one', { id: 'order-1' });
      await test.sse.send('alice', 'two', { id: 'order-2' });
      await test.sse.broadcast('to all', { id: 'news-1', event: 'news' });
      await test.sse.send('alice', 'three', { id: 'order-3' });
      const again = await connect('alice', 'order-1');
      await again.waitForEvents(4);
      expect(
        events(again)
          .slice(1)
          .map((e) => e.id),
      ).toEqual(['order-2', 'news-1', 'order-3']);
      expect(events(again)[2].event).toBe('news');
    });

    it('sends sse:gap first when the id is older than what is kept, then what is kept', async () => {
      test = await session.start(platform, { transport, history: { size: 3 } });
      const first = await connect('alice');
      const resume = events(first)[0].id!;
      first.close();
      for (let i = 0; i < 5; i++) await test.sse.send('alice', i);
      const again = await connect('alice', resume);
      await again.waitForEvents(5);
      const [, gap, ...kept] = events(again);
      expect(gap.event).toBe(SSE_GAP_EVENT);
      expect(JSON.parse(gap.data!)).toEqual({ reason: 'expired', lastEventId: resume });
      expect(kept.map((e) => e.data)).toEqual(['2', '3', '4']);
    });

    it('sends sse:gap when the id is unknown', async () => {
      test = await session.start(platform, { transport });
      await test.sse.send('alice', 'kept');
      const again = await connect('alice', 'no-such-id');
      await again.waitForEvents(2);
      const [first, gap] = events(again);
      expect(first.id).toBe('no-such-id');
      expect(gap.event).toBe(SSE_GAP_EVENT);
      expect(JSON.parse(gap.data!)).toEqual({ reason: 'unknown', lastEventId: 'no-such-id' });
      await test.sse.send('alice', 'live');
      await again.waitForEvents(3);
      expect(events(again).at(-1)!.data).toBe('live');
    });

    it.each([
      ['read before', false],
      ['read after', true],
    ])(
      'delivers events sent while the replay is being read once, after it (history %s them)',
      async (_what, readAfterGate) => {
        const broker = new GatedReplayBroker(readAfterGate);
        test = await session.start(platform, { transport, broker });
        const first = await connect('alice');
        const resume = events(first)[0].id!;
        first.close();
        await test.sse.send('alice', 'missed');
        const again = await connect('alice', resume);
        await test.sse.send('alice', 'during replay 1');
        await test.sse.send('alice', 'during replay 2');
        broker.release();
        await test.sse.send('alice', 'after replay');
        await again.waitForEvents(5);
        expect(
          events(again)
            .slice(1)
            .map((e) => e.data),
        ).toEqual(['missed', 'during replay 1', 'during replay 2', 'after replay']);
      },
    );
  },
);
