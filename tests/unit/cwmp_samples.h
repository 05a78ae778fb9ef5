/* cwmp_samples.h: sample CWMP messages for the codec tests and the fuzzer.
 *
 * Each test is its own executable, so everything here is static (a header
 * only). It offers:
 *  - sample_msg(): fills an acs_cwmp_msg (all memory from an arena) for every
 *    kind of ACS_CWMP_MESSAGES plus ACS_CWMP_FAULT, with realistic values that
 *    validate against every CWMP schema that declares the kind (cwmp-1-0 ..
 *    cwmp-1-4): event codes, file types, UUIDs, dateTimes, CommandKeys of at
 *    most 32 characters, object names ending in '.', names of at most 64
 *    characters where cwmp-1-0 demands it, and values that need XML escaping
 *    (&, <, >, quotes, CR, non-ASCII UTF-8) and whitespace that must survive.
 *  - msg_equal(): deep equality of two messages: the header fields and every
 *    field of the body of every kind (strings, numbers, bools, arrays). A
 *    string that is NULL equals "" (a parsed empty element and an absent
 *    optional one are the same value to the codec). On a difference it
 *    returns false and leaves the path of the first differing field in
 *    msg_equal_why.
 *  - msg_equal_wire(a, b): what an encode -> parse round trip must preserve
 *    when a is the original and b the message parsed back: the same, minus
 *    what the encoder normalises as documented in acs_cwmp.h and
 *    cwmp_internal.h: ID's mustUnderstand is always emitted as "1";
 *    NoMoreRequests is never emitted; a NULL or empty dateTime goes out as
 *    the unknown time 0001-01-01T00:00:00Z; a Fault without faultcode gets
 *    "Client" or "Server", without faultstring "CWMP fault", and without a
 *    cwmp FaultString (NULL) the standard text of its code. */
#ifndef CWMP_SAMPLES_H
#define CWMP_SAMPLES_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "core/acs_arena.h"
#include "cwmp/acs_cwmp.h"

/* Not every test uses every helper. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"

/* ------------------------------------------------------------------------ */
/* Sample values shared by the builders and the tests. */

/* Needs escaping in XML text (&, <, >, both quotes), keeps inner and outer
 * whitespace, a tab, a newline, a CR, and non-ASCII UTF-8 of 2, 3 and 4 bytes. */
#define SAMPLE_NASTY_VALUE \
  "  Tom & Jerry's <\"router\"> caf\xC3\xA9 \xE2\x80\x93 Gr\xC3\xBC\xC3\x9F" "e\t\xE6\x97\xA5\xE6\x9C\xAC \xF0\x9F\x99\x82\nline2\r\nend  "
#define SAMPLE_TIME "2026-11-28T10:00:00Z"
#define SAMPLE_TIME2 "2026-11-28T10:05:30Z"
#define SAMPLE_UNKNOWN_TIME "0001-01-01T00:00:00Z"
#define SAMPLE_UUID1 "6ba7b810-9dad-11d1-80b4-00c04fd430c8"
#define SAMPLE_UUID2 "F81D4FAE-7DEC-11D0-A765-00A0C91E6BF6"
#define SAMPLE_UUID3 "3f2504e0-4f89-11d3-9a0c-0305e82c3301"

static char *smp_str(acs_arena *a, const char *s) { return s ? acs_arena_strdup(a, s) : NULL; }

static void *smp_arr(acs_arena *a, size_t n, size_t size) {
  return acs_arena_calloc(a, n ? n : 1, size);
}

static acs_cwmp_strings smp_strings(acs_arena *a, size_t n, const char *const *items) {
  acs_cwmp_strings s;
  s.v = smp_arr(a, n, sizeof *s.v);
  s.n = n;
  for (size_t i = 0; i < n; i++) s.v[i] = smp_str(a, items[i]);
  return s;
}

static void smp_pv(acs_arena *a, acs_cwmp_param_value *p, const char *name, const char *value,
                   acs_cwmp_type t) {
  p->name = smp_str(a, name);
  p->value = smp_str(a, value);
  p->type = t;
}

/* A parameter list showing every value type; Inform and GPV responses. */
static acs_cwmp_param_values smp_inform_params(acs_arena *a) {
  static const struct {
    const char *name, *value;
    acs_cwmp_type type;
  } p[] = {
      {"Device.RootDataModelVersion", "2.15", ACS_XSD_STRING},
      {"Device.DeviceInfo.HardwareVersion", "HW 1.0", ACS_XSD_STRING},
      {"Device.DeviceInfo.SoftwareVersion", "4.2.1-rc1", ACS_XSD_STRING},
      {"Device.DeviceInfo.ProvisioningCode", "", ACS_XSD_STRING},
      {"Device.DeviceInfo.UpTime", "86400", ACS_XSD_UNSIGNEDINT},
      {"Device.ManagementServer.ConnectionRequestURL", "http://192.0.2.10:7547/cr?a=1&b=<2>",
       ACS_XSD_STRING},
      {"Device.ManagementServer.ParameterKey", "", ACS_XSD_STRING},
      {"Device.ManagementServer.PeriodicInformInterval", "300", ACS_XSD_UNSIGNEDINT},
      {"Device.DeviceInfo.X_ACME_Note", SAMPLE_NASTY_VALUE, ACS_XSD_STRING},
      {"Device.DeviceInfo.TemperatureStatus.TemperatureSensor.1.Value", "-12", ACS_XSD_INT},
      {"Device.Time.Enable", "true", ACS_XSD_BOOLEAN},
      {"Device.Time.CurrentLocalTime", "2026-11-28T11:00:00+01:00", ACS_XSD_DATETIME},
      {"Device.X_ACME_Blob", "SGVsbG8sIFdvcmxkIQ==", ACS_XSD_BASE64},
      {"Device.X_ACME_Offset", "-9000000000", ACS_XSD_LONG},
      {"Device.Ethernet.Interface.1.Stats.BytesSent", "18446744073709551615",
       ACS_XSD_UNSIGNEDLONG},
      {"Device.X_ACME_MAC", "00D09E0A0B0C", ACS_XSD_HEXBINARY},
      {"Device.X_ACME_Ratio", "3.1415", ACS_XSD_DECIMAL},
      {"Device.X_ACME_Untyped", "no xsi:type", ACS_XSD_ANY},
  };
  acs_cwmp_param_values pv;
  pv.n = sizeof p / sizeof p[0];
  pv.v = smp_arr(a, pv.n, sizeof *pv.v);
  for (size_t i = 0; i < pv.n; i++) smp_pv(a, &pv.v[i], p[i].name, p[i].value, p[i].type);
  return pv;
}

