#!/usr/bin/env python3
"""The example policies of policies/ end to end with cpesim (stdlib only).

    ACS_BIN_DIR=build/bin python3 tests/cpesim/test_policies.py

A throwaway PostgreSQL, acsd with --policies (a copy of policies/), a secret
key and no connection request credentials of its own, and 160 simulated
devices booting ("0 BOOTSTRAP"): 120 TR-181 (prefix PA) and 40 TR-098 (PB),
informing every hour. acsd's clock is set back to the last 02:30 UTC so that
the firmware preset's night window (02:00, 3 h, spread over 2 h) is open.

  - bootstrap: every device's whole tree is listed (>= its model's parameters
    in the store), DeviceInfo and ManagementServer read;
  - inform_interval: PeriodicInformInterval 300 on every device (store and
    cpesim), PeriodicInformTime spread per device (not all the same);
  - cr_credentials: each device gets its own sealed ConnectionRequestPassword
    (device_secrets, one per device, all different ciphertexts) and an empty
    value in parameters; a connection request with only those credentials is
    answered by cpesim (200, done);
  - refresh: VirtualParameters.WANIPAddress stored for TR-181 and TR-098
    devices alike, equal to the device's own WAN address;
  - wifi from tags: "wifi:ssid=Lab-N" / "wifi:channel=11" on a TR-181 and a
    TR-098 device, then a connection request: cpesim's SSID and channel
    change, AutoChannelEnable goes false;
  - wan_down: an interface set down on a device (cpesim's local change) and
    a session: a major alarm for that interface; again: counted (2, first
    seen kept, last seen moved); up again: cleared;
  - reboot_loop: six Reboot tasks in a row: a critical alarm;
  - jobs/silent (the fleet job): a device whose last Inform is two days old
    gets a major alarm, no other device does; its next Inform clears it;
  - firmware: the image uploaded to the file server, a device (one whose
    spread puts it inside the window now) tagged "upgrade": the Download of
    the file goes out, cpesim fetches it with the per-download credentials,
    reboots into 2.0.0 and reports TransferComplete; the task is done, the
    device runs 2.0.0 and no second Download is made;
  - no fault recorded by any policy, no failed session.

Exits 0 (pass), 1 (fail) or 77 (skipped: no PostgreSQL or no binaries).
"""
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.parse

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
sys.path.insert(0, HERE)
import simtest  # noqa: E402
from simtest import bin_path, check, free_port, http, run_test, wait_for  # noqa: E402

N181, N098 = 120, 40
FIRMWARE = "gateway-2.0.0.bin"


def spread(salt, device_id):
    """The engine's stable fraction of a device (FNV-1a, as policy_preset.c)."""
    h = 2166136261
    for b in (salt + device_id).encode():
        h = ((h ^ b) * 16777619) & 0xffffffff
    return h / 4294967296.0


def q(dev):
    return urllib.parse.quote(urllib.parse.quote(dev, safe=""), safe="")


