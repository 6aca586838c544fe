import { isCluster, type RedisSseClient } from './redis-sse.connection.js';
import type { RedisSseKeys } from './redis-sse.keys.js';

// Channels per SUBSCRIBE when subscribing again after a reconnect.
const CHUNK = 1000;

/**
 * The broker's pub/sub connection: the broadcast channel always, the channel of each user
 * with a connection on this instance, and the channel of each topic with a receiving
 * connection here, so that a message reaches only the instances where its users or
 * topic's connections are. After a reconnect it subscribes to all of them again.
 *
 * On a Redis Cluster the channels are sharded (`SSUBSCRIBE`, one channel a command, on the
 * master of the channel's slot); ioredis keeps them and subscribes again on the new master
 * after a failover, so they are sent once each here.
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
  private readonly sharded: boolean;
  /** On a cluster: channels sent to ioredis, which subscribes them again by itself. */
  private readonly sent = new Set<string>();

  constructor(
    private readonly client: RedisSseClient,
    private readonly keys: RedisSseKeys,
    private readonly onError: (what: string, error: unknown) => void,
  ) {
    this.sharded = isCluster(client);
  }

  /** Subscribes to everything wanted; called on every `ready` of the connection. */
  resubscribe(): Promise<unknown> {
    this.pending.clear();
    this.pendingTopics.clear();
    const channels = [this.keys.broadcastChannel];
    for (const userId of this.users) channels.push(this.keys.userChannel(userId));
    for (const topic of this.topics) channels.push(this.keys.topicChannel(topic));
    if (this.sharded) {
      const fresh = channels.filter((channel) => !this.sent.has(channel));
      this.ready = Promise.all(fresh.map((channel) => this.subscribe(channel))).catch(
        (error: unknown) => this.onError('subscribe', error),
      );
      return this.ready;
    }
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
    const subscribed = this.subscribe(this.keys.userChannel(userId))
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
    const channel = this.keys.userChannel(userId);
    this.sent.delete(channel);
    (this.sharded ? this.client.sunsubscribe(channel) : this.client.unsubscribe(channel)).catch(
      (error: unknown) => this.onError('unsubscribe', error),
    );
  }

  private subscribe(channel: string): Promise<unknown> {
    if (!this.sharded) return this.client.subscribe(channel);
    this.sent.add(channel);
    return this.client.ssubscribe(channel);
  }

  /**
   * This instance has a receiving connection in the topic: listen to its channel. Returns
   * the subscription under way, if this call started one.
   */
  wantTopic(topic: string): Promise<unknown> | undefined {
    if (this.topics.has(topic)) return undefined;
    this.topics.add(topic);
    if (this.client.status !== 'ready') return undefined;
    const subscribed = this.subscribe(this.keys.topicChannel(topic))
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
    const channel = this.keys.topicChannel(topic);
    this.sent.delete(channel);
    (this.sharded ? this.client.sunsubscribe(channel) : this.client.unsubscribe(channel)).catch(
      (error: unknown) => this.onError('unsubscribe', error),
    );
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
    if (this.sharded) {
      await Promise.all(
        shardedSubscribers(this.client).map((subscriber) =>
          subscriber.ping().catch(() => undefined),
        ),
      );
      return;
    }
    await this.client.ping().catch(() => undefined);
  }

  get size(): number {
    return this.users.size;
  }
}

/**
 * The connections of a cluster's sharded subscribers that are up: a PING on each is
 * answered after the messages it received before. ioredis does not expose them in its
 * types; without them (another ioredis version), there is nothing to wait for.
 */
function shardedSubscribers(client: RedisSseClient): { ping(): Promise<unknown> }[] {
  return subscriberConnections(client).filter((instance) => instance.status === 'ready');
}

type SubscriberConnection = { status: string; ping(): Promise<unknown> };

function subscriberConnections(client: RedisSseClient): SubscriberConnection[] {
  type Subscriber = { getInstance?(): SubscriberConnection | null };
  const group = (client as unknown as { shardedSubscribers?: { shardedSubscribers?: unknown } })
    .shardedSubscribers?.shardedSubscribers;
  if (!(group instanceof Map)) return [];
  const all: SubscriberConnection[] = [];
  for (const subscriber of group.values() as Iterable<Subscriber>) {
    const instance = subscriber.getInstance?.();
    if (instance !== null && instance !== undefined) all.push(instance);
  }
  return all;
}

/**
 * Whether every sharded subscriber of a cluster is connected, as far as can be known: a
 * failover is over for pub/sub only once they all are.
 */
export function everySubscriberUp(client: RedisSseClient): boolean {
  // `wait`: never started, as it holds no channel.
  return subscriberConnections(client).every((instance) =>
    ['ready', 'wait'].includes(instance.status),
  );
}
