/* test_policy_reload: policy generations pushed while acsd runs (2 workers).
 *
 * Every tree here has one provision, `mark`, that sets ProvisioningCode to
 * its tree's tag (the Inform reports "", so every session sends one
 * SetParameterValues and the CPE sees which generation ran it); on a device
 * whose serial holds "HOLD" it reads UpTime first and sets "TAG:UPTIME".
 *
 *  - `acsd policies push DIR` of a changed tree: both workers' sessions use
 *    it within 2 s of the push's exit (sessions every 100 ms on a device of
 *    each worker; the latencies are printed); the same tree again makes no
 *    generation;
 *  - a tree with a syntax error: push exits 1, the generation is stored as
 *    not valid with file, line and message in policy_generations.error, and
 *    the old tree keeps serving;
 *  - a session held across a push (the CPE sits on the GetParameterValues
 *    of a HOLD device until both workers serve the new tree) finishes with
 *    the generation it started with; its next session uses the new one;
 *  - 5 pushes while 3 threads loop sessions: no session fails, a device
 *    never goes back to an older generation, all end on the last one. */
#include <pthread.h>
#include <stdatomic.h>

#include "policy_test.h"

static cs_acsd acsd;
static PGconn *pg;

static const char presets_lua[] =
    "return {{name = 'mark', provisions = {'mark'}, channel = 'mark'}}\n";

static void write_tree(const char *dir, const char *tag) {
  char text[1024];
  snprintf(text, sizeof text,
           "local r = root()\n"
           "local tag = '%s'\n"
           "if device.serial_number:find('HOLD', 1, true) then\n"
           "  local up = refresh(r .. 'DeviceInfo.UpTime', 0).value\n"
           "  tag = tag .. ':' .. tostring(up)\n"
           "end\n"
           "set(r .. 'DeviceInfo.ProvisioningCode', tag)\n",
           tag);
  pt_write(dir, "presets/p.lua", presets_lua);
  pt_write(dir, "provisions/mark.lua", text);
}

/* A device and its CPE. */
typedef pt_dev dev;

static void dev_init(dev *d, const char *prefix, unsigned worker) {
  pt_dev_init(d, acsd.cwmp_port, "PT", prefix, worker, 2);
}

static void dev_free(dev *d) { pt_dev_free(d); }

/* One session: the tag its SetParameterValues carried into tag, or "" when
 * the session did not go as it should (1 SPV of ProvisioningCode, then 204;
 * a HOLD device first lists and reads). Returns 0 or -1. */
static int session_tag(dev *d, char *tag, size_t len) {
  tag[0] = '\0';
  int n = pt_session(&d->c, &d->m, "2 PERIODIC", &d->t);
  if (n < 1 || n > 3) return -1;
  const pt_rpc *r = &d->t.rpc[n - 1];
  if (r->kind != ACS_CWMP_SET_PARAMETER_VALUES || r->n != 1 ||
      strcmp(r->name, "Device.DeviceInfo.ProvisioningCode") != 0)
    return -1;
  snprintf(tag, len, "%s", r->value);
  return 0;
}

/* Sessions every 100 ms on each device until all carry want (or ms pass):
 * the time it took each, from t0, into lat (-1: never). */
static void wait_tag(dev *ds, size_t n, const char *want, uint64_t t0, unsigned ms,
                     long long *lat) {
  for (size_t i = 0; i < n; i++) lat[i] = -1;
  for (;;) {
    size_t left = 0;
    for (size_t i = 0; i < n; i++) {
      if (lat[i] >= 0) continue;
      char tag[256];
      if (session_tag(&ds[i], tag, sizeof tag) == 0 && strcmp(tag, want) == 0)
        lat[i] = (long long)(cs_now_ms() - t0);
      else
        left++;
    }
    if (!left || cs_now_ms() - t0 > ms) return;
    cs_sleep_ms(100);
  }
}

static dev workers[2]; /* a device of worker 0, one of worker 1 */
static char dir_a[256], dir_b[256], dir_c[256], dir_bad[256];

static void test_push(void) {
  char tag[256], out[2048];
  for (int w = 0; w < 2; w++) {
    CHECK_INT(session_tag(&workers[w], tag, sizeof tag), 0);
    CHECK_STR(tag, "GEN-A");
  }
  uint64_t t0 = cs_now_ms();
  int rc = pt_push(dir_b, false, out, sizeof out);
  uint64_t t1 = cs_now_ms();
  printf("push B: exit %d in %llu ms: %s", rc, (unsigned long long)(t1 - t0), out);
  CHECK_INT(rc, 0);
  CHECK(strstr(out, "generation 2\n") != NULL);
  long long lat[2];
  wait_tag(workers, 2, "GEN-B", t1, 5000, lat);
  for (int w = 0; w < 2; w++) {
    printf(
        "reload latency, worker %d: %lld ms after the push returned (%lld ms after it "
        "started)\n",
        w, lat[w], lat[w] < 0 ? -1 : lat[w] + (long long)(t1 - t0));
    CHECK(lat[w] >= 0 && lat[w] <= 2000);
  }
  /* the same tree again: no generation */
  rc = pt_push(dir_b, false, out, sizeof out);
  CHECK_INT(rc, 0);
  CHECK(strstr(out, "unchanged") != NULL);
  CHECK_INT(qll(pg, "SELECT count(*) FROM policy_generations", NULL, NULL), 2);
}

