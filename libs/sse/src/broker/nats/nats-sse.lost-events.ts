import type { SseEnvelope } from '../sse-broker.interface.js';
import type { NatsSseSubjects } from './nats-sse.subjects.js';

// Users whose lost events are remembered one by one while NATS is away; past it, a lost
// event counts as lost for everyone (a gap for any client resuming from before it).
const MAX_LOST_USERS = 10_000;

/**
 * Events delivered here but not kept, while NATS was out of reach: the newest seq per
 * user (and for everyone), written as markers once NATS is back, so that a client that
 * resumes from before one of them is told with `sse:gap` instead of silently missing it.
 */
export class NatsSseLostEvents {
  private readonly users = new Map<string, string>();
  /** Topics lost while NATS was away: few, each kept (a topic has no "everyone" to fall to). */
  private readonly topics = new Map<string, string>();
  private all: string | undefined;

  get empty(): boolean {
    return this.users.size === 0 && this.topics.size === 0 && this.all === undefined;
  }

  /** Notes a message that was not kept. */
  remember(message: SseEnvelope): void {
    if (message.topic !== undefined) this.noteTopic(message.topic, message.seq);
    else if (message.to === null) this.note(null, message.seq);
    else for (const userId of message.to) this.note(userId, message.seq);
  }

  private note(userId: string | null, seq: string): void {
    if (userId !== null) {
      const known = this.users.get(userId);
      if (known !== undefined || this.users.size < MAX_LOST_USERS) {
        if (known === undefined || seq > known) this.users.set(userId, seq);
        return;
      }
    }
    if (this.all === undefined || seq > this.all) this.all = seq;
  }

  private noteTopic(topic: string, seq: string): void {
    const known = this.topics.get(topic);
    if (known === undefined || seq > known) this.topics.set(topic, seq);
  }

  /** Hands over what to mark, as marker subject and seq, and forgets it. */
  take(subjects: NatsSseSubjects): Array<[string, string]> {
    const markers: Array<[string, string]> = [];
    for (const [userId, seq] of this.users) markers.push([subjects.userLost(userId), seq]);
    for (const [topic, seq] of this.topics) markers.push([subjects.topicLost(topic), seq]);
    if (this.all !== undefined) markers.push([subjects.broadcastLost, this.all]);
    this.users.clear();
    this.topics.clear();
    this.all = undefined;
    return markers;
  }

  /** Takes back markers that could not be written: tried again on the next reconnect. */
  restore(subjects: NatsSseSubjects, markers: ReadonlyArray<readonly [string, string]>): void {
    for (const [subject, seq] of markers) {
      if (subject === subjects.broadcastLost) {
        if (this.all === undefined || seq > this.all) this.all = seq;
      } else if (subjects.isTopicLost(subject)) {
        this.noteTopic(subjects.userOfLost(subject), seq);
      } else {
        this.note(subjects.userOfLost(subject), seq);
      }
    }
  }
}
