#include "session/acs_endpoint.h"

#include <string.h>

#include "core/acs_err.h"
#include "core/acs_log.h"

#define XML_CONTENT_TYPE "text/xml; charset=\"utf-8\""

/* Methods this ACS answers (GetRPCMethodsResponse). */
static char *const acs_methods[] = {
    "Inform",
    "GetRPCMethods",
    "TransferComplete",
    "AutonomousTransferComplete",
    "RequestDownload",
    "DUStateChangeComplete",
    "AutonomousDUStateChangeComplete",
    "Kicked",
};

static int fault(const acs_cwmp_msg *in, uint32_t code, const char *text, acs_buf *out) {
  acs_cwmp_encode_fault(in->ns, in->id, code, text, out);
  return 500; /* SOAP 1.1: a Fault travels with HTTP 500 */
}

int acs_cwmp_endpoint_answer(const char *body, size_t len, acs_buf *out) {
  size_t i = 0;
  while (i < len && (body[i] == ' ' || body[i] == '\t' || body[i] == '\r' || body[i] == '\n'))
    i++;
  if (i == len) return 204; /* empty POST: the CPE has no more requests */

  acs_arena arena;
  acs_arena_init(&arena, 16384);
  acs_cwmp_msg in, rsp;
  acs_cwmp_error err;
  int status = 200;
  int rc = acs_cwmp_parse(body, len, &arena, NULL, &in, &err);
  if (rc) {
    if (rc == ACS_ESOAP || rc == ACS_ENS || rc == ACS_ERPC) {
      /* Well-formed XML that is not a valid CWMP message: a CWMP fault. */
      status = fault(&in, 8003, err.msg, out);
    } else {
      acs_buf_printf(out, "malformed envelope: %s\n", err.msg);
      status = 400;
    }
    acs_log(ACS_LOG_INFO, "cwmp", "refused envelope: %s", err.msg);
    goto done;
  }

  memset(&rsp, 0, sizeof rsp);
  rsp.ns = in.ns;
  rsp.id = in.id;
  switch (in.kind) {
  case ACS_CWMP_NONE:
    status = 204;
    goto done;
  case ACS_CWMP_INFORM:
    rsp.kind = ACS_CWMP_INFORM_RESPONSE;
    rsp.u.inform_response.max_envelopes = 1;
    break;
  case ACS_CWMP_GET_RPC_METHODS:
    rsp.kind = ACS_CWMP_GET_RPC_METHODS_RESPONSE;
    rsp.u.get_rpc_methods_response.methods.v = (char **)acs_methods;
    rsp.u.get_rpc_methods_response.methods.n = sizeof acs_methods / sizeof acs_methods[0];
    break;
  case ACS_CWMP_KICKED:
    rsp.kind = ACS_CWMP_KICKED_RESPONSE;
    rsp.u.kicked_response.next_url = in.u.kicked.next;
    break;
  case ACS_CWMP_TRANSFER_COMPLETE:
  case ACS_CWMP_AUTONOMOUS_TRANSFER_COMPLETE:
  case ACS_CWMP_REQUEST_DOWNLOAD:
  case ACS_CWMP_DU_STATE_CHANGE_COMPLETE:
  case ACS_CWMP_AUTONOMOUS_DU_STATE_CHANGE_COMPLETE:
    rsp.kind = acs_cwmp_response_kind(in.kind);
    break;
  case ACS_CWMP_FAULT:
    /* A CPE fault answers an RPC of ours; with none outstanding, end. */
    status = 204;
    goto done;
  default:
    if (in.kind != ACS_CWMP_UNKNOWN && acs_cwmp_response_kind(in.kind) == ACS_CWMP_UNKNOWN) {
      status = 204; /* a response to an RPC we did not send */
      goto done;
    }
    status = fault(&in, 8000, NULL, out);
    goto done;
  }
  if (acs_cwmp_encode(&rsp, out)) status = 500;
done:
  acs_arena_reset(&arena);
  return status;
}

void acs_cwmp_endpoint_handle(acs_conn *c, const acs_http_request *req, void *ctx) {
  acs_buf out = ACS_BUF_INIT;
  acs_http_response r = {.keep_alive = req->keep_alive};
  if (strcmp(req->method, "GET") == 0 && strcmp(req->path, "/health") == 0) {
    r.status = 200;
    r.content_type = "application/json";
    r.body = "{\"status\":\"ok\"}";
    r.body_len = strlen(r.body);
  } else if (strcmp(req->method, "POST") != 0) {
    r.status = 405;
    r.extra_headers = "Allow: POST\r\n";
  } else {
    r.status = acs_cwmp_endpoint_answer(req->body, req->body_len, &out);
    r.content_type = r.status == 400 ? "text/plain" : r.status == 204 ? NULL : XML_CONTENT_TYPE;
    r.body = out.data;
    r.body_len = out.len;
  }
  acs_conn_respond(c, &r);
  acs_buf_free(&out);
}
