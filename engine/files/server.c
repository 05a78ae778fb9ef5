/* server.c: the file server (acs_files_handle): GET and HEAD /files/{name}
 * for CPEs, behind per-download credentials.
 *
 * A request is authenticated against the grant its user name names (one
 * statement on the worker's files connection: the grant and its file), then
 * answered whole (200), in part (206, one range), not at all (304, 416), or
 * refused (401). The body goes out in slices of at most ACS_FILES_SLICE
 * bytes read from the file's chunk rows, two buffers per download: while
 * one slice is written to the CPE the next is fetched. So a download holds
 * at most two slices in memory whatever the file's size, and a CPE that
 * reads slowly slows its own fetches only.
 *
 * Digest nonces are stateless ("<16 hex: unix time><16 hex: random>"), so
 * any instance checks any nonce: a nonce is fresh for NONCE_TTL_S; an older
 * one with a right response gets 401 with stale=true (the client retries
 * without asking its user). A replay within that window is possible, as with
 * any stateless nonce; it only fetches the same file again, with the same
 * grant. */
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/acs_err.h"
#include "core/acs_log.h"
#include "files/files_internal.h"
#include "http/acs_digest.h"
#include "http/acs_http_range.h"
#include "net/acs_health.h"

#define NONCE_TTL_S 600

static const char prefix[] = "/files/";

typedef struct fsend fsend;

/* One request, from its lookup to its last byte. */
typedef struct freq {
  acs_conn *c;
  const acs_http_request *req;
  acs_app_worker *aw;
  acs_pg *pg;
  bool head;
  char name[160];
  acs_auth_credentials cred;
} freq;

/* A body being sent: slices fetched into two buffers, one written while
 * the other is fetched. */
struct fsend {
  acs_conn *c; /* NULL once the connection is gone */
  acs_pg *pg;
  char id[24];
  uint32_t chunk;
  uint64_t next, end; /* next byte to fetch, one past the last */
  uint64_t sent, total;
  char *buf[2];
  size_t len[2];
  int writing; /* slot being written, or -1 */
  int ready;   /* slot fetched and waiting to be written, or -1 */
  int fetch;   /* slot being fetched, or -1 */
  bool failed;
  char name[160];
  char user[256];
};

/* --- answers */

static void reply(acs_conn *c, int status, const char *extra, const char *text) {
  char body[160];
  int n = snprintf(body, sizeof body, "%d %s%s%s\n", status, acs_http_reason(status),
                   text ? ": " : "", text ? text : "");
  acs_http_response r = {
      .status = status,
      .content_type = "text/plain; charset=utf-8",
      .body = body,
      .body_len = n > 0 && (size_t)n < sizeof body ? (size_t)n : 0,
      .keep_alive = true,
      .extra_headers = extra,
  };
  const acs_http_request *req = acs_conn_request(c);
  if (req && strcmp(req->method, "HEAD") == 0) {
    acs_conn_stream_start(c, &r, r.body_len, false); /* the head only */
    return;
  }
  acs_conn_respond(c, &r);
}

/* 401 with both challenges (Digest first: clients take the strongest they
 * know). */
static void reply_401(acs_conn *c, bool stale) {
  unsigned char rnd[8];
  if (RAND_bytes(rnd, sizeof rnd) != 1) memset(rnd, 0, sizeof rnd);
  char extra[512];
  snprintf(extra, sizeof extra,
           "WWW-Authenticate: Digest realm=\"" ACS_FILES_REALM
           "\", qop=\"auth\", "
           "algorithm=MD5, nonce=\"%016llx%02x%02x%02x%02x%02x%02x%02x%02x\"%s\r\n"
           "WWW-Authenticate: Basic realm=\"" ACS_FILES_REALM "\"\r\n",
           (unsigned long long)time(NULL), rnd[0], rnd[1], rnd[2], rnd[3], rnd[4], rnd[5], rnd[6],
           rnd[7], stale ? ", stale=true" : "");
  reply(c, 401, extra, "credentials of a download needed");
}

static bool nonce_fresh(const char *nonce) {
  if (strlen(nonce) != 32) return false;
  char t[17];
  memcpy(t, nonce, 16);
  t[16] = '\0';
  char *end;
  unsigned long long at = strtoull(t, &end, 16);
  if (*end) return false;
  long long age = (long long)time(NULL) - (long long)at;
  return age >= -60 && age <= NONCE_TTL_S;
}

