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
 * Works out what a client resuming from `lastEventId` missed, from the user's own events
 * and the broadcasts, each kept apart in `seq` order.
 *
 * A resume point is found by id (the caller's or a generated one); failing that, a uuid v7
 * (such as the id of a connection's first event) is placed by time. Anything else is
 * `unknown`. Events after it are merged in `seq` order. A gap is reported when a source
 * dropped an event after the resume point, or when the point is older than `horizonSeq`,
 * before which this history cannot vouch for anything (`expired`); a point older than
 * `startSeq`, where a history that does not survive restarts began, is `restarted`.
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
    if (source.droppedSeq !== undefined && source.droppedSeq > from) lost = true;
    for (const entry of source.entries) {
      if (entry.envelope.seq > from) after.push(entry.envelope);
    }
  }
  if (sources.length > 1) after.sort((a, b) => (a.seq < b.seq ? -1 : a.seq > b.seq ? 1 : 0));
  if (!found && startSeq !== undefined && from < startSeq) {
    return { events: after, gap: 'restarted' };
  }
  return lost ? { events: after, gap: 'expired' } : { events: after };
}
