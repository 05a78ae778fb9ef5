/* session_internal.h: what session.c (the state machine) and
 * session_store.c (its statements) share. Not a public header.
 *
 * Threading: a session and its table belong to the owner worker's thread. */
#ifndef ACS_SESSION_INTERNAL_H
#define ACS_SESSION_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "core/acs_arena.h"
#include "cwmp/acs_cwmp.h"
#include "session/acs_devcache.h"
#include "session/acs_plan.h"
#include "session/acs_policy.h"
#include "session/acs_session.h"
#include "store/acs_pg.h"

#define ACS_SESSION_COOKIE "acsd_session"

typedef enum acs__sess_state {
  ACS__S_INFORM = 0, /* Inform received, its write in flight */
  ACS__S_CPE_TURN,   /* InformResponse sent: CPE requests until its empty POST */
  ACS__S_ACS_TURN,   /* our RPCs, one per response */
  ACS__S_DONE,       /* ended (204 sent, superseded, timed out): unlinked */
} acs__sess_state;

/* A queued task, as read from the store in the Inform's transaction. */
typedef struct acs__task {
  int64_t id;
  char *rpc;         /* element name: "SetParameterValues" */
  char *args;        /* JSON text */
  char *command_key; /* as recorded, or NULL */
} acs__task;

typedef struct acs__session acs__session;
typedef struct acs__policy acs__policy;
typedef struct acs__auth_state acs__auth_state;

struct acs_session_table {
  acs_app_worker *aw;
  acs__auth_state *auth; /* CPE authentication (cpe_auth.c); NULL when off */
  acs__session **by_device; /* chained on next_dev */
  acs__session **by_cookie; /* chained on next_cookie */
  size_t nbuckets, count;
  uint64_t seq; /* cookies and cwmp:IDs */
  bool stopping;
  uv_timer_t *lock_timer; /* refreshes the sessions' locks (session_lock.c) */
  /* tasks queued elsewhere for devices in session here (session_queued.c) */
  acs_session_table *reg_next;
  uv_async_t *queued_async;
  struct acs__queued *queued; /* device ids, under the registry's lock */
};

#define ACS__SESSION_MAGIC 0x53455353u /* policies' ctx is a session */
#define ACS__JOB_MAGIC 0x4a4f4253u     /* ... or a fleet job */

/* jobs.c: may a fleet job's run (ctx, a job's policies' ctx) write one
 * more log() line? At most policy-log-lines a run; the rest are counted
 * (dropped, in /metrics and in one line at the run's end). */
bool acs__job_log_line(void *ctx);

struct acs__session {
  uint32_t magic;
  acs_session_table *t;
  acs__session *next_dev, *next_cookie;
  char *device_id;
  char cookie[96]; /* instance.worker.random */
  acs__sess_state st;
  acs_cwmp_ns ns;
  uv_timer_t timer; /* waiting for the CPE */
  bool timer_open;
  int refs;        /* the table's, store operations', the timer's close */
  acs_conn *req;   /* a request of this session waiting for its answer */
  acs_conn *bound; /* the connection the CPE used last (weak; cleared on close) */
  /* Inform data kept for the writes */
  acs_arena arena; /* the Inform's parse, cookies; freed with the session */
  acs_cwmp_msg inform;
  char peer[64];
  /* tasks */
  acs__task *tasks;
  size_t ntasks, next_task;
  acs__task *outstanding; /* RPC sent, answer awaited */
  acs_cwmp_kind outstanding_kind;
  char outstanding_id[32];
  bool outstanding_one_shot;
  bool outstanding_policy; /* the RPC in flight is the planner's, not a task */
  bool had_store_error;
  bool first_contact; /* a "0 BOOTSTRAP" session, counted in app->first_contacts */
  /* policies: the device's data model and tags, read with the Inform */
  bool with_policies;
  acs_dm dm;
  char **tags;
  size_t ntags;
  acs_devctx ctx; /* tags, boots, events, actions, faults, alarms, secrets */
  struct json_t *policy_ctx_json; /* ctx.json, referenced; the policy phase shares it */
  int64_t cache_version; /* devices.version after the Inform (0: unknown); the model
                          * and the context go back to the worker's cache at the end */
  acs_devcache *devcache; /* the worker's (outlives every session of the worker) */
  acs_app_worker *aw;     /* the worker's context: outlives its store callbacks, unlike s->t */
  acs_cwmp_transfer_complete tc; /* this session's TransferComplete (strings owned) */
  bool had_tc;
  bool traced; /* a wire trace of its device was on at its Inform (app/acs_trace.h) */
  char trace_id[33]; /* of the task last sent (its W3C traceparent's trace-id), or "" */
  acs__policy *pol;
  /* subtrees the planner listed whose names are not stored yet (written with
   * their values, the rest at the session's end: session_store.c) */
  char **listed;
  uint64_t *listed_us; /* when each was listed (acs_metrics_now_us) */
  bool *listed_gone;   /* the listing dropped names from the model: the end deletes the
                        * store's rows under it that the model no longer has */
  size_t nlisted;
  /* the names the planner's GetParameterValues asked for, as of when each
   * answer came: devices.refreshed, written with the listings at the end */
  char **marks;
  uint64_t *marks_us;
  size_t nmarks;
  bool deferred;        /* something of the above, or a listed name unstored in s->dm */
  bool listed_flushing; /* their final write is submitted */
  uint64_t t0_us; /* the Inform's arrival (metrics: acs_metrics_now_us) */
  /* with Redis (session_lock.c): the device's lock, held from before the
   * Inform's write to the session's end */
  int64_t fence;   /* its fencing token (0: no lock, no Redis) */
  bool locking;    /* acquiring it */
  bool lock_lost;  /* a refresh found it gone or taken, or it expired unanswered */
  uint64_t lock_until_ns; /* uv_hrtime() past which Redis has dropped it (the
                           * last successful lock or extend's send + lock-ms) */
  bool fenced;     /* a write was refused: a newer session holds the device */
  bool tasks_queued; /* a task was queued for the device meanwhile (session_queued.c) */
  struct acs__dry *dry; /* a dry run's session (dryrun.c): records instead of writing */
};

