-- Per-host politeness: at most N fetches at a time, starts at least `delay` apart, none
-- before the host's Retry-After. Time is Redis's own, so every worker on every machine
-- agrees. A fetch that cannot start now reserves the next free start for its input and
-- comes back then (the reservation survives a requeue of the task).
-- KEYS: 1 host hash (fields: next, blocked; ms)  2 host leases zset (token -> expiry ms)
--       3 the input's reservation (ms)
-- ARGV: 1 token  2 concurrency  3 delay ms  4 lease ms  5 max wait ms (further: refuse)
-- Returns {code, ms}: {0, 0} go (lease taken); {1, ms} come back in ms (reserved);
-- {2, ms} the host is not free for ms, more than the max wait (nothing reserved).
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local token, limit = ARGV[1], tonumber(ARGV[2])
local delay, lease, max_wait = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
local nxt = tonumber(redis.call('HGET', KEYS[1], 'next') or '0')
local blocked = tonumber(redis.call('HGET', KEYS[1], 'blocked') or '0')
local reserved = tonumber(redis.call('GET', KEYS[3]) or '-1')

local function keep(until_ms)
  redis.call('PEXPIRE', KEYS[1], math.max(until_ms - now, 0) + delay + 60000)
end

local function take()
  redis.call('ZADD', KEYS[2], now + lease, token)
  redis.call('PEXPIRE', KEYS[2], lease)
  redis.call('DEL', KEYS[3])
  return {0, 0}
end

if reserved >= blocked and reserved >= 0 then
  if reserved > now then return {1, reserved - now} end
  if redis.call('ZCARD', KEYS[2]) < limit then return take() end
  -- its turn came but the host is still busy: look again shortly
  return {1, math.max(math.min(delay, 500), 50)}
end

local start = math.max(now, nxt, blocked)
if start - now > max_wait then
  redis.call('DEL', KEYS[3])
  return {2, start - now}
end
redis.call('HSET', KEYS[1], 'next', start + delay)
keep(start + delay)
if start == now and redis.call('ZCARD', KEYS[2]) < limit then return take() end
redis.call('SET', KEYS[3], start, 'PX', start - now + lease)
return {1, math.max(start - now, 1)}
