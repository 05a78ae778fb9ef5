/* fuzz_http.c: libFuzzer target for the HTTP/1.1 request parser.
 *
 * The input is a byte stream from a client (possibly several pipelined
 * requests). It is parsed whole, in pieces whose sizes derive from the first
 * input bytes, and one byte at a time, with the default limits and with
 * small ones (1 KiB head, 4 KiB body) so that the limit paths are reached.
 * Every way of splitting must give the same transcript (requests, their
 * fields, where each ended, the error status); any disagreement or broken
 * invariant abort()s. Each request is also answered through
 * acs_http_response_write. A third way reports heads and streams the body
 * of every POST and PUT (within twice the body limit): the streamed bytes,
 * however they were cut, must be the same too. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/acs_buf.h"
#include "http/acs_http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_REQUIRE(c)                                                             \
  do {                                                                              \
    if (!(c)) {                                                                     \
      fprintf(stderr, "fuzz_http: invariant failed: %s (line %d)\n", #c, __LINE__); \
      abort();                                                                      \
    }                                                                               \
  } while (0)

static void check_response(const acs_http_request *r, int status) {
  acs_buf out = ACS_BUF_INIT;
  acs_http_response resp = {
      .status = status,
      .content_type = r ? "text/xml; charset=\"utf-8\"" : "text/plain",
      .body = r ? r->body : NULL,
      .body_len = r ? r->body_len : 0,
      .keep_alive = r ? r->keep_alive : false,
      .extra_headers = r && r->n_headers ? "X-Echo: 1\r\n" : NULL,
  };
  acs_http_response_write(&out, &resp);
  FUZZ_REQUIRE(acs_buf_err(&out) == 0);
  FUZZ_REQUIRE(out.len > 17 && memcmp(out.data, "HTTP/1.1 ", 9) == 0);
  bool bodiless = (status >= 100 && status < 200) || status == 204 || status == 304;
  const char *end = memmem(out.data, out.len, "\r\n\r\n", 4);
  FUZZ_REQUIRE(end != NULL);
  size_t head_len = (size_t)(end - out.data) + 4;
  FUZZ_REQUIRE(out.len - head_len == (bodiless ? 0 : resp.body_len));
  /* only the head: the echoed body may say anything */
  FUZZ_REQUIRE((memmem(out.data, head_len, "Content-Length: ", 16) != NULL) == !bodiless);
  FUZZ_REQUIRE((memmem(out.data, head_len, "Connection: close\r\n", 19) != NULL) ==
               !resp.keep_alive);
  acs_buf_free(&out);
}

static void check_request(const acs_http_request *r, const acs_http_limits *lim) {
  FUZZ_REQUIRE(r != NULL && r->method && r->target && r->path && r->query && r->body);
  FUZZ_REQUIRE(r->body_len <= lim->max_body_bytes);
  FUZZ_REQUIRE(r->body[r->body_len] == '\0');
  FUZZ_REQUIRE(r->n_headers <= ACS_HTTP_MAX_HEADERS);
  FUZZ_REQUIRE(strlen(r->path) <= strlen(r->target));
  FUZZ_REQUIRE(strncmp(r->path, r->target, strlen(r->path)) == 0);
  FUZZ_REQUIRE(r->http_major == 1 && (r->http_minor == 0 || r->http_minor == 1));
  size_t head = strlen(r->method) + strlen(r->target);
  for (size_t i = 0; i < r->n_headers; i++) {
    const acs_http_header *h = &r->headers[i];
    FUZZ_REQUIRE(h->name && h->value && h->name[0] != '\0');
    FUZZ_REQUIRE(acs_http_header_get(r, h->name) != NULL);
    size_t vl = strlen(h->value);
    FUZZ_REQUIRE(vl == 0 || (h->value[0] != ' ' && h->value[vl - 1] != ' '));
    head += strlen(h->name) + vl;
  }
  FUZZ_REQUIRE(head <= lim->max_head_bytes);
}

/* Feeds the stream in pieces (piece 0: whole; otherwise sizes drawn from
 * seed, at most maxpiece) and writes a transcript. */
