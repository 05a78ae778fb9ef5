/* cpe_auth.c: the Inform's authentication (acs_cpe_auth.h): its
 * configuration, the device's credentials read from the store, the check,
 * the 401 and the lockouts.
 *
 * An Inform waiting for its device's credentials is held in a pending
 * record (its parse, its connection); the table's stop orphans the records
 * still waiting, whose answer is then a 503. */
#include <openssl/crypto.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/acs_err.h"
#include "core/acs_log.h"
#include "http/acs_digest.h"
#include "session/acs_auth_throttle.h"
#include "session/acs_cpe_auth.h"
#include "session/session_internal.h"

#define THROTTLE_SLOTS 4096
#define NONCE_SKEW_S 30

/* --- configuration */

static int cfg_fail(char *err, size_t n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int cfg_fail(char *err, size_t n, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  if (err && n) vsnprintf(err, n, fmt, ap);
  va_end(ap);
  return ACS_ECONFIG;
}

int acs_cpe_auth_init(acs_cpe_auth *a, const acs_config *cfg, const acs_secret_key *key, char *err,
                      size_t errlen) {
  memset(a, 0, sizeof *a);
  const char *on = cfg->cpe_auth ? cfg->cpe_auth : "off";
  if (!strcmp(on, "on") || !strcmp(on, "true") || !strcmp(on, "yes")) {
    a->on = true;
  } else if (strcmp(on, "off") && strcmp(on, "false") && strcmp(on, "no")) {
    return cfg_fail(err, errlen, "cpe_auth: '%s' is neither on nor off", on);
  }
  const char *basic = cfg->cpe_auth_basic ? cfg->cpe_auth_basic : "tls";
  if (!strcmp(basic, "tls")) {
    a->basic = ACS_CPE_BASIC_TLS;
  } else if (!strcmp(basic, "always")) {
    a->basic = ACS_CPE_BASIC_ALWAYS;
  } else if (!strcmp(basic, "off")) {
    a->basic = ACS_CPE_BASIC_OFF;
  } else {
    return cfg_fail(err, errlen, "cpe_auth_basic: '%s' is not tls, always or off", basic);
  }
  const char *realm = cfg->cpe_auth_realm ? cfg->cpe_auth_realm : "acsd";
  if (strlen(realm) >= sizeof a->realm || strpbrk(realm, "\"\\\r\n"))
    return cfg_fail(err, errlen,
                    "cpe_auth_realm: at most %zu characters, no quotes, backslashes "
                    "or line breaks",
                    sizeof a->realm - 1);
  snprintf(a->realm, sizeof a->realm, "%s", realm);
  if (!cfg->cpe_auth_username != !cfg->cpe_auth_password)
    return cfg_fail(err, errlen, "cpe_auth_username and cpe_auth_password go together");
  a->fleet_user = cfg->cpe_auth_username;
  a->fleet_pass = cfg->cpe_auth_password;
  if (cfg->cpe_auth_factory_key_file) {
    acs_secret_key fk;
    int rc = acs_secret_key_load(cfg->cpe_auth_factory_key_file, &fk);
    if (rc)
      return cfg_fail(err, errlen, "cpe_auth_factory_key_file %s: %s",
                      cfg->cpe_auth_factory_key_file,
                      rc == ACS_EINVAL ? "not a key (expected 64 hex digits, or exactly 32 bytes)"
                                       : acs_strerror(rc));
    memcpy(a->factory_key, fk.key, sizeof a->factory_key);
    OPENSSL_cleanse(&fk, sizeof fk);
    a->have_factory_key = true;
  }
  if (a->on && !a->fleet_user && !a->have_factory_key && !key)
    return cfg_fail(err, errlen,
                    "cpe_auth is on but no CPE could authenticate: configure cpe_auth_username and "
                    "cpe_auth_password, cpe_auth_factory_key_file, or secret_key_file (per-device "
                    "credentials)");
  if (key) {
    static const char label[] = "acsd cpe-auth nonce key v1";
    unsigned int n = 0;
    HMAC(EVP_sha256(), key->key, sizeof key->key, (const unsigned char *)label, sizeof label - 1,
         a->nonce_key, &n);
    a->nonce_key_shared = true;
  } else if (RAND_bytes(a->nonce_key, sizeof a->nonce_key) != 1) {
    return cfg_fail(err, errlen, "cpe_auth: no random bytes for the nonce key");
  }
  a->nonce_ttl_s = cfg->cpe_auth_nonce_ttl_s ? cfg->cpe_auth_nonce_ttl_s : 300;
  a->max_failures = cfg->cpe_auth_max_failures ? cfg->cpe_auth_max_failures : 5;
  a->lockout_s = cfg->cpe_auth_lockout_s ? cfg->cpe_auth_lockout_s : 60;
  if (a->on && !(a->by_addr = acs_auth_sketch_new(a->max_failures, a->lockout_s)))
    return cfg_fail(err, errlen, "cpe_auth: out of memory");
  return 0;
}

void acs_cpe_auth_clear(acs_cpe_auth *a) {
  acs_auth_sketch_free(a->by_addr);
  OPENSSL_cleanse(a, sizeof *a);
}

void acs_cpe_auth_factory_password(const unsigned char key[32], const char *serial, char out[33]) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  HMAC(EVP_sha256(), key, 32, (const unsigned char *)serial, strlen(serial), mac, &n);
  for (int i = 0; i < 16; i++) snprintf(out + 2 * i, 3, "%02x", mac[i]);
  OPENSSL_cleanse(mac, sizeof mac);
}

