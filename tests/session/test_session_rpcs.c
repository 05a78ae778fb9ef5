/* test_session_rpcs: every ACS->CPE RPC queued through the task API goes out
 * after the CPE's empty POST, in the order queued, and the scripted CPE
 * answers like a real one; what the answers imply is stored (task results,
 * the data model); one-shot RPCs are 'sent' with their CommandKey before they
 * reach the CPE; a CPE fault lands on its task; the CPE's own requests are
 * answered and kept as events; the Inform is durable before its
 * InformResponse; 0 BOOTSTRAP marks the data stale; cwmp:ID is echoed and
 * the namespaces 1-0 and 1-2 are answered in kind. */
#include "session_test.h"

static cs_acsd acsd;
static PGconn *pg;
static char *token;

/* The tasks, queued in this order. key: the CommandKey expected in the
 * store when the RPC arrives ("*": one acsd made up, NULL: none). */
typedef struct spec {
  const char *rpc;
  const char *args;
  bool one_shot;
  const char *key;
  const char *final; /* status at the end */
} spec;

static const spec specs[] = {
    {"GetParameterValues", "{\"ParameterNames\": [\"Device.DeviceInfo.\", \"Device.WiFi.\"]}",
     false, NULL, "done"},
    {"GetParameterNames", "{\"ParameterPath\": \"Device.WiFi.\", \"NextLevel\": false}", false,
     NULL, "done"},
    {"SetParameterValues",
     "{\"ParameterList\": [{\"Name\": \"Device.WiFi.SSID.1.SSID\", \"Value\": \"acs-configured\", "
     "\"Type\": \"xsd:string\"}], \"ParameterKey\": \"pk-1\"}",
     false, NULL, "done"},
    {"GetParameterAttributes", "{\"ParameterNames\": [\"Device.WiFi.SSID.1.SSID\"]}", false, NULL,
     "done"},
    {"SetParameterAttributes",
     "{\"ParameterList\": [{\"Name\": \"Device.WiFi.SSID.1.Enable\", \"NotificationChange\": true, "
     "\"Notification\": 1, \"AccessListChange\": true, \"AccessList\": [\"Subscriber\"]}]}",
     false, NULL, "done"},
    {"AddObject", "{\"ObjectName\": \"Device.WiFi.SSID.\", \"ParameterKey\": \"\"}", false, NULL,
     "done"},
    {"DeleteObject", "{\"ObjectName\": \"Device.WiFi.SSID.3.\", \"ParameterKey\": \"\"}", false,
     NULL, "done"},
    {"Reboot", "{\"CommandKey\": \"reboot-key-1\"}", true, "reboot-key-1", "done"},
    {"FactoryReset", "{}", true, NULL, "done"},
    {"Download",
     "{\"CommandKey\": \"\", \"FileType\": \"1 Firmware Upgrade Image\", \"URL\": "
     "\"http://192.0.2.10/fw.bin\", \"FileSize\": 1234, \"TargetFileName\": \"fw.bin\"}",
     true, "*", "sent"}, /* Status 1: open until its TransferComplete */
    {"Upload",
     "{\"CommandKey\": \"upload-key-1\", \"FileType\": \"1 Vendor Configuration File\", \"URL\": "
     "\"http://192.0.2.10/upload\"}",
     true, "upload-key-1", "sent"},
    {"ScheduleInform", "{\"DelaySeconds\": 60, \"CommandKey\": \"si-key-1\"}", true, "si-key-1",
     "done"},
    {"ScheduleDownload",
     "{\"CommandKey\": \"sd-key-1\", \"FileType\": \"1 Firmware Upgrade Image\", \"URL\": "
     "\"http://192.0.2.10/fw2.bin\", \"FileSize\": 2000, \"TargetFileName\": \"fw2.bin\", "
     "\"TimeWindowList\": [{\"WindowStart\": 0, \"WindowEnd\": 3600, \"WindowMode\": \"1 At Any "
     "Time\", \"UserMessage\": \"\", \"MaxRetries\": -1}]}",
     true, "sd-key-1", "done"},
    {"CancelTransfer", "{\"CommandKey\": \"sd-key-1\"}", false, NULL, "done"},
    {"GetAllQueuedTransfers", "{}", false, NULL, "done"},
    {"GetQueuedTransfers", "{}", false, NULL, "done"},
    {"ChangeDUState",
     "{\"Operations\": [{\"Op\": \"Install\", \"URL\": \"http://192.0.2.10/du.ipk\", \"UUID\": "
     "\"1b4e28ba-2fa1-11d2-883f-0016d3cca427\"}], \"CommandKey\": \"du-key-1\"}",
     true, "du-key-1", "done"},
    {"GetRPCMethods", "{}", false, NULL, "done"},
    {"SetParameterValues",
     "{\"ParameterList\": [{\"Name\": \"Device.WiFi.SSID.1.NoSuchThing\", \"Value\": \"x\", "
     "\"Type\": \"xsd:string\"}], \"ParameterKey\": \"pk-2\"}",
     false, NULL, "fault"},
};
#define NSPECS (sizeof specs / sizeof specs[0])

