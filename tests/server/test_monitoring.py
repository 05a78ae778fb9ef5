#!/usr/bin/env python3
"""The monitoring endpoints against a real acsd and a throwaway PostgreSQL:
/ready (200 with the store up; 503 while the store is stopped, /health
staying 200; 503 once SIGTERM has been received; 503 while a --policies
tree never loaded), /metrics in the Prometheus text format (parsed here,
and by `promtool check metrics` when Prometheus is installed),
GET /api/v1/system/health and /api/v1/telemetry/current (a token needed;
their documents), /api/v1/stomp/metrics (disabled, 200), the log level
and format changed at run time (PUT /api/v1/system/log, admin, audited;
JSON records then)."""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "lib"))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
import pgtest  # noqa: E402
from acstest import Acsd, Conn, Fail, request, create_token, serve  # noqa: E402


def check(cond, msg):
    if not cond:
        raise Fail(msg)


class Env:
    pg = None
    acsd = None
    token = None
    admin = None


def get(path, token=None, port=None):
    h = {"Authorization": "Bearer " + token} if token else {}
    st, hdr, body = request(port or Env.acsd.api, "GET", path, h)
    return st, hdr, body


def get_json(path, token=None, port=None):
    st, hdr, body = get(path, token, port)
    return st, hdr, json.loads(body) if body else None


def wait_status(path, want, timeout=15.0, port=None):
    deadline = time.monotonic() + timeout
    while True:
        st, h, doc = get_json(path, port=port)
        if st == want or time.monotonic() > deadline:
            return st, h, doc
        time.sleep(0.1)


def test_ready():
    st, h, doc = wait_status("/ready", 200)
    check(st == 200 and doc == {"status": "ready", "reasons": []}, "/ready: %d %r" % (st, doc))
    st, h, body = request(Env.acsd.api, "HEAD", "/ready")
    check(st == 200 and not body, "HEAD /ready: %d %r" % (st, body))
    st, h, _ = request(Env.acsd.api, "POST", "/ready", body=b"{}")
    check(st == 405 and h.get("allow") == "GET, HEAD", "POST /ready: %d %r" % (st, h))


def test_store_down():
    Env.pg.stop()
    try:
        st, h, doc = wait_status("/ready", 503)
        check(st == 503, "/ready with the store stopped: %d %r" % (st, doc))
        check(any("store" in r for r in doc["reasons"]), "reasons: %r" % doc["reasons"])
        check(h.get("retry-after", "").isdigit(), "503 without Retry-After: %r" % h)
        st, _, _ = get("/health")
        check(st == 200, "/health (liveness) with the store stopped: %d" % st)
        st, _, body = get("/metrics")
        check(st == 200 and b"\nacsd_ready 0\n" in body, "/metrics while not ready: %d" % st)
    finally:
        Env.pg.start()
    st, _, doc = wait_status("/ready", 200, timeout=20)
    check(st == 200, "/ready with the store back: %d %r" % (st, doc))


def parse_prom(text):
    """{family: type}, [(name, labels, value)]; raises Fail on a bad line."""
    types, helps, samples = {}, set(), []
    line_re = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$')
    for line in text.splitlines():
        if line.startswith("# HELP "):
            helps.add(line.split()[2])
        elif line.startswith("# TYPE "):
            _, _, name, typ = line.split()
            check(name not in types, "two TYPE lines for %s" % name)
            types[name] = typ
        else:
            m = line_re.match(line)
            check(m, "not a sample line: %r" % line)
            samples.append((m.group(1), m.group(2) or "", float(m.group(3))))
    check(set(types) == helps, "HELP and TYPE differ: %r" % (set(types) ^ helps))
    for name, _, _ in samples:
        fam = re.sub(r"_(bucket|sum|count)$", "", name)
        check(name in types or (fam in types and types[fam] == "histogram"),
              "sample %s of no family" % name)
    return types, samples


