#!/usr/bin/env python3
"""The operator REST API against a real acsd and a throwaway PostgreSQL:
/health without a token; bearer tokens (missing, garbage, revoked after the
cache TTL -> 401) and roles (readonly may not create tasks -> 403); the
device list contract (keyset pages with cursors, X-Total-Count, the
estimate past the threshold, bad limit/cursor -> 400); a device with its
parameters, its id (with '-' and '%' inside its parts) round-tripping
through the URL; task creation (201, Location, the row, its audit record
in the same transaction) and its validation (400, 404, 415); task reads
and a device's task list; 405/404; the store down -> 503 with
Retry-After, and back; acsd without a store -> 503; `acsd token
create|list|revoke`; a clean SIGTERM (no sanitizer reports)."""
import json
import os
import signal
import subprocess
import sys
import time
import urllib.parse

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "lib"))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
import pgtest  # noqa: E402
from acstest import Acsd, Conn, Fail, acsd_path, clean_env, format_request, request, run_tests  # noqa: E402

TOKEN_TTL = 5.0  # engine/api: ACS__API_TOKEN_TTL_MS
CHECKS = 0


def check(cond, msg):
    global CHECKS
    CHECKS += 1
    if not cond:
        raise Fail(msg)


# --- helpers

class Env:
    pg = None
    acsd = None
    tokens = {}  # name -> (id, token)


def token_cmd(*args, env=None, dsn=True):
    argv = [acsd_path(), "token"] + list(args)
    if dsn:
        argv += ["--pg", Env.pg.dsn]
    p = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, env=clean_env(env), timeout=60)
    return p.returncode, p.stdout.decode(), p.stderr.decode()


def create_token(role, name=None):
    args = ["create", "--role", role] + (["--name", name] if name else [])
    rc, out, err = token_cmd(*args)
    check(rc == 0, "token create --role %s: exit %d: %s" % (role, rc, err))
    tok = out.strip()
    check(tok.startswith("acs_") and len(tok) == 4 + 43 and "\n" not in tok,
          "token create printed %r, expected acs_ + 43 base64url characters" % out)
    row = Env.pg.psql("SELECT id, name FROM api_tokens ORDER BY id DESC LIMIT 1")
    tid, tname = row.split("|", 1)
    if name:
        check(tname == name, "token row name %r, expected %r" % (tname, name))
    return int(tid), tname, tok


def api(method, path, token=None, body=None, headers=None, ctype="application/json"):
    """(status, headers, parsed JSON body or None)."""
    h = dict(headers or {})
    if token is not None:
        h["Authorization"] = "Bearer " + token
    data = b""
    if body is not None:
        data = body if isinstance(body, (bytes, str)) else json.dumps(body)
        if ctype:
            h["Content-Type"] = ctype
    status, rh, raw = request(Env.acsd.api, method, path, h, data, timeout=10)
    doc = None
    if raw:
        try:
            doc = json.loads(raw)
        except ValueError:
            raise Fail("%s %s: %d with a body that is not JSON: %r" % (method, path, status, raw[:200]))
    return status, rh, doc


def expect_error(method, path, status, token=None, body=None, ctype="application/json",
                 headers=None, contains=None):
    st, h, doc = api(method, path, token, body, headers, ctype)
    check(st == status, "%s %s: %d %.300r, expected %d" % (method, path, st, doc, status))
    check(isinstance(doc, dict) and isinstance(doc.get("error"), str) and doc["error"],
          "%s %s: error body %r, expected {\"error\": \"...\"}" % (method, path, doc))
    check(h.get("content-type", "").startswith("application/json"),
          "%s %s: error without a JSON content type: %r" % (method, path, h))
    if contains:
        check(contains in doc["error"], "%s %s: error %r does not mention %r"
              % (method, path, doc["error"], contains))
    return h, doc


def dev_path(device_id, suffix=""):
    return "/api/v1/devices/" + urllib.parse.quote(device_id, safe="") + suffix


def sql_str(s):
    return "'" + s.replace("'", "''") + "'"


def count(sql):
    return int(Env.pg.psql(sql))


# The Contracts device id: each part percent-encoded outside [A-Za-z0-9_.~].
def id_part(s):
    out = []
    for b in s.encode():
        c = chr(b)
        out.append(c if c.isascii() and (c.isalnum() or c in "_.~") else "%%%02X" % b)
    return "".join(out)


def device_id(oui, pclass, serial):
    return "-".join(id_part(p) for p in ([oui, pclass, serial] if pclass else [oui, serial]))


SPECIAL = device_id("00D09E", "Home-GW", "SN%1-x")  # 00D09E-Home%2DGW-SN%251%2Dx
PLAIN = ["00D09E-HG8245-SN%04d" % i for i in range(24)]
ALL_IDS = sorted(PLAIN + [SPECIAL], key=lambda s: s.encode())


