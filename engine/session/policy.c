/* policy.c: Lua policies inside CWMP sessions (acs_policy.h).
 *
 * The policy tree (a directory: provisions/NAME.lua, presets/NAME.lua) is
 * compiled into each worker's VM as one generation, with the standard
 * library of the lua/ folder compiled into acsd ("lib/NAME"; lib/acs runs once
 * per generation and its functions serve every run). A session's policy
 * phase starts after its queued tasks: the run gets the session as its
 * context, every presets file returns its presets, and each preset that matches the Inform
 * (events, precondition on device fields and tags) starts its provisions,
 * each in its own channel, heaviest preset first (policy_preset.c); then
 * the provisions of the session's Provision tasks, then the alarm rules.
 *
 * declare() only records; reading a value (acs.read) suspends the channel
 * when the engine lacks what the declaration asks for (the planner would
 * send an RPC for it). When every channel has stopped, the planner turns
 * all declarations into the next stage's RPCs; once those are answered (and
 * the data model updated), the suspended channels resume, and so on until a
 * round has nothing to do and every channel is done. No policy is re-run
 * from the top. A CPE fault on an RPC of the planner fails the declarations
 * it served: their reads return nil and the fault.
 *
 * Progress or stop: the planner is pure, so an RPC identical to one sent
 * earlier in the session means the earlier answer did not bring what was
 * asked (a CPE that answers a partial path with the object alone, a value
 * that does not stick). It is not sent again: the declarations it served
 * fail, their channels get a fault naming the CPE's behaviour
 * (cwmp.no_progress), and the rest of the declarations go on. The round
 * limit faults the channels it stops the same way (script.rounds). */
#include <jansson.h>
#include <lauxlib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/acs_buf.h"
#include "core/acs_err.h"
#include "core/acs_log.h"
#include "script/acs_script.h"
#include "session/acs_policy.h"
#include "session/acs_rpc_json.h"
#include "session/policy_internal.h"

/* --- the engine's clock (tests move it with ACS_CLOCK_OFFSET_MS) */

static int64_t clock_offset_ms(void) {
  static int64_t off = INT64_MIN;
  if (off == INT64_MIN) {
    const char *e = getenv("ACS_CLOCK_OFFSET_MS");
    off = e ? strtoll(e, NULL, 10) : 0;
  }
  return off;
}

int64_t acs_policy_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 + clock_offset_ms();
}

static int64_t vm_clock(void *ud) { return acs_policy_now_ms(); }

void acs__policy_chan_add(acs__policy *p, acs_script_chan *ch, const char *channel,
                          const char *provision) {
  if (p->nchans == p->capchans) {
    p->capchans = p->capchans ? p->capchans * 2 : 8;
    p->chans = realloc(p->chans, p->capchans * sizeof *p->chans);
    if (!p->chans) abort();
  }
  pchan *c = &p->chans[p->nchans++];
  c->ch = ch;
  c->channel = strdup(channel ? channel : "default");
  c->provision = strdup(provision ? provision : "?");
  c->task_id = 0;
  c->waiting = false;
  c->done = false;
  c->faulted = false;
  c->cpe_fault = false;
}

/* A channel stopped: a fault goes to the faults table of its channel (the
 * preset's channel, shared by its provisions); a channel whose provisions
 * all completed clears its fault when the policy phase is over
 * (policy_over). */
void acs__policy_chan_stopped(acs__session *s, pchan *c, int st) {
  c->waiting = st == ACS_SCRIPT_YIELD;
  c->done = st == ACS_SCRIPT_DONE;
  c->faulted = st == ACS_SCRIPT_FAULT;
  if (st == ACS_SCRIPT_FAULT && s->t->aw->metrics)
    acs_metric_add(&s->t->aw->metrics->policy_faults, 1);
  if (st == ACS_SCRIPT_FAULT) {
    const char *code = acs_script_chan_fault_code(c->ch);
    const char *msg = acs_script_chan_fault_message(c->ch);
    if (!s->dry) /* a dry run's faults go to its report */
      acs_log(ACS_LOG_WARN, "policy", "%s: %s (channel %s): %s: %s", s->device_id, c->provision,
              c->channel, code, msg);
    if (!c->task_id) acs__sess_store_fault(s, c->channel, code, msg, c->provision);
  }
}

