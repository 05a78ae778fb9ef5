/* acs_bulk.h: the bulk-action runner (bulk_run.c) behind POST /api/v1/bulk
 * (docs/api.md, "Bulk actions"; docs/architecture.md, "bulk actions").
 *
 * Worker 0 of each instance runs one; the instance holding the lease
 * "bulk-actions" in job_leases expands every running bulk action into
 * tasks, one per matching device, at its rate and inside its window, by the
 * engine's clock (acs_policy_now_ms). The runner has its own store
 * connection, so that an expansion statement never waits in the pipeline of
 * the worker's CWMP sessions. */
#ifndef ACS_BULK_H
#define ACS_BULK_H

#include "app/acs_app.h"

/* Starts the runner on aw's loop (aw has a store). 0 or an error. */
int acs_bulk_runner_start(acs_app_worker *aw, acs_bulk_runner **out);
/* Stops it: no statement is sent after this; it frees itself once its
 * timer and its store connection have closed. NULL is allowed. */
void acs_bulk_runner_stop(acs_bulk_runner *b);

/* Called by the runner for each task it made for a bulk action with
 * "connection_request": true, right after the task committed, on the
 * runner's loop (worker 0's): asks the device to connect (engine/connreq),
 * without waiting; the outcome goes to the task's result.connection_request. */
void acs_bulk_connection_request(acs_app_worker *aw, long long bulk_id, long long task_id,
                                 const char *device_id);
/* Calls of acs_bulk_connection_request() whose request could not be queued
 * (the worker stopping, no memory), in this process. */
unsigned long long acs_bulk_connreq_not_sent(void);

#endif
