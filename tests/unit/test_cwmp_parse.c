/* test_cwmp_parse.c: envelopes as real CPEs (and sloppy stacks) send them,
 * hand-written, parsed by acs_cwmp_parse(): prefixes and default namespaces,
 * every cwmp namespace, the 1999 XML Schema namespaces, xsi:type on structs,
 * wrong arrayType sizes, odd CurrentTime values, empty CommandKeys, comments,
 * CDATA, an XML declaration with ISO-8859-1, the SOAP header entries, unknown
 * methods, empty bodies, CPE faults, and ChangeDUState operations. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "acs_test.h"
#include "core/acs_arena.h"
#include "core/acs_err.h"
#include "cwmp/acs_cwmp.h"

static acs_arena arena;
static acs_cwmp_msg m;
static acs_cwmp_error err;

/* Parses xml into the global m (fresh arena); prints the error when it
 * fails. */
static int parse_len(const char *xml, size_t len, const char *what) {
  acs_arena_reset(&arena);
  memset(&err, 0, sizeof err);
  int rc = acs_cwmp_parse(xml, len, &arena, NULL, &m, &err);
  if (rc != 0)
    fprintf(stderr, "%s: parse failed: %d %s (line %d): %s\n", what, rc, acs_errname(rc), err.line,
            err.msg);
  return rc;
}
static int parse(const char *xml, const char *what) { return parse_len(xml, strlen(xml), what); }

#define SOAP_NS "http://schemas.xmlsoap.org/soap/envelope/"
#define ENC_NS "http://schemas.xmlsoap.org/soap/encoding/"
#define XSD_NS "http://www.w3.org/2001/XMLSchema"
#define XSI_NS "http://www.w3.org/2001/XMLSchema-instance"

/* Replaces every "P:" and ":P=" in tmpl by the prefix (prefix "" gives a
 * default namespace: "P:" disappears and "xmlns:P=" becomes "xmlns="). */
static char *with_prefix(const char *tmpl, const char *prefix) {
  size_t cap = strlen(tmpl) * 4 + 1;
  char *out = malloc(cap), *o = out;
  for (const char *p = tmpl; *p;) {
    if (strncmp(p, "xmlns:P=", 8) == 0) {
      o += sprintf(o, *prefix ? "xmlns:%s=" : "xmlns=", prefix);
      p += 8;
    } else if (p[0] == 'P' && p[1] == ':' && (p == tmpl || p[-1] == '<' || p[-1] == '/' ||
                                               p[-1] == ' ')) {
      if (*prefix) o += sprintf(o, "%s:", prefix);
      p += 2;
    } else {
      *o++ = *p++;
    }
  }
  *o = '\0';
  return out;
}

/* ---- prefixes: the SOAP prefix is whatever the CPE likes, or none */
static void test_prefixes(void) {
  static const char tmpl[] =
      "<P:Envelope xmlns:P=\"" SOAP_NS "\" xmlns:cwmp=\"urn:dslforum-org:cwmp-1-0\">"
      "<P:Header><cwmp:ID P:mustUnderstand=\"1\">42</cwmp:ID></P:Header>"
      "<P:Body><cwmp:GetParameterNames><ParameterPath>Device.</ParameterPath>"
      "<NextLevel>true</NextLevel></cwmp:GetParameterNames></P:Body></P:Envelope>";
  static const char *const prefixes[] = {"soap", "SOAP-ENV", "soapenv", "soap-env", "x",
                                         "e_1.2", ""};
  for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++) {
    char *xml = with_prefix(tmpl, prefixes[i]);
    int rc = parse(xml, prefixes[i]);
    CHECK_INT(rc, 0);
    if (rc == 0) {
      CHECK_INT(m.kind, ACS_CWMP_GET_PARAMETER_NAMES);
      CHECK_INT(m.ns, ACS_CWMP_NS_1_0);
      CHECK_STR(m.id, "42");
      /* with a default namespace the attribute is unqualified: not SOAP's */
      if (*prefixes[i]) CHECK(m.id_must_understand);
      CHECK_STR(m.u.get_parameter_names.parameter_path, "Device.");
      CHECK(m.u.get_parameter_names.next_level);
    }
    free(xml);
  }

  /* Envelope and Body in a default namespace, cwmp with a prefix */
  CHECK_INT(parse("<Envelope xmlns=\"" SOAP_NS "\" xmlns:c=\"urn:dslforum-org:cwmp-1-1\">"
                  "<Header><c:ID mustUnderstand=\"1\">d1</c:ID></Header>"
                  "<Body><c:InformResponse><MaxEnvelopes>1</MaxEnvelopes></c:InformResponse>"
                  "</Body></Envelope>",
                  "default SOAP namespace"),
            0);
  CHECK_INT(m.kind, ACS_CWMP_INFORM_RESPONSE);
  CHECK_INT(m.ns, ACS_CWMP_NS_1_1);
  CHECK_STR(m.id, "d1");
  CHECK_INT(m.u.inform_response.max_envelopes, 1);

  /* the RPC element declares cwmp as its default namespace (children too) */
  CHECK_INT(parse("<soap:Envelope xmlns:soap=\"" SOAP_NS "\"><soap:Body>"
                  "<GetRPCMethodsResponse xmlns=\"urn:dslforum-org:cwmp-1-2\">"
                  "<MethodList xmlns:e=\"" ENC_NS "\" e:arrayType=\"xsd:string[3]\">"
                  "<string>GetRPCMethods</string><string>Inform</string>"
                  "<string>TransferComplete</string></MethodList>"
                  "</GetRPCMethodsResponse></soap:Body></soap:Envelope>",
                  "default cwmp namespace"),
            0);
  CHECK_INT(m.kind, ACS_CWMP_GET_RPC_METHODS_RESPONSE);
  CHECK_INT(m.ns, ACS_CWMP_NS_1_2);
  CHECK_INT(m.u.get_rpc_methods_response.methods.n, 3);
  if (m.u.get_rpc_methods_response.methods.n == 3)
    CHECK_STR(m.u.get_rpc_methods_response.methods.v[2], "TransferComplete");
  CHECK(m.id == NULL);

  /* child elements qualified with the cwmp prefix too */
  CHECK_INT(parse("<s:Envelope xmlns:s=\"" SOAP_NS "\" xmlns:cwmp=\"urn:dslforum-org:cwmp-1-0\">"
                  "<s:Body><cwmp:AddObjectResponse><cwmp:InstanceNumber>12</cwmp:InstanceNumber>"
                  "<cwmp:Status>1</cwmp:Status></cwmp:AddObjectResponse></s:Body></s:Envelope>",
                  "qualified children"),
            0);
  CHECK_INT(m.kind, ACS_CWMP_ADD_OBJECT_RESPONSE);
  CHECK_INT(m.u.add_object_response.instance_number, 12);
  CHECK_INT(m.u.add_object_response.status, 1);
}

