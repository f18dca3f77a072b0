-- Idempotent record upsert: the record, its indexes, the content-hash entry, the
-- near-duplicate cluster, the event, the counters and the input's outcome change together
-- or not at all.
-- KEYS: 1 outcome  2 record  3 by_published  4 by_source  5 sources  6 by_content_hash
--       7 record_events  8 stats  9 reply list ('' for none)  10 tombstones
--       11 neardup seq  12 neardup ids
-- ARGV: 1 record meta JSON without ingested_at/version/seen_in/cluster  2 id
--       3 content_hash  4 score  5 source  6 now (ISO, UTC)  7 outcome ttl
--       8 stream maxlen  9 input id  10 kind  11 old by_source key prefix
--       12 packed paragraphs  13 entry url ('' for none)  14 now (epoch seconds)
--       15 record key prefix  16 max seen_in entries  17 neardup key prefix
--       18 cluster key prefix  19 equal signature slots that make a near-duplicate
--       20 content_hash of the old version the change set was computed from ('' none)
--       21 paragraphs added  22 removed  23 changed (comma-separated indexes)
--       24 packed signature ('' none)  25 bands  26 rows per band  27 shard levels
--       (the last three: worker/text/bandspec.py)
-- Returns the outcome JSON, or {"stale": true} (nothing written) when the record exists
-- with content other than ARGV[20]: the caller computes the change set again and retries.
-- The record is stored as meta JSON, a newline, the packed paragraphs (schema version 2,
-- worker/storage/recordform.py); a version 1 record (one JSON object) is read as well.
-- A new id is a `duplicate` instead of a record when its id or content hash was pruned
-- (reason record.deleted: deletions stay deleted) or, for a feed entry, when another
-- record has the same content hash (reason record.same_content; that record's seen_in
-- gains this source and URL). seen_in is written once a story was seen in more than one
-- place (readers show a feed record without it as seen in its own source and URL); it is
-- always the last key of the meta JSON. Seeds have none.
local BUCKET_CAP = 4 -- record seqs kept per LSH bucket: the earliest, who decide clusters
local done = redis.call('GET', KEYS[1])
if done then return done end

local id, hash, score, source = ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local url = ARGV[13] ~= '' and ARGV[13] or nil
local version, ingested_at, event = 1, ARGV[6], 'created'
local seen = {{source = source, url = url}}
local old = redis.call('GET', KEYS[2])
local outcome, reason, result_id = nil, nil, id
local sig, min_slots = ARGV[24], tonumber(ARGV[19])
local nbands, rows = tonumber(ARGV[25]) or 0, tonumber(ARGV[26]) or 0
local cluster

local function tombstoned(member)
  local until_at = redis.call('ZSCORE', KEYS[10], member)
  return until_at and tonumber(until_at) > tonumber(ARGV[14])
end

local function add_seen(list, entry)
  for _, e in ipairs(list) do
    if e.source == entry.source and e.url == entry.url then return false end
  end
  if #list >= tonumber(ARGV[16]) then return false end
  table.insert(list, entry)
  return true
end

local function with_seen(body, list)
  if ARGV[10] ~= 'feed' or #list < 2 then return body .. '}' end
  return body .. ',"seen_in":' .. cjson.encode(list) .. '}'
end

local function split(raw)  -- the meta JSON, and what follows it (newline, packed text)
  local nl = string.find(raw, '\n', 1, true)
  if nl then return string.sub(raw, 1, nl - 1), string.sub(raw, nl) end
  return raw, ''
end

local function strip_seen(raw)
  local at = string.find(raw, ',"seen_in":[', 1, true)
  return at and string.sub(raw, 1, at - 1) or string.sub(raw, 1, -2)
end

--#include lsh.lua
local lsh = lsh_layout(ARGV[17], rows, ARGV[27])

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
  local rep_seq = redis.call('HGET', KEYS[12], cluster)
  if not rep_seq then return false end
  if rep_seq == seq_word then return true end  -- the candidate itself: already compared
  local rep = redis.call('GET', ARGV[17] .. rep_seq)
  return rep ~= false and near(rep)
end

