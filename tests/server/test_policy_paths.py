#!/usr/bin/env python3
"""One push path (docs/policies.md, "Generations"): `acsd policies push DIR`,
`acsctl policies push DIR`, POST /api/v1/policies and the watcher of
--policies DIR take the same tree layout (virtual/ included) and store
identical generations, each with its policy.push audit row; acsd serves the
store's current generation whether or not --policies is given; a restart
with --policies DIR imports DIR only when its content differs from the
generation last stored from DIR, and says which generation wins and why.
Runs against the shipped example policies (they have a virtual/ folder)."""
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
from policytest import tree_of  # noqa: E402,F401  (the other policy tests take it from here too)
from acstest import Acsd, Fail, check  # noqa: E402

SOURCE = os.environ.get("ACS_SOURCE_DIR") or os.path.join(HERE, "..", "..")


class Env:
    pg = None
    tok = None
    dir = None
    acsd = None


H = policytest.Helpers(Env, timeout=15)
psql, api, cli_push, acsctl = H.psql, H.api, H.cli_push, H.acsctl_out


def gens():
    """id -> (created_by, checksum, files as text, source)."""
    out = {}
    for line in psql("SELECT id, created_by, checksum, md5(files::text), coalesce(source, '') "
                     "FROM policy_generations ORDER BY id").splitlines():
        i, by, ck, files, src = line.split("|")
        out[int(i)] = (by, ck, files, src)
    return out


def served_everywhere(gen, timeout=6.0):
    deadline = time.monotonic() + timeout
    doc = None
    while time.monotonic() < deadline:
        st, doc = api("GET", "/api/v1/policies")
        if st == 200 and doc["workers"] and all(w == gen for w in doc["workers"]):
            return doc
        time.sleep(0.1)
    raise Fail("generation %s not served by every worker: %r" % (gen, doc))


def start(args=()):
    a = Acsd(["--pg", Env.pg.dsn, "--log-level", "info"] + list(args))
    a.wait_ready()
    Env.acsd = a
    return a


def stop():
    Env.acsd.kill()
    Env.acsd = None


def edit(d, rel, text):
    with open(os.path.join(d, rel), "a") as f:
        f.write(text)


# --- tests

def test_same_tree_every_path():
    """The CLI, the API (and acsctl through it) store one generation for one
    tree, virtual/ included; a forced API push is byte for byte the CLI's."""
    rc, out = cli_push(Env.dir)
    check(rc == 0 and out.startswith("generation 1\n"), "acsd policies push: %d %s" % (rc, out))
    g = gens()
    check(len(g) == 1 and g[1][0].startswith("cli:"), "generations %r" % g)
    files = json.loads(psql("SELECT files::text FROM policy_generations WHERE id = 1"))
    check(any(k.startswith("virtual/") for k in files), "the CLI dropped virtual/: %r" % sorted(files))
    start()
    # acsd without --policies serves the store's generation
    served_everywhere(1)
    st, doc = api("POST", "/api/v1/policies", {"files": tree_of(Env.dir), "source": "api"})
    check(st == 200 and doc["id"] == 1, "the API's push of the same tree: %d %r" % (st, doc))
    check(any(f.startswith("virtual/") for f in doc["files"]), "files %r" % doc["files"])
    rc, out = acsctl("policies", "push", Env.dir)
    check(rc == 0 and out.startswith("generation 1:"), "acsctl policies push: %d %s" % (rc, out))
    st, doc = api("POST", "/api/v1/policies?force=true", {"files": tree_of(Env.dir)})
    check(st == 201 and doc["id"] == 2, "forced push %d %r" % (st, doc))
    g = gens()
    check(g[2][1:3] == g[1][1:3], "the API's generation differs from the CLI's: %r" % g)
    served_everywhere(2)


def test_acsctl_push_virtual():
    """acsctl pushes a changed tree with virtual/ (it used to drop the folder)."""
    edit(Env.dir, "virtual/WiFiSSID.lua", "-- acsctl\n")
    rc, out = acsctl("policies", "push", Env.dir)
    check(rc == 0 and out.startswith("generation 3:"), "acsctl policies push: %d %s" % (rc, out))
    g = gens()
    check(g[3][3] == os.path.realpath(Env.dir), "acsctl's source %r" % (g[3],))
    rc, out = cli_push(Env.dir)
    check(rc == 0 and "generation 3 (unchanged" in out, "the CLI after acsctl: %d %s" % (rc, out))
    files = json.loads(psql("SELECT files::text FROM policy_generations WHERE id = 3"))
    check(files["virtual/WiFiSSID"].endswith("-- acsctl\n"), "virtual/ not pushed by acsctl")
    served_everywhere(3)


