import type { KV } from '@nats-io/kv';
import type { SseMembershipWindow } from '../sse-broker.interface.js';
import { SseTooManyTopicsError } from '../../sse.errors.js';
import { uuidV7Time } from '../../history/sse-replay.js';
import { sseId } from '../../wire/sse-id.js';
import { token, untoken } from './nats-sse.subjects.js';

/** A user's record: current memberships (topic, join seq), and recently left windows. */
interface MembershipRecord {
  t: Record<string, string>;
  l: Array<[topic: string, from: string, until: string]>;
}

/** What a join or a leave changed, for the other instances and this one. */
export interface NatsSseMembershipChange {
  /** Whether the membership changed (newly a member, or was one). */
  readonly changed: boolean;
  /** The join's seq: events of the topic after it are the user's. */
  readonly from: string;
}

// A write that lost a race to another instance's write of the same user is tried again.
const MAX_ATTEMPTS = 10;

/**
 * Memberships in a KV bucket with no TTL (they last until left): `u.<user>` holds the
 * user's record (JSON: current topics with their join seq, recently left windows kept
 * twice the history's age), written by compare-and-set on its revision so that two
 * instances joining the same user at once both count against the limit; `m.<topic>.<user>`
 * lists the topic's members for `members(topic)`, read by a key filter.
 */
export class NatsSseMemberships {
  constructor(
    private readonly kv: KV,
    private readonly limit: number,
    private readonly keepLeftMs: number,
  ) {}

  /** Makes the user a member: `changed` false when it already was. */
  async join(userId: string, topic: string): Promise<NatsSseMembershipChange> {
    const change = await this.change(userId, (record) => {
      const known = record.t[topic];
      if (known !== undefined) return { changed: false, from: known };
      if (Object.keys(record.t).length >= this.limit) {
        throw new SseTooManyTopicsError(
          'maxTopicsPerUser',
          this.limit,
          `User ${JSON.stringify(userId)} cannot join ${JSON.stringify(topic)}`,
        );
      }
      const from = sseId();
      record.t[topic] = from;
      return { changed: true, from };
    });
    if (change.changed) await this.kv.put(this.memberKey(topic, userId), '1');
    return change;
  }

  /** Ends the membership, keeping its window for replay: `changed` false when there was none. */
  async leave(userId: string, topic: string): Promise<NatsSseMembershipChange> {
    const change = await this.change(userId, (record) => {
      const from = record.t[topic];
      if (from === undefined) return { changed: false, from: '' };
      delete record.t[topic];
      record.l.push([topic, from, sseId()]);
      return { changed: true, from };
    });
    if (change.changed) await this.kv.delete(this.memberKey(topic, userId));
    return change;
  }

  /** The user's current memberships: topic, join seq. */
  async current(userId: string): Promise<Record<string, string>> {
    return (await this.read(userId)).record.t;
  }

  /** The user's windows, current and recently left: what replay may draw on. */
  async windows(userId: string): Promise<SseMembershipWindow[]> {
    const { record } = await this.read(userId);
    const windows: SseMembershipWindow[] = Object.entries(record.t).map(([topic, from]) => ({
      topic,
      from,
    }));
    for (const [topic, from, until] of record.l) windows.push({ topic, from, until });
    return windows;
  }

  /** Members of the topic, online or not, sorted. */
  async members(topic: string): Promise<string[]> {
    const prefix = `m.${token(topic)}.`;
    const users: string[] = [];
    for await (const key of await this.kv.keys(`${prefix}*`)) {
      users.push(untoken(key.slice(prefix.length)));
    }
    return users.sort();
  }

  private async change(
    userId: string,
    apply: (record: MembershipRecord) => NatsSseMembershipChange,
  ): Promise<NatsSseMembershipChange> {
    for (let attempt = 1; ; attempt++) {
      const { record, revision } = await this.read(userId);
      const change = apply(record);
      if (!change.changed) return change;
      const horizon = Date.now() - this.keepLeftMs;
      record.l = record.l.filter(([, , until]) => uuidV7Time(until) >= horizon);
      const value = JSON.stringify(record);
      try {
        if (revision === 0) await this.kv.create(this.userKey(userId), value);
        else await this.kv.update(this.userKey(userId), value, revision);
        return change;
      } catch (error) {
        if (attempt >= MAX_ATTEMPTS) throw error;
      }
    }
  }

  private async read(userId: string): Promise<{ record: MembershipRecord; revision: number }> {
    const entry = await this.kv.get(this.userKey(userId));
    if (entry === null || entry.operation !== 'PUT') {
      // A deleted key is created again over its tombstone: `update` of its revision.
      return { record: { t: {}, l: [] }, revision: entry?.revision ?? 0 };
    }
    return { record: entry.json<MembershipRecord>(), revision: entry.revision };
  }

  private userKey(userId: string): string {
    return `u.${token(userId)}`;
  }

  private memberKey(topic: string, userId: string): string {
    return `m.${token(topic)}.${token(userId)}`;
  }
}
