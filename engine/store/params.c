/* params.c: the statements that write a device's data model, changed values
 * only (acs_store.h). */
#include <stdio.h>

#include "core/acs_buf.h"
#include "core/acs_err.h"
#include "store/acs_store.h"

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

const char acs_store_sql_put_values[] =
    PUT_HEAD("u.name, u.value, u.xsd_type", "$2::text[], $3::text[], $4::text[]",
             "u(name, value, xsd_type, ord)", "p.value, p.xsd_type")
    " OR p.value IS DISTINCT FROM u.value\n"
    "     OR p.xsd_type IS DISTINCT FROM u.xsd_type)\n"
    "INSERT INTO parameters AS p (device_id, name, value, xsd_type, value_at)\n"
    "SELECT $1, c.name, c.value, c.xsd_type, now() FROM c ORDER BY c.name\n"
    "ON CONFLICT (device_id, name) DO UPDATE\n"
    "SET value = excluded.value, xsd_type = excluded.xsd_type, value_at = excluded.value_at\n"
    "WHERE p.value IS DISTINCT FROM excluded.value\n"
    "   OR p.xsd_type IS DISTINCT FROM excluded.xsd_type";

const char acs_store_sql_put_names[] =
    PUT_HEAD("u.name, u.writable, right(u.name, 1) = '.' AS is_object",
             "$2::text[], $3::boolean[]", "u(name, writable, ord)", "p.writable, p.is_object")
    " OR p.writable IS DISTINCT FROM u.writable\n"
    "     OR p.is_object IS DISTINCT FROM u.is_object)\n"
    "INSERT INTO parameters AS p (device_id, name, writable, is_object, names_at)\n"
    "SELECT $1, c.name, c.writable, c.is_object, now() FROM c ORDER BY c.name\n"
    "ON CONFLICT (device_id, name) DO UPDATE\n"
    "SET writable = excluded.writable, is_object = excluded.is_object,\n"
    "    names_at = excluded.names_at\n"
    "WHERE p.writable IS DISTINCT FROM excluded.writable\n"
    "   OR p.is_object IS DISTINCT FROM excluded.is_object";

/* Names new to a device's model (listed by a session, not in the model it
 * read from the store): no probe for an existing row first, and no
 * DISTINCT ON (the caller's names are distinct). A row written meanwhile by
 * another writer is still handled by the ON CONFLICT, as above, at the cost
 * of its lock. About 30 % less of PostgreSQL's time per name than
 * acs_store_sql_put_names (docs/storage.md, "A first contact's names"). */
const char acs_store_sql_put_new_names[] =
    "INSERT INTO parameters AS p (device_id, name, writable, is_object, names_at)\n"
    "SELECT $1, u.name, u.writable, right(u.name, 1) = '.', now()\n"
    "FROM unnest($2::text[], $3::boolean[]) AS u(name, writable) ORDER BY u.name\n"
    "ON CONFLICT (device_id, name) DO UPDATE\n"
    "SET writable = excluded.writable, is_object = excluded.is_object,\n"
    "    names_at = excluded.names_at\n"
    "WHERE p.writable IS DISTINCT FROM excluded.writable\n"
    "   OR p.is_object IS DISTINCT FROM excluded.is_object";

const char acs_store_sql_put_attrs[] =
    PUT_HEAD("u.name, u.notification, string_to_array(u.access, ',') AS access_list",
             "$2::text[], $3::smallint[], $4::text[]", "u(name, notification, access, ord)",
             "p.notification, p.access_list")
    " OR p.notification IS DISTINCT FROM u.notification\n"
    "     OR p.access_list IS DISTINCT FROM u.access_list)\n"
    "INSERT INTO parameters AS p (device_id, name, is_object, notification, access_list,\n"
    "                             attrs_at)\n"
    "SELECT $1, c.name, right(c.name, 1) = '.', c.notification, c.access_list, now()\n"
    "FROM c ORDER BY c.name\n"
    "ON CONFLICT (device_id, name) DO UPDATE\n"
    "SET notification = excluded.notification, access_list = excluded.access_list,\n"
    "    attrs_at = excluded.attrs_at\n"
    "WHERE p.notification IS DISTINCT FROM excluded.notification\n"
    "   OR p.access_list IS DISTINCT FROM excluded.access_list";