static void smp_du_result(acs_arena *a, acs_cwmp_du_result *r, int which, bool autonomous) {
  if (which == 0) {
    r->uuid = smp_str(a, SAMPLE_UUID1);
    r->deployment_unit_ref = smp_str(a, "Device.SoftwareModules.DeploymentUnit.1");
    r->version = smp_str(a, "1.0.2");
    r->current_state = smp_str(a, "Installed");
    r->resolved = true;
    r->execution_unit_ref_list =
        smp_str(a, "Device.SoftwareModules.ExecutionUnit.1,Device.SoftwareModules.ExecutionUnit.2");
    r->start_time = smp_str(a, SAMPLE_TIME);
    r->complete_time = smp_str(a, SAMPLE_TIME2);
    r->fault.code = 0;
    r->fault.string = smp_str(a, "");
    if (autonomous) r->operation_performed = smp_str(a, "Install");
  } else {
    r->uuid = smp_str(a, SAMPLE_UUID2);
    r->deployment_unit_ref = smp_str(a, "");
    r->version = smp_str(a, "");
    r->current_state = smp_str(a, "Failed");
    r->resolved = false;
    r->execution_unit_ref_list = smp_str(a, "");
    r->start_time = smp_str(a, "2026-11-28T10:00:01.5Z");
    r->complete_time = smp_str(a, "2026-11-28T12:00:02+02:00");
    r->fault.code = 9023;
    r->fault.string = smp_str(a, "Unknown Execution Environment <EE \"docker\">");
    if (autonomous) r->operation_performed = smp_str(a, "Uninstall");
  }
}

/* ---- one filler per body type; `kind` tells apart the kinds that share one */

static void smp_fill_acs_cwmp_empty(acs_cwmp_kind k, acs_arena *a, acs_cwmp_empty *b) {
  (void)k, (void)a, (void)b;
}

static void smp_fill_acs_cwmp_inform(acs_cwmp_kind k, acs_arena *a, acs_cwmp_inform *b) {
  (void)k;
  b->device_id.manufacturer = smp_str(a, "Acme & S\xC3\xB6hne <Networks>");
  b->device_id.oui = smp_str(a, "00D09E");
  b->device_id.product_class = smp_str(a, "IGD-2000");
  b->device_id.serial_number = smp_str(a, "CP1234A5678");
  static const char *const codes[][2] = {
      {"0 BOOTSTRAP", ""}, {"1 BOOT", ""}, {"M Reboot", "reboot-2026-11-28"}, {"4 VALUE CHANGE", ""},
      {"M Download", "fw<&>\"1\""},
  };
  b->events.n = sizeof codes / sizeof codes[0];
  b->events.v = smp_arr(a, b->events.n, sizeof *b->events.v);
  for (size_t i = 0; i < b->events.n; i++) {
    b->events.v[i].code = smp_str(a, codes[i][0]);
    b->events.v[i].command_key = smp_str(a, codes[i][1]);
  }
  b->max_envelopes = 1;
  b->current_time = smp_str(a, SAMPLE_TIME);
  b->retry_count = 3;
  b->params = smp_inform_params(a);
}

static void smp_fill_acs_cwmp_inform_response(acs_cwmp_kind k, acs_arena *a,
                                              acs_cwmp_inform_response *b) {
  (void)k, (void)a;
  b->max_envelopes = 1;
}

static void smp_fill_acs_cwmp_transfer_complete(acs_cwmp_kind k, acs_arena *a,
                                                acs_cwmp_transfer_complete *b) {
  (void)k;
  b->command_key = smp_str(a, "fw-upgrade-2026-11");
  b->fault.code = 9010;
  b->fault.string = smp_str(a, "Download failure: HTTP 404 & <no retry>");
  b->start_time = smp_str(a, SAMPLE_TIME);
  b->complete_time = smp_str(a, SAMPLE_TIME2);
}

static void smp_fill_acs_cwmp_autonomous_transfer_complete(
    acs_cwmp_kind k, acs_arena *a, acs_cwmp_autonomous_transfer_complete *b) {
  (void)k;
  b->announce_url = smp_str(a, "http://acs.example.com/announce");
  b->transfer_url = smp_str(a, "https://files.example.com/fw/igd-2000-4.2.1.bin?sig=ab&exp=1");
  b->is_download = true;
  b->file_type = smp_str(a, "1 Firmware Upgrade Image");
  b->file_size = 16777216;
  b->target_file_name = smp_str(a, "igd-2000-4.2.1.bin");
  b->fault.code = 0;
  b->fault.string = smp_str(a, "");
  b->start_time = smp_str(a, SAMPLE_TIME);
  b->complete_time = smp_str(a, SAMPLE_TIME2);
}

static void smp_fill_acs_cwmp_request_download(acs_cwmp_kind k, acs_arena *a,
                                               acs_cwmp_request_download *b) {
  (void)k;
  b->file_type = smp_str(a, "1 Firmware Upgrade Image");
  b->args.n = 3;
  b->args.v = smp_arr(a, 3, sizeof *b->args.v);
  b->args.v[0].name = smp_str(a, "Version");
  b->args.v[0].value = smp_str(a, "4.2.1");
  b->args.v[1].name = smp_str(a, "Channel");
  b->args.v[1].value = smp_str(a, "beta & <stable>");
  b->args.v[2].name = smp_str(a, "Empty");
  b->args.v[2].value = smp_str(a, "");
}

static void smp_fill_acs_cwmp_du_state_change_complete(acs_cwmp_kind k, acs_arena *a,
                                                       acs_cwmp_du_state_change_complete *b) {
  (void)k;
  b->results.n = 2;
  b->results.v = smp_arr(a, 2, sizeof *b->results.v);
  smp_du_result(a, &b->results.v[0], 0, false);
  smp_du_result(a, &b->results.v[1], 1, false);
  b->command_key = smp_str(a, "du-op-1");
}

static void smp_fill_acs_cwmp_autonomous_du_state_change_complete(
    acs_cwmp_kind k, acs_arena *a, acs_cwmp_autonomous_du_state_change_complete *b) {
  (void)k;
  b->results.n = 2;
  b->results.v = smp_arr(a, 2, sizeof *b->results.v);
  smp_du_result(a, &b->results.v[0], 0, true);
  smp_du_result(a, &b->results.v[1], 1, true);
}

