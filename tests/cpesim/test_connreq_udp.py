#!/usr/bin/env python3
"""UDP connection requests (TR-069 Annex G) and one request per device across
instances, end to end with cpesim (stdlib only).

    ACS_BIN_DIR=build/bin python3 tests/cpesim/test_connreq_udp.py

A throwaway PostgreSQL, two acsd instances (A and B, each with the API) that
share one STUN port (--stun, SO_REUSEPORT), a secret key file, and the
example policy policies/provisions/connreq_nat.lua run at bootstrap: it
gives each device STUNEnable, the STUN server, a username (the device id), a
sealed STUNPassword and a 1 s keepalive. cpesim's three devices (prefix CU)
are "behind NAT": NATDetected true, and their ConnectionRequestURL points at
a closed port. Checked:

  - each device's binding reaches connreq_udp (authenticated: its
    MESSAGE-INTEGRITY verified with the sealed password), and each reports
    the same address as its UDPConnectionRequestAddress;
  - a raw binding request without USERNAME gets its XOR-MAPPED-ADDRESS; one
    with a device's username and a wrong MESSAGE-INTEGRITY gets 401 and
    changes nothing;
  - CU000001: a task with connection_request=true is done (200), transport
    "udp", HTTP skipped (NATDetected);
  - CU000003 with NATDetected false in the store: HTTP is tried, refused,
    then UDP: transport "udp", the detail names both;
  - acsd stops cleanly on SIGTERM (exit 0: no leak under the sanitizers);
  - CU000002: six concurrent asks, three through A and three through B: one
    request goes out, the other five say "coalesced"; a task that missed the
    session it brought asks again once the claim is gone, so every task is
    done and the device took one request per "accepted" outcome;
  - a bulk action with connection_request over the three devices while two
    API calls ask CU000001: every task done, each device took one request
    per "accepted" outcome;
  - cpesim ignores a forged request (wrong signature), a repeat of an id it
    took, and one whose ts is older than the last it took.

Exits 0 (pass), 1 (fail) or 77 (skipped: no PostgreSQL or no binaries).
"""
import hashlib
import hmac
import json
import os
import shutil
import socket
import struct
import sys
import threading
import time
import urllib.parse
import zlib

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..", "..")
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
sys.path.insert(0, HERE)
import simtest  # noqa: E402
from simtest import Fail, bin_path, check, free_port, http, run_test, wait_for  # noqa: E402

MS = "Device.ManagementServer."
PRESETS = """return {
  {
    name = "nat",
    events = {"0 BOOTSTRAP"},
    provisions = {{"connreq_nat", {stun_host = "127.0.0.1", stun_port = %d, keepalive = 1}}},
    channel = "nat",
  },
}
"""


def free_udp_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def stun_request(username=None, key=None, txid=None):
    """A Binding request (RFC 5389) with CONNECTION-REQUEST-BINDING."""
    txid = txid or os.urandom(12)
    attrs = b""
    if username:
        u = username.encode()
        attrs += struct.pack("!HH", 0x0006, len(u)) + u + b"\0" * (-len(u) % 4)
    attrs += struct.pack("!HH", 0xC001, 20) + b"dslforum.org/TR-111 "
    if key is not None:
        hdr = struct.pack("!HHI", 0x0001, len(attrs) + 24, 0x2112A442) + txid
        mac = hmac.new(key.encode(), hdr + attrs, hashlib.sha1).digest()
        attrs += struct.pack("!HH", 0x0008, 20) + mac
    return struct.pack("!HHI", 0x0001, len(attrs), 0x2112A442) + txid + attrs


def stun_answer(data):
    """(type, {attr: value}) of a STUN message."""
    t, n, _ = struct.unpack("!HHI", data[:8])
    attrs, off = {}, 20
    while off < 20 + n:
        at, al = struct.unpack("!HH", data[off:off + 4])
        attrs[at] = data[off + 4:off + 4 + al]
        off += 4 + al + (-al % 4)
    return t, attrs


def udpcr(host_port, ts, rid, un, cn, pw):
    sig = hmac.new(pw.encode(), (ts + rid + un + cn).encode(), hashlib.sha1).hexdigest().upper()
    return ("GET http://%s?ts=%s&id=%s&un=%s&cn=%s&sig=%s HTTP/1.1\r\nHost: %s\r\n\r\n" % (
        host_port, ts, rid, un, cn, sig, host_port)).encode()


