import type { SseEnvelope } from './sse-broker.interface.js';

/**
 * How a message is written in a broker (a Redis stream entry, a NATS message): `seq`, id,
 * event name and data on four lines, the id empty when it is the seq and the name empty
 * for a plain `message`. Ids and names never hold a line break (`send` refuses them) and
 * the data comes last, so it may hold any. No JSON around data that is often JSON
 * already: nothing to escape, one copy.
 */
export function encodeEntry(message: SseEnvelope): string {
  const id = message.id === message.seq ? '' : message.id;
  return `${message.seq}\n${id}\n${message.event ?? ''}\n${message.data}`;
}

/**
 * Reads an entry back, for the given recipients (`null` and a `topic` for a topic's
 * event); `undefined` when it is not one.
 */
export function decodeEntry(
  entry: string,
  to: readonly string[] | null,
  from = 0,
  topic?: string,
): SseEnvelope | undefined {
  const a = entry.indexOf('\n', from);
  const b = a === -1 ? -1 : entry.indexOf('\n', a + 1);
  const c = b === -1 ? -1 : entry.indexOf('\n', b + 1);
  if (c === -1) return undefined;
  const seq = entry.slice(from, a);
  const id = b === a + 1 ? seq : entry.slice(a + 1, b);
  const event = c === b + 1 ? undefined : entry.slice(b + 1, c);
  const data = entry.slice(c + 1);
  return topic === undefined ? { id, seq, event, data, to } : { id, seq, event, data, to, topic };
}

/** Events an instance sent but Redis did not take: the newest seq per user, or of everyone. */
export interface SseLostEventsSignal {
  /** Newest lost seq of a broadcast (or of users past the ledger's bound): lost for everyone. */
  readonly all?: string;
  /** Newest lost seq per user. */
  readonly users: readonly (readonly [userId: string, seq: string])[];
}

/**
 * A pub/sub message, read: a message (`m<origin>\n<entry>`), a disconnect (`x<origin>`),
 * news of events that Redis did not take (`l<origin>\n<all seq>\n<user>\n<seq>...`), or a
 * change of the user's memberships, numbered by their version: a join
 * (`j<origin>\n<version>\n<topic>\n<from>`, written by the join script) or a leave
 * (`p<origin>\n<version>\n<topic>`).
 */
export type SseBrokerSignal =
  | { readonly kind: 'message'; readonly origin: string; readonly entry: number }
  | SseMembershipSignal
  | { readonly kind: 'disconnect'; readonly origin: string }
  | { readonly kind: 'lost'; readonly origin: string; readonly lost: SseLostEventsSignal };

/** A join or leave, told on the user's channel. */
export interface SseMembershipSignal {
  readonly kind: 'join' | 'leave';
  readonly origin: string;
  readonly version: number;
  readonly topic: string;
  /** The join's seq (joins only). */
  readonly from: string;
}

/** Reads the head of a pub/sub message; `entry` is where a message's entry starts. */
export function decodeSignal(payload: string): SseBrokerSignal | undefined {
  const kind = payload.charAt(0);
  if (kind === 'j' || kind === 'p') {
    const [origin, version, topic, from = ''] = payload.slice(1).split('\n');
    if (topic === undefined) return undefined;
    const joined = kind === 'j' ? 'join' : 'leave';
    return { kind: joined, origin, version: Number(version), topic, from };
  }
  if (kind === 'x') return { kind: 'disconnect', origin: payload.slice(1) };
  if (kind === 'l') return decodeLost(payload);
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

/**
 * News of events that Redis did not take, for the other instances: user ids hold no
 * control character (`send` refuses them), so lines separate the fields.
 */
export function encodeLost(origin: string, lost: SseLostEventsSignal): string {
  let payload = `l${origin}\n${lost.all ?? ''}`;
  for (const [userId, seq] of lost.users) payload += `\n${userId}\n${seq}`;
  return payload;
}

function decodeLost(payload: string): SseBrokerSignal | undefined {
  const lines = payload.slice(1).split('\n');
  if (lines.length < 2 || lines.length % 2 !== 0) return undefined;
  const users: [string, string][] = [];
  for (let i = 2; i < lines.length; i += 2) users.push([lines[i], lines[i + 1]]);
  const lost: SseLostEventsSignal = lines[1] === '' ? { users } : { all: lines[1], users };
  return { kind: 'lost', origin: lines[0], lost };
}
