/* test_auth_throttle: failed authentications counted per key, the lockout
 * they earn and its end, a new window after a quiet one, a success
 * forgetting the key, a full table forgetting its oldest entry (bounded);
 * the shared sketch the same way; the factory password of a serial. */
#include "acs_test.h"
#include "session/acs_auth_throttle.h"
#include "session/acs_cpe_auth.h"

static void test_table(void) {
  acs_auth_throttle *t = acs_auth_throttle_new(64, 3, 60);
  CHECK(t != NULL);
  CHECK_INT(acs_auth_throttle_blocked(t, "10.0.0.1", 1000), 0);
  CHECK_INT(acs_auth_throttle_fail(t, "10.0.0.1", 1000), 1);
  CHECK_INT(acs_auth_throttle_fail(t, "10.0.0.1", 1010), 2);
  CHECK_INT(acs_auth_throttle_blocked(t, "10.0.0.1", 1010), 0);
  CHECK_INT(acs_auth_throttle_fail(t, "10.0.0.1", 1020), 3);
  CHECK_INT(acs_auth_throttle_blocked(t, "10.0.0.1", 1020), 60);
  CHECK_INT(acs_auth_throttle_blocked(t, "10.0.0.1", 1050), 30);
  CHECK_INT(acs_auth_throttle_blocked(t, "10.0.0.2", 1050), 0); /* another key */
  CHECK_INT(acs_auth_throttle_blocked(t, "10.0.0.1", 1080), 0); /* over */
  CHECK_INT(acs_auth_throttle_fail(t, "10.0.0.1", 1200), 1);    /* a new window */
  acs_auth_throttle_clear(t, "10.0.0.1");
  CHECK_INT(acs_auth_throttle_fail(t, "10.0.0.1", 1201), 1);
  /* bounded: 10,000 keys through 64 slots; the newest are counted */
  char key[32];
  for (int i = 0; i < 10000; i++) {
    snprintf(key, sizeof key, "k%d", i);
    acs_auth_throttle_fail(t, key, 2000 + (uint64_t)i);
  }
  CHECK_INT(acs_auth_throttle_fail(t, "k9999", 12000), 2);
  acs_auth_throttle_free(t);
}

static void test_sketch(void) {
  acs_auth_sketch *k = acs_auth_sketch_new(2, 30);
  CHECK(k != NULL);
  CHECK_INT(acs_auth_sketch_fail(k, "192.0.2.1", 500), 1);
  CHECK_INT(acs_auth_sketch_blocked(k, "192.0.2.1", 500), 0);
  CHECK_INT(acs_auth_sketch_fail(k, "192.0.2.1", 505), 2);
  CHECK_INT(acs_auth_sketch_blocked(k, "192.0.2.1", 510), 25);
  CHECK_INT(acs_auth_sketch_blocked(k, "192.0.2.2", 510), 0);
  CHECK_INT(acs_auth_sketch_blocked(k, "192.0.2.1", 535), 0);
  CHECK_INT(acs_auth_sketch_fail(k, "192.0.2.1", 600), 1); /* a new window */
  acs_auth_sketch_free(k);
}

static void test_factory_password(void) {
  unsigned char key[32];
  for (int i = 0; i < 32; i++) key[i] = (unsigned char)i;
  char a[33], b[33], c[33];
  acs_cpe_auth_factory_password(key, "SN0001", a);
  acs_cpe_auth_factory_password(key, "SN0001", b);
  acs_cpe_auth_factory_password(key, "SN0002", c);
  CHECK_INT(strlen(a), 32);
  CHECK_STR(a, b);
  CHECK(strcmp(a, c) != 0);
  /* HMAC-SHA256(00 01 .. 1f, "SN0001"), first 16 bytes (openssl dgst -sha256 -mac HMAC) */
  CHECK_STR(a, "64d8ca9f1459252a0d1b0dae1de2693e");
}

int main(void) {
  test_table();
  test_sketch();
  test_factory_password();
  return acs_test_result("test_auth_throttle");
}
