/* test_proxy.c: PROXY protocol headers (net/acs_proxy.h), v2 and v1,
 * whole and one byte at a time; refusals; and the configuration keys of
 * several instances (redis*, proxy-protocol). */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "acs_test.h"
#include "core/acs_config.h"
#include "core/acs_err.h"
#include "net/acs_proxy.h"
#include "net/acs_server.h"

static const unsigned char sig[12] = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D,
                                      0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};

/* A v2 PROXY TCP4 header from 203.0.113.7:40000 to 10.0.0.1:7547, with a
 * TLV after the addresses, followed by the request's first bytes. */
static size_t v2_tcp4(unsigned char *out, const char *after) {
  unsigned char tlv[] = {0x04, 0x00, 0x03, 'a', 'b', 'c'}; /* PP2_TYPE_NOOP */
  size_t alen = 12 + sizeof tlv;
  memcpy(out, sig, 12);
  out[12] = 0x21; /* v2, PROXY */
  out[13] = 0x11; /* AF_INET, STREAM */
  out[14] = (unsigned char)(alen >> 8);
  out[15] = (unsigned char)alen;
  inet_pton(AF_INET, "203.0.113.7", out + 16);
  inet_pton(AF_INET, "10.0.0.1", out + 20);
  out[24] = 40000 >> 8;
  out[25] = 40000 & 0xff;
  out[26] = 7547 >> 8;
  out[27] = 7547 & 0xff;
  memcpy(out + 28, tlv, sizeof tlv);
  memcpy(out + 16 + alen, after, strlen(after));
  return 16 + alen + strlen(after);
}

/* Fed one byte more at a time: "need more" until the header is whole,
 * then its length; never an error on a prefix. */
static int bytewise(const unsigned char *buf, size_t len, acs_proxy_info *info) {
  for (size_t n = 1; n <= len; n++) {
    int rc = acs_proxy_parse(buf, n, info, NULL);
    if (rc != 0) return rc;
  }
  return 0;
}

static void test_v2(void) {
  unsigned char buf[256];
  size_t len = v2_tcp4(buf, "POST / HTTP/1.1\r\n");
  acs_proxy_info info;
  const char *why = "x";
  int n = acs_proxy_parse(buf, len, &info, &why);
  CHECK_INT(n, 16 + 12 + 6);
  CHECK(why == NULL);
  CHECK_STR(info.src, "203.0.113.7");
  CHECK_INT(info.src_port, 40000);
  CHECK_INT(info.local, 0);
  CHECK(memcmp(buf + n, "POST", 4) == 0);
  CHECK_INT(bytewise(buf, len, &info), 16 + 12 + 6);
  CHECK_STR(info.src, "203.0.113.7");

  /* TCP6 */
  unsigned char b6[64];
  memcpy(b6, sig, 12);
  b6[12] = 0x21;
  b6[13] = 0x21;
  b6[14] = 0;
  b6[15] = 36;
  inet_pton(AF_INET6, "2001:db8::42", b6 + 16);
  inet_pton(AF_INET6, "2001:db8::1", b6 + 32);
  b6[48] = 0x12;
  b6[49] = 0x34;
  b6[50] = 0x1d;
  b6[51] = 0x7b;
  CHECK_INT(acs_proxy_parse(b6, 52, &info, NULL), 52);
  CHECK_STR(info.src, "2001:db8::42");
  CHECK_INT(info.src_port, 0x1234);

  /* LOCAL (the balancer's own health check): no address */
  unsigned char bl[16];
  memcpy(bl, sig, 12);
  bl[12] = 0x20;
  bl[13] = 0x00;
  bl[14] = bl[15] = 0;
  CHECK_INT(acs_proxy_parse(bl, 16, &info, NULL), 16);
  CHECK_INT(info.local, 1);
  CHECK_STR(info.src, "");
}

static void test_v2_refused(void) {
  unsigned char buf[256];
  size_t len = v2_tcp4(buf, "");
  acs_proxy_info info;
  const char *why = NULL;
  unsigned char bad[256];
  memcpy(bad, buf, len);
  bad[12] = 0x11; /* version 1 in a v2 header */
  CHECK_INT(acs_proxy_parse(bad, len, &info, &why), ACS_EPROXY);
  CHECK(why && strstr(why, "version"));
  memcpy(bad, buf, len);
  bad[12] = 0x2f; /* command 15 */
  CHECK_INT(acs_proxy_parse(bad, len, &info, &why), ACS_EPROXY);
  memcpy(bad, buf, len);
  bad[14] = 0x7f; /* an address block longer than any balancer sends */
  CHECK_INT(acs_proxy_parse(bad, len, &info, &why), ACS_EPROXY);
  memcpy(bad, buf, len);
  bad[15] = 4; /* IPv4 with 4 bytes of addresses */
  CHECK_INT(acs_proxy_parse(bad, len, &info, &why), ACS_EPROXY);
  CHECK(why && strstr(why, "truncated"));
  memcpy(bad, buf, len);
  bad[13] = 0x41; /* unknown family */
  CHECK_INT(acs_proxy_parse(bad, len, &info, &why), ACS_EPROXY);
  /* no header at all (proxy-protocol on, a client around the balancer) */
  CHECK_INT(acs_proxy_parse("POST / HTTP/1.1\r\n", 17, &info, &why), ACS_EPROXY);
  CHECK(why && strstr(why, "no PROXY"));
  /* a signature broken after its first bytes */
  CHECK_INT(acs_proxy_parse("\r\n\r\nX", 5, &info, &why), ACS_EPROXY);
}

