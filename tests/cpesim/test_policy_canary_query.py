#!/usr/bin/env python3
"""Canary roll-outs targeted by a device query, end to end (docs/policies.md,
"Canary generations"): real PostgreSQL, acsd (2 workers) and 40 cpesim
devices, then 5 more; the world of test_policy_canary.py (each generation's
provision tags the device "gen-N").

The query is the language of GET /api/v1/devices?q=:
  - to "tag = pilot" (8 devices tagged through the API): exactly those run
    the canary; a query that does not parse is 400, so is neither share
    nor query; a share below the running 100 % is 409, and so is a query
    given to a roll-out of a share of the whole fleet;
  - widened by another query (a serial prefix): the devices of either;
  - a faulting generation to "tag = pilot" is rolled back automatically,
    its counts over the 8 members only;
  - a query (a regular expression) and a share together: exactly the
    devices that match and whose stable point is below the share, widened
    by share;
  - widened by a query that only devices not seen yet match: 5 new devices
    join at their first contact (the catch-up) and run the canary from their
    next session; completed, every device runs it.

Exits 0 (pass), 1 (fail) or 77 (skipped: no PostgreSQL or no binaries).
"""
import os
import re
import sys
import time
import urllib.parse

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
sys.path.insert(0, HERE)
from simtest import check, run_test, wait_for  # noqa: E402
from test_policy_canary import (BOOM, N, World, canary_loaded, expect_members, logs,  # noqa: E402
                                members_loaded, point, serial, tree)


