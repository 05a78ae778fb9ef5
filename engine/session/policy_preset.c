/* policy_preset.c: which provisions run in a session. Every presets file
 * returns one preset or a list; a preset matches when the Inform carries
 * one of its events (or it names none), its precondition holds (device
 * fields, parameters, tags) and, with a schedule, the session falls inside
 * the schedule's window, at or after this device's own place in it (a
 * stable spread, so a fleet does not come all at once). Matching presets
 * start their provisions heaviest first, each provision in its preset's
 * channel; a channel that faulted waits base x 2^retries (capped, the
 * config's fault-retry-base / fault-retry-max) before it runs again, unless
 * an operator asked for a retry (faults.next_retry_at). */
#include <lauxlib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/acs_err.h"
#include "core/acs_match.h"
#include "core/acs_log.h"
#include "script/acs_script.h"
#include "session/acs_cron.h"
#include "session/policy_internal.h"

typedef struct prov_args {
  lua_State *from;
  int ref; /* the args table in the registry, or LUA_NOREF */
} prov_args;

/* A stable number in [0, 1) for this device and salt (FNV-1a). */
static double spread_of(const char *device_id, const char *salt) {
  uint32_t h = 2166136261u;
  for (const char *p = salt; *p; p++) h = (h ^ (unsigned char)*p) * 16777619u;
  for (const char *p = device_id; *p; p++) h = (h ^ (unsigned char)*p) * 16777619u;
  return h / 4294967296.0;
}

/* schedule = "CRON" or {cron = "CRON", window = SECONDS (3600), spread =
 * true (half the window) | SECONDS | false}: the window opens at each
 * time the cron expression names; this device's part of it starts spread
 * x (a stable fraction) later. */
static bool schedule_matches(acs__session *s, lua_State *L, const char *file) {
  int t = lua_getfield(L, -1, "schedule");
  if (t == LUA_TNIL) {
    lua_pop(L, 1);
    return true;
  }
  const char *expr = NULL;
  char ebuf[256];
  lua_Integer window = 3600, spread = 0;
  if (t == LUA_TSTRING) {
    expr = lua_tostring(L, -1);
  } else if (t == LUA_TTABLE) {
    /* copied: a field may be made by an __index, and nothing keeps it */
    lua_getfield(L, -1, "cron");
    size_t el = 0;
    const char *e = lua_type(L, -1) == LUA_TSTRING ? lua_tolstring(L, -1, &el) : NULL;
    if (e && el < sizeof ebuf) expr = memcpy(ebuf, e, el + 1);
    lua_pop(L, 1);
    int isnum = 0;
    lua_getfield(L, -1, "window");
    lua_Integer w = lua_tointegerx(L, -1, &isnum); /* 3 * 3600 or 10800.0 alike */
    if (isnum) window = w;
    lua_pop(L, 1);
    int st = lua_getfield(L, -1, "spread");
    if (st == LUA_TBOOLEAN) spread = lua_toboolean(L, -1) ? window / 2 : 0;
    if (st == LUA_TNUMBER) spread = lua_tointegerx(L, -1, &isnum);
    if (st == LUA_TNUMBER && !isnum) spread = -1; /* a fraction of a second: refused below */
    lua_pop(L, 1);
  }
  acs_cron c;
  char err[160] = "";
  acs_script_charge(L, 50); /* the expression parsed, its last tick found */
  if (!expr)
    snprintf(err, sizeof err, "no cron expression (a string, or {cron = ...})");
  else if (window < 60 || window > 31 * 86400)
    snprintf(err, sizeof err, "window must be 60 s to 31 days");
  else if (spread < 0 || spread >= window)
    snprintf(err, sizeof err, "spread must be whole seconds, less than the window");
  else
    acs_cron_parse(expr, &c, err, sizeof err);
  if (err[0]) {
    acs_script_charge(L, 200); /* a line written, as acs.log */
    acs_log(ACS_LOG_WARN, "policy", "%s: %s: schedule ignored, the preset does not match: %s",
            s->device_id, file, err);
    lua_pop(L, 1);
    return false;
  }
  char salt[300];
  snprintf(salt, sizeof salt, "%s|%s", file, expr);
  lua_pop(L, 1);
  int64_t now = acs_policy_now_ms() / 1000;
  int64_t tick = acs_cron_prev(&c, now, (int64_t)window - 1);
  if (tick < 0) return false;
  return now >= tick + (int64_t)(spread_of(s->device_id, salt) * (double)spread);
}

