/* acs_server.h: acsd's network front: N worker threads, each with its own
 * libuv loop, accepting on the CWMP and API ports through SO_REUSEPORT and
 * speaking HTTP/1.1 through the pure http layer.
 *
 * Threading: every callback below runs on the worker thread that owns the
 * connection; a connection never changes thread except by an explicit
 * hand-off (later: device-affine workers). */
#ifndef ACS_SERVER_H
#define ACS_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "http/acs_http.h"

typedef struct acs_server acs_server;
typedef struct acs_worker acs_worker;
typedef struct acs_conn acs_conn;

typedef enum acs_listener_kind {
  ACS_LISTENER_CWMP = 0,
  ACS_LISTENER_API,
  ACS_LISTENER_COUNT
} acs_listener_kind;

/* Called once per complete request on the connection's worker. The handler
 * answers exactly once with acs_conn_respond(), now or later (after a
 * database round trip, say); until then the connection reads nothing more.
 * The request and everything it points to stay valid until the answer. */
typedef void (*acs_request_cb)(acs_conn *c, const acs_http_request *req, void *ctx);

typedef struct acs_server_config {
  unsigned workers;               /* 0: one per online core */
  const char *listen[ACS_LISTENER_COUNT]; /* "HOST:PORT", "[v6]:PORT"; NULL: not listened on */
  acs_request_cb handler[ACS_LISTENER_COUNT];
  void *handler_ctx;
  acs_http_limits http_limits;
  uint32_t header_timeout_ms;   /* no complete request head in time -> 408 + close (10000) */
  uint32_t idle_timeout_ms;     /* idle keep-alive connection closed after (60000) */
  uint32_t shutdown_timeout_ms; /* SIGTERM: bound for requests in flight (30000) */
  unsigned backlog;             /* listen backlog (4096) */
} acs_server_config;

/* Fills in the defaults above (listen addresses: CWMP 0.0.0.0:7547,
 * API 127.0.0.1:7557). */
void acs_server_config_defaults(acs_server_config *cfg);

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

/* Answers the request being handled on c. Copies what it needs from r. If
 * r->keep_alive is false or the server is stopping, the connection is closed
 * after the write. */
void acs_conn_respond(acs_conn *c, const acs_http_response *r);

/* The peer's address as text ("192.0.2.1", "2001:db8::1"), and its worker. */
const char *acs_conn_peer(const acs_conn *c);
acs_worker *acs_conn_worker(const acs_conn *c);
unsigned acs_worker_index(const acs_worker *w);

/* Which listener accepted c. */
acs_listener_kind acs_conn_listener(const acs_conn *c);

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
