#!/usr/bin/env python3
"""Two acsd instances (A and B) on one PostgreSQL and one Redis
(docs/architecture.md, "Several instances"):

1. one lock per device: while A holds a device's session, an Inform of the
   same device on B gets 503 with Retry-After; once A's session ends (its
   lock deleted), B's Inform succeeds;
2. a stalled instance: A takes a device's session (its queued task read),
   is frozen (SIGSTOP) past the lock's expiry, B runs a session of the
   device that answers the task; the CPE's next request reaches A while it
   is still frozen (the bytes wait in the kernel); A resumes (SIGCONT) and
   answers it 503 ("session lock expired") without touching the task: the
   task keeps B's result, devices.session_fence is B's token, the lost lock
   is counted; and the store itself refuses a write under A's stale token
   (acs_fence: SQLSTATE AF001), the guard of writes already in flight;
3. Redis down: a running session finishes, new Informs get 503 with
   Retry-After ("Redis unavailable"); Redis back on its port: sessions
   again, without restarting acsd;
4. signals: a policy push through A's API reaches B by pub/sub (its log
   says so); a connection request sent by A whose task B's session settles
   ends A's wait by a signal (A's log: polled at once), not at its next poll
   (in one of up to 3 tries: A's poll may find the task settled first);
   a task queued through A for a device in session on B goes out in that
   session (without the signal it would wait for the next one).

Exits 0, 1, or 77 (no PostgreSQL or Redis)."""
import http.server
import json
import os
import threading
import signal
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from coordtest import (Acsd, Cpe, Procs, Redis, check, device_id, format_request,  # noqa: E402
                       gpv_response, pgtest, rpc_id, skip_unless_redis, wait_for, wait_ready)
from acstest import acsd_path, clean_env, request, run_tests  # noqa: E402

LOCK_MS = 2000


class Env:
    pg = redis = a = b = None
    token = None


def acsd(name):
    return Acsd(["--pg", Env.pg.dsn, "--files", "off", "--redis", "127.0.0.1:%d" % Env.redis.port,
                 "--instance-id", name, "--redis-lock-ms", str(LOCK_MS),
                 "--log-level", "info"])


def metric(inst, name):
    st, _, body = request(inst.api, "GET", "/metrics", timeout=10)
    check(st == 200, "/metrics: %d" % st)
    for line in body.decode().splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    return -1


def test_one_lock_per_device():
    serial = "LOCK1"
    ca = Cpe(Env.a.cwmp)
    st, _, body = ca.inform(serial)
    check(st == 200 and b"InformResponse" in body, "A: Inform: %d %r" % (st, body[:200]))
    check(Env.redis.cli("EXISTS", "acsd:lock:" + device_id(serial)) == "1", "no lock in Redis")
    val = Env.redis.cli("GET", "acsd:lock:" + device_id(serial))
    check(val.endswith(" A") and int(val.split()[0]) > 0, "lock value: %r" % val)
    cb = Cpe(Env.b.cwmp)
    st, h, body = cb.inform(serial)
    check(st == 503 and h.get("retry-after") and b"another instance" in body,
          "B while A holds the device: %d %r %r" % (st, h, body[:200]))
    cb.close()
    check(metric(Env.b, "acsd_session_locks_busy_total") == 1, "B's refusal not counted")
    check(metric(Env.b, 'acsd_sessions_rejected_total{reason="locked_elsewhere"}') == 1,
          "B's 503 not counted by reason")
    st, _, _ = ca.post()
    check(st == 204, "A: the end of the session: %d" % st)
    ca.close()
    wait_for("the lock deleted", lambda: Env.redis.cli(
        "EXISTS", "acsd:lock:" + device_id(serial)) == "0", 5)
    cb = Cpe(Env.b.cwmp)
    st, _, body = cb.inform(serial)
    check(st == 200, "B after A's session: %d %r" % (st, body[:200]))
    val2 = Env.redis.cli("GET", "acsd:lock:" + device_id(serial))
    check(val2.endswith(" B") and int(val2.split()[0]) > int(val.split()[0]),
          "B's token is not above A's: %r then %r" % (val, val2))
    st, _, _ = cb.post()
    check(st == 204, "B: end: %d" % st)
    cb.close()
    fence = Env.pg.psql("SELECT session_fence FROM devices WHERE id = '%s'" % device_id(serial))
    check(fence.strip() == val2.split()[0], "session_fence %r, B's token %r" % (fence, val2))


