#!/usr/bin/env python3
"""`haproxy -c` on the HAProxy configurations in deploy/ (the compose stack's
CWMP front, deploy/compose/haproxy.cfg, and the PostgreSQL primary's address
of the HA reference, deploy/ha/haproxy-pg.cfg): each must be valid, and the
CWMP one must keep what acsd needs (cookie routing on acsd's session cookie,
health checks on /ready, no connection reuse). A broken copy must fail, so
the check is shown to bite. Exits 77 (skipped) without haproxy."""
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
CONFIGS = ["deploy/compose/haproxy.cfg", "deploy/ha/haproxy-pg.cfg"]


def check(path):
    p = subprocess.run([HAPROXY, "-c", "-f", path], capture_output=True, text=True)
    return p.returncode, (p.stdout + p.stderr).strip()


HAPROXY = shutil.which("haproxy") or ("/usr/sbin/haproxy" if os.access("/usr/sbin/haproxy", os.X_OK)
                                       else None)


def main():
    if not HAPROXY:
        print("SKIP: haproxy is not installed (apt-get install haproxy)")
        return 77
    bad = 0
    for rel in CONFIGS:
        rc, out = check(os.path.join(ROOT, rel))
        if rc != 0:
            print("FAIL: haproxy -c %s (%d):\n%s" % (rel, rc, out))
            bad += 1
        else:
            print("ok: haproxy -c %s" % rel)
    with open(os.path.join(ROOT, CONFIGS[0])) as f:
        text = f.read()
    for want in ("cookie acsd_session prefix", "option httpchk GET /ready", "http-reuse never",
                 "option persist"):
        if want not in text:
            print("FAIL: %s has no '%s'" % (CONFIGS[0], want))
            bad += 1
    with tempfile.NamedTemporaryFile("w", suffix=".cfg", delete=False) as f:
        f.write(text.replace("balance roundrobin", "balance no-such-algorithm"))
    try:
        rc, _ = check(f.name)
    finally:
        os.unlink(f.name)
    if rc == 0:
        print("FAIL: a copy with an unknown balance algorithm passed haproxy -c")
        bad += 1
    else:
        print("ok: a broken copy fails haproxy -c")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
