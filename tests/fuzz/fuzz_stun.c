/* fuzz_stun.c: libFuzzer target for the UDP connection request codec
 * (connreq/acs_stun.h): STUN messages and the Annex G datagram, as a STUN
 * server or a CPE receives them from anyone.
 *
 * Whatever parses is checked for MESSAGE-INTEGRITY with a key, and its
 * fields are written again as acsd would answer and parsed back: the
 * username, the Annex G attributes, the transaction id and the mapped
 * address must survive the round trip, and the integrity acsd writes must
 * verify. A datagram that parses as a UDP connection request is verified
 * and signed again: the signature made from its fields must verify. Any
 * broken invariant abort()s. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "connreq/acs_stun.h"
#include "core/acs_buf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_REQUIRE(c)                                                             \
  do {                                                                              \
    if (!(c)) {                                                                     \
      fprintf(stderr, "fuzz_stun: invariant failed: %s (line %d)\n", #c, __LINE__); \
      abort();                                                                      \
    }                                                                               \
  } while (0)

static void stun(const uint8_t *data, size_t size) {
  acs_stun_msg m;
  if (acs_stun_parse(data, size, &m)) return;
  (void)acs_stun_check_integrity(data, size, &m, "key", 3);
  char user[514] = "";
  if (m.username) memcpy(user, m.username, m.username_len);
  bool user_ok = m.username && strlen(user) == m.username_len;
  acs_stun_out o = {.type = m.type,
                    .classic = m.classic,
                    .username = user_ok ? user : NULL,
                    .cr_binding = m.cr_binding,
                    .binding_change = m.binding_change,
                    .mapped = m.mapped ? (const struct sockaddr *)&m.mapped_addr : NULL,
                    .key = "key",
                    .keylen = 3,
                    .fingerprint = true};
  memcpy(o.txid, m.txid, sizeof o.txid);
  acs_buf b = ACS_BUF_INIT;
  int rc = acs_stun_write(&o, &b);
  FUZZ_REQUIRE(rc == 0);
  acs_stun_msg r;
  FUZZ_REQUIRE(acs_stun_parse((const uint8_t *)b.data, b.len, &r) == 0);
  FUZZ_REQUIRE(r.classic == m.classic);
  FUZZ_REQUIRE(memcmp(r.txid, m.txid, m.classic ? 16 : 12) == 0);
  FUZZ_REQUIRE(r.cr_binding == m.cr_binding && r.binding_change == m.binding_change);
  FUZZ_REQUIRE(!user_ok ||
               (r.username_len == m.username_len && memcmp(r.username, user, r.username_len) == 0));
  FUZZ_REQUIRE(r.mapped == m.mapped);
  FUZZ_REQUIRE(acs_stun_check_integrity((const uint8_t *)b.data, b.len, &r, "key", 3) == 0);
  acs_buf_free(&b);
}

static void udpcr(const uint8_t *data, size_t size) {
  acs_udpcr r;
  if (acs_udpcr_parse((const char *)data, size, &r)) return;
  (void)acs_udpcr_verify(&r, "pass");
  acs_udpcr_sign(r.ts, r.id, r.un, r.cn, "pass", r.sig);
  FUZZ_REQUIRE(acs_udpcr_verify(&r, "pass"));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  stun(data, size);
  udpcr(data, size);
  return 0;
}
