#!/usr/bin/env python3
"""CPE authentication (docs/security.md) with a real PostgreSQL, two acsd
instances on the same store and secrets key, and real cpesim devices.

    ACS_BIN_DIR=build/bin python3 tests/cpesim/test_cpe_auth.py

acsd A: cpe-auth on, fleet credentials, a factory key, Basic over TLS only
(the default), 3 failures before a 60 s lockout, the acs_credentials policy.
acsd B: the same, with Basic allowed without TLS.

  - no credentials: 401 with the Digest MD5, MD5-sess challenges (no Basic on
    plain HTTP), nothing of the device stored; cpesim --auth-none fails;
  - wrong credentials (cpesim --auth-wrong): refused, nothing stored;
  - Digest MD5, Digest MD5-sess (fleet credentials), Basic (on B): cpesim
    sessions succeed and every event of the challenged Informs is stored;
  - Basic on A (no TLS): refused, and not offered;
  - the second 401 in a row on a connection closes it;
  - a nonce acsd A made is accepted by acsd B;
  - a nonce past its lifetime, with the right response: 401 stale=true;
    cpesim reuses its nonce from session to session and comes through, and
    answers a stale=true 401 (acsd C: nonces fresh for 1 s);
  - throttling: after 3 wrong answers from one address, that address gets
    503 with Retry-After for any device; the device gets 503 from any
    address;
  - factory credential, then per-device: cpesim --factory-key devices come
    in with their factory credential, the policy gives each its own
    password (sealed in device_secrets, not in parameters), the next
    session uses it, and the factory credential no longer opens.

Exits 0 (pass), 1 (fail) or 77 (skipped: no PostgreSQL or no binaries).
"""
import hashlib
import hmac
import json
import os
import re
import socket
import sys
import time

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
sys.path.insert(0, os.path.join(HERE, "..", "server", "lib"))
sys.path.insert(0, HERE)
import simtest  # noqa: E402
from acstest import envelope  # noqa: E402  (one CWMP envelope for every suite)
from simtest import Fail, bin_path, check, free_port, http, run_test  # noqa: E402

REALM = "acs-test"
FLEET_USER, FLEET_PASS = "fleet", "fleet-secret-1"
OUI, PC = "00AA55", "Box"


def inform(serial, events=("0 BOOTSTRAP", "1 BOOT")):
    ev = "".join("<EventStruct><EventCode>%s</EventCode><CommandKey></CommandKey></EventStruct>" % e
                 for e in events)
    return envelope(
        '<cwmp:Inform><DeviceId><Manufacturer>ACME</Manufacturer><OUI>%s</OUI>'
        '<ProductClass>%s</ProductClass><SerialNumber>%s</SerialNumber></DeviceId>'
        '<Event soapenc:arrayType="cwmp:EventStruct[%d]">%s</Event><MaxEnvelopes>1</MaxEnvelopes>'
        '<CurrentTime>2026-12-01T08:00:00Z</CurrentTime><RetryCount>0</RetryCount>'
        '<ParameterList soapenc:arrayType="cwmp:ParameterValueStruct[1]"><ParameterValueStruct>'
        '<Name>Device.DeviceInfo.SoftwareVersion</Name><Value xsi:type="xsd:string">1.0</Value>'
        '</ParameterValueStruct></ParameterList></cwmp:Inform>'
        % (OUI, PC, serial, len(events), ev)).encode()


def dev_id(serial):
    return "%s-%s-%s" % (OUI, PC, serial)


def md5(s):
    return hashlib.md5(s.encode()).hexdigest()


def digest(user, password, nonce, uri="/", nc=1, cnonce="0a4f113b", algorithm="MD5",
           realm=REALM):
    ha1 = md5("%s:%s:%s" % (user, realm, password))
    if algorithm == "MD5-sess":
        ha1 = md5("%s:%s:%s" % (ha1, nonce, cnonce))
    ha2 = md5("POST:" + uri)
    ncs = "%08x" % nc
    resp = md5("%s:%s:%s:%s:auth:%s" % (ha1, nonce, ncs, cnonce, ha2))
    return ('Digest username="%s", realm="%s", nonce="%s", uri="%s", algorithm=%s, qop=auth, '
            'nc=%s, cnonce="%s", response="%s"' % (user, realm, nonce, uri, algorithm, ncs,
                                                    cnonce, resp))


