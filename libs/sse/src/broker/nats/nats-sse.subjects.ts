/**
 * Every name the NATS broker uses, derived from its prefix: the one owner of the layout.
 *
 * - `<prefix>.u.<user>`: a user's messages, live (core subscribers) and kept (the stream
 *   captures the subject), one message serving both;
 * - `<prefix>.b`: broadcasts; `<prefix>.t.<topic>`: a topic's events, live and kept alike;
 * - `<prefix>.d.u.<user>`, `<prefix>.d.b`, `<prefix>.d.t.<topic>`: the newest seq of events
 *   lost while NATS was away;
 * - `<prefix>.x.<user>`: disconnect signals, `<prefix>.j.<user>`: joins and leaves, never kept;
 * - stream `<prefix>-history`, KV buckets `<prefix>-presence` and `<prefix>-topics`.
 *
 * A user id or topic name becomes one subject token in base64url: a token may not hold
 * `.`, `*`, `>` or white space, which user ids may (and topic names hold dots and colons,
 * which split subjects into tokens or are awkward in wildcards). base64url maps any string
 * to `A-Za-z0-9_-`, is reversible (disconnect signals are read back), and costs 4/3 of the
 * length against hex's 2.
 */
export class NatsSseSubjects {
  readonly stream: string;
  readonly bucket: string;
  /** KV bucket of memberships. */
  readonly topicsBucket: string;
  readonly broadcast: string;
  readonly broadcastLost: string;
  /** Subjects the history stream keeps. */
  readonly streamSubjects: string[];
  /** Every disconnect signal, for one wildcard subscription. */
  readonly disconnects: string;
  /** Every join and leave signal, for one wildcard subscription. */
  readonly memberships: string;
  private readonly disconnectStart: number;

  constructor(readonly prefix: string) {
    this.stream = `${prefix}-history`;
    this.bucket = `${prefix}-presence`;
    this.topicsBucket = `${prefix}-topics`;
    this.broadcast = `${prefix}.b`;
    this.broadcastLost = `${prefix}.d.b`;
    this.streamSubjects = [`${prefix}.u.*`, this.broadcast, `${prefix}.t.*`, `${prefix}.d.>`];
    this.disconnects = `${prefix}.x.*`;
    this.memberships = `${prefix}.j.*`;
    this.disconnectStart = `${prefix}.x.`.length;
  }

  /** Where a user's messages go. */
  user(userId: string): string {
    return `${this.prefix}.u.${token(userId)}`;
  }

  /** Where a topic's events go. */
  topic(topic: string): string {
    return `${this.prefix}.t.${token(topic)}`;
  }

  /** The marker of a user's lost events. */
  userLost(userId: string): string {
    return `${this.prefix}.d.u.${token(userId)}`;
  }

  /** The marker of a topic's lost events. */
  topicLost(topic: string): string {
    return `${this.prefix}.d.t.${token(topic)}`;
  }

  /** The user (`.d.u.`) or topic (`.d.t.`) of a lost-events marker. */
  userOfLost(subject: string): string {
    return untoken(subject.slice(this.prefix.length + 5));
  }

  /** Whether a lost-events marker is a topic's. */
  isTopicLost(subject: string): boolean {
    return subject.startsWith(`${this.prefix}.d.t.`);
  }

  /** Where a user's joins and leaves are told to the other instances. */
  membership(userId: string): string {
    return `${this.prefix}.j.${token(userId)}`;
  }

  /** The user a join or leave signal is for. */
  userOfMembership(subject: string): string {
    return untoken(subject.slice(this.disconnectStart));
  }

  /** Where the signal that ends a user's connections goes. */
  disconnect(userId: string): string {
    return `${this.prefix}.x.${token(userId)}`;
  }

  /** The user a disconnect signal is for. */
  userOfDisconnect(subject: string): string {
    return untoken(subject.slice(this.disconnectStart));
  }
}

/** A string as one subject token (`=` for the empty string, which base64url leaves empty). */
export function token(value: string): string {
  return value === '' ? '=' : Buffer.from(value, 'utf8').toString('base64url');
}

/** The string a token was made of. */
export function untoken(value: string): string {
  return value === '=' ? '' : Buffer.from(value, 'base64url').toString('utf8');
}

/** Shards of an instance's presence: a user always falls in the same one, on every instance. */
export const PRESENCE_SHARDS = 32;

/** FNV-1a over the UTF-16 code units: cheap, stable, and spread well enough for shards. */
export function presenceShard(userId: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < userId.length; i++) {
    hash ^= userId.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return (hash >>> 0) % PRESENCE_SHARDS;
}