/* dryrun.c: what a dry run's session (s->dry set) would have written */
void acs__dry_fault(acs__session *s, const char *channel, const char *code, const char *message,
                    const char *provision);
void acs__dry_alarm(acs__session *s, const char *rule, const char *key, const char *severity,
                    const char *message);
void acs__dry_log(acs__session *s, const char *level, const char *message);
/* Do presets match whatever their events and schedule (a push's dry run)? */
bool acs__dry_all_presets(const acs__session *s);
/* Only which presets match (nothing starts), each recorded (the Kth preset
 * of file, from 1)? */
bool acs__dry_match_only(const acs__session *s);
void acs__dry_matched(acs__session *s, const char *file, long long k);

/* session_store.c: each submits one group-commit item; done(s, status)
 * runs once (status 0: committed). The session is referenced meanwhile. */
/* certbind.c: true unless c carries a verified client certificate that
 * does not name the device (d, device_id) under the documented rule. */
bool acs__cert_binds(const acs_conn *c, const acs_cwmp_device_id *d, const char *device_id,
                     bool serial_alone);

typedef void (*acs__sess_done_fn)(acs__session *s, int status);

/* The Inform: device row, parameters, events, expiry and recovery of old
 * tasks, and the queued tasks read back (into s->tasks). */
int acs__sess_store_inform(acs__session *s, acs__sess_done_fn done);
/* A task's RPC about to go out: still pending and not expired? A one-shot
 * RPC is also marked 'sent' with its CommandKey (check_only false). When it
 * no longer was pending (cancelled or expired meanwhile), done finds
 * s->outstanding cleared and the RPC must not go out. */
int acs__sess_store_mark_sent(acs__session *s, acs__task *task, const char *command_key,
                              bool check_only, acs__sess_done_fn done);
/* The CPE's answer to task: its result (or fault) and the data model
 * changes it implies. rsp is the parsed answer; sent is the RPC as sent. */
int acs__sess_store_result(acs__session *s, acs__task *task, const acs_cwmp_msg *sent,
                           const acs_cwmp_msg *rsp, acs__sess_done_fn done);
/* A task that failed before reaching the CPE, or whose outcome is unknown
 * (status "fault" / "unknown" / "pending" again). Fire and forget. */
void acs__sess_store_task_status(acs__session *s, int64_t task_id, const char *status,
                                 int fault_code, const char *fault_string);
/* A CPE request worth keeping (TransferComplete, RequestDownload, DU state
 * changes, Kicked) as an event row with its payload. */
int acs__sess_store_event(acs__session *s, const acs_cwmp_msg *req, acs__sess_done_fn done);

/* The device's pending tasks above id after (queued while the session ran),
 * appended to s->tasks when nothing is outstanding. */
int acs__sess_store_tasks_since(acs__session *s, int64_t after, acs__sess_done_fn done);

/* A planner RPC's answer: the data-model changes only. */
int acs__sess_store_model(acs__session *s, const acs_cwmp_msg *sent, const acs_cwmp_msg *rsp,
                          acs__sess_done_fn done);
/* A planner's GetParameterNames of a whole subtree or of one parameter (rsp
 * its answer, already applied to s->dm): its names are marked unstored in
 * s->dm and written later, each with its value when a GetParameterValues
 * answer brings it, the others at the session's end (acs__sess_store_listed)
 * with, for a subtree, the vanished names' delete and its '#names:' mark.
 * Returns false when it is not deferred (the caller stores the answer as
 * before). */
bool acs__sess_defer_listed(acs__session *s, const acs_cwmp_msg *sent, const acs_cwmp_msg *rsp);
/* The session's deferred listings, in one item: the names still unstored,
 * the vanished names deleted, the '#names:PATH' marks and the planner's
 * reads' marks last. Returns 0
 * (done runs; may be NULL), ACS_ENOTFOUND when nothing is deferred or it is
 * already submitted, or an error (nothing submitted). */
