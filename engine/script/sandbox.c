/* sandbox.c: the frozen API that every run's environment reads through.
 *
 * Everything policies share is a read-only proxy: an empty table whose
 * metatable (__metatable = false, so getmetatable() says false) reads from
 * a real table that policies can never reach, refuses writes, and iterates
 * with an iterator that hides the real table. rawset() refuses proxies, and
 * rawget() on one finds nothing. A run's environment is a fresh table whose
 * misses fall through to the API and raise "unknown global 'x'".
 *
 * Finalizers: setmetatable() refuses a metatable with a __gc field. A __gc
 * added to the metatable afterwards (mt.__gc = f, rawset) has no effect, as
 * Lua 5.4 marks an object for finalization only when its metatable is set
 * (manual, 2.5.3); setting that metatable again is refused by the same
 * check. Policies create no userdata, so no other object can carry one. */
#include <lauxlib.h>
#include <lualib.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "script/script_internal.h"

/* --- read-only proxies */
static int l_ro_newindex(lua_State *L) {
  return luaL_error(L, "attempt to modify a read-only table");
}

static int l_ro_next(lua_State *L) {
  lua_settop(L, 2);
  if (lua_next(L, lua_upvalueindex(1))) return 2;
  lua_pushnil(L);
  return 1;
}

static int l_ro_pairs(lua_State *L) {
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_pushnil(L);
  lua_pushnil(L);
  return 3;
}

static int l_ro_len(lua_State *L) {
  lua_pushinteger(L, (lua_Integer)lua_rawlen(L, lua_upvalueindex(1)));
  return 1;
}

void acs__proxy_push(lua_State *L, acs_script_vm *vm, int idx) {
  idx = lua_absindex(L, idx);
  lua_newtable(L);
  lua_createtable(L, 0, 5);
  lua_pushvalue(L, idx);
  lua_setfield(L, -2, "__index");
  lua_pushcfunction(L, l_ro_newindex);
  lua_setfield(L, -2, "__newindex");
  lua_pushvalue(L, idx);
  lua_pushcclosure(L, l_ro_next, 1);
  lua_pushcclosure(L, l_ro_pairs, 1);
  lua_setfield(L, -2, "__pairs");
  lua_pushvalue(L, idx);
  lua_pushcclosure(L, l_ro_len, 1);
  lua_setfield(L, -2, "__len");
  lua_pushboolean(L, 0);
  lua_setfield(L, -2, "__metatable");
  lua_setmetatable(L, -2);
  lua_rawgeti(L, LUA_REGISTRYINDEX, vm->ref_frozen);
  lua_pushvalue(L, -2);
  lua_pushboolean(L, 1);
  lua_rawset(L, -3);
  lua_pop(L, 1);
}

static int acs__is_frozen(lua_State *L, int idx) {
  acs_script_vm *vm = acs__vm_of(L);
  idx = lua_absindex(L, idx);
  lua_rawgeti(L, LUA_REGISTRYINDEX, vm->ref_frozen);
  lua_pushvalue(L, idx);
  int r = lua_rawget(L, -2) != LUA_TNIL;
  lua_pop(L, 2);
  return r;
}

/* --- the environment
 * A run's environment is a table of its own; what it lacks comes from its
 * generation's library (upvalue 2), then its lazy globals (upvalue 3:
 * computed once per run and kept in the environment), then the API
 * (upvalue 1); anything else raises. */
const char acs__gen_lib = 0, acs__gen_lazy = 0, acs__gen_env_mt = 0;

static int acs__unknown_global(lua_State *L, int k) {
  if (lua_type(L, k) == LUA_TSTRING)
    return luaL_error(L, "unknown global '%s'", lua_tostring(L, k));
  return luaL_error(L, "unknown global (a %s key)", luaL_typename(L, k));
}

/* The API's globals a sealed run may read (acs_script_run_seal): what they
 * give depends on their arguments alone (math: random; os: the clock). */
static const char *const acs__sealed_ok[] = {
    "assert",   "error",  "ipairs",   "next",   "pairs",        "rawget",
    "rawlen",   "select", "tostring", "type",   "_VERSION",     "tonumber",
    "rawequal", "rawset", "pcall",    "xpcall", "setmetatable", "getmetatable",
    "string",   "table",  "utf8",     NULL,
};

