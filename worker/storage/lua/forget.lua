-- The store-wide part of pruning records on a sharded store, run before prune.lua deletes
-- them in their shard (a worker killed between the two leaves records that the next prune
-- selects again; both steps are idempotent): tombstones for each id and content hash, the
-- content-hash entry, the record's place in its near-duplicate cluster and in the LSH
-- look-up index.
-- KEYS:
--   by_content_hash_key   content_hash -> record id
--   tombstones_key        tombstones of pruned records
--   neardup_seq_key       counter of records indexed for near-duplicates
--   neardup_ids_key       record id -> its near-duplicate seq
--   neardup_scores_key    record id -> its published score
-- ARGV:
--   tombstones_until      tombstones expire at (epoch s)
--   neardup_prefix        + seq: a near-duplicate entry
--   cluster_prefix        + cluster id: its members
--   neardup_shard_prefix  + band:shard: an LSH bucket shard
--   bands                 bands per signature
--   rows                  rows per band
--   shard_fields          records per shard of a band (the last three:
--                         worker/text/bandspec.py)
--   records...            id, content hash, cluster id ('' none), for each record
local by_content_hash_key = KEYS[1]
local tombstones_key = KEYS[2]
local neardup_seq_key = KEYS[3]
local neardup_ids_key = KEYS[4]
local neardup_scores_key = KEYS[5]
local tombstones_until = ARGV[1]
local neardup_prefix = ARGV[2]
local cluster_prefix = ARGV[3]
local neardup_shard_prefix = ARGV[4]
local bands = tonumber(ARGV[5])
local rows = tonumber(ARGV[6])
local shard_fields = ARGV[7]
local records_at = 8  -- ARGV[8..]: records

--#include lsh.lua
local lsh = lsh_layout(neardup_shard_prefix, rows, shard_fields)

--#include forget_neardup.lua

for i = records_at, #ARGV, 3 do
  local id, hash, cluster = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  if redis.call('HGET', by_content_hash_key, hash) == id then
    redis.call('HDEL', by_content_hash_key, hash)
  end
  if cluster ~= '' then redis.call('ZREM', cluster_prefix .. cluster, id) end
  redis.call('ZADD', tombstones_key, tombstones_until, 'id:' .. id,
    tombstones_until, 'hash:' .. hash)
  forget_neardup(id)
  redis.call('HDEL', neardup_scores_key, id)
end
return (#ARGV - records_at + 1) / 3
