import { Inject, Injectable, type MessageEvent } from '@nestjs/common';
import type { Observable } from 'rxjs';
import { SseBroker } from './broker/sse-broker.interface.js';
import { SseCounters, type SseMessageKind } from './hub/sse-counters.js';
import { SseHub } from './hub/sse-hub.js';
import type {
  SseConnectionEvent,
  SseSendOptions,
  SseSendResult,
  SseStats,
  SseStreamOptions,
} from './interfaces/sse-service.interface.js';
import type { SseAnyEvents, SseEventArgs } from './interfaces/sse-typed-events.interface.js';
import { SseInvalidUserIdError } from './sse.errors.js';
import { SSE_RESOLVED_OPTIONS } from './sse.internal-constants.js';
import type { SseResolvedOptions } from './sse.options.js';
import { openObservableStream } from './transport/observable-sse.transport.js';
import { createEnvelope } from './wire/sse-envelope.factory.js';
import { checkSubscriptions, checkTopic, checkUserId } from './wire/sse-validate.js';

/**
 * Pushes events to users, from anywhere in the application. Every open connection (tab)
 * of a user gets each event once, in order; on several instances behind a broker, every
 * instance's connections do.
 *
 * @example
 * ```ts
 * constructor(private readonly sse: SseService) {}
 *
 * await this.sse.send('alice', { text: 'Hello' }, { event: 'chat' });
 * ```
 *
 * @typeParam Events an event map (`{ shipped: { orderId: string } }`) that the data of
 *   each event is checked against at compile time: inject `SseService<ShopEvents>`.
 *   Without one, any data and event name are accepted.
 */
@Injectable()
export class SseService<Events extends object = SseAnyEvents> {
  /** Connects and disconnects of this instance's streams, each with its reason. */
  readonly events$: Observable<SseConnectionEvent>;

  constructor(
    @Inject(SseHub) private readonly hub: SseHub,
    @Inject(SseBroker) private readonly broker: SseBroker,
    @Inject(SseCounters) private readonly counters: SseCounters,
    @Inject(SSE_RESOLVED_OPTIONS) private readonly options: SseResolvedOptions,
  ) {
    this.events$ = hub.lifecycle.events$.asObservable();
  }

  /**
   * The user's stream, for your own `@Sse()` handler: the first event (an id, `retry`,
   * empty data), what the client missed since `lastEventId`, then live events and
   * heartbeats, until the `timeout` ends it. Unsubscribing closes it.
   *
   * @example
   * ```ts
   * @Sse('events')
   * events(@Req() req: Request): Observable<MessageEvent> {
   *   return this.sse.stream(req.user.id, { lastEventId: req.headers['last-event-id'] });
   * }
   * ```
   * @throws SseInvalidUserIdError when `userId` is not a valid id.
   * @throws SseInvalidTopicError when a topic of `topics` is not a valid name, and
   *   SseTooManyTopicsError when there are more than `maxTopicsPerConnection`. Whether the
   *   user may subscribe to them is your handler's decision (`authorizeTopics` is the
   *   ready route's).
   */
  stream(userId: string, options: SseStreamOptions = {}): Observable<MessageEvent> {
    const topics = checkSubscriptions(options.topics, this.options.maxTopicsPerConnection);
    return openObservableStream(
      this.hub,
      checkUserId(userId),
      options.lastEventId,
      undefined,
      undefined,
      topics,
    );
  }

  /**
   * Sends an event to every connection of one user, and keeps it for replay.
   *
   * @param args `data`, a string (sent as it is, several lines allowed) or any JSON value,
   *   then the options; with an event map, `options.event` says what `data` must be.
   * @returns the event's id, the connections it reached (`0`: offline) and whether it was
   *   kept for replay.
   * @throws SseError (rejects) when the id, the event name or the data is refused.
   */
  send(userId: string, ...args: SseEventArgs<Events>): Promise<SseSendResult>;
  send(userId: string, data: unknown, options: SseSendOptions = {}): Promise<SseSendResult> {
    // Not `async`: its promise would wrap the broker's, one more promise and turn per send.
    try {
      return this.dispatch([checkUserId(userId)], undefined, data, options, 'user');
    } catch (error) {
      return Promise.reject(error as Error);
    }
  }

