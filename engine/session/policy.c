/* policy.c: Lua policies inside CWMP sessions (acs_policy.h).
 *
 * The policy tree (a directory: provisions/NAME.lua, presets/NAME.lua) is
 * compiled into each worker's VM as one generation, with the standard
 * library of the lua/ folder compiled into acsd ("lib/NAME"). A session's policy
 * phase starts after its queued tasks: the run gets the session as its
 * context, "lib/acs" defines the library in the run's environment, every
 * presets file returns its presets, and each preset that matches the Inform
 * (events, precondition on device fields and tags) starts its provisions,
 * each in its own channel, heaviest preset first.
 *
 * declare() only records; reading a value (acs.read) suspends the channel
 * when the engine lacks what the declaration asks for (the planner would
 * send an RPC for it). When every channel has stopped, the planner turns
 * all declarations into the next stage's RPCs; once those are answered (and
 * the data model updated), the suspended channels resume, and so on until a
 * round has nothing to do and every channel is done. No policy is re-run
 * from the top. A CPE fault on an RPC of the planner fails the declarations
 * it served: their reads return nil and the fault. */
#include <lauxlib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <uv.h>

#include "core/acs_err.h"
#include "core/acs_log.h"
#include "script/acs_script.h"
#include "session/acs_policy.h"
#include "session/session_internal.h"

#define MAX_ROUNDS 32

typedef struct pdecl {
  acs_decl d;  /* strings owned */
  char *error; /* the CPE's fault, once it failed */
  bool failed;
} pdecl;

typedef struct pchan {
  acs_script_chan *ch;
  char *channel; /* the faults table's channel */
  char *provision;
  bool waiting; /* suspended in acs.read / acs.commit */
  bool done;    /* completed */
  bool faulted; /* its fault is in the faults table */
} pchan;

struct acs__policy {
  acs_script_run *run;
  pchan *chans;
  size_t nchans, capchans;
  pdecl *decls;
  size_t ndecls, capdecls;
  acs_arena plan_arena;
  acs_plan plan;
  size_t plan_next;
  int rounds;
  bool started;
  bool over;       /* the policy phase ended, faults cleared */
  bool rpc_failed; /* the last planner RPC got a fault */
  bool split_gpv;  /* a GetParameterValues of several names got 9005: one name per RPC */
  char last_fault[160];
};

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

/* --- host functions */

static acs__session *sess_of(lua_State *L) {
  acs__session *s = acs_script_ctx(L);
  if (!s || s->magic != ACS__SESSION_MAGIC || !s->pol)
    luaL_error(L, "only policies that run in a CWMP session can do this");
  return s;
}

static char *opt_dup(lua_State *L, int i) {
  if (lua_isnoneornil(L, i)) return NULL;
  return strdup(luaL_checkstring(L, i));
}

static int l_acs_declare(lua_State *L) {
  acs__session *s = sess_of(L);
  acs__policy *p = s->pol;
  const char *path = luaL_checkstring(L, 1);
  if (p->ndecls >= 100000) return luaL_error(L, "too many declarations");
  if (p->ndecls == p->capdecls) {
    size_t cap = p->capdecls ? p->capdecls * 2 : 32;
    pdecl *v = realloc(p->decls, cap * sizeof *v);
    if (!v) return luaL_error(L, "out of memory");
    p->decls = v;
    p->capdecls = cap;
  }
  pdecl *d = &p->decls[p->ndecls];
  memset(d, 0, sizeof *d);
  d->d = (acs_decl)ACS_DECL_INIT;
  d->d.value_at = (int64_t)luaL_optinteger(L, 2, 0);
  d->d.path_at = (int64_t)luaL_optinteger(L, 3, 0);
  d->d.instances = (int)luaL_optinteger(L, 6, -1);
  d->d.notification = (int)luaL_optinteger(L, 7, -1);
  const char *type = luaL_optstring(L, 5, NULL);
  if (type) {
    const char *colon = strchr(type, ':');
    d->d.type = acs_cwmp_type_from_name(colon ? colon + 1 : type);
  }
  char *value = opt_dup(L, 4);
  char *cpath = strdup(path);
  if (!cpath || (!value && !lua_isnoneornil(L, 4))) {
    free(cpath);
    free(value);
    return luaL_error(L, "out of memory");
  }
  d->d.path = cpath;
  d->d.value = value;
  p->ndecls++;
  lua_pushinteger(L, (lua_Integer)p->ndecls);
  return 1;
}

