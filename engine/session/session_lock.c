/* session_lock.c: a session's device lock in Redis, across instances
 * (coord/acs_coord.h; docs/architecture.md "Several instances").
 *
 * With Redis configured, a new session takes the device's lock before its
 * Inform is written: SET NX PX with a fencing token. Every write of the
 * session then carries the token and the store refuses it once a newer
 * session has written (migration 14), so an instance that lost its lock
 * (paused, cut off) cannot write over its successor. The worker refreshes
 * the locks of its sessions every lock_ms / 3 (compare-and-extend); the
 * session's end deletes its lock (compare-and-delete). Within an instance
 * the owner worker's table already serializes a device's sessions; a newer
 * Inform there supersedes the old session, whose unlock goes out on the
 * same connection before the new session's lock. */
#include <stdlib.h>
#include <uv.h>

#include "coord/acs_coord.h"
#include "core/acs_err.h"
#include "core/acs_log.h"
#include "session/session_internal.h"

typedef struct lock_op {
  acs__session *s;
  acs__sess_done_fn done;
  acs_coord_worker *cw; /* alive while it calls back; s->t may not be (acsd stopping) */
  uint64_t until_ns;    /* sent + lock_ms: by then Redis has dropped the lock */
} lock_op;

static uint64_t lock_ns(const acs__session *s) {
  return (uint64_t)acs_coord_lock_ms(s->t->aw->app->coord) * 1000000u;
}

static void acquired_cb(int status, int64_t token, void *arg) {
  lock_op *op = arg;
  acs__session *s = op->s;
  s->locking = false;
  if (status == 0) {
    s->fence = token;
    s->lock_until_ns = op->until_ns;
    if (s->st == ACS__S_DONE) {
      /* superseded or stopped while asking: give it back at once */
      acs_coord_unlock(op->cw, s->device_id, token);
      s->fence = 0;
    }
  }
  acs_log_set_context(s->device_id, s->cookie);
  op->done(s, status);
  acs_log_set_context(NULL, NULL);
  acs__sess_unref(s);
  free(op);
}

int acs__sess_lock(acs__session *s, acs__sess_done_fn done) {
  acs_coord_worker *cw = s->t->aw->coord;
  if (!cw) return ACS_ECOORD;
  lock_op *op = malloc(sizeof *op);
  if (!op) return ACS_ENOMEM;
  op->s = s;
  op->done = done;
  op->cw = cw;
  op->until_ns = uv_hrtime() + lock_ns(s);
  acs__sess_ref(s);
  int rc = acs_coord_lock(cw, s->device_id, acquired_cb, op);
  if (rc) {
    acs__sess_unref(s);
    free(op);
    return rc;
  }
  s->locking = true;
  return 0;
}

void acs__sess_unlock(acs__session *s) {
  if (s->fence > 0 && s->t->aw->coord) acs_coord_unlock(s->t->aw->coord, s->device_id, s->fence);
}

/* --- its validity */

bool acs__sess_lock_valid(acs__session *s) {
  if (s->fence <= 0) return true;
  if (s->lock_lost) return false;
  uint64_t now = uv_hrtime();
  if (now < s->lock_until_ns) return true;
  s->lock_lost = true;
  acs_coord_count_lock_lost(s->t->aw->app->coord);
  acs_log(ACS_LOG_WARN, "session",
          "%s: session lock expired %llu ms ago, before this answer (the instance stalled or "
          "Redis was out of reach): the session ends unanswered (fencing token %lld)",
          s->device_id, (unsigned long long)((now - s->lock_until_ns) / 1000000),
          (long long)s->fence);
  return false;
}

/* --- refreshing */

typedef struct extend_op {
  acs__session *s;
  uint64_t until_ns; /* sent + lock_ms (s->t is not touched in the callback) */
} extend_op;

static void extended_cb(int status, int64_t token, void *arg) {
  extend_op *op = arg;
  acs__session *s = op->s;
  (void)token;
  if (status == 0 && s->fence > 0 && op->until_ns > s->lock_until_ns)
    s->lock_until_ns = op->until_ns;
  free(op);
  if (status == ACS_EAGAIN && s->st != ACS__S_DONE && !s->lock_lost) {
    /* expired (this instance was paused past lock_ms) and maybe taken: the
     * store refuses this session's writes once the newer one has written */
    s->lock_lost = true;
    acs_log(ACS_LOG_WARN, "session", "%s: session lock lost (fencing token %lld)", s->device_id,
            (long long)s->fence);
  }
  acs__sess_unref(s);
}

static void refresh_cb(uv_timer_t *h) {
  acs_session_table *t = h->data;
  acs_coord_worker *cw = t->aw->coord;
  for (size_t i = 0; i < t->nbuckets; i++) {
    for (acs__session *s = t->by_device[i]; s; s = s->next_dev) {
      if (s->fence <= 0 || s->lock_lost) continue;
      extend_op *op = malloc(sizeof *op);
      if (!op) continue; /* the next round tries again */
      op->s = s;
      op->until_ns = uv_hrtime() + lock_ns(s);
      acs__sess_ref(s);
      if (acs_coord_lock_extend(cw, s->device_id, s->fence, extended_cb, op)) {
        acs__sess_unref(s);
        free(op);
      }
    }
  }
}

int acs__sess_lock_table_start(acs_session_table *t) {
  if (!t->aw->coord) return 0;
  uv_timer_t *h = malloc(sizeof *h);
  if (!h) return ACS_ENOMEM;
  uv_timer_init(acs_worker_loop(t->aw->w), h);
  h->data = t;
  uint32_t every = acs_coord_lock_ms(t->aw->app->coord) / 3;
  uv_timer_start(h, refresh_cb, every, every);
  t->lock_timer = h;
  return 0;
}

static void timer_free_cb(uv_handle_t *h) { free(h); }

void acs__sess_lock_table_stop(acs_session_table *t) {
  if (!t->lock_timer) return;
  uv_close((uv_handle_t *)t->lock_timer, timer_free_cb);
  t->lock_timer = NULL;
}
