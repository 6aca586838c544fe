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
 * | `P u:{user}:t` | hash | topic -> seq of the join (the user's memberships) |
 * | `P u:{user}:tv` | string | version of the memberships, raised by each join and leave |
 * | `P u:{user}:tl` | sorted set | left windows `topic\nfrom\nuntil`, scored by when (Redis ms) |
 * | `P t:{topic}:h`, `P t:{topic}:d` | stream, string | a topic's kept events and dropped marker |
 * | `P t:{topic}:m` | set | the topic's members, for `members(topic)` |
 * | `P t:{topic}:p` | hash | instance id -> connections there that receive the topic |
 * | `P t:{topic}` | channel | live events of the topic |
 * | `P ti` | sorted set | instances with topic presence -> when it expires (Redis time, ms) |
 * | `P i:<instance>:t` | set | topics with a receiving connection on that instance |
 *
 * A user's keys and channel share the hash tag `{user}`: on Redis Cluster they live in
 * one slot, which is what lets one script keep, count and publish a message atomically; a
 * topic's keys and channel share `{topic}` likewise. Work on a user's memberships and on a
 * topic's member set are separate scripts, each on one slot.
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
  /** Instances with topic presence, by when it expires. */
  readonly topicInstances: string;
  /** What every topic channel starts with. */
  readonly topicChannelStart: string;
  /** A topic's presence hash is `start + topic + end`, for the scripts that walk topics. */
  readonly topicPresenceParts: readonly [start: string, end: string];
  /** An instance's topic set is `start + instanceId + end`, for the scripts likewise. */
  readonly instanceTopicsParts: readonly [start: string, end: string];

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
    this.topicInstances = `${shared}ti`;
    this.topicChannelStart = `${channels}t:{`;
    this.topicPresenceParts = [`${prefix}t:{`, '}:p'];
    this.instanceTopicsParts = cluster ? [`${prefix}i:{`, '}:t'] : [`${prefix}i:`, ':t'];
  }

  userTopics(userId: string): string {
    return `${this.prefix}u:{${userId}}:t`;
  }

  userTopicsVersion(userId: string): string {
    return `${this.prefix}u:{${userId}}:tv`;
  }

  userTopicsLeft(userId: string): string {
    return `${this.prefix}u:{${userId}}:tl`;
  }

  topicStream(topic: string): string {
    return `${this.prefix}t:{${topic}}:h`;
  }

  topicDropped(topic: string): string {
    return `${this.prefix}t:{${topic}}:d`;
  }

  topicMembers(topic: string): string {
    return `${this.prefix}t:{${topic}}:m`;
  }

  topicPresence(topic: string): string {
    return this.topicPresenceParts[0] + topic + this.topicPresenceParts[1];
  }

  topicChannel(topic: string): string {
    return `${this.topicChannelStart}${topic}}`;
  }

  instanceTopics(instanceId: string): string {
    return this.instanceTopicsParts[0] + instanceId + this.instanceTopicsParts[1];
  }

  /** The topic a channel is for; `undefined` if it is no topic's. */
  topicOfChannel(channel: string): string | undefined {
    if (channel.startsWith(this.topicChannelStart) && channel.endsWith('}')) {
      return channel.slice(this.topicChannelStart.length, -1);
    }
    return undefined;
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
