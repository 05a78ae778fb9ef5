/* api_internal.h: what the files of engine/api share (not a public header).
 *
 * One acs__api_req per API request, from the router's first look to the
 * answer: it carries the connection, the request (valid until the answer),
 * the worker, the authenticated caller and whatever the route's handler
 * builds. Every answer goes through acs__api_respond() or acs__api_error(),
 * which answer the connection and free the request: nothing may touch r
 * afterwards.
 *
 * Store access: statements are queued with acs__api_query() (between
 * acs__api_begin() and acs__api_sync() for a transaction). Each statement
 * callback starts with acs__api_stmt_ok() (records the first error; true when
 * the statement succeeded) and ends with acs__api_stmt_done(); when the last
 * statement (and sync) of the step has been told, r->done runs once and
 * answers or starts the next step. A statement that could not be queued is
 * simply not counted, so aborted groups and synchronous failures end the same
 * way: r->done sees r->pg_status. */
#ifndef ACS_API_INTERNAL_H
#define ACS_API_INTERNAL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "api/acs_api.h"
#include "core/acs_buf.h"
#include "store/acs_pg.h"

/* Roles, ordered: a role may do what every lower role may. */
typedef enum acs__api_role {
  ACS__ROLE_NONE = 0,
  ACS__ROLE_READONLY,
  ACS__ROLE_OPERATOR,
  ACS__ROLE_ADMIN,
} acs__api_role;

/* "readonly", "operator", "admin" <-> role; ACS__ROLE_NONE if unknown. */
acs__api_role acs__api_role_parse(const char *s);
const char *acs__api_role_name(acs__api_role r);

/* A verified token stays cached this long per worker: a revoked token stops
 * working within it. last_used_at is written at most once per this interval
 * by the lookup, and the statement only writes it when it is a minute old. */
#define ACS__API_TOKEN_TTL_MS 5000

/* Lists: ?limit= default and maximum, and the devices count past which
 * X-Total-Count is pg_class.reltuples (flagged X-Total-Count-Estimated). */
#define ACS__API_LIMIT_DEFAULT 100
#define ACS__API_LIMIT_MAX 1000
#define ACS__API_EXACT_COUNT_MAX 100000
/* A list's count statement counts up to the threshold (estimated past it):
 * ACS__API_COUNT_CAPPED("table") opens it (its conditions follow, " AND
 * ..."), ACS__API_COUNT_CAPPED_END closes it. */
#define ACS__API_COUNT_CAPPED(from)                                                       \
  "SELECT least(count(*), " ACS__STR(ACS__API_EXACT_COUNT_MAX) "), count(*) > " ACS__STR( \
      ACS__API_EXACT_COUNT_MAX) " FROM (SELECT 1 FROM " from " WHERE true"
#define ACS__API_COUNT_CAPPED_END " LIMIT " ACS__STR(ACS__API_EXACT_COUNT_MAX) " + 1) c"

#define ACS__STR_(x) #x
#define ACS__STR(x) ACS__STR_(x)

/* A timestamptz column as RFC 3339 UTC text ("2026-12-01T08:00:00Z"). */
#define ACS__SQL_TIME(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"

/* The task object's columns (tasks.c). */
/* clang-format off */
#define ACS__TASK_COLS                                                             \
  "id, device_id, rpc, args::text, status, command_key, created_by, "              \
  ACS__SQL_TIME("created_at") ", " ACS__SQL_TIME("sent_at") ", "                   \
  ACS__SQL_TIME("done_at") ", " ACS__SQL_TIME("expires_at") ", result::text, "     \
  "unknown_count, fault_code, fault_string"
/* clang-format on */

/* The device object's columns, in device_cols order (devices.c). */
/* clang-format off */
#define ACS__DEVICE_COLS                                                          \
  "id, oui, product_class, serial_number, manufacturer, hardware_version, "       \
  "software_version, " ACS__SQL_TIME("created_at") ", "                           \
  ACS__SQL_TIME("last_inform") ", " ACS__SQL_TIME("last_boot") ", "               \
  ACS__SQL_TIME("last_bootstrap") ", host(source_ip), connection_request_url, "   \
  "cwmp_version, to_json(tags)::text, data_stale"
/* clang-format on */
#define ACS__N_DEVICE_COLS 16

