/* app.c: acsd put together: migrations, the per-worker contexts (store
 * connection, group commit, sessions, API), the server, signals. */
#include <errno.h>
#include <libpq-fe.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <uv.h>

#include "api/acs_api.h"
#include "api/acs_bulk.h"
#include "app/acs_trace.h"
#include "app/acs_app.h"
#include "connreq/acs_connreq_device.h"
#include "coord/acs_coord.h"
#include "core/acs_err.h"
#include "core/acs_log.h"
#include "files/acs_files.h"
#include "session/acs_cpe_auth.h"
#include "session/acs_devcache.h"
#include "session/acs_policy.h"
#include "session/acs_session.h"

/* Last: the sessions released their policy runs when their table stopped. */
static void worker_free(acs_app_worker *aw) {
  acs_policy_vm_free(aw->policies);
  acs_policy_vm_free(aw->canary_policies);
  acs_devcache_free(aw->devcache);
  acs_dm_thread_free(); /* the models' shared paths, on this worker's thread */
  free(aw);
}

static void pg_closed_cb(void *arg) { worker_free(arg); }

static void close_store(acs_app_worker *aw) {
  if (aw->pg && acs_pg_close(aw->pg, pg_closed_cb, aw) == 0) return;
  worker_free(aw);
}

/* the files connection first: its statements' callbacks may still use aw */
static void files_stopped_cb(void *arg) { close_store(arg); }

static void worker_stop(acs_worker *w, void *ctx) {
  acs_app_worker *aw = acs_app_worker_of(w);
  if (!aw) return;
  acs_worker_set_data(w, NULL);
  acs_app_observe_stop(aw);
  if (aw->sessions) acs_session_table_stop(aw->sessions);
  if (aw->poller) acs_policy_poller_stop(aw->poller);
  aw->poller = NULL;
  if (aw->jobs) acs_policy_jobs_stop(aw->jobs);
  aw->jobs = NULL;
  acs_connreq_worker_stop(aw);
  acs_bulk_runner_stop(aw->bulk);
  aw->bulk = NULL;
  acs_trace_poller_stop(aw->traces);
  aw->traces = NULL;
  if (aw->api) acs_api_worker_stop(aw);
  acs_coord_worker_stop(aw->coord); /* after the sessions: their unlocks go out first */
  aw->coord = NULL;
  if (aw->batch) acs_store_batch_free(aw->batch);
  aw->batch = NULL;
  if (aw->files) {
    acs_files_worker *fw = aw->files;
    aw->files = NULL;
    acs_files_worker_stop(fw, files_stopped_cb, aw);
    return;
  }
  close_store(aw);
}

