/* files.c: the files module's per-worker state, file names and types, and
 * the resolution of Download tasks that name a file (acs_files.h). */
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/acs_err.h"
#include "core/acs_log.h"
#include "files/acs_files.h"
#include "files/files_internal.h"
#include "http/acs_digest.h"

/* --- the worker's state */

int acs_files_worker_init(acs_app_worker *aw) {
  acs_files_worker *fw = calloc(1, sizeof *fw);
  if (!fw) return ACS_ENOMEM;
  fw->aw = aw;
  aw->files = fw;
  return 0;
}

static void pg_closed_cb(void *arg) {
  acs_files_worker *fw = arg;
  if (fw->done) fw->done(fw->done_arg);
  free(fw);
}

void acs_files_worker_stop(acs_files_worker *fw, void (*done)(void *arg), void *arg) {
  fw->stopping = true;
  fw->done = done;
  fw->done_arg = arg;
  if (fw->pg && acs_pg_close(fw->pg, pg_closed_cb, fw) == 0) return;
  pg_closed_cb(fw);
}

acs_pg *acs_files_pg(acs_app_worker *aw) {
  acs_files_worker *fw = aw->files;
  if (!fw || fw->stopping || !aw->app->cfg->pg_dsn) return NULL;
  if (!fw->pg) {
    acs_pg_opts o;
    char name[32];
    snprintf(name, sizeof name, "pg-files-w%u", acs_worker_index(aw->w));
    acs_pg_opts_defaults(&o);
    o.pipeline = aw->app->pg_pipeline;
    o.name = name;
    int rc = acs_pg_open(acs_worker_loop(aw->w), aw->app->cfg->pg_dsn, &o, &fw->pg);
    if (rc) {
      acs_log(ACS_LOG_ERR, "files", "cannot open the files store connection: %s", acs_strerror(rc));
      fw->pg = NULL;
    }
  }
  return fw->pg;
}

unsigned acs__files_flags(acs_pg *pg) {
  /* as the API: wait for the first connection, fail fast once it was up */
  acs_pg_stats st;
  acs_pg_get_stats(pg, &st);
  return st.connects ? ACS_PG_FAILFAST : 0;
}

/* --- names and types */

bool acs_files_name_ok(const char *name) {
  size_t n = name ? strlen(name) : 0;
  if (n == 0 || n > 128 || name[0] == '.') return false;
  for (size_t i = 0; i < n; i++) {
    char c = name[i];
    bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '~' || c == '+' || c == '-';
    if (!ok) return false;
  }
  return true;
}

bool acs_files_type_ok(const char *type) {
  static const char *const std[] = {
      "1 Firmware Upgrade Image",
      "2 Web Content",
      "3 Vendor Configuration File",
      "4 Tone File",
      "5 Ringer File",
      "6 Stored Firmware Image",
  };
  if (!type) return false;
  for (size_t i = 0; i < sizeof std / sizeof std[0]; i++)
    if (strcmp(type, std[i]) == 0) return true;
  /* "X <OUI> <vendor-specific identifier>", printable, at most 64 bytes */
  size_t n = strlen(type);
  if (n < 4 || n > 64 || strncmp(type, "X ", 2) != 0) return false;
  for (size_t i = 0; i < n; i++)
    if ((unsigned char)type[i] < 0x20 || (unsigned char)type[i] == 0x7f) return false;
  return strchr(type + 2, ' ') != NULL;
}

/* --- Download tasks naming a file */

const char acs_files_sql_required[] = "SELECT acs_file_required($1)";

/* The Download arguments the engine fills from the file and its grant. */
static const char *const filled[] = {"URL", "FileType", "FileSize", "Username", "Password"};

char *acs_files_task_file(acs_cwmp_kind kind, json_t *args) {
  json_t *f =
      kind == ACS_CWMP_DOWNLOAD && json_is_object(args) ? json_object_get(args, "file") : NULL;
  if (!f) return NULL;
  char *name = strdup(json_is_string(f) ? json_string_value(f) : "");
  json_object_del(args, "file");
  return name;
}

