#!/usr/bin/env python3
"""acsctl (api/acsctl, linked into build/bin) against a real acsd and a
throwaway PostgreSQL: configuration (--url, tokens from the flag, the
environment and files) and errors (unreachable, bad token, role too low,
404, 400 from a bad query, 409, 503 retried after Retry-After a bounded
number of times), each with its documented exit code and the API's message;
devices (pages, cursors, --all, sort, projection, tags, delete), tasks
(create with --arg/--args, list, get, cancel, retry, and wait while a CPE
speaking CWMP here runs the task to done or to a fault), faults, tokens and
the audit log; --json against the API's own JSON and tables; the plain
progress lines off a terminal and the bar on one.

Files, bulk actions, policies, alarms, fault retry and connection requests
from tasks are tested too, each skipped (saying so) while the server
answers 404 for its route (201 for a connection request): those routes come
with other parts of the server.
"""
import hashlib
import http.server
import json
import os
import pty
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "lib"))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
import pgtest  # noqa: E402
from acstest import Acsd, Conn, Fail, acsd_path, clean_env, create_tokens, format_request, free_port, request, serve  # noqa: E402

SOURCE = os.environ.get("ACS_SOURCE_DIR") or os.path.join(HERE, "..", "..")
CHECKS = 0
SKIPPED = []

# acsctl's exit codes (docs/acsctl.md, "Exit status")
OK, ERROR, USAGE, AUTH, NOT_FOUND, INVALID, CONFLICT, UNAVAILABLE, TIMEOUT, FAILED = range(10)


class Skip(Exception):
    pass


def check(cond, msg):
    global CHECKS
    CHECKS += 1
    if not cond:
        raise Fail(msg)


class Env:
    pg = None
    acsd = None
    tok = {}  # role -> token


def acsctl_path():
    path = os.path.join(os.path.dirname(acsd_path()), "acsctl")
    if not os.access(path, os.X_OK):
        raise Fail("acsctl not found next to acsd at %s (CMake links api/acsctl there)" % path)
    return path


def run(*args, role="admin", token=None, env=None, url=None, stdin=None, timeout=60, cwd=None):
    """acsctl ARGS; answers (exit status, stdout, stderr)."""
    e = {k: v for k, v in clean_env().items() if not k.startswith("ACSCTL_")}
    e["ACSCTL_URL"] = url or "http://127.0.0.1:%d" % Env.acsd.api
    if role and token is None:
        e["ACSCTL_TOKEN"] = Env.tok[role]
    elif token:
        e["ACSCTL_TOKEN"] = token
    e.update(env or {})
    p = subprocess.run([sys.executable, acsctl_path()] + list(args), input=stdin, capture_output=True,
                       text=True, env=e, timeout=timeout, cwd=cwd)
    return p.returncode, p.stdout, p.stderr


def ok(*args, **kw):
    rc, out, err = run(*args, **kw)
    check(rc == OK, "acsctl %s: exit %d, expected 0\nstdout: %s\nstderr: %s" % (" ".join(args), rc, out, err))
    return out, err


def ok_json(*args, **kw):
    out, _ = ok("--json", *args, **kw)
    try:
        return json.loads(out)
    except ValueError:
        raise Fail("acsctl --json %s: not JSON: %.300r" % (" ".join(args), out))


def fails(code, *args, contains=(), **kw):
    """acsctl ARGS must exit with code, saying each of contains on stderr."""
    rc, out, err = run(*args, **kw)
    check(rc == code, "acsctl %s: exit %d, expected %d\nstdout: %s\nstderr: %s"
          % (" ".join(args), rc, code, out, err))
    for c in ([contains] if isinstance(contains, str) else contains):
        check(c in err, "acsctl %s: stderr %r does not say %r" % (" ".join(args), err, c))
    return out, err


def api(method, path, role="admin", body=None):
    """The API itself, to hold acsctl's output against it."""
    h = {"Authorization": "Bearer " + Env.tok[role]}
    data = b""
    if body is not None:
        data = json.dumps(body)
        h["Content-Type"] = "application/json"
    st, rh, raw = request(Env.acsd.api, method, path, h, data, timeout=10)
    return st, rh, (json.loads(raw) if raw else None)


def route_missing(method, path, why):
    """Skip when the server answers 404 for a route of another part."""
    st, _, doc = api(method, path, body={} if method == "POST" else None)
    if st == 404:
        raise Skip("%s %s answers 404 (%s): %s" % (method, path, (doc or {}).get("error"), why))
    return st, doc


def psql(sql):
    return Env.pg.psql(sql)


def sql_str(s):
    return "'" + s.replace("'", "''") + "'"


def rows_of(table_text):
    """A table's lines as lists of cells (split on runs of 2+ spaces), header first."""
    return [re.split(r"\s{2,}", line.strip()) for line in table_text.splitlines() if line.strip()]


def dev_path(device_id, suffix=""):
    return "/api/v1/devices/" + urllib.parse.quote(device_id, safe="") + suffix


# --- the fleet

SPECIAL = "00D09E-Home%2DGW-SN%251%2Dx"  # parts 00D09E, Home-GW, SN%1-x
PLAIN = ["00D09E-HG8245-SN%04d" % i for i in range(25)]
ALL_IDS = sorted(PLAIN + [SPECIAL], key=lambda s: s.encode())


def insert_devices():
    rows = ["(%s, '00D09E', 'HG8245', 'SN%04d', 'Huawei', 'V1.%d', '%s')"
            % (sql_str(d), i, i, "{lab}" if i % 5 == 0 else "{}") for i, d in enumerate(PLAIN)]
    rows.append("(%s, '00D09E', 'Home-GW', 'SN%%1-x', 'Acme', 'SW3', '{lab,\"b b\"}')" % sql_str(SPECIAL))
    psql("INSERT INTO devices (id, oui, product_class, serial_number, manufacturer, software_version, tags) "
         "VALUES " + ", ".join(rows))
    psql("INSERT INTO parameters (device_id, name, value, xsd_type, writable, is_object) VALUES "
         "(%s, 'Device.DeviceInfo.SoftwareVersion', 'SW3', 'xsd:string', false, false), "
         "(%s, 'Device.WiFi.SSID.1.SSID', 'home net', 'xsd:string', true, false), "
         "(%s, 'Device.WiFi.SSID.2.SSID', 'guest', 'xsd:string', true, false)"
         % ((sql_str(SPECIAL),) * 3))


