/* test_plan: the data model and the declaration planner (acs_plan.h). Pins
 * the RPC counts of the scenarios the policy runtime is judged by:
 *   all values fresh: 0 RPCs; 20 stale values over the tree: 1
 *   GetParameterValues; 3 values set of which 1 differs: 1
 *   SetParameterValues with 1 value; 2 instances wanted where 4 exist: 2
 *   DeleteObjects; an unknown subtree: 1 GetParameterNames, then 1
 *   GetParameterValues, then nothing. */
#include "acs_test.h"
#include "core/acs_err.h"
#include "session/acs_plan.h"

static void put(acs_dm *dm, const char *name, const char *value, acs_cwmp_type t, int writable,
                int64_t at) {
  acs_dm_param *p = acs_dm_put(dm, name);
  if (!p) return;
  if (value) {
    free(p->value);
    p->value = strdup(value);
    p->value_at = at;
  }
  p->type = t;
  p->writable = (int8_t)writable;
}

static void gateway(acs_dm *dm, int64_t at) {
  char n[128];
  for (int i = 0; i < 20; i++) {
    snprintf(n, sizeof n, "Device.Area%d.Leaf%d", i % 5, i);
    put(dm, n, "v", ACS_XSD_STRING, 1, at);
  }
  put(dm, "Device.ManagementServer.PeriodicInformInterval", "300", ACS_XSD_UNSIGNEDINT, 1, at);
  put(dm, "Device.ManagementServer.PeriodicInformEnable", "1", ACS_XSD_BOOLEAN, 1, at);
  put(dm, "Device.DeviceInfo.ProvisioningCode", "abc", ACS_XSD_STRING, 1, at);
  put(dm, "Device.DeviceInfo.SoftwareVersion", "1.0", ACS_XSD_STRING, 0, at);
  acs_dm_param *t = acs_dm_put(dm, "Device.WiFi.SSID.");
  if (t) t->names_at = at;
  for (int i = 1; i <= 4; i++) {
    snprintf(n, sizeof n, "Device.WiFi.SSID.%d.", i);
    acs_dm_param *o = acs_dm_put(dm, n);
    if (o) o->names_at = at;
    snprintf(n, sizeof n, "Device.WiFi.SSID.%d.SSID", i);
    put(dm, n, i == 2 ? "guest" : "home", ACS_XSD_STRING, 1, at);
    snprintf(n, sizeof n, "Device.WiFi.SSID.%d.Enable", i);
    put(dm, n, "true", ACS_XSD_BOOLEAN, 1, at);
  }
}

static int plan(const acs_dm *dm, const acs_decl *d, size_t n, acs_arena *a, acs_plan *p) {
  int rc = acs_plan_next(dm, d, n, 5000, a, p);
  CHECK_INT(rc, 0);
  return rc;
}

static void test_fresh(void) {
  acs_dm dm;
  acs_dm_init(&dm);
  gateway(&dm, 1000);
  acs_arena a;
  acs_arena_init(&a, 0);
  acs_decl d[3] = {ACS_DECL_INIT, ACS_DECL_INIT, ACS_DECL_INIT};
  d[0].path = "Device.ManagementServer.PeriodicInformInterval";
  d[0].value_at = 900;
  d[1].path = "Device.DeviceInfo.SoftwareVersion";
  d[1].value_at = 1000;
  d[2].path = "Device.WiFi.SSID.*.SSID";
  d[2].value_at = 500;
  acs_plan p;
  plan(&dm, d, 3, &a, &p);
  CHECK_INT(p.n, 0);
  CHECK_INT(p.stage, 0);
  acs_arena_reset(&a);
  acs_dm_free(&dm);
}

static void test_stale(void) {
  acs_dm dm;
  acs_dm_init(&dm);
  gateway(&dm, 1000);
  acs_arena a;
  acs_arena_init(&a, 0);
  acs_decl d[20];
  char names[20][64];
  for (int i = 0; i < 20; i++) {
    d[i] = (acs_decl)ACS_DECL_INIT;
    snprintf(names[i], sizeof names[i], "Device.Area%d.Leaf%d", i % 5, i);
    d[i].path = names[i];
    d[i].value_at = 2000;
  }
  acs_plan p;
  plan(&dm, d, 20, &a, &p);
  CHECK_INT(p.n, 1);
  CHECK_INT(p.stage, 3);
  if (p.n == 1) {
    CHECK_INT(p.rpcs[0].kind, ACS_CWMP_GET_PARAMETER_VALUES);
    CHECK_INT(p.rpcs[0].u.get_parameter_values.names.n, 20);
  }
  acs_arena_reset(&a);
  acs_dm_free(&dm);
}

