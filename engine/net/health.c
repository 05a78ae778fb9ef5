/* health.c: GET /health on every listener, and a placeholder API handler. */
#include <stdio.h>
#include <string.h>

#include "net/acs_health.h"

bool acs_health_try(acs_conn *c, const acs_http_request *req) {
  if (strcmp(req->path, "/health") != 0) return false;
  bool head = strcmp(req->method, "HEAD") == 0;
  if (!head && strcmp(req->method, "GET") != 0) return false;
  static const char body[] = "{\"status\":\"ok\"}";
  acs_http_response r = {
      .status = 200,
      .content_type = "application/json",
      .body = head ? NULL : body,
      .body_len = head ? 0 : sizeof body - 1,
      .keep_alive = req->keep_alive,
      .extra_headers = "Cache-Control: no-store\r\n",
  };
  acs_conn_respond(c, &r);
  return true;
}

void acs_respond_json_error(acs_conn *c, const acs_http_request *req, int status, const char *msg) {
  char body[256];
  int n = snprintf(body, sizeof body, "{\"error\":\"%s\"}", msg);
  if (n < 0 || (size_t)n >= sizeof body) n = 0;
  acs_http_response r = {
      .status = status,
      .content_type = "application/json",
      .body = body,
      .body_len = (size_t)n,
      .keep_alive = req->keep_alive,
  };
  acs_conn_respond(c, &r);
}

void acs_api_basic_handle(acs_conn *c, const acs_http_request *req, void *ctx) {
  if (acs_health_try(c, req)) return;
  acs_respond_json_error(c, req, 404, "not found");
}
