/* files.c: /api/v1/files: POST (upload, operator), GET (list, readonly),
 * GET and DELETE /api/v1/files/{name} (readonly; operator).
 *
 * An upload's body is streamed, never held whole: the API listener's head
 * hook takes POST /api/v1/files before its body is read (acs_api_head), the
 * caller is authenticated and the name reserved (a row not complete yet),
 * and then the body is read as it arrives, hashed, cut into
 * ACS_FILES_CHUNK-byte chunk rows and written on the worker's files
 * connection, at most UPLOAD_INFLIGHT chunks in flight: past that, reading
 * pauses until the store has caught up. An upload thus holds at most
 * (UPLOAD_INFLIGHT + 1) chunks in memory (768 KiB) whatever its size, and
 * max-file-size bounds only what the store keeps. At the end the sha256 is
 * checked (400 and nothing kept when it differs) and one statement marks
 * the file complete, checking that its chunks add up to its size, with its
 * audit row. A failed upload deletes what it wrote. */
#include <ctype.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/api_internal.h"
#include "api/query.h"
#include "core/acs_err.h"
#include "core/acs_log.h"
#include "files/acs_files.h"

#define UPLOAD_INFLIGHT 2

/* clang-format off */
#define FILE_COLS                                                                  \
  "id, name, type, oui, product_class, version, size, sha256, "                    \
  ACS__SQL_TIME("created_at") ", created_by"
/* clang-format on */

static const acs__col file_cols[] = {
    {"id", ACS__COL_INT},         {"name", ACS__COL_STR},          {"type", ACS__COL_STR},
    {"oui", ACS__COL_STR},        {"product_class", ACS__COL_STR}, {"version", ACS__COL_STR},
    {"size", ACS__COL_INT},       {"sha256", ACS__COL_STR},        {"created_at", ACS__COL_STR},
    {"created_by", ACS__COL_STR},
};
#define N_FILE_COLS (sizeof file_cols / sizeof file_cols[0])

static json_t *file_object(const acs_pg_result *res, int row) {
  return acs__api_row_object(res, row, 0, file_cols, N_FILE_COLS);
}

/* The one object a statement returned (r->found), or nothing. */
static void file_cb(acs_pg_result *res, void *arg) { acs__api_keep_row(arg, res, file_object); }

/* --- GET /api/v1/files?type=&oui=&product_class=&version= (by name) */

static void page_cb(acs_pg_result *res, void *arg) {
  acs__api_req *r = arg;
  if (acs__api_stmt_ok(r, res)) acs__api_page(r, res, file_object, 'F', 1);
  acs__api_stmt_done(r);
}

void acs__api_files_list(acs__api_req *r) {
  static const char *const filters[] = {"type", "oui", "product_class", "version"};
  char *v[4] = {NULL, NULL, NULL, NULL};
  acs__sql page, count;
  acs__sql_init(&page);
  acs__sql_init(&count);
  bool queued = false;
  if (!acs__api_list_params(r, 'F')) goto out;
  for (int i = 0; i < 4; i++)
    if (!acs__api_query_param(r, filters[i], &v[i])) goto out;
  for (int k = 0; k < 2; k++) {
    acs__sql *s = k ? &count : &page;
    acs_buf_puts(&s->text, k ? "SELECT count(*) FROM files WHERE complete"
                             : "SELECT " FILE_COLS " FROM files WHERE complete");
    for (int i = 0; i < 4; i++) {
      if (!v[i]) continue;
      acs_buf_printf(&s->text, " AND %s = ", filters[i]);
      acs__sql_param(s, v[i], strlen(v[i]));
    }
    if (k) continue;
    if (r->cursor) {
      acs_buf_puts(&s->text, " AND name > ");
      acs__sql_param(s, r->cursor, strlen(r->cursor));
    }
    acs__api_sql_limit(r, s, "name");
  }
  queued = acs__api_send_list(r, &page, &count, page_cb);
out:
  for (int i = 0; i < 4; i++) free(v[i]);
  acs__sql_free(&page);
  acs__sql_free(&count);
  if (queued) acs__api_step_queued(r);
}

/* --- GET /api/v1/files/{name} */

static void one_done(acs__api_req *r) { acs__api_respond_found(r, "no file '%s'", r->name); }

