/* respond.c: the API's answers (JSON bodies, error format, lists), its
 * statement bookkeeping, and JSON built from result columns. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/api_internal.h"
#include "api/query.h"
#include "core/acs_err.h"
#include "core/acs_log.h"

/* --- answers */

static void respond_raw(acs__api_req *r, int status, const char *body, size_t len,
                        const char *extra) {
  acs_buf h = ACS_BUF_INIT;
  acs_buf_puts(&h, "Cache-Control: no-store\r\n");
  if (extra) acs_buf_puts(&h, extra);
  acs_http_response resp = {
      .status = status,
      .content_type = body ? "application/json" : NULL,
      .body = body,
      .body_len = body ? len : 0,
      .keep_alive = r->req->keep_alive,
      .extra_headers = acs_buf_err(&h) ? NULL : h.data,
  };
  acs_conn_respond(r->c, &resp);
  acs_buf_free(&h);
  acs__api_req_free(r);
}

void acs__api_respond(acs__api_req *r, int status, json_t *doc, const char *extra) {
  if (!doc) {
    respond_raw(r, status, NULL, 0, extra);
    return;
  }
  char *text = json_dumps(doc, JSON_COMPACT);
  json_decref(doc);
  if (!text) {
    static const char oom[] = "{\"error\":\"out of memory\"}";
    respond_raw(r, 500, oom, sizeof oom - 1, NULL);
    return;
  }
  respond_raw(r, status, text, strlen(text), extra);
  free(text);
}

static void error_v(acs__api_req *r, int status, const char *fmt, va_list ap) {
  char msg[512];
  vsnprintf(msg, sizeof msg, fmt, ap);
  char extra[160] = "";
  if (status == 401) {
    bool had = acs_http_header_get(r->req, "Authorization") != NULL;
    snprintf(extra, sizeof extra, "WWW-Authenticate: Bearer realm=\"acsd\"%s\r\n",
             had ? ", error=\"invalid_token\"" : "");
  } else if (status == 405 && r->allow) {
    snprintf(extra, sizeof extra, "Allow: %s\r\n", r->allow);
  } else if (status == 503) {
    unsigned ra = r->app && r->app->cfg ? r->app->cfg->retry_after_s : 30;
    snprintf(extra, sizeof extra, "Retry-After: %u\r\n", ra ? ra : 1);
  }
  json_t *doc = json_object();
  if (doc) json_object_set_new(doc, "error", acs__api_string(msg, strlen(msg)));
  acs__api_respond(r, status, doc, extra);
}

void acs__api_error(acs__api_req *r, int status, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  error_v(r, status, fmt, ap);
  va_end(ap);
}

/* The answer of a step on one row: status 200 (with the row) or 204. */
static void found_v(acs__api_req *r, int status, const char *fmt, va_list ap) {
  if (r->pg_status) {
    acs__api_fail_store(r);
  } else if (!r->found) {
    error_v(r, 404, fmt, ap);
  } else if (status == 204) {
    acs__api_respond(r, 204, NULL, NULL);
  } else {
    json_t *doc = r->doc;
    r->doc = NULL;
    acs__api_respond(r, 200, doc, NULL);
  }
}

void acs__api_respond_found(acs__api_req *r, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  found_v(r, 200, fmt, ap);
  va_end(ap);
}

void acs__api_respond_gone(acs__api_req *r, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  found_v(r, 204, fmt, ap);
  va_end(ap);
}

void acs__api_fail_store(acs__api_req *r) {
  switch (r->pg_status) {
    case ACS_EUNAVAILABLE:
    case ACS_ECANCELED:
    case ACS_ESTATE:
      acs__api_error(r, 503, "store unavailable");
      return;
    case ACS_ENOMEM:
      acs__api_error(r, 500, "out of memory");
      return;
    default:
      if (!strcmp(r->pg_sqlstate, "2201B")) { /* invalid_regular_expression */
        acs__api_error(r, 400, "q: %s", r->pg_error ? r->pg_error : "invalid regular expression");
        return;
      }
      if (!strcmp(r->pg_sqlstate, "57014") && r->stmt_timeout_ms > 0) { /* query_canceled */
        acs__api_error(r, 400,
                       "q: the query took longer than %d ms (MATCHES and CONTAINS scan: "
                       "narrow it with an indexed comparison, or anchor the expression with ^)",
                       r->stmt_timeout_ms);
        return;
      }
      acs_log(ACS_LOG_ERR, "api", "%s %s: store: %s (%s%s%s)", r->req->method, r->req->path,
              r->pg_error ? r->pg_error : acs_strerror(r->pg_status), acs_errname(r->pg_status),
              r->pg_sqlstate[0] ? " " : "", r->pg_sqlstate);
      acs__api_error(r, 500, "database error");
  }
}

