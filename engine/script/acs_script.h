/* acs_script.h: the Lua 5.4 policy runtime (VM, sandbox, budgets, loading).
 *
 * One acs_script_vm per worker thread: one lua_State, created and used on one
 * thread only. Policies are compiled once per VM into a *generation* (a set of
 * named chunks replaced as a whole); each CWMP session gets an acs_script_run
 * with its own global environment over a frozen, read-only API, and each
 * policy it starts runs in a channel (acs_script_chan): a coroutine that the
 * engine resumes. A channel ends DONE, stops in YIELD (a host function needs
 * something, e.g. a value from the CPE, and the engine resumes it later with
 * the answer), or ends in FAULT with a stable code ("script.error",
 * "script.timeout", ...) and a message. A fault in one channel leaves the
 * run's other channels and all other runs untouched.
 *
 * Budgets (acs_script_limits) are per run: instructions (a count hook with a
 * per-resume slice and a per-run total, plus a wall-clock slice), memory
 * (every block is charged to the run that allocated it, until it is freed),
 * per-call caps on string results and pattern matching. A budget breach kills
 * the channel that caused it: the kill flag lives in C, the hook then fires on
 * every instruction and raises again, and allocations for that channel fail,
 * so pcall cannot swallow it.
 *
 * Host functions (lua_CFunction) are added to the frozen API with
 * acs_script_vm_register() before the first run; inside them
 * acs_script_ctx(L) returns the pointer given to acs_script_run_new(), and
 * acs_script_yield() suspends the channel until the engine resumes it.
 * docs/policies.md describes what policies can and cannot use. */
#ifndef ACS_SCRIPT_H
#define ACS_SCRIPT_H

#include <lua.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct acs_script_vm acs_script_vm;
typedef struct acs_script_run acs_script_run;
typedef struct acs_script_chan acs_script_chan;

/* --- limits: 0 in any field of a run's limits means "the VM's default" */
typedef struct acs_script_limits {
  uint64_t instructions;  /* per run, all channels together (20,000,000) */
  uint64_t slice;         /* per resume of a channel (2,000,000) */
  uint32_t slice_ms;      /* wall-clock time per resume (500) */
  uint32_t hook_every;    /* count hook granularity, instructions (1000) */
  size_t memory;          /* bytes of live blocks the run allocated (8 MiB) */
  size_t max_string;      /* string.rep, table.concat, string.format, gsub results (1 MiB) */
  uint64_t pattern_steps; /* matcher steps per pattern call, plus 16 per subject byte (1,000,000) */
  uint32_t coroutines;    /* coroutines a run may create (1000) */
  uint32_t run_ms;        /* wall-clock time per run, all resumes together (2000) */
} acs_script_limits;

/* The built-in defaults above. */
void acs_script_limits_default(acs_script_limits *l);

/* --- outcomes */
enum {
  ACS_SCRIPT_DONE = 0,  /* the policy returned; its results are on the channel's thread */
  ACS_SCRIPT_YIELD = 1, /* a host function yielded; resume with acs_script_chan_resume() */
  ACS_SCRIPT_FAULT = 2, /* the channel is over: see acs_script_chan_fault() */
};

/* Fault kinds: enum name, stable code, meaning. */
#define ACS_SCRIPT_FAULT_MAP(X)                                        \
  X(ERROR, "script.error", "the policy raised an error")               \
  X(TIMEOUT, "script.timeout", "instruction or time budget exhausted") \
  X(MEMORY, "script.memory", "memory budget exhausted")                \
  X(PATTERN, "script.pattern", "pattern too complex")                  \
  X(STACK, "script.stack", "stack overflow (Lua stack or C calls nested too deep)")

typedef enum acs_script_fault {
  ACS_SCRIPT_FAULT_NONE = 0,
#define ACS_SCRIPT_FAULT_ENUM(name, code, msg) ACS_SCRIPT_FAULT_##name,
  ACS_SCRIPT_FAULT_MAP(ACS_SCRIPT_FAULT_ENUM)
#undef ACS_SCRIPT_FAULT_ENUM
} acs_script_fault;

/* "script.error", ...; NULL for ACS_SCRIPT_FAULT_NONE. */
const char *acs_script_fault_code(acs_script_fault f);

/* --- the VM (one per worker thread) */

/* The engine's clock: milliseconds since the Unix epoch. Policies see it
 * through os.time(), os.clock() and os.date(); tests move it. */
typedef int64_t (*acs_script_clock_fn)(void *ud);

typedef struct acs_script_vm_config {
  acs_script_limits limits; /* defaults for runs (0 fields: built-in defaults) */
  size_t max_memory;        /* hard cap for the whole VM, bytes (0: none) */
  acs_script_clock_fn clock;
  void *clock_ud; /* NULL clock: CLOCK_REALTIME */
  uint64_t seed;  /* math.random seeds derive from it (0: random) */
} acs_script_vm_config;

