/* test_stun: the STUN codec against RFC 5769's test vectors (a request with
 * USERNAME, MESSAGE-INTEGRITY and FINGERPRINT; an IPv4 response with
 * XOR-MAPPED-ADDRESS), round trips of what acsd writes (Annex G's
 * CONNECTION-REQUEST-BINDING and BINDING-CHANGE, classic RFC 3489
 * messages), hostile input fed at every length, and the UDP connection
 * request's datagram and signature (Annex G's example values). */
#include <arpa/inet.h>

#include "acs_test.h"
#include "connreq/acs_stun.h"
#include "core/acs_err.h"

static const uint8_t rfc5769_req[] = {
    0x00, 0x01, 0x00, 0x58, 0x21, 0x12, 0xa4, 0x42, 0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86,
    0xfa, 0x87, 0xdf, 0xae, 0x80, 0x22, 0x00, 0x10, 0x53, 0x54, 0x55, 0x4e, 0x20, 0x74, 0x65, 0x73,
    0x74, 0x20, 0x63, 0x6c, 0x69, 0x65, 0x6e, 0x74, 0x00, 0x24, 0x00, 0x04, 0x6e, 0x00, 0x01, 0xff,
    0x80, 0x29, 0x00, 0x08, 0x93, 0x2f, 0xf9, 0xb1, 0x51, 0x26, 0x3b, 0x36, 0x00, 0x06, 0x00, 0x09,
    0x65, 0x76, 0x74, 0x6a, 0x3a, 0x68, 0x36, 0x76, 0x59, 0x20, 0x20, 0x20, 0x00, 0x08, 0x00, 0x14,
    0x9a, 0xea, 0xa7, 0x0c, 0xbf, 0xd8, 0xcb, 0x56, 0x78, 0x1e, 0xf2, 0xb5, 0xb2, 0xd3, 0xf2, 0x49,
    0xc1, 0xb5, 0x71, 0xa2, 0x80, 0x28, 0x00, 0x04, 0xe5, 0x7a, 0x3b, 0xcf};

static const uint8_t rfc5769_rsp4[] = {
    0x01, 0x01, 0x00, 0x3c, 0x21, 0x12, 0xa4, 0x42, 0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86,
    0xfa, 0x87, 0xdf, 0xae, 0x80, 0x22, 0x00, 0x0b, 0x74, 0x65, 0x73, 0x74, 0x20, 0x76, 0x65, 0x63,
    0x74, 0x6f, 0x72, 0x20, 0x00, 0x20, 0x00, 0x08, 0x00, 0x01, 0xa1, 0x47, 0xe1, 0x12, 0xa6, 0x43,
    0x00, 0x08, 0x00, 0x14, 0x2b, 0x91, 0xf5, 0x99, 0xfd, 0x9e, 0x90, 0xc3, 0x8c, 0x74, 0x89, 0xf9,
    0x2a, 0xf9, 0xba, 0x53, 0xf0, 0x6b, 0xe7, 0xd7, 0x80, 0x28, 0x00, 0x04, 0xc0, 0x7d, 0x4c, 0x96};

static const char pw5769[] = "VOkJxbRl1RmTxUk/WvJxBt";

static void test_rfc5769(void) {
  acs_stun_msg m;
  CHECK(acs_stun_is_stun(rfc5769_req, sizeof rfc5769_req));
  CHECK_INT(acs_stun_parse(rfc5769_req, sizeof rfc5769_req, &m), 0);
  CHECK_INT(m.type, ACS_STUN_BINDING_REQUEST);
  CHECK(!m.classic);
  CHECK(m.fingerprint);
  CHECK_INT(m.username_len, 9);
  CHECK(m.username && memcmp(m.username, "evtj:h6vY", 9) == 0);
  CHECK_INT(m.nunknown, 1); /* PRIORITY (ICE) is comprehension-required and not ours */
  CHECK_INT(m.unknown[0], 0x0024);
  CHECK_INT(
      acs_stun_check_integrity(rfc5769_req, sizeof rfc5769_req, &m, pw5769, sizeof pw5769 - 1), 0);
  CHECK_INT(acs_stun_check_integrity(rfc5769_req, sizeof rfc5769_req, &m, "wrong", 5), ACS_EINVAL);

  CHECK_INT(acs_stun_parse(rfc5769_rsp4, sizeof rfc5769_rsp4, &m), 0);
  CHECK_INT(m.type, ACS_STUN_BINDING_RESPONSE);
  CHECK(m.mapped);
  const struct sockaddr_in *a = (const struct sockaddr_in *)&m.mapped_addr;
  char ip[INET_ADDRSTRLEN];
  inet_ntop(AF_INET, &a->sin_addr, ip, sizeof ip);
  CHECK_STR(ip, "192.0.2.1");
  CHECK_INT(ntohs(a->sin_port), 32853);
  CHECK_INT(
      acs_stun_check_integrity(rfc5769_rsp4, sizeof rfc5769_rsp4, &m, pw5769, sizeof pw5769 - 1),
      0);

  /* one bit flipped in the body: the fingerprint no longer matches */
  uint8_t bad[sizeof rfc5769_req];
  memcpy(bad, rfc5769_req, sizeof bad);
  bad[30] ^= 1;
  CHECK_INT(acs_stun_parse(bad, sizeof bad, &m), ACS_EINVAL);
}

