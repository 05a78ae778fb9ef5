/* test_policy_contain: containment of the policy runtime's host functions
 * and presets reading, in memory (no store, no CPE): a session over the
 * data model of cpesim's TR-181 gateway (1178 parameters), as
 * test_policy_phase builds it.
 *
 *  - host functions charge for their work: acs.read and clear() over the
 *    whole model with a huge wildcard pattern, driven in a loop until the
 *    run's instruction budget stops them; the CPU time that takes is
 *    compared with the time the same budget takes in plain instructions
 *    (a ratio, not a wall-clock figure);
 *  - the engine's memory a session causes (declarations) ends in
 *    script.memory, counted as the engine's, not in the process growing;
 *  - a presets file whose table raises, loops or allocates when the engine
 *    reads it faults its own channel (presets/NAME, with file and line),
 *    and the session's other presets still start their provisions.
 * The model file is read from ACS_SOURCE_DIR (skipped, 77, without it). */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "acs_test.h"
#include "app/acs_app.h"
#include "core/acs_config.h"
#include "session/acs_policy.h"
#include "session/policy_internal.h"
#include "session/session_internal.h"

#define MAX_RATIO 40.0

static acs_config cfg;
static acs_app app;
static acs_app_worker aw;
static acs_session_table table;

static int load_model(acs_dm *dm, int64_t now_ms) {
  char path[1024];
  snprintf(path, sizeof path, "%s/tests/cpesim/models/tr181-gateway.model",
           getenv("ACS_SOURCE_DIR"));
  FILE *f = fopen(path, "r");
  if (!f) return -1;
  char line[4096];
  while (fgets(line, sizeof line, f)) {
    if (line[0] == '#' || line[0] == '\n') continue;
    line[strcspn(line, "\n")] = '\0';
    char *fields[4] = {line, NULL, NULL, NULL};
    for (int i = 1; i < 4; i++) {
      char *tab = fields[i - 1] ? strchr(fields[i - 1], '\t') : NULL;
      if (tab) *tab = '\0', fields[i] = tab + 1;
    }
    acs_dm_param *p = acs_dm_put(dm, fields[0]);
    if (!p) return -1;
    p->names_at = now_ms;
    if (p->object) continue;
    p->type = acs_cwmp_type_from_name(fields[1] ? fields[1] : "string");
    p->writable = fields[2] && strchr(fields[2], 'W') ? 1 : 0;
    p->value = strdup(fields[3] ? fields[3] : "");
    p->value_at = now_ms;
  }
  fclose(f);
  return 0;
}

static acs_cwmp_event events[] = {{"2 PERIODIC", ""}};
static const char ctx_text[] =
    "{\"tags\": [], \"actions\": [], \"faults\": [], \"events\": {}, \"alarms\": [], "
    "\"secrets\": []}";

static void session_init(acs__session *s, const acs_dm *model) {
  memset(s, 0, sizeof *s);
  s->magic = ACS__SESSION_MAGIC;
  s->t = &table;
  s->device_id = "00D09E-HG8245-B000042";
  snprintf(s->peer, sizeof s->peer, "127.0.0.1");
  s->inform.kind = ACS_CWMP_INFORM;
  acs_cwmp_inform *in = &s->inform.u.inform;
  in->device_id = (acs_cwmp_device_id){"Simulated", "00D09E", "HG8245", "B000042"};
  in->events.v = events;
  in->events.n = 1;
  s->with_policies = true;
  s->dm = *model;
  s->policy_ctx_json = json_loads(ctx_text, 0, NULL);
}

static void session_free(acs__session *s, acs_dm *model) {
  acs__policy_free(s);
  *model = s->dm;
  json_decref(s->policy_ctx_json);
  for (size_t i = 0; i < s->ntags; i++) free(s->tags[i]);
  free(s->tags);
}

static acs_policy_vm *tree_vm(const char *const *files) {
  acs_policy_vm *pv = acs_policy_vm_new(NULL, NULL, 0);
  json_t *tree = json_object();
  for (const char *const *f = files; f[0]; f += 2)
    json_object_set_new(tree, f[0], json_string(f[1]));
  char err[512] = "";
  int rc = pv ? acs_policy_vm_load_json(pv, tree, err, sizeof err) : -1;
  if (rc) fprintf(stderr, "tree: %s\n", err);
  CHECK(rc == 0);
  json_decref(tree);
  return pv;
}

static double cpu_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* How the session's channels ended: "channel=code:message;..." */
typedef struct outcome {
  char text[2048];
  double secs;
  size_t host; /* the run's host memory */
} outcome;

static outcome run_phase(const char *const *files, acs_dm *model) {
  outcome o;
  memset(&o, 0, sizeof o);
  acs_policy_vm *pv = tree_vm(files);
  if (!pv) return o;
  acs__session s;
  session_init(&s, model);
  acs_cwmp_msg m;
  double t0 = cpu_now();
  acs__policy_next(&s, pv, &m);
  o.secs = cpu_now() - t0;
  size_t len = 0;
  for (size_t i = 0; s.pol && i < s.pol->nchans; i++) {
    const pchan *c = &s.pol->chans[i];
    int w = snprintf(o.text + len, sizeof o.text - len, "%s=%s:%s;", c->channel,
                     c->done      ? "done"
                     : c->faulted ? (c->ch ? acs_script_chan_fault_code(c->ch) : "missing")
                                  : "waiting",
                     c->ch && c->faulted ? acs_script_chan_fault_message(c->ch) : "");
    if (w > 0 && (size_t)w < sizeof o.text - len) len += (size_t)w;
  }
  if (s.pol && s.pol->run) o.host = acs_script_run_host_memory(s.pol->run);
  session_free(&s, model);
  acs_policy_vm_free(pv);
  return o;
}

