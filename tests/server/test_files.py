#!/usr/bin/env python3
"""Files and firmware, issue 6: the /api/v1/files routes against a real acsd
and a throwaway PostgreSQL (upload with its sha256 checked, 400 on a
mismatch with nothing kept, 409 for a name taken, 413 past max-file-size,
chunked and 100-continue uploads, list filters and cursors, get, delete,
the audit rows, the role of each route), the file server on its own port
(full GET, HEAD, Range 206 and 416, If-Range, ETag and If-None-Match 304,
Basic and Digest credentials, wrong, expired or foreign credentials 401,
the grant gone once its task ends), a Download task naming a file (400 for
an unknown file or for arguments the engine fills) played through a
scripted CWMP session: the Download RPC carries the file server's URL, the
file's type and size and fresh credentials that fetch it; DownloadResponse
Status 1 keeps the task open, the TransferComplete of the next session
ends it 'done' (or 'fault' with its FaultStruct); acsd's memory while
a 40 MiB file goes in and out; the default file server port taken (a
warning) and an explicit one taken (no start)."""
import base64
import hashlib
import json
import os
import re
import signal
import sys
import threading
import time
import urllib.parse

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "lib"))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
import pgtest  # noqa: E402
from acstest import Acsd, Conn, Fail, acsd_path, create_tokens, format_request, free_port, request, serve, envelope, CwmpSession  # noqa: E402

CHECKS = 0
REALM = "acsd files"
FW = "1 Firmware Upgrade Image"


def check(cond, msg):
    global CHECKS
    CHECKS += 1
    if not cond:
        raise Fail(msg)


class Env:
    pg = None
    acsd = None
    files_port = None
    tok = {}


def psql(sql):
    return Env.pg.psql(sql)


# --- the API

def api(method, path, role="admin", body=None, headers=None, ctype=None):
    h = dict(headers or {})
    if role:
        h["Authorization"] = "Bearer " + Env.tok[role]
    data = b""
    if body is not None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        h["Content-Type"] = ctype or ("application/json" if not isinstance(body, bytes)
                                      else "application/octet-stream")
    st, rh, raw = request(Env.acsd.api, method, path, h, data, timeout=60)
    doc = json.loads(raw) if raw else None
    return st, rh, doc


def upload_path(name, ftype=FW, sha=None, **kw):
    q = {"name": name, "type": ftype}
    if sha:
        q["sha256"] = sha
    q.update(kw)
    return "/api/v1/files?" + urllib.parse.urlencode(q, quote_via=urllib.parse.quote)


def upload(name, data, ftype=FW, sha=True, role="operator", status=201, **kw):
    digest = hashlib.sha256(data).hexdigest() if sha is True else sha
    st, h, doc = api("POST", upload_path(name, ftype, digest, **kw), role, data)
    check(st == status, "upload %s: %d %r, expected %d" % (name, st, doc, status))
    return h, doc


FILE_KEYS = {"id", "name", "type", "oui", "product_class", "version", "size", "sha256",
             "created_at", "created_by"}


