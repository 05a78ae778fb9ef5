#!/usr/bin/env python3
"""The dry run at push and `policies test` (docs/policies.md, "The dry run"):
stored devices of two data models (TR-181 "Device." and TR-098
"InternetGatewayDevice.", rows written with SQL as sessions leave them),
and a provision that indexes a value only TR-181 devices have:

- the API push is refused (422) with file, line, device and message, one
  error per TR-098 device and none for a TR-181 one; the refused tree is
  stored as not valid and the old generation still serves; nothing is
  written for the devices (parameters, faults, tasks, alarms, tags);
- `acsd policies push` refuses it with the same clear text, and with
  --policy-dry-run-devices 0 (the dry run off) stores it;
- `acsctl policies push` prints each error on its line; --force stores it,
  audited as forced with the dry run skipped;
- a good tree's push records its dry run (devices checked, no errors) in
  its audit row;
- POST /api/v1/policies/test and `acsctl policies test DIR --device ID`
  show what a session would do: the RPCs in order, the values set, the
  alarm raised, the action asked for, log lines, and for a TR-098 device
  the fault with its line; 404 for an unknown device, 422 for a tree that
  does not compile, and nothing stored.
Every answer is checked against api/openapi.yaml."""
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

PRESETS = """return {
  {name = "lan", events = {"1 BOOT"}, provisions = {"lan"}, channel = "lan"},
}
"""
# line 3 indexes the model name, which a TR-098 device does not have under Device.
BAD = """-- the LAN side from the device's model name
local model = declare("Device.DeviceInfo.ModelName", {value = -86400}).value
log("info", "model " .. model:lower())
set("Device.ManagementServer.PeriodicInformInterval", 600)
"""
GOOD = """-- the LAN side from the device's model name, where it has one
local model = declare("Device.DeviceInfo.ModelName", {value = -86400}).value
if model then log("info", "model " .. model:lower()) end
set(root() .. "ManagementServer.PeriodicInformInterval", 600)
declare(root() .. "LANDevice.", {path = true})
if has_tag("lab") then reboot(1) end
"""
ALARM = """-- a device with a short interval is flagged
local v = declare(root() .. "ManagementServer.PeriodicInformInterval", {value = -86400}).value
alarm_if(tonumber(v or "0") < 400, "minor", "short inform interval", "interval")
"""

TR181 = ["00D09E-HG1-SN%d" % i for i in range(3)]
TR098 = ["00D09E-RT9-SN%d" % i for i in range(3)]


class Env:
    pg = None
    tok = None
    tmp = None
    good = None
    bad = None
    acsd = None


H = policytest.Helpers(Env)
psql, api, cli_push, acsctl = H.psql, H.api, H.cli_push, H.acsctl


def write_tree(d, provision):
    for kind in ("presets", "provisions", "alarms"):
        os.makedirs(os.path.join(d, kind), exist_ok=True)
    with open(os.path.join(d, "presets", "lan.lua"), "w") as f:
        f.write(PRESETS)
    with open(os.path.join(d, "provisions", "lan.lua"), "w") as f:
        f.write(provision)
    with open(os.path.join(d, "alarms", "interval.lua"), "w") as f:
        f.write(ALARM)


