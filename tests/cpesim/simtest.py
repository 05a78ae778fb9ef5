"""simtest: what the cpesim tests share (stdlib only): child processes
(Proc), acsd's command line and its token (acsd_argv, wait_healthy,
create_token), a World to derive a test's own from (the processes it
started, the store, acsd's API, acsd's CLI and acsctl), a file server
(Files) and the tests' main() (run_test). Not a test itself:
tests/CMakeLists.txt registers the test_*.py files here by name."""
import json
import os
import re
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
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HERE = os.path.dirname(os.path.abspath(__file__))


class Fail(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise Fail(msg)


from ports import free_port  # noqa: E402,F401


def bin_path(name):
    d = os.environ.get("ACS_BIN_DIR") or os.path.join(HERE, "..", "..", "build", "bin")
    return os.path.join(d, name)


def wait_for(what, cond, timeout=60.0, step=0.05):
    """cond() until it is true (returned), within timeout seconds."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            v = cond()
            if v:
                return v
        except (OSError, ValueError, KeyError) as e:
            last = e
        time.sleep(step)
    raise Fail("timed out waiting for %s%s" % (what, " (%s)" % last if last else ""))


STARTED = []  # every Proc of this test process: run_test kills what is left at its end


class Proc:
    """A child process (acsd, cpesim) with its output kept in a file, run
    without the caller's ACS_* environment (plus env, when given)."""

    def __init__(self, argv, env=None):
        self.argv = argv
        self.out = tempfile.TemporaryFile()
        e = {k: v for k, v in os.environ.items() if not k.startswith("ACS_")}
        e.update(env or {})
        self.p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=self.out,
                                  stderr=subprocess.STDOUT, env=e)
        STARTED.append(self)

    def wait(self, timeout):
        return self.p.wait(timeout)

    def log(self):
        self.out.seek(0)
        return self.out.read().decode("utf-8", "replace")

    def alive(self):
        return self.p.poll() is None

    def kill(self):
        if self.alive():
            self.p.kill()
            self.p.wait()

    def stop(self, timeout):
        """SIGTERM, then its exit status (within timeout seconds)."""
        self.p.send_signal(signal.SIGTERM)
        return self.p.wait(timeout)


