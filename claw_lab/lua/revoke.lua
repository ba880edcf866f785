-- Revokes that reached workers through Celery's own control path (Flower, `celery control
-- revoke`). ARGV: prefix, events_max, now (ms), task id...
-- Each id is made a durable cancel as `cancel.lua` makes it, unless it already is one
-- (claw-lab cancel, or a lost task whose redelivery the health check suppressed), is
-- unknown, or finished otherwise than REVOKED. A REVOKED record (the worker skipped or
-- terminated the task before this) is marked as cancelled. Returns the ids recorded.
local events_max, now = tonumber(ARGV[2]), ARGV[3]
local recorded = {}
for i = 4, #ARGV do
  local id = ARGV[i]
  local state = redis.call('HGET', record_key(id), 's')
  if state and not redis.call('ZSCORE', P .. ':revoked', id) then
    if state == 'REVOKED' then
      redis.call('HSET', record_key(id), 'cx', '1')
      redis.call('ZADD', P .. ':revoked', now, id)
      recorded[#recorded + 1] = id
    elseif not FINISHED[state] then
      cancel_task(id, state, now, events_max)
      recorded[#recorded + 1] = id
    end
  end
end
return recorded
