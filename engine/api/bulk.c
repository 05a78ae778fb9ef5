/* bulk.c: bulk actions (docs/api.md, "Bulk actions"). POST /api/v1/bulk
 * checks the query with the device list's parser and the task as the
 * device's task route does, counts the devices the query matches now, and
 * stores the bulk action with its audit row in one statement; the runner
 * (bulk_run.c) makes the tasks. GET /api/v1/bulk (newest first, ?status=)
 * and GET /api/v1/bulk/{id} answer with its progress: its tasks counted by
 * status (tasks_bulk_status) and the devices not reached yet.
 * POST .../pause, .../resume and .../cancel move it along
 * running <-> paused -> cancelled (409 otherwise); cancel also cancels its
 * tasks not yet sent. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_internal.h"
#include "api/query.h"
#include "core/acs_err.h"

/* Highest rate accepted, tasks per second (one instance makes them). */
#define RATE_MAX 10000
/* A tag action's rate when none is given, devices per second. */
#define TAGS_RATE_DEFAULT 1000

static const char *const statuses[] = {"running", "paused", "cancelled", "done", NULL};

/* The bulk object's columns over "bulk_actions b" (or a CTE b of its rows);
 * the last is the bulk's tasks counted by status. */
/* clang-format off */
#define BULK_COLS                                                                  \
  "b.id, b.status, b.query, b.rpc, b.args::text, b.rate::text, b.window_start, "   \
  "b.window_end, b.connection_request, b.expires_in, b.created_by, "               \
  ACS__SQL_TIME("b.created_at") ", " ACS__SQL_TIME("b.finished_at") ", "           \
  "b.devices_matched, b.tasks_created, b.expanded_at IS NOT NULL, "                \
  "(SELECT coalesce(json_object_agg(s.status, s.n), '{}')::text FROM (SELECT "     \
  "status, count(*) AS n FROM tasks WHERE bulk_id = b.id GROUP BY status) s)"
/* clang-format on */
enum {
  C_ID,
  C_STATUS,
  C_QUERY,
  C_RPC,
  C_ARGS,
  C_RATE,
  C_WSTART,
  C_WEND,
  C_CONNREQ,
  C_EXPIRES,
  C_BY,
  C_AT,
  C_FINISHED,
  C_MATCHED,
  C_CREATED,
  C_EXPANDED,
  C_COUNTS,
};

static json_t *hhmm(const acs_pg_result *res, int row, int col) {
  int m = atoi(acs_pg_getvalue(res, row, col));
  char t[8];
  snprintf(t, sizeof t, "%02d:%02d", m / 60 % 24, m % 60);
  return json_string(t);
}

/* progress: the tasks by status, and the devices not reached yet pending
 * (running, paused) or failed (cancelled: they never will be) */
static bool is_tags(const acs_pg_result *res, int row) {
  return !strcmp(acs_pg_getvalue(res, row, C_RPC), ACS__BULK_TAGS);
}

static json_t *progress(const acs_pg_result *res, int row) {
  json_t *counts = json_loads(acs_pg_getvalue(res, row, C_COUNTS), 0, NULL);
  long long pending = 0, done = 0, failed = 0;
  /* a tag action makes no task: the devices it reached are done */
  if (is_tags(res, row)) done = strtoll(acs_pg_getvalue(res, row, C_CREATED), NULL, 10);
  const char *st;
  json_t *v;
  json_object_foreach(counts, st, v) {
    long long n = json_integer_value(v);
    if (!strcmp(st, "pending") || !strcmp(st, "sent")) {
      pending += n;
    } else if (!strcmp(st, "done")) {
      done += n;
    } else {
      failed += n; /* fault, expired, cancelled, unknown */
    }
  }
  json_decref(counts);
  long long unreached = 0;
  if (acs_pg_getvalue(res, row, C_EXPANDED)[0] != 't') {
    unreached = strtoll(acs_pg_getvalue(res, row, C_MATCHED), NULL, 10) -
                strtoll(acs_pg_getvalue(res, row, C_CREATED), NULL, 10);
    if (unreached < 0) unreached = 0;
  }
  if (!strcmp(acs_pg_getvalue(res, row, C_STATUS), "cancelled")) {
    failed += unreached;
  } else {
    pending += unreached;
  }
  return json_pack("{sIsIsIsI}", "total", (json_int_t)(pending + done + failed), "pending",
                   (json_int_t)pending, "done", (json_int_t)done, "failed", (json_int_t)failed);
}

