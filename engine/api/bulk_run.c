/* bulk_run.c: the bulk-action runner (acs_bulk.h).
 *
 * One instance of the cluster expands the running bulk actions at a time:
 * the one holding the lease "bulk-actions" in job_leases (the table fleet
 * jobs lease by; a lease is taken when free or expired and renewed by its
 * holder, so another instance takes over within LEASE_S of a crash). The
 * holder re-reads the running bulk actions every LIST_MS and, every
 * TICK_MS, gives each its share of tasks: a token bucket per bulk fed by
 * the engine's clock at the bulk's rate (capped at BURST_MS of it), paused
 * outside the bulk's window (UTC, by the same clock, so tests can move it).
 *
 * One expansion is one statement, hence one transaction: under a lock on
 * the bulk row, and only while the bulk is running and this instance still
 * holds the lease, the next devices after last_device (by id, matching the
 * query now and created before the bulk) get their tasks, and last_device,
 * tasks_created and, at the end, expanded_at move with them. A tag action
 * (rpc ACS__BULK_TAGS) makes no task: the same statement changes the tags
 * of those devices, audits each change, and counts the devices reached in
 * tasks_created. A crash
 * between two expansions loses nothing and repeats nothing; pause and
 * cancel take the same row lock, so no task is made after either commits.
 * A bulk whose expansion is over becomes done once none of its tasks is
 * pending or sent. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/acs_bulk.h"
#include "api/api_internal.h"
#include "api/query.h"
#include "core/acs_err.h"
#include "core/acs_log.h"
#include "session/acs_policy.h"

#define TICK_MS 200
#define LIST_MS 1000
#define LEASE_S 10
#define RENEW_MS 2000 /* the holder renews its lease this often */
#define CLAIM_MS 3000 /* another instance asks this often */
#define DONE_CHECK_MS 1000
#define BURST_MS 250   /* a bucket holds at most this much of its rate */
#define MAX_BATCH 500  /* tasks per statement */
#define MAX_REPEAT 4   /* statements in a row for one bulk while its bucket is full */
#define MAX_RUNNING 64 /* bulk actions expanded at once (the oldest first) */
#define LEASE_JOB "bulk-actions"

typedef struct bulk {
  long long id;
  double rate;
  int win_start, win_end; /* minutes after 00:00 UTC; -1: no window */
  bool connreq;
  bool expanded;
  char trace_id[33]; /* of its traceparent: its connection requests log it */
  bool bad; /* its query no longer parses: logged once, left alone */
  bool listed;
  double bucket;
  int64_t fed_ms; /* engine clock of the last feed */
  uint64_t done_check_ms;
  /* the expansion statement: $1 bulk id, $2 lease job, $3 holder, the
   * query's parameters, then the batch size (limit_param) */
  acs__sql sql;
  int limit_param;
  char id_text[24];
} bulk;

struct acs_bulk_runner {
  acs_app_worker *aw;
  acs_pg *pg;
  uv_loop_t *loop;
  uv_timer_t timer;
  bool stopping, timer_closed, pg_closed;
  bool busy; /* a statement in flight (one at a time) */
  bool holder;
  uint64_t claim_ms, list_ms; /* loop time of the last claim and list */
  bulk bulks[MAX_RUNNING];
  size_t n;
  size_t next; /* the pass over bulks: the one looked at (its statement in flight) */
  int repeat;  /* statements in a row for bulks[next] */
};

static void runner_free(acs_bulk_runner *R) {
  for (size_t i = 0; i < R->n; i++) acs__sql_free(&R->bulks[i].sql);
  free(R);
}

/* A callback after stop: nothing more is sent. */
static bool gone(acs_bulk_runner *R) {
  R->busy = false;
  return R->stopping;
}

/* --- the bulks: what the list said, and their statements */

static bool in_window(const bulk *b, int64_t now_ms) {
  if (b->win_start < 0) return true;
  int m = (int)((now_ms / 60000) % 1440);
  if (b->win_start < b->win_end) return m >= b->win_start && m < b->win_end;
  return m >= b->win_start || m < b->win_end; /* across midnight */
}

