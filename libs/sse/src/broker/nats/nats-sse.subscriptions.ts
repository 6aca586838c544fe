import type { Msg, NatsConnection, Subscription } from '@nats-io/nats-core';

/** What the subscriptions hand on: a user's message (`null`: a broadcast), or a disconnect. */
export interface NatsSseReceiver {
  message(userId: string | null, payload: string): void;
  disconnect(subject: string): void;
}

/**
 * The instance's core NATS subscriptions: broadcasts and disconnect signals always, and
 * the subject of each user with a connection here, so that a message travels only to the
 * instances where its users are. The client subscribes again by itself after a reconnect.
 */
export class NatsSseSubscriptions {
  private readonly users = new Map<string, Subscription>();
  private readonly fixed: Subscription[] = [];
  /** Flushes under way, by user: the moment the server has the subscription. */
  private readonly pending = new Map<string, Promise<void>>();

  constructor(
    private readonly nc: NatsConnection,
    private readonly subjectOf: (userId: string) => string,
    private readonly receiver: NatsSseReceiver,
    private readonly onError: (what: string, error: unknown) => void,
  ) {}

  /** Subscribes to broadcasts and disconnect signals. */
  start(broadcast: string, disconnects: string): Promise<void> {
    this.fixed.push(
      this.nc.subscribe(broadcast, {
        callback: (error, msg) => this.take(error, msg, null),
      }),
      this.nc.subscribe(disconnects, {
        callback: (error, msg) =>
          error === null ? this.receiver.disconnect(msg.subject) : undefined,
      }),
    );
    return this.nc.flush();
  }

  /**
   * This instance has a connection of the user: listen to the user's subject. Returns the
   * moment the server has the subscription, if this call made it.
   */
  want(userId: string, online: boolean): Promise<void> | undefined {
    if (this.users.has(userId)) return undefined;
    const subscription = this.nc.subscribe(this.subjectOf(userId), {
      callback: (error, msg) => this.take(error, msg, userId),
    });
    this.users.set(userId, subscription);
    if (!online) return undefined;
    const flushed = this.nc
      .flush()
      .catch((error: unknown) => this.onError('subscribe', error))
      .finally(() => {
        if (this.pending.get(userId) === flushed) this.pending.delete(userId);
      });
    this.pending.set(userId, flushed);
    return flushed;
  }

  /** The user's last connection here closed. */
  drop(userId: string): void {
    const subscription = this.users.get(userId);
    if (subscription === undefined) return;
    this.users.delete(userId);
    this.pending.delete(userId);
    subscription.unsubscribe();
  }

  /** Resolves once the user's subscription (if wanted) is known to the server. */
  async subscribed(userId: string): Promise<void> {
    await this.pending.get(userId);
  }

  private take(error: Error | null, msg: Msg, userId: string | null): void {
    if (error !== null) {
      this.onError('subscription', error);
      return;
    }
    this.receiver.message(userId, msg.string());
  }

  get size(): number {
    return this.users.size;
  }
}