/* ---- every cwmp namespace, in the header and in the body */
static void test_namespaces(void) {
  for (int v = 0; v < ACS_CWMP_NS_COUNT; v++) {
    char xml[1024];
    snprintf(xml, sizeof xml,
             "<soapenv:Envelope xmlns:soapenv=\"" SOAP_NS "\" xmlns:cwmp=\"urn:dslforum-org:cwmp-1-%d\">"
             "<soapenv:Header><cwmp:ID soapenv:mustUnderstand=\"1\">ns%d</cwmp:ID></soapenv:Header>"
             "<soapenv:Body><cwmp:Reboot><CommandKey>rb%d</CommandKey></cwmp:Reboot>"
             "</soapenv:Body></soapenv:Envelope>",
             v, v, v);
    CHECK_INT(parse(xml, "namespace"), 0);
    CHECK_INT(m.kind, ACS_CWMP_REBOOT);
    CHECK_INT(m.ns, v);
    char want[16];
    snprintf(want, sizeof want, "rb%d", v);
    CHECK_STR(m.u.command_key_req.command_key, want);
    /* a fault, namespace from the cwmp:Fault detail */
    snprintf(xml, sizeof xml,
             "<s:Envelope xmlns:s=\"" SOAP_NS "\" xmlns:cwmp=\"urn:dslforum-org:cwmp-1-%d\">"
             "<s:Body><s:Fault><faultcode>Server</faultcode><faultstring>CWMP fault</faultstring>"
             "<detail><cwmp:Fault><FaultCode>9002</FaultCode><FaultString>Internal error"
             "</FaultString></cwmp:Fault></detail></s:Fault></s:Body></s:Envelope>",
             v);
    CHECK_INT(parse(xml, "fault namespace"), 0);
    CHECK_INT(m.kind, ACS_CWMP_FAULT);
    CHECK_INT(m.ns, v);
    CHECK_INT(m.u.fault.code, 9002);
  }
}

/* ---- xsi:type: 2001 and 1999 namespaces, on values and on structs */
static void test_xsi_types(void) {
  static const char *const xsd_ns[][2] = {
      {"http://www.w3.org/2001/XMLSchema", "http://www.w3.org/2001/XMLSchema-instance"},
      {"http://www.w3.org/1999/XMLSchema", "http://www.w3.org/1999/XMLSchema-instance"},
  };
  for (int i = 0; i < 2; i++) {
    char xml[4096];
    snprintf(xml, sizeof xml,
             "<SOAP-ENV:Envelope xmlns:SOAP-ENV=\"" SOAP_NS "\" xmlns:SOAP-ENC=\"" ENC_NS "\" "
             "xmlns:xsd=\"%s\" xmlns:xsi=\"%s\" xmlns:cwmp=\"urn:dslforum-org:cwmp-1-0\">"
             "<SOAP-ENV:Body><cwmp:GetParameterValuesResponse>"
             "<ParameterList xsi:type=\"SOAP-ENC:Array\" SOAP-ENC:arrayType=\"cwmp:ParameterValueStruct[7]\">"
             "<ParameterValueStruct xsi:type=\"cwmp:ParameterValueStruct\">"
             "<Name xsi:type=\"xsd:string\">A.UpTime</Name>"
             "<Value xsi:type=\"xsd:unsignedInt\">42</Value></ParameterValueStruct>"
             "<ParameterValueStruct xsi:type=\"cwmp:ParameterValueStruct\">"
             "<Name>A.Enable</Name><Value xsi:type=\"xsd:boolean\">1</Value></ParameterValueStruct>"
             "<ParameterValueStruct><Name>A.Time</Name>"
             "<Value xsi:type=\"xsd:dateTime\">2026-11-28T10:00:00Z</Value></ParameterValueStruct>"
             "<ParameterValueStruct><Name>A.Blob</Name>"
             "<Value xsi:type=\"SOAP-ENC:base64\">AAEC</Value></ParameterValueStruct>"
             "<ParameterValueStruct><Name>A.Blob2</Name>"
             "<Value xsi:type=\"xsd:base64Binary\">AAEC</Value></ParameterValueStruct>"
             "<ParameterValueStruct><Name>A.Untyped</Name><Value>u</Value></ParameterValueStruct>"
             "<ParameterValueStruct><Name>A.Int</Name>"
             "<Value xsi:type=\"xsd:int\">-1</Value></ParameterValueStruct>"
             "</ParameterList></cwmp:GetParameterValuesResponse></SOAP-ENV:Body></SOAP-ENV:Envelope>",
             xsd_ns[i][0], xsd_ns[i][1]);
    CHECK_INT(parse(xml, xsd_ns[i][1]), 0);
    CHECK_INT(m.kind, ACS_CWMP_GET_PARAMETER_VALUES_RESPONSE);
    const acs_cwmp_param_values *p = &m.u.get_parameter_values_response.params;
    CHECK_INT(p->n, 7);
    if (p->n != 7) continue;
    CHECK_STR(p->v[0].name, "A.UpTime");
    CHECK_STR(p->v[0].value, "42");
    CHECK_INT(p->v[0].type, ACS_XSD_UNSIGNEDINT);
    CHECK_INT(p->v[1].type, ACS_XSD_BOOLEAN);
    CHECK_INT(p->v[2].type, ACS_XSD_DATETIME);
    CHECK_INT(p->v[3].type, ACS_XSD_BASE64);
    CHECK_INT(p->v[4].type, ACS_XSD_BASE64);
    CHECK_INT(p->v[5].type, ACS_XSD_ANY);
    CHECK_INT(p->v[6].type, ACS_XSD_INT);
    CHECK_STR(p->v[6].value, "-1");
  }
  /* an xsi:type from no known namespace is not xsi:type */
  CHECK_INT(parse("<s:Envelope xmlns:s=\"" SOAP_NS "\" xmlns:c=\"urn:dslforum-org:cwmp-1-0\" "
                  "xmlns:q=\"urn:other\"><s:Body><c:SetParameterValues>"
                  "<ParameterList><ParameterValueStruct><Name>X</Name>"
                  "<Value q:type=\"xsd:int\">5</Value></ParameterValueStruct></ParameterList>"
                  "<ParameterKey>k</ParameterKey></c:SetParameterValues></s:Body></s:Envelope>",
                  "foreign type attribute"),
            0);
  CHECK_INT(m.kind, ACS_CWMP_SET_PARAMETER_VALUES);
  CHECK_INT(m.u.set_parameter_values.params.n, 1);
  if (m.u.set_parameter_values.params.n == 1)
    CHECK_INT(m.u.set_parameter_values.params.v[0].type, ACS_XSD_ANY);
  CHECK_STR(m.u.set_parameter_values.parameter_key, "k");
}

