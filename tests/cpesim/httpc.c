/* httpc.c: a small HTTP/1.1 client on libuv with llhttp: one request at a
 * time per client, keep-alive (reconnecting when the server closed), a
 * timeout per request, responses handed over whole. Used for CWMP sessions
 * and for file transfers.
 *
 * Writes. A response may arrive before its request's write has completed:
 * the server answered before reading the whole body, or the last bytes went
 * out and the write callback is still queued while the loop polls again
 * (libuv runs up to 48 polls in a row when they come back full, as they do
 * with thousands of connections). The next request can then be sent on
 * the same connection while the earlier write is still pending, so every
 * write is its own request with its own copy of the bytes (sim_wr), freed
 * by its callback; a write's failure only fails the request it belongs
 * to.
 *
 * https (sim_httpc_set_tls): the connection's TLS (tls.c) sits between the
 * socket and the parser; the request is sent once the handshake is done. */
#include <llhttp.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/acs_err.h"
#include "sim.h"

typedef struct conn {
  uv_tcp_t tcp;
  uv_connect_t creq;
  sim_httpc *owner; /* NULL once detached (closing) */
  bool connected;
  sim_tls *tls;      /* https */
  bool send_pending; /* the request waits for the handshake */
} conn;

/* One write in flight: never reused, freed by its callback (which libuv
 * calls, with UV_ECANCELED if need be, before the connection's close
 * callback frees the conn). */
typedef struct sim_wr {
  uv_write_t req;
  conn *cn;
  uint64_t seq; /* the request it carries */
  size_t len;
  char data[];
} sim_wr;

struct sim_httpc {
  uv_timer_t timer;
  conn *cn;
  struct sockaddr_storage addr;
  struct sockaddr_storage src; /* ss_family 0: no bind */
  llhttp_t parser;
  bool busy, closing;
  uint64_t seq; /* requests sent so far: the current one's number */
  acs_buf out, body, hdr, val;
  acs_buf www; /* every WWW-Authenticate value, joined by ", " */
  char field[24];
  size_t field_len;
  bool field_done;
  size_t body_keep;
  uint64_t body_total;
  size_t cookie_off[SIM_HTTP_MAX_COOKIES], ncookie;
  long www_off, ct_off, retry_after;
  bool www_digest;
  int status;
  bool complete;
  sim_http_cb cb;
  void *ctx;
  bool https;
  char tls_host[256];
  const char *tls_serial;
  SSL_SESSION **tls_slot;
};

static llhttp_settings_t settings;
static bool settings_ready;

/* --- llhttp callbacks */

static sim_httpc *of(llhttp_t *p) { return p->data; }

static int on_header_field(llhttp_t *p, const char *at, size_t n) {
  sim_httpc *c = of(p);
  if (c->field_done) {
    c->field_len = 0;
    c->field_done = false;
  }
  for (size_t i = 0; i < n && c->field_len + 1 < sizeof c->field; i++)
    c->field[c->field_len++] = at[i];
  c->field[c->field_len] = '\0';
  return 0;
}

static int on_header_field_complete(llhttp_t *p) {
  of(p)->field_done = true;
  acs_buf_reset(&of(p)->val);
  return 0;
}

static int on_header_value(llhttp_t *p, const char *at, size_t n) {
  sim_httpc *c = of(p);
  if (c->val.len + n <= 16384) acs_buf_append(&c->val, at, n);
  return 0;
}

static long keep_header(sim_httpc *c) {
  long off = (long)c->hdr.len;
  acs_buf_append(&c->hdr, c->val.data ? c->val.data : "", c->val.len);
  acs_buf_putc(&c->hdr, '\0');
  return off;
}

