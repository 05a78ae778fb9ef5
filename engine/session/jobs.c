/* jobs.c: fleet jobs, Lua run on a schedule outside any CWMP session
 * (acs_policy.h).
 *
 * jobs/schedule.lua returns {NAME = {every = SECONDS, args = {...}}, ...};
 * jobs/NAME.lua is the job. Worker 0 of each instance looks every few
 * seconds for a job that is due and claims it with a lease in the store
 * (job_leases: one atomic INSERT ... ON CONFLICT DO UPDATE ... WHERE the
 * last run is older than `every` and the lease is free), so each job runs on
 * one instance at a time however many there are. A job reads the store
 * through store.devices{...} (which suspends the job until the rows are
 * there) and raises alarms for devices with job.alarm(...). A job runs in
 * its own run with the VM's budgets; a fault ends it and is logged. */
#include <lauxlib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/acs_app.h"
#include "core/acs_buf.h"
#include "core/acs_err.h"
#include "core/acs_log.h"
#include "session/acs_policy.h"
#include "session/session_internal.h"

#define TICK_MS 5000
#define LEASE_S 600 /* a job that runs longer than this may run twice */
#define MAX_JOBS 64

typedef struct job_ctx {
  uint32_t magic; /* ACS__JOB_MAGIC */
  acs_policy_jobs *jobs;
  char name[128]; /* "jobs/NAME" */
  /* a store.devices request the channel waits for */
  bool want_query;
  long long silent_for; /* -1: any */
  char after[512];
  int limit;
  json_t *params; /* names (array) */
  /* log(): lines written and dropped past the cap (policy-log-lines) */
  unsigned log_lines;
  unsigned long long log_dropped;
} job_ctx;

#define MAX_ARGS 16

typedef struct job_def {
  char name[128];
  long long every;
  char kv[2 * MAX_ARGS][128]; /* args: key, value, ... (strings) */
  int nkv;
  uint64_t tried_ms;
} job_def;

struct acs_policy_jobs {
  acs_app_worker *aw;
  uv_timer_t timer;
  bool stopping, timer_closed;
  bool busy; /* a claim, a query or a job in progress */
  job_def defs[MAX_JOBS];
  size_t ndefs;
  acs_script_run *run; /* the job running */
  acs_script_chan *ch;
  job_ctx ctx;
  uint64_t started_ms;
  uint64_t swept_ms;   /* the last sweep of transfers never completed */
  char sched_err[200]; /* the schedule's last fault, logged once until it changes */
};

/* Stopping: the last of the timer and the query in flight frees it. */
static bool jobs_gone(acs_policy_jobs *J) {
  if (!J->stopping) return false;
  J->busy = false;
  if (J->timer_closed) free(J);
  return true;
}

static job_ctx *job_of(lua_State *L) {
  job_ctx *j = acs_script_ctx(L);
  if (!j || j->magic != ACS__JOB_MAGIC) luaL_error(L, "only fleet jobs (jobs/NAME) can do this");
  return j;
}

/* --- host functions */

/* store.devices{silent_for = S, after = ID, limit = N, params = {names}}:
 * devices in id order after ID, whose last Inform is older than S seconds
 * (all when absent), with the named parameters' values:
 * {{id = ..., last_inform = unix seconds or nil, params = {name = value}}, ...} */
/* A row's parameters ({name: value} JSON, light userdata 1) as a table. */
static int params_p(lua_State *L) {
  json_t *pj = lua_touserdata(L, 1);
  lua_newtable(L);
  const char *k;
  json_t *v;
  json_object_foreach(pj, k, v) {
    if (!json_is_string(v)) continue;
    lua_pushlstring(L, json_string_value(v), json_string_length(v));
    lua_setfield(L, -2, k);
  }
  return 1;
}

/* Resumed by query_cb with the query's result (a light userdata, valid
 * during the resume): the rows become the job's table here, inside the
 * resume, so that they count for the run's budgets. */