/* ---- arrayType sizes that lie */
static void test_array_sizes(void) {
  static const char *const decl[] = {"cwmp:ParameterValueStruct[0]", "cwmp:ParameterValueStruct[10]",
                                     "cwmp:ParameterValueStruct[]", "junk", NULL};
  for (size_t i = 0; i < sizeof decl / sizeof decl[0]; i++) {
    char xml[2048], attr[128] = "";
    if (decl[i]) snprintf(attr, sizeof attr, " soap-enc:arrayType=\"%s\"", decl[i]);
    snprintf(xml, sizeof xml,
             "<soap-env:Envelope xmlns:soap-env=\"" SOAP_NS "\" xmlns:soap-enc=\"" ENC_NS "\" "
             "xmlns:cwmp=\"urn:dslforum-org:cwmp-1-2\"><soap-env:Body><cwmp:SetParameterValues>"
             "<ParameterList%s>"
             "<ParameterValueStruct><Name>A</Name><Value>1</Value></ParameterValueStruct>"
             "<ParameterValueStruct><Name>B</Name><Value>2</Value></ParameterValueStruct>"
             "<ParameterValueStruct><Name>C</Name><Value>3</Value></ParameterValueStruct>"
             "</ParameterList><ParameterKey/></cwmp:SetParameterValues></soap-env:Body>"
             "</soap-env:Envelope>",
             attr);
    CHECK_INT(parse(xml, decl[i] ? decl[i] : "no arrayType"), 0);
    CHECK_INT(m.u.set_parameter_values.params.n, 3);
    if (m.u.set_parameter_values.params.n == 3) {
      CHECK_STR(m.u.set_parameter_values.params.v[2].name, "C");
      CHECK_STR(m.u.set_parameter_values.params.v[2].value, "3");
    }
    CHECK_STR(m.u.set_parameter_values.parameter_key, "");
  }
  /* an empty array, written both ways */
  CHECK_INT(parse("<e:Envelope xmlns:e=\"" SOAP_NS "\"><e:Body><c:GetParameterValuesResponse "
                  "xmlns:c=\"urn:dslforum-org:cwmp-1-0\"><ParameterList/>"
                  "</c:GetParameterValuesResponse></e:Body></e:Envelope>",
                  "empty array"),
            0);
  CHECK_INT(m.kind, ACS_CWMP_GET_PARAMETER_VALUES_RESPONSE);
  CHECK_INT(m.u.get_parameter_values_response.params.n, 0);
}

/* ---- Inform: odd CurrentTime values, empty CommandKeys */
static const char inform_tmpl[] =
    "<soap:Envelope xmlns:soap=\"" SOAP_NS "\" xmlns:soapenc=\"" ENC_NS "\" "
    "xmlns:cwmp=\"urn:dslforum-org:cwmp-1-0\"><soap:Body><cwmp:Inform>"
    "<DeviceId><Manufacturer>ACME</Manufacturer><OUI>00D09E</OUI><ProductClass></ProductClass>"
    "<SerialNumber>SN1</SerialNumber></DeviceId>"
    "<Event soapenc:arrayType=\"cwmp:EventStruct[2]\">"
    "<EventStruct><EventCode>2 PERIODIC</EventCode><CommandKey></CommandKey></EventStruct>"
    "<EventStruct><EventCode>M ScheduleInform</EventCode><CommandKey/></EventStruct>"
    "</Event><MaxEnvelopes>1</MaxEnvelopes><CurrentTime>%s</CurrentTime>"
    "<RetryCount>2</RetryCount><ParameterList soapenc:arrayType=\"cwmp:ParameterValueStruct[0]\">"
    "</ParameterList></cwmp:Inform></soap:Body></soap:Envelope>";

static void test_inform_times(void) {
  static const struct {
    const char *sent;
    bool unknown;
    int64_t t;
  } times[] = {
      {"2026-11-28T10:00:00", false, 1795860000},
      {"2026-11-28T11:00:00.123+01:00", false, 1795860000},
      {"0001-01-01T00:00:00Z", true, 0},
      {"0001-01-01T00:00:00", true, 0},
  };
  for (size_t i = 0; i < sizeof times / sizeof times[0]; i++) {
    char xml[2048];
    snprintf(xml, sizeof xml, inform_tmpl, times[i].sent);
    CHECK_INT(parse(xml, times[i].sent), 0);
    CHECK_INT(m.kind, ACS_CWMP_INFORM);
    CHECK_STR(m.u.inform.current_time, times[i].sent); /* kept as sent */
    int64_t t = -1;
    bool unknown = !times[i].unknown;
    CHECK_INT(acs_cwmp_time_parse(m.u.inform.current_time ? m.u.inform.current_time : "", &t,
                                  &unknown),
              0);
    CHECK_INT(unknown, times[i].unknown);
    if (!times[i].unknown) CHECK_INT(t, times[i].t);
    CHECK_STR(m.u.inform.device_id.product_class, "");
    CHECK_INT(m.u.inform.events.n, 2);
    if (m.u.inform.events.n == 2) {
      CHECK_STR(m.u.inform.events.v[0].code, "2 PERIODIC");
      CHECK_STR(m.u.inform.events.v[0].command_key, ""); /* <CommandKey></CommandKey> */
      CHECK_STR(m.u.inform.events.v[1].code, "M ScheduleInform");
      CHECK_STR(m.u.inform.events.v[1].command_key, ""); /* <CommandKey/> */
    }
    CHECK_INT(m.u.inform.retry_count, 2);
    CHECK_INT(m.u.inform.params.n, 0);
  }
  /* empty CommandKey elements in requests */
  CHECK_INT(parse("<s:Envelope xmlns:s=\"" SOAP_NS "\"><s:Body><c:Reboot xmlns:c=\"urn:dslforum-org:cwmp-1-2\">"
                  "<CommandKey/></c:Reboot></s:Body></s:Envelope>",
                  "Reboot <CommandKey/>"),
            0);
  CHECK_INT(m.kind, ACS_CWMP_REBOOT);
  CHECK_STR(m.u.command_key_req.command_key, "");
  CHECK_INT(parse("<s:Envelope xmlns:s=\"" SOAP_NS "\"><s:Body><c:ScheduleInform xmlns:c=\"urn:dslforum-org:cwmp-1-2\">"
                  "<DelaySeconds>5</DelaySeconds><CommandKey></CommandKey></c:ScheduleInform></s:Body></s:Envelope>",
                  "ScheduleInform <CommandKey></CommandKey>"),
            0);
  CHECK_INT(m.kind, ACS_CWMP_SCHEDULE_INFORM);
  CHECK_INT(m.u.schedule_inform.delay_seconds, 5);
  CHECK_STR(m.u.schedule_inform.command_key, "");
}

