/* acs_connreq_device.h: a connection request to a device by its id, as the
 * task API (POST .../tasks?connection_request=true) and bulk actions send
 * them: the URL and the credentials come from the store, the outcome is
 * recorded on the task it was sent for.
 *
 * Credentials (DESIGN.md's contract): the device's device_secrets rows
 * named <root>.ManagementServer.ConnectionRequestUsername and ...Password
 * (root Device or InternetGatewayDevice), opened with the app's secret key
 * (core/acs_secret.h, AAD device id + "\n" + name); else the username
 * parameter's stored value (or the config's connreq_username) and the
 * config's connreq_password. A stored secret that does not open (another
 * key, no key loaded, altered) fails the request rather than sending other
 * credentials.
 *
 * Transports (docs/security.md ("Connection requests")): HTTP to the ConnectionRequestURL,
 * then UDP (Annex G: to the address the device's STUN binding requests
 * showed, table connreq_udp, else its UDPConnectionRequestAddress; sent from
 * acsd's STUN port, so only with --stun), each tried when the one before
 * failed, then XMPP (Annex K: an IQ to the device's ConnReqJabberID, with
 * --xmpp-jid). HTTP is skipped for a device that reports NATDetected true
 * and has a UDP address. UDP carries no answer: sent counts as accepted.
 *
 * One request per device at a time, cluster-wide: an in-process set, then a
 * row in connreq_claims (inserted, or taken over once expired) held while
 * the request is in flight. An ask that finds one in flight is "coalesced":
 * not sent again; the session the first brings runs its task too.
 *
 * The outcome goes into the task's result as
 *   "connection_request": {"status": "accepted"|"failed"|"coalesced",
 *                          "transport": "http"|"udp"|"xmpp"|null,
 *                          "http_status": N|null, "detail": "...", "at": "RFC 3339"}
 * (merged: the RPC's own result, written by the session, keeps it).
 *
 * One acs_connreq_worker per worker (made by the app's worker start hook),
 * with one connection-request pool (connreq_max_in_flight in flight, the
 * rest wait) and connreq_timeout_ms per request.
 *
 * Threading: a worker's own loop only. */
#ifndef ACS_CONNREQ_DEVICE_H
#define ACS_CONNREQ_DEVICE_H

#include <stdbool.h>

#include "app/acs_app.h"

#define ACS_CONNREQ_TRANSPORTS 3
typedef enum acs_connreq_transport {
  ACS_CONNREQ_HTTP = 1,
  ACS_CONNREQ_UDP,
  ACS_CONNREQ_XMPP
} acs_connreq_transport;

typedef struct acs_connreq_outcome {
  int status;       /* 0: the CPE accepted (or coalesced); else why not (below) */
  int transport;    /* acs_connreq_transport of the last one tried; 0: none */
  bool coalesced;   /* another request to the device was in flight: not sent */
  int http_status;  /* the CPE's last HTTP status, 0 when none came */
  char detail[256]; /* for people: what happened */
  bool sent;        /* the request has ended (false: the wait ended first) */
  bool recorded;    /* written to the task's result.connection_request */
  bool final;       /* with a wait: the task reached a final state within it */
} acs_connreq_outcome;
/* status: 0; ACS_ENOTFOUND (no such device, or no ConnectionRequestURL
 * known), ACS_EINVAL (a bad URL, credentials refused, a stored secret that
 * does not open), ACS_ETIMEOUT, ACS_EUNAVAILABLE (the CPE answered 503, or
 * the store is down), ACS_EHTTP, a negated errno from the network
 * (UV_ECONNREFUSED, ...), ACS_ECANCELED (acsd is stopping). */

typedef void (*acs_connreq_device_cb)(const acs_connreq_outcome *o, void *arg);

/* The worker's state: made by the start hook, stopped by the stop hook
 * (before the store connection closes). Stopping cancels what is queued or
 * in flight (their callbacks get ACS_ECANCELED) and frees the rest once the
 * last request has ended. */
int acs_connreq_worker_start(acs_app_worker *aw);
void acs_connreq_worker_stop(acs_app_worker *aw);

/* Sends a connection request to device_id for task_id (0: none; nothing is
 * recorded) on aw's worker. With wait_ms > 0 it then polls the task (a
 * primary-key read, every 100 ms growing to 500 ms: the session that runs
 * it may be on another worker or instance) until it leaves pending/sent or
 * wait_ms has passed since this call; the request's own timeout is then at
 * most what is left of wait_ms. cb (may be NULL) runs exactly once, from
 * the loop, never inside this call: at once when the request fails, else
 * after the wait (o->final tells whether the task got there). A request
 * that outlives the wait (waiting for a free slot in the pool) still ends
 * and is recorded after cb. Returns 0, ACS_ESTATE (no store, or the worker
 * is stopping) or ACS_ENOMEM. */
int acs_connreq_device(acs_app_worker *aw, const char *device_id, long long task_id,
                       unsigned wait_ms, acs_connreq_device_cb cb, void *arg);

/* The XMPP client's state for the health report: "disabled" (no
 * --xmpp-jid), "connected" or "disconnected". Any thread. */
const char *acs_connreq_xmpp_state(const acs_config *cfg);

/* task_id was settled (by a session of this instance or another: the Redis
 * signal "task", app_coord.c): the waits of app for it poll at once rather
 * than at their next poll. Any thread; polling stays the fallback. */
void acs_connreq_task_changed(const acs_app *app, long long task_id);

#endif