static acs_script_run *acs__sealed_run(lua_State *L) {
  acs_script_chan *ch = acs__chan_of(L);
  return ch && ch->run->sealed ? ch->run : NULL;
}

/* A sealed run reads global k, which it may not: marked, and raised before
 * anything of the session is touched. */
static int acs__unseal(lua_State *L, acs_script_run *run, int k) {
  run->unsealed = true;
  return luaL_error(L, "'%s' may depend on the session: not read here",
                    lua_type(L, k) == LUA_TSTRING ? lua_tostring(L, k) : "?");
}

static bool acs__sealed_may(lua_State *L, int k) {
  const char *name = lua_type(L, k) == LUA_TSTRING ? lua_tostring(L, k) : NULL;
  for (const char *const *n = acs__sealed_ok; name && *n; n++)
    if (strcmp(*n, name) == 0) return true;
  return false;
}

static int l_env_index(lua_State *L) {
  lua_settop(L, 2);
  acs_script_run *sealed = acs__sealed_run(L);
  lua_pushvalue(L, 2);
  if (lua_rawget(L, lua_upvalueindex(2)) != LUA_TNIL) return sealed ? acs__unseal(L, sealed, 2) : 1;
  lua_pop(L, 1);
  lua_pushvalue(L, 2);
  if (lua_rawget(L, lua_upvalueindex(3)) == LUA_TFUNCTION) {
    if (sealed) return acs__unseal(L, sealed, 2);
    lua_call(L, 0, 1);
    if (!lua_isnil(L, -1)) {
      lua_pushvalue(L, 2);
      lua_pushvalue(L, -2);
      lua_rawset(L, 1); /* the run's own from now on */
      return 1;
    }
  }
  lua_pop(L, 1);
  lua_pushvalue(L, 2);
  if (lua_rawget(L, lua_upvalueindex(1)) != LUA_TNIL)
    return sealed && !acs__sealed_may(L, 2) ? acs__unseal(L, sealed, 2) : 1;
  return acs__unknown_global(L, 2);
}

void acs__env_push(lua_State *L, int gen) {
  gen = lua_absindex(L, gen);
  lua_createtable(L, 0, 8);
  lua_rawgetp(L, gen, &acs__gen_env_mt);
  lua_setmetatable(L, -2);
  lua_pushvalue(L, -1);
  lua_setfield(L, -2, "_G");
}

void acs__gen_finish(lua_State *L, acs_script_vm *vm, int gen, int libt, int lazy) {
  gen = lua_absindex(L, gen);
  libt = lua_absindex(L, libt);
  lazy = lua_absindex(L, lazy);
  lua_pushvalue(L, libt);
  lua_rawsetp(L, gen, &acs__gen_lib);
  lua_pushvalue(L, lazy);
  lua_rawsetp(L, gen, &acs__gen_lazy);
  lua_createtable(L, 0, 2);
  lua_rawgeti(L, LUA_REGISTRYINDEX, vm->ref_api);
  lua_pushvalue(L, libt);
  lua_pushvalue(L, lazy);
  lua_pushcclosure(L, l_env_index, 3);
  lua_setfield(L, -2, "__index");
  lua_pushboolean(L, 0);
  lua_setfield(L, -2, "__metatable");
  lua_rawsetp(L, gen, &acs__gen_env_mt);
}

/* --- the library's _ENV: the calling run's environment. While the library
 * loads (no run) it reads the library's globals (upvalue 1) and the API
 * (upvalue 2) and defines library globals; after that, outside a run,
 * nothing. */
static int acs__run_env(lua_State *L) {
  acs_script_chan *ch = acs__chan_of(L);
  if (!ch) return 0;
  lua_rawgeti(L, LUA_REGISTRYINDEX, ch->run->ref_env);
  return 1;
}