typedef struct turn {
  cm_model m;
  long long ids[NSPECS];
  size_t seen;
  char download_key[64];
  char rpc_ids[NSPECS][48];
} turn;

static const char *rpc_command_key(const acs_cwmp_msg *r) {
  switch (r->kind) {
    case ACS_CWMP_REBOOT:
      return r->u.command_key_req.command_key;
    case ACS_CWMP_DOWNLOAD:
      return r->u.download.command_key;
    case ACS_CWMP_UPLOAD:
      return r->u.upload.command_key;
    case ACS_CWMP_SCHEDULE_INFORM:
      return r->u.schedule_inform.command_key;
    case ACS_CWMP_SCHEDULE_DOWNLOAD:
      return r->u.schedule_download.command_key;
    case ACS_CWMP_CHANGE_DU_STATE:
      return r->u.change_du_state.command_key;
    default:
      return NULL;
  }
}

/* Runs inside the session, when an RPC arrives and before it is answered. */
static int answer(cs_cpe *c, const acs_cwmp_msg *rpc, acs_arena *a, acs_cwmp_msg *out, void *arg) {
  turn *t = arg;
  if (t->seen >= NSPECS) {
    fprintf(stderr, "an RPC more than queued: %s\n", acs_cwmp_kind_name(rpc->kind));
    CHECK(t->seen < NSPECS);
    return -1;
  }
  size_t i = t->seen++;
  const spec *sp = &specs[i];
  char id[24];
  snprintf(id, sizeof id, "%lld", t->ids[i]);
  CHECK_STR(acs_cwmp_kind_name(rpc->kind), sp->rpc); /* in the order queued */
  CHECK(rpc->id && rpc->id[0]);
  snprintf(t->rpc_ids[i], sizeof t->rpc_ids[i], "%s", rpc->id ? rpc->id : "");
  CHECK_INT(rpc->ns, c->ns);
  if (i > 0) { /* the previous answer is stored before the next RPC goes out */
    const char *prev = task_status(pg, t->ids[i - 1]);
    CHECK(prev && strcmp(prev, specs[i - 1].final) == 0);
    char pid[24];
    snprintf(pid, sizeof pid, "%lld", t->ids[i - 1]);
    CHECK(qs(pg, "SELECT result::text FROM tasks WHERE id = $1::bigint", pid, NULL) != NULL);
  }
  const char *st = task_status(pg, t->ids[i]);
  const char *key = qs(pg, "SELECT command_key FROM tasks WHERE id = $1::bigint", id, NULL);
  if (sp->one_shot) {
    /* recorded as sent, with its CommandKey, before it reached us */
    CHECK_STR(st, "sent");
    CHECK(qs(pg, "SELECT sent_at FROM tasks WHERE id = $1::bigint", id, NULL) != NULL);
    const char *rk = rpc_command_key(rpc);
    if (!sp->key) {
      CHECK(key == NULL);
    } else if (strcmp(sp->key, "*") == 0) {
      char want[48];
      snprintf(want, sizeof want, "acsd-task-%lld", t->ids[i]);
      CHECK_STR(key, want);
      CHECK_STR(rk, want);
      snprintf(t->download_key, sizeof t->download_key, "%s", rk ? rk : "");
    } else {
      CHECK_STR(key, sp->key);
      CHECK_STR(rk, sp->key);
    }
  } else {
    /* regression, issue 11: every task sent is recorded 'sent' with its
     * sent_at (it stayed 'pending' with sent_at null) */
    CHECK_STR(st, "sent");
    CHECK(qs(pg, "SELECT sent_at FROM tasks WHERE id = $1::bigint", id, NULL) != NULL);
  }
  if (rpc->kind == ACS_CWMP_GET_PARAMETER_NAMES) {
    /* the GPV before stored SSID.2; the CPE loses it before the GPN */
    CHECK_INT(qll(pg,
                  "SELECT count(*) FROM parameters WHERE device_id = $1 AND name LIKE "
                  "'Device.WiFi.SSID.2.%'",
                  c->device_id, NULL),
              2);
    CHECK(cm_remove(&t->m, "Device.WiFi.SSID.2.") == 3);
  }
  return cm_answer(&t->m, rpc, a, out);
}

static const char *pvalue(const char *dev, const char *name, const char *col) {
  char sql[160];
  snprintf(sql, sizeof sql, "SELECT %s FROM parameters WHERE device_id = $1 AND name = $2", col);
  return qs(pg, sql, dev, name);
}

