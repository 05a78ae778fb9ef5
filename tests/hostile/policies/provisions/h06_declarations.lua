-- expect: script.memory | the engine's
-- declarations copy their strings with the host's allocator: counted now
local long = ("Device.X."):rep(100)
local i = 0
while true do
  i = i + 1
  declare(long .. i, {value = 1})
end
