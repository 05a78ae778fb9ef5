#!/usr/bin/env python3
"""File server benchmark (not a test: it prints figures; never run in CI).

    python3 bench/files_bench.py [--mib 64] [--clients 1,8,32] [--range-kib 0]

Starts a throwaway PostgreSQL (tests/lib/pgtest.py, loopback, fsync off) and
acsd with its file server on loopback, uploads one image of --mib MiB
through POST /api/v1/files (timed), gives each client a grant of its own
(rows in file_grants, as a Download task's session would), and for each
count of --clients runs that many downloads at once (each client a thread
reading into a fixed buffer, Basic credentials): aggregate MiB/s, the
slowest download, and acsd's resident memory before and at its peak
(sampled every 5 ms). --range-kib N fetches N KiB ranges at random offsets
instead of whole files (requests/s). Stdlib Python only. Environment:
ACS_BIN_DIR (default build/bin), ACS_PG_BINDIR.
"""
import argparse
import base64
import hashlib
import os
import random
import socket
import subprocess
import sys
import threading
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "lib"))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "server", "lib"))
sys.dont_write_bytecode = True
import pgtest  # noqa: E402
from acstest import Acsd, Conn, acsd_path, clean_env, format_request, free_port  # noqa: E402

REALM = "acsd files"


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class Sampler:
    def __init__(self, pid):
        self.pid, self.peak, self.stop = pid, rss_kib(pid), threading.Event()
        self.t = threading.Thread(target=self.run)
        self.t.start()

    def run(self):
        while not self.stop.is_set():
            self.peak = max(self.peak, rss_kib(self.pid))
            time.sleep(0.005)

    def end(self):
        self.stop.set()
        self.t.join()
        return self.peak


def get(port, path, auth, rng=None):
    """One GET on its own connection; the body is counted, not kept."""
    s = socket.create_connection(("127.0.0.1", port), timeout=60)
    h = "GET %s HTTP/1.1\r\nHost: b\r\nAuthorization: %s\r\nConnection: close\r\n%s\r\n" % (
        path, auth, "Range: bytes=%d-%d\r\n" % rng if rng else "")
    s.sendall(h.encode())
    buf = bytearray(1 << 20)
    view = memoryview(buf)
    head = b""
    while b"\r\n\r\n" not in head:
        n = s.recv_into(view)
        if n == 0:
            raise EOFError("closed in the head")
        head += bytes(view[:n])
    head, rest = head.split(b"\r\n\r\n", 1)
    status = int(head.split()[1])
    got = len(rest)
    while True:
        n = s.recv_into(view)
        if n == 0:
            break
        got += n
    s.close()
    return status, got


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mib", type=int, default=64)
    ap.add_argument("--clients", default="1,8,32")
    ap.add_argument("--range-kib", type=int, default=0)
    ap.add_argument("--requests", type=int, default=2000, help="range mode: requests in all")
    a = ap.parse_args()
    counts = [int(x) for x in a.clients.split(",")]
    size = a.mib << 20
    block = bytes(random.Random(1).getrandbits(8) for _ in range(1 << 16))
    data = (block * (size // len(block) + 1))[:size]
    with pgtest.PgCluster(fast=True) as pg:
        p = subprocess.run([acsd_path(), "token", "create", "--role", "operator", "--pg", pg.dsn],
                           capture_output=True, env=clean_env(), timeout=60)
        token = p.stdout.decode().strip()
        fport = free_port()
        with Acsd(["--pg", pg.dsn, "--files", "127.0.0.1:%d" % fport, "--max-file-size",
                   "%dM" % (a.mib + 1), "--log-level", "warn"]) as s:
            s.wait_ready()
            pid = s.proc.pid
            base = rss_kib(pid)
            smp = Sampler(pid)
            q = urllib.parse.urlencode({"name": "bench.bin", "type": "1 Firmware Upgrade Image",
                                        "sha256": hashlib.sha256(data).hexdigest()})
            t0 = time.monotonic()
            with Conn(s.api, timeout=300) as c:
                c.send(format_request("POST", "/api/v1/files?" + q, {
                    "Authorization": "Bearer " + token, "Content-Type": "application/octet-stream"},
                    data, close=True))
                st, _, body = c.read_response(300)
            dt = time.monotonic() - t0
            peak = smp.end()
            assert st == 201, (st, body)
            print("upload %d MiB: %.2f s (%.0f MiB/s); acsd RSS %.1f MiB, peak +%.1f MiB"
                  % (a.mib, dt, a.mib / dt, base / 1024, (peak - base) / 1024))
            n = max(counts)
            pg.psql("INSERT INTO devices (id, oui, serial_number) VALUES ('B-1', 'B', '1')")
            pg.psql("INSERT INTO tasks (device_id, rpc, status) SELECT 'B-1', 'Download', 'sent' "
                    "FROM generate_series(1, %d)" % n)
            auths = []
            for i, tid in enumerate(pg.psql("SELECT id FROM tasks ORDER BY id").split()):
                user, pw = "b%d" % i, "p%d" % i
                ha1 = hashlib.md5(("%s:%s:%s" % (user, REALM, pw)).encode()).hexdigest()
                pg.psql("INSERT INTO file_grants (task_id, file_id, username, ha1, expires_at) "
                        "SELECT %s, id, '%s', '%s', now() + interval '1 hour' FROM files" %
                        (tid, user, ha1))
                auths.append("Basic " + base64.b64encode(("%s:%s" % (user, pw)).encode()).decode())
            for k in counts:
                base = rss_kib(pid)
                smp = Sampler(pid)
                res, lat = [], []
                per = max(1, a.requests // k) if a.range_kib else 1

                def client(i):
                    r = random.Random(i)
                    for _ in range(per):
                        t = time.monotonic()
                        if a.range_kib:
                            off = r.randrange(0, size - (a.range_kib << 10))
                            st, got = get(fport, "/files/bench.bin", auths[i],
                                          (off, off + (a.range_kib << 10) - 1))
                            ok = st == 206 and got == a.range_kib << 10
                        else:
                            st, got = get(fport, "/files/bench.bin", auths[i])
                            ok = st == 200 and got == size
                        lat.append(time.monotonic() - t)
                        res.append(ok)

                ths = [threading.Thread(target=client, args=(i,)) for i in range(k)]
                t0 = time.monotonic()
                for t in ths:
                    t.start()
                for t in ths:
                    t.join()
                dt = time.monotonic() - t0
                peak = smp.end()
                assert all(res), "a download failed"
                if a.range_kib:
                    lat.sort()
                    print("%3d clients, %d KiB ranges: %d requests in %.2f s (%.0f/s), p50 %.1f ms, "
                          "p99 %.1f ms; acsd RSS peak +%.1f MiB" % (
                              k, a.range_kib, len(res), dt, len(res) / dt, lat[len(lat) // 2] * 1e3,
                              lat[int(len(lat) * 0.99)] * 1e3, (peak - base) / 1024))
                else:
                    print("%3d clients x %d MiB: %.2f s, %.0f MiB/s in all, slowest %.2f s; acsd "
                          "RSS peak +%.1f MiB" % (k, a.mib, dt, k * a.mib / dt, max(lat),
                                                   (peak - base) / 1024))


if __name__ == "__main__":
    main()
