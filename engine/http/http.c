/* http.c: the HTTP/1.1 request parser (llhttp underneath, zlib for bodies).
 *
 * Limits are enforced on the byte stream, at positions that do not depend on
 * how the bytes were split across acs_http_feed() calls (the fuzzer checks
 * this): llhttp is fed in slices no longer than what the current budget
 * allows, and the budget is checked after each slice.
 *
 * - Header block (request line + headers): max_head_bytes wire bytes; a block
 *   still incomplete after that many bytes is cut with 431, so an endless
 *   header (slowloris) never grows beyond the limit.
 * - Body: max_body_bytes before decoding (Content-Length is checked up front,
 *   chunk sizes as they are announced) and again after decoding (inflate stops
 *   as soon as the output passes the limit): 413.
 * - Chunk framing (size lines, extensions, trailers): at most max_head_bytes
 *   plus 32 bytes per chunk beyond the data itself (endless extensions,
 *   zero-padded sizes or trailers would otherwise be unbounded): 413, or 431
 *   in the trailer section.
 *
 * One request at a time: on_headers_complete pauses llhttp so that the exact
 * end of the header block is known, on_message_complete pauses it so that the
 * bytes of a pipelined request stay unconsumed.
 *
 * Streamed bodies (opt-in, acs_http_report_heads): the pause at the end of
 * the header block is then also returned to the caller (ACS_HTTP_HEAD), and
 * the checks that depend on the body limit wait until the caller has said
 * how this request's body is taken (whole, or streamed with its own limit). */
#include <limits.h>
#include <llhttp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>

#include "core/acs_err.h"
#include "http/acs_http.h"

#define ACS_HTTP_CHUNK_OVERHEAD 32 /* framing bytes allowed per chunk */
#define ACS_HTTP_KEEP_BUF 8192     /* buffers larger than this are freed by next() */
#define ACS_HTTP_PREALLOC 65536    /* Content-Length preallocation cap */
#define ACS_HTTP_INFLATE_STEP 16384

typedef enum acs_http_enc {
  ACS_HTTP_ENC_IDENTITY = 0,
  ACS_HTTP_ENC_GZIP,
  ACS_HTTP_ENC_DEFLATE, /* zlib or, when the header says otherwise, raw */
} acs_http_enc;

struct acs_http_parser {
  llhttp_t ll;
  acs_http_limits lim;
  acs_http_request req;
  acs_buf head; /* target, header names and values, path, query: NUL-separated */
  acs_buf body; /* decoded body */
  size_t hdr_off[ACS_HTTP_MAX_HEADERS][2]; /* name, value offsets in head */
  size_t n_hdr;
  size_t target_off, field_off, value_off;
  size_t head_bytes; /* wire bytes of the header block so far */
  size_t body_wire;  /* wire bytes after the header block */
  size_t body_raw;   /* body bytes before content decoding */
  size_t n_chunks;
  bool in_progress;
  bool in_field;     /* inside a header name */
  bool headers_done; /* on_headers_complete has run */
  bool trailers;     /* the last chunk has been announced */
  bool resume;       /* llhttp was paused at the end of the header block */
  bool complete;     /* a request is ready */
  bool dead;         /* an error was returned */
  bool report_heads; /* acs_http_report_heads() */
  bool head_pending; /* ACS_HTTP_HEAD returned; checks of the body limit not run yet */
  bool streaming;    /* acs_http_stream_body(): the body is handed out, not kept */
  size_t body_limit; /* the configured max_body_bytes (a stream has its own) */
  int err_status, err_code;
  const char *err_reason;
  /* content decoding */
  acs_http_enc enc;
  bool z_init, z_ended;
  unsigned char prefix[2]; /* deflate: first two bytes, zlib or raw? */
  size_t n_prefix;
  z_stream zs;
};

static int fail(acs_http_parser *p, int status, int code, const char *reason) {
  if (!p->err_status) {
    p->err_status = status;
    p->err_code = code;
    p->err_reason = reason;
  }
  return -1;
}

