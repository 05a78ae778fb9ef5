"""acsctl: system, alarms, bulk actions, tokens and the audit log."""
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

def cmd_system_health(ctx, a):
    resp = ctx.client.call("GET", "/api/v1/system/health", ok=(200, 503), retry=False)
    doc = resp.doc()
    if not isinstance(doc, dict) or "status" not in doc:  # 503 {"error"}: the store, the token
        raise ApiError("GET", "/api/v1/system/health", resp)

    def render(d):
        store = d.get("store")
        pol = d.get("policies") or {}
        bulk = d.get("bulk_actions") or {}
        rows = [("status", d["status"]), ("instance", d.get("instance")),
                ("version", d.get("version")), ("uptime", "%s s" % d.get("uptime_s")),
                ("sessions in flight", d.get("sessions_in_flight")),
                ("store", store if isinstance(store, str) else
                 "%s, latency %s ms, queue %s, oldest waiting commit %s ms" % (
                     "up" if store.get("up") else "DOWN", store.get("latency_ms"),
                     store.get("queue_depth"), store.get("oldest_waiting_commit_ms"))),
                ("policies", "generation %s (%s of %d workers), %s load errors" % (
                    pol.get("generation"), pol.get("workers_loaded"), len(d.get("workers", [])),
                    pol.get("load_errors"))),
                ("bulk-action lease", bulk.get("lease_holder") or bulk.get("error") or "-"),
                ("redis, xmpp, stomp", "%s, %s, %s" % (d.get("redis"), d.get("xmpp"), d.get("stomp")))]
        for w in d.get("workers", []):
            rows.append(("worker %d" % w["worker"], "loop lag %s ms, %d sessions" % (
                w["loop_lag_ms"], w["sessions_in_flight"])))
        show_object(dict(rows))
    emit(ctx, doc, render)
    for r in doc.get("reasons", []):
        sys.stderr.write("acsctl: not ready: %s\n" % r)
    return EXIT_OK if resp.status == 200 else EXIT_UNAVAILABLE


def cmd_system_telemetry(ctx, a):
    def render(t):
        s, lat, st = t["sessions"], t["latency"], t["store"]
        rate = s["per_second"]
        rows = [("sessions/s (1s, 10s, 60s)", "%.1f, %.1f, %.1f" % (rate["1s"], rate["10s"], rate["60s"])),
                ("in flight", s["in_flight"]), ("started", s["started"]),
                ("ended", ", ".join("%s %d" % kv for kv in s["ended"].items())),
                ("503s", ", ".join("%s %d" % kv for kv in s["rejected"].items())),
                ("Inform p50/p99", "%.1f / %.1f ms" % (lat["inform_s"]["p50"] * 1e3,
                                                       lat["inform_s"]["p99"] * 1e3)),
                ("session p50/p99", "%.1f / %.1f ms" % (lat["session_s"]["p50"] * 1e3,
                                                        lat["session_s"]["p99"] * 1e3)),
                ("events", ", ".join("%s %d" % kv for kv in t["informs"]["events"].items()) or "-"),
                ("RPCs", ", ".join("%s %d/%d" % (k, v["ok"], v["fault"]) for k, v in t["rpcs"].items())
                 or "-"),
                ("CPE faults", ", ".join("%s %d" % kv for kv in t["cpe_faults"].items()) or "-"),
                ("group commit", "%d transactions, %.1f items each, latency %s ms" % (
                    st["transactions"], st["mean_batch_items"], st["commit_latency_ms"])),
                ("policies", "generation %d, %d runs, %d faults, %.3f s CPU" % (
                    t["policies"]["generation"], t["policies"]["runs"], t["policies"]["faults"],
                    t["policies"]["cpu_s"]))]
        show_object(dict(rows))
    return emit(ctx, ctx.client.get("/api/v1/telemetry/current"), render)


def cmd_system_log(ctx, a):
    body = {k: v for k, v in (("level", a.level), ("format", a.format)) if v}
    if body:
        doc = ctx.client.call("PUT", "/api/v1/system/log", body=body).doc()
    else:
        doc = ctx.client.get("/api/v1/system/log")
    return emit(ctx, doc, lambda d: print("level %s, format %s" % (d["level"], d["format"])))


# --- alarms

def alarm_state(al):
    s = "cleared" if al.get("cleared_at") else (al.get("state") or "open")
    return s + (", ack" if al.get("acknowledged_at") else "")


