"""policytest: what the server tests of policy pushes share (stdlib only):
the store, the API (answers checked against api/openapi.yaml), `acsd policies
push` and acsctl, all bound to a test's Env (pg, tok, acsd).

    H = policytest.Helpers(Env)
    st, doc = H.api("GET", "/api/v1/policies")
    rc, out, err = H.acsctl("policies", "push", d)

The module is imported after the test has put tests/server on sys.path
(the OpenAPI checker, test_api_queries, lives there)."""
import json
import os
import shutil
import subprocess
import sys

import pgtest
import test_api_queries as spec
from acstest import acsd_path, clean_env, create_token, request, run_tests


def tree_of(d):
    """The directory as POST /api/v1/policies takes it."""
    files = {}
    for kind in sorted(os.listdir(d)):
        if not os.path.isdir(os.path.join(d, kind)):
            continue
        for f in sorted(os.listdir(os.path.join(d, kind))):
            if f.endswith(".lua"):
                with open(os.path.join(d, kind, f)) as fh:
                    files["%s/%s" % (kind, f)] = fh.read()
    return files


class Helpers:
    def __init__(self, env, timeout=30):
        self.env, self.timeout = env, timeout

    def psql(self, sql):
        return self.env.pg.psql(sql)

    def api(self, method, path, body=None, inst=None):
        """(status, JSON document) of one request with the test's token."""
        h = {"Authorization": "Bearer " + self.env.tok}
        data = b""
        if body is not None:
            data = json.dumps(body)
            h["Content-Type"] = "application/json"
        st, rh, text = request((inst or self.env.acsd).api, method, path, h, data,
                               timeout=self.timeout)
        doc = json.loads(text) if text else None
        spec.validate(method, path, st, rh, doc)
        return st, doc

    def cli_push(self, d, *extra):
        """(exit code, output) of `acsd policies push d` on the test's store."""
        p = subprocess.run([acsd_path(), "policies", "push", d, "--pg", self.env.pg.dsn] +
                           list(extra), stdin=subprocess.DEVNULL, capture_output=True,
                           env=clean_env(), timeout=60)
        return p.returncode, (p.stdout + p.stderr).decode()

    def acsctl(self, *args):
        """(exit code, stdout, stderr) of acsctl against the test's acsd."""
        e = {k: v for k, v in clean_env().items() if not k.startswith("ACSCTL_")}
        e["ACSCTL_URL"] = "http://127.0.0.1:%d" % self.env.acsd.api
        e["ACSCTL_TOKEN"] = self.env.tok
        ctl = os.path.join(os.path.dirname(acsd_path()), "acsctl")
        p = subprocess.run([sys.executable, ctl] + list(args), capture_output=True, env=e,
                           timeout=60, stdin=subprocess.DEVNULL)
        return p.returncode, p.stdout.decode(), p.stderr.decode()

    def acsctl_out(self, *args):
        """(exit code, stdout and stderr) of acsctl against the test's acsd."""
        rc, out, err = self.acsctl(*args)
        return rc, out + err


class Logs:
    """The log of the test's acsd of the moment (env.acsd: the tests start
    and stop it), for run_tests."""

    def __init__(self, env):
        self.env = env

    def log(self):
        return self.env.acsd.log() if self.env.acsd else ""


def run_with_acsd(env, tests, tail=4000):
    """run_tests(tests) with the log of env.acsd, which is killed afterwards
    (if there is one then), whatever happened."""
    try:
        run_tests(tests, [("acsd", Logs(env))], tail=tail)
    finally:
        if env.acsd:
            env.acsd.kill()


def main(env, tests, tmp, setup=None):
    """The policy tests' main(), once the directory tmp (removed at the end,
    whatever happened) holds their trees: a throwaway cluster in env.pg, an
    admin token in env.tok, setup() if given, then the tests (run_with_acsd);
    exits 0 when they pass."""
    try:
        with pgtest.PgCluster(fast=True) as pg:
            env.pg = pg
            env.tok = create_token(pg.dsn, "admin", "admin")
            if setup:
                setup()
            run_with_acsd(env, tests)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("ok", flush=True)
    sys.exit(0)
