#!/usr/bin/env python3
"""The operator API, issue 6: device queries (the language against a Python
model of its semantics: typed comparisons, AND/OR/NOT, parse errors with
positions, injection attempts), sorting with keyset cursors, projections,
device deletion and tags, the task list, cancel and retry, an expired task
never sent to its CPE, faults, tokens and the audit log through the API;
the role of every route (route x role -> status); every answer checked
against its schema in api/openapi.yaml, every documented route answering
and no undocumented one; and, with enable_seqscan off and auto_explain on,
no sequential scan of devices or parameters in the plans of the indexed
predicates."""
import base64
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.parse

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "lib"))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
import pgtest  # noqa: E402
from acstest import Conn, Fail, create_tokens, format_request, request, serve  # noqa: E402

TOKEN_TTL = 5.0
CHECKS = 0


def check(cond, msg):
    global CHECKS
    CHECKS += 1
    if not cond:
        raise Fail(msg)


class Env:
    pg = None
    acsd = None
    tok = {}  # role -> token
    openapi = None
    seen = set()  # (template, method, status) answered
    no_auto_explain = False


# --- the OpenAPI document and a small schema checker

def load_openapi():
    try:
        import yaml
    except ImportError:
        print("     (python3-yaml missing: answers not checked against api/openapi.yaml)")
        return None
    src = os.environ.get("ACS_SOURCE_DIR") or os.path.join(HERE, "..", "..")
    with open(os.path.join(src, "api", "openapi.yaml")) as f:
        return yaml.safe_load(f)


def resolve(node):
    while isinstance(node, dict) and "$ref" in node:
        ref = node["$ref"]
        check(ref.startswith("#/"), "external $ref %r" % ref)
        cur = Env.openapi
        for part in ref[2:].split("/"):
            cur = cur[part]
        node = cur
    return node


TIME_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


def flatten(schema):
    """The schema with its allOf merged (properties, required, nullable)."""
    s = resolve(schema)
    if "allOf" not in s:
        return s
    out = {k: v for k, v in s.items() if k != "allOf"}
    props, req = dict(out.get("properties", {})), list(out.get("required", []))
    for sub in s["allOf"]:
        for k, v in flatten(sub).items():
            if k == "properties":
                props.update(v)
            elif k == "required":
                req += v
            elif k not in out:
                out[k] = v
    if props:
        out["properties"] = props
    if req:
        out["required"] = req
    return out


def schema_errors(v, schema, where):
    """What does not match (empty: it matches). Objects are strict: a key
    the schema does not list is an error unless additionalProperties says
    otherwise."""
    s = flatten(schema)
    if v is None:
        return [] if s.get("nullable") or not s.get("type") and "anyOf" not in s else ["%s: null" % where]
    if "anyOf" in s:
        alts = [schema_errors(v, sub, where) for sub in s["anyOf"]]
        return [] if any(not a for a in alts) else min(alts, key=len)
    t = s.get("type")
    types = {"string": str, "object": dict, "array": list, "boolean": bool}
    if t == "integer":
        if not isinstance(v, int) or isinstance(v, bool):
            return ["%s: %r is not an integer" % (where, v)]
    elif t == "number":
        if not isinstance(v, (int, float)) or isinstance(v, bool):
            return ["%s: %r is not a number" % (where, v)]
    elif t in types and not isinstance(v, types[t]):
        return ["%s: %r is not %s" % (where, v, t)]
    if "enum" in s and v not in s["enum"]:
        return ["%s: %r not in %r" % (where, v, s["enum"])]
    if s.get("format") == "date-time" and not TIME_RE.match(v):
        return ["%s: %r is not RFC 3339 UTC" % (where, v)]
    errs = []
    if isinstance(v, dict):
        props = s.get("properties", {})
        for k in s.get("required", []):
            if k not in v:
                errs.append("%s: required %r missing" % (where, k))
        extra = s.get("additionalProperties", None)
        for k, x in v.items():
            if k in props:
                errs += schema_errors(x, props[k], "%s.%s" % (where, k))
            elif isinstance(extra, dict):
                errs += schema_errors(x, extra, "%s[%r]" % (where, k))
            elif extra is False or (extra is None and props):
                errs.append("%s: undocumented key %r" % (where, k))
    if isinstance(v, list) and "items" in s:
        for i, x in enumerate(v):
            errs += schema_errors(x, s["items"], "%s[%d]" % (where, i))
    return errs


def template_of(path):
    """The documented path template that path (without query) matches."""
    segs = path.split("?")[0].split("/")
    for t in Env.openapi["paths"]:
        ts = t.split("/")
        if len(ts) == len(segs) and all(a == b or (a.startswith("{") and b) for a, b in zip(ts, segs)):
            return t
    return None


def validate(method, path, status, headers, doc):
    if Env.openapi is None:
        return
    t = template_of(path)
    if t is None:
        check(status == 404, "%s %s: %d from an undocumented path" % (method, path, status))
        return
    ops = Env.openapi["paths"][t]
    op = ops.get(method.lower())
    if op is None:
        check(status in (404, 405), "%s %s: %d on an undocumented method" % (method, path, status))
        if status == 405:
            allow = {m.strip() for m in headers.get("allow", "").split(",")}
            documented = {m.upper() for m in ops if m in ("get", "post", "put", "patch", "delete", "head")}
            check(allow == documented, "%s %s: Allow %r, documented %r" % (method, path, allow, documented))
        return
    resp = op["responses"].get(str(status))
    check(resp is not None, "%s %s answered %d, not documented for %s %s (%r)"
          % (method, path, status, method, t, sorted(op["responses"])))
    resp = resolve(resp)
    Env.seen.add((t, method.upper(), status))
    content = resp.get("content")
    if not content:
        check(doc is None, "%s %s: %d has a body %r, documented without" % (method, path, status, doc))
        return
    check(headers.get("content-type", "").startswith("application/json"),
          "%s %s: content type %r" % (method, path, headers.get("content-type")))
    errs = schema_errors(doc, content["application/json"]["schema"], "%s %s %d" % (method, t, status))
    check(not errs, "schema: " + "; ".join(errs[:5]))


# --- requests

def api(method, path, role=None, body=None, ctype="application/json", token=None, headers=None):
    h = dict(headers or {})
    tok = token or (Env.tok.get(role) if role else None)
    if tok:
        h["Authorization"] = "Bearer " + tok
    data = b""
    if body is not None:
        data = body if isinstance(body, (bytes, str)) else json.dumps(body)
        if ctype:
            h["Content-Type"] = ctype
    status, rh, raw = request(Env.acsd.api, method, path, h, data, timeout=15)
    doc = None
    if raw:
        try:
            doc = json.loads(raw)
        except ValueError:
            raise Fail("%s %.200s: %d with a body that is not JSON: %r" % (method, path, status, raw[:200]))
    validate(method, path, status, rh, doc)
    return status, rh, doc


def ok(method, path, role="admin", body=None, status=200):
    st, h, doc = api(method, path, role, body)
    check(st == status, "%s %s: %d %.400r, expected %d" % (method, path, st, doc, status))
    return h, doc


def expect_error(method, path, status, role="admin", body=None, contains=None, ctype="application/json"):
    st, h, doc = api(method, path, role, body, ctype=ctype)
    check(st == status, "%s %s: %d %.300r, expected %d" % (method, path, st, doc, status))
    check(isinstance(doc, dict) and isinstance(doc.get("error"), str), "error body %r" % doc)
    if contains:
        check(contains in doc["error"], "%s %s: error %r does not mention %r"
              % (method, path, doc["error"], contains))
    return doc


def qpath(q=None, **kw):
    params = {}
    if q is not None:
        params["q"] = q
    params.update({k: v for k, v in kw.items() if v is not None})
    return "/api/v1/devices?" + urllib.parse.urlencode(params, quote_via=urllib.parse.quote)


def dev_path(device_id, suffix=""):
    return "/api/v1/devices/" + urllib.parse.quote(device_id, safe="") + suffix


def sql_str(s):
    return "'" + s.replace("'", "''") + "'"


def psql(sql):
    return Env.pg.psql(sql)


def all_pages(path, limit=7, role="readonly", cursor=None):
    """Every item of a list, page by page (from cursor); checks that
    X-Total-Count is stable."""
    items, total, pages = [], None, 0
    while True:
        p = path + ("&" if "?" in path else "?") + "limit=%d" % limit
        if cursor:
            p += "&cursor=" + urllib.parse.quote(cursor)
        h, doc = ok("GET", p, role)
        pages += 1
        check(pages < 500, "%s: endless pages" % path)
        items += doc["items"]
        t = h.get("x-total-count")
        check(total is None or t == total, "%s: X-Total-Count %r then %r" % (path, total, t))
        total = t
        cursor = doc["next_cursor"]
        if not cursor:
            return items, total


# --- the fleet: devices and parameters with known values

PII = "Device.ManagementServer.PeriodicInformInterval"
SWV = "Device.DeviceInfo.SoftwareVersion"
ENA = "Device.WiFi.Radio.1.Enable"
NOW = "Device.Time.CurrentLocalTime"
STRN = "Device.X_TEST.NumberAsText"
LONG = "Device.X_TEST.Big"
BIG = "x" * 300
NUM_TYPES = {"xsd:int", "xsd:unsignedInt", "xsd:long", "xsd:unsignedLong"}

INJECT_SERIAL = "x'; DROP TABLE devices; --"
UNI_SERIAL = "s\u00e9r\u00ed\u00e5l-\u2603"


def id_part(s):
    out = []
    for b in s.encode():
        c = chr(b)
        out.append(c if c.isascii() and (c.isalnum() or c in "_.~") else "%%%02X" % b)
    return "".join(out)


def device_id(oui, pclass, serial):
    return "-".join(id_part(p) for p in ([oui, pclass, serial] if pclass else [oui, serial]))


class Dev:
    def __init__(self, i, oui, pclass, serial, mfr, sw, hw, hours, tags, params):
        self.i = i
        self.oui, self.product_class, self.serial_number = oui, pclass, serial
        self.manufacturer, self.software_version, self.hardware_version = mfr, sw, hw
        self.id = device_id(oui, pclass, serial)
        self.hours = hours  # last_inform = now - hours (None: never)
        self.tags = tags
        self.params = params  # name -> (value, xsd_type)
        self.last_inform = None  # epoch, read back


