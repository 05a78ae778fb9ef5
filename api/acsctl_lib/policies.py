"""acsctl: the policy tree (push, test, generations, roll-outs)."""
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

# --- policies

GEN_COLUMNS = [("ID", "id"), ("CREATED", "created_at"), ("BY", "created_by"), ("VALID", "valid"),
               ("FILES", lambda g: len(g.get("files") or [])),
               ("CHECKSUM", lambda g: (g.get("checksum") or "")[:12] or None), ("SOURCE", "source"),
               ("ERROR", lambda g: load_error_text(g["error"]) if isinstance(g.get("error"), dict) else None)]


def read_policy_tree(d):
    """The tree as POST /api/v1/policies takes it: {"KIND/NAME.lua": text}, the
    .lua files (not hidden) of each kind's folder, as acsd reads a tree."""
    if not os.path.isdir(d):
        raise CtlError("policies push: %s: not a directory" % d, EXIT_USAGE)
    files = {}
    for kind in POLICY_KINDS:
        sub = os.path.join(d, kind)
        if not os.path.isdir(sub):
            continue
        for f in sorted(os.listdir(sub)):
            p = os.path.join(sub, f)
            if f.startswith(".") or not f.endswith(".lua") or len(f) < 5 or not os.path.isfile(p):
                continue
            if len(files) >= POLICY_FILES_MAX:
                raise CtlError("policies push: %s: more than %d policy files" % (d, POLICY_FILES_MAX), EXIT_USAGE)
            if os.path.getsize(p) > POLICY_FILE_MAX:
                raise CtlError("policies push: %s: larger than 1 MiB" % p, EXIT_USAGE)
            try:
                with open(p, "rb") as fh:
                    files["%s/%s" % (kind, f)] = fh.read().decode("utf-8")
            except UnicodeDecodeError:
                raise CtlError("policies push: %s: not UTF-8 text" % p, EXIT_USAGE)
            except OSError as e:
                raise CtlError("policies push: %s: %s" % (p, e.strerror))
    if not files:
        raise CtlError("policies push: %s: no policy files (%s/*.lua)" % (d, "|".join(POLICY_KINDS)), EXIT_USAGE)
    return files


def dry_error_text(x):
    """One error of a dry run: "provisions/x.lua:3: device ID: message"."""
    if not isinstance(x, dict):
        return str(x)
    where = "%s:%s" % (x.get("file"), x.get("line")) if x.get("line") is not None else str(x.get("file"))
    return "%s: device %s: %s" % (where, x.get("device"), x.get("message"))


def rpc_summary(e):
    """An RPC of a dry run's report as one line: its subject and outcome."""
    rq = e.get("request") or {}
    if "ParameterList" in rq:
        items = rq["ParameterList"]
        what = ", ".join("%s=%s" % (p.get("Name"), p.get("Value")) if isinstance(p, dict) and "Value" in p
                         else str(p.get("Name") if isinstance(p, dict) else p) for p in items)
    elif "ParameterNames" in rq:
        what = ", ".join(str(n) for n in rq["ParameterNames"])
    elif "ParameterPath" in rq:
        what = "%s (next level %s)" % (rq["ParameterPath"], str(rq.get("NextLevel", False)).lower())
    elif "ObjectName" in rq:
        what = rq["ObjectName"]
    else:
        what = json.dumps(rq, sort_keys=True)
    if isinstance(e.get("fault"), dict):
        f = e["fault"]
        out = "fault %s %s" % (f.get("FaultCode"), f.get("FaultString") or "")
        for sf in f.get("SetParameterValuesFault") or []:
            out += "; %s: %s" % (sf.get("ParameterName"), sf.get("FaultCode"))
    else:
        rsp = e.get("response") or {}
        if "ParameterList" in rsp:
            out = "%d value%s" % (len(rsp["ParameterList"]), "" if len(rsp["ParameterList"]) == 1 else "s")
        elif "InstanceNumber" in rsp:
            out = "instance %s" % rsp["InstanceNumber"]
        else:
            out = "ok"
    return what, out


