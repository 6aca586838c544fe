import type { SseFrame } from '../wire/sse-frame.js';

/**
 * How frames reach one client: the port through which the hub writes, and the only part in
 * which the two transports differ (each implements it in `transport/`). Every rule of the
 * wire (first event, replay, heartbeat, timeout, close) is the hub's and its connections'.
 */
export interface SseSink {
  /** Writes one event. */
  write(frame: SseFrame): void;
  /** Writes a heartbeat comment. */
  heartbeat(): void;
  /** Ends the stream normally, after writing `last` when given. */
  end(last?: SseFrame): void;
  /** Drops the connection at once: a client that does not read its events. */
  destroy(): void;
  /**
   * Resolves once the response is over, when the sink knows its response: shutdown waits
   * for it, so that the HTTP server finds the connection idle and closes it at once.
   */
  whenClosed?(): Promise<void>;
}
