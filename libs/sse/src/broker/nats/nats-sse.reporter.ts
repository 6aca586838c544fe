import type { LoggerService } from '@nestjs/common';

/**
 * The broker's failure log: the first failure of an outage as a warning that says what
 * goes on meanwhile, the rest at `verbose`, and one line once NATS answers again.
 */
export class NatsSseReporter {
  private failing = false;
  private quiet = false;

  constructor(private readonly logger: LoggerService) {}

  report(what: string, error: unknown): void {
    if (this.quiet) return;
    const reason = error instanceof Error ? error.message : String(error);
    if (this.failing) {
      this.logger.verbose?.(`NATS broker: ${what} failed: ${reason}`);
      return;
    }
    this.failing = true;
    this.logger.warn(
      `NATS broker: ${what} failed (${reason}). Messages reach this instance's connections ` +
        `only, presence answers for this instance and replay reports a gap, until NATS ` +
        `answers again; the broker reconnects by itself.`,
    );
  }

  recovered(): void {
    if (!this.failing || this.quiet) return;
    this.failing = false;
    this.logger.log('NATS broker: connected to NATS again.');
  }

  /** At shutdown: what fails then is of no interest. */
  silence(): void {
    this.quiet = true;
  }
}
