/* session_store.c: what a CWMP session writes and reads, each operation one
 * item of the worker's group commit (acs_store.h), keyed by device id.
 *
 * An item's build function runs once per attempt (a failed transaction is
 * split and retried), so it rebuilds its statements from the session's own
 * data each time; what a statement reads (the queued tasks, a row count) is
 * taken from the last attempt, the one whose commit the done callback
 * reports. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coord/acs_coord.h"
#include "core/acs_err.h"
#include "core/acs_log.h"
#include "session/acs_rpc_json.h"
#include "session/session_internal.h"

typedef enum {
  OP_INFORM,
  OP_MARK_SENT,
  OP_RESULT,
  OP_STATUS,
  OP_EVENT,
  OP_MODEL,
  OP_FAULT,
  OP_FAULT_CLEAR,
  OP_ALARM_RAISE,
  OP_ALARM_CLEAR,
  OP_SQL,
  OP_TASKS,
  OP_LISTED
} op_kind;

typedef struct sess_op {
  acs__session *s;
  acs__sess_done_fn done;
  op_kind kind;
  acs__task *task;
  const acs_cwmp_msg *sent, *rsp;
  int64_t task_id;
  char status[32]; /* task status, or a fault code */
  int fault_code;
  char *text; /* command key, fault string */
  char *json; /* result or payload */
  long long rows;
  bool check_only;  /* OP_MARK_SENT of an RPC that is not one-shot */
  bool marks_later; /* OP_MODEL: the read's devices.refreshed marks wait for the end */
  uint64_t at_us;   /* OP_MODEL: when the answer came (acs_metrics_now_us) */
  acs__task *tasks; /* OP_INFORM: read back by the last attempt */
  size_t ntasks;
  acs_dm dm;                 /* OP_INFORM with policies: the stored data model */
  char *channel, *provision; /* OP_FAULT, OP_FAULT_CLEAR; OP_ALARM_*: rule, key */
  char *ctx;                 /* OP_INFORM with policies: the policy context, if sent */
  int64_t ctx_gen, now_ms;   /* OP_INFORM with policies: devices.ctx_gen, the store's now */
  int64_t version;           /* OP_INFORM: devices.version after it */
  bool stale;                /* OP_INFORM: the store did not confirm the cached version */
  bool model_read;           /* OP_INFORM: the stored model came with it */
  bool cdm_taken, have_cdm;  /* OP_INFORM: the cached model, taken at the first build */
  acs_dm cdm;
  bool have_cctx; /* OP_INFORM: the cached policy context, taken with the model */
  acs_devctx cctx;
  /* OP_SQL */
  const char *sql;
  int nparams;
  char **params;
  acs__sess_rows_fn rows_fn;
  void *rows_arg;
} sess_op;

static void free_tasks(acs__task *t, size_t n) {
  for (size_t i = 0; i < n; i++) {
    free(t[i].rpc);
    free(t[i].args);
    free(t[i].command_key);
  }
  free(t);
}

static void free_tags(char **t, size_t n) {
  for (size_t i = 0; i < n; i++) free(t[i]);
  free(t);
}

static void op_free(sess_op *op) {
  free_tasks(op->tasks, op->ntasks);
  acs_dm_free(&op->dm);
  acs_dm_free(&op->cdm);
  acs_devctx_free(&op->cctx);
  free(op->channel);
  free(op->provision);
  free(op->text);
  free(op->json);
  free(op->ctx);
  for (int i = 0; i < op->nparams; i++) free(op->params[i]);
  free(op->params);
  free(op);
}

static const char *xsd_name(acs_cwmp_type t, char buf[32]) {
  if (t == ACS_XSD_ANY) return NULL;
  snprintf(buf, 32, "xsd:%s", acs_cwmp_type_name(t));
  return buf;
}

/* --- statements */

/* Every Inform of a group-commit transaction in one call of
 * acs_inform_batch() (migrations 11 and 21, docs/storage.md "One statement
 * per batch"): the device rows (group 0), their events (1), the Inform's
 * parameters with whether the worker's cache knows each unchanged (2), and
 * the CommandKeys of the "M ..." events that settle tasks (3); group 0 ends
 * with the session's fencing token (migration 14: 0 without Redis). It
 * answers, per device, 'v' (stale, version, ctx_gen, the store's now), 't'
 * (each pending task), 'p' (each stored parameter, when the model is
 * wanted) and, with policies, 'c' when the worker must read the policy
 * context (its copy not current, the device stale, the model wanted: then
 * the device's refreshed map; migrations 12 and 21). */
static const acs_store_set_def set_informs = {
    .sql =
        "SELECT * FROM acs_inform_batch($1::text[], $2::text[], $3::text[], $4::text[],\n"
        "  $5::text[], $6::text[], $7::text[], $8::boolean[], $9::boolean[], $10::inet[],\n"
        "  $11::text[], $12::text[], $13::bigint[], $14::boolean[], $15::boolean[],\n"
        "  $16::bigint[], $17::bigint[], $18::text[], $19::text[], $20::text[],\n"
        "  $21::text[], $22::text[], $23::text[], $24::text[], $25::boolean[],\n"
        "  $26::text[], $27::text[])",
    .ngroups = 4,
    .ncols = {17, 3, 5, 2},
    .unique_key = true,
};

/* Right before an RPC goes out: still pending and not expired (cancelled,
 * or expired since the Inform read it: not sent). Every task is marked
 * 'sent' with sent_at, a one-shot RPC with its CommandKey. One whose
 * outcome was unknown task-unknown-limit times ($3) is not sent: the
 * statement before faults it (migration 11). */
static const char sql_mark_sent[] =
    "UPDATE tasks SET status = 'sent', sent_at = now(), command_key = coalesce($2, command_key)\n"
    "WHERE id = $1 AND status = 'pending' AND (expires_at IS NULL OR expires_at > now())\n"
    "  AND unknown_count < $3::int RETURNING substr(traceparent, 4, 32)";
static const char sql_unknown_limit[] =
    "UPDATE tasks SET status = 'fault', done_at = now(), fault_string = 'outcome unknown '\n"
    "  || unknown_count || ' times (sent, and the CPE never answered: it crashed, rebooted or '\n"
    "  || 'dropped the session); not sent again'\n"
    "WHERE id = $1 AND status = 'pending' AND unknown_count >= $2::int";
static const char sql_check_pending[] =
    "SELECT substr(traceparent, 4, 32) FROM tasks WHERE id = $1 AND status = 'pending'\n"
    "  AND (expires_at IS NULL OR expires_at > now())";

/* $2 'sent' keeps the task open (a transfer that completes later); the
 * outcome of the task's connection request, recorded in its result before
 * the session (connreq/acs_connreq_device.h), stays in it. */
static const char sql_task_done[] =
    "UPDATE tasks SET status = $2, done_at = CASE WHEN $2 <> 'sent' THEN now() END,\n"
    "  result = CASE WHEN result ? 'connection_request' THEN coalesce($3::jsonb,\n"
    "  '{}'::jsonb) || jsonb_build_object('connection_request', result->'connection_request')\n"
    "  ELSE $3::jsonb END,\n"
    "  fault_code = $4::int, fault_string = $5\n"
    "WHERE id = $1 AND status IN ('pending', 'sent')";

/* 'pending' is a task sent whose answer never came going back to the queue:
 * one more unknown outcome (migration 11). */
static const char sql_task_status[] =
    "UPDATE tasks SET status = $2, done_at = CASE WHEN $2 = 'pending' THEN NULL ELSE now() END,\n"
    "  sent_at = CASE WHEN $2 = 'pending' THEN NULL ELSE sent_at END,\n"
    "  unknown_count = unknown_count + CASE WHEN $2 IN ('pending', 'unknown') THEN 1 ELSE 0 END,\n"
    "  fault_code = $3::int, fault_string = $4\n"
    "WHERE id = $1 AND status IN ('pending', 'sent')";

/* Vanished names, listings' marks: functions of schema version 20
 * (store/params_sql.h). */
static const char sql_gpn_vanished[] = "SELECT acs_gpn_vanished($1, $2, $3::text[])";
static const char sql_refreshed[] = "SELECT acs_refreshed($1, $2::text[])";
static const char sql_refreshed_ago[] = "SELECT acs_refreshed_ago($1, $2::text[], $3::bigint[])";

