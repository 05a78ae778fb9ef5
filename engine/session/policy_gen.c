/* policy_gen.c: policy generations in the store (acs_policy.h).
 *
 * PostgreSQL holds the policy tree as numbered generations (schema version
 * 4), each the whole tree, validated by compiling it before it is stored; a
 * tree that does not compile is stored as refused, with its error. Every
 * worker polls the newest valid generation's number once a second (one
 * indexed read; works through PgBouncer, where LISTEN does not), fetches and
 * compiles a newer one, and swaps it in; sessions keep the generation they
 * started with. Directories come in by `acsd policies push DIR`, at start
 * (--policies DIR, when its content differs from the newest generation) and
 * by the development watcher (worker 0 looks at the directory's files once
 * a second and imports them once they have been still for a second). */
#include <dirent.h>
#include <libpq-fe.h>
#include <openssl/evp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "app/acs_app.h"
#include "core/acs_config.h"
#include "core/acs_err.h"
#include "core/acs_log.h"
#include "session/acs_policy.h"
#include "store/acs_store.h"

#define POLL_MS 1000

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

/* --- pushing a directory (blocking: the command line and start-up) */

int acs_policy_push(const char *dsn, const char *dir, const char *who, bool force, long long *gen,
                    bool *created, char *err, size_t errlen) {
  json_t *files = NULL;
  PGconn *pg = NULL;
  PGresult *res = NULL;
  acs_policy_vm *scratch = NULL;
  char *text = NULL, *etext = NULL;
  char sum[65];
  int rc;
  *gen = 0;
  *created = false;
  if ((rc = acs_policy_read_tree(dir, &files, err, errlen))) goto cleanup;
  acs_policy_checksum(files, sum);
  char verr[512] = "";
  if (!(scratch = acs_policy_vm_new(NULL, verr, sizeof verr))) {
    rc = ACS_ENOMEM;
    goto cleanup;
  }
  int vrc = acs_policy_vm_load_json(scratch, files, verr, sizeof verr);
  if ((rc = acs_store_migrate(dsn, err, errlen))) goto cleanup;
  pg = PQconnectdb(dsn);
  if (PQstatus(pg) != CONNECTION_OK) {
    snprintf(err, errlen, "cannot connect: %s", PQerrorMessage(pg));
    rc = ACS_EUNAVAILABLE;
    goto cleanup;
  }
  if (!force && vrc == 0) {
    const char *p[1] = {sum};
    res = PQexecParams(pg,
                       "SELECT id FROM policy_generations WHERE valid ORDER BY id DESC LIMIT 1 "
                       "FOR SHARE",
                       0, NULL, NULL, NULL, NULL, 0);
    PQclear(res);
    res = PQexecParams(pg,
                       "SELECT id FROM (SELECT id, checksum FROM policy_generations WHERE valid "
                       "ORDER BY id DESC LIMIT 1) g WHERE checksum = $1",
                       1, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1) {
      *gen = atoll(PQgetvalue(res, 0, 0)); /* the newest already is this tree */
      rc = 0;
      goto cleanup;
    }
    PQclear(res);
    res = NULL;
  }
  text = json_dumps(files, JSON_COMPACT);
  json_t *ej = vrc ? error_json(verr) : NULL;
  etext = ej ? json_dumps(ej, JSON_COMPACT) : NULL;
  json_decref(ej);
  const char *p[6] = {who, dir, sum, text, vrc ? "f" : "t", etext};
  res = PQexecParams(pg,
                     "INSERT INTO policy_generations (created_by, source, checksum, files, valid, "
                     "error) VALUES ($1, $2, $3, $4::jsonb, $5::boolean, $6::jsonb) RETURNING id",
                     6, NULL, p, NULL, NULL, 0);
  if (PQresultStatus(res) != PGRES_TUPLES_OK) {
    snprintf(err, errlen, "%s", PQresultErrorMessage(res));
    rc = ACS_EPG;
    goto cleanup;
  }
  *gen = atoll(PQgetvalue(res, 0, 0));
  *created = true;
  if (vrc) {
    snprintf(err, errlen, "%s", verr);
    rc = ACS_EINVAL;
  }
cleanup:
  if (res) PQclear(res);
  if (pg) PQfinish(pg);
  free(text);
  free(etext);
  json_decref(files);
  acs_policy_vm_free(scratch);
  return rc;
}

/* --- `acsd policies push DIR | list` */

static const char usage[] =
    "usage: acsd policies push DIR [--force] [OPTIONS]\n"
    "       acsd policies list [OPTIONS]\n"
    "\n"
    "push compiles the policy tree DIR (provisions/*.lua, presets/*.lua) and stores\n"
    "it as a new generation; running instances pick it up within 2 seconds. A tree\n"
    "that does not compile is stored as refused, with its error, and the current\n"
    "generation keeps serving. An unchanged tree makes no new generation (--force\n"
    "makes one anyway). OPTIONS are acsd's own: --pg DSN, --config FILE, or ACS_PG_DSN.\n";

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
    rc = acs_policy_push(cfg.pg_dsn, dir, who, force, &gen, &created, err, sizeof err);
    if (rc == 0) {
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
  bool busy; /* a query in flight */
  bool stopping;
  int64_t seen; /* newest generation tried (loaded or refused here) */
  /* the watcher (worker 0 with --policies) */
  const char *dir;
  char sig[65], pending_sig[65];
  bool importing;
  bool timer_closed;
};

