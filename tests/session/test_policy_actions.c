/* test_policy_actions: what policies do beyond declarations, against a
 * scripted CPE.
 *
 * Schedules (acsd with its clock moved to 03:00:20 UTC today): a preset
 * with cron "0 3 * * *" and a 1 h window matches, "0 4 * * *" does not; a
 * spread of 3000 s matches a device whose place in the window (FNV-1a of the
 * preset file, the cron and the device id, as the engine computes it) is
 * under 20 s and not one whose place is past 1500 s; a window of 30 s or a
 * cron of 4 fields is logged and its preset does not match.
 *
 * Then (real clock):
 *  - session A ("0 BOOTSTRAP,1 BOOT"): tags are added in the store, a
 *    virtual parameter computed from a real one (its GetParameterValues) and
 *    stored as VirtualParameters.WANName (a GetParameterNames discovers the
 *    unknown object first), a writable virtual parameter whose get() reads
 *    NTPServer1 (the same again) and whose set() writes it (1
 *    SetParameterValues); then, after the
 *    policies, the one-shot actions they asked for: a Download (firmware
 *    "2.0" from a URL) and a Reboot (booted since T, T after this boot),
 *    both recorded as tasks of 'policy:provisions/main' with their keys as
 *    CommandKeys, in that order, and done;
 *  - session B ("2 PERIODIC"): the same policies ask again: no Download, no
 *    Reboot (once per key), no RPC at all; the toggled tag is removed;
 *  - a Provision task (the API) runs provisions/clearer with its args: a
 *    fresh value read without an RPC, clear(), then read again: exactly one
 *    GetParameterValues; the task is done; one naming a missing provision is
 *    a fault saying so;
 *  - SetParameterValues tasks naming virtual parameters: carried out by the
 *    rule's set() (one SetParameterValues of the real parameter; the task
 *    done, the virtual value stored); a read-only one and one mixed with a
 *    real parameter fault;
 *  - session C ("7 TRANSFER COMPLETE" and a TransferComplete with fault
 *    9010): the policy sees device.transfer, action_status() of its key
 *    says fault 9010 in this same session (not 'sent': a retry must not
 *    wait for the next session), and the Download's task (open since its
 *    Status 1 answer) ends fault 9010;
 *  - secrets (acsd with a secret_key_file): policies/provisions/
 *    cr_credentials.lua through a Provision task sets the username and a
 *    random 24-character password in one SetParameterValues; the password
 *    is sealed in device_secrets (under the key's id) and stored empty in
 *    parameters; the same task again sends nothing; secret() in a later
 *    session opens the very value the CPE received. */
#include <time.h>

#include "core/acs_secret.h"
#include "policy_test.h"

static cs_acsd acsd;
static PGconn *pg;

