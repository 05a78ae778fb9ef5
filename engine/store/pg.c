/* pg.c: asynchronous PostgreSQL connection on a libuv loop (see acs_pg.h).
 *
 * States: CONNECTING (PQconnectPoll driven by the poll handle, bounded by the
 * timer), UP (pipeline mode), WAIT (back-off timer before the next attempt),
 * CLOSING.
 *
 * Requests travel through three FIFO lists: batch (statements of the open
 * sync group, held back), pending (queued, not sent: waiting for the idle
 * phase, or for a connection) and inflight (sent, answered in order). A
 * statement queued outside a group carries its own sync ("autosync"): after
 * its results it stays at the head of inflight until the sync's answer.
 * Failed requests move to the done list, whose callbacks run from the
 * idle handle (or from the last close callback), never from the call that
 * queued them. Deferred work uses an idle handle, not a prepare handle: a
 * prepare handle started from another prepare callback (the group-commit
 * batcher's) would wait for the next I/O event, while an active idle handle
 * keeps the loop from blocking until it has run.
 *
 * Handles: the timer and the idle handle live in struct acs_pg; the poll
 * handle is allocated per socket, because the socket changes with every
 * connection (and can change during PQconnectPoll): it is stopped and closed
 * before libpq closes its socket, and freed in its close callback. */
#include <arpa/inet.h>
#include <libpq-fe.h>
#include <stdlib.h>
#include <string.h>

#include "core/acs_err.h"
#include "core/acs_log.h"
#include "store/acs_pg.h"

typedef enum { ST_CONNECTING, ST_UP, ST_WAIT, ST_CLOSING } pg_state;
typedef enum { REQ_QUERY, REQ_SYNC } req_kind;

typedef struct pg_req {
  struct pg_req *next;
  req_kind kind;
  bool autosync;      /* REQ_QUERY: sync sent right after it */
  bool awaiting_sync; /* REQ_QUERY autosync: results delivered, sync not yet */
  bool internal;      /* the connection's own (the port probe): not counted */
  bool called;        /* callback done: never twice */
  int fail;           /* status for the done list */
  int nparams;
  int result_format; /* 0 text, 1 binary */
  unsigned nres;     /* results received (REQ_QUERY) */
  acs_pg_cb cb;
  void *arg;
  PGresult *res;
  uint64_t sent_ns;
  char *sql;
  const char **params;
  int *lengths, *formats; /* NULL: all text parameters */
} pg_req;

typedef struct {
  pg_req *head, *tail;
  size_t n;
} req_list;

typedef struct pg_poll {
  uv_poll_t h;
  acs_pg *c;
} pg_poll;

struct acs_pg {
  uv_loop_t *loop;
  char *dsn;
  acs_pg_opts o;
  char name[32];
  pg_state state;
  PGconn *pgc;
  pg_poll *poll;
  uv_os_sock_t poll_fd;
  int poll_events;
  uv_timer_t timer;  /* connect timeout (CONNECTING) or back-off (WAIT) */
  uv_idle_t prep; /* deferred work: send pending, run done callbacks */
  bool prep_active;
  bool want_write;
  bool in_batch;
  unsigned backoff_ms;
  unsigned sync_limit;     /* sync groups in flight at most (0: any number) */
  unsigned syncs_inflight; /* syncs sent and not answered */
  int pooled;              /* AUTO: -1 not known, 0 direct, 1 pooler seen */
  int handles; /* open handles of struct acs_pg while closing */
  req_list batch, pending, inflight, done;
  /* first error of the sync group being answered */
  char *grp_error;
  char *grp_detail;
  char grp_sqlstate[6];
  int grp_count;  /* statements of the group answered so far */
  int grp_failed; /* index of the one that failed, -1: none, or the commit */
  uint64_t ewma_ns;
  unsigned fail_streak;   /* failed attempts since the last connection */
  uint64_t down_since_ns; /* when the streak began */
  uint64_t last_warn_ns;
  uint64_t n_statements, n_errors, n_connects, n_drops;
  void (*close_cb)(void *arg);
  void *close_arg;
};

static void pg_attempt(acs_pg *c);
static void pg_poll_cb(uv_poll_t *h, int status, int events);

/* --- lists */

static void list_push(req_list *l, pg_req *r) {
  r->next = NULL;
  if (l->tail) {
    l->tail->next = r;
  } else {
    l->head = r;
  }
  l->tail = r;
  l->n++;
}

static void list_push_front(req_list *l, pg_req *r) {
  r->next = l->head;
  l->head = r;
  if (!l->tail) l->tail = r;
  l->n++;
}

static pg_req *list_pop(req_list *l) {
  pg_req *r = l->head;
  if (!r) return NULL;
  l->head = r->next;
  if (!l->head) l->tail = NULL;
  l->n--;
  r->next = NULL;
  return r;
}

