#!/usr/bin/env python3
"""Secret parameters (docs/api.md, "Secret parameters"): a scripted CPE
reports ConnectionRequestPassword and ManagementServer.Password in its
Inform and a WiFi KeyPassphrase and PreSharedKey in a GetParameterValues
answer; operators queue a SetParameterValues of a passphrase, a Download
with file-server credentials and a bulk action setting a password. Every
role's view through every route that shows parameter values (the device,
device lists with projections, tasks, a device's tasks, bulk actions,
history, faults, the audit log, acsctl) must hold none of those values: a
secret shows "value": null, "secret": true, and the values stay stored.
Queries comparing a secret are 400 for every role (EXISTS is allowed), and
acsd's log at debug level holds none of the values. Every answer checked
against api/openapi.yaml."""
import json
import os
import subprocess
import sys
import urllib.parse

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "lib"))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
sys.path.insert(0, HERE)
import pgtest  # noqa: E402
import test_api_queries as spec  # noqa: E402  (the OpenAPI checker)
from acstest import check, clean_env, create_tokens, request, serve, CwmpSession, envelope, rid_of  # noqa: E402

SERIAL = "SEC1"
DEV = "00AA44-Box-" + SERIAL
DEVQ = urllib.parse.quote(DEV, safe="")
ROLES = ("readonly", "operator", "admin")

# Values that must never leave acsd through the API or its log.
CR_PW = "crpw-Zq81xLk"
MS_PW = "mspw-Tr55wQe"
WIFI_PP = "wifi-Kp90aBc"
WIFI_PSK = "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0"
VENDOR_PW = "vendor-Wn33pPx"
SET_PP = "newpp-Hh27mNb"
DL_PW = "dlpw-Yy64cVd"
BULK_PW = "bulkpw-Uu12gFe"
SECRETS = (CR_PW, MS_PW, WIFI_PP, WIFI_PSK, VENDOR_PW, SET_PP, DL_PW, BULK_PW)

MS = "Device.ManagementServer."
AP = "Device.WiFi.AccessPoint.1.Security."


class Env:
    pg = None
    acsd = None
    tok = {}
    ids = {}


def raw(method, path, role, body=None):
    h = {"Authorization": "Bearer " + Env.tok[role]}
    data = b""
    if body is not None:
        data = json.dumps(body)
        h["Content-Type"] = "application/json"
    st, rh, text = request(Env.acsd.api, method, path, h, data, timeout=15)
    doc = json.loads(text) if text else None
    spec.validate(method, path, st, rh, doc)
    return st, rh, text, doc


def api(method, path, role="operator", body=None):
    st, rh, _, doc = raw(method, path, role, body)
    return st, rh, doc


def no_secret_in(what, text):
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    for s in SECRETS:
        check(s not in text, "%s shows a secret value %r: %s" % (what, s, text[:600]))


# --- a scripted CPE

def pvs(params):
    return ('<ParameterList soapenc:arrayType="cwmp:ParameterValueStruct[%d]">%s</ParameterList>'
            % (len(params), "".join('<ParameterValueStruct><Name>%s</Name><Value xsi:type="%s">%s</Value>'
                                    '</ParameterValueStruct>' % (n, t, v) for n, t, v in params)))


INFORM_PARAMS = [
    ("Device.DeviceInfo.SoftwareVersion", "xsd:string", "1.0"),
    (MS + "ConnectionRequestURL", "xsd:string", "http://192.0.2.9:7547/cr"),
    (MS + "ConnectionRequestUsername", "xsd:string", "cruser"),
    (MS + "ConnectionRequestPassword", "xsd:string", CR_PW),
    (MS + "Password", "xsd:string", MS_PW),
    (MS + "PeriodicInformInterval", "xsd:unsignedInt", "300"),
]

GPV_PARAMS = [
    (AP + "ModeEnabled", "xsd:string", "WPA2-Personal"),
    (AP + "KeyPassphrase", "xsd:string", WIFI_PP),
    (AP + "PreSharedKey", "xsd:hexBinary", WIFI_PSK),
    (AP + "X_ACME_WlanPassword", "xsd:string", VENDOR_PW),
    (MS + "ConnectionRequestPassword", "xsd:string", CR_PW),
]