/* --- the Inform: durable before the InformResponse; BOOTSTRAP; cwmp:ID */
static void test_inform(cs_cpe *c) {
  acs_arena a;
  acs_arena_init(&a, 4096);
  acs_cwmp_msg m, in;
  cs_cpe_inform_msg(c, &a, "Device.", "0 BOOTSTRAP,1 BOOT", NULL, 0, &m);
  m.id = "inform-id-42";
  int st = cs_cpe_post(c, &m, &in);
  CHECK_INT(st, 200);
  CHECK_INT(in.kind, ACS_CWMP_INFORM_RESPONSE);
  CHECK_STR(in.id, "inform-id-42");
  CHECK_INT(in.ns, ACS_CWMP_NS_1_2);
  CHECK_INT(in.u.inform_response.max_envelopes, 1);
  CHECK(c->cookie[0] != '\0');
  acs_arena_reset(&a);

  /* right after the InformResponse, before anything else */
  const char *d = c->device_id;
  CHECK_INT(qll(pg, "SELECT count(*) FROM devices WHERE id = $1", d, NULL), 1);
  CHECK_STR(qs(pg, "SELECT host(source_ip) FROM devices WHERE id = $1", d, NULL), "127.0.0.7");
  CHECK_STR(qs(pg, "SELECT connection_request_url FROM devices WHERE id = $1", d, NULL),
            c->conn_req_url);
  CHECK_STR(qs(pg, "SELECT data_stale::text FROM devices WHERE id = $1", d, NULL), "true");
  CHECK_STR(qs(pg,
               "SELECT (last_inform IS NOT NULL AND last_boot IS NOT NULL AND "
               "last_bootstrap IS NOT NULL)::text FROM devices WHERE id = $1",
               d, NULL),
            "true");
  CHECK_STR(qs(pg, "SELECT software_version FROM devices WHERE id = $1", d, NULL), "SW-2.3.4");
  CHECK_STR(qs(pg, "SELECT serial_number FROM devices WHERE id = $1", d, NULL), c->serial);
  CHECK_STR(qs(pg, "SELECT cwmp_version FROM devices WHERE id = $1", d, NULL), "1.2");
  CHECK_INT(qll(pg, "SELECT count(*) FROM parameters WHERE device_id = $1", d, NULL), 5);
  CHECK_STR(pvalue(d, "Device.ManagementServer.ConnectionRequestURL", "value"), c->conn_req_url);
  CHECK_STR(pvalue(d, "Device.DeviceInfo.HardwareVersion", "xsd_type"), "xsd:string");
  CHECK_STR(qs(pg, "SELECT string_agg(code, ',' ORDER BY code) FROM events WHERE device_id = $1", d,
               NULL),
            "0 BOOTSTRAP,1 BOOT");

  /* the same through the API */
  json_t *dev = cs_api_get_device(&acsd, token, d);
  CHECK(dev != NULL);
  CHECK_STR(jstr(dev, "id"), d);
  CHECK(json_is_true(jpath(dev, "data_stale")));
  CHECK_STR(jstr(dev, "source_ip"), "127.0.0.7");
  CHECK_STR(jstr(dev, "connection_request_url"), c->conn_req_url);
  CHECK_STR(jstr(dev, "parameters/Device.DeviceInfo.SoftwareVersion/value"), "SW-2.3.4");
  CHECK_STR(jstr(dev, "parameters/Device.DeviceInfo.SoftwareVersion/type"), "xsd:string");
  json_decref(dev);
  int hs;
  json_t *j = cs_api(&acsd, NULL, "GET", "/api/v1/tasks/1", NULL, &hs);
  CHECK_INT(hs, 401); /* no token */
  json_decref(j);

  /* the CPE's own requests in its turn: GetRPCMethods is answered */
  memset(&m, 0, sizeof m);
  m.kind = ACS_CWMP_GET_RPC_METHODS;
  m.id = "grm-7";
  st = cs_cpe_post(c, &m, &in);
  CHECK_INT(st, 200);
  CHECK_INT(in.kind, ACS_CWMP_GET_RPC_METHODS_RESPONSE);
  CHECK_STR(in.id, "grm-7");
  bool inform = false, tc = false;
  for (size_t i = 0;
       in.kind == ACS_CWMP_GET_RPC_METHODS_RESPONSE && i < in.u.get_rpc_methods_response.methods.n;
       i++) {
    inform = inform || strcmp(in.u.get_rpc_methods_response.methods.v[i], "Inform") == 0;
    tc = tc || strcmp(in.u.get_rpc_methods_response.methods.v[i], "TransferComplete") == 0;
  }
  CHECK(inform && tc);
  /* a method the ACS does not know: fault 8000, session goes on */
  st = cs_cpe_post_raw(c,
                       "<soap-env:Envelope xmlns:soap-env=\"http://schemas.xmlsoap.org/soap/"
                       "envelope/\" xmlns:cwmp=\"urn:dslforum-org:cwmp-1-2\"><soap-env:Header>"
                       "<cwmp:ID soap-env:mustUnderstand=\"1\">unk-1</cwmp:ID></soap-env:Header>"
                       "<soap-env:Body><cwmp:X_ACME_Hello><Greeting>hi</Greeting>"
                       "</cwmp:X_ACME_Hello></soap-env:Body></soap-env:Envelope>",
                       &in);
  CHECK_INT(st, 500);
  CHECK_INT(in.kind, ACS_CWMP_FAULT);
  CHECK_INT(in.kind == ACS_CWMP_FAULT ? in.u.fault.code : 0, 8000);
  CHECK_STR(in.id, "unk-1");
  CHECK_INT(cs_cpe_acs_turn(c, NULL, NULL), 0); /* no task: 204 */
}

