/* http_response.c: response serialisation, reason phrases, header lookup. */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "http/acs_http.h"

const char *acs_http_reason(int status) {
  switch (status) {
    case 100:
      return "Continue";
    case 101:
      return "Switching Protocols";
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 202:
      return "Accepted";
    case 204:
      return "No Content";
    case 206:
      return "Partial Content";
    case 301:
      return "Moved Permanently";
    case 302:
      return "Found";
    case 303:
      return "See Other";
    case 304:
      return "Not Modified";
    case 307:
      return "Temporary Redirect";
    case 308:
      return "Permanent Redirect";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 406:
      return "Not Acceptable";
    case 408:
      return "Request Timeout";
    case 409:
      return "Conflict";
    case 410:
      return "Gone";
    case 411:
      return "Length Required";
    case 412:
      return "Precondition Failed";
    case 413:
      return "Payload Too Large";
    case 414:
      return "URI Too Long";
    case 415:
      return "Unsupported Media Type";
    case 416:
      return "Range Not Satisfiable";
    case 417:
      return "Expectation Failed";
    case 422:
      return "Unprocessable Entity";
    case 428:
      return "Precondition Required";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    case 505:
      return "HTTP Version Not Supported";
    default:
      return "Unknown";
  }
}

const char *acs_http_header_get(const acs_http_request *r, const char *name) {
  for (size_t i = 0; i < r->n_headers; i++)
    if (strcasecmp(r->headers[i].name, name) == 0) return r->headers[i].value;
  return NULL;
}

void acs_http_response_write(acs_buf *out, const acs_http_response *r) {
  bool no_body = (r->status >= 100 && r->status < 200) || r->status == 204 || r->status == 304;
  char line[64];
  int n = snprintf(line, sizeof line, "HTTP/1.1 %03d ", r->status);
  acs_buf_append(out, line, (size_t)n);
  acs_buf_puts(out, acs_http_reason(r->status));
  acs_buf_append(out, "\r\n", 2);
  if (r->content_type) {
    acs_buf_puts(out, "Content-Type: ");
    acs_buf_puts(out, r->content_type);
    acs_buf_append(out, "\r\n", 2);
  }
  if (!no_body) {
    n = snprintf(line, sizeof line, "Content-Length: %zu\r\n", r->body_len);
    acs_buf_append(out, line, (size_t)n);
  }
  if (!r->keep_alive) acs_buf_puts(out, "Connection: close\r\n");
  if (r->extra_headers) acs_buf_puts(out, r->extra_headers);
  acs_buf_append(out, "\r\n", 2);
  if (!no_body && r->body_len) acs_buf_append(out, r->body, r->body_len);
}
