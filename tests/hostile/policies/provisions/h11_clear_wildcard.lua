-- expect: script.timeout | budget exhausted
-- clear() with a huge wildcard pattern, over the whole data model
local p = ("*."):rep(5000) .. "*"
while true do clear(p) end
