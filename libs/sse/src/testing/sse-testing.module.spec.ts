import { Inject, Injectable, type MessageEvent } from '@nestjs/common';
import { Test, type TestingModule } from '@nestjs/testing';
import { firstValueFrom, filter, take, toArray } from 'rxjs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SseInvalidEventNameError, SseMessageTooLargeError } from '../sse.errors.js';
import { SseService } from '../sse.service.js';
import { SseRecorder, SseTestingModule } from '../testing.js';

/** An application's own service that sends, as the docs' example has it. */
@Injectable()
class OrdersService {
  constructor(@Inject(SseService) private readonly sse: SseService) {}

  async ship(order: { id: string; userId: string }): Promise<number> {
    const { delivered } = await this.sse.send(
      order.userId,
      { orderId: order.id },
      { event: 'shipped' },
    );
    return delivered;
  }

  async announce(text: string): Promise<void> {
    await this.sse.broadcast({ text }, { event: 'announcement' });
  }

  async notifyTeam(userIds: string[], event: string): Promise<void> {
    await this.sse.sendToUsers(userIds, 'team news', { event });
  }
}

describe('SseTestingModule', () => {
  let moduleRef: TestingModule;
  let orders: OrdersService;
  let recorder: SseRecorder;

  beforeEach(async () => {
    moduleRef = await Test.createTestingModule({
      imports: [SseTestingModule.forRoot()],
      providers: [OrdersService],
    }).compile();
    await moduleRef.init();
    orders = moduleRef.get(OrdersService);
    recorder = moduleRef.get(SseRecorder);
  });

  afterEach(() => moduleRef.close());

  it("records what the application's service sends, with its recipients", async () => {
    expect(await orders.ship({ id: '7', userId: 'alice' })).toBe(0);
    expect(recorder.sent).toEqual([
      { id: expect.any(String), event: 'shipped', data: '{"orderId":"7"}', to: ['alice'] },
    ]);
    expect(Object.isFrozen(recorder.sent[0])).toBe(true);
  });

  it('records topic events with their topic, and keeps them out of sentTo', async () => {
    const sse = moduleRef.get(SseService);
    await sse.join('alice', 'team:1');
    await sse.publish('team:1', 'standup', { event: 'chat' });
    expect(recorder.sent).toEqual([
      { id: expect.any(String), event: 'chat', data: 'standup', to: null, topic: 'team:1' },
    ]);
    expect(recorder.sentTo('alice')).toEqual([]);
  });

  it('records broadcasts with no recipients list, and sentTo counts them for everyone', async () => {
    await orders.ship({ id: '1', userId: 'alice' });
    await orders.announce('maintenance at noon');
    await orders.notifyTeam(['bob', 'carol'], 'team');
    expect(recorder.sent.map((event) => [event.event, event.to])).toEqual([
      ['shipped', ['alice']],
      ['announcement', null],
      ['team', ['bob', 'carol']],
    ]);
    expect(recorder.sentTo('alice').map((event) => event.event)).toEqual([
      'shipped',
      'announcement',
    ]);
    expect(recorder.sentTo('carol').map((event) => event.event)).toEqual(['announcement', 'team']);
    expect(recorder.sent[2].data).toBe('team news');
  });

  it('runs the real service: a refused send rejects as in production and records nothing', async () => {
    await expect(orders.notifyTeam(['bob'], 'sse:internal')).rejects.toBeInstanceOf(
      SseInvalidEventNameError,
    );
    await expect(orders.notifyTeam([''], 'team')).rejects.toThrow(/Potential solutions/);
    expect(recorder.sent).toEqual([]);
  });

  it('delivers to streams opened in the test, and the result counts them', async () => {
    const sse = moduleRef.get(SseService);
    const received = firstValueFrom(
      sse.stream('alice').pipe(
        filter((event: MessageEvent) => event.type === 'shipped'),
        take(1),
        toArray(),
      ),
    );
    expect(await orders.ship({ id: '8', userId: 'alice' })).toBe(1);
    const [event] = await received;
    expect(event).toMatchObject({ type: 'shipped', id: recorder.sent[0].id });
  });

  it('forgets on clear()', async () => {
    await orders.ship({ id: '1', userId: 'alice' });
    recorder.clear();
    expect(recorder.sent).toEqual([]);
    await orders.ship({ id: '2', userId: 'alice' });
    expect(recorder.sent).toHaveLength(1);
  });
});

describe('SseTestingModule.forRoot(options)', () => {
  it("applies SseModule's options, and gives each module its own recorder", async () => {
    const small = await Test.createTestingModule({
      imports: [SseTestingModule.forRoot({ maxMessageBytes: 8 })],
    }).compile();
    const other = await Test.createTestingModule({
      imports: [SseTestingModule.forRoot()],
    }).compile();
    await small.init();
    await other.init();
    try {
      const sse = small.get(SseService);
      await expect(sse.send('alice', 'far too long')).rejects.toBeInstanceOf(
        SseMessageTooLargeError,
      );
      await sse.send('alice', 'short');
      expect(small.get(SseRecorder).sent.map((event) => event.data)).toEqual(['short']);
      expect(other.get(SseRecorder).sent).toEqual([]);
    } finally {
      await small.close();
      await other.close();
    }
  });
});
