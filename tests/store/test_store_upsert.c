/* test_store_upsert: only changed values are written. Upserting the same
 * 300 parameters twice adds 0 to the parameters partitions' n_tup_upd;
 * changing 3 adds exactly 3. Counted two ways: pg_stat_xact_user_tables
 * inside the same transaction (exact, no flush delay), and
 * pg_stat_user_tables after pg_stat_force_next_flush() on the same
 * connection (PostgreSQL 15 flushes statistics asynchronously, and its
 * "xact" view includes earlier transactions not flushed yet: each count is
 * preceded by a forced flush). */
#include "core/acs_err.h"
#include "store/acs_store.h"
#include "store_test.h"

#define N 300
#define DEV "00D09E-IGD-SN%2D001"

static uv_loop_t *loop;
static acs_pg *c;

typedef struct {
  int calls, status;
  long long v[3];
  long long affected;
  char sqlstate[6];
} rec;

static void rec_cb(acs_pg_result *r, void *arg) {
  rec *x = arg;
  x->calls++;
  x->status = r->status;
  snprintf(x->sqlstate, sizeof x->sqlstate, "%s", r->sqlstate);
  x->affected = acs_pg_cmd_tuples(r);
  for (int i = 0; i < 3 && i < r->nfields && r->ntuples > 0; i++)
    x->v[i] = strtoll(acs_pg_getvalue(r, 0, i), NULL, 10);
  if (r->status) fprintf(stderr, "statement failed: %s\n", r->error);
}

/* A model write: what it wrote is its function's value. */
static void put_cb(acs_pg_result *r, void *arg) {
  rec_cb(r, arg);
  ((rec *)arg)->affected = acs_store_rows(r);
}

static rec run1(const char *sql) {
  rec x = {0};
  CHECK_INT(acs_pg_query(c, sql, 0, NULL, 0, rec_cb, &x), 0);
  CHECK(st_wait(loop, &x.calls, 1, 5000));
  CHECK_INT(x.status, 0);
  return x;
}

static const char xact_sql[] =
    "SELECT coalesce(sum(n_tup_ins), 0), coalesce(sum(n_tup_upd), 0), count(*) "
    "FROM pg_stat_xact_user_tables WHERE relname LIKE 'parameters%'";

/* Flushed counters of this backend, summed over the partitions. */
static long long flushed_updates(void) {
  run1("SELECT pg_stat_force_next_flush()"); /* flushes when the backend next idles */
  rec x = run1(
      "SELECT coalesce(sum(n_tup_upd), 0) FROM pg_stat_user_tables "
      "WHERE relname LIKE 'parameters%'");
  return x.v[0];
}

/* One transaction: the upsert, then this transaction's counters. */
typedef struct {
  long long affected, ins, upd;
} outcome;

static outcome put(const char *const *names, const char *const *values, const char *const *types,
                   size_t n) {
  rec u = {0}, s = {0}, sy = {0};
  /* PostgreSQL 15's "xact" counters are really the backend's unflushed
   * ones: they still hold earlier transactions until a flush. */
  run1("SELECT pg_stat_force_next_flush()");
  CHECK_INT(acs_pg_begin_batch(c, 0), 0);
  CHECK_INT(acs_store_put_values(c, DEV, n, names, values, types, 0, put_cb, &u), 0);
  CHECK_INT(acs_pg_query(c, xact_sql, 0, NULL, 0, rec_cb, &s), 0);
  CHECK_INT(acs_pg_sync(c, rec_cb, &sy), 0);
  CHECK(st_wait(loop, &sy.calls, 1, 10000));
  CHECK_INT(sy.status, 0);
  return (outcome){u.affected, s.v[0], s.v[1]};
}

static int closed;
static void close_cb(void *arg) { closed = 1; }

