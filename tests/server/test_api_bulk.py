#!/usr/bin/env python3
"""Bulk actions through the API (issue 6): POST /api/v1/bulk and its
validation (the device query's parser and the task route's checks: 400 with
what is wrong, 415, nothing stored), roles, the list (newest first, pages,
?status=), progress {total, pending, done, failed} as the tasks end, the
state machine (pause, resume, cancel; 409 on every other transition; cancel
also cancels the tasks not yet sent), audit records; the runner: the rate
(never faster), exactly one task per matching device and none for the
others, pause stopping creation at once, the window by the engine's clock
(ACS_CLOCK_OFFSET_MS moves it), a kill -9 in the middle of an expansion
resumed without a second task for any device, and one instance at a time
(two acsd on one store: the rate holds cluster-wide; the other takes over
when the holder dies). Every answer is checked against api/openapi.yaml
with test_api_queries.py's checker."""
import json
import os
import signal
import sys
import time
import urllib.parse

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "lib"))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
sys.path.insert(0, HERE)
import pgtest  # noqa: E402
from acstest import Acsd, Fail, run_tests, create_tokens  # noqa: E402
import test_api_queries as qa  # noqa: E402  (the OpenAPI checker and request helpers)
from test_api_queries import Env, check, expect_error, ok, psql  # noqa: E402

N = 120  # devices BK-X-S0001 .. S0120; every third is tagged lab
INSTANCE = "bulk-test-a"


def serial(i):
    return "S%04d" % i


def devid(i):
    return "BK-X-" + serial(i)


def lab(i):
    return i % 3 == 0