static const char sched_presets[] =
    "return {\n"
    "  {name = 'now', channel = 's1', schedule = {cron = '0 3 * * *', window = 3600.0},\n"
    "   provisions = {{'mark', {what = 'sched-now'}}}},\n"
    "  {name = 'later', channel = 's2', schedule = '0 4 * * *',\n"
    "   provisions = {{'mark', {what = 'sched-later'}}}},\n"
    "  {name = 'spread', channel = 's3',\n"
    "   schedule = {cron = '0 3 * * *', window = 3600, spread = 3000},\n"
    "   provisions = {{'mark', {what = 'sched-spread'}}}},\n"
    "  {name = 'bad', channel = 's4', schedule = {cron = '0 3 * * *', window = 30},\n"
    "   provisions = {{'mark', {what = 'sched-bad'}}}},\n"
    "  {name = 'bad cron', channel = 's5', schedule = '0 3 * *',\n"
    "   provisions = {{'mark', {what = 'sched-bad'}}}},\n"
    /* issue 15: preconditions beyond equality */
    "  {name = 'pre prefix', channel = 'p1', provisions = {{'mark', {what = 'pre-prefix'}}},\n"
    "   precondition = {serial_number = {prefix = 'SN-SCHED-'},\n"
    "                   oui = {one_of = {'000000', '00D09E'}}}},\n"
    "  {name = 'pre regex', channel = 'p2', provisions = {{'mark', {what = 'pre-regex'}}},\n"
    "   precondition = {serial_number = {regex = '^SN-[A-Z]+-[0-9]+$'},\n"
    "                   product_class = {contains = 'T'}}},\n"
    "  {name = 'pre miss', channel = 'p3', provisions = {{'mark', {what = 'pre-miss'}}},\n"
    "   precondition = {serial_number = {regex = '^SCHED'}}},\n"
    "  {name = 'pre miss in', channel = 'p4', provisions = {{'mark', {what = 'pre-miss'}}},\n"
    "   precondition = {oui = {['in'] = {'00D09', '00D09E0'}}}},\n"
    "  {name = 'pre miss star', channel = 'p5', provisions = {{'mark', {what = 'pre-miss'}}},\n"
    "   precondition = {serial_number = 'SN-SCHED*'}},\n"
    "  {name = 'pre bad', channel = 'p6', provisions = {{'mark', {what = 'pre-bad'}}},\n"
    "   precondition = {serial_number = {regex = 'SN-('}}},\n"
    "  {name = 'pre two', channel = 'p7', provisions = {{'mark', {what = 'pre-bad'}}},\n"
    "   precondition = {serial_number = {prefix = 'SN', contains = 'X'}}},\n"
    "  {name = 'pre bomb', channel = 'p8', provisions = {{'mark', {what = 'pre-bad'}}},\n"
    "   precondition = {serial_number = {regex = '^(\\\\w|-|\\\\w+|[A-Z0-9-]+)*\\\\d[a-z]$'}}},\n"
    "}\n";
static const char mark_lua[] =
    "local args = ...\nlog('info', 'mark ' .. args.what .. ' ' .. device.serial_number)\n";

static const char presets_fmt[] =
    "return {\n"
    "  {name = 'main', channel = 'main', provisions = {{'main', {since = %lld}}}},\n"
    "  {name = 'xfer', channel = 'xfer', events = {'7 TRANSFER COMPLETE'},\n"
    "   provisions = {'xfer'}},\n"
    "}\n";

static const char main_lua[] =
    "local args = ...\n"
    "local r = root()\n"
    "tag('provisioned')\n"
    "if has_tag('temp') then untag('temp') else tag('temp') end\n"
    "log('info', 'tags ' .. table.concat(device.tags, ','))\n"
    "log('info', 'virtual wan ' .. tostring(declare('VirtualParameters.WANName', {value = true})"
    ".value))\n"
    "set('VirtualParameters.Code', 'vp-' .. device.serial_number)\n"
    "local st = download{url = 'http://127.0.0.1:9/fw-2.0.bin', version = '2.0'}\n"
    "log('info', 'download ' .. st)\n"
    "log('info', 'reboot ' .. reboot(args.since))\n";
static const char wan_lua[] =
    "return {get = function()\n"
    "  return refresh(root() .. 'IP.Interface.1.Name', 3600).value\n"
    "end}\n";
static const char code_lua[] =
    "local p = root() .. 'Time.NTPServer1'\n"
    "return {get = function() return refresh(p, 3600).value end,\n"
    "        set = function(v) set(p, v) end}\n";
static const char clearer_lua[] =
    "local args = ...\n"
    "local v1 = refresh(args.path, 3600).value\n"
    "log('info', 'cleared ' .. clear(args.path))\n"
    "local v2 = refresh(args.path, 3600).value\n"
    "log('info', 'clearer ' .. tostring(v1) .. ' ' .. tostring(v2) .. ' ' .. args.tag)\n";
static const char show_lua[] =
    "log('info', 'secret is ' .. secret(root() .. 'ManagementServer.ConnectionRequestPassword'))\n";
static const char xfer_lua[] =
    "local t = device.transfer\n"
    "log('info', 'transfer ' .. (t and (t.command_key .. ' ' .. t.fault_code .. ' ' ..\n"
    "    t.fault_string) or 'none'))\n"
    /* issue 15: the action's state in the session of its TransferComplete
     * (it said 'sent' there, so a retry went out one session late) */
    "if t then\n"
    "  local st, code, msg = action_status(t.command_key)\n"
    "  log('info', 'xfer state ' .. st .. ' ' .. tostring(code) .. ' ' .. tostring(msg))\n"
    "end\n";

