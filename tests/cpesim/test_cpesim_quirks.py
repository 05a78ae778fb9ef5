#!/usr/bin/env python3
"""acsd against CPEs that play deployed stacks' quirks (cpesim --quirk), with
the example policies (stdlib only).

    ACS_BIN_DIR=build/bin python3 tests/cpesim/test_cpesim_quirks.py

A throwaway PostgreSQL, acsd with --policies (a copy of policies/), a secret
key, its file server, and one cpesim process of two devices per quirk (each
its own serial prefix), booting at once. Tasks go out through connection
requests (`?connection_request=true`, the sealed per-device passwords of the
cr_credentials policy). Per quirk (docs/cpesim.md "Quirks"):

  object-only (QO)        the bootstrap policy's partial-path reads are
                          answered with the object alone: the session ends,
                          no request is sent twice in it (cpesim's RPC log),
                          inform_interval's SetParameterValues still went out
                          (300 inside the device), DeviceInfo's leaves stored
                          by name, the object stored as an object
  no-bootstrap (QB)       first Inform "2 PERIODIC": the device is stored,
                          its sessions work, a task is done
  no-periodic (QP)        no "2 PERIODIC" ever; a task is done
  stale-cookies (QS)      the last session's cookie sent again: three tasks
                          in a row done, no failed session
  xsd-1999 (QX)           1999 XMLSchema namespaces: bootstrapped, a task done
  fault-in-faultstring    a GetParameterValues of an unknown name: the task's
  (QF)                    fault is 9005 with the CPE's string
  boot-without-m-reboot   a Reboot task is done at its RebootResponse and
  (QR)                    stays done; the device informs "1 BOOT" alone;
                          last_boot moves; a later task is done
  download-no-credentials a Download of a file of acsd's file server: the
  (QD)                    server refuses (401), TransferComplete 9012 ends
                          the task 'fault', nothing hangs
  gpn-objects-only (QN)   with no-bootstrap: a parameter's name listed by
                          the planner is refused (9003); its object is
                          listed after it, refresh's UpTime read, no fault

and every fleet: no failed session. test_cpesim_quirks_cr.py has the
connection-request and crash quirks.

Exits 0 (pass), 1 (fail) or 77 (skipped: no PostgreSQL or no binaries).
"""
import hashlib
import json
import os
import shutil
import sys
import time
import urllib.parse
import urllib.request

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
sys.path.insert(0, HERE)
import simtest  # noqa: E402
from simtest import bin_path, check, free_port, http, run_test, wait_for  # noqa: E402

MS = "Device.ManagementServer."
OUI, PCLASS = "02CAFE", "HG181"


def q(dev):
    return urllib.parse.quote(urllib.parse.quote(dev, safe=""), safe="")


def dev_id(prefix, i=1):
    return "%s-%s-%s%06d" % (OUI, PCLASS, prefix, i)


class Fleet:
    def __init__(self, w, prefix, quirks, extra=()):
        self.prefix, self.quirks = prefix, quirks
        self.cr = free_port()
        self.ack = os.path.join(w.tmp, prefix + ".ack")
        argv = [bin_path("cpesim"), "--acs", "http://127.0.0.1:%d/" % w.cwmp, "--count", "2",
                "--first", "1", "--serial-prefix", prefix, "--duration", "600",
                "--periodic-interval", "3600", "--seed", "7", "--reboot-ms", "300",
                "--cr-listen", "127.0.0.1:%d" % self.cr, "--ack-log", self.ack, "--verbose",
                "--set", MS + "ConnectionRequestUsername=cr"] + list(extra)
        for qk in quirks.split(","):
            argv += ["--quirk", qk]
        self.p = w.spawn(argv)

    def serial(self, i=1):
        return "%s%06d" % (self.prefix, i)

    def acks(self, i=1):
        try:
            with open(self.ack) as f:
                return [ln.rstrip("\n").split("\t")[3].split(",") for ln in f
                        if ln.split("\t")[1] == self.serial(i)]
        except OSError:
            return []

    def sim(self, path):
        return http("GET", "http://127.0.0.1:%d%s" % (self.cr, path))

    def stats(self):
        st, body, _ = self.sim("/_sim/stats")
        check(st == 200, "cpesim %s stats: %d" % (self.prefix, st))
        return json.loads(body)

    def value(self, name, i=1):
        st, body, _ = self.sim("/_sim/dev/%s/get?name=%s" % (self.serial(i),
                                                             urllib.parse.quote(name)))
        check(st == 200, "cpesim get %s: %d %s" % (name, st, body))
        return body.rstrip("\n").split("\t")[3]

    def rpc_lines(self, i=1):
        tag = self.serial(i) + ": rpc "
        return [ln.split(tag, 1)[1] for ln in self.p.log().splitlines() if tag in ln]

    def no_failure(self):
        s = self.stats()
        check(s["failed"] == 0, "cpesim %s (%s): %d failed sessions:\n%s" % (
            self.prefix, self.quirks, s["failed"], self.p.log()[-2000:]))


