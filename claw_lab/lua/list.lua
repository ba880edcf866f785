-- One page of records, newest first. ARGV: prefix, index, below_seq ('' = from the newest),
-- limit, since ('' = none), until ('' = none), state, name, queue ('' = any), scan budget,
-- then the record fields to return besides s, n, q and ts.
-- Returns {next_seq or '', record...}; each record is {id, seq, s, n, q, ts, value of each field...}.
-- next_seq is set when the page filled up or the scan budget ran out before the end.
local index, below, limit = ARGV[2], ARGV[3], tonumber(ARGV[4])
local since, till = tonumber(ARGV[5]), tonumber(ARGV[6])
local want_state, want_name, want_queue = ARGV[7], ARGV[8], ARGV[9]
local budget = tonumber(ARGV[10])
local rest = {}
for i = 11, #ARGV do rest[#rest + 1] = ARGV[i] end

local upper = '+inf'
if below ~= '' then upper = '(' .. below end
local high_bucket, low_bucket = '+inf', '-inf'
if below ~= '' then high_bucket = bucket_of(below) end
if till then
  local first = redis.call('ZREVRANGEBYSCORE', P .. ':clock', till, '-inf', 'WITHSCORES', 'LIMIT', 0, 1)
  if #first == 0 then return {''} end
  if high_bucket == '+inf' or tonumber(first[1]) < high_bucket then high_bucket = tonumber(first[1]) end
end
if since then
  local first = redis.call('ZREVRANGEBYSCORE', P .. ':clock', since, '-inf', 'WITHSCORES', 'LIMIT', 0, 1)
  if #first > 0 then low_bucket = tonumber(first[1]) end
end

local page, scanned = {''}, 0
local directory = directory_key(index)
local cursor_bucket = high_bucket
while true do
  local buckets = redis.call('ZREVRANGEBYSCORE', directory, cursor_bucket, low_bucket, 'LIMIT', 0, 16)
  if #buckets == 0 then return page end
  for _, bucket in ipairs(buckets) do
    local members = redis.call('ZREVRANGEBYSCORE', bucket_key(index, bucket), upper, '-inf', 'WITHSCORES')
    for i = 1, #members, 2 do
      local id, seq = members[i], members[i + 1]
      scanned = scanned + 1
      local key = record_key(id)
      -- Filters first, on four fields; the full row only for records that match.
      local head = redis.call('HMGET', key, 's', 'n', 'q', 'ts')
      local ts = tonumber(head[4])
      if head[1]
          and (want_state == '' or head[1] == want_state)
          and (want_name == '' or head[2] == want_name)
          and (want_queue == '' or head[3] == want_queue)
          and (not since or (ts and ts >= since))
          and (not till or (ts and ts <= till)) then
        local row = {id, seq, head[1], head[2], head[3] or false, head[4] or false}
        if #rest > 0 then
          local values = redis.call('HMGET', key, unpack(rest))
          for j = 1, #rest do row[#row + 1] = values[j] or false end
        end
        page[#page + 1] = row
        if #page - 1 >= limit then page[1] = seq; return page end
      end
      if scanned >= budget then page[1] = seq; return page end
    end
    upper = '+inf'
    cursor_bucket = '(' .. bucket
  end
end