static acs_http_parser *parser_of(llhttp_t *ll) { return (acs_http_parser *)ll->data; }

/* ---- content decoding ---- */

static bool token_eq(const char *s, size_t n, const char *tok) {
  return strlen(tok) == n && strncasecmp(s, tok, n) == 0;
}

/* Calls fn on each comma-separated, blank-trimmed, non-empty token of v;
 * stops and returns the first non-zero result. */
static int each_token(const char *v, int (*fn)(void *ctx, const char *s, size_t n), void *ctx) {
  while (*v) {
    while (*v == ' ' || *v == '\t' || *v == ',') v++;
    const char *s = v;
    while (*v && *v != ',') v++;
    const char *e = v;
    while (e > s && (e[-1] == ' ' || e[-1] == '\t')) e--;
    if (e > s) {
      int rc = fn(ctx, s, (size_t)(e - s));
      if (rc) return rc;
    }
  }
  return 0;
}

static int te_token(void *ctx, const char *s, size_t n) {
  (void)ctx;
  return token_eq(s, n, "chunked") ? 0 : -1;
}

static int ce_token(void *ctx, const char *s, size_t n) {
  acs_http_enc *enc = ctx, e;
  if (token_eq(s, n, "identity")) return 0;
  if (token_eq(s, n, "gzip") || token_eq(s, n, "x-gzip"))
    e = ACS_HTTP_ENC_GZIP;
  else if (token_eq(s, n, "deflate"))
    e = ACS_HTTP_ENC_DEFLATE;
  else
    return -1;
  if (*enc != ACS_HTTP_ENC_IDENTITY) return -1; /* stacked codings: not supported */
  *enc = e;
  return 0;
}

/* Starts inflating with the given window bits (zlib, gzip or raw). */
static int z_start(acs_http_parser *p, int wbits) {
  int rc;
  if (p->z_init) {
    rc = inflateReset2(&p->zs, wbits);
  } else {
    memset(&p->zs, 0, sizeof p->zs);
    rc = inflateInit2(&p->zs, wbits);
    p->z_init = rc == Z_OK;
  }
  if (rc != Z_OK) return fail(p, 500, ACS_ENOMEM, "cannot start inflate");
  p->z_ended = false;
  return 0;
}

static void z_release(acs_http_parser *p) {
  if (p->z_init) inflateEnd(&p->zs);
  p->z_init = false;
}

/* Inflates n bytes into the body, stopping as soon as the output passes the
 * body limit (a decompression bomb costs at most limit + 1 bytes). */
static int z_feed(acs_http_parser *p, const unsigned char *in, size_t n) {
  acs_buf *b = &p->body;
  size_t limit = p->lim.max_body_bytes;
  p->zs.next_in = (unsigned char *)in;
  p->zs.avail_in = 0;
  for (;;) {
    if (p->zs.avail_in == 0 && n > 0) {
      uInt step = n > UINT_MAX ? UINT_MAX : (uInt)n;
      p->zs.avail_in = step;
      n -= step;
    }
    if (p->z_ended) {
      if (p->zs.avail_in == 0) break;
      /* gzip allows concatenated members; zlib and raw deflate end once */
      if (p->enc != ACS_HTTP_ENC_GZIP)
        return fail(p, 400, ACS_EENCODING, "data after the end of the deflate stream");
      if (inflateReset(&p->zs) != Z_OK) return fail(p, 400, ACS_EENCODING, "inflate reset failed");
      p->z_ended = false;
    }
    /* room for at most one byte past the limit (no overflow with SIZE_MAX) */
    size_t room = limit - b->len;
    room = room >= ACS_HTTP_INFLATE_STEP ? ACS_HTTP_INFLATE_STEP : room + 1;
    if (acs_buf_reserve(b, room)) return fail(p, 500, ACS_ENOMEM, "out of memory");
    p->zs.next_out = (unsigned char *)b->data + b->len;
    p->zs.avail_out = (uInt)room;
    int rc = inflate(&p->zs, Z_NO_FLUSH);
    b->len += room - p->zs.avail_out;
    b->data[b->len] = '\0';
    if (b->len > limit) return fail(p, 413, ACS_EBODYSIZE, "decoded body too large");
    if (rc == Z_STREAM_END) {
      p->z_ended = true;
      continue;
    }
    if (rc == Z_MEM_ERROR) return fail(p, 500, ACS_ENOMEM, "out of memory");
    if (rc != Z_OK && rc != Z_BUF_ERROR)
      return fail(p, 400, ACS_EENCODING, "corrupt compressed body");
    if (p->zs.avail_out > 0) {
      /* all output flushed: done when the input is used up too */
      if (p->zs.avail_in == 0 && n == 0) break;
      if (rc == Z_BUF_ERROR) return fail(p, 400, ACS_EENCODING, "inflate made no progress");
    }
  }
  return 0;
}

