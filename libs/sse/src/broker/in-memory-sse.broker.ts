import type {
  SseBroker,
  SseBrokerHost,
  SseEnvelope,
  SsePublishReceipt,
  SseReplay,
} from './sse-broker.interface.js';
import { MemorySseHistory } from '../history/memory-sse-history.js';
import { SseError } from '../sse.errors.js';

const DISABLED: SseReplay = { events: [], gap: 'disabled' };

/**
 * The default broker: one process, history in memory. Presence is this instance's own
 * connections. Its history does not survive a restart: a client resuming from before this
 * instance started gets `sse:gap` with reason `restarted`.
 */
export class InMemorySseBroker implements SseBroker {
  private host: SseBrokerHost | undefined;
  private history: MemorySseHistory | undefined;

  attach(host: SseBrokerHost): void {
    if (this.host !== undefined) {
      throw new SseError(
        'This InMemorySseBroker is already attached to an SseModule. Potential solutions: ' +
          'give each SseModule its own broker instance.',
      );
    }
    this.host = host;
    if (host.history.size > 0) {
      this.history = new MemorySseHistory(host.history.size, host.history.ttlMs);
    }
  }

  publish(message: SseEnvelope): Promise<SsePublishReceipt> {
    const host = this.requireHost();
    this.history?.append(message);
    const delivered = host.deliver(message);
    return Promise.resolve({ delivered, stored: this.history !== undefined });
  }

  replay(userId: string, lastEventId: string): SseReplay | Promise<SseReplay> {
    return this.history?.replay(userId, lastEventId) ?? DISABLED;
  }

  connected(): void {
    // Presence is the host's own connection registry.
  }

  disconnected(): void {
    // Presence is the host's own connection registry.
  }

  disconnect(userId: string): Promise<boolean> {
    return Promise.resolve(this.requireHost().disconnectLocal(userId) > 0);
  }

  isOnline(userId: string): Promise<boolean> {
    return Promise.resolve(this.requireHost().localConnections(userId) > 0);
  }

  onlineUsers(): Promise<string[]> {
    return Promise.resolve([...this.requireHost().localUsers()]);
  }

  detach(): Promise<void> {
    this.history?.stop();
    this.history = undefined;
    this.host = undefined;
    return Promise.resolve();
  }

  /** Always up: there is nothing else to reach. */
  ping(): Promise<boolean> {
    return Promise.resolve(true);
  }

  private requireHost(): SseBrokerHost {
    if (this.host === undefined) {
      throw new SseError(
        'The SSE broker is not attached yet. Potential solutions: send after the ' +
          'application has initialised (app.init() or app.listen()).',
      );
    }
    return this.host;
  }
}
