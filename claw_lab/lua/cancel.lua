-- Durable cancel. ARGV: prefix, events_max, task id, now (ms).
-- Returns {outcome, state}: outcome is 'missing', 'finished', 'revoked' or 'running'
-- (see cancel_task).
local id, now = ARGV[3], ARGV[4]
local state = redis.call('HGET', record_key(id), 's')
if not state then return {'missing', ''} end
if FINISHED[state] then return {'finished', state} end
local outcome = cancel_task(id, state, now, tonumber(ARGV[2]))
if outcome == 'running' then return {'running', state} end
return {'revoked', 'REVOKED'}
