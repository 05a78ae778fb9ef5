/* test_policy_rpcs: what the planner sends for policies, counted at the CPE.
 * acsd runs with --policies DIR (a tree written here); each scenario is a
 * provision that one device's preset starts on "2 PERIODIC" (after a
 * "1 BOOT" session that lists and reads its whole tree, unless the scenario
 * is discovery itself):
 *
 *   fresh       declared values all fresh, a set to the value it has: 0 RPCs
 *   stale       20 stale values over the tree, declared then one commit()
 *               (or one read): exactly 1 GetParameterValues of 20 names;
 *               the next session, with the values just read: 0 RPCs
 *   set3        3 values set, 1 differing: 1 SetParameterValues of 1 value
 *   instances   2 instances ensured where 4 exist: exactly 2 DeleteObject
 *               (the highest-numbered), after 1 GetParameterNames ({path =
 *               true} asks for a fresh listing); the handle's size is 2
 *   instances4  4 instances ensured where 3 exist: 1 AddObject, between
 *               2 GetParameterNames of the table (the add makes the listing
 *               old: listing it again is progress, not the "no progress"
 *               that used to fault the channel); the handle's size is 4
 *   discovery   a subtree the engine does not know: 1 GetParameterNames
 *               then 1 GetParameterValues
 *   fault       a name the CPE no longer has: the read gives nil and the
 *               9005; the policy goes on (its SPV shows the error), the
 *               session ends normally, no fault row; a name nobody has
 *               reads nil without an RPC; a bystander channel whose value
 *               went out in the same GetParameterValues still gets it. */
#include "policy_test.h"

static cs_acsd acsd;
static PGconn *pg;
static char tree[256];

static const char presets_lua[] =
    "local function only(serial, prov, args, channel)\n"
    "  return {name = prov .. '@' .. serial, events = {'2 PERIODIC'},\n"
    "          precondition = {serial_number = serial},\n"
    "          provisions = {args and {prov, args} or prov}, channel = channel or prov}\n"
    "end\n"
    "return {\n"
    "  {name = 'discover', events = {'1 BOOT'}, provisions = {'discover'}, channel = 'discover'},\n"
    "  only('SN-FRESH', 'fresh'),\n"
    "  only('SN-STALE-C', 'stale', {mode = 'commit'}),\n"
    "  only('SN-STALE-R', 'stale', {mode = 'read'}),\n"
    "  only('SN-SET', 'set3'),\n"
    "  only('SN-INST', 'instances'),\n"
    "  only('SN-INST-ADD', 'instances4'),\n"
    "  only('SN-DISC', 'discovery'),\n"
    "  only('SN-FAULT', 'fault'),\n"
    "  only('SN-FAULT2', 'fault'),\n"
    "  only('SN-FAULT2', 'bystander', nil, 'bystander'),\n"
    "}\n";

static const char discover_lua[] =
    "local r = root()\n"
    "declare(r, {path = true})\n"
    "declare(r, {value = true})\n"
    "commit()\n";

static const char fresh_lua[] =
    "local r = root()\n"
    "local up = refresh(r .. 'DeviceInfo.UpTime', 3600)\n"
    "local ssids = refresh(r .. 'WiFi.SSID.*.SSID', 3600)\n"
    "refresh(r .. 'ManagementServer.PeriodicInformInterval', 3600)\n"
    "set(r .. 'WiFi.SSID.1.Enable', true)\n"
    "commit()\n"
    "local n = 0\n"
    "for _ in ssids:each() do n = n + 1 end\n"
    "log('info', 'fresh-done uptime=' .. tostring(up.value) .. ' ssids=' .. n)\n";