/* Has channel faulted too lately to run again? */
static bool channel_backoff(acs__session *s, const char *channel) {
  const json_t *faults = json_object_get(s->pol->ctx, "faults");
  for (size_t i = 0; i < json_array_size(faults); i++) {
    const json_t *f = json_array_get(faults, i);
    const char *c = json_string_value(json_object_get(f, "channel"));
    if (!c || strcmp(c, channel) != 0) continue;
    int64_t now = acs_policy_now_ms();
    const json_t *next = json_object_get(f, "next_retry_at");
    if (json_is_integer(next)) return now < json_integer_value(next);
    const acs_config *cfg = s->t->aw->app->cfg;
    int64_t retries = json_integer_value(json_object_get(f, "retries"));
    int64_t delay = cfg->fault_retry_base_s;
    for (int64_t k = 0; k < retries && delay < (int64_t)cfg->fault_retry_max_s; k++) delay *= 2;
    if (delay > (int64_t)cfg->fault_retry_max_s) delay = cfg->fault_retry_max_s;
    bool wait = now < json_integer_value(json_object_get(f, "last_at")) + delay * 1000;
    if (wait)
      acs_log(ACS_LOG_DEBUG, "policy", "%s: channel %s faulted %lld times: waits %lld s",
              s->device_id, channel, (long long)retries + 1, (long long)delay);
    return wait;
  }
  return false;
}

static void push_args(lua_State *L, void *ud) {
  prov_args *a = ud;
  if (a->ref == LUA_NOREF) return;
  lua_rawgeti(L, LUA_REGISTRYINDEX, a->ref);
  /* the args table: copy its string/number/boolean fields, one level */
  int src = lua_gettop(L);
  lua_pushnil(L);
  while (lua_next(L, src)) {
    lua_pushvalue(L, -2);
    lua_insert(L, -2);
    lua_rawset(L, src - 1);
  }
  lua_pop(L, 1);
}

/* A precondition's matcher (on top of L), one of {prefix = "LDA"},
 * {contains = "x"}, {regex = "^LDA[0-9]+$"} (PCRE2, bounded: acs_match.h),
 * {one_of = {"a", "b"}} (or ["in"] = {...}), applied to have. A malformed
 * matcher is logged and does not hold. Read raw (no metamethods). */