/* --- the session side */

/* Provision tasks: each in a channel of its own, "task:ID". */
static void start_task_provisions(acs__session *s) {
  for (size_t i = 0; i < s->ntasks; i++) {
    acs__task *t = &s->tasks[i];
    bool virt = acs__task_sets_virtual(t) == 1;
    if (!virt && strcmp(t->rpc, ACS_RPC_PROVISION) != 0) continue;
    json_t *args = json_loads(t->args ? t->args : "{}", 0, NULL);
    char channel[40];
    snprintf(channel, sizeof channel, "task:%lld", (long long)t->id);
    if (virt) { /* its ParameterList through the rules' set() */
      acs__policy_start_provision_json(s, ACS__POLICY_SET_VIRTUAL, channel, args, t->id);
      json_decref(args);
      continue;
    }
    const json_t *names = json_object_get(args, "provisions");
    for (size_t k = 0; k < json_array_size(names); k++) {
      const char *name = json_string_value(json_array_get(names, k));
      if (name)
        acs__policy_start_provision_json(s, name, channel, json_object_get(args, "args"), t->id);
    }
    if (json_array_size(names) == 0) { /* checked by the API; a row written by hand */
      acs__policy_chan_add(s->pol, NULL, channel, "?");
      s->pol->chans[s->pol->nchans - 1].task_id = t->id;
      s->pol->chans[s->pol->nchans - 1].faulted = true;
    }
    json_decref(args);
  }
}

/* A Provision task is done when all its provisions completed, else fault. */
static void settle_task(acs__session *s, const pchan *first) {
  acs__policy *p = s->pol;
  for (size_t j = 0; j < p->nchans; j++) {
    const pchan *c = &p->chans[j];
    if (c->task_id != first->task_id || c->done) continue;
    char msg[600];
    snprintf(msg, sizeof msg, "%s: %s", c->provision,
             !c->ch       ? "no such provision"
             : c->faulted ? acs_script_chan_fault_message(c->ch)
                          : "did not complete in the session");
    acs__sess_store_task_status(s, c->task_id, "fault", 8002, msg);
    return;
  }
  acs__sess_store_task_status(s, first->task_id, "done", 0, NULL);
}

static void policy_start(acs__session *s, acs_policy_vm *pv) {
  acs__policy *p = s->pol;
  p->started = true;
  if (s->policy_ctx_json) p->ctx = json_incref(s->policy_ctx_json);
  p->pv = pv;
  p->run = acs_script_run_new(pv->vm, NULL, s);
  if (!p->run) {
    acs_log(ACS_LOG_ERR, "policy", "%s: cannot start a policy run", s->device_id);
    return;
  }
  acs__policy_start_presets(s, pv);
  start_task_provisions(s);
  /* alarm rules: every one, each in its own channel, after the provisions */
  for (size_t i = 0; i < pv->nalarms; i++) {
    acs_script_chan *ach = NULL;
    int ast = acs_script_run_call(p->run, pv->alarms[i], NULL, &ach);
    if (ast < 0 || !ach) continue;
    acs__policy_chan_add(p, ach, pv->alarms[i], pv->alarms[i]);
    acs__policy_chan_stopped(s, &p->chans[p->nchans - 1], ast);
  }
}

static bool any_waiting(const acs__policy *p) {
  for (size_t i = 0; i < p->nchans; i++)
    if (p->chans[i].waiting) return true;
  return false;
}

static void resume_waiting(acs__session *s) {
  acs__policy *p = s->pol;
  /* channels may start others' work: index, not pointers (chans may grow) */
  for (size_t i = 0; i < p->nchans; i++) {
    if (!p->chans[i].waiting) continue;
    p->chans[i].waiting = false;
    int st = acs_script_chan_resume(p->chans[i].ch, 0);
    if (st < 0) st = ACS_SCRIPT_FAULT;
    acs__policy_chan_stopped(s, &p->chans[i], st);
  }
}

