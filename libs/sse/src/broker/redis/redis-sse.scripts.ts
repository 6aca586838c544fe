import { createHash } from 'node:crypto';
import type { ChainableCommander } from 'ioredis';
import type { RedisSseClient } from './redis-sse.connection.js';

/**
 * A Lua script run by its SHA1 (`EVALSHA`), sent in full once when Redis does not know it
 * yet (after a restart, say). Each script is one round trip and runs atomically.
 */
export class RedisSseScript {
  private readonly sha: string;

  constructor(private readonly lua: string) {
    this.sha = createHash('sha1').update(lua).digest('hex');
  }

  /**
   * Sends the script to Redis. Done first thing on every connect: were a script first sent
   * by the NOSCRIPT fallback, a message could overtake another.
   */
  load(client: RedisSseClient): Promise<unknown> {
    return client.script('LOAD', this.lua);
  }

  /** The same script publishing by `SPUBLISH` (sharded pub/sub, on a Redis Cluster). */
  sharded(): RedisSseScript {
    return new RedisSseScript(this.lua.replaceAll("redis.call('PUBLISH'", "redis.call('SPUBLISH'"));
  }

  /** Adds the script to a MULTI or pipeline, in full or by SHA1. */
  addTo(
    batch: ChainableCommander,
    keys: readonly string[],
    args: readonly (string | number)[],
    full = false,
  ): ChainableCommander {
    return full
      ? batch.eval(this.lua, keys.length, ...keys, ...args)
      : batch.evalsha(this.sha, keys.length, ...keys, ...args);
  }

  async run(
    client: RedisSseClient,
    keys: readonly string[],
    args: readonly (string | number)[],
  ): Promise<unknown> {
    try {
      return await client.evalsha(this.sha, keys.length, ...keys, ...args);
    } catch (error) {
      if (!(error instanceof Error) || !error.message.startsWith('NOSCRIPT')) throw error;
      return client.eval(this.lua, keys.length, ...keys, ...args);
    }
  }
}

/**
 * Lua shared by the scripts (here and in `redis-sse.topic-scripts.ts`). Time is Redis's own (TIME), so that instances whose clocks
 * differ still agree on who is alive and on what has expired.
 */
export const COMMON = `
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function int(n) return string.format('%d', n) end
local function alive(instances, id, now)
  local expires = redis.call('ZSCORE', instances, id)
  return expires and tonumber(expires) > now
end
-- Open connections of a user on live instances other than origin; forgets dead ones.
local function remote(instances, presence, origin, now)
  local fields = redis.call('HGETALL', presence)
  local n = 0
  for i = 1, #fields, 2 do
    local id = fields[i]
    if id ~= origin then
      if alive(instances, id, now) then n = n + tonumber(fields[i + 1])
      else redis.call('HDEL', presence, id) end
    end
  end
  return n
end
-- Lets go of gone, the oldest entries of a stream, and remembers the newest seq among them.
local function drop(stream, marker, gone, keep_ms)
  local newest = redis.call('GET', marker) or ''
  for i = 1, #gone do
    local value = gone[i][2][2]
    local seq = string.sub(value, 1, (string.find(value, '\\n', 1, true) or 1) - 1)
    if seq > newest then newest = seq end
  end
  redis.call('SET', marker, newest, 'PX', keep_ms)
  local last = gone[#gone][1]
  local dash = string.find(last, '-', 1, true)
  local next_id = string.sub(last, 1, dash) .. int(tonumber(string.sub(last, dash + 1)) + 1)
  redis.call('XTRIM', stream, 'MINID', next_id)
end
-- Trims a stream to its newest size entries.
local function trim(stream, marker, size, keep_ms)
  local length = redis.call('XLEN', stream)
  if length > size then
    drop(stream, marker, redis.call('XRANGE', stream, '-', '+', 'COUNT', length - size), keep_ms)
  end
end
-- Keeps an entry; trims only once slack more than size are kept, which spreads the cost of
-- trimming over several messages (a read trims to size exactly first).
local function keep(stream, marker, entry, size, slack, keep_ms)
  redis.call('XADD', stream, '*', 'm', entry)
  if redis.call('XLEN', stream) > size + slack then trim(stream, marker, size, keep_ms) end
  redis.call('PEXPIRE', stream, keep_ms)
end
`;

/**
 * Lua shared by the presence scripts of users and of topics (after `COMMON`): an
 * instance's set of the users or topics it has connections of, one presence hash each.
 */
