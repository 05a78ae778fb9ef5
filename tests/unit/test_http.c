/* test_http.c: the HTTP/1.1 request parser and response writer.
 *
 * Most inputs go through check_splits(): parsed whole, one byte at a time and
 * in several hundred random splits, the transcript (requests with all their
 * fields, where each ended, or the error) must be identical. */
#include <stdint.h>
#include <time.h>
#include <zlib.h>

#include "acs_test.h"
#include "core/acs_buf.h"
#include "core/acs_err.h"
#include "http/acs_http.h"

#define N_RANDOM_SPLITS 300

static const acs_http_limits def_limits = ACS_HTTP_LIMITS_DEFAULT;

/* ---- helpers ---- */

static uint64_t rng_next(uint64_t *s) { /* xorshift64* */
  *s ^= *s >> 12;
  *s ^= *s << 25;
  *s ^= *s >> 27;
  return *s * 2685821657736338717ULL;
}

enum { SPLIT_WHOLE, SPLIT_BYTES, SPLIT_RANDOM };

/* Feeds in as a connection would deliver it (pieces chosen by mode), the way
 * the server uses the parser: unconsumed bytes after a request are fed again
 * after acs_http_next(). Writes a transcript to out; returns the number of
 * requests, or -status on error. */
static int run(const char *in, size_t len, const acs_http_limits *lim, int mode, uint64_t seed,
               acs_buf *out) {
  acs_http_parser *p = acs_http_parser_new(lim);
  size_t pos = 0, delivered = 0;
  int nreq = 0, result = 0;
  uint64_t rng = seed * 0x9E3779B97F4A7C15ULL + 1;
  size_t maxpiece = 1 + (size_t)(rng_next(&rng) % 64);
  if (rng_next(&rng) % 4 == 0) maxpiece = 1 + (size_t)(rng_next(&rng) % 4096);
  while (delivered < len || pos < len) {
    size_t piece = len - delivered;
    if (mode == SPLIT_BYTES && piece > 1) piece = 1;
    if (mode == SPLIT_RANDOM) {
      size_t r = 1 + (size_t)(rng_next(&rng) % maxpiece);
      if (piece > r) piece = r;
    }
    delivered += piece;
    for (;;) {
      size_t c = 12345;
      acs_http_status st = acs_http_feed(p, in + pos, delivered - pos, &c);
      if (c > delivered - pos) {
        acs_buf_printf(out, "BAD consumed %zu > %zu\n", c, delivered - pos);
        result = -1;
        goto done;
      }
      pos += c;
      if (st == ACS_HTTP_ERROR) {
        /* where an error is noticed within the bytes fed may vary: not recorded */
        acs_buf_printf(out, "ERROR %d %s\n", acs_http_error_status(p),
                       acs_errname(acs_http_error_code(p)));
        result = -acs_http_error_status(p);
        goto done;
      }
      if (st == ACS_HTTP_NEED_MORE) {
        if (pos != delivered) acs_buf_printf(out, "BAD need-more left %zu\n", delivered - pos);
        break;
      }
      const acs_http_request *r = acs_http_request_get(p);
      acs_buf_printf(out, "REQ %s %s|%s|%s %d.%d ka=%d at=%zu\n", r->method, r->target, r->path,
                     r->query, r->http_major, r->http_minor, r->keep_alive, pos);
      for (size_t i = 0; i < r->n_headers; i++)
        acs_buf_printf(out, " H %s=%s\n", r->headers[i].name, r->headers[i].value);
      acs_buf_printf(out, " B %zu:", r->body_len);
      acs_buf_append(out, r->body, r->body_len);
      acs_buf_printf(out, "|nul=%d\n", r->body[r->body_len] == '\0');
      nreq++;
      acs_http_next(p);
      if (acs_http_in_progress(p)) acs_buf_puts(out, "BAD in progress after next\n");
    }
  }
  result = nreq;
  acs_buf_printf(out, "END in_progress=%d\n", acs_http_in_progress(p));
done:
  acs_http_parser_free(p);
  return result;
}

/* Parses whole, byte by byte and in random splits; all transcripts must
 * agree. Returns the whole-input result of run() and its transcript. */
static int check_splits_lim(const char *in, size_t len, const acs_http_limits *lim, int n_random,
                            acs_buf *whole) {
  acs_buf_reset(whole);
  int r0 = run(in, len, lim, SPLIT_WHOLE, 0, whole);
  acs_buf t = ACS_BUF_INIT;
  int r1 = run(in, len, lim, SPLIT_BYTES, 0, &t);
  CHECK_INT(r1, r0);
  CHECK(t.len == whole->len && memcmp(t.data, whole->data, t.len) == 0);
  if (t.len != whole->len || memcmp(t.data, whole->data, t.len) != 0)
    fprintf(stderr, "whole:\n%s\nbytewise:\n%s\n", whole->data, t.data);
  int bad = 0;
  for (int i = 0; i < n_random && bad < 3; i++) {
    acs_buf_reset(&t);
    int ri = run(in, len, lim, SPLIT_RANDOM, (uint64_t)i + 1, &t);
    if (ri != r0 || t.len != whole->len || memcmp(t.data, whole->data, t.len) != 0) {
      bad++;
      fprintf(stderr, "split seed %d differs:\n%s\nwhole:\n%s\n", i + 1, t.data, whole->data);
    }
  }
  CHECK_INT(bad, 0);
  acs_buf_free(&t);
  return r0;
}

