#!/usr/bin/env python3
"""acsd through PgBouncer in transaction pooling mode (stdlib only).

    python3 tests/cpesim/test_pgbouncer.py     (ACS_BIN_DIR: where acsd and cpesim are)

The store path must keep working where a server connection serves another
client between two transactions: no session state, no named prepared
statements; the plans of acs_informs() (migration 11) are kept by whichever
backend runs it. acsd (2 workers, the example policies) talks to PostgreSQL
only through a PgBouncer with 3 server connections for its 5 client ones
(pool_mode = transaction): 150 new tr181 devices bootstrap (their first
policy sessions), then 1,500 periodic sessions run, and every acknowledged
Inform must be an event row, every device stored, and the device cache must
have served warm sessions (acsd_device_cache_model_hits_total > 0) without
a version the store did not confirm (acsd_device_cache_stale_total 0: no
other writer). Then a policy generation pushed through the API is served by
both workers (their pollers read the store through PgBouncer) and a bulk
action's 50 GetParameterValues tasks go out and are done in 450 more
sessions, every Inform still stored. acsd must have found the pooler (pg-pipeline = auto: the
server's port is not the one dialled) and kept one transaction in flight per
connection: PgBouncer before 1.21 cuts pipelined transactions apart.

Exits 0 (pass), 1 (fail) or 77 (skipped: no PostgreSQL, PgBouncer or
binaries)."""
import json
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
sys.path.insert(0, HERE)
import simtest  # noqa: E402
from simtest import Fail, Proc, bin_path, check, free_port, http, run_test, wait_for  # noqa: E402

DEVICES = 150
ROOT = os.path.join(HERE, "..", "..")


def read_tree(root):
    """A policy directory as the API's {"files": {path: text}}."""
    files = {}
    for d, _, names in os.walk(root):
        for n in names:
            if n.endswith(".lua"):
                full = os.path.join(d, n)
                with open(full) as f:
                    files[os.path.relpath(full, root)] = f.read()
    return files


def pgbouncer_path():
    return shutil.which("pgbouncer") or ("/usr/sbin/pgbouncer" if os.access(
        "/usr/sbin/pgbouncer", os.X_OK) else None)


class World:
    def __init__(self, pg, tmp):
        self.pg, self.procs = pg, []
        # PgBouncer refuses to run as root: as the cluster's owner, from a
        # directory it can read
        self.dir = tempfile.mkdtemp(prefix="acs-pgb-")
        os.chmod(self.dir, 0o755)
        self.port = free_port()
        ini = os.path.join(self.dir, "pgbouncer.ini")
        with open(os.path.join(self.dir, "users.txt"), "w") as f:
            f.write('"acsd" ""\n')
        with open(ini, "w") as f:
            f.write("[databases]\nacsd = host=127.0.0.1 port=%d dbname=acsd\n"
                    "[pgbouncer]\nlisten_addr = 127.0.0.1\nlisten_port = %d\n"
                    "auth_type = trust\nauth_file = %s/users.txt\npool_mode = transaction\n"
                    "default_pool_size = 3\nmax_client_conn = 100\nunix_socket_dir =\n"
                    "logfile = %s/pgbouncer.log\npidfile = %s/pgbouncer.pid\n" % (
                        pg.port, self.port, self.dir, self.dir, self.dir))
        argv = [pgbouncer_path(), ini]
        if os.geteuid() == 0:
            pw = pwd.getpwnam("postgres")
            for name in os.listdir(self.dir):
                os.chown(os.path.join(self.dir, name), pw.pw_uid, pw.pw_gid)
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)
            argv = ["runuser", "-u", "postgres", "--"] + argv
        self.bouncer = Proc(argv)
        self.procs.append(("pgbouncer", self.bouncer))
        dsn = "hostaddr=127.0.0.1 port=%d dbname=acsd user=acsd" % self.port
        wait_for("PgBouncer", lambda: subprocess.run(
            ["psql", dsn, "-tAc", "SELECT 1"], capture_output=True).returncode == 0, 20)
        self.cwmp, self.api = free_port(), free_port()
        self.acsd = Proc([bin_path("acsd"), "--pg", dsn, "--cwmp", "127.0.0.1:%d" % self.cwmp,
                          "--api", "127.0.0.1:%d" % self.api, "--files", "off", "--workers",
                          "2", "--policies", os.path.join(ROOT, "policies")])
        self.procs.append(("acsd", self.acsd))
        self.token = simtest.create_token(dsn, "admin", "pgbouncer-test", timeout=60)
        wait_for("acsd", lambda: http("GET", "http://127.0.0.1:%d/health" % self.api)[0] == 200,
                 30)
        self.tmp = tmp

    def cpesim(self, name, *args):
        ack = os.path.join(self.tmp, name + ".ack")
        p = Proc([bin_path("cpesim"), "--acs", "http://127.0.0.1:%d/" % self.cwmp, "--quiet",
                  "--count", str(DEVICES), "--serial-prefix", "PB", "--seed", "1",
                  "--state", os.path.join(self.tmp, "fleet.state"), "--ack-log", ack,
                  "--periodic-interval", "86400"] + list(args))
        self.procs.append((name, p))
        check(p.wait(180) == 0, "%s: cpesim exited with %s" % (name, p.p.returncode))
        with open(ack) as f:
            return sum(1 for _ in f)

    def call(self, method, path, body=None):
        st, text, _ = http(method, "http://127.0.0.1:%d%s" % (self.api, path), body,
                           {"Authorization": "Bearer " + self.token})
        try:
            return st, json.loads(text) if text else None
        except ValueError:
            return st, text

    def metric(self, name):
        _, text, _ = http("GET", "http://127.0.0.1:%d/metrics" % self.api)
        for line in text.splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
        raise Fail("no %s in /metrics" % name)

    def close(self):
        for _, p in self.procs:
            p.kill()
        # runuser's child outlives runuser: stop PgBouncer by its pid file
        try:
            with open(os.path.join(self.dir, "pgbouncer.pid")) as f:
                os.kill(int(f.read().strip()), signal.SIGKILL)
        except (OSError, ValueError):
            pass
        shutil.rmtree(self.dir, ignore_errors=True)


