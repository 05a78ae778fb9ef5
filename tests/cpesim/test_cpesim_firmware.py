#!/usr/bin/env python3
"""Firmware through acsd's own file server, end to end (stdlib only).

    ACS_BIN_DIR=build/bin python3 tests/cpesim/test_cpesim_firmware.py

A throwaway PostgreSQL, the real acsd with its file server on a free port,
and cpesim with 3 devices (test_cpesim_rpcs.py's World). A firmware image is
uploaded with POST /api/v1/files (its sha256 checked), and a task
{"rpc": "Download", "args": {"file": NAME}} queued for device 1: the session
sends a Download whose URL, FileType, FileSize, Username and Password acsd
filled in; cpesim answers Status 1 (the task stays 'sent'), fetches the image
from the file server with those credentials (answering the 401's Digest
challenge), checks
its size against FileSize, boots the new image (its version is in the
image's first line), and the next session's TransferComplete ends the task
'done': SoftwareVersion changes inside the device and in the store, the
task's grant is gone. A vendor configuration file cpesim cannot apply ends
device 2's task 'fault' with the TransferComplete's FaultStruct; one it can
apply sets a value on device 3.

Exits 0 (pass), 1 (fail) or 77 (skipped: no PostgreSQL or no binaries).
"""
import hashlib
import json
import os
import sys
import time
import urllib.parse
import urllib.request

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
sys.path.insert(0, HERE)
from simtest import Fail, bin_path, check, free_port, run_test, wait_for  # noqa: E402
import test_cpesim_rpcs as rp  # noqa: E402

COUNT = 3
FILES_PORT = free_port()


def upload(w, name, data, ftype, **meta):
    q = {"name": name, "type": ftype, "sha256": hashlib.sha256(data).hexdigest(), **meta}
    req = urllib.request.Request(
        "http://127.0.0.1:%d/api/v1/files?%s" % (w.api, urllib.parse.urlencode(q)), data=data,
        method="POST", headers={"Authorization": "Bearer " + w.token,
                                "Content-Type": "application/octet-stream"})
    with urllib.request.urlopen(req, timeout=30) as r:
        check(r.status == 201, "upload %s: %d" % (name, r.status))
        return json.loads(r.read())


def download(w, i, name, key=None):
    args = {"file": name}
    if key:
        args["CommandKey"] = key
    return w.task(i, "Download", args)


def wait_end(w, tid, what):
    """The task once it has left pending and sent (TransferComplete came)."""
    return wait_for("%s to end" % what, lambda: (lambda t: t if t["status"] not in (
        "pending", "sent") else None)(w.get_task(tid)), 40)


def scenarios(w, fport):
    # 1: a firmware image, 600 KiB + a few bytes: three chunk rows
    image = b"cpesim-firmware version=4.1.0 hg181\n"
    image += bytes((k * 31 + 7) % 256 for k in range(600 * 1024 + 11 - len(image)))
    f = upload(w, "hg181-fw-4.1.0.bin", image, "1 Firmware Upgrade Image", oui=rp.OUI,
               product_class=rp.PCLASS, version="4.1.0")
    check(f["size"] == len(image), "file object %r" % f)
    before = w.sim_info(1)["software_version"]
    check(before != "4.1.0", "already at 4.1.0")
    n0 = len(w.acks_of(1))
    tid = download(w, 1, "hg181-fw-4.1.0.bin", "fw-41")
    t = wait_for("the Download answered", lambda: (lambda t: t if t["result"] else None)(
        w.get_task(tid)), 20)
    check(t["status"] in ("sent", "done") and t["result"].get("Status") == 1,
          "after the DownloadResponse: %r" % t)
    sent = w.sql("SELECT username || '|' || (expires_at > now()) FROM file_grants WHERE task_id = %d"
                 % tid)
    check(sent in ("acsd-dl-%d|true" % tid, ""), "the grant: %r" % sent)
    t = wait_end(w, tid, "the firmware Download")
    tc = t["result"].get("TransferComplete") or {}
    check(t["status"] == "done" and tc.get("CommandKey") == "fw-41" and
          tc.get("FaultStruct", {}).get("FaultCode") == 0 and t["fault"] is None,
          "the Download task: %r" % t)
    w.wait_ack(1, ["1 BOOT", "7 TRANSFER COMPLETE", "M Download/fw-41"], "firmware", since=n0)
    info = w.sim_info(1)
    check(info["software_version"] == "4.1.0", "SoftwareVersion inside: %r" % info)
    wait_for("SoftwareVersion 4.1.0 in the store", lambda: w.sql(
        "SELECT software_version FROM devices WHERE id = '%s'" % rp.dev_id(1)) == "4.1.0", 15)
    check(w.sql("SELECT count(*) FROM file_grants WHERE task_id = %d" % tid) == "0",
          "the grant outlived its task")
    log = w.sim.log()
    check("hg181-fw-4.1.0.bin: done" in log and "127.0.0.1:%d/files/" % fport in log,
          "cpesim did not log the download from the file server:\n" + log[-2000:])
    yield "firmware: uploaded (%d bytes), Download filled in by acsd, fetched by cpesim from the " \
          "file server with the grant's credentials, TransferComplete -> task done, " \
          "SoftwareVersion %s -> 4.1.0 inside and in the store, grant gone" % (len(image), before)

    # 2: a configuration file cpesim refuses: TransferComplete's fault on the task
    upload(w, "bad.cfg", b"Device.No.Such.Parameter=1\n", "3 Vendor Configuration File")
    tid = download(w, 2, "bad.cfg")
    t = wait_end(w, tid, "the bad configuration's Download")
    tc = t["result"].get("TransferComplete") or {}
    check(t["status"] == "fault" and t["fault"]["code"] == 9018 and
          tc.get("FaultStruct", {}).get("FaultCode") == 9018 and
          tc.get("CommandKey") == "acsd-task-%d" % tid, "the refused file's task: %r" % t)
    yield "a configuration file cpesim cannot apply: task fault 9018 from the TransferComplete"

    # 3: one it applies
    cfg = b"Device.WiFi.SSID.1.SSID=from-the-file-server\n"
    upload(w, "good.cfg", cfg, "3 Vendor Configuration File")
    tid = download(w, 3, "good.cfg")
    t = wait_end(w, tid, "the configuration's Download")
    check(t["status"] == "done", "the configuration's task: %r" % t)
    check(w.sim_value(3, "Device.WiFi.SSID.1.SSID") == "from-the-file-server",
          "the configuration was not applied")
    yield "a configuration file applied: SSID set on the device, task done"


def world(pg, tmp):
    w = rp.World(pg, None, acsd_args=["--files", "127.0.0.1:%d" % FILES_PORT], count=COUNT)
    wait_for("%d devices in the store" % COUNT, lambda: w.sql(
        "SELECT count(*) FROM devices WHERE serial_number LIKE '%s%%'" % rp.PREFIX) == str(COUNT), 30)
    return w


def main():
    return run_test(world, lambda w: scenarios(w, FILES_PORT),
                    lambda w: [("cpesim", w.sim), ("acsd", w.acsd)], "acs-firmware-")

if __name__ == "__main__":
    sys.exit(main())
