/* device.c: connection requests to devices by id (acs_connreq_device.h):
 * one statement reads the URL and the credentials, the worker's pool sends
 * the request, one statement records the outcome on the task, and a timer
 * bounds the wait and paces the polls of the task's status.
 *
 * A request holds itself alive while anything of it is outstanding (a
 * statement, the pool's callback, its timer); it is freed once the caller
 * has been told and nothing is left. The worker's state outlives its last
 * request, since the pool and the store call back after the stop hook. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "connreq/acs_connreq.h"
#include "connreq/acs_connreq_device.h"
#include "core/acs_err.h"
#include "core/acs_log.h"
#include "core/acs_secret.h"

#define POLL_FIRST_MS 100
#define POLL_MAX_MS 500

typedef struct dreq dreq;

struct acs_connreq_worker {
  acs_app_worker *aw; /* NULL once stopped */
  acs_metrics_worker *metrics; /* outlives the worker */
  acs_pg *pg;
  uv_loop_t *loop;
  acs_connreq_pool *pool;
  const acs_config *cfg;
  const acs_secret_key *key;
  dreq *reqs;
  bool stopping;
  bool in_stop; /* inside acs_connreq_worker_stop: not freed yet */
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
  int holds; /* statements and the pool's callback outstanding */
};

/* --- the end of a request */

