#!/usr/bin/env python3
"""Device-query benchmark (not a test: it prints figures; never run in CI).

    python3 bench/query_bench.py [--devices 100000] [--reps 30] [--write-cost]

The targeting operators (prefix, MATCHES, CONTAINS, IN) have their plans
printed whole ("target:" rows).

Starts a throwaway PostgreSQL (tests/lib/pgtest.py, loopback only, fsync
off), lets acsd migrate it, loads N synthetic devices with ~30 parameters
each (strings, unsignedInts, booleans, a dateTime), starts acsd on loopback
and times typical GET /api/v1/devices queries through the API (each answer
is the page and its X-Total-Count: one round trip, two statements): p50 and
p95 over --reps runs after two warm-up runs. Then, with auto_explain logging
every plan, it runs each query once more and reports whether any plan scans
devices or parameters sequentially (the design rule: device search is
answered from indexes). --write-cost adds the write side of the indexes
(pgbench: an Inform's last_inform update with and without an index on it,
HOT or not; three parameter values changed with and without the value
indexes). Bounded by --max-seconds (default 1800); stdlib Python only.
Environment: ACS_BIN_DIR (default build/bin), ACS_PG_BINDIR.
"""
import argparse
import json
import os
import re
import subprocess
import sys
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "lib"))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "server", "lib"))
sys.dont_write_bytecode = True
import pgtest  # noqa: E402
from acstest import Acsd, Conn, acsd_path, clean_env, format_request  # noqa: E402

PII = "Device.ManagementServer.PeriodicInformInterval"
SWV = "Device.DeviceInfo.SoftwareVersion"
FUD = "Device.DeviceInfo.FirstUseDate"


def load_sql(n):
    """Devices i = 1..n: 20 OUIs, 7 product classes, 5 manufacturers, 50
    software versions, last_inform spread over a day, 1 % tagged lab and
    9 % beta; 27 generic parameters (a third each unsignedInt, string,
    boolean) plus the inform interval, the software version and a
    dateTime on every device, and one more on 5 % of them."""
    return """
INSERT INTO devices (id, oui, product_class, serial_number, manufacturer, hardware_version,
                     software_version, last_inform, tags)
SELECT 'A0B1C' || (i %% 20) || '-Model' || (i %% 7) || '-SN' || lpad(i::text, 8, '0'),
       'A0B1C' || (i %% 20), 'Model' || (i %% 7), 'SN' || lpad(i::text, 8, '0'),
       'Vendor' || (i %% 5), 'HW' || (i %% 3), '1.' || (i %% 50),
       now() - (i %% 86400) * interval '1 second',
       CASE WHEN i %% 100 = 0 THEN '{lab}'::text[] WHEN i %% 10 = 0 THEN '{beta,eu}' ELSE '{}' END
FROM generate_series(1, %d) i;
INSERT INTO parameters (device_id, name, value, xsd_type, value_at)
SELECT d.id, 'Device.X.Param' || k,
  CASE WHEN k %% 3 = 0 THEN (hashtext(d.id || k) & 65535)::text
       WHEN k %% 3 = 1 THEN 'val-' || (hashtext(d.id || k) & 1023)
       ELSE CASE WHEN hashtext(d.id || k) & 1 = 0 THEN 'true' ELSE 'false' END END,
  CASE WHEN k %% 3 = 0 THEN 'xsd:unsignedInt' WHEN k %% 3 = 1 THEN 'xsd:string'
       ELSE 'xsd:boolean' END, now()
FROM devices d, generate_series(1, 27) k;
INSERT INTO parameters (device_id, name, value, xsd_type, value_at)
SELECT d.id, '%s', (300 * (1 + (hashtext(d.id) & 7)))::text, 'xsd:unsignedInt', now() FROM devices d;
INSERT INTO parameters (device_id, name, value, xsd_type, value_at)
SELECT d.id, '%s', d.software_version, 'xsd:string', now() FROM devices d;
INSERT INTO parameters (device_id, name, value, xsd_type, value_at)
SELECT d.id, '%s', to_char(now() - (hashtext(d.id) & 1023) * interval '1 hour',
  'YYYY-MM-DD"T"HH24:MI:SS"Z"'), 'xsd:dateTime', now() FROM devices d;
INSERT INTO parameters (device_id, name, value, xsd_type, value_at)
SELECT d.id, 'Device.X_VENDOR.Rare', 'on', 'xsd:string', now() FROM devices d
WHERE hashtext(d.id) %% 20 = 0;
""" % (n, PII, SWV, FUD)


