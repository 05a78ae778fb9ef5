/* device.c: connection requests to devices by id (acs_connreq_device.h):
 * one statement reads the URL and the credentials, the worker's pool sends
 * the request, one statement records the outcome on the task, and a timer
 * bounds the wait and paces the polls of the task's status.
 *
 * A request holds itself alive while anything of it is outstanding (a
 * statement, the pool's callback, its timer); it is freed once the caller
 * has been told and nothing is left. The worker's state outlives its last
 * request, since the pool and the store call back after the stop hook. */
#include <openssl/rand.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "connreq/acs_connreq.h"
#include "connreq/acs_connreq_device.h"
#include "connreq/acs_stun.h"
#include "connreq/connreq_internal.h"
#include "core/acs_err.h"
#include "core/acs_log.h"
#include "core/acs_secret.h"

#define POLL_FIRST_MS 100
#define POLL_MAX_MS 500
#define WAKE_IDS 32

typedef struct dreq dreq;

struct acs_connreq_worker {
  acs_app_worker *aw;          /* NULL once stopped */
  acs_metrics_worker *metrics; /* outlives the worker */
  acs_pg *pg;
  uv_loop_t *loop;
  acs_connreq_pool *pool;
  const acs_config *cfg;
  const acs_secret_key *key;
  const char *instance;  /* the app's instance id: owner of store claims */
  acs_stun_server *stun; /* NULL: no UDP connection requests */
  acs_xmpp_port *xmpp;   /* NULL: no XMPP connection requests */
  dreq *reqs;
  bool stopping;
  bool in_stop; /* inside acs_connreq_worker_stop: not freed yet */
  /* acs_connreq_task_changed: tasks another worker or instance settled */
  const acs_app *app;
  acs_connreq_worker *reg_next; /* registry */
  uv_async_t wake;
  bool wake_open;
  long long wake_ids[WAKE_IDS]; /* under registry_lock */
  size_t nwake;
  bool wake_all; /* more than WAKE_IDS at once */
};

struct dreq {
  acs_connreq_worker *cw;
  dreq *prev, *next;
  char *device_id;
  char task_id[24];  /* "" without a task */
  char trace_id[33]; /* the caller's log trace (a W3C trace-id) when asked, or "" */
  uint64_t deadline; /* loop time; 0: no wait */
  unsigned poll_ms;
  acs_connreq_device_cb cb;
  void *arg;
  acs_connreq_outcome o;
  uv_timer_t timer;
  bool timer_open;
  bool told;
  bool polling; /* the outcome is in: the timer paces the polls of the task */
  bool settled; /* a signal said the task was settled: the next poll comes at once */
  bool poll_inflight; /* a poll of the task's row is on its way */
  int holds; /* statements and the pool's callback outstanding */
  /* the transports to try, in order, and where we are */
  unsigned char via[ACS_CONNREQ_TRANSPORTS];
  unsigned nvia, at;
  char *url, *udp_addr, *jid, *user, *pass;
  bool claimed_local, claimed_store;
  char tried[256]; /* "http: why; " of those that failed before */
  /* coalesced with a task: watches the task until the claim is gone */
  uv_timer_t recheck;
  bool recheck_open;
  unsigned rechecks;
};

static void cw_maybe_free(acs_connreq_worker *cw) {
  if (cw->stopping && !cw->reqs && !cw->in_stop && !cw->wake_open) free(cw);
}

/* --- the end of a request */

static void dreq_maybe_free(dreq *d) {
  if (!d->told || d->holds || d->timer_open || d->recheck_open) return;
  acs_connreq_worker *cw = d->cw;
  if (d->prev) {
    d->prev->next = d->next;
  } else {
    cw->reqs = d->next;
  }
  if (d->next) d->next->prev = d->prev;
  free(d->device_id);
  free(d->url);
  free(d->udp_addr);
  free(d->jid);
  free(d->user);
  if (d->pass) {
    memset(d->pass, 0, strlen(d->pass));
    free(d->pass);
  }
  free(d);
  cw_maybe_free(cw);
}

static void timer_closed_cb(uv_handle_t *h) {
  dreq *d = h->data;
  d->timer_open = false;
  dreq_maybe_free(d);
}

/* Tells the caller (once) and stops the timer. */
static void tell(dreq *d) {
  if (d->told) return;
  d->told = true;
  if (d->timer_open && !uv_is_closing((uv_handle_t *)&d->timer))
    uv_close((uv_handle_t *)&d->timer, timer_closed_cb);
  if (d->cb) d->cb(&d->o, d->arg);
}

