#!/usr/bin/env python3
"""HAProxy in front of two acsd (docs/operations.md, "Behind HAProxy"),
with the shipped deploy/haproxy/haproxy.cfg and PROXY protocol v2:

1. HAProxy's /ready checks bring both instances up; sessions of new CPEs
   are spread over both (the cookie's prefix names the server);
2. a CPE that reconnects mid-session (a new TCP connection, its cookie) is
   routed to the instance holding its session: its queued task comes back
   (another instance would answer the empty POST with 204);
3. the stored source_ip is the CPE's own address (127.0.0.77), not
   HAProxy's;
4. acsd with proxy-protocol on closes a connection that comes without a
   PROXY header;
5. with TLS on the CWMP listener too (a balancer passing TLS through), the
   PROXY v2 header comes before the handshake: a session over TLS stores
   the header's client address.

Exits 0, 1, or 77 (no PostgreSQL, Redis or HAProxy)."""
import os
import shutil
import socket
import ssl
import struct
import subprocess
import sys
import tempfile

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from coordtest import (Acsd, Conn, Cpe, Procs, Redis, check, device_id, free_port,  # noqa: E402
                       gpv_response, inform, pgtest, rpc_id, skip_unless_redis, wait_for,
                       wait_ready)
from acstest import format_request, run_tests  # noqa: E402

CFG = os.path.join(HERE, "..", "..", "deploy", "haproxy", "haproxy.cfg")
CLIENT = "127.0.0.77"  # the CPEs' address: not HAProxy's (127.0.0.1)


class Env:
    pg = hap = port = tmp = None
    acsd = []


