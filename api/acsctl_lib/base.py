"""acsctl: configuration, the HTTP client (retries on 503, errors as exit codes)
and output (tables or raw JSON, progress on stderr)."""
import argparse
import hashlib
import http.client
import json
import os
import re
import shutil
import ssl
import sys
import time
import urllib.parse

VERSION = "0.1.0"
DEFAULT_URL = "http://127.0.0.1:7557"
DEFAULT_TOKEN_FILE = os.path.join("var", "admin-token")  # what deploy/quickstart.sh writes

# Exit codes (docs/acsctl.md, "Exit status"): scripts branch on them.
EXIT_OK = 0
EXIT_ERROR = 1        # a server error (5xx), an answer that is not what the API documents, local I/O
EXIT_USAGE = 2        # bad command line or configuration (argparse uses 2 as well)
EXIT_AUTH = 3         # 401 (no valid token) or 403 (role too low)
EXIT_NOT_FOUND = 4    # 404
EXIT_INVALID = 5      # 400, 413, 415, 422: the request was refused as invalid (a policy tree that does not load)
EXIT_CONFLICT = 6     # 409: not in a state that allows it (cancel of a sent task, a file name taken)
EXIT_UNAVAILABLE = 7  # cannot connect, or 503 still after the retries
EXIT_TIMEOUT = 8      # --timeout reached (tasks wait, bulk watch, a connection request answered 202)
EXIT_FAILED = 9       # the awaited work ended without success (task fault/expired/cancelled, bulk cancelled or with failures)

STATUS_EXIT = {400: EXIT_INVALID, 401: EXIT_AUTH, 403: EXIT_AUTH, 404: EXIT_NOT_FOUND,
               409: EXIT_CONFLICT, 413: EXIT_INVALID, 415: EXIT_INVALID, 422: EXIT_INVALID,
               503: EXIT_UNAVAILABLE}

TASK_FINAL = ("done", "fault", "expired", "cancelled", "unknown")
BULK_FINAL = ("done", "cancelled")
RETRY_AFTER_MAX = 30  # seconds: a longer Retry-After is waited this long at most
UPLOAD_BLOCK = 64 * 1024
POLICY_KINDS = ("provisions", "presets", "alarms", "jobs", "virtual")  # as acsd reads a tree (policy_tree.c)
POLICY_FILE_MAX = 1 << 20
POLICY_FILES_MAX = 4096
FILE_TYPES = {  # TR-069 FileType shorthands for files upload --type
    "firmware": "1 Firmware Upgrade Image", "web": "2 Web Content",
    "config": "3 Vendor Configuration File", "tone": "4 Tone File", "ringer": "5 Ringer File",
}


class CtlError(Exception):
    """A failure reported as one line on stderr and an exit code."""

    def __init__(self, message, code=EXIT_ERROR):
        super().__init__(message)
        self.code = code


class ApiError(CtlError):
    """An answer with an error status: the API's {"error": ...} and the status."""

    def __init__(self, method, path, resp):
        self.status = resp.status
        self.resp = resp
        msg = error_message(resp.doc(quiet=True)) or resp.text() or "(no message)"
        super().__init__("%s %s: %d %s: %s" % (method, path, resp.status, resp.reason, msg),
                         STATUS_EXIT.get(resp.status, EXIT_ERROR))


def error_message(doc):
    """The message of an error body; a policy load error as file:line: message."""
    if not isinstance(doc, dict):
        return None
    err = doc.get("error")
    if isinstance(err, dict):
        return load_error_text(err)
    if isinstance(err, str):
        return err
    gen = doc.get("generation")
    if isinstance(gen, dict) and isinstance(gen.get("error"), dict):
        return load_error_text(gen["error"])
    return None


def load_error_text(err):
    where = err.get("file") or ""
    if where and err.get("line") is not None:
        where += ":%s" % err["line"]
    msg = err.get("message") or ""
    return "%s: %s" % (where, msg) if where else msg


# --- HTTP

class Response:
    def __init__(self, status, reason, headers, body):
        self.status = status
        self.reason = reason
        self.headers = headers  # lower-case names
        self.body = body

    def text(self):
        return self.body.decode("utf-8", "replace").strip()[:500]

    def doc(self, quiet=False):
        if not self.body:
            return None
        try:
            return json.loads(self.body)
        except ValueError:
            if quiet:
                return None
            raise CtlError("the answer (%d) is not JSON: %.200r" % (self.status, self.body))

    def total(self):
        """X-Total-Count as (int or None, estimated)."""
        v = self.headers.get("x-total-count")
        est = self.headers.get("x-total-count-estimated") == "true"
        return (int(v) if v and v.isdigit() else None), est