def run(w):
    # --- roll-outs targeted by a device query
    g1 = w.push(tree(1))
    w.served(g1)
    w.sessions(periodic=False)
    check(set(w.tags().values()) == {"gen-1"}, "boot: %r" % w.tags())
    ids = sorted(w.tags())
    pilot = set(ids[::5])
    for d in pilot:
        st, doc = w.call("POST", "/api/v1/devices/%s/tags" % urllib.parse.quote(d, safe=""),
                         {"add": ["pilot"]})
        check(st == 200, "tag %s: %d %r" % (d, st, doc))
    g2 = w.push(tree(2), activate=False)
    st, doc = w.call("POST", "/api/v1/policies/rollout",
                     {"generation": g2, "query": "serial_number = CN*", "reason": "typo"})
    check(st == 400 and "query: at" in doc["error"] and "wildcard" in doc["error"],
          "a query that does not parse: %d %r" % (st, doc))
    st, doc = w.call("POST", "/api/v1/policies/rollout", {"generation": g2, "reason": "none"})
    check(st == 400 and "share or query" in doc["error"], "neither share nor query: %d %r" % (
        st, doc))
    st, doc = w.call("POST", "/api/v1/policies/rollout", {"generation": g2, "share": 10})
    check(st == 201 and doc["query"] is None and doc["members"] == 0, "a share: %d %r" % (st, doc))
    st, doc = w.call("POST", "/api/v1/policies/rollout", {"generation": g2, "share": 20,
                                                          "query": "tag = pilot"})
    check(st == 409 and "would narrow" in doc["error"], "a query on a share of the fleet: %d %r" % (
        st, doc))
    st, doc = w.call("POST", "/api/v1/policies/rollout/abort", {"reason": "wrong kind"})
    check(st == 200, "abort: %d %r" % (st, doc))
    st, doc = w.call("POST", "/api/v1/policies/rollout",
                     {"generation": g2, "query": "tag = pilot", "min_devices": 2,
                      "reason": "pilot devices"})
    check(st == 201 and doc["query"] == "tag = pilot" and doc["share"] == 100 and
          doc["members"] == len(pilot), "start to a query: %d %r" % (st, doc))
    r4 = doc["id"]
    st, doc = w.call("POST", "/api/v1/policies/rollout", {"generation": g2, "share": 50})
    check(st == 409 and "only widens" in doc["error"], "narrowing by share: %d %r" % (st, doc))
    canary_loaded(w, g2)
    members_loaded(w, r4, len(pilot))
    w.sessions()
    expect_members(w, pilot, g2, g1)
    yield "a roll-out to 'tag = pilot': exactly its %d devices run generation %d" % (len(pilot),
                                                                                   g2)

    tens = {d for d in ids if serial(d).startswith("CN00001")}
    rc, out = w.acsctl("policies", "canary", str(g2))
    check(rc == 2 and "--share, --query or both" in out, "acsctl canary without either: %d %r" % (
        rc, out))
    # widened through acsctl, which prints the query and its members
    rc, out = w.acsctl("policies", "canary", str(g2), "--query", "serial_number ~= CN00001",
                       "--reason", "and the tens")
    both = pilot | tens
    want = "matching '(tag = pilot) OR (serial_number ~= CN00001)' (%d members)" % len(both)
    check(rc == 0 and want in out, "acsctl canary --query: %d %r" % (rc, out))
    st, doc = w.call("GET", "/api/v1/policies/rollout")
    check(st == 200 and doc["query"] == "(tag = pilot) OR (serial_number ~= CN00001)" and
          doc["members"] == len(both), "widened by a query: %d %r" % (st, doc))
    members_loaded(w, r4, len(both))
    w.sessions()
    expect_members(w, both, g2, g1)
    yield "widened by a second query: the %d devices of either" % len(both)
    st, doc = w.call("POST", "/api/v1/policies/rollout/abort", {"reason": "enough"})
    check(st == 200 and doc["state"] == "rolled_back", "abort: %d %r" % (st, doc))
    check(w.sql("SELECT count(*) FROM policy_rollout_members WHERE rollout = %d" % r4) == "0",
          "the members of an ended roll-out are dropped")

    g3 = w.push(tree(3, alarm=BOOM), activate=False, force=True)
    st, doc = w.call("POST", "/api/v1/policies/rollout",
                     {"generation": g3, "query": "tag = pilot", "max_fault_rate": 0.2,
                      "min_devices": 3, "reason": "risky pilots"})
    check(st == 201 and doc["members"] == len(pilot), "a faulting canary: %d %r" % (st, doc))
    canary_loaded(w, g3)
    members_loaded(w, doc["id"], len(pilot))
    w.sessions()
    wait_for("the automatic rollback of the query roll-out", lambda: w.call(
        "GET", "/api/v1/policies/rollout")[1]["state"] == "rolled_back", 10)
    st, doc = w.call("GET", "/api/v1/policies/rollout")
    check(doc["generation"] == g3 and doc["seen"] == len(pilot) and doc["faulted"] == len(pilot),
          "rolled back over its members only: %r" % doc)
    time.sleep(1.2)
    w.sessions()
    check(set(w.tags().values()) == {"gen-1"}, "after the rollback: %r" % w.tags())
    yield "a faulting generation to 'tag = pilot': rolled back at %d of %d members faulted" % (
        doc["faulted"], doc["seen"])

    rx = "^CN0000[0-2]"
    low = {d for d in ids if serial(d) < "CN000030"}
    st, doc = w.call("POST", "/api/v1/policies/rollout",
                     {"generation": g2, "query": "serial_number MATCHES '%s'" % rx, "share": 50,
                      "min_devices": 2, "reason": "half of the first thirty"})
    check(st == 201 and doc["members"] == len(low) and doc["share"] == 50,
          "a query and a share: %d %r" % (st, doc))
    r6 = doc["id"]
    canary_loaded(w, g2)
    members_loaded(w, r6, len(low))
    w.sessions()
    expect_members(w, {d for d in low if point(d) < 50}, g2, g1)
    st, doc = w.call("POST", "/api/v1/policies/rollout",
                     {"generation": g2, "share": 80, "reason": "more"})
    check(st == 200 and doc["share"] == 80 and doc["query"] == "serial_number MATCHES '%s'" % rx,
          "widened by share: %d %r" % (st, doc))
    time.sleep(1.2)
    w.sessions()
    expect_members(w, {d for d in low if point(d) < 80}, g2, g1)
    yield "a query (MATCHES) and a share: the %d, then %d of its %d devices below 50 and 80 %%" % (
        sum(1 for d in low if point(d) < 50), sum(1 for d in low if point(d) < 80), len(low))

    st, doc = w.call("POST", "/api/v1/policies/rollout",
                     {"generation": g2, "query": "serial_number ~= CN00004",
                      "reason": "the new ones"})
    check(st == 200 and doc["members"] == len(low), "widened to devices not seen: %d %r" % (
        st, doc))
    w.sessions(count=5, first=N)
    fresh = {d for d in w.tags() if d not in ids}
    check(len(fresh) == 5 and all(w.tags()[d] == "gen-1" for d in fresh),
          "first sessions of new devices run the current generation: %r" % w.tags())
    wait_for("the catch-up", lambda: w.call("GET", "/api/v1/policies/rollout")[1]["members"]
             == len(low) + 5, 10)
    members_loaded(w, r6, len(low) + 5)
    w.sessions(count=N + 5)
    expect_members(w, {d for d in low | fresh if point(d) < 80}, g2, g1, n=N + 5)
    # the 5 may be joined by one catch-up or by several (one may run while
    # their first sessions are still coming in): their counts add up to 5
    joined = [int(n) for n in re.findall(
        r"canary roll-out %d: (\d+) devices first seen since joined it" % r6, w.acsd.log())]
    check(joined and sum(joined) == 5, "the catch-up's log lines: %r" % joined)
    yield "5 devices first seen after the start joined at their first contact: %d run it" % (
        sum(1 for d in fresh if point(d) < 80))
    st, doc = w.call("POST", "/api/v1/policies/rollout/complete", {"reason": "done"})
    check(st == 200 and doc["state"] == "completed", "complete: %d %r" % (st, doc))
    w.served(g2)
    w.sessions(count=N + 5)
    check(set(w.tags().values()) == {"gen-2"}, "after completion: %r" % w.tags())
    acts = w.sql("SELECT string_agg(action || ':' || coalesce(detail->>'query', '-') || ':' || "
                 "coalesce(detail->>'reason', ''), ' | ' ORDER BY id) FROM audit_log WHERE action "
                 "LIKE 'policy.rollout.%' AND detail->>'generation' IN ('" + str(g2) + "', '" +
                 str(g3) + "')")
    want = ("policy.rollout.start:-: | policy.rollout.abort:-:wrong kind | "
            "policy.rollout.start:tag = pilot:pilot devices | policy.rollout.widen:(tag = pilot) "
            "OR (serial_number ~= CN00001):and the tens | policy.rollout.abort:(tag = pilot) OR "
            "(serial_number ~= CN00001):enough | policy.rollout.start:tag = pilot:risky pilots | "
            "policy.rollout.rollback:tag = pilot:policy fault rate")
    check(acts.startswith(want), "audit rows of the query roll-outs %r" % acts)
    yield "completed: generation %d on all %d devices; every step audited with the query" % (
        g2, N + 5)


if __name__ == "__main__":
    sys.exit(run_test(World, run, logs, prefix="acs-canary-q-"))