static void test_set(void) {
  acs_dm dm;
  acs_dm_init(&dm);
  gateway(&dm, 1000);
  acs_arena a;
  acs_arena_init(&a, 0);
  acs_decl d[4] = {ACS_DECL_INIT, ACS_DECL_INIT, ACS_DECL_INIT, ACS_DECL_INIT};
  d[0].path = "Device.ManagementServer.PeriodicInformInterval";
  d[0].value = "0300"; /* the same number */
  d[1].path = "Device.ManagementServer.PeriodicInformEnable";
  d[1].value = "true"; /* the same boolean as "1" */
  d[2].path = "Device.DeviceInfo.ProvisioningCode";
  d[2].value = "xyz";
  d[3].path = "Device.DeviceInfo.SoftwareVersion"; /* read-only: never set */
  d[3].value = "2.0";
  acs_plan p;
  plan(&dm, d, 4, &a, &p);
  CHECK_INT(p.n, 1);
  CHECK_INT(p.stage, 4);
  if (p.n == 1) {
    CHECK_INT(p.rpcs[0].kind, ACS_CWMP_SET_PARAMETER_VALUES);
    CHECK_INT(p.rpcs[0].u.set_parameter_values.params.n, 1);
    if (p.rpcs[0].u.set_parameter_values.params.n == 1) {
      CHECK_STR(p.rpcs[0].u.set_parameter_values.params.v[0].name,
                "Device.DeviceInfo.ProvisioningCode");
      CHECK_STR(p.rpcs[0].u.set_parameter_values.params.v[0].value, "xyz");
      CHECK_INT(p.rpcs[0].u.set_parameter_values.params.v[0].type, ACS_XSD_STRING);
      /* applying the answer makes the next plan empty */
      acs_cwmp_msg ok = {.kind = ACS_CWMP_SET_PARAMETER_VALUES_RESPONSE};
      CHECK_INT(acs_dm_apply(&dm, &p.rpcs[0], &ok, 6000), 0);
      plan(&dm, d, 4, &a, &p);
      CHECK_INT(p.n, 0);
      CHECK_STR(acs_dm_get(&dm, "Device.DeviceInfo.ProvisioningCode")->value, "xyz");
    }
  }
  acs_arena_reset(&a);
  acs_dm_free(&dm);
}

static void test_instances(void) {
  acs_dm dm;
  acs_dm_init(&dm);
  gateway(&dm, 1000);
  acs_arena a;
  acs_arena_init(&a, 0);
  acs_decl d = ACS_DECL_INIT;
  d.path = "Device.WiFi.SSID.*";
  d.instances = 2;
  acs_plan p;
  plan(&dm, &d, 1, &a, &p);
  CHECK_INT(p.n, 2);
  CHECK_INT(p.stage, 2);
  if (p.n == 2) {
    CHECK_INT(p.rpcs[0].kind, ACS_CWMP_DELETE_OBJECT);
    CHECK_INT(p.rpcs[1].kind, ACS_CWMP_DELETE_OBJECT);
    CHECK_STR(p.rpcs[0].u.delete_object.object_name, "Device.WiFi.SSID.3.");
    CHECK_STR(p.rpcs[1].u.delete_object.object_name, "Device.WiFi.SSID.4.");
    acs_cwmp_msg ok = {.kind = ACS_CWMP_DELETE_OBJECT_RESPONSE};
    acs_cwmp_msg sent0 = p.rpcs[0], sent1 = p.rpcs[1];
    CHECK_INT(acs_dm_apply(&dm, &sent0, &ok, 6000), 0);
    CHECK_INT(acs_dm_apply(&dm, &sent1, &ok, 6000), 0);
    CHECK(acs_dm_get(&dm, "Device.WiFi.SSID.4.SSID") == NULL);
    plan(&dm, &d, 1, &a, &p);
    CHECK_INT(p.n, 0);
  }
  /* three wanted where two exist: one AddObject, then a listing of the table */
  d.instances = 3;
  plan(&dm, &d, 1, &a, &p);
  CHECK_INT(p.n, 1);
  if (p.n == 1) {
    CHECK_INT(p.rpcs[0].kind, ACS_CWMP_ADD_OBJECT);
    CHECK_STR(p.rpcs[0].u.add_object.object_name, "Device.WiFi.SSID.");
    acs_cwmp_msg sent = p.rpcs[0];
    acs_cwmp_msg rsp = {.kind = ACS_CWMP_ADD_OBJECT_RESPONSE};
    rsp.u.add_object_response.instance_number = 7;
    CHECK_INT(acs_dm_apply(&dm, &sent, &rsp, 6000), 0);
    CHECK(acs_dm_get(&dm, "Device.WiFi.SSID.7.") != NULL);
    plan(&dm, &d, 1, &a, &p);
    CHECK_INT(p.stage, 1); /* the new instance's parameters are unknown */
  }
  acs_arena_reset(&a);
  acs_dm_free(&dm);
}