typedef struct acs__api_req acs__api_req;
typedef void (*acs__api_step_fn)(acs__api_req *r);

struct acs__api_req {
  acs_conn *c;
  const acs_http_request *req;
  acs_app_worker *aw;
  const acs_app *app;
  int route;         /* router.c's route number */
  const char *allow; /* the route's methods, for 405 */
  char *device_id;   /* decoded {id} of /devices/{id}..., /faults/{device}/..., or NULL */
  char *task_id;     /* digits of /tasks/{id}, /tokens/{id}, /alarms/{id}, /bulk/{id}, or NULL */
  char *channel;     /* decoded {channel} of /faults/{device}/{channel}, or NULL */
  char *name;        /* decoded {name} of /files/{name}, or NULL */

  /* the caller, once authenticated */
  unsigned char token_hash[32];
  long long token_id;
  char *token_name;
  acs__api_role role;
  acs__api_step_fn after_auth;

  /* statements of the current step */
  int pending;
  acs__api_step_fn done;
  int pg_status; /* first failure of the step: 0 or an ACS_E* code */
  char pg_sqlstate[6];
  char *pg_error; /* its message (logs only) */

  /* what handlers build */
  json_t *doc;     /* the answer's document */
  json_t *aux;     /* a second document (a device's parameters) */
  json_t *body;    /* the parsed request body */
  long long total; /* X-Total-Count, -1 unknown */
  bool total_estimated;
  bool found;
  int limit;
  char *cursor;            /* decoded cursor key, NULL for the first page */
  char *next_cursor;       /* encoded, or NULL for the last page */
  char *location;          /* Location header value, or NULL */
  char *state;             /* a row's current state, for a 409 (tasks) */
  int action;              /* what the handler does (tasks.c: cancel or retry) */
  unsigned connreq_wait_s; /* tasks.c: ?connection_request=true, its timeout (0: none) */
  int stmt_timeout_ms;     /* > 0: acs__api_begin() sets this statement timeout first */
  char traceparent[56];    /* the request's W3C traceparent (version 00), or "" */
  char trace_id[33];       /* its trace-id, or "" */
  void *job;               /* policy_test.c: a dry run whose devices are being read */
  void *aux_ctx;           /* a handler's own state, freed by aux_free with r */
  void (*aux_free)(void *aux_ctx);
};

/* --- router.c */
void acs__api_req_free(acs__api_req *r);

/* --- auth.c: authenticates r from its Authorization header (cache, else
 * one statement), then calls next(r); answers 401/503 itself. */
void acs__api_authenticate(acs__api_req *r, acs__api_step_fn next);
/* sha256 of n bytes. */
void acs__api_sha256(const void *data, size_t n, unsigned char out[32]);

/* --- respond.c: answers (each answers c and frees r) */
/* doc is consumed (may be NULL: no body); extra: NULL or complete header
 * lines. */
void acs__api_respond(acs__api_req *r, int status, json_t *doc, const char *extra);
/* {"error": message}; adds WWW-Authenticate to 401, Allow (r->allow) to 405
 * and Retry-After to 503. */
