/* policy_start.c: which policy generation acsd serves when it starts
 * (acs_policy.h, docs/policies.md "Generations").
 *
 * acsd serves the store's current generation (ACS_POLICY_CURRENT_ID: the
 * last one pushed valid, activated or rolled back to)
 * whether or not --policies was given. --policies DIR imports DIR first,
 * under one rule: DIR is stored as a new generation only when its content
 * differs from the generation last stored from DIR (any generation whose
 * source is DIR's real path: an earlier start, the watcher, `acsd policies
 * push DIR`, `acsctl policies push DIR`). So a restart with an unchanged
 * DIR never replaces a newer generation pushed elsewhere, and an edited DIR
 * is imported as a push would be. The decision is taken under the push
 * lock (policy_reload's row), so instances starting together agree, and
 * logged with its reason. */
#include <libpq-fe.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/acs_err.h"
#include "core/acs_log.h"
#include "session/acs_dryrun.h"
#include "session/acs_policy.h"

void acs_policy_dir_source(const char *dir, char *out, size_t len) {
  char real[PATH_MAX];
  snprintf(out, len, "%s", realpath(dir, real) ? real : dir);
}

static PGresult *exec_ok(PGconn *pg, const char *sql, int n, const char *const *params, char *err,
                         size_t errlen) {
  PGresult *res = PQexecParams(pg, sql, n, NULL, params, NULL, NULL, 0);
  ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
  if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) return res;
  snprintf(err, errlen, "%s", res ? PQresultErrorMessage(res) : PQerrorMessage(pg));
  PQclear(res);
  return NULL;
}

/* The current generation, and the newest stored from source. */
static const char sql_state[] =
    "SELECT 'current', id, checksum, created_by, coalesce(source, ''), "
    "to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), valid "
    "FROM (SELECT * FROM policy_generations WHERE id = " ACS_POLICY_CURRENT_ID ") c "
    "UNION ALL SELECT 'last', id, checksum, created_by, coalesce(source, ''), "
    "to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), valid "
    "FROM (SELECT * FROM policy_generations WHERE source = $1 ORDER BY id DESC LIMIT 1) l";

typedef struct gen_row {
  bool found;
  long long id;
  char checksum[65];
  char by[160], source[300], at[32];
  bool valid;
} gen_row;

