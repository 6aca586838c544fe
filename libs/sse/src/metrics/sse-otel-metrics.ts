import type { Meter, Observable } from '@opentelemetry/api';
import type { SseStats } from '../interfaces/sse-service.interface.js';
import type { SseCounters, SseMessageKind } from '../hub/sse-counters.js';

/** The meter's name: what a metrics pipeline can filter this library's instruments by. */
export const SSE_METER_NAME = 'nestjs-sse-hub';

const KINDS: readonly SseMessageKind[] = ['user', 'users', 'broadcast', 'topic'];

// Publishing is mostly sub-millisecond in one process, tens of ms through a remote broker.
const DURATION_BUCKETS = [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500];

/**
 * Creates the `sse.*` instruments on `meter`. Counters and gauges are observed: when a
 * reader collects, one callback reads the totals `SseCounters` keeps (one addition per
 * message on the hot path, whatever the number of connections). Only the publish duration
 * is recorded as it happens. Returns what stops it all.
 */
export function observeSseMetrics(
  meter: Meter,
  stats: () => SseStats,
  counters: SseCounters,
): () => void {
  const connections = meter.createObservableGauge('sse.connections', {
    description: 'Open SSE connections on this instance',
  });
  const users = meter.createObservableGauge('sse.users', {
    description: 'Users with an open SSE connection on this instance',
  });
  const messages = meter.createObservableCounter('sse.messages', {
    description: 'Messages accepted for sending, by kind (user, users, broadcast, topic)',
  });
  const deliveries = meter.createObservableCounter('sse.deliveries', {
    description: 'Events written to connections of this instance',
  });
  const replayed = meter.createObservableCounter('sse.replayed', {
    description: 'Kept events replayed to reconnecting clients',
  });
  const disconnects = meter.createObservableCounter('sse.disconnects', {
    description: 'Connections ended, by reason',
  });
  const gaps = meter.createObservableCounter('sse.gaps', {
    description: 'sse:gap events sent (events may have been lost), by reason',
  });
  const observed: Observable[] = [
    connections,
    users,
    messages,
    deliveries,
    replayed,
    disconnects,
    gaps,
  ];
  const observe = (result: {
    observe(instrument: Observable, value: number, attributes?: Record<string, string>): void;
  }): void => {
    const now = stats();
    const counts = counters.metricCounts();
    result.observe(connections, now.connections);
    result.observe(users, now.users);
    for (const kind of KINDS) result.observe(messages, counts.messages[kind], { kind });
    result.observe(deliveries, counts.deliveries);
    result.observe(replayed, counts.replayed);
    for (const [reason, count] of counts.disconnects)
      result.observe(disconnects, count, { reason });
    for (const [reason, count] of counts.gaps) result.observe(gaps, count, { reason });
  };
  meter.addBatchObservableCallback(observe, observed);

  const duration = meter.createHistogram('sse.publish.duration', {
    description: 'Time from send to the broker accepting the message',
    unit: 'ms',
    advice: { explicitBucketBoundaries: DURATION_BUCKETS },
  });
  counters.publishDuration = (ms) => duration.record(ms);
  return () => {
    meter.removeBatchObservableCallback(observe, observed);
    counters.publishDuration = undefined;
  };
}
