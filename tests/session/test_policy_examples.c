/* test_policy_examples: the example policies of policies/ (copied into a
 * temporary directory, so that the development watcher never sees an edit
 * of the source tree) against a scripted CPE.
 *
 *  - "0 BOOTSTRAP,1 BOOT": the bootstrap preset lists the whole tree
 *    (GetParameterNames Device., NextLevel false) and reads DeviceInfo. and
 *    ManagementServer. (one GetParameterValues); inform_interval then sets
 *    PeriodicInformInterval (300, xsd:unsignedInt) and PeriodicInformTime
 *    (spread per device over the interval, xsd:dateTime) in one
 *    SetParameterValues (PeriodicInformEnable is true already); the periodic
 *    refresh preset (1 BOOT) reads nothing more. bootstrap's commit() waits
 *    for its declarations: its log line comes after the GetParameterValues
 *    and before the SetParameterValues. What was read and set is in the
 *    store's parameters table, no fault is recorded.
 *  - "2 PERIODIC" and "1 BOOT" right after: everything is fresh, 0 RPCs. */
#include "policy_test.h"
#include "session/acs_policy.h"

static cs_acsd acsd;
static PGconn *pg;
static char tree[256];

/* policies/ into a temporary tree. */
static void copy_examples(void) {
  char src[512], err[512];
  snprintf(src, sizeof src, "%s/policies", cs_env("ACS_SOURCE_DIR"));
  json_t *files = NULL;
  if (acs_policy_read_tree(src, &files, err, sizeof err) != 0) {
    fprintf(stderr, "%s\n", err);
    exit(1);
  }
  pt_tree_new(tree, sizeof tree);
  const char *name;
  json_t *text;
  json_object_foreach(files, name, text) {
    char rel[600];
    snprintf(rel, sizeof rel, "%s.lua", name);
    pt_write(tree, rel, json_string_value(text));
  }
  printf("policies/: %zu files\n", json_object_size(files));
  CHECK(json_object_get(files, "provisions/bootstrap") != NULL);
  CHECK(json_object_get(files, "provisions/inform_interval") != NULL);
  CHECK(json_object_get(files, "presets/default") != NULL);
  json_decref(files);
}

/* inform_interval's PeriodicInformTime: spread("inform") * interval seconds
 * after the epoch, spread being FNV-1a of "inform" .. device id over 2^32. */
static void expected_time(const char *device_id, int interval, char out[32]) {
  char s[300];
  snprintf(s, sizeof s, "inform%s", device_id);
  uint32_t h = 2166136261u;
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) h = (h ^ *p) * 16777619u;
  long off = (long)(((uint64_t)h * (uint64_t)interval) >> 32); /* exact, as in Lua */
  snprintf(out, 32, "1970-01-01T%02ld:%02ld:%02ldZ", off / 3600, off / 60 % 60, off % 60);
}

/* What acsd's log says when each RPC reaches the CPE. */
typedef struct seen {
  int bootstrapped[PT_MAX_RPCS];
} seen;

static int hook(pt_turn *t, const acs_cwmp_msg *rpc) {
  seen *s = t->arg;
  if (t->n <= PT_MAX_RPCS) s->bootstrapped[t->n - 1] = cs_acsd_log_count(&acsd, "bootstrapped");
  return 0;
}

static const char *pcol(const char *dev, const char *name, const char *col) {
  char sql[200];
  snprintf(sql, sizeof sql, "SELECT %s FROM parameters WHERE device_id = $1 AND name = $2", col);
  return qs(pg, sql, dev, name);
}

