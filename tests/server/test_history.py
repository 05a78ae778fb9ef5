#!/usr/bin/env python3
"""GET /api/v1/devices/{id}/history (docs/api.md, "Device history") and
`acsctl devices history`, over real CWMP sessions of a scripted CPE:

1. a bootstrap (0 BOOTSTRAP, 1 BOOT) with nothing to do;
2. a periodic Inform that gets a queued Reboot, answered;
3. a connection-request Inform that gets a GetParameterValues, answered
   with a SOAP fault 9005;
4. an Inform with 7 TRANSFER COMPLETE and the TransferComplete report,
   after which a policy fault of the device is recorded.

Each session appears once, newest first, with its events, the RPCs sent
in it with their outcome, the CPE's reports, the faults, and a duration;
pages with the list contract (limit, cursor, X-Total-Count); 404 for an
unknown device, 400 for a bad cursor; every answer checked against
api/openapi.yaml."""
import json
import os
import subprocess
import sys
import time
import urllib.parse

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "lib"))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
sys.path.insert(0, HERE)
import pgtest  # noqa: E402
import test_api_queries as spec  # noqa: E402  (the OpenAPI checker)
from acstest import Acsd, acsd_path, check, clean_env, create_tokens, request, run_tests, CwmpSession, envelope, rid_of  # noqa: E402

SERIAL = "HIST1"
DEV = "00AA33-Box-" + SERIAL


class Env:
    pg = None
    acsd = None
    tok = {}
    ids = {}


def psql(sql):
    return Env.pg.psql(sql)


def api(method, path, role="operator", body=None):
    h = {"Authorization": "Bearer " + Env.tok[role]}
    data = b""
    if body is not None:
        data = json.dumps(body)
        h["Content-Type"] = "application/json"
    st, rh, text = request(Env.acsd.api, method, path, h, data, timeout=15)
    doc = json.loads(text) if text else None
    spec.validate(method, path, st, rh, doc)
    return st, rh, doc


# --- a scripted CPE

def inform(events):
    ev = "".join("<EventStruct><EventCode>%s</EventCode><CommandKey>%s</CommandKey></EventStruct>"
                 % e for e in events)
    return envelope(
        '<cwmp:Inform><DeviceId><Manufacturer>ACME</Manufacturer><OUI>00AA33</OUI>'
        '<ProductClass>Box</ProductClass><SerialNumber>%s</SerialNumber></DeviceId>'
        '<Event soapenc:arrayType="cwmp:EventStruct[%d]">%s</Event><MaxEnvelopes>1</MaxEnvelopes>'
        '<CurrentTime>2026-12-01T08:00:00Z</CurrentTime><RetryCount>0</RetryCount>'
        '<ParameterList soapenc:arrayType="cwmp:ParameterValueStruct[1]"><ParameterValueStruct>'
        '<Name>Device.DeviceInfo.SoftwareVersion</Name><Value xsi:type="xsd:string">1.0</Value>'
        '</ParameterValueStruct></ParameterList></cwmp:Inform>' % (SERIAL, len(events), ev))


class Cpe(CwmpSession):
    def __init__(self, events):
        super().__init__(Env.acsd.cwmp, inform(events))


def history(query=""):
    return api("GET", "/api/v1/devices/%s/history%s" % (urllib.parse.quote(DEV, safe=""), query), "readonly")


# --- tests

