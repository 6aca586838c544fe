import type { SseDisconnectReason } from '../interfaces/sse-service.interface.js';
import type { SseEnvelope } from '../wire/sse-envelope.js';
import { SseFrame } from '../wire/sse-frame.js';
import { spreadRetry } from '../wire/sse-retry.js';
import type { SseSink } from './sse-sink.interface.js';

const NO_TOPICS: readonly string[] = Object.freeze([]);

/** Where a connection is in its life; it only ever moves down this list. */
export enum SseConnectionState {
  /** Made, nothing written yet. */
  Opening,
  /** First event written; live events wait in a buffer until the replay is written. */
  Replaying,
  /** Live events are written as they come. */
  Live,
  /** Ended; nothing more is written. */
  Closed,
}

/** A delivery group a connection belongs to (`SseGroup`), as the connection sees it. */
export interface SseMembership {
  /** Takes the connection out of the group. */
  leave(connection: SseConnection): void;
}

/** What a replay found: the events to write before live ones, and why some may be lost. */
export interface SseReplayed {
  readonly events: readonly SseEnvelope[];
  readonly gap?: { readonly reason: string; readonly lastEventId: string };
}

/**
 * One open stream of one user, and its own life: the first event, the gate that holds live
 * events back while a replay is read, and the frame it ends with. Small on purpose, as
 * there may be tens of thousands; the hub keeps the registry of them.
 */
export class SseConnection {
  private current = SseConnectionState.Opening;
  /** Live events that arrived while the replay was being read. */
  private pending: SseFrame[] | null = null;
  /** Something was written since the last heartbeat tick. */
  active = true;
  /** Id of the last event written: the client's resume point. */
  lastId = '';
  /**
   * Where the stream began, as a `seq`: its first id, or the uuid v7 it resumed from; empty
   * when it resumed from an id that does not order (a custom one). Events lost before it
   * were not this stream's to get.
   */
  since = '';
  /** `lastId` when it was last told of events lost elsewhere (`tellLost`). */
  private toldLostAt: string | undefined;
  /** The delivery groups it belongs to (its user's, its topics'), left when it closes. */
  readonly groups: SseMembership[] = [];
  readonly sink: SseSink;

  constructor(
    readonly id: string,
    readonly userId: string,
    createSink: (connection: SseConnection) => SseSink,
    /** The topics it subscribed to, for its life. */
    readonly topics: readonly string[] = NO_TOPICS,
  ) {
    this.sink = createSink(this);
  }

  /** Where the connection is in its life. */
  get state(): SseConnectionState {
    return this.current;
  }

  /**
   * Writes the first event (`firstId`, `retry`, empty data) at once, then lets live events
   * through, or, when `replaying`, holds them until `finishReplay`. `since`: where the
   * stream begins in `seq` order (`since` above).
   */
  start(firstId: string, retry: number, replaying: boolean, since = ''): void {
    if (this.current !== SseConnectionState.Opening) return;
    this.lastId = firstId;
    this.since = since;
    this.sink.write(SseFrame.first(firstId, retry));
    if (replaying) {
      this.pending = [];
      this.current = SseConnectionState.Replaying;
    } else {
      this.current = SseConnectionState.Live;
    }
  }

  /**
   * Events up to `seq` were lost elsewhere, in no history: writes `sse:gap` (`expired`) now,
   * wherever the stream is, unless it began after them or was told already and got nothing
   * since. Says whether it wrote one.
   */
  tellLost(seq: string): boolean {
    if ((this.since !== '' && this.since > seq) || this.toldLostAt === this.lastId) return false;
    this.toldLostAt = this.lastId;
    this.gap('expired', this.lastId);
    return true;
  }

  /** Writes `sse:gap` now: events may have been lost since `lastEventId`. */
  gap(reason: string, lastEventId: string): void {
    this.push(SseFrame.gap(this.lastId, reason, lastEventId));
  }

  /** Writes a live event, or keeps it while the replay is read. */
  push(frame: SseFrame): void {
    if (this.current === SseConnectionState.Live) {
      this.lastId = frame.id;
      this.active = true;
      this.sink.write(frame);
    } else if (this.current === SseConnectionState.Replaying) {
      this.pending!.push(frame);
    }
  }

  /**
   * Ends the replay: the gap if there is one, the replayed events, then the live events
   * that waited, minus those the replay already held (matched by `seq`).
   */
  finishReplay(replay: SseReplayed): void {
    if (this.current !== SseConnectionState.Replaying) return;
    const pending = this.pending!;
    this.pending = null;
    this.current = SseConnectionState.Live;
    if (replay.gap !== undefined) this.gap(replay.gap.reason, replay.gap.lastEventId);
    let replayed: Set<string> | undefined;
    if (pending.length > 0) replayed = new Set();
    for (const event of replay.events) {
      replayed?.add(event.seq);
      this.push(SseFrame.message(event));
    }
    for (const frame of pending) {
      if (replayed?.has(frame.seq)) continue;
      this.push(frame);
      if (this.current !== SseConnectionState.Live) return;
    }
  }

  /**
   * Ends the stream, once, with the frame its reason calls for, and leaves its groups.
   * Says whether this call ended it (`false`: it was already closed).
   *
   * @param retry the `retry` option, from which a stream that should come back at once
   *   (shutdown, a fault) gets its own randomised delay.
   */
  close(reason: SseDisconnectReason, retry: number): boolean {
    if (this.current === SseConnectionState.Closed) return false;
    const opened = this.current !== SseConnectionState.Opening;
    this.current = SseConnectionState.Closed;
    this.pending = null;
    for (const group of this.groups) group.leave(this);
    this.groups.length = 0;
    if (!opened) {
      this.sink.end();
      return true;
    }
    switch (reason) {
      case 'replaced':
      case 'disconnected':
        this.sink.end(SseFrame.close(this.lastId, reason));
        break;
      case 'shutdown':
      case 'error':
        this.sink.end(SseFrame.retryLater(this.lastId, spreadRetry(retry)));
        break;
      case 'timeout':
        this.sink.end();
        break;
      case 'slow':
        this.sink.destroy();
        break;
      case 'client':
        break;
    }
    return true;
  }
}
