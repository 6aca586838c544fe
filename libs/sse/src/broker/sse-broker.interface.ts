import type { LoggerService } from '@nestjs/common';

/**
 * A message on its way through a broker: validated, serialised once, addressed to some
 * users or to everyone. Brokers carry it as it is; the instance turns it into a frame once.
 */
export interface SseEnvelope {
  /** The event's id, as clients see it. */
  readonly id: string;
  /**
   * Ordering key: a uuid v7 taken when the message was accepted. Equal to `id` unless the
   * caller gave its own id. Replay orders and resumes by it.
   */
  readonly seq: string;
  /** The event's name; absent for a plain `message`. */
  readonly event?: string;
  /** The serialised data: a string as given, anything else as JSON text. */
  readonly data: string;
  /** Recipients' user ids; `null` for everyone (a broadcast). */
  readonly to: readonly string[] | null;
}

/**
 * Why `sse:gap` is sent: the resume point is older than what is kept (`expired`), is not
 * an id the history knows (`unknown`), history is off (`disabled`), the broker could not
 * be read (`unavailable`), or the resume point is from before this instance started and
 * its history did not survive the restart (`restarted`: the in-memory broker).
 */
export type SseGapReason = 'expired' | 'unknown' | 'disabled' | 'unavailable' | 'restarted';

/** The answer to a replay: what the client missed, and whether some of it is gone. */
export interface SseReplay {
  /** Kept events after the resume point, in order, each once. */
  readonly events: readonly SseEnvelope[];
  /** Set when events may have been lost before these. */
  readonly gap?: SseGapReason;
}

/** What a broker reports of a published message. */
export interface SsePublishReceipt {
  /** Connections reached, on every instance. */
  readonly delivered: number;
  /** Kept for replay. */
  readonly stored: boolean;
}

/** The instance's side of a broker: handed to it by `attach()`. */
export interface SseBrokerHost {
  /** This instance's id (uuid v7), unique across the cluster. */
  readonly instanceId: string;
  /** History settings in force (`size: 0`: keep nothing). */
  readonly history: { readonly size: number; readonly ttlMs: number };
  /** The library's logger. */
  readonly logger: LoggerService;
  /** Writes a message to this instance's connections; returns how many it reached. */
  deliver(message: SseEnvelope): number;
  /** Ends this instance's connections of a user with `sse:close`; returns how many. */
  disconnectLocal(userId: string): number;
  /** Open connections of a user on this instance. */
  localConnections(userId: string): number;
  /** Users with an open connection on this instance. */
  localUsers(): Iterable<string>;
  /**
   * Ends every stream of this instance with a short, spread `retry` (reason `error`), so
   * that clients reconnect at once and replay: for a broker that knows this instance missed
   * live events (its subscription was down). Returns how many streams it ended.
   */
  reconnectLocal(): number;
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
   */
  publish(message: SseEnvelope): Promise<SsePublishReceipt>;
  /** The user's kept events after `lastEventId` (their own and broadcasts), merged in order. */
  replay(userId: string, lastEventId: string): SseReplay | Promise<SseReplay>;
  /**
   * A connection of the user opened on this instance (presence). A broker that needs time
   * before this instance receives the user's live events from elsewhere (a subscription)
   * returns a promise of that moment; the hub then replays what was sent in between, so
   * that a message sent at the instant of connecting is not missed.
   */
  connected(userId: string, connectionId: string): void | Promise<void>;
  /** A connection of the user closed on this instance (presence). */
  disconnected(userId: string, connectionId: string): void;
  /** Ends every connection of the user on every instance; says whether any was open. */
  disconnect(userId: string): Promise<boolean>;
  /** Whether the user has a connection on any instance. */
  isOnline(userId: string): Promise<boolean>;
  /** Users with a connection on any instance. */
  onlineUsers(): Promise<string[]>;
  /** Called once when the module stops, after every local stream has ended. */
  detach(): Promise<void>;
}

/** Injection token of the broker in use: `@Inject(SseBroker)`. */
export const SseBroker = Symbol('SseBroker');
