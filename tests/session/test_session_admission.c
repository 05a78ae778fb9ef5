/* test_session_admission: overload and outage. With --max-sessions 5, five
 * sessions held open after their InformResponse make the sixth Inform get
 * 503 with Retry-After, and the five finish normally. With
 * --max-first-contacts 2, two "0 BOOTSTRAP" sessions held open make a third
 * first contact get 503 while a known device's "1 BOOT" still gets in, and
 * the third gets in once one of the two ended. With PostgreSQL
 * stopped, a new Inform gets 503 with Retry-After within a few seconds (and
 * nothing is acknowledged); once PostgreSQL is back, Informs succeed again
 * within 2 s of its return (polled every 100 ms; the figure is printed). */
#include "session_test.h"

static cs_acsd acsd;
static PGconn *pg;

static void check_503(cs_cpe *c, int st, const char *what) {
  char ra[32];
  CHECK_INT(st, 503);
  const char *v = cs_resp_header(&c->resp, "Retry-After", 0, ra, sizeof ra);
  CHECK_STR(v, "7");
  CHECK_INT(c->set_cookies, 0); /* no session was opened */
  if (st != 503 || !v) fprintf(stderr, "%s: HTTP %d, Retry-After %s\n", what, st, v ? v : "none");
}

static void test_max_sessions(void) {
  cs_cpe c[6];
  for (int i = 0; i < 6; i++) {
    char serial[32];
    snprintf(serial, sizeof serial, "SN-ADM-%d", i);
    cs_cpe_init(&c[i], acsd.cwmp_port, "00CAFE", "Adm", serial);
  }
  for (int i = 0; i < 5; i++) CHECK_INT(cs_cpe_inform(&c[i], "1 BOOT"), 200); /* held open */
  int st = cs_cpe_inform(&c[5], "1 BOOT");
  check_503(&c[5], st, "the sixth Inform");
  CHECK_INT(qll(pg, "SELECT count(*) FROM devices WHERE id = $1", c[5].device_id, NULL), 0);
  /* the five go on and finish normally */
  for (int i = 0; i < 5; i++) {
    acs_cwmp_msg m, in;
    memset(&m, 0, sizeof m);
    m.kind = ACS_CWMP_GET_RPC_METHODS;
    CHECK_INT(cs_cpe_post(&c[i], &m, &in), 200);
    CHECK_INT(in.kind, ACS_CWMP_GET_RPC_METHODS_RESPONSE);
    CHECK_INT(cs_cpe_acs_turn(&c[i], NULL, NULL), 0);
  }
  /* and the sixth gets in now */
  CHECK_INT(cs_cpe_inform(&c[5], "1 BOOT"), 200);
  CHECK_INT(cs_cpe_acs_turn(&c[5], NULL, NULL), 0);
  CHECK_INT(qll(pg, "SELECT count(*) FROM devices WHERE id = $1", c[5].device_id, NULL), 1);
  for (int i = 0; i < 6; i++) cs_cpe_free(&c[i]);
}

static void test_max_first_contacts(void) {
  cs_cpe c[4];
  for (int i = 0; i < 4; i++) {
    char serial[32];
    snprintf(serial, sizeof serial, "SN-FC-%d", i);
    cs_cpe_init(&c[i], acsd.cwmp_port, "00CAFE", "Adm", serial);
  }
  /* c[3] is known (bootstrapped and done) before the two are held open */
  CHECK_INT(cs_cpe_inform(&c[3], "0 BOOTSTRAP"), 200);
  CHECK_INT(cs_cpe_acs_turn(&c[3], NULL, NULL), 0);
  for (int i = 0; i < 2; i++) CHECK_INT(cs_cpe_inform(&c[i], "0 BOOTSTRAP"), 200); /* held */
  check_503(&c[2], cs_cpe_inform(&c[2], "0 BOOTSTRAP"), "the third first contact");
  CHECK_INT(qll(pg, "SELECT count(*) FROM devices WHERE id = $1", c[2].device_id, NULL), 0);
  CHECK_INT(cs_cpe_inform(&c[3], "1 BOOT"), 200); /* not a first contact: in */
  CHECK_INT(cs_cpe_acs_turn(&c[3], NULL, NULL), 0);
  CHECK_INT(cs_cpe_acs_turn(&c[0], NULL, NULL), 0); /* one of the two ends */
  CHECK_INT(cs_cpe_inform(&c[2], "0 BOOTSTRAP"), 200);
  CHECK_INT(cs_cpe_acs_turn(&c[2], NULL, NULL), 0);
  CHECK_INT(cs_cpe_acs_turn(&c[1], NULL, NULL), 0);
  CHECK_INT(qll(pg, "SELECT count(*) FROM devices WHERE id = $1", c[2].device_id, NULL), 1);
  for (int i = 0; i < 4; i++) cs_cpe_free(&c[i]);
}

