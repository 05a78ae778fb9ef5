#!/usr/bin/env python3
"""Durability of acknowledged Informs when acsd is killed with SIGKILL (stdlib only).

    ACS_BIN_DIR=build/bin python3 tests/cpesim/test_durability.py

What it does:

1. A throwaway PostgreSQL with fsync and synchronous_commit ON (checked with
   SHOW), acsd (2 workers) on two free loopback ports, and cpesim with
   DURABILITY_COUNT devices (default 1,500) writing an ack log (--ack-log:
   one line per Inform whose InformResponse arrived, written before anything
   else happens). The devices boot at once ("0 BOOTSTRAP" + "1 BOOT") at
   --concurrency 150, then inform every ~8 s ("2 PERIODIC"), for
   DURABILITY_SECONDS (default 45) in all.
2. Once a third of the fleet has been acknowledged, and while cpesim has
   sessions in flight (its /_sim/stats in_flight, printed), acsd gets SIGKILL:
   no shutdown, no flush; the batch transaction it had in flight either
   committed in PostgreSQL or did not. acsd is started again on the same
   ports with the same arguments. cpesim is left alone: the sessions the kill
   broke fail (connection reset / refused), and the devices retry with the
   TR-069 back-off (5-10 s for the first retry), carrying their events again.
3. After cpesim has finished (its --duration), every acknowledged Inform must
   be in the store, and the test prints "N acknowledged / N found".

How an acknowledged Inform is matched to the store (precisely, one to one):

- acsd writes an Inform as one item of its group commit: the devices upsert
  (last_inform = now()) and one INSERT of all its events (events.received_at
  defaults to now(), command_key NULL when empty), in the same transaction,
  before the InformResponse goes out. now() is the transaction's start time,
  so all the event rows of one Inform share one received_at. A device never
  has two Informs in one transaction (cpesim runs one session per device at
  a time and the next Inform only follows the InformResponse, i.e. the
  commit), so per device the rows with payload IS NULL (event rows written
  by TransferComplete and the other CPE requests carry a payload) grouped by
  received_at are exactly that device's stored Informs, each with its
  multiset of (code, command_key).
- The ack log gives per device, in order, each acknowledged Inform's event
  codes with their CommandKeys ("0 BOOTSTRAP,1 BOOT", "2 PERIODIC", ...).
- Per device, the acknowledged Informs must be a subsequence of the stored
  ones: in ack order, each one is matched to the earliest stored Inform not
  matched yet that comes after the previous match, has exactly the same
  multiset of (code, command_key), and has received_at no later than the
  ack's time (+1 s of tolerance; same machine, same clock). Greedy earliest
  matching finds a match for every ack whenever one exists. Stored Informs
  left unmatched are the ones acsd committed but whose InformResponse never
  reached cpesim (killed in between): allowed, and counted.
- The devices row must exist for every acknowledged device, with last_inform
  not older than its last matched Inform (same transaction).

Any acknowledged Inform without its match fails the test (exit 1), listing
the first ones. Exits 77 when PostgreSQL or the binaries are missing.
"""
import collections
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
sys.path.insert(0, HERE)
from simtest import Fail, Proc, bin_path, check, free_port, wait_for, unavailable  # noqa: E402
import pgtest  # noqa: E402

SKIP = 77
COUNT = int(os.environ.get("DURABILITY_COUNT", "1500"))
SECONDS = int(os.environ.get("DURABILITY_SECONDS", "45"))
PREFIX = "DK"
OUI, PCLASS = "02CAFE", "HG181"
TOLERANCE_MS = 1000



def http_get(port, path, timeout=5):
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path), timeout=timeout) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def start_acsd(argv, api):
    """Starts acsd and waits for /health; retries when the ports are not free yet."""
    for attempt in range(20):
        p = Proc(argv)
        try:
            wait_for("acsd /health", lambda: not p.alive() or http_get(api, "/health")[0] == 200,
                     30)
        except Fail:
            p.kill()
            raise
        if p.alive():
            return p
        time.sleep(0.25)  # bind failed (a port still held): try again
    raise Fail("acsd would not start:\n" + p.log()[-3000:])


def parse_events(s):
    """'0 BOOTSTRAP,M Reboot/rb-1' -> sorted tuple of (code, command_key)."""
    out = []
    for e in s.split(","):
        if not e:
            continue
        code, _, key = e.partition("/")
        out.append((code, key))
    return tuple(sorted(out))


def main():
    why = unavailable()
    if why:
        print("skipped: " + why)
        return SKIP
    ack_path = tempfile.NamedTemporaryFile(prefix="cpesim-dur-ack-", delete=False).name
    procs = {}
    try:
        with pgtest.PgCluster(fast=False) as pg:
            return run(pg, ack_path, procs)
    finally:
        for p in procs.values():
            p.kill()
        try:
            os.unlink(ack_path)
        except OSError:
            pass


