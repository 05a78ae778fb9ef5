/* run.c: runs (one per CWMP session), channels (one coroutine per policy
 * started), resuming them, and turning what comes back into DONE, YIELD or
 * FAULT.
 *
 * A channel's coroutine is created from the VM's main thread, carries its
 * channel pointer (tagged as a root) in lua_getextraspace() and gets the
 * count hook. Its function is the policy's compiled function(_ENV, ...)
 * called with the run's environment and the args table, so each run's
 * globals stay in that run. A fault releases the coroutine at once; a DONE
 * channel keeps its results until the run is freed. */
#include <lauxlib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/acs_err.h"
#include "script/script_internal.h"

const char acs__yield_sentinel = 0;

/* --- runs */
static int acs__run_new_p(lua_State *L) {
  acs_script_run *run = lua_touserdata(L, 1);
  lua_rawgeti(L, LUA_REGISTRYINDEX, run->vm->ref_gen);
  acs__env_push(L, -1);
  run->ref_env = luaL_ref(L, LUA_REGISTRYINDEX);
  run->ref_gen = luaL_ref(L, LUA_REGISTRYINDEX);
  return 0;
}

acs_script_run *acs_script_run_new(acs_script_vm *vm, const acs_script_limits *limits, void *ctx) {
  if (vm->cur) return NULL;
  acs_script_run *run = calloc(1, sizeof *run);
  if (!run) return NULL;
  run->vm = vm;
  run->ctx = ctx;
  run->ref_env = run->ref_gen = run->ref_state = LUA_NOREF;
  acs__limits_resolve(vm, limits, &run->limits);
  if (run->limits.hook_every > 1000000) run->limits.hook_every = 1000000;
  acs__rng_seed(run->rng, vm->seed + 0x9e3779b97f4a7c15u * ++vm->run_seq);
  if (acs__owner_add(vm, run)) {
    free(run);
    return NULL;
  }
  vm->cur = run; /* the environment is the run's memory */
  int rc = acs__pcall(vm, acs__run_new_p, run);
  vm->cur = NULL;
  if (rc) {
    acs_script_run_free(run);
    return NULL;
  }
  vm->frozen = true;
  return run;
}

static void acs__chan_release(acs_script_chan *ch) {
  if (ch->ref != LUA_NOREF) luaL_unref(ch->run->vm->L, LUA_REGISTRYINDEX, ch->ref);
  ch->ref = LUA_NOREF;
  ch->L = NULL;
  ch->nvals = 0;
}

/* A channel that completed leaves its coroutine for the next channel of any
 * run: reset (its stack emptied, its upvalues closed: nothing of this run
 * stays reachable through it), its extraspace cleared. A faulted or killed
 * one is not reused (a kill leaves its hooks off). Returns whether kept. */
static bool acs__chan_recycle(acs_script_vm *vm, acs_script_chan *ch) {
  lua_State *co = ch->L;
  if (!co || ch->ref == LUA_NOREF || ch->state != ACS_SCRIPT_DONE || ch->kill ||
      vm->nspare >= ACS__SPARE || lua_status(co) != LUA_OK || lua_resetthread(co) != LUA_OK)
    return false;
  acs__set_chan(co, NULL);
  vm->spare_L[vm->nspare] = co;
  vm->spare_ref[vm->nspare++] = ch->ref;
  ch->ref = LUA_NOREF;
  ch->L = NULL;
  return true;
}

void acs_script_run_free(acs_script_run *run) {
  if (!run) return;
  acs_script_vm *vm = run->vm;
  acs_require(vm->cur != run);
  for (acs_script_chan *ch = run->chans, *next; ch; ch = next) {
    next = ch->next;
    if (!acs__chan_recycle(vm, ch)) acs__chan_release(ch);
    free(ch);
  }
  luaL_unref(vm->L, LUA_REGISTRYINDEX, run->ref_env);
  luaL_unref(vm->L, LUA_REGISTRYINDEX, run->ref_gen);
  luaL_unref(vm->L, LUA_REGISTRYINDEX, run->ref_state);
  acs__owner_drop(vm, run);
  free(run);
}

