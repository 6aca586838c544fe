import {
  AckPolicy,
  DeliverPolicy,
  DiscardPolicy,
  JetStreamApiError,
  RetentionPolicy,
  StorageType,
  type JetStreamClient,
  type JetStreamManager,
  type StreamConfig,
} from '@nats-io/jetstream';
import { nanos } from '@nats-io/nats-core';
import {
  uuidV7Floor,
  type SseHistoryEntry,
  type SseHistorySource,
} from '../../history/sse-replay.js';
import { decodeEntry, decodeSignal } from '../sse-broker.codec.js';
import type { NatsSseResolvedOptions } from './nats-sse.options.js';
import type { NatsSseSubjects } from './nats-sse.subjects.js';

/** One subject's kept events, read back: the newest `size`, and what is known to be lost. */
export interface NatsSseHistoryRead extends SseHistorySource {
  /** Events the stream still holds past `size` (its one spare), for placing a resume id. */
  readonly spare: readonly SseHistoryEntry[];
}

/**
 * The history stream: every subject of users, broadcasts and topics, each capped at
 * `history.size` messages (plus one spare, see `read`) and `history.ttlMs` of age by
 * JetStream itself. Reads go through a short-lived consumer per subject.
 */
export class NatsSseHistory {
  /** The stream's creation time as a seq: nothing before it can be vouched for. */
  epoch = '';

  constructor(
    private readonly jsm: JetStreamManager,
    private readonly js: JetStreamClient,
    private readonly subjects: NatsSseSubjects,
    private readonly options: NatsSseResolvedOptions,
    private readonly size: number,
    private readonly ttlMs: number,
  ) {}

  /**
   * Creates the stream, or brings its limits in line with this instance's `history`
   * (instances of one cluster should agree on them). Run on every (re)connect: a server
   * with memory storage comes back without it.
   */
  async ensure(): Promise<void> {
    const config: Partial<StreamConfig> & { name: string } = {
      name: this.subjects.stream,
      subjects: this.subjects.streamSubjects,
      retention: RetentionPolicy.Limits,
      discard: DiscardPolicy.Old,
      // One spare per subject: a read that finds it knows that older events were dropped.
      max_msgs_per_subject: this.size + 1,
      max_age: nanos(this.ttlMs),
      duplicate_window: nanos(Math.min(this.ttlMs, 120_000)),
      storage: this.options.storage === 'memory' ? StorageType.Memory : StorageType.File,
      num_replicas: this.options.replicas,
    };
    let info;
    try {
      info = await this.jsm.streams.info(config.name);
      const c = info.config;
      if (c.max_msgs_per_subject !== config.max_msgs_per_subject || c.max_age !== config.max_age) {
        info = await this.jsm.streams.update(config.name, config);
      }
    } catch (error) {
      if (!isNotFound(error)) throw error;
      info = await this.jsm.streams.add(config);
    }
    this.epoch = uuidV7Floor(Date.parse(info.created));
  }

  /**
   * A subject's kept events in order, the spare apart, and its lost-events marker; a
   * topic's events carry their `topic`.
   */
  async read(
    subject: string,
    lostSubject: string,
    to: readonly string[] | null,
    topic?: string,
  ): Promise<NatsSseHistoryRead> {
    const [entries, lost] = await Promise.all([
      this.entries(subject, to, topic),
      this.marker(lostSubject),
    ]);
    const extra = Math.max(0, entries.length - this.size);
    const spare = entries.slice(0, extra);
    const kept = entries.slice(extra);
    let droppedSeq = lost;
    for (const entry of spare) {
      if (droppedSeq === undefined || entry.envelope.seq > droppedSeq)
        droppedSeq = entry.envelope.seq;
    }
    return droppedSeq === undefined
      ? { entries: kept, spare }
      : { entries: kept, spare, droppedSeq };
  }

  private async entries(
    subject: string,
    to: readonly string[] | null,
    topic: string | undefined,
  ): Promise<SseHistoryEntry[]> {
    const stream = this.subjects.stream;
    const info = await this.jsm.consumers.add(stream, {
      filter_subject: subject,
      deliver_policy: DeliverPolicy.All,
      ack_policy: AckPolicy.None,
      mem_storage: true,
      num_replicas: 1,
      // Gone by itself should this instance die before deleting it.
      inactive_threshold: nanos(Math.max(5_000, this.options.requestTimeoutMs * 2)),
    });
    const entries: SseHistoryEntry[] = [];
    try {
      const pending = info.num_pending;
      if (pending === 0) return entries;
      const consumer = await this.js.consumers.get(stream, info.name);
      const messages = await consumer.fetch({
        max_messages: pending,
        expires: this.options.requestTimeoutMs,
      });
      for await (const message of messages) {
        const payload = message.string();
        const signal = decodeSignal(payload);
        const decoded =
          signal?.kind === 'message' ? decodeEntry(payload, to, signal.entry) : undefined;
        if (decoded !== undefined) {
          const envelope = topic === undefined ? decoded : { ...decoded, topic };
          entries.push({ envelope, at: Math.floor(message.info.timestampNanos / 1e6) });
        }
        if (message.info.pending === 0) break;
      }
    } finally {
      this.jsm.consumers.delete(stream, info.name).catch(() => undefined);
    }
    return entries;
  }

  private async marker(subject: string): Promise<string | undefined> {
    try {
      const stored = await this.jsm.streams.getMessage(this.subjects.stream, {
        last_by_subj: subject,
      });
      return stored === null ? undefined : stored.string();
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  }

  /** Keeps the newest lost seq of some subjects, so that replays report the gap. */
  async markLost(markers: ReadonlyArray<readonly [string, string]>): Promise<void> {
    const timeout = this.options.requestTimeoutMs;
    await Promise.all(markers.map(([subject, seq]) => this.js.publish(subject, seq, { timeout })));
  }
}

/** Whether JetStream answered "not found" (stream or message). */
function isNotFound(error: unknown): boolean {
  return error instanceof JetStreamApiError && error.status === 404;
}
