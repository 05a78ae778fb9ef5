/* tls.c: TLS server contexts and TLS connections over libuv streams
 * (acs_tls.h).
 *
 * A connection's SSL talks to two memory BIOs: what the socket reads is
 * written into the read BIO, and what OpenSSL produces (handshake
 * messages, records, alerts) is taken from the write BIO and written to the
 * socket as one uv_write of its own (a heap block freed by its callback).
 * The HTTP code above never sees TLS: conn.c hands its plaintext through.
 *
 * Contexts are reference counted by OpenSSL itself: acs_tls holds one
 * reference on the current SSL_CTX, every SSL one more. A reload builds a
 * new SSL_CTX and swaps the pointer under a lock; the old one is freed when
 * its last connection is.
 *
 * Ticket keys travel with their SSL_CTX (ex_data, freed with it): the
 * first key seals new tickets, any key opens one (an older key's ticket is
 * renewed, as is every TLS 1.3 ticket). A ticket key file holds one or more 80-byte keys (16 bytes
 * of name, 32 of HMAC-SHA256 key, 32 of AES-256 key: the layout nginx's ssl_session_ticket_key
 * uses); `openssl rand 80 > ticket.key` makes one. */
#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "core/acs_err.h"
#include "core/acs_log.h"
#include "net/acs_tls.h"

#define TICKET_KEY_LEN 80
#define MAX_TICKET_KEYS 8
#define CIPHERS_TLS12 "ECDHE+AESGCM:ECDHE+CHACHA20:!aNULL:!eNULL"

typedef struct ticket_key {
  unsigned char name[16], hmac[32], aes[32];
} ticket_key;

typedef struct ticket_keys {
  size_t n;
  ticket_key k[MAX_TICKET_KEYS];
} ticket_keys;

struct acs_tls {
  pthread_rwlock_t lock;
  SSL_CTX *ctx; /* current; one reference held */
  char *cert_file, *key_file, *client_ca_file, *ticket_key_file, *name;
  acs_tls_client_mode client_mode;
  unsigned session_cache;
  ticket_keys own; /* without a ticket key file: drawn once, kept across reloads */
};

struct acs_tls_conn {
  SSL *ssl;
  BIO *rbio, *wbio; /* owned by ssl */
  bool established, failed, shut;
  acs_tls_peer *peer; /* verified client certificate, or NULL */
};

/* --- errors */

/* OpenSSL's error queue as one line into err (and emptied). */
static int ssl_fail(char *err, size_t errlen, const char *what, const char *file) {
  char reason[256] = "";
  unsigned long e = ERR_get_error();
  if (e) ERR_error_string_n(e, reason, sizeof reason);
  ERR_clear_error();
  if (err && errlen)
    snprintf(err, errlen, "%s%s%s: %s", what, file ? " " : "", file ? file : "",
             *reason ? reason : "failed");
  return ACS_ECONFIG;
}

/* --- ticket keys */

static int keys_index = -1;
static pthread_once_t keys_once = PTHREAD_ONCE_INIT;

static void keys_free_cb(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl,
                         void *argp) {
  (void)parent, (void)ad, (void)idx, (void)argl, (void)argp;
  if (ptr) {
    OPENSSL_cleanse(ptr, sizeof(ticket_keys));
    free(ptr);
  }
}

static void keys_index_init(void) {
  keys_index = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, keys_free_cb);
}

static int ticket_cb(SSL *ssl, unsigned char *key_name, unsigned char *iv, EVP_CIPHER_CTX *cctx,
                     EVP_MAC_CTX *hctx, int enc) {
  const ticket_keys *keys = SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), keys_index);
  if (!keys || keys->n == 0) return -1;
  const ticket_key *k = NULL;
  int rc = 1;
  if (enc) {
    k = &keys->k[0];
    memcpy(key_name, k->name, sizeof k->name);
    if (RAND_bytes(iv, EVP_MAX_IV_LENGTH) != 1) return -1;
    if (EVP_EncryptInit_ex(cctx, EVP_aes_256_cbc(), NULL, k->aes, iv) != 1) return -1;
  } else {
    for (size_t i = 0; i < keys->n && !k; i++) {
      if (memcmp(key_name, keys->k[i].name, sizeof keys->k[i].name) == 0) {
        k = &keys->k[i];
        /* 2: a new ticket goes out, for a ticket sealed with an older key,
         * and always in TLS 1.3, whose clients use a ticket once (OpenSSL's
         * own client does): without one they could not resume again */
        rc = i == 0 && SSL_version(ssl) < TLS1_3_VERSION ? 1 : 2;
      }
    }
    if (!k) return 0; /* unknown key: a full handshake */
    if (EVP_DecryptInit_ex(cctx, EVP_aes_256_cbc(), NULL, k->aes, iv) != 1) return -1;
  }
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, (void *)k->hmac, sizeof k->hmac),
      OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0),
      OSSL_PARAM_construct_end(),
  };
  if (EVP_MAC_CTX_set_params(hctx, params) != 1) return -1;
  return rc;
}