/* ---- whitespace, newlines, comments, CDATA, character references */
static void test_lexical(void) {
  static const char xml[] =
      "\n  <!-- leading comment -->\n"
      "<soap-env:Envelope\n    xmlns:soap-env=\"" SOAP_NS "\"\n"
      "    xmlns:cwmp=\"urn:dslforum-org:cwmp-1-2\"\n    xmlns:xsi=\"" XSI_NS "\"\n"
      "    xmlns:xsd=\"" XSD_NS "\">\n"
      "  <soap-env:Header>\n    <!-- the id -->\n"
      "    <cwmp:ID soap-env:mustUnderstand=\"1\">\n      id-with-ws\n    </cwmp:ID>\n"
      "  </soap-env:Header>\n"
      "  <soap-env:Body>\n"
      "    <!-- the RPC -->\n"
      "    <cwmp:SetParameterValues>\n"
      "      <ParameterList>\n"
      "        <ParameterValueStruct>\n"
      "          <Name>Device.A</Name>\n"
      "          <Value xsi:type=\"xsd:string\"><![CDATA[<b>bold & \"raw\"</b>]]></Value>\n"
      "        </ParameterValueStruct>\n"
      "        <!-- between items -->\n"
      "        <ParameterValueStruct>\n"
      "          <Name>Device.B</Name>\n"
      "          <Value xsi:type=\"xsd:string\">abc<!-- inside -->def</Value>\n"
      "        </ParameterValueStruct>\n"
      "        <ParameterValueStruct>\n"
      "          <Name>Device.C</Name>\n"
      "          <Value xsi:type=\"xsd:string\">  two  spaces  </Value>\n"
      "        </ParameterValueStruct>\n"
      "        <ParameterValueStruct>\n"
      "          <Name>Device.D</Name>\n"
      "          <Value xsi:type=\"xsd:string\">&amp;&lt;&gt;&quot;&apos;&#233;&#x1F642;pre<![CDATA[mid]]>post</Value>\n"
      "        </ParameterValueStruct>\n"
      "        <ParameterValueStruct>\n"
      "          <Name>Device.E</Name>\n"
      "          <Value xsi:type=\"xsd:unsignedInt\">\n   7\n </Value>\n"
      "        </ParameterValueStruct>\n"
      "      </ParameterList>\n"
      "      <ParameterKey> pk </ParameterKey>\n"
      "    </cwmp:SetParameterValues>\n"
      "  </soap-env:Body>\n"
      "</soap-env:Envelope>\n<!-- trailing comment -->\n";
  CHECK_INT(parse(xml, "lexical"), 0);
  CHECK_INT(m.kind, ACS_CWMP_SET_PARAMETER_VALUES);
  CHECK(m.id && strstr(m.id, "id-with-ws") != NULL);
  const acs_cwmp_param_values *p = &m.u.set_parameter_values.params;
  CHECK_INT(p->n, 5);
  if (p->n == 5) {
    CHECK_STR(p->v[0].name, "Device.A");
    CHECK_STR(p->v[0].value, "<b>bold & \"raw\"</b>");
    CHECK_STR(p->v[1].value, "abcdef");
    CHECK_STR(p->v[2].value, "  two  spaces  "); /* xsd:string keeps its whitespace */
    CHECK_STR(p->v[3].value, "&<>\"'\xC3\xA9\xF0\x9F\x99\x82premidpost");
    CHECK_INT(p->v[4].type, ACS_XSD_UNSIGNEDINT);
  }
  CHECK_STR(m.u.set_parameter_values.parameter_key, " pk ");

  /* numbers, booleans with whitespace around them; boolean spellings */
  CHECK_INT(parse("<s:Envelope xmlns:s=\"" SOAP_NS "\"><s:Body><c:GetParameterNamesResponse "
                  "xmlns:c=\"urn:dslforum-org:cwmp-1-0\"><ParameterList>"
                  "<ParameterInfoStruct><Name>A.</Name><Writable> true </Writable></ParameterInfoStruct>"
                  "<ParameterInfoStruct><Name>A.B</Name><Writable>1</Writable></ParameterInfoStruct>"
                  "<ParameterInfoStruct><Name>A.C</Name><Writable>false</Writable></ParameterInfoStruct>"
                  "<ParameterInfoStruct><Name>A.D</Name><Writable>\n0\n</Writable></ParameterInfoStruct>"
                  "</ParameterList></c:GetParameterNamesResponse></s:Body></s:Envelope>",
                  "booleans"),
            0);
  CHECK_INT(m.u.get_parameter_names_response.params.n, 4);
  if (m.u.get_parameter_names_response.params.n == 4) {
    CHECK(m.u.get_parameter_names_response.params.v[0].writable);
    CHECK(m.u.get_parameter_names_response.params.v[1].writable);
    CHECK(!m.u.get_parameter_names_response.params.v[2].writable);
    CHECK(!m.u.get_parameter_names_response.params.v[3].writable);
    CHECK_STR(m.u.get_parameter_names_response.params.v[3].name, "A.D");
  }
  CHECK_INT(parse("<s:Envelope xmlns:s=\"" SOAP_NS "\"><s:Body><c:InformResponse "
                  "xmlns:c=\"urn:dslforum-org:cwmp-1-0\"><MaxEnvelopes>\r\n\t1 \r\n</MaxEnvelopes>"
                  "</c:InformResponse></s:Body></s:Envelope>",
                  "number with whitespace"),
            0);
  CHECK_INT(m.u.inform_response.max_envelopes, 1);
}

/* ---- a real-world Inform: TR-098 gateway, ~30 parameters, CRLF lines */
static char *read_data(const char *name, size_t *len) {
  const char *src = getenv("ACS_SOURCE_DIR");
  char path[4096];
  if (src && *src)
    snprintf(path, sizeof path, "%s/tests/unit/data/cwmp/%s", src, name);
  else { /* __FILE__ is absolute in CMake builds */
    snprintf(path, sizeof path, "%s", __FILE__);
    char *slash = strrchr(path, '/');
    snprintf(slash ? slash + 1 : path, sizeof path - (size_t)(slash ? slash + 1 - path : 0),
             "data/cwmp/%s", name);
  }
  FILE *f = fopen(path, "rb");
  if (!f) {
    fprintf(stderr, "cannot open %s\n", path);
    return NULL;
  }
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *buf = malloc((size_t)n + 1);
  if (fread(buf, 1, (size_t)n, f) != (size_t)n) n = 0;
  buf[n] = '\0';
  fclose(f);
  *len = (size_t)n;
  return buf;
}

