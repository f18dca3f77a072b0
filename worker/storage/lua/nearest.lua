-- The near-duplicate index's lookup and filing, shared by upsert.lua (one shard) and
-- decide.lua (a sharded store), spliced in where they say `--#include nearest.lua` by
-- worker/storage/scripts.py. It works on the includer's locals: id, sig, nbands,
-- min_slots, lsh (lsh.lua), neardup_prefix, neardup_seq_key and neardup_ids_key.

local BUCKET_CAP = 4 -- record seqs kept per LSH bucket: the earliest, who decide clusters

-- Whether at least min_slots of the 2-byte slots of two signatures are equal; it reads
-- 8 bytes (4 slots) at a time, without a table, and stops as soon as the answer is known.
-- A signature is a whole number of 8-byte chunks (worker/text/bandspec.py).
local mine  -- the new signature's bytes, read once
local function near(other)
  if #other < #sig or #sig % 8 ~= 0 then return false end
  mine = mine or {string.byte(sig, 1, -1)}
  local a, equal, left = mine, 0, #sig / 2
  for i = 1, #sig, 8 do
    local b1, b2, b3, b4, b5, b6, b7, b8 = string.byte(other, i, i + 7)
    if a[i] == b1 and a[i + 1] == b2 then equal = equal + 1 end
    if a[i + 2] == b3 and a[i + 3] == b4 then equal = equal + 1 end
    if a[i + 4] == b5 and a[i + 5] == b6 then equal = equal + 1 end
    if a[i + 6] == b7 and a[i + 7] == b8 then equal = equal + 1 end
    left = left - 4
    if equal >= min_slots then return true end
    if equal + left < min_slots then return false end
  end
  return false
end

-- Whether the new signature is near the cluster's representative, its first record
-- (whose id is the cluster's): membership rests on it, not on any member, so a chain of
-- records each near the last cannot pull an unrelated story in. A representative that
-- retention removed takes no new members.
local function near_representative(cluster, seq_word)
  local rep_seq = redis.call('HGET', neardup_ids_key, cluster)
  if not rep_seq then return false end
  if rep_seq == seq_word then return true end  -- the candidate itself: already compared
  local rep = redis.call('GET', neardup_prefix .. rep_seq)
  return rep ~= false and near(rep)
end

-- The cluster of the earliest indexed record sharing a band and enough slots, with its
-- cluster's representative near as well, or nil. The entries of every seq in the buckets
-- (at most bands * BUCKET_CAP) are read in one MGET, then tried earliest first.
local function nearest(buckets)
  local seqs, seen = {}, {}
  for _, list in ipairs(buckets) do
    for word in string.gmatch(list, '%d+') do
      if not seen[word] then
        seen[word] = true
        seqs[#seqs + 1] = tonumber(word)
      end
    end
  end
  if #seqs == 0 then return nil end
  table.sort(seqs)
  local names = {}
  for j, seq in ipairs(seqs) do names[j] = neardup_prefix .. seq end
  local entries = redis.call('MGET', unpack(names))
  for j, seq in ipairs(seqs) do
    local entry = entries[j]
    local cluster = entry and near(entry) and string.sub(entry, #sig + 1)
    if cluster and near_representative(cluster, tostring(seq)) then return cluster end
  end
  return nil
end

local function count(list)
  if list == '' then return 0 end
  return select(2, string.gsub(list, ' ', ' ')) + 1
end

-- File the new record under its seq: its entry, its id, and its seq in each band's bucket
-- that index_signature did not file it in already (a bucket holding BUCKET_CAP seqs is
-- full).
local function index(seq, cluster, values, shards, buckets, filed)
  redis.call('SET', neardup_prefix .. seq, sig .. cluster)
  redis.call('HSET', neardup_ids_key, id, seq)
  for i = 1, nbands do
    local list = buckets[i]
    if not filed[i] and count(list) < BUCKET_CAP then
      redis.call('HSET', shards[i], values[i], list .. ' ' .. seq)
    end
  end
end

-- File the record's signature under a new seq; returns the cluster of its nearest earlier
-- near-duplicate, else its own id. A band value no record had yet (most of them) is filed
-- at once by HSETNX, one call where a read and a write were two; an existing bucket is
-- read, and the seq appended once the look-up is done.
local function index_signature()
  local seq = redis.call('INCR', neardup_seq_key)
  lsh.grow(seq, nbands)
  local n = lsh.shards(seq)
  local values, shards, buckets, filed = {}, {}, {}, {}
  for i = 1, nbands do
    local value = lsh.band_value(sig, i - 1)
    local key = lsh.shard(i - 1, value, n)
    values[i], shards[i] = value, key
    filed[i] = redis.call('HSETNX', key, value, seq) == 1
    buckets[i] = filed[i] and '' or redis.call('HGET', key, value)
  end
  local cluster = nearest(buckets) or id
  index(seq, cluster, values, shards, buckets, filed)
  return cluster
end