/* Freed once its timer is closed and no query of its own is in flight. */
static bool poller_gone(acs_policy_poller *p) {
  if (!p->stopping) return false;
  if (p->timer_closed && !p->busy && !p->importing) free(p);
  return true;
}

static void poller_closed_cb(uv_handle_t *h) {
  acs_policy_poller *p = h->data;
  p->timer_closed = true;
  poller_gone(p);
}

static void files_cb(acs_pg_result *r, void *arg) {
  acs_policy_poller *p = arg;
  p->busy = false;
  if (poller_gone(p) || r->status || r->ntuples != 1) return;
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
    return;
  }
  pv->generation = gen;
  acs_log(acs_worker_index(p->aw->w) == 0 ? ACS_LOG_INFO : ACS_LOG_DEBUG, "policy",
          "worker %u: policy generation %lld loaded (%zu files)", acs_worker_index(p->aw->w),
          (long long)gen, pv->chunks);
}

static void newest_cb(acs_pg_result *r, void *arg) {
  acs_policy_poller *p = arg;
  p->busy = false;
  if (poller_gone(p) || r->status || r->ntuples != 1) return;
  int64_t gen = strtoll(acs_pg_getvalue(r, 0, 0), NULL, 10);
  if (gen <= p->seen) return;
  char id[24];
  snprintf(id, sizeof id, "%lld", (long long)gen);
  const char *params[1] = {id};
  if (acs_pg_query(p->aw->pg, "SELECT id, files::text FROM policy_generations WHERE id = $1", 1,
                   params, ACS_PG_FAILFAST, files_cb, p) == 0)
    p->busy = true;
}

/* The directory's signature: names, sizes and modification times. */
static void dir_sig(const char *dir, char out[65]) {
  EVP_MD_CTX *md = EVP_MD_CTX_new();
  unsigned char d[EVP_MAX_MD_SIZE];
  unsigned int dl = 0;
  EVP_DigestInit_ex(md, EVP_sha256(), NULL);
  static const char *const subs[] = {"provisions", "presets"};
  for (int s = 0; s < 2; s++) {
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

static void import_cb(acs_pg_result *r, void *arg) {
  acs_policy_poller *p = arg;
  p->importing = false;
  if (poller_gone(p)) return;
  if (r->status)
    acs_log(ACS_LOG_WARN, "policy", "the watcher could not store the changed tree: %s", r->error);
}

/* The watcher: a changed directory, still for one tick, becomes a generation
 * unless its tree is the newest generation's already (a file written again
 * with the same text, an editor's swap file: the signature changed, the
 * tree did not). */
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
  char err[512] = "", sum[65];
  if (acs_policy_read_tree(p->dir, &files, err, sizeof err)) {
    acs_log(ACS_LOG_WARN, "policy", "watcher: %s", err);
    return;
  }
  acs_policy_checksum(files, sum);
  acs_policy_vm *scratch = acs_policy_vm_new(NULL, err, sizeof err);
  int vrc = scratch ? acs_policy_vm_load_json(scratch, files, err, sizeof err) : ACS_ENOMEM;
  acs_policy_vm_free(scratch);
  if (vrc) acs_log(ACS_LOG_ERR, "policy", "watcher: the changed tree is refused: %s", err);
  char *text = json_dumps(files, JSON_COMPACT);
  json_t *ej = vrc ? error_json(err) : NULL;
  char *etext = ej ? json_dumps(ej, JSON_COMPACT) : NULL;
  json_decref(ej);
  json_decref(files);
  const char *params[5] = {p->dir, sum, text, vrc ? "f" : "t", etext};
  if (text && acs_pg_query(p->aw->pg,
                           "INSERT INTO policy_generations (created_by, source, checksum, files, "
                           "valid, error) SELECT 'watcher', $1, $2::text, $3::jsonb, $4::boolean, "
                           "$5::jsonb WHERE $2::text IS DISTINCT FROM (SELECT checksum FROM "
                           "policy_generations ORDER BY id DESC LIMIT 1)",
                           5, params, ACS_PG_FAILFAST, import_cb, p) == 0)
    p->importing = true;
  free(text);
  free(etext);
}

static void tick_cb(uv_timer_t *t) {
  acs_policy_poller *p = t->data;
  if (p->stopping) return;
  if (p->dir && !p->importing) watch(p);
  if (p->busy) return;
  if (acs_pg_query(p->aw->pg, "SELECT coalesce(max(id), 0) FROM policy_generations WHERE valid", 0,
                   NULL, ACS_PG_FAILFAST, newest_cb, p) == 0)
    p->busy = true;
}

int acs_policy_poller_start(acs_app_worker *aw, const char *watch_dir, acs_policy_poller **out) {
  acs_policy_poller *p = calloc(1, sizeof *p);
  if (!p) return ACS_ENOMEM;
  p->aw = aw;
  p->seen = aw->policies->generation;
  p->dir = watch_dir;
  if (watch_dir) dir_sig(watch_dir, p->sig);
  uv_timer_init(acs_worker_loop(aw->w), &p->timer);
  p->timer.data = p;
  uv_timer_start(&p->timer, tick_cb, 10, POLL_MS);
  *out = p;
  return 0;
}

void acs_policy_poller_stop(acs_policy_poller *p) {
  if (!p) return;
  p->stopping = true;
  /* queries still in flight are cancelled with the store connection, their
   * callbacks see stopping; the memory goes with the timer's close */
  uv_close((uv_handle_t *)&p->timer, poller_closed_cb);
}
