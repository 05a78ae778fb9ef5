#!/usr/bin/env python3
"""Canary roll-outs end to end (docs/policies.md, "Canary generations"):
real PostgreSQL, acsd (2 workers) and 40 cpesim devices.

Each generation's provision tags the device "gen-N" (and drops the other
gen- tags), so a device's tags say which generation its last session ran.

  - generation 1 pushed: every device runs it;
  - generation 2 pushed without serving it, rolled out to 20 % (the API):
    exactly the devices whose stable point (md5 of "rollout:" + id, as
    acs_policy_canary_point) is below 20 run it, the others generation 1;
  - widened to 50 % (acsctl): exactly those below 50;
  - completed: generation 2 is current, every device runs it;
  - generation 3, whose alarm rule raises, rolled out to 50 % (acsctl,
    max fault rate 0.2 from 3 devices): its canary devices fault, the
    roll-out is rolled back automatically (audited as acsd:canary with the
    counts), and the next sessions run generation 2 on every device;
  - every step is in the audit log with who and why.

Exits 0 (pass), 1 (fail) or 77 (skipped: no PostgreSQL or no binaries).
"""
import hashlib
import os
import sys
import time

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
sys.path.insert(0, HERE)
import simtest  # noqa: E402
from simtest import bin_path, check, run_test, wait_for  # noqa: E402

N = 40
PRESETS = 'return {{name = "mark", provisions = {"mark"}, channel = "mark"}}\n'
MARK = """local mine = "gen-%d"
for _, t in ipairs(device.tags) do
  if t:match("^gen%%-") and t ~= mine then untag(t) end
end
tag(mine)
"""
BOOM = 'error("canary boom")\n'


def tree(n, alarm=None):
    t = {"presets/default.lua": PRESETS, "provisions/mark.lua": MARK % n}
    if alarm:
        t["alarms/boom.lua"] = alarm
    return t


def point(dev):
    """acs_policy_canary_point: percent in [0, 100)."""
    return int(hashlib.md5(("rollout:" + dev).encode()).hexdigest()[:8], 16) / 4294967296.0 * 100


class World(simtest.World):
    def __init__(self, pg, tmp):
        super().__init__(pg, tmp)
        self.start_acsd("--pg", pg.dsn, "--workers", "2", "--log-level", "info")
        self.token = simtest.create_token(pg.dsn, "admin", "ops")
        self.sim = None

    def sessions(self, periodic=True, count=N, first=0):
        """One session per device, all done."""
        argv = [bin_path("cpesim"), "--acs", "http://127.0.0.1:%d/" % self.cwmp, "--count",
                str(count), "--first", str(first), "--serial-prefix", "CN", "--sessions",
                str(count), "--concurrency", "10", "--no-loop", "--seed", "3", "--quiet"]
        self.sim = self.spawn(argv + (["--periodic"] if periodic else []))
        rc = self.sim.wait(60)
        check(rc == 0, "cpesim exited %d: %s" % (rc, self.sim.log()[-2000:]))

    def tags(self):
        """device id -> its gen- tag (None: none)."""
        out = {}
        for line in self.sql("SELECT id, coalesce((SELECT string_agg(t, ',') FROM unnest(tags) t "
                             "WHERE t LIKE 'gen-%'), '') FROM devices").splitlines():
            dev, tag = line.split("|")
            out[dev] = tag or None
        return out

    def served(self, gen):
        wait_for("generation %d served by every worker" % gen, lambda: all(
            w == gen for w in self.call("GET", "/api/v1/policies")[1]["workers"]), 10)

    def push(self, files, activate=True, force=False):
        q = [k for k, on in (("activate=false", not activate), ("force=true", force)) if on]
        st, doc = self.call("POST", "/api/v1/policies" + ("?" + "&".join(q) if q else ""),
                            {"files": files, "source": "canary test"})
        check(st == 201, "push: %d %r" % (st, doc))
        return doc["id"]


def expect_split(w, share, canary, base):
    tags = w.tags()
    check(len(tags) == N, "%d devices, expected %d" % (len(tags), N))
    want = {d: ("gen-%d" % canary if point(d) < share else "gen-%d" % base) for d in tags}
    wrong = {d: (tags[d], want[d]) for d in tags if tags[d] != want[d]}
    check(not wrong, "at %g %%: devices on the wrong generation (got, want): %r" % (share, wrong))
    return sum(1 for d in tags if point(d) < share)


def expect_members(w, members, canary, base, n=N):
    """Exactly the devices in members run the canary, the others base."""
    tags = w.tags()
    check(len(tags) == n, "%d devices, expected %d" % (len(tags), n))
    want = {d: ("gen-%d" % canary if d in members else "gen-%d" % base) for d in tags}
    wrong = {d: (tags[d], want[d]) for d in tags if tags[d] != want[d]}
    check(not wrong, "devices on the wrong generation (got, want): %r" % wrong)


def serial(dev):
    return dev.rsplit("-", 1)[1]


