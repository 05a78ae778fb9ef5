#!/usr/bin/env python3
"""A real Prometheus (Debian's `prometheus`) scrapes acsd's /metrics every
second while cpesim keeps 100 devices in session, and what it stored is
read back through its HTTP API: the target is up, acsd_sessions_started_total
reaches what acsd itself counts once the load has stopped, and the rate and
a histogram_quantile over the session histogram are numbers. The telemetry
document agrees (Informs by event code, sessions by outcome, RPCs, policy
runs and faults: a small policy tree reads UpTime in every session and
raises in every bootstrap). Skipped (77)
without prometheus, the binaries or PostgreSQL."""
import json
import os
import re
import shutil
import sys
import time
import urllib.parse

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
sys.path.insert(0, HERE)
import simtest  # noqa: E402
from simtest import bin_path, check, free_port, http, run_test, wait_for  # noqa: E402

COUNT = 100
DURATION = 12


# every session reads UpTime (one GetParameterValues); a bootstrap runs a
# provision that raises (a policy fault per device)
PRESETS = """return {
  {name = "probe", provisions = {"probe"}, channel = "probe"},
  {name = "broken", events = {"0 BOOTSTRAP"}, provisions = {"broken"}, channel = "broken"},
}
"""
PROBE = 'refresh(root() .. "DeviceInfo.UpTime", 0)\ncommit()\n'
BROKEN = 'error("deliberately broken")\n'


class World(simtest.World):
    def __init__(self, pg, tmp):
        super().__init__(pg, tmp)
        self.cwmp, self.api, self.prom_port = free_port(), free_port(), free_port()
        tree = os.path.join(tmp, "policies")
        for d, name, text in (("presets", "default.lua", PRESETS),
                              ("provisions", "probe.lua", PROBE),
                              ("provisions", "broken.lua", BROKEN)):
            os.makedirs(os.path.join(tree, d), exist_ok=True)
            with open(os.path.join(tree, d, name), "w") as f:
                f.write(text)
        # not waited for: the test waits for its /ready
        self.acsd = self.spawn(simtest.acsd_argv(self.cwmp, self.api, "--pg", pg.dsn, "--workers",
                                                 "2", "--policies", tree, "--log-level", "warn",
                                                 "--log-format", "json"))
        self.token = simtest.create_token(pg.dsn, "readonly", timeout=60)
        conf = os.path.join(tmp, "prometheus.yml")
        with open(conf, "w") as f:
            f.write("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
                    "scrape_configs:\n  - job_name: acsd\n    metrics_path: /metrics\n"
                    "    static_configs:\n      - targets: ['127.0.0.1:%d']\n" % self.api)
        self.prom = self.spawn([shutil.which("prometheus"), "--config.file", conf,
                                "--storage.tsdb.path", os.path.join(tmp, "tsdb"),
                                "--web.listen-address", "127.0.0.1:%d" % self.prom_port,
                                "--log.level", "warn"])
        self.sim = None


def query(w, q):
    """The vector of an instant query: [(labels, value)]."""
    st, text, _ = http("GET", "http://127.0.0.1:%d/api/v1/query?query=%s"
                       % (w.prom_port, urllib.parse.quote(q)))
    check(st == 200, "query %s: %d %s" % (q, st, text))
    doc = json.loads(text)
    check(doc["status"] == "success", "query %s: %r" % (q, doc))
    return [(r["metric"], float(r["value"][1])) for r in doc["data"]["result"]]


def acsd_counter(w, name):
    st, text, _ = http("GET", "http://127.0.0.1:%d/metrics" % w.api)
    check(st == 200, "/metrics: %d" % st)
    m = re.search(r"^%s (\S+)$" % re.escape(name), text, re.M)
    check(m, "%s not in /metrics" % name)
    return float(m.group(1))


