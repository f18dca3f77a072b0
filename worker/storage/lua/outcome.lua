-- An input's outcome, shared by upsert.lua, reject.lua and not_modified.lua (spliced in
-- where they say `--#include outcome.lua`, by worker/storage/scripts.py). The outcome is
-- written once per input: a redelivery finds it and returns it unchanged, so the activity
-- counters it bumps count each input once.

-- Seconds an hour of activity counters is kept: the last day, the current hour, and slack.
local ACTIVITY_TTL = 93600

-- The outcome already stored for the input, or nil (its first delivery).
local function stored_outcome(outcome_key)
  local done = redis.call('GET', outcome_key)
  return done or nil
end

-- Count the outcome in the hour's activity hash (activity_prefix + epoch hour, on Redis's
-- clock): '{epoch minute}:{outcome}', 'reason:{code}' of a rejection and 'source:{source}'
-- of a created record (docs/redis-layout.md).
local function count_activity(activity_prefix, fields)
  local minute = math.floor(tonumber(redis.call('TIME')[1]) / 60)
  local activity_key = activity_prefix .. string.format('%d', math.floor(minute / 60))
  redis.call('HINCRBY', activity_key, string.format('%d', minute) .. ':' .. fields.outcome, 1)
  if fields.outcome == 'rejected' then
    redis.call('HINCRBY', activity_key, 'reason:' .. fields.reason, 1)
  elseif fields.outcome == 'created' then
    redis.call('HINCRBY', activity_key, 'source:' .. fields.source, 1)
  end
  redis.call('EXPIRE', activity_key, ACTIVITY_TTL)
end

-- Store the outcome (expiring after ttl seconds), push it on the waiting run's reply list
-- ('' or the outcome key itself for none: on a cluster a script names keys of its own slot
-- only, and the caller pushes the reply), count it (see count_activity) and return its JSON.
local function write_outcome(outcome_key, reply_key, ttl, fields, activity_prefix)
  count_activity(activity_prefix, fields)
  local result = cjson.encode(fields)
  redis.call('SET', outcome_key, result, 'EX', ttl)
  if reply_key ~= '' and reply_key ~= outcome_key then
    redis.call('RPUSH', reply_key, result)
    redis.call('EXPIRE', reply_key, ttl)
  end
  return result
end
