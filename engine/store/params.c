/* params.c: the statements that write a device's data model, changed values
 * only (acs_store.h). */
#include <stdio.h>
#include <stdlib.h>

#include "core/acs_buf.h"
#include "core/acs_err.h"
#include "store/acs_store.h"

/* The statements run as functions of schema version 20 (params_sql.h,
 * migrations_v20.c): planned once per backend, not per call. */
const char acs_store_sql_put_values[] =
    "SELECT acs_put_values($1, $2::text[], $3::text[], $4::text[])";
const char acs_store_sql_put_names[] = "SELECT acs_put_names($1, $2::text[], $3::boolean[])";
const char acs_store_sql_put_new_names[] =
    "SELECT acs_put_new_names($1, $2::text[], $3::boolean[])";
const char acs_store_sql_put_attrs[] =
    "SELECT acs_put_attrs($1, $2::text[], $3::smallint[], $4::text[])";
const char acs_store_sql_put_values_listed[] =
    "SELECT acs_put_values_listed($1, $2::text[], $3::text[], $4::text[], $5::boolean[])";

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

long long acs_store_rows(const acs_pg_result *r) {
  if (!r || r->status || r->ntuples != 1 || r->nfields != 1 || acs_pg_isnull(r, 0, 0)) return -1;
  return strtoll(acs_pg_getvalue(r, 0, 0), NULL, 10);
}

int acs_store_delete_subtree(acs_pg *c, const char *device_id, const char *name, unsigned flags,
                             acs_pg_cb cb, void *arg) {
  if (!device_id || !name) return ACS_EINVAL;
  const char *p[] = {device_id, name};
  return acs_pg_query(c, acs_store_sql_delete_subtree, 2, p, flags, cb, arg);
}
