/* session.c: the CWMP session state machine (acs_session.h).
 *
 * Every request of a session is handled on the device's owner worker. A
 * request is matched to its session by the session cookie (instance.worker.
 * random: a cookie naming another worker of this instance sends the
 * connection there) or, for CPEs that drop cookies but keep the TCP
 * connection, by the connection it arrived on. An Inform always starts a new
 * session (stale cookies are ignored); one from a device already in session
 * supersedes it.
 *
 * A session holds at most one request waiting for its answer (s->req), and
 * answers it once the store has what it must keep: the Inform before the
 * InformResponse, a CPE request before its response, an RPC's result before
 * the next RPC goes out, a one-shot RPC's 'sent' mark before it does. */
#include <ctype.h>
#include <jansson.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/acs_trace.h"
#include "coord/acs_coord.h"
#include "core/acs_err.h"
#include "core/acs_log.h"
#include "files/acs_files.h"
#include "net/acs_health.h"
#include "session/acs_endpoint.h"
#include "session/acs_rpc_json.h"
#include "session/session_internal.h"

#define XML_TYPE "text/xml; charset=\"utf-8\""

/* The current request and the RPC in flight of each session live in arenas
 * that survive the handler (store writes are built again on retries). */
typedef struct sess_ext {
  acs__session s;
  acs_arena req_arena; /* the request being answered */
  acs_cwmp_msg req_msg;
  acs_arena rpc_arena; /* the RPC sent, until its answer is stored */
  acs_cwmp_msg rpc_msg;
} sess_ext;

static sess_ext *ext(acs__session *s) { return (sess_ext *)s; }

/* --- the table */

unsigned acs_session_owner(const char *device_id, unsigned n) {
  uint32_t h = 2166136261u;
  for (const unsigned char *p = (const unsigned char *)device_id; *p; p++) {
    h ^= *p;
    h *= 16777619u;
  }
  return n ? h % n : 0;
}

static size_t bucket(const acs_session_table *t, const char *key) {
  return acs_session_owner(key, 0xffffffffu) & (t->nbuckets - 1);
}

int acs_session_table_new(acs_app_worker *aw, acs_session_table **out) {
  acs_session_table *t = calloc(1, sizeof *t);
  if (!t) return ACS_ENOMEM;
  t->aw = aw;
  t->nbuckets = 1024;
  t->by_device = calloc(t->nbuckets, sizeof *t->by_device);
  t->by_cookie = calloc(t->nbuckets, sizeof *t->by_cookie);
  if (!t->by_device || !t->by_cookie) {
    free(t->by_device);
    free(t->by_cookie);
    free(t);
    return ACS_ENOMEM;
  }
  int rc = acs__auth_state_new(t, aw->app->cpe_auth) ? ACS_ENOMEM : 0;
  if (!rc && (rc = acs__sess_lock_table_start(t))) acs__auth_state_stop(t);
  if (!rc && (rc = acs__sess_queued_start(t))) {
    acs__sess_lock_table_stop(t);
    acs__auth_state_stop(t);
  }
  if (rc) {
    free(t->by_device);
    free(t->by_cookie);
    free(t);
    return rc;
  }
  *out = t;
  return 0;
}

size_t acs_session_table_count(const acs_session_table *t) { return t->count; }

static void table_grow(acs_session_table *t) {
  size_t n = t->nbuckets * 2;
  acs__session **bd = calloc(n, sizeof *bd), **bc = calloc(n, sizeof *bc);
  if (!bd || !bc) {
    free(bd);
    free(bc);
    return; /* longer chains, still correct */
  }
  size_t old = t->nbuckets;
  t->nbuckets = n;
  for (size_t i = 0; i < old; i++) {
    for (acs__session *s = t->by_device[i], *next; s; s = next) {
      next = s->next_dev;
      size_t b = bucket(t, s->device_id);
      s->next_dev = bd[b];
      bd[b] = s;
    }
    for (acs__session *s = t->by_cookie[i], *next; s; s = next) {
      next = s->next_cookie;
      size_t b = bucket(t, s->cookie);
      s->next_cookie = bc[b];
      bc[b] = s;
    }
  }
  free(t->by_device);
  free(t->by_cookie);
  t->by_device = bd;
  t->by_cookie = bc;
}

static acs__session *find_device(acs_session_table *t, const char *id) {
  for (acs__session *s = t->by_device[bucket(t, id)]; s; s = s->next_dev)
    if (strcmp(s->device_id, id) == 0) return s;
  return NULL;
}

acs__session *acs__sess_find_device(acs_session_table *t, const char *device_id) {
  return find_device(t, device_id);
}

static acs__session *find_cookie(acs_session_table *t, const char *cookie) {
  for (acs__session *s = t->by_cookie[bucket(t, cookie)]; s; s = s->next_cookie)
    if (strcmp(s->cookie, cookie) == 0) return s;
  return NULL;
}

static void table_link(acs_session_table *t, acs__session *s) {
  if (t->count >= t->nbuckets) table_grow(t);
  size_t b = bucket(t, s->device_id);
  s->next_dev = t->by_device[b];
  t->by_device[b] = s;
  b = bucket(t, s->cookie);
  s->next_cookie = t->by_cookie[b];
  t->by_cookie[b] = s;
  t->count++;
}

static void table_unlink(acs_session_table *t, acs__session *s) {
  acs__session **pp;
  for (pp = &t->by_device[bucket(t, s->device_id)]; *pp; pp = &(*pp)->next_dev) {
    if (*pp == s) {
      *pp = s->next_dev;
      break;
    }
  }
  for (pp = &t->by_cookie[bucket(t, s->cookie)]; *pp; pp = &(*pp)->next_cookie) {
    if (*pp == s) {
      *pp = s->next_cookie;
      break;
    }
  }
  t->count--;
}

/* --- session life */

void acs__sess_ref(acs__session *s) { s->refs++; }

