/* crserver.c: the connection-request listener, one port for the whole
 * process with a path per device (ConnectionRequestURL is
 * http://HOST:PORT/SERIAL), HTTP Digest (MD5, qop=auth) against the
 * device's ConnectionRequestUsername/Password; 200 and then a session with
 * "6 CONNECTION REQUEST". A device that is rebooting does not answer (the
 * connection is closed).
 *
 * The same port serves the control endpoints under /_sim/ (tests use them
 * to look inside a device or to change a value the way a subscriber would,
 * which is what makes "4 VALUE CHANGE"; docs/cpesim.md). */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/acs_config.h"
#include "core/acs_err.h"
#include "http/acs_http.h"
#include "sim.h"

#define REALM "cpesim"
#define NONCE_TTL 300

typedef struct crconn {
  uv_tcp_t tcp;
  uv_timer_t timer;
  uv_write_t w;
  acs_http_parser *p;
  acs_buf in, out;
  bool writing, close_after, closing;
  int open_handles;
  struct crconn *prev, *next;
} crconn;

static uv_tcp_t listener;
static bool listening;
static crconn *conns;
static char secret[17];

/* --- connections */

static void conn_handle_closed(uv_handle_t *h) {
  crconn *c = h->data;
  if (--c->open_handles > 0) return;
  acs_http_parser_free(c->p);
  acs_buf_free(&c->in);
  acs_buf_free(&c->out);
  free(c);
}

static void conn_close(crconn *c) {
  if (c->closing) return;
  c->closing = true;
  if (c->prev)
    c->prev->next = c->next;
  else
    conns = c->next;
  if (c->next) c->next->prev = c->prev;
  uv_close((uv_handle_t *)&c->tcp, conn_handle_closed);
  uv_close((uv_handle_t *)&c->timer, conn_handle_closed);
}

static void process(crconn *c);

static void write_cb(uv_write_t *w, int status) {
  crconn *c = w->data;
  c->writing = false;
  acs_buf_reset(&c->out);
  if (c->closing) return;
  if (status || c->close_after) {
    conn_close(c);
    return;
  }
  process(c); /* a pipelined request */
}

/* Writes c->out, then closes unless keep. */
static void send_out(crconn *c, bool keep) {
  c->close_after = !keep;
  c->writing = true;
  c->w.data = c;
  uv_buf_t b = uv_buf_init(c->out.data, (unsigned)c->out.len);
  if (uv_write(&c->w, (uv_stream_t *)&c->tcp, &b, 1, write_cb)) {
    c->writing = false;
    conn_close(c);
  }
}

static void respond(crconn *c, int status, const char *type, const char *body, const char *extra,
                    bool keep) {
  acs_http_response r = {
      .status = status,
      .content_type = body && *body ? type : NULL,
      .body = body,
      .body_len = body ? strlen(body) : 0,
      .keep_alive = keep,
      .extra_headers = extra,
  };
  acs_buf_reset(&c->out);
  acs_http_response_write(&c->out, &r);
  send_out(c, keep);
}

/* --- Digest */

static void make_nonce(char *out, size_t n) {
  char ts[24], h[33];
  snprintf(ts, sizeof ts, "%llx", (unsigned long long)sim_wall_s());
  const char *parts[] = {secret, ":", ts};
  sim_md5_hex(h, parts, 3);
  snprintf(out, n, "%s.%.16s", ts, h);
}

/* 0 valid, 1 stale, -1 not ours */
static int nonce_check(const char *nonce) {
  const char *dot = strchr(nonce, '.');
  if (!dot || dot - nonce > 20) return -1;
  char ts[24], h[33];
  memcpy(ts, nonce, (size_t)(dot - nonce));
  ts[dot - nonce] = '\0';
  const char *parts[] = {secret, ":", ts};
  sim_md5_hex(h, parts, 3);
  if (strlen(dot + 1) != 16 || strncmp(dot + 1, h, 16) != 0) return -1;
  long long t = strtoll(ts, NULL, 16);
  return sim_wall_s() - t > NONCE_TTL ? 1 : 0;
}