/* Objects a GetParameterValues answer named (some stacks answer a partial
 * path with the object itself): stored as objects, never as a leaf. */
static const char sql_put_objects[] =
    "INSERT INTO parameters AS p (device_id, name, is_object, names_at)\n"
    "SELECT $1, n, true, now() FROM unnest($2::text[]) AS n ORDER BY n\n"
    "ON CONFLICT (device_id, name) DO UPDATE SET is_object = true, value = NULL, xsd_type = NULL\n"
    "WHERE NOT p.is_object OR p.value IS NOT NULL OR p.xsd_type IS NOT NULL";

/* SetParameterAttributes: only what the request says changes. */
static const char sql_spa[] =
    "UPDATE parameters AS p SET\n"
    "  notification = CASE WHEN u.nc THEN u.n ELSE p.notification END,\n"
    "  access_list = CASE WHEN u.ac THEN string_to_array(u.al, ',') ELSE p.access_list END,\n"
    "  attrs_at = now()\n"
    "FROM unnest($2::text[], $3::boolean[], $4::smallint[], $5::boolean[], $6::text[])\n"
    "  AS u(name, nc, n, ac, al)\n"
    "WHERE p.device_id = $1 AND p.name = u.name";

static const char sql_fault[] =
    "INSERT INTO faults AS f (device_id, channel, code, message, detail)\n"
    "VALUES ($1, $2, $3, $4, jsonb_build_object('provision', $5::text))\n"
    "ON CONFLICT (device_id, channel) DO UPDATE SET code = excluded.code,\n"
    "  message = excluded.message, detail = excluded.detail, retries = f.retries + 1,\n"
    "  last_at = now(), next_retry_at = NULL";
static const char sql_alarm_raise[] =
    "INSERT INTO alarms AS a (device_id, rule, instance_key, severity, message)\n"
    "VALUES ($1, $2, $3, $4, $5)\n"
    "ON CONFLICT (device_id, rule, instance_key) DO UPDATE SET\n"
    "  severity = excluded.severity, message = excluded.message, last_seen = now(),\n"
    "  count = CASE WHEN a.cleared_at IS NULL THEN a.count + 1 ELSE 1 END,\n"
    "  first_seen = CASE WHEN a.cleared_at IS NULL THEN a.first_seen ELSE now() END,\n"
    "  acknowledged_at = CASE WHEN a.cleared_at IS NULL THEN a.acknowledged_at END,\n"
    "  acknowledged_by = CASE WHEN a.cleared_at IS NULL THEN a.acknowledged_by END,\n"
    "  cleared_at = NULL";
static const char sql_alarm_clear[] =
    "UPDATE alarms SET cleared_at = now() WHERE device_id = $1 AND rule = $2\n"
    "  AND instance_key = $3 AND cleared_at IS NULL";
static const char sql_fault_clear[] = "DELETE FROM faults WHERE device_id = $1 AND channel = $2";

static const char sql_fence[] = "SELECT acs_fence($1, $2::bigint)";

/* Tasks queued for the device while its session ran (session_queued.c). */
static const char sql_tasks_after[] =
    "SELECT id, rpc, args::text, command_key FROM tasks WHERE device_id = $1\n"
    "  AND status = 'pending' AND id > $2::bigint ORDER BY id";

static const char sql_event_payload[] =
    "INSERT INTO events (device_id, code, command_key, payload) VALUES ($1, $2, $3, $4::jsonb)";

/* TransferComplete: the Download/Upload task with that CommandKey (the one
 * still open, else the newest) gets it and ends 'done', or 'fault' with
 * the FaultStruct. */
static const char sql_transfer_done[] =
    "WITH tc AS (SELECT ($3::jsonb #>> '{FaultStruct,FaultCode}')::int AS code,\n"
    "  $3::jsonb #>> '{FaultStruct,FaultString}' AS string)\n"
    "UPDATE tasks SET result = coalesce(result, '{}'::jsonb) ||\n"
    "  jsonb_build_object('TransferComplete', $3::jsonb), done_at = now(),\n"
    "  status = CASE WHEN tc.code > 0 THEN 'fault' ELSE 'done' END,\n"
    "  fault_code = CASE WHEN tc.code > 0 THEN tc.code END,\n"
    "  fault_string = CASE WHEN tc.code > 0 THEN tc.string END\n"
    "FROM tc WHERE tasks.id = (SELECT id FROM tasks WHERE device_id = $1 AND command_key = $2\n"
    "  AND rpc IN ('Download', 'Upload', 'ScheduleDownload')\n"
    "  AND status IN ('sent', 'unknown', 'done', 'fault')\n"
    "  ORDER BY status = 'sent' DESC, id DESC LIMIT 1)";

/* A CancelTransfer the CPE accepted ends the open Download/Upload task of
 * that CommandKey: no TransferComplete will come for it. */
static const char sql_transfer_cancelled[] =
    "UPDATE tasks SET status = 'cancelled', done_at = now(),\n"
    "  result = coalesce(result, '{}'::jsonb) || '{\"CancelTransfer\": {}}'::jsonb\n"
    "WHERE device_id = $1 AND command_key = $2 AND rpc IN ('Download', 'Upload')\n"
    "  AND status = 'sent' AND result IS NOT NULL\n"
    "  AND result - 'connection_request' <> '{}'::jsonb";

/* --- helpers */

static void bool_array(acs_buf *b, const bool *v, size_t n) {
  acs_buf_putc(b, '{');
  for (size_t i = 0; i < n; i++) acs_buf_puts(b, i ? (v[i] ? ",t" : ",f") : (v[i] ? "t" : "f"));
  acs_buf_putc(b, '}');
}

static void int_array(acs_buf *b, const int *v, size_t n) {
  acs_buf_putc(b, '{');
  for (size_t i = 0; i < n; i++) acs_buf_printf(b, "%s%d", i ? "," : "", v[i]);
  acs_buf_putc(b, '}');
}

static void join(acs_buf *b, const acs_cwmp_strings *s) {
  for (size_t i = 0; i < s->n; i++) {
    if (i) acs_buf_putc(b, ',');
    acs_buf_puts(b, s->v[i] ? s->v[i] : "");
  }
  acs_buf_append(b, "", 0); /* NUL-terminated, "" included */
}

/* An Inform parameter's value by the end of its name (the same under
 * Device. and InternetGatewayDevice.). */
static const char *inform_value(const acs_cwmp_inform *in, const char *suffix) {
  size_t sl = strlen(suffix);
  for (size_t i = 0; i < in->params.n; i++) {
    const char *n = in->params.v[i].name;
    size_t nl = n ? strlen(n) : 0;
    if (nl >= sl && strcmp(n + nl - sl, suffix) == 0 && (nl == sl || n[nl - sl - 1] == '.'))
      return in->params.v[i].value;
  }
  return NULL;
}

static int put_values(acs_pg *c, const acs__session *s, const acs_cwmp_param_values *pv);

/* A GetParameterValues answer: its parameters as values, its objects
 * (named with a final '.' or typed "object") as objects. */
static int put_answer_values(acs_pg *c, const acs__session *s, const acs_cwmp_param_values *pv) {
  const char *dev = s->device_id;
  size_t nobj = 0;
  for (size_t i = 0; i < pv->n; i++) nobj += acs_dm_is_object_value(pv->v[i].name, pv->v[i].type);
  if (!nobj) return put_values(c, s, pv);
  acs_cwmp_param_value *leaves = calloc(pv->n, sizeof *leaves);
  const char **objs = calloc(nobj, sizeof *objs);
  char **owned = calloc(nobj, sizeof *owned);
  acs_buf arr = ACS_BUF_INIT;
  int rc = ACS_ENOMEM;
  if (!leaves || !objs || !owned) goto out;
  size_t nl = 0, no = 0;
  for (size_t i = 0; i < pv->n; i++) {
    const char *name = pv->v[i].name ? pv->v[i].name : "";
    if (!acs_dm_is_object_value(name, pv->v[i].type)) {
      leaves[nl++] = pv->v[i];
      continue;
    }
    size_t len = strlen(name);
    if (len && name[len - 1] == '.') {
      objs[no++] = name;
      continue;
    }
    if (!(owned[no] = malloc(len + 2))) goto out;
    snprintf(owned[no], len + 2, "%s.", name);
    objs[no] = owned[no];
    no++;
  }
  acs_cwmp_param_values lv = {.v = leaves, .n = nl};
  if ((rc = put_values(c, s, &lv))) goto out;
  acs_pg_array_append(&arr, objs, no);
  rc = ACS_ENOMEM;
  if (acs_buf_err(&arr)) goto out;
  const char *p[2] = {dev, arr.data};
  rc = acs_pg_query(c, sql_put_objects, 2, p, 0, NULL, NULL);
out:
  for (size_t i = 0; owned && i < nobj; i++) free(owned[i]);
  free(owned);
  free(objs);
  free(leaves);
  acs_buf_free(&arr);
  return rc;
}