void acs__sess_unref(acs__session *s) {
  if (--s->refs > 0) return;
  sess_ext *e = ext(s);
  for (size_t i = 0; i < s->ntasks; i++) {
    free(s->tasks[i].rpc);
    free(s->tasks[i].args);
    free(s->tasks[i].command_key);
  }
  free(s->tasks);
  for (size_t i = 0; i < s->nlisted; i++) free(s->listed[i]);
  free(s->listed);
  free(s->listed_us);
  free(s->listed_gone);
  for (size_t i = 0; i < s->nmarks; i++) free(s->marks[i]);
  free(s->marks);
  free(s->marks_us);
  acs__policy_free(s);
  json_decref(s->policy_ctx_json);
  s->policy_ctx_json = NULL;
  if (s->with_policies && s->cache_version) {
    acs_devcache_keep_model(s->devcache, s->device_id, s->cache_version, &s->dm);
    acs_devcache_keep_ctx(s->devcache, s->device_id, s->cache_version, &s->ctx);
  }
  acs_devctx_free(&s->ctx);
  acs_dm_free(&s->dm);
  for (size_t i = 0; i < s->ntags; i++) free(s->tags[i]);
  free(s->tags);
  free(s->tc.command_key);
  free(s->tc.fault.string);
  free(s->tc.start_time);
  free(s->tc.complete_time);
  free(s->device_id);
  acs_arena_reset(&s->arena);
  acs_arena_reset(&e->req_arena);
  acs_arena_reset(&e->rpc_arena);
  free(e);
}

static void timer_close_cb(uv_handle_t *h) { acs__sess_unref(h->data); }

static void conn_closed_cb(acs_conn *c, void *data) {
  acs__session *s = data;
  if (s->bound == c) s->bound = NULL;
}

static void bind_conn(acs__session *s, acs_conn *c) {
  if (s->bound == c) return;
  if (s->bound) acs_conn_set_data(s->bound, NULL, NULL);
  s->bound = c;
  acs_conn_set_data(c, s, conn_closed_cb);
}

/* The outcome of an RPC sent and never answered. A one-shot RPC may have
 * run: it is 'unknown' (never sent again), and becomes 'done' if a later
 * Inform reports its CommandKey in an "M ..." event. When a newer Inform
 * supersedes the session, that Inform's own transaction settles it (writing
 * 'unknown' first would race it). Any other RPC goes back to 'pending' and
 * is sent again in the next session (the superseding Inform's transaction
 * does that too), each time counted in unknown_count: once that reaches
 * task-unknown-limit the task is faulted instead of sent (migration 11). */
static void drop_outstanding(acs__session *s, bool superseded) {
  s->outstanding_policy = false;
  if (!s->outstanding) return;
  if (superseded) {
    /* settled by the superseding Inform's own transaction */
  } else if (!s->outstanding_one_shot) {
    acs__sess_store_task_status(s, s->outstanding->id, "pending", 0, NULL);
  } else {
    acs__sess_store_task_status(s, s->outstanding->id, "unknown", 0, NULL);
  }
  s->outstanding = NULL;
}

static void sess_end(acs__session *s, const char *why) {
  if (s->st == ACS__S_DONE) return;
  acs_app *app = s->t->aw->app;
  acs__policy_log_dropped(s); /* the policy log cap's summary, as the session ends */
  if (why) acs_log(ACS_LOG_DEBUG, "session", "%s: session ended: %s", s->device_id, why);
  drop_outstanding(s, why && strcmp(why, "superseded") == 0);
  /* listings not yet stored: whatever ends the session, they are (not when
   * acsd stops: the store may be gone first; the next session lists again) */
  if (!s->t->stopping && s->t->aw->pg) {
    int rc = acs__sess_store_listed(s, NULL);
    if (rc && rc != ACS_ENOTFOUND)
      acs_log(ACS_LOG_WARN, "session", "%s: listing not stored: %s", s->device_id,
              acs_strerror(rc));
  }
  acs__sess_unlock(s); /* after the outstanding task's write: that one is fenced too */
  s->st = ACS__S_DONE;
  acs_metrics_worker *mw = s->t->aw->metrics;
  if (mw) {
    acs_metric_add(&mw->sessions_ended[acs_metrics_end_of(why)], 1);
    acs_metrics_observe(&mw->session_us, acs_metrics_now_us() - s->t0_us);
  }
  table_unlink(s->t, s);
  atomic_fetch_sub_explicit(&app->sessions, 1, memory_order_relaxed);
  if (s->first_contact) atomic_fetch_sub_explicit(&app->first_contacts, 1, memory_order_relaxed);
  if (s->bound) {
    acs_conn_set_data(s->bound, NULL, NULL);
    s->bound = NULL;
  }
  if (s->timer_open) {
    s->timer_open = false;
    uv_close((uv_handle_t *)&s->timer, timer_close_cb);
  }
  /* acsd stopping: the VM goes with the worker, before store callbacks that
   * still hold the session may have run; so does the device cache, which
   * the session's last reference (a timer's close, after the worker has
   * gone) must not touch: the model is not kept */
  if (s->t->stopping) {
    acs__policy_free(s);
    s->cache_version = 0;
  }
  acs__sess_unref(s); /* the table's */
}

static void sess_timeout_cb(uv_timer_t *h) {
  acs__session *s = h->data;
  acs_log_set_context(s->device_id, s->cookie);
  acs_log_set_trace(s->trace_id[0] ? s->trace_id : NULL);
  if (s->lock_lost) {
    sess_end(s, "session lock lost");
    acs_log_set_context(NULL, NULL);
    return;
  }
  acs_log(ACS_LOG_INFO, "session", "%s: no answer from the CPE within %u ms", s->device_id,
          s->t->aw->app->cfg->session_timeout_ms);
  sess_end(s, "timeout");
  acs_log_set_context(NULL, NULL);
}

static void sess_wait_cpe(acs__session *s) {
  if (!s->timer_open) return;
  /* a session whose lock expired waits for nothing: it ends on the next turn */
  uv_timer_start(&s->timer, sess_timeout_cb,
                 s->lock_lost ? 0 : s->t->aw->app->cfg->session_timeout_ms, 0);
}

static acs__session *sess_new(acs_session_table *t, const char *device_id) {
  acs_app *app = t->aw->app;
  sess_ext *e = calloc(1, sizeof *e);
  if (!e) return NULL;
  acs__session *s = &e->s;
  s->magic = ACS__SESSION_MAGIC;
  s->t = t;
  if (!(s->device_id = strdup(device_id))) {
    free(e);
    return NULL;
  }
  acs_arena_init(&s->arena, 16384);
  acs_arena_init(&e->req_arena, 8192);
  acs_arena_init(&e->rpc_arena, 4096);
  unsigned char r[12];
  if (RAND_bytes(r, sizeof r) != 1) {
    uint64_t x = uv_hrtime() ^ (++t->seq << 32);
    memset(r, 0, sizeof r);
    memcpy(r, &x, sizeof x);
  }
  int n =
      snprintf(s->cookie, sizeof s->cookie, "%s.%u.", app->instance_id, acs_worker_index(t->aw->w));
  for (size_t i = 0; i < sizeof r && n + 2 < (int)sizeof s->cookie; i++, n += 2)
    snprintf(s->cookie + n, 3, "%02x", r[i]);
  uv_timer_init(acs_worker_loop(t->aw->w), &s->timer);
  s->timer.data = s;
  s->timer_open = true;
  s->refs = 2; /* the table's and the timer's */
  s->st = ACS__S_INFORM;
  acs_dm_init(&s->dm);
  s->devcache = t->aw->devcache;
  s->aw = t->aw;
  s->with_policies = t->aw->policies && !t->aw->policies->error;
  table_link(t, s);
  s->t0_us = acs_metrics_now_us();
  if (t->aw->metrics) acs_metric_add(&t->aw->metrics->sessions_started, 1);
  atomic_fetch_add_explicit(&app->sessions, 1, memory_order_relaxed);
  atomic_fetch_add_explicit(&app->sessions_total, 1, memory_order_relaxed);
  return s;
}