# --- a CPE speaking CWMP (enough for tasks to end)

INFORM = ('<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" '
          'xmlns:soapenc="http://schemas.xmlsoap.org/soap/encoding/" '
          'xmlns:cwmp="urn:dslforum-org:cwmp-1-0"><soap:Header><cwmp:ID soap:mustUnderstand="1">1'
          '</cwmp:ID></soap:Header><soap:Body><cwmp:Inform><DeviceId><Manufacturer>ACME</Manufacturer>'
          '<OUI>{oui}</OUI><ProductClass>{pc}</ProductClass><SerialNumber>{sn}</SerialNumber></DeviceId>'
          '<Event soapenc:arrayType="cwmp:EventStruct[1]"><EventStruct><EventCode>{event}</EventCode>'
          '<CommandKey></CommandKey></EventStruct></Event><MaxEnvelopes>1</MaxEnvelopes>'
          '<CurrentTime>2026-12-01T08:00:00Z</CurrentTime><RetryCount>0</RetryCount>'
          '<ParameterList soapenc:arrayType="cwmp:ParameterValueStruct[{n}]">{params}</ParameterList>'
          '</cwmp:Inform></soap:Body></soap:Envelope>')
PARAM = ('<ParameterValueStruct><Name>{name}</Name><Value xsi:type="xsd:string" '
         'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">{value}</Value></ParameterValueStruct>')
ENVELOPE = ('<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" '
            'xmlns:cwmp="urn:dslforum-org:cwmp-1-0"><soap:Header><cwmp:ID soap:mustUnderstand="1">{id}'
            '</cwmp:ID></soap:Header><soap:Body>{body}</soap:Body></soap:Envelope>')
FAULT = ('<soap:Fault><faultcode>Client</faultcode><faultstring>CWMP fault</faultstring><detail>'
         '<cwmp:Fault><FaultCode>9005</FaultCode><FaultString>Invalid parameter name</FaultString>'
         '</cwmp:Fault></detail></soap:Fault>')


def cpe_session(oui, pc, sn, event="2 PERIODIC", params=None):
    """One CWMP session: Reboot is answered RebootResponse, any other RPC a
    9005 fault. Answers the RPCs the ACS sent."""
    ps = "".join(PARAM.format(name=k, value=v) for k, v in (params or {}).items())
    inform = INFORM.format(oui=oui, pc=pc, sn=sn, event=event, n=len(params or {}), params=ps)
    rpcs = []
    with Conn(Env.acsd.cwmp, timeout=10) as c:
        c.send(format_request("POST", "/", {"Content-Type": "text/xml"}, inform))
        st, h, body = c.read_response(10)
        check(st == 200 and b"InformResponse" in body, "Inform: %d %r" % (st, body[:300]))
        cookie = h.get("set-cookie", "").split(";")[0]
        hdr = {"Content-Type": "text/xml"}
        if cookie:
            hdr["Cookie"] = cookie
        answer = b""
        for _ in range(10):
            c.send(format_request("POST", "/", hdr, answer))
            st, h, body = c.read_response(10)
            if st == 204:
                return rpcs
            check(st == 200, "CWMP session: %d %r" % (st, body[:300]))
            text = body.decode()
            rid = re.search(r"<cwmp:ID[^>]*>([^<]*)<", text)
            rpc = re.search(r"<soap(?:-env|env)?:Body>\s*<cwmp:(\w+)", text, re.I)
            check(rid and rpc, "an ACS request without ID or RPC: %r" % text[:300])
            rpcs.append(rpc.group(1))
            reply = "<cwmp:RebootResponse/>" if rpc.group(1) == "Reboot" else FAULT
            answer = ENVELOPE.format(id=rid.group(1), body=reply).encode()
    raise Fail("the CWMP session did not end: RPCs %r" % rpcs)


# --- tests: configuration and errors

def test_help_and_config():
    out, _ = ok("--help", role=None)
    check("exit status" in out and "9 the awaited" in out, "--help without the exit codes: %s" % out)
    out, _ = ok("tasks", "wait", "--help", role=None)
    check("--timeout" in out, "tasks wait --help: %s" % out)
    fails(USAGE, "devices", "list", role=None, contains="no token")
    fails(USAGE, "devices", "frobnicate", role=None)
    fails(USAGE, "--url", "ftp://x", "devices", "list", contains="--url")
    # the token: --token, --token-file, ACSCTL_TOKEN_FILE, ./var/admin-token
    tmp = tempfile.mkdtemp(prefix="acsctl-")
    try:
        tf = os.path.join(tmp, "tok")
        with open(tf, "w") as f:
            f.write(Env.tok["readonly"] + "\n")
        for args, env, cwd in ((["--token", Env.tok["readonly"]], None, None),
                               (["--token-file", tf], None, None),
                               ([], {"ACSCTL_TOKEN_FILE": tf}, None)):
            out, _ = ok(*(args + ["devices", "list", "--limit", "1"]), role=None, env=env, cwd=cwd)
            check(rows_of(out)[1][0] == ALL_IDS[0], "token from %r %r: %s" % (args, env, out))
        os.makedirs(os.path.join(tmp, "var"))
        shutil.copy(tf, os.path.join(tmp, "var", "admin-token"))
        out, _ = ok("devices", "list", "--limit", "1", role=None, cwd=tmp)
        check(rows_of(out)[1][0] == ALL_IDS[0], "token from ./var/admin-token: %s" % out)
        # the flag wins over the environment; options after the command work too
        fails(AUTH, "devices", "list", "--token", "acs_" + "B" * 43, role="readonly", contains="401")
        fails(USAGE, "--token-file", os.path.join(tmp, "none"), "devices", "list", role=None,
              contains="token file")
    finally:
        shutil.rmtree(tmp)
    # --url from the flag over ACSCTL_URL; an unreachable server
    port = free_port()
    fails(UNAVAILABLE, "devices", "list", url="http://127.0.0.1:%d" % port, contains="cannot reach")
    out, _ = ok("--url", "http://127.0.0.1:%d" % Env.acsd.api, "devices", "list", "--limit", "1",
                url="http://127.0.0.1:%d" % port)
    check(len(rows_of(out)) == 2, "--url over ACSCTL_URL: %s" % out)


