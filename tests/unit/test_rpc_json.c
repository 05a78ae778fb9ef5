/* test_rpc_json.c: acs_rpc_from_json / acs_rpc_to_json (session/acs_rpc_json.h).
 *
 * - Every ACS->CPE RPC: arguments written as JSON -> from_json -> encode ->
 *   parse: the fields arrive; to_json of the parsed message gives the JSON
 *   back (normalised: Values as strings, Types as "xsd:...").
 * - Every response and a Fault with SetParameterValuesFault: a hand-written
 *   envelope -> parse -> to_json is the expected JSON; that JSON -> from_json
 *   -> encode -> parse -> to_json again gives it back.
 * - Every kind of cwmp_samples.h: to_json -> from_json -> encode gives the
 *   very bytes the sample encodes to.
 * - Lenient inputs, the error cases (unknown key, wrong type, out of range,
 *   bad Type, bad Op, non-object arguments, NUL, out of memory), NULL
 *   strings left out, U+FFFD, and the task / one-shot kind sets. */
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "acs_test.h"
#include "core/acs_arena.h"
#include "core/acs_buf.h"
#include "core/acs_err.h"
#include "cwmp/acs_cwmp.h"
#include "cwmp_samples.h"
#include "session/acs_rpc_json.h"

static const char *kname(acs_cwmp_kind k) {
  const char *n = acs_cwmp_kind_name(k);
  return n ? n : "(none)";
}

/* JSON text of the test, which must be well-formed. */
static json_t *J(const char *text) {
  json_error_t e;
  json_t *j = json_loads(text, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &e);
  if (!j) {
    fprintf(stderr, "test JSON does not parse (%d:%d: %s):\n%s\n", e.line, e.column, e.text, text);
    exit(1);
  }
  return j;
}

static void show(const char *what, const json_t *j) {
  char *s = j ? json_dumps(j, JSON_SORT_KEYS | JSON_ENCODE_ANY) : NULL;
  fprintf(stderr, "  %s: %s\n", what, s ? s : "(NULL)");
  free(s);
}

/* to_json(m) must equal the JSON text want. */
static void check_json(const char *what, const acs_cwmp_msg *m, const char *want) {
  json_t *got = acs_rpc_to_json(m), *w = J(want);
  bool eq = got && json_equal(got, w);
  CHECK(eq);
  if (!eq) {
    fprintf(stderr, "%s: to_json differs\n", what);
    show("got ", got);
    show("want", w);
  }
  /* always dumpable, compact or not */
  char *s = got ? json_dumps(got, 0) : NULL;
  CHECK(s != NULL);
  free(s);
  json_decref(got);
  json_decref(w);
}

/* args (JSON text, NULL for none) -> from_json(kind) -> encode -> parse into
 * *back; to_json(*back) must be want (NULL: args itself, {} for no args). */
static bool request(acs_cwmp_kind kind, const char *args, const char *want, acs_arena *a,
                    acs_cwmp_msg *back) {
  int bad = acs_test_failures;
  json_t *j = args ? J(args) : NULL;
  acs_cwmp_msg m;
  char err[256] = "untouched";
  memset(&m, 0x5A, sizeof m); /* from_json must fill every field */
  int rc = acs_rpc_from_json(kind, j, a, &m, err, sizeof err);
  json_decref(j);
  CHECK_INT(rc, 0);
  if (rc) {
    fprintf(stderr, "%s: from_json failed: %s\n", kname(kind), err);
    return false;
  }
  CHECK_STR(err, "");
  CHECK_INT(m.kind, kind);
  CHECK(m.id == NULL && !m.has_hold_requests && m.session_timeout == 0);
  m.ns = ACS_CWMP_NS_1_2;
  m.id = "rj-1";
  acs_buf out = ACS_BUF_INIT;
  rc = acs_cwmp_encode(&m, &out);
  CHECK_INT(rc, 0);
  acs_cwmp_error perr;
  memset(&perr, 0, sizeof perr);
  rc = rc ? rc : acs_cwmp_parse(out.data, out.len, a, NULL, back, &perr);
  CHECK_INT(rc, 0);
  if (rc) {
    fprintf(stderr, "%s: parse failed: %s\n%.*s\n", kname(kind), perr.msg, (int)out.len,
            out.data ? out.data : "");
    memset(back, 0, sizeof *back);
  }
  acs_buf_free(&out);
  CHECK_INT(back->kind, kind);
  CHECK_STR(back->id, "rj-1");
  if (!rc) check_json(kname(kind), back, want ? want : args ? args : "{}");
  return acs_test_failures == bad;
}

