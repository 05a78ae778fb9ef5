/* test_session_supersede: a newer Inform supersedes the session in progress.
 * A CPE receives an RPC and, instead of answering, informs again on a new
 * TCP connection without its cookie (it rebooted; its old connection is
 * left hanging). The new session works; a one-shot RPC (Reboot) left
 * outstanding ends 'unknown' and is never sent again, or 'done' when the
 * new Inform reports its CommandKey ("M Reboot"); a non-one-shot one goes
 * back to 'pending' and is sent in the next session. The same when the CPE
 * goes silent until the session times out. */
#include <unistd.h>

#include "session_test.h"

static cs_acsd acsd;
static PGconn *pg;
static char *token;

/* Opens a session and takes the first RPC, unanswered. Returns its kind;
 * *old_fd keeps the session's TCP connection open. */
static acs_cwmp_kind receive_unanswered(cs_cpe *c, int *old_fd, char *key, size_t keylen) {
  CHECK_INT(cs_cpe_inform(c, "2 PERIODIC"), 200);
  acs_cwmp_msg rpc;
  int st = cs_cpe_post(c, NULL, &rpc);
  CHECK_INT(st, 200);
  if (key) {
    snprintf(key, keylen, "%s",
             rpc.kind == ACS_CWMP_REBOOT && rpc.u.command_key_req.command_key
                 ? rpc.u.command_key_req.command_key
                 : "");
  }
  *old_fd = c->http.fd >= 0 ? dup(c->http.fd) : -1;
  cs_cpe_forget(c); /* rebooted: no cookie, no connection */
  return st == 200 ? rpc.kind : ACS_CWMP_NONE;
}

static void test_one_shot(bool reports_key) {
  cs_cpe c;
  cm_model m;
  cs_cpe_init(&c, acsd.cwmp_port, "00AABB", "Super-1", reports_key ? "SN-SUP-MK" : "SN-SUP-1");
  cm_init(&m);
  CHECK_INT(cs_cpe_inform(&c, "0 BOOTSTRAP,1 BOOT"), 200);
  CHECK_INT(cs_cpe_acs_turn(&c, NULL, NULL), 0);
  long long reboot = cs_api_task(&acsd, token, c.device_id, "Reboot", "{\"CommandKey\": \"rb-1\"}");
  CHECK(reboot > 0);
  int old_fd;
  char key[64];
  int sup0 = cs_acsd_log_count(&acsd, "supersedes the session in progress");
  CHECK_INT(receive_unanswered(&c, &old_fd, key, sizeof key), ACS_CWMP_REBOOT);
  CHECK_STR(key, "rb-1");
  CHECK_STR(task_status(pg, reboot), "sent");
  long long gpv = cs_api_task(&acsd, token, c.device_id, "GetParameterValues",
                              "{\"ParameterNames\": [\"Device.DeviceInfo.UpTime\"]}");
  CHECK(gpv > 0);

  /* the CPE comes back: a new connection, no cookie, a new Inform */
  int st = cs_cpe_inform(&c, reports_key ? "1 BOOT,M Reboot|rb-1" : "1 BOOT");
  CHECK_INT(st, 200);
  CHECK(c.cookie[0] != '\0');
  CHECK_INT(cs_cpe_acs_turn(&c, cm_turn_answer, &m), 1); /* the GPV, not the Reboot */
  CHECK_INT(m.answered[ACS_CWMP_REBOOT], 0);
  CHECK_INT(m.answered[ACS_CWMP_GET_PARAMETER_VALUES], 1);
  CHECK_STR(task_status(pg, gpv), "done");
  const char *want = reports_key ? "done" : "unknown";
  const char *got = task_status(pg, reboot);
  if (!got || strcmp(got, want) != 0)
    fprintf(stderr, "Reboot superseded, new Inform %s M Reboot|rb-1: task %s, expected %s\n",
            reports_key ? "with" : "without", got ? got : "(null)", want);
  CHECK_STR(got, want);
  json_t *tj = cs_api_get_task(&acsd, token, reboot);
  CHECK_STR(jstr(tj, "status"), want);
  CHECK_STR(jstr(tj, "command_key"), "rb-1");
  json_decref(tj);
  CHECK(cs_acsd_log_count(&acsd, "supersedes the session in progress") > sup0);

  /* and it is never sent again */
  CHECK_INT(cs_cpe_inform(&c, "2 PERIODIC"), 200);
  CHECK_INT(cs_cpe_acs_turn(&c, cm_turn_answer, &m), 0);
  CHECK_INT(m.answered[ACS_CWMP_REBOOT], 0);
  CHECK_STR(task_status(pg, reboot), want);
  if (old_fd >= 0) close(old_fd);
  cm_free(&m);
  cs_cpe_free(&c);
}

