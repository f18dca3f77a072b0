-- Dropping a record from the near-duplicate index, shared by prune.lua (one shard) and
-- forget.lua (a sharded store), spliced in where they say `--#include forget_neardup.lua`
-- by worker/storage/scripts.py. It works on the includer's locals: lsh (lsh.lua), bands,
-- neardup_seq_key, neardup_ids_key and neardup_prefix.

local forget_shards  -- the bands' shard count, read once: nothing is indexed meanwhile

-- Drop a record's near-duplicate entry, its id, and its seq from each band's bucket.
local function forget_neardup(id)
  local seq = redis.call('HGET', neardup_ids_key, id)
  if not seq then return end
  redis.call('HDEL', neardup_ids_key, id)
  local entry = redis.call('GET', neardup_prefix .. seq)
  if not entry or lsh.fields < 1 then return end
  forget_shards = forget_shards or lsh.shards(tonumber(redis.call('GET', neardup_seq_key)) or 0)
  for b = 0, bands - 1 do
    local value = lsh.band_value(entry, b)
    local key = lsh.shard(b, value, forget_shards)
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
  redis.call('DEL', neardup_prefix .. seq)
end