/* The columns copied as they are; the others are composed below. */
static const acs__col bulk_cols[] = {
    [C_ID] = {"id", ACS__COL_INT},
    [C_STATUS] = {"status", ACS__COL_STR},
    [C_QUERY] = {"query", ACS__COL_STR},
    [C_RPC] = {"", ACS__COL_SKIP},
    [C_ARGS] = {"", ACS__COL_SKIP},
    [C_RATE] = {"", ACS__COL_SKIP},
    [C_WSTART] = {"", ACS__COL_SKIP},
    [C_WEND] = {"", ACS__COL_SKIP},
    [C_CONNREQ] = {"connection_request", ACS__COL_BOOL},
    [C_EXPIRES] = {"expires_in", ACS__COL_INT},
    [C_BY] = {"created_by", ACS__COL_STR},
    [C_AT] = {"created_at", ACS__COL_STR},
    [C_FINISHED] = {"finished_at", ACS__COL_STR},
};

static json_t *bulk_object(const acs_pg_result *res, int row) {
  json_t *o = acs__api_row_object(res, row, 0, bulk_cols, sizeof bulk_cols / sizeof bulk_cols[0]);
  json_t *task, *tags, *window = json_null();
  if (is_tags(res, row)) {
    task = json_null();
    tags = acs__api_col_value(res, row, C_ARGS, ACS__COL_JSON);
  } else if ((task = json_object())) {
    tags = json_null();
    json_object_set_new(task, "rpc", acs__api_col_value(res, row, C_RPC, ACS__COL_STR));
    json_t *args = acs__api_col_value(res, row, C_ARGS, ACS__COL_JSON);
    acs__api_rpc_json_render(args);
    json_object_set_new(task, "args", args);
  } else {
    tags = NULL;
  }
  if (!acs_pg_isnull(res, row, C_WSTART)) {
    window = json_object();
    json_object_set_new(window, "start", hhmm(res, row, C_WSTART));
    json_object_set_new(window, "end", hhmm(res, row, C_WEND));
  }
  /* json_object_set_new() takes the value even when it fails */
  if (json_object_set_new(o, "task", task) || json_object_set_new(o, "tags", tags) ||
      json_object_set_new(o, "window", window) ||
      json_object_set_new(o, "rate", json_real(strtod(acs_pg_getvalue(res, row, C_RATE), NULL))) ||
      json_object_set_new(o, "progress", progress(res, row))) {
    json_decref(o);
    return NULL;
  }
  return o;
}

/* One bulk object into r->doc (r->found, r->state its status). */
static void one_cb(acs_pg_result *res, void *arg) {
  acs__api_req *r = arg;
  if (acs__api_stmt_ok(r, res) && res->ntuples == 1) {
    r->found = true;
    json_decref(r->doc);
    r->doc = bulk_object(res, 0);
    free(r->state);
    r->state = strdup(acs_pg_getvalue(res, 0, C_STATUS));
    if (!r->doc || !r->state) r->pg_status = ACS_ENOMEM;
  }
  acs__api_stmt_done(r);
}

/* --- POST /api/v1/bulk */

/* "HH:MM" -> minutes after midnight, or -1. */
static int parse_hhmm(json_t *v) {
  const char *s = json_string_value(v);
  if (!s || strlen(s) != 5 || s[2] != ':') return -1;
  for (int i = 0; i < 5; i++)
    if (i != 2 && (s[i] < '0' || s[i] > '9')) return -1;
  int h = (s[0] - '0') * 10 + (s[1] - '0'), m = (s[3] - '0') * 10 + (s[4] - '0');
  return h < 24 && m < 60 ? h * 60 + m : -1;
}

