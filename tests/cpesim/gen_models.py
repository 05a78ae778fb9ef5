#!/usr/bin/env python3
"""gen_models.py: generates cpesim's device models from the Broadband Forum
data model definitions (stdlib only).

    python3 tests/cpesim/gen_models.py [--datamodels DIR] [--out DIR]

DIR defaults to ../shared/data/datamodels next to the repository; the output
goes to tests/cpesim/models/. Only the generated models are committed, never
the Broadband Forum files.

A model is a curated subset of a root data model: the objects listed below,
each with every parameter the definition gives it (deprecated, obsoleted and
deleted ones left out), with its type, access, enumerations, ranges and
notification rules from the definition, a number of instances per table, and
plausible values (curated ones below, else the definition's default, else a
value derived from the type). docs/cpesim.md describes the file format.
"""
import argparse
import os
import re
import sys
import xml.etree.ElementTree as ET

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.normpath(os.path.join(HERE, "..", ".."))

TYPES = ("string", "unsignedInt", "int", "unsignedLong", "long", "boolean", "dateTime",
         "base64", "hexBinary", "decimal")
GONE = ("deprecated", "obsoleted", "deleted")


def loc(tag):
    return tag.split("}", 1)[1] if isinstance(tag, str) and "}" in tag else tag


class Syntax:
    def __init__(self):
        self.type = "string"
        self.enum = []
        self.ranges = []
        self.maxlen = None
        self.is_list = False
        self.hidden = False
        self.default = None


def read_facets(el, syn):
    """Facets of a type element (or of a dataType) into syn."""
    for c in el:
        t = loc(c.tag)
        if t == "enumeration" and c.get("status") not in GONE:
            syn.enum.append(c.get("value"))
        elif t == "range":
            syn.ranges.append((c.get("minInclusive", ""), c.get("maxInclusive", "")))
        elif t == "size" and c.get("maxLength") and not syn.maxlen:
            syn.maxlen = c.get("maxLength")


class Model:
    def __init__(self, path):
        root = ET.parse(path).getroot()
        self.datatypes = {}
        for dt in root:
            if loc(dt.tag) == "dataType":
                self.datatypes[dt.get("name")] = dt
        model = [e for e in root if loc(e.tag) == "model"][0]
        self.objects = {o.get("name"): o for o in model if loc(o.tag) == "object"}

    def resolve_datatype(self, name, syn, depth=0):
        dt = self.datatypes.get(name)
        if dt is None or depth > 8:
            return
        base = dt.get("base")
        for c in dt:
            if loc(c.tag) in TYPES:
                syn.type = loc(c.tag)
                read_facets(c, syn)
        read_facets(dt, syn)
        if base:
            self.resolve_datatype(base, syn, depth + 1)

    def syntax(self, p):
        syn = Syntax()
        s = p.find("{*}syntax")
        if s is None:
            return syn
        syn.hidden = s.get("hidden") == "true" or s.get("secured") == "true"
        for c in s:
            t = loc(c.tag)
            if t == "list":
                syn.is_list = True
            elif t in TYPES:
                syn.type = t
                read_facets(c, syn)
            elif t == "dataType":
                self.resolve_datatype(c.get("ref"), syn)
            elif t == "default" and c.get("type") in ("factory", "object"):
                syn.default = c.get("value")
        if syn.is_list:
            syn.type = "string"
        return syn

    def params(self, objname):
        o = self.objects.get(objname)
        if o is None:
            sys.exit("gen_models: no object %s in the definition" % objname)
        for p in o:
            if loc(p.tag) == "parameter":
                yield p


def esc(v):
    return v.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")


def constraint(syn, table_max=None):
    parts = []
    if syn.is_list:
        parts.append("list")
    if syn.enum:
        parts.append("enum:" + "|".join(e.replace("|", "\\|") for e in syn.enum))
    if syn.ranges and syn.type in ("unsignedInt", "int", "unsignedLong", "long"):
        parts.append("range:" + ",".join("%s..%s" % r for r in syn.ranges))
    if syn.maxlen and syn.type in ("string", "base64", "hexBinary"):
        parts.append("len:" + syn.maxlen)
    if table_max:
        parts.append("max:" + table_max)
    return ";".join(parts)


def instances(template, counts):
    """Concrete names of a template ('A.{i}.B.{i}.') given per-level counts."""
    out = [("", ())]
    segs = template.split("{i}")
    for k, seg in enumerate(segs[:-1]):
        nxt = []
        for prefix, idx in out:
            n = counts(template, k, idx)
            for i in range(1, n + 1):
                nxt.append((prefix + seg + str(i), idx + (i,)))
        out = nxt
    return [(p + segs[-1], idx) for p, idx in out]


COUNTERS = {
    "BytesSent": "%{ctr:52000}", "BytesReceived": "%{ctr:410000}",
    "PacketsSent": "%{ctr:61}", "PacketsReceived": "%{ctr:322}",
    "UnicastPacketsSent": "%{ctr:58}", "UnicastPacketsReceived": "%{ctr:317}",
    "MulticastPacketsSent": "%{ctr:2}", "MulticastPacketsReceived": "%{ctr:4}",
    "BroadcastPacketsSent": "%{ctr:1}", "BroadcastPacketsReceived": "%{ctr:1}",
}


def default_value(name, leaf, syn, idx, concrete):
    if syn.hidden:
        return ""
    if leaf in COUNTERS and ".Stats." in name:
        return COUNTERS[leaf]
    if leaf.endswith("LastChange") and syn.type == "unsignedInt":
        return "%{uptime}"
    if leaf == "Alias":
        segs = name.split(".")
        k = max(i for i, x in enumerate(segs) if x == "{i}") if "{i}" in segs else 0
        return "cpe-%s-%%{inst}" % (segs[k - 1] if k else segs[0])
    if leaf == "Enable" and syn.type == "boolean":
        return "true" if concrete else (syn.default or "false")
    if leaf == "Status" and syn.enum:
        for good in ("Up", "Enabled", "Active"):
            if good in syn.enum:
                return good if concrete else (syn.default or syn.enum[0])
    if syn.default is not None and syn.default not in ("InstanceNumber",):
        return syn.default
    if syn.enum and not syn.is_list:
        return syn.enum[0]
    t = syn.type
    if t == "boolean":
        return "false"
    if t in ("unsignedInt", "int", "unsignedLong", "long"):
        for lo, hi in syn.ranges:
            if lo and int(lo) > 0:
                return lo
        return "0"
    if t == "dateTime":
        return "0001-01-01T00:00:00Z"
    if t == "decimal":
        return "0"
    return ""


