import { SSE_RESERVED_PREFIX } from '../sse.constants.js';
import {
  SseInvalidDataError,
  SseInvalidEventIdError,
  SseInvalidEventNameError,
  SseInvalidUserIdError,
  SseMessageTooLargeError,
} from '../sse.errors.js';
import { SSE_MAX_TOKEN_LENGTH } from '../sse.internal-constants.js';
import { eventIdProblem } from './sse-event-id.js';

// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/;
const LINE_BREAK = /[\r\n]/;

function describe(value: unknown): string {
  return value === null ? 'null' : typeof value;
}

/** A user id: a non-empty string of at most 256 characters, no control characters. */
export function checkUserId(userId: unknown): string {
  if (typeof userId !== 'string') throw new SseInvalidUserIdError(`got ${describe(userId)}`);
  if (userId.length === 0) throw new SseInvalidUserIdError('it is empty');
  if (userId.length > SSE_MAX_TOKEN_LENGTH) {
    throw new SseInvalidUserIdError(`it has ${userId.length} characters`);
  }
  if (CONTROL.test(userId)) throw new SseInvalidUserIdError('it contains a control character');
  return userId;
}

/** An event id a caller gives: one that every client can send back (`eventIdProblem`). */
export function checkEventId(id: unknown): string {
  if (typeof id !== 'string') throw new SseInvalidEventIdError(`got ${describe(id)}`);
  const problem = eventIdProblem(id);
  if (problem !== undefined) throw new SseInvalidEventIdError(problem);
  return id;
}

/**
 * An event name: 1 to 256 characters, no CR or LF, not reserved (`sse:`), and not `error`,
 * which browsers deliver to `EventSource.onerror` as if the connection had failed.
 */
export function checkEventName(event: unknown): string {
  if (typeof event !== 'string') throw new SseInvalidEventNameError(`got ${describe(event)}`);
  if (event.length === 0) throw new SseInvalidEventNameError('it is empty');
  if (event.length > SSE_MAX_TOKEN_LENGTH) {
    throw new SseInvalidEventNameError(`it has ${event.length} characters`);
  }
  if (LINE_BREAK.test(event)) throw new SseInvalidEventNameError('it contains CR or LF');
  if (event.startsWith(SSE_RESERVED_PREFIX)) {
    throw new SseInvalidEventNameError(`"${event}" starts with the reserved prefix "sse:"`);
  }
  if (event === 'error') {
    throw new SseInvalidEventNameError('"error" would reach EventSource.onerror in browsers');
  }
  return event;
}

/**
 * Serialises event data once: a string as it is, anything else as JSON. Refuses what
 * cannot be serialised and what is larger than `maxBytes` (UTF-8).
 */
export function serialiseData(data: unknown, maxBytes: number): string {
  let text: string | undefined;
  if (typeof data === 'string') {
    text = data;
  } else if (data === undefined || typeof data === 'function' || typeof data === 'symbol') {
    throw new SseInvalidDataError(`got ${typeof data}`);
  } else {
    try {
      text = JSON.stringify(data);
    } catch (error) {
      throw new SseInvalidDataError((error as Error).message);
    }
    if (typeof text !== 'string') throw new SseInvalidDataError('JSON.stringify gave nothing');
  }
  // A UTF-8 string has at least as many bytes as UTF-16 code units, and at most three
  // times as many: most payloads are settled without counting bytes.
  if (text.length > maxBytes) throw new SseMessageTooLargeError(Buffer.byteLength(text), maxBytes);
  if (text.length * 3 > maxBytes) {
    const bytes = Buffer.byteLength(text);
    if (bytes > maxBytes) throw new SseMessageTooLargeError(bytes, maxBytes);
  }
  return text;
}
