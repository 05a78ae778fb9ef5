/* vm.c: the per-worker Lua VM: counting allocator, count hook, kills and
 * charges, registration of host functions, the engine clock. */
#include <lauxlib.h>
#include <lualib.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "core/acs_err.h"
#include "core/acs_log.h"
#include "script/script_internal.h"

void acs_script_limits_default(acs_script_limits *l) {
  l->instructions = 20000000;
  l->slice = 2000000;
  l->slice_ms = 500;
  l->hook_every = 1000;
  l->memory = 8u << 20;
  l->max_string = 1u << 20;
  l->pattern_steps = 1000000;
  l->coroutines = 1000;
  l->run_ms = 2000;
}

const char *acs_script_fault_code(acs_script_fault f) {
  switch (f) {
#define ACS_SCRIPT_FAULT_CODE(name, code, msg) \
  case ACS_SCRIPT_FAULT_##name:                \
    return code;
    ACS_SCRIPT_FAULT_MAP(ACS_SCRIPT_FAULT_CODE)
#undef ACS_SCRIPT_FAULT_CODE
    case ACS_SCRIPT_FAULT_NONE:
      break;
  }
  return NULL;
}

uint64_t acs__mono_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int64_t acs__realtime_ms(void *ud) {
  (void)ud;
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t acs__now_ms(acs_script_vm *vm) { return vm->clock(vm->clock_ud); }

/* --- the counting allocator.
 * Each block has an 8-byte header naming the run that allocated it (or
 * nobody, for the engine's own allocations). Growth is charged to the run
 * being resumed and checked against its budget while one of its channels
 * runs; a free or shrink credits the block's owner (and never fails, as Lua
 * requires). Over budget, the first refusal lets Lua collect (its emergency
 * collection) and retry; the second kills the channel. A killed channel's
 * allocations fail. Small ones get some grace (ACS__SMALL, ACS__GRACE). */
typedef struct acs__hdr {
  uint32_t slot, gen;
} acs__hdr;

static acs_script_run *acs__owner_of(const acs_script_vm *vm, const acs__hdr *h) {
  if (!h->slot || h->slot >= vm->nowners) return NULL;
  const acs__owner *o = &vm->owners[h->slot];
  return o->gen == h->gen ? o->run : NULL;
}

static void acs__credit(acs_script_run *run, size_t n) {
  run->mem = run->mem > n ? run->mem - n : 0;
}

/* The class of a block of n bytes (its header included): 1..ACS__NCLASS,
 * or 0 for a large block (the process allocator's, as it is). */
static unsigned acs__class(size_t n) {
  n += sizeof(acs__hdr);
  return n <= ACS__CLASS * ACS__NCLASS ? (unsigned)((n + ACS__CLASS - 1) / ACS__CLASS) : 0;
}

static acs__hdr *acs__blk_get(acs_script_vm *vm, unsigned c, size_t n) {
  if (!c) return malloc(sizeof(acs__hdr) + n);
  acs__freeblk *f = vm->cache[c - 1];
  if (!f) return malloc((size_t)c * ACS__CLASS);
  vm->cache[c - 1] = f->next;
  vm->cached -= (size_t)c * ACS__CLASS;
  return (acs__hdr *)f;
}

static void acs__blk_put(acs_script_vm *vm, acs__hdr *h, unsigned c) {
  if (c && vm->cached + (size_t)c * ACS__CLASS <= ACS__CACHE_MAX) {
    acs__freeblk *f = (acs__freeblk *)h;
    f->next = vm->cache[c - 1];
    vm->cache[c - 1] = f;
    vm->cached += (size_t)c * ACS__CLASS;
    return;
  }
  free(h);
}

static void acs__cache_free(acs_script_vm *vm) {
  for (unsigned c = 0; c < ACS__NCLASS; c++) {
    for (acs__freeblk *f = vm->cache[c], *next; f; f = next) {
      next = f->next;
      free(f);
    }
    vm->cache[c] = NULL;
  }
  vm->cached = 0;
}

/* A block of nsize bytes in place of h (old bytes, NULL: none). */
static acs__hdr *acs__blk_resize(acs_script_vm *vm, acs__hdr *h, size_t old, size_t nsize) {
  unsigned oc = h ? acs__class(old) : 0, nc = acs__class(nsize);
  if (h && oc && oc == nc) return h;
  if (!oc && !nc) return realloc(h, sizeof *h + nsize);
  acs__hdr *nh = acs__blk_get(vm, nc, nsize);
  if (nh && h) {
    memcpy(nh + 1, h + 1, old < nsize ? old : nsize);
    acs__blk_put(vm, h, oc);
  }
  return nh;
}

static void acs__account(acs_script_chan *ch, uint64_t units);

static void *acs__alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
  acs_script_vm *vm = ud;
  acs__hdr *h = ptr ? (acs__hdr *)ptr - 1 : NULL;
  size_t old = ptr ? osize : 0;
  acs_script_run *owner = h ? acs__owner_of(vm, h) : NULL;
  if (nsize == 0) {
    if (h) {
      if (owner) acs__credit(owner, old);
      vm->total -= old;
      acs__blk_put(vm, h, acs__class(old));
    }
    return NULL;
  }
  acs_script_run *run = vm->cur;
  acs_script_chan *ch = run ? run->cur_chan : NULL;
  size_t mine = owner && owner == run ? old : 0; /* what run already pays for */
  /* Lua requires that shrinking never fails: only growth is refused */
  if (ch && nsize > old) {
    size_t after = run->mem - (mine < run->mem ? mine : run->mem) + nsize + run->host;
    size_t limit = run->limits.memory;
    bool grace = nsize <= ACS__SMALL && after <= limit + ACS__GRACE;
    if (acs__stopped(ch)) {
      if (!grace) return NULL;
    } else if (after > limit && !grace) {
      if (!run->mem_retry) {
        run->mem_retry = true;
        /* Lua now collects the whole VM (every run's objects) and retries:
         * a policy that keeps itself at its budget with garbage pays for
         * each of those collections (a unit per 256 bytes of the heap; the
         * kill this may cause takes effect at the next hook) */
        acs__account(ch, 1 + vm->total / 256);
        return NULL;
      }
      acs__kill(ch, ACS_SCRIPT_FAULT_MEMORY, "memory budget exhausted (%zu bytes per run)", limit);
      return NULL;
    }
  }
  if (vm->max_memory && nsize > old && vm->total + (nsize - old) > vm->max_memory) return NULL;
  acs__hdr *nh = acs__blk_resize(vm, h, old, nsize);
  if (!nh) return nsize <= old ? ptr : NULL; /* a shrink must not fail: keep the block */
  vm->total = vm->total - old + nsize;
  if (owner) acs__credit(owner, old);
  if (run) {
    run->mem += nsize;
    if (nsize > mine) run->mem_retry = false;
    nh->slot = run->slot;
    nh->gen = run->gen;
  } else {
    nh->slot = nh->gen = 0;
  }
  return nh + 1;
}