static void list_splice(req_list *dst, req_list *src) {
  if (!src->head) return;
  if (dst->tail) {
    dst->tail->next = src->head;
  } else {
    dst->head = src->head;
  }
  dst->tail = src->tail;
  dst->n += src->n;
  *src = (req_list){NULL, NULL, 0};
}

static size_t list_queries(const req_list *l) {
  size_t n = 0;
  for (const pg_req *r = l->head; r; r = r->next) n += r->kind == REQ_QUERY;
  return n;
}

static void req_free(pg_req *r) {
  if (r->res) PQclear(r->res);
  free(r);
}

/* --- deferred work */

static void pg_prep_cb(uv_idle_t *h);

static void pg_kick(acs_pg *c) {
  if (c->prep_active || c->state == ST_CLOSING) return;
  uv_idle_start(&c->prep, pg_prep_cb);
  c->prep_active = true;
}

static void call_cb(pg_req *r, acs_pg_result *res) {
  if (r->called) return;
  r->called = true;
  if (r->cb) r->cb(res, r->arg);
}

static void fail_req(pg_req *r) {
  acs_pg_result res = {r->fail, acs_strerror(r->fail), NULL, "", 0, 0, -1, NULL};
  call_cb(r, &res);
}

/* Moves a whole list to done with status err. */
static void fail_list(acs_pg *c, req_list *l, int err) {
  for (pg_req *r = l->head; r; r = r->next) r->fail = err;
  list_splice(&c->done, l);
  pg_kick(c);
}

static void run_done(acs_pg *c) {
  pg_req *r;
  while ((r = list_pop(&c->done))) {
    fail_req(r);
    req_free(r);
  }
}

static void grp_clear(acs_pg *c) {
  free(c->grp_error);
  free(c->grp_detail);
  c->grp_error = c->grp_detail = NULL;
  c->grp_sqlstate[0] = '\0';
  c->grp_count = 0;
  c->grp_failed = -1;
}

/* --- the poll handle */

static void poll_free_cb(uv_handle_t *h) { free(h->data); }

static void poll_close(acs_pg *c) {
  if (!c->poll) return;
  uv_close((uv_handle_t *)&c->poll->h, poll_free_cb);
  c->poll = NULL;
  c->poll_events = 0;
}

/* Watches libpq's current socket for events; returns 0 or a libuv error. */
static int poll_watch(acs_pg *c, int events) {
  uv_os_sock_t fd = PQsocket(c->pgc);
  if (fd < 0) return UV_EBADF;
  if (c->poll && c->poll_fd != fd) poll_close(c); /* libpq switched sockets */
  if (!c->poll) {
    pg_poll *p = calloc(1, sizeof *p);
    if (!p) return UV_ENOMEM;
    int rc = uv_poll_init_socket(c->loop, &p->h, fd);
    if (rc) {
      free(p);
      return rc;
    }
    p->h.data = p;
    p->c = c;
    c->poll = p;
    c->poll_fd = fd;
    c->poll_events = 0;
  }
  if (events == c->poll_events) return 0;
  int rc = uv_poll_start(&c->poll->h, events, pg_poll_cb);
  if (rc == 0) c->poll_events = events;
  return rc;
}

/* Closes the poll handle, then libpq's connection (in that order: the socket
 * must not be closed under an active poll handle). */
static void pg_teardown(acs_pg *c) {
  poll_close(c);
  c->syncs_inflight = 0;
  if (c->pgc) PQfinish(c->pgc);
  c->pgc = NULL;
  c->want_write = false;
}

/* --- connection life */

static void pg_timer_cb(uv_timer_t *t);

static void pg_schedule_retry(acs_pg *c) {
  c->state = ST_WAIT;
  uv_timer_start(&c->timer, pg_timer_cb, c->backoff_ms, 0);
  unsigned next = c->backoff_ms * 2;
  c->backoff_ms = next > c->o.backoff_max_ms ? c->o.backoff_max_ms : next;
}

/* One line for the log: trailing newlines cut, inner ones (libpq's HINT
 * lines) and tabs turned into spaces. */
static void trim_nl(char *s) {
  size_t n = strlen(s);
  while (n && (s[n - 1] == '\n' || s[n - 1] == ' ')) s[--n] = '\0';
  for (char *p = s; *p; p++)
    if (*p == '\n' || *p == '\t') *p = ' ';
}

/* A connection attempt failed: what was queued meanwhile fails, and we retry
 * after the back-off. */
