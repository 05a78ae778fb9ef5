/* secret.c: AES-256-GCM sealing of stored secrets (acs_secret.h). */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/acs_err.h"
#include "core/acs_secret.h"

#define NONCE_LEN 12
#define TAG_LEN 16
/* Long enough for 64 hex digits and any trailing whitespace a text editor
 * adds; anything longer is not a key file. */
#define KEY_FILE_MAX 128

void acs_secret_key_from_bytes(const unsigned char raw[32], acs_secret_key *out) {
  unsigned char h[SHA256_DIGEST_LENGTH];
  memcpy(out->key, raw, 32);
  SHA256(out->key, 32, h);
  static const char hex[] = "0123456789abcdef";
  for (int i = 0; i < 8; i++) {
    out->id[2 * i] = hex[h[i] >> 4];
    out->id[2 * i + 1] = hex[h[i] & 15];
  }
  out->id[16] = '\0';
  OPENSSL_cleanse(h, sizeof h);
}

static int hexval(unsigned char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* 64 hex digits then only whitespace: 0; else ACS_EINVAL. */
static int parse_hex(const unsigned char *s, size_t n, unsigned char raw[32]) {
  if (n < 64) return ACS_EINVAL;
  for (size_t i = 64; i < n; i++) {
    if (!isspace(s[i])) return ACS_EINVAL;
  }
  for (size_t i = 0; i < 32; i++) {
    int hi = hexval(s[2 * i]), lo = hexval(s[2 * i + 1]);
    if (hi < 0 || lo < 0) return ACS_EINVAL;
    raw[i] = (unsigned char)(hi << 4 | lo);
  }
  return 0;
}

int acs_secret_key_load(const char *path, acs_secret_key *out) {
  unsigned char buf[KEY_FILE_MAX + 1], raw[32];
  size_t n = 0;
  int rc = 0;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -errno;
  for (;;) {
    ssize_t got = read(fd, buf + n, sizeof buf - n);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) {
      rc = -errno;
      break;
    }
    if (got == 0) break;
    n += (size_t)got;
    if (n == sizeof buf) break; /* too long: refused below */
  }
  close(fd);
  if (rc == 0) {
    if (n > KEY_FILE_MAX) {
      rc = ACS_EINVAL;
    } else if (parse_hex(buf, n, raw) == 0) {
      acs_secret_key_from_bytes(raw, out);
    } else if (n == 32) {
      acs_secret_key_from_bytes(buf, out);
    } else {
      rc = ACS_EINVAL;
    }
  }
  OPENSSL_cleanse(buf, sizeof buf);
  OPENSSL_cleanse(raw, sizeof raw);
  return rc;
}

void acs_secret_aad(const char *device_id, const char *name, acs_buf *out) {
  acs_buf_reset(out);
  acs_buf_puts(out, device_id);
  acs_buf_putc(out, '\n');
  acs_buf_puts(out, name);
}

void acs_secret_buf_free(acs_buf *b) {
  if (b->data) OPENSSL_cleanse(b->data, b->cap);
  acs_buf_free(b);
}

/* One AES-256-GCM pass: encrypt (nonce given, tag out) or decrypt (tag
 * checked). in and out may not overlap; out has room for n bytes. */
static int gcm(bool enc, const acs_secret_key *k, const unsigned char nonce[NONCE_LEN],
               const char *aad, const unsigned char *in, size_t n, unsigned char *out,
               unsigned char tag[TAG_LEN]) {
  int rc = -EIO, len = 0;
  size_t aad_len = aad ? strlen(aad) : 0;
  if (n > (size_t)INT_MAX || aad_len > (size_t)INT_MAX) return ACS_EINVAL;
  EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
  if (!ctx) return ACS_ENOMEM;
  if (EVP_CipherInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL, enc ? 1 : 0) != 1) goto out;
  if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, NONCE_LEN, NULL) != 1) goto out;
  if (EVP_CipherInit_ex(ctx, NULL, NULL, k->key, nonce, -1) != 1) goto out;
  if (aad_len && EVP_CipherUpdate(ctx, NULL, &len, (const unsigned char *)aad, (int)aad_len) != 1)
    goto out;
  if (n && EVP_CipherUpdate(ctx, out, &len, in, (int)n) != 1) goto out;
  if (!enc && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, TAG_LEN, tag) != 1) goto out;
  if (EVP_CipherFinal_ex(ctx, out + (n ? len : 0), &len) != 1) {
    rc = enc ? -EIO : ACS_EINVAL; /* decrypting: the tag did not match */
    goto out;
  }
  if (enc && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, TAG_LEN, tag) != 1) goto out;
  rc = 0;
out:
  EVP_CIPHER_CTX_free(ctx);
  return rc;
}

int acs_secret_seal(const acs_secret_key *k, const char *aad, const void *pt, size_t n,
                    acs_buf *out) {
  size_t total = NONCE_LEN + n + TAG_LEN;
  if (n > (size_t)INT_MAX) return ACS_EINVAL;
  if (acs_buf_reserve(out, total)) return ACS_ENOMEM;
  unsigned char *base = (unsigned char *)out->data + out->len;
  if (RAND_bytes(base, NONCE_LEN) != 1) return -EIO;
  int rc = gcm(true, k, base, aad, pt, n, base + NONCE_LEN, base + NONCE_LEN + n);
  if (rc) {
    OPENSSL_cleanse(base, total);
    return rc;
  }
  out->len += total;
  out->data[out->len] = '\0';
  return 0;
}

int acs_secret_open(const acs_secret_key *k, const char *aad, const void *ct, size_t n,
                    acs_buf *out) {
  if (n < NONCE_LEN + TAG_LEN) return ACS_EINVAL;
  const unsigned char *c = ct;
  size_t pn = n - NONCE_LEN - TAG_LEN;
  unsigned char tag[TAG_LEN];
  memcpy(tag, c + n - TAG_LEN, TAG_LEN);
  if (acs_buf_reserve(out, pn)) return ACS_ENOMEM;
  unsigned char *dst = (unsigned char *)out->data + out->len;
  int rc = gcm(false, k, c, aad, c + NONCE_LEN, pn, dst, tag);
  if (rc) {
    OPENSSL_cleanse(dst, pn); /* unauthenticated plaintext is not handed out */
    return rc;
  }
  out->len += pn;
  out->data[out->len] = '\0';
  return 0;
}
