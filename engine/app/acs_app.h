/* acs_app.h: acsd put together. The process-wide context and the
 * per-worker one that the CWMP sessions (engine/session) and the REST API
 * (engine/api) share: the worker's store connection, its group-commit
 * batcher and its session table.
 *
 * Threading: an acs_app_worker belongs to its worker's thread; the acs_app
 * is read-only once the server runs, but for its atomics. */
#ifndef ACS_APP_H
#define ACS_APP_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "core/acs_config.h"
#include "core/acs_secret.h"
#include "metrics/acs_metrics.h"
#include "net/acs_server.h"
#include "store/acs_pg.h"
#include "store/acs_store.h"

typedef struct acs_session_table acs_session_table;
typedef struct acs_api_worker acs_api_worker;
typedef struct acs_files_worker acs_files_worker;
typedef struct acs_policy_vm acs_policy_vm;
typedef struct acs_policy_poller acs_policy_poller;
typedef struct acs_policy_jobs acs_policy_jobs;
typedef struct acs_connreq_worker acs_connreq_worker;
typedef struct acs_bulk_runner acs_bulk_runner;
typedef struct acs_trace_poller acs_trace_poller;
typedef struct acs_devcache acs_devcache;
typedef struct acs_coord acs_coord;
typedef struct acs_coord_worker acs_coord_worker;

typedef struct acs_app {
  const acs_config *cfg;
  acs_server *srv;
  char instance_id[48];               /* cfg->instance_id, or random hex */
  unsigned max_sessions;              /* cfg->max_sessions, within the open-files limit */
  _Atomic long sessions;              /* CWMP sessions in flight, all workers */
  _Atomic long first_contacts;        /* of them, "0 BOOTSTRAP" sessions */
  _Atomic uint64_t sessions_total;    /* started since start */
  _Atomic uint64_t sessions_rejected; /* Informs answered 503 */
  _Atomic uint64_t supersedes;        /* sessions aborted by a newer Inform */
  _Atomic uint64_t handoffs;          /* connections handed to their owner worker */
  long long policy_generation;        /* the store's current generation at start (0: none) */
  json_t *policy_files;               /* its tree, until the workers have compiled it */
  acs_metrics *metrics;               /* what the workers count (metrics/acs_metrics.h) */
  acs_secret_key secret_key;          /* cfg->secret_key_file, loaded at start */
  bool have_secret_key;
  acs_coord *coord;                   /* Redis between instances (NULL: none; app_coord.c) */
  struct acs_cpe_auth *cpe_auth;      /* CPE authentication (session/acs_cpe_auth.h) */
  struct acs_app_tls *tls;            /* TLS of the listeners (tls_app.c); NULL: none */
  bool tls_match_serial;              /* tls-client-match = serial (session/certbind.c) */
  acs_pg_pipeline pg_pipeline;        /* cfg->pg_pipeline, parsed at start: every store
                                       * connection's acs_pg_opts.pipeline */
} acs_app;

/* tls_app.c: the listeners' TLS from cfg (sets scfg->tls[]; 0, or
 * ACS_ECONFIG with a message on stderr), its reload on SIGHUP (a failure
 * keeps the current certificate and is logged), and its end (after the
 * server has stopped). */
int acs_app_tls_start(acs_app *app, acs_server_config *scfg);
void acs_app_tls_reload(acs_app *app);
void acs_app_tls_free(acs_app *app);

/* The key of device_secrets, or NULL when no secret_key_file is configured. */
const acs_secret_key *acs_app_secret_key(const acs_app *app);

typedef struct acs_app_worker acs_app_worker;
struct acs_app_worker {
  acs_app *app;
  acs_worker *w;
  acs_pg *pg;             /* NULL when no store is configured */
  acs_store_batch *batch; /* group commit on pg (NULL with pg) */
  acs_devcache *devcache; /* what this worker knows of its devices (NULL with pg) */
  acs_session_table *sessions;
  acs_api_worker *api;
  acs_files_worker *files;   /* the file server's and uploads' state (engine/files) */
  acs_policy_vm *policies;   /* NULL with neither a store nor --policies */
  acs_policy_vm *canary_policies; /* a running canary roll-out's generation (policy_gen.c) */
  acs_policy_poller *poller; /* generations in the store (with a store) */
  acs_policy_jobs *jobs;     /* fleet jobs (worker 0, with a store) */

  acs_connreq_worker *connreq; /* connection requests (connreq/acs_connreq_device.h) */
  acs_bulk_runner *bulk;     /* bulk actions (worker 0, with a store) */
  acs_trace_poller *traces;  /* wire traces asked for (worker 0, with a store) */
  acs_metrics_worker *metrics; /* this worker's counts (never NULL once started) */
  acs_coord_worker *coord;   /* its Redis connections (NULL without Redis) */
  struct acs_app_observer *observer; /* its tick (observe.c) */
};

static inline acs_app_worker *acs_app_worker_of(acs_worker *w) {
  return (acs_app_worker *)acs_worker_data(w);
}

/* The worker's tick (observe.c): every 250 ms it publishes the worker's
 * gauges (store connection, batcher, device cache, policies, loop lag)
 * into aw->metrics. Started by the start hook, stopped by the stop hook. */
int acs_app_observe_start(acs_app_worker *aw);
void acs_app_observe_stop(acs_app_worker *aw);

/* Redis between instances (app_coord.c): the instance's context from cfg
 * (none without redis or redis-sentinels; 0 or ACS_ECONFIG, logged), and
 * a signal to the other instances (fire and forget; nothing without Redis). */
int acs_app_coord_new(acs_app *app);
void acs_app_signal(acs_app_worker *aw, const char *kind, const char *payload);
/* Its figures in the Prometheus exposition (nothing without Redis). */
void acs_app_coord_prom(const acs_app *app, acs_buf *out);

/* Runs acsd with cfg until SIGTERM/SIGINT: applies the schema migrations
 * when a store is configured, starts the workers, stops gracefully.
 * Returns the process exit status. */
int acs_app_run(const acs_config *cfg);

#endif
