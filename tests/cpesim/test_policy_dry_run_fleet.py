#!/usr/bin/env python3
"""The dry run at push over data models that real sessions stored
(docs/policies.md, "The dry run"): real PostgreSQL, acsd (2 workers) with
the example policies, and 24 cpesim devices that boot once, 12 TR-181
(prefix DA) and 12 TR-098 (prefix DB), so that the store holds what their
bootstrap listed and read.

  - the example policies, pushed again (one comment more), pass the dry run
    over every stored device of both models: 201, the audit row's dry run
    checked the 20 devices of the sample, with no error;
  - the examples plus a provision that lowers Device.DeviceInfo.ModelName
    (a TR-181 name: nil on TR-098 devices) are refused with 422: each error
    names provisions/model.lua, line 2, a TR-098 device and "attempt to
    index a nil value"; no TR-181 device is among them, the sample holds
    both, and the current generation is still the one served;
  - POST /api/v1/policies/test of that tree on a TR-181 device: the RPCs its
    session would send (the model name is fresh: no read; the interval set
    by SetParameterValues), no fault; on a TR-098 device: the fault, line 2;
  - nothing of it is written: the parameters, faults and tasks of the fleet
    are as before.

Exits 0 (pass), 1 (fail) or 77 (skipped: no PostgreSQL or no binaries).
"""
import json
import os
import shutil
import sys

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
sys.path.insert(0, HERE)
import simtest  # noqa: E402
from simtest import bin_path, check, run_test, wait_for  # noqa: E402

SOURCE = os.environ.get("ACS_SOURCE_DIR") or os.path.join(HERE, "..", "..")
N = 12
MODEL = """-- the model name, lowered, into the interval's log line
local name = declare("Device.DeviceInfo.ModelName", {value = -86400}).value:lower()
set(root() .. "ManagementServer.PeriodicInformInterval", 900)
log("info", "model " .. name)
"""
PRESET = 'return {{name = "model", events = {"2 PERIODIC"}, provisions = {"model"}, channel = "model"}}\n'


def read_tree(d):
    files = {}
    for kind in sorted(os.listdir(d)):
        if os.path.isdir(os.path.join(d, kind)):
            for f in sorted(os.listdir(os.path.join(d, kind))):
                if f.endswith(".lua"):
                    with open(os.path.join(d, kind, f)) as fh:
                        files["%s/%s" % (kind, f)] = fh.read()
    return files


class World(simtest.World):
    api_timeout = 60

    def __init__(self, pg, tmp):
        super().__init__(pg, tmp)
        self.tree = os.path.join(tmp, "policies")
        shutil.copytree(os.path.join(SOURCE, "policies"), self.tree)
        self.start_acsd("--pg", pg.dsn, "--workers", "2", "--policies", self.tree,
                        "--log-level", "info")
        self.token = simtest.create_token(pg.dsn, "admin", "ops")
        self.sims = []

    def boot(self):
        """One bootstrap session per device, both models."""
        for prefix, model in (("DA", None), ("DB", "tr098")):
            argv = [bin_path("cpesim"), "--acs", "http://127.0.0.1:%d/" % self.cwmp, "--count", str(N),
                    "--serial-prefix", prefix, "--sessions", str(N), "--concurrency", "6", "--no-loop",
                    "--seed", "7", "--quiet"] + (["--model", model] if model else [])
            sim = self.spawn(argv)
            self.sims.append(sim)
            rc = sim.wait(120)
            check(rc == 0, "cpesim %s exited %d: %s" % (prefix, rc, sim.log()[-2000:]))

    def snapshot(self):
        return self.sql("SELECT (SELECT md5(string_agg(device_id || name || coalesce(value, '') || "
                        "coalesce(value_at::text, ''), ',' ORDER BY device_id, name)) FROM parameters), "
                        "(SELECT count(*) FROM faults), (SELECT count(*) FROM tasks), "
                        "(SELECT count(*) FROM alarms)")

    def current(self):
        st, doc = self.call("GET", "/api/v1/policies")
        check(st == 200, "GET /api/v1/policies: %d" % st)
        return doc["current"]["id"] if doc["current"] else None


