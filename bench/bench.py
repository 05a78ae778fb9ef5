#!/usr/bin/env python3
"""bench.py: acsd's session benchmarks with the real cpesim, in one run, on this machine.

    bench/run.sh [--build DIR] [--repeat N] [--duration S] [--devices N] [--quick] [--json FILE]

One fleet of --devices (10,000) simulated CPEs (cpesim, model tr181) is
bootstrapped once into a private PostgreSQL (fsync, synchronous_commit and
full_page_writes ON: acsd persists everything, each InformResponse waits for
its commit); then, each figure repeated --repeat times (3) and reported as
the median (min-max printed too):

  (a) periodic-inform sessions per second: cpesim in loop mode ("2 PERIODIC"
      sessions back to back, --concurrency C in flight, --duration S) against
      acsd (--workers, 2; also with --also-workers, 1) + PostgreSQL, then the
      same cpesim against nginx serving
      a canned InformResponse and a 204 (the HTTP floor: what the client and
      loopback HTTP cost with no ACS work at all), and their ratio. Every
      Inform acsd acknowledged must have its event row in the store (checked).
  (b) a boot storm: the whole fleet powers on at once ("1 BOOT": the state
      file knows the devices; no concurrency limit, so every device connects
      at the same moment) and the time from the first session's start to the
      last device's successful session (503 + Retry-After, connect retries and
      the CPEs' back-off included), acsd answering 503s with Retry-After
      --storm-retry-after (5 s).
  (p) the example policies' cost: (a) again with acsd --policies policies/
      (after two unmeasured passes over the whole fleet, so that every device
      has had its first policy sessions and the values the policies refresh
      are fresh, as in a steady fleet): sessions/s, acsd CPU per session against
      (a)'s (the difference is what the policies cost a periodic session), and
      the ratio to the floor with them on (run with --phases ap).
  (c) past capacity: acsd with --max-sessions 50 under --capacity-concurrency
      (1,000) sessions in flight: the 503s answered, the sessions admitted, and
      the admitted sessions that failed (which must be 0).
  (f) first contact: --fc-devices new tr181 devices with the example policies,
      --fc-concurrency in flight: time, rate, CPU per device, acsd's RSS.
  (m) --hold-connections CWMP connections held open on one acsd (cpesim
      --think-ms): acsd RSS above idle per connection, and new sessions' p50 /
      p99 meanwhile (a probe fleet).
  (k) the same across --instances acsd on one PostgreSQL.
  (t) TLS: (a) over https (resumed sessions, and full handshakes) beside
      plain HTTP (bench_tls.py).
(b) is sized by --storm-devices, --storm-spread, --storm-in-flight and can run
with the example policies (--storm-policies).

Clients: --clients (2) cpesim processes share the fleet (--first/--count) in
(a), (p), (c), the floor and the bootstrap; the big phases start more (at most
--client-max-in-flight sessions each: a process may open 20,000 files), each
with loopback source addresses of its own. Their summaries are merged (counts
added, latency histograms added up, the active time from the first start to
the last end of any), and every phase checks that each Inform in the ack logs
of all of them has its event rows.

CPU placement: with --clients 2 (or more) nothing is pinned (the scheduler
balances the server, PostgreSQL and the clients, for the floor and acsd
alike); with --clients 1 and 2 CPUs or more (taskset): acsd (or nginx) on
CPU 0, cpesim on CPU 1, PostgreSQL unpinned.
CPU time used by each of them and by everything else on the machine (other
users' builds and tests) is measured from /proc for every run and printed per
session, so a disturbed run shows as such; interrupt and softirq time (loopback
TCP) is shown too: tick accounting charges it to whichever process it
interrupted, so it is counted within those figures, not on top of them. Everything is on loopback, every child is bounded in time, the whole
run is bounded by --max-minutes (12), and
everything it started is stopped at the end. Not run in CI.
"""
import argparse
import json
import os
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "lib"))
import pgtest  # noqa: E402
import bench_tls  # noqa: E402

PG_SETTINGS = {
    "shared_buffers": "256MB",
    "max_connections": "100",
    "wal_buffers": "16MB",
    "checkpoint_timeout": "15min",
    "max_wal_size": "4GB",
}
TCK = os.sysconf("SC_CLK_TCK")
PREFIX = "B"
LIVE = []  # every cpesim started, killed at the end whatever happened
VERBOSE_CLIENTS = False


class Timeout(Exception):
    pass


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def pin(cpu):
    ncpu = os.cpu_count() or 1
    if ncpu >= 2 and shutil.which("taskset"):
        return ["taskset", "-c", str(cpu % ncpu)]
    return []


def http_get(port, path, timeout=2):
    with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path), timeout=timeout) as r:
        return r.status, r.read().decode()


def wait_http(port, path, proc, timeout=30):
    t0 = time.time()
    while time.time() - t0 < timeout:
        if proc.poll() is not None:
            raise RuntimeError("process exited (%s) before answering on port %d" % (
                proc.returncode, port))
        try:
            if http_get(port, path, 0.5)[0] == 200:
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("port %d did not answer %s" % (port, path))


def wait_port(port, proc, timeout=15):
    t0 = time.time()
    while time.time() - t0 < timeout:
        if proc.poll() is not None:
            raise RuntimeError("process exited before listening on %d" % port)
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("port %d did not open" % port)


# --- CPU accounting from /proc

def _stat_cpu(pid, first):
    """Two consecutive CPU fields of /proc/PID/stat (0-based after the
    command's ")": 11 utime + stime, 13 cutime + cstime), in seconds (0 when
    gone)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[first]) + int(fields[first + 1])) / TCK
    except (OSError, IndexError, ValueError):
        return 0.0


def proc_cpu(pid):
    """utime + stime of one process, in seconds (0 when gone)."""
    return _stat_cpu(pid, 11)


def proc_cpu_reaped(pid):
    """CPU seconds of the children pid has waited for (cutime + cstime): a
    PostgreSQL backend that exited, for the postmaster."""
    return _stat_cpu(pid, 13)


def children_of(ppid):
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                if int(f.read().rsplit(")", 1)[1].split()[1]) == ppid:
                    out.append(int(d))
        except (OSError, IndexError, ValueError):
            pass
    return out


def machine_busy():
    """(busy, irq + softirq, total) CPU seconds of the whole machine since boot."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle = v[3] + v[4]
    return (sum(v[:8]) - idle) / TCK, (v[5] + v[6]) / TCK, sum(v[:8]) / TCK


class CpuMeter:
    """CPU seconds of acsd/nginx, PostgreSQL (postmaster and children), the
    child processes waited for (cpesim), this script, and the whole machine."""

    def __init__(self, pg_pid):
        self.pg_pid = pg_pid

    def snap(self, server_pid):
        # the backends alive now, and those that exited (autovacuum workers, a psql's),
        # which the postmaster reaped: their CPU is in its cutime/cstime
        pg = (proc_cpu(self.pg_pid) + proc_cpu_reaped(self.pg_pid) +
              sum(proc_cpu(p) for p in children_of(self.pg_pid)))
        ch = resource.getrusage(resource.RUSAGE_CHILDREN)
        me = resource.getrusage(resource.RUSAGE_SELF)
        busy, irq, total = machine_busy()
        return {"server": proc_cpu(server_pid) if server_pid else 0.0, "pg": pg,
                "children": ch.ru_utime + ch.ru_stime, "self": me.ru_utime + me.ru_stime,
                "busy": busy, "irq": irq, "total": total, "t": time.monotonic()}

    @staticmethod
    def delta(a, b):
        d = {k: b[k] - a[k] for k in a}
        ours = d["server"] + d["pg"] + d["children"] + d["self"]
        # tick-based accounting (no CONFIG_IRQ_TIME_ACCOUNTING) charges interrupt
        # and softirq ticks to the process they interrupted as well: irq+softirq
        # is a part of the other figures, not an addition to them
        return {"server_s": d["server"], "pg_s": d["pg"], "cpesim_s": d["children"],
                "softirq_s": d["irq"], "others_s": max(0.0, d["busy"] - ours),
                "wall_s": d["t"],
                "machine_busy_pct": 100.0 * d["busy"] / d["total"] if d["total"] else 0.0}


