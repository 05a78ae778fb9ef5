/* proxy.c: PROXY protocol headers, version 2 and 1 (acs_proxy.h), after
 * HAProxy's proxy-protocol.txt. Pure. */
#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "core/acs_err.h"
#include "net/acs_proxy.h"

static const unsigned char v2_sig[12] = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D,
                                         0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};
#define V2_MAX (16 + 520)
#define V1_MAX 107

int acs_proxy_looks_like(const void *buf, size_t len) {
  size_t n = len < sizeof v2_sig ? len : sizeof v2_sig;
  if (len && memcmp(buf, v2_sig, n) == 0) return 1;
  n = len < 6 ? len : 6;
  return len && memcmp(buf, "PROXY ", n) == 0;
}

static int refuse(const char **why, const char *text) {
  if (why) *why = text;
  return ACS_EPROXY;
}

static int parse_v2(const unsigned char *p, size_t len, acs_proxy_info *info, const char **why) {
  if (len < 16) return 0;
  unsigned ver = p[12] >> 4, cmd = p[12] & 0x0f;
  unsigned fam = p[13] >> 4, proto = p[13] & 0x0f;
  size_t alen = ((size_t)p[14] << 8) | p[15];
  if (ver != 2) return refuse(why, "PROXY v2: unknown version");
  if (cmd > 1) return refuse(why, "PROXY v2: unknown command");
  if (16 + alen > V2_MAX) return refuse(why, "PROXY v2: header too long");
  if (len < 16 + alen) return 0;
  memset(info, 0, sizeof *info);
  if (cmd == 0) { /* LOCAL: the balancer's own connection (health check) */
    info->local = 1;
    return (int)(16 + alen);
  }
  if (proto != 1 && proto != 2 && !(fam == 0 && proto == 0))
    return refuse(why, "PROXY v2: unknown transport");
  const unsigned char *a = p + 16;
  if (fam == 1) { /* AF_INET: src, dst, sport, dport */
    if (alen < 12) return refuse(why, "PROXY v2: IPv4 addresses truncated");
    inet_ntop(AF_INET, a, info->src, sizeof info->src);
    info->src_port = ((unsigned)a[8] << 8) | a[9];
  } else if (fam == 2) {
    if (alen < 36) return refuse(why, "PROXY v2: IPv6 addresses truncated");
    inet_ntop(AF_INET6, a, info->src, sizeof info->src);
    info->src_port = ((unsigned)a[32] << 8) | a[33];
  } else if (fam == 0) {
    info->local = 1; /* UNSPEC: no address to take */
  } else {
    return refuse(why, "PROXY v2: unsupported address family");
  }
  return (int)(16 + alen); /* TLVs (after the addresses) are skipped */
}

/* "PROXY TCP4 192.0.2.1 198.51.100.1 56324 7547\r\n", or "PROXY UNKNOWN...\r\n" */
static int parse_v1(const char *p, size_t len, acs_proxy_info *info, const char **why) {
  const char *end = memchr(p, '\n', len < V1_MAX ? len : V1_MAX);
  if (!end) return len >= V1_MAX ? refuse(why, "PROXY v1: no end of line") : 0;
  if (end == p || end[-1] != '\r') return refuse(why, "PROXY v1: line not ended by CRLF");
  char line[V1_MAX + 1];
  size_t n = (size_t)(end - 1 - p);
  memcpy(line, p, n);
  line[n] = '\0';
  memset(info, 0, sizeof *info);
  if (strncmp(line, "PROXY UNKNOWN", 13) == 0) {
    info->local = 1;
    return (int)(end - p + 1);
  }
  char fam[8], src[64], dst[64];
  unsigned sp, dp;
  char extra;
  if (sscanf(line, "PROXY %7s %63s %63s %u %u%c", fam, src, dst, &sp, &dp, &extra) != 5)
    return refuse(why, "PROXY v1: malformed line");
  unsigned char bin[16];
  int af = strcmp(fam, "TCP4") == 0 ? AF_INET : strcmp(fam, "TCP6") == 0 ? AF_INET6 : -1;
  if (af < 0) return refuse(why, "PROXY v1: unknown protocol");
  if (inet_pton(af, src, bin) != 1 || inet_pton(af, dst, bin) != 1 || sp > 65535 || dp > 65535)
    return refuse(why, "PROXY v1: bad address or port");
  snprintf(info->src, sizeof info->src, "%s", src);
  info->src_port = sp;
  return (int)(end - p + 1);
}

int acs_proxy_parse(const void *buf, size_t len, acs_proxy_info *info, const char **why) {
  const unsigned char *p = buf;
  if (why) *why = NULL;
  if (len == 0) return 0;
  size_t n = len < sizeof v2_sig ? len : sizeof v2_sig;
  if (memcmp(p, v2_sig, n) == 0) {
    if (len < sizeof v2_sig) return 0;
    return parse_v2(p, len, info, why);
  }
  n = len < 6 ? len : 6;
  if (memcmp(p, "PROXY ", n) == 0) {
    if (len < 6) return 0;
    return parse_v1((const char *)p, len, info, why);
  }
  return refuse(why, "no PROXY protocol header (proxy-protocol is on)");
}