/* --- every RPC, in one session */
static void test_rpcs(cs_cpe *c, turn *t) {
  for (size_t i = 0; i < NSPECS; i++) {
    t->ids[i] = cs_api_task(&acsd, token, c->device_id, specs[i].rpc, specs[i].args);
    CHECK(t->ids[i] > 0);
  }
  CHECK_INT(cs_cpe_inform(c, "6 CONNECTION REQUEST"), 200);
  for (size_t i = 0; i < NSPECS; i++) CHECK_STR(task_status(pg, t->ids[i]), "pending");
  int n = cs_cpe_acs_turn(c, answer, t);
  CHECK_INT(n, (int)NSPECS);
  CHECK_INT(t->seen, NSPECS);
  for (size_t i = 1; i < NSPECS; i++) CHECK(strcmp(t->rpc_ids[i], t->rpc_ids[i - 1]) != 0);

  /* every task, through the API and in SQL */
  json_t *tj[NSPECS];
  for (size_t i = 0; i < NSPECS; i++) {
    tj[i] = cs_api_get_task(&acsd, token, t->ids[i]);
    CHECK(tj[i] != NULL);
    CHECK_STR(jstr(tj[i], "status"), specs[i].final);
    CHECK_STR(jstr(tj[i], "rpc"), specs[i].rpc);
    CHECK_STR(jstr(tj[i], "device_id"), c->device_id);
    CHECK_STR(task_status(pg, t->ids[i]), specs[i].final);
    if (strcmp(specs[i].final, "done") == 0 || strcmp(specs[i].final, "sent") == 0) {
      CHECK(json_is_object(jpath(tj[i], "result")));
      CHECK(json_is_null(jpath(tj[i], "fault")));
    }
    if (specs[i].key && strcmp(specs[i].key, "*") != 0)
      CHECK_STR(jstr(tj[i], "command_key"), specs[i].key);
  }
  const char *d = c->device_id;
  /* GetParameterValues: the values, in the result and the store */
  CHECK_INT(json_array_size(jpath(tj[0], "result/ParameterList")), 11);
  CHECK_STR(pvalue(d, "Device.DeviceInfo.ModelName", "value"), "Roadrunner 9000");
  CHECK_STR(pvalue(d, "Device.DeviceInfo.UpTime", "value"), "4711");
  CHECK_STR(pvalue(d, "Device.DeviceInfo.UpTime", "xsd_type"), "xsd:unsignedInt");
  CHECK_STR(pvalue(d, "Device.WiFi.SSID.1.Enable", "xsd_type"), "xsd:boolean");
  /* GetParameterNames: writable and object flags; SSID.2 vanished */
  CHECK_STR(pvalue(d, "Device.WiFi.SSID.1.SSID", "writable::text"), "true");
  CHECK_STR(pvalue(d, "Device.WiFi.SSID.1.SSID", "is_object::text"), "false");
  CHECK_STR(pvalue(d, "Device.WiFi.SSID.1.", "is_object::text"), "true");
  CHECK_STR(pvalue(d, "Device.WiFi.", "is_object::text"), "true");
  CHECK_STR(pvalue(d, "Device.WiFi.", "writable::text"), "false");
  CHECK_INT(qll(pg,
                "SELECT count(*) FROM parameters WHERE device_id = $1 AND name LIKE "
                "'Device.WiFi.SSID.2.%'",
                d, NULL),
            0);
  CHECK_INT(qll(pg,
                "SELECT count(*) FROM parameters WHERE device_id = $1 AND name = "
                "'Device.WiFi.SSID.2.'",
                d, NULL),
            0);
  /* SetParameterValues: the value */
  CHECK_STR(pvalue(d, "Device.WiFi.SSID.1.SSID", "value"), "acs-configured");
  CHECK_INT(jint(tj[2], "result/Status"), 0);
  /* GetParameterAttributes / SetParameterAttributes */
  CHECK_STR(pvalue(d, "Device.WiFi.SSID.1.SSID", "notification::text"), "2");
  CHECK_STR(pvalue(d, "Device.WiFi.SSID.1.SSID", "array_to_string(access_list, ',')"),
            "Subscriber");
  CHECK_STR(pvalue(d, "Device.WiFi.SSID.1.Enable", "notification::text"), "1");
  CHECK_STR(pvalue(d, "Device.WiFi.SSID.1.Enable", "array_to_string(access_list, ',')"),
            "Subscriber");
  /* AddObject: instance 4 (1 and 3 exist, 2 vanished) */
  CHECK_INT(jint(tj[5], "result/InstanceNumber"), 4);
  CHECK_STR(pvalue(d, "Device.WiFi.SSID.4.", "is_object::text"), "true");
  /* DeleteObject: the subtree is gone */
  CHECK_INT(qll(pg,
                "SELECT count(*) FROM parameters WHERE device_id = $1 AND name LIKE "
                "'Device.WiFi.SSID.3.%'",
                d, NULL),
            0);
  CHECK_INT(qll(pg,
                "SELECT count(*) FROM parameters WHERE device_id = $1 AND name LIKE "
                "'Device.WiFi.SSID.1.%'",
                d, NULL),
            3);
  CHECK_INT(t->m.reboots, 1);
  CHECK_INT(t->m.factory_resets, 1);
  CHECK_INT(jint(tj[9], "result/Status"), 1); /* Download: TransferComplete follows */
  CHECK_INT(json_array_size(jpath(tj[14], "result/TransferList")), 2);
  CHECK_STR(jstr(tj[14], "result/TransferList/0/CommandKey"), t->download_key);
  CHECK(json_is_true(jpath(tj[14], "result/TransferList/0/IsDownload")));
  CHECK_STR(jstr(tj[15], "result/TransferList/1/CommandKey"), "upload-key-1");
  CHECK_INT(json_array_size(jpath(tj[17], "result/MethodList")), 18);
  /* the CPE's fault, with its list, on the task */
  json_t *f = tj[NSPECS - 1];
  CHECK_INT(jint(f, "fault/code"), 9005);
  CHECK(jstr(f, "fault/string") != NULL);
  CHECK_INT(jint(f, "result/FaultCode"), 9005);
  CHECK_STR(jstr(f, "result/SetParameterValuesFault/0/ParameterName"),
            "Device.WiFi.SSID.1.NoSuchThing");
  CHECK_INT(jint(f, "result/SetParameterValuesFault/0/FaultCode"), 9005);
  char id[24];
  snprintf(id, sizeof id, "%lld", t->ids[NSPECS - 1]);
  CHECK_STR(qs(pg, "SELECT fault_code::text FROM tasks WHERE id = $1::bigint", id, NULL), "9005");
  CHECK_STR(qs(pg,
               "SELECT result->'SetParameterValuesFault'->0->>'ParameterName' FROM tasks "
               "WHERE id = $1::bigint",
               id, NULL),
            "Device.WiFi.SSID.1.NoSuchThing");
  CHECK_STR(pvalue(d, "Device.WiFi.SSID.1.SSID", "value"), "acs-configured"); /* unchanged */
  /* the data model through the API */
  json_t *dev = cs_api_get_device(&acsd, token, d);
  CHECK(dev != NULL);
  CHECK_STR(jstr(dev, "parameters/Device.WiFi.SSID.1.SSID/value"), "acs-configured");
  CHECK_STR(jstr(dev, "parameters/Device.WiFi.SSID.1.SSID/type"), "xsd:string");
  CHECK(json_is_true(jpath(dev, "parameters/Device.WiFi.SSID.1.SSID/writable")));
  CHECK(json_is_false(jpath(dev, "parameters/Device.WiFi.SSID.1.SSID/object")));
  CHECK_INT(jint(dev, "parameters/Device.WiFi.SSID.1.SSID/notification"), 2);
  CHECK_INT(jint(dev, "parameters/Device.WiFi.SSID.1.Enable/notification"), 1);
  CHECK_STR(jstr(dev, "parameters/Device.WiFi.SSID.1.Enable/access_list/0"), "Subscriber");
  CHECK_STR(jstr(dev, "parameters/Device.DeviceInfo.UpTime/type"), "xsd:unsignedInt");
  CHECK(json_is_true(jpath(dev, "parameters/Device.WiFi.SSID.4./object")));
  CHECK(jpath(dev, "parameters/Device.WiFi.SSID.3.SSID") == NULL);
  CHECK(jpath(dev, "parameters/Device.WiFi.SSID.2.SSID") == NULL);
  CHECK(json_is_object(jpath(dev, "parameters/Device.WiFi.SSID.1.SSID")));
  json_decref(dev);
  for (size_t i = 0; i < NSPECS; i++) json_decref(tj[i]);
}

