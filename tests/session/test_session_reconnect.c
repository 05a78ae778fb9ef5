/* test_session_reconnect: a session spans TCP connections. With 4 workers,
 * 20 CPEs open a new TCP connection for every POST of their sessions (so the
 * kernel spreads them over the workers and acsd hands each to the device's
 * owner by its cookie), concurrently; every session completes with its tasks
 * delivered. CPEs echoing cookie attributes ($Version/$Path, Path=/), or
 * sending a stale cookie of an earlier session alongside the current one (in
 * either order), are served; a cookie-less CPE that keeps one keep-alive
 * connection completes too. */
#include <pthread.h>

#include "session_test.h"

#define NDEV 20

static cs_acsd acsd;
static PGconn *pg;
static char *token;

typedef struct dev {
  cs_cpe c;
  cm_model m;
  char first_cookie[160];
  long long gpv, spv;
  int inform_status, rpcs;
  unsigned connects;
  int set_cookies;
  bool add_stale; /* after the Inform, send first_cookie along with the new one */
  pthread_t th;
} dev;

static _Atomic unsigned posts; /* CWMP POSTs sent */

static void *run_session(void *arg) {
  dev *d = arg;
  unsigned before = d->c.http.connects;
  int sc = d->c.set_cookies;
  d->rpcs = -1;
  d->inform_status = cs_cpe_inform(&d->c, "6 CONNECTION REQUEST");
  if (d->add_stale) snprintf(d->c.stale, sizeof d->c.stale, "%s", d->first_cookie);
  if (d->inform_status == 200) d->rpcs = cs_cpe_acs_turn(&d->c, cm_turn_answer, &d->m);
  d->connects = d->c.http.connects - before;
  posts += d->c.http.requests;
  d->c.http.requests = 0;
  d->set_cookies = d->c.set_cookies - sc;
  return NULL;
}

static void queue_tasks(dev *d, int i) {
  char args[256];
  d->gpv = cs_api_task(&acsd, token, d->c.device_id, "GetParameterValues",
                       "{\"ParameterNames\": [\"Device.DeviceInfo.\"]}");
  snprintf(args, sizeof args,
           "{\"ParameterList\": [{\"Name\": \"Device.WiFi.SSID.1.SSID\", \"Value\": \"dev-%d\"}],"
           " \"ParameterKey\": \"k%d\"}",
           i, i);
  d->spv = cs_api_task(&acsd, token, d->c.device_id, "SetParameterValues", args);
  CHECK(d->gpv > 0 && d->spv > 0);
}

static void check_done(dev *d, int i) {
  unsigned n = (unsigned)(i >= 100) + 1;
  char want[32];
  snprintf(want, sizeof want, "dev-%d", i);
  CHECK_STR(task_status(pg, d->gpv), "done");
  CHECK_STR(task_status(pg, d->spv), "done");
  CHECK_STR(qs(pg,
               "SELECT value FROM parameters WHERE device_id = $1 AND name = "
               "'Device.WiFi.SSID.1.SSID'",
               d->c.device_id, NULL),
            want);
  CHECK_STR(qs(pg,
               "SELECT value FROM parameters WHERE device_id = $1 AND name = "
               "'Device.DeviceInfo.ModelName'",
               d->c.device_id, NULL),
            "Roadrunner 9000");
  CHECK_INT(d->m.answered[ACS_CWMP_GET_PARAMETER_VALUES], n);
  CHECK_INT(d->m.answered[ACS_CWMP_SET_PARAMETER_VALUES], n);
}

static const char *mode_name(int i) {
  static const char *const names[] = {"plain", "$Version/$Path", "Path=/", "stale+current"};
  return names[i % 4];
}

