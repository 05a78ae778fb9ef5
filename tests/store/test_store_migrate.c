/* test_store_migrate: versioned migrations as a role that is not superuser;
 * idempotent; concurrent starts; a failing migration rolls back whole. */
#include <pthread.h>

#include "core/acs_err.h"
#include "store/acs_store.h"
#include "store_test.h"

typedef struct {
  const char *dsn;
  int rc;
  int applied;
  char err[256];
} mig_thread;

static void *mig_main(void *arg) {
  mig_thread *t = arg;
  t->rc = acs_store_migrate_list(t->dsn, acs_store_migrations, acs_store_migrations_count,
                                 &t->applied, t->err, sizeof t->err);
  return NULL;
}

static void check_schema(PGconn *pg) {
  static const char *const tables[] = {"devices",        "parameters", "events",
                                       "tasks",          "faults",     "api_tokens",
                                       "device_secrets", "audit_log",  "schema_migrations"};
  for (size_t i = 0; i < sizeof tables / sizeof tables[0]; i++) {
    char sql[128];
    snprintf(sql, sizeof sql, "SELECT (to_regclass('%s') IS NOT NULL)::int", tables[i]);
    if (st_ll(pg, sql) != 1) fprintf(stderr, "missing table %s\n", tables[i]);
    CHECK_INT(st_ll(pg, sql), 1);
  }
  CHECK_INT(st_ll(pg, "SELECT count(*) FROM pg_inherits WHERE inhparent = 'parameters'::regclass"),
            16);
  /* today .. today+7 and the default */
  CHECK_INT(st_ll(pg, "SELECT count(*) FROM pg_inherits WHERE inhparent = 'events'::regclass"), 9);
  CHECK_INT(st_ll(pg, "SELECT count(*) FROM schema_migrations"),
            (long long)acs_store_migrations_count);
  /* everything belongs to the application role */
  CHECK_INT(st_ll(pg,
                  "SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND "
                  "tableowner <> current_user"),
            0);
}

