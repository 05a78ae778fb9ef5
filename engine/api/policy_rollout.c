/* policy_rollout.c: canary roll-outs through the API (docs/api.md,
 * "Policies"; docs/policies.md "Canary generations").
 *
 * POST /api/v1/policies/rollout (admin) {"generation", "share", "query",
 * "max_fault_rate", "min_devices", "reason"}: 201 a roll-out started (the
 * generation serves the devices whose acs_policy_canary_point is below
 * share and, with a query, that are its members: the devices it matched,
 * policy_rollout_members; the current generation the rest), 200 the
 * running one widened (same generation, a share at least as large or
 * another query, ORed in; its limits may change);
 * GET /api/v1/policies/rollout: the latest roll-out; POST
 * /api/v1/policies/rollout/complete (admin): the generation becomes the
 * current one for every device; POST /api/v1/policies/rollout/abort
 * (admin): the roll-out ends, the current generation serves every device.
 * The automatic rollback is the pollers' (policy_gen.c). Every change runs
 * under the push lock and is audited (policy.rollout.start, .widen,
 * .complete, .abort) with who and why; the workers are woken at once. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_internal.h"
#include "api/query.h"
#include "app/acs_app.h"
#include "core/acs_err.h"
#include "session/acs_policy.h"

#define MAX_REASON 1024

/* A roll-out as JSON text, from the row t. */
#define ROLLOUT_JSON(t)                                                                       \
  "json_build_object('id', " t ".id, 'generation', " t ".generation, 'share', " t             \
  ".share, "                                                                                  \
  "'max_fault_rate', " t ".max_fault_rate, 'min_devices', " t ".min_devices, 'state', " t     \
  ".state, 'started_at', to_char(" t                                                          \
  ".started_at AT TIME ZONE 'UTC', "                                                          \
  "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), 'started_by', " t ".started_by, 'ended_at', to_char(" t \
  ".ended_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), 'checked_at', to_char(" t \
  ".checked_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), 'seen', " t             \
  ".seen, 'faulted', " t ".faulted, 'query', " t ".query, 'members', " t ".members)::text"

typedef struct ro_ctx {
  char what[16];     /* started, widened, none */
  int gen_valid;     /* -1: no such generation */
  long long current; /* the current generation (0: none) */
  long long running; /* the running roll-out's generation (0: none) */
  double running_share;
  bool running_query;       /* the running roll-out has a query */
  long long running_serial; /* its query serial (-1: none running) */
  long long read_serial;    /* as the first step read it (-1: not read, or none running) */
  char *query;              /* the query to store: as given, or composed */
  bool composed;            /* "(running) OR (given)" */
  char gen[24], share[40], rate[40], min[24]; /* the body's values as parameters ("": none) */
  json_t *rollout;
} ro_ctx;

static void ro_free(void *p) {
  ro_ctx *x = p;
  json_decref(x->rollout);
  free(x->query);
  free(x);
}

static ro_ctx *ro_new(acs__api_req *r) {
  ro_ctx *x = calloc(1, sizeof *x);
  if (!x) {
    acs__api_error(r, 500, "out of memory");
    return NULL;
  }
  r->aux_ctx = x;
  r->aux_free = ro_free;
  return x;
}

static bool reason_ok(acs__api_req *r) {
  json_t *why = r->body ? json_object_get(r->body, "reason") : NULL;
  if (why && !json_is_null(why) &&
      !(json_is_string(why) && json_string_length(why) <= MAX_REASON)) {
    acs__api_error(r, 400, "reason: expected a string of at most %d bytes", MAX_REASON);
    return false;
  }
  return true;
}

static const char *reason_of(acs__api_req *r) {
  return r->body ? json_string_value(json_object_get(r->body, "reason")) : NULL;
}

/* The rollout JSON text of column col, into x->rollout. */
static void take_rollout(acs__api_req *r, ro_ctx *x, const acs_pg_result *res, int col) {
  if (acs_pg_isnull(res, 0, col)) return;
  if (!(x->rollout = json_loads(acs_pg_getvalue(res, 0, col), 0, NULL))) r->pg_status = ACS_ENOMEM;
}

