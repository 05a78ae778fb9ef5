/* device_export.c: GET /api/v1/devices/export?q=&columns= (docs/api.md,
 * "Exporting devices"): the devices a query matches, as CSV (RFC 4180:
 * CRLF lines, a header row, a field quoted when it holds a comma, a quote
 * or a line break, quotes doubled), in id order, with the columns asked
 * for: device fields and parameter values.
 *
 * Streamed: one keyset page of PAGE devices per statement (d.id > the last
 * id sent), written as one HTTP chunk (Transfer-Encoding: chunked) before
 * the next statement is sent, so memory stays at one page whatever the
 * fleet's size and a slow reader slows the export down instead of filling
 * acsd. An error before the first chunk is an ordinary JSON error; after
 * it the connection is closed mid-body (the client sees a truncated
 * chunked body, never a complete-looking file). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_internal.h"
#include "api/query.h"
#include "core/acs_err.h"
#include "core/acs_log.h"
#include "core/acs_secret_param.h"
#include "net/acs_server.h"

#define PAGE 1000
#define MAX_COLUMNS 64

static const char default_columns[] =
    "id,oui,product_class,serial_number,manufacturer,software_version,hardware_version,tags,"
    "last_inform";

/* Device fields as CSV cells: text, NULL as an empty cell. */
static const struct {
  const char *name, *expr;
} device_cols[] = {
    {"id", "d.id"},
    {"oui", "d.oui"},
    {"product_class", "d.product_class"},
    {"serial_number", "d.serial_number"},
    {"manufacturer", "d.manufacturer"},
    {"software_version", "d.software_version"},
    {"hardware_version", "d.hardware_version"},
    {"tags", "to_json(d.tags)::text"}, /* ["lab","eu"]: unambiguous whatever a tag holds */
    {"last_inform", ACS__SQL_TIME("d.last_inform")},
    {"created_at", ACS__SQL_TIME("d.created_at")},
    {"last_boot", ACS__SQL_TIME("d.last_boot")},
    {"last_bootstrap", ACS__SQL_TIME("d.last_bootstrap")},
};

typedef struct export_ctx {
  acs__sql sql;     /* the page statement; params[cursor_param] is the last id */
  int cursor_param;
  int ncols;
  acs_buf csv;      /* the chunk being filled */
  char *last_id;
  int rows;         /* in the last page */
  bool started;     /* the head is out: errors can only close */
  long long total;
} export_ctx;

static void ctx_free(void *p) {
  export_ctx *x = p;
  acs__sql_free(&x->sql);
  acs_buf_free(&x->csv);
  free(x->last_id);
  free(x);
}

/* One CSV field (RFC 4180). */
static void csv_field(acs_buf *b, const char *v, size_t n) {
  bool quote = false;
  for (size_t i = 0; i < n && !quote; i++)
    quote = v[i] == ',' || v[i] == '"' || v[i] == '\r' || v[i] == '\n';
  if (!quote) {
    acs_buf_append(b, v, n);
    return;
  }
  acs_buf_putc(b, '"');
  for (size_t i = 0; i < n; i++) {
    if (v[i] == '"') acs_buf_putc(b, '"');
    acs_buf_putc(b, v[i]);
  }
  acs_buf_putc(b, '"');
}

/* A parameter's path as the device query takes it, not an object's. */
static bool param_name_ok(const char *s, size_t n) {
  if (n == 0 || n > 256 || s[0] == '.' || s[n - 1] == '.') return false;
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-' || c == '.';
    if (!ok || (c == '.' && s[i + 1] == '.')) return false;
  }
  return true;
}

/* columns=a,b,...: the header row into x->csv and the select list into
 * x->sql. False with the 400 answered. */
static bool parse_columns(acs__api_req *r, export_ctx *x, char *list) {
  acs__sql *s = &x->sql;
  for (char *p = list, *name; (name = strsep(&p, ",")) != NULL;) {
    size_t n = strlen(name);
    if (++x->ncols > MAX_COLUMNS) {
      acs__api_error(r, 400, "columns: at most %d", MAX_COLUMNS);
      return false;
    }
    if (x->ncols > 1) acs_buf_putc(&x->csv, ',');
    csv_field(&x->csv, name, n);
    acs_buf_puts(&s->text, ", ");
    if (memchr(name, '.', n)) {
      if (!param_name_ok(name, n)) {
        acs__api_error(r, 400, "columns: '%.80s' is not a parameter name (an object's name ends with "
                               "'.' and has no value)", name);
        return false;
      }
      if (acs_param_is_secret(name, n)) {
        acs__api_error(r, 400, "columns: %.80s is a secret parameter: not exported", name);
        return false;
      }
      acs_buf_puts(&s->text,
                   "(SELECT p.value FROM parameters p WHERE p.device_id = d.id AND p.name = ");
      acs__sql_param(s, name, n);
      acs_buf_puts(&s->text, ")");
      continue;
    }
    size_t k = 0;
    while (k < sizeof device_cols / sizeof device_cols[0] && strcmp(device_cols[k].name, name)) k++;
    if (k == sizeof device_cols / sizeof device_cols[0]) {
      acs__api_error(r, 400,
                     "columns: unknown column '%.64s' (device fields: id, oui, product_class, "
                     "serial_number, manufacturer, software_version, hardware_version, tags, "
                     "last_inform, created_at, last_boot, last_bootstrap; or parameter names)",
                     name);
      return false;
    }
    acs_buf_puts(&s->text, device_cols[k].expr);
  }
  acs_buf_puts(&x->csv, "\r\n");
  return true;
}

static void next_page(acs__api_req *r);