static int load_ticket_keys(const char *path, ticket_keys *out, char *err, size_t errlen) {
  unsigned char buf[TICKET_KEY_LEN * MAX_TICKET_KEYS + 1];
  FILE *f = fopen(path, "rb");
  if (!f) {
    snprintf(err, errlen, "TLS ticket key file %s: %s", path, strerror(errno));
    return ACS_ECONFIG;
  }
  size_t n = fread(buf, 1, sizeof buf, f);
  fclose(f);
  int rc = 0;
  if (n == 0 || n % TICKET_KEY_LEN || n > TICKET_KEY_LEN * MAX_TICKET_KEYS) {
    snprintf(err, errlen,
             "TLS ticket key file %s: %zu bytes; expected 1 to %d keys of %d bytes "
             "(openssl rand 80)",
             path, n, MAX_TICKET_KEYS, TICKET_KEY_LEN);
    rc = ACS_ECONFIG;
  } else {
    out->n = n / TICKET_KEY_LEN;
    for (size_t i = 0; i < out->n; i++) {
      const unsigned char *p = buf + i * TICKET_KEY_LEN;
      memcpy(out->k[i].name, p, 16);
      memcpy(out->k[i].hmac, p + 16, 32);
      memcpy(out->k[i].aes, p + 48, 32);
    }
  }
  OPENSSL_cleanse(buf, sizeof buf);
  return rc;
}

/* --- contexts */

static SSL_CTX *ctx_build(acs_tls *t, char *err, size_t errlen) {
  SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
  ticket_keys *keys = NULL;
  if (!ctx) {
    ssl_fail(err, errlen, "TLS context", NULL);
    return NULL;
  }
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_options(
      ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
  if (SSL_CTX_set_cipher_list(ctx, CIPHERS_TLS12) != 1) {
    ssl_fail(err, errlen, "TLS ciphers", NULL);
    goto fail;
  }
  if (SSL_CTX_use_certificate_chain_file(ctx, t->cert_file) != 1) {
    ssl_fail(err, errlen, "TLS certificate", t->cert_file);
    goto fail;
  }
  if (SSL_CTX_use_PrivateKey_file(ctx, t->key_file, SSL_FILETYPE_PEM) != 1) {
    ssl_fail(err, errlen, "TLS key", t->key_file);
    goto fail;
  }
  if (SSL_CTX_check_private_key(ctx) != 1) {
    ssl_fail(err, errlen, "TLS key does not match the certificate", t->key_file);
    goto fail;
  }
  static const unsigned char sid_ctx[] = "acsd";
  SSL_CTX_set_session_id_context(ctx, sid_ctx, sizeof sid_ctx - 1);
  if (t->client_mode != ACS_TLS_CLIENT_OFF) {
    if (SSL_CTX_load_verify_locations(ctx, t->client_ca_file, NULL) != 1) {
      ssl_fail(err, errlen, "TLS client CA", t->client_ca_file);
      goto fail;
    }
    STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(t->client_ca_file);
    if (!names) {
      ssl_fail(err, errlen, "TLS client CA (no certificate in it)", t->client_ca_file);
      goto fail;
    }
    SSL_CTX_set_client_CA_list(ctx, names);
    int mode = SSL_VERIFY_PEER;
    if (t->client_mode == ACS_TLS_CLIENT_REQUIRED) mode |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
    SSL_CTX_set_verify(ctx, mode, NULL);
    SSL_CTX_set_verify_depth(ctx, 4);
  }
  if (t->session_cache) {
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
    SSL_CTX_sess_set_cache_size(ctx, t->session_cache);
  } else {
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  }
  SSL_CTX_set_timeout(ctx, 3600); /* a session (and ticket) lasts an hour */
  if (!(keys = calloc(1, sizeof *keys))) {
    snprintf(err, errlen, "out of memory");
    goto fail;
  }
  if (t->ticket_key_file) {
    if (load_ticket_keys(t->ticket_key_file, keys, err, errlen)) goto fail;
  } else {
    *keys = t->own;
  }
  if (SSL_CTX_set_ex_data(ctx, keys_index, keys) != 1) {
    ssl_fail(err, errlen, "TLS ticket keys", NULL);
    goto fail;
  }
  keys = NULL; /* the context's now */
  SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, ticket_cb);
  return ctx;
fail:
  if (keys) {
    OPENSSL_cleanse(keys, sizeof *keys);
    free(keys);
  }
  SSL_CTX_free(ctx);
  return NULL;
}

