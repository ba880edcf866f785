-- Durable cancel. ARGV: prefix, events_max, task id, now (ms).
-- Marks the record, remembers the id in <P>:revoked (workers load it, so one started later
-- still skips the task) and moves a task that has not started straight to REVOKED.
-- Returns {outcome, state}: outcome is 'missing', 'finished', 'revoked' or 'running'.
local id, now = ARGV[3], ARGV[4]
local key = record_key(id)
local state = redis.call('HGET', key, 's')
if not state then return {'missing', ''} end
if FINISHED[state] then return {'finished', state} end
redis.call('HSET', key, 'cx', '1')
redis.call('ZADD', P .. ':revoked', now, id)
if state == 'STARTED' or state == 'PROGRESS' then return {'running', state} end
local attempt = tonumber(redis.call('HGET', key, 'a')) or 0
apply_event({id = id, state = 'REVOKED', attempt = attempt, at = now, set = {tf = now}},
            tonumber(ARGV[2]), 1)
return {'revoked', 'REVOKED'}
