/* conn.c: one HTTP/1.1 connection on a worker's loop.
 *
 * Life of a connection: read and feed the parser until a request is complete;
 * stop reading and call the listener's handler; the handler answers (now or
 * later) with acs_conn_respond(), which writes the response; after the write,
 * either carry on with the bytes already read (pipelining, one request at a
 * time) and read again, or shut down the sending side and discard input for
 * a moment (a lingering close, so that unread input cannot turn our final
 * response into a reset) before closing.
 *
 * One timer per connection, in one of these modes: header (a request must be
 * complete in time: 408; counted from accept for the first request, from its
 * first byte for later ones; it covers the body too, as the http layer does
 * not say where the head ends), idle (between keep-alive requests: quiet
 * close), write (a peer that does not read: idle_timeout_ms), linger, body
 * (a streamed request body: header_timeout_ms without a byte -> 408; off
 * while the consumer has paused it).
 *
 * Streaming. On a listener with a head hook, the hook sees each request's
 * head; a request it takes has its body either handed out as it arrives
 * (acs_conn_body_stream, with backpressure: reading stops while the
 * consumer has paused it) or never read (the answer then closes the
 * connection). A response may also go out in pieces (acs_conn_stream_*),
 * one write in flight at a time: the producer's memory bounds the
 * connection's.
 *
 * TLS (a listener with an acs_tls): what the socket reads goes into the
 * connection's TLS state (net/tls.c), and the plaintext it gives is fed to
 * the parser as a plain connection's bytes are; every write is encrypted on
 * its way out (conn_send). Plaintext not yet asked for stays inside the TLS
 * state while the connection is not reading, and is taken as soon as it
 * reads again (conn_tls_pump). A final response is followed by a
 * close_notify. Plain HTTP sent to a TLS port gets a plain 400.
 *
 * Memory: a connection is freed when both its handles are closed and no
 * handler holds it. If it is closed while a handler is pending (peer gone,
 * shutdown deadline), the handler's later acs_conn_respond() frees it. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "core/acs_buf.h"
#include "core/acs_err.h"
#include "core/acs_log.h"
#include "net/acs_proxy.h"
#include "net/acs_tls.h"
#include "net/net_internal.h"

typedef enum { T_NONE = 0, T_HEADER, T_IDLE, T_WRITE, T_LINGER, T_BODY } timer_mode;

struct acs_conn {
  uv_tcp_t tcp;
  uv_timer_t timer;
  uv_write_t wreq;
  uv_shutdown_t sreq;
  acs_worker *w;
  acs_conn *prev, *next;
  acs_listener_kind kind;
  acs_http_parser *parser; /* created with the first byte */
  acs_buf pending;         /* bytes read after the current request... */
  size_t pending_off;      /* ...from this offset on */
  acs_buf out;             /* the response being written */
  int handles;             /* open libuv handles (tcp, timer) */
  timer_mode tmode;
  bool reading;
  bool handler_pending;
  bool writing;
  bool close_after_write;
  bool close_at_once; /* ...without lingering (a refusal whose request was read whole) */
  bool lingering;
  bool closing;
  bool handed_off; /* arrived from another worker */
  void *data;      /* the handler's (acs_conn_set_data) */
  acs_conn_close_cb on_close;
  unsigned auth_failures; /* the handler's count (acs_conn_auth_failures) */
  /* a request taken by the head hook, and its streamed body */
  bool head_taken;
  bool body_stream; /* acs_conn_body_stream() called, done not told yet */
  bool body_paused;
  bool body_done; /* the whole body was read */
  const acs_conn_body_sink *sink;
  void *sink_arg;
  uv_write_t cwreq; /* "100 Continue" */
  /* a streamed response */
  bool resp_stream;
  bool resp_head_sent;
  bool resp_chunked; /* Transfer-Encoding: chunked (resp_left unused until the last) */
  char chunk_head[24];
  uint64_t resp_left;
  acs_conn_write_cb wcb;
  void *warg;
  acs_tls_conn *tls; /* NULL: plain */
  bool tls_pumping;
  char peer[64];
  bool proxy_wait; /* the listener speaks PROXY: its header has not been read yet */
  bool first_read; /* accepted, nothing read yet (a PROXY header where none is expected) */
};

static void conn_on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);
static void conn_feed(acs_conn *c, const char *data, size_t len, bool from_pending);
static void conn_tls_pump(acs_conn *c);

static const acs_server_config *conn_cfg(const acs_conn *c) { return &c->w->srv->cfg; }