/* Would the planner do anything for this declaration alone? */
static bool needs_work(acs__session *s, const pdecl *d) {
  if (d->failed) return false;
  acs_arena a;
  acs_arena_init(&a, 4096);
  acs_plan plan;
  int rc = acs_plan_next(&s->dm, &d->d, 1, acs_policy_now_ms(), &a, &plan);
  bool work = rc == 0 && plan.n > 0;
  acs_arena_reset(&a);
  return work;
}

static int read_k(lua_State *L, int status, lua_KContext k);

static int read_now(lua_State *L) {
  acs__session *s = sess_of(L);
  acs__policy *p = s->pol;
  lua_Integer id = luaL_checkinteger(L, 1);
  if (id < 1 || (size_t)id > p->ndecls)
    return luaL_error(L, "acs.read: no declaration %d", (int)id);
  pdecl *d = &p->decls[id - 1];
  if (needs_work(s, d) && p->rounds < MAX_ROUNDS) {
    for (size_t i = 0; i < p->nchans; i++)
      if (p->chans[i].ch == acs_script_chan_of(L)) p->chans[i].waiting = true;
    return acs_script_yield(L, 0, 0, read_k);
  }
  if (d->failed) {
    lua_pushnil(L);
    lua_pushstring(L, d->error ? d->error : "failed");
    return 2;
  }
  /* "T.*" and "T.[K:v]" name the instances, as they do for the planner */
  const char *pat = d->d.path;
  size_t pl = strlen(pat);
  if ((pl >= 2 && pat[pl - 1] == '*' && pat[pl - 2] == '.') || (pl && pat[pl - 1] == ']'))
    pat = lua_pushfstring(L, "%s.", pat); /* on the stack until the function returns */
  lua_newtable(L);
  lua_Integer k = 0;
  for (size_t i = 0; i < s->dm.n; i++) {
    const acs_dm_param *pm = &s->dm.v[i];
    if (pm->absent || !acs_plan_match(&s->dm, pat, pm->name)) continue;
    acs_script_charge(L, 10);
    lua_createtable(L, 0, 5);
    lua_pushstring(L, pm->name);
    lua_setfield(L, -2, "name");
    if (pm->value) {
      lua_pushstring(L, pm->value);
      lua_setfield(L, -2, "value");
    }
    if (pm->type != ACS_XSD_ANY) {
      lua_pushfstring(L, "xsd:%s", acs_cwmp_type_name(pm->type));
      lua_setfield(L, -2, "type");
    }
    if (pm->writable >= 0) {
      lua_pushboolean(L, pm->writable);
      lua_setfield(L, -2, "writable");
    }
    lua_pushboolean(L, pm->object);
    lua_setfield(L, -2, "object");
    lua_rawseti(L, -2, ++k);
  }
  return 1;
}

static int read_k(lua_State *L, int status, lua_KContext k) {
  lua_settop(L, 1); /* drop what the resume passed */
  return read_now(L);
}

static int l_acs_read(lua_State *L) {
  lua_settop(L, 1);
  return read_now(L);
}

static int commit_wait(lua_State *L, size_t upto);

/* resumed after a stage: the next stages may still have work to do */
static int commit_k(lua_State *L, int status, lua_KContext k) { return commit_wait(L, (size_t)k); }