int acs__owner_add(acs_script_vm *vm, acs_script_run *run) {
  uint32_t slot = vm->free_owner;
  if (slot) {
    vm->free_owner = vm->owners[slot].next_free;
  } else {
    if (vm->nowners == vm->capowners) {
      uint32_t cap = vm->capowners ? vm->capowners * 2 : 64;
      acs__owner *o = realloc(vm->owners, cap * sizeof *o);
      if (!o) return ACS_ENOMEM;
      memset(o + vm->capowners, 0, (cap - vm->capowners) * sizeof *o);
      vm->owners = o;
      vm->capowners = cap;
      if (vm->nowners == 0) vm->nowners = 1; /* slot 0: nobody */
    }
    slot = vm->nowners++;
  }
  vm->owners[slot].run = run;
  vm->owners[slot].gen++;
  run->slot = slot;
  run->gen = vm->owners[slot].gen;
  return 0;
}

void acs__owner_drop(acs_script_vm *vm, acs_script_run *run) {
  if (!run->slot) return;
  acs__owner *o = &vm->owners[run->slot];
  o->run = NULL;
  o->gen++; /* its blocks now belong to nobody */
  o->next_free = vm->free_owner;
  vm->free_owner = run->slot;
  run->slot = 0;
}

static int acs__panic(lua_State *L) {
  const char *msg = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "(not a string)";
  acs_log(ACS_LOG_CRIT, "script", "unprotected Lua error: %s", msg);
  abort();
  return 0;
}

/* --- kills */
void acs__kill(acs_script_chan *ch, acs_script_fault why, const char *fmt, ...) {
  if (!ch->kill) {
    ch->kill = why;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ch->msg, sizeof ch->msg, fmt, ap);
    va_end(ap);
  }
  /* Only field stores: safe from the allocator too. */
  lua_State *L = ch->run->cur_L;
  if (L && lua_gethookcount(L) != 1) lua_sethook(L, acs__hook, LUA_MASKCOUNT, 1);
}

int acs__kill_raise(lua_State *L, acs_script_chan *ch) {
  (void)ch;
  acs_script_vm *vm = acs__vm_of(L);
  /* lua_sethook walks every frame: only when the count is not 1 already */
  if (lua_gethookcount(L) != 1) lua_sethook(L, acs__hook, LUA_MASKCOUNT, 1);
  lua_rawgeti(L, LUA_REGISTRYINDEX, vm->ref_kill); /* no allocation */
  lua_error(L);
  abort(); /* not reached */
}

