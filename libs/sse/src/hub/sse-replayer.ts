import type { LoggerService } from '@nestjs/common';
import type { SseBroker, SseReplay } from '../broker/sse-broker.interface.js';
import { SseConnectionState, type SseConnection } from './sse-connection.js';

const UNAVAILABLE: SseReplay = { events: [], gap: 'unavailable' };

/** Whether a broker answered at once or with a promise. */
export function isPromiseLike<T>(value: T | PromiseLike<T>): value is PromiseLike<T> {
  return typeof (value as PromiseLike<T> | undefined)?.then === 'function';
}

/**
 * Reads what a connection missed from the broker and hands it to the connection, which
 * holds live events back until then. A broker that fails, at once or later, is answered
 * with `sse:gap` `unavailable`: the client is told, and live events flow again.
 */
export class SseReplayer {
  constructor(
    private readonly broker: SseBroker,
    private readonly logger: LoggerService,
  ) {}

  /**
   * Replays from `lastEventId` into a replaying connection. `catchUp` marks a fresh
   * connection catching up from its own first id: without history it has nothing to
   * vouch for, so `disabled` is no gap for it.
   */
  replay(connection: SseConnection, lastEventId: string, catchUp: boolean): void {
    if (connection.state !== SseConnectionState.Replaying) return;
    const finish = (replay: SseReplay): void => {
      const silent = replay.gap === undefined || (catchUp && replay.gap === 'disabled');
      connection.finishReplay({
        events: replay.events,
        gap: silent ? undefined : { reason: replay.gap!, lastEventId },
      });
    };
    const failed = (error: unknown): void => {
      this.logger.warn(`Replay for user ${connection.userId} failed: ${String(error)}`);
      finish(UNAVAILABLE);
    };
    let result: SseReplay | PromiseLike<SseReplay>;
    try {
      result = this.broker.replay(connection.userId, lastEventId, connection.topics);
    } catch (error) {
      failed(error);
      return;
    }
    if (isPromiseLike(result)) result.then(finish, failed);
    else finish(result);
  }
}
