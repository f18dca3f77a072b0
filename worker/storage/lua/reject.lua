-- Idempotent rejection: stored once per input, with its event and counter.
-- KEYS:
--   outcome_key            the input's outcome
--   rejection_key          the rejection JSON
--   rejections_key         the rejections index (by rejected_at)
--   payload_key            the rejected input's bytes
--   rejection_events_key   the rejection stream
--   stats_key              the counters
--   reply_key              the waiting run's reply list ('' for none)
--   reasons_key            per-reason rejection counters
-- ARGV:
--   rejection              the rejection JSON
--   input_id               the input
--   rejected_at            when (epoch seconds)
--   payload                the input's bytes ('' for none)
--   outcome_ttl            seconds the outcome is kept
--   stream_maxlen          the stream's approximate cap
--   reason                 the rejection's reason code
--   source                 the input's source
--   rejected_at_iso        when (ISO, UTC)
--   count_input            '1' to count the input as enqueued too (no producer counted it)
--   activity_prefix        + epoch hour: that hour's activity counters
local outcome_key = KEYS[1]
local rejection_key = KEYS[2]
local rejections_key = KEYS[3]
local payload_key = KEYS[4]
local rejection_events_key = KEYS[5]
local stats_key = KEYS[6]
local reply_key = KEYS[7]
local reasons_key = KEYS[8]
local rejection = ARGV[1]
local input_id = ARGV[2]
local rejected_at = ARGV[3]
local payload = ARGV[4]
local outcome_ttl = ARGV[5]
local stream_maxlen = ARGV[6]
local reason = ARGV[7]
local source = ARGV[8]
local rejected_at_iso = ARGV[9]
local count_input = ARGV[10]
local activity_prefix = ARGV[11]

--#include outcome.lua
local done = stored_outcome(outcome_key)
if done then return done end

redis.call('SET', rejection_key, rejection)
redis.call('ZADD', rejections_key, rejected_at, input_id)
if payload ~= '' then
  redis.call('SET', payload_key, payload)
end
redis.call('XADD', rejection_events_key, 'MAXLEN', '~', stream_maxlen, '*', 'event', 'rejected',
  'input_id', input_id, 'reason', reason, 'source', source, 'at', rejected_at_iso)
redis.call('HINCRBY', stats_key, 'rejections', 1)
if count_input == '1' then
  redis.call('HINCRBY', stats_key, 'enqueued', 1)
end
redis.call('HINCRBY', reasons_key, reason, 1)

return write_outcome(outcome_key, reply_key, outcome_ttl,
  {outcome = 'rejected', reason = reason, input_id = input_id, source = source},
  activity_prefix)