static void conn_free(acs_conn *c) {
  acs_worker *w = c->w;
  if (c->prev) {
    c->prev->next = c->next;
  } else {
    w->conns = c->next;
  }
  if (c->next) c->next->prev = c->prev;
  if (c->parser) acs_http_parser_free(c->parser);
  acs_buf_free(&c->pending);
  acs_buf_free(&c->out);
  acs_tls_conn_free(c->tls);
  atomic_fetch_sub_explicit(&w->st_open, 1, memory_order_relaxed);
  atomic_fetch_sub_explicit(&w->srv->open_conns, 1, memory_order_relaxed);
  free(c);
}

static void conn_close_cb(uv_handle_t *h) {
  acs_conn *c = h->data;
  if (--c->handles == 0 && !c->handler_pending) conn_free(c);
}

static void body_done(acs_conn *c, int status);

static void conn_close(acs_conn *c) {
  if (c->closing) return;
  c->closing = true;
  c->reading = false;
  c->tmode = T_NONE;
  if (c->body_stream) body_done(c, -1);
  if (c->on_close) {
    acs_conn_close_cb cb = c->on_close;
    c->on_close = NULL;
    cb(c, c->data);
  }
  uv_close((uv_handle_t *)&c->tcp, conn_close_cb);
  uv_close((uv_handle_t *)&c->timer, conn_close_cb);
  acs__worker_conn_closing(c->w);
}

static void conn_timer_cb(uv_timer_t *t);

static void conn_timer(acs_conn *c, timer_mode m, uint64_t ms) {
  c->tmode = m;
  if (m == T_NONE) {
    uv_timer_stop(&c->timer);
  } else {
    uv_timer_start(&c->timer, conn_timer_cb, ms, 0);
  }
}

static void conn_alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  acs_conn *c = h->data;
  *buf = uv_buf_init(c->w->rbuf, ACS_NET_READ_BUF);
}

static void conn_read_start(acs_conn *c) {
  if (c->reading || c->closing) return;
  int rc = uv_read_start((uv_stream_t *)&c->tcp, conn_alloc_cb, conn_on_read);
  if (rc) {
    conn_close(c);
    return;
  }
  c->reading = true;
  if (c->tls && acs_tls_conn_buffered(c->tls)) conn_tls_pump(c);
}

static void conn_read_stop(acs_conn *c) {
  if (!c->reading) return;
  uv_read_stop((uv_stream_t *)&c->tcp);
  c->reading = false;
}

/* --- closing */

static void conn_shutdown_cb(uv_shutdown_t *req, int status) {
  acs_conn *c = req->data;
  if (status < 0 && !c->closing) conn_close(c);
}

/* After a final response: FIN, then discard input until EOF or the linger
 * timer, then close. */
static void conn_linger(acs_conn *c) {
  c->lingering = true;
  if (c->tls) acs_tls_conn_close_notify(c->tls, (uv_stream_t *)&c->tcp);
  c->sreq.data = c;
  if (uv_shutdown(&c->sreq, (uv_stream_t *)&c->tcp, conn_shutdown_cb)) {
    conn_close(c);
    return;
  }
  conn_timer(c, T_LINGER, ACS_NET_LINGER_MS);
  conn_read_start(c);
}

/* --- writing */

/* Every write of the connection: encrypted first on a TLS connection. */
static int conn_send(acs_conn *c, uv_write_t *req, const uv_buf_t *bufs, unsigned n,
                     uv_write_cb cb) {
  if (!c->tls) return uv_write(req, (uv_stream_t *)&c->tcp, bufs, n, cb);
  const char *p[2];
  size_t len[2];
  if (n > 2) return ACS_EINVAL;
  for (unsigned i = 0; i < n; i++) {
    p[i] = bufs[i].base;
    len[i] = bufs[i].len;
  }
  return acs_tls_conn_write(c->tls, (uv_stream_t *)&c->tcp, req, p, len, n, cb);
}

static void conn_resume(acs_conn *c);

static void conn_write_cb(uv_write_t *req, int status) {
  acs_conn *c = req->data;
  c->writing = false;
  acs_buf_reset(&c->out);
  if (c->closing) return;
  if (status < 0) {
    acs_log(ACS_LOG_DEBUG, "net", "write to %s failed: %s", c->peer, uv_strerror(status));
    conn_close(c);
    return;
  }
  if (c->close_after_write) {
    if (c->close_at_once) {
      conn_close(c);
    } else {
      conn_linger(c);
    }
    return;
  }
  conn_resume(c);
}

/* Writes c->out; afterwards the connection goes on or closes. */
static void conn_write(acs_conn *c, bool close_after) {
  c->close_after_write = close_after;
  conn_read_stop(c);
  if (acs_buf_err(&c->out)) {
    conn_close(c);
    return;
  }
  uv_buf_t b = uv_buf_init(c->out.data, (unsigned)c->out.len);
  c->wreq.data = c;
  if (conn_send(c, &c->wreq, &b, 1, conn_write_cb)) {
    conn_close(c);
    return;
  }
  c->writing = true;
  conn_timer(c, T_WRITE, conn_cfg(c)->idle_timeout_ms);
}