static int on_header_value_complete(llhttp_t *p) {
  sim_httpc *c = of(p);
  const char *v = c->val.data ? c->val.data : "";
  if (strcasecmp(c->field, "set-cookie") == 0) {
    if (c->ncookie < SIM_HTTP_MAX_COOKIES) c->cookie_off[c->ncookie++] = (size_t)keep_header(c);
  } else if (strcasecmp(c->field, "www-authenticate") == 0) {
    bool digest = strncasecmp(v, "Digest", 6) == 0;
    if (c->www.len) acs_buf_puts(&c->www, ", ");
    acs_buf_append(&c->www, v, c->val.len);
    if (c->www_off < 0 || (digest && !c->www_digest)) {
      c->www_off = keep_header(c);
      c->www_digest = digest;
    }
  } else if (strcasecmp(c->field, "retry-after") == 0) {
    char *e;
    long s = strtol(v, &e, 10);
    if (e != v && s >= 0) c->retry_after = s;
  } else if (strcasecmp(c->field, "content-type") == 0) {
    c->ct_off = keep_header(c);
  }
  acs_buf_reset(&c->val);
  return 0;
}

static int on_headers_complete(llhttp_t *p) {
  of(p)->status = llhttp_get_status_code(p);
  return 0;
}

static int on_body(llhttp_t *p, const char *at, size_t n) {
  sim_httpc *c = of(p);
  c->body_total += n;
  if (c->body.len < c->body_keep) {
    size_t k = c->body_keep - c->body.len;
    acs_buf_append(&c->body, at, n < k ? n : k);
  }
  return 0;
}

static int on_message_complete(llhttp_t *p) {
  of(p)->complete = true;
  return HPE_PAUSED;
}

static void settings_init(void) {
  if (settings_ready) return;
  llhttp_settings_init(&settings);
  settings.on_header_field = on_header_field;
  settings.on_header_field_complete = on_header_field_complete;
  settings.on_header_value = on_header_value;
  settings.on_header_value_complete = on_header_value_complete;
  settings.on_headers_complete = on_headers_complete;
  settings.on_body = on_body;
  settings.on_message_complete = on_message_complete;
  settings_ready = true;
}

/* --- connections */

static void conn_close_cb(uv_handle_t *h) {
  conn *cn = h->data;
  sim_tls_free(cn->tls);
  free(cn);
}

static void detach(sim_httpc *c) {
  conn *cn = c->cn;
  if (!cn) return;
  c->cn = NULL;
  cn->owner = NULL;
  cn->tcp.data = cn;
  if (!uv_is_closing((uv_handle_t *)&cn->tcp)) uv_close((uv_handle_t *)&cn->tcp, conn_close_cb);
}

static void finish(sim_httpc *c, int err) {
  if (!c->busy) return;
  c->busy = false;
  uv_timer_stop(&c->timer);
  sim_http_rsp r;
  memset(&r, 0, sizeof r);
  if (err == 0) {
    r.status = c->status;
    r.body = c->body.data ? c->body.data : "";
    r.body_len = c->body.len;
    r.body_total = c->body_total;
    for (size_t i = 0; i < c->ncookie; i++) r.set_cookie[i] = c->hdr.data + c->cookie_off[i];
    r.nset_cookie = c->ncookie;
    r.www_authenticate = c->www_off >= 0 ? c->hdr.data + c->www_off : NULL;
    r.www_all = c->www.len && !acs_buf_err(&c->www) ? c->www.data : NULL;
    r.content_type = c->ct_off >= 0 ? c->hdr.data + c->ct_off : NULL;
    r.retry_after = c->retry_after;
    r.keep_alive = llhttp_should_keep_alive(&c->parser);
    if (!r.keep_alive) detach(c);
  } else {
    detach(c);
  }
  c->cb(c->ctx, err, err ? NULL : &r);
}

static void alloc_cb(uv_handle_t *h, size_t hint, uv_buf_t *buf) {
  static char space[65536];
  (void)h;
  (void)hint;
  buf->base = space;
  buf->len = sizeof space;
}

/* Response bytes: false when the request is over (or the connection
 * dropped) and nothing more should be fed. */
static bool on_bytes(sim_httpc *c, const char *p, size_t n) {
  if (!c->busy) { /* bytes nobody asked for */
    detach(c);
    return false;
  }
  llhttp_errno_t e = llhttp_execute(&c->parser, p, n);
  if (e == HPE_PAUSED || c->complete) {
    finish(c, 0);
    return false;
  }
  if (e != HPE_OK) {
    finish(c, ACS_EHTTP);
    return false;
  }
  return true;
}

static void send_request(sim_httpc *c);
static int tls_flush(conn *cn, uint64_t seq);

