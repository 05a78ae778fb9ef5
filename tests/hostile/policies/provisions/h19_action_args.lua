-- expect: script. | exhausted
-- one-shot actions with big arguments: JSON the engine builds
local big = ("u"):rep(1 << 19)
local i = 0
while true do
  i = i + 1
  pcall(download, {url = "http://x/" .. big .. i, file_type = "1 Firmware Upgrade Image", key = "k" .. i})
end
