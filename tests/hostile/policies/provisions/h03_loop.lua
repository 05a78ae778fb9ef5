-- expect: script.timeout | budget exhausted
while true do end