/* The listing of a name this session listed and has not stored yet: its
 * writable flag (0 or 1), else -1 (acs__sess_defer_listed). */
static signed char unstored_listing(const acs__session *s, const char *name) {
  if (!s->deferred || !name) return -1;
  const acs_dm_param *p = acs_dm_get(&s->dm, name);
  return p && p->unstored && !p->object ? (signed char)(p->writable > 0) : -1;
}

/* Values (never objects); the names this session listed and has not
 * stored yet go in the same row version (acs_store_put_values_listed). */
static int put_values(acs_pg *c, const acs__session *s, const acs_cwmp_param_values *pv) {
  size_t n = pv->n;
  if (n == 0) return 0;
  const char **names = calloc(n, sizeof *names), **vals = calloc(n, sizeof *vals);
  const char **types = calloc(n, sizeof *types);
  char(*tb)[32] = calloc(n, sizeof *tb);
  signed char *listed = calloc(n, sizeof *listed);
  int rc = ACS_ENOMEM;
  if (names && vals && types && tb && listed) {
    bool any = false;
    for (size_t i = 0; i < n; i++) {
      names[i] = pv->v[i].name ? pv->v[i].name : "";
      vals[i] = pv->v[i].value ? pv->v[i].value : "";
      types[i] = xsd_name(pv->v[i].type, tb[i]);
      listed[i] = unstored_listing(s, pv->v[i].name);
      any |= listed[i] >= 0;
    }
    rc = any ? acs_store_put_values_listed(c, s->device_id, n, names, vals, types, listed, 0,
                                           NULL, NULL)
             : acs_store_put_values(c, s->device_id, n, names, vals, types, 0, NULL, NULL);
  }
  free(names);
  free(vals);
  free(types);
  free(tb);
  free(listed);
  return rc;
}

/* After the commit of values written with their listing: stored now. */
static void listing_stored(acs__session *s, const acs_cwmp_param_values *pv) {
  for (size_t i = 0; s->deferred && i < pv->n; i++) {
    if (!pv->v[i].name || acs_dm_is_object_value(pv->v[i].name, pv->v[i].type)) continue;
    acs_dm_param *p = acs_dm_get(&s->dm, pv->v[i].name);
    if (p) p->unstored = p->fresh = false;
  }
}

/* The values a SetParameterValues set, but a policy's secrets: those are
 * stored sealed (device_secrets), their parameter with an empty value as
 * the CPE reports it. */
static int put_set_values(acs_pg *c, acs__session *s, const acs_cwmp_param_values *pv) {
  bool any = false;
  for (size_t i = 0; i < pv->n && !any; i++)
    any = pv->v[i].name && acs__policy_is_secret(s, pv->v[i].name);
  if (!any) return put_values(c, s, pv);
  acs_cwmp_param_value *v = calloc(pv->n, sizeof *v);
  if (!v) return ACS_ENOMEM;
  for (size_t i = 0; i < pv->n; i++) {
    v[i] = pv->v[i];
    if (v[i].name && acs__policy_is_secret(s, v[i].name)) v[i].value = "";
  }
  acs_cwmp_param_values copy = {.v = v, .n = pv->n};
  int rc = put_values(c, s, &copy);
  free(v);
  return rc;
}

/* --- callbacks */

/* devices.refreshed onto the loaded model: a name or subtree read at T makes
 * its values at least that fresh; "#names:PATH" listed at T, its names. */
static void apply_refreshed(acs_dm *dm, const char *text) {
  json_t *m = json_loads(text, 0, NULL);
  const char *k;
  json_t *v;
  json_object_foreach(m, k, v) {
    if (!json_is_integer(v)) continue;
    int64_t at = json_integer_value(v);
    bool names = strncmp(k, "#names:", 7) == 0;
    const char *path = names ? k + 7 : k;
    size_t pl = strlen(path);
    if (names) {
      acs_dm_param *p = acs_dm_get(dm, path);
      if (!p && (pl == 0 || path[pl - 1] == '.')) p = acs_dm_put(dm, path);
      if (p && p->names_at < at) p->names_at = at;
    } else if (pl && path[pl - 1] == '.') {
      size_t first, end;
      acs_dm_range(dm, path, &first, &end);
      for (size_t i = first; i < end; i++)
        if (!dm->v[i].object && dm->v[i].value_at < at) dm->v[i].value_at = at;
    } else {
      acs_dm_param *p = acs_dm_get(dm, path);
      if (p && p->value_at < at) p->value_at = at;
    }
  }
  json_decref(m);
}

/* The device's tags from the policy context into s->tags. */
static void ctx_tags(acs__session *s) {
  free_tags(s->tags, s->ntags);
  s->tags = NULL;
  s->ntags = 0;
  json_t *ctx = s->policy_ctx_json;
  const json_t *tags = json_object_get(ctx, "tags");
  size_t n = json_array_size(tags);
  if (n && (s->tags = calloc(n, sizeof *s->tags))) {
    for (size_t i = 0; i < n; i++) {
      const char *t = json_string_value(json_array_get(tags, i));
      if (t && (s->tags[s->ntags] = strdup(t))) s->ntags++;
    }
  }
}

/* A pending task (one 't' row: id, rpc, args, command key). */
static void inform_task(sess_op *op, const acs_pg_result *r, int row) {
  acs__task *v = realloc(op->tasks, (op->ntasks + 1) * sizeof *v);
  if (!v) return;
  op->tasks = v;
  acs__task *t = &v[op->ntasks++];
  memset(t, 0, sizeof *t);
  t->id = strtoll(acs_pg_getvalue(r, row, 2), NULL, 10);
  t->rpc = strdup(acs_pg_getvalue(r, row, 3));
  t->args = strdup(acs_pg_getvalue(r, row, 4));
  t->command_key = acs_pg_isnull(r, row, 5) ? NULL : strdup(acs_pg_getvalue(r, row, 5));
}

/* A stored parameter (one 'p' row: name, value, type, writable, object,
 * notification, value_at and names_at in ms); rows come in name order. */
static void inform_param(sess_op *op, const acs_pg_result *r, int row) {
  acs_dm_param *p = acs_dm_put(&op->dm, acs_pg_getvalue(r, row, 2));
  if (!p) return;
  op->model_read = true;
  if (!acs_pg_isnull(r, row, 3)) p->value = strdup(acs_pg_getvalue(r, row, 3));
  if (!acs_pg_isnull(r, row, 4)) {
    const char *t = acs_pg_getvalue(r, row, 4);
    const char *colon = strchr(t, ':');
    p->type = acs_cwmp_type_from_name(colon ? colon + 1 : t);
  }
  if (!acs_pg_isnull(r, row, 5)) p->writable = acs_pg_getvalue(r, row, 5)[0] == 't';
  p->object = acs_pg_getvalue(r, row, 6)[0] == 't';
  if (!acs_pg_isnull(r, row, 7)) p->notification = (int8_t)atoi(acs_pg_getvalue(r, row, 7));
  if (!acs_pg_isnull(r, row, 8)) p->value_at = strtoll(acs_pg_getvalue(r, row, 8), NULL, 10);
  if (!acs_pg_isnull(r, row, 9)) p->names_at = strtoll(acs_pg_getvalue(r, row, 9), NULL, 10);
}

