-- expect: script.error | attempt to index
local x = nil
return x.y
