/* stats.c: counters, latency histograms (log-linear, 32 buckets per power
 * of two: about 3 % resolution, constant memory), RSS from /proc, and the
 * summary printed at the end, whose last line is one JSON object. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim.h"

#define NB 1248

typedef struct hist {
  uint64_t b[NB];
  uint64_t n, max;
} hist;

static hist h_session, h_inform;

static unsigned bucket(uint64_t v) {
  if (v < 64) return (unsigned)v;
  unsigned msb = 63u - (unsigned)__builtin_clzll(v);
  unsigned b = 64 + (msb - 6) * 32 + (unsigned)((v >> (msb - 5)) & 31);
  return b < NB ? b : NB - 1;
}

static double bucket_mid(unsigned b) {
  if (b < 64) return b;
  unsigned msb = (b - 64) / 32 + 6, sub = (b - 64) % 32;
  double lo = (double)((uint64_t)(32 + sub) << (msb - 5));
  double w = (double)(1ull << (msb - 5));
  return lo + w / 2;
}

static void hist_add(hist *h, uint64_t v) {
  h->b[bucket(v)]++;
  h->n++;
  if (v > h->max) h->max = v;
}

static double hist_pct(const hist *h, double p) {
  if (!h->n) return 0;
  uint64_t want = (uint64_t)(p * (double)h->n + 0.5), seen = 0;
  if (want < 1) want = 1;
  for (unsigned i = 0; i < NB; i++) {
    seen += h->b[i];
    if (seen >= want) {
      double m = bucket_mid(i);
      return m > (double)h->max ? (double)h->max : m;
    }
  }
  return (double)h->max;
}

void sim_stats_session(bool ok, uint64_t session_us, sim_fail why) {
  if (ok) {
    S->st.ok++;
    hist_add(&h_session, session_us);
  } else {
    S->st.failed++;
    if (why < SIM_FAIL_COUNT) S->st.fail[why]++;
  }
}

void sim_stats_inform(uint64_t rtt_us) {
  S->st.informs_acked++;
  hist_add(&h_inform, rtt_us);
}

void sim_stats_rpc(acs_cwmp_kind k, bool fault) {
  if ((unsigned)k < ACS_CWMP_KIND_COUNT) S->st.rpc[k]++;
  if (fault) S->st.rpc_faults++;
}

uint64_t sim_rss_kib(bool peak) {
  FILE *f = fopen("/proc/self/status", "r");
  if (!f) return 0;
  char line[256];
  uint64_t v = 0;
  const char *key = peak ? "VmHWM:" : "VmRSS:";
  while (fgets(line, sizeof line, f)) {
    if (strncmp(line, key, strlen(key)) == 0) {
      v = strtoull(line + strlen(key), NULL, 10);
      break;
    }
  }
  fclose(f);
  return v;
}

void sim_stats_sample(void) {
  uint64_t r = sim_rss_kib(false);
  if (r > S->st.rss_max_kib) {
    S->st.rss_max_kib = r;
    S->st.in_flight_at_rss_max = S->in_flight;
  }
}

/* Non-empty buckets as [middle in us, count] pairs: processes' histograms
 * can be added up (bench/bench.py merges its clients' this way). */
static void hist_json(FILE *o, const char *name, const hist *h) {
  fprintf(o, ",\"%s\":[", name);
  bool first = true;
  for (unsigned i = 0; i < NB; i++) {
    if (!h->b[i]) continue;
    fprintf(o, "%s[%.0f,%llu]", first ? "" : ",", bucket_mid(i), (unsigned long long)h->b[i]);
    first = false;
  }
  fputc(']', o);
}

static const char *const fail_names[SIM_FAIL_COUNT] = {"connect", "timeout", "http",  "503",
                                                       "401",     "xml",     "fault", "protocol"};

