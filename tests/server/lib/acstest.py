"""acstest: what the server tests share (stdlib only).

Starts build/bin/acsd (ACS_BIN_DIR) on free loopback ports, talks raw HTTP
to it, and makes sure it is gone when a test ends, whatever happened;
creates API tokens (create_token, create_tokens), runs a test's functions
against one acsd (serve) and scripts a CPE's CWMP session (envelope,
CwmpSession).
Lives in tests/server/lib/ because every tests/server/*.py is a test.
"""
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "lib"))


class Fail(Exception):
    pass


def fail(msg):
    raise Fail(msg)


def check(cond, msg):
    if not cond:
        raise Fail(msg)


def acsd_path():
    bin_dir = os.environ.get("ACS_BIN_DIR")
    if not bin_dir:
        here = os.path.dirname(os.path.abspath(__file__))
        bin_dir = os.path.join(here, "..", "..", "..", "build", "bin")
    path = os.path.join(bin_dir, "acsd")
    if not os.access(path, os.X_OK):
        fail("acsd not found at %s (set ACS_BIN_DIR)" % path)
    return path


from ports import free_port  # noqa: E402,F401


def clean_env(extra=None):
    """The environment without ACS_* settings (but the test's own)."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("ACS_") or k in ("ACS_BIN_DIR", "ACS_SOURCE_DIR")}
    env.setdefault("ASAN_OPTIONS", "detect_leaks=1")
    if extra:
        env.update(extra)
    return env


class Acsd:
    """One acsd process. Use as a context manager: it is killed on exit."""

    def __init__(self, args=(), env=None, workers=2, ports=True, nofile=None):
        self.cwmp = free_port() if ports else None
        self.api = free_port() if ports else None
        argv = [acsd_path()]
        if ports:
            argv += ["--cwmp", "127.0.0.1:%d" % self.cwmp, "--api", "127.0.0.1:%d" % self.api]
        if workers is not None:
            argv += ["--workers", str(workers)]
        argv += list(args)
        self.argv = argv
        self.logf = tempfile.TemporaryFile()
        pre = None
        if nofile:  # acsd's open-files limit (soft and hard), in the child only
            def pre():
                import resource
                resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=self.logf,
                                     stderr=subprocess.STDOUT, env=clean_env(env),
                                     preexec_fn=pre)

    def log(self):
        self.logf.seek(0)
        return self.logf.read().decode("utf-8", "replace")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.kill()
        self.logf.close()
        return False

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def running(self):
        return self.proc.poll() is None

    def wait_ready(self, port=None, timeout=15.0, host="127.0.0.1"):
        """Waits until GET /health answers 200 on port (the API port)."""
        port = port or self.api
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            if not self.running():
                fail("acsd exited with %s before answering /health:\n%s"
                     % (self.proc.returncode, self.log()))
            try:
                status, _, _ = request(port, "GET", "/health", timeout=2, host=host)
                if status == 200:
                    return
                last = "status %d" % status
            except OSError as e:
                last = str(e)
            time.sleep(0.05)
        fail("acsd did not answer /health on port %d within %.0f s (%s):\n%s"
             % (port, timeout, last, self.log()))

    def signal(self, sig=signal.SIGTERM):
        self.proc.send_signal(sig)

    def wait_exit(self, timeout):
        """Waits for the exit; returns (returncode, seconds waited)."""
        t0 = time.monotonic()
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            fail("acsd still running %.1f s after the signal:\n%s" % (timeout, self.log()))
        return rc, time.monotonic() - t0

    def check_clean_exit(self, rc):
        """Exit status 0 and nothing from the sanitizers."""
        log = self.log()
        for bad in ("Sanitizer", "runtime error:", "leaked", "assertion failed"):
            check(bad not in log, "acsd reported '%s':\n%s" % (bad, log))
        check(rc == 0, "acsd exit status %s, expected 0:\n%s" % (rc, log))


ROLES = (("admin", "admin"), ("operator", "op"), ("readonly", "ro"))  # (role, token name)


def create_token(dsn, role, name=None, check=check):
    """A new API token of role (named name) in the store at dsn, as `acsd
    token create` prints it; fails (check) unless the command exits 0."""
    argv = [acsd_path(), "token", "create", "--role", role]
    if name:
        argv += ["--name", name]
    p = subprocess.run(argv + ["--pg", dsn], stdin=subprocess.DEVNULL, capture_output=True,
                       env=clean_env(), timeout=60)
    check(p.returncode == 0, "token create: %s" % p.stderr.decode())
    return p.stdout.decode().strip()


def create_tokens(dsn, roles=ROLES, check=check):
    """role -> a new token, for each (role, name) of roles."""
    return {role: create_token(dsn, role, name, check) for role, name in roles}


def serve(env, args, tests, tail=5000, skip=None, **kw):
    """Runs tests (run_tests) against one acsd, Acsd(args, **kw), in
    env.acsd once ready; it is killed afterwards, whatever happened. Returns
    the names of the tests skipped."""
    with Acsd(args, **kw) as s:
        env.acsd = s
        s.wait_ready()
        return run_tests(tests, [("acsd", s)], skip=skip, tail=tail)


class Conn:
    """A raw HTTP/1.1 client connection with its own read buffer."""

    def __init__(self, port, timeout=5.0, host="127.0.0.1"):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def _fill(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise EOFError("connection closed by acsd")
        self.buf += chunk

    def read_response(self, timeout=5.0):
        """Returns (status, headers with lower-case names, body)."""
        self.sock.settimeout(timeout)
        while b"\r\n\r\n" not in self.buf:
            self._fill()
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ", 2)
        check(parts[0].startswith("HTTP/1."), "bad status line %r" % lines[0])
        status = int(parts[1])
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        if status in (204, 304) or 100 <= status < 200:
            return status, headers, b""
        if "content-length" in headers:
            n = int(headers["content-length"])
            while len(self.buf) < n:
                self._fill()
            body, self.buf = self.buf[:n], self.buf[n:]
            return status, headers, body
        while True:  # until the connection closes
            try:
                self._fill()
            except EOFError:
                break
        body, self.buf = self.buf, b""
        return status, headers, body

    def wait_closed(self, timeout):
        """True if acsd closes the connection (EOF or reset) within timeout
        without sending anything more; fails if it sends bytes."""
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            return False
        except ConnectionResetError:
            return True
        check(data == b"", "expected the connection to close, got %r" % data[:200])
        return True


def envelope(body, ident="1"):
    """A CWMP SOAP envelope: body, with the cwmp:ID ident."""
    return ('<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" '
            'xmlns:soapenc="http://schemas.xmlsoap.org/soap/encoding/" '
            'xmlns:xsd="http://www.w3.org/2001/XMLSchema" '
            'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
            'xmlns:cwmp="urn:dslforum-org:cwmp-1-0"><soap:Header><cwmp:ID soap:mustUnderstand="1">'
            '%s</cwmp:ID></soap:Header><soap:Body>%s</soap:Body></soap:Envelope>' % (ident, body))


def rid_of(xml):
    """The cwmp:ID of an envelope (text)."""
    return re.search(r"<cwmp:ID[^>]*>([^<]*)</cwmp:ID>", xml).group(1)


class CwmpSession:
    """A scripted CPE's session on one connection to acsd's CWMP port: the
    Inform (an envelope), answered by an InformResponse (503s, while a
    worker's store connection is still being made, tried again for retry_s
    seconds; the answer held to that with check); then post() sends the
    CPE's next message and reads acsd's answer."""

    def __init__(self, port, inform, retry_s=10, check=check):
        deadline = time.monotonic() + retry_s
        while True:
            self.c = Conn(port, timeout=20)
            self.c.send(format_request("POST", "/", {"Content-Type": "text/xml"}, inform))
            st, h, body = self.c.read_response(20)
            if st != 503 or time.monotonic() >= deadline:
                break
            self.c.close()
            time.sleep(0.2)
        check(st == 200 and b"InformResponse" in body, "Inform: %d %r" % (st, body[:300]))
        self.cookie = h.get("set-cookie", "").split(";")[0]

    def post(self, body=b""):
        self.c.send(format_request("POST", "/", {"Cookie": self.cookie, "Content-Type": "text/xml"},
                                   body))
        return self.c.read_response(20)

    def close(self):
        self.c.close()


def request(port, method, path, headers=None, body=b"", timeout=5.0, host="127.0.0.1"):
    """One request on a fresh connection (Connection: close)."""
    with Conn(port, timeout, host) as c:
        c.send(format_request(method, path, headers, body, close=True))
        return c.read_response(timeout)


def format_request(method, path, headers=None, body=b"", close=False):
    if isinstance(body, str):
        body = body.encode()
    lines = ["%s %s HTTP/1.1" % (method, path), "Host: acstest"]
    for k, v in (headers or {}).items():
        lines.append("%s: %s" % (k, v))
    if body or method in ("POST", "PUT"):
        lines.append("Content-Length: %d" % len(body))
    if close:
        lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def run_tests(tests, logs=(), skip=None, tail=5000):
    """Runs test functions in order, a line each ("ok", or "skip" when one
    raises skip, an exception class); at the first failure prints it, the
    tails of logs ((label, process with .log()) pairs) and exits 1. Returns
    the names of the tests skipped."""
    name = os.path.basename(sys.argv[0])
    skipped = []
    for t in tests:
        t0 = time.monotonic()
        try:
            t()
        except Exception as e:  # an unexpected error is a failure too
            if skip and isinstance(e, skip):
                skipped.append(t.__name__)
                print("skip %s: %s" % (t.__name__, e), flush=True)
                continue
            if isinstance(e, Fail):
                print("FAIL %s: %s: %s" % (name, t.__name__, e), flush=True)
            else:
                print("FAIL %s: %s: %s: %s" % (name, t.__name__, type(e).__name__, e), flush=True)
                import traceback
                traceback.print_exc()
            for label, proc in logs:
                print("--- %s log ---\n%s" % (label, proc.log()[-tail:]), flush=True)
            sys.exit(1)
        print("ok   %s (%.2f s)" % (t.__name__, time.monotonic() - t0), flush=True)
    return skipped


def main(tests):
    """Runs test functions in order; exits 1 at the first failure."""
    run_tests(tests)
    sys.exit(0)
