#!/usr/bin/env python3
"""Every RPC of docs/cpesim.md's table, queued through acsd's task API (stdlib only).

    ACS_BIN_DIR=build/bin python3 tests/cpesim/test_cpesim_rpcs.py

A throwaway PostgreSQL, the real acsd, an admin token (`acsd token create`),
a small file server (GET for downloads, PUT for uploads), and cpesim with 16
devices whose PeriodicInformInterval is 2 s: acsd cannot send connection
requests yet, so a queued task goes out at the device's next periodic Inform
(at most ~2 s later). Every task is queued with POST /api/v1/devices/{id}/tasks
(CWMP element names in args) and read back with GET /api/v1/tasks/{id}; each
scenario has a device of its own so that they all run at once, and each
checks the effect the table promises on the simulated device (cpesim's
/_sim/dev/SERIAL/get and /info control endpoints), in the task (status,
result, fault) and in the store (parameters, events, devices):

  GetRPCMethods            the 18 methods
  GetParameterNames        NextLevel true: children only, Writable; on a parameter 9003; unknown 9005
  GetParameterValues       the device's values, stored; unknown name 9005
  SetParameterValues       applied inside and stored, ParameterKey; read-only 9008, unknown 9005,
                           bad value 9007 (each in the fault's SetParameterValuesFault under 9003,
                           as TR-069 has it), nothing applied
  GetParameterAttributes   Notification and AccessList as inside the device, stored
  SetParameterAttributes   notification 2 + AccessList applied and stored; a local change then
                           informs "4 VALUE CHANGE" at once; always-active parameter 9009
  AddObject, DeleteObject  the instance appears / goes, inside and in the store
  Reboot                   a new session "1 BOOT" + "M Reboot" with the CommandKey (ack log, events)
  FactoryReset             "0 BOOTSTRAP" + "1 BOOT", values back to the defaults, data_stale
  Download                 firmware fetched from the file server, "1 BOOT" + "7 TRANSFER COMPLETE"
                           + "M Download"; TransferComplete with the task's CommandKey in its
                           result; SoftwareVersion 2.5.0 inside and in the store
  Upload                   the configuration PUT; TransferComplete "M Upload"
  ScheduleInform           "3 SCHEDULED" + "M ScheduleInform" after DelaySeconds; 0 s is 9003
  ScheduleDownload         a vendor configuration file in a window: applied, "M ScheduleDownload"
  GetQueuedTransfers, GetAllQueuedTransfers
                           a delayed Download and Upload listed (downloads only / all, State 1)
  CancelTransfer           both dropped (no TransferComplete); again: 9021
  ChangeDUState            Install: a DeploymentUnit instance, DUStateChangeComplete stored, "11
                           DU STATE CHANGE COMPLETE" + "M ChangeDUState"; Uninstall: gone
  anything else (9000)     cannot be queued: the API refuses other RPC names (400)

Exits 0 (pass), 1 (fail) or 77 (skipped: no PostgreSQL or no binaries).
"""
import json
import os
import socket
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
sys.path.insert(0, HERE)
import simtest  # noqa: E402
from simtest import Fail, Files, bin_path, check, free_port, wait_for, unavailable  # noqa: E402
import pgtest  # noqa: E402

SKIP = 77
COUNT = 16
PREFIX = "RP"
OUI, PCLASS = "02CAFE", "HG181"
INTERVAL = 2
RPCS = ["GetRPCMethods", "GetParameterNames", "GetParameterValues", "SetParameterValues",
        "GetParameterAttributes", "SetParameterAttributes", "AddObject", "DeleteObject", "Reboot",
        "FactoryReset", "Download", "Upload", "ScheduleInform", "ScheduleDownload",
        "CancelTransfer", "GetQueuedTransfers", "GetAllQueuedTransfers", "ChangeDUState"]



def serial(i):
    return "%s%06d" % (PREFIX, i)


def dev_id(i):
    return "%s-%s-%s" % (OUI, PCLASS, serial(i))



def http(method, url, body=None, headers=None, timeout=10):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


