/* xmppc.c: XMPP connection requests on the CPE's side (TR-069 Annex K).
 *
 * With --xmpp-server, a device whose XMPP.Connection.1 is enabled (Username,
 * Domain, Resource, Password) and named by ManagementServer.
 * ConnReqXMPPConnection logs in to that server as Username@Domain/Resource.
 * Once bound it reports the full JID as XMPP.Connection.1.JabberID and
 * ManagementServer.ConnReqJabberID (active notification: a "4 VALUE
 * CHANGE" session tells the ACS). A connectionRequest IQ
 * (urn:broadband-forum-org:cwmp:xmppConnReq-1-0) is answered:
 *   - from a JID that ConnReqAllowedJabberIDs does not list (bare JIDs
 *     compared): service-unavailable;
 *   - username/password not the ConnectionRequestUsername/Password:
 *     not-authorized;
 *   - else an empty result, and a session with "6 CONNECTION REQUEST".
 *
 * libstrophe has no external-loop API: one thread runs every device's
 * connection; the loop and the thread share a device table under one mutex
 * (the loop writes what a device wants, the thread what happened) and the
 * thread wakes the loop with a uv_async. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strophe.h>

#include "core/acs_err.h"
#include "sim.h"

#define XMPP_NS "urn:broadband-forum-org:cwmp:xmppConnReq-1-0"

typedef struct xdev {
  sim_dev *d;
  /* written by the loop */
  char jid[400], pass[257];
  char cr_user[257], cr_pass[257], allowed[1024];
  bool want, restart;
  /* written by the thread */
  xmpp_conn_t *conn; /* thread only */
  bool dead;         /* thread only: the connection ended, release it */
  bool leaving;      /* thread only: xmpp_disconnect called */
  char bound[400];   /* new full JID for the loop; "" when none */
  unsigned crs;      /* connection requests taken, for the loop */
  uint64_t retry_at; /* thread only */
} xdev;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static xdev **devs; /* by device position; NULL when never enabled */
static bool started, stopping;
static pthread_t thread;
static uv_async_t wake;
static char host[256];
static unsigned short port;

static void bare(const char *jid, char *out, size_t n) {
  snprintf(out, n, "%s", jid ? jid : "");
  char *slash = strchr(out, '/');
  if (slash) *slash = '\0';
}

/* Under mu. */
static bool allowed(const xdev *x, const char *from) {
  char b[400], item[400];
  bare(from, b, sizeof b);
  const char *p = x->allowed;
  while (*p) {
    size_t n = strcspn(p, ",");
    snprintf(item, sizeof item, "%.*s", (int)n, p);
    char *s = item;
    while (*s == ' ') s++;
    char ib[400];
    bare(s, ib, sizeof ib);
    if (ib[0] && strcmp(ib, b) == 0) return true;
    p += n;
    if (*p == ',') p++;
  }
  return false;
}

static char *child_text(xmpp_stanza_t *cr, const char *name) {
  xmpp_stanza_t *c = xmpp_stanza_get_child_by_name(cr, name);
  return c ? xmpp_stanza_get_text(c) : NULL;
}

static int iq_cb(xmpp_conn_t *conn, xmpp_stanza_t *st, void *arg) {
  xdev *x = arg;
  xmpp_ctx_t *ctx = xmpp_conn_get_context(conn);
  xmpp_stanza_t *cr = xmpp_stanza_get_child_by_name_and_ns(st, "connectionRequest", XMPP_NS);
  if (!cr || SIM_QUIRK(SIM_Q_XMPP_SILENT)) return 1; /* --quirk xmpp-silent: no answer */
  char *user = child_text(cr, "username"), *pass = child_text(cr, "password");
  const char *from = xmpp_stanza_get_from(st);
  const char *cond = NULL;
  pthread_mutex_lock(&mu);
  if (!allowed(x, from)) {
    cond = "service-unavailable";
  } else if (!user || !pass || strcmp(user, x->cr_user) != 0 || strcmp(pass, x->cr_pass) != 0) {
    cond = "not-authorized";
  } else {
    x->crs++;
  }
  pthread_mutex_unlock(&mu);
  xmpp_stanza_t *rsp =
      cond ? xmpp_stanza_reply_error(st, cond[0] == 's' ? "cancel" : "auth", cond, NULL)
           : xmpp_stanza_reply(st);
  if (!cond) xmpp_stanza_set_type(rsp, "result");
  xmpp_send(conn, rsp);
  xmpp_stanza_release(rsp);
  if (user) xmpp_free(ctx, user);
  if (pass) xmpp_free(ctx, pass);
  uv_async_send(&wake);
  return 1;
}

