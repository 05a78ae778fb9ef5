/* acs_coord.h: coordination between acsd instances through Redis (hiredis
 * 0.14 and its libuv adapter): per-device session locks with fencing
 * tokens, and signals (pub/sub). Optional: without a Redis configured
 * there is no acs_coord and one instance works alone.
 *
 * Connections. Each worker has its own command connection on its own loop
 * (locks, their refreshes and releases, PUBLISH): a session and its lock
 * live on the device's owner worker, so lock traffic never crosses threads,
 * and one worker's slow reply never holds another's. Worker 0 (the lead)
 * also holds the instance's subscriber connection (SUBSCRIBE on the signal
 * channel) and, with sentinels, a connection subscribed to a sentinel's
 * +switch-master. docs/architecture.md, "Several instances", says why.
 *
 * Finding the master. With `redis` it is that address. With
 * `redis-sentinels`, every (re)connection asks the sentinels in turn
 * (SENTINEL get-master-addr-by-name) and connects to the answer; a master
 * that answers ROLE with anything but "master", a READONLY reply, or a
 * +switch-master message makes every worker drop its connection and ask
 * again. A connection whose oldest command waits more than a second and a
 * half for its reply is dropped (a frozen or partitioned Redis).
 *
 * Threading: an acs_coord_worker belongs to its loop; acs_coord_new/free run
 * before the workers start and after they stopped; acs_coord_failover may be
 * called from any thread. */
#ifndef ACS_COORD_H
#define ACS_COORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

typedef struct acs_coord acs_coord;
typedef struct acs_coord_worker acs_coord_worker;

typedef struct acs_coord_opts {
  const char *redis;       /* "HOST:PORT" of the master, or NULL */
  const char *sentinels;   /* "HOST:PORT[,HOST:PORT...]", or NULL (one of the two) */
  const char *master_name; /* the sentinels' name of the master */
  const char *password;    /* AUTH, or NULL */
  uint32_t lock_ms;        /* a lock's expiry */
  const char *instance_id; /* in lock values and signals */
} acs_coord_opts;

/* A signal from another instance (or this one), on the lead worker's loop:
 * the publisher's instance id, kind and payload as published. */
typedef void (*acs_coord_signal_cb)(const char *from, const char *kind, const char *payload,
                                    void *arg);

/* Checks the options (addresses, a name) and makes the instance's context.
 * Returns 0, ACS_ECONFIG (message in err) or ACS_ENOMEM. */
int acs_coord_new(const acs_coord_opts *o, acs_coord_signal_cb on_signal, void *arg,
                  acs_coord **out, char *err, size_t errlen);
void acs_coord_free(acs_coord *c);
uint32_t acs_coord_lock_ms(const acs_coord *c);

/* A worker's connections on loop (lead: worker 0). Connecting starts at
 * once and goes on in the background. */
int acs_coord_worker_start(acs_coord *c, uv_loop_t *loop, unsigned index, acs_coord_worker **out);
/* Closes its connections (commands in flight are told ACS_ECANCELED) and
 * frees it once its handles are closed. */
void acs_coord_worker_stop(acs_coord_worker *w);
/* Is its command connection up (a master that said so)? */
bool acs_coord_worker_up(const acs_coord_worker *w);

/* Every worker drops its connections and finds the master again (a
 * +switch-master; tests). Any thread. */
void acs_coord_failover(acs_coord *c);

/* --- session locks: key acsd:lock:{device id}, value "TOKEN INSTANCE",
 * expiry lock_ms. The token comes from INCR acsd:fence, raised to Redis's
 * clock in microseconds when below it, so that it keeps growing across a
 * failover that lost the last increments (docs/architecture.md). */

/* status: 0 (acquired: *token, or extended/released), ACS_EAGAIN (held by
 * another session: for acquire; for extend, the lock was lost), ACS_ECOORD
 * (no connection, or it failed), ACS_ECANCELED (the worker stopped). */
typedef void (*acs_coord_lock_cb)(int status, int64_t token, void *arg);

/* Returns 0 (cb runs later, exactly once) or ACS_ECOORD (not connected: cb
 * never runs) / ACS_ENOMEM. */
int acs_coord_lock(acs_coord_worker *w, const char *device_id, acs_coord_lock_cb cb, void *arg);
int acs_coord_lock_extend(acs_coord_worker *w, const char *device_id, int64_t token,
                          acs_coord_lock_cb cb, void *arg);
/* Compare-and-delete; fire and forget (an expired lock needs nothing). */
void acs_coord_unlock(acs_coord_worker *w, const char *device_id, int64_t token);

/* --- signals: PUBLISH on acsd:signal "INSTANCE KIND PAYLOAD". Fire and
 * forget: a lost signal costs latency only, never correctness (the store
 * is polled). */
int acs_coord_publish(acs_coord_worker *w, const char *kind, const char *payload);

/* Counters for metrics and tests (any thread, relaxed). */
typedef struct acs_coord_stats {
  uint64_t connects, disconnects, failovers, locks, lock_busy, lock_lost, signals_in, fenced;
  unsigned workers, workers_up; /* command connections: started, up */
} acs_coord_stats;
void acs_coord_get_stats(const acs_coord *c, acs_coord_stats *out);
/* A session write the store refused (stale token): counted here. */
void acs_coord_count_fenced(acs_coord *c);
/* A session found its lock expired before it answered (acsd_session_locks_lost_total). */
void acs_coord_count_lock_lost(acs_coord *c);

#endif