void acs_session_table_stop(acs_session_table *t) {
  t->stopping = true;
  for (size_t i = 0; i < t->nbuckets; i++) {
    while (t->by_device[i]) sess_end(t->by_device[i], "acsd stopping");
  }
  acs__sess_lock_table_stop(t);
  acs__sess_queued_stop(t);
  acs__auth_state_stop(t);
  free(t->by_device);
  free(t->by_cookie);
  free(t);
}

/* --- answering */

static void reply(acs_conn *c, int status, const char *type, const acs_buf *body,
                  const char *extra) {
  acs_http_response r = {
      .status = status,
      .content_type = body && body->len ? type : NULL,
      .body = body ? body->data : NULL,
      .body_len = body ? body->len : 0,
      .keep_alive = true,
      .extra_headers = extra,
  };
  acs_conn_respond(c, &r);
}

/* A refusal closes the connection: the CPE comes back after Retry-After on
 * a new one, and a storm of refused CPEs holds no descriptors meanwhile. */
static void reply_503(acs_conn *c, const acs_app *app, const char *why) {
  char extra[64];
  acs_buf body = ACS_BUF_INIT;
  snprintf(extra, sizeof extra, "Retry-After: %u\r\n", app->cfg->retry_after_s);
  acs_buf_printf(&body, "503 Service Unavailable: %s\n", why);
  acs_http_response r = {
      .status = 503,
      .content_type = "text/plain; charset=utf-8",
      .body = body.data,
      .body_len = body.len,
      .keep_alive = false,
      .extra_headers = extra,
  };
  acs_conn_respond(c, &r);
  acs_buf_free(&body);
}

static void reply_fault(acs_conn *c, const acs_cwmp_msg *in, uint32_t code, const char *text) {
  acs_buf body = ACS_BUF_INIT;
  acs_cwmp_encode_fault(in->ns, in->id, code, text, &body);
  reply(c, 500, XML_TYPE, &body, NULL);
  acs_buf_free(&body);
}

/* Answers the session's waiting request with msg (or 204 when NULL). */
static void sess_reply_msg(acs__session *s, const acs_cwmp_msg *msg, bool set_cookie) {
  acs_conn *c = s->req;
  if (!c) return;
  s->req = NULL;
  if (msg && !acs__sess_lock_valid(s)) {
    /* another instance may have the device by now: tell the CPE nothing
     * that acts; the session ends at once (sess_wait_cpe) */
    reply_503(c, s->t->aw->app, "session lock expired");
    return;
  }
  acs_buf body = ACS_BUF_INIT;
  char extra[160];
  extra[0] = '\0';
  if (set_cookie)
    snprintf(extra, sizeof extra, "Set-Cookie: " ACS_SESSION_COOKIE "=%s; Path=/\r\n", s->cookie);
  int status = msg && acs_cwmp_encode(msg, &body) == 0 ? 200 : msg ? 500 : 204;
  if (s->traced)
    acs_trace_response(s->t->aw, s->device_id, s->cookie, status, XML_TYPE, body.data, body.len);
  if (status == 200) {
    reply(c, 200, XML_TYPE, &body, extra[0] ? extra : NULL);
  } else {
    reply(c, status, NULL, NULL, extra[0] ? extra : NULL);
  }
  acs_buf_free(&body);
}

static void sess_reply_503(acs__session *s, const char *why) {
  acs_conn *c = s->req;
  if (!c) return;
  s->req = NULL;
  reply_503(c, s->t->aw->app, why);
}

/* --- the ACS's turn: queued tasks, one RPC per response */

static void next_rpc(acs__session *s);
static void queued_read_cb(acs__session *s, int status);

static char **command_key_field(acs_cwmp_msg *m) {
  switch (m->kind) {
    case ACS_CWMP_REBOOT:
      return &m->u.command_key_req.command_key;
    case ACS_CWMP_DOWNLOAD:
      return &m->u.download.command_key;
    case ACS_CWMP_UPLOAD:
      return &m->u.upload.command_key;
    case ACS_CWMP_SCHEDULE_INFORM:
      return &m->u.schedule_inform.command_key;
    case ACS_CWMP_SCHEDULE_DOWNLOAD:
      return &m->u.schedule_download.command_key;
    case ACS_CWMP_CHANGE_DU_STATE:
      return &m->u.change_du_state.command_key;
    default:
      return NULL;
  }
}

static void send_outstanding(acs__session *s) {
  sess_ext *e = ext(s);
  acs__sess_ref(s); /* sess_reply_msg may not end it, but keep the order clear */
  sess_reply_msg(s, &e->rpc_msg, false);
  sess_wait_cpe(s);
  acs__sess_unref(s);
}

static void marked_sent_cb(acs__session *s, int status) {
  if (s->st == ACS__S_DONE) {
    sess_reply_msg(s, NULL, false);
    return;
  }
  if (status) {
    /* cannot record it: do not send it; the CPE gets 204, the task waits */
    s->outstanding = NULL;
    sess_reply_msg(s, NULL, false);
    sess_end(s, "store unavailable");
    return;
  }
  if (!s->outstanding) { /* cancelled or sent elsewhere meanwhile */
    next_rpc(s);
    return;
  }
  if (s->trace_id[0]) { /* a task an API request with a traceparent made */
    char id[24];
    snprintf(id, sizeof id, "%lld", (long long)s->outstanding->id);
    acs_log_set_trace(s->trace_id);
    acs_log_field f[] = {{"task", id}, {"rpc", s->outstanding->rpc}};
    acs_log_fields(ACS_LOG_INFO, "session", f, 2, "%s: task %s (%s) sent, trace %s", s->device_id,
                   id, s->outstanding->rpc, s->trace_id);
  }
  send_outstanding(s);
}