/* --- POST /api/v1/policies/rollout
 *
 * Two steps. With a query, the running roll-out's query is read first (its
 * text and serial): a widening with another query serves the devices of
 * either, so the query stored is "(old) OR (new)", parsed again against the
 * query language's limits; the second step's statement only applies if the
 * serial is still the one read (409 otherwise). The second step, one
 * transaction under the push lock: the roll-out started or widened, its
 * members added set-based (the devices the query matches now, in the
 * roll-out's next batch, which every worker then fetches), the audit row,
 * then the members counted and the roll-out read back. */

/* $1 generation, $2 share (NULL: the running one's, 100 at start), $3
 * max_fault_rate, $4 min_devices, $5 reason, $6 who, $7 token id, $8 the
 * query (NULL: none at start, unchanged when widening), $9 its SQL, $10 its
 * values (a JSON array), $11 the running roll-out's query serial as read
 * (NULL: not read); the query's own values from $12. */
static const char sql_start_head[] =
    "WITH cur AS (SELECT " ACS_POLICY_CURRENT_ID
    " AS id), "
    "g AS (SELECT id, valid FROM policy_generations WHERE id = $1::bigint), "
    "run AS (SELECT * FROM policy_rollouts WHERE state = 'running'), "
    "ins AS (INSERT INTO policy_rollouts (generation, share, max_fault_rate, min_devices, "
    "started_by, query, query_sql, query_params, query_serial, batch, stepped_at) "
    "SELECT g.id, coalesce($2::float8, 100), $3::float8, $4::int, $6, $8::text, $9::text, "
    "$10::jsonb, CASE WHEN $8::text IS NULL THEN 0 ELSE 1 END, CASE WHEN $8::text IS NULL THEN 0 "
    "ELSE 1 END, now() FROM g WHERE g.valid AND g.id IS DISTINCT FROM (SELECT id FROM cur) AND "
    "NOT EXISTS (SELECT 1 FROM run) RETURNING *), "
    "upd AS (UPDATE policy_rollouts p SET share = coalesce($2::float8, p.share), "
    "max_fault_rate = $3::float8, min_devices = $4::int, query = coalesce($8::text, p.query), "
    "query_sql = coalesce($9::text, p.query_sql), query_params = coalesce($10::jsonb, "
    "p.query_params), query_serial = p.query_serial + CASE WHEN $8::text IS DISTINCT FROM "
    "p.query AND $8::text IS NOT NULL THEN 1 ELSE 0 END, batch = p.batch + CASE WHEN "
    "$8::text IS NULL THEN 0 ELSE 1 END, stepped_at = now() FROM run WHERE p.id = run.id AND "
    "p.generation = $1::bigint AND coalesce($2::float8, p.share) >= p.share AND ($8::text "
    "IS NULL OR p.query IS NOT NULL) AND ($11::int IS NULL OR p.query_serial = $11::int) "
    "RETURNING p.*), "
    "x AS (SELECT 'started' AS what, * FROM ins UNION ALL SELECT 'widened', * FROM upd), "
    "m AS (INSERT INTO policy_rollout_members (rollout, device_id, batch) SELECT x.id, d.id, "
    "x.batch FROM x JOIN devices d ON $8::text IS NOT NULL AND (";
static const char sql_start_tail[] =
    ") ON CONFLICT DO NOTHING), "
    "a AS (INSERT INTO audit_log (actor, action, target, detail) SELECT $6, CASE x.what WHEN "
    "'started' THEN 'policy.rollout.start' ELSE 'policy.rollout.widen' END, x.generation::text, "
    "jsonb_build_object('rollout', x.id, 'generation', x.generation, 'share', x.share, "
    "'query', x.query, 'max_fault_rate', x.max_fault_rate, 'min_devices', x.min_devices, "
    "'reason', $5::text, 'token_id', $7::bigint) FROM x) "
    "SELECT coalesce((SELECT what FROM x), 'none'), coalesce((SELECT valid::int FROM g), -1), "
    "coalesce((SELECT id FROM cur), 0), coalesce((SELECT generation FROM run), 0), "
    "coalesce((SELECT share FROM run), 0), coalesce((SELECT (query IS NOT NULL)::int FROM run), "
    "0), coalesce((SELECT query_serial FROM run), -1)";

