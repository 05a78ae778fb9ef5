#!/usr/bin/env python3
"""bench.py: acsd's session benchmarks, in one run, on this machine.

    bench/run.sh [--repeat N] [--duration S] [--devices N] [--storm N] [--quick]

Measures, each figure repeated --repeat times and reported as the median:
  (a) periodic-inform sessions per second: cpesim against acsd with
      PostgreSQL persisting everything (fsync and synchronous_commit on), and
      the same cpesim against nginx serving a canned InformResponse and a
      204 (the HTTP floor), with their ratio;
  (b) a boot storm: --storm devices (10,000) booting at once ("1 BOOT"
      after a first bootstrap), and the time until every one has completed a
      session (503 + Retry-After and the CPEs' own back-off included);
  (c) past capacity: acsd with a low --max-sessions under a much higher
      concurrency: the 503s answered and the sessions admitted that failed
      (which must be 0).
Everything runs on loopback, bounded in time; the PostgreSQL cluster, acsd
and nginx are private to the run and stopped at the end. CPU placement: acsd
(or nginx) on CPU 0, cpesim on CPU 1, PostgreSQL unpinned, when the machine
has two CPUs or more (taskset); printed with the settings.
"""
import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "lib"))
import pgtest  # noqa: E402

PG_SETTINGS = {
    "shared_buffers": "256MB",
    "max_connections": "100",
    "wal_buffers": "16MB",
    "checkpoint_timeout": "15min",
    "max_wal_size": "4GB",
}


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_port(port, timeout=15):
    t0 = time.time()
    while time.time() - t0 < timeout:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("port %d did not open" % port)


def pin(cpu):
    ncpu = os.cpu_count() or 1
    if ncpu >= 2 and shutil.which("taskset"):
        return ["taskset", "-c", str(cpu % ncpu)]
    return []


class Bin:
    def __init__(self, build):
        self.acsd = os.path.join(build, "bin", "acsd")
        self.cpesim = os.path.join(build, "bin", "cpesim")
        for b in (self.acsd, self.cpesim):
            if not os.access(b, os.X_OK):
                sys.exit("bench: %s is missing (build first: cmake --build %s)" % (b, build))


def run_cpesim(bins, url, args, timeout):
    """Runs cpesim to its end; returns its final JSON summary."""
    argv = pin(1) + [bins.cpesim, "--acs", url] + args
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                       timeout=timeout)
    lines = [l for l in p.stdout.splitlines() if l.startswith("{")]
    if p.returncode not in (0, 1) or not lines:
        raise RuntimeError("cpesim failed (%d): %s %s" % (p.returncode, p.stdout[-2000:],
                                                           p.stderr[-2000:]))
    return json.loads(lines[-1])


class Acsd:
    def __init__(self, bins, dsn, extra, log):
        self.cwmp = free_port()
        self.api = free_port()
        argv = pin(0) + [bins.acsd, "--pg", dsn, "--cwmp", "127.0.0.1:%d" % self.cwmp,
                         "--api", "127.0.0.1:%d" % self.api, "--log-level", "warn"] + extra
        self.log = open(log, "ab")
        self.p = subprocess.Popen(argv, stdout=self.log, stderr=self.log)
        wait_port(self.cwmp)
        self.url = "http://127.0.0.1:%d/" % self.cwmp

    def stop(self):
        self.p.send_signal(signal.SIGTERM)
        try:
            self.p.wait(40)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()
        self.log.close()


NGINX_CONF = """
worker_processes 1;
master_process off;
daemon off;
error_log %(dir)s/error.log warn;
pid %(dir)s/nginx.pid;
events { worker_connections 20000; }
http {
  access_log off;
  client_body_temp_path %(dir)s/body;
  proxy_temp_path %(dir)s/proxy;
  fastcgi_temp_path %(dir)s/fastcgi;
  uwsgi_temp_path %(dir)s/uwsgi;
  scgi_temp_path %(dir)s/scgi;
  keepalive_requests 100000;
  server {
    listen 127.0.0.1:%(port)d reuseport;
    location / {
      if ($http_content_length = "0") { return 204; }
      if ($http_content_length = "") { return 204; }
      add_header Set-Cookie "acsd_session=floor; Path=/";
      default_type "text/xml; charset=utf-8";
      return 200 '%(body)s';
    }
  }
}
"""