static bool matcher_holds(lua_State *L, const char *file, const char *key, const char *have) {
  const char *why = NULL;
  char err[200];
  bool holds = false;
  int n = 0;
  size_t hn = strlen(have);
  lua_pushnil(L);
  while (lua_next(L, -2)) {
    const char *op = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : NULL;
    size_t vn = 0;
    const char *v = lua_type(L, -1) == LUA_TSTRING ? lua_tolstring(L, -1, &vn) : NULL;
    n++;
    if (!op) {
      why = "a matcher's key is prefix, contains, regex or one_of";
    } else if (!strcmp(op, "one_of") || !strcmp(op, "in")) {
      if (lua_type(L, -1) != LUA_TTABLE) {
        why = "one_of takes a list of strings";
      } else {
        lua_Integer len = (lua_Integer)lua_rawlen(L, -1);
        for (lua_Integer i = 1; i <= len && !holds; i++) {
          if (lua_rawgeti(L, -1, i) == LUA_TSTRING) holds = strcmp(lua_tostring(L, -1), have) == 0;
          lua_pop(L, 1);
        }
      }
    } else if (!v) {
      why = "prefix, contains and regex take a string";
    } else if (!strcmp(op, "prefix")) {
      holds = acs_match_prefix(have, hn, v, vn);
    } else if (!strcmp(op, "contains")) {
      holds = acs_match_contains(have, hn, v, vn);
    } else if (!strcmp(op, "regex")) {
      acs_regex *re = NULL;
      int rc = acs_regex_compile(v, vn, &re, err, sizeof err);
      if (rc == ACS_EINVAL) {
        why = err;
      } else if (rc == 0) {
        rc = acs_regex_match(re, have, hn);
        holds = rc == 1;
        if (rc == ACS_ERANGE)
          acs_log(ACS_LOG_WARN, "policy", "%s: precondition %s: regex /%s/ ran out of its %d steps: "
                  "no match", file, key, v, ACS_MATCH_STEPS);
      }
      acs_regex_free(re);
    } else {
      why = "a matcher is one of prefix, contains, regex, one_of";
    }
    lua_pop(L, 1);
    if (why) {
      lua_pop(L, 1); /* the key */
      break;
    }
  }
  if (!why && n != 1) why = "a matcher has exactly one of prefix, contains, regex, one_of";
  if (why) {
    acs_log(ACS_LOG_WARN, "policy", "%s: precondition %s: %s: the preset does not match", file,
            key, why);
    return false;
  }
  return holds;
}

/* Does the preset on top of L match this session? */
static bool preset_matches(acs__session *s, lua_State *L, const char *file) {
  const acs_cwmp_inform *in = &s->inform.u.inform;
  bool ok = true;
  if (lua_getfield(L, -1, "events") == LUA_TTABLE) {
    bool any = false;
    lua_Integer n = (lua_Integer)lua_rawlen(L, -1);
    for (lua_Integer i = 1; i <= n && !any; i++) {
      acs_script_charge(L, 1 + in->events.n);
      lua_rawgeti(L, -1, i);
      const char *ev = lua_tostring(L, -1);
      for (size_t j = 0; ev && j < in->events.n && !any; j++)
        any = in->events.v[j].code && strcmp(in->events.v[j].code, ev) == 0;
      lua_pop(L, 1);
    }
    ok = any || n == 0;
  }
  lua_pop(L, 1);
  if (!ok && !acs__dry_all_presets(s)) return false;
  ok = true;
  if (lua_getfield(L, -1, "precondition") == LUA_TTABLE) {
    lua_pushnil(L);
    while (ok && lua_next(L, -2)) {
      acs_script_charge(L, 4);
      const char *k = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : NULL;
      if (!k) {
        ok = false;
      } else if (strcmp(k, "tags") == 0 && lua_istable(L, -1)) {
        lua_Integer n = (lua_Integer)lua_rawlen(L, -1);
        for (lua_Integer i = 1; i <= n && ok; i++) {
          acs_script_charge(L, 1 + s->ntags);
          lua_rawgeti(L, -1, i);
          const char *tag = lua_tostring(L, -1);
          bool has = false;
          for (size_t j = 0; tag && j < s->ntags && !has; j++) has = !strcmp(s->tags[j], tag);
          ok = has;
          lua_pop(L, 1);
        }
      } else {
        const char *want = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
        const char *have = NULL;
        const acs_cwmp_device_id *d = &in->device_id;
        if (!strcmp(k, "oui"))
          have = d->oui;
        else if (!strcmp(k, "product_class"))
          have = d->product_class;
        else if (!strcmp(k, "serial_number"))
          have = d->serial_number;
        else if (!strcmp(k, "manufacturer"))
          have = d->manufacturer;
        else if (!strcmp(k, "software_version"))
          have = acs__policy_inform_param(s, "DeviceInfo.SoftwareVersion");
        else {
          const acs_dm_param *pm = acs_dm_get(&s->dm, k);
          have = pm ? pm->value : NULL;
        }
        if (lua_type(L, -1) == LUA_TTABLE) {
          ok = have && matcher_holds(L, file, k, have);
        } else {
          ok = want && have && strcmp(want, have) == 0;
        }
      }
      lua_pop(L, 1);
    }
    if (!ok) lua_pop(L, 1); /* the key left by an early stop */
  }
  lua_pop(L, 1);
  return ok && (acs__dry_all_presets(s) || schedule_matches(s, L, file));
}

