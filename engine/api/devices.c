/* devices.c: GET /api/v1/devices (keyset pages by id) and
 * GET /api/v1/devices/{id} (the device with its parameters). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_internal.h"
#include "core/acs_err.h"

/* clang-format off */
#define DEVICE_COLS                                                               \
  "id, oui, product_class, serial_number, manufacturer, hardware_version, "       \
  "software_version, " ACS__SQL_TIME("created_at") ", "                           \
  ACS__SQL_TIME("last_inform") ", " ACS__SQL_TIME("last_boot") ", "               \
  ACS__SQL_TIME("last_bootstrap") ", host(source_ip), connection_request_url, "   \
  "cwmp_version, to_json(tags)::text, data_stale"
/* clang-format on */

static const acs__col device_cols[] = {
    {"id", ACS__COL_STR},
    {"oui", ACS__COL_STR},
    {"product_class", ACS__COL_STR},
    {"serial_number", ACS__COL_STR},
    {"manufacturer", ACS__COL_STR},
    {"hardware_version", ACS__COL_STR},
    {"software_version", ACS__COL_STR},
    {"created_at", ACS__COL_STR},
    {"last_inform", ACS__COL_STR},
    {"last_boot", ACS__COL_STR},
    {"last_bootstrap", ACS__COL_STR},
    {"source_ip", ACS__COL_STR},
    {"connection_request_url", ACS__COL_STR},
    {"cwmp_version", ACS__COL_STR},
    {"tags", ACS__COL_JSON},
    {"data_stale", ACS__COL_BOOL},
};
#define N_DEVICE_COLS (sizeof device_cols / sizeof device_cols[0])

/* --- GET /api/v1/devices */

static const char sql_page_first[] = "SELECT " DEVICE_COLS " FROM devices ORDER BY id LIMIT $1";
static const char sql_page_after[] =
    "SELECT " DEVICE_COLS " FROM devices WHERE id > $1 ORDER BY id LIMIT $2";
/* Exact below the threshold; past it the planner's estimate (kept fresh by
 * autovacuum), so that a large fleet is never counted row by row. A table
 * never analysed has reltuples -1: counted. */
static const char sql_count[] =
    "SELECT CASE WHEN c.reltuples > " ACS__STR(ACS__API_EXACT_COUNT_MAX) " THEN "
    "c.reltuples::bigint ELSE (SELECT count(*) FROM devices) END, "
    "c.reltuples > " ACS__STR(ACS__API_EXACT_COUNT_MAX) " FROM pg_class c WHERE c.oid = "
    "'devices'::regclass";

static void page_cb(acs_pg_result *res, void *arg) {
  acs__api_req *r = arg;
  if (acs__api_stmt_ok(r, res)) {
    int n = res->ntuples < r->limit ? res->ntuples : r->limit;
    r->doc = json_array();
    for (int i = 0; r->doc && i < n; i++) {
      json_t *o = acs__api_row_object(res, i, 0, device_cols, N_DEVICE_COLS);
      if (!o || json_array_append_new(r->doc, o)) {
        json_decref(r->doc);
        r->doc = NULL;
      }
    }
    if (r->doc && res->ntuples > r->limit) {
      r->next_cursor = acs__api_cursor_encode('d', acs_pg_getvalue(res, n - 1, 0));
      if (!r->next_cursor) {
        json_decref(r->doc);
        r->doc = NULL;
      }
    }
    if (!r->doc) r->pg_status = ACS_ENOMEM;
  }
  acs__api_stmt_done(r);
}

static void count_cb(acs_pg_result *res, void *arg) {
  acs__api_req *r = arg;
  if (acs__api_stmt_ok(r, res) && res->ntuples == 1) {
    r->total = strtoll(acs_pg_getvalue(res, 0, 0), NULL, 10);
    r->total_estimated = acs_pg_getvalue(res, 0, 1)[0] == 't';
  }
  acs__api_stmt_done(r);
}

static void list_done(acs__api_req *r) {
  if (r->pg_status) {
    acs__api_fail_store(r);
    return;
  }
  acs__api_respond_list(r);
}

