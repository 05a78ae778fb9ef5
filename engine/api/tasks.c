/* tasks.c: POST /api/v1/devices/{id}/tasks (queue an RPC for a device, with
 * its audit record, in one transaction; with ?connection_request=true, then
 * a connection request and a wait for the task), GET
 * /api/v1/devices/{id}/tasks (newest first) and GET /api/v1/tasks/{id}. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/api_internal.h"
#include "connreq/acs_connreq_device.h"
#include "core/acs_arena.h"
#include "core/acs_err.h"
#include "core/acs_log.h"
#include "files/acs_files.h"
#include "session/acs_rpc_json.h"

/* ?timeout= of a task with a connection request: seconds, and its default. */
#define CONNREQ_WAIT_MAX_S 120
#define CONNREQ_WAIT_DEFAULT_S 30

static const acs__col task_cols[] = {
    {"id", ACS__COL_INT},         {"device_id", ACS__COL_STR},  {"rpc", ACS__COL_STR},
    {"args", ACS__COL_JSON},      {"status", ACS__COL_STR},     {"command_key", ACS__COL_STR},
    {"created_by", ACS__COL_STR}, {"created_at", ACS__COL_STR}, {"sent_at", ACS__COL_STR},
    {"done_at", ACS__COL_STR},    {"expires_at", ACS__COL_STR}, {"result", ACS__COL_JSON},
    {"unknown_count", ACS__COL_INT},
};
#define N_TASK_COLS (sizeof task_cols / sizeof task_cols[0])
#define COL_FAULT_CODE ((int)N_TASK_COLS)

/* The task object of one row: the columns above plus
 * "fault": {"code", "string"} or null. */
json_t *acs__api_task_object(const acs_pg_result *res, int row) {
  json_t *o = acs__api_row_object(res, row, 0, task_cols, N_TASK_COLS);
  if (!o) return NULL;
  acs__api_rpc_json_render(json_object_get(o, "args"));
  acs__api_rpc_json_render(json_object_get(o, "result"));
  json_t *fault;
  if (acs_pg_isnull(res, row, COL_FAULT_CODE) && acs_pg_isnull(res, row, COL_FAULT_CODE + 1)) {
    fault = json_null();
  } else {
    fault = json_object();
    if (fault) {
      json_object_set_new(fault, "code",
                          acs__api_col_value(res, row, COL_FAULT_CODE, ACS__COL_INT));
      json_object_set_new(fault, "string",
                          acs__api_col_value(res, row, COL_FAULT_CODE + 1, ACS__COL_STR));
    }
  }
  if (!fault || json_object_set_new(o, "fault", fault)) {
    json_decref(o);
    return NULL;
  }
  return o;
}

/* --- POST /api/v1/devices/{id}/tasks */

static const char sql_insert[] =
    "INSERT INTO tasks (device_id, rpc, args, created_by, expires_at, traceparent) "
    "VALUES ($1, $2, $3::jsonb, $4, now() + $5::int * interval '1 second', NULLIF($6, '')) "
    "RETURNING " ACS__TASK_COLS;
/* Same transaction, same session: currval is the id the INSERT just took. */
static const char sql_audit[] =
    "INSERT INTO audit_log (actor, action, target, detail) VALUES ($1, 'task.create', $2, "
    "jsonb_build_object('task_id', currval(pg_get_serial_sequence('tasks', 'id')), "
    "'rpc', $3::text, 'token_id', $4::bigint))";

static void insert_cb(acs_pg_result *res, void *arg) {
  acs__api_req *r = arg;
  if (acs__api_stmt_ok(r, res) && res->ntuples == 1) {
    json_decref(r->doc);
    r->doc = acs__api_task_object(res, 0);
    free(r->location);
    r->location = NULL;
    if (asprintf(&r->location, "/api/v1/tasks/%s", acs_pg_getvalue(res, 0, 0)) < 0)
      r->location = NULL;
    if (!r->doc || !r->location) r->pg_status = ACS_ENOMEM;
  }
  acs__api_stmt_done(r);
}

static void audit_cb(acs_pg_result *res, void *arg) {
  acs__api_req *r = arg;
  acs__api_stmt_ok(r, res);
  acs__api_stmt_done(r);
}

static void respond_task(acs__api_req *r, int status, json_t *doc) {
  char extra[96];
  snprintf(extra, sizeof extra, "Location: %s\r\n", r->location);
  acs__api_respond(r, status, doc, extra);
}

/* One task by id (GET /api/v1/tasks/{id}, and the answer after a
 * connection request). */
static const char sql_task[] = "SELECT " ACS__TASK_COLS " FROM tasks WHERE id = $1::bigint";

