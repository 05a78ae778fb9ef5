/* acs_proxy.h: the PROXY protocol header a load balancer (HAProxy
 * send-proxy-v2) puts before a connection's first byte, so that acsd sees
 * the client's address rather than the balancer's. Version 2 (binary) and
 * version 1 (text). Pure: bytes in, an address out; no I/O. */
#ifndef ACS_PROXY_H
#define ACS_PROXY_H

#include <stddef.h>

typedef struct acs_proxy_info {
  int local;    /* 1: LOCAL (v2) or UNKNOWN (v1): the balancer's own check, no client */
  char src[64]; /* the client's address as text ("192.0.2.1", "2001:db8::1"), else "" */
  unsigned src_port;
} acs_proxy_info;

/* Reads a PROXY header at the start of buf. Returns the header's length
 * (> 0: info filled, the HTTP request starts after it), 0 when more bytes
 * are needed to decide, or ACS_EPROXY when buf does not start with a valid
 * header (a connection without one, a truncated or malformed one; *why
 * says what). Reads at most 536 bytes (v1's limit is 107, v2's 16 + 520 of
 * addresses and TLVs kept by HAProxy's defaults; a longer header is refused). */
int acs_proxy_parse(const void *buf, size_t len, acs_proxy_info *info, const char **why);

/* Does buf (len > 0) start like a PROXY header (v1 or v2)? As far as it
 * goes: a prefix of a signature counts. For listeners without the protocol,
 * which refuse such connections by name. */
int acs_proxy_looks_like(const void *buf, size_t len);

#endif