void acs__api_respond_list(acs__api_req *r) {
  json_t *doc = json_object();
  json_t *items = r->doc;
  r->doc = NULL;
  if (!doc || !items) {
    json_decref(doc);
    json_decref(items);
    acs__api_error(r, 500, "out of memory");
    return;
  }
  json_object_set_new(doc, "items", items);
  json_object_set_new(doc, "next_cursor",
                      r->next_cursor ? json_string(r->next_cursor) : json_null());
  char extra[128] = "";
  if (r->total >= 0) {
    snprintf(extra, sizeof extra, "X-Total-Count: %lld\r\n%s", r->total,
             r->total_estimated ? "X-Total-Count-Estimated: true\r\n" : "");
  }
  acs__api_respond(r, 200, doc, extra);
}

/* --- statements */

void acs__api_step(acs__api_req *r, acs__api_step_fn done) {
  r->pending = 0;
  r->found = false;
  r->done = done;
  r->pg_status = 0;
  r->pg_sqlstate[0] = '\0';
  free(r->pg_error);
  r->pg_error = NULL;
}

static void record_error(acs__api_req *r, int status, const char *msg, const char *sqlstate) {
  /* the first error wins, but a real one replaces the statements it aborted */
  bool secondary = status == ACS_EABORTED || status == ACS_ECANCELED;
  bool had_secondary = r->pg_status == ACS_EABORTED || r->pg_status == ACS_ECANCELED;
  if (r->pg_status && (!had_secondary || secondary)) return;
  r->pg_status = status;
  snprintf(r->pg_sqlstate, sizeof r->pg_sqlstate, "%s", sqlstate ? sqlstate : "");
  free(r->pg_error);
  r->pg_error = msg ? strdup(msg) : NULL;
}

static unsigned query_flags(acs_pg *pg) {
  /* Before the first connection (acsd just started), wait for it; once the
   * store has been up, an outage answers 503 at once. */
  acs_pg_stats st;
  acs_pg_get_stats(pg, &st);
  return st.connects ? ACS_PG_FAILFAST : 0;
}

int acs__api_query(acs__api_req *r, const char *sql, int n, const char *const *params,
                   acs_pg_cb cb) {
  int rc = acs_pg_query(r->aw->pg, sql, n, params, query_flags(r->aw->pg), cb, r);
  if (rc) {
    record_error(r, rc, NULL, NULL);
    return rc;
  }
  r->pending++;
  return 0;
}

int acs__api_begin(acs__api_req *r) {
  int rc = acs_pg_begin_batch(r->aw->pg, query_flags(r->aw->pg));
  if (rc) {
    record_error(r, rc, NULL, NULL);
    return rc;
  }
  if (r->stmt_timeout_ms > 0) {
    /* for this transaction only (the batch is one): PgBouncer-safe */
    char ms[16];
    snprintf(ms, sizeof ms, "%d", r->stmt_timeout_ms);
    const char *p[1] = {ms};
    acs__api_query(r, "SELECT set_config('statement_timeout', $1, true)", 1, p,
                   acs__api_ignore_cb);
  }
  return 0;
}

static void sync_cb(acs_pg_result *res, void *arg) {
  acs__api_req *r = arg;
  acs__api_stmt_ok(r, res);
  acs__api_stmt_done(r);
}

int acs__api_sync(acs__api_req *r) {
  int rc = r->pg_status;
  if (!rc) rc = acs_pg_sync(r->aw->pg, sync_cb, r);
  if (rc) {
    record_error(r, rc, NULL, NULL);
    if (acs_pg_in_batch(r->aw->pg)) acs_pg_abort_batch(r->aw->pg);
    return rc;
  }
  r->pending++;
  return 0;
}

void acs__api_step_queued(acs__api_req *r) {
  if (r->pending == 0) r->done(r);
}

bool acs__api_stmt_ok(acs__api_req *r, const acs_pg_result *res) {
  if (res->status == 0) return true;
  record_error(r, res->status, res->error, res->sqlstate);
  return false;
}

