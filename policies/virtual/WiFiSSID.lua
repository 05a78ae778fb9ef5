-- VirtualParameters.WiFiSSID: the first SSID under one name for TR-181 and
-- TR-098 devices; writable: set("VirtualParameters.WiFiSSID", "Home") sets
-- the real parameter.
local function path()
  local r = root()
  return r == "Device." and r .. "WiFi.SSID.1.SSID" or r .. "LANDevice.1.WLANConfiguration.1.SSID"
end

return {
  get = function() return refresh(path(), 3600).value end,
  set = function(v) set(path(), v) end,
}