-- The cluster of the earliest indexed record sharing a band and enough slots, with its
-- cluster's representative near as well, or nil. Buckets hold seqs, earliest first: a
-- bucket is read up to its first such near-duplicate, and a seq later than the best
-- found so far is not read at all.
local function nearest(buckets)
  local best, best_seq, tried = nil, math.huge, {}
  for _, list in ipairs(buckets) do
    if list ~= '' then
      for word in string.gmatch(list, '%d+') do
        local seq = tonumber(word)
        if seq >= best_seq then break end
        if not tried[seq] then
          tried[seq] = true
          local entry = redis.call('GET', ARGV[17] .. word)
          local cluster = entry and near(entry) and string.sub(entry, #sig + 1)
          if cluster and near_representative(cluster, word) then
            best, best_seq = cluster, seq
            break
          end
        end
      end
    end
  end
  return best
end

local function count(list)
  if list == '' then return 0 end
  return select(2, string.gsub(list, ' ', ' ')) + 1
end

-- File the new record under its seq: its entry, its id, its seq in each band's bucket at
-- the seq's level (a bucket holding BUCKET_CAP seqs at all levels together is full).
local function index(seq, cluster, values, shards, current, buckets)
  redis.call('SET', ARGV[17] .. seq, sig .. cluster)
  redis.call('HSET', KEYS[12], id, seq)
  for i = 1, nbands do
    if count(buckets[i]) < BUCKET_CAP then
      local mine = current[i]
      redis.call('HSET', shards[i], values[i], mine and (mine .. ' ' .. seq) or seq)
    end
  end
end

-- A new record's cluster: its nearest earlier near-duplicate's, else its own id. (A new
-- record has no entry yet: retention drops a record's entry with the record.)
local function assign_cluster()
  if sig == '' or nbands == 0 or #lsh.levels == 0 then return id end
  local seq = redis.call('INCR', KEYS[11])
  local top = lsh.level_of(seq)
  local values, shards, buckets, current = {}, {}, {}, {}
  for i = 1, nbands do
    local value, parts = lsh.band_value(sig, i - 1), {}
    values[i] = value
    for level = 1, top do  -- earlier levels hold earlier seqs: the lists stay in order
      local key = lsh.shard(level, i - 1, value)
      local list = redis.call('HGET', key, value)
      if list then parts[#parts + 1] = list end
      if level == top then shards[i], current[i] = key, list or nil end
    end
    buckets[i] = #parts == 1 and parts[1] or table.concat(parts, ' ')
  end
  local cluster = nearest(buckets) or id
  index(seq, cluster, values, shards, current, buckets)
  return cluster
end

if old then
  local prev = cjson.decode((split(old)))
  if prev.content_hash == hash then
    outcome = 'duplicate'
  elseif prev.content_hash ~= ARGV[20] then
    return cjson.encode({stale = true, id = id})
  else
    outcome, event = 'updated', 'updated'
    version, ingested_at = prev.version + 1, prev.ingested_at
    if type(prev.cluster) == 'string' then cluster = prev.cluster end
    if type(prev.seen_in) == 'table' and #prev.seen_in > 0 then
      seen = prev.seen_in
      add_seen(seen, {source = source, url = url})
    end
    if redis.call('HGET', KEYS[6], prev.content_hash) == id then
      redis.call('HDEL', KEYS[6], prev.content_hash)
    end
    if prev.source ~= source then
      redis.call('ZREM', ARGV[11] .. prev.source, id)
    end
  end
elseif tombstoned('id:' .. id) or tombstoned('hash:' .. hash) then
  outcome, reason = 'duplicate', 'record.deleted'
elseif ARGV[10] == 'feed' then
  local first = redis.call('HGET', KEYS[6], hash)
  local raw = first and redis.call('GET', ARGV[15] .. first)
  if raw then
    outcome, reason, result_id = 'duplicate', 'record.same_content', first
    local meta, rest = split(raw)
    local rec = cjson.decode(meta)
    local list = type(rec.seen_in) == 'table' and rec.seen_in or {}
    if #list == 0 then list = {{source = rec.source, url = rec.url}} end
    if add_seen(list, {source = source, url = url}) then
      redis.call('SET', ARGV[15] .. first, with_seen(strip_seen(meta), list) .. rest)
    end
  end
end
outcome = outcome or 'created'

if outcome ~= 'duplicate' then
  cluster = cluster or assign_cluster()
  local body = string.sub(ARGV[1], 1, -2) .. ',"cluster":' .. cjson.encode(cluster) ..
    ',"ingested_at":"' .. ingested_at .. '","version":' .. version
  redis.call('SET', KEYS[2], with_seen(body, seen) .. '\n' .. ARGV[12])
  redis.call('ZADD', KEYS[3], score, id)
  redis.call('ZADD', KEYS[4], score, id)
  -- A cluster's set is made when a second record joins it (with its first record).
  local members = ARGV[18] .. cluster
  if cluster ~= id then
    if redis.call('EXISTS', members) == 0 then
      local first_score = redis.call('ZSCORE', KEYS[3], cluster)
      if first_score then redis.call('ZADD', members, first_score, cluster) end
    end
    redis.call('ZADD', members, score, id)
  elseif outcome == 'updated' and redis.call('EXISTS', members) == 1 then
    redis.call('ZADD', members, score, id)  -- the first record of a cluster: a new score
  end
  redis.call('SADD', KEYS[5], source)
  redis.call('HSET', KEYS[6], hash, id)
  local fields = {'event', event, 'id', id, 'version', version, 'kind', ARGV[10],
    'source', source, 'content_hash', hash, 'at', ARGV[6],
    'clustered', cluster ~= id and cluster or ''}
  if event == 'updated' then
    for i, name in ipairs({'paragraphs_added', 'paragraphs_removed', 'paragraphs_changed'}) do
      fields[#fields + 1], fields[#fields + 2] = name, ARGV[20 + i]
    end
  end
  redis.call('XADD', KEYS[7], 'MAXLEN', '~', ARGV[8], '*', unpack(fields))
end
local counter = {created = 'records', updated = 'updates', duplicate = 'duplicates'}
redis.call('HINCRBY', KEYS[8], counter[outcome], 1)

local result = cjson.encode({outcome = outcome, id = result_id, input_id = ARGV[9],
  version = version, source = source, reason = reason})
redis.call('SET', KEYS[1], result, 'EX', ARGV[7])
if KEYS[9] ~= '' then
  redis.call('RPUSH', KEYS[9], result)
  redis.call('EXPIRE', KEYS[9], ARGV[7])
end
return result
