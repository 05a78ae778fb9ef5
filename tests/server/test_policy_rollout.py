#!/usr/bin/env python3
"""Checked before it serves, and generations served again (docs/policies.md,
"Checked before it serves" and "Generations"): a push whose static checks
find an unknown global is refused with file and line on every path (POST
/api/v1/policies, `acsd policies push`, `acsctl policies push`), stored as
refused while the current generation keeps serving; --force stores it as
valid, audited as forced with its findings; `activate N` and `rollback`
(API and acsctl) move the served generation, every worker follows, each
audited with who and why; refused or unknown generations cannot be
activated; a restart serves the activated generation, not the newest; every
generation's source comes back as pushed (API, and acsctl as a tree)."""
import json
import os
import shutil
import sys
import tempfile
import time

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "lib"))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
sys.path.insert(0, HERE)
import pgtest  # noqa: E402
import policytest  # noqa: E402
import test_api_queries as spec  # noqa: E402  (the OpenAPI checker)
from acstest import Acsd, Fail, check  # noqa: E402
from policytest import tree_of  # noqa: E402

SOURCE = os.environ.get("ACS_SOURCE_DIR") or os.path.join(HERE, "..", "..")
BAD = "-- reads a global that no run has\nlocal v = undefined_thing\nreturn v\n"


class Env:
    pg = None
    tok = None
    dir = None
    bad = None
    tmp = None
    acsd = None


H = policytest.Helpers(Env, timeout=15)
psql, api, cli_push, acsctl = H.psql, H.api, H.cli_push, H.acsctl_out


def ngens():
    return int(psql("SELECT count(*) FROM policy_generations"))


def served_everywhere(gen, timeout=6.0):
    deadline = time.monotonic() + timeout
    doc = None
    while time.monotonic() < deadline:
        st, doc = api("GET", "/api/v1/policies")
        if st == 200 and doc["workers"] and all(w == gen for w in doc["workers"]):
            return doc
        time.sleep(0.1)
    raise Fail("generation %s not served by every worker: %r" % (gen, doc))


def audit(action):
    """[(actor, target, detail)] of action, oldest first."""
    out = []
    for line in psql("SELECT actor, target, detail::text FROM audit_log WHERE action = '%s' "
                     "ORDER BY id" % action).splitlines():
        actor, target, detail = line.split("|", 2)
        out.append((actor, target, json.loads(detail)))
    return out


def start():
    Env.acsd = Acsd(["--pg", Env.pg.dsn, "--log-level", "info"])
    Env.acsd.wait_ready()


# --- tests

def test_unknown_global_refused_everywhere():
    rc, out = cli_push(Env.dir)
    check(rc == 0 and out.startswith("generation 1\n"), "the shipped tree: %d %s" % (rc, out))
    start()
    served_everywhere(1)
    # the API: 422 with file, line and every finding
    tree = tree_of(Env.dir)
    tree["provisions/bad.lua"] = BAD
    st, doc = api("POST", "/api/v1/policies", {"files": tree})
    check(st == 422, "API push: %d %r" % (st, doc))
    check(doc["file"] == "provisions/bad.lua" and doc["line"] == 2 and
          doc["message"] == "unknown global 'undefined_thing'", "422 body %r" % doc)
    check(doc["findings"] == ["provisions/bad.lua:2: unknown global 'undefined_thing'"],
          "findings %r" % doc["findings"])
    check(doc["generation"]["valid"] is False and doc["generation"]["id"] == 2, "%r" % doc)
    # acsd policies push
    rc, out = cli_push(Env.bad)
    check(rc == 1 and "provisions/bad:2: unknown global 'undefined_thing'" in out and
          "refused (stored as generation 3" in out, "acsd policies push: %d %s" % (rc, out))
    # acsctl, several findings: each on its line
    with open(os.path.join(Env.bad, "provisions", "bad2.lua"), "w") as f:
        f.write("counter = 1\nlocal x = string.dump\n")
    rc, out = acsctl("policies", "push", Env.bad)
    check(rc != 0 and "3 findings" in out and "provisions/bad.lua:2: unknown global" in out and
          "provisions/bad2.lua:1: setting unknown global 'counter'" in out and
          "provisions/bad2.lua:2: unknown field 'dump' of global 'string'" in out,
          "acsctl policies push: %d %s" % (rc, out))
    check(psql("SELECT count(*) FROM policy_generations WHERE valid") == "1", "a refused tree is valid")
    served_everywhere(1)


def test_forced_push_audited():
    rc, out = acsctl("policies", "push", Env.bad, "--force")
    check(rc == 0 and out.startswith("generation 5:"), "acsctl --force: %d %s" % (rc, out))
    served_everywhere(5)
    last = audit("policy.push")[-1]
    check(last[1] == "5" and last[2]["force"] is True and last[2]["valid"] is True and
          len(last[2]["findings"]) == 3 and "provisions/bad.lua:2: unknown global 'undefined_thing'"
          in last[2]["findings"], "the forced push's audit row %r" % (last,))
    first = audit("policy.push")[0]
    check(first[2]["force"] is False and first[2]["findings"] is None, "a plain push's %r" % (first,))


