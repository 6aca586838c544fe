import type { SseEnvelope } from '../wire/sse-envelope.js';
import type { SseHistoryEntry, SseHistorySource } from './sse-replay.js';

/**
 * Kept events of one user (or topic, or of the broadcasts), oldest first, in a circular buffer of at
 * most `size` slots: appending to a full ring overwrites its oldest event in place, so an
 * append allocates nothing and moves nothing. The buffer grows to `size` only as events
 * come, and is let go of once age has emptied it, so that a quiet user costs little.
 *
 * Events and the times they were kept sit in two parallel arrays (the times unboxed), not
 * in an object per event.
 */
export class SseEventRing implements SseHistorySource {
  private events: (SseEnvelope | undefined)[] = [];
  private times: number[] = [];
  /** Slot of the oldest event. */
  private head = 0;
  /** Events kept. */
  count = 0;
  droppedSeq: string | undefined;
  /** When the newest dropped event was kept. */
  droppedAt = 0;

  constructor(private readonly size: number) {}

  /** Keeps an event kept at `at`, dropping the oldest when the ring is full. */
  push(envelope: SseEnvelope, at: number): void {
    const length = this.events.length;
    if (this.count === this.size) {
      const slot = this.head;
      this.droppedSeq = this.events[slot]!.seq;
      this.droppedAt = this.times[slot];
      this.events[slot] = envelope;
      this.times[slot] = at;
      this.head = slot + 1 === length ? 0 : slot + 1;
      return;
    }
    const tail = this.head + this.count;
    if (tail < length) {
      this.events[tail] = envelope;
      this.times[tail] = at;
    } else if (length < this.size) {
      // Not wrapped yet: the kept events end at the end of the arrays.
      this.events.push(envelope);
      this.times.push(at);
    } else {
      this.events[tail - length] = envelope;
      this.times[tail - length] = at;
    }
    this.count++;
  }

  /** Lets go of the events kept before `cutoff` (ms since the epoch). */
  prune(cutoff: number): void {
    const length = this.events.length;
    while (this.count > 0 && this.times[this.head] < cutoff) {
      this.droppedSeq = this.events[this.head]!.seq;
      this.droppedAt = this.times[this.head];
      this.events[this.head] = undefined;
      this.head = this.head + 1 === length ? 0 : this.head + 1;
      this.count--;
    }
    if (this.count === 0 && length > 0) {
      this.events = [];
      this.times = [];
      this.head = 0;
    }
  }

  /** The kept events, oldest first, as replay reads them. */
  get entries(): SseHistoryEntry[] {
    const entries: SseHistoryEntry[] = [];
    const length = this.events.length;
    for (let i = 0, slot = this.head; i < this.count; i++) {
      entries.push({ envelope: this.events[slot]!, at: this.times[slot] });
      slot = slot + 1 === length ? 0 : slot + 1;
    }
    return entries;
  }
}
