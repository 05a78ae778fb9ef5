/* params_sql.h: the statements that write a device's data model (params.c)
 * and its listings' marks (session_store.c), as the bodies of the functions
 * of schema version 20 (migrations_v20.c): a session calls the functions,
 * whose plans each PostgreSQL backend keeps, instead of having each
 * statement parsed and planned per call (docs/storage.md, "The model's
 * writes as functions"). These texts are part of version 20: a later
 * change to one is a new schema version that replaces its function. */
#ifndef ACS_PARAMS_SQL_H
#define ACS_PARAMS_SQL_H

/* The shape of the three statements:
 *  - u: the arrays as rows; DISTINCT ON keeps the last occurrence of a name
 *    (WITH ORDINALITY), since ON CONFLICT cannot touch a row twice;
 *  - c: only the rows that are new or differ, found by a plain read: one
 *    primary-key probe per name (LATERAL ... LIMIT 1 keeps the planner from
 *    turning it into a join whose shape depends on statistics: on a fresh
 *    table it chose a nested loop of 300 x 300 comparisons). This is
 *    what makes an unchanged parameter free: ON CONFLICT DO UPDATE ... WHERE
 *    false writes no row version but still LOCKS the existing row, which
 *    writes a WAL record and dirties its page (3.4 MB of WAL for 200 devices
 *    x 300 unchanged parameters; 0 bytes with the read first, and half the
 *    time: docs/storage.md);
 *  - the upsert of those, its WHERE kept for rows changed meanwhile;
 *    ORDER BY name makes every writer lock a device's rows in one order. */
#define PUT_HEAD(cols, arrays, alias, pcols)                            \
  "WITH u AS (\n"                                                       \
  "  SELECT DISTINCT ON (u.name) " cols                                 \
  "\n"                                                                  \
  "  FROM unnest(" arrays ") WITH ORDINALITY AS " alias                 \
  "\n"                                                                  \
  "  ORDER BY u.name, u.ord DESC),\n"                                   \
  "c AS (\n"                                                            \
  "  SELECT u.* FROM u LEFT JOIN LATERAL (\n"                           \
  "    SELECT true AS found, " pcols                                    \
  " FROM parameters p\n"                                                \
  "    WHERE p.device_id = $1 AND p.name = u.name LIMIT 1) p ON true\n" \
  "  WHERE p.found IS NULL"

#define ACS_SQL_PUT_VALUES                                                                   \
  PUT_HEAD("u.name, u.value, u.xsd_type", "$2::text[], $3::text[], $4::text[]",              \
           "u(name, value, xsd_type, ord)", "p.value, p.xsd_type")                           \
  " OR p.value IS DISTINCT FROM u.value\n"                                                   \
  "     OR p.xsd_type IS DISTINCT FROM u.xsd_type)\n"                                        \
  "INSERT INTO parameters AS p (device_id, name, value, xsd_type, value_at)\n"               \
  "SELECT $1, c.name, c.value, c.xsd_type, now() FROM c ORDER BY c.name\n"                   \
  "ON CONFLICT (device_id, name) DO UPDATE\n"                                                \
  "SET value = excluded.value, xsd_type = excluded.xsd_type, value_at = excluded.value_at\n" \
  "WHERE p.value IS DISTINCT FROM excluded.value\n"                                          \
  "   OR p.xsd_type IS DISTINCT FROM excluded.xsd_type"