static void smp_fill_acs_cwmp_kicked(acs_cwmp_kind k, acs_arena *a, acs_cwmp_kicked *b) {
  (void)k;
  b->command = smp_str(a, "login");
  b->referer = smp_str(a, "http://portal.example.com/");
  b->arg = smp_str(a, "user=jdoe&plan=gold");
  b->next = smp_str(a, "http://portal.example.com/welcome?lang=de&x=<1>");
}

static void smp_fill_acs_cwmp_kicked_response(acs_cwmp_kind k, acs_arena *a,
                                              acs_cwmp_kicked_response *b) {
  (void)k;
  b->next_url = smp_str(a, "http://portal.example.com/done?x=1&y=2");
}

static void smp_fill_acs_cwmp_get_rpc_methods_response(acs_cwmp_kind k, acs_arena *a,
                                                       acs_cwmp_get_rpc_methods_response *b) {
  (void)k;
  static const char *const m[] = {
      "GetRPCMethods",     "SetParameterValues",     "GetParameterValues",
      "GetParameterNames", "SetParameterAttributes", "GetParameterAttributes",
      "AddObject",         "DeleteObject",           "Reboot",
      "Download",          "Upload",                 "FactoryReset",
      "ScheduleInform",    "X_ACME_Diagnose",
  };
  b->methods = smp_strings(a, sizeof m / sizeof m[0], m);
}

static void smp_fill_acs_cwmp_names_req(acs_cwmp_kind k, acs_arena *a, acs_cwmp_names_req *b) {
  static const char *const gpv[] = {
      "Device.DeviceInfo.",
      "Device.ManagementServer.PeriodicInformInterval",
      "Device.WiFi.SSID.1.SSID",
      "Device.WiFi.SSID.*.Status",
  };
  static const char *const gpa[] = {"Device.WiFi.SSID.1.SSID", "Device.Hosts."};
  if (k == ACS_CWMP_GET_PARAMETER_ATTRIBUTES)
    b->names = smp_strings(a, 2, gpa);
  else
    b->names = smp_strings(a, sizeof gpv / sizeof gpv[0], gpv);
}

static void smp_fill_acs_cwmp_gpv_response(acs_cwmp_kind k, acs_arena *a,
                                           acs_cwmp_gpv_response *b) {
  (void)k;
  b->params = smp_inform_params(a);
}

static void smp_fill_acs_cwmp_gpn(acs_cwmp_kind k, acs_arena *a, acs_cwmp_gpn *b) {
  (void)k;
  b->parameter_path = smp_str(a, "Device.WiFi.");
  b->next_level = true;
}

static void smp_fill_acs_cwmp_gpn_response(acs_cwmp_kind k, acs_arena *a,
                                           acs_cwmp_gpn_response *b) {
  (void)k;
  static const struct {
    const char *n;
    bool w;
  } p[] = {
      {"Device.WiFi.", false},
      {"Device.WiFi.SSID.1.SSID", true},
      {"Device.WiFi.RadioNumberOfEntries", false},
      {"Device.WiFi.SSID.", true},
  };
  b->params.n = 4;
  b->params.v = smp_arr(a, 4, sizeof *b->params.v);
  for (size_t i = 0; i < 4; i++) {
    b->params.v[i].name = smp_str(a, p[i].n);
    b->params.v[i].writable = p[i].w;
  }
}

static void smp_fill_acs_cwmp_spv(acs_cwmp_kind k, acs_arena *a, acs_cwmp_spv *b) {
  (void)k;
  b->params.n = 4;
  b->params.v = smp_arr(a, 4, sizeof *b->params.v);
  smp_pv(a, &b->params.v[0], "Device.WiFi.SSID.1.SSID", "Caf\xC3\xA9 & <Bar> \"5G\" 'x'",
         ACS_XSD_STRING);
  smp_pv(a, &b->params.v[1], "Device.ManagementServer.PeriodicInformInterval", "300",
         ACS_XSD_UNSIGNEDINT);
  smp_pv(a, &b->params.v[2], "Device.WiFi.Radio.1.Enable", "false", ACS_XSD_BOOLEAN);
  smp_pv(a, &b->params.v[3], "Device.X_ACME_Note", SAMPLE_NASTY_VALUE, ACS_XSD_STRING);
  b->parameter_key = smp_str(a, "pk-2026-11-28&1");
}

static void smp_fill_acs_cwmp_status_response(acs_cwmp_kind k, acs_arena *a,
                                              acs_cwmp_status_response *b) {
  (void)a;
  b->status = k == ACS_CWMP_SET_PARAMETER_VALUES_RESPONSE ? 1 : 0;
}

static void smp_fill_acs_cwmp_gpa_response(acs_cwmp_kind k, acs_arena *a,
                                           acs_cwmp_gpa_response *b) {
  (void)k;
  static const char *const sub[] = {"Subscriber"};
  b->params.n = 3;
  b->params.v = smp_arr(a, 3, sizeof *b->params.v);
  b->params.v[0].name = smp_str(a, "Device.WiFi.SSID.1.SSID");
  b->params.v[0].notification = 2;
  b->params.v[0].access_list = smp_strings(a, 1, sub);
  b->params.v[1].name = smp_str(a, "Device.Hosts.HostNumberOfEntries");
  b->params.v[1].notification = 0;
  b->params.v[1].access_list = smp_strings(a, 0, NULL);
  b->params.v[2].name = smp_str(a, "Device.Hosts.Host.1.Active");
  b->params.v[2].notification = 1;
  b->params.v[2].access_list = smp_strings(a, 0, NULL);
}

static void smp_fill_acs_cwmp_spa(acs_cwmp_kind k, acs_arena *a, acs_cwmp_spa *b) {
  (void)k;
  static const char *const sub[] = {"Subscriber"};
  b->params.n = 2;
  b->params.v = smp_arr(a, 2, sizeof *b->params.v);
  b->params.v[0].name = smp_str(a, "Device.WiFi.SSID.1.SSID");
  b->params.v[0].notification_change = true;
  b->params.v[0].notification = 2;
  b->params.v[0].access_list_change = true;
  b->params.v[0].access_list = smp_strings(a, 1, sub);
  b->params.v[1].name = smp_str(a, "Device.Hosts.");
  b->params.v[1].notification_change = false;
  b->params.v[1].notification = 1;
  b->params.v[1].access_list_change = false;
  b->params.v[1].access_list = smp_strings(a, 0, NULL);
}