def insert_devices():
    rows = []
    for i, d in enumerate(PLAIN):
        rows.append("(%s, '00D09E', 'HG8245', 'SN%04d', 'Huawei', NULL, 'V1.%d', NULL, "
                    "'{}', false, NULL)" % (sql_str(d), i, i))
    rows.append("(%s, '00D09E', 'Home-GW', 'SN%%1-x', 'Acme', 'HW2', 'SW3', "
                "'2026-12-01 08:00:00+00', '{lab,\"b b\"}', true, '192.0.2.7')" % sql_str(SPECIAL))
    Env.pg.psql("INSERT INTO devices (id, oui, product_class, serial_number, manufacturer, "
                "hardware_version, software_version, last_inform, tags, data_stale, source_ip) "
                "VALUES " + ", ".join(rows))
    Env.pg.psql(
        "INSERT INTO parameters (device_id, name, value, xsd_type, writable, is_object, "
        "notification, access_list, value_at) VALUES "
        "(%s, 'Device.DeviceInfo.SoftwareVersion', 'SW3', 'xsd:string', false, false, 2, "
        "'{Subscriber}', '2026-12-01 07:59:58.75+00'), "
        "(%s, 'Device.WiFi.', NULL, NULL, false, true, NULL, NULL, NULL), "
        "(%s, 'Device.WiFi.SSID.1.SSID', 'caf\u00e9 \"x\"', 'xsd:string', true, false, 0, '{}', "
        "'2026-11-30 23:00:00+00')" % ((sql_str(SPECIAL),) * 3))
    # reltuples must stay as the test sets it
    Env.pg.psql("ALTER TABLE devices SET (autovacuum_enabled = false)")


# --- tests

def test_health():
    st, h, doc = api("GET", "/health")
    check(st == 200 and doc == {"status": "ok"}, "GET /health: %d %r" % (st, doc))
    st, h, doc = api("HEAD", "/health")
    check(st == 200 and doc is None, "HEAD /health: %d %r" % (st, doc))
    h, _ = expect_error("POST", "/health", 405, body={})
    check("GET" in h.get("allow", ""), "405 without Allow: %r" % h)
    expect_error("GET", "/nowhere", 404)
    expect_error("GET", "/api/v2/devices", 404)


ROUTES = [("GET", "/api/v1/devices"), ("GET", None), ("GET", "tasks"), ("POST", "tasks"),
          ("GET", "/api/v1/tasks/1")]


def each_route():
    for m, p in ROUTES:
        if p is None:
            p = dev_path(SPECIAL)
        elif p == "tasks":
            p = dev_path(SPECIAL, "/tasks")
        yield m, p, ({"rpc": "Reboot"} if m == "POST" else None)


def test_unauthenticated():
    for m, p, body in each_route():
        h, _ = expect_error(m, p, 401, body=body)
        check(h.get("www-authenticate", "").startswith("Bearer"),
              "%s %s without a token: WWW-Authenticate %r" % (m, p, h.get("www-authenticate")))
        h, _ = expect_error(m, p, 401, token="acs_" + "A" * 43, body=body)
        check(h.get("www-authenticate", "").startswith("Bearer"),
              "%s %s with a garbage token: no WWW-Authenticate" % (m, p))
        expect_error(m, p, 401, body=body, headers={"Authorization": "Basic YWRtaW46YWRtaW4="})
    # a real token with the wrong scheme word is still refused
    expect_error("GET", "/api/v1/devices", 401,
                 headers={"Authorization": "Token " + Env.tokens["reader"][1]})


def test_device_list_pages():
    tok = Env.tokens["reader"][1]
    seen, cursor, pages = [], None, 0
    while True:
        q = "/api/v1/devices?limit=10" + ("&cursor=" + urllib.parse.quote(cursor) if cursor else "")
        st, h, doc = api("GET", q, tok)
        check(st == 200, "GET %s: %d %r" % (q, st, doc))
        check(set(doc) == {"items", "next_cursor"}, "list keys %r" % sorted(doc))
        check(h.get("x-total-count") == "25", "X-Total-Count %r, expected 25" % h.get("x-total-count"))
        check("x-total-count-estimated" not in h, "an exact count flagged as an estimate")
        pages += 1
        check(len(doc["items"]) == (10 if pages < 3 else 5),
              "page %d has %d items" % (pages, len(doc["items"])))
        seen += [d["id"] for d in doc["items"]]
        cursor = doc["next_cursor"]
        if cursor is None:
            break
        check(isinstance(cursor, str) and cursor and pages < 3, "page %d: next_cursor %r"
              % (pages, cursor))
    check(pages == 3, "%d pages, expected 3" % pages)
    check(seen == ALL_IDS, "devices across pages %r, expected %r (by id, bytewise)" % (seen, ALL_IDS))
    # default limit: everything on one page
    st, h, doc = api("GET", "/api/v1/devices", tok)
    check(st == 200 and len(doc["items"]) == 25 and doc["next_cursor"] is None,
          "default limit: %d items, next %r" % (len(doc["items"]), doc["next_cursor"]))
    st, h, doc = api("GET", "/api/v1/devices?limit=1000", tok)
    check(st == 200 and len(doc["items"]) == 25, "limit=1000: %d" % st)
    # an exact page boundary: the last full page has no next cursor
    st, _, doc = api("GET", "/api/v1/devices?limit=25", tok)
    check(st == 200 and doc["next_cursor"] is None, "limit=25 of 25: next_cursor %r"
          % doc["next_cursor"])


