-- expect: script.timeout | budget exhausted
-- slow concatenations (4 MiB each, under pcall): the time slice, or the full
-- collections their garbage causes at the memory budget, stop it
local a = ("x"):rep(1 << 20) .. ("y"):rep(1 << 20)
while true do pcall(function() local c = a .. a return #c end) end