void acs__api_error(acs__api_req *r, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Answers a step that looked up one row (r->found, r->doc): the store's
 * failure, 404 with the message when there was none, else 200 with the row. */
void acs__api_respond_found(acs__api_req *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* The same for a step that deleted one row: 204 when there was one. */
void acs__api_respond_gone(acs__api_req *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Answers the failure recorded in r->pg_status: 503 when the store is down
 * or the statement was cancelled, 500 otherwise (logged). */
void acs__api_fail_store(acs__api_req *r);
/* A list answer: {"items": r->doc, "next_cursor": r->next_cursor} with the
 * X-Total-Count header from r->total / r->total_estimated. */
void acs__api_respond_list(acs__api_req *r);
/* A device's list route: its count statement's callback (found, total:
 * columns 0 and 1) and its last step (404 for no device, else the page). */
void acs__api_device_count_cb(acs_pg_result *res, void *arg);
void acs__api_device_list_done(acs__api_req *r);

/* --- respond.c: store helpers */
/* Starts a step: resets the step's counters; done runs when it ends. */
void acs__api_step(acs__api_req *r, acs__api_step_fn done);
/* Queues a statement (failfast once the connection has been up). Returns 0,
 * or an error, recorded in r->pg_status (the statement is not counted). */
int acs__api_query(acs__api_req *r, const char *sql, int n, const char *const *params,
                   acs_pg_cb cb);
int acs__api_begin(acs__api_req *r);
/* Closes the group (its callback is counted); on failure aborts the group. */
int acs__api_sync(acs__api_req *r);
/* Ends the step now if nothing was queued (call after queueing). */
void acs__api_step_queued(acs__api_req *r);
bool acs__api_stmt_ok(acs__api_req *r, const acs_pg_result *res);
void acs__api_stmt_done(acs__api_req *r);
/* The body of a statement's callback that keeps its one row: r->found, and
 * the row as row() builds it in r->doc (ACS_ENOMEM when it cannot); ends the
 * statement. */
void acs__api_keep_row(acs__api_req *r, const acs_pg_result *res,
                       json_t *(*row)(const acs_pg_result *res, int i));

/* --- respond.c: JSON from result columns */
typedef enum acs__col_type {
  ACS__COL_STR,  /* text, NULL -> null */
  ACS__COL_INT,  /* integer */
  ACS__COL_BOOL, /* boolean ('t'/'f') */
  ACS__COL_JSON, /* JSON text (to_json(x)::text, jsonb::text) */
  ACS__COL_SKIP, /* not copied into the object */
} acs__col_type;

typedef struct acs__col {
  const char *name; /* key in the object */
  acs__col_type type;
} acs__col;

/* The value of one column (never NULL but on allocation failure). */
json_t *acs__api_col_value(const acs_pg_result *res, int row, int col, acs__col_type t);
/* An object of columns first .. first+n-1 of row, named by cols. */
json_t *acs__api_row_object(const acs_pg_result *res, int row, int first, const acs__col *cols,
                            size_t n);
/* A JSON string of n bytes; invalid UTF-8 bytes become U+FFFD. */
json_t *acs__api_string(const char *s, size_t n);

/* --- respond.c: lists */
/* Reads ?limit= and ?cursor= into r->limit and r->cursor (the cursor's
 * kind letter must match). Answers 400 and returns false when invalid. */
bool acs__api_list_params(acs__api_req *r, char kind);
/* An opaque cursor for key: base64url of "<kind>:<key>" (malloc'd). */
char *acs__api_cursor_encode(char kind, const char *key);

/* base64url without padding of n bytes, appended to out. */
void acs__api_base64url(const unsigned char *data, size_t n, acs_buf *out);

/* --- respond.c: requests */
/* The decoded query parameter key into *out (malloc'd; NULL when absent).
 * Answers 400 (malformed, or a NUL) and returns false. */
bool acs__api_query_param(acs__api_req *r, const char *key, char **out);
/* ?key=true|false into *out (1 or 0; untouched when absent). Answers 400
 * and returns false otherwise. */
bool acs__api_bool_param(acs__api_req *r, const char *key, int *out);
/* Checks Content-Type (415) and parses the body into r->body: a JSON
 * object (400) whose keys are all among keys (NULL-terminated; 400 naming
 * the known ones). Answers and returns false on failure. */
bool acs__api_json_body(acs__api_req *r, const char *const *keys);
/* acs__api_json_body without the key check: the 400 for a body that is not
 * an object ends with hint ("" or the expected shape, " {...}"). */
bool acs__api_json_object_body(acs__api_req *r, const char *hint);
/* Every key of obj among keys (NULL-terminated), else 400 naming the known
 * ones (prefixed by where, "" or "task: ") and false. */
bool acs__api_known_keys(acs__api_req *r, json_t *obj, const char *const *keys, const char *where);
/* A page: items from the first min(ntuples, limit) rows made by row(), and
 * when there are more, next_cursor of kind from column key_col of the last
 * item. Sets r->doc and r->next_cursor, or r->pg_status = ACS_ENOMEM. */
void acs__api_page(acs__api_req *r, const acs_pg_result *res,
                   json_t *(*row)(const acs_pg_result *res, int i), char kind, int key_col);
/* Statement callbacks: a count (column 0; column 1, if any, 't' when it is
 * an estimate) into r->total; a statement whose rows do not matter. */
void acs__api_count_cb(acs_pg_result *res, void *arg);
void acs__api_ignore_cb(acs_pg_result *res, void *arg);
/* A step's done that answers the list (or the store's failure). */
void acs__api_list_done(acs__api_req *r);
/* Sends a list's page statement (answered to page_cb) and its count in one
 * transaction; acs__api_list_done answers once both are in. Answers 500 and
 * returns false (nothing sent) when either ran out of memory being built. */
struct acs__sql;
bool acs__api_send_list(acs__api_req *r, const struct acs__sql *page, const struct acs__sql *count,
                        acs_pg_cb page_cb);
/* Appends a page statement's end: " ORDER BY order LIMIT $n", one row more
 * than r->limit (is there a next page?). */
void acs__api_sql_limit(const acs__api_req *r, struct acs__sql *s, const char *order);
/* Appends, after a cursor, " AND col < $n::bigint": a newest-first list's
 * keyset by id. */
void acs__api_sql_id_cursor(const acs__api_req *r, struct acs__sql *s, const char *col);
/* Appends a two-column keyset condition: open (" AND (x, y) < ("), then a
 * and b as parameters, each followed by its cast ("" or "::bigint"), and
 * the closing ")". */
void acs__api_sql_pair(struct acs__sql *s, const char *open, const char *a, const char *cast_a,
                       const char *b, const char *cast_b);
/* ?status=a,b (v) of the known values (NULL-terminated) as a text[]
 * literal appended to out; else 400 answered, false. */
bool acs__api_status_filter(acs__api_req *r, const char *v, const char *const *known, acs_buf *out);
/* The token id as text, for statements. */
void acs__api_token_id(const acs__api_req *r, char out[24]);
/* Runs sql as the whole step (cb reads its rows, done answers): its
 * parameters are the n (at most 6) of p, then the caller for the audit
 * record it writes, the token's name ($n+1) and id ($n+2). */
void acs__api_audited(acs__api_req *r, acs__api_step_fn done, const char *sql, int n,
                      const char *const *p, acs_pg_cb cb);
/* A digits-only cursor key (task and token ids): else 400, false. */
bool acs__api_cursor_is_id(acs__api_req *r);

/* --- devices.c, device_list.c, tasks.c, task_ops.c, faults.c, admin.c:
 * route handlers (r authenticated and authorised) */
extern const acs__col acs__api_device_cols[ACS__N_DEVICE_COLS];
void acs__api_devices_list(acs__api_req *r);
void acs__api_devices_export(acs__api_req *r); /* device_export.c */
void acs__api_trace_start(acs__api_req *r);    /* traces.c */
void acs__api_trace_get(acs__api_req *r);
void acs__api_trace_stop(acs__api_req *r);
void acs__api_traces_start(acs__api_req *r);
void acs__api_device_get(acs__api_req *r);
void acs__api_device_delete(acs__api_req *r);
void acs__api_device_tags(acs__api_req *r);
void acs__api_device_tasks_list(acs__api_req *r);
/* history.c: GET /api/v1/devices/{id}/history */
void acs__api_device_history(acs__api_req *r);
void acs__api_task_create(acs__api_req *r);
void acs__api_task_get(acs__api_req *r);
void acs__api_tasks_list(acs__api_req *r);
void acs__api_task_cancel(acs__api_req *r);
void acs__api_task_retry(acs__api_req *r);
/* The task object of one row of ACS__TASK_COLS. */
json_t *acs__api_task_object(const acs_pg_result *res, int row);

/* Secret parameters (secret_values.c; core/acs_secret_param.h): every
 * answer carrying parameter values renders them through these.
 * One parameter object (name: its full name): "secret": true or false, and
 * "value": null when secret. -1 out of memory. */
int acs__api_param_render(json_t *param, const char *name, size_t n);
/* The same for each member of an object keyed by parameter name. */
int acs__api_params_render(json_t *params);
/* A task's args or result (CWMP structures as JSON), in place: the "Value"
 * of a {"Name", "Value"} whose name is a secret, and any "Password" of a
 * transfer's arguments, become null. */
void acs__api_rpc_json_render(json_t *v);
/* What a task is, checked as the session will send it (the device's task
 * route and bulk actions): obj's "rpc" and "args" (its other keys are the
 * caller's) into *rpc (obj's string) and *args_text (compact JSON,
 * malloc'd); where prefixes the messages ("" or "task."). Answers 400 (or
 * 500) and returns false. */
bool acs__api_task_spec(acs__api_req *r, json_t *obj, const char *where, const char **rpc,
                        char **args_text);
/* Longest expires_in accepted: ten years. */
#define ACS__TASK_EXPIRES_MAX_S 315360000
/* An "expires_in" value (NULL or null: none, out = "") as decimal text. */
bool acs__api_task_expires(acs__api_req *r, json_t *v, char *out, size_t n);
/* The rpc of a bulk action that changes tags (bulk.c, bulk_run.c): no
 * CWMP RPC has an '@'. */
#define ACS__BULK_TAGS "@tags"

/* --- devices.c: a list of tags (a: absent, or an array of 0..64 strings of
 * 1..128 bytes without control characters) as a text[] literal into out;
 * false with a 400 naming key otherwise. */
bool acs__api_tag_list(acs__api_req *r, json_t *a, const char *key, acs_buf *out);
void acs__api_faults_list(acs__api_req *r);
void acs__api_fault_delete(acs__api_req *r);
void acs__api_tokens_list(acs__api_req *r);
void acs__api_token_create(acs__api_req *r);
void acs__api_token_revoke(acs__api_req *r);
void acs__api_audit_list(acs__api_req *r);
void acs__api_fault_retry(acs__api_req *r);
/* policies.c, alarms.c */
void acs__api_policies_get(acs__api_req *r);
void acs__api_policies_push(acs__api_req *r);
void acs__api_policies_reload(acs__api_req *r);
void acs__api_policy_generations(acs__api_req *r);
void acs__api_policies_activate(acs__api_req *r);
void acs__api_policies_rollback(acs__api_req *r);
void acs__api_policy_source(acs__api_req *r);
/* The body's "files" as a tree ({"presets/NAME": "text"}), or NULL: 400
 * answered. */
json_t *acs__api_policy_body_tree(acs__api_req *r);
/* policy_test.c: the dry run of files over the configured sample of
 * stored devices (session/acs_dryrun.h); done runs on the loop with its
 * summary (NULL on failure: rc, err); a store failure is answered here. */
void acs__api_policy_dry_run(acs__api_req *r, const json_t *files,
                             void (*done)(acs__api_req *r, json_t *summary, int rc,
                                          const char *err));
void acs__api_policies_test(acs__api_req *r);
/* policy_rollout.c */
void acs__api_policy_rollout_start(acs__api_req *r);
void acs__api_policy_rollout_get(acs__api_req *r);
void acs__api_policy_rollout_complete(acs__api_req *r);
void acs__api_policy_rollout_abort(acs__api_req *r);
void acs__api_alarms_list(acs__api_req *r);
void acs__api_alarm_get(acs__api_req *r);
void acs__api_alarm_acknowledge(acs__api_req *r);
/* bulk.c: /api/v1/bulk[/{id}[/pause|resume|cancel]] (the id in task_id) */
void acs__api_bulk_list(acs__api_req *r);
void acs__api_bulk_create(acs__api_req *r);
void acs__api_bulk_get(acs__api_req *r);
void acs__api_bulk_pause(acs__api_req *r);
void acs__api_bulk_resume(acs__api_req *r);
void acs__api_bulk_cancel(acs__api_req *r);
/* files.c */
void acs__api_files_list(acs__api_req *r);
void acs__api_file_upload(acs__api_req *r);
void acs__api_file_get(acs__api_req *r);
void acs__api_file_delete(acs__api_req *r);

/* monitor.c: /ready and /metrics (no token; true when req was one of
 * them, answered), and the monitoring routes of /api/v1 */
bool acs__api_monitor_try(acs_conn *c, const acs_http_request *req, const acs_app *app);
void acs__api_system_health(acs__api_req *r);
void acs__api_telemetry(acs__api_req *r);
void acs__api_stomp_metrics(acs__api_req *r);
void acs__api_log_get(acs__api_req *r);
void acs__api_log_set(acs__api_req *r);

/* --- token_cli.c: a new token ("acs_" + 43 base64url characters) into
 * tok and the hex of its sha256 into hex. 0 or an error. */
int acs__api_token_new(acs_buf *tok, char hex[65]);

#endif
