/* script_internal.h: what the files of engine/script share.
 *
 *   vm.c       the VM: counting allocator, count hook, kills and charges,
 *              registration, the clock
 *   run.c      runs, channels, resuming, faults, the engine-yield sentinel
 *   sandbox.c  the frozen API: read-only proxies, the per-run environment,
 *              base functions, math.random per run, os.time/clock/date
 *   strlib.c   the bounded string library and the string metatable
 *   tablib.c   the bounded table library
 *   pattern.c  the pattern matcher (find/match/gmatch/gsub) with step budget
 *   coro.c     the coroutine library, wrapped to stay inside the run
 *   load.c     compiling policies, generations
 *
 * Threads: every thread of a run (its channels' coroutines and the policy's
 * own coroutines) carries its acs_script_chan pointer in lua_getextraspace();
 * the VM's main thread carries NULL. */
#ifndef ACS_SCRIPT_INTERNAL_H
#define ACS_SCRIPT_INTERNAL_H

#include <lauxlib.h>
#include <lua.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "script/acs_script.h"

/* Nesting of coroutine resume/close/wrap calls made by policies, counted by
 * the VM: Lua 5.4.4's lua_resetthread does not count the C stack of a
 * close nested in a __close handler (fixed in 5.4.6 by lua_closethread). */
#define ACS__MAX_NEST 150
/* Active pcall/xpcall per run. In a coroutine Lua recovers from an error
 * caught by pcall by unrolling from lua_resume, which resets its C-call
 * count: without this bound, pcall recursion could nest without limit, and
 * every error at depth d costs O(d) inside Lua. */
#define ACS__MAX_PCALL 200
#define ACS__FAULT_MSG 512
/* Past its budget (or once killed) a run may still make allocations of at
 * most ACS__SMALL bytes, up to ACS__GRACE bytes over: what Lua needs to
 * raise errors, call a __close or __gc (a finalizer whose call cannot be
 * allocated is never retried: its memory would stay until lua_close). */
#define ACS__SMALL 512
#define ACS__GRACE (256u << 10)

/* The std functions the sandbox wraps or hands out (taken from the opened
 * libraries once per VM). */
typedef struct acs__std {
  lua_CFunction s_byte, s_char, s_format, s_len, s_lower, s_upper, s_reverse, s_sub;
  lua_CFunction tonumber, tpack;
  lua_CFunction u_char, u_codepoint, u_len, u_offset, u_codes;
} acs__std;

/* Every block the VM allocates carries its owner: a slot in vm->owners and
 * that slot's generation, so a free credits the run that allocated the
 * block (if it still exists), not whichever run happens to be running. */
typedef struct acs__owner {
  acs_script_run *run; /* NULL: free slot */
  uint32_t gen;
  uint32_t next_free;
} acs__owner;

/* Small blocks (header included) come in classes of ACS__CLASS bytes, up
 * to ACS__NCLASS of them; the VM keeps freed ones for reuse, up to
 * ACS__CACHE_MAX bytes: a session's Lua objects come and go by the
 * thousand, and the process's allocator is shared by every worker. */
#define ACS__CLASS 16
#define ACS__NCLASS 16
#define ACS__CACHE_MAX (512u << 10)
typedef struct acs__freeblk {
  struct acs__freeblk *next;
} acs__freeblk;

#define ACS__SPARE 32 /* completed channels' coroutines kept for reuse */

struct acs_script_vm {
  lua_State *L;
  acs__freeblk *cache[ACS__NCLASS]; /* freed small blocks, by class */
  size_t cached;                    /* bytes in them */
  acs_script_limits limits; /* defaults, all fields set */
  size_t total;             /* bytes held by the VM */
  size_t max_memory;        /* 0: no cap */
  acs_script_clock_fn clock;
  void *clock_ud;
  uint64_t seed;
  uint64_t run_seq;
  uint64_t generation;
  bool frozen;         /* a run exists or existed: no more registration */
  bool ready;          /* the sandbox is built */
  int nest;            /* coroutine resumes nested right now (policy coroutines) */
  int closing;         /* a coroutine.close is running */
  acs_script_run *cur; /* the run being resumed (memory attribution) */
  acs__owner *owners;  /* [0] is "nobody" */
  uint32_t nowners, capowners, free_owner;
  acs__std std;
  /* registry references */
  int ref_api;     /* global name -> function / proxy (the real table) */
  int ref_ns;      /* namespace name -> its real table */
  int ref_frozen;  /* proxy -> true (weak keys) */
  int ref_waiting; /* weak keys: coroutines an engine yield passes through */
  int ref_kill;    /* the error value raised by kills */
  int ref_gen;     /* the current generation: name -> function(_ENV, ...), and
                    * under the light userdata keys below its library */
  bool lib_loading; /* library chunks are running (acs__lib_run) */
  /* channels' coroutines that completed, reset, for the next channels
   * (run.c): the threads and their registry references */
  lua_State *spare_L[ACS__SPARE];
  int spare_ref[ACS__SPARE];
  int nspare;
};

