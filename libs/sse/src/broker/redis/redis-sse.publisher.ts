import type { SseEnvelope } from '../sse-broker.interface.js';
import type { RedisSseClusterPresence } from './redis-sse.cluster-presence.js';
import { CLUSTER_PUBLISH_TO_ALL, CLUSTER_PUBLISH_TO_USER } from './redis-sse.cluster-scripts.js';
import { encodeEntry, messageHead } from '../sse-broker.codec.js';
import type { RedisSseClient } from './redis-sse.connection.js';
import type { RedisSseKeys } from './redis-sse.keys.js';
import { surelyNotRun } from './redis-sse.readiness.js';
import { PUBLISH_TO_ALL, PUBLISH_TO_USERS } from './redis-sse.scripts.js';
import { PUBLISH_TO_TOPIC, SHARDED_TOPIC_SCRIPTS } from './redis-sse.topic-scripts.js';

// Recipients per publish script, so that a message to very many users does not hold
// Redis for long; each user's events still go out in order.
const USERS_PER_SCRIPT = 500;

/**
 * What became of a message sent to Redis: the connections it reached on other instances,
 * or `lost` (Redis surely did not take it) or `unsure` (the command timed out or its
 * connection closed: Redis may still have taken it).
 */
export type RedisSsePublishOutcome = number | 'lost' | 'unsure';

/**
 * Sends messages to the other instances: keeps each (history on), counts its recipients'
 * connections elsewhere and publishes it, in one script per chunk of recipients (one per
 * message to a topic, whatever its members), all on the commands connection. The one place
 * that decides where a message's channel is published.
 *
 * On a Redis Cluster (`cluster` given), one script per recipient (or topic), run on the
 * master of its slot and published there by `SPUBLISH`: a message goes to that one shard,
 * and reaches only the instances subscribed to its channel there.
 */
export class RedisSsePublisher {
  constructor(
    private readonly client: RedisSseClient,
    private readonly keys: RedisSseKeys,
    private readonly instanceId: string,
    private readonly history: { readonly size: number; readonly ttlMs: number },
    private readonly onError: (what: string, error: unknown) => void,
    private readonly cluster?: RedisSseClusterPresence,
  ) {}

  async publish(message: SseEnvelope): Promise<RedisSsePublishOutcome> {
    if (this.client.status !== 'ready') return 'lost';
    const { keys, instanceId } = this;
    const { size, ttlMs } = this.history;
    const head = [instanceId, messageHead(instanceId), encodeEntry(message), size, slackOf(size)];
    head.push(2 * ttlMs);
    try {
      if (message.topic !== undefined) {
        const { topic } = message;
        const scriptKeys = [keys.topicStream(topic), keys.topicDropped(topic)];
        scriptKeys.push(keys.topicPresence(topic));
        const script =
          this.cluster === undefined ? PUBLISH_TO_TOPIC : SHARDED_TOPIC_SCRIPTS.publish;
        return Number(
          await script.run(this.client, scriptKeys, [...head, keys.topicChannel(topic)]),
        );
      }
      if (message.to === null) {
        const scriptKeys = [keys.instances, keys.counts, keys.broadcastStream];
        scriptKeys.push(keys.broadcastDropped);
        const script = this.cluster === undefined ? PUBLISH_TO_ALL : CLUSTER_PUBLISH_TO_ALL;
        return Number(await script.run(this.client, scriptKeys, [...head, keys.broadcastChannel]));
      }
      if (this.cluster !== undefined) return await this.publishSharded(message.to, head);
      // All parts at once: nothing this instance sends next can come between them.
      const parts: Promise<unknown>[] = [];
      for (let i = 0; i < message.to.length; i += USERS_PER_SCRIPT) {
        const scriptKeys = [keys.instances];
        const args = [...head];
        for (const userId of message.to.slice(i, i + USERS_PER_SCRIPT)) {
          scriptKeys.push(keys.userStream(userId), keys.userDropped(userId));
          scriptKeys.push(keys.userPresence(userId));
          args.push(keys.userChannel(userId));
        }
        parts.push(PUBLISH_TO_USERS.run(this.client, scriptKeys, args));
      }
      return (await Promise.all(parts)).reduce<number>((sum, n) => sum + Number(n), 0);
    } catch (error) {
      this.onError('publish', error);
      return surelyNotRun(error) ? 'lost' : 'unsure';
    }
  }

  /** One script per recipient, each on its slot's master; all sent at once, in order. */
  private async publishSharded(
    to: readonly string[],
    head: readonly (string | number)[],
  ): Promise<number> {
    const cluster = this.cluster!;
    const live = cluster.liveInstances();
    const { keys } = this;
    const parts = to.map((userId) =>
      CLUSTER_PUBLISH_TO_USER.run(
        this.client,
        [keys.userStream(userId), keys.userDropped(userId), keys.userPresence(userId)],
        [...head, keys.userChannel(userId), ...live],
      ).then((reply) => cluster.settle(userId, reply)),
    );
    return (await Promise.all(parts)).reduce((sum, n) => sum + n, 0);
  }

  /**
   * A plain PUBLISH (`SPUBLISH` on a cluster) to every instance: needs no memory of Redis
   * and works on a replica.
   */
  tellAll(payload: string): Promise<unknown> {
    return this.cluster === undefined
      ? this.client.publish(this.keys.broadcastChannel, payload)
      : this.client.spublish(this.keys.broadcastChannel, payload);
  }

  /**
   * `SPUBLISH` on the user's channel (a Redis Cluster): on the shard of the user's messages,
   * so that it reaches each instance in order with them.
   */
  tellUser(userId: string, payload: string): Promise<unknown> {
    return this.client.spublish(this.keys.userChannel(userId), payload);
  }
}

/**
 * Entries a stream may hold past `size` before it is trimmed: trimming then happens once
 * every `slack` messages rather than at each. Reads trim to `size` first.
 */
function slackOf(size: number): number {
  return Math.max(1, Math.ceil(size / 8));
}
