-- Count the extra inputs of feeds: an input that became n entries adds n - 1 to
-- 'expanded' (so queued = enqueued + expanded - decided stays exact). Idempotent: the
-- count is remembered per input, and a redelivery that finds another n adds the difference.
-- KEYS: 1 stats  2.. one expanded key per input
-- ARGV: 1 ttl  2.. the entry count of each input, in KEYS order
for i = 2, #KEYS do
  local n = tonumber(ARGV[i])
  local old = tonumber(redis.call('GET', KEYS[i]) or '1')
  if n ~= old then
    redis.call('HINCRBY', KEYS[1], 'expanded', n - old)
  end
  redis.call('SET', KEYS[i], n, 'EX', ARGV[1])
end
return #KEYS - 1