static void test_broken(void) {
  char out[2048], tag[256];
  int rc = pt_push(dir_bad, false, out, sizeof out);
  printf("push of a broken tree: exit %d: %s", rc, out);
  CHECK_INT(rc, 1);
  CHECK(strstr(out, "refused") != NULL);
  CHECK(strstr(out, "provisions/mark:3:") != NULL);
  const char *newest = "SELECT %s FROM policy_generations ORDER BY id DESC LIMIT 1";
  char sql[200];
  snprintf(sql, sizeof sql, newest, "id::text || ' ' || valid::text");
  CHECK_STR(qs(pg, sql, NULL, NULL), "3 false");
  snprintf(sql, sizeof sql, newest, "error->>'file'");
  CHECK_STR(qs(pg, sql, NULL, NULL), "provisions/mark");
  snprintf(sql, sizeof sql, newest, "error->>'line'");
  CHECK_STR(qs(pg, sql, NULL, NULL), "3");
  snprintf(sql, sizeof sql, newest, "error->>'message'");
  const char *msg = qs(pg, sql, NULL, NULL);
  CHECK(msg && msg[0]);
  printf("stored error: provisions/mark:3: %s\n", msg ? msg : "(none)");
  /* B keeps serving, on both workers, past the pollers' next look */
  uint64_t t0 = cs_now_ms();
  int sessions = 0, bad = 0;
  while (cs_now_ms() - t0 < 1500) {
    for (int w = 0; w < 2; w++) {
      sessions++;
      if (session_tag(&workers[w], tag, sizeof tag) != 0 || strcmp(tag, "GEN-B") != 0) bad++;
    }
    cs_sleep_ms(100);
  }
  printf("after the refused push: %d sessions, %d not on B\n", sessions, bad);
  CHECK_INT(bad, 0);
  CHECK_INT(cs_acsd_log_count(&acsd, "not loaded"), 0);
}

/* The held session: on its GetParameterValues, push C and wait until both
 * workers serve it, then answer. */
typedef struct hold {
  bool pushed;
  long long lat[2];
  int rc;
} hold;

static int hold_hook(pt_turn *t, const acs_cwmp_msg *rpc) {
  hold *h = t->arg;
  if (rpc->kind != ACS_CWMP_GET_PARAMETER_VALUES || h->pushed) return 0;
  h->pushed = true;
  char out[2048];
  h->rc = pt_push(dir_c, false, out, sizeof out);
  printf("push C while a session waits for its GPV answer: exit %d: %s", h->rc, out);
  wait_tag(workers, 2, "GEN-C", cs_now_ms(), 5000, h->lat);
  printf("both workers serve C (%lld, %lld ms); now the held session's answer\n", h->lat[0],
         h->lat[1]);
  return 0;
}

static void test_held(void) {
  dev hd;
  char tag[256];
  dev_init(&hd, "SN-HOLD", 1);
  CHECK_INT(session_tag(&hd, tag, sizeof tag), 0);
  CHECK_STR(tag, "GEN-B:4711");
  hold h;
  memset(&h, 0, sizeof h);
  hd.t.hook = hold_hook;
  hd.t.arg = &h;
  int rc = session_tag(&hd, tag, sizeof tag);
  char desc[512];
  printf("held session: %s\n", pt_describe(&hd.t, desc, sizeof desc));
  CHECK_INT(rc, 0);
  CHECK(h.pushed);
  CHECK_INT(h.rc, 0);
  CHECK(h.lat[0] >= 0 && h.lat[1] >= 0);
  CHECK_STR(tag, "GEN-B:4711"); /* the generation it started with */
  hd.t.hook = NULL;
  CHECK_INT(session_tag(&hd, tag, sizeof tag), 0);
  CHECK_STR(tag, "GEN-C:4711");
  dev_free(&hd);
}

/* --- under load */

#define LOAD_THREADS 3
#define PUSHES 5

static const char *const load_tags[] = {"GEN-A",  "GEN-B",  "GEN-C",  "GEN-L1",
                                        "GEN-L2", "GEN-L3", "GEN-L4", "GEN-L5"};
#define NTAGS (sizeof load_tags / sizeof load_tags[0])

static int tag_index(const char *tag) {
  for (size_t i = 0; i < NTAGS; i++)
    if (strcmp(tag, load_tags[i]) == 0) return (int)i;
  return -1;
}

typedef struct loader {
  pthread_t th;
  dev d[2];
  int sessions, failures, backwards, last[2];
  char why[256];
} loader;

static atomic_bool load_stop;