static void smp_fill_acs_cwmp_object_req(acs_cwmp_kind k, acs_arena *a, acs_cwmp_object_req *b) {
  if (k == ACS_CWMP_ADD_OBJECT) {
    b->object_name = smp_str(a, "Device.IP.Interface.1.IPv4Address.");
    b->parameter_key = smp_str(a, "pk-add-1");
  } else {
    b->object_name = smp_str(a, "Device.IP.Interface.1.IPv4Address.3.");
    b->parameter_key = smp_str(a, "");
  }
}

static void smp_fill_acs_cwmp_add_object_response(acs_cwmp_kind k, acs_arena *a,
                                                  acs_cwmp_add_object_response *b) {
  (void)k, (void)a;
  b->instance_number = 4294967295u;
  b->status = 1;
}

static void smp_fill_acs_cwmp_command_key_req(acs_cwmp_kind k, acs_arena *a,
                                              acs_cwmp_command_key_req *b) {
  b->command_key = smp_str(a, k == ACS_CWMP_REBOOT ? "reboot-2026-11-28" : "fw-4.2.1");
}

static void smp_fill_acs_cwmp_download(acs_cwmp_kind k, acs_arena *a, acs_cwmp_download *b) {
  (void)k;
  b->command_key = smp_str(a, "fw-4.2.1");
  b->file_type = smp_str(a, "1 Firmware Upgrade Image");
  b->url = smp_str(a, "https://files.example.com/fw.bin?token=a1&user=<cpe>");
  b->username = smp_str(a, "cpe");
  b->password = smp_str(a, "p&ss<w\"o'rd>");
  b->file_size = 16777216;
  b->target_file_name = smp_str(a, "fw.bin");
  b->delay_seconds = 30;
  b->success_url = smp_str(a, "");
  b->failure_url = smp_str(a, "http://portal.example.com/failed");
}

static void smp_fill_acs_cwmp_transfer_response(acs_cwmp_kind k, acs_arena *a,
                                                acs_cwmp_transfer_response *b) {
  if (k == ACS_CWMP_DOWNLOAD_RESPONSE) { /* queued: times unknown */
    b->status = 1;
    b->start_time = smp_str(a, SAMPLE_UNKNOWN_TIME);
    b->complete_time = smp_str(a, SAMPLE_UNKNOWN_TIME);
  } else {
    b->status = 0;
    b->start_time = smp_str(a, SAMPLE_TIME);
    b->complete_time = smp_str(a, SAMPLE_TIME2);
  }
}

static void smp_fill_acs_cwmp_upload(acs_cwmp_kind k, acs_arena *a, acs_cwmp_upload *b) {
  (void)k;
  b->command_key = smp_str(a, "cfg-backup");
  b->file_type = smp_str(a, "1 Vendor Configuration File");
  b->url = smp_str(a, "ftp://files.example.com/upload/cfg?id=1&x=2");
  b->username = smp_str(a, "up");
  b->password = smp_str(a, "");
  b->delay_seconds = 0;
}

static void smp_fill_acs_cwmp_schedule_inform(acs_cwmp_kind k, acs_arena *a,
                                              acs_cwmp_schedule_inform *b) {
  (void)k;
  b->delay_seconds = 3600;
  b->command_key = smp_str(a, "si-1");
}

static void smp_fill_acs_cwmp_schedule_download(acs_cwmp_kind k, acs_arena *a,
                                                acs_cwmp_schedule_download *b) {
  (void)k;
  b->command_key = smp_str(a, "sd-fw-4.2.1");
  b->file_type = smp_str(a, "1 Firmware Upgrade Image");
  b->url = smp_str(a, "https://files.example.com/fw.bin");
  b->username = smp_str(a, "");
  b->password = smp_str(a, "");
  b->file_size = 16777216;
  b->target_file_name = smp_str(a, "");
  b->time_windows.n = 2;
  b->time_windows.v = smp_arr(a, 2, sizeof *b->time_windows.v);
  b->time_windows.v[0].window_start = 0;
  b->time_windows.v[0].window_end = 3600;
  b->time_windows.v[0].window_mode = smp_str(a, "1 At Any Time");
  b->time_windows.v[0].user_message = smp_str(a, "");
  b->time_windows.v[0].max_retries = -1;
  b->time_windows.v[1].window_start = 7200;
  b->time_windows.v[1].window_end = 10800;
  b->time_windows.v[1].window_mode = smp_str(a, "2 Immediately");
  b->time_windows.v[1].user_message = smp_str(a, "Upgrade tonight & reboot <soon>");
  b->time_windows.v[1].max_retries = 3;
}

static void smp_fill_acs_cwmp_queued_transfers_response(acs_cwmp_kind k, acs_arena *a,
                                                        acs_cwmp_queued_transfers_response *b) {
  b->transfers.n = 3;
  b->transfers.v = smp_arr(a, 3, sizeof *b->transfers.v);
  acs_cwmp_queued_transfer *t = b->transfers.v;
  t[0].command_key = smp_str(a, "fw-4.2.1");
  t[0].state = 2;
  t[1].command_key = smp_str(a, "cfg&log");
  t[1].state = 1;
  t[2].command_key = smp_str(a, "");
  t[2].state = 3;
  if (k == ACS_CWMP_GET_ALL_QUEUED_TRANSFERS_RESPONSE) {
    t[0].is_download = true;
    t[0].file_type = smp_str(a, "1 Firmware Upgrade Image");
    t[0].file_size = 16777216;
    t[0].target_file_name = smp_str(a, "fw.bin");
    t[1].is_download = false;
    t[1].file_type = smp_str(a, "3 Vendor Configuration File");
    t[1].file_size = 0;
    t[1].target_file_name = smp_str(a, "");
    t[2].is_download = true;
    t[2].file_type = smp_str(a, "X 00D09E Acme Bundle");
    t[2].file_size = 1;
    t[2].target_file_name = smp_str(a, "bundle.tar");
  }
}

