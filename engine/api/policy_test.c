/* policy_test.c: dry runs through the API (docs/api.md, "Policies";
 * session/acs_dryrun.h).
 *
 * A push's dry run (acs__api_policy_dry_run, for POST /api/v1/policies)
 * and POST /api/v1/policies/test (what one device's session would do with
 * a tree, nothing stored) share one path: the devices are read from the
 * store asynchronously (acs_dryrun_sample_sql), then the tree is compiled
 * and run on libuv's thread pool, in a VM of the job's own, so the
 * worker's loop serves its sessions meanwhile; the request's next step
 * runs back on the loop with the result. The time a dry run may take is
 * bounded by policy-dry-run-ms and every device's session by the
 * per-session budgets. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "api/api_internal.h"
#include "app/acs_app.h"
#include "core/acs_err.h"
#include "net/acs_server.h"
#include "session/acs_dryrun.h"
#include "session/acs_plan.h"

#define MAX_EVENTS 16

typedef void (*dry_done_fn)(acs__api_req *r, json_t *result, int rc, const char *err);

typedef struct dry_job {
  uv_work_t work;
  acs__api_req *r;
  json_t *files;
  json_t *devices; /* rows of acs_dryrun_sample_sql */
  bool test;       /* one device's report (else a push's summary) */
  const char *events[MAX_EVENTS];
  size_t nevents;
  json_t *events_json; /* owns events' strings */
  uint32_t budget_ms;
  unsigned want; /* a push: devices to run (of the pool read) */
  const acs_app *app;
  dry_done_fn done;
  json_t *result;
  int rc;
  char err[512];
} dry_job;

static void job_free(dry_job *j) {
  json_decref(j->files);
  json_decref(j->devices);
  json_decref(j->events_json);
  json_decref(j->result);
  free(j);
}

/* On a thread of the pool: nothing here touches the loop or r. */
static void work_cb(uv_work_t *w) {
  dry_job *j = w->data;
  if (!j->test) {
    j->rc = acs_dryrun_tree(j->files, j->devices, j->want, j->budget_ms, j->app, &j->result,
                            j->err, sizeof j->err);
  } else {
    acs_policy_vm *pv = acs_policy_vm_new(NULL, j->err, sizeof j->err);
    j->rc = pv ? acs_policy_vm_load_json(pv, j->files, j->err, sizeof j->err) : ACS_ENOMEM;
    if (j->rc == 0) {
      acs_dryrun_opts o = {.app = j->app, .events = j->nevents ? j->events : NULL,
                           .nevents = j->nevents};
      o.deadline_ms = acs_dryrun_clock_ms() + j->budget_ms;
      j->rc = acs_dryrun_device(pv, json_array_get(j->devices, 0), &o, &j->result, NULL);
      if (j->rc == ACS_ETIMEOUT) j->rc = 0; /* the report says it stopped */
    }
    if (pv) acs_policy_vm_free(pv);
  }
  /* the models' shared paths of this pool thread: no model of it is left */
  acs_dm_thread_free();
}

static void after_cb(uv_work_t *w, int status) {
  dry_job *j = w->data;
  acs__api_req *r = j->r;
  json_t *res = j->result;
  j->result = NULL;
  int rc = status ? ACS_ECANCELED : j->rc;
  j->done(r, res, rc, j->err);
  job_free(j);
}

static void sample_cb(acs_pg_result *res, void *arg) {
  acs__api_req *r = arg;
  dry_job *j = r->job;
  for (int i = 0; acs__api_stmt_ok(r, res) && i < res->ntuples; i++) {
    json_t *d = json_loads(acs_pg_getvalue(res, i, 0), 0, NULL);
    if (!d || json_array_append_new(j->devices, d)) {
      r->pg_status = ACS_ENOMEM;
      break;
    }
  }
  acs__api_stmt_done(r);
}

