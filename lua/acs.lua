-- lua/acs.lua: the standard library that policies build on.
--
-- acsd runs this chunk once per policy generation, not per session: the
-- functions it defines are shared by every run of the generation, as
-- read-only globals (a policy may shadow them for itself; other sessions
-- never see that), and its tables are frozen. When one of its functions
-- runs, its globals are the calling run's: `device`, or a library function
-- a policy shadowed, are that session's. Nothing a session may change is
-- kept in an upvalue: what the library keeps per session lives in the
-- run's private table (run_state(), the chunk's argument). `device` is a
-- lazy global: built the first time a run reads it. It is built on the
-- engine's host functions in the read-only `acs` table:
--
--   acs.declare(path, value_at, path_at, value, type, instances, notification) -> id
--   acs.read(id)       -> list of {name, value, type, writable, object}, or nil, err;
--                         suspends the policy while the engine fetches what it lacks
--   acs.commit()       -> suspends until every declaration so far is carried out
--   acs.now()          -> the engine's clock, ms since the epoch
--   acs.device()       -> {id, oui, product_class, serial_number, manufacturer,
--                          software_version, hardware_version, events = {...},
--                          command_keys = {...}, tags = {...},
--                          events_1h = {[code] = n}, events_24h = {[code] = n}}
--   acs.log(level, message)
--   acs.kind()         -> "session" or "job"
--   acs.alarm(key, severity, message) / acs.alarm(key): raise / clear (alarm rules only)
--   acs.action(rpc, args, key) -> state, fault code, fault string: a one-shot action, once per key
--   acs.action_status(key) -> state, fault code, fault string, or nil
--   acs.tag(name, on)  -- adds (on) or removes a tag of the device
--   acs.clear(path)    -> n: forgets what the engine knows of path for this session
--   acs.virtual(name)  -> the function of virtual/NAME.lua, or nil
--   acs.virtual_store(name, value, type, writable): the computed value, kept as a parameter
--   acs.secret(name) -> value | nil, why;  acs.secret_set(name, value, decl);  acs.random_secret(n)
--
-- docs/policies.md is the manual; every function below has an example there.

local run_state = ...
local acs = acs
local type, error, tostring, setmetatable, rawget, ipairs = type, error, tostring, setmetatable, rawget, ipairs
local math, table = math, table

local function ms(t)
  -- declarations take times in seconds since the epoch (os.time() style);
  -- true means "now", a negative number "that many seconds ago"
  if t == nil or t == false then return nil end
  if t == true then return acs.now() end
  if type(t) ~= "number" then error("a time must be a number of seconds, true or nil", 3) end
  if t < 0 then return acs.now() + math.floor(t * 1000) end
  return math.floor(t * 1000)
end