void *acs_script_run_ctx(const acs_script_run *run) { return run->ctx; }
void acs_script_run_seal(acs_script_run *run) { run->sealed = true; }
bool acs_script_run_unsealed(const acs_script_run *run) { return run->unsealed; }
uint64_t acs_script_run_instructions(const acs_script_run *run) { return run->used; }
size_t acs_script_run_memory(const acs_script_run *run) { return run->mem; }

/* A faulted coroutine still holds its pending to-be-closed slots (Lua
 * closes them only for coroutine.close): among them the buffers of C
 * functions that were building a string (luaL_Buffer). Closing it now
 * frees them at once; the policy's own __close handlers do not get to run
 * (the hook raises on their first instruction), as they would not in Lua.
 * Not after a kill: the kill was raised from the hook, which leaves hooks
 * off in that thread, so nothing may run in it any more (its buffers are
 * freed by their finalizers). */
static void acs__chan_close(acs_script_chan *ch) {
  if (ch->kill) return;
  acs_script_run *run = ch->run;
  acs_script_vm *vm = run->vm;
  lua_State *co = ch->L;
  ch->closing = true;
  if (lua_gethookcount(co) != 1) lua_sethook(co, acs__hook, LUA_MASKCOUNT, 1);
  vm->cur = run;
  run->cur_chan = ch;
  run->cur_L = co;
  vm->closing = 1;
  lua_resetthread(co);
  vm->closing = 0;
  vm->cur = NULL;
  run->cur_chan = NULL;
  run->cur_L = NULL;
}

/* --- faults */
/* A long message keeps its beginning and its end. */
static void acs__copy_msg(char *dst, size_t cap, const char *s, size_t n) {
  if (n >= cap) {
    size_t head = cap / 2, tail = cap - head - 6;
    memcpy(dst, s, head);
    memcpy(dst + head, " ... ", 5);
    memcpy(dst + head + 5, s + n - tail, tail);
    dst[cap - 1] = '\0';
  } else {
    memcpy(dst, s, n);
    dst[n] = '\0';
  }
}

/* The error object at the top of co, as text, without calling any of its
 * metamethods (no __tostring, __name or __index). */
static void acs__fault_from_error(acs_script_chan *ch, lua_State *co, int status) {
  if (status == LUA_ERRMEM) {
    ch->fault = ACS_SCRIPT_FAULT_MEMORY;
    snprintf(ch->msg, sizeof ch->msg, "not enough memory");
    return;
  }
  ch->fault = ACS_SCRIPT_FAULT_ERROR;
  switch (lua_type(co, -1)) {
    case LUA_TSTRING: {
      size_t n;
      const char *s = lua_tolstring(co, -1, &n);
      acs__copy_msg(ch->msg, sizeof ch->msg, s, n);
      if (memmem(s, n, "stack overflow", 14)) ch->fault = ACS_SCRIPT_FAULT_STACK;
      return;
    }
    case LUA_TNUMBER:
      if (lua_isinteger(co, -1))
        snprintf(ch->msg, sizeof ch->msg, "%lld", (long long)lua_tointeger(co, -1));
      else
        snprintf(ch->msg, sizeof ch->msg, "%.14g", (double)lua_tonumber(co, -1));
      break;
    default:
      snprintf(ch->msg, sizeof ch->msg, "(error object is a %s value)",
               lua_typename(co, lua_type(co, -1)));
      break;
  }
}

/* --- resuming */

/* Makes ch the running channel, with a fresh slice (instructions and time)
 * and the watchdog armed for its deadline. */
