import type { SseEnvelope } from '../wire/sse-envelope.js';

/**
 * Why `sse:gap` is sent: the resume point is older than what is kept (`expired`), is not
 * an id the history knows (`unknown`), history is off (`disabled`), the broker could not
 * be read (`unavailable`), or the resume point is from before this instance started and
 * its history did not survive the restart (`restarted`: the in-memory broker).
 */
export type SseGapReason = 'expired' | 'unknown' | 'disabled' | 'unavailable' | 'restarted';

/** The answer to a replay: what the client missed, and whether some of it is gone. */
export interface SseReplay {
  /** Kept events after the resume point, in order, each once. */
  readonly events: readonly SseEnvelope[];
  /** Set when events may have been lost before these. */
  readonly gap?: SseGapReason;
}

/** One event kept for replay. */
export interface SseHistoryEntry {
  readonly envelope: SseEnvelope;
  /** When it was kept, in milliseconds since the epoch. */
  readonly at: number;
}

/** A sequence of kept events in `seq` order, and what it has already let go of. */
export interface SseHistorySource {
  readonly entries: readonly SseHistoryEntry[];
  /** `seq` of the newest event this source dropped (by size or age), if any. */
  readonly droppedSeq?: string;
  /** Exclusive floor: only entries after it count (a membership's join seq). */
  readonly after?: string;
  /** Exclusive ceiling: only entries before it count (a membership's leave seq). */
  readonly until?: string;
}

/** One topic history a replay reads, and the window of it that is the user's. */
export interface SseTopicRead {
  readonly topic: string;
  /** Exclusive floor (`SseHistorySource.after`); absent for a subscription. */
  readonly after?: string;
  /** Exclusive ceiling (`SseHistorySource.until`); absent while a member. */
  readonly until?: string;
}

/** The part of a membership window a replay needs. */
interface SseWindow {
  readonly topic: string;
  readonly from: string;
  readonly until?: string;
}

/**
 * Which topic histories a replay reads, and within which windows: one read per subscribed
 * topic, with no floor (the connection asked for the topic, so its whole kept history after
 * the resume point); one per membership window of a topic not subscribed (a topic with
 * several windows, joined and left more than once, gets one read per window). Every broker
 * builds its topic sources from this, so the rule is the same everywhere.
 */
export function topicReads(
  subscriptions: readonly string[],
  windows: readonly SseWindow[],
): SseTopicRead[] {
  const reads: SseTopicRead[] = subscriptions.map((topic) => ({ topic }));
  const subscribed = new Set(subscriptions);
  for (const window of windows) {
    if (subscribed.has(window.topic)) continue;
    reads.push(
      window.until === undefined
        ? { topic: window.topic, after: window.from }
        : { topic: window.topic, after: window.from, until: window.until },
    );
  }
  return reads;
}

const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/i;

/** Whether an id is a uuid v7, and so can be placed in time against kept events. */
export function isUuidV7(id: string): boolean {
  return id.length === 36 && UUID_V7.test(id);
}

/** Milliseconds since the epoch encoded in a uuid v7. */
export function uuidV7Time(id: string): number {
  return parseInt(id.slice(0, 8) + id.slice(9, 13), 16);
}

/**
 * The smallest uuid v7 of a given millisecond: every id taken at or after `ms` sorts
 * after it.
 */
export function uuidV7Floor(ms: number): string {
  const hex = Math.max(0, Math.floor(ms)).toString(16).padStart(12, '0');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-7000-8000-000000000000`;
}

/**
 * Works out what a client resuming from `lastEventId` missed, from the user's own events,
 * the broadcasts and its topics' events, each kept apart in `seq` order.
 *
 * A resume point is found by id (the caller's or a generated one) in any source; failing
 * that, a uuid v7 (such as the id of a connection's first event) is placed by time.
 * Anything else is `unknown`. Events after it, and within their source's window (`after`,
 * `until`), are merged in `seq` order, each once. A gap is reported when a source dropped
 * an event after the resume point and within its window, or when the point is older than
 * `horizonSeq`, before which this history cannot vouch for anything (`expired`); a point
 * older than `startSeq`, where a history that does not survive restarts began, is
 * `restarted`.
 */
export function planReplay(
  lastEventId: string,
  sources: readonly SseHistorySource[],
  horizonSeq: string,
  startSeq?: string,
): SseReplay {
  let cut: string | undefined;
  for (const source of sources) {
    const { entries } = source;
    for (let i = entries.length - 1; i >= 0; i--) {
      if (entries[i].envelope.id === lastEventId) {
        cut = entries[i].envelope.seq;
        break;
      }
    }
    if (cut !== undefined) break;
  }
  const found = cut !== undefined;
  if (!found && !isUuidV7(lastEventId)) return { events: [], gap: 'unknown' };
  const from = cut ?? lastEventId.toLowerCase();
  const after: SseEnvelope[] = [];
  let lost = !found && from < horizonSeq;
  for (const source of sources) {
    const floor = source.after !== undefined && source.after > from ? source.after : from;
    const { until, droppedSeq } = source;
    if (until !== undefined && until <= floor) continue;
    if (
      droppedSeq !== undefined &&
      droppedSeq > floor &&
      (until === undefined || droppedSeq < until)
    ) {
      lost = true;
    }
    for (const entry of source.entries) {
      const { seq } = entry.envelope;
      if (seq > floor && (until === undefined || seq < until)) after.push(entry.envelope);
    }
  }
  const events = sources.length > 1 ? mergeOnce(after) : after;
  if (!found && startSeq !== undefined && from < startSeq) {
    return { events, gap: 'restarted' };
  }
  return lost ? { events, gap: 'expired' } : { events };
}

/** Sorts by `seq` and keeps each `seq` once (an event read through two sources). */
function mergeOnce(events: SseEnvelope[]): SseEnvelope[] {
  events.sort((a, b) => (a.seq < b.seq ? -1 : a.seq > b.seq ? 1 : 0));
  let n = 0;
  for (let i = 0; i < events.length; i++) {
    if (n > 0 && events[n - 1].seq === events[i].seq) continue;
    events[n++] = events[i];
  }
  events.length = n;
  return events;
}
