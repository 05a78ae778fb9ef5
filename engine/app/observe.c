/* observe.c: each worker's tick publishes what only its own thread may
 * read (its store connection, batcher, device cache and policy VM) into its
 * acs_metrics_worker, and measures how late the loop runs its timers. */
#include <stdlib.h>
#include <uv.h>

#include "app/acs_app.h"
#include "core/acs_err.h"
#include "session/acs_devcache.h"
#include "session/acs_policy.h"

#define OBSERVE_MS 250

typedef struct acs_app_observer {
  uv_timer_t timer;
  acs_app_worker *aw;
  uint64_t due_us; /* when the next tick should run */
} acs_app_observer;

static void publish(acs_app_worker *aw) {
  acs_metrics_worker *m = aw->metrics;
  acs_metric_set(&m->pg_configured, aw->pg != NULL);
  if (aw->pg) {
    acs_pg_stats st;
    acs_pg_get_stats(aw->pg, &st);
    acs_metric_set(&m->pg_up, st.up);
    acs_metric_set(&m->pg_latency_us, st.latency_us);
    acs_metric_set(&m->pg_stall_us, st.stall_us);
    acs_metric_set(&m->pg_queued, st.queued);
    acs_metric_set(&m->pg_inflight, st.inflight);
    acs_metric_set(&m->pg_statements, st.statements);
    acs_metric_set(&m->pg_errors, st.errors);
    acs_metric_set(&m->pg_connects, st.connects);
    acs_metric_set(&m->pg_drops, st.drops);
  }
  if (aw->batch) {
    acs_store_batch_stats st;
    acs_store_batch_get_stats(aw->batch, &st);
    acs_metric_set(&m->batch_depth, acs_store_batch_depth(aw->batch));
    acs_metric_set(&m->batch_wait_us, acs_store_batch_wait_us(aw->batch));
    acs_metric_set(&m->batch_transactions, st.transactions);
    acs_metric_set(&m->batch_items, st.items);
    acs_metric_set(&m->batch_splits, st.splits);
    acs_metric_set(&m->batch_failed_items, st.failed_items);
    acs_metric_set(&m->batch_set_statements, st.set_statements);
    acs_metric_set(&m->batch_set_items, st.set_items);
  }
  if (aw->devcache) {
    acs_devcache_stats st;
    acs_devcache_get_stats(aw->devcache, &st);
    acs_metric_set(&m->cache_hits, st.hits);
    acs_metric_set(&m->cache_misses, st.misses);
    acs_metric_set(&m->cache_stale, st.stale);
    acs_metric_set(&m->cache_model_hits, st.model_hits);
    acs_metric_set(&m->cache_evictions, st.evictions);
    acs_metric_set(&m->cache_entries, st.entries);
    acs_metric_set(&m->cache_bytes, st.bytes);
  }
  bool loaded = aw->policies && !aw->policies->error;
  long long gen = loaded ? aw->policies->generation : 0;
  acs_metric_set(&m->policy_loaded, loaded);
  if (gen > 0 && (uint64_t)gen != acs_metric_get(&m->policy_generation))
    acs_metrics_policy_loaded(aw->app->metrics, gen);
  acs_metric_set(&m->policy_generation, gen > 0 ? (uint64_t)gen : 0);
  uint64_t started = acs_metric_get(&m->sessions_started), ended = 0;
  for (int i = 0; i < ACS_METRICS_NENDS; i++) ended += acs_metric_get(&m->sessions_ended[i]);
  acs_metric_set(&m->in_flight, started >= ended ? started - ended : 0);
}

static void tick_cb(uv_timer_t *h) {
  acs_app_observer *o = h->data;
  uint64_t now = acs_metrics_now_us();
  acs_metric_set(&o->aw->metrics->loop_lag_us, now > o->due_us ? now - o->due_us : 0);
  o->due_us = now + OBSERVE_MS * 1000;
  publish(o->aw);
  acs_metrics_tick(o->aw->metrics, now / 1000);
}

int acs_app_observe_start(acs_app_worker *aw) {
  acs_app_observer *o = calloc(1, sizeof *o);
  if (!o) return ACS_ENOMEM;
  o->aw = aw;
  uv_timer_init(acs_worker_loop(aw->w), &o->timer);
  o->timer.data = o;
  aw->observer = o;
  publish(aw);
  uint64_t now = acs_metrics_now_us();
  acs_metrics_tick(aw->metrics, now / 1000);
  o->due_us = now + OBSERVE_MS * 1000;
  uv_timer_start(&o->timer, tick_cb, OBSERVE_MS, OBSERVE_MS);
  return 0;
}

static void closed_cb(uv_handle_t *h) { free(h->data); }

void acs_app_observe_stop(acs_app_worker *aw) {
  acs_app_observer *o = aw->observer;
  if (!o) return;
  aw->observer = NULL;
  uv_close((uv_handle_t *)&o->timer, closed_cb);
}
