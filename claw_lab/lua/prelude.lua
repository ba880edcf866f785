-- Shared by every registry script: the key layout and the lifecycle state machine.
-- ARGV[1] is always the key prefix. Only claw_lab.registry and these scripts know the keys.
-- claw_lab.registry puts RUNTIME_BOUNDS and RUNTIME_FIELDS, the histogram's bucket bounds
-- (seconds, ascending) and their field names, in front of this file.
--
--   <P>:t:<id>             hash   one task record (short field names, see registry.FIELDS)
--   <P>:seq                string sequence number given to each new record
--   <P>:i:<index>:<bucket> zset   members = task ids, score = seq; bucket = floor(seq / BUCKET)
--   <P>:d:<index>          zset   the non-empty buckets of an index (member = score = bucket)
--   <P>:clock              zset   bucket -> time of its first record, for time windows
--   <P>:counts             hash   n|NAME|STATE and q|QUEUE counters (totals by state are
--                                 their sums, added up when read)
--   <P>:m:<minute>         hash   per-minute transition counts (rates, last hour), expiring
--   <P>:rt:<name>          list   most recent runtimes of a task name, newest first; trimmed
--                                 to the window once it is RUNTIME_SLACK over (readers take the window)
--   <P>:events             stream lifecycle events, capped
--   <P>:revoked            zset   durable cancels, score = time of the cancel
--   <P>:h:<name>           hash   runtime histogram of a task name: one count per bucket
--                                 (field = its upper bound, not cumulative) and 'us', the
--                                 sum of the runtimes in microseconds
--   <P>:fin                hash   NAME|STATE -> tasks that finished so; never decremented
--   <P>:dead               list   undecodable broker messages set aside (JSON, newest first), capped
--   <P>:dead:n             string how many messages were ever set aside
--   <P>:x:<first 4 chars>  zset   task ids by their first four characters, score 0, for
--                                 prefix lookups by lexicographic range (small: a listpack)
--
-- Times (ts, tb, tf, event times, scores of clock and revoked) are integer milliseconds.
-- Indexes are "all", "s:<STATE>", "n:<NAME>" and "q:<QUEUE>". Buckets hold at most BUCKET
-- members, so each stays a compact listpack; that is what keeps a record under ~600 bytes.

local P = ARGV[1]
local BUCKET = 100
local FINISHED = {SUCCESS = true, FAILURE = true, REVOKED = true}
local RATED = {QUEUED = true, SUCCESS = true, FAILURE = true}  -- per-minute counts (rates)
local RANK = {QUEUED = 1, RETRY = 1, LOST = 1, STARTED = 2, PROGRESS = 3,
              SUCCESS = 9, FAILURE = 9, REVOKED = 9}
local WAITING = {QUEUED = true, RETRY = true}  -- the message waits in the broker
local RUNTIME_SLACK = 64  -- a runtime list is trimmed once per this many pushes, not on each

local function record_key(id) return P .. ':t:' .. id end
local function bucket_of(seq) return math.floor(tonumber(seq) / BUCKET) end
local function bucket_key(index, bucket) return P .. ':i:' .. index .. ':' .. bucket end
local function directory_key(index) return P .. ':d:' .. index end
local function prefix_key(id) return P .. ':x:' .. string.sub(id, 1, 4) end

local function index_add(index, seq, id)
  local bucket = bucket_of(seq)
  if redis.call('ZADD', bucket_key(index, bucket), seq, id) == 1 then
    redis.call('ZADD', directory_key(index), 'NX', bucket, bucket)
  end
end

local function index_remove(index, seq, id)
  local bucket = bucket_of(seq)
  local key = bucket_key(index, bucket)
  if redis.call('ZREM', key, id) == 1 and redis.call('EXISTS', key) == 0 then
    redis.call('ZREM', directory_key(index), bucket)
  end
end

local function count_state(name, state, delta)
  redis.call('HINCRBY', P .. ':counts', 'n|' .. name .. '|' .. state, delta)
end

local function count_minute(state, at)
  if not RATED[state] then return end
  local minute_key = P .. ':m:' .. math.floor(tonumber(at) / 60000)
  if redis.call('HINCRBY', minute_key, state, 1) == 1 then
    redis.call('EXPIRE', minute_key, 3900)
  end