void acs__api_file_get(acs__api_req *r) {
  static const char sql[] = "SELECT " FILE_COLS " FROM files WHERE name = $1 AND complete";
  const char *p[1] = {r->name};
  acs__api_step(r, one_done);
  acs__api_query(r, sql, 1, p, file_cb);
  acs__api_step_queued(r);
}

/* --- DELETE /api/v1/files/{name}: the row, its chunks and grants (by
 * cascade) and the audit row in one statement */

static const char sql_delete[] =
    "WITH f AS (DELETE FROM files WHERE name = $1 AND complete RETURNING *),\n"
    "a AS (INSERT INTO audit_log (actor, action, target, detail) SELECT $2, 'file.delete',\n"
    "  f.name, jsonb_build_object('file_id', f.id, 'before', jsonb_build_object('type', f.type,\n"
    "  'oui', f.oui, 'product_class', f.product_class, 'version', f.version, 'size', f.size,\n"
    "  'sha256', f.sha256, 'created_by', f.created_by), 'token_id', $3::bigint) FROM f)\n"
    "SELECT " FILE_COLS " FROM f";

static void delete_done(acs__api_req *r) { acs__api_respond_gone(r, "no file '%s'", r->name); }

void acs__api_file_delete(acs__api_req *r) {
  const char *p[1] = {r->name};
  acs__api_audited(r, delete_done, sql_delete, 1, p, file_cb);
}

/* --- POST /api/v1/files?name=&type=&oui=&product_class=&version=&sha256= */

typedef enum { UP_STAGING, UP_STREAMING, UP_FINISHING, UP_CLEANUP } up_phase;

typedef struct upload {
  acs__api_req *r;
  acs_pg *pg;
  up_phase phase;
  char *q[6]; /* name, type, oui, product_class, version, sha256 */
  char id[24];
  EVP_MD_CTX *md;
  uint64_t size;
  unsigned seq;
  char *buf; /* the chunk being filled */
  size_t len;
  int pending; /* statements in flight */
  bool streaming, paused, ended;
  int body_status; /* the body's done: 0, an HTTP status, -1 gone */
  int status;      /* the answer once it is not 201: an HTTP status */
  char msg[200];
} upload;

enum { Q_NAME, Q_TYPE, Q_OUI, Q_PCLASS, Q_VERSION, Q_SHA };

static void upload_free(void *arg) {
  upload *u = arg;
  for (int i = 0; i < 6; i++) free(u->q[i]);
  EVP_MD_CTX_free(u->md);
  free(u->buf);
  free(u);
}

static void up_step(upload *u);