static void task_cb(acs_pg_result *res, void *arg) {
  acs__api_keep_row(arg, res, acs__api_task_object);
}

/* --- ?connection_request=true: after the commit, the connection request
 * (its outcome recorded on the task), then the task as it is: 200 when it
 * reached a final state within the wait, else 202. r->aux holds the task
 * as created, the answer when the store cannot be read again. */

static bool task_final(const json_t *task) {
  const char *st = json_string_value(json_object_get(task, "status"));
  return st && strcmp(st, "pending") != 0 && strcmp(st, "sent") != 0;
}

static void connreq_reread_done(acs__api_req *r) {
  json_t *doc = r->pg_status == 0 && r->found && r->doc ? r->doc : r->aux;
  if (doc == r->doc) {
    r->doc = NULL;
  } else {
    r->aux = NULL;
  }
  respond_task(r, task_final(doc) ? 200 : 202, doc);
}

static void connreq_cb(const acs_connreq_outcome *o, void *arg) {
  acs__api_req *r = arg;
  acs__api_step(r, connreq_reread_done);
  const char *p[1] = {r->task_id};
  acs__api_query(r, sql_task, 1, p, task_cb);
  acs__api_step_queued(r);
}

static void connreq_start(acs__api_req *r) {
  json_t *created = r->doc;
  r->doc = NULL;
  r->aux = created;
  long long id = (long long)json_integer_value(json_object_get(created, "id"));
  char idtext[24];
  snprintf(idtext, sizeof idtext, "%lld", id);
  if (!(r->task_id = strdup(idtext))) {
    acs__api_error(r, 500, "out of memory");
    return;
  }
  acs_log_set_trace(r->trace_id[0] ? r->trace_id : NULL); /* the request carries it */
  int rc = acs_connreq_device(r->aw, r->device_id, id, r->connreq_wait_s * 1000u, connreq_cb, r);
  acs_log_set_trace(NULL);
  if (rc) { /* acsd is stopping: the task waits for the device's next session */
    r->aux = NULL;
    respond_task(r, 202, created);
  }
}

static void create_done(acs__api_req *r) {
  if (r->pg_status == ACS_EPG && strcmp(r->pg_sqlstate, "23503") == 0) {
    acs__api_error(r, 404, "no device '%s'", r->device_id); /* tasks.device_id's key */
    return;
  }
  if (r->pg_status == ACS_EPG && strcmp(r->pg_sqlstate, ACS_FILES_SQLSTATE_NO_FILE) == 0) {
    acs__api_error(r, 400, "args: file: no file '%s' (GET /api/v1/files)", r->name);
    return;
  }
  if (r->pg_status) {
    acs__api_fail_store(r);
    return;
  }
  /* a session of the device running now, on any instance, sends it too */
  acs_app_signal(r->aw, "queued", r->device_id);
  if (r->connreq_wait_s) {
    connreq_start(r);
    return;
  }
  json_t *doc = r->doc;
  r->doc = NULL;
  respond_task(r, 201, doc);
}

/* ?connection_request=true|false and ?timeout=S (1..120, only with a
 * connection request) into r->connreq_wait_s. Answers 400 and returns false. */
static bool parse_connreq(acs__api_req *r) {
  char *cr = NULL, *to = NULL;
  bool ok = false;
  if (!acs__api_query_param(r, "connection_request", &cr)) goto out;
  if (!acs__api_query_param(r, "timeout", &to)) goto out;
  bool on = false;
  if (cr && (strcmp(cr, "true") == 0 || strcmp(cr, "1") == 0)) {
    on = true;
  } else if (cr && strcmp(cr, "false") != 0 && strcmp(cr, "0") != 0) {
    acs__api_error(r, 400, "connection_request: expected true or false");
    goto out;
  }
  unsigned wait = CONNREQ_WAIT_DEFAULT_S;
  if (to) {
    char *end = NULL;
    long v = to[0] >= '0' && to[0] <= '9' ? strtol(to, &end, 10) : 0;
    if (!end || *end || v < 1 || v > CONNREQ_WAIT_MAX_S) {
      acs__api_error(r, 400, "timeout: expected seconds, an integer 1..%d", CONNREQ_WAIT_MAX_S);
      goto out;
    }
    if (!on) {
      acs__api_error(r, 400, "timeout: only with connection_request=true");
      goto out;
    }
    wait = (unsigned)v;
  }
  r->connreq_wait_s = on ? wait : 0;
  ok = true;
out:
  free(cr);
  free(to);
  return ok;
}

/* --- what a task is, checked as the session will send it */