/* Suspends until the first upto declarations (those made before the
 * commit) need nothing more, stage after stage. */
static int commit_wait(lua_State *L, size_t upto) {
  acs__session *s = sess_of(L);
  acs__policy *p = s->pol;
  bool any = false;
  for (size_t i = 0; i < upto && i < p->ndecls && !any; i++) any = needs_work(s, &p->decls[i]);
  if (!any || p->rounds >= MAX_ROUNDS) return 0;
  for (size_t i = 0; i < p->nchans; i++)
    if (p->chans[i].ch == acs_script_chan_of(L)) p->chans[i].waiting = true;
  return acs_script_yield(L, 0, (lua_KContext)upto, commit_k);
}

static int l_acs_commit(lua_State *L) {
  acs__session *s = sess_of(L);
  return commit_wait(L, s->pol->ndecls);
}

/* "session" or "job": what the policy runs for. */
static int l_acs_kind(lua_State *L) {
  const acs__session *s = acs_script_ctx(L);
  lua_pushstring(L, s && s->magic == ACS__SESSION_MAGIC ? "session" : "job");
  return 1;
}

static int l_acs_now(lua_State *L) {
  lua_pushinteger(L, (lua_Integer)acs_policy_now_ms());
  return 1;
}

static int l_acs_log(lua_State *L) {
  acs__session *s = acs_script_ctx(L);
  if (s && s->magic != ACS__SESSION_MAGIC) s = NULL; /* a fleet job */
  const char *level = luaL_checkstring(L, 1);
  const char *msg = luaL_checkstring(L, 2);
  acs_log_level lvl = ACS_LOG_INFO;
  if (acs_log_parse_level(level, &lvl)) lvl = ACS_LOG_INFO;
  if (lvl < ACS_LOG_WARN) lvl = ACS_LOG_WARN; /* policies cannot log as crit/err */
  acs_log(lvl, "policy", "%s: %.*s",
          s ? s->device_id : acs_script_chan_policy(acs_script_chan_of(L)), 400, msg);
  return 0;
}

static const char *inform_param(const acs__session *s, const char *suffix) {
  const acs_cwmp_inform *in = &s->inform.u.inform;
  size_t sl = strlen(suffix);
  for (size_t i = 0; i < in->params.n; i++) {
    const char *n = in->params.v[i].name;
    size_t nl = n ? strlen(n) : 0;
    if (nl > sl && strcmp(n + nl - sl, suffix) == 0 && n[nl - sl - 1] == '.')
      return in->params.v[i].value;
  }
  return NULL;
}

static void setstr(lua_State *L, const char *k, const char *v) {
  lua_pushstring(L, v ? v : "");
  lua_setfield(L, -2, k);
}

