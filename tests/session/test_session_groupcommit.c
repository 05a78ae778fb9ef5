/* test_session_groupcommit: group commit and only-changed writes.
 *
 * 100 concurrent CPEs (threads), each looping Inform -> empty POST -> 204
 * for 5 rounds (500 sessions): PostgreSQL's xact_commit for the acsd
 * database grows by less than a tenth of the sessions served. A second,
 * identical Inform adds 0 to n_tup_upd of the parameters partitions (and an
 * Inform with one value changed adds exactly 1: the measure can see an
 * update). Figures are printed.
 *
 * The statistics: pg_stat_database / pg_stat_user_tables, read in fresh
 * snapshots (pg_stat_clear_snapshot()) once acsd's connections have flushed
 * theirs (flush_stats(): PG 15 has no pg_stat_force_next_flush()) and two
 * reads agree. xact_commit is read from the postgres database, so that the
 * reads do not count themselves; the probe sessions that force the flush
 * are subtracted. */
#include <pthread.h>

#include "session/acs_session.h"
#include "session_test.h"

#define NCPE 100
#define ROUNDS 5

static cs_acsd acsd;

typedef struct cpe_thread {
  cs_cpe c;
  pthread_t th;
  int ok, rejected, failed;
  char err[160];
} cpe_thread;

static pthread_barrier_t go;

static void *run_cpe(void *arg) {
  cpe_thread *t = arg;
  pthread_barrier_wait(&go);
  for (int r = 0; r < ROUNDS; r++) {
    int st = -1;
    for (int attempt = 0; attempt < 50; attempt++) {
      st = cs_cpe_inform(&t->c, r == 0 ? "0 BOOTSTRAP,1 BOOT" : "2 PERIODIC");
      if (st != 503) break;
      t->rejected++;
      cs_sleep_ms(20);
    }
    int n = st == 200 ? cs_cpe_acs_turn(&t->c, NULL, NULL) : -1;
    if (st == 200 && n == 0) {
      t->ok++;
    } else {
      t->failed++;
      snprintf(t->err, sizeof t->err, "round %d: Inform %d, ACS turn %d", r, st, n);
    }
  }
  return NULL;
}

/* Statistics of acsd's own connections, flushed. A PG 15 backend flushes
 * its counters when it goes idle if its last flush is a second old, else
 * it waits up to 10 s (PGSTAT_IDLE_INTERVAL); so after a second of quiet,
 * every worker's connection is made to run one probe session (a device it
 * owns, informing what it informed before: one commit, no parameter
 * written), which flushes all it had. Returns the commits the probes
 * added. */
#define NWORKERS 2
static cs_cpe probes[NWORKERS];

static void probes_init(void) {
  for (unsigned w = 0, k = 0; w < NWORKERS; k++) {
    char serial[32];
    snprintf(serial, sizeof serial, "SN-PROBE-%u", k);
    cs_cpe_init(&probes[w], acsd.cwmp_port, "00BEEF", "Probe", serial);
    if (acs_session_owner(probes[w].device_id, NWORKERS) != w) {
      cs_cpe_free(&probes[w]);
      continue;
    }
    CHECK_INT(cs_cpe_inform(&probes[w], "0 BOOTSTRAP"), 200);
    CHECK_INT(cs_cpe_acs_turn(&probes[w], NULL, NULL), 0);
    w++;
  }
}

static long long flush_stats(void) {
  cs_sleep_ms(1100);
  for (unsigned w = 0; w < NWORKERS; w++) {
    CHECK_INT(cs_cpe_inform(&probes[w], "2 PERIODIC"), 200);
    CHECK_INT(cs_cpe_acs_turn(&probes[w], NULL, NULL), 0);
  }
  cs_sleep_ms(100);
  return NWORKERS;
}

/* A statistics figure in a fresh snapshot, once two reads agree. */
static long long settled(PGconn *pg, const char *sql) {
  long long prev = -2;
  for (int i = 0; i < 20; i++) {
    cs_pg_exec(pg, "SELECT pg_stat_clear_snapshot()");
    long long v = cs_pg_ll(pg, sql, 0);
    if (v == prev) return v;
    prev = v;
    cs_sleep_ms(200);
  }
  fprintf(stderr, "statistics did not settle: %s\n", sql);
  return prev;
}

static const char sql_commits[] = "SELECT xact_commit FROM pg_stat_database WHERE datname = 'acsd'";
static const char sql_upd[] =
    "SELECT coalesce(sum(n_tup_upd), 0) FROM pg_stat_user_tables WHERE relname LIKE "
    "'parameters\\_p%'";
static const char sql_ins[] =
    "SELECT coalesce(sum(n_tup_ins), 0) FROM pg_stat_user_tables WHERE relname LIKE "
    "'parameters\\_p%'";

