/* policies.c: the policy tree through the API (docs/api.md, "Policies").
 *
 * GET /api/v1/policies: the generation this instance serves (read from its
 * workers' pollers, acs_policy_served) and the newest push, valid or not;
 * GET /api/v1/policies/generations: every push, newest first;
 * POST /api/v1/policies (admin): a tree as JSON, compiled and stored exactly
 * as `acsd policies push DIR` does (acs_policy_push_prepare and
 * acs_policy_push_sql, engine/session/policy_gen.c): 201 a new generation,
 * 200 the current one when the tree is unchanged, 422 a tree that does not
 * compile or whose static checks find something (stored, refused;
 * ?activate=false stores a valid one without making it current, for a
 * canary roll-out: policy_rollout.c); POST /api/v1/policies/reload (admin):
 * 202, the reload serial bumped in the store and this instance's pollers
 * woken; POST /api/v1/policies/activate and /rollback (admin): the current
 * generation moved, audited; GET /api/v1/policies/generations/{id}/source:
 * a generation's files.
 *
 * The compilation runs on the worker's loop, as the pollers' does: a
 * scratch VM and the example policies take a few milliseconds (docs/api.md
 * has the figures), rare enough for an admin's push. A tree that compiles
 * and passes its checks then runs in the dry run over stored devices
 * (policy_test.c: read asynchronously, run on the thread pool), which
 * refuses it (422) on any policy error unless ?force=true. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_internal.h"
#include "api/query.h"
#include "app/acs_app.h"
#include "core/acs_err.h"
#include "session/acs_dryrun.h"
#include "session/acs_policy.h"

#define MAX_WORKERS 1024    /* the workers setting's maximum */
#define MAX_TREE_FILES 4096 /* as a directory (policy_tree.c) */
#define MAX_NAME 63         /* "provisions/NAME": a channel's policy name */
#define MAX_SOURCE 1024

static const acs__col gen_cols[ACS_POLICY_GEN_NCOLS] = {
    {"id", ACS__COL_INT},     {"created_at", ACS__COL_STR}, {"created_by", ACS__COL_STR},
    {"source", ACS__COL_STR}, {"checksum", ACS__COL_STR},   {"valid", ACS__COL_BOOL},
    {"files", ACS__COL_JSON}, {"error", ACS__COL_JSON},
};

/* The generation of the columns from first on (ACS_POLICY_GEN_COLS), or
 * JSON null when its id is NULL (an outer join that found none). */
static json_t *gen_object(const acs_pg_result *res, int row, int first) {
  if (acs_pg_isnull(res, row, first)) return json_null();
  return acs__api_row_object(res, row, first, gen_cols, ACS_POLICY_GEN_NCOLS);
}

/* A handler's state: the push's statement, and what came back. */
typedef struct pol_ctx {
  acs_policy_push_stmt st;
  bool created;
  long long current; /* GET: the generation served here (0: none) */
  json_t *gen;       /* the generation answered (or GET's current) */
  json_t *latest;    /* GET: the newest push */
  long long serial;  /* reload */
} pol_ctx;

static void ctx_free(void *p) {
  pol_ctx *x = p;
  acs_policy_push_stmt_free(&x->st);
  json_decref(x->gen);
  json_decref(x->latest);
  free(x);
}

static pol_ctx *ctx_new(acs__api_req *r) {
  pol_ctx *x = calloc(1, sizeof *x);
  if (!x) {
    acs__api_error(r, 500, "out of memory");
    return NULL;
  }
  r->aux_ctx = x;
  r->aux_free = ctx_free;
  return x;
}

/* --- GET /api/v1/policies */

static const char sql_get[] =
    "SELECT id = (SELECT max(id) FROM policy_generations), id = $1::bigint, " ACS_POLICY_GEN_COLS
    " FROM policy_generations WHERE id IN ($1::bigint, (SELECT max(id) FROM "
    "policy_generations))";

