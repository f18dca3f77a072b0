-- An input's outcome, shared by upsert.lua, reject.lua and not_modified.lua (spliced in
-- where they say `--#include outcome.lua`, by worker/storage/scripts.py). The outcome is
-- written once per input: a redelivery finds it and returns it unchanged.

-- The outcome already stored for the input, or nil (its first delivery).
local function stored_outcome(outcome_key)
  local done = redis.call('GET', outcome_key)
  return done or nil
end

-- Store the outcome (expiring after ttl seconds), push it on the waiting run's reply list
-- ('' or the outcome key itself for none: on a cluster a script names keys of its own slot
-- only, and the caller pushes the reply) and return its JSON.
local function write_outcome(outcome_key, reply_key, ttl, fields)
  local result = cjson.encode(fields)
  redis.call('SET', outcome_key, result, 'EX', ttl)
  if reply_key ~= '' and reply_key ~= outcome_key then
    redis.call('RPUSH', reply_key, result)
    redis.call('EXPIRE', reply_key, ttl)
  end
  return result
end