int acs__task_sets_virtual(const acs__task *t) {
  if (strcmp(t->rpc, "SetParameterValues") != 0 || !t->args ||
      !strstr(t->args, "VirtualParameters."))
    return 0;
  json_t *args = json_loads(t->args, 0, NULL);
  const json_t *list = json_object_get(args, "ParameterList");
  size_t n = json_array_size(list), nv = 0;
  for (size_t i = 0; i < n; i++) {
    const char *name = json_string_value(json_object_get(json_array_get(list, i), "Name"));
    nv += name && strncmp(name, "VirtualParameters.", 18) == 0;
  }
  json_decref(args);
  return nv == 0 ? 0 : nv == n ? 1 : -1;
}

static void actions_stored_cb(acs__session *s, int status);
static void listed_stored_cb(acs__session *s, int status);
/* A task's RPC, converted: recorded 'sent' first if one-shot, then sent. */
static void send_task(acs__session *s, acs__task *task, acs_cwmp_kind kind) {
  sess_ext *e = ext(s);
  e->rpc_msg.ns = s->ns;
  snprintf(s->outstanding_id, sizeof s->outstanding_id, "acsd-%llx",
           (unsigned long long)++s->t->seq);
  e->rpc_msg.id = s->outstanding_id;
  s->outstanding = task;
  s->outstanding_kind = kind;
  s->outstanding_one_shot = acs_rpc_is_one_shot(kind);
  if (s->t->aw->pg) {
    /* still pending and not expired; a one-shot RPC recorded 'sent' first */
    char **ck = s->outstanding_one_shot ? command_key_field(&e->rpc_msg) : NULL;
    char key[48];
    if (ck && (!*ck || !**ck)) {
      snprintf(key, sizeof key, "acsd-task-%lld", (long long)task->id);
      *ck = acs_arena_strdup(&e->rpc_arena, key);
    }
    s->trace_id[0] = '\0'; /* the task's own, read as it is marked sent */
    if (acs__sess_store_mark_sent(s, task, ck ? *ck : NULL, false, marked_sent_cb) == 0)
      return;
    s->outstanding = NULL;
    sess_reply_msg(s, NULL, false);
    sess_end(s, "store unavailable");
    return;
  }
  send_outstanding(s);
}

/* A Download naming a file: its grant made and the file read
 * (engine/files), the RPC gets URL, FileType, FileSize and credentials. */
typedef struct file_dl {
  acs__session *s;
  acs__task *task;
} file_dl;

static void file_ready_cb(int status, const acs_files_download *d, void *arg) {
  file_dl *f = arg;
  acs__session *s = f->s;
  acs__task *task = f->task;
  free(f);
  if (s->st == ACS__S_DONE) {
    sess_reply_msg(s, NULL, false);
  } else if (status == ACS_ENOTFOUND || status == ACS_EINVAL) {
    acs__sess_store_task_status(
        s, task->id, "fault", 8003,
        status == ACS_EINVAL ? "no file server URL is configured" : "the file no longer exists");
    next_rpc(s);
  } else if (status || acs_files_download_apply(d, &ext(s)->rpc_msg, &ext(s)->rpc_arena)) {
    sess_reply_msg(s, NULL, false); /* the task waits for the next session */
    sess_end(s, "store unavailable");
  } else {
    send_task(s, task, ACS_CWMP_DOWNLOAD);
  }
  acs__sess_unref(s);
}

static int file_prepare(acs__session *s, acs__task *task, const char *file) {
  file_dl *f = calloc(1, sizeof *f);
  if (!f) return ACS_ENOMEM;
  f->s = s;
  f->task = task;
  acs__sess_ref(s);
  int rc = acs_files_download_prepare(s->t->aw, s->req, task->id, file,
                                      ext(s)->rpc_msg.u.download.delay_seconds, file_ready_cb, f);
  if (rc) {
    acs__sess_unref(s);
    free(f);
  }
  return rc;
}

/* The policy phase's next RPC, its CPU time counted (policies only). */
static bool policy_next_counted(acs__session *s) {
  acs_metrics_worker *mw = s->t->aw->metrics;
  bool first = !s->pol;
  uint64_t c0 = mw ? acs_metrics_thread_cpu_us() : 0;
  bool more = acs__policy_next(s, acs_policy_pick(s->t->aw, s->device_id), &ext(s)->rpc_msg);
  if (mw) {
    acs_metric_add(&mw->policy_cpu_us, acs_metrics_thread_cpu_us() - c0);
    if (first && s->pol) acs_metric_add(&mw->policy_runs, 1);
  }
  return more;
}

/* The session's lock expired before the ACS's turn (session_lock.c): no
 * task is touched, the waiting request gets 503, the session ends. */
static bool sess_lock_gone(acs__session *s) {
  if (acs__sess_lock_valid(s)) return false;
  sess_reply_503(s, "session lock expired");
  sess_end(s, "session lock lost");
  return true;
}