static void fail(dreq *d, int status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void record(dreq *d);

/* The request ended before it was sent (no URL, credentials): recorded
 * like any other failure. */
static void fail(dreq *d, int status, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(d->o.detail, sizeof d->o.detail, fmt, ap);
  va_end(ap);
  d->o.status = status;
  d->o.sent = true;
  record(d);
}

/* --- waiting for the task */

static bool status_final(const char *s) {
  return strcmp(s, "pending") != 0 && strcmp(s, "sent") != 0;
}

static void timer_cb(uv_timer_t *t);

/* Next tick: the next poll or the deadline, whichever comes first. */
static void arm(dreq *d, uint64_t ms) {
  uint64_t now = uv_now(d->cw->loop);
  uint64_t left = d->deadline > now ? d->deadline - now : 0;
  uv_timer_start(&d->timer, timer_cb, ms < left ? ms : left, 0);
}

static const char sql_poll[] = "SELECT status FROM tasks WHERE id = $1::bigint";

static void poll_cb(acs_pg_result *res, void *arg) {
  dreq *d = arg;
  d->holds--;
  d->poll_inflight = false;
  if (!d->told) {
    bool gone = res->status == 0 && res->ntuples == 0;
    if (gone || (res->status == 0 && status_final(acs_pg_getvalue(res, 0, 0)))) {
      d->o.final = !gone;
      tell(d);
    } else if (d->cw->stopping || uv_now(d->cw->loop) >= d->deadline) {
      tell(d);
    } else {
      d->poll_ms = d->poll_ms * 2 > POLL_MAX_MS ? POLL_MAX_MS : d->poll_ms * 2;
      if (d->settled) /* settled while this poll was on its way */
        acs_log(ACS_LOG_DEBUG, "connreq", "task %s settled elsewhere: polled at once",
                d->task_id);
      arm(d, d->settled ? 0 : d->poll_ms);
    }
  }
  dreq_maybe_free(d);
}

static void timer_cb(uv_timer_t *t) {
  dreq *d = t->data;
  acs_connreq_worker *cw = d->cw;
  bool stopping = cw->stopping || (cw->aw && acs_worker_stopping(cw->aw->w));
  if (d->told) return;
  if (!d->o.sent) {
    /* the deadline, with the request still waiting for a slot or an answer */
    d->o.status = ACS_ETIMEOUT;
    snprintf(d->o.detail, sizeof d->o.detail, "still in progress when the wait ended");
    tell(d);
    return;
  }
  if (stopping || uv_now(cw->loop) >= d->deadline) {
    tell(d);
    return;
  }
  const char *p[1] = {d->task_id};
  d->settled = false; /* this poll sees it */
  if (acs_pg_query(cw->pg, sql_poll, 1, p, ACS_PG_FAILFAST, poll_cb, d) == 0) {
    d->holds++;
    d->poll_inflight = true;
  } else {
    arm(d, POLL_MAX_MS); /* the store is down: try again, within the deadline */
  }
}

/* After the outcome (recorded or not): wait for the task, or tell now. */
static void after_outcome(dreq *d, const char *task_status) {
  if (d->told) return; /* the wait ended while the request ran */
  if (task_status && status_final(task_status)) d->o.final = true;
  if (d->o.status || !d->deadline || d->o.final || d->cw->stopping) {
    tell(d);
    return;
  }
  d->poll_ms = POLL_FIRST_MS;
  d->polling = true;
  if (d->settled)
    acs_log(ACS_LOG_DEBUG, "connreq", "task %s settled elsewhere: polled at once", d->task_id);
  arm(d, d->settled ? 0 : d->poll_ms);
}

/* --- recording the outcome */

static const char sql_release[] =
    "DELETE FROM connreq_claims WHERE device_id = $1 AND instance = $2";

static const char sql_record[] =
    "UPDATE tasks SET result = coalesce(result, '{}'::jsonb) || jsonb_build_object("
    "'connection_request', jsonb_build_object('status', $2::text, 'transport', "
    "nullif($5::text, ''), 'http_status', nullif($3::int, 0), 'detail', $4::text, 'at', "
    "to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'))) "
    "WHERE id = $1::bigint RETURNING status";

static void record_cb(acs_pg_result *res, void *arg) {
  dreq *d = arg;
  d->holds--;
  const char *task_status = NULL;
  if (res->status == 0 && res->ntuples == 1) {
    d->o.recorded = true;
    task_status = acs_pg_getvalue(res, 0, 0);
  } else if (res->status && res->status != ACS_ECANCELED) {
    acs_log(ACS_LOG_WARN, "connreq", "task %s: outcome not recorded: %s", d->task_id, res->error);
  }
  after_outcome(d, task_status);
  dreq_maybe_free(d);
}

static const char *transport_name(int t) {
  return t == ACS_CONNREQ_HTTP   ? "http"
         : t == ACS_CONNREQ_UDP  ? "udp"
         : t == ACS_CONNREQ_XMPP ? "xmpp"
                                 : "";
}

static void release_cb(acs_pg_result *res, void *arg) {
  dreq *d = arg;
  (void)res; /* a claim left behind expires by itself */
  d->holds--;
  dreq_maybe_free(d);
}

/* Gives back the claims (in process and in the store). */
static void release(dreq *d) {
  acs_connreq_worker *cw = d->cw;
  if (d->claimed_local) acs__connreq_release_local(d->device_id);
  d->claimed_local = false;
  if (d->claimed_store) {
    const char *p[2] = {d->device_id, cw->instance};
    if (acs_pg_query(cw->pg, sql_release, 2, p, 0, release_cb, d) == 0) d->holds++;
  }
  d->claimed_store = false;
}

static void recheck_stop(dreq *d);

static void record(dreq *d) {
  release(d);
  if (!d->o.coalesced) recheck_stop(d);
  acs_connreq_worker *cw = d->cw;
  if (cw->metrics && !d->o.coalesced) acs_metric_add(&cw->metrics->connreq[d->o.status ? 1 : 0], 1);
  /* a traced request is logged whatever its outcome, with its trace-id */
  if (d->trace_id[0]) acs_log_set_trace(d->trace_id);
  acs_log(d->o.status || d->trace_id[0] ? ACS_LOG_INFO : ACS_LOG_DEBUG, "connreq", "%s%s%s: %s%s%s%s",
          d->device_id, d->task_id[0] ? ", task " : "", d->task_id, d->o.status ? "failed: " : "",
          d->o.detail, d->trace_id[0] ? ", trace " : "", d->trace_id);
  if (d->trace_id[0]) acs_log_set_trace(NULL);
  if (d->task_id[0] && !cw->stopping) {
    char http[16];
    snprintf(http, sizeof http, "%d", d->o.http_status);
    const char *p[5] = {d->task_id,
                        d->o.status      ? "failed"
                        : d->o.coalesced ? "coalesced"
                                         : "accepted",
                        http, d->o.detail, transport_name(d->o.transport)};
    if (acs_pg_query(cw->pg, sql_record, 5, p, 0, record_cb, d) == 0) {
      d->holds++;
      return;
    }
  }
  after_outcome(d, NULL);
}

static void try_next(dreq *d);

/* A transport ended: done when it worked or was the last, else the next. */
static void transport_done(dreq *d, int status, const char *detail) {
  d->o.status = status;
  snprintf(d->o.detail, sizeof d->o.detail, "%.120s%s%s: %.120s", d->tried, d->tried[0] ? "; " : "",
           transport_name(d->o.transport), detail);
  if (status && d->at < d->nvia && !d->cw->stopping) {
    snprintf(d->tried, sizeof d->tried, "%.120s", d->o.detail);
    try_next(d);
    return;
  }
  d->o.sent = true;
  record(d);
}

static void cr_cb(const acs_connreq_result *r, void *arg) {
  dreq *d = arg;
  d->holds--;
  d->o.http_status = r->http_status;
  transport_done(d, r->status, r->detail);
  dreq_maybe_free(d);
}

static void udp_cb(int status, unsigned sent, void *arg) {
  dreq *d = arg;
  d->holds--;
  char detail[160];
  if (status) {
    snprintf(detail, sizeof detail, "cannot send to %s: %s", d->udp_addr, acs_strerror(status));
  } else {
    snprintf(detail, sizeof detail, "sent %u times to %s (UDP has no answer)", sent, d->udp_addr);
  }
  transport_done(d, status, detail);
  dreq_maybe_free(d);
}

static void xmpp_cb(int status, const char *detail, void *arg) {
  dreq *d = arg;
  d->holds--;
  transport_done(d, status, detail);
  dreq_maybe_free(d);
}

static void try_next(dreq *d) {
  acs_connreq_worker *cw = d->cw;
  int t = d->via[d->at++];
  d->o.transport = t;
  d->o.http_status = 0;
  unsigned timeout = cw->cfg->connreq_timeout_ms;
  if (d->deadline) {
    uint64_t now = uv_now(cw->loop), left = d->deadline > now ? d->deadline - now : 1;
    if (left < timeout) timeout = (unsigned)left;
  }
  int rc;
  char why[200];
  if (t == ACS_CONNREQ_HTTP) {
    rc = acs_connreq_send(cw->pool, d->url, d->user, d->user ? d->pass : NULL, timeout, cr_cb, d);
    if (rc == ACS_EINVAL) {
      snprintf(why, sizeof why,
               "the ConnectionRequestURL '%.120s' is not http://HOST[:PORT][/PATH]", d->url);
    } else {
      snprintf(why, sizeof why, "cannot send: %s", acs_strerror(rc));
    }
  } else if (t == ACS_CONNREQ_XMPP) {
    /* Annex K: the connection-request credentials, as for HTTP */
    rc = acs__xmpp_send(cw->xmpp, d->jid, d->user, d->pass, timeout, xmpp_cb, d);
    snprintf(why, sizeof why, "%s",
             rc == ACS_EINVAL ? "the ConnReqJabberID is not a JID" : acs_strerror(rc));
  } else {
    /* Annex G.2.2: ts (Unix time), id (unique), un, cn (a random nonce) */
    unsigned char rnd[12];
    if (RAND_bytes(rnd, sizeof rnd) != 1) memset(rnd, 0x3c, sizeof rnd);
    char ts[24], id[24], cn[17];
    snprintf(ts, sizeof ts, "%lld", (long long)time(NULL));
    snprintf(id, sizeof id, "%u", (unsigned)(rnd[0] | rnd[1] << 8 | rnd[2] << 16) << 7 ^ rnd[3]);
    for (int i = 0; i < 8; i++) snprintf(cn + 2 * i, 3, "%02X", rnd[4 + i]);
    acs_buf msg = ACS_BUF_INIT;
    rc = d->user && d->pass ? acs_udpcr_write(d->udp_addr, ts, id, d->user, cn, d->pass, &msg)
                            : ACS_EINVAL;
    if (rc == 0) rc = acs_stun_server_send(cw->stun, d->udp_addr, msg.data, msg.len, udp_cb, d);
    acs_buf_free(&msg);
    snprintf(why, sizeof why, "%s",
             !d->user || !d->pass
                 ? "no credentials to sign with (ConnectionRequestUsername/Password)"
             : rc == ACS_EINVAL ? "the UDP address or the username cannot go into a request"
                                : acs_strerror(rc));
  }
  if (rc == 0) {
    d->holds++;
    return;
  }
  transport_done(d, rc, why);
}

/* --- one at a time per device: in process, then in the store */

static const char sql_claim[] =
    "INSERT INTO connreq_claims AS c (device_id, instance, expires_at) "
    "VALUES ($1, $2, now() + $3::int * interval '1 millisecond') "
    "ON CONFLICT (device_id) DO UPDATE SET instance = excluded.instance, "
    "expires_at = excluded.expires_at WHERE c.expires_at < now() RETURNING 1";

static void claim(dreq *d);

/* A coalesced task is run by the session the other request brings when it
 * was there before that session read the device's tasks. One created a
 * moment later would wait for the next Inform: so once no claim is held
 * any more, a task still pending asks again (and may be coalesced again). */
static const char sql_recheck[] =
    "SELECT t.status, EXISTS (SELECT 1 FROM connreq_claims c WHERE c.device_id = t.device_id "
    "AND c.expires_at > now()) FROM tasks t WHERE t.id = $1::bigint";

#define RECHECK_MS 250
#define RECHECK_MAX 200 /* 50 s: past any claim's expiry */

static void recheck_closed_cb(uv_handle_t *h) {
  dreq *d = h->data;
  d->recheck_open = false;
  dreq_maybe_free(d);
}

static void recheck_stop(dreq *d) {
  if (d->recheck_open && !uv_is_closing((uv_handle_t *)&d->recheck))
    uv_close((uv_handle_t *)&d->recheck, recheck_closed_cb);
}

static void recheck_tick_cb(uv_timer_t *t);

static void recheck_cb(acs_pg_result *res, void *arg) {
  dreq *d = arg;
  d->holds--;
  if (d->cw->stopping || !d->recheck_open || uv_is_closing((uv_handle_t *)&d->recheck)) {
    /* stopping: the task waits for the device's next session */
  } else if (res->status || (res->ntuples == 1 && strcmp(acs_pg_getvalue(res, 0, 1), "t") == 0)) {
    uv_timer_start(&d->recheck, recheck_tick_cb, RECHECK_MS, 0); /* still claimed */
    return;
  } else if (res->ntuples == 1 && strcmp(acs_pg_getvalue(res, 0, 0), "pending") == 0) {
    uv_timer_stop(&d->recheck); /* kept: coalesced again, it watches again */
    d->at = 0;
    d->tried[0] = '\0';
    d->o.coalesced = false;
    d->o.transport = 0;
    acs_log(ACS_LOG_DEBUG, "connreq",
            "%s, task %s: missed the session of the request it was "
            "coalesced with; asking again",
            d->device_id, d->task_id);
    claim(d);
    dreq_maybe_free(d);
    return;
  }
  recheck_stop(d);
  dreq_maybe_free(d);
}

static void recheck_tick_cb(uv_timer_t *t) {
  dreq *d = t->data;
  if (d->cw->stopping || ++d->rechecks > RECHECK_MAX) {
    recheck_stop(d);
    return;
  }
  const char *p[1] = {d->task_id};
  if (acs_pg_query(d->cw->pg, sql_recheck, 1, p, ACS_PG_FAILFAST, recheck_cb, d) == 0) {
    d->holds++;
  } else {
    uv_timer_start(&d->recheck, recheck_tick_cb, RECHECK_MS, 0);
  }
}

static void coalesce(dreq *d, const char *where) {
  if (d->task_id[0] && !d->recheck_open && !d->cw->stopping) {
    uv_timer_init(d->cw->loop, &d->recheck);
    d->recheck.data = d;
    d->recheck_open = true;
    uv_timer_start(&d->recheck, recheck_tick_cb, RECHECK_MS, 0);
  } else if (d->recheck_open) {
    uv_timer_start(&d->recheck, recheck_tick_cb, RECHECK_MS, 0);
  }
  d->o.status = 0;
  d->o.coalesced = true;
  snprintf(d->o.detail, sizeof d->o.detail,
           "not sent: a connection request to this device is in flight (%s); its session runs "
           "this task too",
           where);
  d->o.sent = true;
  record(d);
}

static void claim_cb(acs_pg_result *res, void *arg) {
  dreq *d = arg;
  d->holds--;
  if (d->cw->stopping) {
    fail(d, ACS_ECANCELED, "cancelled: acsd is stopping");
  } else if (res->status) {
    fail(d, res->status == ACS_EPG ? ACS_EPG : ACS_EUNAVAILABLE, "store: %s", res->error);
  } else if (res->ntuples == 0) {
    coalesce(d, "claimed by another instance or worker");
  } else {
    d->claimed_store = true;
    try_next(d);
  }
  dreq_maybe_free(d);
}

static void claim(dreq *d) {
  acs_connreq_worker *cw = d->cw;
  if (!acs__connreq_claim_local(d->device_id)) {
    coalesce(d, "from this instance");
    return;
  }
  d->claimed_local = true;
  /* a claim outlives a crashed instance by the longest the transports take */
  char ttl[24];
  snprintf(ttl, sizeof ttl, "%u", cw->cfg->connreq_timeout_ms * 2 + ACS_UDPCR_GAP_MS * 8 + 2000);
  const char *p[3] = {d->device_id, cw->instance, ttl};
  if (acs_pg_query(cw->pg, sql_claim, 3, p, ACS_PG_FAILFAST, claim_cb, d) == 0) {
    d->holds++;
    return;
  }
  fail(d, ACS_EUNAVAILABLE, "store unavailable: the request is not claimed");
}

/* --- the URL and the credentials */

/* $2/$3: the username under either root, $4/$5 the password. */
static const char sql_lookup[] =
    "SELECT d.connection_request_url, "
    "(SELECT p.value FROM parameters p WHERE p.device_id = $1 AND p.name IN ($2, $3) "
    "ORDER BY p.name LIMIT 1), "
    "su.name, encode(su.ciphertext, 'hex'), su.key_id, "
    "sp.name, encode(sp.ciphertext, 'hex'), sp.key_id, "
    "(SELECT u.address FROM connreq_udp u WHERE u.device_id = $1), "
    "(SELECT p.value FROM parameters p WHERE p.device_id = $1 AND p.name IN ($6, $7) "
    "ORDER BY p.name LIMIT 1), "
    "(SELECT p.value FROM parameters p WHERE p.device_id = $1 AND p.name IN ($8, $9) "
    "ORDER BY p.name LIMIT 1), "
    "(SELECT p.value FROM parameters p WHERE p.device_id = $1 AND p.name IN ($10, $11) "
    "ORDER BY p.name LIMIT 1) "
    "FROM devices d "
    "LEFT JOIN LATERAL (SELECT name, ciphertext, key_id FROM device_secrets s "
    "WHERE s.device_id = $1 AND s.name IN ($2, $3) ORDER BY s.name LIMIT 1) su ON true "
    "LEFT JOIN LATERAL (SELECT name, ciphertext, key_id FROM device_secrets s "
    "WHERE s.device_id = $1 AND s.name IN ($4, $5) ORDER BY s.name LIMIT 1) sp ON true "
    "WHERE d.id = $1";

static const char *const cred_names[10] = {
    "Device.ManagementServer.ConnectionRequestUsername",
    "InternetGatewayDevice.ManagementServer.ConnectionRequestUsername",
    "Device.ManagementServer.ConnectionRequestPassword",
    "InternetGatewayDevice.ManagementServer.ConnectionRequestPassword",
    "Device.ManagementServer.UDPConnectionRequestAddress",
    "InternetGatewayDevice.ManagementServer.UDPConnectionRequestAddress",
    "Device.ManagementServer.NATDetected",
    "InternetGatewayDevice.ManagementServer.NATDetected",
    "Device.ManagementServer.ConnReqJabberID",
    "InternetGatewayDevice.ManagementServer.ConnReqJabberID",
};

static int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

int acs__connreq_open_secret(const acs_secret_key *key, const char *device_id, const char *name,
                             const char *hex, const char *key_id, acs_buf *out, char *err,
                             size_t errlen) {
  if (!key) {
    snprintf(err, errlen, "%s is stored sealed, and acsd has no secret_key_file", name);
    return ACS_EINVAL;
  }
  if (strcmp(key_id, key->id) != 0) {
    snprintf(err, errlen, "%s is sealed with key %.16s; acsd has key %s", name, key_id, key->id);
    return ACS_EINVAL;
  }
  acs_buf ct = ACS_BUF_INIT, aad = ACS_BUF_INIT;
  size_t n = strlen(hex) / 2;
  int rc = acs_buf_reserve(&ct, n);
  for (size_t i = 0; rc == 0 && i < n; i++) {
    int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) rc = ACS_EINVAL;
    ct.data[i] = (char)(rc ? 0 : hi << 4 | lo);
  }
  ct.len = rc ? 0 : n;
  acs_secret_aad(device_id, name, &aad);
  if (rc == 0) rc = acs_buf_err(&aad);
  if (rc == 0) rc = acs_secret_open(key, aad.data, ct.data, ct.len, out);
  if (rc == 0 && strlen(out->data ? out->data : "") != out->len) rc = ACS_EINVAL;
  acs_buf_free(&ct);
  acs_buf_free(&aad);
  if (rc)
    snprintf(err, errlen, "%s does not open with key %s (%s)", name, key->id,
             rc == ACS_EINVAL ? "altered, or not this device's" : acs_strerror(rc));
  return rc;
}