def test_restart_keeps_newer_push():
    """A restart with --policies DIR, DIR unchanged since it was stored,
    keeps the newer generation pushed through the API, and says why."""
    api_tree = tree_of(Env.dir)
    api_tree["provisions/extra.lua"] = "-- pushed through the API\n"
    st, doc = api("POST", "/api/v1/policies", {"files": api_tree, "source": "api"})
    check(st == 201 and doc["id"] == 4, "API push %d %r" % (st, doc))
    stop()
    a = start(["--policies", Env.dir])
    check(len(gens()) == 4, "the restart stored a generation: %r" % gens())
    served_everywhere(4)
    log = a.log()
    check("is not imported: it has not changed since it was stored as generation 3" in log and
          "generation 4 (by admin" in log and "stays current" in log,
          "the log does not say which generation wins and why:\n%s" % log)


def test_restart_imports_changed_dir():
    """An edited DIR is imported at the restart, replacing the newer push,
    and the log says so."""
    stop()
    edit(Env.dir, "presets/default.lua", "-- edited\n")
    a = start(["--policies", Env.dir])
    g = gens()
    check(len(g) == 5 and g[5][0] == "acsd:start" and g[5][3] == os.path.realpath(Env.dir),
          "generations %r" % g)
    served_everywhere(5)
    check("is imported as generation 5 (it changed since it was stored as generation 3) and "
          "replaces generation 4" in a.log(), "log:\n%s" % a.log())


def test_watcher_push_audited():
    """The watcher's generations are pushes like the others: audited, the
    same checksum as the CLI's for the same tree, none for a file touched
    with the same text."""
    edit(Env.dir, "virtual/WANIPAddress.lua", "-- watched\n")
    deadline = time.monotonic() + 8
    while time.monotonic() < deadline and len(gens()) < 6:
        time.sleep(0.2)
    g = gens()
    check(len(g) == 6 and g[6][0] == "watcher", "the watcher stored %r" % g)
    served_everywhere(6)
    rc, out = cli_push(Env.dir)
    check(rc == 0 and "generation 6 (unchanged" in out, "the CLI after the watcher: %d %s" % (rc, out))
    # the same text written again: no generation
    p = os.path.join(Env.dir, "virtual/WANIPAddress.lua")
    with open(p) as f:
        text = f.read()
    with open(p, "w") as f:
        f.write(text)
    time.sleep(3)
    check(len(gens()) == 6, "a file written with the same text made a generation: %r" % gens())
    # a broken edit is refused once, the current generation keeps serving
    edit(Env.dir, "provisions/wifi.lua", "this is not lua(\n")
    deadline = time.monotonic() + 8
    while time.monotonic() < deadline and len(gens()) < 7:
        time.sleep(0.2)
    check(psql("SELECT valid, created_by FROM policy_generations WHERE id = 7") == "f|watcher",
          "the broken tree: %r" % gens())
    served_everywhere(6)


def test_every_generation_audited():
    rows = psql("SELECT g.id, g.created_by FROM policy_generations g WHERE NOT EXISTS (SELECT 1 FROM "
                "audit_log a WHERE a.action = 'policy.push' AND a.target = g.id::text) ORDER BY g.id")
    check(rows == "", "generations without their policy.push audit row: %r" % rows)
    actors = psql("SELECT string_agg(DISTINCT actor, ',' ORDER BY actor) FROM audit_log "
                  "WHERE action = 'policy.push'")
    check("watcher" in actors and "acsd:start" in actors and "admin" in actors, "actors %r" % actors)


def test_clean_shutdown():
    Env.acsd.signal()
    rc, _ = Env.acsd.wait_exit(20)
    Env.acsd.check_clean_exit(rc)


TESTS = [test_same_tree_every_path, test_acsctl_push_virtual, test_restart_keeps_newer_push,
         test_restart_imports_changed_dir, test_watcher_push_audited, test_every_generation_audited,
         test_clean_shutdown]


def main():
    pgtest.skip_unless_available()
    spec.Env.openapi = spec.load_openapi()
    tmp = tempfile.mkdtemp(prefix="acs-paths-")
    Env.dir = os.path.join(tmp, "policies")
    shutil.copytree(os.path.join(SOURCE, "policies"), Env.dir)
    policytest.main(Env, TESTS, tmp)


if __name__ == "__main__":
    main()