static int check_splits(const char *in, size_t len, acs_buf *whole) {
  return check_splits_lim(in, len, &def_limits, N_RANDOM_SPLITS, whole);
}

static bool contains(const acs_buf *b, const char *s) { return b->data && strstr(b->data, s); }

/* Feeds everything at once and returns the parser (for field checks). */
static acs_http_parser *parse(const char *in, size_t len, const acs_http_limits *lim,
                              acs_http_status *st, size_t *consumed) {
  acs_http_parser *p = acs_http_parser_new(lim ? lim : &def_limits);
  *st = acs_http_feed(p, in, len, consumed);
  return p;
}

static void make_post(acs_buf *b, const char *headers, const void *body, size_t n) {
  acs_buf_printf(b, "POST /cwmp HTTP/1.1\r\nHost: acs\r\n%sContent-Length: %zu\r\n\r\n", headers,
                 n);
  acs_buf_append(b, body, n);
}

static void make_chunked(acs_buf *b, const char *headers, const void *body, size_t n,
                         size_t chunk) {
  acs_buf_printf(b, "POST /cwmp HTTP/1.1\r\nHost: acs\r\n%sTransfer-Encoding: chunked\r\n\r\n",
                 headers);
  const char *s = body;
  for (size_t off = 0; off < n; off += chunk) {
    size_t k = n - off < chunk ? n - off : chunk;
    acs_buf_printf(b, "%zx\r\n", k);
    acs_buf_append(b, s + off, k);
    acs_buf_puts(b, "\r\n");
  }
  acs_buf_puts(b, "0\r\n\r\n");
}

/* Compresses with deflate: wbits 15+16 gzip, 15 zlib, -15 raw. */
static size_t zpack(const void *in, size_t n, int wbits, unsigned char **out) {
  z_stream z;
  memset(&z, 0, sizeof z);
  if (deflateInit2(&z, 9, Z_DEFLATED, wbits, 8, Z_DEFAULT_STRATEGY) != Z_OK) abort();
  size_t cap = deflateBound(&z, (uLong)n);
  *out = malloc(cap);
  z.next_in = (unsigned char *)in;
  z.avail_in = (uInt)n;
  z.next_out = *out;
  z.avail_out = (uInt)cap;
  if (deflate(&z, Z_FINISH) != Z_STREAM_END) abort();
  size_t len = z.total_out;
  deflateEnd(&z);
  return len;
}

static char *cwmp_body(size_t *n) {
  acs_buf b = ACS_BUF_INIT;
  acs_buf_puts(
      &b,
      "<?xml version=\"1.0\"?>\n<soap:Envelope xmlns:soap=\"http://schemas.xmlsoap.org/soap/"
      "envelope/\" xmlns:cwmp=\"urn:dslforum-org:cwmp-1-0\"><soap:Body><cwmp:Inform>");
  for (int i = 0; i < 200; i++)
    acs_buf_printf(&b,
                   "<ParameterValueStruct><Name>Device.X.%d.Value</Name><Value>%d</Value>"
                   "</ParameterValueStruct>\n",
                   i, i * 7919 % 1000);
  acs_buf_puts(&b, "</cwmp:Inform></soap:Body></soap:Envelope>\n");
  return acs_buf_steal(&b, n);
}

/* ---- request parsing ---- */

static void test_get(void) {
  const char *in =
      "GET /api/v1/devices?limit=5&cursor=abc HTTP/1.1\r\n"
      "Host: localhost:7557\r\n"
      "Authorization:   Bearer tok123 \t\r\n"
      "Accept: application/json\r\n"
      "X-Empty:\r\n"
      "\r\n";
  acs_http_status st;
  size_t c;
  acs_http_parser *p = parse(in, strlen(in), NULL, &st, &c);
  CHECK_INT(st, ACS_HTTP_REQUEST);
  CHECK_INT(c, strlen(in));
  const acs_http_request *r = acs_http_request_get(p);
  CHECK(r != NULL);
  if (r) {
    CHECK_STR(r->method, "GET");
    CHECK_STR(r->target, "/api/v1/devices?limit=5&cursor=abc");
    CHECK_STR(r->path, "/api/v1/devices");
    CHECK_STR(r->query, "limit=5&cursor=abc");
    CHECK_INT(r->http_major, 1);
    CHECK_INT(r->http_minor, 1);
    CHECK(r->keep_alive);
    CHECK_INT(r->n_headers, 4);
    CHECK_STR(r->headers[0].name, "Host");
    CHECK_STR(r->headers[0].value, "localhost:7557");
    CHECK_STR(r->headers[1].value, "Bearer tok123"); /* trimmed both sides */
    CHECK_STR(r->headers[3].name, "X-Empty");
    CHECK_STR(r->headers[3].value, "");
    /* case-insensitive lookup, first match, NULL when absent */
    CHECK_STR(acs_http_header_get(r, "authorization"), "Bearer tok123");
    CHECK_STR(acs_http_header_get(r, "AUTHORIZATION"), "Bearer tok123");
    CHECK_STR(acs_http_header_get(r, "hOsT"), "localhost:7557");
    CHECK(acs_http_header_get(r, "Cookie") == NULL);
    CHECK_INT(r->body_len, 0);
    CHECK(r->body && r->body[0] == '\0');
  }
  CHECK(acs_http_in_progress(p));
  /* without acs_http_next() the parser keeps the request and consumes nothing */
  CHECK_INT(acs_http_feed(p, "GET", 3, &c), ACS_HTTP_REQUEST);
  CHECK_INT(c, 0);
  acs_http_next(p);
  CHECK(!acs_http_in_progress(p));
  CHECK(acs_http_request_get(p) == NULL);
  acs_http_parser_free(p);

  acs_buf t = ACS_BUF_INIT;
  CHECK_INT(check_splits(in, strlen(in), &t), 1);
  CHECK(contains(&t,
                 "REQ GET /api/v1/devices?limit=5&cursor=abc|/api/v1/devices|limit=5&cursor=abc"));

  /* no query: "" */
  const char *in2 = "GET /health HTTP/1.1\r\n\r\n";
  p = parse(in2, strlen(in2), NULL, &st, &c);
  CHECK_INT(st, ACS_HTTP_REQUEST);
  r = acs_http_request_get(p);
  if (r) {
    CHECK_STR(r->path, "/health");
    CHECK_STR(r->query, "");
    CHECK_INT(r->n_headers, 0);
  }
  acs_http_parser_free(p);
  acs_buf_free(&t);
}

