/* test_policy_phase: the example policies of policies/ in a steady periodic
 * session, in memory: no store, no CPE. The session is built as the Inform's
 * transaction leaves it (the data model of cpesim's TR-181 gateway, every
 * value fresh; the policy context as JSON text), so the policy phase must
 * finish with no RPC and no fault: the presets file, refresh (with its
 * virtual WANIPAddress), wifi, cr_credentials, acs_credentials and the three alarm rules.
 *
 * It is also the benchmark of the policy phase alone: it prints the CPU time
 * of one phase (its start to acs__policy_free; not the model's load or free), averaged over ACS_BENCH_ITERS sessions
 * (default 200), so that a profiler (callgrind, perf) sees only the phase.
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

static acs_config cfg;
static acs_app app;
static acs_app_worker aw;
static acs_session_table table;

/* cpesim's TR-181 gateway (name TAB type TAB flags TAB value), every entry
 * read and listed at now_ms. */
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
  /* what an earlier session stored of the virtual parameter */
  acs_dm_param *v = acs_dm_put(dm, "VirtualParameters.WANIPAddress");
  if (!v) return -1;
  v->value = strdup("");
  v->type = ACS_XSD_STRING;
  v->writable = 0;
  v->value_at = v->names_at = now_ms;
  return 0;
}

static acs_cwmp_event events[] = {{"2 PERIODIC", ""}};
static acs_cwmp_param_value inform_params[] = {
    {"Device.RootDataModelVersion", "2.17", ACS_XSD_STRING},
    {"Device.DeviceInfo.HardwareVersion", "HW-1", ACS_XSD_STRING},
    {"Device.DeviceInfo.SoftwareVersion", "1.0.0", ACS_XSD_STRING},
    {"Device.DeviceInfo.ProvisioningCode", "", ACS_XSD_STRING},
    {"Device.ManagementServer.ParameterKey", "", ACS_XSD_STRING},
    {"Device.ManagementServer.ConnectionRequestURL", "http://127.0.0.1:1/cr", ACS_XSD_STRING},
};

static const char ctx_text[] =
    "{\"tags\": [\"site:lab\"], \"last_boot\": 1764547200000, \"last_bootstrap\": 1764547100000,"
    " \"actions\": [], \"faults\": [], \"events\": {\"2 PERIODIC\": [12, 288], \"1 BOOT\": [0, 1],"
    " \"0 BOOTSTRAP\": [0, 1]}, \"alarms\": [], \"secrets\": []}";

/* The session borrows the model (a steady session changes no more than the
 * virtual parameter's time in it), so that the loop measures the phase. */
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
  in->params.v = inform_params;
  in->params.n = sizeof inform_params / sizeof inform_params[0];
  s->with_policies = true;
  s->dm = *model;
  s->policy_ctx_json = json_loads(ctx_text, 0, NULL);
  s->tags = calloc(1, sizeof *s->tags);
  s->tags[0] = strdup("site:lab");
  s->ntags = 1;
}

static void session_free(acs__session *s, acs_dm *model) {
  acs__policy_free(s);
  *model = s->dm;
  json_decref(s->policy_ctx_json);
  for (size_t i = 0; i < s->ntags; i++) free(s->tags[i]);
  free(s->tags);
}

/* A tree of its own (the standard library and these files) in a new VM. */
static acs_policy_vm *tree_vm(const char *const *files) {
  acs_policy_vm *pv = acs_policy_vm_new(NULL, NULL, 0);
  json_t *tree = json_object();
  for (const char *const *f = files; f[0]; f += 2) json_object_set_new(tree, f[0], json_string(f[1]));
  char err[512] = "";
  int rc = pv ? acs_policy_vm_load_json(pv, tree, err, sizeof err) : -1;
  if (rc) fprintf(stderr, "tree: %s\n", err);
  CHECK(rc == 0);
  json_decref(tree);
  return pv;
}

/* The first RPC of a phase, copied out of the session. */
typedef struct first_rpc {
  acs_cwmp_kind kind;
  size_t n;      /* GetParameterValues: names */
  char name[256]; /* ... the first */
} first_rpc;

/* Runs a session's phase to its first stop; the channels that did not
 * complete are printed and counted into *undone. */