/* One row of acs_inform_batch() for this Inform (columns: ord, kind, r1..r8). */
static void inform_row_cb(const acs_pg_result *r, int row, void *arg) {
  sess_op *op = arg;
  switch (acs_pg_getvalue(r, row, 1)[0]) {
    case 'v': /* and, from version 21 on, ctx_gen and the store's now */
      op->stale = acs_pg_getvalue(r, row, 2)[0] == 't';
      op->version = strtoll(acs_pg_getvalue(r, row, 3), NULL, 10);
      if (!acs_pg_isnull(r, row, 4)) op->ctx_gen = strtoll(acs_pg_getvalue(r, row, 4), NULL, 10);
      if (!acs_pg_isnull(r, row, 5)) op->now_ms = strtoll(acs_pg_getvalue(r, row, 5), NULL, 10);
      break;
    case 't':
      inform_task(op, r, row);
      break;
    case 'p':
      inform_param(op, r, row);
      break;
    case 'c':
      free(op->ctx);
      op->ctx = acs_pg_isnull(r, row, 2) ? NULL : strdup(acs_pg_getvalue(r, row, 2));
      op->ctx_gen = strtoll(acs_pg_getvalue(r, row, 4), NULL, 10);
      op->now_ms = strtoll(acs_pg_getvalue(r, row, 5), NULL, 10);
      if (!acs_pg_isnull(r, row, 3)) {
        op->model_read = true;
        apply_refreshed(&op->dm, acs_pg_getvalue(r, row, 3));
      }
      break;
    default:
      break;
  }
}

static void sql_rows_cb(acs_pg_result *r, void *arg) {
  sess_op *op = arg;
  if (r->status == 0 && op->rows_fn) op->rows_fn(op->s, r, op->rows_arg);
}

static void rows_cb(acs_pg_result *r, void *arg) {
  sess_op *op = arg;
  if (r->status == 0) op->rows = op->check_only ? r->ntuples : acs_pg_cmd_tuples(r);
  /* a task about to be sent: the trace-id of the API request that made it */
  if (op->kind == OP_MARK_SENT && r->status == 0 && r->ntuples == 1 && r->nfields == 1)
    snprintf(op->s->trace_id, sizeof op->s->trace_id, "%s", acs_pg_getvalue(r, 0, 0));
}

/* --- builders */

/* The Inform joins the transaction's acs_inform_batch() call. What the worker's
 * cache knows decides what is sent: the version its last Inform left (none
 * after a BOOTSTRAP: the model is not to be trusted), each parameter as
 * known when it has not changed since, and whether a model is cached. */
static int build_inform(acs_pg *c, sess_op *op) {
  acs__session *s = op->s;
  acs_store_batch *b = s->t->aw->batch;
  const acs_cwmp_inform *in = &s->inform.u.inform;
  const acs_cwmp_device_id *d = &in->device_id;
  /* what an earlier attempt read is read again */
  free_tasks(op->tasks, op->ntasks);
  op->tasks = NULL;
  op->ntasks = 0;
  acs_dm_free(&op->dm);
  acs_dm_init(&op->dm);
  free(op->ctx);
  op->ctx = NULL;
  op->ctx_gen = op->now_ms = 0;
  op->stale = true;
  op->version = 0;
  op->model_read = false;
  bool boot = false, bootstrap = false;
  for (size_t i = 0; i < in->events.n; i++) {
    const char *code = in->events.v[i].code ? in->events.v[i].code : "";
    if (strcmp(code, "1 BOOT") == 0) boot = true;
    if (strcmp(code, "0 BOOTSTRAP") == 0) bootstrap = true;
  }
  const acs_devcache_entry *e = bootstrap ? NULL : acs_devcache_get(s->devcache, s->device_id);
  int64_t expect = acs_devcache_version(e);
  if (s->with_policies && !op->cdm_taken) {
    /* taken now, so that nothing evicts them before the answer */
    op->cdm_taken = true;
    op->have_cdm = expect && acs_devcache_take_model(s->devcache, s->device_id, expect, &op->cdm);
    op->have_cctx = expect && acs_devcache_take_ctx(s->devcache, s->device_id, expect, &op->cctx);
  }
  char expect_text[24], cexp_text[24];
  snprintf(expect_text, sizeof expect_text, "%lld", (long long)expect);
  snprintf(cexp_text, sizeof cexp_text, "%lld", (long long)op->cctx.gen);
  static const char *const vers[ACS_CWMP_NS_COUNT] = {"1.0", "1.1", "1.2", "1.3", "1.4"};
  const char *ver = s->inform.use_cwmp_version ? s->inform.use_cwmp_version : vers[s->inform.ns];
  const char *ip = strchr(s->peer, '?') ? NULL : s->peer;
  char fence[24];
  snprintf(fence, sizeof fence, "%lld", (long long)s->fence);
  const char *dev[17] = {
      s->device_id,
      d->oui,
      d->product_class ? d->product_class : "",
      d->serial_number,
      d->manufacturer ? d->manufacturer : "",
      inform_value(in, "DeviceInfo.HardwareVersion"),
      inform_value(in, "DeviceInfo.SoftwareVersion"),
      boot ? "t" : "f",
      bootstrap ? "t" : "f",
      ip,
      inform_value(in, "ManagementServer.ConnectionRequestURL"),
      ver,
      expect ? expect_text : NULL,
      s->with_policies ? "t" : "f",
      op->have_cdm ? "t" : "f",
      op->have_cctx ? cexp_text : NULL,
      fence,
  };
  int rc = acs_store_batch_set_item(b, &set_informs, dev, inform_row_cb, op);
  for (size_t i = 0; rc == 0 && i < in->events.n; i++) {
    const char *code = in->events.v[i].code ? in->events.v[i].code : "";
    const char *key = in->events.v[i].command_key ? in->events.v[i].command_key : "";
    const char *ev[3] = {s->device_id, code, key};
    rc = acs_store_batch_set_row(b, &set_informs, 1, ev);
    if (rc == 0 && code[0] == 'M' && code[1] == ' ' && key[0]) {
      const char *mk[2] = {s->device_id, key};
      rc = acs_store_batch_set_row(b, &set_informs, 3, mk);
    }
  }
  for (size_t i = 0; rc == 0 && i < in->params.n; i++) {
    const acs_cwmp_param_value *pv = &in->params.v[i];
    char tb[32];
    const char *value = pv->value ? pv->value : "";
    bool known = acs_devcache_known(e, pv->name, value, pv->type);
    const char *row[5] = {s->device_id, pv->name ? pv->name : "", value, xsd_name(pv->type, tb),
                          known ? "t" : "f"};
    rc = acs_store_batch_set_row(b, &set_informs, 2, row);
  }
  return rc;
}

