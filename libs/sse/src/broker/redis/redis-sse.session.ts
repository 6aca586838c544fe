import type { SseBrokerHost } from '../sse-broker.interface.js';
import { RedisSseClusterPresence } from './redis-sse.cluster-presence.js';
import {
  clientDatabase,
  clientKeyPrefix,
  isCluster,
  openRedisConnection,
  type RedisSseClient,
} from './redis-sse.connection.js';
import { RedisSseHistory } from './redis-sse.history.js';
import { RedisSseKeys } from './redis-sse.keys.js';
import { RedisSseLedger } from './redis-sse.ledger.js';
import type { RedisSseResolvedOptions } from './redis-sse.options.js';
import { RedisSsePresence } from './redis-sse.presence.js';
import { RedisSsePublisher } from './redis-sse.publisher.js';
import { RedisSseSendOrder } from './redis-sse.send-order.js';
import { RedisSseSubscriptions } from './redis-sse.subscriptions.js';
import { RedisSseTopicPresence } from './redis-sse.topic-presence.js';
import { RedisSseTopics } from './redis-sse.topics.js';

/**
 * What the broker holds while attached: its two connections (`commands` for scripts and
 * publishing, `events` for pub/sub) and the parts that share them. On a Redis Cluster both
 * are ioredis `Cluster`s (`events` with sharded subscribers), and presence is the
 * cluster's own (`RedisSseClusterPresence`).
 */
export interface RedisSseSession {
  readonly host: SseBrokerHost;
  readonly commands: RedisSseClient;
  readonly events: RedisSseClient;
  /** On a Redis Cluster. */
  readonly cluster: boolean;
  readonly keys: RedisSseKeys;
  readonly subscriptions: RedisSseSubscriptions;
  readonly presence: RedisSsePresence | RedisSseClusterPresence;
  readonly publisher: RedisSsePublisher;
  readonly ledger: RedisSseLedger;
  /** When each message goes to Redis: after the news of the losses it could overtake. */
  readonly order: RedisSseSendOrder;
  readonly history: RedisSseHistory;
  readonly topicPresence: RedisSseTopicPresence;
  readonly topics: RedisSseTopics;
}

/** Builds a session, its connections not yet connected (`lazyConnect`). */
export function openRedisSseSession(
  options: RedisSseResolvedOptions,
  host: SseBrokerHost,
  report: (what: string, error: unknown) => void,
): RedisSseSession {
  const commands = openRedisConnection(options, 'commands', host.instanceId);
  const events = openRedisConnection(options, 'events', host.instanceId);
  const cluster = isCluster(commands);
  const keys = new RedisSseKeys(
    clientKeyPrefix(options) + options.keyPrefix,
    clientDatabase(commands),
    cluster,
  );
  const { instanceId, history } = host;
  const { presenceTtlMs: ttl, presenceHeartbeatMs: beat } = options;
  const presence = isCluster(commands)
    ? new RedisSseClusterPresence(commands, keys, host, ttl, beat, report)
    : new RedisSsePresence(commands, keys, host, ttl, beat, report);
  const sharded = presence instanceof RedisSseClusterPresence ? presence : undefined;
  const publisher = new RedisSsePublisher(commands, keys, instanceId, history, report, sharded);
  const ledger = new RedisSseLedger(commands, keys, publisher, instanceId, history, report);
  const subscriptions = new RedisSseSubscriptions(events, keys, report);
  const topicPresence = new RedisSseTopicPresence(commands, keys, host, ttl, beat, report);
  return {
    host,
    commands,
    events,
    cluster,
    keys,
    subscriptions,
    topicPresence,
    topics: new RedisSseTopics(commands, keys, host, subscriptions, topicPresence, report),
    presence,
    publisher,
    ledger,
    order: new RedisSseSendOrder(ledger, publisher),
    history: new RedisSseHistory(commands, keys, history, ledger),
  };
}
