/* prom.c: the registry in the Prometheus text exposition format 0.0.4
 * (docs/operations.md lists every family). Counters end in _total,
 * durations are in seconds, per-worker gauges carry a worker label. */
#include <stdio.h>
#include <string.h>

#include "cwmp/acs_cwmp.h"
#include "metrics/acs_metrics.h"

void acs_metrics_prom_family(acs_buf *out, const char *name, const char *type, const char *help) {
  acs_buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

void acs_metrics_prom_value(acs_buf *out, const char *name, const char *labels, double v) {
  if (labels && labels[0]) {
    acs_buf_printf(out, "%s{%s} %.17g\n", name, labels, v);
  } else {
    acs_buf_printf(out, "%s %.17g\n", name, v);
  }
}

#define SUM(m, f) ((double)ACS_METRICS_SUM(m, f))

static void counter(acs_buf *out, const acs_metrics *m, const char *name, size_t off,
                    const char *help) {
  acs_metrics_prom_family(out, name, "counter", help);
  acs_metrics_prom_value(out, name, NULL, (double)acs_metrics_sum(m, off));
}

static void gauge(acs_buf *out, const acs_metrics *m, const char *name, size_t off,
                  const char *help) {
  acs_metrics_prom_family(out, name, "gauge", help);
  acs_metrics_prom_value(out, name, NULL, (double)acs_metrics_sum(m, off));
}

/* One value per worker; scale turns microseconds into seconds. */
static void per_worker(acs_buf *out, const acs_metrics *m, const char *name, const char *type,
                       size_t off, double scale, const char *help) {
  acs_metrics_prom_family(out, name, type, help);
  unsigned n = acs_metrics_workers(m);
  for (unsigned i = 0; i < n; i++) {
    const acs_metrics_worker *w = acs_metrics_worker_at(m, i);
    if (!w) continue;
    char labels[32];
    snprintf(labels, sizeof labels, "worker=\"%u\"", i);
    uint64_t v = acs_metric_get((const acs_metric *)((const char *)w + off));
    acs_metrics_prom_value(out, name, labels, (double)v * scale);
  }
}

static void histogram(acs_buf *out, const acs_metrics *m, const char *name, size_t off,
                      const char *help) {
  acs_metrics_hist h;
  acs_metrics_hist_sum(m, off, &h);
  acs_metrics_prom_family(out, name, "histogram", help);
  uint64_t cum = 0;
  for (int b = 0; b < ACS_METRICS_NBUCKETS; b++) {
    cum += acs_metric_get(&h.bucket[b]);
    if (b < ACS_METRICS_NBUCKETS - 1) {
      acs_buf_printf(out, "%s_bucket{le=\"%g\"} %llu\n", name,
                     (double)acs_metrics_bucket_us[b] / 1e6, (unsigned long long)cum);
    } else {
      acs_buf_printf(out, "%s_bucket{le=\"+Inf\"} %llu\n", name, (unsigned long long)cum);
    }
  }
  acs_buf_printf(out, "%s_sum %.6f\n%s_count %llu\n", name, (double)acs_metric_get(&h.sum_us) / 1e6,
                 name, (unsigned long long)acs_metric_get(&h.count));
}

#define OFF(f) offsetof(acs_metrics_worker, f)

void acs_metrics_prometheus(const acs_metrics *m, acs_buf *out) {
  char labels[128];
  counter(out, m, "acsd_sessions_started_total", OFF(sessions_started),
          "CWMP sessions started (Informs admitted).");
  acs_metrics_prom_family(out, "acsd_sessions_ended_total", "counter",
                          "CWMP sessions ended, by outcome.");
  for (int i = 0; i < ACS_METRICS_NENDS; i++) {
    snprintf(labels, sizeof labels, "outcome=\"%s\"", acs_metrics_end_name(i));
    acs_metrics_prom_value(
        out, "acsd_sessions_ended_total", labels,
        (double)acs_metrics_sum(m, OFF(sessions_ended) + (size_t)i * sizeof(acs_metric)));
  }
  acs_metrics_prom_family(out, "acsd_sessions_rejected_total", "counter",
                          "New sessions refused with 503, by reason.");
  for (int i = 0; i < ACS_METRICS_NREJECTS; i++) {
    snprintf(labels, sizeof labels, "reason=\"%s\"", acs_metrics_reject_name(i));
    acs_metrics_prom_value(
        out, "acsd_sessions_rejected_total", labels,
        (double)acs_metrics_sum(m, OFF(rejected) + (size_t)i * sizeof(acs_metric)));
  }
  counter(out, m, "acsd_informs_total", OFF(informs), "Informs received in admitted sessions.");
  acs_metrics_prom_family(out, "acsd_inform_events_total", "counter",
                          "Inform event codes, by code (unlisted codes as other).");
  for (int i = 0; i < ACS_METRICS_NEVENTS; i++) {
    uint64_t v = acs_metrics_sum(m, OFF(events) + (size_t)i * sizeof(acs_metric));
    snprintf(labels, sizeof labels, "event=\"%s\"", acs_metrics_event_name(i));
    acs_metrics_prom_value(out, "acsd_inform_events_total", labels, (double)v);
  }
  acs_metrics_prom_family(out, "acsd_rpcs_total", "counter",
                          "RPCs the ACS sent that the CPE answered, by method and outcome.");
  for (int k = 0; k < ACS_CWMP_KIND_COUNT; k++) {
    for (int f = 0; f < 2; f++) {
      uint64_t v = acs_metrics_sum(m, OFF(rpcs) + ((size_t)k * 2 + (size_t)f) * sizeof(acs_metric));
      if (!v) continue;
      snprintf(labels, sizeof labels, "rpc=\"%s\",outcome=\"%s\"", acs_cwmp_kind_name(k),
               f ? "fault" : "ok");
      acs_metrics_prom_value(out, "acsd_rpcs_total", labels, (double)v);
    }
  }
  acs_metrics_prom_family(out, "acsd_cpe_faults_total", "counter",
                          "CWMP faults CPEs answered RPCs with, by fault code.");
  for (int i = 0; i < ACS_METRICS_NFAULTS; i++) {
    uint64_t v = acs_metrics_sum(m, OFF(cpe_faults) + (size_t)i * sizeof(acs_metric));
    if (!v) continue;
    if (i == ACS_METRICS_NFAULTS - 1) {
      snprintf(labels, sizeof labels, "code=\"other\"");
    } else {
      snprintf(labels, sizeof labels, "code=\"%d\"", ACS_METRICS_FAULT_FIRST + i);
    }
    acs_metrics_prom_value(out, "acsd_cpe_faults_total", labels, (double)v);
  }
  histogram(out, m, "acsd_session_duration_seconds", OFF(session_us),
            "Time from a session's Inform to its end.");
  histogram(out, m, "acsd_inform_duration_seconds", OFF(inform_us),
            "Time from an Inform to its InformResponse (its commit included).");
  acs_metrics_prom_family(out, "acsd_connection_requests_total", "counter",
                          "Connection requests to devices, by outcome.");
  acs_metrics_prom_value(out, "acsd_connection_requests_total", "outcome=\"accepted\"",
                         SUM(m, connreq[0]));
  acs_metrics_prom_value(out, "acsd_connection_requests_total", "outcome=\"failed\"",
                         SUM(m, connreq[1]));
  counter(out, m, "acsd_policy_load_errors_total", OFF(policy_load_errors),
          "Policy generations a worker could not load.");
  counter(out, m, "acsd_policy_runs_total", OFF(policy_runs),
          "Sessions whose policy phase started.");
  counter(out, m, "acsd_policy_faults_total", OFF(policy_faults),
          "Policy channels that stopped with a fault.");
  counter(out, m, "acsd_policy_log_lines_dropped_total", OFF(policy_log_dropped),
          "Policy log() lines dropped past a session's cap (policy-log-lines).");
  acs_metrics_prom_family(out, "acsd_policy_cpu_seconds_total", "counter",
                          "CPU time of the policy phases (Lua and the planner).");
  acs_metrics_prom_value(out, "acsd_policy_cpu_seconds_total", NULL,
                         (double)ACS_METRICS_SUM(m, policy_cpu_us) / 1e6);
  per_worker(out, m, "acsd_policy_generation", "gauge", OFF(policy_generation), 1,
             "The store's policy generation each worker serves (0: none).");

  gauge(out, m, "acsd_bulk_lease_held", OFF(bulk_lease_held),
        "1 when this instance holds the bulk-action lease (expands the bulk actions).");
  gauge(out, m, "acsd_bulk_actions_running", OFF(bulk_running),
        "Running bulk actions this instance expands (0 without the lease).");
  per_worker(out, m, "acsd_worker_sessions_in_flight", "gauge", OFF(in_flight), 1,
             "CWMP sessions in flight on each worker.");
  per_worker(out, m, "acsd_worker_loop_lag_seconds", "gauge", OFF(loop_lag_us), 1e-6,
             "How late each worker's 250 ms tick last ran.");
  per_worker(out, m, "acsd_store_up", "gauge", OFF(pg_up), 1,
             "1 when the worker's store connection is up.");
  per_worker(out, m, "acsd_store_latency_seconds", "gauge", OFF(pg_latency_us), 1e-6,
             "Moving average of the time from a sync to its answer.");
  per_worker(out, m, "acsd_store_stall_seconds", "gauge", OFF(pg_stall_us), 1e-6,
             "Age of the oldest statement sent and not answered.");
  per_worker(out, m, "acsd_store_queue_depth", "gauge", OFF(pg_queued), 1,
             "Statements queued and not sent yet.");
  per_worker(out, m, "acsd_store_batch_depth", "gauge", OFF(batch_depth), 1,
             "Group-commit items waiting or in the transaction in flight.");
  per_worker(out, m, "acsd_store_batch_wait_seconds", "gauge", OFF(batch_wait_us), 1e-6,
             "How long the oldest group-commit item not sent yet has waited.");
  counter(out, m, "acsd_store_statements_total", OFF(pg_statements), "Statements sent.");
  counter(out, m, "acsd_store_errors_total", OFF(pg_errors), "Statements answered with an error.");
  counter(out, m, "acsd_store_connects_total", OFF(pg_connects), "Store connections made.");
  counter(out, m, "acsd_store_drops_total", OFF(pg_drops), "Established store connections lost.");
  counter(out, m, "acsd_store_batch_transactions_total", OFF(batch_transactions),
          "Group-commit transactions sent.");
  counter(out, m, "acsd_store_batch_items_total", OFF(batch_items),
          "Items (Informs, results, events) in group-commit transactions.");
  counter(out, m, "acsd_store_batch_splits_total", OFF(batch_splits),
          "Failed group-commit transactions split and retried.");
  counter(out, m, "acsd_store_batch_failed_items_total", OFF(batch_failed_items),
          "Group-commit items that failed alone.");
  counter(out, m, "acsd_store_batch_set_statements_total", OFF(batch_set_statements),
          "Set statements (one per kind per transaction) sent.");
  counter(out, m, "acsd_store_batch_set_items_total", OFF(batch_set_items),
          "Items that joined set statements.");
  counter(out, m, "acsd_device_cache_hits_total", OFF(cache_hits),
          "Informs sent with a cached device version.");
  counter(out, m, "acsd_device_cache_misses_total", OFF(cache_misses),
          "Informs of devices the cache did not know.");
  counter(out, m, "acsd_device_cache_stale_total", OFF(cache_stale),
          "Cached versions the store did not confirm.");
  counter(out, m, "acsd_device_cache_model_hits_total", OFF(cache_model_hits),
          "Sessions that started from a cached data model.");
  counter(out, m, "acsd_device_cache_evictions_total", OFF(cache_evictions),
          "Devices evicted from the cache.");
  gauge(out, m, "acsd_device_cache_entries", OFF(cache_entries), "Devices in the cache.");
  gauge(out, m, "acsd_device_cache_bytes", OFF(cache_bytes), "Bytes the cache holds.");
}