/* window: absent or null (none), or {"start": "HH:MM", "end": "HH:MM"}. */
static bool parse_window(acs__api_req *r, json_t *w, char start[8], char end[8]) {
  start[0] = end[0] = '\0';
  if (!w || json_is_null(w)) return true;
  int a = -1, b = -1;
  bool ok = json_is_object(w) && json_object_size(w) == 2;
  if (ok) {
    a = parse_hhmm(json_object_get(w, "start"));
    b = parse_hhmm(json_object_get(w, "end"));
    ok = a >= 0 && b >= 0;
  }
  if (!ok) {
    acs__api_error(r, 400, "window: expected {\"start\": \"HH:MM\", \"end\": \"HH:MM\"} (UTC)");
    return false;
  }
  if (a == b) {
    acs__api_error(r, 400,
                   "window: start and end are the same time (leave the window out to "
                   "run at any time)");
    return false;
  }
  snprintf(start, 8, "%d", a);
  snprintf(end, 8, "%d", b);
  return true;
}

static void create_done(acs__api_req *r) {
  if (r->pg_status) {
    acs__api_fail_store(r);
    return;
  }
  if (!r->found) {
    acs__api_error(r, 500, "the bulk action was not created");
    return;
  }
  char extra[96];
  json_t *doc = r->doc;
  r->doc = NULL;
  snprintf(extra, sizeof extra, "Location: /api/v1/bulk/%lld\r\n",
           (long long)json_integer_value(json_object_get(doc, "id")));
  acs__api_respond(r, 201, doc, extra);
}