def inform(events):
    ev = "".join("<EventStruct><EventCode>%s</EventCode><CommandKey></CommandKey></EventStruct>" % e
                 for e in events)
    return envelope(
        '<cwmp:Inform><DeviceId><Manufacturer>ACME</Manufacturer><OUI>00AA44</OUI>'
        '<ProductClass>Box</ProductClass><SerialNumber>%s</SerialNumber></DeviceId>'
        '<Event soapenc:arrayType="cwmp:EventStruct[%d]">%s</Event><MaxEnvelopes>1</MaxEnvelopes>'
        '<CurrentTime>2026-12-01T08:00:00Z</CurrentTime><RetryCount>0</RetryCount>%s</cwmp:Inform>'
        % (SERIAL, len(events), ev, pvs(INFORM_PARAMS)))


class Cpe(CwmpSession):
    def __init__(self, events):
        super().__init__(Env.acsd.cwmp, inform(events))


# --- tests

def test_sessions():
    cpe = Cpe(("0 BOOTSTRAP", "1 BOOT"))
    st, _, _ = cpe.post()
    cpe.close()
    check(st == 204, "session 1 end: %d" % st)
    st, _, t = api("POST", "/api/v1/devices/%s/tasks" % DEVQ, body={
        "rpc": "GetParameterValues", "args": {"ParameterNames": [AP, MS + "ConnectionRequestPassword"]}})
    check(st == 201, "GPV task: %d %r" % (st, t))
    Env.ids["gpv"] = t["id"]
    cpe = Cpe(("6 CONNECTION REQUEST",))
    st, _, body = cpe.post()
    xml = body.decode()
    check(st == 200 and "cwmp:GetParameterValues" in xml, "no GPV: %d %r" % (st, xml[:300]))
    st, _, _ = cpe.post(envelope("<cwmp:GetParameterValuesResponse>%s</cwmp:GetParameterValuesResponse>"
                                 % pvs(GPV_PARAMS), rid_of(xml)))
    cpe.close()
    check(st == 204, "session 2 end: %d" % st)
    # tasks that carry secrets in their arguments, left pending
    st, _, t = api("POST", "/api/v1/devices/%s/tasks" % DEVQ, body={
        "rpc": "SetParameterValues", "args": {"ParameterList": [
            {"Name": AP + "KeyPassphrase", "Value": SET_PP, "Type": "xsd:string"},
            {"Name": AP + "ModeEnabled", "Value": "WPA3-Personal", "Type": "xsd:string"}],
            "ParameterKey": "k1"}})
    check(st == 201, "SPV task: %d %r" % (st, t))
    no_secret_in("the SetParameterValues task created", json.dumps(t))
    Env.ids["spv"] = t["id"]
    st, _, t = api("POST", "/api/v1/devices/%s/tasks" % DEVQ, body={
        "rpc": "Download", "args": {"CommandKey": "fw", "FileType": "1 Firmware Upgrade Image",
                                    "URL": "http://192.0.2.1/fw.bin", "Username": "dl",
                                    "Password": DL_PW, "FileSize": 0, "TargetFileName": "",
                                    "DelaySeconds": 0, "SuccessURL": "", "FailureURL": ""}})
    check(st == 201, "Download task: %d %r" % (st, t))
    no_secret_in("the Download task created", json.dumps(t))
    Env.ids["download"] = t["id"]
    st, _, b = api("POST", "/api/v1/bulk", body={
        "query": "id = '%s'" % DEV, "rate": 1, "task": {"rpc": "SetParameterValues", "args": {
            "ParameterList": [{"Name": MS + "Password", "Value": BULK_PW, "Type": "xsd:string"}],
            "ParameterKey": "k2"}}})
    check(st == 201, "bulk: %d %r" % (st, b))
    no_secret_in("the bulk action created", json.dumps(b))
    Env.ids["bulk"] = b["id"]


def test_stored():
    """The values stay stored: policies and connection requests use them."""
    out = Env.pg.psql("SELECT name || '=' || value FROM parameters WHERE device_id = '%s' ORDER BY name" % DEV)
    for s in (CR_PW, MS_PW, WIFI_PP, WIFI_PSK, VENDOR_PW):
        check(s in out, "%s is not stored: %s" % (s, out))
    args = Env.pg.psql("SELECT args::text FROM tasks WHERE id = %d" % Env.ids["spv"])
    check(SET_PP in args, "the task's arguments are not stored as given: %s" % args)


