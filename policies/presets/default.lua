-- default presets: which provisions run for which devices, on which events.
-- A presets file returns a list of presets (or one preset table):
--   events       Inform event codes, any of which selects the session (none: every session)
--   precondition device fields, parameter values and tags that must all match
--   provisions   names under provisions/, or {name, args}
--   channel      the faults table's channel for these provisions
--   weight       heavier presets run first
--   schedule     "CRON" or {cron = "CRON", window = SECONDS, spread = true | SECONDS}: only
--                inside the window after each time the cron expression (UTC) names
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
  {
    name = "connection request credentials",
    events = {"0 BOOTSTRAP", "1 BOOT", "2 PERIODIC"},
    provisions = {"cr_credentials"},
    channel = "credentials",
    weight = 50,
  },
  {
    -- the device's own credentials towards acsd (CPE authentication)
    name = "acs credentials",
    events = {"0 BOOTSTRAP", "1 BOOT", "2 PERIODIC"},
    provisions = {"acs_credentials"},
    channel = "acs_credentials",
    weight = 50,
  },
  {
    name = "wifi from tags",
    events = {"0 BOOTSTRAP", "1 BOOT", "2 PERIODIC", "6 CONNECTION REQUEST"},
    provisions = {"wifi"},
    channel = "wifi",
    weight = 5,
  },
  {
    -- devices tagged "upgrade" get the firmware below, at night (02:00-05:00
    -- UTC), each at its own time in the first two hours of the window
    name = "firmware",
    precondition = {tags = {"upgrade"}},
    schedule = {cron = "0 2 * * *", window = 3 * 3600, spread = 2 * 3600},
    provisions = {{"firmware", {version = "2.0.0", file = "gateway-2.0.0.bin"}}},
    channel = "firmware",
    weight = 1,
  },
  {
    -- a TransferComplete is handled whenever it comes
    name = "firmware transfer",
    events = {"7 TRANSFER COMPLETE"},
    precondition = {tags = {"upgrade"}},
    provisions = {{"firmware", {version = "2.0.0", file = "gateway-2.0.0.bin"}}},
    channel = "firmware",
    weight = 1,
  },
}
