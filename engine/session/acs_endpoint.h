/* acs_endpoint.h: the CWMP listener's HTTP request handler.
 *
 * Today it answers each CPE request on its own: InformResponse to an Inform,
 * the matching response to TransferComplete and the other CPE requests,
 * 204 to the empty POST that ends the CPE's turn, fault 8000 to methods an
 * ACS does not serve, and a SOAP fault 8003 (HTTP 500) or a 400 to malformed
 * envelopes. Stateful sessions (cookies, queued RPCs, the store) build on it. */
#ifndef ACS_ENDPOINT_H
#define ACS_ENDPOINT_H

#include "core/acs_buf.h"
#include "cwmp/acs_cwmp.h"
#include "net/acs_server.h"

/* The CWMP listener's request handler (ctx: unused for now). */
void acs_cwmp_endpoint_handle(acs_conn *c, const acs_http_request *req, void *ctx);

/* The pure core of the handler, for tests: the HTTP status and body (in out)
 * answering one POST body. Returns the HTTP status (200, 204, 400, 500). */
int acs_cwmp_endpoint_answer(const char *body, size_t len, acs_buf *out);

#endif
