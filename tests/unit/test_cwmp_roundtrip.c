/* test_cwmp_roundtrip.c: every message kind, in every CWMP namespace, goes
 * through acs_cwmp_encode -> acs_cwmp_parse and must come back equal field
 * for field; encoding the parsed message again must give the same bytes.
 * Also: SOAP header fields, acs_cwmp_encode_fault, the kind/name/type
 * tables, and the dateTime helpers. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "acs_test.h"
#include "core/acs_arena.h"
#include "core/acs_buf.h"
#include "core/acs_err.h"
#include "cwmp/acs_cwmp.h"
#include "cwmp_samples.h"

static const char *ns_name(acs_cwmp_ns ns) {
  static const char *const n[] = {"1-0", "1-1", "1-2", "1-3", "1-4"};
  return (unsigned)ns < ACS_CWMP_NS_COUNT ? n[ns] : "?";
}

static const char *kname(acs_cwmp_kind k) {
  const char *n = acs_cwmp_kind_name(k);
  return n ? n : "(none)";
}

/* True when the envelope has an element with this local name (any prefix). */
static bool has_element(const char *xml, const char *local) {
  size_t n = strlen(local);
  for (const char *p = xml; (p = strstr(p, local)) != NULL; p += n) {
    if (p == xml) continue;
    char before = p[-1], after = p[n];
    if ((before == ':' || before == '<') && (after == '>' || after == ' ' || after == '/'))
      return true;
  }
  return false;
}

static void dump(const char *what, const acs_buf *b) {
  fprintf(stderr, "---- %s (%zu bytes)\n%.*s\n----\n", what, b->len, (int)b->len,
          b->data ? b->data : "");
}

/* encode m -> parse -> compare -> encode again -> same bytes. Returns the
 * number of problems (0 = fine). *parsed is filled from arena pa. */
static int roundtrip(const acs_cwmp_msg *m, acs_arena *pa, acs_cwmp_msg *parsed, acs_buf *out) {
  int bad = acs_test_failures;
  acs_buf again = ACS_BUF_INIT;
  acs_buf_reset(out);
  int rc = acs_cwmp_encode(m, out);
  CHECK_INT(rc, 0);
  if (rc != 0) return 1;
  CHECK(out->len > 0 && out->data != NULL);
  if (!out->data) return 1;
  CHECK_INT(strlen(out->data), out->len); /* NUL-terminated, no embedded NUL */
  /* no XML declaration, the conventional prefix */
  CHECK(strncmp(out->data, "<soap-env:Envelope", 18) == 0);
  CHECK(strstr(out->data, "<?xml") == NULL);
  CHECK(strstr(out->data, acs_cwmp_ns_uri(m->ns)) != NULL);
  CHECK(has_element(out->data, kname(m->kind)));

  acs_cwmp_error err;
  memset(&err, 0, sizeof err);
  memset(parsed, 0xA5, sizeof *parsed); /* the parser must fill every field */
  rc = acs_cwmp_parse(out->data, out->len, pa, NULL, parsed, &err);
  CHECK_INT(rc, 0);
  if (rc != 0) {
    fprintf(stderr, "parse of %s (ns %s) failed: %s (line %d)\n", kname(m->kind), ns_name(m->ns),
            err.msg, err.line);
    dump("encoded", out);
    return 1;
  }
  bool eq = msg_equal_wire(m, parsed);
  CHECK(eq);
  if (!eq) {
    fprintf(stderr, "%s (ns %s) differs after the round trip: %s\n", kname(m->kind),
            ns_name(m->ns), msg_equal_why);
    dump("encoded", out);
  }
  CHECK(parsed->id == NULL || parsed->id_must_understand); /* always emitted as "1" */
  CHECK(!parsed->no_more_requests);                       /* never emitted */

  rc = acs_cwmp_encode(parsed, &again);
  CHECK_INT(rc, 0);
  bool same = rc == 0 && again.len == out->len && memcmp(again.data, out->data, out->len) == 0;
  CHECK(same);
  if (!same) {
    fprintf(stderr, "%s (ns %s): second encoding differs\n", kname(m->kind), ns_name(m->ns));
    dump("first", out);
    dump("second", &again);
  }
  acs_buf_free(&again);
  return acs_test_failures - bad;
}

