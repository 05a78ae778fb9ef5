#!/usr/bin/env python3
"""cpesim survives boot storms against the real acsd, with and without 503s (stdlib only).

    ACS_BIN_DIR=build/bin python3 tests/cpesim/test_cpesim_storm.py

A throwaway PostgreSQL, the real acsd (2 workers) and one cpesim fleet of
COUNT devices (CPESIM_STORM_COUNT, 2,000 by default: more sessions in flight
than one epoll batch of libuv holds, the case that broke cpesim's writes),
every device powering on at the same moment, no concurrency limit:

  1. first contact: "0 BOOTSTRAP" + "1 BOOT" for the whole fleet at once;
     the state file saved at the end;
  2. known devices: "1 BOOT" (the state file knows them) for the whole
     fleet at once, half of them connecting from 127.0.0.2 and half from
     127.0.0.3 (--source-ip); no 503 (acsd's default --max-sessions,
     --max-first-contacts 0 and --pg-slow-ms 60000: a slow store on a
     loaded machine refuses none);
  3. the same storm against acsd --max-sessions 40 --retry-after 1: most
     Informs are refused with 503 + Retry-After and retried.

Each storm must end with every device's session ok, no failure other than
503 (none at all in 1 and 2; some in 3), cpesim exiting 0 (under ASan:
without a report), and the events of every Inform in the ack log (one per
device) stored as event rows, no more, no fewer.

Exits 0 (pass), 1 (fail) or 77 (skipped: no PostgreSQL or no binaries).
"""
import collections
import json
import os
import sys
import tempfile

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
sys.path.insert(0, HERE)
import simtest  # noqa: E402
from simtest import Fail, bin_path, check, free_port, http, run_test, wait_for  # noqa: E402

COUNT = int(os.environ.get("CPESIM_STORM_COUNT", "2000"))
PREFIX = "ST"
DEADLINE = 120  # seconds per storm (ASan, a loaded machine)


class World(simtest.World):
    def __init__(self, pg, tmp):
        super().__init__(pg, tmp)
        self.state = os.path.join(tmp, "fleet.state")
        self.sim = None

    def start_acsd(self, *extra):
        """acsd on fresh ports, after the one before (if any) has stopped (SIGTERM)."""
        if self.acsd:
            self.acsd.stop(40)
        return super().start_acsd("--pg", self.pg.dsn, "--workers", "2", "--files", "off",
                                  "--log-level", "warn", *extra)

    def storm(self, name, *extra):
        """One storm of the whole fleet; its summary, after every device's success."""
        cr = free_port()
        ack = os.path.join(self.tmp, "ack-%s.log" % name)
        id0 = int(self.pg.psql("SELECT coalesce(max(id), 0) FROM events"))
        self.sim = self.spawn([bin_path("cpesim"), "--acs", "http://127.0.0.1:%d/" % self.cwmp,
                               "--count", str(COUNT), "--serial-prefix", PREFIX, "--state",
                               self.state, "--duration", str(DEADLINE + 30), "--periodic-interval",
                               "86400", "--cr-listen", "127.0.0.1:%d" % cr, "--ack-log", ack,
                               "--seed", "3", "--quiet"] + list(extra))

        def done():
            if not self.sim.alive():
                return True
            st = json.loads(http("GET", "http://127.0.0.1:%d/_sim/stats" % cr, timeout=5)[1])
            return st["ok"] >= COUNT and st["in_flight"] == 0
        wait_for("%s: %d devices ok" % (name, COUNT), done, DEADLINE, 0.2)
        check(self.sim.alive(), "%s: cpesim died (%s):\n%s" % (name, self.sim.p.returncode,
                                                               self.sim.log()[-4000:]))
        rc = self.sim.stop(60)
        out = self.sim.log()
        check(rc == 0, "%s: cpesim exited %s:\n%s" % (name, rc, out[-4000:]))
        check("AddressSanitizer" not in out and "runtime error" not in out,
              "%s: sanitizer report:\n%s" % (name, out[-4000:]))
        r = json.loads([ln for ln in out.splitlines() if ln.startswith("{")][-1])
        check(r["sessions_ok"] == COUNT, "%s: %d sessions ok, not %d" % (name, r["sessions_ok"],
                                                                         COUNT))
        other = {k: v for k, v in r["failures"].items() if v and k != "503"}
        check(not other, "%s: failures other than 503: %s" % (name, other))
        with open(ack) as f:
            acked = [ln.rstrip("\n").split("\t") for ln in f if ln.strip()]
        check(len(acked) == r["informs_acked"] == COUNT,
              "%s: %d ack log lines, %d acked, %d devices" % (name, len(acked),
                                                            r["informs_acked"], COUNT))
        want = collections.Counter((a[2], code.split("/")[0]) for a in acked
                                   for code in a[3].split(","))
        got = collections.Counter(tuple(ln.split("|")) for ln in self.pg.psql(
            "SELECT device_id, code FROM events WHERE id > %d" % id0).splitlines() if ln)
        check(want == got, "%s: the ack log's events (%d) are not the event rows stored (%d): "
              "missing %s, extra %s" % (name, sum(want.values()), sum(got.values()),
                                        list((want - got).items())[:3],
                                        list((got - want).items())[:3]))
        return r


def run(w):
    # no 503 for a slow store, nor past the default max-first-contacts (1,000)
    w.start_acsd("--retry-after", "1", "--pg-slow-ms", "60000", "--max-first-contacts", "0")
    r = w.storm("bootstrap")
    check(r["http_503"] == 0 and r["sessions_failed"] == 0,
          "bootstrap: %d 503s, %d failed" % (r["http_503"], r["sessions_failed"]))
    n = int(w.pg.psql("SELECT count(*) FROM devices"))
    check(n == COUNT, "bootstrap: %d devices stored, not %d" % (n, COUNT))
    yield ("first contact storm: %d devices at once, all ok, peak %d in flight, %d Informs "
           "acknowledged = event rows" % (COUNT, r["max_in_flight"], COUNT))

    r = w.storm("boot", "--source-ip", "127.0.0.2,127.0.0.3")
    check(r["http_503"] == 0 and r["sessions_failed"] == 0,
          "boot: %d 503s, %d failed" % (r["http_503"], r["sessions_failed"]))
    yield ("known devices' storm (1 BOOT) from two source addresses: %d devices at once, all "
           "ok, no 503, peak %d in flight" % (COUNT, r["max_in_flight"]))

    w.start_acsd("--max-sessions", "40", "--retry-after", "1")
    r = w.storm("503")
    check(r["http_503"] > 0 and r["sessions_failed"] == r["failures"]["503"] == r["http_503"],
          "503: %d 503s, %d failed (%s)" % (r["http_503"], r["sessions_failed"], r["failures"]))
    yield ("the same storm against --max-sessions 40: %d 503s answered and retried, every "
           "device ok, no other failure" % r["http_503"])


def logs(w):
    return [("acsd", w.acsd), ("cpesim", w.sim)]


if __name__ == "__main__":
    sys.exit(run_test(lambda pg, tmp: World(pg, tmp), run, logs, prefix="acs-storm-"))