static void test_requests(acs_arena *a) {
  acs_cwmp_msg b;

  request(ACS_CWMP_GET_PARAMETER_VALUES,
          "{\"ParameterNames\": [\"Device.DeviceInfo.\", \"Device.WiFi.SSID.1.SSID\"]}", NULL, a,
          &b);
  CHECK_INT(b.u.get_parameter_values.names.n, 2);
  if (b.u.get_parameter_values.names.n == 2) {
    CHECK_STR(b.u.get_parameter_values.names.v[0], "Device.DeviceInfo.");
    CHECK_STR(b.u.get_parameter_values.names.v[1], "Device.WiFi.SSID.1.SSID");
  }

  request(ACS_CWMP_GET_PARAMETER_NAMES,
          "{\"ParameterPath\": \"Device.WiFi.\", \"NextLevel\": true}", NULL, a, &b);
  CHECK_STR(b.u.get_parameter_names.parameter_path, "Device.WiFi.");
  CHECK(b.u.get_parameter_names.next_level);

  request(ACS_CWMP_SET_PARAMETER_VALUES,
          "{\"ParameterList\": ["
          "{\"Name\": \"Device.WiFi.SSID.1.SSID\", \"Value\": \"home & <away>\", \"Type\": "
          "\"xsd:string\"},"
          "{\"Name\": \"P.Interval\", \"Value\": 300},"
          "{\"Name\": \"P.Offset\", \"Value\": -5},"
          "{\"Name\": \"P.Enable\", \"Value\": false},"
          "{\"Name\": \"P.Count\", \"Value\": \"42\", \"Type\": \"unsignedInt\"},"
          "{\"Name\": \"P.Ratio\", \"Value\": 2.5},"
          "{\"Name\": \"P.Blob\", \"Value\": \"SGk=\", \"Type\": \"soap-enc:base64\"},"
          "{\"Name\": \"P.Bytes\", \"Value\": 5000000000},"
          "{\"Name\": \"P.Debt\", \"Value\": -5000000000},"
          "{\"Name\": \"P.Flag\", \"Value\": 1, \"Type\": \"xsd:boolean\"},"
          "{\"Name\": \"P.When\", \"Value\": \"2026-11-28T10:00:00Z\", \"Type\": \"dateTime\"},"
          "{\"Name\": \"P.Nothing\"}"
          "], \"ParameterKey\": \"k1\"}",
          "{\"ParameterList\": ["
          "{\"Name\": \"Device.WiFi.SSID.1.SSID\", \"Value\": \"home & <away>\", \"Type\": "
          "\"xsd:string\"},"
          "{\"Name\": \"P.Interval\", \"Value\": \"300\", \"Type\": \"xsd:unsignedInt\"},"
          "{\"Name\": \"P.Offset\", \"Value\": \"-5\", \"Type\": \"xsd:int\"},"
          "{\"Name\": \"P.Enable\", \"Value\": \"false\", \"Type\": \"xsd:boolean\"},"
          "{\"Name\": \"P.Count\", \"Value\": \"42\", \"Type\": \"xsd:unsignedInt\"},"
          "{\"Name\": \"P.Ratio\", \"Value\": \"2.5\", \"Type\": \"xsd:string\"},"
          "{\"Name\": \"P.Blob\", \"Value\": \"SGk=\", \"Type\": \"soap-enc:base64\"},"
          "{\"Name\": \"P.Bytes\", \"Value\": \"5000000000\", \"Type\": \"xsd:unsignedLong\"},"
          "{\"Name\": \"P.Debt\", \"Value\": \"-5000000000\", \"Type\": \"xsd:long\"},"
          "{\"Name\": \"P.Flag\", \"Value\": \"1\", \"Type\": \"xsd:boolean\"},"
          "{\"Name\": \"P.When\", \"Value\": \"2026-11-28T10:00:00Z\", \"Type\": "
          "\"xsd:dateTime\"},"
          "{\"Name\": \"P.Nothing\", \"Value\": \"\", \"Type\": \"xsd:string\"}"
          "], \"ParameterKey\": \"k1\"}",
          a, &b);
  {
    const acs_cwmp_param_values *p = &b.u.set_parameter_values.params;
    static const struct {
      const char *name, *value;
      acs_cwmp_type type;
    } want[] = {
        {"Device.WiFi.SSID.1.SSID", "home & <away>", ACS_XSD_STRING},
        {"P.Interval", "300", ACS_XSD_UNSIGNEDINT},
        {"P.Offset", "-5", ACS_XSD_INT},
        {"P.Enable", "false", ACS_XSD_BOOLEAN},
        {"P.Count", "42", ACS_XSD_UNSIGNEDINT},
        {"P.Ratio", "2.5", ACS_XSD_STRING},
        {"P.Blob", "SGk=", ACS_XSD_BASE64},
        {"P.Bytes", "5000000000", ACS_XSD_UNSIGNEDLONG},
        {"P.Debt", "-5000000000", ACS_XSD_LONG},
        {"P.Flag", "1", ACS_XSD_BOOLEAN},
        {"P.When", "2026-11-28T10:00:00Z", ACS_XSD_DATETIME},
        {"P.Nothing", "", ACS_XSD_STRING},
    };
    size_t n = sizeof want / sizeof want[0];
    CHECK_INT(p->n, n);
    for (size_t i = 0; i < n && i < p->n; i++) {
      CHECK_STR(p->v[i].name, want[i].name);
      CHECK_STR(p->v[i].value, want[i].value);
      CHECK_INT(p->v[i].type, want[i].type);
    }
    CHECK_STR(b.u.set_parameter_values.parameter_key, "k1");
  }

  request(ACS_CWMP_GET_PARAMETER_ATTRIBUTES, "{\"ParameterNames\": [\"Device.Hosts.\"]}", NULL, a,
          &b);
  CHECK_INT(b.u.get_parameter_attributes.names.n, 1);
  if (b.u.get_parameter_attributes.names.n == 1)
    CHECK_STR(b.u.get_parameter_attributes.names.v[0], "Device.Hosts.");

  request(ACS_CWMP_SET_PARAMETER_ATTRIBUTES,
          "{\"ParameterList\": [{\"Name\": \"Device.WiFi.SSID.1.SSID\", \"NotificationChange\": "
          "true, \"Notification\": 2, \"AccessListChange\": true, \"AccessList\": "
          "[\"Subscriber\"]}, {\"Name\": \"Device.Hosts.\", \"NotificationChange\": false, "
          "\"Notification\": 6, \"AccessListChange\": false, \"AccessList\": []}]}",
          NULL, a, &b);
  {
    const acs_cwmp_spa *s = &b.u.set_parameter_attributes;
    CHECK_INT(s->params.n, 2);
    if (s->params.n == 2) {
      CHECK_STR(s->params.v[0].name, "Device.WiFi.SSID.1.SSID");
      CHECK(s->params.v[0].notification_change && s->params.v[0].access_list_change);
      CHECK_INT(s->params.v[0].notification, 2);
      CHECK_INT(s->params.v[0].access_list.n, 1);
      if (s->params.v[0].access_list.n == 1)
        CHECK_STR(s->params.v[0].access_list.v[0], "Subscriber");
      CHECK_STR(s->params.v[1].name, "Device.Hosts.");
      CHECK(!s->params.v[1].notification_change && !s->params.v[1].access_list_change);
      CHECK_INT(s->params.v[1].notification, 6);
      CHECK_INT(s->params.v[1].access_list.n, 0);
    }
  }

  request(ACS_CWMP_ADD_OBJECT,
          "{\"ObjectName\": \"Device.IP.Interface.\", \"ParameterKey\": \"pk-add\"}", NULL, a, &b);
  CHECK_STR(b.u.add_object.object_name, "Device.IP.Interface.");
  CHECK_STR(b.u.add_object.parameter_key, "pk-add");

  request(ACS_CWMP_DELETE_OBJECT,
          "{\"ObjectName\": \"Device.IP.Interface.3.\", \"ParameterKey\": \"\"}", NULL, a, &b);
  CHECK_STR(b.u.delete_object.object_name, "Device.IP.Interface.3.");
  CHECK_STR(b.u.delete_object.parameter_key, "");

  request(ACS_CWMP_REBOOT, "{\"CommandKey\": \"reboot-1\"}", NULL, a, &b);
  CHECK_STR(b.u.command_key_req.command_key, "reboot-1");

  request(ACS_CWMP_FACTORY_RESET, "{}", NULL, a, &b);
  request(ACS_CWMP_FACTORY_RESET, NULL, NULL, a, &b);
  request(ACS_CWMP_FACTORY_RESET, "null", "{}", a, &b);

  request(ACS_CWMP_DOWNLOAD,
          "{\"CommandKey\": \"fw-4.2.1\", \"FileType\": \"1 Firmware Upgrade Image\", \"URL\": "
          "\"https://files.example.com/fw.bin?a=1&b=2\", \"Username\": \"cpe\", \"Password\": "
          "\"p&ss<w>\", \"FileSize\": 4294967295, \"TargetFileName\": \"fw.bin\", "
          "\"DelaySeconds\": 30, \"SuccessURL\": \"\", \"FailureURL\": "
          "\"http://portal.example.com/failed\"}",
          NULL, a, &b);
  {
    const acs_cwmp_download *d = &b.u.download;
    CHECK_STR(d->command_key, "fw-4.2.1");
    CHECK_STR(d->file_type, "1 Firmware Upgrade Image");
    CHECK_STR(d->url, "https://files.example.com/fw.bin?a=1&b=2");
    CHECK_STR(d->username, "cpe");
    CHECK_STR(d->password, "p&ss<w>");
    CHECK_INT(d->file_size, 4294967295u);
    CHECK_STR(d->target_file_name, "fw.bin");
    CHECK_INT(d->delay_seconds, 30);
    CHECK_STR(d->success_url, "");
    CHECK_STR(d->failure_url, "http://portal.example.com/failed");
  }

  request(ACS_CWMP_UPLOAD,
          "{\"CommandKey\": \"cfg\", \"FileType\": \"1 Vendor Configuration File\", \"URL\": "
          "\"ftp://files.example.com/up\", \"Username\": \"up\", \"Password\": \"pw\", "
          "\"DelaySeconds\": 5}",
          NULL, a, &b);
  CHECK_STR(b.u.upload.command_key, "cfg");
  CHECK_STR(b.u.upload.file_type, "1 Vendor Configuration File");
  CHECK_STR(b.u.upload.url, "ftp://files.example.com/up");
  CHECK_STR(b.u.upload.username, "up");
  CHECK_STR(b.u.upload.password, "pw");
  CHECK_INT(b.u.upload.delay_seconds, 5);

  request(ACS_CWMP_SCHEDULE_INFORM, "{\"DelaySeconds\": 3600, \"CommandKey\": \"si-1\"}", NULL, a,
          &b);
  CHECK_INT(b.u.schedule_inform.delay_seconds, 3600);
  CHECK_STR(b.u.schedule_inform.command_key, "si-1");

  request(ACS_CWMP_SCHEDULE_DOWNLOAD,
          "{\"CommandKey\": \"sd-1\", \"FileType\": \"1 Firmware Upgrade Image\", \"URL\": "
          "\"https://files.example.com/fw.bin\", \"Username\": \"\", \"Password\": \"\", "
          "\"FileSize\": 16777216, \"TargetFileName\": \"\", \"TimeWindowList\": ["
          "{\"WindowStart\": 0, \"WindowEnd\": 3600, \"WindowMode\": \"1 At Any Time\", "
          "\"UserMessage\": \"\", \"MaxRetries\": -1},"
          "{\"WindowStart\": 7200, \"WindowEnd\": 10800, \"WindowMode\": \"2 Immediately\", "
          "\"UserMessage\": \"tonight\", \"MaxRetries\": 2147483647}]}",
          NULL, a, &b);
  {
    const acs_cwmp_schedule_download *s = &b.u.schedule_download;
    CHECK_STR(s->command_key, "sd-1");
    CHECK_STR(s->url, "https://files.example.com/fw.bin");
    CHECK_INT(s->file_size, 16777216);
    CHECK_INT(s->time_windows.n, 2);
    if (s->time_windows.n == 2) {
      CHECK_INT(s->time_windows.v[0].window_end, 3600);
      CHECK_STR(s->time_windows.v[0].window_mode, "1 At Any Time");
      CHECK_INT(s->time_windows.v[0].max_retries, -1);
      CHECK_INT(s->time_windows.v[1].window_start, 7200);
      CHECK_STR(s->time_windows.v[1].user_message, "tonight");
      CHECK_INT(s->time_windows.v[1].max_retries, 2147483647);
    }
  }

  request(ACS_CWMP_CANCEL_TRANSFER, "{\"CommandKey\": \"fw-4.2.1\"}", NULL, a, &b);
  CHECK_STR(b.u.command_key_req.command_key, "fw-4.2.1");

  request(ACS_CWMP_GET_QUEUED_TRANSFERS, "{}", NULL, a, &b);
  request(ACS_CWMP_GET_ALL_QUEUED_TRANSFERS, "{}", NULL, a, &b);
  request(ACS_CWMP_GET_RPC_METHODS, "{}", NULL, a, &b);

  request(ACS_CWMP_CHANGE_DU_STATE,
          "{\"Operations\": ["
          "{\"Op\": \"Install\", \"URL\": \"https://files.example.com/app.ipk\", \"UUID\": "
          "\"" SAMPLE_UUID1
          "\", \"Username\": \"du\", \"Password\": \"s3cr<e>t\", "
          "\"ExecutionEnvRef\": \"Device.SoftwareModules.ExecEnv.1\"},"
          "{\"Op\": \"Update\", \"UUID\": \"" SAMPLE_UUID2
          "\", \"Version\": \"2.0\"},"
          "{\"Op\": \"Uninstall\", \"UUID\": \"" SAMPLE_UUID3
          "\"},"
          "{\"Op\": \"Install\", \"URL\": \"http://files.example.com/min.ipk\"}"
          "], \"CommandKey\": \"du-1\"}",
          NULL, a, &b);
  {
    const acs_cwmp_change_du_state *c = &b.u.change_du_state;
    CHECK_INT(c->operations.n, 4);
    if (c->operations.n == 4) {
      const acs_cwmp_du_op *o = c->operations.v;
      CHECK_INT(o[0].kind, ACS_CWMP_DU_INSTALL);
      CHECK_STR(o[0].url, "https://files.example.com/app.ipk");
      CHECK_STR(o[0].uuid, SAMPLE_UUID1);
      CHECK_STR(o[0].username, "du");
      CHECK_STR(o[0].password, "s3cr<e>t");
      CHECK_STR(o[0].execution_env_ref, "Device.SoftwareModules.ExecEnv.1");
      CHECK_INT(o[1].kind, ACS_CWMP_DU_UPDATE);
      CHECK_STR(o[1].uuid, SAMPLE_UUID2);
      CHECK_STR(o[1].version, "2.0");
      CHECK(o[1].url == NULL && o[1].username == NULL); /* optional: not sent */
      CHECK_INT(o[2].kind, ACS_CWMP_DU_UNINSTALL);
      CHECK_STR(o[2].uuid, SAMPLE_UUID3);
      CHECK(o[2].version == NULL && o[2].execution_env_ref == NULL);
      CHECK_INT(o[3].kind, ACS_CWMP_DU_INSTALL);
      CHECK_STR(o[3].url, "http://files.example.com/min.ipk");
      CHECK(o[3].uuid == NULL);
    }
    CHECK_STR(c->command_key, "du-1");
  }
}

