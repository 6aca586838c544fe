import { v7 as uuidv7 } from 'uuid';
import { describe, expect, it } from 'vitest';
import type { SseEnvelope } from '../wire/sse-envelope.js';
import {
  isUuidV7,
  planReplay,
  uuidV7Floor,
  uuidV7Time,
  type SseHistoryEntry,
  type SseHistorySource,
} from './sse-replay.js';

function entry(id?: string, to: string[] | null = ['u']): SseHistoryEntry {
  const seq = uuidv7();
  const envelope: SseEnvelope = { id: id ?? seq, seq, data: 'd', to };
  return { envelope, at: Date.now() };
}

const ids = (events: readonly SseEnvelope[]) => events.map((e) => e.id);
const FAR_PAST = uuidV7Floor(0);

describe('planReplay', () => {
  it('returns the events after a known id, in order, none twice', () => {
    const own = [entry(), entry('custom'), entry(), entry()];
    const source: SseHistorySource = { entries: own };
    const replay = planReplay(own[1].envelope.id, [source], FAR_PAST);
    expect(replay.gap).toBeUndefined();
    expect(ids(replay.events)).toEqual([own[2].envelope.id, own[3].envelope.id]);
  });

  it('merges the user’s events and broadcasts by seq', () => {
    const a = entry();
    const b = entry(undefined, null);
    const c = entry();
    const d = entry(undefined, null);
    const replay = planReplay(a.envelope.id, [{ entries: [a, c] }, { entries: [b, d] }], FAR_PAST);
    expect(ids(replay.events)).toEqual([b, c, d].map((e) => e.envelope.id));
  });

  it('places a uuid v7 it does not keep by time', () => {
    const before = entry();
    const point = uuidv7();
    const after = entry();
    const replay = planReplay(point, [{ entries: [before, after] }], FAR_PAST);
    expect(replay.gap).toBeUndefined();
    expect(ids(replay.events)).toEqual([after.envelope.id]);
  });

  it('reports an unknown id that is not a uuid v7', () => {
    expect(planReplay('nope', [{ entries: [entry()] }], FAR_PAST)).toEqual({
      events: [],
      gap: 'unknown',
    });
  });

  it('reports a gap when an event after the point was dropped', () => {
    const point = uuidv7();
    const dropped = entry();
    const kept = entry();
    const replay = planReplay(
      point,
      [{ entries: [kept], droppedSeq: dropped.envelope.seq }],
      FAR_PAST,
    );
    expect(replay.gap).toBe('expired');
    expect(ids(replay.events)).toEqual([kept.envelope.id]);
  });

  it('reports no gap when only events before the point were dropped', () => {
    const dropped = entry();
    const point = entry();
    const kept = entry();
    const replay = planReplay(
      point.envelope.id,
      [{ entries: [point, kept], droppedSeq: dropped.envelope.seq }],
      FAR_PAST,
    );
    expect(replay.gap).toBeUndefined();
  });

  it('reports restarted for a point older than the start of a history that does not survive restarts', () => {
    const point = uuidv7();
    const start = uuidV7Floor(Date.now() + 1000);
    const after = entry();
    expect(planReplay(point, [{ entries: [after] }], FAR_PAST, start)).toEqual({
      events: [after.envelope],
      gap: 'restarted',
    });
    expect(planReplay(after.envelope.id, [{ entries: [after] }], FAR_PAST, start)).toEqual({
      events: [],
    });
  });

  it('reports a gap for a point older than the horizon that it does not keep', () => {
    const point = uuidv7();
    const horizon = uuidV7Floor(Date.now() + 1000);
    expect(planReplay(point, [{ entries: [] }], horizon).gap).toBe('expired');
  });
});

describe('uuid v7 helpers', () => {
  it('reads the time of an id and orders floors before ids of the same millisecond', () => {
    const id = uuidv7();
    const time = uuidV7Time(id);
    expect(Math.abs(time - Date.now())).toBeLessThan(60_000);
    expect(uuidV7Floor(time) <= id).toBe(true);
    expect(isUuidV7(id)).toBe(true);
    expect(isUuidV7(uuidV7Floor(time))).toBe(true);
    expect(isUuidV7('0190a6d8-0000-4000-8000-000000000000')).toBe(false);
  });
});