static void smp_fill_acs_cwmp_change_du_state(acs_cwmp_kind k, acs_arena *a,
                                              acs_cwmp_change_du_state *b) {
  (void)k;
  b->operations.n = 4;
  b->operations.v = smp_arr(a, 4, sizeof *b->operations.v);
  acs_cwmp_du_op *o = b->operations.v;
  o[0].kind = ACS_CWMP_DU_INSTALL; /* every element of InstallOpStruct */
  o[0].url = smp_str(a, "https://files.example.com/du/app-1.0.2.ipk?x=1&y=2");
  o[0].uuid = smp_str(a, SAMPLE_UUID1);
  o[0].username = smp_str(a, "du");
  o[0].password = smp_str(a, "s3cr<e>t&");
  o[0].execution_env_ref = smp_str(a, "Device.SoftwareModules.ExecEnv.1");
  o[1].kind = ACS_CWMP_DU_UPDATE; /* some optional elements absent */
  o[1].uuid = smp_str(a, SAMPLE_UUID2);
  o[1].url = smp_str(a, "https://files.example.com/du/app-1.1.0.ipk");
  o[2].kind = ACS_CWMP_DU_UNINSTALL;
  o[2].uuid = smp_str(a, SAMPLE_UUID3);
  o[2].version = smp_str(a, "1.0.2");
  o[2].execution_env_ref = smp_str(a, "Device.SoftwareModules.ExecEnv.1");
  o[3].kind = ACS_CWMP_DU_INSTALL; /* only the required URL */
  o[3].url = smp_str(a, "http://files.example.com/du/minimal.ipk");
  b->command_key = smp_str(a, "du-op-1");
}

static void smp_fill_fault(acs_arena *a, acs_cwmp_fault *f) {
  f->faultcode = smp_str(a, "Client");
  f->faultstring = smp_str(a, "CWMP fault");
  f->code = 9003;
  f->string = smp_str(a, "Invalid arguments");
  f->spv_faults.n = 3;
  f->spv_faults.v = smp_arr(a, 3, sizeof *f->spv_faults.v);
  f->spv_faults.v[0].parameter_name = smp_str(a, "Device.WiFi.SSID.1.SSID");
  f->spv_faults.v[0].code = 9007;
  f->spv_faults.v[0].string = smp_str(a, "Invalid parameter value: \"<too long>\" & more");
  f->spv_faults.v[1].parameter_name = smp_str(a, "Device.DeviceInfo.SerialNumber");
  f->spv_faults.v[1].code = 9008;
  f->spv_faults.v[1].string = smp_str(a, "Attempt to set a non-writable parameter");
  f->spv_faults.v[2].parameter_name = smp_str(a, "Device.X_ACME_Unknown");
  f->spv_faults.v[2].code = 9005;
  f->spv_faults.v[2].string = smp_str(a, "Invalid parameter name");
}

/* True for the kinds sample_msg() builds (and acs_cwmp_encode() encodes). */
static bool sample_kind_ok(acs_cwmp_kind k) { return k > ACS_CWMP_NONE && k < ACS_CWMP_UNKNOWN; }

/* Fills *m with the sample of kind k in namespace ns, the header carrying
 * an ID with mustUnderstand. Returns 0, or -1 for NONE/UNKNOWN or when the
 * arena runs out. */
static int sample_msg(acs_arena *a, acs_cwmp_kind k, acs_cwmp_ns ns, acs_cwmp_msg *m) {
  memset(m, 0, sizeof *m);
  if (!sample_kind_ok(k)) return -1;
  m->ns = ns;
  char id[48];
  snprintf(id, sizeof id, "acs-%d-%d", (int)k, (int)ns);
  m->id = smp_str(a, id);
  m->id_must_understand = true;
  m->kind = k;
  switch (k) {
#define SMP_CASE(E, el, mem, t)                  \
  case ACS_CWMP_##E:                             \
    smp_fill_##t(ACS_CWMP_##E, a, &m->u.mem);    \
    break;
    ACS_CWMP_MESSAGES(SMP_CASE)
#undef SMP_CASE
  case ACS_CWMP_FAULT:
    smp_fill_fault(a, &m->u.fault);
    break;
  default:
    return -1;
  }
  return 0;
}

/* ------------------------------------------------------------------------ */
/* Deep equality. */

static char msg_equal_why[512];

static bool smp_diff(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static bool smp_diff(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg_equal_why, sizeof msg_equal_why, fmt, ap);
  va_end(ap);
  return false;
}

/* Puts prefix in front of msg_equal_why (truncating, never overflowing). */
static void smp_prefix_why(const char *prefix) {
  char tmp[sizeof msg_equal_why];
  size_t pl = strnlen(prefix, 200), wl = strlen(msg_equal_why);
  if (pl + wl >= sizeof tmp) wl = sizeof tmp - pl - 1;
  memcpy(tmp, prefix, pl);
  memcpy(tmp + pl, msg_equal_why, wl);
  tmp[pl + wl] = '\0';
  memcpy(msg_equal_why, tmp, sizeof tmp);
}

/* s for a diagnostic: at most ~100 bytes, controls and DEL as \xNN. */
static const char *smp_show(const char *s, char *buf, size_t cap) {
  if (!s) return "(null)";
  size_t o = 0;
  for (const unsigned char *p = (const unsigned char *)s; *p && o + 8 < cap; p++) {
    if (o > 100) {
      memcpy(buf + o, "...", 3);
      o += 3;
      break;
    }
    if (*p < 0x20 || *p == 0x7F || *p == '\\')
      o += (size_t)snprintf(buf + o, cap - o, "\\x%02X", *p);
    else
      buf[o++] = (char)*p;
  }
  buf[o] = '\0';
  return buf;
}

static bool eq_s(const char *path, const char *a, const char *b) {
  const char *x = a ? a : "", *y = b ? b : "";
  if (strcmp(x, y) == 0) return true;
  char sa[128], sb[128];
  return smp_diff("%s: \"%s\" != \"%s\"", path, smp_show(a, sa, sizeof sa),
                  smp_show(b, sb, sizeof sb));
}
/* Set while msg_equal_wire() runs. */
static bool smp_wire;

