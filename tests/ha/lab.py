#!/usr/bin/env python3
"""The failure lab (tests/ha/run.sh runs it; docs/deployment.md, "The failure lab").

Builds on loopback: etcd, two Patroni PostgreSQL nodes (synchronous mode),
HAProxy in front of Patroni's primary (check: GET /primary on Patroni's REST
API), PgBouncer (transaction pooling) on that address, Redis master + replica
+ 3 Sentinels, 3 acsd on PgBouncer, HAProxy in front of the acsd (cookie
routing on acsd's session cookie, /ready checks, no connection reuse);
cpesim (--devices, periodic load, tasks with connection requests) through
HAProxy. Then, one after the other under load, each for --window seconds:

  acsd-kill       kill -9 of acsd #1 (restarted halfway through the window)
  pg-switchover   patronictl switchover to the replica
  pg-failover     kill -9 of the primary node (Patroni and PostgreSQL; the
                  node comes back as a replica halfway through)
  redis-kill      kill -9 of the Redis master (Sentinels promote the replica;
                  the old master comes back as a replica)
  pgbouncer       PgBouncer stopped and started again
  acsd-freeze     acsd #3 stopped with SIGSTOP for --freeze seconds (past the
                  session lock's expiry), then SIGCONT

and prints a table per fault: Informs acknowledged to the CPEs and those
without a stored event (lost: must be 0), double sessions, tasks run twice
(must be 0), failed probe sessions and the time until new sessions succeed
again. Exits 0 when nothing was lost, no session was doubled and no task ran
twice, 1 otherwise, 2 when the lab could not be built.

How each figure is found:
- acked vs lost: every cpesim writes an ack log (a line per Inform whose
  InformResponse arrived); each acked (device, event code) is matched to a
  stored events row of that device and code received no later than the ack
  (every row matches one ack at most); an ack without one is lost. Acks are
  counted in the window of their time. Rows left over are "unacked": stored,
  but the CPE never got the InformResponse (it retries; no loss).
- double sessions: HAProxy logs every request with its acsd, its status, its
  client connection and the Inform's serial number; a session is an Inform
  answered 200 and the requests after it on its connection that were answered
  200 (where the session acted: an InformResponse, an RPC). Two sessions of
  one device on two acsd at once, or a session whose requests reached two
  acsd, count. A request that an instance which lost its lock answers with an
  error (its writes refused by the fence) is not a session acting.
- tasks run twice: each task is a Reboot with its own CommandKey, queued
  through one acsd's API with ?connection_request=true for a device that gets
  no other task; cpesim (--verbose) logs each RPC it receives: a device with
  two Reboot RPCs ran its task twice. Tasks still not done at the end are
  reported (not run).
- recovery: a probe starts a one-device periodic session through HAProxy
  every 0.5 s (its own devices); the time from the fault to the first of
  three probes in a row that succeeded.
"""
import argparse
import json
import os
import pwd
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import urllib.error
import urllib.request

AS_ROOT = os.geteuid() == 0
PG_USER = "postgres"
FAULTS = ["acsd-kill", "pg-switchover", "pg-failover", "redis-kill", "pgbouncer", "acsd-freeze"]


class LabError(Exception):
    pass


def log(msg):
    print("[%s] %s" % (time.strftime("%H:%M:%S"), msg), flush=True)


from ports import free_port  # noqa: E402,F401


def http(method, url, body=None, headers=None, timeout=10):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    if body is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()
    except (OSError, ValueError) as e:
        return 0, str(e)


def wait_for(what, cond, timeout):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            if cond():
                return
        except Exception:
            pass
        time.sleep(0.2)
    raise LabError("%s: not within %d s" % (what, timeout))