static const char stale_lua[] =
    "local args = ... or {}\n"
    "local r = root()\n"
    "local names = {\n"
    "  'DeviceInfo.Manufacturer', 'DeviceInfo.ModelName', 'DeviceInfo.HardwareVersion',\n"
    "  'DeviceInfo.SoftwareVersion', 'DeviceInfo.UpTime', 'DeviceInfo.SerialNumber',\n"
    "  'ManagementServer.PeriodicInformInterval', 'ManagementServer.PeriodicInformEnable',\n"
    "  'WiFi.SSID.1.SSID', 'WiFi.SSID.2.SSID', 'WiFi.SSID.3.SSID', 'WiFi.SSID.1.Enable',\n"
    "  'WiFi.SSID.3.Enable', 'Hosts.Host.1.HostName', 'Hosts.Host.2.HostName',\n"
    "  'Hosts.Host.3.IPAddress', 'IP.Interface.1.Status', 'IP.Interface.1.Name',\n"
    "  'Time.NTPServer1', 'Time.LocalTimeZone',\n"
    "}\n"
    "local h = {}\n"
    "for i, n in ipairs(names) do h[i] = refresh(r .. n, 3600) end\n"
    "if args.mode == 'read' then\n"
    "  local first = h[5].value\n"
    "else\n"
    "  commit()\n"
    "end\n"
    "local missing = 0\n"
    "for i = 1, #h do if h[i].value == nil then missing = missing + 1 end end\n"
    "log('info', 'stale-' .. args.mode .. ' n=' .. #h .. ' missing=' .. missing ..\n"
    "    ' uptime=' .. tostring(h[5].value) .. ' tz=' .. tostring(h[20].value))\n";

static const char set3_lua[] =
    "local r = root()\n"
    "set(r .. 'WiFi.SSID.1.SSID', 'acme-1')\n"
    "set(r .. 'WiFi.SSID.2.Enable', false)\n"
    "set(r .. 'ManagementServer.PeriodicInformInterval', 600)\n";

static const char instances_lua[] =
    "local h = ensure_instances(root() .. 'WiFi.SSID.*', 2)\n"
    "commit()\n"
    "local objs = declare(root() .. 'WiFi.SSID.*.')\n"
    "log('info', 'instances size=' .. h.size .. ' objects=' .. objs.size)\n";

static const char instances4_lua[] =
    "local h = ensure_instances(root() .. 'WiFi.SSID.*', 4)\n"
    "commit()\n"
    "log('info', 'instances4 size=' .. h.size)\n";

static const char discovery_lua[] =
    "local hosts = refresh(root() .. 'Hosts.Host.*.HostName', 3600)\n"
    "local names = {}\n"
    "for _, v in hosts:each() do names[#names + 1] = v end\n"
    "log('info', 'discovery hosts=' .. table.concat(names, ','))\n";

static const char fault_lua[] =
    "local r = root()\n"
    "local v, err = refresh(r .. 'DeviceInfo.X_ACME_Gone', 0):get()\n"
    "log('info', 'fault-read v=' .. tostring(v) .. ' err=' .. tostring(err))\n"
    "set(r .. 'WiFi.SSID.3.SSID', 'err:' .. tostring(err))\n"
    "local v2, err2 = declare(r .. 'DeviceInfo.NeverExisted', {value = true}):get()\n"
    "log('info', 'never-read v=' .. tostring(v2) .. ' err=' .. tostring(err2))\n";

static const char bystander_lua[] =
    "local v, err = refresh(root() .. 'DeviceInfo.UpTime', 0):get()\n"
    "log('info', 'bystander v=' .. tostring(v) .. ' err=' .. tostring(err))\n";

static void write_tree(void) {
  pt_tree_new(tree, sizeof tree);
  pt_write(tree, "presets/scenarios.lua", presets_lua);
  pt_write(tree, "provisions/discover.lua", discover_lua);
  pt_write(tree, "provisions/fresh.lua", fresh_lua);
  pt_write(tree, "provisions/stale.lua", stale_lua);
  pt_write(tree, "provisions/set3.lua", set3_lua);
  pt_write(tree, "provisions/instances.lua", instances_lua);
  pt_write(tree, "provisions/instances4.lua", instances4_lua);
  pt_write(tree, "provisions/discovery.lua", discovery_lua);
  pt_write(tree, "provisions/fault.lua", fault_lua);
  pt_write(tree, "provisions/bystander.lua", bystander_lua);
}

typedef struct dev {
  cs_cpe c;
  cm_model m;
  pt_turn t;
} dev;

static void dev_init(dev *d, const char *serial) {
  cs_cpe_init(&d->c, acsd.cwmp_port, "00D09E", "PT", serial);
  pt_model_init(&d->m, &d->c);
  memset(&d->t, 0, sizeof d->t);
}

static void dev_free(dev *d) {
  cm_free(&d->m);
  cs_cpe_free(&d->c);
}