class Conn:
    """A raw HTTP/1.1 connection from a chosen source address."""

    def __init__(self, port, source="127.0.0.1"):
        self.sock = socket.create_connection(("127.0.0.1", port), 5, source_address=(source, 0))
        self.buf = b""

    def close(self):
        self.sock.close()

    def post(self, body, headers=None):
        lines = ["POST / HTTP/1.1", "Host: acs", "Content-Type: text/xml",
                 "Content-Length: %d" % len(body)]
        lines += ["%s: %s" % kv for kv in (headers or {}).items()]
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        return self.read()

    def read(self):
        while b"\r\n\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("closed")
            self.buf += chunk
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ")[1])
        hdrs = []
        for line in lines[1:]:
            k, _, v = line.partition(":")
            hdrs.append((k.strip().lower(), v.strip()))
        n = int(dict(hdrs).get("content-length", "0"))
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                break
            self.buf += chunk
        body, self.buf = self.buf[:n], self.buf[n:]
        return status, hdrs, body

    def closed_by_peer(self, timeout=3):
        self.sock.settimeout(timeout)
        try:
            return self.sock.recv(1) == b""
        except ConnectionResetError:
            return True
        except socket.timeout:
            return False


def challenges(hdrs):
    return [v for k, v in hdrs if k == "www-authenticate"]


def nonce_of(hdrs):
    for v in challenges(hdrs):
        m = re.search(r'nonce="([0-9a-f]+)"', v)
        if m:
            return m.group(1)
    raise Fail("no nonce in %r" % hdrs)


def mint_nonce(secret_hex, t):
    """A nonce as acsd makes them (http/digest.c), from the secrets key."""
    nk = hmac.new(bytes.fromhex(secret_hex), b"acsd cpe-auth nonce key v1", hashlib.sha256).digest()
    ts = "%010x" % t + os.urandom(4).hex()
    mac = hmac.new(nk, ("acsd-nonce:%s:%s" % (ts, REALM)).encode(), hashlib.sha256).hexdigest()
    return ts + mac[:32]


def factory_password(key_hex, serial):
    return hmac.new(bytes.fromhex(key_hex), serial.encode(), hashlib.sha256).hexdigest()[:32]


class World(simtest.World):
    def __init__(self, pg, tmp):
        super().__init__(pg, tmp)
        self.key = os.path.join(tmp, "secret.key")
        self.fkey = os.path.join(tmp, "factory.key")
        self.secret_hex = simtest.write_key(self.key, private=False)
        self.factory_hex = simtest.write_key(self.fkey, private=False)
        # the policies: the example acs_credentials provision on every boot
        self.tree = os.path.join(tmp, "policies")
        os.makedirs(os.path.join(self.tree, "presets"))
        os.makedirs(os.path.join(self.tree, "provisions"))
        with open(os.path.join(ROOT, "policies", "provisions", "acs_credentials.lua")) as f:
            src = f.read()
        with open(os.path.join(self.tree, "provisions", "acs_credentials.lua"), "w") as f:
            f.write(src)
        with open(os.path.join(self.tree, "presets", "default.lua"), "w") as f:
            f.write('return {{name = "acs credentials", events = {"0 BOOTSTRAP", "1 BOOT", '
                    '"2 PERIODIC"}, provisions = {"acs_credentials"}, channel = "acs"}}\n')
        common = ["--pg", pg.dsn, "--workers", "2", "--secret-key-file", self.key,
                  "--cpe-auth", "on", "--cpe-auth-realm", REALM, "--cpe-auth-username", FLEET_USER,
                  "--cpe-auth-password", FLEET_PASS, "--cpe-auth-factory-key-file", self.fkey,
                  "--cpe-auth-max-failures", "3", "--cpe-auth-lockout", "60",
                  "--cpe-auth-nonce-ttl", "120", "--files", "off", "--log-level", "info"]
        self.a_cwmp, self.a_api = free_port(), free_port()
        self.a = self.spawn(simtest.acsd_argv(self.a_cwmp, self.a_api, "--policies", self.tree,
                                              *common))
        simtest.wait_healthy(self.a, self.a_api, "acsd A")
        self.common = common
        self.b_cwmp, self.b_api = free_port(), free_port()
        self.b = self.spawn(simtest.acsd_argv(self.b_cwmp, self.b_api, "--cpe-auth-basic", "always",
                                              *common))
        simtest.wait_healthy(self.b, self.b_api, "acsd B")

    def cpesim(self, port, prefix, count, extra=(), timeout=60):
        """Runs cpesim to its end; its summary."""
        p = self.spawn([bin_path("cpesim"), "--acs", "http://127.0.0.1:%d/" % port, "--count",
                        str(count), "--serial-prefix", prefix, "--seed", "3", "--timeout", "10",
                        "--quiet"] + list(extra))
        rc = p.wait(timeout)
        lines = [line for line in p.log().splitlines() if line.startswith("{")]
        check(lines, "cpesim printed no summary:\n%s" % p.log()[-3000:])
        check(rc == 0 and "Sanitizer" not in p.log(), "cpesim exit %s:\n%s" % (rc, p.log()[-3000:]))
        return json.loads(lines[-1])

    def stored(self, prefix):
        return int(self.sql("SELECT count(*) FROM devices WHERE id LIKE '%%-%s%%'" % prefix))

    def events(self, prefix):
        return self.sql("SELECT count(*) FROM events WHERE device_id LIKE '%%-%s%%'" % prefix)