static int build_sql(bulk *b, const char *query, const char *holder) {
  acs_arena arena;
  acs_arena_init(&arena, 0);
  acs__q_node *tree = NULL;
  char err[400];
  int rc = acs__q_parse(query, strlen(query), &arena, &tree, err, sizeof err);
  if (rc) {
    acs_arena_free(&arena);
    if (rc == ACS_EINVAL)
      acs_log(ACS_LOG_ERR, "bulk", "bulk action %lld: its query no longer parses (%s): left alone",
              b->id, err);
    return rc;
  }
  acs__sql *s = &b->sql;
  acs_buf *t = &s->text;
  acs_buf_puts(t,
               "WITH b AS (SELECT id, rpc, args, created_by, created_at, expires_in, traceparent, "
               "coalesce(last_device, '') AS after FROM bulk_actions WHERE id = ");
  acs__sql_param(s, b->id_text, strlen(b->id_text));
  acs_buf_puts(t,
               "::bigint AND status = 'running' AND expanded_at IS NULL AND EXISTS (SELECT 1 "
               "FROM job_leases WHERE job = ");
  acs__sql_param(s, LEASE_JOB, strlen(LEASE_JOB));
  acs_buf_puts(t, " AND holder = ");
  acs__sql_param(s, holder, strlen(holder));
  acs_buf_puts(t,
               " AND expires_at > now()) FOR UPDATE), "
               "m AS (SELECT d.id FROM devices d WHERE d.id > (SELECT after FROM b) AND "
               "d.created_at <= (SELECT created_at FROM b) AND (");
  acs__q_to_sql(tree, s);
  acs_buf_puts(t, ") ORDER BY d.id LIMIT ");
  acs__sql_param(s, "1", 1); /* the batch: set per statement */
  b->limit_param = s->n - 1;
  acs_buf_printf(
      t,
      "::int), "
      "t AS (INSERT INTO tasks (device_id, rpc, args, created_by, expires_at, bulk_id, "
      "traceparent) SELECT m.id, b.rpc, b.args, b.created_by, now() + b.expires_in * "
      "interval '1 second', b.id, b.traceparent FROM b, m WHERE b.rpc <> '" ACS__BULK_TAGS "' ORDER BY m.id ON CONFLICT DO NOTHING "
      "RETURNING id, device_id), "
      /* a tag action: the devices' tags as POST /devices/{id}/tags changes
       * them (removing wins), locked in id order as group commits lock
       * them, each change audited */
      "lk AS (SELECT d.id, d.tags FROM devices d, b WHERE b.rpc = '" ACS__BULK_TAGS "' AND "
      "d.id IN (SELECT id FROM m) ORDER BY d.id FOR UPDATE OF d), "
      "calc AS (SELECT lk.id, lk.tags AS before, ARRAY(SELECT v FROM unnest(lk.tags || "
      "ARRAY(SELECT jsonb_array_elements_text(b.args->'add'))) WITH ORDINALITY x(v, o) WHERE "
      "v <> ALL (ARRAY(SELECT jsonb_array_elements_text(b.args->'remove'))) GROUP BY v ORDER BY "
      "min(o)) AS after FROM lk, b), "
      "g AS (UPDATE devices d SET tags = calc.after FROM calc WHERE d.id = calc.id AND "
      "calc.after IS DISTINCT FROM calc.before RETURNING d.id, calc.before, calc.after), "
      "ga AS (INSERT INTO audit_log (actor, action, target, detail) SELECT b.created_by, "
      "'device.tags', g.id, jsonb_build_object('before', to_jsonb(g.before), 'after', "
      "to_jsonb(g.after), 'bulk_id', b.id) FROM g, b), "
      "u AS (UPDATE bulk_actions x SET last_device = coalesce((SELECT max(id) FROM m), "
      "x.last_device), tasks_created = x.tasks_created + CASE WHEN b.rpc = '" ACS__BULK_TAGS
      "' THEN (SELECT count(*) FROM m) ELSE (SELECT count(*) FROM t) END, "
      "expanded_at = CASE WHEN (SELECT count(*) FROM m) < $%d::int THEN now() END, "
      "updated_at = now() FROM b WHERE x.id = b.id RETURNING x.expanded_at IS NOT NULL AS "
      "expanded, CASE WHEN b.rpc = '" ACS__BULK_TAGS "' THEN (SELECT count(*) FROM m) ELSE 0 "
      "END AS reached) "
      "SELECT u.expanded, t.id, t.device_id, u.reached FROM u LEFT JOIN t ON true ORDER BY t.id",
      s->n);
  acs_arena_free(&arena);
  return acs__sql_err(s);
}

