-- Apply a batch of lifecycle events. ARGV: prefix, events_max, runtime_window, runtime
-- bucket bounds (comma-separated, ascending, ending in +Inf), event JSON...
-- Returns one verdict per event (see apply_event).
local events_max, runtime_window = tonumber(ARGV[2]), tonumber(ARGV[3])
for bound in string.gmatch(ARGV[4], '[^,]+') do
  RUNTIME_BUCKETS[#RUNTIME_BUCKETS + 1] = {tonumber(bound) or math.huge, bound}
end
local verdicts = {}
for i = 5, #ARGV do
  verdicts[#verdicts + 1] = apply_event(cjson.decode(ARGV[i]), events_max, runtime_window)
end
return verdicts