def test_stale_fence_refused():
    serial = "FENCE1"
    dev = device_id(serial)
    # the device exists (a first session on B), then a task waits for it
    cb = Cpe(Env.b.cwmp)
    check(cb.inform(serial)[0] == 200, "first session")
    check(cb.post()[0] == 204, "first session's end")
    cb.close()
    Env.pg.psql("INSERT INTO tasks (device_id, rpc, args) VALUES ('%s', 'GetParameterValues', "
                "'{\"ParameterNames\": [\"Device.DeviceInfo.UpTime\"]}')" % dev)
    ca = Cpe(Env.a.cwmp)
    st, _, _ = ca.inform(serial)  # A's session holds the lock, the task read
    check(st == 200, "A: Inform: %d" % st)
    token_a = int(Env.redis.cli("GET", "acsd:lock:" + dev).split()[0])
    Env.a.proc.send_signal(signal.SIGSTOP)
    try:
        wait_for("A's lock to expire", lambda: Env.redis.cli("EXISTS", "acsd:lock:" + dev) == "0",
                 LOCK_MS / 1000 + 5)
        cb = Cpe(Env.b.cwmp)
        check(cb.inform(serial)[0] == 200, "B: Inform after A's lock expired")
        st, _, body = cb.post()
        check(st == 200 and b"GetParameterValues" in body, "B: the task: %d %r" % (st, body[:300]))
        st, _, _ = cb.post(gpv_response(rpc_id(body), "Device.DeviceInfo.UpTime", "4242"))
        check(st == 204, "B: the end after the answer: %d" % st)
        cb.close()
        token_b = int(Env.pg.psql("SELECT session_fence FROM devices WHERE id = '%s'" % dev))
        check(token_b > token_a, "session_fence %d not above A's token %d" % (token_b, token_a))
        # the CPE's next request of A's session, read once A runs again
        h = {"Content-Type": "text/xml", "Cookie": ca.cookie}
        ca.c.send(format_request("POST", "/", h, b""))
        time.sleep(0.2)
    finally:
        Env.a.proc.send_signal(signal.SIGCONT)
    # A must not go on with a session whose lock expired: no RPC, no write
    st, _, body = ca.c.read_response(ca.timeout)
    check(st == 503 and b"session lock expired" in body,
          "A after resuming: %d %r" % (st, body[:300]))
    ca.close()
    row = Env.pg.psql("SELECT status, result::text FROM tasks WHERE device_id = '%s'" % dev)
    check(row.startswith("done|") and "4242" in row, "the task was overwritten: %r" % row)
    wait_for("A's log", lambda: "session lock expired" in Env.a.log(), 5)
    fence = int(Env.pg.psql("SELECT session_fence FROM devices WHERE id = '%s'" % dev))
    check(fence == token_b, "session_fence moved: %d, B's %d" % (fence, token_b))
    check(metric(Env.a, "acsd_session_locks_lost_total") >= 1, "the lost lock not counted")
    # the store's own guard, for a write A had sent before it stalled
    p = subprocess.run(["psql", Env.pg.dsn, "-v", "ON_ERROR_STOP=1", "-tAc",
                        "SELECT acs_fence('%s', %d)" % (dev, token_a)],
                       capture_output=True, env=clean_env(), timeout=20)
    err = p.stderr.decode()
    check(p.returncode != 0 and "stale session fence" in err,
          "a write under A's stale token: %d %r" % (p.returncode, err))
    p = subprocess.run(["psql", Env.pg.dsn, "-v", "ON_ERROR_STOP=1", "-tAc",
                        "SELECT acs_fence('%s', %d)" % (dev, token_b)],
                       capture_output=True, env=clean_env(), timeout=20)
    check(p.returncode == 0, "a write under B's token: %r" % p.stderr.decode())


