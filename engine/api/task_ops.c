/* task_ops.c: GET /api/v1/tasks?device=&status= (every device's tasks,
 * newest first), POST /api/v1/tasks/{id}/cancel (and DELETE
 * /api/v1/tasks/{id}, the same), POST /api/v1/tasks/{id}/retry. Each change
 * and its audit row are one statement; a second one in the same
 * transaction reads the task's state for the 404/409 answers. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_internal.h"
#include "api/query.h"
#include "core/acs_err.h"

static const char *const statuses[] = {"pending", "sent",      "done",    "fault",
                                       "expired", "cancelled", "unknown", NULL};

/* --- GET /api/v1/tasks */

static json_t *task_row(const acs_pg_result *res, int i) { return acs__api_task_object(res, i); }

static void page_cb(acs_pg_result *res, void *arg) {
  acs__api_req *r = arg;
  if (acs__api_stmt_ok(r, res)) acs__api_page(r, res, task_row, 't', 0);
  acs__api_stmt_done(r);
}

void acs__api_tasks_list(acs__api_req *r) {
  char *dev = NULL, *st = NULL;
  acs_buf sts = ACS_BUF_INIT;
  acs__sql where, page, count;
  acs__sql_init(&where);
  acs__sql_init(&page);
  acs__sql_init(&count);
  bool queued = false;
  if (!acs__api_list_params(r, 't') || !acs__api_cursor_is_id(r) ||
      !acs__api_query_param(r, "device", &dev) || !acs__api_query_param(r, "status", &st))
    goto out;
  if (st && !acs__api_status_filter(r, st, statuses, &sts)) goto out;
  for (int k = 0; k < 2; k++) {
    acs__sql *s = k ? &count : &page;
    acs_buf_puts(&s->text, k ? ACS__API_COUNT_CAPPED("tasks")
                             : "SELECT " ACS__TASK_COLS " FROM tasks WHERE true");
    if (dev) {
      acs_buf_puts(&s->text, " AND device_id = ");
      acs__sql_param(s, dev, strlen(dev));
    }
    if (st) {
      acs_buf_puts(&s->text, " AND status = ANY(");
      acs__sql_param(s, sts.data, sts.len);
      acs_buf_puts(&s->text, "::text[])");
    }
    if (k) {
      acs_buf_puts(&s->text, ACS__API_COUNT_CAPPED_END);
      continue;
    }
    acs__api_sql_id_cursor(r, s, "id");
    acs__api_sql_limit(r, s, "id DESC");
  }
  queued = acs__api_send_list(r, &page, &count, page_cb);
out:
  free(dev);
  free(st);
  acs_buf_free(&sts);
  acs__sql_free(&where);
  acs__sql_free(&page);
  acs__sql_free(&count);
  if (queued) acs__api_step_queued(r);
}

/* --- cancel and retry */

enum { ACT_CANCEL = 1, ACT_RETRY };

/* Only pending tasks: a sent one is on its way to the CPE (or there). */
static const char sql_cancel[] =
    "WITH t AS (UPDATE tasks SET status = 'cancelled', done_at = now() WHERE id = $1::bigint AND "
    "status = 'pending' RETURNING *), "
    "a AS (INSERT INTO audit_log (actor, action, target, detail) SELECT $2, 'task.cancel', "
    "t.device_id, jsonb_build_object('task_id', t.id, 'rpc', t.rpc, 'before', "
    "jsonb_build_object('status', 'pending'), 'after', jsonb_build_object('status', "
    "'cancelled'), 'token_id', $3::bigint) FROM t) "
    "SELECT " ACS__TASK_COLS " FROM t";

/* A new pending copy (same device, RPC, arguments and lifetime); the
 * original stays as it ended, so the history is never rewritten. */
static const char sql_retry[] =
    "WITH src AS (SELECT * FROM tasks WHERE id = $1::bigint AND status IN ('fault', 'expired', "
    "'unknown', 'cancelled')), "
    "t AS (INSERT INTO tasks (device_id, rpc, args, created_by, expires_at) SELECT device_id, "
    "rpc, args, $2, now() + (expires_at - created_at) FROM src RETURNING *), "
    "a AS (INSERT INTO audit_log (actor, action, target, detail) SELECT $2, 'task.retry', "
    "t.device_id, jsonb_build_object('task_id', t.id, 'retry_of', $1::bigint, 'rpc', t.rpc, "
    "'token_id', $3::bigint) FROM t) "
    "SELECT " ACS__TASK_COLS " FROM t";

static const char sql_state[] = "SELECT status FROM tasks WHERE id = $1::bigint";

static void change_cb(acs_pg_result *res, void *arg) {
  acs__api_req *r = arg;
  if (acs__api_stmt_ok(r, res) && res->ntuples == 1) {
    r->doc = acs__api_task_object(res, 0);
    if (r->doc && r->action == ACT_RETRY &&
        asprintf(&r->location, "/api/v1/tasks/%s", acs_pg_getvalue(res, 0, 0)) < 0)
      r->location = NULL;
    if (!r->doc || (r->action == ACT_RETRY && !r->location)) r->pg_status = ACS_ENOMEM;
  }
  acs__api_stmt_done(r);
}

static void state_cb(acs_pg_result *res, void *arg) {
  acs__api_req *r = arg;
  if (acs__api_stmt_ok(r, res) && res->ntuples == 1) {
    r->found = true;
    free(r->state);
    r->state = strdup(acs_pg_getvalue(res, 0, 0));
  }
  acs__api_stmt_done(r);
}

static void change_done(acs__api_req *r) {
  if (r->pg_status) {
    acs__api_fail_store(r);
    return;
  }
  if (!r->found) {
    acs__api_error(r, 404, "no task %s", r->task_id);
    return;
  }
  if (!r->doc) {
    if (r->action == ACT_CANCEL) {
      acs__api_error(r, 409, "task %s is %s: only a pending task can be cancelled", r->task_id,
                     r->state ? r->state : "?");
    } else {
      acs__api_error(r, 409,
                     "task %s is %s: only a task that ended fault, expired, unknown or "
                     "cancelled can be retried",
                     r->task_id, r->state ? r->state : "?");
    }
    return;
  }
  json_t *doc = r->doc;
  r->doc = NULL;
  if (r->action == ACT_RETRY) {
    char extra[96];
    snprintf(extra, sizeof extra, "Location: %s\r\n", r->location);
    acs__api_respond(r, 201, doc, extra);
  } else {
    acs__api_respond(r, 200, doc, NULL);
  }
}

static void change(acs__api_req *r, int action) {
  char tid[24];
  acs__api_token_id(r, tid);
  r->action = action;
  const char *p[3] = {r->task_id, r->token_name, tid};
  acs__api_step(r, change_done);
  if (acs__api_begin(r) == 0) {
    if (acs__api_query(r, action == ACT_CANCEL ? sql_cancel : sql_retry, 3, p, change_cb) == 0)
      acs__api_query(r, sql_state, 1, p, state_cb);
    acs__api_sync(r);
  }
  acs__api_step_queued(r);
}

void acs__api_task_cancel(acs__api_req *r) { change(r, ACT_CANCEL); }
void acs__api_task_retry(acs__api_req *r) { change(r, ACT_RETRY); }
