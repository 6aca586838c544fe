import type { Redis } from 'ioredis';
import type { SseEnvelope } from '../sse-broker.interface.js';
import { encodeEntry, messageHead } from './redis-sse.codec.js';
import type { RedisSseKeys } from './redis-sse.keys.js';
import { surelyNotRun } from './redis-sse.readiness.js';
import { PUBLISH_TO_ALL, PUBLISH_TO_USERS } from './redis-sse.scripts.js';
import { PUBLISH_TO_TOPIC } from './redis-sse.topic-scripts.js';

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
 * message to a topic, whatever its members), all on the commands connection. The one place that decides where a message's channel is published.
 */
export class RedisSsePublisher {
  constructor(
    private readonly client: Redis,
    private readonly keys: RedisSseKeys,
    private readonly instanceId: string,
    private readonly history: { readonly size: number; readonly ttlMs: number },
    private readonly onError: (what: string, error: unknown) => void,
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
        return Number(
          await PUBLISH_TO_TOPIC.run(this.client, scriptKeys, [...head, keys.topicChannel(topic)]),
        );
      }
      if (message.to === null) {
        const scriptKeys = [keys.instances, keys.counts, keys.broadcastStream];
        scriptKeys.push(keys.broadcastDropped);
        return Number(
          await PUBLISH_TO_ALL.run(this.client, scriptKeys, [...head, keys.broadcastChannel]),
        );
      }
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

  /** A plain PUBLISH to every instance: needs no memory of Redis and works on a replica. */
  tellAll(payload: string): Promise<unknown> {
    return this.client.publish(this.keys.broadcastChannel, payload);
  }
}

/**
 * Entries a stream may hold past `size` before it is trimmed: trimming then happens once
 * every `slack` messages rather than at each. Reads trim to `size` first.
 */
function slackOf(size: number): number {
  return Math.max(1, Math.ceil(size / 8));
}
