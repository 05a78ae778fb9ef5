/* acs_server.h: acsd's network front: N worker threads, each with its own
 * libuv loop, accepting on the CWMP and API ports through SO_REUSEPORT and
 * speaking HTTP/1.1 through the pure http layer.
 *
 * Threading: every callback below runs on the worker thread that owns the
 * connection; a connection never changes thread except by an explicit
 * hand-off (acs_conn_handoff: device-affine workers). */
#ifndef ACS_SERVER_H
#define ACS_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/acs_config.h"
#include "http/acs_http.h"
#include "net/acs_tls.h"

typedef struct acs_server acs_server;
typedef struct acs_worker acs_worker;
typedef struct acs_conn acs_conn;

typedef enum acs_listener_kind {
  ACS_LISTENER_CWMP = 0,
  ACS_LISTENER_API,
  ACS_LISTENER_FILES, /* the file server (engine/files) */
  ACS_LISTENER_COUNT
} acs_listener_kind;

/* Called once per complete request on the connection's worker. The handler
 * answers exactly once with acs_conn_respond(), now or later (after a
 * database round trip, say); until then the connection reads nothing more.
 * The request and everything it points to stay valid until the answer. */
typedef void (*acs_request_cb)(acs_conn *c, const acs_http_request *req, void *ctx);

/* A listener's head hook (optional) sees every request once its head is
 * complete, before its body is read. It returns false to leave the request
 * to the usual way (the body read whole within http_limits, then the
 * handler). Returning true, it has taken the request: nothing more is read
 * until it calls acs_conn_body_stream(), and it answers with
 * acs_conn_respond() as a handler would (an answer before the whole body
 * was read closes the connection after it). */
typedef bool (*acs_head_cb)(acs_conn *c, const acs_http_request *head, void *ctx);

/* Per-worker hooks. start runs for every worker on the caller's thread of
 * acs_server_start(), before any worker thread runs (so its handles can be
 * made on the worker's loop and a failure fails the start); stop runs once
 * on the worker's thread when the worker stops and its last connection has
 * closed (or the shutdown deadline cut the rest): it must close every handle
 * start opened so that the loop can end. stop runs for every worker whose
 * start succeeded, also when acs_server_start() fails later. */
typedef int (*acs_worker_start_cb)(acs_worker *w, void *ctx);
typedef void (*acs_worker_stop_cb)(acs_worker *w, void *ctx);

typedef struct acs_server_config {
  unsigned workers;               /* 0: one per online core */
  const char *listen[ACS_LISTENER_COUNT]; /* "HOST:PORT", "[v6]:PORT"; NULL: not listened on */
  acs_request_cb handler[ACS_LISTENER_COUNT];
  acs_head_cb head_handler[ACS_LISTENER_COUNT]; /* may be NULL */
  /* a listener that may be missing: its address in use -> a warning, not a failure */
  bool listen_optional[ACS_LISTENER_COUNT];
  /* connections begin with a PROXY protocol header (net/acs_proxy.h), whose
   * client address becomes acs_conn_peer(); without one they are closed */
  bool proxy_protocol[ACS_LISTENER_COUNT];
  void *handler_ctx;
  acs_worker_start_cb worker_start; /* may be NULL; ctx: handler_ctx */
  acs_worker_stop_cb worker_stop;   /* may be NULL */
  acs_http_limits http_limits;
  uint32_t header_timeout_ms;   /* no complete request head in time -> 408 + close (10000) */
  uint32_t idle_timeout_ms;     /* idle keep-alive connection closed after (60000) */
  uint32_t shutdown_timeout_ms; /* SIGTERM: bound for requests in flight (30000) */
  unsigned backlog;             /* listen backlog (4096) */
  /* a listener with an acs_tls speaks TLS only (the caller keeps it alive
   * until acs_server_join() has returned); NULL: plain */
  acs_tls *tls[ACS_LISTENER_COUNT];
} acs_server_config;

