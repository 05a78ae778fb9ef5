/* store_test.h: what the store integration tests share. They run under
 * tests/lib/run_with_pg.py, which starts PostgreSQL and exports
 * ACS_TEST_PG_DSN (role acsd, not superuser), ACS_TEST_PG_ADMIN_DSN and the
 * shell commands ACS_TEST_PG_STOP / ACS_TEST_PG_START. Without them a test
 * exits 77 (skipped). Blocking libpq here is for checks only. */
#ifndef STORE_TEST_H
#define STORE_TEST_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "acs_test.h"

static inline const char *st_env(const char *name) {
  const char *v = getenv(name);
  if (!v || !*v) {
    fprintf(stderr, "SKIP: %s not set (run through tests/lib/run_with_pg.py)\n", name);
    exit(77);
  }
  return v;
}

static inline const char *st_dsn(void) { return st_env("ACS_TEST_PG_DSN"); }

static inline uint64_t st_now_ms(void) { return uv_hrtime() / 1000000u; }

/* Runs the loop until *counter >= target or timeout_ms passes; true if the
 * target was reached. */
static inline void st_timeout_cb(uv_timer_t *t) { *(bool *)t->data = true; }

static inline void st_tick_cb(uv_timer_t *t) {}

/* A ticking timer bounds each uv_run(UV_RUN_ONCE): a callback that ran in
 * the prepare phase does not end the poll that follows it. */
static inline bool st_wait(uv_loop_t *loop, const int *counter, int target, unsigned timeout_ms) {
  bool timed_out = false;
  uv_timer_t t, tick;
  uv_timer_init(loop, &t);
  uv_timer_init(loop, &tick);
  t.data = &timed_out;
  uv_timer_start(&t, st_timeout_cb, timeout_ms, 0);
  uv_timer_start(&tick, st_tick_cb, 2, 2);
  while (*counter < target && !timed_out) uv_run(loop, UV_RUN_ONCE);
  uv_close((uv_handle_t *)&t, NULL);
  uv_close((uv_handle_t *)&tick, NULL);
  uv_run(loop, UV_RUN_NOWAIT);
  return *counter >= target;
}

/* Runs the loop for ms milliseconds. */
static inline void st_sleep(uv_loop_t *loop, unsigned ms) {
  int never = 0;
  st_wait(loop, &never, 1, ms);
}

static inline PGconn *st_connect(const char *dsn) {
  PGconn *pg = PQconnectdb(dsn);
  if (PQstatus(pg) != CONNECTION_OK) {
    fprintf(stderr, "cannot connect to %s: %s", dsn, PQerrorMessage(pg));
    exit(1);
  }
  return pg;
}

/* Runs sql; returns the first column of the first row as a number (0 if
 * none); a failure counts as a failed check. */
static inline long long st_ll(PGconn *pg, const char *sql) {
  PGresult *r = PQexec(pg, sql);
  long long v = 0;
  acs_test_checks++;
  if (PQresultStatus(r) != PGRES_TUPLES_OK && PQresultStatus(r) != PGRES_COMMAND_OK) {
    acs_test_failures++;
    fprintf(stderr, "query failed: %s: %s", sql, PQresultErrorMessage(r));
  } else if (PQntuples(r) > 0 && PQnfields(r) > 0) {
    v = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
  }
  PQclear(r);
  return v;
}

/* The DSN with another database (later keywords win in a conninfo string). */
static inline void st_dsn_db(char *out, size_t len, const char *dsn, const char *db) {
  snprintf(out, len, "%s dbname=%s", dsn, db);
}

/* Waits for an acs_pg connection to come up. */
#define ST_WAIT_UP(loop, conn, ms)                                             \
  do {                                                                         \
    uint64_t t0_ = st_now_ms();                                                \
    while (!acs_pg_is_up(conn) && st_now_ms() - t0_ < (ms)) st_sleep(loop, 5); \
    CHECK(acs_pg_is_up(conn));                                                 \
  } while (0)

#endif
