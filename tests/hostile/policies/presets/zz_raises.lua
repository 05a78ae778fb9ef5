-- hostile: a presets file whose table raises when the engine reads it (it
-- aborted the whole process: lua_getfield outside a protected call)
return setmetatable({}, {__index = function(_, k)
  error("raised reading " .. tostring(k))
end})