/* ---- every kind x every namespace */
static void test_all_kinds(void) {
  int n = 0;
  for (int ns = 0; ns < ACS_CWMP_NS_COUNT; ns++) {
    for (int k = ACS_CWMP_NONE + 1; k < ACS_CWMP_UNKNOWN; k++) {
      acs_arena a, pa;
      acs_arena_init(&a, 0);
      acs_arena_init(&pa, 0);
      acs_cwmp_msg m, p;
      acs_buf out = ACS_BUF_INIT;
      CHECK_INT(sample_msg(&a, (acs_cwmp_kind)k, (acs_cwmp_ns)ns, &m), 0);
      if (roundtrip(&m, &pa, &p, &out) == 0) n++;
      CHECK_INT(p.ns, ns);
      CHECK_INT(p.kind, k);
      CHECK_STR(p.id, m.id);
      acs_buf_free(&out);
      acs_arena_reset(&pa);
      acs_arena_reset(&a);
    }
  }
  CHECK_INT(n, ACS_CWMP_NS_COUNT * (ACS_CWMP_UNKNOWN - 1));
  fprintf(stderr, "round trips: %d kinds x %d namespaces, %d clean\n", ACS_CWMP_UNKNOWN - 1,
          ACS_CWMP_NS_COUNT, n);
}

/* msg_equal itself must see differences, or the round trips prove nothing. */
static void test_msg_equal_detects(void) {
  acs_arena a;
  acs_arena_init(&a, 0);
  acs_cwmp_msg x, y;
  for (int k = ACS_CWMP_NONE + 1; k < ACS_CWMP_UNKNOWN; k++) {
    sample_msg(&a, (acs_cwmp_kind)k, ACS_CWMP_NS_1_2, &x);
    sample_msg(&a, (acs_cwmp_kind)k, ACS_CWMP_NS_1_2, &y);
    CHECK(msg_equal(&x, &y));
  }
  sample_msg(&a, ACS_CWMP_INFORM, ACS_CWMP_NS_1_2, &x);
  sample_msg(&a, ACS_CWMP_INFORM, ACS_CWMP_NS_1_2, &y);
  y.u.inform.params.v[8].value[3] = 'X';
  CHECK(!msg_equal(&x, &y));
  CHECK(strstr(msg_equal_why, "params[8].value") != NULL);
  y.u.inform.params.v[8].value = x.u.inform.params.v[8].value;
  y.u.inform.params.v[16].type = ACS_XSD_STRING;
  CHECK(!msg_equal(&x, &y));
  y.u.inform.params.v[16].type = x.u.inform.params.v[16].type;
  y.u.inform.events.n--;
  CHECK(!msg_equal(&x, &y));
  y.u.inform.events.n++;
  CHECK(msg_equal(&x, &y));
  y.ns = ACS_CWMP_NS_1_0;
  CHECK(!msg_equal(&x, &y));
  y.ns = x.ns;
  y.id_must_understand = false;
  CHECK(!msg_equal(&x, &y));
  CHECK(msg_equal_wire(&x, &y));
  y.id_must_understand = true;
  y.no_more_requests = true;
  CHECK(!msg_equal(&x, &y));
  CHECK(msg_equal_wire(&x, &y));
  y.no_more_requests = false;
  /* NULL and "" are the same value */
  y.u.inform.device_id.product_class = NULL;
  x.u.inform.device_id.product_class = "";
  CHECK(msg_equal(&x, &y));
  sample_msg(&a, ACS_CWMP_CHANGE_DU_STATE, ACS_CWMP_NS_1_2, &x);
  sample_msg(&a, ACS_CWMP_CHANGE_DU_STATE, ACS_CWMP_NS_1_2, &y);
  y.u.change_du_state.operations.v[1].kind = ACS_CWMP_DU_INSTALL;
  CHECK(!msg_equal(&x, &y));
  sample_msg(&a, ACS_CWMP_FAULT, ACS_CWMP_NS_1_2, &x);
  sample_msg(&a, ACS_CWMP_FAULT, ACS_CWMP_NS_1_2, &y);
  y.u.fault.spv_faults.v[2].code = 9006;
  CHECK(!msg_equal(&x, &y));
  sample_msg(&a, ACS_CWMP_GET_PARAMETER_ATTRIBUTES_RESPONSE, ACS_CWMP_NS_1_2, &x);
  sample_msg(&a, ACS_CWMP_GET_PARAMETER_ATTRIBUTES_RESPONSE, ACS_CWMP_NS_1_2, &y);
  y.u.get_parameter_attributes_response.params.v[0].access_list.n = 0;
  CHECK(!msg_equal(&x, &y));
  acs_arena_reset(&a);
}