def test_device_list_estimate():
    tok = Env.tokens["reader"][1]
    Env.pg.psql("UPDATE pg_class SET reltuples = 250000 WHERE oid = 'devices'::regclass",
                user="postgres")
    try:
        st, h, doc = api("GET", "/api/v1/devices?limit=1", tok)
        check(st == 200 and h.get("x-total-count") == "250000",
              "X-Total-Count past the threshold: %r" % h.get("x-total-count"))
        check(h.get("x-total-count-estimated") == "true",
              "estimate not flagged: %r" % h.get("x-total-count-estimated"))
    finally:
        Env.pg.psql("UPDATE pg_class SET reltuples = -1 WHERE oid = 'devices'::regclass",
                    user="postgres")
    st, h, _ = api("GET", "/api/v1/devices?limit=1", tok)
    check(h.get("x-total-count") == "25" and "x-total-count-estimated" not in h,
          "after the estimate: %r" % h)


def test_device_list_bad_params():
    tok = Env.tokens["reader"][1]
    for q in ("limit=0", "limit=1001", "limit=abc", "limit=", "limit=-1", "limit=1e2",
              "limit=%zz", "cursor=", "cursor=!!!", "cursor=Zm9v", "cursor=" +
              urllib.parse.quote(task_cursor_like())):
        expect_error("GET", "/api/v1/devices?" + q, 400, tok)
    expect_error("GET", "/api/v1/devices?limit=5&cursor=x", 400, tok, contains="cursor")


def task_cursor_like():
    import base64
    return base64.urlsafe_b64encode(b"t:5").decode().rstrip("=")


def test_device_get():
    tok = Env.tokens["reader"][1]
    p = dev_path(SPECIAL)
    check("%252D" in p and "%2525" in p, "test path %s does not encode the id twice" % p)
    st, h, d = api("GET", p, tok)
    check(st == 200, "GET %s: %d %r" % (p, st, d))
    check(d["id"] == SPECIAL, "id %r, expected %r" % (d["id"], SPECIAL))
    expect = {"oui": "00D09E", "product_class": "Home-GW", "serial_number": "SN%1-x",
              "manufacturer": "Acme", "hardware_version": "HW2", "software_version": "SW3",
              "last_inform": "2026-12-01T08:00:00Z", "last_boot": None, "last_bootstrap": None,
              "source_ip": "192.0.2.7", "connection_request_url": None, "cwmp_version": None,
              "tags": ["lab", "b b"], "data_stale": True}
    for k, v in expect.items():
        check(d.get(k, "absent") == v, "device %s = %r, expected %r" % (k, d.get(k, "absent"), v))
    check(isinstance(d.get("created_at"), str) and len(d["created_at"]) == 20 and
          d["created_at"].endswith("Z") and d["created_at"][10] == "T",
          "created_at %r is not RFC 3339 UTC" % d.get("created_at"))
    params = d.get("parameters")
    check(isinstance(params, dict) and len(params) == 3, "parameters %r" % params)
    check(params["Device.DeviceInfo.SoftwareVersion"] ==
          {"value": "SW3", "type": "xsd:string", "writable": False, "object": False,
           "notification": 2, "access_list": ["Subscriber"], "value_at": "2026-12-01T07:59:58Z",
           "secret": False},
          "parameter row %r" % params["Device.DeviceInfo.SoftwareVersion"])
    check(params["Device.WiFi."] ==
          {"value": None, "type": None, "writable": False, "object": True, "notification": None,
           "access_list": None, "value_at": None, "secret": False}, "object row %r" % params["Device.WiFi."])
    check(params["Device.WiFi.SSID.1.SSID"]["value"] == "caf\u00e9 \"x\"",
          "value %r" % params["Device.WiFi.SSID.1.SSID"]["value"])
    # a plain device has an empty parameter object, the list's fields
    st, _, d2 = api("GET", dev_path(PLAIN[3]), tok)
    check(st == 200 and d2["parameters"] == {} and d2["software_version"] == "V1.3" and
          d2["tags"] == [] and d2["data_stale"] is False and d2["hardware_version"] is None,
          "plain device %r" % d2)
    # the list holds the same object, without parameters
    st, _, lst = api("GET", "/api/v1/devices", tok)
    item = [x for x in lst["items"] if x["id"] == SPECIAL][0]
    check(item == {k: v for k, v in d.items() if k != "parameters"},
          "list item %r differs from the device %r" % (item, d))
    # decoded once: the id itself (single-encoded) is another device
    expect_error("GET", "/api/v1/devices/" + SPECIAL, 404, tok)
    expect_error("GET", dev_path("00D09E-NOPE-1"), 404, tok, contains="00D09E-NOPE-1")
    expect_error("GET", "/api/v1/devices/bad%zzescape", 400, tok)
    expect_error("GET", "/api/v1/devices/", 404, tok)