static void test_bootstrap(void) {
  cs_cpe c;
  cm_model m;
  pt_turn t;
  seen sn;
  char desc[1024], when[32];
  memset(&t, 0, sizeof t);
  memset(&sn, 0, sizeof sn);
  cs_cpe_init(&c, acsd.cwmp_port, "00D09E", "RR-9000", "SN-EXAMPLE-1");
  pt_model_init(&m, &c);
  cm_set(&m, "Device.ManagementServer.PeriodicInformInterval", "60", ACS_XSD_UNSIGNEDINT, true);
  expected_time(c.device_id, 300, when);

  t.hook = hook;
  t.arg = &sn;
  uint64_t t0 = cs_now_ms();
  int n = pt_session(&c, &m, "0 BOOTSTRAP,1 BOOT", &t);
  printf("BOOTSTRAP session: %d RPCs in %llu ms: %s\n", n, (unsigned long long)(cs_now_ms() - t0),
         pt_describe(&t, desc, sizeof desc));
  CHECK_INT(n, 3);
  CHECK_INT(pt_count(&t, ACS_CWMP_GET_PARAMETER_NAMES), 1);
  CHECK_INT(pt_count(&t, ACS_CWMP_GET_PARAMETER_VALUES), 1);
  CHECK_INT(pt_count(&t, ACS_CWMP_SET_PARAMETER_VALUES), 1);
  if (n == 3) {
    CHECK_INT(t.rpc[0].kind, ACS_CWMP_GET_PARAMETER_NAMES);
    CHECK_STR(t.rpc[0].name, "Device.");
    CHECK(!t.rpc[0].next_level);
    /* one GPV for everything declared: bootstrap's two objects, and what
     * other policies of the tree (alarm rules) read alongside */
    printf("  GPV: %s\n  SPV: %s\n", t.rpc[1].all, t.rpc[2].all);
    CHECK_INT(t.rpc[1].kind, ACS_CWMP_GET_PARAMETER_VALUES);
    CHECK(strstr(t.rpc[1].all, "Device.DeviceInfo. ") != NULL);
    CHECK(strstr(t.rpc[1].all, "Device.ManagementServer. ") != NULL);
    CHECK(strstr(t.rpc[1].all, "Device.DeviceInfo.UpTime") == NULL); /* covered */
    CHECK_INT(t.rpc[2].kind, ACS_CWMP_SET_PARAMETER_VALUES);
    CHECK_INT(t.rpc[2].n, 2);
    CHECK(strstr(t.rpc[2].all, "Device.ManagementServer.PeriodicInformInterval ") != NULL);
    CHECK(strstr(t.rpc[2].all, "Device.ManagementServer.PeriodicInformTime ") != NULL);
    /* commit() returned once its reads were done, not after the first stage */
    CHECK_INT(sn.bootstrapped[1], 0);
    CHECK_INT(sn.bootstrapped[2], 1);
  }
  /* the CPE got the values, with their types */
  cm_param *iv = cm_find(&m, "Device.ManagementServer.PeriodicInformInterval");
  cm_param *it = cm_find(&m, "Device.ManagementServer.PeriodicInformTime");
  CHECK_STR(iv->value, "300");
  CHECK_INT(iv->type, ACS_XSD_UNSIGNEDINT);
  CHECK_STR(it->value, when);
  CHECK_INT(it->type, ACS_XSD_DATETIME);
  printf("PeriodicInformTime for %s: %s\n", c.device_id, it->value);
  CHECK_INT(cs_acsd_log_count(&acsd, "bootstrapped"), 1);

  /* and the store has them: the listing, the values read, the values set */
  const char *d = c.device_id;
  CHECK_STR(pcol(d, "Device.ManagementServer.PeriodicInformInterval", "value"), "300");
  CHECK_STR(pcol(d, "Device.ManagementServer.PeriodicInformInterval", "xsd_type"),
            "xsd:unsignedInt");
  CHECK_STR(pcol(d, "Device.ManagementServer.PeriodicInformTime", "value"), when);
  CHECK_STR(pcol(d, "Device.ManagementServer.PeriodicInformTime", "xsd_type"), "xsd:dateTime");
  CHECK_STR(pcol(d, "Device.ManagementServer.PeriodicInformEnable", "value"), "true");
  CHECK_STR(pcol(d, "Device.DeviceInfo.ModelName", "value"), "Roadrunner 9000");
  CHECK_STR(pcol(d, "Device.DeviceInfo.UpTime", "value"), "4711");
  CHECK_STR(pcol(d, "Device.WiFi.SSID.1.SSID", "writable::text"), "true");
  CHECK_STR(pcol(d, "Device.Hosts.Host.2.", "is_object::text"), "true");
  CHECK(pcol(d, "Device.Hosts.Host.2.HostName", "value") == NULL); /* listed, not read */
  CHECK_INT(qll(pg, "SELECT count(*) FROM parameters WHERE device_id = $1 AND names_at IS NOT NULL",
                d, NULL) >= (long long)m.n - 1,
            1);
  cs_sleep_ms(200);
  CHECK_INT(qll(pg, "SELECT count(*) FROM faults WHERE device_id = $1", d, NULL), 0);

  /* later sessions: all fresh */
  n = pt_session(&c, &m, "2 PERIODIC", &t);
  printf("PERIODIC session:  %d RPCs: %s\n", n, pt_describe(&t, desc, sizeof desc));
  CHECK_INT(n, 0);
  n = pt_session(&c, &m, "1 BOOT", &t);
  printf("BOOT session:      %d RPCs: %s\n", n, pt_describe(&t, desc, sizeof desc));
  CHECK_INT(n, 0);
  CHECK_INT(cs_acsd_log_count(&acsd, "no UpTime"), 0);
  CHECK_INT(cs_acsd_log_count(&acsd, "script."), 0);
  cm_free(&m);
  cs_cpe_free(&c);
}

int main(void) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  pg = cs_pg_connect(cs_env("ACS_TEST_PG_DSN"));
  copy_examples();
  const char *extra[] = {"--policies", tree, NULL};
  if (cs_acsd_start(&acsd, 2, extra) != 0) return 1;
  test_bootstrap();
  CHECK_INT(cs_acsd_stop(&acsd, 20000), 0);
  pt_tree_remove(tree);
  PQfinish(pg);
  return acs_test_result("test_policy_examples");
}
