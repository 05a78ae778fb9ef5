#!/usr/bin/env python3
"""Graceful stop: SIGTERM/SIGINT on an idle server, with a request in
flight (answered, Connection: close), with a stuck connection (cut at
--shutdown-timeout-ms), and no new connections once stopping."""
import os
import signal
import socket
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from acstest import Acsd, Conn, check, format_request, main  # noqa: E402


def test_idle_sigterm():
    with Acsd() as s:
        s.wait_ready()
        # an idle keep-alive connection must not hold the stop
        with Conn(s.api) as c:
            c.send(format_request("GET", "/health"))
            c.read_response()
            s.signal(signal.SIGTERM)
            rc, dt = s.wait_exit(5)
            check(dt < 2.0, "idle server took %.2f s to stop" % dt)
            s.check_clean_exit(rc)
            check(c.wait_closed(1), "idle connection not closed at stop")
        check("stopped" in s.log(), "no exit line in the log:\n" + s.log())


def test_sigint():
    with Acsd() as s:
        s.wait_ready()
        s.signal(signal.SIGINT)
        rc, dt = s.wait_exit(5)
        check(dt < 2.0, "SIGINT: took %.2f s to stop" % dt)
        s.check_clean_exit(rc)


def connect_refused(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    except ConnectionRefusedError:
        return True
    return False


def test_in_flight():
    with Acsd(["--shutdown-timeout-ms", "5000"]) as s:
        s.wait_ready()
        c = Conn(s.api)
        idle = Conn(s.cwmp)
        body = b"0123456789" * 100
        req = format_request("POST", "/inflight", body=body)
        c.send(req[:-600])  # head and part of the body
        time.sleep(0.3)
        s.signal(signal.SIGTERM)
        time.sleep(0.5)
        check(s.running(), "acsd exited with a request in flight:\n" + s.log())
        check(idle.wait_closed(2), "idle connection not closed at stop")
        check(connect_refused(s.api), "API port still accepts connections after SIGTERM")
        check(connect_refused(s.cwmp), "CWMP port still accepts connections after SIGTERM")
        c.send(req[-600:])
        status, headers, _ = c.read_response()
        check(status == 404, "in-flight request answered %d, expected 404" % status)
        check(headers.get("connection", "").lower() == "close",
              "in-flight response without Connection: close")
        check(c.wait_closed(2), "connection open after the in-flight response")
        c.close()
        idle.close()
        rc, dt = s.wait_exit(5)
        check(dt < 2.0, "took %.2f s to exit after the last response" % dt)
        s.check_clean_exit(rc)


def test_stuck_connection():
    with Acsd(["--shutdown-timeout-ms", "2000", "--header-timeout-ms", "60000"]) as s:
        s.wait_ready()
        with Conn(s.api) as c:
            c.send("GET /health HTTP/1.1\r\nHost: a\r\n")  # never completed
            time.sleep(0.2)
            t0 = time.monotonic()
            s.signal(signal.SIGTERM)
            rc, _ = s.wait_exit(10)
            dt = time.monotonic() - t0
            check(dt < 4.0, "stuck connection held the exit %.2f s (bound 2 s)" % dt)
            check(dt > 1.5, "exited after %.2f s: the in-flight request was not waited for" % dt)
            s.check_clean_exit(rc)
            check(c.wait_closed(1), "stuck connection not closed")
        check("cut" in s.log(), "no warning about the cut request:\n" + s.log())


if __name__ == "__main__":
    main([test_idle_sigterm, test_sigint, test_in_flight, test_stuck_connection])
