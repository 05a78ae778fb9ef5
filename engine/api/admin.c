/* admin.c: tokens and the audit log through the API (role admin).
 * POST /api/v1/tokens makes a token and shows it once (only its sha256 is
 * kept, as with `acsd token create`); GET lists tokens, never a secret;
 * DELETE /api/v1/tokens/{id} revokes (effective within the cache TTL on
 * other workers). GET /api/v1/audit lists the audit log, newest first. */
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_internal.h"
#include "api/query.h"
#include "core/acs_err.h"

#define MAX_NAME_BYTES 128

/* clang-format off */
#define TOKEN_COLS                                                                 \
  "id, name, role, " ACS__SQL_TIME("created_at") ", " ACS__SQL_TIME("last_used_at") \
  ", " ACS__SQL_TIME("revoked_at")
/* clang-format on */

static const acs__col token_cols[] = {
    {"id", ACS__COL_INT},         {"name", ACS__COL_STR},         {"role", ACS__COL_STR},
    {"created_at", ACS__COL_STR}, {"last_used_at", ACS__COL_STR}, {"revoked_at", ACS__COL_STR},
};
#define N_TOKEN_COLS (sizeof token_cols / sizeof token_cols[0])

static json_t *token_row(const acs_pg_result *res, int i) {
  return acs__api_row_object(res, i, 0, token_cols, N_TOKEN_COLS);
}

static void token_page_cb(acs_pg_result *res, void *arg) {
  acs__api_req *r = arg;
  if (acs__api_stmt_ok(r, res)) acs__api_page(r, res, token_row, 'k', 0);
  acs__api_stmt_done(r);
}

/* --- GET /api/v1/tokens: by id */

static const char sql_tokens_first[] = "SELECT " TOKEN_COLS " FROM api_tokens ORDER BY id LIMIT $1";
static const char sql_tokens_after[] =
    "SELECT " TOKEN_COLS " FROM api_tokens WHERE id > $1::bigint ORDER BY id LIMIT $2";
static const char sql_tokens_count[] = "SELECT count(*) FROM api_tokens";

void acs__api_tokens_list(acs__api_req *r) {
  if (!acs__api_list_params(r, 'k') || !acs__api_cursor_is_id(r)) return;
  char lim[16];
  snprintf(lim, sizeof lim, "%d", r->limit + 1);
  acs__api_step(r, acs__api_list_done);
  if (acs__api_begin(r) == 0) {
    if (r->cursor) {
      const char *p[2] = {r->cursor, lim};
      acs__api_query(r, sql_tokens_after, 2, p, token_page_cb);
    } else {
      const char *p[1] = {lim};
      acs__api_query(r, sql_tokens_first, 1, p, token_page_cb);
    }
    acs__api_query(r, sql_tokens_count, 0, NULL, acs__api_count_cb);
    acs__api_sync(r);
  }
  acs__api_step_queued(r);
}

/* --- POST /api/v1/tokens {"role": ..., "name": ...} */

static const char sql_create[] =
    "WITH n AS (SELECT nextval(pg_get_serial_sequence('api_tokens', 'id')) AS id), "
    "t AS (INSERT INTO api_tokens (id, name, role, token_hash) "
    "SELECT n.id, coalesce($1, $2 || '-token-' || n.id), $2, decode($3, 'hex') FROM n "
    "RETURNING *), "
    "a AS (INSERT INTO audit_log (actor, action, target, detail) "
    "SELECT $4, 'token.create', t.id::text, jsonb_build_object('name', t.name, 'role', t.role, "
    "'token_id', $5::bigint) FROM t) "
    "SELECT " TOKEN_COLS " FROM t";

static void create_cb(acs_pg_result *res, void *arg) {
  acs__api_req *r = arg;
  if (acs__api_stmt_ok(r, res) && res->ntuples == 1) {
    r->found = true;
    json_t *o = token_row(res, 0);
    if (!o || json_object_set_new(o, "token", json_string(r->state))) {
      json_decref(o);
      r->pg_status = ACS_ENOMEM;
    } else {
      r->doc = o;
    }
  }
  acs__api_stmt_done(r);
}

static void create_done(acs__api_req *r) {
  if (r->state) OPENSSL_cleanse(r->state, strlen(r->state));
  if (r->pg_status) {
    acs__api_fail_store(r);
  } else if (!r->doc) {
    acs__api_error(r, 500, "the token was not created");
  } else {
    json_t *doc = r->doc;
    r->doc = NULL;
    acs__api_respond(r, 201, doc, NULL);
  }
}

static bool valid_name(const char *s, size_t n) {
  if (n == 0 || n > MAX_NAME_BYTES || memchr(s, '\0', n)) return false;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c < 0x20 || c == 0x7f) return false;
  }
  return true;
}

