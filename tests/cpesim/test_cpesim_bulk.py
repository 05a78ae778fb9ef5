#!/usr/bin/env python3
"""A bulk action over 1,000 simulated devices (stdlib only).

    ACS_BIN_DIR=build/bin python3 tests/cpesim/test_cpesim_bulk.py

A throwaway PostgreSQL, the real acsd, an operator token, and cpesim with
1,000 devices (serials BK000000 .. BK000999) that boot, then inform every
INTERVAL seconds. A bulk action (POST /api/v1/bulk) sets an SSID with
SetParameterValues on the 300 devices whose serial starts with BK0001,
BK0002 or BK0003, at RATE tasks per second; it is paused in the middle
(no task is made while paused) and resumed. It must end done with progress
{total: 300, pending: 0, done: 300, failed: 0}: one task for each of those
devices, none for the 700 others, the SSID set inside every one of them and
stored, and never more tasks made within one second than the rate allows.
A second bulk action (Reboot, 100 devices, slow) is cancelled early: no
task of it is left pending, and no device whose task was cancelled
rebooted.

Exits 0 (pass), 1 (fail) or 77 (skipped: no PostgreSQL or no binaries).
"""
import json
import os
import sys
import tempfile
import time

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
sys.path.insert(0, HERE)
import simtest  # noqa: E402
from simtest import Fail, bin_path, check, free_port, http, run_test, wait_for  # noqa: E402

COUNT = 1000
PREFIX = "BK"
OUI, PCLASS = "02CAFE", "HG181"
INTERVAL = 6  # PeriodicInformInterval: a task goes out within ~6 s of being made
RATE = 40
SSID = "Device.WiFi.SSID.1.SSID"


def serial(i):
    return "%s%06d" % (PREFIX, i)


def dev_id(i):
    return "%s-%s-%s" % (OUI, PCLASS, serial(i))


class World(simtest.World):
    api_timeout = 10

    def __init__(self, pg, tmp):
        super().__init__(pg, tmp)
        self.cr = free_port()
        self.ack = tempfile.NamedTemporaryFile(prefix="cpesim-bulk-ack-", delete=False).name
        self.sim = None
        self.start_acsd("--pg", pg.dsn, "--workers", "2", "--retry-after", "2", "--log-level",
                        "warn")
        self.token = simtest.create_token(pg.dsn, "operator", "bulk-test")
        self.sim = self.spawn([bin_path("cpesim"), "--acs", "http://127.0.0.1:%d/" % self.cwmp,
                               "--count", str(COUNT), "--serial-prefix", PREFIX, "--duration",
                               "300", "--periodic-interval", str(INTERVAL), "--cr-listen",
                               "127.0.0.1:%d" % self.cr, "--ack-log", self.ack, "--seed", "11",
                               "--reboot-ms", "200"])

    def close(self):
        super().close()
        try:
            os.unlink(self.ack)
        except OSError:
            pass

    def bulk(self, bid):
        st, b = self.call("GET", "/api/v1/bulk/%d" % bid)
        check(st == 200, "GET bulk %d: %d %r" % (bid, st, b))
        return b

    def op(self, bid, what):
        st, b = self.call("POST", "/api/v1/bulk/%d/%s" % (bid, what))
        check(st == 200, "%s bulk %d: %d %r" % (what, bid, st, b))
        return b

    def ntasks(self, bid, where=""):
        return int(self.sql("SELECT count(*) FROM tasks WHERE bulk_id = %d %s" % (bid, where)))

    def sim_value(self, i, name):
        st, body, _ = http("GET", "http://127.0.0.1:%d/_sim/dev/%s/get?name=%s" % (
            self.cr, serial(i), name))
        check(st == 200, "control get %s of %s: %d" % (name, serial(i), st))
        return body.splitlines()[0].split("\t")[3]

    def acked(self):
        """serial -> events of its acknowledged Informs (a list of sets)."""
        out = {}
        with open(self.ack) as f:
            for line in f:
                r = line.rstrip("\n").split("\t")
                if len(r) >= 4:
                    out.setdefault(r[1], []).append(set(r[3].split(",")))
        return out


def per_second_max(w, bid):
    ts = [float(x) for x in w.sql("SELECT extract(epoch FROM created_at) FROM tasks WHERE "
                                  "bulk_id = %d ORDER BY created_at" % bid).split()]
    best, j = 0, 0
    for i in range(len(ts)):
        while ts[i] - ts[j] >= 1.0:
            j += 1
        best = max(best, i - j + 1)
    return best, (ts[-1] - ts[0]) if ts else 0.0


