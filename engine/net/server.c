/* server.c: the worker threads and their listening sockets.
 *
 * Every worker has its own loop and its own listening socket per listener,
 * all bound to the same address with SO_REUSEPORT, so the kernel spreads new
 * connections over the workers and no accept lock is shared. libuv 1.44 has
 * no flag for that: the sockets are made, configured and bound here, then
 * handed over with uv_tcp_open(). Everything is bound on the caller's thread
 * before any worker runs, so "address in use" is an error of
 * acs_server_start() itself.
 *
 * Stopping: acs_server_stop() wakes every worker through its uv_async; the
 * worker closes its listeners, closes idle connections, lets requests in
 * flight finish (answered with Connection: close) and arms a deadline after
 * which it closes the rest. With nothing left open the loop ends, and the
 * worker closes whatever remains so that leak reports mean something. */
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/acs_config.h"
#include "core/acs_err.h"
#include "core/acs_log.h"
#include "net/net_internal.h"

static const char *const kind_names[ACS_LISTENER_COUNT] = {"cwmp", "api", "files"};

void acs_config_to_server(const acs_config *cfg, acs_server_config *out) {
  acs_server_config_defaults(out);
  out->workers = cfg->workers;
  out->listen[ACS_LISTENER_CWMP] = cfg->cwmp_listen;
  out->listen[ACS_LISTENER_API] = cfg->api_listen;
  out->listen[ACS_LISTENER_FILES] = cfg->files_listen;
  out->listen_optional[ACS_LISTENER_FILES] = cfg->files_listen_default;
  out->proxy_protocol[ACS_LISTENER_CWMP] = cfg->proxy_protocol;
  out->http_limits.max_body_bytes = cfg->max_body_bytes;
  out->http_limits.max_head_bytes = cfg->max_head_bytes;
  out->header_timeout_ms = cfg->header_timeout_ms;
  out->idle_timeout_ms = cfg->idle_timeout_ms;
  out->shutdown_timeout_ms = cfg->shutdown_timeout_ms;
}

void acs_server_config_defaults(acs_server_config *cfg) {
  memset(cfg, 0, sizeof *cfg);
  cfg->workers = 0;
  cfg->listen[ACS_LISTENER_CWMP] = "0.0.0.0:7547";
  cfg->listen[ACS_LISTENER_API] = "127.0.0.1:7557";
  cfg->http_limits = (acs_http_limits)ACS_HTTP_LIMITS_DEFAULT;
  cfg->header_timeout_ms = 10000;
  cfg->idle_timeout_ms = 60000;
  cfg->shutdown_timeout_ms = 30000;
  cfg->backlog = 4096;
}

/* --- sockets */

static socklen_t addr_len(const struct sockaddr_storage *ss) {
  return ss->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
}

static void addr_set_port(struct sockaddr_storage *ss, int port) {
  if (ss->ss_family == AF_INET6) {
    ((struct sockaddr_in6 *)ss)->sin6_port = htons((uint16_t)port);
  } else {
    ((struct sockaddr_in *)ss)->sin_port = htons((uint16_t)port);
  }
}

static int addr_port(const struct sockaddr_storage *ss) {
  if (ss->ss_family == AF_INET6) return ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
  return ntohs(((const struct sockaddr_in *)ss)->sin_port);
}

/* A bound socket (not listening yet); returns the fd or a negated errno. */
static int bind_socket(const struct sockaddr_storage *ss, bool reuseport) {
  int one = 1;
  int fd = socket(ss->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -errno;
  if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) ||
      (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one)) ||
      bind(fd, (const struct sockaddr *)ss, addr_len(ss))) {
    int err = -errno;
    close(fd);
    return err;
  }
  return fd;
}

/* SO_REUSEPORT would let us share a port that another process of the same
 * user listens on with SO_REUSEPORT too (a second acsd, say). A plain bind
 * first catches every listener already there. */
static int probe_free(const struct sockaddr_storage *ss) {
  int fd = bind_socket(ss, false);
  if (fd < 0) return fd;
  close(fd);
  return 0;
}

/* --- workers */

static void worker_app_stop(acs_worker *w);