class Lab:
    def __init__(self, args):
        self.a = args
        self.dir = tempfile.mkdtemp(prefix="acs-halab-", dir="/tmp")
        os.chmod(self.dir, 0o755)
        self.procs = {}          # name -> Popen
        self.pg_bin = args.pg_bindir
        self.redis_support = args.redis_support
        self.proxy_support = args.proxy_support
        self.events = []         # (name, t_start, t_end) of each fault window
        self.faults = {}         # name -> {"t0":..., "note":...}
        self.probe_results = []  # (t_start, ok)
        self.tasks = []          # (task id, device id, serial, command key, api)
        self.stop = threading.Event()

    # --- processes
    def path(self, *p):
        return os.path.join(self.dir, *p)

    def mine(self, path):
        """A directory the postgres user owns (PostgreSQL, Patroni, PgBouncer run as it)."""
        os.makedirs(path, exist_ok=True)
        if AS_ROOT:
            pw = pwd.getpwnam(PG_USER)
            os.chown(path, pw.pw_uid, pw.pw_gid)
        return path

    def spawn(self, name, argv, as_pg=False, env=None):
        if as_pg and AS_ROOT:
            argv = ["runuser", "-u", PG_USER, "--"] + argv
        out = open(self.path("log", name + ".log"), "ab")
        e = {k: v for k, v in os.environ.items() if not k.startswith("ACS_")}
        e.update(env or {})
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                             env=e, start_new_session=True)
        out.close()
        self.procs[name] = p
        return p

    def kill(self, name, sig=signal.SIGKILL):
        p = self.procs.get(name)
        if p and p.poll() is None:
            try:
                os.killpg(p.pid, sig)
            except ProcessLookupError:
                pass
            if sig in (signal.SIGKILL, signal.SIGTERM):
                try:
                    p.wait(15)
                except subprocess.TimeoutExpired:
                    os.killpg(p.pid, signal.SIGKILL)
                    p.wait()

    def close(self):
        self.stop.set()
        for name in list(self.procs):
            try:
                os.killpg(self.procs[name].pid, signal.SIGCONT)
            except (ProcessLookupError, PermissionError):
                pass
        for name in reversed(list(self.procs)):
            self.kill(name, signal.SIGKILL)
        # PostgreSQL started by Patroni lives in the Patroni's process group,
        # but a postmaster whose Patroni died is reparented: stop it by its pid file
        for node in ("pg1", "pg2"):
            pidf = self.path(node, "data", "postmaster.pid")
            try:
                with open(pidf) as f:
                    os.kill(int(f.readline()), signal.SIGKILL)
            except (OSError, ValueError):
                pass
        if self.a.keep:
            log("kept %s" % self.dir)
        else:
            shutil.rmtree(self.dir, ignore_errors=True)

    # --- the store: etcd, Patroni, HAProxy (pg), PgBouncer
    def start_etcd(self):
        self.etcd_port, peer = free_port(), free_port()
        self.spawn("etcd", ["etcd", "--name", "lab", "--data-dir", self.path("etcd"),
                            "--listen-client-urls", "http://127.0.0.1:%d" % self.etcd_port,
                            "--advertise-client-urls", "http://127.0.0.1:%d" % self.etcd_port,
                            "--listen-peer-urls", "http://127.0.0.1:%d" % peer,
                            "--initial-advertise-peer-urls", "http://127.0.0.1:%d" % peer,
                            "--initial-cluster", "lab=http://127.0.0.1:%d" % peer,
                            "--listen-metrics-urls", "http://127.0.0.1:%d" % free_port()])
        wait_for("etcd", lambda: http("GET", "http://127.0.0.1:%d/health" %
                                      self.etcd_port)[0] == 200, 30)

    def patroni_conf(self, node):
        d = self.mine(self.path(node))
        boot = self.path(node, "post-bootstrap.sh")
        with open(boot, "w") as f:
            f.write("#!/bin/sh\nset -e\npsql -X -q -v ON_ERROR_STOP=1 \"$1\" <<'SQL'\n"
                    "CREATE ROLE acsd LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE;\n"
                    "CREATE DATABASE acsd OWNER acsd;\nSQL\n")
        os.chmod(boot, 0o755)
        conf = {
            "scope": "acslab", "namespace": "/acslab/", "name": node,
            "restapi": {"listen": "127.0.0.1:%d" % self.rest[node],
                        "connect_address": "127.0.0.1:%d" % self.rest[node]},
            "etcd3": {"hosts": "127.0.0.1:%d" % self.etcd_port},
            "bootstrap": {
                "dcs": {"ttl": 20, "loop_wait": 2, "retry_timeout": 5,
                        "maximum_lag_on_failover": 1048576, "synchronous_mode": True,
                        "postgresql": {"use_pg_rewind": True, "parameters": {
                            "wal_log_hints": "on", "max_wal_senders": 10,
                            "max_replication_slots": 10, "wal_keep_size": "256MB",
                            "synchronous_commit": "on", "max_connections": 100}}},
                "initdb": [{"encoding": "UTF8"}, {"locale": "C"}],
                "pg_hba": ["local all all trust", "host all all 127.0.0.1/32 trust",
                           "host replication all 127.0.0.1/32 trust"],
                "post_bootstrap": boot,
            },
            "postgresql": {
                "listen": "127.0.0.1:%d" % self.pgport[node],
                "connect_address": "127.0.0.1:%d" % self.pgport[node],
                "data_dir": self.path(node, "data"), "bin_dir": self.pg_bin,
                "pgpass": self.path(node, "pgpass"),
                "basebackup": [{"checkpoint": "fast"}],
                "authentication": {"superuser": {"username": "postgres"},
                                   "replication": {"username": "postgres"},
                                   "rewind": {"username": "postgres"}},
                "parameters": {"unix_socket_directories": d, "shared_buffers": "128MB",
                               "logging_collector": "off"},
            },
        }
        path = self.path(node, "patroni.yml")
        with open(path, "w") as f:
            json.dump(conf, f, indent=1)  # JSON is YAML
        for p in (boot, path):
            self.mine(d)
            if AS_ROOT:
                pw = pwd.getpwnam(PG_USER)
                os.chown(p, pw.pw_uid, pw.pw_gid)
        return path

    def start_patroni(self, node):
        self.spawn("patroni-" + node, ["patroni", self.path(node, "patroni.yml")], as_pg=True)

    def role(self, node):
        st, body = http("GET", "http://127.0.0.1:%d/patroni" % self.rest[node], timeout=2)
        if st == 0:
            return None
        try:
            return json.loads(body).get("role")
        except ValueError:
            return None

    def leader(self):
        for n in ("pg1", "pg2"):
            if http("GET", "http://127.0.0.1:%d/primary" % self.rest[n], timeout=2)[0] == 200:
                return n
        return None

    def start_store(self):
        self.rest = {"pg1": free_port(), "pg2": free_port()}
        self.pgport = {"pg1": free_port(), "pg2": free_port()}
        for n in ("pg1", "pg2"):
            self.patroni_conf(n)
        self.start_patroni("pg1")
        wait_for("Patroni pg1 primary", lambda: self.leader() == "pg1", 90)
        self.start_patroni("pg2")
        wait_for("Patroni pg2 replica streaming", lambda: self.sync_standby() == "pg2", 120)

    def sync_standby(self):
        st, body = http("GET", "http://127.0.0.1:%d/cluster" % self.rest["pg1"], timeout=2)
        if st != 200:
            st, body = http("GET", "http://127.0.0.1:%d/cluster" % self.rest["pg2"], timeout=2)
        for m in json.loads(body).get("members", []):
            if m.get("role") in ("sync_standby",) and m.get("state") in ("streaming", "running"):
                return m["name"]
        return None

    def haproxy_conf(self):
        self.pg_front = free_port()
        self.cwmp_front = free_port()
        self.haproxy_stats = free_port()
        proxy = " send-proxy-v2" if self.proxy_support else ""
        acsd_lines = "".join(
            "    server acsd%d 127.0.0.1:%d cookie acsd%d check port %d%s\n" % (
                i + 1, a["cwmp"], i + 1, a["api"], proxy) for i, a in enumerate(self.acsd))
        conf = """# the lab's HAProxy: PostgreSQL's primary (Patroni) and CWMP (3 acsd)
global
    maxconn 9000
    log stdout format raw local0 info

defaults
    timeout connect 3s
    timeout client 60s
    timeout server 60s
    timeout check 2s

listen pg_primary
    mode tcp
    bind 127.0.0.1:%(pg)d
    option httpchk GET /primary
    http-check expect status 200
    default-server inter 1s fall 2 rise 1 on-marked-down shutdown-sessions
    server pg1 127.0.0.1:%(p1)d check port %(r1)d
    server pg2 127.0.0.1:%(p2)d check port %(r2)d

frontend cwmp
    mode http
    log global
    bind 127.0.0.1:%(cwmp)d
    option http-buffer-request
    declare capture request len 40
    declare capture request len 120
    declare capture response len 120
    http-request capture 'req.body,regsub("(?s)^.*?<SerialNumber>([^<]*)</SerialNumber>.*$","\\1")' id 0 if { req.body -m sub <SerialNumber> }
    http-request capture req.hdr(Cookie) id 1
    http-response capture res.hdr(Set-Cookie) id 0
    log-format "LAB %%tr %%ci:%%cp %%s %%ST %%Ta %%Tt [%%[capture.req.hdr(0)]] [%%[capture.req.hdr(1)]] [%%[capture.res.hdr(0)]]"
    default_backend acsd

backend acsd
    mode http
    balance roundrobin
    http-reuse never
    option httpchk GET /ready
    http-check expect status 200
    cookie acsd_session prefix nocache
    # a session's requests stay with their acsd while it is not ready (store
    # down: it lets running sessions finish); one that is gone: elsewhere
    option persist
    option redispatch
    default-server inter 1s fall 2 rise 2
%(acsd)s
listen stats
    mode http
    bind 127.0.0.1:%(stats)d
    stats enable
    stats uri /
""" % {"pg": self.pg_front, "p1": self.pgport["pg1"], "p2": self.pgport["pg2"],
       "r1": self.rest["pg1"], "r2": self.rest["pg2"], "cwmp": self.cwmp_front,
       "acsd": acsd_lines, "stats": self.haproxy_stats}
        path = self.path("haproxy.cfg")
        with open(path, "w") as f:
            f.write(conf)
        chk = subprocess.run(["haproxy", "-c", "-f", path], capture_output=True, text=True)
        if chk.returncode != 0:
            raise LabError("haproxy -c: %s" % chk.stdout + chk.stderr)
        return path

    def start_pgbouncer(self):
        d = self.mine(self.path("pgbouncer"))
        if not hasattr(self, "bouncer_port"):
            self.bouncer_port = free_port()
            with open(os.path.join(d, "users.txt"), "w") as f:
                f.write('"acsd" ""\n')
            with open(os.path.join(d, "pgbouncer.ini"), "w") as f:
                f.write("[databases]\nacsd = host=127.0.0.1 port=%d dbname=acsd\n"
                        "[pgbouncer]\nlisten_addr = 127.0.0.1\nlisten_port = %d\n"
                        "auth_type = trust\nauth_file = %s/users.txt\npool_mode = transaction\n"
                        "default_pool_size = 8\nmax_client_conn = 200\nunix_socket_dir =\n"
                        "server_connect_timeout = 3\nserver_login_retry = 1\n"
                        "query_wait_timeout = 30\nserver_check_delay = 5\n"
                        "logfile = %s/pgbouncer.log\npidfile = %s/pgbouncer.pid\n" % (
                            self.pg_front, self.bouncer_port, d, d, d))
            for n in os.listdir(d):
                self.mine(os.path.join(d, n)) if os.path.isdir(os.path.join(d, n)) else \
                    (os.chown(os.path.join(d, n), *self._pg_ids()) if AS_ROOT else None)
        self.spawn("pgbouncer", ["pgbouncer", os.path.join(d, "pgbouncer.ini")], as_pg=True)
        wait_for("PgBouncer", lambda: self.psql_bouncer("SELECT 1") == "1", 30)

    def _pg_ids(self):
        pw = pwd.getpwnam(PG_USER)
        return pw.pw_uid, pw.pw_gid

    def stop_pgbouncer(self):
        self.kill("pgbouncer", signal.SIGTERM)
        # runuser's child can outlive runuser: by its pid file too
        try:
            with open(self.path("pgbouncer", "pgbouncer.pid")) as f:
                os.kill(int(f.read().strip()), signal.SIGKILL)
        except (OSError, ValueError):
            pass

    def psql(self, port, sql, user="acsd", db="acsd", timeout=60):
        p = subprocess.run([os.path.join(self.pg_bin, "psql"), "-X", "-At", "-h", "127.0.0.1",
                            "-p", str(port), "-U", user, "-d", db, "-c", sql],
                           capture_output=True, text=True, timeout=timeout)
        if p.returncode != 0:
            raise LabError("psql: %s" % p.stderr.strip())
        return p.stdout.strip()

    def psql_bouncer(self, sql):
        return self.psql(self.bouncer_port, sql)

    # --- Redis and Sentinels
    def start_redis(self):
        self.redis_ports = {"redis-a": free_port(), "redis-b": free_port()}
        for name, port in self.redis_ports.items():
            self.start_redis_node(name, port, None if name == "redis-a" else self.redis_ports["redis-a"])
        self.sentinel_ports = []
        for i in range(3):
            port = free_port()
            conf = self.path("sentinel%d.conf" % i)
            with open(conf, "w") as f:
                f.write("port %d\nbind 127.0.0.1\ndir %s\nsentinel monitor acslab 127.0.0.1 %d 2\n"
                        "sentinel down-after-milliseconds acslab 2000\n"
                        "sentinel failover-timeout acslab 10000\n" % (
                            port, self.dir, self.redis_ports["redis-a"]))
            self.spawn("sentinel%d" % i, ["redis-sentinel", conf])
            self.sentinel_ports.append(port)
        wait_for("Sentinels see the master", lambda: all(
            self.sentinel_master(p) == self.redis_ports["redis-a"] for p in self.sentinel_ports), 30)

    def start_redis_node(self, name, port, master):
        argv = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                "--appendonly", "no", "--dir", self.dir, "--dbfilename", name + ".rdb"]
        if master:
            argv += ["--replicaof", "127.0.0.1", str(master)]
        self.spawn(name, argv)
        wait_for(name, lambda: self.redis_cli(port, "PING") == "PONG", 20)

    def redis_cli(self, port, *cmd):
        p = subprocess.run(["redis-cli", "-h", "127.0.0.1", "-p", str(port)] + list(cmd),
                           capture_output=True, text=True, timeout=5)
        return p.stdout.strip()

    def sentinel_master(self, port):
        out = self.redis_cli(port, "SENTINEL", "get-master-addr-by-name", "acslab").split()
        return int(out[1]) if len(out) == 2 else None

    # --- acsd
    def acsd_argv(self, a):
        argv = [self.a.acsd, "--pg", "hostaddr=127.0.0.1 port=%d dbname=acsd user=acsd" %
                self.bouncer_port, "--cwmp", "127.0.0.1:%d" % a["cwmp"], "--api",
                "127.0.0.1:%d" % a["api"], "--files", "off", "--workers", str(self.a.workers),
                "--instance-id", a["id"], "--connreq-username", "cr", "--connreq-password",
                "cpesim", "--log-format", "json", "--store-wait", "300"]
        if self.redis_support:
            argv += ["--redis-sentinels", ",".join("127.0.0.1:%d" % p for p in self.sentinel_ports),
                     "--redis-master", "acslab", "--redis-lock-ms", str(self.a.lock_ms)]
        if self.proxy_support:
            argv += ["--proxy-protocol", "on"]
        return argv

    def start_acsd(self, i):
        a = self.acsd[i]
        self.spawn(a["id"], self.acsd_argv(a))
        wait_for(a["id"] + " /ready", lambda: http("GET", "http://127.0.0.1:%d/ready" %
                                                  a["api"], timeout=2)[0] == 200, 120)

    def servers_up(self):
        st, text = http("GET", "http://127.0.0.1:%d/;csv" % self.haproxy_stats, timeout=2)
        return sum(1 for ln in text.splitlines() if ln.startswith("acsd,acsd") and
                   ln.split(",")[17] == "UP") if st == 200 else 0

    # --- cpesim
    def cpesim(self, name, args, verbose=False):
        argv = [self.a.cpesim, "--acs", "http://127.0.0.1:%d/" % self.cwmp_front,
                "--set", "Device.ManagementServer.ConnectionRequestUsername=cr",
                "--periodic-interval", "86400"] + args
        argv.append("--verbose" if verbose else "--quiet")
        return self.spawn(name, argv)

    def summary(self, name):
        with open(self.path("log", name + ".log"), errors="replace") as f:
            lines = [ln for ln in f.read().splitlines() if ln.startswith("{")]
        return json.loads(lines[-1]) if lines else None

    # --- the probe: one-device sessions every 0.5 s
    def probe_loop(self):
        n = self.a.probe_devices
        i = 0
        while not self.stop.is_set():
            k = i % n
            i += 1
            t = time.time()
            p = subprocess.run([self.a.cpesim, "--acs", "http://127.0.0.1:%d/" % self.cwmp_front,
                                "--count", "1", "--first", str(k), "--serial-prefix", "LABP",
                                "--state", self.path("probe%d.state" % k), "--periodic",
                                "--no-loop", "--sessions", "1", "--timeout", "4",
                                "--periodic-interval", "86400", "--quiet", "--ack-log",
                                self.path("probe.ack")],
                               capture_output=True, text=True)
            ok = False
            for line in p.stdout.splitlines()[::-1]:
                if line.startswith("{"):
                    ok = json.loads(line).get("sessions_ok") == 1
                    break
            self.probe_results.append((t, ok))
            self.stop.wait(max(0.0, 0.5 - (time.time() - t)))

    # --- tasks: a Reboot with a connection request, each for its own device
    def task_loop(self, token):
        rng = random.Random(self.a.seed)
        free = list(range(self.a.devices))
        rng.shuffle(free)
        n = 0
        while not self.stop.is_set() and free:
            dev = free.pop()
            serial = "LAB%06d" % dev
            dev_id = "02CAFE-HG181-" + serial
            api = self.acsd[n % len(self.acsd)]["api"]
            n += 1
            key = "lab-%d" % n
            st, body = http("POST", "http://127.0.0.1:%d/api/v1/devices/%s/tasks?"
                            "connection_request=true&timeout=15" % (api, dev_id),
                            {"rpc": "Reboot", "args": {"CommandKey": key}},
                            {"Authorization": "Bearer " + token}, timeout=20)
            if st in (200, 201, 202):
                self.tasks.append((json.loads(body)["id"], dev_id, serial, key))
            self.stop.wait(self.a.task_interval)

    # --- the faults
    def fault(self, name):
        w = self.a.window
        half = w / 2
        t0 = time.time()
        note = ""
        if name == "acsd-kill":
            self.kill("acsd1")
            note = "acsd1 killed; restarted after %.0f s" % half
            time.sleep(half)
            self.start_acsd(0)
        elif name == "pg-switchover":
            old = self.leader()
            new = "pg2" if old == "pg1" else "pg1"
            p = subprocess.run(["patronictl", "-c", self.path(old, "patroni.yml"), "switchover",
                                "--candidate", new, "--force"], capture_output=True, text=True,
                               timeout=60, **self._as_pg_kw())
            said = [ln for ln in p.stdout.splitlines() if "switch" in ln.lower()]
            note = "%s -> %s (%s)" % (old, new, said[-1].strip() if said else "patronictl: %d" % p.returncode)
            wait_for("switchover", lambda: self.leader() == new, 60)
        elif name == "pg-failover":
            old = self.leader()
            new = "pg2" if old == "pg1" else "pg1"
            pidf = self.path(old, "data", "postmaster.pid")
            with open(pidf) as f:
                pm = int(f.readline())
            self.kill("patroni-" + old)
            os.kill(pm, signal.SIGKILL)
            wait_for("failover to %s" % new, lambda: self.leader() == new, 90)
            note = "%s (Patroni + postmaster) killed; %s leader after %.1f s" % (
                old, new, time.time() - t0)
            rest = half - (time.time() - t0)
            if rest > 0:
                time.sleep(rest)
            self.start_patroni(old)
            note += "; %s back" % old
        elif name == "redis-kill":
            master = None
            for p in self.sentinel_ports:
                master = self.sentinel_master(p)
                if master:
                    break
            victim = next(n for n, p in self.redis_ports.items() if p == master)
            self.kill(victim)
            other = next(p for n, p in self.redis_ports.items() if n != victim)
            try:
                wait_for("Sentinels promote the replica", lambda: self.sentinel_master(
                    self.sentinel_ports[0]) == other, 40)
                note = "%s killed; Sentinels promoted the replica after %.1f s" % (
                    victim, time.time() - t0)
            except LabError as e:
                note = "%s killed; %s" % (victim, e)
            self.start_redis_node(victim, self.redis_ports[victim], other)
            if not self.redis_support:
                note += " (acsd without Redis support: not used)"
        elif name == "pgbouncer":
            self.stop_pgbouncer()
            time.sleep(1)
            self.start_pgbouncer()
            note = "stopped, started again after %.1f s" % (time.time() - t0)
        elif name == "acsd-freeze":
            p = self.procs["acsd3"]
            os.killpg(p.pid, signal.SIGSTOP)
            time.sleep(self.a.freeze)
            os.killpg(p.pid, signal.SIGCONT)
            note = "acsd3 stopped %.0f s (%s), then resumed" % (
                self.a.freeze, "lock %d ms" % self.a.lock_ms if self.redis_support else
                "no Redis lock in this acsd")
        self.faults[name] = {"t0": t0, "note": note}
        rest = w - (time.time() - t0)
        if rest > 0:
            time.sleep(rest)

    def _as_pg_kw(self):
        if AS_ROOT:
            pw = pwd.getpwnam(PG_USER)
            return {"user": pw.pw_uid, "group": pw.pw_gid, "cwd": self.dir}
        return {}

    # --- analysis
    def acks(self):
        out = []
        for name in sorted(os.listdir(self.path())):
            if name.endswith(".ack"):
                with open(self.path(name), errors="replace") as f:
                    for line in f:
                        parts = line.rstrip("\n").split("\t")
                        if len(parts) >= 4:
                            out.append((int(parts[0]) / 1000.0, parts[2], parts[3].split(",")))
        return out

    def lost(self, acks):
        """The acks (t, device, code) without a stored event row to match."""
        rows = {}
        text = self.psql(self.pg_front, "COPY (SELECT device_id, code, "
                         "extract(epoch FROM received_at) FROM events) TO STDOUT", timeout=300)
        for line in text.splitlines():
            dev, code, t = line.split("\t")
            rows.setdefault((dev, code), []).append(float(t))
        wanted = {}
        for t, dev, codes in acks:
            for c in codes:
                wanted.setdefault((dev, c.split("/")[0]), []).append(t)
        lost, unacked = [], []
        for k in set(wanted) | set(rows):
            have = sorted(rows.get(k, []))
            j = 0
            for t in sorted(wanted.get(k, [])):
                # the earliest unmatched row stored no later than the ack (+ 1 s of clock)
                if j < len(have) and have[j] <= t + 1.0:
                    j += 1
                else:
                    lost.append((t, k[0], k[1]))
            # stored, never acknowledged: the InformResponse did not reach the CPE
            unacked += [(t, k[0], k[1]) for t in have[j:]]
        return lost, unacked

    def sessions(self):
        """HAProxy's log as sessions: (device serial, server, t_start, t_end, servers)."""
        # %tr: the request's start, local time with milliseconds; %Ta: its
        # active time (to the response's last byte, no keep-alive idle)
        pat = re.compile(r"^LAB (\d+/\w+/\d+:\d+:\d+:\d+)\.(\d+) (\S+) (\S+) (-?\d+) (-?\d+) "
                         r"(-?\d+) \[([^\]]*)\] \[([^\]]*)\] \[([^\]]*)\]")
        open_by_conn = {}
        done = []
        with open(self.path("log", "haproxy.log"), errors="replace") as f:
            for line in f:
                m = pat.match(line)
                if not m:
                    continue
                t = time.mktime(time.strptime(m.group(1), "%d/%b/%Y:%H:%M:%S")) + \
                    int(m.group(2)) / 1000.0
                conn, srv, status = m.group(3), m.group(4), int(m.group(5))
                end = t + max(0, int(m.group(6))) / 1000.0
                serial = m.group(8).strip()
                cur = open_by_conn.get(conn)
                if serial and serial != "-":
                    if cur:
                        done.append(cur)
                    # an Inform not answered 200 (503, refused by the fence,
                    # the connection lost) began no session; one answered
                    # 200 began it when the answer went out (t + Ta), not
                    # when the request came: an Inform that waited in a
                    # frozen instance's socket is taken (its lock too) only
                    # once the instance runs again, after the CPE gave up
                    # and had its next session elsewhere
                    cur = {"dev": serial, "start": end, "end": end, "servers": {srv}} \
                        if status == 200 else None
                    open_by_conn[conn] = cur
                elif cur and status == 200:
                    # a session acts where it answers 200 (the next RPC): a
                    # request refused or failed there (an instance that lost
                    # its lock and was fenced) does not extend it
                    cur["end"] = max(cur["end"], end)
                    cur["servers"].add(srv)
        done += [c for c in open_by_conn.values() if c]
        return done

    def doubles(self, sessions):
        """(time, serial, why) of each double session."""
        out = []
        by_dev = {}
        for s in sessions:
            s["servers"] = {x for x in s["servers"] if x.startswith("acsd")}  # not <NOSRV>
            if len(s["servers"]) > 1:
                out.append((s["start"], s["dev"], "one session on %s" % ",".join(
                    sorted(s["servers"]))))
            by_dev.setdefault(s["dev"], []).append(s)
        for dev, ss in by_dev.items():
            ss = sorted((s for s in ss if s["servers"]), key=lambda s: s["start"])
            for a, b in zip(ss, ss[1:]):
                if b["start"] < a["end"] - 0.001 and a["servers"] != b["servers"]:
                    out.append((b["start"], dev, "overlapping sessions on %s and %s" % (
                        ",".join(sorted(a["servers"])), ",".join(sorted(b["servers"])))))
        return out

    def reboots(self):
        """serial -> number of Reboot RPCs the device received."""
        n = {}
        pat = re.compile(r"^(\S+): rpc Reboot\b")
        for name in os.listdir(self.path("log")):
            if name.startswith("load"):
                with open(self.path("log", name), errors="replace") as f:
                    for line in f:
                        m = pat.match(line)
                        if m:
                            n[m.group(1)] = n.get(m.group(1), 0) + 1
        return n

    def task_statuses(self):
        """task id -> status, for the lab's tasks (one query)."""
        if not self.tasks:
            return {}
        ids = ",".join(str(t[0]) for t in self.tasks)
        out = self.psql(self.pg_front, "SELECT id, status FROM tasks WHERE id IN (%s)" % ids)
        return {int(i): st for i, st in (ln.split("|") for ln in out.splitlines() if ln)}

    def recovery(self, t0, t1):
        """Seconds from t0 to the first of 3 successful probes in a row (None: never
        within [t0, t1]), and the failed probes in the window."""
        pr = [(t, ok) for t, ok in self.probe_results if t0 <= t < t1]
        failed = sum(1 for _, ok in pr if not ok)
        for i in range(len(pr) - 2):
            if pr[i][1] and pr[i + 1][1] and pr[i + 2][1]:
                return pr[i][0] - t0, failed, len(pr)
        return None, failed, len(pr)