bool acs_cpe_auth_conn_is_tls(const acs_conn *c) { return acs_conn_is_tls(c); }

/* --- the worker's state */

typedef struct pending pending;

/* The last Digest nonce and nonce count each device authenticated with
 * (direct-mapped by device id: a collision forgets the older device). */
#define SEEN_SLOTS 2048
typedef struct seen {
  char device[96];
  char nonce[ACS_AUTH_NONCE_LEN + 1];
  unsigned long nc;
} seen;

struct acs__auth_state {
  const acs_cpe_auth *cfg;
  acs_auth_throttle *by_device;
  pending *waiting; /* Informs waiting for their device's credentials */
  seen *seen;       /* SEEN_SLOTS */
};

static seen *seen_slot(acs__auth_state *st, const char *device) {
  uint64_t h = 1469598103934665603ULL;
  for (const char *c = device; *c; c++) h = (h ^ (unsigned char)*c) * 1099511628211ULL;
  return &st->seen[h % SEEN_SLOTS];
}

struct pending {
  pending *prev, *next;
  acs__auth_state *st; /* NULL once the table stopped */
  acs_session_table *t;
  acs_conn *c;
  acs_arena arena;
  acs_cwmp_msg in;
  acs__auth_ok_fn ok;
  char *device_id, *serial;
  char peer[64];
  acs_auth_credentials cred;
  bool stale; /* the nonce is ours but old */
};

int acs__auth_state_new(acs_session_table *t, const acs_cpe_auth *cfg) {
  if (!cfg || !cfg->on) return 0;
  acs__auth_state *st = calloc(1, sizeof *st);
  if (!st) return ACS_ENOMEM;
  st->cfg = cfg;
  st->by_device = acs_auth_throttle_new(THROTTLE_SLOTS, cfg->max_failures, cfg->lockout_s);
  st->seen = calloc(SEEN_SLOTS, sizeof *st->seen);
  if (!st->by_device || !st->seen) {
    acs_auth_throttle_free(st->by_device);
    free(st->seen);
    free(st);
    return ACS_ENOMEM;
  }
  t->auth = st;
  return 0;
}

void acs__auth_state_stop(acs_session_table *t) {
  acs__auth_state *st = t->auth;
  if (!st) return;
  for (pending *p = st->waiting; p; p = p->next) {
    p->st = NULL;
    p->t = NULL;
  }
  acs_auth_throttle_free(st->by_device);
  free(st->seen);
  free(st);
  t->auth = NULL;
}