static void test_post(void) {
  size_t n;
  char *body = cwmp_body(&n);
  acs_buf in = ACS_BUF_INIT;
  make_post(&in,
            "User-Agent: cpe-sim/1.0\r\nSOAPAction: \"\"\r\nCookie: acs=1.2.abcdef\r\n"
            "Content-Type: text/xml; charset=\"utf-8\"\r\n",
            body, n);
  acs_http_status st;
  size_t c;
  acs_http_parser *p = parse(in.data, in.len, NULL, &st, &c);
  CHECK_INT(st, ACS_HTTP_REQUEST);
  CHECK_INT(c, in.len);
  const acs_http_request *r = acs_http_request_get(p);
  if (r) {
    CHECK_STR(r->method, "POST");
    CHECK_STR(r->path, "/cwmp");
    CHECK_INT(r->body_len, n);
    CHECK(memcmp(r->body, body, n) == 0);
    CHECK_INT(r->body[n], 0);
    CHECK_STR(acs_http_header_get(r, "soapaction"), "\"\"");
    CHECK_STR(acs_http_header_get(r, "cookie"), "acs=1.2.abcdef");
  }
  acs_http_parser_free(p);

  acs_buf t = ACS_BUF_INIT;
  CHECK_INT(check_splits(in.data, in.len, &t), 1);
  CHECK(contains(&t, "REQ POST /cwmp|/cwmp| 1.1 ka=1"));

  /* an empty POST (CPE: "I have nothing more") */
  const char *empty = "POST /cwmp HTTP/1.1\r\nHost: acs\r\nContent-Length: 0\r\n\r\n";
  CHECK_INT(check_splits(empty, strlen(empty), &t), 1);
  CHECK(contains(&t, " B 0:|nul=1\n"));

  /* Expect: 100-continue needs no interim response and parses normally */
  acs_buf_reset(&in);
  make_post(&in, "Expect: 100-continue\r\n", "<x/>", 4);
  CHECK_INT(check_splits(in.data, in.len, &t), 1);
  CHECK(contains(&t, " B 4:<x/>|nul=1\n"));
  acs_buf_free(&t);
  acs_buf_free(&in);
  free(body);
}

static void test_chunked(void) {
  size_t n;
  char *body = cwmp_body(&n);
  acs_buf in = ACS_BUF_INIT, t = ACS_BUF_INIT;
  size_t sizes[] = {1, 7, 100, 4096, 100000};
  for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
    acs_buf_reset(&in);
    make_chunked(&in, "", body, n, sizes[i]);
    acs_http_status st;
    size_t c;
    acs_http_parser *p = parse(in.data, in.len, NULL, &st, &c);
    CHECK_INT(st, ACS_HTTP_REQUEST);
    const acs_http_request *r = acs_http_request_get(p);
    CHECK(r && r->body_len == n && memcmp(r->body, body, n) == 0 && r->body[n] == '\0');
    acs_http_parser_free(p);
    if (sizes[i] >= 100) CHECK_INT(check_splits_lim(in.data, in.len, &def_limits, 50, &t), 1);
  }

  /* chunk extensions (llhttp 8.1 takes one per chunk) and trailers */
  const char *ext =
      "POST /cwmp HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
      "5;name=value\r\nhello\r\n"
      "1;quoted=\"a b\"\r\n \r\n"
      "05;flag\r\nworld\r\n"
      "0\r\nX-Checksum: 1234\r\nX-Other: z\r\n\r\n";
  CHECK_INT(check_splits(ext, strlen(ext), &t), 1);
  CHECK(contains(&t, " B 11:hello world|nul=1\n"));
  CHECK(!contains(&t, "X-Checksum")); /* trailers are framing, not headers */
  CHECK(contains(&t, "END in_progress=0"));

  /* HTTP/1.1 chunked with a bad chunk size: 400 */
  const char *bad = "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n";
  CHECK_INT(check_splits(bad, strlen(bad), &t), -400);

  /* a transfer coding other than chunked: 501 */
  const char *te = "POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n";
  CHECK_INT(check_splits(te, strlen(te), &t), -501);
  acs_buf_free(&t);
  acs_buf_free(&in);
  free(body);
}

