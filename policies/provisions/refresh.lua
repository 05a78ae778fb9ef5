-- refresh: values no older than args.max_age seconds (default one hour).
-- All declarations first, then one commit: one GetParameterValues for all.
local args = ... or {}
local max_age = tonumber(args.max_age) or 3600
local r = root()
local uptime = refresh(r .. "DeviceInfo.UpTime", max_age)
refresh(r .. "DeviceInfo.SoftwareVersion", max_age)
refresh(r .. "ManagementServer.PeriodicInformInterval", max_age)
commit()
-- a virtual parameter (virtual/WANIPAddress.lua): stored, so that the API
-- and device queries see the public address of TR-181 and TR-098 devices
declare("VirtualParameters.WANIPAddress", {value = true})
local v, err = uptime:get()
if not v then log("warn", "no UpTime:", err) end