static void test_outage(void) {
  cs_cpe c;
  cs_cpe_init(&c, acsd.cwmp_port, "00CAFE", "Adm", "SN-OUTAGE");
  c.http.timeout_ms = 8000;
  CHECK_INT(cs_cpe_inform(&c, "0 BOOTSTRAP"), 200);
  CHECK_INT(cs_cpe_acs_turn(&c, NULL, NULL), 0);
  PQfinish(pg);
  pg = NULL;

  fprintf(stderr, "stopping PostgreSQL\n");
  CHECK_INT(system(cs_env("ACS_TEST_PG_STOP")), 0);
  cs_cpe_forget(&c);
  c.set_cookies = 0;
  uint64_t t0 = cs_now_ms();
  int st = cs_cpe_inform(&c, "2 PERIODIC");
  uint64_t t503 = cs_now_ms() - t0;
  printf("outage: PostgreSQL stopped; the next Inform got HTTP %d after %llu ms\n", st,
         (unsigned long long)t503);
  check_503(&c, st, "an Inform while PostgreSQL is down");
  CHECK(t503 < 3000);
  /* and so does every Inform while it stays down (3 s: acsd's reconnect
   * back-off reaches its longest interval) */
  for (int i = 0; i < 10; i++) {
    cs_sleep_ms(300);
    st = cs_cpe_inform(&c, "2 PERIODIC");
    check_503(&c, st, "an Inform while PostgreSQL is down");
  }

  fprintf(stderr, "starting PostgreSQL\n");
  uint64_t t_start = cs_now_ms();
  CHECK_INT(system(cs_env("ACS_TEST_PG_START")), 0);
  uint64_t back = cs_now_ms(), ok_ms = 0;
  int polls = 0;
  while (cs_now_ms() - back < 10000) {
    polls++;
    st = cs_cpe_inform(&c, "2 PERIODIC");
    if (st == 200) {
      ok_ms = cs_now_ms() - back;
      break;
    }
    if (st != 503) fprintf(stderr, "during recovery: HTTP %d\n", st);
    CHECK(st == 503);
    cs_sleep_ms(100);
  }
  CHECK_INT(st, 200);
  printf(
      "recovery: an Inform succeeded %llu ms after PostgreSQL was back (the start command "
      "took %llu ms; poll %d, every 100 ms)\n",
      (unsigned long long)ok_ms, (unsigned long long)(back - t_start), polls);
  CHECK(st == 200 && ok_ms <= 2000);
  if (st == 200) CHECK_INT(cs_cpe_acs_turn(&c, NULL, NULL), 0);
  pg = cs_pg_connect(cs_env("ACS_TEST_PG_DSN"));
  /* what was acknowledged is there: 0 BOOTSTRAP before, 2 PERIODIC after */
  CHECK_INT(qll(pg, "SELECT count(*) FROM events WHERE device_id = $1 AND code = '2 PERIODIC'",
                c.device_id, NULL),
            1);
  CHECK_INT(qll(pg, "SELECT count(*) FROM events WHERE device_id = $1 AND code = '0 BOOTSTRAP'",
                c.device_id, NULL),
            1);
  cs_cpe_free(&c);
}

int main(void) {
  pg = cs_pg_connect(cs_env("ACS_TEST_PG_DSN"));
  static const char *const extra[] = {"--max-sessions",       "5", "--retry-after", "7",
                                      "--max-first-contacts", "2", NULL};
  if (cs_acsd_start(&acsd, 2, extra) != 0) return 1;
  test_max_sessions();
  test_max_first_contacts();
  test_outage();
  CHECK_INT(cs_acsd_stop(&acsd, 20000), 0);
  if (pg) PQfinish(pg);
  return acs_test_result("test_session_admission");
}
