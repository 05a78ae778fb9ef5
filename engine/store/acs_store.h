/* acs_store.h: the store of record on top of acs_pg: schema migrations,
 * the statements that write a device's data model, and group commit.
 * docs/storage.md explains the schema and the figures behind it. */
#ifndef ACS_STORE_H
#define ACS_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/acs_pg.h"

/* --- migrations */

typedef struct acs_store_migration {
  int version; /* increasing, never reused */
  const char *name;
  const char *sql; /* one or more statements, run inside one transaction */
} acs_store_migration;

/* The schema, in version order (migrations.c). */
extern const acs_store_migration acs_store_migrations[];
extern const size_t acs_store_migrations_count;

/* Brings the database at dsn to the newest schema. BLOCKING: call it before
 * the workers start, never on a loop. Each missing migration runs in its own
 * transaction under LOCK TABLE schema_migrations IN EXCLUSIVE MODE, so
 * several instances starting at once apply each exactly once (no advisory
 * locks: they do not survive PgBouncer's transaction pooling). Needs only a
 * role that owns the database. Returns 0, ACS_EUNAVAILABLE (cannot connect),
 * ACS_EPG (a statement failed) or ACS_ENOMEM; errbuf (may be NULL) gets a
 * one-line reason. */
int acs_store_migrate(const char *dsn, char *errbuf, size_t errlen);
/* The same with another list (tests). *applied (may be NULL) gets how many
 * migrations this call applied. */
int acs_store_migrate_list(const char *dsn, const acs_store_migration *m, size_t n, int *applied,
                           char *errbuf, size_t errlen);

/* --- writing a device's data model: only changed values are written
 *
 * One statement each, with names/values passed as text arrays (one round
 * trip, no per-row statements) and ON CONFLICT ... DO UPDATE ... WHERE the
 * stored value IS DISTINCT FROM the new one, so an unchanged parameter costs
 * an index probe and no write (n_tup_upd does not move). Rows are locked in
 * name order; a name given twice keeps its last value. They queue with
 * acs_pg_query (flags as there) and join the open sync group if any. */

/* GetParameterValues / Inform: value and xsd type (types[i] may be NULL for
 * an untyped value; the arrays themselves are required). */
int acs_store_put_values(acs_pg *c, const char *device_id, size_t n, const char *const *names,
                         const char *const *values, const char *const *types, unsigned flags,
                         acs_pg_cb cb, void *arg);
/* Values of names the session listed (GetParameterNames) and has not
 * stored yet: listed[i] is the writable flag of a name to store with its
 * value in the same row version (is_object false, names_at), -1 for a name
 * whose listing is not written here. */
int acs_store_put_values_listed(acs_pg *c, const char *device_id, size_t n,
                                const char *const *names, const char *const *values,
                                const char *const *types, const signed char *listed,
                                unsigned flags, acs_pg_cb cb, void *arg);
/* GetParameterNames: writable and object flags (object names end in '.'). */
int acs_store_put_names(acs_pg *c, const char *device_id, size_t n, const char *const *names,
                        const bool *writable, unsigned flags, acs_pg_cb cb, void *arg);
/* The same for names (distinct) that were not in the model the caller read
 * from the store: written without a probe for each (a row that exists after
 * all is still updated as acs_store_put_names would). */
int acs_store_put_new_names(acs_pg *c, const char *device_id, size_t n, const char *const *names,
                            const bool *writable, unsigned flags, acs_pg_cb cb, void *arg);
/* GetParameterAttributes: notification and access list (entries joined by
 * ',', "" for an empty list; NULL leaves it unknown). */
int acs_store_put_attrs(acs_pg *c, const char *device_id, size_t n, const char *const *names,
                        const int *notification, const char *const *access_lists, unsigned flags,
                        acs_pg_cb cb, void *arg);
/* DeleteObject, or a subtree that vanished: deletes name and, when it ends
 * with '.', everything under it. */
int acs_store_delete_subtree(acs_pg *c, const char *device_id, const char *name, unsigned flags,
                             acs_pg_cb cb, void *arg);

/* The statements themselves, for callers that build their own parameters:
 * $1 device id, then text-array literals (acs_pg_array_append). Each calls
 * a function of the schema (params_sql.h) whose one value is how many rows
 * it wrote: acs_store_rows() of the result. */
extern const char acs_store_sql_put_values[];     /* $2 names, $3 values, $4 types */
extern const char acs_store_sql_put_names[];      /* $2 names, $3 writable bool[] */
extern const char acs_store_sql_put_values_listed[]; /* put_values' and $5 writable bool[] */
extern const char acs_store_sql_put_attrs[];      /* $2 names, $3 smallint[], $4 lists */
extern const char acs_store_sql_delete_subtree[]; /* $2 name or prefix */

/* The rows a model write above wrote (its function's value), -1 for a
 * result that is not one. acs_store_delete_subtree's are its command's:
 * acs_pg_cmd_tuples(). */
long long acs_store_rows(const acs_pg_result *r);