/* 0 authenticated, 1 stale nonce, -1 refused */
static int digest_ok(sim_dev *d, const acs_http_request *req) {
  const char *h = acs_http_header_get(req, "Authorization");
  if (!h || strncasecmp(h, "Digest", 6) != 0) return -1;
  char user[256], realm[64], nonce[64], uri[1024], resp[64], qop[16] = "", nc[16] = "",
                                                             cnonce[128] = "", alg[16] = "MD5";
  if (sim_auth_param(h, "username", user, sizeof user) ||
      sim_auth_param(h, "realm", realm, sizeof realm) ||
      sim_auth_param(h, "nonce", nonce, sizeof nonce) ||
      sim_auth_param(h, "uri", uri, sizeof uri) || sim_auth_param(h, "response", resp, sizeof resp))
    return -1;
  bool has_qop = sim_auth_param(h, "qop", qop, sizeof qop) == 0;
  sim_auth_param(h, "nc", nc, sizeof nc);
  sim_auth_param(h, "cnonce", cnonce, sizeof cnonce);
  sim_auth_param(h, "algorithm", alg, sizeof alg);
  if (strcmp(realm, REALM) != 0 || strcasecmp(alg, "MD5") != 0) return -1;
  if (strcmp(uri, req->target) != 0) return -1;
  if (has_qop && strcmp(qop, "auth") != 0) return -1;
  acs_buf a = ACS_BUF_INIT, b = ACS_BUF_INIT;
  const char *cu = sim_dev_get_known(d, S->model->cr_user, &a, "");
  const char *cp = sim_dev_get_known(d, S->model->cr_pass, &b, "");
  int rc = -1;
  if (strcmp(user, cu) == 0) {
    char ha1[33], ha2[33], want[33];
    const char *p1[] = {cu, ":", REALM, ":", cp};
    sim_md5_hex(ha1, p1, 5);
    const char *p2[] = {req->method, ":", uri};
    sim_md5_hex(ha2, p2, 3);
    if (has_qop) {
      const char *pr[] = {ha1, ":", nonce, ":", nc, ":", cnonce, ":", qop, ":", ha2};
      sim_md5_hex(want, pr, 11);
    } else {
      const char *pr[] = {ha1, ":", nonce, ":", ha2};
      sim_md5_hex(want, pr, 5);
    }
    if (strcasecmp(want, resp) == 0) rc = nonce_check(nonce);
  }
  acs_buf_free(&a);
  acs_buf_free(&b);
  return rc;
}

/* The 401 as --cr-challenge has it: the header on one line or folded over
 * three (obs-fold: continuation lines start with a space or a tab, as some
 * CPE stacks still send), lines ending in CRLF or, from sloppy stacks, LF
 * alone. Folded or LF-only, the head is written here: the shared response
 * writer only writes what RFC 9112 allows. */
static void challenge(crconn *c, bool stale, bool keep) {
  char nonce[64], extra[256];
  make_nonce(nonce, sizeof nonce);
  const char *eol = S->o.cr_lf ? "\n" : "\r\n";
  const char *fold = S->o.cr_folded ? (S->o.cr_lf ? "\n\t" : "\r\n\t") : " ";
  const char *fold2 = S->o.cr_folded ? (S->o.cr_lf ? "\n " : "\r\n ") : " ";
  /* digest-no-commas: parameters separated by white space alone */
  const char *comma = SIM_QUIRK(SIM_Q_DIGEST_NO_COMMAS) ? "" : ",";
  bool unterminated = SIM_QUIRK(SIM_Q_CR_UNTERMINATED);
  snprintf(extra, sizeof extra,
           "WWW-Authenticate: Digest realm=\"" REALM
           "\"%s%sqop=\"auth\"%s%snonce=\"%s\"%s algorithm=MD5%s%s%s",
           comma, fold, comma, fold2, nonce, comma, stale ? comma : "",
           stale ? " stale=true" : "", eol);
  if (!S->o.cr_folded && !S->o.cr_lf && !unterminated) {
    respond(c, 401, NULL, NULL, extra, keep);
    return;
  }
  /* cr-unterminated: no empty line after the head, the connection closed */
  if (unterminated) keep = false;
  acs_buf_reset(&c->out);
  acs_buf_printf(&c->out, "HTTP/1.1 401 Unauthorized%s%sContent-Length: 0%sConnection: %s%s%s", eol,
                 extra, eol, keep ? "keep-alive" : "close", eol, unterminated ? "" : eol);
  send_out(c, keep);
}

/* cr-unterminated: "HTTP/1.1 200 OK\nDate: ...\nContent-Length: 0" and the
 * close, without even the last line's end. */