def refused_and_nothing_stored(w):
    # a raw Inform without credentials, on A: 401, Digest MD5 and MD5-sess, no Basic
    c = Conn(w.a_cwmp)
    st, hdrs, _ = c.post(inform("RAW000001"))
    ch = challenges(hdrs)
    check(st == 401 and len(ch) == 2 and "algorithm=MD5," in ch[0] + "," and "MD5-sess" in ch[1]
          and 'qop="auth"' in ch[0] and 'realm="%s"' % REALM in ch[0],
          "no credentials: %d %r" % (st, hdrs))
    check(not any(v.startswith("Basic") for v in ch), "Basic offered over plain HTTP: %r" % ch)
    # Basic on A (no TLS): refused although the credentials are right
    import base64
    basic = "Basic " + base64.b64encode(("%s:%s" % (FLEET_USER, FLEET_PASS)).encode()).decode()
    c2 = Conn(w.a_cwmp)
    st2, _, _ = c2.post(inform("RAW000001"), {"Authorization": basic})
    check(st2 == 401, "Basic without TLS on A: %d" % st2)
    c.close()
    c2.close()
    s = w.cpesim(w.a_cwmp, "NOAUTH", 2, ["--auth-none", "--sessions", "2",
                                         "--source-ip", "127.0.0.11"])
    check(s["sessions_ok"] == 0 and s["failures"]["401"] == 2, "cpesim --auth-none: %r" % s)
    s = w.cpesim(w.a_cwmp, "WRONG", 2, ["--auth-wrong", "--sessions", "2",
                                        "--source-ip", "127.0.0.12"])
    check(s["sessions_ok"] == 0 and s["failures"]["401"] == 2, "cpesim --auth-wrong: %r" % s)
    for p in ("RAW", "NOAUTH", "WRONG"):
        check(w.stored(p) == 0 and w.events(p) == "0", "%s: something stored" % p)
    yield ("no credentials, wrong credentials, Basic without TLS: 401 (Digest MD5 and MD5-sess "
           "offered, no Basic), nothing of the devices stored")


def digest_and_basic_succeed(w):
    fleet = ["--set", "Device.ManagementServer.Username=" + FLEET_USER, "--set",
             "Device.ManagementServer.Password=" + FLEET_PASS]
    for prefix, port, scheme in (("DMD", w.a_cwmp, "md5"), ("DSS", w.a_cwmp, "md5-sess"),
                                 ("BAS", w.b_cwmp, "basic")):
        s = w.cpesim(port, prefix, 4, fleet + ["--auth-scheme", scheme, "--sessions", "4"])
        check(s["sessions_ok"] == 4 and s["sessions_failed"] == 0 and s["http_401"] >= 4,
              "%s: %r" % (scheme, s))
        # every event of the challenged Informs: 0 BOOTSTRAP and 1 BOOT of each device
        ev = w.sql("SELECT count(*) FROM events WHERE device_id LIKE '%%-%s%%' AND code IN "
                   "('0 BOOTSTRAP', '1 BOOT')" % prefix)
        check(w.stored(prefix) == 4 and ev == "8", "%s: %d devices, %s events" % (
            scheme, w.stored(prefix), ev))
    yield ("Digest MD5, Digest MD5-sess (acsd A) and Basic (acsd B, allowed without TLS): 12 "
           "sessions after their 401, all 24 Inform events stored")


