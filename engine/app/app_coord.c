/* app_coord.c: acsd's side of Redis between instances (coord/acs_coord.h):
 * the instance's context from the configuration, and what a signal from
 * another instance does here. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/acs_app.h"
#include "connreq/acs_connreq_device.h"
#include "coord/acs_coord.h"
#include "core/acs_err.h"
#include "core/acs_log.h"
#include "session/acs_policy.h"
#include "session/acs_session.h"

/* On worker 0's loop. "reload": a policy push or reload on another
 * instance; this one's pollers look at the store now rather than at their
 * next poll (the poll stays the fallback when a message is lost). */
static void on_signal(const char *from, const char *kind, const char *payload, void *arg) {
  acs_app *app = arg;
  if (strcmp(kind, "reload") == 0) {
    if (strcmp(from, app->instance_id) == 0) return; /* its workers were woken already */
    acs_log(ACS_LOG_INFO, "coord", "policy reload signalled by instance %s", from);
    acs_policy_wake(app);
    return;
  }
  if (strcmp(kind, "queued") == 0) { /* an operator's new task, on any instance */
    acs_session_task_queued(app, payload);
    return;
  }
  if (strcmp(kind, "task") == 0) { /* settled by a session, maybe on this instance */
    acs_connreq_task_changed(app, atoll(payload));
    return;
  }
  acs_log(ACS_LOG_DEBUG, "coord", "signal %s %s from %s: ignored", kind, payload, from);
}

int acs_app_coord_new(acs_app *app) {
  const acs_config *cfg = app->cfg;
  if (!cfg->redis && !cfg->redis_sentinels) return 0;
  acs_coord_opts o = {
      .redis = cfg->redis,
      .sentinels = cfg->redis_sentinels,
      .master_name = cfg->redis_master,
      .password = cfg->redis_password,
      .lock_ms = cfg->redis_lock_ms,
      .instance_id = app->instance_id,
  };
  char err[512] = "";
  int rc = acs_coord_new(&o, on_signal, app, &app->coord, err, sizeof err);
  if (rc) {
    acs_log(ACS_LOG_ERR, "app", "%s", err[0] ? err : acs_strerror(rc));
    return rc;
  }
  if (cfg->redis_sentinels)
    acs_log(ACS_LOG_INFO, "app",
            "Redis through the sentinels %s (master %s), session locks of %u ms",
            cfg->redis_sentinels, cfg->redis_master, cfg->redis_lock_ms);
  else
    acs_log(ACS_LOG_INFO, "app", "Redis at %s, session locks of %u ms", cfg->redis,
            cfg->redis_lock_ms);
  return 0;
}

void acs_app_signal(acs_app_worker *aw, const char *kind, const char *payload) {
  if (aw && aw->coord) acs_coord_publish(aw->coord, kind, payload);
}

static void prom(acs_buf *out, const char *name, const char *type, const char *help, double v) {
  acs_metrics_prom_family(out, name, type, help);
  acs_metrics_prom_value(out, name, NULL, v);
}

void acs_app_coord_prom(const acs_app *app, acs_buf *out) {
  if (!app->coord) return;
  acs_coord_stats st;
  acs_coord_get_stats(app->coord, &st);
  prom(out, "acsd_redis_up", "gauge",
       "Workers whose Redis command connection is up (of acsd_redis_workers).", st.workers_up);
  prom(out, "acsd_redis_workers", "gauge", "Workers with a Redis command connection.", st.workers);
  prom(out, "acsd_redis_connects_total", "counter", "Redis command connections made.",
       (double)st.connects);
  prom(out, "acsd_redis_disconnects_total", "counter", "Redis connections lost while up.",
       (double)st.disconnects);
  prom(out, "acsd_redis_failovers_total", "counter",
       "Master changes followed (+switch-master), counted once per instance.",
       (double)st.failovers);
  prom(out, "acsd_session_locks_total", "counter", "Device session locks taken in Redis.",
       (double)st.locks);
  prom(out, "acsd_session_locks_busy_total", "counter",
       "Device session locks held by another session (its Inform got 503).", (double)st.lock_busy);
  prom(out, "acsd_session_locks_lost_total", "counter",
       "Session locks found expired or taken at a refresh.", (double)st.lock_lost);
  prom(out, "acsd_session_writes_fenced_total", "counter",
       "Session writes the store refused: a newer session of the device had written.",
       (double)st.fenced);
  prom(out, "acsd_redis_signals_received_total", "counter",
       "Signals received from instances by pub/sub.", (double)st.signals_in);
}