/* Fills in the defaults above (listen addresses: CWMP 0.0.0.0:7547,
 * API 127.0.0.1:7557, no file server). */
void acs_server_config_defaults(acs_server_config *cfg);
/* Fills a server configuration (defaults first) from acsd's configuration;
 * the listen addresses are borrowed from cfg, the handlers are left for the
 * caller. */
void acs_config_to_server(const acs_config *cfg, acs_server_config *out);

/* Binds all listeners (so that a port in use fails here, synchronously) and
 * starts the workers. Returns 0 or a negative error (never half-started). */
int acs_server_start(const acs_server_config *cfg, acs_server **out);

/* Graceful stop, callable from any thread and from a signal-handling loop:
 * stop accepting, close idle connections, let requests in flight finish
 * within shutdown_timeout_ms, then close everything. Does not block. */
void acs_server_stop(acs_server *s);

/* Blocks until every worker has exited, then frees the server. Returns 0, or
 * ACS_ETIMEDOUT-like ACS_ETIMEOUT when in-flight requests had to be cut. */
int acs_server_join(acs_server *s);

/* Number of worker threads actually started. */
unsigned acs_server_workers(const acs_server *s);
/* The port a listener got (useful with port 0 in tests), or 0. */
int acs_server_port(const acs_server *s, acs_listener_kind kind);
/* The same, from one of the server's workers (any thread). */
int acs_worker_port(const acs_worker *w, acs_listener_kind kind);

/* Answers the request being handled on c. Copies what it needs from r. If
 * r->keep_alive is false or the server is stopping, the connection is closed
 * after the write. */
void acs_conn_respond(acs_conn *c, const acs_http_response *r);

/* The peer's address as text ("192.0.2.1", "2001:db8::1"), and its worker. */
const char *acs_conn_peer(const acs_conn *c);
acs_worker *acs_conn_worker(const acs_conn *c);
unsigned acs_worker_index(const acs_worker *w);
/* Workers of w's server, and one of them by index (NULL when out of range). */
unsigned acs_worker_count(const acs_worker *w);
acs_worker *acs_server_worker(acs_server *s, unsigned index);
/* The handler's per-worker pointer (set by the start hook, say). */
void acs_worker_set_data(acs_worker *w, void *data);
void *acs_worker_data(const acs_worker *w);
/* True once the worker has begun to stop. */
bool acs_worker_stopping(const acs_worker *w);

/* TLS. Whether c arrived over TLS, and the client certificate it
 * presented once verified against the configured client CA (NULL: none,
 * or a plain connection). Authentication above decides what a peer may do
 * with it (Basic only over TLS; the certificate bound to the device). */
bool acs_conn_is_tls(const acs_conn *c);
const acs_tls_peer *acs_conn_tls_peer(const acs_conn *c);
/* Whether a listener of w's server speaks TLS. */
bool acs_worker_listener_tls(const acs_worker *w, acs_listener_kind kind);

/* Which listener accepted c. */
acs_listener_kind acs_conn_listener(const acs_conn *c);
/* The request being handled on c (its head only, for a request a head hook
 * took), or NULL when none is. */
const acs_http_request *acs_conn_request(const acs_conn *c);
/* The handler is done with the request's body (parsed into its own memory):
 * the buffer goes now, not after the answer, so that a session waiting for
 * the store does not hold a CPE's 200 KB answer twice. */
void acs_conn_release_body(acs_conn *c);

/* Streamed request bodies (see acs_head_cb). data gets each piece of the
 * decoded body as it arrives; it may call acs_conn_body_pause() but must not
 * answer. done runs once: status 0 when the whole body has been read, an
 * HTTP status (400, 408, 413, 415) when the body is refused, or -1 when the
 * connection is gone; the request is then answered with acs_conn_respond()
 * (after -1 nothing is sent, but the call releases c). */
