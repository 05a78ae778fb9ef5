/* test_secret: sealing and opening stored secrets (core/acs_secret.h):
 * round trips, a known AES-256-GCM answer, every way a sealed value must
 * fail to open (another key, another AAD, any byte altered, truncated), and
 * both key file formats with the malformed ones refused. */
#include <errno.h>
#include <stdbool.h>
#include <unistd.h>

#include "acs_test.h"
#include "core/acs_err.h"
#include "core/acs_secret.h"

static acs_secret_key key_of(unsigned char fill) {
  unsigned char raw[32];
  memset(raw, fill, sizeof raw);
  acs_secret_key k;
  acs_secret_key_from_bytes(raw, &k);
  return k;
}

static void test_round_trip(void) {
  acs_secret_key k = key_of(7);
  static const char *const values[] = {"", "x", "Circle Of Life", "p\xc3\xa4ssw\xc3\xb6rd"};
  for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
    acs_buf ct = ACS_BUF_INIT, pt = ACS_BUF_INIT, ct2 = ACS_BUF_INIT;
    size_t n = strlen(values[i]);
    CHECK_INT(acs_secret_seal(&k, "dev\nname", values[i], n, &ct), 0);
    CHECK_INT(ct.len, 12 + n + 16);
    CHECK_INT(acs_secret_open(&k, "dev\nname", ct.data, ct.len, &pt), 0);
    CHECK_INT(pt.len, n);
    CHECK(pt.len == 0 || memcmp(pt.data, values[i], n) == 0);
    /* a fresh nonce each time: the same value seals differently */
    CHECK_INT(acs_secret_seal(&k, "dev\nname", values[i], n, &ct2), 0);
    CHECK(ct2.len == ct.len && memcmp(ct.data, ct2.data, ct.len) != 0);
    acs_buf_free(&ct);
    acs_buf_free(&ct2);
    acs_secret_buf_free(&pt);
  }
  /* sealing appends to what the buffer holds */
  acs_buf b = ACS_BUF_INIT, pt = ACS_BUF_INIT;
  acs_buf_puts(&b, "ab");
  CHECK_INT(acs_secret_seal(&k, "", "v", 1, &b), 0);
  CHECK_INT(b.len, 2 + 12 + 1 + 16);
  CHECK(memcmp(b.data, "ab", 2) == 0);
  acs_buf_puts(&pt, "pre:");
  CHECK_INT(acs_secret_open(&k, "", b.data + 2, b.len - 2, &pt), 0);
  CHECK_STR(pt.data, "pre:v");
  acs_buf_free(&b);
  acs_buf_free(&pt);
}

/* McGrew & Viega, "The Galois/Counter Mode of Operation", test case 14:
 * key, IV and plaintext all zero, no AAD. */
static void test_known_answer(void) {
  acs_secret_key k = key_of(0);
  static const unsigned char sealed[12 + 16 + 16] = {
      0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    /* nonce */
      0xce, 0xa7, 0x40, 0x3d, 0x4d, 0x60, 0x6b, 0x6e, 0x07, 0x4e, 0xc5, 0xd3, /* ciphertext */
      0xba, 0xf3, 0x9d, 0x18, 0xd0, 0xd1, 0xc8, 0xa7, 0x99, 0x99, 0x6b, 0xf0, /* ... tag */
      0x26, 0x5b, 0x98, 0xb5, 0xd4, 0x8a, 0xb9, 0x19};
  acs_buf pt = ACS_BUF_INIT;
  CHECK_INT(acs_secret_open(&k, "", sealed, sizeof sealed, &pt), 0);
  static const unsigned char zero[16] = {0};
  CHECK(pt.len == 16 && memcmp(pt.data, zero, 16) == 0);
  acs_buf_free(&pt);
  /* the same bytes with an AAD do not open: the AAD is authenticated */
  CHECK_INT(acs_secret_open(&k, "a", sealed, sizeof sealed, &pt), ACS_EINVAL);
  CHECK_INT(pt.len, 0);
  acs_buf_free(&pt);
  /* key id: the first 8 bytes of sha256 of 32 zero bytes */
  CHECK_STR(k.id, "66687aadf862bd77");
}