/* The engine's spread of a device in a schedule's window (policy_preset.c). */
static double spread_of(const char *device_id, const char *salt) {
  uint32_t h = 2166136261u;
  for (const unsigned char *p = (const unsigned char *)salt; *p; p++) h = (h ^ *p) * 16777619u;
  for (const unsigned char *p = (const unsigned char *)device_id; *p; p++) h = (h ^ *p) * 16777619u;
  return h / 4294967296.0;
}

/* A serial whose device's spread is below (early) or above 0.5 (late). */
static void pick_cpe(cs_cpe *c, bool early) {
  for (int i = 0; i < 100000; i++) {
    char serial[32];
    snprintf(serial, sizeof serial, "SN-SCHED-%d", i);
    cs_cpe_init(c, acsd.cwmp_port, "00D09E", "PT", serial);
    double f = spread_of(c->device_id, "presets/p|0 3 * * *");
    if (early ? f * 3000 < 10 : f > 0.5) return;
    cs_cpe_free(c);
  }
  fprintf(stderr, "no serial found\n");
  exit(1);
}

static void test_schedules(void) {
  char tree[256];
  pt_tree_new(tree, sizeof tree);
  pt_write(tree, "presets/p.lua", sched_presets);
  pt_write(tree, "provisions/mark.lua", mark_lua);
  /* the engine's clock at 03:00:20 UTC today */
  time_t now = time(NULL);
  long long target = (long long)(now - now % 86400) + 3 * 3600 + 20;
  char off[32];
  snprintf(off, sizeof off, "%lld", (target - (long long)now) * 1000);
  setenv("ACS_CLOCK_OFFSET_MS", off, 1);
  const char *extra[] = {"--policies", tree, NULL};
  if (cs_acsd_start(&acsd, 1, extra) != 0) exit(1);
  unsetenv("ACS_CLOCK_OFFSET_MS");

  cs_cpe early, late;
  pick_cpe(&early, true);
  pick_cpe(&late, false);
  cm_model m;
  pt_turn t;
  memset(&t, 0, sizeof t);
  pt_model_init(&m, &early);
  CHECK(pt_session(&early, &m, "2 PERIODIC", &t) >= 0);
  cm_free(&m);
  pt_model_init(&m, &late);
  CHECK(pt_session(&late, &m, "2 PERIODIC", &t) >= 0);
  cm_free(&m);
  char line[128];
  snprintf(line, sizeof line, "mark sched-now %s", early.serial);
  CHECK_INT(cs_acsd_log_count(&acsd, line), 1);
  snprintf(line, sizeof line, "mark sched-now %s", late.serial);
  CHECK_INT(cs_acsd_log_count(&acsd, line), 1);
  CHECK_INT(cs_acsd_log_count(&acsd, "mark sched-later"), 0);
  /* malformed schedules: said in the log, the preset does not match */
  CHECK_INT(cs_acsd_log_count(&acsd, "mark sched-bad"), 0);
  CHECK_INT(cs_acsd_log_count(&acsd, "schedule ignored, the preset does not match: window must be"),
            2);
  CHECK_INT(cs_acsd_log_count(&acsd, "schedule ignored, the preset does not match: expected 5"), 2);
  /* preconditions: prefix, one_of, regex, contains hold; a missed regex,
   * a missed set and a '*' (no wildcard) do not; a malformed matcher or
   * regex is logged, as is a regex out of steps, and does not match */
  snprintf(line, sizeof line, "mark pre-prefix %s", early.serial);
  CHECK_INT(cs_acsd_log_count(&acsd, line), 1);
  snprintf(line, sizeof line, "mark pre-regex %s", late.serial);
  CHECK_INT(cs_acsd_log_count(&acsd, line), 1);
  CHECK_INT(cs_acsd_log_count(&acsd, "mark pre-regex"), 2);
  CHECK_INT(cs_acsd_log_count(&acsd, "mark pre-prefix"), 2);
  CHECK_INT(cs_acsd_log_count(&acsd, "mark pre-miss"), 0);
  CHECK_INT(cs_acsd_log_count(&acsd, "mark pre-bad"), 0);
  CHECK_INT(cs_acsd_log_count(&acsd, "precondition serial_number: at 5: missing closing parenthesis"),
            2);
  CHECK_INT(cs_acsd_log_count(&acsd, "precondition serial_number: a matcher has exactly one"), 2);
  CHECK_INT(cs_acsd_log_count(&acsd, "ran out of its 20000 steps: no match"), 2);
  snprintf(line, sizeof line, "mark sched-spread %s", early.serial);
  CHECK_INT(cs_acsd_log_count(&acsd, line), 1);
  snprintf(line, sizeof line, "mark sched-spread %s", late.serial);
  CHECK_INT(cs_acsd_log_count(&acsd, line), 0);
  printf("schedules: %s early (spread %.0f s), %s late (%.0f s)\n", early.serial,
         spread_of(early.device_id, "presets/p|0 3 * * *") * 3000, late.serial,
         spread_of(late.device_id, "presets/p|0 3 * * *") * 3000);
  cs_cpe_free(&early);
  cs_cpe_free(&late);
  if (acs_test_failures) cs_acsd_log_tail(&acsd, 40);
  CHECK_INT(cs_acsd_stop(&acsd, 20000), 0);
  pt_tree_remove(tree);
}