/* ---- specific values survive */
static void test_values(void) {
  acs_arena a, pa;
  acs_arena_init(&a, 0);
  acs_arena_init(&pa, 0);
  acs_cwmp_msg m, p;
  acs_buf out = ACS_BUF_INIT;

  sample_msg(&a, ACS_CWMP_INFORM, ACS_CWMP_NS_1_0, &m);
  roundtrip(&m, &pa, &p, &out);
  CHECK(strstr(out.data, "&amp;") != NULL);
  CHECK(strstr(out.data, "&lt;") != NULL);
  CHECK(strstr(out.data, "caf\xC3\xA9") != NULL); /* UTF-8 written as is */
  CHECK(strstr(out.data, "<Networks>") == NULL);
  CHECK_INT(p.u.inform.params.n, 18);
  CHECK_STR(p.u.inform.params.v[8].value, SAMPLE_NASTY_VALUE);
  CHECK_STR(p.u.inform.params.v[5].value, "http://192.0.2.10:7547/cr?a=1&b=<2>");
  CHECK_STR(p.u.inform.device_id.manufacturer, "Acme & S\xC3\xB6hne <Networks>");
  CHECK_INT(p.u.inform.events.n, 5);
  CHECK_STR(p.u.inform.events.v[0].code, "0 BOOTSTRAP");
  CHECK_STR(p.u.inform.events.v[2].command_key, "reboot-2026-11-28");
  CHECK(p.u.inform.events.v[0].command_key != NULL); /* "" when empty */
  CHECK_STR(p.u.inform.events.v[4].command_key, "fw<&>\"1\"");
  CHECK_INT(p.u.inform.retry_count, 3);
  CHECK_STR(p.u.inform.current_time, SAMPLE_TIME);
  static const acs_cwmp_type types[] = {
      ACS_XSD_STRING,      ACS_XSD_STRING,  ACS_XSD_STRING,   ACS_XSD_STRING,
      ACS_XSD_UNSIGNEDINT, ACS_XSD_STRING,  ACS_XSD_STRING,   ACS_XSD_UNSIGNEDINT,
      ACS_XSD_STRING,      ACS_XSD_INT,     ACS_XSD_BOOLEAN,  ACS_XSD_DATETIME,
      ACS_XSD_BASE64,      ACS_XSD_LONG,    ACS_XSD_UNSIGNEDLONG, ACS_XSD_HEXBINARY,
      ACS_XSD_DECIMAL,     ACS_XSD_ANY,
  };
  for (size_t i = 0; i < 18 && i < p.u.inform.params.n; i++)
    CHECK_INT(p.u.inform.params.v[i].type, types[i]);
  /* the arrayType attribute carries the real count */
  CHECK(strstr(out.data, "ParameterValueStruct[18]") != NULL);
  CHECK(strstr(out.data, "EventStruct[5]") != NULL);

  acs_arena_reset(&pa);
  sample_msg(&a, ACS_CWMP_ADD_OBJECT_RESPONSE, ACS_CWMP_NS_1_2, &m);
  roundtrip(&m, &pa, &p, &out);
  CHECK_INT(p.u.add_object_response.instance_number, 4294967295u);
  CHECK_INT(p.u.add_object_response.status, 1);

  acs_arena_reset(&pa);
  sample_msg(&a, ACS_CWMP_SCHEDULE_DOWNLOAD, ACS_CWMP_NS_1_2, &m);
  roundtrip(&m, &pa, &p, &out);
  CHECK_INT(p.u.schedule_download.time_windows.n, 2);
  if (p.u.schedule_download.time_windows.n == 2) {
    CHECK_INT(p.u.schedule_download.time_windows.v[0].max_retries, -1);
    CHECK_STR(p.u.schedule_download.time_windows.v[0].window_mode, "1 At Any Time");
    CHECK_INT(p.u.schedule_download.time_windows.v[1].window_end, 10800);
  }

  acs_arena_reset(&pa);
  sample_msg(&a, ACS_CWMP_CHANGE_DU_STATE, ACS_CWMP_NS_1_2, &m);
  roundtrip(&m, &pa, &p, &out);
  CHECK(strstr(out.data, "InstallOpStruct") != NULL);
  CHECK(strstr(out.data, "UpdateOpStruct") != NULL);
  CHECK(strstr(out.data, "UninstallOpStruct") != NULL);
  CHECK_INT(p.u.change_du_state.operations.n, 4);
  if (p.u.change_du_state.operations.n == 4) {
    CHECK_INT(p.u.change_du_state.operations.v[0].kind, ACS_CWMP_DU_INSTALL);
    CHECK_INT(p.u.change_du_state.operations.v[1].kind, ACS_CWMP_DU_UPDATE);
    CHECK_INT(p.u.change_du_state.operations.v[2].kind, ACS_CWMP_DU_UNINSTALL);
    CHECK_STR(p.u.change_du_state.operations.v[2].uuid, SAMPLE_UUID3);
    /* absent optional elements stay absent */
    CHECK(p.u.change_du_state.operations.v[1].username == NULL ||
          p.u.change_du_state.operations.v[1].username[0] == '\0');
  }
  /* Update without Version/Username/Password: the optional elements are not emitted */
  {
    const char *upd = strstr(out.data, "UpdateOpStruct");
    const char *uni = upd ? strstr(upd, "UninstallOpStruct") : NULL;
    CHECK(upd && uni);
    if (upd && uni) {
      const char *user = strstr(upd, "<Username");
      CHECK(user == NULL || user > uni);
    }
  }

  acs_arena_reset(&pa);
  sample_msg(&a, ACS_CWMP_FAULT, ACS_CWMP_NS_1_2, &m);
  roundtrip(&m, &pa, &p, &out);
  CHECK_INT(p.kind, ACS_CWMP_FAULT);
  CHECK_INT(p.u.fault.code, 9003);
  CHECK_STR(p.u.fault.faultcode, "Client");
  CHECK_INT(p.u.fault.spv_faults.n, 3);
  if (p.u.fault.spv_faults.n == 3) {
    CHECK_INT(p.u.fault.spv_faults.v[1].code, 9008);
    CHECK_STR(p.u.fault.spv_faults.v[0].string, "Invalid parameter value: \"<too long>\" & more");
  }
  CHECK(strstr(out.data, "soap-env:Fault") != NULL);

  acs_buf_free(&out);
  acs_arena_reset(&pa);
  acs_arena_reset(&a);
}

