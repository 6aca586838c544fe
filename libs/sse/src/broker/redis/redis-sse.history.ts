import type { SseMembershipWindow, SseReplay } from '../sse-broker.interface.js';
import {
  planReplay,
  topicReads,
  uuidV7Floor,
  type SseHistoryEntry,
  type SseHistorySource,
} from '../../history/sse-replay.js';
import { CLUSTER_PREPARE_REPLAY } from './redis-sse.cluster-scripts.js';
import { decodeEntry } from '../sse-broker.codec.js';
import type { RedisSseClient } from './redis-sse.connection.js';
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
 * trim by size and age is done here on what was read, so that no topic is written to. When Redis refuses the trim (out of memory, a
 * read-only replica), the reads still answer and the trim is done here, on what was read.
 *
 * On a Redis Cluster, the user's history and the broadcasts' are in different slots: each
 * is trimmed and read on its own (`readSlots`), which keeps each source whole; live events
 * that come between the two reads are the hub's to drop as already replayed.
 */
export class RedisSseHistory {
  constructor(
    private readonly client: RedisSseClient,
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
    if (this.keys.cluster) return this.readSlots(userId);
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

  /** The read on a cluster: the user's slot and the broadcasts' slot, each by itself. */
  private async readSlots(userId: string): Promise<HistoryRead> {
    const { keys, history, client } = this;
    const stream = keys.userStream(userId);
    const dropped = keys.userDropped(userId);
    const args = [history.ttlMs, 2 * history.ttlMs, uuidV7Floor(Date.now()), history.size];
    const prepare = (scriptKeys: string[]) =>
      CLUSTER_PREPARE_REPLAY.run(client, scriptKeys, args).then(
        () => false,
        (error: unknown) => {
          if (writeRefused(error)) return true;
          throw error;
        },
      );
    const [ownUntrimmed, allUntrimmed] = await Promise.all([
      prepare([stream, dropped]),
      prepare([keys.broadcastStream, keys.broadcastDropped, keys.epoch]),
    ]);
    const untrimmed = ownUntrimmed || allUntrimmed;
    const batch = () => (untrimmed ? client.pipeline() : client.multi());
    const [ownReplies, allReplies] = await Promise.all([
      batch()
        .get(dropped)
        .xrange(stream, '-', '+')
        .hgetall(keys.userTopics(userId))
        .zrange(keys.userTopicsLeft(userId), '0', '-1')
        .exec(),
      batch()
        .get(keys.broadcastDropped)
        .get(keys.epoch)
        .xrange(keys.broadcastStream, '-', '+')
        .exec(),
    ]);
    const [ownDropped, own, joined, left] = values(ownReplies);
    const [allDropped, epoch, all] = values(allReplies);
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

/** Exec replies, their errors thrown. */
function values(replies: [Error | null, unknown][] | null): unknown[] {
  if (replies === null) throw new Error('the history read was aborted');
  for (const [error] of replies) if (error !== null) throw error;
  return replies.map(([, value]) => value);
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