def show_test_report(r):
    print("device %s, events %s%s" % (r.get("device"), ", ".join(r.get("events") or []),
                                     " (stopped: %s)" % r["stopped"] if r.get("stopped") else ""))
    rpcs = r.get("rpcs") or []
    print("\nRPCs (%d):" % len(rpcs))
    table([dict(zip(("n", "rpc", "what", "outcome"), (i + 1, e.get("rpc")) + rpc_summary(e)))
           for i, e in enumerate(rpcs)], [("#", "n"), ("RPC", "rpc"), ("PARAMETERS", "what"), ("OUTCOME", "outcome")])
    sets = r.get("set") or {}
    if sets:
        print("\nvalues set (%d):" % len(sets))
        table([{"name": k, "value": v} for k, v in sorted(sets.items())], [("NAME", "name"), ("VALUE", "value")])
    for key, title, cols in (
            ("actions", "actions", [("RPC", "rpc"), ("KEY", "key"), ("ARGS", lambda x: json.dumps(x.get("args"), sort_keys=True))]),
            ("alarms", "alarms", [("RULE", "rule"), ("KEY", "key"), ("SEVERITY", lambda x: x.get("severity") or "cleared"),
                                  ("MESSAGE", "message")]),
            ("faults", "faults", [("FILE", lambda x: "%s:%s" % (x.get("file"), x.get("line")) if x.get("line") is not None
                                   else x.get("file")), ("CHANNEL", "channel"), ("CODE", "code"), ("MESSAGE", "message")]),
            ("logs", "log lines", [("LEVEL", "level"), ("MESSAGE", "message")])):
        items = r.get(key) or []
        if items:
            print("\n%s (%d):" % (title, len(items)))
            table(items, cols)
    tags = r.get("tags") or {}
    for k in ("added", "removed"):
        if tags.get(k):
            print("\ntags %s: %s" % (k, ", ".join(tags[k])))
    if not (r.get("faults") or []):
        print("\nno policy faults")


def cmd_policies_test(ctx, a):
    files = read_policy_tree(a.dir)
    body = {"files": files, "device": a.device}
    if a.events:
        body["events"] = a.events
    r = ctx.client.post("/api/v1/policies/test", body, ok=(200,))
    emit(ctx, r, show_test_report)
    return EXIT_FAILED if r.get("faults") else EXIT_OK


def cmd_policies_push(ctx, a):
    files = read_policy_tree(a.dir)
    source = a.source or os.path.realpath(a.dir)  # as acsd names a directory's tree
    try:
        g = ctx.client.post("/api/v1/policies", {"files": files, "source": source}, ok=(200, 201),
                            query=[(k, "true" if k == "force" else "false") for k, on in
                                   (("force", a.force), ("activate", a.no_activate)) if on] or None)
    except ApiError as e:
        if e.status != 422:
            raise
        doc = e.resp.doc(quiet=True)
        if ctx.out.json and doc is not None:
            print_json(doc)
        gen = (doc or {}).get("generation") if isinstance((doc or {}).get("generation"), dict) else doc
        gid = gen.get("id") if isinstance(gen, dict) and "id" in gen else None
        findings = (doc or {}).get("findings") if isinstance((doc or {}).get("findings"), list) else []
        msg = error_message(doc) or e.resp.text()
        dry = (doc or {}).get("dry_run") if isinstance((doc or {}).get("dry_run"), list) else []
        if len(findings) > 1:  # every finding, one a line
            msg = "%d findings (push with --force to store it anyway)\n  %s" % (
                len(findings), "\n  ".join(str(f) for f in findings))
        elif dry:  # the dry run's errors: file, line, device, message, one a line
            msg = "the dry run over stored devices found %d error%s (push with --force to store it " \
                  "anyway)\n  %s" % (len(dry), "" if len(dry) == 1 else "s",
                                      "\n  ".join(dry_error_text(x) for x in dry[:50]))
            if len(dry) > 50:
                msg += "\n  ... and %d more" % (len(dry) - 50)
        raise CtlError("policies push: refused%s: %s" % (" (generation %s)" % gid if gid is not None else "",
                                                        msg), EXIT_INVALID)
    return emit(ctx, g, lambda g: print("generation %s: %d files, checksum %s" % (
        g.get("id"), len(g.get("files") or files), (g.get("checksum") or "-")[:16])))