/* Applies the rule above for dir (in the transaction that holds the lock). */
static int import_dir(PGconn *pg, const char *dir, unsigned dry_devices, uint32_t dry_ms,
                      char *err, size_t errlen) {
  char source[PATH_MAX];
  acs_policy_dir_source(dir, source, sizeof source);
  json_t *files = NULL;
  acs_policy_push_stmt st;
  memset(&st, 0, sizeof st);
  PGresult *res = NULL;
  int rc = acs_policy_read_tree(dir, &files, err, errlen);
  if (rc) goto cleanup;
  if ((rc = acs_policy_push_prepare(files, "acsd:start", source, false, 0, &st))) goto cleanup;
  const char *p1[1] = {source};
  rc = ACS_EPG;
  if (!(res = exec_ok(pg, sql_state, 1, p1, err, errlen))) goto cleanup;
  gen_row cur = {0}, last = {0};
  for (int i = 0; i < PQntuples(res); i++) {
    gen_row *g = PQgetvalue(res, i, 0)[0] == 'c' ? &cur : &last;
    g->found = true;
    g->id = atoll(PQgetvalue(res, i, 1));
    snprintf(g->checksum, sizeof g->checksum, "%s", PQgetvalue(res, i, 2));
    snprintf(g->by, sizeof g->by, "%s", PQgetvalue(res, i, 3));
    snprintf(g->source, sizeof g->source, "%s", PQgetvalue(res, i, 4));
    snprintf(g->at, sizeof g->at, "%s", PQgetvalue(res, i, 5));
    g->valid = PQgetvalue(res, i, 6)[0] == 't';
  }
  PQclear(res);
  res = NULL;
  rc = 0;
  if (cur.found && !strcmp(cur.checksum, st.checksum)) {
    acs_log(ACS_LOG_INFO, "policy", "%s is the current generation %lld: nothing to import", dir,
            cur.id);
    goto cleanup;
  }
  if (last.found && !strcmp(last.checksum, st.checksum)) {
    if (cur.found)
      acs_log(ACS_LOG_WARN, "policy",
              "%s is not imported: it has not changed since it was stored as generation %lld%s, "
              "and generation %lld (by %s at %s, from %s) is newer and stays current; edit %s, "
              "or push it, to serve it again",
              dir, last.id, last.valid ? "" : " (refused)", cur.id, cur.by, cur.at,
              cur.source[0] ? cur.source : "the API", dir);
    else
      acs_log(ACS_LOG_WARN, "policy",
              "%s is not imported: unchanged since it was refused as generation %lld", dir,
              last.id);
    goto cleanup;
  }
  /* the dry run over stored devices, as any push does */
  if (st.valid && dry_devices > 0 &&
      (rc = acs_dryrun_push_blocking(pg, files, dry_devices, dry_ms, &st, NULL, err, errlen)))
    goto cleanup;
  rc = ACS_EPG;
  if (!(res = exec_ok(pg, acs_policy_push_sql, ACS_POLICY_PUSH_NPARAMS, st.params, err, errlen)))
    goto cleanup;
  long long gen = PQntuples(res) == 1 ? atoll(PQgetvalue(res, 0, 1)) : 0;
  PQclear(res);
  res = NULL;
  rc = 0;
  char why[600];
  if (last.found)
    snprintf(why, sizeof why, "it changed since it was stored as generation %lld", last.id);
  else
    snprintf(why, sizeof why, "it was never stored before");
  if (!st.valid) {
    acs_log(ACS_LOG_ERR, "policy", "%s is refused (stored as generation %lld, not valid): %s", dir,
            gen, st.error);
  } else if (cur.found) {
    acs_log(ACS_LOG_WARN, "policy",
            "%s is imported as generation %lld (%s) and replaces generation %lld (by %s at %s)",
            dir, gen, why, cur.id, cur.by, cur.at);
  } else {
    acs_log(ACS_LOG_INFO, "policy", "%s is imported as generation %lld (%s)", dir, gen, why);
  }
cleanup:
  if (res) PQclear(res);
  acs_policy_push_stmt_free(&st);
  json_decref(files);
  return rc;
}

int acs_policy_start(const char *dsn, const char *dir, unsigned dry_devices, uint32_t dry_ms,
                     long long *gen, json_t **files, char *err, size_t errlen) {
  *gen = 0;
  *files = NULL;
  PGresult *res = NULL;
  int rc = ACS_EPG;
  PGconn *pg = PQconnectdb(dsn);
  if (PQstatus(pg) != CONNECTION_OK) {
    snprintf(err, errlen, "cannot connect: %s", PQerrorMessage(pg));
    rc = ACS_EUNAVAILABLE;
    goto cleanup;
  }
  if (dir) {
    if (!(res = exec_ok(pg, "BEGIN", 0, NULL, err, errlen))) goto cleanup;
    PQclear(res);
    if (!(res = exec_ok(pg, acs_policy_push_lock_sql, 0, NULL, err, errlen))) goto cleanup;
    PQclear(res);
    res = NULL;
    if ((rc = import_dir(pg, dir, dry_devices, dry_ms, err, errlen))) goto cleanup;
    rc = ACS_EPG;
    if (!(res = exec_ok(pg, "COMMIT", 0, NULL, err, errlen))) goto cleanup;
    PQclear(res);
  }
  if (!(res = exec_ok(pg,
                      "SELECT id, files::text FROM policy_generations WHERE id = "
                      ACS_POLICY_CURRENT_ID,
                      0, NULL, err, errlen)))
    goto cleanup;
  rc = 0;
  if (PQntuples(res) == 1) {
    json_error_t jerr;
    if (!(*files = json_loads(PQgetvalue(res, 0, 1), 0, &jerr))) {
      snprintf(err, errlen, "generation %s: %s", PQgetvalue(res, 0, 0), jerr.text);
      rc = ACS_EINVAL;
      goto cleanup;
    }
    *gen = atoll(PQgetvalue(res, 0, 0));
  }
cleanup:
  if (res) PQclear(res);
  PQfinish(pg);
  return rc;
}
