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
/* clang-format off */
#define FUNC(name, args, body)                                           \
  "CREATE FUNCTION " name "(" args ") RETURNS bigint LANGUAGE plpgsql\n" \
  "SET plan_cache_mode = force_generic_plan AS $f$\n"                   \
  "DECLARE acs_rows bigint;\n"                                          \
  "BEGIN\n" body ";\n"                                                  \
  "GET DIAGNOSTICS acs_rows = ROW_COUNT;\n"                             \
  "RETURN acs_rows;\n"                                                  \
  "END $f$;\n"

const char acs__store_v20_sql[] =
    FUNC("acs_put_values", "text, text[], text[], text[]", ACS_SQL_PUT_VALUES)
    FUNC("acs_put_values_listed", "text, text[], text[], text[], boolean[]",
         ACS_SQL_PUT_VALUES_LISTED)
    FUNC("acs_put_names", "text, text[], boolean[]", ACS_SQL_PUT_NAMES)
    FUNC("acs_put_new_names", "text, text[], boolean[]", ACS_SQL_PUT_NEW_NAMES)
    FUNC("acs_put_attrs", "text, text[], smallint[], text[]", ACS_SQL_PUT_ATTRS)
    FUNC("acs_refreshed", "text, text[]", ACS_SQL_REFRESHED)
    FUNC("acs_refreshed_ago", "text, text[], bigint[]", ACS_SQL_REFRESHED_AGO)
    FUNC("acs_gpn_vanished", "text, text, text[]",
         "IF right($2, 1) = '.' THEN\n" ACS_SQL_GPN_VANISHED_RANGE ";\n"
         "ELSE\n" ACS_SQL_GPN_VANISHED_ANY ";\n"
         "END IF")
    /* the Inform's function of version 14, for the same reason: its
     * per-device reads ('c', 'p', 't' rows) were planned per call in a boot
     * storm, ~270 µs a device */
    "ALTER FUNCTION acs_informs(text[], text[], text[], text[], text[], text[], text[],\n"
    "  boolean[], boolean[], inet[], text[], text[], bigint[], boolean[], boolean[], bigint[],\n"
    "  bigint[], text[], text[], text[], text[], text[], text[], text[], boolean[], text[],\n"
    "  text[]) SET plan_cache_mode = force_generic_plan;\n"
    /* acs_time() (version 3), which the dateTime index evaluates for every
     * dateTime value written: its regexp_match with capture groups cost
     * ~27 µs a call, the whole SQL function ~40 µs (~0.8 ms of a first
     * contact). The same pattern without captures, matched once, and the
     * fields cut at their fixed places: ~4 µs. The same result for every
     * input (tests/store/test_store_migrate.c compares the two over
     * 55,000 strings); the index stays valid. */
    "CREATE OR REPLACE FUNCTION acs_time(v text) RETURNS timestamptz LANGUAGE plpgsql\n"
    "IMMUTABLE PARALLEL SAFE AS $f$\n"
    "DECLARE\n"
    "  n int := length(v);\n"
    "  o int;\n"
    "BEGIN\n"
    "  IF v IS NULL OR left(v, 4) = '0000' OR v !~ '^[0-9]{4}-(?:0[1-9]|1[0-2])-"
    "(?:0[1-9]|[12][0-9]|3[01])[Tt ](?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]"
    "(?:[.][0-9]{1,9})?(?:[Zz]|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])?$' THEN\n"
    "    RETURN NULL;\n"
    "  END IF;\n"
    /* the offset's length: 'Z', '+hh:mm' or none */
    "  o := CASE WHEN right(v, 1) IN ('Z', 'z') THEN 1\n"
    "       WHEN substr(v, n - 5, 1) IN ('+', '-') THEN 6 ELSE 0 END;\n"
    "  RETURN ((make_timestamp(substr(v, 1, 4)::int, substr(v, 6, 2)::int, 1, 0, 0, 0)\n"
    "    + make_interval(days => substr(v, 9, 2)::int - 1, hours => substr(v, 12, 2)::int,\n"
    "                    mins => substr(v, 15, 2)::int,\n"
    "                    secs => substr(v, 18, n - 17 - o)::float8))\n"
    "   - CASE WHEN o < 6 THEN interval '0'\n"
    "     ELSE (substr(v, n - 5, 1) || '1')::int\n"
    "          * make_interval(hours => substr(v, n - 4, 2)::int,\n"
    "                          mins => substr(v, n - 1, 2)::int)\n"
    "     END)\n"
    "  AT TIME ZONE 'UTC';\n"
    "END $f$;\n";
/* clang-format on */