static void conn_cb(xmpp_conn_t *conn, xmpp_conn_event_t ev, int err, xmpp_stream_error_t *se,
                    void *arg) {
  xdev *x = arg;
  (void)err;
  (void)se;
  if (ev == XMPP_CONN_CONNECT) {
    xmpp_stanza_t *pres = xmpp_presence_new(xmpp_conn_get_context(conn));
    xmpp_send(conn, pres);
    xmpp_stanza_release(pres);
    xmpp_handler_add(conn, iq_cb, XMPP_NS, "iq", "get", x);
    xmpp_handler_add(conn, iq_cb, XMPP_NS, "iq", "set", x);
    pthread_mutex_lock(&mu);
    snprintf(x->bound, sizeof x->bound, "%s", xmpp_conn_get_bound_jid(conn));
    pthread_mutex_unlock(&mu);
    uv_async_send(&wake);
    return;
  }
  x->dead = true;
}

static uint64_t mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void *thread_main(void *unused) {
  (void)unused;
  xmpp_initialize();
  xmpp_ctx_t *ctx = xmpp_ctx_new(NULL, NULL);
  for (;;) {
    pthread_mutex_lock(&mu);
    bool stop = stopping;
    for (uint32_t i = 0; i < S->ndev; i++) {
      xdev *x = devs[i];
      if (!x) continue;
      if (x->conn && x->dead) {
        xmpp_conn_release(x->conn);
        x->conn = NULL;
        x->dead = x->leaving = false;
        x->retry_at = mono_ms() + 1000;
      }
      if (x->conn && !x->leaving && (stop || !x->want || x->restart)) {
        x->restart = false;
        x->leaving = true;
        xmpp_disconnect(x->conn);
      } else if (!x->conn && x->want && !stop && mono_ms() >= x->retry_at) {
        x->restart = false;
        x->conn = xmpp_conn_new(ctx);
        xmpp_conn_set_jid(x->conn, x->jid);
        xmpp_conn_set_pass(x->conn, x->pass);
        xmpp_conn_set_flags(x->conn, XMPP_CONN_FLAG_TRUST_TLS);
        if (xmpp_connect_client(x->conn, host, port, conn_cb, x) != XMPP_EOK) x->dead = true;
      }
    }
    bool any = false;
    for (uint32_t i = 0; i < S->ndev; i++) any = any || (devs[i] && devs[i]->conn);
    pthread_mutex_unlock(&mu);
    if (stop && !any) break;
    xmpp_run_once(ctx, 20);
  }
  xmpp_ctx_free(ctx);
  xmpp_shutdown();
  return NULL;
}

/* --- the loop's side */

static const char *val(sim_dev *d, const char *name, acs_buf *scratch) {
  char full[160];
  snprintf(full, sizeof full, "%s%s", S->model->root, name);
  sim_ref r;
  return sim_dev_find(d, full, &r) ? "" : sim_dev_value(d, r, scratch, true);
}

static void set_val(sim_dev *d, const char *name, const char *v) {
  char full[160];
  snprintf(full, sizeof full, "%s%s", S->model->root, name);
  sim_ref r;
  if (sim_dev_find(d, full, &r) == 0 && sim_dev_set(d, r, v, false)) sim_dev_due(d, false);
}

static void wake_cb(uv_async_t *a) {
  (void)a;
  for (uint32_t i = 0; i < S->ndev; i++) {
    char bound[400] = "";
    unsigned crs = 0;
    pthread_mutex_lock(&mu);
    xdev *x = devs[i];
    if (x) {
      snprintf(bound, sizeof bound, "%s", x->bound);
      x->bound[0] = '\0';
      crs = x->crs;
      x->crs = 0;
    }
    pthread_mutex_unlock(&mu);
    if (!x) continue;
    sim_dev *d = &S->devs[i];
    if (bound[0]) {
      SIM_LOG("%s: XMPP bound as %s", d->serial, bound);
      set_val(d, "XMPP.Connection.1.JabberID", bound);
      set_val(d, "ManagementServer.ConnReqJabberID", bound);
    }
    if (crs && d->state != SIM_D_OFF && !S->stopping) {
      S->st.cr_received += crs;
      SIM_LOG("%s: XMPP connection request", d->serial);
      sim_dev_add_event(d, SIM_EV_CONNECTION_REQUEST, NULL);
      sim_dev_due(d, true);
    }
  }
}