static void test_encodings(void) {
  size_t n;
  char *body = cwmp_body(&n);
  acs_buf in = ACS_BUF_INIT, t = ACS_BUF_INIT;
  struct {
    const char *ce;
    int wbits;
  } cases[] = {{"gzip", 15 + 16}, {"x-gzip", 15 + 16}, {"GZip", 15 + 16},
               {"deflate", 15},   {"deflate", -15},    {"identity, gzip", 15 + 16}};
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    unsigned char *z;
    size_t zn = zpack(body, n, cases[i].wbits, &z);
    CHECK(zn < n / 4);
    char hdr[128];
    snprintf(hdr, sizeof hdr, "Content-Encoding: %s\r\n", cases[i].ce);
    for (int chunked = 0; chunked < 2; chunked++) {
      acs_buf_reset(&in);
      if (chunked)
        make_chunked(&in, hdr, z, zn, 333);
      else
        make_post(&in, hdr, z, zn);
      acs_http_status st;
      size_t c;
      acs_http_parser *p = parse(in.data, in.len, NULL, &st, &c);
      CHECK_INT(st, ACS_HTTP_REQUEST);
      const acs_http_request *r = acs_http_request_get(p);
      CHECK(r && r->body_len == n && memcmp(r->body, body, n) == 0 && r->body[n] == '\0');
      acs_http_parser_free(p);
      CHECK_INT(check_splits_lim(in.data, in.len, &def_limits, 100, &t), 1);
    }
    free(z);
  }

  /* zlib's own compress() (zlib format) */
  uLongf zn = compressBound((uLong)n);
  unsigned char *z = malloc(zn);
  CHECK_INT(compress(z, &zn, (const Bytef *)body, (uLong)n), Z_OK);
  acs_buf_reset(&in);
  make_post(&in, "Content-Encoding: deflate\r\n", z, zn);
  CHECK_INT(check_splits(in.data, in.len, &t), 1);
  CHECK(contains(&t, "Device.X.199.Value"));
  free(z);

  /* concatenated gzip members decode as one body (as gunzip does) */
  unsigned char *g1, *g2;
  size_t n1 = zpack("hello ", 6, 31, &g1), n2 = zpack("world", 5, 31, &g2);
  acs_buf cat = ACS_BUF_INIT;
  acs_buf_append(&cat, g1, n1);
  acs_buf_append(&cat, g2, n2);
  acs_buf_reset(&in);
  make_post(&in, "Content-Encoding: gzip\r\n", cat.data, cat.len);
  CHECK_INT(check_splits(in.data, in.len, &t), 1);
  CHECK(contains(&t, " B 11:hello world|nul=1"));

  /* corrupt gzip: bad magic, bad CRC, truncated, trailing junk after zlib */
  unsigned char *gz;
  size_t gn = zpack(body, n, 31, &gz);
  acs_buf_reset(&in);
  gz[0] ^= 1;
  make_post(&in, "Content-Encoding: gzip\r\n", gz, gn);
  CHECK_INT(check_splits_lim(in.data, in.len, &def_limits, 50, &t), -400);
  CHECK(contains(&t, "ACS_EENCODING"));
  gz[0] ^= 1;
  gz[gn - 6] ^= 0x55; /* CRC32 */
  acs_buf_reset(&in);
  make_post(&in, "Content-Encoding: gzip\r\n", gz, gn);
  CHECK_INT(check_splits_lim(in.data, in.len, &def_limits, 50, &t), -400);
  gz[gn - 6] ^= 0x55;
  acs_buf_reset(&in);
  make_post(&in, "Content-Encoding: gzip\r\n", gz, gn / 2);
  CHECK_INT(check_splits_lim(in.data, in.len, &def_limits, 50, &t), -400);
  acs_buf_reset(&in);
  make_post(&in, "Content-Encoding: gzip\r\n", "not gzip at all", 15);
  CHECK_INT(check_splits(in.data, in.len, &t), -400);
  unsigned char *zz;
  size_t zzn = zpack("abc", 3, 15, &zz);
  acs_buf_reset(&cat);
  acs_buf_append(&cat, zz, zzn);
  acs_buf_append(&cat, "junk", 4);
  acs_buf_reset(&in);
  make_post(&in, "Content-Encoding: deflate\r\n", cat.data, cat.len);
  CHECK_INT(check_splits(in.data, in.len, &t), -400);
  /* two zlib streams back to back: deflate has no members, unlike gzip */
  unsigned char *zz2;
  size_t zz2n = zpack("def", 3, 15, &zz2);
  acs_buf_reset(&cat);
  acs_buf_append(&cat, zz, zzn);
  acs_buf_append(&cat, zz2, zz2n);
  acs_buf_reset(&in);
  make_post(&in, "Content-Encoding: deflate\r\n", cat.data, cat.len);
  CHECK_INT(check_splits(in.data, in.len, &t), -400);
  acs_buf_reset(&in);
  make_post(&in, "Content-Encoding: deflate\r\n", zz2, zz2n);
  CHECK_INT(check_splits(in.data, in.len, &t), 1);
  CHECK(contains(&t, " B 3:def|nul=1"));
  free(zz2);
  /* a one-byte deflate body cannot be a stream */
  acs_buf_reset(&in);
  make_post(&in, "Content-Encoding: deflate\r\n", "x", 1);
  CHECK_INT(check_splits(in.data, in.len, &t), -400);
  /* Content-Encoding with an empty body is just an empty body */
  acs_buf_reset(&in);
  make_post(&in, "Content-Encoding: gzip\r\n", "", 0);
  CHECK_INT(check_splits(in.data, in.len, &t), 1);

  /* unknown or stacked encodings: 415 */
  const char *ces[] = {"br", "compress", "gzip, deflate", "gzip, gzip", "zstd"};
  for (size_t i = 0; i < sizeof ces / sizeof ces[0]; i++) {
    char hdr[128];
    snprintf(hdr, sizeof hdr, "Content-Encoding: %s\r\n", ces[i]);
    acs_buf_reset(&in);
    make_post(&in, hdr, "abc", 3);
    acs_http_status st;
    size_t c;
    acs_http_parser *p = parse(in.data, in.len, NULL, &st, &c);
    CHECK_INT(st, ACS_HTTP_ERROR);
    CHECK_INT(acs_http_error_status(p), 415);
    CHECK_INT(acs_http_error_code(p), ACS_EENCODING);
    acs_http_parser_free(p);
  }
  free(gz);
  free(zz);
  free(g1);
  free(g2);
  acs_buf_free(&cat);
  acs_buf_free(&t);
  acs_buf_free(&in);
  free(body);
}

