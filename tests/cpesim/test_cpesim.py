#!/usr/bin/env python3
"""cpesim against the real acsd and a throwaway PostgreSQL (stdlib only).

    python3 tests/cpesim/test_cpesim.py        (ACS_BIN_DIR: where acsd and cpesim are)

1,000 simulated devices boot ("0 BOOTSTRAP"), and must end up as 1,000
devices in the store with their Inform parameters and events, each Inform
acknowledged in the ack log. Then tasks inserted into the tasks table (the
REST API is not ready yet) and connection requests (Digest, to the URL the
store holds) drive RPCs, whose effects are checked on both sides: in the
store and inside the simulated devices (cpesim's /_sim/ control
endpoints): GetParameterValues, SetParameterValues (applied; and refused
atomically with the per-parameter faults), AddObject, GetParameterNames,
SetParameterAttributes then a local change ("4 VALUE CHANGE"),
GetRPCMethods, Download of a firmware image (new SoftwareVersion after "1
BOOT", "7 TRANSFER COMPLETE", "M Download") and of a missing file (fault
9016), Upload, Reboot ("M Reboot"), ScheduleInform ("3 SCHEDULED"), an
unknown parameter (9005), FactoryReset ("0 BOOTSTRAP" again, defaults back).

Exits 0 (pass), 1 (fail) or 77 (skipped: no PostgreSQL or no binaries).
"""
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
sys.path.insert(0, HERE)
import simtest  # noqa: E402
from simtest import Fail, Files, Proc, bin_path, check, free_port, wait_for, unavailable  # noqa: E402
import pgtest  # noqa: E402

SKIP = 77
COUNT = int(os.environ.get("CPESIM_TEST_COUNT", "1000"))
PREFIX = "CT"
OUI, PCLASS = "02CAFE", "HG181"



def serial(i):
    return "%s%06d" % (PREFIX, i)


def dev_id(i):
    return "%s-%s-%s" % (OUI, PCLASS, serial(i))