static int l_acs_device(lua_State *L) {
  acs__session *s = sess_of(L);
  const acs_cwmp_inform *in = &s->inform.u.inform;
  lua_createtable(L, 0, 12);
  setstr(L, "id", s->device_id);
  setstr(L, "oui", in->device_id.oui);
  setstr(L, "product_class", in->device_id.product_class);
  setstr(L, "serial_number", in->device_id.serial_number);
  setstr(L, "manufacturer", in->device_id.manufacturer);
  setstr(L, "software_version", inform_param(s, "DeviceInfo.SoftwareVersion"));
  setstr(L, "hardware_version", inform_param(s, "DeviceInfo.HardwareVersion"));
  const char *root = "Device.";
  if (in->params.n && in->params.v[0].name &&
      strncmp(in->params.v[0].name, "InternetGatewayDevice.", 22) == 0)
    root = "InternetGatewayDevice.";
  setstr(L, "root", root);
  setstr(L, "source_ip", s->peer);
  lua_createtable(L, (int)in->events.n, 0);
  lua_createtable(L, 0, (int)in->events.n);
  for (size_t i = 0; i < in->events.n; i++) {
    const char *code = in->events.v[i].code ? in->events.v[i].code : "";
    lua_pushstring(L, code);
    lua_rawseti(L, -3, (lua_Integer)i + 1);
    lua_pushstring(L, in->events.v[i].command_key ? in->events.v[i].command_key : "");
    lua_setfield(L, -2, code);
  }
  lua_setfield(L, -3, "command_keys");
  lua_setfield(L, -2, "events");
  lua_createtable(L, (int)s->ntags, 0);
  for (size_t i = 0; i < s->ntags; i++) {
    lua_pushstring(L, s->tags[i]);
    lua_rawseti(L, -2, (lua_Integer)i + 1);
  }
  lua_setfield(L, -2, "tags");
  /* how often each event came in the last hour and day (alarm rules) */
  lua_newtable(L);
  lua_newtable(L);
  for (const char *p = s->recent_events; p && *p;) {
    const char *tab1 = strchr(p, '\t'), *tab2 = tab1 ? strchr(tab1 + 1, '\t') : NULL;
    const char *nl = tab2 ? strchr(tab2, '\n') : NULL;
    if (!nl) break;
    lua_pushlstring(L, p, (size_t)(tab1 - p));
    lua_pushinteger(L, strtoll(tab1 + 1, NULL, 10));
    lua_settable(L, -4);
    lua_pushlstring(L, p, (size_t)(tab1 - p));
    lua_pushinteger(L, strtoll(tab2 + 1, NULL, 10));
    lua_settable(L, -3);
    p = nl + 1;
  }
  lua_setfield(L, -3, "events_24h");
  lua_setfield(L, -2, "events_1h");
  return 1;
}

/* acs.alarm(key, severity, message) / acs.alarm(key): raise or clear the
 * alarm (device, this rule, key); only alarm rules (alarms/NAME) may. */
static int l_acs_alarm(lua_State *L) {
  acs__session *s = sess_of(L);
  const char *rule = acs_script_chan_policy(acs_script_chan_of(L));
  if (!rule || strncmp(rule, "alarms/", 7) != 0)
    return luaL_error(L, "alarms are raised and cleared by alarm rules (alarms/NAME) only");
  const char *key = luaL_optstring(L, 1, "");
  const char *sev = luaL_optstring(L, 2, NULL);
  const char *msg = luaL_optstring(L, 3, "");
  static const char *const sevs[] = {"critical", "major", "minor", "warning", "info"};
  if (sev) {
    bool ok = false;
    for (size_t i = 0; i < sizeof sevs / sizeof sevs[0]; i++) ok |= !strcmp(sev, sevs[i]);
    if (!ok) return luaL_error(L, "alarm severity must be critical, major, minor, warning or info");
  }
  if (strlen(key) > 256 || strlen(msg) > 1024)
    return luaL_error(L, "alarm key or message too long");
  acs__sess_store_alarm(s, rule, key, sev, msg);
  return 0;
}

static const struct {
  const char *name;
  lua_CFunction fn;
} host_fns[] = {
    {"alarm", l_acs_alarm}, {"kind", l_acs_kind},     {"declare", l_acs_declare},
    {"read", l_acs_read},   {"commit", l_acs_commit}, {"now", l_acs_now},
    {"log", l_acs_log},     {"device", l_acs_device},
};

/* --- a session's policy phase */

static void chan_add(acs__policy *p, acs_script_chan *ch, const char *channel,
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
  c->waiting = false;
  c->done = false;
  c->faulted = false;
}

/* A channel stopped: a fault goes to the faults table of its channel (the
 * preset's channel, shared by its provisions); a channel whose provisions
 * all completed clears its fault when the policy phase is over
 * (policy_over). */
