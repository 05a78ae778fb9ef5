/* alarms.c: the alarms that the policies' alarm rules and fleet jobs raise
 * (docs/api.md, "Alarms"). GET /api/v1/alarms?device=&rule=&severity=
 * &state=&acknowledged= lists them newest last_seen first (keyset on
 * (last_seen, id), each filter on an index of schema version 9), GET
 * /api/v1/alarms/{id} reads one, POST /api/v1/alarms/{id}/acknowledge
 * (operator) records who acknowledged it and when: the first
 * acknowledgement stays, a second one answers the same (200). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_internal.h"
#include "api/query.h"
#include "core/acs_err.h"

/* clang-format off */
#define ALARM_COLS                                                                 \
  "id, device_id, rule, instance_key, severity, message, "                         \
  "CASE WHEN cleared_at IS NULL THEN 'open' ELSE 'cleared' END, "                  \
  ACS__SQL_TIME("first_seen") ", " ACS__SQL_TIME("last_seen") ", count, "          \
  ACS__SQL_TIME("cleared_at") ", " ACS__SQL_TIME("acknowledged_at") ", "           \
  "acknowledged_by, clear_on_inform, "                                             \
  "to_char(last_seen AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"
/* clang-format on */

static const acs__col alarm_cols[] = {
    {"id", ACS__COL_INT},
    {"device_id", ACS__COL_STR},
    {"rule", ACS__COL_STR},
    {"instance_key", ACS__COL_STR},
    {"severity", ACS__COL_STR},
    {"message", ACS__COL_STR},
    {"state", ACS__COL_STR},
    {"first_seen", ACS__COL_STR},
    {"last_seen", ACS__COL_STR},
    {"count", ACS__COL_INT},
    {"cleared_at", ACS__COL_STR},
    {"acknowledged_at", ACS__COL_STR},
    {"acknowledged_by", ACS__COL_STR},
    {"clear_on_inform", ACS__COL_BOOL},
    {"last_seen_us", ACS__COL_SKIP}, /* the cursor's key */
};
#define N_ALARM_COLS (sizeof alarm_cols / sizeof alarm_cols[0])

static const char *const severities[] = {"critical", "major", "minor", "warning", "info", NULL};

static json_t *alarm_row(const acs_pg_result *res, int i) {
  return acs__api_row_object(res, i, 0, alarm_cols, N_ALARM_COLS);
}

/* --- GET /api/v1/alarms */

/* The cursor key: ["last_seen to the microsecond", id] as JSON text. */
static void page_cb(acs_pg_result *res, void *arg) {
  acs__api_req *r = arg;
  if (acs__api_stmt_ok(r, res)) {
    /* acs__api_page makes the cursor of one column: the id, replaced below */
    acs__api_page(r, res, alarm_row, 'l', 0);
    if (r->next_cursor) {
      int last = (res->ntuples < r->limit ? res->ntuples : r->limit) - 1;
      json_t *k = json_pack("[sI]", acs_pg_getvalue(res, last, (int)N_ALARM_COLS - 1),
                            (json_int_t)strtoll(acs_pg_getvalue(res, last, 0), NULL, 10));
      char *text = k ? json_dumps(k, JSON_COMPACT) : NULL;
      json_decref(k);
      free(r->next_cursor);
      r->next_cursor = text ? acs__api_cursor_encode('l', text) : NULL;
      free(text);
      if (!r->next_cursor) r->pg_status = ACS_ENOMEM;
    }
  }
  acs__api_stmt_done(r);
}

/* ?severity=a,b: a text[] literal of known severities; false: 400 answered. */
static bool severity_filter(acs__api_req *r, const char *v, acs_buf *out) {
  const char *items[5];
  size_t n = 0;
  char *copy = strdup(v), *p = copy, *tok;
  bool ok = copy != NULL;
  while (ok && (tok = strsep(&p, ",")) != NULL) {
    const char *known = NULL;
    for (int i = 0; severities[i]; i++)
      if (strcmp(tok, severities[i]) == 0) known = severities[i];
    if (!known || n == 5) {
      ok = false;
      break;
    }
    items[n++] = known;
  }
  if (ok) acs_pg_array_append(out, items, n);
  free(copy);
  if (!ok || acs_buf_err(out)) {
    acs__api_error(r, 400,
                   "severity: expected one or more (comma-separated) of critical, major, minor, "
                   "warning, info");
    return false;
  }
  return true;
}

/* The cursor's key: ["time", id]; false: 400 answered. */
static bool cursor_key(acs__api_req *r, const char **t, char id[24]) {
  json_t *k = json_loads(r->cursor, 0, NULL);
  acs__q_value tv;
  bool ok = json_is_array(k) && json_array_size(k) == 2 && json_is_string(json_array_get(k, 0)) &&
            json_is_integer(json_array_get(k, 1)) &&
            acs__q_time_parse(json_string_value(json_array_get(k, 0)),
                              json_string_length(json_array_get(k, 0)), &tv) &&
            !tv.time_rel;
  if (ok) {
    /* kept in r->cursor's place: the time text outlives k */
    snprintf(id, 24, "%lld", (long long)json_integer_value(json_array_get(k, 1)));
    char *ts = strdup(json_string_value(json_array_get(k, 0)));
    free(r->cursor);
    r->cursor = ts;
    ok = ts != NULL;
    *t = ts;
  }
  json_decref(k);
  if (!ok) acs__api_error(r, 400, "cursor: invalid (use next_cursor of a previous page)");
  return ok;
}

