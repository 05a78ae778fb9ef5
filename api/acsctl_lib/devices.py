"""acsctl: devices, wire traces, tasks, faults and files."""
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
from .base import *  # noqa: F401,F403

DEVICE_COLUMNS = [("ID", "id"), ("MANUFACTURER", "manufacturer"), ("PRODUCT", "product_class"),
                  ("SOFTWARE", "software_version"), ("LAST INFORM", "last_inform"), ("TAGS", "tags")]


def param_value(name):
    return lambda d: ((d.get("parameters") or {}).get(name) or {}).get("value")


def projection_columns(fields):
    """Columns for --fields: the identity, each named field, each named
    parameter (a subtree name: every parameter under it the page holds)."""
    def columns(items):
        cols = [("ID", "id")]
        for f in fields:
            if "." not in f:
                if f != "id":
                    cols.append((f.upper(), f))
                continue
            if f.endswith("."):
                names = sorted({n for d in items for n in (d.get("parameters") or {})
                                if n.startswith(f) and not n.endswith(".")})
            else:
                names = [f]
            cols += [(n, param_value(n)) for n in names]
        return cols
    return columns


def cmd_devices_list(ctx, a):
    fields = [f for f in (a.fields or "").split(",") if f] if a.fields else None
    q = [("q", a.query), ("sort", a.sort), ("projection", ",".join(fields) if fields else None)]
    return list_command(ctx, a, "/api/v1/devices", q,
                        projection_columns(fields) if fields else DEVICE_COLUMNS, "devices")


def cmd_devices_export(ctx, a):
    """CSV of the devices a query matches, streamed to --output (complete or absent) or stdout."""
    q = [("q", a.query), ("columns", a.columns)]
    if not a.output or a.output == "-":
        ctx.client.download("/api/v1/devices/export", q, sys.stdout.buffer)
        sys.stdout.buffer.flush()
        return EXIT_OK
    tmp = a.output + ".part"
    try:
        with open(tmp, "wb") as f:
            n = ctx.client.download("/api/v1/devices/export", q, f)
        os.replace(tmp, a.output)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    ctx.out.note("%s: %d bytes" % (a.output, n))
    return EXIT_OK


def trace_summary(t):
    return "%s: trace %s until %s, %s records (%s bytes of %s)%s" % (
        t.get("device_id"), "on" if t.get("active") else "ended", t.get("until"), t.get("records"),
        t.get("bytes"), t.get("max_bytes"), ", persists" if t.get("persist") else "")


def cmd_trace_start(ctx, a):
    """A wire trace of one device, or of every device a query matches."""
    if bool(a.device) == bool(a.query):
        raise CtlError("trace start: give a DEVICE or -Q QUERY", EXIT_USAGE)
    body = {k: v for k, v in (("minutes", a.minutes), ("persist", a.persist or None),
                              ("max_bytes", a.max_bytes)) if v is not None}
    if a.query:
        body["query"] = a.query
        d = ctx.client.post("/api/v1/traces", body, ok=(201,))
        return emit(ctx, d, lambda d: print("tracing %s of %s matching devices for %d min"
                                            % (d.get("traced"), d.get("matched"), a.minutes)))
    t = ctx.client.post("/api/v1/devices/%s/trace" % seg(a.device), body, ok=(201,))
    return emit(ctx, t, lambda t: print(trace_summary(t)))


def show_trace(t):
    print(trace_summary(t))
    for r in t.get("items") or []:
        arrow = "CPE -> acsd" if r.get("direction") == "in" else "acsd -> CPE"
        print("\n--- #%s %s %s (session %s)%s" % (r.get("id"), r.get("at"), arrow, r.get("session"),
                                                 " [body truncated]" if r.get("truncated") else ""))
        sys.stdout.write((r.get("head") or "").replace("\r\n", "\n"))
        if r.get("body"):
            print()
            print(r["body"])


