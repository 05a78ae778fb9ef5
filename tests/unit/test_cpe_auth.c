/* test_cpe_auth: CPE authentication's parts: failed authentications
 * counted per key, the lockout they earn and its end, a new window after a
 * quiet one, a success forgetting the key, a full table forgetting its
 * oldest entry (bounded); the shared sketch the same way; the factory
 * password of a serial; the configuration, its defaults and its errors. */
#include <unistd.h>

#include "acs_test.h"
#include "core/acs_err.h"
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

static void test_config(void) {
  acs_config cfg;
  acs_cpe_auth a;
  char err[512];
  acs_secret_key key;
  unsigned char raw[32] = {1};
  acs_secret_key_from_bytes(raw, &key);
  acs_config_init(&cfg);
  /* off by default, Basic over TLS only, the defaults of the limits */
  CHECK_INT(acs_cpe_auth_init(&a, &cfg, NULL, err, sizeof err), 0);
  CHECK(!a.on);
  CHECK_INT(a.basic, ACS_CPE_BASIC_TLS);
  CHECK_STR(a.realm, "acsd");
  CHECK_INT(a.nonce_ttl_s, 300);
  CHECK_INT(a.max_failures, 5);
  CHECK_INT(a.lockout_s, 60);
  acs_cpe_auth_clear(&a);
  /* on with nothing to check CPEs against: refused, saying so */
  CHECK_INT(acs_config_set(&cfg, "cpe-auth", "on", err, sizeof err), 0);
  CHECK_INT(acs_cpe_auth_init(&a, &cfg, NULL, err, sizeof err), ACS_ECONFIG);
  CHECK(strstr(err, "no CPE could authenticate") != NULL);
  acs_cpe_auth_clear(&a);
  /* with the secrets key: nonces from it, the same for any instance */
  CHECK_INT(acs_cpe_auth_init(&a, &cfg, &key, err, sizeof err), 0);
  CHECK(a.on && a.nonce_key_shared);
  acs_cpe_auth b;
  CHECK_INT(acs_cpe_auth_init(&b, &cfg, &key, err, sizeof err), 0);
  CHECK(memcmp(a.nonce_key, b.nonce_key, sizeof a.nonce_key) == 0);
  acs_cpe_auth_clear(&a);
  acs_cpe_auth_clear(&b);
  /* bad values */
  static const char *const bad[][3] = {
      {"cpe-auth", "maybe", "neither on nor off"},
      {"cpe-auth-basic", "sometimes", "not tls, always or off"},
      {"cpe-auth-realm", "a\"b", "no quotes"},
      {"cpe-auth-username", "fleet", "go together"},
      {"cpe-auth-factory-key-file", "/nonexistent/factory.key", "factory.key"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    acs_config c2;
    acs_config_init(&c2);
    CHECK_INT(acs_config_set(&c2, "cpe-auth", "on", err, sizeof err), 0);
    CHECK_INT(acs_config_set(&c2, bad[i][0], bad[i][1], err, sizeof err), 0);
    err[0] = '\0';
    CHECK_INT(acs_cpe_auth_init(&a, &c2, &key, err, sizeof err), ACS_ECONFIG);
    if (!strstr(err, bad[i][2])) fprintf(stderr, "%s = %s: '%s'\n", bad[i][0], bad[i][1], err);
    CHECK(strstr(err, bad[i][2]) != NULL);
    acs_cpe_auth_clear(&a);
    acs_config_free(&c2);
  }
  /* a factory key file, and Basic always */
  char path[] = "/tmp/acs-factory-XXXXXX";
  int fd = mkstemp(path);
  CHECK(fd >= 0);
  static const char hex[] = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n";
  CHECK(write(fd, hex, sizeof hex - 1) == (ssize_t)(sizeof hex - 1));
  close(fd);
  CHECK_INT(acs_config_set(&cfg, "cpe-auth-factory-key-file", path, err, sizeof err), 0);
  CHECK_INT(acs_config_set(&cfg, "cpe-auth-basic", "always", err, sizeof err), 0);
  CHECK_INT(acs_cpe_auth_init(&a, &cfg, NULL, err, sizeof err), 0);
  CHECK(a.have_factory_key && !a.nonce_key_shared && a.basic == ACS_CPE_BASIC_ALWAYS);
  char fp[33];
  acs_cpe_auth_factory_password(a.factory_key, "SN0001", fp);
  CHECK_STR(fp, "64d8ca9f1459252a0d1b0dae1de2693e");
  acs_cpe_auth_clear(&a);
  unlink(path);
  acs_config_free(&cfg);
}

int main(void) {
  test_table();
  test_sketch();
  test_factory_password();
  test_config();
  return acs_test_result("test_cpe_auth");
}