def make_fleet():
    devs = []
    pii_values = ["300", "600", "0300", "86400", "abc", "60", "1200", "3600", "-5", "300"]
    swv = ["1.2", "1.10", "2.0", "1.2.3", "10.0"]
    ena = [("true", "xsd:boolean"), ("1", "xsd:boolean"), ("false", "xsd:boolean"),
           ("0", "xsd:boolean"), ("TRUE", "xsd:boolean"), ("true", "xsd:string")]
    times = [("2026-11-30T10:00:00Z", "xsd:dateTime"), ("2026-11-30T12:00:00+02:00", "xsd:dateTime"),
             ("2026-11-30T11:00:00", "xsd:dateTime"), ("0001-01-01T00:00:00Z", "xsd:dateTime"),
             ("not a time", "xsd:dateTime"), ("2026-11-30T10:00:00Z", "xsd:string")]
    strn = ["100", "20", "3", "25", "200"]
    for i in range(40):
        oui = ["00D09E", "A0B1C2", "00D09F"][i % 3]
        pclass = ["HG8245", "Home-GW", ""][i % 4 % 3]
        serial = "SN%04d" % (i * 7 % 40)
        mfr = ["Huawei", "Acme", "Zyxel", "acme"][i % 4]
        sw = None if i % 9 == 4 else "V%d.%d" % (i % 3, i % 5)
        hw = None if i % 2 else "HW%d" % (i % 4)
        hours = None if i % 13 == 7 else (i % 10) + 0.5
        tags = [["lab"], [], ["beta", "eu"], ["lab", "eu"], []][i % 5]
        params = {}
        if i % 11 != 3:
            params[PII] = (pii_values[i % len(pii_values)], "xsd:unsignedInt" if i % 7 else "xsd:string")
        params[SWV] = (swv[i % len(swv)], "xsd:string")
        if i % 2 == 0:
            params[ENA] = ena[i // 2 % len(ena)]
        if i % 3 == 0:
            params[NOW] = times[i // 3 % len(times)]
        params[STRN] = (strn[i % len(strn)], "xsd:string")
        if i == 5:
            params[LONG] = (BIG, "xsd:string")
        if i == 6:
            params[LONG] = (BIG + "y", "xsd:string")
        params["Device.WiFi."] = (None, None)
        devs.append(Dev(i, oui, pclass, serial, mfr, sw, hw, hours, tags, params))
    devs.append(Dev(40, "00D09E", "Evil", INJECT_SERIAL, "M'x", "1'2", None, 1.5, ["a'b"], {}))
    devs.append(Dev(41, "00D09E", "Uni", UNI_SERIAL, "\u00c5cme", "\u2603", None, 2.5, ["\u00fc"],
                    {SWV: ("\u2603\u00e9", "xsd:string")}))
    return devs


def insert_fleet(devs):
    rows, prows = [], []
    for d in devs:
        li = "NULL" if d.hours is None else "now() - interval '%f hours'" % d.hours
        tags = "ARRAY[%s]::text[]" % ", ".join(sql_str(t) for t in d.tags)
        rows.append("(%s, %s, %s, %s, %s, %s, %s, %s, %s)" % (
            sql_str(d.id), sql_str(d.oui), sql_str(d.product_class), sql_str(d.serial_number),
            sql_str(d.manufacturer), "NULL" if d.software_version is None else sql_str(d.software_version),
            "NULL" if d.hardware_version is None else sql_str(d.hardware_version), li, tags))
        for n, (v, t) in d.params.items():
            prows.append("(%s, %s, %s, %s, %s)" % (sql_str(d.id), sql_str(n),
                                                  "NULL" if v is None else sql_str(v),
                                                  "NULL" if t is None else sql_str(t),
                                                  "true" if n.endswith(".") else "false"))
    psql("INSERT INTO devices (id, oui, product_class, serial_number, manufacturer, "
         "software_version, hardware_version, last_inform, tags) VALUES " + ", ".join(rows))
    psql("INSERT INTO parameters (device_id, name, value, xsd_type, is_object) VALUES " +
         ", ".join(prows))
    for line in psql("SELECT id, extract(epoch FROM last_inform) FROM devices").splitlines():
        did, _, ep = line.rpartition("|")
        for d in devs:
            if d.id == did:
                d.last_inform = float(ep) if ep else None


# --- the model: what each comparison means (docs/api.md)

def num(s):
    m = re.match(r"^\s*([-+]?\d{1,40}(\.\d{1,40})?)\s*$", s or "")
    return float(m.group(1)) if m else None


def lit_num(s):
    return float(s) if re.match(r"^[-+]?\d+(\.\d+)?$", s) else None


def ptime(s):
    import datetime
    m = re.match(r"^(\d{4})-(\d\d)-(\d\d)[Tt ](\d\d):(\d\d):(\d\d)(\.\d+)?([Zz]|[+-]\d\d:\d\d)?$", s or "")
    if not m or m.group(1) == "0000":
        return None
    y, mo, d, hh, mi, ss = (int(m.group(k)) for k in range(1, 7))
    t = datetime.datetime(y, mo, 1, tzinfo=datetime.timezone.utc) + datetime.timedelta(
        days=d - 1, hours=hh, minutes=mi, seconds=ss)
    z = m.group(8)
    if z and z not in "Zz":
        sign = 1 if z[0] == "+" else -1
        t -= sign * datetime.timedelta(hours=int(z[1:3]), minutes=int(z[4:6]))
    return t.timestamp()


def pbool(s):
    return {"true": True, "1": True, "false": False, "0": False}.get((s or "").strip().lower())


def cmp(a, op, b):
    return {"=": a == b, "<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[op]


def pmatch(d, name, op, lit):
    """P op lit, the documented way: typed by each stored xsd type."""
    if op == "!=":
        return not pmatch(d, name, "=", lit)
    if name not in d.params:
        return False
    v, t = d.params[name]
    if op == "exists":
        return True
    if v is None:
        return False
    if op == "~=":
        return v[:256].startswith(lit[:256]) and v.startswith(lit)
    if op in TEXT_OPS:  # the stored text, whatever its type
        return TEXT_OPS[op](v, lit)
    m = re.match(r"^now(?:([-+])(\d+)([smhdw]))?$", lit, re.I)
    rel = None if not m else 0 if not m.group(1) else \
        (1 if m.group(1) == "+" else -1) * int(m.group(2)) * {"s": 1, "m": 60, "h": 3600, "d": 86400,
                                                             "w": 604800}[m.group(3)]
    if rel is not None:  # a relative time is a time only
        a = ptime(v) if t == "xsd:dateTime" else None
        return a is not None and cmp(a, op, time.time() + rel)
    if t in NUM_TYPES:
        a, b = num(v), lit_num(lit)
        return a is not None and b is not None and cmp(a, op, b)
    if t == "xsd:dateTime":
        a, b = ptime(v), ptime(lit)
        return a is not None and b is not None and cmp(a, op, b)
    if t == "xsd:boolean":
        a = pbool(v)
        b = {"true": True, "1": True, "false": False, "0": False}.get(lit.lower())
        return op == "=" and a is not None and b is not None and a == b
    return cmp(v.encode(), op, lit.encode())


def fmatch(d, field, op, lit):
    v = getattr(d, field)
    if op == "!=":
        return not fmatch(d, field, "=", lit)
    if op == "exists":
        return v is not None and v != ""
    if v is None:
        return False
    if op == "~=":
        return v.startswith(lit)
    if op in TEXT_OPS:
        return TEXT_OPS[op](v, lit)
    return cmp(v.encode(), op, lit.encode())


# issue 15 (targeting): MATCHES (PostgreSQL's regular expressions; the ones
# below mean the same in Python's), CONTAINS, IN (a list of values)
TEXT_OPS = {"matches": lambda v, lit: re.search(lit, v) is not None,
            "contains": lambda v, lit: lit in v,
            "in": lambda v, lit: v in lit}


def since(d, op, hours):
    if d.last_inform is None:
        return op == "!="
    return cmp(d.last_inform, op, time.time() - hours * 3600)


# --- tests

def test_queries_semantics():
    devs = Env.devs
    P = lambda n, op, lit: (lambda d: pmatch(d, n, op, lit))  # noqa: E731
    F = lambda f, op, lit: (lambda d: fmatch(d, f, op, lit))  # noqa: E731
    cases = [
        ('oui = "00D09E"', F("oui", "=", "00D09E")),
        ("oui = 00D09E", F("oui", "=", "00D09E")),
        ("oui != '00D09E'", F("oui", "!=", "00D09E")),
        ('product_class = "Home-GW"', F("product_class", "=", "Home-GW")),
        ("product_class exists", F("product_class", "exists", "")),
        ('serial_number ~= "SN00"', F("serial_number", "~=", "SN00")),
        ('serial_number >= "SN0020" AND serial_number < "SN0030"',
         lambda d: F("serial_number", ">=", "SN0020")(d) and F("serial_number", "<", "SN0030")(d)),
        ('manufacturer = "acme"', F("manufacturer", "=", "acme")),
        ('manufacturer > "Zz"', F("manufacturer", ">", "Zz")),
        ('software_version = "V1.1"', F("software_version", "=", "V1.1")),
        ('software_version != "V1.1"', F("software_version", "!=", "V1.1")),
        ("NOT software_version exists", lambda d: not F("software_version", "exists", "")(d)),
        ('hardware_version ~= "HW"', F("hardware_version", "~=", "HW")),
        ('hardware_version < "HW2"', F("hardware_version", "<", "HW2")),
        ('id = "%s"' % devs[3].id, lambda d: d.id == devs[3].id),
        ("tag = lab", lambda d: "lab" in d.tags),
        ("tags != lab", lambda d: "lab" not in d.tags),
        ('tag ~= "b"', lambda d: any(t.startswith("b") for t in d.tags)),
        ("tag exists", lambda d: bool(d.tags)),
        ("tag = lab AND tag = eu", lambda d: "lab" in d.tags and "eu" in d.tags),
        ("last_inform < now-5h", lambda d: since(d, "<", 5)),
        ("last_inform >= now-3h", lambda d: since(d, ">=", 3)),
        ("NOT last_inform exists", lambda d: d.last_inform is None),
        ("NOT last_inform < now-5h", lambda d: not since(d, "<", 5)),
        ("last_inform > 2000-01-01", lambda d: d.last_inform is not None),
        ("last_inform > '2000-01-01T00:00:00+05:00'", lambda d: d.last_inform is not None),
        # parameters, typed by the stored xsd type
        ("%s = 300" % PII, P(PII, "=", "300")),
        ("%s >= 300" % PII, P(PII, ">=", "300")),
        ("%s > '1000'" % PII, P(PII, ">", "1000")),
        ("%s < 600" % PII, P(PII, "<", "600")),
        ("%s <= -5" % PII, P(PII, "<=", "-5")),
        ("%s != 300" % PII, P(PII, "!=", "300")),
        ("%s = abc" % PII, P(PII, "=", "abc")),
        ("%s exists" % PII, P(PII, "exists", "")),
        ("NOT %s exists" % PII, lambda d: PII not in d.params),
        ("%s ~= 03" % PII, P(PII, "~=", "03")),
        ('%s = "1.2"' % SWV, P(SWV, "=", "1.2")),
        ('%s < "1.2"' % SWV, P(SWV, "<", "1.2")),
        ('%s ~= "1."' % SWV, P(SWV, "~=", "1.")),
        ("%s > 25" % STRN, P(STRN, ">", "25")),  # text: bytewise
        ("%s = true" % ENA, P(ENA, "=", "true")),
        ("%s = 0" % ENA, P(ENA, "=", "0")),
        ("%s != false" % ENA, P(ENA, "!=", "false")),
        ("%s = '2026-11-30T10:00:00Z'" % NOW, P(NOW, "=", "2026-11-30T10:00:00Z")),
        ("%s > '2026-11-30T10:30:00Z'" % NOW, P(NOW, ">", "2026-11-30T10:30:00Z")),
        ("%s < 2026-11-30T10:00:01+00:00" % NOW, P(NOW, "<", "2026-11-30T10:00:01+00:00")),
        ("%s > now-1000d" % NOW, P(NOW, ">", "now-1000d")),
        ("%s < now" % NOW, P(NOW, "<", "now")),
        ("%s = '%s'" % (LONG, BIG), P(LONG, "=", BIG)),
        ("%s ~= '%s'" % (LONG, BIG), P(LONG, "~=", BIG)),
        ("%s > '%s'" % (LONG, BIG), P(LONG, ">", BIG)),
        ("Device.WiFi. exists", P("Device.WiFi.", "exists", "")),
        ("Device.No.Such exists", lambda d: False),
        # combinations
        ("oui = 00D09E AND (tag = lab OR %s >= 3600)" % PII,
         lambda d: d.oui == "00D09E" and ("lab" in d.tags or P(PII, ">=", "3600")(d))),
        ("NOT (oui = 00D09E OR %s = 300)" % PII,
         lambda d: not (d.oui == "00D09E" or P(PII, "=", "300")(d))),
        ("%s >= 300 AND NOT %s = '1.2' AND tag != eu" % (PII, SWV),
         lambda d: P(PII, ">=", "300")(d) and not P(SWV, "=", "1.2")(d) and "eu" not in d.tags),
        ("not not tag = lab or oui = A0B1C2 and manufacturer = Acme",
         lambda d: "lab" in d.tags or (d.oui == "A0B1C2" and d.manufacturer == "Acme")),
        ("((((oui = 00D09E))))", F("oui", "=", "00D09E")),
        ("%s = 300 OR %s = '1.2' OR %s = true" % (PII, SWV, ENA),
         lambda d: P(PII, "=", "300")(d) or P(SWV, "=", "1.2")(d) or P(ENA, "=", "true")(d)),
        ("serial_number = '%s'" % INJECT_SERIAL.replace("'", "\\'"),
         lambda d: d.serial_number == INJECT_SERIAL),
        ('manufacturer = "M\'x" AND software_version = "1\'2" AND tag = "a\'b"', lambda d: d.i == 40),
        ('serial_number = "%s"' % UNI_SERIAL, lambda d: d.serial_number == UNI_SERIAL),
        ('serial_number = "s\\u00e9r\\u00ed\\u00e5l-\\u2603"', lambda d: d.serial_number == UNI_SERIAL),
        ('%s = "\u2603\u00e9" AND software_version = "\u2603"' % SWV, lambda d: d.i == 41),
        # issue 15: regular expressions, substrings, sets
        ("serial_number MATCHES '^SN00[1-3]'", F("serial_number", "matches", "^SN00[1-3]")),
        ("serial_number =~ '7$'", F("serial_number", "matches", "7$")),
        ("NOT manufacturer matches '^[A-Z]'", lambda d: not F("manufacturer", "matches", "^[A-Z]")(d)),
        ("software_version CONTAINS '.1'", F("software_version", "contains", ".1")),
        ("id contains 'SN001'", lambda d: "SN001" in d.id),
        ("product_class IN (HG8245, 'Home-GW')", F("product_class", "in", ["HG8245", "Home-GW"])),
        ("serial_number in (SN0001,SN0002 , 'SN0003', nosuch)",
         F("serial_number", "in", ["SN0001", "SN0002", "SN0003", "nosuch"])),
        ("tag IN (lab, nosuch)", lambda d: "lab" in d.tags),
        ("tag MATCHES '^b.*'", lambda d: any(re.search("^b.*", t) for t in d.tags)),
        ("tag CONTAINS u", lambda d: any("u" in t for t in d.tags)),
        ("%s IN (300, '0300', 600)" % PII, P(PII, "in", ["300", "0300", "600"])),
        ("%s MATCHES '^[0-9]+$'" % PII, P(PII, "matches", "^[0-9]+$")),
        ('%s CONTAINS "."' % SWV, P(SWV, "contains", ".")),
        ("NOT %s CONTAINS '2'" % SWV, lambda d: not P(SWV, "contains", "2")(d)),
        ("%s IN ('%s', x)" % (LONG, BIG), P(LONG, "in", [BIG, "x"])),
        ('serial_number = "SN00*"', lambda d: d.serial_number == "SN00*"),  # quoted: literal
    ]
    for q, pred in cases:
        want = sorted((d.id for d in devs if pred(d)), key=lambda s: s.encode())
        items, total = all_pages(qpath(q), limit=9)
        got = [x["id"] for x in items]
        check(got == want, "q=%s: got %d %r, expected %d %r" % (q, len(got), got[:8], len(want), want[:8]))
        check(total == str(len(want)), "q=%s: X-Total-Count %r, expected %d" % (q, total, len(want)))


def test_query_errors():
    cases = [
        ("", 1, "empty"),
        ("oui", 4, "expected"),
        ("oui =", 6, "value"),
        ("oui = 1 AND", 12, "field"),
        ("oui = 1 oui = 2", 9, "AND, OR"),
        ("(oui = 1", 9, "')'"),
        ("oui = 1)", 8, "AND, OR"),
        ("nosuch = 1", 1, "unknown field"),
        ('oui = "abc', 7, "unterminated"),
        ("oui ! 1", 5, "!"),
        ("oui ~ 1", 5, "~"),
        ("tag > a", 5, "tag takes"),
        ("last_inform = yesterday", 15, "RFC 3339"),
        ("last_inform > 2026-02-30", 15, "RFC 3339"),
        ("last_inform > 2026-12-01T25:00:00Z", 15, "RFC 3339"),
        ("last_inform ~= 2026", 13, "~="),
        ("Device..X = 1", 1, "parameter name"),
        ("Device.X = 1 AND (", 19, "field"),
        ('oui = "a\\q"', 9, "escape"),
        ('oui = "\\u12"', 8, "\\u"),
        ("oui = AND", 7, "value"),
        ("NOT", 4, "field"),
        ("(" * 40 + "oui = 1" + ")" * 40, 33, "deeper"),
        (" OR ".join(["oui = %d" % i for i in range(40)]), None, "comparisons"),
        ("oui = '" + "x" * 5000 + "'", None, "4096"),
        # issue 15: a '*' is no wildcard (it used to match nothing, silently)
        ("serial_number = LDA*", 17, "serial_number ~= LDA"),
        ("serial_number != *x", 18, "wildcard"),
        ("oui IN 1", 8, "parentheses"),
        ("oui IN (1 2)", 11, "','"),
        ("oui IN (1,", 11, "value"),
        ("oui IN ()", 9, "value"),
        ("oui IN (%s)" % ",".join(str(i) for i in range(300)), None, "256 values"),
        ("last_inform MATCHES x", 13, "time"),
        ("tag < x", 5, "tag takes"),
        ("oui MATCHES ''", 13, "regular expression"),
        ("oui MATCHES '%s'" % ("a" * 300), 13, "1 to 256 bytes"),
        ("oui MATCHES '(a'", None, "regular expression"),
        ("%s CONTAINS x" % "Device.ManagementServer.ConnectionRequestPassword", 51, "secret"),
    ]
    for q, pos, word in cases:
        doc = expect_error("GET", qpath(q), 400, "readonly", contains=word)
        check(doc["error"].startswith("q: "), "q=%r: error %r does not start with 'q: '" % (q, doc["error"]))
        if pos is not None:
            check(("at %d:" % pos) in doc["error"], "q=%.60r: error %r, expected position %d"
                  % (q, doc["error"], pos))
    # bytes: invalid UTF-8, NUL (percent-encoded), malformed escapes
    for raw in ("oui%20%3D%20%22%FF%22", "oui%20%3D%20%22a%00b%22", "oui%zz"):
        st, _, doc = api("GET", "/api/v1/devices?q=" + raw, "readonly")
        check(st == 400, "q=%s: %d %r" % (raw, st, doc))


def test_query_injection():
    """Hostile input is a 400 or a literal: never SQL."""
    n0 = psql("SELECT count(*) FROM devices")
    hostile = [
        "oui = '1' OR '1'='1'",
        "oui = \"x\"; DELETE FROM devices; --\"",
        "oui = x; DROP TABLE devices",
        "oui = 1 -- comment",
        "oui = 1 /* c */",
        "serial_number = \"'; DROP TABLE devices; --\"",
        "serial_number = $1",
        "serial_number = \"$1\"",
        "Device.X = \"') OR true OR ('\"",
        "oui = \"\\\\'\"",
        "oui = \"\u0000\"".replace("\u0000", "\\u0001"),
        "Device.A-B.C_D = \"\u202e\ufeff\u2603\U0001F600\"",
        "oui = \"" + "\u00e9" * 1500 + "\"",
        "last_inform < now-999999999w",
        "last_inform < now+1s",
        "oui = 1e309",
        "Device.X >= 99999999999999999999999999999999999999",
        "Device.X = -0.000000000000000000000000000000000000001",
        "id = %s" % ("a" * 3000),
    ]
    for q in hostile:
        st, _, doc = api("GET", qpath(q), "readonly")
        check(st in (200, 400), "q=%.80r: %d %r" % (q, st, doc))
        if st == 200:
            ids = [x["id"] for x in doc["items"]]
            check(ids == [] or q.startswith("last_inform"),
                  "q=%.80r matched %r: not treated as a literal" % (q, ids[:5]))
    check(psql("SELECT count(*) FROM devices") == n0, "devices changed by hostile queries")
    # hostile sort, projection, cursor
    for p in ("sort=id;DROP", "sort=oui%20DESC", "sort=parameters", "sort=-", "sort=,",
              "sort=oui,oui", "sort=id,oui", "projection=a;b", "projection=Device..X",
              "projection=", "projection=nosuch", "cursor=" + base64.urlsafe_b64encode(
                  b's:{"s":"oui","k":["x\'; DROP TABLE devices; --","y"]}').decode().rstrip("=")):
        st, _, doc = api("GET", "/api/v1/devices?" + p, "readonly")
        check(st == 400 or (st == 200 and p.startswith("cursor")), "%s: %d %r" % (p, st, doc))
    for k in ('["2026-13-01T00:00:00Z", "x"]', '["now", "x"]', '["x\'); DROP TABLE devices; --", "x"]',
              '[1, "x"]', '["-infinity"]'):
        c = base64.urlsafe_b64encode(('s:{"s":"-last_inform","k":%s}' % k).encode()).decode().rstrip("=")
        expect_error("GET", "/api/v1/devices?sort=-last_inform&cursor=" + c, 400, "readonly", contains="cursor")
    c = base64.urlsafe_b64encode(b's:{"s":"-last_inform","k":["-infinity","zzz"]}').decode().rstrip("=")
    ok("GET", "/api/v1/devices?sort=-last_inform&cursor=" + c, "readonly")
    check(psql("SELECT count(*) FROM devices") == n0, "devices changed by hostile parameters")
    # a huge query string: refused before it reaches the parser, or by it
    st, _, _ = request(Env.acsd.api, "GET", qpath("oui = '" + "y" * 20000 + "'"),
                       {"Authorization": "Bearer " + Env.tok["readonly"]}, timeout=15)
    check(st in (400, 414, 431), "a 20 kB q: %d" % st)


def sort_key(d, field):
    v = getattr(d, field)
    if field in ("last_inform",):
        return float("-inf") if v is None else v
    return (v or "").encode()


def test_sort_and_cursors():
    devs = Env.devs
    for spec in ("id", "-id", "serial_number", "-serial_number", "oui,serial_number",
                 "-last_inform", "last_inform", "software_version,-oui", "-manufacturer,hardware_version",
                 "product_class,-software_version,id", "hardware_version,-id"):
        keys = []
        id_desc = None
        for k in spec.split(","):
            desc = k.startswith("-")
            name = k.lstrip("-")
            if name == "id":
                id_desc = desc
            else:
                keys.append((name, desc))
        if id_desc is None:
            id_desc = keys[-1][1] if keys else False
        order = sorted(devs, key=lambda d: d.id.encode(), reverse=id_desc)
        for name, desc in reversed(keys):
            order = sorted(order, key=lambda d: sort_key(d, name), reverse=desc)
        want = [d.id for d in order]
        for limit in (1, 6, 100):
            items, total = all_pages("/api/v1/devices?sort=" + urllib.parse.quote(spec), limit=limit)
            got = [x["id"] for x in items]
            check(got == want, "sort=%s limit=%d: %r..., expected %r..." % (spec, limit, got[:6], want[:6]))
            check(total == str(len(devs)), "sort=%s: total %r" % (spec, total))
    # sort and q together
    items, _ = all_pages(qpath("tag = lab", sort="-serial_number"), limit=2)
    want = sorted((d for d in devs if "lab" in d.tags), key=lambda d: d.id.encode(), reverse=True)
    want = [d.id for d in sorted(want, key=lambda d: d.serial_number.encode(), reverse=True)]
    check([x["id"] for x in items] == want, "q + sort: %r vs %r" % ([x["id"] for x in items], want))
    # a cursor belongs to its sort
    _, doc = ok("GET", "/api/v1/devices?sort=oui&limit=2", "readonly")
    expect_error("GET", "/api/v1/devices?sort=-oui&limit=2&cursor=" + doc["next_cursor"], 400,
                 "readonly", contains="sort")
    expect_error("GET", "/api/v1/devices?limit=2&cursor=" + doc["next_cursor"], 400, "readonly")
    _, d2 = ok("GET", "/api/v1/devices?limit=2", "readonly")
    expect_error("GET", "/api/v1/devices?sort=oui&cursor=" + d2["next_cursor"], 400, "readonly")
    # rows inserted and deleted between pages neither repeat nor shift the rest
    _, p1 = ok("GET", "/api/v1/devices?sort=-last_inform&limit=5", "readonly")
    first = [x["id"] for x in p1["items"]]
    psql("INSERT INTO devices (id, oui, serial_number, last_inform) VALUES "
         "('ZZ-new-1', 'ZZ', 'new1', now()), ('ZZ-new-2', 'ZZ', 'new2', now() - interval '100 days')")
    try:
        rest, _ = all_pages("/api/v1/devices?sort=-last_inform", limit=8, cursor=p1["next_cursor"])
        ids = [x["id"] for x in rest]
        check(not set(ids) & set(first), "a page repeated items after an insert")
        check("ZZ-new-1" not in ids and "ZZ-new-2" in ids, "inserted rows misplaced: %r" % ids[-3:])
    finally:
        psql("DELETE FROM devices WHERE oui = 'ZZ'")


def test_projection():
    devs = Env.devs
    _, doc = ok("GET", "/api/v1/devices?limit=100&projection=" + urllib.parse.quote(
        "software_version,%s,Device.WiFi.,%s,Device.Nothing" % (PII, LONG)), "readonly")
    check(len(doc["items"]) == len(devs), "projection: %d items" % len(doc["items"]))
    by = {d.id: d for d in devs}
    for it in doc["items"]:
        d = by[it["id"]]
        want_keys = {"id", "oui", "product_class", "serial_number", "software_version", "parameters"}
        check(set(it) == want_keys, "projected item keys %r" % sorted(it))
        want_p = {n for n in d.params if n in (PII, LONG) or n.startswith("Device.WiFi.")}
        check(set(it["parameters"]) == want_p, "%s: projected parameters %r, expected %r"
              % (d.id, sorted(it["parameters"]), sorted(want_p)))
        if PII in want_p:
            check(it["parameters"][PII]["value"] == d.params[PII][0] and
                  it["parameters"][PII]["type"] == d.params[PII][1], "projected value %r" % it["parameters"][PII])
        check(it["software_version"] == d.software_version, "projected software_version")
    # only device fields: no parameters key
    _, doc = ok("GET", "/api/v1/devices?limit=3&projection=tags,last_inform", "readonly")
    check(all(set(x) == {"id", "oui", "product_class", "serial_number", "tags", "last_inform"}
              for x in doc["items"]), "field projection %r" % doc["items"][:1])
    # with q and sort
    _, doc = ok("GET", qpath("tag = lab", sort="-id", projection=PII, limit="3"), "readonly")
    check(len(doc["items"]) == 3 and all("parameters" in x for x in doc["items"]), "q+sort+projection")


def test_device_delete_and_tags():
    d = Env.devs[12]
    p = dev_path(d.id)
    ok("POST", dev_path(d.id, "/tasks"), "operator", {"rpc": "Reboot"}, status=201)
    psql("INSERT INTO faults (device_id, channel, code) VALUES (%s, 'x', '9002')" % sql_str(d.id))
    n_audit = int(psql("SELECT count(*) FROM audit_log"))
    # tags: add, remove, order, no-op
    _, dev = ok("POST", dev_path(d.id, "/tags"), "operator", {"add": ["b", "a", "b", "lab"], "remove": ["eu"]})
    want = [t for t in d.tags if t != "eu"] + [t for t in ["b", "a", "lab"] if t not in d.tags]
    check(dev["tags"] == want, "tags %r, expected %r" % (dev["tags"], want))
    row = psql("SELECT actor, detail->'before', detail->'after' FROM audit_log WHERE action = "
               "'device.tags' ORDER BY id DESC LIMIT 1")
    check(row == "op|%s|%s" % (json.dumps(d.tags), json.dumps(want)), "device.tags audit %r" % row)
    n1 = int(psql("SELECT count(*) FROM audit_log"))
    check(n1 == n_audit + 1, "audit rows %d, expected %d (the tags)" % (n1, n_audit + 1))
    _, dev = ok("POST", dev_path(d.id, "/tags"), "operator", {"add": ["a"]})
    check(int(psql("SELECT count(*) FROM audit_log")) == n1, "a no-op tag change was audited")
    ok("POST", dev_path(d.id, "/tags"), "operator", {"remove": want})
    d.tags = []
    for body, word in (({"add": "x"}, "add"), ({"add": [1]}, "add[0]"), ({"add": [""]}, "add[0]"),
                       ({"add": ["a\nb"]}, "add[0]"), ({"add": ["x" * 129]}, "add[0]"),
                       ({"add": ["t%d" % i for i in range(65)]}, "64"), ({"tags": []}, "unknown key"),
                       ([], "object")):
        expect_error("POST", dev_path(d.id, "/tags"), 400, "operator", body, contains=word)
    expect_error("POST", dev_path(d.id, "/tags"), 415, "operator", {"add": []}, ctype="text/plain")
    expect_error("POST", dev_path("NOPE-X-1", "/tags"), 404, "operator", {"add": ["a"]})
    # delete: admin only, with everything of the device, audited
    expect_error("DELETE", p, 403, "operator", contains="admin")
    st, _, body = api("DELETE", p, "admin")
    check(st == 204 and body is None, "DELETE device: %d %r" % (st, body))
    for t in ("devices WHERE id", "parameters WHERE device_id", "tasks WHERE device_id",
              "faults WHERE device_id"):
        check(psql("SELECT count(*) FROM %s = %s" % (t, sql_str(d.id))) == "0", "%s left" % t)
    row = psql("SELECT actor, target, detail->'before'->>'serial_number', detail->>'parameters' "
               "FROM audit_log WHERE action = 'device.delete' ORDER BY id DESC LIMIT 1")
    check(row == "admin|%s|%s|%d" % (d.id, d.serial_number, len(d.params)), "device.delete audit %r" % row)
    expect_error("DELETE", p, 404, "admin")
    Env.devs.remove(d)


def test_tasks():
    d = Env.devs[0]
    made = []
    for rpc in ("Reboot", "FactoryReset", "GetRPCMethods"):
        _, t = ok("POST", dev_path(d.id, "/tasks"), "operator", {"rpc": rpc}, status=201)
        made.append(t["id"])
    other = Env.devs[1]
    _, t = ok("POST", dev_path(other.id, "/tasks"), "operator", {"rpc": "Reboot", "expires_in": 600},
              status=201)
    made.append(t["id"])
    fault_id = int(psql("INSERT INTO tasks (device_id, rpc, args, status, fault_code, fault_string, "
                        "created_at, expires_at) VALUES (%s, 'SetParameterValues', '{\"ParameterList\": []}', "
                        "'fault', 9005, 'bad', now() - interval '1 hour', now() + interval '1 hour') "
                        "RETURNING id" % sql_str(d.id)).splitlines()[0])
    done_id = int(psql("INSERT INTO tasks (device_id, rpc, status) VALUES (%s, 'Reboot', 'done') "
                       "RETURNING id" % sql_str(d.id)).splitlines()[0])
    # the list: every device, newest first, filters
    items, total = all_pages("/api/v1/tasks", limit=2)
    ids = [x["id"] for x in items]
    check(ids == sorted(ids, reverse=True) and set(made + [fault_id, done_id]) <= set(ids),
          "task list %r" % ids)
    check(total == psql("SELECT count(*) FROM tasks"), "task total %r" % total)
    items, _ = all_pages("/api/v1/tasks?device=" + urllib.parse.quote(d.id, safe=""), limit=3)
    check({x["device_id"] for x in items} == {d.id} and len(items) == 5, "device filter %r" % items)
    items, _ = all_pages("/api/v1/tasks?status=fault,done&device=" + urllib.parse.quote(d.id, safe=""))
    check(sorted(x["id"] for x in items) == sorted([fault_id, done_id]), "status filter %r" % items)
    for bad in ("status=nope", "status=", "status=done,,fault", "cursor=" + cursor_for("d", "x"),
                "cursor=" + cursor_for("t", "1x"), "limit=0", "device=%zz"):
        expect_error("GET", "/api/v1/tasks?" + bad, 400, "readonly")
    # cancel: pending only
    a0 = int(psql("SELECT count(*) FROM audit_log WHERE action = 'task.cancel'"))
    _, t = ok("POST", "/api/v1/tasks/%d/cancel" % made[0], "operator")
    check(t["status"] == "cancelled" and t["done_at"] is not None, "cancelled %r" % t)
    _, t = ok("DELETE", "/api/v1/tasks/%d" % made[1], "operator")
    check(t["status"] == "cancelled", "DELETE cancels: %r" % t)
    expect_error("POST", "/api/v1/tasks/%d/cancel" % made[0], 409, "operator", contains="cancelled")
    expect_error("POST", "/api/v1/tasks/%d/cancel" % done_id, 409, "operator", contains="done")
    expect_error("POST", "/api/v1/tasks/999999/cancel", 404, "operator")
    expect_error("DELETE", "/api/v1/tasks/999999", 404, "operator")
    row = psql("SELECT actor, target, detail->'before'->>'status', detail->'after'->>'status' FROM "
               "audit_log WHERE action = 'task.cancel' ORDER BY id DESC LIMIT 1")
    check(row == "op|%s|pending|cancelled" % d.id, "task.cancel audit %r" % row)
    check(int(psql("SELECT count(*) FROM audit_log WHERE action = 'task.cancel'")) == a0 + 2,
          "refused cancels were audited")
    # retry: a new pending copy; the original stays
    h, t = ok("POST", "/api/v1/tasks/%d/retry" % fault_id, "operator", status=201)
    check(h.get("location") == "/api/v1/tasks/%d" % t["id"] and t["id"] > fault_id, "retry %r" % h)
    check(t["status"] == "pending" and t["rpc"] == "SetParameterValues" and
          t["args"] == {"ParameterList": []} and t["created_by"] == "op" and t["fault"] is None,
          "retried task %r" % t)
    life = psql("SELECT round(extract(epoch FROM expires_at - created_at)) FROM tasks WHERE id = %d" % t["id"])
    check(life == "7200", "retried lifetime %r, expected the original's 7200 s" % life)
    check(psql("SELECT status FROM tasks WHERE id = %d" % fault_id) == "fault", "the original changed")
    _, t2 = ok("POST", "/api/v1/tasks/%d/retry" % made[0], "operator", status=201)  # cancelled
    check(t2["expires_at"] is None, "retry of a task without expiry: %r" % t2)
    for tid, word in ((done_id, "done"), (made[2], "pending")):
        expect_error("POST", "/api/v1/tasks/%d/retry" % tid, 409, "operator", contains=word)
    expect_error("POST", "/api/v1/tasks/999999/retry", 404, "operator")
    row = psql("SELECT actor, (detail->>'retry_of')::bigint, (detail->>'task_id')::bigint FROM audit_log "
               "WHERE action = 'task.retry' ORDER BY id LIMIT 1")
    check(row == "op|%d|%d" % (fault_id, t["id"]), "task.retry audit %r" % row)


def cursor_for(kind, key):
    return base64.urlsafe_b64encode(("%s:%s" % (kind, key)).encode()).decode().rstrip("=")


INFORM = ('<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" '
          'xmlns:soapenc="http://schemas.xmlsoap.org/soap/encoding/" '
          'xmlns:cwmp="urn:dslforum-org:cwmp-1-0"><soap:Header><cwmp:ID soap:mustUnderstand="1">1'
          '</cwmp:ID></soap:Header><soap:Body><cwmp:Inform><DeviceId><Manufacturer>ACME</Manufacturer>'
          '<OUI>00AA11</OUI><ProductClass>Box</ProductClass><SerialNumber>EXP1</SerialNumber></DeviceId>'
          '<Event soapenc:arrayType="cwmp:EventStruct[1]"><EventStruct><EventCode>2 PERIODIC</EventCode>'
          '<CommandKey></CommandKey></EventStruct></Event><MaxEnvelopes>1</MaxEnvelopes>'
          '<CurrentTime>2026-12-01T08:00:00Z</CurrentTime><RetryCount>0</RetryCount>'
          '<ParameterList soapenc:arrayType="cwmp:ParameterValueStruct[0]"></ParameterList>'
          '</cwmp:Inform></soap:Body></soap:Envelope>')


def cwmp_session(empty_posts=1):
    """An Inform and empty POSTs on one connection; the answers' bodies."""
    out = []
    with Conn(Env.acsd.cwmp, timeout=10) as c:
        c.send(format_request("POST", "/", {"Content-Type": "text/xml"}, INFORM))
        st, h, body = c.read_response(10)
        check(st == 200 and b"InformResponse" in body, "Inform: %d %r" % (st, body[:300]))
        cookie = h.get("set-cookie", "").split(";")[0]
        for _ in range(empty_posts):
            c.send(format_request("POST", "/", {"Cookie": cookie} if cookie else {}, b""))
            st, h, body = c.read_response(10)
            out.append((st, body))
            if st == 204:
                break
    return out


def test_expired_task_not_sent():
    cwmp_session()  # the device exists from now on
    dev = "00AA11-Box-EXP1"
    check(psql("SELECT count(*) FROM devices WHERE id = '%s'" % dev) == "1", "Inform made no device")
    _, t = ok("POST", dev_path(dev, "/tasks"), "operator", {"rpc": "Reboot", "expires_in": 1}, status=201)
    time.sleep(2.2)
    answers = cwmp_session()
    check(answers and answers[0][0] == 204 and b"Reboot" not in answers[0][1],
          "an expired task was sent: %r" % answers)
    _, g = ok("GET", "/api/v1/tasks/%d" % t["id"], "readonly")
    check(g["status"] == "expired" and g["sent_at"] is None, "expired task %r" % g)
    expect_error("POST", "/api/v1/tasks/%d/cancel" % t["id"], 409, "operator", contains="expired")
    _, r = ok("POST", "/api/v1/tasks/%d/retry" % t["id"], "operator", status=201)
    check(r["status"] == "pending" and r["expires_at"] is not None, "retry of an expired task %r" % r)
    ok("POST", "/api/v1/tasks/%d/cancel" % r["id"], "operator")


def test_faults():
    d1, d2 = Env.devs[2], Env.devs[3]
    psql("INSERT INTO faults (device_id, channel, code, message, detail, retries) VALUES "
         "(%s, 'default', '9002', 'internal', '{\"rpc\": \"Reboot\"}', 2), (%s, 'wifi', 'script.timeout', '', NULL, 0), "
         "(%s, 'wifi', '9005', 'bad name', NULL, 1), (%s, 'ch/with space', 'x', '', NULL, 0)"
         % (sql_str(d1.id), sql_str(d1.id), sql_str(d2.id), sql_str(d2.id)))
    items, total = all_pages("/api/v1/faults", limit=1)
    keys = [(x["device_id"], x["channel"]) for x in items]
    check(len(items) >= 4 and keys == sorted(keys) and total == str(len(items)), "faults %r" % keys)
    f = [x for x in items if x["device_id"] == d1.id and x["channel"] == "default"][0]
    check(f["code"] == "9002" and f["detail"] == {"rpc": "Reboot"} and f["retries"] == 2, "fault %r" % f)
    items, _ = all_pages("/api/v1/faults?channel=wifi")
    check(sorted(x["device_id"] for x in items) == sorted([d1.id, d2.id]), "channel filter %r" % items)
    items, _ = all_pages("/api/v1/faults?device=" + urllib.parse.quote(d2.id, safe=""))
    check(sorted(x["channel"] for x in items) == ["ch/with space", "wifi"], "device filter %r" % items)
    path = "/api/v1/faults/%s/%s" % (urllib.parse.quote(d2.id, safe=""), urllib.parse.quote("ch/with space", safe=""))
    expect_error("DELETE", path, 403, "readonly")
    st, _, body = api("DELETE", path, "operator")
    check(st == 204, "DELETE fault: %d %r" % (st, body))
    row = psql("SELECT actor, target, detail->>'channel', detail->'before'->>'code' FROM audit_log "
               "WHERE action = 'fault.delete' ORDER BY id DESC LIMIT 1")
    check(row == "op|%s|ch/with space|x" % d2.id, "fault.delete audit %r" % row)
    expect_error("DELETE", path, 404, "operator")
    expect_error("GET", "/api/v1/faults?cursor=" + cursor_for("f", "[1]"), 400, "readonly")


def test_tokens_and_audit():
    # make one, use it, list (no secret), revoke
    _, t = ok("POST", "/api/v1/tokens", "admin", {"role": "operator", "name": "made-by-api"}, status=201)
    tok = t["token"]
    check(re.match(r"^acs_[A-Za-z0-9_-]{43}$", tok) and t["role"] == "operator" and
          t["name"] == "made-by-api" and t["revoked_at"] is None, "new token %r" % t)
    check(psql("SELECT count(*) FROM api_tokens WHERE token_hash = sha256(convert_to(%s, 'UTF8'))"
               % sql_str(tok)) == "1", "the store does not keep the token's sha256")
    st, _, _ = api("GET", "/api/v1/tasks", token=tok)
    check(st == 200, "the new token: %d" % st)
    st, _, _ = api("GET", "/api/v1/tokens", token=tok)
    check(st == 403, "an operator token listed tokens: %d" % st)
    _, t2 = ok("POST", "/api/v1/tokens", "admin", {"role": "readonly"}, status=201)
    check(t2["name"] == "readonly-token-%d" % t2["id"], "default name %r" % t2["name"])
    items, total = all_pages("/api/v1/tokens", limit=2, role="admin")
    raw = json.dumps(items)
    check(tok not in raw and t2["token"] not in raw and "token_hash" not in raw, "a list shows a secret")
    check(all("token" not in x for x in items) and [x["id"] for x in items] == sorted(x["id"] for x in items),
          "token list %r" % items[:2])
    for body, word in (({"role": "root"}, "role"), ({}, "role"), ({"role": "admin", "name": ""}, "name"),
                       ({"role": "admin", "name": "a\tb"}, "name"), ({"role": "admin", "x": 1}, "unknown"),
                       ({"role": "admin", "name": 5}, "name")):
        expect_error("POST", "/api/v1/tokens", 400, "admin", body, contains=word)
    expect_error("POST", "/api/v1/tokens", 415, "admin", {"role": "admin"}, ctype=None)
    _, r = ok("DELETE", "/api/v1/tokens/%d" % t["id"], "admin")
    check(r["revoked_at"] is not None and r["id"] == t["id"] and "token" not in r, "revoked %r" % r)
    _, r2 = ok("DELETE", "/api/v1/tokens/%d" % t["id"], "admin")
    check(r2["revoked_at"] == r["revoked_at"], "second revoke changed revoked_at")
    check(psql("SELECT count(*) FROM audit_log WHERE action = 'token.revoke' AND target = '%d'" % t["id"]) == "1",
          "token.revoke audit rows")
    expect_error("DELETE", "/api/v1/tokens/999999", 404, "admin")
    time.sleep(TOKEN_TTL + 0.3)
    for _ in range(4):
        st, _, _ = api("GET", "/api/v1/tasks", token=tok)
        check(st == 401, "a revoked token answered %d" % st)
    # the audit log: newest first, filters, pages
    items, total = all_pages("/api/v1/audit", limit=5, role="admin")
    ids = [x["id"] for x in items]
    check(ids == sorted(ids, reverse=True) and total == psql("SELECT count(*) FROM audit_log"),
          "audit pages %r total %r" % (ids[:5], total))
    actions = {x["action"] for x in items}
    for a in ("task.create", "task.cancel", "task.retry", "device.tags", "device.delete", "fault.delete",
              "token.create", "token.revoke"):
        check(a in actions, "no %s in the audit log (%r)" % (a, sorted(actions)))
    created = [x for x in items if x["action"] == "token.create" and x["target"] == str(t["id"])][0]
    check(created["actor"] == "admin" and created["detail"]["name"] == "made-by-api", "token.create %r" % created)
    sel, _ = all_pages("/api/v1/audit?action=task.cancel&actor=op", role="admin")
    check(sel and all(x["action"] == "task.cancel" and x["actor"] == "op" for x in sel), "audit filter %r" % sel)
    sel, _ = all_pages("/api/v1/audit?target=" + urllib.parse.quote(str(t["id"])), role="admin")
    check({x["action"] for x in sel} == {"token.create", "token.revoke"}, "target filter %r" % sel)
    sel, _ = all_pages("/api/v1/audit?since=now-1h&until=now%2B1m", role="admin")
    check(len(sel) == len(items), "since/until now: %d of %d" % (len(sel), len(items)))
    sel, _ = all_pages("/api/v1/audit?until=2000-01-01", role="admin")
    check(sel == [], "until 2000: %r" % sel[:1])
    sel, _ = all_pages("/api/v1/audit?since=2000-01-01T00:00:00Z&action=device.delete", role="admin")
    check(len(sel) == 1, "since + action: %r" % sel)
    for bad in ("since=yesterday", "until=2026-13-01", "cursor=" + cursor_for("t", "5"), "limit=1001"):
        expect_error("GET", "/api/v1/audit?" + bad, 400, "admin")


# route x role -> status: 401 without a token, 403 below the role, else what the route answers
RO, OP, AD = 1, 2, 3
ROLES = [(None, 0), ("readonly", RO), ("operator", OP), ("admin", AD)]


def test_files():
    """The files routes as documented (tests/server/test_files.py goes deeper)."""
    import hashlib
    data = b"cpesim-firmware version=9.1\n" + bytes(range(256)) * 40
    path = ("/api/v1/files?name=rt.bin&type=1%%20Firmware%%20Upgrade%%20Image&oui=00D09E&sha256=%s"
            % hashlib.sha256(data).hexdigest())
    h, f = ok("POST", path, "operator", data, status=201)
    check(f["size"] == len(data) and h.get("location") == "/api/v1/files/rt.bin", "upload %r" % f)
    expect_error("POST", path, 409, "operator", body=data, contains="exists")
    expect_error("POST", path.replace("rt.bin", "rt2.bin").replace("sha256=", "sha256=0"), 400,
                 "operator", body=data, contains="sha256")
    _, lst = ok("GET", "/api/v1/files?oui=00D09E", "readonly")
    check([x["name"] for x in lst["items"]] == ["rt.bin"], "list %r" % lst)
    _, g = ok("GET", "/api/v1/files/rt.bin", "readonly")
    check(g == f, "get %r" % g)
    expect_error("GET", "/api/v1/files/nope.bin", 404, "readonly")
    ok("POST", path.replace("rt.bin", "gone.bin"), "operator", data, status=201)
    ok("DELETE", "/api/v1/files/gone.bin", "operator", status=204)
    expect_error("DELETE", "/api/v1/files/gone.bin", 404, "operator")


# routes answered without a token (tests/server/test_monitoring.py has the last two)
NO_TOKEN = ("/health", "/ready", "/metrics")


def route_table():
    d0 = Env.devs[0].id
    # an alarm and a fault for the policies/alarms routes (idempotent)
    alarm = psql("INSERT INTO alarms (device_id, rule, severity) VALUES (%s, 'alarms/route_table', "
                 "'info') ON CONFLICT (device_id, rule, instance_key) DO UPDATE SET count = "
                 "alarms.count RETURNING id" % sql_str(d0))
    psql("INSERT INTO faults (device_id, channel, code) VALUES (%s, 'route-table', 'x') "
         "ON CONFLICT DO NOTHING" % sql_str(d0))
    fault = "/api/v1/faults/%s/route-table" % urllib.parse.quote(d0, safe="")
    push = {"files": {"provisions/route_table.lua": "return 1"}, "source": "route table"}
    # two generations to activate and roll back between
    g1, g2 = psql("INSERT INTO policy_generations (created_by, checksum, files, valid) VALUES "
                  "('route table', 'a', '{}', true), ('route table', 'b', '{}', true) "
                  "RETURNING id").split()
    return [
        ("GET", "/api/v1/devices", None, RO, 200),
        ("GET", "/api/v1/devices/export?columns=nope", None, RO, 400),  # 200 is CSV: test_device_export
        ("GET", dev_path(d0), None, RO, 200),
        ("DELETE", dev_path("NOPE-X-1"), None, AD, 404),
        ("POST", dev_path(d0, "/tags"), {"add": []}, OP, 200),
        ("GET", dev_path(d0, "/tasks"), None, RO, 200),
        ("GET", dev_path(d0, "/history"), None, RO, 200),
        # wire traces (tests/server/test_traces.py has the rest)
        ("POST", dev_path(d0, "/trace"), {"minutes": 1}, OP, 201),
        ("GET", dev_path(d0, "/trace"), None, OP, 200),
        ("DELETE", dev_path("NOPE-X-1", "/trace"), None, OP, 404),
        ("POST", "/api/v1/traces", {"query": "serial_number = NONE", "minutes": 1}, OP, 201),
        ("GET", dev_path("NOPE-X-1", "/history"), None, RO, 404),
        ("POST", dev_path("NOPE-X-1", "/tasks"), {"rpc": "Reboot"}, OP, 404),
        ("GET", "/api/v1/tasks", None, RO, 200),
        ("GET", "/api/v1/tasks/999999", None, RO, 404),
        ("DELETE", "/api/v1/tasks/999999", None, OP, 404),
        ("POST", "/api/v1/tasks/999999/cancel", None, OP, 404),
        ("POST", "/api/v1/tasks/999999/retry", None, OP, 404),
        ("GET", "/api/v1/faults", None, RO, 200),
        ("DELETE", "/api/v1/faults/NOPE-X-1/default", None, OP, 404),
        ("GET", "/api/v1/tokens", None, AD, 200),
        ("POST", "/api/v1/tokens", {"role": "readonly", "name": "by-the-table"}, AD, 201),
        ("DELETE", "/api/v1/tokens/999999", None, AD, 404),
        ("GET", "/api/v1/audit", None, AD, 200),
        ("POST", fault + "/retry", None, OP, 200),
        ("POST", "/api/v1/faults/NOPE-X-1/default/retry", None, OP, 404),
        ("GET", "/api/v1/policies", None, RO, 200),
        ("POST", "/api/v1/policies?force=true", push, AD, 201),
        ("GET", "/api/v1/policies/generations", None, RO, 200),
        ("POST", "/api/v1/policies/reload", None, AD, 202),
        ("POST", "/api/v1/policies/activate", {"generation": int(g2), "reason": "table"}, AD, 200),
        ("POST", "/api/v1/policies/rollback", {"reason": "table"}, AD, 200),
        ("POST", "/api/v1/policies/test", {"files": push["files"], "device": d0}, AD, 200),
        ("GET", "/api/v1/policies/generations/%s/source" % g1, None, RO, 200),
        ("POST", "/api/v1/policies/rollout", {"generation": int(g2), "share": 10}, AD, 201),
        ("GET", "/api/v1/policies/rollout", None, RO, 200),
        ("POST", "/api/v1/policies/rollout", {"generation": int(g2), "share": 20}, AD, 200),
        ("POST", "/api/v1/policies/rollout/abort", {"reason": "table"}, AD, 200),
        ("POST", "/api/v1/policies/rollout", {"generation": int(g2), "share": 10}, AD, 201),
        ("POST", "/api/v1/policies/rollout/complete", None, AD, 200),
        ("GET", "/api/v1/alarms", None, RO, 200),
        ("GET", "/api/v1/alarms/%s" % alarm, None, RO, 200),
        ("POST", "/api/v1/alarms/%s/acknowledge" % alarm, None, OP, 200),
        ("GET", "/api/v1/alarms/999999", None, RO, 404),
        ("GET", "/api/v1/system/health", None, RO, 200),
        ("GET", "/api/v1/telemetry/current", None, RO, 200),
        ("GET", "/api/v1/stomp/metrics", None, RO, 200),
        ("GET", "/api/v1/system/log", None, RO, 200),
        ("PUT", "/api/v1/system/log", {"level": "warn"}, AD, 200),
        ("GET", "/api/v1/bulk", None, RO, 200),
        ("POST", "/api/v1/bulk", {"query": "serial_number = NONE", "task": {"rpc": "Reboot"}, "rate": 1},
         OP, 201),
        ("GET", "/api/v1/bulk/%d" % Env.bulk_id, None, RO, 200),
        ("POST", "/api/v1/bulk/999999/pause", None, OP, 404),
        ("POST", "/api/v1/bulk/999999/resume", None, OP, 404),
        ("POST", "/api/v1/bulk/999999/cancel", None, OP, 404),
        ("GET", "/api/v1/files", None, RO, 200),
        ("POST", "/api/v1/files?name=rt.bin&type=1%20Firmware%20Upgrade%20Image", b"again", OP, 409),
        ("GET", "/api/v1/files/rt.bin", None, RO, 200),
        ("DELETE", "/api/v1/files/nope.bin", None, OP, 404),
    ]


def test_bulk_actions():
    """Each bulk route once with success (tests/server/test_api_bulk.py has the rest)."""
    _, b = ok("POST", "/api/v1/bulk", "operator", {"query": "tag = lab", "task": {"rpc": "Reboot"},
                                                    "rate": 1, "window": {"start": "00:00", "end": "00:01"}},
              status=201)
    Env.bulk_id = b["id"]
    for op, want in (("pause", "paused"), ("resume", "running"), ("cancel", "cancelled")):
        _, x = ok("POST", "/api/v1/bulk/%d/%s" % (b["id"], op), "operator")
        check(x["status"] == want, "%s: %r" % (op, x))
    items, _ = all_pages("/api/v1/bulk")
    check(b["id"] in [x["id"] for x in items], "bulk list %r" % items)


def test_roles_per_route():
    table = route_table()
    if Env.openapi:
        documented = {(t, m.upper()) for t, ops in Env.openapi["paths"].items() for m in ops
                      if m in ("get", "post", "delete", "put", "patch") and t not in NO_TOKEN}
        tested = {(template_of(p), m) for m, p, _, _, _ in table}
        check(documented == tested, "route table vs api/openapi.yaml: untested %r, undocumented %r"
              % (sorted(documented - tested), sorted(tested - documented)))
    for m, p, body, need, status in table:
        for role, level in ROLES:
            st, _, doc = api(m, p, role, body)
            want = 401 if role is None else 403 if level < need else status
            check(st == want, "%s %s as %s: %d %.200r, expected %d" % (m, p, role, st, doc, want))


def test_undocumented_routes():
    for p in ("/api/v1/parameters", "/api/v1/devices/x/parameters", "/api/v1/devices/x/tags/a",
              "/api/v1/tasks/1/result", "/api/v1/tasks/abc/cancel", "/api/v1/tasks/1/cancel/x",
              "/api/v1/faults/x", "/api/v1/faults/x/y/z", "/api/v1/tokens/abc", "/api/v1/tokens/1/x",
              "/api/v1/audit/1", "/api/v1/admin", "/api/v1/devices/", "/api/v1/token", "/api/v1/Devices",
              "/api/v1/policies/1", "/api/v1/policies/generations/1", "/api/v1/alarms/abc",
              "/api/v1/alarms/1/x", "/api/v1/alarms/1/acknowledge/x", "/api/v1/faults/x/y/retry/z",
              "/api/v1/devices/x/history/1"):
        expect_error("GET", p, 404, "admin")
    # every documented path answers 405 (with the documented Allow) to an undocumented method
    d0 = Env.devs[0].id
    for p in ("/api/v1/devices", dev_path(d0), dev_path(d0, "/tasks"), dev_path(d0, "/tags"),
              dev_path(d0, "/history"), "/api/v1/tasks", "/api/v1/tasks/1", "/api/v1/tasks/1/cancel", "/api/v1/tasks/1/retry",
              "/api/v1/faults", "/api/v1/faults/a/b", "/api/v1/tokens", "/api/v1/tokens/1", "/api/v1/audit",
              "/api/v1/faults/a/b/retry", "/api/v1/policies", "/api/v1/policies/generations",
              "/api/v1/policies/reload", "/api/v1/policies/activate", "/api/v1/policies/rollback",
              "/api/v1/policies/test", "/api/v1/policies/generations/1/source", "/api/v1/policies/rollout",
              "/api/v1/policies/rollout/complete", "/api/v1/policies/rollout/abort",
              "/api/v1/alarms", "/api/v1/alarms/1", "/api/v1/alarms/1/acknowledge",
              "/api/v1/bulk", "/api/v1/bulk/1", "/api/v1/bulk/1/pause",
              "/api/v1/files", "/api/v1/files/x.bin", "/api/v1/system/health",
              "/api/v1/telemetry/current", "/api/v1/stomp/metrics", "/api/v1/system/log"):
        for m in ("PUT", "PATCH", "GET", "POST", "DELETE"):
            st, h, doc = api(m, p, "admin", {} if m in ("PUT", "PATCH") else None)
            check(st != 405 or h.get("allow"), "%s %s: 405 without Allow" % (m, p))


def test_every_route_answered():
    """Every documented route and method answered at least once, with a
    documented status, and its answers matched their schemas."""
    if not Env.openapi:
        return
    for t, ops in Env.openapi["paths"].items():
        for m in ops:
            if m not in ("get", "post", "delete", "put", "patch") or t in NO_TOKEN:
                continue
            got = {s for (tt, mm, s) in Env.seen if tt == t and mm == m.upper()}
            check(any(200 <= s < 300 for s in got), "%s %s never answered with success (%r)" % (m, t, got))


def test_plans_use_indexes():
    """With sequential scans disabled, the plans acsd's statements get (by
    auto_explain) never scan devices or parameters sequentially for the
    indexed predicates: an index is missing if one still does."""
    if Env.no_auto_explain:
        print("     (auto_explain is not installed: plans not checked)")
        return
    queries = [
        'oui = "00D09E"', "product_class = HG8245", 'serial_number ~= "SN00"', 'manufacturer = "Acme"',
        'software_version = "V1.1"', 'hardware_version = "HW2"', 'id = "%s"' % Env.devs[0].id,
        "tag = lab", "last_inform < now-5h", "%s >= 300" % PII, "%s = '1.2'" % SWV,
        "%s ~= '1.'" % SWV, "%s = true" % ENA, "%s > 2026-11-30T00:00:00Z" % NOW, "%s exists" % PII,
        "%s = 300 OR %s = '1.2'" % (PII, SWV), "tag = lab OR serial_number = SN0001",
        "oui = 00D09E AND (%s < 600 OR tag = eu)" % PII,
        # issue 15: an anchored expression is a range of the identity index;
        # sets are index lookups (GIN for tags)
        "serial_number MATCHES '^SN00[12]'", "serial_number IN (SN0001, SN0002)",
        "tag IN (lab, eu)", "%s IN (300, 600)" % PII, "%s MATCHES '^1'" % SWV,
        "%s CONTAINS '.'" % SWV,
    ]
    Env.pg.psql("ALTER SYSTEM SET enable_seqscan = off", user="postgres")
    Env.pg.psql("ALTER SYSTEM SET auto_explain.log_min_duration = 0", user="postgres")
    Env.pg.psql("SELECT pg_reload_conf()", user="postgres")
    time.sleep(0.5)
    try:
        for q in queries:
            mark = "acs-plan-check-%d" % CHECKS
            Env.pg.psql("SELECT '%s'" % mark)
            ok("GET", qpath(q, limit="10"), "readonly")
            time.sleep(0.1)
            log = Env.pg.log()
            part = log[log.rfind(mark):]
            plans = [p for p in part.split("duration:") if "devices d WHERE" in p]
            check(plans, "q=%s: no plan logged (auto_explain missing?)" % q)
            for p in plans:
                bad = re.findall(r"Seq Scan on (devices|parameters_p\d+)", p)
                check(not bad, "q=%s: sequential scan of %s:\n%s" % (q, bad, p[:3000]))
    finally:
        Env.pg.psql("ALTER SYSTEM RESET enable_seqscan", user="postgres")
        Env.pg.psql("ALTER SYSTEM RESET auto_explain.log_min_duration", user="postgres")
        Env.pg.psql("SELECT pg_reload_conf()", user="postgres")


def export(query, role="readonly"):
    """GET /api/v1/devices/export?QUERY: (status, headers, body bytes)."""
    import http.client
    c = http.client.HTTPConnection("127.0.0.1", Env.acsd.api, timeout=30)
    c.request("GET", "/api/v1/devices/export" + ("?" + query if query else ""),
              headers={"Authorization": "Bearer " + Env.tok[role]} if role else {})
    r = c.getresponse()
    body = r.read()  # http.client undoes the chunking (and fails on a truncated body)
    c.close()
    return r.status, {k.lower(): v for k, v in r.getheaders()}, body


def test_device_export():
    """CSV export (issue 15): every device the query matches, in id order, the
    columns asked for, RFC 4180 quoting (commas, quotes, CR LF inside a
    value), streamed in chunks, one statement per 1000 devices; bad columns
    and queries are JSON 400s."""
    import csv
    import io
    listed, _ = all_pages(qpath(None), limit=100)
    st, h, body = export(None)
    check(st == 200 and h.get("content-type", "").startswith("text/csv") and
          h.get("transfer-encoding") == "chunked" and "content-length" not in h,
          "export: %d %r" % (st, h))
    Env.seen.add(("/api/v1/devices/export", "GET", 200))
    rows = list(csv.reader(io.StringIO(body.decode(), newline="")))
    check(body.endswith(b"\r\n") and rows[0] == ["id", "oui", "product_class", "serial_number", "manufacturer",
                                                   "software_version", "hardware_version", "tags", "last_inform"],
          "header %r" % rows[:1])
    want = sorted(listed, key=lambda d: d["id"].encode())
    check(len(rows) - 1 == len(want), "%d rows, %d devices" % (len(rows) - 1, len(want)))
    for row, d in zip(rows[1:], want):
        exp = [d["id"], d["oui"], d["product_class"], d["serial_number"], d.get("manufacturer") or "",
               d.get("software_version") or "", d.get("hardware_version") or "", d["tags"],
               d.get("last_inform") or ""]
        got = row[:7] + [json.loads(row[7])] + row[8:]
        check(got == exp, "row %r, expected %r" % (row, exp))
    # a query, chosen columns, a parameter; values that need quoting
    tricky = 'a,"b"\r\nc'
    psql("INSERT INTO devices (id, oui, product_class, serial_number, manufacturer) VALUES "
         "('EXQ-P-1', 'EXQ', 'P', '1', %s)" % sql_str(tricky))
    psql("INSERT INTO parameters (device_id, name, value, xsd_type) VALUES ('EXQ-P-1', '%s', %s, "
         "'xsd:string')" % (SWV, sql_str('x"y')))
    st, h, body = export("q=" + urllib.parse.quote("oui = EXQ OR oui = 00D09E") +
                         "&columns=id,manufacturer,%s,created_at" % SWV)
    rows = list(csv.reader(io.StringIO(body.decode(), newline="")))
    exq = [r for r in rows if r[0] == "EXQ-P-1"]
    check(st == 200 and rows[0] == ["id", "manufacturer", SWV, "created_at"] and
          exq and exq[0][1] == tricky and exq[0][2] == 'x"y' and TIME_RE.match(exq[0][3]),
          "chosen columns: %r" % rows[:3])
    check(b'"a,""b""\r\nc"' in body, "RFC 4180 quoting: %r" % body[:300])
    n00 = len([d for d in want if d["oui"] == "00D09E"])
    check(len(rows) - 1 == n00 + 1, "%d rows for the query, expected %d" % (len(rows) - 1, n00 + 1))
    # more than one page (1000 devices a statement), nothing lost or repeated
    psql("INSERT INTO devices (id, oui, product_class, serial_number) SELECT 'EXP-P-' || "
         "lpad(i::text, 5, '0'), 'EXP', 'P', lpad(i::text, 5, '0') FROM generate_series(1, 2345) i")
    try:
        st, h, body = export("q=oui%20%3D%20EXP&columns=serial_number")
        got = body.decode().split("\r\n")
        check(st == 200 and got[0] == "serial_number" and got[1:-1] == ["%05d" % i for i in range(1, 2346)]
              and got[-1] == "", "2345 devices over 3 pages: %d lines" % len(got))
    finally:
        psql("DELETE FROM devices WHERE oui IN ('EXP', 'EXQ')")
    for q, word in (("columns=id,nope", "unknown column"), ("columns=Device.WiFi.", "not a parameter"),
                    ("columns=" + ",".join(["id"] * 65), "at most 64"),
                    ("columns=Device.ManagementServer.ConnectionRequestPassword", "secret"),
                    ("q=serial_number%20%3D%20LDA*", "wildcard"), ("q=oui%20%3D", "q: at")):
        st, h, body = export(q)
        check(st == 400 and h.get("content-type", "").startswith("application/json") and
              word in json.loads(body)["error"], "export?%s: %d %r" % (q, st, body[:200]))
        Env.seen.add(("/api/v1/devices/export", "GET", 400))
    st, _, _ = export(None, role=None)
    check(st == 401, "export without a token: %d" % st)


def test_trace_stop_route():
    """DELETE .../trace once with success (test_traces.py has the rest)."""
    d0 = "00AA11-Box-EXP1"  # the one device no test deletes (cwmp_session's)
    ok("POST", dev_path(d0, "/trace"), "operator", {"minutes": 1}, status=201)
    ok("DELETE", dev_path(d0, "/trace"), "operator", status=204)


def test_clean_shutdown():
    st, _, _ = api("GET", "/api/v1/devices?limit=1", "readonly")
    check(st == 200, "before SIGTERM: %d" % st)
    Env.acsd.signal(signal.SIGTERM)
    rc, _ = Env.acsd.wait_exit(20)
    Env.acsd.check_clean_exit(rc)
    global CHECKS
    CHECKS += 1


def test_task_connection_request():
    """?connection_request=true on a device without a ConnectionRequestURL:
    202 at once with the failure in result.connection_request (the schema
    checks the 202); tests/cpesim/test_connreq.py covers the rest."""
    dev = "00AA11-Box-EXP1"
    psql("UPDATE devices SET connection_request_url = NULL WHERE id = '%s'" % dev)
    t0 = time.monotonic()
    h, t = ok("POST", dev_path(dev, "/tasks?connection_request=true&timeout=5"), "operator",
              {"rpc": "Reboot"}, status=202)
    cr = (t["result"] or {}).get("connection_request") or {}
    check(t["status"] == "pending" and cr.get("status") == "failed" and cr.get("http_status") is None
          and "ConnectionRequestURL" in cr.get("detail", "") and time.monotonic() - t0 < 4,
          "connection request without a URL: %r" % t)
    check(h.get("location") == "/api/v1/tasks/%d" % t["id"], "Location %r" % h)
    expect_error("POST", dev_path(dev, "/tasks?timeout=5"), 400, "operator", {"rpc": "Reboot"},
                 contains="connection_request")
    ok("POST", "/api/v1/tasks/%d/cancel" % t["id"], "operator")


def test_traceparent():
    """issue 13: a W3C traceparent sent to the API is kept on the task it
    creates (and on a bulk action, whose tasks inherit it); the connection
    request the task triggers and the session that sends it log its trace-id
    (JSON records: "trace_id"); invalid headers are ignored."""
    dev = "00AA11-Box-EXP1"
    trace = "4bf92f3577b34da6a3ce929d0e0e4736"
    tp = "00-%s-00f067aa0ba902b7-01" % trace
    ok("PUT", "/api/v1/system/log", "admin", {"level": "info", "format": "json"})
    try:
        n0 = len(Env.acsd.log())
        st, _, t = api("POST", dev_path(dev, "/tasks?connection_request=true&timeout=5"), "operator",
                       {"rpc": "GetParameterNames", "args": {"ParameterPath": "Device.", "NextLevel": True}},
                       headers={"traceparent": tp})
        check(st == 202, "task with a traceparent: %d %r" % (st, t))
        check(psql("SELECT traceparent FROM tasks WHERE id = %d" % t["id"]) == tp, "traceparent not kept")
        answers = cwmp_session()
        check(answers and b"GetParameterNames" in answers[0][1], "the task was not sent: %r" % answers)
        time.sleep(0.3)
        recs = [json.loads(ln) for ln in Env.acsd.log()[n0:].splitlines() if ln.startswith("{")]
        cr = [r for r in recs if r["subsystem"] == "connreq" and "task %d" % t["id"] in r["message"]]
        check(cr and cr[0]["trace_id"] == trace and cr[0]["device"] is None, "connreq records %r" % cr)
        sent = [r for r in recs if r["subsystem"] == "session" and "sent, trace" in r["message"]]
        check(sent and sent[0]["trace_id"] == trace and sent[0]["device"] == dev and
              sent[0]["fields"] == {"task": str(t["id"]), "rpc": "GetParameterNames"},
              "the session's record %r" % sent)
        # invalid ones are ignored (stored NULL); a later version is kept as version 00
        for bad in ("00-%s-0000000000000000-01" % trace, "00-%s-00f067aa0ba902b7-01" % ("0" * 32),
                    "ff-%s-00f067aa0ba902b7-01" % trace, tp + "-x", tp.upper(), tp[:-1], "nonsense"):
            _, t2 = ok("POST", dev_path(dev, "/tasks"), "operator", {"rpc": "Reboot"}, status=201)
            st, _, t3 = api("POST", dev_path(dev, "/tasks"), "operator", {"rpc": "Reboot"},
                            headers={"traceparent": bad})
            check(st == 201 and psql("SELECT coalesce(traceparent, '-') FROM tasks WHERE id = %d" % t3["id"])
                  == "-", "traceparent %r kept" % bad)
            for x in (t2, t3):
                ok("POST", "/api/v1/tasks/%d/cancel" % x["id"], "operator")
        st, _, t4 = api("POST", dev_path(dev, "/tasks"), "operator", {"rpc": "Reboot"},
                        headers={"traceparent": "01" + tp[2:] + "-later-fields"})
        check(psql("SELECT traceparent FROM tasks WHERE id = %d" % t4["id"]) == tp, "version 01 not kept")
        ok("POST", "/api/v1/tasks/%d/cancel" % t4["id"], "operator")
        # a bulk action: on its row, its audit record, and each task it makes
        st, _, b = api("POST", "/api/v1/bulk", "operator", {"query": "id = '%s'" % dev, "task": {"rpc": "Reboot"},
                                                          "rate": 100}, headers={"traceparent": tp})
        check(st == 201 and psql("SELECT traceparent FROM bulk_actions WHERE id = %d" % b["id"]) == tp and
              psql("SELECT detail->>'traceparent' FROM audit_log WHERE action = 'bulk.create' AND target = '%d'"
                   % b["id"]) == tp, "bulk traceparent")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and psql("SELECT count(*) FROM tasks WHERE bulk_id = %d" % b["id"]) != "1":
            time.sleep(0.1)
        check(psql("SELECT traceparent FROM tasks WHERE bulk_id = %d" % b["id"]) == tp, "bulk task traceparent")
        ok("POST", "/api/v1/bulk/%d/cancel" % b["id"], "operator")
    finally:
        ok("PUT", "/api/v1/system/log", "admin", {"level": "warn", "format": "text"})


TESTS = [test_queries_semantics, test_query_errors, test_query_injection, test_sort_and_cursors,
         test_projection, test_device_delete_and_tags, test_tasks, test_expired_task_not_sent,
         test_task_connection_request, test_traceparent,
         test_faults, test_tokens_and_audit, test_bulk_actions, test_files, test_roles_per_route,
         test_undocumented_routes, test_device_export, test_trace_stop_route,
         test_every_route_answered, test_plans_use_indexes, test_clean_shutdown]


def main():
    pgtest.skip_unless_available()
    name = os.path.basename(sys.argv[0])
    Env.openapi = load_openapi()
    settings = {"session_preload_libraries": "'auto_explain'", "auto_explain.log_min_duration": "-1",
                "auto_explain.log_nested_statements": "on", "log_min_messages": "log"}
    bindir = pgtest.find_bindir()
    libdirs = [os.path.join(os.path.dirname(bindir), "lib")] if bindir else []
    try:
        libdirs.append(subprocess.run([os.path.join(bindir, "pg_config"), "--pkglibdir"],
                                      capture_output=True, text=True).stdout.strip())
    except OSError:
        pass
    if not any(os.path.exists(os.path.join(d, "auto_explain.so")) for d in libdirs if d):
        settings = {}
        Env.no_auto_explain = True
    with pgtest.PgCluster(fast=True, settings=settings) as pg:
        Env.pg = pg
        Env.tok.update(create_tokens(pg.dsn, check=check))
        Env.devs = make_fleet()
        insert_fleet(Env.devs)
        pg.psql("ANALYZE")
        serve(Env, ["--pg", pg.dsn, "--log-level", "warn"], TESTS)
    print("%d checks passed" % CHECKS, flush=True)
    sys.exit(0)


if __name__ == "__main__":
    main()
