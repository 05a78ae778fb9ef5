/* migrate.c: versioned schema migrations, applied at start (acs_store.h).
 *
 * Blocking on purpose (it runs before the workers exist) on its own PGconn.
 * Concurrency: CREATE TABLE IF NOT EXISTS schema_migrations can still race
 * (two sessions both find it missing; one fails on the catalog's unique
 * index), so that statement is retried. Each migration then runs in a
 * transaction that first takes LOCK TABLE schema_migrations IN EXCLUSIVE
 * MODE (readers still read) and checks again whether its version is there:
 * the second instance waits for the first, sees the row, and skips. */
#include <libpq-fe.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/acs_err.h"
#include "core/acs_log.h"
#include "store/acs_store.h"

static const char create_sql[] =
    "CREATE TABLE IF NOT EXISTS schema_migrations (\n"
    "  version int PRIMARY KEY,\n"
    "  name text NOT NULL,\n"
    "  applied_at timestamptz NOT NULL DEFAULT now()\n"
    ")";

static void set_err(char *errbuf, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_err(char *errbuf, size_t errlen, const char *fmt, ...) {
  if (!errbuf || !errlen) return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(errbuf, errlen, fmt, ap);
  va_end(ap);
  size_t n = strlen(errbuf);
  while (n && (errbuf[n - 1] == '\n' || errbuf[n - 1] == ' ')) errbuf[--n] = '\0';
  for (char *p = errbuf; *p; p++)
    if (*p == '\n') *p = ' ';
}

static void notice_cb(void *arg, const char *message) {
  if (acs_log_enabled(ACS_LOG_DEBUG)) acs_log(ACS_LOG_DEBUG, "migrate", "%s", message);
}

/* Runs sql (parameters optional); 0 or ACS_EPG/ACS_EUNAVAILABLE with the
 * reason in errbuf and the SQLSTATE in state (6 bytes, may be NULL). With
 * out != NULL the result is handed over on success. */
static int run(PGconn *pg, const char *sql, int n, const char *const *params, PGresult **out,
               char state[6], char *errbuf, size_t errlen) {
  PGresult *res = n ? PQexecParams(pg, sql, n, NULL, params, NULL, NULL, 0) : PQexec(pg, sql);
  int rc = 0;
  if (state) state[0] = '\0';
  ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
  if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
    const char *s = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    if (state && s) snprintf(state, 6, "%s", s);
    set_err(errbuf, errlen, "%s", res ? PQresultErrorMessage(res) : PQerrorMessage(pg));
    rc = PQstatus(pg) == CONNECTION_BAD ? ACS_EUNAVAILABLE : ACS_EPG;
    goto cleanup;
  }
  if (out) {
    *out = res;
    res = NULL;
  }
cleanup:
  if (res) PQclear(res);
  return rc;
}

static int create_table(PGconn *pg, char *errbuf, size_t errlen) {
  char state[6];
  int rc = 0;
  for (int attempt = 0; attempt < 10; attempt++) {
    rc = run(pg, create_sql, 0, NULL, NULL, state, errbuf, errlen);
    /* lost the race against another instance (unique violation on the
     * catalog, duplicate table, or duplicate row type): the table now exists */
    if (rc == ACS_EPG && (strcmp(state, "23505") == 0 || strcmp(state, "42P07") == 0 ||
                            strcmp(state, "42710") == 0)) {
      usleep(10000u * (unsigned)(attempt + 1));
      continue;
    }
    break;
  }
  return rc;
}

static int is_applied(PGconn *pg, int version, bool *applied, char *errbuf, size_t errlen) {
  char v[16];
  snprintf(v, sizeof v, "%d", version);
  const char *p[] = {v};
  PGresult *res = NULL;
  int rc = run(pg, "SELECT 1 FROM schema_migrations WHERE version = $1", 1, p, &res, NULL, errbuf,
               errlen);
  if (rc == 0) *applied = PQntuples(res) > 0;
  if (res) PQclear(res);
  return rc;
}