void acs__api_keep_row(acs__api_req *r, const acs_pg_result *res,
                       json_t *(*row)(const acs_pg_result *res, int i)) {
  if (acs__api_stmt_ok(r, res) && res->ntuples == 1) {
    r->found = true;
    json_decref(r->doc);
    if (!(r->doc = row(res, 0))) r->pg_status = ACS_ENOMEM;
  }
  acs__api_stmt_done(r);
}

void acs__api_stmt_done(acs__api_req *r) {
  if (acs_fails_assert(r->pending > 0)) return;
  if (--r->pending == 0) r->done(r);
}

/* --- JSON from columns */

/* Length of the valid UTF-8 sequence at s (n bytes left), or 0. */
static size_t utf8_seq(const unsigned char *s, size_t n) {
  unsigned char c = s[0];
  size_t len;
  uint32_t cp;
  if (c < 0x80) return 1;
  if (c >= 0xc2 && c <= 0xdf) {
    len = 2;
    cp = c & 0x1f;
  } else if (c >= 0xe0 && c <= 0xef) {
    len = 3;
    cp = c & 0x0f;
  } else if (c >= 0xf0 && c <= 0xf4) {
    len = 4;
    cp = c & 0x07;
  } else {
    return 0;
  }
  if (n < len) return 0;
  for (size_t i = 1; i < len; i++) {
    if ((s[i] & 0xc0) != 0x80) return 0;
    cp = cp << 6 | (s[i] & 0x3f);
  }
  if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
      (cp >= 0xd800 && cp <= 0xdfff))
    return 0;
  return len;
}

json_t *acs__api_string(const char *s, size_t n) {
  json_t *j = json_stringn(s, n);
  if (j) return j;
  acs_buf b = ACS_BUF_INIT;
  const unsigned char *p = (const unsigned char *)s;
  for (size_t i = 0; i < n;) {
    size_t l = utf8_seq(p + i, n - i);
    if (l == 0) {
      acs_buf_append(&b, "\xef\xbf\xbd", 3);
      i++;
    } else {
      acs_buf_append(&b, p + i, l);
      i += l;
    }
  }
  j = acs_buf_err(&b) ? NULL : json_stringn(b.data ? b.data : "", b.len);
  acs_buf_free(&b);
  return j;
}

json_t *acs__api_col_value(const acs_pg_result *res, int row, int col, acs__col_type t) {
  if (acs_pg_isnull(res, row, col)) return json_null();
  const char *v = acs_pg_getvalue(res, row, col);
  size_t len = (size_t)acs_pg_getlength(res, row, col);
  switch (t) {
    case ACS__COL_INT: {
      errno = 0;
      char *end;
      long long x = strtoll(v, &end, 10);
      if (errno || *end) return acs__api_string(v, len);
      return json_integer(x);
    }
    case ACS__COL_BOOL:
      return json_boolean(v[0] == 't');
    case ACS__COL_JSON: {
      json_t *j = json_loadb(v, len, JSON_DECODE_ANY, NULL);
      return j ? j : acs__api_string(v, len); /* integers past 64 bits, say */
    }
    default:
      return acs__api_string(v, len);
  }
}

json_t *acs__api_row_object(const acs_pg_result *res, int row, int first, const acs__col *cols,
                            size_t n) {
  json_t *o = json_object();
  if (!o) return NULL;
  for (size_t i = 0; i < n; i++) {
    if (cols[i].type == ACS__COL_SKIP) continue;
    json_t *v = acs__api_col_value(res, row, first + (int)i, cols[i].type);
    if (!v || json_object_set_new(o, cols[i].name, v)) {
      json_decref(o);
      return NULL;
    }
  }
  return o;
}

/* --- cursors */