/* Keys of a generation table (light userdata: no policy name collides). */
extern const char acs__gen_lib;    /* the library's globals (values frozen) */
extern const char acs__gen_lazy;   /* the library's lazy globals: name -> function */
extern const char acs__gen_env_mt; /* the metatable of its runs' environments */

struct acs_script_run {
  acs_script_vm *vm;
  acs_script_limits limits;
  void *ctx;
  int ref_env, ref_gen;
  int ref_state; /* the library's private table of this run (or LUA_NOREF) */
  size_t mem;          /* bytes of live blocks it allocated */
  size_t host;         /* host memory charged (acs_script_charge_host) */
  uint32_t slot, gen;  /* its owner tag */
  bool mem_retry;      /* over budget once: Lua collects and retries */
  int pcalls;          /* active pcall/xpcall */
  uint64_t used;       /* instructions charged, run total */
  uint64_t slice_used; /* in the current resume */
  uint64_t deadline_ns, last_hook_ns;
  uint64_t slice_start_ns, time_ns; /* the slice's start; time spent in slices so far */
  bool deadline_run;                /* the deadline is the run's (run_ms), not the slice's */
  uint32_t coroutines; /* created so far */
  acs_script_chan *chans;
  acs_script_chan *cur_chan; /* the channel being resumed */
  lua_State *cur_L;          /* the thread running in it */
  uint64_t rng[4];           /* math.random: xoshiro256** */
  bool sealed;               /* acs_script_run_seal */
  bool unsealed;             /* a sealed run read what it may not */
};

struct acs_script_chan {
  acs_script_run *run;
  acs_script_chan *next;
  lua_State *L; /* the channel's coroutine (NULL after a fault) */
  int ref;
  int state;              /* ACS_SCRIPT_* or -1 before the first resume */
  int nvals;              /* values left on L by the last stop */
  acs_script_fault kill;  /* set by a budget breach: sticks */
  bool closing;           /* its coroutine is being closed after a fault */
  bool read;              /* its results went to acs_script_chan_protect */
  acs_script_fault fault; /* the outcome */
  char policy[64];
  char msg[ACS__FAULT_MSG];
};

/* The extraspace holds the channel pointer, its low bit set on a channel's
 * own (root) coroutine: the one the engine resumes, which policies may see
 * (coroutine.running()) but never resume, close or yield. */
static inline acs_script_chan *acs__chan_of(lua_State *L) {
  uintptr_t v = *(uintptr_t *)lua_getextraspace(L);
  return (acs_script_chan *)(v & ~(uintptr_t)1);
}
static inline bool acs__is_root(lua_State *L) {
  return (*(uintptr_t *)lua_getextraspace(L) & 1) != 0;
}
static inline void acs__set_chan(lua_State *L, acs_script_chan *ch) {
  *(uintptr_t *)lua_getextraspace(L) = (uintptr_t)ch;
}
static inline void acs__set_root(lua_State *L, acs_script_chan *ch) {
  *(uintptr_t *)lua_getextraspace(L) = (uintptr_t)ch | 1;
}
/* Killed, or being closed: no policy code may run in it any more. */
static inline bool acs__stopped(const acs_script_chan *ch) { return ch->kill || ch->closing; }

static inline acs_script_vm *acs__vm_of(lua_State *L) {
  void *ud = NULL;
  lua_getallocf(L, &ud);
  return ud;
}

/* vm.c */
void acs__hook(lua_State *L, lua_Debug *ar);
uint64_t acs__mono_ns(void);
/* Records a kill of ch (the first reason sticks) and makes the hook of the
 * running thread fire on every instruction. */
