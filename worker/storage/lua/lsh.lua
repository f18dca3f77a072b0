-- The near-duplicate index's layout, shared by upsert.lua and prune.lua (spliced in where
-- they say `--#include lsh.lua`, by worker/storage/scripts.py). A record's seq is filed
-- under a level; band i of a packed signature is 2 * rows bytes; the bucket of a band
-- value at a level lives in a small hash, its shard, named by the level, the band and
-- the value's top bits (worker/text/bandspec.py): shard_prefix (Keys.neardup_shard_prefix)
-- then `{level}:{band}:{top}`, the layout worker/core/keys.py documents.
local function lsh_layout(shard_prefix, rows, levels_arg)
  local layout = {levels = {}}
  for last, bits in string.gmatch(levels_arg or '', '(%d+):(%d+)') do
    layout.levels[#layout.levels + 1] = {tonumber(last), tonumber(bits)}
  end

  function layout.level_of(seq)
    for n, level in ipairs(layout.levels) do
      if level[1] == 0 or seq <= level[1] then return n end
    end
    return #layout.levels
  end

  function layout.band_value(s, i)
    return string.sub(s, i * 2 * rows + 1, (i + 1) * 2 * rows)
  end

  function layout.shard(level, i, value)
    local b1, b2, b3 = string.byte(value, 1, 3)
    local top = math.floor((b1 * 65536 + b2 * 256 + b3) / 2 ^ (24 - layout.levels[level][2]))
    return shard_prefix .. level .. ':' .. i .. ':' .. top
  end

  return layout
end
