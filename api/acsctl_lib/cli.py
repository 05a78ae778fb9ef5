"""acsctl: the argument parser that wires the commands together, and main()."""
import argparse
import hashlib
import http.client
import json
import os
import re
import shutil
import ssl
import sys
import time
import urllib.parse
from .base import *  # noqa: F401,F403
from .devices import *  # noqa: F401,F403
from .policies import *  # noqa: F401,F403
from .admin import *  # noqa: F401,F403

EXIT_HELP = """exit status:
  0 success          1 server error or bad answer   2 usage or configuration
  3 401/403 (token)  4 404 not found                5 400/413/415/422 refused as invalid
  6 409 conflict     7 unreachable, or 503 after the retries
  8 --timeout reached                               9 the awaited task/bulk action did not succeed
"""


def positive(v):
    try:
        n = int(v)
    except ValueError:
        raise argparse.ArgumentTypeError("%r is not a whole number" % v)
    if n <= 0:
        raise argparse.ArgumentTypeError("%r: more than 0 expected" % v)
    return n


def seconds(v):
    try:
        n = float(v)
    except ValueError:
        raise argparse.ArgumentTypeError("%r is not a number of seconds" % v)
    if n < 0:
        raise argparse.ArgumentTypeError("%r: not negative" % v)
    return n


class Parser(argparse.ArgumentParser):
    def error(self, message):
        self.print_usage(sys.stderr)
        sys.stderr.write("acsctl: %s\n" % message)
        sys.exit(EXIT_USAGE)


def add_list_args(p, timeout=600):
    p.add_argument("--limit", type=positive, help="items per page (1..1000; the server's default 100)")
    p.add_argument("--cursor", help="start at this next_cursor of a previous page")
    p.add_argument("--all", action="store_true", help="follow the cursors to the end of the list")
    p.add_argument("--timeout", type=seconds, default=timeout,
                   help="with --all: stop after so many seconds (default %(default)s; 0: none)")


def add_rpc_args(p):
    g = p.add_mutually_exclusive_group()
    g.add_argument("--arg", action="append", metavar="KEY=VALUE",
                   help="an argument of the RPC: KEY=string or KEY:=JSON (repeatable)")
    g.add_argument("--args", metavar="JSON", help="the arguments as a JSON object (or @FILE, or - for stdin)")


def env_int(name, default):
    try:
        return int(os.environ.get(name) or default)
    except ValueError:
        return default


def add_common_args(p, defaults=True):
    def d(v):
        return {"default": v} if defaults else {}
    p.add_argument("--url", help="the API's address (env ACSCTL_URL; default %s)" % DEFAULT_URL,
                   **d(os.environ.get("ACSCTL_URL") or DEFAULT_URL))
    p.add_argument("--token", help="bearer token (env ACSCTL_TOKEN)", **d(None))
    p.add_argument("--token-file", help="a file holding the token (env ACSCTL_TOKEN_FILE; default ./%s "
                   "when it exists)" % DEFAULT_TOKEN_FILE, **d(None))
    p.add_argument("--cacert", help="CA certificates for an https:// URL", **d(None))
    p.add_argument("--json", action="store_true", help="print the API's JSON instead of tables", **d(False))
    p.add_argument("--retries", type=int, help="times to retry a 503 after its Retry-After, at most %d s "
                   "each (env ACSCTL_RETRIES; default 3)" % RETRY_AFTER_MAX,
                   **d(env_int("ACSCTL_RETRIES", 3)))
    p.add_argument("--progress", choices=("auto", "bar", "plain", "off"), **d("auto"),
                   help="progress of long work on stderr: auto is a bar on a terminal, plain lines otherwise")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress and no remarks on stderr", **d(False))


