import type { LoggerService } from '@nestjs/common';

/** How long a kind of warning stays quiet after it was written. */
export const SSE_WARNING_INTERVAL_MS = 10_000;

/**
 * Warnings an operator can read when many connections fail alike: at most one line per kind
 * (`slow`, `presence`, `replay`) every `SSE_WARNING_INTERVAL_MS`; the next line of the kind
 * says how many were left out meanwhile. The ones left out go to `verbose`.
 */
export class SseRateLimitedLog {
  private readonly kinds = new Map<string, { at: number; suppressed: number }>();

  constructor(
    private readonly logger: LoggerService,
    private readonly intervalMs = SSE_WARNING_INTERVAL_MS,
    private readonly now: () => number = Date.now,
  ) {}

  /** Writes `message` as a warning unless one of its kind was written within the interval. */
  warn(kind: string, message: string): void {
    const now = this.now();
    const last = this.kinds.get(kind);
    if (last !== undefined && now - last.at < this.intervalMs) {
      last.suppressed++;
      this.logger.verbose?.(message);
      return;
    }
    const suppressed = last?.suppressed ?? 0;
    this.kinds.set(kind, { at: now, suppressed: 0 });
    const seconds = Math.round(this.intervalMs / 1000);
    this.logger.warn(
      suppressed === 0
        ? message
        : `${message} (and ${suppressed} more like it in the last ${seconds} s or so)`,
    );
  }
}
