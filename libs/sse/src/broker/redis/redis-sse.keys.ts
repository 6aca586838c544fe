/**
 * Names of every key and channel the Redis broker uses, under one prefix `P`:
 *
 * | name | type | what |
 * | --- | --- | --- |
 * | `P u:{user}:h` | stream | the user's kept events |
 * | `P u:{user}:d` | string | seq of the newest event the user's stream let go of |
 * | `P u:{user}:p` | hash | instance id -> the user's open connections there |
 * | `P u:{user}` | channel | live events and control messages for the user |
 * | `P b:h`, `P b:d` | stream, string | the same for broadcasts |
 * | `P b` | channel | live broadcasts |
 * | `P instances` | sorted set | instance id -> when its presence expires (Redis time, ms) |
 * | `P counts` | hash | instance id -> its open connections |
 * | `P i:<instance>:u` | set | users with a connection on that instance |
 * | `P epoch` | string | a uuid v7 floor: history in Redis vouches for nothing before it |
 *
 * A user's keys and channel share the hash tag `{user}`: on Redis Cluster they live in
 * one slot, which is what lets one script keep, count and publish a message atomically.
 * Channels also carry the database number, as pub/sub ignores databases.
 *
 * On a Redis Cluster (`cluster`), the broadcast keys and channel, the instance registry,
 * the counts and the epoch share the hash tag `{b}` (`P {b}:h`, `P {b}:instances`, ...),
 * so that the broadcast script and the heartbeat each touch one slot, and an instance's
 * user set is `P i:{<instance>}:u`.
 */
export class RedisSseKeys {
  readonly instances: string;
  readonly counts: string;
  readonly epoch: string;
  readonly broadcastStream: string;
  readonly broadcastDropped: string;
  readonly broadcastChannel: string;
  /** What every user channel starts with. */
  readonly userChannelStart: string;
  /**
   * A user's presence hash is `start + userId + end`: the scripts that walk many users
   * build it from these two, given as arguments.
   */
  readonly userPresenceParts: readonly [start: string, end: string];
  /** An instance's user set is `start + instanceId + end`, for the scripts likewise. */
  readonly instanceUsersParts: readonly [start: string, end: string];

  constructor(
    /** The prefix of keys. */
    readonly prefix: string,
    database: number,
    /** On a Redis Cluster: the shared keys get one hash tag. */
    readonly cluster = false,
  ) {
    const channels = database === 0 ? prefix : `${prefix}db${database}:`;
    const shared = cluster ? `${prefix}{b}:` : prefix;
    this.instances = `${shared}instances`;
    this.counts = `${shared}counts`;
    this.epoch = `${shared}epoch`;
    this.broadcastStream = cluster ? `${shared}h` : `${prefix}b:h`;
    this.broadcastDropped = cluster ? `${shared}d` : `${prefix}b:d`;
    this.broadcastChannel = cluster ? `${channels}{b}` : `${channels}b`;
    this.userChannelStart = `${channels}u:{`;
    this.userPresenceParts = [`${prefix}u:{`, '}:p'];
    this.instanceUsersParts = cluster ? [`${prefix}i:{`, '}:u'] : [`${prefix}i:`, ':u'];
  }

  userStream(userId: string): string {
    return `${this.prefix}u:{${userId}}:h`;
  }

  userDropped(userId: string): string {
    return `${this.prefix}u:{${userId}}:d`;
  }

  userPresence(userId: string): string {
    return this.userPresenceParts[0] + userId + this.userPresenceParts[1];
  }

  userChannel(userId: string): string {
    return `${this.userChannelStart}${userId}}`;
  }

  instanceUsers(instanceId: string): string {
    return this.instanceUsersParts[0] + instanceId + this.instanceUsersParts[1];
  }

  /** The user a channel is for; `null` for the broadcast channel; `undefined` if neither. */
  userOfChannel(channel: string): string | null | undefined {
    if (channel === this.broadcastChannel) return null;
    if (channel.startsWith(this.userChannelStart) && channel.endsWith('}')) {
      return channel.slice(this.userChannelStart.length, -1);
    }
    return undefined;
  }
}
