import type { SseEnvelope } from '../sse-broker.interface.js';

/**
 * How a message is written in Redis: `seq`, id, event name and data on four lines, the id
 * empty when it is the seq and the name empty for a plain `message`. Ids and names never
 * hold a line break (`send` refuses them) and the data comes last, so it may hold any.
 * No JSON around data that is often JSON already: nothing to escape, one copy.
 */
export function encodeEntry(message: SseEnvelope): string {
  const id = message.id === message.seq ? '' : message.id;
  return `${message.seq}\n${id}\n${message.event ?? ''}\n${message.data}`;
}

/** Reads an entry back, for the given recipients; `undefined` when it is not one. */
export function decodeEntry(
  entry: string,
  to: readonly string[] | null,
  from = 0,
): SseEnvelope | undefined {
  const a = entry.indexOf('\n', from);
  const b = a === -1 ? -1 : entry.indexOf('\n', a + 1);
  const c = b === -1 ? -1 : entry.indexOf('\n', b + 1);
  if (c === -1) return undefined;
  const seq = entry.slice(from, a);
  const id = b === a + 1 ? seq : entry.slice(a + 1, b);
  const event = c === b + 1 ? undefined : entry.slice(b + 1, c);
  return { id, seq, event, data: entry.slice(c + 1), to };
}

/** A pub/sub message, read: a message (`m<origin>\n<entry>`) or a disconnect (`x<origin>`). */
export type RedisSseSignal =
  | { readonly kind: 'message'; readonly origin: string; readonly entry: number }
  | { readonly kind: 'disconnect'; readonly origin: string };

/** Reads the head of a pub/sub message; `entry` is where a message's entry starts. */
export function decodeSignal(payload: string): RedisSseSignal | undefined {
  const kind = payload.charAt(0);
  if (kind === 'x') return { kind: 'disconnect', origin: payload.slice(1) };
  if (kind !== 'm') return undefined;
  const end = payload.indexOf('\n');
  if (end === -1) return undefined;
  return { kind: 'message', origin: payload.slice(1, end), entry: end + 1 };
}

/** The head of a message from `origin`; its entry follows. */
export function messageHead(origin: string): string {
  return `m${origin}\n`;
}

/** The control message that ends a user's connections on the other instances. */
export function encodeDisconnect(origin: string): string {
  return `x${origin}`;
}
