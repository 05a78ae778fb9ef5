/* acs_dryrun.h: a policy tree run over stored devices without a CPE
 * (dryrun.c; docs/policies.md, "The dry run").
 *
 * A dry run is a CWMP session that never reaches a device: the policy
 * phase of a session (presets, provisions, alarm rules: policy.c) runs as
 * it would, and the planner's RPCs (GetParameterNames, GetParameterValues,
 * SetParameterValues, AddObject, DeleteObject, SetParameterAttributes) are
 * answered from the device's stored data model, the way a CPE holding
 * that model would answer (9005 for a name it lacks, 9008 for a value not
 * writable). Nothing is sent and nothing is written: the faults, alarms,
 * tags, actions and secrets the session would store are recorded in its
 * report instead. The same per-session budgets as a real session apply.
 *
 * Two uses: a push runs each tree over a sample of stored devices and
 * refuses it on any policy error (acs_dryrun_tree), and
 * POST /api/v1/policies/test shows what one device's session would do
 * (acs_dryrun_device's report).
 *
 * Blocking and self-contained: a dry run compiles the tree in a VM of its
 * own, on the calling thread (the API runs it on libuv's thread pool, the
 * command line inline). The devices come from acs_dryrun_sample_sql. */
#ifndef ACS_DRYRUN_H
#define ACS_DRYRUN_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "session/acs_policy.h"

struct acs_app;

/* SQL: the devices of a dry run, one JSON object per row (column 0):
 * {"id", "oui", "product_class", "serial_number", "manufacturer",
 * "software_version", "hardware_version", "source_ip", "tags", "ctx" (the
 * policy context as a session reads it), "params": [[name, value, type,
 * writable, object, notification, value_at_ms, names_at_ms], ...],
 * "refreshed"}. $1: how many devices (a sample spread over models: oui,
 * product class, software version and tag set, one device of each before
 * a second of any), $2: one device's id instead (NULL: a sample). */
extern const char acs_dryrun_sample_sql[];

typedef struct acs_dryrun_opts {
  const struct acs_app *app; /* for the secret key (NULL: no secrets are read) */
  /* true (a push): every preset whose precondition holds runs, whatever its
   * events and schedule; false (a test): presets match as in a session
   * with these events */
  bool all_presets;
  const char *const *events; /* the simulated Inform's event codes, at most 16 (NULL:
                              * "2 PERIODIC") */
  size_t nevents;
  int64_t deadline_ms; /* acs_dryrun_clock_ms() past which the run stops (0: none) */
  /* only the presets files run: *report is {"device", "matched": ["presets/NAME#K",
   * ...]}, the presets (the Kth of the file, from 1) whose precondition holds */
  bool match_only;
} acs_dryrun_opts;

/* How many devices to read for a dry run of n: a pool to pick n from
 * (acs_dryrun_tree), four times n, at least n and at most n + 200. */
unsigned acs_dryrun_pool(unsigned n);

/* The monotonic clock of deadlines, ms. */
int64_t acs_dryrun_clock_ms(void);

/* One device's simulated session with the compiled tree pv. device is a
 * row of acs_dryrun_sample_sql (parsed). *report gets {"device", "events",
 * "rpcs": [{"rpc", "request", "response" | "fault"}], "set": {name:
 * value}, "faults": [{"channel", "provision", "code", "message", "file",
 * "line"}], "alarms": [{"rule", "key", "severity" | null (cleared),
 * "message"}], "actions": [{"rpc", "args", "key"}], "tags": {"added",
 * "removed"}, "logs": [{"level", "message"}], "stopped": null | "why"}.
 * Each fault is also appended to errors (when not NULL) as {"device",
 * "file", "line", "message", "code", "channel"}. Returns 0, ACS_EINVAL
 * (device malformed), ACS_ETIMEOUT (the deadline passed: the report says
 * so) or ACS_ENOMEM. */
int acs_dryrun_device(acs_policy_vm *pv, const json_t *device, const acs_dryrun_opts *o,
                      json_t **report, json_t *errors);

/* A push's dry run: compiles files (a tree, as acs_policy_read_tree makes
 * it), picks want devices of the pool devices (rows of
 * acs_dryrun_sample_sql): for each preset whose precondition holds on some
 * device of the pool, one such device, then the others in the pool's
 * order; and runs them until budget_ms is spent. *summary gets {"devices":
 * how many were picked, "checked": how many ran, "sampled": the pool's
 * size, "presets_matched": presets that matched a device of the pool,
 * "errors": [...] as acs_dryrun_device appends them, "stopped": null |
 * "why", "ms"}. Returns 0 (errors or not), ACS_EINVAL (the tree does not
 * compile: err) or ACS_ENOMEM. */
int acs_dryrun_tree(const json_t *files, const json_t *devices, unsigned want, uint32_t budget_ms,
                    const struct acs_app *app, json_t **summary, char *err, size_t errlen);

/* A valid push (st, acs_policy_push_prepare) whose dry run found errors
 * (summary, from acs_dryrun_tree) becomes a refused one: its error is the
 * first ("file:line: message (device ID)"), the stored error JSON gets
 * "device" and "dry_run" (every error). A summary without errors only
 * records it for the audit row. Returns 0 or ACS_ENOMEM. */
int acs_dryrun_apply(acs_policy_push_stmt *st, const json_t *summary);

/* Blocking (the command line): reads devices stored devices over pg (a
 * PGconn), runs the dry run of files within budget_ms and applies it to st
 * (acs_dryrun_apply). *summary (may be NULL) gets the summary. Returns 0,
 * ACS_EPG (err) or ACS_ENOMEM. */
int acs_dryrun_push_blocking(void *pg, const json_t *files, unsigned devices, uint32_t budget_ms,
                             acs_policy_push_stmt *st, json_t **summary, char *err, size_t errlen);

/* The errors of a summary as text lines, "FILE:LINE: device ID: message",
 * for the command line (at most max lines; the rest counted). */
void acs_dryrun_print(const json_t *errors, size_t max, FILE *f);

#endif