/* A response of our own (parse error, timeout), then close. */
static void conn_error(acs_conn *c, int status, const char *reason) {
  char body[256];
  int n = snprintf(body, sizeof body, "%d %s%s%s\n", status, acs_http_reason(status),
                   reason && *reason ? ": " : "", reason ? reason : "");
  if (n < 0) n = 0;
  if ((size_t)n >= sizeof body) n = (int)sizeof body - 1;
  acs_http_response r = {
      .status = status,
      .content_type = "text/plain; charset=utf-8",
      .body = body,
      .body_len = (size_t)n,
      .keep_alive = false,
  };
  acs_log(ACS_LOG_DEBUG, "net", "%s: %d %s", c->peer, status, reason ? reason : "");
  acs_buf_reset(&c->out);
  acs_http_response_write(&c->out, &r);
  conn_write(c, true);
}

/* --- requests */

static void conn_timer_cb(uv_timer_t *t) {
  acs_conn *c = t->data;
  timer_mode m = c->tmode;
  c->tmode = T_NONE;
  switch (m) {
    case T_HEADER:
      conn_read_stop(c);
      conn_error(c, 408, "no complete request in time");
      break;
    case T_BODY:
      conn_read_stop(c);
      body_done(c, 408);
      break;
    case T_IDLE:
    case T_WRITE:
    case T_LINGER:
      conn_close(c);
      break;
    case T_NONE:
      break;
  }
}

static void conn_dispatch(acs_conn *c) {
  const acs_server_config *cfg = conn_cfg(c);
  const acs_http_request *req = acs_http_request_get(c->parser);
  acs_request_cb handler = cfg->handler[c->kind];
  c->handler_pending = true;
  if (acs_log_enabled(ACS_LOG_DEBUG)) {
    /* the path only: a query string may carry a secret (a device query
     * comparing a password, docs/api.md "Secret parameters") */
    const char *q = strchr(req->target, '?');
    int path_len = q ? (int)(q - req->target) : (int)strlen(req->target);
    acs_log(ACS_LOG_DEBUG, "net", "%s: %s %.*s%s (worker %u)", c->peer, req->method, path_len,
            req->target, q ? "?..." : "", c->w->index);
  }
  if (!handler) {
    static const char body[] = "{\"error\":\"not found\"}";
    acs_http_response r = {404, "application/json", body, sizeof body - 1, true, NULL};
    acs_conn_respond(c, &r);
    return;
  }
  handler(c, req, cfg->handler_ctx);
}

/* The head hook's turn: true when it took the request. */
static bool conn_head(acs_conn *c) {
  const acs_server_config *cfg = conn_cfg(c);
  c->handler_pending = true;
  c->head_taken = true;
  conn_read_stop(c);
  conn_timer(c, T_NONE, 0);
  if (cfg->head_handler[c->kind](c, acs_http_head_get(c->parser), cfg->handler_ctx)) return true;
  c->handler_pending = false;
  c->head_taken = false;
  return false;
}

/* Tells the body's consumer it has ended (0), was refused (an HTTP status)
 * or lost (-1); once. */
static void body_done(acs_conn *c, int status) {
  if (!c->body_stream) return;
  c->body_stream = false;
  c->body_done = status == 0;
  if (!c->closing) conn_timer(c, T_NONE, 0);
  c->sink->done(c, status, c->sink_arg);
}

/* Feeds bytes to the parser: a complete request is dispatched (the rest kept
 * in c->pending), an error answered, and otherwise reading continues.
 * from_pending: data is the unconsumed part of c->pending itself (pipelined
 * requests are consumed in place, never copied again). A head the hook
 * takes stops feeding (the rest is kept) until its body is streamed. */
