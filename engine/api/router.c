/* router.c: the API listener's handler. /health, /ready and /metrics
 * need no token (monitor.c answers the last two); every
 * /api/v1 route is matched (404, 405 with Allow), then the caller is
 * authenticated (401) and authorised by the role its route and method need
 * (403; the table below), then its handler runs. Nothing needs the store
 * before authentication but the token lookup. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_internal.h"
#include "core/acs_traceparent.h"
#include "core/acs_err.h"
#include "net/acs_health.h"

/* Routes: each method with the role it needs and its handler. */
typedef struct route_method {
  const char *method;
  acs__api_role role;
  void (*handler)(acs__api_req *r);
} route_method;

typedef struct route_def {
  const char *allow; /* the methods, for 405 */
  route_method m[3];
} route_def;

enum {
  ROUTE_DEVICES = 1,  /* /api/v1/devices */
  ROUTE_DEVICE,       /* /api/v1/devices/{id} */
  ROUTE_DEVICE_TASKS, /* /api/v1/devices/{id}/tasks */
  ROUTE_DEVICE_TAGS,  /* /api/v1/devices/{id}/tags */
  ROUTE_TASKS,        /* /api/v1/tasks */
  ROUTE_TASK,         /* /api/v1/tasks/{id} */
  ROUTE_TASK_CANCEL,  /* /api/v1/tasks/{id}/cancel */
  ROUTE_TASK_RETRY,   /* /api/v1/tasks/{id}/retry */
  ROUTE_FAULTS,       /* /api/v1/faults */
  ROUTE_FAULT,        /* /api/v1/faults/{device}/{channel} */
  ROUTE_TOKENS,       /* /api/v1/tokens */
  ROUTE_TOKEN,        /* /api/v1/tokens/{id} */
  ROUTE_AUDIT,        /* /api/v1/audit */
  ROUTE_FAULT_RETRY,  /* /api/v1/faults/{device}/{channel}/retry */
  ROUTE_POLICIES,     /* /api/v1/policies */
  ROUTE_POL_GENS,     /* /api/v1/policies/generations */
  ROUTE_POL_RELOAD,   /* /api/v1/policies/reload */
  ROUTE_POL_ACTIVATE, /* /api/v1/policies/activate */
  ROUTE_POL_ROLLBACK, /* /api/v1/policies/rollback */
  ROUTE_POL_SOURCE,   /* /api/v1/policies/generations/{id}/source */
  ROUTE_POL_ROLLOUT,  /* /api/v1/policies/rollout */
  ROUTE_POL_RO_DONE,  /* /api/v1/policies/rollout/complete */
  ROUTE_POL_RO_ABORT, /* /api/v1/policies/rollout/abort */
  ROUTE_ALARMS,       /* /api/v1/alarms */
  ROUTE_ALARM,        /* /api/v1/alarms/{id} */
  ROUTE_ALARM_ACK,    /* /api/v1/alarms/{id}/acknowledge */
  ROUTE_BULKS,        /* /api/v1/bulk */
  ROUTE_BULK,         /* /api/v1/bulk/{id} */
  ROUTE_BULK_PAUSE,   /* /api/v1/bulk/{id}/pause */
  ROUTE_BULK_RESUME,  /* /api/v1/bulk/{id}/resume */
  ROUTE_BULK_CANCEL,  /* /api/v1/bulk/{id}/cancel */
  ROUTE_FILES,        /* /api/v1/files */
  ROUTE_FILE,         /* /api/v1/files/{name} */
  ROUTE_DEVICE_HISTORY, /* /api/v1/devices/{id}/history */
  ROUTE_SYS_HEALTH,   /* /api/v1/system/health */
  ROUTE_TELEMETRY,    /* /api/v1/telemetry/current */
  ROUTE_STOMP,        /* /api/v1/stomp/metrics */
  ROUTE_SYS_LOG,      /* /api/v1/system/log */
  ROUTE_DEVICE_EXPORT, /* /api/v1/devices/export (a device id always has a -) */
  ROUTE_DEVICE_TRACE, /* /api/v1/devices/{id}/trace */
  ROUTE_TRACES,       /* /api/v1/traces */
  ROUTE_POL_TEST,     /* /api/v1/policies/test */
  ROUTE_COUNT,
};

#define RO ACS__ROLE_READONLY
#define OP ACS__ROLE_OPERATOR
#define AD ACS__ROLE_ADMIN

