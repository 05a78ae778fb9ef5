/* devices.c: GET /api/v1/devices/{id} (the device with its parameters),
 * DELETE /api/v1/devices/{id} (admin) and POST /api/v1/devices/{id}/tags,
 * each change with its audit row in the same statement. The list is in
 * device_list.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_internal.h"
#include "core/acs_err.h"

const acs__col acs__api_device_cols[ACS__N_DEVICE_COLS] = {
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

/* --- GET /api/v1/devices/{id} */

static const char sql_device[] = "SELECT " ACS__DEVICE_COLS " FROM devices WHERE id = $1";
static const char sql_params[] =
    "SELECT name, value, xsd_type, writable, is_object, notification, "
    "to_json(access_list)::text, " ACS__SQL_TIME("value_at") " FROM parameters "
    "WHERE device_id = $1 ORDER BY name";

static const acs__col param_cols[] = {
    {"value", ACS__COL_STR},    {"type", ACS__COL_STR},         {"writable", ACS__COL_BOOL},
    {"object", ACS__COL_BOOL},  {"notification", ACS__COL_INT}, {"access_list", ACS__COL_JSON},
    {"value_at", ACS__COL_STR},
};

static json_t *device_row(const acs_pg_result *res, int i) {
  return acs__api_row_object(res, i, 0, acs__api_device_cols, ACS__N_DEVICE_COLS);
}