/* Opens the stored secret at columns col (name), col+1 (hex), col+2 (key
 * id) into out. 0, or fails d and returns an error. */
static int open_secret(dreq *d, const acs_pg_result *res, int col, acs_buf *out) {
  char err[256];
  int rc = acs__connreq_open_secret(d->cw->key, d->device_id, acs_pg_getvalue(res, 0, col),
                                    acs_pg_getvalue(res, 0, col + 1),
                                    acs_pg_getvalue(res, 0, col + 2), out, err, sizeof err);
  if (rc) fail(d, rc, "%s", err);
  return rc;
}

static const char *col(const acs_pg_result *res, int c) {
  return acs_pg_isnull(res, 0, c) || !acs_pg_getvalue(res, 0, c)[0] ? NULL
                                                                    : acs_pg_getvalue(res, 0, c);
}

static void lookup_cb(acs_pg_result *res, void *arg) {
  dreq *d = arg;
  acs_connreq_worker *cw = d->cw;
  d->holds--;
  acs_buf user = ACS_BUF_INIT, pass = ACS_BUF_INIT;
  const char *url = NULL, *udp = NULL, *jid = NULL;
  if (!cw->stopping && res->status == 0 && res->ntuples == 1) {
    url = col(res, 0);
    /* the address the STUN binding showed, else the one the device reports */
    udp = col(res, 8) ? col(res, 8) : col(res, 9);
    jid = cw->xmpp ? col(res, 11) : NULL;
  }
  if (cw->stopping) {
    fail(d, ACS_ECANCELED, "cancelled: acsd is stopping");
  } else if (res->status) {
    fail(d, res->status == ACS_EPG ? ACS_EPG : ACS_EUNAVAILABLE, "store: %s", res->error);
  } else if (res->ntuples != 1) {
    fail(d, ACS_ENOTFOUND, "no device %s", d->device_id);
  } else if (!url && !(udp && cw->stun) && !jid) {
    fail(d, ACS_ENOTFOUND, "the device has not reported a ConnectionRequestURL%s",
         udp ? " (a UDP address, but acsd has no --stun)" : "");
  } else if ((acs_pg_isnull(res, 0, 2) || open_secret(d, res, 2, &user) == 0) &&
             (acs_pg_isnull(res, 0, 5) || open_secret(d, res, 5, &pass) == 0)) {
    const char *u = NULL, *pw = NULL;
    if (!acs_pg_isnull(res, 0, 2)) {
      u = user.data ? user.data : "";
    } else if (!acs_pg_isnull(res, 0, 1) && acs_pg_getvalue(res, 0, 1)[0]) {
      u = acs_pg_getvalue(res, 0, 1);
    } else {
      u = cw->cfg->connreq_username;
    }
    pw = !acs_pg_isnull(res, 0, 5) ? (pass.data ? pass.data : "") : cw->cfg->connreq_password;
    /* a username without a password is no credentials: the pool reports
     * "no credentials" on a 401 rather than answer with an empty password
     * and report the CPE's refusal */
    bool nat =
        col(res, 10) && (strcmp(col(res, 10), "true") == 0 || strcmp(col(res, 10), "1") == 0);
    if (url && !(nat && udp && cw->stun)) d->via[d->nvia++] = ACS_CONNREQ_HTTP;
    if (udp && cw->stun) d->via[d->nvia++] = ACS_CONNREQ_UDP;
    if (jid) d->via[d->nvia++] = ACS_CONNREQ_XMPP;
    if ((url && !(d->url = strdup(url))) || (udp && !(d->udp_addr = strdup(udp))) ||
        (jid && !(d->jid = strdup(jid))) || (u && !(d->user = strdup(u))) ||
        (pw && !(d->pass = strdup(pw)))) {
      fail(d, ACS_ENOMEM, "out of memory");
    } else {
      claim(d);
    }
  }
  acs_secret_buf_free(&user);
  acs_secret_buf_free(&pass);
  dreq_maybe_free(d);
}