/* What acsd answers and what cpesim asks, read back. */
static void test_roundtrip(void) {
  struct sockaddr_in6 a6;
  memset(&a6, 0, sizeof a6);
  a6.sin6_family = AF_INET6;
  a6.sin6_port = htons(40001);
  inet_pton(AF_INET6, "2001:db8::7", &a6.sin6_addr);
  acs_stun_out o = {.type = ACS_STUN_BINDING_REQUEST,
                    .username = "dev-42",
                    .cr_binding = true,
                    .binding_change = true,
                    .key = "s3cret",
                    .keylen = 6,
                    .fingerprint = true};
  memcpy(o.txid, "0123456789ab", 12);
  acs_buf b = ACS_BUF_INIT;
  CHECK_INT(acs_stun_write(&o, &b), 0);
  acs_stun_msg m;
  CHECK_INT(acs_stun_parse((uint8_t *)b.data, b.len, &m), 0);
  CHECK(m.cr_binding && m.binding_change && m.fingerprint && !m.classic);
  CHECK(m.username_len == 6 && memcmp(m.username, "dev-42", 6) == 0);
  CHECK(memcmp(m.txid, "0123456789ab", 12) == 0);
  CHECK_INT(acs_stun_check_integrity((uint8_t *)b.data, b.len, &m, "s3cret", 6), 0);
  CHECK_INT(acs_stun_check_integrity((uint8_t *)b.data, b.len, &m, "s3creT", 6), ACS_EINVAL);

  /* every length short of the whole is refused, none overruns */
  for (size_t n = 0; n < b.len; n++) CHECK(acs_stun_parse((uint8_t *)b.data, n, &m) != 0);

  acs_buf_reset(&b);
  acs_stun_out r = {.type = ACS_STUN_BINDING_RESPONSE,
                    .mapped = (struct sockaddr *)&a6,
                    .software = "acsd",
                    .key = "s3cret",
                    .keylen = 6};
  memcpy(r.txid, "0123456789ab", 12);
  CHECK_INT(acs_stun_write(&r, &b), 0);
  CHECK_INT(acs_stun_parse((uint8_t *)b.data, b.len, &m), 0);
  CHECK(m.mapped && m.mapped_addr.ss_family == AF_INET6);
  CHECK(memcmp(&((struct sockaddr_in6 *)&m.mapped_addr)->sin6_addr, &a6.sin6_addr, 16) == 0);
  CHECK_INT(ntohs(((struct sockaddr_in6 *)&m.mapped_addr)->sin6_port), 40001);
  CHECK_INT(acs_stun_check_integrity((uint8_t *)b.data, b.len, &m, "s3cret", 6), 0);

  /* an error answer */
  acs_buf_reset(&b);
  acs_stun_out e = {.type = ACS_STUN_BINDING_ERROR, .error_code = 401, .reason = "Unauthorized"};
  CHECK_INT(acs_stun_write(&e, &b), 0);
  CHECK_INT(acs_stun_parse((uint8_t *)b.data, b.len, &m), 0);
  CHECK_INT(m.error_code, 401);
  CHECK_INT(acs_stun_check_integrity((uint8_t *)b.data, b.len, &m, "x", 1), ACS_ENOTFOUND);

  /* classic (RFC 3489): 16-byte transaction id, MAPPED-ADDRESS only */
  acs_buf_reset(&b);
  struct sockaddr_in a4;
  memset(&a4, 0, sizeof a4);
  a4.sin_family = AF_INET;
  a4.sin_port = htons(5000);
  inet_pton(AF_INET, "10.1.2.3", &a4.sin_addr);
  acs_stun_out c = {.type = ACS_STUN_BINDING_RESPONSE,
                    .classic = true,
                    .mapped = (struct sockaddr *)&a4,
                    .key = "k",
                    .keylen = 1};
  memcpy(c.txid, "ABCDEFGHIJKLMNOP", 16);
  CHECK_INT(acs_stun_write(&c, &b), 0);
  CHECK_INT(acs_stun_parse((uint8_t *)b.data, b.len, &m), 0);
  CHECK(m.classic && m.mapped);
  CHECK(memcmp(m.txid, "ABCDEFGHIJKLMNOP", 16) == 0);
  CHECK_INT(((struct sockaddr_in *)&m.mapped_addr)->sin_addr.s_addr, a4.sin_addr.s_addr);
  CHECK_INT(acs_stun_check_integrity((uint8_t *)b.data, b.len, &m, "k", 1), 0);
  acs_buf_free(&b);

  /* hostile: an attribute running past the end, an odd length */
  static const uint8_t over[] = {0x00, 0x01, 0x00, 0x04, 0x21, 0x12, 0xa4, 0x42,
                                 1,    2,    3,    4,    5,    6,    7,    8,
                                 9,    10,   11,   12,   0x00, 0x06, 0x00, 0x40};
  CHECK_INT(acs_stun_parse(over, sizeof over, &m), ACS_EINVAL);
  CHECK(!acs_stun_is_stun((const uint8_t *)"GET http://x HTTP/1.1\r\n", 23));
}

