"""pgtest: a throwaway PostgreSQL cluster for integration tests (stdlib only).

    from pgtest import PgCluster, skip_unless_available
    skip_unless_available()            # exit 77 (skip), saying why, if no PostgreSQL
    with PgCluster() as pg:            # initdb + start on a free loopback port
        pg.dsn                         # "hostaddr=127.0.0.1 port=N dbname=acsd user=acsd"
        pg.admin_dsn                   # the same as superuser postgres, database postgres
        pg.psql("SELECT 1")            # runs SQL as acsd (or user=, db=), returns stdout
        pg.stop(); pg.start()          # an outage, same port and data
    # stopped (pg_ctl stop -m fast) and deleted, whatever happened

The role acsd is NOT a superuser; it owns the database acsd (what a managed
PostgreSQL gives an application). Authentication is trust on loopback.

Binaries: $ACS_PG_BINDIR, else the newest /usr/lib/postgresql/*/bin. initdb
refuses to run as root, so as root the cluster lives in a fresh directory
chowned to the user postgres and every server command runs through
`runuser -u postgres --`.

fsync stays on (durability tests need it); PgCluster(fast=True) turns off
fsync, synchronous_commit and full_page_writes for tests that only want speed.

Cleanup happens at exit (atexit), on SIGTERM/SIGINT/SIGHUP, and, should this
process be killed outright (a ctest timeout sends SIGKILL), through a watchdog
process that notices its pipe close and stops the server with -m immediate.
"""
import atexit
import glob
import os
import pwd
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

SKIP = 77
_clusters = []
_handlers_installed = False


def find_bindir():
    """Directory of initdb/pg_ctl/postgres/psql, or None."""
    env = os.environ.get("ACS_PG_BINDIR")
    if env:
        return env if os.access(os.path.join(env, "pg_ctl"), os.X_OK) else None
    best = None
    for d in glob.glob("/usr/lib/postgresql/*/bin"):
        m = re.search(r"/postgresql/(\d+)(?:\.(\d+))?/bin$", d)
        if not m or not os.access(os.path.join(d, "pg_ctl"), os.X_OK):
            continue
        key = (int(m.group(1)), int(m.group(2) or 0))
        if best is None or key > best[0]:
            best = (key, d)
    return best[1] if best else None


def unavailable_reason():
    """Why a cluster cannot be started here, or None."""
    bindir = find_bindir()
    if not bindir:
        return ("no PostgreSQL server binaries (apt-get install postgresql, "
                "or set ACS_PG_BINDIR)")
    for prog in ("initdb", "pg_ctl", "postgres", "psql"):
        if not os.access(os.path.join(bindir, prog), os.X_OK):
            return "%s missing in %s" % (prog, bindir)
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root and there is no user postgres to run the server"
        if not shutil.which("runuser"):
            return "running as root and runuser is missing"
    return None


def skip_unless_available():
    why = unavailable_reason()
    if why:
        print("SKIP: %s" % why, flush=True)
        sys.exit(SKIP)


from ports import free_port  # noqa: E402,F401 (also for the tests that import it from here)


def _cleanup_all():
    for c in list(_clusters):
        c.destroy()


def _on_signal(signum, frame):
    _cleanup_all()
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)


def _install_handlers():
    global _handlers_installed
    if _handlers_installed:
        return
    _handlers_installed = True
    atexit.register(_cleanup_all)
    for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        try:
            signal.signal(s, _on_signal)
        except (ValueError, OSError):  # not the main thread
            pass


class PgError(Exception):
    pass