static void pending_free(pending *p) {
  if (p->st) {
    if (p->prev) {
      p->prev->next = p->next;
    } else {
      p->st->waiting = p->next;
    }
    if (p->next) p->next->prev = p->prev;
  }
  acs_arena_reset(&p->arena);
  free(p->device_id);
  free(p->serial);
  OPENSSL_cleanse(&p->cred, sizeof p->cred);
  free(p);
}

/* A Digest answer this worker has already accepted for the device: the same
 * nonce with a nonce count not above the last one (or without any). */
static bool replayed(acs__auth_state *st, const pending *p) {
  const seen *e = seen_slot(st, p->device_id);
  if (strncmp(e->device, p->device_id, sizeof e->device - 1) != 0) return false;
  if (strcmp(e->nonce, p->cred.nonce) != 0) return false;
  if (!p->cred.nc[0]) return true;
  return strtoul(p->cred.nc, NULL, 16) <= e->nc;
}

static void remember(acs__auth_state *st, const pending *p) {
  seen *e = seen_slot(st, p->device_id);
  snprintf(e->device, sizeof e->device, "%s", p->device_id);
  size_t n = strnlen(p->cred.nonce, sizeof e->nonce - 1); /* a nonce of ours: 50 */
  memcpy(e->nonce, p->cred.nonce, n);
  e->nonce[n] = '\0';
  e->nc = p->cred.nc[0] ? strtoul(p->cred.nc, NULL, 16) : 0;
}

/* --- answers */

static void refuse_503(acs_conn *c, unsigned retry_after, const char *why) {
  char extra[64], body[160];
  snprintf(extra, sizeof extra, "Retry-After: %u\r\n", retry_after ? retry_after : 1);
  int n = snprintf(body, sizeof body, "503 Service Unavailable: %s\n", why);
  acs_http_response r = {503, "text/plain; charset=utf-8", body, (size_t)n, false, extra};
  acs_conn_respond(c, &r);
}

/* 401 with fresh challenges; the second in a row on c closes it. */
static void challenge(acs_conn *c, const acs__auth_state *st, bool stale, bool failure) {
  const acs_cpe_auth *a = st->cfg;
  unsigned fails = acs_conn_auth_failures(c);
  if (failure) acs_conn_set_auth_failures(c, ++fails);
  char nonce[ACS_AUTH_NONCE_LEN + 1];
  unsigned char salt[4] = {0};
  if (RAND_bytes(salt, sizeof salt) != 1) { /* unique enough: a counter */
    static _Atomic unsigned n;
    unsigned v = atomic_fetch_add(&n, 1);
    memcpy(salt, &v, sizeof salt);
  }
  acs_auth_nonce_make(a->nonce_key, a->realm, (uint64_t)(acs_policy_now_ms() / 1000), salt, nonce);
  bool basic = a->basic == ACS_CPE_BASIC_ALWAYS ||
               (a->basic == ACS_CPE_BASIC_TLS && acs_cpe_auth_conn_is_tls(c));
  acs_buf h = ACS_BUF_INIT;
  acs_auth_challenge_write(a->realm, nonce, stale, basic, &h);
  static const char body[] = "401 Unauthorized\n";
  acs_http_response r = {401,       "text/plain; charset=utf-8",    body, sizeof body - 1,
                         fails < 2, acs_buf_err(&h) ? NULL : h.data};
  acs_conn_respond(c, &r);
  acs_buf_free(&h);
}

/* --- the check */

static bool basic_allowed(const acs__auth_state *st, const acs_conn *c) {
  const acs_cpe_auth *a = st->cfg;
  return a->basic == ACS_CPE_BASIC_ALWAYS ||
         (a->basic == ACS_CPE_BASIC_TLS && acs_cpe_auth_conn_is_tls(c));
}