def image(n, version="2.5.0"):
    """A firmware image cpesim understands: its version in the first line."""
    head = ("cpesim-firmware version=%s\n" % version).encode()
    pattern = bytes((i * 7 + 3) % 251 for i in range(251 * 16))
    body = (pattern * ((n - len(head)) // len(pattern) + 1))[:n - len(head)]
    return head + body


# --- the file server

def fetch(name, user=None, password=None, scheme="basic", method="GET", headers=None,
          conn=None, path=None):
    path = path or "/files/" + name
    h = dict(headers or {})
    if user is not None and scheme == "basic":
        h["Authorization"] = "Basic " + base64.b64encode(("%s:%s" % (user, password)).encode()).decode()
    elif user is not None:
        st, rh, _ = fetch(name, method=method, path=path)
        check(st == 401, "no credentials: %d" % st)
        h["Authorization"] = digest_header(rh["www-authenticate"], user, password, method, path)
    if conn:
        conn.send(format_request(method, path, h))
        return read_joined(conn, method == "HEAD")
    with Conn(Env.files_port, timeout=30) as c:
        c.send(format_request(method, path, h, close=True))
        st, rh, body = read_joined(c, method == "HEAD")
        if method == "HEAD":
            check(c.buf == b"" and c.wait_closed(5), "HEAD: a body, or the connection not closed")
        return st, rh, body


def read_joined(c, head_only=False):
    """A response with repeated header fields joined by ", " (two
    WWW-Authenticate challenges, say); a HEAD answer's body is not read."""
    c.sock.settimeout(30)
    while b"\r\n\r\n" not in c.buf:
        c._fill()
    head, c.buf = c.buf.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    st = int(lines[0].split()[1])
    rh = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        k, v = k.strip().lower(), v.strip()
        rh[k] = rh[k] + ", " + v if k in rh else v
    if head_only or st in (204, 304):
        return st, rh, b""
    n = int(rh.get("content-length", "0"))
    buf = bytearray(c.buf)  # large bodies: no quadratic concatenation
    while len(buf) < n:
        chunk = c.sock.recv(1 << 20)
        if not chunk:
            raise EOFError("connection closed by acsd after %d of %d bytes" % (len(buf), n))
        buf += chunk
    body, c.buf = bytes(buf[:n]), bytes(buf[n:])
    return st, rh, body


def digest_header(challenges, user, password, method, uri, response=None):
    m = re.search(r'Digest realm="([^"]*)", qop="auth", algorithm=MD5, nonce="([0-9a-f]+)"', challenges)
    check(m, "no Digest challenge in %r" % challenges)
    realm, nonce = m.group(1), m.group(2)
    md5 = lambda s: hashlib.md5(s.encode()).hexdigest()  # noqa: E731
    ha1 = md5("%s:%s:%s" % (user, realm, password))
    ha2 = md5("%s:%s" % (method, uri))
    cnonce, nc = "0a4f113b", "00000001"
    resp = response or md5("%s:%s:%s:%s:auth:%s" % (ha1, nonce, nc, cnonce, ha2))
    return ('Digest username="%s", realm="%s", nonce="%s", uri="%s", algorithm=MD5, qop=auth, '
            'nc=%s, cnonce="%s", response="%s"' % (user, realm, nonce, uri, nc, cnonce, resp))


def grant(name, task_id, user, password, expires="now() + interval '1 hour'"):
    ha1 = hashlib.md5(("%s:%s:%s" % (user, REALM, password)).encode()).hexdigest()
    psql("INSERT INTO file_grants (task_id, file_id, username, ha1, expires_at) "
         "SELECT %d, id, '%s', '%s', %s FROM files WHERE name = '%s'"
         % (task_id, user, ha1, expires, name))


def device_and_task(serial, args='{"file": "none"}'):
    dev = "00AA22-Box-" + serial
    psql("INSERT INTO devices (id, oui, product_class, serial_number) VALUES ('%s', '00AA22', "
         "'Box', '%s') ON CONFLICT DO NOTHING" % (dev, serial))
    return dev, int(psql("INSERT INTO tasks (device_id, rpc, args, status) VALUES ('%s', "
                         "'Download', '%s', 'sent') RETURNING id" % (dev, args)).split()[0])


# --- CWMP

def inform(serial, events=(("2 PERIODIC", ""),), version="1.0.0"):
    ev = "".join("<EventStruct><EventCode>%s</EventCode><CommandKey>%s</CommandKey></EventStruct>"
                 % e for e in events)
    return envelope(
        '<cwmp:Inform><DeviceId><Manufacturer>ACME</Manufacturer><OUI>00AA33</OUI>'
        '<ProductClass>Box</ProductClass><SerialNumber>%s</SerialNumber></DeviceId>'
        '<Event soapenc:arrayType="cwmp:EventStruct[%d]">%s</Event><MaxEnvelopes>1</MaxEnvelopes>'
        '<CurrentTime>2026-12-01T08:00:00Z</CurrentTime><RetryCount>0</RetryCount>'
        '<ParameterList soapenc:arrayType="cwmp:ParameterValueStruct[1]"><ParameterValueStruct>'
        '<Name>Device.DeviceInfo.SoftwareVersion</Name><Value xsi:type="xsd:string">%s</Value>'
        '</ParameterValueStruct></ParameterList></cwmp:Inform>' % (serial, len(events), ev, version))


def transfer_complete(key, code=0, string=""):
    return envelope('<cwmp:TransferComplete><CommandKey>%s</CommandKey><FaultStruct><FaultCode>%d'
                    '</FaultCode><FaultString>%s</FaultString></FaultStruct><StartTime>'
                    '2026-12-01T08:00:00Z</StartTime><CompleteTime>2026-12-01T08:01:00Z'
                    '</CompleteTime></cwmp:TransferComplete>' % (key, code, string), "tc1")


class Cpe(CwmpSession):
    """One scripted CWMP session on one connection (a 503 fails the Inform)."""

    def __init__(self, serial, events=(("2 PERIODIC", ""),), version="1.0.0"):
        super().__init__(Env.acsd.cwmp, inform(serial, events, version), retry_s=0, check=check)


def visit(serial):
    """A session with nothing to do: Inform, empty POST, 204."""
    cpe = Cpe(serial)
    st, _, body = cpe.post()
    cpe.close()
    check(st == 204, "an empty session of %s: %d %r" % (serial, st, body[:300]))


def field(xml, name):
    m = re.search(r"<%s>([^<]*)</%s>" % (name, name), xml)
    return m.group(1) if m else None


def task(tid):
    st, _, doc = api("GET", "/api/v1/tasks/%d" % tid, "readonly")
    check(st == 200, "task %d: %d" % (tid, st))
    return doc


# --- tests

DATA = image(700 * 1024 + 17)  # three chunk rows, the last one short


def test_upload():
    h, f = upload("hg-fw-2.5.0.bin", DATA, oui="00AA33", product_class="Box", version="2.5.0")
    check(set(f) == FILE_KEYS, "file object keys %r" % sorted(f))
    check(f["name"] == "hg-fw-2.5.0.bin" and f["type"] == FW and f["size"] == len(DATA) and
          f["sha256"] == hashlib.sha256(DATA).hexdigest() and f["oui"] == "00AA33" and
          f["product_class"] == "Box" and f["version"] == "2.5.0" and f["created_by"] == "op",
          "file object %r" % f)
    check(h.get("location") == "/api/v1/files/hg-fw-2.5.0.bin", "Location %r" % h.get("location"))
    st, _, g = api("GET", "/api/v1/files/hg-fw-2.5.0.bin", "readonly")
    check(st == 200 and g == f, "GET the file: %d %r" % (st, g))
    check(psql("SELECT count(*), sum(length(data)) FROM file_chunks c JOIN files f ON f.id = c.file_id "
               "WHERE f.name = 'hg-fw-2.5.0.bin'") == "3|%d" % len(DATA), "chunk rows")
    a = json.loads(psql("SELECT row_to_json(a) FROM audit_log a WHERE action = 'file.upload' AND "
                        "target = 'hg-fw-2.5.0.bin'"))
    check(a["actor"] == "op" and a["detail"]["size"] == len(DATA) and
          a["detail"]["sha256"] == f["sha256"] and a["detail"]["file_id"] == f["id"], "audit %r" % a)
    # without a sha256 the server computes it; an empty file is a file
    _, f2 = upload("notes.txt", b"hello\n", ftype="3 Vendor Configuration File", sha=None)
    check(f2["sha256"] == hashlib.sha256(b"hello\n").hexdigest() and f2["oui"] is None, "%r" % f2)
    _, f3 = upload("empty.bin", b"", ftype="X 00AA33 Blob")
    check(f3["size"] == 0, "empty file %r" % f3)


def test_upload_errors():
    bad = hashlib.sha256(b"something else").hexdigest()
    st, _, doc = api("POST", upload_path("broken.bin", sha=bad), "operator", DATA)
    check(st == 400 and "sha256 mismatch" in doc["error"] and hashlib.sha256(DATA).hexdigest()
          in doc["error"], "mismatch: %d %r" % (st, doc))
    check(psql("SELECT count(*) FROM files WHERE name = 'broken.bin'") == "0", "a mismatch kept its row")
    check(psql("SELECT count(*) FROM file_chunks WHERE file_id NOT IN (SELECT id FROM files)") == "0",
          "chunks left behind")
    check(api("GET", "/api/v1/files/broken.bin", "readonly")[0] == 404, "mismatch listed")
    st, _, doc = api("POST", upload_path("hg-fw-2.5.0.bin"), "operator", b"again")
    check(st == 409 and "exists" in doc["error"], "duplicate: %d %r" % (st, doc))
    for path, what in ((upload_path("../etc"), "name"), (upload_path(".hidden"), "name"),
                       ("/api/v1/files?type=" + urllib.parse.quote(FW), "name"),
                       (upload_path("x.bin", ftype="7 Nope"), "type"),
                       ("/api/v1/files?name=x.bin", "type"),
                       (upload_path("x.bin", sha="abc"), "sha256"),
                       (upload_path("x.bin", oui="a\tb"), "oui")):
        st, _, doc = api("POST", path, "operator", b"x")
        check(st == 400 and doc["error"].startswith(what), "%s: %d %r" % (path, st, doc))
    # past max-file-size (3 MiB here): by Content-Length at once, and as a chunked body
    big = b"z" * (3 * 1024 * 1024 + 1)
    st, _, doc = api("POST", upload_path("big.bin", sha=None), "operator", big)
    check(st == 413, "too large: %d %r" % (st, doc))
    with Conn(Env.acsd.api, timeout=30) as c:
        c.send(chunked_request(upload_path("big2.bin", sha=None), big))
        st, _, raw = c.read_response(30)
    check(st == 413, "too large, chunked: %d %r" % (st, raw[:200]))
    check(psql("SELECT count(*) FROM files WHERE name IN ('big.bin', 'big2.bin')") == "0", "413 kept a row")
    check(psql("SELECT count(*) FROM files WHERE NOT complete") == "0", "rows left incomplete")


def chunked_request(path, data, expect=False):
    h = ("POST %s HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer %s\r\nContent-Type: "
         "application/octet-stream\r\nTransfer-Encoding: chunked\r\n%s\r\n"
         % (path, Env.tok["operator"], "Expect: 100-continue\r\n" if expect else ""))
    out = h.encode()
    for i in range(0, len(data), 100000):
        part = data[i:i + 100000]
        out += b"%x\r\n" % len(part) + part + b"\r\n"
    return out + b"0\r\n\r\n"


def test_upload_streamed():
    data = image(1024 * 1024 + 5, "3.0.0")
    sha = hashlib.sha256(data).hexdigest()
    with Conn(Env.acsd.api, timeout=30) as c:  # chunked
        c.send(chunked_request(upload_path("chunked.bin", sha=sha), data))
        st, _, raw = c.read_response(30)
        check(st == 201 and json.loads(raw)["size"] == len(data), "chunked: %d %r" % (st, raw[:200]))
        # the connection goes on
        c.send(format_request("GET", "/api/v1/files/chunked.bin",
                              {"Authorization": "Bearer " + Env.tok["readonly"]}))
        st, _, raw = c.read_response(10)
        check(st == 200 and json.loads(raw)["sha256"] == sha, "keep-alive after an upload: %d" % st)
    with Conn(Env.acsd.api, timeout=30) as c:  # Expect: 100-continue, the body after the 100
        head = chunked_request(upload_path("expect.bin", sha=sha), b"")
        head = head[:head.index(b"\r\n\r\n") + 2] + b"Expect: 100-continue\r\n\r\n"
        head = head.replace(b"Transfer-Encoding: chunked\r\n", b"Content-Length: %d\r\n" % len(data))
        c.send(head)
        st, _, _ = c.read_response(10)
        check(st == 100, "Expect: 100-continue answered %d" % st)
        c.send(data)
        st, _, raw = c.read_response(30)
        check(st == 201 and json.loads(raw)["sha256"] == sha, "after 100 Continue: %d %r" % (st, raw[:200]))
    # refused before the body is read: 403 for a readonly token, 401 without one
    st, _, _ = api("POST", upload_path("ro.bin"), "readonly", data)
    check(st == 403, "readonly upload: %d" % st)
    st, _, _ = api("POST", upload_path("anon.bin"), None, data)
    check(st == 401, "anonymous upload: %d" % st)


def test_list():
    names = []
    for i, (ftype, oui, ver) in enumerate([(FW, "00AA33", "1.0"), (FW, "00AA33", "1.1"),
                                            (FW, "00BB44", "1.0"),
                                            ("3 Vendor Configuration File", "00AA33", None)]):
        n = "list-%d.bin" % i
        upload(n, b"list %d\n" % i, ftype=ftype, oui=oui, **({"version": ver} if ver else {}))
        names.append(n)
    st, h, doc = api("GET", "/api/v1/files?limit=1000", "readonly")
    got = [f["name"] for f in doc["items"]]
    check(st == 200 and got == sorted(got) and set(names) <= set(got) and
          int(h["x-total-count"]) == len(got), "list %r" % got)
    st, h, doc = api("GET", "/api/v1/files?oui=00AA33&type=" + urllib.parse.quote(FW), "readonly")
    got = {f["name"] for f in doc["items"]}
    check(got == {"list-0.bin", "list-1.bin", "hg-fw-2.5.0.bin"} and h["x-total-count"] == "3",
          "filter oui+type: %r" % got)
    st, _, doc = api("GET", "/api/v1/files?version=1.0&oui=00BB44", "readonly")
    check([f["name"] for f in doc["items"]] == ["list-2.bin"], "filter version+oui %r" % doc)
    st, _, doc = api("GET", "/api/v1/files?product_class=Nope", "readonly")
    check(doc == {"items": [], "next_cursor": None}, "no match %r" % doc)
    # pages of 2 by cursor: every file once, in order
    seen, cursor = [], None
    while True:
        st, _, doc = api("GET", "/api/v1/files?limit=2" + ("&cursor=" + cursor if cursor else ""),
                         "readonly")
        check(st == 200 and len(doc["items"]) <= 2, "page %r" % doc)
        seen += [f["name"] for f in doc["items"]]
        cursor = doc["next_cursor"]
        if not cursor:
            break
    check(seen == sorted(set(seen)) and set(names) <= set(seen), "pages %r" % seen)
    st, _, _ = api("GET", "/api/v1/files?cursor=bogus", "readonly")
    check(st == 400, "bad cursor %d" % st)
    st, _, _ = api("GET", "/api/v1/files?limit=0", "readonly")
    check(st == 400, "bad limit %d" % st)


def test_roles_and_delete():
    upload("del.bin", b"to be deleted")
    for m, p, need in (("GET", "/api/v1/files", "readonly"), ("GET", "/api/v1/files/del.bin", "readonly"),
                       ("DELETE", "/api/v1/files/nope.bin", "operator")):
        st, _, _ = api(m, p, None)
        check(st == 401, "%s %s without a token: %d" % (m, p, st))
        if need == "operator":
            st, _, doc = api(m, p, "readonly")
            check(st == 403 and "operator" in doc["error"], "%s %s readonly: %d" % (m, p, st))
    st, _, _ = api("DELETE", "/api/v1/files/nope.bin", "operator")
    check(st == 404, "delete unknown: %d" % st)
    fid = psql("SELECT id FROM files WHERE name = 'del.bin'")
    st, _, _ = api("DELETE", "/api/v1/files/del.bin", "operator")
    check(st == 204, "delete: %d" % st)
    check(api("GET", "/api/v1/files/del.bin", "readonly")[0] == 404, "deleted file still there")
    check(psql("SELECT count(*) FROM file_chunks WHERE file_id = %s" % fid) == "0", "chunks kept")
    a = json.loads(psql("SELECT detail FROM audit_log WHERE action = 'file.delete' AND target = 'del.bin'"))
    check(a["before"]["size"] == 13 and a["file_id"] == int(fid), "delete audit %r" % a)
    st, _, _ = api("DELETE", "/api/v1/files/del.bin", "operator")
    check(st == 404, "delete again: %d" % st)
    st, h, _ = api("PUT", "/api/v1/files/x.bin", "admin", b"")
    check(st == 405 and h.get("allow") == "GET, DELETE", "PUT: %d %r" % (st, h.get("allow")))


def test_file_server():
    name = "hg-fw-2.5.0.bin"
    sha = hashlib.sha256(DATA).hexdigest()
    _, tid = device_and_task("FS1")
    grant(name, tid, "u-fs1", "secret-1")
    st, h, body = fetch(name, "u-fs1", "secret-1")
    check(st == 200 and body == DATA, "full GET: %d, %d bytes" % (st, len(body)))
    check(h["etag"] == '"%s"' % sha and h["accept-ranges"] == "bytes" and
          h["content-type"] == "application/octet-stream" and h.get("last-modified", "").endswith("GMT"),
          "headers %r" % h)
    st, h, rest = fetch(name, "u-fs1", "secret-1", method="HEAD")
    check(st == 200 and h["content-length"] == str(len(DATA)) and rest == b"" and
          h["etag"] == '"%s"' % sha, "HEAD: %d %r" % (st, h))
    # ranges: inside a chunk, across chunk rows, the suffix, an open end
    for rng, a, b in (("bytes=100-199", 100, 199), ("bytes=262000-263000", 262000, 263000),
                      ("bytes=-10", len(DATA) - 10, len(DATA) - 1),
                      ("bytes=524200-", 524200, len(DATA) - 1), ("bytes=0-", 0, len(DATA) - 1),
                      ("bytes=10-99999999", 10, len(DATA) - 1)):
        st, h, body = fetch(name, "u-fs1", "secret-1", headers={"Range": rng})
        check(st == 206 and body == DATA[a:b + 1] and
              h["content-range"] == "bytes %d-%d/%d" % (a, b, len(DATA)),
              "Range %s: %d %r, %d bytes" % (rng, st, h.get("content-range"), len(body)))
    for rng in ("bytes=%d-" % len(DATA), "bytes=99999999-", "bytes=-0"):
        st, h, _ = fetch(name, "u-fs1", "secret-1", headers={"Range": rng})
        check(st == 416 and h["content-range"] == "bytes */%d" % len(DATA), "%s: %d %r" % (rng, st, h))
    for rng in ("bytes=0-1,5-6", "items=0-5", "bytes=9-2"):  # ignored: the whole file
        st, _, body = fetch(name, "u-fs1", "secret-1", headers={"Range": rng})
        check(st == 200 and body == DATA, "%s ignored: %d" % (rng, st))
    # conditional requests
    etag = '"%s"' % sha
    for inm in (etag, 'W/' + etag, '"x", ' + etag, "*"):
        st, h, body = fetch(name, "u-fs1", "secret-1", headers={"If-None-Match": inm})
        check(st == 304 and body == b"" and h["etag"] == etag, "If-None-Match %s: %d" % (inm, st))
    st, _, body = fetch(name, "u-fs1", "secret-1", headers={"If-None-Match": '"other"'})
    check(st == 200 and body == DATA, "If-None-Match other: %d" % st)
    st, _, body = fetch(name, "u-fs1", "secret-1", headers={"Range": "bytes=0-9", "If-Range": etag})
    check(st == 206 and body == DATA[:10], "If-Range same: %d" % st)
    for ir in ('"other"', "W/" + etag, "Tue, 01 Dec 2026 08:00:00 GMT"):
        st, _, body = fetch(name, "u-fs1", "secret-1", headers={"Range": "bytes=0-9", "If-Range": ir})
        check(st == 200 and body == DATA, "If-Range %s: %d" % (ir, st))
    # Digest, and keep-alive with two answers on one connection
    st, _, body = fetch(name, "u-fs1", "secret-1", scheme="digest")
    check(st == 200 and body == DATA, "Digest: %d" % st)
    with Conn(Env.files_port, timeout=30) as c:
        st, _, body = fetch(name, "u-fs1", "secret-1", headers={"Range": "bytes=5-9"}, conn=c)
        check(st == 206 and body == DATA[5:10], "keep-alive 1: %d" % st)
        st, _, body = fetch(name, "u-fs1", "secret-1", conn=c)
        check(st == 200 and body == DATA, "keep-alive 2: %d" % st)


def test_file_server_refusals():
    name = "hg-fw-2.5.0.bin"
    _, tid = device_and_task("FS2")
    grant(name, tid, "u-fs2", "secret-2")
    st, h, _ = fetch(name)
    check(st == 401 and 'Digest realm="acsd files"' in h.get("www-authenticate", ""),
          "no credentials: %d %r" % (st, h))
    st, h, rest = fetch(name, method="HEAD")  # a HEAD's refusal has no body either
    check(st == 401 and rest == b"" and int(h["content-length"]) > 0, "HEAD refused: %d %r" % (st, h))
    with Conn(Env.files_port, timeout=30) as c:  # and the connection goes on after it
        st, _, _ = fetch(name, method="HEAD", conn=c)
        check(st == 401 and c.buf == b"", "HEAD refused on a kept connection: %d %r" % (st, c.buf))
        st, _, body = fetch(name, "u-fs2", "secret-2", conn=c)
        check(st == 200 and len(body) == len(DATA), "GET after a refused HEAD: %d" % st)
    for user, pw, scheme in (("u-fs2", "wrong", "basic"), ("nobody", "secret-2", "basic"),
                             ("u-fs2", "wrong", "digest")):
        st, _, _ = fetch(name, user, pw, scheme)
        check(st == 401, "%s %s/%s: %d" % (scheme, user, pw, st))
    # a Digest answer for another URI, or a forged response
    st, h, _ = fetch(name)
    bad = digest_header(h["www-authenticate"], "u-fs2", "secret-2", "GET", "/files/other.bin")
    st, _, _ = fetch(name, headers={"Authorization": bad})
    check(st == 401, "Digest for another uri: %d" % st)
    bad = digest_header(h["www-authenticate"], "u-fs2", "secret-2", "GET", "/files/" + name,
                        response="0" * 32)
    st, _, _ = fetch(name, headers={"Authorization": bad})
    check(st == 401, "forged Digest response: %d" % st)
    # a stale nonce with the right response: 401 stale=true
    stale = "%016x%016x" % (int(time.time()) - 3600, 1)
    hdr = digest_header('Digest realm="acsd files", qop="auth", algorithm=MD5, nonce="%s"' % stale,
                        "u-fs2", "secret-2", "GET", "/files/" + name)
    st, h, _ = fetch(name, headers={"Authorization": hdr})
    check(st == 401 and "stale=true" in h["www-authenticate"], "stale nonce: %d %r" % (st, h))
    # the grant opens its own file only
    st, _, _ = fetch("notes.txt", "u-fs2", "secret-2")
    check(st == 401, "another file with the grant: %d" % st)
    st, _, _ = fetch("no-such.bin", "u-fs2", "secret-2")
    check(st == 401, "no such file: %d" % st)
    # expired
    psql("UPDATE file_grants SET expires_at = now() - interval '1 second' WHERE username = 'u-fs2'")
    st, _, _ = fetch(name, "u-fs2", "secret-2")
    check(st == 401, "expired grant: %d" % st)
    psql("UPDATE file_grants SET expires_at = now() + interval '1 hour' WHERE username = 'u-fs2'")
    check(fetch(name, "u-fs2", "secret-2")[0] == 200, "grant back")
    # the task ends: its grant goes
    psql("UPDATE tasks SET status = 'done' WHERE id = %d" % tid)
    check(psql("SELECT count(*) FROM file_grants WHERE task_id = %d" % tid) == "0", "grant kept")
    st, _, _ = fetch(name, "u-fs2", "secret-2")
    check(st == 401, "after the task ended: %d" % st)
    for m in ("POST", "PUT", "DELETE"):
        st, h, _ = request(Env.files_port, m, "/files/" + name, body=b"")
        check(st == 405 and h.get("allow") == "GET, HEAD", "%s: %d" % (m, st))
    for p in ("/files/", "/files/../x", "/x", "/files/a/b", "/api/v1/files"):
        st, _, _ = request(Env.files_port, "GET", p)
        check(st == 404, "GET %s: %d" % (p, st))
    st, _, _ = request(Env.files_port, "GET", "/health")
    check(st == 200, "/health on the files port: %d" % st)


def test_download_task_api():
    dev = "00AA33-Box-DL1"
    visit("DL1")  # the device exists
    path = "/api/v1/devices/%s/tasks" % urllib.parse.quote(dev, safe="")
    for args, want in (({"file": "no-such.bin"}, "no file 'no-such.bin'"),
                       ({"file": 7}, "file"), ({"file": "../x"}, "file"),
                       ({"file": "hg-fw-2.5.0.bin", "URL": "http://x/"}, "URL"),
                       ({"file": "hg-fw-2.5.0.bin", "Password": "p"}, "Password"),
                       ({"file": "hg-fw-2.5.0.bin", "Nope": 1}, "Nope")):
        st, _, doc = api("POST", path, "operator", {"rpc": "Download", "args": args})
        check(st == 400 and want in doc["error"], "%r: %d %r" % (args, st, doc))
    check(psql("SELECT count(*) FROM tasks WHERE device_id = '%s'" % dev) == "0", "a refused task kept")
    # a file's name in any other RPC is an unknown key
    st, _, doc = api("POST", path, "operator", {"rpc": "Upload", "args": {"file": "hg-fw-2.5.0.bin"}})
    check(st == 400, "Upload with file: %d %r" % (st, doc))


def run_download(serial, name, key, tc_code=0):
    """A Download task naming name, its session, the fetch, the TransferComplete."""
    dev = "00AA33-Box-" + serial
    visit(serial)
    path = "/api/v1/devices/%s/tasks" % urllib.parse.quote(dev, safe="")
    st, _, t = api("POST", path, "operator", {"rpc": "Download", "args": {
        "file": name, "DelaySeconds": 0, "TargetFileName": "fw.bin", **({"CommandKey": key} if key else {})}})
    check(st == 201 and t["args"]["file"] == name, "Download task: %d %r" % (st, t))
    cpe = Cpe(serial)
    st, _, body = cpe.post()
    xml = body.decode()
    check(st == 200 and "<cwmp:Download>" in xml, "the Download RPC: %d %r" % (st, xml[:500]))
    url, user, pw = field(xml, "URL"), field(xml, "Username"), field(xml, "Password")
    size = int(psql("SELECT size FROM files WHERE name = '%s'" % name))
    # the Host the CPE used for the ACS (format_request's), the file server's port
    check(url == "http://acstest:%d/files/%s" % (Env.files_port, name), "URL %r" % url)
    check(field(xml, "FileType") == FW and field(xml, "FileSize") == str(size) and
          field(xml, "TargetFileName") == "fw.bin", "Download fields %r" % xml)
    check(user == "acsd-dl-%d" % t["id"] and pw and len(pw) >= 20, "credentials %r/%r" % (user, pw))
    ck = field(xml, "CommandKey")
    check(ck == (key or "acsd-task-%d" % t["id"]), "CommandKey %r" % ck)
    check(pw not in psql("SELECT args::text || coalesce(result::text, '') FROM tasks WHERE id = %d"
                         % t["id"]) and pw not in psql("SELECT string_agg(ha1, ',') FROM file_grants"),
          "the password is stored")
    rid = re.search(r"<cwmp:ID[^>]*>([^<]*)</cwmp:ID>", xml).group(1)
    st, _, _ = cpe.post(envelope('<cwmp:DownloadResponse><Status>1</Status><StartTime>'
                                 '0001-01-01T00:00:00Z</StartTime><CompleteTime>0001-01-01T00:00:00Z'
                                 '</CompleteTime></cwmp:DownloadResponse>', rid))
    check(st == 204, "after DownloadResponse: %d" % st)
    cpe.close()
    got = task(t["id"])
    check(got["status"] == "sent" and got["result"]["Status"] == 1 and got["done_at"] is None,
          "after Status 1 the task stays open: %r" % got)
    # the CPE fetches the file with what it was given (Digest here)
    st, _, data = fetch(name, user, pw, scheme="digest")
    check(st == 200 and len(data) == size, "fetch with the task's credentials: %d, %d bytes" % (st, len(data)))
    st, _, _ = fetch(name, user, pw + "x")
    check(st == 401, "a wrong password: %d" % st)
    # periodic Inform meanwhile: the open task is left alone
    visit(serial)
    check(task(t["id"])["status"] == "sent", "an Inform without the CommandKey ended the task")
    cpe = Cpe(serial, (("1 BOOT", ""), ("7 TRANSFER COMPLETE", ""), ("M Download", ck)))
    st, _, body = cpe.post(transfer_complete(ck, tc_code, "Download failure" if tc_code else ""))
    check(st == 200 and b"TransferCompleteResponse" in body, "TransferComplete: %d %r" % (st, body[:300]))
    st, _, _ = cpe.post()
    check(st == 204, "session end: %d" % st)
    cpe.close()
    got = task(t["id"])
    tc = got["result"].get("TransferComplete") or {}
    check(tc.get("CommandKey") == ck and got["done_at"] is not None, "task after TC %r" % got)
    if tc_code:
        check(got["status"] == "fault" and got["fault"] == {"code": tc_code, "string": "Download failure"},
              "a failed transfer: %r" % got)
    else:
        check(got["status"] == "done" and got["fault"] is None, "a transfer done: %r" % got)
    st, _, _ = fetch(name, user, pw)
    check(st == 401, "the grant outlived its task: %d" % st)
    return t["id"]


def test_download_session():
    run_download("DL2", "hg-fw-2.5.0.bin", None)
    run_download("DL3", "hg-fw-2.5.0.bin", "fw-key-3", tc_code=9010)
    # a file deleted after its task was queued: the task faults when it would go out
    dev = "00AA33-Box-DL4"
    visit("DL4")
    upload("gone.bin", b"soon gone")
    st, _, t = api("POST", "/api/v1/devices/%s/tasks" % dev, "operator",
                   {"rpc": "Download", "args": {"file": "gone.bin"}})
    check(st == 201, "task: %d" % st)
    check(api("DELETE", "/api/v1/files/gone.bin", "operator")[0] == 204, "delete")
    cpe = Cpe("DL4")
    st, _, body = cpe.post()
    check(st == 204 and b"Download" not in body, "a Download of a deleted file went out: %d" % st)
    cpe.close()
    for _ in range(100):  # recorded after the 204 (fire and forget)
        got = task(t["id"])
        if got["status"] != "pending":
            break
        time.sleep(0.05)
    check(got["status"] == "fault" and "no longer exists" in got["fault"]["string"], "%r" % got)


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def test_memory_bounded():
    """A 40 MiB image in and out: acsd's resident memory grows by a few
    slices, not by the file (measured, printed, and held under 16 MiB)."""
    size = 40 * 1024 * 1024
    data = image(size, "9.9.9")
    main, main_port = Env.acsd, Env.files_port
    Env.files_port = free_port()
    Env.acsd = Acsd(["--pg", Env.pg.dsn, "--files", "127.0.0.1:%d" % Env.files_port,
                     "--max-file-size", "64M", "--log-level", "warn"])
    try:
        Env.acsd.wait_ready()
        memory_bounded(size, data)
        Env.acsd.signal(signal.SIGTERM)
        rc, _ = Env.acsd.wait_exit(20)
        Env.acsd.check_clean_exit(rc)
    finally:
        Env.acsd.kill()
        Env.acsd, Env.files_port = main, main_port


def memory_bounded(size, data):
    pid = Env.acsd.proc.pid
    base = rss_kib(pid)
    peak = [base]
    stop = threading.Event()

    def sample():
        while not stop.is_set():
            peak[0] = max(peak[0], rss_kib(pid))
            time.sleep(0.005)

    th = threading.Thread(target=sample)
    th.start()
    try:
        t0 = time.monotonic()
        upload("big-image.bin", data)
        t_up = time.monotonic() - t0
        up_peak = peak[0]
        _, tid = device_and_task("MEM")
        grant("big-image.bin", tid, "u-mem", "secret-m")
        t0 = time.monotonic()
        st, _, body = fetch("big-image.bin", "u-mem", "secret-m")
        t_down = time.monotonic() - t0
    finally:
        stop.set()
        th.join()
    check(st == 200 and len(body) == size and hashlib.sha256(body).digest() ==
          hashlib.sha256(data).digest(), "the 40 MiB image back: %d, %d bytes" % (st, len(body)))
    grow = (peak[0] - base) / 1024.0
    print("     40 MiB: upload %.2f s, download %.2f s; acsd RSS %.1f MiB before, +%.1f MiB at the "
          "upload's peak, +%.1f MiB at the download's" % (t_up, t_down, base / 1024.0,
                                                          (up_peak - base) / 1024.0, grow))
    with open(acsd_path(), "rb") as f:
        sanitized = b"__asan_init" in f.read()
    if sanitized:  # its quarantine keeps freed blocks: RSS says nothing here
        print("     (a sanitized acsd: its memory is not held to the bound)")
        return
    check(grow < 16, "acsd grew by %.1f MiB moving a 40 MiB file" % grow)


def test_port_taken():
    """The file server's default port taken: acsd warns and runs without it;
    a port given explicitly and taken: acsd does not start."""
    import socket
    holder = socket.socket()
    try:
        holder.bind(("0.0.0.0", 7567))
        holder.listen(1)
    except OSError:
        pass  # someone else's: taken all the same
    try:
        with Acsd(["--log-level", "info"]) as s:
            s.wait_ready()
            check("files: 0.0.0.0:7567 is in use; running without this listener" in s.log(),
                  "no warning:\n" + s.log())
            s.signal(signal.SIGTERM)
            rc, _ = s.wait_exit(20)
            s.check_clean_exit(rc)
    finally:
        holder.close()
    held = socket.socket()
    held.bind(("127.0.0.1", 0))
    held.listen(1)
    try:
        with Acsd(["--files", "127.0.0.1:%d" % held.getsockname()[1]]) as s:
            rc = s.proc.wait(20)
            check(rc != 0 and "cannot listen" in s.log(), "started on a taken --files port: %s" % s.log())
    finally:
        held.close()


def test_clean_shutdown():
    check(api("GET", "/api/v1/files?limit=1", "readonly")[0] == 200, "before SIGTERM")
    Env.acsd.signal(signal.SIGTERM)
    rc, _ = Env.acsd.wait_exit(20)
    Env.acsd.check_clean_exit(rc)


TESTS = [test_upload, test_upload_errors, test_upload_streamed, test_list, test_roles_and_delete,
         test_file_server, test_file_server_refusals, test_download_task_api, test_download_session,
         test_memory_bounded, test_port_taken, test_clean_shutdown]


def main():
    pgtest.skip_unless_available()
    name = os.path.basename(sys.argv[0])
    with pgtest.PgCluster(fast=True) as pg:
        Env.pg = pg
        Env.tok.update(create_tokens(pg.dsn, check=check))
        Env.files_port = free_port()
        serve(Env, ["--pg", pg.dsn, "--files", "127.0.0.1:%d" % Env.files_port,
                    "--max-file-size", "3M", "--log-level", "info"], TESTS, tail=6000)
    print("%s: %d checks, 0 failed" % (name, CHECKS))
    sys.exit(0)


if __name__ == "__main__":
    main()
