/* test_policy_watcher: the development watcher of --policies DIR (2 workers).
 * One provision, `mark`, sets ProvisioningCode to its tree's tag, so every
 * session shows the CPE which generation ran it.
 *
 *  - an edit of provisions/mark.lua becomes a generation created_by
 *    'watcher' within ~3 s, and both workers' sessions use it (times
 *    printed);
 *  - a file rewritten with the same text, or a file that is not a policy
 *    (an editor's swap file), makes no generation;
 *  - an edit with a syntax error is stored as not valid (file, line,
 *    message) and the last good tree keeps serving; the edit that fixes it
 *    serves again. */
#include "policy_test.h"

static cs_acsd acsd;
static PGconn *pg;
static char dir[256];

static void write_mark(const char *tag) {
  char text[512];
  snprintf(text, sizeof text,
           "local tag = '%s'\n"
           "set(root() .. 'DeviceInfo.ProvisioningCode', tag)\n",
           tag);
  pt_write(dir, "provisions/mark.lua", text);
}

typedef struct dev {
  cs_cpe c;
  cm_model m;
  pt_turn t;
} dev;

static dev devs[2]; /* one device of each worker */

static int session_tag(dev *d, char *tag, size_t len) {
  tag[0] = '\0';
  int n = pt_session(&d->c, &d->m, "2 PERIODIC", &d->t);
  if (n != 1 || d->t.rpc[0].kind != ACS_CWMP_SET_PARAMETER_VALUES) return -1;
  snprintf(tag, len, "%s", d->t.rpc[0].value);
  return 0;
}

static long long watcher_rows(bool valid) {
  return qll(pg,
             valid
                 ? "SELECT count(*) FROM policy_generations WHERE created_by = 'watcher' AND valid"
                 : "SELECT count(*) FROM policy_generations WHERE created_by = 'watcher' AND "
                   "NOT valid",
             NULL, NULL);
}

/* Polls every 100 ms: the store for a new watcher row (valid or not; rows0
 * there were before the edit), and both workers' sessions for want; times
 * from t0 in *row_ms and lat[] (-1: not within ms). */
static void wait_edit(bool valid, long long rows0, const char *want, uint64_t t0, unsigned ms,
                      long long *row_ms, long long lat[2]) {
  *row_ms = lat[0] = lat[1] = -1;
  while (cs_now_ms() - t0 <= ms && (*row_ms < 0 || (want && (lat[0] < 0 || lat[1] < 0)))) {
    if (*row_ms < 0 && watcher_rows(valid) > rows0) *row_ms = (long long)(cs_now_ms() - t0);
    for (int w = 0; want && w < 2; w++) {
      char tag[256];
      if (lat[w] < 0 && session_tag(&devs[w], tag, sizeof tag) == 0 && strcmp(tag, want) == 0)
        lat[w] = (long long)(cs_now_ms() - t0);
    }
    cs_sleep_ms(100);
  }
}

static void check_serving(const char *want, unsigned ms) {
  uint64_t t0 = cs_now_ms();
  int bad = 0, n = 0;
  while (cs_now_ms() - t0 < ms) {
    for (int w = 0; w < 2; w++) {
      char tag[256];
      n++;
      if (session_tag(&devs[w], tag, sizeof tag) != 0 || strcmp(tag, want) != 0) bad++;
    }
    cs_sleep_ms(100);
  }
  printf("  %d sessions over %u ms, %d not on %s\n", n, ms, bad, want);
  CHECK_INT(bad, 0);
}

