/* acs_secret.h: secrets the store keeps for the ACS (a CPE's connection
 * request credentials, values policies set and must know again), sealed
 * with AES-256-GCM under one key that never enters the store.
 *
 * A sealed value is nonce (12 random bytes from RAND_bytes) || ciphertext
 * || tag (16 bytes). The additional authenticated data binds it to where it
 * is kept: device id + "\n" + name (acs_secret_aad), so a row copied to
 * another device or name does not open. device_secrets.key_id holds the
 * key's id, so a value sealed under another key is recognised as such
 * before anything is tried.
 *
 * The key file: 64 hexadecimal digits (an optional trailing newline or
 * other whitespace), or exactly 32 raw bytes. `head -c 32 /dev/urandom >
 * FILE` and `openssl rand -hex 32 > FILE` both make one.
 *
 * Threading: all functions are reentrant; a loaded key is read-only. */
#ifndef ACS_SECRET_H
#define ACS_SECRET_H

#include <stddef.h>

#include "core/acs_buf.h"

typedef struct acs_secret_key {
  unsigned char key[32];
  char id[17]; /* 16 hex digits of sha256(key) */
} acs_secret_key;

/* Reads a key file into out. Returns 0, a negated errno (the file cannot
 * be read: -ENOENT, -EACCES, ...) or ACS_EINVAL (neither 64 hex digits nor
 * 32 raw bytes). */
int acs_secret_key_load(const char *path, acs_secret_key *out);

/* The key from 32 bytes (id computed); for tests and tools. */
void acs_secret_key_from_bytes(const unsigned char raw[32], acs_secret_key *out);

/* Seals n bytes of pt under k with aad (a C string, may be ""), appending
 * nonce || ciphertext || tag to out. Returns 0, ACS_ENOMEM, or -EIO when
 * OpenSSL fails (no random bytes). */
int acs_secret_seal(const acs_secret_key *k, const char *aad, const void *pt, size_t n,
                    acs_buf *out);

/* Opens n bytes sealed by acs_secret_seal, appending the plaintext to out
 * (which stays NUL-terminated). Returns 0, ACS_EINVAL (too short, or the
 * tag does not match: another key, another aad, or altered bytes; nothing
 * is appended), ACS_ENOMEM or -EIO. */
int acs_secret_open(const acs_secret_key *k, const char *aad, const void *ct, size_t n,
                    acs_buf *out);

/* The AAD of a device's secret: device_id + "\n" + name, into out (reset
 * first). Failure shows in acs_buf_err(). */
void acs_secret_aad(const char *device_id, const char *name, acs_buf *out);

/* Overwrites a buffer's memory (capacity included) and frees it: for
 * plaintext secrets. */
void acs_secret_buf_free(acs_buf *b);

#endif
