#!/usr/bin/env python3
"""XMPP connection requests (TR-069 Annex K) end to end: acsd, a real
Prosody and cpesim (stdlib only).

    ACS_BIN_DIR=build/bin python3 tests/cpesim/test_connreq_xmpp.py

A throwaway PostgreSQL and Prosody (tests/lib/prosody.py: loopback, a free
port, accounts made with prosodyctl: acsd's and one per device), acsd with
--xmpp-jid over TLS (Prosody with a self-signed certificate: --xmpp-tls
trusted; a second acsd with the default --xmpp-tls required must refuse to
log in) and the example policy
policies/provisions/connreq_nat.lua run at bootstrap with xmpp_domain and
acs_jid: it turns on each device's XMPP.Connection.1 and names acsd's JID in
ConnReqAllowedJabberIDs. cpesim's devices (prefix CX, --xmpp-server) log in
and report their ConnReqJabberID; their ConnectionRequestURL points at a
closed port, so HTTP fails first. Checked:

  - every device's ConnReqJabberID reaches the store;
  - CX000001: a task with connection_request=true is done (200), transport
    "xmpp" after HTTP was refused, and the device took one XMPP request;
  - CX000002 with a wrong connection-request password in acsd's store (a
    sealed secret): the CPE answers not-authorized: failed, recorded;
  - CX000003 with a ConnReqJabberID nobody is logged in as: Prosody answers
    service-unavailable: failed, recorded;
  - CY000001 (a second cpesim with --quirk xmpp-silent) never answers: failed
    after connreq_timeout_ms ("no answer");
  - Prosody restarted: acsd logs in again by itself (back-off) and the next
    request to CX000001 is done again through XMPP; the health report says
    connected, then disconnected while Prosody is down;
  - acsd stops cleanly on SIGTERM (exit 0: no leak under the sanitizers).

Exits 0 (pass), 1 (fail) or 77 (skipped: no PostgreSQL, Prosody or binaries).
"""
import json
import os
import shutil
import sys
import urllib.parse

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..", "..")
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
sys.path.insert(0, HERE)
import prosody  # noqa: E402
import simtest  # noqa: E402
from simtest import Fail, bin_path, check, free_port, http, run_test, wait_for  # noqa: E402

MS = "Device.ManagementServer."
DOMAIN = "cwmp.test"
PRESETS = """return {
  {
    name = "xmpp",
    events = {"0 BOOTSTRAP"},
    provisions = {{"connreq_nat", {xmpp_domain = "%s", acs_jid = "acs@%s"}}},
    channel = "xmpp",
  },
}
""" % (DOMAIN, DOMAIN)
SERIALS = ("CX000001", "CX000002", "CX000003")