#define ACS_SQL_PUT_NAMES                                                                          \
  PUT_HEAD("u.name, u.writable, right(u.name, 1) = '.' AS is_object", "$2::text[], $3::boolean[]", \
           "u(name, writable, ord)", "p.writable, p.is_object")                                    \
  " OR p.writable IS DISTINCT FROM u.writable\n"                                                   \
  "     OR p.is_object IS DISTINCT FROM u.is_object)\n"                                            \
  "INSERT INTO parameters AS p (device_id, name, writable, is_object, names_at)\n"                 \
  "SELECT $1, c.name, c.writable, c.is_object, now() FROM c ORDER BY c.name\n"                     \
  "ON CONFLICT (device_id, name) DO UPDATE\n"                                                      \
  "SET writable = excluded.writable, is_object = excluded.is_object,\n"                            \
  "    names_at = excluded.names_at\n"                                                             \
  "WHERE p.writable IS DISTINCT FROM excluded.writable\n"                                          \
  "   OR p.is_object IS DISTINCT FROM excluded.is_object"

/* Names new to a device's model (listed by a session, not in the model it
 * read from the store): no probe for an existing row first, and no
 * DISTINCT ON (the caller's names are distinct). A row written meanwhile by
 * another writer is still handled by the ON CONFLICT, as above, at the cost
 * of its lock. About 30 % less of PostgreSQL's time per name than
 * acs_store_sql_put_names (docs/storage.md, "A first contact's names"). */
#define ACS_SQL_PUT_NEW_NAMES                                                      \
  "INSERT INTO parameters AS p (device_id, name, writable, is_object, names_at)\n" \
  "SELECT $1, u.name, u.writable, right(u.name, 1) = '.', now()\n"                 \
  "FROM unnest($2::text[], $3::boolean[]) AS u(name, writable) ORDER BY u.name\n"  \
  "ON CONFLICT (device_id, name) DO UPDATE\n"                                      \
  "SET writable = excluded.writable, is_object = excluded.is_object,\n"            \
  "    names_at = excluded.names_at\n"                                             \
  "WHERE p.writable IS DISTINCT FROM excluded.writable\n"                          \
  "   OR p.is_object IS DISTINCT FROM excluded.is_object"

#define ACS_SQL_PUT_ATTRS                                                                  \
  PUT_HEAD("u.name, u.notification, string_to_array(u.access, ',') AS access_list",        \
           "$2::text[], $3::smallint[], $4::text[]", "u(name, notification, access, ord)", \
           "p.notification, p.access_list")                                                \
  " OR p.notification IS DISTINCT FROM u.notification\n"                                   \
  "     OR p.access_list IS DISTINCT FROM u.access_list)\n"                                \
  "INSERT INTO parameters AS p (device_id, name, is_object, notification, access_list,\n"  \
  "                             attrs_at)\n"                                               \
  "SELECT $1, c.name, right(c.name, 1) = '.', c.notification, c.access_list, now()\n"      \
  "FROM c ORDER BY c.name\n"                                                               \
  "ON CONFLICT (device_id, name) DO UPDATE\n"                                              \
  "SET notification = excluded.notification, access_list = excluded.access_list,\n"        \
  "    attrs_at = excluded.attrs_at\n"                                                     \
  "WHERE p.notification IS DISTINCT FROM excluded.notification\n"                          \
  "   OR p.access_list IS DISTINCT FROM excluded.access_list"

/* Values with their listing: a GetParameterValues (or SetParameterValues)
 * answer in the session that listed those names and has not stored them
 * yet (docs/storage.md, "A first contact writes each row once"). $5 is the
 * writable flag of each name listed and not yet stored, NULL for the
 * others; those rows get their names (writable, is_object false,
 * names_at) with their value in one row version. */