def add_devices():
    rows = []
    for ids, root, model in ((TR181, "Device.", "HG-One"), (TR098, "InternetGatewayDevice.", None)):
        for i, dev in enumerate(ids):
            oui, pc, sn = dev.split("-")
            psql("INSERT INTO devices (id, oui, product_class, serial_number, manufacturer, "
                 "software_version, last_inform, tags) VALUES ('%s', '%s', '%s', '%s', 'Acme', "
                 "'1.%d', now(), '{%s}')" % (dev, oui, pc, sn, i, "lab" if i == 0 else ""))
            params = [(root, None, None, False, True), (root + "DeviceInfo.", None, None, False, True),
                      (root + "ManagementServer.", None, None, False, True),
                      (root + "ManagementServer.PeriodicInformInterval", "300", "xsd:unsignedInt",
                       True, False),
                      (root + "DeviceInfo.SoftwareVersion", "1.%d" % i, "xsd:string", False, False)]
            if model:
                params.append((root + "DeviceInfo.ModelName", model, "xsd:string", False, False))
            else:
                params += [(root + "LANDevice.", None, None, False, True),
                           (root + "LANDevice.1.", None, None, False, True),
                           (root + "LANDevice.1.Enable", "1", "xsd:boolean", True, False)]
            for name, value, typ, writable, obj in params:
                rows.append("('%s', '%s', %s, %s, %s, %s, now(), now())" % (
                    dev, name, "'%s'" % value if value is not None else "NULL",
                    "'%s'" % typ if typ else "NULL", "true" if writable else "false",
                    "true" if obj else "false"))
    psql("INSERT INTO parameters (device_id, name, value, xsd_type, writable, is_object, value_at, "
         "names_at) VALUES " + ", ".join(rows))


def snapshot():
    """What a dry run must not change."""
    return psql("SELECT (SELECT md5(string_agg(device_id || name || coalesce(value, '') || "
                "coalesce(value_at::text, '') || coalesce(names_at::text, ''), ',' ORDER BY device_id, "
                "name)) FROM parameters), (SELECT count(*) FROM faults), (SELECT count(*) FROM tasks), "
                "(SELECT count(*) FROM alarms), (SELECT string_agg(array_to_string(tags, '+'), ',' "
                "ORDER BY id) FROM devices)")


def current():
    st, doc = api("GET", "/api/v1/policies")
    check(st == 200, "GET /api/v1/policies: %d" % st)
    return doc["current"]["id"] if doc["current"] else None