def gen(model, spec, out):
    counts = spec["counts"]
    values = spec["values"]

    def count(template, k, idx):
        key = template.split("{i}")[:k + 1]
        key = "{i}".join(key) + "{i}."
        c = counts.get(key, 0)
        if callable(c):
            return c(idx)
        if isinstance(c, (list, tuple)):
            return c[idx[-1] - 1] if idx and idx[-1] <= len(c) else 0
        return c

    lines = []
    nparams = 0
    used = set()
    for obj in spec["objects"]:
        o = model.objects.get(obj)
        if o is None:
            sys.exit("gen_models: no object %s" % obj)
        if obj.endswith("{i}."):
            table = obj[:-len("{i}.")]
            writable = o.get("access") == "readWrite"
            mx = o.get("maxEntries")
            num = o.get("numEntriesParameter") or ""
            # the table object itself, concrete under every parent instance and as a template
            for tname, idx in instances(table, count) + ([(table, ())] if "{i}" in table else []):
                cons = "max:" + mx if mx and mx != "unbounded" else ""
                lines.append("%s\tobject\tT%s\t%s%s" % (tname, "W" if writable else "", num,
                                                      "\t" + cons if cons else ""))
        targets = instances(obj, count) + ([(obj, None)] if "{i}" in obj else [])
        for oname, idx in targets:
            concrete = idx is not None
            lines.append("%s\tobject\t%s\t" % (oname, "W" if o.get("access") == "readWrite"
                                                and obj.endswith("{i}.") else "-"))
            for p in model.params(obj):
                leaf = p.get("name")
                if p.get("status") in GONE and obj + leaf not in values:
                    continue
                syn = model.syntax(p)
                tname = obj + leaf
                pname = oname + leaf
                v = None
                if tname in values:
                    v = values[tname]
                    if callable(v):
                        v = v(idx if concrete else None)
                    used.add(tname)
                if v is None:
                    v = default_value(tname, leaf, syn, idx, concrete)
                flags = ""
                acc = p.get("access")
                if acc in ("readWrite", "writeOnceReadOnly"):
                    flags += "W"
                if p.get("forcedInform") == "true" or pname in spec.get("forced", ()):
                    flags += "F"
                an = p.get("activeNotify")
                if an == "forceEnabled":
                    flags += "A"
                elif an == "canDeny":
                    flags += "D"
                if syn.hidden:
                    flags += "H"
                if tname in spec.get("changing", ()) or pname in spec.get("changing", ()):
                    flags += "C"
                notif = 2 if an in ("forceEnabled", "forceDefaultEnabled") else 0
                notif = spec.get("notify", {}).get(pname, spec.get("notify", {}).get(tname, notif))
                flags += str(notif)
                cons = constraint(syn)
                line = "%s\t%s\t%s\t%s" % (pname, syn.type, flags, esc(v))
                if cons:
                    line += "\t" + esc(cons)
                lines.append(line)
                if concrete:
                    nparams += 1
    missing = set(values) - used
    if missing:
        sys.exit("gen_models: curated values for unknown parameters: %s" % sorted(missing))
    header = [
        "# cpesim device model 1",
        "# %s" % spec["title"],
        "# Generated by tests/cpesim/gen_models.py from %s (do not edit by hand)." % spec["source"],
        "# Object and parameter names, types, access and ranges from the Broadband Forum's",
        "# definition, Copyright (c) Broadband Forum, BSD-3-Clause (see the definition's notice).",
        "# Format (docs/cpesim.md): name TAB type TAB flags TAB value [TAB constraints]",
        "# %d parameters in the default instances." % nparams,
    ]
    with open(out, "w") as f:
        f.write("\n".join(header + lines) + "\n")
    return nparams


# ---------------------------------------------------------------- TR-181

def mac(k):
    return "%%{mac:%d}" % k


def per(*vals):
    """A value per instance number (the last one); None for templates."""
    return lambda idx: vals[idx[-1] - 1] if idx and idx[-1] <= len(vals) else None


def per2(table):
    """A value per (first, second) instance number."""
    return lambda idx: table.get(idx[:2]) if idx else None


D = "Device."
HOSTS = [("laptop-anna", "%{rmac:1}", "192.168.1.101", "Device.WiFi.SSID.1.", "Wi-Fi"),
         ("tv-livingroom", "%{rmac:2}", "192.168.1.102", "Device.Ethernet.Interface.2.", "Ethernet"),
         ("phone-ben", "%{rmac:3}", "192.168.1.103", "Device.WiFi.SSID.2.", "Wi-Fi")]

