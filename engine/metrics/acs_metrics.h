/* acs_metrics.h: what acsd counts about itself, for /metrics,
 * /api/v1/telemetry/current and /api/v1/system/health (engine/api/monitor.c).
 *
 * Threading. Each worker owns one acs_metrics_worker and is its only
 * writer: a count is a relaxed atomic load and store of a 64-bit word (no
 * lock prefix, no shared cache line: plain code on x86-64), so the hot path
 * pays a few instructions per event. Any thread may read any worker's
 * figures with relaxed loads and sums them: a reader sees each word whole,
 * and a sum over workers is a snapshot within a few events. The gauges of
 * a worker (its store connection, batcher, device cache, loop lag, policy
 * generation) are published by the worker itself on its tick
 * (engine/app/observe.c), so no thread ever reads another's private
 * structures. Worker structs live from the worker's start until the
 * registry is freed after every worker has stopped. */
#ifndef ACS_METRICS_H
#define ACS_METRICS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/acs_buf.h"

typedef _Atomic uint64_t acs_metric;

/* Single writer: the owner's increment. */
static inline void acs_metric_add(acs_metric *m, uint64_t n) {
  atomic_store_explicit(m, atomic_load_explicit(m, memory_order_relaxed) + n, memory_order_relaxed);
}
static inline void acs_metric_set(acs_metric *m, uint64_t v) {
  atomic_store_explicit(m, v, memory_order_relaxed);
}
static inline uint64_t acs_metric_get(const acs_metric *m) {
  return atomic_load_explicit((acs_metric *)m, memory_order_relaxed);
}

/* Durations: fixed buckets (upper bounds in microseconds), the last +Inf. */
#define ACS_METRICS_NBUCKETS 15
extern const uint64_t acs_metrics_bucket_us[ACS_METRICS_NBUCKETS - 1];
typedef struct acs_metrics_hist {
  acs_metric bucket[ACS_METRICS_NBUCKETS]; /* not cumulative */
  acs_metric sum_us, count;
} acs_metrics_hist;
void acs_metrics_observe(acs_metrics_hist *h, uint64_t us);

/* Why a new session was refused (503). */
#define ACS_METRICS_REJECTS(X)      \
  X(CAPACITY, "capacity")           \
  X(STORE_DOWN, "store_down")       \
  X(STORE_SLOW, "store_slow")       \
  X(STORE_BACKLOG, "store_backlog") \
  X(BUSY, "request_in_progress")    \
  X(AUTH_LOCKOUT, "auth_lockout")   \
  X(MEMORY, "out_of_memory")        \
  X(REDIS_DOWN, "redis_down")       \
  X(LOCKED, "locked_elsewhere")
/* The texts of the 503s of several instances (session_lock.c). */
#define ACS_REJECT_REDIS_DOWN "Redis unavailable"
#define ACS_REJECT_LOCKED "device in session on another instance"
/* How a session ended. */
#define ACS_METRICS_ENDS(X)   \
  X(OK, "ok")                 \
  X(TIMEOUT, "timeout")       \
  X(SUPERSEDED, "superseded") \
  X(STORE, "store_failure")   \
  X(OTHER, "other")
/* Inform event codes counted by name; any other counts as "other". */
#define ACS_METRICS_EVENTS(X)                                                                 \
  X("0 BOOTSTRAP")                                                                            \
  X("1 BOOT")                                                                                 \
  X("2 PERIODIC")                                                                             \
  X("3 SCHEDULED") X("4 VALUE CHANGE") X("5 KICKED") X("6 CONNECTION REQUEST")                \
      X("7 TRANSFER COMPLETE") X("8 DIAGNOSTICS COMPLETE") X("9 REQUEST DOWNLOAD")            \
          X("10 AUTONOMOUS TRANSFER COMPLETE") X("11 DU STATE CHANGE COMPLETE")               \
              X("12 AUTONOMOUS DU STATE CHANGE COMPLETE") X("13 WAKEUP") X("14 HEARTBEAT")    \
                  X("M Reboot") X("M ScheduleInform") X("M Download") X("M ScheduleDownload") \
                      X("M Upload") X("M ChangeDUState")