static void test_head_limits(void) {
  acs_buf in = ACS_BUF_INIT, t = ACS_BUF_INIT;
  /* one 20 KiB header: 431, cut exactly at the 16 KiB limit */
  acs_buf_puts(&in, "GET / HTTP/1.1\r\nX-Big: ");
  for (int i = 0; i < 20000; i++) acs_buf_putc(&in, 'a' + i % 26);
  acs_buf_puts(&in, "\r\n\r\n");
  CHECK_INT(check_splits_lim(in.data, in.len, &def_limits, 20, &t), -431);
  CHECK(contains(&t, "ERROR 431 ACS_EHDRSIZE\n"));
  acs_http_status st;
  size_t c;
  acs_http_parser *p = parse(in.data, in.len, NULL, &st, &c);
  CHECK_INT(st, ACS_HTTP_ERROR);
  CHECK_INT(c, 16384); /* cut exactly at the limit */
  acs_http_parser_free(p);

  /* a slowloris header that never ends: cut at the limit, bytes beyond are refused */
  p = acs_http_parser_new(NULL);
  size_t total = 0;
  st = acs_http_feed(p, "GET / HTTP/1.1\r\nX-Slow: ", 24, &c);
  total += c;
  for (int i = 0; i < 100000 && st == ACS_HTTP_NEED_MORE; i++) {
    st = acs_http_feed(p, "x", 1, &c);
    total += c;
  }
  CHECK_INT(st, ACS_HTTP_ERROR);
  CHECK_INT(acs_http_error_status(p), 431);
  CHECK_INT(total, 16384);
  CHECK_INT(acs_http_feed(p, "x", 1, &c), ACS_HTTP_ERROR); /* dead stays dead */
  acs_http_parser_free(p);

  /* exactly at the limit is fine, one byte more is not */
  acs_http_limits small = {256, 1024};
  for (int extra = 0; extra < 2; extra++) {
    acs_buf_reset(&in);
    acs_buf_puts(&in, "GET / HTTP/1.1\r\nX: ");
    while (in.len < 256 - 4 + (size_t)extra) acs_buf_putc(&in, 'v');
    acs_buf_puts(&in, "\r\n\r\n");
    CHECK_INT(check_splits_lim(in.data, in.len, &small, 50, &t), extra ? -431 : 1);
  }

  /* 64 headers pass, 65 are too many */
  for (int k = 64; k <= 65; k++) {
    acs_buf_reset(&in);
    acs_buf_puts(&in, "GET / HTTP/1.1\r\n");
    for (int i = 0; i < k; i++) acs_buf_printf(&in, "X-H%d: %d\r\n", i, i);
    acs_buf_puts(&in, "\r\n");
    int r = check_splits_lim(in.data, in.len, &def_limits, 30, &t);
    CHECK_INT(r, k == 64 ? 1 : -431);
    if (k == 64) CHECK(contains(&t, " H X-H63=63\n"));
  }
  acs_buf_free(&t);
  acs_buf_free(&in);
}

