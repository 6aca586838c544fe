import type { MessageEvent } from '@nestjs/common';
import type { Socket } from 'node:net';
import { type MonoTypeOperatorFunction, tap } from 'rxjs';

/**
 * The least an event counts for on the wire beyond its data (`id: ...\n`, `data: \n\n`):
 * what NestJS's pipeline counts too, so that empty events are not free.
 */
const EVENT_OVERHEAD = 16;

function sizeOf(message: MessageEvent): number {
  const data = message.data;
  return EVENT_OVERHEAD + (typeof data === 'string' ? data.length : 0);
}

/**
 * Bounds what waits in this process for a client that does not read, on the `'observable'`
 * transport: NestJS's pipeline queues events while the response is backed up, and its own
 * bound (`@Sse({ maxPendingDataLength })`) is fixed when routes are declared, before an
 * async options factory has run. Here the bound is `maxPendingBytes`, whenever it arrives:
 * what the stream handed on, less what the socket has passed to the kernel, is what waits
 * in NestJS's queue, its stream and the socket's buffer. Past the bound `onSlow` drops the
 * client. On HTTP/2 the socket is the session's, shared by its streams, so nothing can be
 * told from it: NestJS's own bound applies there.
 */
export function boundPending(
  socket: Socket,
  http1: boolean,
  maxPendingBytes: number,
  onSlow: () => void,
): MonoTypeOperatorFunction<MessageEvent> {
  if (!http1) return (source) => source;
  // Bytes the socket had taken before this stream: earlier responses of a keep-alive
  // connection.
  const base = socket.bytesWritten;
  let handedOn = 0;
  return tap((message) => {
    handedOn += sizeOf(message);
    const flushed = socket.bytesWritten - socket.writableLength - base;
    if (handedOn - flushed > maxPendingBytes) onSlow();
  });
}