void sim_stats_print(double elapsed_s) {
  const sim_stats *st = &S->st;
  double active = S->t_last_ms > S->t_first_ms ? (S->t_last_ms - S->t_first_ms) / 1000.0 : 0;
  double rate = active > 0 ? (double)st->ok / active : 0;
  uint64_t peak = sim_rss_kib(true);
  if (peak < st->rss_max_kib) peak = st->rss_max_kib;
  FILE *o = stdout;
  fprintf(o, "cpesim: %u devices (%s), %.1f s\n", S->ndev, S->model->path, elapsed_s);
  fprintf(o, "sessions: %llu started, %llu ok, %llu failed", (unsigned long long)st->started,
          (unsigned long long)st->ok, (unsigned long long)st->failed);
  if (st->failed) {
    fputs(" (", o);
    bool first = true;
    for (int i = 0; i < SIM_FAIL_COUNT; i++) {
      if (!st->fail[i]) continue;
      fprintf(o, "%s%s %llu", first ? "" : ", ", fail_names[i], (unsigned long long)st->fail[i]);
      first = false;
    }
    fputc(')', o);
  }
  fprintf(o, "; %.1f sessions/s over %.1f s\n", rate, active);
  fprintf(o, "session latency ms: p50 %.2f p90 %.2f p99 %.2f max %.2f\n",
          hist_pct(&h_session, .5) / 1000, hist_pct(&h_session, .9) / 1000,
          hist_pct(&h_session, .99) / 1000, (double)h_session.max / 1000);
  fprintf(o, "inform round trip ms: p50 %.2f p90 %.2f p99 %.2f max %.2f\n",
          hist_pct(&h_inform, .5) / 1000, hist_pct(&h_inform, .9) / 1000,
          hist_pct(&h_inform, .99) / 1000, (double)h_inform.max / 1000);
  fprintf(o,
          "HTTP 503: %llu, 401: %llu, ACS faults: %llu; connection requests: %llu (%llu "
          "refused)\n",
          (unsigned long long)st->http_503, (unsigned long long)st->http_401,
          (unsigned long long)st->acs_faults, (unsigned long long)st->cr_received,
          (unsigned long long)st->cr_denied);
  uint64_t nrpc = 0;
  for (int k = 0; k < ACS_CWMP_KIND_COUNT; k++) nrpc += st->rpc[k];
  fprintf(o, "RPCs answered: %llu (%llu faults)", (unsigned long long)nrpc,
          (unsigned long long)st->rpc_faults);
  for (int k = 0; k < ACS_CWMP_KIND_COUNT; k++) {
    if (!st->rpc[k]) continue;
    const char *n = acs_cwmp_kind_name((acs_cwmp_kind)k);
    fprintf(o, " %s %llu", n ? n : "unknown", (unsigned long long)st->rpc[k]);
  }
  fprintf(o, "\ntransfers: %llu ok, %llu failed\n", (unsigned long long)st->transfers_ok,
          (unsigned long long)st->transfers_failed);
  if (st->tls_handshakes)
    fprintf(o, "tls: %llu handshakes, %llu resumed\n", (unsigned long long)st->tls_handshakes,
            (unsigned long long)st->tls_resumed);
  fprintf(o, "in flight: peak %u; RSS: peak %.1f MiB (%llu in flight at the highest sample)\n",
          S->max_in_flight, peak / 1024.0, (unsigned long long)st->in_flight_at_rss_max);
  fprintf(o,
          "{\"devices\":%u,\"elapsed_s\":%.3f,\"sessions_started\":%llu,\"sessions_ok\":%llu,"
          "\"sessions_failed\":%llu,\"sessions_per_s\":%.1f,"
          "\"session_ms\":{\"p50\":%.3f,\"p90\":%.3f,\"p99\":%.3f,\"max\":%.3f},"
          "\"inform_ms\":{\"p50\":%.3f,\"p90\":%.3f,\"p99\":%.3f,\"max\":%.3f},"
          "\"informs_acked\":%llu,\"http_503\":%llu,\"http_401\":%llu,\"acs_faults\":%llu,"
          "\"connection_requests\":%llu,\"rpcs\":%llu,\"transfers_ok\":%llu,"
          "\"transfers_failed\":%llu,\"max_in_flight\":%u,\"rss_peak_kib\":%llu,"
          "\"failures\":{",
          S->ndev, elapsed_s, (unsigned long long)st->started, (unsigned long long)st->ok,
          (unsigned long long)st->failed, rate, hist_pct(&h_session, .5) / 1000,
          hist_pct(&h_session, .9) / 1000, hist_pct(&h_session, .99) / 1000,
          (double)h_session.max / 1000, hist_pct(&h_inform, .5) / 1000,
          hist_pct(&h_inform, .9) / 1000, hist_pct(&h_inform, .99) / 1000,
          (double)h_inform.max / 1000, (unsigned long long)st->informs_acked,
          (unsigned long long)st->http_503, (unsigned long long)st->http_401,
          (unsigned long long)st->acs_faults,
          (unsigned long long)st->cr_received, (unsigned long long)nrpc,
          (unsigned long long)st->transfers_ok, (unsigned long long)st->transfers_failed,
          S->max_in_flight, (unsigned long long)peak);
  for (int i = 0; i < SIM_FAIL_COUNT; i++)
    fprintf(o, "%s\"%s\":%llu", i ? "," : "", fail_names[i], (unsigned long long)st->fail[i]);
  /* the loop's clock is CLOCK_MONOTONIC(_COARSE): comparable between processes */
  fprintf(o, "},\"first_start_mono_ms\":%llu,\"last_end_mono_ms\":%llu",
          (unsigned long long)S->t_first_ms, (unsigned long long)S->t_last_ms);
  fprintf(o, ",\"tls_handshakes\":%llu,\"tls_resumed\":%llu",
          (unsigned long long)st->tls_handshakes, (unsigned long long)st->tls_resumed);
  hist_json(o, "session_hist_us", &h_session);
  hist_json(o, "inform_hist_us", &h_inform);
  fputs("}\n", o);
  fflush(o);
}
