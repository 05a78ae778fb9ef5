-- deploy/ha/prosody.cfg.lua: Prosody for XMPP connection requests (TR-069
-- Annex K). The compose stack mounts it as /etc/prosody/prosody.cfg.lua.
--
-- acsd logs in as one account on the ACS's domain and sends connection
-- requests to the CPEs' JIDs; CPEs log in to the same server (or a federated
-- one). For HA, run two or more Prosody nodes behind a TCP load balancer
-- (HAProxy "mode tcp" on 5222) with a shared SQL store (storage = "sql", the
-- PostgreSQL of the ACS or its own), so that accounts and rosters are the same
-- on every node; a client's session lives on one node and reconnects to any.
daemonize = false
pidfile = "/run/prosody/prosody.pid"
log = { { levels = { min = "info" }, to = "console" } }
admins = { }
modules_enabled = { "roster", "saslauth", "tls", "disco", "ping", "register", "posix" }
modules_disabled = { "s2s" }
allow_registration = false
c2s_require_encryption = false   -- set true with certificates (below) in production
authentication = "internal_hashed"
storage = "internal"
-- storage = "sql"
-- sql = { driver = "PostgreSQL", database = "prosody", username = "prosody",
--         password = "...", host = "pgbouncer" }
c2s_ports = { 5222 }
interfaces = { "*" }
VirtualHost "acs.example.net"
-- certificate = "/etc/prosody/certs/acs.example.net.crt"
-- key = "/etc/prosody/certs/acs.example.net.key"