static bulk *find(acs_bulk_runner *R, long long id) {
  for (size_t i = 0; i < R->n; i++)
    if (R->bulks[i].id == id) return &R->bulks[i];
  return NULL;
}

/* Keeps the order (the oldest first) and the pass's place. */
static void drop(acs_bulk_runner *R, size_t i) {
  acs__sql_free(&R->bulks[i].sql);
  memmove(&R->bulks[i], &R->bulks[i + 1], (R->n - i - 1) * sizeof R->bulks[0]);
  R->n--;
  if (R->next > i) R->next--;
}

/* --- the pass: every bulk in turn, one statement at a time */

static void pass_step(acs_bulk_runner *R);

static void expand_cb(acs_pg_result *res, void *arg) {
  acs_bulk_runner *R = arg;
  if (gone(R)) return;
  if (R->next >= R->n) return; /* the list changed under it */
  bulk *b = &R->bulks[R->next];
  if (res->status) {
    acs_log(ACS_LOG_WARN, "bulk", "bulk action %lld: expansion failed: %s", b->id, res->error);
    R->repeat = 0;
    R->next++;
    pass_step(R);
    return;
  }
  if (res->ntuples == 0) { /* no longer running here: paused, cancelled or lease lost */
    drop(R, R->next);
    pass_step(R);
    return;
  }
  /* a tag action's devices reached count as its tasks do */
  int made = atoi(acs_pg_getvalue(res, 0, 3));
  for (int i = 0; i < res->ntuples; i++) {
    if (acs_pg_isnull(res, i, 1)) continue;
    made++;
    if (b->connreq) {
      acs_log_set_trace(b->trace_id[0] ? b->trace_id : NULL);
      acs_bulk_connection_request(R->aw, b->id, strtoll(acs_pg_getvalue(res, i, 1), NULL, 10),
                                  acs_pg_getvalue(res, i, 2));
      acs_log_set_trace(NULL);
    }
  }
  b->bucket -= made;
  if (b->bucket < 0) b->bucket = 0;
  if (acs_pg_getvalue(res, 0, 0)[0] == 't') {
    b->expanded = true;
    acs_log(ACS_LOG_INFO, "bulk", "bulk action %lld: every device reached", b->id);
  }
  /* a high rate needs more than a batch per tick: the same bulk again while
   * its bucket holds tasks, a few times, then the next one */
  if (b->expanded || b->bucket < 1 || ++R->repeat >= MAX_REPEAT) {
    R->repeat = 0;
    R->next++;
  }
  pass_step(R);
}

static void done_cb(acs_pg_result *res, void *arg) {
  acs_bulk_runner *R = arg;
  if (gone(R)) return;
  if (R->next >= R->n) return;
  if (res->status == 0 && res->ntuples == 1) {
    acs_log(ACS_LOG_INFO, "bulk", "bulk action %lld: done", R->bulks[R->next].id);
    drop(R, R->next);
  } else {
    R->next++;
  }
  pass_step(R);
}

static const char sql_done[] =
    "UPDATE bulk_actions b SET status = 'done', finished_at = now(), updated_at = now() "
    "WHERE id = $1::bigint AND status = 'running' AND expanded_at IS NOT NULL AND NOT EXISTS "
    "(SELECT 1 FROM tasks t WHERE t.bulk_id = b.id AND t.status IN ('pending', 'sent')) "
    "RETURNING id";

/* Sends the next statement of the pass, or ends it. A pass that runs long
 * (many bulks, slow statements) stops when the lease is due for renewal or
 * the list for a refresh, and the next tick goes on where it stopped. */