/* Values with their listing: a GetParameterValues (or SetParameterValues)
 * answer in the session that listed those names and has not stored them
 * yet (docs/storage.md, "A first contact writes each row once"). $5 is the
 * writable flag of each name listed and not yet stored, NULL for the
 * others; those rows get their names (writable, is_object false,
 * names_at) with their value in one row version. */
const char acs_store_sql_put_values_listed[] =
    PUT_HEAD("u.name, u.value, u.xsd_type, u.writable",
             "$2::text[], $3::text[], $4::text[], $5::boolean[]",
             "u(name, value, xsd_type, writable, ord)",
             "p.value, p.xsd_type, p.writable, p.is_object")
    " OR p.value IS DISTINCT FROM u.value\n"
    "     OR p.xsd_type IS DISTINCT FROM u.xsd_type\n"
    "     OR (u.writable IS NOT NULL AND (p.writable IS DISTINCT FROM u.writable OR p.is_object)))\n"
    "INSERT INTO parameters AS p (device_id, name, value, xsd_type, value_at, writable,\n"
    "                             is_object, names_at)\n"
    "SELECT $1, c.name, c.value, c.xsd_type, now(), c.writable, false,\n"
    "       CASE WHEN c.writable IS NOT NULL THEN now() END\n"
    "FROM c ORDER BY c.name\n"
    "ON CONFLICT (device_id, name) DO UPDATE\n"
    "SET value = excluded.value, xsd_type = excluded.xsd_type,\n"
    "    value_at = CASE WHEN p.value IS DISTINCT FROM excluded.value\n"
    "                     OR p.xsd_type IS DISTINCT FROM excluded.xsd_type\n"
    "               THEN excluded.value_at ELSE p.value_at END,\n"
    "    writable = coalesce(excluded.writable, p.writable),\n"
    "    is_object = CASE WHEN excluded.writable IS NULL THEN p.is_object ELSE false END,\n"
    "    names_at = CASE WHEN excluded.writable IS NOT NULL\n"
    "                     AND (p.writable IS DISTINCT FROM excluded.writable OR p.is_object)\n"
    "               THEN excluded.names_at ELSE p.names_at END\n"
    "WHERE p.value IS DISTINCT FROM excluded.value\n"
    "   OR p.xsd_type IS DISTINCT FROM excluded.xsd_type\n"
    "   OR (excluded.writable IS NOT NULL\n"
    "       AND (p.writable IS DISTINCT FROM excluded.writable OR p.is_object))";

/* starts_with() uses the primary key's btree under COLLATE "C" (PG >= 15). */
const char acs_store_sql_delete_subtree[] =
    "DELETE FROM parameters WHERE device_id = $1\n"
    "  AND (name = $2 OR (right($2, 1) = '.' AND starts_with(name, $2)))";

static int put(acs_pg *c, const char *sql, const char *device_id, acs_buf *a, int na,
               unsigned flags, acs_pg_cb cb, void *arg) {
  const char *p[5] = {device_id, NULL, NULL, NULL, NULL};
  for (int i = 0; i < na; i++) {
    if (acs_buf_err(&a[i])) return ACS_ENOMEM;
    p[i + 1] = a[i].data;
  }
  return acs_pg_query(c, sql, na + 1, p, flags, cb, arg);
}

int acs_store_put_values(acs_pg *c, const char *device_id, size_t n, const char *const *names,
                         const char *const *values, const char *const *types, unsigned flags,
                         acs_pg_cb cb, void *arg) {
  acs_buf a[3] = {ACS_BUF_INIT, ACS_BUF_INIT, ACS_BUF_INIT};
  int rc;
  if (!device_id || (n && (!names || !values || !types))) return ACS_EINVAL;
  acs_pg_array_append(&a[0], names, n);
  acs_pg_array_append(&a[1], values, n);
  acs_pg_array_append(&a[2], types, n);
  rc = put(c, acs_store_sql_put_values, device_id, a, 3, flags, cb, arg);
  for (int i = 0; i < 3; i++) acs_buf_free(&a[i]);
  return rc;
}