static void chan_stopped(acs__session *s, pchan *c, int st) {
  c->waiting = st == ACS_SCRIPT_YIELD;
  c->done = st == ACS_SCRIPT_DONE;
  c->faulted = st == ACS_SCRIPT_FAULT;
  if (st == ACS_SCRIPT_FAULT) {
    const char *code = acs_script_chan_fault_code(c->ch);
    const char *msg = acs_script_chan_fault_message(c->ch);
    acs_log(ACS_LOG_WARN, "policy", "%s: %s (channel %s): %s: %s", s->device_id, c->provision,
            c->channel, code, msg);
    acs__sess_store_fault(s, c->channel, code, msg, c->provision);
  }
}

typedef struct prov_args {
  lua_State *from;
  int ref; /* the args table in the registry, or LUA_NOREF */
} prov_args;

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
    lua_settable(L, src - 1);
  }
  lua_pop(L, 1);
}

/* Does the preset on top of L match this session? */
static bool preset_matches(acs__session *s, lua_State *L) {
  const acs_cwmp_inform *in = &s->inform.u.inform;
  bool ok = true;
  if (lua_getfield(L, -1, "events") == LUA_TTABLE) {
    bool any = false;
    lua_Integer n = (lua_Integer)lua_rawlen(L, -1);
    for (lua_Integer i = 1; i <= n && !any; i++) {
      lua_rawgeti(L, -1, i);
      const char *ev = lua_tostring(L, -1);
      for (size_t j = 0; ev && j < in->events.n && !any; j++)
        any = in->events.v[j].code && strcmp(in->events.v[j].code, ev) == 0;
      lua_pop(L, 1);
    }
    ok = any || n == 0;
  }
  lua_pop(L, 1);
  if (!ok) return false;
  if (lua_getfield(L, -1, "precondition") == LUA_TTABLE) {
    lua_pushnil(L);
    while (ok && lua_next(L, -2)) {
      const char *k = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : NULL;
      if (!k) {
        ok = false;
      } else if (strcmp(k, "tags") == 0 && lua_istable(L, -1)) {
        lua_Integer n = (lua_Integer)lua_rawlen(L, -1);
        for (lua_Integer i = 1; i <= n && ok; i++) {
          lua_rawgeti(L, -1, i);
          const char *tag = lua_tostring(L, -1);
          bool has = false;
          for (size_t j = 0; tag && j < s->ntags && !has; j++) has = !strcmp(s->tags[j], tag);
          ok = has;
          lua_pop(L, 1);
        }
      } else {
        const char *want = lua_tostring(L, -1);
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
          have = inform_param(s, "DeviceInfo.SoftwareVersion");
        else {
          const acs_dm_param *pm = acs_dm_get(&s->dm, k);
          have = pm ? pm->value : NULL;
        }
        ok = want && have && strcmp(want, have) == 0;
      }
      lua_pop(L, 1);
    }
    if (!ok) lua_pop(L, 1); /* the key left by an early stop */
  }
  lua_pop(L, 1);
  return ok;
}

typedef struct match {
  double weight;
  int order;
  int ref; /* the preset table */
  lua_State *L;
} match;

static int cmp_match(const void *a, const void *b) {
  const match *x = a, *y = b;
  if (x->weight != y->weight) return x->weight < y->weight ? 1 : -1;
  return x->order - y->order;
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
    chan_add(p, NULL, channel, name); /* no channel to run: only its fault */
    p->chans[p->nchans - 1].faulted = true;
    return;
  }
  chan_add(p, ch, channel, name);
  chan_stopped(s, &p->chans[p->nchans - 1], st);
}