def fmt_s(x):
    return "-" if x is None else "%.1f s" % x


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--devices", type=int, default=10000)
    ap.add_argument("--window", type=float, default=60, help="seconds per fault (default 60)")
    ap.add_argument("--baseline", type=float, default=20)
    ap.add_argument("--freeze", type=float, default=20, help="SIGSTOP seconds (default 20)")
    ap.add_argument("--lock-ms", type=int, default=10000)
    ap.add_argument("--rate", type=float, default=200, help="cpesim sessions/s (default 200)")
    ap.add_argument("--concurrency", type=int, default=100)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--task-interval", type=float, default=0.5)
    ap.add_argument("--probe-devices", type=int, default=20)
    ap.add_argument("--faults", default=",".join(FAULTS))
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--keep", action="store_true", help="keep the lab's directory")
    ap.add_argument("--acsd", required=True)
    ap.add_argument("--cpesim", required=True)
    ap.add_argument("--pg-bindir", required=True)
    ap.add_argument("--redis-support", action="store_true")
    ap.add_argument("--proxy-support", action="store_true")
    a = ap.parse_args()
    faults = [f for f in a.faults.split(",") if f]
    bad = [f for f in faults if f not in FAULTS]
    if bad:
        ap.error("unknown fault %s (known: %s)" % (", ".join(bad), ", ".join(FAULTS)))
    planned = a.baseline + a.window * len(faults) + 10
    if planned > 14.5 * 60 - 240:  # set-up, the fleet's boot and the report need ~4 minutes
        ap.error("%d faults x %.0f s + %.0f s baseline do not fit in 15 minutes" % (
            len(faults), a.window, a.baseline))
    if a.freeze >= a.window:
        ap.error("--freeze must be shorter than --window")
    deadline = time.monotonic() + 14.5 * 60
    lab = Lab(a)
    os.makedirs(lab.path("log"))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(3))
    rc = 2
    try:
        log("lab in %s; acsd %s Redis, %s PROXY protocol" % (
            lab.dir, "with" if a.redis_support else "WITHOUT (acsd --help has no redis-sentinels: "
            "it runs without Redis, Redis and Sentinels run and fail anyway)",
            "with" if a.proxy_support else "without"))
        lab.start_etcd()
        log("etcd up; Patroni bootstraps pg1, then pg2 clones it")
        lab.start_store()
        lab.acsd = [{"id": "acsd%d" % (i + 1), "cwmp": free_port(), "api": free_port()}
                    for i in range(3)]
        hp = lab.spawn("haproxy", ["haproxy", "-W", "-db", "-f", lab.haproxy_conf()])
        wait_for("HAProxy", lambda: hp.poll() is None and http(
            "GET", "http://127.0.0.1:%d/" % lab.haproxy_stats, timeout=2)[0] == 200, 20)
        lab.start_pgbouncer()
        log("Patroni pg1 primary, pg2 sync standby; HAProxy and PgBouncer up")
        lab.start_redis()
        log("Redis master + replica, 3 Sentinels up")
        for i in range(3):
            lab.start_acsd(i)
        wait_for("HAProxy sees 3 acsd up", lambda: lab.servers_up() == 3, 30)
        log("3 acsd ready on PgBouncer, up in HAProxy")
        tok = subprocess.run([a.acsd, "token", "create", "--role", "operator", "--name", "lab",
                              "--pg", "hostaddr=127.0.0.1 port=%d dbname=acsd user=acsd" %
                              lab.bouncer_port], capture_output=True, text=True, check=True)
        token = tok.stdout.strip()
        # the fleet's first contacts, then the probe devices'
        t = time.time()
        lab.cpesim("boot", ["--count", str(a.devices), "--serial-prefix", "LAB", "--seed", "1",
                            "--state", lab.path("fleet.state"), "--no-loop", "--sessions",
                            str(a.devices), "--concurrency",
                            str(a.concurrency), "--duration", "300", "--ack-log",
                            lab.path("boot.ack")]).wait(320)
        s = lab.summary("boot")
        if not s or s["sessions_ok"] < a.devices:
            raise LabError("bootstrap: %s" % s)
        lab.cpesim("boot-probe", ["--count", str(a.probe_devices), "--serial-prefix", "LABP",
                                  "--no-loop", "--sessions", str(a.probe_devices), "--duration", "60", "--state",
                                  lab.path("probe-boot.state"), "--ack-log",
                                  lab.path("probe.ack")]).wait(70)
        for k in range(a.probe_devices):
            shutil.copy(lab.path("probe-boot.state"), lab.path("probe%d.state" % k))
        log("%d devices booted in %.0f s" % (a.devices, time.time() - t))
        budget = deadline - time.monotonic() - 90
        total = a.baseline + a.window * len(faults) + 10
        if total > budget:
            raise LabError("%d faults x %.0f s do not fit the 15 minutes (%.0f s left)" % (
                len(faults), a.window, budget))
        # the load: periodic sessions in loop mode, then tasks and probes
        load = lab.cpesim("load", ["--count", str(a.devices), "--serial-prefix", "LAB",
                                   "--seed", "1", "--state", lab.path("fleet.state"),
                                   "--periodic", "--rate", str(a.rate), "--concurrency",
                                   str(a.concurrency), "--duration", str(total), "--timeout", "10",
                                   "--reboot-ms", "500", "--ack-log", lab.path("load.ack")],
                          verbose=True)
        threads = [threading.Thread(target=lab.probe_loop, daemon=True),
                   threading.Thread(target=lab.task_loop, args=(token,), daemon=True)]
        for th in threads:
            th.start()
        time.sleep(a.baseline)
        lab.events.append(("baseline", time.time() - a.baseline, time.time()))
        for f in faults:
            log("fault: %s" % f)
            t0 = time.time()
            lab.fault(f)
            lab.events.append((f, t0, time.time()))
            log("  %s" % lab.faults[f]["note"])
        lab.stop.set()
        for th in threads:
            th.join(30)
        load.wait(max(30, total))
        # tasks still pending get their chance in one more periodic round
        st = lab.task_statuses()
        pend = [tk for tk in lab.tasks if st.get(tk[0]) in ("pending", "sent")]
        if pend:
            log("%d tasks not done yet: one more session for their devices" % len(pend))
            for tk in pend:
                n = int(tk[2][3:])
                state = lab.path("final-%d.state" % n)  # cpesim saves only its own devices
                shutil.copy(lab.path("fleet.state"), state)
                lab.cpesim("load-final-%d" % n, ["--count", "1", "--first", str(n),
                                                 "--serial-prefix", "LAB", "--state",
                                                 state, "--periodic",
                                                 "--no-loop", "--sessions", "1", "--ack-log",
                                                 lab.path("final.ack")], verbose=True).wait(60)
        rc = report(lab)
    except LabError as e:
        log("the lab could not run: %s" % e)
        log("logs: %s/log (kept)" % lab.dir)
        a.keep = True
    finally:
        lab.close()
    return rc


