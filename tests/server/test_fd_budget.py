#!/usr/bin/env python3
"""acsd at its open-files limit: more CPEs connect than it may hold sockets.

Regression: past the limit accept() fails with EMFILE, and libuv calls the
connection callback again at once for every connection waiting (its spare
descriptor is taken by another worker thread sharing the descriptor table),
so a worker looped in accept() for ever at 100 % CPU and never answered
again (a 100,000-device boot storm against one acsd stopped there). Now
acsd stops accepting at its budget (the limit less a reserve) and takes
the waiting connections as others close.

acsd runs with 256 open files (budget 128 connections) and 2 workers; the
test opens 400 connections that send nothing (408 after 1 s), then checks
that every one is answered or closed by acsd, that /health still answers,
and that acsd spent a few CPU seconds at most (the bug burns one core per
stuck worker), and that its log says why it waited."""
import os
import socket
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from acstest import Acsd, check, main, request  # noqa: E402

N = 400


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_more_connections_than_files():
    with Acsd(["--header-timeout-ms", "1000", "--files", "off"], nofile=256) as srv:
        srv.wait_ready()
        cpu0 = cpu_seconds(srv.proc.pid)
        socks = []
        for _ in range(N):
            s = socket.socket()
            s.setblocking(False)
            s.connect_ex(("127.0.0.1", srv.cwmp))
            socks.append(s)
        deadline = time.monotonic() + 30
        open_socks = list(socks)
        while open_socks and time.monotonic() < deadline:
            still = []
            for s in open_socks:
                try:
                    data = s.recv(4096)
                    if data and not data.startswith(b"HTTP/1.1 408"):
                        check(False, "unexpected answer %r" % data[:80])
                    s.close()  # answered (408) or closed by acsd
                except BlockingIOError:
                    still.append(s)
                except OSError:
                    s.close()
            open_socks = still
            time.sleep(0.1)
        check(not open_socks, "%d of %d connections never served within 30 s" % (
            len(open_socks), N))
        status, _, _ = request(srv.api, "GET", "/health", timeout=5)
        check(status == 200, "/health after the flood: %s" % status)
        used = cpu_seconds(srv.proc.pid) - cpu0
        check(used < 5, "acsd used %.1f CPU seconds for %d idle connections" % (used, N))
        check("open-files budget" in srv.log(), "the log does not say why acsd waited")
        print("%d connections on a 256-file acsd: all served, %.2f CPU s" % (N, used))


if __name__ == "__main__":
    main([test_more_connections_than_files])
