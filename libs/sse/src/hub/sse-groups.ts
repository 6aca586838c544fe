import type { SseConnection, SseMembership } from './sse-connection.js';

/**
 * A named set of this instance's connections that a message can be addressed to: the
 * connections of one user (and, with topics, those of a topic). A connection may belong to
 * several groups; it knows which, so that closing it leaves each of them.
 */
export class SseGroup implements SseMembership {
  readonly connections = new Set<SseConnection>();

  constructor(
    /** The group's key in its registry (a user id). */
    readonly key: string,
    private readonly registry: SseGroups,
  ) {}

  /** Takes a connection out of the group, and the group out of its registry once empty. */
  leave(connection: SseConnection): void {
    if (this.connections.delete(connection) && this.connections.size === 0) {
      this.registry.forget(this);
    }
  }
}

/**
 * Groups of one kind by key, created with their first connection and gone with their last,
 * so that nothing of a user stays once its last tab has left.
 *
 * Groups of one kind never share a connection (a connection has one user), so a delivery
 * to several of them reaches each connection once by construction; groups of different
 * kinds (a user's and a topic's) may share one, and a delivery across kinds must count it
 * once.
 */
export class SseGroups {
  private readonly groups = new Map<string, SseGroup>();

  /** Groups with at least one connection. */
  get size(): number {
    return this.groups.size;
  }

  /** The group of `key`, if it has connections. */
  get(key: string): SseGroup | undefined {
    return this.groups.get(key);
  }

  /** Keys of the groups with connections (the users online here). */
  keys(): Iterable<string> {
    return this.groups.keys();
  }

  /** Puts a connection into the group of `key`, creating it if needed. */
  join(key: string, connection: SseConnection): SseGroup {
    let group = this.groups.get(key);
    if (group === undefined) this.groups.set(key, (group = new SseGroup(key, this)));
    group.connections.add(connection);
    connection.groups.push(group);
    return group;
  }

  /** @internal Called by a group that has emptied. */
  forget(group: SseGroup): void {
    if (this.groups.get(group.key) === group) this.groups.delete(group.key);
  }
}