def psql_long(pg, sql, timeout=1500):
    """pg.psql without its two-minute bound (a loaded machine needs longer)."""
    argv = [os.path.join(pg.bindir, "psql"), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
            "-h", "127.0.0.1", "-p", str(pg.port), "-U", "acsd", "-d", "acsd", "-c", sql]
    p = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout)
    if p.returncode:
        raise SystemExit("psql: %s\n%s" % (p.stderr, sql[:300]))
    return p.stdout.strip()


def queries(n):
    sn = "SN%08d" % (n // 2)
    return [
        ("first page, no q", {}),
        ("serial_number =", {"q": 'serial_number = "%s"' % sn}),
        ("serial_number prefix", {"q": 'serial_number ~= "%s"' % sn[:-2]}),
        ("oui AND product_class", {"q": 'oui = "A0B1C3" AND product_class = "Model3"'}),
        ("software_version =", {"q": 'software_version = "1.7"'}),
        ("tag = lab", {"q": "tag = lab"}),
        ("silent: last_inform < now-23h", {"q": "last_inform < now-23h"}),
        ("param string =", {"q": '%s = "1.7"' % SWV}),
        ("param string prefix", {"q": 'Device.X.Param4 ~= "val-10"'}),
        ("param uint >= (no match)", {"q": "%s >= 3000" % PII}),
        ("param uint = (1/8)", {"q": "%s = 600" % PII}),
        ("param uint range (1/3)", {"q": "Device.X.Param3 < 20000"}),
        ("param bool = (1/2)", {"q": "Device.X.Param2 = true"}),
        ("param dateTime > now-3h", {"q": "%s > now-3h" % FUD}),
        ("param exists (all devices)", {"q": "%s exists" % FUD}),
        ("param exists (5 %)", {"q": "Device.X_VENDOR.Rare exists"}),
        ("AND of param, field, NOT tag", {"q": 'oui = "A0B1C3" AND %s >= 1800 AND NOT tag = beta' % PII}),
        ("OR of two params", {"q": '%s = "1.7" OR %s = 2400' % (SWV, PII)}),
        ("sort=-last_inform, all", {"sort": "-last_inform"}),
        ("sort=serial_number + q", {"sort": "serial_number", "q": "tag = beta"}),
        ("projection, 3 params, 100 items", {"projection": "%s,%s,Device.X.Param1" % (PII, SWV)}),
    ] + targeting(n)


def targeting(n):
    """The operators of issue 15 (prefix, regex, contains, set membership):
    their plans are printed whole (EXPLAIN, as auto_explain logged them)."""
    sn = "SN%08d" % (n // 2)
    return [
        ("target: serial_number ~= (prefix)", {"q": 'serial_number ~= "%s"' % sn[:-3]}),
        ("target: serial_number MATCHES ^", {"q": "serial_number MATCHES '^%s[0-4]'" % sn[:-3]}),
        ("target: serial_number MATCHES", {"q": "serial_number MATCHES '7[0-9]7$'"}),
        ("target: manufacturer CONTAINS", {"q": "manufacturer CONTAINS 'dor3'"}),
        ("target: serial_number IN (3)", {"q": "serial_number IN (%s, SN00000001, SN00000002)" % sn}),
        ("target: tag IN (lab, eu)", {"q": "tag IN (lab, eu)"}),
        ("target: param IN", {"q": "%s IN (600, 1200)" % PII}),
        ("target: param MATCHES ^", {"q": "%s MATCHES '^1[.]4'" % SWV}),
        ("target: param CONTAINS", {"q": "Device.X.Param4 CONTAINS '-10'"}),
    ]


def get(port, tok, params, conn=None):
    path = "/api/v1/devices?" + urllib.parse.urlencode(params, quote_via=urllib.parse.quote)
    conn.send(format_request("GET", path, {"Authorization": "Bearer " + tok}))
    st, h, body = conn.read_response(60)
    if st != 200:
        raise SystemExit("GET %s: %d %s" % (path, st, body[:300]))
    return h, json.loads(body)


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100.0 * (len(xs) - 1))))]


def pgbench(pg, script, seconds):
    path = os.path.join(pg.tmp, "bench.sql")
    with open(path, "w") as f:
        f.write(script)
    os.chmod(path, 0o644)
    wal0 = pg.psql("SELECT pg_current_wal_lsn()")
    st0 = pg.psql("SELECT sum(n_tup_upd), sum(n_tup_hot_upd) FROM pg_stat_user_tables")
    p = subprocess.run([os.path.join(pg.bindir, "pgbench"), "-n", "-h", "127.0.0.1", "-p", str(pg.port),
                        "-U", "acsd", "-c", "2", "-j", "2", "-T", str(seconds), "-f", path, "acsd"],
                       capture_output=True, text=True)
    out = p.stdout
    if "tps = " not in out:
        raise SystemExit("pgbench failed:\n%s%s" % (out, p.stderr))
    time.sleep(1.0)
    wal = int(float(pg.psql("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '%s')" % wal0)))
    st1 = pg.psql("SELECT sum(n_tup_upd), sum(n_tup_hot_upd) FROM pg_stat_user_tables")
    tps = float(re.search(r"tps = ([\d.]+)", out).group(1))
    n = int(re.search(r"number of transactions actually processed: (\d+)", out).group(1))
    upd = int(st1.split("|")[0]) - int(st0.split("|")[0])
    hot = int(st1.split("|")[1]) - int(st0.split("|")[1])
    return tps, wal / max(n, 1), hot / max(upd, 1)