static int worker_start(acs_worker *w, void *ctx) {
  acs_app *app = ctx;
  int rc;
  acs_app_worker *aw = calloc(1, sizeof *aw);
  if (!aw) return ACS_ENOMEM;
  aw->app = app;
  aw->w = w;
  acs_worker_set_data(w, aw);
  if (!(aw->metrics = acs_metrics_worker_new(app->metrics, acs_worker_index(w)))) {
    rc = ACS_ENOMEM;
    goto fail;
  }
  if (app->cfg->pg_dsn) {
    acs_pg_opts o;
    char name[32];
    snprintf(name, sizeof name, "pg-w%u", acs_worker_index(w));
    acs_pg_opts_defaults(&o);
    o.pipeline = app->pg_pipeline;
    o.name = name;
    if ((rc = acs_pg_open(acs_worker_loop(w), app->cfg->pg_dsn, &o, &aw->pg))) goto fail;
    if ((rc = acs_store_batch_new(aw->pg, NULL, &aw->batch))) goto fail;
    size_t share = app->cfg->device_cache_bytes / acs_worker_count(w);
    if (!(aw->devcache = acs_devcache_new(share))) {
      rc = ACS_ENOMEM;
      goto fail;
    }
  }
  if (aw->pg || app->cfg->policies_dir) {
    /* with a store, the store's current generation (acs_app_run read it);
     * without one, the directory itself */
    char err[512] = "";
    const char *dir = aw->pg ? NULL : app->cfg->policies_dir;
    if (!(aw->policies = acs_policy_vm_new(dir, err, sizeof err))) {
      rc = ACS_ENOMEM;
      goto fail;
    }
    if (aw->pg) {
      aw->policies->error = true; /* no generation yet: no policies run */
      if (app->policy_files &&
          acs_policy_vm_load_json(aw->policies, app->policy_files, err, sizeof err)) {
        acs_log(ACS_LOG_ERR, "policy", "worker %u: generation %lld not loaded: %s",
                acs_worker_index(w), app->policy_generation, err);
        acs_metrics_policy_failed(app->metrics, aw->metrics, app->policy_generation, err);
      }
      aw->policies->generation = aw->policies->error ? 0 : app->policy_generation;
    } else if (aw->policies->error) {
      acs_metrics_policy_failed(app->metrics, aw->metrics, 0, err);
    } else if (acs_worker_index(w) == 0) {
      acs_log(ACS_LOG_INFO, "policy", "policies of %s loaded: %zu files, %zu presets files",
              app->cfg->policies_dir, aw->policies->chunks, aw->policies->npresets);
    }
    if (aw->pg && (rc = acs_policy_poller_start(
                       aw, acs_worker_index(w) == 0 ? app->cfg->policies_dir : NULL, &aw->poller)))
      goto fail;
    if (aw->pg && acs_worker_index(w) == 0 && (rc = acs_policy_jobs_start(aw, &aw->jobs)))
      goto fail;
  }
  if (aw->pg && acs_worker_index(w) == 0 && (rc = acs_bulk_runner_start(aw, &aw->bulk))) goto fail;
  if (app->coord &&
      (rc = acs_coord_worker_start(app->coord, acs_worker_loop(w), acs_worker_index(w), &aw->coord)))
    goto fail;
  if (aw->pg && acs_worker_index(w) == 0 && (rc = acs_trace_poller_start(aw, &aw->traces)))
    goto fail;
  if ((rc = acs_session_table_new(aw, &aw->sessions))) goto fail;
  if (aw->pg && (rc = acs_connreq_worker_start(aw))) goto fail;
  if ((rc = acs_api_worker_init(aw))) goto fail;
  if ((rc = acs_files_worker_init(aw))) goto fail;
  if ((rc = acs_app_observe_start(aw))) goto fail;
  return 0;
fail:
  acs_log(ACS_LOG_ERR, "app", "worker %u: cannot start: %s", acs_worker_index(w), acs_strerror(rc));
  /* the server calls the stop hook only for workers whose start succeeded */
  worker_stop(w, ctx);
  return rc;
}

typedef struct main_ctx {
  acs_server *srv;
  acs_app *app;
  uv_signal_t sig[2];
  uv_signal_t hup; /* SIGHUP: TLS certificates and keys read again */
} main_ctx;

static void on_signal(uv_signal_t *h, int signum) {
  main_ctx *m = h->data;
  acs_log(ACS_LOG_INFO, "main", "%s received, stopping", signum == SIGTERM ? "SIGTERM" : "SIGINT");
  acs_metrics_set_draining(m->app->metrics); /* not ready: /ready answers 503 */
  acs_server_stop(m->srv);
  /* Closing the watchers restores the default actions: a second signal
   * ends the process at once. */
  for (int i = 0; i < 2; i++) uv_close((uv_handle_t *)&m->sig[i], NULL);
  if (!uv_is_closing((uv_handle_t *)&m->hup)) uv_close((uv_handle_t *)&m->hup, NULL);
}

static void on_hup(uv_signal_t *h, int signum) {
  main_ctx *m = h->data;
  acs_log(ACS_LOG_INFO, "main", "SIGHUP received: reloading TLS certificates");
  acs_app_tls_reload(m->app);
}

const acs_secret_key *acs_app_secret_key(const acs_app *app) {
  return app && app->have_secret_key ? &app->secret_key : NULL;
}

/* A configured key that cannot be loaded stops the start: running on
 * without it would fail every secret later, one by one. */