static void test_new_connection_per_post(void) {
  dev *d = calloc(NDEV, sizeof *d);
  for (int i = 0; i < NDEV; i++) {
    char serial[32];
    snprintf(serial, sizeof serial, "SN-RC-%03d", i);
    cs_cpe_init(&d[i].c, acsd.cwmp_port, "001122", "Reconnect-1", serial);
    d[i].c.http.keep_alive = false; /* a new TCP connection per POST */
    cm_init(&d[i].m);
    /* a first session makes the device (and leaves its cookie in the jar:
     * the next Inform carries that stale cookie, as CPEs do) */
    CHECK_INT(cs_cpe_inform(&d[i].c, "0 BOOTSTRAP,1 BOOT"), 200);
    CHECK_INT(cs_cpe_acs_turn(&d[i].c, NULL, NULL), 0);
    snprintf(d[i].first_cookie, sizeof d[i].first_cookie, "%s", d[i].c.cookie);
    CHECK(d[i].first_cookie[0] != '\0');
    d[i].c.cookie_mode = i % 4 == 1   ? CS_COOKIE_RFC2109
                         : i % 4 == 2 ? CS_COOKIE_ATTRS
                                      : CS_COOKIE_PLAIN;
    queue_tasks(&d[i], i);
  }
  /* round 1: the Inform carries the first session's (stale) cookie */
  for (int i = 0; i < NDEV; i++) pthread_create(&d[i].th, NULL, run_session, &d[i]);
  for (int i = 0; i < NDEV; i++) pthread_join(d[i].th, NULL);
  for (int round = 1; round <= 2; round++) {
    for (int i = 0; i < NDEV; i++) {
      if (d[i].inform_status != 200 || d[i].rpcs != 2)
        fprintf(stderr, "round %d: %s (%s cookies, stale %s): Inform %d, %d RPCs\n", round,
                d[i].c.serial, mode_name(i), d[i].c.stale_first ? "first" : "last",
                d[i].inform_status, d[i].rpcs);
      CHECK_INT(d[i].inform_status, 200);
      CHECK_INT(d[i].rpcs, 2);
      CHECK_INT(d[i].connects, 4); /* Inform, empty POST, two answers */
      CHECK_INT(d[i].set_cookies, 1);
      CHECK(strcmp(d[i].c.cookie, d[i].first_cookie) != 0); /* a new session, a new cookie */
      check_done(&d[i], round == 1 ? i : i + 100);
    }
    if (round == 2) break;
    /* round 2: the stale+current ones send both cookies on every POST after
     * the Inform, the stale one first (i % 8 == 3) or last (i % 8 == 7) */
    for (int i = 0; i < NDEV; i++) {
      queue_tasks(&d[i], i + 100);
      d[i].add_stale = i % 4 == 3;
      d[i].c.stale_first = i % 8 == 3;
    }
    for (int i = 0; i < NDEV; i++) pthread_create(&d[i].th, NULL, run_session, &d[i]);
    for (int i = 0; i < NDEV; i++) pthread_join(d[i].th, NULL);
  }
  for (int i = 0; i < NDEV; i++) {
    posts += d[i].c.http.requests;
    cm_free(&d[i].m);
    cs_cpe_free(&d[i].c);
  }
  free(d);
}

static void test_cookieless_keepalive(void) {
  dev d;
  memset(&d, 0, sizeof d);
  cs_cpe_init(&d.c, acsd.cwmp_port, "001122", "Reconnect-1", "SN-NOCOOKIE");
  d.c.cookie_mode = CS_COOKIE_NONE; /* one keep-alive connection, no cookie */
  cm_init(&d.m);
  CHECK_INT(cs_cpe_inform(&d.c, "0 BOOTSTRAP"), 200);
  CHECK_INT(cs_cpe_acs_turn(&d.c, NULL, NULL), 0);
  queue_tasks(&d, 7);
  unsigned before = d.c.http.connects;
  CHECK_INT(cs_cpe_inform(&d.c, "6 CONNECTION REQUEST"), 200);
  CHECK_INT(cs_cpe_acs_turn(&d.c, cm_turn_answer, &d.m), 2);
  CHECK_INT(d.c.http.connects - before, 0); /* all on the connection already open */
  CHECK_INT(d.c.http.connects, 1);
  posts += d.c.http.requests;
  check_done(&d, 7);
  cm_free(&d.m);
  cs_cpe_free(&d.c);
}

int main(void) {
  pg = cs_pg_connect(cs_env("ACS_TEST_PG_DSN"));
  static const char *const debug[] = {"--log-level", "debug", NULL};
  if (cs_acsd_start(&acsd, 4, debug) != 0) return 1;
  token = cs_token_create("test-session-reconnect");
  CHECK(token != NULL);
  if (!token) return acs_test_result("test_session_reconnect");
  test_new_connection_per_post();
  test_cookieless_keepalive();
  /* each request is logged where it is dispatched: once where it arrived
   * and once more on the owner when it was handed there */
  int dispatched = cs_acsd_log_count(&acsd, ": POST / (worker ");
  unsigned sent = posts;
  printf("reconnect: %u CWMP POSTs sent, %d dispatched: %d handed to their owner worker\n", sent,
         dispatched, dispatched - (int)sent);
  CHECK(dispatched - (int)sent >= (int)sent / 10);
  CHECK_INT(cs_acsd_stop(&acsd, 20000), 0);
  free(token);
  PQfinish(pg);
  return acs_test_result("test_session_reconnect");
}