static void next_rpc(acs__session *s) {
  sess_ext *e = ext(s);
  char err[256];
  if (sess_lock_gone(s)) return;
  while (s->next_task < s->ntasks) {
    acs__task *task = &s->tasks[s->next_task++];
    if (strcmp(task->rpc, ACS_RPC_PROVISION) == 0) {
      /* run by the policy phase, which settles it */
      if (!s->with_policies)
        acs__sess_store_task_status(s, task->id, "fault", 8000,
                                    "no policies: acsd runs without --policies");
      continue;
    }
    err[0] = '\0';
    int virt = acs__task_sets_virtual(task);
    if (virt) { /* virtual parameters: set by their rules in the policy phase */
      if (virt < 0 || !s->with_policies)
        acs__sess_store_task_status(
            s, task->id, "fault", 8003,
            virt < 0 ? "virtual and real parameters in one SetParameterValues: use two tasks"
                     : "virtual parameters need policies: acsd runs without --policies");
      continue;
    }
    acs_cwmp_kind kind = acs_cwmp_kind_from_name(task->rpc);
    if (!acs_rpc_is_task_kind(kind)) {
      acs__sess_store_task_status(s, task->id, "fault", 8000, "not an ACS RPC");
      continue;
    }
    acs_arena_reset(&e->rpc_arena);
    json_error_t jerr;
    json_t *args = json_loads(task->args ? task->args : "{}", 0, &jerr);
    char *file = acs_files_task_file(kind, args);
    int rc = args ? acs_rpc_from_json(kind, args, &e->rpc_arena, &e->rpc_msg, err, sizeof err)
                  : ACS_EINVAL;
    if (!args) snprintf(err, sizeof err, "args: %s", jerr.text);
    json_decref(args);
    bool waiting = false;
    if (!rc && file) {
      rc = s->t->aw->pg ? file_prepare(s, task, file) : ACS_EINVAL;
      waiting = rc == 0;
      if (rc == ACS_EINVAL) snprintf(err, sizeof err, "no file server URL is configured");
    }
    free(file);
    if (waiting) return; /* file_ready_cb goes on */
    if (rc && rc != ACS_EINVAL && err[0] == '\0') {
      sess_reply_msg(s, NULL, false); /* the store: the task waits for the next session */
      sess_end(s, "store unavailable");
      return;
    }
    if (rc) {
      acs__sess_store_task_status(s, task->id, "fault", 8003, err);
      continue;
    }
    send_task(s, task, kind);
    return;
  }
  /* the tasks are done: the policies' turn */
  if (s->with_policies && policy_next_counted(s)) {
    e->rpc_msg.ns = s->ns;
    snprintf(s->outstanding_id, sizeof s->outstanding_id, "acsd-%llx",
             (unsigned long long)++s->t->seq);
    e->rpc_msg.id = s->outstanding_id;
    s->outstanding = NULL;
    s->outstanding_policy = true;
    s->outstanding_kind = e->rpc_msg.kind;
    s->outstanding_one_shot = false;
    send_outstanding(s);
    return;
  }
  /* the one-shot actions the policies asked for become tasks, then go out */
  if (s->with_policies && s->t->aw->pg && acs__policy_flush_actions(s, actions_stored_cb)) return;
  /* tasks queued meanwhile (another instance's signal): this session sends them */
  if (s->tasks_queued && s->t->aw->pg) {
    s->tasks_queued = false;
    int64_t after = 0;
    for (size_t i = 0; i < s->ntasks; i++)
      if (s->tasks[i].id > after) after = s->tasks[i].id;
    if (acs__sess_store_tasks_since(s, after, queued_read_cb) == 0) return;
  }
  /* nothing more to do: the listings not yet stored, then 204 ends the session */
  if (s->t->aw->pg && acs__sess_store_listed(s, listed_stored_cb) == 0) return;
  acs__policy_log_dropped(s); /* the cap's summary line before the CPE hears the end */
  sess_reply_msg(s, NULL, false);
  sess_end(s, NULL);
}

static void queued_read_cb(acs__session *s, int status) {
  if (s->st == ACS__S_DONE) {
    sess_reply_msg(s, NULL, false);
    return;
  }
  if (status) { /* not read: the next session sends them */
    sess_reply_msg(s, NULL, false);
    sess_end(s, "store unavailable");
    return;
  }
  next_rpc(s);
}

static void listed_stored_cb(acs__session *s, int status) {
  if (status)
    acs_log(ACS_LOG_WARN, "session", "%s: listing not stored: %s", s->device_id,
            acs_strerror(status));
  if (s->st != ACS__S_DONE) acs__policy_log_dropped(s);
  sess_reply_msg(s, NULL, false);
  sess_end(s, NULL); /* nothing when it has ended meanwhile */
}

static void actions_stored_cb(acs__session *s, int status) {
  if (s->st == ACS__S_DONE) {
    sess_reply_msg(s, NULL, false);
    return;
  }
  if (status) { /* not recorded: not sent; the next session asks again */
    sess_reply_msg(s, NULL, false);
    sess_end(s, "store unavailable");
    return;
  }
  next_rpc(s);
}

static void result_stored_cb(acs__session *s, int status) {
  if (s->st == ACS__S_DONE) {
    sess_reply_msg(s, NULL, false);
    return;
  }
  if (status) {
    /* the result is lost: the task goes back to pending (not one-shot)
     * or unknown when the store returns; end the session quietly */
    sess_reply_msg(s, NULL, false);
    sess_end(s, "store unavailable");
    return;
  }
  next_rpc(s);
}

/* The CPE's answer (a response or a fault) to the RPC in flight. */
static void on_rpc_answer(acs__session *s, const acs_cwmp_msg *in) {
  sess_ext *e = ext(s);
  acs__task *task = s->outstanding;
  bool fault = in->kind == ACS_CWMP_FAULT;
  acs_metrics_rpc(s->t->aw->metrics, (int)s->outstanding_kind, fault, fault ? in->u.fault.code : 0);
  s->outstanding = NULL;
  if (s->outstanding_policy) {
    s->outstanding_policy = false;
    s->dm.swept = SIZE_MAX; /* unknown, unless the answer is applied to the model */
    acs__policy_answer(s, &e->rpc_msg, in);
    /* a subtree's listing is stored with its values, or at the end */
    if (!s->t->aw->pg || in->kind == ACS_CWMP_FAULT || acs__sess_defer_listed(s, &e->rpc_msg, in) ||
        acs__sess_store_model(s, &e->rpc_msg, in, result_stored_cb) != 0)
      next_rpc(s);
    return;
  }
  /* the policies that run after the tasks see what the tasks read or set */
  if (s->with_policies && in->kind != ACS_CWMP_FAULT &&
      acs_dm_apply(&s->dm, &e->rpc_msg, in, acs_policy_now_ms()))
    acs_log(ACS_LOG_WARN, "session", "%s: out of memory updating the data model", s->device_id);
  if (!s->t->aw->pg) {
    next_rpc(s);
    return;
  }
  if (acs__sess_store_result(s, task, &e->rpc_msg, in, result_stored_cb) == 0) return;
  s->outstanding = task;
  sess_reply_msg(s, NULL, false);
  sess_end(s, "store unavailable");
}

/* --- the CPE's turn */

static void cpe_request_stored_cb(acs__session *s, int status) {
  sess_ext *e = ext(s);
  if (status) {
    /* not durable: no response, so that the CPE sends it again later */
    sess_reply_503(s, "store unavailable");
    sess_end(s, "store unavailable");
    return;
  }
  acs_cwmp_msg rsp;
  acs_cwmp_endpoint_reply(&e->req_msg, &rsp);
  sess_reply_msg(s, &rsp, false);
  if (s->st != ACS__S_DONE) sess_wait_cpe(s);
}

static char *dup_or_null(const char *v) { return v ? strdup(v) : NULL; }

