import type { Redis } from 'ioredis';
import type { SseBrokerHost } from '../sse-broker.interface.js';
import { clientDatabase, clientKeyPrefix, openRedisConnection } from './redis-sse.connection.js';
import { RedisSseHistory } from './redis-sse.history.js';
import { RedisSseKeys } from './redis-sse.keys.js';
import { RedisSseLedger } from './redis-sse.ledger.js';
import type { RedisSseResolvedOptions } from './redis-sse.options.js';
import { RedisSsePresence } from './redis-sse.presence.js';
import { RedisSsePublisher } from './redis-sse.publisher.js';
import { RedisSseSubscriptions } from './redis-sse.subscriptions.js';
import { RedisSseTopicPresence } from './redis-sse.topic-presence.js';
import { RedisSseTopics } from './redis-sse.topics.js';

/**
 * What the broker holds while attached: its two connections (`commands` for scripts and
 * publishing, `events` for pub/sub) and the parts that share them.
 */
export interface RedisSseSession {
  readonly host: SseBrokerHost;
  readonly commands: Redis;
  readonly events: Redis;
  readonly keys: RedisSseKeys;
  readonly subscriptions: RedisSseSubscriptions;
  readonly presence: RedisSsePresence;
  readonly publisher: RedisSsePublisher;
  readonly ledger: RedisSseLedger;
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
  const keys = new RedisSseKeys(
    clientKeyPrefix(options) + options.keyPrefix,
    clientDatabase(commands),
  );
  const { instanceId, history } = host;
  const publisher = new RedisSsePublisher(commands, keys, instanceId, history, report);
  const ledger = new RedisSseLedger(commands, keys, publisher, instanceId, history, report);
  const subscriptions = new RedisSseSubscriptions(events, keys, report);
  const topicPresence = new RedisSseTopicPresence(
    commands,
    keys,
    host,
    options.presenceTtlMs,
    options.presenceHeartbeatMs,
    report,
  );
  return {
    host,
    commands,
    events,
    keys,
    subscriptions,
    topicPresence,
    topics: new RedisSseTopics(commands, keys, host, subscriptions, topicPresence, report),
    presence: new RedisSsePresence(
      commands,
      keys,
      host,
      options.presenceTtlMs,
      options.presenceHeartbeatMs,
      report,
    ),
    publisher,
    ledger,
    history: new RedisSseHistory(commands, keys, history, ledger),
  };
}