void acs__kill(acs_script_chan *ch, acs_script_fault why, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Raises the kill error on L (ch->kill must be set). */
int acs__kill_raise(lua_State *L, acs_script_chan *ch) __attribute__((noreturn));
/* Adds units to the run's budgets; kills and raises when one is exhausted.
 * Outside a channel (the engine's own calls) it does nothing. */
void acs__charge(lua_State *L, uint64_t units);
/* Units for a linear pass over n bytes. */
static inline uint64_t acs__bytes_units(size_t n) { return 1 + n / 64; }
int64_t acs__now_ms(acs_script_vm *vm);
void acs__limits_resolve(const acs_script_vm *vm, const acs_script_limits *l,
                         acs_script_limits *out);
/* The limits that apply to L: its run's, or the VM's outside a run. */
const acs_script_limits *acs__limits_of(lua_State *L);
/* Runs f(ud) in protected mode on vm->L; 0, or ACS_ENOMEM on any error. */
int acs__pcall(acs_script_vm *vm, lua_CFunction f, void *ud);

/* watchdog.c: a per-thread timer that fires at the running slice's
 * deadline and makes the count hook fire at the next instruction, whatever
 * the hook's interval (instructions that are slow on long strings). */
void acs__watchdog_arm(acs_script_vm *vm, uint64_t deadline_ns);
void acs__watchdog_disarm(acs_script_vm *vm);

/* run.c */
extern const char acs__yield_sentinel;

int acs__owner_add(acs_script_vm *vm, acs_script_run *run);
void acs__owner_drop(acs_script_vm *vm, acs_script_run *run);

/* sandbox.c: builds the frozen API (in protected mode, on vm->L) */
int acs__sandbox_open(lua_State *L);
/* Pushes a read-only proxy of the table at idx and records it as frozen. */
void acs__proxy_push(lua_State *L, acs_script_vm *vm, int idx);
/* Creates the environment table of a new run of the generation at gen
 * (pushed). */
void acs__env_push(lua_State *L, int gen);
/* Completes the generation table at gen: the library's globals (libt) and
 * lazy globals (lazy) under its keys, and its environments' metatable. */
void acs__gen_finish(lua_State *L, acs_script_vm *vm, int gen, int libt, int lazy);
/* Pushes the _ENV of library chunks: reads and writes go to the calling
 * run's environment (to libt while the library loads). */
void acs__lib_env_push(lua_State *L, acs_script_vm *vm, int libt);
/* Replaces every table value of the table at idx, at any depth, by a
 * read-only proxy. */
void acs__freeze_fields(lua_State *L, acs_script_vm *vm, int idx);
/* Pushes the function handed to library chunks: the calling run's private
 * table. */
void acs__lib_state_push(lua_State *L);
void acs__rng_seed(uint64_t s[4], uint64_t seed);

/* strlib.c: a string builder without finalizers. lauxlib's luaL_Buffer
 * keeps a growing buffer in a userdata freed by __close or __gc; in a
 * coroutine that dies (or is killed) while building, that is left to a
 * finalizer, and a finalizer whose call fails is never retried. This one
 * keeps its bytes in plain userdata (in a stack slot it owns): an old block
 * is garbage like any other. */
typedef struct acs__sbuf {
  lua_State *L;
  int slot;
  char *p;
  size_t n, cap;
} acs__sbuf;
void acs__sb_init(lua_State *L, acs__sbuf *b); /* pushes its slot */
char *acs__sb_reserve(acs__sbuf *b, size_t extra);
void acs__sb_add(acs__sbuf *b, const char *s, size_t n);
/* Adds the string or number on top of the stack and pops it. */
void acs__sb_addvalue(acs__sbuf *b);
/* Replaces the slot with the result string. */
void acs__sb_result(acs__sbuf *b);

/* strlib.c, tablib.c, pattern.c, coro.c: fill the real (hidden) tables */
void acs__strlib_fill(lua_State *L, acs_script_vm *vm, int idx);
void acs__tablib_fill(lua_State *L, int idx);
void acs__pattern_fill(lua_State *L, int idx);
void acs__coro_fill(lua_State *L, int idx);
void acs__utf8_fill(lua_State *L, acs_script_vm *vm, int idx);

/* load.c */
int acs__check_name(const char *name);

#endif