int main(void) {
  const char *dsn = st_dsn();
  char err[256];
  loop = uv_default_loop();
  CHECK_INT(acs_store_migrate(dsn, err, sizeof err), 0);
  CHECK_INT(acs_pg_open(loop, dsn, NULL, &c), 0);
  ST_WAIT_UP(loop, c, 5000);
  run1(
      "INSERT INTO devices (id, oui, product_class, serial_number) "
      "VALUES ('" DEV "', '00D09E', 'IGD', 'SN-001')");

  static char namebuf[N][64], valbuf[N][32];
  const char *names[N], *values[N], *types[N];
  for (int i = 0; i < N; i++) {
    snprintf(namebuf[i], sizeof namebuf[i], "Device.Test.Object.%d.Value", i + 1);
    snprintf(valbuf[i], sizeof valbuf[i], "value %d", i + 1);
    names[i] = namebuf[i];
    values[i] = valbuf[i];
    types[i] = i % 2 ? "xsd:string" : "xsd:unsignedInt";
  }
  values[7] = "with \"quotes\" and \\ backslash";
  values[8] = NULL;
  values[9] = "";

  long long base = flushed_updates();

  /* first time: 300 inserts */
  outcome o = put(names, values, types, N);
  CHECK_INT(o.affected, N);
  CHECK_INT(o.ins, N);
  CHECK_INT(o.upd, 0);

  /* the same again, twice: nothing written */
  for (int k = 0; k < 2; k++) {
    o = put(names, values, types, N);
    CHECK_INT(o.affected, 0);
    CHECK_INT(o.ins, 0);
    CHECK_INT(o.upd, 0);
  }
  /* what a periodic Inform's write costs: the identical upsert, one at a
   * time, round trip and commit included */
  {
    rec w0 = run1("SELECT pg_current_wal_lsn() - '0/0'");
    uint64_t t0 = uv_hrtime();
    for (int k = 0; k < 20; k++) {
      rec u = {0};
      CHECK_INT(acs_store_put_values(c, DEV, N, names, values, types, 0, put_cb, &u), 0);
      CHECK(st_wait(loop, &u.calls, 1, 5000));
      CHECK_INT(u.affected, 0);
    }
    double ms = (double)(uv_hrtime() - t0) / 20e6;
    rec w1 = run1("SELECT pg_current_wal_lsn() - '0/0'");
    /* the same upsert without the read first writes ~56 bytes of WAL per
     * row (the row lock): 336 KB here; this one writes nothing (the bound
     * leaves room for background activity such as autovacuum) */
    fprintf(stderr,
            "identical upsert of %d parameters: %.2f ms per statement, %lld bytes of WAL "
            "for 20\n",
            N, ms, w1.v[0] - w0.v[0]);
    CHECK(w1.v[0] - w0.v[0] < 65536);
  }
  long long after_same = flushed_updates();
  fprintf(stderr, "n_tup_upd delta after 2 identical upserts of %d: %lld\n", N, after_same - base);
  CHECK_INT(after_same - base, 0);

  /* 3 values change (the NULL and the empty one among them) */
  values[8] = "now set";
  values[9] = NULL;
  values[100] = "changed";
  o = put(names, values, types, N);
  CHECK_INT(o.affected, 3);
  CHECK_INT(o.upd, 3);
  CHECK_INT(o.ins, 0);
  long long after_3 = flushed_updates();
  fprintf(stderr, "n_tup_upd delta after changing 3: %lld\n", after_3 - after_same);
  CHECK_INT(after_3 - after_same, 3);

  /* a type change alone is a change */
  types[0] = "xsd:int";
  o = put(names, values, types, N);
  CHECK_INT(o.upd, 1);

  /* what is stored is what was sent */
  {
    rec x = run1(
        "SELECT (value = 'with \"quotes\" and \\ backslash')::int, "
        "(SELECT (value IS NULL)::int FROM parameters WHERE name = "
        "'Device.Test.Object.10.Value'), "
        "(SELECT count(*) FROM parameters WHERE device_id = '" DEV
        "') "
        "FROM parameters WHERE name = 'Device.Test.Object.8.Value'");
    CHECK_INT(x.v[0], 1);
    CHECK_INT(x.v[1], 1);
    CHECK_INT(x.v[2], N);
  }

  /* a name given twice in one call: the last value wins, no error */
  {
    const char *n2[] = {"Device.Dup.", "Device.Dup.", "Device.Dup."};
    const char *v2[] = {"a", "b", "c"};
    const char *t2[] = {"xsd:string", "xsd:string", "xsd:string"};
    o = put(n2, v2, t2, 3);
    CHECK_INT(o.ins, 1);
    rec x = run1(
        "SELECT (value = 'c')::int, is_object::int FROM parameters "
        "WHERE name = 'Device.Dup.'");
    CHECK_INT(x.v[0], 1);
    CHECK_INT(x.v[1], 0);
  }

  /* GetParameterNames and GetParameterAttributes: changed rows only */
  {
    bool w[N];
    int notif[N];
    const char *acl[N];
    for (int i = 0; i < N; i++) {
      w[i] = i % 3 == 0;
      notif[i] = i % 3;
      acl[i] = i % 5 ? "" : "Subscriber";
    }
    for (int k = 0; k < 2; k++) {
      rec a = {0}, b = {0};
      CHECK_INT(acs_store_put_names(c, DEV, N, names, w, 0, put_cb, &a), 0);
      CHECK_INT(acs_store_put_attrs(c, DEV, N, names, notif, acl, 0, put_cb, &b), 0);
      CHECK(st_wait(loop, &b.calls, 1, 10000));
      CHECK_INT(a.status, 0);
      CHECK_INT(b.status, 0);
      CHECK_INT(a.affected, k == 0 ? N : 0);
      CHECK_INT(b.affected, k == 0 ? N : 0);
    }
    rec x = run1(
        "SELECT count(*) FILTER (WHERE access_list = '{Subscriber}'), "
        "count(*) FILTER (WHERE access_list = '{}'), "
        "count(*) FILTER (WHERE writable) FROM parameters WHERE device_id = '" DEV
        "' AND name LIKE 'Device.Test.%'");
    CHECK_INT(x.v[0], N / 5);
    CHECK_INT(x.v[1], N - N / 5);
    CHECK_INT(x.v[2], N / 3);
    /* an object from GetParameterNames */
    const char *on[] = {"Device.Test.Object.1."};
    bool ow[] = {true};
    rec a = {0};
    CHECK_INT(acs_store_put_names(c, DEV, 1, on, ow, 0, put_cb, &a), 0);
    CHECK(st_wait(loop, &a.calls, 1, 5000));
    x = run1("SELECT is_object::int FROM parameters WHERE name = 'Device.Test.Object.1.'");
    CHECK_INT(x.v[0], 1);
  }

  /* Names new to a model: written without a probe, with the same outcome
   * as acs_store_put_names for rows that exist after all (one with other
   * flags updated, an unchanged one not) */
  {
    const char *nn[] = {"Device.New.A", "Device.New.B.", "Device.Test.Object.1.Value",
                        "Device.Test.Object.2.Value"};
    bool nw[] = {true, false, true, true}; /* stored writable, and not: the second changes */
    rec a = {0};
    CHECK_INT(acs_store_put_new_names(c, DEV, 4, nn, nw, 0, put_cb, &a), 0);
    CHECK(st_wait(loop, &a.calls, 1, 5000));
    CHECK_INT(a.status, 0);
    CHECK_INT(a.affected, 3); /* two inserted, Object.2.Value updated, Object.1.Value as it was */
    rec x = run1(
        "SELECT count(*) FILTER (WHERE name = 'Device.New.A' AND writable AND NOT is_object), "
        "count(*) FILTER (WHERE name = 'Device.New.B.' AND is_object AND NOT writable), "
        "count(*) FILTER (WHERE name = 'Device.Test.Object.2.Value' AND writable) "
        "FROM parameters WHERE device_id = '" DEV "'");
    CHECK_INT(x.v[0], 1);
    CHECK_INT(x.v[1], 1);
    CHECK_INT(x.v[2], 1);
    rec b = {0};
    CHECK_INT(acs_store_put_new_names(c, DEV, 0, nn, nw, 0, put_cb, &b), 0); /* nothing: fine */
    CHECK(st_wait(loop, &b.calls, 1, 5000));
    CHECK_INT(b.status, 0);
    CHECK_INT(b.affected, 0);
  }

  /* DeleteObject: the object and everything under it, nothing else */
  {
    rec d = {0};
    CHECK_INT(acs_store_delete_subtree(c, DEV, "Device.Test.Object.1.", 0, rec_cb, &d), 0);
    CHECK(st_wait(loop, &d.calls, 1, 5000));
    CHECK_INT(d.affected, 2); /* Object.1. and Object.1.Value */
    rec e = {0};
    CHECK_INT(acs_store_delete_subtree(c, DEV, "Device.Test.Object.2.Value", 0, rec_cb, &e), 0);
    CHECK(st_wait(loop, &e.calls, 1, 5000));
    CHECK_INT(e.affected, 1);
    rec x = run1("SELECT count(*) FROM parameters WHERE name LIKE 'Device.Test.Object.1%'");
    CHECK_INT(x.v[0], 110); /* Object.10 to .19 and .100 to .199 remain */
  }

  /* A listing's vanished names (acs_gpn_vanished): the subtree as a key
   * range ends where its prefix does, bytewise, on both sides: siblings
   * whose names share the prefix's characters, '-' (below '.') and '/'
   * (above it) stay, as do the prefix itself and another device's rows */
  {
    run1(
        "INSERT INTO devices (id, oui, product_class, serial_number) "
        "VALUES ('" DEV "-2', '00D09E', 'IGD', 'SN-002')");
    run1("INSERT INTO parameters (device_id, name) SELECT d, n FROM unnest(ARRAY['" DEV "', '" DEV
         "-2']) AS d, unnest(ARRAY['Device.V.', 'Device.V.1.', 'Device.V.1.X', "
         "'Device.V.10.X', 'Device.V.2.Y', 'Device.VW.Z', 'Device.V-', 'Device.V/']) AS n");
    static const char count_v[] = "SELECT count(*) FILTER (WHERE device_id = '" DEV
                                  "'), count(*) "
                                  "FROM parameters WHERE name LIKE 'Device.V%'";
    rec r = run1("SELECT acs_gpn_vanished('" DEV "', 'Device.V.1.', ARRAY['Device.V.1.X'])");
    CHECK_INT(r.v[0], 0);
    r = run1("SELECT acs_gpn_vanished('" DEV
             "', 'Device.V.', ARRAY['Device.V.1.', 'Device.V.1.X'])");
    CHECK_INT(r.v[0], 2); /* Device.V.10.X, Device.V.2.Y */
    r = run1(count_v);
    CHECK_INT(r.v[0], 6);
    CHECK_INT(r.v[1], 14);
    /* "": the whole device; a name that is not an object's: its subtree */
    r = run1("SELECT acs_gpn_vanished('" DEV "', 'Device.V', ARRAY['Device.V.', 'Device.V-'])");
    CHECK_INT(r.v[0], 4); /* Device.V.1., Device.V.1.X, Device.VW.Z, Device.V/ */
    r = run1("SELECT acs_gpn_vanished('" DEV
             "-2', '', ARRAY(SELECT name FROM parameters "
             "WHERE device_id = '" DEV "-2' AND name <> 'Device.V.2.Y'))");
    CHECK_INT(r.v[0], 1);
    r = run1(count_v);
    CHECK_INT(r.v[0], 2); /* Device.V., Device.V- */
    CHECK_INT(r.v[1], 9);
  }

  CHECK_INT(acs_store_put_values(c, DEV, 1, names, values, NULL, 0, put_cb, NULL), ACS_EINVAL);

  CHECK_INT(acs_pg_close(c, close_cb, NULL), 0);
  while (!closed) uv_run(loop, UV_RUN_ONCE);
  uv_run(loop, UV_RUN_NOWAIT);
  CHECK_INT(uv_loop_close(loop), 0);
  return acs_test_result("test_store_upsert");
}
