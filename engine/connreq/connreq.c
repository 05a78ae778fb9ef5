/* connreq.c: HTTP connection requests with Digest/Basic (acs_connreq.h).
 *
 * A request: resolve (unless the host is an address), connect, GET without
 * credentials, read the answer's head; a 401 with a challenge we can answer
 * closes that connection (many CPEs close after a 401 anyway) and repeats
 * the GET on a new one with the Authorization header; 200/204 is success.
 * One timer bounds all of it. Handles are freed in their close callbacks;
 * the callback runs once everything of the request is closed. */
#include <arpa/inet.h>
#include <openssl/rand.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "connreq/acs_connreq.h"
#include "core/acs_buf.h"
#include "core/acs_err.h"
#include "core/acs_log.h"
#include "http/acs_digest.h"

#define MAX_HEAD 16384

typedef struct creq creq;

struct acs_connreq_pool {
  uv_loop_t *loop;
  unsigned max, in_flight, waiting;
  creq *head, *tail; /* waiting, in order */
  creq *active;      /* in flight (doubly linked) */
  bool closing;
  bool in_close; /* inside acs_connreq_pool_close: do not free yet */
};

struct creq {
  acs_connreq_pool *p;
  creq *next, *prev;
  char *host, *path, *user, *pass;
  int port;
  unsigned timeout_ms;
  acs_connreq_cb cb;
  void *arg;
  uv_getaddrinfo_t gai;
  bool gai_pending;
  struct sockaddr_storage addr;
  uv_tcp_t tcp;
  bool tcp_open;
  uv_timer_t timer;
  bool timer_open;
  uv_connect_t conn;
  uv_write_t wr;
  acs_buf out, in;
  acs_auth_challenge ch;
  bool have_challenge;
  bool finishing;
  bool retry_after_close; /* the 401 was answered: connect again once closed */
  acs_connreq_result res;
};

static void start(creq *r);
static void connect_now(creq *r);

/* --- ending */

static void pool_next(acs_connreq_pool *p) {
  while (!p->closing && p->head && p->in_flight < p->max) {
    creq *r = p->head;
    p->head = r->next;
    if (!p->head) p->tail = NULL;
    p->waiting--;
    r->next = p->active;
    r->prev = NULL;
    if (p->active) p->active->prev = r;
    p->active = r;
    p->in_flight++;
    start(r);
  }
}

static void req_free(creq *r) {
  free(r->host);
  free(r->path);
  free(r->user);
  free(r->pass);
  acs_buf_free(&r->out);
  acs_buf_free(&r->in);
  free(r);
}

static void maybe_done(creq *r) {
  if (!r->finishing || r->tcp_open || r->timer_open || r->gai_pending) return;
  acs_connreq_pool *p = r->p;
  if (r->prev) {
    r->prev->next = r->next;
  } else {
    p->active = r->next;
  }
  if (r->next) r->next->prev = r->prev;
  p->in_flight--;
  if (r->cb) r->cb(&r->res, r->arg);
  req_free(r);
  if (p->closing) {
    if (!p->active && !p->in_close) free(p);
    return;
  }
  pool_next(p);
}

static void tcp_closed_cb(uv_handle_t *h) {
  creq *r = h->data;
  r->tcp_open = false;
  if (r->retry_after_close && !r->finishing) {
    r->retry_after_close = false;
    connect_now(r);
    return;
  }
  maybe_done(r);
}

static void timer_closed_cb(uv_handle_t *h) {
  creq *r = h->data;
  r->timer_open = false;
  maybe_done(r);
}