TR181 = {
    "title": "A TR-181 (Device:2) home gateway: 1 WAN and 3 LAN Ethernet ports, dual-band Wi-Fi, "
             "NAT, DHCPv4 server, 3 hosts.",
    "source": "tr-181-2-17-0-cwmp-full.xml",
    "objects": [
        "Device.", "Device.DeviceInfo.", "Device.DeviceInfo.MemoryStatus.",
        "Device.DeviceInfo.ProcessStatus.", "Device.DeviceInfo.TemperatureStatus.",
        "Device.DeviceInfo.TemperatureStatus.TemperatureSensor.{i}.",
        "Device.DeviceInfo.VendorConfigFile.{i}.", "Device.DeviceInfo.SupportedDataModel.{i}.",
        "Device.DeviceInfo.Processor.{i}.", "Device.DeviceInfo.VendorLogFile.{i}.",
        "Device.ManagementServer.", "Device.ManagementServer.InformParameter.{i}.",
        "Device.Time.", "Device.Time.Client.{i}.", "Device.UserInterface.", "Device.UserInterface.RemoteAccess.",
        "Device.Ethernet.", "Device.Ethernet.Interface.{i}.", "Device.Ethernet.Interface.{i}.Stats.",
        "Device.Ethernet.Link.{i}.", "Device.Ethernet.Link.{i}.Stats.",
        "Device.Ethernet.VLANTermination.{i}.",
        "Device.WiFi.", "Device.WiFi.Radio.{i}.", "Device.WiFi.Radio.{i}.Stats.",
        "Device.WiFi.SSID.{i}.", "Device.WiFi.SSID.{i}.Stats.", "Device.WiFi.AccessPoint.{i}.",
        "Device.WiFi.AccessPoint.{i}.Security.", "Device.WiFi.AccessPoint.{i}.WPS.",
        "Device.WiFi.AccessPoint.{i}.AssociatedDevice.{i}.",
        "Device.Bridging.", "Device.Bridging.Bridge.{i}.", "Device.Bridging.Bridge.{i}.Port.{i}.",
        "Device.IP.", "Device.IP.Interface.{i}.", "Device.IP.Interface.{i}.IPv4Address.{i}.",
        "Device.IP.Interface.{i}.IPv6Address.{i}.", "Device.IP.Interface.{i}.Stats.",
        "Device.Routing.", "Device.Routing.Router.{i}.", "Device.Routing.Router.{i}.IPv4Forwarding.{i}.",
        "Device.Hosts.", "Device.Hosts.Host.{i}.", "Device.Hosts.Host.{i}.IPv4Address.{i}.",
        "Device.DNS.", "Device.DNS.Client.", "Device.DNS.Client.Server.{i}.", "Device.DNS.Relay.",
        "Device.DNS.Relay.Forwarding.{i}.",
        "Device.DHCPv4.", "Device.DHCPv4.Client.{i}.", "Device.DHCPv4.Server.",
        "Device.DHCPv4.Server.Pool.{i}.", "Device.DHCPv4.Server.Pool.{i}.StaticAddress.{i}.",
        "Device.DHCPv4.Server.Pool.{i}.Option.{i}.", "Device.DHCPv4.Server.Pool.{i}.Client.{i}.",
        "Device.NAT.", "Device.NAT.InterfaceSetting.{i}.", "Device.NAT.PortMapping.{i}.",
        "Device.Firewall.", "Device.LANConfigSecurity.",
        "Device.SoftwareModules.", "Device.SoftwareModules.ExecEnv.{i}.",
        "Device.SoftwareModules.DeploymentUnit.{i}.", "Device.SoftwareModules.ExecutionUnit.{i}.",
        "Device.Users.", "Device.Users.User.{i}.",
        "Device.XMPP.", "Device.XMPP.Connection.{i}.",
    ],
    "counts": {
        "Device.DeviceInfo.TemperatureStatus.TemperatureSensor.{i}.": 1,
        "Device.DeviceInfo.SupportedDataModel.{i}.": 1,
        "Device.DeviceInfo.Processor.{i}.": 2,
        "Device.Time.Client.{i}.": 1,
        "Device.DeviceInfo.VendorLogFile.{i}.": 1,
        "Device.Ethernet.Interface.{i}.": 4,
        "Device.Ethernet.Link.{i}.": 2,
        "Device.WiFi.Radio.{i}.": 2, "Device.WiFi.SSID.{i}.": 2, "Device.WiFi.AccessPoint.{i}.": 2,
        "Device.WiFi.AccessPoint.{i}.AssociatedDevice.{i}.": [1, 1],
        "Device.Bridging.Bridge.{i}.": 1, "Device.Bridging.Bridge.{i}.Port.{i}.": 6,
        "Device.IP.Interface.{i}.": 2, "Device.IP.Interface.{i}.IPv4Address.{i}.": 1,
        "Device.Routing.Router.{i}.": 1, "Device.Routing.Router.{i}.IPv4Forwarding.{i}.": 2,
        "Device.Hosts.Host.{i}.": 3, "Device.Hosts.Host.{i}.IPv4Address.{i}.": 1,
        "Device.DNS.Client.Server.{i}.": 2, "Device.DNS.Relay.Forwarding.{i}.": 2,
        "Device.DHCPv4.Client.{i}.": 1, "Device.DHCPv4.Server.Pool.{i}.": 1,
        "Device.DHCPv4.Server.Pool.{i}.Client.{i}.": 3,
        "Device.NAT.InterfaceSetting.{i}.": 1,
        "Device.SoftwareModules.ExecEnv.{i}.": 1,
        "Device.Users.User.{i}.": 2,
        "Device.XMPP.Connection.{i}.": 1,
    },
    "forced": {"Device.IP.Interface.1.IPv4Address.1.IPAddress"},
    "notify": {"Device.IP.Interface.1.IPv4Address.1.IPAddress": 2},
    "changing": {"Device.WiFi.Radio.{i}.Channel", "Device.WiFi.SSID.{i}.SSID",
                 "Device.WiFi.AccessPoint.{i}.Security.KeyPassphrase",
                 "Device.UserInterface.RemoteAccess.Enable"},
    "values": {
        D + "RootDataModelVersion": "2.17",
        D + "DeviceInfo.Manufacturer": "cpesim Networks",
        D + "DeviceInfo.ManufacturerOUI": "02CAFE",
        D + "DeviceInfo.ModelName": "SimGateway HG181",
        D + "DeviceInfo.ModelNumber": "HG181-A",
        D + "DeviceInfo.Description": "Simulated TR-181 home gateway (cpesim)",
        D + "DeviceInfo.ProductClass": "HG181",
        D + "DeviceInfo.SerialNumber": "%{serial}",
        D + "DeviceInfo.HardwareVersion": "HW-A1",
        D + "DeviceInfo.SoftwareVersion": "1.0.0",
        D + "DeviceInfo.AdditionalHardwareVersion": "RAM512,FLASH128",
        D + "DeviceInfo.AdditionalSoftwareVersion": "bootloader-2.1",
        D + "DeviceInfo.ProvisioningCode": "",
        D + "DeviceInfo.UpTime": "%{uptime}",
        D + "DeviceInfo.FirstUseDate": "%{boottime}",
        D + "DeviceInfo.DeviceCategory": "HomeGateway",
        D + "DeviceInfo.MemoryStatus.Total": "524288",
        D + "DeviceInfo.MemoryStatus.Free": "%{hash:180000:260000}",
        D + "DeviceInfo.ProcessStatus.CPUUsage": "%{hash:2:30}",
        D + "DeviceInfo.TemperatureStatus.TemperatureSensor.{i}.Name": per("SoC"),
        D + "DeviceInfo.TemperatureStatus.TemperatureSensor.{i}.Value": per("%{hash:45:62}"),
        D + "DeviceInfo.SupportedDataModel.{i}.URL":
            per("https://www.broadband-forum.org/cwmp/tr-181-2-17-0-cwmp.xml"),
        D + "DeviceInfo.SupportedDataModel.{i}.URN": per("urn:broadband-forum-org:tr-181-2-17-0"),
        D + "DeviceInfo.SupportedDataModel.{i}.Features": per("IPv4,IPv6,WiFi"),
        D + "DeviceInfo.Processor.{i}.Architecture": per("arm", "arm"),
        D + "DeviceInfo.VendorLogFile.{i}.Name": per("/var/log/messages"),
        D + "DeviceInfo.VendorLogFile.{i}.MaximumSize": per("65536"),
        D + "ManagementServer.URL": "%{acsurl}",
        D + "ManagementServer.Username": "%{serial}",
        D + "ManagementServer.PeriodicInformEnable": "true",
        D + "ManagementServer.PeriodicInformInterval": "3600",
        D + "ManagementServer.ConnectionRequestURL": "%{crurl}",
        D + "ManagementServer.ConnectionRequestUsername": "%{serial}",
        D + "ManagementServer.ConnectionRequestPassword": "cpesim",
        D + "ManagementServer.CWMPRetryMinimumWaitInterval": "5",
        D + "ManagementServer.CWMPRetryIntervalMultiplier": "2000",
        D + "ManagementServer.DefaultActiveNotificationThrottle": "0",
        D + "ManagementServer.SupportedConnReqMethods": "HTTP",
        D + "ManagementServer.ConnReqAllowedJabberIDs": "",
        D + "XMPP.Connection.{i}.Enable": per("false"),
        D + "ManagementServer.InstanceMode": "InstanceNumber",
        D + "ManagementServer.AliasBasedAddressing": "false",
        D + "Time.Enable": "true",
        D + "Time.Status": "Synchronized",
        D + "Time.Client.{i}.Servers": per("pool.ntp.org,time.cloudflare.com"),
        D + "Time.Client.{i}.Mode": per("Unicast"),
        D + "Time.Client.{i}.Interface": per("Device.IP.Interface.1."),
        D + "Time.CurrentLocalTime": "%{now}",
        D + "Time.LocalTimeZone": "CET-1CEST,M3.5.0,M10.5.0/3",
        D + "UserInterface.Enable": "true",
        D + "UserInterface.RemoteAccess.Port": "8443",
        D + "UserInterface.RemoteAccess.Protocol": "HTTPS",
        D + "Ethernet.Interface.{i}.Name": per("wan0", "lan1", "lan2", "lan3"),
        D + "Ethernet.Interface.{i}.MACAddress": per(mac(1), mac(2), mac(3), mac(4)),
        D + "Ethernet.Interface.{i}.Upstream": per("true", "false", "false", "false"),
        D + "Ethernet.Interface.{i}.Status": per("Up", "Up", "Down", "Down"),
        D + "Ethernet.Interface.{i}.MaxBitRate": per("1000", "1000", "1000", "1000"),
        D + "Ethernet.Interface.{i}.CurrentBitRate": per("1000", "1000", "0", "0"),
        D + "Ethernet.Interface.{i}.DuplexMode": per("Full", "Full", "Auto", "Auto"),
        D + "Ethernet.Link.{i}.Name": per("wan0", "br-lan"),
        D + "Ethernet.Link.{i}.MACAddress": per(mac(1), mac(2)),
        D + "Ethernet.Link.{i}.LowerLayers": per("Device.Ethernet.Interface.1.",
                                                 "Device.Bridging.Bridge.1.Port.1."),
        D + "WiFi.Radio.{i}.Name": per("wifi0", "wifi1"),
        D + "WiFi.Radio.{i}.SupportedFrequencyBands": per("2.4GHz", "5GHz"),
        D + "WiFi.Radio.{i}.OperatingFrequencyBand": per("2.4GHz", "5GHz"),
        D + "WiFi.Radio.{i}.SupportedStandards": per("b,g,n,ax", "a,n,ac,ax"),
        D + "WiFi.Radio.{i}.OperatingStandards": per("g,n,ax", "a,n,ac,ax"),
        D + "WiFi.Radio.{i}.PossibleChannels": per("1-13", "36,40,44,48,52,56,60,64,100,104,108,112"),
        D + "WiFi.Radio.{i}.Channel": per("6", "36"),
        D + "WiFi.Radio.{i}.ChannelsInUse": per("6", "36,40,44,48"),
        D + "WiFi.Radio.{i}.AutoChannelSupported": per("true", "true"),
        D + "WiFi.Radio.{i}.AutoChannelEnable": per("true", "true"),
        D + "WiFi.Radio.{i}.MaxBitRate": per("574", "2402"),
        D + "WiFi.Radio.{i}.MaxSupportedSSIDs": per("4", "4"),
        D + "WiFi.Radio.{i}.MaxSupportedAssociations": per("32", "64"),
        D + "WiFi.Radio.{i}.SupportedOperatingChannelBandwidths": per("20MHz,40MHz", "20MHz,40MHz,80MHz"),
        D + "WiFi.Radio.{i}.OperatingChannelBandwidth": per("20MHz", "80MHz"),
        D + "WiFi.Radio.{i}.CurrentOperatingChannelBandwidth": per("20MHz", "80MHz"),
        D + "WiFi.Radio.{i}.TransmitPowerSupported": per("25,50,75,100", "25,50,75,100"),
        D + "WiFi.Radio.{i}.TransmitPower": per("100", "100"),
        D + "WiFi.Radio.{i}.RegulatoryDomain": per("DE ", "DE "),
        D + "WiFi.Radio.{i}.BeaconPeriod": per("100", "100"),
        D + "WiFi.Radio.{i}.DTIMPeriod": per("1", "1"),
        D + "WiFi.Radio.{i}.FirmwareVersion": per("wl-7.14.164", "wl-7.14.164"),
        D + "WiFi.Radio.{i}.MCS": per("-1", "-1"),
        D + "WiFi.Radio.{i}.LowerLayers": per("", ""),
        D + "WiFi.SSID.{i}.Name": per("wl0", "wl1"),
        D + "WiFi.SSID.{i}.SSID": per("cpesim-%{serial}", "cpesim-%{serial}-5G"),
        D + "WiFi.SSID.{i}.BSSID": per(mac(8), mac(9)),
        D + "WiFi.SSID.{i}.MACAddress": per(mac(8), mac(9)),
        D + "WiFi.SSID.{i}.LowerLayers": per("Device.WiFi.Radio.1.", "Device.WiFi.Radio.2."),
        D + "WiFi.AccessPoint.{i}.SSIDReference": per("Device.WiFi.SSID.1.", "Device.WiFi.SSID.2."),
        D + "WiFi.AccessPoint.{i}.SSIDAdvertisementEnabled": per("true", "true"),
        D + "WiFi.AccessPoint.{i}.MaxAllowedAssociations": per("32", "64"),
        D + "WiFi.AccessPoint.{i}.Security.ModesSupported":
            per("None,WPA2-Personal,WPA3-Personal,WPA3-Personal-Transition",
                "None,WPA2-Personal,WPA3-Personal,WPA3-Personal-Transition"),
        D + "WiFi.AccessPoint.{i}.Security.ModeEnabled": per("WPA3-Personal-Transition", "WPA3-Personal-Transition"),
        D + "WiFi.AccessPoint.{i}.Security.KeyPassphrase": per("%{hex:16}", "%{hex:16}"),
        D + "WiFi.AccessPoint.{i}.AssociatedDevice.{i}.MACAddress": per2({(1, 1): "%{rmac:1}",
                                                                         (2, 1): "%{rmac:3}"}),
        D + "WiFi.AccessPoint.{i}.AssociatedDevice.{i}.SignalStrength": per2({(1, 1): "-52",
                                                                             (2, 1): "-61"}),
        D + "WiFi.AccessPoint.{i}.AssociatedDevice.{i}.Active": per2({(1, 1): "true", (2, 1): "true"}),
        D + "WiFi.AccessPoint.{i}.AssociatedDevice.{i}.AuthenticationState":
            per2({(1, 1): "true", (2, 1): "true"}),
        D + "Bridging.Bridge.{i}.Standard": per("802.1Q-2011"),
        D + "Bridging.Bridge.{i}.Port.{i}.Name": per("br-lan", "lan1", "lan2", "lan3", "wl0", "wl1"),
        D + "Bridging.Bridge.{i}.Port.{i}.ManagementPort": per("true", "false", "false", "false",
                                                               "false", "false"),
        D + "Bridging.Bridge.{i}.Port.{i}.LowerLayers":
            per("Device.Bridging.Bridge.1.Port.2.,Device.Bridging.Bridge.1.Port.3.,"
                "Device.Bridging.Bridge.1.Port.4.,Device.Bridging.Bridge.1.Port.5.,"
                "Device.Bridging.Bridge.1.Port.6.",
                "Device.Ethernet.Interface.2.", "Device.Ethernet.Interface.3.",
                "Device.Ethernet.Interface.4.", "Device.WiFi.SSID.1.", "Device.WiFi.SSID.2."),
        D + "IP.IPv4Capable": "true",
        D + "IP.IPv4Enable": "true",
        D + "IP.IPv4Status": "Enabled",
        D + "IP.IPv6Capable": "true",
        D + "IP.IPv6Enable": "false",
        D + "IP.IPv6Status": "Disabled",
        D + "IP.Interface.{i}.Name": per("wan", "lan"),
        D + "IP.Interface.{i}.Type": per("Normal", "Normal"),
        D + "IP.Interface.{i}.LowerLayers": per("Device.Ethernet.Link.1.", "Device.Ethernet.Link.2."),
        D + "IP.Interface.{i}.MaxMTUSize": per("1500", "1500"),
        D + "IP.Interface.{i}.IPv4Enable": per("true", "true"),
        D + "IP.Interface.{i}.IPv4Address.{i}.IPAddress": per2({(1, 1): "%{wanip}",
                                                               (2, 1): "192.168.1.1"}),
        D + "IP.Interface.{i}.IPv4Address.{i}.SubnetMask": per2({(1, 1): "255.192.0.0",
                                                                (2, 1): "255.255.255.0"}),
        D + "IP.Interface.{i}.IPv4Address.{i}.AddressingType": per2({(1, 1): "DHCP",
                                                                    (2, 1): "Static"}),
        D + "Routing.Router.{i}.IPv4Forwarding.{i}.DestIPAddress": per("", "192.168.1.0"),
        D + "Routing.Router.{i}.IPv4Forwarding.{i}.DestSubnetMask": per("", "255.255.255.0"),
        D + "Routing.Router.{i}.IPv4Forwarding.{i}.GatewayIPAddress": per("%{wangw}", ""),
        D + "Routing.Router.{i}.IPv4Forwarding.{i}.Interface": per("Device.IP.Interface.1.",
                                                                   "Device.IP.Interface.2."),
        D + "Routing.Router.{i}.IPv4Forwarding.{i}.Origin": per("DHCPv4", "Static"),
        D + "Routing.Router.{i}.IPv4Forwarding.{i}.StaticRoute": per("false", "true"),
        D + "Hosts.Host.{i}.HostName": per(*[h[0] for h in HOSTS]),
        D + "Hosts.Host.{i}.PhysAddress": per(*[h[1] for h in HOSTS]),
        D + "Hosts.Host.{i}.IPAddress": per(*[h[2] for h in HOSTS]),
        D + "Hosts.Host.{i}.Layer1Interface": per(*[h[3] for h in HOSTS]),
        D + "Hosts.Host.{i}.Layer3Interface": per(*["Device.IP.Interface.2."] * 3),
        D + "Hosts.Host.{i}.InterfaceType": per(*[h[4] for h in HOSTS]),
        D + "Hosts.Host.{i}.Active": per("true", "true", "true"),
        D + "Hosts.Host.{i}.ActiveLastChange": per("%{boottime}", "%{boottime}", "%{boottime}"),
        D + "Hosts.Host.{i}.DHCPClient": per(*["Device.DHCPv4.Server.Pool.1.Client.%d." % i
                                               for i in (1, 2, 3)]),
        D + "Hosts.Host.{i}.IPv4Address.{i}.IPAddress": per2({(i + 1, 1): h[2]
                                                             for i, h in enumerate(HOSTS)}),
        D + "DNS.Client.Enable": "true",
        D + "DNS.Client.Status": "Enabled",
        D + "DNS.Client.Server.{i}.DNSServer": per("9.9.9.9", "1.1.1.1"),
        D + "DNS.Client.Server.{i}.Type": per("DHCPv4", "DHCPv4"),
        D + "DNS.Client.Server.{i}.Interface": per("Device.IP.Interface.1.", "Device.IP.Interface.1."),
        D + "DNS.Relay.Enable": "true",
        D + "DNS.Relay.Status": "Enabled",
        D + "DNS.Relay.Forwarding.{i}.DNSServer": per("9.9.9.9", "1.1.1.1"),
        D + "DNS.Relay.Forwarding.{i}.Interface": per("Device.IP.Interface.1.", "Device.IP.Interface.1."),
        D + "DHCPv4.Client.{i}.Interface": per("Device.IP.Interface.1."),
        D + "DHCPv4.Client.{i}.DHCPStatus": per("Bound"),
        D + "DHCPv4.Client.{i}.IPAddress": per("%{wanip}"),
        D + "DHCPv4.Client.{i}.SubnetMask": per("255.192.0.0"),
        D + "DHCPv4.Client.{i}.IPRouters": per("%{wangw}"),
        D + "DHCPv4.Client.{i}.DNSServers": per("9.9.9.9,1.1.1.1"),
        D + "DHCPv4.Client.{i}.LeaseTimeRemaining": per("%{hash:600:86400}"),
        D + "DHCPv4.Client.{i}.DHCPServer": per("%{wangw}"),
        D + "DHCPv4.Server.Enable": "true",
        D + "DHCPv4.Server.Pool.{i}.Interface": per("Device.IP.Interface.2."),
        D + "DHCPv4.Server.Pool.{i}.MinAddress": per("192.168.1.100"),
        D + "DHCPv4.Server.Pool.{i}.MaxAddress": per("192.168.1.199"),
        D + "DHCPv4.Server.Pool.{i}.SubnetMask": per("255.255.255.0"),
        D + "DHCPv4.Server.Pool.{i}.DNSServers": per("192.168.1.1"),
        D + "DHCPv4.Server.Pool.{i}.DomainName": per("home.lan"),
        D + "DHCPv4.Server.Pool.{i}.IPRouters": per("192.168.1.1"),
        D + "DHCPv4.Server.Pool.{i}.LeaseTime": per("86400"),
        D + "DHCPv4.Server.Pool.{i}.Client.{i}.Chaddr": per("%{rmac:1}", "%{rmac:2}", "%{rmac:3}"),
        D + "DHCPv4.Server.Pool.{i}.Client.{i}.Active": per("true", "true", "true"),
        D + "NAT.InterfaceSetting.{i}.Interface": per("Device.IP.Interface.1."),
        D + "NAT.InterfaceSetting.{i}.Status": per("Enabled"),
        D + "Firewall.Enable": "true",
        D + "Firewall.Config": "Low",
        D + "SoftwareModules.ExecEnv.{i}.Name": per("cpesim-ee"),
        D + "SoftwareModules.ExecEnv.{i}.Type": per("Linux Container"),
        D + "SoftwareModules.ExecEnv.{i}.Vendor": per("cpesim Networks"),
        D + "SoftwareModules.ExecEnv.{i}.Version": per("1.0"),
        D + "SoftwareModules.ExecEnv.{i}.Status": per("Up"),
        D + "Users.User.{i}.Username": per("admin", "user"),
        D + "Users.User.{i}.Password": per("", ""),
        D + "Users.User.{i}.Language": per("en", "en"),
    },
}

