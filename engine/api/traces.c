/* traces.c: wire traces through the API (docs/api.md, "Wire traces";
 * app/acs_trace.h records them):
 *   POST   /api/v1/devices/{id}/trace {"minutes", "persist", "max_bytes"}
 *   GET    /api/v1/devices/{id}/trace   the trace with its records
 *   DELETE /api/v1/devices/{id}/trace   stop it, its records gone
 *   POST   /api/v1/traces {"query", "minutes", "persist", "max_bytes"}
 * Every start and stop is audited. The bounds (minutes, bytes per device,
 * bytes and devices of all traces together) are checked in the statement
 * that stores the trace. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_internal.h"
#include "api/query.h"
#include "app/acs_trace.h"
#include "core/acs_err.h"

#define STR_(x) #x
#define STR(x) STR_(x)

/* clang-format off */
#define TRACE_COLS                                                                      \
  "t.device_id, " ACS__SQL_TIME("t.until") ", t.persist, t.max_bytes, t.query, "        \
  "t.created_by, " ACS__SQL_TIME("t.created_at") ", t.until > now(), "                  \
  "(SELECT count(*) FROM trace_records x WHERE x.device_id = t.device_id), "            \
  "(SELECT coalesce(sum(octet_length(x.head) + octet_length(x.body)), 0) FROM "         \
  "trace_records x WHERE x.device_id = t.device_id)"
/* clang-format on */

static const acs__col trace_cols[] = {
    {"device_id", ACS__COL_STR}, {"until", ACS__COL_STR},      {"persist", ACS__COL_BOOL},
    {"max_bytes", ACS__COL_INT}, {"query", ACS__COL_STR},      {"created_by", ACS__COL_STR},
    {"created_at", ACS__COL_STR}, {"active", ACS__COL_BOOL},   {"records", ACS__COL_INT},
    {"bytes", ACS__COL_INT},
};

static const acs__col record_cols[] = {
    {"id", ACS__COL_INT},   {"at", ACS__COL_STR},   {"session", ACS__COL_STR},
    {"direction", ACS__COL_STR}, {"head", ACS__COL_STR}, {"body", ACS__COL_STR},
    {"truncated", ACS__COL_BOOL},
};

/* minutes, persist, max_bytes of the body, as statement parameters. */
static bool parse_settings(acs__api_req *r, char minutes[16], const char **persist,
                           char max_bytes[16]) {
  json_t *m = json_object_get(r->body, "minutes");
  if (!json_is_integer(m) || json_integer_value(m) < 1 ||
      json_integer_value(m) > ACS_TRACE_MINUTES_MAX) {
    acs__api_error(r, 400, "minutes: expected an integer from 1 to %d", ACS_TRACE_MINUTES_MAX);
    return false;
  }
  json_t *p = json_object_get(r->body, "persist");
  if (p && !json_is_boolean(p)) {
    acs__api_error(r, 400, "persist: expected true or false");
    return false;
  }
  json_t *b = json_object_get(r->body, "max_bytes");
  long long mb = ACS_TRACE_BYTES_DEFAULT;
  if (b) {
    if (!json_is_integer(b) || json_integer_value(b) < 4096 ||
        json_integer_value(b) > ACS_TRACE_BYTES_MAX) {
      acs__api_error(r, 400, "max_bytes: expected an integer from 4096 to %d", ACS_TRACE_BYTES_MAX);
      return false;
    }
    mb = json_integer_value(b);
  }
  snprintf(minutes, 16, "%lld", (long long)json_integer_value(m));
  snprintf(max_bytes, 16, "%lld", mb);
  *persist = json_is_true(p) ? "true" : "false";
  return true;
}

static void one_cb(acs_pg_result *res, void *arg) {
  acs__api_req *r = arg;
  if (acs__api_stmt_ok(r, res) && res->ntuples == 1) {
    r->found = true;
    json_decref(r->doc);
    r->doc = acs__api_row_object(res, 0, 0, trace_cols, sizeof trace_cols / sizeof trace_cols[0]);
    if (!r->doc) r->pg_status = ACS_ENOMEM;
  }
  acs__api_stmt_done(r);
}