static void test_body_limits(void) {
  acs_buf in = ACS_BUF_INIT, t = ACS_BUF_INIT;
  /* Content-Length over the limit: 413 from the headers alone */
  const char *big = "POST /cwmp HTTP/1.1\r\nContent-Length: 1048577\r\n\r\n";
  acs_http_status st;
  size_t c;
  acs_http_parser *p = parse(big, strlen(big), NULL, &st, &c);
  CHECK_INT(st, ACS_HTTP_ERROR);
  CHECK_INT(acs_http_error_status(p), 413);
  CHECK_INT(acs_http_error_code(p), ACS_EBODYSIZE);
  acs_http_parser_free(p);
  const char *at = "POST /cwmp HTTP/1.1\r\nContent-Length: 1048576\r\n\r\n";
  p = parse(at, strlen(at), NULL, &st, &c);
  CHECK_INT(st, ACS_HTTP_NEED_MORE); /* at the limit: waits for the body */
  acs_http_parser_free(p);

  /* chunked: an announced chunk over the limit is refused before its data */
  const char *huge = "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n200000\r\nabc";
  CHECK_INT(check_splits(huge, strlen(huge), &t), -413);
  /* chunked: small chunks adding up past the limit */
  acs_http_limits lim = {16384, 10000};
  char *blob = malloc(20000);
  memset(blob, 'b', 20000);
  make_chunked(&in, "", blob, 20000, 999);
  CHECK_INT(check_splits_lim(in.data, in.len, &lim, 50, &t), -413);
  acs_buf_reset(&in);
  make_chunked(&in, "", blob, 10000, 999); /* exactly the limit */
  CHECK_INT(check_splits_lim(in.data, in.len, &lim, 50, &t), 1);
  /* gzip within the raw limit but over it once decoded */
  unsigned char *z;
  size_t zn = zpack(blob, 20000, 31, &z);
  acs_buf_reset(&in);
  make_post(&in, "Content-Encoding: gzip\r\n", z, zn);
  CHECK_INT(check_splits_lim(in.data, in.len, &lim, 50, &t), -413);
  free(z);
  zn = zpack(blob, 10000, 31, &z);
  acs_buf_reset(&in);
  make_post(&in, "Content-Encoding: gzip\r\n", z, zn);
  CHECK_INT(check_splits_lim(in.data, in.len, &lim, 50, &t), 1);
  free(z);
  free(blob);

  /* endless chunk framing (zero-padded sizes) and trailers are bounded too */
  acs_buf_reset(&in);
  acs_buf_puts(&in, "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n");
  for (int i = 0; i < 40000; i++) acs_buf_putc(&in, '0');
  acs_buf_puts(&in, "1\r\nx\r\n0\r\n\r\n");
  CHECK_INT(check_splits_lim(in.data, in.len, &def_limits, 20, &t), -413);
  acs_buf_reset(&in);
  acs_buf_puts(&in, "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n");
  for (int i = 0; i < 2000; i++) acs_buf_printf(&in, "X-Trailer-%d: value\r\n", i);
  acs_buf_puts(&in, "\r\n");
  CHECK_INT(check_splits_lim(in.data, in.len, &def_limits, 20, &t), -431);
  acs_buf_free(&t);
  acs_buf_free(&in);
}

static void test_gzip_bomb(void) {
  /* 100 MiB of zeros, gzip-compressed, against a 1 MiB limit */
  z_stream z;
  memset(&z, 0, sizeof z);
  CHECK_INT(deflateInit2(&z, 9, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY), Z_OK);
  size_t cap = 1 << 20;
  unsigned char *zeros = calloc(1, 1 << 20), *out = malloc(cap);
  z.next_out = out;
  z.avail_out = (uInt)cap;
  for (int i = 0; i < 100; i++) {
    z.next_in = zeros;
    z.avail_in = 1 << 20;
    CHECK_INT(deflate(&z, i == 99 ? Z_FINISH : Z_NO_FLUSH), i == 99 ? Z_STREAM_END : Z_OK);
  }
  size_t zn = z.total_out;
  deflateEnd(&z);
  CHECK(zn < 200000);
  acs_buf in = ACS_BUF_INIT;
  make_post(&in, "Content-Encoding: gzip\r\n", out, zn);
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  acs_http_status st;
  size_t c;
  acs_http_parser *p = parse(in.data, in.len, NULL, &st, &c);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
  CHECK_INT(st, ACS_HTTP_ERROR);
  CHECK_INT(acs_http_error_status(p), 413);
  CHECK(secs < 2.0);
  acs_http_parser_free(p);
  /* fed in 1 KiB reads, the parser gives up after about 1 MiB of output, i.e.
   * after the first few KiB of the ~100 KiB compressed body */
  p = acs_http_parser_new(NULL);
  size_t off = 0;
  st = ACS_HTTP_NEED_MORE;
  while (st == ACS_HTTP_NEED_MORE && off < in.len) {
    size_t k = in.len - off < 1024 ? in.len - off : 1024;
    st = acs_http_feed(p, in.data + off, k, &c);
    off += k;
  }
  CHECK_INT(st, ACS_HTTP_ERROR);
  CHECK_INT(acs_http_error_status(p), 413);
  CHECK(off < 8192);
  acs_http_parser_free(p);
  acs_buf t = ACS_BUF_INIT;
  CHECK_INT(check_splits_lim(in.data, in.len, &def_limits, 5, &t), -413);
  acs_buf_free(&t);
  acs_buf_free(&in);
  free(zeros);
  free(out);
}

/* limits of SIZE_MAX ("no limit") must not overflow anywhere */
static void test_no_limits(void) {
  acs_http_limits none = {SIZE_MAX, SIZE_MAX};
  size_t n;
  char *body = cwmp_body(&n);
  unsigned char *z;
  size_t zn = zpack(body, n, 31, &z);
  acs_buf in = ACS_BUF_INIT, t = ACS_BUF_INIT;
  make_chunked(&in, "Content-Encoding: gzip\r\n", z, zn, 500);
  make_post(&in, "", "abc", 3);
  CHECK_INT(check_splits_lim(in.data, in.len, &none, 30, &t), 2);
  CHECK(contains(&t, "Device.X.199.Value"));
  CHECK(contains(&t, " B 3:abc|nul=1"));
  free(z);
  free(body);
  acs_buf_free(&in);
  acs_buf_free(&t);
}

