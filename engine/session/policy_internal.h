/* policy_internal.h: what the files of the policy runtime share
 * (policy.c: the phase in a session; policy_host.c: the host functions;
 * policy_preset.c: which provisions run). Not a public header. */
#ifndef ACS_POLICY_INTERNAL_H
#define ACS_POLICY_INTERNAL_H

#include <jansson.h>
#include <lua.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "session/session_internal.h"

#define ACS__POLICY_MAX_ROUNDS 32
/* The provision name of a SetParameterValues task of virtual parameters
 * (lua/set_virtual.lua); no provisions/ name can be it (it has a space). */
#define ACS__POLICY_SET_VIRTUAL "set virtual parameters"

typedef struct pdecl {
  acs_decl d;  /* strings owned */
  char *error; /* the CPE's fault, once it failed */
  int chan;    /* index of the channel that declared it (-1: none known) */
  bool failed;
  uint64_t done_at; /* the model epoch at which it needed nothing (0: not known) */
} pdecl;

typedef struct pchan {
  acs_script_chan *ch;
  char *channel; /* the faults table's channel */
  char *provision;
  int64_t task_id; /* a Provision task's channel: the task records the outcome */
  bool waiting;    /* suspended in acs.read / acs.commit */
  bool done;       /* completed */
  bool faulted;    /* its fault is in the faults table (or the task's) */
  bool cpe_fault;  /* a fault of the engine's (no progress, rounds) was stored for it */
} pchan;

struct acs__policy {
  acs_script_run *run;
  acs_policy_vm *pv; /* the policies the run is of (the current or a canary generation's) */
  pchan *chans;
  size_t nchans, capchans;
  pdecl *decls;
  size_t ndecls, capdecls;
  acs_arena plan_arena;
  acs_arena scratch; /* acs__policy_needs_work's, rewound after each use */
  acs_plan plan;
  size_t plan_next;
  int rounds;
  bool started;
  bool over;       /* the policy phase ended, faults cleared */
  bool rpc_failed; /* the last planner RPC got a fault */
  bool split_gpv;  /* a GetParameterValues of several names got 9005: one name per RPC */
  char last_fault[160];
  /* log(): lines written and dropped past the cap (policy-log-lines) */
  unsigned log_lines;
  unsigned long long log_dropped;
  /* The planner's RPCs sent so far, as keys (policy.c, rpc_key): one
   * identical to an earlier one means that earlier answer brought nothing
   * new, and it is not sent again. */
  char **sent_keys;
  size_t nsent, capsent;
  /* The model's epoch: the planner's answer for a declaration depends on
   * the model and the declaration only, so "needs nothing" holds until the
   * model changes. Bumped by every change the runtime makes (answers,
   * clear(), virtual parameters) and at each entry into the phase (the
   * session applies its tasks' answers between entries). */
  uint64_t dm_epoch;
  json_t *ctx;     /* the session's policy context (s->policy_ctx), or NULL */
  json_t *actions; /* one-shot actions asked for: [{rpc, args, key, by}] */
  json_t *secrets; /* secrets to seal once their declaration succeeded: [{name, value, decl}] */
  acs__task *new_tasks; /* the actions' tasks, read back by the last attempt */
  size_t nnew_tasks;
  acs__sess_done_fn flush_done;
};

/* policy.c */
/* Would the planner do anything for this declaration alone? (Remembered
 * until the model's epoch moves.) */
bool acs__policy_needs_work(acs__session *s, pdecl *d);
/* The model changed: what declarations needed is to be planned again. */
static inline void acs__policy_dm_changed(acs__policy *p) {
  if (p) p->dm_epoch++;
}
void acs__policy_chan_add(acs__policy *p, acs_script_chan *ch, const char *channel,
                          const char *provision);
/* Records how the channel stopped (a fault goes to the faults table). */
void acs__policy_chan_stopped(acs__session *s, pchan *c, int st);

/* policy_host.c */
/* The session of a policy's coroutine (raises outside a session). */
acs__session *acs__policy_sess(lua_State *L);
/* An Inform parameter's value by the end of its name ("DeviceInfo.SoftwareVersion"). */
const char *acs__policy_inform_param(const acs__session *s, const char *suffix);
/* Pushes a JSON value as Lua (objects and arrays as tables, depth-bounded). */
void acs__policy_push_json(lua_State *L, const json_t *v, int depth);

/* policy_actions.c: host functions of one-shot actions, tags, clear() and
 * virtual parameters */
int l_acs_action(lua_State *L);        /* acs.action(rpc, args, key) -> state, code, message */
int l_acs_action_status(lua_State *L); /* acs.action_status(key) -> state, code, message | nil */
int l_acs_tag(lua_State *L);           /* acs.tag(name, on) */
int l_acs_clear(lua_State *L);         /* acs.clear(path) */
int l_acs_virtual(lua_State *L);       /* acs.virtual(name) -> function | nil */
int l_acs_virtual_store(lua_State *L); /* acs.virtual_store(name, value, type, writable) */

/* policy_secrets.c */
int l_acs_secret(lua_State *L);        /* acs.secret(name) -> value | nil, why */
int l_acs_secret_set(lua_State *L);    /* acs.secret_set(name, value, decl) */
int l_acs_random_secret(lua_State *L); /* acs.random_secret(n) -> text */
/* Seals the secrets whose declarations succeeded into device_secrets. */
void acs__policy_flush_secrets(acs__session *s);

/* policy_preset.c */
/* Runs the presets files and starts the provisions of the presets that
 * match (events, precondition, schedule; channels in back-off skipped). */
void acs__policy_start_presets(acs__session *s, acs_policy_vm *pv);
/* Starts provisions/NAME in channel with args (a JSON object or NULL). */
void acs__policy_start_provision_json(acs__session *s, const char *name, const char *channel,
                                      const json_t *args, int64_t task_id);

#endif