/* --- POST /api/v1/devices/{id}/trace */

/* $1 device, $2 minutes, $3 persist, $4 max_bytes, $5 caller, $6 token id.
 * No row: the bounds of all traces together would be passed. */
static const char sql_start[] =
    "WITH tot AS (SELECT coalesce(sum(max_bytes), 0) AS used, count(*) AS n FROM device_traces "
    "WHERE device_id <> $1), "
    "ok AS (SELECT 1 FROM tot WHERE used + $4::int <= " STR(ACS_TRACE_TOTAL_MAX) " AND n < "
    STR(ACS_TRACE_DEVICES_MAX) "), "
    "t AS (INSERT INTO device_traces AS t (device_id, until, persist, max_bytes, created_by) "
    "SELECT $1, now() + $2::int * interval '1 minute', $3::boolean, $4::int, $5 FROM ok "
    "ON CONFLICT (device_id) DO UPDATE SET until = excluded.until, persist = excluded.persist, "
    "max_bytes = excluded.max_bytes, created_by = excluded.created_by, created_at = now(), "
    "query = NULL RETURNING *), "
    "a AS (INSERT INTO audit_log (actor, action, target, detail) SELECT $5, 'trace.start', "
    "t.device_id, jsonb_build_object('minutes', $2::int, 'persist', t.persist, 'max_bytes', "
    "t.max_bytes, 'token_id', $6::bigint) FROM t) "
    "SELECT " TRACE_COLS " FROM t";

static void start_done(acs__api_req *r) {
  if (r->pg_status == ACS_EPG && strcmp(r->pg_sqlstate, "23503") == 0) {
    acs__api_error(r, 404, "no device '%s'", r->device_id);
  } else if (r->pg_status) {
    acs__api_fail_store(r);
  } else if (!r->found) {
    acs__api_error(r, 409,
                   "too many traces: all of them together may hold %d devices and %d MiB "
                   "(max_bytes each): stop one (DELETE .../trace) or ask for fewer bytes",
                   ACS_TRACE_DEVICES_MAX, ACS_TRACE_TOTAL_MAX >> 20);
  } else {
    json_t *doc = r->doc;
    r->doc = NULL;
    acs__api_respond(r, 201, doc, NULL);
  }
}

void acs__api_trace_start(acs__api_req *r) {
  static const char *const keys[] = {"minutes", "persist", "max_bytes", NULL};
  char minutes[16], max_bytes[16], tid[24];
  const char *persist;
  if (!acs__api_json_body(r, keys) || !parse_settings(r, minutes, &persist, max_bytes)) return;
  acs__api_token_id(r, tid);
  const char *p[6] = {r->device_id, minutes, persist, max_bytes, r->token_name, tid};
  acs__api_step(r, start_done);
  if (acs__api_begin(r) == 0) {
    acs__api_query(r, sql_start, 6, p, one_cb);
    acs__api_sync(r);
  }
  acs__api_step_queued(r);
}

/* --- GET /api/v1/devices/{id}/trace */

static const char sql_one[] = "SELECT " TRACE_COLS " FROM device_traces t WHERE device_id = $1";
static const char sql_records[] =
    "SELECT id, to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), session, "
    "direction, head, body, truncated FROM trace_records WHERE device_id = $1 ORDER BY id";

static void records_cb(acs_pg_result *res, void *arg) {
  acs__api_req *r = arg;
  if (acs__api_stmt_ok(r, res)) {
    json_t *a = json_array();
    for (int i = 0; a && i < res->ntuples; i++)
      json_array_append_new(a, acs__api_row_object(res, i, 0, record_cols,
                                                   sizeof record_cols / sizeof record_cols[0]));
    json_decref(r->aux);
    r->aux = a;
    if (!a) r->pg_status = ACS_ENOMEM;
  }
  acs__api_stmt_done(r);
}

