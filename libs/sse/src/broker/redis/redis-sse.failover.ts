import { ALL_CLUSTER_SCRIPTS } from './redis-sse.cluster-scripts.js';
import type { RedisSseClient } from './redis-sse.connection.js';
import { whenReady } from './redis-sse.readiness.js';
import { CHECK_HOLD_MS, type RedisSseRecentWrites } from './redis-sse.recent-writes.js';
import { ALL_SCRIPTS } from './redis-sse.scripts.js';
import type { RedisSseSession } from './redis-sse.session.js';
import { everySubscriberUp } from './redis-sse.subscriptions.js';
import { SHARDED_TOPIC_SCRIPTS, TOPIC_SCRIPTS } from './redis-sse.topic-scripts.js';

/** Loads the scripts on Redis, or on every master of a cluster (each has its own cache). */
export function loadScripts(
  session: RedisSseSession,
  report: (error: unknown) => void,
): Promise<unknown> {
  const { commands } = session;
  if (!session.cluster) {
    const scripts = [...ALL_SCRIPTS, ...TOPIC_SCRIPTS];
    return Promise.all(scripts.map((script) => script.load(commands).catch(report)));
  }
  const masters = (commands as { nodes(role: 'master'): RedisSseClient[] }).nodes('master');
  const scripts = [...ALL_CLUSTER_SCRIPTS, ...Object.values(SHARDED_TOPIC_SCRIPTS)];
  return Promise.all(
    masters.flatMap((node) => scripts.map((script) => script.load(node).catch(report))),
  );
}

/**
 * On a Redis Cluster: a master that failed over took its sharded subscriptions along, and
 * maybe its newest writes (replication is asynchronous).
 *
 * - When a node leaves the cluster, the messages Redis acknowledged last are looked for on
 *   the new masters; what a stream lacks is told as lost (`RedisSseRecentWrites`). This
 *   instance's messages wait for that check (10 s at most), so that none reaches a client
 *   before the news of a loss before it.
 * - Once ioredis has made the subscriptions again on the new master (every subscriber
 *   up), this instance's clients replay what they missed, and the scripts, presence and
 *   lost-event markers are written again (a replica may lack the master's last writes).
 */
export function followFailovers(
  session: RedisSseSession,
  recent: RedisSseRecentWrites,
  broker: { current(): boolean; loadScripts(): Promise<unknown> },
): void {
  let checking: Promise<void> | undefined;
  session.commands.on('-node', () => {
    if (!broker.current() || checking !== undefined) return;
    checking = recent
      .check(session.commands, session.keys, session.ledger)
      .finally(() => (checking = undefined));
    // What this instance sends next must not overtake the news of what the failover lost;
    // a check whose commands hang holds sends no longer than its tries would.
    let timer: NodeJS.Timeout | undefined;
    const bound = new Promise<void>((resolve) => (timer = setTimeout(resolve, CHECK_HOLD_MS)));
    timer?.unref();
    session.order.holdUntil(Promise.race([checking, bound]).finally(() => clearTimeout(timer)));
  });
  let lost = false;
  session.events.on('-subscriber', () => (lost = true));
  // A subscriber that could not connect (its master is gone, the new one not yet known):
  // ioredis tries again after refreshing the slots.
  session.events.on('error', () => (lost = true));
  session.events.on('subscribersReady', () => {
    if (!lost || !broker.current() || !everySubscriberUp(session.events)) return;
    lost = false;
    void whenReady(session.commands).then(async (ready) => {
      if (!ready || !broker.current()) return;
      session.host.reconnectLocal();
      await broker.loadScripts();
      await session.presence.rewrite();
      await session.topicPresence.rewrite();
      await session.ledger.flush();
    });
  });
}