static void test_group_commit(PGconn *adm) {
  cpe_thread *t = calloc(NCPE, sizeof *t);
  for (int i = 0; i < NCPE; i++) {
    char serial[32];
    snprintf(serial, sizeof serial, "SN-GC-%03d", i);
    cs_cpe_init(&t[i].c, acsd.cwmp_port, "00BEEF", "GroupCommit", serial);
    t[i].c.http.timeout_ms = 30000;
  }
  /* what commits without any session (the instance's pollers: policies,
   * bulk actions, traces, roll-outs) over a settling as long as the one
   * after the run: subtracted, so that the figure is the sessions' */
  flush_stats();
  long long idle0 = settled(adm, sql_commits);
  long long idle_probes = flush_stats();
  long long before = settled(adm, sql_commits);
  long long idle = before - idle0 - idle_probes;
  if (idle < 0) idle = 0;
  pthread_barrier_init(&go, NULL, NCPE + 1);
  for (int i = 0; i < NCPE; i++) pthread_create(&t[i].th, NULL, run_cpe, &t[i]);
  uint64_t t0 = cs_now_ms();
  pthread_barrier_wait(&go);
  int ok = 0, rejected = 0, failed = 0;
  for (int i = 0; i < NCPE; i++) {
    pthread_join(t[i].th, NULL);
    ok += t[i].ok;
    rejected += t[i].rejected;
    failed += t[i].failed;
    if (t[i].failed) fprintf(stderr, "%s: %s\n", t[i].c.serial, t[i].err);
  }
  uint64_t ms = cs_now_ms() - t0;
  pthread_barrier_destroy(&go);
  long long probes_added = flush_stats();
  long long after = settled(adm, sql_commits);
  long long grew = after - before - probes_added - idle;
  printf(
      "group commit: %d sessions served by %d CPEs in %llu ms (%d Informs refused with 503, "
      "retried); xact_commit grew by %lld (%.3f per session, limit %.1f; %lld of the "
      "instance's own without sessions taken off)\n",
      ok, NCPE, (unsigned long long)ms, rejected, grew, ok ? (double)grew / ok : 0.0, ok / 10.0,
      idle);
  CHECK_INT(ok, NCPE * ROUNDS);
  CHECK_INT(failed, 0);
  /* rounds follow each other on every CPE: at least one commit per round
   * and worker, else the figures were not flushed */
  CHECK(before >= 0 && grew + idle >= NWORKERS * ROUNDS);
  CHECK(grew * 10 < ok);
  for (int i = 0; i < NCPE; i++) cs_cpe_free(&t[i].c);
  free(t);
}

static int inform_with(cs_cpe *c, const cs_param *p, size_t n) {
  acs_arena a;
  acs_arena_init(&a, 4096);
  acs_cwmp_msg m, in;
  cs_cpe_inform_msg(c, &a, "Device.", "2 PERIODIC", p, n, &m);
  int st = cs_cpe_post(c, &m, &in);
  acs_arena_reset(&a);
  if (st == 200) st = cs_cpe_acs_turn(c, NULL, NULL) == 0 ? 200 : -1;
  return st;
}

static void test_only_changed(PGconn *pg) {
  cs_cpe c;
  cs_cpe_init(&c, acsd.cwmp_port, "00BEEF", "GroupCommit", "SN-SAME");
  cs_param p[20];
  char names[20][96], values[20][32];
  for (int i = 0; i < 20; i++) {
    snprintf(names[i], sizeof names[i], "Device.X_ACME_Stats.Counter%02d", i);
    snprintf(values[i], sizeof values[i], "%d", i * 1000);
    p[i] = (cs_param){names[i], values[i], ACS_XSD_UNSIGNEDINT};
  }
  CHECK_INT(inform_with(&c, p, 20), 200);
  flush_stats();
  long long u0 = settled(pg, sql_upd), i0 = settled(pg, sql_ins);
  CHECK_INT(inform_with(&c, p, 20), 200); /* the same again */
  flush_stats();
  long long u1 = settled(pg, sql_upd), i1 = settled(pg, sql_ins);
  snprintf(values[7], sizeof values[7], "%s", "7001"); /* one value changed */
  CHECK_INT(inform_with(&c, p, 20), 200);
  flush_stats();
  long long u2 = settled(pg, sql_upd), i2 = settled(pg, sql_ins);
  printf(
      "only changed: an identical Inform (25 parameters) added %lld to n_tup_upd and %lld to "
      "n_tup_ins of parameters_p*; one with a changed value added %lld (%lld inserts)\n",
      u1 - u0, i1 - i0, u2 - u1, i2 - i1);
  CHECK(u0 >= 0);
  CHECK_INT(u1 - u0, 0);
  CHECK_INT(i1 - i0, 0);
  CHECK_INT(u2 - u1, 1); /* the measure does see an update */
  CHECK_INT(i2 - i1, 0);
  CHECK_INT(cs_pg_ll(pg,
                     "SELECT value::bigint FROM parameters WHERE device_id = $1 AND name = "
                     "'Device.X_ACME_Stats.Counter07'",
                     1, c.device_id),
            7001);
  cs_cpe_free(&c);
}

int main(void) {
  PGconn *pg = cs_pg_connect(cs_env("ACS_TEST_PG_DSN"));
  PGconn *adm = cs_pg_connect(cs_env("ACS_TEST_PG_ADMIN_DSN"));
  if (cs_acsd_start(&acsd, NWORKERS, NULL) != 0) return 1;
  probes_init();
  test_group_commit(adm);
  test_only_changed(pg);
  for (unsigned w = 0; w < NWORKERS; w++) cs_cpe_free(&probes[w]);
  CHECK_INT(cs_acsd_stop(&acsd, 30000), 0);
  PQfinish(adm);
  PQfinish(pg);
  return acs_test_result("test_session_groupcommit");
}
