import type { Redis } from 'ioredis';
import type { SseMembershipWindow, SseReplay } from '../sse-broker.interface.js';
import {
  planReplay,
  topicReads,
  uuidV7Floor,
  type SseHistoryEntry,
  type SseHistorySource,
} from '../../history/sse-replay.js';
import { decodeEntry } from './redis-sse.codec.js';
import type { RedisSseKeys } from './redis-sse.keys.js';
import type { RedisSseLedger } from './redis-sse.ledger.js';
import { writeRefused } from './redis-sse.readiness.js';
import { PREPARE_REPLAY } from './redis-sse.scripts.js';

/** What a replay reads of Redis: each source's entries (XRANGE replies) and marker. */
interface HistoryRead {
  readonly own: unknown;
  readonly ownDropped: unknown;
  readonly all: unknown;
  readonly allDropped: unknown;
  readonly epoch: unknown;
  /** The user's memberships (HGETALL) and left windows (ZRANGE). */
  readonly joined: unknown;
  readonly left: unknown;
  /** The trim before the read was refused: the read holds what trimming lets go of. */
  readonly untrimmed: boolean;
}

/**
 * The history read of a replay: a script that trims the user's and the broadcasts'
 * history (the one part that writes), then a MULTI that reads both streams, their dropped
 * markers, the epoch and the user's memberships; then, per topic of the connection or of a
 * membership window, a MULTI that reads the topic's stream and marker (one slot each), whose
 * trim by size and age is done here on what was read, so that no topic is written to. When Redis refuses the trim (out of memory, a read-only replica), the reads
 * still answer and the trim is done here, on what was read.
 */
export class RedisSseHistory {
  constructor(
    private readonly client: Redis,
    private readonly keys: RedisSseKeys,
    private readonly history: { readonly size: number; readonly ttlMs: number },
    private readonly ledger: RedisSseLedger,
  ) {}

  /**
   * The user's kept events after `lastEventId`, with those of `topics` and of the user's
   * membership windows, by `planReplay`; throws when Redis fails.
   */
  async replay(userId: string, lastEventId: string, topics: readonly string[]): Promise<SseReplay> {
    const read = await this.read(userId);
    const { size, ttlMs } = this.history;
    const now = Date.now();
    const own = source(read.own, read.ownDropped, [userId], this.ledger.lostSeq(userId));
    const all = source(read.all, read.allDropped, null, this.ledger.lostSeq(null));
    const sources = read.untrimmed
      ? [trimmed(own, size, now - ttlMs), trimmed(all, size, now - ttlMs)]
      : [own, all];
    const reads = topicReads(topics, windowsOf(read.joined, read.left));
    const kept = new Map<string, Promise<SseHistorySource>>();
    for (const { topic } of reads) if (!kept.has(topic)) kept.set(topic, this.readTopic(topic));
    for (const { topic, after, until } of reads) {
      const topicSource = trimmed(await kept.get(topic)!, size, now - ttlMs);
      sources.push({ ...topicSource, after, until });
    }
    const horizon = uuidV7Floor(now - 2 * ttlMs);
    const epoch = typeof read.epoch === 'string' ? read.epoch : '';
    return planReplay(lastEventId, sources, epoch > horizon ? epoch : horizon);
  }

