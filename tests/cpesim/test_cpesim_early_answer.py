#!/usr/bin/env python3
"""cpesim against ACSs that answer before the request is written (stdlib only).

    ACS_BIN_DIR=build/bin python3 tests/cpesim/test_cpesim_early_answer.py

The bug it pins: cpesim's HTTP client had one uv_write_t per connection and
wrote from the client's one output buffer. When a response arrived before
the write of its request had completed (the server answered early, or the
write's callback was still queued while libuv polled again, as it does with
thousands of connections), the session sent its next request on the same
connection with the same uv_write_t while it was still pending, and
rewrote the buffer the pending write was sending from: libuv's write queue
was corrupted, and cpesim crashed in uv_run freeing a write request's
buffers (under a 100,000-device boot storm against a loaded acsd).

Three fake ACSs on loopback (plain sockets, one thread per connection, a
receive buffer of a few KiB so that a large POST stays pending in the
client), each with its own cpesim fleet:

  early   answers the CPE's GetParameterValuesResponse (the whole tr181
          tree, ~150 KB) as soon as its headers arrive, with the next
          GetParameterValues, and reads the rest of the body only after a
          pause: cpesim has the answer while its write is pending and sends
          its next POST on the same connection. Three rounds per session,
          then 204. Every body must arrive whole and in order (each a
          complete GetParameterValuesResponse with the right cwmp:ID).
  503     answers the first Inform of each device with 503 + Retry-After: 1
          (keep-alive) before reading its body, then serves it normally;
          this fleet connects from --source-ip 127.0.0.2,127.0.0.3 (both
          seen by the server, nothing else).
  close   closes the connection (unread data: a reset) as soon as the
          headers of the big POST arrive, once per device (later sessions
          get no RPC; nor do the 503 mode's); the session
          fails (its Inform was acknowledged: nothing is left to retry) and
          the device's next periodic session (2 s) succeeds.

Each fleet must end with every device's session ok, no session failed but
those the server failed on purpose, cpesim exiting 0 (under ASan: no
report), and the server having seen no malformed request.

Exits 0 (pass), 1 (fail) or 77 (skipped: cpesim not built).
"""
import json
import os
import re
import socket
import sys
import threading
import time

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from simtest import Fail, Proc, bin_path, check, free_port, http, wait_for  # noqa: E402

COUNT = 6
ROUNDS = 3  # GetParameterValues per session: the first two answered early
ENV = ('<soap-env:Envelope xmlns:soap-env="http://schemas.xmlsoap.org/soap/envelope/" '
       'xmlns:soap-enc="http://schemas.xmlsoap.org/soap/encoding/" '
       'xmlns:xsd="http://www.w3.org/2001/XMLSchema" '
       'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
       'xmlns:cwmp="urn:dslforum-org:cwmp-1-2"><soap-env:Header><cwmp:ID '
       'soap-env:mustUnderstand="1">%s</cwmp:ID></soap-env:Header><soap-env:Body>%s'
       '</soap-env:Body></soap-env:Envelope>')
INFORM_RESPONSE = ENV % ("1", "<cwmp:InformResponse><MaxEnvelopes>1</MaxEnvelopes>"
                         "</cwmp:InformResponse>")


def repeat():
    """How many times to ask for the whole tr181 tree (~170 KB of answer): on
    loopback the kernel lets the client's socket buffer grow to tcp_wmem's
    maximum (4 MiB by default), so only a larger POST stays pending in the
    client while the server does not read."""
    try:
        with open("/proc/sys/net/ipv4/tcp_wmem") as f:
            wmem = int(f.read().split()[2])
    except (OSError, ValueError, IndexError):
        wmem = 4 << 20
    return max(4, min(100, int(wmem * 1.25 / 170000) + 1))


REPEAT = repeat()
GPV = ('<cwmp:GetParameterValues><ParameterNames soap-enc:arrayType="xsd:string[%d]">%s'
       '</ParameterNames></cwmp:GetParameterValues>' % (REPEAT, "<string>Device.</string>" * REPEAT))