def test_metrics():
    st, h, body = get("/metrics")
    check(st == 200, "/metrics: %d" % st)
    check(h.get("content-type", "").startswith("text/plain; version=0.0.4"),
          "content type %r" % h.get("content-type"))
    text = body.decode()
    types, samples = parse_prom(text)
    for fam, typ in (("acsd_sessions_started_total", "counter"), ("acsd_ready", "gauge"),
                     ("acsd_session_duration_seconds", "histogram"),
                     ("acsd_inform_duration_seconds", "histogram"),
                     ("acsd_store_up", "gauge"), ("acsd_info", "gauge"),
                     ("acsd_sessions_rejected_total", "counter")):
        check(types.get(fam) == typ, "%s: %r" % (fam, types.get(fam)))
    check(any(n == "acsd_info" and 'instance="' in lab for n, lab, _ in samples),
          "no instance label on acsd_info")
    buckets = [v for n, lab, v in samples if n == "acsd_session_duration_seconds_bucket"]
    count = [v for n, _, v in samples if n == "acsd_session_duration_seconds_count"]
    check(buckets == sorted(buckets) and buckets[-1] == count[0],
          "histogram buckets not cumulative or +Inf != _count: %r %r" % (buckets, count))
    check(sum(1 for n, _, _ in samples if n == "acsd_store_up") == 2, "acsd_store_up per worker")
    promtool = shutil.which("promtool")
    if not promtool:
        print("     (promtool missing: apt-get install prometheus; not checked by it)")
        return
    p = subprocess.run([promtool, "check", "metrics"], input=body, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=60)
    check(p.returncode == 0, "promtool check metrics:\n%s" % p.stdout.decode())


def test_system_health():
    st, _, doc = get_json("/api/v1/system/health")
    check(st == 401, "system/health without a token: %d" % st)
    st, h, doc = get_json("/api/v1/system/health", Env.token)
    check(st == 200, "system/health: %d %r" % (st, doc))
    for key in ("version", "instance", "uptime_s", "workers", "store", "policies",
                "bulk_actions", "connection_requests", "redis", "xmpp", "stomp", "status"):
        check(key in doc, "system/health has no %s: %r" % (key, doc))
    check(doc["status"] == "ready" and doc["reasons"] == [], "status %r" % doc["status"])
    check(len(doc["workers"]) == 2 and "loop_lag_ms" in doc["workers"][0], "workers %r"
          % doc["workers"])
    check(doc["store"]["up"] is True and "oldest_waiting_commit_ms" in doc["store"],
          "store %r" % doc["store"])
    check(doc["redis"] == "disabled" and doc["stomp"] == "disabled", "optional parts")
    check("lease_holder" in doc["bulk_actions"], "bulk_actions %r" % doc["bulk_actions"])
    check(doc["policies"]["last_load_error"] is None, "policies %r" % doc["policies"])


def test_telemetry():
    st, _, doc = get_json("/api/v1/telemetry/current", Env.token)
    check(st == 200, "telemetry: %d %r" % (st, doc))
    for key in ("sessions", "informs", "rpcs", "cpe_faults", "latency", "store",
                "connection_requests", "policies", "device_cache"):
        check(key in doc, "telemetry has no %s" % key)
    check(set(doc["sessions"]["per_second"]) == {"1s", "10s", "60s"}, "rates %r"
          % doc["sessions"])
    check("capacity" in doc["sessions"]["rejected"], "rejected %r" % doc["sessions"])
    check(doc["store"]["transactions"] >= 0, "store %r" % doc["store"])


def test_stomp():
    st, _, doc = get_json("/api/v1/stomp/metrics", Env.token)
    check(st == 200 and doc["status"] == "disabled", "stomp/metrics: %d %r" % (st, doc))
    st, _, _ = get_json("/api/v1/stomp/metrics")
    check(st == 401, "stomp/metrics without a token: %d" % st)


def put_log(body, token):
    h = {"Authorization": "Bearer " + token, "Content-Type": "application/json"}
    st, _, raw = request(Env.acsd.api, "PUT", "/api/v1/system/log", h, json.dumps(body).encode())
    return st, json.loads(raw) if raw else None


