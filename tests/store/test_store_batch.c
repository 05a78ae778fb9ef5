/* test_store_batch: group commit (acs_store_batch). Submissions that arrive
 * while a transaction is in flight share the next one (counted with
 * xact_commit and the batcher's own count), rows go in key order, and a
 * failing item is isolated while its neighbours commit. */
#include "core/acs_err.h"
#include "store/acs_store.h"
#include "store_test.h"

static uv_loop_t *loop;
static acs_pg *c;
static acs_store_batch *b;

typedef struct {
  char key[32];
  int v;
  bool fail_build;
  const char *extra; /* a statement appended first, if any */
  int builds;
  int calls;
  int status;
  char sqlstate[6];
  const char *sv; /* set statements: the value as text (a bad one fails the statement) */
  char echo[64];  /* ... and what its result row said */
  int rows;
} item;

static int told;

static int build(acs_pg *pg, void *arg) {
  item *it = arg;
  char v[16];
  it->builds++;
  snprintf(v, sizeof v, "%d", it->v);
  const char *p[] = {it->key, v};
  int rc = 0;
  if (it->extra) rc = acs_pg_query(pg, it->extra, 0, NULL, 0, NULL, NULL);
  if (rc == 0) rc = acs_pg_query(pg, "INSERT INTO bt (k, v) VALUES ($1, $2)", 2, p, 0, NULL, NULL);
  if (rc == 0 && it->fail_build) rc = ACS_EINVAL;
  return rc;
}

static void done(int status, const acs_pg_result *r, void *arg) {
  item *it = arg;
  it->calls++;
  it->status = status;
  snprintf(it->sqlstate, sizeof it->sqlstate, "%s", r->sqlstate);
  told++;
}

/* A set statement: group 0 inserts each item's row, group 1 gives each
 * two tags, which its result row lists back. */
static const acs_store_set_def set_echo = {
    .sql = "WITH i AS (INSERT INTO bt (k, v) SELECT k, v::int\n"
           "  FROM unnest($1::text[], $2::text[]) AS u(k, v) RETURNING k)\n"
           "SELECT o.ord::int, o.k || ':' || (SELECT string_agg(e.x, ',' ORDER BY e.x)\n"
           "  FROM unnest($3::text[], $4::text[]) AS e(k, x) WHERE e.k = o.k)\n"
           "FROM unnest($1::text[]) WITH ORDINALITY AS o(k, ord)\n"
           "WHERE (SELECT count(*) FROM i) >= 0",
    .ngroups = 2,
    .ncols = {2, 2},
    .unique_key = true,
};

static void echo_row(const acs_pg_result *r, int row, void *arg) {
  item *it = arg;
  it->rows++;
  snprintf(it->echo, sizeof it->echo, "%s", acs_pg_getvalue(r, row, 1));
}

static int set_build(acs_pg *pg, void *arg) {
  item *it = arg;
  it->builds++;
  it->rows = 0;
  const char *row[2] = {it->key, it->sv};
  int rc = acs_store_batch_set_item(b, &set_echo, row, echo_row, it);
  const char *t1[2] = {it->key, "b"}, *t2[2] = {it->key, "a"};
  if (rc == 0) rc = acs_store_batch_set_row(b, &set_echo, 1, t1);
  if (rc == 0) rc = acs_store_batch_set_row(b, &set_echo, 1, t2);
  return rc;
}

typedef struct {
  int calls;
  long long v;
} rec;

static void rec_cb(acs_pg_result *r, void *arg) {
  rec *x = arg;
  x->calls++;
  x->v = r->status == 0 && r->ntuples ? strtoll(acs_pg_getvalue(r, 0, 0), NULL, 10) : -1;
  if (r->status) fprintf(stderr, "statement failed: %s\n", r->error);
}