static void get_done(acs__api_req *r) {
  if (!r->pg_status && r->found && r->doc && r->aux) {
    json_object_set(r->doc, "items", r->aux); /* the records, oldest first */
  }
  acs__api_respond_found(r, "no trace of device '%s'", r->device_id);
}

void acs__api_trace_get(acs__api_req *r) {
  const char *p[1] = {r->device_id};
  acs__api_step(r, get_done);
  if (acs__api_begin(r) == 0) {
    if (acs__api_query(r, sql_one, 1, p, one_cb) == 0) acs__api_query(r, sql_records, 1, p, records_cb);
    acs__api_sync(r);
  }
  acs__api_step_queued(r);
}

/* --- DELETE /api/v1/devices/{id}/trace */

static const char sql_stop[] =
    "WITH d AS (DELETE FROM device_traces WHERE device_id = $1 RETURNING device_id, "
    "(SELECT count(*) FROM trace_records x WHERE x.device_id = $1) AS records), "
    "a AS (INSERT INTO audit_log (actor, action, target, detail) SELECT $2, 'trace.stop', "
    "d.device_id, jsonb_build_object('records', d.records, 'token_id', $3::bigint) FROM d) "
    "SELECT count(*) FROM d";

static void stop_cb(acs_pg_result *res, void *arg) {
  acs__api_req *r = arg;
  if (acs__api_stmt_ok(r, res) && res->ntuples == 1)
    r->found = strcmp(acs_pg_getvalue(res, 0, 0), "0") != 0;
  acs__api_stmt_done(r);
}

static void stop_done(acs__api_req *r) {
  acs__api_respond_gone(r, "no trace of device '%s'", r->device_id);
}

void acs__api_trace_stop(acs__api_req *r) {
  const char *p[1] = {r->device_id};
  acs__api_audited(r, stop_done, sql_stop, 1, p, stop_cb);
}

/* --- POST /api/v1/traces: every device a query matches (at most
 * ACS_TRACE_DEVICES_MAX with the traces already on) */

static void many_cb(acs_pg_result *res, void *arg) {
  acs__api_req *r = arg;
  if (acs__api_stmt_ok(r, res) && res->ntuples == 1) {
    r->found = acs_pg_getvalue(res, 0, 2)[0] == 't';
    json_decref(r->doc);
    r->doc = json_pack("{s:I, s:I}", "matched", (json_int_t)strtoll(acs_pg_getvalue(res, 0, 0), NULL, 10),
                       "traced", (json_int_t)strtoll(acs_pg_getvalue(res, 0, 1), NULL, 10));
    if (!r->doc) r->pg_status = ACS_ENOMEM;
  }
  acs__api_stmt_done(r);
}

static void many_done(acs__api_req *r) {
  if (r->pg_status) {
    acs__api_fail_store(r);
  } else if (!r->found) {
    acs__api_error(r, 409,
                   "the query matches %lld devices: with the traces already on, all of them "
                   "together may hold %d devices and %d MiB (max_bytes each)",
                   (long long)json_integer_value(json_object_get(r->doc, "matched")),
                   ACS_TRACE_DEVICES_MAX, ACS_TRACE_TOTAL_MAX >> 20);
  } else {
    json_t *doc = r->doc;
    r->doc = NULL;
    acs__api_respond(r, 201, doc, NULL);
  }
}

