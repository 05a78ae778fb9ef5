#!/usr/bin/env python3
"""run_with_pg: runs a test program against a fresh PostgreSQL cluster.

    python3 tests/lib/run_with_pg.py [--fast] [--] PROGRAM [ARGS...]

Starts a throwaway cluster (pgtest.PgCluster), runs PROGRAM with these
environment variables, then stops and deletes the cluster and exits with
PROGRAM's status (128+N if killed by signal N):

    ACS_TEST_PG_DSN        hostaddr=127.0.0.1 port=N dbname=acsd user=acsd
                           (acsd is not a superuser; it owns database acsd)
    ACS_TEST_PG_ADMIN_DSN  the same as superuser postgres, database postgres
    ACS_TEST_PG_PORT       N
    ACS_TEST_PG_STOP       shell command: stop the server (fast), waits
    ACS_TEST_PG_START      shell command: start it again, waits until it accepts

Exits 77 (skipped) when PostgreSQL is not installed, saying why. On failure
it prints the tail of the server log.
"""
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pgtest  # noqa: E402


def _die_with_parent():
    """The program is killed if we are (Linux PR_SET_PDEATHSIG)."""
    try:
        import ctypes
        ctypes.CDLL(None, use_errno=True).prctl(1, 9, 0, 0, 0)  # PR_SET_PDEATHSIG, SIGKILL
    except Exception:
        pass


def main(argv):
    fast = False
    while argv and argv[0].startswith("--"):
        a = argv.pop(0)
        if a == "--":
            break
        if a == "--fast":
            fast = True
        else:
            print("run_with_pg: unknown option %s" % a, file=sys.stderr)
            return 2
    if not argv:
        print(__doc__, file=sys.stderr)
        return 2
    pgtest.skip_unless_available()
    rc = 1
    with pgtest.PgCluster(fast=fast) as pg:
        env = dict(os.environ)
        env.update(pg.env())
        sys.stdout.flush()
        p = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL,
                             preexec_fn=_die_with_parent)
        try:
            rc = p.wait()
        except BaseException:
            p.kill()
            p.wait()
            raise
        if rc < 0:
            rc = 128 - rc
        if rc not in (0, pgtest.SKIP):
            tail = pg.log().splitlines()[-40:]
            if tail:
                print("--- PostgreSQL log (tail) ---", file=sys.stderr)
                print("\n".join(tail), file=sys.stderr)
    return rc


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