static void test_alias_and_wildcard_set(void) {
  acs_dm dm;
  acs_dm_init(&dm);
  gateway(&dm, 1000);
  acs_arena a;
  acs_arena_init(&a, 0);
  CHECK(acs_plan_match(&dm, "Device.WiFi.SSID.[SSID:guest].Enable", "Device.WiFi.SSID.2.Enable"));
  CHECK(!acs_plan_match(&dm, "Device.WiFi.SSID.[SSID:guest].Enable", "Device.WiFi.SSID.1.Enable"));
  CHECK(acs_plan_match(&dm, "Device.WiFi.SSID.*.Enable", "Device.WiFi.SSID.3.Enable"));
  CHECK(!acs_plan_match(&dm, "Device.WiFi.SSID.*.Enable", "Device.WiFi.SSID.X.Enable"));
  acs_decl d = ACS_DECL_INIT;
  d.path = "Device.WiFi.SSID.[SSID:guest].Enable";
  d.value = "false";
  acs_plan p;
  plan(&dm, &d, 1, &a, &p);
  CHECK_INT(p.n, 1);
  if (p.n == 1) {
    CHECK_INT(p.rpcs[0].u.set_parameter_values.params.n, 1);
    CHECK_STR(p.rpcs[0].u.set_parameter_values.params.v[0].name, "Device.WiFi.SSID.2.Enable");
    CHECK_INT(p.rpcs[0].u.set_parameter_values.params.v[0].type, ACS_XSD_BOOLEAN);
  }
  d.path = "Device.WiFi.SSID.*.Enable";
  plan(&dm, &d, 1, &a, &p);
  CHECK_INT(p.n, 1);
  if (p.n == 1) CHECK_INT(p.rpcs[0].u.set_parameter_values.params.n, 4);
  d.value = NULL;
  d.notification = 2;
  plan(&dm, &d, 1, &a, &p);
  CHECK_INT(p.stage, 5);
  if (p.n == 1) CHECK_INT(p.rpcs[0].u.set_parameter_attributes.params.n, 4);
  acs_arena_reset(&a);
  acs_dm_free(&dm);
}

/* A lone unknown parameter (its value wanted): listed by its own name, the
 * listing answered with fault code; p is then the next plan. False when
 * the first plan was not that listing. */
static bool refused_by_name(acs_dm *dm, acs_arena *a, const char *path, unsigned code,
                            acs_plan *p) {
  acs_decl d = ACS_DECL_INIT;
  d.path = path;
  d.value_at = 5000;
  plan(dm, &d, 1, a, p);
  CHECK_INT(p->n, 1);
  if (p->n != 1) return false;
  CHECK_INT(p->rpcs[0].kind, ACS_CWMP_GET_PARAMETER_NAMES);
  CHECK_STR(p->rpcs[0].u.get_parameter_names.parameter_path, path);
  CHECK_INT(p->rpcs[0].u.get_parameter_names.next_level, 0);
  acs_cwmp_msg sent = p->rpcs[0];
  acs_cwmp_msg f = {.kind = ACS_CWMP_FAULT};
  f.u.fault.code = code;
  CHECK_INT(acs_dm_apply(dm, &sent, &f, 5000), 0);
  plan(dm, &d, 1, a, p);
  return true;
}

