/* monitor.c: what acsd says about itself (docs/operations.md).
 *
 *   GET /ready                       readiness, no token (load balancers, Kubernetes)
 *   GET /metrics                     Prometheus text format, no token
 *   GET /api/v1/system/health        the detailed state (any token)
 *   GET /api/v1/telemetry/current    the live figures as JSON (any token)
 *   GET /api/v1/stomp/metrics        the STOMP side (disabled: there is none yet)
 *   GET, PUT /api/v1/system/log      this instance's log level and format (PUT: admin)
 *
 * Everything but the bulk-action lease of system/health comes from the
 * metrics registry (engine/metrics), which every worker publishes into:
 * no statement, no lock on a worker's path. /health (engine/net/health.c)
 * stays liveness: it never looks at the store. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/api_internal.h"
#include "connreq/acs_connreq_device.h"
#include "core/acs_err.h"
#include "core/acs_log.h"
#include "cwmp/acs_cwmp.h"

/* A worker whose tick is this late has a stuck loop. */
#define STALLED_MS 2000

/* --- readiness */

/* Why this instance should get no new CPEs now: reasons appended to
 * reasons (may be NULL); true when ready. */
static bool readiness(const acs_app *app, json_t *reasons) {
  const acs_metrics *m = app->metrics;
  bool ready = true;
  char why[96];
#define NOT_READY(...)                                             \
  do {                                                             \
    ready = false;                                                 \
    snprintf(why, sizeof why, __VA_ARGS__);                        \
    if (reasons) json_array_append_new(reasons, json_string(why)); \
  } while (0)
  if (acs_metrics_draining(m)) NOT_READY("draining: acsd is stopping");
  uint64_t now_ms = acs_metrics_now_us() / 1000;
  uint64_t slow_us = (uint64_t)app->cfg->pg_slow_ms * 1000;
  bool policies_expected = app->policy_generation > 0 || app->cfg->policies_dir != NULL;
  unsigned n = acs_metrics_workers(m), unloaded = 0;
  for (unsigned i = 0; i < n; i++) {
    const acs_metrics_worker *w = acs_metrics_worker_at(m, i);
    if (!w) continue;
    uint64_t tick = acs_metric_get(&w->tick_ms);
    if (tick && now_ms > tick + STALLED_MS)
      NOT_READY("worker %u: its loop has not run for %llu ms", i,
                (unsigned long long)(now_ms - tick));
    if (acs_metric_get(&w->pg_configured)) {
      if (!acs_metric_get(&w->pg_up)) {
        NOT_READY("worker %u: store unreachable", i);
      } else if (acs_metric_get(&w->pg_stall_us) > slow_us) {
        NOT_READY("worker %u: store too slow", i);
      } else if (acs_metric_get(&w->batch_wait_us) > slow_us / 2) {
        NOT_READY("worker %u: store backlog too long", i);
      }
    }
    if (!acs_metric_get(&w->policy_loaded)) unloaded++;
  }
  if (policies_expected && unloaded)
    NOT_READY("policies not loaded on %u of %u workers", unloaded, n);
#undef NOT_READY
  return ready;
}

/* --- /ready and /metrics (no token) */

static void respond_plain(acs_conn *c, const acs_http_request *req, int status, const char *type,
                          const char *body, size_t len, const char *extra) {
  bool head = strcmp(req->method, "HEAD") == 0;
  acs_http_response r = {
      .status = status,
      .content_type = type,
      .body = head ? NULL : body,
      .body_len = head ? 0 : len,
      .keep_alive = req->keep_alive,
      .extra_headers = extra,
  };
  acs_conn_respond(c, &r);
}

static void ready_answer(acs_conn *c, const acs_http_request *req, const acs_app *app) {
  json_t *reasons = json_array();
  bool ready = readiness(app, reasons);
  json_t *doc = json_pack("{s:s, s:o}", "status", ready ? "ready" : "not ready", "reasons",
                          reasons ? reasons : json_array());
  char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
  json_decref(doc);
  char extra[96];
  snprintf(extra, sizeof extra, "Cache-Control: no-store\r\n%s", ready ? "" : "Retry-After: 5\r\n");
  if (!text) {
    respond_plain(c, req, 500, NULL, NULL, 0, extra);
    return;
  }
  respond_plain(c, req, ready ? 200 : 503, "application/json", text, strlen(text), extra);
  free(text);
}

