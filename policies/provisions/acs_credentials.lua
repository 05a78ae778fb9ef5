-- acs_credentials: the device's own credentials towards acsd
-- (ManagementServer.Username and .Password). On its first contact a device
-- authenticates with the fleet default or its factory credential (acsd's
-- cpe_auth_username/password, cpe_auth_factory_key_file); this sets a
-- random password of its own, once: the engine keeps both values sealed
-- (device_secrets) once the CPE took them, and from its next session on
-- acsd accepts only those (docs/security.md). args.rotate = true sets a new
-- password (the CPE uses it from its next session).
local args = ... or {}
local ms = root() .. "ManagementServer."
local pw, why = secret(ms .. "Password")
if why == "no secret key" then
  log("debug", "acs_credentials: acsd has no secret_key_file; credentials left alone")
  return
end
if not pw or args.rotate then
  set_secret(ms .. "Username", device.serial_number)
  set_secret(ms .. "Password", random_secret(24))
end
commit()
