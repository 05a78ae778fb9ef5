/* net_internal.h: what server.c (workers, listeners) and conn.c (one HTTP
 * connection) share. Not a public header.
 *
 * Threading: a worker's fields are touched only by its own thread, except
 * the atomics and stop_async (uv_async_send from any thread). Before the
 * thread starts, acs_server_start() sets everything up on the caller's
 * thread; pthread_create orders those writes before the thread runs. */
#ifndef ACS_NET_INTERNAL_H
#define ACS_NET_INTERNAL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <uv.h>

#include "core/acs_buf.h"
#include "net/acs_server.h"

#define ACS_NET_READ_BUF (64 * 1024) /* per worker, shared by its connections */
#define ACS_NET_LINGER_MS 2000       /* discard input this long after a final response */

/* A connection travelling between workers (acs_conn_handoff). */
typedef struct acs__handoff {
  struct acs__handoff *next;
  uv_os_sock_t fd;
  acs_listener_kind kind;
  struct acs_tls_conn *tls; /* a TLS connection's state (NULL: plain) */
  acs_buf bytes; /* the request, then what was read after it */
  char peer[64]; /* the client's address as the first worker knew it (PROXY) */
} acs__handoff;

struct acs_worker {
  acs_server *srv;
  unsigned index;
  unsigned long long accept_errors; /* failed accepts (EMFILE...), logged once a second */
  uint64_t accept_error_logged_ms;
  uv_loop_t loop;
  uv_thread_t thread;
  bool loop_ready; /* uv_loop_init done */
  bool thread_started;
  uv_tcp_t listener[ACS_LISTENER_COUNT];
  bool listener_open[ACS_LISTENER_COUNT];
  uv_async_t stop_async;
  bool async_open;
  uv_timer_t shutdown_timer;
  bool shutdown_timer_open;
  /* at the descriptor budget: listeners whose accepted socket waits in
   * libuv (not taken with uv_accept, so libuv stops watching them) */
  bool paused[ACS_LISTENER_COUNT];
  uv_timer_t pause_timer;
  bool pause_timer_open;
  bool stopping;
  bool cut;        /* connections with work in flight were closed at the deadline */
  uv_tcp_t reject; /* takes an accepted socket when memory runs out */
  bool reject_busy;
  char *rbuf;        /* read buffer handed to every read on this loop */
  acs_conn *conns;   /* all connections not yet freed (doubly linked) */
  unsigned n_active; /* connections not closing */
  _Atomic uint64_t st_open, st_total, st_requests;
  void *data;      /* the handler's (acs_worker_set_data) */
  bool app_started; /* worker_start hook succeeded */
  bool app_stopped; /* worker_stop hook ran */
  /* Hand-off inbox: other workers push under hq_lock and wake hq_async;
   * once hq_closed is set (under the lock) nobody pushes any more. */
  uv_mutex_t hq_lock;
  bool hq_lock_ready;
  uv_async_t hq_async;
  bool hq_async_open;
  bool hq_closed;
  acs__handoff *hq_head, *hq_tail;
};

struct acs_server {
  acs_server_config cfg; /* listen strings owned (copied) */
  unsigned n_workers;
  acs_worker *workers;
  int port[ACS_LISTENER_COUNT];
  atomic_bool stop_requested;
  _Atomic long open_conns; /* connections open, all workers */
  long max_conns;          /* the open-files limit less a reserve (0: none) */
};

/* conn.c */
void acs__conn_accept(acs_worker *w, uv_stream_t *listener, acs_listener_kind kind);
/* Worker stopping: close idle connections, mark the others to close after
 * their response. */
void acs__conn_stop_all(acs_worker *w);
/* Shutdown deadline (or teardown): close every connection now; returns true
 * if any had work in flight. */
bool acs__conn_close_all(acs_worker *w);
/* Frees connections whose handles are closed but whose handler never
 * answered (after the loop has ended). */
void acs__conn_free_remaining(acs_worker *w);

/* A connection handed over by another worker: adopt its socket and feed
 * its bytes (frees h). */
void acs__conn_adopt(acs_worker *w, acs__handoff *h);
void acs__handoff_free(acs__handoff *h); /* closes the socket too */

/* server.c: called by conn.c when a connection starts closing. */
void acs__worker_conn_closing(acs_worker *w);
/* Queues h on worker t; ACS_ESTATE when t no longer takes hand-offs. */
int acs__worker_handoff_push(acs_worker *t, acs__handoff *h);

#endif