static void acs__slice_begin(acs_script_chan *ch, lua_State *co) {
  acs_script_run *run = ch->run;
  acs_script_vm *vm = run->vm;
  uint64_t now = acs__mono_ns();
  run->slice_used = 0;
  run->mem_retry = false;
  /* the slice's time, or what is left of the run's if that is less */
  uint64_t slice = (uint64_t)run->limits.slice_ms * 1000000u;
  uint64_t total = (uint64_t)run->limits.run_ms * 1000000u;
  uint64_t left = total > run->time_ns ? total - run->time_ns : 0;
  run->deadline_run = left < slice;
  run->deadline_ns = now + (left < slice ? left : slice);
  run->slice_start_ns = now;
  run->last_hook_ns = now;
  vm->cur = run;
  run->cur_chan = ch;
  run->cur_L = co;
  lua_sethook(co, acs__hook, LUA_MASKCOUNT, (int)run->limits.hook_every);
  if (run->used >= run->limits.instructions)
    acs__kill(ch, ACS_SCRIPT_FAULT_TIMEOUT, "instruction budget exhausted (%llu per run)",
              (unsigned long long)run->limits.instructions);
  else if (!left)
    acs__kill(ch, ACS_SCRIPT_FAULT_TIMEOUT, "time budget exhausted (%u ms per run)",
              run->limits.run_ms);
  acs__watchdog_arm(vm, run->deadline_ns);
}

static void acs__slice_end(acs_script_chan *ch) {
  acs_script_run *run = ch->run;
  acs__watchdog_disarm(run->vm);
  run->time_ns += acs__mono_ns() - run->slice_start_ns;
  run->vm->cur = NULL;
  run->cur_chan = NULL;
  run->cur_L = NULL;
}

static int acs__resume(acs_script_chan *ch, int nargs) {
  acs_script_run *run = ch->run;
  acs_script_vm *vm = run->vm;
  lua_State *co = ch->L;
  ch->state = -1;
  acs__slice_begin(ch, co);
  int nres = 0;
  int st = ch->kill ? LUA_ERRRUN : lua_resume(co, vm->L, nargs, &nres);
  acs__slice_end(ch);
  if (ch->kill) {
    ch->fault = ch->kill; /* the message was written when it was killed */
  } else if (st == LUA_OK) {
    ch->state = ACS_SCRIPT_DONE;
    ch->nvals = nres;
    return ACS_SCRIPT_DONE;
  } else if (st == LUA_YIELD) {
    if (nres > 0 && lua_touserdata(co, -nres) == &acs__yield_sentinel) {
      lua_remove(co, -nres);
      ch->state = ACS_SCRIPT_YIELD;
      ch->nvals = nres - 1;
      return ACS_SCRIPT_YIELD;
    }
    ch->fault = ACS_SCRIPT_FAULT_ERROR;
    snprintf(ch->msg, sizeof ch->msg, "the policy yielded outside a host function");
  } else if (run->mem_retry) {
    /* the error came from an allocation refused for the budget (lauxlib's
     * buffers raise "not enough memory" without Lua's emergency collection) */
    ch->fault = ACS_SCRIPT_FAULT_MEMORY;
    snprintf(ch->msg, sizeof ch->msg, "memory budget exhausted (%zu bytes per run)",
             run->limits.memory);
  } else {
    acs__fault_from_error(ch, co, st);
  }
  ch->state = ACS_SCRIPT_FAULT;
  acs__chan_close(ch);
  acs__chan_release(ch);
  return ACS_SCRIPT_FAULT;
}

typedef struct acs__call_req {
  acs_script_run *run;
  acs_script_chan *ch;
  const char *policy;
  const char *const *kv;
  acs_script_args_fn fn;
  void *ud;
  int rc;
} acs__call_req;

static int acs__call_p(lua_State *L) {
  acs__call_req *c = lua_touserdata(L, 1);
  lua_rawgeti(L, LUA_REGISTRYINDEX, c->run->ref_gen);   /* 2 */
  if (lua_getfield(L, 2, c->policy) != LUA_TFUNCTION) { /* 3 */
    c->rc = ACS_ENOTFOUND;
    return 0;
  }
  lua_rawgeti(L, LUA_REGISTRYINDEX, c->run->ref_env); /* 4 */
  lua_newtable(L);                                    /* 5: args */
  for (const char *const *kv = c->kv; kv && kv[0]; kv += 2) {
    if (!kv[1]) break;
    lua_pushstring(L, kv[1]);
    lua_setfield(L, 5, kv[0]);
  }
  if (c->fn) {
    c->fn(L, c->ud);
    lua_settop(L, 5);
  }
  acs_script_vm *vm = c->run->vm;
  lua_State *co;
  if (vm->nspare) { /* a completed channel's, reset (acs__chan_recycle) */
    vm->nspare--;
    co = vm->spare_L[vm->nspare];
    c->ch->ref = vm->spare_ref[vm->nspare];        /* freed by acs__start on an error below */
    lua_rawgeti(L, LUA_REGISTRYINDEX, c->ch->ref); /* 6 */
  } else {
    co = lua_newthread(L); /* 6 */
  }
  lua_pushvalue(L, 3);
  lua_pushvalue(L, 4);
  lua_pushvalue(L, 5);
  lua_xmove(L, co, 3);
  if (c->ch->ref == LUA_NOREF) {
    lua_pushvalue(L, 6);
    c->ch->ref = luaL_ref(L, LUA_REGISTRYINDEX);
  }
  c->ch->L = co;
  acs__set_root(co, c->ch);
  c->rc = 0;
  return 0;
}