static void run(const uint8_t *in, size_t len, const acs_http_limits *lim, size_t maxpiece,
                uint32_t seed, bool stream, acs_buf *out) {
  acs_http_parser *p = acs_http_parser_new(lim);
  FUZZ_REQUIRE(p != NULL);
  acs_http_report_heads(p, stream);
  acs_buf streamed = ACS_BUF_INIT;
  FUZZ_REQUIRE(!acs_http_in_progress(p));
  size_t pos = 0, delivered = 0;
  uint32_t rng = seed | 1;
  while (delivered < len || pos < len) {
    size_t piece = len - delivered;
    if (maxpiece) {
      rng ^= rng << 13;
      rng ^= rng >> 17;
      rng ^= rng << 5;
      size_t k = 1 + rng % maxpiece;
      if (piece > k) piece = k;
    }
    delivered += piece;
    for (;;) {
      size_t c = (size_t)-1;
      acs_http_status st = acs_http_feed(p, (const char *)in + pos, delivered - pos, &c);
      FUZZ_REQUIRE(c <= delivered - pos);
      pos += c;
      size_t n;
      const char *piece_data = acs_http_body_take(p, &n);
      FUZZ_REQUIRE(stream || n == 0);
      if (n) acs_buf_append(&streamed, piece_data, n);
      if (st == ACS_HTTP_HEAD) {
        FUZZ_REQUIRE(stream);
        const acs_http_request *h = acs_http_head_get(p);
        FUZZ_REQUIRE(h && h->method && h->path && acs_http_request_get(p) == NULL);
        acs_buf_printf(out, "HEAD %s @%zu\n", h->method, pos);
        if (!strcmp(h->method, "POST") || !strcmp(h->method, "PUT"))
          FUZZ_REQUIRE(acs_http_stream_body(p, lim->max_body_bytes * 2) == 0);
        continue;
      }
      if (st == ACS_HTTP_ERROR) {
        int s = acs_http_error_status(p);
        FUZZ_REQUIRE(s == 400 || s == 413 || s == 415 || s == 431 || s == 500 || s == 501 ||
                     s == 505);
        FUZZ_REQUIRE(acs_http_error_code(p) < 0);
        FUZZ_REQUIRE(acs_http_error_reason(p) != NULL);
        acs_buf_printf(out, "E%d\n", s);
        FUZZ_REQUIRE(acs_http_feed(p, "x", 1, &c) == ACS_HTTP_ERROR && c == 0);
        acs_http_parser_free(p);
        acs_buf_free(&streamed); /* how much came before the error may vary */
        return;
      }
      if (st == ACS_HTTP_NEED_MORE) {
        FUZZ_REQUIRE(pos == delivered);
        FUZZ_REQUIRE(acs_http_request_get(p) == NULL);
        break;
      }
      FUZZ_REQUIRE(st == ACS_HTTP_REQUEST);
      FUZZ_REQUIRE(acs_http_in_progress(p));
      const acs_http_request *r = acs_http_request_get(p);
      check_request(r, lim);
      acs_buf_printf(out, "R %s %s|%s|%s %d.%d %d @%zu\n", r->method, r->target, r->path, r->query,
                     r->http_major, r->http_minor, r->keep_alive, pos);
      for (size_t i = 0; i < r->n_headers; i++)
        acs_buf_printf(out, "H %s: %s\n", r->headers[i].name, r->headers[i].value);
      acs_buf_printf(out, "B %zu:", r->body_len);
      acs_buf_append(out, r->body, r->body_len);
      acs_buf_printf(out, "\nS %zu:", streamed.len);
      acs_buf_append(out, streamed.data, streamed.len);
      acs_buf_putc(out, '\n');
      FUZZ_REQUIRE(streamed.len <= lim->max_body_bytes * 2);
      acs_buf_reset(&streamed);
      check_response(r, 100 + (int)(r->body_len % 500));
      acs_http_next(p);
      FUZZ_REQUIRE(!acs_http_in_progress(p));
      FUZZ_REQUIRE(acs_http_request_get(p) == NULL);
    }
  }
  acs_buf_printf(out, "N%d\n", acs_http_in_progress(p));
  acs_http_parser_free(p);
  acs_buf_free(&streamed);
}

static void compare(const acs_buf *a, const acs_buf *b, const char *what) {
  if (a->len == b->len && (a->len == 0 || memcmp(a->data, b->data, a->len) == 0)) return;
  fprintf(stderr, "fuzz_http: %s disagrees with whole input\n--- whole:\n%.*s\n--- %s:\n%.*s\n",
          what, (int)(a->len > 2000 ? 2000 : a->len), a->data ? a->data : "", what,
          (int)(b->len > 2000 ? 2000 : b->len), b->data ? b->data : "");
  abort();
}

static void pass(const uint8_t *data, size_t size, const acs_http_limits *lim, bool stream) {
  acs_buf whole = ACS_BUF_INIT, split = ACS_BUF_INIT;
  run(data, size, lim, 0, 0, stream, &whole);
  /* split sizes from the first bytes of the input */
  uint32_t seed = size >= 2 ? (uint32_t)data[0] << 8 | data[1] : 7;
  size_t maxpiece = size >= 3 ? 1 + data[2] % 97 : 3;
  run(data, size, lim, maxpiece, seed, stream, &split);
  compare(&whole, &split, "split");
  if (size <= 8192) {
    acs_buf_reset(&split);
    run(data, size, lim, 1, 1, stream, &split);
    compare(&whole, &split, "byte-at-a-time");
  }
  acs_buf_free(&whole);
  acs_buf_free(&split);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  acs_http_limits def = ACS_HTTP_LIMITS_DEFAULT;
  acs_http_limits small = {1024, 4096};
  pass(data, size, &def, false);
  pass(data, size, &small, false);
  pass(data, size, &small, true);
  /* error responses as the server would send them */
  static const int statuses[] = {204, 304, 400, 408, 413, 415, 431, 503, 505};
  check_response(NULL, statuses[size % (sizeof statuses / sizeof statuses[0])]);
  return 0;
}