static void pass_step(acs_bulk_runner *R) {
  int64_t now = acs_policy_now_ms();
  uint64_t mono = uv_now(R->loop);
  if (mono - R->claim_ms >= RENEW_MS || mono - R->list_ms >= LIST_MS) {
    R->busy = false;
    return;
  }
  for (; R->next < R->n; R->next++, R->repeat = 0) {
    bulk *b = &R->bulks[R->next];
    if (b->bad) continue;
    if (b->expanded) {
      if (mono - b->done_check_ms < DONE_CHECK_MS) continue;
      b->done_check_ms = mono;
      const char *p[1] = {b->id_text};
      if (acs_pg_query(R->pg, sql_done, 1, p, ACS_PG_FAILFAST, done_cb, R) == 0) {
        R->busy = true;
        return;
      }
      break;
    }
    /* the bucket fills at the rate inside the window only */
    int64_t dt = now - b->fed_ms;
    b->fed_ms = now;
    if (dt < 0) dt = 0;
    if (!in_window(b, now)) continue;
    double cap = fmax(1.0, b->rate * BURST_MS / 1000.0);
    b->bucket = fmin(cap, b->bucket + b->rate * (double)dt / 1000.0);
    int want = (int)fmin(floor(b->bucket), MAX_BATCH);
    if (want < 1) continue;
    char lim[16];
    snprintf(lim, sizeof lim, "%d", want);
    const char **p = malloc((size_t)b->sql.n * sizeof *p);
    if (!p) break;
    for (int i = 0; i < b->sql.n; i++) p[i] = b->sql.params[i];
    p[b->limit_param] = lim;
    int rc = acs_pg_query(R->pg, b->sql.text.data, b->sql.n, p, ACS_PG_FAILFAST, expand_cb, R);
    free(p);
    if (rc == 0) {
      R->busy = true;
      return;
    }
    break;
  }
  R->busy = false;
}

/* --- the list of running bulk actions */

static const char sql_list[] =
    "SELECT id, query, rate, window_start, window_end, connection_request, expanded_at IS NOT "
    "NULL, substr(traceparent, 4, 32) FROM bulk_actions WHERE status = 'running' ORDER BY id LIMIT " ACS__STR(MAX_RUNNING);

static void list_cb(acs_pg_result *res, void *arg) {
  acs_bulk_runner *R = arg;
  if (gone(R)) return;
  if (res->status) return;
  for (size_t i = 0; i < R->n; i++) R->bulks[i].listed = false;
  int64_t now = acs_policy_now_ms();
  for (int row = 0; row < res->ntuples; row++) {
    long long id = strtoll(acs_pg_getvalue(res, row, 0), NULL, 10);
    bulk *b = find(R, id);
    if (!b) {
      if (R->n == MAX_RUNNING) continue;
      b = &R->bulks[R->n++];
      memset(b, 0, sizeof *b);
      b->id = id;
      snprintf(b->id_text, sizeof b->id_text, "%lld", id);
      b->fed_ms = now;
      b->bucket = 1.0; /* the first task goes at once */
      acs__sql_init(&b->sql);
      if (build_sql(b, acs_pg_getvalue(res, row, 1), R->aw->app->instance_id)) b->bad = true;
    }
    b->listed = true;
    /* a resumed bulk may have been changed meanwhile: its settings are re-read */
    b->rate = strtod(acs_pg_getvalue(res, row, 2), NULL);
    b->win_start = acs_pg_isnull(res, row, 3) ? -1 : atoi(acs_pg_getvalue(res, row, 3));
    b->win_end = acs_pg_isnull(res, row, 4) ? -1 : atoi(acs_pg_getvalue(res, row, 4));
    b->connreq = acs_pg_getvalue(res, row, 5)[0] == 't';
    b->expanded = acs_pg_getvalue(res, row, 6)[0] == 't';
    snprintf(b->trace_id, sizeof b->trace_id, "%s", acs_pg_getvalue(res, row, 7));
  }
  for (size_t i = R->n; i-- > 0;)
    if (!R->bulks[i].listed) drop(R, i);
  if (R->aw->metrics) acs_metric_set(&R->aw->metrics->bulk_running, R->n);
  pass_step(R);
}

