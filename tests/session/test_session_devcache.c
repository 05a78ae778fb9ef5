/* test_session_devcache: the per-worker device cache (session/acs_devcache.h)
 * never serves what another writer has changed.
 *
 * Two acsd instances, A and B, on one store. A device informs A twice, so
 * that A's cache knows its Inform values and (with policies) its model;
 * then it informs B with a value changed; then A again:
 *  - values: informing A with the first value again must store it (A's
 *    cache still says "unchanged since my last write", and only the
 *    version written by B tells it otherwise). Without the version check
 *    the store would keep B's value;
 *  - the model: a provision logs the stored value of a parameter that the
 *    next Informs do not carry; after B stored another value, A's session
 *    must see B's, and a later warm session on A still sees it.
 *  - the policy context: counted by A's worker between warm sessions (its
 *    events per hour), and read again when another writer changed it (the
 *    device's tags; a policy action's status), never served stale;
 * And a warm periodic Inform on A writes no parameter row at all (the
 * parameters' n_tup_ins and n_tup_upd do not move, see
 * test_session_groupcommit for how the statistics are read). */
#include "policy_test.h"

static cs_acsd A, B;

static int inform_with(cs_cpe *c, int port, const char *events, const cs_param *p, size_t n) {
  acs_arena a;
  acs_arena_init(&a, 4096);
  acs_cwmp_msg m, in;
  if (c->http.port != port) {
    cs_http_close(&c->http);
    c->http.port = port;
  }
  cs_cpe_inform_msg(c, &a, "Device.", events, p, n, &m);
  int st = cs_cpe_post(c, &m, &in);
  acs_arena_reset(&a);
  if (st == 200) st = cs_cpe_acs_turn(c, NULL, NULL) == 0 ? 200 : -1;
  return st;
}

static const char *stored(PGconn *pg, const cs_cpe *c, const char *name) {
  return qs(pg, "SELECT value FROM parameters WHERE device_id = $1 AND name = $2", c->device_id,
            name);
}

static void test_values(PGconn *pg) {
  cs_cpe c;
  cs_cpe_init(&c, A.cwmp_port, "00BEEF", "Cache", "SN-VALUES");
  cs_param p[2] = {{"Device.X_ACME.Channel", "1", ACS_XSD_UNSIGNEDINT},
                   {"Device.X_ACME.Band", "2.4GHz", ACS_XSD_STRING}};
  CHECK_INT(inform_with(&c, A.cwmp_port, "0 BOOTSTRAP", p, 2), 200);
  CHECK_INT(inform_with(&c, A.cwmp_port, "2 PERIODIC", p, 2), 200);
  p[0].value = "11";
  CHECK_INT(inform_with(&c, B.cwmp_port, "2 PERIODIC", p, 2), 200);
  CHECK_STR(stored(pg, &c, "Device.X_ACME.Channel"), "11");
  p[0].value = "1"; /* what A's cache holds as stored */
  CHECK_INT(inform_with(&c, A.cwmp_port, "2 PERIODIC", p, 2), 200);
  CHECK_STR(stored(pg, &c, "Device.X_ACME.Channel"), "1");
  p[1].value = "5GHz"; /* and A's cache now follows the store again */
  CHECK_INT(inform_with(&c, A.cwmp_port, "2 PERIODIC", p, 2), 200);
  CHECK_STR(stored(pg, &c, "Device.X_ACME.Band"), "5GHz");
  CHECK_STR(stored(pg, &c, "Device.X_ACME.Channel"), "1");
  cs_cpe_free(&c);
}

static const char mode_lua[] =
    "local v = declare('Device.X_ACME.Mode', {value = -31536000}).value\n"
    "log('info', 'stored mode=' .. tostring(v))\n";

static const char ctx_lua[] =
    "log('info', string.format('ctx periodic=%d tags=%s action=%s',\n"
    "  device.events_1h['2 PERIODIC'] or 0, table.concat(device.tags, ','),\n"
    "  tostring(action_status('ctx-key'))))\n";

static const char presets_lua[] =
    "return {{name = 'mode', events = {'0 BOOTSTRAP', '2 PERIODIC'}, provisions = {'mode'},\n"
    "  precondition = {serial_number = 'SN-MODEL'}},\n"
    " {name = 'ctx', events = {'0 BOOTSTRAP', '2 PERIODIC'}, provisions = {'ctx'},\n"
    "  precondition = {serial_number = 'SN-CTX'}}}\n";

static void test_model(void) {
  cs_cpe c;
  cs_cpe_init(&c, A.cwmp_port, "00BEEF", "Cache", "SN-MODEL");
  cs_param mode = {"Device.X_ACME.Mode", "alpha", ACS_XSD_STRING};
  CHECK_INT(inform_with(&c, A.cwmp_port, "0 BOOTSTRAP", &mode, 1), 200);
  CHECK_INT(inform_with(&c, A.cwmp_port, "2 PERIODIC", NULL, 0), 200); /* warm */
  CHECK_INT(cs_acsd_log_count(&A, "stored mode=alpha"), 2);
  mode.value = "beta";
  CHECK_INT(inform_with(&c, B.cwmp_port, "2 PERIODIC", &mode, 1), 200);
  CHECK_INT(cs_acsd_log_count(&B, "stored mode=beta"), 1);
  CHECK_INT(inform_with(&c, A.cwmp_port, "2 PERIODIC", NULL, 0), 200); /* stale: read */
  CHECK_INT(inform_with(&c, A.cwmp_port, "2 PERIODIC", NULL, 0), 200); /* warm again */
  CHECK_INT(cs_acsd_log_count(&A, "stored mode=beta"), 2);
  CHECK_INT(cs_acsd_log_count(&A, "stored mode=alpha"), 2);
  cs_cpe_free(&c);
}