/* After the start: the members counted, the roll-out read back (only the
 * one this transaction started or widened: stepped_at is its time). */
static const char sql_start_count[] =
    "UPDATE policy_rollouts t SET members = (SELECT count(*) FROM policy_rollout_members m "
    "WHERE m.rollout = t.id) WHERE t.state = 'running' AND t.stepped_at = now() "
    "RETURNING " ROLLOUT_JSON("t");

static const char sql_running_query[] =
    "SELECT query, query_serial FROM policy_rollouts WHERE state = 'running'";

static void start_cb(acs_pg_result *res, void *arg) {
  acs__api_req *r = arg;
  ro_ctx *x = r->aux_ctx;
  if (acs__api_stmt_ok(r, res) && res->ntuples == 1) {
    snprintf(x->what, sizeof x->what, "%s", acs_pg_getvalue(res, 0, 0));
    x->gen_valid = atoi(acs_pg_getvalue(res, 0, 1));
    x->current = strtoll(acs_pg_getvalue(res, 0, 2), NULL, 10);
    x->running = strtoll(acs_pg_getvalue(res, 0, 3), NULL, 10);
    x->running_share = strtod(acs_pg_getvalue(res, 0, 4), NULL);
    x->running_query = atoi(acs_pg_getvalue(res, 0, 5)) != 0;
    x->running_serial = strtoll(acs_pg_getvalue(res, 0, 6), NULL, 10);
  }
  acs__api_stmt_done(r);
}

static void one_cb(acs_pg_result *res, void *arg);

static void start_done(acs__api_req *r) {
  ro_ctx *x = r->aux_ctx;
  long long gen = (long long)json_integer_value(json_object_get(r->body, "generation"));
  bool started = strcmp(x->what, "none") != 0;
  if (r->pg_status) {
    acs__api_fail_store(r);
  } else if (started && x->rollout) {
    acs_policy_wake(r->app);
    acs_app_signal(r->aw, "reload", NULL); /* the other instances, before their poll */
    json_t *doc = x->rollout;
    x->rollout = NULL;
    acs__api_respond(r, strcmp(x->what, "started") == 0 ? 201 : 200, doc, NULL);
  } else if (started) {
    acs__api_error(r, 500, "the roll-out was not read back");
  } else if (x->gen_valid < 0) {
    acs__api_error(r, 404, "no generation %lld", gen);
  } else if (x->gen_valid == 0) {
    acs__api_error(r, 409, "generation %lld was refused: it cannot serve", gen);
  } else if (x->running && x->running != gen) {
    acs__api_error(r, 409, "generation %lld is rolling out: complete or abort it first",
                   x->running);
  } else if (x->running && x->query && !x->running_query) {
    acs__api_error(r, 409,
                   "a roll-out only widens: the running one serves a share of the whole fleet, "
                   "a query would narrow it");
  } else if (x->running && x->query && x->read_serial != x->running_serial) {
    acs__api_error(r, 409, "the running roll-out changed meanwhile: try again");
  } else if (x->running) {
    acs__api_error(r, 409, "a roll-out only widens: share %g is below the running %g",
                   json_number_value(json_object_get(r->body, "share")), x->running_share);
  } else if (x->read_serial >= 0) {
    acs__api_error(r, 409, "the roll-out ended meanwhile: try again");
  } else {
    acs__api_error(r, 409, "generation %lld is the current one already", x->current);
  }
}