static void conn_feed(acs_conn *c, const char *data, size_t len, bool from_pending) {
  if (!c->parser) {
    c->parser = acs_http_parser_new(&conn_cfg(c)->http_limits);
    if (!c->parser) {
      acs_log(ACS_LOG_ERR, "net", "%s: out of memory", c->peer);
      conn_close(c);
      return;
    }
    if (conn_cfg(c)->head_handler[c->kind]) acs_http_report_heads(c->parser, true);
  }
  acs_http_status st;
  for (;;) {
    size_t used = 0;
    st = acs_http_feed(c->parser, data, len, &used);
    if (from_pending) {
      c->pending_off += used;
      if (st == ACS_HTTP_ERROR || c->pending_off >= c->pending.len) {
        acs_buf_free(&c->pending); /* most connections never pipeline: keep no memory */
        c->pending_off = 0;
      }
    }
    data += used;
    len -= used;
    if (st != ACS_HTTP_HEAD) break;
    if (conn_head(c)) {
      if (!from_pending && len > 0) {
        acs_buf_append(&c->pending, data, len);
        if (acs_buf_err(&c->pending)) conn_close(c);
      }
      return;
    }
  }
  if (c->body_stream) {
    size_t n;
    const char *piece = acs_http_body_take(c->parser, &n);
    if (n) c->sink->data(c, piece, n, c->sink_arg);
  }
  switch (st) {
    case ACS_HTTP_NEED_MORE:
      if (c->body_stream) {
        if (c->body_paused) {
          conn_read_stop(c);
          conn_timer(c, T_NONE, 0);
          return;
        }
        conn_timer(c, T_BODY, conn_cfg(c)->header_timeout_ms);
      } else if (c->tmode == T_IDLE && acs_http_in_progress(c->parser)) {
        conn_timer(c, T_HEADER, conn_cfg(c)->header_timeout_ms);
      }
      conn_read_start(c);
      return;
    case ACS_HTTP_REQUEST:
      if (!from_pending && len > 0) {
        acs_buf_append(&c->pending, data, len);
        if (acs_buf_err(&c->pending)) {
          conn_close(c);
          return;
        }
      }
      conn_read_stop(c);
      conn_timer(c, T_NONE, 0);
      if (c->body_stream) {
        body_done(c, 0);
        return;
      }
      conn_dispatch(c);
      return;
    case ACS_HTTP_ERROR:
      conn_read_stop(c);
      conn_timer(c, T_NONE, 0);
      if (c->body_stream) {
        body_done(c, acs_http_error_status(c->parser));
        return;
      }
      conn_error(c, acs_http_error_status(c->parser), acs_http_error_reason(c->parser));
      return;
    case ACS_HTTP_HEAD:
      return; /* cannot happen: the loop above took it */
  }
}

/* After a keep-alive response: the next pipelined request, or wait. */
static void conn_resume(acs_conn *c) {
  acs_http_next(c->parser);
  c->head_taken = c->body_done = false;
  conn_timer(c, T_IDLE, conn_cfg(c)->idle_timeout_ms);
  if (c->pending_off < c->pending.len) {
    /* Fed in idle mode: a partial request switches to header mode. */
    conn_feed(c, c->pending.data + c->pending_off, c->pending.len - c->pending_off, true);
    return;
  }
  /* Idle: nothing buffered. The parser and the buffers are made again with
   * the next byte, so that a connection waiting (a CPE thinking mid-session,
   * keep-alive) holds only its struct: ~15 KiB less per held connection. */
  acs_http_parser_free(c->parser);
  c->parser = NULL;
  acs_buf_free(&c->pending);
  c->pending_off = 0;
  acs_buf_free(&c->out);
  if (c->tls) acs_tls_conn_idle(c->tls);
  conn_read_start(c);
}

/* A listener with the PROXY protocol: the header first (it may arrive in
 * pieces); the client's address it carries becomes the peer's; what follows
 * it is the HTTP request. No valid header: the connection is closed (a
 * client that reached acsd around the balancer cannot choose its address). */
static void conn_proxy(acs_conn *c, const char *data, size_t len) {
  acs_buf_append(&c->pending, data, len);
  if (acs_buf_err(&c->pending)) {
    conn_close(c);
    return;
  }
  acs_proxy_info info;
  const char *why = NULL;
  int n = acs_proxy_parse(c->pending.data, c->pending.len, &info, &why);
  if (n == 0) return; /* more to come, within the header timeout */
  if (n < 0) {
    acs_log(ACS_LOG_WARN, "net", "%s: %s: closed", c->peer, why ? why : acs_strerror(n));
    conn_close(c);
    return;
  }
  c->proxy_wait = false;
  c->first_read = false;
  if (!info.local && info.src[0]) snprintf(c->peer, sizeof c->peer, "%s", info.src);
  size_t rest = c->pending.len - (size_t)n;
  acs_buf tail = c->pending; /* the request's first bytes are fed from a copy */
  acs_buf_init(&c->pending);
  c->pending_off = 0;
  if (rest && c->tls) { /* the TLS handshake's first bytes */
    if (acs_tls_conn_input(c->tls, tail.data + n, rest)) {
      acs_buf_free(&tail);
      conn_close(c);
      return;
    }
    acs_buf_free(&tail);
    conn_tls_pump(c);
    return;
  }
  if (rest) conn_feed(c, tail.data + n, rest, false);
  acs_buf_free(&tail);
}