def cmd_trace_show(ctx, a):
    return emit(ctx, ctx.client.get("/api/v1/devices/%s/trace" % seg(a.device)), show_trace)


def cmd_trace_stop(ctx, a):
    ctx.client.delete("/api/v1/devices/%s/trace" % seg(a.device))
    ctx.out.note("%s: trace stopped, its records dropped" % a.device)
    return EXIT_OK


def show_device(d):
    show_object(d, skip=("parameters",))
    params = d.get("parameters")
    if params:
        sys.stdout.write("\n")
        rows = [dict(v, name=k) for k, v in params.items()]
        table(rows, [("PARAMETER", "name"), ("TYPE", "type"), ("W", lambda p: "w" if p.get("writable") else "-"),
                     ("VALUE", lambda p: "(object)" if p.get("object") else p.get("value"))])


def cmd_devices_get(ctx, a):
    return emit(ctx, ctx.client.get("/api/v1/devices/" + seg(a.id)), show_device)


def history_rpcs(h):
    """Reboot:done, GetParameterValues:fault 9005, ..."""
    out = []
    for t in h.get("rpcs") or []:
        out.append("%s:%s%s" % (t.get("rpc"), t.get("status"),
                                " %s" % t["fault_code"] if t.get("fault_code") is not None else ""))
    return ", ".join(out) or None


HISTORY_COLUMNS = [("AT", "at"),
                   ("EVENTS", lambda h: ", ".join(e.get("code") or "" for e in h.get("events") or []) or None),
                   ("RPCS", history_rpcs),
                   ("REPORTS", lambda h: ", ".join(e.get("code") or "" for e in h.get("reports") or []) or None),
                   ("FAULTS", lambda h: ", ".join("%s %s" % (f.get("channel"), f.get("code"))
                                                  for f in h.get("faults") or []) or None),
                   ("MS", "duration_ms")]


def cmd_devices_history(ctx, a):
    return list_command(ctx, a, "/api/v1/devices/%s/history" % seg(a.id), [], HISTORY_COLUMNS, "sessions")


def deleted(ctx, doc, what):
    """What a delete answers: {"deleted": doc} with --json, else "deleted WHAT"."""
    if ctx.out.json:
        print_json({"deleted": doc})
    else:
        print("deleted " + what)
    return EXIT_OK


def cmd_devices_delete(ctx, a):
    ctx.client.delete("/api/v1/devices/" + seg(a.id))
    return deleted(ctx, a.id, "device %s" % a.id)


def cmd_devices_tag(ctx, a):
    if not a.add and not a.remove:
        raise CtlError("devices tag: give --add TAG and/or --remove TAG", EXIT_USAGE)
    body = {}
    if a.add:
        body["add"] = a.add
    if a.remove:
        body["remove"] = a.remove
    d = ctx.client.post("/api/v1/devices/%s/tags" % seg(a.id), body)
    return emit(ctx, d, lambda d: print("%s: tags %s" % (d.get("id"), cell(d.get("tags")))))


# --- tasks

def fault_text(t):
    f = t.get("fault")
    if not isinstance(f, dict):
        return None
    return " ".join(str(x) for x in (f.get("code"), f.get("string")) if x is not None) or None


TASK_COLUMNS = [("ID", "id"), ("DEVICE", "device_id"), ("RPC", "rpc"), ("STATUS", "status"),
                ("CREATED", "created_at"), ("BY", "created_by"), ("DONE", "done_at"), ("FAULT", fault_text)]


def show_task(t):
    show_object(t)
    cr = (t.get("result") or {}).get("connection_request") if isinstance(t.get("result"), dict) else None
    if isinstance(cr, dict):
        print("\nconnection request: %s%s%s" % (cr.get("status"), " (HTTP %s)" % cr["http_status"]
                                                if cr.get("http_status") else "",
                                                ": %s" % cr["detail"] if cr.get("detail") else ""))