def second_failure_closes(w):
    c = Conn(w.a_cwmp, "127.0.0.21")
    st, hdrs, _ = c.post(inform("CLOSE01"))
    check(st == 401 and ("connection", "close") not in hdrs, "first 401: %d %r" % (st, hdrs))
    st, hdrs, _ = c.post(inform("CLOSE01"), {"Authorization": digest(
        FLEET_USER, "not-it", nonce_of(hdrs))})
    check(st == 401, "second attempt: %d" % st)
    check(c.closed_by_peer(), "the connection stays open after the second failure")
    c.close()
    # a right response for another uri is refused; a right answer on the same
    # connection after the first 401 opens the session (uri as an absolute URL,
    # as some CPEs send it)
    c = Conn(w.a_cwmp, "127.0.0.22")
    st, hdrs, _ = c.post(inform("CLOSE02"))
    st, hdrs, _ = c.post(inform("CLOSE02"), {"Authorization": digest(
        FLEET_USER, FLEET_PASS, nonce_of(hdrs), uri="/elsewhere")})
    check(st == 401, "a response for another uri: %d" % st)
    c.close()
    c = Conn(w.a_cwmp, "127.0.0.22")
    st, hdrs, _ = c.post(inform("CLOSE02"))
    st, hdrs, body = c.post(inform("CLOSE02"), {"Authorization": digest(
        FLEET_USER, FLEET_PASS, nonce_of(hdrs), uri="http://127.0.0.1:%d/" % w.a_cwmp)})
    check(st == 200 and b"InformResponse" in body, "right after the challenge: %d %r" % (st, body))
    c.close()
    check(w.stored("CLOSE01") == 0 and w.stored("CLOSE02") == 1, "stored devices")
    yield ("the second 401 in a row closes the connection; a response for another uri is refused; "
           "a right answer after the first 401 opens the session")


def nonce_across_instances(w):
    c = Conn(w.a_cwmp)
    st, hdrs, _ = c.post(inform("XINST01"))
    nonce = nonce_of(hdrs)
    c.close()
    c = Conn(w.b_cwmp)
    st, hdrs, body = c.post(inform("XINST01"), {"Authorization": digest(
        FLEET_USER, FLEET_PASS, nonce, algorithm="MD5-sess")})
    check(st == 200 and b"InformResponse" in body, "A's nonce at B: %d %r" % (st, hdrs))
    c.close()
    # a nonce made with another key is not one of theirs
    c = Conn(w.b_cwmp)
    other = "%010x" % int(time.time()) + "0" * 40
    st, hdrs, _ = c.post(inform("XINST02"), {"Authorization": digest(FLEET_USER, FLEET_PASS,
                                                                       other)})
    check(st == 401 and "stale=true" not in " ".join(challenges(hdrs)), "foreign nonce: %d" % st)
    c.close()
    yield "a nonce made by acsd A is accepted by acsd B; a forged one is not"


def replay(w):
    c = Conn(w.a_cwmp, "127.0.0.61")
    st, hdrs, _ = c.post(inform("REPLAY01"))
    nonce = nonce_of(hdrs)
    answer = digest(FLEET_USER, FLEET_PASS, nonce, nc=1)
    st, _, body = c.post(inform("REPLAY01"), {"Authorization": answer})
    check(st == 200 and b"InformResponse" in body, "first use: %d" % st)
    c.close()
    c = Conn(w.a_cwmp, "127.0.0.62")
    st, hdrs, _ = c.post(inform("REPLAY01"), {"Authorization": answer})
    check(st == 401 and "stale=true" not in " ".join(challenges(hdrs)), "replayed: %d" % st)
    c.close()
    c = Conn(w.a_cwmp, "127.0.0.62")
    st, _, body = c.post(inform("REPLAY01"), {"Authorization": digest(
        FLEET_USER, FLEET_PASS, nonce, nc=2, cnonce="beef")})
    check(st == 200 and b"InformResponse" in body, "the same nonce, nc 2: %d" % st)
    c.close()
    yield ("a Digest answer replayed (same nonce and nonce count) is challenged again; the same "
           "nonce with the next nonce count opens")