class World(simtest.World):
    def __init__(self, pg, tmp):
        super().__init__(pg, tmp)
        self.xmpp = prosody.Prosody(tmp, DOMAIN, tls=True)
        self.xmpp.register("acs", "acs-xmpp-pw")
        for s in SERIALS + ("CY000001",):
            self.xmpp.register(s, "xpw-" + s)
        self.xmpp.start()
        self.key = os.path.join(tmp, "secret.key")
        simtest.write_key(self.key)
        tree = os.path.join(tmp, "policies")
        os.makedirs(os.path.join(tree, "presets"))
        os.makedirs(os.path.join(tree, "provisions"))
        shutil.copy(os.path.join(ROOT, "policies", "provisions", "connreq_nat.lua"),
                    os.path.join(tree, "provisions"))
        with open(os.path.join(tree, "presets", "default.lua"), "w") as f:
            f.write(PRESETS)
        self.cwmp, self.api, self.cr, self.cr2 = free_port(), free_port(), free_port(), free_port()
        xs = "127.0.0.1:%d" % self.xmpp.port
        self.a = self.spawn(simtest.acsd_argv(
            self.cwmp, self.api, "--pg", pg.dsn, "--workers", "2", "--log-level", "info",
            "--secret-key-file", self.key, "--connreq-username", "cr", "--connreq-password",
            "cpesim", "--connreq-timeout-ms", "3000", "--policies", tree, "--xmpp-jid",
            "acs@%s/acsd" % DOMAIN, "--xmpp-password", "acs-xmpp-pw", "--xmpp-server", xs,
            "--xmpp-tls", "trusted"))
        simtest.wait_healthy(self.a, self.api)
        self.token = simtest.create_token(pg.dsn, "operator", "xmpp-test")
        self.sim = self.spawn([
            bin_path("cpesim"), "--count", "3", "--first", "1", "--duration", "600",
            "--periodic-interval", "3600", "--seed", "7", "--verbose", "--serial-prefix", "CX",
            "--acs", "http://127.0.0.1:%d/" % self.cwmp, "--cr-listen", "127.0.0.1:%d" % self.cr,
            "--xmpp-server", xs, "--set", MS + "ConnectionRequestUsername=cr",
            "--set", MS + "ConnectionRequestURL=http://127.0.0.1:%d/x" % free_port(),
            "--set", "Device.XMPP.Connection.1.Password=xpw-%{serial}"])
        self.sim2 = self.spawn([
            bin_path("cpesim"), "--count", "1", "--first", "1", "--duration", "600",
            "--periodic-interval", "3600", "--seed", "8", "--serial-prefix", "CY",
            "--acs", "http://127.0.0.1:%d/" % self.cwmp, "--cr-listen", "127.0.0.1:%d" % self.cr2,
            "--xmpp-server", xs, "--quirk", "xmpp-silent",
            "--set", MS + "ConnectionRequestUsername=cr",
            "--set", MS + "ConnectionRequestURL=http://127.0.0.1:%d/x" % free_port(),
            "--set", "Device.XMPP.Connection.1.Password=xpw-%{serial}"])

    def close(self):
        super().close()
        self.xmpp.stop()

    def task(self, dev, timeout=15):
        body = {"rpc": "GetParameterValues",
                "args": {"ParameterNames": [MS + "PeriodicInformInterval"]}}
        return self.call("POST", "/api/v1/devices/%s/tasks?connection_request=true&timeout=%d" % (
            urllib.parse.quote(urllib.parse.quote(dev, safe=""), safe=""), timeout), body, 60)

    def dev_id(self, s, port=None):
        st, body, _ = http("GET", "http://127.0.0.1:%d/_sim/dev/%s/info" % (port or self.cr, s))
        check(st == 200, "cpesim info %s: %d %s" % (s, st, body))
        return json.loads(body)["id"]

    def xmpp_requests(self, serial):
        return self.sim.log().count("%s: XMPP connection request\n" % serial)