static void get_cb(acs_pg_result *res, void *arg) {
  acs__api_req *r = arg;
  pol_ctx *x = r->aux_ctx;
  for (int i = 0; acs__api_stmt_ok(r, res) && i < res->ntuples; i++) {
    json_t *o = gen_object(res, i, 2);
    if (!o) {
      r->pg_status = ACS_ENOMEM;
      break;
    }
    if (acs_pg_getvalue(res, i, 0)[0] == 't') x->latest = json_incref(o);
    if (acs_pg_getvalue(res, i, 1)[0] == 't') x->gen = json_incref(o);
    json_decref(o);
  }
  acs__api_stmt_done(r);
}

static void get_done(acs__api_req *r) {
  pol_ctx *x = r->aux_ctx;
  if (r->pg_status) {
    acs__api_fail_store(r);
    return;
  }
  json_t *doc = json_pack("{s:O,s:O,s:s,s:O}", "current", x->gen ? x->gen : json_null(), "latest",
                          x->latest ? x->latest : json_null(), "instance", r->app->instance_id,
                          "workers", r->aux);
  if (!doc) {
    acs__api_error(r, 500, "out of memory");
    return;
  }
  acs__api_respond(r, 200, doc, NULL);
}

void acs__api_policies_get(acs__api_req *r) {
  pol_ctx *x = ctx_new(r);
  long long *gens = x ? calloc(MAX_WORKERS, sizeof *gens) : NULL;
  if (!x) return;
  if (!gens || !(r->aux = json_array())) {
    free(gens);
    acs__api_error(r, 500, "out of memory");
    return;
  }
  /* current: what every worker serves; while they swap, the oldest still
   * served; none when a worker serves none of the store's */
  size_t n = acs_policy_served(r->app, gens, MAX_WORKERS);
  for (size_t i = 0; i < n; i++) {
    json_array_append_new(r->aux, gens[i] > 0 ? json_integer(gens[i]) : json_null());
    if (i == 0 || gens[i] < x->current) x->current = gens[i] > 0 ? gens[i] : 0;
  }
  free(gens);
  char cur[24];
  snprintf(cur, sizeof cur, "%lld", x->current);
  const char *p[1] = {cur};
  acs__api_step(r, get_done);
  acs__api_query(r, sql_get, 1, p, get_cb);
  acs__api_step_queued(r);
}

/* --- GET /api/v1/policies/generations?valid= : newest first */

static json_t *gen_row(const acs_pg_result *res, int i) { return gen_object(res, i, 0); }

static void page_cb(acs_pg_result *res, void *arg) {
  acs__api_req *r = arg;
  if (acs__api_stmt_ok(r, res)) acs__api_page(r, res, gen_row, 'g', 0);
  acs__api_stmt_done(r);
}

void acs__api_policy_generations(acs__api_req *r) {
  int valid = -1;
  acs__sql page, count;
  acs__sql_init(&page);
  acs__sql_init(&count);
  bool queued = false;
  if (!acs__api_list_params(r, 'g') || !acs__api_cursor_is_id(r) ||
      !acs__api_bool_param(r, "valid", &valid))
    goto out;
  for (int k = 0; k < 2; k++) {
    acs__sql *s = k ? &count : &page;
    acs_buf_puts(&s->text, k ? "SELECT count(*) FROM policy_generations WHERE true"
                             : "SELECT " ACS_POLICY_GEN_COLS " FROM policy_generations WHERE true");
    if (valid >= 0) acs_buf_puts(&s->text, valid ? " AND valid" : " AND NOT valid");
    if (k) continue;
    acs__api_sql_id_cursor(r, s, "id");
    acs__api_sql_limit(r, s, "id DESC");
  }
  queued = acs__api_send_list(r, &page, &count, page_cb);
out:
  acs__sql_free(&page);
  acs__sql_free(&count);
  if (queued) acs__api_step_queued(r);
}

/* --- POST /api/v1/policies?force= {"files": {...}, "source": "..."} */

/* "presets/NAME.lua" -> "presets/NAME" (the policy's name, as a directory's
 * file becomes), or false: not a path of the tree. */
