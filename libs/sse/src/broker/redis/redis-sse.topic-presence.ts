import type { Redis } from 'ioredis';
import type { SseBrokerHost } from '../sse-broker.interface.js';
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
 */
export class RedisSseTopicPresence {
  private readonly dirty = new Set<string>();
  private flushQueued = false;
  private stale = true;
  private timer: NodeJS.Timeout | undefined;
  private rewriting: Promise<void> | undefined;

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

  /** Leaves topic presence (at shutdown), as far as Redis answers. */
  async leave(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    this.dirty.clear();
    if (this.client.status !== 'ready') return;
    await this.clear('1').catch((error: unknown) => this.onError('presence', error));
  }
}