class World(simtest.World):
    def __init__(self, pg, tmp, policies=True):
        super().__init__(pg, tmp)
        self.fleets = {}
        self.key = os.path.join(tmp, "secret.key")
        simtest.write_key(self.key)
        self.files = free_port()
        args = ["--pg", pg.dsn, "--workers", "2", "--secret-key-file", self.key, "--log-level",
                "info", "--files", "127.0.0.1:%d" % self.files, "--connreq-username", "cr",
                "--connreq-password", "cpesim", "--connreq-timeout-ms", "3000"]
        if policies:
            tree = os.path.join(tmp, "policies")
            shutil.copytree(os.path.join(ROOT, "policies"), tree)
            args += ["--policies", tree]
        self.start_acsd(*args)
        self.token = simtest.create_token(pg.dsn, "admin", "quirks")

    def fleet(self, prefix, quirks, extra=()):
        self.fleets[prefix] = Fleet(self, prefix, quirks, extra)
        return self.fleets[prefix]

    def logs(self):
        return [("acsd", self.acsd)] + [("cpesim " + f.prefix + " " + f.quirks, f.p)
                                        for f in self.fleets.values()]

    def task(self, dev, rpc, args, cr=True, timeout=20):
        query = "?connection_request=true&timeout=%d" % timeout if cr else ""
        st, text, _ = self.request("POST", "/api/v1/devices/%s/tasks%s" % (q(dev), query),
                                   {"rpc": rpc, "args": args}, timeout + 10)
        check(st in (200, 201, 202), "POST %s task for %s: %d %s" % (rpc, dev, st, text))
        return json.loads(text)

    def get_task(self, tid):
        st, text, _ = self.request("GET", "/api/v1/tasks/%d" % tid)
        check(st == 200, "GET task %d: %d %s" % (tid, st, text))
        return json.loads(text)

    def wait_end(self, tid, what, timeout=30):
        return wait_for("%s to end" % what, lambda: (lambda t: t if t["status"] not in (
            "pending", "sent") else None)(self.get_task(tid)), timeout)

    def gpv_done(self, dev, what, name=MS + "PeriodicInformInterval"):
        t = self.task(dev, "GetParameterValues", {"ParameterNames": [name]})
        t = self.wait_end(t["id"], what)
        check(t["status"] == "done" and t["result"], "%s: %r" % (what, t))
        return t

    def upload(self, name, data, ftype):
        qs = {"name": name, "type": ftype, "sha256": hashlib.sha256(data).hexdigest()}
        req = urllib.request.Request(
            "http://127.0.0.1:%d/api/v1/files?%s" % (self.api, urllib.parse.urlencode(qs)),
            data=data, method="POST", headers={"Authorization": "Bearer " + self.token,
                                               "Content-Type": "application/octet-stream"})
        with urllib.request.urlopen(req, timeout=30) as r:
            check(r.status == 201, "upload %s: %d" % (name, r.status))


def bootstrapped(w, f, i=1):
    """The bootstrap preset's inform_interval ran: 300 inside the device."""
    wait_for("%s bootstrapped by the policies" % f.serial(i),
             lambda: f.value(MS + "PeriodicInformInterval", i) == "300", 30)