static int devices_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status;
  (void)ctx;
  const acs_pg_result *r = lua_touserdata(L, -1);
  lua_pop(L, 1);
  if (!r) return luaL_error(L, "store.devices: no result");
  luaL_checkstack(L, 8, NULL);
  lua_createtable(L, r->ntuples, 0);
  for (int i = 0; i < r->ntuples; i++) {
    const char *ptext = acs_pg_getvalue(r, i, 2);
    acs_script_charge(L, 20 + strlen(ptext) / 16);
    acs_script_charge_host(L, 2 * strlen(ptext)); /* the JSON while it is read */
    lua_createtable(L, 0, 3);
    lua_pushstring(L, acs_pg_getvalue(r, i, 0));
    lua_setfield(L, -2, "id");
    if (!acs_pg_isnull(r, i, 1)) {
      lua_pushinteger(L, strtoll(acs_pg_getvalue(r, i, 1), NULL, 10));
      lua_setfield(L, -2, "last_inform");
    }
    json_t *pj = json_loads(ptext, 0, NULL);
    lua_pushcfunction(L, params_p); /* protected: an error must not leak pj */
    lua_pushlightuserdata(L, pj);
    int st = lua_pcall(L, 1, 1, 0);
    json_decref(pj);
    if (st != LUA_OK) return lua_error(L);
    lua_setfield(L, -2, "params");
    lua_rawseti(L, -2, i + 1);
  }
  return 1;
}

static int l_store_devices(lua_State *L) {
  job_ctx *j = job_of(L);
  luaL_checktype(L, 1, LUA_TTABLE);
  j->silent_for = -1;
  j->after[0] = '\0';
  j->limit = 500;
  json_decref(j->params);
  j->params = json_array();
  if (lua_getfield(L, 1, "silent_for") != LUA_TNIL)
    j->silent_for = (long long)luaL_checkinteger(L, -1);
  lua_pop(L, 1);
  if (lua_getfield(L, 1, "after") != LUA_TNIL)
    snprintf(j->after, sizeof j->after, "%s", luaL_checkstring(L, -1));
  lua_pop(L, 1);
  if (lua_getfield(L, 1, "limit") != LUA_TNIL) j->limit = (int)luaL_checkinteger(L, -1);
  lua_pop(L, 1);
  if (j->limit < 1 || j->limit > 5000) return luaL_error(L, "store.devices: limit must be 1..5000");
  if (lua_getfield(L, 1, "params") == LUA_TTABLE) {
    lua_Integer n = (lua_Integer)lua_rawlen(L, -1);
    if (n > 64) return luaL_error(L, "store.devices: at most 64 parameters");
    for (lua_Integer i = 1; i <= n; i++) {
      lua_rawgeti(L, -1, i);
      size_t nl;
      const char *name = luaL_checklstring(L, -1, &nl);
      acs_script_charge_host(L, 64 + 2 * nl); /* the copy, and the query's text */
      json_array_append_new(j->params, json_string(name));
      lua_pop(L, 1);
    }
  }
  lua_pop(L, 1);
  j->want_query = true;
  return acs_script_yield(L, 0, 0, devices_k);
}

/* job.alarm(device_id, key, severity, message): raised by this job (rule
 * "jobs/NAME") and cleared by the device's next Inform. */
static int l_job_alarm(lua_State *L) {
  job_ctx *j = job_of(L);
  const char *dev = luaL_checkstring(L, 1);
  const char *key = luaL_optstring(L, 2, "");
  const char *sev = luaL_checkstring(L, 3);
  const char *msg = luaL_optstring(L, 4, "");
  static const char *const sevs[] = {"critical", "major", "minor", "warning", "info"};
  bool ok = false;
  for (size_t i = 0; i < 5; i++) ok |= !strcmp(sev, sevs[i]);
  if (!ok) return luaL_error(L, "alarm severity must be critical, major, minor, warning or info");
  acs_pg *pg = j->jobs->aw->pg;
  const char *p[5] = {dev, j->name, key, sev, msg};
  acs_script_charge(L, 100);
  if (pg)
    acs_pg_query(pg,
                 "INSERT INTO alarms AS a (device_id, rule, instance_key, severity, message, "
                 "clear_on_inform) SELECT $1, $2, $3, $4, $5, true WHERE EXISTS (SELECT 1 FROM "
                 "devices WHERE id = $1)\n"
                 "ON CONFLICT (device_id, rule, instance_key) DO UPDATE SET severity = "
                 "excluded.severity, message = excluded.message, last_seen = now(),\n"
                 "  count = CASE WHEN a.cleared_at IS NULL THEN a.count + 1 ELSE 1 END,\n"
                 "  first_seen = CASE WHEN a.cleared_at IS NULL THEN a.first_seen ELSE now() END,\n"
                 "  cleared_at = NULL",
                 5, p, 0, NULL, NULL);
  return 0;
}

