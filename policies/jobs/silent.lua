-- silent: a device that has not informed for more than args.intervals of its
-- own PeriodicInformInterval gets a "major" alarm; its next Inform clears it.
local args = ... or {}
local intervals = tonumber(args.intervals) or 3
local names = {"Device.ManagementServer.PeriodicInformInterval",
               "InternetGatewayDevice.ManagementServer.PeriodicInformInterval"}
local now = os.time()
local after, silent = "", 0
repeat
  -- devices quiet for at least one minute, a page at a time
  local page = store.devices{silent_for = 60, after = after, limit = 500, params = names}
  for _, d in ipairs(page) do
    local interval = tonumber(d.params[names[1]] or d.params[names[2]]) or 86400
    if d.last_inform and now - d.last_inform > intervals * interval then
      silent = silent + 1
      job.alarm(d.id, "", "major", string.format("silent for %d s (%d x %d s)",
                now - d.last_inform, intervals, interval))
    end
    after = d.id
  end
until #page < 500
log("info", "silent devices:", silent)