void acs__api_alarms_list(acs__api_req *r) {
  static const char *const eq[] = {"device", "rule", "severity", "state"};
  static const char *const eq_col[] = {"device_id", "rule"};
  char *v[4] = {NULL};
  int acked = -1;
  const char *ct = NULL;
  char cid[24];
  acs_buf sev = ACS_BUF_INIT;
  acs__sql page, count;
  acs__sql_init(&page);
  acs__sql_init(&count);
  bool queued = false;
  if (!acs__api_list_params(r, 'l')) goto out;
  for (int i = 0; i < 4; i++)
    if (!acs__api_query_param(r, eq[i], &v[i])) goto out;
  if (!acs__api_bool_param(r, "acknowledged", &acked)) goto out;
  if (v[2] && !severity_filter(r, v[2], &sev)) goto out;
  const char *state = v[3] ? v[3] : "open";
  if (strcmp(state, "open") && strcmp(state, "cleared") && strcmp(state, "all")) {
    acs__api_error(r, 400, "state: expected open, cleared or all");
    goto out;
  }
  if (r->cursor && !cursor_key(r, &ct, cid)) goto out;
  for (int k = 0; k < 2; k++) {
    acs__sql *s = k ? &count : &page;
    acs_buf_puts(&s->text, k ? ACS__API_COUNT_CAPPED("alarms")
                             : "SELECT " ALARM_COLS " FROM alarms WHERE true");
    for (int i = 0; i < 2; i++) {
      if (!v[i]) continue;
      acs_buf_printf(&s->text, " AND %s = ", eq_col[i]);
      acs__sql_param(s, v[i], strlen(v[i]));
    }
    if (v[2] && !strchr(v[2], ',')) {
      /* one severity: an equality, so that its index also gives the order */
      acs_buf_puts(&s->text, " AND severity = ");
      acs__sql_param(s, v[2], strlen(v[2]));
    } else if (v[2]) {
      acs_buf_puts(&s->text, " AND severity = ANY(");
      acs__sql_param(s, sev.data, sev.len);
      acs_buf_puts(&s->text, "::text[])");
    }
    if (!strcmp(state, "open")) acs_buf_puts(&s->text, " AND cleared_at IS NULL");
    if (!strcmp(state, "cleared")) acs_buf_puts(&s->text, " AND cleared_at IS NOT NULL");
    if (acked >= 0)
      acs_buf_puts(&s->text,
                   acked ? " AND acknowledged_at IS NOT NULL" : " AND acknowledged_at IS NULL");
    if (k) {
      acs_buf_puts(&s->text, ACS__API_COUNT_CAPPED_END);
      continue;
    }
    if (ct) {
      acs__api_sql_pair(s, " AND (last_seen, id) < (", ct, "::timestamptz", cid, "::bigint");
    }
    acs__api_sql_limit(r, s, "last_seen DESC, id DESC");
  }
  queued = acs__api_send_list(r, &page, &count, page_cb);
out:
  for (int i = 0; i < 4; i++) free(v[i]);
  acs_buf_free(&sev);
  acs__sql_free(&page);
  acs__sql_free(&count);
  if (queued) acs__api_step_queued(r);
}

/* --- GET /api/v1/alarms/{id} */

static const char sql_alarm[] = "SELECT " ALARM_COLS " FROM alarms WHERE id = $1::bigint";

static void alarm_cb(acs_pg_result *res, void *arg) { acs__api_keep_row(arg, res, alarm_row); }

static void alarm_done(acs__api_req *r) { acs__api_respond_found(r, "no alarm %s", r->task_id); }

void acs__api_alarm_get(acs__api_req *r) {
  const char *p[1] = {r->task_id};
  acs__api_step(r, alarm_done);
  acs__api_query(r, sql_alarm, 1, p, alarm_cb);
  acs__api_step_queued(r);
}

/* --- POST /api/v1/alarms/{id}/acknowledge: the first acknowledgement
 * stays (and only it is audited); the answer is the alarm either way */

static const char sql_ack[] =
    "WITH t AS (UPDATE alarms SET acknowledged_at = now(), acknowledged_by = $2 WHERE id = "
    "$1::bigint AND acknowledged_at IS NULL RETURNING *), "
    "a AS (INSERT INTO audit_log (actor, action, target, detail) SELECT $2, "
    "'alarm.acknowledge', t.device_id, jsonb_build_object('alarm_id', t.id, 'rule', t.rule, "
    "'instance_key', t.instance_key, 'severity', t.severity, 'state', CASE WHEN t.cleared_at IS "
    "NULL THEN 'open' ELSE 'cleared' END, 'token_id', $3::bigint) FROM t) "
    "SELECT count(*) FROM t";

void acs__api_alarm_acknowledge(acs__api_req *r) {
  char tid[24];
  acs__api_token_id(r, tid);
  const char *p[3] = {r->task_id, r->token_name, tid};
  acs__api_step(r, alarm_done);
  if (acs__api_begin(r) == 0) {
    if (acs__api_query(r, sql_ack, 3, p, acs__api_ignore_cb) == 0)
      acs__api_query(r, sql_alarm, 1, p, alarm_cb);
    acs__api_sync(r);
  }
  acs__api_step_queued(r);
}
