/* acs_digest.h: HTTP authentication, pure. The client's side: reading a
 * WWW-Authenticate challenge (Digest or Basic, as CPEs send them: quoted or
 * bare values, any order, header lines folded or LF-only) and writing the
 * Authorization header that answers it (RFC 7616 Digest with MD5 or
 * MD5-sess and qop=auth, or RFC 7617 Basic), for connection requests (the
 * ACS is the client there). The server's side: reading an Authorization
 * header and checking a Digest response against a stored HA1, for the file
 * server and for CPE authentication (session/acs_cpe_auth.h), with the
 * stateless nonces and the challenges the ACS writes. No I/O. */
#ifndef ACS_DIGEST_H
#define ACS_DIGEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/acs_buf.h"

typedef enum acs_auth_scheme {
  ACS_AUTH_NONE = 0,
  ACS_AUTH_BASIC,
  ACS_AUTH_DIGEST,
} acs_auth_scheme;

typedef struct acs_auth_challenge {
  acs_auth_scheme scheme;
  char realm[256];
  char nonce[256];
  char opaque[256];
  char algorithm[32]; /* "MD5" (default) or "MD5-sess" */
  bool qop_auth;      /* qop offered and includes "auth" */
  bool stale;
} acs_auth_challenge;

/* Parses the value of one WWW-Authenticate header (after "WWW-Authenticate:",
 * continuation lines already joined or not: CR, LF and tabs count as
 * spaces). When several challenges are offered the strongest understood is
 * taken (Digest with MD5 over Basic). Returns 0, or ACS_EINVAL when no
 * challenge is understood (an unsupported algorithm, say). */
int acs_auth_parse(const char *value, size_t len, acs_auth_challenge *out);

/* As acs_auth_parse, choosing the challenge a client prefers among those
 * offered: pref "basic", "md5" or "md5-sess" takes that one when it is
 * offered (else the strongest, as above); NULL is acs_auth_parse. */
int acs_auth_parse_pref(const char *value, size_t len, const char *pref, acs_auth_challenge *out);

/* Finds the WWW-Authenticate header(s) in a raw HTTP response head (status
 * line and headers, "\r\n" or bare "\n" line ends, folded continuation lines)
 * and parses the best challenge. Returns 0, ACS_ENOTFOUND or ACS_EINVAL. */
int acs_auth_from_head(const char *head, size_t len, acs_auth_challenge *out);

/* Appends "Authorization: ...\r\n" answering ch for a request of method and
 * uri. cnonce: client nonce (hex, NUL-terminated; ignored for Basic); nc: the
 * nonce count (1 for the first use). Returns 0 or ACS_EINVAL / ACS_ENOMEM. */
int acs_auth_header(const acs_auth_challenge *ch, const char *user, const char *pass,
                    const char *method, const char *uri, const char *cnonce, unsigned nc,
                    acs_buf *out);

/* --- the server's side */

typedef struct acs_auth_credentials {
  acs_auth_scheme scheme;
  char username[256];
  char password[256]; /* Basic */
  /* Digest */
  char realm[256], nonce[256], uri[1024], response[40], cnonce[256], nc[16], qop[16];
  char algorithm[32], opaque[256];
} acs_auth_credentials;

/* Parses an Authorization header value: "Basic token68" or "Digest
 * params" (username, nonce, uri and response required; MD5 or MD5-sess;
 * qop auth, with cnonce and nc, or none). Returns 0 or ACS_EINVAL. */
int acs_auth_credentials_parse(const char *value, acs_auth_credentials *out);
/* HA1 = MD5(user ":" realm ":" pass) as 32 lower-case hex digits. */
void acs_auth_ha1(const char *user, const char *realm, const char *pass, char out[33]);
/* True when a Digest response is the one HA1 (hex) gives for method and
 * c's own uri, nonce, nc and cnonce (compared in constant time). The caller
 * checks the realm, the nonce's freshness and that uri is the request's. */
bool acs_auth_digest_check(const acs_auth_credentials *c, const char *ha1_hex, const char *method);

/* Basic: true when c (a parsed Basic credential) carries user and pass
 * (compared in constant time). */
bool acs_auth_basic_check(const acs_auth_credentials *c, const char *user, const char *pass);

/* --- stateless nonces: "<10 hex: unix seconds><8 hex: salt><32 hex: HMAC>",
 * the HMAC (SHA-256, first 16 bytes) of the time, the salt and the realm
 * under a 32-byte key. Whoever holds the key checks a nonce: no table, any
 * worker or instance. The salt (4 random bytes, the caller's) makes every
 * challenge's nonce its own, even within a second. */
#define ACS_AUTH_NONCE_LEN 50

void acs_auth_nonce_make(const unsigned char key[32], const char *realm, uint64_t now_s,
                         const unsigned char salt[4], char out[ACS_AUTH_NONCE_LEN + 1]);
/* 0: minted with key for realm, within ttl_s of now_s (and at most skew_s
 * ahead of it); ACS_ETIMEOUT: ours but too old (or too far ahead): stale;
 * ACS_EINVAL: not a nonce of this key and realm. *age_s (may be NULL) gets
 * the nonce's age when it is ours. */
int acs_auth_nonce_check(const unsigned char key[32], const char *realm, const char *nonce,
                         uint64_t now_s, unsigned ttl_s, unsigned skew_s, uint64_t *age_s);

/* Appends the WWW-Authenticate header lines of a 401: Digest with MD5,
 * then Digest with MD5-sess (both qop="auth", the same nonce), then Basic
 * when basic is true; stale=true on the Digest ones when stale. Most CPE
 * stacks read the first line only: it is the most widely understood. */
void acs_auth_challenge_write(const char *realm, const char *nonce, bool stale, bool basic,
                              acs_buf *out);

#endif
