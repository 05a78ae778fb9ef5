/* acs_http.h: the pure HTTP/1.1 layer of acsd (requests in, responses out).
 *
 * Bytes in, structs out: no sockets, no loop, no Lua. The net layer feeds
 * whatever it read; the parser answers "need more", "a request is complete"
 * or "error, answer with this status". Built on llhttp; request bodies may be
 * chunked and/or gzip/deflate encoded (decoded here, with the body limit
 * applied after decompression too). One request at a time: after a request
 * completes the parser stops, and bytes that follow it (a pipelined request)
 * stay unconsumed until the caller has answered and calls acs_http_next(). */
#ifndef ACS_HTTP_H
#define ACS_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/acs_buf.h"

#define ACS_HTTP_MAX_HEADERS 64

typedef struct acs_http_limits {
  size_t max_head_bytes; /* request line + headers; default 16 KiB -> 431 */
  size_t max_body_bytes; /* after dechunking and decompression; default 1 MiB -> 413 */
} acs_http_limits;

#define ACS_HTTP_LIMITS_DEFAULT {16384, 1048576}

typedef struct acs_http_header {
  const char *name; /* NUL-terminated, as received */
  const char *value; /* NUL-terminated, leading/trailing blanks trimmed */
} acs_http_header;

typedef struct acs_http_request {
  const char *method; /* "GET", "POST", ... */
  const char *target; /* request target as received, e.g. "/api/v1/devices?limit=5" */
  const char *path;   /* target up to '?', percent-encoding kept */
  const char *query;  /* after '?', or "" */
  int http_major, http_minor;
  bool keep_alive; /* what the client asked for (HTTP/1.1 default, Connection) */
  acs_http_header headers[ACS_HTTP_MAX_HEADERS];
  size_t n_headers;
  const char *body; /* decoded body, NUL-terminated (not counted in body_len) */
  size_t body_len;
} acs_http_request;

typedef enum acs_http_status {
  ACS_HTTP_NEED_MORE = 0, /* all bytes consumed, request not complete yet */
  ACS_HTTP_REQUEST,       /* a request is complete: see acs_http_parser.req */
  ACS_HTTP_ERROR,         /* answer error_status and close the connection */
  ACS_HTTP_HEAD,          /* acs_http_report_heads: the head is complete, the body not yet */
} acs_http_status;

typedef struct acs_http_parser acs_http_parser; /* opaque */

acs_http_parser *acs_http_parser_new(const acs_http_limits *limits);
void acs_http_parser_free(acs_http_parser *p);

/* Feeds len bytes. *consumed is set to the bytes used. On ACS_HTTP_REQUEST
 * the bytes after *consumed belong to the next request: keep them, answer,
 * call acs_http_next() and feed them again. After ACS_HTTP_ERROR the parser
 * is dead (only acs_http_parser_free is valid). */
acs_http_status acs_http_feed(acs_http_parser *p, const char *data, size_t len, size_t *consumed);

/* The complete request, valid after ACS_HTTP_REQUEST until acs_http_next(). */
const acs_http_request *acs_http_request_get(const acs_http_parser *p);

/* Streamed bodies, opt-in per parser. With report_heads on, acs_http_feed()
 * also stops once a request's head is complete and returns ACS_HTTP_HEAD
 * (*consumed: the head's bytes); acs_http_head_get() then has the request
 * without its body. Before feeding on, the caller may call
 * acs_http_stream_body(): the body is then not kept but handed out as it
 * arrives, at most limit bytes in all (instead of max_body_bytes; 413 past
 * it), identity coding only (415 otherwise). Otherwise the body is read
 * whole as usual. Either way feeding ends with ACS_HTTP_REQUEST (or an
 * error); a streamed request's body and body_len are then empty. */
void acs_http_report_heads(acs_http_parser *p, bool on);
/* The request being read once its head is complete (its body not yet, or
 * not kept), or NULL. */
const acs_http_request *acs_http_head_get(const acs_http_parser *p);
/* Right after ACS_HTTP_HEAD: stream this request's body. 0, or ACS_ESTATE
 * when not at a head. */