static void test_discovery(void) {
  acs_dm dm;
  acs_dm_init(&dm);
  gateway(&dm, 1000);
  acs_arena a;
  acs_arena_init(&a, 0);
  acs_decl d[2] = {ACS_DECL_INIT, ACS_DECL_INIT};
  d[0].path = "Device.Hosts.Host.*.HostName";
  d[0].value_at = 5000;
  d[1].path = "Device.Hosts.Host.*.IPAddress";
  d[1].value_at = 5000;
  acs_plan p;
  plan(&dm, d, 2, &a, &p);
  CHECK_INT(p.n, 1);
  CHECK_INT(p.stage, 1);
  if (p.n != 1) goto out;
  CHECK_INT(p.rpcs[0].kind, ACS_CWMP_GET_PARAMETER_NAMES);
  CHECK_STR(p.rpcs[0].u.get_parameter_names.parameter_path, "Device.Hosts.Host.");
  CHECK_INT(p.rpcs[0].u.get_parameter_names.next_level, 0);
  acs_cwmp_msg sent = p.rpcs[0];
  acs_cwmp_param_info info[] = {
      {"Device.Hosts.Host.1.", false},          {"Device.Hosts.Host.1.HostName", false},
      {"Device.Hosts.Host.1.IPAddress", false}, {"Device.Hosts.Host.2.", false},
      {"Device.Hosts.Host.2.HostName", false},  {"Device.Hosts.Host.2.IPAddress", false},
  };
  acs_cwmp_msg rsp = {.kind = ACS_CWMP_GET_PARAMETER_NAMES_RESPONSE};
  rsp.u.get_parameter_names_response.params.v = info;
  rsp.u.get_parameter_names_response.params.n = 6;
  CHECK_INT(acs_dm_apply(&dm, &sent, &rsp, 5000), 0);
  plan(&dm, d, 2, &a, &p);
  CHECK_INT(p.n, 1);
  CHECK_INT(p.stage, 3);
  if (p.n != 1) goto out;
  CHECK_INT(p.rpcs[0].u.get_parameter_values.names.n, 4);
  acs_cwmp_msg gpv = p.rpcs[0];
  acs_cwmp_param_value vals[4];
  for (size_t i = 0; i < 4; i++)
    vals[i] = (acs_cwmp_param_value){gpv.u.get_parameter_values.names.v[i], "x", ACS_XSD_STRING};
  acs_cwmp_msg vr = {.kind = ACS_CWMP_GET_PARAMETER_VALUES_RESPONSE};
  vr.u.get_parameter_values_response.params.v = vals;
  vr.u.get_parameter_values_response.params.n = 4;
  CHECK_INT(acs_dm_apply(&dm, &gpv, &vr, 5000), 0);
  plan(&dm, d, 2, &a, &p);
  CHECK_INT(p.n, 0);
  /* a parameter the CPE does not have: listed by its own name (not its
   * object's subtree), answered 9005, then nothing; the device cache
   * forgets what the 9005 taught, as the store never holds it */
  if (refused_by_name(&dm, &a, "Device.Nope.X", 9005, &p)) {
    CHECK_INT(p.n, 0);
    const acs_dm_param *x = acs_dm_get(&dm, "Device.Nope.X");
    CHECK(x && x->absent);
    size_t before = dm.n;
    acs_dm_forget_absent(&dm);
    CHECK(acs_dm_get(&dm, "Device.Nope.X") == NULL);
    CHECK_INT(dm.n, before - 1);
  }
  /* one it has: the listing of its name alone, then its value, then nothing */
  acs_decl g = ACS_DECL_INIT;
  g.path = "Device.Extra.Y";
  g.value_at = 5000;
  plan(&dm, &g, 1, &a, &p);
  CHECK_INT(p.n, 1);
  if (p.n == 1) {
    CHECK_STR(p.rpcs[0].u.get_parameter_names.parameter_path, "Device.Extra.Y");
    acs_cwmp_msg s3 = p.rpcs[0];
    acs_cwmp_param_info one[] = {{"Device.Extra.Y", true}};
    acs_cwmp_msg r3 = {.kind = ACS_CWMP_GET_PARAMETER_NAMES_RESPONSE};
    r3.u.get_parameter_names_response.params.v = one;
    r3.u.get_parameter_names_response.params.n = 1;
    CHECK_INT(acs_dm_apply(&dm, &s3, &r3, 5000), 0);
    plan(&dm, &g, 1, &a, &p);
    CHECK_INT(p.stage, 3);
    CHECK_INT(p.n, 1);
    if (p.n == 1) {
      CHECK_INT(p.rpcs[0].u.get_parameter_values.names.n, 1);
      acs_cwmp_msg gv = p.rpcs[0];
      acs_cwmp_param_value yv = {"Device.Extra.Y", "7", ACS_XSD_UNSIGNEDINT};
      acs_cwmp_msg gr = {.kind = ACS_CWMP_GET_PARAMETER_VALUES_RESPONSE};
      gr.u.get_parameter_values_response.params.v = &yv;
      gr.u.get_parameter_values_response.params.n = 1;
      CHECK_INT(acs_dm_apply(&dm, &gv, &gr, 5000), 0);
      plan(&dm, &g, 1, &a, &p);
      CHECK_INT(p.n, 0);
    }
  }
  /* a CPE that refuses to list a parameter by its own name (a fault other
   * than 9005): its object is listed next, and no longer the name */
  if (refused_by_name(&dm, &a, "Device.Quirk.Z", 9003, &p)) {
    CHECK_INT(p.n, 1);
    if (p.n == 1) CHECK_STR(p.rpcs[0].u.get_parameter_names.parameter_path, "Device.Quirk.");
  }
  /* two of one unknown object: one listing, of the object (one round trip) */
  acs_decl two[2] = {ACS_DECL_INIT, ACS_DECL_INIT};
  two[0].path = "Device.Other.A";
  two[0].value_at = 5000;
  two[1].path = "Device.Other.B";
  two[1].value_at = 5000;
  plan(&dm, two, 2, &a, &p);
  CHECK_INT(p.n, 1);
  if (p.n == 1) CHECK_STR(p.rpcs[0].u.get_parameter_names.parameter_path, "Device.Other.");
  /* a parameter under an object listed whole: known absent, no listing */
  acs_decl h = ACS_DECL_INIT;
  h.path = "Device.WiFi.SSID.1.Missing";
  h.value_at = 5000;
  plan(&dm, &h, 1, &a, &p);
  CHECK_INT(p.n, 0);
out:
  acs_arena_reset(&a);
  acs_dm_free(&dm);
}

