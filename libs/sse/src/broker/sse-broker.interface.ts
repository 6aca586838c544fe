import type { LoggerService } from '@nestjs/common';
import type { SseReplay } from '../history/sse-replay.js';
import type { SseEnvelope } from '../wire/sse-envelope.js';

export type { SseGapReason, SseReplay } from '../history/sse-replay.js';
export type { SseEnvelope } from '../wire/sse-envelope.js';

/** What a broker reports of a published message. */
export interface SsePublishReceipt {
  /** Connections reached, on every instance. */
  readonly delivered: number;
  /** Kept for replay. */
  readonly stored: boolean;
}

/**
 * A user's membership of a topic, as replay needs it: the events of the topic the user
 * may replay are those after `from` and, once left, before `until`.
 */
export interface SseMembershipWindow {
  readonly topic: string;
  /** seq at which the user joined: events at or before it are not the user's. */
  readonly from: string;
  /** seq at which the user left, if it did: events after it are not the user's. */
  readonly until?: string;
}

/** The instance's side of a broker: handed to it by `attach()`. */
export interface SseBrokerHost {
  /** This instance's id (uuid v7), unique across the cluster. */
  readonly instanceId: string;
  /** History settings in force (`size: 0`: keep nothing). */
  readonly history: { readonly size: number; readonly ttlMs: number };
  /** The library's logger. */
  readonly logger: LoggerService;
  /** Limits a broker enforces: `join` rejects with `SseTooManyTopicsError` past them. */
  readonly limits: { readonly maxTopicsPerUser: number };
  /** Writes a message to this instance's connections; returns how many it reached. */
  deliver(message: SseEnvelope): number;
  /** Ends this instance's connections of a user with `sse:close`; returns how many. */
  disconnectLocal(userId: string): number;
  /** Open connections of a user on this instance. */
  localConnections(userId: string): number;
  /** Users with an open connection on this instance. */
  localUsers(): Iterable<string>;
  /**
   * The user (with connections here) is now a member of `topic`: its connections here get
   * the topic's events. Ignored for a user without connections here. The broker calls it
   * on `join`, and in `connected` for every membership when the user's first connection
   * here opens (before the promise `connected` returns resolves).
   */
  joinLocal(userId: string, topic: string): void;
  /**
   * Writes a topic event (`message.topic` set) that the user, who joined the topic, missed
   * to the user's connections here that do not receive the topic: those subscribed to it
   * had it live. For a broker catching up a join before it calls `joinLocal`. Returns how
   * many connections it reached.
   */
  deliverMissed(userId: string, message: SseEnvelope): number;
  /** The user left `topic`: its connections here stop getting the topic's events (unless subscribed). */
  leaveLocal(userId: string, topic: string): void;
  /** Connections here that receive the topic's events (members' and subscribers, each once). */
  localTopicConnections(topic: string): number;
  /** Topics with at least one receiving connection here. */
  localTopics(): Iterable<string>;
  /**
   * Ends every stream of this instance with a short, spread `retry` (reason `error`), so
   * that clients reconnect at once and replay: for a broker that knows this instance missed
   * live events (its subscription was down). Returns how many streams it ended.
   */
  reconnectLocal(): number;
  /**
   * Events up to `seq` for the user (`null`: for everyone) were lost before they reached
   * this instance, and no history holds them: each connection here that was open before
   * `seq` gets `sse:gap` (reason `expired`) at once, wherever it is in its stream, as a
   * replay could no longer report it. For a broker told of a loss by another instance.
   * Returns how many connections it told.
   */
  gapLocal(userId: string | null, seq: string): number;
}

/**
 * Where messages, history and presence live. The in-memory broker serves one process;
 * `RedisSseBroker` (from `nestjs-sse-hub/redis`) serves many. A custom broker implements
 * this interface and is passed as the `broker` option.
 *
 * Brokers never throw from `connected`/`disconnected`, and resolve rather than reject
 * where an answer can still be given from this instance alone.
 */
export interface SseBroker {
  /** Called once when the module starts. */
  attach(host: SseBrokerHost): Promise<void> | void;
  /**
   * Keeps the message for replay (when history is on) and delivers it to every connection
   * of its recipients, on every instance, including this one through `host.deliver`.
   * Messages published by one instance reach each connection in the order published.
   * A topic event (`message.topic` set) is kept as the topic's and reaches the connections
   * of its members and its subscribers; `delivered` counts each connection once.
   */
  publish(message: SseEnvelope): Promise<SsePublishReceipt>;
  /**
   * The user's kept events after `lastEventId`, merged in order, each once: their own, the
   * broadcasts, and the events of `topics` (the connection's subscriptions) and of the
   * user's memberships within their windows (`planReplay` with `topicReads`).
   */
  replay(
    userId: string,
    lastEventId: string,
    topics: readonly string[],
  ): SseReplay | Promise<SseReplay>;
  /**
   * A connection of the user opened on this instance (presence), subscribed to `topics`.
   * A broker that needs time before this instance receives the user's live events from
   * elsewhere (a subscription) returns a promise of that moment; the hub then replays what
   * was sent in between, so that a message sent at the instant of connecting is not
   * missed. On the user's first connection here it calls `host.joinLocal` for each of the
   * user's memberships before that moment.
   */
  connected(userId: string, connectionId: string, topics: readonly string[]): void | Promise<void>;
  /** A connection of the user, subscribed to `topics`, closed on this instance (presence). */
  disconnected(userId: string, connectionId: string, topics: readonly string[]): void;
  /**
   * Makes the user a member of `topic`, on every instance: its connections, open or opened
   * later, get the topic's events from now on. Resolves `true` when newly a member,
   * `false` when it already was. Rejects with `SseTooManyTopicsError` past
   * `host.limits.maxTopicsPerUser` memberships.
   */
  join(userId: string, topic: string): Promise<boolean>;
  /** Ends the user's membership of `topic`; resolves whether it was a member. */
  leave(userId: string, topic: string): Promise<boolean>;
  /** The user's memberships, sorted. */
  topicsOf(userId: string): Promise<string[]>;
  /** Members of the topic, online or not, sorted. */
  members(topic: string): Promise<string[]>;
  /** Ends every connection of the user on every instance; says whether any was open. */
  disconnect(userId: string): Promise<boolean>;
  /** Whether the user has a connection on any instance. */
  isOnline(userId: string): Promise<boolean>;
  /** Users with a connection on any instance. */
  onlineUsers(): Promise<string[]>;
  /** Called once when the module stops, after every local stream has ended. */
  detach(): Promise<void>;
  /**
   * Whether the broker's backend answers now (health checks, see docs/operations.md);
   * resolves, never rejects. A broker without one counts as up.
   */
  ping?(): Promise<boolean>;
}

/** Injection token of the broker in use: `@Inject(SseBroker)`. */
export const SseBroker = Symbol('SseBroker');