def test_keepalive():
    """Several API requests on one connection (one token lookup at most)."""
    tok = Env.tokens["reader"][1]
    with Conn(Env.acsd.api) as c:
        for i in range(5):
            c.send(format_request("GET", "/api/v1/devices?limit=2",
                                  {"Authorization": "Bearer " + tok}))
            st, h, body = c.read_response(10)
            check(st == 200 and len(json.loads(body)["items"]) == 2,
                  "keep-alive request %d: %d" % (i, st))
            check(h.get("connection", "") != "close", "connection closed after request %d" % i)


def test_roles():
    path = dev_path(SPECIAL, "/tasks")
    n0 = count("SELECT count(*) FROM tasks")
    h, doc = expect_error("POST", path, 403, Env.tokens["reader"][1], {"rpc": "Reboot"})
    check("readonly" in doc["error"], "403 does not name the role: %r" % doc)
    check(count("SELECT count(*) FROM tasks") == n0, "a refused POST created a task")
    st, _, doc = api("POST", path, Env.tokens["admin"][1], {"rpc": "Reboot"})
    check(st == 201, "admin POST: %d %r" % (st, doc))
    check(doc["created_by"] == Env.tokens["admin"][0], "created_by %r" % doc["created_by"])
    st, _, _ = api("GET", "/api/v1/devices", Env.tokens["operator"][1])
    check(st == 200, "operator GET: %d" % st)


def test_task_create():
    tok = Env.tokens["operator"][1]
    args = {"ParameterList": [{"Name": "Device.WiFi.SSID.1.SSID", "Value": "home",
                               "Type": "xsd:string"}], "ParameterKey": "k1"}
    n_audit = count("SELECT count(*) FROM audit_log WHERE action = 'task.create'")
    st, h, t = api("POST", dev_path(SPECIAL, "/tasks"), tok,
                   {"rpc": "SetParameterValues", "args": args, "expires_in": 3600})
    check(st == 201, "POST task: %d %r" % (st, t))
    check(isinstance(t.get("id"), int), "task id %r" % t.get("id"))
    check(h.get("location") == "/api/v1/tasks/%d" % t["id"], "Location %r" % h.get("location"))
    want = {"device_id": SPECIAL, "rpc": "SetParameterValues", "args": args, "status": "pending",
            "command_key": None, "created_by": "op-1", "sent_at": None, "done_at": None,
            "result": None, "fault": None}
    for k, v in want.items():
        check(t.get(k, "absent") == v, "task %s = %r, expected %r" % (k, t.get(k, "absent"), v))
    row = Env.pg.psql("SELECT device_id, rpc, status, created_by, args = %s::jsonb, "
                      "round(extract(epoch FROM expires_at - created_at)) FROM tasks WHERE id = %d"
                      % (sql_str(json.dumps(args)), t["id"]))
    check(row == "%s|SetParameterValues|pending|op-1|t|3600" % SPECIAL, "tasks row %r" % row)
    check(t["expires_at"] is not None and t["created_at"] is not None, "times %r" % t)
    audit = Env.pg.psql("SELECT actor, target, detail->>'rpc', (detail->>'task_id')::bigint "
                        "FROM audit_log WHERE action = 'task.create' ORDER BY id DESC LIMIT 1")
    check(audit == "op-1|%s|SetParameterValues|%d" % (SPECIAL, t["id"]), "audit row %r" % audit)
    check(count("SELECT count(*) FROM audit_log WHERE action = 'task.create'") == n_audit + 1,
          "not exactly one audit row for one task")
    # GET the Location
    st, _, g = api("GET", h["location"], Env.tokens["reader"][1])
    check(st == 200 and g == t, "GET %s: %d %r, expected %r" % (h["location"], st, g, t))
    # no args and no expiry; a content type with a charset parameter
    st, _, t2 = api("POST", dev_path(PLAIN[0], "/tasks"), tok, {"rpc": "Reboot"},
                    ctype="application/json; charset=utf-8")
    check(st == 201 and t2["args"] == {} and t2["expires_at"] is None and t2["id"] > t["id"],
          "POST Reboot: %d %r" % (st, t2))


