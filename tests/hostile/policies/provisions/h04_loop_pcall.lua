-- expect: script.timeout | budget exhausted
while true do pcall(function() while true do end end) end
