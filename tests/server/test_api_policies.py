#!/usr/bin/env python3
"""The policies and alarms routes of the API (docs/api.md, "Policies" and
"Alarms") against two acsd instances on one PostgreSQL, both started with
--policies on the same directory at the same moment (one generation stored):

- GET /api/v1/policies answers per instance (its workers' generations);
- POST /api/v1/policies: validation (400/415, nothing stored), the same
  tree as the directory is unchanged (200, the CLI's generation: one code
  path, one checksum) unless ?force=true, and the CLI sees an API push the
  same way; a tree that does not compile is 422 with file and line, stored
  as refused, and both instances keep serving the old one;
- POST /api/v1/policies/reload: after a push on instance A, both instances
  serve the new generation; the time each took is measured and printed (the
  issue asks: within 2 s?), with and without a reload;
- GET /api/v1/policies/generations: newest first, pages, ?valid=;
- alarms (inserted with SQL, 20,000 of them over 2,000 devices): every
  filter and the state default against a Python model, keyset pages, the
  plans of the list statements (auto_explain) on the version 9 indexes,
  acknowledge (the first one stays, audited once);
- POST /api/v1/faults/{device}/{channel}/retry: next_retry_at set, audited;
- the audit rows of every change, roles, and a clean SIGTERM of both.
Every answer is checked against api/openapi.yaml (test_api_queries.py's
checker)."""
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "lib"))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
sys.path.insert(0, HERE)
import pgtest  # noqa: E402
import test_api_queries as spec  # noqa: E402  (the OpenAPI checker)
from acstest import Acsd, Fail, acsd_path, clean_env, request, run_tests, create_tokens  # noqa: E402

CHECKS = 0


def check(cond, msg):
    global CHECKS
    CHECKS += 1
    if not cond:
        raise Fail(msg)


class Env:
    pg = None
    a = None  # instance A
    b = None  # instance B
    tok = {}
    dir = None
    no_auto_explain = False


def api(method, path, role="admin", body=None, inst=None, ctype="application/json", raw=None):
    h = {}
    if role:
        h["Authorization"] = "Bearer " + Env.tok[role]
    data = b""
    if raw is not None:
        data = raw
    elif body is not None:
        data = json.dumps(body)
    if (raw is not None or body is not None) and ctype:
        h["Content-Type"] = ctype
    st, rh, text = request((inst or Env.a).api, method, path, h, data, timeout=15)
    doc = None
    if text:
        try:
            doc = json.loads(text)
        except ValueError:
            raise Fail("%s %s: %d with a body that is not JSON: %r" % (method, path, st, text[:200]))
    spec.validate(method, path, st, rh, doc)
    return st, rh, doc


def ok(method, path, role="admin", body=None, status=200, inst=None):
    st, h, doc = api(method, path, role, body, inst)
    check(st == status, "%s %s: %d %.500r, expected %d" % (method, path, st, doc, status))
    return h, doc


def err(method, path, status, role="admin", body=None, contains=None, **kw):
    st, _, doc = api(method, path, role, body, **kw)
    check(st == status, "%s %s: %d %.300r, expected %d" % (method, path, st, doc, status))
    check(isinstance(doc, dict) and isinstance(doc.get("error"), str), "error body %r" % doc)
    if contains:
        check(contains in doc["error"], "%s %s: %r does not mention %r" % (method, path, doc["error"], contains))
    return doc


def psql(sql):
    return Env.pg.psql(sql)


def all_pages(path, limit, role="readonly"):
    items, total, pages, cursor = [], None, 0, None
    while True:
        p = path + ("&" if "?" in path else "?") + "limit=%d" % limit
        if cursor:
            p += "&cursor=" + urllib.parse.quote(cursor)
        h, doc = ok("GET", p, role)
        pages += 1
        check(pages < 1000, "%s: endless pages" % path)
        items += doc["items"]
        check(total is None or h.get("x-total-count") == total, "%s: X-Total-Count moved" % path)
        total = h.get("x-total-count")
        cursor = doc["next_cursor"]
        if not cursor:
            return items, total


# --- policy trees