class Bin:
    def __init__(self, build):
        self.build = build
        self.acsd = os.path.join(build, "bin", "acsd")
        self.cpesim = os.path.join(build, "bin", "cpesim")
        for b in (self.acsd, self.cpesim):
            if not os.access(b, os.X_OK):
                sys.exit("bench: %s is missing (build first: cmake --build %s)" % (b, build))


class Cpesim:
    """One cpesim process with its control port and ack log; summary() after it ended.
    cpu: the CPU to pin it to (None: unpinned)."""

    def __init__(self, bins, url, args, log, cpu=None, ack=None):
        self.cr = free_port()
        self.ack = ack
        self.argv = (pin(cpu) if cpu is not None else []) + [
            bins.cpesim, "--acs", url, "--cr-listen", "127.0.0.1:%d" % self.cr,
            "--verbose" if VERBOSE_CLIENTS else "--quiet"] + (
                ["--ack-log", ack] if ack else []) + args
        self.out = tempfile.TemporaryFile()
        self.log = log
        self.p = subprocess.Popen(self.argv, stdout=self.out, stderr=subprocess.STDOUT,
                                  stdin=subprocess.DEVNULL)
        LIVE.append(self)

    def stats(self):
        return json.loads(http_get(self.cr, "/_sim/stats")[1])

    def wait(self, timeout):
        try:
            self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()
            raise RuntimeError("cpesim did not finish within %d s: %s" % (timeout, self.text()[-2000:]))
        return self.summary()

    def stop(self, timeout=60):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
        return self.wait(timeout)

    def text(self):
        self.out.seek(0)
        return self.out.read().decode("utf-8", "replace")

    def summary(self):
        t = self.text()
        with open(self.log, "a") as f:
            f.write("$ %s\n%s\n" % (" ".join(self.argv), "\n".join(
                ln[:2000] for ln in t.splitlines())))
        lines = [ln for ln in t.splitlines() if ln.startswith("{")]
        if self.p.returncode != 0 or not lines:
            raise RuntimeError("cpesim failed (%s): %s" % (self.p.returncode, t[-2000:]))
        r = json.loads(lines[-1])
        # "... sessions/s over X s": first session start to last session end
        for ln in t.splitlines():
            if ln.startswith("sessions:") and " over " in ln:
                r["active_s"] = float(ln.rsplit(" over ", 1)[1].split()[0])
        return r

    def acked_events(self):
        """(Informs, event codes) in the ack log."""
        informs = codes = 0
        if self.ack and os.path.exists(self.ack):
            with open(self.ack) as f:
                for ln in f:
                    parts = ln.rstrip("\n").split("\t")
                    if len(parts) >= 4:
                        informs += 1
                        codes += len(parts[3].split(","))
        return informs, codes

    def kill(self):
        if self.p.poll() is None:
            self.p.kill()
            self.p.wait()


def slices(n, parts, first=0):
    """--first/--count of each of parts processes sharing n devices."""
    parts = max(1, min(parts, n))
    base, extra = divmod(n, parts)
    out, f = [], first
    for k in range(parts):
        c = base + (1 if k < extra else 0)
        out.append((f, c))
        f += c
    return out


