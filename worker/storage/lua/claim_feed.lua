-- Claim a subscribed feed for a poll if it is due. Its next poll moves to now + lease, so
-- another poll (a second beat, a slow queue) cannot enqueue it again while its fetch is
-- under way; the worker sets the real next poll once the fetch is done.
-- KEYS: 1 feed state hash  2 feeds set
-- ARGV: 1 now (epoch seconds)  2 lease seconds  3 interval  4 url
local due = tonumber(redis.call('HGET', KEYS[1], 'next_poll') or '0')
if due and due > tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[1], 'next_poll', tostring(tonumber(ARGV[1]) + tonumber(ARGV[2])),
  'interval', ARGV[3], 'last_claim', ARGV[1])
redis.call('SADD', KEYS[2], ARGV[4])
return 1