PRESETS = "return {{name = 'mark', provisions = {'mark'}, channel = 'mark'}}\n"


def mark(tag):
    return ("local r = root()\n"
            "local tag = '%s'\n"
            "set(r .. 'DeviceInfo.ProvisioningCode', tag)\n" % tag)


def tree(tag):
    return {"presets/p.lua": PRESETS, "provisions/mark.lua": mark(tag)}


def write_dir(d, files):
    for path, text in files.items():
        os.makedirs(os.path.join(d, os.path.dirname(path)), exist_ok=True)
        with open(os.path.join(d, path), "w") as f:
            f.write(text)


def cli_push(d, *extra):
    p = subprocess.run([acsd_path(), "policies", "push", d, "--pg", Env.pg.dsn] + list(extra),
                       stdin=subprocess.DEVNULL, capture_output=True, env=clean_env(), timeout=60)
    return p.returncode, (p.stdout + p.stderr).decode()


def served(inst):
    _, doc = ok("GET", "/api/v1/policies", "readonly", inst=inst)
    return doc


def gen_count():
    return int(psql("SELECT count(*) FROM policy_generations"))


def wait_served(want, t0, timeout=5.0):
    """Polls both instances until every worker of each serves want: the
    seconds each took from t0 (None: not within timeout)."""
    took = {"A": None, "B": None}
    while time.monotonic() - t0 < timeout and None in took.values():
        for name, inst in (("A", Env.a), ("B", Env.b)):
            if took[name] is None:
                w = served(inst)["workers"]
                if w and all(g == want for g in w):
                    took[name] = time.monotonic() - t0
        time.sleep(0.01)
    return took


# --- tests

def test_started_together():
    """Both instances pushed the directory at start, at the same moment:
    one generation, served by every worker of both."""
    check(gen_count() == 1, "two instances starting together stored %d generations" % gen_count())
    for inst in (Env.a, Env.b):
        doc = served(inst)
        check(doc["current"] and doc["current"]["id"] == 1 and doc["latest"]["id"] == 1,
              "GET /api/v1/policies %r" % doc)
        check(doc["workers"] == [1, 1], "workers %r" % doc["workers"])
        g = doc["current"]
        check(g["files"] == ["presets/p.lua", "provisions/mark.lua"] and g["valid"] and
              g["error"] is None and g["created_by"] == "acsd:start" and g["source"] == Env.dir,
              "generation %r" % g)
    check(served(Env.a)["instance"] != served(Env.b)["instance"], "the instances have one id")


def test_push_validation():
    n0 = gen_count()
    bad = [
        ({}, "files"),
        ({"files": []}, "files"),
        ({"files": "x"}, "files"),
        ({"files": {"presets/p": PRESETS}}, "NAME.lua"),
        ({"files": {"other/p.lua": PRESETS}}, "provisions/"),
        ({"files": {"presets/.p.lua": PRESETS}}, "presets/.p.lua"),
        ({"files": {"presets/a/b.lua": PRESETS}}, "presets/a/b.lua"),
        ({"files": {"presets/.lua": PRESETS}}, "presets/.lua"),
        ({"files": {"provisions/" + "x" * 60 + ".lua": "return 1"}}, "63"),
        ({"files": {"provisions/a\tb.lua": "return 1"}}, "control"),
        ({"files": {"presets/p.lua": 5}}, "text"),
        ({"files": {"presets/p.lua": None}}, "text"),
        ({"files": {}, "source": 5}, "source"),
        ({"files": {}, "source": "x" * 1025}, "source"),
        ({"files": {}, "force": True}, "unknown key"),
    ]
    for body, word in bad:
        err("POST", "/api/v1/policies", 400, body=body, contains=word)
    err("POST", "/api/v1/policies?force=yes", 400, body={"files": {}}, contains="force")
    err("POST", "/api/v1/policies", 400, raw=b"{\"files\": {", contains="JSON")
    err("POST", "/api/v1/policies", 415, raw=json.dumps({"files": {}}).encode(), ctype="text/plain")
    err("POST", "/api/v1/policies", 403, role="operator", body={"files": {}})
    err("POST", "/api/v1/policies", 403, role="readonly", body={"files": {}})
    st, _, _ = api("POST", "/api/v1/policies", None, {"files": {}})
    check(st == 401, "push without a token: %d" % st)
    err("POST", "/api/v1/policies/reload", 403, role="operator")
    check(gen_count() == n0, "refused requests stored generations")


