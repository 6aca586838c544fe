import { Logger } from '@nestjs/common';
import { Subject } from 'rxjs';
import type {
  SseConnectionEvent,
  SseDisconnectReason,
} from '../interfaces/sse-service.interface.js';

/**
 * Tells of connections opening and closing: the `debug` log lines and the entries of
 * `SseService.events$`. Neither the line nor the entry is made when nobody would read it,
 * so that a connect costs nothing more at the default log level.
 */
export class SseLifecycle {
  readonly events$ = new Subject<SseConnectionEvent>();

  constructor(private readonly logger: Logger) {}

  connected(userId: string, connectionId: string): void {
    if (Logger.isLevelEnabled('debug')) {
      this.logger.debug(`Connected ${connectionId} of user ${userId}`);
    }
    if (this.events$.observed) {
      this.events$.next({ type: 'connect', userId, connectionId, at: Date.now() });
    }
  }

  disconnected(userId: string, connectionId: string, reason: SseDisconnectReason): void {
    if (Logger.isLevelEnabled('debug')) {
      this.logger.debug(`Disconnected ${connectionId} of user ${userId}: ${reason}`);
    }
    if (this.events$.observed) {
      this.events$.next({ type: 'disconnect', userId, connectionId, reason, at: Date.now() });
    }
  }

  complete(): void {
    this.events$.complete();
  }
}
