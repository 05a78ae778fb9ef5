-- bootstrap: a device that lost its state ("0 BOOTSTRAP") or is new.
-- Lists its whole data model once and reads the values a periodic session
-- relies on, so that later policies work from what the engine knows.
local r = root()
declare(r, {path = true})  -- GetParameterNames of the whole tree, NextLevel false
declare(r .. "DeviceInfo.", {value = true})
declare(r .. "ManagementServer.", {value = true})
commit()
log("info", "bootstrapped", device.id, "software", device.software_version)
