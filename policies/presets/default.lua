-- default presets: which provisions run for which devices, on which events.
-- A presets file returns a list of presets (or one preset table):
--   events       Inform event codes, any of which selects the session (none: every session)
--   precondition device fields, parameter values and tags that must all match
--   provisions   names under provisions/, or {name, args}
--   channel      the faults table's channel for these provisions
--   weight       heavier presets run first
return {
  {
    name = "bootstrap",
    events = {"0 BOOTSTRAP"},
    provisions = {"bootstrap", {"inform_interval", {interval = 300}}},
    channel = "bootstrap",
    weight = 100,
  },
  {
    name = "periodic refresh",
    events = {"1 BOOT", "2 PERIODIC"},
    provisions = {{"refresh", {max_age = 3600}}},
    channel = "refresh",
    weight = 10,
  },
}
