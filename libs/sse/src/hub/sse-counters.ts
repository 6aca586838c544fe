import { Injectable } from '@nestjs/common';
import type { SseGapReason } from '../history/sse-replay.js';
import type { SseDisconnectReason } from '../interfaces/sse-service.interface.js';

/** The counts of `SseStats` that add up over time. */
export interface SseCounts {
  readonly messagesSent: number;
  readonly eventsDelivered: number;
  readonly slowDisconnects: number;
}

/** What a message was addressed to: the `kind` attribute of `sse.messages`. */
export type SseMessageKind = 'user' | 'users' | 'broadcast' | 'topic';

/** Every count, by attribute where the metric has one: what `sse.*` metrics observe. */
export interface SseMetricCounts {
  readonly messages: Readonly<Record<SseMessageKind, number>>;
  readonly deliveries: number;
  readonly replayed: number;
  readonly disconnects: ReadonlyMap<string, number>;
  readonly gaps: ReadonlyMap<string, number>;
}

// Known reasons start at 0, so that a dashboard's rate() sees the first of each.
const DISCONNECT_REASONS: readonly SseDisconnectReason[] = [
  'client',
  'timeout',
  'replaced',
  'disconnected',
  'slow',
  'shutdown',
  'error',
];
const GAP_REASONS: readonly SseGapReason[] = [
  'expired',
  'unknown',
  'disabled',
  'unavailable',
  'restarted',
];

function bump(counts: Map<string, number>, key: string): void {
  counts.set(key, (counts.get(key) ?? 0) + 1);
}

/**
 * What this instance has sent and delivered: the one owner of the counts that `stats()`
 * reports and that metrics observe, told by the service (messages accepted) and the hub
 * (deliveries, replays, gaps, disconnects). Counting is adding to a number, once per
 * message, not once per connection: metrics read the totals when they are collected.
 */
@Injectable()
export class SseCounters {
  private readonly messages: Record<SseMessageKind, number> = {
    user: 0,
    users: 0,
    broadcast: 0,
    topic: 0,
  };
  private deliveries = 0;
  private replays = 0;
  private readonly disconnects = new Map<string, number>(DISCONNECT_REASONS.map((r) => [r, 0]));
  private readonly gaps = new Map<string, number>(GAP_REASONS.map((r) => [r, 0]));

  /**
   * Told how long each publish took (ms), when something records it (metrics on); unset,
   * the service does not read the clock at all.
   */
  publishDuration: ((ms: number) => void) | undefined = undefined;

  /** `send` (`user`), `sendToUsers` (`users`), `broadcast` or `publish` (`topic`) accepted a message. */
  messageSent(kind: SseMessageKind = 'user'): void {
    this.messages[kind]++;
  }

  /** A message was written to `connections` connections here. */
  delivered(connections: number): void {
    this.deliveries += connections;
  }

  /** `events` kept events were replayed to a connection. */
  replayed(events: number): void {
    this.replays += events;
  }

  /** A connection ended, for `reason`. */
  disconnected(reason: string): void {
    bump(this.disconnects, reason);
  }

  /** A connection was told `sse:gap`, for `reason`. */
  gap(reason: string): void {
    bump(this.gaps, reason);
  }

  /** The counts so far. */
  counts(): SseCounts {
    const messages = this.messages;
    return {
      messagesSent: messages.user + messages.users + messages.broadcast + messages.topic,
      eventsDelivered: this.deliveries,
      slowDisconnects: this.disconnects.get('slow') ?? 0,
    };
  }

  /** Every count, for metrics. */
  metricCounts(): SseMetricCounts {
    return {
      messages: this.messages,
      deliveries: this.deliveries,
      replayed: this.replays,
      disconnects: this.disconnects,
      gaps: this.gaps,
    };
  }
}