static void pg_attempt_failed(acs_pg *c, const char *why) {
  char msg[256];
  snprintf(msg, sizeof msg, "%s", why ? why : "unknown error");
  trim_nl(msg);
  /* a long outage logs once, then every 30 s, not once per attempt */
  uint64_t now = uv_hrtime();
  if (c->fail_streak++ == 0 && !c->down_since_ns) c->down_since_ns = now;
  bool loud = c->fail_streak == 1 || now - c->last_warn_ns >= 30000000000ull;
  if (loud) c->last_warn_ns = now;
  acs_log(loud ? ACS_LOG_WARN : ACS_LOG_DEBUG, c->name,
          "connection attempt %u failed: %s (retry in %u ms)", c->fail_streak, msg, c->backoff_ms);
  uv_timer_stop(&c->timer);
  pg_teardown(c);
  fail_list(c, &c->inflight, ACS_EUNAVAILABLE); /* empty, by construction */
  fail_list(c, &c->pending, ACS_EUNAVAILABLE);
  pg_schedule_retry(c);
}

/* An established connection is lost: everything in flight or queued fails. */
static void pg_drop(acs_pg *c, const char *why) {
  char msg[256];
  snprintf(msg, sizeof msg, "%s", why ? why : "unknown error");
  trim_nl(msg);
  acs_log(ACS_LOG_WARN, c->name, "connection lost: %s (%zu in flight, %zu queued)", msg,
          c->inflight.n, c->pending.n);
  c->n_drops++;
  c->fail_streak = 0;
  c->down_since_ns = uv_hrtime();
  pg_teardown(c);
  fail_list(c, &c->inflight, ACS_EUNAVAILABLE);
  fail_list(c, &c->pending, ACS_EUNAVAILABLE);
  c->backoff_ms = c->o.backoff_min_ms;
  pg_schedule_retry(c);
}

static void pg_notice_cb(void *arg, const char *message) {
  acs_pg *c = arg;
  if (!acs_log_enabled(ACS_LOG_DEBUG)) return;
  char msg[512];
  snprintf(msg, sizeof msg, "%s", message);
  trim_nl(msg);
  acs_log(ACS_LOG_DEBUG, c->name, "server notice: %s", msg);
}

static void pg_flush(acs_pg *c);
static int query_new(const char *sql, int nparams, const char *const *params, const int *lengths,
                     pg_req **out);

/* AUTO: the server's answer to "which port is yours". The port libpq dialled
 * differs when a pooler or proxy is in between: one group in flight at a
 * time then (see acs_pg.h). Logged when the finding changes. */
static void probe_cb(acs_pg_result *r, void *arg) {
  acs_pg *c = arg;
  if (r->status == ACS_EUNAVAILABLE || r->status == ACS_ECANCELED || !c->pgc) return;
  const char *dialled = PQport(c->pgc);
  if (!dialled || !dialled[0]) dialled = "5432";
  const char *own = r->status == 0 && r->ntuples == 1 ? acs_pg_getvalue(r, 0, 0) : NULL;
  int pooled = !own || strcmp(own, dialled) != 0;
  c->sync_limit = pooled ? 1 : 0;
  if (pooled != c->pooled) {
    if (pooled && own) {
      acs_log(ACS_LOG_INFO, c->name,
              "the server listens on port %s, port %s was dialled: a pooler or proxy is in "
              "between, one transaction in flight at a time (pg-pipeline = on lifts this)",
              own, dialled);
    } else if (pooled) {
      acs_log(ACS_LOG_WARN, c->name,
              "cannot tell whether a pooler is in between (%s): one transaction in flight at "
              "a time (pg-pipeline = on or off decides)",
              r->error ? r->error : "no answer");
    } else if (c->pooled == 1) {
      acs_log(ACS_LOG_INFO, c->name, "connected directly to the server again: pipelining");
    }
    c->pooled = pooled;
  }
  if (c->pending.head) pg_kick(c);
}

/* Sets the pipeline depth of a new connection; AUTO queues the port probe
 * ahead of everything and holds the rest until it is answered. */
static void pipeline_start(acs_pg *c) {
  c->syncs_inflight = 0;
  c->sync_limit = c->o.pipeline == ACS_PG_PIPELINE_ON ? 0 : 1;
  if (c->o.pipeline != ACS_PG_PIPELINE_AUTO) return;
  pg_req *r = NULL;
  if (query_new("SELECT current_setting('port')", 0, NULL, NULL, &r)) return; /* stays at 1 */
  r->cb = probe_cb;
  r->arg = c;
  r->autosync = true;
  r->internal = true;
  list_push_front(&c->pending, r);
}

static void pg_connected(acs_pg *c) {
  uv_timer_stop(&c->timer);
  if (PQsetnonblocking(c->pgc, 1) != 0 || PQenterPipelineMode(c->pgc) != 1) {
    pg_attempt_failed(c, PQerrorMessage(c->pgc));
    return;
  }
  int rc = poll_watch(c, UV_READABLE);
  if (rc) {
    pg_attempt_failed(c, uv_strerror(rc));
    return;
  }
  c->state = ST_UP;
  grp_clear(c);
  c->backoff_ms = c->o.backoff_min_ms;
  c->n_connects++;
  if (c->down_since_ns) {
    acs_log(ACS_LOG_INFO, c->name, "connected after %u failed attempts, %llu ms down",
            c->fail_streak, (unsigned long long)((uv_hrtime() - c->down_since_ns) / 1000000));
  } else {
    acs_log(ACS_LOG_DEBUG, c->name, "connected (server %d, backend pid %d)",
            PQserverVersion(c->pgc), PQbackendPID(c->pgc));
  }
  c->fail_streak = 0;
  c->down_since_ns = 0;
  pipeline_start(c);
  if (c->pending.head) pg_kick(c);
}