void acs__api_bulk_create(acs__api_req *r) {
  static const char *const keys[] = {"query", "task",       "tags",      "rate",
                                     "window", "connection_request", "expires_in", NULL};
  static const char *const tags_keys[] = {"add", "remove", NULL};
  acs_buf add = ACS_BUF_INIT, rem = ACS_BUF_INIT;
  static const char *const task_keys[] = {"rpc", "args", NULL};
  char *args_text = NULL;
  acs_arena arena;
  acs_arena_init(&arena, 0);
  acs__sql s;
  acs__sql_init(&s);
  bool queued = false;
  if (!acs__api_json_body(r, keys)) goto out;

  json_t *jq = json_object_get(r->body, "query");
  const char *q = json_string_value(jq);
  if (!q || !q[0]) {
    acs__api_error(r, 400,
                   "query: expected a device query (docs/api.md), such as "
                   "\"software_version = '1.0' AND tag = lab\"");
    goto out;
  }
  acs__q_node *tree = NULL;
  char err[400];
  int rc = acs__q_parse(q, json_string_length(jq), &arena, &tree, err, sizeof err);
  if (rc) {
    if (rc == ACS_ENOMEM) {
      acs__api_error(r, 500, "out of memory");
    } else {
      acs__api_error(r, 400, "query: %s", err);
    }
    goto out;
  }

  json_t *task = json_object_get(r->body, "task");
  json_t *jtags = json_object_get(r->body, "tags");
  const char *rpc = NULL;
  if (jtags && task) {
    acs__api_error(r, 400, "task and tags: a bulk action makes tasks or changes tags, not both");
    goto out;
  }
  if (jtags) {
    /* tags of every matching device, changed in the store (no task) */
    if (!json_is_object(jtags)) {
      acs__api_error(r, 400, "tags: expected {\"add\": [...], \"remove\": [...]}");
      goto out;
    }
    /* each of these answers r (and frees it) when it fails */
    if (!acs__api_known_keys(r, jtags, tags_keys, "tags: ") ||
        !acs__api_tag_list(r, json_object_get(jtags, "add"), "tags.add", &add) ||
        !acs__api_tag_list(r, json_object_get(jtags, "remove"), "tags.remove", &rem))
      goto out;
    if (!json_array_size(json_object_get(jtags, "add")) &&
        !json_array_size(json_object_get(jtags, "remove"))) {
      acs__api_error(r, 400, "tags: nothing to add or remove");
      goto out;
    }
    json_t *jcr0 = json_object_get(r->body, "connection_request");
    if (json_is_true(jcr0) || json_object_get(r->body, "expires_in")) {
      acs__api_error(r, 400,
                     "tags: a tag action makes no task: connection_request and expires_in do "
                     "not apply");
      goto out;
    }
    json_t *a = json_pack("{s:O?, s:O?}", "add", json_object_get(jtags, "add"), "remove",
                          json_object_get(jtags, "remove"));
    if (a) {
      if (!json_object_get(a, "add") || json_is_null(json_object_get(a, "add")))
        json_object_set_new(a, "add", json_array());
      if (!json_object_get(a, "remove") || json_is_null(json_object_get(a, "remove")))
        json_object_set_new(a, "remove", json_array());
    }
    args_text = a ? json_dumps(a, JSON_COMPACT) : NULL;
    json_decref(a);
    if (!args_text) {
      acs__api_error(r, 500, "out of memory");
      goto out;
    }
    rpc = ACS__BULK_TAGS;
  } else {
    if (!json_is_object(task)) {
      acs__api_error(r, 400,
                     "task: expected {\"rpc\": ..., \"args\": {...}} (or tags: {\"add\": "
                     "[...], \"remove\": [...]})");
      goto out;
    }
    if (!acs__api_known_keys(r, task, task_keys, "task: ")) goto out;
    if (!acs__api_task_spec(r, task, "task.", &rpc, &args_text)) goto out;
  }

  json_t *jrate = json_object_get(r->body, "rate");
  double rate = json_is_number(jrate) ? json_number_value(jrate) : 0;
  if (jtags && (!jrate || json_is_null(jrate))) rate = TAGS_RATE_DEFAULT;
  if (!(rate > 0 && rate <= RATE_MAX)) {
    acs__api_error(r, 400, "rate: expected tasks per second, a number above 0 and up to %d",
                   RATE_MAX);
    goto out;
  }
  char wstart[8], wend[8], expires[24], rate_text[32];
  if (!parse_window(r, json_object_get(r->body, "window"), wstart, wend)) goto out;
  json_t *jcr = json_object_get(r->body, "connection_request");
  if (jcr && !json_is_null(jcr) && !json_is_boolean(jcr)) {
    acs__api_error(r, 400, "connection_request: expected true or false");
    goto out;
  }
  if (!acs__api_task_expires(r, json_object_get(r->body, "expires_in"), expires, sizeof expires))
    goto out;
  snprintf(rate_text, sizeof rate_text, "%.17g", rate);

  /* One statement: the row (with the devices the query matches now), its
   * audit record, the object. $1..$9 in column order; "" is NULL for the
   * window and expires_in. */
  const struct {
    const char *v, *pre, *post;
  } cols[] = {
      {q, "", ""},
      {rpc, "", ""},
      {args_text, "", "::jsonb"},
      {rate_text, "", "::float8"},
      {wstart, "NULLIF(", ", '')::int"},
      {wend, "NULLIF(", ", '')::int"},
      {json_is_true(jcr) ? "true" : "false", "", "::boolean"},
      {expires, "NULLIF(", ", '')::int"},
      {r->token_name, "", ""},
      {r->traceparent, "NULLIF(", ", '')"},
  };
  acs_buf_puts(&s.text,
               "WITH b AS (INSERT INTO bulk_actions (query, rpc, args, rate, "
               "window_start, window_end, connection_request, expires_in, created_by, "
               "traceparent, devices_matched) SELECT ");
  for (size_t i = 0; i < sizeof cols / sizeof cols[0]; i++) {
    acs_buf_printf(&s.text, "%s%s", i ? ", " : "", cols[i].pre);
    acs__sql_param(&s, cols[i].v, strlen(cols[i].v));
    acs_buf_puts(&s.text, cols[i].post);
  }
  acs_buf_puts(&s.text, ", (SELECT count(*) FROM devices d WHERE ");
  acs__q_to_sql(tree, &s);
  acs_buf_puts(&s.text,
               ") RETURNING *), a AS (INSERT INTO audit_log (actor, action, target, "
               "detail) SELECT $9, 'bulk.create', b.id::text, jsonb_build_object("
               "'query', b.query, 'rpc', b.rpc, 'args', CASE WHEN b.rpc = '" ACS__BULK_TAGS
               "' THEN b.args END, 'rate', b.rate, 'devices_matched', "
               "b.devices_matched, 'token_id', ");
  char tid[24];
  acs__api_token_id(r, tid);
  acs__sql_param(&s, tid, strlen(tid));
  acs_buf_puts(&s.text, "::bigint, 'traceparent', b.traceparent) FROM b) SELECT " BULK_COLS " FROM b");
  if (acs__sql_err(&s)) {
    acs__api_error(r, 500, "out of memory");
    goto out;
  }
  acs__api_step(r, create_done);
  if (acs__q_costly(tree)) r->stmt_timeout_ms = ACS__Q_COSTLY_TIMEOUT_MS;
  if (acs__api_begin(r) == 0) {
    acs__api_query(r, s.text.data, s.n, (const char *const *)s.params, one_cb);
    acs__api_sync(r);
  }
  queued = true;
out:
  free(args_text);
  acs_buf_free(&add);
  acs_buf_free(&rem);
  acs_arena_free(&arena);
  acs__sql_free(&s);
  if (queued) acs__api_step_queued(r);
}

