/* migrations_v14.c: schema version 14, session fencing between instances
 * (docs/storage.md "Fencing", docs/architecture.md "Several instances").
 *
 * A session of an instance with Redis holds the device's lock and its
 * fencing token (acs_coord.h): a number that only grows. Every write of the
 * session carries it, and the store refuses one whose token is below the
 * highest it has seen for the device (devices.session_fence, version 1),
 * with SQLSTATE AF001: an instance that lost its lock while paused or cut
 * off cannot write over the newer session that took it.
 * - acs_informs(..., d_fence bigint[], ...): version 12's function with one
 *   more column of group 0 (the token; 0: no Redis, nothing checked or
 *   raised). The device upsert raises session_fence to the token and is
 *   refused (ON CONFLICT ... WHERE, under the row's lock, so no race) when a
 *   higher one was seen; a refused device fails the call (the batcher then
 *   splits the batch, and only that Inform fails). The version 12 function
 *   stays for instances of the previous release during a rolling upgrade.
 * - acs_fence(device, token): the check the session's other writes run first
 *   in their transaction (only with a token), the row locked until commit
 *   so that a newer Inform waits for it instead of passing it. */
#include "store/acs_store.h"
#include "store/informs_sql.h"
#include "store/migrations_sql.h"

/* clang-format off */
const char acs__store_v14_sql[] =
    "CREATE FUNCTION acs_informs(\n"
    INF_ARGS
    "LANGUAGE plpgsql AS $$\n"
    INF_DECLARE
    "BEGIN\n"
    "  WITH u AS (\n"
    INF_U_ARRAYS "\n"
    INF_U_COLS ")),\n"
    INF_UPSERT
    "    RETURNING d.id, d.prev_version)\n"
    INF_STALE
    "    INTO stale, want, n_up\n"
    INF_WRITES
    INF_ALARMS ";\n"
    "\n"
    INF_SETTLE ";\n"
    "  IF cardinality(m_dev) > 0 THEN\n"
    INF_MDONE ";\n"
    "  END IF;\n"
    "\n"
    "  RETURN QUERY SELECT o.ord::int, 'v'::\"char\",\n"
    "    CASE WHEN o.id = ANY(stale) THEN 't' ELSE 'f' END,\n"
    "    ver::text, NULL, NULL, NULL, NULL, NULL, NULL\n"
    "  FROM unnest(d_id) WITH ORDINALITY AS o(id, ord);\n"
    INF_TP_ROWS
    CTX_QUERY
    "END $$;\n"
    "CREATE FUNCTION acs_fence(dev text, fence bigint) RETURNS void LANGUAGE plpgsql AS $$\n"
    "DECLARE\n"
    "  seen bigint;\n"
    "BEGIN\n"
    "  SELECT session_fence INTO seen FROM devices WHERE id = dev FOR NO KEY UPDATE;\n"
    "  IF seen > fence THEN\n"
    "    RAISE EXCEPTION 'stale session fence: a newer session holds the device'\n"
    "      USING ERRCODE = 'AF001', DETAIL = dev || ' (' || fence || ' < ' || seen || ')';\n"
    "  END IF;\n"
    "END $$;\n";
/* clang-format on */
