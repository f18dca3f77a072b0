-- Delete records published before a cutoff, with their index entries, atomically per call.
-- A record updated since it was selected (new published date) is left alone. Each deleted
-- record leaves tombstones (its id and its content hash, until tombstones_until) so that
-- the entry, still in its feed, is not created again, and a `deleted` event on the record
-- stream; it leaves its near-duplicate cluster and the LSH look-up index.
-- The keys it learns at run time come from the key prefixes of worker/core/keys.py.
-- KEYS:
--   by_published_key      record ids by published score
--   by_content_hash_key   content_hash -> record id
--   sources_key           every source name
--   stats_key             the counters
--   tombstones_key        tombstones of pruned records
--   record_events_key     the record stream
--   neardup_seq_key       counter of records indexed for near-duplicates
--   neardup_ids_key       record id -> its near-duplicate seq
-- ARGV:
--   cutoff                records scored below it go
--   no_date_score         the score of a record without a date (kept)
--   record_prefix         + record id: a record
--   by_source_prefix      + source: that source's index
--   now_iso               now (ISO, UTC)
--   tombstones_until      tombstones expire at (epoch s)
--   stream_maxlen         the stream's approximate cap
--   neardup_prefix        + seq: a near-duplicate entry
--   cluster_prefix        + cluster id: its members
--   neardup_shard_prefix  + band:shard: an LSH bucket shard
--   bands                 bands per signature
--   rows                  rows per band
--   shard_fields          records per shard of a band (the last three:
--                         worker/text/bandspec.py)
--   store_wide            '1': also the content-hash index, the tombstones and the
--                         near-duplicate index (one shard); '': not (a sharded store:
--                         forget.lua did them first, and those three keys are unused)
--   record_ids...         the records to look at
local by_published_key = KEYS[1]
local by_content_hash_key = KEYS[2]
local sources_key = KEYS[3]
local stats_key = KEYS[4]
local tombstones_key = KEYS[5]
local record_events_key = KEYS[6]
local neardup_seq_key = KEYS[7]
local neardup_ids_key = KEYS[8]
local cutoff = tonumber(ARGV[1])
local no_date_score = tonumber(ARGV[2])
local record_prefix = ARGV[3]
local by_source_prefix = ARGV[4]
local now_iso = ARGV[5]
local tombstones_until = ARGV[6]
local stream_maxlen = ARGV[7]
local neardup_prefix = ARGV[8]
local cluster_prefix = ARGV[9]
local neardup_shard_prefix = ARGV[10]
local bands = tonumber(ARGV[11])
local rows = tonumber(ARGV[12])
local shard_fields = ARGV[13]
local store_wide = ARGV[14]
local record_ids_at = 15  -- ARGV[15..]: record_ids

local pruned = 0

--#include lsh.lua
local lsh = lsh_layout(neardup_shard_prefix, rows, shard_fields)

--#include forget_neardup.lua

for i = record_ids_at, #ARGV do
  local id = ARGV[i]
  local score = tonumber(redis.call('ZSCORE', by_published_key, id))
  if score and score < cutoff and score > no_date_score then
    local raw = redis.call('GET', record_prefix .. id)
    if raw then
      local nl = string.find(raw, '\n', 1, true)  -- meta JSON, newline, packed text
      local rec = cjson.decode(string.sub(raw, 1, nl - 1))
      local by_source = by_source_prefix .. rec.source
      redis.call('ZREM', by_source, id)
      if redis.call('ZCARD', by_source) == 0 then
        redis.call('SREM', sources_key, rec.source)
      end
      if store_wide == '1' then
        if redis.call('HGET', by_content_hash_key, rec.content_hash) == id then
          redis.call('HDEL', by_content_hash_key, rec.content_hash)
        end
        if type(rec.cluster) == 'string' then
          redis.call('ZREM', cluster_prefix .. rec.cluster, id)
        end
        redis.call('ZADD', tombstones_key, tombstones_until, 'id:' .. id,
          tombstones_until, 'hash:' .. rec.content_hash)
      end
      redis.call('DEL', record_prefix .. id)
      redis.call('XADD', record_events_key, 'MAXLEN', '~', stream_maxlen, '*', 'event',
        'deleted', 'id', id, 'version', rec.version, 'kind', rec.kind, 'source', rec.source,
        'content_hash', rec.content_hash, 'reason', 'retention', 'at', now_iso)
    end
    if store_wide == '1' then forget_neardup(id) end
    redis.call('ZREM', by_published_key, id)
    pruned = pruned + 1
  end
end
if pruned > 0 then
  redis.call('HINCRBY', stats_key, 'pruned', pruned)
end
return pruned
