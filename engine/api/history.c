/* history.c: GET /api/v1/devices/{id}/history (docs/api.md, "Device
 * history"): a device's sessions, newest first, derived from the rows its
 * sessions already write, so that the session's hot path writes nothing
 * more for it:
 *
 * - a session is an Inform: the events rows without a payload that share
 *   one received_at (the Inform's transaction time; events_device serves
 *   the page in index order);
 * - it lasts until the device's next Inform: in that window are the tasks
 *   sent (sent_at; or, never sent, done: expired ones, and done ones whose
 *   sent_at was not kept), with their status and outcome, the reports the
 *   CPE sent (events rows with a payload: TransferComplete and the like)
 *   and the policy faults whose last occurrence falls in it;
 * - last_activity_at is the latest of those times, duration_ms the time
 *   from the Inform to it: a lower bound of the session's length (an RPC
 *   the policies sent that left no row, the final empty POST, are not
 *   recorded).
 *
 * What it cannot show (no row records it; a sessions record written off the
 * hot path would): the session's end and its outcome (204, timed out,
 * superseded, 503), the RPCs the policies' declarations sent (GPV/SPV/...),
 * which are no tasks, and faults before a channel's latest one. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_internal.h"
#include "api/query.h"
#include "core/acs_err.h"

/* clang-format off */
#define WINDOW(col) "(" col " >= w.at AND (w.until IS NULL OR " col " < w.until))"
#define T(col) ACS__SQL_TIME(col)
/* clang-format on */

/* $1 the device, $2 the page size + 1, $3 (optional) the cursor: the
 * session's received_at in microseconds since the epoch. */
static const char sql_page_head[] =
    "WITH s AS (SELECT received_at AS at, json_agg(json_build_object('code', code, "
    "'command_key', command_key) ORDER BY id) AS events FROM events "
    "WHERE device_id = $1 AND payload IS NULL";
static const char sql_page_cursor[] =
    " AND received_at < 'epoch'::timestamptz + $3::bigint * interval '1 microsecond'";
static const char sql_page_tail[] =
    " GROUP BY received_at ORDER BY received_at DESC LIMIT $2::int), "
    /* each session's window ends at the next (newer) Inform */
    "w AS (SELECT at, events, coalesce(lag(at) OVER (ORDER BY at DESC), (SELECT min(received_at) "
    "FROM events WHERE device_id = $1 AND payload IS NULL AND received_at > (SELECT max(at) "
    "FROM s))) AS until FROM s), "
    /* the device's tasks of the page's span, read once */
    "t AS (SELECT * FROM tasks WHERE device_id = $1 AND coalesce(sent_at, done_at) >= (SELECT "
    "min(at) FROM s) AND (sent_at IS NOT NULL OR status NOT IN ('cancelled', 'pending', 'sent'))), "
    "x AS (SELECT w.*, "
    "(SELECT json_agg(json_build_object('id', t.id, 'rpc', t.rpc, 'status', t.status, "
    "'command_key', t.command_key, 'created_by', t.created_by, "
    "'sent_at', " T("t.sent_at") ", 'done_at', " T("t.done_at") ", "
    "'fault_code', t.fault_code, 'fault_string', t.fault_string) ORDER BY t.id) "
    "FROM t WHERE " WINDOW("coalesce(t.sent_at, t.done_at)") ") AS rpcs, "
    "(SELECT max(greatest(t.sent_at, CASE WHEN w.until IS NULL OR t.done_at < w.until THEN "
    "t.done_at END)) FROM t WHERE " WINDOW("coalesce(t.sent_at, t.done_at)") ") AS t_last, "
    "(SELECT json_agg(json_build_object('code', e.code, 'command_key', e.command_key, "
    "'received_at', " T("e.received_at") ", 'payload', e.payload) ORDER BY e.id) FROM events e "
    "WHERE e.device_id = $1 AND e.payload IS NOT NULL AND " WINDOW("e.received_at") ") AS reports, "
    "(SELECT max(e.received_at) FROM events e WHERE e.device_id = $1 AND e.payload IS NOT NULL "
    "AND " WINDOW("e.received_at") ") AS e_last, "
    "(SELECT json_agg(json_build_object('channel', f.channel, 'code', f.code, 'message', "
    "f.message, 'retries', f.retries, 'at', " T("f.last_at") ") ORDER BY f.channel) FROM faults f "
    "WHERE f.device_id = $1 AND " WINDOW("f.last_at") ") AS faults, "
    "(SELECT max(f.last_at) FROM faults f WHERE f.device_id = $1 AND " WINDOW("f.last_at") ") "
    "AS f_last FROM w) "
    "SELECT (extract(epoch FROM at) * 1000000)::bigint, " T("at") ", events::text, "
    "coalesce(rpcs, '[]')::text, coalesce(reports, '[]')::text, coalesce(faults, '[]')::text, "
    T("greatest(t_last, e_last, f_last)") ", "
    "(extract(epoch FROM greatest(t_last, e_last, f_last) - at) * 1000)::bigint "
    "FROM x ORDER BY at DESC";

static const char sql_count[] =
    "SELECT EXISTS (SELECT 1 FROM devices WHERE id = $1) OR EXISTS (SELECT 1 FROM events WHERE "
    "device_id = $1), (SELECT count(DISTINCT received_at) FROM events WHERE device_id = $1 AND "
    "payload IS NULL)";

static const acs__col cols[] = {
    {"cursor", ACS__COL_SKIP},        {"at", ACS__COL_STR},
    {"events", ACS__COL_JSON},        {"rpcs", ACS__COL_JSON},
    {"reports", ACS__COL_JSON},       {"faults", ACS__COL_JSON},
    {"last_activity_at", ACS__COL_STR}, {"duration_ms", ACS__COL_INT},
};

static json_t *session_row(const acs_pg_result *res, int i) {
  return acs__api_row_object(res, i, 0, cols, sizeof cols / sizeof cols[0]);
}

static void page_cb(acs_pg_result *res, void *arg) {
  acs__api_req *r = arg;
  if (acs__api_stmt_ok(r, res)) acs__api_page(r, res, session_row, 'h', 0);
  acs__api_stmt_done(r);
}

void acs__api_device_history(acs__api_req *r) {
  if (!acs__api_list_params(r, 'h') || !acs__api_cursor_is_id(r)) return;
  char lim[16];
  snprintf(lim, sizeof lim, "%d", r->limit + 1);
  acs_buf sql;
  acs_buf_init(&sql);
  acs_buf_puts(&sql, sql_page_head);
  if (r->cursor) acs_buf_puts(&sql, sql_page_cursor);
  acs_buf_puts(&sql, sql_page_tail);
  if (acs_buf_err(&sql)) {
    acs_buf_free(&sql);
    acs__api_error(r, 500, "out of memory");
    return;
  }
  acs__api_step(r, acs__api_device_list_done);
  if (acs__api_begin(r) == 0) {
    const char *p[3] = {r->device_id, lim, r->cursor};
    acs__api_query(r, sql.data, r->cursor ? 3 : 2, p, page_cb);
    acs__api_query(r, sql_count, 1, p, acs__api_device_count_cb);
    acs__api_sync(r);
  }
  acs_buf_free(&sql);
  acs__api_step_queued(r);
}
