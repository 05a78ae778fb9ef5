/* test_store_pg: the asynchronous connection (acs_pg) against a real server:
 * pipelining in order, sync groups as transactions, errors, NULLs, arrays,
 * cancellation on close, and a server that is not there. */
#include "core/acs_buf.h"
#include "core/acs_err.h"
#include "store/acs_pg.h"
#include "store_test.h"

static uv_loop_t *loop;
static bool in_call; /* set around acs_pg_* calls: a callback then is a bug */

/* --- 100 statements at once, answered in order */
static int order_next, order_bad, order_done;

static void order_cb(acs_pg_result *r, void *arg) {
  int want = (int)(intptr_t)arg;
  CHECK(!in_call);
  if (r->status || r->ntuples != 1 || atoi(acs_pg_getvalue(r, 0, 0)) != want || want != order_next)
    order_bad++;
  order_next++;
  order_done++;
}

/* --- a generic recorder */
typedef struct {
  int calls;
  int status;
  char sqlstate[6];
  char value[256];
  long long affected;
  int ntuples;
  int failed_index;
} rec;

static void rec_cb(acs_pg_result *r, void *arg) {
  rec *x = arg;
  CHECK(!in_call);
  x->calls++;
  x->status = r->status;
  snprintf(x->sqlstate, sizeof x->sqlstate, "%s", r->sqlstate);
  x->ntuples = r->ntuples;
  x->failed_index = r->failed_index;
  x->affected = acs_pg_cmd_tuples(r);
  x->value[0] = '\0';
  if (r->status == 0 && r->ntuples > 0 && r->nfields > 0 && !acs_pg_isnull(r, 0, 0))
    snprintf(x->value, sizeof x->value, "%s", acs_pg_getvalue(r, 0, 0));
  if (r->status) CHECK(r->error != NULL && r->error[0] != '\0');
}

static int q(acs_pg *c, const char *sql, int n, const char *const *p, unsigned flags, rec *x) {
  in_call = true;
  int rc = acs_pg_query(c, sql, n, p, flags, rec_cb, x);
  in_call = false;
  return rc;
}

/* Runs one statement and waits for its answer. */
static rec q1(acs_pg *c, const char *sql, int n, const char *const *p) {
  rec x = {0};
  CHECK_INT(q(c, sql, n, p, 0, &x), 0);
  CHECK(st_wait(loop, &x.calls, 1, 5000));
  return x;
}

/* --- arrays round trip */
static const char *const tricky[] = {"plain",
                                     "",
                                     "with space",
                                     "quote\"inside",
                                     "back\\slash",
                                     "\\\"both\"\\",
                                     "{brace}",
                                     "comma,here",
                                     "NULL",
                                     NULL,
                                     "caf\xc3\xa9 \xe2\x82\xac",
                                     "tab\there\nnewline"};
#define NTRICKY (sizeof tricky / sizeof tricky[0])
static int arr_done, arr_bad;

static void arr_cb(acs_pg_result *r, void *arg) {
  arr_done++;
  if (r->status || r->ntuples != (int)NTRICKY) {
    arr_bad++;
    fprintf(stderr, "array: status %d ntuples %d %s\n", r->status, r->ntuples,
            r->error ? r->error : "");
    return;
  }
  for (int i = 0; i < r->ntuples; i++) {
    int ord = atoi(acs_pg_getvalue(r, i, 1)) - 1;
    const char *want = tricky[ord];
    bool null = acs_pg_isnull(r, i, 0);
    if (want ? (null || strcmp(want, acs_pg_getvalue(r, i, 0)) != 0) : !null) {
      arr_bad++;
      fprintf(stderr, "array element %d: got \"%s\"\n", ord, acs_pg_getvalue(r, i, 0));
    }
  }
}

/* --- close */
static int closed;
static void close_cb(void *arg) { closed++; }