def cmd_policies_show(ctx, a):
    doc = ctx.client.get("/api/v1/policies")

    def render(doc):
        rows = []
        for which in ("current", "latest"):
            g = doc.get(which)
            rows.append(dict(g, which=which) if isinstance(g, dict) else {"which": which})
        table(rows, [("", "which")] + GEN_COLUMNS)
    return emit(ctx, doc, render)


def cmd_policies_generations(ctx, a):
    return list_command(ctx, a, "/api/v1/policies/generations", [], GEN_COLUMNS, "generations")


def cmd_policies_reload(ctx, a):
    doc = ctx.client.post("/api/v1/policies/reload", ok=(200, 202, 204))
    if ctx.out.json:
        print_json(doc if doc is not None else {"reload": "requested"})
    else:
        print("reload requested: every instance converges now")
    return EXIT_OK


def cmd_policies_activate(ctx, a):
    doc = ctx.client.post("/api/v1/policies/activate", {"generation": a.generation, "reason": a.reason},
                          ok=(200,))
    return emit(ctx, doc, lambda d: print("generation %s is current (was %s)" % (
        d["generation"]["id"], d.get("previous"))))


def cmd_policies_rollback(ctx, a):
    doc = ctx.client.post("/api/v1/policies/rollback", {"reason": a.reason}, ok=(200,))
    return emit(ctx, doc, lambda d: print("rolled back: generation %s is current (was %s)" % (
        d["generation"]["id"], d.get("previous"))))


def cmd_policies_source(ctx, a):
    doc = ctx.client.get("/api/v1/policies/generations/%d/source" % a.generation)
    files = doc.get("files") or {}
    if a.out:
        if os.path.exists(a.out) and os.listdir(a.out):
            raise CtlError("policies source: %s: not empty" % a.out, EXIT_USAGE)
        for path in sorted(files):
            kind, _, name = path.partition("/")
            if kind not in POLICY_KINDS or not name or "/" in name or name.startswith("."):
                raise CtlError("policies source: unexpected path %r" % path)
            os.makedirs(os.path.join(a.out, kind), exist_ok=True)
            with open(os.path.join(a.out, kind, name), "w", encoding="utf-8") as fh:
                fh.write(files[path])
        if not ctx.out.json:
            print("generation %s: %d files written to %s" % (doc.get("id"), len(files), a.out))
            return EXIT_OK
    return emit(ctx, doc, lambda d: [print("-- %s\n%s" % (p, files[p])) for p in sorted(files)])


ROLLOUT_FMT = "roll-out %(id)s: generation %(generation)s on %(share)g%% of the fleet, %(state)s; " \
    "%(faulted)s of %(seen)s canary devices seen with a policy fault (rolled back past %(max_fault_rate)g, " \
    "from %(min_devices)s devices)"


def rollout_text(d):
    """One line for a roll-out: on a share of the fleet, or of a query's members."""
    text = ROLLOUT_FMT % d
    if d.get("query"):
        text = text.replace("of the fleet", "of the devices matching %r (%s members)" % (
            d["query"], d.get("members", 0)), 1)
    return text


def cmd_policies_canary(ctx, a):
    if a.share is None and a.query is None:
        raise CtlError("canary: give --share, --query or both", EXIT_USAGE)
    body = {"generation": a.generation, "reason": a.reason}
    if a.share is not None:
        body["share"] = a.share
    if a.query is not None:
        body["query"] = a.query
    if a.max_fault_rate is not None:
        body["max_fault_rate"] = a.max_fault_rate
    if a.min_devices is not None:
        body["min_devices"] = a.min_devices
    doc = ctx.client.post("/api/v1/policies/rollout", body, ok=(200, 201))
    return emit(ctx, doc, lambda d: print(rollout_text(d)))


def cmd_policies_canary_status(ctx, a):
    doc = ctx.client.get("/api/v1/policies/rollout")
    return emit(ctx, doc, lambda d: print(rollout_text(d)))


def cmd_policies_canary_end(ctx, a, what):
    doc = ctx.client.post("/api/v1/policies/rollout/" + what, {"reason": a.reason}, ok=(200,))
    return emit(ctx, doc, lambda d: print(rollout_text(d)))


# --- system (docs/operations.md)