/* The first failure decides the answer. */
static void up_fail(upload *u, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void up_fail(upload *u, int status, const char *fmt, ...) {
  if (u->status) return;
  u->status = status;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(u->msg, sizeof u->msg, fmt, ap);
  va_end(ap);
  if (u->streaming && !u->ended) acs_conn_body_pause(u->r->c); /* read no more */
}

static void up_store_failed(upload *u, const acs_pg_result *res) {
  if (res->status == ACS_EPG)
    acs_log(ACS_LOG_ERR, "api", "upload of %s: store: %s (%s)", u->q[Q_NAME], res->error,
            res->sqlstate);
  bool down = res->status == ACS_EUNAVAILABLE || res->status == ACS_ECANCELED;
  up_fail(u, down ? 503 : 500, down ? "store unavailable" : "database error");
}

static void chunk_cb(acs_pg_result *res, void *arg) {
  upload *u = arg;
  u->pending--;
  if (res->status) {
    up_store_failed(u, res);
  } else if (acs_pg_cmd_tuples(res) != 1) {
    up_fail(u, 409, "the upload of '%s' was removed meanwhile", u->q[Q_NAME]);
  }
  up_step(u);
}

/* Writes the chunk filled so far (it is copied: the buffer is free again). */
static void up_flush(upload *u) {
  static const char sql[] =
      "WITH f AS (UPDATE files SET updated_at = now() WHERE id = $1::bigint AND NOT complete\n"
      "  RETURNING id)\n"
      "INSERT INTO file_chunks (file_id, seq, data) SELECT f.id, $2::int, $3 FROM f";
  char seq[16];
  snprintf(seq, sizeof seq, "%u", u->seq);
  const char *p[3] = {u->id, seq, u->buf};
  const int lens[3] = {-1, -1, (int)u->len};
  int rc = acs_pg_query_bin(u->pg, sql, 3, p, lens, 0, chunk_cb, u);
  if (rc) {
    up_fail(u, 503, "store unavailable");
    return;
  }
  u->pending++;
  u->seq++;
  u->len = 0;
}

static void body_data(acs_conn *c, const char *p, size_t n, void *arg) {
  upload *u = arg;
  if (u->status) return; /* failed: the rest is not kept */
  EVP_DigestUpdate(u->md, p, n);
  u->size += n;
  while (n) {
    size_t take = ACS_FILES_CHUNK - u->len;
    if (take > n) take = n;
    memcpy(u->buf + u->len, p, take);
    u->len += take;
    p += take;
    n -= take;
    if (u->len == ACS_FILES_CHUNK) up_flush(u);
    if (u->status) return; /* the chunk could not be queued */
  }
  if (u->pending >= UPLOAD_INFLIGHT && !u->paused) {
    u->paused = true;
    acs_conn_body_pause(c);
  }
}

static void body_done(acs_conn *c, int status, void *arg) {
  upload *u = arg;
  (void)c;
  u->ended = true;
  u->body_status = status;
  if (status > 0)
    up_fail(u, status, status == 413 ? "the file is larger than max-file-size" : "bad body");
  else if (status < 0)
    up_fail(u, 400, "the connection closed before the end of the file");
  up_step(u);
}

static const acs_conn_body_sink sink = {body_data, body_done};

static void finish_cb(acs_pg_result *res, void *arg) {
  upload *u = arg;
  acs__api_req *r = u->r;
  u->pending--;
  if (res->status) {
    up_store_failed(u, res);
  } else if (res->ntuples != 1) {
    up_fail(u, 500, "the upload's chunks do not add up to its size");
  } else if (!(r->doc = file_object(res, 0))) {
    up_fail(u, 500, "out of memory");
  }
  up_step(u);
}

static void cleanup_cb(acs_pg_result *res, void *arg) {
  upload *u = arg;
  u->pending--;
  if (res->status)
    acs_log(ACS_LOG_WARN, "api", "upload of %s: not removed: %s", u->q[Q_NAME], res->error);
  up_step(u);
}

static void up_finish(upload *u) {
  static const char sql[] =
      "WITH f AS (UPDATE files SET complete = true, size = $2::bigint, sha256 = $3,\n"
      "  created_at = now() WHERE id = $1::bigint AND NOT complete\n"
      "  AND (SELECT coalesce(sum(length(data)), 0) FROM file_chunks WHERE file_id = $1::bigint)\n"
      "    = $2::bigint RETURNING *),\n"
      "a AS (INSERT INTO audit_log (actor, action, target, detail) SELECT $4, 'file.upload',\n"
      "  f.name, jsonb_build_object('file_id', f.id, 'type', f.type, 'size', f.size,\n"
      "  'sha256', f.sha256, 'token_id', $5::bigint) FROM f)\n"
      "SELECT " FILE_COLS " FROM f";
  unsigned char d[EVP_MAX_MD_SIZE];
  unsigned dl = 0;
  char hex[65], size[24], tid[24];
  EVP_DigestFinal_ex(u->md, d, &dl);
  for (unsigned i = 0; i < 32 && i < dl; i++) snprintf(hex + 2 * i, 3, "%02x", d[i]);
  if (u->q[Q_SHA] && strcmp(u->q[Q_SHA], hex) != 0) {
    up_fail(u, 400, "sha256 mismatch: the body's is %s", hex);
    return;
  }
  snprintf(size, sizeof size, "%llu", (unsigned long long)u->size);
  acs__api_token_id(u->r, tid);
  const char *p[5] = {u->id, size, hex, u->r->token_name, tid};
  if (acs_pg_query(u->pg, sql, 5, p, 0, finish_cb, u)) {
    up_fail(u, 503, "store unavailable");
    return;
  }
  u->pending++;
  u->phase = UP_FINISHING;
}

static void up_answer(upload *u) {
  acs__api_req *r = u->r;
  if (u->status) {
    acs__api_error(r, u->status, "%s", u->msg);
    return;
  }
  char extra[200];
  snprintf(extra, sizeof extra, "Location: /api/v1/files/%s\r\n", u->q[Q_NAME]);
  acs_log(ACS_LOG_INFO, "api", "file %s uploaded by %s: %llu bytes", u->q[Q_NAME], r->token_name,
          (unsigned long long)u->size);
  json_t *doc = r->doc;
  r->doc = NULL;
  acs__api_respond(r, 201, doc, extra);
}

/* What happens next, once nothing is in flight (and, while the body is
 * still coming, whether reading may go on). */
static void up_step(upload *u) {
  if (u->phase == UP_STREAMING && !u->status && !u->ended) {
    if (u->paused && u->pending < UPLOAD_INFLIGHT) {
      u->paused = false;
      acs_conn_body_resume(u->r->c);
    }
    return;
  }
  if (u->pending > 0) return;
  if (u->phase == UP_STREAMING && !u->status && u->len > 0) {
    up_flush(u); /* the last chunk */
    if (u->pending) return;
  }
  if (u->phase == UP_STREAMING && !u->status) up_finish(u);
  if (u->pending > 0) return;
  if (u->status && u->id[0] && u->phase != UP_CLEANUP) {
    static const char sql[] = "DELETE FROM files WHERE id = $1::bigint AND NOT complete";
    const char *p[1] = {u->id};
    u->phase = UP_CLEANUP;
    if (acs_pg_query(u->pg, sql, 1, p, 0, cleanup_cb, u) == 0) {
      u->pending++;
      return;
    }
  }
  up_answer(u); /* a body still coming is not read: the connection closes */
}

/* The name reserved (or not): the body comes next. */
static void stage_next(upload *u) {
  acs__api_req *r = u->r;
  if (u->pending > 0) return;
  if (u->status) {
    up_answer(u); /* nothing was stored */
    return;
  }
  u->phase = UP_STREAMING;
  if (acs_conn_body_unread(r->c)) {
    u->streaming = true;
    if (acs_conn_body_stream(r->c, r->app->cfg->max_file_size, &sink, u) == 0)
      return; /* its callbacks may have answered already: u is not touched */
    u->streaming = false;
    up_fail(u, 500, "cannot read the body");
    up_step(u);
    return;
  }
  /* the body came whole (a listener without the head hook) */
  if (r->req->body_len > r->app->cfg->max_file_size) {
    up_fail(u, 413, "the file is larger than max-file-size");
  } else if (r->req->body_len) {
    body_data(r->c, r->req->body, r->req->body_len, u);
  }
  body_done(r->c, 0, u);
}

static void stage_cb(acs_pg_result *res, void *arg) {
  upload *u = arg;
  u->pending--;
  if (res->status == 0 && res->ntuples == 1) {
    snprintf(u->id, sizeof u->id, "%s", acs_pg_getvalue(res, 0, 0));
  } else if (res->status == 0) {
    up_fail(u, 409, "a file named '%s' exists (or is being uploaded)", u->q[Q_NAME]);
  } else if (res->status != ACS_EABORTED) {
    up_store_failed(u, res);
  }
  stage_next(u);
}

static void stage_sync_cb(acs_pg_result *res, void *arg) {
  upload *u = arg;
  u->pending--;
  if (res->status) {
    u->id[0] = '\0'; /* rolled back */
    up_store_failed(u, res);
  }
  stage_next(u);
}

static bool is_hex64(const char *s) {
  if (strlen(s) != 64) return false;
  for (const char *p = s; *p; p++)
    if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f'))) return false;
  return true;
}

static bool text_ok(const char *s, size_t max) {
  size_t n = strlen(s);
  if (n > max) return false;
  for (size_t i = 0; i < n; i++)
    if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) return false;
  return true;
}