/* One step of PQconnectPoll. libpq may close its socket and open another
 * one (next address, SSL or GSS fallback) which can get the same descriptor
 * number: a poll handle kept across the step would then watch a descriptor
 * the kernel has dropped from epoll. So the handle is closed before each
 * step and a new one made for whatever socket libpq has afterwards. */
static void pg_connect_step(acs_pg *c) {
  poll_close(c);
  PostgresPollingStatusType st = PQconnectPoll(c->pgc);
  int rc = 0;
  switch (st) {
    case PGRES_POLLING_OK:
      pg_connected(c);
      return;
    case PGRES_POLLING_READING:
      rc = poll_watch(c, UV_READABLE);
      break;
    case PGRES_POLLING_WRITING:
      rc = poll_watch(c, UV_WRITABLE);
      break;
    default:
      pg_attempt_failed(c, PQerrorMessage(c->pgc));
      return;
  }
  if (rc) pg_attempt_failed(c, uv_strerror(rc));
}

static void pg_attempt(acs_pg *c) {
  const char *const keys[] = {"fallback_application_name", "dbname", NULL};
  const char *const vals[] = {"acsd", c->dsn, NULL};
  c->state = ST_CONNECTING;
  c->pgc = PQconnectStartParams(keys, vals, 1);
  if (!c->pgc) {
    pg_attempt_failed(c, "out of memory");
    return;
  }
  PQsetNoticeProcessor(c->pgc, pg_notice_cb, c);
  if (PQstatus(c->pgc) == CONNECTION_BAD) {
    pg_attempt_failed(c, PQerrorMessage(c->pgc));
    return;
  }
  uv_timer_start(&c->timer, pg_timer_cb, c->o.connect_timeout_ms, 0);
  /* libpq: behave as if PQconnectPoll had returned PGRES_POLLING_WRITING. */
  int rc = poll_watch(c, UV_WRITABLE);
  if (rc) pg_attempt_failed(c, uv_strerror(rc));
}

static void pg_timer_cb(uv_timer_t *t) {
  acs_pg *c = t->data;
  if (c->state == ST_CONNECTING) {
    pg_attempt_failed(c, "timed out");
  } else if (c->state == ST_WAIT) {
    pg_attempt(c);
  }
}

/* --- sending */

static void pg_flush(acs_pg *c) {
  int r = PQflush(c->pgc);
  if (r < 0) {
    pg_drop(c, PQerrorMessage(c->pgc));
    return;
  }
  c->want_write = r == 1;
  int rc = poll_watch(c, UV_READABLE | (c->want_write ? UV_WRITABLE : 0));
  if (rc) pg_drop(c, uv_strerror(rc));
}

/* Something pending may go out now. pending holds whole groups (a group
 * reaches it at its sync), so the depth limit stops the sending at a
 * group's start, never within one. */
static bool can_send(const acs_pg *c) {
  return c->state == ST_UP && c->pending.head &&
         !(c->sync_limit && c->syncs_inflight >= c->sync_limit);
}

static void pg_send_pending(acs_pg *c) {
  pg_req *r;
  bool sent = false;
  while (can_send(c)) {
    r = list_pop(&c->pending);
    int ok = 1;
    r->sent_ns = uv_hrtime();
    if (r->kind == REQ_QUERY) {
      ok = PQsendQueryParams(c->pgc, r->sql, r->nparams, NULL, r->params, r->lengths, r->formats,
                             r->result_format);
      if (ok && r->autosync) {
        ok = PQpipelineSync(c->pgc);
        c->syncs_inflight++;
      }
      if (!r->internal) c->n_statements++;
    } else {
      ok = PQpipelineSync(c->pgc);
      c->syncs_inflight++;
    }
    list_push(&c->inflight, r);
    sent = true;
    if (!ok) {
      pg_drop(c, PQerrorMessage(c->pgc));
      return;
    }
  }
  if (sent && c->state == ST_UP) pg_flush(c);
}

/* Runs right before the loop polls: whatever the iteration queued goes out
 * in one write. Loops until stable, because the poll that follows is not
 * shortened by work done here: callbacks that queue more statements must
 * see them sent now, not after the next I/O event. */
