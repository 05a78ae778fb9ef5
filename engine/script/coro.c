/* coro.c: the coroutine library as policies see it.
 *
 * A policy's coroutines belong to its run: they carry the channel pointer
 * (so acs_script_ctx() works in them and their allocations count for the
 * run), inherit the count hook, cost hook_every instructions each when
 * created (so short-lived ones cannot dodge the count), and at most
 * limits.coroutines are created per run.
 *
 * Two kinds of yield meet here. coroutine.yield() is the policy's own: it
 * returns to the policy's coroutine.resume(), and it is refused in the
 * channel's root coroutine (the engine's). A host function's yield
 * (acs_script_yield) carries a sentinel as its first value; when
 * coroutine.resume() sees it come out of a policy coroutine it yields its
 * own thread with the same values (lua_yieldk), and so on up to the
 * engine; when the engine resumes the channel the continuation resumes the
 * inner coroutine with the engine's values. While such a yield is pending
 * the coroutine cannot be resumed or closed by policy code.
 *
 * Policies can only resume and close their own run's coroutines, never a
 * channel's root. Nesting of resumes is bounded (ACS__MAX_NEST, on top of
 * Lua's own C-call limit) and coroutine.close() does not nest. A coroutine
 * that dies with an error is closed at once (its pending to-be-closed
 * variables are closed then, as coroutine.wrap does in Lua 5.4). */
#include <lauxlib.h>
#include <string.h>

#include "script/script_internal.h"

/* Marks on coroutines, in a weak table: ACS__WAITING while an engine
 * yield passes through it, ACS__KILLED once it died of a kill. A kill is
 * raised from the count hook, and Lua leaves hooks off in a thread where a
 * hook raised until a pcall restores them: a coroutine that died that way
 * must never run policy code again (its __close handlers, say). */
enum { ACS__WAITING = 1, ACS__KILLED = 2 };

static int acs__mark(lua_State *L, lua_State *co) {
  acs_script_vm *vm = acs__vm_of(L);
  lua_rawgeti(L, LUA_REGISTRYINDEX, vm->ref_waiting);
  lua_pushthread(co);
  lua_xmove(co, L, 1);
  lua_rawget(L, -2);
  int r = (int)lua_tointeger(L, -1);
  lua_pop(L, 2);
  return r;
}

static void acs__set_mark(lua_State *L, lua_State *co, int mark) {
  acs_script_vm *vm = acs__vm_of(L);
  lua_rawgeti(L, LUA_REGISTRYINDEX, vm->ref_waiting);
  lua_pushthread(co);
  lua_xmove(co, L, 1);
  if (mark)
    lua_pushinteger(L, mark);
  else
    lua_pushnil(L);
  lua_rawset(L, -3);
  lua_pop(L, 1);
}

/* A coroutine of this run that policy code may resume or close. */
static lua_State *acs__co_check(lua_State *L, lua_State *co) {
  acs_script_chan *mine = acs__chan_of(L), *its = acs__chan_of(co);
  if (!mine || !its || its->run != mine->run || acs__is_root(co))
    luaL_error(L, "not a coroutine of this policy run");
  luaL_checkstack(L, 4, NULL);
  int mark = acs__mark(L, co);
  if (mark == ACS__WAITING) luaL_error(L, "the coroutine is waiting for the engine");
  if (mark == ACS__KILLED) luaL_error(L, "the coroutine was killed by the engine");
  return co;
}

static lua_State *acs__co_arg(lua_State *L) {
  lua_State *co = lua_tothread(L, 1);
  luaL_argexpected(L, co, 1, "coroutine");
  return acs__co_check(L, co);
}

static const char *acs__co_status(lua_State *L, lua_State *co) {
  if (L == co) return "running";
  switch (lua_status(co)) {
    case LUA_YIELD:
      return "suspended";
    case LUA_OK: {
      lua_Debug ar;
      if (lua_getstack(co, 0, &ar)) return "normal";
      if (lua_gettop(co) == 0 || acs__is_root(co)) return "dead";
      return "suspended";
    }
    default:
      return "dead";
  }
}