static int load_secret_key(acs_app *app) {
  const char *path = app->cfg->secret_key_file;
  if (!path) return 0;
  int rc = acs_secret_key_load(path, &app->secret_key);
  if (rc) {
    fprintf(stderr, "acsd: secret_key_file %s: %s\n", path,
            rc == ACS_EINVAL ? "not a key (expected 64 hex digits, or exactly 32 bytes)"
                             : acs_strerror(rc));
    return rc;
  }
  app->have_secret_key = true;
  struct stat st;
  if (stat(path, &st) == 0 && (st.st_mode & 077))
    acs_log(ACS_LOG_WARN, "main", "secret_key_file %s is readable by others (mode %03o)", path,
            (unsigned)(st.st_mode & 0777));
  acs_log(ACS_LOG_INFO, "main", "secret key %s loaded from %s", app->secret_key.id, path);
  return 0;
}

static int cpe_auth_start(acs_app *app) {
  char err[512];
  if (!(app->cpe_auth = calloc(1, sizeof *app->cpe_auth))) return ACS_ENOMEM;
  int rc = acs_cpe_auth_init(app->cpe_auth, app->cfg, acs_app_secret_key(app), err, sizeof err);
  if (rc) {
    fprintf(stderr, "acsd: %s\n", err);
    return rc;
  }
  const acs_cpe_auth *a = app->cpe_auth;
  if (a->on)
    acs_log(ACS_LOG_INFO, "main",
            "CPE authentication on: realm %s, fleet credentials %s, factory "
            "credentials %s, Basic %s, nonces %s",
            a->realm, a->fleet_user ? "yes" : "no", a->have_factory_key ? "yes" : "no",
            a->basic == ACS_CPE_BASIC_ALWAYS ? "always"
            : a->basic == ACS_CPE_BASIC_OFF  ? "off"
                                             : "over TLS",
            a->nonce_key_shared ? "from the secrets key (any instance)" : "this process only");
  return 0;
}

static void make_instance_id(acs_app *app) {
  if (app->cfg->instance_id) {
    snprintf(app->instance_id, sizeof app->instance_id, "%s", app->cfg->instance_id);
    return;
  }
  unsigned char r[6];
  if (RAND_bytes(r, sizeof r) != 1) {
    uint64_t t = uv_hrtime();
    memcpy(r, &t, sizeof r);
  }
  for (size_t i = 0; i < sizeof r; i++) snprintf(app->instance_id + 2 * i, 3, "%02x", r[i]);
}

/* Waits for the store to answer (PQping: no authentication, no query),
 * with back-off from 250 ms doubling to 10 s, logging each failure, for
 * cfg->store_wait_s seconds (0: forever). Meanwhile nothing listens: a
 * probe of /health finds acsd not ready. Returns 0 when it answers,
 * ACS_EUNAVAILABLE when the time is up. SIGTERM and SIGINT keep their
 * default actions here: stopping a waiting acsd ends it. */
static int wait_for_store(const acs_config *cfg) {
  uint64_t t0 = uv_hrtime(), limit_ns = (uint64_t)cfg->store_wait_s * 1000000000ull;
  unsigned delay_ms = 250, tries = 0;
  for (;;) {
    PGPing ping = PQping(cfg->pg_dsn);
    if (ping == PQPING_OK) {
      if (tries)
        acs_log(ACS_LOG_INFO, "main", "the store answers after %.1f s",
                (double)(uv_hrtime() - t0) / 1e9);
      return 0;
    }
    if (ping == PQPING_NO_ATTEMPT) {
      fprintf(stderr, "acsd: store: the connection string is not usable\n");
      return ACS_EINVAL;
    }
    tries++;
    uint64_t waited = uv_hrtime() - t0;
    if (limit_ns && waited >= limit_ns) {
      fprintf(stderr, "acsd: store: no answer within %u s (store-wait), giving up\n",
              cfg->store_wait_s);
      return ACS_EUNAVAILABLE;
    }
    acs_log(ACS_LOG_WARN, "main", "waiting for the store (%s), not ready; next try in %u ms",
            ping == PQPING_REJECT ? "it refuses connections: starting up?" : "no answer",
            delay_ms);
    uint64_t sleep_ns = (uint64_t)delay_ms * 1000000ull;
    if (limit_ns && waited + sleep_ns > limit_ns) sleep_ns = limit_ns - waited;
    struct timespec ts = {(time_t)(sleep_ns / 1000000000ull), (long)(sleep_ns % 1000000000ull)};
    while (nanosleep(&ts, &ts) && errno == EINTR) {
    }
    if (delay_ms < 10000) delay_ms = delay_ms * 2 > 10000 ? 10000 : delay_ms * 2;
  }
}

