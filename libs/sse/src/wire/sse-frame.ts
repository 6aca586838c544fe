import type { MessageEvent } from '@nestjs/common';
import { SSE_CLOSE_EVENT, SSE_GAP_EVENT } from '../sse.constants.js';
import type { SseEnvelope } from './sse-envelope.js';
import { formatEvent, toChunk } from './sse-format.js';

/**
 * One event, serialised at most once whatever the number of connections it goes to: the
 * text, its bytes, its HTTP chunk and its NestJS `MessageEvent` are each made on first use
 * and shared. Made by the named constructors, one per kind of frame on the wire.
 */
export class SseFrame {
  private cachedBytes: Buffer | undefined;
  private cachedChunk: Buffer | undefined;
  private cachedMessage: MessageEvent | undefined;

  private constructor(
    readonly id: string,
    /** Ordering key; empty for frames that are not messages. */
    readonly seq: string,
    readonly event: string | undefined,
    /** Absent for a frame that only sets fields (`id`, `retry`) and is not dispatched. */
    readonly data: string | undefined,
    readonly retry?: number,
  ) {}

  /** A message sent by the application. */
  static message(message: SseEnvelope): SseFrame {
    return new SseFrame(message.id, message.seq, message.event, message.data);
  }

  /**
   * The first event of a connection: its id (the client's resume point from now on), the
   * `retry` it should wait before reconnecting, and empty data. Its id orders like a
   * message's `seq`, so replay can resume from it.
   */
  static first(id: string, retry: number): SseFrame {
    return new SseFrame(id, id, undefined, '', retry);
  }

  /**
   * `sse:gap`: events may have been lost before what follows. Keeps the client's resume
   * point (`lastId`) and says why, and from which `Last-Event-ID`.
   */
  static gap(lastId: string, reason: string, lastEventId: string): SseFrame {
    return new SseFrame(lastId, lastId, SSE_GAP_EVENT, JSON.stringify({ reason, lastEventId }));
  }

  /** `sse:close`: the last event of a connection the server ended for good. */
  static close(lastId: string, reason: string): SseFrame {
    return new SseFrame(lastId, '', SSE_CLOSE_EVENT, JSON.stringify({ reason }));
  }

  /**
   * The last frame of a stream the client should come back to after `retry` ms (shutdown,
   * a fault): no data, so browsers take the id and the retry without dispatching an event.
   */
  static retryLater(lastId: string, retry: number): SseFrame {
    return new SseFrame(lastId, '', undefined, undefined, retry);
  }

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
