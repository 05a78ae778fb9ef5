/* test_policy_faults: provisions that fail, and the faults table.
 *
 * Three presets in three channels: "broken" runs `raises` (reads UpTime,
 * then raises) and `fine` (reads UpTime too, and completes), "looping" runs
 * `loops` (an endless loop: script.timeout), "healthy" runs `healthy`
 * (reads UpTime, sets ProvisioningCode, commits, logs).
 *
 *  - the session completes (204) and the healthy provision's work is done
 *    (its SetParameterValues reaches the CPE, the value is in the store);
 *  - faults has one row for "broken" (script.error, the message, the
 *    provision) and one for "looping" (script.timeout), none for "healthy";
 *    `fine` completing in the broken channel does not clear its fault;
 *  - back-off (acsd runs with --fault-retry-base 3): a second session
 *    right away skips the faulted channels (their provisions do not run,
 *    retries stay 0) while "healthy" runs; once 3 s have passed the next
 *    session runs them again: retries 1, so the wait is now 6 s;
 *  - the fixed tree pushed with `acsd policies push`: once the device's
 *    worker has loaded it, a session inside the 6 s still skips them; after
 *    an operator's retry (faults.next_retry_at = now(), what POST
 *    /api/v1/faults/{device}/{channel}/retry writes) the next session clears
 *    both rows and the fixed provisions run. */
#include "policy_test.h"

static cs_acsd acsd;
static PGconn *pg;

static const char presets_lua[] =
    "return {\n"
    "  {name = 'broken', channel = 'broken', weight = 30, provisions = {'raises', 'fine'}},\n"
    "  {name = 'looping', channel = 'looping', weight = 20, provisions = {'loops'}},\n"
    "  {name = 'healthy', channel = 'healthy', weight = 10, provisions = {'healthy'}},\n"
    "}\n";

static const char raises_v1[] =
    "local up = refresh(root() .. 'DeviceInfo.UpTime', 0).value\n"
    "error('boom after reading uptime ' .. tostring(up))\n";
static const char raises_v2[] =
    "local up = refresh(root() .. 'DeviceInfo.UpTime', 0).value\n"
    "log('info', 'raises fixed ' .. tostring(up))\n";

static const char fine_lua[] =
    "local up = refresh(root() .. 'DeviceInfo.UpTime', 0).value\n"
    "log('info', 'fine in the broken channel ' .. tostring(up))\n";

static const char loops_v1[] =
    "local n = 0\n"
    "while true do n = n + 1 end\n";
static const char loops_v2[] =
    "local n = 0\n"
    "for i = 1, 1000 do n = n + i end\n"
    "log('info', 'loops fixed ' .. n)\n";

static const char healthy_lua[] =
    "local r = root()\n"
    "local up = refresh(r .. 'DeviceInfo.UpTime', 0).value\n"
    "set(r .. 'DeviceInfo.ProvisioningCode', 'healthy:' .. tostring(up))\n"
    "commit()\n"
    "log('info', 'healthy done ' .. tostring(up))\n";

static void write_tree(const char *dir, bool fixed) {
  pt_write(dir, "presets/p.lua", presets_lua);
  pt_write(dir, "provisions/raises.lua", fixed ? raises_v2 : raises_v1);
  pt_write(dir, "provisions/fine.lua", fine_lua);
  pt_write(dir, "provisions/loops.lua", fixed ? loops_v2 : loops_v1);
  pt_write(dir, "provisions/healthy.lua", healthy_lua);
}

static const char *fault_col(const char *dev, const char *channel, const char *col) {
  char sql[200];
  snprintf(sql, sizeof sql, "SELECT %s FROM faults WHERE device_id = $1 AND channel = $2", col);
  return qs(pg, sql, dev, channel);
}

/* The fault rows are written after the session's answers: waits for n. */
static long long wait_faults(const char *dev, long long n) {
  char want[24];
  snprintf(want, sizeof want, "%lld", n);
  long long ms =
      pt_wait_sql(pg, "SELECT count(*) FROM faults WHERE device_id = $1", dev, want, 3000);
  if (ms < 0) cs_acsd_log_tail(&acsd, 30);
  return ms;
}