bool acs__api_task_spec(acs__api_req *r, json_t *obj, const char *where, const char **rpc,
                        char **args_text) {
  json_t *jrpc = json_object_get(obj, "rpc");
  if (!json_is_string(jrpc)) {
    acs__api_error(r, 400, "%srpc: expected the CWMP name of an RPC, such as \"Reboot\"", where);
    return false;
  }
  *rpc = json_string_value(jrpc);
  bool provision = strcmp(*rpc, ACS_RPC_PROVISION) == 0; /* run provisions, not an RPC */
  acs_cwmp_kind kind = acs_cwmp_kind_from_name(*rpc);
  if (!provision && !acs_rpc_is_task_kind(kind)) {
    acs__api_error(r, 400, "%srpc: '%s' is not an RPC the ACS can send to a CPE", where, *rpc);
    return false;
  }
  json_t *args = json_object_get(obj, "args");
  if (args && !json_is_null(args) && !json_is_object(args)) {
    acs__api_error(r, 400, "%sargs: expected an object", where);
    return false;
  }

  /* the arguments must convert to the RPC, as the session will convert them
   * (a Download naming a file: once the engine has filled in the file's) */
  char err[256] = "";
  json_t *check = json_is_object(args) ? json_copy(args) : NULL;
  if (!provision) {
    free(r->name);
    r->name = acs_files_task_file(kind, check);
    if (r->name && !acs_files_task_args_ok(check, r->name, err, sizeof err)) {
      json_decref(check);
      acs__api_error(r, 400, "%s%s", where, err);
      return false;
    }
  }
  acs_arena arena;
  acs_cwmp_msg msg;
  acs_arena_init(&arena, 0);
  memset(&msg, 0, sizeof msg);
  int rc = provision ? acs_rpc_provision_check(args, err, sizeof err)
                     : acs_rpc_from_json(kind, check, &arena, &msg, err, sizeof err);
  acs_arena_free(&arena);
  json_decref(check);
  if (rc) {
    if (rc == ACS_ENOMEM) {
      acs__api_error(r, 500, "out of memory");
    } else {
      acs__api_error(r, 400, "%sargs: %s", where, err[0] ? err : acs_strerror(rc));
    }
    return false;
  }
  *args_text = json_is_object(args) ? json_dumps(args, JSON_COMPACT) : strdup("{}");
  if (!*args_text) {
    acs__api_error(r, 500, "out of memory");
    return false;
  }
  return true;
}

bool acs__api_task_expires(acs__api_req *r, json_t *v, char *out, size_t n) {
  out[0] = '\0';
  if (!v || json_is_null(v)) return true;
  json_int_t e = json_is_integer(v) ? json_integer_value(v) : 0;
  if (e < 1 || e > ACS__TASK_EXPIRES_MAX_S) {
    acs__api_error(r, 400, "expires_in: expected seconds, an integer 1..%d",
                   ACS__TASK_EXPIRES_MAX_S);
    return false;
  }
  snprintf(out, n, "%lld", (long long)e);
  return true;
}

/* Checks the body; on success fills kind name, args text and expiry (and
 * r->name, the file a Download names). */
static bool parse_task(acs__api_req *r, const char **rpc, char **args_text, char *expires,
                       size_t explen) {
  if (!acs__api_json_object_body(r, " {\"rpc\": ..., \"args\": {...}}")) return false;
  const char *key;
  json_t *v;
  json_object_foreach(r->body, key, v) {
    if (strcmp(key, "rpc") != 0 && strcmp(key, "args") != 0 && strcmp(key, "expires_in") != 0) {
      acs__api_error(r, 400, "unknown key '%s' (expected rpc, args, expires_in)", key);
      return false;
    }
  }
  return acs__api_task_expires(r, json_object_get(r->body, "expires_in"), expires, explen) &&
         acs__api_task_spec(r, r->body, "", rpc, args_text);
}

void acs__api_task_create(acs__api_req *r) {
  const char *rpc = NULL;
  char *args_text = NULL;
  char expires[24];
  if (!parse_connreq(r)) return;
  if (!parse_task(r, &rpc, &args_text, expires, sizeof expires)) return;
  char token_id[24];
  snprintf(token_id, sizeof token_id, "%lld", r->token_id);
  const char *pi[6] = {r->device_id, rpc, args_text, r->token_name, expires[0] ? expires : NULL,
                       r->traceparent};
  const char *pa[4] = {r->token_name, r->device_id, rpc, token_id};
  const char *pf[1] = {r->name};
  acs__api_step(r, create_done);
  if (acs__api_begin(r) == 0) {
    if ((!r->name || acs__api_query(r, acs_files_sql_required, 1, pf, acs__api_ignore_cb) == 0) &&
        acs__api_query(r, sql_insert, 6, pi, insert_cb) == 0)
      acs__api_query(r, sql_audit, 4, pa, audit_cb);
    acs__api_sync(r);
  }
  free(args_text); /* the statements copied their parameters */
  acs__api_step_queued(r);
}