/* A session; prints what the CPE received. */
static int run(dev *d, const char *events, const char *label) {
  int n = pt_session(&d->c, &d->m, events, &d->t);
  char desc[1024];
  printf("%-28s %-12s %d RPC%s: %s\n", label, events, n, n == 1 ? "" : "s",
         pt_describe(&d->t, desc, sizeof desc));
  fflush(stdout);
  return n;
}

/* The "1 BOOT" session that lists and reads the whole tree. */
static void discover(dev *d) {
  CHECK_INT(run(d, "1 BOOT", "discover"), 2);
  CHECK_INT(pt_count(&d->t, ACS_CWMP_GET_PARAMETER_NAMES), 1);
  CHECK_INT(pt_count(&d->t, ACS_CWMP_GET_PARAMETER_VALUES), 1);
  CHECK_STR(d->t.rpc[0].name, "Device.");
  CHECK_STR(d->t.rpc[1].name, "Device.");
}

static const char *pval(const dev *d, const char *name) {
  return qs(pg, "SELECT value FROM parameters WHERE device_id = $1 AND name = $2", d->c.device_id,
            name);
}

static int log_has(const char *needle) { return cs_acsd_log_count(&acsd, needle); }

/* A log line of the policy, waited for briefly (the log is written as the
 * policy runs, before the session's 204). */
static bool wait_log(const char *needle) {
  for (int i = 0; i < 50; i++) {
    if (log_has(needle) > 0) return true;
    cs_sleep_ms(20);
  }
  fprintf(stderr, "not in acsd's log: %s\n", needle);
  cs_acsd_log_tail(&acsd, 12);
  return false;
}

static void test_fresh(void) {
  dev d;
  dev_init(&d, "SN-FRESH");
  discover(&d);
  CHECK_INT(run(&d, "2 PERIODIC", "fresh: all fresh"), 0);
  CHECK(wait_log("fresh-done uptime=4711 ssids=3"));
  CHECK_INT(run(&d, "2 PERIODIC", "fresh: again"), 0);
  dev_free(&d);
}

static void test_stale(const char *serial, const char *mode) {
  dev d;
  char label[64], want[160];
  dev_init(&d, serial);
  discover(&d);
  /* the store's values are two hours old; the CPE's uptime moved on */
  CHECK_INT(qll(pg,
                "WITH u AS (UPDATE parameters SET value_at = now() - interval '2 hours' "
                "WHERE device_id = $1 AND value_at IS NOT NULL RETURNING 1) "
                "SELECT count(*) FROM u",
                d.c.device_id, NULL) >= 20,
            1);
  /* ... and so are the device's records of when its subtrees were read */
  CHECK_INT(qll(pg,
                "WITH u AS (UPDATE devices SET refreshed = '{}' WHERE id = $1 RETURNING 1) "
                "SELECT count(*) FROM u",
                d.c.device_id, NULL),
            1);
  cm_set(&d.m, "Device.DeviceInfo.UpTime", "5000", ACS_XSD_UNSIGNEDINT, false);
  snprintf(label, sizeof label, "stale (%s): 20 stale", mode);
  CHECK_INT(run(&d, "2 PERIODIC", label), 1);
  CHECK_INT(pt_count(&d.t, ACS_CWMP_GET_PARAMETER_VALUES), 1);
  CHECK_INT(d.t.rpc[0].n, 20);
  snprintf(want, sizeof want, "stale-%s n=20 missing=0 uptime=5000 tz=CET-1CEST", mode);
  CHECK(wait_log(want));
  CHECK_STR(pval(&d, "Device.DeviceInfo.UpTime"), "5000");
  /* the values were just read: fresh for the next session */
  snprintf(label, sizeof label, "stale (%s): just read", mode);
  /* an unchanged value is not written, but devices.refreshed records the
   * read: 0 RPCs */
  CHECK_INT(run(&d, "2 PERIODIC", label), 0);
  dev_free(&d);
}

static void test_set3(void) {
  dev d;
  dev_init(&d, "SN-SET");
  discover(&d);
  CHECK_INT(run(&d, "2 PERIODIC", "set3: 1 of 3 differs"), 1);
  CHECK_INT(pt_count(&d.t, ACS_CWMP_SET_PARAMETER_VALUES), 1);
  CHECK_INT(d.t.rpc[0].n, 1);
  CHECK_STR(d.t.rpc[0].name, "Device.ManagementServer.PeriodicInformInterval");
  CHECK_STR(d.t.rpc[0].value, "600");
  CHECK_STR(cm_find(&d.m, "Device.ManagementServer.PeriodicInformInterval")->value, "600");
  CHECK_STR(pval(&d, "Device.ManagementServer.PeriodicInformInterval"), "600");
  CHECK_INT(run(&d, "2 PERIODIC", "set3: all set"), 0);
  dev_free(&d);
}