/* "cwmp 0.0.0.0:7547 (port 7547)", or "files off" for a listener that is
 * not configured or (the file server's default port taken) not opened. */
static void listener_text(acs_server *srv, acs_listener_kind k, const char *name,
                          const char *addr, char *out, size_t len) {
  int port = acs_server_port(srv, k);
  if (!addr || port <= 0) {
    snprintf(out, len, "%s off", name);
  } else {
    snprintf(out, len, "%s %.200s (port %d)", name, addr, port);
  }
}

/* Sessions in flight within what the open-files limit allows: the soft
 * limit is raised to the hard one, and max-sessions is kept 512 descriptors
 * below it (listeners, store connections, refusals being closed), so that a
 * storm gets 503s instead of failed accepts. */
static unsigned sessions_within_files(const acs_config *cfg) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return cfg->max_sessions;
  if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < rl.rlim_max) {
    rlim_t want = rl.rlim_max;
    rl.rlim_cur = want;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0) getrlimit(RLIMIT_NOFILE, &rl);
  }
  if (rl.rlim_cur == RLIM_INFINITY) return cfg->max_sessions;
  rlim_t room = rl.rlim_cur > 1024 ? rl.rlim_cur - 512 : rl.rlim_cur / 2;
  if (room >= cfg->max_sessions) return cfg->max_sessions;
  acs_log(ACS_LOG_INFO, "main",
          "max-sessions %u is more than %llu open files allow: sessions past %llu get 503",
          cfg->max_sessions, (unsigned long long)rl.rlim_cur, (unsigned long long)room);
  return (unsigned)room;
}