/* Do the credentials carry user (NULL: any) and pass? */
static bool matches(const pending *p, const char *user, const char *pass) {
  const acs_auth_credentials *cr = &p->cred;
  if (user && strcmp(cr->username, user) != 0) return false;
  if (cr->scheme == ACS_AUTH_BASIC) return acs_auth_basic_check(cr, cr->username, pass);
  char ha1[33];
  acs_auth_ha1(cr->username, cr->realm, pass, ha1);
  bool ok = acs_auth_digest_check(cr, ha1, "POST");
  OPENSSL_cleanse(ha1, sizeof ha1);
  return ok;
}

/* A username for the log: printable ASCII only, at most 64 characters (it
 * comes from anyone). */
static void log_safe(const char *in, char out[65]) {
  size_t i = 0;
  for (; in[i] && i < 64; i++) out[i] = in[i] >= 0x20 && in[i] < 0x7f ? in[i] : '?';
  out[i] = '\0';
}

/* The verdict, with the device's own credentials (have_own: they exist;
 * own_user NULL: any username). */
static void decide(pending *p, bool have_own, const char *own_user, const char *own_pass) {
  acs__auth_state *st = p->st;
  const acs_cpe_auth *a = st->cfg;
  uint64_t now = (uint64_t)(acs_policy_now_ms() / 1000);
  const char *how = NULL;
  if (have_own) {
    if (matches(p, own_user, own_pass)) how = "its own credentials";
  } else {
    if (a->fleet_user && matches(p, a->fleet_user, a->fleet_pass)) how = "the fleet credentials";
    if (!how && a->have_factory_key && strcmp(p->cred.username, p->serial) == 0) {
      char fp[33];
      acs_cpe_auth_factory_password(a->factory_key, p->serial, fp);
      if (matches(p, p->serial, fp)) how = "its factory credential";
      OPENSSL_cleanse(fp, sizeof fp);
    }
  }
  if (how && p->stale) {
    /* right, but with an old nonce: a fresh one, not counted as a failure */
    challenge(p->c, st, true, false);
    return;
  }
  if (how && p->cred.scheme == ACS_AUTH_DIGEST && replayed(st, p)) {
    /* an answer already used: a fresh challenge, counted for the connection */
    char nc[65];
    log_safe(p->cred.nc[0] ? p->cred.nc : "none", nc);
    acs_log(ACS_LOG_WARN, "auth",
            "%s from %s: a Digest answer already used (nonce count %s): "
            "challenged again",
            p->device_id, p->peer, nc);
    challenge(p->c, st, false, true);
    return;
  }
  if (!how) {
    unsigned na = acs_auth_sketch_fail(a->by_addr, p->peer, now);
    unsigned nd = acs_auth_throttle_fail(st->by_device, p->device_id, now);
    char user[65];
    log_safe(p->cred.username, user);
    acs_log(ACS_LOG_WARN, "auth",
            "%s from %s: wrong credentials (user '%s', %s; %u from the "
            "address, %u for the device)",
            p->device_id, p->peer, user, p->cred.scheme == ACS_AUTH_BASIC ? "Basic" : "Digest", na,
            nd);
    challenge(p->c, st, false, true);
    return;
  }
  acs_log(ACS_LOG_DEBUG, "auth", "%s from %s: authenticated with %s (%s)", p->device_id, p->peer,
          how, p->cred.scheme == ACS_AUTH_BASIC ? "Basic" : "Digest");
  acs_auth_throttle_clear(st->by_device, p->device_id);
  if (p->cred.scheme == ACS_AUTH_DIGEST) remember(st, p);
  acs_conn_set_auth_failures(p->c, 0);
  acs_conn *c = p->c;
  p->c = NULL;
  p->ok(c, p->t, &p->arena, &p->in);
}

static int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* Opens the sealed value at row i (name, hex, key id) into out: 0, 1 when
 * sealed under another key, or an error. */