static char *dup_or_null(const char *s, bool *oom) {
  if (!s) return NULL;
  char *d = strdup(s);
  if (!d) *oom = true;
  return d;
}

void acs_tls_free(acs_tls *t) {
  if (!t) return;
  SSL_CTX_free(t->ctx);
  pthread_rwlock_destroy(&t->lock);
  free(t->cert_file);
  free(t->key_file);
  free(t->client_ca_file);
  free(t->ticket_key_file);
  free(t->name);
  OPENSSL_cleanse(&t->own, sizeof t->own);
  free(t);
}

int acs_tls_new(const acs_tls_config *cfg, acs_tls **out, char *err, size_t errlen) {
  *out = NULL;
  pthread_once(&keys_once, keys_index_init);
  if (keys_index < 0) return ssl_fail(err, errlen, "TLS ex_data index", NULL);
  if (!cfg->cert_file || !cfg->key_file) {
    snprintf(err, errlen, "TLS needs a certificate and a key (tls-cert, tls-key)");
    return ACS_ECONFIG;
  }
  if (cfg->client_mode != ACS_TLS_CLIENT_OFF && !cfg->client_ca_file) {
    snprintf(err, errlen, "client certificates need a CA to verify them (tls-client-ca)");
    return ACS_ECONFIG;
  }
  acs_tls *t = calloc(1, sizeof *t);
  if (!t) return ACS_ENOMEM;
  if (pthread_rwlock_init(&t->lock, NULL)) {
    free(t);
    return ACS_ENOMEM;
  }
  bool oom = false;
  t->cert_file = dup_or_null(cfg->cert_file, &oom);
  t->key_file = dup_or_null(cfg->key_file, &oom);
  t->client_ca_file = dup_or_null(cfg->client_ca_file, &oom);
  t->ticket_key_file = dup_or_null(cfg->ticket_key_file, &oom);
  t->name = dup_or_null(cfg->name ? cfg->name : "tls", &oom);
  t->client_mode = cfg->client_mode;
  t->session_cache = cfg->session_cache;
  t->own.n = 1;
  if (oom || RAND_bytes((unsigned char *)&t->own.k[0], sizeof t->own.k[0]) != 1) {
    acs_tls_free(t);
    return ACS_ENOMEM;
  }
  if (!(t->ctx = ctx_build(t, err, errlen))) {
    acs_tls_free(t);
    return ACS_ECONFIG;
  }
  *out = t;
  return 0;
}

int acs_tls_reload(acs_tls *t, char *err, size_t errlen) {
  SSL_CTX *ctx = ctx_build(t, err, errlen);
  if (!ctx) return ACS_ECONFIG;
  pthread_rwlock_wrlock(&t->lock);
  SSL_CTX *old = t->ctx;
  t->ctx = ctx;
  pthread_rwlock_unlock(&t->lock);
  SSL_CTX_free(old); /* connections on it keep it alive */
  return 0;
}

static void serial_hex(const X509 *x, char *out, size_t len) {
  out[0] = '\0';
  const ASN1_INTEGER *sn = x ? X509_get0_serialNumber(x) : NULL;
  BIGNUM *bn = sn ? ASN1_INTEGER_to_BN(sn, NULL) : NULL;
  char *hex = bn ? BN_bn2hex(bn) : NULL;
  if (hex) snprintf(out, len, "%s", hex);
  OPENSSL_free(hex);
  BN_free(bn);
}

void acs_tls_serial(acs_tls *t, char *out, size_t len) {
  pthread_rwlock_rdlock(&t->lock);
  serial_hex(SSL_CTX_get0_certificate(t->ctx), out, len);
  pthread_rwlock_unlock(&t->lock);
}

/* --- connections */

