-- expect: script.error | unknown global 'no_such_function'
no_such_function()