/* After a 9005 on a GetParameterValues of several names (the CPE does not
 * say which one it refused), the values go one name per RPC, so that a
 * fault fails only the declarations of the name refused. */
static int split_values(acs__policy *p) {
  if (!p->split_gpv || p->plan.stage != 3 || p->plan.n != 1) return 0;
  acs_cwmp_strings *names = &p->plan.rpcs[0].u.get_parameter_values.names;
  if (names->n < 2) return 0;
  acs_cwmp_msg *v = acs_arena_calloc(&p->plan_arena, names->n, sizeof *v);
  if (!v) return ACS_ENOMEM;
  for (size_t i = 0; i < names->n; i++) {
    v[i].kind = ACS_CWMP_GET_PARAMETER_VALUES;
    v[i].u.get_parameter_values.names.v = &names->v[i];
    v[i].u.get_parameter_values.names.n = 1;
  }
  p->plan.rpcs = v;
  p->plan.n = names->n;
  return 0;
}

/* The declarations the planner still works on. */
static int plan_all(acs__session *s) {
  acs__policy *p = s->pol;
  acs_decl *live = malloc((p->ndecls + 1) * sizeof *live);
  if (!live) return ACS_ENOMEM;
  size_t n = 0;
  /* one that needs nothing on this model adds nothing to any stage (each
   * stage is the union of what the declarations need) */
  for (size_t i = 0; i < p->ndecls; i++)
    if (!p->decls[i].failed && p->decls[i].done_at != p->dm_epoch) live[n++] = p->decls[i].d;
  acs_arena_reset(&p->plan_arena);
  memset(&p->plan, 0, sizeof p->plan);
  int rc = n ? acs_plan_next(&s->dm, live, n, acs_policy_now_ms(), &p->plan_arena, &p->plan) : 0;
  free(live);
  p->plan_next = 0;
  return rc ? rc : split_values(p);
}

/* Did channel have a fault row when the session started? (Clearing one
 * that has none would be a write for nothing, every session.) */
static bool has_fault(const acs__policy *p, const char *channel) {
  const json_t *faults = json_object_get(p->ctx, "faults");
  for (size_t i = 0; i < json_array_size(faults); i++)
    if (!strcmp(json_string_value(json_object_get(json_array_get(faults, i), "channel")), channel))
      return true;
  return false;
}

/* The policy phase is over: each channel whose provisions all completed
 * clears its fault (once); one with a provision that faulted keeps it. */
static void policy_over(acs__session *s) {
  acs__policy *p = s->pol;
  if (p->over) return;
  p->over = true;
  if (p->secrets) acs__policy_flush_secrets(s);
  for (size_t i = 0; i < p->nchans; i++) {
    if (p->chans[i].task_id) {
      bool first = true;
      for (size_t j = 0; j < i && first; j++) first = p->chans[j].task_id != p->chans[i].task_id;
      if (first) settle_task(s, &p->chans[i]);
      continue;
    }
    bool clear = true;
    for (size_t j = 0; j < p->nchans && clear; j++) {
      if (strcmp(p->chans[j].channel, p->chans[i].channel) != 0) continue;
      /* decided at the channel's first entry; all of them must have completed */
      if (j < i || !p->chans[j].done || p->chans[j].cpe_fault) clear = false;
    }
    if (clear && has_fault(p, p->chans[i].channel))
      acs__sess_store_fault_clear(s, p->chans[i].channel);
  }
}

static bool policy_step(acs__session *s, acs_policy_vm *pv, acs_cwmp_msg *out);
static bool no_progress(acs__session *s, const acs_cwmp_msg *m);
static void engine_fault(acs__session *s, size_t chan, const char *code, const char *msg);

bool acs__policy_next(acs__session *s, acs_policy_vm *pv, acs_cwmp_msg *out) {
  if (s->pol && s->pol->pv) pv = s->pol->pv; /* the one it started with */
  acs__policy_dm_changed(s->pol); /* the session may have applied answers since */
  if (policy_step(s, pv, out)) return true;
  if (s->pol && s->pol->run) policy_over(s);
  return false;
}