static void pg_prep_cb(uv_idle_t *h) {
  acs_pg *c = h->data;
  while (c->state != ST_CLOSING && (c->done.head || can_send(c))) {
    run_done(c);
    if (can_send(c)) pg_send_pending(c);
  }
  if (c->state != ST_CLOSING) {
    uv_idle_stop(&c->prep);
    c->prep_active = false;
  }
}

/* --- receiving */

/* Errors that mean the session is over, whatever libpq's status says yet:
 * class 08 (connection exception) and 57P01..57P03 (shutdown, crash, cannot
 * connect now). */
static bool sqlstate_is_disconnect(const char *s) {
  if (!s) return false;
  return strncmp(s, "08", 2) == 0 || strcmp(s, "57P01") == 0 || strcmp(s, "57P02") == 0 ||
         strcmp(s, "57P03") == 0;
}

static void result_fill(acs_pg_result *out, PGresult *res) {
  *out = (acs_pg_result){0, NULL, NULL, "", 0, 0, -1, res};
  out->ntuples = PQntuples(res);
  out->nfields = PQnfields(res);
}

static void grp_note_error(acs_pg *c, PGresult *res) {
  if (c->grp_error) return;
  const char *m = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
  const char *d = PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL);
  const char *s = PQresultErrorField(res, PG_DIAG_SQLSTATE);
  char buf[512];
  if (!m) {
    snprintf(buf, sizeof buf, "%s", PQresultErrorMessage(res));
    trim_nl(buf);
    m = buf[0] ? buf : "unknown server error";
  }
  c->grp_error = strdup(m);
  c->grp_detail = d ? strdup(d) : NULL;
  snprintf(c->grp_sqlstate, sizeof c->grp_sqlstate, "%s", s ? s : "");
}

/* The outcome of a statement from its result; notes the group's first
 * error. */
static void query_outcome(acs_pg *c, PGresult *res, acs_pg_result *out) {
  result_fill(out, res);
  switch (PQresultStatus(res)) {
    case PGRES_TUPLES_OK:
    case PGRES_COMMAND_OK:
    case PGRES_EMPTY_QUERY:
      break;
    case PGRES_PIPELINE_ABORTED:
      out->status = ACS_EABORTED;
      break;
    default: /* PGRES_FATAL_ERROR, and anything we never ask for (COPY) */
      out->status = ACS_EPG;
      if (!c->grp_error) c->grp_failed = c->grp_count;
      grp_note_error(c, res);
      c->n_errors++;
      break;
  }
  c->grp_count++;
}

static void outcome_error(acs_pg *c, acs_pg_result *out, int status) {
  out->status = status;
  out->ntuples = out->nfields = 0;
  out->error = c->grp_error ? c->grp_error : "statement skipped";
  out->detail = c->grp_detail;
  out->sqlstate = c->grp_sqlstate;
}

/* The head query's results are complete (libpq returned NULL). A statement
 * of a group is told now; one on its own (autosync) waits for its sync, so
 * that its callback reports whether its transaction committed. */
static void complete_query(acs_pg *c) {
  pg_req *r = c->inflight.head;
  acs_pg_result out;
  query_outcome(c, r->res, &out);
  if (r->autosync) {
    r->awaiting_sync = true;
    return;
  }
  if (out.status) outcome_error(c, &out, out.status);
  list_pop(&c->inflight);
  call_cb(r, &out);
  req_free(r);
}

static void complete_sync(acs_pg *c) {
  pg_req *r = list_pop(&c->inflight);
  if (c->syncs_inflight) c->syncs_inflight--;
  if (c->pending.head) pg_kick(c);
  uint64_t rtt = uv_hrtime() - r->sent_ns;
  c->ewma_ns = c->ewma_ns ? c->ewma_ns - c->ewma_ns / 8 + rtt / 8 : rtt;
  acs_pg_result out = {0, NULL, NULL, "", 0, 0, -1, NULL};
  if (r->kind == REQ_QUERY) {
    /* a statement on its own: its result, unless it or its commit failed */
    if (r->res) result_fill(&out, r->res);
    if (c->grp_error) outcome_error(c, &out, ACS_EPG);
  } else if (c->grp_error) {
    outcome_error(c, &out, ACS_EPG);
    out.failed_index = c->grp_failed;
  }
  call_cb(r, &out);
  grp_clear(c);
  req_free(r);
}

/* Takes every result libpq has parsed. User callbacks may queue statements
 * or close the connection: the state is checked after each. */
