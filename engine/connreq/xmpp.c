/* xmpp.c: XMPP connection requests (TR-069 Annex K) through libstrophe
 * (connreq_internal.h).
 *
 * libstrophe has no external-loop API, so one thread per process runs it:
 * one XMPP client connection (--xmpp-jid, --xmpp-password, --xmpp-server,
 * --xmpp-tls), reconnected with back-off (1 s doubling to 60 s). Workers
 * hand requests over through a queue under one mutex; the thread takes them
 * within XMPP_TICK_MS, sends the connectionRequest IQ, matches the answer by
 * its id, and hands the outcome back to the worker's port (a queue and a
 * uv_async). A request that is not answered within its timeout (also when
 * the connection is down all that time) ends with ACS_ETIMEOUT.
 *
 * Ownership: a request belongs to the thread from acs__xmpp_send until it
 * is put on its port's done list; the worker frees it after its callback.
 * A port that closes (its worker stops) tells its requests ACS_ECANCELED at
 * once and marks those still with the thread, which frees them instead. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strophe.h>
#include <time.h>

#include "connreq/connreq_internal.h"
#include "core/acs_err.h"
#include "core/acs_log.h"

#define XMPP_TICK_MS 20
#define XMPP_NS "urn:broadband-forum-org:cwmp:xmppConnReq-1-0"
#define BACKOFF_MAX_MS 60000

struct acs_xmpp_req {
  acs_xmpp_req *next;  /* in the thread's list, then the port's done list */
  acs_xmpp_req *pnext; /* the port's requests still with the thread */
  acs_xmpp_port *port;
  char *jid, *user, *pass;
  char id[32];
  uint64_t deadline_ms;
  bool sent, cancelled;
  int status;
  char detail[200];
  acs_xmpp_cb cb;
  void *arg;
};