static bool policy_step(acs__session *s, acs_policy_vm *pv, acs_cwmp_msg *out) {
  if (!pv || pv->error) return false;
  if (!s->pol) {
    s->pol = calloc(1, sizeof *s->pol);
    if (!s->pol) return false;
    acs_arena_init(&s->pol->plan_arena, 8192);
    s->pol->dm_epoch = 1;
  }
  acs__policy *p = s->pol;
  if (!p->started) policy_start(s, pv);
  if (!p->run) return false;
  for (int guard = 0; guard < 4 * ACS__POLICY_MAX_ROUNDS; guard++) {
    while (p->plan_next < p->plan.n) {
      const acs_cwmp_msg *m = &p->plan.rpcs[p->plan_next++];
      if (no_progress(s, m)) continue; /* its declarations failed; the rest go on */
      *out = *m;
      return true;
    }
    /* a stage is over: let the suspended channels see its answers first */
    if (p->plan.n) {
      p->plan.n = 0;
      resume_waiting(s);
    }
    if (p->rounds >= ACS__POLICY_MAX_ROUNDS) break;
    if (plan_all(s)) break;
    if (p->plan.n) {
      p->rounds++;
      continue;
    }
    if (!any_waiting(p)) return false;
    /* nothing left to fetch: whoever waits gets what there is */
    resume_waiting(s);
    if (plan_all(s) == 0 && p->plan.n) {
      p->rounds++;
      continue;
    }
    if (!any_waiting(p)) return false;
  }
  /* too many rounds: the channels still waiting fail, and so do those whose
   * declarations still need work (a channel that only declared is not
   * waiting, and its fault must not go unrecorded) */
  char msg[160];
  snprintf(msg, sizeof msg, "more round trips to the CPE than a session allows (%d)",
           ACS__POLICY_MAX_ROUNDS);
  for (size_t i = 0; i < p->ndecls; i++) {
    pdecl *d = &p->decls[i];
    if (d->chan < 0 || !acs__policy_needs_work(s, d)) continue;
    d->failed = true;
    free(d->error);
    d->error = strdup(msg);
    engine_fault(s, (size_t)d->chan, "script.rounds", msg);
  }
  for (size_t i = 0; i < p->nchans; i++) {
    if (!p->chans[i].waiting) continue;
    p->chans[i].waiting = false;
    p->chans[i].faulted = true;
    engine_fault(s, i, "script.rounds", msg);
  }
  acs_log(ACS_LOG_WARN, "policy", "%s: %s", s->device_id, msg);
  return false;
}

/* A fault of the engine's for a channel (once per channel name and session;
 * a Provision task's channel reports through its task instead). */
static void engine_fault(acs__session *s, size_t chan, const char *code, const char *msg) {
  acs__policy *p = s->pol;
  if (chan >= p->nchans) return;
  pchan *c = &p->chans[chan];
  for (size_t j = 0; j < p->nchans; j++)
    if (p->chans[j].cpe_fault && !strcmp(p->chans[j].channel, c->channel)) {
      c->cpe_fault = true;
      return;
    }
  c->cpe_fault = true;
  if (!c->task_id) acs__sess_store_fault(s, c->channel, code, msg, c->provision);
}

/* The key of a planner RPC: two RPCs with the same key ask the CPE the same
 * thing. NULL for AddObject (its answer always brings a new instance) and
 * on allocation failure. */
