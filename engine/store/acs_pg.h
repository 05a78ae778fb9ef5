/* acs_pg.h: one asynchronous PostgreSQL connection on a libuv loop.
 *
 * Nothing here blocks the loop: the connection is made with
 * PQconnectStartParams/PQconnectPoll (give "hostaddr=" in the DSN: a "host="
 * name is resolved by libpq with blocking DNS), the socket is non-blocking and
 * watched with a uv_poll_t, and statements are sent in pipeline mode
 * (libpq >= 14) and answered in order.
 *
 * Statements and transactions. Statements use the extended protocol with an
 * unnamed statement, text parameters and text results (binary ones when
 * asked: acs_pg_query_bin), no named prepared statements and no session
 * state: works through PgBouncer in transaction pooling mode. A statement
 * queued on its own by acs_pg_query() is its own transaction, and its
 * callback runs once that transaction has committed (or failed: a
 * commit-time error is reported as the statement's).
 *
 * Between acs_pg_begin_batch() and acs_pg_sync(), statements form a "sync
 * group" that PostgreSQL runs as one implicit transaction: an error aborts
 * the rest of the group (those statements report ACS_EABORTED with the first
 * error's message and SQLSTATE) and rolls back the whole group; the sync's
 * callback reports the outcome of the transaction (0, or the first error).
 * Statements of a group are told as their results arrive: a statement's own
 * success is final only once its group's sync reports 0. A group must be
 * opened and synced within one callback (without returning to the loop):
 * every acs_pg_query() in between joins it.
 *
 * Outages. While the connection is down, acs_pg_query() with ACS_PG_FAILFAST
 * returns ACS_EUNAVAILABLE at once (admission control answers 503); without
 * it the statement waits for the next connection attempt and fails with
 * ACS_EUNAVAILABLE if that attempt fails. When an established connection
 * drops, every statement in flight or queued fails with ACS_EUNAVAILABLE, and
 * the connection is re-made with back-off (backoff_min_ms doubling up to
 * backoff_max_ms), so service resumes within about backoff_max_ms of
 * PostgreSQL's return.
 *
 * Callbacks are called exactly once each, always from the loop (never from
 * inside the call that queued the statement). A function that returns an
 * error does not call its callback. The result is freed after the callback
 * returns; copy what you keep.
 *
 * Pipelining and poolers. Sync groups are pipelined: the next one is sent
 * before the previous one is answered. A transaction pooler older than
 * PgBouncer 1.21 hands the server connection to another client at the first
 * ReadyForQuery even when more of this client's transactions are on the way,
 * and a message cut in half then reaches another backend ("invalid frontend
 * message type"). So the pipeline depth follows opts.pipeline: ON sends
 * groups without waiting, OFF keeps one group in flight at a time, and AUTO
 * (the default) asks the server for its port after each connection (one
 * statement, before anything else) and pipelines only when it is the port
 * that was dialled: a different one means a pooler or proxy in between.
 *
 * Threading: a connection belongs to its loop's thread; nothing here is
 * thread-safe. */
#ifndef ACS_PG_H
#define ACS_PG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "core/acs_buf.h"

typedef struct acs_pg acs_pg;

/* A statement's (or a sync's) outcome. status is 0 or:
 *   ACS_EPG           the server reported an error (error, sqlstate set)
 *   ACS_EABORTED      not run: an earlier statement of the group failed
 *                     (error and sqlstate are that statement's)
 *   ACS_EUNAVAILABLE  the connection is down or dropped before the answer
 *   ACS_ECANCELED     acs_pg_close() was called, or the group was aborted */
typedef struct acs_pg_result {
  int status;
  const char *error;    /* primary message, never NULL when status != 0 */
  const char *detail;   /* server DETAIL, or NULL */
  const char *sqlstate; /* five characters for server errors, else "" */
  int ntuples;          /* rows returned (0 for commands and errors) */
  int nfields;
  /* A sync's ACS_EPG: 0-based position in its group of the statement that
   * failed, or -1 when the implicit COMMIT itself failed (a deferred
   * constraint, a serialization failure). -1 otherwise. */
  int failed_index;
  struct pg_result *pg_; /* libpq's PGresult, NULL for local errors */
} acs_pg_result;

typedef void (*acs_pg_cb)(acs_pg_result *r, void *arg);

/* Flags of acs_pg_query() and acs_pg_begin_batch(). */
enum {
  ACS_PG_FAILFAST = 1u << 0,      /* connection down: return ACS_EUNAVAILABLE now */
  ACS_PG_BINARY_RESULT = 1u << 1, /* acs_pg_query_bin: every column in binary */
};

/* acs_pg_opts.pipeline (see "Pipelining and poolers" above). */
typedef enum { ACS_PG_PIPELINE_AUTO = 0, ACS_PG_PIPELINE_ON, ACS_PG_PIPELINE_OFF } acs_pg_pipeline;

typedef struct acs_pg_opts {
  acs_pg_pipeline pipeline;    /* AUTO */
  unsigned backoff_min_ms;     /* first retry after a failure (100) */
  unsigned backoff_max_ms;     /* retry interval cap (1000) */
  unsigned connect_timeout_ms; /* one connection attempt (2000) */
  const char *name;            /* for logs ("pg") */
} acs_pg_opts;