struct acs_xmpp_port {
  uv_async_t async;
  acs_xmpp_req *done, *pending;
  bool closed;
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct {
  unsigned users; /* ports open */
  pthread_t thread;
  bool running, stop;
  acs_xmpp_req *queue; /* handed over, not taken by the thread yet */
  char *jid, *pass, *host, *tls;
  unsigned short port;
  _Atomic int connected;
} X;

static uint64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void req_free(acs_xmpp_req *r) {
  free(r->jid);
  free(r->user);
  if (r->pass) {
    memset(r->pass, 0, strlen(r->pass));
    free(r->pass);
  }
  free(r);
}

/* --- the thread's side (thread-local state below is only touched there) */

typedef struct xstate {
  xmpp_ctx_t *ctx;
  xmpp_conn_t *conn;
  acs_xmpp_req *reqs; /* taken, waiting to be sent or answered */
  bool up;            /* connected and bound */
  bool connecting;
  uint64_t next_attempt, backoff;
  unsigned seq;
} xstate;

/* Done: to the port (or freed when the port has gone). Under mu. */
static void deliver_locked(acs_xmpp_req *r) {
  if (r->cancelled) { /* its port has closed (and may be freed) */
    req_free(r);
    return;
  }
  acs_xmpp_port *p = r->port;
  for (acs_xmpp_req **q = &p->pending; *q; q = &(*q)->pnext) {
    if (*q == r) {
      *q = r->pnext;
      break;
    }
  }
  r->next = p->done;
  p->done = r;
  uv_async_send(&p->async);
}

static void finish(xstate *s, acs_xmpp_req *r, int status, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void finish(xstate *s, acs_xmpp_req *r, int status, const char *fmt, ...) {
  for (acs_xmpp_req **q = &s->reqs; *q; q = &(*q)->next) {
    if (*q == r) {
      *q = r->next;
      break;
    }
  }
  r->status = status;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(r->detail, sizeof r->detail, fmt, ap);
  va_end(ap);
  pthread_mutex_lock(&mu);
  deliver_locked(r);
  pthread_mutex_unlock(&mu);
}

static int answer_cb(xmpp_conn_t *conn, xmpp_stanza_t *st, void *arg) {
  xstate *s = arg;
  (void)conn;
  const char *id = xmpp_stanza_get_id(st);
  const char *type = xmpp_stanza_get_type(st);
  if (!type || (strcmp(type, "result") != 0 && strcmp(type, "error") != 0))
    return 1; /* a request with our id (one sent to ourselves): not the answer */
  acs_xmpp_req *r = s->reqs;
  while (r && !(r->sent && id && strcmp(r->id, id) == 0)) r = r->next;
  if (!r) return 0;
  if (strcmp(type, "result") == 0) {
    finish(s, r, 0, "accepted by %.120s", r->jid);
    return 0;
  }
  /* <error type="..."><condition xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/></error> */
  const char *cond = "unknown";
  xmpp_stanza_t *e = xmpp_stanza_get_child_by_name(st, "error");
  for (xmpp_stanza_t *c = e ? xmpp_stanza_get_children(e) : NULL; c; c = xmpp_stanza_get_next(c)) {
    const char *n = xmpp_stanza_get_name(c);
    if (n && strcmp(n, "text") != 0) {
      cond = n;
      break;
    }
  }
  int status = strcmp(cond, "not-authorized") == 0 || strcmp(cond, "forbidden") == 0
                   ? ACS_EINVAL
                   : ACS_EUNAVAILABLE;
  finish(s, r, status, "%.120s answered %s%s", r->jid, cond,
         strcmp(cond, "service-unavailable") == 0 ? " (offline, or not taking requests from us)"
         : status == ACS_EINVAL                   ? " (credentials refused)"
                                                  : "");
  return 0;
}

/* RFC 6120 8.2.3: an IQ get or set nobody here handles gets an error. */
static int unhandled_iq_cb(xmpp_conn_t *conn, xmpp_stanza_t *st, void *arg) {
  (void)arg;
  const char *type = xmpp_stanza_get_type(st);
  if (type && (strcmp(type, "get") == 0 || strcmp(type, "set") == 0)) {
    xmpp_stanza_t *err = xmpp_stanza_reply_error(st, "cancel", "service-unavailable", NULL);
    if (err) {
      xmpp_send(conn, err);
      xmpp_stanza_release(err);
    }
  }
  return 1;
}

static void send_iq(xstate *s, acs_xmpp_req *r) {
  snprintf(r->id, sizeof r->id, "cr%u", ++s->seq);
  xmpp_stanza_t *iq = xmpp_iq_new(s->ctx, "get", r->id);
  xmpp_stanza_t *cr = xmpp_stanza_new(s->ctx);
  xmpp_stanza_set_name(cr, "connectionRequest");
  xmpp_stanza_set_ns(cr, XMPP_NS);
  const char *names[2] = {"username", "password"};
  const char *vals[2] = {r->user, r->pass};
  for (int i = 0; i < 2; i++) {
    xmpp_stanza_t *el = xmpp_stanza_new(s->ctx), *text = xmpp_stanza_new(s->ctx);
    xmpp_stanza_set_name(el, names[i]);
    xmpp_stanza_set_text(text, vals[i]);
    xmpp_stanza_add_child(el, text);
    xmpp_stanza_release(text);
    xmpp_stanza_add_child(cr, el);
    xmpp_stanza_release(el);
  }
  xmpp_stanza_add_child(iq, cr);
  xmpp_stanza_release(cr);
  xmpp_stanza_set_to(iq, r->jid);
  xmpp_id_handler_add(s->conn, answer_cb, r->id, s);
  xmpp_send(s->conn, iq);
  xmpp_stanza_release(iq);
  r->sent = true;
}

static void conn_cb(xmpp_conn_t *conn, xmpp_conn_event_t ev, int err, xmpp_stream_error_t *se,
                    void *arg) {
  xstate *s = arg;
  (void)se;
  s->connecting = false;
  if (ev == XMPP_CONN_CONNECT) {
    s->up = true;
    s->backoff = 0;
    atomic_store(&X.connected, 1);
    acs_log(ACS_LOG_INFO, "xmpp", "logged in as %s (%s)", xmpp_conn_get_bound_jid(conn),
            xmpp_conn_is_secured(conn) ? "TLS" : "no TLS");
    xmpp_stanza_t *pres = xmpp_presence_new(s->ctx);
    xmpp_send(conn, pres);
    xmpp_stanza_release(pres);
    return;
  }
  bool was_up = s->up;
  s->up = false;
  atomic_store(&X.connected, 0);
  s->backoff = s->backoff ? s->backoff * 2 : 1000;
  if (s->backoff > BACKOFF_MAX_MS) s->backoff = BACKOFF_MAX_MS;
  s->next_attempt = now_ms() + s->backoff;
  acs_log(was_up ? ACS_LOG_WARN : ACS_LOG_INFO, "xmpp", "%s %s (error %d); trying again in %llu ms",
          was_up ? "disconnected from" : "cannot log in to", X.host ? X.host : X.jid, err,
          (unsigned long long)s->backoff);
  /* IQs sent on the lost connection get no answer: failed now */
  for (acs_xmpp_req *r = s->reqs, *next; r; r = next) {
    next = r->next;
    if (r->sent) {
      xmpp_id_handler_delete(conn, answer_cb, r->id);
      finish(s, r, ACS_EUNAVAILABLE, "the XMPP connection was lost before %.120s answered", r->jid);
    }
  }
}

static void try_connect(xstate *s) {
  long flags = 0;
  if (!X.tls || strcmp(X.tls, "required") == 0) {
    flags = XMPP_CONN_FLAG_MANDATORY_TLS;
  } else if (strcmp(X.tls, "trusted") == 0) {
    flags = XMPP_CONN_FLAG_MANDATORY_TLS | XMPP_CONN_FLAG_TRUST_TLS;
  } else {
    flags = XMPP_CONN_FLAG_DISABLE_TLS;
  }
  xmpp_conn_set_flags(s->conn, flags);
  if (xmpp_connect_client(s->conn, X.host, X.port, conn_cb, s) == XMPP_EOK) {
    s->connecting = true;
  } else {
    s->backoff = s->backoff ? s->backoff * 2 : 1000;
    if (s->backoff > BACKOFF_MAX_MS) s->backoff = BACKOFF_MAX_MS;
    s->next_attempt = now_ms() + s->backoff;
  }
}

static void *thread_main(void *unused) {
  (void)unused;
  xstate s;
  memset(&s, 0, sizeof s);
  xmpp_initialize();
  s.ctx = xmpp_ctx_new(NULL, NULL);
  s.conn = xmpp_conn_new(s.ctx);
  xmpp_conn_set_jid(s.conn, X.jid);
  xmpp_conn_set_pass(s.conn, X.pass);
  xmpp_conn_set_sockopt_callback(s.conn, xmpp_sockopt_cb_keepalive);
  xmpp_handler_add(s.conn, unhandled_iq_cb, NULL, "iq", NULL, &s);
  for (;;) {
    pthread_mutex_lock(&mu);
    bool stop = X.stop;
    acs_xmpp_req *taken = X.queue;
    X.queue = NULL;
    pthread_mutex_unlock(&mu);
    while (taken) {
      acs_xmpp_req *r = taken;
      taken = r->next;
      r->next = s.reqs;
      s.reqs = r;
    }
    uint64_t now = now_ms();
    for (acs_xmpp_req *r = s.reqs, *next; r; r = next) {
      next = r->next;
      if (stop) {
        finish(&s, r, ACS_ECANCELED, "cancelled: acsd is stopping");
      } else if (now >= r->deadline_ms) {
        if (r->sent) xmpp_id_handler_delete(s.conn, answer_cb, r->id);
        finish(&s, r, ACS_ETIMEOUT,
               r->sent ? "no answer from %.120s" : "not connected to the XMPP server (for %.120s)",
               r->jid);
      } else if (!r->sent && s.up) {
        send_iq(&s, r);
      }
    }
    if (stop) break;
    if (!s.up && !s.connecting && now >= s.next_attempt) try_connect(&s);
    xmpp_run_once(s.ctx, XMPP_TICK_MS);
  }
  if (s.up || s.connecting) {
    xmpp_disconnect(s.conn);
    for (int i = 0; i < 50 && (s.up || s.connecting); i++) xmpp_run_once(s.ctx, XMPP_TICK_MS);
  }
  xmpp_conn_release(s.conn);
  xmpp_ctx_free(s.ctx);
  xmpp_shutdown();
  return NULL;
}

/* --- the workers' side */

static void async_cb(uv_async_t *a) {
  acs_xmpp_port *p = a->data;
  pthread_mutex_lock(&mu);
  acs_xmpp_req *done = p->done;
  p->done = NULL;
  pthread_mutex_unlock(&mu);
  while (done) {
    acs_xmpp_req *r = done;
    done = r->next;
    r->cb(r->status, r->detail, r->arg);
    req_free(r);
  }
}

static void port_closed_cb(uv_handle_t *h) { free(h->data); }

int acs__xmpp_port_open(uv_loop_t *loop, const acs_config *cfg, acs_xmpp_port **out) {
  const char *tls = cfg->xmpp_tls;
  if (tls && strcmp(tls, "required") != 0 && strcmp(tls, "trusted") != 0 &&
      strcmp(tls, "off") != 0) {
    /* a typo must not turn TLS off */
    acs_log(ACS_LOG_ERR, "xmpp", "xmpp-tls '%s': expected required, trusted or off", tls);
    return ACS_ECONFIG;
  }
  acs_xmpp_port *p = calloc(1, sizeof *p);
  if (!p) return ACS_ENOMEM;
  int rc = uv_async_init(loop, &p->async, async_cb);
  if (rc) {
    free(p);
    return rc;
  }
  p->async.data = p;
  pthread_mutex_lock(&mu);
  if (X.users++ == 0) {
    X.stop = false;
    X.jid = strdup(cfg->xmpp_jid);
    X.pass = strdup(cfg->xmpp_password ? cfg->xmpp_password : "");
    X.tls = cfg->xmpp_tls ? strdup(cfg->xmpp_tls) : NULL;
    X.host = NULL;
    X.port = 0;
    if (cfg->xmpp_server) {
      X.host = strdup(cfg->xmpp_server);
      char *colon = X.host ? strrchr(X.host, ':') : NULL;
      if (colon && !strchr(colon, ']')) {
        *colon = '\0';
        X.port = (unsigned short)atoi(colon + 1);
      }
    }
    rc = !X.jid || !X.pass ? ACS_ENOMEM : pthread_create(&X.thread, NULL, thread_main, NULL);
    if (rc) {
      X.users--;
      rc = rc == ACS_ENOMEM ? rc : -rc;
    } else {
      X.running = true;
    }
  }
  pthread_mutex_unlock(&mu);
  if (rc) {
    uv_close((uv_handle_t *)&p->async, port_closed_cb);
    return rc;
  }
  *out = p;
  return 0;
}

void acs__xmpp_port_close(acs_xmpp_port *p) {
  if (!p) return;
  pthread_mutex_lock(&mu);
  p->closed = true;
  acs_xmpp_req *done = p->done;
  size_t n = 0;
  for (acs_xmpp_req *r = p->pending; r; r = r->pnext) n++;
  /* the callbacks of those still with the thread, taken now: once
   * cancelled, the thread frees them whenever it likes */
  struct {
    acs_xmpp_cb cb;
    void *arg;
  } *tell = n ? calloc(n, sizeof *tell) : NULL;
  n = 0;
  for (acs_xmpp_req *r = p->pending; r; r = r->pnext) {
    r->cancelled = true;
    if (tell) {
      tell[n].cb = r->cb;
      tell[n++].arg = r->arg;
    }
  }
  p->done = p->pending = NULL;
  bool last = --X.users == 0;
  if (last) X.stop = true;
  pthread_mutex_unlock(&mu);
  while (done) {
    acs_xmpp_req *r = done;
    done = r->next;
    r->cb(r->status, r->detail, r->arg);
    req_free(r);
  }
  for (size_t i = 0; i < n; i++)
    tell[i].cb(ACS_ECANCELED, "cancelled: acsd is stopping", tell[i].arg);
  free(tell);
  if (last && X.running) {
    pthread_join(X.thread, NULL);
    X.running = false;
    free(X.jid);
    if (X.pass) memset(X.pass, 0, strlen(X.pass));
    free(X.pass);
    free(X.host);
    free(X.tls);
    X.jid = X.pass = X.host = X.tls = NULL;
  }
  uv_close((uv_handle_t *)&p->async, port_closed_cb);
}

int acs__xmpp_send(acs_xmpp_port *p, const char *jid, const char *user, const char *pass,
                   unsigned timeout_ms, acs_xmpp_cb cb, void *arg) {
  if (p->closed) return ACS_ESTATE;
  if (!jid || !strchr(jid, '@')) return ACS_EINVAL;
  acs_xmpp_req *r = calloc(1, sizeof *r);
  if (!r) return ACS_ENOMEM;
  r->jid = strdup(jid);
  r->user = strdup(user ? user : "");
  r->pass = strdup(pass ? pass : "");
  if (!r->jid || !r->user || !r->pass) {
    req_free(r);
    return ACS_ENOMEM;
  }
  r->port = p;
  r->cb = cb;
  r->arg = arg;
  r->deadline_ms = now_ms() + (timeout_ms ? timeout_ms : 10000);
  pthread_mutex_lock(&mu);
  r->pnext = p->pending;
  p->pending = r;
  r->next = X.queue;
  X.queue = r;
  pthread_mutex_unlock(&mu);
  return 0;
}

bool acs__xmpp_connected(void) { return atomic_load(&X.connected) != 0; }