def cmd_tasks_create(ctx, a):
    if a.timeout is not None and not a.connection_request:
        raise CtlError("tasks create: --timeout goes with --connection-request", EXIT_USAGE)
    body = {"rpc": a.rpc}
    args = parse_kv_args(a.arg, a.args)
    if args is not None:
        body["args"] = args
    if a.expires_in is not None:
        body["expires_in"] = a.expires_in
    query = None
    http_timeout = None
    if a.connection_request:
        wait = a.timeout if a.timeout is not None else 30
        query = [("connection_request", "true"), ("timeout", wait)]
        http_timeout = wait + 30
    resp = ctx.client.call("POST", "/api/v1/devices/%s/tasks" % seg(a.device), query, body=body,
                           ok=(200, 201, 202), timeout=http_timeout)
    t = resp.doc()
    if not (a.wait and ctx.out.json):  # with --json --wait, only the task as it ended
        emit(ctx, t, show_task)
    if a.connection_request:
        if resp.status == 201:
            ctx.out.note("the server queued the task without a connection request (it answered 201)")
        elif resp.status == 202:
            ctx.out.note("task %s not completed within %s s (status %s); it stays queued"
                         % (t.get("id"), query[1][1], t.get("status")))
            if not a.wait:
                return EXIT_TIMEOUT
    if a.wait:
        return wait_task(ctx, t["id"], a.wait_timeout, a.interval, quiet_result=True)
    return EXIT_OK


def cmd_tasks_list(ctx, a):
    q = [("device", a.device), ("status", a.status)]
    return list_command(ctx, a, "/api/v1/tasks", q, TASK_COLUMNS, "tasks")


def cmd_tasks_get(ctx, a):
    return emit(ctx, ctx.client.get("/api/v1/tasks/%d" % a.id), show_task)


def cmd_tasks_cancel(ctx, a):
    return emit(ctx, ctx.client.post("/api/v1/tasks/%d/cancel" % a.id), show_task)


def cmd_tasks_retry(ctx, a):
    t = ctx.client.post("/api/v1/tasks/%d/retry" % a.id)
    return emit(ctx, t, lambda t: print("task %s: retry of %d, %s" % (t.get("id"), a.id, t.get("status"))))


def wait_task(ctx, task_id, timeout, interval, quiet_result=False):
    prog = ctx.out.progress("task %d" % task_id)
    deadline = deadline_of(timeout)
    pause = interval
    while True:
        t = ctx.client.get("/api/v1/tasks/%d" % task_id)
        st = t.get("status")
        if st in TASK_FINAL:
            prog.finish(text=st, key=st)
            break
        prog.update(text=st, key=st)
        if past(deadline):
            prog.finish(text="%s after %g s: --timeout" % (st, timeout), key="timeout")
            if ctx.out.json and not quiet_result:
                print_json(t)
            raise CtlError("task %d still %s after %g s" % (task_id, st, timeout), EXIT_TIMEOUT)
        time.sleep(pause)
        pause = min(pause * 1.5, max(interval, 5.0))  # gentle on a long wait
    if not quiet_result or ctx.out.json:
        emit(ctx, t, show_task)
    elif st != "done":
        print("task %d: %s%s" % (task_id, st, ": " + fault_text(t) if fault_text(t) else ""))
    return EXIT_OK if st == "done" else EXIT_FAILED


def cmd_tasks_wait(ctx, a):
    return wait_task(ctx, a.id, a.timeout, a.interval)


# --- faults

FAULT_COLUMNS = [("DEVICE", "device_id"), ("CHANNEL", "channel"), ("CODE", "code"), ("MESSAGE", "message"),
                 ("RETRIES", "retries"), ("FIRST", "first_at"), ("LAST", "last_at")]


def fault_path(a, suffix=""):
    return "/api/v1/faults/%s/%s%s" % (seg(a.device), seg(a.channel), suffix)


