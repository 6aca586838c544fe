/** Options of `SseService.send()`, `sendToUsers()`, `broadcast()` and `publish()`. */
export interface SseSendOptions {
  /**
   * The event's id. Generated (uuid v7, time-ordered) when left out. A caller's own id is
   * a valid resume point, and should be unique.
   */
  id?: string;
  /** The event's name (`event:` field); `message` when left out. */
  event?: string;
}

/** What `send`, `sendToUsers`, `broadcast` and `publish` report. */
export interface SseSendResult {
  /** The event's id, as clients see it. */
  id: string;
  /** Connections the event reached, on every instance; `0`: nobody online. */
  delivered: number;
  /** The event was kept for `Last-Event-ID` replay. */
  stored: boolean;
}

/** Options of `SseService.stream()`. */
export interface SseStreamOptions {
  /** The `Last-Event-ID` request header, to replay what the client missed. */
  lastEventId?: string | null;
  /**
   * Topics the stream subscribes to, for its life (subscriptions): checked and
   * at most `maxTopicsPerConnection`. Authorise them before you pass them.
   */
  topics?: readonly string[];
}

/** Why a connection ended. */
export type SseDisconnectReason =
  /** The client went away. */
  | 'client'
  /** The connection lived `timeout` milliseconds; the client reconnects. */
  | 'timeout'
  /** A newer connection of the same user took its place (`maxConnectionsPerUser`). */
  | 'replaced'
  /** `SseService.disconnect()` ended it. */
  | 'disconnected'
  /** The client did not read and its queue passed `maxPendingBytes`. */
  | 'slow'
  /** The application is shutting down. */
  | 'shutdown'
  /**
   * A fault: the broker missed live events for this instance (its Redis subscription was
   * down). The stream ends with a short `retry`; the client reconnects and replays.
   */
  | 'error';

/** An entry of `SseService.events$`. */
export type SseConnectionEvent =
  | {
      readonly type: 'connect';
      readonly userId: string;
      /** Unique per connection, across instances. */
      readonly connectionId: string;
      /** Milliseconds since the epoch. */
      readonly at: number;
    }
  | {
      readonly type: 'disconnect';
      readonly userId: string;
      readonly connectionId: string;
      readonly reason: SseDisconnectReason;
      readonly at: number;
    };

/** Counts of this instance, from `SseService.stats()`. */
export interface SseStats {
  /** This instance's id (uuid v7). */
  readonly instanceId: string;
  /** Users with at least one open connection here. */
  readonly users: number;
  /** Open connections here. */
  readonly connections: number;
  /** Events accepted by `send`, `sendToUsers`, `broadcast` and `publish` here. */
  readonly messagesSent: number;
  /** Events written to connections here (one per connection reached). */
  readonly eventsDelivered: number;
  /** Connections dropped here because they did not read (reason `slow`). */
  readonly slowDisconnects: number;
}