static int l_coroutine_create(lua_State *L) {
  luaL_checktype(L, 1, LUA_TFUNCTION);
  acs_script_chan *ch = acs__chan_of(L);
  if (!ch) return luaL_error(L, "no policy run");
  acs_script_run *run = ch->run;
  if (run->coroutines >= run->limits.coroutines)
    return luaL_error(L, "too many coroutines (%I per run)", (lua_Integer)run->limits.coroutines);
  run->coroutines++;
  acs__charge(L, run->limits.hook_every);
  lua_State *co = lua_newthread(L); /* inherits L's hook */
  acs__set_chan(co, ch);
  lua_pushvalue(L, 1);
  lua_xmove(L, co, 1);
  return 1;
}

static int acs__resume_k(lua_State *L, int status, lua_KContext ctx);
static int acs__wrap_k(lua_State *L, int status, lua_KContext ctx);

/* Resumes co with the top narg values of L. Returns the number of results
 * now on top of L, or -1 with an error object on top. An engine yield out
 * of co does not return: L yields too, and k continues. */
static int acs__co_resume(lua_State *L, lua_State *co, int narg, lua_KFunction k) {
  acs_script_vm *vm = acs__vm_of(L);
  acs_script_chan *ch = acs__chan_of(L); /* not NULL: acs__co_check passed */
  acs_script_run *run = ch->run;
  if (acs__stopped(ch)) acs__kill_raise(L, ch);
  int st;
  if (vm->nest >= ACS__MAX_NEST || !lua_checkstack(co, narg)) {
    lua_pop(L, narg);
    lua_pushstring(L, vm->nest >= ACS__MAX_NEST ? "C stack overflow (coroutines nested too deeply)"
                                                : "too many arguments to resume");
    return -1;
  }
  lua_xmove(L, co, narg);
  acs__set_chan(co, ch);
  run->cur_L = co;
  vm->nest++;
  int nres = 0;
  st = lua_resume(co, L, narg, &nres);
  vm->nest--;
  run->cur_L = L;
  if (st != LUA_OK && st != LUA_YIELD) {
    lua_xmove(co, L, 1); /* the error object */
    /* It died: close its pending to-be-closed slots now (C buffers among
     * them), as coroutine.wrap does in Lua, unless a close is running. */
    int dead = lua_status(co) != LUA_OK && lua_status(co) != LUA_YIELD; /* not a refusal */
    if (dead && acs__stopped(ch)) {
      lua_checkstack(L, 4);
      acs__set_mark(L, co, ACS__KILLED);
    } else if (dead && !vm->closing) {
      run->cur_L = co;
      vm->closing = 1;
      lua_resetthread(co);
      vm->closing = 0;
      run->cur_L = L;
    }
    if (acs__stopped(ch)) acs__kill_raise(L, ch);
    return -1;
  }
  if (acs__stopped(ch)) acs__kill_raise(L, ch);
  {
    if (st == LUA_YIELD && nres > 0 && lua_touserdata(co, -nres) == &acs__yield_sentinel) {
      acs__set_mark(L, co, ACS__WAITING);
      if (!lua_isyieldable(L)) {
        lua_pop(co, nres);
        lua_pushliteral(L, "attempt to yield across a C-call boundary");
        return -1; /* co keeps waiting: its host function never gets an answer */
      }
      if (!lua_checkstack(L, nres + 1)) {
        lua_pop(co, nres);
        lua_pushliteral(L, "too many results to resume");
        return -1;
      }
      int base = lua_gettop(L);
      lua_xmove(co, L, nres);
      return lua_yieldk(L, nres, (lua_KContext)base, k);
    }
    if (!lua_checkstack(L, nres + 1)) {
      lua_pop(co, nres);
      lua_pushliteral(L, "too many results to resume");
      return -1;
    }
    lua_xmove(co, L, nres);
    return nres;
  }
}

static int acs__resume_results(lua_State *L, int r) {
  if (r < 0) {
    lua_pushboolean(L, 0);
    lua_insert(L, -2);
    return 2;
  }
  lua_pushboolean(L, 1);
  lua_insert(L, -(r + 1));
  return r + 1;
}

