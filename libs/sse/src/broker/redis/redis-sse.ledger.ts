import type { SseEnvelope } from '../sse-broker.interface.js';
import { encodeLost, type SseLostEventsSignal } from '../sse-broker.codec.js';
import type { RedisSseClient } from './redis-sse.connection.js';
import type { RedisSseKeys } from './redis-sse.keys.js';
import type { RedisSsePublisher } from './redis-sse.publisher.js';
import { MARK_DROPPED } from './redis-sse.scripts.js';

// Users whose lost events are remembered one by one; past it, a lost event counts as lost
// for everyone (a gap for any client resuming from before it).
const MAX_LOST_USERS = 10_000;
// Markers per script, so that a long outage does not hold Redis for long once it is over.
const MARKERS_PER_SCRIPT = 500;
// How often markers Redis refused are tried again, while Redis answers but refuses writes.
const RETRY_MS = 1000;

/** `null`: a broadcast, or lost for everyone. */
type Recipient = string | null;

/** A lost event of a recipient that Redis has no marker of yet. */
interface Unmarked {
  seq: string;
  /** Redis surely did not take it (rather than: the command timed out). */
  sure: boolean;
  /** The other instances were told. */
  announced: boolean;
  /** The news on its way to Redis: what waits for it awaits this. */
  telling?: Promise<void>;
}

/**
 * The lost-event ledger: events this instance sent that Redis did not take, until Redis
 * has a dropped marker of each (a replay from before one reports a gap), and events that
 * any instance reported lost, so that replays here report the gap before the markers are
 * written (Redis may refuse writes for a while: out of memory, a read-only replica).
 *
 * Losses are told to every instance on the broadcast channel (PUBLISH needs no memory and
 * works on a replica), and on a Redis Cluster on each user's own channel too; each instance
 * then writes `sse:gap` on its open streams that began before the loss
 * (`SseBrokerHost.gapLocal`), and remembers the loss so that replays report it.
 * Only sure losses are told at once: a command that timed out may have been run after all,
 * which the marker script checks first.
 *
 * A message sent after a loss must not reach another instance's clients before the news of
 * it (a client that got the later one resumes after the lost one and is never told): the
 * broker asks `before` first, which holds the message until the news of every earlier loss
 * it could overtake is out (see `RedisSseSendOrder`).
 */
