import { SSE_RESERVED_PREFIX } from '../sse.constants.js';
import {
  SseInvalidDataError,
  SseInvalidEventIdError,
  SseInvalidEventNameError,
  SseInvalidTopicError,
  SseInvalidUserIdError,
  SseMessageTooLargeError,
  SseTooManyTopicsError,
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

const TOPIC = /^[A-Za-z0-9_.:@-]{1,128}$/;

/**
 * A topic name: 1 to 128 characters of `A-Za-z0-9_.:@-`. The one check of topic names,
 * for memberships, subscriptions and publishing alike.
 */
export function checkTopic(topic: unknown): string {
  if (typeof topic !== 'string') throw new SseInvalidTopicError(`got ${describe(topic)}`);
  if (TOPIC.test(topic)) return topic;
  if (topic.length === 0) throw new SseInvalidTopicError('it is empty');
  if (topic.length > 128) throw new SseInvalidTopicError(`it has ${topic.length} characters`);
  const bad = [...topic].find((c) => !TOPIC.test(c)) ?? '';
  throw new SseInvalidTopicError(`${JSON.stringify(topic)} contains ${JSON.stringify(bad)}`);
}

/**
 * The subscription topics of one stream: each checked, each once, at most `max` of them.
 * `undefined` is none.
 */
export function checkSubscriptions(topics: unknown, max: number): string[] {
  if (topics === undefined || topics === null) return [];
  if (!Array.isArray(topics)) throw new SseInvalidTopicError('topics must be an array');
  const unique = [...new Set(topics.map(checkTopic))];
  if (unique.length > max) {
    throw new SseTooManyTopicsError(
      'maxTopicsPerConnection',
      max,
      `A stream asked for ${unique.length}`,
    );
  }
  return unique;
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