/* cfg may be NULL (all defaults). Returns NULL when out of memory. */
acs_script_vm *acs_script_vm_new(const acs_script_vm_config *cfg);
void acs_script_vm_free(acs_script_vm *vm);
void acs_script_vm_set_clock(acs_script_vm *vm, acs_script_clock_fn clock, void *ud);
/* Bytes the VM holds now. */
size_t acs_script_vm_memory(const acs_script_vm *vm);
/* The VM's lua_State (main thread), for the engine's own C-side work. */
lua_State *acs_script_vm_state(acs_script_vm *vm);

/* Adds a host function to the frozen API: a global (ns NULL) or ns.name
 * (the namespace table is created on first use; it is a read-only table for
 * policies). Only before the first acs_script_run_new(): ACS_ESTATE after;
 * ACS_EINVAL for a bad or existing name; ACS_ENOMEM. */
int acs_script_vm_register(acs_script_vm *vm, const char *ns, const char *name, lua_CFunction fn);

/* --- loading: a generation is a set of named policies */
typedef struct acs_script_chunk {
  const char *name; /* "provisions/default": shown in errors as "name:line:" */
  const char *text;
  size_t len;
  /* A library: run once, when its generation is built, instead of being a
   * policy that runs can call. Its globals become the generation's shared,
   * read-only globals (tables frozen), seen by every run after the run's own
   * globals and before the API. Its functions' globals are the calling
   * run's: reading one reads the run's environment, setting one sets it.
   * It receives one argument, a function that returns the calling run's
   * private table (state the library keeps per run; no policy can reach
   * it), and may return a table of lazy globals: name -> function, called
   * the first time a run reads the name; a non-nil result becomes the run's
   * global. Library chunks are the engine's own (they run without budgets). */
  bool library;
} acs_script_chunk;

/* Compiles one policy (text only; binary chunks are refused) and installs a
 * new generation made of the current one plus (or with a replaced) name.
 * Returns 0; ACS_EINVAL with "name:line: message" in err on a syntax error
 * or a refused chunk (the current generation stays); ACS_ENOMEM. */
int acs_script_vm_load(acs_script_vm *vm, const char *name, const char *text, size_t len, char *err,
                       size_t errlen);
/* Compiles chunks[0..n) into a new generation that replaces the current
 * one as a whole; on any error the current one stays. Same returns. */
int acs_script_vm_load_set(acs_script_vm *vm, const acs_script_chunk *chunks, size_t n, char *err,
                           size_t errlen);
/* Number of the current generation: 0 before the first load, +1 per load. */
uint64_t acs_script_vm_generation(const acs_script_vm *vm);
bool acs_script_vm_has(acs_script_vm *vm, const char *name);

/* --- runs: one per CWMP session */

/* A run keeps the generation current at its creation until it is freed.
 * limits may be NULL (the VM's). ctx is returned by acs_script_ctx().
 * Returns NULL when out of memory or when called from inside a resume. */
acs_script_run *acs_script_run_new(acs_script_vm *vm, const acs_script_limits *limits, void *ctx);
/* Releases the run, its channels and their coroutines. Never from inside a
 * resume of this run. */
void acs_script_run_free(acs_script_run *run);
void *acs_script_run_ctx(const acs_script_run *run);
/* Makes the run a sealed one: from now on its first read of a global that
 * may depend on the session, the clock or chance (the library's globals,
 * the lazy ones such as device, acs, os, math, coroutine, anything but the
 * pure functions of string, table, utf8 and a few base functions) raises
 * before any such function runs, and marks the run (a pcall that catches
 * the error does not clear the mark). What a sealed run's channel returns
 * unmarked is a function of the policy's text alone. */
void acs_script_run_seal(acs_script_run *run);
/* Did the sealed run read such a global? */
bool acs_script_run_unsealed(const acs_script_run *run);
/* Instructions charged so far (hook counts plus charges of C functions). */
uint64_t acs_script_run_instructions(const acs_script_run *run);
/* Bytes of the blocks the run allocated that are not freed yet. */
size_t acs_script_run_memory(const acs_script_run *run);

/* Fills the args table (on top of L) in protected mode: it may raise.
 * It must leave the stack as it found it. */
typedef void (*acs_script_args_fn)(lua_State *L, void *ud);

/* Starts the named policy in a new channel and runs it to its first stop.
 * The policy receives one argument (local args = ...), a table built from
 * kv (NULL-terminated key, value, key, value, ...; kv may be NULL) or by fn.
 * Returns ACS_SCRIPT_DONE / _YIELD / _FAULT with *out set; ACS_ENOTFOUND
 * (no such policy), ACS_ESTATE (called from inside a resume) or ACS_ENOMEM
 * with *out NULL. */
