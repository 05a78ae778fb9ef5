#!/usr/bin/env python3
"""deploy/backup.sh and deploy/restore.sh: a backup restored into a fresh
cluster serves its devices (docs/operations.md, "Backups and disaster recovery").

    python3 tests/deploy/test_backup_restore.py     (ACS_BIN_DIR: where acsd and cpesim are)

A cluster A with a WAL archive (archive_command, as deploy/ha/patroni.yml
sets it): acsd on it, 40 cpesim devices boot (fleet 1). Then both kinds of
backup: `backup.sh --mode dump` (as the role acsd) and `--mode base` (as a
replication role). Then 30 more devices boot (fleet 2: only in the WAL
archive, after the base backup) and A is stopped for good.
- dump: restore.sh into a fresh cluster B; acsd on B serves fleet 1 (every
  device's periodic session ok, 0 failed) and the API lists its 40 devices,
  not fleet 2's.
- base + WAL: restore.sh unpacks the base backup into a new data directory and
  replays the archive; PostgreSQL started there has fleets 1 and 2 (70
  devices); acsd on it serves both fleets' periodic sessions and the API
  lists 70.
- a damaged dump (its checksum does not match) is refused and the target
  database stays empty; a restore into a database that has tables is refused.
Exits 0, 1 or 77 (skipped: no PostgreSQL or binaries)."""
import json
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
sys.path.insert(0, os.path.join(HERE, "..", "cpesim"))
from simtest import Fail, Proc, bin_path, check, free_port, http, wait_for  # noqa: E402
import pgtest  # noqa: E402

AS_ROOT = os.geteuid() == 0
FLEET1, FLEET2 = 40, 30


def as_pg(argv):
    return (["runuser", "-u", "postgres", "--"] + argv) if AS_ROOT else argv


def give_to_pg(path):
    if AS_ROOT:
        pw = pwd.getpwnam("postgres")
        os.chown(path, pw.pw_uid, pw.pw_gid)


def run(argv, env=None, ok=True):
    p = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                       env=dict(os.environ, **(env or {})), timeout=180)
    if ok and p.returncode != 0:
        raise Fail("%s failed (%d): %s%s" % (" ".join(argv), p.returncode, p.stdout, p.stderr))
    return p


class Acsd:
    """acsd on DSN with an admin token, stopped by close()."""

    def __init__(self, dsn, tmp, name):
        self.cwmp, self.api = free_port(), free_port()
        self.p = Proc([bin_path("acsd"), "--pg", dsn, "--cwmp", "127.0.0.1:%d" % self.cwmp,
                       "--api", "127.0.0.1:%d" % self.api, "--files", "off", "--workers", "1"])
        wait_for("acsd (%s) /ready" % name, lambda: self.p.alive() and http(
            "GET", "http://127.0.0.1:%d/ready" % self.api)[0] == 200, 60)
        t = run([bin_path("acsd"), "token", "create", "--role", "admin", "--name", name,
                 "--pg", dsn])
        self.token = t.stdout.strip()
        self.tmp, self.name = tmp, name

    def devices(self, prefix):
        """The ids the API lists whose serial starts with prefix (all pages)."""
        ids, cursor = [], None
        while True:
            url = "http://127.0.0.1:%d/api/v1/devices?limit=100" % self.api
            if cursor:
                url += "&cursor=" + cursor
            st, text, _ = http("GET", url, headers={"Authorization": "Bearer " + self.token})
            check(st == 200, "GET devices: %d %s" % (st, text[:200]))
            doc = json.loads(text)
            ids += [d["id"] for d in doc["items"] if d["id"].split("-")[-1].startswith(prefix)]
            cursor = doc.get("next_cursor")
            if not cursor:
                return sorted(ids)

    def cpesim(self, prefix, count, state, periodic, first=0):
        """Every device of the fleet has one session; returns cpesim's JSON summary."""
        args = [bin_path("cpesim"), "--acs", "http://127.0.0.1:%d/" % self.cwmp, "--quiet",
                "--count", str(count), "--first", str(first), "--serial-prefix", prefix,
                "--seed", "7", "--state", state, "--concurrency", "20", "--no-loop",
                "--sessions", str(count), "--duration", "60", "--periodic-interval", "86400"]
        if periodic:
            args.append("--periodic")
        p = Proc(args)
        try:
            rc = p.wait(120)
        finally:
            p.kill()
        out = p.log()
        check(rc == 0, "cpesim (%s) exited %s: %s" % (prefix, rc, out[-2000:]))
        summary = json.loads(out.strip().splitlines()[-1])
        check(summary["sessions_ok"] == count and summary["sessions_failed"] == 0,
              "%s: %d sessions ok, %d failed, want %d ok" % (
                  prefix, summary["sessions_ok"], summary["sessions_failed"], count))
        return summary

    def close(self):
        self.p.kill()


