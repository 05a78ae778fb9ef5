/* session_queued.c: tasks queued for a device that is in session on this
 * instance, by an operator of any instance (the Redis signal "queued",
 * app_coord.c; docs/architecture.md "Several instances"). The device's
 * owner worker marks its session, which reads its new tasks before its
 * 204 and sends them in the same session. Without the signal (no Redis, a
 * message lost) the tasks wait for the device's next session, as always. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/acs_err.h"
#include "core/acs_log.h"
#include "session/session_internal.h"

typedef struct acs__queued {
  struct acs__queued *next;
  char device_id[];
} acs__queued;

/* Every running session table of the process; a table leaves it in its
 * stop, before its async handle closes. */
static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static acs_session_table *registry;

static void queued_cb(uv_async_t *a) {
  acs_session_table *t = a->data;
  pthread_mutex_lock(&registry_lock);
  acs__queued *q = t->queued;
  t->queued = NULL;
  pthread_mutex_unlock(&registry_lock);
  while (q) {
    acs__queued *next = q->next;
    acs__session *s = acs__sess_find_device(t, q->device_id);
    if (s && s->st != ACS__S_DONE) {
      s->tasks_queued = true;
      acs_log(ACS_LOG_DEBUG, "session",
              "%s: a task was queued during the session: read before "
              "it ends",
              s->device_id);
    }
    free(q);
    q = next;
  }
}

void acs_session_task_queued(const acs_app *app, const char *device_id) {
  size_t n = strlen(device_id);
  pthread_mutex_lock(&registry_lock);
  for (acs_session_table *t = registry; t; t = t->reg_next) {
    acs_worker *w = t->aw->w;
    if (t->aw->app != app ||
        acs_session_owner(device_id, acs_worker_count(w)) != acs_worker_index(w))
      continue;
    acs__queued *q = malloc(sizeof *q + n + 1);
    if (!q) break; /* the next session sends it */
    memcpy(q->device_id, device_id, n + 1);
    q->next = t->queued;
    t->queued = q;
    uv_async_send(t->queued_async);
    break;
  }
  pthread_mutex_unlock(&registry_lock);
}

int acs__sess_queued_start(acs_session_table *t) {
  uv_async_t *a = malloc(sizeof *a);
  if (!a) return ACS_ENOMEM;
  uv_async_init(acs_worker_loop(t->aw->w), a, queued_cb);
  a->data = t;
  t->queued_async = a;
  pthread_mutex_lock(&registry_lock);
  t->reg_next = registry;
  registry = t;
  pthread_mutex_unlock(&registry_lock);
  return 0;
}

static void async_free_cb(uv_handle_t *h) { free(h); }

void acs__sess_queued_stop(acs_session_table *t) {
  if (!t->queued_async) return;
  pthread_mutex_lock(&registry_lock);
  for (acs_session_table **pp = &registry; *pp; pp = &(*pp)->reg_next) {
    if (*pp == t) {
      *pp = t->reg_next;
      break;
    }
  }
  acs__queued *q = t->queued;
  t->queued = NULL;
  pthread_mutex_unlock(&registry_lock);
  while (q) {
    acs__queued *next = q->next;
    free(q);
    q = next;
  }
  uv_close((uv_handle_t *)t->queued_async, async_free_cb);
  t->queued_async = NULL;
}
