#!/usr/bin/env python3
"""Connection requests from the task API, end to end with cpesim (stdlib only).

    ACS_BIN_DIR=build/bin python3 tests/cpesim/test_connreq.py

A throwaway PostgreSQL, two acsd instances on it (A: CWMP and the API; B:
CWMP only), a secret key file, and two cpesim processes whose devices only
inform at boot and when asked (PeriodicInformInterval 3600 s), so a task
that completes within seconds was brought by the connection request:

  cpesim 1 (prefix CA, talks to A, plain CRLF challenges):
    CA000001  config credentials (connreq_username/password)  200, done, GPV result kept
    CA000002  credentials only in device_secrets (sealed by `acsd secret set`)  200, done
    CA000003  a password the ACS does not know               202, failed, 401
    CA000004  ConnectionRequestURL on a closed port           202, failed, no HTTP status
    CA000005  no ConnectionRequestURL                         202, failed
    CA000006  CA000002's secrets copied to it (AAD mismatch)  202, failed: does not open
    CA000007  username from the stored parameter              200, done
  cpesim 2 (prefix CB, talks to B, folded LF-only challenges, 1.2 s think
  time): the API on A waits for a session run by B
    CB000001  timeout=20                                      200, done
    CB000002  timeout=1                                       202 (pending), done later
  and the API's refusals (timeout out of range or without a connection
  request, a bad flag), the 201 of a task without one, `acsd secret list`
  (names, never values) and its audit rows. Last, a URL that accepts (200)
  but no session follows: timeout=2 answers 202 after 2 s; a wait of 60 s cut
  by SIGTERM answers 202 at once and acsd A exits 0.

Exits 0 (pass), 1 (fail) or 77 (skipped: no PostgreSQL or no binaries).
"""
import json
import os
import signal
import sys
import tempfile
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
sys.path.insert(0, HERE)
import simtest  # noqa: E402
from simtest import Fail, bin_path, check, free_port, http, run_test, wait_for  # noqa: E402

MS = "Device.ManagementServer."
USER, PASS = MS + "ConnectionRequestUsername", MS + "ConnectionRequestPassword"


def serial(prefix, i):
    return "%s%06d" % (prefix, i)