/* The policies of this session see its TransferComplete (device.transfer). */
static void remember_transfer(acs__session *s, const acs_cwmp_transfer_complete *tc) {
  free(s->tc.command_key);
  free(s->tc.fault.string);
  free(s->tc.start_time);
  free(s->tc.complete_time);
  s->tc.command_key = dup_or_null(tc->command_key);
  s->tc.fault.code = tc->fault.code;
  s->tc.fault.string = dup_or_null(tc->fault.string);
  s->tc.start_time = dup_or_null(tc->start_time);
  s->tc.complete_time = dup_or_null(tc->complete_time);
  s->had_tc = true;
}

static void on_cpe_request(acs__session *s) {
  sess_ext *e = ext(s);
  acs_cwmp_msg rsp;
  acs_cwmp_msg *in = &e->req_msg;
  acs_cwmp_reply r = acs_cwmp_endpoint_reply(in, &rsp);
  if (r == ACS_CWMP_REPLY_FAULT) {
    acs_conn *c = s->req;
    s->req = NULL;
    reply_fault(c, in, 8000, NULL);
    sess_wait_cpe(s);
    return;
  }
  if (in->kind == ACS_CWMP_TRANSFER_COMPLETE) remember_transfer(s, &in->u.transfer_complete);
  bool keep =
      in->kind == ACS_CWMP_TRANSFER_COMPLETE || in->kind == ACS_CWMP_AUTONOMOUS_TRANSFER_COMPLETE ||
      in->kind == ACS_CWMP_REQUEST_DOWNLOAD || in->kind == ACS_CWMP_DU_STATE_CHANGE_COMPLETE ||
      in->kind == ACS_CWMP_AUTONOMOUS_DU_STATE_CHANGE_COMPLETE || in->kind == ACS_CWMP_KICKED;
  if (keep && s->t->aw->pg) {
    if (acs__sess_store_event(s, in, cpe_request_stored_cb) == 0) return;
    sess_reply_503(s, "store unavailable");
    sess_end(s, "store unavailable");
    return;
  }
  sess_reply_msg(s, &rsp, false);
  sess_wait_cpe(s);
}

static void on_empty_post(acs__session *s) {
  switch (s->st) {
    case ACS__S_CPE_TURN:
      s->st = ACS__S_ACS_TURN;
      next_rpc(s);
      return;
    case ACS__S_ACS_TURN:
      /* an empty POST where an answer was due: the RPC's fate is unknown */
      if (s->outstanding || s->outstanding_policy) {
        drop_outstanding(s, false);
        sess_reply_msg(s, NULL, false);
        sess_end(s, "empty POST instead of an RPC answer");
        return;
      }
      next_rpc(s);
      return;
    default:
      sess_reply_msg(s, NULL, false);
      return;
  }
}

/* --- the Inform */

static void inform_stored_cb(acs__session *s, int status) {
  sess_ext *e = ext(s);
  (void)e;
  if (s->st == ACS__S_DONE) { /* superseded meanwhile */
    sess_reply_msg(s, NULL, false);
    return;
  }
  if (status) {
    acs_log(ACS_LOG_WARN, "session", "%s: Inform not stored: %s", s->device_id,
            acs_strerror(status));
    /* fenced: a newer session of another instance wrote the device */
    sess_reply_503(s, status == ACS_EFENCED ? ACS_REJECT_LOCKED : "store unavailable");
    sess_end(s, NULL);
    return;
  }
  acs_cwmp_msg rsp;
  acs_cwmp_endpoint_reply(&s->inform, &rsp);
  s->st = ACS__S_CPE_TURN;
  if (s->t->aw->metrics)
    acs_metrics_observe(&s->t->aw->metrics->inform_us, acs_metrics_now_us() - s->t0_us);
  sess_reply_msg(s, &rsp, true);
  if (s->st != ACS__S_DONE) sess_wait_cpe(s);
}

/* With Redis: the device's lock is held (or not). */
static void locked_cb(acs__session *s, int status) {
  if (s->st == ACS__S_DONE) { /* superseded meanwhile, or acsd stopping (s->t is gone) */
    sess_reply_msg(s, NULL, false);
    return;
  }
  acs_app_worker *aw = s->t->aw;
  if (status) {
    const char *why = status == ACS_EAGAIN ? ACS_REJECT_LOCKED : ACS_REJECT_REDIS_DOWN;
    acs_log(ACS_LOG_INFO, "session", "%s: refused: %s", s->device_id, why);
    atomic_fetch_add_explicit(&aw->app->sessions_rejected, 1, memory_order_relaxed);
    acs_metrics_rejected(aw->metrics, why);
    sess_reply_503(s, why);
    sess_end(s, NULL);
    return;
  }
  if (!aw->pg) {
    inform_stored_cb(s, 0);
    return;
  }
  int rc = acs__sess_store_inform(s, inform_stored_cb);
  if (rc) inform_stored_cb(s, rc);
}

/* Why new sessions are refused right now, or NULL. */
static const char *admission(acs_app_worker *aw) {
  acs_app *app = aw->app;
  if (atomic_load_explicit(&app->sessions, memory_order_relaxed) >= (long)app->max_sessions)
    return "too many sessions in flight";
  /* Redis configured and unreachable: no new session, since none could be
   * fenced; sessions already running finish (their lock refreshes fail, and
   * their tokens still guard their writes) */
  if (app->coord && !acs_coord_worker_up(aw->coord)) return ACS_REJECT_REDIS_DOWN;
  if (!aw->pg) return NULL;
  if (!acs_pg_is_up(aw->pg)) return "store unavailable";
  uint64_t slow = (uint64_t)app->cfg->pg_slow_ms * 1000;
  if (acs_pg_stall_us(aw->pg) > slow) return "store too slow";
  /* the Informs queued for the next transactions: one that has waited
   * longer than the bound means a new one would wait longer still */
  if (acs_store_batch_wait_us(aw->batch) > slow / 2) return "store backlog too long";
  if (acs_store_batch_depth(aw->batch) > app->max_sessions) return "store backlog";
  return NULL;
}

static bool is_first_contact(const acs_cwmp_inform *in) {
  for (size_t i = 0; i < in->events.n; i++)
    if (in->events.v[i].code && strcmp(in->events.v[i].code, "0 BOOTSTRAP") == 0) return true;
  return false;
}

/* A first contact discovers and reads the whole data model: its session
 * holds the CPE's answers, the model and the writes queued for the store
 * (~0.3 MB each) and costs the store ~20 ms, so past max-first-contacts in
 * flight more wait with 503 + Retry-After: the store sets the pace either
 * way, and memory stays bounded when a whole fleet is new at once. Counts
 * the session when it is admitted. */
