-- Per-host politeness: at most N fetches at a time, starts at least `delay` apart, none
-- before the host's Retry-After. Time is Redis's own, so every worker on every machine
-- agrees. A fetch that cannot start now reserves the next free start for its input and
-- comes back then (the reservation survives a requeue of the task).
-- Returns {code, ms}: {0, 0} go (lease taken); {1, ms} come back in ms (reserved);
-- {2, ms} the host is not free for ms, more than the max wait (nothing reserved).
-- KEYS:
--   host_key          the host hash (fields: next, blocked; ms)
--   leases_key        the host's leases zset (token -> expiry ms)
--   reservation_key   the input's reserved start (ms)
-- ARGV:
--   token             the input id
--   concurrency       fetches at a time
--   delay_ms          least ms between starts
--   lease_ms          ms a lease holds
--   max_wait_ms       longest wait to reserve (further: refuse)
local host_key = KEYS[1]
local leases_key = KEYS[2]
local reservation_key = KEYS[3]
local token = ARGV[1]
local concurrency = tonumber(ARGV[2])
local delay_ms = tonumber(ARGV[3])
local lease_ms = tonumber(ARGV[4])
local max_wait_ms = tonumber(ARGV[5])

local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', leases_key, '-inf', now)
local nxt = tonumber(redis.call('HGET', host_key, 'next') or '0')
local blocked = tonumber(redis.call('HGET', host_key, 'blocked') or '0')
local reserved = tonumber(redis.call('GET', reservation_key) or '-1')

local function keep(until_ms)
  redis.call('PEXPIRE', host_key, math.max(until_ms - now, 0) + delay_ms + 60000)
end

local function take()
  redis.call('ZADD', leases_key, now + lease_ms, token)
  redis.call('PEXPIRE', leases_key, lease_ms)
  redis.call('DEL', reservation_key)
  return {0, 0}
end

if reserved >= blocked and reserved >= 0 then
  if reserved > now then return {1, reserved - now} end
  if redis.call('ZCARD', leases_key) < concurrency then return take() end
  -- its turn came but the host is still busy: look again shortly
  return {1, math.max(math.min(delay_ms, 500), 50)}
end

local start = math.max(now, nxt, blocked)
if start - now > max_wait_ms then
  redis.call('DEL', reservation_key)
  return {2, start - now}
end
redis.call('HSET', host_key, 'next', start + delay_ms)
keep(start + delay_ms)
if start == now and redis.call('ZCARD', leases_key) < concurrency then return take() end
redis.call('SET', reservation_key, start, 'PX', start - now + lease_ms)
return {1, math.max(start - now, 1)}