/* ---- responses and faults: hand-written envelopes */

#define ENV(body)                                                                             \
  "<soap:Envelope xmlns:soap=\"http://schemas.xmlsoap.org/soap/envelope/\" "                  \
  "xmlns:soapenc=\"http://schemas.xmlsoap.org/soap/encoding/\" "                              \
  "xmlns:xsd=\"http://www.w3.org/2001/XMLSchema\" "                                           \
  "xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" "                                  \
  "xmlns:cwmp=\"urn:dslforum-org:cwmp-1-2\"><soap:Header><cwmp:ID soap:mustUnderstand=\"1\">" \
  "r-1</cwmp:ID></soap:Header><soap:Body>" body "</soap:Body></soap:Envelope>"

static const struct {
  acs_cwmp_kind kind;
  const char *xml;
  const char *json;
  const char *back; /* after JSON -> message -> wire -> message -> JSON; NULL: json */
} responses[] = {
    {ACS_CWMP_GET_RPC_METHODS_RESPONSE,
     ENV("<cwmp:GetRPCMethodsResponse><MethodList soapenc:arrayType=\"xsd:string[3]\">"
         "<string>GetRPCMethods</string><string>Reboot</string><string>X_ACME_Diag</string>"
         "</MethodList></cwmp:GetRPCMethodsResponse>"),
     "{\"MethodList\": [\"GetRPCMethods\", \"Reboot\", \"X_ACME_Diag\"]}", NULL},
    {ACS_CWMP_GET_PARAMETER_VALUES_RESPONSE,
     ENV("<cwmp:GetParameterValuesResponse><ParameterList "
         "soapenc:arrayType=\"cwmp:ParameterValueStruct[5]\">"
         "<ParameterValueStruct><Name>Device.DeviceInfo.UpTime</Name>"
         "<Value xsi:type=\"xsd:unsignedInt\">86400</Value></ParameterValueStruct>"
         "<ParameterValueStruct><Name>Device.WiFi.SSID.1.SSID</Name>"
         "<Value xsi:type=\"xsd:string\">caf&#233; &amp; &lt;bar&gt;</Value>"
         "</ParameterValueStruct>"
         "<ParameterValueStruct><Name>Device.X.Blob</Name>"
         "<Value xsi:type=\"soapenc:base64\">SGk=</Value></ParameterValueStruct>"
         "<ParameterValueStruct><Name>Device.X.Untyped</Name><Value>v</Value>"
         "</ParameterValueStruct>"
         "<ParameterValueStruct><Name>Device.X.Empty</Name>"
         "<Value xsi:type=\"xsd:boolean\"/></ParameterValueStruct>"
         "</ParameterList></cwmp:GetParameterValuesResponse>"),
     "{\"ParameterList\": ["
     "{\"Name\": \"Device.DeviceInfo.UpTime\", \"Value\": \"86400\", \"Type\": "
     "\"xsd:unsignedInt\"},"
     "{\"Name\": \"Device.WiFi.SSID.1.SSID\", \"Value\": \"caf\xC3\xA9 & <bar>\", \"Type\": "
     "\"xsd:string\"},"
     "{\"Name\": \"Device.X.Blob\", \"Value\": \"SGk=\", \"Type\": \"soap-enc:base64\"},"
     "{\"Name\": \"Device.X.Untyped\", \"Value\": \"v\"},"
     "{\"Name\": \"Device.X.Empty\", \"Value\": \"\", \"Type\": \"xsd:boolean\"}]}",
     /* a Value without xsi:type comes back from JSON as a string */
     "{\"ParameterList\": ["
     "{\"Name\": \"Device.DeviceInfo.UpTime\", \"Value\": \"86400\", \"Type\": "
     "\"xsd:unsignedInt\"},"
     "{\"Name\": \"Device.WiFi.SSID.1.SSID\", \"Value\": \"caf\xC3\xA9 & <bar>\", \"Type\": "
     "\"xsd:string\"},"
     "{\"Name\": \"Device.X.Blob\", \"Value\": \"SGk=\", \"Type\": \"soap-enc:base64\"},"
     "{\"Name\": \"Device.X.Untyped\", \"Value\": \"v\", \"Type\": \"xsd:string\"},"
     "{\"Name\": \"Device.X.Empty\", \"Value\": \"\", \"Type\": \"xsd:boolean\"}]}"},
    {ACS_CWMP_GET_PARAMETER_NAMES_RESPONSE,
     ENV("<cwmp:GetParameterNamesResponse><ParameterList "
         "soapenc:arrayType=\"cwmp:ParameterInfoStruct[2]\"><ParameterInfoStruct>"
         "<Name>Device.WiFi.</Name><Writable>0</Writable></ParameterInfoStruct>"
         "<ParameterInfoStruct><Name>Device.WiFi.SSID.1.SSID</Name><Writable>true</Writable>"
         "</ParameterInfoStruct></ParameterList></cwmp:GetParameterNamesResponse>"),
     "{\"ParameterList\": [{\"Name\": \"Device.WiFi.\", \"Writable\": false}, "
     "{\"Name\": \"Device.WiFi.SSID.1.SSID\", \"Writable\": true}]}",
     NULL},
    {ACS_CWMP_SET_PARAMETER_VALUES_RESPONSE,
     ENV("<cwmp:SetParameterValuesResponse><Status>1</Status></cwmp:SetParameterValuesResponse>"),
     "{\"Status\": 1}", NULL},
    {ACS_CWMP_GET_PARAMETER_ATTRIBUTES_RESPONSE,
     ENV("<cwmp:GetParameterAttributesResponse><ParameterList "
         "soapenc:arrayType=\"cwmp:ParameterAttributeStruct[2]\"><ParameterAttributeStruct>"
         "<Name>Device.WiFi.SSID.1.SSID</Name><Notification>2</Notification>"
         "<AccessList soapenc:arrayType=\"xsd:string[1]\"><string>Subscriber</string>"
         "</AccessList></ParameterAttributeStruct><ParameterAttributeStruct>"
         "<Name>Device.Hosts.HostNumberOfEntries</Name><Notification>0</Notification>"
         "<AccessList soapenc:arrayType=\"xsd:string[0]\"/></ParameterAttributeStruct>"
         "</ParameterList></cwmp:GetParameterAttributesResponse>"),
     "{\"ParameterList\": [{\"Name\": \"Device.WiFi.SSID.1.SSID\", \"Notification\": 2, "
     "\"AccessList\": [\"Subscriber\"]}, {\"Name\": \"Device.Hosts.HostNumberOfEntries\", "
     "\"Notification\": 0, \"AccessList\": []}]}",
     NULL},
    {ACS_CWMP_SET_PARAMETER_ATTRIBUTES_RESPONSE, ENV("<cwmp:SetParameterAttributesResponse/>"),
     "{}", NULL},
    {ACS_CWMP_ADD_OBJECT_RESPONSE,
     ENV("<cwmp:AddObjectResponse><InstanceNumber>4294967295</InstanceNumber><Status>0</Status>"
         "</cwmp:AddObjectResponse>"),
     "{\"InstanceNumber\": 4294967295, \"Status\": 0}", NULL},
    {ACS_CWMP_DELETE_OBJECT_RESPONSE,
     ENV("<cwmp:DeleteObjectResponse><Status>1</Status></cwmp:DeleteObjectResponse>"),
     "{\"Status\": 1}", NULL},
    {ACS_CWMP_REBOOT_RESPONSE, ENV("<cwmp:RebootResponse/>"), "{}", NULL},
    {ACS_CWMP_FACTORY_RESET_RESPONSE,
     ENV("<cwmp:FactoryResetResponse></cwmp:FactoryResetResponse>"), "{}", NULL},
    {ACS_CWMP_DOWNLOAD_RESPONSE,
     ENV("<cwmp:DownloadResponse><Status>1</Status><StartTime>0001-01-01T00:00:00Z</StartTime>"
         "<CompleteTime>0001-01-01T00:00:00Z</CompleteTime></cwmp:DownloadResponse>"),
     "{\"Status\": 1, \"StartTime\": \"0001-01-01T00:00:00Z\", \"CompleteTime\": "
     "\"0001-01-01T00:00:00Z\"}",
     NULL},
    {ACS_CWMP_UPLOAD_RESPONSE,
     ENV("<cwmp:UploadResponse><Status>0</Status><StartTime>" SAMPLE_TIME "</StartTime>"
         "<CompleteTime>2026-11-28T10:05:30.25+01:00</CompleteTime></cwmp:UploadResponse>"),
     "{\"Status\": 0, \"StartTime\": \"" SAMPLE_TIME "\", \"CompleteTime\": "
     "\"2026-11-28T10:05:30.25+01:00\"}",
     NULL},
    {ACS_CWMP_SCHEDULE_INFORM_RESPONSE, ENV("<cwmp:ScheduleInformResponse/>"), "{}", NULL},
    {ACS_CWMP_SCHEDULE_DOWNLOAD_RESPONSE, ENV("<cwmp:ScheduleDownloadResponse/>"), "{}", NULL},
    {ACS_CWMP_CANCEL_TRANSFER_RESPONSE, ENV("<cwmp:CancelTransferResponse/>"), "{}", NULL},
    {ACS_CWMP_GET_QUEUED_TRANSFERS_RESPONSE,
     ENV("<cwmp:GetQueuedTransfersResponse><TransferList "
         "soapenc:arrayType=\"cwmp:QueuedTransferStruct[2]\"><QueuedTransferStruct>"
         "<CommandKey>fw-4.2.1</CommandKey><State>2</State></QueuedTransferStruct>"
         "<QueuedTransferStruct><CommandKey/><State>1</State></QueuedTransferStruct>"
         "</TransferList></cwmp:GetQueuedTransfersResponse>"),
     "{\"TransferList\": [{\"CommandKey\": \"fw-4.2.1\", \"State\": 2}, {\"CommandKey\": \"\", "
     "\"State\": 1}]}",
     NULL},
    {ACS_CWMP_GET_ALL_QUEUED_TRANSFERS_RESPONSE,
     ENV("<cwmp:GetAllQueuedTransfersResponse><TransferList "
         "soapenc:arrayType=\"cwmp:AllQueuedTransferStruct[1]\"><AllQueuedTransferStruct>"
         "<CommandKey>fw</CommandKey><State>3</State><IsDownload>1</IsDownload>"
         "<FileType>1 Firmware Upgrade Image</FileType><FileSize>16777216</FileSize>"
         "<TargetFileName>fw.bin</TargetFileName></AllQueuedTransferStruct></TransferList>"
         "</cwmp:GetAllQueuedTransfersResponse>"),
     "{\"TransferList\": [{\"CommandKey\": \"fw\", \"State\": 3, \"IsDownload\": true, "
     "\"FileType\": \"1 Firmware Upgrade Image\", \"FileSize\": 16777216, "
     "\"TargetFileName\": \"fw.bin\"}]}",
     NULL},
    {ACS_CWMP_CHANGE_DU_STATE_RESPONSE, ENV("<cwmp:ChangeDUStateResponse/>"), "{}", NULL},
    {ACS_CWMP_FAULT,
     ENV("<soap:Fault><faultcode>soap:Client</faultcode><faultstring>CWMP fault</faultstring>"
         "<detail><cwmp:Fault><FaultCode>9003</FaultCode><FaultString>Invalid arguments"
         "</FaultString><SetParameterValuesFault><ParameterName>Device.WiFi.SSID.1.SSID"
         "</ParameterName><FaultCode>9007</FaultCode><FaultString>too long</FaultString>"
         "</SetParameterValuesFault><SetParameterValuesFault><ParameterName>"
         "Device.DeviceInfo.SerialNumber</ParameterName><FaultCode>9008</FaultCode>"
         "<FaultString>Attempt to set a non-writable parameter</FaultString>"
         "</SetParameterValuesFault></cwmp:Fault></detail></soap:Fault>"),
     "{\"FaultCode\": 9003, \"FaultString\": \"Invalid arguments\", \"SetParameterValuesFault\": "
     "[{\"ParameterName\": \"Device.WiFi.SSID.1.SSID\", \"FaultCode\": 9007, \"FaultString\": "
     "\"too long\"}, {\"ParameterName\": \"Device.DeviceInfo.SerialNumber\", \"FaultCode\": "
     "9008, \"FaultString\": \"Attempt to set a non-writable parameter\"}]}",
     NULL},
    {ACS_CWMP_FAULT,
     ENV("<soap:Fault><faultcode>Server</faultcode><faultstring>CWMP fault</faultstring>"
         "<detail><cwmp:Fault><FaultCode>9002</FaultCode><FaultString>Internal error"
         "</FaultString></cwmp:Fault></detail></soap:Fault>"),
     "{\"FaultCode\": 9002, \"FaultString\": \"Internal error\"}", NULL},
};

