import type { KV, KvWatchEntry } from '@nats-io/kv';
import type { QueuedIterator } from '@nats-io/nats-core';
import type { SseBrokerHost } from '../sse-broker.interface.js';
import { PRESENCE_SHARDS, presenceShard } from './nats-sse.subjects.js';

/** One shard of one instance's presence, as read from the bucket. */
interface PresenceShard {
  readonly users: ReadonlyMap<string, number>;
  readonly total: number;
  /** When this instance last heard of it (its own clock): fresh for `ttlMs` after. */
  readonly at: number;
}

/** What one presence counts: users' connections, or topics' receiving connections. */
export interface NatsSsePresenceKind {
  /** Between the instance id and the shard in keys: `''` for users, `'t.'` for topics. */
  readonly infix: '' | 't.';
  /** Connections of one user (or topic) here. */
  count(id: string): number;
}

/**
 * Cluster-wide presence in a KV bucket whose TTL is `presenceTtlMs`. Each instance writes
 * its users' connection counts under `<instanceId>.<shard>` (a user is always in the same
 * one of 32 shards), each shard again on every heartbeat so that it outlives the TTL only
 * while the instance lives; a connect or disconnect rewrites its user's shard within the
 * tick. Every instance watches the whole bucket and keeps a copy of it in memory, so that
 * `isOnline`, `onlineUsers` and `delivered` are answered without a request to NATS.
 * Topics are counted the same way under `<instanceId>.t.<shard>` (a second instance of
 * this class): a topic's receiving connections here, for a topic event's `delivered`.
 */