static void test_real_inform(void) {
  size_t len = 0;
  char *xml = read_data("inform-igd.xml", &len);
  CHECK(xml != NULL);
  if (!xml) return;
  CHECK_INT(parse_len(xml, len, "inform-igd.xml"), 0);
  free(xml);
  CHECK_INT(m.kind, ACS_CWMP_INFORM);
  CHECK_INT(m.ns, ACS_CWMP_NS_1_0);
  CHECK_STR(m.id, "1804289383");
  CHECK(m.id_must_understand);
  const acs_cwmp_inform *in = &m.u.inform;
  CHECK_STR(in->device_id.manufacturer, "Huawei Technologies Co., Ltd.");
  CHECK_STR(in->device_id.oui, "00E0FC");
  CHECK_STR(in->device_id.product_class, "HG8245H");
  CHECK_STR(in->device_id.serial_number, "48575443A1B2C3D4");
  CHECK_INT(in->events.n, 3);
  if (in->events.n == 3) {
    CHECK_STR(in->events.v[0].code, "0 BOOTSTRAP");
    CHECK_STR(in->events.v[1].code, "1 BOOT");
    CHECK_STR(in->events.v[2].code, "M Reboot");
    CHECK_STR(in->events.v[2].command_key, "reboot-0815");
    CHECK_STR(in->events.v[0].command_key, "");
  }
  CHECK_INT(in->max_envelopes, 1);
  CHECK_STR(in->current_time, "2026-11-28T10:00:00+01:00");
  CHECK_INT(in->retry_count, 0);
  CHECK_INT(in->params.n, 30);
  if (in->params.n != 30) return;
  static const struct {
    int i;
    const char *suffix, *value;
    acs_cwmp_type type;
  } want[] = {
      {0, "DeviceSummary", "InternetGatewayDevice:1.4[](Baseline:2, EthernetLAN:1, WiFiLAN:1, Time:1, IPPing:1)", ACS_XSD_STRING},
      {7, "ProvisioningCode", "", ACS_XSD_STRING},
      {9, "UpTime", "1234567", ACS_XSD_UNSIGNEDINT},
      {10, "FirstUseDate", "0001-01-01T00:00:00Z", ACS_XSD_DATETIME},
      {11, "ConnectionRequestURL", "http://100.64.12.34:7547/tr069", ACS_XSD_STRING},
      {13, "PeriodicInformEnable", "1", ACS_XSD_BOOLEAN},
      {17, "NATDetected", "false", ACS_XSD_BOOLEAN},
      {21, "TotalBytesSent", "9876543210123", ACS_XSD_UNSIGNEDLONG},
      {22, "X_HW_Temperature", "-5", ACS_XSD_INT},
      {23, "X_HW_Offset", "-9000000000", ACS_XSD_LONG},
      {24, "SSID", "Caf\xC3\xA9 & Bar <5G>", ACS_XSD_STRING},
      {27, "X_HW_Certificate", "TUlJQnNEQ0NBUm1nQXdJQkFnSUJB", ACS_XSD_BASE64},
      {28, "X_HW_Key", "DEADBEEF00", ACS_XSD_HEXBINARY},
      {29, "X_HW_Untyped", "plain", ACS_XSD_ANY},
  };
  for (size_t k = 0; k < sizeof want / sizeof want[0]; k++) {
    const acs_cwmp_param_value *p = &in->params.v[want[k].i];
    size_t nl = p->name ? strlen(p->name) : 0, sl = strlen(want[k].suffix);
    CHECK(nl > sl && strcmp(p->name + nl - sl, want[k].suffix) == 0 &&
          strncmp(p->name, "InternetGatewayDevice.", 22) == 0);
    CHECK_STR(p->value, want[k].value);
    CHECK_INT(p->type, want[k].type);
  }
  int types[ACS_XSD_COUNT] = {0};
  for (size_t k = 0; k < in->params.n; k++)
    if ((unsigned)in->params.v[k].type < ACS_XSD_COUNT) types[in->params.v[k].type]++;
  CHECK_INT(types[ACS_XSD_STRING], 16);
  CHECK_INT(types[ACS_XSD_ANY], 1);
  CHECK_INT(types[ACS_XSD_UNSIGNEDINT], 3);
  CHECK_INT(types[ACS_XSD_BOOLEAN], 3);
  CHECK_INT(types[ACS_XSD_DATETIME], 2);
}

/* ---- XML declaration, ISO-8859-1 */
static void test_latin1(void) {
  static const char xml[] =
      "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?>\n"
      "<SOAP-ENV:Envelope xmlns:SOAP-ENV=\"" SOAP_NS "\" xmlns:cwmp=\"urn:dslforum-org:cwmp-1-0\">"
      "<SOAP-ENV:Body><cwmp:Kicked><Command>login</Command><Referer>http://x/</Referer>"
      "<Arg>Caf\xE9 M\xFCller \xA9</Arg><Next>http://x/n</Next></cwmp:Kicked></SOAP-ENV:Body>"
      "</SOAP-ENV:Envelope>";
  CHECK_INT(parse(xml, "ISO-8859-1"), 0);
  CHECK_INT(m.kind, ACS_CWMP_KICKED);
  CHECK_STR(m.u.kicked.arg, "Caf\xC3\xA9 M\xC3\xBCller \xC2\xA9"); /* now UTF-8 */
  CHECK_STR(m.u.kicked.next, "http://x/n");
  /* a UTF-8 declaration and a BOM */
  CHECK_INT(parse("\xEF\xBB\xBF<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>"
                  "<s:Envelope xmlns:s=\"" SOAP_NS "\"><s:Body><c:GetRPCMethods "
                  "xmlns:c=\"urn:dslforum-org:cwmp-1-0\"/></s:Body></s:Envelope>",
                  "BOM"),
            0);
  CHECK_INT(m.kind, ACS_CWMP_GET_RPC_METHODS);
}