static bool phase(acs_policy_vm *pv, acs_dm *model, first_rpc *out, int *undone) {
  acs__session s;
  session_init(&s, model);
  acs_cwmp_msg m;
  bool rpc = acs__policy_next(&s, pv, &m);
  memset(out, 0, sizeof *out);
  if (rpc) {
    out->kind = m.kind;
    if (m.kind == ACS_CWMP_GET_PARAMETER_VALUES) {
      out->n = m.u.get_parameter_values.names.n;
      if (out->n) snprintf(out->name, sizeof out->name, "%s", m.u.get_parameter_values.names.v[0]);
    }
  }
  *undone = 0;
  for (size_t i = 0; s.pol && i < s.pol->nchans; i++) {
    const pchan *c = &s.pol->chans[i];
    if (c->done) continue;
    (*undone)++;
    fprintf(stderr, "  channel %s (%s): %s\n", c->channel, c->provision,
            c->ch ? acs_script_chan_fault_message(c->ch) : "not started");
  }
  session_free(&s, model);
  return rpc;
}

/* clear() moves the model's epoch: a declaration read before, and needing
 * nothing then, is planned again (a GetParameterValues), not answered from
 * what was remembered. */
static void test_clear_replans(acs_dm *model) {
  static const char *const files[] = {
      "presets/p", "return {{name = 'p', provisions = {'t'}, channel = 't'}}",
      "provisions/t",
      "local h = refresh('Device.DeviceInfo.UpTime', 3600)\n"
      "commit()\n"
      "assert(h.value, 'fresh and known: no RPC')\n"
      "assert(clear('Device.DeviceInfo.UpTime') == 1)\n"
      "local v = h:get() -- the same declaration: now it needs a read\n",
      NULL};
  acs_policy_vm *pv = tree_vm(files);
  first_rpc out;
  int undone = 0;
  bool rpc = pv && phase(pv, model, &out, &undone);
  CHECK(rpc);
  CHECK_INT(out.kind, ACS_CWMP_GET_PARAMETER_VALUES);
  CHECK_INT(out.n, 1);
  CHECK_STR(out.name, "Device.DeviceInfo.UpTime");
  CHECK_INT(undone, 1); /* t waits for the answer */
  /* the model is the session's: what clear() forgot, a new session knows again */
  acs_dm_param *up = acs_dm_get(model, "Device.DeviceInfo.UpTime");
  if (up) up->value_at = up->names_at = acs_policy_now_ms();
  acs_policy_vm_free(pv);
}

/* Sessions share a generation's compiled chunks, the standard library (run
 * once per generation: its functions and frozen tables) and the frozen API,
 * never state: whatever one session's policies change (globals, the
 * library's functions as the session sees them, the device table, the
 * virtual parameters computed), the next session of the same VM sees none
 * of it, and what they share cannot be changed at all. */
static void test_sessions_leave_nothing(acs_dm *model) {
  static const char *const files[] = {
      "presets/p",
      "return {{name = 'a', events = {'1 BOOT'}, provisions = {'spoil', 'seen'}, channel = 'a'},\n"
      "        {name = 'b', events = {'2 PERIODIC'}, provisions = {'check'}, channel = 'b'}}",
      "virtual/Ev", "return {get = function() return device.events[1] end}",
      "provisions/spoil",
      "leak = 'a global'\n"
      "assert(declare('VirtualParameters.Ev', {value = true}).value == '1 BOOT')\n"
      "function has_tag() return true end\n"
      "local h = refresh('Device.DeviceInfo.UpTime', 3600)\n"
      "assert(getmetatable(h) == false and not pcall(setmetatable, h, {}), 'a shared metatable')\n"
      "assert(not pcall(function() SEVERITIES.spoiled = true end), 'a library table is writable')\n"
      "assert(not pcall(rawset, SEVERITIES, 'spoiled', true), 'a library table is writable')\n"
      "function declare() return 'spoiled' end\n"
      "device.tags[#device.tags + 1] = 'spoiled'\n"
      "assert(not pcall(function() string.spoiled = 1 end))\n"
      "assert(not pcall(rawset, math, 'pi', 3))\n",
      /* the spoils hold within their session (the check below can fail) */
      "provisions/seen",
      "assert(leak == 'a global' and has_tag('nope'))\n"
      "assert(refresh('Device.DeviceInfo.UpTime', 3600) == 'spoiled', 'the library sees the run')\n"
      "assert(device.tags[#device.tags] == 'spoiled')\n",
      "provisions/check",
      "assert(rawget(_G, 'leak') == nil, 'a global leaked')\n"
      "assert(not has_tag('nope'), 'a library function leaked')\n"
      "assert(type(refresh('Device.DeviceInfo.UpTime', 3600)) == 'table', 'a shadowing leaked')\n"
      "assert(SEVERITIES.spoiled == nil and SEVERITIES.major, 'a library table changed')\n"
      "for _, t in ipairs(device.tags) do assert(t ~= 'spoiled', 'the device table leaked') end\n"
      "assert(declare('VirtualParameters.Ev', {value = true}).value == '2 PERIODIC',\n"
      "       'a virtual parameter computed by another session')\n"
      "assert(string.spoiled == nil and math.pi > 3.14, 'a shared library changed')\n",
      NULL};
  acs_policy_vm *pv = tree_vm(files);
  first_rpc out;
  int undone = 0;
  events[0].code = "1 BOOT"; /* spoil, then seen */
  CHECK(pv && !phase(pv, model, &out, &undone));
  CHECK_INT(undone, 0);
  events[0].code = "2 PERIODIC"; /* the next sessions of the VM: check */
  for (int i = 0; pv && i < 3; i++) {
    CHECK(!phase(pv, model, &out, &undone));
    CHECK_INT(undone, 0);
  }
  acs_policy_vm_free(pv);
}

