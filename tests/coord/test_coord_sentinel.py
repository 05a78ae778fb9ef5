#!/usr/bin/env python3
"""acsd through Redis Sentinel (docs/architecture.md, "Several instances"):
a master, a replica and three sentinels on loopback, acsd given only the
sentinels (--redis-sentinels):

1. acsd finds the master by asking them: a session's lock is on the master;
2. SENTINEL failover: acsd follows +switch-master and its sessions' locks
   go to the new master;
3. kill -9 of that master: the sentinels promote the other node, acsd asks
   them again and sessions go on (503 meanwhile, never a session without a
   lock).

Exits 0, 1, or 77 (no PostgreSQL or Redis)."""
import os
import sys
import tempfile
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from coordtest import (Acsd, Cpe, Procs, Redis, check, device_id, pgtest,  # noqa: E402
                       skip_unless_redis, wait_for, wait_ready)
from acstest import run_tests  # noqa: E402


class Env:
    pg = acsd = None
    last = None
    nodes = []
    sentinels = []


def master_port():
    for s in Env.sentinels:
        try:
            out = s.cli("SENTINEL", "get-master-addr-by-name", "acsd").split()
            if len(out) == 2:
                return int(out[1])
        except Exception:
            continue
    return None


def node(port):
    return [n for n in Env.nodes if n.port == port][0]


def session_on(serial, master):
    """A session whose lock is on master while it runs."""
    c = Cpe(Env.acsd.cwmp)
    st, _, body = c.inform(serial)
    if st != 200:
        c.close()
        Env.last = "%s: %d %r" % (serial, st, body[:200])
        return False
    held = master.cli("EXISTS", "acsd:lock:" + device_id(serial)) == "1"
    st2, _, _ = c.post()
    c.close()
    check(st2 == 204, "end of session: %d" % st2)
    Env.last = "the lock of %s is not on the master (port %d): %s" % (
        serial, master.port, [(n.port, n.cli("KEYS", "acsd:*"), (n.cli("ROLE").split() or ["down"])[0])
                              for n in Env.nodes])
    check(held, Env.last)
    return True


def test_finds_master():
    m = master_port()
    check(m == Env.nodes[0].port, "sentinels name %r" % m)
    check(session_on("SEN1", node(m)), "a session through the sentinels")


def test_switchover():
    old = master_port()
    check(Env.sentinels[0].cli("SENTINEL", "failover", "acsd") == "OK", "SENTINEL failover")
    seen = []

    def switched():
        p = master_port()
        seen.append(p)
        return p not in (None, old)
    wait_for("the new master", switched, 15)
    new = seen[-1]
    wait_for("acsd hears +switch-master", lambda: "+switch-master" in Env.acsd.log(), 5)
    n = [0]

    def ok():
        n[0] += 1
        return session_on("SEN2N%d" % n[0], node(new))
    wait_for("sessions on the new master", ok, 10, step=0.2, last=lambda: Env.last)
    # what the sentinels do to the old master some seconds later, at once
    node(old).cli("REPLICAOF", "127.0.0.1", new)


def test_master_killed():
    old = master_port()
    Env.last = None
    # the old master must be a replica of the new one before it can take over
    wait_for("a replica in sync", lambda: any(
        "master_link_status:up" in n.cli("INFO", "replication")
        for n in Env.nodes if n.port != old), 15, step=0.2)
    node(old).kill()
    t0 = time.monotonic()
    seen = []

    def promoted():
        p = master_port()
        seen.append(p)
        return p not in (None, old)
    wait_for("the sentinels promote the replica", promoted, 20, step=0.2)
    new = seen[-1]
    n = [0]

    def ok():
        n[0] += 1
        try:
            return session_on("SEN3N%d" % n[0], node(new))
        except Exception as e:
            Env.last = "%s: %s (new %r, nodes %r)" % (type(e).__name__, e, new, [x.port for x in Env.nodes])
            raise
    wait_for("sessions after the master's death", ok, 10, step=0.2, last=lambda: Env.last)
    print("     sessions again %.1f s after kill -9 of the master" % (time.monotonic() - t0))


def main():
    pgtest.skip_unless_available()
    skip_unless_redis()
    procs = Procs()
    with tempfile.TemporaryDirectory(prefix="acs-sentinel-") as tmp:
        with pgtest.PgCluster(fast=True) as pg:
            Env.pg = pg
            try:
                m = procs.add(Redis(tmp, "master"))
                r = procs.add(Redis(tmp, "replica", replicaof=m.port))
                Env.nodes = [m, r]
                wait_for("the replica in sync", lambda: "master_link_status:up" in r.cli(
                    "INFO", "replication"), 15)
                Env.sentinels = [procs.add(Redis(tmp, "sentinel%d" % i, sentinel_of=m.port))
                                 for i in range(3)]
                wait_for("the sentinels know each other", lambda: all(
                    s.cli("SENTINEL", "sentinels", "acsd").count("127.0.0.1") >= 2
                    for s in Env.sentinels), 15, step=0.2)
                sl = ",".join("127.0.0.1:%d" % s.port for s in Env.sentinels)
                with Acsd(["--pg", pg.dsn, "--files", "off", "--redis-sentinels", sl,
                           "--redis-master", "acsd", "--redis-lock-ms", "3000"]) as a:
                    Env.acsd = a
                    wait_ready(a)
                    wait_for("acsd's Redis connection", lambda: "connection up" in a.log(), 5)
                    run_tests([test_finds_master, test_switchover, test_master_killed],
                              [("acsd", a)] + [("redis %d" % n.port, n) for n in Env.nodes] +
                              [("sentinel %d" % s.port, s) for s in Env.sentinels], tail=3000)
                    a.signal()
                    rc, _ = a.wait_exit(20)
                    a.check_clean_exit(rc)
            finally:
                procs.close()
    print("ok", flush=True)
    sys.exit(0)


if __name__ == "__main__":
    main()