def test_push_unchanged_and_cli():
    """One code path: the API's tree of the directory's files sums as the
    directory does (unchanged: 200, generation 1); ?force=true stores it
    anyway; the CLI then finds it unchanged, and the API finds a CLI push
    unchanged."""
    _, g = ok("POST", "/api/v1/policies", body={"files": tree("GEN-1"), "source": "api"})
    check(g["id"] == 1 and g["created_by"] == "acsd:start", "unchanged push answered %r" % g)
    check(gen_count() == 1, "an unchanged push stored a generation")
    _, g2 = ok("POST", "/api/v1/policies?force=true", body={"files": tree("GEN-1"), "source": "api"},
               status=201)
    check(g2["id"] == 2 and g2["checksum"] == g["checksum"] and g2["created_by"] == "admin" and
          g2["source"] == "api", "forced push %r" % g2)
    rc, out = cli_push(Env.dir)
    check(rc == 0 and "generation 2 (unchanged" in out, "CLI after the API push: %d %s" % (rc, out))
    d2 = tempfile.mkdtemp(prefix="acs-pol-")
    write_dir(d2, tree("GEN-CLI"))
    rc, out = cli_push(d2)
    check(rc == 0 and "generation 3\n" in out, "CLI push: %d %s" % (rc, out))
    _, g3 = ok("POST", "/api/v1/policies", body={"files": tree("GEN-CLI")})
    check(g3["id"] == 3 and g3["created_by"].startswith("cli:"), "API push of the CLI's tree %r" % g3)
    rows = psql("SELECT target, actor, detail->>'valid', detail->>'source', detail->>'files', "
                "detail->>'token_id' IS NOT NULL FROM audit_log WHERE action = 'policy.push' ORDER BY id")
    want = ["1|acsd:start|true|%s|2|f" % Env.dir, "2|admin|true|api|2|t",
            "3|%s|true|%s|2|f" % (g3["created_by"], d2)]
    check(rows.splitlines() == want, "policy.push audit rows %r, expected %r" % (rows, want))
    took = wait_served(3, time.monotonic())
    check(None not in took.values(), "generation 3 not served: %r" % took)


def test_push_and_reload_converge():
    """A push on A, then a reload on A: every worker of both instances
    serves the new generation; the time from the reload's answer is
    measured (and from the push's, without a reload)."""
    lat = {"reload": [], "push": []}
    for i in range(4):
        with_reload = i % 2 == 0
        _, g = ok("POST", "/api/v1/policies", body={"files": tree("GEN-R%d" % i)}, status=201)
        t0 = time.monotonic()
        if with_reload:
            _, rl = ok("POST", "/api/v1/policies/reload", status=202)
            t0 = time.monotonic()
            check(rl["generation"]["id"] == g["id"] and rl["serial"] >= 1, "reload answered %r" % rl)
        took = wait_served(g["id"], t0)
        print("     generation %d, %s: A (the instance pushed to) %s ms, B %s ms" % (
            g["id"], "after the reload's answer" if with_reload else "after the push's answer (no reload)",
            "%.0f" % (took["A"] * 1000) if took["A"] is not None else "never",
            "%.0f" % (took["B"] * 1000) if took["B"] is not None else "never"), flush=True)
        check(None not in took.values(), "not converged within 5 s: %r" % took)
        lat["reload" if with_reload else "push"].append(max(took.values()))
    worst = max(lat["reload"])
    print("     worst convergence after a reload: %.0f ms (both instances, every worker)" % (worst * 1000))
    check(worst <= 2.0, "convergence after a reload took %.0f ms, more than 2 s" % (worst * 1000))
    # the reload serial moved once per reload, audited
    serial = int(psql("SELECT serial FROM policy_reload"))
    check(serial == 2, "policy_reload.serial %d after 2 reloads" % serial)
    rows = psql("SELECT actor, detail->>'serial', detail->>'generation' FROM audit_log "
                "WHERE action = 'policy.reload' ORDER BY id").splitlines()
    check(len(rows) == 2 and rows[0].startswith("admin|1|"), "policy.reload audit %r" % rows)


