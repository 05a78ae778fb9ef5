/* test_session_first_contact: a device's first session writes each
 * parameter row once (docs/storage.md, "A first contact writes each row
 * once"), and a session that ends early never leaves the store claiming a
 * listing it does not hold.
 *
 * A provision lists the whole tree (GetParameterNames Device., NextLevel
 * false), reads every value (one GetParameterValues) and then sets one
 * value (SetParameterValues), against a scripted CPE (tests/session/
 * cpe_model.c):
 *  - once: over the first session the parameters' n_tup_ins grows by the
 *    device's rows, and n_tup_upd only by the rows written before the
 *    listing (the Inform's own parameters, which get their listing) and by
 *    the value the session then sets: each listed row is written once, its
 *    names and value together (before, every value was a second version
 *    of a row inserted by the listing). The store then holds every name
 *    listed, every value read and the '#names:Device.' mark;
 *  - timeout: the CPE goes away after the listing; at the session timeout
 *    the listing is stored whole (names, mark), and the next session reads
 *    the values without listing again;
 *  - superseded: the CPE reboots after the listing and informs again: the
 *    old session's listing is stored before the new Inform, which finds
 *    it (no second listing);
 *  - dies: acsd stops after the values were written and before the session
 *    ends: the store has those rows but no objects and no '#names:' mark,
 *    and the next session (a new acsd) lists again and ends with the whole
 *    model stored;
 *  - relist: a later session lists Device.WiFi. again; when the CPE has
 *    dropped an instance, the end deletes its rows (the listing dropped
 *    names from the model), and a listing that drops nothing leaves every
 *    row;
 *  - lone: a parameter the store does not know, listed by its own name and
 *    read, is written once (its listing waits for its value: no update),
 *    and the read's devices.refreshed mark comes with the session's end.
 * Statistics are read as test_session_devcache.c reads them. */
#include "policy_test.h"

static cs_acsd acsd;
static PGconn *pg;
static char tree[256];

static const char disc_lua[] =
    "declare('Device.', {path = 1})\n"
    "declare('Device.', {value = 1})\n"
    "commit()\n"
    "set('Device.Time.NTPServer1', 'ntp.example.com')\n";

static const char relist_lua[] =
    "declare('Device.WiFi.', {path = true})\n"
    "declare('Device.WiFi.SSID.*.SSID', {value = true})\n"
    "commit()\n";

static const char lone_lua[] =
    "declare('Device.Time.LocalTimeZone', {value = -3600})\n"
    "commit()\n";

static const char presets_lua[] =
    "return {{name = 'disc', events = {'0 BOOTSTRAP', '1 BOOT'}, provisions = {'disc'}},\n"
    "  {name = 'relist', events = {'2 PERIODIC'}, provisions = {'relist'}},\n"
    "  {name = 'lone', events = {'6 CONNECTION REQUEST'}, provisions = {'lone'}}}\n";

static const char *const extra_args[] = {"--policies", tree, "--session-timeout-ms", "2000", NULL};

static const char sql_stats[] =
    "SELECT coalesce(sum(n_tup_ins), 0) || ' ' || coalesce(sum(n_tup_upd), 0)\n"
    "FROM pg_stat_user_tables WHERE relname LIKE 'parameters\\_p%'";

/* The parameters' inserts and updates once two reads a second apart agree
 * (a PG 15 backend flushes its counters when idle for a second). */
static void settled(long long *ins, long long *upd) {
  char prev[64] = "";
  for (int i = 0; i < 20; i++) {
    cs_sleep_ms(1100);
    cs_pg_exec(pg, "SELECT pg_stat_clear_snapshot()");
    char *v = cs_pg_str(pg, NULL, sql_stats, 0);
    bool same = v && strcmp(v, prev) == 0;
    snprintf(prev, sizeof prev, "%s", v ? v : "");
    free(v);
    if (same) break;
  }
  *ins = *upd = -1;
  sscanf(prev, "%lld %lld", ins, upd);
}

static long long count(const cs_cpe *c, const char *where) {
  char sql[512];
  snprintf(sql, sizeof sql, "SELECT count(*) FROM parameters WHERE device_id = $1 AND %s", where);
  return qll(pg, sql, c->device_id, NULL);
}

static const char *names_mark(const cs_cpe *c) {
  return qs(pg, "SELECT (refreshed ? '#names:Device.')::text FROM devices WHERE id = $1",
            c->device_id, NULL);
}

/* Entries of the CPE's model under Device. (objects included), and leaves. */
static long long model_count(const cm_model *m, bool leaves_only) {
  long long n = 0;
  for (size_t i = 0; i < m->n; i++) {
    size_t l = strlen(m->p[i].name);
    if (strncmp(m->p[i].name, "Device.", 7) != 0) continue;
    if (leaves_only && m->p[i].name[l - 1] == '.') continue;
    n++;
  }
  return n;
}

