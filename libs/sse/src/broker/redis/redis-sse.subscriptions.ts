import type { Redis } from 'ioredis';
import type { RedisSseKeys } from './redis-sse.keys.js';

// Channels per SUBSCRIBE when subscribing again after a reconnect.
const CHUNK = 1000;

/**
 * The broker's pub/sub connection: the broadcast channel always, and the channel of each
 * user with a connection on this instance, so that a message reaches only the instances
 * where its users are. After a reconnect it subscribes to all of them again.
 */
export class RedisSseSubscriptions {
  /** Users whose channel this instance wants. */
  private readonly users = new Set<string>();
  /** SUBSCRIBEs sent but not answered yet, by user. */
  private readonly pending = new Map<string, Promise<unknown>>();
  private ready: Promise<unknown> | undefined;

  constructor(
    private readonly client: Redis,
    private readonly keys: RedisSseKeys,
    private readonly onError: (what: string, error: unknown) => void,
  ) {}

  /** Subscribes to everything wanted; called on every `ready` of the connection. */
  resubscribe(): Promise<unknown> {
    this.pending.clear();
    const channels = [this.keys.broadcastChannel];
    for (const userId of this.users) channels.push(this.keys.userChannel(userId));
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