def test_broken_push():
    before = served(Env.a)["current"]["id"]
    n0 = gen_count()
    broken = tree("GEN-BAD")
    broken["provisions/mark.lua"] = ("local r = root()\n"
                                     "local tag = 'GEN-BAD'\n"
                                     "set(r .. 'DeviceInfo.ProvisioningCode', tag))\n")
    st, _, doc = api("POST", "/api/v1/policies", body={"files": broken, "source": "broken"})
    check(st == 422, "broken push: %d %r" % (st, doc))
    check(doc["file"] == "provisions/mark.lua" and doc["line"] == 3 and doc["message"],
          "422 body %r" % doc)
    check(doc["error"].startswith("provisions/mark.lua:3: "), "error %r" % doc["error"])
    g = doc["generation"]
    check(not g["valid"] and g["error"] == {"file": "provisions/mark.lua", "line": 3,
                                            "message": doc["message"]}, "refused generation %r" % g)
    check(gen_count() == n0 + 1, "the refused tree was not kept")
    check(psql("SELECT valid, error->>'file' FROM policy_generations WHERE id = %d" % g["id"]) ==
          "f|provisions/mark", "stored refused row")
    print("     refused: %s" % doc["error"])
    # the same broken tree again: stored again (a refused push is always kept)
    st, _, doc2 = api("POST", "/api/v1/policies", body={"files": broken})
    check(st == 422 and doc2["generation"]["id"] == g["id"] + 1, "second broken push %d %r" % (st, doc2))
    # both instances keep serving the old one past their next polls, and
    # latest shows the refusal
    time.sleep(1.5)
    for inst in (Env.a, Env.b):
        d = served(inst)
        check(d["current"]["id"] == before and d["workers"] == [before, before] and
              d["latest"]["id"] == doc2["generation"]["id"] and not d["latest"]["valid"] and
              d["latest"]["error"]["line"] == 3, "after a refused push: %r" % d)
    # a reload changes nothing: the newest valid one is served
    _, rl = ok("POST", "/api/v1/policies/reload", status=202)
    check(rl["generation"]["id"] == before, "reload after a refused push %r" % rl)
    time.sleep(1.2)
    check(served(Env.b)["workers"] == [before, before], "B after the reload")
    check(int(psql("SELECT count(*) FROM audit_log WHERE action = 'policy.push' AND "
                   "detail->>'valid' = 'false'")) == 2, "refused pushes are audited")
    for inst in (Env.a, Env.b):
        check("not loaded" not in inst.log(), "a worker tried the refused tree")


def test_generations_list():
    items, total = all_pages("/api/v1/policies/generations", 2)
    ids = [g["id"] for g in items]
    check(ids == sorted(ids, reverse=True) and total == str(gen_count()) and len(ids) == gen_count(),
          "generations %r total %r" % (ids, total))
    refused, t2 = all_pages("/api/v1/policies/generations?valid=false", 1)
    check(t2 == "2" and all(not g["valid"] for g in refused), "?valid=false %r" % refused)
    valid, _ = all_pages("/api/v1/policies/generations?valid=true", 3)
    check(len(valid) + len(refused) == len(items) and all(g["valid"] for g in valid), "?valid=true")
    err("GET", "/api/v1/policies/generations?valid=1", 400, "readonly")
    err("GET", "/api/v1/policies/generations?cursor=abc", 400, "readonly")
    err("GET", "/api/v1/policies/generations?limit=0", 400, "readonly")
    st, _, _ = api("GET", "/api/v1/policies", None)
    check(st == 401, "GET /api/v1/policies without a token: %d" % st)


# --- alarms

SEVS = ["critical", "major", "minor", "warning", "info"]
RULES = ["alarms/wan_down", "alarms/cpu_high", "alarms/reboot_loop", "jobs/silent"]
N_DEV, N_ALARMS = 2000, 20000