int acs__sess_store_listed(acs__session *s, acs__sess_done_fn done);
/* A policy channel's fault (upserted in the faults table with a retry
 * count), and its clearing when the channel completes. Fire and forget. */
void acs__sess_store_fault(acs__session *s, const char *channel, const char *code,
                           const char *message, const char *provision);
void acs__sess_store_fault_clear(acs__session *s, const char *channel);
/* An alarm rule raises (severity set) or clears (severity NULL) its alarm
 * (device, rule, key). Fire and forget. */
void acs__sess_store_alarm(acs__session *s, const char *rule, const char *key, const char *severity,
                           const char *message);

/* Does task (a SetParameterValues) name virtual parameters? 1: all of them
 * (the policy phase sets them through their rules), -1: some (refused), 0:
 * none or not a SetParameterValues. */
int acs__task_sets_virtual(const acs__task *t);

/* A statement of the policy runtime in the group commit: params are
 * copied; rows (may be NULL) sees the rows of each successful attempt (the
 * last one is the one committed) before done (may be NULL) runs. Returns 0
 * or an error (nothing submitted). */
typedef void (*acs__sess_rows_fn)(acs__session *s, const acs_pg_result *r, void *arg);
int acs__sess_store_sql(acs__session *s, const char *sql, int n, const char *const *params,
                        acs__sess_rows_fn rows, void *arg, acs__sess_done_fn done);

/* policy.c: the session's policy phase, after its tasks. Fills out with
 * the next RPC of the planner and returns true, or returns false when every
 * policy is done. */
bool acs__policy_next(acs__session *s, acs_policy_vm *pv, acs_cwmp_msg *out);
/* After the policy phase: the one-shot actions the policies asked for
 * (tasks to create). Submits their insertion and returns true when there
 * are any: done then runs with the new tasks appended to s->tasks. */
bool acs__policy_flush_actions(acs__session *s, acs__sess_done_fn done);
/* The CPE's answer to the planner's RPC sent. */
void acs__policy_answer(acs__session *s, const acs_cwmp_msg *sent, const acs_cwmp_msg *rsp);
void acs__policy_free(acs__session *s);
/* The one line that says how many log() lines the cap dropped (to the log,
 * or to a dry run's report), once. */
void acs__policy_log_dropped(acs__session *s);
/* Is name a secret a policy of this session sets (its value is not stored)? */
bool acs__policy_is_secret(const acs__session *s, const char *name);
/* The host functions (acs.declare, ...) for a new VM, and the engine clock. */
int acs__policy_register(acs_script_vm *vm);
acs_script_clock_fn acs__policy_clock(void);
/* The fleet jobs' host functions (store.devices, job.alarm). */
int acs__jobs_register(acs_script_vm *vm);

/* session_lock.c: the device's session lock in Redis (acs_coord.h). */
/* Takes it for s (a new session whose Inform is not written yet); done
 * runs once: 0 (s->fence set), ACS_EAGAIN (another session holds it) or
 * ACS_ECOORD/ACS_ECANCELED. Returns 0, or an error (done never runs). */
int acs__sess_lock(acs__session *s, acs__sess_done_fn done);
/* At the session's end: compare-and-delete (fire and forget). */
void acs__sess_unlock(acs__session *s);
/* Before an answer that acts (an InformResponse, an RPC): false when s had
 * a lock and it has expired by now (this instance stalled past lock-ms, or
 * Redis was out of reach as long): another instance may hold the device,
 * so s must not answer (logged and counted once; s->lock_lost set). */
bool acs__sess_lock_valid(acs__session *s);
/* The worker's refresh timer over its table's sessions (lock_ms / 3). */
int acs__sess_lock_table_start(acs_session_table *t);
void acs__sess_lock_table_stop(acs_session_table *t);

/* session_queued.c: the table's mailbox for acs_session_task_queued. */
int acs__sess_queued_start(acs_session_table *t);
void acs__sess_queued_stop(acs_session_table *t);
/* session.c: the live session of a device on this worker, or NULL. */
acs__session *acs__sess_find_device(acs_session_table *t, const char *device_id);
/* cpe_auth.c: CPE authentication of the Informs (session/acs_cpe_auth.h).
 * The table's state, when cfg says on; its stop (Informs still waiting get
 * 503 when their credentials arrive). */
struct acs_cpe_auth;
int acs__auth_state_new(acs_session_table *t, const struct acs_cpe_auth *cfg);
void acs__auth_state_stop(acs_session_table *t);
/* Authenticates the Inform in (its parse in a) of device_id that arrived on
 * c with req: either answers c (401, 503) or calls ok, now or once the
 * device's credentials are read, which takes a (and answers c). */
typedef void (*acs__auth_ok_fn)(acs_conn *c, acs_session_table *t, acs_arena *a, acs_cwmp_msg *in);
void acs__auth_inform(acs_conn *c, acs_session_table *t, const acs_http_request *req,
                      acs_arena *a, acs_cwmp_msg *in, const char *device_id, acs__auth_ok_fn ok);

void acs__sess_ref(acs__session *s);
void acs__sess_unref(acs__session *s);

#endif