def run(w):
    wait_for("cpesim", lambda: w.sim.alive() and http(
        "GET", "http://127.0.0.1:%d/_sim/dev/CX000001/info" % w.cr)[0] == 200, 30)
    devs = {s: w.dev_id(s) for s in SERIALS}
    wait_for("three ConnReqJabberIDs", lambda: w.sql(
        "SELECT count(*) FROM parameters WHERE name = '%sConnReqJabberID' AND value ILIKE "
        "'CX00000_@%s/cwmp'" % (MS, DOMAIN)) == "3", 40, 0.2)
    check("logged in as acs@%s/acsd (TLS)" % DOMAIN in w.a.log(), "acsd's XMPP login over TLS "
          "not logged")
    st, text, _ = http("GET", "http://127.0.0.1:%d/api/v1/system/health" % w.api, None,
                       {"Authorization": "Bearer " + w.token})
    check(st == 200 and json.loads(text)["xmpp"] == "connected", "health: %d %s" % (st, text))
    yield ("acsd logged in to Prosody over TLS; three devices reported their ConnReqJabberID; "
           "health says connected")

    # --xmpp-tls required (the default) verifies the server's certificate:
    # a self-signed one is refused, and nothing is sent in the clear
    b = w.spawn([bin_path("acsd"), "--cwmp", "off", "--api", "off", "--files", "off", "--pg",
                 w.pg.dsn, "--workers", "1", "--log-level", "info", "--xmpp-jid",
                 "acs@%s/verify" % DOMAIN, "--xmpp-password", "acs-xmpp-pw", "--xmpp-server",
                 "127.0.0.1:%d" % w.xmpp.port])
    wait_for("acsd B's refusal", lambda: "cannot log in to" in b.log(), 20)
    check("logged in as" not in b.log(), "acsd B logged in past an untrusted certificate")
    b.kill()
    yield "--xmpp-tls required refuses the server's self-signed certificate"

    st, t = w.task(devs["CX000001"])
    cr = t["result"]["connection_request"]
    check(st == 200 and t["status"] == "done", "CX000001: %d %r" % (st, t))
    check(cr["status"] == "accepted" and cr["transport"] == "xmpp" and
          cr["detail"].startswith("http: ") and "; xmpp: accepted by cx000001@" in cr["detail"],
          "CX000001 connection_request %r" % cr)
    check(w.xmpp_requests("CX000001") == 1, "CX000001 took %d XMPP requests" %
          w.xmpp_requests("CX000001"))
    yield "XMPP after HTTP failed: task done (%s)" % cr["detail"]

    p = w.cli(["secret", "set", devs["CX000002"], MS + "ConnectionRequestPassword", "-",
               "--secret-key-file", w.key], stdin="not-the-password\n")
    check(p.returncode == 0, "acsd secret set: %s" % p.stderr)
    st, t = w.task(devs["CX000002"], 5)
    cr = t["result"]["connection_request"]
    check(st == 202 and cr["status"] == "failed" and cr["transport"] == "xmpp" and
          "not-authorized" in cr["detail"], "CX000002: %d %r" % (st, cr))
    check(w.xmpp_requests("CX000002") == 0, "CX000002 took a request with wrong credentials")
    yield "wrong credentials: the CPE answers not-authorized (%s)" % cr["detail"]

    w.sql("UPDATE parameters SET value = 'nobody@%s/cwmp' WHERE device_id = '%s' AND name = "
          "'%sConnReqJabberID'" % (DOMAIN, devs["CX000003"], MS))
    st, t = w.task(devs["CX000003"], 5)
    cr = t["result"]["connection_request"]
    check(st == 202 and cr["status"] == "failed" and "service-unavailable" in cr["detail"],
          "CX000003: %d %r" % (st, cr))
    yield "no such JID online: service-unavailable (%s)" % cr["detail"]

    # a device online that never answers (cpesim --quirk xmpp-silent): the
    # request times out (connreq_timeout_ms, 3 s here)
    silent = w.dev_id("CY000001", w.cr2)
    wait_for("CY000001's ConnReqJabberID", lambda: w.sql(
        "SELECT count(*) FROM parameters WHERE device_id = '%s' AND name = '%sConnReqJabberID' "
        "AND value <> ''" % (silent, MS)) == "1", 30, 0.2)
    st, t = w.task(silent, 10)
    cr = t["result"]["connection_request"]
    check(st == 202 and cr["status"] == "failed" and "xmpp: no answer from cy000001@" in
          cr["detail"], "CY000001 (silent): %d %r" % (st, cr))
    yield "a device that never answers: timed out (%s)" % cr["detail"]

    w.xmpp.stop()
    wait_for("acsd to notice", lambda: "disconnected from" in w.a.log(), 20)
    st, text, _ = http("GET", "http://127.0.0.1:%d/api/v1/system/health" % w.api, None,
                       {"Authorization": "Bearer " + w.token})
    check(st == 200 and json.loads(text)["xmpp"] == "disconnected", "health: %d %s" % (st, text))
    w.xmpp.start()
    wait_for("acsd logged in again", lambda: w.a.log().count(
        "logged in as acs@%s/acsd" % DOMAIN) >= 2, 40, 0.2)
    # the devices log in again too (cpesim retries every second)
    def again():
        st, t = w.task(devs["CX000001"], 5)
        return st == 200 and t["result"]["connection_request"]["transport"] == "xmpp"
    wait_for("a connection request after Prosody restarted", again, 40, 0.5)
    yield "Prosody restarted: acsd logged in again with back-off, requests work again"

    # a clean stop with the XMPP thread and the STUN sockets: exit 0 (under
    # the sanitizers, no leak either)
    rc = w.a.stop(30)
    check(rc == 0, "acsd exited %d on SIGTERM" % rc)
    yield "acsd stopped cleanly (exit 0)"


def main():
    why = prosody.unavailable()
    if why:
        print("skipped: " + why)
        return 77
    return run_test(World, run, lambda w: [("acsd", w.a), ("cpesim", getattr(w, "sim", None)),
                                         ("cpesim (silent)", getattr(w, "sim2", None))],
                    "acs-crxmpp-")


if __name__ == "__main__":
    sys.exit(main())
