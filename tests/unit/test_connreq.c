/* test_connreq: connection requests against a CPE played on loopback by
 * this test: Digest challenge (folded over lines, LF-only) answered and
 * checked, wrong credentials refused, a username without a password
 * reported as no credentials; issue 11's agent: a 401 and a 200 whose head
 * the close ends (no empty line, the 200 without even its last LF), and a
 * Digest challenge without commas; 503 reported as rate limiting, a CPE
 * that never answers cut at the timeout, Basic, the cap on requests in
 * flight, bad URLs refused. */
#include <uv.h>

#include "acs_test.h"
#include "connreq/acs_connreq.h"
#include "core/acs_err.h"
#include "http/acs_digest.h"

typedef enum { MODE_DIGEST, MODE_503, MODE_SILENT, MODE_BASIC, MODE_UNTERMINATED, MODE_NOCOMMA } mode;

static uv_loop_t loop;
static uv_tcp_t server;
static int port;
static mode cur_mode;
static int open_conns, max_conns, requests_seen;
static const char *good_pass = "s3cret";

typedef struct sconn {
  uv_tcp_t tcp;
  acs_buf in;
  uv_write_t w;
  char *reply;
  bool seen; /* the request head was handled */
} sconn;

static void sconn_closed(uv_handle_t *h) {
  sconn *c = h->data;
  acs_buf_free(&c->in);
  free(c->reply);
  free(c);
  open_conns--;
}

static void sconn_written(uv_write_t *w, int status) {
  sconn *c = w->data;
  uv_close((uv_handle_t *)&c->tcp, sconn_closed);
}

static void sconn_reply(sconn *c, const char *text) {
  c->reply = strdup(text);
  uv_buf_t b = uv_buf_init(c->reply, (unsigned)strlen(c->reply));
  c->w.data = c;
  uv_write(&c->w, (uv_stream_t *)&c->tcp, &b, 1, sconn_written);
}

static bool digest_ok(const char *head) {
  const char *auth = strstr(head, "Authorization: Digest ");
  if (!auth) return false;
  char cnonce[64] = "", resp[64] = "";
  const char *p = strstr(auth, "cnonce=\"");
  if (p) sscanf(p + 8, "%63[^\"]", cnonce);
  p = strstr(auth, "response=\"");
  if (p) sscanf(p + 10, "%63[^\"]", resp);
  acs_auth_challenge ch = {.scheme = ACS_AUTH_DIGEST, .qop_auth = true};
  strcpy(ch.realm, "cpe");
  strcpy(ch.nonce, "n0");
  strcpy(ch.algorithm, "MD5");
  acs_buf want = ACS_BUF_INIT;
  acs_auth_header(&ch, "acs", good_pass, "GET", "/cr/dev1", cnonce, 1, &want);
  char expect[80];
  snprintf(expect, sizeof expect, "response=\"%s\"", resp);
  bool ok = resp[0] && want.data && strstr(want.data, expect) != NULL;
  acs_buf_free(&want);
  return ok;
}

static void salloc(uv_handle_t *h, size_t s, uv_buf_t *b) {
  sconn *c = h->data;
  acs_buf_reserve(&c->in, 4096);
  *b = uv_buf_init(c->in.data + c->in.len, (unsigned)(c->in.cap - c->in.len - 1));
}

