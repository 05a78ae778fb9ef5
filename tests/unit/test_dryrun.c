/* test_dryrun: a policy tree run over a stored device without a CPE
 * (engine/session/dryrun.c), no store at all:
 *  - the simulated CPE answers the planner from the stored model: a table
 *    grown by AddObject gets the next instance with the names of its
 *    lowest one, a value set reads back, a name the device lacks is 9005;
 *  - the report lists the RPCs in order, the values set, tags, log lines
 *    and the one-shot action, and a runtime error as a fault with its file
 *    and line (also appended to the errors);
 *  - a run past its deadline stops and says so;
 *  - match-only runs say which presets match; a push's dry run picks one
 *    device for each preset that matches in its pool before filling the
 *    sample, and collects the errors with their devices;
 *  - a refused push statement carries the first error and every one. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "acs_test.h"
#include "core/acs_err.h"
#include "session/acs_dryrun.h"
#include "session/acs_plan.h"
#include "session/acs_policy.h"

static json_t *device(const char *id, const char *pc) {
  return json_pack(
      "{s:s,s:s,s:s,s:s,s:s,s:s,s:{s:[],s:[],s:[],s:[],s:[],s:{}},s:{},s:["
      "[s,n,n,b,b,n,I,I],[s,n,n,b,b,n,I,I],[s,s,s,b,b,n,I,I],[s,s,s,b,b,n,I,I],"
      "[s,s,s,b,b,n,I,I],[s,s,s,b,b,n,I,I],[s,s,s,b,b,n,I,I]]}",
      "id", id, "oui", "00D09E", "product_class", pc, "serial_number", "SN", "manufacturer", "Acme",
      "software_version", "1.0", "ctx", "tags", "actions", "faults", "alarms", "secrets", "events",
      "refreshed",
      "params",
      "Device.", 0, 1, (json_int_t)1, (json_int_t)1,
      "Device.WiFi.SSID.", 0, 1, (json_int_t)1, (json_int_t)1,
      "Device.WiFi.SSID.1.SSID", "home", "xsd:string", 1, 0, (json_int_t)1, (json_int_t)1,
      "Device.WiFi.SSID.1.Enable", "true", "xsd:boolean", 1, 0, (json_int_t)1, (json_int_t)1,
      "Device.WiFi.SSID.2.SSID", "guest", "xsd:string", 1, 0, (json_int_t)1, (json_int_t)1,
      "Device.WiFi.SSID.2.Enable", "true", "xsd:boolean", 1, 0, (json_int_t)1, (json_int_t)1,
      "Device.DeviceInfo.ModelName", "HG", "xsd:string", 0, 0, (json_int_t)1, (json_int_t)1);
}

static acs_policy_vm *compile(json_t *files) {
  char err[512] = "";
  acs_policy_vm *pv = acs_policy_vm_new(NULL, err, sizeof err);
  int rc = pv ? acs_policy_vm_load_json(pv, files, err, sizeof err) : ACS_ENOMEM;
  if (rc) fprintf(stderr, "compile: %s\n", err);
  CHECK_INT(rc, 0);
  return pv;
}

static const char *rpc_name(const json_t *report, size_t i) {
  return json_string_value(json_object_get(json_array_get(json_object_get(report, "rpcs"), i), "rpc"));
}

static json_t *tree(void) {
  return json_pack(
      "{s:s,s:s,s:s}", "presets/p",
      "return {{name = 'a', precondition = {product_class = 'X'}, provisions = {'a'}, channel = 'a'},\n"
      "        {name = 'b', precondition = {product_class = 'Y'}, provisions = {'b'}, channel = 'b'}}\n",
      "provisions/a",
      "ensure_instances('Device.WiFi.SSID.', 3)\n"
      "commit()\n"
      "set('Device.WiFi.SSID.*.Enable', false)\n"
      "local m = declare('Device.DeviceInfo.ModelName', {value = 1}).value\n"
      "log('info', 'model ' .. m)\n"
      "tag('seen')\n"
      "reboot(1)\n",
      "provisions/b",
      "local v = declare('Device.X_Vendor.Name', {value = 1}).value\n"
      "return v:upper()\n");
}

static void test_session(acs_policy_vm *pv) {
  json_t *dev = device("00D09E-X-SN1", "X"), *errors = json_array(), *r = NULL;
  acs_dryrun_opts o = {.all_presets = true};
  CHECK_INT(acs_dryrun_device(pv, dev, &o, &r, errors), 0);
  if (!r) return;
  char *text = json_dumps(r, JSON_INDENT(1));
  const json_t *rpcs = json_object_get(r, "rpcs");
  /* the table listed, its new instance, then the values */
  CHECK_STR(rpc_name(r, 0), "GetParameterNames");
  CHECK_STR(rpc_name(r, 1), "AddObject");
  json_t *add = json_array_get(rpcs, 1);
  CHECK_INT(json_integer_value(json_object_get(json_object_get(add, "response"), "InstanceNumber")),
            3);
  const json_t *set = json_object_get(r, "set");
  CHECK_STR(json_string_value(json_object_get(set, "Device.WiFi.SSID.3.Enable")), "false");
  CHECK_STR(json_string_value(json_object_get(set, "Device.WiFi.SSID.1.Enable")), "false");
  CHECK_STR(json_string_value(json_array_get(json_object_get(json_object_get(r, "tags"), "added"), 0)),
            "seen");
  CHECK_STR(json_string_value(json_object_get(json_array_get(json_object_get(r, "logs"), 0),
                                              "message")),
            "model HG");
  CHECK_STR(json_string_value(json_object_get(json_array_get(json_object_get(r, "actions"), 0),
                                              "rpc")),
            "Reboot");
  CHECK_INT(json_array_size(json_object_get(r, "faults")), 0);
  CHECK_INT(json_array_size(errors), 0);
  if (acs_test_failures) fprintf(stderr, "%s\n", text);
  free(text);
  json_decref(r);
  /* the device's other preset: a value it lacks (9005), then nil indexed */
  json_decref(dev);
  dev = device("00D09E-Y-SN1", "Y");
  CHECK_INT(acs_dryrun_device(pv, dev, &o, &r, errors), 0);
  const json_t *f = json_array_get(json_object_get(r, "faults"), 0);
  CHECK_STR(json_string_value(json_object_get(f, "file")), "provisions/b.lua");
  CHECK_INT(json_integer_value(json_object_get(f, "line")), 2);
  CHECK_STR(json_string_value(json_object_get(f, "code")), "script.error");
  CHECK(strstr(json_string_value(json_object_get(f, "message")), "attempt to index a nil value"));
  CHECK_INT(json_array_size(errors), 1);
  CHECK_STR(json_string_value(json_object_get(json_array_get(errors, 0), "device")), "00D09E-Y-SN1");
  json_decref(r);
  /* a deadline already past: stopped before its first RPC, and it says so */
  json_decref(dev);
  dev = device("00D09E-X-SN1", "X");
  acs_dryrun_opts late = o;
  late.deadline_ms = 1;
  CHECK_INT(acs_dryrun_device(pv, dev, &late, &r, NULL), ACS_ETIMEOUT);
  CHECK(r && json_is_string(json_object_get(r, "stopped")));
  CHECK_INT(json_array_size(json_object_get(r, "rpcs")), 0);
  json_decref(r);
  json_decref(dev);
  dev = device("00D09E-Y-SN1", "Y");
  /* a device the store knows nothing of but its row: the listing it lacks
   * is answered 9005 (an empty model, no array at all) */
  json_t *bare = json_deep_copy(dev);
  json_object_set_new(bare, "params", json_array());
  CHECK_INT(acs_dryrun_device(pv, bare, &o, &r, NULL), 0);
  CHECK_STR(rpc_name(r, 0), "GetParameterNames");
  json_decref(r);
  json_decref(bare);
  /* match only: which presets, nothing run */
  o.match_only = true;
  CHECK_INT(acs_dryrun_device(pv, dev, &o, &r, NULL), 0);
  CHECK_STR(json_string_value(json_array_get(json_object_get(r, "matched"), 0)), "presets/p#2");
  CHECK_INT(json_array_size(json_object_get(r, "matched")), 1);
  CHECK(json_object_get(r, "rpcs") == NULL);
  json_decref(r);
  json_decref(dev);
  json_decref(errors);
}

