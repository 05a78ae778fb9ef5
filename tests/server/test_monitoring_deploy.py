#!/usr/bin/env python3
"""deploy/monitoring/ against the server: every metric name the alert
rules and the Grafana dashboard query is one a real acsd serves on /metrics
(families from its TYPE lines; _bucket/_sum/_count of its histograms), and,
with Prometheus installed, `promtool check config`, `check rules` and
`test rules` (deploy/monitoring/alerts_test.yml) accept them."""
import json
import os
import re
import shutil
import subprocess
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "lib"))
from acstest import Acsd, check, main, request  # noqa: E402

SRC = os.environ.get("ACS_SOURCE_DIR") or os.path.join(HERE, "..", "..")
MON = os.path.join(SRC, "deploy", "monitoring")


def served_families():
    with Acsd(["--log-level", "warn"]) as s:
        s.wait_ready()
        st, _, body = request(s.api, "GET", "/metrics")
        check(st == 200, "/metrics: %d" % st)
    return dict(re.findall(r"^# TYPE (\S+) (\S+)$", body.decode(), re.M))


def names_in(expr):
    """The acsd_ metric names an expression uses (label values excluded)."""
    expr = re.sub(r'"[^"]*"', '""', expr)
    return set(re.findall(r"\bacsd_[a-zA-Z0-9_]+", expr))


def check_names(where, exprs, fams):
    used = set()
    for e in exprs:
        for n in names_in(e):
            base = re.sub(r"_(bucket|sum|count)$", "", n)
            ok = n in fams or (base != n and fams.get(base) == "histogram")
            check(ok, "%s: %s is not a metric acsd serves (in %r)" % (where, n, e))
            used.add(n)
    check(used, "%s: no acsd metric used at all" % where)
    return used


def test_dashboard_and_rules_use_served_names():
    fams = served_families()
    with open(os.path.join(MON, "grafana-dashboard.json")) as f:
        dash = json.load(f)
    exprs = [t["expr"] for p in dash["panels"] for t in p.get("targets", [])]
    check(len(exprs) >= 10, "dashboard: %d queries" % len(exprs))
    check_names("grafana-dashboard.json", exprs, fams)
    with open(os.path.join(MON, "alerts.yml")) as f:
        text = f.read()
    # the rules' expressions, without a YAML library: "expr: ..." or "expr: |" blocks
    rule_exprs, cur = [], None
    for line in text.splitlines():
        m = re.match(r"^(\s*)expr:\s*(.*)$", line)
        if m:
            if m.group(2).strip() == "|":
                cur = [len(m.group(1)), []]
                rule_exprs.append(cur[1])
            else:
                rule_exprs.append([m.group(2)])
                cur = None
        elif cur is not None and (not line.strip() or len(line) - len(line.lstrip()) > cur[0]):
            cur[1].append(line)
        else:
            cur = None
    check(len(rule_exprs) >= 7, "alerts.yml: %d expressions" % len(rule_exprs))
    check_names("alerts.yml", [" ".join(x) for x in rule_exprs], fams)


def test_promtool():
    promtool = shutil.which("promtool")
    if not promtool:
        print("     (promtool missing: apt-get install prometheus; deploy/monitoring not "
              "checked by it)")
        return
    for args in (["check", "config", "prometheus.yml"], ["check", "rules", "alerts.yml"],
                 ["test", "rules", "alerts_test.yml"]):
        p = subprocess.run([promtool] + args, cwd=MON, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=120)
        check(p.returncode == 0, "promtool %s:\n%s" % (" ".join(args), p.stdout.decode()))


if __name__ == "__main__":
    main([test_dashboard_and_rules_use_served_names, test_promtool])