static void finish(creq *r, int status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void finish(creq *r, int status, const char *fmt, ...) {
  if (r->finishing) return;
  r->finishing = true;
  r->res.status = status;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(r->res.detail, sizeof r->res.detail, fmt, ap);
  va_end(ap);
  if (r->gai_pending) uv_cancel((uv_req_t *)&r->gai);
  if (r->tcp_open && !uv_is_closing((uv_handle_t *)&r->tcp))
    uv_close((uv_handle_t *)&r->tcp, tcp_closed_cb);
  if (r->timer_open && !uv_is_closing((uv_handle_t *)&r->timer))
    uv_close((uv_handle_t *)&r->timer, timer_closed_cb);
  maybe_done(r);
}

static void timeout_cb(uv_timer_t *t) {
  creq *r = t->data;
  finish(r, ACS_ETIMEOUT, "no answer from %s:%d within %u ms", r->host, r->port, r->timeout_ms);
}

/* --- the HTTP exchange */

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  creq *r = h->data;
  if (acs_buf_reserve(&r->in, 4096)) {
    *buf = uv_buf_init(NULL, 0);
    return;
  }
  *buf = uv_buf_init(r->in.data + r->in.len, (unsigned)(r->in.cap - r->in.len - 1));
}

/* The end of the head: "\r\n\r\n" or, from sloppy stacks, "\n\n". (A head
 * the CPE ends by closing the connection instead is taken in read_cb.) */
static size_t head_end(const acs_buf *b) {
  for (size_t i = 0; i + 1 < b->len; i++) {
    if (b->data[i] == '\n' &&
        (b->data[i + 1] == '\n' ||
         (b->data[i + 1] == '\r' && i + 2 < b->len && b->data[i + 2] == '\n')))
      return i + 1;
  }
  return 0;
}

static void on_head(creq *r, size_t len) {
  int code = 0;
  if (sscanf(r->in.data, "HTTP/%*d.%*d %d", &code) != 1) {
    finish(r, ACS_EHTTP, "%s:%d answered no HTTP status line", r->host, r->port);
    return;
  }
  r->res.http_status = code;
  if (code == 200 || code == 204) {
    finish(r, 0, "accepted (%d)", code);
    return;
  }
  if (code == 401 && !r->have_challenge) {
    if (!r->user || !r->pass) {
      finish(r, ACS_EINVAL, "no credentials: the CPE asks for them (401) and %s",
             r->user ? "no password is known" : "none are known");
      return;
    }
    int rc = acs_auth_from_head(r->in.data, len, &r->ch);
    if (rc) {
      finish(r, rc, "401 with %s",
             rc == ACS_ENOTFOUND ? "no WWW-Authenticate header"
                                 : "an authentication scheme not supported");
      return;
    }
    r->have_challenge = true;
    r->retry_after_close = true;
    uv_close((uv_handle_t *)&r->tcp, tcp_closed_cb);
    return;
  }
  if (code == 401) {
    finish(r, ACS_EINVAL, "credentials refused (401)");
  } else if (code == 503) {
    finish(r, ACS_EUNAVAILABLE, "the CPE is rate limiting connection requests (503)");
  } else {
    finish(r, ACS_EHTTP, "unexpected HTTP status %d", code);
  }
}

static void read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  creq *r = s->data;
  if (r->finishing || r->retry_after_close) return;
  if (nread == UV_EOF && r->in.len && !strncmp(r->in.data, "HTTP/", 5)) {
    /* Lenient: some CPE stacks close the connection where the empty line
     * ending the header block belongs (even without the last line's LF).
     * Connection: close makes the close the end of the answer, so what
     * arrived is the head. */
    uv_read_stop(s);
    if (r->in.data[r->in.len - 1] != '\n') {
      acs_buf_putc(&r->in, '\n');
      if (acs_buf_err(&r->in)) {
        finish(r, ACS_ENOMEM, "out of memory");
        return;
      }
    }
    on_head(r, r->in.len);
    return;
  }
  if (nread < 0) {
    finish(r, nread == UV_EOF ? ACS_EHTTP : (int)nread, "%s:%d closed the connection: %s", r->host,
           r->port, nread == UV_EOF ? "no answer" : uv_strerror((int)nread));
    return;
  }
  r->in.len += (size_t)nread;
  r->in.data[r->in.len] = '\0';
  size_t end = head_end(&r->in);
  if (end) {
    uv_read_stop(s);
    on_head(r, end);
  } else if (r->in.len > MAX_HEAD) {
    finish(r, ACS_EHTTP, "answer head over %d bytes", MAX_HEAD);
  }
}

static void write_cb(uv_write_t *w, int status) {
  creq *r = w->data;
  if (r->finishing) return;
  if (status < 0) {
    finish(r, status, "sending to %s:%d: %s", r->host, r->port, uv_strerror(status));
    return;
  }
  uv_read_start((uv_stream_t *)&r->tcp, alloc_cb, read_cb);
}