def test_redis_down():
    serial = "DOWN1"
    ca = Cpe(Env.a.cwmp)
    check(ca.inform(serial)[0] == 200, "Inform before Redis goes")
    Env.redis.kill()
    try:
        def refused():
            c = Cpe(Env.b.cwmp)
            st, h, body = c.inform("DOWN2")
            c.close()
            return st == 503 and h.get("retry-after") and b"Redis unavailable" in body
        wait_for("503 while Redis is down", refused, 5)
        st, _, _ = ca.post()  # the running session finishes
        check(st == 204, "a running session while Redis is down: %d" % st)
        ca.close()
        c = Cpe(Env.a.cwmp)
        st, _, body = c.inform("DOWN3")
        c.close()
        check(st == 503 and b"Redis unavailable" in body, "A: new session: %d %r" % (st, body))
    finally:
        marks = (len(Env.a.log()), len(Env.b.log()))
        Env.redis.start()
    # every connection of both instances back (2 workers each, and worker
    # 0's subscriber): signals are fire and forget, sent only when up
    for inst, mark in zip((Env.a, Env.b), marks):
        wait_for("reconnected", lambda: inst.log()[mark:].count("commands connection up") >= 2
                 and "signals connection up" in inst.log()[mark:], 10)

    def served():
        c = Cpe(Env.b.cwmp)
        st, _, _ = c.inform("DOWN4")
        if st == 200:
            c.post()
        c.close()
        return st == 200
    wait_for("sessions again once Redis is back", served, 10)


def test_reload_signal():
    files = {}  # a tree without policies: a new generation all the same
    t0 = time.monotonic()
    st, _, body = request(Env.a.api, "POST", "/api/v1/policies",
                          {"Authorization": "Bearer " + Env.token,
                           "Content-Type": "application/json"},
                          json.dumps({"files": files, "source": "coord test"}), timeout=15)
    check(st in (200, 201), "push: %d %r" % (st, body[:300]))
    wait_for("B hears the reload", lambda: "policy reload signalled by instance A" in Env.b.log(),
             5)
    check(time.monotonic() - t0 < 5, "slow")


def api(inst, method, path, body=None):
    h = {"Authorization": "Bearer " + Env.token}
    data = b""
    if body is not None:
        h["Content-Type"] = "application/json"
        data = json.dumps(body)
    st, _, text = request(inst.api, method, path, h, data, timeout=20)
    return st, json.loads(text) if text else None


def test_connreq_result_signal():
    serial = "CRSIG1"
    dev = device_id(serial)
    c = Cpe(Env.b.cwmp)
    check(c.inform(serial)[0] == 200 and c.post()[0] == 204, "first session")
    c.close()
    errors = []

    def cpe_session():  # the device, woken, runs its session on B
        try:
            c = Cpe(Env.b.cwmp)
            check(c.inform(serial)[0] == 200, "Inform after the connection request")
            st, _, body = c.post()
            check(st == 200 and b"GetParameterValues" in body, "the task: %d %r" % (st, body[:200]))
            st, _, _ = c.post(gpv_response(rpc_id(body), "Device.DeviceInfo.UpTime", "99"))
            check(st == 204, "end: %d" % st)
            c.close()
        except Exception as e:
            errors.append(e)

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()
            threading.Thread(target=cpe_session).start()

        def log_message(self, *a):
            pass

    srv = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        Env.pg.psql("UPDATE devices SET connection_request_url = 'http://127.0.0.1:%d/' "
                    "WHERE id = '%s'" % (srv.server_address[1], dev))
        check(api(Env.a, "PUT", "/api/v1/system/log", {"level": "debug"})[0] == 200, "log level")
        # A's own poll (every 100-500 ms) may find the task settled in the few
        # ms between B's commit and its signal's arrival, and end the wait
        # first: a race the signal cannot win every time, so up to 3 tries,
        # of which one must end by the signal
        heard = False
        for _ in range(3):
            st, task = api(Env.a, "POST",
                           "/api/v1/devices/%s/tasks?connection_request=true&timeout=10" % dev,
                           {"rpc": "GetParameterValues",
                            "args": {"ParameterNames": ["Device.DeviceInfo.UpTime"]}})
            check(not errors, "the CPE's session: %s" % errors)
            check(st == 200 and task["status"] == "done", "the wait: %d %r" % (st, task))
            heard = "task %d settled elsewhere: polled at once" % task["id"] in Env.a.log()
            if heard:
                break
        check(heard, "A's wait did not hear B's signal (3 tries)")
    finally:
        srv.shutdown()
        api(Env.a, "PUT", "/api/v1/system/log", {"level": "info"})