#define ACS_SQL_PUT_VALUES_LISTED                                                             \
  PUT_HEAD("u.name, u.value, u.xsd_type, u.writable",                                         \
           "$2::text[], $3::text[], $4::text[], $5::boolean[]",                               \
           "u(name, value, xsd_type, writable, ord)",                                         \
           "p.value, p.xsd_type, p.writable, p.is_object")                                    \
  " OR p.value IS DISTINCT FROM u.value\n"                                                    \
  "     OR p.xsd_type IS DISTINCT FROM u.xsd_type\n"                                          \
  "     OR (u.writable IS NOT NULL AND (p.writable IS DISTINCT FROM u.writable OR "           \
  "p.is_object)))\n"                                                                          \
  "INSERT INTO parameters AS p (device_id, name, value, xsd_type, value_at, writable,\n"      \
  "                             is_object, names_at)\n"                                       \
  "SELECT $1, c.name, c.value, c.xsd_type, now(), c.writable, false,\n"                       \
  "       CASE WHEN c.writable IS NOT NULL THEN now() END\n"                                  \
  "FROM c ORDER BY c.name\n"                                                                  \
  "ON CONFLICT (device_id, name) DO UPDATE\n"                                                 \
  "SET value = excluded.value, xsd_type = excluded.xsd_type,\n"                               \
  "    value_at = CASE WHEN p.value IS DISTINCT FROM excluded.value\n"                        \
  "                     OR p.xsd_type IS DISTINCT FROM excluded.xsd_type\n"                   \
  "               THEN excluded.value_at ELSE p.value_at END,\n"                              \
  "    writable = coalesce(excluded.writable, p.writable),\n"                                 \
  "    is_object = CASE WHEN excluded.writable IS NULL THEN p.is_object ELSE false END,\n"    \
  "    names_at = CASE WHEN excluded.writable IS NOT NULL\n"                                  \
  "                     AND (p.writable IS DISTINCT FROM excluded.writable OR p.is_object)\n" \
  "               THEN excluded.names_at ELSE p.names_at END\n"                               \
  "WHERE p.value IS DISTINCT FROM excluded.value\n"                                           \
  "   OR p.xsd_type IS DISTINCT FROM excluded.xsd_type\n"                                     \
  "   OR (excluded.writable IS NOT NULL\n"                                                    \
  "       AND (p.writable IS DISTINCT FROM excluded.writable OR p.is_object))"

/* A GetParameterNames of a whole subtree: what is stored under it and was
 * not listed has vanished from the CPE ($2 the subtree, "" for all, $3 the
 * names). Written for a generic plan: the subtree as a range of the primary
 * key (a prefix ending in '.' ends before the same prefix ending in '/',
 * bytewise), the names as an anti-join ("<> ALL" with an array parameter
 * compares each row with each name: 10 ms for a first contact's 1,200). */
#define ACS_SQL_GPN_VANISHED_RANGE                   \
  "DELETE FROM parameters p WHERE device_id = $1\n"  \
  "  AND name > $2 AND name < left($2, -1) || '/'\n" \
  "  AND NOT EXISTS (SELECT 1 FROM unnest($3::text[]) AS k(n) WHERE k.n = p.name)"
#define ACS_SQL_GPN_VANISHED_ANY                                                             \
  "DELETE FROM parameters p WHERE device_id = $1 AND starts_with(name, $2) AND name <> $2\n" \
  "  AND NOT EXISTS (SELECT 1 FROM unnest($3::text[]) AS k(n) WHERE k.n = p.name)"

/* When a subtree or name was last read (values) or listed (names), kept in
 * the device row: an unchanged value is not written, so its value_at alone
 * would make it look as old as its last change. */
#define ACS_SQL_REFRESHED                                                         \
  "UPDATE devices SET refreshed = refreshed || (SELECT jsonb_object_agg(n,\n"     \
  "  (extract(epoch FROM now()) * 1000)::bigint) FROM unnest($2::text[]) AS n)\n" \
  "WHERE id = $1"

/* The '#names:PATH' marks of the listings written at a session's end, each
 * as of when it was listed ($3: how many ms ago). */
#define ACS_SQL_REFRESHED_AGO                                                   \
  "UPDATE devices SET refreshed = refreshed || (SELECT jsonb_object_agg(u.n,\n" \
  "  (extract(epoch FROM now()) * 1000)::bigint - u.ago)\n"                     \
  "  FROM unnest($2::text[], $3::bigint[]) AS u(n, ago))\n"                     \
  "WHERE id = $1"

#endif
