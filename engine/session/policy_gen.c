/* policy_gen.c: policy generations in the store (acs_policy.h).
 *
 * PostgreSQL holds the policy tree as numbered generations (schema version
 * 4), each the whole tree, validated by compiling it before it is stored; a
 * tree that does not compile is stored as refused, with its error. Every
 * worker polls the current generation's number once a second (one
 * indexed read; works through PgBouncer, where LISTEN does not), fetches and
 * compiles a newer one, and swaps it in; sessions keep the generation they
 * started with. Trees come in by `acsd policies push DIR`, at start
 * (--policies DIR, under the rule of policy_start.c), by POST
 * /api/v1/policies (acsctl policies push) and by the development watcher
 * (worker 0 looks at the directory's files once a second and pushes them
 * once they have been still for a second): all through
 * acs_policy_push_prepare and acs_policy_push_sql, so one tree makes one
 * checksum and every stored generation has its policy.push audit row.
 *
 * Reload (schema version 9): POST /api/v1/policies/reload bumps the serial
 * of the one row of policy_reload, which every poll reads with the newest
 * generation's number, and wakes this instance's pollers at once
 * (acs_policy_wake: a uv_async per poller); on other instances worker 0,
 * which polls every LEAD_POLL_MS, sees the serial (or a new generation) and
 * wakes its siblings the same way. */
#include <dirent.h>
#include <libpq-fe.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "app/acs_app.h"
#include "core/acs_buf.h"
#include "core/acs_config.h"
#include "core/acs_err.h"
#include "core/acs_log.h"
#include "session/acs_dryrun.h"
#include "session/acs_policy.h"
#include "store/acs_store.h"

/* Every worker looks at the store once a second; worker 0 of each instance
 * looks five times a second and wakes the others when it sees a change, so
 * an instance converges within about LEAD_POLL_MS of a push or a reload
 * made on another (one indexed read and one primary-key read each time). */
#define POLL_MS 1000
#define LEAD_POLL_MS 200

/* "provisions/x:3: message" -> {"file", "line", "message"} */
static json_t *error_json(const char *err) {
  const char *c1 = strchr(err, ':');
  const char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
  if (c1 && c2 && c2 > c1 + 1 && strspn(c1 + 1, "0123456789") == (size_t)(c2 - c1 - 1)) {
    return json_pack("{s:s%,s:i,s:s}", "file", err, (size_t)(c1 - err), "line", atoi(c1 + 1),
                     "message", c2[1] == ' ' ? c2 + 2 : c2 + 1);
  }
  return json_pack("{s:n,s:n,s:s}", "file", "line", "message", err);
}

/* --- a push, shared by the command line, start-up and the API */

/* The findings as text, "provisions/NAME.lua:LINE: message", the way the
 * API shows files. */
static json_t *findings_text(const json_t *findings) {
  json_t *out = json_array();
  size_t i;
  json_t *f;
  json_array_foreach(findings, i, f) {
    char line[700];
    snprintf(line, sizeof line, "%s.lua:%lld: %s", json_string_value(json_object_get(f, "file")),
             (long long)json_integer_value(json_object_get(f, "line")),
             json_string_value(json_object_get(f, "message")));
    if (!out || json_array_append_new(out, json_string(line))) {
      json_decref(out);
      return NULL;
    }
  }
  return out;
}

int acs_policy_push_prepare(const json_t *files, const char *who, const char *source, bool force,
                            long long token_id, acs_policy_push_stmt *st) {
  memset(st, 0, sizeof *st);
  acs_policy_checksum(files, st->checksum);
  acs_policy_vm *scratch = acs_policy_vm_new(NULL, st->error, sizeof st->error);
  json_t *findings = json_array(), *texts = NULL, *ej = NULL;
  int rc = ACS_ENOMEM;
  if (!scratch || !findings) goto cleanup;
  st->error[0] = '\0';
  int vrc = acs_policy_vm_load_json(scratch, files, st->error, sizeof st->error);
  /* compiled: the static checks, against the sandbox the tree will run in */
  if (vrc == 0) vrc = acs_policy_lint_tree(scratch, files, findings, st->error, sizeof st->error);
  if (vrc == ACS_ENOMEM) goto cleanup;
  st->findings = json_array_size(findings);
  if (st->findings && !(texts = findings_text(findings))) goto cleanup;
  st->valid = vrc == 0 && (st->findings == 0 || force);
  if (vrc == 0 && !st->valid) { /* the first finding is the error, all of them with it */
    json_t *f0 = json_array_get(findings, 0);
    snprintf(st->error, sizeof st->error, "%s:%lld: %s",
             json_string_value(json_object_get(f0, "file")),
             (long long)json_integer_value(json_object_get(f0, "line")),
             json_string_value(json_object_get(f0, "message")));
  }
  if (st->valid) st->error[0] = '\0';
  st->files_text = json_dumps(files, JSON_COMPACT);
  ej = st->valid ? NULL : error_json(st->error);
  if (ej && texts && json_object_set(ej, "findings", texts)) goto cleanup;
  st->error_text = ej ? json_dumps(ej, JSON_COMPACT) : NULL;
  /* the audit row names what a forced push let through */
  st->findings_text = st->valid && texts ? json_dumps(texts, JSON_COMPACT) : NULL;
  if (!st->files_text || (!st->valid && !st->error_text) ||
      (st->valid && texts && !st->findings_text))
    goto cleanup;
  if (token_id > 0) snprintf(st->token_id, sizeof st->token_id, "%lld", token_id);
  st->params[0] = who;
  st->params[1] = source;
  st->params[2] = st->checksum;
  st->params[3] = st->files_text;
  st->params[4] = st->valid ? "t" : "f";
  st->params[5] = st->error_text;
  st->params[6] = force ? "t" : "f";
  st->params[7] = token_id > 0 ? st->token_id : NULL;
  st->params[8] = st->findings_text;
  st->params[9] = "t"; /* a valid new generation becomes the current one */
  st->params[10] = force ? "{\"skipped\": \"force\"}" : NULL; /* force skips the dry run */
  rc = 0;
cleanup:
  if (scratch) acs_policy_vm_free(scratch);
  json_decref(findings);
  json_decref(texts);
  json_decref(ej);
  return rc;
}