/* A provision a matching preset starts: its name and a copy of its args
 * table (in the registry, or LUA_NOREF). */
typedef struct mprov {
  char name[128];
  int args_ref;
} mprov;

typedef struct match {
  double weight;
  int order;
  char channel[128];
  mprov *provs;
  size_t nprovs;
} match;

typedef struct matches {
  acs__session *s;
  const char *file;
  match *v;
  size_t n, cap;
  int order;
  bool kept; /* reading a file's kept value: copies go all the way down */
} matches;

static int cmp_match(const void *a, const void *b) {
  const match *x = a, *y = b;
  if (x->weight != y->weight) return x->weight < y->weight ? 1 : -1;
  return x->order - y->order;
}

static void match_free(lua_State *L, match *m) {
  for (size_t k = 0; k < m->nprovs; k++)
    if (m->provs[k].args_ref != LUA_NOREF) luaL_unref(L, LUA_REGISTRYINDEX, m->provs[k].args_ref);
  free(m->provs);
  m->provs = NULL;
  m->nprovs = 0;
}

/* A copy of the table on top (raw reads: no policy code runs), which
 * replaces it; deep: its tables copied too (a kept value, plain data, is
 * shared by every session: a provision must not change it for the next). */
static void copy_table(lua_State *L, bool deep) {
  luaL_checkstack(L, 4, NULL);
  int src = lua_gettop(L);
  lua_newtable(L);
  lua_pushnil(L);
  while (lua_next(L, src)) {
    acs_script_charge(L, 4);
    if (deep && lua_istable(L, -1)) copy_table(L, true);
    lua_pushvalue(L, -2);
    lua_insert(L, -2);
    lua_rawset(L, src + 1);
  }
  lua_remove(L, src);
}

/* The args table on top, copied into the registry (it replaces it). */
static int copy_args(lua_State *L, bool deep) {
  copy_table(L, deep);
  return luaL_ref(L, LUA_REGISTRYINDEX);
}

/* The matching preset on top of L: its channel and provisions into the
 * next match. Everything it allocates is in ms at once (a raise leaves
 * nothing the caller cannot free). */
static void collect_preset(lua_State *L, matches *ms) {
  acs_script_charge(L, 16);
  if (ms->n == ms->cap) {
    size_t cap = ms->cap ? ms->cap * 2 : 8;
    match *v = realloc(ms->v, cap * sizeof *v);
    if (!v) luaL_error(L, "out of memory");
    ms->v = v;
    ms->cap = cap;
  }
  match *m = &ms->v[ms->n];
  memset(m, 0, sizeof *m);
  m->order = ms->order++;
  ms->n++;
  acs_script_charge_host(L, sizeof *m);
  lua_getfield(L, -1, "weight");
  m->weight = lua_isnumber(L, -1) ? lua_tonumber(L, -1) : 0;
  lua_pop(L, 1);
  lua_getfield(L, -1, "channel");
  snprintf(m->channel, sizeof m->channel, "%s",
           lua_isstring(L, -1) ? lua_tostring(L, -1) : "default");
  lua_pop(L, 1);
  lua_getfield(L, -1, "provisions");
  lua_Integer n = lua_istable(L, -1) ? (lua_Integer)lua_rawlen(L, -1) : 0;
  if (n > 0) {
    /* each start costs a channel: charged as a coroutine is */
    acs_script_charge(L, (uint64_t)n * 1000);
    acs_script_charge_host(L, (size_t)n * sizeof *m->provs);
    m->provs = calloc((size_t)n, sizeof *m->provs);
    if (!m->provs) luaL_error(L, "out of memory");
  }
  for (lua_Integer k = 1; k <= n; k++) {
    mprov *pr = &m->provs[m->nprovs];
    pr->args_ref = LUA_NOREF;
    lua_rawgeti(L, -1, k);
    const char *prov = NULL;
    if (lua_isstring(L, -1)) {
      prov = lua_tostring(L, -1);
    } else if (lua_istable(L, -1)) {
      lua_rawgeti(L, -1, 1);
      prov = lua_isstring(L, -1) ? lua_tostring(L, -1) : NULL;
      snprintf(pr->name, sizeof pr->name, "%s", prov ? prov : "");
      prov = pr->name;
      lua_pop(L, 1);
      lua_rawgeti(L, -1, 2);
      if (lua_istable(L, -1) && pr->name[0])
        pr->args_ref = copy_args(L, ms->kept); /* nothing raises from here to the count below */
      else
        lua_pop(L, 1);
    }
    if (prov != pr->name) snprintf(pr->name, sizeof pr->name, "%s", prov ? prov : "");
    lua_pop(L, 1);
    if (pr->name[0]) m->nprovs++;
  }
  lua_pop(L, 1);
}

