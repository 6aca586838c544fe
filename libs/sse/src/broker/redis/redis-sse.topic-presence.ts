import { RedisSsePresenceWriter } from './redis-sse.presence-writer.js';
import {
  CLEAR_TOPIC_PRESENCE,
  TOPIC_HEARTBEAT,
  WRITE_TOPIC_PRESENCE,
} from './redis-sse.topic-scripts.js';

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
export class RedisSseTopicPresence extends RedisSsePresenceWriter {
  /** The receiving connections of the topic here may have changed. */
  touch(topic: string): void {
    this.mark(topic);
  }

  protected override writeAll(): Promise<void> {
    return this.writeChunks([...this.host.localTopics()]);
  }

  protected override write(topics: readonly string[]): Promise<unknown> {
    if (this.keys.cluster) return this.writeApart(topics);
    const keys = [this.keys.instanceTopics(this.host.instanceId)];
    const args: (string | number)[] = [this.host.instanceId, this.setKeepMs];
    for (const topic of topics) {
      keys.push(this.keys.topicPresence(topic));
      args.push(topic, this.host.localTopicConnections(topic));
    }
    return WRITE_TOPIC_PRESENCE.run(this.client, keys, args);
  }

  protected override heartbeat(): Promise<unknown> {
    const { keys, host } = this;
    if (keys.cluster) return this.heartbeatApart();
    return TOPIC_HEARTBEAT.run(
      this.client,
      [keys.topicInstances, keys.instanceTopics(host.instanceId)],
      [
        host.instanceId,
        this.ttlMs,
        this.setKeepMs,
        ...keys.instanceTopicsParts,
        ...keys.topicPresenceParts,
      ],
    );
  }

  protected override clear(leave: boolean): Promise<unknown> {
    const { keys, host } = this;
    if (keys.cluster) return this.clearApart(host.instanceId, leave);
    return CLEAR_TOPIC_PRESENCE.run(
      this.client,
      [keys.topicInstances, keys.instanceTopics(host.instanceId)],
      [host.instanceId, leave ? '1' : '0', ...keys.topicPresenceParts],
    );
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
    writes.push(client.pexpire(set, this.setKeepMs));
    await Promise.all(writes);
  }

  /** HEARTBEAT's steps one key at a time; 1 when this instance had been given up for dead. */
  private async heartbeatApart(): Promise<number> {
    const { client, keys, host } = this;
    const now = Date.now();
    const before = await client.zscore(keys.topicInstances, host.instanceId);
    await client.zadd(keys.topicInstances, now + this.ttlMs, host.instanceId);
    await client.pexpire(keys.instanceTopics(host.instanceId), this.setKeepMs);
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
}
