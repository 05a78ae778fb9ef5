/* acs_endpoint.h: the stateless part of answering a CPE: the response an
 * ACS gives to each CPE request on its own (InformResponse, the matching
 * response to TransferComplete and the other CPE requests, 204 to the empty
 * POST, fault 8000 to methods an ACS does not serve, a SOAP fault 8003 (HTTP
 * 500) or a 400 to malformed envelopes). The stateful sessions
 * (acs_session.h) build on it. */
#ifndef ACS_ENDPOINT_H
#define ACS_ENDPOINT_H

#include "core/acs_buf.h"
#include "cwmp/acs_cwmp.h"

/* What an ACS answers to one CPE message, statelessly: the matching
 * response (InformResponse with MaxEnvelopes 1, GetRPCMethodsResponse with
 * the methods this ACS serves, TransferCompleteResponse, ...) in the CPE's
 * namespace with its cwmp:ID (REPLY_MSG, rsp filled; rsp points into in),
 * nothing (REPLY_NONE: empty body, a fault or a response from the CPE), or
 * fault 8000 (REPLY_FAULT: a method an ACS does not serve). */
typedef enum acs_cwmp_reply {
  ACS_CWMP_REPLY_MSG = 0,
  ACS_CWMP_REPLY_NONE,
  ACS_CWMP_REPLY_FAULT,
} acs_cwmp_reply;
acs_cwmp_reply acs_cwmp_endpoint_reply(const acs_cwmp_msg *in, acs_cwmp_msg *rsp);

/* The answer to an envelope acs_cwmp_parse() refused with rc (in as the
 * parser left it: its namespace and ID when it got that far): a CWMP fault
 * 8003 (HTTP 500) for well-formed XML that is no valid CWMP message, else a
 * plain-text 400. Returns the HTTP status; the body is appended to out. */
int acs_cwmp_endpoint_refuse(const acs_cwmp_msg *in, int rc, const acs_cwmp_error *err,
                             acs_buf *out);

/* The pure core of the handler, for tests: the HTTP status and body (in out)
 * answering one POST body. Returns the HTTP status (200, 204, 400, 500). */
int acs_cwmp_endpoint_answer(const char *body, size_t len, acs_buf *out);

#endif