static void start_provision(acs__session *s, const char *name, const char *channel, lua_State *from,
                            int args_ref) {
  acs__policy *p = s->pol;
  char full[256];
  snprintf(full, sizeof full, "provisions/%s", name);
  prov_args a = {from, args_ref};
  acs_script_chan *ch = NULL;
  int st = acs_script_run_call_fn(p->run, full, push_args, &a, &ch);
  if (st < 0 || !ch) {
    acs_log(ACS_LOG_WARN, "policy", "%s: provision %s: %s", s->device_id, name,
            st == ACS_ENOTFOUND ? "no such provision" : acs_strerror(st));
    acs__sess_store_fault(s, channel, "script.missing",
                          st == ACS_ENOTFOUND ? "no such provision" : acs_strerror(st), name);
    acs__policy_chan_add(p, NULL, channel, name); /* no channel to run: only its fault */
    p->chans[p->nchans - 1].faulted = true;
    return;
  }
  acs__policy_chan_add(p, ch, channel, name);
  acs__policy_chan_stopped(s, &p->chans[p->nchans - 1], st);
}

/* Runs inside acs_script_chan_protect: the presets file's value on top. */
static void collect_presets(lua_State *L, void *ud) {
  matches *ms = ud;
  if (!lua_istable(L, -1)) return;
  /* a single preset or a list of them */
  lua_getfield(L, -1, "provisions");
  bool single = !lua_isnil(L, -1);
  lua_pop(L, 1);
  lua_Integer n = single ? 1 : (lua_Integer)lua_rawlen(L, -1);
  luaL_checkstack(L, 16, NULL);
  for (lua_Integer k = 1; k <= n; k++) {
    acs_script_charge(L, 4);
    if (single)
      lua_pushvalue(L, -1);
    else
      lua_rawgeti(L, -1, k);
    if (lua_istable(L, -1) && preset_matches(ms->s, L, ms->file)) {
      acs__dry_matched(ms->s, ms->file, (long long)k); /* a dry run picking its devices */
      collect_preset(L, ms);
    }
    lua_pop(L, 1);
  }
}

/* --- presets files that depend on their text alone.
 * Most presets files are data: a list of tables of strings and numbers. Such
 * a file is run once per worker and generation, sealed (it raises at its
 * first read of anything that may depend on the session, the clock or
 * chance: acs_script_run_seal), and when it completes and returns plain
 * data (tables without metatables, of strings, numbers and booleans, at
 * most PLAIN_DEPTH deep and PLAIN_NODES in all) that value is kept and read
 * by every later session in place of a run of the file. Any other file runs
 * in every session, as before. */
#define PRESET_UNKNOWN (-3) /* not tried yet (LUA_NOREF: runs every session) */
#define PLAIN_DEPTH 8
#define PLAIN_NODES 4096