static void test_responses(acs_arena *a) {
  bool seen[ACS_CWMP_KIND_COUNT] = {false};
  for (size_t i = 0; i < sizeof responses / sizeof responses[0]; i++) {
    acs_cwmp_kind k = responses[i].kind;
    char what[96];
    snprintf(what, sizeof what, "responses[%zu] %s", i, kname(k));
    seen[k] = true;
    acs_cwmp_msg m;
    acs_cwmp_error e;
    int rc = acs_cwmp_parse(responses[i].xml, strlen(responses[i].xml), a, NULL, &m, &e);
    CHECK_INT(rc, 0);
    CHECK_INT(m.kind, k);
    if (rc || m.kind != k) {
      fprintf(stderr, "%s: %s\n", what, rc ? e.msg : "wrong kind");
      continue;
    }
    check_json(what, &m, responses[i].json);
    /* and back: the JSON is a valid message of that kind */
    request(k, responses[i].json, responses[i].back, a, &m);
  }
  /* every response of an ACS->CPE RPC is in the table */
  for (int k = 0; k < ACS_CWMP_KIND_COUNT; k++) {
    if (!acs_rpc_is_task_kind((acs_cwmp_kind)k)) continue;
    acs_cwmp_kind r = acs_cwmp_response_kind((acs_cwmp_kind)k);
    CHECK(r != ACS_CWMP_UNKNOWN && seen[r]);
  }
  CHECK(seen[ACS_CWMP_FAULT]);
}