/* zlib header (RFC 1950): CM 8, CINFO <= 7, FCHECK makes it a multiple of 31. */
static bool is_zlib_header(const unsigned char *h) {
  return (h[0] & 0x0f) == 8 && (h[0] >> 4) <= 7 && ((h[0] << 8) | h[1]) % 31 == 0;
}

/* Deflate: the first two bytes decide between zlib and raw deflate. */
static int deflate_start(acs_http_parser *p) {
  bool zlib = p->n_prefix == 2 && is_zlib_header(p->prefix);
  if (z_start(p, zlib ? 15 : -15)) return -1;
  return z_feed(p, p->prefix, p->n_prefix);
}

static int decode(acs_http_parser *p, const char *at, size_t n) {
  switch (p->enc) {
    case ACS_HTTP_ENC_IDENTITY:
      acs_buf_append(&p->body, at, n);
      if (acs_buf_err(&p->body)) return fail(p, 500, ACS_ENOMEM, "out of memory");
      return 0;
    case ACS_HTTP_ENC_GZIP:
      if (!p->z_init && z_start(p, 15 + 16)) return -1;
      return z_feed(p, (const unsigned char *)at, n);
    case ACS_HTTP_ENC_DEFLATE:
      if (p->n_prefix < 2) {
        while (p->n_prefix < 2 && n > 0) {
          p->prefix[p->n_prefix++] = (unsigned char)*at++;
          n--;
        }
        if (p->n_prefix < 2) return 0;
        if (deflate_start(p)) return -1;
      }
      return z_feed(p, (const unsigned char *)at, n);
  }
  return 0;
}

static int decode_finish(acs_http_parser *p) {
  if (p->enc == ACS_HTTP_ENC_IDENTITY || p->body_raw == 0) return 0;
  if (p->enc == ACS_HTTP_ENC_DEFLATE && p->n_prefix < 2 && deflate_start(p)) return -1;
  if (!p->z_ended) return fail(p, 400, ACS_EENCODING, "truncated compressed body");
  return 0;
}

/* ---- llhttp callbacks ---- */

static int on_url(llhttp_t *ll, const char *at, size_t n) {
  acs_buf_append(&parser_of(ll)->head, at, n);
  return 0;
}

static int on_url_complete(llhttp_t *ll) {
  acs_buf_putc(&parser_of(ll)->head, '\0');
  return 0;
}

static int on_version_complete(llhttp_t *ll) {
  if (ll->http_major != 1 || ll->http_minor > 1)
    return fail(parser_of(ll), 505, ACS_EHTTP, "HTTP version not supported");
  return 0;
}

static int on_header_field(llhttp_t *ll, const char *at, size_t n) {
  acs_http_parser *p = parser_of(ll);
  if (p->headers_done) return 0; /* trailer: framing, not kept */
  if (!p->in_field) {
    p->in_field = true;
    p->field_off = p->head.len;
  }
  acs_buf_append(&p->head, at, n);
  return 0;
}