/* ---- messages with every field NULL / zero still encode and re-encode */
static void test_zeroed(void) {
  for (int k = ACS_CWMP_NONE + 1; k < ACS_CWMP_UNKNOWN; k++) {
    acs_arena pa;
    acs_arena_init(&pa, 0);
    acs_cwmp_msg m, p;
    memset(&m, 0, sizeof m);
    m.ns = ACS_CWMP_NS_1_2;
    m.kind = (acs_cwmp_kind)k;
    if (k == ACS_CWMP_CHANGE_DU_STATE) { /* at least one operation */
      static acs_cwmp_du_op op = {ACS_CWMP_DU_UNINSTALL, NULL, NULL, NULL, NULL, NULL, NULL};
      m.u.change_du_state.operations.v = &op;
      m.u.change_du_state.operations.n = 1;
    }
    acs_buf out = ACS_BUF_INIT, again = ACS_BUF_INIT;
    int rc = acs_cwmp_encode(&m, &out);
    CHECK_INT(rc, 0);
    acs_cwmp_error err;
    rc = acs_cwmp_parse(out.data ? out.data : "", out.len, &pa, NULL, &p, &err);
    CHECK_INT(rc, 0);
    if (rc == 0) {
      CHECK_INT(p.kind, k);
      CHECK(!has_element(out.data, "ID")); /* no ID given, none emitted */
      CHECK(p.id == NULL || p.id[0] == '\0');
      CHECK(!p.has_hold_requests);
      CHECK_INT(p.session_timeout, 0);
      rc = acs_cwmp_encode(&p, &again);
      CHECK_INT(rc, 0);
      CHECK(again.len == out.len && memcmp(again.data, out.data, out.len) == 0);
      if (!(again.len == out.len && memcmp(again.data, out.data, out.len) == 0)) {
        dump("zeroed first", &out);
        dump("zeroed second", &again);
      }
    } else {
      fprintf(stderr, "zeroed %s: %s\n", kname((acs_cwmp_kind)k), err.msg);
      dump("zeroed", &out);
    }
    if (k == ACS_CWMP_TRANSFER_COMPLETE && rc == 0) {
      /* a NULL dateTime goes out as the unknown time */
      CHECK_STR(p.u.transfer_complete.start_time, SAMPLE_UNKNOWN_TIME);
      CHECK_STR(p.u.transfer_complete.complete_time, SAMPLE_UNKNOWN_TIME);
    }
    acs_buf_free(&out);
    acs_buf_free(&again);
    acs_arena_reset(&pa);
  }
}