static int l_coroutine_resume(lua_State *L) {
  lua_State *co = acs__co_arg(L);
  return acs__resume_results(L, acs__co_resume(L, co, lua_gettop(L) - 1, acs__resume_k));
}

/* The engine resumed us: its values (above base) go to the inner coroutine. */
static int acs__resume_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status;
  lua_State *co = lua_tothread(L, 1);
  int narg = lua_gettop(L) - (int)ctx;
  acs__set_mark(L, co, 0);
  return acs__resume_results(L, acs__co_resume(L, co, narg, acs__resume_k));
}

static int acs__wrap_results(lua_State *L, int r) {
  if (r < 0) {
    if (lua_type(L, -1) == LUA_TSTRING) { /* add where the wrapped call was */
      luaL_where(L, 1);
      lua_insert(L, -2);
      lua_concat(L, 2);
    }
    return lua_error(L);
  }
  return r;
}

static int l_coroutine_wrapped(lua_State *L) {
  lua_State *co = acs__co_check(L, lua_tothread(L, lua_upvalueindex(1)));
  return acs__wrap_results(L, acs__co_resume(L, co, lua_gettop(L), acs__wrap_k));
}

static int acs__wrap_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status;
  lua_State *co = lua_tothread(L, lua_upvalueindex(1));
  int narg = lua_gettop(L) - (int)ctx;
  acs__set_mark(L, co, 0);
  return acs__wrap_results(L, acs__co_resume(L, co, narg, acs__wrap_k));
}

static int l_coroutine_wrap(lua_State *L) {
  l_coroutine_create(L);
  lua_pushcclosure(L, l_coroutine_wrapped, 1);
  return 1;
}

static int l_coroutine_yield(lua_State *L) {
  if (acs__is_root(L)) return luaL_error(L, "attempt to yield from outside a coroutine");
  return lua_yield(L, lua_gettop(L));
}

static int l_coroutine_status(lua_State *L) {
  lua_State *co = lua_tothread(L, 1);
  luaL_argexpected(L, co, 1, "coroutine");
  lua_pushstring(L, acs__co_status(L, co));
  return 1;
}

static int l_coroutine_running(lua_State *L) {
  lua_pushthread(L);
  lua_pushboolean(L, acs__is_root(L));
  return 2;
}

static int l_coroutine_isyieldable(lua_State *L) {
  lua_State *co = lua_isnone(L, 1) ? L : lua_tothread(L, 1);
  luaL_argexpected(L, co, 1, "coroutine");
  lua_pushboolean(L, !acs__is_root(co) && lua_isyieldable(co));
  return 1;
}

static int l_coroutine_close(lua_State *L) {
  lua_State *co = acs__co_arg(L);
  acs_script_vm *vm = acs__vm_of(L);
  acs_script_chan *ch = acs__chan_of(L);
  const char *st = acs__co_status(L, co);
  if (strcmp(st, "dead") != 0 && strcmp(st, "suspended") != 0)
    return luaL_error(L, "cannot close a %s coroutine", st);
  if (vm->closing) return luaL_error(L, "coroutine.close cannot nest (inside a __close handler)");
  if (acs__stopped(ch)) acs__kill_raise(L, ch);
  acs__set_chan(co, ch);
  ch->run->cur_L = co;
  vm->closing = 1;
  int status = lua_resetthread(co);
  vm->closing = 0;
  ch->run->cur_L = L;
  if (ch->kill) acs__kill_raise(L, ch);
  if (status == LUA_OK) {
    lua_pushboolean(L, 1);
    return 1;
  }
  lua_pushboolean(L, 0);
  lua_xmove(co, L, 1);
  return 2;
}

void acs__coro_fill(lua_State *L, int idx) {
  static const luaL_Reg funcs[] = {
      {"create", l_coroutine_create},
      {"resume", l_coroutine_resume},
      {"yield", l_coroutine_yield},
      {"status", l_coroutine_status},
      {"wrap", l_coroutine_wrap},
      {"running", l_coroutine_running},
      {"isyieldable", l_coroutine_isyieldable},
      {"close", l_coroutine_close},
      {NULL, NULL},
  };
  lua_pushvalue(L, idx);
  luaL_setfuncs(L, funcs, 0);
  lua_pop(L, 1);
}
