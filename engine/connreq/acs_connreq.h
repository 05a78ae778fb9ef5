/* acs_connreq.h: connection requests over HTTP (TR-069 3.2.2): the ACS asks
 * a CPE to open a session with a GET to its ConnectionRequestURL,
 * authenticated with HTTP Digest (MD5 or MD5-sess, qop auth, or RFC 2069
 * without qop) or Basic, as the CPE's 401 asks. The CPE answers 200 or 204
 * and then informs with "6 CONNECTION REQUEST"; 503 means it is rate
 * limiting.
 *
 * One pool per worker loop caps the requests in flight (the rest wait in
 * order). Each request is bounded by its timeout, covering name resolution,
 * both round trips and the answers. Nothing blocks the loop: host names are
 * resolved with uv_getaddrinfo. Threading: a pool belongs to its loop. */
#ifndef ACS_CONNREQ_H
#define ACS_CONNREQ_H

#include <stdbool.h>
#include <uv.h>

typedef struct acs_connreq_pool acs_connreq_pool;

typedef struct acs_connreq_result {
  int status;       /* 0: the CPE accepted (200/204); else an ACS_E* / negated errno */
  int http_status;  /* the CPE's last HTTP status, 0 when none came */
  unsigned rounds;  /* HTTP requests made (2 with an authentication challenge) */
  char detail[256]; /* what happened, for the task record and logs */
} acs_connreq_result;

typedef void (*acs_connreq_cb)(const acs_connreq_result *r, void *arg);

int acs_connreq_pool_new(uv_loop_t *loop, unsigned max_in_flight, acs_connreq_pool **out);
/* Requests queued or in flight end with ACS_ECANCELED: those that never
 * started are told inside this call, those in flight once their handles
 * have closed (from the loop); the pool is freed after the last. */
void acs_connreq_pool_close(acs_connreq_pool *p);

/* Queues a connection request. url must be http://HOST[:PORT][/PATH] (HOST a
 * name, an IPv4 address or [IPv6]); user/pass may be NULL (no credentials:
 * a 401 then fails the request). cb runs exactly once, from the loop, never
 * from inside this call. Returns 0, ACS_EINVAL (bad URL), ACS_ESTATE
 * (closing) or ACS_ENOMEM. */
int acs_connreq_send(acs_connreq_pool *p, const char *url, const char *user, const char *pass,
                     unsigned timeout_ms, acs_connreq_cb cb, void *arg);

/* Requests in flight / waiting. */
unsigned acs_connreq_in_flight(const acs_connreq_pool *p);
unsigned acs_connreq_waiting(const acs_connreq_pool *p);

#endif