static void test_vanished(void) {
  acs_dm dm;
  acs_dm_init(&dm);
  gateway(&dm, 1000);
  acs_cwmp_msg gpn = {.kind = ACS_CWMP_GET_PARAMETER_NAMES};
  gpn.u.get_parameter_names.parameter_path = "Device.WiFi.SSID.";
  acs_cwmp_param_info info[] = {{"Device.WiFi.SSID.1.", true}, {"Device.WiFi.SSID.1.SSID", true}};
  acs_cwmp_msg rsp = {.kind = ACS_CWMP_GET_PARAMETER_NAMES_RESPONSE};
  rsp.u.get_parameter_names_response.params.v = info;
  rsp.u.get_parameter_names_response.params.n = 2;
  CHECK_INT(acs_dm_apply(&dm, &gpn, &rsp, 3000), 0);
  CHECK(acs_dm_get(&dm, "Device.WiFi.SSID.1.SSID") != NULL);
  CHECK(acs_dm_get(&dm, "Device.WiFi.SSID.1.Enable") == NULL);
  CHECK(acs_dm_get(&dm, "Device.WiFi.SSID.2.") == NULL);
  CHECK(acs_dm_get(&dm, "Device.WiFi.SSID.4.SSID") == NULL);
  CHECK(acs_dm_get(&dm, "Device.DeviceInfo.SoftwareVersion") != NULL);
  acs_dm_param *t = acs_dm_get(&dm, "Device.WiFi.SSID.");
  CHECK(t && t->names_at == 3000);
  acs_arena a;
  acs_arena_init(&a, 0);
  acs_decl d = ACS_DECL_INIT;
  d.path = "Device.WiFi.[bad";
  d.value_at = 1;
  acs_plan p;
  CHECK_INT(acs_plan_next(&dm, &d, 1, 0, &a, &p), ACS_EINVAL);
  acs_arena_reset(&a);
  acs_dm_free(&dm);
}