static void worker_shutdown_cb(uv_timer_t *t) {
  acs_worker *w = t->data;
  if (acs__conn_close_all(w)) {
    w->cut = true;
    acs_log(ACS_LOG_WARN, "net", "worker %u: shutdown deadline passed, requests in flight cut",
            w->index);
  }
  worker_app_stop(w);
}

/* The handler's stop hook, once, when nothing is active any more. */
static void worker_app_stop(acs_worker *w) {
  if (!w->app_started || w->app_stopped) return;
  w->app_stopped = true;
  if (w->srv->cfg.worker_stop) w->srv->cfg.worker_stop(w, w->srv->cfg.handler_ctx);
}

static void worker_close_inbox(acs_worker *w) {
  acs__handoff *h;
  if (!w->hq_lock_ready) return;
  uv_mutex_lock(&w->hq_lock);
  w->hq_closed = true;
  h = w->hq_head;
  w->hq_head = w->hq_tail = NULL;
  uv_mutex_unlock(&w->hq_lock);
  while (h) {
    acs__handoff *next = h->next;
    acs__handoff_free(h);
    h = next;
  }
  if (w->hq_async_open) {
    uv_close((uv_handle_t *)&w->hq_async, NULL);
    w->hq_async_open = false;
  }
}

static void worker_begin_stop(acs_worker *w) {
  if (w->stopping) return;
  w->stopping = true;
  worker_close_inbox(w);
  for (int k = 0; k < ACS_LISTENER_COUNT; k++) {
    if (w->listener_open[k]) {
      uv_close((uv_handle_t *)&w->listener[k], NULL);
      w->listener_open[k] = false;
    }
  }
  if (w->async_open) {
    uv_close((uv_handle_t *)&w->stop_async, NULL);
    w->async_open = false;
  }
  acs__conn_stop_all(w);
  if (w->n_active > 0) {
    uv_timer_start(&w->shutdown_timer, worker_shutdown_cb, w->srv->cfg.shutdown_timeout_ms, 0);
  } else {
    worker_app_stop(w);
  }
}

void acs__worker_conn_closing(acs_worker *w) {
  w->n_active--;
  if (w->stopping && w->n_active == 0) {
    uv_timer_stop(&w->shutdown_timer);
    worker_app_stop(w);
  }
}

int acs__worker_handoff_push(acs_worker *t, acs__handoff *h) {
  int rc = 0;
  h->next = NULL;
  uv_mutex_lock(&t->hq_lock);
  if (t->hq_closed) {
    rc = ACS_ESTATE;
  } else {
    if (t->hq_tail) {
      t->hq_tail->next = h;
    } else {
      t->hq_head = h;
    }
    t->hq_tail = h;
    uv_async_send(&t->hq_async); /* under the lock: the handle is open */
  }
  uv_mutex_unlock(&t->hq_lock);
  return rc;
}

static void worker_inbox_cb(uv_async_t *a) {
  acs_worker *w = a->data;
  uv_mutex_lock(&w->hq_lock);
  acs__handoff *h = w->hq_head;
  w->hq_head = w->hq_tail = NULL;
  uv_mutex_unlock(&w->hq_lock);
  while (h) {
    acs__handoff *next = h->next;
    if (w->stopping) {
      acs__handoff_free(h);
    } else {
      acs__conn_adopt(w, h);
    }
    h = next;
  }
}

static void worker_stop_cb(uv_async_t *a) { worker_begin_stop(a->data); }

static void worker_walk_cb(uv_handle_t *h, void *arg) {
  if (!uv_is_closing(h)) {
    acs_log(ACS_LOG_WARN, "net", "worker %u: closing a leftover %s handle",
            ((acs_worker *)arg)->index, uv_handle_type_name(uv_handle_get_type(h)));
    uv_close(h, NULL);
  }
}

/* After the loop has ended (or for a worker that never ran): close all,
 * free the connections, close the loop. */
static void worker_teardown(acs_worker *w) {
  worker_begin_stop(w);
  if (acs__conn_close_all(w)) w->cut = true;
  worker_app_stop(w);
  if (w->pause_timer_open) {
    uv_close((uv_handle_t *)&w->pause_timer, NULL);
    w->pause_timer_open = false;
  }
  if (w->shutdown_timer_open) {
    uv_close((uv_handle_t *)&w->shutdown_timer, NULL);
    w->shutdown_timer_open = false;
  }
  uv_run(&w->loop, UV_RUN_DEFAULT);
  uv_walk(&w->loop, worker_walk_cb, w);
  uv_run(&w->loop, UV_RUN_DEFAULT);
  acs__conn_free_remaining(w);
  int rc = uv_loop_close(&w->loop);
  if (rc) acs_log(ACS_LOG_ERR, "net", "worker %u: loop close: %s", w->index, uv_strerror(rc));
  w->loop_ready = false;
}