static void test_udpcr(void) {
  /* Annex G.2.2's example message, signed with the password "pass" here */
  acs_buf b = ACS_BUF_INIT;
  CHECK_INT(acs_udpcr_write("10.1.1.1:8080", "1120673700", "1234", "CPE57689", "XTGRWIPC6D3IPXS3",
                            "pass", &b),
            0);
  CHECK(strncmp(b.data,
                "GET http://10.1.1.1:8080?ts=1120673700&id=1234&un=CPE57689&cn="
                "XTGRWIPC6D3IPXS3&sig=",
                83) == 0);
  CHECK(strstr(b.data, " HTTP/1.1\r\nHost: 10.1.1.1:8080\r\n\r\n") != NULL);
  acs_udpcr r;
  CHECK_INT(acs_udpcr_parse(b.data, b.len, &r), 0);
  CHECK_STR(r.host, "10.1.1.1");
  CHECK_INT(r.port, 8080);
  CHECK_STR(r.ts, "1120673700");
  CHECK_STR(r.id, "1234");
  CHECK_STR(r.un, "CPE57689");
  CHECK_STR(r.cn, "XTGRWIPC6D3IPXS3");
  CHECK(acs_udpcr_verify(&r, "pass"));
  CHECK(!acs_udpcr_verify(&r, "Pass"));
  /* the signature is HMAC-SHA1("pass", ts id un cn), checked independently:
   * printf %s 1120673700 1234 CPE57689 XTGRWIPC6D3IPXS3 (no spaces) | openssl sha1 -hmac pass */
  CHECK_STR(r.sig, "E1C0A06B2DFFF28083EB80650CD1BE82C646ACC4");
  /* lower-case hex verifies too */
  for (char *c = r.sig; *c; c++)
    if (*c >= 'A' && *c <= 'F') *c = (char)(*c - 'A' + 'a');
  CHECK(acs_udpcr_verify(&r, "pass"));
  /* an altered field fails */
  r.id[0] = '9';
  CHECK(!acs_udpcr_verify(&r, "pass"));
  /* every truncation of the request line is refused (what follows it, the
   * Host line, is not needed) */
  size_t line = (size_t)(strchr(b.data, '\r') - b.data);
  for (size_t n = 0; n < line; n++) CHECK(acs_udpcr_parse(b.data, n, &r) != 0);
  CHECK_INT(acs_udpcr_parse(b.data, line, &r), 0);
  /* what cannot go into a query unescaped is refused */
  acs_buf_reset(&b);
  CHECK_INT(acs_udpcr_write("10.1.1.1:8080", "1", "2", "a&b", "c", "p", &b), ACS_EINVAL);
  CHECK_INT(acs_udpcr_write("10.1.1.1:8080", "1", "2", "a b", "c", "p", &b), ACS_EINVAL);
  acs_buf_free(&b);
  CHECK_INT(acs_udpcr_parse("GET http://x?ts=1 HTTP/1.1", 26, &r), ACS_EINVAL);
}

int main(void) {
  test_rfc5769();
  test_roundtrip();
  test_udpcr();
  return acs_test_result("test_stun");
}