/* The whole model is stored: every name listed, every leaf with a value,
 * the mark. */
static void check_complete(const cs_cpe *c, const cm_model *m) {
  CHECK_INT(count(c, "writable IS NOT NULL AND names_at IS NOT NULL"), model_count(m, false));
  CHECK_INT(count(c, "NOT is_object AND value IS NOT NULL AND writable IS NOT NULL"),
            model_count(m, true));
  CHECK(count(c, "is_object") > 0);
  CHECK_STR(names_mark(c), "true");
  CHECK_STR(qs(pg, "SELECT value FROM parameters WHERE device_id = $1 AND name = $2", c->device_id,
               "Device.Time.NTPServer1"),
            "ntp.example.com");
}

/* The Inform's own parameters that the listing names: written by the
 * Inform before the listing, so their listing is a second row version. */
static const char inform_listed[] =
    "name IN ('Device.DeviceInfo.HardwareVersion', 'Device.DeviceInfo.SoftwareVersion',\n"
    "  'Device.DeviceInfo.ProvisioningCode', 'Device.ManagementServer.ConnectionRequestURL',\n"
    "  'Device.ManagementServer.ParameterKey') AND writable IS NOT NULL";

/* A new device (serial) and its first session (events), counted: returns
 * its RPCs, *ins and *upd the parameters' rows it inserted and updated. */
static int counted_session(cs_cpe *c, cm_model *m, pt_turn *t, const char *serial,
                           const char *events, long long *ins, long long *upd) {
  char desc[512];
  memset(t, 0, sizeof *t);
  cs_cpe_init(c, acsd.cwmp_port, "00C0FE", "FC-1", serial);
  pt_model_init(m, c);
  long long ins0, upd0, ins1, upd1;
  settled(&ins0, &upd0);
  int n = pt_session(c, m, events, t);
  printf("%s: %d RPCs: %s\n", serial, n, pt_describe(t, desc, sizeof desc));
  settled(&ins1, &upd1);
  CHECK(ins0 >= 0 && ins1 >= 0);
  *ins = ins1 - ins0;
  *upd = upd1 - upd0;
  return n;
}

static void test_once(void) {
  cs_cpe c;
  cm_model m;
  pt_turn t;
  long long ins, upd;
  int n = counted_session(&c, &m, &t, "SN-ONCE", "0 BOOTSTRAP", &ins, &upd);
  CHECK_INT(n, 3);
  CHECK_INT(pt_count(&t, ACS_CWMP_GET_PARAMETER_NAMES), 1);
  CHECK_INT(pt_count(&t, ACS_CWMP_GET_PARAMETER_VALUES), 1);
  CHECK_INT(pt_count(&t, ACS_CWMP_SET_PARAMETER_VALUES), 1);
  check_complete(&c, &m);
  long long rows = count(&c, "true"), early = count(&c, inform_listed);
  printf("first contact: %lld rows; %lld inserted, %lld updated (%lld listed Inform rows, 1 set)\n",
         rows, ins, upd, early);
  CHECK(rows > 30);
  CHECK_INT(ins, rows);
  CHECK(early >= 1);
  CHECK_INT(upd, early + 1);
  /* a later session: nothing to list, read or set */
  n = pt_session(&c, &m, "1 BOOT", &t);
  CHECK_INT(n, 0);
  cm_free(&m);
  cs_cpe_free(&c);
}

/* Stops the session at the n-th RPC: the CPE drops its connection. */
static int stop_at(pt_turn *t, const acs_cwmp_msg *rpc) {
  (void)rpc;
  return t->n == *(int *)t->arg ? -1 : 0;
}

