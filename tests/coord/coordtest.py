"""coordtest: what the tests of several instances share (stdlib only):
throwaway redis-server and redis-sentinel processes on loopback, a scripted
CPE, and two acsd on one PostgreSQL and one Redis.

Lives beside the tests in tests/coord/; the server tests' helpers
(tests/server/lib/acstest.py) and PostgreSQL's (tests/lib/pgtest.py) are
reused."""
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "server", "lib"))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
import pgtest  # noqa: E402,F401
from acstest import Acsd, Conn, check, envelope, fail, format_request, free_port  # noqa: E402,F401


def redis_server_path():
    return shutil.which("redis-server")


def skip_unless_redis():
    if not redis_server_path() or not shutil.which("redis-cli"):
        print("skipped: redis-server or redis-cli not installed (apt-get install redis-server)")
        sys.exit(77)


def wait_for(what, cond, timeout=15.0, step=0.05, last=None):
    """Polls cond until it is true; last() says why it was not, in the failure."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        try:
            if cond():
                return
        except Exception:
            pass
        time.sleep(step)
    fail("%s: not within %.0f s%s" % (what, timeout, (": " + str(last())) if last else ""))


def wait_ready(acsd, host="127.0.0.1"):
    """/health, then /ready: the store connections of every worker are up."""
    from acstest import request
    acsd.wait_ready(port=acsd.api, host=host)
    wait_for("acsd ready", lambda: request(acsd.api, "GET", "/ready", host=host)[0] == 200, 20)


class Redis:
    """A redis-server (or, sentinel=True, a redis-sentinel) on loopback
    with its own throwaway directory; kill() / start() keep the port."""

    def __init__(self, tmp, name, replicaof=None, sentinel_of=None):
        self.port = free_port()
        self.dir = os.path.join(tmp, name)
        os.makedirs(self.dir, exist_ok=True)
        self.conf = os.path.join(self.dir, "redis.conf")
        lines = ["port %d" % self.port, "bind 127.0.0.1", "dir %s" % self.dir, 'save ""',
                 "appendonly no", "protected-mode no"]
        if replicaof:
            lines.append("replicaof 127.0.0.1 %d" % replicaof)
        if sentinel_of:
            lines += ["sentinel monitor acsd 127.0.0.1 %d 2" % sentinel_of,
                      "sentinel down-after-milliseconds acsd 1000",
                      "sentinel failover-timeout acsd 4000",
                      "sentinel parallel-syncs acsd 1"]
        with open(self.conf, "w") as f:
            f.write("\n".join(lines) + "\n")
        self.sentinel = bool(sentinel_of)
        self.proc = None
        self.logf = open(os.path.join(self.dir, "log"), "ab")
        self.start()

    def start(self):
        argv = [redis_server_path(), self.conf] + (["--sentinel"] if self.sentinel else [])
        self.proc = subprocess.Popen(argv, stdout=self.logf, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        wait_for("redis on port %d" % self.port, lambda: self.cli("PING") == "PONG", 10)

    def cli(self, *args, timeout=5):
        p = subprocess.run(["redis-cli", "-p", str(self.port)] + [str(a) for a in args],
                           capture_output=True, timeout=timeout)
        return p.stdout.decode().strip()

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def log(self):
        try:
            with open(os.path.join(self.dir, "log"), "rb") as f:
                return f.read().decode(errors="replace")
        except OSError:
            return ""


class Procs:
    """Everything a test started, killed at the end whatever happened."""

    def __init__(self):
        self.items = []

    def add(self, p):
        self.items.append(p)
        return p

    def close(self):
        for p in reversed(self.items):
            try:
                p.kill()
            except Exception:
                pass


# --- a scripted CPE

def inform(serial, version="1.0.0"):
    return envelope(
        '<cwmp:Inform><DeviceId><Manufacturer>ACME</Manufacturer><OUI>00AA44</OUI>'
        '<ProductClass>Box</ProductClass><SerialNumber>%s</SerialNumber></DeviceId>'
        '<Event soapenc:arrayType="cwmp:EventStruct[1]"><EventStruct><EventCode>2 PERIODIC'
        '</EventCode><CommandKey></CommandKey></EventStruct></Event><MaxEnvelopes>1</MaxEnvelopes>'
        '<CurrentTime>2026-12-01T08:00:00Z</CurrentTime><RetryCount>0</RetryCount>'
        '<ParameterList soapenc:arrayType="cwmp:ParameterValueStruct[1]"><ParameterValueStruct>'
        '<Name>Device.DeviceInfo.SoftwareVersion</Name><Value xsi:type="xsd:string">%s</Value>'
        '</ParameterValueStruct></ParameterList></cwmp:Inform>' % (serial, version))


def device_id(serial):
    return "00AA44-Box-" + serial


def gpv_response(ident, name, value):
    return envelope('<cwmp:GetParameterValuesResponse><ParameterList soapenc:arrayType='
                    '"cwmp:ParameterValueStruct[1]"><ParameterValueStruct><Name>%s</Name>'
                    '<Value xsi:type="xsd:string">%s</Value></ParameterValueStruct>'
                    '</ParameterList></cwmp:GetParameterValuesResponse>' % (name, value), ident)


class Cpe:
    """A CWMP session over one connection (source address src, if given)."""

    def __init__(self, port, src=None, timeout=20):
        self.port, self.src, self.timeout = port, src, timeout
        self.cookie = None
        self.c = self.connect()

    def connect(self):
        c = Conn.__new__(Conn)
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if self.src:
            s.bind((self.src, 0))
        s.settimeout(self.timeout)
        s.connect(("127.0.0.1", self.port))
        c.sock, c.buf = s, b""
        return c

    def post(self, body=b"", headers=None):
        h = {"Content-Type": "text/xml"}
        if self.cookie:
            h["Cookie"] = self.cookie
        h.update(headers or {})
        self.c.send(format_request("POST", "/", h, body))
        st, rh, rb = self.c.read_response(self.timeout)
        if "set-cookie" in rh:
            self.cookie = rh["set-cookie"].split(";")[0]
        return st, rh, rb

    def inform(self, serial):
        return self.post(inform(serial))

    def reconnect(self):
        self.c.close()
        self.c = self.connect()

    def close(self):
        self.c.close()


def rpc_id(body):
    b = body.decode() if isinstance(body, bytes) else body
    i = b.find("<cwmp:ID")
    j = b.find(">", i)
    k = b.find("</cwmp:ID>", j)
    return b[j + 1:k] if i >= 0 and k > j else "1"