def run(pg, ack_path, procs):
    settings = pg.psql("SELECT string_agg(name || '=' || setting, ', ' ORDER BY name) FROM "
                       "pg_settings WHERE name IN ('fsync', 'synchronous_commit', "
                       "'full_page_writes', 'server_version')")
    print("PostgreSQL: %s" % settings)
    check("fsync=on" in settings and "synchronous_commit=on" in settings,
          "fsync and synchronous_commit must be on")
    cwmp, api, cr = free_port(), free_port(), free_port()
    acsd_argv = [bin_path("acsd"), "--cwmp", "127.0.0.1:%d" % cwmp, "--api", "127.0.0.1:%d" % api,
                 "--pg", pg.dsn, "--workers", "2", "--retry-after", "1", "--log-level", "warn"]
    try:
        procs["acsd"] = start_acsd(acsd_argv, api)
        sim = procs["cpesim"] = Proc([
            bin_path("cpesim"), "--acs", "http://127.0.0.1:%d/" % cwmp, "--count", str(COUNT),
            "--serial-prefix", PREFIX, "--concurrency", "150", "--no-loop",
            "--periodic-interval", "8", "--duration", str(SECONDS), "--cr-listen",
            "127.0.0.1:%d" % cr, "--ack-log", ack_path, "--seed", "11", "--timeout", "10"])

        def stats():
            check(sim.alive(), "cpesim exited early:\n" + sim.log()[-3000:])
            return json.loads(http_get(cr, "/_sim/stats")[1])

        # --- the kill, mid-run, with sessions in flight
        t0 = time.monotonic()
        st = wait_for("a third of the fleet acknowledged with sessions in flight",
                      lambda: (lambda s: s if s["informs"] >= COUNT // 3 and s["in_flight"] > 0
                               else None)(stats()), 60, 0.005)
        procs["acsd"].p.send_signal(signal.SIGKILL)
        procs["acsd"].p.wait()
        killed_at = time.monotonic() - t0
        print("killed acsd (SIGKILL) %.1f s into the run: %d informs acknowledged, %d sessions "
              "in flight" % (killed_at, st["informs"], st["in_flight"]))
        dead_log = procs["acsd"].log()
        procs["acsd"] = start_acsd(acsd_argv, api)
        print("acsd restarted on the same ports after %.2f s" % (time.monotonic() - t0 - killed_at))

        # --- cpesim finishes by itself (its duration), retries included
        try:
            sim.p.wait(SECONDS + 60)
        except subprocess.TimeoutExpired:
            raise Fail("cpesim did not finish")
        log = sim.log()
        summary = json.loads([line for line in log.splitlines() if line.startswith("{")][-1])
        print("cpesim: %d sessions started, %d ok, %d failed %s; %d informs acknowledged" % (
            summary["sessions_started"], summary["sessions_ok"], summary["sessions_failed"],
            {k: v for k, v in summary["failures"].items() if v}, summary["informs_acked"]))
        check(summary["sessions_failed"] > 0, "no session failed: the kill hit nothing")

        # --- the acknowledged Informs
        acks = collections.defaultdict(list)
        nacks = 0
        with open(ack_path) as f:
            for line in f:
                parts = line.rstrip("\n").split("\t")
                check(len(parts) == 4, "ack log line %r" % line)
                acks[parts[2]].append((int(parts[0]), parse_events(parts[3])))
                nacks += 1
        check(nacks == summary["informs_acked"], "ack log has %d lines, cpesim acknowledged %d"
              % (nacks, summary["informs_acked"]))
        check(len(acks) == COUNT, "%d devices acknowledged, expected all %d (retries did not "
              "carry on?)" % (len(acks), COUNT))

        # --- the store
        like = "%s-%s-%s%%" % (OUI, PCLASS, PREFIX)
        rows = pg.psql("SELECT device_id, (extract(epoch FROM received_at) * 1000000)::bigint, "
                       "code, coalesce(command_key, '') FROM events WHERE payload IS NULL AND "
                       "device_id LIKE '%s' ORDER BY device_id, received_at, id" % like)
        groups = collections.defaultdict(collections.OrderedDict)
        for r in rows.splitlines():
            dev, t_us, code, key = r.split("|", 3)
            groups[dev].setdefault(int(t_us), []).append((code, key))
        stored = {d: [(t, tuple(sorted(evs))) for t, evs in g.items()] for d, g in groups.items()}
        devices = {}
        for r in pg.psql("SELECT id, (extract(epoch FROM last_inform) * 1000000)::bigint FROM "
                         "devices WHERE id LIKE '%s'" % like).splitlines():
            d, t = r.split("|")
            devices[d] = int(t)

        found, missing = 0, []
        for dev, alist in acks.items():
            slist = stored.get(dev, [])
            pos, last_match = 0, None
            for t_ms, evs in alist:
                j = pos
                while j < len(slist) and not (slist[j][1] == evs and
                                              slist[j][0] <= (t_ms + TOLERANCE_MS) * 1000):
                    j += 1
                if j < len(slist) and slist[j][0] <= (t_ms + TOLERANCE_MS) * 1000:
                    found += 1
                    last_match = slist[j][0]
                    pos = j + 1
                else:
                    missing.append("%s: ack at %d of %s" % (dev, t_ms, ",".join(
                        "%s%s" % (c, "/" + k if k else "") for c, k in evs)))
            if dev not in devices:
                missing.append("%s: no devices row" % dev)
            elif last_match is not None and devices[dev] < last_match:
                missing.append("%s: devices.last_inform older than its last acknowledged Inform"
                               % dev)
        total_stored = sum(len(v) for v in stored.values())
        print("%d acknowledged / %d found" % (nacks, found))
        print("stored Informs: %d (%d committed but never acknowledged: the kill came between "
              "the commit and the InformResponse, or cpesim's session had already failed)"
              % (total_stored, total_stored - found))
        check(not missing, "%d acknowledged Informs missing from the store, first ones:\n  %s"
              % (len(missing), "\n  ".join(missing[:20])))
        check(found == nacks, "%d acknowledged, %d found" % (nacks, found))
        check("panic" not in dead_log.lower(), "acsd log before the kill:\n" + dead_log[-2000:])
        print("PASS")
        return 0
    except Fail as e:
        print("FAIL: %s" % e)
        for name, p in procs.items():
            print("--- %s (tail) ---\n%s" % (name, p.log()[-3000:]))
        return 1


if __name__ == "__main__":
    sys.exit(main())