class World(simtest.World):
    """acsd, an admin token and cpesim with count devices (test_cpesim_firmware.py
    makes one too, with acsd_args of its own)."""

    def __init__(self, pg, files, acsd_args=(), count=COUNT):
        super().__init__(pg, None)
        self.files = files
        self.cr = free_port()
        self.ack = tempfile.NamedTemporaryFile(prefix="cpesim-rpc-ack-", delete=False).name
        self.sim = None
        self.start_acsd("--pg", pg.dsn, "--workers", "2", "--retry-after", "2", "--log-level",
                        "warn", *acsd_args)
        self.token = simtest.create_token(pg.dsn, "admin", "rpc-test")
        self.sim = self.spawn([bin_path("cpesim"), "--acs", "http://127.0.0.1:%d/" % self.cwmp,
                               "--count", str(count), "--first", "1", "--serial-prefix", PREFIX,
                               "--duration", "600", "--periodic-interval", str(INTERVAL),
                               "--cr-listen", "127.0.0.1:%d" % self.cr, "--ack-log", self.ack,
                               "--seed", "5", "--reboot-ms", "200", "--verbose"])

    def close(self):
        super().close()
        try:
            os.unlink(self.ack)
        except OSError:
            pass

    # --- the API
    def api_call(self, method, path, body=None):
        return http(method, "http://127.0.0.1:%d%s" % (self.api, path), body,
                    {"Authorization": "Bearer " + self.token})

    def task(self, i, rpc, args=None):
        body = {"rpc": rpc}
        if args is not None:
            body["args"] = args
        st, text = self.api_call("POST", "/api/v1/devices/%s/tasks" % urllib.parse.quote(
            urllib.parse.quote(dev_id(i), safe=""), safe=""), body)
        check(st == 201, "POST task %s for %s: %d %s" % (rpc, serial(i), st, text))
        return json.loads(text)["id"]

    def get_task(self, tid):
        st, text = self.api_call("GET", "/api/v1/tasks/%d" % tid)
        check(st == 200, "GET task %d: %d %s" % (tid, st, text))
        return json.loads(text)

    def wait_task(self, tid, timeout=20):
        return wait_for("task %d to finish" % tid, lambda: (lambda t: t if t["status"] not in (
            "pending", "sent") else None)(self.get_task(tid)), timeout)

    def done(self, tid, what):
        t = self.wait_task(tid)
        check(t["status"] == "done", "%s: %s %r %r" % (what, t["status"], t["fault"], t["result"]))
        return t["result"] or {}

    def faulted(self, tid, code, what):
        t = self.wait_task(tid)
        check(t["status"] == "fault" and t["fault"] and t["fault"]["code"] == code,
              "%s: expected fault %d, got %s %r" % (what, code, t["status"], t["fault"]))
        return t

    # --- the simulated devices
    def sim_req(self, path):
        check(self.sim.alive(), "cpesim exited:\n" + self.sim.log()[-3000:])
        return http("GET", "http://127.0.0.1:%d%s" % (self.cr, path))

    def sim_get(self, i, name, raw=False):
        """name -> (flags+notification, value) inside the device; {} when absent."""
        st, body = self.sim_req("/_sim/dev/%s/get?name=%s%s" % (
            serial(i), urllib.parse.quote(name), "&raw=1" if raw else ""))
        if st == 404:
            return {}
        check(st == 200, "control get %s: %d %s" % (name, st, body))
        out = {}
        for line in body.splitlines():
            f = line.split("\t")
            out[f[0]] = (f[2], f[3] if len(f) > 3 else None)
        return out

    def sim_value(self, i, name):
        return self.sim_get(i, name)[name][1]

    def sim_info(self, i):
        st, body = self.sim_req("/_sim/dev/%s/info" % serial(i))
        check(st == 200, "control info: %d %s" % (st, body))
        return json.loads(body)

    def sim_set(self, i, name, value):
        st, body = self.sim_req("/_sim/dev/%s/set?name=%s&value=%s" % (
            serial(i), urllib.parse.quote(name), urllib.parse.quote(value)))
        check(st == 200, "control set: %d %s" % (st, body))

    # --- the ack log and the store
    def acks_of(self, i):
        with open(self.ack) as f:
            rows = [line.rstrip("\n").split("\t") for line in f if line.strip()]
        return [set(r[3].split(",")) for r in rows if r[1] == serial(i)]

    def wait_ack(self, i, events, what, since=0, timeout=20):
        want = set(events)
        return wait_for("%s: %s in %s's acknowledged Informs" % (what, sorted(want), serial(i)),
                        lambda: [e for e in self.acks_of(i)[since:] if want <= e], timeout)

    def param(self, i, name, col="value"):
        return self.sql("SELECT %s FROM parameters WHERE device_id = '%s' AND name = '%s'" % (
            col, dev_id(i), name))

    def informs_stored(self, i):
        """The device's stored Informs: [set of 'code' or 'code/key'], by received_at."""
        rows = self.sql("SELECT received_at, code, coalesce(command_key, '') FROM events WHERE "
                        "device_id = '%s' AND payload IS NULL ORDER BY received_at, id" % dev_id(i))
        groups = {}
        for r in rows.splitlines():
            t, code, key = r.split("|")
            groups.setdefault(t, set()).add(code + ("/" + key if key else ""))
        return list(groups.values())