def test_sessions():
    # 1. bootstrap, nothing to do
    cpe = Cpe((("0 BOOTSTRAP", ""), ("1 BOOT", "")))
    st, _, _ = cpe.post()
    cpe.close()
    check(st == 204, "session 1 end: %d" % st)
    time.sleep(0.05)
    # 2. a queued Reboot, answered
    st, _, t = api("POST", "/api/v1/devices/%s/tasks" % DEV, body={"rpc": "Reboot"})
    check(st in (200, 201, 202), "Reboot task: %d %r" % (st, t))
    Env.ids["reboot"] = t["id"]
    cpe = Cpe((("2 PERIODIC", ""),))
    st, _, body = cpe.post()
    xml = body.decode()
    check(st == 200 and "cwmp:Reboot" in xml, "the Reboot did not go out: %d %r" % (st, xml[:300]))
    st, _, _ = cpe.post(envelope("<cwmp:RebootResponse/>", rid_of(xml)))
    cpe.close()
    check(st == 204, "session 2 end: %d" % st)
    time.sleep(0.05)
    # 3. a GetParameterValues, answered with a fault
    st, _, t = api("POST", "/api/v1/devices/%s/tasks" % DEV, body={
        "rpc": "GetParameterValues", "args": {"ParameterNames": ["Device.Nope."]}})
    check(st in (200, 201, 202), "GPV task: %d %r" % (st, t))
    Env.ids["gpv"] = t["id"]
    cpe = Cpe((("6 CONNECTION REQUEST", ""),))
    st, _, body = cpe.post()
    xml = body.decode()
    check(st == 200 and "GetParameterValues" in xml, "the GPV did not go out: %d %r" % (st, xml[:300]))
    fault = ('<soap:Fault><faultcode>Client</faultcode><faultstring>CWMP fault</faultstring><detail>'
             '<cwmp:Fault><FaultCode>9005</FaultCode><FaultString>Invalid parameter name</FaultString>'
             '</cwmp:Fault></detail></soap:Fault>')
    st, _, _ = cpe.post(envelope(fault, rid_of(xml)))
    cpe.close()
    check(st == 204, "session 3 end: %d" % st)
    time.sleep(0.05)
    # 4. a TransferComplete report, then a policy fault
    cpe = Cpe((("7 TRANSFER COMPLETE", ""),))
    st, _, body = cpe.post(envelope(
        '<cwmp:TransferComplete><CommandKey>hist-key</CommandKey><FaultStruct><FaultCode>0</FaultCode>'
        '<FaultString></FaultString></FaultStruct><StartTime>2026-12-01T08:00:00Z</StartTime>'
        '<CompleteTime>2026-12-01T08:01:00Z</CompleteTime></cwmp:TransferComplete>', "tc1"))
    check(st == 200 and b"TransferCompleteResponse" in body, "TransferComplete: %d %r" % (st, body[:300]))
    st, _, _ = cpe.post()
    cpe.close()
    check(st == 204, "session 4 end: %d" % st)
    psql("INSERT INTO faults (device_id, channel, code, message) VALUES ('%s', 'wifi', 'script.error', "
         "'attempt to index a nil value')" % DEV)


def test_history_items():
    st, h, doc = history()
    check(st == 200 and h.get("x-total-count") == "4" and doc["next_cursor"] is None,
          "history: %d %r %r" % (st, h.get("x-total-count"), doc))
    items = doc["items"]
    check(len(items) == 4, "%d sessions: %r" % (len(items), items))
    check([i["at"] for i in items] == sorted([i["at"] for i in items], reverse=True), "not newest first")
    s4, s3, s2, s1 = items
    check([e["code"] for e in s1["events"]] == ["0 BOOTSTRAP", "1 BOOT"] and s1["rpcs"] == [] and
          s1["reports"] == [] and s1["faults"] == [] and s1["duration_ms"] is None and
          s1["last_activity_at"] is None, "session 1 %r" % s1)
    check([e["code"] for e in s2["events"]] == ["2 PERIODIC"] and len(s2["rpcs"]) == 1, "session 2 %r" % s2)
    r = s2["rpcs"][0]
    check(r["id"] == Env.ids["reboot"] and r["rpc"] == "Reboot" and r["status"] == "done" and
          r["sent_at"] and r["done_at"] and r["fault_code"] is None and r["created_by"] == "op",
          "the Reboot %r" % r)
    check(isinstance(s2["duration_ms"], int) and 0 <= s2["duration_ms"] < 10000 and s2["last_activity_at"],
          "session 2 duration %r" % s2)
    r = s3["rpcs"][0] if len(s3["rpcs"]) == 1 else {}
    check(r.get("id") == Env.ids["gpv"] and r.get("rpc") == "GetParameterValues" and r.get("status") == "fault"
          and r.get("fault_code") == 9005 and r.get("fault_string") == "Invalid parameter name",
          "session 3 %r" % s3)
    check([e["code"] for e in s4["events"]] == ["7 TRANSFER COMPLETE"] and s4["rpcs"] == [] and
          len(s4["reports"]) == 1 and s4["reports"][0]["code"] == "TransferComplete" and
          s4["reports"][0]["command_key"] == "hist-key" and
          s4["reports"][0]["payload"]["FaultStruct"]["FaultCode"] in (0, "0"),
          "session 4 %r" % s4)
    check(len(s4["faults"]) == 1 and s4["faults"][0]["channel"] == "wifi" and
          s4["faults"][0]["code"] == "script.error" and isinstance(s4["duration_ms"], int),
          "session 4 faults %r" % s4)
    Env.items = items