int main(void) {
  const char *dsn = st_dsn();
  loop = uv_default_loop();
  acs_pg *c = NULL;
  rec x;

  CHECK_INT(acs_pg_open(loop, "this is not = a dsn '", NULL, &c), ACS_EINVAL);
  CHECK(c == NULL);

  CHECK_INT(acs_pg_open(loop, dsn, NULL, &c), 0);
  /* not up yet: fail-fast refuses at once, the rest waits for the connection */
  CHECK(!acs_pg_is_up(c));
  rec early = {0};
  CHECK_INT(q(c, "SELECT 1", 0, NULL, ACS_PG_FAILFAST, &early), ACS_EUNAVAILABLE);
  CHECK_INT(q(c, "SELECT 41 + 1", 0, NULL, 0, &early), 0);
  CHECK(st_wait(loop, &early.calls, 1, 5000));
  CHECK_INT(early.status, 0);
  CHECK_STR(early.value, "42");
  CHECK(acs_pg_is_up(c));

  /* 1. 100 statements queued at once, answered in order */
  in_call = true;
  for (int i = 0; i < 100; i++) {
    char v[16];
    snprintf(v, sizeof v, "%d", i);
    const char *p[] = {v};
    CHECK_INT(
        acs_pg_query(c, "SELECT $1::int", 1, p, ACS_PG_FAILFAST, order_cb, (void *)(intptr_t)i), 0);
  }
  in_call = false;
  CHECK(acs_pg_queue_depth(c) == 100);
  CHECK(st_wait(loop, &order_done, 100, 10000));
  CHECK_INT(order_done, 100);
  CHECK_INT(order_bad, 0);
  CHECK(acs_pg_queue_depth(c) == 0);
  CHECK(acs_pg_latency_us(c) > 0);

  /* 2. a sync group whose 2nd statement fails: all rolled back */
  x = q1(c, "CREATE TABLE t (x int PRIMARY KEY)", 0, NULL);
  CHECK_INT(x.status, 0);
  rec s1 = {0}, s2 = {0}, s3 = {0}, sy = {0};
  in_call = true;
  CHECK_INT(acs_pg_begin_batch(c, ACS_PG_FAILFAST), 0);
  CHECK_INT(acs_pg_begin_batch(c, 0), ACS_ESTATE);
  CHECK_INT(acs_pg_query(c, "INSERT INTO t VALUES (1)", 0, NULL, 0, rec_cb, &s1), 0);
  CHECK_INT(acs_pg_query(c, "INSERT INTO t VALUES ('two')", 0, NULL, 0, rec_cb, &s2), 0);
  CHECK_INT(acs_pg_query(c, "INSERT INTO t VALUES (3)", 0, NULL, 0, rec_cb, &s3), 0);
  CHECK_INT(acs_pg_sync(c, rec_cb, &sy), 0);
  CHECK_INT(acs_pg_sync(c, rec_cb, &sy), ACS_ESTATE);
  in_call = false;
  CHECK(st_wait(loop, &sy.calls, 1, 5000));
  CHECK_INT(s1.calls, 1);
  CHECK_INT(s1.status, 0);
  CHECK_INT(s2.status, ACS_EPG);
  CHECK_STR(s2.sqlstate, "22P02");
  CHECK_INT(s3.status, ACS_EABORTED);
  CHECK_STR(s3.sqlstate, "22P02");
  CHECK_INT(sy.status, ACS_EPG);
  CHECK_STR(sy.sqlstate, "22P02");
  CHECK_INT(sy.failed_index, 1);
  CHECK_INT(s1.failed_index, -1);
  x = q1(c, "SELECT count(*) FROM t", 0, NULL);
  CHECK_STR(x.value, "0");

  /* a group that succeeds commits all of it; a unique violation in the next
   * one rolls that one back only */
  rec g[4] = {{0}};
  in_call = true;
  CHECK_INT(acs_pg_begin_batch(c, 0), 0);
  CHECK_INT(acs_pg_query(c, "INSERT INTO t VALUES (1), (2)", 0, NULL, 0, rec_cb, &g[0]), 0);
  CHECK_INT(acs_pg_query(c, "INSERT INTO t VALUES (3)", 0, NULL, 0, rec_cb, &g[1]), 0);
  CHECK_INT(acs_pg_sync(c, rec_cb, &g[2]), 0);
  CHECK_INT(acs_pg_begin_batch(c, 0), 0);
  CHECK_INT(acs_pg_query(c, "INSERT INTO t VALUES (4)", 0, NULL, 0, NULL, NULL), 0);
  CHECK_INT(acs_pg_query(c, "INSERT INTO t VALUES (1)", 0, NULL, 0, NULL, NULL), 0);
  CHECK_INT(acs_pg_sync(c, rec_cb, &g[3]), 0);
  in_call = false;
  CHECK(st_wait(loop, &g[3].calls, 1, 5000));
  CHECK_INT(g[0].affected, 2);
  CHECK_INT(g[2].status, 0);
  CHECK_INT(g[3].status, ACS_EPG);
  CHECK_STR(g[3].sqlstate, "23505");
  x = q1(c, "SELECT string_agg(x::text, ',' ORDER BY x) FROM t", 0, NULL);
  CHECK_STR(x.value, "1,2,3");

  /* the implicit COMMIT fails (deferred unique constraint): the statements
   * succeeded, the sync reports the error with no statement to blame */
  x = q1(c, "CREATE TABLE d (x int UNIQUE DEFERRABLE INITIALLY DEFERRED)", 0, NULL);
  CHECK_INT(x.status, 0);
  {
    rec d1 = {0}, d2 = {0}, dsy = {0};
    in_call = true;
    CHECK_INT(acs_pg_begin_batch(c, 0), 0);
    CHECK_INT(acs_pg_query(c, "INSERT INTO d VALUES (1)", 0, NULL, 0, rec_cb, &d1), 0);
    CHECK_INT(acs_pg_query(c, "INSERT INTO d VALUES (1)", 0, NULL, 0, rec_cb, &d2), 0);
    CHECK_INT(acs_pg_sync(c, rec_cb, &dsy), 0);
    in_call = false;
    CHECK(st_wait(loop, &dsy.calls, 1, 5000));
    CHECK_INT(d1.status, 0);
    CHECK_INT(d2.status, 0);
    CHECK_INT(dsy.status, ACS_EPG);
    CHECK_STR(dsy.sqlstate, "23505");
    CHECK_INT(dsy.failed_index, -1);
    x = q1(c, "SELECT count(*) FROM d", 0, NULL);
    CHECK_STR(x.value, "0");
    /* a standalone statement whose commit fails */
    x = q1(c, "INSERT INTO d VALUES (2), (2)", 0, NULL);
    CHECK_INT(x.status, ACS_EPG); /* told after its commit, which failed */
    CHECK_STR(x.sqlstate, "23505");
    x = q1(c, "SELECT count(*) FROM d", 0, NULL);
    CHECK_STR(x.value, "0");
  }

  /* an aborted group: its statements are cancelled, never sent */
  rec ab = {0};
  in_call = true;
  CHECK_INT(acs_pg_begin_batch(c, 0), 0);
  CHECK(acs_pg_in_batch(c));
  CHECK_INT(acs_pg_query(c, "INSERT INTO t VALUES (9)", 0, NULL, 0, rec_cb, &ab), 0);
  acs_pg_abort_batch(c);
  CHECK(!acs_pg_in_batch(c));
  in_call = false;
  CHECK(st_wait(loop, &ab.calls, 1, 5000));
  CHECK_INT(ab.status, ACS_ECANCELED);
  x = q1(c, "SELECT count(*) FROM t WHERE x = 9", 0, NULL);
  CHECK_STR(x.value, "0");

  /* 3. a failing statement on its own does not disturb the next */
  rec e1 = {0}, e2 = {0};
  CHECK_INT(q(c, "SELECT 1/0", 0, NULL, 0, &e1), 0);
  CHECK_INT(q(c, "SELECT 'after'", 0, NULL, 0, &e2), 0);
  CHECK(st_wait(loop, &e2.calls, 1, 5000));
  CHECK_INT(e1.status, ACS_EPG);
  CHECK_STR(e1.sqlstate, "22012");
  CHECK_INT(e2.status, 0);
  CHECK_STR(e2.value, "after");
  /* a syntax error, several statements in one string (refused by the
   * extended protocol), an empty statement */
  x = q1(c, "SELEC 1", 0, NULL);
  CHECK_STR(x.sqlstate, "42601");
  x = q1(c, "SELECT 1; SELECT 2", 0, NULL);
  CHECK_INT(x.status, ACS_EPG);
  x = q1(c, "", 0, NULL);
  CHECK_INT(x.status, 0);

  /* 4. NULL parameters, text results */
  {
    const char *p[] = {NULL, "x"};
    x = q1(c, "SELECT ($1::text IS NULL)::text || $2", 2, p);
    CHECK_STR(x.value, "truex");
    CHECK_INT(q(c, "SELECT $1", 70000, p, 0, &x), ACS_EINVAL);
    CHECK_INT(q(c, "SELECT $1", 1, NULL, 0, &x), ACS_EINVAL);
  }

  /* 5. text arrays built by acs_pg_array_append survive the round trip */
  {
    acs_buf b = ACS_BUF_INIT;
    acs_pg_array_append(&b, tricky, NTRICKY);
    const char *p[] = {b.data};
    CHECK_INT(
        acs_pg_query(c, "SELECT * FROM unnest($1::text[]) WITH ORDINALITY", 1, p, 0, arr_cb, NULL),
        0);
    acs_buf_free(&b);
    CHECK(st_wait(loop, &arr_done, 1, 5000));
    CHECK_INT(arr_bad, 0);
  }

  /* 6. stats */
  {
    acs_pg_stats st;
    acs_pg_get_stats(c, &st);
    CHECK(st.up);
    CHECK_INT(st.connects, 1);
    CHECK_INT(st.drops, 0);
    CHECK(st.statements >= 100);
    CHECK(st.errors >= 4);
    fprintf(stderr, "latency EWMA %llu us after %llu statements\n",
            (unsigned long long)st.latency_us, (unsigned long long)st.statements);
  }

  /* 7. close with statements queued and in flight: each cancelled once */
  {
    rec pend[5] = {{0}};
    int total = 0;
    for (int i = 0; i < 5; i++)
      CHECK_INT(q(c, i == 0 ? "SELECT pg_sleep(0.2)" : "SELECT 1", 0, NULL, 0, &pend[i]), 0);
    st_sleep(loop, 20); /* now they are in flight */
    in_call = true;
    CHECK_INT(acs_pg_close(c, close_cb, NULL), 0);
    in_call = false;
    CHECK_INT(pend[0].calls, 0);
    while (!closed) uv_run(loop, UV_RUN_ONCE);
    for (int i = 0; i < 5; i++) {
      total += pend[i].calls;
      CHECK_INT(pend[i].status, ACS_ECANCELED);
    }
    CHECK_INT(total, 5);
  }

  /* 8. nobody listening: fail-fast refuses, the rest fails after the attempt */
  {
    acs_pg *d = NULL;
    acs_pg_opts o;
    acs_pg_opts_defaults(&o);
    o.name = "pg-nowhere";
    CHECK_INT(acs_pg_open(loop, "hostaddr=127.0.0.1 port=1 dbname=x user=x", &o, &d), 0);
    rec n1 = {0}, n2 = {0};
    CHECK_INT(q(d, "SELECT 1", 0, NULL, ACS_PG_FAILFAST, &n1), ACS_EUNAVAILABLE);
    CHECK_INT(q(d, "SELECT 1", 0, NULL, 0, &n2), 0);
    CHECK(st_wait(loop, &n2.calls, 1, 3000));
    CHECK_INT(n2.status, ACS_EUNAVAILABLE);
    CHECK_INT(n1.calls, 0);
    CHECK(!acs_pg_is_up(d));
    CHECK_INT(acs_pg_close(d, close_cb, NULL), 0);
    CHECK_INT(acs_pg_close(d, close_cb, NULL), ACS_ESTATE);
    while (closed < 2) uv_run(loop, UV_RUN_ONCE);
  }

  CHECK_INT(uv_run(loop, UV_RUN_NOWAIT), 0); /* nothing left on the loop */
  CHECK_INT(uv_loop_close(loop), 0);
  return acs_test_result("test_store_pg");
}
