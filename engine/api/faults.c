/* faults.c: GET /api/v1/faults?device=&channel= (the faults table in key
 * order), DELETE /api/v1/faults/{device}/{channel} and POST
 * /api/v1/faults/{device}/{channel}/retry (operator; the change and its
 * audit record in one statement). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_internal.h"
#include "api/query.h"
#include "core/acs_err.h"

/* clang-format off */
#define FAULT_COLS                                                                 \
  "device_id, channel, code, message, detail::text, retries, "                     \
  ACS__SQL_TIME("first_at") ", " ACS__SQL_TIME("last_at") ", "                   \
  ACS__SQL_TIME("next_retry_at")
/* clang-format on */

static const acs__col fault_cols[] = {
    {"device_id", ACS__COL_STR}, {"channel", ACS__COL_STR}, {"code", ACS__COL_STR},
    {"message", ACS__COL_STR},   {"detail", ACS__COL_JSON}, {"retries", ACS__COL_INT},
    {"first_at", ACS__COL_STR},  {"last_at", ACS__COL_STR}, {"next_retry_at", ACS__COL_STR},
};
#define N_FAULT_COLS (sizeof fault_cols / sizeof *fault_cols)

static json_t *fault_row(const acs_pg_result *res, int i) {
  return acs__api_row_object(res, i, 0, fault_cols, N_FAULT_COLS);
}

/* The cursor key: ["device", "channel"] as JSON text. */
static char *fault_cursor(const acs_pg_result *res, int row) {
  json_t *k = json_array();
  if (k) {
    json_array_append_new(
        k, acs__api_string(acs_pg_getvalue(res, row, 0), (size_t)acs_pg_getlength(res, row, 0)));
    json_array_append_new(
        k, acs__api_string(acs_pg_getvalue(res, row, 1), (size_t)acs_pg_getlength(res, row, 1)));
  }
  char *text = k ? json_dumps(k, JSON_COMPACT) : NULL;
  json_decref(k);
  char *c = text ? acs__api_cursor_encode('f', text) : NULL;
  free(text);
  return c;
}

static void page_cb(acs_pg_result *res, void *arg) {
  acs__api_req *r = arg;
  if (acs__api_stmt_ok(r, res)) {
    int n = res->ntuples < r->limit ? res->ntuples : r->limit;
    r->doc = json_array();
    for (int i = 0; r->doc && i < n; i++) {
      json_t *o = fault_row(res, i);
      if (!o || json_array_append_new(r->doc, o)) {
        json_decref(r->doc);
        r->doc = NULL;
      }
    }
    if (r->doc && res->ntuples > r->limit && !(r->next_cursor = fault_cursor(res, n - 1))) {
      json_decref(r->doc);
      r->doc = NULL;
    }
    if (!r->doc) r->pg_status = ACS_ENOMEM;
  }
  acs__api_stmt_done(r);
}

void acs__api_faults_list(acs__api_req *r) {
  char *dev = NULL, *chan = NULL;
  json_t *ck = NULL;
  acs__sql page, count;
  acs__sql_init(&page);
  acs__sql_init(&count);
  bool queued = false;
  if (!acs__api_list_params(r, 'f') || !acs__api_query_param(r, "device", &dev) ||
      !acs__api_query_param(r, "channel", &chan))
    goto out;
  if (r->cursor) {
    ck = json_loads(r->cursor, 0, NULL);
    if (!json_is_array(ck) || json_array_size(ck) != 2 || !json_is_string(json_array_get(ck, 0)) ||
        !json_is_string(json_array_get(ck, 1))) {
      acs__api_error(r, 400, "cursor: invalid (use next_cursor of a previous page)");
      goto out;
    }
  }
  for (int k = 0; k < 2; k++) {
    acs__sql *s = k ? &count : &page;
    acs_buf_puts(&s->text, k ? "SELECT count(*) FROM faults WHERE true"
                             : "SELECT " FAULT_COLS " FROM faults WHERE true");
    if (dev) {
      acs_buf_puts(&s->text, " AND device_id = ");
      acs__sql_param(s, dev, strlen(dev));
    }
    if (chan) {
      acs_buf_puts(&s->text, " AND channel = ");
      acs__sql_param(s, chan, strlen(chan));
    }
    if (k) continue;
    if (ck) {
      const char *d = json_string_value(json_array_get(ck, 0));
      const char *c = json_string_value(json_array_get(ck, 1));
      acs__api_sql_pair(s, " AND (device_id, channel) > (", d, "", c, "");
    }
    acs__api_sql_limit(r, s, "device_id, channel");
  }
  queued = acs__api_send_list(r, &page, &count, page_cb);
out:
  free(dev);
  free(chan);
  json_decref(ck);
  acs__sql_free(&page);
  acs__sql_free(&count);
  if (queued) acs__api_step_queued(r);
}

/* --- DELETE /api/v1/faults/{device}/{channel} */

static const char sql_delete[] =
    "WITH f AS (DELETE FROM faults WHERE device_id = $1 AND channel = $2 RETURNING *), "
    "a AS (INSERT INTO audit_log (actor, action, target, detail) SELECT $3, 'fault.delete', "
    "f.device_id, jsonb_build_object('channel', f.channel, 'before', to_jsonb(f), 'token_id', "
    "$4::bigint) FROM f) "
    "SELECT count(*) FROM f";

static void delete_cb(acs_pg_result *res, void *arg) {
  acs__api_req *r = arg;
  if (acs__api_stmt_ok(r, res) && res->ntuples == 1)
    r->found = strcmp(acs_pg_getvalue(res, 0, 0), "0") != 0;
  acs__api_stmt_done(r);
}

static void delete_done(acs__api_req *r) {
  acs__api_respond_gone(r, "no fault '%s' of device '%s'", r->channel, r->device_id);
}

void acs__api_fault_delete(acs__api_req *r) {
  const char *p[2] = {r->device_id, r->channel};
  acs__api_audited(r, delete_done, sql_delete, 2, p, delete_cb);
}

/* --- POST /api/v1/faults/{device}/{channel}/retry: next_retry_at = now()
 * (schema version 9), so the channel runs in the device's next session
 * whatever its back-off says; the fault itself (and its retries count)
 * stays until the channel succeeds. */

static const char sql_retry[] =
    "WITH f AS (UPDATE faults SET next_retry_at = now() WHERE device_id = $1 AND channel = $2 "
    "RETURNING *), "
    "a AS (INSERT INTO audit_log (actor, action, target, detail) SELECT $3, 'fault.retry', "
    "f.device_id, jsonb_build_object('channel', f.channel, 'code', f.code, 'retries', f.retries, "
    "'token_id', $4::bigint) FROM f) "
    "SELECT " FAULT_COLS " FROM f";

static void retry_cb(acs_pg_result *res, void *arg) { acs__api_keep_row(arg, res, fault_row); }

static void retry_done(acs__api_req *r) {
  acs__api_respond_found(r, "no fault '%s' of device '%s'", r->channel, r->device_id);
}

void acs__api_fault_retry(acs__api_req *r) {
  const char *p[2] = {r->device_id, r->channel};
  acs__api_audited(r, retry_done, sql_retry, 2, p, retry_cb);
}
