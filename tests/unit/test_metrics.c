/* test_metrics.c: the metrics registry without a server: histograms and
 * their quantiles, event codes, 503 reasons and session outcomes by their
 * words, RPCs and CPE faults, sums over workers, the per-second ring and
 * its rates (with a clock given, never the real one), and the Prometheus
 * exposition: every family has HELP and TYPE, histograms are cumulative
 * and end with +Inf == _count. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "acs_test.h"
#include "cwmp/acs_cwmp.h"
#include "metrics/acs_metrics.h"

static double value_of(const char *text, const char *line_start) {
  const char *p = strstr(text, line_start);
  if (!p) return -1;
  return strtod(p + strlen(line_start), NULL);
}

int main(void) {
  acs_metrics *m = acs_metrics_new("inst-1");
  CHECK(m != NULL);
  acs_metrics_worker *w0 = acs_metrics_worker_new(m, 0), *w2 = acs_metrics_worker_new(m, 2);
  CHECK(w0 && w2);
  CHECK(acs_metrics_worker_new(m, 0) == w0);
  CHECK_INT(acs_metrics_workers(m), 3);
  CHECK(acs_metrics_worker_at(m, 1) == NULL);
  CHECK(acs_metrics_worker_new(m, ACS_METRICS_MAX_WORKERS) == NULL);
  CHECK_STR(acs_metrics_instance(m), "inst-1");

  /* histograms: bucket bounds are inclusive upper bounds */
  acs_metrics_observe(&w0->session_us, 1000);     /* le 0.001 */
  acs_metrics_observe(&w0->session_us, 1001);     /* le 0.0025 */
  acs_metrics_observe(&w2->session_us, 40000);    /* le 0.05 */
  acs_metrics_observe(&w2->session_us, 9999999);  /* le 10 */
  acs_metrics_observe(&w2->session_us, 99000000); /* +Inf */
  acs_metrics_hist h;
  acs_metrics_hist_sum(m, offsetof(acs_metrics_worker, session_us), &h);
  CHECK_INT(acs_metric_get(&h.count), 5);
  CHECK_INT(acs_metric_get(&h.bucket[0]), 1);
  CHECK_INT(acs_metric_get(&h.bucket[1]), 1);
  CHECK_INT(acs_metric_get(&h.bucket[5]), 1);
  CHECK_INT(acs_metric_get(&h.bucket[12]), 1);
  CHECK_INT(acs_metric_get(&h.bucket[ACS_METRICS_NBUCKETS - 1]), 1);
  CHECK_INT(acs_metric_get(&h.sum_us), 1000 + 1001 + 40000 + 9999999 + 99000000);
  /* the median (rank 2.5) is halfway into the 0.025..0.05 bucket */
  double p50 = acs_metrics_quantile(&h, 0.5);
  CHECK(p50 > 0.037 && p50 < 0.038);
  CHECK(acs_metrics_quantile(&h, 1.0) == 30.0); /* +Inf: the largest finite bound */
  acs_metrics_hist empty;
  memset(&empty, 0, sizeof empty);
  CHECK(acs_metrics_quantile(&empty, 0.5) == 0);

  /* words */
  acs_metrics_event(w0, "0 BOOTSTRAP");
  acs_metrics_event(w0, "2 PERIODIC");
  acs_metrics_event(w2, "2 PERIODIC");
  acs_metrics_event(w2, "X OUI Vendor");
  acs_metrics_event(NULL, "1 BOOT");
  CHECK_INT(ACS_METRICS_SUM(m, events[0]), 1);
  CHECK_INT(ACS_METRICS_SUM(m, events[2]), 2);
  CHECK_INT(ACS_METRICS_SUM(m, events[ACS_METRICS_NEVENTS - 1]), 1);
  CHECK_STR(acs_metrics_event_name(ACS_METRICS_NEVENTS - 1), "other");
  CHECK_INT(acs_metrics_reject_of("too many sessions in flight"), ACS_METRICS_REJECT_CAPACITY);
  CHECK_INT(acs_metrics_reject_of("store unavailable"), ACS_METRICS_REJECT_STORE_DOWN);
  CHECK_INT(acs_metrics_reject_of("store too slow"), ACS_METRICS_REJECT_STORE_SLOW);
  CHECK_INT(acs_metrics_reject_of("store backlog too long"), ACS_METRICS_REJECT_STORE_BACKLOG);
  CHECK_INT(acs_metrics_reject_of("store backlog"), ACS_METRICS_REJECT_STORE_BACKLOG);
  CHECK_INT(acs_metrics_reject_of("a request of this session is still being processed"),
            ACS_METRICS_REJECT_BUSY);
  CHECK_INT(acs_metrics_end_of(NULL), ACS_METRICS_END_OK);
  CHECK_INT(acs_metrics_end_of("timeout"), ACS_METRICS_END_TIMEOUT);
  CHECK_INT(acs_metrics_end_of("superseded"), ACS_METRICS_END_SUPERSEDED);
  CHECK_INT(acs_metrics_end_of("store unavailable"), ACS_METRICS_END_STORE);
  CHECK_INT(acs_metrics_end_of("acsd stopping"), ACS_METRICS_END_OTHER);
  acs_metrics_rejected(w0, "store too slow");
  CHECK_INT(ACS_METRICS_SUM(m, rejected[ACS_METRICS_REJECT_STORE_SLOW]), 1);
  acs_metrics_rpc(w0, ACS_CWMP_GET_PARAMETER_VALUES, false, 0);
  acs_metrics_rpc(w2, ACS_CWMP_GET_PARAMETER_VALUES, true, 9005);
  acs_metrics_rpc(w2, ACS_CWMP_REBOOT, true, 8002);
  CHECK_INT(ACS_METRICS_SUM(m, rpcs[ACS_CWMP_GET_PARAMETER_VALUES][0]), 1);
  CHECK_INT(ACS_METRICS_SUM(m, rpcs[ACS_CWMP_GET_PARAMETER_VALUES][1]), 1);
  CHECK_INT(ACS_METRICS_SUM(m, cpe_faults[5]), 1);
  CHECK_INT(ACS_METRICS_SUM(m, cpe_faults[ACS_METRICS_NFAULTS - 1]), 1);

  /* the ring: a given clock, so no timing is involved */
  acs_metrics_tick(w0, 100000); /* second 100 */
  acs_metric_add(&w0->sessions_started, 10);
  acs_metrics_tick(w0, 100500);
  acs_metric_add(&w0->sessions_started, 20);
  acs_metrics_tick(w0, 101000); /* second 101 ends with 10, 102 begins with 30 */
  CHECK(acs_metrics_rate(m, 1) == 20.0);
  acs_metric_add(&w0->sessions_started, 30);
  acs_metrics_tick(w0, 104000);           /* 102, 103 skipped (a stalled loop): 60 at 104 */
  CHECK(acs_metrics_rate(m, 1) == 0.0);   /* 103 and 104 both hold 60 */
  CHECK(acs_metrics_rate(m, 10) == 12.5); /* 60 - 10 over the 4 s since the first second */
  acs_metrics_tick(w2, 104000);           /* one tick: no rate yet */
  CHECK(acs_metrics_rate(m, 60) == 12.5);
  acs_metrics_tick(w0, 300000); /* more than the ring later */
  CHECK(acs_metrics_rate(m, 60) == 0.0);

  /* policy status */
  acs_metrics_policy_failed(m, w0, 7, "provisions/x.lua:1: boom");
  acs_metrics_policy_loaded(m, 6);
  acs_metrics_policy p;
  acs_metrics_policy_get(m, &p);
  CHECK_INT(p.generation, 6);
  CHECK_INT(p.failed_generation, 7);
  CHECK_STR(p.error, "provisions/x.lua:1: boom");
  CHECK(p.loaded_at > 0 && p.failed_at > 0);
  CHECK_INT(ACS_METRICS_SUM(m, policy_load_errors), 1);
  CHECK(!acs_metrics_draining(m));
  acs_metrics_set_draining(m);
  CHECK(acs_metrics_draining(m));

  /* the exposition */
  acs_metric_add(&w0->sessions_started, 1); /* 61 in w0 */
  acs_buf out = ACS_BUF_INIT;
  acs_metrics_prometheus(m, &out);
  CHECK(!acs_buf_err(&out));
  acs_buf_putc(&out, '\0');
  const char *t = out.data;
  CHECK(value_of(t, "\nacsd_sessions_started_total ") == 61);
  CHECK(value_of(t, "acsd_sessions_rejected_total{reason=\"store_slow\"} ") == 1);
  CHECK(value_of(t, "acsd_inform_events_total{event=\"2 PERIODIC\"} ") == 2);
  CHECK(value_of(t, "acsd_rpcs_total{rpc=\"GetParameterValues\",outcome=\"fault\"} ") == 1);
  CHECK(value_of(t, "acsd_cpe_faults_total{code=\"9005\"} ") == 1);
  CHECK(value_of(t, "acsd_cpe_faults_total{code=\"other\"} ") == 1);
  CHECK(value_of(t, "acsd_session_duration_seconds_bucket{le=\"0.001\"} ") == 1);
  CHECK(value_of(t, "acsd_session_duration_seconds_bucket{le=\"0.05\"} ") == 3);
  CHECK(value_of(t, "acsd_session_duration_seconds_bucket{le=\"+Inf\"} ") == 5);
  CHECK(value_of(t, "acsd_session_duration_seconds_count ") == 5);
  CHECK(strstr(t, "acsd_worker_loop_lag_seconds{worker=\"2\"} ") != NULL);
  CHECK(strstr(t, "acsd_worker_loop_lag_seconds{worker=\"1\"}") == NULL);
  /* every sample's family has one HELP and one TYPE line */
  int types = 0, helps = 0;
  for (const char *l = t; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
    if (strncmp(l, "# TYPE ", 7) == 0) types++;
    if (strncmp(l, "# HELP ", 7) == 0) helps++;
  }
  CHECK(types > 30 && types == helps);
  acs_buf_free(&out);

  acs_metrics_free(m);
  return acs_test_result("test_metrics");
}