def test_task_validation():
    tok = Env.tokens["operator"][1]
    path = dev_path(SPECIAL, "/tasks")
    n0 = count("SELECT count(*) FROM tasks")
    a0 = count("SELECT count(*) FROM audit_log")
    spv = {"ParameterList": [{"Name": "Device.X", "Value": "1"}]}
    cases = [
        ({"rpc": "NoSuchRPC"}, "rpc"),
        ({"rpc": "Inform"}, "Inform"),  # CPE -> ACS: not a task
        ({"rpc": "RebootResponse"}, "rpc"),
        ({"rpc": 5}, "rpc"),
        ({}, "rpc"),
        ({"args": {}}, "rpc"),
        ({"rpc": "Reboot", "args": []}, "args"),
        ({"rpc": "Reboot", "args": "x"}, "args"),
        ({"rpc": "SetParameterValues", "args": {"ParameterList": "x"}}, "ParameterList"),
        ({"rpc": "SetParameterValues", "args": {"ParameterLst": []}}, "ParameterLst"),
        ({"rpc": "SetParameterValues",
          "args": {"ParameterList": [{"Name": "Device.X", "Valu": "1"}]}}, "Valu"),
        ({"rpc": "Reboot", "args": {"CommandKey": 7}}, "CommandKey"),
        ({"rpc": "SetParameterValues", "args": spv, "expires_in": 0}, "expires_in"),
        ({"rpc": "SetParameterValues", "args": spv, "expires_in": "60"}, "expires_in"),
        ({"rpc": "SetParameterValues", "args": spv, "expires_in": 1.5}, "expires_in"),
        ({"rpc": "Reboot", "priority": 1}, "priority"),
        ([{"rpc": "Reboot"}], "object"),
    ]
    for body, word in cases:
        expect_error("POST", path, 400, tok, body, contains=word)
    for raw in ('{"rpc": "Reboot"', "", "nul", '{"rpc": "Reboot", "rpc": "Reboot"}', "\xff"):
        expect_error("POST", path, 400, tok, raw.encode("latin-1"), contains="JSON")
    expect_error("POST", path, 415, tok, {"rpc": "Reboot"}, ctype="text/plain")
    expect_error("POST", path, 415, tok, {"rpc": "Reboot"}, ctype=None)
    expect_error("POST", path, 415, tok, {"rpc": "Reboot"}, ctype="application/jsonx")
    expect_error("POST", dev_path("00D09E-NOPE-1", "/tasks"), 404, tok, {"rpc": "Reboot"},
                 contains="00D09E-NOPE-1")
    check(count("SELECT count(*) FROM tasks") == n0, "refused POSTs created tasks")
    check(count("SELECT count(*) FROM audit_log") == a0, "refused POSTs wrote audit rows")
    # the valid version of the same request is accepted
    st, _, t = api("POST", path, tok, {"rpc": "SetParameterValues", "args": spv, "expires_in": 60})
    check(st == 201 and t["args"] == spv, "valid SetParameterValues: %d %r" % (st, t))


def test_task_get_and_list():
    tok = Env.tokens["reader"][1]
    dev = PLAIN[5]
    ids = []
    for i in range(5):
        st, _, t = api("POST", dev_path(dev, "/tasks"), Env.tokens["operator"][1],
                       {"rpc": "GetParameterValues",
                        "args": {"ParameterNames": ["Device.DeviceInfo.%d" % i]}})
        check(st == 201, "POST task %d: %d %r" % (i, st, t))
        ids.append(t["id"])
    # a finished task with a result, and a faulted one, written as a session would
    done_id = int(Env.pg.psql(
        "INSERT INTO tasks (device_id, rpc, status, sent_at, done_at, result, command_key) "
        "VALUES (%s, 'Reboot', 'done', '2026-12-01 08:00:01+00', '2026-12-01 08:00:02+00', "
        "'{\"ok\": true, \"n\": [1, 2]}', 'ck1') RETURNING id" % sql_str(dev)).splitlines()[0])
    fault_id = int(Env.pg.psql(
        "INSERT INTO tasks (device_id, rpc, status, fault_code, fault_string) "
        "VALUES (%s, 'SetParameterValues', 'fault', 9005, 'Invalid parameter name') "
        "RETURNING id" % sql_str(dev)).splitlines()[0])
    ids += [done_id, fault_id]
    st, _, t = api("GET", "/api/v1/tasks/%d" % done_id, tok)
    check(st == 200 and t["status"] == "done" and t["result"] == {"ok": True, "n": [1, 2]} and
          t["sent_at"] == "2026-12-01T08:00:01Z" and t["done_at"] == "2026-12-01T08:00:02Z" and
          t["command_key"] == "ck1" and t["fault"] is None and t["created_by"] is None,
          "done task %r" % t)
    st, _, t = api("GET", "/api/v1/tasks/%d" % fault_id, tok)
    check(st == 200 and t["fault"] == {"code": 9005, "string": "Invalid parameter name"} and
          t["result"] is None, "faulted task %r" % t)
    expect_error("GET", "/api/v1/tasks/999999999", 404, tok)
    expect_error("GET", "/api/v1/tasks/abc", 404, tok)
    expect_error("GET", "/api/v1/tasks/", 404, tok)
    # the device's list, newest first, 3 per page
    seen, cursor, pages = [], None, 0
    while True:
        q = dev_path(dev, "/tasks?limit=3") + ("&cursor=" + cursor if cursor else "")
        st, h, doc = api("GET", q, tok)
        check(st == 200, "GET %s: %d %r" % (q, st, doc))
        check(h.get("x-total-count") == "7", "task X-Total-Count %r" % h.get("x-total-count"))
        pages += 1
        seen += [x["id"] for x in doc["items"]]
        check(all(x["device_id"] == dev for x in doc["items"]), "another device's task listed")
        cursor = doc["next_cursor"]
        if not cursor or pages > 5:
            break
    check(pages == 3 and seen == sorted(ids, reverse=True),
          "task pages %d, ids %r, expected %r" % (pages, seen, sorted(ids, reverse=True)))
    st, h, doc = api("GET", dev_path(PLAIN[20], "/tasks"), tok)
    check(st == 200 and doc == {"items": [], "next_cursor": None} and
          h.get("x-total-count") == "0", "empty task list: %d %r %r" % (st, doc, h))
    expect_error("GET", dev_path("00D09E-NOPE-1", "/tasks"), 404, tok)
    expect_error("GET", dev_path(dev, "/tasks?cursor=" + cursor_for("d", "x")), 400, tok)
    expect_error("GET", dev_path(dev, "/tasks?cursor=" + cursor_for("t", "12a")), 400, tok)
    expect_error("GET", dev_path(dev, "/tasks?limit=0"), 400, tok)