class PgCluster:
    def __init__(self, fast=False, bindir=None, settings=None):
        why = unavailable_reason() if bindir is None else None
        if why:
            raise PgError(why)
        self.bindir = bindir or find_bindir()
        self.fast = fast
        self.settings = dict(settings or {})
        self.as_root = os.geteuid() == 0
        self.tmp = None
        self.port = None
        self.running = False
        self._watchdog = None
        self._wd_fd = None

    # --- commands

    def _server_cmd(self, prog, *args):
        argv = [os.path.join(self.bindir, prog)] + list(args)
        if self.as_root:
            argv = ["runuser", "-u", "postgres", "--"] + argv
        return argv

    def _run(self, argv, check=True, timeout=120):
        p = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=timeout)
        out = p.stdout.decode("utf-8", "replace")
        if check and p.returncode != 0:
            raise PgError("%s failed (%d):\n%s" % (shlex.join(argv), p.returncode, out))
        return out

    @property
    def datadir(self):
        return os.path.join(self.tmp, "data")

    @property
    def sockdir(self):
        return os.path.join(self.tmp, "sock")

    @property
    def logfile(self):
        return os.path.join(self.tmp, "server.log")

    def ctl_argv(self, action):
        """pg_ctl command line for "start" or "stop" (fast, waits)."""
        if action == "start":
            return self._server_cmd("pg_ctl", "-D", self.datadir, "-l", self.logfile,
                                    "-w", "-t", "60", "start")
        if action == "stop":
            return self._server_cmd("pg_ctl", "-D", self.datadir, "-m", "fast",
                                    "-w", "-t", "60", "stop")
        raise ValueError(action)

    def ctl_command(self, action):
        """The same as one shell string, for C tests (system() or sh -c)."""
        return shlex.join(self.ctl_argv(action)) + " >/dev/null"

    # --- life cycle

    def _mktemp(self):
        base = os.environ.get("ACS_TEST_TMPDIR") or ("/tmp" if self.as_root else None)
        self.tmp = tempfile.mkdtemp(prefix="acs-pg-", dir=base)
        os.mkdir(self.sockdir)
        if self.as_root:
            pw = pwd.getpwnam("postgres")
            for d in (self.tmp, self.sockdir):
                os.chown(d, pw.pw_uid, pw.pw_gid)
            os.chmod(self.tmp, 0o755)

    def _conf(self):
        fast = self.fast
        conf = {
            "listen_addresses": "'127.0.0.1'",
            "port": str(self.port),
            "unix_socket_directories": "'%s'" % self.sockdir,
            "fsync": "off" if fast else "on",
            "synchronous_commit": "off" if fast else "on",
            "full_page_writes": "off" if fast else "on",
            "shared_buffers": "64MB",
            "max_connections": "100",
            "logging_collector": "off",
            "log_line_prefix": "'%m [%p] %u@%d '",
            "log_min_messages": "warning",
            "timezone": "'UTC'",
        }
        conf.update({k: str(v) for k, v in self.settings.items()})
        return "".join("%s = %s\n" % kv for kv in conf.items())

    def _start_watchdog(self):
        r, w = os.pipe()
        args = [sys.executable, os.path.abspath(__file__), "--watchdog", str(r),
                self.tmp, self.bindir]
        self._watchdog = subprocess.Popen(args, pass_fds=(r,), start_new_session=True,
                                          stdin=subprocess.DEVNULL)
        os.close(r)
        self._wd_fd = w  # os.pipe() fds are not inherited by other children

    def __enter__(self):
        self.setup()
        return self

    def __exit__(self, *exc):
        self.destroy()
        return False

    def setup(self):
        """initdb, start, create role and database acsd."""
        _install_handlers()
        _clusters.append(self)
        self._mktemp()
        self._start_watchdog()
        self._run(self._server_cmd("initdb", "-D", self.datadir, "-U", "postgres",
                                   "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync",
                                   "--no-instructions"))
        last = None
        for _ in range(5):
            self.port = free_port()
            with open(os.path.join(self.datadir, "postgresql.auto.conf"), "w") as f:
                f.write(self._conf())
            if self.as_root:
                pw = pwd.getpwnam("postgres")
                os.chown(os.path.join(self.datadir, "postgresql.auto.conf"),
                         pw.pw_uid, pw.pw_gid)
            try:
                self.start()
                break
            except PgError as e:  # port taken meanwhile: another one
                last = e
        else:
            raise last
        self.psql("CREATE ROLE acsd LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE",
                  user="postgres", db="postgres")
        self.psql("CREATE DATABASE acsd OWNER acsd", user="postgres", db="postgres")
        return self

    def start(self):
        self._run(self.ctl_argv("start"))
        self.running = True

    def stop(self, mode="fast"):
        if not self.running:
            return
        argv = self.ctl_argv("stop")
        if mode != "fast":
            argv[argv.index("fast")] = mode
        self._run(argv)
        self.running = False

    def destroy(self):
        """Stops the server (fast, then immediate) and deletes everything."""
        if self in _clusters:
            _clusters.remove(self)
        if self.tmp and os.path.isdir(self.datadir) and \
                os.path.exists(os.path.join(self.datadir, "postmaster.pid")):
            for mode in ("fast", "immediate"):
                try:
                    self.running = True
                    self.stop(mode)
                    break
                except Exception:
                    continue
        self.running = False
        if self.tmp:
            shutil.rmtree(self.tmp, ignore_errors=True)
            self.tmp = None
        if self._wd_fd is not None:
            os.close(self._wd_fd)  # the watchdog exits: nothing left to do
            self._wd_fd = None
        if self._watchdog:
            try:
                self._watchdog.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._watchdog.kill()
            self._watchdog = None

    # --- access

    @property
    def dsn(self):
        return "hostaddr=127.0.0.1 port=%d dbname=acsd user=acsd" % self.port

    @property
    def admin_dsn(self):
        return "hostaddr=127.0.0.1 port=%d dbname=postgres user=postgres" % self.port

    def psql(self, sql, user="acsd", db="acsd", check=True):
        argv = [os.path.join(self.bindir, "psql"), "-X", "-q", "-A", "-t", "-v",
                "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p", str(self.port), "-U", user,
                "-d", db, "-c", sql]
        return self._run(argv, check=check).strip()

    def log(self):
        try:
            with open(self.logfile, encoding="utf-8", errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def env(self):
        """What C tests read: the DSNs and the outage commands."""
        return {
            "ACS_TEST_PG_DSN": self.dsn,
            "ACS_TEST_PG_ADMIN_DSN": self.admin_dsn,
            "ACS_TEST_PG_PORT": str(self.port),
            "ACS_TEST_PG_STOP": self.ctl_command("stop"),
            "ACS_TEST_PG_START": self.ctl_command("start"),
        }


def _watchdog_main(fd, tmp, bindir):
    """Waits for the parent's pipe to close; then makes sure nothing is left."""
    try:
        while os.read(fd, 1):
            pass
    except OSError:
        pass
    data = os.path.join(tmp, "data")
    if os.path.exists(os.path.join(data, "postmaster.pid")):
        argv = [os.path.join(bindir, "pg_ctl"), "-D", data, "-m", "immediate", "-w", "stop"]
        if os.geteuid() == 0:
            argv = ["runuser", "-u", "postgres", "--"] + argv
        subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__" and len(sys.argv) == 5 and sys.argv[1] == "--watchdog":
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _watchdog_main(int(sys.argv[2]), sys.argv[3], sys.argv[4])
