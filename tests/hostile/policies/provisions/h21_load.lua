-- expect: script.error | unknown global 'load'
-- no load, loadstring, dofile, require, debug: no bytecode either
return load("\27Lua")()