/* --- the API */

int acs_connreq_device(acs_app_worker *aw, const char *device_id, long long task_id,
                       unsigned wait_ms, acs_connreq_device_cb cb, void *arg) {
  acs_connreq_worker *cw = aw->connreq;
  if (!cw || cw->stopping || !cw->pg) return ACS_ESTATE;
  dreq *d = calloc(1, sizeof *d);
  if (!d || !(d->device_id = strdup(device_id))) {
    free(d);
    return ACS_ENOMEM;
  }
  d->cw = cw;
  d->cb = cb;
  d->arg = arg;
  if (task_id > 0) snprintf(d->task_id, sizeof d->task_id, "%lld", task_id);
  const char *trace = acs_log_get_trace();
  if (trace) snprintf(d->trace_id, sizeof d->trace_id, "%s", trace);
  const char *p[11] = {device_id,     cred_names[0], cred_names[1], cred_names[2],
                       cred_names[3], cred_names[4], cred_names[5], cred_names[6],
                       cred_names[7], cred_names[8], cred_names[9]};
  int rc = acs_pg_query(cw->pg, sql_lookup, 11, p, ACS_PG_FAILFAST, lookup_cb, d);
  if (rc) {
    free(d->device_id);
    free(d);
    return rc == ACS_ENOMEM ? rc : ACS_ESTATE;
  }
  d->holds = 1;
  d->next = cw->reqs;
  if (cw->reqs) cw->reqs->prev = d;
  cw->reqs = d;
  if (wait_ms && task_id > 0) {
    uv_timer_init(cw->loop, &d->timer);
    d->timer.data = d;
    d->timer_open = true;
    d->deadline = uv_now(cw->loop) + wait_ms;
    uv_timer_start(&d->timer, timer_cb, wait_ms, 0);
  }
  return 0;
}