/* The Digest uri names this request: its target, or an absolute URI with
 * that path. */
static bool uri_is_target(const char *uri, const char *target) {
  if (strcmp(uri, target) == 0) return true;
  const char *p = strstr(uri, "://");
  if (!p) return false;
  p = strchr(p + 3, '/');
  return p && strcmp(p, target) == 0;
}

/* --- sending the body */

static void send_free(fsend *s) {
  free(s->buf[0]);
  free(s->buf[1]);
  free(s);
}

/* Gives up: the connection closes (a short body tells the CPE). */
static void send_fail(fsend *s, const char *why) {
  acs_log(ACS_LOG_WARN, "files", "%s: %s after %llu of %llu bytes", s->name, why,
          (unsigned long long)s->sent, (unsigned long long)s->total);
  s->failed = true;
  if (s->c && s->writing < 0) {
    acs_conn_stream_abort(s->c);
    s->c = NULL;
  }
}

/* Frees s once nothing of it is in flight. */
static bool send_settle(fsend *s) {
  if (s->fetch >= 0 || s->writing >= 0) return false;
  if (s->c && s->failed) {
    acs_conn_stream_abort(s->c);
    s->c = NULL;
  }
  if (!s->c || s->sent == s->total) {
    send_free(s);
    return true;
  }
  return false;
}

static void send_next(fsend *s);

static void write_cb(acs_conn *c, int status, void *arg) {
  fsend *s = arg;
  (void)c;
  s->sent += s->len[s->writing];
  s->writing = -1;
  if (status) {
    s->c = NULL; /* gone with the connection */
    acs_log(ACS_LOG_DEBUG, "files", "%s: the CPE went away after %llu of %llu bytes", s->name,
            (unsigned long long)s->sent, (unsigned long long)s->total);
  } else if (s->sent == s->total) {
    s->c = NULL; /* the answer is complete: no longer ours */
    acs_log(ACS_LOG_INFO, "files", "%s: %llu bytes sent to %s", s->name,
            (unsigned long long)s->total, s->user);
  }
  if (send_settle(s)) return;
  send_next(s);
}

static void slice_cb(acs_pg_result *res, void *arg) {
  fsend *s = arg;
  int slot = s->fetch;
  s->fetch = -1;
  size_t want = (size_t)(s->end - s->next < ACS_FILES_SLICE ? s->end - s->next : ACS_FILES_SLICE);
  uint64_t in_chunk = s->chunk - s->next % s->chunk;
  if (want > in_chunk) want = (size_t)in_chunk;
  if (res->status || res->ntuples != 1 || (size_t)acs_pg_getlength(res, 0, 0) != want) {
    if (!s->failed) send_fail(s, res->status ? res->error : "a chunk is missing");
  } else if (s->c && !s->failed) {
    memcpy(s->buf[slot], acs_pg_getvalue(res, 0, 0), want);
    s->len[slot] = want;
    s->next += want;
    s->ready = slot;
  }
  if (send_settle(s)) return;
  send_next(s);
}

/* Writes what is ready and fetches what is next, each when its slot is
 * free. */
static void send_next(fsend *s) {
  if (!s->c || s->failed) return;
  if (s->writing < 0 && s->ready >= 0) {
    int slot = s->ready;
    s->ready = -1;
    s->writing = slot;
    if (acs_conn_stream_write(s->c, s->buf[slot], s->len[slot], write_cb, s)) {
      s->writing = -1;
      s->c = NULL; /* the connection had closed */
      send_settle(s);
      return;
    }
  }
  if (s->fetch < 0 && s->ready < 0 && s->next < s->end) {
    int slot = s->writing == 0 ? 1 : 0;
    uint64_t seq = s->next / s->chunk, off = s->next % s->chunk;
    uint64_t n = s->end - s->next;
    if (n > ACS_FILES_SLICE) n = ACS_FILES_SLICE;
    if (n > s->chunk - off) n = s->chunk - off;
    char sq[24], from[24], len[24];
    snprintf(sq, sizeof sq, "%llu", (unsigned long long)seq);
    snprintf(from, sizeof from, "%llu", (unsigned long long)off + 1);
    snprintf(len, sizeof len, "%llu", (unsigned long long)n);
    const char *p[4] = {s->id, sq, from, len};
    static const char sql[] =
        "SELECT substring(data FROM $3::int FOR $4::int) FROM file_chunks\n"
        "WHERE file_id = $1::bigint AND seq = $2::int";
    s->fetch = slot;
    if (acs_pg_query_bin(s->pg, sql, 4, p, NULL, ACS_PG_BINARY_RESULT | acs__files_flags(s->pg),
                         slice_cb, s)) {
      s->fetch = -1;
      send_fail(s, "store unavailable");
      send_settle(s);
    }
  }
}