# ---------------------------------------------------------------- scenarios
# Each returns a list of checks done (for the summary); run in threads.

def s_methods(w):
    i = 1
    res = w.done(w.task(i, "GetRPCMethods", {}), "GetRPCMethods")
    check(sorted(res.get("MethodList", [])) == sorted(RPCS), "GetRPCMethods: %r" % res)
    return ["GetRPCMethods: the 18 methods"]


def s_names(w):
    i = 2
    t1 = w.task(i, "GetParameterNames", {"ParameterPath": "Device.WiFi.", "NextLevel": True})
    t2 = w.task(i, "GetParameterNames", {"ParameterPath": "Device.DeviceInfo.SerialNumber",
                                         "NextLevel": True})
    t3 = w.task(i, "GetParameterNames", {"ParameterPath": "Device.Nope.", "NextLevel": False})
    res = w.done(t1, "GetParameterNames")
    names = {p["Name"]: p["Writable"] for p in res.get("ParameterList", [])}
    inside = {n for n in w.sim_get(i, "Device.WiFi.") if n != "Device.WiFi." and (
        n.count(".") == 2 or (n.count(".") == 3 and n.endswith(".")))}
    check(set(names) == inside and names.get("Device.WiFi.SSID.") is True and
          names.get("Device.WiFi.RadioNumberOfEntries") is False,
          "GetParameterNames Device.WiFi. NextLevel: %r, inside %r" % (names, inside))
    check(w.param(i, "Device.WiFi.SSID.", "writable") == "t", "GPN result not in the store")
    w.faulted(t2, 9003, "GetParameterNames NextLevel on a parameter")
    w.faulted(t3, 9005, "GetParameterNames unknown path")
    return ["GetParameterNames: %d children of Device.WiFi. (stored), 9003, 9005" % len(names)]


def s_values(w):
    i = 3

    def inside():
        return {n: v for n, (f, v) in w.sim_get(i, "Device.DeviceInfo.").items()
                if f != "-" and not n.endswith(".")}
    before = inside()
    t1 = w.task(i, "GetParameterValues", {"ParameterNames": [
        "Device.DeviceInfo.", "Device.ManagementServer.PeriodicInformInterval"]})
    t2 = w.task(i, "GetParameterValues", {"ParameterNames": ["Device.DeviceInfo.Nope"]})
    res = w.done(t1, "GetParameterValues")
    after = inside()
    got = {p["Name"]: p["Value"] for p in res["ParameterList"]}
    # counters, uptime, clocks move by themselves: compare what did not move meanwhile
    stable = {n: v for n, v in after.items() if before.get(n) == v}
    stable["Device.ManagementServer.PeriodicInformInterval"] = str(INTERVAL)
    diff = [n for n in stable if got.get(n) != stable[n]]
    check(set(got) == set(after) | {"Device.ManagementServer.PeriodicInformInterval"} and
          not diff and len(stable) > 30, "GetParameterValues: %d values, %d inside (%d stable), "
          "differing %r" % (len(got), len(after), len(stable), diff[:5]))
    check(w.param(i, "Device.DeviceInfo.ModelName") == got["Device.DeviceInfo.ModelName"] and
          w.param(i, "Device.ManagementServer.PeriodicInformInterval") == str(INTERVAL),
          "GetParameterValues results not in the store")
    w.faulted(t2, 9005, "GetParameterValues unknown name")
    return ["GetParameterValues: %d values as inside the device (%d that do not move by "
            "themselves compared), stored; 9005" % (len(got), len(stable))]