int acs__jobs_register(acs_script_vm *vm) {
  int rc = acs_script_vm_register(vm, "store", "devices", l_store_devices);
  if (!rc) rc = acs_script_vm_register(vm, "job", "alarm", l_job_alarm);
  return rc;
}

/* --- running a job */

bool acs__job_log_line(void *ctx) {
  job_ctx *j = ctx;
  if (!j || j->magic != ACS__JOB_MAGIC) return true;
  acs_app_worker *aw = j->jobs->aw;
  if (j->log_lines < aw->app->cfg->policy_log_lines) {
    j->log_lines++;
    return true;
  }
  j->log_dropped++;
  if (aw->metrics) acs_metric_add(&aw->metrics->policy_log_dropped, 1);
  return false;
}

/* The one line for the log lines a run dropped. */
static void log_dropped(const job_ctx *j) {
  if (j->log_dropped)
    acs_log(ACS_LOG_WARN, "policy",
            "%s: %llu more log lines of this run dropped (policy-log-lines: %u)", j->name,
            j->log_dropped, j->log_lines);
}

static void job_end(acs_policy_jobs *J, const char *status) {
  log_dropped(&J->ctx);
  acs_log(!strcmp(status, "done") ? ACS_LOG_INFO : ACS_LOG_WARN, "policy",
          "fleet job %s: %s (%llu ms)", J->ctx.name, status,
          (unsigned long long)(uv_now(acs_worker_loop(J->aw->w)) - J->started_ms));
  if (J->aw->pg) {
    const char *p[2] = {J->ctx.name, status};
    acs_pg_query(J->aw->pg,
                 "UPDATE job_leases SET last_status = $2, expires_at = now() WHERE job = $1", 2, p,
                 0, NULL, NULL);
  }
  if (J->run) acs_script_run_free(J->run);
  J->run = NULL;
  J->ch = NULL;
  json_decref(J->ctx.params);
  J->ctx.params = NULL;
  J->busy = false;
}

static void job_step(acs_policy_jobs *J, int st);

static void query_cb(acs_pg_result *r, void *arg) {
  acs_policy_jobs *J = arg;
  if (jobs_gone(J)) return;
  if (!J->ch) {
    J->busy = false;
    return;
  }
  lua_State *T = acs_script_chan_values(J->ch, NULL);
  if (r->status || !T || !lua_checkstack(T, 2)) {
    char why[300];
    snprintf(why, sizeof why, "store query failed: %s", r->status ? r->error : "no stack");
    job_end(J, why);
    return;
  }
  lua_pushlightuserdata(T, r); /* devices_k makes the rows a table, budgeted */
  job_step(J, acs_script_chan_resume(J->ch, 1));
}