static void test_refusals(void) {
  acs_secret_key k = key_of(1), other = key_of(2);
  static const char pw[] = "hunter2-but-longer";
  acs_buf ct = ACS_BUF_INIT, pt = ACS_BUF_INIT;
  CHECK_INT(acs_secret_seal(&k, "OUI-PC-SN\nDevice.X.Password", pw, sizeof pw - 1, &ct), 0);
  CHECK_INT(acs_secret_open(&other, "OUI-PC-SN\nDevice.X.Password", ct.data, ct.len, &pt),
            ACS_EINVAL);
  CHECK_INT(acs_secret_open(&k, "OUI-PC-SN2\nDevice.X.Password", ct.data, ct.len, &pt), ACS_EINVAL);
  CHECK_INT(acs_secret_open(&k, "OUI-PC-SN\nDevice.X.Username", ct.data, ct.len, &pt), ACS_EINVAL);
  CHECK_INT(acs_secret_open(&k, "", ct.data, ct.len, &pt), ACS_EINVAL);
  /* every byte matters: nonce, ciphertext and tag */
  int opened = 0;
  for (size_t i = 0; i < ct.len; i++) {
    ct.data[i] ^= 0x01;
    if (acs_secret_open(&k, "OUI-PC-SN\nDevice.X.Password", ct.data, ct.len, &pt) != ACS_EINVAL)
      opened++;
    ct.data[i] ^= 0x01;
  }
  CHECK_INT(opened, 0);
  /* truncated, and shorter than nonce + tag */
  CHECK_INT(acs_secret_open(&k, "OUI-PC-SN\nDevice.X.Password", ct.data, ct.len - 1, &pt),
            ACS_EINVAL);
  CHECK_INT(acs_secret_open(&k, "x", ct.data, 27, &pt), ACS_EINVAL);
  CHECK_INT(acs_secret_open(&k, "x", ct.data, 0, &pt), ACS_EINVAL);
  CHECK_INT(pt.len, 0); /* nothing was ever appended */
  /* and still opens untouched */
  CHECK_INT(acs_secret_open(&k, "OUI-PC-SN\nDevice.X.Password", ct.data, ct.len, &pt), 0);
  CHECK_STR(pt.data, pw);
  acs_buf_free(&ct);
  acs_secret_buf_free(&pt);

  acs_buf aad = ACS_BUF_INIT;
  acs_secret_aad("02CAFE-HG-SN1", "Device.ManagementServer.ConnectionRequestPassword", &aad);
  CHECK_STR(aad.data, "02CAFE-HG-SN1\nDevice.ManagementServer.ConnectionRequestPassword");
  acs_buf_free(&aad);
}

static char dir[] = "/tmp/acs-test-secret-XXXXXX";

static const char *write_file(const char *name, const void *data, size_t n) {
  static char path[256];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "wb");
  if (!f) return path;
  fwrite(data, 1, n, f);
  fclose(f);
  return path;
}

static void test_key_files(void) {
  static const char hex[] = "000102030405060708090a0b0c0d0e0f101112131415161718191A1B1C1D1E1F";
  unsigned char raw[32];
  for (int i = 0; i < 32; i++) raw[i] = (unsigned char)i;
  acs_secret_key want, k;
  acs_secret_key_from_bytes(raw, &want);

  struct {
    const char *data;
    size_t n;
    int rc;
  } cases[] = {
      {hex, 64, 0},
      {"000102030405060708090a0b0c0d0e0f101112131415161718191A1B1C1D1E1F\n", 65, 0},
      {"000102030405060708090a0b0c0d0e0f101112131415161718191A1B1C1D1E1F\r\n  \n", 69, 0},
      {(const char *)raw, 32, 0},
      {"", 0, ACS_EINVAL},
      {hex, 63, ACS_EINVAL},
      {"000102030405060708090a0b0c0d0e0f101112131415161718191A1B1C1D1E1F0", 65, ACS_EINVAL},
      {"000102030405060708090a0b0c0d0e0f101112131415161718191A1B1C1D1E1G", 64, ACS_EINVAL},
      {" 000102030405060708090a0b0c0d0e0f101112131415161718191A1B1C1D1E1F", 65, ACS_EINVAL},
      {(const char *)raw, 31, ACS_EINVAL},
      {"0123456789abcdef0123456789abcdef\n", 33, ACS_EINVAL},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    const char *p = write_file("key", cases[i].data, cases[i].n);
    memset(&k, 0, sizeof k);
    int rc = acs_secret_key_load(p, &k);
    if (rc != cases[i].rc) fprintf(stderr, "key file case %zu\n", i);
    CHECK_INT(rc, cases[i].rc);
    if (cases[i].rc == 0) {
      CHECK(memcmp(k.key, want.key, 32) == 0);
      CHECK_STR(k.id, want.id);
    }
  }
  /* 33 raw bytes: neither format */
  unsigned char raw33[33];
  memset(raw33, 0xAB, sizeof raw33);
  CHECK_INT(acs_secret_key_load(write_file("key", raw33, 33), &k), ACS_EINVAL);
  /* far too long */
  char big[4096];
  memset(big, '0', sizeof big);
  CHECK_INT(acs_secret_key_load(write_file("key", big, sizeof big), &k), ACS_EINVAL);
  /* missing */
  char missing[300];
  snprintf(missing, sizeof missing, "%s/none", dir);
  CHECK_INT(acs_secret_key_load(missing, &k), -ENOENT);
  /* a key loaded from its file opens what the same bytes sealed */
  acs_buf ct = ACS_BUF_INIT, pt = ACS_BUF_INIT;
  CHECK_INT(acs_secret_key_load(write_file("key", hex, 64), &k), 0);
  CHECK_INT(acs_secret_seal(&want, "a", "b", 1, &ct), 0);
  CHECK_INT(acs_secret_open(&k, "a", ct.data, ct.len, &pt), 0);
  CHECK_STR(pt.data, "b");
  acs_buf_free(&ct);
  acs_buf_free(&pt);
  unlink(write_file("key", "", 0));
}

int main(void) {
  if (!mkdtemp(dir)) {
    perror("mkdtemp");
    return 1;
  }
  test_round_trip();
  test_known_answer();
  test_refusals();
  test_key_files();
  rmdir(dir);
  return acs_test_result("test_secret");
}