def test_pages():
    got, cursor, pages = [], None, 0
    while True:
        q = "?limit=1" + ("&cursor=" + urllib.parse.quote(cursor) if cursor else "")
        st, h, doc = history(q)
        check(st == 200 and h.get("x-total-count") == "4", "page %d: %d %r" % (pages, st, doc))
        got += doc["items"]
        pages += 1
        cursor = doc["next_cursor"]
        if not cursor:
            break
        check(pages < 10, "endless pages")
    check(got == Env.items, "pages of 1 differ from one page:\n%r\n%r" % (got, Env.items))
    st, _, doc = history("?limit=3")
    st2, _, doc2 = history("?limit=3&cursor=" + urllib.parse.quote(doc["next_cursor"]))
    check(doc["items"] + doc2["items"] == Env.items and doc2["next_cursor"] is None, "pages of 3")


def test_errors():
    for q in ("?limit=0", "?limit=1001", "?cursor=abc", "?cursor=" + spec.cursor_for("t", "5")):
        st, _, doc = history(q)
        check(st == 400 and "error" in doc, "%s: %d %r" % (q, st, doc))
    st, _, doc = api("GET", "/api/v1/devices/00AA33-Box-NOPE/history", "readonly")
    check(st == 404, "unknown device: %d %r" % (st, doc))
    st, _, _ = request(Env.acsd.api, "GET", "/api/v1/devices/%s/history" % DEV)
    check(st == 401, "without a token: %d" % st)
    st, _, _ = request(Env.acsd.api, "POST", "/api/v1/devices/%s/history" % DEV,
                       {"Authorization": "Bearer " + Env.tok["admin"]})
    check(st == 405, "POST: %d" % st)


def test_acsctl():
    ctl = os.path.join(os.path.dirname(acsd_path()), "acsctl")
    e = {k: v for k, v in clean_env().items() if not k.startswith("ACSCTL_")}
    e.update(ACSCTL_URL="http://127.0.0.1:%d" % Env.acsd.api, ACSCTL_TOKEN=Env.tok["readonly"])
    p = subprocess.run([sys.executable, ctl, "devices", "history", DEV], capture_output=True, env=e, timeout=30)
    out = p.stdout.decode()
    lines = out.strip().splitlines()
    check(p.returncode == 0 and lines[0].split()[:2] == ["AT", "EVENTS"] and len(lines) == 5,
          "acsctl devices history: %d %s %s" % (p.returncode, out, p.stderr.decode()))
    check("Reboot:done" in out and "GetParameterValues:fault 9005" in out and "wifi script.error" in out,
          "acsctl's table: %s" % out)
    p = subprocess.run([sys.executable, ctl, "--json", "devices", "history", DEV, "--limit", "2", "--all"],
                       capture_output=True, env=e, timeout=30)
    doc = json.loads(p.stdout)
    check(p.returncode == 0 and doc["items"] == Env.items, "acsctl --json --all: %r" % doc)


def main():
    pgtest.skip_unless_available()
    spec.Env.openapi = spec.load_openapi()
    with pgtest.PgCluster(fast=True) as pg:
        Env.pg = pg
        Env.tok.update(create_tokens(pg.dsn))
        with Acsd(["--pg", pg.dsn, "--files", "off"]) as a:
            Env.acsd = a
            a.wait_ready()
            run_tests([test_sessions, test_history_items, test_pages, test_errors, test_acsctl],
                      [("acsd", a)], tail=4000)
            a.signal()
            rc, _ = a.wait_exit(20)
            a.check_clean_exit(rc)
    print("ok", flush=True)
    sys.exit(0)


if __name__ == "__main__":
    main()
