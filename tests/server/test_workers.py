#!/usr/bin/env python3
"""Workers and start-up: many connections over 4 workers, the worker count
in the log, a port in use, bad options and values, and the priority of
config file < environment < command line."""
import os
import re
import socket
import sys
import tempfile

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from acstest import Acsd, Conn, check, fail, format_request, free_port, main, request  # noqa: E402


def started_line(s):
    for line in s.log().splitlines():
        if " started: " in line:
            return line
    fail("no start line in the log:\n" + s.log())


def test_many_connections():
    with Acsd(workers=4) as s:
        s.wait_ready()
        check(re.search(r"\b4 workers\b", started_line(s)), "start line: " + started_line(s))
        conns = [Conn(s.api if i % 2 else s.cwmp, timeout=10) for i in range(200)]
        try:
            for c in conns:
                c.send(format_request("GET", "/health", close=True))
            for i, c in enumerate(conns):
                status, _, body = c.read_response(timeout=10)
                check(status == 200 and body == b'{"status":"ok"}',
                      "connection %d: %d %r" % (i, status, body))
        finally:
            for c in conns:
                c.close()
        s.signal()
        rc, _ = s.wait_exit(10)
        s.check_clean_exit(rc)
        m = re.search(r"(\d+) requests served", s.log())
        check(m and int(m.group(1)) >= 200, "exit line does not count the requests:\n" + s.log())


def test_two_workers_logged():
    with Acsd(workers=2) as s:
        s.wait_ready()
        line = started_line(s)
        check(re.search(r"\b2 workers\b", line), "start line does not say 2 workers: " + line)
        check("127.0.0.1:%d" % s.api in line and "127.0.0.1:%d" % s.cwmp in line,
              "start line lacks the addresses: " + line)


def expect_start_failure(args, needle, env=None):
    with Acsd(args, env=env, ports=False, workers=None) as s:
        try:
            rc = s.proc.wait(10)
        except Exception:
            fail("acsd %s did not exit:\n%s" % (" ".join(args), s.log()))
        log = s.log()
        check(rc != 0, "acsd %s exited 0" % " ".join(args))
        check(needle in log, "message does not name '%s':\n%s" % (needle, log))
        return log


def test_port_in_use():
    holder = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    holder.bind(("127.0.0.1", 0))
    holder.listen(1)
    port = holder.getsockname()[1]
    try:
        addr = "127.0.0.1:%d" % port
        expect_start_failure(["--api", addr, "--cwmp", "127.0.0.1:0"], addr)
        expect_start_failure(["--cwmp", addr, "--api", "127.0.0.1:0"], addr)
    finally:
        holder.close()
    # another acsd (SO_REUSEPORT on both sides must not let them share)
    with Acsd() as first:
        first.wait_ready()
        addr = "127.0.0.1:%d" % first.api
        log = expect_start_failure(["--api", addr, "--cwmp", "127.0.0.1:0", "--workers", "2"], addr)
        check("in use" in log, "no 'in use' in:\n" + log)
    # the two listeners on one address
    p = free_port()
    addr = "127.0.0.1:%d" % p
    expect_start_failure(["--api", addr, "--cwmp", addr], addr)


def test_bad_options():
    expect_start_failure(["--frobnicate"], "--frobnicate")
    expect_start_failure(["--workers", "many"], "--workers")
    expect_start_failure(["--workers"], "--workers")
    expect_start_failure(["--max-body", "12q"], "--max-body")
    expect_start_failure(["--cwmp", "nowhere"], "--cwmp")
    expect_start_failure(["--log-level", "loud"], "--log-level")
    expect_start_failure(["stray"], "stray")
    expect_start_failure([], "ACS_IDLE_TIMEOUT_MS", env={"ACS_IDLE_TIMEOUT_MS": "soon"})
    with tempfile.NamedTemporaryFile("w", suffix=".conf") as f:
        f.write("workers = 2\ncolour = blue\n")
        f.flush()
        expect_start_failure(["--config", f.name], "colour")


def only_answers_on(port, others, what):
    status, _, _ = request(port, "GET", "/health")
    check(status == 200, "%s: /health on %d answered %d" % (what, port, status))
    for p in others:
        try:
            request(p, "GET", "/health", timeout=2)
        except OSError:
            continue
        fail("%s: something answered on port %d" % (what, p))


def test_priority():
    a, b, c = free_port(), free_port(), free_port()
    with tempfile.NamedTemporaryFile("w", suffix=".conf") as f:
        f.write("# acsd test configuration\n"
                "api = 127.0.0.1:%d\n"
                "cwmp = 127.0.0.1:0\n"
                "idle_timeout_ms = 5000\n"
                "max-body = 1M\n" % a)
        f.flush()
        env = {"ACS_API": "127.0.0.1:%d" % b}
        with Acsd(["--config", f.name], ports=False) as s:
            s.wait_ready(a)
            only_answers_on(a, [b, c], "config file only")
        with Acsd(["--config", f.name], env=env, ports=False) as s:
            s.wait_ready(b)
            only_answers_on(b, [a, c], "config file + environment")
        with Acsd(["--config", f.name, "--api", "127.0.0.1:%d" % c], env=env, ports=False) as s:
            s.wait_ready(c)
            only_answers_on(c, [a, b], "config file + environment + command line")
            s.signal()
            rc, _ = s.wait_exit(10)
            s.check_clean_exit(rc)


def test_ipv6():
    try:
        probe = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        probe.bind(("::1", 0))
        port = probe.getsockname()[1]
        probe.close()
    except OSError as e:
        print("     (IPv6 loopback unavailable, skipping: %s)" % e)
        return
    with Acsd(["--api", "[::1]:%d" % port, "--cwmp", "127.0.0.1:0"], ports=False) as s:
        s.wait_ready(port, host="::1")
        status, _, body = request(port, "GET", "/health", host="::1")
        check(status == 200 and body == b'{"status":"ok"}', "IPv6 /health: %d %r" % (status, body))
        check("[::1]:%d" % port in started_line(s), "start line: " + started_line(s))


if __name__ == "__main__":
    main([test_many_connections, test_two_workers_logged, test_port_in_use, test_bad_options,
          test_priority, test_ipv6])