static acs_cwmp_du_result *du_result(acs_arena *a) {
  acs_cwmp_du_result *r = acs_arena_calloc(a, 1, sizeof *r);
  r->uuid = "1b4e28ba-2fa1-11d2-883f-0016d3cca427";
  r->deployment_unit_ref = "Device.SoftwareModules.DeploymentUnit.1";
  r->version = "1.0";
  r->current_state = "Installed";
  r->resolved = true;
  r->execution_unit_ref_list = "";
  r->start_time = "2024-05-01T10:00:00Z";
  r->complete_time = "2024-05-01T10:00:05Z";
  r->operation_performed = "Install";
  return r;
}

/* --- the CPE's requests of a later session, kept as events */
static void test_cpe_requests(cs_cpe *c, turn *t) {
  char ev[256];
  snprintf(ev, sizeof ev,
           "7 TRANSFER COMPLETE,M Download|%s,10 AUTONOMOUS TRANSFER COMPLETE,"
           "11 DU STATE CHANGE COMPLETE,M ChangeDUState|du-key-1,9 REQUEST DOWNLOAD",
           t->download_key);
  acs_arena a;
  acs_arena_init(&a, 4096);
  acs_cwmp_msg m, in;
  cs_cpe_inform_msg(c, &a, "Device.", ev, NULL, 0, &m);
  CHECK_INT(cs_cpe_post(c, &m, &in), 200);
  CHECK_INT(in.kind, ACS_CWMP_INFORM_RESPONSE);
  const char *d = c->device_id;

  /* TransferComplete of the Download, and a failed one of the Upload */
  memset(&m, 0, sizeof m);
  m.kind = ACS_CWMP_TRANSFER_COMPLETE;
  m.u.transfer_complete.command_key = t->download_key;
  m.u.transfer_complete.fault.string = "";
  m.u.transfer_complete.start_time = "2024-05-01T10:00:00Z";
  m.u.transfer_complete.complete_time = "2024-05-01T10:01:00Z";
  CHECK_INT(cs_cpe_post(c, &m, &in), 200);
  CHECK_INT(in.kind, ACS_CWMP_TRANSFER_COMPLETE_RESPONSE);
  CHECK_STR(in.id, c->last_id);
  m.u.transfer_complete.command_key = "upload-key-1";
  m.u.transfer_complete.fault.code = 9011;
  m.u.transfer_complete.fault.string = "Upload failure";
  m.id = NULL;
  CHECK_INT(cs_cpe_post(c, &m, &in), 200);
  CHECK_INT(in.kind, ACS_CWMP_TRANSFER_COMPLETE_RESPONSE);

  memset(&m, 0, sizeof m);
  m.kind = ACS_CWMP_AUTONOMOUS_TRANSFER_COMPLETE;
  acs_cwmp_autonomous_transfer_complete *atc = &m.u.autonomous_transfer_complete;
  atc->announce_url = "";
  atc->transfer_url = "http://192.0.2.10/auto.bin";
  atc->is_download = true;
  atc->file_type = "1 Firmware Upgrade Image";
  atc->file_size = 777;
  atc->target_file_name = "auto.bin";
  atc->fault.string = "";
  atc->start_time = "2024-05-01T11:00:00Z";
  atc->complete_time = "2024-05-01T11:00:30Z";
  CHECK_INT(cs_cpe_post(c, &m, &in), 200);
  CHECK_INT(in.kind, ACS_CWMP_AUTONOMOUS_TRANSFER_COMPLETE_RESPONSE);

  memset(&m, 0, sizeof m);
  m.kind = ACS_CWMP_REQUEST_DOWNLOAD;
  acs_cwmp_arg arg = {"Version", "2.0"};
  m.u.request_download.file_type = "1 Firmware Upgrade Image";
  m.u.request_download.args.v = &arg;
  m.u.request_download.args.n = 1;
  CHECK_INT(cs_cpe_post(c, &m, &in), 200);
  CHECK_INT(in.kind, ACS_CWMP_REQUEST_DOWNLOAD_RESPONSE);

  memset(&m, 0, sizeof m);
  m.kind = ACS_CWMP_DU_STATE_CHANGE_COMPLETE;
  m.u.du_state_change_complete.results.v = du_result(&a);
  m.u.du_state_change_complete.results.n = 1;
  m.u.du_state_change_complete.command_key = "du-key-1";
  CHECK_INT(cs_cpe_post(c, &m, &in), 200);
  CHECK_INT(in.kind, ACS_CWMP_DU_STATE_CHANGE_COMPLETE_RESPONSE);

  memset(&m, 0, sizeof m);
  m.kind = ACS_CWMP_AUTONOMOUS_DU_STATE_CHANGE_COMPLETE;
  m.u.autonomous_du_state_change_complete.results.v = du_result(&a);
  m.u.autonomous_du_state_change_complete.results.n = 1;
  CHECK_INT(cs_cpe_post(c, &m, &in), 200);
  CHECK_INT(in.kind, ACS_CWMP_AUTONOMOUS_DU_STATE_CHANGE_COMPLETE_RESPONSE);

  /* durable before their responses: checked now, in the session */
  static const char *const kinds[] = {"TransferComplete", "AutonomousTransferComplete",
                                      "RequestDownload", "DUStateChangeComplete",
                                      "AutonomousDUStateChangeComplete"};
  static const int counts[] = {2, 1, 1, 1, 1};
  for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
    long long n =
        qll(pg, "SELECT count(*) FROM events WHERE device_id = $1 AND code = $2", d, kinds[i]);
    if (n != counts[i]) fprintf(stderr, "events %s: %lld\n", kinds[i], n);
    CHECK_INT(n, counts[i]);
  }
  CHECK_STR(qs(pg,
               "SELECT payload->>'TransferURL' FROM events WHERE device_id = $1 AND code = "
               "'AutonomousTransferComplete'",
               d, NULL),
            "http://192.0.2.10/auto.bin");
  CHECK_STR(qs(pg,
               "SELECT payload->'FileTypeArg'->0->>'Value' FROM events WHERE device_id = $1 "
               "AND code = 'RequestDownload'",
               d, NULL),
            "2.0");
  CHECK_STR(qs(pg,
               "SELECT command_key FROM events WHERE device_id = $1 AND code = "
               "'DUStateChangeComplete'",
               d, NULL),
            "du-key-1");
  CHECK_STR(qs(pg,
               "SELECT payload->'Results'->0->>'CurrentState' FROM events WHERE device_id = "
               "$1 AND code = 'AutonomousDUStateChangeComplete'",
               d, NULL),
            "Installed");
  CHECK_STR(qs(pg,
               "SELECT command_key FROM events WHERE device_id = $1 AND code = "
               "'TransferComplete' AND payload->'FaultStruct'->>'FaultCode' = '0'",
               d, NULL),
            t->download_key);
  CHECK_INT(qll(pg,
                "SELECT count(*) FROM events WHERE device_id = $1 AND code = "
                "'7 TRANSFER COMPLETE'",
                d, NULL),
            1);
  /* the transfer tasks got their TransferComplete */
  char id[24];
  snprintf(id, sizeof id, "%lld", t->ids[9]);
  CHECK_STR(qs(pg,
               "SELECT result->'TransferComplete'->>'CommandKey' FROM tasks WHERE id = "
               "$1::bigint",
               id, NULL),
            t->download_key);
  CHECK_STR(task_status(pg, t->ids[9]), "done");
  CHECK_STR(task_status(pg, t->ids[10]), "fault"); /* the failed Upload */
  json_t *up = cs_api_get_task(&acsd, token, t->ids[10]);
  CHECK_INT(jint(up, "result/TransferComplete/FaultStruct/FaultCode"), 9011);
  CHECK_INT(jint(up, "fault/code"), 9011); /* the FaultStruct is the task's fault */
  json_decref(up);

  /* a CPE that calls an RPC only an ACS may send (Reboot) gets 8000 too */
  memset(&m, 0, sizeof m);
  m.kind = ACS_CWMP_REBOOT;
  m.u.command_key_req.command_key = "";
  m.id = "cpe-reboot-1";
  int st = cs_cpe_post(c, &m, &in);
  CHECK_INT(st, 500);
  CHECK_INT(in.kind == ACS_CWMP_FAULT ? in.u.fault.code : 0, 8000);
  if (st != 500) fprintf(stderr, "a CPE's Reboot request got HTTP %d\n", st);
  CHECK_INT(cs_cpe_acs_turn(c, NULL, NULL), 0);
  acs_arena_reset(&a);
}