bool acs_files_task_args_ok(const json_t *args, const char *name, char *err, size_t errlen) {
  if (!acs_files_name_ok(name)) {
    snprintf(err, errlen, "args: file: expected the name of a file (GET /api/v1/files)");
    return false;
  }
  for (size_t i = 0; i < sizeof filled / sizeof filled[0]; i++) {
    if (json_object_get(args, filled[i])) {
      snprintf(err, errlen, "args: %s: filled in from the file and its grant (leave it out)",
               filled[i]);
      return false;
    }
  }
  return true;
}

/* The grant (user name and HA1, valid $5 seconds), and the file it opens;
 * the same task's grant made again replaces it, and grants expired
 * meanwhile go. No row: no such complete file, or the task is gone. */
static const char sql_grant[] =
    "WITH f AS (SELECT id, type, size FROM files WHERE name = $2 AND complete),\n"
    "g AS (INSERT INTO file_grants (task_id, file_id, username, ha1, expires_at)\n"
    "  SELECT $1::bigint, f.id, $3, $4, now() + $5::int * interval '1 second' FROM f\n"
    "  WHERE EXISTS (SELECT 1 FROM tasks WHERE id = $1::bigint)\n"
    "  ON CONFLICT (task_id) DO UPDATE SET file_id = excluded.file_id,\n"
    "    username = excluded.username, ha1 = excluded.ha1, created_at = now(),\n"
    "    expires_at = excluded.expires_at\n"
    "  RETURNING file_id),\n"
    "old AS (DELETE FROM file_grants WHERE expires_at < now() AND task_id <> $1::bigint)\n"
    "SELECT f.type, f.size FROM f JOIN g ON g.file_id = f.id";

typedef struct prep {
  acs_files_download_cb cb;
  void *arg;
  acs_buf url;
  char user[32], pass[40];
} prep;

static void grant_cb(acs_pg_result *res, void *arg) {
  prep *p = arg;
  if (res->status) {
    if (res->status == ACS_EPG)
      acs_log(ACS_LOG_WARN, "files", "grant for %s: %s", p->user, res->error);
    p->cb(
        res->status == ACS_EPG && strcmp(res->sqlstate, "23503") == 0 ? ACS_ENOTFOUND : res->status,
        NULL, p->arg);
  } else if (res->ntuples != 1) {
    p->cb(ACS_ENOTFOUND, NULL, p->arg);
  } else {
    acs_files_download d = {
        .url = p->url.data,
        .file_type = acs_pg_getvalue(res, 0, 0),
        .size = strtoull(acs_pg_getvalue(res, 0, 1), NULL, 10),
        .username = p->user,
        .password = p->pass,
    };
    p->cb(0, &d, p->arg);
  }
  acs_buf_free(&p->url);
  OPENSSL_cleanse(p->pass, sizeof p->pass);
  free(p);
}

/* host[:port] of a Host header: the host part (a bracketed IPv6 address
 * kept whole) into out, when it is made of characters a host can have. */
static bool host_of(const char *h, char *out, size_t cap) {
  if (!h) return false;
  size_t n;
  if (h[0] == '[') {
    const char *rb = strchr(h, ']');
    if (!rb) return false;
    n = (size_t)(rb + 1 - h);
  } else {
    n = strcspn(h, ":");
  }
  if (n == 0 || n >= cap) return false;
  for (size_t i = 0; i < n; i++) {
    char c = h[i];
    bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '-' || c == '_' || c == ':' || c == '[' || c == ']';
    if (!ok) return false;
  }
  memcpy(out, h, n);
  out[n] = '\0';
  return true;
}

/* The URL's base: file-server-url, else http(s)://HOST:PORT with the Host the
 * CPE used for the ACS (what it can reach) and the file server's port. */