static void connect_cb(uv_connect_t *c, int status) {
  creq *r = c->data;
  if (r->finishing) return;
  if (status < 0) {
    finish(r, status, "cannot connect to %s:%d: %s", r->host, r->port, uv_strerror(status));
    return;
  }
  acs_buf_reset(&r->out);
  acs_buf_reset(&r->in);
  bool v6 = strchr(r->host, ':') != NULL;
  acs_buf_printf(&r->out, "GET %s HTTP/1.1\r\nHost: %s%s%s:%d\r\nConnection: close\r\n", r->path,
                 v6 ? "[" : "", r->host, v6 ? "]" : "", r->port);
  if (r->have_challenge) {
    unsigned char rnd[8];
    char cnonce[17];
    if (RAND_bytes(rnd, sizeof rnd) != 1) memset(rnd, 0x5a, sizeof rnd);
    for (int i = 0; i < 8; i++) snprintf(cnonce + 2 * i, 3, "%02x", rnd[i]);
    int rc = acs_auth_header(&r->ch, r->user, r->pass, "GET", r->path, cnonce, 1, &r->out);
    if (rc) {
      finish(r, rc, "cannot answer the challenge");
      return;
    }
  }
  acs_buf_puts(&r->out, "User-Agent: acsd\r\n\r\n");
  if (acs_buf_err(&r->out)) {
    finish(r, ACS_ENOMEM, "out of memory");
    return;
  }
  r->res.rounds++;
  uv_buf_t b = uv_buf_init(r->out.data, (unsigned)r->out.len);
  r->wr.data = r;
  int rc = uv_write(&r->wr, (uv_stream_t *)&r->tcp, &b, 1, write_cb);
  if (rc) finish(r, rc, "write: %s", uv_strerror(rc));
}

static void connect_now(creq *r) {
  uv_tcp_init(r->p->loop, &r->tcp);
  r->tcp.data = r;
  r->tcp_open = true;
  r->conn.data = r;
  int rc = uv_tcp_connect(&r->conn, &r->tcp, (const struct sockaddr *)&r->addr, connect_cb);
  if (rc) finish(r, rc, "connect to %s:%d: %s", r->host, r->port, uv_strerror(rc));
}

static void gai_cb(uv_getaddrinfo_t *g, int status, struct addrinfo *res) {
  creq *r = g->data;
  r->gai_pending = false;
  if (r->finishing) {
    if (res) uv_freeaddrinfo(res);
    maybe_done(r);
    return;
  }
  if (status < 0 || !res) {
    finish(r, status < 0 ? status : ACS_ENOTFOUND, "cannot resolve %s: %s", r->host,
           status < 0 ? uv_strerror(status) : "no address");
    if (res) uv_freeaddrinfo(res);
    return;
  }
  memcpy(&r->addr, res->ai_addr, res->ai_addrlen);
  uv_freeaddrinfo(res);
  if (r->addr.ss_family == AF_INET6) {
    ((struct sockaddr_in6 *)&r->addr)->sin6_port = htons((uint16_t)r->port);
  } else {
    ((struct sockaddr_in *)&r->addr)->sin_port = htons((uint16_t)r->port);
  }
  connect_now(r);
}

static void start(creq *r) {
  uv_timer_init(r->p->loop, &r->timer);
  r->timer.data = r;
  r->timer_open = true;
  uv_timer_start(&r->timer, timeout_cb, r->timeout_ms, 0);
  struct sockaddr_in *a4 = (struct sockaddr_in *)&r->addr;
  struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&r->addr;
  memset(&r->addr, 0, sizeof r->addr);
  if (uv_ip4_addr(r->host, r->port, a4) == 0) {
    connect_now(r);
  } else if (uv_ip6_addr(r->host, r->port, a6) == 0) {
    connect_now(r);
  } else {
    struct addrinfo hints;
    memset(&hints, 0, sizeof hints);
    hints.ai_socktype = SOCK_STREAM;
    r->gai.data = r;
    int rc = uv_getaddrinfo(r->p->loop, &r->gai, gai_cb, r->host, NULL, &hints);
    if (rc) {
      finish(r, rc, "cannot resolve %s: %s", r->host, uv_strerror(rc));
      return;
    }
    r->gai_pending = true;
  }
}