static void prom_app(const acs_app *app, bool ready, acs_buf *out) {
  char labels[160];
  acs_metrics_prom_family(out, "acsd_info", "gauge",
                          "This acsd: its instance id and version (always 1).");
  /* a configured instance id may hold anything: escaped as a label value */
  char id[2 * sizeof app->instance_id];
  size_t n = 0;
  for (const char *p = app->instance_id; *p && n + 2 < sizeof id; p++) {
    if (*p == '\\' || *p == '"') id[n++] = '\\';
    id[n++] = *p == '\n' ? ' ' : *p;
  }
  id[n] = '\0';
  snprintf(labels, sizeof labels, "instance=\"%s\",version=\"%s\"", id, ACS_VERSION);
  acs_metrics_prom_value(out, "acsd_info", labels, 1);
  acs_metrics_prom_family(out, "acsd_start_time_seconds", "gauge",
                          "When acsd started, in seconds since the Unix epoch.");
  acs_metrics_prom_value(out, "acsd_start_time_seconds", NULL,
                         acs_metrics_start_time(app->metrics));
  acs_metrics_prom_family(out, "acsd_ready", "gauge",
                          "1 when the instance takes new CPEs (/ready answers 200).");
  acs_metrics_prom_value(out, "acsd_ready", NULL, ready);
  acs_metrics_prom_family(out, "acsd_draining", "gauge", "1 once SIGTERM has been received.");
  acs_metrics_prom_value(out, "acsd_draining", NULL, acs_metrics_draining(app->metrics));
  acs_metrics_prom_family(out, "acsd_sessions_in_flight", "gauge",
                          "CWMP sessions in flight, all workers.");
  acs_metrics_prom_value(
      out, "acsd_sessions_in_flight", NULL,
      (double)atomic_load_explicit(&((acs_app *)app)->sessions, memory_order_relaxed));
  acs_metrics_prom_family(out, "acsd_session_supersedes_total", "counter",
                          "Sessions aborted by a newer Inform of their device.");
  acs_metrics_prom_value(out, "acsd_session_supersedes_total", NULL,
                         (double)atomic_load(&((acs_app *)app)->supersedes));
  acs_metrics_prom_family(out, "acsd_handoffs_total", "counter",
                          "CWMP connections handed to their device's owner worker.");
  acs_metrics_prom_value(out, "acsd_handoffs_total", NULL,
                         (double)atomic_load(&((acs_app *)app)->handoffs));
  acs_app_coord_prom(app, out);
}

static void metrics_answer(acs_conn *c, const acs_http_request *req, const acs_app *app) {
  acs_buf out = ACS_BUF_INIT;
  prom_app(app, readiness(app, NULL), &out);
  acs_metrics_prometheus(app->metrics, &out);
  if (acs_buf_err(&out)) {
    respond_plain(c, req, 500, NULL, NULL, 0, "Cache-Control: no-store\r\n");
  } else {
    respond_plain(c, req, 200, "text/plain; version=0.0.4; charset=utf-8", out.data, out.len,
                  "Cache-Control: no-store\r\n");
  }
  acs_buf_free(&out);
}

bool acs__api_monitor_try(acs_conn *c, const acs_http_request *req, const acs_app *app) {
  bool ready = strcmp(req->path, "/ready") == 0;
  if (!ready && strcmp(req->path, "/metrics") != 0) return false;
  if (strcmp(req->method, "GET") != 0 && strcmp(req->method, "HEAD") != 0) {
    static const char body[] = "{\"error\":\"method not allowed\"}";
    respond_plain(c, req, 405, "application/json", body, sizeof body - 1,
                  "Cache-Control: no-store\r\nAllow: GET, HEAD\r\n");
    return true;
  }
  if (ready) {
    ready_answer(c, req, app);
  } else {
    metrics_answer(c, req, app);
  }
  return true;
}

/* --- GET /api/v1/system/health */

static json_t *ms(uint64_t us) { return json_real((double)(us / 100) / 10.0); }

static json_t *iso_time(double t) {
  if (t <= 0) return json_null();
  time_t s = (time_t)t;
  struct tm tm;
  char buf[32];
  gmtime_r(&s, &tm);
  strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return json_string(buf);
}

