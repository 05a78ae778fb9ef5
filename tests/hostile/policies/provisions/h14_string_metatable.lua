-- expect: script.error | read-only
string.upper = function() return "owned" end