/* What the CPE's answer changes in the stored data model. */
static int build_model(acs_pg *c, acs__session *s, const acs_cwmp_msg *sent,
                       const acs_cwmp_msg *rsp, bool marks_later) {
  const char *dev = s->device_id;
  acs_buf a[5] = {ACS_BUF_INIT, ACS_BUF_INIT, ACS_BUF_INIT, ACS_BUF_INIT, ACS_BUF_INIT};
  const char **names = NULL, **lists = NULL;
  bool *b1 = NULL, *b2 = NULL;
  int *iv = NULL;
  int rc = 0;
  size_t n;
  switch (rsp->kind) {
    case ACS_CWMP_GET_PARAMETER_VALUES_RESPONSE: {
      rc = put_answer_values(c, s, &rsp->u.get_parameter_values_response.params);
      const acs_cwmp_strings *asked = &sent->u.get_parameter_values.names;
      if (rc || !asked->n || marks_later) break;
      acs_pg_array_append(&a[0], (const char *const *)asked->v, asked->n);
      if (acs_buf_err(&a[0])) goto nomem;
      const char *p[2] = {dev, a[0].data};
      rc = acs_pg_query(c, sql_refreshed, 2, p, 0, NULL, NULL);
      break;
    }
    case ACS_CWMP_SET_PARAMETER_VALUES_RESPONSE:
      rc = put_set_values(c, s, &sent->u.set_parameter_values.params);
      break;
    case ACS_CWMP_GET_PARAMETER_NAMES_RESPONSE: {
      n = rsp->u.get_parameter_names_response.params.n;
      names = calloc(n + 1, sizeof *names);
      b1 = calloc(n + 1, sizeof *b1);
      if (!names || !b1) goto nomem;
      for (size_t i = 0; i < n; i++) {
        names[i] = rsp->u.get_parameter_names_response.params.v[i].name;
        if (!names[i]) names[i] = "";
        b1[i] = rsp->u.get_parameter_names_response.params.v[i].writable;
      }
      if (n && (rc = acs_store_put_names(c, dev, n, names, b1, 0, NULL, NULL))) break;
      const char *path = sent->u.get_parameter_names.parameter_path;
      if (!path) path = "";
      size_t pl = strlen(path);
      if (!sent->u.get_parameter_names.next_level && (pl == 0 || path[pl - 1] == '.')) {
        acs_pg_array_append(&a[0], names, n);
        if (acs_buf_err(&a[0])) goto nomem;
        const char *p[3] = {dev, path, a[0].data};
        if ((rc = acs_pg_query(c, sql_gpn_vanished, 3, p, 0, NULL, NULL))) break;
        /* the whole subtree is listed as of now */
        acs_buf_printf(&a[1], "#names:%s", path);
        const char *key[1] = {a[1].data};
        acs_pg_array_append(&a[2], key, 1);
        if (acs_buf_err(&a[1]) || acs_buf_err(&a[2])) goto nomem;
        const char *pr[2] = {dev, a[2].data};
        rc = acs_pg_query(c, sql_refreshed, 2, pr, 0, NULL, NULL);
      }
      break;
    }
    case ACS_CWMP_GET_PARAMETER_ATTRIBUTES_RESPONSE: {
      n = rsp->u.get_parameter_attributes_response.params.n;
      if (!n) break;
      names = calloc(n, sizeof *names);
      lists = calloc(n, sizeof *lists);
      iv = calloc(n, sizeof *iv);
      acs_buf *lb = calloc(n, sizeof *lb);
      if (!names || !lists || !iv || !lb) {
        free(lb);
        goto nomem;
      }
      for (size_t i = 0; i < n; i++) {
        const acs_cwmp_param_attr *pa = &rsp->u.get_parameter_attributes_response.params.v[i];
        names[i] = pa->name ? pa->name : "";
        iv[i] = pa->notification;
        join(&lb[i], &pa->access_list);
        lists[i] = lb[i].data ? lb[i].data : "";
      }
      rc = acs_store_put_attrs(c, dev, n, names, iv, lists, 0, NULL, NULL);
      for (size_t i = 0; i < n; i++) acs_buf_free(&lb[i]);
      free(lb);
      break;
    }
    case ACS_CWMP_SET_PARAMETER_ATTRIBUTES_RESPONSE: {
      n = sent->u.set_parameter_attributes.params.n;
      if (!n) break;
      names = calloc(n, sizeof *names);
      lists = calloc(n, sizeof *lists);
      b1 = calloc(n, sizeof *b1);
      b2 = calloc(n, sizeof *b2);
      iv = calloc(n, sizeof *iv);
      acs_buf *lb = calloc(n, sizeof *lb);
      if (!names || !lists || !b1 || !b2 || !iv || !lb) {
        free(lb);
        goto nomem;
      }
      for (size_t i = 0; i < n; i++) {
        const acs_cwmp_set_attr *sa = &sent->u.set_parameter_attributes.params.v[i];
        names[i] = sa->name ? sa->name : "";
        b1[i] = sa->notification_change;
        iv[i] = sa->notification;
        b2[i] = sa->access_list_change;
        join(&lb[i], &sa->access_list);
        lists[i] = lb[i].data ? lb[i].data : "";
      }
      acs_pg_array_append(&a[0], names, n);
      bool_array(&a[1], b1, n);
      int_array(&a[2], iv, n);
      bool_array(&a[3], b2, n);
      acs_pg_array_append(&a[4], lists, n);
      for (size_t i = 0; i < n; i++) acs_buf_free(&lb[i]);
      free(lb);
      for (int i = 0; i < 5; i++)
        if (acs_buf_err(&a[i])) goto nomem;
      const char *p[6] = {dev, a[0].data, a[1].data, a[2].data, a[3].data, a[4].data};
      rc = acs_pg_query(c, sql_spa, 6, p, 0, NULL, NULL);
      break;
    }
    case ACS_CWMP_ADD_OBJECT_RESPONSE: {
      const char *obj = sent->u.add_object.object_name ? sent->u.add_object.object_name : "";
      acs_buf_printf(&a[0], "%s%s%u.", obj, (*obj && obj[strlen(obj) - 1] != '.') ? "." : "",
                     rsp->u.add_object_response.instance_number);
      if (acs_buf_err(&a[0])) goto nomem;
      const char *nm[1] = {a[0].data};
      bool w[1] = {true};
      rc = acs_store_put_names(c, dev, 1, nm, w, 0, NULL, NULL);
      break;
    }
    case ACS_CWMP_DELETE_OBJECT_RESPONSE:
      if (sent->u.delete_object.object_name)
        rc = acs_store_delete_subtree(c, dev, sent->u.delete_object.object_name, 0, NULL, NULL);
      break;
    default:
      break;
  }
  goto cleanup;
nomem:
  rc = ACS_ENOMEM;
cleanup:
  free(names);
  free(lists);
  free(b1);
  free(b2);
  free(iv);
  for (int i = 0; i < 5; i++) acs_buf_free(&a[i]);
  return rc;
}

static void defer_marks(acs__session *s, const acs_cwmp_strings *asked, uint64_t at_us);

static void tasks_rows_cb(acs_pg_result *r, void *arg) {
  sess_op *op = arg;
  if (r->status) return;
  for (int i = 0; i < r->ntuples; i++) {
    acs__task *v = realloc(op->tasks, (op->ntasks + 1) * sizeof *v);
    if (!v) return;
    op->tasks = v;
    acs__task *t = &v[op->ntasks++];
    t->id = strtoll(acs_pg_getvalue(r, i, 0), NULL, 10);
    t->rpc = strdup(acs_pg_getvalue(r, i, 1));
    t->args = strdup(acs_pg_getvalue(r, i, 2));
    t->command_key = acs_pg_isnull(r, i, 3) ? NULL : strdup(acs_pg_getvalue(r, i, 3));
    if (!t->rpc || !t->args) op->ntasks--; /* out of memory: the next session sends it */
  }
}

/* Names a session's end writes without the probe when they are this few,
 * though the store has their rows. */
#define ACS__FEW_OLD_NAMES 16

/* The session's deferred writes at its end: the names not yet stored
 * (objects, parameters never read), then per subtree whose listing dropped
 * names from the model the stored names it no longer has (what the model
 * holds under it: the listing and what the session learnt since), then the
 * '#names:' marks and the reads' marks, last, so that a transaction that
 * does not commit claims nothing. */
static int build_listed(acs_pg *c, acs__session *s) {
  const acs_dm *dm = &s->dm;
  const char *dev = s->device_id;
  acs_buf a[3] = {ACS_BUF_INIT, ACS_BUF_INIT, ACS_BUF_INIT};
  size_t n = 0, nk = 0, no = 0, nkeys = s->nlisted + s->nmarks;
  for (size_t i = 0; i < dm->n; i++) n += dm->v[i].unstored;
  const char **names = calloc(n + dm->n + 1, sizeof *names);
  bool *w = calloc(n + 1, sizeof *w);
  char **owned = calloc(s->nlisted + 1, sizeof *owned);
  const char **keys = calloc(nkeys + 1, sizeof *keys);
  char(*ago)[24] = calloc(nkeys + 1, sizeof *ago);
  const char **agos = calloc(nkeys + 1, sizeof *agos);
  int rc = ACS_ENOMEM;
  if (!names || !w || !owned || !keys || !ago || !agos) goto out;
  /* names new to the model (no probe for a row: there is none), then the
   * ones it had before (probed: an unchanged row is not even locked); a
   * few of those go with the new ones instead, where locking their rows
   * costs less than a statement of their own (~100-200 µs) */
  size_t nold = 0;
  for (size_t i = 0; i < dm->n; i++) nold += dm->v[i].unstored && !dm->v[i].fresh;
  bool few = nold <= ACS__FEW_OLD_NAMES;
  for (int fresh = 1; fresh >= 0; fresh--) {
    if (!fresh && few) break;
    n = 0;
    for (size_t i = 0; i < dm->n; i++) {
      if (!dm->v[i].unstored || (dm->v[i].fresh != (fresh == 1) && !(fresh && few))) continue;
      names[n] = dm->v[i].name;
      w[n++] = dm->v[i].writable > 0;
    }
    if (n && (rc = (fresh ? acs_store_put_new_names : acs_store_put_names)(c, dev, n, names, w, 0,
                                                                            NULL, NULL)))
      goto out;
  }
  uint64_t now = acs_metrics_now_us();
  for (size_t k = 0; k < nkeys; k++) {
    uint64_t at;
    if (k < s->nlisted) {
      const char *path = s->listed[k];
      /* an object deleted since (DeleteObject): its listing no longer holds */
      if (*path && !acs_dm_get(dm, path)) continue;
      if (s->listed_gone[k]) {
        /* the model held names the listing did not: their rows go (a
         * listing that dropped nothing leaves nothing to delete, as the
         * model held every stored row under it) */
        size_t first, end, m = 0;
        acs_dm_range(dm, path, &first, &end);
        for (size_t i = first; i < end; i++) names[m++] = dm->v[i].name;
        acs_buf_reset(&a[0]);
        acs_pg_array_append(&a[0], names, m);
        if (acs_buf_err(&a[0])) goto nomem;
        const char *p[3] = {dev, path, a[0].data};
        if ((rc = acs_pg_query(c, sql_gpn_vanished, 3, p, 0, NULL, NULL))) goto out;
      }
      size_t kl = strlen(path) + 8;
      if (!(owned[no] = malloc(kl))) goto nomem;
      snprintf(owned[no], kl, "#names:%s", path);
      keys[nk] = owned[no++];
      at = s->listed_us[k];
    } else {
      keys[nk] = s->marks[k - s->nlisted];
      at = s->marks_us[k - s->nlisted];
    }
    snprintf(ago[nk], sizeof ago[nk], "%llu",
             (unsigned long long)(now > at ? (now - at) / 1000 : 0));
    agos[nk] = ago[nk];
    nk++;
  }
  rc = 0;
  if (!nk) goto out;
  acs_pg_array_append(&a[1], keys, nk);
  acs_pg_array_append(&a[2], agos, nk);
  if (acs_buf_err(&a[1]) || acs_buf_err(&a[2])) goto nomem;
  const char *pr[3] = {dev, a[1].data, a[2].data};
  rc = acs_pg_query(c, sql_refreshed_ago, 3, pr, 0, NULL, NULL);
  goto out;
nomem:
  rc = ACS_ENOMEM;
out:
  for (size_t k = 0; owned && k < no; k++) free(owned[k]);
  free(owned);
  free(keys);
  free(ago);
  free(agos);
  free(names);
  free(w);
  for (int i = 0; i < 3; i++) acs_buf_free(&a[i]);
  return rc;
}

