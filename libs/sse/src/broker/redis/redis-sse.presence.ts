import type { Redis } from 'ioredis';
import { encodeDisconnect } from '../sse-broker.codec.js';
import {
  CLEAR_PRESENCE,
  HEARTBEAT,
  REMOTE_CONNECTIONS,
  REMOTE_USERS,
  WRITE_PRESENCE,
  type RedisSseScript,
} from './redis-sse.scripts.js';
import { RedisSseUserPresenceWriter } from './redis-sse.presence-writer.js';

/**
 * This instance's share of cluster-wide presence: how many connections each of its users
 * has here, in Redis, plus a heartbeat that keeps the instance counted.
 *
 * Connects and disconnects mark a user; the counts of all users marked in one tick are
 * written in one script before the tick ends (so before the client that just connected
 * can act on its first event). Counts are absolute: when Redis was out of reach, writing
 * everything again on return repairs what was missed.
 */
export class RedisSsePresence extends RedisSseUserPresenceWriter<Redis> {
  protected override async writeAll(): Promise<void> {
    const users = this.countUsers();
    if (users.length === 0) await this.write([]);
    await this.writeChunks(users);
  }

  protected override clear(leave: boolean): Promise<unknown> {
    return CLEAR_PRESENCE.run(
      this.client,
      [this.keys.instances, this.keys.counts, this.keys.instanceUsers(this.host.instanceId)],
      [this.host.instanceId, leave ? '1' : '0', ...this.keys.userPresenceParts],
    );
  }

  protected override write(users: readonly string[]): Promise<unknown> {
    const keys = [this.keys.counts, this.keys.instanceUsers(this.host.instanceId)];
    const args: (string | number)[] = [this.host.instanceId, this.connections, this.setKeepMs];
    for (const userId of users) {
      keys.push(this.keys.userPresence(userId));
      args.push(userId, this.host.localConnections(userId));
    }
    return WRITE_PRESENCE.run(this.client, keys, args);
  }

  protected override heartbeat(): Promise<unknown> {
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
}
