#!/usr/bin/env python3
"""The cap on policy log lines per session (docs/policies.md, "log"; the
config's policy-log-lines): real PostgreSQL, acsd and 3 cpesim devices whose
provision calls log() 10,000 times in one session.

  - with the default cap (100), each device's session writes its first 100
    lines and one line saying how many more were dropped (9,900): at most
    the cap + 1 lines per session; the provision runs to its end (it tags the
    device after the loop), every session succeeds and no fault is stored;
  - /metrics counts the dropped lines (acsd_policy_log_lines_dropped_total);
  - restarted with ACS_POLICY_LOG_LINES=5: 5 lines and the one line per
    session; a session that logs under the cap gets no such line;
  - a fleet job's run is capped the same way.

Exits 0 (pass), 1 (fail) or 77 (skipped: no PostgreSQL or no binaries).
"""
import os
import re
import sys

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
sys.path.insert(0, HERE)
import simtest  # noqa: E402
from simtest import bin_path, check, free_port, http, run_test, wait_for  # noqa: E402

N = 3
LINES = 10000
PRESETS = 'return {{name = "chatty", provisions = {"chatty"}, channel = "chatty"}}\n'
CHATTY = """for i = 1, %d do log("warn", "chatty line " .. i) end
tag("logged")
""" % LINES


class World(simtest.World):
    def __init__(self, pg, tmp):
        super().__init__(pg, tmp)
        self.cwmp, self.api = free_port(), free_port()
        self.start()
        self.token = simtest.create_token(pg.dsn, "admin", "ops")
        self.sim = None

    def start(self, env=None):
        """acsd (again, on the same ports)."""
        if self.acsd:
            self.acsd.kill()
        self.acsd = self.spawn(simtest.acsd_argv(self.cwmp, self.api, "--pg", self.pg.dsn,
                                                 "--workers", "1", "--log-level", "info"), env)
        simtest.wait_healthy(self.acsd, self.api)

    def sessions(self):
        self.sim = self.spawn([bin_path("cpesim"), "--acs", "http://127.0.0.1:%d/" % self.cwmp,
                               "--count", str(N), "--serial-prefix", "LOG", "--sessions", str(N),
                               "--no-loop", "--seed", "5", "--quiet"])
        rc = self.sim.wait(60)
        check(rc == 0, "cpesim exited %d: %s" % (rc, self.sim.log()[-2000:]))

    def dropped_metric(self):
        st, text, _ = http("GET", "http://127.0.0.1:%d/metrics" % self.api)
        check(st == 200, "/metrics: %d" % st)
        m = re.search(r"^acsd_policy_log_lines_dropped_total (\S+)$", text, re.M)
        check(m, "acsd_policy_log_lines_dropped_total not in /metrics")
        return float(m.group(1))


def per_device(w, log):
    """device id -> (chatty lines, summary lines) in acsd's log."""
    devs = w.pg.psql("SELECT id FROM devices ORDER BY id").split()
    check(len(devs) == N, "devices: %r" % devs)
    out = {}
    for d in devs:
        mine = [ln for ln in log.splitlines() if (d + ": ") in ln]
        chatty = [ln for ln in mine if "chatty line " in ln]
        summary = [ln for ln in mine if "log lines of this session's policies dropped" in ln]
        out[d] = (chatty, summary)
    return out


def run(w):
    st, doc = w.call("POST", "/api/v1/policies", {"files": {
        "presets/default.lua": PRESETS, "provisions/chatty.lua": CHATTY}, "source": "log cap"})
    check(st == 201, "push: %d %r" % (st, doc))
    wait_for("generation served", lambda: all(
        g == doc["id"] for g in w.call("GET", "/api/v1/policies")[1]["workers"]), 10)
    w.sessions()
    got = per_device(w, w.acsd.log())
    for d, (chatty, summary) in got.items():
        check(len(chatty) == 100, "%s: %d lines, expected the cap (100)" % (d, len(chatty)))
        check(chatty[0].endswith("chatty line 1") and chatty[-1].endswith("chatty line 100"),
              "%s: the first 100 lines are kept: %r ... %r" % (d, chatty[0], chatty[-1]))
        check(len(summary) == 1 and "9900 more log lines" in summary[0] and
              "policy-log-lines: 100" in summary[0], "%s: the summary line %r" % (d, summary))
    tagged = w.pg.psql("SELECT count(*) FROM devices WHERE 'logged' = ANY (tags)")
    check(tagged == str(N), "the provision ran to its end on %s of %d devices" % (tagged, N))
    faults = w.pg.psql("SELECT count(*) FROM faults")
    check(faults == "0", "%s faults stored" % faults)
    yield "%d lines logged per session: 100 kept, 1 line for the 9,900 dropped, %d devices" % (
        LINES, N)
    check(w.dropped_metric() == N * (LINES - 100), "the metric counts every dropped line")
    yield "/metrics: acsd_policy_log_lines_dropped_total %d" % (N * (LINES - 100))

    w.start(env={"ACS_POLICY_LOG_LINES": "5"})
    before = len(w.acsd.log())
    w.sessions()
    got = per_device(w, w.acsd.log()[before:])
    for d, (chatty, summary) in got.items():
        check(len(chatty) == 5 and len(summary) == 1 and "9995 more log lines" in summary[0],
              "%s at 5: %d lines, %r" % (d, len(chatty), summary))
    check(w.dropped_metric() == N * (LINES - 5), "the metric after the restart")
    yield "ACS_POLICY_LOG_LINES=5: 5 lines and 1 per session"

    st, doc = w.call("POST", "/api/v1/policies", {"files": {
        "presets/default.lua": PRESETS,
        "provisions/chatty.lua": CHATTY.replace(str(LINES), "3")}, "source": "log cap"})
    check(st == 201, "push: %d %r" % (st, doc))
    wait_for("generation served", lambda: all(
        g == doc["id"] for g in w.call("GET", "/api/v1/policies")[1]["workers"]), 10)
    before = len(w.acsd.log())
    w.sessions()
    got = per_device(w, w.acsd.log()[before:])
    for d, (chatty, summary) in got.items():
        check(len(chatty) == 3 and not summary, "%s under the cap: %d lines, %r" % (
            d, len(chatty), summary))
    yield "under the cap: every line, no summary"

    st, doc = w.call("POST", "/api/v1/policies", {"files": {
        "presets/default.lua": PRESETS, "provisions/chatty.lua": CHATTY,
        "jobs/schedule.lua": "return {chatty = {every = 3600}}\n",
        "jobs/chatty.lua": 'for i = 1, %d do log("warn", "job line " .. i) end\n' % LINES},
        "source": "log cap"})
    check(st == 201, "push: %d %r" % (st, doc))
    before = len(w.acsd.log())
    wait_for("the fleet job's run", lambda: "fleet job jobs/chatty: done" in w.acsd.log()[before:],
             20)
    mine = [ln for ln in w.acsd.log()[before:].splitlines() if "jobs/chatty: " in ln]
    lines = [ln for ln in mine if "job line " in ln]
    summary = [ln for ln in mine if "more log lines of this run dropped" in ln]
    check(len(lines) == 5 and len(summary) == 1 and "9995 more" in summary[0],
          "a fleet job's run: %d lines, %r" % (len(lines), summary))
    yield "a fleet job logging %d lines in one run: 5 written and 1 line for the rest" % LINES


def logs(w):
    return [("acsd", w.acsd), ("cpesim", w.sim)]


if __name__ == "__main__":
    sys.exit(run_test(World, run, logs, prefix="acs-logcap-"))