static json_t *store_doc(const acs_app *app) {
  const acs_metrics *m = app->metrics;
  if (!app->cfg->pg_dsn) return json_string("disabled");
  bool up = true;
  uint64_t lat = 0, stall = 0, wait = 0, queued = 0, depth = 0;
  unsigned n = acs_metrics_workers(m);
  json_t *workers = json_array();
  for (unsigned i = 0; i < n; i++) {
    const acs_metrics_worker *w = acs_metrics_worker_at(m, i);
    if (!w) continue;
    uint64_t wl = acs_metric_get(&w->pg_latency_us), ws = acs_metric_get(&w->pg_stall_us);
    uint64_t ww = acs_metric_get(&w->batch_wait_us);
    uint64_t wq = acs_metric_get(&w->pg_queued) + acs_metric_get(&w->pg_inflight);
    uint64_t wd = acs_metric_get(&w->batch_depth);
    bool wu = acs_metric_get(&w->pg_up);
    up = up && wu;
    lat = wl > lat ? wl : lat;
    stall = ws > stall ? ws : stall;
    wait = ww > wait ? ww : wait;
    queued += wq;
    depth += wd;
    json_array_append_new(
        workers, json_pack("{s:i, s:b, s:o, s:o, s:I, s:I, s:o}", "worker", (int)i, "up", wu,
                           "latency_ms", ms(wl), "stall_ms", ms(ws), "queue_depth", (json_int_t)wq,
                           "batch_depth", (json_int_t)wd, "oldest_waiting_commit_ms", ms(ww)));
  }
  return json_pack("{s:b, s:o, s:o, s:I, s:I, s:o, s:I, s:I, s:o}", "up", up, "latency_ms", ms(lat),
                   "stall_ms", ms(stall), "queue_depth", (json_int_t)queued, "batch_depth",
                   (json_int_t)depth, "oldest_waiting_commit_ms", ms(wait), "connects",
                   (json_int_t)ACS_METRICS_SUM(m, pg_connects), "drops",
                   (json_int_t)ACS_METRICS_SUM(m, pg_drops), "workers", workers);
}

static json_t *policies_doc(const acs_app *app) {
  acs_metrics_policy p;
  acs_metrics_policy_get(app->metrics, &p);
  json_t *err = json_null();
  if (p.failed_at > 0)
    err = json_pack("{s:I, s:o, s:s}", "generation", (json_int_t)p.failed_generation, "at",
                    iso_time(p.failed_at), "message", p.error);
  unsigned n = acs_metrics_workers(app->metrics), loaded = 0;
  for (unsigned i = 0; i < n; i++) {
    const acs_metrics_worker *w = acs_metrics_worker_at(app->metrics, i);
    if (w && acs_metric_get(&w->policy_loaded)) loaded++;
  }
  return json_pack("{s:I, s:o, s:i, s:I, s:o}", "generation", (json_int_t)p.generation, "loaded_at",
                   iso_time(p.loaded_at), "workers_loaded", (int)loaded, "load_errors",
                   (json_int_t)ACS_METRICS_SUM(app->metrics, policy_load_errors), "last_load_error",
                   err);
}

static json_t *workers_doc(const acs_app *app) {
  json_t *a = json_array();
  uint64_t now_ms = acs_metrics_now_us() / 1000;
  unsigned n = acs_metrics_workers(app->metrics);
  for (unsigned i = 0; i < n; i++) {
    const acs_metrics_worker *w = acs_metrics_worker_at(app->metrics, i);
    if (!w) continue;
    uint64_t tick = acs_metric_get(&w->tick_ms);
    json_array_append_new(a,
                          json_pack("{s:i, s:o, s:I, s:I}", "worker", (int)i, "loop_lag_ms",
                                    ms(acs_metric_get(&w->loop_lag_us)), "sessions_in_flight",
                                    (json_int_t)acs_metric_get(&w->in_flight), "last_tick_ms_ago",
                                    (json_int_t)(tick && now_ms > tick ? now_ms - tick : 0)));
  }
  return a;
}

static const char sql_bulk[] =
    "SELECT (SELECT holder FROM job_leases WHERE job = 'bulk-actions' AND expires_at > now()), "
    "(SELECT to_char(expires_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') FROM "
    "job_leases WHERE job = 'bulk-actions' AND expires_at > now()), "
    "(SELECT count(*) FROM bulk_actions WHERE status = 'running')";

static void bulk_cb(acs_pg_result *res, void *arg) {
  acs__api_req *r = arg;
  if (acs__api_stmt_ok(r, res) && res->ntuples == 1) {
    const char *holder = acs_pg_isnull(res, 0, 0) ? NULL : acs_pg_getvalue(res, 0, 0);
    json_t *b =
        json_pack("{s:o, s:o, s:b, s:I}", "lease_holder",
                  holder ? json_string(holder) : json_null(), "lease_expires_at",
                  acs_pg_isnull(res, 0, 1) ? json_null() : json_string(acs_pg_getvalue(res, 0, 1)),
                  "this_instance", holder && strcmp(holder, r->app->instance_id) == 0, "running",
                  (json_int_t)strtoll(acs_pg_getvalue(res, 0, 2), NULL, 10));
    if (b) json_object_set_new(r->doc, "bulk_actions", b);
  }
  acs__api_stmt_done(r);
}