class World(simtest.World):
    def __init__(self, pg, tmp):
        super().__init__(pg, tmp)
        self.key = os.path.join(tmp, "secret.key")
        simtest.write_key(self.key)
        tree = os.path.join(tmp, "policies")
        os.makedirs(os.path.join(tree, "presets"))
        os.makedirs(os.path.join(tree, "provisions"))
        shutil.copy(os.path.join(ROOT, "policies", "provisions", "connreq_nat.lua"),
                    os.path.join(tree, "provisions"))
        self.stun = free_udp_port()
        with open(os.path.join(tree, "presets", "default.lua"), "w") as f:
            f.write(PRESETS % self.stun)
        self.cwmp, self.api_a, self.api_b, self.cr = free_port(), free_port(), free_port(), free_port()
        common = ["--pg", pg.dsn, "--workers", "2", "--log-level", "info", "--secret-key-file",
                  self.key, "--connreq-username", "cr", "--connreq-password", "cpesim",
                  "--connreq-timeout-ms", "3000", "--stun", "127.0.0.1:%d" % self.stun]
        self.a = self.spawn(simtest.acsd_argv(self.cwmp, self.api_a, "--instance-id", "a",
                                              "--policies", tree, *common))
        simtest.wait_healthy(self.a, self.api_a, "acsd A")
        self.b = self.spawn([bin_path("acsd"), "--cwmp", "off", "--api",
                             "127.0.0.1:%d" % self.api_b, "--instance-id", "b"] + common)
        simtest.wait_healthy(self.b, self.api_b, "acsd B")
        self.token = simtest.create_token(pg.dsn, "operator", "udp-test")
        closed = free_port()
        self.sim = self.spawn([
            bin_path("cpesim"), "--count", "3", "--first", "1", "--duration", "600",
            "--periodic-interval", "3600", "--seed", "5", "--verbose", "--serial-prefix", "CU",
            "--acs", "http://127.0.0.1:%d/" % self.cwmp, "--cr-listen", "127.0.0.1:%d" % self.cr,
            "--set", MS + "ConnectionRequestUsername=cr",
            "--set", MS + "ConnectionRequestURL=http://127.0.0.1:%d/nat" % closed,
            "--set", MS + "NATDetected=true"])
        wait_for("cpesim's control port", lambda: self.sim.alive() and http(
            "GET", "http://127.0.0.1:%d/_sim/dev/CU000001/info" % self.cr)[0] == 200, 30)

    def task(self, api, dev, query="?connection_request=true&timeout=20"):
        body = {"rpc": "GetParameterValues",
                "args": {"ParameterNames": [MS + "PeriodicInformInterval"]}}
        st, text, _ = self.request("POST", "/api/v1/devices/%s/tasks%s" % (urllib.parse.quote(
            urllib.parse.quote(dev, safe=""), safe=""), query), body, port=api)
        return st, json.loads(text) if text else None

    def get_task(self, tid):
        st, text, _ = self.request("GET", "/api/v1/tasks/%d" % tid, port=self.api_a)
        check(st == 200, "GET task %d: %d %s" % (tid, st, text))
        return json.loads(text)

    def dev_id(self, s):
        st, body, _ = http("GET", "http://127.0.0.1:%d/_sim/dev/%s/info" % (self.cr, s))
        check(st == 200, "cpesim info %s: %d %s" % (s, st, body))
        return json.loads(body)["id"]

    def udp_requests(self, serial):
        return self.sim.log().count("%s: UDP connection request\n" % serial)