static int op_build(acs_pg *c, void *arg) {
  sess_op *op = arg;
  acs__session *s = op->s;
  char id[24], code[16];
  snprintf(id, sizeof id, "%lld", (long long)op->task_id);
  snprintf(code, sizeof code, "%d", op->fault_code);
  op->rows = 0;
  if (op->kind != OP_INFORM && s->fence > 0) {
    /* with Redis: refused (SQLSTATE AF001) once a newer session of the
     * device has written; the row stays locked to the commit (migration 14) */
    char fence[24];
    snprintf(fence, sizeof fence, "%lld", (long long)s->fence);
    const char *pf[2] = {s->device_id, fence};
    int rc = acs_pg_query(c, sql_fence, 2, pf, 0, NULL, NULL);
    if (rc) return rc;
  }
  switch (op->kind) {
    case OP_INFORM:
      return build_inform(c, op);
    case OP_MARK_SENT: {
      if (op->check_only) {
        const char *p[1] = {id};
        return acs_pg_query(c, sql_check_pending, 1, p, 0, rows_cb, op);
      }
      char limit[16];
      snprintf(limit, sizeof limit, "%u", s->t->aw->app->cfg->task_unknown_limit);
      const char *pl[2] = {id, limit};
      int rc = acs_pg_query(c, sql_unknown_limit, 2, pl, 0, NULL, NULL);
      if (rc) return rc;
      const char *p[3] = {id, op->text, limit};
      return acs_pg_query(c, sql_mark_sent, 3, p, 0, rows_cb, op);
    }
    case OP_RESULT: {
      const char *p[5] = {id, op->status, op->json, op->fault_code ? code : NULL, op->text};
      int rc = acs_pg_query(c, sql_task_done, 5, p, 0, NULL, NULL);
      if (rc || op->rsp->kind == ACS_CWMP_FAULT) return rc;
      if (op->rsp->kind == ACS_CWMP_CANCEL_TRANSFER_RESPONSE) {
        const char *key = op->sent->u.command_key_req.command_key;
        const char *pc[2] = {s->device_id, key ? key : ""};
        return acs_pg_query(c, sql_transfer_cancelled, 2, pc, 0, NULL, NULL);
      }
      return build_model(c, s, op->sent, op->rsp, false);
    }
    case OP_STATUS: {
      const char *p[4] = {id, op->status, op->fault_code ? code : NULL, op->text};
      return acs_pg_query(c, sql_task_status, 4, p, 0, NULL, NULL);
    }
    case OP_MODEL:
      return build_model(c, s, op->sent, op->rsp, op->marks_later);
    case OP_FAULT: {
      const char *p[5] = {s->device_id, op->channel, op->status, op->text, op->provision};
      return acs_pg_query(c, sql_fault, 5, p, 0, NULL, NULL);
    }
    case OP_FAULT_CLEAR: {
      const char *p[2] = {s->device_id, op->channel};
      return acs_pg_query(c, sql_fault_clear, 2, p, 0, NULL, NULL);
    }
    case OP_ALARM_RAISE: {
      const char *p[5] = {s->device_id, op->channel, op->provision, op->status, op->text};
      return acs_pg_query(c, sql_alarm_raise, 5, p, 0, NULL, NULL);
    }
    case OP_ALARM_CLEAR: {
      const char *p[3] = {s->device_id, op->channel, op->provision};
      return acs_pg_query(c, sql_alarm_clear, 3, p, 0, NULL, NULL);
    }
    case OP_SQL:
      return acs_pg_query(c, op->sql, op->nparams, (const char *const *)op->params, 0, sql_rows_cb,
                          op);
    case OP_TASKS: {
      free_tasks(op->tasks, op->ntasks); /* an earlier attempt's */
      op->tasks = NULL;
      op->ntasks = 0;
      const char *p[2] = {s->device_id, id};
      return acs_pg_query(c, sql_tasks_after, 2, p, 0, tasks_rows_cb, op);
    }
    case OP_LISTED:
      return build_listed(c, s);
    case OP_EVENT: {
      const char *name = acs_cwmp_kind_name(op->rsp->kind);
      const char *p[4] = {s->device_id, name, op->text, op->json};
      int rc = acs_pg_query(c, sql_event_payload, 4, p, 0, NULL, NULL);
      if (rc || op->rsp->kind != ACS_CWMP_TRANSFER_COMPLETE || !op->text) return rc;
      const char *pt[3] = {s->device_id, op->text, op->json};
      return acs_pg_query(c, sql_transfer_done, 3, pt, 0, NULL, NULL);
    }
  }
  return ACS_EINVAL;
}

/* The Inform's parameters onto a model taken from the cache, as the store
 * wrote them: a value that changed (or changed type) is stored with the
 * time, one that did not keeps its own. */
static void model_apply_inform(acs_dm *dm, const acs_cwmp_param_values *pv, int64_t now) {
  for (size_t i = 0; i < pv->n; i++) {
    if (!pv->v[i].name) continue;
    const char *value = pv->v[i].value ? pv->v[i].value : "";
    acs_dm_param *p = acs_dm_put(dm, pv->v[i].name);
    if (!p) return;
    if (p->value && strcmp(p->value, value) == 0 && p->type == pv->v[i].type) continue;
    char *v = strdup(value);
    if (!v) return;
    free(p->value);
    p->value = v;
    p->type = pv->v[i].type;
    p->value_at = now;
  }
}

/* The session's policy context: as the store sent it, else the worker's
 * copy (current: the store sent none) with this Inform's events and boots
 * counted in; then the event counts policies see. */