/* --- GET /api/v1/bulk/{id} */

static const char sql_one[] = "SELECT " BULK_COLS " FROM bulk_actions b WHERE b.id = $1::bigint";

static void get_done(acs__api_req *r) {
  acs__api_respond_found(r, "no bulk action %s", r->task_id);
}

void acs__api_bulk_get(acs__api_req *r) {
  const char *p[1] = {r->task_id};
  acs__api_step(r, get_done);
  acs__api_query(r, sql_one, 1, p, one_cb);
  acs__api_step_queued(r);
}

/* --- GET /api/v1/bulk?status=: newest first */

static void page_cb(acs_pg_result *res, void *arg) {
  acs__api_req *r = arg;
  if (acs__api_stmt_ok(r, res)) acs__api_page(r, res, bulk_object, 'b', C_ID);
  acs__api_stmt_done(r);
}

void acs__api_bulk_list(acs__api_req *r) {
  char *st = NULL;
  acs_buf sts = ACS_BUF_INIT;
  acs__sql page, count;
  acs__sql_init(&page);
  acs__sql_init(&count);
  bool queued = false;
  if (!acs__api_list_params(r, 'b') || !acs__api_cursor_is_id(r) ||
      !acs__api_query_param(r, "status", &st))
    goto out;
  if (st && !acs__api_status_filter(r, st, statuses, &sts)) goto out;
  for (int k = 0; k < 2; k++) {
    acs__sql *s = k ? &count : &page;
    acs_buf_puts(&s->text, k ? "SELECT count(*) FROM bulk_actions b WHERE true"
                             : "SELECT " BULK_COLS " FROM bulk_actions b WHERE true");
    if (st) {
      acs_buf_puts(&s->text, " AND b.status = ANY(");
      acs__sql_param(s, sts.data, sts.len);
      acs_buf_puts(&s->text, "::text[])");
    }
    if (k) continue;
    acs__api_sql_id_cursor(r, s, "b.id");
    acs__api_sql_limit(r, s, "b.id DESC");
  }
  queued = acs__api_send_list(r, &page, &count, page_cb);
out:
  free(st);
  acs_buf_free(&sts);
  acs__sql_free(&page);
  acs__sql_free(&count);
  if (queued) acs__api_step_queued(r);
}

/* --- pause, resume, cancel */