acs_tls_conn *acs_tls_conn_new(acs_tls *t) {
  acs_tls_conn *tc = calloc(1, sizeof *tc);
  if (!tc) return NULL;
  pthread_rwlock_rdlock(&t->lock);
  tc->ssl = SSL_new(t->ctx);
  pthread_rwlock_unlock(&t->lock);
  tc->rbio = BIO_new(BIO_s_mem());
  tc->wbio = BIO_new(BIO_s_mem());
  if (!tc->ssl || !tc->rbio || !tc->wbio) {
    BIO_free(tc->rbio);
    BIO_free(tc->wbio);
    SSL_free(tc->ssl);
    free(tc);
    ERR_clear_error();
    return NULL;
  }
  BIO_set_mem_eof_return(tc->rbio, -1); /* empty: "retry", not end of file */
  SSL_set_bio(tc->ssl, tc->rbio, tc->wbio);
  SSL_set_accept_state(tc->ssl);
  return tc;
}

static void peer_free(acs_tls_peer *p) {
  if (!p) return;
  free((char *)p->subject_cn);
  for (size_t i = 0; i < p->n_names; i++) free((char *)p->names[i]);
  free(p);
}

void acs_tls_conn_free(acs_tls_conn *tc) {
  if (!tc) return;
  /* freed without a shutdown, OpenSSL would drop the session from the
   * server cache: a connection whose TLS did not fail keeps it resumable */
  if (tc->established && !tc->failed) {
    SSL_set_quiet_shutdown(tc->ssl, 1);
    (void)SSL_shutdown(tc->ssl);
    ERR_clear_error();
  }
  SSL_free(tc->ssl); /* and its BIOs */
  peer_free(tc->peer);
  free(tc);
}

int acs_tls_conn_input(acs_tls_conn *tc, const char *data, size_t n) {
  while (n > 0) {
    int chunk = n > (1u << 30) ? 1 << 30 : (int)n;
    int w = BIO_write(tc->rbio, data, chunk);
    if (w <= 0) return ACS_ENOMEM;
    data += w;
    n -= (size_t)w;
  }
  return 0;
}

static char *asn1_utf8(const ASN1_STRING *s) {
  unsigned char *u = NULL;
  int n = ASN1_STRING_to_UTF8(&u, s);
  if (n < 0) return NULL;
  char *out = NULL;
  if (memchr(u, '\0', (size_t)n) == NULL) out = strndup((const char *)u, (size_t)n);
  OPENSSL_free(u);
  return out; /* NULL for a name with an embedded NUL: never matched */
}

/* The verified client certificate's names, kept for the connection. */
static void peer_take(acs_tls_conn *tc) {
  X509 *x = SSL_get0_peer_certificate(tc->ssl);
  if (!x || SSL_get_verify_result(tc->ssl) != X509_V_OK) return;
  acs_tls_peer *p = calloc(1, sizeof *p);
  if (!p) return;
  X509_NAME *subj = X509_get_subject_name(x);
  int i = subj ? X509_NAME_get_index_by_NID(subj, NID_commonName, -1) : -1;
  if (i >= 0) p->subject_cn = asn1_utf8(X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subj, i)));
  GENERAL_NAMES *san = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
  for (int k = 0; san && k < sk_GENERAL_NAME_num(san) && p->n_names < ACS_TLS_MAX_NAMES; k++) {
    const GENERAL_NAME *g = sk_GENERAL_NAME_value(san, k);
    char *v = NULL;
    if (g->type == GEN_DNS) v = asn1_utf8(g->d.dNSName);
    if (g->type == GEN_URI) v = asn1_utf8(g->d.uniformResourceIdentifier);
    if (v) p->names[p->n_names++] = v;
  }
  GENERAL_NAMES_free(san);
  serial_hex(x, p->serial, sizeof p->serial);
  tc->peer = p;
}

/* The reason of a failed handshake or record, logged at debug. */
static int conn_error(acs_tls_conn *tc, int ret) {
  int e = SSL_get_error(tc->ssl, ret);
  tc->failed = true;
  if (e == SSL_ERROR_ZERO_RETURN) return ACS_ECANCELED;
  unsigned long code = ERR_peek_error();
  int rc = ACS_EINVAL;
  if (ERR_GET_LIB(code) == ERR_LIB_SSL && ERR_GET_REASON(code) == SSL_R_HTTP_REQUEST)
    rc = ACS_EHTTP;
  if (acs_log_enabled(ACS_LOG_DEBUG)) {
    char reason[256] = "";
    if (code) ERR_error_string_n(code, reason, sizeof reason);
    acs_log(ACS_LOG_DEBUG, "tls", "%s failed: %s", tc->established ? "record" : "handshake",
            *reason ? reason : "error");
  }
  ERR_clear_error();
  return rc;
}