static bool admit_first_contact(acs_app *app) {
  unsigned max = app->cfg->max_first_contacts;
  long n = atomic_fetch_add_explicit(&app->first_contacts, 1, memory_order_relaxed);
  if (!max || n < (long)max) return true;
  atomic_fetch_sub_explicit(&app->first_contacts, 1, memory_order_relaxed);
  return false;
}

static bool blank(const char *p, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (!isspace((unsigned char)p[i])) return false;
  return true;
}

/* An acsd_session value of this instance: its worker, or -1. */
static int cookie_worker(const acs_app *app, const char *v) {
  size_t il = strlen(app->instance_id);
  if (strncmp(v, app->instance_id, il) != 0 || v[il] != '.') return -1;
  char *end;
  long w = strtol(v + il + 1, &end, 10);
  if (end == v + il + 1 || *end != '.' || w < 0 || w > 65535) return -1;
  return (int)w;
}

/* Looks at every acsd_session cookie the request carries (CPEs send stale
 * ones from earlier sessions, echo attributes such as $Path or Path, and
 * some send several Cookie headers): the live session, or in *route the
 * worker a cookie of this instance names. */
static acs__session *match_cookie(acs_session_table *t, const acs_http_request *req, int *route) {
  *route = -1;
  for (size_t h = 0; h < req->n_headers; h++) {
    if (strcasecmp(req->headers[h].name, "Cookie") != 0) continue;
    const char *p = req->headers[h].value;
    while (*p) {
      while (*p == ' ' || *p == '\t' || *p == ';' || *p == ',') p++;
      const char *end = p + strcspn(p, ";,");
      const char *eq = memchr(p, '=', (size_t)(end - p));
      size_t nlen = eq ? (size_t)(eq - p) : 0;
      while (nlen && (p[nlen - 1] == ' ' || p[nlen - 1] == '\t')) nlen--;
      if (eq && nlen == strlen(ACS_SESSION_COOKIE) && memcmp(p, ACS_SESSION_COOKIE, nlen) == 0) {
        const char *v = eq + 1;
        while (*v == ' ' || *v == '"') v++;
        size_t vlen = (size_t)(end - v);
        while (vlen && (v[vlen - 1] == ' ' || v[vlen - 1] == '"')) vlen--;
        char val[128];
        if (vlen < sizeof val) {
          memcpy(val, v, vlen);
          val[vlen] = '\0';
          acs__session *s = find_cookie(t, val);
          if (s) return s;
          int w = cookie_worker(t->aw->app, val);
          if (w >= 0) *route = w;
        }
      }
      p = end;
    }
  }
  return NULL;
}

static bool try_handoff(acs_conn *c, unsigned owner) {
  acs_worker *w = acs_conn_worker(c);
  if (owner == acs_worker_index(w) || acs_conn_handed_off(c) || owner >= acs_worker_count(w))
    return false;
  if (acs_conn_handoff(c, owner) != 0) return false;
  acs_app *app = acs_app_worker_of(w)->app;
  atomic_fetch_add_explicit(&app->handoffs, 1, memory_order_relaxed);
  return true;
}

static void supersede(acs__session *old) {
  acs_app *app = old->t->aw->app;
  atomic_fetch_add_explicit(&app->supersedes, 1, memory_order_relaxed);
  acs_log(ACS_LOG_INFO, "session", "%s: a newer Inform supersedes the session in progress%s",
          old->device_id, old->outstanding ? " (its RPC's outcome is unknown)" : "");
  sess_end(old, "superseded");
}

/* An Inform admitted (and authenticated): its session begins. */
static void inform_start(acs_conn *c, acs_session_table *t, acs_arena *a, acs_cwmp_msg *in) {
  acs_app_worker *aw = t->aw;
  const acs_cwmp_device_id *d = &in->u.inform.device_id;
  acs_buf id = ACS_BUF_INIT;
  if (acs_cwmp_device_id_format(d->oui, d->product_class, d->serial_number, &id)) {
    reply_503(c, aw->app, "out of memory");
    goto done;
  }
  bool first = is_first_contact(&in->u.inform);
  if (first && !admit_first_contact(aw->app)) {
    const char *why = "too many first contacts in flight";
    atomic_fetch_add_explicit(&aw->app->sessions_rejected, 1, memory_order_relaxed);
    acs_metrics_rejected(aw->metrics, why);
    reply_503(c, aw->app, why);
    goto done;
  }
  acs__session *old = find_device(t, id.data);
  if (old) supersede(old);
  acs__session *s = sess_new(t, id.data);
  if (!s) {
    if (first) atomic_fetch_sub_explicit(&aw->app->first_contacts, 1, memory_order_relaxed);
    acs_metrics_rejected(aw->metrics, "out of memory");
    reply_503(c, aw->app, "out of memory");
    goto done;
  }
  if (aw->metrics) {
    acs_metric_add(&aw->metrics->informs, 1);
    for (size_t i = 0; i < in->u.inform.events.n; i++)
      acs_metrics_event(aw->metrics, in->u.inform.events.v[i].code);
  }
  s->first_contact = first; /* counted by admit_first_contact() */
  s->arena = *a; /* the parse now lives with the session */
  acs_arena_init(a, 0);
  s->inform = *in;
  s->ns = in->ns;
  snprintf(s->peer, sizeof s->peer, "%s", acs_conn_peer(c));
  s->req = c;
  bind_conn(s, c);
  s->traced = acs_trace_wanted(s->device_id); /* one atomic load when nothing is traced */
  if (s->traced) acs_trace_request(aw, s->device_id, s->cookie, acs_conn_request(c));
  acs_log_set_context(s->device_id, s->cookie); /* until the handler returns */
  acs_log_set_trace(s->trace_id[0] ? s->trace_id : NULL);
  if (aw->coord) {
    int rc = acs__sess_lock(s, locked_cb);
    if (rc) locked_cb(s, rc);
  } else if (!aw->pg) {
    inform_stored_cb(s, 0);
  } else {
    int rc = acs__sess_store_inform(s, inform_stored_cb);
    if (rc) inform_stored_cb(s, rc);
  }
done:
  acs_buf_free(&id);
}

/* 403 to a client certificate that names another device (certbind.c):
 * no session, nothing stored, the connection closed. */
