/* acs_session.h: CWMP sessions, the state machine of TR-069 on top of the
 * codec, the store and the workers.
 *
 *   Inform -> InformResponse -> CPE requests -> empty POST -> ACS RPCs,
 *   one per HTTP response -> 204
 *
 * A device belongs to one worker (owner = hash(device id) mod workers); a
 * request that lands elsewhere is handed to the owner with the bytes
 * already read. Session state lives on the owner, found again by the
 * session cookie (which names instance and worker) or by the TCP
 * connection. An Inform's device identity, parameters and events are
 * durable (group commit) before its InformResponse goes out; queued tasks
 * are read in the same transaction and sent after the CPE's empty POST. A
 * newer Inform from a device in session supersedes the old session.
 * Admission control answers 503 with Retry-After past max-sessions or while
 * the store is down or slow. */
#ifndef ACS_SESSION_H
#define ACS_SESSION_H

#include "app/acs_app.h"

/* Per-worker session table: made by the worker's start hook, stopped by its
 * stop hook (sessions still open are dropped, their timers closed). */
int acs_session_table_new(acs_app_worker *aw, acs_session_table **out);
void acs_session_table_stop(acs_session_table *t);

/* Sessions open on this worker. */
size_t acs_session_table_count(const acs_session_table *t);

/* The CWMP listener's request handler; ctx is the acs_app. */
void acs_session_handle(acs_conn *c, const acs_http_request *req, void *ctx);

/* A task was queued for device_id (on this instance or another: the Redis
 * signal "queued", app_coord.c): if the device is in session on one of
 * app's workers, that session reads its new tasks before it ends, instead
 * of leaving them to the next session. Any thread. */
void acs_session_task_queued(const acs_app *app, const char *device_id);

/* Owner worker of a device id among n workers (FNV-1a of the id, mod n). */
unsigned acs_session_owner(const char *device_id, unsigned n);

#endif