static void job_step(acs_policy_jobs *J, int st) {
  if (st == ACS_SCRIPT_DONE) {
    job_end(J, "done");
    return;
  }
  if (st != ACS_SCRIPT_YIELD || !J->ctx.want_query) {
    char why[600];
    snprintf(why, sizeof why, "%s: %s", J->ch ? acs_script_chan_fault_code(J->ch) : "script.error",
             J->ch ? acs_script_chan_fault_message(J->ch) : acs_strerror(st));
    job_end(J, why);
    return;
  }
  J->ctx.want_query = false;
  char silent[24], limit[16];
  snprintf(silent, sizeof silent, "%lld", J->ctx.silent_for);
  snprintf(limit, sizeof limit, "%d", J->ctx.limit);
  char *names = json_dumps(J->ctx.params, JSON_COMPACT);
  /* the names as a text[] literal via JSON: jsonb_array_elements_text */
  const char *p[4] = {J->ctx.silent_for >= 0 ? silent : NULL, J->ctx.after, names ? names : "[]",
                      limit};
  int rc = acs_pg_query(J->aw->pg,
                        "SELECT d.id, extract(epoch FROM d.last_inform)::bigint,\n"
                        "  coalesce(jsonb_object_agg(p.name, p.value) FILTER (WHERE p.name IS NOT "
                        "NULL), '{}')::text\n"
                        "FROM devices d LEFT JOIN parameters p ON p.device_id = d.id\n"
                        "  AND p.name IN (SELECT jsonb_array_elements_text($3::jsonb))\n"
                        "WHERE d.id > $2 AND ($1::bigint IS NULL OR d.last_inform IS NULL\n"
                        "  OR d.last_inform < now() - make_interval(secs => $1::bigint))\n"
                        "GROUP BY d.id ORDER BY d.id LIMIT $4::int",
                        4, p, ACS_PG_FAILFAST, query_cb, J);
  free(names);
  if (rc) job_end(J, "store unavailable");
}

static void job_start(acs_policy_jobs *J, job_def *d) {
  acs_policy_vm *pv = J->aw->policies;
  memset(&J->ctx, 0, sizeof J->ctx);
  J->ctx.magic = ACS__JOB_MAGIC;
  J->ctx.jobs = J;
  snprintf(J->ctx.name, sizeof J->ctx.name, "%s", d->name);
  J->started_ms = uv_now(acs_worker_loop(J->aw->w));
  if (!acs_script_vm_has(pv->vm, d->name) ||
      !(J->run = acs_script_run_new(pv->vm, NULL, &J->ctx))) {
    job_end(J, "no such job file");
    return;
  }
  const char *kv[2 * MAX_ARGS + 1];
  for (int i = 0; i < d->nkv; i++) kv[i] = d->kv[i];
  kv[d->nkv] = NULL;
  acs_script_chan *ch = NULL;
  int st = acs_script_run_call(J->run, d->name, kv, &ch);
  J->ch = ch;
  if (st < 0) {
    job_end(J, acs_strerror(st));
    return;
  }
  job_step(J, st);
}

typedef struct claim {
  acs_policy_jobs *J;
  size_t def;
} claim;

static void claim_done(acs_pg_result *r, void *arg) {
  claim *c = arg;
  acs_policy_jobs *J = c->J;
  size_t di = c->def;
  free(c);
  if (jobs_gone(J)) return;
  if (r->status || r->ntuples != 1 || di >= J->ndefs) {
    J->busy = false; /* due elsewhere, or run by another instance */
    return;
  }
  job_start(J, &J->defs[di]);
}

typedef struct sched_read {
  acs_policy_jobs *J;
} sched_read;

/* Runs inside acs_script_chan_protect: jobs/schedule.lua's value on top. */
static void read_schedule_p(lua_State *T, void *ud) {
  acs_policy_jobs *J = ((sched_read *)ud)->J;
  if (!lua_istable(T, -1)) return;
  luaL_checkstack(T, 8, NULL);
  lua_pushnil(T);
  while (lua_next(T, -2) && J->ndefs < MAX_JOBS) {
    acs_script_charge(T, 8);
    if (lua_type(T, -2) == LUA_TSTRING && lua_istable(T, -1)) {
      job_def *d = &J->defs[J->ndefs];
      snprintf(d->name, sizeof d->name, "jobs/%s", lua_tostring(T, -2));
      lua_getfield(T, -1, "every");
      d->every = lua_isinteger(T, -1) ? (long long)lua_tointeger(T, -1) : 0;
      lua_pop(T, 1);
      d->nkv = 0;
      if (lua_getfield(T, -1, "args") == LUA_TTABLE) {
        lua_pushnil(T);
        while (lua_next(T, -2)) {
          acs_script_charge(T, 4);
          if (d->nkv < 2 * MAX_ARGS && lua_type(T, -2) == LUA_TSTRING &&
              (lua_type(T, -1) == LUA_TSTRING || lua_type(T, -1) == LUA_TNUMBER)) {
            snprintf(d->kv[d->nkv++], sizeof d->kv[0], "%s", lua_tostring(T, -2));
            snprintf(d->kv[d->nkv++], sizeof d->kv[0], "%s", lua_tostring(T, -1));
          }
          lua_pop(T, 1);
        }
      }
      lua_pop(T, 1);
      d->tried_ms = 0;
      if (d->every >= 1) J->ndefs++;
    }
    lua_pop(T, 1);
  }
}