def s_set(w):
    i = 4
    ssid2 = w.sim_value(i, "Device.WiFi.SSID.2.SSID")
    ok = w.task(i, "SetParameterValues", {"ParameterList": [
        {"Name": "Device.WiFi.SSID.1.SSID", "Value": "rpc-ssid", "Type": "xsd:string"},
        {"Name": "Device.WiFi.Radio.1.Channel", "Value": 11}], "ParameterKey": "pk-4"})
    bad = {}
    for why, code, p in (
            ("read-only", 9008, {"Name": "Device.DeviceInfo.SerialNumber", "Value": "x"}),
            ("unknown name", 9005, {"Name": "Device.No.Such", "Value": "1"}),
            ("bad value", 9007, {"Name": "Device.WiFi.Radio.1.Channel", "Value": "abc",
                                 "Type": "xsd:unsignedInt"})):
        tid = w.task(i, "SetParameterValues", {"ParameterList": [
            {"Name": "Device.WiFi.SSID.2.SSID", "Value": "must-not-apply"}, p],
            "ParameterKey": "pk-bad"})
        bad[tid] = (why, code, p["Name"])
    res = w.done(ok, "SetParameterValues")
    check(res.get("Status") == 0, "SetParameterValues status: %r" % res)
    check(w.sim_value(i, "Device.WiFi.SSID.1.SSID") == "rpc-ssid" and
          w.sim_value(i, "Device.WiFi.Radio.1.Channel") == "11" and
          w.sim_value(i, "Device.ManagementServer.ParameterKey") == "pk-4",
          "SetParameterValues not applied inside the device")
    check(w.param(i, "Device.WiFi.SSID.1.SSID") == "rpc-ssid" and
          w.param(i, "Device.WiFi.Radio.1.Channel") == "11", "SetParameterValues not stored")
    out = []
    for tid, (why, code, name) in bad.items():
        t = w.faulted(tid, 9003, "SetParameterValues " + why)
        faults = {f["ParameterName"]: f["FaultCode"] for f in
                  (t["result"] or {}).get("SetParameterValuesFault", [])}
        check(faults == {name: code}, "SetParameterValues %s: %r" % (why, t["result"]))
        out.append("%s %d" % (why, code))
    check(w.sim_value(i, "Device.WiFi.SSID.2.SSID") == ssid2 and
          w.sim_value(i, "Device.ManagementServer.ParameterKey") == "pk-4" and
          w.sim_value(i, "Device.WiFi.Radio.1.Channel") == "11",
          "a refused SetParameterValues applied part of it")
    return ["SetParameterValues: applied + stored; refused (nothing applied): " + ", ".join(out)]


def s_attributes(w):
    i = 5
    ssid = "Device.WiFi.SSID.1.SSID"
    sw = "Device.DeviceInfo.SoftwareVersion"
    t1 = w.task(i, "GetParameterAttributes", {"ParameterNames": [ssid, sw]})
    res = w.done(t1, "GetParameterAttributes")
    attrs = {p["Name"]: (p["Notification"], p["AccessList"]) for p in res["ParameterList"]}
    for n in (ssid, sw):
        check(attrs[n][0] == int(w.sim_get(i, n)[n][0][-1]),
              "GetParameterAttributes %s: %r, inside %r" % (n, attrs[n], w.sim_get(i, n)))
    check(w.param(i, sw, "notification") == str(attrs[sw][0]), "GPA not stored")
    t2 = w.task(i, "SetParameterAttributes", {"ParameterList": [
        {"Name": ssid, "NotificationChange": True, "Notification": 2, "AccessListChange": True,
         "AccessList": ["Subscriber"]}]})
    t3 = w.task(i, "SetParameterAttributes", {"ParameterList": [
        {"Name": sw, "NotificationChange": True, "Notification": 0, "AccessListChange": False,
         "AccessList": []}]})
    t4 = w.task(i, "GetParameterAttributes", {"ParameterNames": [ssid]})
    w.done(t2, "SetParameterAttributes")
    check(w.sim_get(i, ssid)[ssid][0].endswith("2"), "notification 2 not applied inside")
    check(w.param(i, ssid, "notification") == "2" and
          w.param(i, ssid, "array_to_string(access_list, ',')") == "Subscriber",
          "SetParameterAttributes not stored: %r" % w.param(i, ssid, "notification"))
    w.faulted(t3, 9009, "SetParameterAttributes on an always-active parameter")
    res = w.done(t4, "GetParameterAttributes after SetParameterAttributes")
    check(res["ParameterList"][0]["Notification"] == 2 and
          res["ParameterList"][0]["AccessList"] == ["Subscriber"], "GPA after SPA: %r" % res)
    n0 = len(w.acks_of(i))
    w.sim_set(i, ssid, "changed-locally")
    # active: a session of its own at once, not the next periodic one ("2 PERIODIC" too)
    wait_for("an Inform with 4 VALUE CHANGE alone", lambda: {"4 VALUE CHANGE"} in w.acks_of(i)[
        n0:], 5)
    wait_for("the changed value in the store", lambda: w.param(i, ssid) == "changed-locally", 10)
    return ["GetParameterAttributes: as inside, stored",
            "SetParameterAttributes: applied + stored, active notification informs "
            "4 VALUE CHANGE at once; always-active 9009"]


