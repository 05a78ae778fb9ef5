-- expect: script.timeout | budget exhausted
-- a pattern item over a huge character set, tested at every position
local set = "[" .. ("\1\2\3"):rep(20000) .. "]"
local s = ("x"):rep(100)
while true do s:find(set) end