def stale_nonce(w):
    old = mint_nonce(w.secret_hex, int(time.time()) - 600)
    c = Conn(w.a_cwmp)
    st, hdrs, _ = c.post(inform("STALE01"), {"Authorization": digest(FLEET_USER, FLEET_PASS, old)})
    check(st == 401 and all("stale=true" in v for v in challenges(hdrs)),
          "an old nonce, right response: %d %r" % (st, hdrs))
    st, hdrs, body = c.post(inform("STALE01"), {"Authorization": digest(
        FLEET_USER, FLEET_PASS, nonce_of(hdrs), nc=1)})
    check(st == 200 and b"InformResponse" in body, "after stale: %d" % st)
    c.close()
    c = Conn(w.a_cwmp, "127.0.0.23")
    st, hdrs, _ = c.post(inform("STALE02"), {"Authorization": digest(FLEET_USER, "nope", old)})
    check(st == 401 and "stale=true" not in " ".join(challenges(hdrs)), "old nonce, wrong: %r" % hdrs)
    c.close()
    # cpesim: one device, three sessions: it answers with its kept nonce (nc 2, 3), no new 401
    fleet = ["--set", "Device.ManagementServer.Username=" + FLEET_USER, "--set",
             "Device.ManagementServer.Password=" + FLEET_PASS]
    s = w.cpesim(w.a_cwmp, "REUSE", 1, fleet + ["--sessions", "3", "--loop", "--rate", "5"])
    check(s["sessions_ok"] == 3 and s["http_401"] == 1, "cpesim reusing its nonce: %r" % s)
    # acsd C: nonces fresh for 1 s; cpesim's kept nonce goes stale between its
    # sessions (2.5 s apart): answered again after the stale=true 401, no failure
    c_cwmp, c_api = free_port(), free_port()
    w.c = w.spawn(simtest.acsd_argv(c_cwmp, c_api, *w.common, "--cpe-auth-nonce-ttl", "1"))
    simtest.wait_healthy(w.c, c_api, "acsd C")
    s = w.cpesim(c_cwmp, "STSIM", 1, fleet + ["--sessions", "2", "--loop", "--rate", "0.4"])
    check(s["sessions_ok"] == 2 and s["sessions_failed"] == 0 and s["http_401"] == 2,
          "cpesim and a stale nonce: %r" % s)
    w.c.kill()
    yield ("an expired nonce with the right response: 401 stale=true, then in; with a wrong one: "
           "a plain 401; cpesim reuses its nonce (nc + 1) over 3 sessions with one 401, and "
           "answers a stale=true 401 with the new nonce")


def throttling(w):
    src = "127.0.0.31"
    for i in range(3):
        c = Conn(w.a_cwmp, src)
        st, hdrs, _ = c.post(inform("THR%03d" % i))
        st, hdrs, _ = c.post(inform("THR%03d" % i), {"Authorization": digest(
            FLEET_USER, "guess-%d" % i, nonce_of(hdrs))})
        check(st == 401, "wrong guess %d: %d" % (i, st))
        c.close()
    c = Conn(w.a_cwmp, src)
    st, hdrs, _ = c.post(inform("THR999"))  # another device, the same address
    ra = dict(hdrs).get("retry-after", "")
    check(st == 503 and ra.isdigit() and 0 < int(ra) <= 60, "address lockout: %d %r" % (st, hdrs))
    c.close()
    # the device: 3 wrong answers from three addresses, then even a fourth address is refused
    for i in range(3):
        c = Conn(w.a_cwmp, "127.0.0.%d" % (41 + i))
        st, hdrs, _ = c.post(inform("THRDEV"))
        st, _, _ = c.post(inform("THRDEV"), {"Authorization": digest(
            FLEET_USER, "guess", nonce_of(hdrs))})
        c.close()
    c = Conn(w.a_cwmp, "127.0.0.44")
    st, hdrs, _ = c.post(inform("THRDEV"))
    check(st == 503 and dict(hdrs).get("retry-after", "").isdigit(), "device lockout: %d" % st)
    c.close()
    check(w.stored("THR") == 0, "a throttled device was stored")
    st, text, _ = http("GET", "http://127.0.0.1:%d/metrics" % w.a_api)
    n = sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
            if line.startswith("acsd_sessions_rejected_total") and 'reason="auth_lockout"' in line)
    check(st == 200 and n == 2, "acsd_sessions_rejected_total{reason=\"auth_lockout\"}: %d %s" % (
        st, n))
    yield ("3 wrong answers: the address gets 503 + Retry-After for any device, the device from "
           "any address; nothing stored; both lockouts counted in /metrics")