/* --- the lease */

static const char sql_claim[] =
    "INSERT INTO job_leases AS l (job, holder, expires_at, last_run_at) "
    "VALUES ($1, $2, now() + make_interval(secs => $3::int), now()) "
    "ON CONFLICT (job) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at, "
    "last_run_at = now() WHERE l.expires_at <= now() OR l.holder = excluded.holder "
    "RETURNING job";

static void claim_cb(acs_pg_result *res, void *arg) {
  acs_bulk_runner *R = arg;
  if (gone(R)) return;
  if (res->status) return; /* as it was; asked again at the next claim */
  bool holder = res->ntuples == 1;
  if (holder != R->holder)
    acs_log(ACS_LOG_INFO, "bulk", "%s the bulk-action lease (instance %s)",
            holder ? "holding" : "lost", R->aw->app->instance_id);
  R->holder = holder;
  if (!holder) {
    while (R->n) drop(R, R->n - 1);
  }
  if (R->aw->metrics) {
    acs_metric_set(&R->aw->metrics->bulk_lease_held, holder);
    acs_metric_set(&R->aw->metrics->bulk_running, R->n);
  }
}

static void tick_cb(uv_timer_t *t) {
  acs_bulk_runner *R = t->data;
  if (R->stopping || R->busy || !acs_pg_is_up(R->pg)) return;
  uint64_t now = uv_now(R->loop);
  int rc;
  if (!R->claim_ms || now - R->claim_ms >= (R->holder ? RENEW_MS : CLAIM_MS)) {
    R->claim_ms = now;
    char lease[16];
    snprintf(lease, sizeof lease, "%d", LEASE_S);
    const char *p[3] = {LEASE_JOB, R->aw->app->instance_id, lease};
    rc = acs_pg_query(R->pg, sql_claim, 3, p, ACS_PG_FAILFAST, claim_cb, R);
  } else if (!R->holder) {
    return;
  } else if (!R->list_ms || now - R->list_ms >= LIST_MS) {
    R->list_ms = now;
    rc = acs_pg_query(R->pg, sql_list, 0, NULL, ACS_PG_FAILFAST, list_cb, R);
  } else {
    if (R->next >= R->n) { /* the last pass ended: a new one */
      R->next = 0;
      R->repeat = 0;
    }
    pass_step(R);
    return;
  }
  if (rc == 0) R->busy = true;
}

/* --- start and stop */

static void closed(acs_bulk_runner *R) {
  if (R->timer_closed && R->pg_closed) runner_free(R);
}

static void timer_closed_cb(uv_handle_t *h) {
  acs_bulk_runner *R = h->data;
  R->timer_closed = true;
  closed(R);
}

static void pg_closed_cb(void *arg) {
  acs_bulk_runner *R = arg;
  R->pg_closed = true;
  closed(R);
}

int acs_bulk_runner_start(acs_app_worker *aw, acs_bulk_runner **out) {
  acs_bulk_runner *R = calloc(1, sizeof *R);
  if (!R) return ACS_ENOMEM;
  R->aw = aw;
  R->loop = acs_worker_loop(aw->w);
  acs_pg_opts o;
  acs_pg_opts_defaults(&o);
  o.pipeline = aw->app->pg_pipeline;
  o.name = "pg-bulk";
  int rc = acs_pg_open(R->loop, aw->app->cfg->pg_dsn, &o, &R->pg);
  if (rc) {
    free(R);
    return rc;
  }
  uv_timer_init(R->loop, &R->timer);
  R->timer.data = R;
  uv_timer_start(&R->timer, tick_cb, TICK_MS, TICK_MS);
  *out = R;
  return 0;
}

void acs_bulk_runner_stop(acs_bulk_runner *R) {
  if (!R) return;
  R->stopping = true;
  uv_close((uv_handle_t *)&R->timer, timer_closed_cb);
  if (acs_pg_close(R->pg, pg_closed_cb, R) != 0) R->pg_closed = true;
}
