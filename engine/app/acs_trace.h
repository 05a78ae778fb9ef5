/* acs_trace.h: wire traces of chosen devices (docs/operations.md, "Wire
 * traces"). An operator asks for one through the API (engine/api/
 * traces.c: rows of device_traces, migration 16); worker 0 of each
 * instance reads the active ones every second into a process-wide set,
 * and a session of a device in the set writes each HTTP request and answer
 * (head and body, secrets masked: core/acs_trace_mask.h) to trace_records,
 * at most the trace's max_bytes per device (the oldest records go first).
 *
 * Cheap when off: a session asks acs_trace_wanted() once, at its Inform;
 * with no trace anywhere that is one atomic load. */
#ifndef ACS_TRACE_H
#define ACS_TRACE_H

#include <stdbool.h>
#include <stddef.h>

#include "app/acs_app.h"
#include "http/acs_http.h"

/* Bounds (checked by the API when a trace is asked for). */
#define ACS_TRACE_MINUTES_MAX 1440              /* a day */
#define ACS_TRACE_BYTES_DEFAULT (1024 * 1024)   /* per device */
#define ACS_TRACE_BYTES_MAX (4 * 1024 * 1024)   /* per device */
#define ACS_TRACE_TOTAL_MAX (256 * 1024 * 1024) /* all traces' max_bytes together */
#define ACS_TRACE_DEVICES_MAX 1000              /* traces at once (a query's included) */
#define ACS_TRACE_RECORD_MAX (64 * 1024)        /* one record's body, then truncated */
#define ACS_TRACE_POLL_MS 1000

typedef struct acs_trace_poller acs_trace_poller;

/* Worker 0 (with a store): at start, drops the traces not asked to persist
 * (a restart ends them), then reads the active ones every
 * ACS_TRACE_POLL_MS. */
int acs_trace_poller_start(acs_app_worker *aw, acs_trace_poller **out);
void acs_trace_poller_stop(acs_trace_poller *p);

/* Is the device traced now (by what the last poll read)? */
bool acs_trace_wanted(const char *device_id);

/* Writes one record of a traced device's session on aw's store connection
 * (not waited for). in: a request from the CPE (req), else an answer
 * (status, content type, body). */
void acs_trace_request(acs_app_worker *aw, const char *device_id, const char *session,
                       const acs_http_request *req);
void acs_trace_response(acs_app_worker *aw, const char *device_id, const char *session, int status,
                        const char *content_type, const char *body, size_t len);

#endif