static char *rpc_key(const acs_cwmp_msg *m) {
  acs_buf b = ACS_BUF_INIT;
  acs_buf_printf(&b, "%d", (int)m->kind);
  switch (m->kind) {
    case ACS_CWMP_GET_PARAMETER_VALUES:
      for (size_t i = 0; i < m->u.get_parameter_values.names.n; i++) {
        const char *n = m->u.get_parameter_values.names.v[i];
        acs_buf_printf(&b, "\n%s", n ? n : "");
      }
      break;
    case ACS_CWMP_GET_PARAMETER_NAMES:
      acs_buf_printf(&b, "\n%s\n%d",
                     m->u.get_parameter_names.parameter_path
                         ? m->u.get_parameter_names.parameter_path
                         : "",
                     (int)m->u.get_parameter_names.next_level);
      break;
    case ACS_CWMP_SET_PARAMETER_VALUES:
      for (size_t i = 0; i < m->u.set_parameter_values.params.n; i++) {
        const acs_cwmp_param_value *v = &m->u.set_parameter_values.params.v[i];
        acs_buf_printf(&b, "\n%s\t%d\t%s", v->name ? v->name : "", (int)v->type,
                       v->value ? v->value : "");
      }
      break;
    case ACS_CWMP_SET_PARAMETER_ATTRIBUTES:
      for (size_t i = 0; i < m->u.set_parameter_attributes.params.n; i++) {
        const acs_cwmp_set_attr *a = &m->u.set_parameter_attributes.params.v[i];
        acs_buf_printf(&b, "\n%s\t%d", a->name ? a->name : "", a->notification);
      }
      break;
    case ACS_CWMP_DELETE_OBJECT:
      acs_buf_printf(&b, "\n%s",
                     m->u.delete_object.object_name ? m->u.delete_object.object_name : "");
      break;
    default:
      acs_buf_free(&b);
      return NULL;
  }
  if (acs_buf_err(&b)) {
    acs_buf_free(&b);
    return NULL;
  }
  return b.data; /* the buffer's malloc'd bytes */
}

static bool gpv_serves(acs__session *s, const pdecl *d, const char *name);

/* Would this declaration have m sent (or part of it)? */
static bool decl_served_by(acs__session *s, pdecl *d, const acs_cwmp_msg *m) {
  if (d->failed || !acs__policy_needs_work(s, d)) return false;
  switch (m->kind) {
    case ACS_CWMP_GET_PARAMETER_VALUES:
      if (d->d.value_at <= 0) return false;
      for (size_t i = 0; i < m->u.get_parameter_values.names.n; i++)
        if (gpv_serves(s, d, m->u.get_parameter_values.names.v[i])) return true;
      return false;
    case ACS_CWMP_SET_PARAMETER_VALUES:
      return d->d.value != NULL;
    case ACS_CWMP_SET_PARAMETER_ATTRIBUTES:
      return d->d.notification >= 0;
    case ACS_CWMP_DELETE_OBJECT:
      return d->d.instances >= 0;
    default:
      return true;
  }
}

static const char *rpc_subject(const acs_cwmp_msg *m) {
  const char *n = NULL;
  if (m->kind == ACS_CWMP_GET_PARAMETER_VALUES && m->u.get_parameter_values.names.n)
    n = m->u.get_parameter_values.names.v[0];
  else if (m->kind == ACS_CWMP_GET_PARAMETER_NAMES)
    n = m->u.get_parameter_names.parameter_path;
  else if (m->kind == ACS_CWMP_SET_PARAMETER_VALUES && m->u.set_parameter_values.params.n)
    n = m->u.set_parameter_values.params.v[0].name;
  else if (m->kind == ACS_CWMP_SET_PARAMETER_ATTRIBUTES && m->u.set_parameter_attributes.params.n)
    n = m->u.set_parameter_attributes.params.v[0].name;
  else if (m->kind == ACS_CWMP_DELETE_OBJECT)
    n = m->u.delete_object.object_name;
  return n ? n : "";
}

/* An AddObject of obj changes what a listing of obj or of an ancestor
 * answers (dm.c forgets those listings): listing them again is progress,
 * so their keys are forgotten. */
static void forget_listings(acs__policy *p, const char *obj) {
  char head[16];
  int hl = snprintf(head, sizeof head, "%d\n", (int)ACS_CWMP_GET_PARAMETER_NAMES);
  size_t ol = obj ? strlen(obj) : 0;
  for (size_t i = 0; i < p->nsent;) {
    const char *k = p->sent_keys[i], *path = k + hl, *end = strrchr(k, '\n');
    if (strncmp(k, head, (size_t)hl) == 0 && end && end >= path && (size_t)(end - path) <= ol &&
        strncmp(path, obj, (size_t)(end - path)) == 0) {
      free(p->sent_keys[i]);
      p->sent_keys[i] = p->sent_keys[--p->nsent];
      continue;
    }
    i++;
  }
}

