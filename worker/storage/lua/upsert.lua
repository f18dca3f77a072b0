-- Idempotent record upsert: the record, its indexes, the content-hash entry, the
-- near-duplicate cluster, the event, the counters and the input's outcome change together
-- or not at all.
-- KEYS:
--   outcome_key           the input's outcome
--   record_key            the record
--   by_published_key      record ids by published score
--   by_source_key         the source's record ids
--   sources_key           every source name
--   by_content_hash_key   content_hash -> record id
--   record_events_key     the record stream
--   stats_key             the counters
--   reply_key             the waiting run's reply list ('' for none)
--   tombstones_key        tombstones of pruned records
--   neardup_seq_key       counter of records indexed for near-duplicates
--   neardup_ids_key       record id -> its near-duplicate seq
-- ARGV:
--   meta                  record meta JSON without ingested_at/version/seen_in/cluster
--   record_id             the record's id
--   content_hash          its content hash
--   score                 its published score
--   source                its source
--   now_iso               now (ISO, UTC)
--   outcome_ttl           seconds the outcome is kept
--   stream_maxlen         the stream's approximate cap
--   input_id              the input
--   kind                  the record's kind
--   by_source_prefix      + source: that source's index (the old source's, on a move)
--   packed_paragraphs     the packed paragraphs
--   entry_url             the entry's URL ('' for none)
--   now_epoch             now (epoch seconds)
--   record_prefix         + record id: a record
--   max_seen_in           most seen_in entries
--   neardup_prefix        + seq: a near-duplicate entry
--   cluster_prefix        + cluster id: its members
--   min_slots             equal signature slots that make a near-duplicate
--   base_hash             content_hash of the version the change set was computed from
--                         ('' none)
--   paragraphs_added      paragraphs added (comma-separated indexes)
--   paragraphs_removed    paragraphs removed
--   paragraphs_changed    paragraphs changed
--   signature             the packed signature ('' none)
--   bands                 bands per signature
--   rows                  rows per band
--   shard_fields          records per shard of a band (the last three:
--                         worker/text/bandspec.py)
--   neardup_shard_prefix  + band:shard: an LSH bucket shard
--   activity_prefix       + epoch hour: that hour's activity counters
--   decided               decide.lua's answer on a sharded store ('' on one shard: this
--                         script checks the tombstones and files the content hash and the
--                         near-duplicate entry itself; with an answer it touches none of
--                         those keys, and runs in the shard of the record it writes)
-- Returns the outcome JSON, or {"stale": true} (nothing written) when the record exists
-- with content other than base_hash: the caller computes the change set again and retries.
-- The record is stored as meta JSON, a newline, the packed paragraphs (schema version 2,
-- worker/storage/recordform.py).
-- A new id is a `duplicate` instead of a record when its id or content hash was pruned
-- (reason record.deleted: deletions stay deleted) or when another record has the same
-- content hash (reason record.same_content: a seed copied under another name, or a feed
-- entry, whose source and URL that record's seen_in gains). seen_in is written once a
-- story was seen in more than one
-- place (readers show a feed record without it as seen in its own source and URL); it is
-- always the last key of the meta JSON. Seeds have none.
local outcome_key = KEYS[1]
local record_key = KEYS[2]
local by_published_key = KEYS[3]
local by_source_key = KEYS[4]
local sources_key = KEYS[5]
local by_content_hash_key = KEYS[6]
local record_events_key = KEYS[7]
local stats_key = KEYS[8]
local reply_key = KEYS[9]
local tombstones_key = KEYS[10]
local neardup_seq_key = KEYS[11]
local neardup_ids_key = KEYS[12]
local meta = ARGV[1]
local record_id = ARGV[2]
local content_hash = ARGV[3]
local score = ARGV[4]
local source = ARGV[5]
local now_iso = ARGV[6]
local outcome_ttl = ARGV[7]
local stream_maxlen = ARGV[8]
local input_id = ARGV[9]
local kind = ARGV[10]
local by_source_prefix = ARGV[11]
local packed_paragraphs = ARGV[12]
local entry_url = ARGV[13]
local now_epoch = tonumber(ARGV[14])
local record_prefix = ARGV[15]
local max_seen_in = tonumber(ARGV[16])
local neardup_prefix = ARGV[17]
local cluster_prefix = ARGV[18]
local min_slots = tonumber(ARGV[19])
local base_hash = ARGV[20]
local paragraphs_added = ARGV[21]
local paragraphs_removed = ARGV[22]
local paragraphs_changed = ARGV[23]
local signature = ARGV[24]
local bands = tonumber(ARGV[25])
local rows = tonumber(ARGV[26])
local shard_fields = ARGV[27]
local neardup_shard_prefix = ARGV[28]
local activity_prefix = ARGV[29]
local decided = ARGV[30]

--#include outcome.lua
local done = stored_outcome(outcome_key)
if done then return done end

local id, hash = record_id, content_hash
local url = entry_url ~= '' and entry_url or nil
local version, ingested_at, event = 1, now_iso, 'created'
local seen = {{source = source, url = url}}
local old = redis.call('GET', record_key)
local outcome, reason, result_id = nil, nil, id
local sig, nbands = signature, bands
local cluster
local decision = decided ~= '' and cjson.decode(decided) or nil

local function tombstoned(member)
  local until_at = redis.call('ZSCORE', tombstones_key, member)
  return until_at and tonumber(until_at) > now_epoch
end

local function add_seen(list, entry)
  for _, e in ipairs(list) do
    if e.source == entry.source and e.url == entry.url then return false end
  end
  if #list >= max_seen_in then return false end
  table.insert(list, entry)
  return true
end

local function with_seen(body, list)
  if kind ~= 'feed' or #list < 2 then return body .. '}' end
  return body .. ',"seen_in":' .. cjson.encode(list) .. '}'
end

local function split(raw)  -- the meta JSON, and what follows it (newline, packed text)
  local nl = string.find(raw, '\n', 1, true)
  return string.sub(raw, 1, nl - 1), string.sub(raw, nl)
end

local function strip_seen(raw)
  local at = string.find(raw, ',"seen_in":[', 1, true)
  return at and string.sub(raw, 1, at - 1) or string.sub(raw, 1, -2)
end

--#include lsh.lua
local lsh = lsh_layout(neardup_shard_prefix, rows, shard_fields)

--#include nearest.lua

-- A new record's cluster: its nearest earlier near-duplicate's, else its own id. (A new
-- record has no entry yet: retention drops a record's entry with the record.)
local function assign_cluster()
  if sig == '' or nbands == 0 or lsh.fields < 1 then return id end
  return index_signature()
end

-- An input whose content the record `first` has (a feed entry, or a seed copied under
-- another name): a duplicate of it; for a feed entry, that record's seen_in gains this
-- source and URL. Without a record `first`, the input is stored as itself, unless `sure`
-- (decide.lua filed `first`: its record is on its way).
local function same_content(first, sure)
  local raw = first and redis.call('GET', record_prefix .. first)
  if raw and kind == 'feed' then
    local first_meta, rest = split(raw)
    local rec = cjson.decode(first_meta)
    local list = type(rec.seen_in) == 'table' and rec.seen_in or {}
    if #list == 0 then list = {{source = rec.source, url = rec.url}} end
    if add_seen(list, {source = source, url = url}) then
      redis.call('SET', record_prefix .. first, with_seen(strip_seen(first_meta), list) .. rest)
    end
  end
  if raw or sure then
    outcome, reason, result_id = 'duplicate', 'record.same_content', first
  end
end

if old then
  local prev = cjson.decode((split(old)))
  if prev.content_hash == hash then
    outcome = 'duplicate'
  elseif prev.content_hash ~= base_hash then
    return cjson.encode({stale = true, id = id})
  else
    outcome, event = 'updated', 'updated'
    version, ingested_at = prev.version + 1, prev.ingested_at
    if type(prev.cluster) == 'string' then cluster = prev.cluster end
    if type(prev.seen_in) == 'table' and #prev.seen_in > 0 then
      seen = prev.seen_in
      add_seen(seen, {source = source, url = url})
    end
    if not decision and redis.call('HGET', by_content_hash_key, prev.content_hash) == id then
      redis.call('HDEL', by_content_hash_key, prev.content_hash)
    end
    if prev.source ~= source then
      redis.call('ZREM', by_source_prefix .. prev.source, id)
    end
  end
elseif decision and decision.verdict == 'deleted' then
  outcome, reason = 'duplicate', 'record.deleted'
elseif decision and decision.verdict == 'same' then
  same_content(decision.owner, true)
elseif not decision and (tombstoned('id:' .. id) or tombstoned('hash:' .. hash)) then
  outcome, reason = 'duplicate', 'record.deleted'
elseif not decision then
  same_content(redis.call('HGET', by_content_hash_key, hash), false)
end
outcome = outcome or 'created'

if outcome ~= 'duplicate' then
  if decision then
    cluster = cluster or (decision.cluster ~= '' and decision.cluster or id)
  end
  cluster = cluster or assign_cluster()
  local body = string.sub(meta, 1, -2) .. ',"cluster":' .. cjson.encode(cluster) ..
    ',"ingested_at":"' .. ingested_at .. '","version":' .. version
  redis.call('SET', record_key, with_seen(body, seen) .. '\n' .. packed_paragraphs)
  redis.call('ZADD', by_published_key, score, id)
  redis.call('ZADD', by_source_key, score, id)
  -- A cluster's set is made when a second record joins it (with its first record).
  local members = cluster_prefix .. cluster
  if decision then  -- decide.lua keeps the cluster sets
  elseif cluster ~= id then
    if redis.call('EXISTS', members) == 0 then
      local first_score = redis.call('ZSCORE', by_published_key, cluster)
      if first_score then redis.call('ZADD', members, first_score, cluster) end
    end
    redis.call('ZADD', members, score, id)
  elseif outcome == 'updated' and redis.call('EXISTS', members) == 1 then
    redis.call('ZADD', members, score, id)  -- the first record of a cluster: a new score
  end
  redis.call('SADD', sources_key, source)
  if not decision then redis.call('HSET', by_content_hash_key, hash, id) end
  local fields = {'event', event, 'id', id, 'version', version, 'kind', kind,
    'source', source, 'content_hash', hash, 'at', now_iso,
    'clustered', cluster ~= id and cluster or ''}
  if event == 'updated' then
    local n = #fields
    fields[n + 1], fields[n + 2] = 'paragraphs_added', paragraphs_added
    fields[n + 3], fields[n + 4] = 'paragraphs_removed', paragraphs_removed
    fields[n + 5], fields[n + 6] = 'paragraphs_changed', paragraphs_changed
  end
  redis.call('XADD', record_events_key, 'MAXLEN', '~', stream_maxlen, '*', unpack(fields))
end
local counter = {created = 'records', updated = 'updates', duplicate = 'duplicates'}
redis.call('HINCRBY', stats_key, counter[outcome], 1)

return write_outcome(outcome_key, reply_key, outcome_ttl, {outcome = outcome, id = result_id,
  input_id = input_id, version = version, source = source, reason = reason}, activity_prefix)