class World(simtest.World):
    def __init__(self, pg, tmp):
        super().__init__(pg, tmp)
        self.tree = os.path.join(tmp, "policies")
        shutil.copytree(os.path.join(ROOT, "policies"), self.tree)
        self.key = os.path.join(tmp, "secret.key")
        simtest.write_key(self.key, private=False)
        now = int(time.time())
        last_0230 = now - now % 86400 + 2 * 3600 + 1800
        if last_0230 > now:
            last_0230 -= 86400
        self.engine_now = last_0230 + 5
        self.files = free_port()
        self.cr181, self.cr098 = free_port(), free_port()
        args = ["--pg", pg.dsn, "--workers", "2", "--policies", self.tree, "--secret-key-file",
                self.key, "--log-level", "info"]
        if "--files" in subprocess.run([bin_path("acsd"), "--help"], stdout=subprocess.PIPE,
                                       stderr=subprocess.STDOUT, text=True).stdout:
            args += ["--files", "127.0.0.1:%d" % self.files]
        self.start_acsd(*args, env={"ACS_CLOCK_OFFSET_MS": str((self.engine_now - now) * 1000)})
        self.token = simtest.create_token(pg.dsn, "admin", "policies")
        acs = "http://127.0.0.1:%d/" % self.cwmp
        common = ["--acs", acs, "--duration", "600", "--periodic-interval", "3600", "--seed", "5",
                  "--concurrency", "20", "--no-loop"]
        self.sim181 = self.spawn([bin_path("cpesim"), "--count", str(N181), "--first", "1",
                                  "--serial-prefix", "PA", "--cr-listen",
                                  "127.0.0.1:%d" % self.cr181] + common)
        self.sim098 = self.spawn([bin_path("cpesim"), "--count", str(N098), "--first", "1",
                                  "--serial-prefix", "PB", "--model", "tr098", "--cr-listen",
                                  "127.0.0.1:%d" % self.cr098] + common)

    def sim(self, port, path):
        st, body, _ = http("GET", "http://127.0.0.1:%d%s" % (port, path))
        check(st == 200, "cpesim %s: %d %s" % (path, st, body))
        return body

    def sim_get(self, port, serial, name):
        line = self.sim(port, "/_sim/dev/%s/get?name=%s" % (serial, urllib.parse.quote(name)))
        return line.rstrip("\n").split("\t")[-1] if line.strip() else None

    def dev_id(self, port, serial):
        return json.loads(self.sim(port, "/_sim/dev/%s/info" % serial))["id"]

    def connect(self, dev, rpc="GetParameterValues", args=None, timeout=30):
        """A task with a connection request; the finished task (200) or fails."""
        root = "InternetGatewayDevice." if dev.split("-")[-1].startswith("PB") else "Device."
        if args is None:
            args = {"ParameterNames": [root + "DeviceInfo.UpTime"]}
        body = {"rpc": rpc, "args": args}
        st, text, _ = self.request("POST", "/api/v1/devices/%s/tasks?connection_request=true&"
                                      "timeout=%d" % (q(dev), timeout), body, timeout + 10)
        doc = json.loads(text)
        check(st == 200 and doc["status"] == "done", "%s: connection request task: %d %s" % (
            dev, st, text))
        return doc

    def tag(self, dev, add):
        st, text, _ = self.request("POST", "/api/v1/devices/%s/tags" % q(dev), {"add": add})
        check(st == 200, "tags of %s: %d %s" % (dev, st, text))


