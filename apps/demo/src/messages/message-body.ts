import { BadRequestException } from '@nestjs/common';
import { isUserId } from '../auth/auth.constants.js';

/** Body of `POST /messages/broadcast`. */
export interface BroadcastBody {
  /** Any JSON value: a string arrives as that string, anything else as its JSON text. */
  data: unknown;
  /** The event's name; the library refuses `sse:…`, `error`, CR and LF. */
  event?: string;
  /** The event's id; the library refuses CR, LF and NUL. */
  id?: string;
}

/** Body of `POST /messages`. */
export interface SendBody extends BroadcastBody {
  /** The recipient's user id. */
  to: string;
}

function fields(body: unknown): Record<string, unknown> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new BadRequestException('The body must be a JSON object.');
  }
  const record = body as Record<string, unknown>;
  if (!Object.hasOwn(record, 'data')) {
    throw new BadRequestException('data is required: any JSON value.');
  }
  return record;
}

function optionalString(record: Record<string, unknown>, name: string): string | undefined {
  const value = record[name];
  if (value === undefined || typeof value === 'string') return value;
  throw new BadRequestException(`${name} must be a string when given.`);
}

/**
 * Checks the shape of a broadcast. What `event`, `id` and `data` may contain is left to the
 * library, whose refusals the `SseErrorFilter` turns into 400 and 413.
 */
export function parseBroadcastBody(body: unknown): BroadcastBody {
  const record = fields(body);
  return {
    data: record.data,
    event: optionalString(record, 'event'),
    id: optionalString(record, 'id'),
  };
}

/** Checks the shape of a message to one user; see `parseBroadcastBody`. */
export function parseSendBody(body: unknown): SendBody {
  const record = fields(body);
  if (!isUserId(record.to)) {
    throw new BadRequestException(
      'to must be a user id: 1 to 64 characters of letters, digits and _ . @ -',
    );
  }
  return { to: record.to, ...parseBroadcastBody(record) };
}
