-- connreq_nat: reach a CPE that is behind NAT (docs/security.md ("Connection requests")).
--
-- UDP connection requests (TR-069 Annex G), with args.stun_host and
-- args.stun_port (acsd's --stun): the CPE keeps a STUN binding to acsd
-- alive, every args.keepalive seconds (default 30), under a username of its
-- own (its device id) and a random STUNPassword that acsd keeps sealed and
-- checks each binding request's MESSAGE-INTEGRITY with. Its
-- UDPConnectionRequestAddress gets active notification, and NATDetected is
-- read, so that acsd knows when HTTP cannot reach it.
--
-- XMPP connection requests (Annex K), with args.xmpp_domain (the XMPP
-- server's domain) and args.acs_jid (acsd's --xmpp-jid, bare: the only JID
-- the CPE takes connection requests from): connection 1 of the CPE's XMPP
-- client logs in as <serial>@<domain>/cwmp with the password it came with
-- from the factory (the deployment registered that account on the server;
-- XMPP.Connection.1.Password is left alone), and
-- ManagementServer.ConnReqXMPPConnection points at it, so the CPE reports
-- its ConnReqJabberID (active notification) and acsd can use it.
--
-- Without a secret_key_file there is nowhere to keep the STUN password:
-- STUN then runs without MESSAGE-INTEGRITY.
local args = ... or {}
local ms = root() .. "ManagementServer."
local sealed = select(2, secret(ms .. "STUNPassword")) ~= "no secret key"

if args.stun_host then
  set(ms .. "STUNServerAddress", args.stun_host)
  set(ms .. "STUNServerPort", tonumber(args.stun_port) or 3478)
  set(ms .. "STUNUsername", device.id)
  set(ms .. "STUNMinimumKeepAlivePeriod", tonumber(args.keepalive) or 30)
  if sealed and (not secret(ms .. "STUNPassword") or args.rotate) then
    set_secret(ms .. "STUNPassword", random_secret(24))
  end
  set(ms .. "STUNEnable", true)
  notify(ms .. "UDPConnectionRequestAddress", 2)
  refresh(ms .. "NATDetected", 0)
end

if args.xmpp_domain and args.acs_jid then
  local xc = root() .. "XMPP.Connection.1."
  ensure_instances(root() .. "XMPP.Connection.*", 1)
  set(xc .. "Domain", args.xmpp_domain)
  set(xc .. "Username", device.serial_number)
  set(xc .. "Resource", "cwmp")
  set(xc .. "Enable", true)
  set(ms .. "ConnReqAllowedJabberIDs", args.acs_jid)
  set(ms .. "ConnReqXMPPConnection", root() .. "XMPP.Connection.1")
  refresh(ms .. "ConnReqJabberID", 0)
end
commit()