static void health_done(acs__api_req *r) {
  if (r->pg_status && !json_object_get(r->doc, "bulk_actions"))
    json_object_set_new(r->doc, "bulk_actions",
                        json_pack("{s:s}", "error", "the store did not answer"));
  json_t *reasons = json_array();
  bool ready = readiness(r->app, reasons);
  json_object_set_new(r->doc, "status", json_string(ready ? "ready" : "not ready"));
  json_object_set_new(r->doc, "reasons", reasons);
  json_t *doc = r->doc;
  r->doc = NULL;
  char extra[48] = "";
  if (!ready) snprintf(extra, sizeof extra, "Retry-After: %u\r\n", r->app->cfg->retry_after_s);
  acs__api_respond(r, ready ? 200 : 503, doc, extra[0] ? extra : NULL);
}

void acs__api_system_health(acs__api_req *r) {
  const acs_app *app = r->app;
  const acs_config *cfg = app->cfg;
  r->doc = json_pack(
      "{s:s, s:s, s:I, s:o, s:b, s:I, s:o, s:o, s:o, s:{s:s, s:i, s:i, s:I, s:I}, s:s, s:s, "
      "s:s}",
      "version", ACS_VERSION, "instance", app->instance_id, "uptime_s",
      (json_int_t)(acs_metrics_uptime_ms(app->metrics) / 1000), "started_at",
      iso_time(acs_metrics_start_time(app->metrics)), "draining",
      acs_metrics_draining(app->metrics), "sessions_in_flight",
      (json_int_t)atomic_load_explicit(&((acs_app *)app)->sessions, memory_order_relaxed),
      "workers", workers_doc(app), "store", store_doc(app), "policies", policies_doc(app),
      "connection_requests", "client", "http", "max_in_flight_per_worker",
      (int)cfg->connreq_max_in_flight, "timeout_ms", (int)cfg->connreq_timeout_ms, "accepted",
      (json_int_t)ACS_METRICS_SUM(app->metrics, connreq[0]), "failed",
      (json_int_t)ACS_METRICS_SUM(app->metrics, connreq[1]), "redis", "disabled", "xmpp",
      acs_connreq_xmpp_state(cfg), "stomp", "disabled");
  if (!r->doc) {
    acs__api_error(r, 500, "out of memory");
    return;
  }
  acs__api_step(r, health_done);
  acs__api_query(r, sql_bulk, 0, NULL, bulk_cb);
  acs__api_step_queued(r);
}

/* --- GET /api/v1/telemetry/current */

static json_t *quantiles(const acs_metrics *m, size_t off) {
  acs_metrics_hist h;
  acs_metrics_hist_sum(m, off, &h);
  uint64_t count = acs_metric_get(&h.count);
  return json_pack("{s:I, s:f, s:f, s:f, s:f}", "count", (json_int_t)count, "mean",
                   count ? (double)acs_metric_get(&h.sum_us) / 1e6 / (double)count : 0.0, "p50",
                   acs_metrics_quantile(&h, 0.5), "p90", acs_metrics_quantile(&h, 0.9), "p99",
                   acs_metrics_quantile(&h, 0.99));
}

#define SUMI(m, f) ((json_int_t)ACS_METRICS_SUM(m, f))
#define AT(f, i) (offsetof(acs_metrics_worker, f) + (size_t)(i) * sizeof(acs_metric))