class Server:
    """A fake ACS; mode: early, 503 or close."""

    def __init__(self, mode):
        self.mode = mode
        self.errors = []
        self.done = 0  # sessions ended with a 204
        self.early = 0  # answers sent before the request's body was read
        self.refused = set()  # devices cut once
        self.refusals = 0  # 503s sent
        self.sizes = []  # bodies answered early
        self.peers = set()  # source addresses of the connections
        self.lock = threading.Lock()
        self.ls = socket.socket()
        self.ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.ls.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # inherited by accept
        self.ls.bind(("127.0.0.1", 0))
        self.ls.listen(256)
        self.port = self.ls.getsockname()[1]
        self.stopping = False
        threading.Thread(target=self.accept_loop, daemon=True).start()

    def error(self, msg):
        with self.lock:
            self.errors.append(msg)

    def take_refusal(self):
        with self.lock:
            if self.refusals < COUNT:
                self.refusals += 1
                return True
            return False

    def accept_loop(self):
        while not self.stopping:
            try:
                s, _ = self.ls.accept()
            except OSError:
                return
            with self.lock:
                self.peers.add(s.getpeername()[0])
            threading.Thread(target=self.serve, args=(s,), daemon=True).start()

    def close(self):
        self.stopping = True
        self.ls.close()

    @staticmethod
    def send(s, status, body="", extra=""):
        head = "HTTP/1.1 %s\r\n%sContent-Length: %d\r\n" % (status, extra, len(body))
        if body:
            head += "Content-Type: text/xml; charset=\"utf-8\"\r\n"
        s.sendall((head + "\r\n" + body).encode())

    def serve(self, s):
        s.settimeout(30)
        buf = bytearray()
        serial, rounds = None, 0

        def fill():
            chunk = s.recv(65536)
            if not chunk:
                raise EOFError
            buf.extend(chunk)

        def head():
            while b"\r\n\r\n" not in buf:
                fill()
            i = buf.index(b"\r\n\r\n")
            h = bytes(buf[:i]).decode("latin-1")
            del buf[:i + 4]
            m = re.search(r"(?im)^content-length:\s*(\d+)", h)
            if not h.startswith("POST ") or not m:
                raise ValueError("not a POST with a Content-Length: %r" % h[:200])
            return int(m.group(1))

        def body(n):
            while len(buf) < n:
                fill()
            b = bytes(buf[:n]).decode("utf-8", "replace")
            del buf[:n]
            return b

        try:
            while True:
                n = head()
                if n and serial is None:  # the Inform
                    if self.mode == "503" and self.take_refusal():
                        # every device's first Inform (they all start at once; retries
                        # come a second later): refused before its body is read
                        self.send(s, "503 Service Unavailable", "", "Retry-After: 1\r\n")
                        body(n)
                        continue
                    b = body(n)
                    m = re.search(r"<SerialNumber>([^<]+)</SerialNumber>", b)
                    if "<cwmp:Inform>" not in b or not m:
                        raise ValueError("expected an Inform: %r" % b[:300])
                    serial = m.group(1)
                    self.send(s, "200 OK", INFORM_RESPONSE)
                    continue
                if serial is None:
                    raise ValueError("a request before the Inform")
                if n == 0:  # the empty POST: the ACS's turn
                    with self.lock:
                        big = self.mode == "early" or (self.mode == "close" and
                                                       serial not in self.refused)
                        if not big:  # nothing to ask: the session ends
                            self.done += 1
                    if big:
                        rounds = 1
                        self.send(s, "200 OK", ENV % ("gpv-1", GPV))
                    else:
                        self.send(s, "204 No Content")
                        serial = None
                    continue
                # the answer to GetParameterValues number `rounds`
                if self.mode == "close" and serial not in self.refused:
                    with self.lock:
                        self.refused.add(serial)
                    s.close()  # unread data: the peer gets a reset mid-write
                    return
                early = self.mode == "early" and rounds < ROUNDS
                if early:
                    self.send(s, "200 OK", ENV % ("gpv-%d" % (rounds + 1), GPV))
                    with self.lock:
                        self.sizes.append(n)
                        self.early += 1
                    time.sleep(0.3)  # the client has the answer; its write is still pending
                b = body(n)
                if ("<cwmp:GetParameterValuesResponse>" not in b
                        or ">gpv-%d</cwmp:ID>" % rounds not in b
                        or not b.rstrip().endswith("</soap-env:Envelope>")):
                    raise ValueError("%s: answer %d is not a whole GetParameterValuesResponse "
                                     "(%d bytes): %r ... %r" % (serial, rounds, n, b[:200],
                                                                b[-200:]))
                if early:
                    rounds += 1
                    continue
                if rounds < ROUNDS:
                    rounds += 1
                    self.send(s, "200 OK", ENV % ("gpv-%d" % rounds, GPV))
                else:
                    self.send(s, "204 No Content")
                    with self.lock:
                        self.done += 1
                    serial = None
        except (EOFError, ConnectionError, socket.timeout):
            pass
        except (ValueError, OSError) as e:
            self.error(str(e))
        finally:
            s.close()


