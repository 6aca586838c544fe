import { COMMON, MARK_DROPPED, PUBLISH_TO_ALL, RedisSseScript } from './redis-sse.scripts.js';

/*
 * The scripts of the broker on a Redis Cluster: each touches the keys of one slot only, a
 * user's (`{user}`) or the shared one (`{b}`). Liveness of the instances, which lives in
 * the shared slot, is not read next to a user's presence: the instance passes the live
 * instances it knows of (read at its last heartbeat), and a script answers the counts of
 * the instances it does not know apart, for the instance to look them up.
 */

/*
 * Counts a presence hash's connections of live instances other than origin into reply[1],
 * and appends id and count of every instance not known to be live.
 */
const COUNT = `
local function count(presence, origin, live, reply)
  local fields = redis.call('HGETALL', presence)
  for i = 1, #fields, 2 do
    local id = fields[i]
    if id ~= origin then
      if live[id] then reply[1] = reply[1] + tonumber(fields[i + 1])
      else
        reply[#reply + 1] = id
        reply[#reply + 1] = fields[i + 1]
      end
    end
  end
end
local function set_of(from)
  local live = {}
  for i = from, #ARGV do live[ARGV[i]] = true end
  return live
end
`;

/**
 * A message for one user. KEYS: the user's stream, dropped marker and presence. ARGV:
 * origin, message head, entry, size, slack, keep ms, the user's channel, then the live
 * instances. Keeps, counts and publishes (`SPUBLISH`) at once. Returns
 * `{connections, unknown id, its count, ...}`.
 */
export const CLUSTER_PUBLISH_TO_USER = new RedisSseScript(`${COMMON}${COUNT}
local entry = ARGV[3]
local size, slack, keep_ms = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
if size > 0 then keep(KEYS[1], KEYS[2], entry, size, slack, keep_ms) end
local reply = {0}
count(KEYS[3], ARGV[1], set_of(8), reply)
redis.call('SPUBLISH', ARGV[7], ARGV[2] .. entry)
return reply
`);

/** A broadcast, as on one server, published by `SPUBLISH`; its keys all are in `{b}`. */
export const CLUSTER_PUBLISH_TO_ALL = PUBLISH_TO_ALL.sharded();

/**
 * Connections of a user on other instances. KEYS: the user's presence. ARGV: origin, the
 * user's channel and the control message to end them (both '' to only count), then the
 * live instances. Returns as `CLUSTER_PUBLISH_TO_USER` does.
 */
export const CLUSTER_REMOTE_CONNECTIONS = new RedisSseScript(`${COMMON}${COUNT}
local reply = {0}
count(KEYS[1], ARGV[1], set_of(4), reply)
if ARGV[2] ~= '' then redis.call('SPUBLISH', ARGV[2], ARGV[3]) end
return reply
`);

/**
 * The heartbeat. KEYS: instances. ARGV: origin, ttl ms. Extends this instance's life.
 * Returns `{1 when it had been given up for dead, number of live instances, live ids...,
 * up to 8 dead ids...}`.
 */
export const CLUSTER_HEARTBEAT = new RedisSseScript(`${COMMON}
local now = now_ms()
local origin = ARGV[1]
local before = redis.call('ZSCORE', KEYS[1], origin)
redis.call('ZADD', KEYS[1], int(now + tonumber(ARGV[2])), origin)
local live = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. int(now), '+inf')
local dead = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', int(now), 'LIMIT', 0, 8)
local reply = {1, #live}
if before and tonumber(before) > now then reply[1] = 0 end
for i = 1, #live do reply[#reply + 1] = live[i] end
for i = 1, #dead do reply[#reply + 1] = dead[i] end
return reply
`);

/** Which of the given instances are live. KEYS: instances. ARGV: instance ids. */
export const CLUSTER_LIVE_AMONG = new RedisSseScript(`${COMMON}
local now = now_ms()
local live = {}
for i = 1, #ARGV do
  local expires = redis.call('ZSCORE', KEYS[1], ARGV[i])
  if expires and tonumber(expires) > now then live[#live + 1] = ARGV[i] end
end
return live
`);

/** Live instances. KEYS: instances. */
export const CLUSTER_LIVE = new RedisSseScript(`${COMMON}
return redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. int(now_ms()), '+inf')
`);

/**
 * Forgets a dead instance once its users are cleared, unless it came back meanwhile.
 * KEYS: instances, counts. ARGV: its id.
 */
export const CLUSTER_FORGET = new RedisSseScript(`${COMMON}
local expires = redis.call('ZSCORE', KEYS[1], ARGV[1])
if expires and tonumber(expires) > now_ms() then return 0 end
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
return 1
`);

/**
 * Readies one history stream for a replay (as `PREPARE_REPLAY` does for two). KEYS: the
 * stream, its marker, and the epoch when it is the broadcasts'. ARGV: ttl ms, keep ms,
 * epoch to set if there is none, size.
 */
export const CLUSTER_PREPARE_REPLAY = new RedisSseScript(`${COMMON}
local cutoff = int(now_ms() - tonumber(ARGV[1]))
local keep_ms, size = tonumber(ARGV[2]), tonumber(ARGV[4])
if KEYS[3] then redis.call('SET', KEYS[3], ARGV[3], 'NX') end
local gone = redis.call('XRANGE', KEYS[1], '-', '(' .. cutoff .. '-0')
if #gone > 0 then drop(KEYS[1], KEYS[2], gone, keep_ms) end
trim(KEYS[1], KEYS[2], size, keep_ms)
return 1
`);

/**
 * Which of the given events a stream lacks. KEYS: the stream. ARGV: seqs. Returns the
 * newest seq it lacks, or '' when it holds them all.
 */
export const CLUSTER_NEWEST_MISSING = new RedisSseScript(`${COMMON}
local held = {}
local kept = redis.call('XRANGE', KEYS[1], '-', '+')
for j = 1, #kept do
  local value = kept[j][2][2]
  held[string.sub(value, 1, (string.find(value, '\\n', 1, true) or 1) - 1)] = true
end
local newest = ''
for i = 1, #ARGV do
  if not held[ARGV[i]] and ARGV[i] > newest then newest = ARGV[i] end
end
return newest
`);

/** Every cluster script, to load them all on each master. */
export const ALL_CLUSTER_SCRIPTS: readonly RedisSseScript[] = [
  CLUSTER_PUBLISH_TO_USER,
  CLUSTER_PUBLISH_TO_ALL,
  CLUSTER_REMOTE_CONNECTIONS,
  CLUSTER_HEARTBEAT,
  CLUSTER_LIVE_AMONG,
  CLUSTER_LIVE,
  CLUSTER_FORGET,
  CLUSTER_PREPARE_REPLAY,
  MARK_DROPPED,
  CLUSTER_NEWEST_MISSING,
];