/* Runs the presets files and starts the provisions of the presets that match. */
static void start_presets(acs__session *s, acs_policy_vm *pv) {
  acs__policy *p = s->pol;
  match *m = NULL;
  size_t nm = 0, capm = 0;
  int order = 0;
  for (size_t i = 0; i < pv->npresets; i++) {
    const char *name = pv->presets[i];
    acs_script_chan *ch = NULL;
    int st = acs_script_run_call(p->run, name, NULL, &ch);
    if (st < 0 || !ch) continue;
    chan_add(p, ch, name, name);
    chan_stopped(s, &p->chans[p->nchans - 1], st);
    if (st != ACS_SCRIPT_DONE) continue;
    int nv = 0;
    lua_State *T = acs_script_chan_values(ch, &nv);
    if (!T || nv < 1 || !lua_istable(T, -1)) continue;
    /* a single preset or a list of them */
    lua_getfield(T, -1, "provisions");
    bool single = !lua_isnil(T, -1);
    lua_pop(T, 1);
    lua_Integer n = single ? 1 : (lua_Integer)lua_rawlen(T, -1);
    for (lua_Integer k = 1; k <= n; k++) {
      if (single) {
        lua_pushvalue(T, -1);
      } else {
        lua_rawgeti(T, -1, k);
      }
      if (!lua_istable(T, -1) || !preset_matches(s, T)) {
        lua_pop(T, 1);
        continue;
      }
      lua_getfield(T, -1, "weight");
      double w = lua_isnumber(T, -1) ? lua_tonumber(T, -1) : 0;
      lua_pop(T, 1);
      if (nm == capm) {
        capm = capm ? capm * 2 : 8;
        m = realloc(m, capm * sizeof *m);
        if (!m) abort();
      }
      m[nm++] = (match){w, order++, luaL_ref(T, LUA_REGISTRYINDEX), T};
    }
  }
  qsort(m, nm, sizeof *m, cmp_match);
  for (size_t i = 0; i < nm; i++) {
    lua_State *T = m[i].L;
    lua_rawgeti(T, LUA_REGISTRYINDEX, m[i].ref);
    lua_getfield(T, -1, "channel");
    char channel[128];
    snprintf(channel, sizeof channel, "%s", lua_isstring(T, -1) ? lua_tostring(T, -1) : "default");
    lua_pop(T, 1);
    lua_getfield(T, -1, "provisions");
    lua_Integer n = lua_istable(T, -1) ? (lua_Integer)lua_rawlen(T, -1) : 0;
    for (lua_Integer k = 1; k <= n; k++) {
      lua_rawgeti(T, -1, k);
      const char *prov = NULL;
      int args_ref = LUA_NOREF;
      if (lua_isstring(T, -1)) {
        prov = lua_tostring(T, -1);
      } else if (lua_istable(T, -1)) {
        lua_rawgeti(T, -1, 1);
        prov = lua_tostring(T, -1);
        lua_pop(T, 1);
        lua_rawgeti(T, -1, 2);
        if (lua_istable(T, -1)) {
          args_ref = luaL_ref(T, LUA_REGISTRYINDEX);
        } else {
          lua_pop(T, 1);
        }
      }
      char pname[128];
      snprintf(pname, sizeof pname, "%s", prov ? prov : "");
      lua_pop(T, 1);
      if (pname[0]) start_provision(s, pname, channel, T, args_ref);
      if (args_ref != LUA_NOREF) luaL_unref(T, LUA_REGISTRYINDEX, args_ref);
    }
    lua_pop(T, 2);
    luaL_unref(T, LUA_REGISTRYINDEX, m[i].ref);
  }
  free(m);
}

/* --- the session side */

