/* test_store_pipeline: the pipeline depth of a store connection (acs_pg.h,
 * "Pipelining and poolers") against a real server. "on" sends the next
 * transaction before the last is answered, "off" holds it back, and "auto"
 * pipelines on a direct connection but not through a TCP relay standing in
 * for a pooler (the port the server reports is not the one dialled). */
#include "core/acs_err.h"
#include "store/acs_pg.h"
#include "store_test.h"

/* --- a one-connection TCP relay: 127.0.0.1:<ephemeral> -> 127.0.0.1:pg */
typedef struct relay_side {
  uv_tcp_t tcp;
  struct relay_side *peer;
  bool open;
} relay_side;

static uv_tcp_t relay_listener;
static relay_side relay_in, relay_out;
static struct sockaddr_in relay_target;
static uv_connect_t relay_conn;

static void relay_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b) {
  (void)h;
  b->base = malloc(hint);
  b->len = b->base ? hint : 0;
}

static void relay_write_cb(uv_write_t *w, int status) {
  (void)status;
  free(w->data);
  free(w);
}

static void relay_closed(uv_handle_t *h) { ((relay_side *)h->data)->open = false; }

static void relay_shut(void) {
  if (relay_in.open && !uv_is_closing((uv_handle_t *)&relay_in.tcp))
    uv_close((uv_handle_t *)&relay_in.tcp, relay_closed);
  if (relay_out.open && !uv_is_closing((uv_handle_t *)&relay_out.tcp))
    uv_close((uv_handle_t *)&relay_out.tcp, relay_closed);
}

static void relay_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b) {
  relay_side *me = s->data;
  if (n < 0) {
    free(b->base);
    relay_shut();
    return;
  }
  if (n == 0) {
    free(b->base);
    return;
  }
  uv_write_t *w = malloc(sizeof *w);
  uv_buf_t out = uv_buf_init(b->base, (unsigned)n);
  w->data = b->base;
  if (uv_write(w, (uv_stream_t *)&me->peer->tcp, &out, 1, relay_write_cb)) {
    free(b->base);
    free(w);
    relay_shut();
  }
}

static void relay_connected(uv_connect_t *req, int status) {
  (void)req;
  if (status) {
    relay_shut();
    return;
  }
  uv_read_start((uv_stream_t *)&relay_in.tcp, relay_alloc, relay_read);
  uv_read_start((uv_stream_t *)&relay_out.tcp, relay_alloc, relay_read);
}

static void relay_accept(uv_stream_t *l, int status) {
  if (status || relay_in.open) return; /* one client at a time */
  uv_tcp_init(l->loop, &relay_in.tcp);
  relay_in.open = true;
  if (uv_accept(l, (uv_stream_t *)&relay_in.tcp)) {
    relay_shut();
    return;
  }
  uv_tcp_init(l->loop, &relay_out.tcp);
  relay_out.open = true;
  uv_tcp_connect(&relay_conn, &relay_out.tcp, (struct sockaddr *)&relay_target, relay_connected);
}

/* Starts the relay towards pg_port; returns its own port. */
static int relay_start(uv_loop_t *loop, int pg_port) {
  relay_in = (relay_side){.peer = &relay_out};
  relay_out = (relay_side){.peer = &relay_in};
  relay_in.tcp.data = &relay_in;
  relay_out.tcp.data = &relay_out;
  uv_ip4_addr("127.0.0.1", pg_port, &relay_target);
  struct sockaddr_in any;
  uv_ip4_addr("127.0.0.1", 0, &any);
  uv_tcp_init(loop, &relay_listener);
  CHECK_INT(uv_tcp_bind(&relay_listener, (struct sockaddr *)&any, 0), 0);
  CHECK_INT(uv_listen((uv_stream_t *)&relay_listener, 4, relay_accept), 0);
  struct sockaddr_in me;
  int len = sizeof me;
  uv_tcp_getsockname(&relay_listener, (struct sockaddr *)&me, &len);
  return ntohs(me.sin_port);
}

/* --- one transaction that sleeps, one that does not */
typedef struct {
  int calls, status;
} done;

static void done_cb(acs_pg_result *r, void *arg) {
  done *d = arg;
  d->calls++;
  d->status = r->status;
}

static int closed;
static void close_cb(void *arg) {
  (void)arg;
  closed++;
}

/* Opens a connection in mode, lets it settle (one statement answered),
 * then queues a sleeping statement and a quick one and looks at what is in
 * flight while the first sleeps. Returns the number in flight; *pipelined
 * gets the stats' finding. */