static void ok_unterminated(crconn *c) {
  char date[64];
  time_t t = time(NULL);
  struct tm tm;
  gmtime_r(&t, &tm);
  strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
  const char *eol = S->o.cr_lf ? "\n" : "\r\n";
  acs_buf_reset(&c->out);
  acs_buf_printf(&c->out, "HTTP/1.1 200 OK%sDate: %s%sContent-Length: 0", eol, date, eol);
  send_out(c, false);
}

/* --- devices by serial */

static sim_dev *by_serial(const char *s, size_t n) {
  size_t pl = strlen(S->o.serial_prefix);
  if (n <= pl || strncmp(s, S->o.serial_prefix, pl) != 0) return NULL;
  char *e;
  unsigned long idx = strtoul(s + pl, &e, 10);
  if (e != s + n || idx < S->o.first || idx - S->o.first >= S->ndev) return NULL;
  sim_dev *d = &S->devs[idx - S->o.first];
  return strlen(d->serial) == n && memcmp(d->serial, s, n) == 0 ? d : NULL;
}

/* --- the control endpoints */

static const char *const state_names[] = {"idle", "due", "session", "backoff", "off"};

typedef struct dump_ctx {
  acs_buf *out;
  acs_buf scratch;
  bool raw;
} dump_ctx;

static void dump_cb(sim_dev *d, sim_ref r, void *ctx) {
  dump_ctx *c = ctx;
  const sim_node *n = sim_dev_node(d, r);
  if (n->type == SIM_OBJECT) {
    acs_buf_printf(c->out, "%s\tobject\t%s\n", sim_dev_name(d, r),
                   sim_dev_writable(d, r) ? "W" : "-");
    return;
  }
  acs_buf_printf(c->out, "%s\t%s\t%s%u\t%s\n", sim_dev_name(d, r),
                 acs_cwmp_type_name((acs_cwmp_type)n->type), sim_dev_writable(d, r) ? "W" : "",
                 sim_dev_notif(d, r), sim_dev_value(d, r, &c->scratch, c->raw));
}

static void json_str(acs_buf *b, const char *s) {
  acs_buf_putc(b, '"');
  for (; *s; s++) {
    unsigned char ch = (unsigned char)*s;
    if (ch == '"' || ch == '\\')
      acs_buf_printf(b, "\\%c", ch);
    else if (ch < 0x20)
      acs_buf_printf(b, "\\u%04x", ch);
    else
      acs_buf_putc(b, (char)ch);
  }
  acs_buf_putc(b, '"');
}

static void info(sim_dev *d, acs_buf *out) {
  acs_buf id = ACS_BUF_INIT, v = ACS_BUF_INIT;
  sim_dev_id(d, &id);
  acs_buf_puts(out, "{\"serial\":");
  json_str(out, d->serial);
  acs_buf_puts(out, ",\"id\":");
  json_str(out, id.data ? id.data : "");
  acs_buf_printf(out, ",\"state\":\"%s\",\"retries\":%u,\"bootstrapped\":%s,\"events\":[",
                 state_names[d->state], d->retries, d->bootstrapped ? "true" : "false");
  for (uint32_t i = 0; i < d->events.n; i++) {
    if (i) acs_buf_putc(out, ',');
    json_str(out, sim_ev_name((sim_ev)d->events.v[i].code));
  }
  acs_buf_puts(out, "],\"software_version\":");
  json_str(out, sim_dev_get_known(d, S->model->sw_version, &v, ""));
  acs_buf_printf(out,
                 ",\"queued_transfers\":%u,\"transfer_completes\":%u,\"deployment_units\":%u,"
                 "\"changed_values\":%u,\"added_nodes\":%u}\n",
                 d->xfers.n, d->tcs.n, d->dus.n, d->changed.n, d->dyn.n);
  acs_buf_free(&id);
  acs_buf_free(&v);
}

static void stats_json(acs_buf *out) {
  acs_buf_printf(out,
                 "{\"devices\":%u,\"in_flight\":%u,\"due\":%u,\"started\":%llu,\"ok\":%llu,"
                 "\"failed\":%llu,\"informs\":%llu,\"http_503\":%llu,\"cr\":%llu,"
                 "\"transfers_ok\":%llu,\"transfers_failed\":%llu,\"rss_kib\":%llu}\n",
                 S->ndev, S->in_flight, S->due.n, (unsigned long long)S->st.started,
                 (unsigned long long)S->st.ok, (unsigned long long)S->st.failed,
                 (unsigned long long)S->st.informs_acked, (unsigned long long)S->st.http_503,
                 (unsigned long long)S->st.cr_received, (unsigned long long)S->st.transfers_ok,
                 (unsigned long long)S->st.transfers_failed,
                 (unsigned long long)sim_rss_kib(false));
}

