import type { SseSink } from '../transport/sse-sink.interface.js';
import type { SseFrame } from '../wire/sse-frame.js';

/** Lifecycle states of a connection. */
export enum SseConnectionState {
  Live,
  Replaying,
  Closed,
}

/** One open stream of one user: small on purpose, as there may be tens of thousands. */
export class SseConnection {
  state = SseConnectionState.Live;
  /** Live events that arrived while the replay was being read. */
  pending: SseFrame[] | null = null;
  /** Something was written since the last heartbeat tick. */
  active = true;
  /** Id of the last event written: the client's resume point. */
  lastId = '';
  sink!: SseSink;

  constructor(
    readonly id: string,
    readonly userId: string,
  ) {}

  push(frame: SseFrame): void {
    if (this.state === SseConnectionState.Live) {
      this.lastId = frame.id;
      this.active = true;
      this.sink.write(frame);
    } else if (this.state === SseConnectionState.Replaying) {
      this.pending!.push(frame);
    }
  }
}