int main(void) {
  const char *dsn = st_dsn();
  const char *admin = st_env("ACS_TEST_PG_ADMIN_DSN");
  PGconn *pg = st_connect(dsn);
  PGconn *adm = st_connect(admin);
  char err[512];
  int applied = -1;

  /* the role is an ordinary one */
  CHECK_INT(st_ll(pg, "SELECT rolsuper::int FROM pg_roles WHERE rolname = current_user"), 0);

  /* 1. an empty database */
  uint64_t t0 = st_now_ms();
  int rc = acs_store_migrate_list(dsn, acs_store_migrations, acs_store_migrations_count, &applied,
                                  err, sizeof err);
  fprintf(stderr, "first migration: %llu ms\n", (unsigned long long)(st_now_ms() - t0));
  if (rc) fprintf(stderr, "migrate: %s\n", err);
  CHECK_INT(rc, 0);
  CHECK_INT(applied, (int)acs_store_migrations_count);
  check_schema(pg);

  /* 2. again: nothing to do */
  rc = acs_store_migrate_list(dsn, acs_store_migrations, acs_store_migrations_count, &applied, err,
                              sizeof err);
  CHECK_INT(rc, 0);
  CHECK_INT(applied, 0);
  CHECK_INT(acs_store_migrate(dsn, NULL, 0), 0);
  check_schema(pg);
  CHECK_INT(st_ll(pg, "SELECT acs_events_maintain() IS NULL"), 0);

  /* acs_time() as version 20 wrote it (an index's expression) gives what
   * version 3's gave, for 55,299 strings made of valid and invalid pieces
   * of a dateTime: year, month, day, separator, hour, minute, second and
   * fraction, offset */
  CHECK_INT(
      st_ll(pg,
            "CREATE FUNCTION pg_temp.acs_time_v3(v text) RETURNS timestamptz LANGUAGE sql "
            "IMMUTABLE AS $$ SELECT CASE WHEN m IS NULL OR m[1] = '0000' THEN NULL ELSE "
            "((make_timestamp(m[1]::int, m[2]::int, 1, 0, 0, 0) + make_interval(days => "
            "m[3]::int - 1, hours => m[4]::int, mins => m[5]::int, secs => m[6]::float8)) - "
            "CASE WHEN m[7] IS NULL OR m[7] IN ('Z', 'z') THEN interval '0' ELSE "
            "(substr(m[7], 1, 1) || '1')::int * make_interval(hours => substr(m[7], 2, 2)::int, "
            "mins => substr(m[7], 5, 2)::int) END) AT TIME ZONE 'UTC' END "
            "FROM regexp_match(v, '^([0-9]{4})-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])[Tt ]"
            "([01][0-9]|2[0-3]):([0-5][0-9]):([0-5][0-9](?:[.][0-9]{1,9})?)"
            "([Zz]|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])?$') AS m $$"),
      0);
  static const char time_cases[] =
      "WITH p AS (SELECT (ARRAY['2026','0000','20x6'])[1 + g % 3] || '-' || "
      "(ARRAY['02','12','13','2'])[1 + (g / 3) % 4] || '-' || "
      "(ARRAY['01','31','29','32'])[1 + (g / 12) % 4] || "
      "(ARRAY['T','t',' ','X'])[1 + (g / 48) % 4] || "
      "(ARRAY['00','23','24'])[1 + (g / 192) % 3] || ':' || "
      "(ARRAY['59','60'])[1 + (g / 576) % 2] || ':' || "
      "(ARRAY['00','60','01.5','01.123456789','01.1234567890','01.'])[1 + (g / 1152) % 6] || "
      "(ARRAY['','Z','z','+05:30','-11:59','+24:00','+5:30','Zz'])[1 + (g / 6912) % 8] "
      "AS v FROM generate_series(0, 55295) g "
      "UNION ALL SELECT NULL UNION ALL SELECT '' UNION ALL SELECT '2026-02-31T23:59:59+14:00') "
      "SELECT ";
  char tsql[2048];
  snprintf(tsql, sizeof tsql,
           "%scount(*) FILTER (WHERE acs_time(v) IS DISTINCT FROM "
           "pg_temp.acs_time_v3(v)) FROM p",
           time_cases);
  CHECK_INT(st_ll(pg, tsql), 0);
  snprintf(tsql, sizeof tsql, "%scount(acs_time(v)) FROM p", time_cases);
  /* the valid ones: 2026, 2 months, 3 days, 3 separators, 2 hours, a
   * minute, 3 seconds, 5 offsets; and the last case */
  CHECK_INT(st_ll(pg, tsql), 541);

  /* 3. several instances at once on empty databases, a few rounds */
  for (int round = 0; round < 3; round++) {
    char db[32], sql[128], dsn2[512];
    snprintf(db, sizeof db, "acsd_conc%d", round);
    snprintf(sql, sizeof sql, "CREATE DATABASE %s OWNER acsd", db);
    st_ll(adm, sql);
    st_dsn_db(dsn2, sizeof dsn2, dsn, db);
    enum { NT = 4 };
    mig_thread th[NT];
    pthread_t tid[NT];
    for (int i = 0; i < NT; i++) {
      th[i] = (mig_thread){.dsn = dsn2};
      pthread_create(&tid[i], NULL, mig_main, &th[i]);
    }
    int total = 0;
    for (int i = 0; i < NT; i++) {
      pthread_join(tid[i], NULL);
      if (th[i].rc) fprintf(stderr, "round %d thread %d: %s\n", round, i, th[i].err);
      CHECK_INT(th[i].rc, 0);
      total += th[i].applied;
    }
    CHECK_INT(total, (int)acs_store_migrations_count);
    PGconn *pg2 = st_connect(dsn2);
    check_schema(pg2);
    PQfinish(pg2);
  }

  /* 4. a failing migration leaves nothing behind; the next run retries it */
  acs_store_migration more[64]; /* the schema and two more */
  size_t n = acs_store_migrations_count;
  memcpy(more, acs_store_migrations, n * sizeof more[0]);
  more[n] = (acs_store_migration){1000, "test: fails halfway",
                                  "CREATE TABLE mig_half (x int);\nSELECT 1/0;"};
  rc = acs_store_migrate_list(dsn, more, n + 1, &applied, err, sizeof err);
  CHECK_INT(rc, ACS_EPG);
  CHECK(strstr(err, "division by zero") != NULL);
  CHECK(strstr(err, "migration 1000") != NULL);
  CHECK_INT(st_ll(pg, "SELECT (to_regclass('mig_half') IS NULL)::int"), 1);
  CHECK_INT(st_ll(pg, "SELECT count(*) FROM schema_migrations WHERE version = 1000"), 0);
  more[n] =
      (acs_store_migration){1000, "test: works now", "CREATE TABLE mig_half (x int);\nSELECT 1;"};
  more[n + 1] = (acs_store_migration){1001, "test: second", "ALTER TABLE mig_half ADD y int"};
  rc = acs_store_migrate_list(dsn, more, n + 2, &applied, err, sizeof err);
  CHECK_INT(rc, 0);
  CHECK_INT(applied, 2);
  CHECK_INT(st_ll(pg, "SELECT count(*) FROM schema_migrations"), (long long)n + 2);
  /* an older binary (knows fewer versions) still starts: it only warns */
  CHECK_INT(acs_store_migrate(dsn, err, sizeof err), 0);

  /* 5. cannot connect */
  rc = acs_store_migrate("hostaddr=127.0.0.1 port=1 dbname=x connect_timeout=2", err, sizeof err);
  CHECK_INT(rc, ACS_EUNAVAILABLE);
  CHECK(strstr(err, "cannot connect") != NULL);

  PQfinish(pg);
  PQfinish(adm);
  return acs_test_result("test_store_migrate");
}