def cursor_for(kind, key):
    import base64
    return base64.urlsafe_b64encode(("%s:%s" % (kind, key)).encode()).decode().rstrip("=")


def test_methods():
    tok = Env.tokens["admin"][1]
    for m, p, allow in (("DELETE", "/api/v1/devices", "GET"),
                        ("PUT", dev_path(SPECIAL), "GET, DELETE"),
                        ("DELETE", dev_path(SPECIAL, "/tasks"), "GET, POST"),
                        ("POST", "/api/v1/tasks/1", "GET, DELETE")):
        h, _ = expect_error(m, p, 405, tok, body={} if m in ("PUT", "POST") else None)
        check(h.get("allow") == allow, "%s %s: Allow %r, expected %r" % (m, p, h.get("allow"), allow))
    for p in ("/api/v1", "/api/v1/", "/api/v1/nothing", "/api/v1/devices/x/y",
              "/api/v1/devices/x/tasks/1", "/api/v1/tasks/x"):
        expect_error("GET", p, 404, tok)


def test_token_cli():
    rc, out, err = token_cmd("list")
    check(rc == 0, "token list: exit %d: %s" % (rc, err))
    lines = out.splitlines()
    check(lines and lines[0].split()[:3] == ["ID", "NAME", "ROLE"], "list header %r" % lines[:1])
    for name, (tname, tok) in Env.tokens.items():
        check(tok not in out, "token list shows a token")
        check(any(tname in ln.split() for ln in lines[1:]), "token %s not listed:\n%s" % (tname, out))
    used = [ln for ln in lines if "op-1" in ln.split()][0].split()
    check(len(used) == 6 and used[2] == "operator" and used[4].endswith("Z") and used[5] == "-",
          "operator row %r (id name role created last-used revoked)" % used)
    unused = Env.pg.psql("SELECT last_used_at IS NULL FROM api_tokens WHERE name = 'unused'")
    check(unused == "t", "a token never used has last_used_at set")
    hashes = Env.pg.psql("SELECT count(*) FROM api_tokens WHERE length(token_hash) = 32 AND "
                         "token_hash = sha256(convert_to(%s, 'UTF8'))"
                         % sql_str(Env.tokens["admin"][1]))
    check(hashes == "1", "the admin token's sha256 is not what the store keeps")
    check(Env.pg.psql("SELECT count(*) FROM audit_log WHERE action = 'token.create'") ==
          str(len(Env.tokens)), "token.create audit rows")
    # default name
    tid, tname, _ = create_token("readonly")
    check(tname == "readonly-token-%d" % tid, "default name %r" % tname)
    # usage errors exit 2, failures 1
    for args in (["create"], ["create", "--role", "root"], ["frobnicate"], [],
                 ["revoke"], ["revoke", "x1"], ["list", "--role", "admin"],
                 ["create", "--role", "admin", "--name", ""], ["list", "--no-such-option", "1"]):
        rc, out, err = token_cmd(*args)
        check(rc == 2 and err and not out.strip(), "token %r: exit %d (expected 2), out %r"
              % (args, rc, out))
    rc, out, err = token_cmd("list", dsn=False)
    check(rc == 2 and "store" in err, "token list without a store: %d %r" % (rc, err))
    rc, out, err = token_cmd("list", env={"ACS_PG_DSN": Env.pg.dsn}, dsn=False)
    check(rc == 0 and "op-1" in out, "token list with ACS_PG_DSN: %d %r" % (rc, err))
    rc, out, err = token_cmd("revoke", "987654")
    check(rc == 1 and "987654" in err, "revoke of an unknown id: %d %r" % (rc, err))
    rc, out, err = token_cmd("list", "--pg", "hostaddr=127.0.0.1 port=1 dbname=x user=x",
                             dsn=False)
    check(rc == 1 and err, "token list with an unreachable store: %d %r" % (rc, err))


