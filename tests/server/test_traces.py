#!/usr/bin/env python3
"""Wire traces (issue 13, point 7) against a real acsd and PostgreSQL: an
operator turns a trace on for one device (or a device query) for N minutes;
every HTTP request and answer of its sessions is kept with its body, the
secrets masked (a SetParameterValues of ConnectionRequestPassword shows
***, never the password); the records stay within the trace's max_bytes
(the oldest go first) and all traces together within the total bound (409
past it); bad bodies are 400, an unknown device 404, a readonly token 403;
starts and stops are audited; a restart of acsd ends the traces not asked to
persist and keeps the others with their records. Every answer is checked
against api/openapi.yaml with test_api_queries.py's checker."""
import json
import os
import signal
import sys
import time

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "lib"))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
sys.path.insert(0, HERE)
import pgtest  # noqa: E402
from acstest import Acsd, run_tests, create_tokens  # noqa: E402
import test_api_queries as qa  # noqa: E402
from test_api_queries import Env, check, expect_error, ok, psql  # noqa: E402

DEV = "00AA11-Box-EXP1"  # test_api_queries.INFORM's device
SECRET = "hunter2-secret"


def trace_path(dev=DEV):
    return qa.dev_path(dev, "/trace")


def start_acsd():
    s = Acsd(["--pg", Env.pg.dsn, "--log-level", "info"], workers=2)
    s.wait_ready()
    return s