class Client:
    """One keep-alive connection to acsd's API, reopened when needed."""

    def __init__(self, url, token, retries=3, timeout=30.0, cacert=None, log=None):
        u = urllib.parse.urlsplit(url)
        if u.scheme not in ("http", "https") or not u.hostname:
            raise CtlError("--url %r: expected http://HOST:PORT or https://HOST:PORT" % url, EXIT_USAGE)
        try:
            port = u.port
        except ValueError:
            raise CtlError("--url %r: bad port" % url, EXIT_USAGE)
        self.url = url
        self.https = u.scheme == "https"
        self.host = u.hostname
        self.port = port or (443 if self.https else 80)
        self.base = u.path.rstrip("/")
        self.token = token
        self.retries = retries
        self.timeout = timeout
        self.cacert = cacert
        self.log = log or (lambda msg: None)
        self.conn = None

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def _connect(self, timeout):
        if self.https:
            ctx = ssl.create_default_context(cafile=self.cacert)
            return http.client.HTTPSConnection(self.host, self.port, timeout=timeout, context=ctx,
                                               blocksize=UPLOAD_BLOCK)
        return http.client.HTTPConnection(self.host, self.port, timeout=timeout, blocksize=UPLOAD_BLOCK)

    def _once(self, method, target, headers, body, timeout):
        # A request that changes something goes on a fresh connection: should a
        # reused one turn out closed by the server, a retry could do it twice.
        if method != "GET":
            self.close()
        for attempt in (0, 1):
            reused = self.conn is not None
            if not reused:
                self.conn = self._connect(timeout)
            else:
                self.conn.timeout = timeout
                if self.conn.sock is not None:
                    self.conn.sock.settimeout(timeout)
            lost = (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError)
            try:
                sent = None
                try:
                    self.conn.request(method, target, body=body, headers=headers)
                except lost[1:] as e:
                    sent = e  # it may have answered before reading the whole body (a 409 to an upload)
                try:
                    r = self.conn.getresponse()
                    raw = r.read()
                except (http.client.ResponseNotReady,) + lost as e:
                    raise (sent or e)
            except lost as e:
                self.close()
                if reused and attempt == 0:
                    continue  # an idle keep-alive connection the server had closed (GET only)
                raise CtlError("%s: connection lost: %s" % (self.url, e), EXIT_UNAVAILABLE)
            except TimeoutError:
                self.close()
                raise CtlError("%s: no answer within %.0f s" % (self.url, timeout), EXIT_UNAVAILABLE)
            except (OSError, http.client.HTTPException) as e:
                self.close()
                raise CtlError("cannot reach acsd at %s: %s" % (self.url, e), EXIT_UNAVAILABLE)
            hdrs = {k.lower(): v for k, v in r.getheaders()}
            if r.will_close:
                self.close()
            return Response(r.status, r.reason, hdrs, raw)
        raise AssertionError("unreachable")

    def call(self, method, path, query=None, body=None, data=None, ctype=None, ok=(200,),
             timeout=None, auth=True, retry=True):
        """One API request. body: JSON to send; data: a function returning
        (file-like, length) for a raw body, called again on each retry.
        Answers the Response; an error status raises ApiError."""
        target = self.base + path
        if query:
            pairs = [(k, str(v)) for k, v in query if v is not None]
            if pairs:
                target += "?" + urllib.parse.urlencode(pairs, quote_via=urllib.parse.quote)
        headers = {"Accept": "application/json", "User-Agent": "acsctl/" + VERSION}
        if auth:
            if not self.token:
                raise CtlError("no token: give --token, --token-file, ACSCTL_TOKEN or ACSCTL_TOKEN_FILE "
                               "(or run where ./%s exists)" % DEFAULT_TOKEN_FILE, EXIT_USAGE)
            headers["Authorization"] = "Bearer " + self.token
        payload = None
        if body is not None:
            payload = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        elif ctype:
            headers["Content-Type"] = ctype
        elif method == "POST":
            payload = b""
        attempt = 0
        while True:
            if data is not None:
                payload, length = data()
                headers["Content-Length"] = str(length)
            resp = self._once(method, target, headers, payload, timeout or self.timeout)
            if resp.status != 503 or attempt >= self.retries or not retry:
                break
            attempt += 1
            wait = retry_after(resp.headers.get("retry-after"))
            self.log("%s %s: 503 %s; retrying in %d s (%d of %d)"
                     % (method, path, error_message(resp.doc(quiet=True)) or resp.reason, wait,
                        attempt, self.retries))
            time.sleep(wait)
        if resp.status not in ok:
            raise ApiError(method, path, resp)
        return resp

    def get(self, path, query=None, **kw):
        return self.call("GET", path, query, **kw).doc()

    def download(self, path, query, out):
        """GET path, its body copied to out (binary) as it arrives; an error
        status raises ApiError. Answers the bytes written."""
        pairs = [(k, str(v)) for k, v in query if v is not None]
        target = self.base + path + ("?" + urllib.parse.urlencode(pairs, quote_via=urllib.parse.quote)
                                     if pairs else "")
        if not self.token:
            raise CtlError("no token: give --token, --token-file, ACSCTL_TOKEN or ACSCTL_TOKEN_FILE", EXIT_USAGE)
        self.close()
        conn, n = self._connect(self.timeout), 0
        try:
            conn.request("GET", target, headers={"User-Agent": "acsctl/" + VERSION,
                                                 "Authorization": "Bearer " + self.token})
            r = conn.getresponse()
            if r.status != 200:
                raise ApiError("GET", path, Response(r.status, r.reason, {k.lower(): v for k, v in
                                                                         r.getheaders()}, r.read()))
            for block in iter(lambda: r.read(UPLOAD_BLOCK), b""):  # unchunked; a cut body raises
                out.write(block)
                n += len(block)
        except (OSError, http.client.HTTPException) as e:
            raise CtlError("%s: the download broke off after %d bytes: %s" % (self.url, n, e), EXIT_UNAVAILABLE)
        finally:
            conn.close()
        return n

    def post(self, path, body=None, query=None, ok=(200, 201, 202), **kw):
        return self.call("POST", path, query, body=body, ok=ok, **kw).doc()

    def delete(self, path, ok=(200, 204), **kw):
        return self.call("DELETE", path, ok=ok, **kw).doc()


