import type { SseBrokerHost } from '../sse-broker.interface.js';
import type { RedisSseClient } from './redis-sse.connection.js';
import type { RedisSseKeys } from './redis-sse.keys.js';
import {
  CLEAR_TOPIC_PRESENCE,
  TOPIC_HEARTBEAT,
  WRITE_TOPIC_PRESENCE,
} from './redis-sse.topic-scripts.js';

// Topics per presence write, when all of them are written again.
const CHUNK = 1000;

/**
 * This instance's share of topic presence: how many connections here receive each topic,
 * in the topic's presence hash, for the `delivered` of a publish on another instance.
 * Written like user presence: changes mark a topic, the topics marked in one tick are
 * written in one script, counts are absolute, everything is written again after Redis was
 * away, and a heartbeat keeps the instance counted and clears what dead instances left.
 *
 * On a Redis Cluster, where a topic's presence and this instance's topic set are in
 * different slots, the same steps are single-key commands sent together instead of scripts.
 */
export class RedisSseTopicPresence {
  private readonly dirty = new Set<string>();
  private flushQueued = false;
  private stale = true;
  private timer: NodeJS.Timeout | undefined;
  private rewriting: Promise<void> | undefined;

  constructor(
    private readonly client: RedisSseClient,
    private readonly keys: RedisSseKeys,
    private readonly host: SseBrokerHost,
    private readonly ttlMs: number,
    heartbeatMs: number,
    private readonly onError: (what: string, error: unknown) => void,
  ) {
    this.timer = setInterval(() => void this.beat(), heartbeatMs);
    this.timer.unref();
  }

  /** The receiving connections of the topic here may have changed. */
  touch(topic: string): void {
    this.dirty.add(topic);
    if (this.flushQueued) return;
    this.flushQueued = true;
    queueMicrotask(() => this.flush());
  }

  /** Writes the topic presence in full: on every `ready`. */
  rewrite(): Promise<void> {
    this.stale = true;
    this.rewriting ??= this.rewriteAll().finally(() => (this.rewriting = undefined));
    return this.rewriting;
  }

  private async rewriteAll(): Promise<void> {
    try {
      await this.heartbeat();
      await this.clear('0');
      this.stale = false;
      this.dirty.clear();
      const topics = [...this.host.localTopics()];
      for (let i = 0; i < topics.length; i += CHUNK) await this.write(topics.slice(i, i + CHUNK));
    } catch (error) {
      this.stale = true;
      this.onError('presence', error);
    }
  }

  private flush(): void {
    this.flushQueued = false;
    if (this.dirty.size === 0) return;
    const topics = [...this.dirty];
    this.dirty.clear();
    if (this.stale || this.client.status !== 'ready') {
      this.stale = true;
      return;
    }
    this.write(topics).catch((error: unknown) => {
      this.stale = true;
      this.onError('presence', error);
    });
  }

  private write(topics: readonly string[]): Promise<unknown> {
    if (this.keys.cluster) return this.writeApart(topics);
    const keys = [this.keys.instanceTopics(this.host.instanceId)];
    const args: (string | number)[] = [this.host.instanceId, this.ttlMs * 3];
    for (const topic of topics) {
      keys.push(this.keys.topicPresence(topic));
      args.push(topic, this.host.localTopicConnections(topic));
    }
    return WRITE_TOPIC_PRESENCE.run(this.client, keys, args);
  }

  private heartbeat(): Promise<unknown> {
    const { keys, host } = this;
    if (keys.cluster) return this.heartbeatApart();
    return TOPIC_HEARTBEAT.run(
      this.client,
      [keys.topicInstances, keys.instanceTopics(host.instanceId)],
      [
        host.instanceId,
        this.ttlMs,
        this.ttlMs * 3,
        ...keys.instanceTopicsParts,
        ...keys.topicPresenceParts,
      ],
    );
  }

  private clear(leave: '0' | '1'): Promise<unknown> {
    const { keys, host } = this;
    if (keys.cluster) return this.clearApart(host.instanceId, leave === '1');
    return CLEAR_TOPIC_PRESENCE.run(
      this.client,
      [keys.topicInstances, keys.instanceTopics(host.instanceId)],
      [host.instanceId, leave, ...keys.topicPresenceParts],
    );
  }

  private async beat(): Promise<void> {
    if (this.client.status !== 'ready' || this.rewriting !== undefined) return;
    if (this.stale) {
      await this.rewrite();
      return;
    }
    try {
      if ((await this.heartbeat()) === 1) await this.rewrite();
    } catch (error) {
      this.onError('heartbeat', error);
    }
  }

  private async writeApart(topics: readonly string[]): Promise<void> {
    const { client, keys, host } = this;
    const set = keys.instanceTopics(host.instanceId);
    const writes: Promise<unknown>[] = [];
    for (const topic of topics) {
      const n = host.localTopicConnections(topic);
      const presence = keys.topicPresence(topic);
      if (n > 0) writes.push(client.hset(presence, host.instanceId, n), client.sadd(set, topic));
      else writes.push(client.hdel(presence, host.instanceId), client.srem(set, topic));
    }
    writes.push(client.pexpire(set, this.ttlMs * 3));
    await Promise.all(writes);
  }

  /** HEARTBEAT's steps one key at a time; 1 when this instance had been given up for dead. */
  private async heartbeatApart(): Promise<number> {
    const { client, keys, host } = this;
    const now = Date.now();
    const before = await client.zscore(keys.topicInstances, host.instanceId);
    await client.zadd(keys.topicInstances, now + this.ttlMs, host.instanceId);
    await client.pexpire(keys.instanceTopics(host.instanceId), this.ttlMs * 3);
    const dead = await client.zrangebyscore(keys.topicInstances, '-inf', now, 'LIMIT', 0, 8);
    for (const id of dead) await this.clearApart(id, true);
    return before !== null && Number(before) > now ? 0 : 1;
  }

  private async clearApart(instanceId: string, leave: boolean): Promise<void> {
    const { client, keys } = this;
    const set = keys.instanceTopics(instanceId);
    const topics = await client.smembers(set);
    await Promise.all(topics.map((topic) => client.hdel(keys.topicPresence(topic), instanceId)));
    await client.del(set);
    if (leave) await client.zrem(keys.topicInstances, instanceId);
  }

  /** Leaves topic presence (at shutdown), as far as Redis answers. */
  async leave(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    this.dirty.clear();
    if (this.client.status !== 'ready') return;
    await this.clear('1').catch((error: unknown) => this.onError('presence', error));
  }
}