static void pg_read_results(acs_pg *c) {
  int idle = 0;
  while (c->state == ST_UP && !PQisBusy(c->pgc)) {
    PGresult *res = PQgetResult(c->pgc);
    pg_req *h = c->inflight.head;
    if (!res) {
      if (h && h->kind == REQ_QUERY && !h->awaiting_sync && h->nres > 0) {
        idle = 0;
        complete_query(c);
        continue;
      }
      if (++idle > 1) break; /* nothing more for now */
      continue;
    }
    idle = 0;
    ExecStatusType st = PQresultStatus(res);
    const char *sqlstate = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    if (st == PGRES_FATAL_ERROR &&
        (PQstatus(c->pgc) == CONNECTION_BAD || sqlstate_is_disconnect(sqlstate))) {
      char msg[256];
      snprintf(msg, sizeof msg, "%s", PQresultErrorMessage(res));
      PQclear(res);
      pg_drop(c, msg);
      return;
    }
    bool want_sync = h && (h->kind == REQ_SYNC || h->awaiting_sync);
    if (want_sync && st == PGRES_FATAL_ERROR) {
      /* the implicit COMMIT at the sync failed (a deferred constraint, a
       * serialization failure): the group's error, no statement's */
      grp_note_error(c, res);
      c->n_errors++;
      PQclear(res);
      continue;
    }
    if (!h || (st == PGRES_PIPELINE_SYNC) != want_sync) {
      PQclear(res);
      pg_drop(c, "result out of sequence");
      return;
    }
    if (st == PGRES_PIPELINE_SYNC) {
      PQclear(res);
      complete_sync(c);
      continue;
    }
    /* One statement gives one result; should more come, the last one (or
     * the error) is the answer. */
    if (h->res && PQresultStatus(h->res) == PGRES_FATAL_ERROR) {
      PQclear(res);
    } else {
      if (h->res) PQclear(h->res);
      h->res = res;
    }
    h->nres++;
  }
}

static void pg_poll_cb(uv_poll_t *h, int status, int events) {
  acs_pg *c = ((pg_poll *)h->data)->c;
  /* libuv reports EPOLLERR (a refused connect, a reset) as UV_EBADF: libpq
   * finds the real error when it next touches the socket. */
  if (c->state == ST_CONNECTING) {
    pg_connect_step(c);
    return;
  }
  if (c->state != ST_UP) return;
  if (status < 0) {
    pg_drop(c, PQconsumeInput(c->pgc) ? uv_strerror(status) : PQerrorMessage(c->pgc));
    return;
  }
  if (events & UV_READABLE) {
    if (!PQconsumeInput(c->pgc)) {
      pg_drop(c, PQerrorMessage(c->pgc));
      return;
    }
    pg_read_results(c);
    if (c->state != ST_UP) return;
    if (PQstatus(c->pgc) == CONNECTION_BAD) {
      pg_drop(c, PQerrorMessage(c->pgc));
      return;
    }
  }
  if (c->want_write || (events & UV_WRITABLE)) pg_flush(c);
}

/* --- public API */

void acs_pg_opts_defaults(acs_pg_opts *o) {
  *o = (acs_pg_opts){
      .backoff_min_ms = 100, .backoff_max_ms = 1000, .connect_timeout_ms = 2000, .name = "pg"};
}

int acs_pg_pipeline_parse(const char *s, acs_pg_pipeline *out) {
  if (!s || strcmp(s, "auto") == 0) {
    *out = ACS_PG_PIPELINE_AUTO;
  } else if (strcmp(s, "on") == 0) {
    *out = ACS_PG_PIPELINE_ON;
  } else if (strcmp(s, "off") == 0) {
    *out = ACS_PG_PIPELINE_OFF;
  } else {
    return ACS_EINVAL;
  }
  return 0;
}

/* True when every entry of a host list is a socket directory or a numeric
 * address (nothing for libpq to resolve). */
static bool host_is_numeric(const char *list) {
  char one[256];
  while (*list) {
    size_t n = strcspn(list, ",");
    if (n >= sizeof one) return false;
    memcpy(one, list, n);
    one[n] = '\0';
    unsigned char addr[16];
    if (one[0] != '/' && one[0] != '@' && inet_pton(AF_INET, one, addr) != 1 &&
        inet_pton(AF_INET6, one, addr) != 1)
      return false;
    list += n + (list[n] == ',');
  }
  return true;
}

/* Parses the DSN; warns when libpq would resolve a host name on the loop. */
static int dsn_check(const char *dsn, const char *name) {
  char *err = NULL;
  PQconninfoOption *opts = PQconninfoParse(dsn, &err);
  if (!opts) {
    if (err) trim_nl(err);
    acs_log(ACS_LOG_ERR, name, "invalid DSN: %s", err ? err : "out of memory");
    PQfreemem(err);
    return err ? ACS_EINVAL : ACS_ENOMEM;
  }
  const char *host = NULL, *hostaddr = NULL;
  for (PQconninfoOption *o = opts; o->keyword; o++) {
    if (!o->val || !o->val[0]) continue;
    if (strcmp(o->keyword, "host") == 0) host = o->val;
    if (strcmp(o->keyword, "hostaddr") == 0) hostaddr = o->val;
  }
  if (host && !hostaddr && !host_is_numeric(host)) {
    acs_log(ACS_LOG_WARN, name,
            "DSN names host=%s without hostaddr=: libpq resolves it with blocking DNS "
            "on the event loop",
            host);
  }
  PQconninfoFree(opts);
  return 0;
}

