/* test_policy_presets_kept: presets files that are data alone are run once
 * per worker and generation and their value kept (policy_preset.c); the
 * others still run in every session (2 workers, a real PostgreSQL).
 *
 * The tree's presets files each start one provision that sets one
 * parameter from the provision's args:
 *  - a_data: plain data (nested args); its provision changes its args'
 *    nested table after using it: the next session, of this device or
 *    another of the worker, still sees the value the file returned;
 *  - b_device: reads device.serial_number: every device gets its own;
 *  - c_sneaky: reads the serial inside a pcall (which catches the sealed
 *    run's error): still runs in every session, every device its own;
 *  - e_fix: raises in generation A (a fault row for its channel), is data
 *    in generation B: kept, and its channel's fault is cleared.
 * A push of generation B (a_data's tag changed) is seen by both workers: a
 * kept value does not outlive its generation. The log says which files are
 * kept, once per worker and generation. */
#include "policy_test.h"

static cs_acsd acsd;
static PGconn *pg;

static const char code_lua[] =
    "local args = ...\n"
    "set(root() .. 'DeviceInfo.ProvisioningCode', args.tag .. ':' .. args.nested.n)\n"
    "args.nested.n = args.nested.n + 1\n"
    "args.nested.extra = {}\n";
static const char ntp_lua[] =
    "local args = ...\n"
    "set(root() .. 'Time.NTPServer1', args.server)\n";
static const char tz_lua[] =
    "local args = ...\n"
    "set(root() .. 'Time.LocalTimeZone', args.tz)\n";

static void write_tree(const char *dir, const char *tag, bool fixed) {
  char a[512];
  snprintf(a, sizeof a,
           "local tag = string.format('%%s', '%s')\n"
           "return {{name = 'data', channel = 'data', weight = 3,\n"
           "         provisions = {{'code', {tag = tag, nested = {n = 1}}}}}}\n",
           tag);
  pt_write(dir, "presets/a_data.lua", a);
  pt_write(dir, "presets/b_device.lua",
           "return {{name = 'dev', channel = 'dev', weight = 2,\n"
           "         provisions = {{'ntp', {server = device.serial_number .. '.ntp'}}}}}\n");
  pt_write(dir, "presets/c_sneaky.lua",
           "local ok, sn = pcall(function() return device.serial_number end)\n"
           "return {{name = 'sneak', channel = 'sneak', weight = 1,\n"
           "         provisions = {{'tz', {tz = ok and sn or 'sealed'}}}}}\n");
  pt_write(dir, "presets/e_fix.lua", fixed ? "return {}\n" : "error('broken on purpose')\n");
  pt_write(dir, "provisions/code.lua", code_lua);
  pt_write(dir, "provisions/ntp.lua", ntp_lua);
  pt_write(dir, "provisions/tz.lua", tz_lua);
}

typedef pt_dev dev;

static void dev_init(dev *d, const char *prefix, unsigned worker) {
  pt_dev_init(d, acsd.cwmp_port, "PK", prefix, worker, 2);
}

static const char *value(dev *d, const char *name) {
  cm_param *p = cm_find(&d->m, name);
  return p ? p->value : "(none)";
}

/* One periodic session; its RPCs described into buf. Returns their number. */
static int session(dev *d, char *buf, size_t len) {
  int n = pt_session(&d->c, &d->m, "2 PERIODIC", &d->t);
  pt_describe(&d->t, buf, len);
  printf("%s: %d RPCs: %s\n", d->c.serial, n, buf);
  return n;
}

/* What every session of generation tag leaves on the device. */
static void check_values(dev *d, const char *tag) {
  char want[128];
  snprintf(want, sizeof want, "%s:1", tag);
  CHECK_STR(value(d, "Device.DeviceInfo.ProvisioningCode"), want);
  snprintf(want, sizeof want, "%s.ntp", d->c.serial);
  CHECK_STR(value(d, "Device.Time.NTPServer1"), want);
  CHECK_STR(value(d, "Device.Time.LocalTimeZone"), d->c.serial);
}

/* A session after the first: the CPE's Informs report ProvisioningCode as
 * "" (pt_model), so each one sets it again, to what a_data's value says:
 * the only RPC. Returns its value ("" when the session went otherwise). */
