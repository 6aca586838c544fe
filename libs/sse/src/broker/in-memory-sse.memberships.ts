import { SseTooManyTopicsError } from '../sse.errors.js';
import { sseId } from '../wire/sse-id.js';
import type { SseMembershipWindow } from './sse-broker.interface.js';

/** A membership that ended, kept for the replays that still reach back into it. */
interface SseLeftWindow extends SseMembershipWindow {
  readonly until: string;
  /** When it ended, in milliseconds since the epoch. */
  readonly at: number;
}

/**
 * The in-memory broker's memberships: the current ones with the seq at which each began,
 * the members of each topic, and the windows of memberships that ended, kept `keepMs`
 * (twice the history's `ttlMs`: past that no kept event can fall inside them).
 */
export class MemorySseMemberships {
  private readonly current = new Map<string, Map<string, string>>();
  private readonly left = new Map<string, SseLeftWindow[]>();
  private readonly members = new Map<string, Set<string>>();

  constructor(private readonly keepMs: number) {}

  /** Makes the user a member; `false` when it already was. */
  join(userId: string, topic: string, limit: number): boolean {
    let topics = this.current.get(userId);
    if (topics?.has(topic)) return false;
    if (topics !== undefined && topics.size >= limit) {
      throw new SseTooManyTopicsError('maxTopicsPerUser', limit, `User ${userId} is in`);
    }
    if (topics === undefined) this.current.set(userId, (topics = new Map()));
    topics.set(topic, sseId());
    let users = this.members.get(topic);
    if (users === undefined) this.members.set(topic, (users = new Set()));
    users.add(userId);
    return true;
  }

  /** Ends the membership, keeping its window; `false` when the user was not a member. */
  leave(userId: string, topic: string): boolean {
    const topics = this.current.get(userId);
    const from = topics?.get(topic);
    if (topics === undefined || from === undefined) return false;
    topics.delete(topic);
    if (topics.size === 0) this.current.delete(userId);
    const users = this.members.get(topic)!;
    users.delete(userId);
    if (users.size === 0) this.members.delete(topic);
    const now = Date.now();
    const windows = this.prune(userId, now) ?? [];
    windows.push({ topic, from, until: sseId(), at: now });
    this.left.set(userId, windows);
    return true;
  }

  /** The user's current memberships, sorted. */
  topicsOf(userId: string): string[] {
    return [...(this.current.get(userId)?.keys() ?? [])].sort();
  }

  /** The topic's members, sorted. */
  membersOf(topic: string): string[] {
    return [...(this.members.get(topic) ?? [])].sort();
  }

  /** The user's current memberships (without `from`, their seq not needed). */
  joined(userId: string): Iterable<string> {
    return this.current.get(userId)?.keys() ?? [];
  }

  /** Every window of the user a replay may reach: current memberships and recent ones. */
  windows(userId: string): SseMembershipWindow[] {
    const windows: SseMembershipWindow[] = [];
    for (const [topic, from] of this.current.get(userId) ?? []) windows.push({ topic, from });
    for (const window of this.prune(userId, Date.now()) ?? []) windows.push(window);
    return windows;
  }

  /** Forgets windows older than `keepMs` everywhere. */
  sweep(now = Date.now()): void {
    for (const userId of this.left.keys()) this.prune(userId, now);
  }

  /** Users with ended windows still kept (for clean-up checks). */
  get leftUsers(): number {
    return this.left.size;
  }

  private prune(userId: string, now: number): SseLeftWindow[] | undefined {
    const windows = this.left.get(userId);
    if (windows === undefined) return undefined;
    const kept = windows.filter((window) => window.at >= now - this.keepMs);
    if (kept.length === 0) {
      this.left.delete(userId);
      return undefined;
    }
    if (kept.length !== windows.length) this.left.set(userId, kept);
    return kept;
  }
}
