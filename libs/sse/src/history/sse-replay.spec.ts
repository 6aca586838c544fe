import { v7 as uuidv7 } from 'uuid';
import { describe, expect, it } from 'vitest';
import type { SseEnvelope } from '../wire/sse-envelope.js';
import {
  isUuidV7,
  planReplay,
  topicReads,
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

function topicEntry(topic: string): SseHistoryEntry {
  const seq = uuidv7();
  return { envelope: { id: seq, seq, data: 'd', to: null, topic }, at: Date.now() };
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

describe('planReplay with topics', () => {
  it('merges user, broadcast and topic events in seq order, within membership windows', () => {
    const point = uuidv7();
    const beforeJoin = topicEntry('t');
    const joined = uuidv7();
    const own = entry();
    const inWindow = topicEntry('t');
    const broadcast = entry(undefined, null);
    const left = uuidv7();
    const afterLeave = topicEntry('t');
    const subscribed = topicEntry('s');
    const replay = planReplay(
      point,
      [
        { entries: [own] },
        { entries: [broadcast] },
        { entries: [beforeJoin, inWindow, afterLeave], after: joined, until: left },
        { entries: [subscribed] },
      ],
      FAR_PAST,
    );
    expect(replay.gap).toBeUndefined();
    expect(ids(replay.events)).toEqual(
      [own, inWindow, broadcast, subscribed].map((e) => e.envelope.id),
    );
  });

  it('keeps an event read through two sources once', () => {
    const point = uuidv7();
    const shared = topicEntry('t');
    const next = entry();
    const replay = planReplay(
      point,
      [{ entries: [shared] }, { entries: [shared] }, { entries: [next] }],
      FAR_PAST,
    );
    expect(ids(replay.events)).toEqual([shared.envelope.id, next.envelope.id]);
  });

  it('finds the resume point by id in a topic source', () => {
    const own = entry();
    const topic = topicEntry('t');
    const later = entry();
    const replay = planReplay(
      topic.envelope.id,
      [{ entries: [own, later] }, { entries: [topic] }],
      FAR_PAST,
    );
    expect(replay.gap).toBeUndefined();
    expect(ids(replay.events)).toEqual([later.envelope.id]);
  });

  it('reports a loss only when the dropped event was within the window and after the point', () => {
    const point = uuidv7();
    const droppedBeforeJoin = topicEntry('t');
    const joined = uuidv7();
    const kept = topicEntry('t');
    const quiet = planReplay(
      point,
      [{ entries: [kept], droppedSeq: droppedBeforeJoin.envelope.seq, after: joined }],
      FAR_PAST,
    );
    expect(quiet).toEqual({ events: [kept.envelope] });

    const joinedEarly = uuidv7();
    const droppedInWindow = topicEntry('t');
    const left = uuidv7();
    const droppedAfterLeave = topicEntry('t');
    expect(
      planReplay(
        point,
        [
          {
            entries: [],
            droppedSeq: droppedInWindow.envelope.seq,
            after: joinedEarly,
            until: left,
          },
        ],
        FAR_PAST,
      ).gap,
    ).toBe('expired');
    expect(
      planReplay(
        point,
        [
          {
            entries: [],
            droppedSeq: droppedAfterLeave.envelope.seq,
            after: joinedEarly,
            until: left,
          },
        ],
        FAR_PAST,
      ).gap,
    ).toBeUndefined();
  });

  it('ignores a window that closed before the resume point', () => {
    const joined = uuidv7();
    const old = topicEntry('t');
    const left = uuidv7();
    const point = uuidv7();
    const replay = planReplay(
      point,
      [{ entries: [old], droppedSeq: old.envelope.seq, after: joined, until: left }],
      FAR_PAST,
    );
    expect(replay).toEqual({ events: [] });
  });
});

describe('topicReads', () => {
  it('reads subscriptions whole, memberships within their windows, a topic both ways once', () => {
    expect(
      topicReads(
        ['s', 'both'],
        [
          { topic: 'both', from: 'f0' },
          { topic: 'm', from: 'f1' },
          { topic: 'old', from: 'f2', until: 'u2' },
          { topic: 'old', from: 'f3', until: 'u3' },
        ],
      ),
    ).toEqual([
      { topic: 's' },
      { topic: 'both' },
      { topic: 'm', after: 'f1' },
      { topic: 'old', after: 'f2', until: 'u2' },
      { topic: 'old', after: 'f3', until: 'u3' },
    ]);
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
