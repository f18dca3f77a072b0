-- Delete records published before a cutoff, with their index entries, atomically per call.
-- A record updated since it was selected (new published date) is left alone. Each deleted
-- record leaves tombstones (its id and its content hash, until ARGV[6]) so that the entry,
-- still in its feed, is not created again, and a `deleted` event on the record stream; it
-- leaves its near-duplicate cluster and the LSH look-up index.
-- KEYS: 1 by_published  2 by_content_hash  3 sources  4 stats  5 tombstones  6 record_events
--       7 neardup ids
-- ARGV: 1 cutoff score  2 no-date score  3 record key prefix  4 by_source key prefix
--       5 now (ISO, UTC)  6 tombstones expire at (epoch s)  7 stream maxlen
--       8 neardup key prefix  9 cluster key prefix  10 bands  11 rows per band
--       12 shard levels (10-12: worker/text/bandspec.py)  13.. record ids
local cutoff, nodate = tonumber(ARGV[1]), tonumber(ARGV[2])
local pruned = 0

--#include lsh.lua
local lsh = lsh_layout(ARGV[8], tonumber(ARGV[11]), ARGV[12])

-- Drop a record's near-duplicate entry, its id, and its seq from each band's bucket.
local function forget_neardup(id)
  local seq = redis.call('HGET', KEYS[7], id)
  if not seq then return end
  redis.call('HDEL', KEYS[7], id)
  local entry = redis.call('GET', ARGV[8] .. seq)
  if not entry or #lsh.levels == 0 then return end
  local level = lsh.level_of(tonumber(seq))
  for b = 0, tonumber(ARGV[10]) - 1 do
    local value = lsh.band_value(entry, b)
    local key = lsh.shard(level, b, value)
    local list = redis.call('HGET', key, value)
    if list then
      local kept = {}
      for other in string.gmatch(list, '%d+') do
        if other ~= seq then kept[#kept + 1] = other end
      end
      if #kept == 0 then
        redis.call('HDEL', key, value)
      else
        redis.call('HSET', key, value, table.concat(kept, ' '))
      end
    end
  end
  redis.call('DEL', ARGV[8] .. seq)
end

for i = 13, #ARGV do
  local id = ARGV[i]
  local score = tonumber(redis.call('ZSCORE', KEYS[1], id))
  if score and score < cutoff and score > nodate then
    local raw = redis.call('GET', ARGV[3] .. id)
    if raw then
      local nl = string.find(raw, '\n', 1, true)  -- schema 2: meta JSON, newline, text
      local rec = cjson.decode(nl and string.sub(raw, 1, nl - 1) or raw)
      local by_source = ARGV[4] .. rec.source
      redis.call('ZREM', by_source, id)
      if redis.call('ZCARD', by_source) == 0 then
        redis.call('SREM', KEYS[3], rec.source)
      end
      if redis.call('HGET', KEYS[2], rec.content_hash) == id then
        redis.call('HDEL', KEYS[2], rec.content_hash)
      end
      if type(rec.cluster) == 'string' then
        redis.call('ZREM', ARGV[9] .. rec.cluster, id)
      end
      redis.call('DEL', ARGV[3] .. id)
      redis.call('ZADD', KEYS[5], ARGV[6], 'id:' .. id, ARGV[6], 'hash:' .. rec.content_hash)
      redis.call('XADD', KEYS[6], 'MAXLEN', '~', ARGV[7], '*', 'event', 'deleted', 'id', id,
        'version', rec.version, 'kind', rec.kind, 'source', rec.source,
        'content_hash', rec.content_hash, 'reason', 'retention', 'at', ARGV[5])
    end
    forget_neardup(id)
    redis.call('ZREM', KEYS[1], id)
    pruned = pruned + 1
  end
end
if pruned > 0 then
  redis.call('HINCRBY', KEYS[4], 'pruned', pruned)
end
return pruned