def run(w):
    t0 = time.monotonic()
    wait_for("%d devices in the store" % COUNT, lambda: w.sql(
        "SELECT count(*) FROM devices WHERE serial_number LIKE '%s%%'" % PREFIX) == str(COUNT), 90)
    print("boot: %d devices in %.1f s" % (COUNT, time.monotonic() - t0), flush=True)
    matched = set(range(100, 400))

    # the one that finishes
    args = {"ParameterList": [{"Name": SSID, "Value": "bulk-ssid", "Type": "xsd:string"}],
            "ParameterKey": "bulk-1"}
    st, b = w.call("POST", "/api/v1/bulk", {
        "query": "serial_number ~= BK0001 OR serial_number ~= BK0002 OR serial_number ~= BK0003",
        "task": {"rpc": "SetParameterValues", "args": args}, "rate": RATE, "expires_in": 600})
    check(st == 201 and b["progress"] == {"total": 300, "pending": 300, "done": 0, "failed": 0},
          "POST bulk: %d %r" % (st, b))
    bid = b["id"]
    # the one that is cancelled
    st, c = w.call("POST", "/api/v1/bulk", {"query": "serial_number ~= BK0005",
                                                "task": {"rpc": "Reboot", "args": {"CommandKey": "bulk-rb"}},
                                                "rate": 4})
    check(st == 201 and c["progress"]["total"] == 100, "POST bulk: %d %r" % (st, c))

    # pause in the middle: nothing is made while paused, resume goes on
    wait_for("a third of the tasks", lambda: w.ntasks(bid) >= 100, 30)
    p = w.op(bid, "pause")
    n1 = w.ntasks(bid)
    check(p["status"] == "paused" and n1 < 300, "paused at %d: %r" % (n1, p))
    time.sleep(2.0)
    check(w.ntasks(bid) == n1, "tasks made while paused: %d -> %d" % (n1, w.ntasks(bid)))
    w.op(bid, "resume")
    wait_for("tasks after resume", lambda: w.ntasks(bid) > n1, 10)

    # cancel the slow one: nothing of it stays pending
    cc = w.op(c["id"], "cancel")
    made = w.ntasks(c["id"])
    check(cc["status"] == "cancelled" and w.ntasks(c["id"], "AND status = 'pending'") == 0 and
          0 < made < 100, "cancelled after %d tasks: %r" % (made, cc))
    cancelled = {int(s[len(PREFIX):]) for s in w.sql(
        "SELECT d.serial_number FROM tasks t JOIN devices d ON d.id = t.device_id WHERE t.bulk_id "
        "= %d AND t.status = 'cancelled'" % c["id"]).split()}

    # the first one ends done, every task done
    wait_for("bulk %d done" % bid, lambda: w.bulk(bid)["status"] == "done", 60)
    b = w.bulk(bid)
    check(b["progress"] == {"total": 300, "pending": 0, "done": 300, "failed": 0},
          "final progress %r" % b["progress"])
    got = {int(s[len(PREFIX):]) for s in w.sql(
        "SELECT d.serial_number FROM tasks t JOIN devices d ON d.id = t.device_id WHERE t.bulk_id "
        "= %d AND t.status = 'done'" % bid).split()}
    check(got == matched, "done tasks for %d devices; missing %r, extra %r" % (
        len(got), sorted(matched - got)[:5], sorted(got - matched)[:5]))
    others = int(w.sql("SELECT count(*) FROM tasks t JOIN devices d ON d.id = t.device_id WHERE "
                       "t.bulk_id = %d AND NOT (d.serial_number ~ '^BK000[123]')" % bid))
    check(others == 0 and w.ntasks(bid) == 300, "%d tasks for devices the query does not match" % others)
    most, span = per_second_max(w, bid)
    # the bucket holds a quarter second of the rate, and the store's transaction
    # times lag the runner's clock by up to another quarter second or so
    check(most <= RATE * 1.5 + 2, "%d tasks made within one second at %d/s" % (most, RATE))
    check(span >= (300 - RATE / 4 - 1) / RATE + 2.0 - 0.5,
          "300 tasks at %d/s with a 2 s pause made within %.1f s" % (RATE, span))
    stored = int(w.sql("SELECT count(*) FROM parameters WHERE name = '%s' AND value = 'bulk-ssid'"
                       % SSID))
    check(stored == 300, "%d devices with the SSID in the store" % stored)
    for i in (100, 250, 399):
        check(w.sim_value(i, SSID) == "bulk-ssid", "SSID inside %s" % serial(i))
    for i in (99, 400, 999):
        check(w.sim_value(i, SSID) != "bulk-ssid", "SSID set inside %s, not matched" % serial(i))

    # the cancelled one: its sent tasks settle; no cancelled device rebooted
    wait_for("the cancelled bulk's sent tasks to settle",
             lambda: w.ntasks(c["id"], "AND status IN ('pending', 'sent')") == 0, 30)
    acks = w.acked()
    rebooted = {int(s[len(PREFIX):]) for s, evs in acks.items()
                if any("M Reboot/bulk-rb" in e for e in evs)}
    done_c = {int(s[len(PREFIX):]) for s in w.sql(
        "SELECT d.serial_number FROM tasks t JOIN devices d ON d.id = t.device_id WHERE t.bulk_id "
        "= %d AND t.status = 'done'" % c["id"]).split()}
    check(not (rebooted & cancelled), "devices rebooted by a cancelled task: %r" % sorted(rebooted & cancelled))
    check(done_c <= set(range(500, 600)) and w.bulk(c["id"])["progress"]["pending"] == 0,
          "cancelled bulk: done %r, progress %r" % (sorted(done_c), w.bulk(c["id"])["progress"]))
    print("bulk: 300 of %d devices set at <= %d/s (most in a second: %d, over %.1f s), paused and resumed; "
          "a second cancelled after %d of 100 tasks; %.1f s in all" % (
              COUNT, RATE, most, span, made, time.monotonic() - t0), flush=True)

    w.sim.stop(40)
    last = [ln for ln in w.sim.log().splitlines() if ln.startswith("{")][-1]
    s = json.loads(last)
    check(s["sessions_failed"] == 0, "failed sessions: %s" % last)


def main():
    return run_test(World, run,
                    lambda w: [("cpesim", w.sim), ("acsd", w.acsd)], "acs-bulk-")

if __name__ == "__main__":
    sys.exit(main())
