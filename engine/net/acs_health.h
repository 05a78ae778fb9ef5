/* acs_health.h: the basic health check every listener answers, and the
 * API listener's handler until the REST router exists. */
#ifndef ACS_HEALTH_H
#define ACS_HEALTH_H

#include <stdbool.h>

#include "net/acs_server.h"

/* Answers GET (or HEAD) /health with 200 {"status":"ok"} and returns true;
 * returns false, answering nothing, for any other request. Load balancers
 * probe both ports with it. */
bool acs_health_try(acs_conn *c, const acs_http_request *req);

/* Sends a JSON error: {"error":"<msg>"} (msg must need no escaping). */
void acs_respond_json_error(acs_conn *c, const acs_http_request *req, int status, const char *msg);

/* The API listener's handler for now: /health, else 404. */
void acs_api_basic_handle(acs_conn *c, const acs_http_request *req, void *ctx);

#endif