void acs__api_devices_list(acs__api_req *r) {
  if (!acs__api_list_params(r, 'd')) return;
  char lim[16];
  snprintf(lim, sizeof lim, "%d", r->limit + 1); /* one more: is there a next page? */
  acs__api_step(r, list_done);
  if (acs__api_begin(r) == 0) {
    if (r->cursor) {
      const char *p[2] = {r->cursor, lim};
      acs__api_query(r, sql_page_after, 2, p, page_cb);
    } else {
      const char *p[1] = {lim};
      acs__api_query(r, sql_page_first, 1, p, page_cb);
    }
    acs__api_query(r, sql_count, 0, NULL, count_cb);
    acs__api_sync(r);
  }
  acs__api_step_queued(r);
}

/* --- GET /api/v1/devices/{id} */

static const char sql_device[] = "SELECT " DEVICE_COLS " FROM devices WHERE id = $1";
static const char sql_params[] =
    "SELECT name, value, xsd_type, writable, is_object, notification, "
    "to_json(access_list)::text, " ACS__SQL_TIME("value_at") " FROM parameters "
    "WHERE device_id = $1 ORDER BY name";

static const acs__col param_cols[] = {
    {"value", ACS__COL_STR},    {"type", ACS__COL_STR},         {"writable", ACS__COL_BOOL},
    {"object", ACS__COL_BOOL},  {"notification", ACS__COL_INT}, {"access_list", ACS__COL_JSON},
    {"value_at", ACS__COL_STR},
};

static void device_cb(acs_pg_result *res, void *arg) {
  acs__api_req *r = arg;
  if (acs__api_stmt_ok(r, res) && res->ntuples == 1) {
    r->found = true;
    r->doc = acs__api_row_object(res, 0, 0, device_cols, N_DEVICE_COLS);
    if (!r->doc) r->pg_status = ACS_ENOMEM;
  }
  acs__api_stmt_done(r);
}

/* obj[key] = v (consumed), with invalid UTF-8 in key replaced. */
static int set_key(json_t *obj, const char *key, size_t n, json_t *v) {
  if (memchr(key, '\0', n) == NULL && json_object_setn_new(obj, key, n, json_incref(v)) == 0) {
    json_decref(v);
    return 0;
  }
  json_t *k = acs__api_string(key, n);
  int rc = k ? json_object_setn_new(obj, json_string_value(k), json_string_length(k), v) : -1;
  if (!k) json_decref(v);
  json_decref(k);
  return rc;
}

static void params_cb(acs_pg_result *res, void *arg) {
  acs__api_req *r = arg;
  if (acs__api_stmt_ok(r, res)) {
    r->aux = json_object();
    for (int i = 0; r->aux && i < res->ntuples; i++) {
      json_t *o =
          acs__api_row_object(res, i, 1, param_cols, sizeof param_cols / sizeof *param_cols);
      if (!o ||
          set_key(r->aux, acs_pg_getvalue(res, i, 0), (size_t)acs_pg_getlength(res, i, 0), o)) {
        json_decref(r->aux);
        r->aux = NULL;
      }
    }
    if (!r->aux) r->pg_status = ACS_ENOMEM;
  }
  acs__api_stmt_done(r);
}

static void device_done(acs__api_req *r) {
  if (r->pg_status) {
    acs__api_fail_store(r);
    return;
  }
  if (!r->found) {
    acs__api_error(r, 404, "no device '%s'", r->device_id);
    return;
  }
  json_t *doc = r->doc;
  r->doc = NULL;
  json_object_set_new(doc, "parameters", r->aux);
  r->aux = NULL;
  acs__api_respond(r, 200, doc, NULL);
}

void acs__api_device_get(acs__api_req *r) {
  const char *p[1] = {r->device_id};
  acs__api_step(r, device_done);
  if (acs__api_begin(r) == 0) {
    acs__api_query(r, sql_device, 1, p, device_cb);
    acs__api_query(r, sql_params, 1, p, params_cb);
    acs__api_sync(r);
  }
  acs__api_step_queued(r);
}