static int open_row(const pending *p, const acs_secret_key *key, const acs_pg_result *r, int i,
                    acs_buf *out) {
  const char *name = acs_pg_getvalue(r, i, 0), *hex = acs_pg_getvalue(r, i, 1);
  if (!key || strcmp(acs_pg_getvalue(r, i, 2), key->id) != 0) return 1;
  size_t n = strlen(hex) / 2;
  unsigned char *ct = malloc(n + 1);
  acs_buf aad = ACS_BUF_INIT;
  int rc = ct ? 0 : ACS_ENOMEM;
  for (size_t j = 0; rc == 0 && j < n; j++) {
    int hi = hexval(hex[2 * j]), lo = hexval(hex[2 * j + 1]);
    if (hi < 0 || lo < 0) rc = ACS_EINVAL;
    ct[j] = (unsigned char)(hi << 4 | lo);
  }
  acs_secret_aad(p->device_id, name, &aad);
  if (rc == 0) rc = acs_buf_err(&aad);
  if (rc == 0) rc = acs_secret_open(key, aad.data, ct, n, out);
  if (rc == 0 && out->data && strlen(out->data) != out->len) rc = ACS_EINVAL;
  acs_buf_free(&aad);
  free(ct);
  return rc;
}

static void lookup_cb(acs_pg_result *r, void *arg) {
  pending *p = arg;
  if (!p->st) {
    refuse_503(p->c, 1, "acsd is stopping");
    pending_free(p);
    return;
  }
  if (r->status) {
    acs_log(ACS_LOG_WARN, "auth", "%s: credentials not read: %s", p->device_id, r->error);
    refuse_503(p->c, p->t->aw->app->cfg->retry_after_s, "store unavailable");
    pending_free(p);
    return;
  }
  const acs_secret_key *key = acs_app_secret_key(p->t->aw->app);
  acs_buf user = ACS_BUF_INIT, pass = ACS_BUF_INIT;
  bool have_user = false, have_pass = false, broken = false;
  for (int i = 0; i < r->ntuples && !broken; i++) {
    const char *name = acs_pg_getvalue(r, i, 0);
    bool is_pass = strlen(name) > 8 && !strcmp(name + strlen(name) - 8, "Password");
    acs_buf *out = is_pass ? &pass : &user;
    if ((is_pass && have_pass) || (!is_pass && have_user)) continue;
    acs_buf_reset(out);
    int rc = open_row(p, key, r, i, out);
    if (rc == 1) {
      acs_log(ACS_LOG_WARN, "auth", "%s: %s is sealed under key %.16s, not this one: ignored",
              p->device_id, name, acs_pg_getvalue(r, i, 2));
    } else if (rc) {
      acs_log(ACS_LOG_ERR, "auth",
              "%s: %s does not open (altered, or not this device's): "
              "refused",
              p->device_id, name);
      broken = true;
    } else {
      *(is_pass ? &have_pass : &have_user) = true;
    }
  }
  if (broken) {
    challenge(p->c, p->st, false, true);
  } else {
    decide(p, have_pass, have_user ? (user.data ? user.data : "") : NULL,
           pass.data ? pass.data : "");
  }
  acs_secret_buf_free(&user);
  acs_secret_buf_free(&pass);
  pending_free(p);
}

/* Is a Digest uri the request's target? Some CPEs send the absolute URL
 * (http://acs.example:7547/cwmp) where the target is its path. */
static bool uri_is_target(const char *uri, const char *target) {
  if (strcmp(uri, target) == 0) return true;
  const char *p = NULL;
  if (!strncasecmp(uri, "http://", 7)) p = uri + 7;
  if (!strncasecmp(uri, "https://", 8)) p = uri + 8;
  if (!p) return false;
  p += strcspn(p, "/");
  return *p ? strcmp(p, target) == 0 : strcmp(target, "/") == 0;
}

static const char sql_creds[] =
    "SELECT name, encode(ciphertext, 'hex'), key_id FROM device_secrets "
    "WHERE device_id = $1 AND name IN ($2, $3, $4, $5) ORDER BY name";