static void conn_on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  acs_conn *c = s->data;
  if (nread == 0 || c->closing) return;
  if (nread < 0) {
    if (nread != UV_EOF) {
      acs_log(ACS_LOG_DEBUG, "net", "read from %s: %s", c->peer, uv_strerror((int)nread));
    }
    conn_close(c);
    return;
  }
  if (c->lingering) return; /* discarded */
  /* a PROXY header comes first, before TLS: the balancer's plaintext */
  if (c->proxy_wait) {
    conn_proxy(c, buf->base, (size_t)nread);
    return;
  }
  if (c->first_read) {
    c->first_read = false;
    if (nread >= 6 && acs_proxy_looks_like(buf->base, (size_t)nread)) {
      /* a balancer configured for it while acsd is not: say so, once per
       * connection, rather than answering its binary header with a 400 */
      acs_log(ACS_LOG_WARN, "net", "%s: a PROXY protocol header, but proxy-protocol is off: closed",
              c->peer);
      conn_close(c);
      return;
    }
  }
  if (c->tls) {
    if (acs_tls_conn_input(c->tls, buf->base, (size_t)nread)) {
      conn_close(c);
      return;
    }
    conn_tls_pump(c);
    return;
  }
  conn_feed(c, buf->base, (size_t)nread, false);
}

/* Plaintext out of the TLS state into the parser, as long as the
 * connection reads; the handshake's output written as it comes. The
 * worker's read buffer is free for the plaintext: its ciphertext has been
 * copied into the TLS state. */
static void conn_tls_pump(acs_conn *c) {
  if (c->tls_pumping) return; /* the outer loop carries on */
  c->tls_pumping = true;
  while (!c->closing && c->reading && !c->lingering) {
    int n = acs_tls_conn_read(c->tls, c->w->rbuf, ACS_NET_READ_BUF);
    if (acs_tls_conn_flush(c->tls, (uv_stream_t *)&c->tcp)) {
      conn_close(c);
      break;
    }
    if (n > 0) {
      conn_feed(c, c->w->rbuf, (size_t)n, false);
      continue;
    }
    if (n == 0) break;
    conn_read_stop(c);
    if (n == ACS_EHTTP) {
      /* a plain HTTP request on the TLS port: answered in plain text */
      acs_log(ACS_LOG_DEBUG, "net", "%s: plain HTTP on a TLS port", c->peer);
      acs_tls_conn_free(c->tls);
      c->tls = NULL;
      conn_timer(c, T_NONE, 0);
      conn_error(c, 400, "plain HTTP sent to a TLS port: use https");
    } else {
      conn_close(c);
    }
    break;
  }
  c->tls_pumping = false;
}

/* --- public */

/* Whether the connection goes on after answering: what both sides want,
 * unless acsd is stopping or a request's body was left unread. */
static bool conn_keep_alive(const acs_conn *c, const acs_http_response *r) {
  const acs_http_request *req = acs_http_request_get(c->parser);
  if (!req) req = acs_http_head_get(c->parser);
  bool unread = c->head_taken && !c->body_done;
  return r->keep_alive && req && req->keep_alive && !c->w->stopping && !unread;
}

void acs_conn_release_body(acs_conn *c) {
  if (c->parser) acs_http_release_body(c->parser);
}

const acs_http_request *acs_conn_request(const acs_conn *c) {
  if (!c->handler_pending || !c->parser) return NULL;
  const acs_http_request *req = acs_http_request_get(c->parser);
  return req ? req : acs_http_head_get(c->parser);
}

void acs_conn_respond(acs_conn *c, const acs_http_response *r) {
  if (acs_fails_assert(c->handler_pending)) return;
  c->handler_pending = false;
  acs_worker *w = c->w;
  atomic_fetch_add_explicit(&w->st_requests, 1, memory_order_relaxed);
  if (c->closing) {
    if (c->handles == 0) conn_free(c);
    return; /* the peer is gone or the deadline passed: nothing to send */
  }
  acs_http_response copy = *r;
  copy.keep_alive = conn_keep_alive(c, r);
  /* A 503 that closes, its request read whole, closes as soon as it is
   * written: under a storm of refusals a lingering close would hold a
   * descriptor per refused CPE for up to ACS_NET_LINGER_MS. */
  c->close_at_once = !copy.keep_alive && copy.status == 503 && !(c->head_taken && !c->body_done) &&
                     c->pending_off >= c->pending.len;
  c->body_stream = false; /* answered: the consumer hears no more */
  acs_buf_reset(&c->out);
  acs_http_response_write(&c->out, &copy);
  conn_write(c, !copy.keep_alive);
}

/* --- streamed request bodies */

static void continue_cb(uv_write_t *req, int status) {
  (void)req;
  (void)status; /* a failed write shows on the connection itself */
}