static void test_not_one_shot(void) {
  cs_cpe c;
  cm_model m;
  cs_cpe_init(&c, acsd.cwmp_port, "00AABB", "Super-1", "SN-SUP-2");
  cm_init(&m);
  CHECK_INT(cs_cpe_inform(&c, "0 BOOTSTRAP,1 BOOT"), 200);
  CHECK_INT(cs_cpe_acs_turn(&c, NULL, NULL), 0);
  long long spv = cs_api_task(&acsd, token, c.device_id, "SetParameterValues",
                              "{\"ParameterList\": [{\"Name\": "
                              "\"Device.ManagementServer.PeriodicInformInterval\", \"Value\": 600, "
                              "\"Type\": \"xsd:unsignedInt\"}], \"ParameterKey\": \"p1\"}");
  CHECK(spv > 0);
  int old_fd;
  CHECK_INT(receive_unanswered(&c, &old_fd, NULL, 0), ACS_CWMP_SET_PARAMETER_VALUES);

  CHECK_INT(cs_cpe_inform(&c, "1 BOOT"), 200);
  /* back to pending, and the new session sends it */
  CHECK_STR(task_status(pg, spv), "pending");
  CHECK_INT(cs_cpe_acs_turn(&c, cm_turn_answer, &m), 1);
  CHECK_INT(m.answered[ACS_CWMP_SET_PARAMETER_VALUES], 1);
  CHECK_STR(task_status(pg, spv), "done");
  CHECK_STR(qs(pg,
               "SELECT value FROM parameters WHERE device_id = $1 AND name = "
               "'Device.ManagementServer.PeriodicInformInterval'",
               c.device_id, NULL),
            "600");
  CHECK_STR(cm_find(&m, "Device.ManagementServer.PeriodicInformInterval")->value, "600");
  if (old_fd >= 0) close(old_fd);
  cm_free(&m);
  cs_cpe_free(&c);
}

/* The same outcomes when the CPE just goes silent: after the session
 * timeout (3 s here) the Reboot is 'unknown', the SetParameterValues
 * 'pending' again and sent in the next session. */
static void test_timeout(void) {
  cs_cpe c;
  cm_model m;
  cs_cpe_init(&c, acsd.cwmp_port, "00AABB", "Super-1", "SN-SUP-TMO");
  cm_init(&m);
  CHECK_INT(cs_cpe_inform(&c, "0 BOOTSTRAP,1 BOOT"), 200);
  CHECK_INT(cs_cpe_acs_turn(&c, NULL, NULL), 0);
  long long reboot = cs_api_task(&acsd, token, c.device_id, "Reboot", "{\"CommandKey\": \"rb-t\"}");
  int fd1, fd2;
  CHECK_INT(receive_unanswered(&c, &fd1, NULL, 0), ACS_CWMP_REBOOT);
  cs_sleep_ms(4000);
  CHECK_STR(task_status(pg, reboot), "unknown");
  long long spv = cs_api_task(&acsd, token, c.device_id, "SetParameterValues",
                              "{\"ParameterList\": [{\"Name\": \"Device.WiFi.SSID.2.SSID\", "
                              "\"Value\": \"after-timeout\"}], \"ParameterKey\": \"t1\"}");
  CHECK_INT(receive_unanswered(&c, &fd2, NULL, 0), ACS_CWMP_SET_PARAMETER_VALUES);
  cs_sleep_ms(4000);
  CHECK_STR(task_status(pg, spv), "pending");
  CHECK_INT(cs_cpe_inform(&c, "2 PERIODIC"), 200);
  CHECK_INT(cs_cpe_acs_turn(&c, cm_turn_answer, &m), 1);
  CHECK_INT(m.answered[ACS_CWMP_REBOOT], 0);
  CHECK_STR(task_status(pg, spv), "done");
  CHECK_STR(task_status(pg, reboot), "unknown");
  if (fd1 >= 0) close(fd1);
  if (fd2 >= 0) close(fd2);
  cm_free(&m);
  cs_cpe_free(&c);
}

int main(void) {
  pg = cs_pg_connect(cs_env("ACS_TEST_PG_DSN"));
  static const char *const extra[] = {"--session-timeout-ms", "3000", NULL};
  if (cs_acsd_start(&acsd, 2, extra) != 0) return 1;
  token = cs_token_create("test-session-supersede");
  CHECK(token != NULL);
  if (!token) return acs_test_result("test_session_supersede");
  test_one_shot(false);
  test_not_one_shot();
  test_timeout();
  test_one_shot(true);
  CHECK_INT(cs_acsd_stop(&acsd, 20000), 0);
  free(token);
  PQfinish(pg);
  return acs_test_result("test_session_supersede");
}
