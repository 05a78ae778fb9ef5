-- expect: script.error | too many coroutines
while true do coroutine.wrap(function() end)() end
