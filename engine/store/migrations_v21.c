/* migrations_v21.c: schema version 21, acs_inform_batch(): version 14's
 * acs_informs() without a second read of each device for its policy
 * context (docs/storage.md, "One statement per batch").
 *
 * acs_informs() answers a 'c' row for every device whose model the worker
 * keeps (every Inform with policies): the device row read again after its
 * upsert for ctx_gen and the store's clock, ~6 µs a session in the bench's
 * (p) phase, when in a periodic session the context the worker holds is
 * nearly always current. acs_inform_batch() takes ctx_gen from the upsert's
 * RETURNING and puts it, with the store's clock in ms, in each device's 'v'
 * row (r3, r4); a 'c' row comes only for a device whose context the worker
 * must read: its ctx_gen moved, it is stale, its model is wanted (the 'c'
 * row carries the refreshed map), or a statement of the call itself
 * touched its context after the upsert (the alarms an Inform clears, the
 * tasks it settles: their triggers move ctx_gen, version 12). Other
 * transactions cannot move it meanwhile: the upsert holds the device's row
 * lock until commit, and their triggers update that row.
 *
 * Same arguments and rows otherwise; planned once per backend (generic
 * plans, as version 20's functions). acs_informs() stays for instances of
 * the previous release during a rolling upgrade. */
#include "store/acs_store.h"
#include "store/informs_sql.h"
#include "store/migrations_sql.h"

/* clang-format off */
const char acs__store_v21_sql[] =
    "CREATE FUNCTION acs_inform_batch(\n"
    INF_ARGS
    "LANGUAGE plpgsql SET plan_cache_mode = force_generic_plan AS $$\n"
    INF_DECLARE
    "  gens bigint[];\n"
    "  touched text[];\n"
    "  now_ms bigint := (extract(epoch FROM now()) * 1000)::bigint;\n"
    "BEGIN\n"
    "  WITH u AS (\n"
    INF_U_ARRAYS " WITH ORDINALITY\n"
    INF_U_COLS ", ord)),\n"
    INF_UPSERT
    "    RETURNING d.id, d.prev_version, d.ctx_gen)\n"
    INF_STALE
    "    , array_agg(up.ctx_gen ORDER BY u.ord)\n"
    "    INTO stale, want, n_up, gens\n"
    INF_WRITES
    "  WITH x AS (\n"
    INF_ALARMS "\n"
    "    RETURNING device_id)\n"
    "  SELECT array_agg(x.device_id) INTO touched FROM x;\n"
    "\n"
    "  WITH x AS (\n"
    INF_SETTLE "\n"
    "    RETURNING t.device_id)\n"
    "  SELECT touched || array_agg(x.device_id) INTO touched FROM x;\n"
    "  IF cardinality(m_dev) > 0 THEN\n"
    "    WITH x AS (\n"
    INF_MDONE "\n"
    "      RETURNING t.device_id)\n"
    "    SELECT touched || array_agg(x.device_id) INTO touched FROM x;\n"
    "  END IF;\n"
    "\n"
    "  RETURN QUERY SELECT o.ord::int, 'v'::\"char\",\n"
    "    CASE WHEN o.id = ANY(stale) THEN 't' ELSE 'f' END,\n"
    "    ver::text, gens[o.ord::int]::text, now_ms::text, NULL, NULL, NULL, NULL\n"
    "  FROM unnest(d_id) WITH ORDINALITY AS o(id, ord);\n"
    INF_TP_ROWS
    CTX_ROWS("o.model AND (o.cexp IS DISTINCT FROM gens[o.ord::int] OR o.id = ANY(stale)\n"
             "    OR o.id = ANY(want) OR o.id = ANY(touched))")
    "END $$;\n";
/* clang-format on */
