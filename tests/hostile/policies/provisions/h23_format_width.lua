-- expect: script.error | width over 99
return string.format("%0999d", 1)
