import type { SseEnvelope } from '../sse-broker.interface.js';
import type { RedisSseLedger } from './redis-sse.ledger.js';
import type { RedisSsePublisher, RedisSsePublishOutcome } from './redis-sse.publisher.js';

/** A message held back, and how to hand its outcome to the one who sent it. */
interface Held {
  readonly message: SseEnvelope;
  readonly settle: (outcome: Promise<RedisSsePublishOutcome> | RedisSsePublishOutcome) => void;
}

/**
 * When each message goes to Redis. Normally at once, as it is published (one check that
 * the ledger holds nothing). A message that could overtake the news of an earlier loss on
 * its way to another instance's clients waits until the ledger has told it
 * (`RedisSseLedger.before`), and so do the messages after it, so that publish order holds;
 * after a failover every message waits for the check of what the failover lost (`hold`).
 *
 * No message waits for Redis to come back: without a ready connection it goes at once and
 * fails at once (`lost`); news that could not be sent makes the message lost as well,
 * rather than sent ahead of it.
 */
export class RedisSseSendOrder {
  private readonly held: Held[] = [];
  private releasing = false;
  private holding: Promise<unknown> | undefined;

  constructor(
    private readonly ledger: RedisSseLedger,
    private readonly publisher: RedisSsePublisher,
  ) {}

  /** Sends the message to Redis now, or once what it must not overtake is out. */
  send(message: SseEnvelope): Promise<RedisSsePublishOutcome> {
    if (!this.releasing && this.holding === undefined) {
      const told = this.ledger.before(message);
      if (told === undefined) return this.publisher.publish(message);
      return this.hold(message, told);
    }
    return this.hold(message);
  }

  /**
   * Holds every message until `until` settles (a bounded check after a failover), then
   * sends them in order.
   */
  holdUntil(until: Promise<unknown>): void {
    const holding: Promise<unknown> = until
      .catch(() => undefined)
      .then(() => {
        if (this.holding === holding) this.holding = undefined;
      });
    this.holding = holding;
  }

  private hold(message: SseEnvelope, told?: Promise<boolean>): Promise<RedisSsePublishOutcome> {
    const outcome = new Promise<RedisSsePublishOutcome>((settle) =>
      this.held.push({ message, settle }),
    );
    if (!this.releasing) void this.release(told);
    return outcome;
  }

  /** Sends the held messages one after the other, each once it may go. */
  private async release(first: Promise<boolean> | undefined): Promise<void> {
    this.releasing = true;
    let told = first;
    try {
      while (this.held.length > 0) {
        const next = this.held[0];
        let go = true;
        for (;;) {
          if (this.holding !== undefined) {
            told = undefined;
            await this.holding;
            continue;
          }
          told ??= this.ledger.before(next.message);
          if (told === undefined) break;
          go = await told.catch(() => false);
          told = undefined;
          // Told: look again, for losses that came meanwhile. Not told: Redis failed.
          if (!go) break;
        }
        this.held.shift();
        next.settle(go ? this.publisher.publish(next.message) : 'lost');
      }
    } finally {
      this.releasing = false;
    }
  }
}