class World:
    def __init__(self, pg, files):
        self.pg = pg
        self.files = files
        self.cwmp, self.api, self.cr = free_port(), free_port(), free_port()
        self.ack = tempfile.NamedTemporaryFile(prefix="cpesim-ack-", delete=False).name
        self.acsd = Proc(simtest.acsd_argv(self.cwmp, self.api, "--pg", pg.dsn, "--workers", "2",
                                           "--retry-after", "2"))
        wait_for("acsd /health", lambda: self.http_get(self.api, "/health")[0] == 200
                 or not self.acsd.alive() and self.fail_acsd(), 30)
        self.sim = Proc([bin_path("cpesim"), "--acs", "http://127.0.0.1:%d/" % self.cwmp,
                         "--count", str(COUNT), "--serial-prefix", PREFIX, "--duration", "600",
                         "--periodic-interval", "86400", "--cr-listen",
                         "127.0.0.1:%d" % self.cr, "--ack-log", self.ack, "--seed", "7",
                         "--reboot-ms", "200", "--verbose"])

    def fail_acsd(self):
        raise Fail("acsd exited:\n" + self.acsd.log())

    def close(self):
        self.sim.kill()
        self.acsd.kill()
        try:
            os.unlink(self.ack)
        except OSError:
            pass

    @staticmethod
    def http_get(port, path, timeout=5):
        try:
            with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path),
                                        timeout=timeout) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    def sim_stats(self):
        check(self.sim.alive(), "cpesim exited:\n" + self.sim.log())
        return json.loads(self.http_get(self.cr, "/_sim/stats")[1])

    def sim_get(self, i, name):
        """name -> value inside the simulated device (raw: passwords too)."""
        st, body = self.http_get(self.cr, "/_sim/dev/%s/get?name=%s" % (serial(i), name))
        if st == 404:
            return {}
        check(st == 200, "control get %s: %d %s" % (name, st, body))
        out = {}
        for line in body.splitlines():
            f = line.split("\t")
            if len(f) >= 4:
                out[f[0]] = f[3]
        return out

    def sim_set(self, i, name, value):
        st, body = self.http_get(self.cr, "/_sim/dev/%s/set?name=%s&value=%s" % (
            serial(i), urllib.request.quote(name), urllib.request.quote(value)))
        check(st == 200, "control set: %d %s" % (st, body))

    def sql(self, q):
        return self.pg.psql(q)

    def acks(self):
        with open(self.ack) as f:
            return [line.rstrip("\n").split("\t") for line in f if line.strip()]

    def acks_of(self, i):
        return [a[3] for a in self.acks() if a[1] == serial(i)]

    def task(self, i, rpc, args):
        q = "INSERT INTO tasks (device_id, rpc, args) VALUES ('%s', '%s', '%s') RETURNING id" % (
            dev_id(i), rpc, json.dumps(args).replace("'", "''"))
        return int(self.sql(q).splitlines()[0])

    def task_row(self, tid):
        row = self.sql("SELECT status, coalesce(fault_code, 0), coalesce(result::text, 'null') "
                       "FROM tasks WHERE id = %d" % tid)
        status, code, result = row.split("|", 2)
        return status, int(code), json.loads(result)

    def connection_request(self, i, user=None, password="cpesim"):
        url = self.sql("SELECT connection_request_url FROM devices WHERE id = '%s'" % dev_id(i))
        check(url == "http://127.0.0.1:%d/%s" % (self.cr, serial(i)), "stored CR URL %r" % url)
        pm = urllib.request.HTTPPasswordMgrWithDefaultRealm()
        pm.add_password(None, url, user or serial(i), password)
        opener = urllib.request.build_opener(urllib.request.HTTPDigestAuthHandler(pm))
        try:
            with opener.open(url, timeout=5) as r:
                return r.status
        except urllib.error.HTTPError as e:
            return e.code

    def wait_tasks(self, ids, timeout=30):
        def done():
            rows = self.sql("SELECT count(*) FROM tasks WHERE id IN (%s) AND status IN "
                            "('pending', 'sent')" % ",".join(map(str, ids)))
            return int(rows) == 0
        wait_for("tasks %s to finish" % ids, done, timeout)

    def wait_ack(self, i, pred, what, timeout=30):
        return wait_for("%s in %s's acknowledged Informs" % (what, serial(i)),
                        lambda: [e for e in self.acks_of(i) if pred(e)], timeout)


def param(w, i, name):
    return w.sql("SELECT value FROM parameters WHERE device_id = '%s' AND name = '%s'" % (
        dev_id(i), name))


def test_boot(w):
    t0 = time.monotonic()
    wait_for("%d informs acknowledged" % COUNT,
             lambda: w.sim_stats()["informs"] >= COUNT and w.sim_stats()["in_flight"] == 0, 120)
    took = time.monotonic() - t0
    n = int(w.sql("SELECT count(*) FROM devices WHERE serial_number LIKE '%s%%'" % PREFIX))
    check(n == COUNT, "%d devices in the store, expected %d" % (n, COUNT))
    boots = int(w.sql("SELECT count(DISTINCT device_id) FROM events WHERE code = '0 BOOTSTRAP'"))
    check(boots == COUNT, "%d devices with a 0 BOOTSTRAP event, expected %d" % (boots, COUNT))
    row = w.sql("SELECT oui, product_class, manufacturer, hardware_version, software_version, "
                "connection_request_url FROM devices WHERE id = '%s'" % dev_id(42))
    check(row == "%s|%s|cpesim Networks|HW-A1|1.0.0|http://127.0.0.1:%d/%s" % (
        OUI, PCLASS, w.cr, serial(42)), "device row: %r" % row)
    for name, want in (("Device.DeviceInfo.SoftwareVersion", "1.0.0"),
                       ("Device.DeviceInfo.HardwareVersion", "HW-A1"),
                       ("Device.DeviceInfo.ProvisioningCode", ""),
                       ("Device.ManagementServer.ParameterKey", ""),
                       ("Device.ManagementServer.ConnectionRequestURL",
                        "http://127.0.0.1:%d/%s" % (w.cr, serial(42))),
                       ("Device.IP.Interface.1.IPv4Address.1.IPAddress", "100.64.0.44"),
                       ("Device.RootDataModelVersion", "2.17")):
        got = param(w, 42, name)
        check(got == want, "stored %s = %r, expected %r" % (name, got, want))
    per = int(w.sql("SELECT min(c) FROM (SELECT count(*) AS c FROM parameters WHERE device_id "
                    "LIKE '%s-%s-%s%%' GROUP BY device_id) x" % (OUI, PCLASS, PREFIX)))
    check(per >= 7, "a device has only %d Inform parameters stored" % per)
    acks = w.acks()
    check(len(acks) == COUNT and all(a[3] == "0 BOOTSTRAP,1 BOOT" for a in acks),
          "ack log: %d lines, first %r" % (len(acks), acks[:1]))
    check(len({a[2] for a in acks}) == COUNT, "ack log: device ids not distinct")
    print("boot: %d devices informed and stored in %.1f s" % (COUNT, took))


