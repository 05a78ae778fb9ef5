#!/usr/bin/env python3
"""cpesim over https against acsd with TLS on its CWMP listener and file
server (stdlib only; certificates made by the openssl command).

    ACS_BIN_DIR=build/bin python3 tests/cpesim/test_cpesim_tls.py

A throwaway PostgreSQL, the real acsd (tls = cwmp,files; client certificates
optional, verified against a test CA), and cpesim runs:
  1. three devices, each with its own client certificate (--tls-cert
     DIR/%s.pem), twelve sessions: all succeed and are stored, and every
     device's sessions after its first resume its TLS session (the summary's
     "tls: N handshakes, M resumed");
  2. the same with --tls-no-resume: no resumption (the control);
  3. devices without a client certificate: accepted (optional) and stored;
  4. a device presenting another device's certificate: refused (403), not
     stored;
  5. a certificate of an untrusted CA: refused by acsd's TLS, not stored;
  6. a firmware Download: the URL acsd gives is https, cpesim fetches the
     image over TLS from the file server, the task ends done and
     SoftwareVersion changes in the store.

Exits 0 (pass), 1 (fail) or 77 (skipped: no PostgreSQL, binaries or openssl).
"""
import hashlib
import json
import os
import re
import sys
import urllib.parse
import urllib.request

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
sys.path.insert(0, HERE)
import simtest  # noqa: E402
from simtest import Proc, bin_path, check, free_port, run_test, wait_for  # noqa: E402
import tlscerts  # noqa: E402

OUI, PCLASS = "02CAFE", "HG181"


class World(simtest.World):
    def __init__(self, pg, tmp):
        super().__init__(pg, tmp)
        self.pki = tlscerts.Pki(tmp)
        self.srv = self.pki.server("srv")
        for i in (1, 2, 3):
            s = "TLS%06d" % i
            self.pki.client(s, "%s-%s-%s" % (OUI, PCLASS, s), serial=0x2000 + i)
        self.stranger = tlscerts.Pki(tmp, "stranger-ca").client("stranger", "%s-%s-BAD000001"
                                                                % (OUI, PCLASS))
        self.files = free_port()
        self.sim = None
        self.start_acsd("--files", "127.0.0.1:%d" % self.files, "--pg", pg.dsn, "--workers", "2",
                        "--log-level", "info", "--tls", "cwmp,files", "--tls-cert", self.srv[0],
                        "--tls-key", self.srv[1], "--tls-client-ca", self.pki.ca)
        self.token = simtest.create_token(pg.dsn, "admin")

    def stored(self, serial):
        return int(self.sql("SELECT count(*) FROM devices WHERE id = '%s-%s-%s'"
                            % (OUI, PCLASS, serial)))

    def cpesim(self, *args, timeout=60):
        """One bounded cpesim run over https: (exit code, output)."""
        self.sim = self.spawn([bin_path("cpesim"), "--acs", "https://127.0.0.1:%d/" % self.cwmp,
                               "--tls-ca", self.pki.ca, "--seed", "7", "--timeout", "10"] +
                              list(args))
        rc = self.sim.wait(timeout)
        out = self.sim.log()
        # failed sessions do not fail cpesim; a sanitizer's report does
        check(rc == 0 and "Sanitizer" not in out, "cpesim exit %d:\n%s" % (rc, out[-3000:]))
        return rc, out


def summary(out):
    m = re.search(r"sessions: (\d+) started, (\d+) ok, (\d+) failed", out)
    t = re.search(r"tls: (\d+) handshakes, (\d+) resumed", out)
    check(m, "no summary:\n" + out[-2000:])
    return (int(m.group(1)), int(m.group(2)), int(m.group(3)),
            int(t.group(1)) if t else 0, int(t.group(2)) if t else 0)