static size_t in_flight_while_sleeping(uv_loop_t *loop, const char *dsn, acs_pg_pipeline mode,
                                       bool *pipelined) {
  acs_pg_opts o;
  acs_pg_opts_defaults(&o);
  o.pipeline = mode;
  o.name = mode == ACS_PG_PIPELINE_AUTO ? "pg-auto" : mode == ACS_PG_PIPELINE_ON ? "pg-on" : "pg-off";
  acs_pg *c = NULL;
  CHECK_INT(acs_pg_open(loop, dsn, &o, &c), 0);
  done first = {0}, slow = {0}, quick = {0};
  CHECK_INT(acs_pg_query(c, "SELECT 1", 0, NULL, 0, done_cb, &first), 0);
  CHECK(st_wait(loop, &first.calls, 1, 5000));
  CHECK_INT(first.status, 0);
  acs_pg_stats st;
  acs_pg_get_stats(c, &st);
  *pipelined = st.pipelined;
  CHECK_INT(st.statements, 1); /* the port probe is not counted */
  CHECK_INT(acs_pg_query(c, "SELECT pg_sleep(0.4)", 0, NULL, 0, done_cb, &slow), 0);
  CHECK_INT(acs_pg_query(c, "SELECT 2", 0, NULL, 0, done_cb, &quick), 0);
  st_sleep(loop, 150);
  acs_pg_get_stats(c, &st);
  size_t inflight = st.inflight;
  CHECK_INT(slow.calls, 0);
  CHECK_INT(quick.calls, 0); /* answered in order, whatever the depth */
  CHECK_INT(st.inflight + st.queued, 2);
  CHECK(st_wait(loop, &quick.calls, 1, 5000));
  CHECK_INT(slow.calls, 1);
  CHECK_INT(slow.status, 0);
  CHECK_INT(quick.status, 0);
  int want = closed + 1;
  CHECK_INT(acs_pg_close(c, close_cb, NULL), 0);
  CHECK(st_wait(loop, &closed, want, 5000));
  return inflight;
}

int main(void) {
  const char *dsn = st_dsn();
  int pg_port = atoi(st_env("ACS_TEST_PG_PORT"));
  uv_loop_t *loop = uv_default_loop();
  bool pipelined = false;

  acs_pg_pipeline m;
  CHECK_INT(acs_pg_pipeline_parse(NULL, &m), 0);
  CHECK_INT(m, ACS_PG_PIPELINE_AUTO);
  CHECK_INT(acs_pg_pipeline_parse("off", &m), 0);
  CHECK_INT(m, ACS_PG_PIPELINE_OFF);
  CHECK_INT(acs_pg_pipeline_parse("on", &m), 0);
  CHECK_INT(m, ACS_PG_PIPELINE_ON);
  CHECK_INT(acs_pg_pipeline_parse("yes", &m), ACS_EINVAL);

  /* on: both transactions in flight; off: one, the other waits */
  CHECK_INT(in_flight_while_sleeping(loop, dsn, ACS_PG_PIPELINE_ON, &pipelined), 2);
  CHECK(pipelined);
  CHECK_INT(in_flight_while_sleeping(loop, dsn, ACS_PG_PIPELINE_OFF, &pipelined), 1);
  CHECK(!pipelined);
  /* auto, straight to the server: the ports agree, pipelined */
  CHECK_INT(in_flight_while_sleeping(loop, dsn, ACS_PG_PIPELINE_AUTO, &pipelined), 2);
  CHECK(pipelined);

  /* auto through the relay: the server's port is not the one dialled */
  int relay_port = relay_start(loop, pg_port);
  char relayed[1024];
  snprintf(relayed, sizeof relayed, "%s port=%d", dsn, relay_port);
  CHECK_INT(in_flight_while_sleeping(loop, relayed, ACS_PG_PIPELINE_AUTO, &pipelined), 1);
  CHECK(!pipelined);
  /* ... and "on" overrides the finding */
  st_sleep(loop, 50); /* the relay sees the last client go */
  CHECK_INT(in_flight_while_sleeping(loop, relayed, ACS_PG_PIPELINE_ON, &pipelined), 2);
  CHECK(pipelined);

  relay_shut();
  uv_close((uv_handle_t *)&relay_listener, NULL);
  uv_run(loop, UV_RUN_DEFAULT);
  CHECK_INT(uv_loop_close(loop), 0);
  return acs_test_result("test_store_pipeline");
}