static void control(crconn *c, const acs_http_request *req, bool keep) {
  const char *p = req->path + 6; /* after "/_sim/" */
  acs_buf out = ACS_BUF_INIT, name = ACS_BUF_INIT, value = ACS_BUF_INIT;
  int status = 200;
  if (strcmp(p, "stats") == 0) {
    stats_json(&out);
  } else if (strncmp(p, "dev/", 4) == 0) {
    const char *s = p + 4, *slash = strchr(s, '/');
    sim_dev *d = slash ? by_serial(s, (size_t)(slash - s)) : NULL;
    const char *op = slash ? slash + 1 : "";
    acs_http_query_get(req->query, "name", &name);
    const char *nm = name.data ? name.data : "";
    if (!d) {
      status = 404;
      acs_buf_puts(&out, "no such device\n");
    } else if (strcmp(op, "info") == 0) {
      info(d, &out);
    } else if (strcmp(op, "get") == 0) {
      dump_ctx dc = {.out = &out, .scratch = ACS_BUF_INIT};
      dc.raw = acs_http_query_get(req->query, "raw", &value) == 0;
      if (sim_dev_walk(d, nm, false, dump_cb, &dc)) {
        status = 404;
        acs_buf_printf(&out, "no such parameter: %s\n", nm);
      }
      acs_buf_free(&dc.scratch);
    } else if (strcmp(op, "set") == 0) {
      sim_ref r;
      acs_http_query_get(req->query, "value", &value);
      const char *v = value.data ? value.data : "";
      if (sim_dev_find(d, nm, &r) || !sim_dev_is_param(d, r)) {
        status = 404;
        acs_buf_printf(&out, "no such parameter: %s\n", nm);
      } else if (sim_check_value(sim_dev_node(d, r), v, ACS_XSD_ANY)) {
        status = 400;
        acs_buf_printf(&out, "not a valid value for %s\n", nm);
      } else {
        if (sim_dev_set(d, r, v, false)) sim_dev_due(d, false);
        acs_buf_puts(&out, "ok\n");
      }
    } else {
      status = 404;
      acs_buf_puts(&out, "unknown operation\n");
    }
  } else {
    status = 404;
    acs_buf_puts(&out, "unknown control endpoint\n");
  }
  respond(c, status,
          status == 200 && out.data && out.data[0] == '{' ? "application/json" : "text/plain",
          out.data, NULL, keep);
  acs_buf_free(&out);
  acs_buf_free(&name);
  acs_buf_free(&value);
}

/* --- requests */

static void handle(crconn *c, const acs_http_request *req) {
  bool keep = req->keep_alive && !S->stopping;
  if (strncmp(req->path, "/_sim/", 6) == 0) {
    control(c, req, keep);
    return;
  }
  acs_buf serial = ACS_BUF_INIT;
  const char *path = req->path[0] == '/' ? req->path + 1 : req->path;
  sim_dev *d = NULL;
  if (acs_http_url_decode(path, strlen(path), false, &serial) == 0 && serial.data)
    d = by_serial(serial.data, serial.len);
  acs_buf_free(&serial);
  if (!d) {
    respond(c, 404, "text/plain", "no such device\n", NULL, keep);
    return;
  }
  if (strcmp(req->method, "GET") != 0 && strcmp(req->method, "HEAD") != 0) {
    respond(c, 405, NULL, NULL, "Allow: GET\r\n", keep);
    return;
  }
  if (d->state == SIM_D_OFF || S->stopping) {
    conn_close(c); /* not reachable while it reboots */
    return;
  }
  int a = digest_ok(d, req);
  if (a) {
    if (acs_http_header_get(req, "Authorization") && a < 0) S->st.cr_denied++;
    challenge(c, a > 0, keep);
    return;
  }
  S->st.cr_received++;
  SIM_LOG("%s: connection request", d->serial);
  if (SIM_QUIRK(SIM_Q_CR_UNTERMINATED))
    ok_unterminated(c);
  else
    respond(c, 200, NULL, NULL, NULL, keep);
  sim_dev_add_event(d, SIM_EV_CONNECTION_REQUEST, NULL);
  sim_dev_due(d, true);
}