static bool tree_name(const char *path, char *name, size_t len) {
  static const char *const kinds[] = {"provisions/", "presets/", "alarms/", "jobs/", "virtual/"};
  size_t n = strlen(path), kl = 0;
  for (size_t i = 0; i < sizeof kinds / sizeof kinds[0] && !kl; i++)
    if (strncmp(path, kinds[i], strlen(kinds[i])) == 0) kl = strlen(kinds[i]);
  if (!kl || n < kl + 5 || strcmp(path + n - 4, ".lua") != 0 || path[kl] == '.' ||
      strchr(path + kl, '/') || n - 4 > MAX_NAME || n - 4 >= len)
    return false;
  for (size_t i = 0; i < n; i++)
    if ((unsigned char)path[i] < 0x20 || path[i] == 0x7f) return false;
  memcpy(name, path, n - 4);
  name[n - 4] = '\0';
  return true;
}

/* The body's files as a tree ({"presets/NAME": "text"}), or NULL: 400
 * answered. */
json_t *acs__api_policy_body_tree(acs__api_req *r) {
  json_t *files = json_object_get(r->body, "files");
  if (!json_is_object(files)) {
    acs__api_error(r, 400,
                   "files: expected an object of paths (provisions/, presets/, alarms/, "
                   "jobs/ or virtual/NAME.lua) to their text");
    return NULL;
  }
  if (json_object_size(files) > MAX_TREE_FILES) {
    acs__api_error(r, 400, "files: more than %d policy files", MAX_TREE_FILES);
    return NULL;
  }
  json_t *tree = json_object();
  const char *key;
  json_t *v;
  json_object_foreach(files, key, v) {
    char name[MAX_NAME + 1];
    if (!tree_name(key, name, sizeof name)) {
      acs__api_error(r, 400,
                     "files: '%.80s': expected provisions/, presets/, alarms/, jobs/ or virtual/ then "
                     "NAME.lua (no further '/', not starting with '.', at most %d bytes "
                     "without .lua, no control characters)",
                     key, MAX_NAME);
      json_decref(tree);
      return NULL;
    }
    if (!json_is_string(v)) {
      acs__api_error(r, 400, "files: '%.80s': expected the file's text (a string)", key);
      json_decref(tree);
      return NULL;
    }
    if (!tree || json_object_set(tree, name, v)) {
      json_decref(tree);
      acs__api_error(r, 500, "out of memory");
      return NULL;
    }
  }
  return tree;
}

static void push_cb(acs_pg_result *res, void *arg) {
  acs__api_req *r = arg;
  pol_ctx *x = r->aux_ctx;
  if (acs__api_stmt_ok(r, res) && res->ntuples == 1) {
    x->created = acs_pg_getvalue(res, 0, 0)[0] == 't';
    if (!(x->gen = gen_object(res, 0, 1))) r->pg_status = ACS_ENOMEM;
  }
  acs__api_stmt_done(r);
}

/* 422: {"error": "file:line: message", "file", "line", "message",
 * "findings": every finding of the static checks (or null), "generation":
 * the refused generation}. */
static void refused(acs__api_req *r, json_t *gen) {
  json_t *e = json_object_get(gen, "error");
  json_t *file = json_object_get(e, "file"), *line = json_object_get(e, "line");
  const char *msg = json_string_value(json_object_get(e, "message"));
  char text[1024];
  if (json_is_string(file) && json_is_integer(line)) {
    snprintf(text, sizeof text, "%s:%lld: %s", json_string_value(file),
             (long long)json_integer_value(line), msg ? msg : "");
  } else {
    snprintf(text, sizeof text, "%s", msg ? msg : "does not compile");
  }
  json_t *all = json_object_get(e, "findings");
  json_t *dry = json_object_get(e, "dry_run"), *dev = json_object_get(e, "device");
  if (json_is_string(dev)) { /* refused by the dry run: which device */
    size_t len = strlen(text);
    snprintf(text + len, sizeof text - len, " (device %s)", json_string_value(dev));
  }
  json_t *doc = json_pack("{s:s,s:O,s:O,s:s,s:O,s:O,s:O,s:O}", "error", text, "file",
                          file ? file : json_null(), "line", line ? line : json_null(), "message",
                          msg ? msg : text, "findings", all ? all : json_null(), "device",
                          dev ? dev : json_null(), "dry_run", dry ? dry : json_null(),
                          "generation", gen);
  json_decref(gen);
  if (!doc) {
    acs__api_error(r, 500, "out of memory");
    return;
  }
  acs__api_respond(r, 422, doc, NULL);
}

