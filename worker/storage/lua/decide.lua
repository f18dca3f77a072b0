-- What a record's upsert does to the store-wide indexes, on a sharded store (more than
-- one shard): run in their own slot before upsert.lua runs in the record's shard, and
-- idempotent, so that a redelivery after a worker died between the two gets the same
-- answer. It checks the tombstones, finds another record with the same content (a feed
-- entry, or a seed copied under another name), files the content hash, and files a new record's signature in the
-- near-duplicate index (the one in upsert.lua, in its own slot: docs/redis-layout.md).
-- KEYS:
--   by_content_hash_key   content_hash -> record id
--   tombstones_key        tombstones of pruned records
--   neardup_seq_key       counter of records indexed for near-duplicates
--   neardup_ids_key       record id -> its near-duplicate seq
--   neardup_scores_key    record id -> its published score (for the cluster sets)
-- ARGV:
--   record_id             the record's id
--   content_hash          its content hash
--   prev_hash             content_hash of its stored version ('' none)
--   kind                  the record's kind
--   now_epoch             now (epoch seconds)
--   score                 its published score
--   neardup_prefix        + seq: a near-duplicate entry
--   cluster_prefix        + cluster id: its members
--   min_slots             equal signature slots that make a near-duplicate
--   signature             the packed signature ('' none)
--   bands                 bands per signature
--   rows                  rows per band
--   shard_fields          records per shard of a band (the last three:
--                         worker/text/bandspec.py)
--   neardup_shard_prefix  + band:shard: an LSH bucket shard
-- Returns JSON: {"verdict": "deleted"} (id or content pruned: a duplicate), {"verdict":
-- "same", "owner": id} (a feed entry whose content another record has), or {"verdict":
-- "own", "cluster": id or ""} (stored in its own shard; "" keeps its cluster or is its own).
local by_content_hash_key = KEYS[1]
local tombstones_key = KEYS[2]
local neardup_seq_key = KEYS[3]
local neardup_ids_key = KEYS[4]
local neardup_scores_key = KEYS[5]
local record_id = ARGV[1]
local content_hash = ARGV[2]
local prev_hash = ARGV[3]
local kind = ARGV[4]
local now_epoch = tonumber(ARGV[5])
local score = ARGV[6]
local neardup_prefix = ARGV[7]
local cluster_prefix = ARGV[8]
local min_slots = tonumber(ARGV[9])
local signature = ARGV[10]
local bands = tonumber(ARGV[11])
local rows = tonumber(ARGV[12])
local shard_fields = ARGV[13]
local neardup_shard_prefix = ARGV[14]

local id, hash, sig, nbands = record_id, content_hash, signature, bands
--#include lsh.lua
local lsh = lsh_layout(neardup_shard_prefix, rows, shard_fields)
--#include nearest.lua

local function tombstoned(member)
  local until_at = redis.call('ZSCORE', tombstones_key, member)
  return until_at and tonumber(until_at) > now_epoch
end

-- A record already indexed: its cluster, and its new score in the cluster's set.
local function indexed(seq)
  local entry = redis.call('GET', neardup_prefix .. seq) or ''
  local cluster = string.sub(entry, #sig + 1)
  if #sig == 0 or cluster == '' then return '' end
  redis.call('HSET', neardup_scores_key, id, score)
  redis.call('ZADD', cluster_prefix .. cluster, 'XX', score, id)
  return cluster
end

local function assign_cluster()
  local seq = redis.call('HGET', neardup_ids_key, id)
  if seq then return indexed(seq) end
  if prev_hash ~= '' or sig == '' or nbands == 0 or lsh.fields < 1 then return '' end
  local cluster = index_signature()
  redis.call('HSET', neardup_scores_key, id, score)
  if cluster ~= id then
    local members = cluster_prefix .. cluster
    if redis.call('EXISTS', members) == 0 then
      local first_score = redis.call('HGET', neardup_scores_key, cluster)
      if first_score then redis.call('ZADD', members, first_score, cluster) end
    end
    redis.call('ZADD', members, score, id)
  end
  return cluster
end

if prev_hash == '' then
  if tombstoned('id:' .. id) or tombstoned('hash:' .. hash) then
    return cjson.encode({verdict = 'deleted'})
  end
  local first = redis.call('HGET', by_content_hash_key, hash)
  if first and first ~= id then return cjson.encode({verdict = 'same', owner = first}) end
elseif prev_hash ~= hash and redis.call('HGET', by_content_hash_key, prev_hash) == id then
  redis.call('HDEL', by_content_hash_key, prev_hash)
end
redis.call('HSET', by_content_hash_key, hash, id)
return cjson.encode({verdict = 'own', cluster = assign_cluster()})