export class RedisSseLedger {
  private readonly unmarked = new Map<Recipient, Unmarked>();
  /** Losses known here (this instance's or told by others): newest seq, until when. */
  private readonly known = new Map<Recipient, { seq: string; until: number }>();
  private flushing: Promise<void> | undefined;
  /** A write asked for while one was under way: it runs after that one. */
  private again: Promise<void> | undefined;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly client: RedisSseClient,
    private readonly keys: RedisSseKeys,
    private readonly publisher: RedisSsePublisher,
    private readonly instanceId: string,
    private readonly history: { readonly size: number; readonly ttlMs: number },
    private readonly onError: (what: string, error: unknown) => void,
  ) {
    this.timer = setInterval(() => void this.flush(), RETRY_MS);
    this.timer.unref();
  }

  /** A message Redis did not take (`sure`) or may not have taken (a timeout). */
  lose(message: SseEnvelope, sure: boolean): void {
    const add = (recipient: Recipient): void => {
      const was = this.unmarked.get(recipient);
      if (was === undefined || message.seq > was.seq) {
        this.unmarked.set(recipient, { seq: message.seq, sure, announced: false });
      }
      if (sure) this.know(recipient, message.seq);
    };
    if (message.to === null) add(null);
    else for (const userId of message.to) add(this.bounded(userId));
    void this.flush();
  }

  /**
   * Another instance told of its losses; whether any was news here (the same loss may be
   * told twice: on a cluster on the user's channel and on the broadcast channel).
   */
  heard(lost: SseLostEventsSignal): boolean {
    let news = lost.all !== undefined && this.know(null, lost.all);
    for (const [userId, seq] of lost.users) news = this.know(this.bounded(userId), seq) || news;
    return news;
  }

  /**
   * Asked before a message goes to Redis: `undefined` when it may go at once (no loss it
   * could overtake is untold; with nothing lost, one size check), else whether it may go
   * once the news is out: true when every earlier loss of its recipients (any loss, for a
   * broadcast or a topic's message) was told, or found not lost after all; false when the
   * news could not be sent, and the message should not be either. A timed-out loss waits
   * for the check of the stream. Without Redis, `undefined`: the message fails at once.
   */
  before(message: SseEnvelope): Promise<boolean> | undefined {
    if (this.unmarked.size === 0 || this.client.status !== 'ready') return undefined;
    const due: [Recipient, Unmarked][] = [];
    const untold = (recipient: Recipient): void => {
      const lost = this.unmarked.get(recipient);
      if (lost !== undefined && !lost.announced) due.push([recipient, lost]);
    };
    if (message.to === null) {
      for (const [recipient, lost] of this.unmarked)
        if (!lost.announced) due.push([recipient, lost]);
    } else {
      untold(null);
      for (const userId of message.to) untold(userId);
    }
    return due.length === 0 ? undefined : this.tell(due);
  }

  private async tell(due: readonly [Recipient, Unmarked][]): Promise<boolean> {
    const now = due.filter(([, lost]) => lost.sure || this.history.size === 0);
    await Promise.all([this.announce(now), now.length < due.length ? this.flush() : undefined]);
    return due.every(
      ([recipient, lost]) => lost.announced || this.unmarked.get(recipient) !== lost,
    );
  }

  /** Newest seq known lost for the user (`null`: for everyone), for a replay. */
  lostSeq(recipient: Recipient): string | undefined {
    const known = this.known.get(recipient);
    if (known === undefined) return undefined;
    if (known.until > Date.now()) return known.seq;
    this.known.delete(recipient);
    return undefined;
  }

  /**
   * Tells the other instances of sure losses and writes the markers; on every `ready`, after
   * each loss and on a timer, until Redis takes them. A marker written twice does no harm.
   */
  flush(): Promise<void> {
    if (this.unmarked.size === 0 || this.client.status !== 'ready') return Promise.resolve();
    if (this.flushing === undefined) {
      this.flushing = this.write().finally(() => (this.flushing = undefined));
      return this.flushing;
    }
    // Losses that came after that write began are in the next one.
    this.again ??= this.flushing.then(() => {
      this.again = undefined;
      return this.flush();
    });
    return this.again;
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private async write(): Promise<void> {
    if (this.history.size === 0) {
      // Nothing is kept, so nothing to look for or to mark: the others only reconnect.
      const all = [...this.unmarked];
      await this.announce(all.filter(([, lost]) => !lost.announced));
      for (const [recipient, lost] of all) if (lost.announced) this.settle(recipient, lost);
      return;
    }
    await this.announce([...this.unmarked].filter(([, lost]) => lost.sure && !lost.announced));
    const pending = [...this.unmarked];
    // On a cluster, markers are in different slots: one script each.
    const perScript = this.keys.cluster ? 1 : MARKERS_PER_SCRIPT;
    for (let i = 0; i < pending.length; i += perScript) {
      const chunk = pending.slice(i, i + perScript);
      const args: (string | number)[] = [2 * this.history.ttlMs];
      for (const [recipient, lost] of chunk)
        args.push(lost.seq, lost.sure ? '' : this.stream(recipient));
      let marked: unknown;
      try {
        marked = await MARK_DROPPED.run(
          this.client,
          chunk.map(([recipient]) => this.marker(recipient)),
          args,
        );
      } catch (error) {
        this.onError('history', error);
        return;
      }
      const found: [Recipient, Unmarked][] = [];
      chunk.forEach(([recipient, lost], j) => {
        if (lost.sure) return;
        if (!Array.isArray(marked) || Number(marked[j]) !== 1) {
          // Redis ran it after all.
          this.settle(recipient, lost);
          return;
        }
        this.know(recipient, lost.seq);
        lost.sure = true;
        found.push([recipient, lost]);
      });
      // A timed-out message that Redis never ran is a loss like any other: tell the others.
      await this.announce(found);
      // Marked and told: done. Marked only: told again on the timer.
      for (const [recipient, lost] of chunk) if (lost.announced) this.settle(recipient, lost);
    }
  }

  /**
   * Tells the losses not told yet, once each (what is on its way is awaited, not sent
   * again). The news needs no memory of Redis, only its pub/sub.
   */
  private async announce(entries: readonly [Recipient, Unmarked][]): Promise<void> {
    const waits: Promise<void>[] = [];
    const fresh: [Recipient, Unmarked][] = [];
    for (const entry of entries) {
      const [, lost] = entry;
      if (lost.telling !== undefined) waits.push(lost.telling);
      else if (!lost.announced) fresh.push(entry);
    }
    if (fresh.length > 0) {
      const telling = this.send(fresh);
      for (const [, lost] of fresh) lost.telling = telling;
      waits.push(telling);
    }
    await Promise.all(waits);
  }

  /**
   * On every instance's broadcast channel; on a cluster also on each user's channel, which
   * is ordered with the user's messages (the broadcast channel is on another shard).
   */
  private async send(entries: readonly [Recipient, Unmarked][]): Promise<void> {
    let all: string | undefined;
    const users: [string, string][] = [];
    for (const [recipient, lost] of entries) {
      if (recipient === null) all = lost.seq;
      else users.push([recipient, lost.seq]);
    }
    const sent = [this.publisher.tellAll(encodeLost(this.instanceId, { all, users }))];
    if (this.keys.cluster) {
      for (const user of users) {
        sent.push(this.publisher.tellUser(user[0], encodeLost(this.instanceId, { users: [user] })));
      }
    }
    try {
      await Promise.all(sent);
      for (const [, lost] of entries) lost.announced = true;
    } catch (error) {
      this.onError('publish', error);
    } finally {
      for (const [, lost] of entries) lost.telling = undefined;
    }
  }

  /** Forgets a loss once marked, unless a newer one of the recipient came meanwhile. */
  private settle(recipient: Recipient, lost: Unmarked): void {
    if (this.unmarked.get(recipient) === lost) this.unmarked.delete(recipient);
  }

  /** Whether it was news. */
  private know(recipient: Recipient, seq: string): boolean {
    const was = this.lostSeq(recipient) === undefined ? undefined : this.known.get(recipient);
    const until = Date.now() + 2 * this.history.ttlMs;
    if (was === undefined || seq > was.seq) {
      this.known.set(recipient, { seq, until });
      return true;
    }
    was.until = until;
    return false;
  }

  /** The user, or everyone once too many users are remembered. */
  private bounded(userId: string): Recipient {
    const tracked = this.unmarked.has(userId) || this.known.has(userId);
    return tracked || this.known.size + this.unmarked.size < 2 * MAX_LOST_USERS ? userId : null;
  }

  private marker(recipient: Recipient): string {
    return recipient === null ? this.keys.broadcastDropped : this.keys.userDropped(recipient);
  }

  private stream(recipient: Recipient): string {
    return recipient === null ? this.keys.broadcastStream : this.keys.userStream(recipient);
  }
}