static int l_lib_index(lua_State *L) {
  lua_settop(L, 2);
  acs_script_run *sealed = acs__sealed_run(L);
  if (sealed) return acs__unseal(L, sealed, 2);
  if (acs__run_env(L)) {
    lua_pushvalue(L, 2);
    lua_gettable(L, 3);
    return 1;
  }
  if (!acs__vm_of(L)->lib_loading) return luaL_error(L, "library code runs only in policy runs");
  lua_pushvalue(L, 2);
  if (lua_rawget(L, lua_upvalueindex(1)) != LUA_TNIL) return 1;
  lua_pushvalue(L, 2);
  if (lua_rawget(L, lua_upvalueindex(2)) != LUA_TNIL) return 1;
  return acs__unknown_global(L, 2);
}

static int l_lib_newindex(lua_State *L) {
  lua_settop(L, 3);
  if (acs__run_env(L)) {
    lua_insert(L, 2);
    lua_settable(L, 2);
    return 0;
  }
  if (!acs__vm_of(L)->lib_loading) return luaL_error(L, "library code runs only in policy runs");
  lua_rawset(L, lua_upvalueindex(1));
  return 0;
}

void acs__lib_env_push(lua_State *L, acs_script_vm *vm, int libt) {
  libt = lua_absindex(L, libt);
  lua_newtable(L);
  lua_createtable(L, 0, 3);
  lua_pushvalue(L, libt);
  lua_rawgeti(L, LUA_REGISTRYINDEX, vm->ref_api);
  lua_pushcclosure(L, l_lib_index, 2);
  lua_setfield(L, -2, "__index");
  lua_pushvalue(L, libt);
  lua_pushcclosure(L, l_lib_newindex, 1);
  lua_setfield(L, -2, "__newindex");
  lua_pushboolean(L, 0);
  lua_setfield(L, -2, "__metatable");
  lua_setmetatable(L, -2);
}

static int l_lib_state(lua_State *L) {
  acs_script_chan *ch = acs__chan_of(L);
  if (!ch) return luaL_error(L, "no policy run");
  acs_script_run *run = ch->run;
  if (run->ref_state == LUA_NOREF) {
    lua_newtable(L);
    lua_pushvalue(L, -1);
    run->ref_state = luaL_ref(L, LUA_REGISTRYINDEX);
    return 1;
  }
  lua_rawgeti(L, LUA_REGISTRYINDEX, run->ref_state);
  return 1;
}

void acs__lib_state_push(lua_State *L) { lua_pushcfunction(L, l_lib_state); }

/* seen: real table -> its proxy (shared subtables and cycles get one) */
static void acs__freeze_in(lua_State *L, acs_script_vm *vm, int t, int seen) {
  luaL_checkstack(L, 8, "library tables nested too deeply");
  lua_pushnil(L);
  while (lua_next(L, t)) {
    if (lua_type(L, -1) != LUA_TTABLE || acs__is_frozen(L, -1)) {
      lua_pop(L, 1);
      continue;
    }
    int v = lua_gettop(L);
    lua_pushvalue(L, v);
    if (lua_rawget(L, seen) == LUA_TNIL) {
      lua_pop(L, 1);
      acs__proxy_push(L, vm, v);
      lua_pushvalue(L, v);
      lua_pushvalue(L, -2);
      lua_rawset(L, seen);
      acs__freeze_in(L, vm, v, seen);
    }
    /* key, value, proxy: assigning an existing field while traversing is allowed */
    lua_pushvalue(L, v - 1);
    lua_insert(L, -2);
    lua_rawset(L, t);
    lua_pop(L, 1);
  }
}

void acs__freeze_fields(lua_State *L, acs_script_vm *vm, int idx) {
  idx = lua_absindex(L, idx);
  lua_newtable(L);
  acs__freeze_in(L, vm, idx, lua_gettop(L));
  lua_pop(L, 1);
}

/* --- base functions */
static int l_base_rawset(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  luaL_checkany(L, 2);
  luaL_checkany(L, 3);
  if (acs__is_frozen(L, 1)) return luaL_error(L, "attempt to modify a read-only table");
  lua_settop(L, 3);
  lua_rawset(L, 1);
  return 1;
}