void acs_policy_push_stmt_free(acs_policy_push_stmt *st) {
  free(st->files_text);
  free(st->error_text);
  free(st->findings_text);
  free(st->dry_text);
  st->files_text = st->error_text = st->findings_text = st->dry_text = NULL;
}

/* The one row of policy_reload serializes pushes: a row lock, since LOCK
 * TABLE is refused in the implicit transaction of a pipeline's sync group;
 * the push, a later statement, then sees what an earlier push committed. */
const char acs_policy_push_lock_sql[] = "SELECT serial FROM policy_reload FOR UPDATE";

const char acs_policy_push_sql[] =
    "WITH cur AS (SELECT * FROM policy_generations WHERE id = " ACS_POLICY_CURRENT_ID "), "
    "ins AS (INSERT INTO policy_generations (created_by, source, checksum, files, valid, error) "
    "SELECT $1, $2, $3, $4::jsonb, $5::boolean, $6::jsonb WHERE $7::boolean OR NOT $5::boolean "
    "OR $3 IS DISTINCT FROM (SELECT checksum FROM cur) RETURNING *), "
    "a AS (INSERT INTO audit_log (actor, action, target, detail) SELECT $1, 'policy.push', "
    "ins.id::text, jsonb_build_object('source', ins.source, 'checksum', ins.checksum, 'valid', "
    "ins.valid, 'files', (SELECT count(*) FROM jsonb_object_keys(ins.files)), 'token_id', "
    "$8::bigint, 'force', $7::boolean, 'findings', $9::jsonb, 'dry_run', $11::jsonb) FROM ins), "
    "act AS (UPDATE policy_reload SET active = ins.id, active_at = now(), active_by = $1 "
    "FROM ins WHERE ins.valid AND $10::boolean) "
    "SELECT true, " ACS_POLICY_GEN_COLS " FROM ins UNION ALL SELECT false, " ACS_POLICY_GEN_COLS
    " FROM cur WHERE NOT EXISTS (SELECT 1 FROM ins)";

/* --- pushing a directory (blocking: the command line and start-up) */

static PGresult *exec_ok(PGconn *pg, const char *sql, int n, const char *const *params, char *err,
                         size_t errlen) {
  PGresult *res = PQexecParams(pg, sql, n, NULL, params, NULL, NULL, 0);
  ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
  if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) return res;
  snprintf(err, errlen, "%s", res ? PQresultErrorMessage(res) : PQerrorMessage(pg));
  PQclear(res);
  return NULL;
}

int acs_policy_push(const char *dsn, const char *dir, const char *who, bool force, long long *gen,
                    bool *created, char *err, size_t errlen) {
  return acs_policy_push_dry(dsn, dir, who, force, 0, 0, gen, created, NULL, err, errlen);
}

int acs_policy_push_dry(const char *dsn, const char *dir, const char *who, bool force,
                        unsigned dry_devices, uint32_t dry_ms, long long *gen, bool *created,
                        json_t **dry, char *err, size_t errlen) {
  json_t *files = NULL;
  PGconn *pg = NULL;
  PGresult *res = NULL;
  acs_policy_push_stmt st;
  int rc;
  *gen = 0;
  *created = false;
  memset(&st, 0, sizeof st);
  char source[4096];
  acs_policy_dir_source(dir, source, sizeof source);
  if ((rc = acs_policy_read_tree(dir, &files, err, errlen))) goto cleanup;
  if ((rc = acs_policy_push_prepare(files, who, source, force, 0, &st))) goto cleanup;
  if ((rc = acs_store_migrate(dsn, err, errlen))) goto cleanup;
  pg = PQconnectdb(dsn);
  if (PQstatus(pg) != CONNECTION_OK) {
    snprintf(err, errlen, "cannot connect: %s", PQerrorMessage(pg));
    rc = ACS_EUNAVAILABLE;
    goto cleanup;
  }
  /* the dry run, before the push's transaction: its reads take no lock */
  if (st.valid && !force && dry_devices > 0 &&
      (rc = acs_dryrun_push_blocking(pg, files, dry_devices, dry_ms, &st, dry, err, errlen)))
    goto cleanup;
  rc = ACS_EPG;
  if (!(res = exec_ok(pg, "BEGIN", 0, NULL, err, errlen))) goto cleanup;
  PQclear(res);
  if (!(res = exec_ok(pg, acs_policy_push_lock_sql, 0, NULL, err, errlen))) goto cleanup;
  PQclear(res);
  if (!(res = exec_ok(pg, acs_policy_push_sql, ACS_POLICY_PUSH_NPARAMS, st.params, err, errlen)))
    goto cleanup;
  if (PQntuples(res) != 1) {
    snprintf(err, errlen, "the push stored nothing");
    goto cleanup;
  }
  *gen = atoll(PQgetvalue(res, 0, 1));
  bool made = PQgetvalue(res, 0, 0)[0] == 't';
  PQclear(res);
  if (!(res = exec_ok(pg, "COMMIT", 0, NULL, err, errlen))) goto cleanup;
  *created = made;
  rc = 0;
  if (!st.valid) {
    snprintf(err, errlen, "%s", st.error);
    rc = ACS_EINVAL;
  }
cleanup:
  if (res) PQclear(res);
  if (pg) PQfinish(pg);
  acs_policy_push_stmt_free(&st);
  json_decref(files);
  return rc;
}

/* --- `acsd policies push DIR | list` */

static const char usage[] =
    "usage: acsd policies push DIR [--force] [OPTIONS]\n"
    "       acsd policies list [OPTIONS]\n"
    "\n"
    "push compiles the policy tree DIR (provisions/, presets/, alarms/, jobs/ and\n"
    "virtual/, *.lua in each) and stores it as a new generation; running instances\n"
    "pick it up within 2 seconds. A tree that does not compile is stored as refused,\n"
    "with its error, and the current generation keeps serving; so is a tree whose\n"
    "static checks find something (unknown globals, API misuse: docs/policies.md).\n"
    "An unchanged tree makes no new generation. --force makes one anyway, and\n"
    "stores a tree whose only faults are findings as valid (audited as forced).\n"
    "A tree that compiles first runs over a sample of stored devices (the dry run:\n"
    "policy-dry-run-devices, 20); a policy error on any refuses it, with file, line,\n"
    "device and message. --force skips the dry run too.\n"
    "OPTIONS are acsd's own:\n"
    "--pg DSN, --config FILE, or ACS_PG_DSN.\n";

