/* metrics.c: the registry, per-worker counting, and the sums, rates and
 * quantiles readers compute (see acs_metrics.h for the threading rules). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "cwmp/acs_cwmp.h"
#include "metrics/acs_metrics.h"

_Static_assert(ACS_CWMP_KIND_COUNT <= ACS_METRICS_NKINDS, "ACS_METRICS_NKINDS too small");

const uint64_t acs_metrics_bucket_us[ACS_METRICS_NBUCKETS - 1] = {
    1000,   2500,   5000,    10000,   25000,   50000,    100000,
    250000, 500000, 1000000, 2500000, 5000000, 10000000, 30000000};

struct acs_metrics {
  char instance[64];
  uint64_t start_us;
  double start_unix;
  _Atomic(acs_metrics_worker *) workers[ACS_METRICS_MAX_WORKERS];
  _Atomic unsigned nworkers;
  _Atomic bool draining;
  pthread_mutex_t lock; /* policy */
  acs_metrics_policy policy;
};

uint64_t acs_metrics_now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

uint64_t acs_metrics_thread_cpu_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static double unix_now(void) {
  struct timeval tv;
  gettimeofday(&tv, NULL);
  return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

acs_metrics *acs_metrics_new(const char *instance_id) {
  acs_metrics *m = calloc(1, sizeof *m);
  if (!m) return NULL;
  snprintf(m->instance, sizeof m->instance, "%s", instance_id ? instance_id : "");
  m->start_us = acs_metrics_now_us();
  m->start_unix = unix_now();
  pthread_mutex_init(&m->lock, NULL);
  return m;
}

void acs_metrics_free(acs_metrics *m) {
  if (!m) return;
  for (unsigned i = 0; i < ACS_METRICS_MAX_WORKERS; i++) free(atomic_load(&m->workers[i]));
  pthread_mutex_destroy(&m->lock);
  free(m);
}

acs_metrics_worker *acs_metrics_worker_new(acs_metrics *m, unsigned index) {
  if (!m || index >= ACS_METRICS_MAX_WORKERS) return NULL;
  acs_metrics_worker *w = atomic_load(&m->workers[index]);
  if (w) return w;
  /* its own cache lines: no false sharing with a neighbour's counts */
  size_t size = (sizeof *w + 63) / 64 * 64;
  if (!(w = aligned_alloc(64, size))) return NULL;
  memset(w, 0, size);
  atomic_store(&m->workers[index], w);
  unsigned n = atomic_load(&m->nworkers);
  while (n < index + 1 && !atomic_compare_exchange_weak(&m->nworkers, &n, index + 1)) {
  }
  return w;
}

const acs_metrics_worker *acs_metrics_worker_at(const acs_metrics *m, unsigned index) {
  if (!m || index >= ACS_METRICS_MAX_WORKERS) return NULL;
  return atomic_load(&((acs_metrics *)m)->workers[index]);
}

unsigned acs_metrics_workers(const acs_metrics *m) {
  return m ? atomic_load(&((acs_metrics *)m)->nworkers) : 0;
}

const char *acs_metrics_instance(const acs_metrics *m) { return m->instance; }

uint64_t acs_metrics_uptime_ms(const acs_metrics *m) {
  return (acs_metrics_now_us() - m->start_us) / 1000;
}

double acs_metrics_start_time(const acs_metrics *m) { return m->start_unix; }

void acs_metrics_set_draining(acs_metrics *m) {
  if (m) atomic_store(&m->draining, true);
}

bool acs_metrics_draining(const acs_metrics *m) {
  return m && atomic_load(&((acs_metrics *)m)->draining);
}

void acs_metrics_policy_loaded(acs_metrics *m, long long gen) {
  if (!m) return;
  pthread_mutex_lock(&m->lock);
  if (gen != m->policy.generation) {
    m->policy.generation = gen;
    m->policy.loaded_at = unix_now();
  }
  pthread_mutex_unlock(&m->lock);
}

void acs_metrics_policy_failed(acs_metrics *m, acs_metrics_worker *w, long long gen,
                               const char *err) {
  if (w) acs_metric_add(&w->policy_load_errors, 1);
  if (!m) return;
  pthread_mutex_lock(&m->lock);
  m->policy.failed_generation = gen;
  m->policy.failed_at = unix_now();
  snprintf(m->policy.error, sizeof m->policy.error, "%s", err ? err : "");
  pthread_mutex_unlock(&m->lock);
}

void acs_metrics_policy_get(const acs_metrics *m, acs_metrics_policy *out) {
  acs_metrics *mm = (acs_metrics *)m;
  pthread_mutex_lock(&mm->lock);
  *out = mm->policy;
  pthread_mutex_unlock(&mm->lock);
}

/* --- counting */

void acs_metrics_observe(acs_metrics_hist *h, uint64_t us) {
  int i = 0;
  while (i < ACS_METRICS_NBUCKETS - 1 && us > acs_metrics_bucket_us[i]) i++;
  acs_metric_add(&h->bucket[i], 1);
  acs_metric_add(&h->sum_us, us);
  acs_metric_add(&h->count, 1);
}

static const char *const event_names[] = {
#define ACS__M_NAME(s) s,
    ACS_METRICS_EVENTS(ACS__M_NAME)
#undef ACS__M_NAME
        "other"};

void acs_metrics_event(acs_metrics_worker *w, const char *code) {
  if (!w || !code) return;
  int i = 0;
  while (i < ACS_METRICS_NEVENTS - 1 && strcmp(event_names[i], code) != 0) i++;
  acs_metric_add(&w->events[i], 1);
}

void acs_metrics_rpc(acs_metrics_worker *w, int kind, bool fault, uint32_t fault_code) {
  if (!w) return;
  if (kind >= 0 && kind < ACS_METRICS_NKINDS) acs_metric_add(&w->rpcs[kind][fault ? 1 : 0], 1);
  if (!fault) return;
  uint32_t slot = fault_code - ACS_METRICS_FAULT_FIRST;
  if (fault_code < ACS_METRICS_FAULT_FIRST || slot >= ACS_METRICS_NFAULTS - 1)
    slot = ACS_METRICS_NFAULTS - 1;
  acs_metric_add(&w->cpe_faults[slot], 1);
}

acs_metrics_reject acs_metrics_reject_of(const char *why) {
  if (!why) return ACS_METRICS_REJECT_MEMORY;
  if (strcmp(why, "too many failed authentications") == 0) return ACS_METRICS_REJECT_AUTH_LOCKOUT;
  if (strncmp(why, "too many", 8) == 0) return ACS_METRICS_REJECT_CAPACITY;
  if (strcmp(why, "store unavailable") == 0) return ACS_METRICS_REJECT_STORE_DOWN;
  if (strcmp(why, "store too slow") == 0) return ACS_METRICS_REJECT_STORE_SLOW;
  if (strncmp(why, "store backlog", 13) == 0) return ACS_METRICS_REJECT_STORE_BACKLOG;
  if (strncmp(why, "a request of this session", 25) == 0) return ACS_METRICS_REJECT_BUSY;
  if (strcmp(why, ACS_REJECT_REDIS_DOWN) == 0) return ACS_METRICS_REJECT_REDIS_DOWN;
  if (strcmp(why, ACS_REJECT_LOCKED) == 0) return ACS_METRICS_REJECT_LOCKED;
  return ACS_METRICS_REJECT_MEMORY;
}

acs_metrics_end acs_metrics_end_of(const char *why) {
  if (!why) return ACS_METRICS_END_OK;
  if (strcmp(why, "timeout") == 0) return ACS_METRICS_END_TIMEOUT;
  if (strcmp(why, "superseded") == 0) return ACS_METRICS_END_SUPERSEDED;
  if (strcmp(why, "store unavailable") == 0) return ACS_METRICS_END_STORE;
  return ACS_METRICS_END_OTHER;
}

void acs_metrics_tick(acs_metrics_worker *w, uint64_t now_ms) {
  uint64_t sec = now_ms / 1000 + 1; /* +1: 0 means none */
  uint64_t last = acs_metric_get(&w->ring_sec);
  uint64_t started = acs_metric_get(&w->sessions_started);
  if (last == 0) acs_metric_set(&w->ring_first, sec);
  /* each second holds the count as its last tick saw it; seconds a stalled
   * loop skipped get the count as it is now */
  uint64_t from = sec;
  if (last && last < sec)
    from = sec - last > ACS_METRICS_RING ? sec - ACS_METRICS_RING + 1 : last + 1;
  for (uint64_t s = from; s <= sec; s++) acs_metric_set(&w->ring[s % ACS_METRICS_RING], started);
  acs_metric_set(&w->ring_sec, sec);
  acs_metric_set(&w->tick_ms, now_ms);
}

/* --- reading */

static const char *const reject_names[] = {
#define ACS__M_NAME(n, s) s,
    ACS_METRICS_REJECTS(ACS__M_NAME)};
static const char *const end_names[] = {ACS_METRICS_ENDS(ACS__M_NAME)};
#undef ACS__M_NAME

const char *acs_metrics_reject_name(int i) { return reject_names[i]; }
const char *acs_metrics_end_name(int i) { return end_names[i]; }
const char *acs_metrics_event_name(int i) { return event_names[i]; }

uint64_t acs_metrics_sum(const acs_metrics *m, size_t offset) {
  uint64_t sum = 0;
  unsigned n = acs_metrics_workers(m);
  for (unsigned i = 0; i < n; i++) {
    const acs_metrics_worker *w = acs_metrics_worker_at(m, i);
    if (w) sum += acs_metric_get((const acs_metric *)((const char *)w + offset));
  }
  return sum;
}

void acs_metrics_hist_sum(const acs_metrics *m, size_t offset, acs_metrics_hist *out) {
  memset(out, 0, sizeof *out);
  for (int b = 0; b < ACS_METRICS_NBUCKETS; b++)
    acs_metric_set(&out->bucket[b], acs_metrics_sum(m, offset + offsetof(acs_metrics_hist, bucket) +
                                                           (size_t)b * sizeof(acs_metric)));
  acs_metric_set(&out->sum_us, acs_metrics_sum(m, offset + offsetof(acs_metrics_hist, sum_us)));
  /* count as the buckets' sum, so that +Inf and _count agree in one snapshot */
  uint64_t count = 0;
  for (int b = 0; b < ACS_METRICS_NBUCKETS; b++) count += acs_metric_get(&out->bucket[b]);
  acs_metric_set(&out->count, count);
}

double acs_metrics_rate(const acs_metrics *m, unsigned seconds) {
  if (seconds < 1) seconds = 1;
  if (seconds > ACS_METRICS_RING - 2) seconds = ACS_METRICS_RING - 2;
  double rate = 0;
  unsigned n = acs_metrics_workers(m);
  for (unsigned i = 0; i < n; i++) {
    const acs_metrics_worker *w = acs_metrics_worker_at(m, i);
    if (!w) continue;
    uint64_t sec = acs_metric_get(&w->ring_sec), first = acs_metric_get(&w->ring_first);
    if (sec == 0 || sec <= first) continue;
    /* whole seconds only: from `seconds` before the last tick's second */
    uint64_t from = sec > first + seconds ? sec - seconds : first;
    uint64_t now = acs_metric_get(&w->ring[sec % ACS_METRICS_RING]);
    uint64_t then = acs_metric_get(&w->ring[from % ACS_METRICS_RING]);
    if (now >= then) rate += (double)(now - then) / (double)(sec - from);
  }
  return rate;
}

double acs_metrics_quantile(const acs_metrics_hist *h, double q) {
  uint64_t count = acs_metric_get(&h->count);
  if (count == 0) return 0;
  double rank = q * (double)count, seen = 0;
  for (int b = 0; b < ACS_METRICS_NBUCKETS; b++) {
    double n = (double)acs_metric_get(&h->bucket[b]);
    if (seen + n >= rank && n > 0) {
      if (b == ACS_METRICS_NBUCKETS - 1) return (double)acs_metrics_bucket_us[b - 1] / 1e6;
      double lo = b ? (double)acs_metrics_bucket_us[b - 1] : 0,
             hi = (double)acs_metrics_bucket_us[b];
      return (lo + (hi - lo) * (rank - seen) / n) / 1e6;
    }
    seen += n;
  }
  return (double)acs_metrics_bucket_us[ACS_METRICS_NBUCKETS - 2] / 1e6;
}