def s_objects(w):
    i = 6
    res = w.done(w.task(i, "AddObject", {"ObjectName": "Device.NAT.PortMapping.",
                                         "ParameterKey": "pk-6"}), "AddObject")
    n = res.get("InstanceNumber")
    obj = "Device.NAT.PortMapping.%s." % n
    check(isinstance(n, int) and n >= 1 and res.get("Status") == 0, "AddObject: %r" % res)
    inside = w.sim_get(i, "Device.NAT.")
    check(obj in inside and obj + "InternalPort" in inside and
          inside["Device.NAT.PortMappingNumberOfEntries"][1] == "1",
          "the new instance inside the device: %r" % sorted(inside)[:8])
    check(w.param(i, obj, "is_object") == "t", "the new instance is not in the store")
    res = w.done(w.task(i, "DeleteObject", {"ObjectName": obj, "ParameterKey": "pk-6d"}),
                 "DeleteObject")
    check(res.get("Status") == 0, "DeleteObject: %r" % res)
    inside = w.sim_get(i, "Device.NAT.")
    check(obj not in inside and inside["Device.NAT.PortMappingNumberOfEntries"][1] == "0",
          "the instance still inside the device")
    check(w.sql("SELECT count(*) FROM parameters WHERE device_id = '%s' AND starts_with(name, "
                "'%s')" % (dev_id(i), obj)) == "0", "the deleted instance is still stored")
    check(w.sim_value(i, "Device.ManagementServer.ParameterKey") == "pk-6d", "ParameterKey")
    return ["AddObject: instance %d inside and stored" % n, "DeleteObject: gone inside and stored"]


def s_reboot(w):
    i = 7
    n0 = len(w.acks_of(i))
    w.done(w.task(i, "Reboot", {"CommandKey": "rb-7"}), "Reboot")
    w.wait_ack(i, ["1 BOOT", "M Reboot/rb-7"], "Reboot", since=n0)
    wait_for("the reboot Inform stored", lambda: any(
        {"1 BOOT", "M Reboot/rb-7"} <= g for g in w.informs_stored(i)), 10)
    check(w.sql("SELECT last_boot > created_at FROM devices WHERE id = '%s'" % dev_id(i)) == "t",
          "devices.last_boot not updated")
    return ["Reboot: a new session 1 BOOT + M Reboot/rb-7 (acknowledged, stored)"]


def s_factory_reset(w):
    i = 8
    default = w.sim_value(i, "Device.WiFi.SSID.1.SSID")
    w.done(w.task(i, "SetParameterValues", {"ParameterList": [
        {"Name": "Device.WiFi.SSID.1.SSID", "Value": "before-reset"}], "ParameterKey": "pk-8"}),
        "SetParameterValues before FactoryReset")
    check(w.sim_value(i, "Device.WiFi.SSID.1.SSID") == "before-reset", "SPV before reset")
    n0 = len(w.acks_of(i))
    w.sql("UPDATE devices SET data_stale = false WHERE id = '%s'" % dev_id(i))
    w.done(w.task(i, "FactoryReset"), "FactoryReset")
    w.wait_ack(i, ["0 BOOTSTRAP", "1 BOOT"], "FactoryReset", since=n0)
    check(w.sim_value(i, "Device.WiFi.SSID.1.SSID") == default and
          w.sim_value(i, "Device.ManagementServer.ParameterKey") == "",
          "values not back to the defaults after FactoryReset")
    wait_for("the bootstrap stored", lambda: w.sql(
        "SELECT data_stale FROM devices WHERE id = '%s'" % dev_id(i)) == "t", 10)
    check(sum(1 for g in w.informs_stored(i) if "0 BOOTSTRAP" in g) == 2, "0 BOOTSTRAP events")
    return ["FactoryReset: 0 BOOTSTRAP + 1 BOOT, defaults back, data_stale set"]