static void send_start(freq *q, const acs_http_response *r, const char *id, uint32_t chunk,
                       uint64_t first, uint64_t count) {
  fsend *s = calloc(1, sizeof *s);
  if (s) {
    s->buf[0] = malloc(ACS_FILES_SLICE);
    s->buf[1] = malloc(ACS_FILES_SLICE);
  }
  if (!s || !s->buf[0] || !s->buf[1]) {
    if (s) send_free(s);
    reply(q->c, 500, NULL, "out of memory");
    return;
  }
  if (acs_conn_stream_start(q->c, r, count, true)) {
    send_free(s);
    return;
  }
  s->c = q->c;
  s->pg = q->pg;
  snprintf(s->id, sizeof s->id, "%s", id);
  snprintf(s->name, sizeof s->name, "%s", q->name);
  snprintf(s->user, sizeof s->user, "%s", q->cred.username);
  s->chunk = chunk;
  s->next = first;
  s->end = first + count;
  s->total = count;
  s->writing = s->ready = s->fetch = -1;
  if (count == 0) { /* the answer went out with its head */
    send_free(s);
    return;
  }
  send_next(s);
}

/* --- the request */

static void freq_free(freq *q) {
  OPENSSL_cleanse(&q->cred, sizeof q->cred);
  free(q);
}

enum { C_ID, C_SIZE, C_SHA, C_CHUNK, C_HA1, C_LIVE, C_MODIFIED };

static const char sql_lookup[] =
    "SELECT f.id, f.size, f.sha256, f.chunk_size, g.ha1, g.expires_at > now(),\n"
    "  to_char(f.created_at AT TIME ZONE 'UTC', 'Dy, DD Mon YYYY HH24:MI:SS \"GMT\"')\n"
    "FROM file_grants g JOIN files f ON f.id = g.file_id\n"
    "WHERE g.username = $1 AND f.name = $2 AND f.complete";

static bool credentials_ok(const freq *q, const char *ha1) {
  const acs_auth_credentials *a = &q->cred;
  if (a->scheme == ACS_AUTH_BASIC) {
    char got[33];
    acs_auth_ha1(a->username, ACS_FILES_REALM, a->password, got);
    return strlen(ha1) == 32 && CRYPTO_memcmp(got, ha1, 32) == 0;
  }
  return acs_auth_digest_check(a, ha1, q->req->method);
}