/* --- namespaces: a CPE speaking cwmp-1-0 (and one 1-2) is answered in kind,
 * its RPCs too */
static void test_namespace(acs_cwmp_ns ns, const char *serial, const char *ver) {
  cs_cpe c;
  cs_cpe_init(&c, acsd.cwmp_port, "00D09E", "", serial);
  c.ns = ns;
  acs_arena a;
  acs_arena_init(&a, 4096);
  acs_cwmp_msg m, in;
  cs_cpe_inform_msg(&c, &a, "Device.", "1 BOOT", NULL, 0, &m);
  m.id = "ns-id";
  CHECK_INT(cs_cpe_post(&c, &m, &in), 200);
  CHECK_INT(in.kind, ACS_CWMP_INFORM_RESPONSE);
  CHECK_INT(in.ns, ns);
  CHECK_STR(in.id, "ns-id");
  CHECK(strstr(c.resp.body, acs_cwmp_ns_uri(ns)) != NULL);
  CHECK_STR(qs(pg, "SELECT cwmp_version FROM devices WHERE id = $1", c.device_id, NULL), ver);
  CHECK_STR(qs(pg, "SELECT data_stale::text FROM devices WHERE id = $1", c.device_id, NULL),
            "false");
  CHECK_INT(cs_cpe_acs_turn(&c, NULL, NULL), 0);
  long long id = cs_api_task(&acsd, token, c.device_id, "GetParameterValues",
                             "{\"ParameterNames\": [\"Device.DeviceInfo.ModelName\"]}");
  CHECK(id > 0);
  CHECK_INT(cs_cpe_inform(&c, "6 CONNECTION REQUEST"), 200);
  acs_cwmp_msg gpv;
  int st = cs_cpe_post(&c, NULL, &gpv);
  CHECK_INT(st, 200);
  CHECK_INT(gpv.kind, ACS_CWMP_GET_PARAMETER_VALUES);
  CHECK_INT(gpv.ns, ns);
  if (st == 200 && gpv.kind == ACS_CWMP_GET_PARAMETER_VALUES) {
    cm_model mod;
    cm_init(&mod);
    acs_arena_reset(&a);
    cm_answer(&mod, &gpv, &a, &m);
    m.id = gpv.id;
    CHECK_INT(cs_cpe_post(&c, &m, &in), 204);
    cm_free(&mod);
  }
  CHECK_STR(task_status(pg, id), "done");
  CHECK_STR(pvalue(c.device_id, "Device.DeviceInfo.ModelName", "value"), "Roadrunner 9000");
  acs_arena_reset(&a);
  cs_cpe_free(&c);
}

