import type { SseBrokerHost } from '../sse-broker.interface.js';
import type { RedisSseClient } from './redis-sse.connection.js';
import type { RedisSseKeys } from './redis-sse.keys.js';

// Users or topics per presence write, when all of them are written again.
const CHUNK = 1000;

/**
 * How this instance writes a share of presence to Redis (counts of its connections per
 * user or per topic), whatever the keys and commands.
 *
 * A change marks a user or topic; those marked in one tick are written in one batch
 * before the tick ends. Counts are absolute: when Redis was out of reach (or a write
 * failed), the presence is stale and is written again in full once Redis answers. A
 * heartbeat keeps the instance counted and writes everything again when the others had
 * given it up for dead. Failures are reported as `presence` (writes) or `heartbeat`.
 *
 * A subclass says what it writes: `heartbeat`, `clear`, `write` and `writeAll`.
 */
export abstract class RedisSsePresenceWriter<C extends RedisSseClient = RedisSseClient> {
  private readonly dirty = new Set<string>();
  private flushQueued = false;
  /** Presence in Redis may be wrong: write it all again when Redis answers. */
  private stale = true;
  private timer: NodeJS.Timeout | undefined;
  private rewriting: Promise<void> | undefined;

  /**
   * Starts the heartbeat (every `heartbeatMs`, not keeping the process alive). Nothing is
   * written before the first `rewrite`.
   */
  constructor(
    protected readonly client: C,
    protected readonly keys: RedisSseKeys,
    protected readonly host: SseBrokerHost,
    protected readonly ttlMs: number,
    heartbeatMs: number,
    protected readonly onError: (what: string, error: unknown) => void,
  ) {
    this.timer = setInterval(() => void this.beat(), heartbeatMs);
    this.timer.unref();
  }

  /** How long this instance's set outlives a missed heartbeat. */
  protected get setKeepMs(): number {
    return this.ttlMs * 3;
  }

  /**
   * Extends this instance's life and clears after dead instances; resolves to 1 when this
   * instance had been given up for dead.
   */
  protected abstract heartbeat(): Promise<unknown>;

  /** Deletes this instance's presence; with `leave`, its registration too. */
  protected abstract clear(leave: boolean): Promise<unknown>;

  /** Writes the current counts of these users or topics. */
  protected abstract write(items: readonly string[]): Promise<unknown>;

  /** Writes all of this instance's presence, after `clear`. */
  protected abstract writeAll(): Promise<void>;

  /** Marks a user or topic whose count may have changed, to be written this tick. */
  protected mark(item: string): void {
    this.dirty.add(item);
    if (this.flushQueued) return;
    this.flushQueued = true;
    queueMicrotask(() => this.flush());
  }

  /** `write` in batches of 1000, one after the other. */
  protected async writeChunks(items: readonly string[]): Promise<void> {
    for (let i = 0; i < items.length; i += CHUNK) await this.write(items.slice(i, i + CHUNK));
  }

  /** Registers the instance and writes its presence in full: on every `ready`. */
  rewrite(): Promise<void> {
    this.stale = true;
    this.rewriting ??= this.rewriteAll().finally(() => (this.rewriting = undefined));
    return this.rewriting;
  }

  private async rewriteAll(): Promise<void> {
    try {
      await this.heartbeat();
      await this.clear(false);
      this.stale = false;
      this.dirty.clear();
      await this.writeAll();
    } catch (error) {
      this.stale = true;
      this.onError('presence', error);
    }
  }

  private flush(): void {
    this.flushQueued = false;
    if (this.dirty.size === 0) return;
    if (this.stale || this.client.status !== 'ready') {
      // Written in full once Redis is back.
      this.stale = true;
      this.dirty.clear();
      return;
    }
    const items = [...this.dirty];
    this.dirty.clear();
    this.write(items).catch((error: unknown) => {
      this.stale = true;
      this.onError('presence', error);
    });
  }

  private async beat(): Promise<void> {
    if (this.client.status !== 'ready' || this.rewriting !== undefined) return;
    if (this.stale) {
      await this.rewrite();
      return;
    }
    try {
      // 1: the others gave this instance up for dead (it missed beats) and cleared it.
      if ((await this.heartbeat()) === 1) await this.rewrite();
    } catch (error) {
      this.onError('heartbeat', error);
    }
  }

  /** Leaves presence (at shutdown), as far as Redis answers. */
  async leave(): Promise<void> {
    this.stop();
    if (this.client.status !== 'ready') return;
    await this.clear(true).catch((error: unknown) => this.onError('presence', error));
  }

  /** Stops the heartbeat and drops unwritten changes. */
  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    this.dirty.clear();
  }
}

/**
 * A presence writer per user, which also keeps the total of this instance's connections
 * (written with the users' counts).
 */
export abstract class RedisSseUserPresenceWriter<
  C extends RedisSseClient = RedisSseClient,
> extends RedisSsePresenceWriter<C> {
  /** Open connections here, all users together. */
  protected connections = 0;

  /** A connection of the user opened (`+1`) or closed (`-1`) here. */
  touch(userId: string, change: 1 | -1): void {
    this.connections += change;
    this.mark(userId);
  }

  /** The users with connections here, the total counted again from them. */
  protected countUsers(): string[] {
    const users = [...this.host.localUsers()];
    this.connections = 0;
    for (const userId of users) this.connections += this.host.localConnections(userId);
    return users;
  }
}