def served(gen, timeout=6.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if current() == gen:
            return
        time.sleep(0.1)
    raise Fail("generation %s is not served" % gen)


def audit_detail(gen):
    return json.loads(psql("SELECT detail::text FROM audit_log WHERE action = 'policy.push' AND "
                           "target = '%s'" % gen))


# --- tests

def test_good_push_records_its_dry_run():
    st, doc = api("POST", "/api/v1/policies", {"files": tree_of(Env.good)})
    check(st == 201 and doc["valid"] is True, "good push: %d %r" % (st, doc))
    Env.gen = doc["id"]
    served(Env.gen)
    d = audit_detail(Env.gen)["dry_run"]
    check(d["devices"] == 6 and d["checked"] == 6 and d["errors"] == 0 and d["stopped"] is None,
          "the audit row's dry run: %r" % d)


def test_runtime_error_refused_by_the_api():
    before = snapshot()
    st, doc = api("POST", "/api/v1/policies", {"files": tree_of(Env.bad)})
    check(st == 422, "bad push: %d %r" % (st, doc))
    check(doc["file"] == "provisions/lan.lua" and doc["line"] == 3 and doc["device"] in TR098,
          "422 body: %r" % doc)
    check("attempt to index a nil value" in doc["message"], "message %r" % doc["message"])
    check(doc["error"].startswith("provisions/lan.lua:3: ") and doc["device"] in doc["error"],
          "error text %r" % doc["error"])
    errs = doc["dry_run"]
    check(sorted(e["device"] for e in errs) == TR098, "one error per TR-098 device: %r" % errs)
    check(all(e["file"] == "provisions/lan.lua" and e["line"] == 3 and e["code"] == "script.error"
              and e["channel"] == "lan" for e in errs), "errors %r" % errs)
    check(doc["generation"]["valid"] is False, "stored as refused: %r" % doc["generation"])
    served(Env.gen)
    check(current() == Env.gen, "the old generation still serves")
    check(snapshot() == before, "the dry run wrote: %r -> %r" % (before, snapshot()))


def test_cli_push_refused_and_the_knob():
    rc, out = cli_push(Env.bad)
    check(rc == 1 and "refused by the dry run" in out and "3 error(s) over 6 stored device(s)" in out,
          "acsd policies push: %d %s" % (rc, out))
    check("provisions/lan.lua:3: device %s: " % TR098[0] in out and "attempt to index a nil value" in out,
          "the error's line: %s" % out)
    served(Env.gen)
    rc, out = cli_push(Env.bad, "--policy-dry-run-devices", "0")
    check(rc == 0 and out.startswith("generation "), "with the dry run off: %d %s" % (rc, out))
    gen = int(out.split()[1])
    check(audit_detail(gen).get("dry_run") is None, "no dry run recorded: %r" % audit_detail(gen))
    served(gen)
    # back to the good tree for the rest
    st, doc = api("POST", "/api/v1/policies", {"files": tree_of(Env.good)})
    check(st == 201, "re-push of the good tree: %d %r" % (st, doc))
    Env.gen = doc["id"]
    served(Env.gen)


def test_each_preset_finds_its_devices():
    # two devices of six: the model spread picks TR-181 ones first, but the
    # preset for RT9 devices gets one of those
    d = os.path.join(Env.tmp, "rt9")
    write_tree(d, BAD)
    with open(os.path.join(d, "presets", "lan.lua"), "w") as f:
        f.write('return {{name = "lan", precondition = {product_class = "RT9", tags = {"lab"}}, '
                'provisions = {"lan"}, channel = "lan"}}\n')
    rc, out = cli_push(d, "--policy-dry-run-devices", "2")
    check(rc == 1 and "1 error(s) over 2 stored device(s)" in out and
          "provisions/lan.lua:3: device %s: " % TR098[0] in out, "RT9 preset: %d %s" % (rc, out))
    gen = int(psql("SELECT max(id) FROM policy_generations"))
    d = audit_detail(gen)["dry_run"]
    check(d["devices"] == 2 and d["checked"] == 2 and d["presets_matched"] == 1 and d["sampled"] == 6,
          "summary %r" % d)


def test_session_budget_is_an_error():
    # a provision that never ends: the session's budget stops it on each
    # device, an error of that policy
    d = os.path.join(Env.tmp, "spin")
    write_tree(d, "local n = 0\nwhile true do n = n + 1 end\n")
    rc, out = cli_push(d, "--policy-dry-run-devices", "3")
    check(rc == 1 and "refused by the dry run" in out and "3 error(s) over 3 stored device(s)" in out
          and "provisions/lan.lua: device " in out and "budget exhausted" in out, "spin: %d %s" % (rc, out))
    gen = int(psql("SELECT max(id) FROM policy_generations"))
    e = json.loads(psql("SELECT error::text FROM policy_generations WHERE id = %d" % gen))
    check([x["code"] for x in e["dry_run"]] == ["script.timeout"] * 3 and e["line"] is None,
          "the faults' codes %r" % e)
    served(Env.gen)


def test_acsctl_push_and_force():
    rc, out, err = acsctl("policies", "push", Env.bad)
    check(rc == 5 and "the dry run over stored devices found 3 errors" in err, "acsctl: %d %s" % (rc, err))
    for dev in TR098:
        check("provisions/lan.lua:3: device %s: " % dev in err, "%s not in %s" % (dev, err))
    rc, out, err = acsctl("policies", "push", Env.bad, "--force")
    check(rc == 0 and out.startswith("generation "), "acsctl --force: %d %s %s" % (rc, out, err))
    gen = int(out.split()[1].rstrip(":"))
    d = audit_detail(gen)
    check(d["force"] is True and d["dry_run"] == {"skipped": "force"}, "forced audit row %r" % d)
    st, doc = api("POST", "/api/v1/policies/activate", {"generation": Env.gen, "reason": "back"})
    check(st == 200, "activate: %d %r" % (st, doc))
    served(Env.gen)


def test_policy_test_route():
    before = snapshot()
    ngen = psql("SELECT count(*) FROM policy_generations")
    st, r = api("POST", "/api/v1/policies/test", {"files": tree_of(Env.good), "device": TR181[0],
                                                  "events": ["1 BOOT"]})
    check(st == 200 and r["device"] == TR181[0] and r["events"] == ["1 BOOT"], "test: %d %r" % (st, r))
    kinds = [e["rpc"] for e in r["rpcs"]]
    check(kinds == ["GetParameterNames", "SetParameterValues"], "RPCs in order: %r" % kinds)
    check(r["rpcs"][0]["request"]["ParameterPath"] == "Device.LANDevice." and
          r["rpcs"][0]["fault"]["FaultCode"] == 9005, "the listing of a subtree it lacks: %r" % r["rpcs"][0])
    spv = r["rpcs"][1]["request"]["ParameterList"]
    check(spv == [{"Name": "Device.ManagementServer.PeriodicInformInterval", "Value": "600",
                   "Type": "xsd:unsignedInt"}], "SetParameterValues %r" % spv)
    check(r["set"] == {"Device.ManagementServer.PeriodicInformInterval": "600"}, "set %r" % r["set"])
    check(r["logs"] == [{"level": "info", "message": "model hg-one"}], "logs %r" % r["logs"])
    check([a["rpc"] for a in r["actions"]] == ["Reboot"], "the lab device's reboot: %r" % r["actions"])
    check(r["alarms"] == [{"rule": "alarms/interval", "key": "interval", "severity": "minor",
                           "message": "short inform interval"}], "alarm %r" % r["alarms"])
    check(r["faults"] == [] and r["stopped"] is None, "faults %r" % r["faults"])
    # a TR-098 device: the fault with its line; the preset's events must match now
    st, r = api("POST", "/api/v1/policies/test", {"files": tree_of(Env.bad), "device": TR098[1],
                                                  "events": ["1 BOOT"]})
    check(st == 200 and len(r["faults"]) == 1, "test of the bad tree: %d %r" % (st, r))
    f = r["faults"][0]
    check(f["file"] == "provisions/lan.lua" and f["line"] == 3 and f["code"] == "script.error" and
          "attempt to index a nil value" in f["message"], "fault %r" % f)
    st, r = api("POST", "/api/v1/policies/test", {"files": tree_of(Env.bad), "device": TR098[1],
                                                  "events": ["2 PERIODIC"]})
    check(st == 200 and r["faults"] == [] and r["rpcs"] == [], "no preset for 2 PERIODIC: %r" % r)
    st, r = api("POST", "/api/v1/policies/test", {"files": tree_of(Env.good), "device": "nope-x"})
    check(st == 404, "unknown device: %d %r" % (st, r))
    st, r = api("POST", "/api/v1/policies/test", {"files": {"provisions/x.lua": "local = 1"},
                                                  "device": TR181[0]})
    check(st == 422 and "provisions/x" in r["error"], "a tree that does not compile: %d %r" % (st, r))
    st, r = api("POST", "/api/v1/policies/test", {"files": tree_of(Env.good)})
    check(st == 400, "no device: %d %r" % (st, r))
    check(snapshot() == before and psql("SELECT count(*) FROM policy_generations") == ngen,
          "the test stored something")


def test_acsctl_policies_test():
    rc, out, err = acsctl("policies", "test", Env.good, "--device", TR181[0], "--event", "1 BOOT")
    check(rc == 0, "acsctl policies test: %d %s %s" % (rc, out, err))
    lines = out.splitlines()
    spv = [ln for ln in lines if ln.split()[1:2] == ["SetParameterValues"]]
    check(len(spv) == 1 and "Device.ManagementServer.PeriodicInformInterval=600" in spv[0],
          "the RPC table: %s" % out)
    check(any(ln.split() == ["Device.ManagementServer.PeriodicInformInterval", "600"] for ln in lines),
          "values set: %s" % out)
    check(any(ln.startswith("Reboot") for ln in lines) and "short inform interval" in out and
          "model hg-one" in out and "no policy faults" in out, "actions, alarm, log: %s" % out)
    rc, out, err = acsctl("--json", "policies", "test", Env.bad, "--device", TR098[0], "--event", "1 BOOT")
    doc = json.loads(out)
    check(rc == 9 and doc["faults"][0]["line"] == 3, "--json with a fault: %d %r" % (rc, doc))


def valid_of(gen):
    return psql("SELECT valid FROM policy_generations WHERE id = %d" % gen).strip() == "t"


def newest_gen():
    return int(psql("SELECT max(id) FROM policy_generations"))


def test_start_import_and_watcher_run_it():
    """--policies DIR: the import at start and the watcher's pushes run the
    dry run too; a refused tree is stored as not valid, the generation that
    serves stays."""
    watched = os.path.join(Env.tmp, "watched")
    shutil.rmtree(watched, ignore_errors=True)
    write_tree(watched, BAD)
    before = newest_gen()
    with Acsd(["--pg", Env.pg.dsn, "--log-level", "info", "--policies", watched]) as a:
        a.wait_ready()
        gen = newest_gen()
        check(gen == before + 1 and not valid_of(gen), "the import at start: %d (was %d), valid %r"
              % (gen, before, valid_of(gen)))
        log = a.log()
        check("is refused (stored as generation %d, not valid)" % gen in log and
              "provisions/lan.lua:3" in log and "attempt to index a nil value" in log,
              "the start's log: %s" % log[-2000:])
        check(current() == Env.gen, "the import replaced the generation that serves")
        # the watcher: a good tree is stored and served, a bad one refused
        shutil.rmtree(watched)
        write_tree(watched, GOOD + "\n-- watched\n")
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and "watcher: %s is stored as" % watched not in a.log():
            time.sleep(0.1)
        good = newest_gen()
        check(good > gen and valid_of(good), "the watcher's good tree: %d valid %r" % (
            good, valid_of(good)))
        served(good)
        shutil.rmtree(watched)
        write_tree(watched, BAD + "\n-- again\n")
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and "watcher: the changed tree is refused" not in a.log():
            time.sleep(0.1)
        bad = newest_gen()
        check(bad > good and not valid_of(bad), "the watcher's bad tree: %d valid %r" % (
            bad, valid_of(bad)))
        check("attempt to index a nil value" in a.log().split("watcher: the changed tree is "
                                                               "refused")[-1],
              "the watcher's refusal names the error: %s" % a.log()[-1500:])
        check(current() == good, "a refused tree replaced the generation that serves")
    # the rest of the tests push from the good tree through the API
    st, doc = api("POST", "/api/v1/policies", {"files": tree_of(Env.good)})
    check(st in (200, 201), "re-push of the good tree: %d %r" % (st, doc))
    Env.gen = doc["id"]
    served(Env.gen)


TESTS = [test_good_push_records_its_dry_run, test_runtime_error_refused_by_the_api,
         test_cli_push_refused_and_the_knob, test_each_preset_finds_its_devices,
         test_session_budget_is_an_error,
         test_acsctl_push_and_force, test_policy_test_route,
         test_acsctl_policies_test, test_start_import_and_watcher_run_it]


def main():
    pgtest.skip_unless_available()
    spec.Env.openapi = spec.load_openapi()
    Env.tmp = tempfile.mkdtemp(prefix="acs-dryrun-")
    Env.good = os.path.join(Env.tmp, "good")
    Env.bad = os.path.join(Env.tmp, "bad")
    write_tree(Env.good, GOOD)
    write_tree(Env.bad, BAD)

    def setup():
        add_devices()
        Env.acsd = Acsd(["--pg", Env.pg.dsn, "--log-level", "info"])
        Env.acsd.wait_ready()
    policytest.main(Env, TESTS, Env.tmp, setup)


if __name__ == "__main__":
    main()