void acs__api_telemetry(acs__api_req *r) {
  const acs_app *app = r->app;
  const acs_metrics *m = app->metrics;
  acs_metrics_policy pol;
  acs_metrics_policy_get(m, &pol);
  json_t *ended = json_object(), *rejected = json_object(), *events = json_object();
  json_t *rpcs = json_object(), *faults = json_object();
  for (int i = 0; i < ACS_METRICS_NENDS; i++)
    json_object_set_new(ended, acs_metrics_end_name(i),
                        json_integer((json_int_t)acs_metrics_sum(m, AT(sessions_ended, i))));
  for (int i = 0; i < ACS_METRICS_NREJECTS; i++)
    json_object_set_new(rejected, acs_metrics_reject_name(i),
                        json_integer((json_int_t)acs_metrics_sum(m, AT(rejected, i))));
  for (int i = 0; i < ACS_METRICS_NEVENTS; i++) {
    uint64_t v = acs_metrics_sum(m, AT(events, i));
    if (v) json_object_set_new(events, acs_metrics_event_name(i), json_integer((json_int_t)v));
  }
  for (int k = 0; k < ACS_CWMP_KIND_COUNT; k++) {
    uint64_t ok = acs_metrics_sum(m, AT(rpcs, 2 * k)), f = acs_metrics_sum(m, AT(rpcs, 2 * k + 1));
    if (ok || f)
      json_object_set_new(rpcs, acs_cwmp_kind_name(k),
                          json_pack("{s:I, s:I}", "ok", (json_int_t)ok, "fault", (json_int_t)f));
  }
  for (int i = 0; i < ACS_METRICS_NFAULTS; i++) {
    uint64_t v = acs_metrics_sum(m, AT(cpe_faults, i));
    char code[16];
    snprintf(code, sizeof code, "%d", ACS_METRICS_FAULT_FIRST + i);
    if (v)
      json_object_set_new(faults, i == ACS_METRICS_NFAULTS - 1 ? "other" : code,
                          json_integer((json_int_t)v));
  }
  uint64_t tx = ACS_METRICS_SUM(m, batch_transactions), items = ACS_METRICS_SUM(m, batch_items);
  uint64_t lat = 0, wait = 0;
  unsigned n = acs_metrics_workers(m);
  for (unsigned i = 0; i < n; i++) {
    const acs_metrics_worker *w = acs_metrics_worker_at(m, i);
    if (!w) continue;
    uint64_t l = acs_metric_get(&w->pg_latency_us), bw = acs_metric_get(&w->batch_wait_us);
    lat = l > lat ? l : lat;
    wait = bw > wait ? bw : wait;
  }
  json_t *doc = json_pack(
      "{s:s, s:I, s:{s:{s:f, s:f, s:f}, s:I, s:I, s:o, s:o, s:I, s:I}, s:{s:I, s:o}, s:o, s:o, "
      "s:{s:o, s:o}, s:{s:I, s:I, s:f, s:I, s:o, s:o, s:I, s:I}, s:{s:I, s:I}, s:{s:I, s:I, s:I, "
      "s:I, s:f}, s:{s:b, s:I}, s:{s:I, s:I, s:I, s:I, s:I, s:I, s:I}}",
      "instance", app->instance_id, "uptime_s", (json_int_t)(acs_metrics_uptime_ms(m) / 1000),
      "sessions", "per_second", "1s", acs_metrics_rate(m, 1), "10s", acs_metrics_rate(m, 10), "60s",
      acs_metrics_rate(m, 60), "in_flight",
      (json_int_t)atomic_load_explicit(&((acs_app *)app)->sessions, memory_order_relaxed),
      "started", SUMI(m, sessions_started), "ended", ended, "rejected", rejected, "supersedes",
      (json_int_t)atomic_load(&((acs_app *)app)->supersedes), "handoffs",
      (json_int_t)atomic_load(&((acs_app *)app)->handoffs), "informs", "total", SUMI(m, informs),
      "events", events, "rpcs", rpcs, "cpe_faults", faults, "latency", "session_s",
      quantiles(m, offsetof(acs_metrics_worker, session_us)), "inform_s",
      quantiles(m, offsetof(acs_metrics_worker, inform_us)), "store", "transactions",
      (json_int_t)tx, "items", (json_int_t)items, "mean_batch_items",
      tx ? (double)items / (double)tx : 0.0, "batch_depth", SUMI(m, batch_depth),
      "commit_latency_ms", ms(lat), "oldest_waiting_commit_ms", ms(wait), "statements",
      SUMI(m, pg_statements), "errors", SUMI(m, pg_errors), "connection_requests", "accepted",
      SUMI(m, connreq[0]), "failed", SUMI(m, connreq[1]), "policies", "generation",
      (json_int_t)pol.generation, "load_errors", SUMI(m, policy_load_errors), "runs",
      SUMI(m, policy_runs), "faults", SUMI(m, policy_faults), "cpu_s",
      (double)ACS_METRICS_SUM(m, policy_cpu_us) / 1e6, "bulk_actions", "lease_held",
      ACS_METRICS_SUM(m, bulk_lease_held) != 0, "running", SUMI(m, bulk_running), "device_cache",
      "hits", SUMI(m, cache_hits), "misses", SUMI(m, cache_misses), "stale", SUMI(m, cache_stale),
      "model_hits", SUMI(m, cache_model_hits), "evictions", SUMI(m, cache_evictions), "entries",
      SUMI(m, cache_entries), "bytes", SUMI(m, cache_bytes));
  if (!doc) {
    acs__api_error(r, 500, "out of memory");
    return;
  }
  acs__api_respond(r, 200, doc, NULL);
}