static int l_base_setmetatable(lua_State *L) {
  int t = lua_type(L, 2);
  luaL_checktype(L, 1, LUA_TTABLE);
  luaL_argexpected(L, t == LUA_TNIL || t == LUA_TTABLE, 2, "nil or table");
  if (t == LUA_TTABLE) {
    lua_pushliteral(L, "__gc");
    int gc = lua_rawget(L, 2) != LUA_TNIL;
    lua_pop(L, 1);
    if (gc) return luaL_error(L, "__gc metamethods are not allowed in policies");
  }
  if (luaL_getmetafield(L, 1, "__metatable") != LUA_TNIL)
    return luaL_error(L, "cannot change a protected metatable");
  lua_settop(L, 2);
  lua_setmetatable(L, 1);
  return 1;
}

/* A table's own metatable (or its __metatable field); for any other value
 * only a __metatable field, never the metatable itself. */
static int l_base_getmetatable(lua_State *L) {
  luaL_checkany(L, 1);
  if (!lua_getmetatable(L, 1)) {
    lua_pushnil(L);
    return 1;
  }
  if (luaL_getmetafield(L, 1, "__metatable") != LUA_TNIL) return 1;
  if (lua_type(L, 1) != LUA_TTABLE) {
    lua_pushnil(L);
    return 1;
  }
  lua_settop(L, 2);
  return 1;
}

/* pcall and xpcall, as Lua's, counting how many are active in the run
 * (ACS__MAX_PCALL). The continuation runs once per call whatever happens:
 * normal return, return after a yield, or a caught error. */
static int acs__pcall_k(lua_State *L, int status, lua_KContext extra) {
  acs_script_run *run = acs_script_run_of(L);
  if (run && run->pcalls > 0) run->pcalls--;
  if (status != LUA_OK && status != LUA_YIELD) {
    lua_pushboolean(L, 0);
    lua_pushvalue(L, -2);
    return 2;
  }
  return lua_gettop(L) - (int)extra;
}

static void acs__pcall_enter(lua_State *L) {
  acs_script_run *run = acs_script_run_of(L);
  if (!run) return;
  if (run->pcalls >= ACS__MAX_PCALL) luaL_error(L, "C stack overflow (pcall nested too deeply)");
  run->pcalls++;
}

static int l_base_pcall(lua_State *L) {
  luaL_checkany(L, 1);
  acs__pcall_enter(L);
  lua_pushboolean(L, 1);
  lua_insert(L, 1);
  int status = lua_pcallk(L, lua_gettop(L) - 2, LUA_MULTRET, 0, 0, acs__pcall_k);
  return acs__pcall_k(L, status, 0);
}

/* The message handler, called by Lua where the error was raised. After a
 * kill it is not called at all: the kill was raised from the count hook,
 * and Lua runs the handler with hooks still off at that point. */
static int l_base_xpcall_handler(lua_State *L) {
  acs_script_chan *ch = acs__chan_of(L);
  if (ch && acs__stopped(ch)) return 1;
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_insert(L, 1);
  lua_call(L, lua_gettop(L) - 1, 1);
  return 1;
}

static int l_base_xpcall(lua_State *L) {
  int n = lua_gettop(L);
  luaL_checktype(L, 2, LUA_TFUNCTION);
  lua_pushvalue(L, 2);
  lua_pushcclosure(L, l_base_xpcall_handler, 1);
  lua_replace(L, 2);
  acs__pcall_enter(L);
  lua_pushboolean(L, 1);
  lua_pushvalue(L, 1);
  lua_rotate(L, 3, 2);
  int status = lua_pcallk(L, n - 2, LUA_MULTRET, 2, 2, acs__pcall_k);
  return acs__pcall_k(L, status, 2);
}

/* rawequal compares equal-length long strings byte by byte: charged. */
static int l_base_rawequal(lua_State *L) {
  luaL_checkany(L, 1);
  luaL_checkany(L, 2);
  if (lua_type(L, 1) == LUA_TSTRING && lua_type(L, 2) == LUA_TSTRING &&
      lua_rawlen(L, 1) == lua_rawlen(L, 2))
    acs__charge(L, acs__bytes_units(lua_rawlen(L, 1)));
  lua_pushboolean(L, lua_rawequal(L, 1, 2));
  return 1;
}

static int l_base_tonumber(lua_State *L) {
  size_t n;
  if (lua_type(L, 1) == LUA_TSTRING) {
    lua_tolstring(L, 1, &n);
    acs__charge(L, acs__bytes_units(n));
  }
  return acs__vm_of(L)->std.tonumber(L);
}