/* ---- SOAP header */
static void test_header(void) {
  acs_arena a, pa;
  acs_arena_init(&a, 0);
  acs_arena_init(&pa, 0);
  acs_cwmp_msg m, p;
  acs_buf out = ACS_BUF_INIT;

  /* ID with characters needing escaping; mustUnderstand forced to 1 */
  sample_msg(&a, ACS_CWMP_GET_RPC_METHODS, ACS_CWMP_NS_1_1, &m);
  m.id = "id <&> \"x\" 'y' \xC3\xA9";
  m.id_must_understand = false;
  roundtrip(&m, &pa, &p, &out);
  CHECK_STR(p.id, "id <&> \"x\" 'y' \xC3\xA9");
  CHECK(p.id_must_understand);
  CHECK(strstr(out.data, "mustUnderstand=\"1\"") != NULL);
  CHECK(!p.has_hold_requests);
  CHECK_INT(p.session_timeout, 0);
  CHECK(p.supported_cwmp_versions == NULL || p.supported_cwmp_versions[0] == '\0');
  CHECK(p.use_cwmp_version == NULL || p.use_cwmp_version[0] == '\0');
  acs_arena_reset(&pa);

  /* HoldRequests true and false */
  for (int v = 0; v <= 1; v++) {
    sample_msg(&a, ACS_CWMP_GET_PARAMETER_NAMES, ACS_CWMP_NS_1_0, &m);
    m.has_hold_requests = true;
    m.hold_requests = v;
    roundtrip(&m, &pa, &p, &out);
    CHECK(has_element(out.data, "HoldRequests"));
    CHECK(p.has_hold_requests);
    CHECK_INT(p.hold_requests, v);
    acs_arena_reset(&pa);
  }

  /* CWMP 1.3 SessionTimeout, 1.4 SupportedCWMPVersions / UseCWMPVersion */
  sample_msg(&a, ACS_CWMP_INFORM, ACS_CWMP_NS_1_2, &m);
  m.session_timeout = 30;
  m.supported_cwmp_versions = "1.0,1.1,1.2,1.3,1.4";
  roundtrip(&m, &pa, &p, &out);
  CHECK_INT(p.session_timeout, 30);
  CHECK_STR(p.supported_cwmp_versions, "1.0,1.1,1.2,1.3,1.4");
  CHECK(has_element(out.data, "SessionTimeout"));
  CHECK(has_element(out.data, "SupportedCWMPVersions"));
  CHECK(!has_element(out.data, "UseCWMPVersion"));
  acs_arena_reset(&pa);

  sample_msg(&a, ACS_CWMP_INFORM_RESPONSE, ACS_CWMP_NS_1_2, &m);
  m.use_cwmp_version = "1.4";
  m.session_timeout = 4294967295u;
  roundtrip(&m, &pa, &p, &out);
  CHECK_STR(p.use_cwmp_version, "1.4");
  CHECK_INT(p.session_timeout, 4294967295u);
  CHECK(has_element(out.data, "UseCWMPVersion"));
  acs_arena_reset(&pa);

  /* no ID: none emitted; NoMoreRequests: never emitted */
  sample_msg(&a, ACS_CWMP_INFORM_RESPONSE, ACS_CWMP_NS_1_2, &m);
  m.id = NULL;
  m.no_more_requests = true;
  roundtrip(&m, &pa, &p, &out);
  CHECK(!has_element(out.data, "ID"));
  CHECK(!has_element(out.data, "NoMoreRequests"));
  CHECK(p.id == NULL || p.id[0] == '\0');
  CHECK(!p.no_more_requests);
  acs_arena_reset(&pa);

  /* cwmp-1-3 / -1-4 namespaces are answered in kind */
  sample_msg(&a, ACS_CWMP_INFORM_RESPONSE, ACS_CWMP_NS_1_4, &m);
  roundtrip(&m, &pa, &p, &out);
  CHECK(strstr(out.data, "urn:dslforum-org:cwmp-1-4") != NULL);
  CHECK_INT(p.ns, ACS_CWMP_NS_1_4);
  acs_arena_reset(&pa);

  acs_buf_free(&out);
  acs_arena_reset(&a);
}

/* ---- NONE / UNKNOWN cannot be encoded */
static void test_unencodable(void) {
  acs_cwmp_msg m;
  acs_buf out = ACS_BUF_INIT;
  memset(&m, 0, sizeof m);
  m.kind = ACS_CWMP_NONE;
  CHECK_INT(acs_cwmp_encode(&m, &out), ACS_EINVAL);
  m.kind = ACS_CWMP_UNKNOWN;
  m.unknown_method = "X_Frobnicate";
  CHECK_INT(acs_cwmp_encode(&m, &out), ACS_EINVAL);
  m.kind = ACS_CWMP_KIND_COUNT;
  CHECK_INT(acs_cwmp_encode(&m, &out), ACS_EINVAL);
  CHECK_INT(out.len, 0); /* nothing appended on failure */

  /* encode appends: two envelopes back to back, the first untouched */
  acs_arena a;
  acs_arena_init(&a, 0);
  acs_buf one = ACS_BUF_INIT;
  sample_msg(&a, ACS_CWMP_REBOOT, ACS_CWMP_NS_1_0, &m);
  CHECK_INT(acs_cwmp_encode(&m, &one), 0);
  acs_buf_puts(&out, "prefix|");
  CHECK_INT(acs_cwmp_encode(&m, &out), 0);
  size_t first = out.len;
  CHECK_INT(first, 7 + one.len);
  CHECK(memcmp(out.data, "prefix|", 7) == 0 && memcmp(out.data + 7, one.data, one.len) == 0);
  m.kind = ACS_CWMP_UNKNOWN;
  CHECK_INT(acs_cwmp_encode(&m, &out), ACS_EINVAL);
  CHECK_INT(out.len, first);
  sample_msg(&a, ACS_CWMP_FACTORY_RESET, ACS_CWMP_NS_1_0, &m);
  CHECK_INT(acs_cwmp_encode(&m, &out), 0);
  CHECK(out.len > first && strncmp(out.data + first, "<soap-env:Envelope", 18) == 0);
  /* a buffer that already failed reports ACS_ENOMEM */
  acs_buf broken = ACS_BUF_INIT;
  broken.failed = true;
  CHECK_INT(acs_cwmp_encode(&m, &broken), ACS_ENOMEM);
  CHECK_INT(acs_cwmp_encode_fault(ACS_CWMP_NS_1_0, "x", 8002, NULL, &broken), ACS_ENOMEM);
  acs_buf_free(&broken);
  acs_buf_free(&one);
  acs_arena_reset(&a);
  acs_buf_free(&out);
}

