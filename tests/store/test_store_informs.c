/* test_store_informs: acs_inform_batch() (schema version 21) answers a
 * device's policy context ('c' row) exactly when the worker must read it,
 * and ctx_gen with the store's clock in every 'v' row.
 *
 * One device, its Inform called as a worker with policies calls it (the
 * model kept), what the worker holds passed back each time:
 *  - the first call (nothing held): 'v' and 'c', the same ctx_gen in both;
 *  - the worker current: 'v' only, its ctx_gen the device's;
 *  - another writer changed the context (tags) before the call: 'c' again;
 *  - the call itself changes it after the upsert: a policy action task
 *    that the Inform settles ('sent' Reboot -> 'unknown'), an alarm that
 *    the Inform clears (clear_on_inform): 'c' with the context as it is
 *    after those writes and their ctx_gen (without the 'c' row the worker
 *    would keep the older context under the older ctx_gen);
 *  - with the version expected wrong (stale): 'c'. */
#include "store/acs_store.h"
#include "store_test.h"

#define DEV "00D09E-IGD-SN-INF"

static PGconn *pg;

typedef struct reply {
  bool stale, has_c;
  char ver[32], gen_v[32], now_v[32], gen_c[32];
  char ctx[4096];
} reply;

/* One Inform of DEV: expect, the version the worker's last Inform left
 * (NULL: none), cexp the ctx_gen of the context it holds (NULL: none). */
static reply inform(const char *expect, const char *cexp) {
  reply r;
  memset(&r, 0, sizeof r);
  const char *p[2] = {expect, cexp};
  PGresult *res = PQexecParams(
      pg,
      "SELECT r_kind, r1, r2, r3, r4 FROM acs_inform_batch(ARRAY['" DEV
      "'], ARRAY['00D09E'],\n"
      "  ARRAY['IGD'], ARRAY['SN-INF'], ARRAY['Acme'], ARRAY[NULL]::text[], ARRAY[NULL]::text[],\n"
      "  ARRAY[false], ARRAY[false], ARRAY['127.0.0.1']::inet[], ARRAY['http://127.0.0.1:9/'],\n"
      "  ARRAY['1.4'], ARRAY[$1::bigint], ARRAY[true], ARRAY[$1 IS NOT NULL],\n"
      "  ARRAY[$2::bigint], ARRAY[0::bigint], ARRAY['" DEV
      "'], ARRAY['2 PERIODIC'], ARRAY[''],\n"
      "  '{}'::text[], '{}'::text[], '{}'::text[], '{}'::text[], '{}'::boolean[],\n"
      "  '{}'::text[], '{}'::text[])",
      2, NULL, p, NULL, NULL, 0);
  if (PQresultStatus(res) != PGRES_TUPLES_OK) {
    fprintf(stderr, "acs_inform_batch: %s", PQerrorMessage(pg));
    CHECK(false);
  }
  for (int i = 0; i < PQntuples(res); i++) {
    const char *kind = PQgetvalue(res, i, 0);
    if (kind[0] == 'v') {
      r.stale = PQgetvalue(res, i, 1)[0] == 't';
      snprintf(r.ver, sizeof r.ver, "%s", PQgetvalue(res, i, 2));
      snprintf(r.gen_v, sizeof r.gen_v, "%s", PQgetvalue(res, i, 3));
      snprintf(r.now_v, sizeof r.now_v, "%s", PQgetvalue(res, i, 4));
    } else if (kind[0] == 'c') {
      r.has_c = true;
      snprintf(r.ctx, sizeof r.ctx, "%s", PQgetvalue(res, i, 1));
      snprintf(r.gen_c, sizeof r.gen_c, "%s", PQgetvalue(res, i, 3));
    }
  }
  PQclear(res);
  return r;
}

static const char *gen_now(void) {
  static char buf[32];
  snprintf(buf, sizeof buf, "%lld", st_ll(pg, "SELECT ctx_gen FROM devices WHERE id = '" DEV "'"));
  return buf;
}