/* collectgarbage: "count" is the run's own memory in KiB; "collect" and
 * "step" do nothing (collection is the engine's business); "isrunning" is
 * true; anything else is refused. */
static int l_base_collectgarbage(lua_State *L) {
  const char *opt = luaL_optstring(L, 1, "collect");
  if (!strcmp(opt, "count")) {
    acs_script_run *run = acs_script_run_of(L);
    lua_pushnumber(L, run ? (lua_Number)run->mem / 1024.0 : 0.0);
    return 1;
  }
  if (!strcmp(opt, "collect") || !strcmp(opt, "step")) {
    lua_pushinteger(L, 0);
    return 1;
  }
  if (!strcmp(opt, "isrunning")) {
    lua_pushboolean(L, 1);
    return 1;
  }
  return luaL_error(L, "collectgarbage('%s') is not available to policies", opt);
}

/* --- math.random: a xoshiro256** generator per run */
static uint64_t acs__splitmix(uint64_t *x) {
  uint64_t z = (*x += 0x9e3779b97f4a7c15u);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
  return z ^ (z >> 31);
}

void acs__rng_seed(uint64_t s[4], uint64_t seed) {
  for (int i = 0; i < 4; i++) s[i] = acs__splitmix(&seed);
}

static uint64_t acs__rotl(uint64_t x, int n) { return (x << n) | (x >> (64 - n)); }

static uint64_t acs__rng_next(uint64_t *s) {
  uint64_t r = acs__rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = acs__rotl(s[3], 45);
  return r;
}

static acs_script_run *acs__need_run(lua_State *L) {
  acs_script_run *run = acs_script_run_of(L);
  if (!run) luaL_error(L, "no policy run");
  return run;
}

static int l_math_random(lua_State *L) {
  acs_script_run *run = acs__need_run(L);
  uint64_t rv = acs__rng_next(run->rng);
  lua_Integer low, up;
  switch (lua_gettop(L)) {
    case 0:
      lua_pushnumber(L, (lua_Number)(rv >> 11) * 0x1.0p-53);
      return 1;
    case 1:
      low = 1;
      up = luaL_checkinteger(L, 1);
      if (up == 0) {
        lua_pushinteger(L, (lua_Integer)rv);
        return 1;
      }
      break;
    case 2:
      low = luaL_checkinteger(L, 1);
      up = luaL_checkinteger(L, 2);
      break;
    default:
      return luaL_error(L, "wrong number of arguments");
  }
  luaL_argcheck(L, low <= up, lua_gettop(L), "interval is empty");
  uint64_t range = (uint64_t)up - (uint64_t)low, r;
  if ((range & (range + 1)) == 0) {
    r = rv & range;
  } else {
    uint64_t lim = range;
    lim |= lim >> 1;
    lim |= lim >> 2;
    lim |= lim >> 4;
    lim |= lim >> 8;
    lim |= lim >> 16;
    lim |= lim >> 32;
    while ((r = rv & lim) > range) rv = acs__rng_next(run->rng);
  }
  lua_pushinteger(L, (lua_Integer)(r + (uint64_t)low));
  return 1;
}

/* Seeds this run's generator only. */
static int l_math_randomseed(lua_State *L) {
  acs_script_run *run = acs__need_run(L);
  uint64_t seed;
  if (lua_isnone(L, 1)) {
    seed = run->vm->seed ^ acs__mono_ns();
  } else if (lua_isinteger(L, 1)) {
    seed = (uint64_t)lua_tointeger(L, 1);
  } else {
    lua_Number n = luaL_checknumber(L, 1);
    memcpy(&seed, &n, sizeof seed);
  }
  seed ^= (uint64_t)luaL_optinteger(L, 2, 0) * 0x9e3779b97f4a7c15u;
  acs__rng_seed(run->rng, seed);
  return 0;
}

/* --- os: the engine's clock, UTC */
static time_t acs__now_s(lua_State *L) {
  int64_t ms = acs__now_ms(acs__vm_of(L));
  return (time_t)(ms >= 0 ? ms / 1000 : -((-ms + 999) / 1000));
}