static long long val(const char *sql) {
  rec x = {0};
  CHECK_INT(acs_pg_query(c, sql, 0, NULL, 0, rec_cb, &x), 0);
  CHECK(st_wait(loop, &x.calls, 1, 5000));
  return x.v;
}

static long long commits(void) {
  val("SELECT pg_stat_force_next_flush()");
  return val("SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()");
}

/* --- 100 submissions while one transaction is in flight */
#define NSUB 100
static item many[NSUB];

static void submit_many(uv_timer_t *t) {
  for (int i = 0; i < NSUB; i++) {
    item *it = &many[i];
    snprintf(it->key, sizeof it->key, "dev%03d", NSUB - 1 - i); /* reverse order */
    it->v = i;
    CHECK_INT(acs_store_batch_submit(b, it->key, ACS_PG_FAILFAST, build, done, it), 0);
  }
  CHECK_INT(told, 0); /* nothing told from inside submit; the slow one is running */
  uv_close((uv_handle_t *)t, NULL);
}

static void reset_items(item *v, int n) {
  memset(v, 0, (size_t)n * sizeof v[0]);
  told = 0;
}

static int closed;
static void close_cb(void *arg) { closed++; }

int main(void) {
  const char *dsn = st_dsn();
  char err[256];
  acs_store_batch_stats st, st0;
  loop = uv_default_loop();
  CHECK_INT(acs_store_migrate(dsn, err, sizeof err), 0);
  CHECK_INT(acs_pg_open(loop, dsn, NULL, &c), 0);
  ST_WAIT_UP(loop, c, 5000);
  CHECK_INT(acs_store_batch_new(c, NULL, &b), 0);
  val("CREATE TABLE bt (n bigserial, k text COLLATE \"C\", v int CHECK (v >= 0), "
      "u int UNIQUE DEFERRABLE INITIALLY DEFERRED)");

  /* 1. group commit: one slow transaction, 100 items arrive meanwhile */
  {
    long long c0 = commits();
    static item slow;
    snprintf(slow.key, sizeof slow.key, "slow");
    slow.extra = "SELECT pg_sleep(0.3)";
    told = 0;
    CHECK_INT(acs_store_batch_submit(b, slow.key, 0, build, done, &slow), 0);
    CHECK_INT(slow.calls, 0);
    uv_timer_t t;
    uv_timer_init(loop, &t);
    st_sleep(loop, 50); /* the slow transaction is in flight now */
    CHECK_INT(acs_store_batch_depth(b), 1);
    submit_many(&t);
    CHECK_INT(acs_store_batch_depth(b), NSUB + 1);
    CHECK(st_wait(loop, &told, NSUB + 1, 10000));
    long long delta = commits() - c0;
    acs_store_batch_get_stats(b, &st);
    int ok = 0;
    for (int i = 0; i < NSUB; i++) ok += many[i].calls == 1 && many[i].status == 0;
    CHECK_INT(ok, NSUB);
    CHECK_INT(slow.status, 0);
    CHECK_INT(st.transactions, 2);
    fprintf(stderr,
            "group commit: %d submissions -> %llu batcher transactions, xact_commit +%lld "
            "(reads included)\n",
            NSUB + 1, st.transactions, delta);
    CHECK(delta < (NSUB + 1) / 10 + 4);
    /* rows were written in key order */
    CHECK_INT(val("SELECT count(*) FROM (SELECT k, lag(k) OVER (ORDER BY n) AS prev FROM bt "
                  "WHERE k LIKE 'dev%') s WHERE prev > k"),
              0);
    CHECK_INT(val("SELECT count(*) FROM bt"), NSUB + 1);
  }

  /* 2. a failing statement: its item fails alone, the others commit in one
   * retry */
  {
    static item v[20];
    reset_items(v, 20);
    acs_store_batch_get_stats(b, &st0);
    for (int i = 0; i < 20; i++) {
      snprintf(v[i].key, sizeof v[i].key, "iso%02d", i);
      v[i].v = i == 7 ? -1 : i;
      CHECK_INT(acs_store_batch_submit(b, v[i].key, 0, build, done, &v[i]), 0);
    }
    CHECK(st_wait(loop, &told, 20, 10000));
    acs_store_batch_get_stats(b, &st);
    CHECK_INT(v[7].status, ACS_EPG);
    CHECK_STR(v[7].sqlstate, "23514");
    int ok = 0;
    for (int i = 0; i < 20; i++) ok += v[i].status == 0;
    CHECK_INT(ok, 19);
    CHECK_INT(st.transactions - st0.transactions, 2);
    CHECK_INT(st.failed_items - st0.failed_items, 1);
    CHECK_INT(val("SELECT count(*) FROM bt WHERE k LIKE 'iso%'"), 19);
  }

  /* 3. the COMMIT fails (deferred unique: no statement to blame): halves
   * are retried until the item that conflicts is alone */
  {
    static item v[16];
    reset_items(v, 16);
    acs_store_batch_get_stats(b, &st0);
    for (int i = 0; i < 16; i++) {
      snprintf(v[i].key, sizeof v[i].key, "def%02d", i);
      v[i].v = i;
    }
    /* every item sets u = 1000 + v, but item 9 takes item 3's value */
    val("CREATE FUNCTION bt_u() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        "NEW.u := CASE WHEN NEW.k = 'def09' THEN 1003 WHEN NEW.k LIKE 'def%' THEN 1000 + NEW.v "
        "ELSE NULL END; RETURN NEW; END $$");
    val("CREATE TRIGGER bt_u BEFORE INSERT ON bt FOR EACH ROW EXECUTE FUNCTION bt_u()");
    for (int i = 0; i < 16; i++)
      CHECK_INT(acs_store_batch_submit(b, v[i].key, 0, build, done, &v[i]), 0);
    CHECK(st_wait(loop, &told, 16, 10000));
    acs_store_batch_get_stats(b, &st);
    CHECK_INT(v[9].status, ACS_EPG);
    CHECK_STR(v[9].sqlstate, "23505");
    int ok = 0;
    for (int i = 0; i < 16; i++) ok += v[i].status == 0;
    CHECK_INT(ok, 15);
    fprintf(stderr, "commit-time failure among 16 items isolated in %llu transactions\n",
            st.transactions - st0.transactions);
    CHECK(st.transactions - st0.transactions <= 9);
    CHECK_INT(val("SELECT count(*) FROM bt WHERE k LIKE 'def%'"), 15);
  }

  /* 4. a build that fails: that item only */
  {
    static item v[5];
    reset_items(v, 5);
    for (int i = 0; i < 5; i++) {
      snprintf(v[i].key, sizeof v[i].key, "bld%d", i);
      v[i].v = i;
      v[i].fail_build = i == 2;
      CHECK_INT(acs_store_batch_submit(b, v[i].key, 0, build, done, &v[i]), 0);
    }
    CHECK(st_wait(loop, &told, 5, 10000));
    CHECK_INT(v[2].status, ACS_EINVAL);
    for (int i = 0; i < 5; i++) CHECK_INT(v[i].calls, 1);
    CHECK_INT(val("SELECT count(*) FROM bt WHERE k LIKE 'bld%'"), 4);
  }

  /* 4b. set statements: one statement for all the items of a transaction;
   * each item gets its own result row; a second item with the same key
   * waits for the next transaction; a bad row fails its item alone */
  {
    static item v[8];
    reset_items(v, 8);
    acs_store_batch_stats s0, s1;
    acs_store_batch_get_stats(b, &s0);
    static const char *vals[8] = {"1", "2", "3", "4", "5", "6", "7", "8"};
    for (int i = 0; i < 8; i++) {
      snprintf(v[i].key, sizeof v[i].key, "set%d", i == 7 ? 3 : i); /* set3 twice */
      v[i].sv = vals[i];
      CHECK_INT(acs_store_batch_submit(b, v[i].key, 0, set_build, done, &v[i]), 0);
    }
    CHECK(st_wait(loop, &told, 8, 10000));
    acs_store_batch_get_stats(b, &s1);
    for (int i = 0; i < 8; i++) {
      char want[80];
      snprintf(want, sizeof want, "%.32s:a,b", v[i].key);
      CHECK_INT(v[i].status, 0);
      CHECK_INT(v[i].rows, 1);
      CHECK_STR(v[i].echo, want);
    }
    CHECK_INT(s1.transactions - s0.transactions, 2); /* the second set3 waited */
    CHECK_INT(s1.set_statements - s0.set_statements, 2);
    CHECK_INT(s1.set_items - s0.set_items, 8);
    CHECK_INT(val("SELECT count(*) FROM bt WHERE k LIKE 'set%'"), 8);
    CHECK_INT(val("SELECT count(*) FROM bt WHERE k = 'set3'"), 2);

    reset_items(v, 8);
    static const char *bad[6] = {"10", "11", "x", "13", "14", "15"};
    for (int i = 0; i < 6; i++) {
      snprintf(v[i].key, sizeof v[i].key, "sbad%d", i);
      v[i].sv = bad[i];
      CHECK_INT(acs_store_batch_submit(b, v[i].key, 0, set_build, done, &v[i]), 0);
    }
    CHECK(st_wait(loop, &told, 6, 10000));
    for (int i = 0; i < 6; i++) CHECK_INT(v[i].calls, 1);
    CHECK_INT(v[2].status, ACS_EPG);
    CHECK_STR(v[2].sqlstate, "22P02"); /* invalid input syntax for type integer */
    for (int i = 0; i < 6; i++)
      if (i != 2) CHECK_INT(v[i].status, 0);
    CHECK_INT(val("SELECT count(*) FROM bt WHERE k LIKE 'sbad%'"), 5);
  }

  /* 5. freeing with items waiting: they are cancelled, from the loop */
  {
    static item v[3];
    reset_items(v, 3);
    for (int i = 0; i < 3; i++) {
      snprintf(v[i].key, sizeof v[i].key, "fre%d", i);
      CHECK_INT(acs_store_batch_submit(b, v[i].key, 0, build, done, &v[i]), 0);
    }
    acs_store_batch_free(b);
    CHECK_INT(told, 0);
    CHECK(st_wait(loop, &told, 3, 5000));
    for (int i = 0; i < 3; i++) CHECK_INT(v[i].status, ACS_ECANCELED);
  }

  /* 6. a store that is down: fail-fast refuses, the rest is told */
  {
    acs_pg *d = NULL;
    acs_store_batch *db = NULL;
    static item v[2];
    reset_items(v, 2);
    CHECK_INT(acs_pg_open(loop, "hostaddr=127.0.0.1 port=1 dbname=x user=x", NULL, &d), 0);
    CHECK_INT(acs_store_batch_new(d, NULL, &db), 0);
    CHECK_INT(acs_store_batch_submit(db, "a", ACS_PG_FAILFAST, build, done, &v[0]),
              ACS_EUNAVAILABLE);
    CHECK_INT(acs_store_batch_submit(db, "b", 0, build, done, &v[1]), 0);
    CHECK(st_wait(loop, &told, 1, 5000));
    CHECK_INT(v[1].status, ACS_EUNAVAILABLE);
    CHECK_INT(v[0].calls, 0);
    acs_store_batch_free(db);
    CHECK_INT(acs_pg_close(d, close_cb, NULL), 0);
  }

  CHECK_INT(acs_pg_close(c, close_cb, NULL), 0);
  while (closed < 2) uv_run(loop, UV_RUN_ONCE);
  uv_run(loop, UV_RUN_NOWAIT);
  CHECK_INT(uv_loop_close(loop), 0);
  return acs_test_result("test_store_batch");
}