export const PRESENCE = `
-- Writes origin's counts: per entry j, KEYS[k + j] its presence hash, ARGV[a + 2j - 1] its
-- name and ARGV[a + 2j] its count (0: out of the hash and of origin's set).
local function write_counts(set, k, a, origin)
  for j = 1, #KEYS - k do
    local name, n = ARGV[a + 2 * j - 1], tonumber(ARGV[a + 2 * j])
    if n > 0 then
      redis.call('HSET', KEYS[k + j], origin, n)
      redis.call('SADD', set, name)
    else
      redis.call('HDEL', KEYS[k + j], origin)
      redis.call('SREM', set, name)
    end
  end
end
-- The heartbeat of origin (ARGV[1]) in the instances KEYS[1]: extends its life by ARGV[2]
-- ms and its set's by ARGV[3], then clears after up to 8 dead instances, 1000 entries each
-- (ARGV[4], ARGV[5]: the parts of an instance's set key; ARGV[6], ARGV[7]: of an entry's
-- presence key), calling forget(id) for one cleared in full. 1: origin was given up for dead.
local function heartbeat(set, forget)
  local now = now_ms()
  local origin, ttl = ARGV[1], tonumber(ARGV[2])
  local before = redis.call('ZSCORE', KEYS[1], origin)
  redis.call('ZADD', KEYS[1], int(now + ttl), origin)
  redis.call('PEXPIRE', set, ARGV[3])
  local dead = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', int(now), 'LIMIT', 0, 8)
  for i = 1, #dead do
    local dead_set = ARGV[4] .. dead[i] .. ARGV[5]
    local names = redis.call('SPOP', dead_set, 1000)
    for j = 1, #names do
      redis.call('HDEL', ARGV[6] .. names[j] .. ARGV[7], dead[i])
    end
    if redis.call('EXISTS', dead_set) == 0 then
      redis.call('ZREM', KEYS[1], dead[i])
      forget(dead[i])
    end
  end
  if before and tonumber(before) > now then return 0 end
  return 1
end
`;

/**
 * A message for some users. KEYS: instances, then per user its stream, dropped marker and
 * presence. ARGV: origin, message head, entry, size, slack, keep ms, then per user its
 * channel. Keeps the entry in each user's stream (trimmed to `size`, the newest dropped seq
 * remembered), counts the user's connections on other live instances and publishes head and
 * entry on the user's channel, all at once: a replay reads either before all of it or after.
 */
export const PUBLISH_TO_USERS = new RedisSseScript(`${COMMON}
local now = now_ms()
local origin, entry = ARGV[1], ARGV[3]
local size, slack, keep_ms = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local payload = ARGV[2] .. entry
local delivered = 0
for i = 0, (#KEYS - 1) / 3 - 1 do
  local k = 1 + i * 3
  if size > 0 then keep(KEYS[k + 1], KEYS[k + 2], entry, size, slack, keep_ms) end
  delivered = delivered + remote(KEYS[1], KEYS[k + 3], origin, now)
  redis.call('PUBLISH', ARGV[7 + i], payload)
end
return delivered
`);

/**
 * A broadcast. KEYS: instances, counts, broadcast stream, its dropped marker. ARGV: origin,
 * message head, entry, size, slack, keep ms, broadcast channel. Returns the connections of
 * other live instances.
 */
export const PUBLISH_TO_ALL = new RedisSseScript(`${COMMON}
local now = now_ms()
local origin, entry = ARGV[1], ARGV[3]
local size, slack, keep_ms = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
if size > 0 then keep(KEYS[3], KEYS[4], entry, size, slack, keep_ms) end
local live = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. int(now), '+inf')
local delivered = 0
for i = 1, #live do
  if live[i] ~= origin then
    delivered = delivered + (tonumber(redis.call('HGET', KEYS[2], live[i])) or 0)
  end
end
redis.call('PUBLISH', ARGV[7], ARGV[2] .. entry)
return delivered
`);

/**
 * Readies a user's history for a replay: the only part of a replay that writes, so that a
 * Redis that refuses writes (out of memory, a read-only replica) can still be read. KEYS:
 * the user's stream and marker, the broadcasts' stream and marker, epoch. ARGV: ttl ms,
 * keep ms, epoch to set if there is none, size. Lets go of entries older than ttl and of
 * those past size, remembering them as dropped. Sent just before the MULTI that reads:
 * Redis sends stream entries as they are, faster than Lua would.
 */
export const PREPARE_REPLAY = new RedisSseScript(`${COMMON}
local cutoff = int(now_ms() - tonumber(ARGV[1]))
local keep_ms, size = tonumber(ARGV[2]), tonumber(ARGV[4])
local function prune(stream, marker)
  local gone = redis.call('XRANGE', stream, '-', '(' .. cutoff .. '-0')
  if #gone > 0 then drop(stream, marker, gone, keep_ms) end
  trim(stream, marker, size, keep_ms)
end
redis.call('SET', KEYS[5], ARGV[3], 'NX')
prune(KEYS[1], KEYS[2])
prune(KEYS[3], KEYS[4])
return 1
`);