static void dreq_maybe_free(dreq *d) {
  if (!d->told || d->holds || d->timer_open) return;
  acs_connreq_worker *cw = d->cw;
  if (d->prev) {
    d->prev->next = d->next;
  } else {
    cw->reqs = d->next;
  }
  if (d->next) d->next->prev = d->prev;
  free(d->device_id);
  free(d);
  if (cw->stopping && !cw->reqs && !cw->in_stop) free(cw);
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
  if (!d->told) {
    bool gone = res->status == 0 && res->ntuples == 0;
    if (gone || (res->status == 0 && status_final(acs_pg_getvalue(res, 0, 0)))) {
      d->o.final = !gone;
      tell(d);
    } else if (d->cw->stopping || uv_now(d->cw->loop) >= d->deadline) {
      tell(d);
    } else {
      d->poll_ms = d->poll_ms * 2 > POLL_MAX_MS ? POLL_MAX_MS : d->poll_ms * 2;
      arm(d, d->poll_ms);
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
  if (acs_pg_query(cw->pg, sql_poll, 1, p, ACS_PG_FAILFAST, poll_cb, d) == 0) {
    d->holds++;
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
  arm(d, d->poll_ms);
}

/* --- recording the outcome */

static const char sql_record[] =
    "UPDATE tasks SET result = coalesce(result, '{}'::jsonb) || jsonb_build_object("
    "'connection_request', jsonb_build_object('status', $2::text, 'http_status', "
    "nullif($3::int, 0), 'detail', $4::text, 'at', "
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

static void record(dreq *d) {
  acs_connreq_worker *cw = d->cw;
  if (cw->metrics) acs_metric_add(&cw->metrics->connreq[d->o.status ? 1 : 0], 1);
  /* a traced request is logged whatever its outcome, with its trace-id */
  if (d->trace_id[0]) acs_log_set_trace(d->trace_id);
  acs_log(d->o.status || d->trace_id[0] ? ACS_LOG_INFO : ACS_LOG_DEBUG, "connreq", "%s%s%s: %s%s%s%s",
          d->device_id, d->task_id[0] ? ", task " : "", d->task_id, d->o.status ? "failed: " : "",
          d->o.detail, d->trace_id[0] ? ", trace " : "", d->trace_id);
  if (d->trace_id[0]) acs_log_set_trace(NULL);
  if (d->task_id[0] && !cw->stopping) {
    char http[16];
    snprintf(http, sizeof http, "%d", d->o.http_status);
    const char *p[4] = {d->task_id, d->o.status ? "failed" : "accepted", http, d->o.detail};
    if (acs_pg_query(cw->pg, sql_record, 4, p, 0, record_cb, d) == 0) {
      d->holds++;
      return;
    }
  }
  after_outcome(d, NULL);
}

static void cr_cb(const acs_connreq_result *r, void *arg) {
  dreq *d = arg;
  d->holds--;
  d->o.status = r->status;
  d->o.http_status = r->http_status;
  snprintf(d->o.detail, sizeof d->o.detail, "%s", r->detail);
  d->o.sent = true;
  record(d);
  dreq_maybe_free(d);
}

/* --- the URL and the credentials */

/* $2/$3: the username under either root, $4/$5 the password. */
static const char sql_lookup[] =
    "SELECT d.connection_request_url, "
    "(SELECT p.value FROM parameters p WHERE p.device_id = $1 AND p.name IN ($2, $3) "
    "ORDER BY p.name LIMIT 1), "
    "su.name, encode(su.ciphertext, 'hex'), su.key_id, "
    "sp.name, encode(sp.ciphertext, 'hex'), sp.key_id "
    "FROM devices d "
    "LEFT JOIN LATERAL (SELECT name, ciphertext, key_id FROM device_secrets s "
    "WHERE s.device_id = $1 AND s.name IN ($2, $3) ORDER BY s.name LIMIT 1) su ON true "
    "LEFT JOIN LATERAL (SELECT name, ciphertext, key_id FROM device_secrets s "
    "WHERE s.device_id = $1 AND s.name IN ($4, $5) ORDER BY s.name LIMIT 1) sp ON true "
    "WHERE d.id = $1";

static const char *const cred_names[4] = {
    "Device.ManagementServer.ConnectionRequestUsername",
    "InternetGatewayDevice.ManagementServer.ConnectionRequestUsername",
    "Device.ManagementServer.ConnectionRequestPassword",
    "InternetGatewayDevice.ManagementServer.ConnectionRequestPassword",
};

static int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

/* Opens the stored secret at columns col (name), col+1 (hex), col+2 (key
 * id) into out. 0, or fails d and returns an error. */
static int open_secret(dreq *d, const acs_pg_result *res, int col, acs_buf *out) {
  const acs_secret_key *key = d->cw->key;
  const char *name = acs_pg_getvalue(res, 0, col), *hex = acs_pg_getvalue(res, 0, col + 1);
  const char *key_id = acs_pg_getvalue(res, 0, col + 2);
  if (!key) {
    fail(d, ACS_EINVAL, "%s is stored sealed, and acsd has no secret_key_file", name);
    return ACS_EINVAL;
  }
  if (strcmp(key_id, key->id) != 0) {
    fail(d, ACS_EINVAL, "%s is sealed with key %.16s; acsd has key %s", name, key_id, key->id);
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
  acs_secret_aad(d->device_id, name, &aad);
  if (rc == 0) rc = acs_buf_err(&aad);
  if (rc == 0) rc = acs_secret_open(key, aad.data, ct.data, ct.len, out);
  if (rc == 0 && strlen(out->data ? out->data : "") != out->len) rc = ACS_EINVAL;
  acs_buf_free(&ct);
  acs_buf_free(&aad);
  if (rc) {
    fail(d, rc, "%s does not open with key %s (%s)", name, key->id,
         rc == ACS_EINVAL ? "altered, or not this device's" : acs_strerror(rc));
    return rc;
  }
  return 0;
}

static void lookup_cb(acs_pg_result *res, void *arg) {
  dreq *d = arg;
  acs_connreq_worker *cw = d->cw;
  d->holds--;
  acs_buf user = ACS_BUF_INIT, pass = ACS_BUF_INIT;
  if (cw->stopping) {
    fail(d, ACS_ECANCELED, "cancelled: acsd is stopping");
  } else if (res->status) {
    fail(d, res->status == ACS_EPG ? ACS_EPG : ACS_EUNAVAILABLE, "store: %s", res->error);
  } else if (res->ntuples != 1) {
    fail(d, ACS_ENOTFOUND, "no device %s", d->device_id);
  } else if (acs_pg_isnull(res, 0, 0) || !acs_pg_getvalue(res, 0, 0)[0]) {
    fail(d, ACS_ENOTFOUND, "the device has not reported a ConnectionRequestURL");
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
    unsigned timeout = cw->cfg->connreq_timeout_ms;
    if (d->deadline) {
      uint64_t now = uv_now(cw->loop), left = d->deadline > now ? d->deadline - now : 1;
      if (left < timeout) timeout = (unsigned)left;
    }
    const char *url = acs_pg_getvalue(res, 0, 0);
    int rc = acs_connreq_send(cw->pool, url, u, u ? pw : NULL, timeout, cr_cb, d);
    if (rc == 0) {
      d->holds++;
    } else if (rc == ACS_EINVAL) {
      fail(d, rc, "the ConnectionRequestURL '%.160s' is not http://HOST[:PORT][/PATH]", url);
    } else {
      fail(d, rc, "cannot send: %s", acs_strerror(rc));
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
  const char *p[5] = {device_id, cred_names[0], cred_names[1], cred_names[2], cred_names[3]};
  int rc = acs_pg_query(cw->pg, sql_lookup, 5, p, ACS_PG_FAILFAST, lookup_cb, d);
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

int acs_connreq_worker_start(acs_app_worker *aw) {
  acs_connreq_worker *cw = calloc(1, sizeof *cw);
  if (!cw) return ACS_ENOMEM;
  cw->aw = aw;
  cw->metrics = aw->metrics;
  cw->pg = aw->pg;
  cw->loop = acs_worker_loop(aw->w);
  cw->cfg = aw->app->cfg;
  cw->key = acs_app_secret_key(aw->app);
  int rc = acs_connreq_pool_new(cw->loop, cw->cfg->connreq_max_in_flight, &cw->pool);
  if (rc) {
    free(cw);
    return rc;
  }
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
  /* waits end now; requests in flight end through the pool's close and
   * statements through the store's (both call back from the loop) */
  for (dreq *d = cw->reqs; d; d = d->next) {
    if (d->o.sent && !d->holds) tell(d);
  }
  acs_connreq_pool_close(cw->pool); /* tells those still queued right here */
  cw->pool = NULL;
  cw->in_stop = false;
  if (!cw->reqs) free(cw);
}