/* The schedule from jobs/schedule.lua, read into defs. What it returns is
 * read in protected mode within the run's budgets (its tables may have
 * metamethods): a schedule that raises or runs out is logged with its
 * message and leaves no job scheduled. */
static void read_schedule(acs_policy_jobs *J) {
  acs_policy_vm *pv = J->aw->policies;
  uint64_t tried[MAX_JOBS];
  char names[MAX_JOBS][128];
  size_t old = J->ndefs;
  for (size_t i = 0; i < old; i++) {
    tried[i] = J->defs[i].tried_ms;
    memcpy(names[i], J->defs[i].name, sizeof names[i]);
  }
  J->ndefs = 0;
  if (!acs_script_vm_has(pv->vm, "jobs/schedule")) return;
  job_ctx sctx = {.magic = ACS__JOB_MAGIC, .jobs = J};
  snprintf(sctx.name, sizeof sctx.name, "jobs/schedule");
  acs_script_run *run = acs_script_run_new(pv->vm, NULL, &sctx);
  if (!run) return;
  acs_script_chan *ch = NULL;
  int st = acs_script_run_call(run, "jobs/schedule", NULL, &ch);
  if (st == ACS_SCRIPT_DONE) {
    sched_read r = {J};
    if (acs_script_chan_protect(ch, read_schedule_p, &r) != 0) {
      J->ndefs = 0;
      st = ACS_SCRIPT_FAULT;
    }
  }
  char why[sizeof J->sched_err] = "";
  if (st != ACS_SCRIPT_DONE && ch)
    snprintf(why, sizeof why, "%s: %s",
             acs_script_chan_fault_code(ch) ? acs_script_chan_fault_code(ch) : "script.error",
             acs_script_chan_fault_message(ch));
  if (why[0] && strcmp(why, J->sched_err) != 0)
    acs_log(ACS_LOG_WARN, "policy", "jobs/schedule: %s (no job runs until it is fixed)", why);
  memcpy(J->sched_err, why, sizeof why);
  log_dropped(&sctx);
  for (size_t k = 0; k < J->ndefs; k++)
    for (size_t i = 0; i < old; i++)
      if (!strcmp(names[i], J->defs[k].name)) J->defs[k].tried_ms = tried[i];
  acs_script_run_free(run);
}

/* Transfers (Download, Upload, ScheduleDownload accepted with Status 1:
 * 'sent' with an answer in its result, not only its connection request's
 * outcome) whose TransferComplete never came within
 * transfer-timeout expire, once a minute (or every transfer-timeout seconds
 * when that is shorter), on worker 0 of every instance (a
 * row expires once whoever sweeps it; migration 11's tasks_transfers). */
static const char sql_transfer_expiry[] =
    "UPDATE tasks SET status = 'expired', done_at = now(),\n"
    "  fault_string = 'no TransferComplete within ' || $1 || ' s of the transfer''s start'\n"
    "WHERE status = 'sent' AND result IS NOT NULL\n"
    "  AND result - 'connection_request' <> '{}'::jsonb\n"
    "  AND rpc IN ('Download', 'Upload', 'ScheduleDownload')\n"
    "  AND sent_at < now() - make_interval(secs => $1::int)";