def s_object_only(w):
    f = w.fleets["QO"]
    bootstrapped(w, f)
    lines = f.rpc_lines()
    gpv = [ln for ln in lines if ln.startswith("GetParameterValues")]
    check(any(ln.endswith(".") for ln in gpv),
          "no partial-path GetParameterValues reached the device: %r" % lines)
    dup = sorted({ln for ln in lines if lines.count(ln) > 1})
    check(not dup, "an identical request sent again in the bootstrap session: %r (all: %r)" % (
        dup, lines))
    check(any(ln.startswith("SetParameterValues") for ln in lines),
          "inform_interval's SetParameterValues did not go out: %r" % lines)
    d = dev_id("QO")
    wait_for("DeviceInfo's leaves stored", lambda: w.sql(
        "SELECT value FROM parameters WHERE device_id = '%s' AND name = "
        "'Device.DeviceInfo.Manufacturer'" % d) == "cpesim Networks", 10)
    obj = w.sql("SELECT is_object::text || '|' || coalesce(value, 'NULL') FROM parameters "
                "WHERE device_id = '%s' AND name = 'Device.DeviceInfo.'" % d)
    check(obj == "true|NULL", "Device.DeviceInfo. stored as %r" % obj)
    faults = w.sql("SELECT channel || ' ' || code FROM faults WHERE device_id = '%s'" % d)
    check("script.rounds" not in faults, "the round limit ran out: %r" % faults)
    f.no_failure()
    return ["object-only: bootstrap session completed, %d RPCs none repeated, "
            "SetParameterValues went out, leaves read by name, the object stored as an object "
            "(faults: %r): %r" % (len(lines), faults or "none", lines)]


def s_no_bootstrap(w):
    f = w.fleets["QB"]
    wait_for("QB's first Inform acknowledged", lambda: f.acks(), 20)
    check(f.acks()[0] == ["2 PERIODIC"], "first Inform: %r" % f.acks())
    d = dev_id("QB")
    check(w.sql("SELECT count(*) FROM devices WHERE id = '%s'" % d) == "1", "QB not stored")
    # the first sessions over: a connection request sent while one runs can
    # meet a device whose credentials that session is changing (401)
    wait_for("QB's first sessions over", lambda: (lambda st: st["in_flight"] == 0 and
                                                  st["ok"] >= 1)(f.stats()), 20)
    w.gpv_done(d, "a task for a device that never bootstrapped")
    f.no_failure()
    return ["no-bootstrap: first Inform 2 PERIODIC, the device stored, a task done"]


def s_no_periodic(w):
    f = w.fleets["QP"]
    bootstrapped(w, f)
    w.gpv_done(dev_id("QP"), "a task for a device without periodic Informs")
    time.sleep(2.5)  # --periodic-interval 1 before the policy set 300
    evs = [e for a in f.acks() for e in a]
    check("2 PERIODIC" not in evs, "a periodic Inform: %r" % f.acks())
    f.no_failure()
    return ["no-periodic: no 2 PERIODIC in %d sessions, bootstrapped, a task done"
            % len(f.acks())]


def s_stale_cookies(w):
    f = w.fleets["QS"]
    bootstrapped(w, f)
    for k in range(3):
        w.gpv_done(dev_id("QS"), "task %d of a device sending stale cookies" % k)
    f.no_failure()
    return ["stale-cookies: bootstrapped, three tasks in a row done (%d sessions)"
            % len(f.acks())]


def s_xsd_1999(w):
    f = w.fleets["QX"]
    bootstrapped(w, f)
    t = w.gpv_done(dev_id("QX"), "a task with 1999 namespaces")
    typ = w.sql("SELECT xsd_type FROM parameters WHERE device_id = '%s' AND name = '%s'" % (
        dev_id("QX"), MS + "PeriodicInformInterval"))
    check(typ == "xsd:unsignedInt", "PeriodicInformInterval stored with type %r" % typ)
    f.no_failure()
    return ["xsd-1999: bootstrapped, a task done (%r), types read" % t["result"]]


def s_fault_in_faultstring(w):
    f = w.fleets["QF"]
    bootstrapped(w, f)
    t = w.task(dev_id("QF"), "GetParameterValues", {"ParameterNames": ["Device.No.Such"]})
    t = w.wait_end(t["id"], "a task faulted by a CPE writing its detail in faultstring")
    fl = t["fault"] or {}
    check(t["status"] == "fault" and fl.get("code") == 9005 and
          "Device.No.Such" in (fl.get("string") or ""), "the task: %r" % t)
    return ["fault-in-faultstring: the task's fault is %r" % fl]


