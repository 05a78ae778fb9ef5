/* bench_metrics.c: what the metrics cost a periodic session, measured
 * alone: the calls session.c makes for one "2 PERIODIC" session (started,
 * the Inform and its event, the InformResponse's duration, the end and its
 * duration: three clock reads, two histogram observations, five counts),
 * repeated, in CPU time (getrusage: other users of the machine do not
 * count). docs/performance.md, "The cost of the metrics". */
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>

#include "metrics/acs_metrics.h"

static double cpu_s(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
         (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

int main(int argc, char **argv) {
  long n = argc > 1 ? atol(argv[1]) : 5000000;
  acs_metrics *m = acs_metrics_new("bench");
  acs_metrics_worker *w = m ? acs_metrics_worker_new(m, 0) : NULL;
  if (!w) return 1;
  double best = 1e9;
  for (int round = 0; round < 5; round++) {
    double t0 = cpu_s();
    for (long i = 0; i < n; i++) {
      uint64_t t_start = acs_metrics_now_us(); /* sess_new */
      acs_metric_add(&w->sessions_started, 1);
      acs_metric_add(&w->informs, 1); /* on_inform */
      acs_metrics_event(w, "2 PERIODIC");
      acs_metrics_observe(&w->inform_us, acs_metrics_now_us() - t_start); /* inform_stored_cb */
      acs_metric_add(&w->sessions_ended[acs_metrics_end_of(NULL)], 1);    /* sess_end */
      acs_metrics_observe(&w->session_us, acs_metrics_now_us() - t_start);
    }
    double ns = (cpu_s() - t0) * 1e9 / (double)n;
    if (ns < best) best = ns;
  }
  printf("metrics per periodic session: %.0f ns of CPU (best of 5 rounds of %ld; %llu sessions)\n",
         best, n, (unsigned long long)acs_metric_get(&w->sessions_started));
  acs_metrics_free(m);
  return 0;
}
