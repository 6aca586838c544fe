import type { MessageEvent } from '@nestjs/common';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { formatEvent } from '../wire/sse-format.js';
import { SSE_HEADERS } from './direct-sse.transport.js';

/**
 * What a stream request gets while the instance shuts down: `200`, one frame that sets a
 * randomised `retry`, and the end. EventSource gives up for good on any other status, so
 * a refusal here would cost the client its stream; this way it reconnects (to another
 * instance, or to this one once it is back) and replays. No `id`: the client keeps its
 * resume point.
 */
export function closingMessage(retry: number): MessageEvent {
  return { retry } as MessageEvent;
}

/** The same answer written to a raw response; the HTTP/1 connection closes after it. */
export function answerClosing(
  request: IncomingMessage,
  response: ServerResponse,
  retry: number,
): void {
  if (response.headersSent || response.writableEnded) return;
  const http1 = request.httpVersionMajor === 1;
  response.writeHead(200, http1 ? { ...SSE_HEADERS, Connection: 'close' } : SSE_HEADERS);
  if (request.method === 'HEAD') response.end();
  else response.end(formatEvent(undefined, undefined, undefined, retry));
}