static const char *later_session(dev *d, char *buf, size_t len) {
  if (session(d, buf, len) != 1) return "";
  const pt_rpc *r = &d->t.rpc[0];
  if (r->kind != ACS_CWMP_SET_PARAMETER_VALUES || r->n != 1 ||
      strcmp(r->name, "Device.DeviceInfo.ProvisioningCode") != 0)
    return "";
  return r->value;
}

static long long faults_of(const dev *d, const char *channel) {
  return qll(pg, "SELECT count(*) FROM faults WHERE device_id = $1 AND channel = $2",
             d->c.device_id, channel);
}

int main(void) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  pg = cs_pg_connect(cs_env("ACS_TEST_PG_DSN"));
  char dir_a[256], dir_b[256], buf[1024];
  pt_tree_new(dir_a, sizeof dir_a);
  pt_tree_new(dir_b, sizeof dir_b);
  write_tree(dir_a, "GEN-A", false);
  write_tree(dir_b, "GEN-B", true);
  const char *extra[] = {"--policies", dir_a, NULL};
  if (cs_acsd_start(&acsd, 2, extra) != 0) return 1;
  dev x, y, z;
  dev_init(&x, "SN-KX", 0);
  dev_init(&y, "SN-KY", 0);
  dev_init(&z, "SN-KZ", 1);

  /* generation A: every device gets its own values, a_data's unchanged by
   * the provision that changed its args in the session before */
  dev *all[3] = {&x, &y, &z};
  for (int i = 0; i < 3; i++) { /* discovery of Time., one SPV of the three */
    CHECK_INT(session(all[i], buf, sizeof buf), 2);
    CHECK_INT(pt_count(&all[i]->t, ACS_CWMP_SET_PARAMETER_VALUES), 1);
    check_values(all[i], "GEN-A");
  }
  for (int round = 0; round < 2; round++)
    for (int i = 0; i < 3; i++) {
      CHECK_STR(later_session(all[i], buf, sizeof buf), "GEN-A:1");
      check_values(all[i], "GEN-A");
    }
  CHECK(pt_wait_sql(pg,
                    "SELECT count(*) FROM faults WHERE device_id = $1 AND channel = "
                    "'presets/e_fix'",
                    x.c.device_id, "1", 3000) >= 0);
  /* once per worker that ran sessions: a_data kept, the others not */
  CHECK_INT(cs_acsd_log_count(&acsd, "presets/a_data: data alone"), 2);
  CHECK_INT(cs_acsd_log_count(&acsd, "presets/b_device: runs in every session"), 2);
  CHECK_INT(cs_acsd_log_count(&acsd, "presets/c_sneaky: runs in every session"), 2);
  CHECK_INT(cs_acsd_log_count(&acsd, "presets/e_fix: runs in every session"), 2);
  CHECK_INT(cs_acsd_log_count(&acsd, "broken on purpose"), 9); /* a fault a session */

  /* generation B: both workers take the new value within 5 s */
  char out[2048];
  CHECK_INT(pt_push(dir_b, false, out, sizeof out), 0);
  uint64_t t0 = cs_now_ms();
  for (int i = 0; i < 3; i++) {
    while (strcmp(later_session(all[i], buf, sizeof buf), "GEN-B:1") != 0 &&
           cs_now_ms() - t0 < 5000)
      cs_sleep_ms(100);
    check_values(all[i], "GEN-B");
    CHECK_STR(later_session(all[i], buf, sizeof buf), "GEN-B:1"); /* and keeps it */
  }
  CHECK_INT(cs_acsd_log_count(&acsd, "presets/a_data: data alone"), 4);
  CHECK_INT(cs_acsd_log_count(&acsd, "presets/e_fix: data alone"), 2);
  /* the kept file's channel completed: its fault of generation A is gone */
  CHECK(pt_wait_sql(pg,
                    "SELECT count(*) FROM faults WHERE device_id = $1 AND channel = "
                    "'presets/e_fix'",
                    x.c.device_id, "0", 3000) >= 0);
  CHECK_INT(faults_of(&z, "presets/e_fix"), 0);

  pt_dev_free(&x);
  pt_dev_free(&y);
  pt_dev_free(&z);
  CHECK_INT(cs_acsd_stop(&acsd, 20000), 0);
  pt_tree_remove(dir_a);
  pt_tree_remove(dir_b);
  PQfinish(pg);
  return acs_test_result("test_policy_presets_kept");
}