void acs_pg_opts_defaults(acs_pg_opts *o);
/* "auto", "on" or "off" (NULL: auto); ACS_EINVAL for anything else. */
int acs_pg_pipeline_parse(const char *s, acs_pg_pipeline *out);

/* Checks the DSN (key=value or URI) synchronously (ACS_EINVAL if it does not
 * parse), then starts connecting on loop. opts may be NULL (defaults). */
int acs_pg_open(uv_loop_t *loop, const char *dsn, const acs_pg_opts *opts, acs_pg **out);

/* Closes the connection and its handles. Statements still queued or in
 * flight get ACS_ECANCELED; then cb(arg) runs (may be NULL) and the
 * connection is freed. Returns ACS_ESTATE if already closing. */
int acs_pg_close(acs_pg *c, void (*cb)(void *arg), void *arg);

/* Queues one statement (copied: sql and params may be freed on return).
 * params are text values, NULL for SQL NULL; nparams <= 65535. cb may be
 * NULL. Returns 0, ACS_EUNAVAILABLE (FAILFAST and down), ACS_ESTATE
 * (closing), ACS_EINVAL or ACS_ENOMEM. */
int acs_pg_query(acs_pg *c, const char *sql, int nparams, const char *const *params, unsigned flags,
                 acs_pg_cb cb, void *arg);

/* As acs_pg_query, with binary parameters: lengths[i] >= 0 sends params[i]
 * as a binary value of that many bytes (a bytea's bytes, unescaped), -1 as
 * text (NUL-terminated, as above); lengths may be NULL (all text). With
 * ACS_PG_BINARY_RESULT in flags every result column comes in binary (a
 * bytea column reads as its bytes: use acs_pg_getlength()). */
int acs_pg_query_bin(acs_pg *c, const char *sql, int nparams, const char *const *params,
                     const int *lengths, unsigned flags, acs_pg_cb cb, void *arg);

/* Opens a sync group (see above). With ACS_PG_FAILFAST, returns
 * ACS_EUNAVAILABLE when the connection is down. ACS_ESTATE if a group is
 * already open or the connection is closing. */
int acs_pg_begin_batch(acs_pg *c, unsigned flags);
/* Closes the open group; cb (may be NULL) gets the transaction's outcome.
 * ACS_ESTATE if no group is open. On ACS_ENOMEM the group stays open. */
int acs_pg_sync(acs_pg *c, acs_pg_cb cb, void *arg);
/* Drops the open group unsent: its statements get ACS_ECANCELED. */
void acs_pg_abort_batch(acs_pg *c);
bool acs_pg_in_batch(const acs_pg *c);

/* The loop the connection runs on. */
uv_loop_t *acs_pg_loop(const acs_pg *c);

/* Health, for admission control and metrics. */
bool acs_pg_is_up(const acs_pg *c);
/* EWMA (1/8) of the time from sending a sync to its answer, queueing in
 * the pipeline included; 0 before the first. */
uint64_t acs_pg_latency_us(const acs_pg *c);
/* Age of the oldest statement or sync sent and not answered yet (0 if none):
 * a stalled server shows here long before it shows in the EWMA. */
uint64_t acs_pg_stall_us(const acs_pg *c);
/* Statements queued, in an open group, or in flight. */
size_t acs_pg_queue_depth(const acs_pg *c);

typedef struct acs_pg_stats {
  bool up;
  uint64_t latency_us, stall_us;
  size_t queued;       /* not sent yet (open group included) */
  size_t inflight;     /* sent, waiting for results */
  uint64_t statements; /* sent since open */
  uint64_t errors;     /* statements answered with ACS_EPG */
  uint64_t connects;   /* successful connections */
  uint64_t drops;      /* established connections lost */
  bool pipelined;      /* sync groups go out without waiting for the last */
} acs_pg_stats;
void acs_pg_get_stats(const acs_pg *c, acs_pg_stats *st);

/* Result accessors (row and col in range; see libpq's PQgetvalue). A NULL
 * value reads as "" : test acs_pg_isnull(). */
const char *acs_pg_getvalue(const acs_pg_result *r, int row, int col);
int acs_pg_getlength(const acs_pg_result *r, int row, int col);
bool acs_pg_isnull(const acs_pg_result *r, int row, int col);
const char *acs_pg_fname(const acs_pg_result *r, int col);
/* Column number of a name, or -1. */
int acs_pg_fnumber(const acs_pg_result *r, const char *name);
/* Rows affected by INSERT/UPDATE/DELETE (PQcmdTuples), 0 otherwise. */
long long acs_pg_cmd_tuples(const acs_pg_result *r);

/* Appends a PostgreSQL array literal of text ("{"a","b\"c",NULL}") built
 * from n C strings (NULL items become SQL NULL elements), for a text
 * parameter cast to text[] ($1::text[]). Every element is quoted and '"' and
 * '\' escaped, so any string round-trips. Failure shows in acs_buf_err(). */
void acs_pg_array_append(acs_buf *b, const char *const *items, size_t n);
/* One element of such a literal (quoted, or NULL), for callers that write
 * the braces and commas themselves. */
void acs_pg_array_elem(acs_buf *b, const char *s);

#endif
