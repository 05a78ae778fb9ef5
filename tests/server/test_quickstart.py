#!/usr/bin/env python3
"""deploy/quickstart.sh from a clone the postgres user cannot enter.

Regression: a clone in /root (mode 700) stopped at `initdb: error: could
not access directory ".../var/pg/data": Permission denied`, because the
private cluster runs as the postgres user. Here the clone lives in a mode
700 directory under /tmp, which the postgres user cannot enter either (the
test checks that first); the quickstart (with --acsd: the binary under
test, no build) must start its private PostgreSQL elsewhere
(/var/lib/acsd-quickstart/NAME-HASH, named by ./var/pg/location), create
the admin token, serve the example policies, stop PostgreSQL with acsd, and
find the same cluster on its second run. CPE authentication is on there:
cpesim devices with the quickstart's factory key (./var/cpe-factory.key)
come in, the example policies give them their own password, their next
sessions use it; devices without credentials are refused. Needs root and
PostgreSQL (exit 77 otherwise)."""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "lib"))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
import pgtest  # noqa: E402
from acstest import Fail, acsd_path, check, clean_env, free_port, request, run_tests  # noqa: E402

SOURCE = os.environ.get("ACS_SOURCE_DIR") or os.path.join(HERE, "..", "..")


class Env:
    tmp = None
    clone = None
    home = None
    proc = None
    logf = None
    api = None
    cwmp = None


class QuickstartLog:
    def log(self):
        if not Env.logf:
            return ""
        Env.logf.seek(0)
        return Env.logf.read().decode("utf-8", "replace")


def as_postgres(*argv):
    return subprocess.run(["runuser", "-u", "postgres", "--"] + list(argv),
                          stdin=subprocess.DEVNULL, capture_output=True).returncode


def run_quickstart():
    Env.api, Env.cwmp = free_port(), free_port()
    argv = [os.path.join(Env.clone, "deploy", "quickstart.sh"), "--no-deps", "--acsd", acsd_path(), "--",
            "--cwmp", "127.0.0.1:%d" % Env.cwmp, "--api", "127.0.0.1:%d" % Env.api, "--files", "off",
            "--workers", "1"]
    Env.logf = tempfile.TemporaryFile()
    Env.proc = subprocess.Popen(argv, cwd=Env.clone, stdin=subprocess.DEVNULL, stdout=Env.logf,
                                stderr=subprocess.STDOUT, env=clean_env(), start_new_session=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if Env.proc.poll() is not None:
            raise Fail("the quickstart exited with %s:\n%s" % (Env.proc.returncode, QuickstartLog().log()))
        try:
            st, _, _ = request(Env.api, "GET", "/health", timeout=2)
            if st == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise Fail("acsd of the quickstart did not answer /health:\n%s" % QuickstartLog().log())


def stop_quickstart():
    Env.proc.send_signal(signal.SIGTERM)
    try:
        rc = Env.proc.wait(60)
    except subprocess.TimeoutExpired:
        raise Fail("the quickstart did not stop on SIGTERM")
    Env.proc = None
    return rc


def api_get(path):
    with open(os.path.join(Env.clone, "var", "admin-token")) as f:
        tok = f.read().strip()
    st, _, body = request(Env.api, "GET", path, {"Authorization": "Bearer " + tok}, timeout=10)
    return st, json.loads(body) if body else None


def test_postgres_cannot_enter():
    check(as_postgres("test", "-x", Env.tmp) != 0,
          "the postgres user can enter %s: the test proves nothing" % Env.tmp)


def test_first_run():
    run_quickstart()
    loc = os.path.join(Env.clone, "var", "pg", "location")
    check(os.path.isfile(loc), "no ./var/pg/location:\n%s" % QuickstartLog().log())
    with open(loc) as f:
        Env.home = f.read().strip()
    check(Env.home.startswith("/var/lib/acsd-quickstart/acsd-") and
          os.path.isfile(os.path.join(Env.home, "data", "PG_VERSION")),
          "the cluster is not in a per-clone directory under /var/lib: %r" % Env.home)
    check(not os.path.exists(os.path.join(Env.clone, "var", "pg", "data")), "a data directory in the clone")
    log = QuickstartLog().log()
    check("the postgres user cannot enter" in log and Env.home in log, "the quickstart does not say where:\n%s" % log)
    deadline = time.monotonic() + 5
    while True:
        st, doc = api_get("/api/v1/policies")
        if (st == 200 and doc["current"]) or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    check(st == 200 and doc["current"] and "presets/default.lua" in doc["current"]["files"],
          "the example policies are not served: %d %r" % (st, doc))
    cpe_auth()
    rc = stop_quickstart()
    check(rc == 0, "the quickstart exit status %s:\n%s" % (rc, QuickstartLog().log()))
    check(not os.path.exists(os.path.join(Env.home, "data", "postmaster.pid")),
          "PostgreSQL still runs after the quickstart stopped")


def cpesim(*args):
    """cpesim against the quickstart's acsd until its sessions end: its summary."""
    argv = [os.path.join(os.path.dirname(acsd_path()), "cpesim"), "--acs",
            "http://127.0.0.1:%d/" % Env.cwmp, "--timeout", "10", "--quiet"] + list(args)
    p = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60,
                       env=clean_env())
    lines = [line for line in p.stdout.splitlines() if line.startswith("{")]
    check(lines, "cpesim printed no summary: %s %s" % (p.stdout[-2000:], p.stderr[-2000:]))
    return json.loads(lines[-1])