/* ---- acs_cwmp_encode_fault */
static void test_encode_fault(void) {
  static const struct {
    uint32_t code;
    const char *faultcode, *text;
  } f[] = {
      {8000, "Server", "Method not supported"},
      {8003, "Client", "Invalid arguments"},
      {8005, "Server", "Retry request"},
      {9005, "Client", "Invalid parameter name"},
  };
  for (int ns = 0; ns < ACS_CWMP_NS_COUNT; ns++) {
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) {
      acs_arena pa;
      acs_arena_init(&pa, 0);
      acs_buf out = ACS_BUF_INIT;
      int rc = acs_cwmp_encode_fault((acs_cwmp_ns)ns, "cpe-7", f[i].code, NULL, &out);
      CHECK_INT(rc, 0);
      CHECK(out.data && strncmp(out.data, "<soap-env:Envelope", 18) == 0);
      acs_cwmp_msg p;
      acs_cwmp_error err;
      rc = acs_cwmp_parse(out.data ? out.data : "", out.len, &pa, NULL, &p, &err);
      CHECK_INT(rc, 0);
      if (rc == 0) {
        CHECK_INT(p.kind, ACS_CWMP_FAULT);
        CHECK_INT(p.ns, ns);
        CHECK_STR(p.id, "cpe-7");
        CHECK(p.id_must_understand);
        CHECK_INT(p.u.fault.code, f[i].code);
        CHECK_STR(p.u.fault.faultcode, f[i].faultcode);
        CHECK_STR(p.u.fault.faultstring, "CWMP fault");
        CHECK_STR(p.u.fault.string, acs_cwmp_fault_string(f[i].code));
        CHECK(p.u.fault.string && strcasecmp(p.u.fault.string, f[i].text) == 0);
        CHECK_INT(p.u.fault.spv_faults.n, 0);
      } else {
        fprintf(stderr, "fault %u: %s\n", f[i].code, err.msg);
        dump("fault", &out);
      }
      acs_buf_free(&out);
      acs_arena_reset(&pa);
    }
  }
  /* an explicit string, needing escaping; no ID */
  acs_arena pa;
  acs_arena_init(&pa, 0);
  acs_buf out = ACS_BUF_INIT;
  CHECK_INT(acs_cwmp_encode_fault(ACS_CWMP_NS_1_2, NULL, 8002, "db <down> & \"out\"", &out), 0);
  acs_cwmp_msg p;
  CHECK_INT(acs_cwmp_parse(out.data ? out.data : "", out.len, &pa, NULL, &p, NULL), 0);
  CHECK_INT(p.kind, ACS_CWMP_FAULT);
  CHECK_INT(p.u.fault.code, 8002);
  CHECK_STR(p.u.fault.faultcode, "Server");
  CHECK_STR(p.u.fault.string, "db <down> & \"out\"");
  CHECK(p.id == NULL || p.id[0] == '\0');
  acs_buf_free(&out);
  acs_arena_reset(&pa);

  CHECK_STR(acs_cwmp_fault_string(9005), "Invalid parameter name");
  CHECK(acs_cwmp_fault_string(8005) != NULL);
  CHECK(acs_cwmp_fault_string(1234) == NULL);
  CHECK(acs_cwmp_fault_string(0) == NULL);
}