/* RFC 9110 tchar: llhttp (loose) lets spaces through in field names */
static bool is_token(const char *s, size_t n) {
  if (n == 0) return false;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c <= 0x20 || c >= 0x7f || strchr("\"(),/:;<=>?@[\\]{}", c)) return false;
  }
  return true;
}

static int on_header_field_complete(llhttp_t *ll) {
  acs_http_parser *p = parser_of(ll);
  if (p->headers_done) return 0;
  if (p->head.failed) return fail(p, 500, ACS_ENOMEM, "out of memory");
  if (!p->in_field || !is_token(p->head.data + p->field_off, p->head.len - p->field_off))
    return fail(p, 400, ACS_EHTTP, "invalid header field name");
  /* checked here, not in on_header_field: span callbacks run at points that
   * depend on how the input was split, *_complete ones do not */
  if (p->n_hdr == ACS_HTTP_MAX_HEADERS) return fail(p, 431, ACS_EHDRSIZE, "too many header fields");
  acs_buf_putc(&p->head, '\0');
  p->in_field = false;
  p->value_off = p->head.len;
  return 0;
}

static int on_header_value(llhttp_t *ll, const char *at, size_t n) {
  acs_http_parser *p = parser_of(ll);
  if (!p->headers_done) acs_buf_append(&p->head, at, n);
  return 0;
}

static int on_header_value_complete(llhttp_t *ll) {
  acs_http_parser *p = parser_of(ll);
  if (p->headers_done) return 0;
  acs_buf *h = &p->head;
  if (h->failed) return fail(p, 500, ACS_ENOMEM, "out of memory");
  size_t v = p->value_off;
  while (h->len > v && (h->data[h->len - 1] == ' ' || h->data[h->len - 1] == '\t')) h->len--;
  while (v < h->len && (h->data[v] == ' ' || h->data[v] == '\t')) v++;
  acs_buf_putc(h, '\0');
  p->hdr_off[p->n_hdr][0] = p->field_off;
  p->hdr_off[p->n_hdr][1] = v;
  p->n_hdr++;
  return 0;
}

/* Fills the request struct; head stops growing once this has run. */
static void finish_head(acs_http_parser *p) {
  acs_buf *h = &p->head;
  if (h->len == p->target_off) acs_buf_putc(h, '\0'); /* no target seen (cannot happen) */
  if (h->failed) return;
  size_t tlen = strlen(h->data + p->target_off);
  const char *q = memchr(h->data + p->target_off, '?', tlen);
  bool has_query = q != NULL;
  size_t plen = q ? (size_t)(q - (h->data + p->target_off)) : tlen;
  size_t path_off = h->len;
  if (acs_buf_reserve(h, tlen + 2)) return; /* the appends below cannot move data */
  const char *t = h->data + p->target_off;
  acs_buf_append(h, t, plen);
  acs_buf_putc(h, '\0');
  size_t query_off = h->len;
  if (has_query) acs_buf_append(h, t + plen + 1, tlen - plen - 1);
  acs_buf_putc(h, '\0');
  if (h->failed) return;
  acs_http_request *r = &p->req;
  r->method = llhttp_method_name((llhttp_method_t)p->ll.method);
  r->target = h->data + p->target_off;
  r->path = h->data + path_off;
  r->query = h->data + query_off;
  r->http_major = p->ll.http_major;
  r->http_minor = p->ll.http_minor;
  for (size_t i = 0; i < p->n_hdr; i++) {
    r->headers[i].name = h->data + p->hdr_off[i][0];
    r->headers[i].value = h->data + p->hdr_off[i][1];
  }
  r->n_headers = p->n_hdr;
}

/* What the body limit decides once the head is known: Content-Length over
 * it, and the buffer to expect (not for a streamed body: it is handed out
 * piece by piece, and an inflated piece would have no bound of its own). */
