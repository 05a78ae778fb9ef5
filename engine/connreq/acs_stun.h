/* acs_stun.h: the wire formats of UDP connection requests (TR-069 Annex G),
 * as pure code (bytes in, structs out; no I/O, no clock):
 *
 * - STUN (RFC 5389, and the RFC 3489 messages TR-111 CPEs still send):
 *   Binding requests and their answers, with USERNAME, MESSAGE-INTEGRITY
 *   (HMAC-SHA1, short-term credentials: the key is the password),
 *   FINGERPRINT, MAPPED-ADDRESS / XOR-MAPPED-ADDRESS, ERROR-CODE, and the
 *   two attributes of Annex G: CONNECTION-REQUEST-BINDING (0xC001, the text
 *   "dslforum.org/TR-111 ") and BINDING-CHANGE (0xC002, empty).
 * - The UDP connection request itself, one datagram:
 *     GET http://HOST:PORT?ts=T&id=I&un=U&cn=C&sig=S HTTP/1.1\r\n
 *     Host: HOST:PORT\r\n\r\n
 *   where S is the hex HMAC-SHA1, keyed with the connection-request
 *   password, of the concatenation T I U C.
 *
 * Threading: none (reentrant). */
#ifndef ACS_STUN_H
#define ACS_STUN_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "core/acs_buf.h"

#define ACS_STUN_BINDING_REQUEST 0x0001
#define ACS_STUN_BINDING_RESPONSE 0x0101
#define ACS_STUN_BINDING_ERROR 0x0111

#define ACS_STUN_ATTR_MAPPED_ADDRESS 0x0001
#define ACS_STUN_ATTR_USERNAME 0x0006
#define ACS_STUN_ATTR_MESSAGE_INTEGRITY 0x0008
#define ACS_STUN_ATTR_ERROR_CODE 0x0009
#define ACS_STUN_ATTR_UNKNOWN_ATTRIBUTES 0x000A
#define ACS_STUN_ATTR_XOR_MAPPED_ADDRESS 0x0020
#define ACS_STUN_ATTR_SOFTWARE 0x8022
#define ACS_STUN_ATTR_FINGERPRINT 0x8028
#define ACS_STUN_ATTR_CONNECTION_REQUEST_BINDING 0xC001
#define ACS_STUN_ATTR_BINDING_CHANGE 0xC002

#define ACS_STUN_MAGIC 0x2112A442u
#define ACS_STUN_CR_BINDING "dslforum.org/TR-111 "
#define ACS_STUN_MAX_UNKNOWN 8

typedef struct acs_stun_msg {
  uint16_t type;
  uint8_t txid[16];     /* RFC 5389: 12 bytes after the cookie; RFC 3489: all 16 */
  bool classic;         /* no magic cookie: an RFC 3489 message */
  const char *username; /* into the parsed bytes, not NUL-terminated; NULL: none */
  size_t username_len;
  bool cr_binding;     /* CONNECTION-REQUEST-BINDING present (with the right text) */
  bool binding_change; /* BINDING-CHANGE present */
  size_t integrity_at; /* offset of MESSAGE-INTEGRITY; 0: none */
  bool fingerprint;    /* FINGERPRINT present and right */
  bool mapped;         /* (XOR-)MAPPED-ADDRESS present: in mapped_addr */
  struct sockaddr_storage mapped_addr;
  int error_code;                         /* ERROR-CODE (class * 100 + number); 0: none */
  uint16_t unknown[ACS_STUN_MAX_UNKNOWN]; /* comprehension-required attributes not known */
  unsigned nunknown;
} acs_stun_msg;

/* True when the datagram looks like STUN (first two bits zero, a length
 * that matches); a UDP port that also gets other traffic can sort with it. */
bool acs_stun_is_stun(const uint8_t *buf, size_t len);

/* Parses a STUN message. 0, or ACS_EINVAL (not STUN, truncated, attributes
 * overrunning, a FINGERPRINT that does not match, attributes after
 * MESSAGE-INTEGRITY other than FINGERPRINT are ignored as RFC 5389 says). */
int acs_stun_parse(const uint8_t *buf, size_t len, acs_stun_msg *out);

/* Checks MESSAGE-INTEGRITY of a parsed message with key (the password).
 * 0, ACS_ENOTFOUND (no MESSAGE-INTEGRITY) or ACS_EINVAL (does not match). */
int acs_stun_check_integrity(const uint8_t *buf, size_t len, const acs_stun_msg *m, const void *key,
                             size_t keylen);

/* What to write. txid/classic as in acs_stun_msg (echo the request's). */
typedef struct acs_stun_out {
  uint16_t type;
  uint8_t txid[16];
  bool classic;
  const char *username; /* NULL: none */
  bool cr_binding, binding_change;
  const struct sockaddr *mapped; /* NULL: none; written as MAPPED-ADDRESS and, unless
                                    classic, XOR-MAPPED-ADDRESS */
  int error_code;                /* 0: none */
  const char *reason;            /* with error_code */
  const char *software;          /* NULL: none */
  const void *key;               /* NULL: no MESSAGE-INTEGRITY */
  size_t keylen;
  bool fingerprint; /* add FINGERPRINT (not for classic) */
} acs_stun_out;

/* Appends the message to out. 0, ACS_EINVAL (an address family other than
 * IPv4/IPv6, a value too long) or ACS_ENOMEM. */
int acs_stun_write(const acs_stun_out *m, acs_buf *out);

/* --- the UDP connection request (Annex G.2.2) */

typedef struct acs_udpcr {
  char host[64]; /* as in the request line: an address ("[v6]" for IPv6) */
  unsigned port;
  char ts[24], id[24], un[257], cn[129], sig[41];
} acs_udpcr;

/* The hex (upper-case) HMAC-SHA1 of ts id un cn keyed with pass, into sig. */
void acs_udpcr_sign(const char *ts, const char *id, const char *un, const char *cn,
                    const char *pass, char sig[41]);

/* Appends the datagram for hostport ("1.2.3.4:5" or "[v6]:5"). 0 or
 * ACS_EINVAL (a value with characters that would need escaping, too long). */
int acs_udpcr_write(const char *hostport, const char *ts, const char *id, const char *un,
                    const char *cn, const char *pass, acs_buf *out);

/* Parses a datagram. 0 or ACS_EINVAL (not "GET http://... HTTP/1.1", a
 * field missing or too long). */
int acs_udpcr_parse(const char *buf, size_t len, acs_udpcr *out);

/* True when out->sig is the signature of its fields with pass (case does
 * not matter; compared in constant time). */
bool acs_udpcr_verify(const acs_udpcr *r, const char *pass);

#endif