/* ---- every sample message: to_json -> from_json -> the same bytes */

static void untyped_to_string(acs_cwmp_param_values *p) {
  for (size_t i = 0; i < p->n; i++)
    if (p->v[i].type == ACS_XSD_ANY) p->v[i].type = ACS_XSD_STRING;
}

static void test_samples(acs_arena *a) {
  int kinds = 0;
  for (int ki = ACS_CWMP_NONE + 1; ki < ACS_CWMP_KIND_COUNT; ki++) {
    acs_cwmp_kind k = (acs_cwmp_kind)ki;
    acs_cwmp_msg m, m2;
    if (!sample_kind_ok(k)) continue;
    CHECK_INT(sample_msg(a, k, ACS_CWMP_NS_1_4, &m), 0);
    /* no xsi:type has no JSON spelling: it comes back as a string */
    if (k == ACS_CWMP_INFORM) untyped_to_string(&m.u.inform.params);
    if (k == ACS_CWMP_GET_PARAMETER_VALUES_RESPONSE)
      untyped_to_string(&m.u.get_parameter_values_response.params);
    json_t *j = acs_rpc_to_json(&m);
    CHECK(j != NULL && json_is_object(j));
    char err[256];
    int rc = acs_rpc_from_json(k, j, a, &m2, err, sizeof err);
    CHECK_INT(rc, 0);
    if (rc) fprintf(stderr, "%s: from_json(to_json(sample)): %s\n", kname(k), err);
    m2.ns = m.ns;
    m2.id = m.id;
    acs_buf b1 = ACS_BUF_INIT, b2 = ACS_BUF_INIT;
    CHECK_INT(acs_cwmp_encode(&m, &b1), 0);
    CHECK_INT(acs_cwmp_encode(&m2, &b2), 0);
    bool same = b1.len == b2.len && b1.len && memcmp(b1.data, b2.data, b1.len) == 0;
    CHECK(same);
    if (!same) {
      fprintf(stderr, "%s: the JSON round trip changed the envelope\n", kname(k));
      show("json", j);
      fprintf(stderr, "  %.*s\n  %.*s\n", (int)b1.len, b1.data ? b1.data : "", (int)b2.len,
              b2.data ? b2.data : "");
    }
    /* and the decoded message equals the sample, field for field */
    acs_cwmp_msg back;
    acs_cwmp_error e;
    CHECK_INT(acs_cwmp_parse(b2.data, b2.len, a, NULL, &back, &e), 0);
    bool eq = msg_equal_wire(&m, &back);
    CHECK(eq);
    if (!eq) fprintf(stderr, "%s: %s\n", kname(k), msg_equal_why);
    acs_buf_free(&b1);
    acs_buf_free(&b2);
    json_decref(j);
    kinds++;
  }
  CHECK_INT(kinds, ACS_CWMP_UNKNOWN - 1); /* every message kind and the Fault */
}

/* ---- lenient inputs */

static void test_lenient(acs_arena *a) {
  acs_cwmp_msg m;
  char err[256];
  static const struct {
    const char *json;
    bool want;
  } bools[] = {{"{\"NextLevel\": 1}", true},        {"{\"NextLevel\": 0}", false},
               {"{\"NextLevel\": \"true\"}", true}, {"{\"NextLevel\": \"false\"}", false},
               {"{\"NextLevel\": \"1\"}", true},    {"{\"NextLevel\": \"0\"}", false},
               {"{\"NextLevel\": false}", false},   {"{\"NextLevel\": null}", false}};
  for (size_t i = 0; i < sizeof bools / sizeof bools[0]; i++) {
    json_t *j = J(bools[i].json);
    m.u.get_parameter_names.next_level = !bools[i].want;
    CHECK_INT(acs_rpc_from_json(ACS_CWMP_GET_PARAMETER_NAMES, j, a, &m, err, sizeof err), 0);
    CHECK_INT(m.u.get_parameter_names.next_level, bools[i].want);
    CHECK(m.u.get_parameter_names.parameter_path == NULL);
    json_decref(j);
  }

  /* digit strings for numbers, at the edges of the ranges */
  json_t *j = J("{\"DelaySeconds\": \"4294967295\", \"CommandKey\": null}");
  CHECK_INT(acs_rpc_from_json(ACS_CWMP_SCHEDULE_INFORM, j, a, &m, err, sizeof err), 0);
  CHECK_INT(m.u.schedule_inform.delay_seconds, 4294967295u);
  CHECK(m.u.schedule_inform.command_key == NULL);
  json_decref(j);
  j =
      J("{\"TimeWindowList\": [{\"MaxRetries\": \"-2147483648\"}, {\"MaxRetries\": -2147483648},"
        " {\"WindowStart\": \"0\", \"MaxRetries\": \"2147483647\"}]}");
  CHECK_INT(acs_rpc_from_json(ACS_CWMP_SCHEDULE_DOWNLOAD, j, a, &m, err, sizeof err), 0);
  CHECK_INT(m.u.schedule_download.time_windows.n, 3);
  if (m.u.schedule_download.time_windows.n == 3) {
    CHECK_INT(m.u.schedule_download.time_windows.v[0].max_retries, INT32_MIN);
    CHECK_INT(m.u.schedule_download.time_windows.v[1].max_retries, INT32_MIN);
    CHECK_INT(m.u.schedule_download.time_windows.v[2].max_retries, INT32_MAX);
  }
  json_decref(j);

  /* Op in its schema spelling; Types the codec knows by other names */
  j = J("{\"Operations\": [{\"Op\": \"UninstallOpStruct\", \"UUID\": \"u\"}]}");
  CHECK_INT(acs_rpc_from_json(ACS_CWMP_CHANGE_DU_STATE, j, a, &m, err, sizeof err), 0);
  CHECK_INT(m.u.change_du_state.operations.n, 1);
  if (m.u.change_du_state.operations.n == 1)
    CHECK_INT(m.u.change_du_state.operations.v[0].kind, ACS_CWMP_DU_UNINSTALL);
  json_decref(j);
  j =
      J("{\"ParameterList\": [{\"Name\": \"a\", \"Value\": \"QQ==\", \"Type\": "
        "\"xsd:base64Binary\"}, {\"Name\": \"b\", \"Value\": 7, \"Type\": \"unsignedShort\"}, "
        "{\"Name\": \"c\", \"Value\": null, \"Type\": \"xsd:hexBinary\"}, {\"Name\": \"d\", "
        "\"Value\": 0.1}, {\"Name\": \"e\", \"Value\": 1e21, \"Type\": null}, "
        "{\"Value\": 0}]}");
  CHECK_INT(acs_rpc_from_json(ACS_CWMP_SET_PARAMETER_VALUES, j, a, &m, err, sizeof err), 0);
  {
    const acs_cwmp_param_values *p = &m.u.set_parameter_values.params;
    CHECK_INT(p->n, 6);
    if (p->n == 6) {
      CHECK_INT(p->v[0].type, ACS_XSD_BASE64);
      CHECK_INT(p->v[1].type, ACS_XSD_UNSIGNEDINT);
      CHECK_STR(p->v[1].value, "7");
      CHECK_INT(p->v[2].type, ACS_XSD_HEXBINARY);
      CHECK(p->v[2].value == NULL);
      CHECK_STR(p->v[3].value, "0.1");
      CHECK_INT(p->v[3].type, ACS_XSD_STRING);
      CHECK_STR(p->v[4].value, "1e+21");
      CHECK_STR(p->v[5].value, "0");
      CHECK_INT(p->v[5].type, ACS_XSD_UNSIGNEDINT);
      CHECK(p->v[5].name == NULL);
    }
    CHECK(m.u.set_parameter_values.parameter_key == NULL);
  }
  json_decref(j);

  /* any kind with a body: a CPE request, with its dateTime */
  j =
      J("{\"CommandKey\": \"k\", \"FaultStruct\": {\"FaultCode\": 9010, \"FaultString\": \"x\"},"
        " \"StartTime\": \"2026-11-28T10:00:00.5+01:00\", \"CompleteTime\": \"\"}");
  CHECK_INT(acs_rpc_from_json(ACS_CWMP_TRANSFER_COMPLETE, j, a, &m, err, sizeof err), 0);
  CHECK_INT(m.u.transfer_complete.fault.code, 9010);
  CHECK_STR(m.u.transfer_complete.fault.string, "x");
  CHECK_STR(m.u.transfer_complete.start_time, "2026-11-28T10:00:00.5+01:00");
  CHECK_STR(m.u.transfer_complete.complete_time, "");
  json_decref(j);

  /* err may be NULL */
  CHECK_INT(acs_rpc_from_json(ACS_CWMP_REBOOT, NULL, a, &m, NULL, 0), 0);
  CHECK(m.u.command_key_req.command_key == NULL);
}