/* --- GetParameterAttributes answered with an empty AccessList (what most
 * CPEs answer), and SetParameterAttributes without AccessListChange: stored,
 * and the session goes on with the next task */
static void test_empty_access_lists(void) {
  cs_cpe c;
  cs_cpe_init(&c, acsd.cwmp_port, "00D09E", "RR-9000", "SN-GPA-EMPTY");
  CHECK_INT(cs_cpe_inform(&c, "1 BOOT"), 200);
  CHECK_INT(cs_cpe_acs_turn(&c, NULL, NULL), 0);
  cm_model m;
  cm_init(&m);
  long long ids[3] = {
      cs_api_task(&acsd, token, c.device_id, "GetParameterAttributes",
                  "{\"ParameterNames\": [\"Device.DeviceInfo.ModelName\"]}"),
      cs_api_task(&acsd, token, c.device_id, "SetParameterAttributes",
                  "{\"ParameterList\": [{\"Name\": \"Device.DeviceInfo.UpTime\", "
                  "\"NotificationChange\": true, \"Notification\": 2}]}"),
      cs_api_task(&acsd, token, c.device_id, "GetParameterValues",
                  "{\"ParameterNames\": [\"Device.DeviceInfo.ModelName\"]}"),
  };
  CHECK(ids[0] > 0 && ids[1] > 0 && ids[2] > 0);
  CHECK_INT(cs_cpe_inform(&c, "6 CONNECTION REQUEST"), 200);
  int n = cs_cpe_acs_turn(&c, cm_turn_answer, &m);
  CHECK_INT(n, 3); /* the session went on after each answer */
  if (n != 3) fprintf(stderr, "empty access lists: %d RPCs in the session, 3 expected\n", n);
  for (int i = 0; i < 3; i++) CHECK_STR(task_status(pg, ids[i]), "done");
  CHECK_STR(pvalue(c.device_id, "Device.DeviceInfo.ModelName", "notification::text"), "0");
  CHECK_STR(pvalue(c.device_id, "Device.DeviceInfo.ModelName", "cardinality(access_list)::text"),
            "0");
  CHECK_STR(pvalue(c.device_id, "Device.DeviceInfo.ModelName", "value"), "Roadrunner 9000");
  cm_free(&m);
  cs_cpe_free(&c);
}