/* --- tasks settled elsewhere: a wait polls at once (acs_connreq_task_changed) */

/* Every running worker state of the process; a state leaves it in its stop
 * hook, before its async handle closes. */
static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static acs_connreq_worker *registry;

static void wake_cb(uv_async_t *a) {
  acs_connreq_worker *cw = a->data;
  long long ids[WAKE_IDS];
  pthread_mutex_lock(&registry_lock);
  size_t n = cw->nwake;
  bool all = cw->wake_all;
  memcpy(ids, cw->wake_ids, n * sizeof ids[0]);
  cw->nwake = 0;
  cw->wake_all = false;
  pthread_mutex_unlock(&registry_lock);
  for (dreq *d = cw->reqs; d; d = d->next) {
    if (d->told || !d->timer_open) continue;
    bool hit = all;
    long long id = atoll(d->task_id);
    for (size_t i = 0; !hit && i < n; i++) hit = ids[i] == id;
    if (!hit) continue;
    if (!d->polling || d->poll_inflight) {
      /* its outcome is not recorded yet, or a poll started before the task
       * was settled: the next poll comes at once */
      d->settled = true;
      continue;
    }
    acs_log(ACS_LOG_DEBUG, "connreq", "task %s settled elsewhere: polled at once", d->task_id);
    uv_timer_start(&d->timer, timer_cb, 0, 0);
  }
}