int acs_conn_body_stream(acs_conn *c, size_t limit, const acs_conn_body_sink *sink, void *arg) {
  if (!c->head_taken || !c->handler_pending || c->body_stream || c->body_done || c->closing)
    return ACS_ESTATE;
  int rc = acs_http_stream_body(c->parser, limit);
  if (rc) return rc;
  c->body_stream = true;
  c->body_paused = false;
  c->sink = sink;
  c->sink_arg = arg;
  const char *expect = acs_http_header_get(acs_http_head_get(c->parser), "Expect");
  if (expect && strcasecmp(expect, "100-continue") == 0) {
    static char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
    uv_buf_t b = uv_buf_init(cont, sizeof cont - 1);
    conn_send(c, &c->cwreq, &b, 1, continue_cb);
  }
  acs_conn_body_resume(c);
  return 0;
}

void acs_conn_body_pause(acs_conn *c) {
  if (!c->body_stream) return;
  c->body_paused = true;
  conn_read_stop(c);
  if (c->tmode == T_BODY) conn_timer(c, T_NONE, 0);
}

/* Bytes read after the head are fed first (they may hold the whole body);
 * then reading goes on. */
void acs_conn_body_resume(acs_conn *c) {
  if (!c->body_stream || c->closing) return;
  c->body_paused = false;
  if (c->pending_off < c->pending.len) {
    conn_feed(c, c->pending.data + c->pending_off, c->pending.len - c->pending_off, true);
    return;
  }
  /* nothing kept: an empty body is complete without another byte */
  conn_feed(c, NULL, 0, false);
}

bool acs_conn_body_unread(const acs_conn *c) {
  return c->head_taken && c->handler_pending && !c->body_stream && !c->body_done;
}

/* --- streamed responses */

/* The response is over (complete, failed or given up): c is released. */
static void stream_end(acs_conn *c) {
  c->resp_stream = false;
  c->handler_pending = false;
  atomic_fetch_add_explicit(&c->w->st_requests, 1, memory_order_relaxed);
}

int acs_conn_stream_start(acs_conn *c, const acs_http_response *r, uint64_t content_length,
                          bool body) {
  if (acs_fails_assert(c->handler_pending && !c->resp_stream)) return ACS_ESTATE;
  if (c->closing) {
    stream_end(c);
    if (c->handles == 0) conn_free(c);
    return ACS_ESTATE;
  }
  acs_http_response copy = *r;
  copy.keep_alive = conn_keep_alive(c, r);
  c->body_stream = false;
  acs_buf_reset(&c->out);
  acs_http_response_write_head(&c->out, &copy, content_length);
  c->close_after_write = !copy.keep_alive;
  if (!body || content_length == 0) {
    stream_end(c);
    conn_write(c, !copy.keep_alive);
    return 0;
  }
  c->resp_stream = true;
  c->resp_head_sent = false;
  c->resp_chunked = content_length == ACS_HTTP_CHUNKED;
  c->resp_left = content_length;
  return 0;
}

static void stream_write_cb(uv_write_t *req, int status) {
  acs_conn *c = req->data;
  acs_conn_write_cb cb = c->wcb;
  void *arg = c->warg;
  c->writing = false;
  acs_buf_reset(&c->out);
  if (status < 0 || c->closing) {
    stream_end(c);
    conn_close(c); /* freed by the close callbacks, after cb */
    cb(c, status < 0 ? status : ACS_ECANCELED, arg);
    return;
  }
  if (c->resp_left > 0) {
    conn_timer(c, T_NONE, 0); /* the producer's turn */
    cb(c, 0, arg);
    return;
  }
  stream_end(c);
  cb(c, 0, arg);
  if (c->close_after_write) {
    if (c->close_at_once) {
      conn_close(c);
    } else {
      conn_linger(c);
    }
    return;
  }
  conn_resume(c);
}

int acs_conn_stream_write(acs_conn *c, const void *data, size_t n, acs_conn_write_cb cb,
                          void *arg) {
  if (acs_fails_assert(c->resp_stream && !c->writing)) return ACS_ESTATE;
  if (c->closing) {
    stream_end(c);
    if (c->handles == 0) conn_free(c);
    return ACS_ESTATE;
  }
  if (!c->resp_chunked && (n == 0 || n > c->resp_left)) return ACS_EINVAL;
  uv_buf_t b[4];
  unsigned nb = 0;
  if (!c->resp_head_sent) {
    if (acs_buf_err(&c->out)) return ACS_ENOMEM;
    b[nb++] = uv_buf_init(c->out.data, (unsigned)c->out.len);
  }
  if (c->resp_chunked) /* n = 0: the last chunk, which ends the body */
    b[nb++] = uv_buf_init(c->chunk_head, (unsigned)acs_http_chunk_head(c->chunk_head, n));
  if (n) b[nb++] = uv_buf_init((char *)data, (unsigned)n);
  if (c->resp_chunked && n) b[nb++] = uv_buf_init("\r\n", 2);
  c->wreq.data = c;
  int rc = conn_send(c, &c->wreq, b, nb, stream_write_cb);
  if (rc) return rc;
  c->resp_head_sent = true;
  c->resp_left = c->resp_chunked ? (n ? UINT64_MAX : 0) : c->resp_left - n;
  c->wcb = cb;
  c->warg = arg;
  c->writing = true;
  conn_timer(c, T_WRITE, conn_cfg(c)->idle_timeout_ms);
  return 0;
}