int main(void) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  pg = cs_pg_connect(cs_env("ACS_TEST_PG_DSN"));
  pt_tree_new(dir, sizeof dir);
  pt_write(dir, "presets/p.lua", "return {{name = 'mark', provisions = {'mark'}}}\n");
  write_mark("GEN-W1");
  const char *extra[] = {"--policies", dir, NULL};
  if (cs_acsd_start(&acsd, 2, extra) != 0) return 1;
  for (int w = 0; w < 2; w++) {
    char prefix[32];
    snprintf(prefix, sizeof prefix, "SN-WATCH%d", w);
    pt_cpe_on_worker(&devs[w].c, acsd.cwmp_port, "00D09E", "PT", prefix, (unsigned)w, 2);
    pt_model_init(&devs[w].m, &devs[w].c);
  }
  char tag[256];
  for (int w = 0; w < 2; w++) {
    CHECK_INT(session_tag(&devs[w], tag, sizeof tag), 0);
    CHECK_STR(tag, "GEN-W1");
  }
  CHECK_STR(qs(pg, "SELECT string_agg(created_by, ',') FROM policy_generations", NULL, NULL),
            "acsd:start");

  /* 1. an edit */
  long long row_ms, lat[2];
  uint64_t t0 = cs_now_ms();
  write_mark("GEN-W2");
  wait_edit(true, 0, "GEN-W2", t0, 6000, &row_ms, lat);
  printf(
      "edit: watcher generation stored %lld ms after the edit; sessions use it after %lld ms "
      "(worker 0), %lld ms (worker 1)\n",
      row_ms, lat[0], lat[1]);
  CHECK(row_ms >= 0 && row_ms <= 3000);
  CHECK(lat[0] >= 0 && lat[0] <= 4000);
  CHECK(lat[1] >= 0 && lat[1] <= 4000);
  CHECK_INT(watcher_rows(true), 1);
  CHECK_STR(qs(pg, "SELECT source FROM policy_generations ORDER BY id DESC LIMIT 1", NULL, NULL),
            dir);

  /* 2. nothing changed in the tree: the same text written again, a swap file */
  write_mark("GEN-W2");
  pt_write(dir, "provisions/.mark.lua.swp", "not a policy\n");
  pt_write(dir, "provisions/notes.txt", "not a policy either\n");
  cs_sleep_ms(3500);
  long long dup = qll(pg, "SELECT count(*) FROM policy_generations", NULL, NULL);
  printf("same tree rewritten, non-policy files added: %lld generations (2 expected)\n", dup);
  CHECK_INT(dup, 2);

  /* 3. a syntax error: refused, W2 keeps serving */
  long long rows0 = watcher_rows(false);
  t0 = cs_now_ms();
  pt_write(dir, "provisions/mark.lua",
           "local tag = 'GEN-W3'\n"
           "set(root() .. 'DeviceInfo.ProvisioningCode', tag\n");
  wait_edit(false, rows0, NULL, t0, 6000, &row_ms, lat);
  printf("broken edit: refused generation stored %lld ms after the edit\n", row_ms);
  CHECK(row_ms >= 0 && row_ms <= 3000);
  const char *last = "SELECT %s FROM policy_generations ORDER BY id DESC LIMIT 1";
  char sql[200];
  snprintf(sql, sizeof sql, last, "created_by || ' ' || valid::text");
  CHECK_STR(qs(pg, sql, NULL, NULL), "watcher false");
  snprintf(sql, sizeof sql, last, "error->>'file' || ':' || (error->>'line')");
  CHECK_STR(qs(pg, sql, NULL, NULL), "provisions/mark:3");
  snprintf(sql, sizeof sql, last, "error->>'message'");
  const char *msg = qs(pg, sql, NULL, NULL);
  printf("  error: %s\n", msg ? msg : "(none)");
  CHECK(msg && strstr(msg, "expected"));
  check_serving("GEN-W2", 1500);

  /* 4. fixed */
  rows0 = watcher_rows(true);
  t0 = cs_now_ms();
  write_mark("GEN-W3");
  wait_edit(true, rows0, "GEN-W3", t0, 6000, &row_ms, lat);
  printf("fixing edit: stored %lld ms after the edit; sessions use it after %lld, %lld ms\n",
         row_ms, lat[0], lat[1]);
  CHECK(row_ms >= 0 && row_ms <= 3000);
  CHECK(lat[0] >= 0 && lat[0] <= 4000 && lat[1] >= 0 && lat[1] <= 4000);

  CHECK_INT(cs_acsd_log_count(&acsd, "script."), 0);
  for (int w = 0; w < 2; w++) {
    cm_free(&devs[w].m);
    cs_cpe_free(&devs[w].c);
  }
  CHECK_INT(cs_acsd_stop(&acsd, 20000), 0);
  pt_tree_remove(dir);
  PQfinish(pg);
  return acs_test_result("test_policy_watcher");
}