/* dateTime fields: in wire mode NULL and "" are the unknown time. */
static bool eq_t(const char *path, const char *a, const char *b) {
  if (smp_wire) {
    if (!a || !*a) a = SAMPLE_UNKNOWN_TIME;
    if (!b || !*b) b = SAMPLE_UNKNOWN_TIME;
  }
  return eq_s(path, a, b);
}
static bool eq_u(const char *path, unsigned long long a, unsigned long long b) {
  return a == b || smp_diff("%s: %llu != %llu", path, a, b);
}
static bool eq_i(const char *path, long long a, long long b) {
  return a == b || smp_diff("%s: %lld != %lld", path, a, b);
}
static bool eq_b(const char *path, bool a, bool b) {
  return a == b || smp_diff("%s: %s != %s", path, a ? "true" : "false", b ? "true" : "false");
}
#define EQ_N(path, a, b) eq_u(path ".n", (a).n, (b).n)
#define EQ_LOOP(arr_a, arr_b, path, body)                                   \
  do {                                                                      \
    if (!EQ_N(path, arr_a, arr_b)) return false;                            \
    for (size_t i_ = 0; i_ < (arr_a).n; i_++) {                             \
      if (!(body)) {                                                        \
        char pre_[160];                                                     \
        snprintf(pre_, sizeof pre_, "%s[%zu].", path, i_);                  \
        smp_prefix_why(pre_);                                               \
        return false;                                                       \
      }                                                                     \
    }                                                                       \
  } while (0)

static bool eq_strings(const char *path, const acs_cwmp_strings *a, const acs_cwmp_strings *b) {
  if (!eq_u(path, a->n, b->n)) return false;
  for (size_t i = 0; i < a->n; i++) {
    char p[128];
    snprintf(p, sizeof p, "%s[%zu]", path, i);
    if (!eq_s(p, a->v[i], b->v[i])) return false;
  }
  return true;
}

static bool eq_pv(const acs_cwmp_param_value *a, const acs_cwmp_param_value *b) {
  return eq_s("name", a->name, b->name) && eq_s("value", a->value, b->value) &&
         eq_i("type", a->type, b->type);
}
static bool eq_pvs(const acs_cwmp_param_values *a, const acs_cwmp_param_values *b) {
  EQ_LOOP(*a, *b, "params", eq_pv(&a->v[i_], &b->v[i_]));
  return true;
}
static bool eq_fault_struct(const acs_cwmp_fault_struct *a, const acs_cwmp_fault_struct *b) {
  return eq_u("fault.code", a->code, b->code) && eq_s("fault.string", a->string, b->string);
}
static bool eq_du_result(const acs_cwmp_du_result *a, const acs_cwmp_du_result *b) {
  return eq_s("uuid", a->uuid, b->uuid) &&
         eq_s("deployment_unit_ref", a->deployment_unit_ref, b->deployment_unit_ref) &&
         eq_s("version", a->version, b->version) &&
         eq_s("current_state", a->current_state, b->current_state) &&
         eq_b("resolved", a->resolved, b->resolved) &&
         eq_s("execution_unit_ref_list", a->execution_unit_ref_list, b->execution_unit_ref_list) &&
         eq_t("start_time", a->start_time, b->start_time) &&
         eq_t("complete_time", a->complete_time, b->complete_time) &&
         eq_fault_struct(&a->fault, &b->fault) &&
         eq_s("operation_performed", a->operation_performed, b->operation_performed);
}
static bool eq_attr(const acs_cwmp_param_attr *a, const acs_cwmp_param_attr *b) {
  return eq_s("name", a->name, b->name) && eq_i("notification", a->notification, b->notification) &&
         eq_strings("access_list", &a->access_list, &b->access_list);
}
static bool eq_set_attr(const acs_cwmp_set_attr *a, const acs_cwmp_set_attr *b) {
  return eq_s("name", a->name, b->name) &&
         eq_b("notification_change", a->notification_change, b->notification_change) &&
         eq_i("notification", a->notification, b->notification) &&
         eq_b("access_list_change", a->access_list_change, b->access_list_change) &&
         eq_strings("access_list", &a->access_list, &b->access_list);
}
static bool eq_window(const acs_cwmp_time_window *a, const acs_cwmp_time_window *b) {
  return eq_u("window_start", a->window_start, b->window_start) &&
         eq_u("window_end", a->window_end, b->window_end) &&
         eq_s("window_mode", a->window_mode, b->window_mode) &&
         eq_s("user_message", a->user_message, b->user_message) &&
         eq_i("max_retries", a->max_retries, b->max_retries);
}
static bool eq_queued(const acs_cwmp_queued_transfer *a, const acs_cwmp_queued_transfer *b) {
  return eq_s("command_key", a->command_key, b->command_key) && eq_i("state", a->state, b->state) &&
         eq_b("is_download", a->is_download, b->is_download) &&
         eq_s("file_type", a->file_type, b->file_type) &&
         eq_u("file_size", a->file_size, b->file_size) &&
         eq_s("target_file_name", a->target_file_name, b->target_file_name);
}
static bool eq_du_op(const acs_cwmp_du_op *a, const acs_cwmp_du_op *b) {
  return eq_i("kind", a->kind, b->kind) && eq_s("url", a->url, b->url) &&
         eq_s("uuid", a->uuid, b->uuid) && eq_s("username", a->username, b->username) &&
         eq_s("password", a->password, b->password) &&
         eq_s("execution_env_ref", a->execution_env_ref, b->execution_env_ref) &&
         eq_s("version", a->version, b->version);
}

/* ---- one comparator per body type */