/* --- GET /api/v1/tasks/{id} */

static void task_done(acs__api_req *r) {
  if (r->pg_status) {
    acs__api_fail_store(r);
    return;
  }
  if (!r->found) {
    acs__api_error(r, 404, "no task %s", r->task_id);
    return;
  }
  json_t *doc = r->doc;
  r->doc = NULL;
  acs__api_respond(r, 200, doc, NULL);
}

void acs__api_task_get(acs__api_req *r) {
  const char *p[1] = {r->task_id};
  acs__api_step(r, task_done);
  acs__api_query(r, sql_task, 1, p, task_cb);
  acs__api_step_queued(r);
}

/* --- GET /api/v1/devices/{id}/tasks: newest first */

static const char sql_tasks_first[] =
    "SELECT " ACS__TASK_COLS " FROM tasks WHERE device_id = $1 ORDER BY id DESC LIMIT $2";
static const char sql_tasks_after[] = "SELECT " ACS__TASK_COLS
                                      " FROM tasks WHERE device_id = $1 AND id < $2::bigint "
                                      "ORDER BY id DESC LIMIT $3";
static const char sql_tasks_count[] =
    "SELECT EXISTS (SELECT 1 FROM devices WHERE id = $1), "
    "(SELECT count(*) FROM tasks WHERE device_id = $1)";

static void tasks_page_cb(acs_pg_result *res, void *arg) {
  acs__api_req *r = arg;
  if (acs__api_stmt_ok(r, res)) {
    int n = res->ntuples < r->limit ? res->ntuples : r->limit;
    r->doc = json_array();
    for (int i = 0; r->doc && i < n; i++) {
      json_t *o = acs__api_task_object(res, i);
      if (!o || json_array_append_new(r->doc, o)) {
        json_decref(r->doc);
        r->doc = NULL;
      }
    }
    if (r->doc && res->ntuples > r->limit) {
      r->next_cursor = acs__api_cursor_encode('t', acs_pg_getvalue(res, n - 1, 0));
      if (!r->next_cursor) {
        json_decref(r->doc);
        r->doc = NULL;
      }
    }
    if (!r->doc) r->pg_status = ACS_ENOMEM;
  }
  acs__api_stmt_done(r);
}

/* A device's list: its count row ("is there such a device", total), then
 * 404 or the page (the tasks and history routes). */
void acs__api_device_count_cb(acs_pg_result *res, void *arg) {
  acs__api_req *r = arg;
  if (acs__api_stmt_ok(r, res) && res->ntuples == 1) {
    r->found = acs_pg_getvalue(res, 0, 0)[0] == 't';
    r->total = strtoll(acs_pg_getvalue(res, 0, 1), NULL, 10);
  }
  acs__api_stmt_done(r);
}

void acs__api_device_list_done(acs__api_req *r) {
  if (r->pg_status) {
    acs__api_fail_store(r);
    return;
  }
  if (!r->found) {
    acs__api_error(r, 404, "no device '%s'", r->device_id);
    return;
  }
  acs__api_respond_list(r);
}

void acs__api_device_tasks_list(acs__api_req *r) {
  if (!acs__api_list_params(r, 't')) return;
  if (r->cursor) {
    size_t n = strlen(r->cursor);
    bool ok = n > 0 && n <= 18;
    for (size_t i = 0; ok && i < n; i++) ok = r->cursor[i] >= '0' && r->cursor[i] <= '9';
    if (!ok) {
      acs__api_error(r, 400, "cursor: invalid (use next_cursor of a previous page)");
      return;
    }
  }
  char lim[16];
  snprintf(lim, sizeof lim, "%d", r->limit + 1);
  acs__api_step(r, acs__api_device_list_done);
  if (acs__api_begin(r) == 0) {
    if (r->cursor) {
      const char *p[3] = {r->device_id, r->cursor, lim};
      acs__api_query(r, sql_tasks_after, 3, p, tasks_page_cb);
    } else {
      const char *p[2] = {r->device_id, lim};
      acs__api_query(r, sql_tasks_first, 2, p, tasks_page_cb);
    }
    const char *pc[1] = {r->device_id};
    acs__api_query(r, sql_tasks_count, 1, pc, acs__api_device_count_cb);
    acs__api_sync(r);
  }
  acs__api_step_queued(r);
}
