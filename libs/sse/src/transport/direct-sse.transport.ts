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
 * The HTTP/1 headers as a flat list of names and values: Node takes such a list as it is,
 * where it walks an object's keys on every `writeHead`.
 */
const SSE_HEADERS_HTTP1: string[] = Object.entries({
  ...SSE_HEADERS,
  Connection: 'keep-alive',
}).flatMap(([name, value]) => [name, String(value)]);

/**
 * Opens a stream on a raw Node response: headers now, then every frame written by a
 * `DirectSseSink`. The hub is told when the client goes. `topics` are its subscriptions,
 * checked and authorised already.
 */
export function openDirectStream(
  hub: SseHub,
  maxPendingBytes: number,
  userId: string,
  lastEventId: string | undefined,
  request: IncomingMessage,
  response: ServerResponse,
  topics?: readonly string[],
): SseConnection | undefined {
  const socket = request.socket;
  if (socket.destroyed || response.writableEnded) return undefined;
  const http1 = request.httpVersionMajor === 1;
  if (request.method === 'HEAD') {
    // The stream's bytes go to the socket itself, past Node's rule that a HEAD answer has
    // no body: a keep-alive client would read them as its next response. The head only.
    response.writeHead(200, SSE_HEADERS);
    response.end();
    return undefined;
  }
  // The response may write to the socket itself when nothing of an earlier response
  // (pipelining) waits on it.
  const owned = http1 && response.socket === socket && socket.writableLength === 0;
  response.writeHead(200, http1 ? SSE_HEADERS_HTTP1 : SSE_HEADERS);
  // The headers wait on the held socket for the first event, which the hub writes at once,
  // and leave with it in one write: a write to a socket costs more than the rest of a
  // connect.
  if (owned) socket.cork();
  let connection: SseConnection | undefined;
  try {
    response.flushHeaders();
    // On HTTP/2 the socket is the session's, shared by its streams: its idle timeout must
    // stay, so that the session closes once its streams are over. No TCP keep-alive: the
    // heartbeat already finds a peer that has gone, and its probes would cost two system
    // calls per connect. `setNoDelay` costs nothing where the server set it on accept.
    if (http1) {
      socket.setNoDelay(true);
      socket.setTimeout(0);
    }

    // Writing to the socket is only right when the headers went to it, not into the
    // response: then nothing of ours stays in the response to be sent later.
    const direct = owned && response.writableLength === socket.writableLength && !socket.destroyed;
    const framed = direct && response.chunkedEncoding;
    connection = hub.open(
      userId,
      lastEventId,
      (opened) =>
        new DirectSseSink(response, direct ? socket : response, framed, maxPendingBytes, () =>
          hub.close(opened, 'slow'),
        ),
      topics,
    );
  } finally {
    if (owned) socket.uncork();
  }
  const closed = (): void => {
    if (connection !== undefined) hub.close(connection, 'client');
    connection = undefined;
  };
  // 'close' comes once: `on` spares the wrapper `once` keeps per connection.
  response.on('close', closed);
  // A pipelined request's response waits behind the one before it and has no socket yet:
  // Node never closes it when the client goes, so the socket says it instead.
  if (http1 && response.socket !== socket) socket.once('close', closed);
  return connection;
}