static void test_timeout(void) {
  cs_cpe c;
  cm_model m;
  pt_turn t;
  char desc[512];
  int at = 2; /* the GetParameterValues after the listing */
  memset(&t, 0, sizeof t);
  cs_cpe_init(&c, acsd.cwmp_port, "00C0FE", "FC-1", "SN-TIMEOUT");
  pt_model_init(&m, &c);
  t.hook = stop_at;
  t.arg = &at;
  CHECK_INT(pt_session(&c, &m, "0 BOOTSTRAP", &t), -1);
  cs_http_close(&c.http);
  CHECK_INT(t.rpc[0].kind, ACS_CWMP_GET_PARAMETER_NAMES);
  CHECK_INT(t.rpc[1].kind, ACS_CWMP_GET_PARAMETER_VALUES);
  /* the session times out (2 s), and its listing is stored then */
  long long waited =
      pt_wait_sql(pg, "SELECT (refreshed ? '#names:Device.')::text FROM devices WHERE id = $1",
                  c.device_id, "true", 10000);
  printf("timeout: listing stored %lld ms after the CPE left\n", waited);
  CHECK(waited >= 0);
  CHECK_INT(count(&c, "writable IS NOT NULL AND names_at IS NOT NULL"), model_count(&m, false));
  /* no value was read: only the Inform's are there */
  CHECK_INT(count(&c,
                  "value IS NOT NULL AND NOT (name LIKE 'Device.DeviceInfo.%' OR\n"
                  "  name LIKE 'Device.ManagementServer.%')"),
            0);
  /* the next session reads the values without listing again */
  t.hook = NULL;
  int n = pt_session(&c, &m, "1 BOOT", &t);
  printf("timeout: next session: %d RPCs: %s\n", n, pt_describe(&t, desc, sizeof desc));
  CHECK_INT(pt_count(&t, ACS_CWMP_GET_PARAMETER_NAMES), 0);
  CHECK_INT(pt_count(&t, ACS_CWMP_GET_PARAMETER_VALUES), 1);
  check_complete(&c, &m);
  cm_free(&m);
  cs_cpe_free(&c);
}

static void test_superseded(void) {
  cs_cpe c;
  cm_model m;
  pt_turn t;
  char desc[512];
  int at = 2; /* the GetParameterValues after the listing */
  memset(&t, 0, sizeof t);
  cs_cpe_init(&c, acsd.cwmp_port, "00C0FE", "FC-1", "SN-SUPERSEDED");
  pt_model_init(&m, &c);
  t.hook = stop_at;
  t.arg = &at;
  CHECK_INT(pt_session(&c, &m, "0 BOOTSTRAP", &t), -1);
  cs_cpe_forget(&c); /* it reboots: a new Inform supersedes the session */
  t.hook = NULL;
  int n = pt_session(&c, &m, "1 BOOT", &t);
  printf("superseded: next session: %d RPCs: %s\n", n, pt_describe(&t, desc, sizeof desc));
  CHECK_INT(cs_acsd_log_count(&acsd, "a newer Inform supersedes the session"), 1);
  /* the superseded session's listing was stored before the new Inform */
  CHECK_INT(pt_count(&t, ACS_CWMP_GET_PARAMETER_NAMES), 0);
  CHECK_INT(pt_count(&t, ACS_CWMP_GET_PARAMETER_VALUES), 1);
  check_complete(&c, &m);
  cm_free(&m);
  cs_cpe_free(&c);
}

static void test_dies(void) {
  cs_cpe c;
  cm_model m;
  pt_turn t;
  char desc[512];
  int at = 3; /* the SetParameterValues after the values were written */
  memset(&t, 0, sizeof t);
  cs_cpe_init(&c, acsd.cwmp_port, "00C0FE", "FC-1", "SN-DIES");
  pt_model_init(&m, &c);
  t.hook = stop_at;
  t.arg = &at;
  CHECK_INT(pt_session(&c, &m, "0 BOOTSTRAP", &t), -1);
  cs_http_close(&c.http);
  CHECK_INT(t.rpc[2].kind, ACS_CWMP_SET_PARAMETER_VALUES);
  CHECK_INT(cs_acsd_stop(&acsd, 20000), 0); /* before the session's timeout */
  CHECK_STR(names_mark(&c), "false");
  long long leaves = count(&c, "value IS NOT NULL AND writable IS NOT NULL");
  printf("dies: %lld of %lld leaves stored with their names, %lld objects, no mark\n", leaves,
         model_count(&m, true), count(&c, "is_object"));
  CHECK_INT(leaves, model_count(&m, true)); /* written with the values */
  CHECK_INT(count(&c, "is_object"), 0);     /* the end's write never came */
  /* a new acsd: the next session lists again and stores the whole model */
  if (cs_acsd_start(&acsd, 2, extra_args) != 0) exit(1);
  cs_http_close(&c.http);
  c.http.port = acsd.cwmp_port;
  c.cookie[0] = '\0';
  t.hook = NULL;
  int n = pt_session(&c, &m, "1 BOOT", &t);
  printf("dies: next session: %d RPCs: %s\n", n, pt_describe(&t, desc, sizeof desc));
  CHECK_INT(pt_count(&t, ACS_CWMP_GET_PARAMETER_NAMES), 1);
  check_complete(&c, &m);
  cm_free(&m);
  cs_cpe_free(&c);
}