/* One provision, started by one preset. */
static outcome run_provision(const char *src, acs_dm *model) {
  const char *const files[] = {"presets/p",
                               "return {{name = 'p', provisions = {'t'}, channel = 't'}}",
                               "provisions/t", src, NULL};
  return run_phase(files, model);
}

typedef struct ratio_case {
  const char *name, *src;
} ratio_case;

static const ratio_case ratio_cases[] = {
    {"acs.read, a huge wildcard over the model",
     "local h = declare('Device.' .. string.rep('*.', 120) .. 'X', {value = 1})\n"
     "while true do h:get() end"},
    {"acs.read, a wildcard with a long tail",
     "local h = declare('Device.*.*.' .. string.rep('Y', 3000), {value = 1})\n"
     "while true do h:get() end"},
    {"clear(), a huge wildcard over the model",
     "local p = 'Device.' .. string.rep('*.', 2000) .. '*'\n"
     "while true do clear(p) end"},
    {"clear(), a long literal path",
     "local p = 'Device.' .. string.rep('Z', 5000)\n"
     "while true do clear(p) end"},
};

static void check_host_ratios(acs_dm *model) {
  outcome base = run_provision("local x = 0 while true do x = x + 1 end", model);
  CHECK(strstr(base.text, "t=script.timeout:instruction budget") != NULL);
  fprintf(stderr, "  baseline: the run's instruction budget in %.1f ms CPU\n", base.secs * 1000);
  for (size_t i = 0; i < sizeof ratio_cases / sizeof ratio_cases[0]; i++) {
    const ratio_case *c = &ratio_cases[i];
    outcome o = run_provision(c->src, model);
    double ratio = base.secs > 0 ? o.secs / base.secs : 0;
    bool ok = strstr(o.text, "t=script.timeout:instruction budget") != NULL && ratio < MAX_RATIO;
    fprintf(stderr, "  %-44s %8.1f ms  x%-5.1f %s\n", c->name, o.secs * 1000, ratio,
            ok ? "ok" : "FAILED");
    if (!ok) fprintf(stderr, "    %s\n", o.text);
    CHECK(ok);
  }
}

static void check_host_memory(acs_dm *model) {
  outcome o = run_provision(
      "local long = string.rep('Device.X.', 100) local i = 0\n"
      "while true do i = i + 1 declare(long .. i, {value = 1}) end",
      model);
  fprintf(stderr, "  declarations: %s host %zu KiB\n", o.text, o.host >> 10);
  CHECK(strstr(o.text, "t=script.memory:memory budget exhausted") != NULL);
  CHECK(strstr(o.text, "of them the engine's") != NULL);
  CHECK(o.host > (2u << 20)); /* most of the 8 MiB was the engine's */
  o = run_provision(
      "local big = string.rep('u', 1 << 19) local i = 0\n"
      "while true do i = i + 1 pcall(download, {url = 'http://x/' .. big .. i, "
      "key = 'k' .. i}) end",
      model);
  fprintf(stderr, "  action arguments: %s\n", o.text);
  CHECK(strstr(o.text, "t=script.memory:") != NULL);
}

static void check_presets(acs_dm *model) {
  static const char *const hostile[][2] = {
      {"raises", "return setmetatable({}, {__index = function(_, k)\n error('read ' .. k) end})"},
      {"loops", "return setmetatable({}, {__index = function() while true do end end})"},
      {"allocates",
       "return {setmetatable({}, {__index = function() local t = {} "
       "for i = 1, 1e9 do t[i] = ('x'):rep(4096) .. i end end})}"},
      {"yields", "return setmetatable({}, {__index = function() coroutine.yield() end})"},
      {"provisions raise",
       "return {provisions = setmetatable({}, {__len = function() "
       "error('len') end, __index = function() error('idx') end})}"},
  };
  static const char *const want[] = {"presets/evil=script.error:presets/evil:2: read provisions",
                                     "presets/evil=script.timeout:", "presets/evil=script.memory:",
                                     "presets/evil=script.error:", NULL};
  for (size_t i = 0; i < sizeof hostile / sizeof hostile[0]; i++) {
    const char *const files[] = {"presets/evil",
                                 hostile[i][1],
                                 "presets/good",
                                 "return {provisions = {'ok'}, channel = 'ok'}",
                                 "provisions/ok",
                                 "return 1",
                                 NULL};
    outcome o = run_phase(files, model);
    /* the good preset's provision ran, unless the hostile one used up the
     * run's shared memory budget (its garbage counts until collected) */
    bool ok = i == 2 || strstr(o.text, "ok=") != NULL;
    if (want[i]) ok = ok && strstr(o.text, want[i]) != NULL;
    if (i == 0 || i == 3) ok = ok && strstr(o.text, "ok=done") != NULL;
    fprintf(stderr, "  presets file that %-18s %s\n", hostile[i][0], ok ? "ok" : "FAILED");
    if (!ok) fprintf(stderr, "    %s\n", o.text);
    CHECK(ok);
  }
}

int main(void) {
  if (!getenv("ACS_SOURCE_DIR")) return 77;
  acs_config_init(&cfg);
  app.cfg = &cfg;
  aw.app = &app;
  table.aw = &aw;
  acs_dm model;
  acs_dm_init(&model);
  CHECK(load_model(&model, acs_policy_now_ms()) == 0);
  CHECK(model.n > 1000);
  fprintf(stderr, "host functions against their charge:\n");
  check_host_ratios(&model);
  fprintf(stderr, "the engine's memory:\n");
  check_host_memory(&model);
  fprintf(stderr, "presets files read by the engine:\n");
  check_presets(&model);
  acs_dm_free(&model);
  acs_config_free(&cfg);
  return acs_test_result("test_policy_contain");
}
