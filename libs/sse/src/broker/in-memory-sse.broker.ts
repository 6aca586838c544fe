import type {
  SseBroker,
  SseBrokerHost,
  SseEnvelope,
  SsePublishReceipt,
  SseReplay,
} from './sse-broker.interface.js';
import { MemorySseHistory } from '../history/memory-sse-history.js';
import { topicReads } from '../history/sse-replay.js';
import { SseError } from '../sse.errors.js';
import { MemorySseMemberships } from './in-memory-sse.memberships.js';

const DISABLED: SseReplay = { events: [], gap: 'disabled' };

/**
 * The default broker: one process, history and memberships in memory. Presence is this
 * instance's own connections. Its history does not survive a restart: a client resuming
 * from before this instance started gets `sse:gap` with reason `restarted`.
 */
export class InMemorySseBroker implements SseBroker {
  private host: SseBrokerHost | undefined;
  private history: MemorySseHistory | undefined;
  private memberships: MemorySseMemberships | undefined;
  private sweeper: NodeJS.Timeout | undefined;

  attach(host: SseBrokerHost): void {
    if (this.host !== undefined) {
      throw new SseError(
        'This InMemorySseBroker is already attached to an SseModule. Potential solutions: ' +
          'give each SseModule its own broker instance.',
      );
    }
    this.host = host;
    const keepMs = 2 * host.history.ttlMs;
    const memberships = (this.memberships = new MemorySseMemberships(keepMs));
    this.sweeper = setInterval(() => memberships.sweep(), Math.min(keepMs, 60_000));
    this.sweeper.unref();
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

  replay(
    userId: string,
    lastEventId: string,
    topics: readonly string[] = [],
  ): SseReplay | Promise<SseReplay> {
    if (this.history === undefined) return DISABLED;
    const windows = this.memberships?.windows(userId) ?? [];
    return this.history.replay(userId, lastEventId, topicReads(topics, windows));
  }

  connected(userId: string): void {
    // Presence is the host's own connection registry; it learns the user's memberships.
    const host = this.requireHost();
    if (host.localConnections(userId) !== 1) return;
    for (const topic of this.memberships!.joined(userId)) host.joinLocal(userId, topic);
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

  join(userId: string, topic: string): Promise<boolean> {
    const host = this.requireHost();
    try {
      const joined = this.memberships!.join(userId, topic, host.limits.maxTopicsPerUser);
      if (joined) host.joinLocal(userId, topic);
      return Promise.resolve(joined);
    } catch (error) {
      return Promise.reject(error as Error);
    }
  }

  leave(userId: string, topic: string): Promise<boolean> {
    const host = this.requireHost();
    const left = this.memberships!.leave(userId, topic);
    if (left) host.leaveLocal(userId, topic);
    return Promise.resolve(left);
  }

  topicsOf(userId: string): Promise<string[]> {
    this.requireHost();
    return Promise.resolve(this.memberships!.topicsOf(userId));
  }

  members(topic: string): Promise<string[]> {
    this.requireHost();
    return Promise.resolve(this.memberships!.membersOf(topic));
  }

  onlineUsers(): Promise<string[]> {
    return Promise.resolve([...this.requireHost().localUsers()]);
  }

  detach(): Promise<void> {
    this.history?.stop();
    this.history = undefined;
    clearInterval(this.sweeper);
    this.sweeper = undefined;
    this.memberships = undefined;
    this.host = undefined;
    return Promise.resolve();
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