/* True when m repeats an RPC already sent in this session: then its
 * declarations fail with a fault for their channels, and m is not sent.
 * Otherwise m is remembered. */
static bool no_progress(acs__session *s, const acs_cwmp_msg *m) {
  acs__policy *p = s->pol;
  if (m->kind == ACS_CWMP_ADD_OBJECT) forget_listings(p, m->u.add_object.object_name);
  char *key = rpc_key(m);
  if (!key) return false;
  for (size_t i = 0; i < p->nsent; i++) {
    if (strcmp(p->sent_keys[i], key) != 0) continue;
    free(key);
    char msg[400];
    snprintf(msg, sizeof msg,
             "no progress: the CPE's answer to %s %.200s did not bring what was asked (%s); "
             "not asked again",
             acs_cwmp_kind_name(m->kind), rpc_subject(m),
             m->kind == ACS_CWMP_GET_PARAMETER_VALUES ? "no values under it"
             : m->kind == ACS_CWMP_SET_PARAMETER_VALUES
                 ? "the values it took read back otherwise"
                 : "the same request would be sent again");
    acs_log(ACS_LOG_WARN, "policy", "%s: %s", s->device_id, msg);
    bool any = false;
    for (size_t k = 0; k < p->ndecls; k++) {
      pdecl *d = &p->decls[k];
      if (!decl_served_by(s, d, m)) continue;
      any = true;
      d->failed = true;
      free(d->error);
      d->error = strdup(msg);
      if (d->chan >= 0) engine_fault(s, (size_t)d->chan, "cwmp.no_progress", msg);
    }
    if (!any) { /* nothing to blame: no declaration may ask for it again */
      for (size_t k = 0; k < p->ndecls; k++) {
        pdecl *d = &p->decls[k];
        if (d->failed || !acs__policy_needs_work(s, d)) continue;
        d->failed = true;
        free(d->error);
        d->error = strdup(msg);
        if (d->chan >= 0) engine_fault(s, (size_t)d->chan, "cwmp.no_progress", msg);
      }
    }
    acs__policy_dm_changed(p); /* failed declarations leave the plan */
    return true;
  }
  if (p->nsent == p->capsent) {
    size_t cap = p->capsent ? p->capsent * 2 : 16;
    char **v = realloc(p->sent_keys, cap * sizeof *v);
    if (!v) {
      free(key);
      return false;
    }
    p->sent_keys = v;
    p->capsent = cap;
  }
  p->sent_keys[p->nsent++] = key;
  return false;
}

/* Would this declaration alone read name (a GetParameterValues of it)? */
static bool gpv_serves(acs__session *s, const pdecl *d, const char *name) {
  acs_arena a;
  acs_arena_init(&a, 4096);
  acs_plan plan;
  bool hit = false;
  if (acs_plan_next(&s->dm, &d->d, 1, acs_policy_now_ms(), &a, &plan) == 0 && plan.stage == 3) {
    const acs_cwmp_strings *n = &plan.rpcs[0].u.get_parameter_values.names;
    for (size_t i = 0; i < n->n && !hit; i++) hit = n->v[i] && strcmp(n->v[i], name) == 0;
  }
  acs_arena_reset(&a);
  return hit;
}

/* Which declarations did this RPC serve? Those the planner would redo. */
static void fail_decls(acs__session *s, const acs_cwmp_msg *sent, const char *why) {
  acs__policy *p = s->pol;
  for (size_t i = 0; i < p->ndecls; i++) {
    pdecl *d = &p->decls[i];
    if (d->failed || !acs__policy_needs_work(s, d)) continue;
    bool hit = false;
    if (sent->kind == ACS_CWMP_SET_PARAMETER_VALUES) {
      hit = d->d.value != NULL;
    } else if (sent->kind == ACS_CWMP_GET_PARAMETER_VALUES) {
      hit = d->d.value_at > 0 && (sent->u.get_parameter_values.names.n != 1 ||
                                  gpv_serves(s, d, sent->u.get_parameter_values.names.v[0]));
    } else if (sent->kind == ACS_CWMP_SET_PARAMETER_ATTRIBUTES) {
      hit = d->d.notification >= 0;
    } else if (sent->kind == ACS_CWMP_ADD_OBJECT || sent->kind == ACS_CWMP_DELETE_OBJECT) {
      hit = d->d.instances >= 0;
    } else {
      hit = true;
    }
    if (!hit) continue;
    d->failed = true;
    free(d->error);
    d->error = strdup(why);
  }
}

