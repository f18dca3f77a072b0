-- Claim a subscribed feed for a poll if it is due. Its next poll moves to now + lease, so
-- another poll (a second beat, a slow queue) cannot enqueue it again while its fetch is
-- under way; the worker sets the real next poll once the fetch is done. A feed seen for
-- the first time is first due at first_poll (now plus its own offset), so that many new
-- subscriptions do not all fire in the same second.
-- KEYS:
--   feed_state_key   the feed's state hash
--   feeds_key        the set of feed URLs with state
-- ARGV:
--   now              epoch seconds
--   lease            seconds the claim holds
--   interval         the feed's poll interval
--   url              the feed's URL
--   first_poll       when a new feed is first due (epoch seconds)
local feed_state_key = KEYS[1]
local feeds_key = KEYS[2]
local now = ARGV[1]
local lease = ARGV[2]
local interval = ARGV[3]
local url = ARGV[4]
local first_poll = ARGV[5]

local now_s = tonumber(now)
local due = tonumber(redis.call('HGET', feed_state_key, 'next_poll') or '0')
if due == 0 and tonumber(first_poll) > now_s then
  redis.call('HSET', feed_state_key, 'next_poll', first_poll, 'interval', interval)
  redis.call('SADD', feeds_key, url)
  return 0
end
if due and due > now_s then return 0 end
redis.call('HSET', feed_state_key, 'next_poll', tostring(now_s + tonumber(lease)),
  'interval', interval, 'last_claim', now)
redis.call('SADD', feeds_key, url)
return 1
