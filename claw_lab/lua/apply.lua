-- Apply a batch of lifecycle events. ARGV: prefix, events_max, runtime_window, event JSON...
-- Returns one verdict per event (see apply_event).
local events_max, runtime_window = tonumber(ARGV[2]), tonumber(ARGV[3])
local verdicts = {}
for i = 4, #ARGV do
  verdicts[#verdicts + 1] = apply_event(cjson.decode(ARGV[i]), events_max, runtime_window)
end
return verdicts