static const char b64u[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

void acs__api_base64url(const unsigned char *d, size_t n, acs_buf *out) {
  size_t i = 0;
  for (; i + 3 <= n; i += 3) {
    uint32_t v = (uint32_t)d[i] << 16 | (uint32_t)d[i + 1] << 8 | d[i + 2];
    char q[4] = {b64u[v >> 18], b64u[(v >> 12) & 63], b64u[(v >> 6) & 63], b64u[v & 63]};
    acs_buf_append(out, q, 4);
  }
  if (n - i == 1) {
    uint32_t v = (uint32_t)d[i] << 16;
    char q[2] = {b64u[v >> 18], b64u[(v >> 12) & 63]};
    acs_buf_append(out, q, 2);
  } else if (n - i == 2) {
    uint32_t v = (uint32_t)d[i] << 16 | (uint32_t)d[i + 1] << 8;
    char q[3] = {b64u[v >> 18], b64u[(v >> 12) & 63], b64u[(v >> 6) & 63]};
    acs_buf_append(out, q, 3);
  }
  acs_buf_append(out, "", 0); /* NUL-terminated, even when empty */
}

static int b64u_val(char c) {
  const char *p = c ? strchr(b64u, c) : NULL;
  return p ? (int)(p - b64u) : -1;
}

/* Strict: no padding, no stray bits. */
static int base64url_decode(const char *s, size_t n, acs_buf *out) {
  if (n % 4 == 1) return ACS_EINVAL;
  uint32_t acc = 0;
  int bits = 0;
  for (size_t i = 0; i < n; i++) {
    int v = b64u_val(s[i]);
    if (v < 0) return ACS_EINVAL;
    acc = acc << 6 | (uint32_t)v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      acs_buf_putc(out, (char)(acc >> bits));
      acc &= (1u << bits) - 1;
    }
  }
  if (acc != 0) return ACS_EINVAL;
  acs_buf_append(out, "", 0); /* NUL-terminated, even when empty */
  return acs_buf_err(out);
}

char *acs__api_cursor_encode(char kind, const char *key) {
  acs_buf raw = ACS_BUF_INIT, out = ACS_BUF_INIT;
  acs_buf_putc(&raw, kind);
  acs_buf_putc(&raw, ':');
  acs_buf_puts(&raw, key);
  if (!acs_buf_err(&raw)) acs__api_base64url((const unsigned char *)raw.data, raw.len, &out);
  bool bad = acs_buf_err(&raw) || acs_buf_err(&out);
  acs_buf_free(&raw);
  if (bad) {
    acs_buf_free(&out);
    return NULL;
  }
  return acs_buf_steal(&out, NULL);
}

bool acs__api_list_params(acs__api_req *r, char kind) {
  acs_buf v = ACS_BUF_INIT;
  int rc = acs_http_query_get(r->req->query, "limit", &v);
  r->limit = ACS__API_LIMIT_DEFAULT;
  if (rc == 0) {
    /* v.len, not strlen: an empty value may leave v unterminated */
    const char *s = v.data;
    size_t n = v.len;
    long x = 0;
    bool ok = n > 0 && n <= 7;
    for (size_t i = 0; ok && i < n; i++) {
      if (s[i] < '0' || s[i] > '9') ok = false;
      x = x * 10 + (s[i] - '0');
    }
    if (!ok || x < 1 || x > ACS__API_LIMIT_MAX) {
      acs_buf_free(&v);
      acs__api_error(r, 400, "limit: expected an integer 1..%d", ACS__API_LIMIT_MAX);
      return false;
    }
    r->limit = (int)x;
  } else if (rc != ACS_ENOTFOUND) {
    acs_buf_free(&v);
    acs__api_error(r, 400, "limit: malformed query string");
    return false;
  }

  acs_buf_reset(&v);
  rc = acs_http_query_get(r->req->query, "cursor", &v);
  if (rc == ACS_ENOTFOUND) {
    acs_buf_free(&v);
    return true;
  }
  acs_buf raw = ACS_BUF_INIT;
  bool ok = rc == 0 && v.data && v.len > 0 && base64url_decode(v.data, v.len, &raw) == 0 &&
            raw.len > 2 && raw.data[0] == kind && raw.data[1] == ':' &&
            memchr(raw.data, '\0', raw.len) == NULL;
  acs_buf_free(&v);
  if (!ok) {
    acs_buf_free(&raw);
    if (rc == ACS_ENOMEM) {
      acs__api_error(r, 500, "out of memory");
    } else {
      acs__api_error(r, 400, "cursor: invalid (use next_cursor of a previous page)");
    }
    return false;
  }
  r->cursor = strdup(raw.data + 2);
  acs_buf_free(&raw);
  if (!r->cursor) {
    acs__api_error(r, 500, "out of memory");
    return false;
  }
  return true;
}

/* --- requests */

