-- expect: script. | exhausted
-- tags: a copy and a queued write each, and a scan of the tags so far
local i = 0
while true do
  i = i + 1
  tag("t" .. i)
end
