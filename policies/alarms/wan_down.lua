-- wan_down: a major alarm per IP interface that is enabled but not up.
-- TR-181 only (Device.IP.Interface.{i}.); cleared when the interface is up.
if root() ~= "Device." then return end
local enable = refresh("Device.IP.Interface.*.Enable", 600)
local status = refresh("Device.IP.Interface.*.Status", 600)
commit()
local enabled = {}
for name, value in enable:each() do
  enabled[name:match("^(.*%.)Enable$")] = value == "1" or value == "true"
end
for name, value in status:each() do
  local iface = name:match("^(.*%.)Status$")
  if enabled[iface] then
    alarm_if(value ~= "Up", "major", iface .. " is " .. tostring(value), iface)
  end
end