def retry_after(value):
    """Seconds to wait for a Retry-After (delta-seconds), within 1..RETRY_AFTER_MAX."""
    try:
        s = int(value)
    except (TypeError, ValueError):
        s = 5
    return max(1, min(s, RETRY_AFTER_MAX))


def seg(s):
    """One path segment: percent-encoded once more (docs/api.md, "Ids in URLs")."""
    return urllib.parse.quote(str(s), safe="")


# --- output

def cell(v):
    if v is None:
        return "-"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, list):
        return ",".join(cell(x) for x in v) if v else "-"
    if isinstance(v, dict):
        return json.dumps(v, ensure_ascii=False, separators=(",", ":"))
    s = str(v)
    return re.sub(r"[\x00-\x1f\x7f]", lambda m: "\\x%02x" % ord(m.group()), s)


def table(rows, columns, out=None):
    """Rows (dicts) under column headers; a column is (HEADER, key or function)."""
    out = out or sys.stdout
    grid = [[h for h, _ in columns]]
    for r in rows:
        grid.append([cell(get(r) if callable(get) else r.get(get)) or "-" for _, get in columns])
    widths = [max(len(row[i]) for row in grid) for i in range(len(columns))]
    for row in grid:
        line = "  ".join(c.ljust(w) for c, w in zip(row[:-1], widths)) + ("  " if len(row) > 1 else "")
        out.write((line + row[-1]).rstrip() + "\n")


def show_object(obj, skip=(), out=None):
    """One object as KEY  VALUE lines, in the API's order."""
    out = out or sys.stdout
    keys = [k for k in obj if k not in skip]
    w = max((len(k) for k in keys), default=0)
    for k in keys:
        out.write("%s  %s\n" % (k.ljust(w), cell(obj[k])))