static double cpu_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* One periodic session's policy phase: no RPC, every channel done. */
static void one_phase(acs_policy_vm *pv, acs_dm *model, bool check, double *secs) {
  acs__session s;
  session_init(&s, model);
  acs_cwmp_msg out;
  double t0 = cpu_now();
  bool rpc = acs__policy_next(&s, pv, &out);
  double t1 = cpu_now();
  if (check) {
    CHECK(!rpc);
    CHECK(s.pol != NULL);
    if (s.pol) {
      /* presets/default, refresh, cr_credentials, acs_credentials, wifi, three alarm rules */
      CHECK_INT(s.pol->nchans, 8);
      for (size_t i = 0; i < s.pol->nchans; i++) {
        const pchan *c = &s.pol->chans[i];
        if (!c->done)
          fprintf(stderr, "channel %s (%s): %s\n", c->channel, c->provision,
                  c->ch ? acs_script_chan_fault_message(c->ch) : "not started");
        CHECK(c->done);
      }
      CHECK_INT(json_array_size(s.pol->actions), 0);
    }
    const acs_dm_param *v = acs_dm_get(&s.dm, "VirtualParameters.WANIPAddress");
    CHECK(v && v->value && strcmp(v->value, "") != 0); /* computed in this session */
  }
  double t2 = cpu_now();
  acs__policy_free(&s); /* the phase's own; the model and the context are the session's */
  double t3 = cpu_now();
  session_free(&s, model);
  *secs += (t1 - t0) + (t3 - t2);
}

int main(void) {
  if (!getenv("ACS_SOURCE_DIR")) return 77;
  acs_config_init(&cfg);
  app.cfg = &cfg;
  aw.app = &app;
  table.aw = &aw;
  char dir[1024], err[512] = "";
  snprintf(dir, sizeof dir, "%s/policies", getenv("ACS_SOURCE_DIR"));
  acs_policy_vm *pv = acs_policy_vm_new(dir, err, sizeof err);
  CHECK(pv && !pv->error);
  if (!pv || pv->error) {
    fprintf(stderr, "policies/: %s\n", err);
    return acs_test_result("test_policy_phase");
  }
  acs_dm model;
  acs_dm_init(&model);
  CHECK(load_model(&model, acs_policy_now_ms()) == 0);
  CHECK(model.n > 1000);

  double secs = 0;
  one_phase(pv, &model, true, &secs);
  const char *e = getenv("ACS_BENCH_ITERS");
  int iters = e ? atoi(e) : 200;
  if (iters < 1) iters = 1;
  secs = 0;
  for (int i = 0; i < iters; i++) one_phase(pv, &model, i == iters - 1, &secs);
  printf("policy phase (example policies, steady periodic session): %.1f us CPU per session "
         "(%d sessions); VM %zu KiB\n",
         secs / iters * 1e6, iters, acs_script_vm_memory(pv->vm) >> 10);

  acs_policy_vm_free(pv);
  test_clear_replans(&model);
  test_sessions_leave_nothing(&model);
  acs_dm_free(&model);
  acs_config_free(&cfg);
  return acs_test_result("test_policy_phase");
}