/* The second step: the statement, with the query (x->query, the effective
 * one) compiled into it twice: for the members now (values from $12) and
 * as text for the catch-up of devices first seen later (values from $1). */
static void start_write(acs__api_req *r) {
  ro_ctx *x = r->aux_ctx;
  acs_arena arena;
  acs_arena_init(&arena, 0);
  acs__sql st, alone;
  acs__sql_init(&st);
  acs__sql_init(&alone);
  char *params_text = NULL;
  bool queued = false;
  if (r->pg_status) {
    acs__api_fail_store(r);
    goto out;
  }
  acs__q_node *tree = NULL;
  if (x->query) {
    char err[400];
    int rc = acs__q_parse(x->query, strlen(x->query), &arena, &tree, err, sizeof err);
    if (rc) {
      if (rc == ACS_ENOMEM) {
        acs__api_error(r, 500, "out of memory");
      } else {
        acs__api_error(r, 400, "query: %s%s", err,
                       x->composed ? " (the running roll-out's query ORed with this one)" : "");
      }
      goto out;
    }
    acs__q_to_sql(tree, &alone);
    json_t *vals = json_array();
    for (int i = 0; vals && i < alone.n; i++)
      if (json_array_append_new(vals, json_string(alone.params[i]))) {
        json_decref(vals);
        vals = NULL;
      }
    params_text = vals ? json_dumps(vals, JSON_COMPACT) : NULL;
    json_decref(vals);
    if (!params_text || acs__sql_err(&alone)) {
      acs__api_error(r, 500, "out of memory");
      goto out;
    }
    if (acs__q_costly(tree)) r->stmt_timeout_ms = ACS__Q_COSTLY_TIMEOUT_MS;
  }
  char tid[24], serial[24];
  acs__api_token_id(r, tid);
  snprintf(serial, sizeof serial, "%lld", x->read_serial);
  const char *fixed[11] = {x->gen,
                           x->share[0] ? x->share : NULL,
                           x->rate,
                           x->min,
                           reason_of(r),
                           r->token_name,
                           tid,
                           x->query,
                           x->query ? alone.text.data : NULL,
                           params_text,
                           x->query ? serial : NULL};
  for (int i = 0; i < 11; i++) {
    acs__sql_param(&st, fixed[i] ? fixed[i] : "", fixed[i] ? strlen(fixed[i]) : 0);
    if (!fixed[i] && st.n == i + 1) { /* SQL NULL */
      free(st.params[i]);
      st.params[i] = NULL;
    }
  }
  acs_buf_reset(&st.text);
  acs_buf_puts(&st.text, sql_start_head);
  if (tree) {
    acs__q_to_sql(tree, &st);
  } else {
    acs_buf_puts(&st.text, "false");
  }
  acs_buf_puts(&st.text, sql_start_tail);
  if (acs__sql_err(&st)) {
    acs__api_error(r, 500, "out of memory");
    goto out;
  }
  acs__api_step(r, start_done);
  if (acs__api_begin(r) == 0) {
    if (acs__api_query(r, acs_policy_push_lock_sql, 0, NULL, acs__api_ignore_cb) == 0 &&
        acs__api_query(r, st.text.data, st.n, (const char *const *)st.params, start_cb) == 0)
      acs__api_query(r, sql_start_count, 0, NULL, one_cb);
    acs__api_sync(r);
  }
  queued = true;
out:
  free(params_text);
  acs__sql_free(&st);
  acs__sql_free(&alone);
  acs_arena_free(&arena);
  if (queued) acs__api_step_queued(r);
}