int acs_store_put_values_listed(acs_pg *c, const char *device_id, size_t n,
                                const char *const *names, const char *const *values,
                                const char *const *types, const signed char *listed,
                                unsigned flags, acs_pg_cb cb, void *arg) {
  acs_buf a[4] = {ACS_BUF_INIT, ACS_BUF_INIT, ACS_BUF_INIT, ACS_BUF_INIT};
  int rc;
  if (!device_id || (n && (!names || !values || !types || !listed))) return ACS_EINVAL;
  acs_pg_array_append(&a[0], names, n);
  acs_pg_array_append(&a[1], values, n);
  acs_pg_array_append(&a[2], types, n);
  acs_buf_putc(&a[3], '{');
  for (size_t i = 0; i < n; i++) {
    if (i) acs_buf_putc(&a[3], ',');
    acs_buf_puts(&a[3], listed[i] < 0 ? "NULL" : listed[i] ? "t" : "f");
  }
  acs_buf_putc(&a[3], '}');
  rc = put(c, acs_store_sql_put_values_listed, device_id, a, 4, flags, cb, arg);
  for (int i = 0; i < 4; i++) acs_buf_free(&a[i]);
  return rc;
}

static int put_names(acs_pg *c, const char *sql, const char *device_id, size_t n,
                     const char *const *names, const bool *writable, unsigned flags, acs_pg_cb cb,
                     void *arg) {
  acs_buf a[2] = {ACS_BUF_INIT, ACS_BUF_INIT};
  int rc;
  if (!device_id || (n && (!names || !writable))) return ACS_EINVAL;
  acs_pg_array_append(&a[0], names, n);
  acs_buf_putc(&a[1], '{');
  for (size_t i = 0; i < n; i++)
    acs_buf_puts(&a[1], i ? (writable[i] ? ",t" : ",f") : (writable[i] ? "t" : "f"));
  acs_buf_putc(&a[1], '}');
  rc = put(c, sql, device_id, a, 2, flags, cb, arg);
  for (int i = 0; i < 2; i++) acs_buf_free(&a[i]);
  return rc;
}

int acs_store_put_names(acs_pg *c, const char *device_id, size_t n, const char *const *names,
                        const bool *writable, unsigned flags, acs_pg_cb cb, void *arg) {
  return put_names(c, acs_store_sql_put_names, device_id, n, names, writable, flags, cb, arg);
}

int acs_store_put_new_names(acs_pg *c, const char *device_id, size_t n, const char *const *names,
                            const bool *writable, unsigned flags, acs_pg_cb cb, void *arg) {
  return put_names(c, acs_store_sql_put_new_names, device_id, n, names, writable, flags, cb, arg);
}

int acs_store_put_attrs(acs_pg *c, const char *device_id, size_t n, const char *const *names,
                        const int *notification, const char *const *access_lists, unsigned flags,
                        acs_pg_cb cb, void *arg) {
  acs_buf a[3] = {ACS_BUF_INIT, ACS_BUF_INIT, ACS_BUF_INIT};
  int rc;
  if (!device_id || (n && (!names || !notification || !access_lists))) return ACS_EINVAL;
  acs_pg_array_append(&a[0], names, n);
  acs_buf_putc(&a[1], '{');
  for (size_t i = 0; i < n; i++) acs_buf_printf(&a[1], "%s%d", i ? "," : "", notification[i]);
  acs_buf_putc(&a[1], '}');
  acs_pg_array_append(&a[2], access_lists, n);
  rc = put(c, acs_store_sql_put_attrs, device_id, a, 3, flags, cb, arg);
  for (int i = 0; i < 3; i++) acs_buf_free(&a[i]);
  return rc;
}

int acs_store_delete_subtree(acs_pg *c, const char *device_id, const char *name, unsigned flags,
                             acs_pg_cb cb, void *arg) {
  if (!device_id || !name) return ACS_EINVAL;
  const char *p[] = {device_id, name};
  return acs_pg_query(c, acs_store_sql_delete_subtree, 2, p, flags, cb, arg);
}
