import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import type { SseHub } from '../hub/sse-hub.js';
import type { SseConnection } from '../hub/sse-connection.js';
import { DirectSseSink } from './direct-sse.sink.js';

/** Headers of every stream: the ones NestJS's own `@Sse()` sends. */
export const SSE_HEADERS: OutgoingHttpHeaders = {
  'Content-Type': 'text/event-stream',
  'Cache-Control': 'private, no-cache, no-store, must-revalidate, max-age=0, no-transform',
  Pragma: 'no-cache',
  Expires: '0',
  'X-Accel-Buffering': 'no',
};

/**
 * Opens a stream on a raw Node response: headers now, then every frame written by a
 * `DirectSseSink`. The hub is told when the client goes.
 */
export function openDirectStream(
  hub: SseHub,
  maxPendingBytes: number,
  userId: string,
  request: IncomingMessage,
  response: ServerResponse,
): SseConnection | undefined {
  const socket = request.socket;
  if (socket.destroyed || response.writableEnded) return undefined;
  const http1 = request.httpVersionMajor === 1;
  response.writeHead(200, http1 ? { ...SSE_HEADERS, Connection: 'keep-alive' } : SSE_HEADERS);
  response.flushHeaders();
  socket.setNoDelay(true);
  socket.setKeepAlive(true);
  socket.setTimeout(0);

  // Writing to the socket is only right when the headers are already on it and nothing of
  // another response waits before ours (pipelining): then nothing stays in the response.
  const direct =
    http1 && response.socket === socket && response.writableLength === 0 && !socket.destroyed;
  const framed = direct && response.chunkedEncoding;
  let connection: SseConnection | undefined;
  connection = hub.open(
    userId,
    request.headers['last-event-id'] as string | undefined,
    (opened) =>
      new DirectSseSink(response, direct ? socket : response, framed, maxPendingBytes, () =>
        hub.close(opened, 'slow'),
      ),
  );
  const onClose = (): void => {
    if (connection !== undefined) hub.close(connection, 'client');
    connection = undefined;
  };
  response.once('close', onClose);
  return connection;
}
