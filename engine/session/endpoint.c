#include "session/acs_endpoint.h"

#include <string.h>

#include "core/acs_err.h"
#include "core/acs_log.h"

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

acs_cwmp_reply acs_cwmp_endpoint_reply(const acs_cwmp_msg *in, acs_cwmp_msg *rsp) {
  memset(rsp, 0, sizeof *rsp);
  rsp->ns = in->ns;
  rsp->id = in->id;
  switch (in->kind) {
    case ACS_CWMP_NONE:
    case ACS_CWMP_FAULT: /* a CPE fault answers an RPC of ours */
      return ACS_CWMP_REPLY_NONE;
    case ACS_CWMP_INFORM:
      rsp->kind = ACS_CWMP_INFORM_RESPONSE;
      rsp->u.inform_response.max_envelopes = 1;
      return ACS_CWMP_REPLY_MSG;
    case ACS_CWMP_GET_RPC_METHODS:
      rsp->kind = ACS_CWMP_GET_RPC_METHODS_RESPONSE;
      rsp->u.get_rpc_methods_response.methods.v = (char **)acs_methods;
      rsp->u.get_rpc_methods_response.methods.n = sizeof acs_methods / sizeof acs_methods[0];
      return ACS_CWMP_REPLY_MSG;
    case ACS_CWMP_KICKED:
      rsp->kind = ACS_CWMP_KICKED_RESPONSE;
      rsp->u.kicked_response.next_url = in->u.kicked.next;
      return ACS_CWMP_REPLY_MSG;
    case ACS_CWMP_TRANSFER_COMPLETE:
    case ACS_CWMP_AUTONOMOUS_TRANSFER_COMPLETE:
    case ACS_CWMP_REQUEST_DOWNLOAD:
    case ACS_CWMP_DU_STATE_CHANGE_COMPLETE:
    case ACS_CWMP_AUTONOMOUS_DU_STATE_CHANGE_COMPLETE:
      rsp->kind = acs_cwmp_response_kind(in->kind);
      return ACS_CWMP_REPLY_MSG;
    default:
      /* a response to an RPC we did not send: nothing to answer */
      if (in->kind != ACS_CWMP_UNKNOWN && acs_cwmp_response_kind(in->kind) == ACS_CWMP_UNKNOWN)
        return ACS_CWMP_REPLY_NONE;
      return ACS_CWMP_REPLY_FAULT;
  }
}

int acs_cwmp_endpoint_refuse(const acs_cwmp_msg *in, int rc, const acs_cwmp_error *err,
                             acs_buf *out) {
  int status;
  if (rc == ACS_ESOAP || rc == ACS_ENS || rc == ACS_ERPC) {
    /* Well-formed XML that is not a valid CWMP message: a CWMP fault. */
    status = fault(in, 8003, err->msg, out);
  } else {
    acs_buf_printf(out, "malformed envelope: %s\n", err->msg);
    status = 400;
  }
  acs_log(ACS_LOG_INFO, "cwmp", "refused envelope: %s", err->msg);
  return status;
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
    status = acs_cwmp_endpoint_refuse(&in, rc, &err, out);
    goto done;
  }

  switch (acs_cwmp_endpoint_reply(&in, &rsp)) {
    case ACS_CWMP_REPLY_MSG:
      break;
    case ACS_CWMP_REPLY_NONE:
      status = 204;
      goto done;
    case ACS_CWMP_REPLY_FAULT:
      status = fault(&in, 8000, NULL, out);
      goto done;
  }
  if (acs_cwmp_encode(&rsp, out)) status = 500;
done:
  acs_arena_reset(&arena);
  return status;
}