def test_revoked_token():
    tok = Env.tokens["victim"][1]
    vid = int(Env.pg.psql("SELECT id FROM api_tokens WHERE name = 'victim'"))
    for _ in range(4):  # cached on both workers, most likely
        st, _, _ = api("GET", "/api/v1/devices?limit=1", tok)
        check(st == 200, "victim token before revocation: %d" % st)
    rc, out, err = token_cmd("revoke", str(vid))
    check(rc == 0 and "revoked" in out, "token revoke: %d %r %r" % (rc, out, err))
    check(Env.pg.psql("SELECT revoked_at IS NOT NULL FROM api_tokens WHERE id = %d" % vid) == "t",
          "revoked_at not set")
    check(Env.pg.psql("SELECT count(*) FROM audit_log WHERE action = 'token.revoke' AND "
                      "target = '%d'" % vid) == "1", "no token.revoke audit row")
    rc, out, err = token_cmd("revoke", str(vid))
    check(rc == 0 and "already" in out, "second revoke: %d %r" % (rc, out))
    t0 = time.monotonic()
    time.sleep(TOKEN_TTL + 0.3)
    for m, p, body in each_route():
        h, _ = expect_error(m, p, 401, tok, body)
        check("invalid_token" in h.get("www-authenticate", ""),
              "revoked: WWW-Authenticate %r" % h.get("www-authenticate"))
    for _ in range(6):  # whichever worker answers
        st, _, _ = api("GET", "/api/v1/devices", tok)
        check(st == 401, "revoked token answered %d %.1f s after revocation"
              % (st, time.monotonic() - t0))
    st, _, _ = api("GET", "/api/v1/devices", Env.tokens["reader"][1])
    check(st == 200, "another token stopped working: %d" % st)


def test_store_down():
    tok = Env.tokens["reader"][1]
    Env.pg.stop()
    try:
        deadline = time.monotonic() + 10
        while True:
            st, h, doc = api("GET", "/api/v1/devices", tok)
            if st == 503 or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        check(st == 503 and doc and "error" in doc, "store down: %d %r" % (st, doc))
        check(h.get("retry-after", "").isdigit(), "503 without Retry-After: %r" % h)
        st, _, doc = api("POST", dev_path(SPECIAL, "/tasks"), Env.tokens["operator"][1],
                         {"rpc": "Reboot"})
        check(st == 503, "POST with the store down: %d %r" % (st, doc))
        st, _, doc = api("GET", "/health")
        check(st == 200, "/health with the store down: %d" % st)
    finally:
        Env.pg.start()
    deadline = time.monotonic() + 15
    while True:
        st, _, _ = api("GET", "/api/v1/devices", tok)
        if st == 200 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    check(st == 200, "store back: still %d" % st)


def test_no_store():
    with Acsd() as s:
        s.wait_ready()
        status, h, body = request(s.api, "GET", "/api/v1/devices",
                                  {"Authorization": "Bearer " + Env.tokens["admin"][1]})
        check(status == 503 and b"store" in body, "no store: %d %r" % (status, body))
        status, _, _ = request(s.api, "GET", "/health")
        check(status == 200, "no store: /health %d" % status)
        s.signal(signal.SIGTERM)
        rc, _ = s.wait_exit(15)
        s.check_clean_exit(rc)


