import { Injectable } from '@nestjs/common';

/** The counts of `SseStats` that add up over time. */
export interface SseCounts {
  readonly messagesSent: number;
  readonly eventsDelivered: number;
  readonly slowDisconnects: number;
}

/**
 * What this instance has sent and delivered: the one owner of the counts that `stats()`
 * reports, told by the service (messages accepted) and the hub (deliveries, drops).
 */
@Injectable()
export class SseCounters {
  private messages = 0;
  private deliveries = 0;
  private slow = 0;

  /** `send`, `sendToUsers` or `broadcast` accepted a message. */
  messageSent(): void {
    this.messages++;
  }

  /** A message was written to `connections` connections here. */
  delivered(connections: number): void {
    this.deliveries += connections;
  }

  /** A connection was dropped for not reading (reason `slow`). */
  slowDisconnect(): void {
    this.slow++;
  }

  /** The counts so far. */
  counts(): SseCounts {
    return {
      messagesSent: this.messages,
      eventsDelivered: this.deliveries,
      slowDisconnects: this.slow,
    };
  }
}