int acs_http_stream_body(acs_http_parser *p, size_t limit);
/* Streaming: the body bytes decoded by the last acs_http_feed() (valid until
 * the next feed; take them after each), or NULL with *len 0. */
const char *acs_http_body_take(acs_http_parser *p, size_t *len);

/* Prepares for the next request on the same connection. */
void acs_http_next(acs_http_parser *p);
/* The complete request's body is no longer needed (the caller parsed it):
 * a large buffer is freed now rather than with the answer (the request's
 * body is then empty); a small one stays, for the next request. */
void acs_http_release_body(acs_http_parser *p);

/* True once any byte of a request has been seen (for 408 vs a quiet close of
 * an idle keep-alive connection). False again after acs_http_next(). */
bool acs_http_in_progress(const acs_http_parser *p);

/* After ACS_HTTP_ERROR: the status to answer (400, 408, 413, 415, 431, 501,
 * 505), an ACS_E* code and a human-readable reason. */
int acs_http_error_status(const acs_http_parser *p);
int acs_http_error_code(const acs_http_parser *p);
const char *acs_http_error_reason(const acs_http_parser *p);

/* Case-insensitive header lookup; first match or NULL. */
const char *acs_http_header_get(const acs_http_request *r, const char *name);

/* Standard reason phrase ("Not Found"), "Unknown" for unknown codes. */
const char *acs_http_reason(int status);

typedef struct acs_http_response {
  int status;
  const char *content_type; /* NULL: no Content-Type header */
  const char *body;         /* may be NULL when body_len is 0 */
  size_t body_len;
  bool keep_alive;           /* false adds "Connection: close" */
  const char *extra_headers; /* NULL or complete "Name: value\r\n" lines */
} acs_http_response;

/* Serialises a response (status line, Date-less headers, Content-Length,
 * body) into out. 1xx, 204 and 304 get no Content-Length and no body. */
void acs_http_response_write(acs_buf *out, const acs_http_response *r);
/* The head only (status line and headers, the blank line) with
 * Content-Length: content_length, whatever r->body_len says: for a body
 * written in pieces, or for an answer to HEAD. ACS_HTTP_CHUNKED instead
 * writes Transfer-Encoding: chunked (a body of unknown length, each piece
 * a chunk: acs_http_chunk_head). */
#define ACS_HTTP_CHUNKED UINT64_MAX
void acs_http_response_write_head(acs_buf *out, const acs_http_response *r,
                                  uint64_t content_length);
/* The line before a chunk of n bytes ("%zx\r\n") into buf (at least 20
 * bytes); n = 0 is the last chunk's, which ends the body ("0\r\n\r\n").
 * Returns its length. Every other chunk is followed by "\r\n". */
size_t acs_http_chunk_head(char *buf, size_t n);

/* Percent-decodes n bytes of s (a path segment or a query value; with
 * plus_is_space, '+' decodes to ' ' as in form-encoded queries) into out.
 * Returns 0, ACS_EINVAL for a malformed escape or a decoded NUL, or
 * ACS_ENOMEM. */
int acs_http_url_decode(const char *s, size_t n, bool plus_is_space, acs_buf *out);
/* Percent-encodes s for a URL path segment or query value: every byte
 * outside [A-Za-z0-9_.~-] becomes %XX. */
void acs_http_url_encode(const char *s, acs_buf *out);
/* The value of key in a query string ("a=1&b=2"), decoded into out. Returns
 * 0, ACS_ENOTFOUND, ACS_EINVAL (bad escape) or ACS_ENOMEM. */
int acs_http_query_get(const char *query, const char *key, acs_buf *out);

/* Serialises a parsed request back to HTTP/1.1 bytes: request line, the
 * headers as received except the body's framing (Content-Length,
 * Transfer-Encoding, Content-Encoding), a Content-Length for the decoded
 * body, the body. Parsing the output again yields the same request (used to
 * hand a connection to another worker with the request already read). */
void acs_http_request_write(acs_buf *out, const acs_http_request *r);

#endif