def source_ips(k, per):
    """--source-ip of client k: per loopback addresses of its own (one address has
    fewer than 64K ports towards one ACS address)."""
    if per <= 0:
        return []
    return ["--source-ip", ",".join("127.%d.%d.%d" % (10 + k // 200, k % 200, j + 1)
                                    for j in range(per))]


def hist_pct(hist, p):
    n = sum(c for _, c in hist)
    if not n:
        return 0.0
    want, seen = max(1, int(p * n + 0.5)), 0
    for us, c in sorted(hist):
        seen += c
        if seen >= want:
            return us / 1000.0
    return sorted(hist)[-1][0] / 1000.0


def merge(rs):
    """One summary for several cpesim processes' (which ran at the same time):
    counts added, latency histograms added up (percentiles from the sum), the
    active time from the first session start to the last session end of any."""
    if len(rs) == 1:
        return rs[0]
    out = {k: sum(r.get(k, 0) for r in rs) for k in (
        "devices", "sessions_started", "sessions_ok", "sessions_failed", "informs_acked",
        "http_503", "acs_faults", "connection_requests", "rpcs", "transfers_ok",
        "transfers_failed", "max_in_flight", "rss_peak_kib", "tls_handshakes", "tls_resumed")}
    out["failures"] = {k: sum(r["failures"].get(k, 0) for r in rs) for k in rs[0]["failures"]}
    ran = [r for r in rs if r.get("sessions_started")]
    if ran:
        out["active_s"] = (max(r["last_end_mono_ms"] for r in ran) -
                           min(r["first_start_mono_ms"] for r in ran)) / 1000.0
    else:
        out["active_s"] = 0.0
    out["sessions_per_s"] = out["sessions_ok"] / out["active_s"] if out["active_s"] else 0.0
    out["first_start_mono_ms"] = min((r["first_start_mono_ms"] for r in ran), default=0)
    out["last_end_mono_ms"] = max((r["last_end_mono_ms"] for r in ran), default=0)
    for key, hk in (("session_ms", "session_hist_us"), ("inform_ms", "inform_hist_us")):
        h = [tuple(x) for r in rs for x in r.get(hk, [])]
        out[key] = {"p50": hist_pct(h, .5), "p90": hist_pct(h, .9), "p99": hist_pct(h, .99),
                    "max": max(r[key]["max"] for r in rs)}
        out[hk] = h
    out["clients"] = [{"sessions_per_s": r["sessions_per_s"], "ok": r["sessions_ok"],
                       "max_in_flight": r["max_in_flight"], "rss_peak_kib": r["rss_peak_kib"]}
                      for r in rs]
    return out


class Fleet:
    """Several cpesim processes started together, one per job (url, args); the
    summaries merged. With ack logs (in dir tmp) for the "acknowledged = event
    rows" check."""

    def __init__(self, bins, jobs, log, tmp, cpus=None):
        self.sims = []
        for k, (url, args) in enumerate(jobs):
            ack = os.path.join(tmp, "ack-%d-%d.log" % (os.getpid(), len(LIVE)))
            cpu = cpus[k % len(cpus)] if cpus else None
            self.sims.append(Cpesim(bins, url, args, log, cpu=cpu, ack=ack))

    def stats(self):
        """Summed control-port stats (None while one does not answer yet)."""
        tot = {}
        for s in self.sims:
            st = s.stats()
            for k, v in st.items():
                if isinstance(v, (int, float)):
                    tot[k] = tot.get(k, 0) + v
        return tot

    def alive(self):
        return all(s.p.poll() is None for s in self.sims)

    def wait(self, timeout):
        deadline = time.monotonic() + timeout
        return merge([s.wait(max(1, deadline - time.monotonic())) for s in self.sims])

    def stop(self):
        return merge([s.stop() for s in self.sims])

    def run_until_ok(self, n_ok, timeout):
        """Until n_ok sessions succeeded in all (each device once) and none is in
        flight, then stops them."""
        try:
            deadline = time.monotonic() + timeout
            while True:
                if not self.alive():
                    return self.stop()
                try:
                    st = self.stats()
                    if st["ok"] >= n_ok and st["in_flight"] == 0:
                        break
                except (OSError, ValueError, KeyError):
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError("cpesim: %d sessions ok not reached within %d s" % (
                        n_ok, timeout))
                time.sleep(0.05)
            return self.stop()
        finally:
            self.kill()

    def acked_events(self):
        a = [s.acked_events() for s in self.sims]
        return sum(x[0] for x in a), sum(x[1] for x in a)

    def check_acked(self, label, event_rows):
        return Fleet.check_acked_all(label, [self], event_rows)

    @staticmethod
    def check_acked_all(label, fleets, event_rows):
        """Every Inform acknowledged has its event rows (a kill or a cut session may
        leave rows without an acknowledgement, never the reverse). Returns the
        number of Informs acknowledged."""
        a = [f.acked_events() for f in fleets]
        informs, codes = sum(x[0] for x in a), sum(x[1] for x in a)
        if event_rows < codes:
            raise RuntimeError("%s: %d Informs acknowledged with %d events, but only %d event "
                               "rows" % (label, informs, codes, event_rows))
        return informs

    def kill(self):
        for s in self.sims:
            s.kill()


def proc_status_kib(pid, key):
    """VmRSS / VmHWM of a process, in KiB (0 when gone)."""
    try:
        with open("/proc/%d/status" % pid) as f:
            for ln in f:
                if ln.startswith(key + ":"):
                    return int(ln.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


class Acsd:
    def __init__(self, bins, dsn, extra, log, cpu=0):
        self.cwmp = free_port()
        self.api = free_port()
        self.argv = (pin(cpu) if cpu is not None else []) + [
            bins.acsd, "--pg", dsn, "--cwmp", "127.0.0.1:%d" % self.cwmp, "--api",
            "127.0.0.1:%d" % self.api, "--files", "off", "--log-level", "warn"] + extra
        self.log = open(log, "ab")
        self.log.write(("$ %s\n" % " ".join(self.argv)).encode())
        self.log.flush()
        self.p = subprocess.Popen(self.argv, stdout=self.log, stderr=self.log,
                                  stdin=subprocess.DEVNULL)
        wait_http(self.api, "/health", self.p)
        self.url = "http://127.0.0.1:%d/" % self.cwmp
        self.pid = self.p.pid

    def stop(self):
        if self.p.poll() is None:
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
worker_rlimit_nofile 20000;
events { worker_connections 16000; }
http {
  access_log off;
  client_body_temp_path %(dir)s/body;
  proxy_temp_path %(dir)s/proxy;
  fastcgi_temp_path %(dir)s/fastcgi;
  uwsgi_temp_path %(dir)s/uwsgi;
  scgi_temp_path %(dir)s/scgi;
  keepalive_requests 100000;
  server {
    listen 127.0.0.1:%(port)d backlog=4096;
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

# cpesim takes it as is: it parses by namespace (any cwmp-1-x), does not check
# the cwmp:ID, and sends the cookie back.
INFORM_RESPONSE = ('<soap-env:Envelope xmlns:soap-env="http://schemas.xmlsoap.org/soap/envelope/" '
                   'xmlns:cwmp="urn:dslforum-org:cwmp-1-0"><soap-env:Header><cwmp:ID '
                   'soap-env:mustUnderstand="1">1</cwmp:ID></soap-env:Header><soap-env:Body>'
                   '<cwmp:InformResponse><MaxEnvelopes>1</MaxEnvelopes></cwmp:InformResponse>'
                   '</soap-env:Body></soap-env:Envelope>')


class Nginx:
    def __init__(self, tmp, cpu=0):
        exe = shutil.which("nginx") or "/usr/sbin/nginx"
        if not os.access(exe, os.X_OK):
            raise RuntimeError("nginx is not installed (apt-get install nginx)")
        self.dir = os.path.join(tmp, "nginx")
        os.makedirs(self.dir, exist_ok=True)
        self.port = free_port()
        conf = os.path.join(self.dir, "nginx.conf")
        with open(conf, "w") as f:
            f.write(NGINX_CONF % {"dir": self.dir, "port": self.port, "body": INFORM_RESPONSE})
        self.p = subprocess.Popen((pin(cpu) if cpu is not None else []) + [
            exe, "-p", self.dir, "-c", conf, "-e", os.path.join(self.dir, "error.log")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
        wait_port(self.port, self.p)
        self.url = "http://127.0.0.1:%d/" % self.port
        self.pid = self.p.pid

    def stop(self):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGQUIT)
            try:
                self.p.wait(10)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()


def med(xs):
    return statistics.median(xs) if xs else float("nan")


def spread(xs, fmt="%.0f"):
    return ("%s (%s-%s)" % (fmt % med(xs), fmt % min(xs), fmt % max(xs))) if xs else "n/a"


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def machine():
    mem = {}
    with open("/proc/meminfo") as f:
        for ln in f:
            k, v = ln.split(":", 1)
            mem[k] = v.strip()
    model = ""
    try:
        with open("/proc/cpuinfo") as f:
            for ln in f:
                if ln.startswith("model name"):
                    model = ln.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {"nproc": os.cpu_count(), "cpu": model, "mem_total": mem.get("MemTotal"),
            "mem_available": mem.get("MemAvailable"), "kernel": os.uname().release,
            "loadavg_start": loadavg()}


def per_session(cpu, n):
    """CPU microseconds per session of each component."""
    if not n:
        return {}
    return {k.replace("_s", "_us"): round(cpu[k] * 1e6 / n) for k in
            ("server_s", "pg_s", "cpesim_s", "softirq_s", "others_s")}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default=os.path.join(ROOT, "build"), help="build directory")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--duration", type=int, default=10, help="seconds per throughput run")
    ap.add_argument("--devices", type=int, default=10000, help="fleet size (and boot storm)")
    ap.add_argument("--concurrency", type=int, default=200, help="sessions in flight in (a)")
    ap.add_argument("--workers", type=int, default=2,
                    help="acsd worker threads (2: acsd's default on 2 cores; all on CPU 0)")
    ap.add_argument("--also-workers", type=int, default=1,
                    help="(a) is also measured with this many workers (0: not)")
    ap.add_argument("--storm-retry-after", type=int, default=5,
                    help="acsd --retry-after during the boot storm")
    ap.add_argument("--clients", type=int, default=2,
                    help="cpesim processes driving (a), (p), (c) and the floor, the fleet split "
                    "between them (--first/--count); 1: the old placement (one cpesim pinned "
                    "to CPU 1, the server to CPU 0); otherwise nothing is pinned")
    ap.add_argument("--client-max-in-flight", type=int, default=9000,
                    help="sessions in flight per cpesim process at most (each is a socket; "
                    "a process may not open more than 20,000 files here): more processes "
                    "are started for the big phases")
    ap.add_argument("--sources-per-client", type=int, default=4,
                    help="(b) (f) (m) (k): loopback source addresses per cpesim process "
                    "(127.10.K.1 ..; one address has fewer than 64K ports to one ACS port)")
    ap.add_argument("--storm-devices", type=int, default=None,
                    help="(b): devices in the storm (default --devices; the bootstrap makes "
                    "as many known devices)")
    ap.add_argument("--storm-spread", type=float, default=0,
                    help="(b): devices power on within this many seconds (0: all at once)")
    ap.add_argument("--storm-in-flight", type=int, default=18000,
                    help="(b): sessions in flight in all at most (acsd's 20,000 open files)")
    ap.add_argument("--storm-policies", action="store_true",
                    help="(b): acsd with the example policies (policies/)")
    ap.add_argument("--storm-timeout", type=int, default=600,
                    help="(b): seconds allowed for every device to succeed")
    ap.add_argument("--fc-devices", type=int, default=1000,
                    help="(f) first contact: new tr181 devices per run")
    ap.add_argument("--fc-concurrency", type=int, default=1000,
                    help="(f): first-contact sessions in flight at most")
    ap.add_argument("--fc-timeout", type=int, default=600)
    ap.add_argument("--hold-connections", type=int, default=2000,
                    help="(m): CWMP connections held open on one acsd")
    ap.add_argument("--hold-think-ms", type=int, default=20000,
                    help="(m) (k): cpesim --think-ms: how long each session holds its "
                    "connection (one new session per connection per think time)")
    ap.add_argument("--hold-duration", type=int, default=15,
                    help="(m) (k): seconds measured once every connection is open")
    ap.add_argument("--hold-ramp-timeout", type=int, default=120,
                    help="(m) (k): seconds allowed to open the connections")
    ap.add_argument("--hold-probe-concurrency", type=int, default=10,
                    help="(m) (k): new sessions in flight meanwhile (known devices, no think)")
    ap.add_argument("--instances", type=int, default=2, help="(k): acsd instances")
    ap.add_argument("--instances-connections", type=int, default=4000,
                    help="(k): connections held in all, across the instances")
    ap.add_argument("--instances-workers", type=int, default=1,
                    help="(k): --workers of each instance")
    ap.add_argument("--capacity-max-sessions", type=int, default=50)
    ap.add_argument("--capacity-concurrency", type=int, default=1000)
    ap.add_argument("--max-minutes", type=float, default=12, help="abort the run after this")
    ap.add_argument("--statements", action="store_true",
                    help="(a), (f): PostgreSQL time per statement (pg_stat_statements, planning "
                    "included; costs a few %%, so not for the headline figures)")
    ap.add_argument("--phases", default="abc",
                    help="which of (a) (p) (b) (c) (f) (m) (k) (t) to run (default abc; p: the "
                    "policies' cost; f: first contact; m: connections held on one acsd; k: "
                    "on several instances; t: TLS)")
    ap.add_argument("--quick", action="store_true", help="1 repeat, 5 s runs, 2,000 devices")
    ap.add_argument("--json", help="also write the results here")
    ap.add_argument("--log", help="keep the run's log (commands, cpesim summaries, acsd's "
                    "output) here (default: /tmp/acsd-bench-last.log)")
    ap.add_argument("--verbose-clients", action="store_true",
                    help="cpesim --verbose instead of --quiet: every failed session in the log")
    a = ap.parse_args()
    if a.quick:
        a.repeat, a.duration, a.devices = 1, 5, 2000
    global VERBOSE_CLIENTS
    VERBOSE_CLIENTS = a.verbose_clients
    if a.storm_devices is None:
        a.storm_devices = a.devices
    if a.clients < 1 or a.client_max_in_flight < 1:
        ap.error("--clients and --client-max-in-flight: 1 or more")
    bins = Bin(a.build)
    pgtest.skip_unless_available()
    # every child (acsd, cpesim) inherits it: as many open files as the hard limit allows
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard if hard != resource.RLIM_INFINITY
                                                        else 1048576, hard))
        except (ValueError, OSError):
            pass

    def on_alarm(signum, frame):
        raise Timeout("the run took longer than --max-minutes %g" % a.max_minutes)
    signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(int(a.max_minutes * 60))

    tmp = tempfile.mkdtemp(prefix="acsd-bench-")
    b = Bench(a, bins, tmp)
    res = b.res
    print("bench: %s" % json.dumps(res["machine"]))
    print("bench: %s; acsd --workers %d" % (res["placement"], a.workers))
    t_start = time.monotonic()
    try:
        settings = dict(PG_SETTINGS)
        if a.statements:
            settings.update({"shared_preload_libraries": "'pg_stat_statements'",
                             "pg_stat_statements.track_planning": "on",
                             "pg_stat_statements.track": "all"})
        with pgtest.PgCluster(settings=settings) as pg:
            b.pg = pg
            if a.statements:
                pg.psql("CREATE EXTENSION pg_stat_statements", user="postgres")
            with open(os.path.join(pg.datadir, "postmaster.pid")) as f:
                b.meter = CpuMeter(int(f.readline()))
            res["postgresql"] = pg.psql(
                "SELECT string_agg(name || '=' || current_setting(name), ', ' ORDER BY "
                "name) FROM pg_settings WHERE name IN ('fsync', 'synchronous_commit', "
                "'shared_buffers', 'wal_buffers', 'full_page_writes', 'max_wal_size', "
                "'checkpoint_timeout', 'wal_sync_method', 'commit_delay', 'server_version')")
            print("bench: PostgreSQL %s" % res["postgresql"])
            b.bootstrap()
            if "a" in a.phases:
                res["a"] = b.phase_a(a.workers)
                if a.also_workers and a.also_workers != a.workers:
                    res["a_workers_%d" % a.also_workers] = b.phase_a(a.also_workers, floor=False)
            if "p" in a.phases:
                res["p"] = b.phase_p(a.workers)
            if "b" in a.phases:
                res["b"] = b.phase_b()
            if "c" in a.phases:
                res["c"] = b.phase_c()
            if "f" in a.phases:
                res["f"] = b.phase_f()
            if "m" in a.phases:
                res["m"] = b.phase_m()
            if "k" in a.phases:
                res["k"] = b.phase_k()
            if "t" in a.phases:
                res["t"] = bench_tls.phase_t(b)
    except Timeout as e:
        print("bench: aborted: %s" % e)
        raise SystemExit(3)
    finally:
        signal.alarm(0)
        b.cleanup()
        if os.path.exists(b.log):
            shutil.copyfile(b.log, b.keep_log)
        shutil.rmtree(tmp, ignore_errors=True)
    res["machine"]["loadavg_end"] = loadavg()
    res["total_s"] = round(time.monotonic() - t_start)
    report(a, res, b.keep_log)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(res, f, indent=2)
    if "c" in res and res["c"]["admitted_failed"]:
        print("bench: FAIL: admitted sessions failed past capacity")
        return 1
    return 0


class Bench:
    def __init__(self, a, bins, tmp):
        self.a, self.bins, self.tmp = a, bins, tmp
        self.log = os.path.join(tmp, "bench.log")
        self.keep_log = a.log or os.path.join(tempfile.gettempdir(), "acsd-bench-last.log")
        self.state = os.path.join(tmp, "fleet.state")
        self.started = []
        self.pg = self.meter = None
        self.fleet = ["--serial-prefix", PREFIX, "--seed", "1"]
        if a.clients == 1 and pin(0):
            # the old placement: one client on a CPU of its own
            self.server_cpu, self.client_cpus = 0, [1]
            placement = "acsd/nginx on CPU 0, cpesim on CPU 1, PostgreSQL unpinned"
        else:
            self.server_cpu, self.client_cpus = None, None
            placement = ("unpinned: acsd/nginx, PostgreSQL and %d cpesim processes where the "
                         "scheduler puts them" % a.clients)
        # the boot storm's client processes (and the bootstrap's, which saves their
        # state files): at most --storm-in-flight / --clients-max-in-flight each
        storm_in_flight = min(a.storm_in_flight, a.storm_devices)
        self.storm_clients = max(a.clients, -(-storm_in_flight // a.client_max_in_flight))
        self.boot_clients = a.clients  # (b) reads their state files merged into one
        self.res = {"date": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "machine": machine(),
                    "placement": placement, "build": os.path.abspath(a.build),
                    "args": {k: v for k, v in vars(a).items() if k != "json"}}

    def acsd(self, workers, *extra):
        d = Acsd(self.bins, self.pg.dsn, ["--workers", str(workers)] + list(extra), self.log,
                 cpu=self.server_cpu)
        self.started.append(d)
        return d

    def fleet_of(self, url, n, parts, args, first=0, prefix=None, state=None, sources=False,
                 concurrency=None, urls=None):
        """parts cpesim processes sharing devices first .. first+n-1 (--first/--count),
        each with args (and --concurrency concurrency/parts, its own state file, its
        own source addresses when asked); urls: one ACS per process, round robin.
        state: "save" (the bootstrap: one file per process) or "load" (the fleet's
        merged state file)."""
        jobs = []
        for k, (f, c) in enumerate(slices(n, parts, first)):
            j = ["--first", str(f), "--count", str(c), "--serial-prefix", prefix or PREFIX,
                 "--seed", str(1 + k)] + list(args)
            if concurrency:
                j += ["--concurrency", str(max(1, concurrency // parts))]
            if state == "save":  # each process writes the state of its own slice
                j += ["--state", "%s.%d" % (self.state, k)]
            elif state == "load":  # a copy of the whole fleet's (it keeps its slice)
                path = "%s.run%d" % (self.state, k)
                shutil.copyfile(self.state, path)
                j += ["--state", path]
            if sources:
                j += source_ips(k, self.a.sources_per_client)
            jobs.append(((urls[k % len(urls)] if urls else url), j))
        return Fleet(self.bins, jobs, self.log, self.tmp, self.client_cpus)

    def cleanup(self):
        for sim in LIVE:
            sim.kill()
        for p in self.started:
            try:
                p.stop()
            except Exception:  # noqa: BLE001
                pass

    def events_count(self):
        return int(self.pg.psql("SELECT count(*) FROM events"))

    def fleet_size(self):
        return max(self.a.devices, self.a.storm_devices if "b" in self.a.phases else 0)

    def bootstrap(self):
        """The fleet: bootstrapped once ("0 BOOTSTRAP"), its state saved for (b)."""
        n = self.fleet_size()
        acsd = self.acsd(self.a.workers, "--retry-after", "2")
        t0 = time.monotonic()
        fl = self.fleet_of(acsd.url, n, self.boot_clients, [
            "--no-loop", "--duration", str(max(600, n // 50)), "--periodic-interval", "86400"],
            state="save", concurrency=max(500, self.boot_clients))
        r = fl.run_until_ok(n, max(600, n // 50))
        acsd.stop()
        with open(self.state, "w") as out:  # one file for the fleet
            for k in range(len(fl.sims)):
                with open("%s.%d" % (self.state, k)) as f:
                    lines = f.readlines()
                out.writelines(lines if k == 0 else lines[2:])
        boot = {"seconds": round(time.monotonic() - t0, 1), "ok": r["sessions_ok"],
                "503": r["http_503"], "failed": r["sessions_failed"],
                "clients": self.boot_clients}
        self.res["bootstrap"] = boot
        print("bench: fleet of %d bootstrapped in %.1f s at concurrency 500 by %d cpesim "
              "processes (ok %d, 503 %d)" % (n, boot["seconds"], self.boot_clients, boot["ok"],
                                             boot["503"]))

    def clients_line(self, r):
        cl = r.get("clients")
        if not cl:
            return ""
        return "; per client: %s sessions/s" % " + ".join("%.0f" % c["sessions_per_s"]
                                                          for c in cl)

    def phase_a(self, workers, floor=True, extra=(), label="(a)", warmup=False):
        """(a) periodic throughput, acsd + PostgreSQL, then the nginx floor, both driven
        by the same --clients cpesim processes (the fleet split between them)."""
        a = self.a
        common = ["--periodic", "--duration", str(a.duration), "--periodic-interval", "86400"]
        runs_a = []
        acsd = self.acsd(workers, *extra)
        if warmup:  # two passes over the fleet: every device's first policy work done
            warm = ["--periodic", "--duration", "900", "--periodic-interval", "86400",
                    "--sessions", str(2 * a.devices // a.clients)]
            r = self.fleet_of(acsd.url, a.devices, a.clients, warm,
                              concurrency=a.concurrency).wait(960)
            print("bench: %s warm-up: %.0f sessions/s (ok %d, failed %d)" % (
                label, r["sessions_per_s"], r["sessions_ok"], r["sessions_failed"]))
        # what the phases before left to vacuum (the bootstrap, (a)'s runs for (p)) is
        # not this phase's: paid now, outside the runs (printed)
        self.vacuum(label, "before the runs (what ran before left it)")
        sessions = 0
        for i in range(a.repeat):
            ev0, la = self.events_count(), loadavg()
            if a.statements:
                self.pg.psql("SELECT pg_stat_statements_reset()", user="postgres")
            c0 = self.meter.snap(acsd.pid)
            fl = self.fleet_of(acsd.url, a.devices, a.clients, common, concurrency=a.concurrency)
            r = fl.wait(a.duration + 60)
            c1 = self.meter.snap(acsd.pid)
            stmts = self.statements(r["sessions_ok"]) if a.statements else None
            ev = self.events_count() - ev0
            acked = fl.check_acked(label, ev)
            cpu = CpuMeter.delta(c0, c1)
            sessions += r["sessions_ok"]
            runs_a.append({"sessions_per_s": r["sessions_per_s"], "ok": r["sessions_ok"],
                           "failed": r["sessions_failed"], "503": r["http_503"],
                           "informs_acked": acked, "event_rows": ev,
                           "session_ms": r["session_ms"], "inform_ms": r["inform_ms"],
                           "clients": r.get("clients"),
                           "cpu": cpu, "cpu_us_per_session": per_session(cpu, r["sessions_ok"]),
                           "loadavg": la, "statements": stmts})
            if stmts:
                for st in stmts:
                    print("bench:   %(calls)6d calls, per session: plan %(plan_us)4d us, exec "
                          "%(exec_us)4d us  %(query)s" % st)
            print("bench: %s acsd (%d workers) run %d: %.0f sessions/s (ok %d, failed %d, 503 "
                  "%d), session p50 %.1f ms p99 %.1f ms; %d informs acked, %d event rows; CPU "
                  "us/session %s; machine busy %.0f%%%s" % (
                      label, workers, i + 1, r["sessions_per_s"], r["sessions_ok"],
                      r["sessions_failed"], r["http_503"], r["session_ms"]["p50"],
                      r["session_ms"]["p99"], acked, ev,
                      runs_a[-1]["cpu_us_per_session"], cpu["machine_busy_pct"],
                      self.clients_line(r)))
        acsd.stop()
        # and what these runs left: their sessions' share of vacuuming (the autovacuum
        # that ran during the runs is in their PostgreSQL figures already)
        pg_s = self.vacuum(label, "after the runs (what they left)")
        out = {"workers": workers, "acsd": runs_a,
               "acsd_sessions_per_s": med([x["sessions_per_s"] for x in runs_a]),
               "vacuum_after_us": int(1e6 * pg_s / sessions) if sessions else 0}
        if not floor:
            return out
        runs_f = []
        ng = Nginx(self.tmp, cpu=self.server_cpu)
        self.started.append(ng)
        for i in range(a.repeat):
            la = loadavg()
            c0 = self.meter.snap(ng.pid)
            r = self.fleet_of(ng.url, a.devices, a.clients, common,
                              concurrency=a.concurrency).wait(a.duration + 60)
            c1 = self.meter.snap(ng.pid)
            cpu = CpuMeter.delta(c0, c1)
            runs_f.append({"sessions_per_s": r["sessions_per_s"], "ok": r["sessions_ok"],
                           "failed": r["sessions_failed"], "session_ms": r["session_ms"],
                           "clients": r.get("clients"),
                           "cpu": cpu, "cpu_us_per_session": per_session(cpu, r["sessions_ok"]),
                           "loadavg": la})
            print("bench: (a) nginx floor run %d: %.0f sessions/s (failed %d), session p50 %.1f "
                  "ms p99 %.1f ms; CPU us/session %s; machine busy %.0f%%%s" % (
                      i + 1, r["sessions_per_s"], r["sessions_failed"], r["session_ms"]["p50"],
                      r["session_ms"]["p99"], runs_f[-1]["cpu_us_per_session"],
                      cpu["machine_busy_pct"], self.clients_line(r)))
        ng.stop()
        out["floor"] = runs_f
        out["floor_sessions_per_s"] = med([x["sessions_per_s"] for x in runs_f])
        out["ratio"] = out["acsd_sessions_per_s"] / out["floor_sessions_per_s"]
        return out

    def vacuum(self, label, when):
        """VACUUM of the bench's database, printed with PostgreSQL's CPU for it (s)."""
        time.sleep(1)  # a stopped acsd's backends exit and are reaped before the snapshot
        c0, t0 = self.meter.snap(0), time.monotonic()
        self.pg.psql("VACUUM")  # its backend's CPU: reaped by the postmaster (snap)
        c1 = self.meter.snap(0)
        pg_s = c1["pg"] - c0["pg"]
        print("bench: %s VACUUM %s: %.1f s, PostgreSQL CPU %.2f s" % (
            label, when, time.monotonic() - t0, pg_s))
        return pg_s

    def phase_p(self, workers):
        """(p) (a) with the example policies on."""
        return self.phase_a(workers, floor=False, label="(p)", warmup=True,
                            extra=("--policies", os.path.join(ROOT, "policies")))

    def statements(self, sessions):
        """The statements acsd sent in the last run, by time (per session, in us)."""
        rows = self.pg.psql(
            "SELECT calls, total_plan_time, total_exec_time, left(regexp_replace(query, "
            "'\\s+', ' ', 'g'), 60) FROM pg_stat_statements WHERE query NOT LIKE "
            "'%pg_stat_statements%' AND calls > 0 ORDER BY total_plan_time + total_exec_time "
            "DESC LIMIT 12", user="postgres")
        out = []
        for ln in rows.splitlines():
            calls, plan, ex, q = ln.split("|", 3)
            out.append({"calls": int(calls), "plan_us": round(float(plan) * 1000 / sessions),
                        "exec_us": round(float(ex) * 1000 / sessions), "query": q})
        return out

    def phase_b(self):
        """(b) boot storm: the fleet ("1 BOOT": the state files know them) powers on
        within --storm-spread seconds, at most --storm-in-flight sessions in flight in
        all, from several cpesim processes and source addresses."""
        a, n = self.a, self.a.storm_devices
        storm = []
        extra = ["--retry-after", str(a.storm_retry_after)]
        if a.storm_policies:
            extra += ["--policies", os.path.join(ROOT, "policies")]
        acsd = self.acsd(a.workers, *extra)
        for i in range(a.repeat):
            la, ev0 = loadavg(), self.events_count()
            c0 = self.meter.snap(acsd.pid)
            args = ["--no-loop", "--duration", str(a.storm_timeout + 30), "--periodic-interval",
                    "86400", "--spread", str(a.storm_spread)]
            fl = self.fleet_of(acsd.url, n, self.storm_clients, args, state="load", sources=True,
                               concurrency=min(a.storm_in_flight, n))
            r = fl.run_until_ok(n, a.storm_timeout)
            c1 = self.meter.snap(acsd.pid)
            cpu = CpuMeter.delta(c0, c1)
            ev = self.events_count() - ev0
            acked = fl.check_acked("(b)", ev)
            other = {k: v for k, v in r["failures"].items() if v and k != "503"}
            storm.append({"seconds": r.get("active_s"), "ok": r["sessions_ok"],
                          "started": r["sessions_started"], "failed": r["sessions_failed"],
                          "503": r["http_503"], "failures": r["failures"],
                          "inform_ms": r["inform_ms"], "max_in_flight": r["max_in_flight"],
                          "informs_acked": acked, "event_rows": ev, "cpu": cpu, "loadavg": la,
                          "acsd_rss_peak_kib": proc_status_kib(acsd.pid, "VmHWM")})
            print("bench: (b) boot storm %d: %d devices in %.1f s (spread %g s, %d cpesim "
                  "processes; sessions started %d, ok %d, failed %d: %s; 503 %d; peak in flight "
                  "%d; Inform p50 %.0f ms p99 %.0f ms; %d informs acked, %d event rows; CPU s: "
                  "acsd %.1f, PostgreSQL %.1f, cpesim %.1f, others %.1f; machine busy %.0f%%)" % (
                      i + 1, n, r.get("active_s", -1), a.storm_spread, self.storm_clients,
                      r["sessions_started"], r["sessions_ok"], r["sessions_failed"],
                      {k: v for k, v in r["failures"].items() if v}, r["http_503"],
                      r["max_in_flight"], r["inform_ms"]["p50"], r["inform_ms"]["p99"], acked,
                      ev, cpu["server_s"], cpu["pg_s"], cpu["cpesim_s"], cpu["others_s"],
                      cpu["machine_busy_pct"]))
            if r["sessions_ok"] < n:
                raise RuntimeError("(b): only %d of %d devices completed" % (r["sessions_ok"], n))
            if other:
                raise RuntimeError("(b): failures other than 503: %s" % other)
        acsd.stop()
        return {"runs": storm, "devices": n, "retry_after": a.storm_retry_after,
                "spread": a.storm_spread, "in_flight": a.storm_in_flight,
                "clients": self.storm_clients, "policies": a.storm_policies,
                "seconds": med([s["seconds"] for s in storm])}

    def phase_c(self):
        """(c) past capacity: a low --max-sessions under a much higher concurrency."""
        a = self.a
        cap = []
        acsd = self.acsd(a.workers, "--max-sessions", str(a.capacity_max_sessions),
                         "--retry-after", "1")
        for i in range(a.repeat):
            la, ev0 = loadavg(), self.events_count()
            c0 = self.meter.snap(acsd.pid)
            fl = self.fleet_of(acsd.url, a.devices, a.clients, [
                "--periodic", "--duration", str(a.duration), "--periodic-interval", "86400"],
                concurrency=a.capacity_concurrency)
            r = fl.wait(a.duration + 60)
            c1 = self.meter.snap(acsd.pid)
            cpu = CpuMeter.delta(c0, c1)
            acked = fl.check_acked("(c)", self.events_count() - ev0)
            other = r["sessions_failed"] - r["failures"]["503"]
            cap.append({"started": r["sessions_started"], "ok": r["sessions_ok"],
                        "503": r["failures"]["503"], "admitted": r["sessions_ok"] + other,
                        "admitted_failed": other, "sessions_per_s": r["sessions_per_s"],
                        "session_ms": r["session_ms"], "failures": r["failures"], "cpu": cpu,
                        "informs_acked": acked,
                        "cpu_us_per_started": per_session(cpu, r["sessions_started"]),
                        "loadavg": la})
            print("bench: (c) past capacity run %d: %d sessions started, %d refused with 503, "
                  "%d admitted, %d of them failed; %.0f sessions/s admitted, session p50 %.1f "
                  "ms p99 %.1f ms; CPU s: acsd %.1f, PostgreSQL %.1f, cpesim %.1f, others %.1f; "
                  "machine busy %.0f%%" % (
                      i + 1, r["sessions_started"], r["failures"]["503"], cap[-1]["admitted"],
                      other, r["sessions_per_s"], r["session_ms"]["p50"],
                      r["session_ms"]["p99"], cpu["server_s"], cpu["pg_s"], cpu["cpesim_s"],
                      cpu["others_s"], cpu["machine_busy_pct"]))
        acsd.stop()
        return {"runs": cap, "max_sessions": a.capacity_max_sessions,
                "concurrency": a.capacity_concurrency, "503": med([c["503"] for c in cap]),
                "admitted": med([c["admitted"] for c in cap]),
                "admitted_failed": max(c["admitted_failed"] for c in cap),
                "sessions_per_s": med([c["sessions_per_s"] for c in cap])}

    def phase_f(self):
        """(f) first contact: --fc-devices new tr181 devices ("0 BOOTSTRAP" + "1 BOOT")
        against a fresh acsd with the example policies, --fc-concurrency in flight:
        time, rate, CPU per device, acsd's peak RSS."""
        a, n = self.a, self.a.fc_devices
        runs = []
        for i in range(a.repeat):
            acsd = self.acsd(a.workers, "--policies", os.path.join(ROOT, "policies"),
                             "--retry-after", "2")
            idle = proc_status_kib(acsd.pid, "VmRSS")
            la, ev0 = loadavg(), self.events_count()
            if a.statements:
                self.pg.psql("SELECT pg_stat_statements_reset()", user="postgres")
            c0 = self.meter.snap(acsd.pid)
            parts = max(a.clients, -(-a.fc_concurrency // a.client_max_in_flight))
            fl = self.fleet_of(acsd.url, n, parts, [
                "--no-loop", "--duration", str(a.fc_timeout + 30), "--periodic-interval",
                "86400"], prefix="F%d" % (i + 1), sources=True,
                concurrency=min(a.fc_concurrency, n))
            r = fl.run_until_ok(n, a.fc_timeout)
            c1 = self.meter.snap(acsd.pid)
            cpu = CpuMeter.delta(c0, c1)
            hwm = proc_status_kib(acsd.pid, "VmHWM")
            rss = proc_status_kib(acsd.pid, "VmRSS")
            ev = self.events_count() - ev0
            stmts = self.statements(n) if a.statements else None
            for st in stmts or []:
                print("bench:   %6d calls, per device: plan %5d us, exec %5d us  %s" % (
                    st["calls"], st["plan_us"], st["exec_us"], st["query"]))
            acked = fl.check_acked("(f)", ev)
            acsd.stop()
            other = {k: v for k, v in r["failures"].items() if v and k != "503"}
            t = r.get("active_s") or float("nan")
            runs.append({"devices": n, "seconds": t, "devices_per_s": n / t if t else 0,
                         "ok": r["sessions_ok"], "sessions": r["sessions_started"],
                         "503": r["http_503"], "failures": r["failures"],
                         "rpcs": r["rpcs"], "session_ms": r["session_ms"],
                         "informs_acked": acked, "event_rows": ev, "cpu": cpu,
                         "cpu_us_per_device": per_session(cpu, n),
                         "acsd_rss_idle_kib": idle, "acsd_rss_peak_kib": hwm,
                         "acsd_rss_after_kib": rss, "loadavg": la, "statements": stmts})
            print("bench: (f) first contact %d: %d new devices with the example policies in "
                  "%.1f s (%.0f devices/s, %d in flight at most, %d RPCs answered, 503 %d, "
                  "failures %s); CPU per device: acsd %.1f ms, PostgreSQL %.1f ms, cpesim %.1f "
                  "ms; acsd RSS idle %.0f MiB, peak %.0f MiB, after %.0f MiB; %d informs acked, "
                  "%d event rows" % (
                      i + 1, n, t, runs[-1]["devices_per_s"], r["max_in_flight"], r["rpcs"],
                      r["http_503"], other or "none", cpu["server_s"] * 1e3 / n,
                      cpu["pg_s"] * 1e3 / n, cpu["cpesim_s"] * 1e3 / n, idle / 1024.0,
                      hwm / 1024.0, rss / 1024.0, acked, ev))
            if r["sessions_ok"] < n or other:
                raise RuntimeError("(f): %d of %d devices done, failures %s" % (
                    r["sessions_ok"], n, other))
        return {"runs": runs, "devices": n, "concurrency": a.fc_concurrency,
                "seconds": med([x["seconds"] for x in runs]),
                "devices_per_s": med([x["devices_per_s"] for x in runs])}

    def hold(self, label, n_instances, total, workers):
        """total CWMP connections held open (sessions kept by --hold-think-ms) on
        n_instances acsd on the one PostgreSQL, for --hold-duration seconds; a probe
        fleet (known devices, no think time) measures new sessions meanwhile."""
        a = self.a
        think = a.hold_think_ms
        per_inst = -(-total // n_instances)
        extra = ["--max-sessions", str(per_inst + 1000), "--session-timeout-ms",
                 str(think + 30000), "--idle-timeout-ms", str(think + 30000),
                 "--retry-after", "5"]
        inst = [self.acsd(workers, *extra) for _ in range(n_instances)]
        try:
            time.sleep(1)
            idle = [proc_status_kib(d.pid, "VmRSS") for d in inst]
            parts = max(n_instances, -(-total // a.client_max_in_flight))
            parts = -(-parts // n_instances) * n_instances  # the same number per instance
            ev0 = self.events_count()
            # slice k goes to instance k mod n: with the same number of slices per instance,
            # each instance gets total / n_instances connections
            fl = self.fleet_of(None, total + total // 10, parts, [
                "--periodic", "--loop", "--duration", str(a.hold_duration + 30), "--think-ms",
                str(think), "--periodic-interval", "86400", "--timeout", "60"],
                prefix="H", sources=True, concurrency=total, urls=[d.url for d in inst])
            t0 = time.monotonic()
            peak_in_flight, samples = 0, []
            while time.monotonic() - t0 < a.hold_ramp_timeout:
                try:
                    st = fl.stats()
                    peak_in_flight = max(peak_in_flight, st["in_flight"])
                    if st["in_flight"] >= 0.98 * total:
                        break
                except (OSError, ValueError, KeyError):
                    pass
                if not fl.alive():
                    raise RuntimeError("%s: cpesim exited during the ramp" % label)
                time.sleep(0.2)
            ramp = time.monotonic() - t0
            probe = self.fleet_of(inst[0].url, min(a.devices, 1000), 1, [
                "--periodic", "--duration", str(a.hold_duration), "--periodic-interval",
                "86400"], concurrency=a.hold_probe_concurrency)
            t1 = time.monotonic()
            while time.monotonic() - t1 < a.hold_duration:
                try:
                    st = fl.stats()
                    peak_in_flight = max(peak_in_flight, st["in_flight"])
                    samples.append((st["in_flight"],
                                    [proc_status_kib(d.pid, "VmRSS") for d in inst]))
                except (OSError, ValueError, KeyError):
                    pass
                time.sleep(0.5)
            pr = probe.wait(60)
            r = fl.stop()
            ev = self.events_count() - ev0
            acked = Fleet.check_acked_all(label, [fl, probe], ev)
            other = {k: v for k, v in r["failures"].items() if v and k != "503"}
        finally:
            for d in inst:
                d.stop()
        held = [x for x in samples if x[0] >= 0.95 * total] or samples
        rss = [max(x[1][k] for x in held) if held else 0 for k in range(n_instances)]
        min_in = min((x[0] for x in held), default=0)
        per_conn = [(rss[k] - idle[k]) * 1024.0 / (total / n_instances) for k in range(n_instances)]
        out = {"instances": n_instances, "connections": total, "ramp_s": ramp,
               "held_min": min_in, "peak_in_flight": peak_in_flight,
               "acsd_rss_idle_kib": idle, "acsd_rss_held_kib": rss,
               "bytes_per_connection": per_conn, "sessions_ok": r["sessions_ok"],
               "sessions_failed": r["sessions_failed"], "failures": r["failures"],
               "503": r["http_503"], "informs_acked": acked, "event_rows": ev,
               "probe": {"sessions_per_s": pr["sessions_per_s"], "ok": pr["sessions_ok"],
                         "failed": pr["sessions_failed"], "session_ms": pr["session_ms"]}}
        print("bench: %s %d connections held on %d acsd (%d cpesim processes, think %d ms): "
              "ramp %.1f s, at least %d in flight while measured (peak %d); acsd RSS idle %s "
              "MiB, held %s MiB: %s bytes per connection; sessions ok %d, failed %d (%s); "
              "meanwhile new sessions (probe, %d in flight): %.0f/s, p50 %.1f ms p99 %.1f ms, "
              "failed %d; %d informs acked, %d event rows" % (
                  label, total, n_instances, parts, think, ramp, min_in, peak_in_flight,
                  "/".join("%.0f" % (x / 1024.0) for x in idle),
                  "/".join("%.0f" % (x / 1024.0) for x in rss),
                  "/".join("%.0f" % x for x in per_conn), r["sessions_ok"], r["sessions_failed"],
                  other or "no other failure than 503", a.hold_probe_concurrency,
                  pr["sessions_per_s"], pr["session_ms"]["p50"], pr["session_ms"]["p99"],
                  pr["sessions_failed"], acked, ev))
        if other:
            raise RuntimeError("%s: failures other than 503: %s" % (label, other))
        return out

    def phase_m(self):
        """(m) --hold-connections connections held on one acsd."""
        return self.hold("(m)", 1, self.a.hold_connections, self.a.workers)

    def phase_k(self):
        """(k) --instances acsd on one PostgreSQL, --instances-connections held in all."""
        return self.hold("(k)", self.a.instances, self.a.instances_connections,
                         self.a.instances_workers)


def report(a, res, keep_log):
    print()
    print("| figure (median of %d; min-max) | value |" % a.repeat)
    print("|---|---|")
    ra = res.get("a")
    if ra:
        cpu_a = {k: med([x["cpu_us_per_session"][k] for x in ra["acsd"]]) for k in
                 ra["acsd"][0]["cpu_us_per_session"]}
        cpu_f = {k: med([x["cpu_us_per_session"][k] for x in ra["floor"]]) for k in
                 ra["floor"][0]["cpu_us_per_session"]}
        print("| (a) periodic sessions/s, acsd (%d workers) + PostgreSQL (concurrency %d, %d s) "
              "| %s |" % (ra["workers"], a.concurrency, a.duration,
                          spread([x["sessions_per_s"] for x in ra["acsd"]])))
        rw = res.get("a_workers_%d" % a.also_workers)
        if rw:
            print("| (a) the same with acsd --workers %d | %s |" % (
                rw["workers"], spread([x["sessions_per_s"] for x in rw["acsd"]])))
        print("| (a) periodic sessions/s, nginx canned floor | %s |" % spread(
            [x["sessions_per_s"] for x in ra["floor"]]))
        print("| (a) ratio acsd / floor | %.2f |" % ra["ratio"])
        print("| (a) session latency p50 / p99, acsd | %.1f / %.1f ms |" % (
            med([x["session_ms"]["p50"] for x in ra["acsd"]]),
            med([x["session_ms"]["p99"] for x in ra["acsd"]])))
        print("| (a) CPU per session, acsd run: acsd / PostgreSQL / cpesim / others | %d / %d / "
              "%d / %d us (irq+softirq %d us, counted within these) |" % (
                  cpu_a["server_us"], cpu_a["pg_us"], cpu_a["cpesim_us"], cpu_a["others_us"],
                  cpu_a["softirq_us"]))
        print("| (a) CPU per session, floor run: nginx / cpesim / others | %d / %d / %d us "
              "(irq+softirq %d us, counted within these) |" % (
                  cpu_f["server_us"], cpu_f["cpesim_us"], cpu_f["others_us"],
                  cpu_f["softirq_us"]))
    rp = res.get("p")
    if rp:
        cpu_p = {k: med([x["cpu_us_per_session"][k] for x in rp["acsd"]]) for k in
                 rp["acsd"][0]["cpu_us_per_session"]}
        print("| (p) periodic sessions/s with the example policies | %s |" % spread(
            [x["sessions_per_s"] for x in rp["acsd"]]))
        print("| (p) CPU per session with them: acsd / PostgreSQL | %d / %d us |" % (
            cpu_p["server_us"], cpu_p["pg_us"]))
        if ra:
            print("| (p) PostgreSQL per session with policies / without (each phase from a "
                  "vacuumed store) | %.2f |" % (cpu_p["pg_us"] / max(1, cpu_a["pg_us"])))
            print("| vacuum each phase left, PostgreSQL CPU per session: (a) / (p) | %d / %d us |"
                  % (ra.get("vacuum_after_us", 0), rp.get("vacuum_after_us", 0)))
            print("| (p) the policies' cost per periodic session (acsd CPU, p - a) | %d us |" % (
                cpu_p["server_us"] - cpu_a["server_us"]))
            print("| (p) ratio acsd with policies / floor | %.2f |" % (
                rp["acsd_sessions_per_s"] / ra["floor_sessions_per_s"]))
    rb = res.get("b")
    if rb:
        print("| (b) boot storm, %d devices %s (1 BOOT, %d in flight at most, %s), to the last "
              "one's session | %s |" % (
                  rb["devices"], "within %g s" % rb["spread"] if rb["spread"] else "at once",
                  rb["in_flight"], "example policies" if rb["policies"] else "no policies",
                  spread([s["seconds"] for s in rb["runs"]], "%.1f s")))
        print("| (b) boot storm: 503s / sessions failed and retried | %s / %s |" % (
            spread([s["503"] for s in rb["runs"]]), spread([s["failed"] for s in rb["runs"]])))
    rc = res.get("c")
    if rc:
        print("| (c) past capacity (max-sessions %d, concurrency %d, %d s): 503s | %s |" % (
            rc["max_sessions"], rc["concurrency"], a.duration,
            spread([c["503"] for c in rc["runs"]])))
        print("| (c) sessions admitted / of which failed (worst run) | %s / %d |" % (
            spread([c["admitted"] for c in rc["runs"]]), rc["admitted_failed"]))
        print("| (c) admitted sessions/s | %s |" % spread(
            [c["sessions_per_s"] for c in rc["runs"]]))
    rf = res.get("f")
    if rf:
        x = rf["runs"]
        print("| (f) first contact, %d new devices with the example policies (%d in flight): "
              "time / devices per s | %s / %s |" % (
                  rf["devices"], rf["concurrency"], spread([r["seconds"] for r in x], "%.1f s"),
                  spread([r["devices_per_s"] for r in x])))
        print("| (f) CPU per new device: acsd / PostgreSQL | %s / %s ms |" % (
            spread([r["cpu"]["server_s"] * 1e3 / r["devices"] for r in x], "%.1f"),
            spread([r["cpu"]["pg_s"] * 1e3 / r["devices"] for r in x], "%.1f")))
        print("| (f) acsd RSS peak (idle before) | %s (%s) |" % (
            spread([r["acsd_rss_peak_kib"] / 1024.0 for r in x], "%.0f MiB"),
            spread([r["acsd_rss_idle_kib"] / 1024.0 for r in x], "%.0f MiB")))
    for key in ("m", "k"):
        h = res.get(key)
        if h:
            print("| (%s) %d connections held on %d acsd: RSS above idle per connection | %s "
                  "bytes |" % (key, h["connections"], h["instances"],
                               " / ".join("%.0f" % v for v in h["bytes_per_connection"])))
            print("| (%s) meanwhile new sessions: p50 / p99 (%.0f/s) | %.1f / %.1f ms |" % (
                key, h["probe"]["sessions_per_s"], h["probe"]["session_ms"]["p50"],
                h["probe"]["session_ms"]["p99"]))
    bench_tls.report(a, res)
    print("bench: done in %d s; load average %s at the start, %s at the end; log: %s" % (
        res["total_s"], res["machine"]["loadavg_start"], res["machine"]["loadavg_end"], keep_log))
    print(json.dumps(res))


if __name__ == "__main__":
    sys.exit(main())