/* Ciphertext in: the handshake, then the request once it is done, then
 * plaintext to the parser. */
static void tls_read(conn *cn, sim_httpc *c, const char *data, size_t n) {
  static char plain[65536];
  if (sim_tls_input(cn->tls, data, n)) {
    finish(c, ACS_ENOMEM);
    return;
  }
  int hs = sim_tls_handshake(cn->tls);
  if (hs < 0 || tls_flush(cn, c->seq)) {
    if (c->busy)
      finish(c, ACS_EINVAL);
    else
      detach(c);
    return;
  }
  if (hs == 0) return;
  if (cn->send_pending) {
    cn->send_pending = false;
    send_request(c);
    if (cn->owner != c) return;
  }
  for (;;) {
    int r = sim_tls_read(cn->tls, plain, sizeof plain);
    if (tls_flush(cn, c->seq)) r = ACS_EINVAL;
    if (r == 0) return;
    if (r < 0) {
      if (c->busy && r == UV_EOF) {
        llhttp_finish(&c->parser);
        if (c->complete) {
          finish(c, 0);
          return;
        }
      }
      if (c->busy)
        finish(c, r == UV_EOF ? UV_ECONNRESET : r);
      else
        detach(c);
      return;
    }
    if (!on_bytes(c, plain, (size_t)r) || cn->owner != c) return;
  }
}

static void read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  conn *cn = s->data;
  sim_httpc *c = cn->owner;
  if (!c) return;
  if (nread == 0) return;
  if (nread < 0) {
    if (c->busy && nread == UV_EOF) {
      llhttp_finish(&c->parser); /* a body delimited by the close */
      if (c->complete) {
        finish(c, 0);
        return;
      }
    }
    if (c->busy)
      finish(c, nread == UV_EOF ? UV_ECONNRESET : (int)nread);
    else
      detach(c);
    return;
  }
  if (cn->tls) {
    tls_read(cn, c, buf->base, (size_t)nread);
    return;
  }
  on_bytes(c, buf->base, (size_t)nread);
}

static void write_cb(uv_write_t *req, int status) {
  sim_wr *w = req->data;
  sim_httpc *c = w->cn->owner;
  /* an earlier request's write (already answered) failing is the
   * connection's business: the read side or the next write sees it */
  if (c && status != 0 && c->busy && w->seq == c->seq) finish(c, status);
  free(w);
}

/* What TLS has to send (handshake, records) as one write. */
static int tls_flush(conn *cn, uint64_t seq) {
  size_t n = sim_tls_out_pending(cn->tls);
  if (n == 0) return 0;
  sim_wr *w = sim_xmalloc(sizeof *w + n);
  w->cn = cn;
  w->seq = seq;
  w->len = sim_tls_out_take(cn->tls, w->data, n);
  w->req.data = w;
  uv_buf_t b = uv_buf_init(w->data, (unsigned)w->len);
  int rc = uv_write(&w->req, (uv_stream_t *)&cn->tcp, &b, 1, write_cb);
  if (rc) free(w);
  return rc;
}

static void send_request(sim_httpc *c) {
  conn *cn = c->cn;
  if (cn->tls) {
    int rc = sim_tls_write(cn->tls, c->out.data, c->out.len);
    if (!rc) rc = tls_flush(cn, c->seq);
    if (rc) finish(c, rc);
    return;
  }
  sim_wr *w = sim_xmalloc(sizeof *w + c->out.len);
  w->cn = cn;
  w->seq = c->seq;
  w->len = c->out.len;
  memcpy(w->data, c->out.data, c->out.len);
  w->req.data = w;
  uv_buf_t b = uv_buf_init(w->data, (unsigned)w->len);
  int rc = uv_write(&w->req, (uv_stream_t *)&cn->tcp, &b, 1, write_cb);
  if (rc) {
    free(w);
    finish(c, rc);
  }
}

