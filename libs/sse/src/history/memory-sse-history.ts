import type { SseEnvelope } from '../wire/sse-envelope.js';
import { SseEventRing } from './sse-event-ring.js';
import { planReplay, type SseReplay, uuidV7Floor } from './sse-replay.js';

const EMPTY_RING = new SseEventRing(1);

/**
 * The in-memory broker's history: a ring per user and one for broadcasts, trimmed by size
 * on every append and by age on every read and on a periodic sweep.
 *
 * A user's ring that has emptied is kept as a marker of what it dropped for twice
 * `ttlMs`, so that a resume point placed by time still learns of a gap; past that horizon
 * a resume point that is not found counts as a gap (`expired`), and one from before this
 * history began as `restarted`.
 */
export class MemorySseHistory {
  private readonly users = new Map<string, SseEventRing>();
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

  replay(userId: string, lastEventId: string): SseReplay {
    const now = Date.now();
    const ring = this.users.get(userId) ?? EMPTY_RING;
    ring.prune(now - this.ttlMs);
    this.broadcasts.prune(now - this.ttlMs);
    const horizon = uuidV7Floor(now - 2 * this.ttlMs);
    return planReplay(lastEventId, [ring, this.broadcasts], horizon, this.startSeq);
  }

  /** Users with a ring (kept events, or the marker of dropped ones). */
  get userCount(): number {
    return this.users.size;
  }

  sweep(now = Date.now()): void {
    const cutoff = now - this.ttlMs;
    const forgetBefore = now - 2 * this.ttlMs;
    this.broadcasts.prune(cutoff);
    for (const [userId, ring] of this.users) {
      ring.prune(cutoff);
      if (ring.count === 0 && (ring.droppedSeq === undefined || ring.droppedAt < forgetBefore)) {
        this.users.delete(userId);
      }
    }
  }

  stop(): void {
    clearInterval(this.sweeper);
    this.users.clear();
  }
}
