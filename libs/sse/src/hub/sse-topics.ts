import type { SseEnvelope } from '../wire/sse-envelope.js';
import { SseFrame } from '../wire/sse-frame.js';
import type { SseConnection, SseMembership } from './sse-connection.js';

/** Why a connection receives a topic's events: bits, as a connection may be in it both ways. */
const SUBSCRIBED = 1;
const MEMBER = 2;

/**
 * The connections here that receive one topic's events: members' connections and
 * subscribers, each once, with why it is in (a bit each). A topic event is one loop over
 * it, exactly like a broadcast over every connection.
 */
export class SseTopicGroup implements SseMembership {
  /** Receiving connections, each once, with the reasons (bits) it receives for. */
  readonly connections = new Map<SseConnection, number>();

  constructor(
    /** The topic. */
    readonly topic: string,
    private readonly registry: SseTopics,
  ) {}

  /** Adds a reason for a connection to receive, and the connection if it was not in yet. */
  add(connection: SseConnection, why: number): void {
    const had = this.connections.get(connection);
    if (had === undefined) {
      this.connections.set(connection, why);
      connection.groups.push(this);
    } else {
      this.connections.set(connection, had | why);
    }
  }

  /** Takes a reason away; the connection leaves once it has none. */
  remove(connection: SseConnection, why: number): void {
    const had = this.connections.get(connection);
    if (had === undefined) return;
    const rest = had & ~why;
    if (rest !== 0) {
      this.connections.set(connection, rest);
      return;
    }
    const at = connection.groups.indexOf(this);
    if (at !== -1) connection.groups.splice(at, 1);
    this.leave(connection);
  }

  /** Takes a connection out whatever the reason (it closed), and the group once empty. */
  leave(connection: SseConnection): void {
    if (this.connections.delete(connection) && this.connections.size === 0) {
      this.registry.forget(this);
    }
  }
}

/**
 * This instance's topics: a group of receiving connections per topic, made with its first
 * connection and gone with its last, and the memberships of the users that have
 * connections here (the broker tells them with `joinLocal`/`leaveLocal`), forgotten with
 * the user's last connection here.
 */
export class SseTopics {
  private readonly groups = new Map<string, SseTopicGroup>();
  private readonly memberships = new Map<string, Set<string>>();

  /** Topics with at least one receiving connection here. */
  get size(): number {
    return this.groups.size;
  }

  /** Users whose memberships are held here. */
  get users(): number {
    return this.memberships.size;
  }

  /** The group of a topic, if a connection here receives it. */
  get(topic: string): SseTopicGroup | undefined {
    return this.groups.get(topic);
  }

  /** Topics with a receiving connection here. */
  keys(): Iterable<string> {
    return this.groups.keys();
  }

  /** A connection opened: it receives its subscriptions and its user's memberships. */
  open(connection: SseConnection): void {
    for (const topic of connection.topics) this.group(topic).add(connection, SUBSCRIBED);
    const joined = this.memberships.get(connection.userId);
    if (joined === undefined) return;
    for (const topic of joined) this.group(topic).add(connection, MEMBER);
  }

  /** The user is a member of `topic`: its connections here (`tabs`) receive it. */
  join(userId: string, topic: string, tabs: Iterable<SseConnection>): void {
    let joined = this.memberships.get(userId);
    if (joined === undefined) this.memberships.set(userId, (joined = new Set()));
    if (joined.has(topic)) return;
    joined.add(topic);
    let group: SseTopicGroup | undefined;
    for (const connection of tabs) (group ??= this.group(topic)).add(connection, MEMBER);
  }

  /**
   * Writes a topic event that a user who joined the topic missed to the user's connections
   * here (`tabs`) that do not receive the topic (those subscribed to it had it live), made
   * into one frame for all. Returns how many it reached.
   */
  deliverMissed(message: SseEnvelope, tabs: Iterable<SseConnection>): number {
    const receiving = this.groups.get(message.topic!)?.connections;
    let frame: SseFrame | undefined;
    let reached = 0;
    for (const connection of tabs) {
      if (receiving?.has(connection)) continue;
      connection.push((frame ??= SseFrame.message(message)));
      reached += 1;
    }
    return reached;
  }

  /** The user left `topic`: its connections here stop receiving it, unless subscribed. */
  leave(userId: string, topic: string, tabs: Iterable<SseConnection>): void {
    const joined = this.memberships.get(userId);
    if (joined === undefined || !joined.delete(topic)) return;
    const group = this.groups.get(topic);
    if (group !== undefined) for (const connection of tabs) group.remove(connection, MEMBER);
  }

  /** The user's last connection here closed: its memberships are the broker's alone again. */
  forgetUser(userId: string): void {
    this.memberships.delete(userId);
  }

  /** @internal Called by a group that has emptied. */
  forget(group: SseTopicGroup): void {
    if (this.groups.get(group.topic) === group) this.groups.delete(group.topic);
  }

  private group(topic: string): SseTopicGroup {
    let group = this.groups.get(topic);
    if (group === undefined) this.groups.set(topic, (group = new SseTopicGroup(topic, this)));
    return group;
  }
}