int acs_script_run_call(acs_script_run *run, const char *policy, const char *const *kv,
                        acs_script_chan **out);
int acs_script_run_call_fn(acs_script_run *run, const char *policy, acs_script_args_fn fn, void *ud,
                           acs_script_chan **out);

/* Runs fn(L, ud) on a DONE channel's thread, its results on top (at least
 * one: nil when it returned nothing; they are fn's to read and are gone
 * after the call; once per channel), in protected mode and under
 * the run's budgets as a resume would be (instructions, a fresh time slice,
 * memory): the engine's reads of values a policy made (a presets file's
 * tables, jobs/schedule.lua's), whose metamethods are policy code. fn may
 * raise; it cannot yield. Returns 0, ACS_SCRIPT_FAULT (the channel is
 * faulted: code and message as for a resume; fault message "file:line:
 * ..." when the policy raised) or ACS_ESTATE (not DONE, read already,
 * or inside a resume) / ACS_ENOMEM. */
int acs_script_chan_protect(acs_script_chan *ch, acs_script_args_fn fn, void *ud);

/* --- channels (owned by their run, freed with it) */

/* The channel's coroutine. After DONE its results, after YIELD the values
 * the host function yielded, are the top *n values (n may be NULL). The
 * thread is NULL after a FAULT. */
lua_State *acs_script_chan_values(acs_script_chan *ch, int *n);
/* Resumes a YIELDed channel: push nargs values onto acs_script_chan_values()'s
 * thread (check its stack first), then call. Returns ACS_SCRIPT_DONE /
 * _YIELD / _FAULT, or ACS_ESTATE (not yielded, or inside another resume) /
 * ACS_EINVAL (fewer than nargs values pushed). */
int acs_script_chan_resume(acs_script_chan *ch, int nargs);
/* ACS_SCRIPT_DONE, _YIELD or _FAULT. */
int acs_script_chan_state(const acs_script_chan *ch);
acs_script_fault acs_script_chan_fault(const acs_script_chan *ch);
/* Code of the fault ("script.timeout") or NULL; message (never NULL, ""
 * unless faulted): the error message as a string, formatted without calling
 * any metamethod of the policy's error object, at most 511 bytes. */
const char *acs_script_chan_fault_code(const acs_script_chan *ch);
const char *acs_script_chan_fault_message(const acs_script_chan *ch);
const char *acs_script_chan_policy(const acs_script_chan *ch);
acs_script_run *acs_script_chan_run(const acs_script_chan *ch);

/* --- for host functions (lua_CFunction called by policies) */

/* The ctx of the run this coroutine belongs to (NULL outside any run). The
 * channel pointer lives in lua_getextraspace() of each of the run's threads,
 * policy coroutines included. */
void *acs_script_ctx(lua_State *L);
acs_script_run *acs_script_run_of(lua_State *L);
acs_script_chan *acs_script_chan_of(lua_State *L);

/* Pushes a function that runs the named policy of the caller's run (its
 * generation, its environment) inside the calling coroutine: what it reads
 * may suspend the caller's channel like any host function, and its results
 * are the call's. Returns 0, or ACS_ENOTFOUND (nothing pushed). */
int acs_script_push_policy(lua_State *L, const char *name);

/* Suspends the channel: the top nvalues values go to the engine (the channel
 * state becomes YIELD), and when the engine resumes it with acs_script_chan_resume()
 * its values become the host function's results (k NULL) or are handed to
 * the continuation k, as lua_yieldk. Works from policy coroutines too (the
 * yield passes through them to the engine). Use as
 *   return acs_script_yield(L, n, 0, NULL);
 * Raises "attempt to yield across a C-call boundary" where the channel cannot
 * yield (inside a metamethod called from C, a table.sort comparator...). */
int acs_script_yield(lua_State *L, int nvalues, lua_KContext ctx, lua_KFunction k);

/* Charges units of work to the run's instruction budget (for host functions
 * whose cost grows with their input); raises (kills the channel) when the
 * budget is exhausted. */
void acs_script_charge(lua_State *L, uint64_t units);

/* Charges bytes of host memory (the engine's own allocations a policy
 * caused: declarations, planner state, JSON, RPC arguments, tags) to the
 * run's memory budget, with the instructions to copy them; raises (kills
 * the channel with script.memory) past the budget. The bytes stay charged
 * until the run is freed. Outside a channel it does nothing. */
void acs_script_charge_host(lua_State *L, size_t bytes);
/* Bytes charged with acs_script_charge_host so far. */
size_t acs_script_run_host_memory(const acs_script_run *run);

#endif
