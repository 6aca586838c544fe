import type { LoggerService } from '@nestjs/common';
import { v7 as uuidv7 } from 'uuid';
import type { SseBrokerHost } from '../broker/sse-broker.interface.js';

/**
 * The host a publisher attaches its broker to: an instance with no connections. The
 * broker publishes, keeps history and counts the other instances' connections as for any
 * instance; everything it would deliver here reaches nobody, and nothing is ever local.
 */
export function publisherHost(
  history: { readonly size: number; readonly ttlMs: number },
  maxTopicsPerUser: number,
  logger: LoggerService,
): SseBrokerHost {
  return {
    instanceId: uuidv7(),
    history,
    limits: { maxTopicsPerUser },
    logger,
    deliver: () => 0,
    deliverMissed: () => 0,
    disconnectLocal: () => 0,
    localConnections: () => 0,
    localUsers: () => [],
    joinLocal: () => undefined,
    leaveLocal: () => undefined,
    localTopicConnections: () => 0,
    localTopics: () => [],
    reconnectLocal: () => 0,
    gapLocal: () => 0,
  };
}
