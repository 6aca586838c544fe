import type { MessageEvent } from '@nestjs/common';
import { formatEvent, toChunk } from './sse-format.js';

/**
 * One event, serialised at most once whatever the number of connections it goes to: the
 * text, its bytes, its HTTP chunk and its NestJS `MessageEvent` are each made on first use
 * and shared.
 */
export class SseFrame {
  private cachedBytes: Buffer | undefined;
  private cachedChunk: Buffer | undefined;
  private cachedMessage: MessageEvent | undefined;

  constructor(
    readonly id: string,
    /** Ordering key; see `SseEnvelope.seq`. */
    readonly seq: string,
    readonly event: string | undefined,
    /** Absent for a frame that only sets fields (`id`, `retry`) and is not dispatched. */
    readonly data: string | undefined,
    readonly retry?: number,
  ) {}

  /** The event in the text/event-stream format. */
  get text(): string {
    return formatEvent(this.id, this.event, this.data, this.retry);
  }

  /** The event's bytes (UTF-8). */
  get bytes(): Buffer {
    return (this.cachedBytes ??= Buffer.from(this.text, 'utf8'));
  }

  /** The event framed as one HTTP/1.1 chunk. */
  get chunk(): Buffer {
    return (this.cachedChunk ??= toChunk(this.cachedBytes ?? this.text));
  }

  /** The event as NestJS's `@Sse()` pipeline takes it. */
  get message(): MessageEvent {
    if (this.cachedMessage === undefined) {
      const message: MessageEvent = { id: this.id };
      if (this.data !== undefined) message.data = this.data;
      if (this.event !== undefined) message.type = this.event;
      if (this.retry !== undefined) message.retry = this.retry;
      this.cachedMessage = message;
    }
    return this.cachedMessage;
  }
}