void acs_conn_stream_abort(acs_conn *c) {
  if (acs_fails_assert(c->resp_stream && !c->writing)) return;
  stream_end(c);
  if (c->closing) {
    if (c->handles == 0) conn_free(c);
    return;
  }
  conn_close(c);
}

void acs_conn_set_data(acs_conn *c, void *data, acs_conn_close_cb on_close) {
  c->data = data;
  c->on_close = on_close;
}
void *acs_conn_data(const acs_conn *c) { return c->data; }
unsigned acs_conn_auth_failures(const acs_conn *c) { return c->auth_failures; }
void acs_conn_set_auth_failures(acs_conn *c, unsigned n) { c->auth_failures = n; }
bool acs_conn_handed_off(const acs_conn *c) { return c->handed_off; }

void acs__handoff_free(acs__handoff *h) {
  if (h->fd >= 0) close(h->fd);
  acs_tls_conn_free(h->tls);
  acs_buf_free(&h->bytes);
  free(h);
}

int acs_conn_handoff(acs_conn *c, unsigned target) {
  acs_worker *w = c->w;
  acs_server *s = w->srv;
  uv_os_fd_t fd;
  int rc;
  if (target >= s->n_workers || target == w->index) return ACS_EINVAL;
  if (!c->handler_pending || c->closing || c->writing || c->head_taken) return ACS_ESTATE;
  /* the TLS state travels with the socket once all it wrote (the end of
   * the handshake, tickets) is in the kernel: nothing more goes out here */
  if (c->tls && uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp) > 0) return ACS_ESTATE;
  if (uv_fileno((uv_handle_t *)&c->tcp, &fd)) return ACS_ESTATE;
  acs__handoff *h = calloc(1, sizeof *h);
  if (!h) return ACS_ENOMEM;
  h->fd = -1;
  h->kind = c->kind;
  snprintf(h->peer, sizeof h->peer, "%s", c->peer); /* it may have come by PROXY */
  acs_buf_init(&h->bytes);
  acs_http_request_write(&h->bytes, acs_http_request_get(c->parser));
  if (c->pending_off < c->pending.len)
    acs_buf_append(&h->bytes, c->pending.data + c->pending_off, c->pending.len - c->pending_off);
  if (acs_buf_err(&h->bytes)) {
    acs__handoff_free(h);
    return ACS_ENOMEM;
  }
  /* The duplicate keeps the socket open once this worker closes its handle
   * (which also takes the fd out of this loop's epoll set). */
  h->fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (h->fd < 0) {
    rc = -errno;
    acs__handoff_free(h);
    return rc;
  }
  if ((rc = acs__worker_handoff_push(&s->workers[target], h))) {
    acs__handoff_free(h);
    return rc;
  }
  c->handler_pending = false; /* nobody answers here any more */
  h->tls = c->tls; /* the target's now (the queue's lock orders its use) */
  c->tls = NULL;
  conn_read_stop(c);
  conn_close(c);
  return 0;
}

const char *acs_conn_peer(const acs_conn *c) { return c->peer; }
bool acs_conn_is_tls(const acs_conn *c) { return c->tls != NULL; }
const acs_tls_peer *acs_conn_tls_peer(const acs_conn *c) {
  return c->tls ? acs_tls_conn_peer(c->tls) : NULL;
}
acs_worker *acs_conn_worker(const acs_conn *c) { return c->w; }
acs_listener_kind acs_conn_listener(const acs_conn *c) { return c->kind; }

/* --- worker side */

static void conn_reject_close_cb(uv_handle_t *h) {
  acs_worker *w = h->data;
  w->reject_busy = false;
}