/* The running roll-out's query, read before a start or widening with one. */
static void running_query_cb(acs_pg_result *res, void *arg) {
  acs__api_req *r = arg;
  ro_ctx *x = r->aux_ctx;
  if (acs__api_stmt_ok(r, res) && res->ntuples == 1) {
    x->read_serial = strtoll(acs_pg_getvalue(res, 0, 1), NULL, 10);
    const char *old = acs_pg_isnull(res, 0, 0) ? NULL : acs_pg_getvalue(res, 0, 0);
    if (old && strcmp(old, x->query) != 0) { /* either query's devices: (old) OR (new) */
      size_t n = strlen(old) + strlen(x->query) + 16;
      char *both = malloc(n);
      if (!both) {
        r->pg_status = ACS_ENOMEM;
      } else {
        snprintf(both, n, "(%s) OR (%s)", old, x->query);
        free(x->query);
        x->query = both;
        x->composed = true;
      }
    }
  }
  acs__api_stmt_done(r);
}

void acs__api_policy_rollout_start(acs__api_req *r) {
  static const char *const keys[] = {
      "generation", "share", "max_fault_rate", "min_devices", "reason", "query", NULL};
  if (!acs__api_json_body(r, keys) || !reason_ok(r)) return;
  json_t *g = json_object_get(r->body, "generation"), *sh = json_object_get(r->body, "share");
  json_t *mf = json_object_get(r->body, "max_fault_rate"),
         *md = json_object_get(r->body, "min_devices"), *q = json_object_get(r->body, "query");
  if (q && json_is_null(q)) q = NULL;
  double share = sh ? (json_is_number(sh) ? json_number_value(sh) : -1) : (q ? 0 : -1);
  double rate = mf ? (json_is_number(mf) ? json_number_value(mf) : -1) : 0.05;
  long long min = md ? (json_is_integer(md) ? (long long)json_integer_value(md) : -1) : 10;
  if (!json_is_integer(g) || json_integer_value(g) <= 0) {
    acs__api_error(r, 400, "generation: expected the id of a generation (a positive integer)");
    return;
  }
  if (q && !(json_is_string(q) && json_string_length(q) > 0 &&
             json_string_length(q) <= ACS__Q_MAX_BYTES)) {
    acs__api_error(r, 400,
                   "query: expected a device query (docs/api.md, \"Device queries\") "
                   "of 1 to %d bytes",
                   ACS__Q_MAX_BYTES);
    return;
  }
  if (sh && !(share > 0 && share <= 100)) {
    acs__api_error(r, 400, "share: expected a percentage of the fleet, above 0 and at most 100");
    return;
  }
  if (!sh && !q) {
    acs__api_error(r, 400,
                   "share or query: a roll-out needs a share of the fleet, a device "
                   "query, or both");
    return;
  }
  if (!(rate >= 0 && rate <= 1)) {
    acs__api_error(r, 400, "max_fault_rate: expected a fraction from 0 to 1");
    return;
  }
  if (min < 1 || min > 1000000000) {
    acs__api_error(r, 400, "min_devices: expected a positive integer");
    return;
  }
  ro_ctx *x = ro_new(r);
  if (!x) return;
  x->read_serial = -1;
  snprintf(x->gen, sizeof x->gen, "%lld", (long long)json_integer_value(g));
  if (sh) snprintf(x->share, sizeof x->share, "%.17g", share);
  snprintf(x->rate, sizeof x->rate, "%.17g", rate);
  snprintf(x->min, sizeof x->min, "%lld", min);
  if (q) {
    /* refused here already if it does not parse (the composed one is
     * parsed again in the second step) */
    acs_arena arena;
    acs_arena_init(&arena, 0);
    acs__q_node *tree = NULL;
    char err[400];
    int rc =
        acs__q_parse(json_string_value(q), json_string_length(q), &arena, &tree, err, sizeof err);
    acs_arena_free(&arena);
    if (rc) {
      if (rc == ACS_ENOMEM) {
        acs__api_error(r, 500, "out of memory");
      } else {
        acs__api_error(r, 400, "query: %s", err);
      }
      return;
    }
    if (!(x->query = strdup(json_string_value(q)))) {
      acs__api_error(r, 500, "out of memory");
      return;
    }
    acs__api_step(r, start_write);
    acs__api_query(r, sql_running_query, 0, NULL, running_query_cb);
    acs__api_step_queued(r);
    return;
  }
  start_write(r);
}

