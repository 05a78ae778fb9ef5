/* connreq_internal.h: what the files of engine/connreq share.
 *
 *   connreq.c      HTTP connection requests (acs_connreq.h)
 *   device.c       a connection request to a device by id: transports in
 *                  turn, de-duplication, the task's record
 *   dedup.c        the in-process set of devices with a request in flight
 *   stun.c         STUN and UDP connection request codec (acs_stun.h)
 *   stun_server.c  the STUN server of a worker and the UDP requests it sends
 *   xmpp.c         XMPP connection requests: libstrophe in a thread of its own
 *
 * Threading: dedup.c is shared by the workers (a mutex); the rest belongs
 * to a worker's loop. */
#ifndef ACS_CONNREQ_INTERNAL_H
#define ACS_CONNREQ_INTERNAL_H

#include <stdbool.h>
#include <uv.h>

#include "core/acs_buf.h"
#include "core/acs_config.h"
#include "core/acs_secret.h"
#include "store/acs_pg.h"

/* Opens a device secret read from the store (hex ciphertext and key id).
 * 0, or an error with why in err. */
int acs__connreq_open_secret(const acs_secret_key *key, const char *device_id, const char *name,
                             const char *hex, const char *key_id, acs_buf *out, char *err,
                             size_t errlen);

/* --- dedup.c: true when device_id was not in the set (now it is); false
 * when a request to it is in flight in this process. */
bool acs__connreq_claim_local(const char *device_id);
void acs__connreq_release_local(const char *device_id);

/* --- stun_server.c */

typedef struct acs_stun_server acs_stun_server;

/* Binds cfg->stun_listen (SO_REUSEPORT: every worker binds it, the kernel
 * spreads the devices) on loop. Binding requests with a USERNAME are
 * matched to the device whose ManagementServer.STUNUsername it is; when the
 * device has a STUNPassword stored (sealed, device_secrets) its
 * MESSAGE-INTEGRITY must verify. Those with CONNECTION-REQUEST-BINDING
 * record the source address in connreq_udp. */
int acs_stun_server_start(uv_loop_t *loop, acs_pg *pg, const acs_secret_key *key,
                          const char *listen, unsigned worker, acs_stun_server **out);
/* Frees it once its handles and statements have ended. */
void acs_stun_server_stop(acs_stun_server *s);

typedef void (*acs_stun_sent_cb)(int status, unsigned sent, void *arg);
/* Sends the datagram msg to "IP:PORT" (or "[IPv6]:PORT") from the STUN
 * port ACS_UDPCR_REPEAT times, ACS_UDPCR_GAP_MS apart (doubling); cb runs
 * once, from the loop, after the last (status 0 when at least one went
 * out). Returns 0, ACS_EINVAL (address) or ACS_ENOMEM. */
#define ACS_UDPCR_REPEAT 3
#define ACS_UDPCR_GAP_MS 200
int acs_stun_server_send(acs_stun_server *s, const char *addr, const char *msg, size_t len,
                         acs_stun_sent_cb cb, void *arg);

/* --- xmpp.c: one XMPP client per process, in its own thread, started
 * with the first port and stopped with the last. A worker opens a port
 * (its loop's end of the queues). */

typedef struct acs_xmpp_port acs_xmpp_port;
typedef struct acs_xmpp_req acs_xmpp_req;
/* status: 0 (an IQ result), ACS_EINVAL (not-authorized, forbidden),
 * ACS_EUNAVAILABLE (service-unavailable and other errors, the connection
 * lost), ACS_ETIMEOUT (no answer, or not connected, within the timeout),
 * ACS_ECANCELED (stopping). From the port's loop, never inside
 * acs__xmpp_send. */
typedef void (*acs_xmpp_cb)(int status, const char *detail, void *arg);

int acs__xmpp_port_open(uv_loop_t *loop, const acs_config *cfg, acs_xmpp_port **out);
/* Tells the port's requests (done or still with the thread) at once; the
 * last port stops the thread (joined here). */
void acs__xmpp_port_close(acs_xmpp_port *p);
/* Queues a connectionRequest IQ to jid with user/pass. 0, ACS_EINVAL (not
 * a JID), ACS_ESTATE (closed) or ACS_ENOMEM. */
int acs__xmpp_send(acs_xmpp_port *p, const char *jid, const char *user, const char *pass,
                   unsigned timeout_ms, acs_xmpp_cb cb, void *arg);
bool acs__xmpp_connected(void);

#endif
