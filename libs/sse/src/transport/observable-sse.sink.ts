import type { MessageEvent } from '@nestjs/common';
import type { ServerResponse } from 'node:http';
import type { Subscriber } from 'rxjs';
import { responseClosed } from './response-closed.js';
import type { SseFrame } from '../wire/sse-frame.js';
import type { SseSink } from '../hub/sse-sink.interface.js';

const HEARTBEAT: MessageEvent = { comment: '' };

/** Hands frames to an Observable's subscriber, as NestJS's `@Sse()` pipeline expects. */
export class ObservableSseSink implements SseSink {
  constructor(
    private readonly subscriber: Subscriber<MessageEvent>,
    /** The response NestJS writes to, when known (the ready route). */
    private readonly response?: ServerResponse,
  ) {}

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

  whenClosed(): Promise<void> {
    return this.response === undefined ? Promise.resolve() : responseClosed(this.response);
  }
}