static void worker_main(void *arg) {
  acs_worker *w = arg;
  char name[16];
  snprintf(name, sizeof name, "acsd-w%u", w->index);
  pthread_setname_np(pthread_self(), name);
  acs_log_set_worker((int)w->index); /* JSON log records name their worker */
  uv_run(&w->loop, UV_RUN_DEFAULT);
  worker_teardown(w);
}

/* The descriptor budget. Accepting past the open-files limit fails with
 * EMFILE, and libuv then calls again at once for every connection waiting
 * (its spare-descriptor trick does not survive several threads sharing one
 * descriptor table): a loop that never returns. So at the budget a new
 * connection is left in libuv unaccepted, which stops it watching that
 * listener (the next ones wait in the kernel's backlog, the CPEs in
 * connect()), and a timer takes it once connections have closed. */
static bool over_budget(const acs_server *s) {
  return s->max_conns && atomic_load_explicit(&s->open_conns, memory_order_relaxed) >= s->max_conns;
}

static void worker_pause_cb(uv_timer_t *t) {
  acs_worker *w = t->data;
  bool still = false;
  for (int k = 0; k < ACS_LISTENER_COUNT; k++) {
    if (!w->paused[k]) continue;
    if (w->stopping) { /* the listener's close drops what waits */
      w->paused[k] = false;
    } else if (over_budget(w->srv)) {
      still = true;
    } else {
      w->paused[k] = false;
      acs__conn_accept(w, (uv_stream_t *)&w->listener[k], (acs_listener_kind)k);
    }
  }
  if (!still) uv_timer_stop(t);
}

static void worker_on_connection(uv_stream_t *l, int status) {
  acs_worker *w = l->data;
  acs_listener_kind kind = (acs_listener_kind)((uv_tcp_t *)l - w->listener);
  if (status == 0 && over_budget(w->srv)) {
    if (!w->paused[kind]) {
      w->paused[kind] = true;
      w->accept_errors++;
      uint64_t now = uv_now(&w->loop);
      if (now - w->accept_error_logged_ms >= 1000 || w->accept_error_logged_ms == 0) {
        acs_log(ACS_LOG_WARN, "net",
                "worker %u: %ld connections open, the open-files budget: %s waits (%llu pauses)",
                w->index, atomic_load_explicit(&w->srv->open_conns, memory_order_relaxed),
                kind_names[kind], (unsigned long long)w->accept_errors);
        w->accept_error_logged_ms = now ? now : 1;
      }
      uv_timer_start(&w->pause_timer, worker_pause_cb, 20, 20);
    }
    return;
  }
  if (status < 0) {
    /* Out of descriptors (EMFILE) libuv sheds the waiting connections and
     * calls again for each: one line a second, with the count. */
    w->accept_errors++;
    uint64_t now = uv_now(&w->loop);
    if (now - w->accept_error_logged_ms >= 1000 || w->accept_error_logged_ms == 0) {
      acs_log(ACS_LOG_WARN, "net", "worker %u: accept on %s: %s (%llu accept errors so far)",
              w->index, kind_names[kind], uv_strerror(status),
              (unsigned long long)w->accept_errors);
      w->accept_error_logged_ms = now ? now : 1;
    }
    return;
  }
  acs__conn_accept(w, l, kind);
}

static int worker_init(acs_server *s, acs_worker *w, unsigned index) {
  w->srv = s;
  w->index = index;
  w->rbuf = malloc(ACS_NET_READ_BUF);
  if (!w->rbuf) return ACS_ENOMEM;
  int rc = uv_loop_init(&w->loop);
  if (rc) return rc;
  w->loop_ready = true;
  uv_async_init(&w->loop, &w->stop_async, worker_stop_cb);
  w->stop_async.data = w;
  w->async_open = true;
  uv_timer_init(&w->loop, &w->shutdown_timer);
  w->shutdown_timer.data = w;
  w->shutdown_timer_open = true;
  uv_timer_init(&w->loop, &w->pause_timer);
  w->pause_timer.data = w;
  w->pause_timer_open = true;
  if ((rc = uv_mutex_init(&w->hq_lock))) return rc;
  w->hq_lock_ready = true;
  uv_async_init(&w->loop, &w->hq_async, worker_inbox_cb);
  w->hq_async.data = w;
  w->hq_async_open = true;
  return 0;
}