static void page_cb(acs_pg_result *res, void *arg) {
  acs__api_req *r = arg;
  export_ctx *x = r->aux_ctx;
  if (acs__api_stmt_ok(r, res)) {
    x->rows = res->ntuples;
    for (int i = 0; i < res->ntuples; i++) {
      for (int c = 0; c < x->ncols; c++) {
        if (c) acs_buf_putc(&x->csv, ',');
        if (!acs_pg_isnull(res, i, c + 1))
          csv_field(&x->csv, acs_pg_getvalue(res, i, c + 1),
                    (size_t)acs_pg_getlength(res, i, c + 1));
      }
      acs_buf_puts(&x->csv, "\r\n");
    }
    if (res->ntuples) {
      free(x->last_id);
      x->last_id = strdup(acs_pg_getvalue(res, res->ntuples - 1, 0));
      if (!x->last_id) r->pg_status = ACS_ENOMEM;
    }
    x->total += res->ntuples;
  }
  acs__api_stmt_done(r);
}

/* The connection is no longer ours after the last chunk or a failure. */
static void last_cb(acs_conn *c, int status, void *arg) {
  (void)c;
  (void)status;
  acs__api_req_free(arg);
}

static void chunk_cb(acs_conn *c, int status, void *arg) {
  acs__api_req *r = arg;
  export_ctx *x = r->aux_ctx;
  (void)c;
  if (status < 0) { /* the client went away */
    acs__api_req_free(r);
    return;
  }
  acs_buf_reset(&x->csv);
  if (x->rows < PAGE) {
    if (acs_conn_stream_write(r->c, "", 0, last_cb, r)) acs__api_req_free(r);
    return;
  }
  next_page(r);
}

static void page_done(acs__api_req *r) {
  export_ctx *x = r->aux_ctx;
  int err = r->pg_status ? r->pg_status : acs_buf_err(&x->csv) ? ACS_ENOMEM : 0;
  if (err && !x->started) {
    r->pg_status = err;
    acs__api_fail_store(r);
    return;
  }
  if (err) {
    acs_log(ACS_LOG_WARN, "api", "device export: stopped after %lld devices: %s", x->total,
            r->pg_error ? r->pg_error : acs_strerror(err));
    acs_conn_stream_abort(r->c);
    acs__api_req_free(r);
    return;
  }
  if (!x->started) {
    acs_http_response resp = {
        .status = 200,
        .content_type = "text/csv; charset=utf-8; header=present",
        .keep_alive = r->req->keep_alive,
        .extra_headers = "Cache-Control: no-store\r\n"
                         "Content-Disposition: attachment; filename=\"devices.csv\"\r\n",
    };
    if (acs_conn_stream_start(r->c, &resp, ACS_HTTP_CHUNKED, true)) {
      acs__api_req_free(r);
      return;
    }
    x->started = true;
  }
  if (acs_conn_stream_write(r->c, x->csv.data, x->csv.len, chunk_cb, r)) acs__api_req_free(r);
}

static void next_page(acs__api_req *r) {
  export_ctx *x = r->aux_ctx;
  const char *last = x->last_id ? x->last_id : "";
  const char **p = malloc((size_t)x->sql.n * sizeof *p);
  acs__api_step(r, page_done);
  if (!p) {
    r->pg_status = ACS_ENOMEM;
    page_done(r);
    return;
  }
  for (int i = 0; i < x->sql.n; i++) p[i] = x->sql.params[i];
  p[x->cursor_param] = last;
  if (acs__api_begin(r) == 0) {
    acs__api_query(r, x->sql.text.data, x->sql.n, p, page_cb);
    acs__api_sync(r);
  }
  free(p);
  acs__api_step_queued(r);
}

void acs__api_devices_export(acs__api_req *r) {
  char *q = NULL, *cols = NULL;
  acs_arena arena;
  acs_arena_init(&arena, 0);
  export_ctx *x = calloc(1, sizeof *x);
  if (!x) {
    acs__api_error(r, 500, "out of memory");
    goto out;
  }
  acs__sql_init(&x->sql);
  if (!acs__api_query_param(r, "q", &q) || !acs__api_query_param(r, "columns", &cols)) goto out;
  acs_buf_puts(&x->sql.text, "SELECT d.id");
  char defcols[sizeof default_columns];
  memcpy(defcols, default_columns, sizeof defcols);
  if (!parse_columns(r, x, cols ? cols : defcols)) goto out;
  acs_buf_puts(&x->sql.text, " FROM devices d WHERE d.id > ");
  acs__sql_param(&x->sql, "", 0);
  x->cursor_param = x->sql.n - 1;
  if (q) {
    acs__q_node *tree = NULL;
    char err[400];
    int rc = acs__q_parse(q, strlen(q), &arena, &tree, err, sizeof err);
    if (rc) {
      acs__api_error(r, rc == ACS_ENOMEM ? 500 : 400, "q: %s", rc == ACS_ENOMEM ? "out of memory" : err);
      goto out;
    }
    acs_buf_puts(&x->sql.text, " AND ");
    acs__q_to_sql(tree, &x->sql);
    if (acs__q_costly(tree)) r->stmt_timeout_ms = ACS__Q_COSTLY_TIMEOUT_MS;
  }
  acs_buf_puts(&x->sql.text, " ORDER BY d.id LIMIT " ACS__STR(PAGE));
  if (acs__sql_err(&x->sql) || acs_buf_err(&x->csv)) {
    acs__api_error(r, 500, "out of memory");
    goto out;
  }
  r->aux_ctx = x;
  r->aux_free = ctx_free;
  x = NULL;
  next_page(r);
out:
  if (x) ctx_free(x);
  free(q);
  free(cols);
  acs_arena_free(&arena);
}