def test_errors():
    # a bad token: 401 and the API's message
    _, err = fails(AUTH, "devices", "list", token="acs_" + "A" * 43, contains=["401", "GET /api/v1/devices"])
    st, _, doc = api("GET", "/api/v1/devices", body=None, role="admin")
    check(st == 200, "the API itself: %d" % st)
    # a role too low: 403 naming the role
    _, err = fails(AUTH, "tasks", "create", PLAIN[1], "Reboot", role="readonly", contains="403")
    check("operator" in err, "403 without the role needed: %r" % err)
    check(psql("SELECT count(*) FROM tasks") == "0", "a refused task was created")
    # 404 with the server's message
    fails(NOT_FOUND, "devices", "get", "00D09E-NOPE-1", contains=["404", "00D09E-NOPE-1"])
    fails(NOT_FOUND, "tasks", "get", "999999", contains="404")
    # 400 from a bad query, with the parser's offset
    _, err = fails(INVALID, "devices", "list", "-Q", "oui = 1 oui = 2", contains=["400", "q: at 9"])
    fails(INVALID, "devices", "list", "--sort", "nosuchfield", contains="400")
    fails(INVALID, "tasks", "create", PLAIN[1], "NoSuchRPC", role="operator", contains="rpc")
    fails(INVALID, "tasks", "create", PLAIN[1], "SetParameterValues", "--arg", "ParameterLst:=[]",
          role="operator", contains="ParameterLst")
    # usage errors found by acsctl itself
    fails(USAGE, "tasks", "create", PLAIN[1], "Reboot", "--args", "{nope", contains="--args")
    fails(USAGE, "tasks", "create", PLAIN[1], "Reboot", "--args", "[1]", contains="object")
    fails(USAGE, "tasks", "create", PLAIN[1], "Reboot", "--arg", "novalue", contains="KEY=VALUE")
    fails(USAGE, "tasks", "create", PLAIN[1], "Reboot", "--arg", "a=1", "--args", "{}")
    fails(USAGE, "tasks", "create", PLAIN[1], "Reboot", "--timeout", "5", contains="--connection-request")
    fails(USAGE, "bulk", "create", "-Q", "tag = x", "--rpc", "Reboot", "--rate", "1", "--window", "25:00-01:00",
          contains="HH:MM")
    fails(USAGE, "files", "upload", "/nonexistent/file", "--type", "firmware", contains="not a file")
    fails(USAGE, "policies", "push", "/nonexistent/dir", contains="not a directory")
    check(psql("SELECT count(*) FROM tasks") == "0", "a refused command created a task")


def test_unavailable_retried():
    """acsd without a store answers 503 with Retry-After: retried --retries
    times after the Retry-After, then exit 7 with the message."""
    with Acsd(env={"ACS_RETRY_AFTER": "1"}) as s:
        s.wait_ready()
        url = "http://127.0.0.1:%d" % s.api
        t0 = time.monotonic()
        _, err = fails(UNAVAILABLE, "--retries", "0", "devices", "list", url=url, contains="503")
        check("retrying" not in err, "--retries 0 retried: %r" % err)
        _, err = fails(UNAVAILABLE, "--retries", "2", "devices", "list", url=url, contains="503")
        waited = time.monotonic() - t0
        check(err.count("retrying in 1 s") == 2 and "(2 of 2)" in err, "retries on stderr: %r" % err)
        check(waited >= 2.0, "two retries after Retry-After: 1 took %.2f s" % waited)
        # the API's message, not just the status
        st, _, doc = request(s.api, "GET", "/api/v1/devices", {"Authorization": "Bearer " + Env.tok["admin"]})
        msg = json.loads(doc)["error"]
        check(st == 503 and msg in err, "stderr %r without the API's message %r" % (err, msg))


# --- devices

def test_devices_list():
    # one page: the table, the cursor note on stderr
    out, err = ok("devices", "list", "--limit", "10", role="readonly")
    rows = rows_of(out)
    check(rows[0][:4] == ["ID", "MANUFACTURER", "PRODUCT", "SOFTWARE"], "header %r" % rows[0])
    check([r[0] for r in rows[1:]] == ALL_IDS[:10], "first page %r" % [r[0] for r in rows[1:]])
    m = re.search(r"10 of 26 devices; more: --cursor (\S+)", err)
    check(m, "no cursor note on stderr: %r" % err)
    out, _ = ok("devices", "list", "--limit", "10", "--cursor", m.group(1), role="readonly")
    check([r[0] for r in rows_of(out)[1:]] == ALL_IDS[10:20], "second page %s" % out)
    # --all follows the cursors: plain progress lines off a terminal
    out, err = ok("devices", "list", "--limit", "7", "--all", role="readonly")
    check([r[0] for r in rows_of(out)[1:]] == ALL_IDS, "--all: %s" % out)
    check("\r" not in err and re.search(r"^devices: 7/26 ", err, re.M) and
          re.search(r"^devices: 26 items \(4 pages\)$", err, re.M), "plain progress: %r" % err)
    # --json: the API's items, all of them
    doc = ok_json("devices", "list", "--limit", "7", "--all", role="readonly")
    st, _, api_doc = api("GET", "/api/v1/devices?limit=100")
    check(doc == {"items": api_doc["items"], "next_cursor": None}, "--json --all differs from the API")
    doc = ok_json("devices", "list", "--limit", "3", role="readonly")
    check(len(doc["items"]) == 3 and isinstance(doc["next_cursor"], str), "--json page %r" % doc)
    # a query, a sort, a projection with a subtree
    out, _ = ok("devices", "list", "-Q", "tag = lab", "--sort", "-serial_number", role="readonly")
    want = sorted([d for i, d in enumerate(PLAIN) if i % 5 == 0] + [SPECIAL],
                  key=lambda d: psql("SELECT serial_number FROM devices WHERE id = %s" % sql_str(d)).encode(),
                  reverse=True)
    check([r[0] for r in rows_of(out)[1:]] == want, "query and sort: %s" % out)
    out, _ = ok("devices", "list", "-Q", 'id = "%s"' % SPECIAL, "--fields", "software_version,Device.WiFi.",
                role="readonly")
    rows = rows_of(out)
    check(rows[0] == ["ID", "SOFTWARE_VERSION", "Device.WiFi.SSID.1.SSID", "Device.WiFi.SSID.2.SSID"] and
          rows[1] == [SPECIAL, "SW3", "home net", "guest"], "projection table %r" % rows)


