-- wifi: WiFi settings from the device's tags, so that an operator changes
-- them with one API call (POST /api/v1/devices/{id}/tags
-- {"add": ["wifi:ssid=Home"]}) or for a whole query with a bulk action:
--   wifi:ssid=NAME          the SSID of the first SSID (TR-181) / WLAN (TR-098)
--   wifi:enable=true|false  that SSID on or off
--   wifi:channel=N|auto     the first radio's channel, or automatic
-- Only what differs from what the engine knows goes out (one
-- SetParameterValues); a device without wifi: tags costs nothing.
local want = {}
for _, t in ipairs(device.tags) do
  local k, v = t:match("^wifi:(%a+)=(.+)$")
  if k then want[k] = v end
end
if not next(want) then return end

local r = root()
local tr181 = r == "Device."
local ssid = tr181 and r .. "WiFi.SSID.1." or r .. "LANDevice.1.WLANConfiguration.1."
local radio = tr181 and r .. "WiFi.Radio.1." or ssid
if want.ssid then set(ssid .. "SSID", want.ssid) end
if want.enable == "true" or want.enable == "false" then set(ssid .. "Enable", want.enable == "true") end
if want.channel == "auto" then
  set(radio .. "AutoChannelEnable", true)
elseif tonumber(want.channel) then
  set(radio .. "AutoChannelEnable", false)
  set(radio .. "Channel", math.tointeger(tonumber(want.channel)), "xsd:unsignedInt")
end
commit()
log("info", "wifi", want.ssid or "", want.enable or "", want.channel or "")