def factory_then_own(w):
    state = os.path.join(w.tmp, "factory.state")
    common = ["--factory-key", w.fkey, "--state", state]
    s = w.cpesim(w.a_cwmp, "FAC", 3, common + ["--sessions", "3"])
    check(s["sessions_ok"] == 3, "first contact with the factory credential: %r" % s)
    names = w.sql("SELECT count(*) FROM device_secrets WHERE device_id LIKE '%-FAC%' AND name IN "
                  "('Device.ManagementServer.Password', 'Device.ManagementServer.Username')")
    check(names == "6", "sealed credentials: %s rows, expected 6" % names)
    # sealed: not in parameters in clear, the ciphertext does not hold them
    own = w.sql("SELECT value FROM parameters WHERE device_id LIKE '%-FAC000000' AND name = "
                "'Device.ManagementServer.Password'")
    check(own in ("", None) or own.strip() == "", "a password in parameters: %r" % own)
    s2 = w.cpesim(w.a_cwmp, "FAC", 3, common + ["--sessions", "3", "--periodic"])
    check(s2["sessions_ok"] == 3, "the next sessions with the device's own password: %r" % s2)
    # the factory credential no longer opens: fresh devices (no state) of the same serials
    s3 = w.cpesim(w.b_cwmp, "FAC", 1, ["--factory-key", w.fkey, "--sessions", "1",
                                       "--source-ip", "127.0.0.51"])
    check(s3["sessions_ok"] == 0 and s3["failures"]["401"] == 1,
          "the factory credential after the device's own was set: %r" % s3)
    # nor the fleet default, at acsd B (the same store)
    c = Conn(w.b_cwmp, "127.0.0.52")
    serial = "FAC000001"
    fid = w.sql("SELECT id FROM devices WHERE id LIKE '%%-%s'" % serial)
    oui, pc = fid.split("-")[0], fid.split("-")[1]
    body = inform(serial).replace(OUI.encode(), oui.encode()).replace(
        b"<ProductClass>%s</ProductClass>" % PC.encode(), b"<ProductClass>%s</ProductClass>" % pc.encode())
    st, hdrs, _ = c.post(body)
    st, _, _ = c.post(body, {"Authorization": digest(FLEET_USER, FLEET_PASS, nonce_of(hdrs))})
    check(st == 401, "the fleet credentials for a device with its own: %d" % st)
    c.close()
    check(factory_password(w.factory_hex, "FAC000001") not in w.sql(
        "SELECT string_agg(encode(ciphertext, 'escape'), ' ') FROM device_secrets"),
          "a factory password in clear in device_secrets")
    yield ("factory credential on first contact; the policy's per-device password sealed (6 rows, "
           "none in parameters); the next sessions use it; factory and fleet credentials then refused")


def clean_stop(w):
    import signal
    for name, p in (("A", w.a), ("B", w.b)):
        rc = p.stop(30)
        log = p.log()
        for bad in ("Sanitizer", "runtime error:", "leaked"):
            check(bad not in log, "acsd %s reported '%s':\n%s" % (name, bad, log[-3000:]))
        check(rc == 0, "acsd %s exit status %s" % (name, rc))
    yield "both instances stop cleanly (exit 0, nothing from the sanitizers)"


def run(w):
    for t in (refused_and_nothing_stored, digest_and_basic_succeed, second_failure_closes,
              nonce_across_instances, replay, stale_nonce, throttling, factory_then_own, clean_stop):
        for line in t(w):
            yield line


def logs(w):
    return [("acsd A", w.a), ("acsd B", getattr(w, "b", None))] + [
        ("cpesim", p) for p in w.procs[2:][-2:]]


if __name__ == "__main__":
    sys.exit(run_test(World, run, logs, prefix="acs-auth-"))
