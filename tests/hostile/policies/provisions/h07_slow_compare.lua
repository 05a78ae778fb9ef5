-- expect: script.timeout | time budget exhausted
-- each '<' of these strings runs strcoll once per NUL: slow instructions
local a = ("\0"):rep(1 << 20)
a = a .. a .. a .. a
local b = a .. ""
while true do local _ = a < b end