/* Regression, issue 11: a CPE that answers the partial path
 * "Device.Area1." with the object alone (xsi:type "object") had the same
 * GetParameterValues sent 31 times. The object stays an object (no value),
 * and the next plan asks for the parameters it knows by name. */
static void test_object_only_answer(void) {
  acs_dm dm;
  acs_dm_init(&dm);
  gateway(&dm, 1000);
  acs_dm_put(&dm, "Device.")->names_at = 1000; /* listed by GetParameterNames */
  acs_arena a;
  acs_arena_init(&a, 0);
  acs_decl d[1] = {ACS_DECL_INIT};
  d[0].path = "Device.Area1.";
  d[0].value_at = 2000;
  acs_plan p;
  plan(&dm, d, 1, &a, &p);
  CHECK_INT(p.n, 1);
  CHECK_INT(p.stage, 3);
  if (p.n != 1) return;
  CHECK_INT(p.rpcs[0].u.get_parameter_values.names.n, 1);
  CHECK_STR(p.rpcs[0].u.get_parameter_values.names.v[0], "Device.Area1.");
  acs_cwmp_msg rsp;
  memset(&rsp, 0, sizeof rsp);
  rsp.kind = ACS_CWMP_GET_PARAMETER_VALUES_RESPONSE;
  acs_cwmp_param_value only = {(char *)"Device.Area1.", (char *)"", ACS_XSD_OBJECT};
  rsp.u.get_parameter_values_response.params.v = &only;
  rsp.u.get_parameter_values_response.params.n = 1;
  CHECK_INT(acs_dm_apply(&dm, &p.rpcs[0], &rsp, 3000), 0);
  acs_dm_param *o = acs_dm_get(&dm, "Device.Area1.");
  CHECK(o && o->object && !o->value && o->leaves_only);
  /* the same typed "object" under a name without its dot */
  only.name = (char *)"Device.Area2";
  CHECK_INT(acs_dm_apply(&dm, &p.rpcs[0], &rsp, 3000), 0);
  CHECK(acs_dm_get(&dm, "Device.Area2") == NULL);
  o = acs_dm_get(&dm, "Device.Area2.");
  CHECK(o && o->object && !o->value);
  acs_arena_reset(&a);
  plan(&dm, d, 1, &a, &p);
  CHECK_INT(p.stage, 3);
  if (p.n == 1) {
    const acs_cwmp_strings *n = &p.rpcs[0].u.get_parameter_values.names;
    CHECK_INT(n->n, 4); /* Device.Area1.Leaf1, 6, 11, 16 */
    for (size_t i = 0; i < n->n; i++) CHECK(strncmp(n->v[i], "Device.Area1.Leaf", 17) == 0);
  }
  acs_arena_reset(&a);
  acs_dm_free(&dm);
}

/* The planner's instance walk skips each instance's subtree by binary
 * search, and acs_dm_range finds its end the same way: both checked against
 * a plain scan over random models (instance numbers of 1 to 3 digits, names
 * that are not instances, absent instance objects, instances listed without
 * their object, deep tables). */
static unsigned rnd_state = 12345;
static unsigned rnd(unsigned n) {
  rnd_state = rnd_state * 1103515245u + 12345u;
  return (rnd_state >> 16) % n;
}