int acs_pg_open(uv_loop_t *loop, const char *dsn, const acs_pg_opts *opts, acs_pg **out) {
  int rc = 0;
  acs_pg *c = NULL;
  *out = NULL;
  if (!loop || !dsn) return ACS_EINVAL;
  c = calloc(1, sizeof *c);
  if (!c) return ACS_ENOMEM;
  if (opts) {
    c->o = *opts;
  } else {
    acs_pg_opts_defaults(&c->o);
  }
  if (!c->o.backoff_min_ms) c->o.backoff_min_ms = 100;
  if (c->o.backoff_max_ms < c->o.backoff_min_ms) c->o.backoff_max_ms = c->o.backoff_min_ms;
  if (!c->o.connect_timeout_ms) c->o.connect_timeout_ms = 2000;
  snprintf(c->name, sizeof c->name, "%s", c->o.name ? c->o.name : "pg");
  c->o.name = c->name;
  rc = dsn_check(dsn, c->name);
  if (rc) goto cleanup;
  c->dsn = strdup(dsn);
  if (!c->dsn) {
    rc = ACS_ENOMEM;
    goto cleanup;
  }
  c->loop = loop;
  c->grp_failed = -1;
  c->pooled = -1;
  c->backoff_ms = c->o.backoff_min_ms;
  uv_timer_init(loop, &c->timer); /* cannot fail on Unix */
  uv_idle_init(loop, &c->prep);
  c->timer.data = c;
  c->prep.data = c;
  pg_attempt(c);
  *out = c;
  c = NULL;
cleanup:
  if (c) {
    free(c->dsn);
    free(c);
  }
  return rc;
}

static void pg_handle_closed_cb(uv_handle_t *h) {
  acs_pg *c = h->data;
  if (--c->handles > 0) return;
  run_done(c);
  if (c->close_cb) c->close_cb(c->close_arg);
  grp_clear(c);
  free(c->dsn);
  free(c);
}

int acs_pg_close(acs_pg *c, void (*cb)(void *arg), void *arg) {
  if (c->state == ST_CLOSING) return ACS_ESTATE;
  c->state = ST_CLOSING;
  c->in_batch = false;
  c->close_cb = cb;
  c->close_arg = arg;
  pg_teardown(c);
  fail_list(c, &c->inflight, ACS_ECANCELED);
  fail_list(c, &c->batch, ACS_ECANCELED);
  fail_list(c, &c->pending, ACS_ECANCELED);
  c->handles = 2;
  uv_close((uv_handle_t *)&c->timer, pg_handle_closed_cb);
  uv_close((uv_handle_t *)&c->prep, pg_handle_closed_cb);
  return 0;
}

/* One allocation holds the request, its parameters (a binary one of
 * lengths[i] bytes, a text one NUL-terminated) and the statement. */
static int query_new(const char *sql, int nparams, const char *const *params, const int *lengths,
                     pg_req **out) {
  size_t sl = strlen(sql) + 1;
  size_t total = sizeof(pg_req) + (size_t)nparams * sizeof(char *) + sl;
  if (lengths) total += 2 * (size_t)nparams * sizeof(int);
  for (int i = 0; i < nparams; i++) {
    if (!params[i]) continue;
    total += lengths && lengths[i] >= 0 ? (size_t)lengths[i] : strlen(params[i]) + 1;
  }
  pg_req *r = calloc(1, total);
  if (!r) return ACS_ENOMEM;
  char *p = (char *)(r + 1);
  if (lengths) { /* the int arrays first: they need int alignment */
    r->lengths = (int *)p;
    r->formats = r->lengths + nparams;
    p += 2 * (size_t)nparams * sizeof(int);
  }
  r->params = (const char **)p;
  p += (size_t)nparams * sizeof(char *);
  for (int i = 0; i < nparams; i++) {
    if (!params[i]) continue;
    bool bin = lengths && lengths[i] >= 0;
    size_t n = bin ? (size_t)lengths[i] : strlen(params[i]) + 1;
    memcpy(p, params[i], n);
    r->params[i] = p;
    if (lengths) {
      r->lengths[i] = bin ? lengths[i] : 0;
      r->formats[i] = bin ? 1 : 0;
    }
    p += n;
  }
  memcpy(p, sql, sl);
  r->sql = p;
  r->nparams = nparams;
  r->kind = REQ_QUERY;
  *out = r;
  return 0;
}

