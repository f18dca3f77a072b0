-- Idempotent "not modified" outcome of a feed fetch (HTTP 304): a duplicate, no record.
-- KEYS: 1 outcome  2 stats  3 reply list ('' for none)
-- ARGV: 1 input id  2 source  3 outcome ttl  4 reason
local done = redis.call('GET', KEYS[1])
if done then return done end

redis.call('HINCRBY', KEYS[2], 'duplicates', 1)
local result = cjson.encode({outcome = 'duplicate', reason = ARGV[4], input_id = ARGV[1],
  source = ARGV[2]})
redis.call('SET', KEYS[1], result, 'EX', ARGV[3])
if KEYS[3] ~= '' then
  redis.call('RPUSH', KEYS[3], result)
  redis.call('EXPIRE', KEYS[3], ARGV[3])
end
return result
