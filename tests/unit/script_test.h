/* script_test.h: helpers the engine/script tests share: a VM with a clock
 * the test moves, and "run this policy in a fresh run and tell me how it
 * ended". */
#ifndef SCRIPT_TEST_H
#define SCRIPT_TEST_H

#include <lauxlib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "acs_test.h"
#include "script/acs_script.h"

static int64_t st_clock_ms = 1700000000123;
static inline int64_t st_clock(void *ud) {
  (void)ud;
  return st_clock_ms;
}

static inline acs_script_vm *st_vm(const acs_script_limits *lim) {
  acs_script_vm_config cfg;
  memset(&cfg, 0, sizeof cfg);
  if (lim) cfg.limits = *lim;
  cfg.clock = st_clock;
  cfg.seed = 42;
  return acs_script_vm_new(&cfg);
}

static inline double st_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static inline int st_load(acs_script_vm *vm, const char *name, const char *src) {
  char err[512];
  int rc = acs_script_vm_load(vm, name, src, strlen(src), err, sizeof err);
  if (rc) fprintf(stderr, "load %s: %s\n", name, err);
  return rc;
}

typedef struct st_result {
  int state; /* ACS_SCRIPT_*, or a negative error */
  char code[32];
  char msg[600];
  char value[2048]; /* first result of a DONE channel, as text */
  size_t value_len;
  int nvals;
  double secs;
} st_result;

/* The value at idx as short text: strings (first 255 bytes), numbers,
 * booleans, nil; "<type>" for the rest. */
static inline void st_text(lua_State *L, int idx, char *out, size_t cap, size_t *len) {
  size_t n = 0;
  const char *s = NULL;
  switch (lua_type(L, idx)) {
    case LUA_TSTRING:
    case LUA_TNUMBER:
      s = lua_tolstring(L, idx, &n);
      break;
    case LUA_TBOOLEAN:
      s = lua_toboolean(L, idx) ? "true" : "false";
      n = strlen(s);
      break;
    case LUA_TNIL:
      s = "nil";
      n = 3;
      break;
    default:
      snprintf(out, cap, "<%s>", lua_typename(L, lua_type(L, idx)));
      if (len) *len = strlen(out);
      return;
  }
  if (len) *len = n;
  snprintf(out, cap, "%.*s", (int)(n < cap ? n : cap - 1), s);
}

static inline void st_fill(st_result *r, acs_script_chan *ch, int state) {
  r->state = state;
  r->code[0] = r->value[0] = '\0';
  r->value_len = 0;
  r->nvals = 0;
  snprintf(r->msg, sizeof r->msg, "%s", ch ? acs_script_chan_fault_message(ch) : "");
  if (ch && acs_script_chan_fault_code(ch))
    snprintf(r->code, sizeof r->code, "%s", acs_script_chan_fault_code(ch));
  if (ch && state != ACS_SCRIPT_FAULT) {
    int n;
    lua_State *T = acs_script_chan_values(ch, &n);
    r->nvals = n;
    if (T && n > 0) st_text(T, -n, r->value, sizeof r->value, &r->value_len);
  }
}

/* Loads src as policy "t" and runs it in a fresh run with these limits. */
static inline st_result st_exec(acs_script_vm *vm, const char *src, const acs_script_limits *lim) {
  st_result r;
  memset(&r, 0, sizeof r);
  if (st_load(vm, "t", src)) {
    r.state = -1;
    return r;
  }
  acs_script_run *run = acs_script_run_new(vm, lim, NULL);
  if (!run) {
    r.state = -2;
    return r;
  }
  acs_script_chan *ch = NULL;
  double t0 = st_now();
  int st = acs_script_run_call(run, "t", NULL, &ch);
  r.secs = st_now() - t0;
  st_fill(&r, ch, st);
  acs_script_run_free(run);
  return r;
}

/* The first result of src as text ("" on any failure, message printed). */
static inline const char *st_eval(acs_script_vm *vm, const char *src) {
  static st_result r;
  r = st_exec(vm, src, NULL);
  if (r.state != ACS_SCRIPT_DONE) {
    fprintf(stderr, "policy failed (%d %s): %s\n  in: %s\n", r.state, r.code, r.msg, src);
    return "";
  }
  return r.value;
}

#define CHECK_EVAL(vm, src, want) CHECK_STR(st_eval(vm, src), want)
#define CHECK_FAULT(vm, src, code_, has)                                                       \
  do {                                                                                         \
    st_result r_ = st_exec(vm, src, NULL);                                                     \
    CHECK_INT(r_.state, ACS_SCRIPT_FAULT);                                                     \
    CHECK_STR(r_.code, code_);                                                                 \
    if (!strstr(r_.msg, has)) fprintf(stderr, "  message \"%s\" lacks \"%s\"\n", r_.msg, has); \
    CHECK(strstr(r_.msg, has) != NULL);                                                        \
  } while (0)

#endif
