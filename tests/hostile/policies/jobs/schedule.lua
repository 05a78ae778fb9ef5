-- hostile: the schedule's table raises when the engine reads it (no session
-- at all: it aborted the process too)
local inner = setmetatable({}, {__index = function(_, k)
  error("schedule field " .. tostring(k))
end})
return {evil = inner}
