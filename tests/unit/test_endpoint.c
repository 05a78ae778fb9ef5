/* test_endpoint: the CWMP listener's answers to CPE requests, without
 * sockets: Inform -> InformResponse in the CPE's namespace with its ID,
 * empty POST -> 204, CPE requests -> their responses, unknown and
 * ACS-only methods -> fault 8000, malformed envelopes -> 8003 / 400. */
#include "acs_test.h"
#include "core/acs_err.h"
#include "session/acs_endpoint.h"

static const char *env_head =
    "<soapenv:Envelope xmlns:soapenv=\"http://schemas.xmlsoap.org/soap/envelope/\" "
    "xmlns:cwmp=\"urn:dslforum-org:cwmp-1-%d\"><soapenv:Header><cwmp:ID "
    "soapenv:mustUnderstand=\"1\">%s</cwmp:ID></soapenv:Header><soapenv:Body>%s"
    "</soapenv:Body></soapenv:Envelope>";

static int answer(int ver, const char *id, const char *body, acs_buf *out, acs_cwmp_msg *msg,
                  acs_arena *a) {
  acs_buf in = ACS_BUF_INIT;
  acs_buf_printf(&in, env_head, ver, id, body);
  acs_buf_reset(out);
  int status = acs_cwmp_endpoint_answer(in.data, in.len, out);
  acs_buf_free(&in);
  memset(msg, 0, sizeof *msg);
  if (out->len) {
    acs_cwmp_error err;
    int rc = acs_cwmp_parse(out->data, out->len, a, NULL, msg, &err);
    if (rc && status != 400) fprintf(stderr, "answer does not parse: %s\n", err.msg);
  }
  return status;
}

int main(void) {
  acs_arena a;
  acs_arena_init(&a, 0);
  acs_buf out = ACS_BUF_INIT;
  acs_cwmp_msg m;

  for (int ver = 0; ver <= 4; ver++) {
    int st = answer(ver, "id-7",
                    "<cwmp:Inform><DeviceId><Manufacturer>M</Manufacturer><OUI>0A0B0C</OUI>"
                    "<ProductClass>P</ProductClass><SerialNumber>S1</SerialNumber></DeviceId>"
                    "<Event><EventStruct><EventCode>1 BOOT</EventCode><CommandKey/></EventStruct>"
                    "</Event><MaxEnvelopes>1</MaxEnvelopes><CurrentTime>2026-01-01T00:00:00Z"
                    "</CurrentTime><RetryCount>0</RetryCount><ParameterList/></cwmp:Inform>",
                    &out, &m, &a);
    CHECK_INT(st, 200);
    CHECK_INT(m.kind, ACS_CWMP_INFORM_RESPONSE);
    CHECK_INT(m.ns, ver);
    CHECK_STR(m.id, "id-7");
    CHECK_INT(m.u.inform_response.max_envelopes, 1);
    CHECK(strncmp(out.data, "<?xml", 5) != 0);
  }

  CHECK_INT(acs_cwmp_endpoint_answer("", 0, &out), 204);
  CHECK_INT(acs_cwmp_endpoint_answer("  \r\n", 4, &out), 204);

  CHECK_INT(answer(2, "t", "<cwmp:TransferComplete><CommandKey>k</CommandKey><FaultStruct>"
                           "<FaultCode>0</FaultCode><FaultString/></FaultStruct><StartTime>"
                           "2026-01-01T00:00:00Z</StartTime><CompleteTime>2026-01-01T00:01:00Z"
                           "</CompleteTime></cwmp:TransferComplete>",
                   &out, &m, &a),
            200);
  CHECK_INT(m.kind, ACS_CWMP_TRANSFER_COMPLETE_RESPONSE);

  CHECK_INT(answer(1, "g", "<cwmp:GetRPCMethods/>", &out, &m, &a), 200);
  CHECK_INT(m.kind, ACS_CWMP_GET_RPC_METHODS_RESPONSE);
  CHECK(m.u.get_rpc_methods_response.methods.n >= 8);
  CHECK_STR(m.u.get_rpc_methods_response.methods.v[0], "Inform");

  CHECK_INT(answer(0, "k", "<cwmp:Kicked><Command>c</Command><Referer>r</Referer><Arg>a</Arg>"
                           "<Next>http://next/</Next></cwmp:Kicked>",
                   &out, &m, &a),
            200);
  CHECK_INT(m.kind, ACS_CWMP_KICKED_RESPONSE);
  CHECK_STR(m.u.kicked_response.next_url, "http://next/");

  /* An unknown method and an ACS->CPE request sent to the ACS: 8000. */
  CHECK_INT(answer(2, "u", "<cwmp:X_VENDOR_Frobnicate/>", &out, &m, &a), 500);
  CHECK_INT(m.kind, ACS_CWMP_FAULT);
  CHECK_INT(m.u.fault.code, 8000);
  CHECK_STR(m.id, "u");
  CHECK_INT(answer(2, "r", "<cwmp:Reboot><CommandKey/></cwmp:Reboot>", &out, &m, &a), 500);
  CHECK_INT(m.u.fault.code, 8000);

  /* Bad arguments: 8003 with the reason. */
  CHECK_INT(answer(2, "b", "<cwmp:Inform><MaxEnvelopes>many</MaxEnvelopes></cwmp:Inform>", &out,
                   &m, &a),
            500);
  CHECK_INT(m.u.fault.code, 8003);
  CHECK(m.u.fault.string && strstr(m.u.fault.string, "MaxEnvelopes"));

  /* Not XML: 400 with a reason. */
  const char *junk = "<soapenv:Envelope><unclosed>";
  CHECK_INT(acs_cwmp_endpoint_answer(junk, strlen(junk), &out), 400);
  CHECK(out.len > 0 && strstr(out.data, "malformed envelope"));
  const char *dtd = "<!DOCTYPE x [<!ENTITY e SYSTEM \"file:///etc/passwd\">]><x>&e;</x>";
  CHECK_INT(acs_cwmp_endpoint_answer(dtd, strlen(dtd), &out), 400);
  CHECK(strstr(out.data, "document type") != NULL);

  acs_buf_free(&out);
  acs_arena_reset(&a);
  return acs_test_result("test_endpoint");
}