static void wake_closed_cb(uv_handle_t *h) {
  acs_connreq_worker *cw = h->data;
  cw->wake_open = false;
  cw_maybe_free(cw);
}

void acs_connreq_task_changed(const acs_app *app, long long task_id) {
  pthread_mutex_lock(&registry_lock);
  for (acs_connreq_worker *cw = registry; cw; cw = cw->reg_next) {
    if (cw->app != app) continue;
    if (cw->nwake < WAKE_IDS) {
      cw->wake_ids[cw->nwake++] = task_id;
    } else {
      cw->wake_all = true;
    }
    uv_async_send(&cw->wake);
  }
  pthread_mutex_unlock(&registry_lock);
}

int acs_connreq_worker_start(acs_app_worker *aw) {
  acs_connreq_worker *cw = calloc(1, sizeof *cw);
  if (!cw) return ACS_ENOMEM;
  cw->aw = aw;
  cw->metrics = aw->metrics;
  cw->pg = aw->pg;
  cw->loop = acs_worker_loop(aw->w);
  cw->cfg = aw->app->cfg;
  cw->key = acs_app_secret_key(aw->app);
  cw->instance = aw->app->instance_id;
  int rc = acs_connreq_pool_new(cw->loop, cw->cfg->connreq_max_in_flight, &cw->pool);
  if (rc) {
    free(cw);
    return rc;
  }
  if (cw->cfg->stun_listen &&
      (rc = acs_stun_server_start(cw->loop, cw->pg, cw->key, cw->cfg->stun_listen,
                                  acs_worker_index(aw->w), &cw->stun))) {
    acs_connreq_pool_close(cw->pool);
    free(cw);
    return rc;
  }
  if (cw->cfg->xmpp_jid && (rc = acs__xmpp_port_open(cw->loop, cw->cfg, &cw->xmpp))) {
    acs_stun_server_stop(cw->stun);
    acs_connreq_pool_close(cw->pool);
    free(cw);
    return rc;
  }
  cw->app = aw->app;
  uv_async_init(cw->loop, &cw->wake, wake_cb);
  cw->wake.data = cw;
  cw->wake_open = true;
  pthread_mutex_lock(&registry_lock);
  cw->reg_next = registry;
  registry = cw;
  pthread_mutex_unlock(&registry_lock);
  aw->connreq = cw;
  return 0;
}