void acs__api_token_create(acs__api_req *r) {
  static const char *const keys[] = {"role", "name", NULL};
  if (!acs__api_json_body(r, keys)) return;
  json_t *jrole = json_object_get(r->body, "role"), *jname = json_object_get(r->body, "name");
  const char *role = json_string_value(jrole);
  if (acs__api_role_parse(role) == ACS__ROLE_NONE) {
    acs__api_error(r, 400, "role: expected readonly, operator or admin");
    return;
  }
  if (jname && !json_is_null(jname) &&
      !(json_is_string(jname) && valid_name(json_string_value(jname), json_string_length(jname)))) {
    acs__api_error(r, 400, "name: expected 1..%d bytes without control characters", MAX_NAME_BYTES);
    return;
  }
  acs_buf tok = ACS_BUF_INIT;
  char hex[65];
  int rc = acs__api_token_new(&tok, hex);
  r->state = rc ? NULL : acs_buf_steal(&tok, NULL);
  acs_buf_free(&tok);
  if (!r->state) {
    acs__api_error(r, 500, "no token made (%s)", rc ? acs_strerror(rc) : "out of memory");
    return;
  }
  const char *p[3] = {json_string_value(jname), role, hex};
  acs__api_audited(r, create_done, sql_create, 3, p, create_cb);
}

/* --- DELETE /api/v1/tokens/{id}: revoke (again: nothing changes) */

static const char sql_revoke[] =
    "WITH t AS (UPDATE api_tokens SET revoked_at = now() WHERE id = $1::bigint AND "
    "revoked_at IS NULL RETURNING id, name, role, revoked_at), "
    "a AS (INSERT INTO audit_log (actor, action, target, detail) "
    "SELECT $2, 'token.revoke', t.id::text, jsonb_build_object('name', t.name, 'role', t.role, "
    "'before', jsonb_build_object('revoked_at', NULL), 'after', jsonb_build_object("
    "'revoked_at', t.revoked_at), 'token_id', $3::bigint) FROM t) "
    "SELECT count(*) FROM t";
static const char sql_token[] = "SELECT " TOKEN_COLS " FROM api_tokens WHERE id = $1::bigint";

static void token_cb(acs_pg_result *res, void *arg) { acs__api_keep_row(arg, res, token_row); }

static void revoke_done(acs__api_req *r) { acs__api_respond_found(r, "no token %s", r->task_id); }

void acs__api_token_revoke(acs__api_req *r) {
  char tid[24];
  acs__api_token_id(r, tid);
  const char *p[3] = {r->task_id, r->token_name, tid};
  acs__api_step(r, revoke_done);
  if (acs__api_begin(r) == 0) {
    if (acs__api_query(r, sql_revoke, 3, p, acs__api_ignore_cb) == 0)
      acs__api_query(r, sql_token, 1, p, token_cb);
    acs__api_sync(r);
  }
  acs__api_step_queued(r);
}

/* --- GET /api/v1/audit?actor=&action=&target=&since=&until= */

static const acs__col audit_cols[] = {
    {"id", ACS__COL_INT},     {"at", ACS__COL_STR},     {"actor", ACS__COL_STR},
    {"action", ACS__COL_STR}, {"target", ACS__COL_STR}, {"detail", ACS__COL_JSON},
};

static json_t *audit_row(const acs_pg_result *res, int i) {
  return acs__api_row_object(res, i, 0, audit_cols, sizeof audit_cols / sizeof *audit_cols);
}

static void audit_page_cb(acs_pg_result *res, void *arg) {
  acs__api_req *r = arg;
  if (acs__api_stmt_ok(r, res)) acs__api_page(r, res, audit_row, 'a', 0);
  acs__api_stmt_done(r);
}

void acs__api_audit_list(acs__api_req *r) {
  static const char *const eq[] = {"actor", "action", "target"};
  static const char *const times[] = {"since", "until"};
  char *v[5] = {NULL};
  acs__q_value tv[2];
  acs__sql page, count;
  acs__sql_init(&page);
  acs__sql_init(&count);
  bool queued = false;
  if (!acs__api_list_params(r, 'a') || !acs__api_cursor_is_id(r)) goto out;
  for (int i = 0; i < 5; i++) {
    if (!acs__api_query_param(r, i < 3 ? eq[i] : times[i - 3], &v[i])) goto out;
  }
  for (int i = 0; i < 2; i++) {
    if (v[3 + i] && !acs__q_time_parse(v[3 + i], strlen(v[3 + i]), &tv[i])) {
      acs__api_error(r, 400,
                     "%s: expected an RFC 3339 time (2026-12-01T08:00:00Z), a date "
                     "(2026-12-01) or a relative time (now-1h)",
                     times[i]);
      goto out;
    }
  }
  for (int k = 0; k < 2; k++) {
    acs__sql *s = k ? &count : &page;
    acs_buf_puts(&s->text,
                 k ? ACS__API_COUNT_CAPPED("audit_log")
                   : "SELECT id, " ACS__SQL_TIME(
                         "at") ", actor, action, target, detail::text FROM audit_log WHERE true");
    for (int i = 0; i < 3; i++) {
      if (!v[i]) continue;
      acs_buf_printf(&s->text, " AND %s = ", eq[i]);
      acs__sql_param(s, v[i], strlen(v[i]));
    }
    for (int i = 0; i < 2; i++) {
      if (!v[3 + i]) continue;
      acs_buf_puts(&s->text, i ? " AND at < " : " AND at >= ");
      acs__q_time_sql(s, &tv[i]);
    }
    if (k) {
      acs_buf_puts(&s->text, ACS__API_COUNT_CAPPED_END);
      continue;
    }
    acs__api_sql_id_cursor(r, s, "id");
    acs__api_sql_limit(r, s, "id DESC");
  }
  queued = acs__api_send_list(r, &page, &count, audit_page_cb);
out:
  for (int i = 0; i < 5; i++) free(v[i]);
  acs__sql_free(&page);
  acs__sql_free(&count);
  if (queued) acs__api_step_queued(r);
}