  /** Sends one event (one id) to several users; `delivered` counts all their connections. */
  sendToUsers(userIds: readonly string[], ...args: SseEventArgs<Events>): Promise<SseSendResult>;
  async sendToUsers(
    userIds: readonly string[],
    data: unknown,
    options: SseSendOptions = {},
  ): Promise<SseSendResult> {
    if (!Array.isArray(userIds)) throw new SseInvalidUserIdError('userIds must be an array');
    return this.dispatch([...new Set(userIds.map(checkUserId))], undefined, data, options, 'users');
  }

  /** Sends an event to every connected user; it is kept for replay as a broadcast. */
  broadcast(...args: SseEventArgs<Events>): Promise<SseSendResult>;
  async broadcast(data: unknown, options: SseSendOptions = {}): Promise<SseSendResult> {
    return this.dispatch(null, undefined, data, options, 'broadcast');
  }

  /**
   * Sends an event to a topic: every connection of its members and every connection that
   * subscribed to it, on every instance, each once. It is kept for replay as the topic's.
   *
   * @returns the event's id, the connections it reached (each once, even one that is both
   *   a member's and subscribed) and whether it was kept for replay.
   * @throws SseInvalidTopicError (rejects) on a bad topic name, SseError on a refused id,
   *   event name or data.
   */
  publish(topic: string, ...args: SseEventArgs<Events>): Promise<SseSendResult>;
  async publish(
    topic: string,
    data: unknown,
    options: SseSendOptions = {},
  ): Promise<SseSendResult> {
    return this.dispatch(null, checkTopic(topic), data, options, 'topic');
  }

  /**
   * Makes the user a member of the topic, on every instance: its connections, open now or
   * opened later, get the topic's events from now on, without reconnecting.
   * @returns `true` when newly a member, `false` when it already was.
   * @throws SseTooManyTopicsError (rejects) past `maxTopicsPerUser` memberships;
   *   SseInvalidTopicError, SseInvalidUserIdError on bad input.
   */
  async join(userId: string, topic: string): Promise<boolean> {
    return this.broker.join(checkUserId(userId), checkTopic(topic));
  }

  /**
   * Ends the user's membership of the topic: its connections stop getting the topic's
   * events (those that subscribed to it keep them).
   * @returns whether it was a member.
   */
  async leave(userId: string, topic: string): Promise<boolean> {
    return this.broker.leave(checkUserId(userId), checkTopic(topic));
  }

  /** The topics the user is a member of, sorted. */
  async topicsOf(userId: string): Promise<string[]> {
    return this.broker.topicsOf(checkUserId(userId));
  }

  /** The members of the topic, online or not, sorted. */
  async members(topic: string): Promise<string[]> {
    return this.broker.members(checkTopic(topic));
  }

  /**
   * Ends every connection of the user, on every instance, with `sse:close`, so that its
   * clients stop reconnecting.
   * @returns whether any connection was open.
   */
  disconnect(userId: string): Promise<boolean> {
    return this.broker.disconnect(checkUserId(userId));
  }

  /** Whether the user has an open connection, on any instance. */
  isOnline(userId: string): Promise<boolean> {
    return this.broker.isOnline(checkUserId(userId));
  }

  /** Users with an open connection, on any instance. */
  onlineUsers(): Promise<string[]> {
    return this.broker.onlineUsers();
  }

  /** Counts of this instance. */
  stats(): SseStats {
    return this.hub.stats();
  }

  private dispatch(
    to: readonly string[] | null,
    topic: string | undefined,
    data: unknown,
    options: SseSendOptions,
    kind: SseMessageKind,
  ): Promise<SseSendResult> {
    const envelope = createEnvelope(to, topic, data, options, this.options.maxMessageBytes);
    if (to !== null && to.length === 0) {
      return Promise.resolve({ id: envelope.id, delivered: 0, stored: false });
    }
    this.counters.messageSent(kind);
    const timed = this.counters.publishDuration;
    const started = timed === undefined ? 0 : performance.now();
    return this.broker.publish(envelope).then(({ delivered, stored }) => {
      timed?.(performance.now() - started);
      return { id: envelope.id, delivered, stored };
    });
  }
}