class Files(ThreadingHTTPServer):
    """A file server on a free loopback port for the devices' Download (GET:
    files, path -> bytes; the paths asked for in gets) and Upload (PUT:
    uploads)."""
    daemon_threads = True

    def __init__(self):
        self.files, self.uploads, self.gets = {}, {}, []
        super().__init__(("127.0.0.1", 0), FileHandler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def base(self):
        return "http://127.0.0.1:%d" % self.server_address[1]


class FileHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def _send(self, code, body=b""):
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        self.server.gets.append(self.path)
        body = self.server.files.get(self.path)
        self._send(200, body) if body is not None else self._send(404)

    def do_PUT(self):
        n = int(self.headers.get("Content-Length") or 0)
        self.server.uploads[self.path] = self.rfile.read(n)
        self._send(201)


def http(method, url, body=None, headers=None, timeout=10, raw=None):
    """(status, text, headers) of one request; body (if any) goes as JSON,
    raw (bytes) as it is."""
    data = json.dumps(body).encode() if body is not None else raw
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    if body is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read().decode(), r.headers
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(), e.headers


def write_key(path, private=True):
    """A new random 32-byte key, 64 hex digits, into the file at path (mode
    0600 if private, else as created); the hex."""
    key = os.urandom(32).hex()
    with open(path, "w") as f:
        f.write(key + "\n")
    if private:
        os.chmod(path, 0o600)
    return key


def acsd_argv(cwmp, api, *args):
    """acsd's command line: the CWMP and API listeners on loopback ports cwmp
    and api, then args."""
    return [bin_path("acsd"), "--cwmp", "127.0.0.1:%d" % cwmp, "--api",
            "127.0.0.1:%d" % api] + list(args)


def wait_healthy(proc, api, what="acsd", timeout=30):
    """Until the acsd of proc, alive, answers GET /health on port api with 200."""
    wait_for(what + " /health", lambda: proc.alive() and http(
        "GET", "http://127.0.0.1:%d/health" % api)[0] == 200, timeout)


def create_token(dsn, role="admin", name=None, timeout=30):
    """A new API token (`acsd token create`) in the store at dsn; fails unless
    the command exits 0 and prints it."""
    argv = [bin_path("acsd"), "token", "create", "--role", role]
    if name:
        argv += ["--name", name]
    env = {k: v for k, v in os.environ.items() if not k.startswith("ACS_")}
    p = subprocess.run(argv + ["--pg", dsn], env=env, stdin=subprocess.DEVNULL,
                       capture_output=True, text=True, timeout=timeout)
    check(p.returncode == 0 and p.stdout.startswith("acs_"),
          "token create: exit %d: %s%s" % (p.returncode, p.stdout, p.stderr))
    return p.stdout.strip()


class World:
    """What the cpesim tests' worlds share: the processes they start (killed,
    the last started first, at close), the store (sql) and acsd's API with an
    API token (start_acsd, then token; call, request)."""

    api_timeout = 30  # seconds an API request may take (call, request)

    def __init__(self, pg, tmp):
        self.pg, self.tmp, self.procs = pg, tmp, []
        self.acsd, self.token = None, None

    def spawn(self, argv, env=None):
        p = Proc(argv, env=env)
        self.procs.append(p)
        return p

    def close(self):
        for p in reversed(self.procs):
            p.kill()

    def sql(self, query):
        return self.pg.psql(query)

    def start_acsd(self, *args, env=None):
        """acsd on two fresh loopback ports (self.cwmp, self.api) with args,
        once /health answers: self.acsd."""
        self.cwmp, self.api = free_port(), free_port()
        self.acsd = self.spawn(acsd_argv(self.cwmp, self.api, *args), env)
        wait_healthy(self.acsd, self.api)
        return self.acsd

    def request(self, method, path, body=None, timeout=None, headers=None, raw=None, port=None):
        """(status, text, headers) of one request to acsd's API (on port, else
        self.api) with the token."""
        h = {"Authorization": "Bearer " + self.token}
        h.update(headers or {})
        return http(method, "http://127.0.0.1:%d%s" % (port or self.api, path), body, h,
                    timeout or self.api_timeout, raw=raw)

    def call(self, method, path, body=None, timeout=None, port=None):
        """(status, JSON document or None) of one request to acsd's API."""
        st, text, _ = self.request(method, path, body, timeout, port=port)
        return st, (json.loads(text) if text else None)

    def cli(self, args, stdin=None):
        """`acsd ARGS --pg DSN` on the test's store, run to its end (its
        CompletedProcess, text)."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("ACS_")}
        return subprocess.run([bin_path("acsd")] + args + ["--pg", self.pg.dsn], env=env,
                              input=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, timeout=30)

    def acsctl(self, *args):
        """(exit code, output) of acsctl against acsd with the token."""
        e = {k: v for k, v in os.environ.items() if not k.startswith(("ACS_", "ACSCTL_"))}
        e.update(ACSCTL_URL="http://127.0.0.1:%d" % self.api, ACSCTL_TOKEN=self.token)
        p = subprocess.run([sys.executable, bin_path("acsctl")] + list(args), capture_output=True,
                           env=e, timeout=60, stdin=subprocess.DEVNULL)
        return p.returncode, (p.stdout + p.stderr).decode()


def unavailable():
    """Why the cpesim tests cannot run here (acsd or cpesim not built, no
    PostgreSQL), or None."""
    import pgtest  # noqa: E402 (tests/lib, on the caller's path)
    for b in ("acsd", "cpesim"):
        if not os.access(bin_path(b), os.X_OK):
            return "%s not built (set ACS_BIN_DIR)" % bin_path(b)
    return pgtest.unavailable_reason()


def run_test(make_world, run, logs, prefix="acs-sim-"):
    """The cpesim tests' main(): 77 (skipped, saying why) without the
    binaries or PostgreSQL; else a throwaway cluster and temporary directory,
    make_world(pg, tmp), then run(world), which yields what it checked (each
    printed as "ok: ..."). A Fail prints the tails of logs(world), a list of
    (name, Proc or None). Returns the exit code (0 pass, 1 fail)."""
    import pgtest  # noqa: E402 (tests/lib, on the caller's path)
    why = unavailable()
    if why:
        print("skipped: " + why)
        return 77
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        with pgtest.PgCluster(fast=True) as pg:
            w = None
            try:
                w = make_world(pg, tmp)
                for line in run(w) or ():
                    print("ok: " + line, flush=True)
            except Fail as e:
                print("FAIL: %s" % e)
                for name, p in (logs(w) if w else []):
                    if p:
                        text = p.log()
                        # what a tail can cut off: why a store connection or a process went
                        key = [ln for ln in text.splitlines() if re.search(
                            r"connection lost|connection attempt|crit |Sanitizer", ln)]
                        if key:
                            print("--- %s (key lines) ---\n%s" % (name, "\n".join(key[-20:])))
                        print("--- %s (tail) ---\n%s" % (name, text[-4000:]))
                return 1
            finally:
                if w:
                    w.close()
                for p in reversed(STARTED):  # what a world that failed to build had started
                    p.kill()
    print("PASS (%.0f s)" % (time.monotonic() - t0))
    return 0