bool acs__api_query_param(acs__api_req *r, const char *key, char **out) {
  acs_buf v = ACS_BUF_INIT;
  *out = NULL;
  int rc = acs_http_query_get(r->req->query, key, &v);
  if (rc == ACS_ENOTFOUND) {
    acs_buf_free(&v);
    return true;
  }
  if (rc) {
    acs_buf_free(&v);
    if (rc == ACS_ENOMEM) {
      acs__api_error(r, 500, "out of memory");
    } else {
      acs__api_error(r, 400, "%s: malformed percent-encoding (or a NUL byte)", key);
    }
    return false;
  }
  *out = acs_buf_steal(&v, NULL);
  if (!*out) *out = strdup("");
  if (!*out) {
    acs__api_error(r, 500, "out of memory");
    return false;
  }
  return true;
}

bool acs__api_bool_param(acs__api_req *r, const char *key, int *out) {
  char *v = NULL;
  if (!acs__api_query_param(r, key, &v)) return false;
  if (!v) return true;
  bool ok = strcmp(v, "true") == 0 || strcmp(v, "false") == 0;
  if (ok) *out = v[0] == 't';
  free(v);
  if (!ok) acs__api_error(r, 400, "%s: expected true or false", key);
  return ok;
}

static bool is_json_type(const char *ct) {
  if (!ct) return false;
  while (*ct == ' ' || *ct == '\t') ct++;
  size_t n = strcspn(ct, ";");
  while (n && (ct[n - 1] == ' ' || ct[n - 1] == '\t')) n--;
  return n == 16 && strncasecmp(ct, "application/json", 16) == 0;
}

bool acs__api_json_body(acs__api_req *r, const char *const *keys) {
  return acs__api_json_object_body(r, "") && acs__api_known_keys(r, r->body, keys, "");
}

bool acs__api_json_object_body(acs__api_req *r, const char *hint) {
  if (!is_json_type(acs_http_header_get(r->req, "Content-Type"))) {
    acs__api_error(r, 415, "Content-Type must be application/json");
    return false;
  }
  json_error_t jerr;
  r->body =
      json_loadb(r->req->body ? r->req->body : "", r->req->body_len, JSON_REJECT_DUPLICATES, &jerr);
  if (!r->body) {
    acs__api_error(r, 400, "malformed JSON: %s (line %d, column %d)", jerr.text, jerr.line,
                   jerr.column);
    return false;
  }
  if (!json_is_object(r->body)) {
    acs__api_error(r, 400, "expected a JSON object%s", hint);
    return false;
  }
  return true;
}

bool acs__api_known_keys(acs__api_req *r, json_t *obj, const char *const *keys, const char *where) {
  const char *key;
  json_t *v;
  json_object_foreach(obj, key, v) {
    bool known = false;
    for (size_t i = 0; keys[i]; i++) known = known || strcmp(keys[i], key) == 0;
    if (!known) {
      acs_buf k = ACS_BUF_INIT;
      for (size_t i = 0; keys[i]; i++) acs_buf_printf(&k, "%s%s", i ? ", " : "", keys[i]);
      acs__api_error(r, 400, "%sunknown key '%.64s' (known: %s)", where, key, k.data ? k.data : "");
      acs_buf_free(&k);
      return false;
    }
  }
  return true;
}

void acs__api_page(acs__api_req *r, const acs_pg_result *res,
                   json_t *(*row)(const acs_pg_result *res, int i), char kind, int key_col) {
  int n = res->ntuples < r->limit ? res->ntuples : r->limit;
  json_decref(r->doc);
  r->doc = json_array();
  for (int i = 0; r->doc && i < n; i++) {
    json_t *o = row(res, i);
    if (!o || json_array_append_new(r->doc, o)) {
      json_decref(r->doc);
      r->doc = NULL;
    }
  }
  if (r->doc && res->ntuples > r->limit) {
    r->next_cursor = acs__api_cursor_encode(kind, acs_pg_getvalue(res, n - 1, key_col));
    if (!r->next_cursor) {
      json_decref(r->doc);
      r->doc = NULL;
    }
  }
  if (!r->doc) r->pg_status = ACS_ENOMEM;
}

void acs__api_count_cb(acs_pg_result *res, void *arg) {
  acs__api_req *r = arg;
  if (acs__api_stmt_ok(r, res) && res->ntuples == 1) {
    r->total = strtoll(acs_pg_getvalue(res, 0, 0), NULL, 10);
    r->total_estimated = res->nfields > 1 && acs_pg_getvalue(res, 0, 1)[0] == 't';
  }
  acs__api_stmt_done(r);
}