void acs__api_traces_start(acs__api_req *r) {
  static const char *const keys[] = {"query", "minutes", "persist", "max_bytes", NULL};
  char minutes[16], max_bytes[16], tid[24], err[400];
  const char *persist;
  acs_arena arena;
  acs_arena_init(&arena, 0);
  acs__sql s;
  acs__sql_init(&s);
  bool queued = false;
  if (!acs__api_json_body(r, keys)) goto out;
  json_t *jq = json_object_get(r->body, "query");
  const char *q = json_string_value(jq);
  if (!q || !q[0]) {
    acs__api_error(r, 400, "query: expected a device query (docs/api.md)");
    goto out;
  }
  acs__q_node *tree = NULL;
  int rc = acs__q_parse(q, json_string_length(jq), &arena, &tree, err, sizeof err);
  if (rc) {
    acs__api_error(r, rc == ACS_ENOMEM ? 500 : 400, "query: %s", rc == ACS_ENOMEM ? "out of memory" : err);
    goto out;
  }
  if (!parse_settings(r, minutes, &persist, max_bytes)) goto out;
  acs__api_token_id(r, tid);
  acs_buf *t = &s.text;
  acs_buf_puts(t, "WITH m AS (SELECT d.id FROM devices d WHERE ");
  acs__q_to_sql(tree, &s);
  acs_buf_puts(t, " ORDER BY d.id LIMIT " STR(ACS_TRACE_DEVICES_MAX) " + 1), "
                  "c AS (SELECT count(*) AS n FROM m), "
                  "tot AS (SELECT coalesce(sum(max_bytes), 0) AS used, count(*) AS k FROM "
                  "device_traces WHERE device_id NOT IN (SELECT id FROM m)), "
                  "ok AS (SELECT 1 FROM c, tot WHERE tot.k + c.n <= " STR(ACS_TRACE_DEVICES_MAX)
                  " AND tot.used + c.n * ");
  int mb = s.n + 1;
  acs__sql_param(&s, max_bytes, strlen(max_bytes));
  acs_buf_puts(t, "::bigint <= " STR(ACS_TRACE_TOTAL_MAX) "), "
                  "t AS (INSERT INTO device_traces AS t (device_id, until, persist, max_bytes, "
                  "created_by, query) SELECT m.id, now() + ");
  acs__sql_param(&s, minutes, strlen(minutes));
  acs_buf_puts(t, "::int * interval '1 minute', ");
  acs__sql_param(&s, persist, strlen(persist));
  acs_buf_printf(t, "::boolean, $%d::int, ", mb);
  int by = s.n + 1;
  acs__sql_param(&s, r->token_name, strlen(r->token_name));
  acs_buf_puts(t, ", ");
  int qp = s.n + 1;
  acs__sql_param(&s, q, strlen(q));
  acs_buf_printf(t,
                 " FROM m, ok ORDER BY m.id ON CONFLICT (device_id) DO UPDATE SET until = "
                 "excluded.until, persist = excluded.persist, max_bytes = excluded.max_bytes, "
                 "created_by = excluded.created_by, created_at = now(), query = excluded.query "
                 "RETURNING device_id), "
                 "a AS (INSERT INTO audit_log (actor, action, target, detail) SELECT $%d, "
                 "'trace.start', 'query', jsonb_build_object('query', $%d::text, 'devices', "
                 "(SELECT count(*) FROM t), 'persist', $%d::boolean, 'max_bytes', $%d::int, "
                 "'token_id', ",
                 by, qp, by - 1, mb);
  acs__sql_param(&s, tid, strlen(tid));
  acs_buf_puts(t, "::bigint) FROM ok) "
                  "SELECT (SELECT n FROM c), (SELECT count(*) FROM t), EXISTS (SELECT 1 FROM ok)");
  if (acs__sql_err(&s)) {
    acs__api_error(r, 500, "out of memory");
    goto out;
  }
  if (acs__q_costly(tree)) r->stmt_timeout_ms = ACS__Q_COSTLY_TIMEOUT_MS;
  acs__api_step(r, many_done);
  if (acs__api_begin(r) == 0) {
    acs__api_query(r, s.text.data, s.n, (const char *const *)s.params, many_cb);
    acs__api_sync(r);
  }
  queued = true;
out:
  acs_arena_free(&arena);
  acs__sql_free(&s);
  if (queued) acs__api_step_queued(r);
}