/* ---- names, kinds, namespaces, types */
static void test_tables(void) {
  int requests = 0;
  for (int k = ACS_CWMP_NONE + 1; k < ACS_CWMP_UNKNOWN; k++) {
    const char *n = acs_cwmp_kind_name((acs_cwmp_kind)k);
    CHECK(n != NULL);
    if (!n) continue;
    if (k == ACS_CWMP_FAULT) /* a SOAP element, not a CWMP method: either answer will do */
      CHECK(acs_cwmp_kind_from_name(n) == ACS_CWMP_FAULT ||
            acs_cwmp_kind_from_name(n) == ACS_CWMP_UNKNOWN);
    else
      CHECK_INT(acs_cwmp_kind_from_name(n), k);
    size_t len = strlen(n);
    bool is_resp = len > 8 && strcmp(n + len - 8, "Response") == 0;
    acs_cwmp_kind r = acs_cwmp_response_kind((acs_cwmp_kind)k);
    if (k == ACS_CWMP_FAULT || is_resp) {
      CHECK_INT(r, ACS_CWMP_UNKNOWN);
    } else {
      char rn[128];
      snprintf(rn, sizeof rn, "%sResponse", n);
      CHECK_INT(r, acs_cwmp_kind_from_name(rn));
      CHECK(r != ACS_CWMP_UNKNOWN);
      requests++;
    }
  }
  CHECK_INT(requests, 25);
  CHECK_INT(ACS_CWMP_UNKNOWN - 1, 51); /* 25 request/response pairs and Fault */
  CHECK_STR(acs_cwmp_kind_name(ACS_CWMP_INFORM), "Inform");
  CHECK_STR(acs_cwmp_kind_name(ACS_CWMP_GET_RPC_METHODS_RESPONSE), "GetRPCMethodsResponse");
  CHECK_STR(acs_cwmp_kind_name(ACS_CWMP_AUTONOMOUS_DU_STATE_CHANGE_COMPLETE_RESPONSE),
            "AutonomousDUStateChangeCompleteResponse");
  CHECK_STR(acs_cwmp_kind_name(ACS_CWMP_FAULT), "Fault");
  CHECK(acs_cwmp_kind_name(ACS_CWMP_NONE) == NULL);
  CHECK(acs_cwmp_kind_name(ACS_CWMP_UNKNOWN) == NULL);
  CHECK(acs_cwmp_kind_name(ACS_CWMP_KIND_COUNT) == NULL);
  CHECK(acs_cwmp_kind_name((acs_cwmp_kind)-1) == NULL);
  CHECK_INT(acs_cwmp_kind_from_name("ChangeDUState"), ACS_CWMP_CHANGE_DU_STATE);
  CHECK_INT(acs_cwmp_kind_from_name("X_ACME_Frobnicate"), ACS_CWMP_UNKNOWN);
  CHECK_INT(acs_cwmp_kind_from_name("inform"), ACS_CWMP_UNKNOWN);
  CHECK_INT(acs_cwmp_kind_from_name(""), ACS_CWMP_UNKNOWN);
  CHECK_INT(acs_cwmp_kind_from_name("InformX"), ACS_CWMP_UNKNOWN);
  CHECK_INT(acs_cwmp_response_kind(ACS_CWMP_INFORM), ACS_CWMP_INFORM_RESPONSE);
  CHECK_INT(acs_cwmp_response_kind(ACS_CWMP_KICKED), ACS_CWMP_KICKED_RESPONSE);
  CHECK_INT(acs_cwmp_response_kind(ACS_CWMP_CHANGE_DU_STATE), ACS_CWMP_CHANGE_DU_STATE_RESPONSE);
  CHECK_INT(acs_cwmp_response_kind(ACS_CWMP_GET_RPC_METHODS), ACS_CWMP_GET_RPC_METHODS_RESPONSE);
  CHECK_INT(acs_cwmp_response_kind(ACS_CWMP_INFORM_RESPONSE), ACS_CWMP_UNKNOWN);
  CHECK_INT(acs_cwmp_response_kind(ACS_CWMP_NONE), ACS_CWMP_UNKNOWN);
  CHECK_INT(acs_cwmp_response_kind(ACS_CWMP_UNKNOWN), ACS_CWMP_UNKNOWN);

  static const acs_cwmp_kind cpe_req[] = {
      ACS_CWMP_INFORM,         ACS_CWMP_TRANSFER_COMPLETE,
      ACS_CWMP_AUTONOMOUS_TRANSFER_COMPLETE, ACS_CWMP_REQUEST_DOWNLOAD,
      ACS_CWMP_DU_STATE_CHANGE_COMPLETE,     ACS_CWMP_AUTONOMOUS_DU_STATE_CHANGE_COMPLETE,
      ACS_CWMP_KICKED,         ACS_CWMP_GET_RPC_METHODS,
  };
  int ncpe = 0;
  for (int k = 0; k < ACS_CWMP_KIND_COUNT; k++) {
    bool expect = false;
    for (size_t i = 0; i < sizeof cpe_req / sizeof cpe_req[0]; i++)
      if ((int)cpe_req[i] == k) expect = true;
    CHECK_INT(acs_cwmp_is_cpe_request((acs_cwmp_kind)k), expect);
    ncpe += acs_cwmp_is_cpe_request((acs_cwmp_kind)k);
  }
  CHECK_INT(ncpe, 8);

  for (int ns = 0; ns < ACS_CWMP_NS_COUNT; ns++) {
    char want[64];
    snprintf(want, sizeof want, "urn:dslforum-org:cwmp-%s", ns_name((acs_cwmp_ns)ns));
    CHECK_STR(acs_cwmp_ns_uri((acs_cwmp_ns)ns), want);
  }

  static const char *const tn[] = {"string", "int",     "unsignedInt", "long",      "unsignedLong",
                                   "boolean", "dateTime", "base64",      "hexBinary", "decimal",
                                   "object"};
  for (int t = 0; t < ACS_XSD_ANY; t++) {
    CHECK_STR(acs_cwmp_type_name((acs_cwmp_type)t), tn[t]);
    CHECK_INT(acs_cwmp_type_from_name(tn[t]), t);
  }
  CHECK_INT(acs_cwmp_type_from_name("bogus"), ACS_XSD_STRING);
}