class HAProxy:
    def __init__(self, tmp, env):
        self.logf = open(os.path.join(tmp, "haproxy.log"), "ab")
        self.path = os.path.join(tmp, "haproxy.log")
        e = dict(os.environ)
        e.update(env)
        self.proc = subprocess.Popen(["haproxy", "-db", "-f", CFG], env=e, stdout=self.logf,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def log(self):
        with open(self.path, "rb") as f:
            return f.read().decode(errors="replace")


def session(serial, reconnect=False, task=False):
    """One session through HAProxy from CLIENT; returns the server's cookie
    prefix. With reconnect, the empty POST comes on a new connection."""
    c = Cpe(Env.port, src=CLIENT)
    st, _, body = c.inform(serial)
    check(st == 200 and b"InformResponse" in body, "%s: Inform: %d %r" % (serial, st, body[:200]))
    check(c.cookie and "~" in c.cookie, "no server prefix in the cookie: %r" % c.cookie)
    prefix = c.cookie.split("=", 1)[1].split("~")[0]
    if reconnect:
        c.reconnect()
    st, _, body = c.post()
    if task:
        check(st == 200 and b"GetParameterValues" in body,
              "%s: after reconnecting (server %s): %d %r" % (serial, prefix, st, body[:200]))
        st, _, body = c.post(gpv_response(rpc_id(body), "Device.DeviceInfo.UpTime", "7"))
    check(st == 204, "%s: end: %d %r" % (serial, st, body[:200]))
    c.close()
    return prefix


def test_both_up():
    seen = set()

    def both():
        seen.add(session("HAUP%d" % len(seen)))
        return seen >= {"a1", "a2"}
    wait_for("sessions on both instances", both, 15, step=0.1)


def test_reconnect_routed_home():
    serials = ["HARC%d" % i for i in range(8)]
    for s in serials:
        session(s)  # the device exists
        Env.pg.psql("INSERT INTO tasks (device_id, rpc, args) VALUES ('%s', 'GetParameterValues', "
                    "'{\"ParameterNames\": [\"Device.DeviceInfo.UpTime\"]}')" % device_id(s))
    prefixes = {session(s, reconnect=True, task=True) for s in serials}
    check(prefixes == {"a1", "a2"}, "sessions were not spread: %r" % prefixes)
    done = Env.pg.psql("SELECT count(*) FROM tasks WHERE status = 'done' AND device_id LIKE "
                       "'00AA44-Box-HARC%'")
    check(done.strip() == "8", "tasks done: %r" % done)


def test_source_ip():
    rows = Env.pg.psql("SELECT DISTINCT host(source_ip) FROM devices")
    check(rows.strip() == CLIENT, "stored source addresses: %r" % rows)


def test_no_proxy_header_refused():
    a = Env.acsd[0]
    c = Conn(a.cwmp, timeout=5, host=a.host)
    c.send(format_request("POST", "/", {"Content-Type": "text/xml"}, b""))
    try:
        c.read_response(5)
        check(False, "an answer without a PROXY header")
    except EOFError:
        pass
    except Exception as e:
        check("closed" in str(e).lower() or isinstance(e, ConnectionError), "unexpected: %r" % e)
    c.close()
    wait_for("the refusal logged", lambda: "no PROXY protocol header" in a.log(), 5)


def test_tls_after_proxy_header():
    import tlscerts  # tests/lib (on the path through coordtest)
    d = os.path.join(Env.tmp, "pki")
    os.makedirs(d, exist_ok=True)
    pki = tlscerts.Pki(d)
    cert, key = pki.server("srv", serial=0x1001)
    a = Env.acsd[0]
    with Acsd(["--pg", Env.pg.dsn, "--files", "off", "--proxy-protocol", "on", "--tls", "cwmp",
               "--tls-cert", cert, "--tls-key", key]) as t:
        wait_ready(t)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.load_verify_locations(pki.ca)
        raw = socket.create_connection(("127.0.0.1", t.cwmp), timeout=10)
        addrs = (socket.inet_pton(socket.AF_INET, "198.51.100.23") +
                 socket.inet_pton(socket.AF_INET, "127.0.0.1") + struct.pack(">HH", 5555, t.cwmp))
        raw.sendall(b"\r\n\r\n\x00\r\nQUIT\n\x21\x11" + struct.pack(">H", len(addrs)) + addrs)
        c = Conn.__new__(Conn)
        c.sock, c.buf = ctx.wrap_socket(raw, server_hostname="localhost"), b""
        c.send(format_request("POST", "/", {"Content-Type": "text/xml"}, inform("TLSPX1")))
        st, _, body = c.read_response(10)
        check(st == 200 and b"InformResponse" in body, "Inform over TLS: %d %r" % (st, body[:200]))
        c.close()
        ip = Env.pg.psql("SELECT host(source_ip) FROM devices WHERE id = '%s'"
                         % device_id("TLSPX1"))
        check(ip.strip() == "198.51.100.23", "stored source_ip %r" % ip)
        t.signal()
        rc, _ = t.wait_exit(20)
        t.check_clean_exit(rc)
    check(a.running(), "acsd 1 stopped meanwhile")


def main():
    pgtest.skip_unless_available()
    skip_unless_redis()
    if not shutil.which("haproxy"):
        print("skipped: haproxy not installed (apt-get install haproxy)")
        sys.exit(77)
    procs = Procs()
    with tempfile.TemporaryDirectory(prefix="acs-haproxy-") as tmp:
        with pgtest.PgCluster(fast=True) as pg:
            Env.pg = pg
            Env.tmp = tmp
            try:
                redis = procs.add(Redis(tmp, "redis"))
                api_port = free_port()
                hosts = ["127.0.0.11", "127.0.0.12"]
                for i, h in enumerate(hosts):
                    cwmp = free_port()
                    a = Acsd(["--cwmp", "%s:%d" % (h, cwmp), "--api", "%s:%d" % (h, api_port),
                              "--pg", pg.dsn, "--files", "off", "--proxy-protocol", "on",
                              "--redis", "127.0.0.1:%d" % redis.port, "--instance-id",
                              "i%d" % (i + 1)], ports=False)
                    a.cwmp, a.api, a.host = cwmp, api_port, h
                    procs.add(a)
                    Env.acsd.append(a)
                for a in Env.acsd:
                    wait_ready(a, host=a.host)
                Env.port = free_port()
                Env.hap = procs.add(HAProxy(tmp, {
                    "ACSD_CWMP_BIND": "127.0.0.1:%d" % Env.port,
                    "ACSD1": "%s:%d" % (hosts[0], Env.acsd[0].cwmp),
                    "ACSD2": "%s:%d" % (hosts[1], Env.acsd[1].cwmp),
                    "ACSD3": "127.0.0.13:%d" % free_port(),  # not running: checked down
                    "ACSD_API_PORT": str(api_port),
                    # this machine allows 20,000 open files; HAProxy needs 2 x maxconn
                    "ACSD_HAPROXY_MAXCONN": "4000"}))
                run_tests([test_both_up, test_reconnect_routed_home, test_source_ip,
                           test_no_proxy_header_refused, test_tls_after_proxy_header],
                          [("acsd 1", Env.acsd[0]), ("acsd 2", Env.acsd[1]),
                           ("haproxy", Env.hap)], tail=3000)
                for a in Env.acsd:
                    a.signal()
                    rc, _ = a.wait_exit(20)
                    a.check_clean_exit(rc)
            finally:
                procs.close()
    print("ok", flush=True)
    sys.exit(0)


if __name__ == "__main__":
    main()
