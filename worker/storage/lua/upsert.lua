-- Idempotent record upsert: the record, its indexes, the content-hash entry, the event,
-- the counters and the input's outcome change together or not at all.
-- KEYS: 1 outcome  2 record  3 by_published  4 by_source  5 sources  6 by_content_hash
--       7 record_events  8 stats  9 reply list ('' for none)
-- ARGV: 1 record meta JSON without ingested_at/version  2 id  3 content_hash  4 score
--       5 source  6 now (ISO, UTC)  7 outcome ttl  8 stream maxlen  9 input id
--       10 kind  11 old by_source key prefix  12 packed paragraphs
-- The record is stored as meta JSON, a newline, the packed paragraphs (schema version 2,
-- worker/storage/recordform.py); a version 1 record (one JSON object) is read as well.
local done = redis.call('GET', KEYS[1])
if done then return done end

local id, hash, score = ARGV[2], ARGV[3], ARGV[4]
local version, ingested_at, event = 1, ARGV[6], 'created'
local old = redis.call('GET', KEYS[2])
local outcome
if old then
  local nl = string.find(old, '\n', 1, true)
  local prev = cjson.decode(nl and string.sub(old, 1, nl - 1) or old)
  if prev.content_hash == hash then
    outcome = 'duplicate'
  else
    outcome, event = 'updated', 'updated'
    version, ingested_at = prev.version + 1, prev.ingested_at
    if redis.call('HGET', KEYS[6], prev.content_hash) == id then
      redis.call('HDEL', KEYS[6], prev.content_hash)
    end
    if prev.source ~= ARGV[5] then
      redis.call('ZREM', ARGV[11] .. prev.source, id)
    end
  end
else
  outcome = 'created'
end

if outcome ~= 'duplicate' then
  local body = string.sub(ARGV[1], 1, -2) ..
    ',"ingested_at":"' .. ingested_at .. '","version":' .. version .. '}\n' .. ARGV[12]
  redis.call('SET', KEYS[2], body)
  redis.call('ZADD', KEYS[3], score, id)
  redis.call('ZADD', KEYS[4], score, id)
  redis.call('SADD', KEYS[5], ARGV[5])
  redis.call('HSET', KEYS[6], hash, id)
  redis.call('XADD', KEYS[7], 'MAXLEN', '~', ARGV[8], '*', 'event', event, 'id', id,
    'version', version, 'kind', ARGV[10], 'source', ARGV[5], 'content_hash', hash,
    'at', ARGV[6])
end
local counter = {created = 'records', updated = 'updates', duplicate = 'duplicates'}
redis.call('HINCRBY', KEYS[8], counter[outcome], 1)

local result = cjson.encode({outcome = outcome, id = id, input_id = ARGV[9], version = version,
  source = ARGV[5]})
redis.call('SET', KEYS[1], result, 'EX', ARGV[7])
if KEYS[9] ~= '' then
  redis.call('RPUSH', KEYS[9], result)
  redis.call('EXPIRE', KEYS[9], ARGV[7])
end
return result