def build_parser():
    top = Parser(prog="acsctl", description="Command-line client of acsd's operator REST API.",
                 epilog=EXIT_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_args(top)
    top.add_argument("--version", action="version", version="acsctl " + VERSION)
    # the same options after the command too (acsctl devices list --json):
    # there they default to nothing, so that the values given before stay
    common = argparse.ArgumentParser(add_help=False, argument_default=argparse.SUPPRESS)
    add_common_args(common, defaults=False)
    groups = top.add_subparsers(dest="group", metavar="COMMAND", parser_class=Parser)
    groups.required = True

    def group(name, help_):
        g = groups.add_parser(name, help=help_, description=help_)
        sub = g.add_subparsers(dest="cmd", metavar="SUBCOMMAND", parser_class=Parser)
        sub.required = True
        return sub

    def cmd(sub, name, fn, help_):
        p = sub.add_parser(name, help=help_, description=help_, parents=[common],
                           epilog=EXIT_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
        p.set_defaults(fn=fn)
        return p

    # devices
    s = group("devices", "devices: list and search, show, delete, tag")
    p = cmd(s, "list", cmd_devices_list, "list or search devices (docs/api.md, Device queries)")
    p.add_argument("-Q", "--query", help='a device query, e.g. \'oui = "00D09E" AND tag = lab\'')
    p.add_argument("--sort", help="FIELD[,-FIELD...], e.g. -last_inform")
    p.add_argument("--fields", help="projection: device fields and parameter names, comma-separated")
    add_list_args(p)
    p = cmd(s, "export", cmd_devices_export, "the devices of a query as CSV (streamed)")
    p.add_argument("-Q", "--query", help="a device query (all devices without it)")
    p.add_argument("--columns", help="device fields and parameter names, comma-separated "
                   "(default: id, oui, product_class, serial_number, manufacturer, software_version, "
                   "hardware_version, tags, last_inform)")
    p.add_argument("-o", "--output", metavar="FILE", help="write FILE (complete or not at all); default stdout")
    p = cmd(s, "get", cmd_devices_get, "one device with its parameters")
    p.add_argument("id", help="the device id, as stored (OUI-ProductClass-Serial)")
    p = cmd(s, "history", cmd_devices_history, "a device's sessions, newest first: events, RPCs, outcomes, faults")
    p.add_argument("id")
    add_list_args(p)
    p = cmd(s, "delete", cmd_devices_delete, "delete a device (admin)")
    p.add_argument("id")
    p = cmd(s, "tag", cmd_devices_tag, "add and remove tags")
    p.add_argument("id")
    p.add_argument("--add", action="append", metavar="TAG", help="repeatable")
    p.add_argument("--remove", action="append", metavar="TAG", help="repeatable")

    # wire traces
    s = group("trace", "wire traces: a device's CWMP conversation, recorded on demand")
    p = cmd(s, "start", cmd_trace_start, "record the sessions of a device (or of a query's devices)")
    p.add_argument("device", nargs="?", help="the device id (or -Q)")
    p.add_argument("-Q", "--query", help="every device this query matches now (at most 1000)")
    p.add_argument("--minutes", type=positive, required=True, help="for this long (1..1440)")
    p.add_argument("--persist", action="store_true", help="survive a restart of acsd")
    p.add_argument("--max-bytes", type=positive, help="records kept per device (default 1 MiB, at most 4 MiB)")
    cmd(s, "show", cmd_trace_show, "the trace and its records, oldest first").add_argument("device")
    cmd(s, "stop", cmd_trace_stop, "stop the trace, drop its records").add_argument("device")

    # tasks
    s = group("tasks", "tasks: queue RPCs for devices, follow them")
    p = cmd(s, "create", cmd_tasks_create, "queue an RPC for a device")
    p.add_argument("device")
    p.add_argument("rpc", help="Reboot, GetParameterValues, SetParameterValues, Download, Provision, ...")
    add_rpc_args(p)
    p.add_argument("--expires-in", type=positive, metavar="S", help="not sent after S seconds")
    p.add_argument("--connection-request", action="store_true", help="ask the device to connect now")
    p.add_argument("--timeout", type=positive, metavar="S",
                   help="with --connection-request: wait up to S seconds for the task (default 30)")
    p.add_argument("--wait", action="store_true", help="then wait for the task to end (as tasks wait)")
    p.add_argument("--wait-timeout", type=seconds, default=300, metavar="S", help="with --wait (default 300)")
    p.add_argument("--interval", type=seconds, default=1.0, help=argparse.SUPPRESS)
    p = cmd(s, "list", cmd_tasks_list, "tasks, newest first")
    p.add_argument("--device")
    p.add_argument("--status", help="one status or several, comma-separated")
    add_list_args(p)
    for name, fn, h in (("get", cmd_tasks_get, "one task"), ("cancel", cmd_tasks_cancel, "cancel a pending task"),
                        ("retry", cmd_tasks_retry, "queue an ended task again")):
        cmd(s, name, fn, h).add_argument("id", type=positive)
    p = cmd(s, "wait", cmd_tasks_wait, "wait until the task ends: exit 0 if done, 9 otherwise")
    p.add_argument("id", type=positive)
    p.add_argument("--timeout", type=seconds, default=300, help="give up after S seconds (default 300; 0: none)")
    p.add_argument("--interval", type=seconds, default=1.0, help="first polling interval (default 1 s)")

    # faults
    s = group("faults", "faults of provisioning channels")
    p = cmd(s, "list", cmd_faults_list, "faults, by device and channel")
    p.add_argument("--device")
    p.add_argument("--channel")
    add_list_args(p)
    for name, fn, h in (("retry", cmd_faults_retry, "run the channel again in the device's next session"),
                        ("delete", cmd_faults_delete, "clear the fault")):
        p = cmd(s, name, fn, h)
        p.add_argument("device")
        p.add_argument("channel")

    # files
    s = group("files", "files for Download (firmware, configuration)")
    p = cmd(s, "upload", cmd_files_upload, "upload a file (its sha256 checked by the server)")
    p.add_argument("path")
    p.add_argument("--name", help="the file's name on the server (default: the basename)")
    p.add_argument("--type", required=True,
                   help="TR-069 FileType, or firmware|web|config|tone|ringer for the standard ones")
    p.add_argument("--oui")
    p.add_argument("--product-class")
    p.add_argument("--version")
    p = cmd(s, "list", cmd_files_list, "files")
    for opt in ("--type", "--oui", "--product-class", "--version"):
        p.add_argument(opt)
    add_list_args(p)
    for name, fn, h in (("get", cmd_files_get, "one file's record"), ("delete", cmd_files_delete, "delete a file")):
        cmd(s, name, fn, h).add_argument("name")

    # policies
    s = group("policies", "policy generations")
    p = cmd(s, "push", cmd_policies_push, "push a policy tree as a new generation (admin)")
    p.add_argument("dir")
    p.add_argument("--source", help="what the generation records as its source (default: DIR's real path, as acsd records it)")
    p.add_argument("--force", action="store_true",
                   help="store a new generation even when unchanged, and a tree whose static checks or dry run found "
                        "something (audited; the dry run is skipped)")
    p.add_argument("--no-activate", action="store_true",
                   help="store it without serving it (for a canary roll-out: policies canary N --share S)")
    p = cmd(s, "test", cmd_policies_test,
            "what a device's next session would do with a policy tree: RPCs, values set, alarms, "
            "actions, faults, log lines (admin; nothing is stored or sent)")
    p.add_argument("dir")
    p.add_argument("--device", required=True, help="the device's id")
    p.add_argument("--event", action="append", dest="events", metavar="CODE",
                   help="an event of the simulated Inform (repeatable; default: 2 PERIODIC)")
    cmd(s, "show", cmd_policies_show, "the current and the latest generation")
    add_list_args(cmd(s, "generations", cmd_policies_generations, "every generation"))
    cmd(s, "reload", cmd_policies_reload, "make every instance load the current generation now (admin)")
    p = cmd(s, "activate", cmd_policies_activate, "make generation N the current one (admin)")
    p.add_argument("generation", type=int)
    p.add_argument("--reason", help="why (kept in the audit log)")
    p = cmd(s, "rollback", cmd_policies_rollback,
            "make the newest valid generation older than the current one current (admin)")
    p.add_argument("--reason", help="why (kept in the audit log)")
    p = cmd(s, "canary", cmd_policies_canary,
            "roll generation N out to a share of the fleet or of a device query's matches, or "
            "widen the running roll-out (admin)")
    p.add_argument("generation", type=int)
    p.add_argument("--share", type=float, help="percent of the fleet, or of the query's devices "
                   "(stable per device; 100 with --query alone)")
    p.add_argument("--query", help="only devices matching this device query (as devices list -q); "
                   "widening with another query adds its devices")
    p.add_argument("--max-fault-rate", type=float, help="roll back past this fraction of canary devices with a policy fault (0.05)")
    p.add_argument("--min-devices", type=int, help="canary devices seen before the rate counts (10)")
    p.add_argument("--reason", help="why (kept in the audit log)")
    cmd(s, "canary-status", cmd_policies_canary_status, "the latest roll-out")
    for what, h in (("complete", "the roll-out's generation serves every device (admin)"),
                    ("abort", "end the roll-out: the current generation serves every device (admin)")):
        p = cmd(s, "canary-" + what, lambda ctx, a, w=what: cmd_policies_canary_end(ctx, a, w), h)
        p.add_argument("--reason", help="why (kept in the audit log)")
    p = cmd(s, "source", cmd_policies_source, "a generation's files, as pushed")
    p.add_argument("generation", type=int)
    p.add_argument("--out", help="write them as a tree into this (new or empty) directory")

    # alarms
    s = group("alarms", "alarms raised by the policies' alarm rules")
    p = cmd(s, "list", cmd_alarms_list, "alarms (open ones unless --state)")
    p.add_argument("--device")
    p.add_argument("--rule")
    p.add_argument("--severity")
    p.add_argument("--state", choices=("open", "cleared", "all"))
    add_list_args(p)
    cmd(s, "get", cmd_alarms_get, "one alarm").add_argument("id", type=positive)
    cmd(s, "ack", cmd_alarms_ack, "acknowledge an alarm").add_argument("id", type=positive)

    # bulk
    s = group("bulk", "bulk actions: one task for every device of a query, at a rate")
    p = cmd(s, "create", cmd_bulk_create, "start a bulk action")
    p.add_argument("-Q", "--query", required=True, help="the devices (docs/api.md query language)")
    p.add_argument("--rpc", required=True)
    add_rpc_args(p)
    p.add_argument("--rate", type=float, required=True, help="tasks per second")
    p.add_argument("--window", metavar="HH:MM-HH:MM", help="only within this daily window (UTC)")
    p.add_argument("--connection-request", action="store_true", help="a connection request for each task")
    p.add_argument("--expires-in", type=positive, metavar="S", help="each task expires after S seconds")
    p.add_argument("--watch", action="store_true", help="then watch it (as bulk watch)")
    p.add_argument("--timeout", type=seconds, default=0, help="with --watch: give up after S seconds")
    p.add_argument("--interval", type=seconds, default=2.0, help=argparse.SUPPRESS)
    p = cmd(s, "tag", cmd_bulk_tag, "add and remove tags on every device of a query (no task)")
    p.add_argument("-Q", "--query", required=True, help="the devices (docs/api.md query language)")
    p.add_argument("--add", action="append", metavar="TAG", help="repeatable")
    p.add_argument("--remove", action="append", metavar="TAG", help="repeatable")
    p.add_argument("--rate", type=float, help="devices per second (default 1000)")
    p.add_argument("--window", metavar="HH:MM-HH:MM", help="only within this daily window (UTC)")
    p.add_argument("--watch", action="store_true", help="then watch it (as bulk watch)")
    p.add_argument("--timeout", type=seconds, default=0, help="with --watch: give up after S seconds")
    p.add_argument("--interval", type=seconds, default=2.0, help=argparse.SUPPRESS)
    add_list_args(cmd(s, "list", cmd_bulk_list, "bulk actions"))
    for name, fn, h in (("get", cmd_bulk_get, "one bulk action"), ("pause", bulk_op("pause"), "pause"),
                        ("resume", bulk_op("resume"), "resume"), ("cancel", bulk_op("cancel"), "cancel")):
        cmd(s, name, fn, h).add_argument("id", type=positive)
    p = cmd(s, "watch", cmd_bulk_watch, "progress until done: exit 0 if done without failures, 9 otherwise")
    p.add_argument("id", type=positive)
    p.add_argument("--timeout", type=seconds, default=0, help="give up after S seconds (default 0: none)")
    p.add_argument("--interval", type=seconds, default=2.0, help="polling interval (default 2 s)")

    # system
    s = group("system", "the instance: health, live figures, log settings")
    cmd(s, "health", cmd_system_health,
        "the instance's state: exit 0 when ready, 7 when not (the reasons on stderr)")
    cmd(s, "telemetry", cmd_system_telemetry, "the live figures: sessions/s, latencies, store, faults")
    p = cmd(s, "log", cmd_system_log, "the log level and format; with options, change them (admin)")
    p.add_argument("--level", choices=("crit", "err", "warn", "info", "debug"))
    p.add_argument("--format", choices=("text", "json"))

    # tokens
    s = group("tokens", "API tokens (admin)")
    p = cmd(s, "create", cmd_tokens_create, "make a token: printed once")
    p.add_argument("--role", required=True, choices=("readonly", "operator", "admin"))
    p.add_argument("--name")
    add_list_args(cmd(s, "list", cmd_tokens_list, "tokens (never their secrets)"))
    cmd(s, "revoke", cmd_tokens_revoke, "revoke a token (effective within 5 s)").add_argument("id", type=positive)

    # audit
    s = group("audit", "the audit log (admin)")
    p = cmd(s, "list", cmd_audit_list, "audit records, newest first")
    for opt in ("--actor", "--action", "--target"):
        p.add_argument(opt, help="exact match")
    p.add_argument("--since", help="RFC 3339, a date, or now-1d (inclusive)")
    p.add_argument("--until", help="(exclusive)")
    add_list_args(p)
    return top


class Context:
    def __init__(self, client, out):
        self.client = client
        self.out = out


def join_dash_values(argv):
    """--sort -last_inform: argparse would take the value for an option;
    joined as --sort=-last_inform it is a value."""
    out = []
    for a in argv:
        if out and out[-1] == "--sort" and a.startswith("-") and a != "-":
            out[-1] = "--sort=" + a
        else:
            out.append(a)
    return out


def main(argv=None):
    args = build_parser().parse_args(join_dash_values(sys.argv[1:] if argv is None else argv))
    out = Output(args)
    try:
        if args.retries < 0:
            raise CtlError("--retries: 0 or more", EXIT_USAGE)
        client = Client(args.url, resolve_token(args), retries=args.retries, log=out.note)
        try:
            return args.fn(Context(client, out), args)
        finally:
            client.close()
    except CtlError as e:
        sys.stderr.write("acsctl: %s\n" % e)
        return e.code
    except KeyboardInterrupt:
        sys.stderr.write("\nacsctl: interrupted\n")
        return 130
    except BrokenPipeError:  # acsctl ... | head: the reader had enough
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