static void test_v1(void) {
  const char *h = "PROXY TCP4 198.51.100.9 10.0.0.1 51000 7547\r\nPOST / HTTP/1.1\r\n";
  acs_proxy_info info;
  size_t hl = strlen("PROXY TCP4 198.51.100.9 10.0.0.1 51000 7547\r\n");
  CHECK_INT(acs_proxy_parse(h, strlen(h), &info, NULL), (int)hl);
  CHECK_STR(info.src, "198.51.100.9");
  CHECK_INT(info.src_port, 51000);
  CHECK_INT(bytewise((const unsigned char *)h, strlen(h), &info), (int)hl);
  const char *h6 = "PROXY TCP6 2001:db8::7 2001:db8::1 1 2\r\n";
  CHECK_INT(acs_proxy_parse(h6, strlen(h6), &info, NULL), (int)strlen(h6));
  CHECK_STR(info.src, "2001:db8::7");
  const char *u = "PROXY UNKNOWN\r\n";
  CHECK_INT(acs_proxy_parse(u, strlen(u), &info, NULL), (int)strlen(u));
  CHECK_INT(info.local, 1);
  const char *why = NULL;
  const char *bad[] = {
      "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n",         /* LF only */
      "PROXY TCP4 1.2.3.999 5.6.7.8 1 2\r\n",     /* bad address */
      "PROXY TCP4 1.2.3.4 5.6.7.8 1 70000\r\n",   /* bad port */
      "PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n",       /* unknown protocol */
      "PROXY TCP4 1.2.3.4 5.6.7.8 1 2 extra\r\n", /* trailing garbage */
      "PROXY TCP4 2001:db8::1 5.6.7.8 1 2\r\n",   /* family mismatch */
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    int rc = acs_proxy_parse(bad[i], strlen(bad[i]), &info, &why);
    if (rc != ACS_EPROXY) fprintf(stderr, "accepted: %s", bad[i]);
    CHECK_INT(rc, ACS_EPROXY);
  }
  /* no end of line within v1's 107 bytes */
  char longer[200];
  memset(longer, 'x', sizeof longer);
  memcpy(longer, "PROXY TCP4 ", 11);
  CHECK_INT(acs_proxy_parse(longer, sizeof longer, &info, &why), ACS_EPROXY);
  CHECK_INT(acs_proxy_parse(longer, 60, &info, &why), 0); /* still could end */
}

static void test_looks_like(void) {
  CHECK(acs_proxy_looks_like("PROXY TCP4", 10));
  CHECK(acs_proxy_looks_like("PRO", 3));
  CHECK(acs_proxy_looks_like(sig, 12));
  CHECK(acs_proxy_looks_like(sig, 3));
  CHECK(!acs_proxy_looks_like("POST / HTTP/1.1", 15));
  CHECK(!acs_proxy_looks_like("GET /", 5));
}

static void test_config_keys(void) {
  acs_config cfg;
  char err[256];
  acs_config_init(&cfg);
  CHECK_STR(cfg.redis_master, "acsd");
  CHECK_INT(cfg.redis_lock_ms, 30000);
  CHECK(!cfg.proxy_protocol);
  CHECK(cfg.redis == NULL && cfg.redis_sentinels == NULL && cfg.redis_password == NULL);
  CHECK_INT(acs_config_set(&cfg, "redis", "127.0.0.1:6379", err, sizeof err), 0);
  CHECK_STR(cfg.redis, "127.0.0.1:6379");
  CHECK_INT(acs_config_set(&cfg, "redis_sentinels", "127.0.0.1:1,127.0.0.1:2", err, sizeof err), 0);
  CHECK_STR(cfg.redis_sentinels, "127.0.0.1:1,127.0.0.1:2");
  CHECK_INT(acs_config_set(&cfg, "redis-master", "mymaster", err, sizeof err), 0);
  CHECK_STR(cfg.redis_master, "mymaster");
  CHECK_INT(acs_config_set(&cfg, "redis-password", "s3cret", err, sizeof err), 0);
  CHECK_INT(acs_config_set(&cfg, "redis-lock-ms", "5000", err, sizeof err), 0);
  CHECK_INT(cfg.redis_lock_ms, 5000);
  CHECK_INT(acs_config_set(&cfg, "redis-lock-ms", "10", err, sizeof err), ACS_ECONFIG);
  CHECK(strstr(err, "redis-lock-ms"));
  CHECK_INT(acs_config_set(&cfg, "proxy-protocol", "on", err, sizeof err), 0);
  CHECK(cfg.proxy_protocol);
  acs_server_config sc;
  acs_config_to_server(&cfg, &sc);
  CHECK(sc.proxy_protocol[ACS_LISTENER_CWMP]);
  CHECK(!sc.proxy_protocol[ACS_LISTENER_API]);
  CHECK_INT(acs_config_set(&cfg, "proxy-protocol", "off", err, sizeof err), 0);
  CHECK(!cfg.proxy_protocol);
  CHECK_INT(acs_config_set(&cfg, "proxy-protocol", "maybe", err, sizeof err), ACS_ECONFIG);
  CHECK(strstr(err, "on or off"));
  acs_config_free(&cfg);

  /* from the command line, with a value */
  acs_config_init(&cfg);
  char *argv[] = {"acsd", "--proxy-protocol", "on", "--redis-sentinels", "127.0.0.1:26379", NULL};
  CHECK_INT(acs_config_load(5, argv, &cfg, err, sizeof err), 0);
  CHECK(cfg.proxy_protocol);
  CHECK_STR(cfg.redis_sentinels, "127.0.0.1:26379");
  acs_config_free(&cfg);
}

int main(void) {
  unsetenv("ACS_CONFIG");
  unsetenv("ACS_PROXY_PROTOCOL");
  unsetenv("ACS_REDIS_SENTINELS");
  test_v2();
  test_v2_refused();
  test_v1();
  test_looks_like();
  test_config_keys();
  return acs_test_result("test_proxy");
}