static void swept_cb(acs_pg_result *r, void *arg) {
  (void)arg;
  if (r->status == 0 && acs_pg_cmd_tuples(r) > 0)
    acs_log(ACS_LOG_INFO, "tasks", "%ld transfer(s) expired: no TransferComplete",
            (long)acs_pg_cmd_tuples(r));
}

static void sweep_transfers(acs_policy_jobs *J, uint64_t now) {
  unsigned secs = J->aw->app->cfg->transfer_timeout_s;
  uint64_t every = secs < 60 ? (uint64_t)secs * 1000 : 60000; /* a short timeout, swept as often */
  if (!secs || (J->swept_ms && now - J->swept_ms < every)) return;
  J->swept_ms = now;
  char t[16];
  snprintf(t, sizeof t, "%u", secs);
  const char *p[1] = {t};
  acs_pg_query(J->aw->pg, sql_transfer_expiry, 1, p, ACS_PG_FAILFAST, swept_cb, NULL);
}

static void tick_cb(uv_timer_t *t) {
  acs_policy_jobs *J = t->data;
  if (J->stopping || !J->aw->pg || !acs_pg_is_up(J->aw->pg)) return;
  sweep_transfers(J, uv_now(acs_worker_loop(J->aw->w)));
  if (J->busy) return;
  read_schedule(J);
  uint64_t now = uv_now(acs_worker_loop(J->aw->w));
  for (size_t i = 0; i < J->ndefs; i++) {
    job_def *d = &J->defs[i];
    /* ask the store at most once per `every` (or per tick when it said no) */
    if (d->tried_ms && now - d->tried_ms < (uint64_t)(d->every < 5 ? d->every : 5) * 1000) continue;
    d->tried_ms = now;
    claim *c = malloc(sizeof *c);
    if (!c) return;
    c->J = J;
    c->def = i;
    char every[24], lease[24];
    snprintf(every, sizeof every, "%lld", d->every);
    snprintf(lease, sizeof lease, "%d", LEASE_S);
    const char *p[4] = {d->name, J->aw->app->instance_id, every, lease};
    int rc = acs_pg_query(J->aw->pg,
                          "INSERT INTO job_leases AS l (job, holder, expires_at, last_run_at)\n"
                          "VALUES ($1, $2, now() + make_interval(secs => $4::int), now())\n"
                          "ON CONFLICT (job) DO UPDATE SET holder = excluded.holder,\n"
                          "  expires_at = excluded.expires_at, last_run_at = now()\n"
                          "WHERE l.last_run_at <= now() - make_interval(secs => $3::int)\n"
                          "  AND (l.expires_at <= now() OR l.holder = excluded.holder)\n"
                          "RETURNING job",
                          4, p, ACS_PG_FAILFAST, claim_done, c);
    if (rc) {
      free(c);
      return;
    }
    J->busy = true;
    return; /* one job at a time on this worker */
  }
}

static void timer_closed_cb(uv_handle_t *h) {
  acs_policy_jobs *J = h->data;
  J->timer_closed = true;
  if (!J->busy) free(J);
}

int acs_policy_jobs_start(acs_app_worker *aw, acs_policy_jobs **out) {
  acs_policy_jobs *J = calloc(1, sizeof *J);
  if (!J) return ACS_ENOMEM;
  J->aw = aw;
  uv_timer_init(acs_worker_loop(aw->w), &J->timer);
  J->timer.data = J;
  uv_timer_start(&J->timer, tick_cb, 1000, TICK_MS);
  *out = J;
  return 0;
}

void acs_policy_jobs_stop(acs_policy_jobs *J) {
  if (!J) return;
  J->stopping = true;
  if (J->run) acs_script_run_free(J->run);
  J->run = NULL;
  J->ch = NULL;
  json_decref(J->ctx.params);
  J->ctx.params = NULL;
  J->ndefs = 0;
  uv_close((uv_handle_t *)&J->timer, timer_closed_cb);
}