def make_alarms():
    """20,000 alarms over 2,000 devices (rows computed in SQL from i); the
    model reads them back."""
    psql("INSERT INTO devices (id, oui, serial_number) SELECT 'AL-' || lpad(d::text, 5, '0'), 'AL', "
         "d::text FROM generate_series(0, %d) d" % (N_DEV - 1))
    psql("INSERT INTO alarms (device_id, rule, instance_key, severity, message, first_seen, "
         "last_seen, count, cleared_at, acknowledged_at, acknowledged_by) "
         "SELECT 'AL-' || lpad((i %% %d)::text, 5, '0'), "
         "(ARRAY['alarms/wan_down','alarms/cpu_high','alarms/reboot_loop','jobs/silent'])[1 + (i / %d) %% 4], "
         "'k' || (i / %d / 4), (ARRAY['critical','major','minor','warning','info'])[1 + (i * 7) %% 5], "
         "'m' || i, now() - interval '2 days', now() - (i %% 977) * interval '1 minute', 1 + i %% 3, "
         "CASE WHEN i %% 4 = 3 THEN now() - interval '1 minute' END, "
         "CASE WHEN i %% 6 = 1 THEN now() END, CASE WHEN i %% 6 = 1 THEN 'someone' END "
         "FROM generate_series(0, %d) i" % (N_DEV, N_DEV, N_DEV, N_ALARMS - 1))
    # a few rare ones, for the rule and severity indexes to find
    psql("INSERT INTO alarms (device_id, rule, severity, message) VALUES "
         "('AL-00001', 'alarms/rare', 'critical', 'rare one'), ('AL-00002', 'alarms/rare', 'info', 'rare two')")
    psql("ANALYZE alarms")
    rows = psql("SELECT id, device_id, rule, severity, cleared_at IS NULL, acknowledged_at IS NOT NULL, "
                "extract(epoch FROM last_seen) FROM alarms").splitlines()
    model = []
    for line in rows:
        i, dev, rule, sev, open_, ack, seen = line.split("|")
        model.append({"id": int(i), "device_id": dev, "rule": rule, "severity": sev,
                      "open": open_ == "t", "ack": ack == "t", "seen": float(seen)})
    return model


def expected(model, device=None, rule=None, sevs=None, state="open", ack=None):
    out = [a for a in model if (device is None or a["device_id"] == device) and
           (rule is None or a["rule"] == rule) and (sevs is None or a["severity"] in sevs) and
           (state == "all" or a["open"] == (state == "open")) and (ack is None or a["ack"] == ack)]
    out.sort(key=lambda a: (a["seen"], a["id"]), reverse=True)
    return [a["id"] for a in out]


def test_alarms_list():
    model = make_alarms()
    cases = [
        ({}, {}),
        ({"state": "open"}, {}),
        ({"state": "cleared"}, {"state": "cleared"}),
        ({"state": "all"}, {"state": "all"}),
        ({"device": "AL-00007"}, {"device": "AL-00007"}),
        ({"device": "AL-00007", "state": "all"}, {"device": "AL-00007", "state": "all"}),
        ({"rule": "alarms/rare"}, {"rule": "alarms/rare"}),
        ({"rule": "jobs/silent", "severity": "major"}, {"rule": "jobs/silent", "sevs": ["major"]}),
        ({"severity": "critical,info", "state": "cleared"}, {"sevs": ["critical", "info"], "state": "cleared"}),
        ({"acknowledged": "true"}, {"ack": True}),
        ({"acknowledged": "false", "rule": "alarms/cpu_high"}, {"ack": False, "rule": "alarms/cpu_high"}),
        ({"rule": "no/such"}, {"rule": "no/such"}),
    ]
    for q, kw in cases:
        path = "/api/v1/alarms?" + urllib.parse.urlencode(q)
        want = expected(model, **kw)
        limit = 1000 if len(want) > 3000 else 7
        items, total = all_pages(path, limit)
        got = [a["id"] for a in items]
        check(got == want, "%s: %d items %r..., expected %d %r..." % (path, len(got), got[:5], len(want), want[:5]))
        check(total == str(len(want)), "%s: X-Total-Count %r, expected %d" % (path, total, len(want)))
    _, one = ok("GET", "/api/v1/alarms?rule=alarms/rare&severity=critical", "readonly")
    a = one["items"][0]
    check(a["message"] == "rare one" and a["state"] == "open" and a["count"] == 1 and
          a["acknowledged_at"] is None and a["instance_key"] == "" and not a["clear_on_inform"], "alarm %r" % a)
    for bad, word in (("state=closed", "state"), ("severity=fatal", "severity"), ("severity=", "severity"),
                      ("acknowledged=yes", "acknowledged"), ("limit=1001", "limit"), ("cursor=xyz", "cursor"),
                      ("cursor=" + spec.cursor_for("l", '["yesterday", 1]'), "cursor"),
                      ("cursor=" + spec.cursor_for("l", '["now-1h", 1]'), "cursor"),
                      ("cursor=" + spec.cursor_for("t", "5"), "cursor")):
        err("GET", "/api/v1/alarms?" + bad, 400, "readonly", contains=word)
    Env.model = model