static void device_cb(acs_pg_result *res, void *arg) { acs__api_keep_row(arg, res, device_row); }

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
      const char *name = acs_pg_getvalue(res, i, 0);
      size_t n = (size_t)acs_pg_getlength(res, i, 0);
      json_t *o =
          acs__api_row_object(res, i, 1, param_cols, sizeof param_cols / sizeof *param_cols);
      if (o && acs__api_param_render(o, name, n)) {
        json_decref(o);
        o = NULL;
      }
      if (!o || set_key(r->aux, name, n, o)) {
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

/* --- DELETE /api/v1/devices/{id}: the device, its parameters (no foreign
 * key: docs/storage.md), and by cascade its tasks, faults and secrets;
 * events stay (history outlives devices). */

static const char sql_delete[] =
    "WITH d AS (DELETE FROM devices WHERE id = $1 RETURNING id, oui, product_class, "
    "serial_number, manufacturer, hardware_version, software_version, tags, created_at, "
    "last_inform), "
    "p AS (DELETE FROM parameters WHERE device_id = $1 AND EXISTS (SELECT 1 FROM d) "
    "RETURNING 1), "
    "a AS (INSERT INTO audit_log (actor, action, target, detail) SELECT $2, 'device.delete', "
    "d.id, jsonb_build_object('before', to_jsonb(d), 'parameters', (SELECT count(*) FROM p), "
    "'token_id', $3::bigint) FROM d) "
    "SELECT count(*) FROM d";

static void delete_cb(acs_pg_result *res, void *arg) {
  acs__api_req *r = arg;
  if (acs__api_stmt_ok(r, res) && res->ntuples == 1)
    r->found = strcmp(acs_pg_getvalue(res, 0, 0), "0") != 0;
  acs__api_stmt_done(r);
}

static void delete_done(acs__api_req *r) {
  acs__api_respond_gone(r, "no device '%s'", r->device_id);
}

void acs__api_device_delete(acs__api_req *r) {
  const char *p[1] = {r->device_id};
  acs__api_audited(r, delete_done, sql_delete, 1, p, delete_cb);
}

/* --- POST /api/v1/devices/{id}/tags {"add": [...], "remove": [...]}:
 * existing tags keep their order, added ones follow; removing wins over
 * adding. Nothing changes (and nothing is audited) when the tags stay. */

#define MAX_TAGS 64
#define MAX_TAG_BYTES 128

static const char sql_tags[] =
    "WITH old AS (SELECT id, tags FROM devices WHERE id = $1 FOR UPDATE), "
    "calc AS (SELECT id, tags AS before, ARRAY(SELECT t FROM unnest(old.tags || $2::text[]) "
    "WITH ORDINALITY u(t, o) WHERE t <> ALL ($3::text[]) GROUP BY t ORDER BY min(o)) AS after "
    "FROM old), "
    "upd AS (UPDATE devices d SET tags = calc.after FROM calc WHERE d.id = calc.id AND "
    "calc.after IS DISTINCT FROM calc.before RETURNING d.id), "
    "a AS (INSERT INTO audit_log (actor, action, target, detail) SELECT $4, 'device.tags', "
    "calc.id, jsonb_build_object('before', to_jsonb(calc.before), 'after', to_jsonb(calc.after), "
    "'add', to_jsonb($2::text[]), 'remove', to_jsonb($3::text[]), 'token_id', $5::bigint) "
    "FROM calc JOIN upd USING (id)) "
    "SELECT count(*) FROM calc";

static void tags_cb(acs_pg_result *res, void *arg) {
  acs__api_req *r = arg;
  if (acs__api_stmt_ok(r, res) && res->ntuples == 1)
    r->found = strcmp(acs_pg_getvalue(res, 0, 0), "0") != 0;
  acs__api_stmt_done(r);
}

static void tags_done(acs__api_req *r) {
  if (r->pg_status) {
    acs__api_fail_store(r);
  } else if (!r->found || !r->doc) {
    acs__api_error(r, 404, "no device '%s'", r->device_id);
  } else {
    json_t *doc = r->doc;
    r->doc = NULL;
    acs__api_respond(r, 200, doc, NULL);
  }
}

static bool tag_list(acs__api_req *r, const char *key, acs_buf *out) {
  return acs__api_tag_list(r, json_object_get(r->body, key), key, out);
}

bool acs__api_tag_list(acs__api_req *r, json_t *a, const char *key, acs_buf *out) {
  const char *items[MAX_TAGS];
  size_t n = 0;
  if (a && !json_is_array(a)) {
    acs__api_error(r, 400, "%s: expected an array of tags", key);
    return false;
  }
  if (json_array_size(a) > MAX_TAGS) {
    acs__api_error(r, 400, "%s: at most %d tags", key, MAX_TAGS);
    return false;
  }
  for (size_t i = 0; i < json_array_size(a); i++) {
    json_t *t = json_array_get(a, i);
    const char *s = json_string_value(t);
    size_t len = json_string_length(t);
    bool ok = s && len > 0 && len <= MAX_TAG_BYTES && memchr(s, '\0', len) == NULL;
    for (size_t k = 0; ok && k < len; k++) ok = (unsigned char)s[k] >= 0x20 && s[k] != 0x7f;
    if (!ok) {
      acs__api_error(r, 400,
                     "%s[%zu]: a tag is a string of 1..%d bytes without control "
                     "characters",
                     key, i, MAX_TAG_BYTES);
      return false;
    }
    items[n++] = s;
  }
  acs_pg_array_append(out, items, n);
  if (acs_buf_err(out)) {
    acs__api_error(r, 500, "out of memory");
    return false;
  }
  return true;
}

void acs__api_device_tags(acs__api_req *r) {
  static const char *const keys[] = {"add", "remove", NULL};
  if (!acs__api_json_body(r, keys)) return;
  acs_buf add = ACS_BUF_INIT, rem = ACS_BUF_INIT;
  if (!tag_list(r, "add", &add) || !tag_list(r, "remove", &rem)) {
    acs_buf_free(&add);
    acs_buf_free(&rem);
    return;
  }
  char tid[24];
  acs__api_token_id(r, tid);
  const char *p[5] = {r->device_id, add.data, rem.data, r->token_name, tid};
  const char *pd[1] = {r->device_id};
  acs__api_step(r, tags_done);
  if (acs__api_begin(r) == 0) {
    if (acs__api_query(r, sql_tags, 5, p, tags_cb) == 0)
      acs__api_query(r, sql_device, 1, pd, device_cb);
    acs__api_sync(r);
  }
  acs_buf_free(&add);
  acs_buf_free(&rem);
  acs__api_step_queued(r);
}