static int body_checks(acs_http_parser *p) {
  llhttp_t *ll = &p->ll;
  if (p->streaming && p->enc != ACS_HTTP_ENC_IDENTITY)
    return fail(p, 415, ACS_EENCODING, "no content coding on this request's body");
  if ((ll->flags & F_CONTENT_LENGTH) && !(ll->flags & F_CHUNKED)) {
    if (ll->content_length > p->lim.max_body_bytes)
      return fail(p, 413, ACS_EBODYSIZE, "Content-Length over the body limit");
    size_t pre = (size_t)ll->content_length;
    if (p->enc == ACS_HTTP_ENC_IDENTITY && pre > 0 && !p->streaming)
      acs_buf_reserve(&p->body, pre < ACS_HTTP_PREALLOC ? pre : ACS_HTTP_PREALLOC);
  }
  return 0;
}

static int on_headers_complete(llhttp_t *ll) {
  acs_http_parser *p = parser_of(ll);
  p->headers_done = true;
  /* llhttp takes "GET /x\r\n" (no version) as HTTP/0.9: on_version_complete
   * never ran */
  if (ll->http_major != 1 || ll->http_minor > 1)
    return fail(p, 400, ACS_EHTTP, "request line without HTTP version");
  finish_head(p);
  if (acs_buf_err(&p->head)) return fail(p, 500, ACS_ENOMEM, "out of memory");
  if ((ll->flags & F_TRANSFER_ENCODING) && (ll->flags & F_CONTENT_LENGTH))
    return fail(p, 400, ACS_EHTTP, "both Content-Length and Transfer-Encoding");
  const acs_http_request *r = &p->req;
  acs_http_enc enc = ACS_HTTP_ENC_IDENTITY;
  for (size_t i = 0; i < r->n_headers; i++) {
    const acs_http_header *hd = &r->headers[i];
    if (strcasecmp(hd->name, "Transfer-Encoding") == 0 && each_token(hd->value, te_token, NULL))
      return fail(p, 501, ACS_EHTTP, "unsupported transfer coding");
    if (strcasecmp(hd->name, "Content-Encoding") == 0 && each_token(hd->value, ce_token, &enc))
      return fail(p, 415, ACS_EENCODING, "unsupported content encoding");
  }
  p->enc = enc;
  p->req.keep_alive = llhttp_should_keep_alive(ll) != 0;
  if (!p->report_heads && body_checks(p)) return -1;
  return HPE_PAUSED; /* so that feed() learns where the header block ended */
}

static int on_chunk_header(llhttp_t *ll) {
  acs_http_parser *p = parser_of(ll);
  p->n_chunks++;
  if (ll->content_length == 0) p->trailers = true;
  if (ll->content_length > p->lim.max_body_bytes - p->body_raw)
    return fail(p, 413, ACS_EBODYSIZE, "chunked body over the body limit");
  return 0;
}

static int on_body(llhttp_t *ll, const char *at, size_t n) {
  acs_http_parser *p = parser_of(ll);
  if (n > p->lim.max_body_bytes - p->body_raw)
    return fail(p, 413, ACS_EBODYSIZE, "body over the body limit");
  p->body_raw += n;
  return decode(p, at, n);
}

static int on_message_complete(llhttp_t *ll) {
  acs_http_parser *p = parser_of(ll);
  if (decode_finish(p)) return -1;
  if (acs_buf_err(&p->body)) return fail(p, 500, ACS_ENOMEM, "out of memory");
  p->req.keep_alive = llhttp_should_keep_alive(ll) != 0;
  /* a stream's last piece stays in body for acs_http_body_take() */
  p->req.body = p->body.data && !p->streaming ? p->body.data : "";
  p->req.body_len = p->streaming ? 0 : p->body.len;
  p->complete = true;
  return HPE_PAUSED;
}