static const char *task_col(const char *dev, const char *key, const char *col) {
  char sql[200];
  snprintf(sql, sizeof sql, "SELECT %s FROM tasks WHERE device_id = $1 AND command_key = $2", col);
  return qs(pg, sql, dev, key);
}

/* The password of a SetParameterValues, as the CPE received it. */
static int grab_password(pt_turn *t, const acs_cwmp_msg *rpc) {
  if (rpc->kind != ACS_CWMP_SET_PARAMETER_VALUES) return 0;
  const acs_cwmp_param_values *pv = &rpc->u.set_parameter_values.params;
  for (size_t i = 0; i < pv->n; i++)
    if (pv->v[i].name && strstr(pv->v[i].name, "ConnectionRequestPassword"))
      snprintf(t->arg, 64, "%s", pv->v[i].value ? pv->v[i].value : "");
  return 0;
}

static void test_actions(void) {
  char tree[256];
  pt_tree_new(tree, sizeof tree);
  long long since = (long long)time(NULL) + 3600; /* after this boot: a reboot is due */
  char presets[512];
  snprintf(presets, sizeof presets, presets_fmt, since);
  pt_write(tree, "presets/p.lua", presets);
  pt_write(tree, "provisions/main.lua", main_lua);
  pt_write(tree, "provisions/clearer.lua", clearer_lua);
  pt_write(tree, "provisions/xfer.lua", xfer_lua);
  pt_write(tree, "virtual/WANName.lua", wan_lua);
  pt_write(tree, "virtual/Code.lua", code_lua);
  pt_write(tree, "provisions/show.lua", show_lua);
  char src[512];
  snprintf(src, sizeof src, "%s/policies/provisions/cr_credentials.lua", cs_env("ACS_SOURCE_DIR"));
  FILE *f = fopen(src, "r");
  static char cred[4096];
  size_t cl = f ? fread(cred, 1, sizeof cred - 1, f) : 0;
  if (f) fclose(f);
  cred[cl] = '\0';
  CHECK(cl > 0);
  pt_write(tree, "provisions/cr_credentials.lua", cred);
  char keyfile[300];
  snprintf(keyfile, sizeof keyfile, "%s/secret.key", tree);
  pt_write(tree, "secret.key",
           "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n");
  const char *extra[] = {"--policies", tree, "--secret-key-file", keyfile, NULL};
  if (cs_acsd_start(&acsd, 2, extra) != 0) exit(1);
  char *token = cs_token_create("actions");

  cs_cpe c;
  cm_model m;
  pt_turn t;
  char desc[1024], reboot_key[40];
  memset(&t, 0, sizeof t);
  cs_cpe_init(&c, acsd.cwmp_port, "00D09E", "PT", "SN-ACTIONS");
  pt_model_init(&m, &c);
  const char *d = c.device_id;
  snprintf(reboot_key, sizeof reboot_key, "reboot@%lld", since);

  /* A */
  int n = pt_session(&c, &m, "0 BOOTSTRAP,1 BOOT", &t);
  printf("session A: %d RPCs: %s\n", n, pt_describe(&t, desc, sizeof desc));
  /* a new device: each unknown name is discovered first, by its own name
   * (the only one of its object that is wanted) */
  CHECK_STR(desc,
            "GPN(Device.IP.Interface.1.Name) GPV(1: Device.IP.Interface.1.Name) "
            "GPN(Device.Time.NTPServer1) GPV(1: Device.Time.NTPServer1) "
            "SPV(1: Device.Time.NTPServer1) Download() Reboot()");
  CHECK_INT(n, 7);
  CHECK_STR(t.rpc[4].value, "vp-SN-ACTIONS");
  CHECK_INT(cs_acsd_log_count(&acsd, "virtual wan wan0"), 1);
  CHECK_INT(cs_acsd_log_count(&acsd, "tags provisioned,temp"), 1);
  CHECK_INT(cs_acsd_log_count(&acsd, "download queued"), 1);
  CHECK_INT(cs_acsd_log_count(&acsd, "reboot queued"), 1);
  CHECK(pt_wait_sql(pg, "SELECT array_to_string(tags, ',') FROM devices WHERE id = $1", d,
                    "provisioned,temp", 3000) >= 0);
  CHECK(pt_wait_sql(pg,
                    "SELECT value || ' ' || writable FROM parameters WHERE device_id = $1 AND "
                    "name = 'VirtualParameters.WANName'",
                    d, "wan0 false", 3000) >= 0);
  CHECK(pt_wait_sql(pg,
                    "SELECT value || ' ' || writable FROM parameters WHERE device_id = $1 AND "
                    "name = 'VirtualParameters.Code'",
                    d, "vp-SN-ACTIONS true", 3000) >= 0);
  /* the CPE answered Status 1: open until its TransferComplete */
  CHECK_STR(task_col(d, "dl@2.0", "rpc || ' ' || status || ' ' || created_by"),
            "Download sent policy:provisions/main");
  CHECK_STR(task_col(d, "dl@2.0", "args->>'URL'"), "http://127.0.0.1:9/fw-2.0.bin");
  CHECK_STR(task_col(d, reboot_key, "rpc || ' ' || status"), "Reboot done");
  const char *dl_id = task_col(d, "dl@2.0", "id"), *rb_id = task_col(d, reboot_key, "id");
  CHECK(dl_id && rb_id && atoll(dl_id) < atoll(rb_id));

  /* B: asked again, nothing happens twice */
  n = pt_session(&c, &m, "2 PERIODIC", &t);
  printf("session B: %d RPCs: %s\n", n, pt_describe(&t, desc, sizeof desc));
  CHECK_INT(n, 0);
  CHECK_INT(cs_acsd_log_count(&acsd, "download sent"), 1);
  CHECK_INT(cs_acsd_log_count(&acsd, "reboot done"), 1);
  CHECK(pt_wait_sql(pg, "SELECT array_to_string(tags, ',') FROM devices WHERE id = $1", d,
                    "provisioned", 3000) >= 0);
  CHECK_INT(atoi(qs(pg, "SELECT count(*) FROM tasks WHERE device_id = $1", d, NULL)), 2);

  /* a Provision task: fresh, clear(), read again */
  long long id = cs_api_task(&acsd, token, d, "Provision",
                             "{\"provisions\": [\"clearer\"], \"args\": {\"path\": "
                             "\"Device.DeviceInfo.SoftwareVersion\", \"tag\": \"t1\"}}");
  long long bad = cs_api_task(&acsd, token, d, "Provision", "{\"provisions\": [\"missing\"]}");
  CHECK(id > 0 && bad > 0);
  n = pt_session(&c, &m, "2 PERIODIC", &t);
  printf("session (Provision tasks): %d RPCs: %s\n", n, pt_describe(&t, desc, sizeof desc));
  CHECK_INT(n, 1);
  CHECK_INT(t.rpc[0].kind, ACS_CWMP_GET_PARAMETER_VALUES);
  CHECK_STR(t.rpc[0].name, "Device.DeviceInfo.SoftwareVersion");
  CHECK_INT(cs_acsd_log_count(&acsd, "clearer SW-2.3.4 SW-2.3.4 t1"), 1);
  CHECK_INT(cs_acsd_log_count(&acsd, "cleared 1"), 1);
  char ids[24];
  snprintf(ids, sizeof ids, "%lld", id);
  CHECK(pt_wait_sql(pg, "SELECT status FROM tasks WHERE id = $1::bigint", ids, "done", 3000) >= 0);
  snprintf(ids, sizeof ids, "%lld", bad);
  CHECK(pt_wait_sql(pg, "SELECT status FROM tasks WHERE id = $1::bigint", ids, "fault", 3000) >= 0);
  const char *why = qs(pg, "SELECT fault_string FROM tasks WHERE id = $1::bigint", ids, NULL);
  CHECK(why && strstr(why, "missing: no such provision"));

  /* virtual parameters written through the API: a SetParameterValues task
   * naming them is carried out by their rules (Code's set() writes
   * NTPServer1); a read-only one, or one mixed with real parameters, faults */
  long long vt = cs_api_task(&acsd, token, d, "SetParameterValues",
                             "{\"ParameterList\": [{\"Name\": \"VirtualParameters.Code\", "
                             "\"Value\": \"api-set\"}]}");
  long long vro = cs_api_task(&acsd, token, d, "SetParameterValues",
                              "{\"ParameterList\": [{\"Name\": \"VirtualParameters.WANName\", "
                              "\"Value\": \"x\"}]}");
  long long vmix = cs_api_task(&acsd, token, d, "SetParameterValues",
                               "{\"ParameterList\": [{\"Name\": \"VirtualParameters.Code\", "
                               "\"Value\": \"y\"}, {\"Name\": \"Device.Time.NTPServer1\", "
                               "\"Value\": \"z\"}]}");
  CHECK(vt > 0 && vro > 0 && vmix > 0);
  n = pt_session(&c, &m, "2 PERIODIC", &t);
  printf("session (virtual parameters from the API): %d RPCs: %s\n", n,
         pt_describe(&t, desc, sizeof desc));
  CHECK_INT(n, 1);
  CHECK_INT(t.rpc[0].kind, ACS_CWMP_SET_PARAMETER_VALUES);
  CHECK_STR(t.rpc[0].name, "Device.Time.NTPServer1");
  CHECK_STR(t.rpc[0].value, "api-set");
  snprintf(ids, sizeof ids, "%lld", vt);
  CHECK(pt_wait_sql(pg, "SELECT status FROM tasks WHERE id = $1::bigint", ids, "done", 3000) >= 0);
  CHECK(pt_wait_sql(pg,
                    "SELECT value FROM parameters WHERE device_id = $1 AND name = "
                    "'VirtualParameters.Code'",
                    d, "api-set", 3000) >= 0);
  snprintf(ids, sizeof ids, "%lld", vro);
  CHECK(pt_wait_sql(pg, "SELECT status FROM tasks WHERE id = $1::bigint", ids, "fault", 3000) >= 0);
  why = qs(pg, "SELECT fault_string FROM tasks WHERE id = $1::bigint", ids, NULL);
  CHECK(why && strstr(why, "is not writable"));
  snprintf(ids, sizeof ids, "%lld", vmix);
  CHECK(pt_wait_sql(pg, "SELECT fault_code || ' ' || status FROM tasks WHERE id = $1::bigint", ids,
                    "8003 fault", 3000) >= 0);

  /* C: a TransferComplete reaches the policies */
  CHECK_INT(cs_cpe_inform(&c, "7 TRANSFER COMPLETE"), 200);
  acs_cwmp_msg tc, in;
  memset(&tc, 0, sizeof tc);
  tc.kind = ACS_CWMP_TRANSFER_COMPLETE;
  tc.u.transfer_complete.command_key = "dl@2.0";
  tc.u.transfer_complete.fault.code = 9010;
  tc.u.transfer_complete.fault.string = "Download failed";
  tc.u.transfer_complete.start_time = "2026-12-01T10:00:00Z";
  tc.u.transfer_complete.complete_time = "2026-12-01T10:00:05Z";
  CHECK_INT(cs_cpe_post(&c, &tc, &in), 200);
  CHECK_INT(in.kind, ACS_CWMP_TRANSFER_COMPLETE_RESPONSE);
  memset(&t, 0, sizeof t);
  t.m = &m;
  CHECK(cs_cpe_acs_turn(&c, pt_answer, &t) >= 0);
  CHECK_INT(cs_acsd_log_count(&acsd, "transfer dl@2.0 9010 Download failed"), 1);
  CHECK_INT(cs_acsd_log_count(&acsd, "xfer state fault 9010 Download failed"), 1);
  CHECK(pt_wait_sql(pg,
                    "SELECT status || ' ' || fault_code FROM tasks WHERE device_id = $1 AND "
                    "command_key = 'dl@2.0'",
                    d, "fault 9010", 3000) >= 0);

  /* secrets: the example's credentials */
  cm_set(&m, "Device.ManagementServer.ConnectionRequestUsername", "", ACS_XSD_STRING, true);
  cm_set(&m, "Device.ManagementServer.ConnectionRequestPassword", "", ACS_XSD_STRING, true);
  static char sent_pw[64];
  t.hook = grab_password;
  t.arg = sent_pw;
  CHECK(cs_api_task(&acsd, token, d, "Provision", "{\"provisions\": [\"cr_credentials\"]}") > 0);
  n = pt_session(&c, &m, "2 PERIODIC", &t);
  printf("session (cr_credentials): %d RPCs: %s\n", n, pt_describe(&t, desc, sizeof desc));
  /* names the engine has not seen yet: discovered first */
  CHECK_INT(n, 2);
  CHECK_INT(t.rpc[0].kind, ACS_CWMP_GET_PARAMETER_NAMES);
  CHECK_STR(t.rpc[1].all,
            "Device.ManagementServer.ConnectionRequestUsername "
            "Device.ManagementServer.ConnectionRequestPassword ");
  CHECK_STR(t.rpc[1].value, "acs-SN-ACTIONS");
  CHECK_INT(strlen(sent_pw), 24);
  unsigned char raw[32];
  for (int i = 0; i < 32; i++) raw[i] = (unsigned char)((i % 16) * 0x11);
  acs_secret_key key;
  acs_secret_key_from_bytes(raw, &key);
  CHECK(pt_wait_sql(pg, "SELECT key_id FROM device_secrets WHERE device_id = $1", d, key.id,
                    3000) >= 0);
  CHECK_STR(
      qs(pg, "SELECT length(ciphertext)::text FROM device_secrets WHERE device_id = $1", d, NULL),
      "52"); /* 12 nonce + 24 + 16 tag */
  CHECK_STR(qs(pg,
               "SELECT coalesce(value, '(null)') FROM parameters WHERE device_id = $1 AND "
               "name = 'Device.ManagementServer.ConnectionRequestPassword'",
               d, NULL),
            "");
  CHECK(cs_api_task(&acsd, token, d, "Provision", "{\"provisions\": [\"cr_credentials\"]}") > 0);
  CHECK(cs_api_task(&acsd, token, d, "Provision", "{\"provisions\": [\"show\"]}") > 0);
  n = pt_session(&c, &m, "2 PERIODIC", &t);
  printf("session (cr_credentials again, show): %d RPCs: %s\n", n,
         pt_describe(&t, desc, sizeof desc));
  CHECK_INT(n, 0);
  char line[128];
  snprintf(line, sizeof line, "secret is %s", sent_pw);
  CHECK_INT(cs_acsd_log_count(&acsd, line), 1);
  t.hook = NULL;

  cm_free(&m);
  cs_cpe_free(&c);
  free(token);
  if (acs_test_failures) cs_acsd_log_tail(&acsd, 60);
  CHECK_INT(cs_acsd_stop(&acsd, 20000), 0);
  pt_tree_remove(tree);
}

int main(void) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  pg = cs_pg_connect(cs_env("ACS_TEST_PG_DSN"));
  test_schedules();
  test_actions();
  PQfinish(pg);
  return acs_test_result("test_policy_actions");
}