static void sample_done(acs__api_req *r) {
  dry_job *j = r->job;
  r->job = NULL;
  if (r->pg_status) {
    job_free(j);
    acs__api_fail_store(r);
    return;
  }
  if (j->test && json_array_size(j->devices) == 0) {
    job_free(j);
    acs__api_error(r, 404, "no device %s", r->device_id ? r->device_id : "");
    return;
  }
  j->work.data = j;
  if (uv_queue_work(acs_worker_loop(r->aw->w), &j->work, work_cb, after_cb)) {
    job_free(j);
    acs__api_error(r, 500, "cannot start the dry run");
  }
}

/* Reads the devices (n of them, or the one device_id), runs the job and
 * calls done on the loop; answers r itself when the store fails. */
static void start(acs__api_req *r, dry_job *j, unsigned n, const char *device_id) {
  char cnt[16];
  snprintf(cnt, sizeof cnt, "%u", n);
  const char *p[2] = {cnt, device_id};
  j->r = r;
  j->app = r->app;
  r->job = j;
  acs__api_step(r, sample_done);
  acs__api_query(r, acs_dryrun_sample_sql, 2, p, sample_cb);
  acs__api_step_queued(r);
}

static dry_job *job_new(acs__api_req *r, const json_t *files, dry_done_fn done) {
  dry_job *j = calloc(1, sizeof *j);
  if (j) {
    j->files = json_deep_copy(files);
    j->devices = json_array();
    j->done = done;
    j->budget_ms = r->app->cfg->policy_dry_run_ms;
  }
  if (!j || !j->files || !j->devices) {
    if (j) job_free(j);
    acs__api_error(r, 500, "out of memory");
    return NULL;
  }
  return j;
}

void acs__api_policy_dry_run(acs__api_req *r, const json_t *files,
                             void (*done)(acs__api_req *r, json_t *summary, int rc,
                                          const char *err)) {
  dry_job *j = job_new(r, files, done);
  if (!j) return;
  j->want = r->app->cfg->policy_dry_run_devices;
  start(r, j, acs_dryrun_pool(j->want), NULL);
}

/* --- POST /api/v1/policies/test {"files": {...}, "device": "ID", "events":
 * ["1 BOOT"]}: 200 with the report of acs_dryrun_device, 404 no such
 * device, 422 a tree that does not compile. Nothing is stored. */

static void test_done(acs__api_req *r, json_t *report, int rc, const char *err) {
  if (rc == ACS_EINVAL && !report) {
    json_decref(report);
    acs__api_error(r, 422, "%s", err);
    return;
  }
  if (rc || !report) {
    json_decref(report);
    acs__api_error(r, 500, "the dry run failed: %s", rc ? acs_strerror(rc) : "no report");
    return;
  }
  acs__api_respond(r, 200, report, NULL);
}

void acs__api_policies_test(acs__api_req *r) {
  static const char *const keys[] = {"files", "device", "events", NULL};
  if (!acs__api_json_body(r, keys)) return;
  json_t *dev = json_object_get(r->body, "device");
  if (!json_is_string(dev) || json_string_length(dev) == 0 || json_string_length(dev) > 1024) {
    acs__api_error(r, 400, "device: expected a device id (a string)");
    return;
  }
  json_t *ev = json_object_get(r->body, "events");
  if (ev && !json_is_null(ev) && (!json_is_array(ev) || json_array_size(ev) > MAX_EVENTS)) {
    acs__api_error(r, 400, "events: expected a list of at most %d event codes", MAX_EVENTS);
    return;
  }
  for (size_t i = 0; i < json_array_size(ev); i++)
    if (!json_is_string(json_array_get(ev, i)) || json_string_length(json_array_get(ev, i)) > 64) {
      acs__api_error(r, 400, "events[%zu]: expected an event code (\"1 BOOT\")", i);
      return;
    }
  json_t *tree = acs__api_policy_body_tree(r);
  if (!tree) return;
  dry_job *j = job_new(r, tree, test_done);
  json_decref(tree);
  if (!j) return;
  j->test = true;
  if (json_array_size(ev)) {
    j->events_json = json_incref(ev);
    for (size_t i = 0; i < json_array_size(ev); i++)
      j->events[j->nevents++] = json_string_value(json_array_get(ev, i));
  }
  free(r->device_id);
  r->device_id = strdup(json_string_value(dev));
  start(r, j, 0, json_string_value(dev));
}