def secret_param(where, params, name, want_secret):
    p = params.get(name)
    check(p is not None, "%s: %s is missing: %r" % (where, name, sorted(params)))
    check(p["secret"] is want_secret, "%s: %s secret = %r" % (where, name, p["secret"]))
    if want_secret:
        check(p["value"] is None, "%s: %s value = %r" % (where, name, p["value"]))


def check_params(where, params):
    for name in (MS + "ConnectionRequestPassword", MS + "Password", AP + "KeyPassphrase",
                 AP + "PreSharedKey", AP + "X_ACME_WlanPassword"):
        secret_param(where, params, name, True)
    for name, value in ((MS + "ConnectionRequestUsername", "cruser"), (AP + "ModeEnabled", "WPA2-Personal")):
        secret_param(where, params, name, False)
        check(params[name]["value"] == value, "%s: %s = %r" % (where, name, params[name]["value"]))


def test_device_views():
    for role in ROLES:
        st, _, text, d = raw("GET", "/api/v1/devices/" + DEVQ, role)
        check(st == 200, "GET device as %s: %d" % (role, st))
        no_secret_in("GET device as " + role, text)
        check_params("GET device as " + role, d["parameters"])
        check(d["parameters"]["Device.DeviceInfo.SoftwareVersion"]["value"] == "1.0", "SoftwareVersion")
        for q in ("?projection=%s,%s" % (MS, AP),
                  "?q=%s&projection=%s,%s,%s" % (urllib.parse.quote("id = '%s'" % DEV), MS + "Password",
                                                 AP + "KeyPassphrase", AP + "ModeEnabled"),
                  "?projection=" + urllib.parse.quote("%sConnectionRequestPassword,%sPreSharedKey" % (MS, AP))):
            st, _, text, page = raw("GET", "/api/v1/devices" + q, role)
            check(st == 200, "list %s as %s: %d %s" % (q, role, st, text[:300]))
            no_secret_in("list %s as %s" % (q, role), text)
            items = [i for i in page["items"] if i["id"] == DEV]
            check(len(items) == 1, "list %s: the device is missing" % q)
            for name, p in items[0]["parameters"].items():
                check(p["secret"] is (name.split(".")[-1] not in ("ModeEnabled", "ConnectionRequestURL",
                                                                    "ConnectionRequestUsername",
                                                                    "PeriodicInformInterval", "")),
                      "list %s: %s secret = %r" % (q, name, p["secret"]))
                if p["secret"]:
                    check(p["value"] is None, "list %s: %s = %r" % (q, name, p["value"]))


def test_task_views():
    paths = ["/api/v1/tasks", "/api/v1/tasks?device=" + DEVQ, "/api/v1/devices/%s/tasks" % DEVQ,
             "/api/v1/bulk", "/api/v1/bulk/%d" % Env.ids["bulk"], "/api/v1/devices/%s/history" % DEVQ,
             "/api/v1/faults", "/api/v1/alarms"]
    paths += ["/api/v1/tasks/%d" % Env.ids[k] for k in ("gpv", "spv", "download")]
    for role in ROLES:
        for path in paths + (["/api/v1/audit"] if role == "admin" else []):
            st, _, text, _ = raw("GET", path, role)
            check(st == 200, "GET %s as %s: %d" % (path, role, st))
            no_secret_in("GET %s as %s" % (path, role), text)
    st, _, t = api("GET", "/api/v1/tasks/%d" % Env.ids["gpv"], "readonly")
    check(t["status"] == "done", "the GPV task: %r" % t)
    got = {p["Name"]: p.get("Value") for p in t["result"]["ParameterList"]}
    check(got.get(AP + "ModeEnabled") == "WPA2-Personal", "GPV result: %r" % got)
    for name in (AP + "KeyPassphrase", AP + "PreSharedKey", AP + "X_ACME_WlanPassword",
                 MS + "ConnectionRequestPassword"):
        check(name in got and got[name] is None, "GPV result %s: %r" % (name, got.get(name)))
    st, _, t = api("GET", "/api/v1/tasks/%d" % Env.ids["spv"], "readonly")
    sent = {p["Name"]: p.get("Value") for p in t["args"]["ParameterList"]}
    check(sent == {AP + "KeyPassphrase": None, AP + "ModeEnabled": "WPA3-Personal"}, "SPV args: %r" % sent)
    st, _, t = api("GET", "/api/v1/tasks/%d" % Env.ids["download"], "readonly")
    check(t["args"]["Password"] is None and t["args"]["Username"] == "dl", "Download args: %r" % t["args"])
    # a retried task keeps the stored arguments, not the rendered ones
    st, _, t = api("POST", "/api/v1/tasks/%d/cancel" % Env.ids["spv"])
    check(st == 200, "cancel: %d" % st)
    st, _, t = api("POST", "/api/v1/tasks/%d/retry" % Env.ids["spv"])
    check(st == 201, "retry: %d %r" % (st, t))
    no_secret_in("the retried task", json.dumps(t))
    args = Env.pg.psql("SELECT args::text FROM tasks WHERE id = %d" % t["id"])
    check(SET_PP in args, "the retried task lost its value: %s" % args)