static void policy_start(acs__session *s, acs_policy_vm *pv) {
  acs__policy *p = s->pol;
  p->started = true;
  p->run = acs_script_run_new(pv->vm, NULL, s);
  if (!p->run) {
    acs_log(ACS_LOG_ERR, "policy", "%s: cannot start a policy run", s->device_id);
    return;
  }
  acs_script_chan *ch = NULL;
  int st = acs_script_run_call(p->run, "lib/acs", NULL, &ch);
  if (st != ACS_SCRIPT_DONE) {
    acs_log(ACS_LOG_ERR, "policy", "%s: the standard library failed: %s", s->device_id,
            ch ? acs_script_chan_fault_message(ch) : acs_strerror(st));
    return;
  }
  start_presets(s, pv);
  /* alarm rules: every one, each in its own channel, after the provisions */
  for (size_t i = 0; i < pv->nalarms; i++) {
    acs_script_chan *ach = NULL;
    int ast = acs_script_run_call(p->run, pv->alarms[i], NULL, &ach);
    if (ast < 0 || !ach) continue;
    chan_add(p, ach, pv->alarms[i], pv->alarms[i]);
    chan_stopped(s, &p->chans[p->nchans - 1], ast);
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
    chan_stopped(s, &p->chans[i], st);
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
  for (size_t i = 0; i < p->ndecls; i++)
    if (!p->decls[i].failed) live[n++] = p->decls[i].d;
  acs_arena_reset(&p->plan_arena);
  int rc = acs_plan_next(&s->dm, live, n, acs_policy_now_ms(), &p->plan_arena, &p->plan);
  free(live);
  p->plan_next = 0;
  return rc ? rc : split_values(p);
}

/* The policy phase is over: each channel whose provisions all completed
 * clears its fault (once); one with a provision that faulted keeps it. */
static void policy_over(acs__session *s) {
  acs__policy *p = s->pol;
  if (p->over) return;
  p->over = true;
  for (size_t i = 0; i < p->nchans; i++) {
    bool clear = true;
    for (size_t j = 0; j < p->nchans && clear; j++) {
      if (strcmp(p->chans[j].channel, p->chans[i].channel) != 0) continue;
      /* decided at the channel's first entry; all of them must have completed */
      if (j < i || !p->chans[j].done) clear = false;
    }
    if (clear) acs__sess_store_fault_clear(s, p->chans[i].channel);
  }
}

static bool policy_step(acs__session *s, acs_policy_vm *pv, acs_cwmp_msg *out);

bool acs__policy_next(acs__session *s, acs_policy_vm *pv, acs_cwmp_msg *out) {
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
  }
  acs__policy *p = s->pol;
  if (!p->started) policy_start(s, pv);
  if (!p->run) return false;
  for (int guard = 0; guard < 4 * MAX_ROUNDS; guard++) {
    if (p->plan_next < p->plan.n) {
      *out = p->plan.rpcs[p->plan_next++];
      return true;
    }
    /* a stage is over: let the suspended channels see its answers first */
    if (p->plan.n) {
      p->plan.n = 0;
      resume_waiting(s);
    }
    if (p->rounds >= MAX_ROUNDS) break;
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
  /* too many rounds: the channels still waiting fail */
  for (size_t i = 0; i < p->nchans; i++) {
    if (!p->chans[i].waiting) continue;
    p->chans[i].waiting = false;
    p->chans[i].faulted = true;
    acs__sess_store_fault(s, p->chans[i].channel, "script.rounds",
                          "more round trips to the CPE than a session allows",
                          p->chans[i].provision);
  }
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
    if (d->failed || !needs_work(s, d)) continue;
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
    if (sent->kind == ACS_CWMP_GET_PARAMETER_VALUES && f->code == 9005 &&
        sent->u.get_parameter_values.names.n > 1) {
      p->split_gpv = true;
      return;
    }
    fail_decls(s, sent, why);
  }
}

void acs__policy_free(acs__session *s) {
  acs__policy *p = s->pol;
  if (!p) return;
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
  acs_arena_reset(&p->plan_arena);
  free(p);
  s->pol = NULL;
}

int acs__policy_register(acs_script_vm *vm) {
  for (size_t i = 0; i < sizeof host_fns / sizeof host_fns[0]; i++) {
    int rc = acs_script_vm_register(vm, "acs", host_fns[i].name, host_fns[i].fn);
    if (rc) return rc;
  }
  return acs__jobs_register(vm);
}

acs_script_clock_fn acs__policy_clock(void) { return vm_clock; }