static int acs__getfield(lua_State *L, const char *key, int d, int delta) {
  int isnum;
  int t = lua_getfield(L, -1, key);
  lua_Integer res = lua_tointegerx(L, -1, &isnum);
  if (!isnum) {
    if (t != LUA_TNIL) return luaL_error(L, "field '%s' is not an integer", key);
    if (d < 0) return luaL_error(L, "field '%s' missing in date table", key);
    res = d;
  } else {
    if (!(res >= 0 ? res - delta <= 1000000 : -1000000 + delta <= res))
      return luaL_error(L, "field '%s' is out-of-bound", key);
    res -= delta;
  }
  lua_pop(L, 1);
  return (int)res;
}

static void acs__setfields(lua_State *L, const struct tm *tm) {
  lua_pushinteger(L, tm->tm_year + 1900);
  lua_setfield(L, -2, "year");
  lua_pushinteger(L, tm->tm_mon + 1);
  lua_setfield(L, -2, "month");
  lua_pushinteger(L, tm->tm_mday);
  lua_setfield(L, -2, "day");
  lua_pushinteger(L, tm->tm_hour);
  lua_setfield(L, -2, "hour");
  lua_pushinteger(L, tm->tm_min);
  lua_setfield(L, -2, "min");
  lua_pushinteger(L, tm->tm_sec);
  lua_setfield(L, -2, "sec");
  lua_pushinteger(L, tm->tm_yday + 1);
  lua_setfield(L, -2, "yday");
  lua_pushinteger(L, tm->tm_wday + 1);
  lua_setfield(L, -2, "wday");
  lua_pushboolean(L, 0);
  lua_setfield(L, -2, "isdst");
}

static int l_os_time(lua_State *L) {
  if (lua_isnoneornil(L, 1)) {
    lua_pushinteger(L, (lua_Integer)acs__now_s(L));
    return 1;
  }
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 1);
  struct tm tm = {0};
  tm.tm_year = acs__getfield(L, "year", -1, 1900);
  tm.tm_mon = acs__getfield(L, "month", -1, 1);
  tm.tm_mday = acs__getfield(L, "day", -1, 0);
  tm.tm_hour = acs__getfield(L, "hour", 12, 0);
  tm.tm_min = acs__getfield(L, "min", 0, 0);
  tm.tm_sec = acs__getfield(L, "sec", 0, 0);
  time_t t = timegm(&tm);
  if (t == (time_t)-1 && !(tm.tm_year == 69 && tm.tm_mon == 11 && tm.tm_mday == 31))
    return luaL_error(L, "time result cannot be represented in this installation");
  acs__setfields(L, &tm);
  lua_pushinteger(L, (lua_Integer)t);
  return 1;
}

static int l_os_clock(lua_State *L) {
  lua_pushnumber(L, (lua_Number)acs__now_ms(acs__vm_of(L)) / 1000.0);
  return 1;
}

static int l_os_difftime(lua_State *L) {
  lua_Integer t1 = luaL_checkinteger(L, 1), t2 = luaL_optinteger(L, 2, 0);
  lua_pushnumber(L, (lua_Number)t1 - (lua_Number)t2);
  return 1;
}

/* os.date(fmt, t): always UTC ("!" is accepted and changes nothing); the
 * conversions of C99 strftime, one at a time, into a bounded buffer. */