/* ---- SOAP header entries */
static void test_header(void) {
  CHECK_INT(parse("<s:Envelope xmlns:s=\"" SOAP_NS "\" xmlns:cwmp=\"urn:dslforum-org:cwmp-1-0\">"
                  "<s:Header><cwmp:ID s:mustUnderstand=\"1\">abc</cwmp:ID>"
                  "<cwmp:HoldRequests s:mustUnderstand=\"1\">1</cwmp:HoldRequests>"
                  "<cwmp:NoMoreRequests>1</cwmp:NoMoreRequests></s:Header>"
                  "<s:Body/></s:Envelope>",
                  "HoldRequests/NoMoreRequests"),
            0);
  CHECK_INT(m.kind, ACS_CWMP_NONE);
  CHECK_STR(m.id, "abc");
  CHECK(m.id_must_understand);
  CHECK(m.has_hold_requests);
  CHECK(m.hold_requests);
  CHECK(m.no_more_requests);

  CHECK_INT(parse("<s:Envelope xmlns:s=\"" SOAP_NS "\" xmlns:cwmp=\"urn:dslforum-org:cwmp-1-0\">"
                  "<s:Header><cwmp:ID>noMU</cwmp:ID>"
                  "<cwmp:HoldRequests s:mustUnderstand=\"true\">false</cwmp:HoldRequests>"
                  "<cwmp:NoMoreRequests>0</cwmp:NoMoreRequests></s:Header>"
                  "<s:Body></s:Body></s:Envelope>",
                  "ID without mustUnderstand"),
            0);
  CHECK_INT(m.kind, ACS_CWMP_NONE);
  CHECK_STR(m.id, "noMU");
  CHECK(!m.id_must_understand);
  CHECK(m.has_hold_requests);
  CHECK(!m.hold_requests);
  CHECK(!m.no_more_requests);

  CHECK_INT(parse("<s:Envelope xmlns:s=\"" SOAP_NS "\" xmlns:cwmp=\"urn:dslforum-org:cwmp-1-2\">"
                  "<s:Header><cwmp:ID s:mustUnderstand=\"0\">mu0</cwmp:ID>"
                  "<cwmp:SessionTimeout s:mustUnderstand=\"0\">60</cwmp:SessionTimeout>"
                  "<cwmp:SupportedCWMPVersions s:mustUnderstand=\"0\">1.0,1.1,1.2,1.3,1.4</cwmp:SupportedCWMPVersions>"
                  "<cwmp:UseCWMPVersion s:mustUnderstand=\"1\">1.4</cwmp:UseCWMPVersion>"
                  "<x:Trace xmlns:x=\"urn:vendor\" s:mustUnderstand=\"0\">t</x:Trace>"
                  "</s:Header><s:Body><cwmp:GetRPCMethods/></s:Body></s:Envelope>",
                  "CWMP 1.3/1.4 headers"),
            0);
  CHECK_INT(m.kind, ACS_CWMP_GET_RPC_METHODS);
  CHECK_INT(m.ns, ACS_CWMP_NS_1_2);
  CHECK_STR(m.id, "mu0");
  CHECK(!m.id_must_understand);
  CHECK(!m.has_hold_requests);
  CHECK_INT(m.session_timeout, 60);
  CHECK_STR(m.supported_cwmp_versions, "1.0,1.1,1.2,1.3,1.4");
  CHECK_STR(m.use_cwmp_version, "1.4");

  /* no header at all */
  CHECK_INT(parse("<s:Envelope xmlns:s=\"" SOAP_NS "\"><s:Body><c:FactoryReset "
                  "xmlns:c=\"urn:dslforum-org:cwmp-1-1\"/></s:Body></s:Envelope>",
                  "no header"),
            0);
  CHECK_INT(m.kind, ACS_CWMP_FACTORY_RESET);
  CHECK_INT(m.ns, ACS_CWMP_NS_1_1);
  CHECK(m.id == NULL);
  CHECK(!m.has_hold_requests);
  CHECK_INT(m.session_timeout, 0);
}

/* ---- unknown methods, empty bodies */
static void test_unknown_and_empty(void) {
  CHECK_INT(parse("<s:Envelope xmlns:s=\"" SOAP_NS "\" xmlns:cwmp=\"urn:dslforum-org:cwmp-1-2\">"
                  "<s:Header><cwmp:ID s:mustUnderstand=\"1\">u1</cwmp:ID></s:Header>"
                  "<s:Body><cwmp:X_ACME_Frobnicate><Level>11</Level></cwmp:X_ACME_Frobnicate>"
                  "</s:Body></s:Envelope>",
                  "unknown method"),
            0);
  CHECK_INT(m.kind, ACS_CWMP_UNKNOWN);
  CHECK_STR(m.unknown_method, "X_ACME_Frobnicate");
  CHECK_STR(m.id, "u1"); /* so that the ACS can answer 8000 with the right ID */
  CHECK_INT(m.ns, ACS_CWMP_NS_1_2);
  /* deprecated methods this codec does not implement are unknown too */
  CHECK_INT(parse("<s:Envelope xmlns:s=\"" SOAP_NS "\"><s:Body><c:GetOptionsResponse "
                  "xmlns:c=\"urn:dslforum-org:cwmp-1-0\"><OptionList/></c:GetOptionsResponse>"
                  "</s:Body></s:Envelope>",
                  "GetOptionsResponse"),
            0);
  CHECK_INT(m.kind, ACS_CWMP_UNKNOWN);
  CHECK_STR(m.unknown_method, "GetOptionsResponse");
  /* a cwmp:Fault element straight in the Body is not a SOAP Fault */
  int rc = parse("<s:Envelope xmlns:s=\"" SOAP_NS "\"><s:Body><c:Fault "
                 "xmlns:c=\"urn:dslforum-org:cwmp-1-0\"><FaultCode>9002</FaultCode></c:Fault>"
                 "</s:Body></s:Envelope>",
                 "cwmp:Fault in Body");
  CHECK(rc == 0 || rc == ACS_ERPC || rc == ACS_ESOAP);
  CHECK(m.kind != ACS_CWMP_FAULT);

  static const char *const empty[] = {
      "<s:Envelope xmlns:s=\"" SOAP_NS "\"><s:Body/></s:Envelope>",
      "<s:Envelope xmlns:s=\"" SOAP_NS "\"><s:Body></s:Body></s:Envelope>",
      "<s:Envelope xmlns:s=\"" SOAP_NS "\">\n <s:Body>\n  <!-- nothing -->\n </s:Body>\n</s:Envelope>\n",
      "<Envelope xmlns=\"" SOAP_NS "\"><Header/><Body/></Envelope>",
  };
  for (size_t i = 0; i < sizeof empty / sizeof empty[0]; i++) {
    CHECK_INT(parse(empty[i], "empty body"), 0);
    CHECK_INT(m.kind, ACS_CWMP_NONE);
    CHECK(m.unknown_method == NULL);
  }
}