def wait_for(what, cond, timeout=15.0, step=0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = cond()
        if v:
            return v
        time.sleep(step)
    raise Fail("timed out waiting for " + what)


def count(sql):
    return int(psql(sql))


def bulk_tasks(bid, status=None):
    return count("SELECT count(*) FROM tasks WHERE bulk_id = %d%s" % (
        bid, " AND status = '%s'" % status if status else ""))


def create(body, role="operator"):
    h, b = ok("POST", "/api/v1/bulk", role, body, status=201)
    check(h.get("location") == "/api/v1/bulk/%d" % b["id"], "Location %r" % h.get("location"))
    return b


def get(bid):
    return ok("GET", "/api/v1/bulk/%d" % bid, "readonly")[1]


def per_second_max(bid):
    """The most tasks of the bulk created within any one second, and the
    time from the first to the last."""
    ts = [float(x) for x in psql("SELECT extract(epoch FROM created_at) FROM tasks WHERE bulk_id "
                                 "= %d ORDER BY created_at" % bid).split()]
    best, j = 0, 0
    for i in range(len(ts)):
        while ts[i] - ts[j] >= 1.0:
            j += 1
        best = max(best, i - j + 1)
    return best, (ts[-1] - ts[0]) if ts else 0.0


def start_acsd(instance=INSTANCE, offset_ms=None):
    env = {"ACS_CLOCK_OFFSET_MS": str(offset_ms)} if offset_ms is not None else None
    s = Acsd(["--pg", Env.pg.dsn, "--log-level", "info", "--instance-id", instance], env=env)
    s.wait_ready()
    return s


def stop_acsd(kill):
    if kill:
        Env.acsd.proc.send_signal(signal.SIGKILL)
        Env.acsd.proc.wait()
    else:
        Env.acsd.signal(signal.SIGTERM)
        rc, _ = Env.acsd.wait_exit(20)
        Env.acsd.check_clean_exit(rc)
    Env.acsd.logf.close()


# --- the tests

def test_validation():
    good = {"query": "tag = lab", "task": {"rpc": "Reboot"}, "rate": 5}
    b0, a0 = count("SELECT count(*) FROM bulk_actions"), count("SELECT count(*) FROM audit_log")
    spv_bad = {"rpc": "SetParameterValues", "args": {"ParameterList": [{"Name": "A.B", "Valu": 1}]}}
    cases = [
        ({"task": {"rpc": "Reboot"}, "rate": 5}, "query"),
        (dict(good, query=""), "query"),
        (dict(good, query=5), "query"),
        (dict(good, query="oui = 1 oui = 2"), "query: at 9:"),
        (dict(good, query="tag > a"), "tag takes"),
        (dict(good, query="(oui = 1"), "expected ')'"),
        ({"query": "tag = lab", "rate": 5}, "task"),
        (dict(good, task="Reboot"), "task"),
        (dict(good, task={"rpc": "Reboot", "expires_in": 5}), "task: unknown key 'expires_in'"),
        (dict(good, task={"rpc": "Inform"}), "task.rpc: 'Inform'"),
        (dict(good, task={"rpc": 7}), "task.rpc"),
        (dict(good, task={"args": {}}), "task.rpc"),
        (dict(good, task={"rpc": "Reboot", "args": []}), "task.args"),
        (dict(good, task=spv_bad), "Valu"),
        (dict(good, task={"rpc": "Reboot", "args": {"CommandKey": 7}}), "CommandKey"),
        ({"query": "tag = lab", "task": {"rpc": "Reboot"}}, "rate"),
        (dict(good, rate=0), "rate"),
        (dict(good, rate=-1), "rate"),
        (dict(good, rate=10001), "rate"),
        (dict(good, rate="5"), "rate"),
        (dict(good, rate=True), "rate"),
        (dict(good, window={"start": "22:00"}), "window"),
        (dict(good, window={"start": "22:00", "end": "24:00"}), "window"),
        (dict(good, window={"start": "22:00", "end": "6:00"}), "window"),
        (dict(good, window={"start": "22:00", "end": "06:60"}), "window"),
        (dict(good, window={"start": "22:00", "end": "06:00", "tz": "CET"}), "window"),
        (dict(good, window="22:00-06:00"), "window"),
        (dict(good, window={"start": "02:00", "end": "02:00"}), "same time"),
        (dict(good, connection_request="yes"), "connection_request"),
        (dict(good, expires_in=0), "expires_in"),
        (dict(good, expires_in="60"), "expires_in"),
        (dict(good, priority=1), "unknown key 'priority'"),
        ([good], "object"),
    ]
    for body, word in cases:
        expect_error("POST", "/api/v1/bulk", 400, "operator", body, contains=word)
    for raw in ('{"query": "tag = lab"', "", '{"query": "a", "query": "b"}'):
        expect_error("POST", "/api/v1/bulk", 400, "operator", raw, contains="JSON")
    expect_error("POST", "/api/v1/bulk", 415, "operator", good, ctype="text/plain")
    expect_error("POST", "/api/v1/bulk", 415, "operator", good, ctype=None)
    check(count("SELECT count(*) FROM bulk_actions") == b0, "refused POSTs stored bulk actions")
    check(count("SELECT count(*) FROM audit_log") == a0, "refused POSTs wrote audit rows")


def test_roles_and_404():
    body = {"query": "serial_number = NONE", "task": {"rpc": "Reboot"}, "rate": 1}
    for m, p, b, need in (("GET", "/api/v1/bulk", None, "readonly"),
                          ("POST", "/api/v1/bulk", body, "operator"),
                          ("GET", "/api/v1/bulk/999999", None, "readonly"),
                          ("POST", "/api/v1/bulk/999999/pause", None, "operator"),
                          ("POST", "/api/v1/bulk/999999/resume", None, "operator"),
                          ("POST", "/api/v1/bulk/999999/cancel", None, "operator")):
        st, _, _ = qa.api(m, p, None, b)
        check(st == 401, "%s %s without a token: %d" % (m, p, st))
        if need == "operator":
            expect_error(m, p, 403, "readonly", b, contains="needs operator")
    for p in ("/api/v1/bulk/999999", "/api/v1/bulk/999999/pause", "/api/v1/bulk/999999/resume",
              "/api/v1/bulk/999999/cancel"):
        expect_error("GET" if p.count("/") == 4 else "POST", p, 404, "operator", contains="999999")
    for p in ("/api/v1/bulk/abc", "/api/v1/bulk/1/start", "/api/v1/bulk/1/pause/x", "/api/v1/bulks"):
        expect_error("GET", p, 404, "admin")
    for m, p in (("DELETE", "/api/v1/bulk"), ("DELETE", "/api/v1/bulk/1"), ("GET", "/api/v1/bulk/1/cancel")):
        st, h, _ = qa.api(m, p, "admin")
        check(st == 405 and h.get("allow"), "%s %s: %d %r" % (m, p, st, h))


def test_expansion_and_progress():
    """Every lab device gets one task, no other device any; progress follows
    the tasks to done."""
    want = {devid(i) for i in range(1, N + 1) if lab(i)}
    args = {"ParameterList": [{"Name": "Device.X.Y", "Value": "1", "Type": "xsd:string"}],
            "ParameterKey": "bulk-1"}
    b = create({"query": "tag = lab", "task": {"rpc": "SetParameterValues", "args": args},
                "rate": 1000, "expires_in": 3600, "connection_request": True})
    check(b["status"] == "running" and b["query"] == "tag = lab" and b["rate"] == 1000 and
          b["task"] == {"rpc": "SetParameterValues", "args": args} and b["window"] is None and
          b["connection_request"] is True and b["expires_in"] == 3600 and
          b["created_by"] == "op" and b["finished_at"] is None, "created %r" % b)
    check(b["progress"] == {"total": len(want), "pending": len(want), "done": 0, "failed": 0},
          "progress at creation %r" % b["progress"])
    row = psql("SELECT actor, target, detail->>'query', detail->>'rpc', detail->>'devices_matched' "
               "FROM audit_log WHERE action = 'bulk.create' ORDER BY id DESC LIMIT 1")
    check(row == "op|%d|tag = lab|SetParameterValues|%d" % (b["id"], len(want)), "audit %r" % row)
    bid = b["id"]
    wait_for("the bulk's tasks", lambda: bulk_tasks(bid) == len(want))
    got = set(psql("SELECT device_id FROM tasks WHERE bulk_id = %d" % bid).split())
    check(got == want, "tasks for %d devices, %d expected; extra %r" % (
        len(got), len(want), sorted(got - want)[:3]))
    row = psql("SELECT count(*), count(DISTINCT device_id), min(rpc), min(args::text) = max(args::text), "
               "bool_and(expires_at - created_at = interval '1 hour'), min(created_by) FROM tasks "
               "WHERE bulk_id = %d" % bid)
    check(row == "%d|%d|SetParameterValues|t|t|op" % (len(want), len(want)), "task rows %r" % row)
    time.sleep(0.5)
    check(bulk_tasks(bid) == len(want), "tasks made after the expansion ended")
    check(get(bid)["progress"] == {"total": len(want), "pending": len(want), "done": 0, "failed": 0},
          "progress with every task pending")
    # the tasks end as sessions would end them
    ids = [int(x) for x in psql("SELECT id FROM tasks WHERE bulk_id = %d ORDER BY id" % bid).split()]
    psql("UPDATE tasks SET status = 'done' WHERE id IN (%s)" % ",".join(map(str, ids[:20])))
    psql("UPDATE tasks SET status = 'fault', fault_code = 9005 WHERE id IN (%s)" % ",".join(map(str, ids[20:23])))
    psql("UPDATE tasks SET status = 'expired' WHERE id = %d" % ids[23])
    psql("UPDATE tasks SET status = 'sent' WHERE id = %d" % ids[24])
    p = get(bid)["progress"]
    check(p == {"total": len(want), "pending": len(want) - 24, "done": 20, "failed": 4}, "progress %r" % p)
    check(get(bid)["status"] == "running", "running while tasks are open")
    psql("UPDATE tasks SET status = 'done' WHERE bulk_id = %d AND status IN ('pending', 'sent')" % bid)
    wait_for("status done", lambda: get(bid)["status"] == "done")
    b = get(bid)
    check(b["finished_at"] is not None and b["progress"] == {
        "total": len(want), "pending": 0, "done": len(want) - 4, "failed": 4}, "done %r" % b)
    for op in ("pause", "resume", "cancel"):
        expect_error("POST", "/api/v1/bulk/%d/%s" % (bid, op), 409, "operator", contains="is done")
    # each task asked its device to connect (these devices have no URL: the
    # failure is recorded on the task, as for the task API)
    wait_for("the connection requests recorded", lambda: psql(
        "SELECT count(*) FROM tasks WHERE bulk_id = %d AND result->'connection_request'->>'status'"
        " = 'failed'" % bid) == str(len(want)))
    Env.done_bulk = bid


def test_tags():
    """Bulk tag/untag (issue 15): the tags of every device the query matches
    (a regular expression here) change, none elsewhere; removing wins over
    adding; progress counts the devices reached; each change is audited with
    the bulk's id; the rate holds; bad bodies are 400 and store nothing."""
    b0 = count("SELECT count(*) FROM bulk_actions")
    for body, word in (
            ({"query": "tag = lab", "tags": {"add": ["x"]}, "task": {"rpc": "Reboot"}, "rate": 1},
             "not both"),
            ({"query": "tag = lab", "tags": ["x"]}, "tags"),
            ({"query": "tag = lab", "tags": {}}, "nothing to add"),
            ({"query": "tag = lab", "tags": {"add": [""]}}, "tags.add[0]"),
            ({"query": "tag = lab", "tags": {"remove": "x"}}, "tags.remove"),
            ({"query": "tag = lab", "tags": {"put": ["x"]}}, "unknown key 'put'"),
            ({"query": "tag = lab", "tags": {"add": ["x"]}, "connection_request": True}, "no task"),
            ({"query": "tag = lab", "tags": {"add": ["x"]}, "expires_in": 60}, "no task"),
            ({"query": "serial_number = S00*", "tags": {"add": ["x"]}}, "wildcard")):
        expect_error("POST", "/api/v1/bulk", 400, "operator", body, contains=word)
    check(count("SELECT count(*) FROM bulk_actions") == b0, "refused tag actions were stored")
    psql("UPDATE devices SET tags = tags || '{old}' WHERE serial_number BETWEEN 'S0010' AND 'S0015'")
    want = {devid(i) for i in range(10, 30)}
    b = create({"query": "serial_number MATCHES '^S00[12]'",
                "tags": {"add": ["wave-1", "eu", "old"], "remove": ["old"]}, "rate": 10})
    bid = b["id"]
    check(b["task"] is None and b["tags"] == {"add": ["wave-1", "eu", "old"], "remove": ["old"]} and
          b["progress"] == {"total": 20, "pending": 20, "done": 0, "failed": 0}, "created %r" % b)
    wait_for("the tag action done", lambda: get(bid)["status"] == "done", 20)
    b = get(bid)
    check(b["progress"] == {"total": 20, "pending": 0, "done": 20, "failed": 0}, "progress %r" % b)
    check(bulk_tasks(bid) == 0, "a tag action made tasks")
    got = set(psql("SELECT id FROM devices WHERE 'wave-1' = ANY(tags) AND 'eu' = ANY(tags)").split())
    check(got == want, "tagged %r" % sorted(got ^ want)[:4])
    check(count("SELECT count(*) FROM devices WHERE 'old' = ANY(tags)") == 0, "'old' not removed")
    labs = count("SELECT count(*) FROM devices WHERE 'lab' = ANY(tags)")
    check(labs == len([i for i in range(1, N + 1) if lab(i)]), "lab tags changed: %d" % labs)
    row = psql("SELECT count(*), count(DISTINCT target), min(actor) FROM audit_log WHERE action = "
               "'device.tags' AND (detail->>'bulk_id')::bigint = %d" % bid)
    check(row == "20|20|op", "per-device audit rows %r" % row)
    row = psql("SELECT detail->'args'->>'add' FROM audit_log WHERE action = 'bulk.create' AND "
               "target = '%d'" % bid)
    check(row == '["wave-1", "eu", "old"]', "the bulk's audit row %r" % row)
    span = float(psql("SELECT extract(epoch FROM max(at) - min(at)) FROM audit_log WHERE action = "
                      "'device.tags' AND (detail->>'bulk_id')::bigint = %d" % bid))
    check(span >= (20 - 4) / 10.0 - 0.3, "20 devices tagged in %.2f s at 10/s" % span)
    # the same again changes nothing, and says so in no audit row
    b2 = create({"query": "serial_number MATCHES '^S00[12]'", "tags": {"add": ["eu"]}})
    wait_for("the second tag action done", lambda: get(b2["id"])["status"] == "done", 20)
    check(get(b2["id"])["rate"] == 1000 and count(
        "SELECT count(*) FROM audit_log WHERE action = 'device.tags' AND (detail->>'bulk_id')::bigint"
        " = %d" % b2["id"]) == 0, "an idempotent tag action was audited per device")
    Env.tag_bulks = [bid, b2["id"]]


def test_rate():
    """Never faster than the rate: 66 devices at 30/s take at least ~2 s."""
    b = create({"query": "serial_number ~= S00 AND NOT tag = lab", "task": {"rpc": "Reboot"},
                "rate": 30})
    n = b["progress"]["total"]
    check(n == len([i for i in range(1, 100) if not lab(i)]), "matched %d" % n)
    wait_for("the rate bulk's tasks", lambda: bulk_tasks(b["id"]) == n, 30)
    most, span = per_second_max(b["id"])
    # the bucket holds a quarter second of the rate, and the store's transaction
    # times lag the runner's clock by up to another quarter second or so
    check(most <= 30 * 1.5 + 2, "%d tasks within one second at 30/s" % most)
    check(span >= (n - 8) / 30.0 - 0.3, "%d tasks over %.2f s at 30/s" % (n, span))
    Env.rate_bulk = b["id"]


def test_state_machine():
    b = create({"query": "serial_number ~= S0", "task": {"rpc": "Reboot"}, "rate": 8})
    bid, total = b["id"], b["progress"]["total"]
    wait_for("some tasks", lambda: bulk_tasks(bid) >= 4)
    _, p = ok("POST", "/api/v1/bulk/%d/pause" % bid, "operator")
    check(p["status"] == "paused", "paused %r" % p)
    n1 = bulk_tasks(bid)
    check(p["progress"]["total"] == total and p["progress"]["pending"] == total,
          "progress when paused %r" % p["progress"])
    expect_error("POST", "/api/v1/bulk/%d/pause" % bid, 409, "operator", contains="is paused")
    time.sleep(1.5)
    check(bulk_tasks(bid) == n1, "tasks made while paused: %d -> %d" % (n1, bulk_tasks(bid)))
    _, p = ok("POST", "/api/v1/bulk/%d/resume" % bid, "operator")
    check(p["status"] == "running", "resumed %r" % p)
    expect_error("POST", "/api/v1/bulk/%d/resume" % bid, 409, "operator", contains="is running")
    wait_for("tasks after resume", lambda: bulk_tasks(bid) >= n1 + 4, 10)
    psql("UPDATE tasks SET status = 'sent' WHERE id = (SELECT min(id) FROM tasks WHERE bulk_id = %d)" % bid)
    psql("UPDATE tasks SET status = 'done' WHERE id = (SELECT max(id) FROM tasks WHERE bulk_id = %d)" % bid)
    _, p = ok("POST", "/api/v1/bulk/%d/cancel" % bid, "operator")
    made = bulk_tasks(bid)
    check(p["status"] == "cancelled" and p["finished_at"] is not None, "cancelled %r" % p)
    check(bulk_tasks(bid, "pending") == 0 and bulk_tasks(bid, "cancelled") == made - 2,
          "tasks after cancel: %s" % psql("SELECT status, count(*) FROM tasks WHERE bulk_id = %d "
                                          "GROUP BY status" % bid))
    check(made < total, "the test needs a cancel before the end (%d of %d)" % (made, total))
    check(p["progress"] == {"total": total, "pending": 1, "done": 1, "failed": total - 2},
          "progress after cancel %r (sent 1, done 1, the rest cancelled or never reached)" % p["progress"])
    time.sleep(1.0)
    check(bulk_tasks(bid) == made, "tasks made after cancel")
    for op in ("pause", "resume", "cancel"):
        expect_error("POST", "/api/v1/bulk/%d/%s" % (bid, op), 409, "operator", contains="is cancelled")
    rows = psql("SELECT action, detail->'before'->>'status', detail->'after'->>'status', actor FROM "
                "audit_log WHERE target = '%d' AND action LIKE 'bulk.%%' ORDER BY id" % bid).splitlines()
    check(rows == ["bulk.create|||op", "bulk.pause|running|paused|op", "bulk.resume|paused|running|op",
                   "bulk.cancel|running|cancelled|op"], "audit %r" % rows)
    Env.cancelled_bulk = bid


def test_list():
    items, total = qa.all_pages("/api/v1/bulk", limit=1)
    ids = [x["id"] for x in items]
    check(ids == sorted(ids, reverse=True) and len(ids) == count("SELECT count(*) FROM bulk_actions")
          and total == str(len(ids)), "list %r total %r" % (ids, total))
    items, _ = qa.all_pages("/api/v1/bulk?status=cancelled,done")
    check({x["id"] for x in items} == {Env.cancelled_bulk, Env.done_bulk} | set(Env.tag_bulks),
          "status filter %r" % items)
    items, _ = qa.all_pages("/api/v1/bulk?status=running")
    check([x["id"] for x in items] == [Env.rate_bulk], "running %r" % items)
    for bad in ("status=nope", "status=", "cursor=" + qa.cursor_for("t", "5"), "cursor=" + qa.cursor_for("b", "x"),
                "limit=0"):
        expect_error("GET", "/api/v1/bulk?" + bad, 400, "readonly")


def test_window_and_restart():
    """A window by the engine's clock; a kill -9 mid-expansion resumes
    exactly where it stopped."""
    now_min = int(time.time() // 60) % 1440
    start, end = (now_min + 120) % 1440, (now_min + 180) % 1440
    hm = lambda m: "%02d:%02d" % (m // 60, m % 60)  # noqa: E731
    w = create({"query": "serial_number ~= S01", "task": {"rpc": "Reboot"}, "rate": 50,
                "window": {"start": hm(start), "end": hm(end)}})
    check(w["window"] == {"start": hm(start), "end": hm(end)}, "window %r" % w["window"])
    r = create({"query": "serial_number ~= S00", "task": {"rpc": "GetRPCMethods"}, "rate": 25})
    wait_for("a few tasks", lambda: bulk_tasks(r["id"]) >= 10)
    check(bulk_tasks(w["id"]) == 0, "tasks made outside the window")
    stop_acsd(kill=True)  # kill -9 in the middle of the expansion
    before = bulk_tasks(r["id"])
    Env.acsd = start_acsd()
    time.sleep(1.0)
    check(bulk_tasks(w["id"]) == 0, "tasks made outside the window after a restart")
    wait_for("the restarted expansion", lambda: bulk_tasks(r["id"]) == r["progress"]["total"], 30)
    row = psql("SELECT count(*), count(DISTINCT device_id) FROM tasks WHERE bulk_id = %d" % r["id"])
    check(row == "%d|%d" % (r["progress"]["total"], r["progress"]["total"]) and before < r["progress"]["total"],
          "after the restart: %s (before %d)" % (row, before))
    check(psql("SELECT tasks_created FROM bulk_actions WHERE id = %d" % r["id"]) == str(r["progress"]["total"]),
          "tasks_created")
    # the engine's clock moved into the window: the windowed bulk runs
    stop_acsd(kill=False)
    Env.acsd = start_acsd(offset_ms=121 * 60 * 1000)
    wait_for("tasks inside the window", lambda: bulk_tasks(w["id"]) == w["progress"]["total"], 20)


def test_one_instance_at_a_time():
    holder = psql("SELECT holder FROM job_leases WHERE job = 'bulk-actions'")
    check(holder == INSTANCE, "lease holder %r" % holder)
    with Acsd(["--pg", Env.pg.dsn, "--log-level", "info", "--instance-id", "bulk-test-b"]) as other:
        other.wait_ready()
        b = create({"query": "serial_number ~= S0 AND tag = lab", "task": {"rpc": "FactoryReset"},
                    "rate": 12})
        n = b["progress"]["total"]
        wait_for("most of the tasks", lambda: bulk_tasks(b["id"]) >= 30, 20)
        # made by one instance: the rate holds on average (two would double it)
        made = bulk_tasks(b["id"])
        _, span = per_second_max(b["id"])  # read after: a later task only widens it
        check(made - 1 <= 12 * (span + 0.3) + 3, "%d tasks in %.2f s at 12/s across two instances"
              % (made, span))
        # the holder dies: the other instance takes over when the lease expires
        stop_acsd(kill=True)
        wait_for("the other instance to finish", lambda: bulk_tasks(b["id"]) == n, 40)
        check(psql("SELECT holder FROM job_leases WHERE job = 'bulk-actions'") == "bulk-test-b",
              "lease not taken over")
        row = psql("SELECT count(*), count(DISTINCT device_id) FROM tasks WHERE bulk_id = %d" % b["id"])
        check(row == "%d|%d" % (n, n), "tasks after the take-over %r" % row)
        other.signal(signal.SIGTERM)
        rc, _ = other.wait_exit(20)
        other.check_clean_exit(rc)
    Env.acsd = start_acsd()


def test_clean_shutdown():
    Env.acsd.signal(signal.SIGTERM)
    rc, _ = Env.acsd.wait_exit(20)
    Env.acsd.check_clean_exit(rc)


TESTS = [test_validation, test_roles_and_404, test_expansion_and_progress, test_tags, test_rate,
         test_state_machine, test_list, test_window_and_restart, test_one_instance_at_a_time,
         test_clean_shutdown]


def main():
    pgtest.skip_unless_available()
    Env.openapi = qa.load_openapi()
    with pgtest.PgCluster(fast=True) as pg:
        Env.pg = pg
        Env.tok.update(create_tokens(pg.dsn))
        psql("INSERT INTO devices (id, oui, product_class, serial_number, tags) SELECT 'BK-X-S' || "
             "lpad(i::text, 4, '0'), 'BK', 'X', 'S' || lpad(i::text, 4, '0'), CASE WHEN i %% 3 = 0 THEN "
             "'{lab}'::text[] ELSE '{}' END FROM generate_series(1, %d) i" % N)
        Env.acsd = start_acsd()
        try:
            run_tests(TESTS, [("acsd", Env.acsd)])
        finally:
            Env.acsd.kill()
    print("%d checks passed" % qa.CHECKS, flush=True)
    sys.exit(0)


if __name__ == "__main__":
    main()