def write_cost(pg, n, seconds):
    ids = "'A0B1C' || (:i % 20) || '-Model' || (:i % 7) || '-SN' || lpad(:i::text, 8, '0')"
    inform = ("\\set i random(1, %d)\nUPDATE devices SET last_inform = now() WHERE id = %s;\n" % (n, ids))
    params = ("\\set i random(1, %d)\n\\set v random(1, 1000000)\n"
              "UPDATE parameters SET value = :v::text, value_at = now() WHERE device_id = %s "
              "AND name IN ('Device.X.Param1', 'Device.X.Param3', 'Device.X.Param4');\n" % (n, ids))
    print("\nwrite cost (pgbench, 2 clients, %d s each; fsync off)" % seconds)
    print("  %-52s %9s %11s %6s" % ("statement / indexes", "tps", "WAL B/txn", "HOT"))
    rows = []
    # steady state: every device informed within the current hour (the
    # bucket changes only when the hour turns)
    psql_long(pg, "UPDATE devices SET last_inform = now()")
    psql_long(pg, "VACUUM devices")
    rows.append(("Inform's UPDATE last_inform, migration 3 (hour bucket)", pgbench(pg, inform, seconds)))
    pg.psql("CREATE INDEX bench_last_inform ON devices (last_inform)")
    rows.append(("Inform's UPDATE last_inform, + index on last_inform", pgbench(pg, inform, seconds)))
    pg.psql("DROP INDEX bench_last_inform")
    rows.append(("3 parameter values changed, migration 3 indexes", pgbench(pg, params, seconds)))
    pg.psql("DROP INDEX parameters_name_value, parameters_name_num, parameters_name_time")
    rows.append(("3 parameter values changed, without the 3 value indexes", pgbench(pg, params, seconds)))
    for name, (tps, wal, hot) in rows:
        print("  %-52s %9.0f %11.0f %5.0f%%" % (name, tps, wal, 100 * hot))


def explain_text(logged):
    """The plan part of one auto_explain record, indented."""
    lines = logged.splitlines()
    start = next((i for i, l in enumerate(lines) if "Plan:" in l or "->" in l or "Limit" in l), 0)
    plan = [re.sub(r"^\S+ \S+ UTC \[\d+\] \S+ ", "", l) for l in lines[start:]]
    plan = [l for l in plan if l.strip() and not re.match(r"^\d{4}-\d\d-\d\d ", l)]
    return "\n".join("      | " + l for l in plan[:40])