static void acs__account(acs_script_chan *ch, uint64_t units) {
  acs_script_run *run = ch->run;
  run->used += units;
  run->slice_used += units;
  if (run->used > run->limits.instructions)
    acs__kill(ch, ACS_SCRIPT_FAULT_TIMEOUT, "instruction budget exhausted (%llu per run)",
              (unsigned long long)run->limits.instructions);
  else if (run->slice_used > run->limits.slice)
    acs__kill(ch, ACS_SCRIPT_FAULT_TIMEOUT, "instruction budget exhausted (%llu per resume)",
              (unsigned long long)run->limits.slice);
}

void acs__charge(lua_State *L, uint64_t units) {
  acs_script_chan *ch = acs__chan_of(L);
  if (!ch) return;
  if (!acs__stopped(ch)) acs__account(ch, units);
  if (acs__stopped(ch)) acs__kill_raise(L, ch);
}

void acs_script_charge(lua_State *L, uint64_t units) { acs__charge(L, units); }

void acs_script_charge_host(lua_State *L, size_t bytes) {
  acs_script_chan *ch = acs__chan_of(L);
  if (!ch) return;
  acs_script_run *run = ch->run;
  run->host += bytes;
  if (!acs__stopped(ch) && run->mem + run->host > run->limits.memory)
    acs__kill(ch, ACS_SCRIPT_FAULT_MEMORY,
              "memory budget exhausted (%zu bytes per run, %zu of them the engine's)",
              run->limits.memory, run->host);
  acs__charge(L, acs__bytes_units(bytes));
}

size_t acs_script_run_host_memory(const acs_script_run *run) { return run->host; }

/* The count hook: charges the instructions since its last call, checks the
 * budgets and the wall-clock slice. When one interval took more than 1 ms
 * (instructions that are slow on long strings) the interval shrinks, so the
 * time check stays close. Once killed, it fires on every instruction. */
void acs__hook(lua_State *L, lua_Debug *ar) {
  (void)ar;
  acs_script_chan *ch = acs__chan_of(L);
  if (!ch) return;
  acs_script_run *run = ch->run;
  if (!acs__stopped(ch)) {
    int n = lua_gethookcount(L);
    acs__account(ch, n > 0 ? (uint64_t)n : 1);
    if (!ch->kill) {
      uint64_t now = acs__mono_ns();
      if (now > run->deadline_ns) {
        if (run->deadline_run)
          acs__kill(ch, ACS_SCRIPT_FAULT_TIMEOUT, "time budget exhausted (%u ms per run)",
                    run->limits.run_ms);
        else
          acs__kill(ch, ACS_SCRIPT_FAULT_TIMEOUT, "time budget exhausted (%u ms per resume)",
                    run->limits.slice_ms);
      } else if (now - run->last_hook_ns > 1000000 && n > 1) {
        lua_sethook(L, acs__hook, LUA_MASKCOUNT, n / 8 > 0 ? n / 8 : 1);
      }
      run->last_hook_ns = now;
    }
  }
  if (acs__stopped(ch)) acs__kill_raise(L, ch);
}

/* --- the VM */
static void acs__limits_fill(acs_script_limits *dst, const acs_script_limits *src,
                             const acs_script_limits *def) {
  *dst = *def;
  if (!src) return;
#define ACS__LIM(f) \
  if (src->f) dst->f = src->f;
  ACS__LIM(instructions)
  ACS__LIM(slice)
  ACS__LIM(slice_ms)
  ACS__LIM(hook_every)
  ACS__LIM(memory)
  ACS__LIM(max_string)
  ACS__LIM(pattern_steps)
  ACS__LIM(coroutines)
  ACS__LIM(run_ms)
#undef ACS__LIM
}

void acs__limits_resolve(const acs_script_vm *vm, const acs_script_limits *l,
                         acs_script_limits *out) {
  acs__limits_fill(out, l, &vm->limits);
}

const acs_script_limits *acs__limits_of(lua_State *L) {
  acs_script_chan *ch = acs__chan_of(L);
  return ch ? &ch->run->limits : &acs__vm_of(L)->limits;
}

int acs__pcall(acs_script_vm *vm, lua_CFunction f, void *ud) {
  lua_State *L = vm->L;
  lua_pushcfunction(L, f);
  lua_pushlightuserdata(L, ud);
  if (lua_pcall(L, 1, 0, 0) != LUA_OK) {
    lua_pop(L, 1);
    return ACS_ENOMEM;
  }
  return 0;
}

