-- Claim a subscribed feed for a poll if it is due. Its next poll moves to now + lease, so
-- another poll (a second beat, a slow queue) cannot enqueue it again while its fetch is
-- under way; the worker sets the real next poll once the fetch is done. A feed seen for
-- the first time is first due at ARGV[5] (now plus its own offset), so that many new
-- subscriptions do not all fire in the same second.
-- KEYS: 1 feed state hash  2 feeds set
-- ARGV: 1 now (epoch seconds)  2 lease seconds  3 interval  4 url  5 first poll (epoch s)
local now = tonumber(ARGV[1])
local due = tonumber(redis.call('HGET', KEYS[1], 'next_poll') or '0')
if due == 0 and tonumber(ARGV[5]) > now then
  redis.call('HSET', KEYS[1], 'next_poll', ARGV[5], 'interval', ARGV[3])
  redis.call('SADD', KEYS[2], ARGV[4])
  return 0
end
if due and due > now then return 0 end
redis.call('HSET', KEYS[1], 'next_poll', tostring(now + tonumber(ARGV[2])),
  'interval', ARGV[3], 'last_claim', ARGV[1])
redis.call('SADD', KEYS[2], ARGV[4])
return 1