static const route_def routes[ROUTE_COUNT] = {
    [ROUTE_DEVICES] = {"GET", {{"GET", RO, acs__api_devices_list}}},
    [ROUTE_DEVICE_EXPORT] = {"GET", {{"GET", RO, acs__api_devices_export}}},
    [ROUTE_DEVICE_TRACE] = {"GET, POST, DELETE",
                            {{"GET", OP, acs__api_trace_get},
                             {"POST", OP, acs__api_trace_start},
                             {"DELETE", OP, acs__api_trace_stop}}},
    [ROUTE_TRACES] = {"POST", {{"POST", OP, acs__api_traces_start}}},
    [ROUTE_DEVICE] = {"GET, DELETE",
                      {{"GET", RO, acs__api_device_get}, {"DELETE", AD, acs__api_device_delete}}},
    [ROUTE_DEVICE_TASKS] = {"GET, POST",
                            {{"GET", RO, acs__api_device_tasks_list},
                             {"POST", OP, acs__api_task_create}}},
    [ROUTE_DEVICE_TAGS] = {"POST", {{"POST", OP, acs__api_device_tags}}},
    [ROUTE_DEVICE_HISTORY] = {"GET", {{"GET", RO, acs__api_device_history}}},
    [ROUTE_TASKS] = {"GET", {{"GET", RO, acs__api_tasks_list}}},
    [ROUTE_TASK] = {"GET, DELETE",
                    {{"GET", RO, acs__api_task_get}, {"DELETE", OP, acs__api_task_cancel}}},
    [ROUTE_TASK_CANCEL] = {"POST", {{"POST", OP, acs__api_task_cancel}}},
    [ROUTE_TASK_RETRY] = {"POST", {{"POST", OP, acs__api_task_retry}}},
    [ROUTE_FAULTS] = {"GET", {{"GET", RO, acs__api_faults_list}}},
    [ROUTE_FAULT] = {"DELETE", {{"DELETE", OP, acs__api_fault_delete}}},
    [ROUTE_TOKENS] = {"GET, POST",
                      {{"GET", AD, acs__api_tokens_list}, {"POST", AD, acs__api_token_create}}},
    [ROUTE_TOKEN] = {"DELETE", {{"DELETE", AD, acs__api_token_revoke}}},
    [ROUTE_AUDIT] = {"GET", {{"GET", AD, acs__api_audit_list}}},
    [ROUTE_FAULT_RETRY] = {"POST", {{"POST", OP, acs__api_fault_retry}}},
    [ROUTE_POLICIES] = {"GET, POST",
                        {{"GET", RO, acs__api_policies_get}, {"POST", AD, acs__api_policies_push}}},
    [ROUTE_POL_GENS] = {"GET", {{"GET", RO, acs__api_policy_generations}}},
    [ROUTE_POL_RELOAD] = {"POST", {{"POST", AD, acs__api_policies_reload}}},
    [ROUTE_POL_ACTIVATE] = {"POST", {{"POST", AD, acs__api_policies_activate}}},
    [ROUTE_POL_ROLLBACK] = {"POST", {{"POST", AD, acs__api_policies_rollback}}},
    [ROUTE_POL_TEST] = {"POST", {{"POST", AD, acs__api_policies_test}}},
    [ROUTE_POL_SOURCE] = {"GET", {{"GET", RO, acs__api_policy_source}}},
    [ROUTE_POL_ROLLOUT] = {"GET, POST",
                           {{"GET", RO, acs__api_policy_rollout_get},
                            {"POST", AD, acs__api_policy_rollout_start}}},
    [ROUTE_POL_RO_DONE] = {"POST", {{"POST", AD, acs__api_policy_rollout_complete}}},
    [ROUTE_POL_RO_ABORT] = {"POST", {{"POST", AD, acs__api_policy_rollout_abort}}},
    [ROUTE_ALARMS] = {"GET", {{"GET", RO, acs__api_alarms_list}}},
    [ROUTE_ALARM] = {"GET", {{"GET", RO, acs__api_alarm_get}}},
    [ROUTE_ALARM_ACK] = {"POST", {{"POST", OP, acs__api_alarm_acknowledge}}},
    [ROUTE_BULKS] = {"GET, POST",
                     {{"GET", RO, acs__api_bulk_list}, {"POST", OP, acs__api_bulk_create}}},
    [ROUTE_BULK] = {"GET", {{"GET", RO, acs__api_bulk_get}}},
    [ROUTE_BULK_PAUSE] = {"POST", {{"POST", OP, acs__api_bulk_pause}}},
    [ROUTE_BULK_RESUME] = {"POST", {{"POST", OP, acs__api_bulk_resume}}},
    [ROUTE_BULK_CANCEL] = {"POST", {{"POST", OP, acs__api_bulk_cancel}}},
    [ROUTE_FILES] = {"GET, POST",
                     {{"GET", RO, acs__api_files_list}, {"POST", OP, acs__api_file_upload}}},
    [ROUTE_FILE] = {"GET, DELETE",
                    {{"GET", RO, acs__api_file_get}, {"DELETE", OP, acs__api_file_delete}}},
    [ROUTE_SYS_HEALTH] = {"GET", {{"GET", RO, acs__api_system_health}}},
    [ROUTE_TELEMETRY] = {"GET", {{"GET", RO, acs__api_telemetry}}},
    [ROUTE_STOMP] = {"GET", {{"GET", RO, acs__api_stomp_metrics}}},
    [ROUTE_SYS_LOG] = {"GET, PUT",
                       {{"GET", RO, acs__api_log_get}, {"PUT", AD, acs__api_log_set}}},
};