static int l_os_date(lua_State *L) {
  size_t fl;
  const char *f = luaL_optlstring(L, 1, "%c", &fl);
  time_t t = luaL_opt(L, (time_t)luaL_checkinteger, 2, acs__now_s(L));
  const char *fe = f + fl;
  struct tm tm;
  if (f < fe && *f == '!') f++;
  if (!gmtime_r(&t, &tm))
    return luaL_error(L, "date result cannot be represented in this installation");
  if (fe - f == 2 && f[0] == '*' && f[1] == 't') {
    lua_createtable(L, 0, 9);
    acs__setfields(L, &tm);
    return 1;
  }
  acs__charge(L, 8 + (uint64_t)fl * 8); /* a strftime call per conversion */
  acs__sbuf b;
  acs__sb_init(L, &b);
  while (f < fe) {
    if (*f != '%') {
      acs__sb_add(&b, f++, 1);
      continue;
    }
    char conv[4] = {'%', 0, 0, 0};
    f++;
    if (f < fe && (*f == 'E' || *f == 'O')) {
      const char *ok = *f == 'E' ? "cCxXyY" : "deHImMSuUVwWy";
      if (f + 1 >= fe || !strchr(ok, f[1]) || !f[1])
        return luaL_argerror(L, 1, "invalid conversion specifier");
      conv[1] = f[0];
      conv[2] = f[1];
      f += 2;
    } else {
      if (f >= fe || !*f || !strchr("aAbBcCdDeFgGhHIjmMnprRStTuUVwWxXyYzZ%", *f))
        return luaL_argerror(L, 1, "invalid conversion specifier");
      conv[1] = *f++;
    }
    char *buff = acs__sb_reserve(&b, 256);
    b.n += strftime(buff, 256, conv, &tm);
  }
  acs__sb_result(&b);
  return 1;
}

/* --- building it all */
static void acs__copy_fields(lua_State *L, int from, int to, const char *const *names) {
  for (; *names; names++) {
    lua_getfield(L, from, *names);
    lua_setfield(L, to, *names);
  }
}

/* Creates a namespace: real table at the top, registered in ns and as a
 * proxy under its name in the API. Leaves the real table on the stack. */
static int acs__ns_new(lua_State *L, acs_script_vm *vm, int api, int ns, const char *name) {
  lua_newtable(L);
  lua_pushvalue(L, -1);
  lua_setfield(L, ns, name);
  acs__proxy_push(L, vm, -1);
  lua_setfield(L, api, name);
  return lua_gettop(L);
}

static const luaL_Reg acs__base_wrapped[] = {
    {"rawset", l_base_rawset},
    {"setmetatable", l_base_setmetatable},
    {"getmetatable", l_base_getmetatable},
    {"tonumber", l_base_tonumber},
    {"rawequal", l_base_rawequal},
    {"collectgarbage", l_base_collectgarbage},
    {"pcall", l_base_pcall},
    {"xpcall", l_base_xpcall},
    {NULL, NULL},
};

static const char *const acs__base_std[] = {
    "assert", "error",  "ipairs",   "next", "pairs",    "rawget",
    "rawlen", "select", "tostring", "type", "_VERSION", NULL,
};

static const char *const acs__math_std[] = {
    "abs", "ceil",       "cos",  "deg",        "exp",  "floor", "fmod", "huge", "log",
    "max", "maxinteger", "min",  "mininteger", "modf", "pi",    "rad",  "sin",  "sqrt",
    "tan", "tointeger",  "type", "ult",        "acos", "asin",  "atan", NULL,
};

static int acs__ref(lua_State *L) { return luaL_ref(L, LUA_REGISTRYINDEX); }