static void policy_ctx(acs__session *s, sess_op *op) {
  const acs_cwmp_inform *in = &s->inform.u.inform;
  acs_devctx_free(&s->ctx);
  json_decref(s->policy_ctx_json);
  s->policy_ctx_json = NULL;
  if (op->ctx) {
    if (acs_devctx_load(&s->ctx, op->ctx, op->ctx_gen))
      acs_log(ACS_LOG_WARN, "session", "%s: policy context unreadable", s->device_id);
  } else if (op->have_cctx && !op->stale && op->cctx.gen == op->ctx_gen) {
    s->ctx = op->cctx;
    op->cctx = (acs_devctx)ACS_DEVCTX_INIT;
    op->have_cctx = false;
    bool boot = false, bootstrap = false;
    for (size_t i = 0; i < in->events.n; i++) {
      const char *code = in->events.v[i].code ? in->events.v[i].code : "";
      boot |= strcmp(code, "1 BOOT") == 0;
      bootstrap |= strcmp(code, "0 BOOTSTRAP") == 0;
      if (acs_devctx_add_event(&s->ctx, code, op->now_ms)) acs_devctx_free(&s->ctx);
    }
    acs_devctx_booted(&s->ctx, boot, bootstrap, op->now_ms);
  }
  if (!s->ctx.json) return;
  if (acs_devctx_count(&s->ctx, op->now_ms)) {
    acs_devctx_free(&s->ctx);
    return;
  }
  s->policy_ctx_json = json_incref(s->ctx.json);
}

/* After the Inform's commit: the worker's cache learns the version and the
 * Inform's values; a session with policies gets its model, from the cache
 * when the store confirmed the cached version, else as read with the
 * Inform. */
static void inform_cached(acs__session *s, sess_op *op) {
  const acs_cwmp_param_values *pv = &s->inform.u.inform.params;
  if (op->version &&
      acs_devcache_informed(s->devcache, s->device_id, op->version, op->stale, pv) == 0)
    s->cache_version = op->version;
  if (!s->with_policies) return;
  acs_dm_free(&s->dm);
  if (op->have_cdm && !op->stale && !op->model_read) {
    s->dm = op->cdm;
    acs_dm_init(&op->cdm);
    model_apply_inform(&s->dm, pv, acs_policy_now_ms());
  } else {
    s->dm = op->dm;
    acs_dm_init(&op->dm);
  }
  policy_ctx(s, op);
  ctx_tags(s);
}

static void op_done(int status, const acs_pg_result *r, void *arg) {
  sess_op *op = arg;
  acs__session *s = op->s;
  if (status == ACS_EPG && r && r->sqlstate && strcmp(r->sqlstate, "AF001") == 0) {
    /* a newer session (another instance, after this one's lock expired)
     * has written the device: nothing of this one is */
    acs_log(ACS_LOG_WARN, "session", "%s: write refused, fencing token %lld is stale: %s",
            s->device_id, (long long)s->fence, r->detail ? r->detail : r->error);
    status = ACS_EFENCED;
    s->fenced = true;
    acs_coord_count_fenced(s->aw->app->coord);
  } else if (status && r && r->error) {
    acs_log(ACS_LOG_WARN, "session", "%s: store: %s", s->device_id, r->error);
  }
  if (status == 0) {
    if (op->kind == OP_INFORM) {
      free_tasks(s->tasks, s->ntasks);
      s->tasks = op->tasks;
      s->ntasks = op->ntasks;
      s->next_task = 0;
      op->tasks = NULL;
      op->ntasks = 0;
      inform_cached(s, op);
    } else if (op->kind == OP_TASKS && op->ntasks && !s->outstanding) {
      acs__task *v = realloc(s->tasks, (s->ntasks + op->ntasks) * sizeof *v);
      if (v) {
        memcpy(v + s->ntasks, op->tasks, op->ntasks * sizeof *v);
        s->tasks = v;
        s->ntasks += op->ntasks;
        free(op->tasks); /* the strings now belong to s->tasks */
        op->tasks = NULL;
        op->ntasks = 0;
      }
    } else if (op->kind == OP_MARK_SENT && op->rows == 0 && s->outstanding == op->task) {
      s->outstanding = NULL; /* no longer pending: cancelled or expired meanwhile */
    } else if (op->kind == OP_LISTED) {
      for (size_t i = 0; i < s->dm.n; i++) s->dm.v[i].unstored = s->dm.v[i].fresh = false;
    } else if ((op->kind == OP_MODEL || op->kind == OP_RESULT) && op->rsp) {
      if (op->marks_later) defer_marks(s, &op->sent->u.get_parameter_values.names, op->at_us);
      if (op->rsp->kind == ACS_CWMP_GET_PARAMETER_VALUES_RESPONSE)
        listing_stored(s, &op->rsp->u.get_parameter_values_response.params);
      else if (op->rsp->kind == ACS_CWMP_SET_PARAMETER_VALUES_RESPONSE)
        listing_stored(s, &op->sent->u.set_parameter_values.params);
    }
  }
  if (status == 0 && op->kind == OP_RESULT) {
    /* a connection request's wait for this task (any instance) looks now */
    char id[24];
    snprintf(id, sizeof id, "%lld", (long long)op->task_id);
    acs_app_signal(s->aw, "task", id);
  }
  acs_log_set_context(s->device_id, s->cookie); /* its records name the session */
  acs_log_set_trace(s->trace_id[0] ? s->trace_id : NULL);
  if (op->done) op->done(s, status);
  acs_log_set_context(NULL, NULL);
  acs__sess_unref(s);
  op_free(op);
}

static int submit(acs__session *s, sess_op *op, unsigned flags) {
  acs_app_worker *aw = s->t->aw;
  op->s = s;
  /* what writes the model (or what policies store) makes the worker's copy
   * unsure: the next Inform goes uncached and reads it again */
  if (op->kind == OP_RESULT || op->kind == OP_MODEL || op->kind == OP_SQL ||
      op->kind == OP_LISTED) {
    acs_devcache_forget(s->devcache, s->device_id);
    s->cache_version = 0;
  }
  if (!aw->batch) {
    op_free(op);
    return ACS_EUNAVAILABLE;
  }
  acs__sess_ref(s);
  int rc = acs_store_batch_submit(aw->batch, s->device_id, flags, op_build, op_done, op);
  if (rc) {
    acs__sess_unref(s);
    op_free(op);
  }
  return rc;
}

static sess_op *op_new(op_kind kind, acs__sess_done_fn done) {
  sess_op *op = calloc(1, sizeof *op);
  if (op) {
    op->kind = kind;
    op->done = done;
    acs_dm_init(&op->dm);
    acs_dm_init(&op->cdm);
  }
  return op;
}

static char *dump(json_t *j) {
  char *t = j ? json_dumps(j, JSON_COMPACT) : NULL;
  json_decref(j);
  return t;
}

/* --- operations */

int acs__sess_store_tasks_since(acs__session *s, int64_t after, acs__sess_done_fn done) {
  sess_op *op = op_new(OP_TASKS, done);
  if (!op) return ACS_ENOMEM;
  op->task_id = after;
  return submit(s, op, ACS_PG_FAILFAST);
}

int acs__sess_store_inform(acs__session *s, acs__sess_done_fn done) {
  sess_op *op = op_new(OP_INFORM, done);
  if (!op) return ACS_ENOMEM;
  return submit(s, op, ACS_PG_FAILFAST);
}

/* Can this session's model writes wait for its end (acs__sess_store_listed)? */
static bool can_defer(const acs__session *s) {
  return s->with_policies && s->t->aw->batch && !s->listed_flushing;
}

bool acs__sess_defer_listed(acs__session *s, const acs_cwmp_msg *sent, const acs_cwmp_msg *rsp) {
  if (!can_defer(s) || sent->kind != ACS_CWMP_GET_PARAMETER_NAMES ||
      rsp->kind != ACS_CWMP_GET_PARAMETER_NAMES_RESPONSE || sent->u.get_parameter_names.next_level)
    return false;
  const char *path = sent->u.get_parameter_names.parameter_path;
  if (!path) path = "";
  size_t pl = strlen(path);
  bool subtree = pl == 0 || path[pl - 1] == '.'; /* else a parameter, listed by its name */
  /* the model must hold every name listed (it is what the end writes) */
  const acs_cwmp_gpn_response *r = &rsp->u.get_parameter_names_response;
  for (size_t i = 0; i < r->params.n; i++)
    if (r->params.v[i].name && !acs_dm_get(&s->dm, r->params.v[i].name)) return false;
  if (subtree) {
    char **l = realloc(s->listed, (s->nlisted + 1) * sizeof *l);
    if (!l) return false;
    s->listed = l;
    uint64_t *at = realloc(s->listed_us, (s->nlisted + 1) * sizeof *at);
    if (!at) return false;
    s->listed_us = at;
    bool *gone = realloc(s->listed_gone, (s->nlisted + 1) * sizeof *gone);
    if (!gone) return false;
    s->listed_gone = gone;
    if (!(l[s->nlisted] = strdup(path))) return false;
    /* acs_dm_apply counted what the listing dropped (SIZE_MAX: not applied) */
    gone[s->nlisted] = s->dm.swept != 0;
    at[s->nlisted++] = acs_metrics_now_us();
  }
  for (size_t i = 0; i < r->params.n; i++) {
    acs_dm_param *p = r->params.v[i].name ? acs_dm_get(&s->dm, r->params.v[i].name) : NULL;
    if (p) p->unstored = true;
  }
  s->deferred = true;
  /* the model changes: the worker's copy is no longer the store's */
  acs_devcache_forget(s->devcache, s->device_id);
  s->cache_version = 0;
  return true;
}

