import type { Cluster } from 'ioredis';
import { encodeDisconnect } from '../sse-broker.codec.js';
import {
  CLUSTER_FORGET,
  CLUSTER_HEARTBEAT,
  CLUSTER_LIVE,
  CLUSTER_LIVE_AMONG,
  CLUSTER_REMOTE_CONNECTIONS,
} from './redis-sse.cluster-scripts.js';
import { RedisSseUserPresenceWriter } from './redis-sse.presence-writer.js';

// Users of a dead instance cleared per heartbeat and dead instance.
const CLEAR_PER_BEAT = 1000;

/**
 * This instance's share of cluster-wide presence on a Redis Cluster. The same keys as on
 * one server (a hash per user, a set per instance, the registry and counts in `{b}`), but
 * no script touches two slots:
 *
 * - the heartbeat extends this instance's life in the registry and reads which instances
 *   are live, kept here until the next beat;
 * - a count of a user's connections (in a publish, `isOnline`, `disconnect`) passes those
 *   live instances to the user's slot; instances it does not know of (one that started
 *   since the last beat, or one that died and was forgotten) are looked up in the
 *   registry, and a dead one's entry is deleted;
 * - writes and clean-up are one command per slot: counts are absolute, so one that
 *   repeats or comes late does no harm.
 */
export class RedisSseClusterPresence extends RedisSseUserPresenceWriter<Cluster> {
  /** Live instances other than this one, as of the last heartbeat. */
  private live: string[] = [];

  /** The live instances to pass to a count in a user's slot. */
  liveInstances(): readonly string[] {
    return this.live;
  }

  /**
   * Adds to a count's reply (`{n, unknown id, its count, ...}`) the connections of the
   * unknown instances that are live, and deletes the user's entries of the dead ones.
   */
  async settle(userId: string, reply: unknown): Promise<number> {
    if (!Array.isArray(reply)) return 0;
    let n = Number(reply[0]);
    if (reply.length === 1) return n;
    const counts = new Map<string, number>();
    for (let i = 1; i + 1 < reply.length; i += 2)
      counts.set(String(reply[i]), Number(reply[i + 1]));
    const live = await CLUSTER_LIVE_AMONG.run(
      this.client,
      [this.keys.instances],
      [...counts.keys()],
    );
    const alive = new Set(Array.isArray(live) ? live.map(String) : []);
    for (const [id, count] of counts) {
      if (alive.has(id)) {
        n += count;
        if (!this.live.includes(id)) this.live = [...this.live, id];
      } else {
        this.client.hdel(this.keys.userPresence(userId), id).catch(() => undefined);
      }
    }
    return n;
  }

  protected override writeAll(): Promise<void> {
    return this.write(this.countUsers());
  }

  /** One command per user's slot, one for this instance's set, one for the counts. */
  protected override async write(users: readonly string[]): Promise<void> {
    const { client, keys, host } = this;
    const id = host.instanceId;
    const set = keys.instanceUsers(id);
    const writes: Promise<unknown>[] = [];
    const joined: string[] = [];
    const left: string[] = [];
    for (const userId of users) {
      const n = host.localConnections(userId);
      if (n > 0) {
        writes.push(client.hset(keys.userPresence(userId), id, n));
        joined.push(userId);
      } else {
        writes.push(client.hdel(keys.userPresence(userId), id));
        left.push(userId);
      }
    }
    if (joined.length > 0) writes.push(client.sadd(set, ...joined));
    if (left.length > 0) writes.push(client.srem(set, ...left));
    writes.push(client.pexpire(set, this.setKeepMs));
    writes.push(client.hset(keys.counts, id, this.connections));
    await Promise.all(writes);
  }

  /** Extends this instance's life, learns the live instances, clears after dead ones. */
  protected override async heartbeat(): Promise<number> {
    const { client, keys, host } = this;
    const reply = await CLUSTER_HEARTBEAT.run(
      client,
      [keys.instances],
      [host.instanceId, this.ttlMs],
    );
    if (!Array.isArray(reply)) return 0;
    const count = Number(reply[1]);
    const ids = reply.slice(2).map(String);
    this.live = ids.slice(0, count).filter((id) => id !== host.instanceId);
    await client.pexpire(keys.instanceUsers(host.instanceId), this.setKeepMs);
    for (const dead of ids.slice(count)) await this.clearDead(dead);
    return Number(reply[0]);
  }

  /** Deletes a dead instance's entries of its users (some each beat), then the instance. */
  private async clearDead(dead: string): Promise<void> {
    const { client, keys } = this;
    const set = keys.instanceUsers(dead);
    const users = await client.srandmember(set, CLEAR_PER_BEAT);
    await Promise.all(users.map((userId) => client.hdel(keys.userPresence(userId), dead)));
    if (users.length > 0) await client.srem(set, ...users);
    if (users.length < CLEAR_PER_BEAT) {
      await CLUSTER_FORGET.run(client, [keys.instances, keys.counts], [dead]);
    }
  }

  /** This instance's entries out of every user's hash, its set and counts; `leave`: all. */
  protected override async clear(leave: boolean): Promise<void> {
    const { client, keys, host } = this;
    const id = host.instanceId;
    const set = keys.instanceUsers(id);
    const users = await client.smembers(set);
    await Promise.all(users.map((userId) => client.hdel(keys.userPresence(userId), id)));
    await Promise.all([client.del(set), client.hdel(keys.counts, id)]);
    if (leave) await client.zrem(keys.instances, id);
  }

  async remoteConnections(userId: string, end: boolean): Promise<number> {
    const { keys, host } = this;
    if (this.client.status !== 'ready') return 0;
    const args = end
      ? [host.instanceId, keys.userChannel(userId), encodeDisconnect(host.instanceId)]
      : [host.instanceId, '', ''];
    try {
      const reply = await CLUSTER_REMOTE_CONNECTIONS.run(
        this.client,
        [keys.userPresence(userId)],
        [...args, ...this.live],
      );
      return await this.settle(userId, reply);
    } catch (error) {
      this.onError('query', error);
      return 0;
    }
  }

  /** Users with a connection on other live instances: the union of their sets. */
  async remoteUsers(): Promise<string[]> {
    const { client, keys, host } = this;
    if (client.status !== 'ready') return [];
    try {
      const live = await CLUSTER_LIVE.run(client, [keys.instances], []);
      const others = (Array.isArray(live) ? live.map(String) : []).filter(
        (id) => id !== host.instanceId,
      );
      const sets = await Promise.all(others.map((id) => client.smembers(keys.instanceUsers(id))));
      return [...new Set(sets.flat())];
    } catch (error) {
      this.onError('query', error);
      return [];
    }
  }
}
