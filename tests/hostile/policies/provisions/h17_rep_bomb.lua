-- expect: script.error | result too large
local s = ("x"):rep(1 << 20)
return s:rep(1 << 20)
