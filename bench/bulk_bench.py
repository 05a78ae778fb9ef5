#!/usr/bin/env python3
"""Bulk-action benchmark (not a test: it prints figures; never run in CI).

    python3 bench/bulk_bench.py [--devices 100000] [--reps 20]

Starts a throwaway PostgreSQL (tests/lib/pgtest.py, loopback only, fsync
off), lets acsd migrate it, loads N devices (every other one tagged lab, no
parameters), starts acsd and creates, through the API, a bulk action over
`tag = lab` (N/2 devices) at the highest rate (10000/s): it reports how long
POST /api/v1/bulk took (it counts the matches), how fast the runner made
the tasks (its ceiling: the expansion statement's cost, not the rate), and
the latency of GET /api/v1/bulk/{id} (the progress: the bulk's tasks counted
by status) once every task exists, with a third of them ended, p50 and p95
over --reps. Stdlib Python only. Environment: ACS_BIN_DIR, ACS_PG_BINDIR.
"""
import argparse
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "lib"))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "server", "lib"))
sys.dont_write_bytecode = True
import pgtest  # noqa: E402
from acstest import Acsd, acsd_path, clean_env, request  # noqa: E402


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100.0 * (len(xs) - 1))))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--devices", type=int, default=100000)
    ap.add_argument("--reps", type=int, default=20)
    a = ap.parse_args()
    pgtest.skip_unless_available()
    with pgtest.PgCluster(fast=True) as pg:
        p = subprocess.run([acsd_path(), "token", "create", "--role", "operator", "--pg", pg.dsn],
                           capture_output=True, env=clean_env(), timeout=60, check=True)
        tok = p.stdout.decode().strip()
        pg.psql("INSERT INTO devices (id, oui, product_class, serial_number, tags) SELECT "
                "'BB-X-S' || lpad(i::text, 7, '0'), 'BB', 'X', 'S' || lpad(i::text, 7, '0'), "
                "CASE WHEN i %% 2 = 0 THEN '{lab}'::text[] ELSE '{}' END FROM generate_series(1, %d) i"
                % a.devices)
        pg.psql("ANALYZE")
        h = {"Authorization": "Bearer " + tok, "Content-Type": "application/json"}
        with Acsd(["--pg", pg.dsn, "--log-level", "warn"]) as s:
            s.wait_ready()
            body = json.dumps({"query": "tag = lab", "task": {"rpc": "Reboot"}, "rate": 10000})
            t0 = time.monotonic()
            st, _, raw = request(s.api, "POST", "/api/v1/bulk", h, body, timeout=120)
            t_post = time.monotonic() - t0
            b = json.loads(raw)
            assert st == 201, raw
            total = b["progress"]["total"]
            t0 = time.monotonic()
            while int(pg.psql("SELECT tasks_created FROM bulk_actions WHERE id = %d" % b["id"])) < total:
                time.sleep(0.2)
            t_expand = time.monotonic() - t0
            pg.psql("UPDATE tasks SET status = CASE WHEN id %% 3 = 0 THEN 'done' ELSE status END "
                    "WHERE bulk_id = %d" % b["id"])
            pg.psql("VACUUM ANALYZE tasks")
            lat = []
            for i in range(a.reps + 2):
                t0 = time.monotonic()
                st, _, raw = request(s.api, "GET", "/api/v1/bulk/%d" % b["id"], h, timeout=30)
                if i >= 2:
                    lat.append((time.monotonic() - t0) * 1000)
            prog = json.loads(raw)["progress"]
        print("devices %d, matched %d" % (a.devices, total))
        print("POST /api/v1/bulk (counts the matches): %.1f ms" % (t_post * 1000))
        print("expansion at rate 10000/s: %d tasks in %.2f s = %.0f tasks/s" % (
            total, t_expand, total / t_expand))
        print("GET /api/v1/bulk/{id} with %d tasks: p50 %.2f ms, p95 %.2f ms (%r)" % (
            total, pct(lat, 50), pct(lat, 95), prog))


if __name__ == "__main__":
    main()