def s_download(w):
    i = 9
    fw = b"cpesim rpc test image\n" * 64
    w.files.files["/hg181-fw-2.5.0.bin"] = fw
    n0 = len(w.acks_of(i))
    tid = w.task(i, "Download", {"CommandKey": "fw-9", "FileType": "1 Firmware Upgrade Image",
                                 "URL": w.files.base + "/hg181-fw-2.5.0.bin",
                                 "FileSize": len(fw)})
    res = w.done(tid, "Download")
    check(res.get("Status") == 1, "DownloadResponse: %r" % res)
    w.wait_ack(i, ["1 BOOT", "7 TRANSFER COMPLETE", "M Download/fw-9"], "Download", since=n0)
    check("/hg181-fw-2.5.0.bin" in w.files.gets, "the image was not fetched")
    tc = wait_for("TransferComplete in the Download task", lambda: (w.get_task(tid)[
        "result"] or {}).get("TransferComplete"), 10)
    check(tc["CommandKey"] == "fw-9" and tc["FaultStruct"]["FaultCode"] == 0, "TC: %r" % tc)
    check(w.get_task(tid)["status"] == "done", "Download task after TransferComplete")
    check(w.sim_info(i)["software_version"] == "2.5.0", "SoftwareVersion inside")
    wait_for("SoftwareVersion 2.5.0 in the store", lambda: w.sql(
        "SELECT software_version FROM devices WHERE id = '%s'" % dev_id(i)) == "2.5.0", 10)
    check(w.sql("SELECT count(*) FROM events WHERE device_id = '%s' AND code = "
                "'TransferComplete' AND command_key = 'fw-9'" % dev_id(i)) == "1",
          "TransferComplete event row")
    return ["Download: fetched, 1 BOOT + 7 TRANSFER COMPLETE + M Download/fw-9, TransferComplete "
            "CommandKey fw-9 in the task, SoftwareVersion 2.5.0 inside and stored"]


def s_upload(w):
    i = 10
    n0 = len(w.acks_of(i))
    path = "/upload/" + serial(i)
    tid = w.task(i, "Upload", {"CommandKey": "up-10", "FileType": "1 Vendor Configuration File",
                               "URL": w.files.base + path})
    w.done(tid, "Upload")
    w.wait_ack(i, ["7 TRANSFER COMPLETE", "M Upload/up-10"], "Upload", since=n0)
    body = w.files.uploads.get(path, b"").decode()
    check("Device.WiFi.SSID.1.SSID\tstring\tcpesim-%s" % serial(i) in body,
          "the uploaded configuration: %r" % body[:200])
    tc = wait_for("TransferComplete in the Upload task", lambda: (w.get_task(tid)[
        "result"] or {}).get("TransferComplete"), 10)
    check(tc["CommandKey"] == "up-10" and tc["FaultStruct"]["FaultCode"] == 0, "TC: %r" % tc)
    return ["Upload: configuration PUT (%d bytes), 7 TRANSFER COMPLETE + M Upload/up-10, "
            "TransferComplete in the task" % len(body)]


def s_schedule_inform(w):
    i = 11
    n0 = len(w.acks_of(i))
    t0 = w.task(i, "ScheduleInform", {"DelaySeconds": 0, "CommandKey": "si-0"})
    t1 = w.task(i, "ScheduleInform", {"DelaySeconds": 1, "CommandKey": "si-11"})
    w.faulted(t0, 9003, "ScheduleInform DelaySeconds 0")
    w.done(t1, "ScheduleInform")
    w.wait_ack(i, ["3 SCHEDULED", "M ScheduleInform/si-11"], "ScheduleInform", since=n0)
    wait_for("the scheduled Inform stored", lambda: any(
        {"3 SCHEDULED", "M ScheduleInform/si-11"} <= g for g in w.informs_stored(i)), 10)
    return ["ScheduleInform: 3 SCHEDULED + M ScheduleInform/si-11 (stored); DelaySeconds 0: 9003"]


def s_schedule_download(w):
    i = 12
    w.files.files["/cfg-12.txt"] = ("# cpesim configuration\nDevice.WiFi.SSID.1.SSID\tfrom-config"
                                    "\nDevice.WiFi.Radio.1.Channel=1\n").encode()
    n0 = len(w.acks_of(i))
    tid = w.task(i, "ScheduleDownload", {
        "CommandKey": "sd-12", "FileType": "3 Vendor Configuration File",
        "URL": w.files.base + "/cfg-12.txt", "TimeWindowList": [
            {"WindowStart": 1, "WindowEnd": 3600, "WindowMode": "1 At Any Time",
             "UserMessage": "", "MaxRetries": 0}]})
    w.done(tid, "ScheduleDownload")
    w.wait_ack(i, ["7 TRANSFER COMPLETE", "M ScheduleDownload/sd-12"], "ScheduleDownload",
               since=n0)
    check(w.sim_value(i, "Device.WiFi.SSID.1.SSID") == "from-config" and
          w.sim_value(i, "Device.WiFi.Radio.1.Channel") == "1", "configuration not applied")
    tc = wait_for("TransferComplete in the ScheduleDownload task", lambda: (w.get_task(tid)[
        "result"] or {}).get("TransferComplete"), 10)
    check(tc["CommandKey"] == "sd-12" and tc["FaultStruct"]["FaultCode"] == 0, "TC: %r" % tc)
    return ["ScheduleDownload: configuration file applied in its window, 7 TRANSFER COMPLETE + "
            "M ScheduleDownload/sd-12, TransferComplete in the task"]


