#!/usr/bin/env python3
"""acsd's HTTP limits and timers, over real sockets: 431, 413 (plain,
chunked and gzip), 408 (partial request, silent connection), idle
keep-alive close, keep-alive and pipelining, 400."""
import gzip
import os
import sys
import threading
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from acstest import Acsd, Conn, check, format_request, main  # noqa: E402

ARGS = ["--max-body", "64k", "--header-timeout-ms", "1000", "--idle-timeout-ms", "1000"]
srv = None


def expect_status(c, want, what):
    status, headers, body = c.read_response()
    check(status == want, "%s: status %d, expected %d (%r)" % (what, status, want, body[:200]))
    return headers, body


def test_health_on_both_ports():
    for port in (srv.api, srv.cwmp):
        with Conn(port) as c:
            c.send(format_request("GET", "/health"))
            headers, body = expect_status(c, 200, "GET /health on %d" % port)
            check(body == b'{"status":"ok"}', "health body %r" % body)
            check(headers.get("content-type") == "application/json",
                  "health content type %r" % headers.get("content-type"))
    with Conn(srv.api) as c:
        c.send(format_request("GET", "/nope"))
        _, body = expect_status(c, 404, "GET /nope on the API port")
        check(body == b'{"error":"not found"}', "404 body %r" % body)


def test_header_too_large():
    with Conn(srv.api) as c:
        c.send("GET /health HTTP/1.1\r\nHost: a\r\nX-Big: " + "a" * 20000 + "\r\n\r\n")
        headers, _ = expect_status(c, 431, "20 KB header block")
        check(headers.get("connection", "").lower() == "close", "431 without Connection: close")
        check(c.wait_closed(3), "connection still open after 431")
    # just under the limit is fine
    with Conn(srv.api) as c:
        c.send("GET /health HTTP/1.1\r\nHost: a\r\nX-Big: " + "a" * 15000 + "\r\n\r\n")
        expect_status(c, 200, "15 KB header block")


def test_body_too_large():
    # announced by Content-Length
    with Conn(srv.api) as c:
        c.send(format_request("POST", "/x", body=b"x" * 70000))
        expect_status(c, 413, "70000-byte body with --max-body 64k")
    # chunked
    with Conn(srv.api) as c:
        chunk = b"x" * 10000
        data = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(8)) + b"0\r\n\r\n"
        c.send(b"POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n" + data)
        expect_status(c, 413, "80000-byte chunked body")
    # gzip that inflates past the limit (a few hundred bytes on the wire)
    bomb = gzip.compress(b"a" * 200000)
    check(len(bomb) < 65536, "test bug: bomb too big on the wire")
    with Conn(srv.api) as c:
        c.send(format_request("POST", "/x", {"Content-Encoding": "gzip"}, bomb))
        expect_status(c, 413, "gzip body inflating to 200000 bytes")
    # control: a gzip body under the limit reaches the handler (404 on the API port)
    with Conn(srv.api) as c:
        c.send(format_request("POST", "/x", {"Content-Encoding": "gzip"},
                              gzip.compress(b"a" * 60000)))
        expect_status(c, 404, "gzip body inflating to 60000 bytes")


def test_header_timeout():
    with Conn(srv.api) as c:
        t0 = time.monotonic()
        c.send("GET /health HTTP/1.1\r\nHost: a\r\n")  # no blank line: incomplete
        headers, _ = expect_status(c, 408, "incomplete request head")
        dt = time.monotonic() - t0
        check(0.8 <= dt <= 3.0, "408 after %.2f s, expected about 1 s" % dt)
        check(c.wait_closed(3), "connection still open after 408")
    # a connection that sends nothing at all
    with Conn(srv.api) as c:
        t0 = time.monotonic()
        expect_status(c, 408, "silent connection")
        dt = time.monotonic() - t0
        check(0.8 <= dt <= 3.0, "408 after %.2f s, expected about 1 s" % dt)
        check(c.wait_closed(3), "connection still open after 408")


def test_idle_timeout():
    with Conn(srv.api) as c:
        c.send(format_request("GET", "/health"))
        expect_status(c, 200, "GET /health")
        t0 = time.monotonic()
        check(not c.wait_closed(0.6), "idle connection closed too early")
        check(c.wait_closed(3), "idle keep-alive connection not closed")
        dt = time.monotonic() - t0
        check(dt <= 3.0, "idle connection closed after %.2f s, expected about 1 s" % dt)


def test_keep_alive():
    with Conn(srv.api) as c:
        for i in range(3):
            c.send(format_request("GET", "/health"))
            headers, body = expect_status(c, 200, "keep-alive request %d" % (i + 1))
            check(headers.get("connection", "").lower() != "close",
                  "request %d answered with Connection: close" % (i + 1))
            check(body == b'{"status":"ok"}', "body %r" % body)
        # and the connection is still usable for a Connection: close request
        c.send(format_request("GET", "/health", close=True))
        headers, _ = expect_status(c, 200, "final request")
        check(headers.get("connection", "").lower() == "close", "no Connection: close")
        check(c.wait_closed(3), "connection open after Connection: close")


def test_pipelined():
    with Conn(srv.api) as c:
        c.send(format_request("GET", "/health") + format_request("GET", "/nope") +
               format_request("GET", "/health"))
        expect_status(c, 200, "first pipelined request")
        expect_status(c, 404, "second pipelined request")
        expect_status(c, 200, "third pipelined request")
    # many at once (more than one read's worth), answered in order
    with Conn(srv.api) as c:
        n = 3000
        data = b"".join(format_request("GET", "/health" if i % 3 else "/nope") for i in range(n))
        sender = threading.Thread(target=c.send, args=(data,))  # we read while it sends
        sender.start()
        for i in range(n):
            expect_status(c, 404 if i % 3 == 0 else 200, "pipelined request %d of %d" % (i + 1, n))
        sender.join()
    # pipelined with bodies, in one send, on the CWMP port
    with Conn(srv.cwmp) as c:
        c.send(format_request("POST", "/", body=b"") + format_request("GET", "/health"))
        expect_status(c, 204, "empty CWMP POST")
        expect_status(c, 200, "GET /health after it")


def test_malformed():
    with Conn(srv.api) as c:
        c.send("GARBAGE\r\n\r\n")
        expect_status(c, 400, "request line 'GARBAGE'")
        check(c.wait_closed(3), "connection open after 400")
    with Conn(srv.api) as c:
        c.send("G@T /health HTTP/1.1\r\nHost: a\r\n\r\n")
        expect_status(c, 400, "method 'G@T'")
    with Conn(srv.api) as c:
        c.send(b"GET /hea\x01lth HTTP/1.1\r\nHost: a\r\n\r\n")
        expect_status(c, 400, "control character in the target")


def test_still_alive():
    # after all of the above, the server still answers and stops cleanly
    with Conn(srv.api) as c:
        c.send(format_request("GET", "/health"))
        expect_status(c, 200, "GET /health at the end")
    srv.signal()
    rc, _ = srv.wait_exit(10)
    srv.check_clean_exit(rc)


def run_all():
    global srv
    with Acsd(ARGS) as s:
        srv = s
        s.wait_ready()
        main([test_health_on_both_ports, test_header_too_large, test_body_too_large,
              test_header_timeout, test_idle_timeout, test_keep_alive, test_pipelined,
              test_malformed, test_still_alive])


if __name__ == "__main__":
    run_all()
