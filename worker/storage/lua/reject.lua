-- Idempotent rejection: stored once per input, with its event and counter.
-- KEYS: 1 outcome  2 rejection  3 rejections index  4 payload  5 rejection_events
--       6 stats  7 reply list ('' for none)  8 per-reason rejection counters
-- ARGV: 1 rejection JSON  2 input id  3 rejected_at epoch  4 payload ('' for none)
--       5 outcome ttl  6 stream maxlen  7 reason  8 source  9 rejected_at ISO
--       10 '1' to count the input as enqueued too (a message no producer counted)
local done = redis.call('GET', KEYS[1])
if done then return done end

redis.call('SET', KEYS[2], ARGV[1])
redis.call('ZADD', KEYS[3], ARGV[3], ARGV[2])
if ARGV[4] ~= '' then
  redis.call('SET', KEYS[4], ARGV[4])
end
redis.call('XADD', KEYS[5], 'MAXLEN', '~', ARGV[6], '*', 'event', 'rejected',
  'input_id', ARGV[2], 'reason', ARGV[7], 'source', ARGV[8], 'at', ARGV[9])
redis.call('HINCRBY', KEYS[6], 'rejections', 1)
if ARGV[10] == '1' then
  redis.call('HINCRBY', KEYS[6], 'enqueued', 1)
end
redis.call('HINCRBY', KEYS[8], ARGV[7], 1)

local result = cjson.encode({outcome = 'rejected', reason = ARGV[7], input_id = ARGV[2],
  source = ARGV[8]})
redis.call('SET', KEYS[1], result, 'EX', ARGV[5])
if KEYS[7] ~= '' then
  redis.call('RPUSH', KEYS[7], result)
  redis.call('EXPIRE', KEYS[7], ARGV[5])
end
return result