/* What A logged of its last session of the device. */
static void check_ctx_log(const char *want) {
  CHECK_INT(cs_acsd_log_count(&A, want), 1);
}

static void test_ctx(PGconn *pg) {
  cs_cpe c;
  cs_cpe_init(&c, A.cwmp_port, "00BEEF", "Cache", "SN-CTX");
  CHECK_INT(inform_with(&c, A.cwmp_port, "0 BOOTSTRAP", NULL, 0), 200);
  check_ctx_log("ctx periodic=0 tags= action=nil");
  CHECK_INT(inform_with(&c, A.cwmp_port, "2 PERIODIC", NULL, 0), 200);
  check_ctx_log("ctx periodic=1 tags= action=nil");
  CHECK_INT(inform_with(&c, A.cwmp_port, "2 PERIODIC", NULL, 0), 200); /* counted by A */
  check_ctx_log("ctx periodic=2 tags= action=nil");
  /* another writer (the API, a bulk action) tags the device */
  cs_pg_exec(pg, "UPDATE devices SET tags = ARRAY['blue'] WHERE serial_number = 'SN-CTX'");
  CHECK_INT(inform_with(&c, A.cwmp_port, "2 PERIODIC", NULL, 0), 200);
  check_ctx_log("ctx periodic=3 tags=blue action=nil");
  /* a policy action appears, then settles, written elsewhere */
  char sql[512];
  snprintf(sql, sizeof sql,
           "INSERT INTO tasks (device_id, rpc, args, status, created_by, command_key) VALUES "
           "('%s', 'Reboot', '{}', 'fault', 'policy:provisions/ctx', 'ctx-key')",
           c.device_id);
  cs_pg_exec(pg, sql);
  CHECK_INT(inform_with(&c, A.cwmp_port, "2 PERIODIC", NULL, 0), 200);
  check_ctx_log("ctx periodic=4 tags=blue action=fault");
  CHECK_INT(inform_with(&c, A.cwmp_port, "2 PERIODIC", NULL, 0), 200); /* warm */
  check_ctx_log("ctx periodic=5 tags=blue action=fault");
  cs_pg_exec(pg, "UPDATE tasks SET status = 'done' WHERE command_key = 'ctx-key'");
  CHECK_INT(inform_with(&c, A.cwmp_port, "2 PERIODIC", NULL, 0), 200);
  check_ctx_log("ctx periodic=6 tags=blue action=done");
  /* B informs: A's copy is stale and read again, events included */
  CHECK_INT(inform_with(&c, B.cwmp_port, "2 PERIODIC", NULL, 0), 200);
  CHECK_INT(inform_with(&c, A.cwmp_port, "2 PERIODIC", NULL, 0), 200);
  check_ctx_log("ctx periodic=8 tags=blue action=done");
  cs_cpe_free(&c);
}

static const char sql_writes[] =
    "SELECT coalesce(sum(n_tup_ins + n_tup_upd), 0) FROM pg_stat_user_tables WHERE relname LIKE "
    "'parameters\\_p%'";

/* The statistics once two fresh reads a second apart agree (a PG 15
 * backend flushes its counters when idle for a second). */
static long long settled(PGconn *pg) {
  long long prev = -2;
  for (int i = 0; i < 20; i++) {
    cs_sleep_ms(1100);
    cs_pg_exec(pg, "SELECT pg_stat_clear_snapshot()");
    long long v = cs_pg_ll(pg, sql_writes, 0);
    if (v == prev) return v;
    prev = v;
  }
  return prev;
}

static void test_warm_writes_nothing(PGconn *pg) {
  cs_cpe c;
  cs_cpe_init(&c, A.cwmp_port, "00BEEF", "Cache", "SN-WARM");
  cs_param p[3] = {{"Device.X_ACME.A", "1", ACS_XSD_STRING},
                   {"Device.X_ACME.B", "2", ACS_XSD_STRING},
                   {"Device.X_ACME.C", "3", ACS_XSD_STRING}};
  CHECK_INT(inform_with(&c, A.cwmp_port, "0 BOOTSTRAP", p, 3), 200);
  CHECK_INT(inform_with(&c, A.cwmp_port, "2 PERIODIC", p, 3), 200);
  long long before = settled(pg);
  for (int i = 0; i < 5; i++) CHECK_INT(inform_with(&c, A.cwmp_port, "2 PERIODIC", p, 3), 200);
  long long after = settled(pg);
  printf("5 warm periodic Informs wrote %lld parameter rows\n", after - before);
  CHECK(before >= 0);
  CHECK_INT(after - before, 0);
  p[2].value = "4";
  CHECK_INT(inform_with(&c, A.cwmp_port, "2 PERIODIC", p, 3), 200);
  CHECK_INT(settled(pg) - after, 1); /* the measure sees a write */
  cs_cpe_free(&c);
}

int main(void) {
  PGconn *pg = cs_pg_connect(cs_env("ACS_TEST_PG_DSN"));
  char dir[256];
  pt_tree_new(dir, sizeof dir);
  pt_write(dir, "provisions/mode.lua", mode_lua);
  pt_write(dir, "provisions/ctx.lua", ctx_lua);
  pt_write(dir, "presets/default.lua", presets_lua);
  const char *extra[] = {"--policies", dir, NULL};
  if (cs_acsd_start(&A, 2, extra) != 0 || cs_acsd_start(&B, 2, extra) != 0) return 1;
  test_values(pg);
  test_model();
  test_ctx(pg);
  test_warm_writes_nothing(pg);
  CHECK_INT(cs_acsd_stop(&A, 30000), 0);
  CHECK_INT(cs_acsd_stop(&B, 30000), 0);
  pt_tree_remove(dir);
  PQfinish(pg);
  return acs_test_result("test_session_devcache");
}