int main(void) {
  pg = cs_pg_connect(cs_env("ACS_TEST_PG_DSN"));
  if (cs_acsd_start(&acsd, 2, NULL) != 0) return 1;
  token = cs_token_create("test-session-rpcs");
  CHECK(token != NULL);
  if (!token) return acs_test_result("test_session_rpcs");

  cs_cpe c;
  cs_cpe_init(&c, acsd.cwmp_port, "00D09E", "RR-9000", "SN-RPC-0001");
  snprintf(c.http.src_ip, sizeof c.http.src_ip, "127.0.0.7");
  CHECK_STR(c.device_id, "00D09E-RR%2D9000-SN%2DRPC%2D0001");
  turn *t = calloc(1, sizeof *t);
  cm_init(&t->m);

  test_inform(&c);
  test_rpcs(&c, t);
  test_cpe_requests(&c, t);
  test_namespace(ACS_CWMP_NS_1_0, "SN-NS10", "1.0");
  test_namespace(ACS_CWMP_NS_1_2, "SN-NS12", "1.2");
  test_empty_access_lists();

  cm_free(&t->m);
  free(t);
  cs_cpe_free(&c);
  CHECK_INT(cs_acsd_stop(&acsd, 20000), 0);
  free(token);
  PQfinish(pg);
  return acs_test_result("test_session_rpcs");
}