typedef struct change_def {
  const char *to;     /* the new status */
  const char *from;   /* the statuses it may leave, a text[] literal */
  const char *action; /* audit */
  const char *verb;   /* for the 409 */
} change_def;

static const change_def changes[] = {
    {"paused", "{running}", "bulk.pause", "only a running bulk action can be paused"},
    {"running", "{paused}", "bulk.resume", "only a paused bulk action can be resumed"},
    {"cancelled", "{running,paused}", "bulk.cancel",
     "only a running or paused bulk action can be cancelled"},
};
enum { CH_PAUSE, CH_RESUME, CH_CANCEL };

/* The row is locked first so that the runner's expansion in flight ends
 * before the change, and none starts after it (it checks the status under
 * the same lock); o is the row as it was, for the audit record. */
static const char sql_change[] =
    "WITH o AS (SELECT id, status FROM bulk_actions WHERE id = $1::bigint FOR UPDATE), "
    "u AS (UPDATE bulk_actions x SET status = $2, updated_at = now(), finished_at = CASE WHEN "
    "$2 = 'cancelled' THEN now() END FROM o WHERE x.id = o.id AND x.status = ANY($3::text[]) "
    "RETURNING x.id, o.status AS before), "
    "a AS (INSERT INTO audit_log (actor, action, target, detail) SELECT $4, $5, u.id::text, "
    "jsonb_build_object('before', jsonb_build_object('status', u.before), 'after', "
    "jsonb_build_object('status', $2::text), 'token_id', $6::bigint) FROM u) "
    "SELECT count(*) FROM u";

/* A statement of its own, so that its snapshot sees every task the runner
 * committed before the change above took the row; in device order, as the
 * sessions' group commits lock tasks, so the two cannot deadlock. */
static const char sql_cancel_tasks[] =
    "UPDATE tasks SET status = 'cancelled', done_at = now() WHERE id IN (SELECT id FROM tasks "
    "WHERE bulk_id = $1::bigint AND status = 'pending' AND EXISTS (SELECT 1 FROM bulk_actions "
    "WHERE id = $1::bigint AND status = 'cancelled') ORDER BY device_id FOR UPDATE)";

static void changed_cb(acs_pg_result *res, void *arg) {
  acs__api_req *r = arg;
  if (acs__api_stmt_ok(r, res) && res->ntuples == 1)
    r->action = strtol(acs_pg_getvalue(res, 0, 0), NULL, 10) > 0;
  acs__api_stmt_done(r);
}

static void change_done(acs__api_req *r) {
  const change_def *d = r->aux_ctx;
  if (r->pg_status) {
    acs__api_fail_store(r);
  } else if (!r->found) {
    acs__api_error(r, 404, "no bulk action %s", r->task_id);
  } else if (!r->action) {
    acs__api_error(r, 409, "bulk action %s is %s: %s", r->task_id, r->state, d->verb);
  } else {
    json_t *doc = r->doc;
    r->doc = NULL;
    acs__api_respond(r, 200, doc, NULL);
  }
}

static void change(acs__api_req *r, int which) {
  const change_def *d = &changes[which];
  char tid[24];
  acs__api_token_id(r, tid);
  r->aux_ctx = (void *)d; /* static: no aux_free */
  r->action = 0;
  const char *p[6] = {r->task_id, d->to, d->from, r->token_name, d->action, tid};
  acs__api_step(r, change_done);
  if (acs__api_begin(r) == 0) {
    if (acs__api_query(r, sql_change, 6, p, changed_cb) == 0 &&
        (which != CH_CANCEL || acs__api_query(r, sql_cancel_tasks, 1, p, acs__api_ignore_cb) == 0))
      acs__api_query(r, sql_one, 1, p, one_cb);
    acs__api_sync(r);
  }
  acs__api_step_queued(r);
}

void acs__api_bulk_pause(acs__api_req *r) { change(r, CH_PAUSE); }
void acs__api_bulk_resume(acs__api_req *r) { change(r, CH_RESUME); }
void acs__api_bulk_cancel(acs__api_req *r) { change(r, CH_CANCEL); }