static void random_model(acs_dm *dm) {
  static const char *const inst[] = {"1", "2", "3", "9", "10", "11", "19", "100", "x", "1a"};
  static const char *const leaf[] = {"X", "Y", "XX", "Z.W"};
  char n[256];
  int tables = 1 + (int)rnd(3);
  for (int t = 0; t < tables; t++) {
    for (int k = 0; k < 6; k++) {
      const char *i = inst[rnd(10)];
      if (rnd(3)) { /* the instance object, sometimes absent */
        snprintf(n, sizeof n, "Device.T%d.%s.", t, i);
        acs_dm_param *o = acs_dm_put(dm, n);
        if (o && !rnd(4)) o->absent = true;
      }
      for (int l = 0; l < 4; l++) {
        snprintf(n, sizeof n, "Device.T%d.%s.%s", t, i, leaf[rnd(4)]);
        put(dm, n, "v", ACS_XSD_STRING, 1, 1000);
        snprintf(n, sizeof n, "Device.T%d.%s.S.%s.Y", t, i, inst[rnd(10)]);
        put(dm, n, "v", ACS_XSD_STRING, 1, 1000);
      }
    }
    snprintf(n, sizeof n, "Device.T%d.Count", t);
    put(dm, n, "3", ACS_XSD_UNSIGNEDINT, 0, 1000);
  }
  put(dm, "Device.T0X", "v", ACS_XSD_STRING, 1, 1000); /* a sibling sharing the prefix's text */
  acs_dm_param *root = acs_dm_put(dm, "Device."); /* the whole tree listed */
  if (root) root->names_at = 1000;
}

static bool digits(const char *p, size_t n) {
  if (!n) return false;
  for (size_t i = 0; i < n; i++)
    if (p[i] < '0' || p[i] > '9') return false;
  return true;
}

/* Does name match pattern ('*' = an instance number), with every instance
 * object on the way present (or not known)? The reference for the planner. */
static bool ref_match(const acs_dm *dm, const char *pat, const char *name) {
  const char *p = pat, *q = name;
  while (*p && *q) {
    const char *pe = strchr(p, '.'), *qe = strchr(q, '.');
    size_t pl = pe ? (size_t)(pe - p) : strlen(p), ql = qe ? (size_t)(qe - q) : strlen(q);
    if (pl == 1 && *p == '*') {
      if (!digits(q, ql) || !qe) return false;
      char obj[256];
      snprintf(obj, sizeof obj, "%.*s", (int)(qe - name + 1), name);
      const acs_dm_param *o = acs_dm_get(dm, obj);
      if (o && o->absent) return false;
    } else if (pl != ql || memcmp(p, q, pl) != 0) {
      return false;
    }
    if (!pe || !qe) return !pe && !qe;
    p = pe + 1;
    q = qe + 1;
  }
  return !*p && !*q;
}

static void test_instance_walk(void) {
  for (int round = 0; round < 200; round++) {
    acs_dm dm;
    acs_dm_init(&dm);
    random_model(&dm);
    /* ranges: every name's every prefix, and some that are in no name */
    for (size_t i = 0; i < dm.n; i++) {
      char pre[256];
      size_t len = strlen(dm.v[i].name);
      for (size_t cut = 0; cut <= len; cut += 1 + rnd(4)) {
        snprintf(pre, sizeof pre, "%.*s", (int)cut, dm.v[i].name);
        size_t first, end, want_first = dm.n, want_end = dm.n;
        for (size_t j = 0; j < dm.n; j++)
          if (strncmp(dm.v[j].name, pre, cut) == 0) {
            if (want_first == dm.n) want_first = j;
            want_end = j + 1;
          }
        acs_dm_range(&dm, pre, &first, &end);
        if (want_first == dm.n) want_first = want_end = first; /* empty: anywhere */
        CHECK(first == want_first && end == want_end);
      }
    }
    static const char *const pats[] = {"Device.T0.*.X", "Device.T1.*.S.*.Y", "Device.T2.*.Z.W",
                                       "Device.T0.*.S.*.Y"};
    for (size_t k = 0; k < sizeof pats / sizeof pats[0]; k++) {
      acs_decl d = ACS_DECL_INIT;
      d.path = pats[k];
      d.value_at = 2000; /* every value is older: the plan reads every match */
      acs_arena a;
      acs_arena_init(&a, 0);
      acs_plan p;
      CHECK_INT(acs_plan_next(&dm, &d, 1, 5000, &a, &p), 0);
      size_t want = 0, got = p.n ? p.rpcs[0].u.get_parameter_values.names.n : 0;
      for (size_t j = 0; j < dm.n; j++)
        if (!dm.v[j].object && !dm.v[j].absent && ref_match(&dm, pats[k], dm.v[j].name)) {
          bool listed = false;
          for (size_t m = 0; m < got; m++)
            listed = listed || strcmp(p.rpcs[0].u.get_parameter_values.names.v[m], dm.v[j].name) == 0;
          CHECK(listed);
          want++;
        }
      CHECK(got == want);
      if (want) CHECK_INT(p.stage, 3);
      acs_arena_reset(&a);
    }
    acs_dm_free(&dm);
  }
}

