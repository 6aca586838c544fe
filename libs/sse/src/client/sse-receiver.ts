import type { SseClientRole } from './sse-client.options.js';
import type { ParsedSseEvent } from './sse-parser.js';

/** What a connection, shared or not, tells the client it serves. */
export interface SseReceiver {
  /** The stream is open. */
  opened(): void;
  /** An event came; `blank` for a connection's first event, which is not dispatched. */
  received(event: ParsedSseEvent, blank: boolean): void;
  /** The stream is gone; `final`: for good. */
  failed(final: boolean): void;
  /** This tab now plays `role`. */
  role(role: SseClientRole): void;
}