/* ---- errors */

static const struct {
  acs_cwmp_kind kind;
  const char *json;
  const char *err; /* the start of the message */
} errors[] = {
    /* unknown keys */
    {ACS_CWMP_GET_PARAMETER_VALUES, "{\"ParameterNames\": [], \"Foo\": 1}",
     "Foo: unknown key (known: ParameterNames)"},
    {ACS_CWMP_SET_PARAMETER_VALUES,
     "{\"ParameterList\": [{\"Name\": \"a\", \"Value\": \"b\"}, {\"Name\": \"x\", \"Vaule\": "
     "\"y\"}]}",
     "ParameterList[1].Vaule: unknown key (known: Name, Value, Type)"},
    {ACS_CWMP_SET_PARAMETER_ATTRIBUTES, "{\"ParameterList\": [{\"Name\": \"a\", \"Type\": \"x\"}]}",
     "ParameterList[0].Type: unknown key"},
    {ACS_CWMP_FACTORY_RESET, "{\"CommandKey\": \"x\"}",
     "CommandKey: unknown key (no arguments are taken)"},
    {ACS_CWMP_CHANGE_DU_STATE,
     "{\"Operations\": [{\"Op\": \"Install\", \"URL\": \"u\", \"Version\": \"1\"}]}",
     "Operations[0].Version: unknown key (known: URL, UUID, Username, Password, "
     "ExecutionEnvRef, Op)"},
    {ACS_CWMP_TRANSFER_COMPLETE, "{\"FaultStruct\": {\"Code\": 1}}",
     "FaultStruct.Code: unknown key"},
    {ACS_CWMP_REBOOT, "{\"commandkey\": \"x\"}", "commandkey: unknown key"},
    /* wrong types */
    {ACS_CWMP_GET_PARAMETER_VALUES, "{\"ParameterNames\": \"Device.\"}",
     "ParameterNames: expected an array, got \"Device.\""},
    {ACS_CWMP_GET_PARAMETER_VALUES, "{\"ParameterNames\": [\"a\", 5]}",
     "ParameterNames[1]: expected a string, got 5"},
    {ACS_CWMP_GET_PARAMETER_VALUES, "{\"ParameterNames\": [null]}",
     "ParameterNames[0]: expected a string, got null"},
    {ACS_CWMP_SET_PARAMETER_VALUES, "{\"ParameterList\": [{\"Name\": \"a\"}, 3]}",
     "ParameterList[1]: expected an object, got 3"},
    {ACS_CWMP_SET_PARAMETER_VALUES, "{\"ParameterList\": [{\"Name\": \"a\", \"Value\": {}}]}",
     "ParameterList[0].Value: expected a string, number or boolean, got an object"},
    {ACS_CWMP_SET_PARAMETER_VALUES, "{\"ParameterList\": [{\"Name\": \"a\", \"Value\": [1]}]}",
     "ParameterList[0].Value: expected a string, number or boolean, got an array"},
    {ACS_CWMP_SET_PARAMETER_VALUES, "{\"ParameterList\": [{\"Name\": 7, \"Value\": \"v\"}]}",
     "ParameterList[0].Name: expected a string, got 7"},
    {ACS_CWMP_SET_PARAMETER_VALUES, "{\"ParameterKey\": true}",
     "ParameterKey: expected a string, got true"},
    {ACS_CWMP_GET_PARAMETER_NAMES, "{\"NextLevel\": \"yes\"}",
     "NextLevel: expected a boolean, got \"yes\""},
    {ACS_CWMP_GET_PARAMETER_NAMES, "{\"NextLevel\": 2}", "NextLevel: expected a boolean, got 2"},
    {ACS_CWMP_GET_PARAMETER_NAMES, "{\"NextLevel\": \"TRUE\"}", "NextLevel: expected a boolean"},
    {ACS_CWMP_SCHEDULE_INFORM, "{\"DelaySeconds\": \"12x\"}",
     "DelaySeconds: expected an integer, got \"12x\""},
    {ACS_CWMP_SCHEDULE_INFORM, "{\"DelaySeconds\": \"\"}", "DelaySeconds: expected an integer"},
    {ACS_CWMP_SCHEDULE_INFORM, "{\"DelaySeconds\": \" 1\"}", "DelaySeconds: expected an integer"},
    {ACS_CWMP_SCHEDULE_INFORM, "{\"DelaySeconds\": \"-\"}", "DelaySeconds: expected an integer"},
    {ACS_CWMP_SCHEDULE_INFORM, "{\"DelaySeconds\": 1.5}",
     "DelaySeconds: expected an integer, got 1.5"},
    {ACS_CWMP_SCHEDULE_INFORM, "{\"DelaySeconds\": true}",
     "DelaySeconds: expected an integer, got true"},
    {ACS_CWMP_DOWNLOAD, "{\"URL\": [\"http://x\"]}", "URL: expected a string, got an array"},
    {ACS_CWMP_TRANSFER_COMPLETE, "{\"StartTime\": \"yesterday\"}",
     "StartTime: \"yesterday\" is not an xsd:dateTime"},
    {ACS_CWMP_TRANSFER_COMPLETE, "{\"FaultStruct\": []}",
     "FaultStruct: expected an object, got an array"},
    {ACS_CWMP_SCHEDULE_DOWNLOAD, "{\"TimeWindowList\": {}}",
     "TimeWindowList: expected an array, got an object"},
    /* out of range */
    {ACS_CWMP_SCHEDULE_INFORM, "{\"DelaySeconds\": -1}",
     "DelaySeconds: -1 is out of range (0..4294967295)"},
    {ACS_CWMP_SCHEDULE_INFORM, "{\"DelaySeconds\": 4294967296}",
     "DelaySeconds: 4294967296 is out of range (0..4294967295)"},
    {ACS_CWMP_SCHEDULE_INFORM, "{\"DelaySeconds\": \"-1\"}",
     "DelaySeconds: -1 is out of range (0..4294967295)"},
    {ACS_CWMP_SCHEDULE_INFORM, "{\"DelaySeconds\": \"99999999999999999999\"}",
     "DelaySeconds: \"99999999999999999999\" is out of range (0..4294967295)"},
    {ACS_CWMP_DOWNLOAD, "{\"FileSize\": 9223372036854775807}", "FileSize: 9223372036854775807 is"},
    {ACS_CWMP_SCHEDULE_DOWNLOAD, "{\"TimeWindowList\": [{}, {\"MaxRetries\": 2147483648}]}",
     "TimeWindowList[1].MaxRetries: 2147483648 is out of range (-2147483648..2147483647)"},
    {ACS_CWMP_SCHEDULE_DOWNLOAD, "{\"TimeWindowList\": [{\"MaxRetries\": -2147483649}]}",
     "TimeWindowList[0].MaxRetries: -2147483649 is out of range"},
    {ACS_CWMP_SET_PARAMETER_VALUES_RESPONSE, "{\"Status\": \"-2147483649\"}",
     "Status: -2147483649 is out of range"},
    {ACS_CWMP_FAULT, "{\"FaultCode\": -9003}", "FaultCode: -9003 is out of range"},
    /* bad Type names */
    {ACS_CWMP_SET_PARAMETER_VALUES,
     "{\"ParameterList\": [{\"Name\": \"a\", \"Value\": \"1\", \"Type\": \"xsd:float\"}]}",
     "ParameterList[0].Type: unknown type \"xsd:float\""},
    {ACS_CWMP_SET_PARAMETER_VALUES,
     "{\"ParameterList\": [{\"Name\": \"a\", \"Value\": \"1\", \"Type\": \"\"}]}",
     "ParameterList[0].Type: unknown type \"\""},
    {ACS_CWMP_SET_PARAMETER_VALUES,
     "{\"ParameterList\": [{\"Name\": \"a\", \"Value\": \"1\", \"Type\": \"foo:int\"}]}",
     "ParameterList[0].Type: unknown type \"foo:int\""},
    {ACS_CWMP_SET_PARAMETER_VALUES,
     "{\"ParameterList\": [{\"Name\": \"a\", \"Value\": \"1\", \"Type\": \"xsd:\"}]}",
     "ParameterList[0].Type: unknown type"},
    {ACS_CWMP_SET_PARAMETER_VALUES,
     "{\"ParameterList\": [{\"Name\": \"a\", \"Value\": \"1\", \"Type\": \"String\"}]}",
     "ParameterList[0].Type: unknown type \"String\""},
    {ACS_CWMP_SET_PARAMETER_VALUES,
     "{\"ParameterList\": [{\"Name\": \"a\", \"Value\": \"1\", \"Type\": 3}]}",
     "ParameterList[0].Type: expected a string, got 3"},
    {ACS_CWMP_SET_PARAMETER_VALUES,
     "{\"ParameterList\": [{\"Name\": \"a\", \"Type\": \"int\"}, "
     "{\"Type\": \"xsd:integer\"}]}",
     "ParameterList[1].Type: unknown type \"xsd:integer\""},
    /* bad Op */
    {ACS_CWMP_CHANGE_DU_STATE, "{\"Operations\": [{\"Op\": \"Reinstall\", \"URL\": \"u\"}]}",
     "Operations[0].Op: expected \"Install\", \"Update\" or \"Uninstall\", got \"Reinstall\""},
    {ACS_CWMP_CHANGE_DU_STATE, "{\"Operations\": [{\"Op\": \"install\"}]}",
     "Operations[0].Op: expected \"Install\""},
    {ACS_CWMP_CHANGE_DU_STATE, "{\"Operations\": [{\"Op\": \"InstallOp\"}]}",
     "Operations[0].Op: expected \"Install\""},
    {ACS_CWMP_CHANGE_DU_STATE, "{\"Operations\": [{\"Op\": \"Updatex\"}]}",
     "Operations[0].Op: expected \"Install\""},
    {ACS_CWMP_CHANGE_DU_STATE, "{\"Operations\": [{\"Op\": \"Instal\"}]}",
     "Operations[0].Op: expected \"Install\""},
    {ACS_CWMP_CHANGE_DU_STATE, "{\"Operations\": [{\"Op\": \"Ixxxxxx\"}]}",
     "Operations[0].Op: expected \"Install\""},
    {ACS_CWMP_CHANGE_DU_STATE, "{\"Operations\": [{\"Op\": \"\"}]}",
     "Operations[0].Op: expected \"Install\""},
    {ACS_CWMP_CHANGE_DU_STATE,
     "{\"Operations\": [{\"Op\": \"Update\"}, {\"URL\": \"u\"}], \"CommandKey\": \"k\"}",
     "Operations[1].Op: missing"},
    {ACS_CWMP_CHANGE_DU_STATE, "{\"Operations\": [{\"Op\": 0}]}",
     "Operations[0].Op: expected \"Install\", \"Update\" or \"Uninstall\", got 0"},
    {ACS_CWMP_CHANGE_DU_STATE, "{\"Operations\": [\"Install\"]}",
     "Operations[0]: expected an object, got \"Install\""},
    {ACS_CWMP_CHANGE_DU_STATE, "{\"Operations\": [{\"Op\": \"Uninstall\", \"URL\": \"u\"}]}",
     "Operations[0].URL: unknown key"},
    /* arguments that are not an object */
    {ACS_CWMP_GET_PARAMETER_VALUES, "[\"Device.\"]", "arguments: expected an object, got an array"},
    {ACS_CWMP_REBOOT, "\"reboot\"", "arguments: expected an object, got \"reboot\""},
    {ACS_CWMP_GET_RPC_METHODS, "1", "arguments: expected an object, got 1"},
    {ACS_CWMP_FACTORY_RESET, "false", "arguments: expected an object, got false"},
    /* kinds without a body */
    {ACS_CWMP_NONE, "{}", "message kind 0 has no body"},
    {ACS_CWMP_UNKNOWN, "{}", "message kind"},
    {(acs_cwmp_kind)(ACS_CWMP_KIND_COUNT + 3), "{}", "message kind"},
    {(acs_cwmp_kind)-1, "{}", "message kind -1"},
};

