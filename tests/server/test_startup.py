#!/usr/bin/env python3
"""acsd's start-up:

- with PostgreSQL not up yet, acsd waits for it with back-off (logging,
  not listening: a probe finds it not ready) and serves once it is up,
  instead of exiting; --store-wait bounds the wait;
- `acsd --help` lists the commands (policies, token, secret);
- the start-up line says "files off" rather than "files port 0" when the
  file server is off;
- docs/api.md no longer calls the bulk connection requests "not wired"
  (tests/server/test_api_bulk.py shows them sent)."""
import os
import subprocess
import sys
import time

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "lib"))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
import pgtest  # noqa: E402
from acstest import Acsd, acsd_path, check, clean_env, request, run_tests  # noqa: E402

SOURCE = os.environ.get("ACS_SOURCE_DIR") or os.path.join(HERE, "..", "..")


class Env:
    pg = None


def test_help_lists_commands():
    p = subprocess.run([acsd_path(), "--help"], capture_output=True, env=clean_env(), timeout=10)
    out = p.stdout.decode()
    check(p.returncode == 0, "acsd --help exit %d" % p.returncode)
    for cmd in ("acsd policies push", "acsd policies list", "acsd token create", "acsd token list",
                "acsd secret set", "--store-wait"):
        check(cmd in out, "acsd --help does not mention %r:\n%s" % (cmd, out))


def start_line(a):
    """The log once it has the start-up line (written as the workers start serving)."""
    a.wait_ready()
    deadline = time.monotonic() + 10
    while " started: " not in a.log() and time.monotonic() < deadline:
        time.sleep(0.05)
    return a.log()


def test_start_line_files_off():
    with Acsd(["--files", "off"]) as a:
        log = start_line(a)
        check("files off" in log and "files port 0" not in log, "start-up line:\n%s" % log)
    with Acsd(["--files", "127.0.0.1:0"]) as a:
        log = start_line(a)
        check("files 127.0.0.1:0 (port " in log and "(port 0)" not in log, "start-up line:\n%s" % log)


def test_docs_bulk_connreq_wired():
    with open(os.path.join(SOURCE, "docs", "api.md")) as f:
        text = f.read()
    check("not wired yet" not in text.lower(), "docs/api.md still says 'not wired yet'")


def test_waits_for_store():
    """PostgreSQL down at start: acsd waits, logs, does not listen; a few
    seconds later PostgreSQL starts and acsd serves."""
    Env.pg.stop()
    with Acsd(["--pg", Env.pg.dsn]) as a:
        time.sleep(3)
        check(a.running(), "acsd exited with the store down:\n%s" % a.log())
        check("waiting for the store" in a.log() and "not ready" in a.log(), "no waiting logged:\n%s" % a.log())
        try:
            st, _, _ = request(a.api, "GET", "/health", timeout=1)
            check(False, "acsd answered /health (%d) before its store was up" % st)
        except OSError:
            pass
        t0 = time.monotonic()
        Env.pg.start()
        a.wait_ready(timeout=30)
        took = time.monotonic() - t0
        print("     served %.1f s after PostgreSQL started" % took, flush=True)
        check("the store answers after" in a.log(), "log:\n%s" % a.log())
        st, _, _ = request(a.api, "GET", "/api/v1/devices", timeout=5)
        check(st == 401, "the API without a token: %d" % st)  # the API reaches its store
        a.signal()
        rc, _ = a.wait_exit(20)
        a.check_clean_exit(rc)


def test_store_wait_bound():
    Env.pg.stop()
    try:
        with Acsd(["--pg", Env.pg.dsn, "--store-wait", "2"]) as a:
            rc, took = a.wait_exit(15)
            check(rc != 0 and "no answer within 2 s" in a.log(), "rc %s:\n%s" % (rc, a.log()))
            check(1.5 <= took <= 6, "gave up after %.1f s, expected about 2" % took)
    finally:
        Env.pg.start()


def main():
    pgtest.skip_unless_available()
    with pgtest.PgCluster(fast=True) as pg:
        Env.pg = pg
        run_tests([test_help_lists_commands, test_start_line_files_off, test_docs_bulk_connreq_wired,
                   test_waits_for_store, test_store_wait_bound])
    print("ok", flush=True)
    sys.exit(0)


if __name__ == "__main__":
    main()