int acs_tls_conn_read(acs_tls_conn *tc, char *buf, size_t cap) {
  if (tc->failed) return ACS_EINVAL;
  if (!tc->established) {
    int r = SSL_do_handshake(tc->ssl);
    if (r != 1) {
      int e = SSL_get_error(tc->ssl, r);
      if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return 0;
      return conn_error(tc, r);
    }
    tc->established = true;
    peer_take(tc);
  }
  int r = SSL_read(tc->ssl, buf, cap > (1u << 30) ? 1 << 30 : (int)cap);
  if (r > 0) return r;
  int e = SSL_get_error(tc->ssl, r);
  if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return 0;
  return conn_error(tc, r);
}

bool acs_tls_conn_buffered(const acs_tls_conn *tc) {
  return !tc->failed && (SSL_pending(tc->ssl) > 0 || BIO_ctrl_pending(tc->rbio) > 0);
}

/* One write of the write BIO's content. It does not point to the
 * connection's TLS state: a connection handed to another worker may still
 * have such writes completing on the old one. */
typedef struct tls_wr {
  uv_write_t w;
  uv_write_t *orig; /* the caller's request, or NULL */
  acs_tls_write_cb cb;
  char data[];
} tls_wr;

static void tls_write_cb(uv_write_t *req, int status) {
  tls_wr *wr = req->data;
  if (wr->cb) wr->cb(wr->orig, status);
  free(wr);
}

static int flush(acs_tls_conn *tc, uv_stream_t *s, uv_write_t *orig, acs_tls_write_cb cb) {
  size_t n = BIO_ctrl_pending(tc->wbio);
  if (n == 0 && !cb) return 0;
  tls_wr *wr = malloc(sizeof *wr + n);
  if (!wr) return ACS_ENOMEM;
  if (n && BIO_read(tc->wbio, wr->data, (int)n) != (int)n) {
    free(wr);
    return ACS_EINVAL;
  }
  wr->orig = orig;
  wr->cb = cb;
  wr->w.data = wr;
  uv_buf_t b = uv_buf_init(wr->data, (unsigned)n);
  int rc = uv_write(&wr->w, s, &b, 1, tls_write_cb);
  if (rc) {
    free(wr);
    return rc;
  }
  return 0;
}

int acs_tls_conn_flush(acs_tls_conn *tc, uv_stream_t *s) { return flush(tc, s, NULL, NULL); }

int acs_tls_conn_write(acs_tls_conn *tc, uv_stream_t *s, uv_write_t *req, const char *const *bufs,
                       const size_t *lens, unsigned n, acs_tls_write_cb cb) {
  if (!tc->established || tc->failed || tc->shut) return ACS_ESTATE;
  for (unsigned i = 0; i < n; i++) {
    size_t left = lens[i];
    const char *p = bufs[i];
    while (left > 0) {
      int chunk = left > (1u << 30) ? 1 << 30 : (int)left;
      int w = SSL_write(tc->ssl, p, chunk);
      if (w <= 0) return conn_error(tc, w);
      p += w;
      left -= (size_t)w;
    }
  }
  return flush(tc, s, req, cb);
}

void acs_tls_conn_close_notify(acs_tls_conn *tc, uv_stream_t *s) {
  if (tc->shut || !tc->established || tc->failed) return;
  tc->shut = true;
  (void)SSL_shutdown(tc->ssl);
  ERR_clear_error();
  (void)flush(tc, s, NULL, NULL);
}

/* Memory BIOs keep the room they grew to: fresh ones when both are empty. */
void acs_tls_conn_idle(acs_tls_conn *tc) {
  if (BIO_ctrl_pending(tc->rbio) || BIO_ctrl_pending(tc->wbio)) return;
  (void)SSL_free_buffers(tc->ssl);
  BIO *r = BIO_new(BIO_s_mem()), *w = BIO_new(BIO_s_mem());
  if (!r || !w) {
    BIO_free(r);
    BIO_free(w);
    return;
  }
  BIO_set_mem_eof_return(r, -1);
  SSL_set_bio(tc->ssl, r, w); /* frees the old pair */
  tc->rbio = r;
  tc->wbio = w;
}

bool acs_tls_conn_established(const acs_tls_conn *tc) { return tc->established; }
bool acs_tls_conn_resumed(const acs_tls_conn *tc) { return SSL_session_reused(tc->ssl) == 1; }
const acs_tls_peer *acs_tls_conn_peer(const acs_tls_conn *tc) { return tc->peer; }
