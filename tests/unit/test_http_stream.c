/* test_http_stream.c: streamed request bodies (acs_http_report_heads), the
 * head-only response writer, Range values and entity-tag lists.
 *
 * A streamed request is fed whole, one byte at a time and in random pieces:
 * the head, the body handed out and what follows it (a pipelined request)
 * must be the same every time, and nothing of the body is kept. */
#include <stdint.h>

#include "acs_test.h"
#include "core/acs_buf.h"
#include "core/acs_err.h"
#include "http/acs_http.h"
#include "http/acs_http_range.h"

static uint64_t rng = 88172645463325252ULL;
static size_t rnd(size_t n) {
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return (size_t)(rng % n);
}

/* Feeds in by pieces (0: whole, 1: bytes, 2: random). Streams the body of
 * a POST (limit bytes), reads others whole. Transcript into out: "HEAD
 * method path", the streamed body as "BODY n" plus its bytes appended to
 * body, "REQ method path body_len", "ERR status". */
static void run(const char *in, size_t len, int mode, size_t limit, acs_buf *out, acs_buf *body) {
  acs_http_limits lim = {16384, 64};
  acs_http_parser *p = acs_http_parser_new(&lim);
  acs_http_report_heads(p, true);
  size_t pos = 0, avail = 0;
  size_t streamed = 0;
  while (pos < len) {
    size_t piece = mode == 0 ? len : mode == 1 ? 1 : 1 + rnd(40);
    avail = avail + piece > len ? len : avail + piece;
    for (;;) {
      size_t used = 0;
      acs_http_status st = acs_http_feed(p, in + pos, avail - pos, &used);
      pos += used;
      size_t n;
      const char *d = acs_http_body_take(p, &n);
      if (n) {
        acs_buf_append(body, d, n);
        streamed += n;
      }
      if (st == ACS_HTTP_HEAD) {
        const acs_http_request *h = acs_http_head_get(p);
        acs_buf_printf(out, "HEAD %s %s\n", h->method, h->path);
        if (strcmp(h->method, "POST") == 0) CHECK_INT(acs_http_stream_body(p, limit), 0);
        continue;
      }
      if (st == ACS_HTTP_REQUEST) {
        const acs_http_request *r = acs_http_request_get(p);
        acs_buf_printf(out, "BODY %zu\nREQ %s %s %zu\n", streamed, r->method, r->path, r->body_len);
        streamed = 0;
        acs_http_next(p);
        continue;
      }
      if (st == ACS_HTTP_ERROR) {
        acs_buf_printf(out, "ERR %d\n", acs_http_error_status(p));
        acs_http_parser_free(p);
        return;
      }
      break;
    }
  }
  acs_http_parser_free(p);
}

static void check_splits(const char *in, size_t len, size_t limit, const char *want,
                         const char *want_body) {
  for (int mode = 0; mode < 3; mode++) {
    for (int k = 0; k < (mode == 2 ? 50 : 1); k++) {
      acs_buf out = ACS_BUF_INIT, body = ACS_BUF_INIT;
      run(in, len, mode, limit, &out, &body);
      acs_buf_append(&out, "", 0);
      acs_buf_append(&body, "", 0);
      CHECK_STR(out.data, want);
      CHECK_STR(body.data, want_body);
      acs_buf_free(&out);
      acs_buf_free(&body);
    }
  }
}

static void test_streamed(void) {
  /* a POST body longer than max_body_bytes (64) streams within its own
   * limit; a GET after it is read as usual */
  static const char two[] =
      "POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n"
      "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrst"
      "uv"
      "wxyz!!"
      "GET /next HTTP/1.1\r\nHost: x\r\n\r\n";
  check_splits(two, sizeof two - 1, 1000,
               "HEAD POST /up\nBODY 100\nREQ POST /up 0\nHEAD GET /next\nBODY 0\nREQ GET /next 0\n",
               "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijk"
               "lmnopqrstuvwxyz!!");
  /* chunked, past the stream's limit: 413 */
  static const char chunked[] =
      "POST /up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
      "a\r\n0123456789\r\na\r\n0123456789\r\n0\r\n\r\n";
  check_splits(chunked, sizeof chunked - 1, 20, "HEAD POST /up\nBODY 20\nREQ POST /up 0\n",
               "01234567890123456789");
  acs_buf out = ACS_BUF_INIT, body = ACS_BUF_INIT;
  run(chunked, sizeof chunked - 1, 0, 15, &out, &body);
  acs_buf_append(&out, "", 0);
  CHECK(out.data && strstr(out.data, "ERR 413") != NULL);
  acs_buf_reset(&out);
  /* Content-Length over the stream's limit: 413 before any of the body */
  static const char big[] = "POST /up HTTP/1.1\r\nContent-Length: 1001\r\n\r\nabc";
  run(big, sizeof big - 1, 0, 1000, &out, &body);
  acs_buf_append(&out, "", 0);
  CHECK_STR(out.data, "HEAD POST /up\nERR 413\n");
  acs_buf_reset(&out);
  /* a content coding on a streamed body: 415 */
  static const char gz[] =
      "POST /up HTTP/1.1\r\nContent-Encoding: gzip\r\nContent-Length: 3\r\n\r\nabc";
  run(gz, sizeof gz - 1, 0, 1000, &out, &body);
  acs_buf_append(&out, "", 0);
  CHECK_STR(out.data, "HEAD POST /up\nERR 415\n");
  acs_buf_free(&out);
  acs_buf_free(&body);
  /* not streamed: the usual limit of the parser applies (64) */
  acs_http_limits lim = {16384, 64};
  acs_http_parser *p = acs_http_parser_new(&lim);
  acs_http_report_heads(p, true);
  size_t used;
  CHECK_INT(acs_http_feed(p, two, sizeof two - 1, &used), ACS_HTTP_HEAD);
  CHECK_INT(acs_http_feed(p, two + used, sizeof two - 1 - used, &used), ACS_HTTP_ERROR);
  CHECK_INT(acs_http_error_status(p), 413);
  acs_http_parser_free(p);
  /* heads are not reported unless asked */
  p = acs_http_parser_new(NULL);
  static const char get[] = "GET /a HTTP/1.1\r\n\r\n";
  CHECK_INT(acs_http_feed(p, get, sizeof get - 1, &used), ACS_HTTP_REQUEST);
  CHECK_INT(acs_http_stream_body(p, 10), ACS_ESTATE);
  acs_http_parser_free(p);
}