/* --- GET /api/v1/stomp/metrics: there is no STOMP side (TR-369 USP) yet */

void acs__api_stomp_metrics(acs__api_req *r) {
  json_t *doc = json_pack("{s:s, s:s, s:n}", "status", "disabled", "reason",
                          "acsd has no STOMP (TR-369 USP) side yet", "broker");
  if (!doc) {
    acs__api_error(r, 500, "out of memory");
    return;
  }
  acs__api_respond(r, 200, doc, NULL);
}

/* --- GET, PUT /api/v1/system/log: this instance's log level and format */

static json_t *log_doc(void) {
  return json_pack("{s:s, s:s}", "level", acs_log_level_name(acs_log_get_level()), "format",
                   acs_log_format_name(acs_log_get_format()));
}

void acs__api_log_get(acs__api_req *r) {
  json_t *doc = log_doc();
  if (!doc) {
    acs__api_error(r, 500, "out of memory");
    return;
  }
  acs__api_respond(r, 200, doc, NULL);
}

static const char sql_log_set[] =
    "INSERT INTO audit_log (actor, action, target, detail) VALUES ($4, 'log.set', $1, "
    "jsonb_build_object('before', $2::jsonb, 'after', $3::jsonb, 'token_id', $5::bigint))";

typedef struct log_change {
  acs_log_level level;
  acs_log_format format;
} log_change;

static void log_set_cb(acs_pg_result *res, void *arg) {
  acs__api_req *r = arg;
  if (acs__api_stmt_ok(r, res)) { /* audited: now it applies */
    const log_change *c = r->aux_ctx;
    acs_log_set_level(c->level);
    acs_log_set_format(c->format);
    acs_log(ACS_LOG_WARN, "api", "log level %s, format %s (set by token '%s')",
            acs_log_level_name(c->level), acs_log_format_name(c->format), r->token_name);
  }
  acs__api_stmt_done(r);
}

static void log_set_done(acs__api_req *r) {
  if (r->pg_status) {
    acs__api_fail_store(r);
    return;
  }
  json_t *doc = log_doc();
  if (!doc) {
    acs__api_error(r, 500, "out of memory");
    return;
  }
  acs__api_respond(r, 200, doc, NULL);
}

void acs__api_log_set(acs__api_req *r) {
  static const char *const keys[] = {"level", "format", NULL};
  if (!acs__api_json_body(r, keys)) return;
  log_change *c = calloc(1, sizeof *c);
  if (!c) {
    acs__api_error(r, 500, "out of memory");
    return;
  }
  r->aux_ctx = c;
  r->aux_free = free;
  c->level = acs_log_get_level();
  c->format = acs_log_get_format();
  json_t *lv = json_object_get(r->body, "level"), *fm = json_object_get(r->body, "format");
  if (!lv && !fm) {
    acs__api_error(r, 400, "give level (crit, err, warn, info, debug) or format (text, json)");
    return;
  }
  if (lv && (!json_is_string(lv) || acs_log_parse_level(json_string_value(lv), &c->level))) {
    acs__api_error(r, 400, "level: expected crit, err, warn, info or debug");
    return;
  }
  if (fm && (!json_is_string(fm) || acs_log_parse_format(json_string_value(fm), &c->format))) {
    acs__api_error(r, 400, "format: expected text or json");
    return;
  }
  json_t *before = log_doc();
  json_t *after = json_pack("{s:s, s:s}", "level", acs_log_level_name(c->level), "format",
                            acs_log_format_name(c->format));
  char *b = before ? json_dumps(before, JSON_COMPACT) : NULL;
  char *a = after ? json_dumps(after, JSON_COMPACT) : NULL;
  json_decref(before);
  json_decref(after);
  if (!a || !b) {
    free(a);
    free(b);
    acs__api_error(r, 500, "out of memory");
    return;
  }
  const char *p[3] = {r->app->instance_id, b, a};
  acs__api_audited(r, log_set_done, sql_log_set, 3, p, log_set_cb);
  free(a);
  free(b);
}