static void conn_init(acs_worker *w, acs_conn *c, acs_listener_kind kind) {
  c->w = w;
  c->kind = kind;
  acs_buf_init(&c->pending);
  acs_buf_init(&c->out);
  uv_tcp_init(&w->loop, &c->tcp);
  uv_timer_init(&w->loop, &c->timer);
  c->tcp.data = c;
  c->timer.data = c;
  c->handles = 2;
  c->next = w->conns;
  if (w->conns) w->conns->prev = c;
  w->conns = c;
  w->n_active++;
  atomic_fetch_add_explicit(&w->st_open, 1, memory_order_relaxed);
  atomic_fetch_add_explicit(&w->srv->open_conns, 1, memory_order_relaxed);
  atomic_fetch_add_explicit(&w->st_total, 1, memory_order_relaxed);
}

/* Socket options and the peer's address, once the handle has its socket. */
static void conn_start(acs_conn *c) {
  uv_tcp_nodelay(&c->tcp, 1);
  struct sockaddr_storage ss;
  int len = sizeof ss;
  if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len) == 0) {
    uv_ip_name((struct sockaddr *)&ss, c->peer, sizeof c->peer);
  } else {
    strcpy(c->peer, "?");
  }
}

void acs__conn_accept(acs_worker *w, uv_stream_t *listener, acs_listener_kind kind) {
  acs_conn *c = calloc(1, sizeof *c);
  if (!c) {
    /* libuv holds the accepted socket until uv_accept(): take it with the
     * worker's spare handle and close it, or this listener would stop
     * accepting for good. */
    acs_log(ACS_LOG_ERR, "net", "out of memory accepting a connection");
    if (!w->reject_busy) {
      uv_tcp_init(&w->loop, &w->reject);
      w->reject.data = w;
      w->reject_busy = true;
      uv_accept(listener, (uv_stream_t *)&w->reject);
      uv_close((uv_handle_t *)&w->reject, conn_reject_close_cb);
    }
    return;
  }
  conn_init(w, c, kind);
  int rc = uv_accept(listener, (uv_stream_t *)&c->tcp);
  if (rc) {
    acs_log(ACS_LOG_WARN, "net", "accept: %s", uv_strerror(rc));
    conn_close(c);
    return;
  }
  conn_start(c);
  acs_tls *tls = conn_cfg(c)->tls[kind];
  if (tls && !(c->tls = acs_tls_conn_new(tls))) {
    acs_log(ACS_LOG_ERR, "net", "%s: out of memory for TLS", c->peer);
    conn_close(c);
    return;
  }
  c->proxy_wait = conn_cfg(c)->proxy_protocol[kind];
  c->first_read = true;
  /* Header mode from the start: a connection that sends nothing gets a 408
   * after header_timeout_ms, like one that sends half a request. */
  conn_timer(c, T_HEADER, conn_cfg(c)->header_timeout_ms);
  conn_read_start(c);
}

void acs__conn_adopt(acs_worker *w, acs__handoff *h) {
  acs_conn *c = calloc(1, sizeof *c);
  if (!c) {
    acs_log(ACS_LOG_ERR, "net", "out of memory adopting a connection");
    acs__handoff_free(h);
    return;
  }
  conn_init(w, c, h->kind);
  c->handed_off = true;
  int rc = uv_tcp_open(&c->tcp, h->fd);
  if (rc) {
    acs_log(ACS_LOG_WARN, "net", "worker %u: adopting a connection: %s", w->index, uv_strerror(rc));
    acs__handoff_free(h);
    conn_close(c);
    return;
  }
  h->fd = -1; /* the handle owns it */
  c->tls = h->tls;
  h->tls = NULL;
  conn_start(c);
  if (h->peer[0]) snprintf(c->peer, sizeof c->peer, "%s", h->peer);
  conn_timer(c, T_HEADER, conn_cfg(c)->header_timeout_ms);
  conn_feed(c, h->bytes.data, h->bytes.len, false);
  acs__handoff_free(h);
}

void acs__conn_stop_all(acs_worker *w) {
  acs_conn *next;
  for (acs_conn *c = w->conns; c; c = next) {
    next = c->next;
    if (c->closing || c->lingering || c->handler_pending) continue;
    if (c->writing) {
      c->close_after_write = true;
    } else if (!c->parser || !acs_http_in_progress(c->parser)) {
      conn_close(c); /* idle */
    }
    /* else: a request is arriving; it is answered with Connection: close */
  }
}

bool acs__conn_close_all(acs_worker *w) {
  bool cut = false;
  acs_conn *next;
  for (acs_conn *c = w->conns; c; c = next) {
    next = c->next;
    if (c->closing) continue;
    if (c->handler_pending || c->writing || (c->parser && acs_http_in_progress(c->parser))) {
      cut = true;
    }
    conn_close(c);
  }
  return cut;
}

void acs__conn_free_remaining(acs_worker *w) {
  while (w->conns) {
    acs_conn *c = w->conns;
    acs_log(ACS_LOG_WARN, "net", "worker %u: handler never answered %s", w->index, c->peer);
    conn_free(c);
  }
}