def test_alarm_plans():
    """The page statements of the filtered lists run on the version 9
    indexes (auto_explain logs the plans acsd's statements get)."""
    if Env.no_auto_explain:
        print("     (auto_explain is not installed: plans not checked)")
        return
    cases = [("", "alarms_open_seen"), ("state=all", "alarms_seen"), ("rule=alarms/rare", "alarms_open_rule"),
             ("severity=critical", "alarms_open_severity"), ("device=AL-00042", "alarms_device_id_rule_instance_key_key")]
    Env.pg.psql("ALTER SYSTEM SET auto_explain.log_min_duration = 0", user="postgres")
    Env.pg.psql("SELECT pg_reload_conf()", user="postgres")
    time.sleep(0.5)
    try:
        for q, index in cases:
            mark = "acs-alarm-plan-%d" % CHECKS
            Env.pg.psql("SELECT '%s'" % mark)
            ok("GET", "/api/v1/alarms?limit=20&" + q, "readonly")
            time.sleep(0.1)
            log = Env.pg.log()
            part = log[log.rfind(mark):]
            plans = [p for p in part.split("duration:") if "ORDER BY last_seen DESC" in p]
            check(plans, "%s: no plan logged" % q)
            check(index in plans[0] and "Seq Scan on alarms" not in plans[0],
                  "?%s: the page statement's plan does not use %s:\n%s" % (q, index, plans[0][:2500]))
    finally:
        Env.pg.psql("ALTER SYSTEM RESET auto_explain.log_min_duration", user="postgres")
        Env.pg.psql("SELECT pg_reload_conf()", user="postgres")


def test_alarm_get_and_acknowledge():
    a = [x for x in Env.model if x["open"] and not x["ack"]][0]
    _, g = ok("GET", "/api/v1/alarms/%d" % a["id"], "readonly")
    check(g["id"] == a["id"] and g["device_id"] == a["device_id"] and g["acknowledged_by"] is None, "get %r" % g)
    err("GET", "/api/v1/alarms/999999999", 404, "readonly")
    err("POST", "/api/v1/alarms/%d/acknowledge" % a["id"], 403, "readonly")
    _, k1 = ok("POST", "/api/v1/alarms/%d/acknowledge" % a["id"], "operator")
    check(k1["acknowledged_by"] == "op" and k1["acknowledged_at"] and k1["state"] == "open", "ack %r" % k1)
    time.sleep(1.1)
    _, k2 = ok("POST", "/api/v1/alarms/%d/acknowledge" % a["id"], "admin")
    check(k2["acknowledged_by"] == "op" and k2["acknowledged_at"] == k1["acknowledged_at"],
          "a second acknowledgement replaced the first: %r" % k2)
    rows = psql("SELECT actor, target, detail->>'alarm_id', detail->>'rule' FROM audit_log "
                "WHERE action = 'alarm.acknowledge'").splitlines()
    check(rows == ["op|%s|%d|%s" % (a["device_id"], a["id"], a["rule"])], "ack audit rows %r" % rows)
    items, _ = all_pages("/api/v1/alarms?acknowledged=true&device=" + a["device_id"], 50)
    check(a["id"] in [x["id"] for x in items], "the acknowledged alarm is not listed as such")
    err("POST", "/api/v1/alarms/999999999/acknowledge", 404, "operator")
    # a cleared alarm can be acknowledged too
    c = [x for x in Env.model if not x["open"] and not x["ack"]][0]
    _, k3 = ok("POST", "/api/v1/alarms/%d/acknowledge" % c["id"], "operator")
    check(k3["state"] == "cleared" and k3["acknowledged_by"] == "op", "ack of a cleared alarm %r" % k3)