static void test_pipelining(void) {
  const char *a = "POST /cwmp HTTP/1.1\r\nContent-Length: 5\r\n\r\nfirst";
  const char *b = "GET /second?x=1 HTTP/1.1\r\nHost: h\r\n\r\n";
  acs_buf in = ACS_BUF_INIT, t = ACS_BUF_INIT;
  acs_buf_puts(&in, a);
  acs_buf_puts(&in, b);
  acs_http_parser *p = acs_http_parser_new(NULL);
  size_t c;
  CHECK_INT(acs_http_feed(p, in.data, in.len, &c), ACS_HTTP_REQUEST);
  CHECK_INT(c, strlen(a));
  const acs_http_request *r = acs_http_request_get(p);
  CHECK(r && strcmp(r->method, "POST") == 0 && r->body_len == 5 &&
        memcmp(r->body, "first", 5) == 0);
  acs_http_next(p);
  size_t c2;
  CHECK_INT(acs_http_feed(p, in.data + c, in.len - c, &c2), ACS_HTTP_REQUEST);
  CHECK_INT(c2, strlen(b));
  r = acs_http_request_get(p);
  CHECK(r && strcmp(r->method, "GET") == 0 && strcmp(r->path, "/second") == 0);
  acs_http_next(p);
  CHECK_INT(acs_http_feed(p, "", 0, &c2), ACS_HTTP_NEED_MORE);
  CHECK(!acs_http_in_progress(p));
  acs_http_parser_free(p);

  /* three requests, one chunked and gzip-free, in any split */
  acs_buf_puts(
      &in,
      "POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\nGET /partial");
  CHECK_INT(check_splits(in.data, in.len, &t), 3);
  size_t l1 = strlen(a), l2 = l1 + strlen(b);
  char at1[32], at2[32];
  snprintf(at1, sizeof at1, "ka=1 at=%zu\n", l1);
  snprintf(at2, sizeof at2, "ka=1 at=%zu\n", l2);
  CHECK(contains(&t, at1) && contains(&t, at2));
  CHECK(strstr(t.data, "REQ POST /cwmp") < strstr(t.data, "REQ GET /second"));
  CHECK(strstr(t.data, "REQ GET /second") < strstr(t.data, "REQ POST /c|"));
  CHECK(contains(&t, "END in_progress=1")); /* "GET /partial" waits for more */
  acs_buf_free(&t);
  acs_buf_free(&in);
}

static void test_keep_alive(void) {
  struct {
    const char *req;
    bool ka;
  } cases[] = {
      {"GET / HTTP/1.1\r\n\r\n", true},
      {"GET / HTTP/1.1\r\nConnection: close\r\n\r\n", false},
      {"GET / HTTP/1.1\r\nConnection: Close\r\n\r\n", false},
      {"GET / HTTP/1.1\r\nConnection: keep-alive\r\n\r\n", true},
      {"GET / HTTP/1.0\r\n\r\n", false},
      {"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", true},
      {"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", true},
      {"GET / HTTP/1.0\r\nConnection: close\r\n\r\n", false},
      {"POST / HTTP/1.0\r\nContent-Length: 2\r\n\r\nhi", false},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    acs_http_status st;
    size_t c;
    acs_http_parser *p = parse(cases[i].req, strlen(cases[i].req), NULL, &st, &c);
    CHECK_INT(st, ACS_HTTP_REQUEST);
    const acs_http_request *r = acs_http_request_get(p);
    if (!r || r->keep_alive != cases[i].ka) fprintf(stderr, "keep-alive case %zu\n", i);
    CHECK(r && r->keep_alive == cases[i].ka);
    acs_http_parser_free(p);
  }
  /* a request after "Connection: close" still parses after next() */
  const char *two = "GET /a HTTP/1.1\r\nConnection: close\r\n\r\nGET /b HTTP/1.1\r\n\r\n";
  acs_buf t = ACS_BUF_INIT;
  CHECK_INT(check_splits(two, strlen(two), &t), 2);
  CHECK(contains(&t, "REQ GET /a|/a| 1.1 ka=0") && contains(&t, "REQ GET /b|/b| 1.1 ka=1"));
  acs_buf_free(&t);
}

static int status_of(const char *req) {
  acs_buf t = ACS_BUF_INIT;
  int r = check_splits_lim(req, strlen(req), &def_limits, 30, &t);
  acs_buf_free(&t);
  return r < 0 ? -r : 200;
}