static const route_method *route_method_of(const acs__api_req *r) {
  const route_def *d = &routes[r->route];
  for (size_t i = 0; i < 3 && d->m[i].method; i++) {
    if (strcmp(d->m[i].method, r->req->method) == 0) return &d->m[i];
  }
  return NULL;
}

static const char prefix[] = "/api/v1/";

void acs__api_req_free(acs__api_req *r) {
  free(r->device_id);
  free(r->task_id);
  free(r->token_name);
  free(r->pg_error);
  free(r->cursor);
  free(r->next_cursor);
  free(r->location);
  free(r->channel);
  free(r->name);
  free(r->state);
  if (r->aux_free) r->aux_free(r->aux_ctx);
  json_decref(r->doc);
  json_decref(r->aux);
  json_decref(r->body);
  free(r);
}

/* Path segments after the prefix, raw (percent-encoding kept). */
typedef struct segs {
  const char *p[5];
  size_t n[5];
  int count; /* 5 means "more than 4" */
} segs;

static void split(const char *path, segs *s) {
  s->count = 0;
  const char *p = path;
  while (s->count < 5) {
    const char *slash = strchr(p, '/');
    size_t n = slash ? (size_t)(slash - p) : strlen(p);
    s->p[s->count] = p;
    s->n[s->count] = n;
    s->count++;
    if (!slash) return;
    p = slash + 1;
  }
}

static bool seg_is(const segs *s, int i, const char *word) {
  return s->n[i] == strlen(word) && memcmp(s->p[i], word, s->n[i]) == 0;
}

/* Decodes the {id} segment exactly once (the device id's own
 * percent-encoding stays). 0, ACS_EINVAL (malformed or empty), ACS_ENOMEM. */
static int decode_segment(const char *s, size_t n, char **out) {
  acs_buf b = ACS_BUF_INIT;
  int rc = n ? acs_http_url_decode(s, n, false, &b) : ACS_EINVAL;
  if (rc == 0 && b.len == 0) rc = ACS_EINVAL;
  if (rc) {
    acs_buf_free(&b);
    return rc;
  }
  *out = acs_buf_steal(&b, NULL);
  return 0;
}

static void authorized(acs__api_req *r) {
  const route_method *m = route_method_of(r);
  if (r->role < m->role) {
    acs__api_error(r, 403, "token '%s' has role %s; %s %s needs %s", r->token_name,
                   acs__api_role_name(r->role), r->req->method, r->req->path,
                   acs__api_role_name(m->role));
    return;
  }
  m->handler(r);
}

static bool is_digits(const char *s, size_t n) {
  if (n == 0 || n > 18) return false;
  for (size_t i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9') return false;
  }
  return true;
}