def print_json(doc):
    sys.stdout.write(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")


class Output:
    def __init__(self, args):
        self.json = args.json
        self.quiet = args.quiet
        mode = args.progress
        if mode == "auto":
            mode = "bar" if sys.stderr.isatty() else "plain"
        self.progress_mode = "off" if self.quiet else mode

    def note(self, msg):
        """A remark on stderr (never mixed with what stdout carries)."""
        if not self.quiet:
            sys.stderr.write("acsctl: %s\n" % msg)
            sys.stderr.flush()

    def progress(self, label, interval=2.0):
        return Progress(label, self.progress_mode, interval)


class Progress:
    """Progress of long work on stderr: a redrawn bar on a terminal; plain
    lines otherwise, one when the state (its key) changes and one every
    `interval` seconds at most when only the figures move."""

    def __init__(self, label, mode, interval=2.0):
        self.label = label
        self.mode = mode
        self.interval = interval
        self.t0 = time.monotonic()
        self.last_line = None
        self.last_key = None
        self.last_t = 0.0
        self.drawn = False

    def update(self, done=None, total=None, text="", key=None, force=False):
        if self.mode == "off":
            return
        now = time.monotonic()
        if self.mode == "bar":
            if not force and now - self.last_t < 0.1:
                return
            self.last_t = now
            cols = shutil.get_terminal_size((80, 24)).columns
            bar = ""
            if total:
                frac = max(0.0, min(1.0, (done or 0) / total))
                n = 24
                bar = "[%s%s] %3d%% " % ("#" * int(frac * n), "." * (n - int(frac * n)), frac * 100)
            line = ("%s %s%s (%ds)" % (self.label, bar, text, now - self.t0))[:max(cols - 1, 10)]
            sys.stderr.write("\r" + line.ljust(max(cols - 1, 10)))
            sys.stderr.flush()
            self.drawn = True
            return
        line = "%s: %s" % (self.label, text)
        if line == self.last_line and not force:
            return
        if not force and key == self.last_key and now - self.last_t < self.interval:
            return
        self.last_line, self.last_key, self.last_t = line, key, now
        sys.stderr.write(line + "\n")
        sys.stderr.flush()

    def finish(self, done=None, total=None, text="", key=None):
        self.update(done, total, text, key, force=True)
        if self.mode == "bar" and self.drawn:
            sys.stderr.write("\n")
            sys.stderr.flush()


def deadline_of(seconds):
    return time.monotonic() + seconds if seconds and seconds > 0 else None


def past(deadline):
    return deadline is not None and time.monotonic() >= deadline


# --- lists

def fetch_list(ctx, path, query, args, label):
    """A page, or with --all every page (following next_cursor, progress on
    stderr, bounded by --timeout). Answers (items, next_cursor, total, estimated)."""
    c = ctx.client
    q = list(query) + [("limit", args.limit)]
    cursor = args.cursor
    items = []
    prog = ctx.out.progress(label) if args.all else None
    deadline = deadline_of(getattr(args, "timeout", None)) if args.all else None
    total, est, pages = None, False, 0
    while True:
        resp = c.call("GET", path, q + [("cursor", cursor)])
        doc = resp.doc()
        if not isinstance(doc, dict) or not isinstance(doc.get("items"), list):
            raise CtlError("GET %s: not a list: %.200r" % (path, doc))
        if pages == 0:
            total, est = resp.total()
        pages += 1
        items += doc["items"]
        cursor = doc.get("next_cursor")
        if not args.all or not cursor:
            break
        prog.update(len(items), total, "%d/%s%s (page %d)" % (len(items), total if total is not None else "?",
                                                             "+" if est else "", pages))
        if past(deadline):
            prog.finish(len(items), total, "stopped after %d items: --timeout" % len(items))
            raise CtlError("%s: --timeout %g s reached after %d items (resume with --cursor %s)"
                           % (label, args.timeout, len(items), cursor), EXIT_TIMEOUT)
    if prog and pages > 1:
        prog.finish(len(items), total, "%d items (%d pages)" % (len(items), pages))
    return items, cursor, total, est


def list_command(ctx, args, path, query, columns, label):
    items, cursor, total, est = fetch_list(ctx, path, query, args, label)
    if ctx.out.json:
        print_json({"items": items, "next_cursor": cursor})
        return EXIT_OK
    table(items, columns(items) if callable(columns) else columns)
    if total is not None and (cursor or total != len(items)):
        ctx.out.note("%d of %s%s %s%s" % (len(items), "about " if est else "", total, label,
                                          "; more: --cursor %s (or --all)" % cursor if cursor else ""))
    elif cursor:
        ctx.out.note("more: --cursor %s (or --all)" % cursor)
    return EXIT_OK


def emit(ctx, doc, render):
    if ctx.out.json:
        print_json(doc)
    else:
        render(doc)
    return EXIT_OK


def parse_kv_args(pairs, raw):
    """--arg KEY=VALUE (a string) / KEY:=JSON (any JSON value) ..., or --args JSON|@FILE|-."""
    if raw is not None:
        text = raw
        if raw == "-":
            text = sys.stdin.read()
        elif raw.startswith("@"):
            try:
                with open(raw[1:], encoding="utf-8") as f:
                    text = f.read()
            except OSError as e:
                raise CtlError("--args %s: %s" % (raw, e.strerror), EXIT_USAGE)
        try:
            v = json.loads(text)
        except ValueError as e:
            raise CtlError("--args: not JSON: %s" % e, EXIT_USAGE)
        if not isinstance(v, dict):
            raise CtlError("--args: expected a JSON object", EXIT_USAGE)
        return v
    if not pairs:
        return None
    out = {}
    for p in pairs:
        m = re.match(r"^([^=:]+)(:?=)(.*)$", p, re.S)
        if not m:
            raise CtlError("--arg %r: expected KEY=VALUE or KEY:=JSON" % p, EXIT_USAGE)
        k, op, v = m.groups()
        if op == ":=":
            try:
                v = json.loads(v)
            except ValueError as e:
                raise CtlError("--arg %s: not JSON: %s" % (k, e), EXIT_USAGE)
        out[k] = v
    return out


# --- devices