/* ---- a CPE's SOAP fault with SetParameterValuesFault entries */
static void test_cpe_fault(void) {
  static const char xml[] =
      "<SOAP-ENV:Envelope xmlns:SOAP-ENV=\"" SOAP_NS "\" xmlns:cwmp=\"urn:dslforum-org:cwmp-1-0\">\n"
      "<SOAP-ENV:Header><cwmp:ID SOAP-ENV:mustUnderstand=\"1\">acs-77</cwmp:ID></SOAP-ENV:Header>\n"
      "<SOAP-ENV:Body>\n<SOAP-ENV:Fault>\n"
      "<faultcode>SOAP-ENV:Client</faultcode>\n<faultstring>CWMP fault</faultstring>\n"
      "<detail>\n<cwmp:Fault>\n<FaultCode>9003</FaultCode>\n<FaultString>Invalid arguments</FaultString>\n"
      "<SetParameterValuesFault>\n<ParameterName>InternetGatewayDevice.Time.NTPServer1</ParameterName>\n"
      "<FaultCode>9007</FaultCode>\n<FaultString>Invalid parameter value</FaultString>\n"
      "</SetParameterValuesFault>\n"
      "<SetParameterValuesFault>\n<ParameterName>InternetGatewayDevice.DeviceInfo.SerialNumber</ParameterName>\n"
      "<FaultCode>9008</FaultCode>\n<FaultString>Attempt to set a non-writable parameter</FaultString>\n"
      "</SetParameterValuesFault>\n"
      "<SetParameterValuesFault>\n<ParameterName>InternetGatewayDevice.X_Bogus</ParameterName>\n"
      "<FaultCode>9005</FaultCode>\n"
      "</SetParameterValuesFault>\n"
      "</cwmp:Fault>\n</detail>\n</SOAP-ENV:Fault>\n</SOAP-ENV:Body>\n</SOAP-ENV:Envelope>\n";
  CHECK_INT(parse(xml, "CPE fault"), 0);
  CHECK_INT(m.kind, ACS_CWMP_FAULT);
  CHECK_STR(m.id, "acs-77");
  CHECK_STR(m.u.fault.faultcode, "Client"); /* prefix dropped */
  CHECK_STR(m.u.fault.faultstring, "CWMP fault");
  CHECK_INT(m.u.fault.code, 9003);
  CHECK_STR(m.u.fault.string, "Invalid arguments");
  CHECK_INT(m.u.fault.spv_faults.n, 3);
  if (m.u.fault.spv_faults.n == 3) {
    CHECK_STR(m.u.fault.spv_faults.v[0].parameter_name, "InternetGatewayDevice.Time.NTPServer1");
    CHECK_INT(m.u.fault.spv_faults.v[0].code, 9007);
    CHECK_STR(m.u.fault.spv_faults.v[0].string, "Invalid parameter value");
    CHECK_INT(m.u.fault.spv_faults.v[1].code, 9008);
    CHECK_STR(m.u.fault.spv_faults.v[2].parameter_name, "InternetGatewayDevice.X_Bogus");
    CHECK_INT(m.u.fault.spv_faults.v[2].code, 9005);
    CHECK(m.u.fault.spv_faults.v[2].string == NULL || m.u.fault.spv_faults.v[2].string[0] == '\0');
  }
  /* a plain Fault 8005 from an ACS, default namespace for the SOAP elements */
  CHECK_INT(parse("<Envelope xmlns=\"" SOAP_NS "\"><Body><Fault><faultcode>Server</faultcode>"
                  "<faultstring>CWMP fault</faultstring><detail><Fault xmlns=\"urn:dslforum-org:cwmp-1-2\">"
                  "<FaultCode>8005</FaultCode><FaultString>Retry request</FaultString></Fault>"
                  "</detail></Fault></Body></Envelope>",
                  "8005 fault"),
            0);
  CHECK_INT(m.kind, ACS_CWMP_FAULT);
  CHECK_INT(m.ns, ACS_CWMP_NS_1_2);
  CHECK_INT(m.u.fault.code, 8005);
  CHECK_STR(m.u.fault.faultcode, "Server");
  CHECK_INT(m.u.fault.spv_faults.n, 0);
}

/* ---- ChangeDUState: operations told apart by xsi:type */
/* Regression, issue 11: a CPE that puts <detail><cwmp:Fault> inside
 * <faultstring> had its fault read as code 0, no string. */
static void test_fault_in_faultstring(void) {
  static const char xml[] =
      "<soap:Envelope xmlns:soap=\"" SOAP_NS "\" xmlns:cwmp=\"urn:dslforum-org:cwmp-1-0\">"
      "<soap:Body><soap:Fault><faultcode>Client</faultcode>"
      "<faultstring>CWMP fault<detail><cwmp:Fault><FaultCode>9005</FaultCode>"
      "<FaultString>Invalid parameter name</FaultString></cwmp:Fault></detail></faultstring>"
      "</soap:Fault></soap:Body></soap:Envelope>";
  CHECK_INT(parse(xml, "fault inside faultstring"), 0);
  CHECK_INT(m.kind, ACS_CWMP_FAULT);
  CHECK_INT(m.u.fault.code, 9005);
  CHECK_STR(m.u.fault.string, "Invalid parameter name");
}

static void test_change_du_state(void) {
  static const char xml[] =
      "<soap-env:Envelope xmlns:soap-env=\"" SOAP_NS "\" xmlns:cwmp=\"urn:dslforum-org:cwmp-1-2\" "
      "xmlns:xsi=\"" XSI_NS "\"><soap-env:Header><cwmp:ID soap-env:mustUnderstand=\"1\">du</cwmp:ID>"
      "</soap-env:Header><soap-env:Body><cwmp:ChangeDUState>"
      "<Operations xsi:type=\"cwmp:InstallOpStruct\"><URL>http://f/app.ipk</URL>"
      "<UUID>6ba7b810-9dad-11d1-80b4-00c04fd430c8</UUID><Username>u</Username>"
      "<Password>p</Password><ExecutionEnvRef>Device.SoftwareModules.ExecEnv.1</ExecutionEnvRef>"
      "</Operations>"
      "<Operations xsi:type=\"cwmp:UpdateOpStruct\"><UUID>6ba7b810-9dad-11d1-80b4-00c04fd430c8</UUID>"
      "<Version>2.0</Version></Operations>"
      "<Operations xsi:type=\"cwmp:UninstallOpStruct\"><UUID>F81D4FAE-7DEC-11D0-A765-00A0C91E6BF6</UUID>"
      "</Operations>"
      "<Operations xmlns:z=\"urn:dslforum-org:cwmp-1-2\" xsi:type=\"z:InstallOpStruct\">"
      "<URL>http://f/min.ipk</URL></Operations>"
      "<CommandKey>du-1</CommandKey></cwmp:ChangeDUState></soap-env:Body></soap-env:Envelope>";
  CHECK_INT(parse(xml, "ChangeDUState"), 0);
  CHECK_INT(m.kind, ACS_CWMP_CHANGE_DU_STATE);
  const acs_cwmp_change_du_state *c = &m.u.change_du_state;
  CHECK_STR(c->command_key, "du-1");
  CHECK_INT(c->operations.n, 4);
  if (c->operations.n != 4) return;
  const acs_cwmp_du_op *o = c->operations.v;
  CHECK_INT(o[0].kind, ACS_CWMP_DU_INSTALL);
  CHECK_STR(o[0].url, "http://f/app.ipk");
  CHECK_STR(o[0].uuid, "6ba7b810-9dad-11d1-80b4-00c04fd430c8");
  CHECK_STR(o[0].username, "u");
  CHECK_STR(o[0].password, "p");
  CHECK_STR(o[0].execution_env_ref, "Device.SoftwareModules.ExecEnv.1");
  CHECK(o[0].version == NULL);
  CHECK_INT(o[1].kind, ACS_CWMP_DU_UPDATE);
  CHECK_STR(o[1].version, "2.0");
  CHECK(o[1].url == NULL); /* absent stays NULL */
  CHECK(o[1].username == NULL);
  CHECK_INT(o[2].kind, ACS_CWMP_DU_UNINSTALL);
  CHECK_STR(o[2].uuid, "F81D4FAE-7DEC-11D0-A765-00A0C91E6BF6");
  CHECK(o[2].version == NULL);
  CHECK_INT(o[3].kind, ACS_CWMP_DU_INSTALL);
  CHECK_STR(o[3].url, "http://f/min.ipk");
  CHECK(o[3].uuid == NULL);

  /* an operation without a type cannot be told apart */
  int rc = parse("<s:Envelope xmlns:s=\"" SOAP_NS "\"><s:Body><c:ChangeDUState "
                 "xmlns:c=\"urn:dslforum-org:cwmp-1-2\"><Operations><URL>http://f/x</URL>"
                 "</Operations></c:ChangeDUState></s:Body></s:Envelope>",
                 "untyped operation (expected to fail)");
  CHECK_INT(rc, ACS_ERPC);
  CHECK(err.msg[0] != '\0');
}

