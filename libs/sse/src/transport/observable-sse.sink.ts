import type { MessageEvent } from '@nestjs/common';
import type { Subscriber } from 'rxjs';
import type { SseFrame } from '../wire/sse-frame.js';
import type { SseSink } from './sse-sink.interface.js';

const HEARTBEAT: MessageEvent = { comment: '' };

/** Hands frames to an Observable's subscriber, as NestJS's `@Sse()` pipeline expects. */
export class ObservableSseSink implements SseSink {
  constructor(private readonly subscriber: Subscriber<MessageEvent>) {}

  write(frame: SseFrame): void {
    this.subscriber.next(frame.message);
  }

  heartbeat(): void {
    this.subscriber.next(HEARTBEAT);
  }

  end(last?: SseFrame): void {
    if (last !== undefined) this.subscriber.next(last.message);
    this.subscriber.complete();
  }

  destroy(): void {
    this.subscriber.complete();
  }
}