def test_rpcs(w):
    fw = b"cpesim test image\n" * 100
    w.files.files["/hg181-fw-2.5.0.bin"] = fw
    t = {}
    t["gpv"] = w.task(1, "GetParameterValues", {"ParameterNames": ["Device.DeviceInfo."]})
    t["spv"] = w.task(1, "SetParameterValues", {
        "ParameterList": [{"Name": "Device.WiFi.SSID.1.SSID", "Value": "test-ssid",
                           "Type": "xsd:string"},
                          {"Name": "Device.WiFi.Radio.1.Channel", "Value": 11,
                           "Type": "xsd:unsignedInt"}],
        "ParameterKey": "pk-1"})
    t["spv_bad"] = w.task(1, "SetParameterValues", {
        "ParameterList": [{"Name": "Device.WiFi.SSID.2.SSID", "Value": "must-not-apply"},
                          {"Name": "Device.DeviceInfo.SerialNumber", "Value": "x"},
                          {"Name": "Device.WiFi.Radio.1.Channel", "Value": "abc",
                           "Type": "xsd:unsignedInt"},
                          {"Name": "Device.No.Such", "Value": "1"}],
        "ParameterKey": "pk-bad"})
    t["add"] = w.task(1, "AddObject", {"ObjectName": "Device.NAT.PortMapping.",
                                       "ParameterKey": "pk-2"})
    t["gpn"] = w.task(1, "GetParameterNames", {"ParameterPath": "Device.WiFi.",
                                               "NextLevel": True})
    t["spa"] = w.task(1, "SetParameterAttributes", {"ParameterList": [
        {"Name": "Device.WiFi.SSID.1.SSID", "NotificationChange": True, "Notification": 2,
         "AccessListChange": False, "AccessList": []}]})
    t["methods"] = w.task(1, "GetRPCMethods", {})
    t["fw"] = w.task(2, "Download", {"CommandKey": "fw-1",
                                     "FileType": "1 Firmware Upgrade Image",
                                     "URL": w.files.base + "/hg181-fw-2.5.0.bin",
                                     "FileSize": len(fw)})
    t["missing"] = w.task(3, "Download", {"CommandKey": "fw-404",
                                          "FileType": "1 Firmware Upgrade Image",
                                          "URL": w.files.base + "/missing-3.0.bin"})
    t["reboot"] = w.task(4, "Reboot", {"CommandKey": "rb-1"})
    t["upload"] = w.task(5, "Upload", {"CommandKey": "up-1",
                                       "FileType": "1 Vendor Configuration File",
                                       "URL": w.files.base + "/upload/" + serial(5)})
    t["sched"] = w.task(6, "ScheduleInform", {"DelaySeconds": 1, "CommandKey": "si-1"})
    t["gpv_bad"] = w.task(6, "GetParameterValues", {"ParameterNames": ["Device.Nope."]})
    check(w.connection_request(1, password="wrong") == 401, "a wrong password was accepted")
    for i in range(1, 7):
        st = w.connection_request(i)
        check(st in (200, 204), "connection request to %s: %d" % (serial(i), st))
    w.wait_tasks(list(t.values()))

    st, code, res = w.task_row(t["gpv"])
    check(st == "done", "GetParameterValues: %s %d" % (st, code))
    got = {p["Name"]: p["Value"] for p in res["ParameterList"]}
    check(got.get("Device.DeviceInfo.SerialNumber") == serial(1) and
          got.get("Device.DeviceInfo.ManufacturerOUI") == OUI and len(got) > 40,
          "GetParameterValues result: %d parameters" % len(got))
    check(param(w, 1, "Device.DeviceInfo.ModelName") == "SimGateway HG181",
          "GetParameterValues result not in the store")

    st, code, res = w.task_row(t["spv"])
    check(st == "done" and res.get("Status") == 0, "SetParameterValues: %s %d %r" % (st, code, res))
    inside = w.sim_get(1, "Device.WiFi.")
    check(inside["Device.WiFi.SSID.1.SSID"] == "test-ssid" and
          inside["Device.WiFi.Radio.1.Channel"] == "11", "SSID/Channel inside the device")
    check(w.sim_get(1, "Device.ManagementServer.ParameterKey")[
        "Device.ManagementServer.ParameterKey"] == "pk-2", "ParameterKey not stored")
    check(param(w, 1, "Device.WiFi.SSID.1.SSID") == "test-ssid", "SSID not in the store")

    st, code, res = w.task_row(t["spv_bad"])
    faults = {f["ParameterName"]: f["FaultCode"] for f in res.get("SetParameterValuesFault", [])}
    check(st == "fault" and code == 9003 and faults == {
        "Device.DeviceInfo.SerialNumber": 9008, "Device.WiFi.Radio.1.Channel": 9007,
        "Device.No.Such": 9005}, "SetParameterValues fault: %s %d %r" % (st, code, res))
    check(inside["Device.WiFi.SSID.2.SSID"] == "cpesim-%s-5G" % serial(1),
          "a refused SetParameterValues applied part of it")

    st, code, res = w.task_row(t["add"])
    check(st == "done" and res.get("InstanceNumber") == 1, "AddObject: %s %r" % (st, res))
    nat = w.sim_get(1, "Device.NAT.")
    check(nat.get("Device.NAT.PortMappingNumberOfEntries") == "1" and
          "Device.NAT.PortMapping.1.InternalPort" in nat, "the new instance inside the device")

    st, code, res = w.task_row(t["gpn"])
    names = {p["Name"]: p["Writable"] for p in res.get("ParameterList", [])}
    check(st == "done" and names.get("Device.WiFi.SSID.") is True and
          names.get("Device.WiFi.RadioNumberOfEntries") is False and
          not any(n.count(".") > 3 for n in names), "GetParameterNames: %r" % names)

    st, code, res = w.task_row(t["spa"])
    check(st == "done", "SetParameterAttributes: %s %d" % (st, code))
    st, code, res = w.task_row(t["methods"])
    check(st == "done" and "ChangeDUState" in res.get("MethodList", []) and
          len(res["MethodList"]) == 18, "GetRPCMethods: %r" % res)
    check(any(e == "6 CONNECTION REQUEST" for e in w.acks_of(1)), "no 6 CONNECTION REQUEST")

    st, code, res = w.task_row(t["gpv_bad"])
    check(st == "fault" and code == 9005, "unknown name: %s %d" % (st, code))

    # firmware: TransferComplete after the new image booted
    w.wait_ack(2, lambda e: "7 TRANSFER COMPLETE" in e and "M Download/fw-1" in e and
               "1 BOOT" in e, "1 BOOT + 7 TRANSFER COMPLETE + M Download")
    wait_for("SoftwareVersion 2.5.0 in the store", lambda: w.sql(
        "SELECT software_version FROM devices WHERE id = '%s'" % dev_id(2)) == "2.5.0", 15)
    wait_for("TransferComplete in the Download task", lambda: "TransferComplete" in
             w.task_row(t["fw"])[2], 15)
    tc = w.task_row(t["fw"])[2]["TransferComplete"]
    check(tc["CommandKey"] == "fw-1" and tc["FaultStruct"]["FaultCode"] == 0, "TC %r" % tc)

    w.wait_ack(3, lambda e: "7 TRANSFER COMPLETE" in e and "M Download/fw-404" in e,
               "7 TRANSFER COMPLETE for the missing file")
    wait_for("the failed download recorded", lambda: w.task_row(t["missing"])[0] == "fault", 15)
    tc = w.task_row(t["missing"])[2]["TransferComplete"]
    check(tc["FaultStruct"]["FaultCode"] == 9016, "failed download: %r" % tc)
    check(w.sim_get(3, "Device.DeviceInfo.SoftwareVersion")[
        "Device.DeviceInfo.SoftwareVersion"] == "1.0.0", "a failed download changed the version")

    w.wait_ack(4, lambda e: e == "1 BOOT,M Reboot/rb-1", "1 BOOT + M Reboot")
    wait_for("the upload", lambda: b"Device.WiFi.SSID.1.SSID\tstring\tcpesim-" + serial(5).encode()
             in w.files.uploads.get("/upload/" + serial(5), b""), 15)
    w.wait_ack(5, lambda e: "M Upload/up-1" in e and "7 TRANSFER COMPLETE" in e, "M Upload")
    w.wait_ack(6, lambda e: e == "3 SCHEDULED,M ScheduleInform/si-1", "3 SCHEDULED")
    print("rpcs: GPV, SPV (+ fault), AddObject, GPN, SPA, GetRPCMethods, Download (+ fault), "
          "Upload, Reboot, ScheduleInform: ok")