/* ---- CPE requests seen in real sessions */
static void test_cpe_requests(void) {
  CHECK_INT(parse("<soapenv:Envelope xmlns:soapenv=\"" SOAP_NS "\" xmlns:cwmp=\"urn:dslforum-org:cwmp-1-0\">"
                  "<soapenv:Header><cwmp:ID soapenv:mustUnderstand=\"1\">tc</cwmp:ID></soapenv:Header>"
                  "<soapenv:Body><cwmp:TransferComplete><CommandKey>fw-1</CommandKey>"
                  "<FaultStruct><FaultCode>0</FaultCode><FaultString></FaultString></FaultStruct>"
                  "<StartTime>2026-11-28T10:00:00Z</StartTime><CompleteTime>2026-11-28T10:03:00Z</CompleteTime>"
                  "</cwmp:TransferComplete></soapenv:Body></soapenv:Envelope>",
                  "TransferComplete"),
            0);
  CHECK_INT(m.kind, ACS_CWMP_TRANSFER_COMPLETE);
  CHECK(acs_cwmp_is_cpe_request(m.kind));
  CHECK_STR(m.u.transfer_complete.command_key, "fw-1");
  CHECK_INT(m.u.transfer_complete.fault.code, 0);
  CHECK_STR(m.u.transfer_complete.fault.string, "");
  CHECK_STR(m.u.transfer_complete.complete_time, "2026-11-28T10:03:00Z");

  CHECK_INT(parse("<s:Envelope xmlns:s=\"" SOAP_NS "\" xmlns:e=\"" ENC_NS "\"><s:Body>"
                  "<c:GetParameterAttributesResponse xmlns:c=\"urn:dslforum-org:cwmp-1-0\">"
                  "<ParameterList e:arrayType=\"c:ParameterAttributeStruct[2]\">"
                  "<ParameterAttributeStruct><Name>A.B</Name><Notification>2</Notification>"
                  "<AccessList e:arrayType=\"xsd:string[1]\"><string>Subscriber</string></AccessList>"
                  "</ParameterAttributeStruct>"
                  "<ParameterAttributeStruct><Name>A.C</Name><Notification>0</Notification>"
                  "<AccessList/></ParameterAttributeStruct>"
                  "</ParameterList></c:GetParameterAttributesResponse></s:Body></s:Envelope>",
                  "GPA response"),
            0);
  CHECK_INT(m.kind, ACS_CWMP_GET_PARAMETER_ATTRIBUTES_RESPONSE);
  const acs_cwmp_gpa_response *g = &m.u.get_parameter_attributes_response;
  CHECK_INT(g->params.n, 2);
  if (g->params.n == 2) {
    CHECK_INT(g->params.v[0].notification, 2);
    CHECK_INT(g->params.v[0].access_list.n, 1);
    if (g->params.v[0].access_list.n == 1) CHECK_STR(g->params.v[0].access_list.v[0], "Subscriber");
    CHECK_INT(g->params.v[1].access_list.n, 0);
  }

  CHECK_INT(parse("<s:Envelope xmlns:s=\"" SOAP_NS "\"><s:Body>"
                  "<c:AutonomousDUStateChangeComplete xmlns:c=\"urn:dslforum-org:cwmp-1-2\">"
                  "<Results><UUID>6ba7b810-9dad-11d1-80b4-00c04fd430c8</UUID>"
                  "<DeploymentUnitRef>Device.SoftwareModules.DeploymentUnit.3</DeploymentUnitRef>"
                  "<Version>1.2</Version><CurrentState>Installed</CurrentState><Resolved>true</Resolved>"
                  "<ExecutionUnitRefList></ExecutionUnitRefList><StartTime>2026-11-28T10:00:00Z</StartTime>"
                  "<CompleteTime>2026-11-28T10:00:09Z</CompleteTime><Fault><FaultCode>0</FaultCode>"
                  "<FaultString/></Fault><OperationPerformed>Install</OperationPerformed></Results>"
                  "<Results><UUID>F81D4FAE-7DEC-11D0-A765-00A0C91E6BF6</UUID><DeploymentUnitRef/>"
                  "<Version/><CurrentState>Failed</CurrentState><Resolved>0</Resolved>"
                  "<ExecutionUnitRefList/><StartTime>0001-01-01T00:00:00Z</StartTime>"
                  "<CompleteTime>0001-01-01T00:00:00Z</CompleteTime><Fault><FaultCode>9026</FaultCode>"
                  "<FaultString>Duplicate Deployment Unit</FaultString></Fault>"
                  "<OperationPerformed>Install</OperationPerformed></Results>"
                  "</c:AutonomousDUStateChangeComplete></s:Body></s:Envelope>",
                  "AutonomousDUStateChangeComplete"),
            0);
  CHECK_INT(m.kind, ACS_CWMP_AUTONOMOUS_DU_STATE_CHANGE_COMPLETE);
  const acs_cwmp_autonomous_du_state_change_complete *a = &m.u.autonomous_du_state_change_complete;
  CHECK_INT(a->results.n, 2);
  if (a->results.n == 2) {
    CHECK_STR(a->results.v[0].deployment_unit_ref, "Device.SoftwareModules.DeploymentUnit.3");
    CHECK(a->results.v[0].resolved);
    CHECK_STR(a->results.v[0].operation_performed, "Install");
    CHECK_INT(a->results.v[1].fault.code, 9026);
    CHECK_STR(a->results.v[1].current_state, "Failed");
    CHECK(!a->results.v[1].resolved);
  }
}

int main(void) {
  acs_arena_init(&arena, 0);
  test_prefixes();
  test_namespaces();
  test_xsi_types();
  test_array_sizes();
  test_inform_times();
  test_lexical();
  test_real_inform();
  test_latin1();
  test_header();
  test_unknown_and_empty();
  test_cpe_fault();
  test_fault_in_faultstring();
  test_change_du_state();
  test_cpe_requests();
  acs_arena_reset(&arena);
  return acs_test_result("test_cwmp_parse");
}