static void test_tree(json_t *files) {
  /* a pool of three: two X devices first; a sample of two takes one X and
   * the Y device (the only one its preset matches) */
  json_t *pool = json_pack("[o,o,o]", device("00D09E-X-SN1", "X"), device("00D09E-X-SN2", "X"),
                           device("00D09E-Y-SN9", "Y"));
  json_t *sum = NULL;
  char err[512] = "";
  CHECK_INT(acs_dryrun_tree(files, pool, 2, 10000, NULL, &sum, err, sizeof err), 0);
  CHECK_INT(json_integer_value(json_object_get(sum, "devices")), 2);
  CHECK_INT(json_integer_value(json_object_get(sum, "checked")), 2);
  CHECK_INT(json_integer_value(json_object_get(sum, "sampled")), 3);
  CHECK_INT(json_integer_value(json_object_get(sum, "presets_matched")), 2);
  const json_t *errors = json_object_get(sum, "errors");
  CHECK_INT(json_array_size(errors), 1);
  CHECK_STR(json_string_value(json_object_get(json_array_get(errors, 0), "device")), "00D09E-Y-SN9");
  /* the push statement it refuses */
  acs_policy_push_stmt st;
  CHECK_INT(acs_policy_push_prepare(files, "test", NULL, false, 0, &st), 0);
  CHECK(st.valid);
  CHECK_INT(acs_dryrun_apply(&st, sum), 0);
  CHECK(!st.valid);
  CHECK_STR(st.params[4], "f");
  CHECK(strncmp(st.error, "provisions/b.lua:2: ", 20) == 0 && strstr(st.error, "(device 00D09E-Y-SN9)"));
  json_t *ej = json_loads(st.error_text, 0, NULL);
  CHECK_STR(json_string_value(json_object_get(ej, "file")), "provisions/b");
  CHECK_STR(json_string_value(json_object_get(ej, "device")), "00D09E-Y-SN9");
  CHECK_INT(json_array_size(json_object_get(ej, "dry_run")), 1);
  json_t *audit = json_loads(st.params[10], 0, NULL);
  CHECK_INT(json_integer_value(json_object_get(audit, "errors")), 1);
  json_decref(audit);
  json_decref(ej);
  acs_policy_push_stmt_free(&st);
  json_decref(sum);
  /* a sample of one: the first X device only, no error */
  CHECK_INT(acs_dryrun_tree(files, pool, 1, 10000, NULL, &sum, err, sizeof err), 0);
  CHECK_INT(json_integer_value(json_object_get(sum, "checked")), 1);
  CHECK_INT(json_array_size(json_object_get(sum, "errors")), 0);
  json_decref(sum);
  /* a tree that does not compile */
  json_t *broken = json_pack("{s:s}", "provisions/x", "local = 1");
  CHECK_INT(acs_dryrun_tree(broken, pool, 1, 10000, NULL, &sum, err, sizeof err), ACS_EINVAL);
  CHECK(strstr(err, "provisions/x") != NULL);
  json_decref(broken);
  json_decref(pool);
}

int main(void) {
  json_t *files = tree();
  acs_policy_vm *pv = compile(files);
  if (pv) {
    test_session(pv);
    acs_policy_vm_free(pv);
  }
  test_tree(files);
  json_decref(files);
  acs_dm_thread_free();
  return acs_test_result("test_dryrun");
}