# ---------------------------------------------------------------- TR-098

I = "InternetGatewayDevice."
L = I + "LANDevice.{i}."
W = I + "WANDevice.{i}.WANConnectionDevice.{i}.WANIPConnection.{i}."
HOSTS98 = [("laptop-anna", "%{rmac:1}", "192.168.1.101", "InternetGatewayDevice.LANDevice.1."
            "WLANConfiguration.1.", "802.11"),
           ("tv-livingroom", "%{rmac:2}", "192.168.1.102", "InternetGatewayDevice.LANDevice.1."
            "LANEthernetInterfaceConfig.1.", "Ethernet"),
           ("phone-ben", "%{rmac:3}", "192.168.1.103", "InternetGatewayDevice.LANDevice.1."
            "WLANConfiguration.2.", "802.11")]

TR098 = {
    "title": "A TR-098 (InternetGatewayDevice:1) home gateway: Ethernet WAN with one IP "
             "connection, 4 LAN ports, 2 WLANs, 3 hosts.",
    "source": "tr-098-1-8-0-full.xml",
    "objects": [
        I, I + "DeviceInfo.", I + "DeviceInfo.MemoryStatus.", I + "DeviceInfo.ProcessStatus.",
        I + "DeviceInfo.VendorConfigFile.{i}.", I + "ManagementServer.", I + "Time.",
        I + "UserInterface.", I + "Layer3Forwarding.", I + "Layer3Forwarding.Forwarding.{i}.",
        I + "LANConfigSecurity.", L, L + "LANHostConfigManagement.",
        L + "LANHostConfigManagement.IPInterface.{i}.",
        L + "LANHostConfigManagement.DHCPStaticAddress.{i}.",
        L + "LANEthernetInterfaceConfig.{i}.", L + "LANEthernetInterfaceConfig.{i}.Stats.",
        L + "WLANConfiguration.{i}.", L + "WLANConfiguration.{i}.Stats.",
        L + "WLANConfiguration.{i}.AssociatedDevice.{i}.", L + "Hosts.", L + "Hosts.Host.{i}.",
        I + "WANDevice.{i}.", I + "WANDevice.{i}.WANCommonInterfaceConfig.",
        I + "WANDevice.{i}.WANEthernetInterfaceConfig.",
        I + "WANDevice.{i}.WANEthernetInterfaceConfig.Stats.",
        I + "WANDevice.{i}.WANConnectionDevice.{i}.", W, W + "PortMapping.{i}.", W + "Stats.",
    ],
    "counts": {
        I + "Layer3Forwarding.Forwarding.{i}.": 1,
        I + "LANDevice.{i}.": 1,
        L + "LANHostConfigManagement.IPInterface.{i}.": 1,
        L + "LANEthernetInterfaceConfig.{i}.": 4,
        L + "WLANConfiguration.{i}.": 2,
        L + "WLANConfiguration.{i}.AssociatedDevice.{i}.": [1, 1],
        L + "Hosts.Host.{i}.": 3,
        I + "WANDevice.{i}.": 1,
        I + "WANDevice.{i}.WANConnectionDevice.{i}.": 1,
        W: 1,
    },
    "forced": set(),
    "notify": {},
    "changing": {L + "WLANConfiguration.{i}.Channel", L + "WLANConfiguration.{i}.SSID"},
    "values": {
        I + "DeviceSummary": "InternetGatewayDevice:1.4[](Baseline:1, EthernetLAN:1, WiFiLAN:1, "
                             "EthernetWAN:1, Time:1, IPPing:1)",
        I + "DeviceInfo.Manufacturer": "cpesim Networks",
        I + "DeviceInfo.ManufacturerOUI": "02B0BA",
        I + "DeviceInfo.ModelName": "SimGateway IGD98",
        I + "DeviceInfo.Description": "Simulated TR-098 home gateway (cpesim)",
        I + "DeviceInfo.ProductClass": "IGD98",
        I + "DeviceInfo.SerialNumber": "%{serial}",
        I + "DeviceInfo.HardwareVersion": "HW-B2",
        I + "DeviceInfo.SoftwareVersion": "4.2.0",
        I + "DeviceInfo.ModemFirmwareVersion": "",
        I + "DeviceInfo.UpTime": "%{uptime}",
        I + "DeviceInfo.FirstUseDate": "%{boottime}",
        I + "DeviceInfo.DeviceLog": "",
        I + "DeviceInfo.MemoryStatus.Total": "262144",
        I + "DeviceInfo.MemoryStatus.Free": "%{hash:90000:140000}",
        I + "DeviceInfo.ProcessStatus.CPUUsage": "%{hash:2:30}",
        I + "ManagementServer.URL": "%{acsurl}",
        I + "ManagementServer.Username": "%{serial}",
        I + "ManagementServer.PeriodicInformEnable": "true",
        I + "ManagementServer.PeriodicInformInterval": "3600",
        I + "ManagementServer.ConnectionRequestURL": "%{crurl}",
        I + "ManagementServer.ConnectionRequestUsername": "%{serial}",
        I + "ManagementServer.ConnectionRequestPassword": "cpesim",
        I + "ManagementServer.CWMPRetryMinimumWaitInterval": "5",
        I + "ManagementServer.CWMPRetryIntervalMultiplier": "2000",
        I + "Time.Enable": "true",
        I + "Time.Status": "Synchronized",
        I + "Time.NTPServer1": "pool.ntp.org",
        I + "Time.CurrentLocalTime": "%{now}",
        I + "Time.LocalTimeZoneName": "CET-1CEST,M3.5.0,M10.5.0/3",
        I + "Layer3Forwarding.DefaultConnectionService":
            "InternetGatewayDevice.WANDevice.1.WANConnectionDevice.1.WANIPConnection.1.",
        I + "Layer3Forwarding.Forwarding.{i}.GatewayIPAddress": per("%{wangw}"),
        I + "Layer3Forwarding.Forwarding.{i}.Interface":
            per("InternetGatewayDevice.WANDevice.1.WANConnectionDevice.1.WANIPConnection.1."),
        L + "LANHostConfigManagement.DHCPServerEnable": per("true"),
        L + "LANHostConfigManagement.MinAddress": per("192.168.1.100"),
        L + "LANHostConfigManagement.MaxAddress": per("192.168.1.199"),
        L + "LANHostConfigManagement.SubnetMask": per("255.255.255.0"),
        L + "LANHostConfigManagement.DNSServers": per("192.168.1.1"),
        L + "LANHostConfigManagement.DomainName": per("home.lan"),
        L + "LANHostConfigManagement.IPRouters": per("192.168.1.1"),
        L + "LANHostConfigManagement.DHCPLeaseTime": per("86400"),
        L + "LANHostConfigManagement.IPInterface.{i}.IPInterfaceIPAddress": per("192.168.1.1"),
        L + "LANHostConfigManagement.IPInterface.{i}.IPInterfaceSubnetMask": per("255.255.255.0"),
        L + "LANHostConfigManagement.IPInterface.{i}.IPInterfaceAddressingType": per("Static"),
        L + "LANEthernetInterfaceConfig.{i}.MACAddress": per(mac(2), mac(3), mac(4), mac(5)),
        L + "LANEthernetInterfaceConfig.{i}.Status": per("Up", "NoLink", "NoLink", "NoLink"),
        L + "LANEthernetInterfaceConfig.{i}.MaxBitRate": per("Auto", "Auto", "Auto", "Auto"),
        L + "LANEthernetInterfaceConfig.{i}.DuplexMode": per("Auto", "Auto", "Auto", "Auto"),
        L + "WLANConfiguration.{i}.SSID": per("cpesim-%{serial}", "cpesim-%{serial}-5G"),
        L + "WLANConfiguration.{i}.BSSID": per(mac(8), mac(9)),
        L + "WLANConfiguration.{i}.Channel": per("6", "36"),
        L + "WLANConfiguration.{i}.AutoChannelEnable": per("true", "true"),
        L + "WLANConfiguration.{i}.Standard": per("g", "a"),
        L + "WLANConfiguration.{i}.BeaconType": per("11i", "11i"),
        L + "WLANConfiguration.{i}.IEEE11iEncryptionModes": per("AESEncryption", "AESEncryption"),
        L + "WLANConfiguration.{i}.IEEE11iAuthenticationMode": per("PSKAuthentication",
                                                                  "PSKAuthentication"),
        L + "WLANConfiguration.{i}.KeyPassphrase": per("%{hex:16}", "%{hex:16}"),
        L + "WLANConfiguration.{i}.PossibleChannels": per("1-13", "36,40,44,48"),
        L + "WLANConfiguration.{i}.SSIDAdvertisementEnabled": per("true", "true"),
        L + "WLANConfiguration.{i}.RegulatoryDomain": per("DE ", "DE "),
        L + "WLANConfiguration.{i}.Status": per("Up", "Up"),
        L + "WLANConfiguration.{i}.AssociatedDevice.{i}.AssociatedDeviceMACAddress":
            per2({(1, 1): "%{rmac:1}", (2, 1): "%{rmac:3}"}),
        L + "WLANConfiguration.{i}.AssociatedDevice.{i}.AssociatedDeviceIPAddress":
            per2({(1, 1): "192.168.1.101", (2, 1): "192.168.1.103"}),
        L + "WLANConfiguration.{i}.AssociatedDevice.{i}.AssociatedDeviceAuthenticationState":
            per2({(1, 1): "true", (2, 1): "true"}),
        L + "Hosts.Host.{i}.HostName": per(*[h[0] for h in HOSTS98]),
        L + "Hosts.Host.{i}.MACAddress": per(*[h[1] for h in HOSTS98]),
        L + "Hosts.Host.{i}.IPAddress": per(*[h[2] for h in HOSTS98]),
        L + "Hosts.Host.{i}.Layer2Interface": per(*[h[3] for h in HOSTS98]),
        L + "Hosts.Host.{i}.InterfaceType": per(*[h[4] for h in HOSTS98]),
        L + "Hosts.Host.{i}.AddressSource": per("DHCP", "DHCP", "DHCP"),
        L + "Hosts.Host.{i}.LeaseTimeRemaining": per("%{hash:600:86400}", "%{hash:600:86400}",
                                                     "%{hash:600:86400}"),
        L + "Hosts.Host.{i}.Active": per("true", "true", "true"),
        I + "WANDevice.{i}.WANCommonInterfaceConfig.WANAccessType": per("Ethernet"),
        I + "WANDevice.{i}.WANCommonInterfaceConfig.PhysicalLinkStatus": per("Up"),
        I + "WANDevice.{i}.WANCommonInterfaceConfig.Layer1UpstreamMaxBitRate": per("1000000000"),
        I + "WANDevice.{i}.WANCommonInterfaceConfig.Layer1DownstreamMaxBitRate": per("1000000000"),
        I + "WANDevice.{i}.WANCommonInterfaceConfig.TotalBytesSent": per("%{ctr:52000}"),
        I + "WANDevice.{i}.WANCommonInterfaceConfig.TotalBytesReceived": per("%{ctr:410000}"),
        I + "WANDevice.{i}.WANCommonInterfaceConfig.TotalPacketsSent": per("%{ctr:61}"),
        I + "WANDevice.{i}.WANCommonInterfaceConfig.TotalPacketsReceived": per("%{ctr:322}"),
        I + "WANDevice.{i}.WANEthernetInterfaceConfig.Status": per("Up"),
        I + "WANDevice.{i}.WANEthernetInterfaceConfig.MACAddress": per(mac(1)),
        I + "WANDevice.{i}.WANEthernetInterfaceConfig.MaxBitRate": per("1000"),
        I + "WANDevice.{i}.WANEthernetInterfaceConfig.DuplexMode": per("Full"),
        W + "ConnectionStatus": per("Connected"),
        W + "ConnectionType": per("IP_Routed"),
        W + "Name": per("wan"),
        W + "Uptime": per("%{uptime}"),
        W + "NATEnabled": per("true"),
        W + "AddressingType": per("DHCP"),
        W + "ExternalIPAddress": per("%{wanip}"),
        W + "SubnetMask": per("255.192.0.0"),
        W + "DefaultGateway": per("%{wangw}"),
        W + "DNSEnabled": per("true"),
        W + "DNSServers": per("9.9.9.9,1.1.1.1"),
        W + "MACAddress": per(mac(1)),
        W + "PossibleConnectionTypes": per("Unconfigured,IP_Routed,IP_Bridged"),
        W + "Stats.EthernetBytesSent": per("%{ctr:52000}"),
        W + "Stats.EthernetBytesReceived": per("%{ctr:410000}"),
        W + "Stats.EthernetPacketsSent": per("%{ctr:61}"),
        W + "Stats.EthernetPacketsReceived": per("%{ctr:322}"),
    },
}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--datamodels", default=os.path.join(REPO, "..", "shared", "data", "datamodels"))
    ap.add_argument("--out", default=os.path.join(HERE, "models"))
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    for spec, out in ((TR181, "tr181-gateway.model"), (TR098, "tr098-gateway.model")):
        src = os.path.join(a.datamodels, spec["source"])
        if not os.path.exists(src):
            sys.exit("gen_models: %s not found (use --datamodels DIR)" % src)
        n = gen(Model(src), spec, os.path.join(a.out, out))
        print("%s: %d parameters" % (out, n))


if __name__ == "__main__":
    main()