def run(w):
    devs = {s: w.dev_id(s) for s in ("CU000001", "CU000002", "CU000003")}
    # bootstrap ran the policy; the bindings arrive within a keepalive or two
    wait_for("three authenticated bindings", lambda: w.sql(
        "SELECT count(*) FROM connreq_udp WHERE authenticated") == "3", 40, 0.2)
    rows = w.sql("SELECT device_id || ' ' || address || ' ' || stun_username FROM connreq_udp "
                 "ORDER BY 1").splitlines()
    for line in rows:
        dev, addr, user = line.split(" ")
        check(dev == user and addr.startswith("127.0.0.1:"), "binding row %r" % line)
    sealed = w.sql("SELECT count(*) FROM device_secrets WHERE name = '%sSTUNPassword'" % MS)
    check(sealed == "3", "STUNPassword sealed for 3 devices, not %s" % sealed)
    # the devices report the mapped address too (active notification, set by
    # the policy): the fallback when no binding row is known
    wait_for("UDPConnectionRequestAddress reported", lambda: w.sql(
        "SELECT count(*) FROM parameters p JOIN connreq_udp u USING (device_id) WHERE p.name = "
        "'%sUDPConnectionRequestAddress' AND p.value = u.address" % MS) == "3", 20, 0.2)
    yield "bindings of 3 devices recorded, MESSAGE-INTEGRITY verified with sealed passwords; UDPConnectionRequestAddress reported"

    # raw STUN: a plain binding request, then a device's username with a wrong key
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(5)
    s.bind(("127.0.0.1", 0))
    s.sendto(stun_request(), ("127.0.0.1", w.stun))
    t, attrs = stun_answer(s.recv(2048))
    check(t == 0x0101 and 0x0020 in attrs, "plain binding: type %x attrs %r" % (t, attrs))
    xport = struct.unpack("!H", attrs[0x0020][2:4])[0] ^ 0x2112
    xip = bytes(a ^ b for a, b in zip(attrs[0x0020][4:8], b"\x21\x12\xa4\x42"))
    check((socket.inet_ntoa(xip), xport) == s.getsockname(),
          "XOR-MAPPED-ADDRESS %s:%d, socket %r" % (socket.inet_ntoa(xip), xport, s.getsockname()))
    before = w.sql("SELECT address FROM connreq_udp WHERE device_id = '%s'" % devs["CU000001"])
    s.sendto(stun_request(devs["CU000001"], "not-the-password"), ("127.0.0.1", w.stun))
    t, attrs = stun_answer(s.recv(2048))
    code = attrs.get(0x0009, b"\0\0\0\0")
    check(t == 0x0111 and code[2] * 100 + code[3] == 401, "wrong MI: type %x %r" % (t, attrs))
    time.sleep(0.3)
    after = w.sql("SELECT address FROM connreq_udp WHERE device_id = '%s'" % devs["CU000001"])
    check(before == after, "a refused binding moved the address: %s -> %s" % (before, after))
    yield "STUN: XOR-MAPPED-ADDRESS answered; wrong MESSAGE-INTEGRITY gets 401, nothing recorded"

    # NATDetected true: HTTP skipped, UDP
    wait_for("NATDetected stored", lambda: w.sql(
        "SELECT count(*) FROM parameters WHERE name = '%sNATDetected' AND value = 'true'" % MS)
        == "3", 20, 0.2)
    st, t1 = w.task(w.api_a, devs["CU000001"])
    cr = t1["result"]["connection_request"]
    check(st == 200 and t1["status"] == "done", "CU000001: %d %r" % (st, t1))
    check(cr["status"] == "accepted" and cr["transport"] == "udp" and "http" not in cr["detail"],
          "CU000001 connection_request %r" % cr)
    check(w.udp_requests("CU000001") == 1, "CU000001 took %d UDP requests (sent 3 times, one "
          "taken)" % w.udp_requests("CU000001"))
    yield "NAT: task done through UDP (%s)" % cr["detail"]

    # HTTP first when the store says no NAT: refused, then UDP
    w.sql("UPDATE parameters SET value = 'false' WHERE device_id = '%s' AND name = "
          "'%sNATDetected'" % (devs["CU000003"], MS))
    st, t3 = w.task(w.api_b, devs["CU000003"])
    cr = t3["result"]["connection_request"]
    check(st == 200 and t3["status"] == "done", "CU000003: %d %r" % (st, t3))
    check(cr["transport"] == "udp" and cr["detail"].startswith("http: ") and "; udp: " in
          cr["detail"] and cr["http_status"] is None, "CU000003 connection_request %r" % cr)
    yield "fallback: HTTP refused, then UDP (%s)" % cr["detail"]

    # six at once, through both instances: one request
    results = [None] * 6

    def ask(i):
        results[i] = w.task(w.api_a if i % 2 == 0 else w.api_b, devs["CU000002"])

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    statuses = sorted(r[1]["result"]["connection_request"]["status"] for r in results)
    check(statuses == ["accepted"] + ["coalesced"] * 5, "six asks: %r" % statuses)
    details = [r[1]["result"]["connection_request"]["detail"] for r in results]
    check(any("claimed by another instance" in d for d in details),
          "no ask was coalesced through the store's claim: %r" % details)
    for _, t in results:
        wait_for("task %d done" % t["id"], lambda: w.get_task(t["id"])["status"] == "done", 20)
    time.sleep(1.0)  # the datagrams' repeats are all in
    # A task created a moment after the session read the device's tasks
    # misses it: once the claim is gone, such a task asks again (a follow-up,
    # recorded as its own "accepted" outcome). So the device took exactly one
    # request per accepted outcome, and fewer than the six asks.
    final = [w.get_task(t["id"])["result"]["connection_request"] for _, t in results]
    accepted = sum(1 for c in final if c["status"] == "accepted")
    took = w.udp_requests("CU000002")
    check(took == accepted and took < 6, "CU000002 took %d UDP connection requests, %d accepted"
          " outcomes: %r" % (took, accepted, final))
    check(w.sql("SELECT count(*) FROM connreq_claims") == "0", "claims left behind")
    yield ("six concurrent asks on two instances: one request, five coalesced; %d follow-up(s) "
           "for tasks that missed its session; six tasks done" % (took - 1))

    # a bulk action over the three devices with connection_request, while two
    # API calls ask CU000001 too: every task done, and each device took one
    # request per "accepted" outcome (the others coalesced)
    before = {sn: w.udp_requests(sn) for sn in devs}
    st, text, _ = w.request("POST", "/api/v1/bulk", {
        "query": "oui = '02CAFE'", "task": {"rpc": "GetParameterValues", "args": {
            "ParameterNames": [MS + "PeriodicInformInterval"]}},
        "rate": 100, "connection_request": True}, port=w.api_a)
    check(st == 201, "bulk: %d %s" % (st, text))
    bulk = json.loads(text)["id"]
    asks = [threading.Thread(target=lambda i=i: results.__setitem__(i, w.task(
        w.api_a if i else w.api_b, devs["CU000001"]))) for i in range(2)]
    for t in asks:
        t.start()
    for t in asks:
        t.join(60)
    wait_for("bulk tasks done", lambda: w.sql(
        "SELECT count(*) FROM tasks WHERE bulk_id = %d AND status = 'done'" % bulk) == "3", 30,
        0.2)
    ids = w.sql("SELECT string_agg(id::text, ' ') FROM tasks WHERE bulk_id = %d" % bulk).split()
    ids += [str(results[i][1]["id"]) for i in range(2)]
    for tid in ids:
        wait_for("task %s done" % tid, lambda: w.get_task(int(tid))["status"] == "done", 20)
    time.sleep(1.0)
    for sn, dev in devs.items():
        outcomes = [w.get_task(int(tid))["result"]["connection_request"] for tid in ids
                    if w.get_task(int(tid))["device_id"] == dev]
        accepted = sum(1 for c in outcomes if c["status"] == "accepted")
        took = w.udp_requests(sn) - before[sn]
        check(took == accepted and accepted >= 1, "%s: took %d, %d accepted of %r" % (
            sn, took, accepted, outcomes))
    yield "a bulk action and two API asks at once: every task done, one request per accepted"

    # cpesim's checks: a forged signature, a replayed id, an old ts
    addr = w.sql("SELECT address FROM connreq_udp WHERE device_id = '%s'" % devs["CU000002"])
    host, port = addr.rsplit(":", 1)
    dst = (host, int(port))
    now = int(time.time())
    base = w.udp_requests("CU000002")
    s.sendto(udpcr(addr, str(now + 5), "777001", "cr", "NONCE1", "wrong"), dst)
    s.sendto(udpcr(addr, str(now + 10), "777002", "cr", "NONCE2", "cpesim"), dst)
    s.sendto(udpcr(addr, str(now + 10), "777002", "cr", "NONCE2", "cpesim"), dst)  # repeat
    s.sendto(udpcr(addr, str(now + 1), "777003", "cr", "NONCE3", "cpesim"), dst)  # older ts
    wait_for("the good one taken", lambda: w.udp_requests("CU000002") == base + 1, 10)
    time.sleep(0.5)
    log = w.sim.log()
    check(w.udp_requests("CU000002") == base + 1, "CU000002 took %d, expected one" %
          (w.udp_requests("CU000002") - base))
    check("CU000002: UDP connection request refused (signature)" in log and
          "CU000002: UDP connection request refused (old ts)" in log, "cpesim's refusals")
    s.close()
    yield "cpesim: forged signature and old ts refused, a repeated id taken once"

    # a clean stop with the XMPP thread and the STUN sockets: exit 0 (under
    # the sanitizers, no leak either)
    rc = w.a.stop(30)
    check(rc == 0, "acsd exited %d on SIGTERM" % rc)
    yield "acsd stopped cleanly (exit 0)"


def main():
    return run_test(World, run, lambda w: [("acsd A", w.a), ("acsd B", getattr(w, "b", None)),
                                         ("cpesim", getattr(w, "sim", None))], "acs-crudp-")


if __name__ == "__main__":
    sys.exit(main())