static void process(crconn *c) {
  while (!c->closing && !c->writing && c->in.len) {
    size_t used = 0;
    acs_http_status st = acs_http_feed(c->p, c->in.data, c->in.len, &used);
    if (st == ACS_HTTP_ERROR) {
      respond(c, acs_http_error_status(c->p), "text/plain", acs_http_error_reason(c->p), NULL,
              false);
      acs_buf_reset(&c->in);
      return;
    }
    acs_buf_consume(&c->in, used);
    if (st == ACS_HTTP_NEED_MORE) return;
    uv_timer_again(&c->timer);
    handle(c, acs_http_request_get(c->p));
    acs_http_next(c->p);
  }
}

static void alloc_cb(uv_handle_t *h, size_t hint, uv_buf_t *buf) {
  static char space[16384];
  (void)h;
  (void)hint;
  buf->base = space;
  buf->len = sizeof space;
}

static void read_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *buf) {
  crconn *c = s->data;
  if (n < 0) {
    conn_close(c);
    return;
  }
  if (n == 0 || c->closing) return;
  if (c->in.len + (size_t)n > 65536) {
    conn_close(c);
    return;
  }
  acs_buf_append(&c->in, buf->base, (size_t)n);
  process(c);
}

static void idle_cb(uv_timer_t *t) { conn_close(t->data); }

static void accept_cb(uv_stream_t *server, int status) {
  if (status) return;
  crconn *c = sim_xcalloc(1, sizeof *c);
  uv_tcp_init(S->loop, &c->tcp);
  uv_timer_init(S->loop, &c->timer);
  c->tcp.data = c->timer.data = c;
  c->open_handles = 2;
  acs_http_limits lim = ACS_HTTP_LIMITS_DEFAULT;
  lim.max_body_bytes = 16384;
  c->p = acs_http_parser_new(&lim);
  c->next = conns;
  if (conns) conns->prev = c;
  conns = c;
  if (!c->p || uv_accept(server, (uv_stream_t *)&c->tcp) ||
      uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, read_cb)) {
    conn_close(c);
    return;
  }
  uv_timer_start(&c->timer, idle_cb, 30000, 30000);
}

int sim_cr_start(const char *listen, char *err, size_t errlen) {
  struct sockaddr_storage addr;
  if (acs_addr_parse(listen, &addr)) {
    snprintf(err, errlen, "--cr-listen %s: expected HOST:PORT", listen);
    return ACS_EINVAL;
  }
  snprintf(secret, sizeof secret, "%016llx", (unsigned long long)sim_rand());
  uv_tcp_init(S->loop, &listener);
  int rc = uv_tcp_bind(&listener, (const struct sockaddr *)&addr, 0);
  if (!rc) rc = uv_listen((uv_stream_t *)&listener, 1024, accept_cb);
  if (rc) {
    snprintf(err, errlen, "--cr-listen %s: %s", listen, uv_strerror(rc));
    uv_close((uv_handle_t *)&listener, NULL);
    return rc;
  }
  listening = true;
  struct sockaddr_storage bound;
  int len = sizeof bound;
  uv_tcp_getsockname(&listener, (struct sockaddr *)&bound, &len);
  char host[64] = "127.0.0.1";
  unsigned port = 0;
  if (bound.ss_family == AF_INET) {
    struct sockaddr_in *s4 = (struct sockaddr_in *)&bound;
    port = ntohs(s4->sin_port);
    if (s4->sin_addr.s_addr != htonl(INADDR_ANY))
      inet_ntop(AF_INET, &s4->sin_addr, host, sizeof host);
    snprintf(S->cr_base, sizeof S->cr_base, "http://%s:%u/", host, port);
  } else {
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&bound;
    port = ntohs(s6->sin6_port);
    if (IN6_IS_ADDR_UNSPECIFIED(&s6->sin6_addr))
      snprintf(host, sizeof host, "::1");
    else
      inet_ntop(AF_INET6, &s6->sin6_addr, host, sizeof host);
    snprintf(S->cr_base, sizeof S->cr_base, "http://[%s]:%u/", host, port);
  }
  return 0;
}

void sim_cr_stop(void) {
  if (listening) {
    listening = false;
    uv_close((uv_handle_t *)&listener, NULL);
  }
  while (conns) conn_close(conns);
}