static void test_instances(void) {
  dev d;
  dev_init(&d, "SN-INST");
  cm_set(&d.m, "Device.WiFi.SSID.4.SSID", "acme-4", ACS_XSD_STRING, true);
  cm_set(&d.m, "Device.WiFi.SSID.4.Enable", "false", ACS_XSD_BOOLEAN, true);
  discover(&d);
  CHECK_INT(run(&d, "2 PERIODIC", "instances: 2 of 4"), 3);
  CHECK_INT(pt_count(&d.t, ACS_CWMP_DELETE_OBJECT), 2);
  CHECK_INT(pt_count(&d.t, ACS_CWMP_GET_PARAMETER_NAMES), 1);
  CHECK_INT(pt_count(&d.t, ACS_CWMP_ADD_OBJECT), 0);
  CHECK_STR(d.t.rpc[0].name, "Device.WiFi.SSID.");
  /* the highest-numbered instances go (in whatever order) */
  CHECK(strcmp(d.t.rpc[1].name, d.t.rpc[2].name) != 0);
  for (int i = 1; i <= 2; i++)
    CHECK(!strcmp(d.t.rpc[i].name, "Device.WiFi.SSID.3.") ||
          !strcmp(d.t.rpc[i].name, "Device.WiFi.SSID.4."));
  CHECK(cm_find(&d.m, "Device.WiFi.SSID.2.SSID") && !cm_find(&d.m, "Device.WiFi.SSID.3.SSID"));
  CHECK_INT(
      qll(pg,
          "SELECT count(*) FROM parameters WHERE device_id = $1 AND "
          "starts_with(name, 'Device.WiFi.SSID.') AND name ~ '^Device\\.WiFi\\.SSID\\.[34]\\.'",
          d.c.device_id, NULL),
      0);
  CHECK(wait_log("instances size=2 objects=2"));
  dev_free(&d);
}

/* An AddObject, then the table listed again: once that was taken for no
 * progress (the same GetParameterNames twice) and faulted the channel. */
static void test_instances_add(void) {
  dev d;
  dev_init(&d, "SN-INST-ADD");
  discover(&d);
  CHECK_INT(run(&d, "2 PERIODIC", "instances4: 4 of 3"), 3);
  CHECK_INT(pt_count(&d.t, ACS_CWMP_ADD_OBJECT), 1);
  CHECK_INT(pt_count(&d.t, ACS_CWMP_GET_PARAMETER_NAMES), 2);
  CHECK_INT(d.t.rpc[1].kind, ACS_CWMP_ADD_OBJECT);
  CHECK_STR(d.t.rpc[2].name, "Device.WiFi.SSID.");
  CHECK(wait_log("instances4 size=4"));
  CHECK_INT(qll(pg, "SELECT count(*) FROM faults WHERE device_id = $1", d.c.device_id, NULL), 0);
  dev_free(&d);
}

static void test_discovery(void) {
  dev d;
  dev_init(&d, "SN-DISC");
  /* no "1 BOOT" first: the store knows only the Inform's parameters */
  CHECK_INT(run(&d, "2 PERIODIC", "discovery: unknown subtree"), 2);
  CHECK_INT(d.t.rpc[0].kind, ACS_CWMP_GET_PARAMETER_NAMES);
  CHECK_STR(d.t.rpc[0].name, "Device.Hosts.Host.");
  CHECK(!d.t.rpc[0].next_level);
  CHECK_INT(d.t.rpc[1].kind, ACS_CWMP_GET_PARAMETER_VALUES);
  CHECK_INT(d.t.rpc[1].n, 3);
  CHECK(wait_log("discovery hosts=host-1,host-2,host-3"));
  CHECK_STR(pval(&d, "Device.Hosts.Host.2.HostName"), "host-2");
  CHECK_STR(qs(pg,
               "SELECT is_object::text FROM parameters WHERE device_id = $1 AND name = "
               "'Device.Hosts.Host.3.'",
               d.c.device_id, NULL),
            "true");
  CHECK_INT(run(&d, "2 PERIODIC", "discovery: known now"), 0);
  dev_free(&d);
}

