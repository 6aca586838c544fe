import type { LoggerService } from '@nestjs/common';
import type { RedisSseClient } from './redis-sse.connection.js';

/**
 * Whether Redis answered a failed command at all, so that it surely did not run: any error
 * reply (out of memory, a read-only replica, a script error) or a command never sent (the
 * connection was not ready). A timeout, or a connection that closed with the command on it,
 * leaves the outcome unknown: Redis may have run it after all.
 */
export function surelyNotRun(error: unknown): boolean {
  if (!(error instanceof Error)) return true;
  return !/timed out|connection is closed/i.test(error.message);
}

/** Whether Redis refused a write it was asked for while it still answers reads. */
export function writeRefused(error: unknown): boolean {
  return error instanceof Error && /^(OOM|READONLY)\b/.test(error.message);
}

/**
 * Resolves true once the connection is ready (at once if it is), false if it ends first.
 */
export function whenReady(client: RedisSseClient): Promise<boolean> {
  if (client.status === 'ready') return Promise.resolve(true);
  return new Promise((resolve) => {
    const ready = (): void => {
      client.off('end', ended);
      resolve(true);
    };
    const ended = (): void => {
      client.off('ready', ready);
      resolve(false);
    };
    client.once('ready', ready);
    client.once('end', ended);
  });
}

/**
 * What the broker says of its link to Redis: the first failure of an outage as a warning,
 * the rest at `verbose`, and a line once both connections answer again.
 */
export class RedisSseReadiness {
  /** Something failed and was reported; quiet until Redis answers again. */
  private failing = false;
  private closing = false;

  constructor(private readonly logger: () => LoggerService | undefined) {}

  /** A new session starts: report again. */
  reset(): void {
    this.failing = false;
    this.closing = false;
  }

  /** The broker is closing: failures from here on are expected. */
  close(): void {
    this.closing = true;
  }

  /** A command that needs both reads and writes of Redis worked. */
  succeeded(): void {
    this.failing = false;
  }

  report(what: string, error: unknown): void {
    if (this.closing) return;
    const reason = error instanceof Error ? error.message : String(error);
    if (this.failing) {
      this.logger()?.verbose?.(`Redis broker: ${what} failed: ${reason}`);
      return;
    }
    this.failing = true;
    this.logger()?.warn(
      `Redis broker: ${what} failed (${reason}). Messages reach this instance's connections ` +
        `only and the other instances' clients replay or are told of a gap, until Redis ` +
        `answers again; the broker reconnects by itself.`,
    );
  }

  /** A connection became ready: says so once both are, after a reported failure. */
  ready(commands: RedisSseClient, events: RedisSseClient): void {
    if (!this.failing || this.closing) return;
    if (commands.status !== 'ready' || events.status !== 'ready') return;
    this.failing = false;
    this.logger()?.log('Redis broker: connected to Redis again.');
  }
}
