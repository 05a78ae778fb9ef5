/* policy_rollout.c: canary roll-outs through the API (docs/api.md,
 * "Policies"; docs/policies.md "Canary generations").
 *
 * POST /api/v1/policies/rollout (admin) {"generation", "share",
 * "max_fault_rate", "min_devices", "reason"}: 201 a roll-out started (the
 * generation serves the devices whose acs_policy_canary_point is below
 * share, the current generation the rest), 200 the running one widened
 * (same generation, a share at least as large; its limits may change);
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
  ".seen, 'faulted', " t ".faulted)::text"

typedef struct ro_ctx {
  char what[16];     /* started, widened, none */
  int gen_valid;     /* -1: no such generation */
  long long current; /* the current generation (0: none) */
  long long running; /* the running roll-out's generation (0: none) */
  double running_share;
  json_t *rollout;
} ro_ctx;

static void ro_free(void *p) {
  ro_ctx *x = p;
  json_decref(x->rollout);
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

/* --- POST /api/v1/policies/rollout */

static const char sql_start[] =
    "WITH cur AS (SELECT " ACS_POLICY_CURRENT_ID
    " AS id), "
    "g AS (SELECT id, valid FROM policy_generations WHERE id = $1::bigint), "
    "run AS (SELECT * FROM policy_rollouts WHERE state = 'running'), "
    "ins AS (INSERT INTO policy_rollouts (generation, share, max_fault_rate, min_devices, "
    "started_by) SELECT g.id, $2::float8, $3::float8, $4::int, $6 FROM g WHERE g.valid AND "
    "g.id IS DISTINCT FROM (SELECT id FROM cur) AND NOT EXISTS (SELECT 1 FROM run) RETURNING *), "
    "upd AS (UPDATE policy_rollouts p SET share = $2::float8, max_fault_rate = $3::float8, "
    "min_devices = $4::int FROM run WHERE p.id = run.id AND run.generation = $1::bigint AND "
    "$2::float8 >= run.share RETURNING p.*), "
    "x AS (SELECT 'started' AS what, * FROM ins UNION ALL SELECT 'widened', * FROM upd), "
    "a AS (INSERT INTO audit_log (actor, action, target, detail) SELECT $6, CASE x.what WHEN "
    "'started' THEN 'policy.rollout.start' ELSE 'policy.rollout.widen' END, x.generation::text, "
    "jsonb_build_object('rollout', x.id, 'generation', x.generation, 'share', x.share, "
    "'max_fault_rate', x.max_fault_rate, 'min_devices', x.min_devices, 'reason', $5::text, "
    "'token_id', $7::bigint) FROM x) "
    "SELECT coalesce((SELECT what FROM x), 'none'), coalesce((SELECT valid::int FROM g), -1), "
    "coalesce((SELECT id FROM cur), 0), coalesce((SELECT generation FROM run), 0), "
    "coalesce((SELECT share FROM run), 0), (SELECT " ROLLOUT_JSON("x") " FROM x)";

static void start_cb(acs_pg_result *res, void *arg) {
  acs__api_req *r = arg;
  ro_ctx *x = r->aux_ctx;
  if (acs__api_stmt_ok(r, res) && res->ntuples == 1) {
    snprintf(x->what, sizeof x->what, "%s", acs_pg_getvalue(res, 0, 0));
    x->gen_valid = atoi(acs_pg_getvalue(res, 0, 1));
    x->current = strtoll(acs_pg_getvalue(res, 0, 2), NULL, 10);
    x->running = strtoll(acs_pg_getvalue(res, 0, 3), NULL, 10);
    x->running_share = strtod(acs_pg_getvalue(res, 0, 4), NULL);
    take_rollout(r, x, res, 5);
  }
  acs__api_stmt_done(r);
}

static void start_done(acs__api_req *r) {
  ro_ctx *x = r->aux_ctx;
  long long gen = (long long)json_integer_value(json_object_get(r->body, "generation"));
  if (r->pg_status) {
    acs__api_fail_store(r);
  } else if (x->rollout) {
    acs_policy_wake(r->app);
    acs_app_signal(r->aw, "reload", NULL); /* the other instances, before their poll */
    json_t *doc = x->rollout;
    x->rollout = NULL;
    acs__api_respond(r, strcmp(x->what, "started") == 0 ? 201 : 200, doc, NULL);
  } else if (x->gen_valid < 0) {
    acs__api_error(r, 404, "no generation %lld", gen);
  } else if (x->gen_valid == 0) {
    acs__api_error(r, 409, "generation %lld was refused: it cannot serve", gen);
  } else if (x->running && x->running != gen) {
    acs__api_error(r, 409, "generation %lld is rolling out: complete or abort it first",
                   x->running);
  } else if (x->running) {
    acs__api_error(r, 409, "a roll-out only widens: share %g is below the running %g",
                   json_number_value(json_object_get(r->body, "share")), x->running_share);
  } else {
    acs__api_error(r, 409, "generation %lld is the current one already", x->current);
  }
}

void acs__api_policy_rollout_start(acs__api_req *r) {
  static const char *const keys[] = {"generation",  "share",  "max_fault_rate",
                                     "min_devices", "reason", NULL};
  if (!acs__api_json_body(r, keys) || !reason_ok(r)) return;
  json_t *g = json_object_get(r->body, "generation"), *sh = json_object_get(r->body, "share");
  json_t *mf = json_object_get(r->body, "max_fault_rate"),
         *md = json_object_get(r->body, "min_devices");
  double share = json_is_number(sh) ? json_number_value(sh) : -1;
  double rate = mf ? (json_is_number(mf) ? json_number_value(mf) : -1) : 0.05;
  long long min = md ? (json_is_integer(md) ? (long long)json_integer_value(md) : -1) : 10;
  if (!json_is_integer(g) || json_integer_value(g) <= 0) {
    acs__api_error(r, 400, "generation: expected the id of a generation (a positive integer)");
    return;
  }
  if (!(share > 0 && share <= 100)) {
    acs__api_error(r, 400, "share: expected a percentage of the fleet, above 0 and at most 100");
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
  char gs[24], ss[40], rs[40], ms[24], tid[24];
  snprintf(gs, sizeof gs, "%lld", (long long)json_integer_value(g));
  snprintf(ss, sizeof ss, "%.17g", share);
  snprintf(rs, sizeof rs, "%.17g", rate);
  snprintf(ms, sizeof ms, "%lld", min);
  acs__api_token_id(r, tid);
  const char *p[7] = {gs, ss, rs, ms, reason_of(r), r->token_name, tid};
  acs__api_step(r, start_done);
  if (acs__api_begin(r) == 0) {
    if (acs__api_query(r, acs_policy_push_lock_sql, 0, NULL, acs__api_ignore_cb) == 0)
      acs__api_query(r, sql_start, 7, p, start_cb);
    acs__api_sync(r);
  }
  acs__api_step_queued(r);
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
    "a AS (INSERT INTO audit_log (actor, action, target, detail) SELECT $3, CASE $1 WHEN "
    "'completed' THEN 'policy.rollout.complete' ELSE 'policy.rollout.abort' END, "
    "u.generation::text, jsonb_build_object('rollout', u.id, 'generation', u.generation, "
    "'share', u.share, 'seen', u.seen, 'faulted', u.faulted, 'reason', $2::text, 'token_id', "
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