static int base_url(acs_app_worker *aw, acs_conn *c, acs_buf *out) {
  const acs_config *cfg = aw->app->cfg;
  if (cfg->file_server_url) {
    size_t n = strlen(cfg->file_server_url);
    while (n && cfg->file_server_url[n - 1] == '/') n--;
    acs_buf_append(out, cfg->file_server_url, n);
    return 0;
  }
  int port = acs_worker_port(aw->w, ACS_LISTENER_FILES);
  const acs_http_request *req = c ? acs_conn_request(c) : NULL;
  char host[256];
  if (!port || !host_of(req ? acs_http_header_get(req, "Host") : NULL, host, sizeof host))
    return ACS_EINVAL;
  acs_buf_printf(out, "%s://%s:%d",
                 acs_worker_listener_tls(aw->w, ACS_LISTENER_FILES) ? "https" : "http", host, port);
  return 0;
}

int acs_files_download_prepare(acs_app_worker *aw, acs_conn *c, int64_t task_id, const char *file,
                               uint32_t delay_s, acs_files_download_cb cb, void *arg) {
  acs_pg *pg = acs_files_pg(aw);
  if (!pg) return ACS_EUNAVAILABLE;
  prep *p = calloc(1, sizeof *p);
  if (!p) return ACS_ENOMEM;
  p->cb = cb;
  p->arg = arg;
  acs_buf_init(&p->url);
  int rc = base_url(aw, c, &p->url);
  if (rc) {
    free(p);
    return rc;
  }
  acs_buf_puts(&p->url, "/files/");
  acs_http_url_encode(file, &p->url);
  acs_buf_append(&p->url, "", 0);
  unsigned char rnd[18];
  if (acs_buf_err(&p->url) || RAND_bytes(rnd, sizeof rnd) != 1) {
    acs_buf_free(&p->url);
    free(p);
    return ACS_ENOMEM;
  }
  snprintf(p->user, sizeof p->user, "acsd-dl-%lld", (long long)task_id);
  acs__files_base64url(rnd, sizeof rnd, p->pass);
  OPENSSL_cleanse(rnd, sizeof rnd);
  char ha1[33], id[24], ttl[24];
  acs_auth_ha1(p->user, ACS_FILES_REALM, p->pass, ha1);
  snprintf(id, sizeof id, "%lld", (long long)task_id);
  unsigned long long life = (unsigned long long)aw->app->cfg->file_grant_ttl_s + delay_s;
  snprintf(ttl, sizeof ttl, "%llu", life > 2000000000ULL ? 2000000000ULL : life);
  const char *params[5] = {id, file, p->user, ha1, ttl};
  if ((rc = acs_pg_query(pg, sql_grant, 5, params, acs__files_flags(pg), grant_cb, p))) {
    acs_buf_free(&p->url);
    free(p);
  }
  return rc;
}

int acs_files_download_apply(const acs_files_download *d, acs_cwmp_msg *msg, acs_arena *a) {
  acs_cwmp_download *m = &msg->u.download;
  m->url = acs_arena_strdup(a, d->url);
  m->file_type = acs_arena_strdup(a, d->file_type);
  m->username = acs_arena_strdup(a, d->username);
  m->password = acs_arena_strdup(a, d->password);
  m->file_size = d->size > UINT32_MAX ? UINT32_MAX : (uint32_t)d->size;
  return m->url && m->file_type && m->username && m->password ? 0 : ACS_ENOMEM;
}

void acs__files_base64url(const unsigned char *d, size_t n, char *out) {
  static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  size_t o = 0;
  for (size_t i = 0; i + 3 <= n; i += 3) {
    uint32_t v = (uint32_t)d[i] << 16 | (uint32_t)d[i + 1] << 8 | d[i + 2];
    out[o++] = t[v >> 18];
    out[o++] = t[(v >> 12) & 63];
    out[o++] = t[(v >> 6) & 63];
    out[o++] = t[v & 63];
  }
  out[o] = '\0';
}