/* ---- dateTime helpers */
static void test_time(void) {
  static const struct {
    const char *s;
    int64_t t;
  } ok[] = {
      {"2026-11-28T10:00:00Z", 1795860000},
      {"2026-11-28T10:00:00", 1795860000},           /* no zone: UTC */
      {"2026-11-28T10:00:00.5Z", 1795860000},        /* fraction dropped */
      {"2026-11-28T10:00:00.123456", 1795860000},
      {"2026-11-28T12:00:00+02:00", 1795860000},
      {"2026-11-28T12:30:00.25+02:30", 1795860000},
      {"2026-11-28T05:00:00-05:00", 1795860000},
      {"2026-11-28T10:00:00+00:00", 1795860000},
      {"2026-11-28T00:30:00-09:30", 1795860000},
      {"1970-01-01T00:00:00Z", 0},
      {"2000-02-29T23:59:59Z", 951868799},
      {"2038-01-19T03:14:08Z", 2147483648LL},          /* past 32 bits */
      {"1999-12-31T23:59:59Z", 946684799},
  };
  for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
    int64_t t = -7;
    bool unknown = true;
    int rc = acs_cwmp_time_parse(ok[i].s, &t, &unknown);
    CHECK_INT(rc, 0);
    if (rc == 0) {
      if (t != ok[i].t) fprintf(stderr, "time %s\n", ok[i].s);
      CHECK_INT(t, ok[i].t);
      CHECK(!unknown);
    }
  }
  /* unknown time */
  {
    int64_t t = 0;
    bool unknown = false;
    CHECK_INT(acs_cwmp_time_parse("0001-01-01T00:00:00Z", &t, &unknown), 0);
    CHECK(unknown);
    unknown = false;
    CHECK_INT(acs_cwmp_time_parse("0001-01-01T00:00:00", &t, &unknown), 0);
    CHECK(unknown);
  }
  static const char *const bad[] = {
      "",
      "garbage",
      "2026-11-28",
      "2026-11-28 10:00:00Z",
      "2026-13-28T10:00:00Z",
      "2026-11-32T10:00:00Z",
      "2026-11-28T25:00:00Z",
      "2026-11-28T10:61:00Z",
      "2026-11-28T10:00:00ZZ",
      "2026-11-28T10:00:00+2",
      "2026-11-28T10:00:00+02:00junk",
      "2026-11-28T10:00",
      "26-11-28T10:00:00Z",
      "2026-1a-28T10:00:00Z",
      "2026-11-28T10:00:00.Z",
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    int64_t t = 0;
    bool unknown = false;
    int rc = acs_cwmp_time_parse(bad[i], &t, &unknown);
    if (rc != ACS_EINVAL) fprintf(stderr, "time \"%s\" accepted (rc %d, t %lld)\n", bad[i], rc,
                                  (long long)t);
    CHECK_INT(rc, ACS_EINVAL);
  }

  char buf[21];
  acs_cwmp_time_format(1795860000, buf);
  CHECK_STR(buf, "2026-11-28T10:00:00Z");
  acs_cwmp_time_format(0, buf);
  CHECK_STR(buf, "1970-01-01T00:00:00Z");
  acs_cwmp_time_format(951868799, buf);
  CHECK_STR(buf, "2000-02-29T23:59:59Z");
  acs_cwmp_time_format(4102444800LL, buf);
  CHECK_STR(buf, "2100-01-01T00:00:00Z");
  acs_cwmp_time_format(-1, buf);
  CHECK_STR(buf, "1969-12-31T23:59:59Z");
  acs_cwmp_time_format(-62135596800LL, buf); /* the unknown time itself */
  CHECK_STR(buf, "0001-01-01T00:00:00Z");
  {
    int64_t t = 0;
    bool unknown = false;
    CHECK_INT(acs_cwmp_time_parse(buf, &t, &unknown), 0);
    CHECK(unknown);
    CHECK_INT(t, -62135596800LL);
  }
  /* format -> parse is the identity */
  bool identity = true;
  for (int64_t t = 0; t < 4102444800LL && identity; t += 86399 * 37 + 13) {
    int64_t back = -1;
    bool unknown = true;
    acs_cwmp_time_format(t, buf);
    if (acs_cwmp_time_parse(buf, &back, &unknown) != 0 || back != t || unknown) {
      fprintf(stderr, "time %lld -> \"%s\" -> %lld\n", (long long)t, buf, (long long)back);
      identity = false;
    }
  }
  CHECK(identity);
}

int main(void) {
  test_tables();
  test_msg_equal_detects();
  test_all_kinds();
  test_values();
  test_zeroed();
  test_header();
  test_unencodable();
  test_encode_fault();
  test_time();
  return acs_test_result("test_cwmp_roundtrip");
}