class World(simtest.World):
    def __init__(self, pg, tmp):
        super().__init__(pg, tmp)
        self.key = os.path.join(tmp, "secret.key")
        simtest.write_key(self.key)
        self.cwmp_a, self.cwmp_b, self.api = free_port(), free_port(), free_port()
        self.cr1, self.cr2 = free_port(), free_port()
        common = ["--pg", pg.dsn, "--workers", "2", "--log-level", "info", "--secret-key-file",
                  self.key, "--connreq-username", "cr", "--connreq-password", "cpesim",
                  "--connreq-timeout-ms", "3000"]
        self.a = self.spawn(simtest.acsd_argv(self.cwmp_a, self.api, "--instance-id", "a",
                                              *common))
        simtest.wait_healthy(self.a, self.api, "acsd A")
        self.b = self.spawn([bin_path("acsd"), "--cwmp", "127.0.0.1:%d" % self.cwmp_b, "--api",
                             "off", "--instance-id", "b"] + common)
        self.token = simtest.create_token(pg.dsn, "operator", "cr-test")
        sim = [bin_path("cpesim"), "--count", "7", "--first", "1", "--duration", "600",
               "--periodic-interval", "3600", "--seed", "9", "--verbose",
               "--set", USER + "=cr"]
        self.sim1 = self.spawn(sim + ["--acs", "http://127.0.0.1:%d/" % self.cwmp_a,
                                      "--serial-prefix", "CA", "--cr-listen",
                                      "127.0.0.1:%d" % self.cr1])
        time.sleep(0.3)
        check(self.b.alive(), "acsd B exited:\n" + self.b.log()[-2000:])
        self.sim2 = self.spawn(sim[:2] + ["2"] + sim[3:] + [
            "--acs", "http://127.0.0.1:%d/" % self.cwmp_b, "--serial-prefix", "CB",
            "--cr-listen", "127.0.0.1:%d" % self.cr2, "--cr-challenge", "folded-lf",
            "--think-ms", "1200"])

    def secret_set(self, dev, name, value):
        p = self.cli(["secret", "set", dev, name, "-", "--secret-key-file", self.key],
                     stdin=value + "\n")
        check(p.returncode == 0, "acsd secret set %s %s: %s" % (dev, name, p.stderr))
        check(value not in p.stdout + p.stderr, "acsd secret set printed the value")

    # --- the API
    def task(self, dev, query="", rpc="GetParameterValues", args=None):
        body = {"rpc": rpc, "args": args if args is not None else
                {"ParameterNames": [MS + "PeriodicInformInterval"]}}
        t0 = time.monotonic()
        st, text, hdrs = self.request("POST", "/api/v1/devices/%s/tasks%s" % (
            urllib.parse.quote(urllib.parse.quote(dev, safe=""), safe=""), query), body)
        took = time.monotonic() - t0
        doc = json.loads(text) if text else None
        if st in (200, 201, 202):
            check(hdrs.get("Location") == "/api/v1/tasks/%d" % doc["id"],
                  "Location of task %r: %r" % (doc, hdrs.get("Location")))
        return st, doc, took

    def get_task(self, tid):
        st, text, _ = self.request("GET", "/api/v1/tasks/%d" % tid)
        check(st == 200, "GET task %d: %d %s" % (tid, st, text))
        return json.loads(text)

    # --- the simulated devices
    def sim_req(self, port, path):
        return http("GET", "http://127.0.0.1:%d%s" % (port, path))

    def dev_id(self, port, s):
        st, body, _ = self.sim_req(port, "/_sim/dev/%s/info" % s)
        check(st == 200, "cpesim info %s: %d %s" % (s, st, body))
        return json.loads(body)["id"]

    def sim_set(self, port, s, name, value):
        st, body, _ = self.sim_req(port, "/_sim/dev/%s/set?name=%s&value=%s" % (
            s, urllib.parse.quote(name), urllib.parse.quote(value)))
        check(st == 200, "cpesim set %s %s: %d %s" % (s, name, st, body))

    def cr_count(self, port):
        return json.loads(self.sim_req(port, "/_sim/stats")[1])["cr"]


def cr_of(task):
    return (task.get("result") or {}).get("connection_request") or {}


def expect_done(w, what, st, doc, took, limit):
    check(st == 200, "%s: expected 200, got %d %r" % (what, st, doc))
    check(doc["status"] == "done", "%s: status %s %r" % (what, doc["status"], doc))
    cr = cr_of(doc)
    check(cr.get("status") == "accepted" and cr.get("http_status") == 200 and
          cr.get("at", "").endswith("Z"), "%s: connection_request %r" % (what, cr))
    values = {p["Name"]: p["Value"] for p in doc["result"].get("ParameterList", [])}
    check(values.get(MS + "PeriodicInformInterval") == "3600",
          "%s: the RPC's result is not kept beside the outcome: %r" % (what, doc["result"]))
    check(took < limit, "%s: answered after %.1f s (timeout %d)" % (what, took, limit))


def expect_failed(what, st, doc, http_status, needle):
    check(st == 202, "%s: expected 202, got %d %r" % (what, st, doc))
    check(doc["status"] == "pending", "%s: task status %s" % (what, doc["status"]))
    cr = cr_of(doc)
    check(cr.get("status") == "failed" and cr.get("http_status") == http_status and
          needle in cr.get("detail", ""), "%s: connection_request %r" % (what, cr))