static void *load_main(void *arg) {
  loader *l = arg;
  l->last[0] = l->last[1] = -1;
  while (!atomic_load(&load_stop)) {
    for (int k = 0; k < 2; k++) {
      char tag[256];
      l->sessions++;
      int rc = session_tag(&l->d[k], tag, sizeof tag);
      int idx = rc == 0 ? tag_index(tag) : -1;
      if (idx < 0) {
        if (!l->failures++)
          snprintf(l->why, sizeof l->why, "%.64s: %.120s (Inform %d, %d RPCs)", l->d[k].c.serial,
                   rc ? "the session failed" : tag, l->d[k].t.status, l->d[k].t.n);
        continue;
      }
      if (idx < l->last[k]) l->backwards++;
      l->last[k] = idx;
    }
    cs_sleep_ms(5);
  }
  return NULL;
}

static void test_load(void) {
  loader ls[LOAD_THREADS];
  char dirs[PUSHES][256], out[2048];
  for (int i = 0; i < PUSHES; i++) {
    char tag[32];
    snprintf(tag, sizeof tag, "GEN-L%d", i + 1);
    pt_tree_new(dirs[i], sizeof dirs[i]);
    write_tree(dirs[i], tag);
  }
  memset(ls, 0, sizeof ls);
  atomic_store(&load_stop, false);
  for (int i = 0; i < LOAD_THREADS; i++) {
    char prefix[32];
    snprintf(prefix, sizeof prefix, "SN-LOAD%d", i);
    dev_init(&ls[i].d[0], prefix, 0);
    dev_init(&ls[i].d[1], prefix, 1);
    pthread_create(&ls[i].th, NULL, load_main, &ls[i]);
  }
  uint64_t t0 = cs_now_ms();
  int push_fail = 0;
  for (int i = 0; i < PUSHES; i++) {
    cs_sleep_ms(400);
    int rc = pt_push(dirs[i], false, out, sizeof out);
    if (rc != 0) {
      push_fail++;
      fprintf(stderr, "push %d: exit %d: %s", i + 1, rc, out);
    }
  }
  /* until every device is on the last one (the pollers look once a second) */
  cs_sleep_ms(2500);
  atomic_store(&load_stop, true);
  int sessions = 0, failures = 0, backwards = 0, on_last = 0;
  for (int i = 0; i < LOAD_THREADS; i++) {
    pthread_join(ls[i].th, NULL);
    sessions += ls[i].sessions;
    failures += ls[i].failures;
    backwards += ls[i].backwards;
    for (int k = 0; k < 2; k++) on_last += ls[i].last[k] == (int)NTAGS - 1;
    if (ls[i].failures)
      fprintf(stderr, "loader %d: %d failures, first: %s\n", i, ls[i].failures, ls[i].why);
  }
  double secs = (double)(cs_now_ms() - t0) / 1000.0;
  printf(
      "under load: %d pushes, %d threads, %d sessions in %.1f s (%.0f/s), %d failed, %d went "
      "back a generation, %d of %d devices on the last\n",
      PUSHES, LOAD_THREADS, sessions, secs, sessions / secs, failures, backwards, on_last,
      2 * LOAD_THREADS);
  CHECK_INT(push_fail, 0);
  CHECK(sessions >= 50);
  CHECK_INT(failures, 0);
  CHECK_INT(backwards, 0);
  CHECK_INT(on_last, 2 * LOAD_THREADS);
  CHECK_INT(qll(pg, "SELECT count(*) FROM policy_generations WHERE valid", NULL, NULL), 3 + PUSHES);
  for (int i = 0; i < LOAD_THREADS; i++) {
    dev_free(&ls[i].d[0]);
    dev_free(&ls[i].d[1]);
  }
  for (int i = 0; i < PUSHES; i++) pt_tree_remove(dirs[i]);
}

int main(void) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  pg = cs_pg_connect(cs_env("ACS_TEST_PG_DSN"));
  pt_tree_new(dir_a, sizeof dir_a);
  pt_tree_new(dir_b, sizeof dir_b);
  pt_tree_new(dir_c, sizeof dir_c);
  pt_tree_new(dir_bad, sizeof dir_bad);
  write_tree(dir_a, "GEN-A");
  write_tree(dir_b, "GEN-B");
  write_tree(dir_c, "GEN-C");
  write_tree(dir_bad, "GEN-BAD");
  pt_write(dir_bad, "provisions/mark.lua",
           "local r = root()\n"
           "local tag = 'GEN-BAD'\n"
           "if tag = 'x' then tag = 'y' end\n"
           "set(r .. 'DeviceInfo.ProvisioningCode', tag)\n");
  const char *extra[] = {"--policies", dir_a, NULL};
  if (cs_acsd_start(&acsd, 2, extra) != 0) return 1;
  dev_init(&workers[0], "SN-W0", 0);
  dev_init(&workers[1], "SN-W1", 1);

  test_push();
  test_broken();
  test_held();
  test_load();

  CHECK_INT(cs_acsd_log_count(&acsd, "script."), 0);
  dev_free(&workers[0]);
  dev_free(&workers[1]);
  CHECK_INT(cs_acsd_stop(&acsd, 20000), 0);
  pt_tree_remove(dir_a);
  pt_tree_remove(dir_b);
  pt_tree_remove(dir_c);
  pt_tree_remove(dir_bad);
  PQfinish(pg);
  return acs_test_result("test_policy_reload");
}