/* Rows under Device.WiFi. against the CPE's entries there (objects too). */
static void check_wifi(const cs_cpe *c, const cm_model *m) {
  long long want = 0;
  for (size_t i = 0; i < m->n; i++) want += strncmp(m->p[i].name, "Device.WiFi.", 12) == 0;
  CHECK(want > 3);
  CHECK_INT(count(c, "name LIKE 'Device.WiFi.%'"), want);
}

static void test_relist(void) {
  cs_cpe c;
  cm_model m;
  pt_turn t;
  char desc[512];
  memset(&t, 0, sizeof t);
  cs_cpe_init(&c, acsd.cwmp_port, "00C0FE", "FC-1", "SN-RELIST");
  pt_model_init(&m, &c);
  CHECK_INT(pt_session(&c, &m, "0 BOOTSTRAP", &t), 3);
  check_complete(&c, &m);
  /* listed again, nothing gone */
  int n = pt_session(&c, &m, "2 PERIODIC", &t);
  printf("relist: unchanged: %d RPCs: %s\n", n, pt_describe(&t, desc, sizeof desc));
  CHECK_INT(pt_count(&t, ACS_CWMP_GET_PARAMETER_NAMES), 1);
  CHECK_INT(pt_count(&t, ACS_CWMP_GET_PARAMETER_VALUES), 1);
  check_wifi(&c, &m);
  /* SSID.2 gone, SSID.4 new */
  CHECK(cm_remove(&m, "Device.WiFi.SSID.2.") > 1);
  cm_set(&m, "Device.WiFi.SSID.4.SSID", "four", ACS_XSD_STRING, true);
  n = pt_session(&c, &m, "2 PERIODIC", &t);
  printf("relist: SSID.2 gone, SSID.4 new: %d RPCs: %s\n", n, pt_describe(&t, desc, sizeof desc));
  CHECK_INT(pt_count(&t, ACS_CWMP_GET_PARAMETER_NAMES), 1);
  CHECK_INT(count(&c, "name LIKE 'Device.WiFi.SSID.2.%'"), 0);
  CHECK_STR(qs(pg, "SELECT value FROM parameters WHERE device_id = $1 AND name = $2", c.device_id,
               "Device.WiFi.SSID.4.SSID"),
            "four");
  check_wifi(&c, &m);
  CHECK_STR(qs(pg, "SELECT (refreshed ? '#names:Device.WiFi.')::text FROM devices WHERE id = $1",
               c.device_id, NULL),
            "true");
  cm_free(&m);
  cs_cpe_free(&c);
}

static void test_lone(void) {
  cs_cpe c;
  cm_model m;
  pt_turn t;
  long long ins, upd;
  int n = counted_session(&c, &m, &t, "SN-LONE", "6 CONNECTION REQUEST", &ins, &upd);
  CHECK_INT(n, 2);
  CHECK_INT(t.rpc[0].kind, ACS_CWMP_GET_PARAMETER_NAMES);
  CHECK_STR(t.rpc[0].name, "Device.Time.LocalTimeZone");
  CHECK_INT(t.rpc[1].kind, ACS_CWMP_GET_PARAMETER_VALUES);
  long long rows = count(&c, "true");
  printf("lone: %lld rows; %lld inserted, %lld updated\n", rows, ins, upd);
  CHECK(rows > 1);
  CHECK_INT(ins, rows);
  CHECK_INT(upd, 0);
  CHECK_INT(count(&c,
                  "name = 'Device.Time.LocalTimeZone' AND value = 'CET-1CEST' AND writable "
                  "AND names_at IS NOT NULL"),
            1);
  CHECK_STR(qs(pg,
               "SELECT (refreshed ? 'Device.Time.LocalTimeZone')::text FROM devices WHERE "
               "id = $1",
               c.device_id, NULL),
            "true");
  /* fresh now: the next such session asks for nothing */
  CHECK_INT(pt_session(&c, &m, "6 CONNECTION REQUEST", &t), 0);
  cm_free(&m);
  cs_cpe_free(&c);
}

int main(void) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  pg = cs_pg_connect(cs_env("ACS_TEST_PG_DSN"));
  pt_tree_new(tree, sizeof tree);
  pt_write(tree, "provisions/disc.lua", disc_lua);
  pt_write(tree, "provisions/relist.lua", relist_lua);
  pt_write(tree, "provisions/lone.lua", lone_lua);
  pt_write(tree, "presets/default.lua", presets_lua);
  if (cs_acsd_start(&acsd, 2, extra_args) != 0) return 1;
  test_once();
  test_timeout();
  test_superseded();
  test_dies();
  test_relist();
  test_lone();
  CHECK_INT(cs_acsd_stop(&acsd, 20000), 0);
  pt_tree_remove(tree);
  PQfinish(pg);
  return acs_test_result("test_session_first_contact");
}