static void refuse_cert(acs_conn *c, const char *device_id) {
  const acs_tls_peer *p = acs_conn_tls_peer(c);
  acs_log(ACS_LOG_WARN, "session",
          "%s: refused: the client certificate of %s (CN=%s, serial %s) "
          "does not name this device",
          device_id, acs_conn_peer(c), p && p->subject_cn ? p->subject_cn : "-",
          p ? p->serial : "-");
  static const char body[] = "403 Forbidden: the client certificate does not name this device\n";
  acs_http_response r = {403, "text/plain; charset=utf-8", body, sizeof body - 1, false, NULL};
  acs_conn_respond(c, &r);
}

static void on_inform(acs_conn *c, acs_session_table *t, const acs_http_request *req, acs_arena *a,
                      acs_cwmp_msg *in) {
  acs_app_worker *aw = t->aw;
  const acs_cwmp_device_id *d = &in->u.inform.device_id;
  acs_buf id = ACS_BUF_INIT;
  if (acs_cwmp_device_id_format(d->oui, d->product_class, d->serial_number, &id)) {
    reply_fault(c, in, 8003, "Inform: DeviceId needs an OUI and a SerialNumber");
    goto done;
  }
  if (!acs__cert_binds(c, d, id.data, aw->app->tls_match_serial)) {
    refuse_cert(c, id.data);
    goto done;
  }
  if (try_handoff(c, acs_session_owner(id.data, acs_worker_count(aw->w)))) goto done;
  const char *why = admission(aw);
  if (why) {
    atomic_fetch_add_explicit(&aw->app->sessions_rejected, 1, memory_order_relaxed);
    acs_metrics_rejected(aw->metrics, why);
    reply_503(c, aw->app, why);
    goto done;
  }
  if (t->auth) {
    acs__auth_inform(c, t, req, a, in, id.data, inform_start);
  } else {
    inform_start(c, t, a, in);
  }
done:
  acs_buf_free(&id);
}

void acs_session_handle(acs_conn *c, const acs_http_request *req, void *ctx) {
  acs_app_worker *aw = acs_app_worker_of(acs_conn_worker(c));
  acs_session_table *t = aw->sessions;
  if (acs_health_try(c, req)) return;
  if (strcmp(req->method, "POST") != 0) {
    acs_http_response r = {405, NULL, NULL, 0, true, "Allow: POST\r\n"};
    acs_conn_respond(c, &r);
    return;
  }
  int route;
  acs__session *s = match_cookie(t, req, &route);
  if (!s && route >= 0 && try_handoff(c, (unsigned)route)) return;
  if (!s) {
    acs__session *b = acs_conn_data(c);
    if (b && b->st != ACS__S_DONE) s = b;
  }
  if (s && !acs__cert_binds(c, &s->inform.u.inform.device_id, s->device_id,
                            aw->app->tls_match_serial)) {
    refuse_cert(c, s->device_id); /* another device's certificate with this session's cookie */
    return;
  }
  bool empty = blank(req->body, req->body_len);
  if (!s && !empty &&
      atomic_load_explicit(&aw->app->sessions, memory_order_relaxed) >=
          (long)aw->app->max_sessions) {
    /* a request of no session is an Inform (or gets 8003): past capacity it
     * is refused before it costs a parse and a hand-off */
    atomic_fetch_add_explicit(&aw->app->sessions_rejected, 1, memory_order_relaxed);
    acs_metrics_rejected(aw->metrics, "too many sessions in flight");
    reply_503(c, aw->app, "too many sessions in flight");
    return;
  }
  acs_arena a;
  acs_arena_init(&a, 8192);
  acs_cwmp_msg in;
  memset(&in, 0, sizeof in);
  if (!empty) {
    acs_cwmp_error err;
    int rc = acs_cwmp_parse(req->body, req->body_len, &a, NULL, &in, &err);
    if (rc) {
      acs_buf body = ACS_BUF_INIT;
      int status = acs_cwmp_endpoint_refuse(&in, rc, &err, &body);
      reply(c, status, status == 400 ? "text/plain; charset=utf-8" : XML_TYPE, &body, NULL);
      acs_buf_free(&body);
      goto done;
    }
    if (in.kind == ACS_CWMP_INFORM) { /* a new session, whatever the cookie says */
      on_inform(c, t, req, &a, &in);
      goto done;
    }
    /* parsed: what the session needs is in the arena (an Inform's body may
     * still be handed to the device's own worker, above) */
    acs_conn_release_body(c);
  }
  if (!s) {
    if (empty) {
      reply(c, 204, NULL, NULL, NULL);
    } else {
      reply_fault(c, &in, 8003, "no session: a CWMP session begins with an Inform");
    }
    goto done;
  }
  if (s->req) {
    /* the CPE gave up on its last request and sent another */
    acs_metrics_rejected(aw->metrics, "a request of this session is still being processed");
    reply_503(c, aw->app, "a request of this session is still being processed");
    goto done;
  }
  uv_timer_stop(&s->timer);
  bind_conn(s, c);
  s->req = c;
  if (s->traced) acs_trace_request(aw, s->device_id, s->cookie, req);
  acs_log_set_context(s->device_id, s->cookie);
  acs_log_set_trace(s->trace_id[0] ? s->trace_id : NULL);
  if (empty) {
    on_empty_post(s);
    goto done;
  }
  sess_ext *e = ext(s);
  acs_arena_reset(&e->req_arena);
  e->req_arena = a; /* the request's parse lives as long as its answer needs */
  acs_arena_init(&a, 0);
  e->req_msg = in;
  bool is_request =
      in.kind == ACS_CWMP_UNKNOWN || acs_cwmp_response_kind(in.kind) != ACS_CWMP_UNKNOWN;
  if (s->st == ACS__S_ACS_TURN && (s->outstanding || s->outstanding_policy) &&
      (in.kind == ACS_CWMP_FAULT || in.kind == acs_cwmp_response_kind(s->outstanding_kind))) {
    on_rpc_answer(s, &e->req_msg);
  } else if (is_request) {
    on_cpe_request(s); /* CPE requests answered; ACS-only methods get 8000 */
  } else if (s->st == ACS__S_ACS_TURN) {
    /* an answer that does not match the RPC in flight */
    if (s->outstanding) {
      acs__sess_store_task_status(s, s->outstanding->id, "fault", 8003,
                                  "the CPE answered with another message");
      s->outstanding = NULL;
    }
    s->outstanding_policy = false;
    next_rpc(s);
  } else {
    sess_reply_msg(s, NULL, false); /* a response while it was the CPE's turn */
    sess_wait_cpe(s);
  }
done:
  acs_log_set_context(NULL, NULL);
  acs_arena_reset(&a);
}