static void connect_cb(uv_connect_t *req, int status) {
  conn *cn = req->data;
  sim_httpc *c = cn->owner;
  if (!c) return;
  if (status) {
    finish(c, status);
    return;
  }
  cn->connected = true;
  uv_tcp_nodelay(&cn->tcp, 1);
  int rc = uv_read_start((uv_stream_t *)&cn->tcp, alloc_cb, read_cb);
  if (rc) {
    finish(c, rc);
    return;
  }
  if (c->https) {
    char err[512];
    if (!(cn->tls = sim_tls_new(c->tls_host, c->tls_serial ? c->tls_serial : "", c->tls_slot, err,
                                sizeof err))) {
      sim_log("%s", err);
      finish(c, ACS_EINVAL);
      return;
    }
    cn->send_pending = true;
    if (sim_tls_handshake(cn->tls) < 0 || tls_flush(cn, c->seq)) finish(c, ACS_EINVAL);
    return;
  }
  send_request(c);
}

static void timeout_cb(uv_timer_t *t) { finish(t->data, ACS_ETIMEOUT); }

sim_httpc *sim_httpc_new(const struct sockaddr_storage *addr, size_t body_keep) {
  settings_init();
  sim_httpc *c = sim_xcalloc(1, sizeof *c);
  c->addr = *addr;
  c->body_keep = body_keep;
  uv_timer_init(S->loop, &c->timer);
  c->timer.data = c;
  return c;
}

void sim_httpc_set_source(sim_httpc *c, const struct sockaddr_storage *src) { c->src = *src; }

void sim_httpc_set_tls(sim_httpc *c, const char *host, const char *serial, SSL_SESSION **slot) {
  c->https = true;
  snprintf(c->tls_host, sizeof c->tls_host, "%s", host);
  c->tls_serial = serial;
  c->tls_slot = S->o.tls_no_resume ? NULL : slot;
}

/* The connection's handle; bound to a source address, its socket exists
 * now, and gets its port at connect time. */
static int conn_open(sim_httpc *c, conn *cn) {
  if (!c->src.ss_family) return uv_tcp_init(S->loop, &cn->tcp);
  int rc = uv_tcp_init_ex(S->loop, &cn->tcp, c->src.ss_family);
  if (rc) return rc;
#ifdef IP_BIND_ADDRESS_NO_PORT
  uv_os_fd_t fd;
  int one = 1;
  if (uv_fileno((uv_handle_t *)&cn->tcp, &fd) == 0)
    (void)setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
#endif
  return 0;
}

int sim_httpc_request(sim_httpc *c, const char *method, const char *host, const char *target,
                      const char *headers, const char *body, size_t len, uint32_t timeout_ms,
                      sim_http_cb cb, void *ctx) {
  if (c->busy || c->closing) return ACS_ESTATE;
  acs_buf_reset(&c->out);
  acs_buf_printf(&c->out,
                 "%s %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: cpesim/" ACS_VERSION
                 "\r\n%sContent-Length: %zu\r\n\r\n",
                 method, target, host, headers ? headers : "", len);
  if (len) acs_buf_append(&c->out, body, len);
  if (acs_buf_err(&c->out)) return ACS_ENOMEM;
  acs_buf_reset(&c->body);
  acs_buf_reset(&c->hdr);
  acs_buf_reset(&c->val);
  acs_buf_reset(&c->www);
  c->body_total = 0;
  c->ncookie = 0;
  c->www_off = c->ct_off = -1;
  c->www_digest = false;
  c->retry_after = -1;
  c->status = 0;
  c->complete = false;
  c->field_len = 0;
  c->field_done = false;
  llhttp_init(&c->parser, HTTP_RESPONSE, &settings);
  c->parser.data = c;
  c->cb = cb;
  c->ctx = ctx;
  c->busy = true;
  c->seq++;
  uv_timer_start(&c->timer, timeout_cb, timeout_ms, 0);
  if (c->cn && c->cn->connected && !c->cn->send_pending) {
    send_request(c);
    return 0;
  }
  detach(c);
  conn *cn = sim_xcalloc(1, sizeof *cn);
  cn->owner = c;
  int rc = conn_open(c, cn);
  if (rc) { /* no handle to close */
    free(cn);
    c->busy = false;
    uv_timer_stop(&c->timer);
    return rc;
  }
  cn->tcp.data = cn;
  cn->creq.data = cn;
  c->cn = cn;
  if (c->src.ss_family) rc = uv_tcp_bind(&cn->tcp, (const struct sockaddr *)&c->src, 0);
  if (rc == 0)
    rc = uv_tcp_connect(&cn->creq, &cn->tcp, (const struct sockaddr *)&c->addr, connect_cb);
  if (rc) {
    c->busy = false;
    uv_timer_stop(&c->timer);
    detach(c);
    return rc;
  }
  return 0;
}