INFORM_RESPONSE = ('<soap-env:Envelope xmlns:soap-env="http://schemas.xmlsoap.org/soap/envelope/" '
                   'xmlns:cwmp="urn:dslforum-org:cwmp-1-0"><soap-env:Header><cwmp:ID '
                   'soap-env:mustUnderstand="1">1</cwmp:ID></soap-env:Header><soap-env:Body>'
                   '<cwmp:InformResponse><MaxEnvelopes>1</MaxEnvelopes></cwmp:InformResponse>'
                   '</soap-env:Body></soap-env:Envelope>')


class Nginx:
    def __init__(self, tmp):
        exe = shutil.which("nginx") or "/usr/sbin/nginx"
        if not os.access(exe, os.X_OK):
            raise RuntimeError("nginx is not installed (apt-get install nginx)")
        self.dir = os.path.join(tmp, "nginx")
        os.makedirs(self.dir, exist_ok=True)
        self.port = free_port()
        conf = os.path.join(self.dir, "nginx.conf")
        with open(conf, "w") as f:
            f.write(NGINX_CONF % {"dir": self.dir, "port": self.port, "body": INFORM_RESPONSE})
        self.p = subprocess.Popen(pin(0) + [exe, "-p", self.dir, "-c", conf],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        wait_port(self.port)
        self.url = "http://127.0.0.1:%d/" % self.port

    def stop(self):
        self.p.send_signal(signal.SIGQUIT)
        try:
            self.p.wait(10)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()


def median(xs):
    return statistics.median(xs) if xs else float("nan")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--duration", type=int, default=10, help="seconds per throughput run")
    ap.add_argument("--devices", type=int, default=1000, help="devices in the throughput runs")
    ap.add_argument("--concurrency", type=int, default=200)
    ap.add_argument("--storm", type=int, default=10000, help="devices in the boot storm")
    ap.add_argument("--quick", action="store_true", help="1 repeat, 5 s, 2,000-device storm")
    ap.add_argument("--json", help="also write the results here")
    a = ap.parse_args()
    if a.quick:
        a.repeat, a.duration, a.storm = 1, 5, 2000
    bins = Bin(a.build)
    pgtest.skip_unless_available()
    tmp = tempfile.mkdtemp(prefix="acsd-bench-")
    log = os.path.join(tmp, "acsd.log")
    res = {"date": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "cpus": os.cpu_count(),
           "placement": "acsd/nginx on CPU 0, cpesim on CPU 1, PostgreSQL unpinned"
           if pin(0) else "unpinned (one CPU)"}
    try:
        with pgtest.PgCluster(settings=PG_SETTINGS) as pg:
            res["postgresql"] = pg.psql(
                "SELECT string_agg(name || '=' || setting || coalesce(unit, ''), ', ' ORDER BY name) "
                "FROM pg_settings WHERE name IN ('fsync', 'synchronous_commit', 'shared_buffers',"
                " 'wal_buffers', 'full_page_writes', 'max_wal_size', 'server_version')").strip()
            print("bench: PostgreSQL %s" % res["postgresql"])
            print("bench: %s" % res["placement"])
            common = ["--count", str(a.devices), "--serial-prefix", "B", "--periodic",
                      "--concurrency", str(a.concurrency), "--duration", str(a.duration)]

            # (a) throughput against acsd, then the floor
            acs_rates = []
            acsd = Acsd(bins, pg.dsn, ["--workers", "1", "--max-sessions", "100000"], log)
            try:
                # first contact: the devices bootstrap once, so that the runs are periodic
                run_cpesim(bins, acsd.url, ["--count", str(a.devices), "--serial-prefix", "B",
                                            "--sessions", str(a.devices), "--concurrency",
                                            str(a.concurrency)], 600)
                for i in range(a.repeat):
                    r = run_cpesim(bins, acsd.url, common, a.duration + 120)
                    acs_rates.append(r["sessions_per_s"])
                    print("bench: acsd run %d: %.0f sessions/s (failed %d, p50 %.1f ms, p99 %.1f ms)"
                          % (i + 1, r["sessions_per_s"], r["sessions_failed"],
                             r["latency_ms"]["p50"], r["latency_ms"]["p99"]))
            finally:
                acsd.stop()
            floor_rates = []
            ng = Nginx(tmp)
            try:
                for i in range(a.repeat):
                    r = run_cpesim(bins, ng.url, common, a.duration + 120)
                    floor_rates.append(r["sessions_per_s"])
                    print("bench: nginx floor run %d: %.0f sessions/s" % (i + 1, r["sessions_per_s"]))
            finally:
                ng.stop()
            res["acsd_sessions_per_s"] = median(acs_rates)
            res["floor_sessions_per_s"] = median(floor_rates)
            res["ratio_to_floor"] = res["acsd_sessions_per_s"] / res["floor_sessions_per_s"]

            # (b) boot storm
            storm = []
            for i in range(a.repeat):
                pg.psql("TRUNCATE devices, parameters, events CASCADE")
                acsd = Acsd(bins, pg.dsn, ["--workers", "1"], log)
                try:
                    run_cpesim(bins, acsd.url, ["--count", str(a.storm), "--serial-prefix", "S",
                                                "--sessions", str(a.storm), "--concurrency",
                                                "2000"], 900)
                    t0 = time.time()
                    r = run_cpesim(bins, acsd.url, ["--count", str(a.storm), "--serial-prefix",
                                                    "S", "--boot", "--sessions", str(a.storm),
                                                    "--concurrency", str(a.storm)], 900)
                    storm.append((time.time() - t0, r))
                    print("bench: boot storm %d: %d devices in %.1f s (ok %d, failed %d, 503s %d)"
                          % (i + 1, a.storm, storm[-1][0], r["sessions_ok"], r["sessions_failed"],
                             r.get("http_503", 0)))
                finally:
                    acsd.stop()
            res["storm_devices"] = a.storm
            res["storm_seconds"] = median([s for s, _ in storm])

            # (c) past capacity
            cap = []
            acsd = Acsd(bins, pg.dsn, ["--workers", "1", "--max-sessions", "50"], log)
            try:
                for i in range(a.repeat):
                    r = run_cpesim(bins, acsd.url, ["--count", str(a.devices), "--serial-prefix",
                                                    "B", "--periodic", "--concurrency", "1000",
                                                    "--duration", str(a.duration)],
                                   a.duration + 300)
                    cap.append(r)
                    print("bench: past capacity run %d: %d sessions ok, %d failed, %d 503s"
                          % (i + 1, r["sessions_ok"], r["sessions_failed"], r.get("http_503", 0)))
            finally:
                acsd.stop()
            res["capacity_503s"] = median([r.get("http_503", 0) for r in cap])
            res["capacity_failed"] = max(r["sessions_failed"] for r in cap)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    print()
    print("| figure | value |")
    print("|---|---|")
    print("| periodic sessions/s, acsd + PostgreSQL (median of %d) | %.0f |"
          % (a.repeat, res["acsd_sessions_per_s"]))
    print("| periodic sessions/s, nginx canned floor | %.0f |" % res["floor_sessions_per_s"])
    print("| ratio acsd / floor | %.2f |" % res["ratio_to_floor"])
    print("| boot storm, %d devices | %.1f s |" % (res["storm_devices"], res["storm_seconds"]))
    print("| past capacity (max-sessions 50, concurrency 1000): 503s / failed | %d / %d |"
          % (res["capacity_503s"], res["capacity_failed"]))
    print(json.dumps(res))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(res, f, indent=2)


if __name__ == "__main__":
    main()