def test_devices_list_bar():
    """On a terminal (stderr a tty) --all draws a bar redrawn in place."""
    master, slave = pty.openpty()
    e = {k: v for k, v in clean_env().items() if not k.startswith("ACSCTL_")}
    e.update(ACSCTL_URL="http://127.0.0.1:%d" % Env.acsd.api, ACSCTL_TOKEN=Env.tok["readonly"])
    p = subprocess.Popen([sys.executable, acsctl_path(), "devices", "list", "--limit", "5", "--all"],
                         stdout=subprocess.PIPE, stderr=slave, env=e)
    os.close(slave)
    chunks = []

    def drain():  # read while it writes: a full terminal buffer would block it
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO once the last writer has closed it
                return
            if not chunk:
                return
            chunks.append(chunk)
    reader = threading.Thread(target=drain)
    reader.start()
    out, _ = p.communicate(timeout=60)
    reader.join(10)
    tty = b"".join(chunks)
    os.close(master)
    check(p.returncode == 0 and len(out.decode().splitlines()) == 27, "devices list on a tty: %d" % p.returncode)
    text = tty.decode(errors="replace")
    check("\r" in text and "[" in text and "100%" in text and "26 items (6 pages)" in text,
          "no progress bar on the terminal: %r" % text)


def test_devices_get_tag_delete():
    out, _ = ok("devices", "get", SPECIAL, role="readonly")
    check(re.search(r"^id\s+%s$" % re.escape(SPECIAL), out, re.M) and
          re.search(r"^Device.WiFi.SSID.1.SSID\s+xsd:string\s+w\s+home net$", out, re.M),
          "devices get: %s" % out)
    doc = ok_json("devices", "get", SPECIAL, role="readonly")
    st, _, api_doc = api("GET", dev_path(SPECIAL))
    check(doc == api_doc, "devices get --json differs from the API")
    out, _ = ok("devices", "tag", SPECIAL, "--add", "new", "--remove", "lab", role="operator")
    check(out.strip() == "%s: tags b b,new" % SPECIAL, "devices tag: %r" % out)
    doc = ok_json("devices", "tag", SPECIAL, "--add", "lab", role="operator")
    check(doc["tags"] == ["b b", "new", "lab"], "devices tag --json %r" % doc)
    fails(USAGE, "devices", "tag", SPECIAL, role="operator", contains="--add")
    fails(AUTH, "devices", "delete", PLAIN[24], role="operator", contains="403")
    out, _ = ok("devices", "delete", PLAIN[24])
    check(out.strip() == "deleted device %s" % PLAIN[24], "devices delete: %r" % out)
    fails(NOT_FOUND, "devices", "get", PLAIN[24], contains="404")
    fails(NOT_FOUND, "devices", "delete", PLAIN[24], contains="404")
    ALL_IDS.remove(PLAIN[24])
    check(psql("SELECT action FROM audit_log ORDER BY id DESC LIMIT 1") == "device.delete", "not audited")


# --- tasks

def test_tasks():
    dev = PLAIN[1]
    t = ok_json("tasks", "create", dev, "SetParameterValues", "--arg",
                'ParameterList:=[{"Name": "Device.X.Y", "Value": "v", "Type": "xsd:string"}]',
                "--arg", "ParameterKey=k1", "--expires-in", "3600", role="operator")
    check(t["status"] == "pending" and t["args"]["ParameterKey"] == "k1" and t["expires_at"],
          "tasks create --arg: %r" % t)
    row = psql("SELECT rpc, args->>'ParameterKey', args->'ParameterList'->0->>'Name' FROM tasks WHERE id = %d"
               % t["id"])
    check(row == "SetParameterValues|k1|Device.X.Y", "task row %r" % row)
    out, _ = ok("tasks", "create", dev, "GetParameterValues", "--args", '{"ParameterNames": ["Device."]}',
                role="operator")
    tid2 = int(re.search(r"^id\s+(\d+)$", out, re.M).group(1))
    check(re.search(r"^status\s+pending$", out, re.M), "tasks create table: %s" % out)
    t3 = ok_json("tasks", "create", PLAIN[2], "Reboot", "--args", "-", stdin='{"CommandKey": "c3"}',
                 role="operator")
    check(t3["args"] == {"CommandKey": "c3"}, "--args - %r" % t3)
    # list with filters, table and JSON
    out, _ = ok("tasks", "list", "--device", dev, role="readonly")
    rows = rows_of(out)
    check(rows[0][:4] == ["ID", "DEVICE", "RPC", "STATUS"] and [int(r[0]) for r in rows[1:]] == [tid2, t["id"]],
          "tasks list --device %s" % out)
    doc = ok_json("tasks", "list", "--status", "pending", "--limit", "1", "--all", role="readonly")
    check([x["id"] for x in doc["items"]] == [t3["id"], tid2, t["id"]], "tasks list --all %r" % doc)
    out, _ = ok("tasks", "get", str(t["id"]), role="readonly")
    check(re.search(r"^rpc\s+SetParameterValues$", out, re.M), "tasks get %s" % out)
    # cancel, cancel again (409), retry
    c = ok_json("tasks", "cancel", str(t["id"]), role="operator")
    check(c["status"] == "cancelled", "cancel %r" % c)
    fails(CONFLICT, "tasks", "cancel", str(t["id"]), role="operator", contains=["409", "cancelled"])
    out, _ = ok("tasks", "retry", str(t["id"]), role="operator")
    m = re.match(r"task (\d+): retry of %d, pending$" % t["id"], out.strip())
    check(m, "tasks retry: %r" % out)
    fails(CONFLICT, "tasks", "retry", m.group(1), role="operator", contains="409")
    for tid in (m.group(1), str(tid2), str(t3["id"])):
        ok("tasks", "cancel", tid, role="operator")