def test_activate_and_rollback():
    st, doc = api("POST", "/api/v1/policies/activate", {"generation": 1, "reason": "bad push"})
    check(st == 200 and doc["generation"]["id"] == 1 and doc["previous"] == 5, "%d %r" % (st, doc))
    served_everywhere(1)
    st, doc = api("POST", "/api/v1/policies/rollback", {"reason": "nothing older"})
    check(st == 409 and "older than the current one (1)" in doc["error"], "%d %r" % (st, doc))
    st, doc = api("POST", "/api/v1/policies/activate", {"generation": 2})
    check(st == 409 and "generation 2 was refused" in doc["error"], "refused: %d %r" % (st, doc))
    st, doc = api("POST", "/api/v1/policies/activate", {"generation": 99})
    check(st == 404, "unknown: %d %r" % (st, doc))
    st, doc = api("POST", "/api/v1/policies/activate", {"generation": "1"})
    check(st == 400, "a string: %d %r" % (st, doc))
    rc, out = acsctl("policies", "activate", "5", "--reason", "forward again")
    check(rc == 0 and "generation 5 is current (was 1)" in out, "acsctl activate: %d %s" % (rc, out))
    served_everywhere(5)
    rc, out = acsctl("policies", "rollback", "--reason", "the findings were real")
    check(rc == 0 and "generation 1 is current (was 5)" in out, "acsctl rollback: %d %s" % (rc, out))
    served_everywhere(1)
    rows = audit("policy.activate") + audit("policy.rollback")
    want = [("admin", "1", 5, "bad push"), ("admin", "5", 1, "forward again"),
            ("admin", "1", 5, "the findings were real")]
    got = [(a, t, d["previous"], d["reason"]) for a, t, d in rows]
    check(got == want, "audit rows %r" % got)
    # the push of the current tree is unchanged; a push of a newer one serves it
    rc, out = cli_push(Env.dir)
    check(rc == 0 and "generation 1 (unchanged" in out, "push of the current tree: %s" % out)


def test_restart_serves_the_activated():
    Env.acsd.kill()
    start()
    served_everywhere(1)
    log = Env.acsd.log()
    check("serving policy generation 1" in log, "start-up log:\n%s" % log)


def test_source_download():
    st, doc = api("GET", "/api/v1/policies/generations/1/source")
    check(st == 200 and doc["id"] == 1 and doc["valid"] is True, "%d %r" % (st, doc))
    check(doc["files"] == tree_of(Env.dir), "the source differs from the pushed tree")
    st, doc = api("GET", "/api/v1/policies/generations/2/source")
    check(st == 200 and doc["valid"] is False and doc["files"]["provisions/bad.lua"] == BAD,
          "a refused generation's source: %d" % st)
    st, doc = api("GET", "/api/v1/policies/generations/77/source")
    check(st == 404, "unknown: %d %r" % (st, doc))
    out_dir = os.path.join(Env.tmp, "gen5")
    rc, out = acsctl("policies", "source", "5", "--out", out_dir)
    check(rc == 0 and "written to" in out, "acsctl policies source: %d %s" % (rc, out))
    check(tree_of(out_dir) == tree_of(Env.bad), "the written tree differs from what was pushed")
    # it pushes back as the same generation
    rc, out = cli_push(out_dir)
    check(rc == 1 and "unknown global" in out, "re-push of 5's tree without --force: %s" % out)
    rc, out = cli_push(out_dir, "--force")
    check(rc == 0, "forced re-push: %d %s" % (rc, out))
    ck = psql("SELECT string_agg(checksum, ' ' ORDER BY id) FROM policy_generations WHERE id IN "
              "(5, (SELECT max(id) FROM policy_generations))").split()
    check(len(ck) == 2 and ck[0] == ck[1], "checksums %r" % ck)


TESTS = [test_unknown_global_refused_everywhere, test_forced_push_audited, test_activate_and_rollback,
         test_restart_serves_the_activated, test_source_download]


def main():
    pgtest.skip_unless_available()
    spec.Env.openapi = spec.load_openapi()
    Env.tmp = tempfile.mkdtemp(prefix="acs-rollout-")
    Env.dir = os.path.join(Env.tmp, "policies")
    shutil.copytree(os.path.join(SOURCE, "policies"), Env.dir)
    Env.bad = os.path.join(Env.tmp, "bad")
    shutil.copytree(os.path.join(SOURCE, "policies"), Env.bad)
    with open(os.path.join(Env.bad, "provisions", "bad.lua"), "w") as f:
        f.write(BAD)
    policytest.main(Env, TESTS, Env.tmp)


if __name__ == "__main__":
    main()
