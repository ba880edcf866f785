-- Enforce retention on the oldest buckets. ARGV: prefix, cutoff time, keep-above seq,
-- max buckets, after bucket ('' = from the oldest).
-- Deletes finished and LOST records submitted before the cutoff or with seq <= keep-above,
-- with their index entries and counts. Unfinished tasks are kept whatever their age.
-- Returns {removed, next bucket or ''}: '' once nothing older remains to look at.
local cutoff, keep_above, max_buckets = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local after = '-inf'
if ARGV[5] ~= '' then after = '(' .. ARGV[5] end
local removed = 0
local buckets = redis.call('ZRANGEBYSCORE', directory_key('all'), after, '+inf', 'LIMIT', 0, max_buckets)
for _, bucket in ipairs(buckets) do
  local members = redis.call('ZRANGE', bucket_key('all', bucket), 0, -1, 'WITHSCORES')
  for i = 1, #members, 2 do
    local id, seq = members[i], tonumber(members[i + 1])
    local key = record_key(id)
    local values = redis.call('HMGET', key, 's', 'n', 'q', 'ts')
    local state, name, queue = values[1], values[2], values[3] or ''
    if not state then
      index_remove('all', seq, id)
      redis.call('ZREM', prefix_key(id), id)
    else
      local submitted = tonumber(values[4]) or 0
      if submitted >= cutoff and seq > keep_above then return {removed, ''} end
      if FINISHED[state] or state == 'LOST' then
        index_remove('all', seq, id)
        index_remove('s:' .. state, seq, id)
        index_remove('n:' .. name, seq, id)
        index_remove('q:' .. queue, seq, id)
        redis.call('DEL', key)
        redis.call('ZREM', prefix_key(id), id)
        count_state(name, state, -1)
        redis.call('HINCRBY', P .. ':counts', 'q|' .. queue, -1)
        removed = removed + 1
      end
    end
  end
  if redis.call('EXISTS', bucket_key('all', bucket)) == 0 then
    redis.call('ZREM', P .. ':clock', bucket)
  end
end
if #buckets < max_buckets then return {removed, ''} end
return {removed, buckets[#buckets]}
