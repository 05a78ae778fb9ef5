-- firmware: the device runs args.version, downloaded from the file server's
-- args.file (uploaded with `acsctl files upload`), at most args.attempts
-- times (default 3). Each attempt is a one-shot Download with its own key
-- (CommandKey "fw@VERSION#N"): recorded before it goes out, never repeated
-- by a retried session; the CPE's TransferComplete completes it (done, or a
-- fault with the CPE's FaultStruct), and the next attempt starts only after
-- a failed one. The device reports the new version in the Inform after its
-- reboot: then nothing is left to do.
local args = ... or {}
local version, file = args.version, args.file
if not version or not file then error("firmware: args.version and args.file are required") end
if device.software_version == version then return end

local t = device.transfer -- this session's TransferComplete, if any
if t and t.fault_code ~= 0 then
  log("warn", "firmware: transfer", t.command_key, "failed:", t.fault_code, t.fault_string)
end

local attempts = tonumber(args.attempts) or 3
for i = 1, attempts do
  local key = ("fw@%s#%d"):format(version, i):sub(1, 32)
  local state = action_status(key)
  if state == nil or state == "queued" or state == "pending" or state == "sent" or state == "done" then
    state = download{file = file, version = version, key = key}
    log("info", "firmware", version, "attempt", i, state)
    return
  end
end
log("warn", "firmware:", version, "failed", attempts, "times; not trying again")