def test_value_change(w):
    w.sim_set(1, "Device.WiFi.SSID.1.SSID", "changed-locally")
    w.wait_ack(1, lambda e: e == "4 VALUE CHANGE", "4 VALUE CHANGE")
    wait_for("the changed value in the store", lambda: param(
        w, 1, "Device.WiFi.SSID.1.SSID") == "changed-locally", 15)
    print("value change: ok")


def test_factory_reset(w):
    n0 = len(w.acks_of(1))
    tid = w.task(1, "FactoryReset", {})
    check(w.connection_request(1) in (200, 204), "connection request")
    w.wait_tasks([tid])
    wait_for("0 BOOTSTRAP after FactoryReset", lambda: "0 BOOTSTRAP,1 BOOT" in w.acks_of(1)[n0:])
    inside = w.sim_get(1, "Device.")
    check(inside["Device.WiFi.SSID.1.SSID"] == "cpesim-" + serial(1) and
          "Device.NAT.PortMapping.1.Enable" not in inside and
          inside["Device.ManagementServer.ParameterKey"] == "", "defaults after FactoryReset")
    print("factory reset: ok")


def test_stop(w):
    w.sim.p.send_signal(signal.SIGTERM)
    try:
        rc = w.sim.p.wait(30)
    except subprocess.TimeoutExpired:
        raise Fail("cpesim did not stop on SIGTERM")
    log = w.sim.log()
    check(rc == 0, "cpesim exit status %d:\n%s" % (rc, log[-3000:]))
    last = [line for line in log.splitlines() if line.startswith("{")][-1]
    s = json.loads(last)
    check(s["sessions_failed"] == 0 and s["sessions_ok"] >= COUNT + 10,
          "summary: %s" % last)
    print("summary: %s" % last)


def main():
    why = unavailable()
    if why:
        print("skipped: " + why)
        return SKIP
    files = Files()
    w = None
    try:
        with pgtest.PgCluster(fast=True) as pg:
            w = World(pg, files)
            try:
                for t in (test_boot, test_rpcs, test_value_change, test_factory_reset, test_stop):
                    t(w)
            except Fail as e:
                print("FAIL: %s" % e)
                print("--- cpesim (tail) ---\n" + w.sim.log()[-4000:])
                print("--- acsd (tail) ---\n" + w.acsd.log()[-4000:])
                return 1
            finally:
                w.close()
    finally:
        files.shutdown()
    print("PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
