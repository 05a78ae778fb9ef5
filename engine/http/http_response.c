/* http_response.c: response serialisation, reason phrases, header lookup. */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/acs_err.h"
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

static void write_head(acs_buf *out, const acs_http_response *r, uint64_t content_length) {
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
  if (!no_body && content_length == ACS_HTTP_CHUNKED) {
    acs_buf_puts(out, "Transfer-Encoding: chunked\r\n");
  } else if (!no_body) {
    n = snprintf(line, sizeof line, "Content-Length: %llu\r\n", (unsigned long long)content_length);
    acs_buf_append(out, line, (size_t)n);
  }
  if (!r->keep_alive) acs_buf_puts(out, "Connection: close\r\n");
  if (r->extra_headers) acs_buf_puts(out, r->extra_headers);
  acs_buf_append(out, "\r\n", 2);
}

void acs_http_response_write(acs_buf *out, const acs_http_response *r) {
  bool no_body = (r->status >= 100 && r->status < 200) || r->status == 204 || r->status == 304;
  write_head(out, r, r->body_len);
  if (!no_body && r->body_len) acs_buf_append(out, r->body, r->body_len);
}

void acs_http_response_write_head(acs_buf *out, const acs_http_response *r,
                                  uint64_t content_length) {
  write_head(out, r, content_length);
}

size_t acs_http_chunk_head(char *buf, size_t n) {
  int k = n ? snprintf(buf, 20, "%zx\r\n", n) : snprintf(buf, 20, "0\r\n\r\n");
  return k > 0 ? (size_t)k : 0;
}

void acs_http_request_write(acs_buf *out, const acs_http_request *r) {
  acs_buf_printf(out, "%s %s HTTP/%d.%d\r\n", r->method, r->target, r->http_major, r->http_minor);
  for (size_t i = 0; i < r->n_headers; i++) {
    const char *n = r->headers[i].name;
    /* The body is written decoded, so its framing headers are replaced. */
    if (strcasecmp(n, "Content-Length") == 0 || strcasecmp(n, "Transfer-Encoding") == 0 ||
        strcasecmp(n, "Content-Encoding") == 0)
      continue;
    acs_buf_printf(out, "%s: %s\r\n", n, r->headers[i].value);
  }
  if (r->body_len || strcmp(r->method, "POST") == 0 || strcmp(r->method, "PUT") == 0)
    acs_buf_printf(out, "Content-Length: %zu\r\n", r->body_len);
  acs_buf_append(out, "\r\n", 2);
  if (r->body_len) acs_buf_append(out, r->body, r->body_len);
}

static int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

int acs_http_url_decode(const char *s, size_t n, bool plus_is_space, acs_buf *out) {
  for (size_t i = 0; i < n; i++) {
    char ch = s[i];
    if (ch == '%') {
      if (i + 2 >= n) return ACS_EINVAL;
      int hi = hexval(s[i + 1]);
      int lo = hexval(s[i + 2]);
      if (hi < 0 || lo < 0) return ACS_EINVAL;
      ch = (char)(hi << 4 | lo);
      if (ch == '\0') return ACS_EINVAL;
      i += 2;
    } else if (ch == '+' && plus_is_space) {
      ch = ' ';
    }
    acs_buf_putc(out, ch);
  }
  acs_buf_append(out, "", 0); /* NUL-terminated, "" included */
  return acs_buf_err(out);
}

void acs_http_url_encode(const char *s, acs_buf *out) {
  static const char hex[] = "0123456789ABCDEF";
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    unsigned char ch = *p;
    if ((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
        ch == '_' || ch == '.' || ch == '~' || ch == '-') {
      acs_buf_putc(out, (char)ch);
    } else {
      char esc[3] = {'%', hex[ch >> 4], hex[ch & 15]};
      acs_buf_append(out, esc, 3);
    }
  }
}

int acs_http_query_get(const char *query, const char *key, acs_buf *out) {
  size_t klen = strlen(key);
  const char *p = query ? query : "";
  while (*p) {
    const char *end = strchr(p, '&');
    size_t len = end ? (size_t)(end - p) : strlen(p);
    const char *eq = memchr(p, '=', len);
    size_t nlen = eq ? (size_t)(eq - p) : len;
    if (nlen == klen && memcmp(p, key, klen) == 0) {
      acs_buf_reset(out);
      if (!eq) return acs_http_url_decode("", 0, true, out);
      return acs_http_url_decode(eq + 1, len - nlen - 1, true, out);
    }
    if (!end) break;
    p = end + 1;
  }
  return ACS_ENOTFOUND;
}