def test_tasks_wait():
    """tasks wait follows a task while a CPE runs it: done (exit 0), a fault
    (exit 9), still pending at --timeout (exit 8); plain lines per status."""
    oui, pc, sn = "00AA11", "Box", "W1"
    cpe_session(oui, pc, sn, "1 BOOT")
    dev = "%s-%s-%s" % (oui, pc, sn)
    t = ok_json("tasks", "create", dev, "Reboot", "--arg", "CommandKey=w1", role="operator")
    _, err = fails(TIMEOUT, "tasks", "wait", str(t["id"]), "--timeout", "1", "--interval", "0.2",
                   role="readonly", contains="still pending")
    check(re.search(r"^task %d: pending$" % t["id"], err, re.M), "no plain progress line: %r" % err)
    p = subprocess.Popen([sys.executable, acsctl_path(), "tasks", "wait", str(t["id"]), "--interval", "0.2",
                          "--timeout", "60"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         env=dict(clean_env(), ACSCTL_URL="http://127.0.0.1:%d" % Env.acsd.api,
                                  ACSCTL_TOKEN=Env.tok["readonly"]))
    first = p.stderr.readline()  # it has seen the task pending: now the CPE runs it
    rpcs = cpe_session(oui, pc, sn)
    check(rpcs == ["Reboot"], "the session sent %r" % rpcs)
    out, err = p.communicate(timeout=60)
    check(p.returncode == OK, "tasks wait on a task done: exit %d\n%s\n%s" % (p.returncode, out, err))
    check(re.search(r"^status\s+done$", out, re.M), "tasks wait output %s" % out)
    lines = [first.rstrip("\n")] + err.splitlines()
    check(lines[0] == "task %d: pending" % t["id"] and lines[-1] == "task %d: done" % t["id"] and
          len(lines) == len(set(lines)), "plain lines, one per status: %r" % lines)
    # a fault: exit 9 with the fault; --wait on create
    g = ok_json("tasks", "create", dev, "GetParameterValues", "--arg", 'ParameterNames:=["Device.X."]',
                role="operator")
    threading.Timer(0.5, lambda: cpe_session(oui, pc, sn)).start()
    out, err = fails(FAILED, "--json", "tasks", "wait", str(g["id"]), "--interval", "0.2", "--timeout", "30",
                     role="readonly")
    doc = json.loads(out)
    check(doc["status"] == "fault" and doc["fault"]["code"] == 9005, "fault task %r" % doc)
    threading.Timer(0.5, lambda: cpe_session(oui, pc, sn)).start()
    out, err = fails(FAILED, "tasks", "create", dev, "GetParameterNames", "--arg", "ParameterPath=Device.",
                     "--arg", "NextLevel:=true", "--wait", "--interval", "0.2", "--wait-timeout", "30",
                     role="operator")
    check(re.search(r"^task \d+: fault: 9005 Invalid parameter name$", out, re.M), "create --wait %s" % out)


def test_connection_request():
    """tasks create --connection-request: the CPE connects at once and the
    task is done within --timeout (200), printed with the request's outcome."""
    oui, pc, sn = "00AA11", "Box", "CR1"
    dev = "%s-%s-%s" % (oui, pc, sn)
    hits = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            hits.append(self.path)
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()
            threading.Thread(target=cpe_session, args=(oui, pc, sn, "6 CONNECTION REQUEST")).start()

        def log_message(self, *a):
            pass
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        url = "http://127.0.0.1:%d/cr" % srv.server_address[1]
        cpe_session(oui, pc, sn, "1 BOOT", {"Device.ManagementServer.ConnectionRequestURL": url,
                                            "Device.ManagementServer.ConnectionRequestUsername": "cpe"})
        rc, out, err = run("tasks", "create", dev, "Reboot", "--connection-request", "--timeout", "20",
                           role="operator")
        if rc == OK and "without a connection request" in err:
            tid = re.search(r"^id\s+(\d+)$", out, re.M).group(1)
            ok("tasks", "cancel", tid, role="operator")
            raise Skip("POST .../tasks?connection_request=true answered 201: connection requests from "
                       "tasks are not in this server")
        check(rc == OK, "--connection-request: exit %d\n%s\n%s" % (rc, out, err))
        check(hits and re.search(r"^status\s+done$", out, re.M) and "connection request: accepted" in out,
              "--connection-request output %s (requests %r)" % (out, hits))
    finally:
        srv.shutdown()


# --- faults, tokens, audit

def test_faults():
    d1, d2 = PLAIN[3], PLAIN[4]
    psql("INSERT INTO faults (device_id, channel, code, message, retries) VALUES "
         "(%s, 'default', '9002', 'internal error', 2), (%s, 'wifi', 'script.timeout', 'too slow', 0), "
         "(%s, 'ch/x y', '9005', 'bad name', 1)" % (sql_str(d1), sql_str(d1), sql_str(d2)))
    out, _ = ok("faults", "list", role="readonly")
    rows = rows_of(out)
    check(rows[0][:4] == ["DEVICE", "CHANNEL", "CODE", "MESSAGE"] and
          [(r[0], r[1]) for r in rows[1:]] == [(d1, "default"), (d1, "wifi"), (d2, "ch/x y")],
          "faults list %s" % out)
    doc = ok_json("faults", "list", "--channel", "wifi", role="readonly")
    check([(f["device_id"], f["code"]) for f in doc["items"]] == [(d1, "script.timeout")], "--channel %r" % doc)
    doc = ok_json("faults", "list", "--device", d2, role="readonly")
    check([f["channel"] for f in doc["items"]] == ["ch/x y"], "--device %r" % doc)
    out, _ = ok("faults", "delete", d2, "ch/x y", role="operator")
    check(out.strip() == "deleted fault %s ch/x y" % d2, "faults delete %r" % out)
    fails(NOT_FOUND, "faults", "delete", d2, "ch/x y", role="operator", contains="404")
    check(psql("SELECT count(*) FROM faults WHERE device_id = %s" % sql_str(d2)) == "0", "fault still there")


def test_faults_retry():
    d1 = PLAIN[3]
    rc, out, err = run("faults", "retry", d1, "default", role="operator")
    if rc == NOT_FOUND:
        raise Skip("POST /api/v1/faults/{device}/{channel}/retry answers 404 for an existing fault: "
                   "not in this server (%s)" % err.strip())
    check(rc == OK and "runs again" in out, "faults retry: %d %s %s" % (rc, out, err))
    fails(AUTH, "faults", "retry", d1, "default", role="readonly", contains="403")
    fails(NOT_FOUND, "faults", "retry", d1, "no-such-channel", role="operator", contains="404")


def test_tokens_and_audit():
    out, err = ok("tokens", "create", "--role", "readonly", "--name", "made-by-acsctl")
    tok = out.strip()
    check(re.fullmatch(r"acs_[A-Za-z0-9_-]{43}", tok) and "shown this once" in err,
          "tokens create: stdout %r stderr %r" % (out, err))
    out, _ = ok("devices", "list", "--limit", "1", token=tok)
    first = api("GET", "/api/v1/devices?limit=1")[2]["items"][0]["id"]
    check(rows_of(out)[1][0] == first, "the new token does not work: %s" % out)
    out, _ = ok("tokens", "list")
    row = [r for r in rows_of(out) if r[1:3] == ["made-by-acsctl", "readonly"]]
    check(len(row) == 1 and row[0][-1] == "-", "tokens list %s" % out)
    tid = row[0][0]
    fails(AUTH, "tokens", "list", role="operator", contains="403")
    doc = ok_json("tokens", "create", "--role", "operator")
    check(doc["role"] == "operator" and doc["token"].startswith("acs_"), "tokens create --json %r" % doc)
    out, _ = ok("tokens", "revoke", tid)
    check(re.match(r"token %s \(made-by-acsctl\) revoked at \S+Z$" % tid, out.strip()), "revoke %r" % out)
    fails(NOT_FOUND, "tokens", "revoke", "999999", contains="404")
    time.sleep(5.5)  # the token cache's TTL
    fails(AUTH, "devices", "list", token=tok, contains="401")
    # the audit log, filtered
    out, _ = ok("audit", "list", "--action", "token.revoke")
    rows = rows_of(out)
    check(rows[0][:5] == ["ID", "AT", "ACTOR", "ACTION", "TARGET"] and len(rows) == 2 and
          rows[1][2:5] == ["admin", "token.revoke", tid], "audit list --action %s" % out)
    doc = ok_json("audit", "list", "--actor", "op", "--since", "now-1h", "--limit", "2", "--all")
    acts = {x["action"] for x in doc["items"]}
    check(acts and acts <= {"task.create", "task.cancel", "task.retry", "device.tags", "fault.delete",
                       "fault.retry"} and
          len(doc["items"]) == int(psql("SELECT count(*) FROM audit_log WHERE actor = 'op'")),
          "audit --actor op --all %r" % acts)
    doc = ok_json("audit", "list", "--until", "2000-01-01")
    check(doc["items"] == [], "audit --until 2000 %r" % doc)
    fails(INVALID, "audit", "list", "--since", "yesterday", contains="400")


# --- routes of other parts of the server: skipped while they answer 404

def test_files():
    route_missing("GET", "/api/v1/files", "files come with schema v6")
    tmp = tempfile.mkdtemp(prefix="acsctl-")
    try:
        path = os.path.join(tmp, "fw-2.0.bin")
        data = os.urandom(300 * 1024 + 7)
        with open(path, "wb") as f:
            f.write(data)
        digest = hashlib.sha256(data).hexdigest()
        doc = ok_json("files", "upload", path, "--type", "firmware", "--oui", "00D09E", "--product-class",
                      "HG8245", "--version", "2.0", role="admin")
        check(doc["name"] == "fw-2.0.bin" and doc["sha256"] == digest and doc["size"] == len(data) and
              doc["type"] == "1 Firmware Upgrade Image" and doc["version"] == "2.0", "files upload %r" % doc)
        _, err = fails(CONFLICT, "files", "upload", path, "--type", "firmware", contains="409")
        check(re.search(r"^upload fw-2\.0\.bin: sha256 ", err, re.M), "plain upload progress: %r" % err)
        out, err = ok("files", "upload", path, "--name", "other.bin", "--type", "3 Vendor Configuration File")
        check(re.search(r"^sha256\s+%s$" % digest, out, re.M) and
              re.search(r"^upload other\.bin: 300\.0 KiB sent, sha256 %s$" % digest[:16], err, re.M),
              "files upload table %s / %r" % (out, err))
        out, _ = ok("files", "list", role="readonly")
        rows = rows_of(out)
        check(rows[0][:3] == ["NAME", "TYPE", "SIZE"] and sorted(r[0] for r in rows[1:]) ==
              ["fw-2.0.bin", "other.bin"], "files list %s" % out)
        doc = ok_json("files", "list", "--type", "firmware", role="readonly")
        check([x["name"] for x in doc["items"]] == ["fw-2.0.bin"], "files list --type %r" % doc)
        doc = ok_json("files", "get", "fw-2.0.bin", role="readonly")
        check(doc["sha256"] == digest, "files get %r" % doc)
        out, _ = ok("files", "delete", "other.bin")
        check(out.strip() == "deleted file other.bin", "files delete %r" % out)
        fails(NOT_FOUND, "files", "get", "other.bin", contains="404")
    finally:
        shutil.rmtree(tmp)


def test_policies():
    route_missing("GET", "/api/v1/policies", "the policies API")
    out, _ = ok("policies", "push", os.path.join(SOURCE, "policies"))
    m = re.match(r"generation (\d+): (\d+) files, checksum \S+$", out.strip())
    check(m and int(m.group(2)) >= 5, "policies push: %r" % out)
    gen = int(m.group(1))
    # this acsd runs without --policies and serves the store's current
    # generation all the same: the push, within a poll
    deadline = time.monotonic() + 5
    while True:
        doc = ok_json("policies", "show", role="readonly")
        if (doc["current"] or {}).get("id") == gen or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    check(doc["current"] and doc["current"]["id"] == gen and doc["latest"]["id"] == gen and
          doc["latest"]["valid"] is True and "virtual/WiFiSSID.lua" in doc["latest"]["files"] and
          "presets/default.lua" in [f if f.endswith(".lua") else f + ".lua" for f in doc["latest"]["files"]],
          "policies show %r" % doc)
    tmp = tempfile.mkdtemp(prefix="acsctl-")
    try:
        os.makedirs(os.path.join(tmp, "provisions"))
        with open(os.path.join(tmp, "provisions", "bad.lua"), "w") as f:
            f.write("-- a provision that does not compile\nlocal x = 1\nlocal = 2\n")
        with open(os.path.join(tmp, "provisions", ".hidden.lua"), "w") as f:
            f.write("this is never read")
        _, err = fails(INVALID, "policies", "push", tmp, contains="refused")
        check(re.search(r"provisions/bad(\.lua)?:3: ", err), "load error without file:line: %r" % err)
        out, _ = ok("policies", "show", role="readonly")
        rows = rows_of(out)
        check(rows[1][0] == "current" and rows[2][0] == "latest" and rows[2][1] == str(gen + 1) and
              "false" in rows[2] and "bad" in rows[2][-1], "policies show after a refused push %s" % out)
    finally:
        shutil.rmtree(tmp)
    doc = ok_json("policies", "generations", role="readonly")
    check(len(doc["items"]) >= 2, "policies generations %r" % doc)
    fails(AUTH, "policies", "reload", role="operator", contains="403")
    out, _ = ok("policies", "reload")
    check(out.strip().startswith("reload requested"), "policies reload %r" % out)


def test_alarms():
    route_missing("GET", "/api/v1/alarms", "the alarms API")
    psql("INSERT INTO alarms (device_id, rule, instance_key, severity, message) VALUES "
         "(%s, 'alarms/wan_down', '', 'major', 'WAN down'), (%s, 'alarms/cpu_high', '', 'minor', 'CPU 97%%')"
         % (sql_str(PLAIN[5]), sql_str(PLAIN[6])))
    psql("INSERT INTO alarms (device_id, rule, severity, message, cleared_at) VALUES "
         "(%s, 'alarms/wan_down', 'major', 'was down', now())" % sql_str(PLAIN[7]))
    out, _ = ok("alarms", "list", role="readonly")
    rows = rows_of(out)
    check(rows[0][:4] == ["ID", "DEVICE", "RULE", "SEVERITY"] and
          sorted(r[1] for r in rows[1:]) == sorted(PLAIN[5:7]), "alarms list (open) %s" % out)
    doc = ok_json("alarms", "list", "--state", "all", role="readonly")
    check(len(doc["items"]) == 3, "alarms --state all %r" % doc)
    doc = ok_json("alarms", "list", "--severity", "major", role="readonly")
    check([x["device_id"] for x in doc["items"]] == [PLAIN[5]], "alarms --severity %r" % doc)
    aid = [x for x in doc["items"]][0]["id"]
    doc = ok_json("alarms", "get", str(aid), role="readonly")
    check(doc["rule"] == "alarms/wan_down", "alarms get %r" % doc)
    fails(AUTH, "alarms", "ack", str(aid), role="readonly", contains="403")
    out, _ = ok("alarms", "ack", str(aid), role="operator")
    check(re.match(r"alarm %d acknowledged by op at \S+Z$" % aid, out.strip()), "alarms ack %r" % out)
    fails(NOT_FOUND, "alarms", "ack", "999999", role="operator", contains="404")


def test_bulk():
    route_missing("GET", "/api/v1/bulk", "bulk actions come with schema v7")
    b = ok_json("bulk", "create", "-Q", "tag = lab", "--rpc", "Reboot", "--arg", "CommandKey=bulk-1",
                "--rate", "0.2", "--window", "00:00-23:59", "--expires-in", "3600", role="operator")
    check(b["status"] == "running" and b["task"]["rpc"] == "Reboot" and b["query"] == "tag = lab" and
          b["window"] == {"start": "00:00", "end": "23:59"} and b["rate"] == 0.2, "bulk create %r" % b)
    bid = str(b["id"])
    out, _ = ok("bulk", "list", role="readonly")
    check(any(r[0] == bid for r in rows_of(out)[1:]) and rows_of(out)[0][:2] == ["ID", "STATUS"],
          "bulk list %s" % out)
    out, _ = ok("bulk", "get", bid, role="readonly")
    check(re.search(r"^progress\s+total \d+", out, re.M), "bulk get %s" % out)
    out, _ = ok("bulk", "pause", bid, role="operator")
    check(out.startswith("bulk %s: paused" % bid), "bulk pause %r" % out)
    _, err = fails(TIMEOUT, "bulk", "watch", bid, "--timeout", "1.5", "--interval", "0.3", role="readonly",
                   contains="still paused")
    check(re.search(r"^bulk %s: paused: " % bid, err, re.M) and "\r" not in err, "bulk watch lines %r" % err)
    out, _ = ok("bulk", "resume", bid, role="operator")
    check(out.startswith("bulk %s: running" % bid), "bulk resume %r" % out)
    out, _ = ok("bulk", "cancel", bid, role="operator")
    check(out.startswith("bulk %s: cancelled" % bid), "bulk cancel %r" % out)
    _, err = fails(FAILED, "bulk", "watch", bid, role="readonly")
    check(re.search(r"^bulk %s: cancelled: " % bid, err, re.M), "bulk watch of a cancelled one %r" % err)
    fails(CONFLICT, "bulk", "resume", bid, role="operator", contains="409")
    fails(INVALID, "bulk", "create", "-Q", "oui = 1 oui", "--rpc", "Reboot", "--rate", "1", role="operator",
          contains="400")


def test_bulk_tag_and_export():
    """issue 15: bulk tag (a tag action over a query, watched to done) and the
    CSV export, to stdout and to a file (complete or absent)."""
    import csv
    import io
    out, err = ok("bulk", "tag", "-Q", "serial_number MATCHES '^SN000[0-4]$'", "--add", "wave",
                  "--remove", "lab", "--watch", "--interval", "0.3", "--timeout", "20", role="operator")
    check(re.search(r"^bulk \d+: done: 5/5 done, 0 failed, 0 pending", err, re.M), "bulk tag --watch %r %r"
          % (out, err))
    tagged = psql("SELECT string_agg(serial_number, ',' ORDER BY serial_number) FROM devices WHERE "
                  "'wave' = ANY(tags) AND NOT 'lab' = ANY(tags)")
    check(tagged == "SN0000,SN0001,SN0002,SN0003,SN0004", "tagged %r" % tagged)
    fails(USAGE, "bulk", "tag", "-Q", "tag = lab", role="operator", contains="--add")
    fails(INVALID, "bulk", "tag", "-Q", "serial_number = SN*", "--add", "x", role="operator",
          contains="wildcard")
    out, _ = ok("devices", "export", "-Q", "tag = wave", "--columns", "serial_number,tags",
                role="readonly")
    rows = list(csv.reader(io.StringIO(out, newline="")))
    check(rows[0] == ["serial_number", "tags"] and [r[0] for r in rows[1:]] == ["SN%04d" % i for i in range(5)]
          and json.loads(rows[1][1]) == ["wave"], "devices export %r" % rows[:3])
    tmp = tempfile.mkdtemp(prefix="acsctl-")
    path = os.path.join(tmp, "devices.csv")
    out, err = ok("devices", "export", "-o", path, "--columns", "id,manufacturer,tags", role="readonly")
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    special = [r for r in rows if r[0] == SPECIAL]
    tags = json.loads(psql("SELECT to_json(tags) FROM devices WHERE id = %s" % sql_str(SPECIAL)))
    check(len(rows) == 1 + int(psql("SELECT count(*) FROM devices")) and special and
          special[0][1] == "Acme" and json.loads(special[0][2]) == tags, "export -o: %d rows, %r"
          % (len(rows), special))
    bad = os.path.join(tmp, "bad.csv")
    fails(INVALID, "devices", "export", "-o", bad, "--columns", "nope", role="readonly", contains="unknown column")
    check(not os.path.exists(bad) and not os.path.exists(bad + ".part"), "a failed export left a file")
    shutil.rmtree(tmp)


def test_trace():
    """issue 13: trace start (a device, a query), show, stop (sessions recorded:
    tests/server/test_traces.py)."""
    dev = PLAIN[1]
    out, _ = ok("trace", "start", dev, "--minutes", "5", "--persist", "--max-bytes", "65536", role="operator")
    check(re.match(r"^%s: trace on until \S+, 0 records \(0 bytes of 65536\), persists$" % re.escape(dev),
                   out.strip()), "trace start %r" % out)
    doc = ok_json("trace", "show", dev, role="operator")
    check(doc["device_id"] == dev and doc["items"] == [] and doc["persist"] is True, "trace show %r" % doc)
    out, _ = ok("trace", "start", "-Q", "serial_number IN (SN0002, SN0003)", "--minutes", "1", role="operator")
    check(out.strip() == "tracing 2 of 2 matching devices for 1 min", "trace start -Q %r" % out)
    fails(USAGE, "trace", "start", "--minutes", "1", role="operator", contains="DEVICE or -Q")
    fails(AUTH, "trace", "show", dev, role="readonly", contains="403")
    _, err = ok("trace", "stop", dev, role="operator")
    check("trace stopped" in err, "trace stop %r" % err)
    fails(NOT_FOUND, "trace", "show", dev, role="operator", contains="404")
    for i in (2, 3):
        ok("trace", "stop", PLAIN[i], role="operator")


def test_system():
    out, _ = ok("system", "health", role="readonly")
    check(re.search(r"^status +ready$", out, re.M) and "worker 1" in out, "system health %r" % out)
    doc = ok_json("system", "health", role="readonly")
    check(doc["status"] == "ready" and doc["reasons"] == [], "system health --json %r" % doc)
    out, _ = ok("system", "telemetry", role="readonly")
    check("sessions/s (1s, 10s, 60s)" in out and "group commit" in out, "system telemetry %r" % out)
    t = ok_json("system", "telemetry", role="readonly")
    check(t["sessions"]["started"] >= 0 and "per_second" in t["sessions"], "telemetry --json %r" % t)
    out, _ = ok("system", "log", role="readonly")
    check(out.strip() == "level warn, format text", "system log %r" % out)
    fails(AUTH, "system", "log", "--level", "info", role="readonly", contains="403")
    out, _ = ok("system", "log", "--level", "info", role="admin")
    check(out.strip() == "level info, format text", "system log --level info %r" % out)
    out, _ = ok("system", "log", "--level", "warn", role="admin")
    check(out.strip() == "level warn, format text", "system log back %r" % out)


TESTS = [test_help_and_config, test_errors, test_unavailable_retried, test_devices_list, test_devices_list_bar,
         test_devices_get_tag_delete, test_tasks, test_tasks_wait, test_connection_request, test_faults,
         test_faults_retry, test_tokens_and_audit, test_files, test_policies, test_alarms, test_bulk,
         test_bulk_tag_and_export, test_trace, test_system]


def main():
    pgtest.skip_unless_available()
    name = os.path.basename(sys.argv[0])
    acsctl_path()
    with pgtest.PgCluster(fast=True) as pg:
        Env.pg = pg
        Env.tok.update(create_tokens(pg.dsn, check=check))
        insert_devices()
        SKIPPED.extend(serve(Env, ["--pg", pg.dsn, "--log-level", "warn"], TESTS, skip=Skip))
    print("%d checks passed; %d tests skipped%s" % (CHECKS, len(SKIPPED),
                                                   " (%s)" % ", ".join(SKIPPED) if SKIPPED else ""), flush=True)
    sys.exit(0)


if __name__ == "__main__":
    main()