def test_fault_retry():
    dev = "AL-00003"
    psql("INSERT INTO faults (device_id, channel, code, message, retries, last_at) VALUES "
         "('%s', 'wifi setup/2', '9002', 'internal', 4, now() - interval '1 minute')" % dev)
    path = "/api/v1/faults/%s/%s/retry" % (urllib.parse.quote(dev, safe=""),
                                           urllib.parse.quote("wifi setup/2", safe=""))
    err("POST", path, 403, "readonly")
    _, f = ok("POST", path, "operator")
    check(f["channel"] == "wifi setup/2" and f["retries"] == 4 and f["code"] == "9002" and
          f["next_retry_at"] is not None, "retried fault %r" % f)
    check(psql("SELECT next_retry_at <= now() AND next_retry_at > now() - interval '1 minute' FROM faults "
               "WHERE device_id = '%s'" % dev) == "t", "next_retry_at is not now")
    items, _ = all_pages("/api/v1/faults?device=" + dev, 10)
    check(items[0]["next_retry_at"] == f["next_retry_at"], "the list shows %r" % items)
    rows = psql("SELECT actor, target, detail->>'channel', detail->>'retries' FROM audit_log "
                "WHERE action = 'fault.retry'").splitlines()
    check(rows == ["op|%s|wifi setup/2|4" % dev], "fault.retry audit %r" % rows)
    err("POST", "/api/v1/faults/%s/nosuch/retry" % dev, 404, "operator")
    err("POST", "/api/v1/faults/AL-00003/%zz/retry", 400, "operator")


def test_clean_shutdown():
    for inst in (Env.a, Env.b):
        inst.signal(signal.SIGTERM)
    for inst in (Env.a, Env.b):
        rc, _ = inst.wait_exit(20)
        inst.check_clean_exit(rc)


TESTS = [test_started_together, test_push_validation, test_push_unchanged_and_cli,
         test_push_and_reload_converge, test_broken_push, test_generations_list, test_alarms_list,
         test_alarm_plans, test_alarm_get_and_acknowledge, test_fault_retry, test_clean_shutdown]


def main():
    pgtest.skip_unless_available()
    name = os.path.basename(sys.argv[0])
    spec.Env.openapi = spec.load_openapi()
    settings = {"session_preload_libraries": "'auto_explain'", "auto_explain.log_min_duration": "-1",
                "log_min_messages": "log"}
    bindir = pgtest.find_bindir()
    libdirs = [os.path.join(os.path.dirname(bindir), "lib")] if bindir else []
    if not any(os.path.exists(os.path.join(d, "auto_explain.so")) for d in libdirs):
        settings = {}
        Env.no_auto_explain = True
    with pgtest.PgCluster(fast=True, settings=settings) as pg:
        Env.pg = pg
        # the schema first, then tokens
        Env.tok.update(create_tokens(pg.dsn, check=check))
        Env.dir = tempfile.mkdtemp(prefix="acs-pol-")
        write_dir(Env.dir, tree("GEN-1"))
        args = ["--pg", pg.dsn, "--policies", Env.dir, "--log-level", "info"]
        with Acsd(args) as a, Acsd(args) as b:
            Env.a, Env.b = a, b
            a.wait_ready()
            b.wait_ready()
            run_tests(TESTS, [("acsd A", a), ("acsd B", b)], tail=3000)
    print("%d checks passed" % (CHECKS + spec.CHECKS), flush=True)
    sys.exit(0)


if __name__ == "__main__":
    main()
