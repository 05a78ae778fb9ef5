"""bench_tls.py: bench.py's phase (t), TLS: the periodic sessions of (a) over
https beside the same over plain HTTP, on one acsd configuration.

    bench/run.sh --phases t [--quick] ...

Certificates are made at the start by the openssl command (tests/lib/
tlscerts.py: a test CA, an EC P-256 server certificate). Each repeat runs the
fleet of (a) (--devices, --concurrency, --duration, --clients) three times
against acsd (--workers): plain HTTP; https with resumption (each simulated
CPE offers the TLS session of its previous connection, as a CPE's TLS stack
does: tickets); https with a full handshake every session (cpesim
--tls-no-resume). Every Inform acknowledged must have its event rows (as in
(a)). Prints the three rates side by side and their ratios to plain."""
import os
import statistics
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests", "lib"))
import tlscerts  # noqa: E402

KINDS = (("plain", "plain HTTP"), ("resumed", "https, resumed"), ("full", "https, full handshakes"))


def phase_t(b):
    a = b.a
    d = os.path.join(b.tmp, "tls")
    os.makedirs(d, exist_ok=True)
    pki = tlscerts.Pki(d)
    crt, key = pki.server("srv")
    common = ["--periodic", "--duration", str(a.duration), "--periodic-interval", "86400"]
    tls = ["--tls", "cwmp", "--tls-cert", crt, "--tls-key", key]
    runs = {k: [] for k, _ in KINDS}
    for i in range(a.repeat):
        for kind, label in KINDS:
            acsd = b.acsd(a.workers, *(tls if kind != "plain" else ()))
            url = acsd.url if kind == "plain" else acsd.url.replace("http://", "https://")
            args = list(common)
            if kind != "plain":
                args += ["--tls-ca", pki.ca]
            if kind == "full":
                args.append("--tls-no-resume")
            ev0 = b.events_count()
            fl = b.fleet_of(url, a.devices, a.clients, args, concurrency=a.concurrency)
            r = fl.wait(a.duration + 60)
            acked = fl.check_acked("(t) " + label, b.events_count() - ev0)
            acsd.stop()
            run = {"sessions_per_s": r["sessions_per_s"], "ok": r["sessions_ok"],
                   "failed": r["sessions_failed"], "informs_acked": acked,
                   "session_ms": r["session_ms"],
                   "tls_handshakes": r.get("tls_handshakes", 0),
                   "tls_resumed": r.get("tls_resumed", 0)}
            runs[kind].append(run)
            print("bench: (t) run %d, %s: %.0f sessions/s (ok %d, failed %d), session p50 %.1f "
                  "ms p99 %.1f ms; TLS handshakes %d, resumed %d; %d informs acked" % (
                      i + 1, label, run["sessions_per_s"], run["ok"], run["failed"],
                      run["session_ms"]["p50"], run["session_ms"]["p99"],
                      run["tls_handshakes"], run["tls_resumed"], acked))
    out = {"workers": a.workers, "runs": runs}
    for kind, _ in KINDS:
        out[kind + "_sessions_per_s"] = statistics.median(x["sessions_per_s"] for x in runs[kind])
    print("bench: (t) sessions/s: plain %.0f | https resumed %.0f | https full handshakes %.0f" % (
        out["plain_sessions_per_s"], out["resumed_sessions_per_s"], out["full_sessions_per_s"]))
    return out


def report(a, res):
    rt = res.get("t")
    if not rt:
        return
    plain = rt["plain_sessions_per_s"] or 1
    for kind, label in KINDS:
        xs = [x["sessions_per_s"] for x in rt["runs"][kind]]
        ratio = "" if kind == "plain" else " (%.2f of plain)" % (rt[kind + "_sessions_per_s"] / plain)
        print("| (t) periodic sessions/s, %s, acsd (%d workers) + PostgreSQL | %.0f (%.0f-%.0f)%s |"
              % (label, rt["workers"], statistics.median(xs), min(xs), max(xs), ratio))