def test_log_at_run_time():
    st, _, doc = get_json("/api/v1/system/log", Env.token)
    check(st == 200 and doc == {"level": "warn", "format": "text"}, "system/log: %d %r" % (st, doc))
    st, doc = put_log({"level": "debug"}, Env.token)
    check(st == 403, "PUT system/log as readonly: %d %r" % (st, doc))
    for bad in ({"level": "loud"}, {"format": "xml"}, {}, {"level": "info", "colour": 1}):
        st, doc = put_log(bad, Env.admin)
        check(st == 400, "PUT system/log %r: %d %r" % (bad, st, doc))
    st, doc = put_log({"level": "debug", "format": "json"}, Env.admin)
    check(st == 200 and doc == {"level": "debug", "format": "json"}, "PUT: %d %r" % (st, doc))
    n0 = len(Env.acsd.log())
    for _ in range(4):  # whichever worker answers, something is logged at debug
        get("/api/v1/devices", Env.token)
    time.sleep(0.3)
    lines = [ln for ln in Env.acsd.log()[n0:].splitlines() if ln.startswith("{")]
    check(lines, "no JSON record after the switch:\n" + Env.acsd.log()[n0:])
    for ln in lines:
        rec = json.loads(ln)
        check(set(rec) == {"time", "level", "instance", "worker", "subsystem", "device",
                           "session", "trace_id", "message", "fields"} and isinstance(rec["fields"], dict),
              "record %r" % rec)
    check(any(isinstance(json.loads(ln)["worker"], int) for ln in lines),
          "no record names its worker: %r" % lines[:5])
    st, doc = put_log({"level": "warn", "format": "text"}, Env.admin)
    check(st == 200 and doc == {"level": "warn", "format": "text"}, "PUT back: %d %r" % (st, doc))
    rows = Env.pg.psql("SELECT count(*) FROM audit_log WHERE action = 'log.set'").strip()
    check(rows == "2", "audit rows of log.set: %r" % rows)


def test_draining():
    """A request begun before SIGTERM and finished after is answered: /ready
    then says 503 (the load balancer sends no new CPEs while acsd drains)."""
    s = Env.acsd
    c = Conn(s.api)
    c.send(b"GET /ready HTTP/1.1\r\nHost: a\r\n")
    time.sleep(0.3)
    s.signal(signal.SIGTERM)
    time.sleep(0.3)
    c.send(b"\r\n")
    status, _, body = c.read_response()
    c.close()
    check(status == 503 and b"draining" in body, "/ready while draining: %d %r" % (status, body))
    rc, _ = s.wait_exit(20)
    s.check_clean_exit(rc)


def test_policies_never_loaded():
    with tempfile.TemporaryDirectory(prefix="acs-monitor-") as d:
        os.makedirs(os.path.join(d, "provisions"))
        with open(os.path.join(d, "provisions", "bad.lua"), "w") as f:
            f.write("this is not Lua (\n")
        with Acsd(["--policies", d, "--log-level", "crit"]) as s:
            s.wait_ready()
            st, _, doc = get_json("/ready", port=s.api)
            check(st == 503 and any("policies" in r for r in doc["reasons"]),
                  "/ready with a tree that never loaded: %d %r" % (st, doc))
            with open(os.path.join(d, "provisions", "bad.lua"), "w") as f:
                f.write("-- nothing\n")
        with Acsd(["--policies", d, "--log-level", "crit"]) as s:
            s.wait_ready()
            st, _, doc = wait_status("/ready", 200, port=s.api)
            check(st == 200, "/ready with a tree loaded and no store: %d %r" % (st, doc))
            s.signal(signal.SIGTERM)
            rc, _ = s.wait_exit(15)
            s.check_clean_exit(rc)


TESTS = [test_ready, test_metrics, test_system_health, test_telemetry, test_stomp,
         test_log_at_run_time, test_store_down, test_policies_never_loaded, test_draining]


def main():
    pgtest.skip_unless_available()
    with pgtest.PgCluster(fast=True) as pg:
        Env.pg = pg
        Env.token = create_token(pg.dsn, "readonly", check=check)
        Env.admin = create_token(pg.dsn, "admin", check=check)
        serve(Env, ["--pg", pg.dsn, "--log-level", "warn", "--shutdown-timeout-ms", "5000"], TESTS,
              tail=1 << 30)
    sys.exit(0)


if __name__ == "__main__":
    main()
