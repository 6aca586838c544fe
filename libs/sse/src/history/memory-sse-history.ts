import type { SseEnvelope } from '../wire/sse-envelope.js';
import { SseEventRing } from './sse-event-ring.js';
import {
  planReplay,
  type SseReplay,
  uuidV7Floor,
  type SseHistorySource,
  type SseTopicRead,
} from './sse-replay.js';

const EMPTY_RING = new SseEventRing(1);

/**
 * The in-memory broker's history: a ring per user, one per topic and one for broadcasts,
 * trimmed by size on every append and by age on every read and on a periodic sweep.
 *
 * A user's (or topic's) ring that has emptied is kept as a marker of what it dropped for twice
 * `ttlMs`, so that a resume point placed by time still learns of a gap; past that horizon
 * a resume point that is not found counts as a gap (`expired`), and one from before this
 * history began as `restarted`.
 */
export class MemorySseHistory {
  private readonly users = new Map<string, SseEventRing>();
  private readonly topics = new Map<string, SseEventRing>();
  private readonly broadcasts: SseEventRing;
  /** Ids from before this history began sort before it; those of its first millisecond not. */
  private readonly startSeq = uuidV7Floor(Date.now());
  private readonly sweeper: NodeJS.Timeout;

  constructor(
    private readonly size: number,
    private readonly ttlMs: number,
  ) {
    this.broadcasts = new SseEventRing(size);
    this.sweeper = setInterval(() => this.sweep(), Math.min(ttlMs, 60_000));
    this.sweeper.unref();
  }

  /** Keeps a message for its recipients. */
  append(envelope: SseEnvelope): void {
    const at = Date.now();
    if (envelope.topic !== undefined) {
      let ring = this.topics.get(envelope.topic);
      if (ring === undefined) this.topics.set(envelope.topic, (ring = new SseEventRing(this.size)));
      ring.push(envelope, at);
      return;
    }
    if (envelope.to === null) {
      this.broadcasts.push(envelope, at);
      return;
    }
    for (const userId of envelope.to) {
      let ring = this.users.get(userId);
      if (ring === undefined) this.users.set(userId, (ring = new SseEventRing(this.size)));
      ring.push(envelope, at);
    }
  }

  /** What a user resuming from `lastEventId` missed, topics read as `reads` says. */
  replay(userId: string, lastEventId: string, reads: readonly SseTopicRead[] = []): SseReplay {
    const now = Date.now();
    const ring = this.users.get(userId) ?? EMPTY_RING;
    ring.prune(now - this.ttlMs);
    this.broadcasts.prune(now - this.ttlMs);
    const sources: SseHistorySource[] = [ring, this.broadcasts];
    for (const read of reads) {
      const topic = this.topics.get(read.topic) ?? EMPTY_RING;
      topic.prune(now - this.ttlMs);
      sources.push({
        entries: topic.entries,
        droppedSeq: topic.droppedSeq,
        after: read.after,
        until: read.until,
      });
    }
    const horizon = uuidV7Floor(now - 2 * this.ttlMs);
    return planReplay(lastEventId, sources, horizon, this.startSeq);
  }

  /** Users with a ring (kept events, or the marker of dropped ones). */
  get userCount(): number {
    return this.users.size;
  }

  sweep(now = Date.now()): void {
    const cutoff = now - this.ttlMs;
    const forgetBefore = now - 2 * this.ttlMs;
    this.broadcasts.prune(cutoff);
    for (const rings of [this.users, this.topics]) {
      for (const [key, ring] of rings) {
        ring.prune(cutoff);
        if (ring.count === 0 && (ring.droppedSeq === undefined || ring.droppedAt < forgetBefore)) {
          rings.delete(key);
        }
      }
    }
  }

  /** Topics with a ring (kept events, or the marker of dropped ones). */
  get topicCount(): number {
    return this.topics.size;
  }

  stop(): void {
    clearInterval(this.sweeper);
    this.users.clear();
    this.topics.clear();
  }
}
