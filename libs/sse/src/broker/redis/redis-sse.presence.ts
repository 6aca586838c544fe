import type { Redis } from 'ioredis';
import type { SseBrokerHost } from '../sse-broker.interface.js';
import type { RedisSseKeys } from './redis-sse.keys.js';
import { encodeDisconnect } from '../sse-broker.codec.js';
import {
  CLEAR_PRESENCE,
  HEARTBEAT,
  REMOTE_CONNECTIONS,
  REMOTE_USERS,
  WRITE_PRESENCE,
  type RedisSseScript,
} from './redis-sse.scripts.js';

// Users per presence write, when all of them are written again.
const CHUNK = 1000;

/**
 * This instance's share of cluster-wide presence: how many connections each of its users
 * has here, in Redis, plus a heartbeat that keeps the instance counted.
 *
 * Connects and disconnects mark a user; the counts of all users marked in one tick are
 * written in one script before the tick ends (so before the client that just connected
 * can act on its first event). Counts are absolute: when Redis was out of reach, writing
 * everything again on return repairs what was missed.
 */
export class RedisSsePresence {
  private readonly dirty = new Set<string>();
  private flushQueued = false;
  /** Presence in Redis may be wrong: write it all again when Redis answers. */
  private stale = true;
  private timer: NodeJS.Timeout | undefined;
  private rewriting: Promise<void> | undefined;
  /** Open connections here, all users together. */
  private connections = 0;

  constructor(
    private readonly client: Redis,
    private readonly keys: RedisSseKeys,
    private readonly host: SseBrokerHost,
    private readonly ttlMs: number,
    heartbeatMs: number,
    private readonly onError: (what: string, error: unknown) => void,
  ) {
    this.timer = setInterval(() => void this.beat(), heartbeatMs);
    this.timer.unref();
  }

  private get setKeepMs(): number {
    return this.ttlMs * 3;
  }

  /** A connection of the user opened (`+1`) or closed (`-1`) here. */
  touch(userId: string, change: 1 | -1): void {
    this.connections += change;
    this.dirty.add(userId);
    if (this.flushQueued) return;
    this.flushQueued = true;
    queueMicrotask(() => this.flush());
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
      await CLEAR_PRESENCE.run(
        this.client,
        [this.keys.instances, this.keys.counts, this.keys.instanceUsers(this.host.instanceId)],
        [this.host.instanceId, '0', ...this.keys.userPresenceParts],
      );
      this.stale = false;
      this.dirty.clear();
      const users = [...this.host.localUsers()];
      this.connections = 0;
      for (const userId of users) this.connections += this.host.localConnections(userId);
      if (users.length === 0) await this.write([]);
      for (let i = 0; i < users.length; i += CHUNK) await this.write(users.slice(i, i + CHUNK));
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
    const users = [...this.dirty];
    this.dirty.clear();
    this.write(users).catch((error: unknown) => {
      this.stale = true;
      this.onError('presence', error);
    });
  }

  private write(users: readonly string[]): Promise<unknown> {
    const keys = [this.keys.counts, this.keys.instanceUsers(this.host.instanceId)];
    const args: (string | number)[] = [this.host.instanceId, this.connections, this.setKeepMs];
    for (const userId of users) {
      keys.push(this.keys.userPresence(userId));
      args.push(userId, this.host.localConnections(userId));
    }
    return WRITE_PRESENCE.run(this.client, keys, args);
  }

  private heartbeat(): Promise<unknown> {
    return HEARTBEAT.run(
      this.client,
      [this.keys.instances, this.keys.counts, this.keys.instanceUsers(this.host.instanceId)],
      [
        this.host.instanceId,
        this.ttlMs,
        this.setKeepMs,
        ...this.keys.instanceUsersParts,
        ...this.keys.userPresenceParts,
      ],
    );
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

  /**
   * The user's connections on other live instances (0 when Redis does not answer); with
   * `end`, tells those instances to end them.
   */
  async remoteConnections(userId: string, end: boolean): Promise<number> {
    const { keys, host } = this;
    const args = [host.instanceId];
    if (end) args.push(keys.userChannel(userId), encodeDisconnect(host.instanceId));
    const keysOf = [keys.instances, keys.userPresence(userId)];
    return Number((await this.query(REMOTE_CONNECTIONS, keysOf, args)) ?? 0);
  }

  /** Users with a connection on other live instances (none when Redis does not answer). */
  async remoteUsers(): Promise<string[]> {
    const { keys, host } = this;
    const args = [host.instanceId, ...keys.instanceUsersParts];
    const users = await this.query(REMOTE_USERS, [keys.instances], args);
    return Array.isArray(users) ? users.map(String) : [];
  }

  /** Runs a read-mostly script; `undefined` when Redis does not answer. */
  private async query(
    script: RedisSseScript,
    keys: readonly string[],
    args: readonly (string | number)[],
  ): Promise<unknown> {
    if (this.client.status !== 'ready') return undefined;
    try {
      return await script.run(this.client, keys, args);
    } catch (error) {
      this.onError('query', error);
      return undefined;
    }
  }

  /** Leaves the cluster's presence (at shutdown), as far as Redis answers. */
  async leave(): Promise<void> {
    this.stop();
    if (this.client.status !== 'ready') return;
    await CLEAR_PRESENCE.run(
      this.client,
      [this.keys.instances, this.keys.counts, this.keys.instanceUsers(this.host.instanceId)],
      [this.host.instanceId, '1', ...this.keys.userPresenceParts],
    ).catch((error: unknown) => this.onError('presence', error));
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    this.dirty.clear();
  }
}