acs_script_vm *acs_script_vm_new(const acs_script_vm_config *cfg) {
  acs_script_vm *vm = calloc(1, sizeof *vm);
  if (!vm) return NULL;
  acs_script_limits def;
  acs_script_limits_default(&def);
  acs__limits_fill(&vm->limits, cfg ? &cfg->limits : NULL, &def);
  vm->max_memory = cfg ? cfg->max_memory : 0;
  vm->clock = cfg && cfg->clock ? cfg->clock : acs__realtime_ms;
  vm->clock_ud = cfg && cfg->clock ? cfg->clock_ud : NULL;
  vm->seed = cfg ? cfg->seed : 0;
  if (!vm->seed && getrandom(&vm->seed, sizeof vm->seed, GRND_NONBLOCK) != sizeof vm->seed)
    vm->seed = acs__mono_ns() ^ (uint64_t)(uintptr_t)vm;
  vm->L = lua_newstate(acs__alloc, vm);
  if (!vm->L) goto fail;
  lua_atpanic(vm->L, acs__panic);
  acs__set_chan(vm->L, NULL);
  lua_pushcfunction(vm->L, acs__sandbox_open);
  if (lua_pcall(vm->L, 0, 0, 0) != LUA_OK) {
    acs_log(ACS_LOG_ERR, "script", "cannot build the sandbox: %s",
            lua_type(vm->L, -1) == LUA_TSTRING ? lua_tostring(vm->L, -1) : "?");
    goto fail;
  }
  vm->ready = true;
  return vm;
fail:
  if (vm->L) lua_close(vm->L);
  acs__cache_free(vm);
  free(vm->owners);
  free(vm);
  return NULL;
}

void acs_script_vm_free(acs_script_vm *vm) {
  if (!vm) return;
  acs_require(vm->cur == NULL);
  if (vm->L) lua_close(vm->L);
  acs__cache_free(vm);
  free(vm->owners);
  free(vm);
}

void acs_script_vm_set_clock(acs_script_vm *vm, acs_script_clock_fn clock, void *ud) {
  vm->clock = clock ? clock : acs__realtime_ms;
  vm->clock_ud = clock ? ud : NULL;
}

size_t acs_script_vm_memory(const acs_script_vm *vm) { return vm->total; }
lua_State *acs_script_vm_state(acs_script_vm *vm) { return vm->L; }

/* --- registration */
typedef struct {
  acs_script_vm *vm;
  const char *ns, *name;
  lua_CFunction fn;
  int rc;
} acs__reg;

static int acs__register_p(lua_State *L) {
  acs__reg *r = lua_touserdata(L, 1);
  acs_script_vm *vm = r->vm;
  lua_rawgeti(L, LUA_REGISTRYINDEX, vm->ref_api); /* 2 */
  if (r->ns) {
    lua_rawgeti(L, LUA_REGISTRYINDEX, vm->ref_ns); /* 3 */
    if (lua_getfield(L, 3, r->ns) != LUA_TTABLE) { /* 4: the real table */
      lua_pop(L, 1);
      if (lua_getfield(L, 2, r->ns) != LUA_TNIL) { /* a global of that name */
        r->rc = ACS_EINVAL;
        return 0;
      }
      lua_pop(L, 1);
      lua_newtable(L);
      lua_pushvalue(L, -1);
      lua_setfield(L, 3, r->ns);
      acs__proxy_push(L, vm, -1);
      lua_setfield(L, 2, r->ns);
    }
  } else {
    lua_pushvalue(L, 2);
  }
  if (lua_getfield(L, -1, r->name) != LUA_TNIL) {
    r->rc = ACS_EINVAL;
    return 0;
  }
  lua_pop(L, 1);
  lua_pushcfunction(L, r->fn);
  lua_setfield(L, -2, r->name);
  r->rc = 0;
  return 0;
}

static int acs__ident_ok(const char *s) {
  if (!s || !*s || strlen(s) > 64) return 0;
  for (const char *p = s; *p; p++) {
    char c = *p;
    int alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
    if (!alpha && !(p > s && c >= '0' && c <= '9')) return 0;
  }
  return 1;
}

int acs_script_vm_register(acs_script_vm *vm, const char *ns, const char *name, lua_CFunction fn) {
  if (vm->frozen || vm->cur) return ACS_ESTATE;
  if (!fn || !acs__ident_ok(name) || (ns && !acs__ident_ok(ns))) return ACS_EINVAL;
  acs__reg r = {vm, ns, name, fn, ACS_ENOMEM};
  int rc = acs__pcall(vm, acs__register_p, &r);
  return rc ? rc : r.rc;
}