ALARM_COLUMNS = [("ID", "id"), ("DEVICE", "device_id"), ("RULE", "rule"), ("SEVERITY", "severity"),
                 ("STATE", alarm_state), ("COUNT", "count"), ("LAST SEEN", "last_seen"),
                 ("ACK BY", "acknowledged_by"), ("MESSAGE", "message")]


def cmd_alarms_list(ctx, a):
    q = [("device", a.device), ("rule", a.rule), ("severity", a.severity), ("state", a.state)]
    return list_command(ctx, a, "/api/v1/alarms", q, ALARM_COLUMNS, "alarms")


def cmd_alarms_get(ctx, a):
    return emit(ctx, ctx.client.get("/api/v1/alarms/%d" % a.id), show_object)


def cmd_alarms_ack(ctx, a):
    al = ctx.client.post("/api/v1/alarms/%d/acknowledge" % a.id)
    return emit(ctx, al, lambda al: print("alarm %s acknowledged by %s at %s" % (
        al.get("id"), cell(al.get("acknowledged_by")), cell(al.get("acknowledged_at")))))


# --- bulk actions

def bulk_progress(b):
    p = b.get("progress") or {}
    return p.get("total"), p.get("done") or 0, p.get("failed") or 0, p.get("pending")


def bulk_summary(b):
    total, done, failed, pending = bulk_progress(b)
    return "%s: %s/%s done, %s failed, %s pending" % (b.get("status"), done, cell(total), failed, cell(pending))


BULK_COLUMNS = [("ID", "id"), ("STATUS", "status"),
                ("RPC", lambda b: (b.get("task") or {}).get("rpc") or ("tags" if b.get("tags") else None)),
                ("RATE", "rate"), ("TOTAL", lambda b: bulk_progress(b)[0]), ("DONE", lambda b: bulk_progress(b)[1]),
                ("FAILED", lambda b: bulk_progress(b)[2]), ("PENDING", lambda b: bulk_progress(b)[3]),
                ("CREATED", "created_at"), ("QUERY", "query")]


def parse_window(w):
    m = re.match(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-3]):([0-5]\d)$", w or "")
    if not m:
        raise CtlError("--window %r: expected HH:MM-HH:MM (UTC)" % w, EXIT_USAGE)
    return {"start": "%s:%s" % m.group(1, 2), "end": "%s:%s" % m.group(3, 4)}


def cmd_bulk_create(ctx, a):
    if a.rate <= 0:
        raise CtlError("--rate: tasks per second, more than 0", EXIT_USAGE)
    task = {"rpc": a.rpc}
    args = parse_kv_args(a.arg, a.args)
    if args is not None:
        task["args"] = args
    rate = int(a.rate) if a.rate.is_integer() else a.rate  # 5, not 5.0, for a server that wants an integer
    body = {"query": a.query, "task": task, "rate": rate}
    if a.window:
        body["window"] = parse_window(a.window)
    if a.connection_request:
        body["connection_request"] = True
    if a.expires_in is not None:
        body["expires_in"] = a.expires_in
    b = ctx.client.post("/api/v1/bulk", body, ok=(200, 201))
    if not (a.watch and ctx.out.json):  # with --json --watch, only the action as it ended
        emit(ctx, b, lambda b: print("bulk %s: %s" % (b.get("id"), bulk_summary(b))))
    if a.watch:
        return watch_bulk(ctx, b["id"], a.timeout, a.interval, quiet_result=True)
    return EXIT_OK


def cmd_bulk_tag(ctx, a):
    """A tag action: tags added and removed on every device of a query."""
    if not a.add and not a.remove:
        raise CtlError("bulk tag: give --add TAG and/or --remove TAG", EXIT_USAGE)
    if a.rate is not None and a.rate <= 0:
        raise CtlError("--rate: devices per second, more than 0", EXIT_USAGE)
    body = {"query": a.query, "tags": {"add": a.add or [], "remove": a.remove or []}}
    if a.rate is not None:
        body["rate"] = int(a.rate) if a.rate.is_integer() else a.rate
    if a.window:
        body["window"] = parse_window(a.window)
    b = ctx.client.post("/api/v1/bulk", body, ok=(200, 201))
    if not (a.watch and ctx.out.json):
        emit(ctx, b, lambda b: print("bulk %s: %s" % (b.get("id"), bulk_summary(b))))
    if a.watch:
        return watch_bulk(ctx, b["id"], a.timeout, a.interval, quiet_result=True)
    return EXIT_OK


def cmd_bulk_list(ctx, a):
    return list_command(ctx, a, "/api/v1/bulk", [], BULK_COLUMNS, "bulk actions")