/**
 * Writes this instance's connection counts. KEYS: counts, this instance's user set, then
 * per user its presence hash. ARGV: origin, total, set keep ms, then per user id and count.
 * Counts are absolute, so a write that repeats or comes late does no harm.
 */
export const WRITE_PRESENCE = new RedisSseScript(`${COMMON}${PRESENCE}
write_counts(KEYS[2], 2, 3, ARGV[1])
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('PEXPIRE', KEYS[2], ARGV[3])
return 1
`);

/**
 * The heartbeat. KEYS: instances, counts, this instance's user set. ARGV: origin, ttl ms,
 * set keep ms, then the two parts of an instance's user set key and of a user's presence
 * key (`RedisSseKeys`). Extends this instance's life, then clears after up to 8 dead
 * instances (1000 users each at most per beat: a big one takes a few beats; readers skip
 * dead instances meanwhile). Returns 1 when this instance had been given up for dead, so
 * that it writes its presence again.
 *
 * Touches keys it was not given: fine on one Redis server, not on Redis Cluster (see
 * docs/scaling.md).
 */
export const HEARTBEAT = new RedisSseScript(`${COMMON}${PRESENCE}
return heartbeat(KEYS[3], function(dead) redis.call('HDEL', KEYS[2], dead) end)
`);

/**
 * Forgets this instance's presence. KEYS: instances, counts, this instance's user set.
 * ARGV: origin, '1' to leave the cluster too (at shutdown) or '0' (before writing it all
 * again), the two parts of a user's presence key. Touches keys it was not given, as
 * HEARTBEAT does.
 */
export const CLEAR_PRESENCE = new RedisSseScript(`${COMMON}
local origin = ARGV[1]
local users = redis.call('SMEMBERS', KEYS[3])
for j = 1, #users do
  redis.call('HDEL', ARGV[3] .. users[j] .. ARGV[4], origin)
end
redis.call('DEL', KEYS[3])
redis.call('HDEL', KEYS[2], origin)
if ARGV[2] == '1' then redis.call('ZREM', KEYS[1], origin) end
return #users
`);

/**
 * Connections of a user on other live instances. KEYS: instances, the user's presence.
 * ARGV: origin; then, to end them, the user's channel and the control message.
 */
export const REMOTE_CONNECTIONS = new RedisSseScript(`${COMMON}
local n = remote(KEYS[1], KEYS[2], ARGV[1], now_ms())
if ARGV[2] then redis.call('PUBLISH', ARGV[2], ARGV[3]) end
return n
`);

/**
 * Users with a connection on other live instances. KEYS: instances. ARGV: origin, the two
 * parts of an instance's user set key. Touches keys it was not given, as HEARTBEAT does.
 */
export const REMOTE_USERS = new RedisSseScript(`${COMMON}
local live = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. int(now_ms()), '+inf')
local sets = {}
for i = 1, #live do
  if live[i] ~= ARGV[1] then sets[#sets + 1] = ARGV[2] .. live[i] .. ARGV[3] end
end
if #sets == 0 then return {} end
return redis.call('SUNION', unpack(sets))
`);

/**
 * Records events that Redis did not take as dropped, so that a client resuming from before
 * them is told of the gap. KEYS: dropped markers. ARGV: keep ms, then per marker the newest
 * seq lost there and, when it is not sure that Redis did not take it after all (the
 * command timed out), the stream it would be in ('' when sure). Returns per marker 1 when
 * it is lost (and marked), 0 when the stream holds it.
 */
export const MARK_DROPPED = new RedisSseScript(`${COMMON}
local marked = {}
for i = 1, #KEYS do
  local seq, stream = ARGV[2 * i], ARGV[2 * i + 1]
  local lost = 1
  if stream ~= '' then
    local head = seq .. '\\n'
    local kept = redis.call('XREVRANGE', stream, '+', '-')
    for j = 1, #kept do
      if string.sub(kept[j][2][2], 1, #head) == head then
        lost = 0
        break
      end
    end
  end
  if lost == 1 and seq > (redis.call('GET', KEYS[i]) or '') then
    redis.call('SET', KEYS[i], seq, 'PX', ARGV[1])
  end
  marked[i] = lost
end
return marked
`);

/** Every script, to load them all on connect. */
export const ALL_SCRIPTS: readonly RedisSseScript[] = [
  PUBLISH_TO_USERS,
  PUBLISH_TO_ALL,
  PREPARE_REPLAY,
  WRITE_PRESENCE,
  HEARTBEAT,
  CLEAR_PRESENCE,
  REMOTE_CONNECTIONS,
  REMOTE_USERS,
  MARK_DROPPED,
];