static bool eq_acs_cwmp_empty(const acs_cwmp_empty *a, const acs_cwmp_empty *b) {
  (void)a, (void)b;
  return true;
}
static bool eq_acs_cwmp_inform(const acs_cwmp_inform *a, const acs_cwmp_inform *b) {
  if (!eq_s("device_id.manufacturer", a->device_id.manufacturer, b->device_id.manufacturer) ||
      !eq_s("device_id.oui", a->device_id.oui, b->device_id.oui) ||
      !eq_s("device_id.product_class", a->device_id.product_class, b->device_id.product_class) ||
      !eq_s("device_id.serial_number", a->device_id.serial_number, b->device_id.serial_number))
    return false;
  EQ_LOOP(a->events, b->events, "events",
          eq_s("code", a->events.v[i_].code, b->events.v[i_].code) &&
              eq_s("command_key", a->events.v[i_].command_key, b->events.v[i_].command_key));
  return eq_u("max_envelopes", a->max_envelopes, b->max_envelopes) &&
         eq_t("current_time", a->current_time, b->current_time) &&
         eq_u("retry_count", a->retry_count, b->retry_count) && eq_pvs(&a->params, &b->params);
}
static bool eq_acs_cwmp_inform_response(const acs_cwmp_inform_response *a,
                                        const acs_cwmp_inform_response *b) {
  return eq_u("max_envelopes", a->max_envelopes, b->max_envelopes);
}
static bool eq_acs_cwmp_transfer_complete(const acs_cwmp_transfer_complete *a,
                                          const acs_cwmp_transfer_complete *b) {
  return eq_s("command_key", a->command_key, b->command_key) &&
         eq_fault_struct(&a->fault, &b->fault) && eq_t("start_time", a->start_time, b->start_time) &&
         eq_t("complete_time", a->complete_time, b->complete_time);
}
static bool eq_acs_cwmp_autonomous_transfer_complete(const acs_cwmp_autonomous_transfer_complete *a,
                                                     const acs_cwmp_autonomous_transfer_complete *b) {
  return eq_s("announce_url", a->announce_url, b->announce_url) &&
         eq_s("transfer_url", a->transfer_url, b->transfer_url) &&
         eq_b("is_download", a->is_download, b->is_download) &&
         eq_s("file_type", a->file_type, b->file_type) &&
         eq_u("file_size", a->file_size, b->file_size) &&
         eq_s("target_file_name", a->target_file_name, b->target_file_name) &&
         eq_fault_struct(&a->fault, &b->fault) && eq_t("start_time", a->start_time, b->start_time) &&
         eq_t("complete_time", a->complete_time, b->complete_time);
}
static bool eq_acs_cwmp_request_download(const acs_cwmp_request_download *a,
                                         const acs_cwmp_request_download *b) {
  if (!eq_s("file_type", a->file_type, b->file_type)) return false;
  EQ_LOOP(a->args, b->args, "args",
          eq_s("name", a->args.v[i_].name, b->args.v[i_].name) &&
              eq_s("value", a->args.v[i_].value, b->args.v[i_].value));
  return true;
}
static bool eq_acs_cwmp_du_state_change_complete(const acs_cwmp_du_state_change_complete *a,
                                                 const acs_cwmp_du_state_change_complete *b) {
  EQ_LOOP(a->results, b->results, "results", eq_du_result(&a->results.v[i_], &b->results.v[i_]));
  return eq_s("command_key", a->command_key, b->command_key);
}
static bool eq_acs_cwmp_autonomous_du_state_change_complete(
    const acs_cwmp_autonomous_du_state_change_complete *a,
    const acs_cwmp_autonomous_du_state_change_complete *b) {
  EQ_LOOP(a->results, b->results, "results", eq_du_result(&a->results.v[i_], &b->results.v[i_]));
  return true;
}
static bool eq_acs_cwmp_kicked(const acs_cwmp_kicked *a, const acs_cwmp_kicked *b) {
  return eq_s("command", a->command, b->command) && eq_s("referer", a->referer, b->referer) &&
         eq_s("arg", a->arg, b->arg) && eq_s("next", a->next, b->next);
}
static bool eq_acs_cwmp_kicked_response(const acs_cwmp_kicked_response *a,
                                        const acs_cwmp_kicked_response *b) {
  return eq_s("next_url", a->next_url, b->next_url);
}
static bool eq_acs_cwmp_get_rpc_methods_response(const acs_cwmp_get_rpc_methods_response *a,
                                                 const acs_cwmp_get_rpc_methods_response *b) {
  return eq_strings("methods", &a->methods, &b->methods);
}
static bool eq_acs_cwmp_names_req(const acs_cwmp_names_req *a, const acs_cwmp_names_req *b) {
  return eq_strings("names", &a->names, &b->names);
}
static bool eq_acs_cwmp_gpv_response(const acs_cwmp_gpv_response *a,
                                     const acs_cwmp_gpv_response *b) {
  return eq_pvs(&a->params, &b->params);
}
static bool eq_acs_cwmp_gpn(const acs_cwmp_gpn *a, const acs_cwmp_gpn *b) {
  return eq_s("parameter_path", a->parameter_path, b->parameter_path) &&
         eq_b("next_level", a->next_level, b->next_level);
}
static bool eq_acs_cwmp_gpn_response(const acs_cwmp_gpn_response *a,
                                     const acs_cwmp_gpn_response *b) {
  EQ_LOOP(a->params, b->params, "params",
          eq_s("name", a->params.v[i_].name, b->params.v[i_].name) &&
              eq_b("writable", a->params.v[i_].writable, b->params.v[i_].writable));
  return true;
}
static bool eq_acs_cwmp_spv(const acs_cwmp_spv *a, const acs_cwmp_spv *b) {
  return eq_pvs(&a->params, &b->params) &&
         eq_s("parameter_key", a->parameter_key, b->parameter_key);
}
static bool eq_acs_cwmp_status_response(const acs_cwmp_status_response *a,
                                        const acs_cwmp_status_response *b) {
  return eq_i("status", a->status, b->status);
}
static bool eq_acs_cwmp_gpa_response(const acs_cwmp_gpa_response *a,
                                     const acs_cwmp_gpa_response *b) {
  EQ_LOOP(a->params, b->params, "params", eq_attr(&a->params.v[i_], &b->params.v[i_]));
  return true;
}
static bool eq_acs_cwmp_spa(const acs_cwmp_spa *a, const acs_cwmp_spa *b) {
  EQ_LOOP(a->params, b->params, "params", eq_set_attr(&a->params.v[i_], &b->params.v[i_]));
  return true;
}
static bool eq_acs_cwmp_object_req(const acs_cwmp_object_req *a, const acs_cwmp_object_req *b) {
  return eq_s("object_name", a->object_name, b->object_name) &&
         eq_s("parameter_key", a->parameter_key, b->parameter_key);
}
static bool eq_acs_cwmp_add_object_response(const acs_cwmp_add_object_response *a,
                                            const acs_cwmp_add_object_response *b) {
  return eq_u("instance_number", a->instance_number, b->instance_number) &&
         eq_i("status", a->status, b->status);
}
static bool eq_acs_cwmp_command_key_req(const acs_cwmp_command_key_req *a,
                                        const acs_cwmp_command_key_req *b) {
  return eq_s("command_key", a->command_key, b->command_key);
}
static bool eq_acs_cwmp_download(const acs_cwmp_download *a, const acs_cwmp_download *b) {
  return eq_s("command_key", a->command_key, b->command_key) &&
         eq_s("file_type", a->file_type, b->file_type) && eq_s("url", a->url, b->url) &&
         eq_s("username", a->username, b->username) &&
         eq_s("password", a->password, b->password) &&
         eq_u("file_size", a->file_size, b->file_size) &&
         eq_s("target_file_name", a->target_file_name, b->target_file_name) &&
         eq_u("delay_seconds", a->delay_seconds, b->delay_seconds) &&
         eq_s("success_url", a->success_url, b->success_url) &&
         eq_s("failure_url", a->failure_url, b->failure_url);
}
static bool eq_acs_cwmp_transfer_response(const acs_cwmp_transfer_response *a,
                                          const acs_cwmp_transfer_response *b) {
  return eq_i("status", a->status, b->status) && eq_t("start_time", a->start_time, b->start_time) &&
         eq_t("complete_time", a->complete_time, b->complete_time);
}
static bool eq_acs_cwmp_upload(const acs_cwmp_upload *a, const acs_cwmp_upload *b) {
  return eq_s("command_key", a->command_key, b->command_key) &&
         eq_s("file_type", a->file_type, b->file_type) && eq_s("url", a->url, b->url) &&
         eq_s("username", a->username, b->username) &&
         eq_s("password", a->password, b->password) &&
         eq_u("delay_seconds", a->delay_seconds, b->delay_seconds);
}
static bool eq_acs_cwmp_schedule_inform(const acs_cwmp_schedule_inform *a,
                                        const acs_cwmp_schedule_inform *b) {
  return eq_u("delay_seconds", a->delay_seconds, b->delay_seconds) &&
         eq_s("command_key", a->command_key, b->command_key);
}
static bool eq_acs_cwmp_schedule_download(const acs_cwmp_schedule_download *a,
                                          const acs_cwmp_schedule_download *b) {
  if (!eq_s("command_key", a->command_key, b->command_key) ||
      !eq_s("file_type", a->file_type, b->file_type) || !eq_s("url", a->url, b->url) ||
      !eq_s("username", a->username, b->username) || !eq_s("password", a->password, b->password) ||
      !eq_u("file_size", a->file_size, b->file_size) ||
      !eq_s("target_file_name", a->target_file_name, b->target_file_name))
    return false;
  EQ_LOOP(a->time_windows, b->time_windows, "time_windows",
          eq_window(&a->time_windows.v[i_], &b->time_windows.v[i_]));
  return true;
}
static bool eq_acs_cwmp_queued_transfers_response(const acs_cwmp_queued_transfers_response *a,
                                                  const acs_cwmp_queued_transfers_response *b) {
  EQ_LOOP(a->transfers, b->transfers, "transfers",
          eq_queued(&a->transfers.v[i_], &b->transfers.v[i_]));
  return true;
}
static bool eq_acs_cwmp_change_du_state(const acs_cwmp_change_du_state *a,
                                        const acs_cwmp_change_du_state *b) {
  EQ_LOOP(a->operations, b->operations, "operations",
          eq_du_op(&a->operations.v[i_], &b->operations.v[i_]));
  return eq_s("command_key", a->command_key, b->command_key);
}
static bool eq_fault(const acs_cwmp_fault *a, const acs_cwmp_fault *b) {
  if (!eq_u("code", a->code, b->code)) return false;
  if (smp_wire && (!a->faultcode || !*a->faultcode)) {
    if (!b->faultcode || (strcmp(b->faultcode, "Client") != 0 && strcmp(b->faultcode, "Server") != 0))
      return smp_diff("faultcode: (default) != \"%s\"", b->faultcode ? b->faultcode : "(null)");
  } else if (!eq_s("faultcode", a->faultcode, b->faultcode)) {
    return false;
  }
  if (!eq_s("faultstring", smp_wire && (!a->faultstring || !*a->faultstring) ? "CWMP fault" : a->faultstring,
            b->faultstring))
    return false;
  if (!eq_s("string", smp_wire && !a->string ? acs_cwmp_fault_string(a->code) : a->string, b->string))
    return false;
  EQ_LOOP(a->spv_faults, b->spv_faults, "spv_faults",
          eq_s("parameter_name", a->spv_faults.v[i_].parameter_name,
               b->spv_faults.v[i_].parameter_name) &&
              eq_u("code", a->spv_faults.v[i_].code, b->spv_faults.v[i_].code) &&
              eq_s("string", a->spv_faults.v[i_].string, b->spv_faults.v[i_].string));
  return true;
}

