/* acs_tls.h: TLS for acsd's listeners (OpenSSL over libuv streams).
 *
 * An acs_tls is one server identity: a certificate chain and its key, the
 * CA that client certificates must chain to (optional or required), and the
 * keys of session tickets. It holds the current SSL_CTX; acs_tls_reload()
 * builds a new one from the same files and swaps it in: connections
 * accepted afterwards use the new one, connections already open keep the
 * one they started with (each SSL holds a reference on its SSL_CTX), so a
 * reload drops no session.
 *
 * Protocol: TLS 1.2 and 1.3 only; TLS 1.2 with ECDHE key exchange and AEAD
 * ciphers only. Resumption: session tickets, sealed with keys read from a
 * file (so that every instance behind a load balancer accepts the tickets
 * of the others) or, without a file, with keys drawn at start and kept
 * across reloads; plus OpenSSL's server session cache for TLS 1.2 clients
 * without tickets.
 *
 * Threading: acs_tls_reload() may run on any thread while workers accept
 * (the current SSL_CTX is taken under a lock). */
#ifndef ACS_TLS_H
#define ACS_TLS_H

#include <stdbool.h>
#include <stddef.h>

typedef enum acs_tls_client_mode {
  ACS_TLS_CLIENT_OFF = 0,  /* no client certificate asked for */
  ACS_TLS_CLIENT_OPTIONAL, /* asked for; one that does not verify fails the handshake */
  ACS_TLS_CLIENT_REQUIRED, /* a handshake without a valid client certificate fails */
} acs_tls_client_mode;

typedef struct acs_tls_config {
  const char *cert_file;      /* PEM: the server certificate first, then its chain */
  const char *key_file;       /* PEM: its private key */
  const char *client_ca_file; /* PEM: CAs of client certificates (needed unless mode OFF) */
  acs_tls_client_mode client_mode;
  const char *ticket_key_file; /* NULL: keys of this process; else a multiple of 80 bytes */
  unsigned session_cache;      /* server session cache entries (0: no cache) */
  const char *name;            /* for logs: "cpe", "api" */
} acs_tls_config;

typedef struct acs_tls acs_tls;

/* Loads the files. Returns 0, or ACS_ECONFIG with a message in err naming
 * the file and OpenSSL's reason, or ACS_ENOMEM. cfg's strings are copied. */
int acs_tls_new(const acs_tls_config *cfg, acs_tls **out, char *err, size_t errlen);
/* Reads the files again and swaps the new context in; on any error the
 * current one stays (and err says why). */
int acs_tls_reload(acs_tls *t, char *err, size_t errlen);
/* Frees t; connections still open keep their context alive. */
void acs_tls_free(acs_tls *t);
/* The current server certificate's serial number (hex), for logs and tests. */
void acs_tls_serial(acs_tls *t, char *out, size_t len);

/* The client certificate a connection presented, once verified against
 * the client CA: its subject's commonName and its subjectAltName DNS names
 * and URIs (at most ACS_TLS_MAX_NAMES, in certificate order). */
#define ACS_TLS_MAX_NAMES 8
typedef struct acs_tls_peer {
  const char *subject_cn;               /* NULL when the subject has none */
  const char *names[ACS_TLS_MAX_NAMES]; /* SAN DNS names and URIs */
  size_t n_names;
  char serial[80]; /* the certificate's serial number, hex */
} acs_tls_peer;

/* --- one connection (used by net/conn.c; nothing above net needs these) */

typedef struct acs_tls_conn acs_tls_conn;
struct uv_stream_s;
struct uv_write_s;
typedef void (*acs_tls_write_cb)(struct uv_write_s *req, int status);

/* A server-side TLS connection on t's current context; NULL: no memory. */
acs_tls_conn *acs_tls_conn_new(acs_tls *t);
void acs_tls_conn_free(acs_tls_conn *tc);
/* Ciphertext read from the socket. Returns 0 or ACS_ENOMEM. */
int acs_tls_conn_input(acs_tls_conn *tc, const char *data, size_t n);
/* Runs the handshake as far as the input allows, then decrypts into buf.
 * Returns the plaintext bytes (> 0), 0 when more input is needed, or an
 * error: ACS_EHTTP when the peer spoke plain HTTP, ACS_ECANCELED when it
 * closed the TLS session, another negative code when the handshake or a
 * record failed. Output the handshake needs is queued: acs_tls_conn_flush(). */
int acs_tls_conn_read(acs_tls_conn *tc, char *buf, size_t cap);
/* True when input is buffered that acs_tls_conn_read() has not consumed. */
bool acs_tls_conn_buffered(const acs_tls_conn *tc);
/* Writes queued TLS output (handshake, alerts, tickets) to s. Returns 0 or
 * a negative code (the connection should close). */
int acs_tls_conn_flush(acs_tls_conn *tc, struct uv_stream_s *s);
/* Encrypts bufs and writes them to s as one write; cb(req, status) runs when
 * it completes, as uv_write's would. ACS_ESTATE before the handshake has
 * completed. */
int acs_tls_conn_write(acs_tls_conn *tc, struct uv_stream_s *s, struct uv_write_s *req,
                       const char *const *bufs, const size_t *lens, unsigned n,
                       acs_tls_write_cb cb);
/* Queues and writes a close_notify alert (before a shutdown of the socket). */
void acs_tls_conn_close_notify(acs_tls_conn *tc, struct uv_stream_s *s);
/* An idle connection: gives back the memory buffers that grew for earlier
 * records (OpenSSL's own are released by SSL_MODE_RELEASE_BUFFERS). */
void acs_tls_conn_idle(acs_tls_conn *tc);
bool acs_tls_conn_established(const acs_tls_conn *tc);
bool acs_tls_conn_resumed(const acs_tls_conn *tc);
/* The verified client certificate, or NULL (none, or not verified). */
const acs_tls_peer *acs_tls_conn_peer(const acs_tls_conn *tc);

#endif