static void test_fault(void) {
  dev d;
  dev_init(&d, "SN-FAULT");
  cm_set(&d.m, "Device.DeviceInfo.X_ACME_Gone", "here", ACS_XSD_STRING, false);
  discover(&d);
  CHECK_STR(pval(&d, "Device.DeviceInfo.X_ACME_Gone"), "here");
  CHECK(cm_remove(&d.m, "Device.DeviceInfo.X_ACME_Gone") == 1); /* a new firmware */
  int n = run(&d, "2 PERIODIC", "fault: a name gone");
  CHECK_INT(n, 2); /* the GPV that faults, the policy's SPV after it: the session went on */
  CHECK_INT(d.t.rpc[0].kind, ACS_CWMP_GET_PARAMETER_VALUES);
  CHECK_STR(d.t.rpc[0].name, "Device.DeviceInfo.X_ACME_Gone");
  CHECK_INT(d.t.rpc[1].kind, ACS_CWMP_SET_PARAMETER_VALUES);
  CHECK_STR(d.t.rpc[1].value, "err:9005 Invalid parameter name");
  CHECK_STR(cm_find(&d.m, "Device.WiFi.SSID.3.SSID")->value, "err:9005 Invalid parameter name");
  CHECK(wait_log("fault-read v=nil err=9005 Invalid parameter name"));
  CHECK(wait_log("never-read v=nil err=no such parameter: Device.DeviceInfo.NeverExisted"));
  cs_sleep_ms(300);
  CHECK_INT(qll(pg, "SELECT count(*) FROM faults WHERE device_id = $1", d.c.device_id, NULL), 0);
  dev_free(&d);

  /* the same fault, and another preset's read in the same GetParameterValues */
  dev b;
  dev_init(&b, "SN-FAULT2");
  cm_set(&b.m, "Device.DeviceInfo.X_ACME_Gone", "here", ACS_XSD_STRING, false);
  discover(&b);
  CHECK(cm_remove(&b.m, "Device.DeviceInfo.X_ACME_Gone") == 1);
  /* the GPV of both names is refused; each is asked for alone; the one the
   * CPE has is read, the other fails its reader only */
  n = run(&b, "2 PERIODIC", "fault: and a bystander");
  CHECK_INT(n, 4);
  CHECK_INT(pt_count(&b.t, ACS_CWMP_GET_PARAMETER_VALUES), 3);
  CHECK_INT(b.t.rpc[0].n, 2);
  CHECK_INT(b.t.rpc[1].n, 1);
  CHECK_STR(b.t.rpc[1].name, "Device.DeviceInfo.UpTime");
  CHECK_INT(b.t.rpc[2].n, 1);
  CHECK_STR(b.t.rpc[2].name, "Device.DeviceInfo.X_ACME_Gone");
  CHECK_INT(b.t.rpc[3].kind, ACS_CWMP_SET_PARAMETER_VALUES);
  CHECK_STR(cm_find(&b.m, "Device.WiFi.SSID.3.SSID")->value, "err:9005 Invalid parameter name");
  bool ok = wait_log("bystander v=4711 err=nil");
  if (!ok)
    fprintf(stderr,
            "a 9005 for one name failed another channel's declaration (%d with its "
            "error in the log)\n",
            log_has("bystander v=nil err=9005"));
  CHECK(ok);
  dev_free(&b);
}

int main(void) {
  pg = cs_pg_connect(cs_env("ACS_TEST_PG_DSN"));
  write_tree();
  const char *extra[] = {"--policies", tree, NULL};
  if (cs_acsd_start(&acsd, 2, extra) != 0) return 1;
  setvbuf(stdout, NULL, _IOLBF, 0);

  test_fresh();
  test_stale("SN-STALE-C", "commit");
  test_stale("SN-STALE-R", "read");
  test_set3();
  test_instances();
  test_instances_add();
  test_discovery();
  test_fault();

  CHECK_INT(cs_acsd_log_count(&acsd, "script."), 0); /* no policy faulted */
  CHECK_INT(cs_acsd_stop(&acsd, 20000), 0);
  pt_tree_remove(tree);
  PQfinish(pg);
  return acs_test_result("test_policy_rpcs");
}