static bool plain_data(lua_State *L, int idx, int depth, size_t *nodes) {
  if (++*nodes > PLAIN_NODES || depth > PLAIN_DEPTH || !lua_checkstack(L, 3)) return false;
  idx = lua_absindex(L, idx);
  if (lua_getmetatable(L, idx)) {
    lua_pop(L, 1);
    return false;
  }
  bool ok = true;
  lua_pushnil(L);
  while (ok && lua_next(L, idx)) {
    int kt = lua_type(L, -2), vt = lua_type(L, -1);
    ok = (kt == LUA_TSTRING || kt == LUA_TNUMBER) &&
         (vt == LUA_TSTRING || vt == LUA_TNUMBER || vt == LUA_TBOOLEAN ||
          (vt == LUA_TTABLE && plain_data(L, -1, depth + 1, nodes)));
    lua_pop(L, ok ? 1 : 2);
  }
  return ok;
}

/* Runs inside acs_script_chan_protect: the sealed file's value on top. */
static void keep_plain(lua_State *L, void *ud) {
  size_t nodes = 0;
  if (!lua_istable(L, -1) || !plain_data(L, -1, 0, &nodes)) return;
  lua_pushvalue(L, -1);
  *(int *)ud = luaL_ref(L, LUA_REGISTRYINDEX);
}

static int seal_preset(acs__session *s, acs_policy_vm *pv, const char *name) {
  acs_script_run *run = acs_script_run_new(pv->vm, NULL, s);
  if (!run) return PRESET_UNKNOWN; /* out of memory: tried again later */
  acs_script_run_seal(run);
  acs_script_chan *ch = NULL;
  int ref = LUA_NOREF;
  if (acs_script_run_call(run, name, NULL, &ch) == ACS_SCRIPT_DONE && ch &&
      !acs_script_run_unsealed(run))
    acs_script_chan_protect(ch, keep_plain, &ref);
  acs_script_run_free(run);
  acs_log(ACS_LOG_INFO, "policy", "%s: %s", name,
          ref >= 0 ? "data alone: read from one run per generation" : "runs in every session");
  return ref;
}

/* What presets file i returns, kept (a registry reference), or LUA_NOREF:
 * the file runs in this session. */
static int preset_kept(acs__session *s, acs_policy_vm *pv, size_t i) {
  if (s->dry) return LUA_NOREF; /* a dry run's reports name each file's channel */
  lua_State *VL = acs_script_vm_state(pv->vm);
  uint64_t gen = acs_script_vm_generation(pv->vm);
  if (!pv->preset_refs || pv->presets_gen != gen) {
    for (size_t k = 0; pv->preset_refs && k < pv->npreset_refs; k++)
      if (pv->preset_refs[k] >= 0) luaL_unref(VL, LUA_REGISTRYINDEX, pv->preset_refs[k]);
    free(pv->preset_refs);
    pv->npreset_refs = 0;
    if (!(pv->preset_refs = malloc((pv->npresets + 1) * sizeof *pv->preset_refs))) return LUA_NOREF;
    for (size_t k = 0; k < pv->npresets; k++) pv->preset_refs[k] = PRESET_UNKNOWN;
    pv->npreset_refs = pv->npresets;
    pv->presets_gen = gen;
  }
  if (i >= pv->npreset_refs) return LUA_NOREF;
  if (pv->preset_refs[i] == PRESET_UNKNOWN) pv->preset_refs[i] = seal_preset(s, pv, pv->presets[i]);
  return pv->preset_refs[i] >= 0 ? pv->preset_refs[i] : LUA_NOREF;
}

static int l_collect_kept(lua_State *L) {
  collect_presets(L, lua_touserdata(L, 1));
  return 0;
}