/* acs_plan_settled never answers "no work" where the planner has some:
 * random declarations of names of random models (and names they lack,
 * objects, patterns), fresh or old, setting the value they have or
 * another, typed or not; and it does answer for the plain cases (a fresh
 * value read, the value a set wants), so that the shortcut is taken. */
static void test_settled(void) {
  static const char *const vals[] = {"v", "w", "3", "03", "true", "1"};
  static const acs_cwmp_type types[] = {ACS_XSD_ANY, ACS_XSD_STRING, ACS_XSD_UNSIGNEDINT,
                                        ACS_XSD_BOOLEAN};
  acs_arena a;
  acs_arena_init(&a, 0);
  int settled = 0, tried = 0;
  for (int m = 0; m < 100; m++) {
    acs_dm dm;
    acs_dm_init(&dm);
    random_model(&dm);
    put(&dm, "Device.RO", "v", ACS_XSD_STRING, 0, 1000);
    put(&dm, "Device.Old", "v", ACS_XSD_STRING, 1, 0);
    for (int k = 0; k < 200; k++) {
      char path[256];
      size_t i = rnd((unsigned)dm.n + 4);
      const char *const extra[] = {"Device.Missing", "Device.T0.*.X", "Device.T0.", "Device..X"};
      snprintf(path, sizeof path, "%s", i < dm.n ? dm.v[i].name : extra[i - dm.n]);
      acs_decl d = ACS_DECL_INIT;
      d.path = path;
      d.value_at = rnd(3) ? (int64_t)rnd(3) * 1000 : -1;
      if (rnd(2)) d.value = vals[rnd(6)];
      d.type = types[rnd(4)];
      if (!rnd(10)) d.path_at = 1000;
      if (!rnd(10)) d.notification = 1;
      bool fast = acs_plan_settled(&dm, &d);
      acs_plan p;
      int rc = acs_plan_next(&dm, &d, 1, 5000, &a, &p);
      tried++;
      if (fast) {
        settled++;
        CHECK(rc == 0 && p.n == 0);
      }
      acs_arena_reset(&a);
    }
    acs_dm_free(&dm);
  }
  printf("settled: %d of %d random declarations answered without planning\n", settled, tried);
  CHECK(settled > tried / 20);
  /* the plain cases */
  acs_dm dm;
  acs_dm_init(&dm);
  gateway(&dm, 1000);
  acs_decl d = ACS_DECL_INIT;
  d.path = "Device.ManagementServer.PeriodicInformInterval";
  d.value_at = 1000;
  CHECK(acs_plan_settled(&dm, &d));
  d.value_at = 1001; /* older than wanted */
  CHECK(!acs_plan_settled(&dm, &d));
  d.value_at = 0;
  d.value = "0300"; /* the same number */
  CHECK(acs_plan_settled(&dm, &d));
  d.value = "600";
  CHECK(!acs_plan_settled(&dm, &d));
  d.value = "2.0"; /* SoftwareVersion is read-only: never set */
  d.path = "Device.DeviceInfo.SoftwareVersion";
  CHECK(acs_plan_settled(&dm, &d));
  acs_dm_free(&dm);
  acs_arena_reset(&a);
}

int main(void) {
  test_fresh();
  test_object_only_answer();
  test_stale();
  test_set();
  test_instances();
  test_alias_and_wildcard_set();
  test_discovery();
  test_vanished();
  test_instance_walk();
  test_settled();
  return acs_test_result("test_plan");
}