def scenarios(w):
    cert = ["--tls-cert", os.path.join(w.tmp, "%s.pem"), "--tls-key", os.path.join(w.tmp, "%s.key")]
    rc, out = w.cpesim("--count", "3", "--first", "1", "--serial-prefix", "TLS", "--periodic",
                       "--loop", "--concurrency", "3", "--sessions", "12", *cert)
    started, ok, failed, hs, resumed = summary(out)
    check(rc == 0 and ok == 12 and failed == 0, "12 sessions over https: %d ok, %d failed\n%s"
          % (ok, failed, out[-1500:]))
    check(all(w.stored("TLS%06d" % i) for i in (1, 2, 3)), "devices not stored")
    check(hs >= 12 and hs - resumed <= 3 and resumed >= 9,
          "resumption: %d handshakes, %d resumed (3 full ones expected)" % (hs, resumed))
    yield "3 devices with their own client certificates, 12 sessions over https, stored; " \
          "%d handshakes, %d resumed" % (hs, resumed)

    rc, out = w.cpesim("--count", "3", "--first", "1", "--serial-prefix", "TLS", "--periodic",
                       "--loop", "--concurrency", "3", "--sessions", "6", "--tls-no-resume", *cert)
    _, ok, _, hs, resumed = summary(out)
    check(ok == 6 and hs >= 6 and resumed == 0, "--tls-no-resume: %d ok, %d handshakes, %d resumed"
          % (ok, hs, resumed))
    yield "--tls-no-resume: %d full handshakes, none resumed" % hs

    rc, out = w.cpesim("--count", "2", "--serial-prefix", "NOCERT")
    _, ok, failed, _, _ = summary(out)
    check(ok == 2 and failed == 0 and w.stored("NOCERT000000") and w.stored("NOCERT000001"),
          "without a client certificate: %d ok, %d failed" % (ok, failed))
    yield "without a client certificate (optional): sessions ok, stored"

    rc, out = w.cpesim("--count", "1", "--serial-prefix", "WRONG", "--tls-cert",
                       os.path.join(w.tmp, "TLS000001.pem"), "--tls-key",
                       os.path.join(w.tmp, "TLS000001.key"))
    _, ok, failed, _, _ = summary(out)
    check(ok == 0 and failed == 1 and w.stored("WRONG000000") == 0,
          "another device's certificate: %d ok, %d failed, stored %d" % (ok, failed,
                                                                        w.stored("WRONG000000")))
    wait_for("the refusal in acsd's log", lambda: "WRONG000000: refused: the client certificate"
             in w.acsd.log(), 5)
    yield "another device's certificate: refused, nothing stored"

    rc, out = w.cpesim("--count", "1", "--serial-prefix", "BAD", "--first", "1", "--tls-cert",
                       w.stranger[0], "--tls-key", w.stranger[1])
    _, ok, failed, _, _ = summary(out)
    # (in TLS 1.3 the client is done with its handshake before acsd has
    # judged its certificate: the refusal is an alert on the first read)
    check(ok == 0 and failed == 1 and w.stored("BAD000001") == 0,
          "an untrusted CA's certificate: %d ok, %d failed" % (ok, failed))
    yield "a certificate of an untrusted CA: refused, nothing stored"

    # CPE authentication with Basic: accepted over TLS (cpe-auth-basic = tls,
    # the default), where plain HTTP neither offers nor accepts it
    # (tests/cpesim/test_cpe_auth.py)
    port, api = free_port(), free_port()
    auth = Proc(simtest.acsd_argv(port, api, "--files", "off", "--pg", w.pg.dsn, "--workers", "2",
                                  "--tls", "cwmp", "--tls-cert", w.srv[0], "--tls-key", w.srv[1],
                                  "--cpe-auth", "on", "--cpe-auth-username", "fleet",
                                  "--cpe-auth-password", "fleet-secret-1"))
    try:
        simtest.wait_healthy(auth, api, "acsd with cpe-auth")
        w.sim = w.spawn([bin_path("cpesim"), "--acs", "https://127.0.0.1:%d/" % port, "--tls-ca",
                         w.pki.ca, "--seed", "7", "--timeout", "10", "--count", "2",
                         "--serial-prefix", "BASIC", "--auth-scheme", "basic", "--set",
                         "Device.ManagementServer.Username=fleet", "--set",
                         "Device.ManagementServer.Password=fleet-secret-1"])
        rc = w.sim.wait(60)
        out = w.sim.log()
        _, ok, failed, _, _ = summary(out)
        check(rc == 0 and ok == 2 and failed == 0 and w.stored("BASIC000000")
              and w.stored("BASIC000001"), "Basic over TLS: %d ok, %d failed\n%s"
              % (ok, failed, out[-1500:]))
        w.sim = w.spawn([bin_path("cpesim"), "--acs", "https://127.0.0.1:%d/" % port, "--tls-ca",
                         w.pki.ca, "--seed", "7", "--timeout", "10", "--count", "1",
                         "--serial-prefix", "BASICWRONG", "--auth-scheme", "basic",
                         "--auth-wrong", "--set", "Device.ManagementServer.Username=fleet"])
        w.sim.wait(60)
        _, ok, failed, _, _ = summary(w.sim.log())
        check(ok == 0 and failed == 1 and w.stored("BASICWRONG000000") == 0,
              "a wrong Basic password over TLS: %d ok, %d failed" % (ok, failed))
    finally:
        auth.kill()
    yield "cpe-auth on: Basic over TLS accepted (2 devices stored), a wrong password refused"

    # a firmware image fetched over https from the file server
    image = b"cpesim-firmware version=7.7.7 hg181\n" + bytes(range(256)) * 1200
    q = urllib.parse.urlencode({"name": "tls-fw.bin", "type": "1 Firmware Upgrade Image",
                                "sha256": hashlib.sha256(image).hexdigest()})
    st, text, _ = w.request("POST", "/api/v1/files?%s" % q, timeout=10, raw=image,
                            headers={"Content-Type": "application/octet-stream"})
    check(st == 201, "upload: %d %s" % (st, text))
    dev = urllib.parse.quote("%s-%s-TLS000001" % (OUI, PCLASS), safe="")
    st, text, _ = w.request("POST", "/api/v1/devices/%s/tasks" % dev,
                            {"rpc": "Download", "args": {"file": "tls-fw.bin"}}, 10)
    check(st == 201, "Download task: %d %s" % (st, text))
    tid = json.loads(text)["id"]
    w.sim = w.spawn([bin_path("cpesim"), "--acs", "https://127.0.0.1:%d/" % w.cwmp, "--tls-ca",
                     w.pki.ca, "--count", "1", "--first", "1", "--serial-prefix", "TLS",
                     "--periodic", "--periodic-interval", "1", "--duration", "30", "--reboot-ms",
                     "200", "--verbose", *cert])

    def task():
        st, text, _ = w.request("GET", "/api/v1/tasks/%d" % tid, timeout=10)
        t = json.loads(text)
        return t if t["status"] not in ("pending", "sent") else None
    t = wait_for("the Download task to end", task, 25)
    check(t["status"] == "done", "the Download over https: %r\n%s" % (t, w.sim.log()[-2000:]))
    log = w.sim.log()
    check("https://127.0.0.1:%d/files/tls-fw.bin" % w.files in log,
          "cpesim did not fetch the https URL:\n" + log[-2000:])
    wait_for("SoftwareVersion 7.7.7 in the store", lambda: w.sql(
        "SELECT software_version FROM devices WHERE id = '%s-%s-TLS000001'" % (OUI, PCLASS))
        == "7.7.7", 15)
    w.sim.kill()
    yield "firmware over https: the Download's URL is https, cpesim fetched it, task done, " \
          "SoftwareVersion 7.7.7 stored"


def main():
    if not tlscerts.have_openssl():
        print("skipped: the openssl command is missing")
        return 77
    return run_test(World, scenarios, lambda w: [("cpesim", w.sim), ("acsd", w.acsd)],
                    "acs-tls-")


if __name__ == "__main__":
    sys.exit(main())