void acs_connreq_worker_stop(acs_app_worker *aw) {
  acs_connreq_worker *cw = aw->connreq;
  if (!cw) return;
  aw->connreq = NULL;
  cw->stopping = true;
  cw->in_stop = true;
  cw->aw = NULL;
  pthread_mutex_lock(&registry_lock);
  for (acs_connreq_worker **pp = &registry; *pp; pp = &(*pp)->reg_next) {
    if (*pp == cw) {
      *pp = cw->reg_next;
      break;
    }
  }
  pthread_mutex_unlock(&registry_lock);
  uv_close((uv_handle_t *)&cw->wake, wake_closed_cb);
  /* waits end now; requests in flight end through the pool's close and
   * statements through the store's (both call back from the loop) */
  for (dreq *d = cw->reqs; d; d = d->next) {
    recheck_stop(d);
    if (d->o.sent && !d->holds) tell(d);
  }
  acs__xmpp_port_close(cw->xmpp); /* tells its requests right here */
  cw->xmpp = NULL;
  acs_stun_server_stop(cw->stun); /* UDP requests still repeating end with it */
  cw->stun = NULL;
  acs_connreq_pool_close(cw->pool); /* tells those still queued right here */
  cw->pool = NULL;
  cw->in_stop = false;
  cw_maybe_free(cw);
}

const char *acs_connreq_xmpp_state(const acs_config *cfg) {
  if (!cfg->xmpp_jid) return "disabled";
  return acs__xmpp_connected() ? "connected" : "disconnected";
}
