import type { SseConnection } from './sse-connection.js';

/**
 * One timer for every connection of an instance: each tick writes a comment only to the
 * connections that had nothing written since the previous tick, so that proxies do not
 * take a quiet stream for a dead one. Runs while there are connections.
 */
export class SseHeartbeat {
  private timer: NodeJS.Timeout | undefined;

  constructor(
    /** Milliseconds between ticks; `0`: off. */
    private readonly intervalMs: number,
    private readonly connections: Iterable<SseConnection>,
  ) {}

  /** Whether the timer is set (for leak checks). */
  get armed(): boolean {
    return this.timer !== undefined;
  }

  /** Sets the timer, if heartbeats are on and it is not set yet. */
  start(): void {
    if (this.intervalMs === 0 || this.timer !== undefined) return;
    this.timer = setInterval(this.tick, this.intervalMs);
    this.timer.unref();
  }

  /** Clears the timer: no connection is left. */
  stop(): void {
    if (this.timer !== undefined) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }

  private readonly tick = (): void => {
    for (const connection of this.connections) {
      if (connection.active) connection.active = false;
      else connection.sink.heartbeat();
    }
  };
}