def plan_check(pg, port, tok, qs, conn):
    pg.psql("ALTER SYSTEM SET auto_explain.log_min_duration = 0", user="postgres")
    pg.psql("SELECT pg_reload_conf()", user="postgres")
    time.sleep(0.5)
    print("\nplans (auto_explain of the statements acsd sent; page statement, then count)")
    bad_total = 0
    try:
        for name, params in qs:
            mark = "bench-mark-%s" % abs(hash(name))
            pg.psql("SELECT '%s'" % mark)
            get(port, tok, params, conn)
            time.sleep(0.2)
            log = pg.log()
            part = log[log.rfind(mark):]
            plans = [p for p in part.split("duration:") if "FROM devices d" in p or "FROM (SELECT d.*" in p]
            scans = sorted(set(re.findall(r"Seq Scan on (devices|parameters_p\d+)", "".join(plans))))
            idx = sorted(set(re.findall(r"(?:Index Scan|Index Only Scan|Bitmap Index Scan) "
                                        r"(?:Backward )?(?:using|on) (\w+)", "".join(plans))))
            idx = sorted({re.sub(r"^parameters_p\d\d_", "parameters_pNN_", i) for i in idx})
            bad_total += bool(scans)
            print("  %-34s %s" % (name, ("SEQ SCAN " + ",".join(scans)) if scans else "no seq scan"))
            print("  %-34s   indexes: %s" % ("", ", ".join(idx) or "-"))
            if name.startswith("target:") and plans:
                print(explain_text(plans[0]))
    finally:
        pg.psql("ALTER SYSTEM RESET auto_explain.log_min_duration", user="postgres")
        pg.psql("SELECT pg_reload_conf()", user="postgres")
    return bad_total


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--devices", type=int, default=100000)
    ap.add_argument("--reps", type=int, default=30)
    ap.add_argument("--write-cost", action="store_true")
    ap.add_argument("--write-seconds", type=int, default=15)
    ap.add_argument("--max-seconds", type=int, default=1800)
    ap.add_argument("--random-page-cost", help="e.g. 1.1 (SSD); PostgreSQL's default is 4")
    a = ap.parse_args()
    if pgtest.unavailable_reason():
        raise SystemExit("no PostgreSQL: %s" % pgtest.unavailable_reason())
    import signal
    signal.signal(signal.SIGALRM, lambda *_: (_ for _ in ()).throw(SystemExit("time bound reached")))
    signal.alarm(a.max_seconds)
    settings = {"shared_buffers": "256MB", "session_preload_libraries": "'auto_explain'",
                "auto_explain.log_min_duration": "-1", "auto_explain.log_nested_statements": "on",
                "log_min_messages": "log", "max_wal_size": "4GB"}
    if a.random_page_cost:
        settings["random_page_cost"] = a.random_page_cost
    t0 = time.monotonic()
    with pgtest.PgCluster(fast=True, settings=settings) as pg:
        p = subprocess.run([acsd_path(), "token", "create", "--role", "readonly", "--name", "bench",
                            "--pg", pg.dsn], capture_output=True, text=True, env=clean_env())
        if p.returncode:
            raise SystemExit("acsd token create: " + p.stderr)
        tok = p.stdout.strip()
        print("PostgreSQL %s, %d devices x 30 parameters, random_page_cost %s" % (
            pg.psql("SHOW server_version"), a.devices, pg.psql("SHOW random_page_cost")))
        t1 = time.monotonic()
        for stmt in load_sql(a.devices).split(";\n"):
            if stmt.strip():
                psql_long(pg, stmt)
        psql_long(pg, "VACUUM ANALYZE")
        print("loaded in %.0f s (schema migrated by acsd, indexes in place); parameters %s, "
              "their indexes %s" % (time.monotonic() - t1,
                                    pg.psql("SELECT pg_size_pretty(sum(pg_table_size(inhrelid))) FROM "
                                            "pg_inherits WHERE inhparent = 'parameters'::regclass"),
                                    pg.psql("SELECT pg_size_pretty(sum(pg_indexes_size(inhrelid))) FROM "
                                            "pg_inherits WHERE inhparent = 'parameters'::regclass")))
        qs = queries(a.devices)
        with Acsd(["--pg", pg.dsn, "--log-level", "warn"], workers=2) as s:
            s.wait_ready()
            with Conn(s.api, timeout=60) as conn:
                print("\nlatency through the API (ms; page of 100 + X-Total-Count), %d runs" % a.reps)
                print("  %-34s %8s %8s %7s %9s" % ("query", "p50", "p95", "items", "total"))
                for name, params in qs:
                    times = []
                    for r in range(a.reps + 2):
                        t = time.perf_counter()
                        h, doc = get(s.api, tok, params, conn)
                        if r >= 2:
                            times.append((time.perf_counter() - t) * 1000)
                    total = h.get("x-total-count", "?") + ("~" if h.get("x-total-count-estimated") else "")
                    print("  %-34s %8.2f %8.2f %7d %9s" % (name, pct(times, 50), pct(times, 95),
                                                          len(doc["items"]), total))
                # a deep page: the cursor of page 300 (id order)
                h, doc = get(s.api, tok, {"limit": "1000"}, conn)
                cur = doc["next_cursor"]
                for _ in range(30):
                    if not cur:  # fewer devices than that (a small --devices)
                        break
                    h, doc = get(s.api, tok, {"limit": "1000", "cursor": cur}, conn)
                    cur = doc["next_cursor"]
                times = []
                for r in range(a.reps + 2 if cur else 0):
                    t = time.perf_counter()
                    get(s.api, tok, {"cursor": cur}, conn)
                    if r >= 2:
                        times.append((time.perf_counter() - t) * 1000)
                if times:
                    print("  %-34s %8.2f %8.2f" % ("page after 31,000 devices (cursor)", pct(times, 50),
                                                   pct(times, 95)))
                bad = plan_check(pg, s.api, tok, qs, conn)
        print("\n%d of %d queries with a sequential scan of devices or parameters" % (bad, len(qs)))
        if a.write_cost:
            write_cost(pg, a.devices, a.write_seconds)
    print("\ndone in %.0f s" % (time.monotonic() - t0))


if __name__ == "__main__":
    main()
