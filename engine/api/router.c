/* router.c: the API listener's handler. /health needs no token; every
 * /api/v1 route is matched (404, 405 with Allow), then the caller is
 * authenticated (401) and authorised by role (403), then its handler runs.
 * Nothing needs the store before authentication but the token lookup. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_internal.h"
#include "core/acs_err.h"
#include "net/acs_health.h"

enum {
  ROUTE_DEVICES = 1,  /* /api/v1/devices */
  ROUTE_DEVICE,       /* /api/v1/devices/{id} */
  ROUTE_DEVICE_TASKS, /* /api/v1/devices/{id}/tasks */
  ROUTE_TASK,         /* /api/v1/tasks/{id} */
};

static const char prefix[] = "/api/v1/";

void acs__api_req_free(acs__api_req *r) {
  free(r->device_id);
  free(r->task_id);
  free(r->token_name);
  free(r->pg_error);
  free(r->cursor);
  free(r->next_cursor);
  free(r->location);
  json_decref(r->doc);
  json_decref(r->aux);
  json_decref(r->body);
  free(r);
}

/* Path segments after the prefix, raw (percent-encoding kept). */
typedef struct segs {
  const char *p[4];
  size_t n[4];
  int count; /* 4 means "more than 3" */
} segs;

static void split(const char *path, segs *s) {
  s->count = 0;
  const char *p = path;
  while (s->count < 4) {
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
  bool write = strcmp(r->req->method, "GET") != 0;
  acs__api_role need = write ? ACS__ROLE_OPERATOR : ACS__ROLE_READONLY;
  if (r->role < need) {
    acs__api_error(r, 403, "token '%s' has role %s; %s %s needs %s", r->token_name,
                   acs__api_role_name(r->role), r->req->method, r->req->path,
                   acs__api_role_name(need));
    return;
  }
  switch (r->route) {
    case ROUTE_DEVICES:
      acs__api_devices_list(r);
      return;
    case ROUTE_DEVICE:
      acs__api_device_get(r);
      return;
    case ROUTE_DEVICE_TASKS:
      if (write) {
        acs__api_task_create(r);
      } else {
        acs__api_device_tasks_list(r);
      }
      return;
    case ROUTE_TASK:
      acs__api_task_get(r);
      return;
    default:
      acs__api_error(r, 404, "not found");
  }
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
  int rc = 0;
  if (s.count == 1 && seg_is(&s, 0, "devices")) {
    r->route = ROUTE_DEVICES;
    r->allow = "GET";
  } else if ((s.count == 2 || (s.count == 3 && seg_is(&s, 2, "tasks"))) &&
             seg_is(&s, 0, "devices") && s.n[1] > 0) {
    r->route = s.count == 2 ? ROUTE_DEVICE : ROUTE_DEVICE_TASKS;
    r->allow = s.count == 2 ? "GET" : "GET, POST";
    rc = decode_segment(s.p[1], s.n[1], &r->device_id);
  } else if (s.count == 2 && seg_is(&s, 0, "tasks") && is_digits(s.p[1], s.n[1])) {
    r->route = ROUTE_TASK;
    r->allow = "GET";
    r->task_id = strndup(s.p[1], s.n[1]);
    if (!r->task_id) rc = ACS_ENOMEM;
  } else {
    acs__api_error(r, 404, "not found");
    return;
  }
  if (rc) {
    if (rc == ACS_ENOMEM) {
      acs__api_error(r, 500, "out of memory");
    } else {
      acs__api_error(r, 400, "malformed percent-encoding in the device id");
    }
    return;
  }
  const char *m = r->req->method;
  bool allowed =
      strcmp(m, "GET") == 0 || (r->route == ROUTE_DEVICE_TASKS && strcmp(m, "POST") == 0);
  if (!allowed) {
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
  route(r);
}