def bulk_show(b):
    show_object(b, skip=("progress",))
    total, done, failed, pending = bulk_progress(b)
    print("%s  total %s, done %s, failed %s, pending %s" % ("progress".ljust(max(len(k) for k in b)),
                                                            cell(total), done, failed, cell(pending)))


def cmd_bulk_get(ctx, a):
    return emit(ctx, ctx.client.get("/api/v1/bulk/%d" % a.id), bulk_show)


def bulk_op(op):
    def run(ctx, a):
        b = ctx.client.post("/api/v1/bulk/%d/%s" % (a.id, op), ok=(200, 202))
        return emit(ctx, b, lambda b: print("bulk %s: %s" % (b.get("id", a.id), bulk_summary(b))))
    return run


def watch_bulk(ctx, bulk_id, timeout, interval, quiet_result=False):
    prog = ctx.out.progress("bulk %d" % bulk_id)
    deadline = deadline_of(timeout)
    while True:
        b = ctx.client.get("/api/v1/bulk/%d" % bulk_id)
        total, done, failed, _ = bulk_progress(b)
        st = b.get("status")
        if st in BULK_FINAL:
            prog.finish(done + failed, total, bulk_summary(b), key=st)
            break
        prog.update(done + failed, total, bulk_summary(b), key=st)
        if past(deadline):
            prog.finish(done + failed, total, bulk_summary(b) + " after %g s: --timeout" % timeout, key="timeout")
            raise CtlError("bulk %d still %s after %g s" % (bulk_id, st, timeout), EXIT_TIMEOUT)
        time.sleep(interval)
    if not quiet_result or ctx.out.json:
        emit(ctx, b, bulk_show)
    return EXIT_OK if st == "done" and not failed else EXIT_FAILED


def cmd_bulk_watch(ctx, a):
    return watch_bulk(ctx, a.id, a.timeout, a.interval)


# --- tokens and audit

TOKEN_COLUMNS = [("ID", "id"), ("NAME", "name"), ("ROLE", "role"), ("CREATED", "created_at"),
                 ("LAST USED", "last_used_at"), ("REVOKED", "revoked_at")]
AUDIT_COLUMNS = [("ID", "id"), ("AT", "at"), ("ACTOR", "actor"), ("ACTION", "action"), ("TARGET", "target"),
                 ("DETAIL", "detail")]


def cmd_tokens_create(ctx, a):
    body = {"role": a.role}
    if a.name:
        body["name"] = a.name
    t = ctx.client.post("/api/v1/tokens", body, ok=(201,))
    if ctx.out.json:
        print_json(t)
    else:  # the secret alone on stdout, so that TOKEN=$(acsctl tokens create ...) works
        print(t.get("token"))
        ctx.out.note("token %s (%s, role %s): shown this once" % (t.get("id"), t.get("name"), t.get("role")))
    return EXIT_OK


def cmd_tokens_list(ctx, a):
    return list_command(ctx, a, "/api/v1/tokens", [], TOKEN_COLUMNS, "tokens")


def cmd_tokens_revoke(ctx, a):
    t = ctx.client.delete("/api/v1/tokens/%d" % a.id)
    return emit(ctx, t, lambda t: print("token %s (%s) revoked at %s" % (t.get("id"), t.get("name"),
                                                                         t.get("revoked_at"))))


def cmd_audit_list(ctx, a):
    q = [("actor", a.actor), ("action", a.action), ("target", a.target), ("since", a.since), ("until", a.until)]
    return list_command(ctx, a, "/api/v1/audit", q, AUDIT_COLUMNS, "audit records")


# --- configuration and the command line

def read_token_file(path):
    try:
        with open(path, encoding="utf-8") as f:
            tok = f.read().strip()
    except OSError as e:
        raise CtlError("token file %s: %s" % (path, e.strerror), EXIT_USAGE)
    if not tok or any(c.isspace() for c in tok):
        raise CtlError("token file %s: expected one token" % path, EXIT_USAGE)
    return tok


def resolve_token(a):
    """--token, --token-file, ACSCTL_TOKEN, ACSCTL_TOKEN_FILE, ./var/admin-token: the first given."""
    if a.token:
        return a.token
    if a.token_file:
        return read_token_file(a.token_file)
    if os.environ.get("ACSCTL_TOKEN"):
        return os.environ["ACSCTL_TOKEN"].strip()
    if os.environ.get("ACSCTL_TOKEN_FILE"):
        return read_token_file(os.environ["ACSCTL_TOKEN_FILE"])
    if os.path.isfile(DEFAULT_TOKEN_FILE):
        return read_token_file(DEFAULT_TOKEN_FILE)
    return None