static void test_errors(acs_arena *a) {
  for (size_t i = 0; i < sizeof errors / sizeof errors[0]; i++) {
    json_t *j = J(errors[i].json);
    acs_cwmp_msg m;
    char err[256] = "";
    memset(&m, 0x5A, sizeof m);
    int rc = acs_rpc_from_json(errors[i].kind, j, a, &m, err, sizeof err);
    CHECK_INT(rc, ACS_EINVAL);
    bool ok = strncmp(err, errors[i].err, strlen(errors[i].err)) == 0;
    CHECK(ok);
    if (!ok || rc != ACS_EINVAL)
      fprintf(stderr, "errors[%zu] (%s %s): rc %d, \"%s\"; expected \"%s...\"\n", i,
              kname(errors[i].kind), errors[i].json, rc, err, errors[i].err);
    /* the body is zeroed again */
    CHECK(m.u.set_parameter_values.params.n == 0 && m.u.set_parameter_values.params.v == NULL);
    /* no err buffer: the same code, no crash */
    CHECK_INT(acs_rpc_from_json(errors[i].kind, j, a, &m, NULL, 0), ACS_EINVAL);
    json_decref(j);
  }

  /* a short buffer truncates and terminates */
  json_t *j = J("{\"ParameterNames\": [\"a\", 5]}");
  char small[8];
  memset(small, 'x', sizeof small);
  acs_cwmp_msg m;
  CHECK_INT(acs_rpc_from_json(ACS_CWMP_GET_PARAMETER_VALUES, j, a, &m, small, sizeof small),
            ACS_EINVAL);
  CHECK_STR(small, "Paramet");
  json_decref(j);

  /* a NUL inside a string is refused (jansson can hold one) */
  j = json_pack("{s:s%}", "CommandKey", "a\0b", (size_t)3);
  CHECK(j != NULL);
  char err[256] = "";
  CHECK_INT(acs_rpc_from_json(ACS_CWMP_REBOOT, j, a, &m, err, sizeof err), ACS_EINVAL);
  CHECK_STR(err, "CommandKey: a string with a NUL character");
  json_decref(j);
  j = json_pack("{s:s%}", "DelaySeconds", "1\0002", (size_t)3);
  CHECK_INT(acs_rpc_from_json(ACS_CWMP_SCHEDULE_INFORM, j, a, &m, err, sizeof err), ACS_EINVAL);
  CHECK(strncmp(err, "DelaySeconds: expected an integer", 33) == 0);
  json_decref(j);

  /* a long path is cut, never overrun */
  char key[400];
  memset(key, 'k', sizeof key - 1);
  key[sizeof key - 1] = '\0';
  j = json_pack("{s:i}", key, 1);
  CHECK_INT(acs_rpc_from_json(ACS_CWMP_REBOOT, j, a, &m, err, sizeof err), ACS_EINVAL);
  CHECK(strlen(err) < sizeof err && strncmp(err, "kkkkkkkk", 8) == 0);
  json_decref(j);

  /* out of memory */
  acs_arena tiny;
  acs_arena_init(&tiny, 0);
  tiny.limit = 1;
  j = J("{\"ParameterNames\": [\"Device.\"]}");
  CHECK_INT(acs_rpc_from_json(ACS_CWMP_GET_PARAMETER_VALUES, j, &tiny, &m, err, sizeof err),
            ACS_ENOMEM);
  CHECK_STR(err, "out of memory");
  json_decref(j);
  j = J("{\"CommandKey\": \"k\"}");
  CHECK_INT(acs_rpc_from_json(ACS_CWMP_REBOOT, j, &tiny, &m, err, sizeof err), ACS_ENOMEM);
  json_decref(j);
  acs_arena_reset(&tiny);
}

