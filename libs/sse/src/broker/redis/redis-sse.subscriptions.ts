import type { Redis } from 'ioredis';
import type { RedisSseKeys } from './redis-sse.keys.js';

// Channels per SUBSCRIBE when subscribing again after a reconnect.
const CHUNK = 1000;

/**
 * The broker's pub/sub connection: the broadcast channel always, the channel of each user
 * with a connection on this instance, and the channel of each topic with a receiving
 * connection here, so that a message reaches only the instances where its users or
 * topic's connections are. After a reconnect it subscribes to all of them again.
 */
export class RedisSseSubscriptions {
  /** Users whose channel this instance wants. */
  private readonly users = new Set<string>();
  /** SUBSCRIBEs sent but not answered yet, by user. */
  private readonly pending = new Map<string, Promise<unknown>>();
  private ready: Promise<unknown> | undefined;
  /** Topics whose channel this instance wants, and their SUBSCRIBEs not answered yet. */
  private readonly topics = new Set<string>();
  private readonly pendingTopics = new Map<string, Promise<unknown>>();

  constructor(
    private readonly client: Redis,
    private readonly keys: RedisSseKeys,
    private readonly onError: (what: string, error: unknown) => void,
  ) {}

  /** Subscribes to everything wanted; called on every `ready` of the connection. */
  resubscribe(): Promise<unknown> {
    this.pending.clear();
    this.pendingTopics.clear();
    const channels = [this.keys.broadcastChannel];
    for (const userId of this.users) channels.push(this.keys.userChannel(userId));
    for (const topic of this.topics) channels.push(this.keys.topicChannel(topic));
    const sent: Promise<unknown>[] = [];
    for (let i = 0; i < channels.length; i += CHUNK) {
      sent.push(this.client.subscribe(...channels.slice(i, i + CHUNK)));
    }
    this.ready = Promise.all(sent).catch((error: unknown) => this.onError('subscribe', error));
    return this.ready;
  }

  /**
   * This instance has a connection of the user: listen to the user's channel. Returns the
   * subscription under way, if this call started one.
   */
  want(userId: string): Promise<unknown> | undefined {
    if (this.users.has(userId)) return undefined;
    this.users.add(userId);
    if (this.client.status !== 'ready') return undefined;
    const subscribed = this.client
      .subscribe(this.keys.userChannel(userId))
      .catch((error: unknown) => this.onError('subscribe', error))
      .finally(() => {
        if (this.pending.get(userId) === subscribed) this.pending.delete(userId);
      });
    this.pending.set(userId, subscribed);
    return subscribed;
  }

  /** The user's last connection here closed. */
  drop(userId: string): void {
    if (!this.users.delete(userId)) return;
    this.pending.delete(userId);
    if (this.client.status !== 'ready') return;
    this.client
      .unsubscribe(this.keys.userChannel(userId))
      .catch((error: unknown) => this.onError('unsubscribe', error));
  }

  /**
   * This instance has a receiving connection in the topic: listen to its channel. Returns
   * the subscription under way, if this call started one.
   */
  wantTopic(topic: string): Promise<unknown> | undefined {
    if (this.topics.has(topic)) return undefined;
    this.topics.add(topic);
    if (this.client.status !== 'ready') return undefined;
    const subscribed = this.client
      .subscribe(this.keys.topicChannel(topic))
      .catch((error: unknown) => this.onError('subscribe', error))
      .finally(() => {
        if (this.pendingTopics.get(topic) === subscribed) this.pendingTopics.delete(topic);
      });
    this.pendingTopics.set(topic, subscribed);
    return subscribed;
  }

  /** The topic's last receiving connection here went. */
  dropTopic(topic: string): void {
    if (!this.topics.delete(topic)) return;
    this.pendingTopics.delete(topic);
    if (this.client.status !== 'ready') return;
    this.client
      .unsubscribe(this.keys.topicChannel(topic))
      .catch((error: unknown) => this.onError('unsubscribe', error));
  }

  /** Whether the topic's channel is wanted here. */
  hasTopic(topic: string): boolean {
    return this.topics.has(topic);
  }

  /** Resolves once the topics' channels (those wanted) are subscribed, as far as known. */
  async topicsSubscribed(topics: Iterable<string>): Promise<void> {
    await this.ready;
    const waits: Promise<unknown>[] = [];
    for (const topic of topics) {
      const pending = this.pendingTopics.get(topic);
      if (pending !== undefined) waits.push(pending);
    }
    await Promise.all(waits);
  }

  /** Resolves once the user's channel (if wanted) is subscribed, as far as can be known. */
  async subscribed(userId: string): Promise<void> {
    await this.ready;
    await this.pending.get(userId);
  }

  /**
   * Resolves once every pub/sub message Redis sent before now has been handled: a PING on
   * this connection is answered after them. Resolves at once when the connection is down.
   */
  async caughtUp(): Promise<void> {
    if (this.client.status !== 'ready') return;
    await this.client.ping().catch(() => undefined);
  }

  get size(): number {
    return this.users.size;
  }
}