static void push_done(acs__api_req *r) {
  pol_ctx *x = r->aux_ctx;
  if (r->pg_status) {
    acs__api_fail_store(r);
    return;
  }
  json_t *gen = x->gen;
  x->gen = NULL;
  if (!json_is_object(gen)) {
    json_decref(gen);
    acs__api_error(r, 500, "the push stored nothing");
  } else if (!x->st.valid && x->created) {
    refused(r, gen);
  } else {
    if (x->created) {
      acs_policy_wake(r->app);
      acs_app_signal(r->aw, "reload", NULL); /* the other instances, before their poll */
    }
    acs__api_respond(r, x->created ? 201 : 200, gen, NULL);
  }
}

/* The push's statement, as prepared (and as its dry run left it). */
static void push_store(acs__api_req *r) {
  pol_ctx *x = r->aux_ctx;
  acs__api_step(r, push_done);
  if (acs__api_begin(r) == 0) {
    if (acs__api_query(r, acs_policy_push_lock_sql, 0, NULL, acs__api_ignore_cb) == 0)
      acs__api_query(r, acs_policy_push_sql, ACS_POLICY_PUSH_NPARAMS, x->st.params, push_cb);
    acs__api_sync(r);
  }
  acs__api_step_queued(r);
}

static void push_dry_done(acs__api_req *r, json_t *summary, int rc, const char *err) {
  pol_ctx *x = r->aux_ctx;
  if (rc == 0) rc = acs_dryrun_apply(&x->st, summary);
  json_decref(summary);
  if (rc) {
    acs__api_error(r, 500, "the dry run failed: %s%s%s", acs_strerror(rc), err[0] ? ": " : "",
                   err);
    return;
  }
  push_store(r);
}

void acs__api_policies_push(acs__api_req *r) {
  static const char *const keys[] = {"files", "source", NULL};
  int force = 0, activate = 1;
  if (!acs__api_bool_param(r, "force", &force) || !acs__api_bool_param(r, "activate", &activate) ||
      !acs__api_json_body(r, keys))
    return;
  json_t *src = json_object_get(r->body, "source");
  if (src && !json_is_null(src) &&
      !(json_is_string(src) && json_string_length(src) <= MAX_SOURCE)) {
    acs__api_error(r, 400, "source: expected a string of at most %d bytes", MAX_SOURCE);
    return;
  }
  json_t *tree = acs__api_policy_body_tree(r);
  if (!tree) return;
  pol_ctx *x = ctx_new(r);
  int rc = x ? acs_policy_push_prepare(tree, r->token_name, json_string_value(src), force > 0,
                                       r->token_id, &x->st)
             : 0;
  if (!x || rc) {
    json_decref(tree);
    if (x) acs__api_error(r, 500, "out of memory");
    return;
  }
  if (!activate) x->st.params[9] = "f";
  /* a tree that compiled and passed its checks runs over stored devices
   * first (force skips it, as it skips the checks) */
  if (x->st.valid && force <= 0 && r->app->cfg->policy_dry_run_devices > 0)
    acs__api_policy_dry_run(r, tree, push_dry_done);
  else
    push_store(r);
  json_decref(tree);
}

/* --- POST /api/v1/policies/reload */

static const char sql_reload[] =
    "WITH r AS (INSERT INTO policy_reload AS p (id, serial, requested_at, requested_by) "
    "VALUES (true, 1, now(), $1) ON CONFLICT (id) DO UPDATE SET serial = p.serial + 1, "
    "requested_at = now(), requested_by = $1 RETURNING serial), "
    "g AS (SELECT * FROM policy_generations WHERE id = " ACS_POLICY_CURRENT_ID "), "
    "a AS (INSERT INTO audit_log (actor, action, target, detail) SELECT $1, 'policy.reload', "
    "(SELECT id::text FROM g), jsonb_build_object('serial', r.serial, 'generation', (SELECT id "
    "FROM g), 'token_id', $2::bigint) FROM r) "
    "SELECT r.serial, " ACS_POLICY_GEN_COLS " FROM r LEFT JOIN g ON true";

