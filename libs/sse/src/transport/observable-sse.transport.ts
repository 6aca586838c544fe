import type { MessageEvent } from '@nestjs/common';
import type { ServerResponse } from 'node:http';
import { Observable } from 'rxjs';
import type { SseHub } from '../hub/sse-hub.js';
import { ObservableSseSink } from './observable-sse.sink.js';

/**
 * Opens a stream as an Observable of NestJS `MessageEvent`s, for an `@Sse()` handler: the
 * hub opens it on subscribe, with an `ObservableSseSink`, and closes it on unsubscribe
 * (reason `slow` when `isSlow` says so, else `client`).
 *
 * @param response the response NestJS writes to, when known (the ready route): shutdown
 *   waits for it to be over.
 * @param topics the stream's subscriptions, checked and authorised already.
 */
export function openObservableStream(
  hub: SseHub,
  userId: string,
  lastEventId: string | null | undefined,
  isSlow?: () => boolean,
  response?: ServerResponse,
  topics?: readonly string[],
): Observable<MessageEvent> {
  return new Observable<MessageEvent>((subscriber) => {
    const connection = hub.open(
      userId,
      lastEventId,
      () => new ObservableSseSink(subscriber, response),
      topics,
    );
    return () => hub.close(connection, isSlow?.() ? 'slow' : 'client');
  });
}