static const llhttp_settings_t acs_http_settings = {
    .on_url = on_url,
    .on_url_complete = on_url_complete,
    .on_version_complete = on_version_complete,
    .on_header_field = on_header_field,
    .on_header_field_complete = on_header_field_complete,
    .on_header_value = on_header_value,
    .on_header_value_complete = on_header_value_complete,
    .on_headers_complete = on_headers_complete,
    .on_chunk_header = on_chunk_header,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

/* ---- public API ---- */

acs_http_parser *acs_http_parser_new(const acs_http_limits *limits) {
  acs_http_parser *p = calloc(1, sizeof *p);
  if (!p) return NULL;
  acs_http_limits def = ACS_HTTP_LIMITS_DEFAULT;
  p->lim = limits ? *limits : def;
  p->body_limit = p->lim.max_body_bytes;
  acs_buf_init(&p->head);
  acs_buf_init(&p->body);
  llhttp_init(&p->ll, HTTP_REQUEST, &acs_http_settings);
  p->ll.data = p;
  return p;
}

void acs_http_parser_free(acs_http_parser *p) {
  if (!p) return;
  z_release(p);
  acs_buf_free(&p->head);
  acs_buf_free(&p->body);
  free(p);
}

static void buf_recycle(acs_buf *b) {
  if (b->cap > ACS_HTTP_KEEP_BUF)
    acs_buf_free(b);
  else
    acs_buf_reset(b);
}

void acs_http_release_body(acs_http_parser *p) {
  /* a small one stays for the next request, as next() keeps it */
  if (p->streaming || !p->complete || p->body.cap <= ACS_HTTP_KEEP_BUF) return;
  acs_buf_free(&p->body);
  p->req.body = "";
  p->req.body_len = 0;
}

void acs_http_next(acs_http_parser *p) {
  z_release(p);
  buf_recycle(&p->head);
  buf_recycle(&p->body);
  memset(&p->req, 0, sizeof p->req);
  p->n_hdr = 0;
  p->target_off = p->field_off = p->value_off = 0;
  p->head_bytes = p->body_wire = p->body_raw = p->n_chunks = 0;
  p->in_progress = p->in_field = p->headers_done = p->trailers = false;
  p->resume = p->complete = false;
  p->enc = ACS_HTTP_ENC_IDENTITY;
  p->n_prefix = 0;
  p->head_pending = p->streaming = false;
  p->lim.max_body_bytes = p->body_limit;
  if (!p->dead) llhttp_reset(&p->ll);
}

/* Framing bytes of the body so far beyond the body data itself, and the
 * allowance for them. */
static size_t framing(const acs_http_parser *p) { return p->body_wire - p->body_raw; }

static size_t framing_limit(const acs_http_parser *p) {
  size_t per = p->n_chunks > SIZE_MAX / ACS_HTTP_CHUNK_OVERHEAD
                   ? SIZE_MAX
                   : p->n_chunks * ACS_HTTP_CHUNK_OVERHEAD;
  size_t lim = p->lim.max_head_bytes;
  return per > SIZE_MAX - lim ? SIZE_MAX : lim + per;
}

static acs_http_status die(acs_http_parser *p, int status, int code, const char *reason) {
  fail(p, status, code, reason);
  p->dead = true;
  return ACS_HTTP_ERROR;
}

static acs_http_status llhttp_failed(acs_http_parser *p, llhttp_errno_t err) {
  if (p->err_status) return die(p, p->err_status, p->err_code, p->err_reason);
  switch (err) {
    case HPE_PAUSED_H2_UPGRADE:
      return die(p, 505, ACS_EHTTP, "HTTP/2 is not supported");
    case HPE_INVALID_VERSION:
      /* llhttp says "Invalid HTTP version" for well-formed digits it does not
       * know (HTTP/1.2, HTTP/3.0), "Invalid major/minor version" for junk */
      if (strcmp(llhttp_get_error_reason(&p->ll), "Invalid HTTP version") == 0)
        return die(p, 505, ACS_EHTTP, "HTTP version not supported");
      return die(p, 400, ACS_EHTTP, llhttp_get_error_reason(&p->ll));
    default:
      return die(p, 400, ACS_EHTTP, llhttp_get_error_reason(&p->ll));
  }
}

acs_http_status acs_http_feed(acs_http_parser *p, const char *data, size_t len, size_t *consumed) {
  size_t off = 0;
  *consumed = 0;
  if (p->dead) return ACS_HTTP_ERROR;
  if (p->complete) return ACS_HTTP_REQUEST;
  if (p->head_pending) {
    p->head_pending = false;
    if (body_checks(p)) return die(p, p->err_status, p->err_code, p->err_reason);
  }
  if (p->streaming) acs_buf_reset(&p->body); /* the last piece was taken */
  if (!data) {
    data = "";
    len = 0;
  }
  if (len > 0) p->in_progress = true;
  for (;;) {
    size_t avail = len - off, n;
    bool in_head = !p->headers_done;
    if (in_head) {
      size_t budget = p->lim.max_head_bytes - p->head_bytes;
      if (budget == 0 && avail > 0) {
        *consumed = off;
        return die(p, 431, ACS_EHDRSIZE, "header block too large");
      }
      n = avail < budget ? avail : budget;
    } else {
      /* at most one byte past the framing allowance, so that the limit is
       * checked at the same byte however the input was split */
      size_t budget = framing_limit(p) - framing(p);
      n = avail <= budget ? avail : budget + 1;
    }
    if (n == 0 && !p->resume) break;
    p->resume = false;
    const char *start = data + off;
    llhttp_errno_t err = llhttp_execute(&p->ll, start, n);
    size_t used = n;
    if (err != HPE_OK) {
      const char *pos = llhttp_get_error_pos(&p->ll);
      used = pos && pos >= start && pos <= start + n ? (size_t)(pos - start) : 0;
    }
    off += used;
    if (in_head)
      p->head_bytes += used;
    else
      p->body_wire += used;
    if (err != HPE_OK && err != HPE_PAUSED) {
      *consumed = off;
      return llhttp_failed(p, err);
    }
    if (p->headers_done && framing(p) > framing_limit(p)) {
      *consumed = off;
      if (p->trailers) return die(p, 431, ACS_EHDRSIZE, "trailer section too large");
      return die(p, 413, ACS_EBODYSIZE, "chunk framing too large");
    }
    if (err == HPE_PAUSED) {
      llhttp_resume(&p->ll);
      if (p->complete) {
        *consumed = off;
        return ACS_HTTP_REQUEST;
      }
      if (in_head && p->headers_done) {
        p->resume = true; /* run after_headers_complete */
        if (p->report_heads) {
          p->head_pending = true;
          *consumed = off;
          return ACS_HTTP_HEAD;
        }
      }
    }
  }
  *consumed = off;
  return ACS_HTTP_NEED_MORE;
}

const acs_http_request *acs_http_request_get(const acs_http_parser *p) {
  return p->complete ? &p->req : NULL;
}

void acs_http_report_heads(acs_http_parser *p, bool on) { p->report_heads = on; }

const acs_http_request *acs_http_head_get(const acs_http_parser *p) {
  return p->headers_done && !p->dead ? &p->req : NULL;
}

int acs_http_stream_body(acs_http_parser *p, size_t limit) {
  if (!p->head_pending || p->complete) return ACS_ESTATE;
  p->streaming = true;
  p->lim.max_body_bytes = limit;
  return 0;
}

const char *acs_http_body_take(acs_http_parser *p, size_t *len) {
  *len = p->streaming ? p->body.len : 0;
  return *len ? p->body.data : NULL;
}

bool acs_http_in_progress(const acs_http_parser *p) { return p->in_progress; }

int acs_http_error_status(const acs_http_parser *p) { return p->dead ? p->err_status : 0; }

int acs_http_error_code(const acs_http_parser *p) { return p->dead ? p->err_code : 0; }

const char *acs_http_error_reason(const acs_http_parser *p) {
  return p->dead && p->err_reason ? p->err_reason : "";
}
