-- expect: script.timeout | time budget exhausted
-- slow concatenations (2 MiB each), under pcall
local a = ("x"):rep(1 << 20) .. ("y"):rep(1 << 20)
while true do pcall(function() local c = a .. a return #c end) end