#define ACS__M_ENUM(n, s) ACS_METRICS_REJECT_##n,
typedef enum { ACS_METRICS_REJECTS(ACS__M_ENUM) ACS_METRICS_NREJECTS } acs_metrics_reject;
#undef ACS__M_ENUM
#define ACS__M_ENUM(n, s) ACS_METRICS_END_##n,
typedef enum { ACS_METRICS_ENDS(ACS__M_ENUM) ACS_METRICS_NENDS } acs_metrics_end;
#undef ACS__M_ENUM
#define ACS__M_COUNT(s) +1
enum { ACS_METRICS_NEVENTS = 0 ACS_METRICS_EVENTS(ACS__M_COUNT) + 1 /* other */ };
#undef ACS__M_COUNT

/* RPCs by the acs_cwmp_kind of the ACS's request (cwmp/acs_cwmp.h). */
#define ACS_METRICS_NKINDS 64
/* CPE faults 9000..9039 by code, the rest as "other" (the last slot). */
#define ACS_METRICS_FAULT_FIRST 9000
#define ACS_METRICS_NFAULTS 41
#define ACS_METRICS_RING 64 /* seconds of session counts kept, for rates */

typedef struct acs_metrics_worker {
  /* counters (the owner counts) */
  acs_metric sessions_started;
  acs_metric sessions_ended[ACS_METRICS_NENDS];
  acs_metric rejected[ACS_METRICS_NREJECTS];
  acs_metric informs;
  acs_metric events[ACS_METRICS_NEVENTS];
  acs_metric rpcs[ACS_METRICS_NKINDS][2]; /* [kind][0: answered, 1: CPE fault] */
  acs_metric cpe_faults[ACS_METRICS_NFAULTS];
  acs_metric connreq[2]; /* [0: accepted, 1: failed] */
  acs_metric policy_load_errors;
  acs_metric policy_runs;      /* sessions whose policy phase started */
  acs_metric policy_faults;    /* channels that stopped with a fault */
  acs_metric policy_cpu_us;    /* thread CPU time in the policy phase (Lua and planner) */
  acs_metric policy_log_dropped; /* log() lines of policies past the session's cap */
  acs_metrics_hist session_us; /* Inform received -> session ended */
  acs_metrics_hist inform_us;  /* Inform received -> InformResponse (its commit included) */

  /* gauges, published by the owner's tick */
  acs_metric tick_ms;     /* monotonic ms of the last tick (0: none yet) */
  acs_metric loop_lag_us; /* how late the last tick ran */
  acs_metric in_flight;   /* sessions of this worker */
  acs_metric pg_configured, pg_up, pg_latency_us, pg_stall_us, pg_queued, pg_inflight;
  acs_metric pg_statements, pg_errors, pg_connects, pg_drops;
  acs_metric batch_depth, batch_wait_us, batch_transactions, batch_items, batch_splits;
  acs_metric batch_failed_items, batch_set_statements, batch_set_items;
  acs_metric cache_hits, cache_misses, cache_stale, cache_model_hits, cache_evictions;
  acs_metric cache_entries, cache_bytes;
  acs_metric policy_generation; /* the store's generation this worker serves (0: none) */
  acs_metric policy_loaded;     /* 1 when policies run in its sessions */
  acs_metric bulk_lease_held;   /* worker 0: this instance holds the bulk-action lease */
  acs_metric bulk_running;      /* worker 0: running bulk actions it expands */

  /* sessions_started at each whole second of the monotonic clock */
  acs_metric ring[ACS_METRICS_RING];
  acs_metric ring_sec, ring_first; /* last and first second recorded (+1; 0: none) */
} acs_metrics_worker;

#define ACS_METRICS_MAX_WORKERS 1024

typedef struct acs_metrics acs_metrics;

/* The registry of one acsd (instance id copied). */
acs_metrics *acs_metrics_new(const char *instance_id);
/* After every worker has stopped: frees the workers' structs too. */
void acs_metrics_free(acs_metrics *m);
/* Worker index's struct (made on first call, from the start hook), or NULL
 * when out of memory or index too large. */