def run(w):
    acked = w.cpesim("bootstrap", "--no-loop", "--concurrency", "50", "--duration", "120",
                     "--sessions", str(DEVICES))
    devices = int(w.pg.psql("SELECT count(*) FROM devices").strip())
    check(devices == DEVICES, "%d devices stored, want %d" % (devices, DEVICES))
    yield "%d first contacts with the example policies through PgBouncer (%d Informs acked)" % (
        DEVICES, acked)
    acked += w.cpesim("periodic", "--periodic", "--concurrency", "30", "--duration", "60",
                      "--sessions", "1500")
    # an Inform's events share its transaction's received_at; CPE requests
    # (TransferComplete...) are rows with a payload
    informs = int(w.pg.psql("SELECT count(DISTINCT (device_id, received_at)) FROM events"
                            " WHERE payload IS NULL").strip())
    check(informs == acked, "%d Informs acknowledged, %d stored" % (acked, informs))
    hits = w.metric("acsd_device_cache_model_hits_total")
    stale = w.metric("acsd_device_cache_stale_total")
    check(hits > 0, "no warm session through PgBouncer")
    check(stale == 0, "%d cached versions not confirmed with no other writer" % stale)
    check(w.acsd.alive(), "acsd exited")
    # PgBouncer 1.18 hands a server connection on at the first ReadyForQuery:
    # pipelined transactions would be cut apart, so acsd must have noticed
    # the pooler (its port is not the server's) and kept one in flight
    log = w.acsd.log()
    check("a pooler or proxy is in between" in log,
          "acsd did not find the pooler: its store connections pipeline through PgBouncer")
    yield "1,500 periodic sessions: %d Informs acknowledged = stored, %d warm from the cache, " \
          "0 stale; one transaction in flight per store connection (pooler found)" % (acked, hits)

    # a policy push through the API: every worker's poller finds the new
    # generation through PgBouncer (no LISTEN there)
    files = read_tree(os.path.join(ROOT, "policies"))
    name = sorted(n for n in files if n.startswith("provisions/"))[0]
    files[name] += "\n-- pushed through PgBouncer\n"
    st, doc = w.call("POST", "/api/v1/policies", {"files": files, "source": "pgbouncer test"})
    check(st == 201, "push: %d %r" % (st, doc))
    gen = doc["id"]
    wait_for("generation %d served by every worker" % gen, lambda: all(
        x == gen for x in w.call("GET", "/api/v1/policies")[1]["workers"]), 15)
    # a bulk action over a query; its tasks go out in the next sessions
    st, b = w.call("POST", "/api/v1/bulk", {
        "query": "serial_number ~= PB0001",
        "task": {"rpc": "GetParameterValues",
                 "args": {"ParameterNames": ["Device.DeviceInfo.UpTime"]}},
        "rate": 200})
    check(st == 201 and b["progress"]["total"] == 50, "POST bulk: %d %r" % (st, b))
    bid = b["id"]
    wait_for("the bulk action's 50 tasks", lambda: int(w.pg.psql(
        "SELECT count(*) FROM tasks WHERE bulk_id = %d" % bid).strip()) == 50, 20)
    acked += w.cpesim("tasks", "--periodic", "--concurrency", "30", "--duration", "60",
                      "--sessions", "450")
    wait_for("bulk %d done" % bid, lambda: w.call("GET", "/api/v1/bulk/%d" % bid)[1]["status"]
             == "done", 20)
    prog = w.call("GET", "/api/v1/bulk/%d" % bid)[1]["progress"]
    check(prog == {"total": 50, "pending": 0, "done": 50, "failed": 0}, "bulk: %r" % prog)
    results = int(w.pg.psql("SELECT count(*) FROM tasks WHERE bulk_id = %d AND status = 'done' "
                            "AND result::text LIKE '%%UpTime%%'" % bid).strip())
    check(results == 50, "%d of 50 bulk tasks done with the value" % results)
    informs = int(w.pg.psql("SELECT count(DISTINCT (device_id, received_at)) FROM events"
                            " WHERE payload IS NULL").strip())
    check(informs == acked, "%d Informs acknowledged, %d stored" % (acked, informs))
    check(w.acsd.alive(), "acsd exited")
    yield "policy generation %d pushed and served by both workers; a bulk action's 50 tasks " \
          "done in 450 more sessions; %d Informs acknowledged = stored" % (gen, acked)


def main():
    if not pgbouncer_path():
        print("skipped: pgbouncer not installed (apt-get install pgbouncer)")
        return 77
    return run_test(World, run, lambda w: w.procs, prefix="acs-pgbouncer-")


if __name__ == "__main__":
    sys.exit(main())