  /**
   * Sends the trim and the read together (one round trip, run in that order), apart: a
   * MULTI that holds a script is refused whole when Redis is out of memory.
   */
  private async read(userId: string): Promise<HistoryRead> {
    const { keys, history } = this;
    const stream = keys.userStream(userId);
    const dropped = keys.userDropped(userId);
    const prepared = PREPARE_REPLAY.run(
      this.client,
      [stream, dropped, keys.broadcastStream, keys.broadcastDropped, keys.epoch],
      [history.ttlMs, 2 * history.ttlMs, uuidV7Floor(Date.now()), history.size],
    ).then(
      () => false,
      (error: unknown) => {
        if (writeRefused(error)) return true;
        throw error;
      },
    );
    const reads = (atomic: boolean) =>
      (atomic ? this.client.multi() : this.client.pipeline())
        .get(dropped)
        .get(keys.broadcastDropped)
        .get(keys.epoch)
        .xrange(stream, '-', '+')
        .xrange(keys.broadcastStream, '-', '+')
        .hgetall(keys.userTopics(userId))
        .zrange(keys.userTopicsLeft(userId), '0', '-1')
        .exec();
    type Replies = [Error | null, unknown][] | null;
    const atomically = reads(true).then(
      (replies): Replies | Error => replies,
      (error: unknown): Replies | Error =>
        error instanceof Error ? error : new Error(String(error)),
    );
    const untrimmed = await prepared;
    let replies = await atomically;
    // Out of memory, Redis refuses a whole MULTI; as it refuses every write too, nothing
    // changes between reads sent one after the other.
    const failed = replies instanceof Error || replies?.some(([error]) => error !== null);
    if (untrimmed && failed) replies = await reads(false);
    if (replies instanceof Error) throw replies;
    if (replies === null) throw new Error('the history read was aborted');
    for (const [error] of replies) if (error !== null) throw error;
    const [[, ownDropped], [, allDropped], [, epoch], [, own], [, all], [, joined], [, left]] =
      replies;
    return { own, ownDropped, all, allDropped, epoch, joined, left, untrimmed };
  }

  /** A topic's kept events and marker, read together (one slot). */
  private async readTopic(topic: string): Promise<SseHistorySource> {
    const replies = await this.client
      .multi()
      .xrange(this.keys.topicStream(topic), '-', '+')
      .get(this.keys.topicDropped(topic))
      .exec();
    if (replies === null) throw new Error('the topic history read was aborted');
    for (const [error] of replies) if (error !== null) throw error;
    return source(replies[0][1], replies[1][1], null, undefined, topic);
  }
}

/** The membership windows out of the user's memberships hash and left windows. */
function windowsOf(joined: unknown, left: unknown): SseMembershipWindow[] {
  const windows: SseMembershipWindow[] = [];
  if (joined !== null && typeof joined === 'object') {
    for (const [topic, from] of Object.entries(joined as Record<string, string>)) {
      windows.push({ topic, from });
    }
  }
  if (Array.isArray(left)) {
    for (const item of left as unknown[]) {
      const [topic, from, until] = String(item).split('\n');
      if (until !== undefined) windows.push({ topic, from, until });
    }
  }
  return windows;
}

/**
 * A history source out of an XRANGE reply (`[[id, ['m', entry]], ...]`), its marker and
 * what the ledger knows was lost, whichever is newer.
 */
function source(
  range: unknown,
  dropped: unknown,
  to: readonly string[] | null,
  lost: string | undefined,
  topic?: string,
): SseHistorySource {
  const entries: SseHistoryEntry[] = [];
  if (Array.isArray(range)) {
    for (const item of range as unknown[]) {
      if (!Array.isArray(item) || !Array.isArray(item[1])) continue;
      const envelope = decodeEntry(String(item[1][1]), to, 0, topic);
      if (envelope !== undefined) entries.push({ envelope, at: parseInt(String(item[0]), 10) });
    }
  }
  let droppedSeq = typeof dropped === 'string' && dropped !== '' ? dropped : undefined;
  if (lost !== undefined && (droppedSeq === undefined || lost > droppedSeq)) droppedSeq = lost;
  return droppedSeq === undefined ? { entries } : { entries, droppedSeq };
}

/** What the trim would have kept: the newest `size` entries kept since `since`. */
function trimmed(source: SseHistorySource, size: number, since: number): SseHistorySource {
  let first = Math.max(0, source.entries.length - size);
  while (first < source.entries.length && source.entries[first].at < since) first++;
  if (first === 0) return source;
  let droppedSeq = source.entries[first - 1].envelope.seq;
  if (source.droppedSeq !== undefined && source.droppedSeq > droppedSeq) {
    droppedSeq = source.droppedSeq;
  }
  return { entries: source.entries.slice(first), droppedSeq };
}