def s_queue(w):
    i = 13
    w.files.files["/hg181-fw-3.0.0.bin"] = b"never fetched\n"
    t = [w.task(i, "Download", {"CommandKey": "q-dl", "FileType": "1 Firmware Upgrade Image",
                                "URL": w.files.base + "/hg181-fw-3.0.0.bin", "FileSize": 14,
                                "TargetFileName": "fw.bin", "DelaySeconds": 3600}),
         w.task(i, "Upload", {"CommandKey": "q-up", "FileType": "2 Vendor Log File",
                              "URL": w.files.base + "/upload/q", "DelaySeconds": 3600}),
         w.task(i, "GetQueuedTransfers", {}),
         w.task(i, "GetAllQueuedTransfers", {}),
         w.task(i, "CancelTransfer", {"CommandKey": "q-dl"}),
         w.task(i, "CancelTransfer", {"CommandKey": "q-up"}),
         w.task(i, "GetAllQueuedTransfers", {}),
         w.task(i, "CancelTransfer", {"CommandKey": "q-dl"})]
    q = w.done(t[2], "GetQueuedTransfers")["TransferList"]
    check(q == [{"CommandKey": "q-dl", "State": 1}], "GetQueuedTransfers: %r" % q)
    q = {x["CommandKey"]: x for x in w.done(t[3], "GetAllQueuedTransfers")["TransferList"]}
    check(set(q) == {"q-dl", "q-up"} and q["q-dl"]["IsDownload"] is True and
          q["q-up"]["IsDownload"] is False and q["q-dl"]["FileType"] == "1 Firmware Upgrade Image"
          and q["q-dl"]["FileSize"] == 14 and q["q-dl"]["TargetFileName"] == "fw.bin" and
          q["q-up"]["State"] == 1, "GetAllQueuedTransfers: %r" % q)
    w.done(t[4], "CancelTransfer download")
    w.done(t[5], "CancelTransfer upload")
    q = w.done(t[6], "GetAllQueuedTransfers after CancelTransfer").get("TransferList")
    check(q == [], "GetAllQueuedTransfers after CancelTransfer: %r" % q)
    w.faulted(t[7], 9021, "CancelTransfer of a transfer no longer queued")
    for tid, what in ((t[0], "Download"), (t[1], "Upload")):
        # accepted with Status 1 (open), then ended by the CancelTransfer
        x = w.wait_task(tid)
        check(x["status"] == "cancelled" and (x["result"] or {}).get("Status") == 1 and
              "CancelTransfer" in x["result"], "delayed %s after CancelTransfer: %s %r"
              % (what, x["status"], x["result"]))
    check(w.sim_info(i)["queued_transfers"] == 0, "transfers still queued inside")
    return ["GetQueuedTransfers: the delayed download (State 1)",
            "GetAllQueuedTransfers: download and upload, IsDownload/FileType/FileSize/TargetFileName",
            "CancelTransfer: both dropped (queue empty), their tasks cancelled; again 9021"]