static void exec(const char *sql) {
  PGresult *res = PQexec(pg, sql);
  if (PQresultStatus(res) != PGRES_COMMAND_OK) fprintf(stderr, "%s: %s", sql, PQerrorMessage(pg));
  CHECK_INT(PQresultStatus(res), PGRES_COMMAND_OK);
  PQclear(res);
}

int main(void) {
  const char *dsn = st_dsn();
  char err[256];
  CHECK_INT(acs_store_migrate(dsn, err, sizeof err), 0);
  pg = st_connect(dsn);

  /* nothing held: the context, and the same ctx_gen in 'v' */
  reply r = inform(NULL, NULL);
  CHECK(r.stale && r.has_c && r.ctx[0] == '{');
  CHECK_STR(r.gen_v, r.gen_c);
  CHECK_STR(r.gen_v, gen_now());
  long long now = st_ll(pg, "SELECT (extract(epoch FROM now()) * 1000)::bigint");
  CHECK(atoll(r.now_v) > now - 60000 && atoll(r.now_v) <= now);

  /* current: no 'c' row */
  char gen[32], ver[32];
  snprintf(gen, sizeof gen, "%s", r.gen_v);
  snprintf(ver, sizeof ver, "%s", r.ver);
  r = inform(ver, gen);
  CHECK(!r.stale && !r.has_c);
  CHECK_STR(r.gen_v, gen);

  /* another writer moved it: 'c' */
  exec("UPDATE devices SET tags = '{vip}' WHERE id = '" DEV "'");
  snprintf(ver, sizeof ver, "%s", r.ver);
  r = inform(ver, gen);
  CHECK(!r.stale && r.has_c && strstr(r.ctx, "\"vip\""));
  CHECK_STR(r.gen_c, gen_now());
  CHECK(strcmp(r.gen_c, gen) != 0);
  snprintf(gen, sizeof gen, "%s", r.gen_c);
  snprintf(ver, sizeof ver, "%s", r.ver);
  r = inform(ver, gen); /* and current again */
  CHECK(!r.stale && !r.has_c);

  /* the call settles a policy action: its own write moves ctx_gen */
  exec("INSERT INTO tasks (device_id, rpc, status, created_by, command_key, sent_at) VALUES ('" DEV
       "', 'Reboot', 'sent', 'policy:provisions/p', 'reboot@1', now())");
  snprintf(gen, sizeof gen, "%s", gen_now()); /* as if the worker had read it */
  snprintf(ver, sizeof ver, "%s", r.ver);
  r = inform(ver, gen);
  CHECK(!r.stale);
  CHECK(r.has_c && strstr(r.ctx, "\"status\" : \"unknown\""));
  CHECK_STR(r.gen_c, gen_now());
  CHECK(atoll(r.gen_c) > atoll(gen));
  CHECK_INT(
      st_ll(pg, "SELECT count(*) FROM tasks WHERE device_id = '" DEV "' AND status = 'unknown'"),
      1);

  /* the call clears an alarm */
  exec("INSERT INTO alarms (device_id, rule, severity, clear_on_inform) VALUES ('" DEV
       "', 'jobs/silent', 'minor', true)");
  snprintf(gen, sizeof gen, "%s", gen_now());
  snprintf(ver, sizeof ver, "%s", r.ver);
  r = inform(ver, gen);
  CHECK(r.has_c && strstr(r.ctx, "\"alarms\" : []"));
  CHECK_STR(r.gen_c, gen_now());
  CHECK(atoll(r.gen_c) > atoll(gen));

  /* stale (another version written meanwhile): 'c' */
  snprintf(gen, sizeof gen, "%s", r.gen_c);
  r = inform("1", gen);
  CHECK(r.stale && r.has_c);

  exec("DELETE FROM devices WHERE id = '" DEV "'");
  PQfinish(pg);
  return acs_test_result("test_store_informs");
}
