-- expect: script.timeout | budget exhausted
-- table.sort of long strings with embedded NULs
local t = {}
for i = 1, 64 do t[i] = ("\0"):rep(65536) .. string.char(i % 7) end
while true do
  local u = table.move(t, 1, 64, 1, {})
  table.sort(u)
end