end

-- One stream entry per event. An event may carry `via`: a state it passed through on the
-- way (a worker saw the task start and end within one flush); the entry keeps it in `v`
-- and readers show both transitions.
local function note_transitions(event, id, name, events_max)
  if event.via then
    redis.call('XADD', P .. ':events', 'MAXLEN', '~', events_max, '*',
               'id', id, 's', event.state, 'n', name, 't', event.at, 'v', event.via)
  else
    redis.call('XADD', P .. ':events', 'MAXLEN', '~', events_max, '*',
               'id', id, 's', event.state, 'n', name, 't', event.at)
  end
  count_minute(event.state, event.at)
end

-- HSET the fields of a table, plus any field/value pairs given after it, in one call.
local function set_fields(key, fields, ...)
  local flat = {...}
  for field, value in pairs(fields or {}) do
    flat[#flat + 1] = field
    flat[#flat + 1] = value
  end
  if #flat > 0 then redis.call('HSET', key, unpack(flat)) end
end

-- Write an event's note whatever the verdict, unless a later attempt's note is already
-- there: the error behind attempt 1's retry may be flushed after attempt 2's (field na).
local function write_note(key, note, attempt)
  if not note then return end
  local written = tonumber(redis.call('HGET', key, 'na'))
  if written and attempt < written then return end
  set_fields(key, note, 'na', attempt)
end

-- An accepted event wrote the error of run `attempt` itself (a final FAILURE): no retry
-- note of this run or an earlier one may replace it.
local function guard_error(key, set, attempt)
  if set and set.et then redis.call('HSET', key, 'na', attempt + 1) end
end

-- A task reached SUCCESS, FAILURE or REVOKED: monotonic counters by name and state, and
-- the runtime (seconds, a string; nil when unknown) in its recent list and its histogram.
local function record_finish(name, state, runtime, runtime_window)
  redis.call('HINCRBY', P .. ':fin', name .. '|' .. state, 1)
  if not runtime then return end
  local runtimes = P .. ':rt:' .. name
  if redis.call('LPUSH', runtimes, runtime) > runtime_window + RUNTIME_SLACK then
    redis.call('LTRIM', runtimes, 0, runtime_window - 1)
  end
  local seconds, field = tonumber(runtime), '+Inf'
  for i = 1, #RUNTIME_BOUNDS do
    if seconds <= RUNTIME_BOUNDS[i] then field = RUNTIME_FIELDS[i]; break end
  end
  local histogram = P .. ':h:' .. name
  redis.call('HINCRBY', histogram, field, 1)
  redis.call('HINCRBY', histogram, 'us', math.floor(seconds * 1e6 + 0.5))
end

-- Is moving from (current, current_attempt) to (state, attempt) a step forward?
-- Returns 'move', 'refresh' (same state again: update fields, count nothing) or 'reject'.
-- `expected` is the state the event's compare-and-set guard checked, if any: a task whose
-- message is gone from the broker (the health check) may go LOST while it waits.
local function decide(current, current_attempt, state, attempt, expected)
  if FINISHED[current] then return 'reject' end
  if state == 'LOST' then
    if current == 'STARTED' or current == 'PROGRESS' then return 'move' end
    if WAITING[current] and expected == current then return 'move' end
    return 'reject'
  end
  if FINISHED[state] then return 'move' end
  if attempt > current_attempt then return 'move' end
  if attempt < current_attempt then return 'reject' end
  if state == current then return 'refresh' end
  if RANK[state] > RANK[current] then return 'move' end
  return 'reject'
end

-- Apply one lifecycle event (a table decoded from JSON):
--   id, state, attempt, at          the transition and when it happened
--   init  {field = value}           static fields, set only where absent (name n, queue q, ...)
--   set   {field = value}           fields written when the event is accepted
--   via   state                     a state passed through on the way (see note_transitions)
--   note  {field = value}           written whatever the verdict (e.g. the error behind a retry,
--                                   whose signal can arrive after the next attempt started),
--                                   unless a later attempt's note was written (see write_note)
--   expect {field = value}          optional compare-and-set guard
--   rd    1                         the broker delivered the message again: count it (rd field)
-- Returns 1 (moved), 2 (refreshed), 0 (rejected) or -1 (unknown task and no name to create it).
local function apply_event(event, events_max, runtime_window)
  local id, state = event.id, event.state
  local attempt = tonumber(event.attempt) or 0
  local key = record_key(id)
  local current = redis.call('HMGET', key, 's', 'a', 'seq', 'n', 'q', 'w', 'p')
  local init = event.init or {}

  if event.expect then
    for field, value in pairs(event.expect) do
      if redis.call('HGET', key, field) ~= value then return 0 end
    end
  end

  if not current[1] then
    if not init.n then return -1 end
    local seq = redis.call('INCR', P .. ':seq')
    local name, queue = init.n, init.q or ''
    set_fields(key, init)
    write_note(key, event.note, attempt)
    set_fields(key, event.set, 's', state, 'a', attempt, 'seq', seq)
    guard_error(key, event.set, attempt)
    if event.rd then redis.call('HSET', key, 'rd', 1) end
    index_add('all', seq, id)
    index_add('s:' .. state, seq, id)
    index_add('n:' .. name, seq, id)
    index_add('q:' .. queue, seq, id)
    redis.call('ZADD', prefix_key(id), 0, id)
    redis.call('ZADD', P .. ':clock', 'NX', init.ts or event.at, bucket_of(seq))
    count_state(name, state, 1)
    redis.call('HINCRBY', P .. ':counts', 'q|' .. queue, 1)
    note_transitions(event, id, name, events_max)
    if FINISHED[state] then record_finish(name, state, (event.set or {}).rt, runtime_window) end
    return 1
  end

  local current_state, seq, name = current[1], current[3], current[4]
  local present = {n = current[4], q = current[5], p = current[7]}  -- read with the state
  for field, value in pairs(init) do
    if not present[field] then redis.call('HSETNX', key, field, value) end
  end
  write_note(key, event.note, attempt)
  if event.rd then redis.call('HINCRBY', key, 'rd', 1) end

  local verdict = decide(current_state, tonumber(current[2]) or 0, state, attempt, (event.expect or {}).s)
  -- The same attempt started by another worker: the first one died and the broker
  -- redelivered the message. Start over on the new worker; the old progress is void.
  local set = event.set or {}
  if state == 'STARTED' and (current_state == 'STARTED' or current_state == 'PROGRESS')
      and attempt == (tonumber(current[2]) or 0) and set.w and current[6] and set.w ~= current[6] then
    redis.call('HDEL', key, 'pc', 'pt', 'pm')
    verdict = current_state == 'STARTED' and 'refresh' or 'move'
  end
  if verdict == 'reject' then return 0 end
  if verdict == 'refresh' then
    set_fields(key, event.set)
    guard_error(key, event.set, attempt)
    return 2
  end

  set_fields(key, event.set, 's', state, 'a', attempt)
  guard_error(key, event.set, attempt)
  index_remove('s:' .. current_state, seq, id)
  index_add('s:' .. state, seq, id)
  count_state(name, current_state, -1)
  count_state(name, state, 1)
  note_transitions(event, id, name, events_max)
  if FINISHED[state] then record_finish(name, state, set.rt, runtime_window) end
  return 1
end

-- Cancel a task for good (claw-lab cancel, or a revoke sent through Celery's control):
-- mark the record, remember the id in <P>:revoked (workers load it, so one started later
-- still skips the task) and move a task that has not started straight to REVOKED.
-- `state` is the record's current state, not finished. Returns 'running' or 'revoked'.
local function cancel_task(id, state, now, events_max)
  redis.call('HSET', record_key(id), 'cx', '1')
  redis.call('ZADD', P .. ':revoked', now, id)
  if state == 'STARTED' or state == 'PROGRESS' then return 'running' end
  local attempt = tonumber(redis.call('HGET', record_key(id), 'a')) or 0
  apply_event({id = id, state = 'REVOKED', attempt = attempt, at = now, set = {tf = now}}, events_max, 1)
  return 'revoked'
end