/* --- URL and queue */

static int parse_url(creq *r, const char *url) {
  if (strncasecmp(url, "http://", 7) != 0) return ACS_EINVAL;
  const char *h = url + 7, *hend, *p;
  if (*h == '[') {
    hend = strchr(h, ']');
    if (!hend) return ACS_EINVAL;
    r->host = strndup(h + 1, (size_t)(hend - h - 1));
    p = hend + 1;
  } else {
    hend = h + strcspn(h, ":/?");
    r->host = strndup(h, (size_t)(hend - h));
    p = hend;
  }
  if (!r->host) return ACS_ENOMEM;
  if (!r->host[0]) return ACS_EINVAL;
  r->port = 80;
  if (*p == ':') {
    char *e;
    long port = strtol(p + 1, &e, 10);
    if (e == p + 1 || port <= 0 || port > 65535) return ACS_EINVAL;
    r->port = (int)port;
    p = e;
  }
  if (*p && *p != '/' && *p != '?') return ACS_EINVAL;
  if (*p == '?') {
    size_t n = strlen(p);
    r->path = malloc(n + 2);
    if (r->path) snprintf(r->path, n + 2, "/%s", p);
  } else {
    r->path = strdup(*p ? p : "/");
  }
  if (!r->path) return ACS_ENOMEM;
  for (const char *c = r->path; *c; c++)
    if ((unsigned char)*c <= ' ') return ACS_EINVAL; /* no header injection */
  return 0;
}

int acs_connreq_pool_new(uv_loop_t *loop, unsigned max_in_flight, acs_connreq_pool **out) {
  acs_connreq_pool *p = calloc(1, sizeof *p);
  if (!p) return ACS_ENOMEM;
  p->loop = loop;
  p->max = max_in_flight ? max_in_flight : 1;
  *out = p;
  return 0;
}

int acs_connreq_send(acs_connreq_pool *p, const char *url, const char *user, const char *pass,
                     unsigned timeout_ms, acs_connreq_cb cb, void *arg) {
  if (p->closing) return ACS_ESTATE;
  if (!url) return ACS_EINVAL;
  creq *r = calloc(1, sizeof *r);
  if (!r) return ACS_ENOMEM;
  r->p = p;
  acs_buf_init(&r->out);
  acs_buf_init(&r->in);
  int rc = parse_url(r, url);
  if (!rc && user && !(r->user = strdup(user))) rc = ACS_ENOMEM;
  if (!rc && pass && !(r->pass = strdup(pass))) rc = ACS_ENOMEM;
  if (rc) {
    req_free(r);
    return rc;
  }
  r->timeout_ms = timeout_ms ? timeout_ms : 10000;
  r->cb = cb;
  r->arg = arg;
  if (p->tail) {
    p->tail->next = r;
  } else {
    p->head = r;
  }
  p->tail = r;
  p->waiting++;
  /* a free slot starts it now: every path to its callback goes through a
   * handle's close callback, so cb never runs inside this call */
  pool_next(p);
  return 0;
}

void acs_connreq_pool_close(acs_connreq_pool *p) {
  p->closing = true;
  p->in_close = true;
  while (p->head) { /* never started: nothing open, so told right here */
    creq *r = p->head;
    p->head = r->next;
    p->waiting--;
    r->next = p->active;
    r->prev = NULL;
    if (p->active) p->active->prev = r;
    p->active = r;
    p->in_flight++;
    finish(r, ACS_ECANCELED, "cancelled: acsd is stopping");
  }
  p->tail = NULL;
  for (creq *r = p->active, *next; r; r = next) {
    next = r->next;
    finish(r, ACS_ECANCELED, "cancelled: acsd is stopping");
  }
  p->in_close = false;
  if (!p->active) free(p);
}

unsigned acs_connreq_in_flight(const acs_connreq_pool *p) { return p->in_flight; }
unsigned acs_connreq_waiting(const acs_connreq_pool *p) { return p->waiting; }
