-- expect: script.error | execute
-- the sandbox's os has the engine's clock only
os.execute("touch /tmp/owned")