static void test_head_writer(void) {
  acs_http_response r = {206,  "application/octet-stream",        "ignored", 7,
                         true, "Content-Range: bytes 0-9/100\r\n"};
  acs_buf b = ACS_BUF_INIT;
  acs_http_response_write_head(&b, &r, 10);
  acs_buf_append(&b, "", 0);
  CHECK_STR(b.data,
            "HTTP/1.1 206 Partial Content\r\nContent-Type: application/octet-stream\r\n"
            "Content-Length: 10\r\nContent-Range: bytes 0-9/100\r\n\r\n");
  acs_buf_reset(&b);
  acs_http_response n = {304, NULL, NULL, 0, false, "ETag: \"x\"\r\n"};
  acs_http_response_write_head(&b, &n, 5000000000ULL);
  acs_buf_append(&b, "", 0);
  CHECK_STR(b.data, "HTTP/1.1 304 Not Modified\r\nConnection: close\r\nETag: \"x\"\r\n\r\n");
  acs_buf_reset(&b);
  acs_http_response h = {200, NULL, NULL, 0, true, NULL};
  acs_http_response_write_head(&b, &h, 5000000000ULL); /* past 32 bits */
  acs_buf_append(&b, "", 0);
  CHECK_STR(b.data, "HTTP/1.1 200 OK\r\nContent-Length: 5000000000\r\n\r\n");
  acs_buf_free(&b);
}

static void test_ranges(void) {
  struct {
    const char *v;
    uint64_t size;
    acs_http_range_kind kind;
    uint64_t first, last;
  } const cases[] = {
      {"bytes=0-499", 1000, ACS_RANGE_OK, 0, 499},
      {"bytes=500-", 1000, ACS_RANGE_OK, 500, 999},
      {"bytes=-200", 1000, ACS_RANGE_OK, 800, 999},
      {"bytes=-2000", 1000, ACS_RANGE_OK, 0, 999},
      {"bytes=900-5000", 1000, ACS_RANGE_OK, 900, 999},
      {"bytes=999-999", 1000, ACS_RANGE_OK, 999, 999},
      {" Bytes = 1 - 2 ", 1000, ACS_RANGE_OK, 1, 2},
      {"bytes=1000-", 1000, ACS_RANGE_UNSATISFIABLE, 0, 0},
      {"bytes=1000-1001", 1000, ACS_RANGE_UNSATISFIABLE, 0, 0},
      {"bytes=-0", 1000, ACS_RANGE_UNSATISFIABLE, 0, 0},
      {"bytes=0-", 0, ACS_RANGE_UNSATISFIABLE, 0, 0},
      {"bytes=-5", 0, ACS_RANGE_UNSATISFIABLE, 0, 0},
      {"bytes=5-2", 1000, ACS_RANGE_IGNORE, 0, 0},
      {"bytes=0-1,5-6", 1000, ACS_RANGE_IGNORE, 0, 0},
      {"items=0-1", 1000, ACS_RANGE_IGNORE, 0, 0},
      {"bytes=-", 1000, ACS_RANGE_IGNORE, 0, 0},
      {"bytes=a-b", 1000, ACS_RANGE_IGNORE, 0, 0},
      {"bytes0-1", 1000, ACS_RANGE_IGNORE, 0, 0},
      {"bytes=99999999999999999999-", 1000, ACS_RANGE_IGNORE, 0, 0},
      {"", 1000, ACS_RANGE_IGNORE, 0, 0},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    uint64_t a = 77, b = 77;
    acs_http_range_kind k = acs_http_range_parse(cases[i].v, cases[i].size, &a, &b);
    if (k != cases[i].kind) fprintf(stderr, "range '%s'\n", cases[i].v);
    CHECK_INT(k, cases[i].kind);
    if (k == ACS_RANGE_OK) {
      CHECK_INT(a, cases[i].first);
      CHECK_INT(b, cases[i].last);
    }
  }
}

static void test_etags(void) {
  const char *e = "\"abc\"";
  CHECK(acs_http_etag_match("\"abc\"", e, false));
  CHECK(acs_http_etag_match(" \"x\" , \"abc\"", e, false));
  CHECK(acs_http_etag_match("*", e, false));
  CHECK(acs_http_etag_match("W/\"abc\"", e, true));   /* If-None-Match: weak */
  CHECK(!acs_http_etag_match("W/\"abc\"", e, false)); /* If-Range: strong only */
  CHECK(!acs_http_etag_match("\"abcd\"", e, true));
  CHECK(!acs_http_etag_match("\"ab\"", e, true));
  CHECK(!acs_http_etag_match("abc", e, true));
  CHECK(!acs_http_etag_match("\"abc", e, true));
  CHECK(!acs_http_etag_match("Tue, 01 Dec 2026 08:00:00 GMT", e, false));
  CHECK(!acs_http_etag_match("", e, true));
}

int main(void) {
  test_streamed();
  test_head_writer();
  test_ranges();
  test_etags();
  return acs_test_result("test_http_stream");
}
