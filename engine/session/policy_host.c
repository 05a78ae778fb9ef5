/* policy_host.c: the host functions policies call (the read-only `acs`
 * table; lua/acs.lua builds the policy-facing library on them). Each one
 * runs on the session's worker, inside a resume of the policy's channel;
 * what needs the store is queued on the session (group commit) and never
 * waited for here, except acs.read / acs.commit, which suspend the channel
 * until the planner's RPCs are answered. */
#include <lauxlib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/acs_err.h"
#include "core/acs_log.h"
#include "script/acs_script.h"
#include "session/acs_rpc_json.h"
#include "session/policy_internal.h"

/* --- host functions */

acs__session *acs__policy_sess(lua_State *L) {
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
  acs__session *s = acs__policy_sess(L);
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
  /* the declaration's copies and what the planner keeps for it are host
   * memory this session causes: charged before they are made */
  size_t vlen = 0;
  if (!lua_isnoneornil(L, 4)) luaL_checklstring(L, 4, &vlen);
  acs_script_charge_host(L, sizeof *d + 2 * (strlen(path) + 1) + vlen + 1 + 64);
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
  d->chan = -1;
  acs_script_chan *me = acs_script_chan_of(L);
  for (size_t i = 0; i < p->nchans && me; i++)
    if (p->chans[i].ch == me) d->chan = (int)i;
  p->ndecls++;
  lua_pushinteger(L, (lua_Integer)p->ndecls);
  return 1;
}

bool acs__policy_needs_work(acs__session *s, pdecl *d) {
  if (d->failed) return false;
  acs__policy *p = s->pol;
  if (d->done_at && d->done_at == p->dm_epoch) return false;
  if (acs_plan_settled(&s->dm, &d->d)) {
    d->done_at = p->dm_epoch;
    return false;
  }
  if (!p->scratch.block_size) acs_arena_init(&p->scratch, 4096);
  acs_plan plan;
  int rc = acs_plan_next(&s->dm, &d->d, 1, acs_policy_now_ms(), &p->scratch, &plan);
  bool work = rc == 0 && plan.n > 0;
  acs_arena_rewind(&p->scratch);
  /* a malformed path is not remembered: the phase's plan reports it */
  if (rc == 0 && !work) d->done_at = p->dm_epoch;
  return work;
}

static int read_k(lua_State *L, int status, lua_KContext k);