int acs_policy_cli_main(int argc, char **argv) {
  if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
    fputs(usage, argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  const char *cmd = argv[1], *dir = NULL;
  bool force = false;
  int first = 2;
  if (!strcmp(cmd, "push")) {
    if (argc < 3 || argv[2][0] == '-') {
      fprintf(stderr, "acsd policies push: which directory?\n%s", usage);
      return 2;
    }
    dir = argv[2];
    first = 3;
  } else if (strcmp(cmd, "list") != 0) {
    fprintf(stderr, "acsd policies: unknown command '%s'\n%s", cmd, usage);
    return 2;
  }
  /* the rest are acsd's own options (--pg, --config), --force aside */
  char **rest = calloc((size_t)argc + 1, sizeof *rest);
  int nrest = 0;
  if (!rest) return 1;
  rest[nrest++] = "acsd";
  for (int i = first; i < argc; i++) {
    if (!strcmp(argv[i], "--force")) {
      force = true;
    } else {
      rest[nrest++] = argv[i];
    }
  }
  acs_config cfg;
  char err[1024] = "";
  acs_config_init(&cfg);
  int rc = acs_config_load(nrest, rest, &cfg, err, sizeof err);
  free(rest);
  if (rc) {
    fprintf(stderr, "acsd policies: %s\n", err);
    acs_config_free(&cfg);
    return 2;
  }
  if (!cfg.pg_dsn) {
    fprintf(stderr, "acsd policies: no store: give --pg DSN or set ACS_PG_DSN\n");
    acs_config_free(&cfg);
    return 2;
  }
  acs_log_set_level(ACS_LOG_WARN);
  int status = 0;
  if (dir) {
    char who[160];
    struct passwd *pw = getpwuid(getuid());
    snprintf(who, sizeof who, "cli:%s", pw ? pw->pw_name : "?");
    long long gen = 0;
    bool created = false;
    json_t *dry = NULL;
    rc = acs_policy_push_dry(cfg.pg_dsn, dir, who, force, cfg.policy_dry_run_devices,
                             cfg.policy_dry_run_ms, &gen, &created, &dry, err, sizeof err);
    json_t *dry_errors = json_object_get(dry, "errors");
    if (rc == ACS_EINVAL && created && json_array_size(dry_errors)) {
      fprintf(stderr,
              "acsd policies: refused by the dry run (stored as generation %lld, not valid): "
              "%zu error(s) over %lld stored device(s):\n",
              gen, json_array_size(dry_errors),
              (long long)json_integer_value(json_object_get(dry, "checked")));
      acs_dryrun_print(dry_errors, 20, stderr);
      fprintf(stderr, "  (--force stores it anyway, without the dry run)\n");
      status = 1;
    } else if (rc == 0) {
      printf("generation %lld%s\n", gen,
             created ? "" : " (unchanged: the newest already is this tree)");
    } else if (rc == ACS_EINVAL && created) {
      fprintf(stderr, "acsd policies: refused (stored as generation %lld, not valid): %s\n", gen,
              err);
      status = 1;
    } else {
      fprintf(stderr, "acsd policies: %s\n", err);
      status = 1;
    }
    if (json_is_string(json_object_get(dry, "stopped")))
      fprintf(stderr, "acsd policies: dry run: %s after %lld of %lld device(s)\n",
              json_string_value(json_object_get(dry, "stopped")),
              (long long)json_integer_value(json_object_get(dry, "checked")),
              (long long)json_integer_value(json_object_get(dry, "devices")));
    json_decref(dry);
  } else {
    PGconn *pg = PQconnectdb(cfg.pg_dsn);
    PGresult *res = NULL;
    if (PQstatus(pg) == CONNECTION_OK)
      res = PQexec(
          pg,
          "SELECT id, to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), "
          "created_by, valid, (SELECT count(*) FROM jsonb_object_keys(files)), "
          "coalesce(error->>'file', '') || coalesce(':' || (error->>'line'), '') || "
          "coalesce(' ' || (error->>'message'), '') FROM policy_generations ORDER BY id");
    if (!res || PQresultStatus(res) != PGRES_TUPLES_OK) {
      fprintf(stderr, "acsd policies: %s\n", res ? PQresultErrorMessage(res) : PQerrorMessage(pg));
      status = 1;
    } else {
      printf("%-6s %-20s %-20s %-7s %5s  %s\n", "ID", "CREATED", "BY", "VALID", "FILES", "ERROR");
      for (int i = 0; i < PQntuples(res); i++)
        printf("%-6s %-20s %-20s %-7s %5s  %s\n", PQgetvalue(res, i, 0), PQgetvalue(res, i, 1),
               PQgetvalue(res, i, 2), PQgetvalue(res, i, 3)[0] == 't' ? "yes" : "no",
               PQgetvalue(res, i, 4), PQgetvalue(res, i, 5));
    }
    if (res) PQclear(res);
    PQfinish(pg);
  }
  acs_config_free(&cfg);
  return status;
}

/* --- the per-worker poller and the development watcher */

struct acs_policy_poller {
  acs_app_worker *aw;
  uv_timer_t timer;
  uv_async_t wake;         /* acs_policy_wake: look now */
  acs_policy_poller *next; /* the registry */
  bool busy;               /* a query in flight */
  bool again;              /* woken while busy: look again once it is answered */
  bool stopping;
  bool lead;                /* worker 0's: polls every LEAD_POLL_MS */
  unsigned ticks;           /* of the timer */
  int64_t seen;             /* newest generation tried (loaded or refused here) */
  int64_t reload_serial;    /* policy_reload.serial last read (-1: not yet) */
  _Atomic long long served; /* the generation loaded, for acs_policy_served */
  /* the watcher (worker 0 with --policies) */
  const char *dir;
  char sig[65], pending_sig[65];
  char sum[65]; /* checksum of the tree last pushed from dir, or found there at start */
  bool importing;
  int open_handles; /* the timer and the async, until closed */
  /* the canary roll-out running (policy_rollouts), as the last poll saw it */
  int64_t canary_gen;    /* 0: none */
  double canary_share;   /* percent of the fleet */
  int64_t canary_tried;  /* the canary generation last fetched (loaded or refused here) */
  int64_t canary_loaded; /* the one aw->canary_policies holds */
  bool checking;         /* the lead's fault-rate check in flight */
  /* a roll-out targeted by a device query: its members, fetched batch by
   * batch (policy_rollout_members); the lead also keeps the query's SQL
   * for the catch-up of devices first seen later */
  int64_t canary_id;        /* the running roll-out (0: none) */
  bool canary_query;        /* it has a query: only its members run the canary */
  int64_t canary_batch;     /* its last batch of members */
  json_t *members;          /* device id -> true, of roll-out members_id */
  int64_t members_id;       /* the roll-out the members are of (0: none) */
  int64_t members_batch;    /* batches fetched: 1..members_batch */
  int64_t members_upto;     /* the batch the fetch in flight reads up to */
  int64_t members_fetching; /* the roll-out the fetch in flight is of */
  char *q_sql;              /* the lead's: the query over "devices d", values $1.. */
  json_t *q_params;         /* its values, an array of strings */
  int64_t q_id, q_serial;   /* the roll-out and query serial they are of */
  bool catching;            /* the lead's catch-up in flight */
};

/* Every running poller of the process, for acs_policy_wake and
 * acs_policy_served from other threads: a poller is in it from its start
 * until its stop (before its handles close), so a handle reached through it
 * is never closed under the lock. */
static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static acs_policy_poller *registry;

void acs_policy_wake(const acs_app *app) {
  pthread_mutex_lock(&registry_lock);
  for (acs_policy_poller *p = registry; p; p = p->next)
    if (p->aw->app == app) uv_async_send(&p->wake);
  pthread_mutex_unlock(&registry_lock);
}

size_t acs_policy_served(const acs_app *app, long long *gen, size_t n) {
  size_t filled = 0;
  for (size_t i = 0; i < n; i++) gen[i] = -1;
  pthread_mutex_lock(&registry_lock);
  for (acs_policy_poller *p = registry; p; p = p->next) {
    size_t w = acs_worker_index(p->aw->w);
    if (p->aw->app != app || w >= n) continue;
    gen[w] = atomic_load(&p->served);
    if (w + 1 > filled) filled = w + 1;
  }
  pthread_mutex_unlock(&registry_lock);
  return filled;
}

/* Freed once its handles are closed and no query of its own is in flight. */
static bool poller_gone(acs_policy_poller *p) {
  if (!p->stopping) return false;
  if (p->open_handles == 0 && !p->busy && !p->importing && !p->checking && !p->catching) {
    json_decref(p->members);
    json_decref(p->q_params);
    free(p->q_sql);
    free(p);
  }
  return true;
}

static void poller_closed_cb(uv_handle_t *h) {
  acs_policy_poller *p = h->data;
  p->open_handles--;
  poller_gone(p);
}

static void poll_store(acs_policy_poller *p);
static void fetch_members(acs_policy_poller *p);

/* A query of the poller's came back: a wake-up that came meanwhile may have
 * been for a change that query could not see yet. */
static void settle(acs_policy_poller *p) {
  if (p->busy || !p->again) return;
  p->again = false;
  poll_store(p);
}

static void files_cb(acs_pg_result *r, void *arg) {
  acs_policy_poller *p = arg;
  p->busy = false;
  if (poller_gone(p)) return;
  if (r->status || r->ntuples != 1) {
    settle(p);
    return;
  }
  acs_policy_vm *pv = p->aw->policies;
  int64_t gen = strtoll(acs_pg_getvalue(r, 0, 0), NULL, 10);
  json_error_t jerr;
  json_t *files = json_loads(acs_pg_getvalue(r, 0, 1), 0, &jerr);
  char err[512] = "";
  int rc = files ? acs_policy_vm_load_json(pv, files, err, sizeof err) : ACS_EINVAL;
  json_decref(files);
  p->seen = gen;
  if (rc) {
    acs_log(ACS_LOG_ERR, "policy",
            "worker %u: generation %lld not loaded, the current one stays: %s",
            acs_worker_index(p->aw->w), (long long)gen, files ? err : jerr.text);
    acs_metrics_policy_failed(p->aw->app->metrics, p->aw->metrics, gen, files ? err : jerr.text);
    settle(p);
    return;
  }
  pv->generation = gen;
  atomic_store(&p->served, gen);
  acs_log(acs_worker_index(p->aw->w) == 0 ? ACS_LOG_INFO : ACS_LOG_DEBUG, "policy",
          "worker %u: policy generation %lld loaded (%zu files)", acs_worker_index(p->aw->w),
          (long long)gen, pv->chunks);
  settle(p);
}

/* The canary generation, compiled into the worker's second VM (created at
 * the first roll-out): sessions of the canary devices run it
 * (acs_policy_pick) once it is loaded; until then, or if it does not load
 * here, every device runs the current generation. */
static void canary_files_cb(acs_pg_result *r, void *arg) {
  acs_policy_poller *p = arg;
  p->busy = false;
  if (poller_gone(p)) return;
  if (r->status || r->ntuples != 1) {
    settle(p);
    return;
  }
  acs_app_worker *aw = p->aw;
  int64_t gen = strtoll(acs_pg_getvalue(r, 0, 0), NULL, 10);
  char err[512] = "";
  p->canary_tried = gen;
  if (!aw->canary_policies) {
    aw->canary_policies = acs_policy_vm_new(NULL, err, sizeof err);
    if (aw->canary_policies) aw->canary_policies->error = true; /* until loaded */
  }
  json_error_t jerr;
  json_t *files = json_loads(acs_pg_getvalue(r, 0, 1), 0, &jerr);
  int rc = ACS_EINVAL;
  if (!aw->canary_policies)
    rc = ACS_ENOMEM;
  else if (files)
    rc = acs_policy_vm_load_json(aw->canary_policies, files, err, sizeof err);
  json_decref(files);
  if (rc) {
    acs_log(ACS_LOG_ERR, "policy",
            "worker %u: canary generation %lld not loaded, every device runs the current one: %s",
            acs_worker_index(aw->w), (long long)gen, files ? err : jerr.text);
  } else {
    aw->canary_policies->error = false;
    aw->canary_policies->generation = gen;
    p->canary_loaded = gen;
    acs_log(acs_worker_index(aw->w) == 0 ? ACS_LOG_INFO : ACS_LOG_DEBUG, "policy",
            "worker %u: canary generation %lld loaded", acs_worker_index(aw->w), (long long)gen);
  }
  fetch_members(p);
  settle(p);
}

static void fetch_canary(acs_policy_poller *p, int64_t gen) {
  if (p->busy) return;
  char id[24];
  snprintf(id, sizeof id, "%lld", (long long)gen);
  const char *params[1] = {id};
  if (acs_pg_query(p->aw->pg, "SELECT id, files::text FROM policy_generations WHERE id = $1 "
                   "AND valid", 1, params, ACS_PG_FAILFAST, canary_files_cb, p) == 0)
    p->busy = true;
}

/* --- a roll-out's members, when it is targeted by a device query: each
 * worker holds the member ids in memory (a jansson object used as a set),
 * fetched batch by batch as the roll-out's batch moves, so that a session
 * learns whether its device is a member without asking the store. */

static bool members_needed(const acs_policy_poller *p) {
  return p->canary_query && p->canary_id > 0 &&
         (p->members_id != p->canary_id || p->members_batch < p->canary_batch);
}

static void members_cb(acs_pg_result *r, void *arg) {
  acs_policy_poller *p = arg;
  p->busy = false;
  if (poller_gone(p)) return;
  if (r->status) {
    settle(p);
    return;
  }
  int64_t id = p->members_fetching;
  if (p->members_id != id || !p->members) { /* another roll-out: start over */
    json_decref(p->members);
    p->members = json_object();
    p->members_id = id;
    p->members_batch = 0;
  }
  bool ok = p->members != NULL;
  for (int i = 0; ok && i < r->ntuples; i++)
    ok = json_object_set_new_nocheck(p->members, acs_pg_getvalue(r, i, 0), json_true()) == 0;
  if (!ok) { /* fetched again at the next poll; until then the members so far */
    acs_log(ACS_LOG_ERR, "policy", "worker %u: out of memory for the canary roll-out's members",
            acs_worker_index(p->aw->w));
    settle(p);
    return;
  }
  p->members_batch = p->members_upto;
  acs_log(acs_worker_index(p->aw->w) == 0 ? ACS_LOG_INFO : ACS_LOG_DEBUG, "policy",
          "worker %u: canary roll-out %lld: %zu member devices (batch %lld)",
          acs_worker_index(p->aw->w), (long long)id, json_object_size(p->members),
          (long long)p->members_batch);
  settle(p);
}

static void fetch_members(acs_policy_poller *p) {
  if (p->busy || !members_needed(p)) return;
  char id[24], after[24], upto[24];
  snprintf(id, sizeof id, "%lld", (long long)p->canary_id);
  snprintf(after, sizeof after, "%lld",
           (long long)(p->members_id == p->canary_id && p->members ? p->members_batch : 0));
  snprintf(upto, sizeof upto, "%lld", (long long)p->canary_batch);
  const char *params[3] = {id, after, upto};
  if (acs_pg_query(p->aw->pg,
                   "SELECT device_id FROM policy_rollout_members WHERE rollout = $1::bigint AND "
                   "batch > $2::int AND batch <= $3::int",
                   3, params, ACS_PG_FAILFAST, members_cb, p) == 0) {
    p->busy = true;
    p->members_fetching = p->canary_id;
    p->members_upto = p->canary_batch;
  }
}

double acs_policy_canary_point(const char *device_id) {
  unsigned char d[EVP_MAX_MD_SIZE];
  unsigned int dl = 0;
  EVP_MD_CTX *md = EVP_MD_CTX_new();
  if (!md) return 100.0;
  EVP_DigestInit_ex(md, EVP_md5(), NULL);
  EVP_DigestUpdate(md, "rollout:", 8);
  EVP_DigestUpdate(md, device_id, strlen(device_id));
  EVP_DigestFinal_ex(md, d, &dl);
  EVP_MD_CTX_free(md);
  uint32_t v = (uint32_t)d[0] << 24 | (uint32_t)d[1] << 16 | (uint32_t)d[2] << 8 | d[3];
  return (double)v / 4294967296.0 * 100.0;
}

acs_policy_vm *acs_policy_pick(acs_app_worker *aw, const char *device_id) {
  acs_policy_poller *p = aw->poller;
  if (!p || !device_id || p->canary_gen <= 0 || p->canary_loaded != p->canary_gen ||
      !aw->canary_policies || aw->canary_policies->error)
    return aw->policies;
  /* a query: the members fetched so far (a device not fetched yet runs the
   * current generation); and the share, which is 100 without one */
  if (p->canary_query &&
      (p->members_id != p->canary_id || !p->members || !json_object_get(p->members, device_id)))
    return aw->policies;
  return acs_policy_canary_point(device_id) < p->canary_share ? aw->canary_policies : aw->policies;
}

/* --- the canary's fault rate (worker 0 of each instance; the row's
 * checked_at makes one check a second in the whole cluster): the canary
 * devices that informed since the roll-out started, and how many of them
 * have a policy fault since; past max_fault_rate (once min_devices were
 * seen) the roll-out is rolled back, audited as acsd:canary. */
static const char sql_canary_check[] =
    "WITH r AS (SELECT * FROM policy_rollouts WHERE state = 'running' AND (checked_at IS NULL "
    "OR checked_at < now() - interval '900 milliseconds') FOR UPDATE SKIP LOCKED), "
    "c AS (SELECT count(*)::int AS seen, count(*) FILTER (WHERE EXISTS (SELECT 1 FROM faults f "
    "WHERE f.device_id = d.id AND f.last_at >= r.started_at))::int AS faulted "
    "FROM r JOIN devices d ON d.last_inform >= r.started_at AND " ACS_POLICY_CANARY_POINT_SQL(
        "d.id") " < r.share AND (r.query IS NULL OR EXISTS (SELECT 1 FROM policy_rollout_members "
    "m WHERE m.rollout = r.id AND m.device_id = d.id))), "
    "u AS (UPDATE policy_rollouts p SET checked_at = now(), seen = c.seen, faulted = c.faulted, "
    "state = CASE WHEN c.seen >= p.min_devices AND c.faulted > p.max_fault_rate * c.seen THEN "
    "'rolled_back' ELSE 'running' END, ended_at = CASE WHEN c.seen >= p.min_devices AND "
    "c.faulted > p.max_fault_rate * c.seen THEN now() END FROM r, c WHERE p.id = r.id "
    "RETURNING p.*), "
    "m AS (DELETE FROM policy_rollout_members m USING u WHERE u.state = 'rolled_back' AND "
    "m.rollout = u.id), "
    "a AS (INSERT INTO audit_log (actor, action, target, detail) SELECT 'acsd:canary', "
    "'policy.rollout.rollback', u.generation::text, jsonb_build_object('rollout', u.id, "
    "'generation', u.generation, 'share', u.share, 'query', u.query, 'seen', u.seen, "
    "'faulted', u.faulted, "
    "'max_fault_rate', u.max_fault_rate, 'reason', format('policy fault rate %s/%s of the "
    "canary devices passed %s', u.faulted, u.seen, u.max_fault_rate)) FROM u "
    "WHERE u.state = 'rolled_back') "
    "SELECT state, generation, seen, faulted FROM u";

static void check_cb(acs_pg_result *r, void *arg) {
  acs_policy_poller *p = arg;
  p->checking = false;
  if (poller_gone(p)) return;
  if (r->status || r->ntuples != 1) return;
  if (strcmp(acs_pg_getvalue(r, 0, 0), "rolled_back") == 0) {
    acs_log(ACS_LOG_WARN, "policy",
            "canary generation %s rolled back: %s of its %s devices seen have a policy fault",
            acs_pg_getvalue(r, 0, 1), acs_pg_getvalue(r, 0, 3), acs_pg_getvalue(r, 0, 2));
    acs_policy_wake(p->aw->app);
  }
}

static void check_canary(acs_policy_poller *p) {
  if (p->checking || p->stopping) return;
  if (acs_pg_query(p->aw->pg, sql_canary_check, 0, NULL, ACS_PG_FAILFAST, check_cb, p) == 0)
    p->checking = true;
}

/* The running roll-out's query as the poll read it (columns 4-9): its
 * members are this worker's to fetch, its SQL the lead's for the catch-up. */
static void canary_seen(acs_policy_poller *p, const acs_pg_result *r, int64_t rid, int64_t batch) {
  int64_t qserial = strtoll(acs_pg_getvalue(r, 0, 6), NULL, 10);
  bool query = acs_pg_getvalue(r, 0, 7)[0] == 't';
  p->canary_id = rid;
  p->canary_batch = batch;
  p->canary_query = rid > 0 && query;
  if (!p->canary_query && p->members) { /* ended, or without a query: memory back */
    json_decref(p->members);
    p->members = NULL;
    p->members_id = 0;
    p->members_batch = 0;
  }
  if (!p->lead) return;
  if (!p->canary_query) {
    free(p->q_sql);
    json_decref(p->q_params);
    p->q_sql = NULL;
    p->q_params = NULL;
    p->q_id = p->q_serial = 0;
  } else if (rid != p->q_id || qserial != p->q_serial || !p->q_sql) {
    free(p->q_sql);
    json_decref(p->q_params);
    p->q_sql = acs_pg_isnull(r, 0, 8) ? NULL : strdup(acs_pg_getvalue(r, 0, 8));
    p->q_params = acs_pg_isnull(r, 0, 9) ? NULL : json_loads(acs_pg_getvalue(r, 0, 9), 0, NULL);
    if (p->q_sql && json_is_array(p->q_params)) {
      p->q_id = rid;
      p->q_serial = qserial;
    } else { /* read again at the next poll */
      free(p->q_sql);
      json_decref(p->q_params);
      p->q_sql = NULL;
      p->q_params = NULL;
      p->q_id = p->q_serial = 0;
    }
  }
}

/* --- the catch-up of a roll-out's members (the lead of each instance,
 * once a second for the whole cluster: caught_at): the devices created
 * since the last catch-up, or since the roll-out's last step (a minute
 * before, for Informs whose transaction began before it and committed
 * after), that the query matches join the roll-out in a new batch. So a
 * device first seen after the roll-out started is decided once, within a
 * second of its first contact, and runs the canary from its next session. */
static const char sql_catch_up_head[] =
    "WITH r AS (SELECT * FROM policy_rollouts WHERE id = $%zu::bigint AND state = 'running' AND "
    "query_serial = $%zu::int AND (caught_at IS NULL OR caught_at < now() - interval '900 "
    "milliseconds') FOR UPDATE SKIP LOCKED), "
    "ins AS (INSERT INTO policy_rollout_members (rollout, device_id, batch) SELECT r.id, d.id, "
    "r.batch + 1 FROM r JOIN devices d ON d.created_at >= greatest(r.caught_at, r.stepped_at) - "
    "interval '1 minute' AND (";
static const char sql_catch_up_tail[] =
    ") ON CONFLICT DO NOTHING RETURNING 1), "
    "n AS (SELECT count(*)::int AS n FROM ins), "
    "u AS (UPDATE policy_rollouts p SET caught_at = now(), batch = p.batch + CASE WHEN n.n > 0 "
    "THEN 1 ELSE 0 END, members = p.members + n.n FROM r, n WHERE p.id = r.id RETURNING p.id, "
    "p.batch, n.n) "
    "SELECT id, batch, n FROM u";

static void catch_up_cb(acs_pg_result *r, void *arg) {
  acs_policy_poller *p = arg;
  if (p->stopping || r->status || r->ntuples != 1) return;
  if (atoi(acs_pg_getvalue(r, 0, 2)) > 0) {
    acs_log(ACS_LOG_INFO, "policy", "canary roll-out %s: %s devices first seen since joined it",
            acs_pg_getvalue(r, 0, 0), acs_pg_getvalue(r, 0, 2));
    acs_policy_wake(p->aw->app); /* this instance's workers fetch them now */
  }
}

static void catch_up_sync_cb(acs_pg_result *r, void *arg) {
  acs_policy_poller *p = arg;
  p->catching = false;
  if (poller_gone(p)) return;
  if (r->status)
    acs_log(ACS_LOG_WARN, "policy", "the canary roll-out's catch-up failed: %s", r->error);
}

static void catch_up(acs_policy_poller *p) {
  if (p->catching || p->stopping || !p->q_sql || !p->q_params) return;
  size_t k = json_array_size(p->q_params);
  acs_buf b;
  acs_buf_init(&b);
  acs_buf_printf(&b, sql_catch_up_head, k + 1, k + 2);
  acs_buf_puts(&b, p->q_sql);
  acs_buf_puts(&b, sql_catch_up_tail);
  const char **params = calloc(k + 2, sizeof *params);
  char id[24], serial[24];
  snprintf(id, sizeof id, "%lld", (long long)p->q_id);
  snprintf(serial, sizeof serial, "%lld", (long long)p->q_serial);
  acs_pg *pg = p->aw->pg;
  if (params && !acs_buf_err(&b)) {
    for (size_t i = 0; i < k; i++) params[i] = json_string_value(json_array_get(p->q_params, i));
    params[k] = id;
    params[k + 1] = serial;
    /* the query may hold a regular expression or a substring: bounded as
     * the API bounds them (ACS__Q_COSTLY_TIMEOUT_MS) */
    static const char *const timeout[1] = {"5000"};
    if (acs_pg_begin_batch(pg, ACS_PG_FAILFAST) == 0) {
      if (acs_pg_query(pg, "SELECT set_config('statement_timeout', $1, true)", 1, timeout, 0, NULL,
                       NULL) ||
          acs_pg_query(pg, b.data, (int)(k + 2), params, 0, catch_up_cb, p) ||
          acs_pg_sync(pg, catch_up_sync_cb, p)) {
        acs_pg_abort_batch(pg);
      } else {
        p->catching = true;
      }
    }
  }
  free(params);
  acs_buf_free(&b);
}

static void newest_cb(acs_pg_result *r, void *arg) {
  acs_policy_poller *p = arg;
  p->busy = false;
  if (poller_gone(p)) return;
  if (r->status || r->ntuples != 1) {
    settle(p);
    return;
  }
  int64_t gen = strtoll(acs_pg_getvalue(r, 0, 0), NULL, 10);
  int64_t serial = strtoll(acs_pg_getvalue(r, 0, 1), NULL, 10);
  /* a reload since the last look: the current generation is loaded
   * again unless it is the one served (one refused here is tried again) */
  bool reload = p->reload_serial >= 0 && serial != p->reload_serial;
  if (reload) {
    acs_log(ACS_LOG_DEBUG, "policy", "worker %u: reload %lld", acs_worker_index(p->aw->w),
            (long long)serial);
    p->seen = p->aw->policies->generation;
  }
  p->reload_serial = serial;
  int64_t cgen = strtoll(acs_pg_getvalue(r, 0, 2), NULL, 10);
  double share = strtod(acs_pg_getvalue(r, 0, 3), NULL);
  if (cgen != p->canary_gen && acs_worker_index(p->aw->w) == 0)
    acs_log(ACS_LOG_INFO, "policy", "canary roll-out: %s",
            cgen ? "generation running" : "none running");
  int64_t rid = strtoll(acs_pg_getvalue(r, 0, 4), NULL, 10);
  int64_t batch = strtoll(acs_pg_getvalue(r, 0, 5), NULL, 10);
  if (cgen != p->canary_gen || share != p->canary_share || rid != p->canary_id ||
      batch != p->canary_batch) {
    if (p->lead) acs_policy_wake(p->aw->app);
    p->canary_gen = cgen;
    p->canary_share = share;
  }
  canary_seen(p, r, rid, batch);
  /* the store's current generation, newer or older (activate, rollback) */
  if (p->lead && (reload || (gen > 0 && gen != p->seen))) acs_policy_wake(p->aw->app);
  if (gen <= 0 || gen == p->seen) {
    if (cgen > 0 && cgen != p->canary_tried) fetch_canary(p, cgen);
    fetch_members(p); /* unless busy with the canary's files: after them */
    settle(p);
    return;
  }
  char id[24];
  snprintf(id, sizeof id, "%lld", (long long)gen);
  const char *params[1] = {id};
  if (acs_pg_query(p->aw->pg, "SELECT id, files::text FROM policy_generations WHERE id = $1", 1,
                   params, ACS_PG_FAILFAST, files_cb, p) == 0)
    p->busy = true;
  settle(p);
}

/* The current generation's number (ACS_POLICY_CURRENT_ID) and the reload
 * serial: primary-key reads of policy_reload's one row. */
static void poll_store(acs_policy_poller *p) {
  if (p->busy || p->stopping) return;
  if (acs_pg_query(p->aw->pg,
                   "SELECT coalesce(" ACS_POLICY_CURRENT_ID ", 0), "
                   "coalesce((SELECT serial FROM policy_reload), 0), coalesce(r.generation, 0), "
                   "coalesce(r.share, 0), coalesce(r.id, 0), coalesce(r.batch, 0), "
                   "coalesce(r.query_serial, 0), r.query IS NOT NULL, r.query_sql, "
                   "r.query_params::text FROM (SELECT 1) one LEFT JOIN policy_rollouts r "
                   "ON r.state = 'running'",
                   0, NULL, ACS_PG_FAILFAST, newest_cb, p) == 0)
    p->busy = true;
}

static void wake_cb(uv_async_t *a) {
  acs_policy_poller *p = a->data;
  if (p->stopping) return;
  if (p->busy) {
    p->again = true;
  } else {
    poll_store(p);
  }
}

/* The directory's signature: names, sizes and modification times. */
static void dir_sig(const char *dir, char out[65]) {
  EVP_MD_CTX *md = EVP_MD_CTX_new();
  unsigned char d[EVP_MAX_MD_SIZE];
  unsigned int dl = 0;
  EVP_DigestInit_ex(md, EVP_sha256(), NULL);
  static const char *const subs[] = {"provisions", "presets", "alarms", "jobs", "virtual"};
  for (int s = 0; s < 5; s++) {
    char path[4096];
    snprintf(path, sizeof path, "%.3000s/%s", dir, subs[s]);
    struct dirent **list = NULL;
    int n = scandir(path, &list, NULL, alphasort);
    for (int i = 0; i < n; i++) {
      char file[8192];
      struct stat st;
      snprintf(file, sizeof file, "%.4000s/%.4000s", path, list[i]->d_name);
      if (stat(file, &st) == 0 && S_ISREG(st.st_mode)) {
        char line[600];
        int len = snprintf(line, sizeof line, "%s/%s %lld %lld.%09ld\n", subs[s], list[i]->d_name,
                           (long long)st.st_size, (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
        EVP_DigestUpdate(md, line, (size_t)len);
      }
      free(list[i]);
    }
    free(list);
  }
  EVP_DigestFinal_ex(md, d, &dl);
  EVP_MD_CTX_free(md);
  for (unsigned i = 0; i < 32; i++) snprintf(out + 2 * i, 3, "%02x", d[i]);
}

/* The watcher's push runs as `acsd policies push` does (acs_policy_push_dry:
 * the lint, then the dry run over stored devices, then the push's
 * transaction), on libuv's thread pool with a blocking connection of its
 * own, so the worker's loop never waits for it. */
typedef struct watch_job {
  uv_work_t w;
  acs_policy_poller *p;
  char *dsn, *dir;
  unsigned dry_devices;
  uint32_t dry_ms;
  long long gen;
  bool created;
  int rc;
  char err[1024];
} watch_job;

static void watch_work_cb(uv_work_t *w) {
  watch_job *j = w->data;
  j->rc = acs_policy_push_dry(j->dsn, j->dir, "watcher", false, j->dry_devices, j->dry_ms,
                              &j->gen, &j->created, NULL, j->err, sizeof j->err);
}

static void watch_after_cb(uv_work_t *w, int status) {
  watch_job *j = w->data;
  acs_policy_poller *p = j->p;
  p->importing = false;
  if (!poller_gone(p)) {
    if (status == 0 && j->rc == 0) {
      acs_log(ACS_LOG_INFO, "policy", "watcher: %s %s generation %lld", p->dir,
              j->created ? "is stored as" : "is already", j->gen);
      acs_policy_wake(p->aw->app);
    } else if (status == 0 && j->rc == ACS_EINVAL && j->gen > 0) {
      acs_log(ACS_LOG_ERR, "policy",
              "watcher: the changed tree is refused (stored as generation %lld, not valid): %s",
              j->gen, j->err);
      acs_policy_wake(p->aw->app);
    } else {
      acs_log(ACS_LOG_WARN, "policy", "the watcher could not store the changed tree: %s",
              status ? uv_strerror(status) : j->err[0] ? j->err : acs_strerror(j->rc));
      p->sum[0] = '\0'; /* try again at the next change */
    }
  }
  free(j->dsn);
  free(j->dir);
  free(j);
}

/* The watcher: a changed directory, still for one tick, is pushed as any
 * push is (a generation and its audit row, nothing when its tree is the
 * current one) unless its content is the one it last pushed or found there
 * (a file written again with the same text, an editor's swap file: the
 * signature changed, the tree did not; and an unchanged tree that a newer
 * push elsewhere replaced stays replaced). */
static void watch(acs_policy_poller *p) {
  char sig[65];
  dir_sig(p->dir, sig);
  if (!strcmp(sig, p->sig)) {
    p->pending_sig[0] = '\0';
    return;
  }
  if (strcmp(sig, p->pending_sig) != 0) { /* changed: wait until it is still */
    memcpy(p->pending_sig, sig, sizeof sig);
    return;
  }
  memcpy(p->sig, sig, sizeof sig);
  p->pending_sig[0] = '\0';
  json_t *files = NULL;
  char err[512] = "";
  if (acs_policy_read_tree(p->dir, &files, err, sizeof err)) {
    acs_log(ACS_LOG_WARN, "policy", "watcher: %s", err);
    return;
  }
  char sum[65];
  acs_policy_checksum(files, sum);
  json_decref(files);
  if (!strcmp(sum, p->sum)) return;
  const acs_config *cfg = p->aw->app->cfg;
  watch_job *j = calloc(1, sizeof *j);
  if (j) {
    j->p = p;
    j->w.data = j;
    j->dsn = strdup(cfg->pg_dsn);
    j->dir = strdup(p->dir);
    j->dry_devices = cfg->policy_dry_run_devices;
    j->dry_ms = cfg->policy_dry_run_ms;
  }
  if (j && j->dsn && j->dir &&
      uv_queue_work(acs_worker_loop(p->aw->w), &j->w, watch_work_cb, watch_after_cb) == 0) {
    p->importing = true;
    memcpy(p->sum, sum, sizeof sum);
    return;
  }
  if (j) {
    free(j->dsn);
    free(j->dir);
    free(j);
  }
  p->sig[0] = '\0'; /* not stored: try again at the next tick */
}

static void tick_cb(uv_timer_t *t) {
  acs_policy_poller *p = t->data;
  if (p->stopping) return;
  /* the watcher's "still for one tick" stays a second */
  bool second = !p->lead || ++p->ticks % (POLL_MS / LEAD_POLL_MS) == 1;
  if (second && p->dir && !p->importing) watch(p);
  if (second && p->lead && p->canary_gen > 0) check_canary(p);
  if (second && p->lead && p->canary_query) catch_up(p);
  poll_store(p);
}

int acs_policy_poller_start(acs_app_worker *aw, const char *watch_dir, acs_policy_poller **out) {
  acs_policy_poller *p = calloc(1, sizeof *p);
  if (!p) return ACS_ENOMEM;
  p->aw = aw;
  p->seen = aw->policies->generation;
  p->reload_serial = -1;
  atomic_store(&p->served, aw->policies->generation);
  p->dir = watch_dir;
  if (watch_dir) {
    json_t *files = NULL;
    char err[512];
    dir_sig(watch_dir, p->sig);
    if (acs_policy_read_tree(watch_dir, &files, err, sizeof err) == 0)
      acs_policy_checksum(files, p->sum);
    json_decref(files);
  }
  int rc = uv_async_init(acs_worker_loop(aw->w), &p->wake, wake_cb);
  if (rc) {
    free(p);
    return rc;
  }
  p->wake.data = p;
  uv_timer_init(acs_worker_loop(aw->w), &p->timer);
  p->timer.data = p;
  p->open_handles = 2;
  p->lead = acs_worker_index(aw->w) == 0;
  uv_timer_start(&p->timer, tick_cb, 10, p->lead ? LEAD_POLL_MS : POLL_MS);
  pthread_mutex_lock(&registry_lock);
  p->next = registry;
  registry = p;
  pthread_mutex_unlock(&registry_lock);
  *out = p;
  return 0;
}

void acs_policy_poller_stop(acs_policy_poller *p) {
  if (!p) return;
  p->stopping = true;
  pthread_mutex_lock(&registry_lock);
  for (acs_policy_poller **pp = &registry; *pp; pp = &(*pp)->next) {
    if (*pp == p) {
      *pp = p->next;
      break;
    }
  }
  pthread_mutex_unlock(&registry_lock);
  /* queries still in flight are cancelled with the store connection, their
   * callbacks see stopping; the memory goes with the handles' close */
  uv_close((uv_handle_t *)&p->wake, poller_closed_cb);
  uv_close((uv_handle_t *)&p->timer, poller_closed_cb);
}