void acs__auth_inform(acs_conn *c, acs_session_table *t, const acs_http_request *req, acs_arena *a,
                      acs_cwmp_msg *in, const char *device_id, acs__auth_ok_fn ok) {
  acs__auth_state *st = t->auth;
  const acs_cpe_auth *cfg = st->cfg;
  uint64_t now = (uint64_t)(acs_policy_now_ms() / 1000);
  const char *peer = acs_conn_peer(c);
  unsigned wait_a = acs_auth_sketch_blocked(cfg->by_addr, peer, now);
  unsigned wait_d = acs_auth_throttle_blocked(st->by_device, device_id, now);
  if (wait_a || wait_d) {
    acs_log(ACS_LOG_INFO, "auth", "%s from %s: refused for %u s (too many wrong credentials %s)",
            device_id, peer, wait_a > wait_d ? wait_a : wait_d,
            wait_a ? "from this address" : "for this device");
    acs_metrics_rejected(t->aw->metrics, "too many failed authentications");
    refuse_503(c, wait_a > wait_d ? wait_a : wait_d, "too many failed authentications");
    return;
  }
  pending *p = calloc(1, sizeof *p);
  if (!p || !(p->device_id = strdup(device_id)) ||
      !(p->serial = strdup(in->u.inform.device_id.serial_number))) {
    if (p) free(p->device_id);
    free(p);
    refuse_503(c, t->aw->app->cfg->retry_after_s, "out of memory");
    return;
  }
  p->st = st;
  p->t = t;
  p->c = c;
  p->ok = ok;
  snprintf(p->peer, sizeof p->peer, "%s", peer);
  const char *h = acs_http_header_get(req, "Authorization");
  const char *why = NULL;
  if (!h) {
    why = "no credentials";
  } else if (acs_auth_credentials_parse(h, &p->cred)) {
    why = "an Authorization header not understood";
  } else if (p->cred.scheme == ACS_AUTH_BASIC && !basic_allowed(st, c)) {
    why = "Basic refused on a connection without TLS";
  } else if (p->cred.scheme == ACS_AUTH_DIGEST) {
    if (strcmp(p->cred.realm, cfg->realm) != 0) {
      why = "another realm";
    } else if (!uri_is_target(p->cred.uri, req->target)) {
      why = "a Digest uri that is not the request's";
    } else {
      int rc = acs_auth_nonce_check(cfg->nonce_key, cfg->realm, p->cred.nonce, now,
                                    cfg->nonce_ttl_s, NONCE_SKEW_S, NULL);
      if (rc == ACS_ETIMEOUT) {
        p->stale = true;
      } else if (rc) {
        why = "a nonce acsd did not make";
      }
    }
  }
  if (why) {
    acs_log(ACS_LOG_DEBUG, "auth", "%s from %s: 401 (%s)", device_id, peer, why);
    challenge(c, st, false, true);
    OPENSSL_cleanse(&p->cred, sizeof p->cred);
    free(p->device_id);
    free(p->serial);
    free(p);
    return;
  }
  /* the Inform's parse waits with us */
  p->arena = *a;
  acs_arena_init(a, 0);
  p->in = *in;
  p->next = st->waiting;
  if (st->waiting) st->waiting->prev = p;
  st->waiting = p;
  acs_pg *pg = t->aw->pg;
  if (!pg) { /* no store: no device credentials */
    decide(p, false, NULL, NULL);
    pending_free(p);
    return;
  }
  const char *params[5] = {device_id, "Device.ManagementServer.Password",
                           "Device.ManagementServer.Username",
                           "InternetGatewayDevice.ManagementServer.Password",
                           "InternetGatewayDevice.ManagementServer.Username"};
  int rc = acs_pg_query(pg, sql_creds, 5, params, ACS_PG_FAILFAST, lookup_cb, p);
  if (rc) {
    refuse_503(c, t->aw->app->cfg->retry_after_s, "store unavailable");
    pending_free(p);
  }
}
