-- Store a finished task's result as Celery's Redis backend does (SET with its expiry,
-- PUBLISH for those waiting on it) and apply the task's transitions, in one call.
-- ARGV: prefix, events_max, runtime_window, result key, result (JSON), seconds to keep
-- it (0: no expiry), event JSON...
-- A result stored as SUCCESS already is kept: Celery's backend reads the key before each
-- write for that reason (a late duplicate must not overwrite a success); here the read
-- and the write are one step. Returns one verdict per event (see apply_event).
local events_max, runtime_window = tonumber(ARGV[2]), tonumber(ARGV[3])
local key, value, ttl = ARGV[4], ARGV[5], tonumber(ARGV[6])
local stored = redis.call('GET', key)
local decoded, meta = false, nil
if stored then decoded, meta = pcall(cjson.decode, stored) end
if not (decoded and type(meta) == 'table' and meta.status == 'SUCCESS') then
  if ttl > 0 then redis.call('SET', key, value, 'EX', ttl) else redis.call('SET', key, value) end
  redis.call('PUBLISH', key, value)
end
local verdicts = {}
for i = 7, #ARGV do
  verdicts[#verdicts + 1] = apply_event(cjson.decode(ARGV[i]), events_max, runtime_window)
end
return verdicts
