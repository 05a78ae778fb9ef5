/* tls.c: cpesim's TLS client (OpenSSL over the libuv streams of httpc.c,
 * through memory BIOs), for https ACS and file URLs.
 *
 * One client context for the process: TLS 1.2 or later, the server's
 * certificate verified against --tls-ca (the system's CAs without it) and
 * its name or address checked against the URL's host. A client certificate
 * (--tls-cert, --tls-key; "%s" in either path is replaced by the device's
 * serial number) is presented when the ACS asks. Each device keeps the last
 * TLS session the ACS gave it (a ticket or a session id), taken when a
 * connection that went well ends, and offers it on its next connection: resumption, as a real CPE's
 * TLS stack does; the summary counts handshakes and resumed ones. */
#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/acs_err.h"
#include "sim.h"

struct sim_tls {
  SSL *ssl;
  BIO *rbio, *wbio;
  bool established;
  SSL_SESSION **slot; /* where the device keeps its session (NULL: none) */
};

static SSL_CTX *ctx;
static const char *cert_tmpl, *key_tmpl;

static void ssl_error(char *err, size_t n, const char *what) {
  char reason[256] = "";
  unsigned long e = ERR_get_error();
  if (e) ERR_error_string_n(e, reason, sizeof reason);
  ERR_clear_error();
  snprintf(err, n, "%s: %s", what, *reason ? reason : "failed");
}

int sim_tls_setup(const char *ca_file, const char *cert, const char *key, char *err, size_t n) {
  if (ctx) return 0;
  if (!(ctx = SSL_CTX_new(TLS_client_method()))) {
    ssl_error(err, n, "TLS context");
    return ACS_ENOMEM;
  }
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
  if ((ca_file ? SSL_CTX_load_verify_locations(ctx, ca_file, NULL)
               : SSL_CTX_set_default_verify_paths(ctx)) != 1) {
    ssl_error(err, n, ca_file ? ca_file : "the system's CAs");
    SSL_CTX_free(ctx);
    ctx = NULL;
    return ACS_EINVAL;
  }
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
  cert_tmpl = cert;
  key_tmpl = key;
  return 0;
}

void sim_tls_cleanup(void) {
  SSL_CTX_free(ctx);
  ctx = NULL;
}

bool sim_tls_ready(void) { return ctx != NULL; }

void sim_tls_session_free(SSL_SESSION **slot) {
  if (slot && *slot) SSL_SESSION_free(*slot);
  if (slot) *slot = NULL;
}

/* "%s" in a path: the serial number. */
static void fill(const char *tmpl, const char *serial, char *out, size_t n) {
  const char *p = strstr(tmpl, "%s");
  if (!p) {
    snprintf(out, n, "%s", tmpl);
    return;
  }
  snprintf(out, n, "%.*s%s%s", (int)(p - tmpl), tmpl, serial, p + 2);
}

sim_tls *sim_tls_new(const char *host, const char *serial, SSL_SESSION **slot, char *err,
                     size_t n) {
  sim_tls *t = sim_xcalloc(1, sizeof *t);
  t->slot = slot;
  if (!(t->ssl = SSL_new(ctx)) || !(t->rbio = BIO_new(BIO_s_mem())) ||
      !(t->wbio = BIO_new(BIO_s_mem()))) {
    ssl_error(err, n, "TLS connection");
    goto fail;
  }
  BIO_set_mem_eof_return(t->rbio, -1);
  SSL_set_bio(t->ssl, t->rbio, t->wbio);
  SSL_set_app_data(t->ssl, t);
  SSL_set_connect_state(t->ssl);
  struct in6_addr a6;
  struct in_addr a4;
  if (inet_pton(AF_INET, host, &a4) == 1 || inet_pton(AF_INET6, host, &a6) == 1) {
    X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(t->ssl), host);
  } else {
    SSL_set_tlsext_host_name(t->ssl, host);
    SSL_set1_host(t->ssl, host);
  }
  if (cert_tmpl) {
    char cert[1024], key[1024];
    fill(cert_tmpl, serial, cert, sizeof cert);
    fill(key_tmpl ? key_tmpl : cert_tmpl, serial, key, sizeof key);
    if (SSL_use_certificate_chain_file(t->ssl, cert) != 1 ||
        SSL_use_PrivateKey_file(t->ssl, key, SSL_FILETYPE_PEM) != 1) {
      ssl_error(err, n, cert);
      goto fail;
    }
  }
  if (slot && *slot) SSL_set_session(t->ssl, *slot);
  return t;
fail:
  sim_tls_free(t);
  return NULL;
}

void sim_tls_free(sim_tls *t) {
  if (!t) return;
  if (t->ssl) {
    /* freed without a shutdown, OpenSSL would mark the session (which the
     * device keeps) not resumable: a connection that ended well is shut */
    if (t->established) {
      SSL_set_quiet_shutdown(t->ssl, 1);
      (void)SSL_shutdown(t->ssl);
      ERR_clear_error();
      /* the connection's latest session (TLS 1.3: the last ticket it got)
       * is what the device offers next time */
      SSL_SESSION *sess = t->slot ? SSL_get1_session(t->ssl) : NULL;
      if (sess && SSL_SESSION_is_resumable(sess)) {
        sim_tls_session_free(t->slot);
        *t->slot = sess;
      } else if (sess) {
        SSL_SESSION_free(sess);
      }
    }
    SSL_free(t->ssl);
  } else {
    BIO_free(t->rbio);
    BIO_free(t->wbio);
  }
  free(t);
}

int sim_tls_input(sim_tls *t, const char *data, size_t n) {
  return BIO_write(t->rbio, data, (int)n) == (int)n ? 0 : ACS_ENOMEM;
}

static int tls_fail(sim_tls *t, int r, const char *what) {
  int e = SSL_get_error(t->ssl, r);
  if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return 0;
  if (e == SSL_ERROR_ZERO_RETURN) return UV_EOF;
  if (S->o.verbose) {
    char reason[256];
    ssl_error(reason, sizeof reason, what);
    sim_log("tls: %s", reason);
  }
  ERR_clear_error();
  return ACS_EINVAL;
}

int sim_tls_handshake(sim_tls *t) {
  if (t->established) return 1;
  int r = SSL_do_handshake(t->ssl);
  if (r != 1) return tls_fail(t, r, "handshake");
  t->established = true;
  S->st.tls_handshakes++;
  if (SSL_session_reused(t->ssl)) S->st.tls_resumed++;
  return 1;
}

int sim_tls_read(sim_tls *t, char *buf, size_t cap) {
  int r = SSL_read(t->ssl, buf, (int)cap);
  return r > 0 ? r : tls_fail(t, r, "read");
}

int sim_tls_write(sim_tls *t, const char *data, size_t n) {
  while (n > 0) {
    int w = SSL_write(t->ssl, data, (int)n);
    if (w <= 0) {
      tls_fail(t, w, "write");
      return ACS_EINVAL;
    }
    data += w;
    n -= (size_t)w;
  }
  return 0;
}

size_t sim_tls_out_pending(const sim_tls *t) { return BIO_ctrl_pending(t->wbio); }

size_t sim_tls_out_take(sim_tls *t, char *buf, size_t n) {
  int r = BIO_read(t->wbio, buf, (int)n);
  return r > 0 ? (size_t)r : 0;
}