void acs__policy_start_presets(acs__session *s, acs_policy_vm *pv) {
  acs__policy *p = s->pol;
  lua_State *VL = acs_script_vm_state(pv->vm);
  matches ms = {.s = s};
  for (size_t i = 0; i < pv->npresets; i++) {
    const char *name = pv->presets[i];
    int kept = preset_kept(s, pv, i);
    if (kept != LUA_NOREF) {
      /* its channel completes (a fault of an earlier generation clears) */
      acs__policy_chan_add(p, NULL, name, name);
      p->chans[p->nchans - 1].done = true;
      size_t before = ms.n;
      ms.file = name;
      ms.kept = true;
      lua_pushcfunction(VL, l_collect_kept);
      lua_pushlightuserdata(VL, &ms);
      lua_rawgeti(VL, LUA_REGISTRYINDEX, kept);
      if (lua_pcall(VL, 2, 0, 0) != LUA_OK) { /* out of memory: nothing else raises */
        acs_log(ACS_LOG_WARN, "policy", "%s: %s: %s", s->device_id, name,
                lua_type(VL, -1) == LUA_TSTRING ? lua_tostring(VL, -1) : "error");
        lua_pop(VL, 1);
        while (ms.n > before) match_free(VL, &ms.v[--ms.n]);
      }
      continue;
    }
    acs_script_chan *ch = NULL;
    int st = acs_script_run_call(p->run, name, NULL, &ch);
    if (st < 0 || !ch) continue;
    acs__policy_chan_add(p, ch, name, name);
    pchan *c = &p->chans[p->nchans - 1];
    acs__policy_chan_stopped(s, c, st);
    if (st != ACS_SCRIPT_DONE) continue;
    /* what the file returned is read in protected mode, within the run's
     * budgets: its tables may have metamethods */
    size_t before = ms.n;
    ms.file = name;
    ms.kept = false;
    if (acs_script_chan_protect(ch, collect_presets, &ms) != 0) {
      while (ms.n > before) match_free(VL, &ms.v[--ms.n]);
      if (acs_script_chan_state(ch) == ACS_SCRIPT_FAULT)
        acs__policy_chan_stopped(s, c, ACS_SCRIPT_FAULT);
    }
  }
  match *m = ms.v;
  size_t nm = ms.n;
  if (nm > 1) qsort(m, nm, sizeof *m, cmp_match); /* m is NULL when nothing matched */
  for (size_t i = 0; i < nm; i++) {
    if (acs__dry_match_only(s)) {
      match_free(VL, &m[i]);
      continue;
    }
    if (s->dry || !channel_backoff(s, m[i].channel)) /* faulted lately: not yet again */
      for (size_t k = 0; k < m[i].nprovs; k++)
        start_provision(s, m[i].provs[k].name, m[i].channel, VL, m[i].provs[k].args_ref);
    match_free(VL, &m[i]);
  }
  free(m);
}

/* A Provision task's arguments: its "args" object's fields, one level of
 * tables deep at most (as JSON gives them). */
static void push_args_json(lua_State *L, void *ud) {
  const json_t *args = ud;
  int dst = lua_gettop(L);
  const char *k;
  json_t *v;
  json_object_foreach((json_t *)args, k, v) {
    acs__policy_push_json(L, v, 8);
    lua_setfield(L, dst, k);
  }
}

void acs__policy_start_provision_json(acs__session *s, const char *name, const char *channel,
                                      const json_t *args, int64_t task_id) {
  acs__policy *p = s->pol;
  char full[256];
  if (task_id && strcmp(name, ACS__POLICY_SET_VIRTUAL) == 0)
    snprintf(full, sizeof full, "lib/set_virtual"); /* the standard library's */
  else
    snprintf(full, sizeof full, "provisions/%s", name);
  acs_script_chan *ch = NULL;
  int st = json_is_object(args)
               ? acs_script_run_call_fn(p->run, full, push_args_json, (void *)args, &ch)
               : acs_script_run_call(p->run, full, NULL, &ch);
  acs__policy_chan_add(p, ch, channel, name);
  pchan *c = &p->chans[p->nchans - 1];
  c->task_id = task_id;
  if (st < 0 || !ch) {
    c->faulted = true;
    c->ch = NULL;
    acs_log(ACS_LOG_WARN, "policy", "%s: task %lld: provision %s: %s", s->device_id,
            (long long)task_id, name, st == ACS_ENOTFOUND ? "no such provision" : acs_strerror(st));
    return;
  }
  acs__policy_chan_stopped(s, c, st);
}