/* The names a planner's GetParameterValues asked for, read at at_us: their
 * devices.refreshed marks go with the end's write (after the values' own,
 * which committed first). Out of memory, a mark is lost: the next session
 * reads the value again. */
static void defer_marks(acs__session *s, const acs_cwmp_strings *asked, uint64_t at_us) {
  if (s->listed_flushing || !asked->n) return;
  char **m = realloc(s->marks, (s->nmarks + asked->n) * sizeof *m);
  if (!m) return;
  s->marks = m;
  uint64_t *at = realloc(s->marks_us, (s->nmarks + asked->n) * sizeof *at);
  if (!at) return;
  s->marks_us = at;
  for (size_t i = 0; i < asked->n; i++) {
    if (!(m[s->nmarks] = strdup(asked->v[i] ? asked->v[i] : ""))) return;
    at[s->nmarks++] = at_us;
  }
  s->deferred = true;
}

int acs__sess_store_listed(acs__session *s, acs__sess_done_fn done) {
  if (!s->deferred || s->listed_flushing) return ACS_ENOTFOUND;
  sess_op *op = op_new(OP_LISTED, done);
  if (!op) return ACS_ENOMEM;
  s->listed_flushing = true;
  int rc = submit(s, op, 0);
  if (rc) s->listed_flushing = false;
  return rc;
}

int acs__sess_store_mark_sent(acs__session *s, acs__task *task, const char *command_key,
                              bool check_only, acs__sess_done_fn done) {
  sess_op *op = op_new(OP_MARK_SENT, done);
  if (!op) return ACS_ENOMEM;
  op->check_only = check_only;
  op->task = task;
  op->task_id = task->id;
  if (command_key && !(op->text = strdup(command_key))) {
    op_free(op);
    return ACS_ENOMEM;
  }
  return submit(s, op, 0);
}

int acs__sess_store_result(acs__session *s, acs__task *task, const acs_cwmp_msg *sent,
                           const acs_cwmp_msg *rsp, acs__sess_done_fn done) {
  sess_op *op = op_new(OP_RESULT, done);
  if (!op) return ACS_ENOMEM;
  op->task = task;
  op->task_id = task->id;
  op->sent = sent;
  op->rsp = rsp;
  op->json = dump(acs_rpc_to_json(rsp));
  if (rsp->kind == ACS_CWMP_FAULT) {
    snprintf(op->status, sizeof op->status, "fault");
    op->fault_code = (int)rsp->u.fault.code;
    op->text = strdup(rsp->u.fault.string ? rsp->u.fault.string : "");
  } else if ((rsp->kind == ACS_CWMP_DOWNLOAD_RESPONSE || rsp->kind == ACS_CWMP_UPLOAD_RESPONSE) &&
             rsp->u.transfer_response.status == 1) {
    snprintf(op->status, sizeof op->status, "sent"); /* open until its TransferComplete */
  } else {
    snprintf(op->status, sizeof op->status, "done");
  }
  if (!op->json) {
    op_free(op);
    return ACS_ENOMEM;
  }
  return submit(s, op, 0);
}

void acs__sess_store_task_status(acs__session *s, int64_t task_id, const char *status,
                                 int fault_code, const char *fault_string) {
  sess_op *op = op_new(OP_STATUS, NULL);
  if (!op) return;
  op->task_id = task_id;
  snprintf(op->status, sizeof op->status, "%s", status);
  op->fault_code = fault_code;
  if (fault_string) op->text = strdup(fault_string);
  if (submit(s, op, 0))
    acs_log(ACS_LOG_WARN, "session", "%s: task %lld: cannot record status %s", s->device_id,
            (long long)task_id, status);
}

int acs__sess_store_event(acs__session *s, const acs_cwmp_msg *req, acs__sess_done_fn done) {
  sess_op *op = op_new(OP_EVENT, done);
  if (!op) return ACS_ENOMEM;
  op->rsp = req;
  op->json = dump(acs_rpc_to_json(req));
  const char *key = NULL;
  if (req->kind == ACS_CWMP_TRANSFER_COMPLETE) key = req->u.transfer_complete.command_key;
  if (req->kind == ACS_CWMP_DU_STATE_CHANGE_COMPLETE)
    key = req->u.du_state_change_complete.command_key;
  if (key && *key) op->text = strdup(key);
  if (!op->json) {
    op_free(op);
    return ACS_ENOMEM;
  }
  return submit(s, op, 0);
}

int acs__sess_store_model(acs__session *s, const acs_cwmp_msg *sent, const acs_cwmp_msg *rsp,
                          acs__sess_done_fn done) {
  sess_op *op = op_new(OP_MODEL, done);
  if (!op) return ACS_ENOMEM;
  op->sent = sent;
  op->rsp = rsp;
  /* a read's marks wait for the end, once its values are committed (a
   * write that fails claims nothing) */
  op->marks_later = can_defer(s) && sent->kind == ACS_CWMP_GET_PARAMETER_VALUES &&
                    rsp->kind == ACS_CWMP_GET_PARAMETER_VALUES_RESPONSE;
  op->at_us = acs_metrics_now_us();
  return submit(s, op, 0);
}

void acs__sess_store_fault(acs__session *s, const char *channel, const char *code,
                           const char *message, const char *provision) {
  if (s->dry) {
    acs__dry_fault(s, channel, code, message, provision);
    return;
  }
  if (!s->t->aw->batch) return;
  sess_op *op = op_new(OP_FAULT, NULL);
  if (!op) return;
  snprintf(op->status, sizeof op->status, "%s", code ? code : "script.error");
  op->channel = strdup(channel ? channel : "default");
  op->text = strdup(message ? message : "");
  op->provision = strdup(provision ? provision : "");
  submit(s, op, 0);
}

void acs__sess_store_fault_clear(acs__session *s, const char *channel) {
  if (!s->t->aw->batch) return;
  sess_op *op = op_new(OP_FAULT_CLEAR, NULL);
  if (!op) return;
  op->channel = strdup(channel ? channel : "default");
  submit(s, op, 0);
}

static void alarm_op(acs__session *s, op_kind kind, const char *rule, const char *key,
                     const char *severity, const char *message) {
  if (!s->t->aw->batch) return;
  sess_op *op = op_new(kind, NULL);
  if (!op) return;
  snprintf(op->status, sizeof op->status, "%s", severity ? severity : "");
  op->channel = strdup(rule);
  op->provision = strdup(key ? key : "");
  op->text = strdup(message ? message : "");
  submit(s, op, 0);
}

void acs__sess_store_alarm(acs__session *s, const char *rule, const char *key, const char *severity,
                           const char *message) {
  if (s->dry) {
    acs__dry_alarm(s, rule, key, severity, message);
    return;
  }
  alarm_op(s, severity ? OP_ALARM_RAISE : OP_ALARM_CLEAR, rule, key, severity, message);
}

int acs__sess_store_sql(acs__session *s, const char *sql, int n, const char *const *params,
                        acs__sess_rows_fn rows, void *arg, acs__sess_done_fn done) {
  if (!s->t->aw->batch) return ACS_EUNAVAILABLE;
  sess_op *op = op_new(OP_SQL, done);
  if (!op) return ACS_ENOMEM;
  op->sql = sql;
  op->rows_fn = rows;
  op->rows_arg = arg;
  op->params = calloc((size_t)n + 1, sizeof *op->params);
  if (!op->params) {
    op_free(op);
    return ACS_ENOMEM;
  }
  op->nparams = n;
  for (int i = 0; i < n; i++) {
    if (params[i] && !(op->params[i] = strdup(params[i]))) {
      op_free(op);
      return ACS_ENOMEM;
    }
  }
  return submit(s, op, 0);
}