def run_fleet(mode, prefix):
    srv = Server(mode)
    cr = free_port()
    sim = Proc([bin_path("cpesim"), "--acs", "http://127.0.0.1:%d/" % srv.port, "--count",
                str(COUNT), "--serial-prefix", prefix, "--duration", "60", "--seed", "5",
                "--cr-listen", "127.0.0.1:%d" % cr, "--timeout", "20",
                "--set", "Device.ManagementServer.CWMPRetryMinimumWaitInterval=1",
                "--set", "Device.ManagementServer.CWMPRetryIntervalMultiplier=1000"]
               + (["--periodic-interval", "2"] if mode == "close" else [])
               + (["--source-ip", "127.0.0.2,127.0.0.3"] if mode == "503" else []))
    try:
        def all_ok():
            st = json.loads(http("GET", "http://127.0.0.1:%d/_sim/stats" % cr)[1])
            return st["ok"] >= COUNT and st["in_flight"] == 0
        try:
            wait_for("%s: %d sessions ok" % (mode, COUNT),
                     lambda: not sim.alive() or all_ok(), 45, 0.1)
        except Fail:
            raise Fail("%s\n--- cpesim ---\n%s" % (sys.exc_info()[1], sim.log()[-3000:]))
        check(sim.alive(), "%s: cpesim died (%s):\n%s" % (mode, sim.p.returncode,
                                                          sim.log()[-4000:]))
        rc = sim.stop(30)
        out = sim.log()
        check(rc == 0, "%s: cpesim exited %s:\n%s" % (mode, rc, out[-4000:]))
        check("ERROR: AddressSanitizer" not in out and "runtime error" not in out,
              "%s: sanitizer report:\n%s" % (mode, out[-4000:]))
        check(not srv.errors, "%s: the server saw malformed requests: %s" % (mode,
                                                                              srv.errors[:3]))
        lines = [ln for ln in out.splitlines() if ln.startswith("{")]
        check(lines, "%s: no summary:\n%s" % (mode, out[-2000:]))
        r = json.loads(lines[-1])
        return srv, r
    finally:
        sim.kill()
        srv.close()


def main():
    if not os.access(bin_path("cpesim"), os.X_OK):
        print("skipped: %s not built (set ACS_BIN_DIR)" % bin_path("cpesim"))
        return 77
    t0 = time.monotonic()
    try:
        srv, r = run_fleet("early", "EA")
        check(r["sessions_ok"] == COUNT and r["sessions_failed"] == 0,
              "early: %d ok, %d failed (%s)" % (r["sessions_ok"], r["sessions_failed"],
                                                r["failures"]))
        check(srv.done == COUNT, "early: the server ended %d sessions, not %d" % (srv.done, COUNT))
        check(srv.early == COUNT * (ROUNDS - 1), "early: only %d early answers" % srv.early)
        print("ok: early answers: %d sessions, %d answers before the body was read, every "
              "body whole and in order" % (COUNT, srv.early))

        srv, r = run_fleet("503", "EB")
        check(r["sessions_ok"] == COUNT and r["http_503"] == COUNT and
              r["sessions_failed"] == r["failures"]["503"] == COUNT,
              "503: %d ok, %d 503s, %d failed (%s)" % (r["sessions_ok"], r["http_503"],
                                                       r["sessions_failed"], r["failures"]))
        check(srv.peers == {"127.0.0.2", "127.0.0.3"}, "--source-ip: connections from %s" % (
            sorted(srv.peers)))
        print("ok: 503 + Retry-After before the body was read: %d refused, then all ok (from "
              "--source-ip 127.0.0.2 and 127.0.0.3)" % COUNT)

        srv, r = run_fleet("close", "EC")
        check(r["sessions_ok"] == COUNT and r["sessions_failed"] == COUNT and
              r["failures"]["connect"] == COUNT,
              "close: %d ok, %d failed (%s)" % (r["sessions_ok"], r["sessions_failed"],
                                                r["failures"]))
        print("ok: connection closed mid-write: %d sessions failed, their devices' next "
              "periodic sessions all ok" % COUNT)
    except Fail as e:
        print("FAIL: %s" % e)
        return 1
    print("PASS (%.0f s)" % (time.monotonic() - t0))
    return 0


if __name__ == "__main__":
    sys.exit(main())