static void lookup_cb(acs_pg_result *res, void *arg) {
  freq *q = arg;
  acs_conn *c = q->c;
  if (res->status) {
    if (res->status == ACS_EPG) acs_log(ACS_LOG_ERR, "files", "lookup: %s", res->error);
    reply(c, res->status == ACS_EPG ? 500 : 503,
          res->status == ACS_EPG ? NULL : "Retry-After: 5\r\n", "store unavailable");
    freq_free(q);
    return;
  }
  /* no grant of that user for that file, or not these credentials: the
   * same answer, so that it tells nothing about which files exist */
  bool live = res->ntuples == 1 && acs_pg_getvalue(res, 0, C_LIVE)[0] == 't';
  if (!live || !credentials_ok(q, acs_pg_getvalue(res, 0, C_HA1))) {
    acs_log(ACS_LOG_DEBUG, "files", "%s: refused %s (%s)", q->name, q->cred.username,
            res->ntuples != 1 ? "no grant"
            : !live           ? "expired"
                              : "wrong credentials");
    reply_401(c, false);
    freq_free(q);
    return;
  }
  if (q->cred.scheme == ACS_AUTH_DIGEST && !nonce_fresh(q->cred.nonce)) {
    reply_401(c, true);
    freq_free(q);
    return;
  }
  uint64_t size = strtoull(acs_pg_getvalue(res, 0, C_SIZE), NULL, 10);
  char etag[72];
  snprintf(etag, sizeof etag, "\"%s\"", acs_pg_getvalue(res, 0, C_SHA));
  char extra[512];
  int n = snprintf(extra, sizeof extra, "ETag: %s\r\nLast-Modified: %s\r\nAccept-Ranges: bytes\r\n",
                   etag, acs_pg_getvalue(res, 0, C_MODIFIED));
  const char *inm = acs_http_header_get(q->req, "If-None-Match");
  acs_http_response r = {.status = 200,
                         .content_type = "application/octet-stream",
                         .keep_alive = true,
                         .extra_headers = extra};
  if (inm && acs_http_etag_match(inm, etag, true)) {
    r.status = 304;
    r.content_type = NULL;
    acs_conn_respond(c, &r);
    freq_free(q);
    return;
  }
  uint64_t first = 0, last = size ? size - 1 : 0, count = size;
  const char *range = acs_http_header_get(q->req, "Range");
  const char *if_range = acs_http_header_get(q->req, "If-Range");
  if (range && (!if_range || acs_http_etag_match(if_range, etag, false))) {
    switch (acs_http_range_parse(range, size, &first, &last)) {
      case ACS_RANGE_OK:
        r.status = 206;
        count = last - first + 1;
        snprintf(extra + n, sizeof extra - (size_t)n, "Content-Range: bytes %llu-%llu/%llu\r\n",
                 (unsigned long long)first, (unsigned long long)last, (unsigned long long)size);
        break;
      case ACS_RANGE_UNSATISFIABLE:
        snprintf(extra + n, sizeof extra - (size_t)n, "Content-Range: bytes */%llu\r\n",
                 (unsigned long long)size);
        reply(c, 416, extra, NULL);
        freq_free(q);
        return;
      case ACS_RANGE_IGNORE:
        first = 0;
        break;
    }
  }
  long chunk = strtol(acs_pg_getvalue(res, 0, C_CHUNK), NULL, 10);
  if (chunk <= 0) {
    reply(c, 500, NULL, "bad chunk size");
  } else if (q->head) {
    acs_conn_stream_start(c, &r, count, false);
  } else {
    send_start(q, &r, acs_pg_getvalue(res, 0, C_ID), (uint32_t)chunk, first, count);
  }
  freq_free(q);
}

void acs_files_handle(acs_conn *c, const acs_http_request *req, void *ctx) {
  (void)ctx;
  if (acs_health_try(c, req)) return;
  bool head = strcmp(req->method, "HEAD") == 0;
  if (!head && strcmp(req->method, "GET") != 0) {
    reply(c, 405, "Allow: GET, HEAD\r\n", NULL);
    return;
  }
  acs_buf name = ACS_BUF_INIT;
  bool found = strncmp(req->path, prefix, sizeof prefix - 1) == 0 &&
               acs_http_url_decode(req->path + sizeof prefix - 1,
                                   strlen(req->path + sizeof prefix - 1), false, &name) == 0 &&
               name.data && acs_files_name_ok(name.data);
  if (!found) {
    acs_buf_free(&name);
    reply(c, 404, NULL, NULL);
    return;
  }
  acs_app_worker *aw = acs_app_worker_of(acs_conn_worker(c));
  freq *q = calloc(1, sizeof *q);
  if (!q) {
    acs_buf_free(&name);
    reply(c, 500, NULL, "out of memory");
    return;
  }
  q->c = c;
  q->req = req;
  q->aw = aw;
  q->head = head;
  snprintf(q->name, sizeof q->name, "%s", name.data);
  acs_buf_free(&name);
  const char *auth = acs_http_header_get(req, "Authorization");
  acs_auth_credentials *a = &q->cred;
  if (!auth || acs_auth_credentials_parse(auth, a) ||
      (a->scheme == ACS_AUTH_DIGEST &&
       (strcmp(a->realm, ACS_FILES_REALM) != 0 || !uri_is_target(a->uri, req->target)))) {
    freq_free(q);
    reply_401(c, false);
    return;
  }
  q->pg = aw ? acs_files_pg(aw) : NULL;
  if (!q->pg) {
    freq_free(q);
    reply(c, 503, "Retry-After: 30\r\n", "no store configured");
    return;
  }
  const char *p[2] = {a->username, q->name};
  int rc = acs_pg_query(q->pg, sql_lookup, 2, p, acs__files_flags(q->pg), lookup_cb, q);
  if (rc) {
    freq_free(q);
    reply(c, 503, "Retry-After: 5\r\n", "store unavailable");
  }
}
