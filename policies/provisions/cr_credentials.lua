-- cr_credentials: connection request credentials of the device's own, so
-- that acsd can ask it to connect (POST .../tasks?connection_request=true).
-- The username is the serial number; the password is random, 24
-- characters, set once: CPEs read passwords back empty, so the engine keeps
-- it sealed (device_secrets, with the instance's secret_key_file) and its
-- connection requests use it. args.rotate = true sets a new one.
local args = ... or {}
local ms = root() .. "ManagementServer."
local pw, why = secret(ms .. "ConnectionRequestPassword")
if why == "no secret key" then
  log("debug", "cr_credentials: acsd has no secret_key_file; credentials left alone")
  return
end
set(ms .. "ConnectionRequestUsername", "acs-" .. device.serial_number)
if not pw or args.rotate then
  set_secret(ms .. "ConnectionRequestPassword", random_secret(24))
end
commit()
