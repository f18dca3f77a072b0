-- Idempotent "not modified" outcome of a feed fetch (HTTP 304): a duplicate, no record.
-- KEYS:
--   outcome_key    the input's outcome
--   stats_key      the counters
--   reply_key      the waiting run's reply list ('' for none)
-- ARGV:
--   input_id       the input
--   source         its source
--   outcome_ttl    seconds the outcome is kept
--   reason         the duplicate's reason code
--   activity_prefix  + epoch hour: that hour's activity counters
local outcome_key = KEYS[1]
local stats_key = KEYS[2]
local reply_key = KEYS[3]
local input_id = ARGV[1]
local source = ARGV[2]
local outcome_ttl = ARGV[3]
local reason = ARGV[4]
local activity_prefix = ARGV[5]

--#include outcome.lua
local done = stored_outcome(outcome_key)
if done then return done end

redis.call('HINCRBY', stats_key, 'duplicates', 1)
return write_outcome(outcome_key, reply_key, outcome_ttl,
  {outcome = 'duplicate', reason = reason, input_id = input_id, source = source},
  activity_prefix)
