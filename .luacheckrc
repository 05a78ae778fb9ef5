-- luacheck configuration: the policy sandbox's globals (engine/script,
-- lua/acs.lua). Policies run in a per-session environment over a frozen,
-- read-only API: only these globals exist; everything else is an error.
-- what the sandbox hands out of Lua's own library (no io, os.execute,
-- package, require, debug, load, dofile, string.dump; collectgarbage is a
-- harmless wrapper)
local sandbox = {
  "assert", "error", "ipairs", "next", "pairs", "pcall", "xpcall", "select",
  "tonumber", "tostring", "type", "rawequal", "rawlen", "rawget", "rawset",
  "setmetatable", "getmetatable", "collectgarbage", "_VERSION",
  "math", "string", "table", "utf8", "coroutine",
  os = {fields = {"time", "clock", "date", "difftime"}},
}

-- the engine's host functions (read-only tables)
local host = {
  acs = {fields = {"declare", "read", "commit", "now", "log", "device", "alarm", "kind",
                   "action", "action_status", "tag", "clear", "virtual", "virtual_store",
                   "secret", "secret_set", "random_secret"}},
  store = {fields = {"devices"}},
  job = {fields = {"alarm"}},
}

-- the standard library (lua/acs.lua) defines these in every session
local stdlib = {
  "declare", "refresh", "set", "ensure_instances", "notify", "commit", "now", "log",
  "device", "has_event", "has_tag", "spread", "root",
  "SEVERITIES", "raise_alarm", "clear_alarm", "alarm_if",
  "tag", "untag", "clear", "action_status", "reboot", "factory_reset", "download", "upload",
  "secret", "set_secret", "random_secret",
}

local function merge(...)
  local out = {}
  for _, t in ipairs({...}) do
    for k, v in pairs(t) do
      if type(k) == "number" then out[#out + 1] = v else out[k] = v end
    end
  end
  return out
end

std = "none"
read_globals = merge(sandbox, host, stdlib)

files["lua/acs.lua"] = {
  read_globals = merge(sandbox, host),
  globals = stdlib, -- it defines them
}