def test_task_queued_elsewhere():
    serial = "QUEUE1"
    dev = device_id(serial)
    c = Cpe(Env.b.cwmp)
    check(c.inform(serial)[0] == 200, "B: Inform")  # the session read no task
    try:
        check(api(Env.b, "PUT", "/api/v1/system/log", {"level": "debug"})[0] == 200, "log level")
        st, task = api(Env.a, "POST", "/api/v1/devices/%s/tasks" % dev,
                       {"rpc": "GetParameterValues",
                        "args": {"ParameterNames": ["Device.DeviceInfo.UpTime"]}})
        check(st == 201, "task through A: %d %r" % (st, task))
        wait_for("B's session hears of it",
                 lambda: "a task was queued during the session" in Env.b.log(), 5)
    finally:
        api(Env.b, "PUT", "/api/v1/system/log", {"level": "info"})
    st, _, body = c.post()
    check(st == 200 and b"GetParameterValues" in body, "the new task in the same session: %d %r"
          % (st, body[:200]))
    st, _, _ = c.post(gpv_response(rpc_id(body), "Device.DeviceInfo.UpTime", "5"))
    check(st == 204, "end: %d" % st)
    c.close()
    row = Env.pg.psql("SELECT status FROM tasks WHERE id = %d" % task["id"])
    check(row.strip() == "done", "task: %r" % row)


def test_bad_redis_settings():
    for args, needle in ((["--redis", "nonsense"], "redis: invalid address 'nonsense'"),
                         (["--redis", "127.0.0.1:1", "--redis-sentinels", "127.0.0.1:2"],
                          "redis and redis-sentinels: configure one of them"),
                         (["--redis-sentinels", "127.0.0.1:1,x"], "redis-sentinels: invalid list"),
                         (["--redis", "127.0.0.1:1", "--redis-lock-ms", "5"], "redis-lock-ms"),
                         (["--proxy-protocol", "v2"], "expected on or off")):
        p = subprocess.run([acsd_path(), "--cwmp", "off", "--api", "off", "--files", "off"] + args,
                           capture_output=True, env=clean_env(), timeout=20)
        out = (p.stdout + p.stderr).decode()
        check(p.returncode != 0 and needle in out, "%s: %d %r" % (args, p.returncode, out[-500:]))


def main():
    pgtest.skip_unless_available()
    skip_unless_redis()
    procs = Procs()
    with tempfile.TemporaryDirectory(prefix="acs-coord-") as tmp:
        with pgtest.PgCluster(fast=True) as pg:
            Env.pg = pg
            try:
                Env.redis = procs.add(Redis(tmp, "redis"))
                p = subprocess.run([acsd_path(), "token", "create", "--role", "admin", "--pg",
                                    pg.dsn], capture_output=True, env=clean_env(), timeout=60)
                check(p.returncode == 0, "token: %s" % p.stderr.decode())
                Env.token = p.stdout.decode().strip()
                with acsd("A") as a, acsd("B") as b:
                    Env.a, Env.b = a, b
                    wait_ready(a)
                    wait_ready(b)
                    run_tests([test_one_lock_per_device, test_stale_fence_refused,
                               test_redis_down, test_reload_signal,
                               test_connreq_result_signal, test_task_queued_elsewhere,
                               test_bad_redis_settings],
                              [("acsd A", a), ("acsd B", b)], tail=4000)
                    for x in (a, b):
                        x.signal()
                        rc, _ = x.wait_exit(20)
                        x.check_clean_exit(rc)
            finally:
                procs.close()
    print("ok", flush=True)
    sys.exit(0)


if __name__ == "__main__":
    main()
