import { describe, expect, it } from 'vitest';
import { isUuidV7, uuidV7Time } from '../history/sse-replay.js';
import { sseId } from './sse-id.js';

describe('sseId', () => {
  it('returns uuid v7 strings of the current time', () => {
    const before = Date.now();
    const id = sseId();
    expect(isUuidV7(id)).toBe(true);
    expect(uuidV7Time(id)).toBeGreaterThanOrEqual(before);
    expect(uuidV7Time(id)).toBeLessThanOrEqual(Date.now() + 1);
  });

  it('returns ids in increasing order, also within one millisecond', () => {
    const ids = Array.from({ length: 20_000 }, () => sseId());
    for (let i = 1; i < ids.length; i++) expect(ids[i] > ids[i - 1]).toBe(true);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('draws new randomness for each millisecond', () => {
    const tails = new Set<string>();
    for (let i = 0; i < 600; i++) tails.add(sseId().slice(24));
    expect(tails.size).toBe(600);
  });
});
