import { Test } from '@nestjs/testing';
import { describe, expect, expectTypeOf, it } from 'vitest';
import { SseService } from '../sse.service.js';
import { SseRecorder } from '../testing/sse-recorder.js';
import { SseTestingModule } from '../testing/sse-testing.module.js';
import type { SseSendOptions, SseSendResult } from './sse-service.interface.js';
import type { SseTypedSendOptions } from './sse-typed-events.interface.js';

interface ShopEvents {
  shipped: { orderId: string };
  cancelled: { orderId: string; reason: string };
}

// Never called: each line is checked by `tsc` (npm run lint), which fails if it compiles.
function refusedAtCompileTime(sse: SseService<ShopEvents>): void {
  // @ts-expect-error orderId of `shipped` is a string
  void sse.send('alice', { orderId: 7 }, { event: 'shipped' });
  // @ts-expect-error `cancelled` needs a reason
  void sse.sendToUsers(['alice'], { orderId: '7' }, { event: 'cancelled' });
  // @ts-expect-error `refunded` is not an event of the map
  void sse.broadcast({ orderId: '7' }, { event: 'refunded' });
  // @ts-expect-error with a map, the event is named
  void sse.send('alice', { orderId: '7' });
  // @ts-expect-error with a map, the options with the event are required
  void sse.broadcast({ orderId: '7' }, {});
  // @ts-expect-error a topic's event is checked too
  void sse.publish('orders', { orderId: '7' }, { event: 'cancelled' });
}

describe('SseService<Events>', () => {
  it('takes the data of the named event, and sends it', async () => {
    const moduleRef = await Test.createTestingModule({
      imports: [SseTestingModule.forRoot()],
    }).compile();
    await moduleRef.init();
    try {
      const sse: SseService<ShopEvents> = moduleRef.get(SseService);
      await sse.send('alice', { orderId: '7' }, { event: 'shipped' });
      await sse.sendToUsers(
        ['alice', 'bob'],
        { orderId: '8', reason: 'late' },
        { event: 'cancelled' },
      );
      await sse.broadcast({ orderId: '9' }, { event: 'shipped', id: 'b-9' });
      await sse.publish('orders', { orderId: '10', reason: 'gone' }, { event: 'cancelled' });
      expect(moduleRef.get(SseRecorder).sent.map(({ event, to }) => ({ event, to }))).toEqual([
        { event: 'shipped', to: ['alice'] },
        { event: 'cancelled', to: ['alice', 'bob'] },
        { event: 'shipped', to: null },
        { event: 'cancelled', to: null },
      ]);
      expect(refusedAtCompileTime).toBeTypeOf('function');
    } finally {
      await moduleRef.close();
    }
  });

  it('correlates data with the event name in the parameter types', () => {
    type SendArgs = Parameters<SseService<ShopEvents>['send']>;
    expectTypeOf<SendArgs>().toEqualTypeOf<
      | [userId: string, data: { orderId: string }, options: SseTypedSendOptions<'shipped'>]
      | [
          userId: string,
          data: { orderId: string; reason: string },
          options: SseTypedSendOptions<'cancelled'>,
        ]
    >();
  });

  it('without a map, stays as it is', () => {
    expectTypeOf<Parameters<SseService['send']>>().toEqualTypeOf<
      [userId: string, data: unknown, options?: SseSendOptions]
    >();
    expectTypeOf<Parameters<SseService['broadcast']>>().toEqualTypeOf<
      [data: unknown, options?: SseSendOptions]
    >();
    expectTypeOf<Parameters<SseService['publish']>>().toEqualTypeOf<
      [topic: string, data: unknown, options?: SseSendOptions]
    >();
    expectTypeOf<ReturnType<SseService['sendToUsers']>>().toEqualTypeOf<Promise<SseSendResult>>();
  });
});