typedef struct acs_conn_body_sink {
  void (*data)(acs_conn *c, const char *p, size_t n, void *arg);
  void (*done)(acs_conn *c, int status, void *arg);
} acs_conn_body_sink;
/* Starts reading the body of a request a head hook took, at most limit
 * bytes (decoded). Answers "Expect: 100-continue". sink must outlive the
 * stream. Returns 0, or ACS_ESTATE (no such request, or already started). */
int acs_conn_body_stream(acs_conn *c, size_t limit, const acs_conn_body_sink *sink, void *arg);
/* Backpressure: no more data callbacks (and no reading) until resume. */
void acs_conn_body_pause(acs_conn *c);
void acs_conn_body_resume(acs_conn *c);
/* True when a head hook took c's request and its body is not being read. */
bool acs_conn_body_unread(const acs_conn *c);

/* Streamed responses (a file's bytes). acs_conn_stream_start() answers the
 * request being handled with the head of r (status line, headers,
 * Content-Length: content_length; r->body is ignored). Without body (an
 * answer to HEAD) the answer is complete then, as with acs_conn_respond().
 * With body, exactly content_length bytes follow through
 * acs_conn_stream_write(), one piece at a time: cb tells that a piece was
 * written (status 0) or that the connection failed (status < 0). After the
 * last piece's cb, or a cb with an error, c is no longer the caller's; so
 * too after an error returned by acs_conn_stream_write() (the connection had
 * closed: no cb then). data must stay valid until cb. acs_conn_stream_abort()
 * gives up mid-body: the connection is closed (c no longer the caller's).
 * With content_length ACS_HTTP_CHUNKED (a body of unknown length: HTTP/1.1
 * clients), each piece is a chunk and a piece of 0 bytes ends the body. */
typedef void (*acs_conn_write_cb)(acs_conn *c, int status, void *arg);
int acs_conn_stream_start(acs_conn *c, const acs_http_response *r, uint64_t content_length,
                          bool body);
int acs_conn_stream_write(acs_conn *c, const void *data, size_t n, acs_conn_write_cb cb, void *arg);
void acs_conn_stream_abort(acs_conn *c);

/* Hands c, with the request being handled (not answered yet), to worker
 * number target of the same server: the socket travels to the target's loop
 * with the request (re-serialised, see acs_http_request_write) and any bytes
 * read after it, and the target's handler sees the request again. On 0, c
 * is gone: do not answer it. On error (ACS_EINVAL: same worker or a bad
 * index; ACS_ESTATE: the target is stopping or c is closing; ACS_ENOMEM;
 * a negated errno), c is still the caller's to answer. */
int acs_conn_handoff(acs_conn *c, unsigned target);
/* True when c arrived through acs_conn_handoff (a handler must not hand it
 * on again). */
bool acs_conn_handed_off(const acs_conn *c);

/* One pointer of the handler's per connection. on_close (may be NULL) runs
 * once when the connection closes, on its worker, with data. */
typedef void (*acs_conn_close_cb)(acs_conn *c, void *data);
void acs_conn_set_data(acs_conn *c, void *data, acs_conn_close_cb on_close);
void *acs_conn_data(const acs_conn *c);
/* Authentication failures in a row on c, as its handler counts them (0 on
 * a new connection). */
unsigned acs_conn_auth_failures(const acs_conn *c);
void acs_conn_set_auth_failures(acs_conn *c, unsigned n);

/* The worker's libuv loop, for handlers that answer later (timers, clients).
 * Handles a handler opens there must be closed by the time the server stops:
 * after acs_server_stop() and the last connection, the loop ends. */
struct uv_loop_s;
struct uv_loop_s *acs_worker_loop(acs_worker *w);

/* Counters summed over the workers (relaxed atomics: a snapshot). */
typedef struct acs_server_stats {
  uint64_t connections_open;  /* accepted and not yet freed */
  uint64_t connections_total; /* accepted since start */
  uint64_t requests;          /* answered */
} acs_server_stats;
void acs_server_stats_get(const acs_server *s, acs_server_stats *out);

#endif