def main():
    for b in ("acsd", "cpesim"):
        if not os.access(bin_path(b), os.X_OK):
            print("SKIP: %s not built (set ACS_BIN_DIR)" % bin_path(b))
            return 77
    pgtest.skip_unless_available()
    t0 = time.monotonic()
    tmp = tempfile.mkdtemp(prefix="acs-backup-", dir="/tmp" if AS_ROOT else None)
    os.chmod(tmp, 0o755)
    live = []
    extra_pg = None
    try:
        archive = os.path.join(tmp, "wal")
        backups = os.path.join(tmp, "backups")
        for d in (archive, backups):
            os.mkdir(d)
            give_to_pg(d)
        a = pgtest.PgCluster(settings={
            "archive_mode": "on",
            "archive_command": "'test ! -f %s/%%f && cp %%p %s/%%f'" % (archive, archive)})
        a.setup()
        live.append(a)
        acs = Acsd(a.dsn, tmp, "a")
        live.append(acs)
        s1, s2 = os.path.join(tmp, "fleet1.state"), os.path.join(tmp, "fleet2.state")
        acs.cpesim("BKA", FLEET1, s1, periodic=False)
        check(len(acs.devices("BKA")) == FLEET1, "fleet 1 is not stored on A")
        print("ok: fleet 1 (%d devices) booted on cluster A" % FLEET1, flush=True)

        script = os.path.join(ROOT, "deploy", "backup.sh")
        env = {"ACS_PG_BINDIR": a.bindir}
        out = run([script, "--mode", "dump", "--pg", a.dsn, "--dir", backups], env)
        dump = out.stdout.strip().splitlines()[-1]
        check(dump.endswith(".dump") and os.path.getsize(dump) > 0, "no dump: %s" % out.stdout)
        base_dsn = "hostaddr=127.0.0.1 port=%d user=postgres" % a.port
        out = run(as_pg([script, "--mode", "base", "--pg", base_dsn, "--dir", backups]), env)
        base = out.stdout.strip().splitlines()[-1]
        check(os.path.isfile(os.path.join(base, "base.tar.gz")), "no base backup: %s" % out.stdout)
        print("ok: backup.sh made %s and %s" % (os.path.basename(dump), os.path.basename(base)),
              flush=True)

        acs.cpesim("BKB", FLEET2, s2, periodic=False)
        # the segment holding fleet 2 goes to the archive
        seg = a.psql("SELECT pg_walfile_name(pg_switch_wal())", user="postgres", db="postgres")
        wait_for("WAL %s archived" % seg, lambda: os.path.exists(os.path.join(archive, seg)), 30)
        acs.close()
        a.destroy()
        live.clear()
        print("ok: fleet 2 (%d devices) booted after the base backup; cluster A is gone" % FLEET2,
              flush=True)

        # --- the dump into a fresh cluster
        b = pgtest.PgCluster()
        b.setup()
        live.append(b)
        restore = os.path.join(ROOT, "deploy", "restore.sh")
        bad = os.path.join(tmp, "damaged.dump")
        with open(dump, "rb") as f:
            data = bytearray(f.read())
        data[len(data) // 2] ^= 0xFF
        with open(bad, "wb") as f:
            f.write(data)
        shutil.copy(dump + ".sha256", bad + ".sha256")
        with open(bad + ".sha256", "w") as f:
            f.write(open(dump + ".sha256").read().replace(os.path.basename(dump), "damaged.dump"))
        p = run([restore, "--dump", bad, "--pg", b.dsn], env, ok=False)
        check(p.returncode != 0 and "checksum" in p.stderr, "a damaged dump was not refused: %s" %
              p.stderr)
        check(b.psql("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'") == "0",
              "the refused restore left tables behind")
        run([restore, "--dump", dump, "--pg", b.dsn], env)
        p = run([restore, "--dump", dump, "--pg", b.dsn], env, ok=False)
        check(p.returncode != 0 and "already has" in p.stderr,
              "a restore over a non-empty database was not refused: %s" % p.stderr)
        print("ok: restore.sh refuses a damaged dump and a non-empty database", flush=True)
        acs = Acsd(b.dsn, tmp, "b")
        live.append(acs)
        ids = acs.devices("BK")
        check(len(ids) == FLEET1 and all("BKA" in i for i in ids),
              "the API on the restored dump lists %d devices (%s...), want fleet 1's %d" % (
                  len(ids), ids[:3], FLEET1))
        acs.cpesim("BKA", FLEET1, s1, periodic=True)
        print("ok: dump restored into a fresh cluster: the API lists fleet 1's %d devices, "
              "their %d periodic sessions ok" % (FLEET1, FLEET1), flush=True)
        acs.close()
        b.destroy()
        live.clear()

        # --- the base backup plus the WAL archive
        datadir = os.path.join(tmp, "restored")
        os.mkdir(datadir)
        give_to_pg(datadir)
        run(as_pg([restore, "--base", base, "--datadir", datadir, "--wal", archive]), env)
        port = free_port()
        sock = os.path.join(tmp, "sock")
        os.mkdir(sock)
        give_to_pg(sock)
        with open(os.path.join(datadir, "postgresql.auto.conf"), "a") as f:
            f.write("port = %d\nunix_socket_directories = '%s'\n" % (port, sock))
        ctl = os.path.join(a.bindir, "pg_ctl")
        extra_pg = (ctl, datadir)
        run(as_pg([ctl, "-D", datadir, "-l", os.path.join(sock, "restored.log"), "-w", "-t", "90",
                   "start"]))
        psql = [os.path.join(a.bindir, "psql"), "-X", "-At", "-h", "127.0.0.1", "-p", str(port)]
        wait_for("recovery to end", lambda: run(
            psql + ["-U", "postgres", "-c", "SELECT pg_is_in_recovery()"], ok=False
        ).stdout.strip() == "f", 60)
        dsn = "hostaddr=127.0.0.1 port=%d dbname=acsd user=acsd" % port
        acs = Acsd(dsn, tmp, "c")
        live.append(acs)
        ids = acs.devices("BK")
        check(len(ids) == FLEET1 + FLEET2, "the API on the restored base backup lists %d devices, "
              "want %d (fleet 2 is in the WAL archive only)" % (len(ids), FLEET1 + FLEET2))
        acs.cpesim("BKA", FLEET1, s1, periodic=True)
        acs.cpesim("BKB", FLEET2, s2, periodic=True)
        print("ok: base backup + WAL archive restored: the API lists %d devices, all their "
              "periodic sessions ok" % (FLEET1 + FLEET2), flush=True)
    except Fail as e:
        print("FAIL: %s" % e)
        for x in live:
            if isinstance(x, Acsd):
                print("--- acsd %s (tail) ---\n%s" % (x.name, x.p.log()[-3000:]))
        return 1
    finally:
        for x in reversed(live):
            if isinstance(x, Acsd):
                x.close()
            else:
                x.destroy()
        if extra_pg:
            subprocess.run(as_pg([extra_pg[0], "-D", extra_pg[1], "-m", "immediate", "-w",
                                  "stop"]), capture_output=True)
        shutil.rmtree(tmp, ignore_errors=True)
    print("PASS (%.0f s)" % (time.monotonic() - t0))
    return 0


if __name__ == "__main__":
    sys.exit(main())
