import type { NatsConnection } from '@nats-io/nats-core';
import { connect } from '@nats-io/transport-node';
import type { NatsSseResolvedOptions } from './nats-sse.options.js';

// Waits between connection attempts until a first one succeeds: doubling up to the cap.
const FIRST_RETRY_MS = 250;
const MAX_RETRY_MS = 2_000;

/**
 * The broker's one NATS connection. Until a first connection succeeds, it tries again
 * itself, on a timer it can stop (the client's own `waitOnFirstConnect` cannot be
 * cancelled: an application closed before NATS came up would go on trying for ever);
 * after that the client reconnects by itself, for ever, without buffering what is
 * published meanwhile (the broker does not publish while disconnected).
 */
export class NatsSseConnection {
  private timer: NodeJS.Timeout | undefined;
  private attempt: Promise<void> | undefined;
  private stopped = false;
  private retryMs = FIRST_RETRY_MS;
  nc: NatsConnection | undefined;

  constructor(
    private readonly options: NatsSseResolvedOptions,
    private readonly name: string,
    private readonly onConnected: (nc: NatsConnection) => Promise<void>,
    private readonly onError: (what: string, error: unknown) => void,
  ) {}

  /** Starts connecting; resolves at the first attempt's outcome, `requestTimeoutMs` at most. */
  async start(): Promise<void> {
    this.try();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      this.attempt,
      new Promise((resolve) => (timer = setTimeout(resolve, this.options.requestTimeoutMs))),
    ]);
    clearTimeout(timer);
  }

  private try(): void {
    this.timer = undefined;
    if (this.stopped) return;
    this.attempt = connect({
      timeout: this.options.requestTimeoutMs,
      reconnectTimeWait: FIRST_RETRY_MS,
      ...this.options.connectOptions,
      servers: this.options.servers,
      name: this.name,
      // The broker writes its own messages to this instance's connections directly.
      noEcho: true,
      reconnect: true,
      maxReconnectAttempts: -1,
      waitOnFirstConnect: false,
    }).then(
      async (nc) => {
        if (this.stopped) {
          await nc.close();
          return;
        }
        this.nc = nc;
        await this.onConnected(nc);
      },
      (error: unknown) => {
        this.onError('connection', error);
        if (this.stopped) return;
        this.timer = setTimeout(() => this.try(), this.retryMs);
        this.retryMs = Math.min(MAX_RETRY_MS, this.retryMs * 2);
      },
    );
  }

  /**
   * Closes the connection for good: drains it when connected (what was sent goes out
   * first), `requestTimeoutMs` at most, and stops any attempt under way.
   */
  async close(drain: boolean): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.attempt?.catch(() => undefined);
    const nc = this.nc;
    this.nc = undefined;
    if (nc === undefined || nc.isClosed()) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      (drain ? nc.drain() : nc.close()).catch(() => undefined),
      new Promise((resolve) => (timer = setTimeout(resolve, this.options.requestTimeoutMs))),
    ]);
    clearTimeout(timer);
    if (!nc.isClosed()) await nc.close();
  }
}
