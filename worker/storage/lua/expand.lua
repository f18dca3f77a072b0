-- Count the extra inputs of feeds: an input that became n entries adds n - 1 to
-- 'expanded' (so queued = enqueued + expanded - decided stays exact). Idempotent: the
-- count is remembered per input, and a redelivery that finds another n adds the difference.
-- KEYS:
--   stats_key        the counters
--   expanded_keys... one expanded key per input
-- ARGV:
--   ttl              seconds an expanded key is kept
--   entry_counts...  the entry count of each input, in the order of expanded_keys
local stats_key = KEYS[1]
local expanded_keys_at = 2  -- KEYS[2..]: expanded_keys
local ttl = ARGV[1]
local entry_counts_at = 2  -- ARGV[2..]: entry_counts

for i = 0, #KEYS - expanded_keys_at do
  local key, n = KEYS[expanded_keys_at + i], tonumber(ARGV[entry_counts_at + i])
  local old = tonumber(redis.call('GET', key) or '1')
  if n ~= old then
    redis.call('HINCRBY', stats_key, 'expanded', n - old)
  end
  redis.call('SET', key, n, 'EX', ttl)
end
return #KEYS - 1