def test_queries():
    name = MS + "ConnectionRequestPassword"
    for role in ROLES:
        for q in ('%s = "%s"' % (name, CR_PW), "%s ~= crpw" % name, "%s != x" % name,
                  "%s > a" % (AP + "KeyPassphrase"), "NOT %s = x" % (AP + "X_ACME_WlanPassword"),
                  "oui = 00AA44 OR %s ~= 0" % (AP + "PreSharedKey")):
            st, _, doc = api("GET", "/api/v1/devices?q=" + urllib.parse.quote(q), role)
            check(st == 400 and "secret" in doc["error"], "q=%s as %s: %d %r" % (q, role, st, doc))
            no_secret_in("the error of q=" + q, json.dumps(doc))
        st, _, doc = api("GET", "/api/v1/devices?q=" + urllib.parse.quote(name + " EXISTS"), role)
        check(st == 200 and [i["id"] for i in doc["items"]] == [DEV], "EXISTS as %s: %d %r" % (role, st, doc))
    st, _, doc = api("POST", "/api/v1/bulk", body={"query": "%s ~= crpw" % name, "rate": 1,
                                                   "task": {"rpc": "Reboot"}})
    check(st == 400 and "secret" in doc["error"], "a bulk action on a secret: %d %r" % (st, doc))


def test_acsctl():
    env = clean_env({"ACSCTL_URL": "http://127.0.0.1:%d" % Env.acsd.api})
    for role in ROLES:
        for args in (["devices", "get", DEV, "--json"], ["devices", "list", "--all", "--json"],
                     ["tasks", "list", "--json"], ["tasks", "get", str(Env.ids["gpv"]), "--json"]):
            p = subprocess.run([os.path.join(os.environ.get("ACS_BIN_DIR", ""), "acsctl"), "--token",
                                Env.tok[role]] + args, capture_output=True, env=env, timeout=60)
            check(p.returncode == 0, "acsctl %s: %d %s" % (" ".join(args), p.returncode, p.stderr.decode()))
            no_secret_in("acsctl %s as %s" % (" ".join(args), role), p.stdout + p.stderr)


def test_log():
    Env.acsd.signal()
    rc, _ = Env.acsd.wait_exit(20)
    Env.acsd.check_clean_exit(rc)
    log = Env.acsd.log()
    check("POST /api/v1/devices" in log, "acsd did not log at debug level")
    no_secret_in("acsd's log", log)


def main():
    pgtest.skip_unless_available()
    spec.Env.openapi = spec.load_openapi()
    with pgtest.PgCluster(fast=True) as pg:
        Env.pg = pg
        Env.tok.update(create_tokens(pg.dsn))
        serve(Env, ["--pg", pg.dsn, "--files", "off", "--log-level", "debug"],
              [test_sessions, test_stored, test_device_views, test_task_views, test_queries,
               test_acsctl, test_log], tail=4000)
    print("ok", flush=True)
    sys.exit(0)


if __name__ == "__main__":
    main()