def cpe_auth():
    key = os.path.join(Env.clone, "var", "cpe-factory.key")
    check(os.path.isfile(key) and (os.stat(key).st_mode & 0o777) == 0o600,
          "no ./var/cpe-factory.key (mode 600)")
    s = cpesim("--count", "2", "--sessions", "2", "--serial-prefix", "QSNONE")
    check(s["sessions_ok"] == 0 and s["failures"]["401"] == 2,
          "devices without credentials were let in: %r" % s)
    state = os.path.join(Env.tmp, "qs-cpesim.state")
    s = cpesim("--count", "3", "--sessions", "3", "--serial-prefix", "QSAUTH", "--factory-key", key,
               "--state", state)
    check(s["sessions_ok"] == 3 and s["http_401"] >= 3, "factory credentials: %r" % s)
    st, doc = api_get("/api/v1/devices?limit=10")
    check(st == 200 and sum(1 for d in doc["items"] if "QSAUTH" in d["id"]) == 3,
          "the devices are not stored: %d %r" % (st, doc))
    s = cpesim("--count", "3", "--sessions", "3", "--serial-prefix", "QSAUTH", "--state", state,
               "--periodic")
    check(s["sessions_ok"] == 3, "the devices' own credentials (set by the policies): %r" % s)


def test_second_run_same_cluster():
    run_quickstart()
    st, doc = api_get("/api/v1/policies")
    check(st == 200, "the first run's token on the second run: %d %r" % (st, doc))
    check("creating a private PostgreSQL cluster" not in QuickstartLog().log(),
          "the second run made a new cluster:\n%s" % QuickstartLog().log())
    check(stop_quickstart() == 0, "exit status")


def main():
    if os.geteuid() != 0:
        print("skip: needs root (the quickstart runs PostgreSQL as the postgres user only as root)")
        sys.exit(77)
    pgtest.skip_unless_available()
    if shutil.which("runuser") is None:
        print("skip: no runuser")
        sys.exit(77)
    Env.tmp = tempfile.mkdtemp(prefix="acs-qs-", dir="/tmp")  # mode 700, as /root
    os.chmod(Env.tmp, 0o700)
    Env.clone = os.path.join(Env.tmp, "acsd")
    os.mkdir(Env.clone)
    for d in ("deploy", "policies"):
        shutil.copytree(os.path.join(SOURCE, d), os.path.join(Env.clone, d))
    try:
        run_tests([test_postgres_cannot_enter, test_first_run, test_second_run_same_cluster],
                  [("quickstart", QuickstartLog())], tail=4000)
    finally:
        if Env.proc and Env.proc.poll() is None:
            os.killpg(Env.proc.pid, signal.SIGTERM)
            try:
                Env.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(Env.proc.pid, signal.SIGKILL)
        loc = os.path.join(Env.clone, "var", "pg", "location")
        if not Env.home and os.path.isfile(loc):
            with open(loc) as f:
                Env.home = f.read().strip()
        if Env.home and os.path.isdir(Env.home):
            pid = os.path.join(Env.home, "data", "postmaster.pid")
            if os.path.exists(pid):
                bindir = pgtest.find_bindir()
                subprocess.run(["runuser", "-u", "postgres", "--", os.path.join(bindir, "pg_ctl"), "-D",
                                os.path.join(Env.home, "data"), "-m", "immediate", "stop"],
                               capture_output=True)
            shutil.rmtree(Env.home, ignore_errors=True)
            try:
                os.rmdir(os.path.dirname(Env.home))  # when no other clone's cluster is there
            except OSError:
                pass
        shutil.rmtree(Env.tmp, ignore_errors=True)
    print("ok", flush=True)
    sys.exit(0)


if __name__ == "__main__":
    main()