static int read_now(lua_State *L) {
  acs__session *s = acs__policy_sess(L);
  acs__policy *p = s->pol;
  lua_Integer id = luaL_checkinteger(L, 1);
  if (id < 1 || (size_t)id > p->ndecls)
    return luaL_error(L, "acs.read: no declaration %d", (int)id);
  pdecl *d = &p->decls[id - 1];
  if (acs__policy_needs_work(s, d) && p->rounds < ACS__POLICY_MAX_ROUNDS) {
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
  /* only the names under the pattern's literal prefix can match (the model
   * is sorted): a literal path is one lookup, a pattern one range */
  size_t first = 0, end = 0;
  const char *wild = strpbrk(pat, "*[");
  if (!wild) {
    const acs_dm_param *hit = acs_dm_get(&s->dm, pat);
    if (hit) {
      first = (size_t)(hit - s->dm.v);
      end = first + 1;
    }
  } else {
    size_t cut = (size_t)(wild - pat);
    while (cut > 0 && pat[cut - 1] != '.') cut--;
    const char *prefix = lua_pushlstring(L, pat, cut); /* on the stack until we return */
    acs_dm_range(&s->dm, prefix, &first, &end);
  }
  /* every name of the range is looked at: paid for before, by the
   * pattern's length (a long pattern costs every name more) */
  acs_script_charge(L, (uint64_t)(end - first) * (1 + strlen(pat) / 16));
  /* a name that matches ends with what follows the pattern's last '*'
   * (".IPAddress" of "T.*.IPAddress"): a cheap test before the whole match
   * (not with selectors, whose text may hold a '*') */
  const char *star = wild && !strchr(pat, '[') ? strrchr(pat, '*') : NULL;
  size_t tl = star ? strlen(star + 1) : 0;
  lua_newtable(L);
  lua_Integer k = 0;
  for (size_t i = first; i < end; i++) {
    const acs_dm_param *pm = &s->dm.v[i];
    if (tl) {
      size_t nl = strlen(pm->name);
      if (nl < tl || memcmp(pm->name + nl - tl, star + 1, tl) != 0) continue;
    }
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
  acs__session *s = acs__policy_sess(L);
  acs__policy *p = s->pol;
  bool any = false;
  for (size_t i = 0; i < upto && i < p->ndecls && !any; i++)
    any = acs__policy_needs_work(s, &p->decls[i]);
  if (!any || p->rounds >= ACS__POLICY_MAX_ROUNDS) return 0;
  for (size_t i = 0; i < p->nchans; i++)
    if (p->chans[i].ch == acs_script_chan_of(L)) p->chans[i].waiting = true;
  return acs_script_yield(L, 0, (lua_KContext)upto, commit_k);
}

static int l_acs_commit(lua_State *L) {
  acs__session *s = acs__policy_sess(L);
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
  /* a session's lines are capped (policy-log-lines), and a fleet job's run's */
  bool write = true;
  if (s && s->pol) {
    /* a dry run of `acsd policies push` has no app: the default cap */
    const acs_app *app = s->t->aw->app;
    write = s->pol->log_lines < (app ? app->cfg->policy_log_lines : ACS_POLICY_LOG_LINES);
    if (write) {
      s->pol->log_lines++;
    } else {
      s->pol->log_dropped++;
      if (s->t->aw->metrics) acs_metric_add(&s->t->aw->metrics->policy_log_dropped, 1);
    }
  } else if (!s) {
    write = acs__job_log_line(acs_script_ctx(L));
  }
  if (!write) {
    acs_script_charge(L, 1); /* a line counted, not written */
    return 0;
  }
  acs_script_charge(L, 200); /* a line written */
  if (s && s->dry) { /* a dry run's report keeps it */
    acs__dry_log(s, acs_log_level_name(lvl), msg);
    return 0;
  }
  acs_log(lvl, "policy", "%s: %.*s",
          s ? s->device_id : acs_script_chan_policy(acs_script_chan_of(L)), 400, msg);
  return 0;
}

const char *acs__policy_inform_param(const acs__session *s, const char *suffix) {
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
  acs__session *s = acs__policy_sess(L);
  const acs_cwmp_inform *in = &s->inform.u.inform;
  lua_createtable(L, 0, 12);
  setstr(L, "id", s->device_id);
  setstr(L, "oui", in->device_id.oui);
  setstr(L, "product_class", in->device_id.product_class);
  setstr(L, "serial_number", in->device_id.serial_number);
  setstr(L, "manufacturer", in->device_id.manufacturer);
  setstr(L, "software_version", acs__policy_inform_param(s, "DeviceInfo.SoftwareVersion"));
  setstr(L, "hardware_version", acs__policy_inform_param(s, "DeviceInfo.HardwareVersion"));
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
  const char *code;
  json_t *counts;
  json_object_foreach(json_object_get(s->pol->ctx, "events"), code, counts) {
    lua_pushinteger(L, (lua_Integer)json_integer_value(json_array_get(counts, 0)));
    lua_setfield(L, -3, code);
    lua_pushinteger(L, (lua_Integer)json_integer_value(json_array_get(counts, 1)));
    lua_setfield(L, -2, code);
  }
  lua_setfield(L, -3, "events_24h");
  lua_setfield(L, -2, "events_1h");
  /* the last boots (seconds; this Inform's included) */
  const json_t *ctx = s->pol->ctx;
  static const char *const boots[] = {"last_boot", "last_bootstrap"};
  for (size_t i = 0; i < 2; i++) {
    const json_t *v = json_object_get(ctx, boots[i]);
    if (!json_is_integer(v)) continue;
    lua_pushinteger(L, (lua_Integer)(json_integer_value(v) / 1000));
    lua_setfield(L, -2, boots[i]);
  }
  if (s->had_tc) { /* this session's TransferComplete */
    lua_createtable(L, 0, 5);
    setstr(L, "command_key", s->tc.command_key);
    lua_pushinteger(L, (lua_Integer)s->tc.fault.code);
    lua_setfield(L, -2, "fault_code");
    setstr(L, "fault_string", s->tc.fault.string);
    setstr(L, "start_time", s->tc.start_time);
    setstr(L, "complete_time", s->tc.complete_time);
    lua_setfield(L, -2, "transfer");
  }
  return 1;
}

/* Is the alarm (this device, rule, key) open, as the session started or
 * since (raised in this session)? */
static bool alarm_open(acs__session *s, const char *rule, const char *key) {
  const json_t *open = json_object_get(s->pol->ctx, "alarms");
  for (size_t i = 0; i < json_array_size(open); i++) {
    const json_t *a = json_array_get(open, i);
    if (!strcmp(json_string_value(json_array_get(a, 0)), rule) &&
        !strcmp(json_string_value(json_array_get(a, 1)), key))
      return true;
  }
  return false;
}

/* acs.alarm(key, severity, message) / acs.alarm(key): raise or clear the
 * alarm (device, this rule, key); only alarm rules (alarms/NAME) may. */
static int l_acs_alarm(lua_State *L) {
  acs__session *s = acs__policy_sess(L);
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
  /* the open alarms are scanned, and a write is queued */
  acs_script_charge(L, 1 + json_array_size(json_object_get(s->pol->ctx, "alarms")));
  acs_script_charge_host(L, 256 + strlen(key) + strlen(msg));
  if (!sev && !alarm_open(s, rule, key)) return 0; /* nothing to clear: no write */
  acs__sess_store_alarm(s, rule, key, sev, msg);
  if (sev && !alarm_open(s, rule, key)) { /* open now: a clear later in the session writes */
    json_t *open = json_object_get(s->pol->ctx, "alarms");
    if (json_is_array(open)) json_array_append_new(open, json_pack("[s, s]", rule, key));
  }
  return 0;
}

static const struct {
  const char *name;
  lua_CFunction fn;
} host_fns[] = {
    {"action", l_acs_action},
    {"action_status", l_acs_action_status},
    {"tag", l_acs_tag},
    {"clear", l_acs_clear},
    {"virtual", l_acs_virtual},
    {"virtual_store", l_acs_virtual_store},
    {"secret", l_acs_secret},
    {"secret_set", l_acs_secret_set},
    {"random_secret", l_acs_random_secret},
    {"alarm", l_acs_alarm},
    {"kind", l_acs_kind},
    {"declare", l_acs_declare},
    {"read", l_acs_read},
    {"commit", l_acs_commit},
    {"now", l_acs_now},
    {"log", l_acs_log},
    {"device", l_acs_device},
};

int acs__policy_register(acs_script_vm *vm) {
  for (size_t i = 0; i < sizeof host_fns / sizeof host_fns[0]; i++) {
    int rc = acs_script_vm_register(vm, "acs", host_fns[i].name, host_fns[i].fn);
    if (rc) return rc;
  }
  return acs__jobs_register(vm);
}
