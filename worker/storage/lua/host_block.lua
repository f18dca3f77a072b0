-- A host asked us to wait (429/503 with Retry-After): no fetch from it starts before then.
-- KEYS:
--   host_key   the host hash (field blocked: ms, Redis clock)
-- ARGV:
--   seconds    seconds to wait
local host_key = KEYS[1]
local seconds = tonumber(ARGV[1])

local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local until_ms = now + math.floor(seconds * 1000)
local blocked = tonumber(redis.call('HGET', host_key, 'blocked') or '0')
if until_ms > blocked then
  redis.call('HSET', host_key, 'blocked', until_ms)
  redis.call('PEXPIRE', host_key, until_ms - now + 60000)
end
return until_ms - now