/* --- GET /api/v1/policies/rollout: the latest */

static const char sql_latest[] =
    "SELECT " ROLLOUT_JSON("t") " FROM (SELECT * FROM policy_rollouts ORDER BY id DESC LIMIT 1) t";

static void one_cb(acs_pg_result *res, void *arg) {
  acs__api_req *r = arg;
  ro_ctx *x = r->aux_ctx;
  if (acs__api_stmt_ok(r, res) && res->ntuples == 1) take_rollout(r, x, res, 0);
  acs__api_stmt_done(r);
}

static void latest_done(acs__api_req *r) {
  ro_ctx *x = r->aux_ctx;
  if (r->pg_status) {
    acs__api_fail_store(r);
  } else if (!x->rollout) {
    acs__api_error(r, 404, "no roll-out yet");
  } else {
    json_t *doc = x->rollout;
    x->rollout = NULL;
    acs__api_respond(r, 200, doc, NULL);
  }
}

void acs__api_policy_rollout_get(acs__api_req *r) {
  if (!ro_new(r)) return;
  acs__api_step(r, latest_done);
  acs__api_query(r, sql_latest, 0, NULL, one_cb);
  acs__api_step_queued(r);
}

/* --- POST /api/v1/policies/rollout/complete and /abort */

static const char sql_end[] =
    "WITH run AS (SELECT * FROM policy_rollouts WHERE state = 'running'), "
    "u AS (UPDATE policy_rollouts p SET state = $1, ended_at = now() FROM run "
    "WHERE p.id = run.id RETURNING p.*), "
    "act AS (UPDATE policy_reload SET active = u.generation, active_at = now(), active_by = $3 "
    "FROM u WHERE $1 = 'completed'), "
    "m AS (DELETE FROM policy_rollout_members m USING u WHERE m.rollout = u.id), "
    "a AS (INSERT INTO audit_log (actor, action, target, detail) SELECT $3, CASE $1 WHEN "
    "'completed' THEN 'policy.rollout.complete' ELSE 'policy.rollout.abort' END, "
    "u.generation::text, jsonb_build_object('rollout', u.id, 'generation', u.generation, "
    "'share', u.share, 'query', u.query, 'members', u.members, 'seen', u.seen, 'faulted', "
    "u.faulted, 'reason', $2::text, 'token_id', "
    "$4::bigint) FROM u) "
    "SELECT " ROLLOUT_JSON("u") " FROM u";

static void end_done(acs__api_req *r) {
  ro_ctx *x = r->aux_ctx;
  if (r->pg_status) {
    acs__api_fail_store(r);
  } else if (!x->rollout) {
    acs__api_error(r, 409, "no roll-out is running");
  } else {
    acs_policy_wake(r->app);
    acs_app_signal(r->aw, "reload", NULL); /* the other instances, before their poll */
    json_t *doc = x->rollout;
    x->rollout = NULL;
    acs__api_respond(r, 200, doc, NULL);
  }
}

static void end_run(acs__api_req *r, const char *state) {
  static const char *const keys[] = {"reason", NULL};
  if (r->req->body_len > 0 && !acs__api_json_body(r, keys)) return;
  if (!reason_ok(r)) return;
  if (!ro_new(r)) return;
  char tid[24];
  acs__api_token_id(r, tid);
  const char *p[4] = {state, reason_of(r), r->token_name, tid};
  acs__api_step(r, end_done);
  if (acs__api_begin(r) == 0) {
    if (acs__api_query(r, acs_policy_push_lock_sql, 0, NULL, acs__api_ignore_cb) == 0)
      acs__api_query(r, sql_end, 4, p, one_cb);
    acs__api_sync(r);
  }
  acs__api_step_queued(r);
}

void acs__api_policy_rollout_complete(acs__api_req *r) { end_run(r, "completed"); }
void acs__api_policy_rollout_abort(acs__api_req *r) { end_run(r, "rolled_back"); }
