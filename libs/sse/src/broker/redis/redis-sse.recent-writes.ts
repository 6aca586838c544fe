import type { SseEnvelope } from '../sse-broker.interface.js';
import { CLUSTER_NEWEST_MISSING } from './redis-sse.cluster-scripts.js';
import type { RedisSseClient } from './redis-sse.connection.js';
import type { RedisSseKeys } from './redis-sse.keys.js';
import type { RedisSseLedger } from './redis-sse.ledger.js';

// Tries of a check while the cluster settles on its new master.
const TRIES = 20;
const RETRY_MS = 500;
/** How long sends wait for a check at most: its tries' pauses. */
export const CHECK_HOLD_MS = TRIES * RETRY_MS;
// How far back a write counts as possibly not yet copied to a replica, and how many are
// remembered: replication runs milliseconds behind, a failover is noticed within seconds.
const WINDOW_MS = 10_000;
const MAX_WRITES = 1000;

/**
 * The messages this instance had Redis Cluster take most recently. A master copies its
 * writes to its replica a little later: when it fails over, the newest of them may be
 * missing on the replica that takes over, though Redis acknowledged them. After a failover
 * each recipient's stream is searched for them, and the newest missing one is handed to
 * the ledger as lost, which marks it and tells the other instances, so that their clients
 * get `sse:gap` rather than silence.
 */
export class RedisSseRecentWrites {
  private readonly writes: { message: SseEnvelope; at: number }[] = [];

  /** Redis acknowledged the message. */
  record(message: SseEnvelope): void {
    this.writes.push({ message, at: Date.now() });
    if (this.writes.length > MAX_WRITES) this.writes.shift();
  }

  /** The messages a failover that was just noticed may have lost. */
  suspects(): SseEnvelope[] {
    const since = Date.now() - WINDOW_MS;
    return this.writes.filter((write) => write.at >= since).map((write) => write.message);
  }

  /**
   * Looks for the suspects in their streams, trying again while the cluster settles, and
   * hands what a stream lacks to the ledger.
   */
  async check(client: RedisSseClient, keys: RedisSseKeys, ledger: RedisSseLedger): Promise<void> {
    // By stream: each user's, each topic's, the broadcasts'.
    const byStream = new Map<string, { to: string[] | null; messages: SseEnvelope[] }>();
    const add = (stream: string, to: string[] | null, message: SseEnvelope): void => {
      const entry = byStream.get(stream) ?? { to, messages: [] };
      entry.messages.push(message);
      byStream.set(stream, entry);
    };
    for (const message of this.suspects()) {
      if (message.topic !== undefined) add(keys.topicStream(message.topic), null, message);
      else if (message.to === null) add(keys.broadcastStream, null, message);
      else for (const userId of message.to) add(keys.userStream(userId), [userId], message);
    }
    let pending = [...byStream];
    for (let attempt = 0; attempt < TRIES && pending.length > 0; attempt++) {
      if (attempt > 0) await new Promise((resolve) => setTimeout(resolve, RETRY_MS));
      const failed: typeof pending = [];
      await Promise.all(
        pending.map(async ([stream, entry]) => {
          const { to, messages } = entry;
          try {
            const seqs = messages.map((message) => message.seq);
            const newest = String(await CLUSTER_NEWEST_MISSING.run(client, [stream], seqs));
            if (newest === '') return;
            const lost = messages.find((message) => message.seq === newest) ?? messages[0];
            ledger.lose({ ...lost, seq: newest, ...(to === null ? {} : { to }) }, true);
          } catch {
            failed.push([stream, entry]);
          }
        }),
      );
      pending = failed;
    }
  }
}