void acs__policy_answer(acs__session *s, const acs_cwmp_msg *sent, const acs_cwmp_msg *rsp) {
  acs__policy *p = s->pol;
  if (!p) return;
  acs__policy_dm_changed(p);
  if (acs_dm_apply(&s->dm, sent, rsp, acs_policy_now_ms()))
    acs_log(ACS_LOG_WARN, "policy", "%s: out of memory updating the data model", s->device_id);
  if (rsp->kind == ACS_CWMP_FAULT) {
    char why[300];
    const acs_cwmp_fault *f = &rsp->u.fault;
    snprintf(why, sizeof why, "%u %s", f->code,
             f->string ? f->string
                       : (acs_cwmp_fault_string(f->code) ? acs_cwmp_fault_string(f->code) : ""));
    if (f->spv_faults.n) {
      size_t len = strlen(why);
      snprintf(why + len, sizeof why - len, " (%s: %u)",
               f->spv_faults.v[0].parameter_name ? f->spv_faults.v[0].parameter_name : "?",
               f->spv_faults.v[0].code);
    }
    /* a listing the CPE refuses with 9005 is an answer: the subtree is absent;
     * values of several names refused with 9005 are asked for one by one */
    if (sent->kind == ACS_CWMP_GET_PARAMETER_NAMES && f->code == 9005) return;
    /* a parameter's own name refused otherwise: the planner lists its object
     * next (acs_dm_apply marked it), the declarations stand */
    const char *gp = sent->kind == ACS_CWMP_GET_PARAMETER_NAMES
                         ? sent->u.get_parameter_names.parameter_path
                         : NULL;
    if (gp && *gp && gp[strlen(gp) - 1] != '.' && strchr(gp, '.')) return;
    if (sent->kind == ACS_CWMP_GET_PARAMETER_VALUES && f->code == 9005 &&
        sent->u.get_parameter_values.names.n > 1) {
      p->split_gpv = true;
      return;
    }
    fail_decls(s, sent, why);
  }
}

void acs__policy_log_dropped(acs__session *s) {
  acs__policy *p = s->pol;
  if (!p || !p->log_dropped) return;
  char line[160];
  snprintf(line, sizeof line,
           "%llu more log lines of this session's policies dropped (policy-log-lines: %u)",
           p->log_dropped, p->log_lines);
  if (s->dry) {
    acs__dry_log(s, "warn", line);
  } else {
    acs_log(ACS_LOG_WARN, "policy", "%s: %s", s->device_id, line);
  }
  p->log_dropped = 0;
}

void acs__policy_free(acs__session *s) {
  acs__policy *p = s->pol;
  if (!p) return;
  acs__policy_log_dropped(s);
  if (p->run) acs_script_run_free(p->run);
  for (size_t i = 0; i < p->nchans; i++) {
    free(p->chans[i].channel);
    free(p->chans[i].provision);
  }
  free(p->chans);
  for (size_t i = 0; i < p->ndecls; i++) {
    free((char *)p->decls[i].d.path);
    free((char *)p->decls[i].d.value);
    free(p->decls[i].error);
  }
  free(p->decls);
  for (size_t i = 0; i < p->nsent; i++) free(p->sent_keys[i]);
  free(p->sent_keys);
  json_decref(p->ctx);
  json_decref(p->actions);
  json_decref(p->secrets);
  for (size_t i = 0; i < p->nnew_tasks; i++) {
    free(p->new_tasks[i].rpc);
    free(p->new_tasks[i].args);
    free(p->new_tasks[i].command_key);
  }
  free(p->new_tasks);
  acs_arena_reset(&p->plan_arena);
  acs_arena_reset(&p->scratch);
  free(p);
  s->pol = NULL;
}

acs_script_clock_fn acs__policy_clock(void) { return vm_clock; }