def run(w):
    ids = {}
    wait_for("9 devices in the store", lambda: w.sql(
        "SELECT count(*) FROM devices WHERE connection_request_url IS NOT NULL") == "9", 30)
    for i in range(1, 8):
        ids[i] = w.dev_id(w.cr1, serial("CA", i))
    done = []

    # the API's refusals, and no connection request without the flag
    for q, needle in (("?connection_request=true&timeout=0", "timeout"),
                      ("?connection_request=true&timeout=121", "timeout"),
                      ("?connection_request=true&timeout=5s", "timeout"),
                      ("?timeout=5", "only with connection_request"),
                      ("?connection_request=yes", "connection_request")):
        st, doc, _ = w.task(ids[1], q)
        check(st == 400 and needle in doc["error"], "%s: %d %r" % (q, st, doc))
    before = w.cr_count(w.cr1)
    st, plain, _ = w.task(ids[1], "?connection_request=false")
    check(st == 201 and plain["status"] == "pending" and plain["result"] is None,
          "plain: %r" % plain)
    time.sleep(1)
    check(w.cr_count(w.cr1) == before and w.get_task(plain["id"])["status"] == "pending",
          "a task without connection_request=true made a connection request")
    done.append("refusals (timeout 0, 121, 5s, without the flag, bad flag); 201 without")

    # 1: config credentials; the queued task above goes out in the same session
    st, doc, took = w.task(ids[1], "?connection_request=true&timeout=20")
    expect_done(w, "CA000001", st, doc, took, 20)
    check(w.get_task(plain["id"])["status"] == "done", "the earlier task did not run")
    done.append("config credentials: 200 done in %.2f s" % took)

    # 2: credentials that only device_secrets holds
    w.sim_set(w.cr1, serial("CA", 2), USER, "dev2-user")
    w.sim_set(w.cr1, serial("CA", 2), PASS, "dev2 s3cret!")
    w.secret_set(ids[2], USER, "dev2-user")
    w.secret_set(ids[2], PASS, "dev2 s3cret!")
    st, doc, took = w.task(ids[2], "?connection_request=true&timeout=20")
    expect_done(w, "CA000002 (device_secrets)", st, doc, took, 20)
    p = w.cli(["secret", "list", ids[2]])
    check(p.returncode == 0 and USER in p.stdout and PASS in p.stdout and
          "s3cret" not in p.stdout, "acsd secret list: %r %r" % (p.stdout, p.stderr))
    key_id = w.sql("SELECT DISTINCT key_id FROM device_secrets WHERE device_id = '%s'" % ids[2])
    check(len(key_id) == 16 and key_id in p.stdout, "key id %r" % key_id)
    check(w.sql("SELECT count(*) FROM audit_log WHERE action = 'secret.set' AND target = '%s'"
                % ids[2]) == "2", "secret.set not audited")
    done.append("device_secrets credentials: 200 done in %.2f s (key %s)" % (took, key_id))

    # 3: a password the ACS does not know: Digest answered, refused
    w.sim_set(w.cr1, serial("CA", 3), PASS, "not-cpesim")
    st, doc, took = w.task(ids[3], "?connection_request=true&timeout=20")
    expect_failed("CA000003 (wrong password)", st, doc, 401, "refused")
    check(took < 5, "a refused request waited %.1f s" % took)
    done.append("wrong password: 202, failed, 401 (%.2f s)" % took)

    # 4: nothing listens at the URL
    dead = free_port()
    w.sql("UPDATE devices SET connection_request_url = 'http://127.0.0.1:%d/x' WHERE id = '%s'"
          % (dead, ids[4]))
    st, doc, took = w.task(ids[4], "?connection_request=true&timeout=20")
    expect_failed("CA000004 (unreachable)", st, doc, None, "cannot connect")
    done.append("unreachable URL: 202, failed (%s)" % cr_of(doc)["detail"])

    # 5: no URL known
    w.sql("UPDATE devices SET connection_request_url = NULL WHERE id = '%s'" % ids[5])
    st, doc, _ = w.task(ids[5], "?connection_request=true&timeout=20")
    expect_failed("CA000005 (no URL)", st, doc, None, "ConnectionRequestURL")
    done.append("no URL: 202, failed")

    # 6: another device's sealed rows do not open here (AAD: device id + name)
    w.sql("INSERT INTO device_secrets (device_id, name, ciphertext, key_id) SELECT '%s', name, "
          "ciphertext, key_id FROM device_secrets WHERE device_id = '%s'" % (ids[6], ids[2]))
    st, doc, _ = w.task(ids[6], "?connection_request=true&timeout=20")
    expect_failed("CA000006 (copied secret)", st, doc, None, "does not open")
    p = w.cli(["secret", "delete", ids[6], PASS])
    check(p.returncode == 0, "acsd secret delete: %s" % p.stderr)
    done.append("a secret copied from another device: 202, failed: does not open")

    # 7: the username parameter's stored value, the config's password
    w.sim_set(w.cr1, serial("CA", 7), USER, "param-user")
    w.sql("INSERT INTO parameters (device_id, name, value, xsd_type) VALUES ('%s', '%s', "
          "'param-user', 'xsd:string')" % (ids[7], USER))
    st, doc, took = w.task(ids[7], "?connection_request=true&timeout=20")
    expect_done(w, "CA000007 (stored username)", st, doc, took, 20)
    done.append("stored username parameter: 200 done")

    # the failed ones were never reached (only their tasks' devices saw requests)
    ok = w.cr_count(w.cr1)
    check(ok == before + 3, "cpesim 1 accepted %d connection requests, expected %d" % (
        ok, before + 3))

    # cpesim 2 on instance B, folded LF-only challenges: the API on A waits
    b1, b2 = w.dev_id(w.cr2, serial("CB", 1)), w.dev_id(w.cr2, serial("CB", 2))
    st, doc, took = w.task(b1, "?connection_request=true&timeout=20")
    expect_done(w, "CB000001 (folded LF-only, instance B)", st, doc, took, 20)
    check(took > 2.0, "CB000001 done in %.2f s despite 2 x 1.2 s think time" % took)
    done.append("folded LF-only challenge, session on the other instance: 200 done in %.2f s"
                % took)
    st, doc, took = w.task(b2, "?connection_request=true&timeout=1")
    check(st == 202 and doc["status"] in ("pending", "sent") and
          cr_of(doc).get("status") == "accepted", "CB000002 timeout=1: %d %r" % (st, doc))
    check(0.9 < took < 3, "CB000002: answered after %.2f s with timeout=1" % took)
    later = wait_for("CB000002's task done", lambda: (lambda t: t if t["status"] == "done"
                                                      else None)(w.get_task(doc["id"])), 20)
    check(cr_of(later).get("status") == "accepted" and "ParameterList" in later["result"],
          "CB000002 later: %r" % later)
    done.append("timeout=1: 202 after %.2f s (%s), then done" % (took, doc["status"]))

    # accepted, and no session follows (nobody behind the URL informs)
    fake = Accepting()
    w.sql("UPDATE devices SET connection_request_url = '%s' WHERE id = '%s'" % (fake.url, ids[5]))
    st, doc, took = w.task(ids[5], "?connection_request=true&timeout=2")
    check(st == 202 and doc["status"] == "pending" and cr_of(doc).get("status") == "accepted" and
          1.9 < took < 4 and fake.gets == 1, "accepted, no session: %d %r after %.2f s, %d GET" %
          (st, doc, took, fake.gets))
    done.append("accepted, no session within 2 s: 202 after %.2f s" % took)
    out = {}
    waiter = threading.Thread(target=lambda: out.update(r=w.task(
        ids[5], "?connection_request=true&timeout=60")))
    waiter.start()
    wait_for("the second GET", lambda: fake.gets == 2, 10)
    time.sleep(0.5)
    t0 = time.monotonic()
    w.a.p.send_signal(signal.SIGTERM)
    waiter.join(10)
    st, doc, _ = out.get("r", (None, None, None))
    check(st == 202 and doc["status"] == "pending", "the wait cut by SIGTERM: %r" % (out,))
    rc = w.a.p.wait(10)
    took = time.monotonic() - t0
    check(rc == 0 and took < 3, "acsd A after SIGTERM: exit %r in %.2f s" % (rc, took))
    fake.shutdown()
    done.append("a wait cut by SIGTERM: 202, acsd exits 0 in %.2f s" % took)
    return done


class Accepting(ThreadingHTTPServer):
    """A connection-request URL that answers 200 to anyone (and counts)."""
    daemon_threads = True

    def __init__(self):
        self.gets = 0
        super().__init__(("127.0.0.1", 0), AcceptHandler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self):
        return "http://127.0.0.1:%d/cr" % self.server_address[1]


class AcceptHandler(BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def do_GET(self):
        self.server.gets += 1
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()


def main():
    return run_test(World, run, lambda w: [("acsd A", w.a), ("acsd B", getattr(w, "b", None)),
                                         ("cpesim 1", getattr(w, "sim1", None)),
                                         ("cpesim 2", getattr(w, "sim2", None))],
                    "acs-connreq-")

if __name__ == "__main__":
    sys.exit(main())