/* --- group commit (batch.c)
 *
 * One transaction in flight per connection; whatever is submitted meanwhile
 * forms the next one (no timer: a lone submission on an idle connection goes
 * out at the end of the current loop iteration). Items are ordered by key
 * (the device id) so concurrent transactions lock rows in the same order. A
 * transaction that fails with a server error is split in halves and each
 * retried, down to single items, so one bad item fails alone. Statements go
 * through acs_pg: a connection outage fails the items with ACS_EUNAVAILABLE
 * (no retry here: the caller decides). */
typedef struct acs_store_batch acs_store_batch;

/* Appends the item's statements to the open sync group with acs_pg_query()
 * (flags 0). Called once per attempt: an item in a failed transaction is
 * built again for the retry, so statement callbacks may see an attempt that
 * was rolled back; only the done callback is final. Returns 0 or an error
 * (the item then fails with it, the others go on). */
typedef int (*acs_store_build_fn)(acs_pg *c, void *arg);
/* status: 0 committed; ACS_EPG (its own statement failed: error and sqlstate
 * describe it, valid during the call); ACS_EUNAVAILABLE; ACS_ECANCELED. */
typedef void (*acs_store_done_cb)(int status, const acs_pg_result *r, void *arg);

typedef struct acs_store_batch_opts {
  size_t max_items; /* items per transaction (256) */
} acs_store_batch_opts;

int acs_store_batch_new(acs_pg *c, const acs_store_batch_opts *opts, acs_store_batch **out);
/* Queues an item. key orders items inside a transaction (copied; may be
 * NULL). With ACS_PG_FAILFAST: ACS_EUNAVAILABLE at once when the connection
 * is down. done is called exactly once, never from inside this call. */
int acs_store_batch_submit(acs_store_batch *b, const char *key, unsigned flags,
                           acs_store_build_fn build, acs_store_done_cb done, void *arg);
/* --- set-based statements shared by the items of one transaction
 *
 * Instead of (or besides) queueing statements of its own, an item's build
 * function can join a set statement: one statement per transaction for all
 * the items that join it, sent after every item's own statements, so that
 * a hundred sessions cost one statement to parse and plan, not a hundred.
 * Its parameters are text-array literals, one per column, the columns of
 * group 0 first, then those of group 1, and so on. Group 0 has exactly one
 * row per item that joins (acs_store_batch_set_item); the other groups any
 * number of rows (acs_store_batch_set_row), which the SQL relates to their
 * item by a column of its own (a device id, say). Items join in key order.
 * The statement's result rows begin with an int column: the 1-based
 * position of an item's group-0 row; each row is passed, in the result's
 * order, to that item's row callback. Like a build function, a row
 * callback may see an attempt that is then rolled back. */
#define ACS_STORE_SET_GROUPS 4
typedef struct acs_store_set_def {
  const char *sql;
  int ngroups;                       /* 1..ACS_STORE_SET_GROUPS */
  int ncols[ACS_STORE_SET_GROUPS];   /* columns of each group */
  bool unique_key;                   /* at most one item per key in a statement */
} acs_store_set_def;
typedef void (*acs_store_row_fn)(const acs_pg_result *r, int row, void *arg);

/* From inside one of b's build functions: the item being built joins def's
 * statement with one group-0 row (ncols[0] values, NULL for SQL NULL); its
 * result rows go to fn(arg) (fn may be NULL). Returns 0, ACS_ENOMEM, or, for
 * a unique_key def that an item of the same key has joined already in this
 * transaction, ACS_EAGAIN: the build function returns it, and its item
 * waits for the next transaction (not a failure). ACS_ESTATE outside a
 * build. */
int acs_store_batch_set_item(acs_store_batch *b, const acs_store_set_def *def,
                             const char *const *values, acs_store_row_fn fn, void *arg);
/* A row of group (1..ngroups-1) of the statement the item being built has
 * joined; values: ncols[group] of them. */
int acs_store_batch_set_row(acs_store_batch *b, const acs_store_set_def *def, int group,
                            const char *const *values);

/* Items waiting plus items in the transaction in flight. */
size_t acs_store_batch_depth(const acs_store_batch *b);
/* How long the oldest item not yet sent has waited (0 when none waits):
 * with group commit a slow store shows here first, as a growing queue of
 * items each of whose transactions commits quickly. */
uint64_t acs_store_batch_wait_us(const acs_store_batch *b);
/* Transactions committed / sent since creation (for tests and metrics). */
typedef struct acs_store_batch_stats {
  unsigned long long transactions, items, splits, failed_items;
  unsigned long long set_statements, set_items; /* set statements sent, items that joined them */
} acs_store_batch_stats;
void acs_store_batch_get_stats(const acs_store_batch *b, acs_store_batch_stats *st);
/* Frees the batcher. Items not started yet fail with ACS_ECANCELED (from the
 * loop); a transaction in flight completes (or is cancelled by
 * acs_pg_close) and its items are told. Call before acs_pg_close's callback
 * finishes; the batcher is gone when the last item is told. */
void acs_store_batch_free(acs_store_batch *b);

#endif