/* Binds listener `kind` on every worker. */
static int server_listen(acs_server *s, acs_listener_kind kind) {
  const char *text = s->cfg.listen[kind];
  struct sockaddr_storage ss;
  int rc = 0, fd = -1;
  if (acs_addr_parse(text, &ss)) {
    acs_log(ACS_LOG_ERR, "net", "invalid %s listen address '%s'", kind_names[kind], text);
    return ACS_ECONFIG;
  }
  if (addr_port(&ss) != 0 && (rc = probe_free(&ss))) goto fail;
  for (unsigned i = 0; i < s->n_workers; i++) {
    acs_worker *w = &s->workers[i];
    if (i > 0) addr_set_port(&ss, s->port[kind]);
    if ((fd = bind_socket(&ss, true)) < 0) {
      rc = fd;
      goto fail;
    }
    if (i == 0) {
      struct sockaddr_storage got;
      socklen_t len = sizeof got;
      if (getsockname(fd, (struct sockaddr *)&got, &len)) {
        rc = -errno;
        goto fail;
      }
      s->port[kind] = addr_port(&got);
    }
    uv_tcp_init(&w->loop, &w->listener[kind]);
    w->listener[kind].data = w;
    w->listener_open[kind] = true;
    if ((rc = uv_tcp_open(&w->listener[kind], fd))) goto fail;
    fd = -1; /* the handle owns it */
    rc = uv_listen((uv_stream_t *)&w->listener[kind], (int)s->cfg.backlog, worker_on_connection);
    if (rc) goto fail;
  }
  acs_log(ACS_LOG_DEBUG, "net", "%s listening on %s (port %d, %u sockets)", kind_names[kind], text,
          s->port[kind], s->n_workers);
  return 0;
fail:
  if (fd >= 0) close(fd);
  acs_log(s->cfg.listen_optional[kind] ? ACS_LOG_WARN : ACS_LOG_ERR, "net",
          "cannot listen on %s (%s): %s", text, kind_names[kind], acs_strerror(rc));
  return rc;
}

/* Stops, joins and frees whatever acs_server_start() managed to set up. */
static void server_abort(acs_server *s) {
  atomic_store(&s->stop_requested, true);
  for (unsigned i = 0; i < s->n_workers; i++) {
    if (s->workers[i].thread_started) uv_async_send(&s->workers[i].stop_async);
  }
  for (unsigned i = 0; i < s->n_workers; i++) {
    acs_worker *w = &s->workers[i];
    if (w->thread_started) {
      uv_thread_join(&w->thread);
    } else if (w->loop_ready) {
      worker_teardown(w);
    }
  }
}

static void server_free(acs_server *s) {
  if (!s) return;
  for (unsigned i = 0; s->workers && i < s->n_workers; i++) {
    free(s->workers[i].rbuf);
    if (s->workers[i].hq_lock_ready) uv_mutex_destroy(&s->workers[i].hq_lock);
  }
  free(s->workers);
  for (int k = 0; k < ACS_LISTENER_COUNT; k++) free((char *)s->cfg.listen[k]);
  free(s);
}