static void test_errors(void) {
  /* request smuggling: Content-Length with Transfer-Encoding, either order */
  CHECK_INT(status_of("POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"
                      "3\r\nabc\r\n0\r\n\r\n"),
            400);
  CHECK_INT(status_of("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n"
                      "3\r\nabc\r\n0\r\n\r\n"),
            400);
  CHECK_INT(status_of("POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab"), 400);
  CHECK_INT(status_of("POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n"), 400);
  CHECK_INT(status_of("POST / HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n"), 400);
  /* versions */
  CHECK_INT(status_of("GET / HTTP/2.0\r\n\r\n"), 505);
  CHECK_INT(status_of("GET / HTTP/1.2\r\n\r\n"), 505);
  CHECK_INT(status_of("GET / HTTP/0.9\r\n\r\n"), 505);
  CHECK_INT(status_of("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), 505);
  CHECK_INT(status_of("GET / HTTP/1.x\r\n\r\n"), 400);
  /* regression (fuzz_http): no version at all was taken as HTTP/0.9 */
  CHECK_INT(status_of("POST /c1\r\nHost: acs\r\nContent-Length: 0\r\n\r\n"), 400);
  CHECK_INT(status_of("GET /\r\n\r\n"), 400);
  /* plain garbage */
  CHECK_INT(status_of("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"), 400); /* TLS hello */
  CHECK_INT(status_of("GET / HTTP/1.1\r\nBad Header: x\r\n\r\n"), 400);
  CHECK_INT(status_of("GET / HTTP/1.1\r\n: empty name\r\n\r\n"), 400);
  CHECK_INT(status_of("POST / HTTP/1.1\r\nContent-Length : 2\r\n\r\nab"), 400);
  CHECK_INT(status_of("GET / HTTP/1.1\r\nX: a\x01b\r\n\r\n"), 400);
  CHECK_INT(status_of("GET /\x01 HTTP/1.1\r\n\r\n"), 400);
  CHECK_INT(status_of("GET / HTTP/1.1\nHost: x\r\n\r\n"), 200); /* bare LF: llhttp is lenient */

  acs_http_status st;
  size_t c;
  acs_http_parser *p = parse("BREW / HTTP/1.1\r\n\r\n", 19, NULL, &st, &c);
  CHECK_INT(st, ACS_HTTP_ERROR);
  CHECK_INT(acs_http_error_status(p), 400);
  CHECK_INT(acs_http_error_code(p), ACS_EHTTP);
  CHECK(strlen(acs_http_error_reason(p)) > 0);
  CHECK(c <= 19);
  acs_http_parser_free(p);

  /* in_progress: false on a fresh parser, true after any byte */
  p = acs_http_parser_new(NULL);
  CHECK(!acs_http_in_progress(p));
  CHECK_INT(acs_http_feed(p, NULL, 0, &c), ACS_HTTP_NEED_MORE);
  CHECK(!acs_http_in_progress(p));
  CHECK_INT(acs_http_feed(p, "G", 1, &c), ACS_HTTP_NEED_MORE);
  CHECK_INT(c, 1);
  CHECK(acs_http_in_progress(p));
  CHECK_INT(acs_http_error_status(p), 0);
  acs_http_parser_free(p);
}

/* ---- responses ---- */

static void check_response(const acs_http_response *r, const char *expect) {
  acs_buf out = ACS_BUF_INIT;
  acs_http_response_write(&out, r);
  CHECK_INT(acs_buf_err(&out), 0);
  CHECK_STR(out.data, expect);
  acs_buf_free(&out);
}

static void test_response(void) {
  acs_http_response r200 = {200, "application/json", "{\"ok\":true}", 11, true, NULL};
  check_response(&r200,
                 "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n"
                 "\r\n{\"ok\":true}");
  acs_http_response r204 = {204, NULL, NULL, 0, true, "Set-Cookie: acs=1.2.x; Path=/\r\n"};
  check_response(&r204, "HTTP/1.1 204 No Content\r\nSet-Cookie: acs=1.2.x; Path=/\r\n\r\n");
  acs_http_response r204b = {204, "text/xml", "ignored", 7, true, NULL}; /* 204 never has a body */
  check_response(&r204b, "HTTP/1.1 204 No Content\r\nContent-Type: text/xml\r\n\r\n");
  acs_http_response r413 = {413, "text/plain", "too large\n", 10, false, NULL};
  check_response(&r413,
                 "HTTP/1.1 413 Payload Too Large\r\nContent-Type: text/plain\r\n"
                 "Content-Length: 10\r\nConnection: close\r\n\r\ntoo large\n");
  acs_http_response r503 = {503, NULL, NULL, 0, false, "Retry-After: 30\r\n"};
  check_response(&r503,
                 "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n"
                 "Connection: close\r\nRetry-After: 30\r\n\r\n");
  acs_http_response r304 = {304, NULL, NULL, 0, true, "ETag: \"1\"\r\n"};
  check_response(&r304, "HTTP/1.1 304 Not Modified\r\nETag: \"1\"\r\n\r\n");
  acs_http_response r100 = {100, NULL, NULL, 0, true, NULL};
  check_response(&r100, "HTTP/1.1 100 Continue\r\n\r\n");

  /* appends: a response after whatever is already in the buffer */
  acs_buf out = ACS_BUF_INIT;
  acs_buf_puts(&out, "X");
  acs_http_response r404 = {404, NULL, NULL, 0, true, NULL};
  acs_http_response_write(&out, &r404);
  CHECK_STR(out.data, "XHTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
  acs_buf_free(&out);

  struct {
    int code;
    const char *reason;
  } reasons[] = {{200, "OK"},
                 {201, "Created"},
                 {202, "Accepted"},
                 {204, "No Content"},
                 {301, "Moved Permanently"},
                 {302, "Found"},
                 {304, "Not Modified"},
                 {400, "Bad Request"},
                 {401, "Unauthorized"},
                 {403, "Forbidden"},
                 {404, "Not Found"},
                 {405, "Method Not Allowed"},
                 {408, "Request Timeout"},
                 {409, "Conflict"},
                 {411, "Length Required"},
                 {413, "Payload Too Large"},
                 {415, "Unsupported Media Type"},
                 {422, "Unprocessable Entity"},
                 {429, "Too Many Requests"},
                 {431, "Request Header Fields Too Large"},
                 {500, "Internal Server Error"},
                 {501, "Not Implemented"},
                 {502, "Bad Gateway"},
                 {503, "Service Unavailable"},
                 {504, "Gateway Timeout"},
                 {505, "HTTP Version Not Supported"},
                 {299, "Unknown"},
                 {0, "Unknown"}};
  for (size_t i = 0; i < sizeof reasons / sizeof reasons[0]; i++)
    CHECK_STR(acs_http_reason(reasons[i].code), reasons[i].reason);
}

int main(void) {
  test_get();
  test_post();
  test_chunked();
  test_encodings();
  test_head_limits();
  test_body_limits();
  test_gzip_bomb();
  test_no_limits();
  test_pipelining();
  test_keep_alive();
  test_errors();
  test_response();
  return acs_test_result("test_http");
}