static int acs__start(acs_script_run *run, const char *policy, const char *const *kv,
                      acs_script_args_fn fn, void *ud, acs_script_chan **out) {
  acs_script_vm *vm = run->vm;
  *out = NULL;
  if (vm->cur) return ACS_ESTATE;
  if (!policy) return ACS_EINVAL;
  acs_script_chan *ch = calloc(1, sizeof *ch);
  if (!ch) return ACS_ENOMEM;
  ch->run = run;
  ch->ref = LUA_NOREF;
  ch->state = -1;
  snprintf(ch->policy, sizeof ch->policy, "%s", policy);
  acs__call_req c = {run, ch, policy, kv, fn, ud, ACS_ENOMEM};
  vm->cur = run;
  int rc = acs__pcall(vm, acs__call_p, &c);
  vm->cur = NULL;
  if (!rc) rc = c.rc;
  if (rc) {
    if (ch->ref != LUA_NOREF) luaL_unref(vm->L, LUA_REGISTRYINDEX, ch->ref);
    free(ch);
    return rc;
  }
  ch->next = run->chans;
  run->chans = ch;
  *out = ch;
  return acs__resume(ch, 2);
}

int acs_script_run_call(acs_script_run *run, const char *policy, const char *const *kv,
                        acs_script_chan **out) {
  return acs__start(run, policy, kv, NULL, NULL, out);
}

int acs_script_run_call_fn(acs_script_run *run, const char *policy, acs_script_args_fn fn, void *ud,
                           acs_script_chan **out) {
  return acs__start(run, policy, NULL, fn, ud, out);
}

/* --- the engine's reads of what a channel returned */
typedef struct acs__protect_req {
  acs_script_args_fn fn;
  void *ud;
} acs__protect_req;

static int acs__protect_p(lua_State *L) {
  acs__protect_req *r = lua_touserdata(L, -1);
  lua_pop(L, 1);
  r->fn(L, r->ud);
  return 0;
}

int acs_script_chan_protect(acs_script_chan *ch, acs_script_args_fn fn, void *ud) {
  acs_script_run *run = ch->run;
  acs_script_vm *vm = run->vm;
  if (vm->cur || ch->state != ACS_SCRIPT_DONE || !ch->L || ch->read) return ACS_ESTATE;
  lua_State *co = ch->L;
  if (!lua_checkstack(co, 4)) return ACS_ENOMEM;
  ch->read = true;
  if (ch->nvals == 0) { /* fn always finds a value on top */
    lua_pushnil(co);
    ch->nvals = 1;
  }
  int top = lua_gettop(co);
  acs__protect_req r = {fn, ud};
  /* the function and its argument, below the channel's values: fn finds
   * them on top as they were */
  lua_pushcfunction(co, acs__protect_p);
  lua_rotate(co, top - ch->nvals + 1, 1);
  lua_pushlightuserdata(co, &r);
  int nv = ch->nvals;
  acs__slice_begin(ch, co);
  int st = ch->kill ? LUA_ERRRUN : lua_pcall(co, nv + 1, 0, 0);
  acs__slice_end(ch);
  if (!ch->kill && st == LUA_OK) {
    ch->nvals = 0; /* the values went to fn */
    return 0;
  }
  if (ch->kill) {
    ch->fault = ch->kill;
  } else if (run->mem_retry) {
    ch->fault = ACS_SCRIPT_FAULT_MEMORY;
    snprintf(ch->msg, sizeof ch->msg, "memory budget exhausted (%zu bytes per run)",
             run->limits.memory);
  } else {
    acs__fault_from_error(ch, co, st);
  }
  ch->state = ACS_SCRIPT_FAULT;
  acs__chan_release(ch);
  return ACS_SCRIPT_FAULT;
}

