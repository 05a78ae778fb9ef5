/* auth.c: bearer tokens. A token is looked up by its sha256 (the only form
 * the store keeps, api_tokens.token_hash); the answer is cached per worker
 * for ACS__API_TOKEN_TTL_MS, so that the common API request costs no extra
 * round trip and a revoked token stops working within the TTL. Unknown
 * tokens are cached too (a flood of bad tokens costs one lookup per token
 * per TTL). */
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <uv.h>

#include "api/api_internal.h"
#include "core/acs_err.h"
#include "core/acs_log.h"

#define CACHE_SLOTS 256     /* direct-mapped by the hash's first bytes */
#define MAX_TOKEN_BYTES 512 /* longer Authorization values are refused unread */

typedef struct cache_entry {
  bool used;
  bool valid; /* false: unknown or revoked */
  unsigned char hash[32];
  long long id;
  char *name;
  acs__api_role role;
  uint64_t at; /* uv_now when verified */
} cache_entry;

struct acs_api_worker {
  uv_loop_t *loop;
  cache_entry slots[CACHE_SLOTS];
};

acs__api_role acs__api_role_parse(const char *s) {
  if (!s) return ACS__ROLE_NONE;
  if (strcmp(s, "readonly") == 0) return ACS__ROLE_READONLY;
  if (strcmp(s, "operator") == 0) return ACS__ROLE_OPERATOR;
  if (strcmp(s, "admin") == 0) return ACS__ROLE_ADMIN;
  return ACS__ROLE_NONE;
}

const char *acs__api_role_name(acs__api_role r) {
  switch (r) {
    case ACS__ROLE_READONLY:
      return "readonly";
    case ACS__ROLE_OPERATOR:
      return "operator";
    case ACS__ROLE_ADMIN:
      return "admin";
    default:
      return "none";
  }
}

void acs__api_sha256(const void *data, size_t n, unsigned char out[32]) {
  unsigned int len = 32;
  /* EVP_Digest fails only on allocation failure; a zero hash then matches
   * no stored token (the CHECK constraint allows only real ones anyway). */
  if (EVP_Digest(data, n, out, &len, EVP_sha256(), NULL) != 1) memset(out, 0, 32);
}

int acs_api_worker_init(acs_app_worker *aw) {
  acs_api_worker *api = calloc(1, sizeof *api);
  if (!api) return ACS_ENOMEM;
  api->loop = acs_worker_loop(aw->w);
  aw->api = api;
  return 0;
}

void acs_api_worker_stop(acs_app_worker *aw) {
  acs_api_worker *api = aw->api;
  if (!api) return;
  aw->api = NULL; /* statements still answered (cancelled) see no cache */
  for (size_t i = 0; i < CACHE_SLOTS; i++) free(api->slots[i].name);
  free(api);
}

static cache_entry *cache_slot(acs_api_worker *api, const unsigned char h[32]) {
  return &api->slots[(h[0] | (unsigned)h[1] << 8) % CACHE_SLOTS];
}

static void cache_put(acs_api_worker *api, const unsigned char h[32], bool valid, long long id,
                      const char *name, acs__api_role role) {
  if (!api) return;
  cache_entry *e = cache_slot(api, h);
  char *dup = NULL;
  if (valid && !(dup = strdup(name))) return;
  free(e->name);
  *e = (cache_entry){
      .used = true, .valid = valid, .id = id, .name = dup, .role = role, .at = uv_now(api->loop)};
  memcpy(e->hash, h, 32);
}

/* 1: valid (r filled in), 0: known bad, -1: not cached. */
static int cache_get(acs__api_req *r) {
  acs_api_worker *api = r->aw->api;
  if (!api) return -1;
  cache_entry *e = cache_slot(api, r->token_hash);
  if (!e->used || memcmp(e->hash, r->token_hash, 32) != 0) return -1;
  if (uv_now(api->loop) - e->at >= ACS__API_TOKEN_TTL_MS) return -1;
  if (!e->valid) return 0;
  if (!(r->token_name = strdup(e->name))) return -1;
  r->token_id = e->id;
  r->role = e->role;
  return 1;
}

/* The token's row if it is not revoked; last_used_at refreshed when older
 * than a minute (docs/storage.md: API reads must not become writes). */
static const char sql_lookup[] =
    "WITH t AS (SELECT id, name, role FROM api_tokens WHERE token_hash = $1::bytea AND "
    "revoked_at IS NULL), "
    "u AS (UPDATE api_tokens a SET last_used_at = now() FROM t WHERE a.id = t.id AND "
    "(a.last_used_at IS NULL OR a.last_used_at < now() - interval '1 minute')) "
    "SELECT id, name, role FROM t";

static void lookup_cb(acs_pg_result *res, void *arg) {
  acs__api_req *r = arg;
  if (acs__api_stmt_ok(r, res)) {
    r->found = res->ntuples == 1;
    if (r->found) {
      acs__api_role role = acs__api_role_parse(acs_pg_getvalue(res, 0, 2));
      r->token_id = strtoll(acs_pg_getvalue(res, 0, 0), NULL, 10);
      r->token_name = strdup(acs_pg_getvalue(res, 0, 1));
      r->role = r->token_name ? role : ACS__ROLE_NONE;
      if (r->token_name)
        cache_put(r->aw->api, r->token_hash, true, r->token_id, r->token_name, role);
    } else {
      cache_put(r->aw->api, r->token_hash, false, 0, NULL, ACS__ROLE_NONE);
    }
  }
  acs__api_stmt_done(r);
}

static void lookup_done(acs__api_req *r);

void acs__api_authenticate(acs__api_req *r, acs__api_step_fn next) {
  const char *h = acs_http_header_get(r->req, "Authorization");
  if (!h || !*h) {
    acs__api_error(r, 401, "missing bearer token (Authorization: Bearer TOKEN)");
    return;
  }
  if (strncasecmp(h, "Bearer ", 7) != 0) {
    acs__api_error(r, 401, "expected Authorization: Bearer TOKEN");
    return;
  }
  const char *tok = h + 7;
  while (*tok == ' ') tok++;
  size_t n = strlen(tok);
  if (n == 0 || n > MAX_TOKEN_BYTES || strchr(tok, ' ')) {
    acs__api_error(r, 401, "invalid or revoked token");
    return;
  }
  acs__api_sha256(tok, n, r->token_hash);
  switch (cache_get(r)) {
    case 1:
      next(r);
      return;
    case 0:
      acs__api_error(r, 401, "invalid or revoked token");
      return;
    default:
      break;
  }
  char hex[2 + 64 + 1] = "\\x";
  for (int i = 0; i < 32; i++) snprintf(hex + 2 + 2 * i, 3, "%02x", r->token_hash[i]);
  const char *params[1] = {hex};
  acs__api_step(r, lookup_done);
  r->after_auth = next;
  acs__api_query(r, sql_lookup, 1, params, lookup_cb);
  acs__api_step_queued(r);
}

static void lookup_done(acs__api_req *r) {
  if (r->pg_status) {
    acs__api_fail_store(r);
    return;
  }
  if (!r->found) {
    acs__api_error(r, 401, "invalid or revoked token");
    return;
  }
  if (!r->token_name) {
    acs__api_error(r, 500, "out of memory");
    return;
  }
  r->after_auth(r);
}
