-- inform_interval: PeriodicInformInterval from args.interval (default 300 s),
-- and a PeriodicInformTime spread per device over the interval, so that a
-- fleet that rebooted together does not inform together.
local args = ... or {}
local interval = tonumber(args.interval) or 300
local r = root()
set(r .. "ManagementServer.PeriodicInformEnable", true)
set(r .. "ManagementServer.PeriodicInformInterval", interval, "xsd:unsignedInt")
local offset = math.floor(spread("inform") * interval)
set(r .. "ManagementServer.PeriodicInformTime", os.date("!%Y-%m-%dT%H:%M:%SZ", offset), "xsd:dateTime")