int acs_script_chan_resume(acs_script_chan *ch, int nargs) {
  if (ch->run->vm->cur || ch->state != ACS_SCRIPT_YIELD) return ACS_ESTATE;
  lua_State *co = ch->L;
  if (nargs < 0 || lua_gettop(co) < nargs + ch->nvals) return ACS_EINVAL;
  if (ch->nvals) { /* drop what the channel yielded, keep what was pushed since */
    lua_rotate(co, -(nargs + ch->nvals), nargs);
    lua_pop(co, ch->nvals);
    ch->nvals = 0;
  }
  return acs__resume(ch, nargs);
}

/* --- channels */
lua_State *acs_script_chan_values(acs_script_chan *ch, int *n) {
  if (n) *n = ch->L ? ch->nvals : 0;
  return ch->L;
}
int acs_script_chan_state(const acs_script_chan *ch) { return ch->state; }
acs_script_fault acs_script_chan_fault(const acs_script_chan *ch) { return ch->fault; }
const char *acs_script_chan_fault_code(const acs_script_chan *ch) {
  return acs_script_fault_code(ch->fault);
}
const char *acs_script_chan_fault_message(const acs_script_chan *ch) {
  return ch->fault ? ch->msg : "";
}
const char *acs_script_chan_policy(const acs_script_chan *ch) { return ch->policy; }
acs_script_run *acs_script_chan_run(const acs_script_chan *ch) { return ch->run; }

/* --- for host functions */
acs_script_chan *acs_script_chan_of(lua_State *L) { return acs__chan_of(L); }

acs_script_run *acs_script_run_of(lua_State *L) {
  acs_script_chan *ch = acs__chan_of(L);
  return ch ? ch->run : NULL;
}

void *acs_script_ctx(lua_State *L) {
  acs_script_chan *ch = acs__chan_of(L);
  return ch ? ch->run->ctx : NULL;
}

int acs_script_yield(lua_State *L, int nvalues, lua_KContext ctx, lua_KFunction k) {
  if (!acs__chan_of(L)) return luaL_error(L, "no policy run to yield to");
  luaL_checkstack(L, 1, NULL);
  lua_pushlightuserdata(L, (void *)&acs__yield_sentinel);
  lua_insert(L, -(nvalues + 1));
  return lua_yieldk(L, nvalues + 1, ctx, k);
}

/* --- a policy called from another (acs_script_push_policy) */

static int acs__policy_call_k(lua_State *L, int status, lua_KContext k) {
  (void)status;
  (void)k;
  return lua_gettop(L);
}

static int acs__policy_call(lua_State *L) {
  int nargs = lua_gettop(L);
  lua_pushvalue(L, lua_upvalueindex(1)); /* the chunk's function(_ENV, ...) */
  lua_insert(L, 1);
  lua_pushvalue(L, lua_upvalueindex(2)); /* the run's environment */
  lua_insert(L, 2);
  lua_callk(L, nargs + 1, LUA_MULTRET, 0, acs__policy_call_k);
  return acs__policy_call_k(L, LUA_OK, 0);
}

int acs_script_push_policy(lua_State *L, const char *name) {
  acs_script_run *run = acs_script_run_of(L);
  if (!run || !name) return ACS_ENOTFOUND;
  lua_rawgeti(L, LUA_REGISTRYINDEX, run->ref_gen);
  if (lua_getfield(L, -1, name) != LUA_TFUNCTION) {
    lua_pop(L, 2);
    return ACS_ENOTFOUND;
  }
  lua_remove(L, -2);
  lua_rawgeti(L, LUA_REGISTRYINDEX, run->ref_env);
  lua_pushcclosure(L, acs__policy_call, 2);
  return 0;
}