/* Applies one migration unless another instance did; *did says which. */
static int apply_one(PGconn *pg, const acs_store_migration *m, bool *did, char *errbuf,
                     size_t errlen) {
  int rc;
  bool applied = false;
  bool in_tx = false;
  char v[16];
  *did = false;
  rc = run(pg, "BEGIN", 0, NULL, NULL, NULL, errbuf, errlen);
  if (rc) goto cleanup;
  in_tx = true;
  rc = run(pg, "LOCK TABLE schema_migrations IN EXCLUSIVE MODE", 0, NULL, NULL, NULL, errbuf,
           errlen);
  if (rc) goto cleanup;
  rc = is_applied(pg, m->version, &applied, errbuf, errlen);
  if (rc || applied) goto cleanup;
  rc = run(pg, m->sql, 0, NULL, NULL, NULL, errbuf, errlen);
  if (rc) {
    char why[512];
    snprintf(why, sizeof why, "%s", errbuf ? errbuf : "");
    set_err(errbuf, errlen, "migration %d (%s): %s", m->version, m->name, why);
    goto cleanup;
  }
  snprintf(v, sizeof v, "%d", m->version);
  const char *p[] = {v, m->name};
  rc = run(pg, "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", 2, p, NULL, NULL,
           errbuf, errlen);
  if (rc) goto cleanup;
  rc = run(pg, "COMMIT", 0, NULL, NULL, NULL, errbuf, errlen);
  in_tx = false;
  if (rc == 0) *did = true;
cleanup:
  if (in_tx) {
    PGresult *res = PQexec(pg, "ROLLBACK");
    if (res) PQclear(res);
  }
  return rc;
}

int acs_store_migrate_list(const char *dsn, const acs_store_migration *m, size_t n, int *applied,
                           char *errbuf, size_t errlen) {
  const char *const keys[] = {"fallback_application_name", "dbname", NULL};
  const char *const vals[] = {"acsd-migrate", dsn, NULL};
  PGconn *pg = NULL;
  PGresult *res = NULL;
  int rc = 0, count = 0, newest = 0, known = 0;
  if (applied) *applied = 0;
  if (errbuf && errlen) errbuf[0] = '\0';
  pg = PQconnectdbParams(keys, vals, 1);
  if (!pg) {
    rc = ACS_ENOMEM;
    set_err(errbuf, errlen, "out of memory");
    goto cleanup;
  }
  if (PQstatus(pg) != CONNECTION_OK) {
    rc = ACS_EUNAVAILABLE;
    set_err(errbuf, errlen, "cannot connect: %s", PQerrorMessage(pg));
    goto cleanup;
  }
  PQsetNoticeProcessor(pg, notice_cb, NULL);
  rc = create_table(pg, errbuf, errlen);
  if (rc) goto cleanup;
  for (size_t i = 0; i < n; i++) {
    bool done = false, did = false;
    if (m[i].version > known) known = m[i].version;
    /* the common case, everything applied, takes no lock at all */
    rc = is_applied(pg, m[i].version, &done, errbuf, errlen);
    if (rc) goto cleanup;
    if (done) continue;
    rc = apply_one(pg, &m[i], &did, errbuf, errlen);
    if (rc) goto cleanup;
    if (did) {
      count++;
      acs_log(ACS_LOG_INFO, "migrate", "applied schema migration %d (%s)", m[i].version, m[i].name);
    }
  }
  rc = run(pg, "SELECT coalesce(max(version), 0) FROM schema_migrations", 0, NULL, &res, NULL,
           errbuf, errlen);
  if (rc) goto cleanup;
  newest = atoi(PQgetvalue(res, 0, 0));
  if (newest > known) {
    acs_log(ACS_LOG_WARN, "migrate",
            "database schema is at version %d, newer than this acsd knows (%d)", newest, known);
  }
cleanup:
  if (rc) acs_log(ACS_LOG_ERR, "migrate", "%s", errbuf && errlen ? errbuf : acs_strerror(rc));
  if (applied) *applied = count;
  if (res) PQclear(res);
  if (pg) PQfinish(pg);
  return rc;
}

int acs_store_migrate(const char *dsn, char *errbuf, size_t errlen) {
  return acs_store_migrate_list(dsn, acs_store_migrations, acs_store_migrations_count, NULL, errbuf,
                                errlen);
}