static void reload_cb(acs_pg_result *res, void *arg) {
  acs__api_req *r = arg;
  pol_ctx *x = r->aux_ctx;
  if (acs__api_stmt_ok(r, res) && res->ntuples == 1) {
    x->serial = strtoll(acs_pg_getvalue(res, 0, 0), NULL, 10);
    if (!(x->gen = gen_object(res, 0, 1))) r->pg_status = ACS_ENOMEM;
  }
  acs__api_stmt_done(r);
}

static void reload_done(acs__api_req *r) {
  pol_ctx *x = r->aux_ctx;
  if (r->pg_status) {
    acs__api_fail_store(r);
    return;
  }
  if (!x->gen) {
    acs__api_error(r, 500, "the reload was not recorded");
    return;
  }
  /* committed: this instance's pollers look now, the others at their next
   * poll, where they see the serial */
  acs_policy_wake(r->app);
  acs_app_signal(r->aw, "reload", NULL);
  json_t *doc = json_pack("{s:I,s:O}", "serial", (json_int_t)x->serial, "generation", x->gen);
  if (!doc) {
    acs__api_error(r, 500, "out of memory");
    return;
  }
  acs__api_respond(r, 202, doc, NULL);
}

void acs__api_policies_reload(acs__api_req *r) {
  pol_ctx *x = ctx_new(r);
  if (!x) return;
  acs__api_audited(r, reload_done, sql_reload, 0, NULL, reload_cb);
}

/* --- POST /api/v1/policies/activate {"generation": N, "reason": "..."}
 * and POST /api/v1/policies/rollback {"reason": "..."}: the current
 * generation (policy_reload.active) becomes N, or the newest valid one
 * older than the current; audited (policy.activate, policy.rollback) with
 * who, why and the generation it replaces. Under the push lock, so that
 * "the current one" is what the last push or activation committed. */

#define MAX_REASON 1024

static const char sql_activate[] =
    "WITH prev AS (SELECT " ACS_POLICY_CURRENT_ID " AS id), "
    "tgt AS (SELECT id, valid FROM policy_generations WHERE id = coalesce($1::bigint, "
    "(SELECT max(id) FROM policy_generations WHERE valid AND id < (SELECT id FROM prev)))), "
    "u AS (UPDATE policy_reload SET active = tgt.id, active_at = now(), active_by = $4 "
    "FROM tgt WHERE tgt.valid), "
    "a AS (INSERT INTO audit_log (actor, action, target, detail) SELECT $4, $3, tgt.id::text, "
    "jsonb_build_object('generation', tgt.id, 'previous', (SELECT id FROM prev), 'reason', "
    "$2::text, 'token_id', $5::bigint) FROM tgt WHERE tgt.valid) "
    "SELECT (SELECT id FROM prev), " ACS_POLICY_GEN_COLS
    " FROM (SELECT 1) one LEFT JOIN policy_generations ON id = (SELECT id FROM tgt)";

static void activate_cb(acs_pg_result *res, void *arg) {
  acs__api_req *r = arg;
  pol_ctx *x = r->aux_ctx;
  if (acs__api_stmt_ok(r, res) && res->ntuples == 1) {
    x->current = acs_pg_isnull(res, 0, 0) ? 0 : strtoll(acs_pg_getvalue(res, 0, 0), NULL, 10);
    if (!(x->gen = gen_object(res, 0, 1))) r->pg_status = ACS_ENOMEM;
  }
  acs__api_stmt_done(r);
}

static void activate_done(acs__api_req *r) {
  pol_ctx *x = r->aux_ctx;
  bool rollback = r->aux == NULL;
  if (r->pg_status) {
    acs__api_fail_store(r);
    return;
  }
  if (!json_is_object(x->gen)) {
    if (rollback)
      acs__api_error(r, 409, "no valid generation older than the current one (%lld)", x->current);
    else
      acs__api_error(r, 404, "no generation %s", json_string_value(r->aux));
    return;
  }
  if (!json_is_true(json_object_get(x->gen, "valid"))) {
    acs__api_error(r, 409, "generation %lld was refused: it cannot serve",
                   (long long)json_integer_value(json_object_get(x->gen, "id")));
    return;
  }
  acs_policy_wake(r->app);
  acs_app_signal(r->aw, "reload", NULL);
  json_t *doc = json_pack("{s:O,s:o}", "generation", x->gen, "previous",
                          x->current > 0 ? json_integer(x->current) : json_null());
  if (!doc) {
    acs__api_error(r, 500, "out of memory");
    return;
  }
  acs__api_respond(r, 200, doc, NULL);
}

