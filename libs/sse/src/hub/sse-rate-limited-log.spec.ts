import type { LoggerService } from '@nestjs/common';
import { describe, expect, it } from 'vitest';
import { SseRateLimitedLog } from './sse-rate-limited-log.js';

/** A logger that keeps its lines, by level. */
class KeptLines implements LoggerService {
  readonly lines: [string, string][] = [];
  log(message: string): void {
    this.lines.push(['log', message]);
  }
  warn(message: string): void {
    this.lines.push(['warn', message]);
  }
  error(message: string): void {
    this.lines.push(['error', message]);
  }
  verbose(message: string): void {
    this.lines.push(['verbose', message]);
  }
}

describe('SseRateLimitedLog', () => {
  it('writes one warning per kind per interval, then says how many it left out', () => {
    const logger = new KeptLines();
    let now = 0;
    const log = new SseRateLimitedLog(logger, 10_000, () => now);
    log.warn('slow', 'dropped a');
    log.warn('slow', 'dropped b');
    log.warn('replay', 'replay failed');
    now = 9_999;
    log.warn('slow', 'dropped c');
    now = 10_000;
    log.warn('slow', 'dropped d');
    expect(logger.lines).toEqual([
      ['warn', 'dropped a'],
      ['verbose', 'dropped b'],
      ['warn', 'replay failed'],
      ['verbose', 'dropped c'],
      ['warn', 'dropped d (and 2 more like it in the last 10 s or so)'],
    ]);
  });
});
