/* test_store_reconnect: PostgreSQL stops under a live connection and comes
 * back. While it is down, statements fail (fail-fast ones at once); after it
 * returns the connection is back within 2 s (the figure is printed). The
 * server is stopped and started with the wrapper's commands, run through
 * uv_spawn so that the loop keeps running meanwhile. */
#include "core/acs_err.h"
#include "store/acs_pg.h"
#include "store_test.h"

static uv_loop_t *loop;

typedef struct {
  int calls;
  int status;
  uint64_t at_ms;
} rec;

static void rec_cb(acs_pg_result *r, void *arg) {
  rec *x = arg;
  x->calls++;
  x->status = r->status;
  x->at_ms = st_now_ms();
}

/* --- running a shell command without blocking the loop */
typedef struct {
  uv_process_t proc;
  int exited;
  int64_t status;
  uint64_t at_ms;
} cmd;

static void cmd_exit_cb(uv_process_t *p, int64_t status, int sig) {
  cmd *c = p->data;
  c->status = status;
  c->at_ms = st_now_ms();
  c->exited = 1;
  uv_close((uv_handle_t *)p, NULL);
}

static int cmd_start(cmd *c, const char *line) {
  char *args[] = {"/bin/sh", "-c", (char *)line, NULL};
  uv_process_options_t o = {0};
  uv_stdio_container_t io[3] = {{.flags = UV_IGNORE},
                                {.flags = UV_INHERIT_FD, .data.fd = 2},
                                {.flags = UV_INHERIT_FD, .data.fd = 2}};
  memset(c, 0, sizeof *c);
  o.file = "/bin/sh";
  o.args = args;
  o.exit_cb = cmd_exit_cb;
  o.stdio = io;
  o.stdio_count = 3;
  c->proc.data = c;
  return uv_spawn(loop, &c->proc, &o);
}

/* --- probing: a fail-fast SELECT every 10 ms while down */
typedef struct {
  acs_pg *c;
  rec r;
  int sent, refused;
  uint64_t first_ok_ms;
  int ok;
} probe;

static void probe_cb(acs_pg_result *r, void *arg) {
  probe *p = arg;
  if (r->status == 0 && !p->ok) {
    p->ok = 1;
    p->first_ok_ms = st_now_ms();
  }
}

static void probe_tick(uv_timer_t *t) {
  probe *p = t->data;
  if (p->ok) return;
  int rc = acs_pg_query(p->c, "SELECT 1", 0, NULL, ACS_PG_FAILFAST, probe_cb, p);
  if (rc == 0) {
    p->sent++;
  } else {
    p->refused += rc == ACS_EUNAVAILABLE;
  }
}

static int closed;
static void close_cb(void *arg) { closed = 1; }

int main(void) {
  const char *dsn = st_dsn();
  const char *stop = st_env("ACS_TEST_PG_STOP");
  const char *start = st_env("ACS_TEST_PG_START");
  loop = uv_default_loop();
  acs_pg *c = NULL;
  cmd k;

  CHECK_INT(acs_pg_open(loop, dsn, NULL, &c), 0);
  ST_WAIT_UP(loop, c, 5000);

  /* a statement in flight and one queued behind it when the server stops */
  rec sleeping = {0}, behind = {0};
  CHECK_INT(acs_pg_query(c, "SELECT pg_sleep(30)", 0, NULL, 0, rec_cb, &sleeping), 0);
  CHECK_INT(acs_pg_query(c, "SELECT 2", 0, NULL, 0, rec_cb, &behind), 0);
  st_sleep(loop, 100);
  CHECK_INT(sleeping.calls, 0);
  uint64_t t_stop = st_now_ms();
  CHECK_INT(cmd_start(&k, stop), 0);
  CHECK(st_wait(loop, &k.exited, 1, 30000));
  CHECK_INT(k.status, 0);
  CHECK(st_wait(loop, &sleeping.calls, 1, 5000));
  CHECK_INT(sleeping.calls, 1);
  CHECK_INT(sleeping.status, ACS_EUNAVAILABLE);
  CHECK_INT(behind.calls, 1);
  CHECK_INT(behind.status, ACS_EUNAVAILABLE);
  fprintf(stderr, "drop noticed %llu ms after the stop command started\n",
          (unsigned long long)(sleeping.at_ms - t_stop));
  CHECK(!acs_pg_is_up(c));

  /* down: fail-fast refuses synchronously without calling back; a waiting
   * statement fails at the next attempt */
  rec ff = {0}, wait1 = {0};
  CHECK_INT(acs_pg_query(c, "SELECT 1", 0, NULL, ACS_PG_FAILFAST, rec_cb, &ff), ACS_EUNAVAILABLE);
  CHECK_INT(acs_pg_begin_batch(c, ACS_PG_FAILFAST), ACS_EUNAVAILABLE);
  uint64_t t_q = st_now_ms();
  CHECK_INT(acs_pg_query(c, "SELECT 1", 0, NULL, 0, rec_cb, &wait1), 0);
  CHECK(st_wait(loop, &wait1.calls, 1, 3000));
  CHECK_INT(wait1.status, ACS_EUNAVAILABLE);
  fprintf(stderr, "a statement queued while down failed after %llu ms\n",
          (unsigned long long)(wait1.at_ms - t_q));
  st_sleep(loop, 1500); /* long enough for the back-off to reach its cap */
  CHECK_INT(ff.calls, 0);
  CHECK(!acs_pg_is_up(c));

  /* back: measure from the moment pg_ctl start -w returns (the server
   * accepts connections) to the first answered statement */
  probe p = {.c = c};
  uv_timer_t tick;
  uv_timer_init(loop, &tick);
  tick.data = &p;
  uv_timer_start(&tick, probe_tick, 10, 10);
  uint64_t t_start = st_now_ms();
  CHECK_INT(cmd_start(&k, start), 0);
  CHECK(st_wait(loop, &k.exited, 1, 30000));
  CHECK_INT(k.status, 0);
  CHECK(st_wait(loop, &p.ok, 1, 5000));
  uv_close((uv_handle_t *)&tick, NULL);
  if (p.ok) {
    uint64_t after_up = p.first_ok_ms > k.at_ms ? p.first_ok_ms - k.at_ms : 0;
    fprintf(stderr,
            "reconnect: first answer %llu ms after the server accepted connections "
            "(%llu ms after the start command began; %d refused fast meanwhile)\n",
            (unsigned long long)after_up, (unsigned long long)(p.first_ok_ms - t_start), p.refused);
    CHECK(after_up < 2000);
  }
  CHECK(p.refused > 0);
  CHECK(acs_pg_is_up(c));

  acs_pg_stats st;
  acs_pg_get_stats(c, &st);
  CHECK_INT(st.connects, 2);
  CHECK_INT(st.drops, 1);

  /* and it works as before */
  rec again = {0};
  CHECK_INT(acs_pg_query(c, "SELECT 3", 0, NULL, 0, rec_cb, &again), 0);
  CHECK(st_wait(loop, &again.calls, 1, 5000));
  CHECK_INT(again.status, 0);

  CHECK_INT(acs_pg_close(c, close_cb, NULL), 0);
  while (!closed) uv_run(loop, UV_RUN_ONCE);
  uv_run(loop, UV_RUN_NOWAIT);
  CHECK_INT(uv_loop_close(loop), 0);
  return acs_test_result("test_store_reconnect");
}