def s_du(w):
    i = 14
    # Name from the file name (up to its first dot), Version from the header line
    w.files.files["/apps/demoapp.ipk"] = b"cpesim-firmware version=1.2 deployment unit\n"
    n0 = len(w.acks_of(i))
    w.done(w.task(i, "ChangeDUState", {"CommandKey": "du-14", "Operations": [
        {"Op": "Install", "URL": w.files.base + "/apps/demoapp.ipk",
         "ExecutionEnvRef": "Device.SoftwareModules.ExecEnv.1."}]}), "ChangeDUState Install")
    w.wait_ack(i, ["11 DU STATE CHANGE COMPLETE", "M ChangeDUState/du-14"], "ChangeDUState",
               since=n0)
    info = w.sim_info(i)
    check(info["deployment_units"] == 1, "no deployment unit inside: %r" % info)
    du = {n.rsplit(".", 1)[1]: v for n, (f, v) in w.sim_get(
        i, "Device.SoftwareModules.DeploymentUnit.").items() if not n.endswith(".")}
    check(du.get("Name") == "demoapp" and du.get("Version") == "1.2" and
          du.get("Status") == "Installed", "DeploymentUnit inside: %r" % du)
    payload = wait_for("DUStateChangeComplete stored", lambda: w.sql(
        "SELECT payload FROM events WHERE device_id = '%s' AND code = 'DUStateChangeComplete' "
        "AND command_key = 'du-14'" % dev_id(i)), 10)
    res = json.loads(payload)["Results"][0]
    check(res["UUID"] == du["UUID"] and res["CurrentState"] == "Installed" and
          res["Fault"]["FaultCode"] == 0, "DUStateChangeComplete: %r" % res)
    n1 = len(w.acks_of(i))
    w.done(w.task(i, "ChangeDUState", {"CommandKey": "du-14b", "Operations": [
        {"Op": "Uninstall", "UUID": du["UUID"]}]}), "ChangeDUState Uninstall")
    w.wait_ack(i, ["11 DU STATE CHANGE COMPLETE", "M ChangeDUState/du-14b"], "Uninstall",
               since=n1)
    check(w.sim_info(i)["deployment_units"] == 0 and not [
        n for n in w.sim_get(i, "Device.SoftwareModules.DeploymentUnit.") if n.count(".") > 3],
        "the deployment unit is still inside")
    return ["ChangeDUState: Install (DeploymentUnit demoapp 1.2, DUStateChangeComplete stored, "
            "11 DU STATE CHANGE COMPLETE + M ChangeDUState/du-14), Uninstall: gone"]


def s_unsupported(w):
    out = []
    for rpc in ("SetVouchers", "GetOptions", "Inform"):
        st, text = w.api_call("POST", "/api/v1/devices/%s/tasks" % dev_id(15),
                              {"rpc": rpc, "args": {}})
        check(st == 400, "POST %s task: %d %s" % (rpc, st, text))
        out.append(rpc)
    return ["anything else: the API refuses %s (400), so cpesim's 9000 is not reachable "
            "through tasks" % "/".join(out)]


SCENARIOS = [s_methods, s_names, s_values, s_set, s_attributes, s_objects, s_reboot,
             s_factory_reset, s_download, s_upload, s_schedule_inform, s_schedule_download,
             s_queue, s_du, s_unsupported]


def run_all(w):
    results, errors = {}, {}

    def one(fn):
        try:
            results[fn.__name__] = fn(w)
        except Exception as e:  # noqa: BLE001 (reported below)
            errors[fn.__name__] = e

    threads = [threading.Thread(target=one, args=(fn,)) for fn in SCENARIOS]
    for t in threads:
        t.start()
    for t in threads:
        t.join(90)
    for fn in SCENARIOS:
        for line in results.get(fn.__name__, []):
            print("ok: " + line)
    for name, e in errors.items():
        print("FAIL in %s: %s" % (name, e))
    check(not errors and len(results) == len(SCENARIOS), "%d scenarios failed" % len(errors))


def main():
    why = unavailable()
    if why:
        print("skipped: " + why)
        return SKIP
    files = Files()
    t0 = time.monotonic()
    w = None
    try:
        with pgtest.PgCluster(fast=True) as pg:
            try:
                w = World(pg, files)
                wait_for("%d devices in the store" % COUNT, lambda: w.sql(
                    "SELECT count(*) FROM devices WHERE serial_number LIKE '%s%%'" % PREFIX)
                    == str(COUNT), 30)
                run_all(w)
                # nothing cancelled was ever transferred
                check(not any("M Download/q-dl" in e or "M Upload/q-up" in e
                              for e in w.acks_of(13)) and "/hg181-fw-3.0.0.bin" not in
                      w.files.gets, "a cancelled transfer ran")
                w.sim.stop(40)
                last = [ln for ln in w.sim.log().splitlines() if ln.startswith("{")][-1]
                s = json.loads(last)
                check(s["sessions_failed"] == 0, "failed sessions: %s" % last)
                print("cpesim: %d sessions, %d RPCs answered, %d transfers ok, 0 failed" % (
                    s["sessions_ok"], s["rpcs"], s["transfers_ok"]))
            except Fail as e:
                print("FAIL: %s" % e)
                if w:
                    if w.sim:
                        print("--- cpesim (tail) ---\n" + w.sim.log()[-4000:])
                    print("--- acsd (tail) ---\n" + w.acsd.log()[-4000:])
                return 1
            finally:
                if w:
                    w.close()
    finally:
        files.shutdown()
    print("PASS (%.0f s)" % (time.monotonic() - t0))
    return 0


if __name__ == "__main__":
    sys.exit(main())