export class NatsSsePresence {
  /** Users with connections here, by shard. */
  private readonly local: Set<string>[] = Array.from({ length: PRESENCE_SHARDS }, () => new Set());
  /** Shards that have a key in the bucket: deleted once empty, and on leave. */
  private readonly written = new Set<number>();
  private readonly dirty = new Set<number>();
  private flushQueued = false;
  /** The others' shards: instance id, then shard number. */
  private readonly remote = new Map<string, Map<number, PresenceShard>>();
  private watcher: QueuedIterator<KvWatchEntry> | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly host: SseBrokerHost,
    private readonly ttlMs: number,
    heartbeatMs: number,
    private readonly onError: (what: string, error: unknown) => void,
    private readonly kind: NatsSsePresenceKind = {
      infix: '',
      count: (userId) => host.localConnections(userId),
    },
  ) {
    this.timer = setInterval(() => this.writeAll(), heartbeatMs);
    this.timer.unref();
  }

  /** The bucket to use: on every (re)connect, the copy of the others starts again. */
  kv: KV | undefined;

  /** Starts over on a (new) bucket: watch the others, write this instance in full. */
  async join(kv: KV): Promise<void> {
    this.kv = kv;
    this.watcher?.stop();
    this.remote.clear();
    // Users' keys have two tokens, topics' three: one filter takes one kind.
    const watcher = await kv.watch({ key: this.kind.infix === '' ? '*.*' : '*.t.*' });
    this.watcher = watcher;
    void this.follow(watcher);
    this.writeAll();
  }

  /** Nothing of the others can be trusted while NATS is away. */
  lost(): void {
    this.watcher?.stop();
    this.watcher = undefined;
    this.remote.clear();
    this.kv = undefined;
  }

  private async follow(watcher: QueuedIterator<KvWatchEntry>): Promise<void> {
    try {
      for await (const entry of watcher) {
        try {
          this.take(entry);
        } catch (error) {
          // A key that is not an instance's shard (written by hand, say) is skipped.
          this.onError('presence entry', error);
        }
      }
    } catch (error) {
      if (this.watcher === watcher) this.onError('presence watch', error);
    }
  }

  private take(entry: KvWatchEntry): void {
    const dot = entry.key.lastIndexOf('.');
    const instanceId = entry.key.slice(0, entry.key.indexOf('.'));
    if (instanceId === this.host.instanceId) return;
    const shard = Number(entry.key.slice(dot + 1));
    let shards = this.remote.get(instanceId);
    if (entry.operation !== 'PUT') {
      shards?.delete(shard);
      if (shards?.size === 0) this.remote.delete(instanceId);
      return;
    }
    const counts = JSON.parse(entry.string()) as Record<string, number>;
    const users = new Map(Object.entries(counts));
    let total = 0;
    for (const n of users.values()) total += n;
    const now = Date.now();
    // What was there before this instance started watching is as old as its write.
    const at = entry.isUpdate ? now : Math.min(now, entry.created.getTime());
    if (shards === undefined) this.remote.set(instanceId, (shards = new Map()));
    shards.set(shard, { users, total, at });
  }

  /** A connection of the user (or the topic) opened or closed here. */
  touch(userId: string): void {
    const shard = presenceShard(userId);
    if (this.kind.count(userId) > 0) this.local[shard].add(userId);
    else this.local[shard].delete(userId);
    this.dirty.add(shard);
    if (this.flushQueued) return;
    this.flushQueued = true;
    queueMicrotask(() => {
      this.flushQueued = false;
      const shards = [...this.dirty];
      this.dirty.clear();
      for (const shard of shards) this.write(shard);
    });
  }

  private writeAll(): void {
    this.forgetDead();
    for (let shard = 0; shard < PRESENCE_SHARDS; shard++) {
      if (this.local[shard].size > 0 || this.written.has(shard)) this.write(shard);
    }
  }

  /** Lets go of what instances that stopped writing (died, or cut off) left in the copy. */
  private forgetDead(): void {
    const now = Date.now();
    for (const [instanceId, shards] of this.remote) {
      for (const [shard, entry] of shards) if (!this.fresh(entry, now)) shards.delete(shard);
      if (shards.size === 0) this.remote.delete(instanceId);
    }
  }

  /** Writes a shard; an emptied one is deleted, so that the others forget it at once. */
  private write(shard: number): void {
    const kv = this.kv;
    if (kv === undefined) return;
    const key = this.key(shard);
    const report = (error: unknown): void => this.onError('presence', error);
    if (this.local[shard].size === 0) {
      if (this.written.delete(shard)) kv.delete(key).catch(report);
      return;
    }
    const counts: Record<string, number> = {};
    for (const userId of this.local[shard]) counts[userId] = this.kind.count(userId);
    this.written.add(shard);
    kv.put(key, JSON.stringify(counts)).catch(report);
  }

  private key(shard: number): string {
    return `${this.host.instanceId}.${this.kind.infix}${shard}`;
  }

  private fresh(shard: PresenceShard | undefined, now: number): shard is PresenceShard {
    return shard !== undefined && now - shard.at < this.ttlMs;
  }

  /** Connections of a user on the other live instances. */
  remoteConnections(userId: string): number {
    const shard = presenceShard(userId);
    const now = Date.now();
    let n = 0;
    for (const shards of this.remote.values()) {
      const entry = shards.get(shard);
      if (this.fresh(entry, now)) n += entry.users.get(userId) ?? 0;
    }
    return n;
  }

  /** Connections on the other live instances, all users together. */
  remoteTotal(): number {
    const now = Date.now();
    let n = 0;
    for (const shards of this.remote.values()) {
      for (const entry of shards.values()) if (this.fresh(entry, now)) n += entry.total;
    }
    return n;
  }

  /** Users with a connection on another live instance. */
  remoteUsers(): Set<string> {
    const now = Date.now();
    const users = new Set<string>();
    for (const shards of this.remote.values()) {
      for (const entry of shards.values()) {
        if (!this.fresh(entry, now)) continue;
        for (const [userId, n] of entry.users) if (n > 0) users.add(userId);
      }
    }
    return users;
  }

  /** Leaves the cluster's presence (at shutdown), as far as NATS answers. */
  async leave(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    const kv = this.kv;
    this.lost();
    if (kv === undefined) return;
    const keys = [...this.written].map((shard) => this.key(shard));
    this.written.clear();
    await Promise.all(keys.map((key) => kv.delete(key))).catch((error: unknown) =>
      this.onError('presence', error),
    );
  }
}