def test_openapi():
    """api/openapi.yaml describes exactly the routes and fields served."""
    try:
        import yaml
    except ImportError:
        print("     (python3-yaml missing: api/openapi.yaml not compared)")
        return
    src = os.environ.get("ACS_SOURCE_DIR") or os.path.join(HERE, "..", "..")
    with open(os.path.join(src, "api", "openapi.yaml")) as f:
        doc = yaml.safe_load(f)
    check(doc.get("openapi", "").startswith("3.0"), "openapi version %r" % doc.get("openapi"))
    verbs = {"get", "head", "post", "put", "patch", "delete", "options"}
    routes = {p: {m for m in v if m in verbs} for p, v in doc["paths"].items()}
    check(routes == {"/health": {"get", "head"}, "/ready": {"get", "head"},
                     "/metrics": {"get", "head"}, "/api/v1/system/health": {"get"},
                     "/api/v1/telemetry/current": {"get"}, "/api/v1/system/log": {"get", "put"}, "/api/v1/stomp/metrics": {"get"},
                     "/api/v1/devices": {"get"},
                     "/api/v1/devices/{id}": {"get", "delete"},
                     "/api/v1/devices/{id}/tasks": {"get", "post"},
                     "/api/v1/devices/{id}/tags": {"post"}, "/api/v1/devices/{id}/history": {"get"},
                     "/api/v1/devices/export": {"get"}, "/api/v1/traces": {"post"},
                     "/api/v1/devices/{id}/trace": {"get", "post", "delete"},
                     "/api/v1/tasks": {"get"},
                     "/api/v1/tasks/{id}": {"get", "delete"}, "/api/v1/tasks/{id}/cancel": {"post"},
                     "/api/v1/tasks/{id}/retry": {"post"}, "/api/v1/faults": {"get"},
                     "/api/v1/faults/{device}/{channel}": {"delete"},
                     "/api/v1/tokens": {"get", "post"}, "/api/v1/tokens/{id}": {"delete"},
                     "/api/v1/audit": {"get"},
                     "/api/v1/faults/{device}/{channel}/retry": {"post"},
                     "/api/v1/policies": {"get", "post"}, "/api/v1/policies/generations": {"get"},
                     "/api/v1/policies/reload": {"post"}, "/api/v1/policies/activate": {"post"},
                     "/api/v1/policies/rollback": {"post"}, "/api/v1/policies/test": {"post"},
                     "/api/v1/policies/rollout": {"get", "post"},
                     "/api/v1/policies/rollout/complete": {"post"},
                     "/api/v1/policies/rollout/abort": {"post"},
                     "/api/v1/policies/generations/{id}/source": {"get"}, "/api/v1/alarms": {"get"},
                     "/api/v1/alarms/{id}": {"get"}, "/api/v1/alarms/{id}/acknowledge": {"post"},
                     "/api/v1/bulk": {"get", "post"},
                     "/api/v1/bulk/{id}": {"get"}, "/api/v1/bulk/{id}/pause": {"post"},
                     "/api/v1/bulk/{id}/resume": {"post"}, "/api/v1/bulk/{id}/cancel": {"post"},
                     "/api/v1/files": {"get", "post"}, "/api/v1/files/{name}": {"get", "delete"}},
          "documented routes %r (test_api_queries.py checks each)" % routes)
    sch = doc["components"]["schemas"]
    tok = Env.tokens["reader"][1]
    _, _, d = api("GET", dev_path(SPECIAL), tok)
    check(set(sch["Device"]["required"]) == set(d) - {"parameters"},
          "Device schema %r vs served %r" % (sch["Device"]["required"], sorted(d)))
    check(set(sch["Device"]["properties"]) == set(d) - {"parameters"}, "Device properties")
    p = d["parameters"]["Device.WiFi."]
    check(set(sch["Parameter"]["required"]) == set(p), "Parameter schema vs %r" % sorted(p))
    _, _, lst = api("GET", dev_path(PLAIN[5], "/tasks?limit=1"), tok)
    t = lst["items"][0]
    check(set(sch["Task"]["required"]) == set(t) == set(sch["Task"]["properties"]),
          "Task schema vs %r" % sorted(t))
    check(set(sch["DeviceList"]["required"]) == set(lst), "list schema vs %r" % sorted(lst))
    body_keys = set(sch["TaskCreate"]["properties"])
    check(body_keys == {"rpc", "args", "expires_in"}, "TaskCreate keys %r" % body_keys)


def test_clean_shutdown():
    # a request answered, then SIGTERM: exit 0, nothing from the sanitizers
    st, _, _ = api("GET", dev_path(SPECIAL), Env.tokens["reader"][1])
    check(st == 200, "before SIGTERM: %d" % st)
    Env.acsd.signal(signal.SIGTERM)
    rc, _ = Env.acsd.wait_exit(20)
    Env.acsd.check_clean_exit(rc)
    global CHECKS
    CHECKS += 1


TESTS = [test_health, test_unauthenticated, test_device_list_pages, test_device_list_estimate,
         test_device_list_bad_params, test_device_get, test_keepalive, test_roles,
         test_task_create, test_task_validation, test_task_get_and_list, test_methods,
         test_token_cli, test_revoked_token, test_store_down, test_no_store, test_openapi, test_clean_shutdown]


def main():
    pgtest.skip_unless_available()
    name = os.path.basename(sys.argv[0])
    with pgtest.PgCluster(fast=True) as pg:
        Env.pg = pg
        for key, role, tname in (("admin", "admin", "admin-1"), ("operator", "operator", "op-1"),
                                 ("reader", "readonly", "ro-1"), ("victim", "operator", "victim"),
                                 ("unused", "readonly", "unused")):
            _, n, tok = create_token(role, tname)
            Env.tokens[key] = (n, tok)
        insert_devices()
        with Acsd(["--pg", pg.dsn, "--log-level", "warn"]) as s:
            Env.acsd = s
            s.wait_ready()
            run_tests(TESTS, [("acsd", s)], tail=1 << 30)
    print("%d checks passed" % CHECKS, flush=True)
    sys.exit(0)


if __name__ == "__main__":
    main()