def members_loaded(w, rollout, count):
    """Worker 0 holds the roll-out's members (its log line); the other
    workers, woken with it, within their poll."""
    wait_for("members of roll-out %d loaded" % rollout, lambda: (
        "canary roll-out %d: %d member devices" % (rollout, count)) in w.acsd.log(), 10)
    time.sleep(1.2)


def canary_loaded(w, gen):
    """Every worker has the canary generation (its log line)."""
    wait_for("canary generation %d loaded" % gen,
             lambda: w.acsd.log().count("canary generation %d loaded" % gen) >= 1, 10)


def run(w):
    g1 = w.push(tree(1))
    w.served(g1)
    w.sessions(periodic=False)
    check(set(w.tags().values()) == {"gen-1"}, "boot: %r" % w.tags())
    yield "generation %d on all %d devices" % (g1, N)

    g2 = w.push(tree(2), activate=False)
    w.served(g1)  # stored, not served
    st, doc = w.call("POST", "/api/v1/policies/rollout",
                     {"generation": g2, "share": 20, "min_devices": 2, "reason": "try it"})
    check(st == 201 and doc["state"] == "running" and doc["share"] == 20, "start: %d %r" % (st, doc))
    st, doc2 = w.call("POST", "/api/v1/policies/rollout", {"generation": g1, "share": 10})
    check(st == 409 and "rolling out" in doc2["error"], "a second roll-out: %d %r" % (st, doc2))
    canary_loaded(w, g2)
    time.sleep(1.2)  # every worker's poll (each looks once a second)
    w.sessions()
    n20 = expect_split(w, 20, g2, g1)
    check(0 < n20 < N // 2, "%d canary devices at 20 %%" % n20)
    yield "20 %%: exactly the %d devices below the share run generation %d, the others %d" % (
        n20, g2, g1)

    rc, out = w.acsctl("policies", "canary", str(g2), "--share", "50", "--reason", "looks good")
    check(rc == 0 and "on 50% of the fleet, running" in out, "acsctl widen: %d %s" % (rc, out))
    rc, out = w.acsctl("policies", "canary", str(g2), "--share", "30")
    check(rc != 0 and "only widens" in out, "acsctl narrowing: %d %s" % (rc, out))
    time.sleep(1.2)
    w.sessions()
    n50 = expect_split(w, 50, g2, g1)
    check(n50 > n20, "widening kept %d of %d" % (n50, n20))
    yield "widened to 50 %% (acsctl): the %d devices below it, the first %d among them" % (n50, n20)

    rc, out = w.acsctl("policies", "canary-complete", "--reason", "all good")
    check(rc == 0 and "completed" in out, "acsctl canary-complete: %d %s" % (rc, out))
    w.served(g2)
    w.sessions()
    check(set(w.tags().values()) == {"gen-2"}, "after completion: %r" % w.tags())
    yield "completed: generation %d current, on every device" % g2

    # the dry run at push would refuse it on the stored devices: forced past it,
    # as a fault that shows only on some devices would pass it
    g3 = w.push(tree(3, alarm=BOOM), activate=False, force=True)
    rc, out = w.acsctl("policies", "canary", str(g3), "--share", "50", "--max-fault-rate", "0.2",
                       "--min-devices", "3", "--reason", "risky")
    check(rc == 0, "acsctl canary: %d %s" % (rc, out))
    canary_loaded(w, g3)
    time.sleep(1.2)
    w.sessions()
    wait_for("the automatic rollback", lambda: w.call("GET", "/api/v1/policies/rollout")[1]["state"]
             == "rolled_back", 10)
    st, doc = w.call("GET", "/api/v1/policies/rollout")
    check(doc["generation"] == g3 and doc["seen"] >= 3 and doc["faulted"] > 0.2 * doc["seen"],
          "the rolled back roll-out %r" % doc)
    rows = w.sql("SELECT actor || '|' || (detail->>'faulted') || '|' || (detail->>'seen') FROM audit_log "
                 "WHERE action = 'policy.rollout.rollback'").splitlines()
    check(len(rows) == 1 and rows[0].startswith("acsd:canary|"), "rollback audit %r" % rows)
    yield "generation %d faulted %s of %s canary devices: rolled back automatically, audited" % (
        g3, doc["faulted"], doc["seen"])
    time.sleep(1.2)
    w.sessions()
    check(set(w.tags().values()) == {"gen-2"}, "after the rollback: %r" % w.tags())
    w.served(g2)
    yield "after the rollback generation %d serves every device" % g2

    acts = w.sql("SELECT string_agg(action || ':' || actor || ':' || coalesce((detail->>'reason'), ''),"
                 " ' ' ORDER BY id) FROM audit_log WHERE action LIKE 'policy.rollout.%'")
    want = ("policy.rollout.start:ops:try it policy.rollout.widen:ops:looks good "
            "policy.rollout.complete:ops:all good policy.rollout.start:ops:risky "
            "policy.rollout.rollback:acsd:canary:")
    check(acts.startswith(want), "audit rows %r" % acts)
    yield "every step audited with who and why"


def logs(w):
    return [("acsd", w.acsd), ("cpesim", w.sim)]


if __name__ == "__main__":
    sys.exit(run_test(World, run, logs, prefix="acs-canary-"))