static void timer_close_cb(uv_handle_t *h) {
  sim_httpc *c = h->data;
  acs_buf_free(&c->out);
  acs_buf_free(&c->body);
  acs_buf_free(&c->hdr);
  acs_buf_free(&c->www);
  acs_buf_free(&c->val);
  free(c);
}

void sim_httpc_close(sim_httpc *c) {
  if (!c || c->closing) return;
  c->closing = true;
  c->busy = false;
  detach(c);
  uv_close((uv_handle_t *)&c->timer, timer_close_cb);
}

/* --- authentication */

int sim_http_authorization(const char *challenge, const char *user, const char *pass,
                           const char *method, const char *uri, acs_buf *out) {
  if (!challenge) return ACS_EINVAL;
  if (strncasecmp(challenge, "Basic", 5) == 0) {
    acs_buf up = ACS_BUF_INIT;
    acs_buf_printf(&up, "%s:%s", user, pass);
    unsigned char *b64 = sim_xmalloc(up.len * 2 + 8);
    EVP_EncodeBlock(b64, (const unsigned char *)up.data, (int)up.len);
    acs_buf_printf(out, "Authorization: Basic %s\r\n", b64);
    free(b64);
    acs_buf_free(&up);
    return 0;
  }
  if (strncasecmp(challenge, "Digest", 6) != 0) return ACS_EINVAL;
  char realm[256] = "", nonce[256] = "", qop[64] = "", opaque[256] = "", alg[32] = "MD5";
  sim_auth_param(challenge, "realm", realm, sizeof realm);
  if (sim_auth_param(challenge, "nonce", nonce, sizeof nonce)) return ACS_EINVAL;
  bool has_qop = sim_auth_param(challenge, "qop", qop, sizeof qop) == 0;
  bool has_opaque = sim_auth_param(challenge, "opaque", opaque, sizeof opaque) == 0;
  sim_auth_param(challenge, "algorithm", alg, sizeof alg);
  bool sess = strcasecmp(alg, "MD5-sess") == 0;
  if (!sess && strcasecmp(alg, "MD5") != 0) return ACS_EINVAL;
  if (has_qop && !strstr(qop, "auth")) return ACS_EINVAL;
  char cnonce[17], ha1[33], ha2[33], resp[33];
  snprintf(cnonce, sizeof cnonce, "%016llx", (unsigned long long)sim_rand());
  const char *p1[] = {user, ":", realm, ":", pass};
  sim_md5_hex(ha1, p1, 5);
  if (sess) {
    const char *ps[] = {ha1, ":", nonce, ":", cnonce};
    char tmp[33];
    sim_md5_hex(tmp, ps, 5);
    memcpy(ha1, tmp, sizeof ha1);
  }
  const char *p2[] = {method, ":", uri};
  sim_md5_hex(ha2, p2, 3);
  if (has_qop) {
    const char *pr[] = {ha1, ":", nonce, ":", "00000001", ":", cnonce, ":", "auth", ":", ha2};
    sim_md5_hex(resp, pr, 11);
  } else {
    const char *pr[] = {ha1, ":", nonce, ":", ha2};
    sim_md5_hex(resp, pr, 5);
  }
  acs_buf_printf(out,
                 "Authorization: Digest username=\"%s\", realm=\"%s\", nonce=\"%s\", uri=\"%s\", "
                 "algorithm=%s, response=\"%s\"",
                 user, realm, nonce, uri, sess ? "MD5-sess" : "MD5", resp);
  if (has_qop) acs_buf_printf(out, ", qop=auth, nc=00000001, cnonce=\"%s\"", cnonce);
  if (has_opaque) acs_buf_printf(out, ", opaque=\"%s\"", opaque);
  acs_buf_puts(out, "\r\n");
  return 0;
}
