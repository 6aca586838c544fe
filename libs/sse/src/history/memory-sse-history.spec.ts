import { v7 as uuidv7 } from 'uuid';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { SseEnvelope } from '../wire/sse-envelope.js';
import { MemorySseHistory } from './memory-sse-history.js';

function message(to: string[] | null, data = 'x'): SseEnvelope {
  const seq = uuidv7();
  return { id: seq, seq, data, to };
}

describe('MemorySseHistory', () => {
  let history: MemorySseHistory;
  let run = 0;
  beforeEach(() => {
    // uuid v7 never goes back in time: each test starts an hour after the previous one.
    vi.useFakeTimers({ now: Date.now() + 3_600_000 * ++run });
  });
  afterEach(() => {
    history.stop();
    vi.useRealTimers();
  });

  it('keeps the last `size` events per user and reports what it dropped', () => {
    history = new MemorySseHistory(3, 60_000);
    const point = uuidv7();
    const sent = Array.from({ length: 5 }, (_, i) => message(['u'], String(i)));
    sent.forEach((m) => history.append(m));
    const replay = history.replay('u', point);
    expect(replay.gap).toBe('expired');
    expect(replay.events.map((e) => e.data)).toEqual(['2', '3', '4']);
    expect(history.replay('u', sent[2].id)).toEqual({ events: [sent[3], sent[4]] });
  });

  it('lets events go after ttlMs and reports the gap', () => {
    history = new MemorySseHistory(100, 1000);
    const point = uuidv7();
    vi.advanceTimersByTime(1);
    history.append(message(['u'], 'old'));
    vi.advanceTimersByTime(1500);
    const fresh = message(['u'], 'fresh');
    history.append(fresh);
    const replay = history.replay('u', point);
    expect(replay).toEqual({ events: [fresh], gap: 'expired' });
  });

  it('keeps broadcasts apart and merges them into every user’s replay', () => {
    history = new MemorySseHistory(10, 60_000);
    const point = uuidv7();
    const own = message(['u']);
    const all = message(null);
    const other = message(['v']);
    [own, all, other].forEach((m) => history.append(m));
    expect(history.replay('u', point).events).toEqual([own, all]);
    expect(history.replay('w', point).events).toEqual([all]);
  });

  it('forgets a user’s emptied history after twice ttlMs, and then reports resumes before it as gaps', () => {
    history = new MemorySseHistory(10, 1000);
    vi.advanceTimersByTime(10);
    const point = uuidv7();
    history.append(message(['u']));
    vi.advanceTimersByTime(1500);
    history.sweep();
    expect(history.userCount).toBe(1);
    expect(history.replay('u', point).gap).toBe('expired');
    vi.advanceTimersByTime(1000);
    history.sweep();
    expect(history.userCount).toBe(0);
    expect(history.replay('u', point).gap).toBe('expired');
  });

  it('does not report a gap to a quiet user resuming from a recent point', () => {
    history = new MemorySseHistory(10, 1000);
    vi.advanceTimersByTime(10);
    const point = uuidv7();
    vi.advanceTimersByTime(500);
    expect(history.replay('quiet', point)).toEqual({ events: [] });
  });

  it('answers restarted, not expired, to a resume point from before it began, even when nothing was sent', () => {
    const before = uuidv7();
    vi.advanceTimersByTime(10);
    history = new MemorySseHistory(10, 60_000);
    expect(history.replay('u', before)).toEqual({ events: [], gap: 'restarted' });
    const sent = message(['u'], 'after the restart');
    history.append(sent);
    expect(history.replay('u', before)).toEqual({ events: [sent], gap: 'restarted' });
    const since = uuidv7();
    expect(history.replay('u', since)).toEqual({ events: [] });
  });
});
