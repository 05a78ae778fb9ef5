-- cpu_high: CPU usage above 90 % in a periodic session (the value is read at
-- most every 10 minutes; the alarm clears when it drops).
if not has_event("2 PERIODIC") then return end
local cpu = refresh(root() .. "DeviceInfo.ProcessStatus.CPUUsage", 600)
local v = tonumber((cpu:get()))
if v then alarm_if(v > 90, "warning", "CPU at " .. v .. " %") end
