-- A host asked us to wait (429/503 with Retry-After): no fetch from it starts before then.
-- KEYS: 1 host hash   ARGV: 1 seconds to wait
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local until_ms = now + math.floor(tonumber(ARGV[1]) * 1000)
local blocked = tonumber(redis.call('HGET', KEYS[1], 'blocked') or '0')
if until_ms > blocked then
  redis.call('HSET', KEYS[1], 'blocked', until_ms)
  redis.call('PEXPIRE', KEYS[1], until_ms - now + 60000)
end
return until_ms - now