def run(w):
    n = N181 + N098
    wait_for("%d devices bootstrapped with PeriodicInformInterval 300" % n, lambda: w.sql(
        "SELECT count(*) FROM parameters WHERE name LIKE '%.ManagementServer.PeriodicInformInterval'"
        " AND value = '300'") == str(n), 120, 0.5)
    yield "inform_interval: PeriodicInformInterval 300 on all %d devices (store)" % n
    pa1, pb1 = w.dev_id(w.cr181, "PA000001"), w.dev_id(w.cr098, "PB000001")
    check(w.sim_get(w.cr181, "PA000001", "Device.ManagementServer.PeriodicInformInterval") == "300"
          and w.sim_get(w.cr098, "PB000001", "InternetGatewayDevice.ManagementServer."
                        "PeriodicInformInterval") == "300", "cpesim does not have 300")
    times = w.sql("SELECT count(DISTINCT value) FROM parameters WHERE name LIKE "
                  "'%.ManagementServer.PeriodicInformTime'")
    check(int(times) > n // 2, "PeriodicInformTime not spread: %s distinct of %d" % (times, n))
    yield "inform_interval: PeriodicInformTime spread (%s distinct values of %d)" % (times, n)

    counts = w.sql("SELECT min(c) || ' ' || max(c) FROM (SELECT count(*) AS c FROM parameters "
                   "GROUP BY device_id) x").split()
    check(int(counts[0]) >= 400, "bootstrap: a device has only %s parameters" % counts[0])
    yield "bootstrap: %s to %s parameters per device in the store" % tuple(counts)

    wait_for("a sealed password per device", lambda: w.sql(
        "SELECT count(DISTINCT ciphertext) FROM device_secrets WHERE name LIKE "
        "'%.ManagementServer.ConnectionRequestPassword'") == str(n), 60, 0.5)
    leaked = w.sql("SELECT count(*) FROM parameters WHERE name LIKE "
                   "'%.ManagementServer.ConnectionRequestPassword' AND coalesce(value, '') <> ''")
    check(leaked == "0", "%s plaintext passwords in parameters" % leaked)
    users = w.sql("SELECT count(*) FROM parameters WHERE name LIKE "
                  "'%.ManagementServer.ConnectionRequestUsername' AND value LIKE 'acs-P%'")
    check(users == str(n), "usernames set on %s devices" % users)
    pa3 = w.dev_id(w.cr181, "PA000003")
    t0 = time.monotonic()
    w.connect(pa3)
    yield ("cr_credentials: %d sealed passwords, none in parameters; a connection request with "
           "them answered by cpesim, task done in %.2f s" % (n, time.monotonic() - t0))

    wait_for("VirtualParameters.WANIPAddress", lambda: w.sql(
        "SELECT count(*) FROM parameters WHERE name = 'VirtualParameters.WANIPAddress'") == str(n),
        30, 0.5)
    want181 = w.sim_get(w.cr181, "PA000001", "Device.IP.Interface.1.IPv4Address.1.IPAddress")
    want098 = w.sim_get(w.cr098, "PB000001", "InternetGatewayDevice.WANDevice.1."
                        "WANConnectionDevice.1.WANIPConnection.1.ExternalIPAddress")
    got = {d: w.sql("SELECT value FROM parameters WHERE device_id = '%s' AND name = "
                    "'VirtualParameters.WANIPAddress'" % d) for d in (pa1, pb1)}
    check(got[pa1] == want181 and got[pb1] == want098, "WANIPAddress %r, cpesim %s / %s" % (
        got, want181, want098))
    yield "virtual: WANIPAddress stored for all %d (TR-181 %s, TR-098 %s)" % (n, got[pa1], got[pb1])

    pa4, pb2 = w.dev_id(w.cr181, "PA000004"), w.dev_id(w.cr098, "PB000002")
    w.tag(pa4, ["wifi:ssid=Lab-4", "wifi:channel=11"])
    w.tag(pb2, ["wifi:ssid=Lab-B2"])
    w.connect(pa4)
    w.connect(pb2)
    wait_for("the SSIDs on cpesim", lambda: w.sim_get(w.cr181, "PA000004", "Device.WiFi.SSID.1.SSID")
             == "Lab-4" and w.sim_get(w.cr098, "PB000002", "InternetGatewayDevice.LANDevice.1."
                                      "WLANConfiguration.1.SSID") == "Lab-B2", 20)
    check(w.sim_get(w.cr181, "PA000004", "Device.WiFi.Radio.1.Channel") == "11" and
          w.sim_get(w.cr181, "PA000004", "Device.WiFi.Radio.1.AutoChannelEnable") in ("0", "false"),
          "channel not set")
    check(w.sim_get(w.cr181, "PA000005", "Device.WiFi.SSID.1.SSID") != "Lab-4",
          "an untagged device changed")
    yield "wifi: SSID and channel from tags on TR-181 and TR-098 devices"

    pa6 = w.dev_id(w.cr181, "PA000006")
    # the interface goes down; a task reads its status (the alarm rule, which
    # reads it every 10 minutes, sees what the task read in the same session)
    status = {"ParameterNames": ["Device.IP.Interface.1.Status"]}
    w.sim(w.cr181, "/_sim/dev/PA000006/set?name=Device.IP.Interface.1.Status&value=Down")
    w.connect(pa6, args=status)
    alarm = wait_for("the WAN alarm", lambda: w.sql(
        "SELECT severity || ' ' || instance_key FROM alarms WHERE device_id = '%s' AND rule = "
        "'alarms/wan_down' AND cleared_at IS NULL" % pa6), 20)
    check(alarm == "major Device.IP.Interface.1.", "alarm %r" % alarm)
    first = w.sql("SELECT first_seen || ' ' || last_seen FROM alarms WHERE device_id = '%s'" % pa6)
    time.sleep(0.05)
    w.connect(pa6, args=status)  # still down: the same alarm, counted
    seen = wait_for("the WAN alarm counted twice", lambda: w.sql(
        "SELECT first_seen || ' ' || last_seen FROM alarms WHERE device_id = '%s' AND count = 2"
        % pa6), 20)
    check(seen.split(" ")[:2] == first.split(" ")[:2] and seen != first,
          "first_seen kept, last_seen moved: %r then %r" % (first, seen))
    w.sim(w.cr181, "/_sim/dev/PA000006/set?name=Device.IP.Interface.1.Status&value=Up")
    w.connect(pa6, args=status)
    wait_for("the WAN alarm cleared", lambda: w.sql(
        "SELECT count(*) FROM alarms WHERE device_id = '%s' AND cleared_at IS NOT NULL" % pa6)
        == "1", 20)
    yield "wan_down: raised (%s), raised again (count 2, first_seen kept), cleared" % alarm

    # reboot_loop: six reboots within the hour (and the first boot): critical
    pa9 = w.dev_id(w.cr181, "PA000009")
    for i in range(6):
        w.connect(pa9, rpc="Reboot", args={})
        wait_for("reboot %d's boot" % (i + 1), lambda: w.sql(
            "SELECT count(*) FROM events WHERE device_id = '%s' AND code = '1 BOOT'" % pa9)
            == str(i + 2), 30, 0.2)
    loop = wait_for("the reboot loop alarm", lambda: w.sql(
        "SELECT severity || ': ' || message FROM alarms WHERE device_id = '%s' AND rule = "
        "'alarms/reboot_loop' AND cleared_at IS NULL" % pa9), 20)
    check(loop.startswith("critical: ") and "boots in the last hour" in loop, "alarm %r" % loop)
    yield "reboot_loop: %s after 6 reboots" % loop

    # the fleet job: a device quiet for two days gets a major alarm, the
    # others (informing) none; its next Inform clears it
    pa8 = w.dev_id(w.cr181, "PA000008")
    w.sql("UPDATE devices SET last_inform = now() - interval '2 days' WHERE id = '%s'" % pa8)
    w.sql("UPDATE job_leases SET last_run_at = now() - interval '1 day', expires_at = now() "
          "WHERE job IN ('silent', 'jobs/silent')")
    silent = wait_for("the silent alarm", lambda: w.sql(
        "SELECT string_agg(device_id || ' ' || severity, ',') FROM alarms WHERE rule = "
        "'jobs/silent' AND cleared_at IS NULL"), 30, 0.2)
    check(silent == pa8 + " major", "silent alarms: %r" % silent)
    w.connect(pa8)
    wait_for("the silent alarm cleared", lambda: w.sql(
        "SELECT count(*) FROM alarms WHERE rule = 'jobs/silent' AND cleared_at IS NULL") == "0", 20)
    yield "jobs/silent: one device silent for 2 days alarmed (major), cleared by its Inform"

    yield from firmware(w)

    faults = w.sql("SELECT count(*) FROM faults")
    check(faults == "0", "policy faults: %s" % w.sql(
        "SELECT string_agg(channel || ': ' || message, '; ') FROM faults"))
    for name, port in (("tr181", w.cr181), ("tr098", w.cr098)):
        stats = json.loads(w.sim(port, "/_sim/stats"))
        # a 503 (admission control under a slow store, sanitized builds) is
        # a session refused and retried, not a failure of the policies
        check(stats["failed"] <= stats["http_503"], "%s: %d failed sessions, %d of them 503: %r"
              % (name, stats["failed"], stats["http_503"], stats))
    yield "no policy fault, no failed session but 503s retried"


def firmware(w):
    st, text, _ = w.request("GET", "/api/v1/files")
    if st == 404:
        yield "firmware: skipped (no file server in this build)"
        return
    image = b"cpesim-firmware version=2.0.0\n" + os.urandom(200000)
    st, text, _ = w.request("POST", "/api/v1/files?name=%s&type=%s&version=2.0.0&sha256=%s" % (
        FIRMWARE, urllib.parse.quote("1 Firmware Upgrade Image"), hashlib.sha256(image).hexdigest()),
        headers={"Content-Type": "application/octet-stream"}, raw=image)
    check(st == 201, "upload: %d %s" % (st, text))
    # a device whose place in the window (2 h of spread) has come by now (+5 s)
    serial = dev = None
    for i in range(7, N181 + 1):
        s = "PA%06d" % i
        d = w.dev_id(w.cr181, s)
        if spread("presets/default|0 2 * * *", d) * 7200 < 1700:
            serial, dev = s, d
            break
    check(dev, "no device early enough in the firmware window")
    w.tag(dev, ["upgrade"])
    w.connect(dev)
    task = wait_for("the firmware Download done", lambda: w.sql(
        "SELECT id || ' ' || status FROM tasks WHERE device_id = '%s' AND rpc = 'Download' AND "
        "status = 'done'" % dev), 60, 0.5)
    wait_for("the device running 2.0.0", lambda: w.sql(
        "SELECT software_version FROM devices WHERE id = '%s'" % dev) == "2.0.0", 60, 0.5)
    info = json.loads(w.sim(w.cr181, "/_sim/dev/%s/info" % serial))
    check(info["software_version"] == "2.0.0", "cpesim runs %s" % info["software_version"])
    w.connect(dev)  # one more session: nothing more to do
    downloads = w.sql("SELECT count(*) FROM tasks WHERE device_id = '%s' AND rpc = 'Download'" % dev)
    check(downloads == "1", "%s Downloads" % downloads)
    yield "firmware: %s tagged, Download (task %s) fetched, 2.0.0 running, once" % (serial, task)


def main():
    return run_test(World, run, lambda w: [("acsd", w.acsd), ("cpesim tr181", w.sim181),
                                         ("cpesim tr098", w.sim098)], "acs-policies-")

if __name__ == "__main__":
    sys.exit(main())
