/* test_session_transfer_expiry: a transfer the CPE accepted (DownloadResponse
 * Status 1) whose TransferComplete never comes does not stay 'sent' for
 * ever: after transfer-timeout it is 'expired', with a fault string saying
 * why (engine/session/jobs.c, migration 11's tasks_transfers); one whose
 * TransferComplete came in time is 'done' and is left alone by the sweep.
 *
 * acsd runs with --transfer-timeout 2; a scripted CPE accepts two Downloads
 * with Status 1 and reports TransferComplete for one of them only. */
#include "session_test.h"

static cs_acsd acsd;

static long long queue_download(const char *token, const cs_cpe *c, const char *key) {
  char args[512];
  snprintf(args, sizeof args,
           "{\"CommandKey\": \"%s\", \"FileType\": \"1 Firmware Upgrade Image\", \"URL\": "
           "\"http://192.0.2.10/fw.bin\", \"FileSize\": 1234, \"TargetFileName\": \"fw.bin\"}",
           key);
  return cs_api_task(&acsd, token, c->device_id, "Download", args);
}

static const char *status_of(const char *token, long long id, char *buf, size_t len) {
  json_t *t = cs_api_get_task(&acsd, token, id);
  snprintf(buf, len, "%s", t ? jstr(t, "status") : "(none)");
  json_decref(t);
  return buf;
}

int main(void) {
  const char *extra[] = {"--transfer-timeout", "2", NULL};
  if (cs_acsd_start(&acsd, 1, extra) != 0) return 1;
  char *token = cs_token_create("transfer-expiry");
  CHECK(token != NULL);
  cs_cpe c;
  cs_cpe_init(&c, acsd.cwmp_port, "00BEEF", "Transfer", "SN-TX-1");
  cm_model m;
  cm_init(&m);
  CHECK_INT(cs_cpe_inform(&c, "0 BOOTSTRAP,1 BOOT"), 200);
  CHECK_INT(cs_cpe_acs_turn(&c, cm_turn_answer, &m), 0);
  long long never = queue_download(token, &c, "tx-never");
  long long done = queue_download(token, &c, "tx-done");
  CHECK(never > 0 && done > 0);
  CHECK_INT(cs_cpe_inform(&c, "2 PERIODIC"), 200);
  CHECK_INT(cs_cpe_acs_turn(&c, cm_turn_answer, &m), 2);
  char b1[32], b2[32];
  CHECK_STR(status_of(token, never, b1, sizeof b1), "sent");
  CHECK_STR(status_of(token, done, b2, sizeof b2), "sent");
  /* the CPE reports one transfer complete, in a session of its own */
  acs_cwmp_msg tc, in;
  memset(&tc, 0, sizeof tc);
  CHECK_INT(cs_cpe_inform(&c, "7 TRANSFER COMPLETE,M Download|tx-done"), 200);
  tc.kind = ACS_CWMP_TRANSFER_COMPLETE;
  tc.u.transfer_complete.command_key = "tx-done";
  tc.u.transfer_complete.start_time = "2026-12-07T00:00:00Z";
  tc.u.transfer_complete.complete_time = "2026-12-07T00:00:01Z";
  CHECK_INT(cs_cpe_post(&c, &tc, &in), 200);
  CHECK_INT(in.kind, ACS_CWMP_TRANSFER_COMPLETE_RESPONSE);
  CHECK_INT(cs_cpe_acs_turn(&c, cm_turn_answer, &m), 0);
  CHECK_STR(status_of(token, done, b2, sizeof b2), "done");
  /* the other one expires within a few sweeps */
  uint64_t t0 = cs_now_ms();
  while (strcmp(status_of(token, never, b1, sizeof b1), "sent") == 0 && cs_now_ms() - t0 < 15000)
    cs_sleep_ms(250);
  printf("a transfer without its TransferComplete: '%s' after %llu ms (transfer-timeout 2 s)\n",
         b1, (unsigned long long)(cs_now_ms() - t0));
  CHECK_STR(b1, "expired");
  json_t *t = cs_api_get_task(&acsd, token, never);
  const char *why = t ? jstr(t, "fault/string") : NULL;
  CHECK(why && strstr(why, "no TransferComplete") != NULL);
  if (!why || !strstr(why, "no TransferComplete")) {
    char *dump = t ? json_dumps(t, 0) : NULL;
    fprintf(stderr, "expired task: %s\n", dump ? dump : "(none)");
    free(dump);
  }
  json_decref(t);
  CHECK_STR(status_of(token, done, b2, sizeof b2), "done");
  cm_free(&m);
  cs_cpe_free(&c);
  free(token);
  CHECK_INT(cs_acsd_stop(&acsd, 30000), 0);
  return acs_test_result("test_session_transfer_expiry");
}