static void sread(uv_stream_t *s, ssize_t n, const uv_buf_t *b) {
  sconn *c = s->data;
  if (n < 0) {
    if (!uv_is_closing((uv_handle_t *)s)) uv_close((uv_handle_t *)s, sconn_closed);
    return;
  }
  if (c->seen) return; /* a silent CPE keeps reading only to see the client leave */
  c->in.len += (size_t)n;
  c->in.data[c->in.len] = '\0';
  if (!strstr(c->in.data, "\r\n\r\n")) return;
  c->seen = true;
  if (cur_mode != MODE_SILENT) uv_read_stop(s);
  requests_seen++;
  CHECK(strncmp(c->in.data, "GET /cr/dev1 HTTP/1.1\r\n", 23) == 0);
  switch (cur_mode) {
    case MODE_SILENT:
      return; /* never answers; closed when the client gives up */
    case MODE_503:
      sconn_reply(c, "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n");
      return;
    case MODE_BASIC:
      if (strstr(c->in.data, "Authorization: Basic YWNzOnMzY3JldA==\r\n")) {
        sconn_reply(c, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
      } else {
        sconn_reply(c,
                    "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"cpe\"\r\n"
                    "Content-Length: 0\r\n\r\n");
      }
      return;
    case MODE_DIGEST:
      if (digest_ok(c->in.data)) {
        sconn_reply(c, "HTTP/1.1 204 No Content\n\n");
      } else {
        sconn_reply(c,
                    "HTTP/1.1 401 Unauthorized\n"
                    "WWW-Authenticate: Digest realm=\"cpe\",\n"
                    "\tnonce=\"n0\",\n qop=\"auth\"\n"
                    "Content-Length: 0\n\n");
      }
      return;
    case MODE_UNTERMINATED: /* the header block ended by the close */
      if (digest_ok(c->in.data)) {
        sconn_reply(c, "HTTP/1.1 200 OK\nDate: Thu, 01 Jan 2026 00:00:00 GMT\nContent-Length: 0");
      } else {
        sconn_reply(c,
                    "HTTP/1.1 401 Unauthorized\n"
                    "WWW-Authenticate: Digest realm=\"cpe\",\n"
                    " nonce=\"n0\", qop=\"auth\"\n");
      }
      return;
    case MODE_NOCOMMA:
      if (digest_ok(c->in.data)) {
        sconn_reply(c, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
      } else {
        sconn_reply(c,
                    "HTTP/1.1 401 Unauthorized\r\n"
                    "WWW-Authenticate: Digest realm=\"cpe\" nonce=\"n0\" qop=\"auth\" "
                    "algorithm=MD5\r\nContent-Length: 0\r\n\r\n");
      }
      return;
  }
}

static void on_conn(uv_stream_t *l, int status) {
  sconn *c = calloc(1, sizeof *c);
  uv_tcp_init(&loop, &c->tcp);
  c->tcp.data = c;
  acs_buf_init(&c->in);
  uv_accept(l, (uv_stream_t *)&c->tcp);
  open_conns++;
  if (open_conns > max_conns) max_conns = open_conns;
  uv_read_start((uv_stream_t *)&c->tcp, salloc, sread);
}

typedef struct outcome {
  int done;
  acs_connreq_result r;
} outcome;

static void done_cb(const acs_connreq_result *r, void *arg) {
  outcome *o = arg;
  o->r = *r;
  o->done++;
}

static void run_until(outcome *o, int n, int count) {
  uint64_t t0 = uv_hrtime();
  for (;;) {
    int all = 1;
    for (int i = 0; i < n; i++) all &= o[i].done >= count;
    if (all || uv_hrtime() - t0 > 10000000000ull) break;
    uv_run(&loop, UV_RUN_ONCE);
  }
}

int main(void) {
  uv_loop_init(&loop);
  uv_tcp_init(&loop, &server);
  struct sockaddr_in a;
  uv_ip4_addr("127.0.0.1", 0, &a);
  uv_tcp_bind(&server, (const struct sockaddr *)&a, 0);
  uv_listen((uv_stream_t *)&server, 64, on_conn);
  struct sockaddr_storage got;
  int len = sizeof got;
  uv_tcp_getsockname(&server, (struct sockaddr *)&got, &len);
  port = ntohs(((struct sockaddr_in *)&got)->sin_port);
  char url[128];
  snprintf(url, sizeof url, "http://127.0.0.1:%d/cr/dev1", port);

  acs_connreq_pool *p;
  CHECK_INT(acs_connreq_pool_new(&loop, 2, &p), 0);
  outcome o[5];
  memset(o, 0, sizeof o);

  /* Digest, right password */
  cur_mode = MODE_DIGEST;
  CHECK_INT(acs_connreq_send(p, url, "acs", good_pass, 3000, done_cb, &o[0]), 0);
  CHECK_INT(o[0].done, 0); /* never from inside the call */
  run_until(o, 1, 1);
  CHECK_INT(o[0].done, 1);
  CHECK_INT(o[0].r.status, 0);
  CHECK_INT(o[0].r.http_status, 204);
  CHECK_INT(o[0].r.rounds, 2);

  /* wrong password */
  CHECK_INT(acs_connreq_send(p, url, "acs", "nope", 3000, done_cb, &o[1]), 0);
  run_until(&o[1], 1, 1);
  CHECK_INT(o[1].r.status, ACS_EINVAL);
  CHECK_INT(o[1].r.http_status, 401);
  CHECK(strstr(o[1].r.detail, "refused") != NULL);

  /* no credentials at all */
  memset(o, 0, sizeof o);
  CHECK_INT(acs_connreq_send(p, url, NULL, NULL, 3000, done_cb, &o[0]), 0);
  run_until(o, 1, 1);
  CHECK_INT(o[0].r.status, ACS_EINVAL);
  CHECK_INT(o[0].r.rounds, 1);

  /* a username and no password: no credentials, not refused */
  memset(o, 0, sizeof o);
  CHECK_INT(acs_connreq_send(p, url, "acs", NULL, 3000, done_cb, &o[0]), 0);
  run_until(o, 1, 1);
  CHECK_INT(o[0].r.status, ACS_EINVAL);
  CHECK_INT(o[0].r.rounds, 1);
  CHECK(strstr(o[0].r.detail, "no credentials") != NULL);
  CHECK(strstr(o[0].r.detail, "refused") == NULL);

  /* regression, issue 11: a CPE that closes instead of ending its header
   * block ("closed the connection: no complete answer" before) */
  cur_mode = MODE_UNTERMINATED;
  memset(o, 0, sizeof o);
  CHECK_INT(acs_connreq_send(p, url, "acs", good_pass, 3000, done_cb, &o[0]), 0);
  run_until(o, 1, 1);
  CHECK_INT(o[0].r.status, 0);
  CHECK_INT(o[0].r.http_status, 200);
  CHECK_INT(o[0].r.rounds, 2);
  memset(o, 0, sizeof o);
  CHECK_INT(acs_connreq_send(p, url, "acs", "nope", 3000, done_cb, &o[0]), 0);
  run_until(o, 1, 1);
  CHECK_INT(o[0].r.http_status, 401);
  CHECK(strstr(o[0].r.detail, "refused") != NULL);

  /* a Digest challenge without commas between its parameters */
  cur_mode = MODE_NOCOMMA;
  memset(o, 0, sizeof o);
  CHECK_INT(acs_connreq_send(p, url, "acs", good_pass, 3000, done_cb, &o[0]), 0);
  run_until(o, 1, 1);
  CHECK_INT(o[0].r.status, 0);
  CHECK_INT(o[0].r.http_status, 200);
  CHECK_INT(o[0].r.rounds, 2);

  /* Basic */
  cur_mode = MODE_BASIC;
  memset(o, 0, sizeof o);
  CHECK_INT(acs_connreq_send(p, url, "acs", good_pass, 3000, done_cb, &o[0]), 0);
  run_until(o, 1, 1);
  CHECK_INT(o[0].r.status, 0);
  CHECK_INT(o[0].r.http_status, 200);

  /* rate limiting */
  cur_mode = MODE_503;
  memset(o, 0, sizeof o);
  CHECK_INT(acs_connreq_send(p, url, "acs", good_pass, 3000, done_cb, &o[0]), 0);
  run_until(o, 1, 1);
  CHECK_INT(o[0].r.status, ACS_EUNAVAILABLE);
  CHECK_INT(o[0].r.http_status, 503);

  /* a CPE that never answers, five at once with two in flight at most */
  cur_mode = MODE_SILENT;
  memset(o, 0, sizeof o);
  max_conns = 0;
  uint64_t t0 = uv_hrtime();
  for (int i = 0; i < 5; i++)
    CHECK_INT(acs_connreq_send(p, url, "acs", "x", 300, done_cb, &o[i]), 0);
  CHECK_INT(acs_connreq_in_flight(p), 2);
  CHECK_INT(acs_connreq_waiting(p), 3);
  run_until(o, 5, 1);
  double secs = (double)(uv_hrtime() - t0) / 1e9;
  for (int i = 0; i < 5; i++) CHECK_INT(o[i].r.status, ACS_ETIMEOUT);
  CHECK(max_conns <= 2);
  CHECK(secs < 5.0); /* 3 rounds of 300 ms, generously */
  fprintf(stderr, "5 silent CPEs, 2 at a time, 300 ms each: %.2f s\n", secs);

  /* refused connection, bad URLs */
  memset(o, 0, sizeof o);
  CHECK_INT(acs_connreq_send(p, "http://127.0.0.1:1/x", "a", "b", 2000, done_cb, &o[0]), 0);
  run_until(o, 1, 1);
  CHECK(o[0].r.status < 0 && o[0].r.http_status == 0);
  CHECK_INT(acs_connreq_send(p, "https://127.0.0.1/x", "a", "b", 100, done_cb, &o[1]), ACS_EINVAL);
  CHECK_INT(acs_connreq_send(p, "http://127.0.0.1:99999/", "a", "b", 100, done_cb, &o[1]),
            ACS_EINVAL);
  CHECK_INT(acs_connreq_send(p, "http://h/x y", "a", "b", 100, done_cb, &o[1]), ACS_EINVAL);

  /* closing the pool cancels what is in flight and waiting */
  memset(o, 0, sizeof o);
  for (int i = 0; i < 4; i++) acs_connreq_send(p, url, "acs", "x", 5000, done_cb, &o[i]);
  acs_connreq_pool_close(p);
  run_until(o, 4, 1);
  for (int i = 0; i < 4; i++) CHECK_INT(o[i].r.status, ACS_ECANCELED);

  uv_close((uv_handle_t *)&server, NULL);
  uv_run(&loop, UV_RUN_DEFAULT);
  CHECK_INT(uv_loop_close(&loop), 0);
  return acs_test_result("test_connreq");
}