int acs_server_start(const acs_server_config *cfg, acs_server **out) {
  int rc = 0;
  *out = NULL;
  acs_server *s = calloc(1, sizeof *s);
  if (!s) return ACS_ENOMEM;
  s->cfg = *cfg;
  for (int k = 0; k < ACS_LISTENER_COUNT; k++) {
    s->cfg.listen[k] = NULL;
    if (cfg->listen[k] && !(s->cfg.listen[k] = strdup(cfg->listen[k]))) {
      rc = ACS_ENOMEM;
      goto fail;
    }
  }
  if (!s->cfg.backlog) s->cfg.backlog = 4096;
  atomic_init(&s->stop_requested, false);
  atomic_init(&s->open_conns, 0);
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
    s->max_conns = rl.rlim_cur > 1024 ? (long)rl.rlim_cur - 256 : (long)rl.rlim_cur / 2;
  unsigned n = cfg->workers ? cfg->workers : uv_available_parallelism();
  if (n == 0) n = 1;
  if (!(s->workers = calloc(n, sizeof *s->workers))) {
    rc = ACS_ENOMEM;
    goto fail;
  }
  s->n_workers = n;
  for (unsigned i = 0; i < n; i++) {
    if ((rc = worker_init(s, &s->workers[i], i))) goto fail;
  }
  for (int k = 0; k < ACS_LISTENER_COUNT; k++) {
    if (!s->cfg.listen[k]) continue;
    rc = server_listen(s, (acs_listener_kind)k);
    if (rc == UV_EADDRINUSE && s->cfg.listen_optional[k] && !s->workers[0].listener_open[k]) {
      /* taken before any socket was made: carry on without this listener */
      acs_log(ACS_LOG_WARN, "net", "%s: %s is in use; running without this listener", kind_names[k],
              s->cfg.listen[k]);
      free((char *)s->cfg.listen[k]);
      s->cfg.listen[k] = NULL;
      rc = 0;
    }
    if (rc) goto fail;
  }
  for (unsigned i = 0; cfg->worker_start && i < n; i++) {
    acs_worker *w = &s->workers[i];
    if ((rc = cfg->worker_start(w, cfg->handler_ctx))) goto fail;
    w->app_started = true;
  }
  for (unsigned i = 0; i < n; i++) {
    acs_worker *w = &s->workers[i];
    if ((rc = uv_thread_create(&w->thread, worker_main, w))) {
      acs_log(ACS_LOG_ERR, "net", "cannot start worker %u: %s", i, uv_strerror(rc));
      goto fail;
    }
    w->thread_started = true;
  }
  *out = s;
  return 0;
fail:
  if (s->workers) server_abort(s);
  server_free(s);
  return rc;
}

void acs_server_stop(acs_server *s) {
  if (!s || atomic_exchange(&s->stop_requested, true)) return;
  for (unsigned i = 0; i < s->n_workers; i++) uv_async_send(&s->workers[i].stop_async);
}

int acs_server_join(acs_server *s) {
  bool cut = false;
  for (unsigned i = 0; i < s->n_workers; i++) {
    acs_worker *w = &s->workers[i];
    if (w->thread_started) uv_thread_join(&w->thread);
    cut = cut || w->cut;
  }
  server_free(s);
  return cut ? ACS_ETIMEOUT : 0;
}

unsigned acs_server_workers(const acs_server *s) { return s->n_workers; }

int acs_server_port(const acs_server *s, acs_listener_kind kind) {
  if ((unsigned)kind >= ACS_LISTENER_COUNT) return 0;
  return s->port[kind];
}

void acs_server_stats_get(const acs_server *s, acs_server_stats *out) {
  memset(out, 0, sizeof *out);
  for (unsigned i = 0; i < s->n_workers; i++) {
    acs_worker *w = &s->workers[i];
    out->connections_open += atomic_load_explicit(&w->st_open, memory_order_relaxed);
    out->connections_total += atomic_load_explicit(&w->st_total, memory_order_relaxed);
    out->requests += atomic_load_explicit(&w->st_requests, memory_order_relaxed);
  }
}

int acs_worker_port(const acs_worker *w, acs_listener_kind kind) {
  return acs_server_port(w->srv, kind);
}

unsigned acs_worker_index(const acs_worker *w) { return w->index; }
bool acs_worker_listener_tls(const acs_worker *w, acs_listener_kind kind) {
  return (unsigned)kind < ACS_LISTENER_COUNT && w->srv->cfg.tls[kind] != NULL;
}
unsigned acs_worker_count(const acs_worker *w) { return w->srv->n_workers; }
acs_worker *acs_server_worker(acs_server *s, unsigned index) {
  return index < s->n_workers ? &s->workers[index] : NULL;
}
void acs_worker_set_data(acs_worker *w, void *data) { w->data = data; }
void *acs_worker_data(const acs_worker *w) { return w->data; }
bool acs_worker_stopping(const acs_worker *w) { return w->stopping; }
struct uv_loop_s *acs_worker_loop(acs_worker *w) {
  return &w->loop;
}