int acs_app_run(const acs_config *cfg) {
  int rc = 0;
  uv_loop_t loop;
  main_ctx m = {0};
  bool loop_ready = false;
  acs_app *app = calloc(1, sizeof *app);
  if (!app) return 1;
  app->cfg = cfg;
  app->max_sessions = sessions_within_files(cfg);
  m.app = app;
  make_instance_id(app);
  acs_log_set_instance(app->instance_id);
  if (!(app->metrics = acs_metrics_new(app->instance_id))) {
    rc = ACS_ENOMEM;
    goto cleanup;
  }
  if ((rc = load_secret_key(app))) goto cleanup;
  if ((rc = acs_app_coord_new(app))) goto cleanup;
  if ((rc = cpe_auth_start(app))) goto cleanup;

  if (acs_pg_pipeline_parse(cfg->pg_pipeline, &app->pg_pipeline)) {
    fprintf(stderr, "acsd: pg-pipeline: '%s' is not auto, on or off\n", cfg->pg_pipeline);
    rc = ACS_ECONFIG;
    goto cleanup;
  }
  if (cfg->pg_dsn) {
    char err[512];
    if ((rc = wait_for_store(cfg))) goto cleanup;
    if ((rc = acs_store_migrate(cfg->pg_dsn, err, sizeof err))) {
      fprintf(stderr, "acsd: store: %s\n", err);
      goto cleanup;
    }
    /* the store's current generation serves, --policies or not; DIR is
     * imported first under the rule of policy_start.c */
    if ((rc = acs_policy_start(cfg->pg_dsn, cfg->policies_dir, cfg->policy_dry_run_devices,
                               cfg->policy_dry_run_ms, &app->policy_generation,
                               &app->policy_files, err, sizeof err))) {
      fprintf(stderr, "acsd: policies: %s\n", err);
      goto cleanup;
    }
    if (app->policy_files)
      acs_log(ACS_LOG_INFO, "policy", "serving policy generation %lld (%zu files)",
              app->policy_generation, json_object_size(app->policy_files));
    else
      acs_log(ACS_LOG_INFO, "policy",
              "no policy generation in the store: no provisioning until one is pushed");
  } else {
    acs_log(ACS_LOG_WARN, "main", "no store configured (--pg): sessions are not recorded");
  }

  acs_server_config scfg;
  acs_config_to_server(cfg, &scfg);
  scfg.handler[ACS_LISTENER_CWMP] = acs_session_handle;
  scfg.handler[ACS_LISTENER_API] = acs_api_handle;
  scfg.head_handler[ACS_LISTENER_API] = acs_api_head;
  scfg.handler[ACS_LISTENER_FILES] = acs_files_handle;
  scfg.handler_ctx = app;
  scfg.worker_start = worker_start;
  scfg.worker_stop = worker_stop;
  if ((rc = acs_app_tls_start(app, &scfg))) goto cleanup;

  if ((rc = uv_loop_init(&loop))) goto cleanup;
  loop_ready = true;
  /* Watch the signals before the workers exist, so that no signal arriving
   * during start-up takes the default action. */
  static const int signums[2] = {SIGTERM, SIGINT};
  for (int i = 0; i < 2; i++) {
    uv_signal_init(&loop, &m.sig[i]);
    m.sig[i].data = &m;
  }
  for (int i = 0; i < 2; i++) {
    if ((rc = uv_signal_start(&m.sig[i], on_signal, signums[i]))) goto cleanup;
  }
  uv_signal_init(&loop, &m.hup);
  m.hup.data = &m;
  if ((rc = uv_signal_start(&m.hup, on_hup, SIGHUP))) goto cleanup;
  rc = acs_server_start(&scfg, &m.srv);
  /* the workers have compiled it (worker_start runs here, on this thread) */
  json_decref(app->policy_files);
  app->policy_files = NULL;
  if (rc) {
    fprintf(stderr, "acsd: cannot start: %s\n", acs_strerror(rc));
    goto cleanup;
  }
  app->srv = m.srv;
  char cwmp[300], api[300], files[300];
  listener_text(m.srv, ACS_LISTENER_CWMP, "cwmp", cfg->cwmp_listen, cwmp, sizeof cwmp);
  listener_text(m.srv, ACS_LISTENER_API, "api", cfg->api_listen, api, sizeof api);
  listener_text(m.srv, ACS_LISTENER_FILES, "files", cfg->files_listen, files, sizeof files);
  acs_log(ACS_LOG_INFO, "main", "acsd %s started: %s, %s, %s, %u workers, instance %s",
          ACS_VERSION, cwmp, api, files, acs_server_workers(m.srv), app->instance_id);
  uv_run(&loop, UV_RUN_DEFAULT);

  acs_server_stats st;
  acs_server_stats_get(m.srv, &st);
  int jrc = acs_server_join(m.srv);
  m.srv = NULL;
  app->srv = NULL;
  acs_log(jrc ? ACS_LOG_WARN : ACS_LOG_INFO, "main",
          "acsd stopped%s (%llu connections, %llu requests served, %llu sessions)",
          jrc ? ", requests in flight cut at the deadline" : "",
          (unsigned long long)st.connections_total, (unsigned long long)st.requests,
          (unsigned long long)atomic_load(&app->sessions_total));

cleanup:
  if (loop_ready) {
    for (int i = 0; i < 2; i++) {
      if (!uv_is_closing((uv_handle_t *)&m.sig[i])) uv_close((uv_handle_t *)&m.sig[i], NULL);
    }
    if (m.hup.loop && !uv_is_closing((uv_handle_t *)&m.hup)) uv_close((uv_handle_t *)&m.hup, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
  }
  json_decref(app->policy_files);
  acs_app_tls_free(app); /* the server has stopped: no connection uses it */
  acs_metrics_free(app->metrics); /* every worker has stopped */
  acs_coord_free(app->coord);
  OPENSSL_cleanse(&app->secret_key, sizeof app->secret_key);
  if (app->cpe_auth) acs_cpe_auth_clear(app->cpe_auth);
  free(app->cpe_auth);
  free(app);
  return rc ? 1 : 0;
}
