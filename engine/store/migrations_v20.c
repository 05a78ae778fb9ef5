/* migrations_v20.c: schema version 20, a session's writes of its device's
 * data model as functions (docs/storage.md, "The model's writes as
 * functions").
 *
 * The statements that store what a session's RPCs returned (values, names,
 * attributes, vanished names, the listings' marks) were sent as unnamed
 * statements, so PostgreSQL parsed and planned each one per call: 100-150
 * µs for the probing upserts, and 2-4 ms for the DELETE of vanished names,
 * whose `name <> ALL(array)` the planner estimated element by element
 * against the column's statistics. As plpgsql functions their plans are
 * made once per backend (what acs_informs() does for the Inform's writes,
 * version 11) and PgBouncer's transaction pooling does not disturb them,
 * unlike named prepared statements. The bodies are the statements as they
 * were (params_sql.h), $1.. being the functions' parameters.
 *
 * Each is forced to its generic plan (plan_cache_mode, set for the
 * function's calls only): left to the plan cache, the statements stayed
 * custom-planned call after call (measured: the probing upserts planned on
 * every call in a storm), as the generic plan's estimate counts all 16
 * partitions that run-time pruning leaves out, and small arrays make cheap
 * custom plans to compare it with. The generic plans probe one partition
 * (its device's, pruned as the executor starts) like the custom ones. */
#include "store/acs_store.h"
#include "store/params_sql.h"

/* Each returns how many rows it wrote (acs_store_rows()). */
#define FUNC(name, args, body)                        \
  "CREATE FUNCTION " name "(" args                    \
  ") RETURNS bigint LANGUAGE plpgsql\n"               \
  "SET plan_cache_mode = force_generic_plan AS $f$\n" \
  "DECLARE acs_rows bigint;\n"                        \
  "BEGIN\n" body                                      \
  ";\n"                                               \
  "GET DIAGNOSTICS acs_rows = ROW_COUNT;\n"           \
  "RETURN acs_rows;\n"                                \
  "END $f$;\n"

const char acs__store_v20_sql[] =
    FUNC("acs_put_values", "text, text[], text[], text[]", ACS_SQL_PUT_VALUES)
        FUNC("acs_put_values_listed", "text, text[], text[], text[], boolean[]",
             ACS_SQL_PUT_VALUES_LISTED)
            FUNC("acs_put_names", "text, text[], boolean[]", ACS_SQL_PUT_NAMES)
                FUNC("acs_put_new_names", "text, text[], boolean[]", ACS_SQL_PUT_NEW_NAMES)
                    FUNC("acs_put_attrs", "text, text[], smallint[], text[]", ACS_SQL_PUT_ATTRS)
                        FUNC("acs_refreshed", "text, text[]", ACS_SQL_REFRESHED) FUNC(
                            "acs_refreshed_ago", "text, text[], bigint[]", ACS_SQL_REFRESHED_AGO)
                            FUNC("acs_gpn_vanished", "text, text, text[]",
                                 "IF right($2, 1) = '.' THEN\n" ACS_SQL_GPN_VANISHED_RANGE
                                 ";\n"
                                 "ELSE\n" ACS_SQL_GPN_VANISHED_ANY
                                 ";\n"
                                 "END IF")
    /* the Inform's function of version 14, for the same reason: its
     * per-device reads ('c', 'p', 't' rows) were planned per call in a boot
     * storm, ~270 µs a device */
    "ALTER FUNCTION acs_informs(text[], text[], text[], text[], text[], text[], text[],\n"
    "  boolean[], boolean[], inet[], text[], text[], bigint[], boolean[], boolean[], bigint[],\n"
    "  bigint[], text[], text[], text[], text[], text[], text[], text[], boolean[], text[],\n"
    "  text[]) SET plan_cache_mode = force_generic_plan;\n";
