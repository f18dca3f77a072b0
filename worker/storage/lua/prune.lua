-- Delete records published before a cutoff, with their index entries, atomically per call.
-- A record updated since it was selected (new published date) is left alone. Each deleted
-- record leaves tombstones (its id and its content hash, until ARGV[6]) so that the entry,
-- still in its feed, is not created again, and a `deleted` event on the record stream.
-- KEYS: 1 by_published  2 by_content_hash  3 sources  4 stats  5 tombstones  6 record_events
-- ARGV: 1 cutoff score  2 no-date score  3 record key prefix  4 by_source key prefix
--       5 now (ISO, UTC)  6 tombstones expire at (epoch s)  7 stream maxlen  8.. record ids
local cutoff, nodate = tonumber(ARGV[1]), tonumber(ARGV[2])
local pruned = 0
for i = 8, #ARGV do
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
      redis.call('DEL', ARGV[3] .. id)
      redis.call('ZADD', KEYS[5], ARGV[6], 'id:' .. id, ARGV[6], 'hash:' .. rec.content_hash)
      redis.call('XADD', KEYS[6], 'MAXLEN', '~', ARGV[7], '*', 'event', 'deleted', 'id', id,
        'version', rec.version, 'kind', rec.kind, 'source', rec.source,
        'content_hash', rec.content_hash, 'reason', 'retention', 'at', ARGV[5])
    end
    redis.call('ZREM', KEYS[1], id)
    pruned = pruned + 1
  end
end
if pruned > 0 then
  redis.call('HINCRBY', KEYS[4], 'pruned', pruned)
end
return pruned