static bool on(const char *v) { return strcmp(v, "true") == 0 || strcmp(v, "1") == 0; }

void sim_xmpp_update(sim_dev *d) {
  if (!S->o.xmpp_server || stopping) return;
  acs_buf sc = ACS_BUF_INIT;
  char jid[400], pass[257], cu[257], cp[257], al[1024], via[160];
  snprintf(jid, sizeof jid, "%s@", val(d, "XMPP.Connection.1.Username", &sc));
  bool want = on(val(d, "XMPP.Connection.1.Enable", &sc)) && jid[1];
  size_t n = strlen(jid);
  snprintf(jid + n, sizeof jid - n, "%s", val(d, "XMPP.Connection.1.Domain", &sc));
  want = want && jid[n];
  n = strlen(jid);
  const char *res = val(d, "XMPP.Connection.1.Resource", &sc);
  if (res[0]) snprintf(jid + n, sizeof jid - n, "/%s", res);
  snprintf(pass, sizeof pass, "%s", val(d, "XMPP.Connection.1.Password", &sc));
  snprintf(cu, sizeof cu, "%s", val(d, "ManagementServer.ConnectionRequestUsername", &sc));
  snprintf(cp, sizeof cp, "%s", val(d, "ManagementServer.ConnectionRequestPassword", &sc));
  snprintf(al, sizeof al, "%s", val(d, "ManagementServer.ConnReqAllowedJabberIDs", &sc));
  snprintf(via, sizeof via, "%s", val(d, "ManagementServer.ConnReqXMPPConnection", &sc));
  acs_buf_free(&sc);
  size_t vl = strlen(via);
  if (vl && via[vl - 1] == '.') via[--vl] = '\0';
  char want_via[64];
  snprintf(want_via, sizeof want_via, "%sXMPP.Connection.1", S->model->root);
  want = want && strcmp(via, want_via) == 0;
  if (!want && (!devs || !devs[d - S->devs])) return;
  if (!started) {
    const char *colon = strrchr(S->o.xmpp_server, ':');
    if (!colon || (size_t)(colon - S->o.xmpp_server) >= sizeof host) {
      fprintf(stderr, "cpesim: --xmpp-server %s: expected HOST:PORT\n", S->o.xmpp_server);
      S->o.xmpp_server = NULL;
      return;
    }
    snprintf(host, sizeof host, "%.*s", (int)(colon - S->o.xmpp_server), S->o.xmpp_server);
    port = (unsigned short)atoi(colon + 1);
    devs = sim_xcalloc(S->ndev, sizeof *devs);
    uv_async_init(S->loop, &wake, wake_cb);
    started = true;
    if (pthread_create(&thread, NULL, thread_main, NULL)) {
      fprintf(stderr, "cpesim: cannot start the XMPP thread\n");
      exit(1);
    }
  }
  pthread_mutex_lock(&mu);
  xdev *x = devs[d - S->devs];
  if (!x) x = devs[d - S->devs] = sim_xcalloc(1, sizeof *x);
  x->d = d;
  if (strcmp(x->jid, jid) != 0 || strcmp(x->pass, pass) != 0) x->restart = true;
  snprintf(x->jid, sizeof x->jid, "%s", jid);
  snprintf(x->pass, sizeof x->pass, "%s", pass);
  snprintf(x->cr_user, sizeof x->cr_user, "%s", cu);
  snprintf(x->cr_pass, sizeof x->cr_pass, "%s", cp);
  snprintf(x->allowed, sizeof x->allowed, "%s", al);
  x->want = want;
  pthread_mutex_unlock(&mu);
}

void sim_xmpp_stop_all(void) {
  if (!started) return;
  pthread_mutex_lock(&mu);
  stopping = true;
  pthread_mutex_unlock(&mu);
  pthread_join(thread, NULL);
  uv_close((uv_handle_t *)&wake, NULL);
  for (uint32_t i = 0; i < S->ndev; i++) free(devs[i]);
  free(devs);
  devs = NULL;
  started = false;
}