-- Virtual parameters: VirtualParameters.NAME is computed by virtual/NAME.lua,
-- which returns {get = function() return value[, type] end[, set = function(value) end]}.
-- get() and set() may read and declare real parameters (they run in the
-- caller's coroutine); each is computed at most once per session.
local VP = "VirtualParameters."

-- the session's computed virtual parameters: name -> {rule, value, type}
local function vcache()
  local st = run_state()
  local c = st.vcache
  if not c then
    c = {}
    st.vcache = c
  end
  return c
end

local function xsd_of(v)
  if type(v) == "boolean" then return "xsd:boolean" end
  if math.type(v) == "integer" then return v < 0 and "xsd:int" or "xsd:unsignedInt" end
  return "xsd:string"
end

local function text_of(v)
  if type(v) == "boolean" then return v and "true" or "false" end
  return tostring(v)
end

local function virtual_rule(name)
  local cache = vcache()
  local vp = cache[name]
  if vp then return vp end
  local f = acs.virtual(name)
  if not f then error("no virtual parameter " .. VP .. name .. " (virtual/" .. name .. ".lua)", 4) end
  local rule = f()
  if type(rule) ~= "table" or type(rule.get) ~= "function" then
    error("virtual/" .. name .. ": must return {get = function() ... end[, set = ...]}", 4)
  end
  vp = {rule = rule}
  cache[name] = vp
  return vp
end

local function virtual_value(name)
  local vp = virtual_rule(name)
  if vp.value == nil then
    local v, t = vp.rule.get()
    if v == nil then return nil, "virtual parameter " .. VP .. name .. " has no value" end
    vp.value, vp.type = text_of(v), t or xsd_of(v)
    acs.virtual_store(name, vp.value, vp.type, vp.rule.set ~= nil)
  end
  return vp.value, nil, vp.type
end

local function virtual_set(name, v, vt)
  local vp = virtual_rule(name)
  if not vp.rule.set then error(VP .. name .. " is not writable (its rule has no set)", 3) end
  local cur = virtual_value(name)
  if cur ~= v then
    vp.rule.set(v)
    vp.value, vp.type = v, vt or vp.type or "xsd:string"
    acs.virtual_store(name, vp.value, vp.type, true)
  end
end

-- shared by every session's handles: protected (getmetatable(h) is false)
local handle_mt = {__metatable = false}
handle_mt.__index = function(h, k)
  if k == "value" then
    local v = h:get()
    return v
  elseif k == "size" then
    local list = h:list()
    return list and #list or 0
  elseif k == "type" then
    local list = h:list()
    return list and list[1] and list[1].type
  end
  return handle_mt[k]
end

-- The first match's value, or nil and the CPE's error (a 9005 for a name the
-- CPE does not have becomes nil, "9005 Invalid parameter name").
function handle_mt.get(h)
  local vname = rawget(h, "_virtual")
  if vname then return virtual_value(vname) end
  local list, err = acs.read(rawget(h, "_id"))
  if not list then return nil, err end
  local p = list[1]
  if not p then return nil, "no such parameter: " .. rawget(h, "path") end
  return p.value, nil, p.type
end

-- Every match: for name, value, type in h:each() do ... end
function handle_mt.each(h)
  local list = h:list() or {}
  local i = 0
  return function()
    i = i + 1
    local p = list[i]
    if p then return p.name, p.value, p.type end
  end
end

function handle_mt.list(h)
  local vname = rawget(h, "_virtual")
  if vname then
    local v, err, t = virtual_value(vname)
    if v == nil then return nil, err end
    return {{name = VP .. vname, value = v, type = t, writable = virtual_rule(vname).rule.set ~= nil,
             object = false}}
  end
  return acs.read(rawget(h, "_id"))
end

-- declare(path, timestamps, values)
--   timestamps: {value = T, path = T}: what the engine has must be at least
--     that recent (T in seconds since the epoch, true = now, -N = N s ago)
--   values: {value = V | {V, "xsd:type"}, path = N (instances), notification = N}
-- Returns a handle: h.value, h.size, h.type, h:get(), h:each(), h:list().
function declare(path, timestamps, values)
  if type(path) ~= "string" then error("declare: the path must be a string", 2) end
  timestamps = timestamps or {}
  values = values or {}
  local v, vt = values.value, nil
  if type(v) == "table" then v, vt = v[1], v[2] end
  if v ~= nil then
    if type(v) == "boolean" then
      vt = vt or "xsd:boolean"
      v = v and "true" or "false"
    elseif type(v) == "number" then
      if math.type(v) == "integer" then
        vt = vt or (v < 0 and "xsd:int" or "xsd:unsignedInt")
      end
      v = tostring(v)
    elseif type(v) ~= "string" then
      error("declare: a value must be a string, number or boolean", 2)
    end
  end
  if path:sub(1, #VP) == VP then
    local name = path:sub(#VP + 1)
    if v ~= nil then virtual_set(name, v, vt) end
    if timestamps.value then virtual_value(name) end -- computed (and stored) now
    return setmetatable({_virtual = name, path = path}, handle_mt)
  end
  local id = acs.declare(path, ms(timestamps.value), ms(timestamps.path), v, vt, values.path,
                         values.notification)
  return setmetatable({_id = id, path = path}, handle_mt)
end

-- Sugar over declare.
function refresh(path, max_age)  -- a value no older than max_age seconds (0: read it now)
  return declare(path, {value = acs.now() / 1000 - (max_age or 0)})
end

function set(path, value, xsd_type)
  if xsd_type then value = {value, xsd_type} end
  return declare(path, nil, {value = value})
end

function ensure_instances(path, n)
  return declare(path, {path = true}, {path = n})
end

function notify(path, level)
  return declare(path, nil, {notification = level})
end

-- Carries out every declaration made so far, now.
function commit()
  acs.commit()
end

function now()
  return acs.now() // 1000
end

local levels = {debug = true, info = true, warn = true, err = true}
function log(level, ...)
  if not levels[level] then return log("info", level, ...) end
  local parts = table.pack(...)
  for i = 1, parts.n do parts[i] = tostring(parts[i]) end
  acs.log(level, table.concat(parts, " ", 1, parts.n))
end


-- Did this session's Inform carry the event? has_event("1 BOOT")
function has_event(code)
  for _, e in ipairs(device.events) do
    if e == code then return true end
  end
  return false
end

-- Tags: added and removed in the store at once (and in device.tags).
function tag(name)
  acs.tag(name, true)
  if not has_tag(name) then device.tags[#device.tags + 1] = name end
end

function untag(name)
  acs.tag(name, false)
  for i = #device.tags, 1, -1 do
    if device.tags[i] == name then table.remove(device.tags, i) end
  end
end

-- Forgets what the engine knows of path (a parameter, a subtree "X.", or a
-- pattern) for the rest of the session: the next declaration reads it again.
function clear(path)
  return acs.clear(path)
end

function has_tag(tag)
  for _, t in ipairs(device.tags) do
    if t == tag then return true end
  end
  return false
end

-- A stable number in [0, 1) for this device and a salt: spreads devices over
-- a period (a maintenance window, an interval) without coordination.
function spread(salt)
  local s = tostring(salt or "") .. device.id
  local h = 2166136261
  for i = 1, #s do
    h = ((h ~ s:byte(i)) * 16777619) & 0xffffffff
  end
  return h / 4294967296.0
end

-- The data model root: "Device." (TR-181) or "InternetGatewayDevice." (TR-098).
function root()
  return device.root
end

-- Alarm rules (alarms/NAME.lua) raise and clear alarms of their own rule,
-- one per instance key (default ""): the engine keeps one row per device,
-- rule and key, with first/last seen and a count.
SEVERITIES = {critical = true, major = true, minor = true, warning = true, info = true}

function raise_alarm(severity, message, key)
  acs.alarm(key or "", severity, message or "")
end

function clear_alarm(key)
  acs.alarm(key or "")
end

-- The declarative form: raised while cond holds, cleared when it no longer does.
function alarm_if(cond, severity, message, key)
  if cond then raise_alarm(severity, message, key) else clear_alarm(key) end
end

-- One-shot actions, expressed as the state wanted: each happens once per
-- key (its CommandKey, at most 32 bytes), recorded as a task before it goes
-- out, so a crash or a retried session never repeats it. They return the
-- action's state: "done" (already true, or the task completed), "queued"
-- (asked for in this session: it goes out once the policies are done),
-- "pending"/"sent" (under way), or "fault"/"expired"/"cancelled"/"unknown",
-- with the fault code and string.
function action_status(key)
  return acs.action_status(key)
end

-- The device has booted since `since` (seconds since the epoch).
function reboot(since)
  since = math.floor(since or error("reboot: since when?", 2))
  if (device.last_boot or 0) >= since then return "done" end
  return acs.action("Reboot", nil, "reboot@" .. since)
end

-- The device has been reset to its factory defaults (and bootstrapped) since `since`.
function factory_reset(since)
  since = math.floor(since or error("factory_reset: since when?", 2))
  if (device.last_bootstrap or 0) >= since then return "done" end
  return acs.action("FactoryReset", nil, "reset@" .. since)
end

local function key_of(prefix, what)
  local k = prefix .. tostring(what)
  return #k <= 32 and k or k:sub(1, 32)
end

-- Firmware (or any file) installed: spec = {file = NAME (the file server's)
-- | url = URL, version = V (done once the device reports it), file_type =
-- "1 Firmware Upgrade Image", key = ..., delay = seconds, target = name,
-- username = ..., password = ...}.
function download(spec)
  if type(spec) ~= "table" or not (spec.file or spec.url) then
    error("download: {file = NAME} or {url = URL} expected", 2)
  end
  if spec.version and device.software_version == spec.version then return "done" end
  local key = spec.key or key_of("dl@", spec.version or spec.file or spec.url)
  -- a file of the file server: the engine fills in its URL, type, size and credentials
  local file_type = not spec.file and (spec.file_type or "1 Firmware Upgrade Image") or nil
  return acs.action("Download", {
    file = spec.file, URL = spec.url, FileType = file_type,
    DelaySeconds = spec.delay, TargetFileName = spec.target, Username = spec.username,
    Password = spec.password,
  }, key)
end

-- A file uploaded by the device once per key: spec = {url = URL, file_type =
-- "1 Vendor Configuration File", key = ..., username = ..., password = ...}.
function upload(spec)
  if type(spec) ~= "table" or not spec.url or not spec.key then
    error("upload: {url = URL, key = KEY} expected", 2)
  end
  return acs.action("Upload", {
    URL = spec.url, FileType = spec.file_type or "1 Vendor Configuration File",
    DelaySeconds = spec.delay, Username = spec.username, Password = spec.password,
  }, spec.key)
end

-- Secrets: values the CPE never shows again (passwords read back empty).
-- set_secret sends a SetParameterValues only when the value differs from the
-- one the engine keeps; once the CPE took it, the engine keeps it sealed
-- (device_secrets, never in the parameters table); the connection request
-- client uses the ManagementServer.ConnectionRequest* ones. secret(path)
-- returns the kept value, or nil and why.
function secret(path)
  return acs.secret(path)
end

function set_secret(path, value)
  if type(value) ~= "string" then error("set_secret: the value must be a string", 2) end
  if acs.secret(path) == value then return end
  local h = set(path, value, "xsd:string")
  acs.secret_set(path, value, rawget(h, "_id"))
  return h
end

-- n (default 20) random characters of [A-Za-z0-9], from the system's CSPRNG.
function random_secret(n)
  return acs.random_secret(n)
end

-- Lazy globals, built the first time a run reads them. The device of the
-- session (fleet jobs run outside any session: no device).
return {
  device = function()
    if acs.kind() == "session" then return acs.device() end
  end,
}