static bool smp_body_equal(const acs_cwmp_msg *a, const acs_cwmp_msg *b) {
  switch (a->kind) {
#define SMP_EQ_CASE(E, el, mem, t) \
  case ACS_CWMP_##E:               \
    return eq_##t(&a->u.mem, &b->u.mem);
    ACS_CWMP_MESSAGES(SMP_EQ_CASE)
#undef SMP_EQ_CASE
  case ACS_CWMP_FAULT:
    return eq_fault(&a->u.fault, &b->u.fault);
  case ACS_CWMP_UNKNOWN:
    return eq_s("unknown_method", a->unknown_method, b->unknown_method);
  default:
    return true;
  }
}

static bool smp_msg_equal(const acs_cwmp_msg *a, const acs_cwmp_msg *b, bool wire) {
  msg_equal_why[0] = '\0';
  smp_wire = wire;
  if (!eq_i("ns", a->ns, b->ns) || !eq_i("kind", a->kind, b->kind) ||
      !eq_s("id", a->id, b->id) ||
      (!wire && !eq_b("id_must_understand", a->id_must_understand, b->id_must_understand)) ||
      !eq_b("has_hold_requests", a->has_hold_requests, b->has_hold_requests) ||
      (a->has_hold_requests && !eq_b("hold_requests", a->hold_requests, b->hold_requests)) ||
      (!wire && !eq_b("no_more_requests", a->no_more_requests, b->no_more_requests)) ||
      !eq_u("session_timeout", a->session_timeout, b->session_timeout) ||
      !eq_s("supported_cwmp_versions", a->supported_cwmp_versions, b->supported_cwmp_versions) ||
      !eq_s("use_cwmp_version", a->use_cwmp_version, b->use_cwmp_version))
    return false;
  if (!smp_body_equal(a, b)) {
    char pre[160];
    snprintf(pre, sizeof pre, "%s.", acs_cwmp_kind_name(a->kind) ? acs_cwmp_kind_name(a->kind) : "?");
    smp_prefix_why(pre);
    return false;
  }
  return true;
}

/* Every field, the header's mustUnderstand and NoMoreRequests included. */
static bool msg_equal(const acs_cwmp_msg *a, const acs_cwmp_msg *b) {
  return smp_msg_equal(a, b, false);
}
/* What an encode -> parse round trip preserves. */
static bool msg_equal_wire(const acs_cwmp_msg *a, const acs_cwmp_msg *b) {
  return smp_msg_equal(a, b, true);
}

#pragma GCC diagnostic pop

#endif
