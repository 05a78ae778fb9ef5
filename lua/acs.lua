-- lua/acs.lua: the standard library that policies build on.
--
-- acsd runs this chunk at the start of every session's policy run, in the
-- session's own environment, before any provision: the functions it
-- defines are globals of that session (a policy may shadow them for
-- itself; other sessions never see that). It is built on the engine's host
-- functions in the read-only `acs` table:
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
--
-- docs/policies.md is the manual; every function below has an example there.

local acs = acs

local function ms(t)
  -- declarations take times in seconds since the epoch (os.time() style);
  -- true means "now", a negative number "that many seconds ago"
  if t == nil or t == false then return nil end
  if t == true then return acs.now() end
  if type(t) ~= "number" then error("a time must be a number of seconds, true or nil", 3) end
  if t < 0 then return acs.now() + math.floor(t * 1000) end
  return math.floor(t * 1000)
end

local handle_mt = {}
handle_mt.__index = function(h, k)
  if k == "value" then
    local v = h:get()
    return v
  elseif k == "size" then
    local list = acs.read(rawget(h, "_id"))
    return list and #list or 0
  elseif k == "type" then
    local list = acs.read(rawget(h, "_id"))
    return list and list[1] and list[1].type
  end
  return handle_mt[k]
end

-- The first match's value, or nil and the CPE's error (a 9005 for a name the
-- CPE does not have becomes nil, "9005 Invalid parameter name").
function handle_mt.get(h)
  local list, err = acs.read(rawget(h, "_id"))
  if not list then return nil, err end
  local p = list[1]
  if not p then return nil, "no such parameter: " .. rawget(h, "path") end
  return p.value, nil, p.type
end

-- Every match: for name, value, type in h:each() do ... end
function handle_mt.each(h)
  local list = acs.read(rawget(h, "_id")) or {}
  local i = 0
  return function()
    i = i + 1
    local p = list[i]
    if p then return p.name, p.value, p.type end
  end
end

function handle_mt.list(h)
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

-- The device of the session (fleet jobs run outside any session: no device).
if acs.kind() == "session" then device = acs.device() end

-- Did this session's Inform carry the event? has_event("1 BOOT")
function has_event(code)
  for _, e in ipairs(device.events) do
    if e == code then return true end
  end
  return false
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