int acs__sandbox_open(lua_State *L) {
  acs_script_vm *vm = acs__vm_of(L);
  luaL_requiref(L, LUA_GNAME, luaopen_base, 0);          /* 1 */
  luaL_requiref(L, LUA_COLIBNAME, luaopen_coroutine, 0); /* 2 (wrapped: see coro.c) */
  luaL_requiref(L, LUA_TABLIBNAME, luaopen_table, 0);    /* 3 */
  luaL_requiref(L, LUA_STRLIBNAME, luaopen_string, 0);   /* 4 */
  luaL_requiref(L, LUA_MATHLIBNAME, luaopen_math, 0);    /* 5 */
  luaL_requiref(L, LUA_UTF8LIBNAME, luaopen_utf8, 0);    /* 6 */
  const int g = 1, tab = 3, str = 4, math = 5, utf = 6;
#define ACS__STD(field, idx, name)        \
  lua_getfield(L, idx, name);             \
  vm->std.field = lua_tocfunction(L, -1); \
  lua_pop(L, 1);
  ACS__STD(s_byte, str, "byte")
  ACS__STD(s_char, str, "char")
  ACS__STD(s_format, str, "format")
  ACS__STD(s_len, str, "len")
  ACS__STD(s_lower, str, "lower")
  ACS__STD(s_upper, str, "upper")
  ACS__STD(s_reverse, str, "reverse")
  ACS__STD(s_sub, str, "sub")
  ACS__STD(tonumber, g, "tonumber")
  ACS__STD(tpack, tab, "pack")
  ACS__STD(u_char, utf, "char")
  ACS__STD(u_codepoint, utf, "codepoint")
  ACS__STD(u_len, utf, "len")
  ACS__STD(u_offset, utf, "offset")
  ACS__STD(u_codes, utf, "codes")
#undef ACS__STD

  lua_newtable(L); /* weak keys: a generation's frozen library goes with it */
  lua_createtable(L, 0, 1);
  lua_pushliteral(L, "k");
  lua_setfield(L, -2, "__mode");
  lua_setmetatable(L, -2);
  vm->ref_frozen = acs__ref(L);
  lua_newtable(L);
  lua_createtable(L, 0, 1);
  lua_pushliteral(L, "k");
  lua_setfield(L, -2, "__mode");
  lua_setmetatable(L, -2);
  vm->ref_waiting = acs__ref(L);
  lua_pushliteral(L, "policy killed by the engine: budget exhausted");
  vm->ref_kill = acs__ref(L);

  lua_newtable(L); /* 7: api */
  lua_newtable(L); /* 8: ns */
  const int api = 7, ns = 8;
  acs__copy_fields(L, g, api, acs__base_std);
  lua_pushvalue(L, api);
  luaL_setfuncs(L, acs__base_wrapped, 0);
  lua_pop(L, 1);

  int t = acs__ns_new(L, vm, api, ns, "string");
  acs__strlib_fill(L, vm, t);
  /* The string metatable: its arithmetic metamethods (string coercion)
   * kept, __index the bounded library, protected. */
  lua_pushliteral(L, "");
  lua_getmetatable(L, -1);
  lua_newtable(L);
  lua_pushnil(L);
  while (lua_next(L, -3)) {
    lua_pushvalue(L, -2);
    lua_insert(L, -2);
    lua_rawset(L, -4);
  }
  lua_pushvalue(L, t);
  lua_setfield(L, -2, "__index");
  lua_pushboolean(L, 0);
  lua_setfield(L, -2, "__metatable");
  lua_setmetatable(L, -3);
  lua_settop(L, ns);

  t = acs__ns_new(L, vm, api, ns, "table");
  acs__tablib_fill(L, t);
  lua_settop(L, ns);

  t = acs__ns_new(L, vm, api, ns, "math");
  acs__copy_fields(L, math, t, acs__math_std);
  lua_pushcfunction(L, l_math_random);
  lua_setfield(L, t, "random");
  lua_pushcfunction(L, l_math_randomseed);
  lua_setfield(L, t, "randomseed");
  lua_settop(L, ns);

  t = acs__ns_new(L, vm, api, ns, "utf8");
  acs__utf8_fill(L, vm, t);
  lua_getfield(L, utf, "charpattern");
  lua_setfield(L, t, "charpattern");
  lua_settop(L, ns);

  t = acs__ns_new(L, vm, api, ns, "coroutine");
  acs__coro_fill(L, t);
  lua_settop(L, ns);

  t = acs__ns_new(L, vm, api, ns, "os");
  static const luaL_Reg os_funcs[] = {
      {"time", l_os_time},         {"clock", l_os_clock}, {"date", l_os_date},
      {"difftime", l_os_difftime}, {NULL, NULL},
  };
  luaL_setfuncs(L, os_funcs, 0);
  lua_settop(L, ns);

  lua_pushvalue(L, ns);
  vm->ref_ns = acs__ref(L);
  lua_pushvalue(L, api);
  vm->ref_api = acs__ref(L);

  /* generation 0: no policy, no library */
  lua_newtable(L);
  lua_newtable(L);
  lua_newtable(L);
  acs__gen_finish(L, vm, -3, -2, -1);
  lua_pop(L, 2);
  vm->ref_gen = acs__ref(L);

  /* Nothing is left in the real globals or the loaded table: chunks loaded
   * later find an empty table there (and their _ENV is replaced anyway). */
  lua_newtable(L);
  lua_rawseti(L, LUA_REGISTRYINDEX, LUA_RIDX_GLOBALS);
  lua_newtable(L);
  lua_setfield(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
  return 0;
}
