#!/usr/bin/env python3
"""acsd against CPEs that play deployed stacks' connection-request and crash
quirks (cpesim --quirk; stdlib only).

    ACS_BIN_DIR=build/bin python3 tests/cpesim/test_cpesim_quirks_cr.py

A throwaway PostgreSQL, acsd without policies (connection request
credentials from its config), and one cpesim process of two devices per
quirk (World and Fleet of test_cpesim_quirks.py):

  cr-unterminated (QU)   the connection request's 401 and 200 end with the
                         close (no empty line, no final line end): a task
                         with ?connection_request=true is 200, done
  digest-no-commas (QN)  a comma-less Digest challenge: 200, done
  both at once (QM)      with folded LF-only challenges too: 200, done
  crash-partial (QC)     a GetParameterValues of a partial path crashes the
                         device (connection dropped, "1 BOOT" 300 ms later):
                         after task-unknown-limit (3) unknown outcomes the
                         task is 'fault' with that reason, the device
                         crashed exactly 3 times, and a later task of a
                         full name is done (not crashed forever)

Exits 0 (pass), 1 (fail) or 77 (skipped: no PostgreSQL or no binaries).
"""
import os
import sys
import time

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
sys.path.insert(0, HERE)
from simtest import check, run_test, wait_for  # noqa: E402
from test_cpesim_quirks import MS, World, dev_id  # noqa: E402


def cr_done(w, prefix, what):
    f = w.fleets[prefix]
    wait_for("%s informed" % prefix, lambda: f.acks(), 20)
    t0 = time.monotonic()
    t = w.task(dev_id(prefix), "GetParameterValues",
               {"ParameterNames": [MS + "PeriodicInformInterval"]}, timeout=20)
    check(t["status"] == "done" and t["result"]["connection_request"]["status"] == "accepted",
          "%s: %r" % (what, t))
    f.no_failure()
    return "%s: connection request accepted, task done in %.1f s" % (what, time.monotonic() - t0)


def s_cr(w):
    yield cr_done(w, "QU", "cr-unterminated")
    yield cr_done(w, "QN", "digest-no-commas")
    yield cr_done(w, "QM", "cr-unterminated + digest-no-commas, folded LF-only")


def s_crash_partial(w):
    f = w.fleets["QC"]
    d = dev_id("QC")
    wait_for("QC informed", lambda: f.acks(), 20)
    t = w.task(d, "GetParameterValues", {"ParameterNames": ["Device.DeviceInfo."]}, cr=False)
    t = w.wait_end(t["id"], "the task that crashes the device", 40)
    check(t["status"] == "fault" and t["unknown_count"] == 3 and
          "outcome unknown 3 times" in ((t["fault"] or {}).get("string") or ""),
          "the crashing task: %r" % t)
    crashes = f.p.log().count("%s: session failed: crashed" % f.serial())
    check(crashes == 3, "the device crashed %d times (want 3, task-unknown-limit)" % crashes)
    boots = sum(1 for a in f.acks() if a == ["1 BOOT"])
    t2 = w.gpv_done(d, "a task after the crashes")
    check(f.p.log().count("%s: session failed: crashed" % f.serial()) == 3,
          "crashed again after the task was faulted")
    yield ("crash-partial: %d crashes, %d \"1 BOOT\" Informs, the task 'fault' after "
           "unknown_count 3 (%r); a later task done (%r)" % (
               crashes, boots, t["fault"]["string"], t2["status"]))
    yield cr_task_lost_to_crashes(w, f)


def cr_task_lost_to_crashes(w, f):
    """Regression (was a known bug of migration 11's acs_informs()): a task
    queued with ?connection_request=true has the request's outcome in its
    result before it is sent, and the Inform that settles the 'sent' tasks
    of a lost session looked only at those whose result IS NULL; so when the
    CPE crashed on it the task stayed 'sent' with unknown_count 0 for ever.
    A result holding only the connection request's outcome is no answer: the
    task is sent again and faulted at task-unknown-limit like any other."""
    d = dev_id("QC", 2)
    n0 = f.p.log().count("%s: session failed: crashed" % f.serial(2))
    t = w.task(d, "GetParameterValues", {"ParameterNames": ["Device.DeviceInfo."]}, timeout=2)
    t = w.wait_end(t["id"], "the connection-request task that crashes the device", 60)
    crashes = f.p.log().count("%s: session failed: crashed" % f.serial(2)) - n0
    check(t["status"] == "fault" and t["unknown_count"] == 3 and
          "outcome unknown 3 times" in ((t["fault"] or {}).get("string") or ""),
          "the crashing connection-request task: %r" % t)
    check("connection_request" in (t["result"] or {}),
          "the connection request's outcome kept in the result: %r" % t)
    check(crashes == 3, "the device crashed %d times (want 3)" % crashes)
    return "a ?connection_request=true task lost to %d crashes: 'fault', unknown_count 3" % crashes


def make_world(pg, tmp):
    w = World(pg, tmp, policies=False)
    w.fleet("QU", "cr-unterminated")
    w.fleet("QN", "digest-no-commas")
    w.fleet("QM", "cr-unterminated,digest-no-commas", ["--cr-challenge", "folded-lf"])
    w.fleet("QC", "crash-partial", ["--periodic-interval", "2"])
    return w


def run(w):
    yield from s_cr(w)
    yield from s_crash_partial(w)


def main():
    return run_test(make_world, run, lambda w: w.logs(), prefix="acs-quirks-cr-")


if __name__ == "__main__":
    sys.exit(main())