void acs__api_ignore_cb(acs_pg_result *res, void *arg) {
  acs__api_req *r = arg;
  acs__api_stmt_ok(r, res);
  acs__api_stmt_done(r);
}

bool acs__api_send_list(acs__api_req *r, const acs__sql *page, const acs__sql *count,
                        acs_pg_cb page_cb) {
  if (acs__sql_err(page) || acs__sql_err(count)) {
    acs__api_error(r, 500, "out of memory");
    return false;
  }
  acs__api_step(r, acs__api_list_done);
  if (acs__api_begin(r) == 0) {
    acs__api_query(r, page->text.data, page->n, (const char *const *)page->params, page_cb);
    acs__api_query(r, count->text.data, count->n, (const char *const *)count->params,
                   acs__api_count_cb);
    acs__api_sync(r);
  }
  return true;
}

void acs__api_sql_limit(const acs__api_req *r, acs__sql *s, const char *order) {
  char lim[16];
  snprintf(lim, sizeof lim, "%d", r->limit + 1);
  acs_buf_printf(&s->text, " ORDER BY %s LIMIT ", order);
  acs__sql_param(s, lim, strlen(lim));
}

void acs__api_sql_pair(acs__sql *s, const char *open, const char *a, const char *cast_a,
                       const char *b, const char *cast_b) {
  acs_buf_puts(&s->text, open);
  acs__sql_param(s, a, strlen(a));
  acs_buf_printf(&s->text, "%s, ", cast_a);
  acs__sql_param(s, b, strlen(b));
  acs_buf_printf(&s->text, "%s)", cast_b);
}

void acs__api_sql_id_cursor(const acs__api_req *r, acs__sql *s, const char *col) {
  if (!r->cursor) return;
  acs_buf_printf(&s->text, " AND %s < ", col);
  acs__sql_param(s, r->cursor, strlen(r->cursor));
  acs_buf_puts(&s->text, "::bigint");
}

void acs__api_list_done(acs__api_req *r) {
  if (r->pg_status) {
    acs__api_fail_store(r);
    return;
  }
  acs__api_respond_list(r);
}

bool acs__api_status_filter(acs__api_req *r, const char *v, const char *const *known,
                            acs_buf *out) {
  size_t nknown = 0;
  while (known[nknown]) nknown++;
  const char **items = calloc(nknown + 1, sizeof *items);
  char *copy = strdup(v), *p = copy, *tok;
  size_t n = 0;
  bool ok = copy && items;
  while (ok && (tok = strsep(&p, ",")) != NULL) {
    size_t i = 0;
    while (i < nknown && strcmp(tok, known[i]) != 0) i++;
    ok = i < nknown && n < nknown;
    if (ok) items[n++] = known[i];
  }
  if (ok) acs_pg_array_append(out, items, n);
  free(copy);
  free(items);
  if (!ok || acs_buf_err(out)) {
    acs_buf k = ACS_BUF_INIT;
    for (size_t i = 0; i < nknown; i++) acs_buf_printf(&k, "%s%s", i ? ", " : "", known[i]);
    acs__api_error(r, 400, "status: expected one or more (comma-separated) of %s",
                   k.data ? k.data : "");
    acs_buf_free(&k);
    return false;
  }
  return true;
}

void acs__api_token_id(const acs__api_req *r, char out[24]) {
  snprintf(out, 24, "%lld", r->token_id);
}

void acs__api_audited(acs__api_req *r, acs__api_step_fn done, const char *sql, int n,
                      const char *const *p, acs_pg_cb cb) {
  const char *all[8];
  char tid[24];
  if (acs_fails_assert(n >= 0 && n <= 6)) n = 0;
  for (int i = 0; i < n; i++) all[i] = p[i];
  acs__api_token_id(r, tid);
  all[n] = r->token_name;
  all[n + 1] = tid;
  acs__api_step(r, done);
  acs__api_query(r, sql, n + 2, all, cb);
  acs__api_step_queued(r);
}

bool acs__api_cursor_is_id(acs__api_req *r) {
  if (!r->cursor) return true;
  size_t n = strlen(r->cursor);
  bool ok = n > 0 && n <= 18;
  for (size_t i = 0; ok && i < n; i++) ok = r->cursor[i] >= '0' && r->cursor[i] <= '9';
  if (!ok) acs__api_error(r, 400, "cursor: invalid (use next_cursor of a previous page)");
  return ok;
}