/* ---- to_json of messages built in C */

static void test_to_json(acs_arena *a) {
  acs_cwmp_msg m;
  /* NULL strings are left out; numbers always there */
  memset(&m, 0, sizeof m);
  m.kind = ACS_CWMP_DOWNLOAD;
  m.u.download.url = "http://x/fw.bin";
  check_json("sparse Download", &m,
             "{\"URL\": \"http://x/fw.bin\", \"FileSize\": 0, "
             "\"DelaySeconds\": 0}");

  memset(&m, 0, sizeof m);
  m.kind = ACS_CWMP_SET_PARAMETER_VALUES;
  acs_cwmp_param_value pv[3] = {
      {"a", NULL, ACS_XSD_INT},
      {NULL, "v", ACS_XSD_ANY},
      {"bad\xFF utf8 \xC0\xAF \xED\xA0\x80 \xF4\x90\x80\x80 ok \xC3", "\xE2\x82", ACS_XSD_DECIMAL}};
  m.u.set_parameter_values.params.v = pv;
  m.u.set_parameter_values.params.n = 3;
  check_json("SPV", &m,
             "{\"ParameterList\": [{\"Name\": \"a\", \"Type\": \"xsd:int\"}, {\"Value\": \"v\"}, "
             "{\"Name\": \"bad\xEF\xBF\xBD utf8 \xEF\xBF\xBD\xEF\xBF\xBD "
             "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD "
             "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD ok \xEF\xBF\xBD\", "
             "\"Value\": \"\xEF\xBF\xBD\xEF\xBF\xBD\", \"Type\": \"xsd:decimal\"}]}");

  /* a NULL item of a string array is "" (no holes in arrays) */
  memset(&m, 0, sizeof m);
  m.kind = ACS_CWMP_GET_PARAMETER_VALUES;
  char *names[2] = {NULL, "Device."};
  m.u.get_parameter_values.names.v = names;
  m.u.get_parameter_values.names.n = 2;
  check_json("GPV with NULL", &m, "{\"ParameterNames\": [\"\", \"Device.\"]}");
  m.u.get_parameter_values.names.n = 0;
  check_json("GPV empty", &m, "{\"ParameterNames\": []}");

  /* Fault: the standard text for a NULL FaultString, no empty list */
  memset(&m, 0, sizeof m);
  m.kind = ACS_CWMP_FAULT;
  m.u.fault.code = 9005;
  check_json("Fault 9005", &m,
             "{\"FaultCode\": 9005, \"FaultString\": \"Invalid parameter name\"}");
  m.u.fault.code = 1234;
  check_json("Fault 1234", &m, "{\"FaultCode\": 1234}");
  acs_cwmp_spv_fault sf = {"Device.X", 9007, NULL};
  m.u.fault.spv_faults.v = &sf;
  m.u.fault.spv_faults.n = 1;
  m.u.fault.string = "";
  check_json("Fault with a list", &m,
             "{\"FaultCode\": 1234, \"FaultString\": \"\", \"SetParameterValuesFault\": "
             "[{\"ParameterName\": \"Device.X\", \"FaultCode\": 9007}]}");

  /* DU operations: Op first, unknown kinds as the encoder takes them */
  memset(&m, 0, sizeof m);
  m.kind = ACS_CWMP_CHANGE_DU_STATE;
  acs_cwmp_du_op ops[2];
  memset(ops, 0, sizeof ops);
  ops[0].kind = ACS_CWMP_DU_UPDATE;
  ops[0].uuid = "u";
  ops[0].execution_env_ref = "not in UpdateOpStruct";
  ops[1].kind = (acs_cwmp_du_op_kind)7;
  ops[1].url = "x";
  m.u.change_du_state.operations.v = ops;
  m.u.change_du_state.operations.n = 2;
  json_t *j = acs_rpc_to_json(&m);
  CHECK(j != NULL);
  const char *first = j ? json_object_iter_key(
                              json_object_iter(json_array_get(json_object_get(j, "Operations"), 0)))
                        : NULL;
  CHECK_STR(first, "Op");
  json_decref(j);
  check_json("ChangeDUState", &m,
             "{\"Operations\": [{\"Op\": \"Update\", \"UUID\": \"u\"}, {\"Op\": \"Install\", "
             "\"URL\": \"x\"}]}");

  /* kinds without a body */
  memset(&m, 0, sizeof m);
  check_json("NONE", &m, "{}");
  m.kind = ACS_CWMP_UNKNOWN;
  m.unknown_method = "X_Foo";
  check_json("UNKNOWN", &m, "{}");
  m.kind = (acs_cwmp_kind)(ACS_CWMP_KIND_COUNT + 1);
  check_json("out of range", &m, "{}");

  /* the header is not part of the body */
  CHECK_INT(sample_msg(a, ACS_CWMP_INFORM_RESPONSE, ACS_CWMP_NS_1_0, &m), 0);
  m.has_hold_requests = true;
  m.session_timeout = 30;
  check_json("InformResponse", &m, "{\"MaxEnvelopes\": 1}");
}

static void test_kind_sets(void) {
  static const acs_cwmp_kind task[] = {
      ACS_CWMP_GET_PARAMETER_VALUES,
      ACS_CWMP_GET_PARAMETER_NAMES,
      ACS_CWMP_SET_PARAMETER_VALUES,
      ACS_CWMP_GET_PARAMETER_ATTRIBUTES,
      ACS_CWMP_SET_PARAMETER_ATTRIBUTES,
      ACS_CWMP_ADD_OBJECT,
      ACS_CWMP_DELETE_OBJECT,
      ACS_CWMP_REBOOT,
      ACS_CWMP_FACTORY_RESET,
      ACS_CWMP_DOWNLOAD,
      ACS_CWMP_UPLOAD,
      ACS_CWMP_SCHEDULE_INFORM,
      ACS_CWMP_SCHEDULE_DOWNLOAD,
      ACS_CWMP_CANCEL_TRANSFER,
      ACS_CWMP_GET_ALL_QUEUED_TRANSFERS,
      ACS_CWMP_GET_QUEUED_TRANSFERS,
      ACS_CWMP_CHANGE_DU_STATE,
      ACS_CWMP_GET_RPC_METHODS,
  };
  static const acs_cwmp_kind one_shot[] = {
      ACS_CWMP_REBOOT,          ACS_CWMP_FACTORY_RESET,   ACS_CWMP_DOWNLOAD,
      ACS_CWMP_UPLOAD,          ACS_CWMP_SCHEDULE_INFORM, ACS_CWMP_SCHEDULE_DOWNLOAD,
      ACS_CWMP_CHANGE_DU_STATE,
  };
  int ntask = 0, nshot = 0;
  for (int ki = -2; ki < ACS_CWMP_KIND_COUNT + 2; ki++) {
    acs_cwmp_kind k = (acs_cwmp_kind)ki;
    bool t = false, o = false;
    for (size_t i = 0; i < sizeof task / sizeof task[0]; i++) t = t || task[i] == k;
    for (size_t i = 0; i < sizeof one_shot / sizeof one_shot[0]; i++) o = o || one_shot[i] == k;
    CHECK_INT(acs_rpc_is_task_kind(k), t);
    CHECK_INT(acs_rpc_is_one_shot(k), o);
    if (acs_rpc_is_task_kind(k) != t || acs_rpc_is_one_shot(k) != o)
      fprintf(stderr, "kind %d (%s)\n", ki, kname(k));
    ntask += acs_rpc_is_task_kind(k);
    nshot += acs_rpc_is_one_shot(k);
    /* a task kind is an RPC the ACS sends, and has a response */
    if (t) CHECK(acs_cwmp_response_kind(k) != ACS_CWMP_UNKNOWN);
    if (t && k != ACS_CWMP_GET_RPC_METHODS) CHECK(!acs_cwmp_is_cpe_request(k));
  }
  CHECK_INT(ntask, 18);
  CHECK_INT(nshot, 7);
}

int main(void) {
  acs_arena a;
  acs_arena_init(&a, 0);
  test_kind_sets();
  test_requests(&a);
  acs_arena_reset(&a);
  test_responses(&a);
  acs_arena_reset(&a);
  test_samples(&a);
  acs_arena_reset(&a);
  test_lenient(&a);
  test_errors(&a);
  test_to_json(&a);
  acs_arena_reset(&a);
  return acs_test_result("test_rpc_json");
}