int main(void) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  pg = cs_pg_connect(cs_env("ACS_TEST_PG_DSN"));
  char v1[256], v2[256];
  pt_tree_new(v1, sizeof v1);
  pt_tree_new(v2, sizeof v2);
  write_tree(v1, false);
  write_tree(v2, true);
  const char *extra[] = {"--policies", v1, "--fault-retry-base", "3", "--fault-retry-max", "60",
                         NULL};
  if (cs_acsd_start(&acsd, 2, extra) != 0) return 1;

  cs_cpe c;
  cm_model m;
  pt_turn t;
  char desc[1024];
  memset(&t, 0, sizeof t);
  pt_cpe_on_worker(&c, acsd.cwmp_port, "00D09E", "PT", "SN-FAULTS", 0, 2);
  pt_model_init(&m, &c);
  const char *d = c.device_id;

  /* 1. the failing tree */
  uint64_t t0 = cs_now_ms();
  int n = pt_session(&c, &m, "2 PERIODIC", &t);
  printf("session 1 (raises, loops, healthy): %d RPCs in %llu ms: %s\n", n,
         (unsigned long long)(cs_now_ms() - t0), pt_describe(&t, desc, sizeof desc));
  CHECK(n >= 1); /* ended with 204, not a failure */
  CHECK_INT(pt_count(&t, ACS_CWMP_SET_PARAMETER_VALUES), 1);
  CHECK_STR(cm_find(&m, "Device.DeviceInfo.ProvisioningCode")->value, "healthy:4711");
  CHECK(wait_faults(d, 2) >= 0);
  CHECK_STR(fault_col(d, "broken", "code"), "script.error");
  const char *msg = fault_col(d, "broken", "message");
  CHECK(msg && strstr(msg, "boom after reading uptime 4711"));
  printf("broken:  %s: %s\n", fault_col(d, "broken", "code"), msg ? msg : "(none)");
  CHECK_STR(fault_col(d, "broken", "detail->>'provision'"), "raises");
  CHECK_STR(fault_col(d, "looping", "code"), "script.timeout");
  CHECK_STR(fault_col(d, "looping", "detail->>'provision'"), "loops");
  printf("looping: %s: %s\n", fault_col(d, "looping", "code"),
         fault_col(d, "looping", "message") ? fault_col(d, "looping", "message") : "(none)");
  CHECK(fault_col(d, "healthy", "code") == NULL);
  CHECK_STR(fault_col(d, "broken", "retries::text"), "0");
  CHECK_STR(qs(pg,
               "SELECT value FROM parameters WHERE device_id = $1 AND name = "
               "'Device.DeviceInfo.ProvisioningCode'",
               d, NULL),
            "healthy:4711");
  CHECK(cs_acsd_log_count(&acsd, "healthy done 4711") == 1);
  CHECK(cs_acsd_log_count(&acsd, "fine in the broken channel 4711") == 1);
  CHECK(cs_acsd_log_count(&acsd, "raises (channel broken): script.error") == 1);

  /* 2. right away: the faulted channels wait (3 s x 2^0), healthy runs */
  n = pt_session(&c, &m, "2 PERIODIC", &t);
  printf("session 2 (same tree, in back-off): %d RPCs: %s\n", n, pt_describe(&t, desc, sizeof desc));
  CHECK(n >= 1);
  CHECK(cs_acsd_log_count(&acsd, "healthy done 4711") == 2);
  CHECK(cs_acsd_log_count(&acsd, "raises (channel broken): script.error") == 1);
  CHECK(cs_acsd_log_count(&acsd, "fine in the broken channel 4711") == 1);
  CHECK(pt_wait_sql(pg,
                    "SELECT string_agg(channel || '=' || retries, ',' ORDER BY channel) FROM "
                    "faults WHERE device_id = $1",
                    d, "broken=0,looping=0", 3000) >= 0);

  /* ... and after the wait they run (and fault) again: retries 1 */
  cs_sleep_ms(3300);
  n = pt_session(&c, &m, "2 PERIODIC", &t);
  printf("session 3 (same tree, after 3.3 s): %d RPCs: %s\n", n,
         pt_describe(&t, desc, sizeof desc));
  CHECK(n >= 1);
  CHECK(pt_wait_sql(pg,
                    "SELECT string_agg(channel || '=' || retries, ',' ORDER BY channel) FROM "
                    "faults WHERE device_id = $1",
                    d, "broken=1,looping=1", 3000) >= 0);
  CHECK(cs_acsd_log_count(&acsd, "raises (channel broken): script.error") == 2);

  /* 3. the fixed tree, pushed; the device's worker (0) loads it within 2 s */
  char out[2048];
  t0 = cs_now_ms();
  int rc = pt_push(v2, false, out, sizeof out);
  printf("push of the fixed tree: exit %d in %llu ms: %s", rc,
         (unsigned long long)(cs_now_ms() - t0), out);
  CHECK_INT(rc, 0);
  CHECK(strstr(out, "generation 2") != NULL);
  uint64_t t1 = cs_now_ms();
  while (cs_acsd_log_count(&acsd, "worker 0: policy generation 2 loaded") == 0 &&
         cs_now_ms() - t1 < 5000)
    cs_sleep_ms(20);
  printf("worker 0 loaded generation 2 %llu ms after the push returned\n",
         (unsigned long long)(cs_now_ms() - t1));
  CHECK(cs_now_ms() - t1 <= 2000);
  /* still inside the 6 s: skipped, fixed or not */
  n = pt_session(&c, &m, "2 PERIODIC", &t);
  printf("session 4 (fixed tree, in back-off): %d RPCs: %s\n", n,
         pt_describe(&t, desc, sizeof desc));
  CHECK(n >= 1);
  CHECK(cs_acsd_log_count(&acsd, "raises fixed 4711") == 0);
  CHECK_INT(atoi(qs(pg, "SELECT count(*) FROM faults WHERE device_id = $1", d, NULL)), 2);
  /* an operator's retry makes them eligible now */
  PQclear(PQexecParams(pg, "UPDATE faults SET next_retry_at = now() WHERE device_id = $1", 1,
                       NULL, (const char *const[]){d}, NULL, NULL, 0));
  n = pt_session(&c, &m, "2 PERIODIC", &t);
  printf("session 5 (fixed tree, retried): %d RPCs: %s\n", n, pt_describe(&t, desc, sizeof desc));
  CHECK(n >= 1);
  long long ms = wait_faults(d, 0);
  printf("fault rows cleared %lld ms after the session\n", ms);
  CHECK(ms >= 0);
  CHECK(cs_acsd_log_count(&acsd, "raises fixed 4711") == 1);
  CHECK(cs_acsd_log_count(&acsd, "loops fixed 500500") == 1);
  CHECK(cs_acsd_log_count(&acsd, "healthy done 4711") == 5);

  cm_free(&m);
  cs_cpe_free(&c);
  CHECK_INT(cs_acsd_stop(&acsd, 20000), 0);
  pt_tree_remove(v1);
  pt_tree_remove(v2);
  PQfinish(pg);
  return acs_test_result("test_policy_faults");
}
