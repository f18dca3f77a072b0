-- The near-duplicate index's layout, shared by upsert.lua, decide.lua, prune.lua and
-- forget.lua (spliced in where they say `--#include lsh.lua`, by
-- worker/storage/scripts.py). Band i of a packed signature is 2 * rows bytes. The buckets
-- of band i live in small hashes, its shards, `shard_prefix .. i .. ':' .. n` (shard_prefix
-- is Keys.neardup_shard_prefix), band value -> seqs. A band has one shard per shard_fields
-- records indexed (at least one), counted by neardup_seq_key, and grows by linear hashing
-- (worker/text/bandspec.py): when the count makes shard n, the fields of one older shard
-- whose address is now n move there, so a shard holds shard_fields fields on average and
-- at most about twice that, and a look-up reads one shard per band at every size.
local function lsh_layout(shard_prefix, rows, shard_fields_arg)
  local layout = {fields = tonumber(shard_fields_arg) or 0}

  -- The shards a band has once `count` records were indexed.
  function layout.shards(count)
    return math.max(1, math.floor(count / layout.fields))
  end

  function layout.band_value(s, i)
    return string.sub(s, i * 2 * rows + 1, (i + 1) * 2 * rows)
  end

  local function hash(value)  -- the value's first 24 bits (signature bytes are uniform)
    local b1, b2, b3 = string.byte(value, 1, 3)
    return b1 * 65536 + b2 * 256 + b3
  end

  local low_n, low_p = 1, 1
  local function low_power(n)  -- the largest power of two <= n (the last one kept)
    if n ~= low_n then
      local p = 1
      while p * 2 <= n do p = p * 2 end
      low_n, low_p = n, p
    end
    return low_p
  end

  -- Linear hashing: with n shards, 2^k <= n < 2^(k+1), a value goes to hash mod 2^k,
  -- unless that shard was split already (below n - 2^k): then to hash mod 2^(k+1).
  local function address(value, n)
    local p = low_power(n)
    local h = hash(value)
    local a = h % p
    if a < n - p then a = h % (2 * p) end
    return a
  end

  -- The key of the shard that holds `value` of band i, among n shards.
  function layout.shard(i, value, n)
    return shard_prefix .. i .. ':' .. address(value, n)
  end

  -- After the count went from seq - 1 to seq: make the new shard of each band, if the
  -- count makes one, moving into it the fields whose address it is.
  function layout.grow(seq, bands)
    local n = layout.shards(seq - 1)
    if layout.shards(seq) == n then return end
    local p = low_power(n)
    local from = n - p  -- the shard that splits into itself and shard n
    for i = 0, bands - 1 do
      local source = shard_prefix .. i .. ':' .. from
      local all = redis.call('HGETALL', source)
      local moved, gone = {}, {}
      for j = 1, #all, 2 do
        if hash(all[j]) % (2 * p) == n then
          moved[#moved + 1], moved[#moved + 2] = all[j], all[j + 1]
          gone[#gone + 1] = all[j]
        end
      end
      if #gone > 0 then
        redis.call('HSET', shard_prefix .. i .. ':' .. n, unpack(moved))
        redis.call('HDEL', source, unpack(gone))
      end
    end
  end

  return layout
end
