import type { ServerResponse } from 'node:http';
import { responseClosed } from './response-closed.js';
import type { Writable } from 'node:stream';
import { HEARTBEAT_TEXT, toChunk } from '../wire/sse-format.js';
import type { SseFrame } from '../wire/sse-frame.js';
import type { SseSink } from '../hub/sse-sink.interface.js';

const HEARTBEAT_BYTES = Buffer.from(HEARTBEAT_TEXT, 'latin1');
const HEARTBEAT_CHUNK = toChunk(HEARTBEAT_BYTES);

/**
 * Sinks written to in this turn of the event loop. Each is corked on its first write and
 * all are uncorked together once the turn's synchronous work is done, so that a burst of
 * events leaves as one write per connection, at the cost of one `nextTick` per turn.
 */
let corked: DirectSseSink[] = [];

function uncorkAll(): void {
  const sinks = corked;
  corked = [];
  for (const sink of sinks) sink.uncork();
}

/**
 * Writes frames straight to a connection: to its socket, already framed as an HTTP chunk,
 * when the response owns the socket (the usual case), else through the response.
 *
 * It never waits for `drain`: bytes queue in Node's buffer, and once more than
 * `maxPendingBytes` wait, the client is taken as not reading and dropped.
 */
export class DirectSseSink implements SseSink {
  private isCorked = false;

  constructor(
    private readonly response: ServerResponse,
    /** The socket itself, or the response when the socket is not ours alone. */
    private readonly target: Writable,
    /** Frames go as HTTP chunks made once per message (the target is the socket). */
    private readonly framed: boolean,
    private readonly maxPendingBytes: number,
    private readonly onSlow: () => void,
  ) {}

  write(frame: SseFrame): void {
    this.send(this.framed ? frame.chunk : frame.bytes);
  }

  heartbeat(): void {
    this.send(this.framed ? HEARTBEAT_CHUNK : HEARTBEAT_BYTES);
  }

  end(last?: SseFrame): void {
    if (last !== undefined) this.write(last);
    this.uncork();
    if (!this.response.writableEnded) this.response.end();
  }

  destroy(): void {
    this.uncork();
    this.response.destroy();
  }

  whenClosed(): Promise<void> {
    return responseClosed(this.response);
  }

  uncork(): void {
    if (this.isCorked) {
      this.isCorked = false;
      this.target.uncork();
    }
  }

  private send(bytes: Buffer): void {
    const target = this.target;
    if (target.destroyed || target.writableEnded) return;
    if (!this.isCorked) {
      this.isCorked = true;
      target.cork();
      if (corked.push(this) === 1) process.nextTick(uncorkAll);
    }
    target.write(bytes);
    if (target.writableLength > this.maxPendingBytes) this.onSlow();
  }
}