def report(lab):
    acks = lab.acks()
    lost, unacked = lab.lost(acks)
    sessions = lab.sessions()
    doubles = lab.doubles(sessions)
    reboots = lab.reboots()
    statuses = lab.task_statuses()
    print()
    print("%-14s %8s %6s %8s %7s %11s %6s %9s %10s  %s" % (
        "window", "acked", "lost", "unacked", "double", "tasks", "twice", "probes", "recovery",
        "what"))
    total_lost = total_double = total_twice = 0
    for name, t0, t1 in lab.events:
        acked = sum(len(c) for t, _, c in acks if t0 <= t < t1)
        nl = sum(1 for t, _, _ in lost if t0 <= t < t1)
        nu = sum(1 for t, _, _ in unacked if t0 <= t < t1)
        nd = sum(1 for t, _, _ in doubles if t0 <= t < t1)
        tk = [x for x in lab.tasks if t0 <= lab_task_time(lab, x) < t1]
        done = sum(1 for x in tk if statuses.get(x[0]) == "done")
        twice = sum(1 for x in tk if reboots.get(x[2], 0) > 1)
        rec, failed, probes = lab.recovery(t0, t1)
        total_lost += nl
        total_double += nd
        total_twice += twice
        print("%-14s %8d %6d %8d %7d %5d/%-5d %6d %4d/%-4d %10s  %s" % (
            name, acked, nl, nu, nd, done, len(tk), twice, failed, probes,
            fmt_s(rec) if name != "baseline" else "", lab.faults.get(name, {}).get("note", "")))
    stray = sum(1 for s, n in reboots.items() if n and s not in {x[2] for x in lab.tasks})
    print()
    print("acked (device, event) pairs: %d, lost: %d; sessions seen by HAProxy: %d, double: %d; "
          "tasks: %d, done: %d, run twice: %d, not done: %d; Reboots without a task: %d" % (
              sum(len(c) for _, _, c in acks), len(lost), len(sessions), len(doubles),
              len(lab.tasks), sum(1 for v in statuses.values() if v == "done"), total_twice,
              sum(1 for v in statuses.values() if v != "done"), stray))
    print("columns: acked = Informs' events acknowledged to the CPEs; lost = acknowledged but "
          "not stored; unacked = stored, the CPE never got the InformResponse; double = double sessions; tasks = done/queued; twice = run twice; "
          "probes = failed/started probe sessions; recovery = fault to 3 good probes in a row")
    s = lab.summary("load")
    if s:
        print("load: %d sessions ok, %d failed (%s), %.0f sessions/s" % (
            s["sessions_ok"], s["sessions_failed"], json.dumps(s.get("failures", {})),
            s["sessions_per_s"]))
    for t, dev, why in doubles[:10]:
        print("double: %s %s %s" % (time.strftime("%H:%M:%S", time.localtime(t)), dev, why))
    for t, dev, code in lost[:10]:
        print("lost: %s %s %s" % (time.strftime("%H:%M:%S", time.localtime(t)), dev, code))
    ok = total_lost == 0 and total_double == 0 and total_twice == 0 and stray == 0
    print("lab: %s" % ("PASS" if ok else "FAIL"))
    return 0 if ok else 1


def lab_task_time(lab, task):
    if not hasattr(lab, "_task_times"):
        lab._task_times = {}
        rows = lab.psql(lab.pg_front, "SELECT id, extract(epoch FROM created_at) FROM tasks")
        for line in rows.splitlines():
            i, t = line.split("|")
            lab._task_times[int(i)] = float(t)
    return lab._task_times.get(task[0], 0)


if __name__ == "__main__":
    sys.exit(main())