static int query_queue(acs_pg *c, const char *sql, int nparams, const char *const *params,
                       const int *lengths, unsigned flags, acs_pg_cb cb, void *arg) {
  pg_req *r = NULL;
  if (!c || !sql || nparams < 0 || nparams > 65535 || (nparams && !params)) return ACS_EINVAL;
  if (c->state == ST_CLOSING) return ACS_ESTATE;
  if ((flags & ACS_PG_FAILFAST) && c->state != ST_UP) return ACS_EUNAVAILABLE;
  int rc = query_new(sql, nparams, params, lengths, &r);
  if (rc) return rc;
  r->cb = cb;
  r->arg = arg;
  r->result_format = (flags & ACS_PG_BINARY_RESULT) ? 1 : 0;
  if (c->in_batch) {
    list_push(&c->batch, r);
  } else {
    r->autosync = true;
    list_push(&c->pending, r);
    if (c->state == ST_UP) pg_kick(c);
  }
  return 0;
}

int acs_pg_query(acs_pg *c, const char *sql, int nparams, const char *const *params, unsigned flags,
                 acs_pg_cb cb, void *arg) {
  return query_queue(c, sql, nparams, params, NULL, flags, cb, arg);
}

int acs_pg_query_bin(acs_pg *c, const char *sql, int nparams, const char *const *params,
                     const int *lengths, unsigned flags, acs_pg_cb cb, void *arg) {
  for (int i = 0; lengths && i < nparams; i++)
    if (lengths[i] < -1) return ACS_EINVAL;
  return query_queue(c, sql, nparams, params, lengths, flags, cb, arg);
}

int acs_pg_begin_batch(acs_pg *c, unsigned flags) {
  if (c->state == ST_CLOSING || c->in_batch) return ACS_ESTATE;
  if ((flags & ACS_PG_FAILFAST) && c->state != ST_UP) return ACS_EUNAVAILABLE;
  c->in_batch = true;
  return 0;
}

int acs_pg_sync(acs_pg *c, acs_pg_cb cb, void *arg) {
  if (!c->in_batch) return ACS_ESTATE;
  pg_req *r = calloc(1, sizeof *r);
  if (!r) return ACS_ENOMEM;
  r->kind = REQ_SYNC;
  r->cb = cb;
  r->arg = arg;
  list_push(&c->batch, r);
  list_splice(&c->pending, &c->batch);
  c->in_batch = false;
  if (c->state == ST_UP) pg_kick(c);
  return 0;
}

void acs_pg_abort_batch(acs_pg *c) {
  if (!c->in_batch) return;
  c->in_batch = false;
  fail_list(c, &c->batch, ACS_ECANCELED);
}

bool acs_pg_in_batch(const acs_pg *c) { return c->in_batch; }

bool acs_pg_is_up(const acs_pg *c) { return c->state == ST_UP; }

uv_loop_t *acs_pg_loop(const acs_pg *c) { return c->loop; }

uint64_t acs_pg_latency_us(const acs_pg *c) { return c->ewma_ns / 1000; }

uint64_t acs_pg_stall_us(const acs_pg *c) {
  if (!c->inflight.head) return 0;
  return (uv_hrtime() - c->inflight.head->sent_ns) / 1000;
}

size_t acs_pg_queue_depth(const acs_pg *c) {
  return list_queries(&c->batch) + list_queries(&c->pending) + list_queries(&c->inflight);
}

void acs_pg_get_stats(const acs_pg *c, acs_pg_stats *st) {
  *st = (acs_pg_stats){0};
  st->up = acs_pg_is_up(c);
  st->latency_us = acs_pg_latency_us(c);
  st->stall_us = acs_pg_stall_us(c);
  st->queued = list_queries(&c->batch) + list_queries(&c->pending);
  st->inflight = list_queries(&c->inflight);
  st->statements = c->n_statements;
  st->errors = c->n_errors;
  st->connects = c->n_connects;
  st->drops = c->n_drops;
  st->pipelined = c->state == ST_UP && c->sync_limit == 0;
}

/* --- results */

const char *acs_pg_getvalue(const acs_pg_result *r, int row, int col) {
  return r->pg_ ? PQgetvalue(r->pg_, row, col) : "";
}

int acs_pg_getlength(const acs_pg_result *r, int row, int col) {
  return r->pg_ ? PQgetlength(r->pg_, row, col) : 0;
}

bool acs_pg_isnull(const acs_pg_result *r, int row, int col) {
  return !r->pg_ || PQgetisnull(r->pg_, row, col);
}

const char *acs_pg_fname(const acs_pg_result *r, int col) {
  return r->pg_ ? PQfname(r->pg_, col) : NULL;
}

int acs_pg_fnumber(const acs_pg_result *r, const char *name) {
  return r->pg_ ? PQfnumber(r->pg_, name) : -1;
}

long long acs_pg_cmd_tuples(const acs_pg_result *r) {
  if (!r->pg_ || r->status) return 0;
  return strtoll(PQcmdTuples(r->pg_), NULL, 10);
}
