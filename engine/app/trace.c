/* trace.c: wire traces (acs_trace.h). */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "app/acs_trace.h"
#include "core/acs_buf.h"
#include "core/acs_err.h"
#include "core/acs_log.h"
#include "core/acs_trace_mask.h"
#include "store/acs_pg.h"

#define ACS__TRACE_STR_(x) #x
#define ACS__TRACE_STR(x) ACS__TRACE_STR_(x)

/* The devices traced now: sorted ids, swapped whole by the poller. */
static struct {
  pthread_mutex_t mu;
  char **ids;
  size_t n;
  _Atomic size_t count; /* n, read without the lock */
} set = {.mu = PTHREAD_MUTEX_INITIALIZER};

struct acs_trace_poller {
  acs_app_worker *aw;
  uv_timer_t timer;
  bool busy, cleaned, stopping;
};

static int cmp_id(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static void set_replace(char **ids, size_t n) {
  if (n) qsort(ids, n, sizeof *ids, cmp_id);
  pthread_mutex_lock(&set.mu);
  char **old = set.ids;
  size_t oldn = set.n;
  set.ids = ids;
  set.n = n;
  atomic_store(&set.count, n);
  pthread_mutex_unlock(&set.mu);
  for (size_t i = 0; i < oldn; i++) free(old[i]);
  free(old);
}

bool acs_trace_wanted(const char *device_id) {
  if (atomic_load_explicit(&set.count, memory_order_relaxed) == 0) return false;
  pthread_mutex_lock(&set.mu);
  bool found = set.n && bsearch(&device_id, set.ids, set.n, sizeof *set.ids, cmp_id) != NULL;
  pthread_mutex_unlock(&set.mu);
  return found;
}

/* --- the poller */

static const char sql_active[] =
    "SELECT device_id FROM device_traces WHERE until > now() ORDER BY device_id LIMIT "
    ACS__TRACE_STR(ACS_TRACE_DEVICES_MAX);
/* a restart ends the traces not asked to persist, with their records */
static const char sql_clean[] = "DELETE FROM device_traces WHERE NOT persist";

static void active_cb(acs_pg_result *res, void *arg) {
  acs_trace_poller *p = arg;
  p->busy = false;
  if (p->stopping) {
    free(p);
    return;
  }
  if (res->status) return; /* as it was; asked again at the next tick */
  char **ids = res->ntuples ? calloc((size_t)res->ntuples, sizeof *ids) : NULL;
  size_t n = 0;
  for (int i = 0; ids && i < res->ntuples; i++)
    if ((ids[n] = strdup(acs_pg_getvalue(res, i, 0)))) n++;
  set_replace(ids, n);
}

static void clean_cb(acs_pg_result *res, void *arg) {
  acs_trace_poller *p = arg;
  if (res->status == 0) {
    p->cleaned = true;
    long long n = acs_pg_cmd_tuples(res);
    if (n > 0)
      acs_log(ACS_LOG_INFO, "trace", "%lld wire trace%s not asked to persist ended by the restart",
              n, n == 1 ? "" : "s");
  }
}

static void tick_cb(uv_timer_t *t) {
  acs_trace_poller *p = t->data;
  acs_pg *pg = p->aw->pg;
  if (p->busy || !acs_pg_is_up(pg)) return;
  if (!p->cleaned && acs_pg_query(pg, sql_clean, 0, NULL, ACS_PG_FAILFAST, clean_cb, p)) return;
  if (acs_pg_query(pg, sql_active, 0, NULL, ACS_PG_FAILFAST, active_cb, p) == 0) p->busy = true;
}

int acs_trace_poller_start(acs_app_worker *aw, acs_trace_poller **out) {
  acs_trace_poller *p = calloc(1, sizeof *p);
  if (!p) return ACS_ENOMEM;
  p->aw = aw;
  uv_timer_init(acs_worker_loop(aw->w), &p->timer);
  p->timer.data = p;
  uv_timer_start(&p->timer, tick_cb, 0, ACS_TRACE_POLL_MS);
  *out = p;
  return 0;
}

static void timer_closed_cb(uv_handle_t *h) {
  acs_trace_poller *p = h->data;
  if (p->busy) { /* its statement's callback frees it */
    p->stopping = true;
    return;
  }
  free(p);
}

void acs_trace_poller_stop(acs_trace_poller *p) {
  if (!p) return;
  uv_close((uv_handle_t *)&p->timer, timer_closed_cb);
  set_replace(NULL, 0);
}

/* --- records */

/* One record, and the device's oldest records beyond its max_bytes (this
 * one counted): the DELETE sees the rows as they were before the INSERT. */
static const char sql_record[] =
    "WITH t AS (SELECT device_id, max_bytes FROM device_traces WHERE device_id = $1 AND "
    "until > now()), "
    "i AS (INSERT INTO trace_records (device_id, session, direction, head, body, truncated) "
    "SELECT t.device_id, $2, $3, $4, $5, $6::boolean FROM t RETURNING id) "
    "DELETE FROM trace_records r USING (SELECT x.id FROM t, (SELECT id, sum(octet_length(head) "
    "+ octet_length(body)) OVER (ORDER BY id DESC) AS cum FROM trace_records WHERE device_id = "
    "$1) x WHERE x.cum + $7::bigint > t.max_bytes) d WHERE r.id = d.id";

static void record(acs_app_worker *aw, const char *device_id, const char *session, const char *dir,
                   const acs_buf *head, const char *body, size_t len) {
  if (!aw || !aw->pg) return;
  acs_buf masked = ACS_BUF_INIT;
  bool truncated = len > ACS_TRACE_RECORD_MAX;
  size_t keep = truncated ? ACS_TRACE_RECORD_MAX : len;
  /* whole UTF-8 characters only: the column is text */
  while (truncated && keep > 0 && ((unsigned char)body[keep] & 0xc0) == 0x80) keep--;
  acs_trace_mask_body(body ? body : "", body ? keep : 0, &masked);
  acs_buf_putc(&masked, '\0');
  char size[24];
  snprintf(size, sizeof size, "%zu", head->len + masked.len);
  const char *p[7] = {device_id, session, dir, head->data ? head->data : "",
                      masked.data ? masked.data : "", truncated ? "true" : "false", size};
  if (!acs_buf_err(&masked) && !acs_buf_err(head))
    acs_pg_query(aw->pg, sql_record, 7, p, ACS_PG_FAILFAST, NULL, NULL);
  acs_buf_free(&masked);
}

void acs_trace_request(acs_app_worker *aw, const char *device_id, const char *session,
                       const acs_http_request *req) {
  acs_buf head = ACS_BUF_INIT;
  acs_buf_printf(&head, "%s %s HTTP/%d.%d\r\n", req->method, req->target, req->http_major,
                 req->http_minor);
  for (size_t i = 0; i < req->n_headers; i++)
    acs_trace_mask_header(req->headers[i].name, req->headers[i].value, &head);
  acs_buf_putc(&head, '\0');
  head.len--; /* NUL-terminated, not counted */
  record(aw, device_id, session, "in", &head, req->body, req->body_len);
  acs_buf_free(&head);
}

void acs_trace_response(acs_app_worker *aw, const char *device_id, const char *session, int status,
                        const char *content_type, const char *body, size_t len) {
  acs_buf head = ACS_BUF_INIT;
  acs_buf_printf(&head, "HTTP/1.1 %d %s\r\n", status, acs_http_reason(status));
  if (content_type && len) acs_buf_printf(&head, "Content-Type: %s\r\n", content_type);
  acs_buf_putc(&head, '\0');
  head.len--;
  record(aw, device_id, session, "out", &head, body, len);
  acs_buf_free(&head);
}
