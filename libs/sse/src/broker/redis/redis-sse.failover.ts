import type { SseEnvelope } from '../sse-broker.interface.js';

// How far back a write counts as possibly not yet copied to a replica, and how many are
// remembered: replication runs milliseconds behind, a failover is noticed within seconds.
const WINDOW_MS = 10_000;
const MAX_WRITES = 1000;

/**
 * The messages this instance had Redis Cluster take most recently. A master copies its
 * writes to its replica a little later: when it fails over, the newest of them may be
 * missing on the replica that takes over, though Redis acknowledged them. After a failover
 * they are handed to the ledger as possibly lost: it looks for each in its stream, and
 * marks and tells of those that are not there, so that their clients get `sse:gap` rather
 * than silence.
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
}