static void activate_run(acs__api_req *r, const char *gen, const char *action) {
  json_t *why = r->body ? json_object_get(r->body, "reason") : NULL;
  if (why && !json_is_null(why) &&
      !(json_is_string(why) && json_string_length(why) <= MAX_REASON)) {
    acs__api_error(r, 400, "reason: expected a string of at most %d bytes", MAX_REASON);
    return;
  }
  pol_ctx *x = ctx_new(r);
  if (!x) return;
  char tid[24];
  acs__api_token_id(r, tid);
  const char *p[5] = {gen, json_string_value(why), action, r->token_name, tid};
  acs__api_step(r, activate_done);
  if (acs__api_begin(r) == 0) {
    if (acs__api_query(r, acs_policy_push_lock_sql, 0, NULL, acs__api_ignore_cb) == 0)
      acs__api_query(r, sql_activate, 5, p, activate_cb);
    acs__api_sync(r);
  }
  acs__api_step_queued(r);
}

void acs__api_policies_activate(acs__api_req *r) {
  static const char *const keys[] = {"generation", "reason", NULL};
  if (!acs__api_json_body(r, keys)) return;
  json_t *g = json_object_get(r->body, "generation");
  if (!json_is_integer(g) || json_integer_value(g) <= 0) {
    acs__api_error(r, 400, "generation: expected the id of a generation (a positive integer)");
    return;
  }
  char id[24];
  snprintf(id, sizeof id, "%lld", (long long)json_integer_value(g));
  if (!(r->aux = json_string(id))) {
    acs__api_error(r, 500, "out of memory");
    return;
  }
  activate_run(r, id, "policy.activate");
}

void acs__api_policies_rollback(acs__api_req *r) {
  static const char *const keys[] = {"reason", NULL};
  /* the body is optional: {"reason": "..."} */
  if (r->req->body_len > 0 && !acs__api_json_body(r, keys)) return;
  activate_run(r, NULL, "policy.rollback");
}

/* --- GET /api/v1/policies/generations/{id}/source: the tree as pushed,
 * {"id", "checksum", "valid", "files": {"provisions/NAME.lua": text}} (a
 * body POST /api/v1/policies takes back as it is). */

static const char sql_source[] =
    "SELECT id, checksum, valid, (SELECT coalesce(jsonb_object_agg(k || '.lua', v), '{}') "
    "FROM jsonb_each(files) AS e(k, v))::text FROM policy_generations WHERE id = $1::bigint";

static const acs__col source_cols[] = {
    {"id", ACS__COL_INT}, {"checksum", ACS__COL_STR}, {"valid", ACS__COL_BOOL},
    {"files", ACS__COL_JSON}};

static void source_cb(acs_pg_result *res, void *arg) {
  acs__api_req *r = arg;
  pol_ctx *x = r->aux_ctx;
  if (acs__api_stmt_ok(r, res) && res->ntuples == 1 &&
      !(x->gen = acs__api_row_object(res, 0, 0, source_cols, 4)))
    r->pg_status = ACS_ENOMEM;
  acs__api_stmt_done(r);
}

static void source_done(acs__api_req *r) {
  pol_ctx *x = r->aux_ctx;
  if (r->pg_status) {
    acs__api_fail_store(r);
    return;
  }
  if (!x->gen) {
    acs__api_error(r, 404, "no generation %s", r->task_id);
    return;
  }
  json_t *doc = x->gen;
  x->gen = NULL;
  acs__api_respond(r, 200, doc, NULL);
}

void acs__api_policy_source(acs__api_req *r) {
  pol_ctx *x = ctx_new(r);
  if (!x) return;
  const char *p[1] = {r->task_id}; /* digits (the router's match) */
  acs__api_step(r, source_done);
  acs__api_query(r, sql_source, 1, p, source_cb);
  acs__api_step_queued(r);
}
