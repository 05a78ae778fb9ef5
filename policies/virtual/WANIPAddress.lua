-- VirtualParameters.WANIPAddress: the device's public IPv4 address under
-- one name for TR-181 and TR-098 devices, readable like any parameter
-- (GET /api/v1/devices/{id}, device queries) once a policy has read it.
-- TR-181: the first IPv4 address of an IP interface that is not private.
local function private(ip)
  return ip == "" or ip:match("^10%.") or ip:match("^192%.168%.") or ip:match("^127%.")
      or ip:match("^169%.254%.") or ip:match("^172%.1[6-9]%.") or ip:match("^172%.2%d%.")
      or ip:match("^172%.3[01]%.")
end

return {
  get = function()
    local r = root()
    if r == "InternetGatewayDevice." then
      return refresh(r .. "WANDevice.1.WANConnectionDevice.1.WANIPConnection.1.ExternalIPAddress",
                     3600).value or ""
    end
    for _, ip in refresh(r .. "IP.Interface.*.IPv4Address.*.IPAddress", 3600):each() do
      if not private(ip) then return ip end
    end
    return ""
  end,
}