def wait_for(what, cond, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = cond()
        if v:
            return v
        time.sleep(0.1)
    raise qa.Fail("timed out waiting for " + what)


def session(empty_posts=1):
    """test_api_queries' Inform and empty POSTs, again while a worker's store
    connection is still coming up (503) just after a start."""
    deadline = time.monotonic() + 10
    while True:
        try:
            return qa.cwmp_session(empty_posts)
        except qa.Fail:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def test_validation():
    session()  # the device exists from now on
    for body, word in (({}, "minutes"), ({"minutes": 0}, "minutes"), ({"minutes": 1441}, "minutes"),
                       ({"minutes": "5"}, "minutes"), ({"minutes": 5, "persist": "yes"}, "persist"),
                       ({"minutes": 5, "max_bytes": 100}, "max_bytes"),
                       ({"minutes": 5, "max_bytes": 5 << 20}, "max_bytes"), ({"minutes": 5, "x": 1}, "unknown key")):
        expect_error("POST", trace_path(), 400, "operator", body, contains=word)
    expect_error("POST", trace_path("NOPE-X-1"), 404, "operator", {"minutes": 5}, contains="NOPE-X-1")
    expect_error("POST", trace_path(), 403, "readonly", {"minutes": 5})
    expect_error("GET", trace_path(), 403, "readonly")
    expect_error("GET", trace_path(), 404, "operator", contains="no trace")
    expect_error("DELETE", trace_path(), 404, "operator")
    expect_error("POST", "/api/v1/traces", 400, "operator", {"query": "oui = ", "minutes": 5}, contains="query")
    check(psql("SELECT count(*) FROM device_traces") == "0", "refused requests stored traces")


def test_trace_a_session():
    _, t = ok("POST", trace_path(), "operator", {"minutes": 5, "persist": True, "max_bytes": 65536}, status=201)
    check(t["device_id"] == DEV and t["persist"] is True and t["active"] is True and t["max_bytes"] == 65536
          and t["records"] == 0 and t["created_by"] == "op", "trace %r" % t)
    row = psql("SELECT actor, detail->>'minutes', detail->>'persist' FROM audit_log WHERE action = "
               "'trace.start' AND target = '%s'" % DEV)
    check(row == "op|5|true", "audit %r" % row)
    spv = {"ParameterList": [
        {"Name": "Device.ManagementServer.ConnectionRequestPassword", "Value": SECRET, "Type": "xsd:string"},
        {"Name": "Device.WiFi.SSID.1.SSID", "Value": "traced-ssid", "Type": "xsd:string"}]}
    _, task = ok("POST", qa.dev_path(DEV, "/tasks"), "operator", {"rpc": "SetParameterValues", "args": spv},
                 status=201)
    time.sleep(1.5)  # the poller's second
    answers = session(empty_posts=1)
    check(answers and b"SetParameterValues" in answers[0][1] and SECRET.encode() in answers[0][1],
          "the CPE did not get the task: %r" % answers)
    doc = wait_for("4 records", lambda: (lambda d: d if len(d["items"]) >= 4 else None)(
        ok("GET", trace_path(), "operator")[1]))
    recs = doc["items"]
    dirs = [r["direction"] for r in recs]
    check(dirs[:4] == ["in", "out", "in", "out"], "directions %r" % dirs)
    check(recs[0]["head"].startswith("POST / HTTP/1.1\r\n") and "cwmp:Inform" in recs[0]["body"] and
          "Content-Type: text/xml" in recs[0]["head"], "the Inform %r" % recs[0])
    check(recs[1]["head"].startswith("HTTP/1.1 200 OK") and "InformResponse" in recs[1]["body"],
          "the InformResponse %r" % recs[1])
    check(recs[2]["body"] == "" and recs[3]["head"].startswith("HTTP/1.1 200"), "the empty POST %r" % recs[2:4])
    spv_body = recs[3]["body"]
    check("SetParameterValues" in spv_body and "traced-ssid" in spv_body and "***" in spv_body and
          SECRET not in spv_body, "the SetParameterValues, masked: %r" % spv_body)
    check(all(SECRET not in r["body"] + r["head"] for r in recs), "the secret is in the trace")
    check(all(r["session"] and r["session"] == recs[0]["session"] for r in recs[:4]), "sessions %r" % recs)
    check(doc["records"] == len(recs) and doc["bytes"] <= 65536, "counts %r" % {k: doc[k] for k in ("records", "bytes")})


def test_bounds():
    # per device: 8 KiB; a few sessions write more; the oldest go first
    ok("POST", trace_path(), "operator", {"minutes": 5, "persist": True, "max_bytes": 4096}, status=201)
    first = int(psql("SELECT coalesce(min(id), 0) FROM trace_records WHERE device_id = '%s'" % DEV))
    for _ in range(6):
        session()
    time.sleep(0.5)
    _, doc = ok("GET", trace_path(), "operator")
    check(0 < doc["bytes"] <= 4096 and doc["items"] and doc["items"][0]["id"] > first,
          "bounded: %d bytes, first id %r (was %d)" % (doc["bytes"], doc["items"][:1], first))
    # all traces together: 70 devices x 4 MiB > 256 MiB
    psql("INSERT INTO devices (id, oui, product_class, serial_number) SELECT 'TR-X-' || i, 'TR', 'X', i::text "
         "FROM generate_series(1, 70) i")
    expect_error("POST", "/api/v1/traces", 409, "operator",
                 {"query": "oui = TR", "minutes": 5, "max_bytes": 4 << 20}, contains="256 MiB")
    check(psql("SELECT count(*) FROM device_traces WHERE device_id LIKE 'TR-%'") == "0", "409 stored traces")
    _, d = ok("POST", "/api/v1/traces", "operator", {"query": "oui = TR AND serial_number IN (1, 2, 3)",
                                                      "minutes": 1}, status=201)
    check(d == {"matched": 3, "traced": 3}, "query trace %r" % d)
    row = psql("SELECT count(*), bool_and(NOT persist), min(query) FROM device_traces WHERE device_id LIKE 'TR-%'")
    check(row == "3|t|oui = TR AND serial_number IN (1, 2, 3)", "query traces %r" % row)
    row = psql("SELECT detail->>'devices' FROM audit_log WHERE action = 'trace.start' AND target = 'query'")
    check(row == "3", "query audit %r" % row)


def test_restart():
    """A restart ends the traces not asked to persist; the others run on."""
    n = ok("GET", trace_path(), "operator")[1]["records"]
    Env.acsd.signal(signal.SIGTERM)
    rc, _ = Env.acsd.wait_exit(20)
    Env.acsd.check_clean_exit(rc)
    Env.acsd = start_acsd()
    wait_for("the non-persistent traces gone", lambda: psql(
        "SELECT count(*) FROM device_traces WHERE device_id LIKE 'TR-%'") == "0")
    _, doc = ok("GET", trace_path(), "operator")
    check(doc["active"] and doc["records"] == n, "the persistent trace after the restart %r" % doc)
    time.sleep(1.5)
    session()
    wait_for("recording after the restart", lambda: ok("GET", trace_path(), "operator")[1]["items"][-1]["id"] >
             max(r["id"] for r in doc["items"]))
    expect_error("GET", trace_path("TR-X-1"), 404, "operator")


def test_stop():
    st, _, _ = qa.api("DELETE", trace_path(), "operator")
    check(st == 204, "DELETE: %d" % st)
    expect_error("GET", trace_path(), 404, "operator")
    check(psql("SELECT count(*) FROM trace_records") == "0", "records outlived their trace")
    row = psql("SELECT actor FROM audit_log WHERE action = 'trace.stop' AND target = '%s'" % DEV)
    check(row == "op", "stop audit %r" % row)
    time.sleep(1.5)
    session()  # not traced any more: nothing written
    time.sleep(0.3)
    check(psql("SELECT count(*) FROM trace_records") == "0", "a stopped trace recorded")


def test_clean_shutdown():
    Env.acsd.signal(signal.SIGTERM)
    rc, _ = Env.acsd.wait_exit(20)
    Env.acsd.check_clean_exit(rc)


TESTS = [test_validation, test_trace_a_session, test_bounds, test_restart, test_stop, test_clean_shutdown]


def main():
    pgtest.skip_unless_available()
    Env.openapi = qa.load_openapi()
    with pgtest.PgCluster(fast=True) as pg:
        Env.pg = pg
        Env.tok.update(create_tokens(pg.dsn))
        Env.acsd = start_acsd()
        try:
            run_tests(TESTS, [("acsd", Env.acsd)])
        finally:
            Env.acsd.kill()
    print("%d checks passed" % qa.CHECKS, flush=True)
    sys.exit(0)


if __name__ == "__main__":
    main()