void acs__api_file_upload(acs__api_req *r) {
  static const char *const keys[6] = {"name", "type", "oui", "product_class", "version", "sha256"};
  upload *u = calloc(1, sizeof *u);
  if (!u) {
    acs__api_error(r, 500, "out of memory");
    return;
  }
  u->r = r;
  r->aux_ctx = u;
  r->aux_free = upload_free;
  for (int i = 0; i < 6; i++)
    if (!acs__api_query_param(r, keys[i], &u->q[i])) return;
  for (int i = Q_OUI; i <= Q_VERSION; i++) {
    if (u->q[i] && !text_ok(u->q[i], 128)) {
      acs__api_error(r, 400, "%s: at most 128 bytes, no control characters", keys[i]);
      return;
    }
    if (u->q[i] && !u->q[i][0]) { /* empty: none */
      free(u->q[i]);
      u->q[i] = NULL;
    }
  }
  if (!u->q[Q_NAME] || !acs_files_name_ok(u->q[Q_NAME])) {
    acs__api_error(r, 400,
                   "name: 1..128 bytes of letters, digits and . _ ~ + - "
                   "(not starting with '.')");
    return;
  }
  if (!u->q[Q_TYPE] || !acs_files_type_ok(u->q[Q_TYPE])) {
    acs__api_error(r, 400,
                   "type: a TR-069 FileType such as \"1 Firmware Upgrade Image\" "
                   "(1..6, or \"X <OUI> <name>\")");
    return;
  }
  if (u->q[Q_SHA]) {
    for (char *p = u->q[Q_SHA]; *p; p++) *p = (char)tolower((unsigned char)*p);
    if (!is_hex64(u->q[Q_SHA])) {
      acs__api_error(r, 400, "sha256: 64 hexadecimal digits");
      return;
    }
  }
  const char *cl = acs_http_header_get(r->req, "Content-Length");
  if (cl && strtoull(cl, NULL, 10) > r->app->cfg->max_file_size) {
    acs__api_error(r, 413, "the file is larger than max-file-size (%zu bytes)",
                   r->app->cfg->max_file_size);
    return;
  }
  const char *ce = acs_http_header_get(r->req, "Content-Encoding");
  if (ce && strcasecmp(ce, "identity") != 0) {
    acs__api_error(r, 415, "no Content-Encoding on an upload (the bytes are the file)");
    return;
  }
  if (!(u->pg = acs_files_pg(r->aw))) {
    acs__api_error(r, 503, "store unavailable");
    return;
  }
  u->md = EVP_MD_CTX_new();
  u->buf = malloc(ACS_FILES_CHUNK);
  if (!u->md || !u->buf || !EVP_DigestInit_ex(u->md, EVP_sha256(), NULL)) {
    acs__api_error(r, 500, "out of memory");
    return;
  }
  /* reserve the name; a row some acsd left incomplete 10 minutes ago is
   * dead and gives its name back */
  static const char sql_stale[] =
      "DELETE FROM files WHERE NOT complete AND updated_at < now() - interval '10 minutes'";
  static const char sql_stage[] =
      "INSERT INTO files (name, type, oui, product_class, version, chunk_size, created_by)\n"
      "VALUES ($1, $2, $3, $4, $5, $6::int, $7) ON CONFLICT (name) DO NOTHING RETURNING id";
  char chunk[16];
  snprintf(chunk, sizeof chunk, "%d", ACS_FILES_CHUNK);
  const char *p[7] = {u->q[Q_NAME],    u->q[Q_TYPE], u->q[Q_OUI],  u->q[Q_PCLASS],
                      u->q[Q_VERSION], chunk,        r->token_name};
  unsigned flags = ACS_PG_FAILFAST;
  acs_pg_stats st;
  acs_pg_get_stats(u->pg, &st);
  if (!st.connects) flags = 0; /* just opened: wait for it */
  int rc = acs_pg_begin_batch(u->pg, flags);
  if (rc == 0) rc = acs_pg_query(u->pg, sql_stale, 0, NULL, 0, NULL, NULL);
  if (rc == 0) rc = acs_pg_query(u->pg, sql_stage, 7, p, 0, stage_cb, u);
  if (rc == 0) u->pending++;
  if (rc == 0) rc = acs_pg_sync(u->pg, stage_sync_cb, u);
  if (rc) {
    if (acs_pg_in_batch(u->pg)) acs_pg_abort_batch(u->pg);
    if (u->pending) return; /* the statement's callback (ACS_ECANCELED) answers */
    acs__api_error(r, 503, "store unavailable");
    return;
  }
  u->pending++;
}