def s_boot_without_m_reboot(w):
    f = w.fleets["QR"]
    bootstrapped(w, f)
    d = dev_id("QR")
    n0 = len(f.acks())
    t = w.task(d, "Reboot", {"CommandKey": "rb-q"})
    wait_for("the reboot's Inform", lambda: len(f.acks()) > n0 and
             any("1 BOOT" in a for a in f.acks()[n0:]), 20)
    after = f.acks()[n0:]
    check(not any(e.startswith("M Reboot") for a in after for e in a),
          "M Reboot sent: %r" % after)
    t = w.wait_end(t["id"], "the Reboot task", 10)
    check(t["status"] == "done", "the Reboot task: %r" % t)
    wait_for("last_boot moved", lambda: w.sql(
        "SELECT last_boot > '%s'::timestamptz FROM devices WHERE id = '%s'" % (
            t["sent_at"], d)) == "t", 10)
    w.gpv_done(d, "a task after the reboot")
    t2 = w.get_task(t["id"])
    check(t2["status"] == "done", "the Reboot task changed: %r" % t2)
    f.no_failure()
    return ["boot-without-m-reboot: the Reboot task done at its RebootResponse and stays done; "
            "1 BOOT alone (%r); last_boot moved; a later task done" % after]


def s_download_no_credentials(w):
    f = w.fleets["QD"]
    bootstrapped(w, f)
    w.upload("quirk.cfg", b"Device.DeviceInfo.ProvisioningCode\tquirk\n",
             "3 Vendor Configuration File")
    t = w.task(dev_id("QD"), "Download", {"file": "quirk.cfg", "CommandKey": "dl-q"})
    t = w.wait_end(t["id"], "the Download fetched without credentials", 30)
    tc = (t["result"] or {}).get("TransferComplete") or {}
    check(t["status"] == "fault" and (t["fault"] or {}).get("code") == 9012 and
          tc.get("FaultStruct", {}).get("FaultCode") == 9012, "the Download task: %r" % t)
    check("HTTP 401" in f.p.log(), "cpesim did not log the file server's 401")
    check(f.value("Device.DeviceInfo.ProvisioningCode") != "quirk", "the file was applied")
    f.no_failure()
    return ["download-no-credentials: the file server refused (401), TransferComplete 9012, "
            "the task 'fault' %r" % t["fault"]]


def s_gpn_objects_only(w):
    f = w.fleets["QN"]
    wait_for("QN's first sessions over", lambda: (lambda st: st["in_flight"] == 0 and
                                                  st["ok"] >= 1)(f.stats()), 30)
    gpn = [ln.split(" ", 1)[1] for ln in f.rpc_lines() if ln.startswith("GetParameterNames ")]
    by_name = [p for p in gpn if not p.endswith(".")]
    check(by_name, "no GetParameterNames of a parameter's name: %r" % gpn)
    for p in by_name:  # its object, or an object above it, listed afterwards
        later = gpn[gpn.index(p) + 1:]
        check(any(o.endswith(".") and p.startswith(o) for o in later),
              "%s refused (9003), no object of it listed after it: %r" % (p, gpn))
    d = dev_id("QN")
    up = w.sql("SELECT coalesce(value, 'NULL') FROM parameters WHERE device_id = '%s' AND "
               "name = 'Device.DeviceInfo.UpTime'" % d)
    check(up not in ("", "NULL"), "refresh's UpTime not read: %r" % up)
    faults = w.sql("SELECT channel || ' ' || code FROM faults WHERE device_id = '%s'" % d)
    check(not faults, "faults stored: %r" % faults)
    f.no_failure()
    return ["gpn-objects-only: %s refused by name, listed by object, UpTime %s read, no fault" % (
        ", ".join(by_name), up)]


SCENARIOS = [s_object_only, s_no_bootstrap, s_no_periodic, s_stale_cookies, s_xsd_1999,
             s_fault_in_faultstring, s_boot_without_m_reboot, s_download_no_credentials,
             s_gpn_objects_only]


def make_world(pg, tmp):
    w = World(pg, tmp)
    w.fleet("QO", "object-only")
    w.fleet("QB", "no-bootstrap")
    w.fleet("QP", "no-periodic", ["--periodic-interval", "1"])
    w.fleet("QS", "stale-cookies")
    w.fleet("QX", "xsd-1999")
    w.fleet("QF", "fault-in-faultstring")
    w.fleet("QR", "boot-without-m-reboot")
    w.fleet("QD", "download-no-credentials")
    w.fleet("QN", "no-bootstrap,gpn-objects-only")
    return w


def run(w):
    for s in SCENARIOS:
        yield from s(w)


def main():
    return run_test(make_world, run, lambda w: w.logs(), prefix="acs-quirks-")


if __name__ == "__main__":
    sys.exit(main())