static void route(acs__api_req *r) {
  const char *path = r->req->path;
  if (strcmp(path, "/health") == 0) {
    r->allow = "GET, HEAD";
    acs__api_error(r, 405, "method not allowed");
    return;
  }
  if (strncmp(path, prefix, sizeof prefix - 1) != 0) {
    acs__api_error(r, 404, "not found");
    return;
  }
  segs s;
  split(path + sizeof prefix - 1, &s);
  int rc = 0, id_seg = -1;
  bool devices = s.count >= 2 && seg_is(&s, 0, "devices") && s.n[1] > 0;
  bool tasks = s.count >= 2 && seg_is(&s, 0, "tasks") && is_digits(s.p[1], s.n[1]);
  bool alarm = s.count >= 2 && seg_is(&s, 0, "alarms") && is_digits(s.p[1], s.n[1]);
  bool bulk = s.count >= 2 && seg_is(&s, 0, "bulk") && is_digits(s.p[1], s.n[1]);
  if (s.count == 1 && seg_is(&s, 0, "devices")) {
    r->route = ROUTE_DEVICES;
  } else if (devices && s.count == 2 && seg_is(&s, 1, "export")) {
    r->route = ROUTE_DEVICE_EXPORT;
  } else if (devices && s.count == 2) {
    r->route = ROUTE_DEVICE;
  } else if (devices && s.count == 3 && seg_is(&s, 2, "tasks")) {
    r->route = ROUTE_DEVICE_TASKS;
  } else if (devices && s.count == 3 && seg_is(&s, 2, "tags")) {
    r->route = ROUTE_DEVICE_TAGS;
  } else if (devices && s.count == 3 && seg_is(&s, 2, "trace")) {
    r->route = ROUTE_DEVICE_TRACE;
  } else if (s.count == 1 && seg_is(&s, 0, "traces")) {
    r->route = ROUTE_TRACES;
  } else if (devices && s.count == 3 && seg_is(&s, 2, "history")) {
    r->route = ROUTE_DEVICE_HISTORY;
  } else if (s.count == 1 && seg_is(&s, 0, "tasks")) {
    r->route = ROUTE_TASKS;
  } else if (tasks && s.count == 2) {
    r->route = ROUTE_TASK;
  } else if (tasks && s.count == 3 && seg_is(&s, 2, "cancel")) {
    r->route = ROUTE_TASK_CANCEL;
  } else if (tasks && s.count == 3 && seg_is(&s, 2, "retry")) {
    r->route = ROUTE_TASK_RETRY;
  } else if (s.count == 1 && seg_is(&s, 0, "faults")) {
    r->route = ROUTE_FAULTS;
  } else if (s.count == 3 && seg_is(&s, 0, "faults") && s.n[1] > 0 && s.n[2] > 0) {
    r->route = ROUTE_FAULT;
  } else if (s.count == 1 && seg_is(&s, 0, "tokens")) {
    r->route = ROUTE_TOKENS;
  } else if (s.count == 2 && seg_is(&s, 0, "tokens") && is_digits(s.p[1], s.n[1])) {
    r->route = ROUTE_TOKEN;
    id_seg = 1;
  } else if (s.count == 1 && seg_is(&s, 0, "audit")) {
    r->route = ROUTE_AUDIT;
  } else if (s.count == 4 && seg_is(&s, 0, "faults") && s.n[1] > 0 && s.n[2] > 0 &&
             seg_is(&s, 3, "retry")) {
    r->route = ROUTE_FAULT_RETRY;
  } else if (s.count == 1 && seg_is(&s, 0, "policies")) {
    r->route = ROUTE_POLICIES;
  } else if (s.count == 2 && seg_is(&s, 0, "policies") && seg_is(&s, 1, "generations")) {
    r->route = ROUTE_POL_GENS;
  } else if (s.count == 2 && seg_is(&s, 0, "policies") && seg_is(&s, 1, "reload")) {
    r->route = ROUTE_POL_RELOAD;
  } else if (s.count == 2 && seg_is(&s, 0, "policies") && seg_is(&s, 1, "activate")) {
    r->route = ROUTE_POL_ACTIVATE;
  } else if (s.count == 2 && seg_is(&s, 0, "policies") && seg_is(&s, 1, "rollback")) {
    r->route = ROUTE_POL_ROLLBACK;
  } else if (s.count == 2 && seg_is(&s, 0, "policies") && seg_is(&s, 1, "test")) {
    r->route = ROUTE_POL_TEST;
  } else if (s.count == 2 && seg_is(&s, 0, "policies") && seg_is(&s, 1, "rollout")) {
    r->route = ROUTE_POL_ROLLOUT;
  } else if (s.count == 3 && seg_is(&s, 0, "policies") && seg_is(&s, 1, "rollout") &&
             (seg_is(&s, 2, "complete") || seg_is(&s, 2, "abort"))) {
    r->route = seg_is(&s, 2, "complete") ? ROUTE_POL_RO_DONE : ROUTE_POL_RO_ABORT;
  } else if (s.count == 4 && seg_is(&s, 0, "policies") && seg_is(&s, 1, "generations") &&
             is_digits(s.p[2], s.n[2]) && seg_is(&s, 3, "source")) {
    r->route = ROUTE_POL_SOURCE;
    id_seg = 2;
  } else if (s.count == 1 && seg_is(&s, 0, "alarms")) {
    r->route = ROUTE_ALARMS;
  } else if (alarm && s.count == 2) {
    r->route = ROUTE_ALARM;
  } else if (alarm && s.count == 3 && seg_is(&s, 2, "acknowledge")) {
    r->route = ROUTE_ALARM_ACK;
  } else if (s.count == 1 && seg_is(&s, 0, "bulk")) {
    r->route = ROUTE_BULKS;
  } else if (bulk &&
             (s.count == 2 || (s.count == 3 && (seg_is(&s, 2, "pause") || seg_is(&s, 2, "resume") ||
                                                seg_is(&s, 2, "cancel"))))) {
    r->route = s.count == 2              ? ROUTE_BULK
               : seg_is(&s, 2, "pause")  ? ROUTE_BULK_PAUSE
               : seg_is(&s, 2, "resume") ? ROUTE_BULK_RESUME
                                         : ROUTE_BULK_CANCEL;
    id_seg = 1;
  } else if (s.count == 1 && seg_is(&s, 0, "files")) {
    r->route = ROUTE_FILES;
  } else if (s.count == 2 && seg_is(&s, 0, "files") && s.n[1] > 0) {
    r->route = ROUTE_FILE;
  } else if (s.count == 2 && seg_is(&s, 0, "system") && seg_is(&s, 1, "health")) {
    r->route = ROUTE_SYS_HEALTH;
  } else if (s.count == 2 && seg_is(&s, 0, "system") && seg_is(&s, 1, "log")) {
    r->route = ROUTE_SYS_LOG;
  } else if (s.count == 2 && seg_is(&s, 0, "telemetry") && seg_is(&s, 1, "current")) {
    r->route = ROUTE_TELEMETRY;
  } else if (s.count == 2 && seg_is(&s, 0, "stomp") && seg_is(&s, 1, "metrics")) {
    r->route = ROUTE_STOMP;
  } else {
    acs__api_error(r, 404, "not found");
    return;
  }
  r->allow = routes[r->route].allow;
  if (tasks || alarm) id_seg = 1;
  if (id_seg > 0 && !(r->task_id = strndup(s.p[id_seg], s.n[id_seg]))) rc = ACS_ENOMEM;
  bool fault = r->route == ROUTE_FAULT || r->route == ROUTE_FAULT_RETRY;
  if (rc == 0 && (devices || fault)) rc = decode_segment(s.p[1], s.n[1], &r->device_id);
  if (rc == 0 && fault) rc = decode_segment(s.p[2], s.n[2], &r->channel);
  if (rc == 0 && r->route == ROUTE_FILE) rc = decode_segment(s.p[1], s.n[1], &r->name);
  if (rc) {
    if (rc == ACS_ENOMEM) {
      acs__api_error(r, 500, "out of memory");
    } else {
      acs__api_error(r, 400, "malformed percent-encoding in the path");
    }
    return;
  }
  if (!route_method_of(r)) {
    acs__api_error(r, 405, "method not allowed");
    return;
  }
  if (!r->aw || !r->aw->pg) {
    acs__api_error(r, 503, "no store configured (acsd runs without --pg)");
    return;
  }
  acs__api_authenticate(r, authorized);
}

void acs_api_handle(acs_conn *c, const acs_http_request *req, void *ctx) {
  if (acs_health_try(c, req)) return;
  if (acs__api_monitor_try(c, req, ctx)) return;
  acs__api_req *r = calloc(1, sizeof *r);
  if (!r) {
    acs_respond_json_error(c, req, 500, "out of memory");
    return;
  }
  r->c = c;
  r->req = req;
  r->app = ctx;
  r->aw = acs_app_worker_of(acs_conn_worker(c));
  r->total = -1;
  /* W3C trace context: kept on what this request creates (an invalid
   * header is ignored, as the recommendation says) */
  const char *tp = acs_http_header_get(req, "traceparent");
  if (tp) acs_traceparent_parse(tp, strlen(tp), r->traceparent, r->trace_id);
  route(r);
}

/* An upload is routed and authenticated from its head: its body is read
 * only once the caller may upload (engine/api/files.c). */
bool acs_api_head(acs_conn *c, const acs_http_request *head, void *ctx) {
  if (strcmp(head->method, "POST") != 0 || strcmp(head->path, "/api/v1/files") != 0) return false;
  acs_api_handle(c, head, ctx);
  return true;
}