def cmd_faults_list(ctx, a):
    return list_command(ctx, a, "/api/v1/faults", [("device", a.device), ("channel", a.channel)],
                        FAULT_COLUMNS, "faults")


def cmd_faults_retry(ctx, a):
    doc = ctx.client.post(fault_path(a, "/retry"), ok=(200, 202, 204))
    if ctx.out.json:
        print_json(doc if doc is not None else {"device_id": a.device, "channel": a.channel, "retry": True})
    else:
        print("fault %s %s: the channel runs again in the device's next session" % (a.device, a.channel))
    return EXIT_OK


def cmd_faults_delete(ctx, a):
    ctx.client.delete(fault_path(a))
    return deleted(ctx, {"device_id": a.device, "channel": a.channel},
                   "fault %s %s" % (a.device, a.channel))


# --- files

FILE_COLUMNS = [("NAME", "name"), ("TYPE", "type"), ("SIZE", "size"), ("OUI", "oui"),
                ("PRODUCT", "product_class"), ("VERSION", "version"),
                ("SHA256", lambda f: (f.get("sha256") or "")[:16] or None), ("CREATED", "created_at")]


class ProgressReader:
    """The file's bytes for http.client, counted into a progress display."""

    def __init__(self, f, size, prog):
        self.f, self.size, self.prog, self.sent = f, size, prog, 0

    def read(self, n=-1):
        b = self.f.read(n)
        self.sent += len(b)
        self.prog.update(self.sent, self.size, "%s/%s" % (human(self.sent), human(self.size)))
        if not b:
            self.f.close()
        return b


def human(n):
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return ("%d %s" % (n, unit)) if unit == "B" else ("%.1f %s" % (n, unit))
        n /= 1024.0


def sha256_file(path, prog):
    h = hashlib.sha256()
    size = os.path.getsize(path)
    done = 0
    with open(path, "rb") as f:
        while True:
            b = f.read(1 << 20)
            if not b:
                break
            h.update(b)
            done += len(b)
            prog.update(done, size, "sha256 %s/%s" % (human(done), human(size)))
    return h.hexdigest(), size


def cmd_files_upload(ctx, a):
    path = a.path
    if not os.path.isfile(path):
        raise CtlError("files upload: %s: not a file" % path, EXIT_USAGE)
    name = a.name or os.path.basename(path)
    prog = ctx.out.progress("upload %s" % name)
    try:
        digest, size = sha256_file(path, prog)
    except OSError as e:
        raise CtlError("files upload: %s: %s" % (path, e.strerror))
    ftype = FILE_TYPES.get(a.type, a.type)
    q = [("name", name), ("type", ftype), ("oui", a.oui), ("product_class", a.product_class),
         ("version", a.version), ("sha256", digest)]

    def body():
        return ProgressReader(open(path, "rb"), size, prog), size
    t_http = max(ctx.client.timeout, 60.0 + size / (1 << 20))  # a slow link: a second per MiB
    doc = ctx.client.call("POST", "/api/v1/files", q, data=body, ctype="application/octet-stream",
                          ok=(200, 201), timeout=t_http).doc()
    prog.finish(size, size, "%s sent, sha256 %s" % (human(size), digest[:16]), key="done")
    return emit(ctx, doc, show_object)


def cmd_files_list(ctx, a):
    q = [("type", FILE_TYPES.get(a.type, a.type) if a.type else None), ("oui", a.oui),
         ("product_class", a.product_class), ("version", a.version)]
    return list_command(ctx, a, "/api/v1/files", q, FILE_COLUMNS, "files")


def cmd_files_get(ctx, a):
    return emit(ctx, ctx.client.get("/api/v1/files/" + seg(a.name)), show_object)


def cmd_files_delete(ctx, a):
    ctx.client.delete("/api/v1/files/" + seg(a.name))
    return deleted(ctx, a.name, "file %s" % a.name)