acs_metrics_worker *acs_metrics_worker_new(acs_metrics *m, unsigned index);
/* Worker index's struct, or NULL (any thread). */
const acs_metrics_worker *acs_metrics_worker_at(const acs_metrics *m, unsigned index);
/* Workers registered: indexes 0 .. n-1 (some may be NULL). */
unsigned acs_metrics_workers(const acs_metrics *m);
const char *acs_metrics_instance(const acs_metrics *m);
/* Milliseconds (monotonic) since acs_metrics_new, and the start as Unix time. */
uint64_t acs_metrics_uptime_ms(const acs_metrics *m);
double acs_metrics_start_time(const acs_metrics *m);

/* SIGTERM received: the instance is not ready any more (any thread). */
void acs_metrics_set_draining(acs_metrics *m);
bool acs_metrics_draining(const acs_metrics *m);

/* Policy generations (rare: a mutex). A worker loaded gen, or failed to
 * load it with err. The registry keeps the newest loaded generation and
 * when, and the last error with its time. */
void acs_metrics_policy_loaded(acs_metrics *m, long long gen);
void acs_metrics_policy_failed(acs_metrics *m, acs_metrics_worker *w, long long gen,
                               const char *err);
typedef struct acs_metrics_policy {
  long long generation; /* newest loaded by some worker (0: none) */
  double loaded_at;     /* Unix time, 0 when none */
  long long failed_generation;
  double failed_at; /* 0 when no failure */
  char error[256];
} acs_metrics_policy;
void acs_metrics_policy_get(const acs_metrics *m, acs_metrics_policy *out);

/* Counting from the hot path (w may be NULL: nothing counted). */
void acs_metrics_event(acs_metrics_worker *w, const char *code);
void acs_metrics_rpc(acs_metrics_worker *w, int kind, bool fault, uint32_t fault_code);
/* The reason of a 503 from its text as session.c words it. */
acs_metrics_reject acs_metrics_reject_of(const char *why);
acs_metrics_end acs_metrics_end_of(const char *why);
static inline void acs_metrics_rejected(acs_metrics_worker *w, const char *why) {
  if (w) acs_metric_add(&w->rejected[acs_metrics_reject_of(why)], 1);
}

/* Monotonic clock in microseconds; the calling thread's CPU time. */
uint64_t acs_metrics_now_us(void);
uint64_t acs_metrics_thread_cpu_us(void);

/* The owner's tick: records the rate ring (now_ms monotonic). */
void acs_metrics_tick(acs_metrics_worker *w, uint64_t now_ms);

/* Sums over the workers (any thread). */
uint64_t acs_metrics_sum(const acs_metrics *m, size_t offset);
#define ACS_METRICS_SUM(m, field) acs_metrics_sum((m), offsetof(acs_metrics_worker, field))
void acs_metrics_hist_sum(const acs_metrics *m, size_t offset, acs_metrics_hist *out);
/* Sessions started per second over the last `seconds` (1..60). */
double acs_metrics_rate(const acs_metrics *m, unsigned seconds);
/* The q-quantile (0..1) of a histogram, interpolated inside its bucket, in
 * seconds (0 when empty; the largest finite bound when in +Inf). */
double acs_metrics_quantile(const acs_metrics_hist *h, double q);

/* Names for the exposition. */
const char *acs_metrics_reject_name(int i);
const char *acs_metrics_end_name(int i);
const char *acs_metrics_event_name(int i); /* "other" for the last */

/* Everything the registry holds, in the Prometheus text format 0.0.4,
 * appended to out (the app adds its own families: engine/api/monitor.c). */
void acs_metrics_prometheus(const acs_metrics *m, acs_buf *out);

/* Prometheus exposition helpers for callers with figures of their own. */
void acs_metrics_prom_family(acs_buf *out, const char *name, const char *type, const char *help);
void acs_metrics_prom_value(acs_buf *out, const char *name, const char *labels, double v);

#endif
