/* bench_policy: what the policy runtime costs a periodic session on this
 * machine, one core, with no store and no CPE: the script layer's part.
 *
 *   build/bin/bench_policy [seconds] [presets-file]   (default 2, policies/presets/default.lua)
 *
 * Each iteration is what a periodic session does in engine/script: a run,
 * the presets file run and its list of presets read, a small provision
 * (string and table work, ~200 instructions, no host function) run in a
 * channel of its own, the run freed. Two cases: the presets read with raw
 * Lua API calls on the channel's thread (how the engine read them before
 * issue 15) and read inside acs_script_chan_protect (protected, budgeted:
 * how it reads them now). Prints ns per session for each, and a JSON line.
 * BENCH_CASE=raw|protected runs one case, BENCH_ITERS=N a fixed number of
 * sessions (for `perf stat -e instructions:u`: instructions per session do
 * not depend on what else the machine runs).
 * Bounded in time; built by default, not run by ctest. */
#include <lauxlib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "script/acs_script.h"

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static char *slurp(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  char *buf = malloc(1 << 20);
  *len = buf ? fread(buf, 1, (1 << 20) - 1, f) : 0;
  fclose(f);
  if (buf) buf[*len] = '\0';
  return buf;
}

static const char provision[] =
    "local args = ... or {}\n"
    "local interval = tonumber(args.interval) or 300\n"
    "local r = 'Device.'\n"
    "local names = {}\n"
    "for i = 1, 8 do names[#names + 1] = r .. 'ManagementServer.X' .. i end\n"
    "local t = {}\n"
    "for _, n in ipairs(names) do t[n] = #n + interval end\n"
    "local s = string.format('%s=%d', names[1], t[names[1]])\n"
    "if s:find('X1') then return s:upper() end\n";

/* counts the presets and their provisions, as the engine's reader does */
static int g_seen;
static void read_presets(lua_State *L, void *ud) {
  (void)ud;
  if (!lua_istable(L, -1)) return;
  lua_Integer n = (lua_Integer)lua_rawlen(L, -1);
  for (lua_Integer k = 1; k <= n; k++) {
    lua_rawgeti(L, -1, k);
    if (lua_istable(L, -1)) {
      lua_getfield(L, -1, "events");
      lua_getfield(L, -2, "provisions");
      lua_getfield(L, -3, "channel");
      lua_getfield(L, -4, "weight");
      g_seen += lua_istable(L, -3);
      lua_pop(L, 4);
    }
    lua_pop(L, 1);
  }
}

static long g_iters; /* BENCH_ITERS: a fixed number of sessions instead of a time */

static double run_case(acs_script_vm *vm, double secs, int protect) {
  long iters = 0;
  double t0 = now(), t = t0;
  while (g_iters ? iters < g_iters : t - t0 < secs) {
    for (int i = 0; i < 100; i++) {
      acs_script_run *run = acs_script_run_new(vm, NULL, NULL);
      acs_script_chan *ch = NULL;
      if (acs_script_run_call(run, "presets/default", NULL, &ch) == ACS_SCRIPT_DONE) {
        if (protect) {
          acs_script_chan_protect(ch, read_presets, NULL);
        } else {
          int nv = 0;
          lua_State *T = acs_script_chan_values(ch, &nv);
          if (T && nv > 0) read_presets(T, NULL);
        }
      }
      acs_script_chan *pc = NULL;
      acs_script_run_call(run, "provisions/small", NULL, &pc);
      acs_script_run_free(run);
      iters++;
    }
    t = now();
  }
  return (t - t0) / (double)iters * 1e9;
}

int main(int argc, char **argv) {
  double secs = argc > 1 ? atof(argv[1]) : 2.0;
  if (secs <= 0 || secs > 60) secs = 2.0;
  const char *src = getenv("ACS_SOURCE_DIR");
  char def[4096];
  snprintf(def, sizeof def, "%s/policies/presets/default.lua", src ? src : ".");
  const char *path = argc > 2 ? argv[2] : def;
  size_t len = 0;
  char *text = slurp(path, &len);
  if (!text) {
    fprintf(stderr, "bench_policy: cannot read %s (give its path, or set ACS_SOURCE_DIR)\n", path);
    return 1;
  }
  acs_script_vm *vm = acs_script_vm_new(NULL);
  char err[512];
  acs_script_chunk chunks[2] = {{"presets/default", text, len, false},
                                {"provisions/small", provision, sizeof provision - 1, false}};
  if (!vm || acs_script_vm_load_set(vm, chunks, 2, err, sizeof err)) {
    fprintf(stderr, "bench_policy: %s\n", vm ? err : "no VM");
    return 1;
  }
  const char *only = getenv("BENCH_CASE"); /* "raw" or "protected": that one only */
  g_iters = getenv("BENCH_ITERS") ? atol(getenv("BENCH_ITERS")) : 0;
  double raw = only && strcmp(only, "raw") ? 0 : run_case(vm, secs, 0);
  double prot = only && strcmp(only, "protected") ? 0 : run_case(vm, secs, 1);
  printf("session, presets read raw:        %8.0f ns\n", raw);
  printf("session, presets read protected:  %8.0f ns\n", prot);
  printf("{\"raw_ns\": %.0f, \"protected_ns\": %.0f, \"presets_seen\": %d}\n", raw, prot,
         g_seen > 0);
  acs_script_vm_free(vm);
  free(text);
  return 0;
}
