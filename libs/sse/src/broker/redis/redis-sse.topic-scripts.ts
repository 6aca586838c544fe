import { COMMON, PRESENCE, RedisSseScript } from './redis-sse.scripts.js';

/**
 * A join, on the user's side (one slot: `{user}`). KEYS: the user's memberships, their
 * version. ARGV: topic, join seq, most memberships allowed, the user's channel, origin.
 * Returns 1 when the user is newly a member, 0 when it was one, -1 past the limit. Tells
 * every instance with the user's connections (`j<origin>\n<version>\n<topic>\n<from>`).
 */
export const JOIN_TOPIC = new RedisSseScript(`
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then return 0 end
if redis.call('HLEN', KEYS[1]) >= tonumber(ARGV[3]) then return -1 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
local v = redis.call('INCR', KEYS[2])
redis.call('PUBLISH', ARGV[4], 'j' .. ARGV[5] .. '\\n' .. v .. '\\n' .. ARGV[1] .. '\\n' .. ARGV[2])
return 1
`);

/**
 * A leave, on the user's side (one slot). KEYS: the user's memberships, their version, its
 * left windows. ARGV: topic, leave seq, keep ms, the user's channel, origin. Moves the
 * membership to the left windows (`topic\nfrom\nuntil`, those older than keep ms let go)
 * and tells the user's instances (`p<origin>\n<version>\n<topic>`). Returns 1 when the
 * user was a member.
 */
export const LEAVE_TOPIC = new RedisSseScript(`${COMMON}
local from = redis.call('HGET', KEYS[1], ARGV[1])
if not from then return 0 end
redis.call('HDEL', KEYS[1], ARGV[1])
local now, keep_ms = now_ms(), tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', int(now - keep_ms))
redis.call('ZADD', KEYS[3], int(now), ARGV[1] .. '\\n' .. from .. '\\n' .. ARGV[2])
redis.call('PEXPIRE', KEYS[3], keep_ms)
local v = redis.call('INCR', KEYS[2])
redis.call('PUBLISH', ARGV[4], 'p' .. ARGV[5] .. '\\n' .. v .. '\\n' .. ARGV[1])
return 1
`);

/**
 * A message to a topic (one slot: `{topic}`). KEYS: the topic's stream, dropped marker and
 * presence. ARGV: origin, message head, entry, size, slack, keep ms, the topic's channel.
 * Keeps the entry, sums the receiving connections of the other instances (one field per
 * instance, whatever the number of members) and publishes it, at once.
 */
export const PUBLISH_TO_TOPIC = new RedisSseScript(`${COMMON}
local origin, entry = ARGV[1], ARGV[3]
local size, slack, keep_ms = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
if size > 0 then keep(KEYS[1], KEYS[2], entry, size, slack, keep_ms) end
local fields = redis.call('HGETALL', KEYS[3])
local delivered = 0
for i = 1, #fields, 2 do
  if fields[i] ~= origin then delivered = delivered + tonumber(fields[i + 1]) end
end
redis.call('PUBLISH', ARGV[7], ARGV[2] .. entry)
return delivered
`);

/**
 * Writes this instance's receiving connections per topic. KEYS: this instance's topic set,
 * then per topic its presence hash. ARGV: origin, set keep ms, then per topic its name and
 * count. Counts are absolute, as for users.
 */
export const WRITE_TOPIC_PRESENCE = new RedisSseScript(`${COMMON}${PRESENCE}
write_counts(KEYS[1], 1, 2, ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
`);

/**
 * The topic presence heartbeat, as HEARTBEAT is for users. KEYS: instances with topic
 * presence, this instance's topic set. ARGV: origin, ttl ms, set keep ms, the two parts of
 * an instance's topic set key and of a topic's presence key. Clears after up to 8 dead
 * instances (1000 topics each per beat). Returns 1 when this instance had been given up
 * for dead. Touches keys it was not given, as HEARTBEAT does.
 */
export const TOPIC_HEARTBEAT = new RedisSseScript(`${COMMON}${PRESENCE}
return heartbeat(KEYS[2], function() end)
`);

/**
 * Forgets this instance's topic presence. KEYS: instances with topic presence, this
 * instance's topic set. ARGV: origin, '1' to leave too (at shutdown) or '0', the two parts
 * of a topic's presence key. Touches keys it was not given, as CLEAR_PRESENCE does.
 */
export const CLEAR_TOPIC_PRESENCE = new RedisSseScript(`
local topics = redis.call('SMEMBERS', KEYS[2])
for j = 1, #topics do
  redis.call('HDEL', ARGV[3] .. topics[j] .. ARGV[4], ARGV[1])
end
redis.call('DEL', KEYS[2])
if ARGV[2] == '1' then redis.call('ZREM', KEYS[1], ARGV[1]) end
return #topics
`);

/** The scripts that publish, publishing by `SPUBLISH`, for a Redis Cluster. */
export const SHARDED_TOPIC_SCRIPTS = {
  join: JOIN_TOPIC.sharded(),
  leave: LEAVE_TOPIC.sharded(),
  publish: PUBLISH_TO_TOPIC.sharded(),
} as const;

/** Every topic script, to load them on connect. */
export const TOPIC_SCRIPTS: readonly RedisSseScript[] = [
  JOIN_TOPIC,
  LEAVE_TOPIC,
  PUBLISH_TO_TOPIC,
  WRITE_TOPIC_PRESENCE,
  TOPIC_HEARTBEAT,
  CLEAR_TOPIC_PRESENCE,
];
