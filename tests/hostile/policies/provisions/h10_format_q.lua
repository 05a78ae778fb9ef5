-- expect: script.timeout | budget exhausted
local z = ("\0"):rep(200000)
while true do string.format("%q", z) end