def run(w):
    w.boot()
    kinds = w.sql("SELECT string_agg(k || '=' || n, ' ' ORDER BY k) FROM (SELECT left(serial_number, 2) "
                  "AS k, count(*) AS n FROM devices GROUP BY 1) x")
    check(kinds == "DA=%d DB=%d" % (N, N), "devices stored: %r" % kinds)
    small = w.sql("SELECT min(n) FROM (SELECT count(*) AS n FROM parameters GROUP BY device_id) x")
    check(int(small) > 100, "every device's tree stored (the smallest has %s names)" % small)
    yield "%d TR-181 and %d TR-098 devices booted, their trees stored" % (N, N)

    before = w.snapshot()
    files = read_tree(w.tree)
    files["presets/default.lua"] += "-- pushed again\n"
    st, g = w.call("POST", "/api/v1/policies", {"files": files, "source": "dry run fleet"})
    check(st == 201 and g["valid"], "the examples: %d %r" % (st, g))
    good = g["id"]
    d = json.loads(w.sql("SELECT detail::text FROM audit_log WHERE action = 'policy.push' AND "
                         "target = '%d'" % good))["dry_run"]
    check(d["devices"] == 20 and d["checked"] == 20 and d["errors"] == 0 and d["sampled"] == 2 * N,
          "the examples' dry run: %r" % d)
    yield "the example policies pass the dry run over 20 stored devices of both models (%d ms)" % d["ms"]

    wait_for("generation %d served" % good, lambda: w.current() == good, 10)
    bad = dict(files)
    bad["provisions/model.lua"] = MODEL
    bad["presets/model.lua"] = PRESET
    st, doc = w.call("POST", "/api/v1/policies", {"files": bad, "source": "dry run fleet"})
    check(st == 422, "the model provision: %d %r" % (st, doc))
    errs = doc["dry_run"]
    devs = sorted(e["device"] for e in errs)
    serial = {r.split("|")[0]: r.split("|")[1] for r in
              w.sql("SELECT id, serial_number FROM devices").splitlines()}
    check(errs and all(serial[x].startswith("DB") for x in devs), "only TR-098 devices: %r" % devs)
    check(all(e["file"] == "provisions/model.lua" and e["line"] == 2 and
              "attempt to index a nil value" in e["message"] for e in errs), "errors %r" % errs)
    check(doc["file"] == "provisions/model.lua" and doc["line"] == 2 and doc["device"] == errs[0]["device"],
          "the 422's first error %r" % doc)
    check(w.current() == good, "the examples still serve")
    yield "refused: %d TR-098 devices with provisions/model.lua:2 (e.g. %s: %s)" % (
        len(errs), errs[0]["device"], errs[0]["message"])

    d181 = [x for x, s in serial.items() if s.startswith("DA")][0]
    d098 = [x for x, s in serial.items() if s.startswith("DB")][0]
    st, r = w.call("POST", "/api/v1/policies/test", {"files": bad, "device": d181})
    check(st == 200 and r["faults"] == [], "test on %s: %d %r" % (d181, st, r))
    spv = [e for e in r["rpcs"] if e["rpc"] == "SetParameterValues"]
    check(len(spv) == 1 and {"Name": "Device.ManagementServer.PeriodicInformInterval", "Value": "900",
                             "Type": "xsd:unsignedInt"} in spv[0]["request"]["ParameterList"],
          "the interval set: %r" % r["rpcs"])
    check(r["set"].get("Device.ManagementServer.PeriodicInformInterval") == "900", "set %r" % r["set"])
    model = w.sql("SELECT lower(value) FROM parameters WHERE device_id = '%s' AND "
                  "name = 'Device.DeviceInfo.ModelName'" % d181)
    check({"level": "info", "message": "model " + model} in r["logs"], "log %r" % r["logs"])
    st, r = w.call("POST", "/api/v1/policies/test", {"files": bad, "device": d098})
    check(st == 200 and [f["line"] for f in r["faults"] if f["file"] == "provisions/model.lua"] == [2],
          "test on %s: %r" % (d098, r["faults"]))
    yield "policies test: %s would set the interval (%d RPCs), %s would fault at line 2" % (
        d181, len(spv), d098)
    check(w.snapshot() == before, "the dry runs wrote to the store")
    yield "nothing written by the dry runs"


def logs(w):
    return [("acsd", w.acsd)] + [("cpesim", s) for s in w.sims]


if __name__ == "__main__":
    sys.exit(run_test(World, run, logs, prefix="acs-dryfleet-"))
