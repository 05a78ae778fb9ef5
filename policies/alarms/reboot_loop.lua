-- reboot_loop: more than 5 boots within an hour is a device that keeps
-- crashing; critical while it lasts, cleared after a quiet hour.
local boots = device.events_1h["1 BOOT"] or 0
alarm_if(boots > 5, "critical", boots .. " boots in the last hour")