def run(w):
    wait_for("acsd's /ready", lambda: http("GET", "http://127.0.0.1:%d/ready" % w.api)[0] == 200,
             timeout=30)
    wait_for("Prometheus to answer", lambda: http(
        "GET", "http://127.0.0.1:%d/-/ready" % w.prom_port)[0] == 200, timeout=60)
    w.sim = w.spawn([bin_path("cpesim"), "--acs", "http://127.0.0.1:%d/" % w.cwmp, "--count",
                     str(COUNT), "--serial-prefix", "PROM", "--concurrency", "20", "--rate",
                     "200", "--duration", str(DURATION), "--seed", "3", "--quiet"])
    wait_for("the target up in Prometheus",
             lambda: [v for _, v in query(w, 'up{job="acsd"}')] == [1.0], timeout=30)
    yield "Prometheus scrapes acsd's /metrics (up == 1)"
    got = wait_for("sessions in Prometheus", lambda: [
        v for _, v in query(w, 'acsd_sessions_started_total{job="acsd"}') if v > 0], timeout=30)
    yield "acsd_sessions_started_total read back from Prometheus under load: %d" % got[0]
    rate = wait_for("a session rate", lambda: [
        v for _, v in query(w, 'rate(acsd_sessions_started_total[5s])') if v > 0], timeout=30)
    yield "rate(acsd_sessions_started_total[5s]) = %.1f/s" % rate[0]
    p50 = wait_for("a session p50", lambda: [v for _, v in query(
        w, 'histogram_quantile(0.5, sum(rate(acsd_session_duration_seconds_bucket[5s])) by (le))')
        if v == v and v > 0], timeout=30)
    yield "histogram_quantile(0.5) of acsd_session_duration_seconds = %.4f s" % p50[0]
    rc = w.sim.wait(DURATION + 60)
    check(rc == 0, "cpesim exit %d:\n%s" % (rc, w.sim.log()[-3000:]))
    total = acsd_counter(w, "acsd_sessions_started_total")
    check(total >= COUNT, "acsd counted %d sessions for %d devices" % (total, COUNT))
    wait_for("Prometheus to hold acsd's count", lambda: [v for _, v in query(
        w, 'acsd_sessions_started_total{job="acsd"}')] == [total], timeout=30)
    yield "after the load, Prometheus holds acsd's own count: %d" % total
    inst = query(w, "acsd_info")
    check(len(inst) == 1 and inst[0][0].get("exported_instance"), "acsd_info: %r" % inst)
    yield "acsd_info names the instance (%s)" % inst[0][0]["exported_instance"]
    st, text, _ = http("GET", "http://127.0.0.1:%d/api/v1/telemetry/current" % w.api,
                       headers={"Authorization": "Bearer " + w.token})
    check(st == 200, "telemetry: %d %s" % (st, text))
    t = json.loads(text)
    check(t["sessions"]["started"] == total, "telemetry started %r vs %d" % (t["sessions"], total))
    check(t["informs"]["events"].get("0 BOOTSTRAP") == COUNT, "events %r" % t["informs"])
    check(t["informs"]["events"].get("2 PERIODIC", 0) > 0, "events %r" % t["informs"])
    check(t["sessions"]["ended"]["ok"] == total, "ended %r" % t["sessions"]["ended"])
    check(t["latency"]["inform_s"]["count"] == total and t["latency"]["inform_s"]["p50"] > 0,
          "latency %r" % t["latency"])
    check(t["store"]["transactions"] > 0 and t["store"]["mean_batch_items"] >= 1,
          "store %r" % t["store"])
    gpv = t["rpcs"].get("GetParameterValues", {})
    check(gpv.get("ok") == total and gpv.get("fault") == 0, "rpcs %r" % t["rpcs"])
    pol = t["policies"]
    check(pol["runs"] == total and pol["faults"] == COUNT and pol["cpu_s"] > 0 and
          pol["generation"] >= 1, "policies %r" % pol)
    yield "policies: %d runs, %d faults, %.3f s of CPU; %d GetParameterValues answered" % (
        pol["runs"], pol["faults"], pol["cpu_s"], gpv["ok"])
    got = query(w, 'acsd_rpcs_total{rpc="GetParameterValues",outcome="ok"}')
    check(got and got[0][1] > 0, "acsd_rpcs_total in Prometheus: %r" % got)
    # the policy faults are logged, one JSON record each, naming device and session
    recs = [json.loads(ln) for ln in w.acsd.log().splitlines() if ln.startswith("{")]
    faults = [r for r in recs if r["subsystem"] == "policy" and "deliberately broken" in r["message"]]
    check(len(faults) == COUNT, "%d policy fault records, expected %d: %r"
          % (len(faults), COUNT, recs[:3]))
    r = faults[0]
    check(r["device"] and r["device"].split("-")[-1].startswith("PROM") and
          r["session"].startswith(r["instance"] + ".") and isinstance(r["worker"], int),
          "fault record %r" % r)
    yield "JSON log records of the policy faults name device, session and worker: %s" % r["session"]
    yield "telemetry: %d BOOTSTRAP, %d PERIODIC, Inform p50 %.4f s, %.1f items per commit" % (
        t["informs"]["events"]["0 BOOTSTRAP"], t["informs"]["events"]["2 PERIODIC"],
        t["latency"]["inform_s"]["p50"], t["store"]["mean_batch_items"])


def main():
    if not shutil.which("prometheus"):
        print("skipped: prometheus not installed (apt-get install prometheus)")
        sys.exit(77)
    sys.exit(run_test(World, run, lambda w: [("acsd", w.acsd), ("prometheus", w.prom),
                                             ("cpesim", w.sim)], prefix="acs-prom-"))


if __name__ == "__main__":
    main()
