/* acs_cpe_auth.h: CPE authentication on the CWMP listener (docs/security.md).
 *
 * Off unless cpe_auth = on. The Inform that opens a session is
 * authenticated before anything of it is stored: without valid credentials
 * it gets 401 with the challenges (WWW-Authenticate: Digest MD5, Digest
 * MD5-sess, both qop="auth", then Basic where allowed) and the CPE sends it
 * again with its Authorization; the rest of the session is bound to it by
 * the session cookie (or its connection). The second 401 in a row on one
 * connection closes it.
 *
 * Which credentials a device must present, first that applies:
 *  1. its own: the device_secrets rows <root>.ManagementServer.Password (and
 *     .Username, when kept; else any username), as a policy's set_secret
 *     stores them once the CPE took them (root Device or
 *     InternetGatewayDevice). A row sealed under another key (the secrets
 *     key was rotated) counts as none, with a warning; a row that does not
 *     open under this key refuses the device.
 *  2. the fleet default, cpe_auth_username / cpe_auth_password;
 *  3. the factory credential, with cpe_auth_factory_key_file: username the
 *     SerialNumber, password acs_cpe_auth_factory_password() of it.
 * (2 and 3 are both accepted when both are configured.)
 *
 * Digest nonces are stateless (http/acs_digest.h): an HMAC of their time
 * under a key derived from the secrets key, so any worker and any instance
 * that shares secret_key_file verifies them; fresh for cpe_auth_nonce_ttl
 * seconds, then answered stale=true. The owner worker remembers each
 * device's last accepted nonce and nc: an answer not counting up is
 * challenged again (per worker, best effort: docs/security.md).
 *
 * Wrong credentials are counted per source address (shared by the
 * instance's workers) and per device id (on its owner worker)
 * (acs_auth_throttle.h): past cpe_auth_max_failures within
 * cpe_auth_lockout seconds, Informs from that address or for that device
 * get 503 with Retry-After (the connection closed) until the lockout ends.
 *
 * Threading: the acs_cpe_auth is read-only once made but for the counts of
 * by_addr (atomics); the rest runs on the owner worker of the device. */
#ifndef ACS_CPE_AUTH_H
#define ACS_CPE_AUTH_H

#include <stdbool.h>
#include <stddef.h>

#include "core/acs_config.h"
#include "core/acs_secret.h"
#include "net/acs_server.h"
#include "session/acs_auth_throttle.h"

typedef enum acs_cpe_basic {
  ACS_CPE_BASIC_TLS = 0, /* over TLS only */
  ACS_CPE_BASIC_ALWAYS,
  ACS_CPE_BASIC_OFF,
} acs_cpe_basic;

typedef struct acs_cpe_auth {
  bool on;
  char realm[128];
  const char *fleet_user, *fleet_pass; /* borrowed from the config; NULL: none */
  bool have_factory_key;
  unsigned char factory_key[32];
  unsigned char nonce_key[32];
  bool nonce_key_shared; /* derived from the secrets key (else random: this process only) */
  acs_cpe_basic basic;
  unsigned nonce_ttl_s, max_failures, lockout_s;
  acs_auth_sketch *by_addr; /* failures per source address, all workers */
} acs_cpe_auth;

/* Reads cfg's cpe_auth keys into a. key: the secrets key (NULL when none).
 * Returns 0, or ACS_ECONFIG with a message in err (a bad value, a factory
 * key file that cannot be read, "on" with no credentials to check at all). */
int acs_cpe_auth_init(acs_cpe_auth *a, const acs_config *cfg, const acs_secret_key *key, char *err,
                      size_t errlen);
/* Wipes the keys, frees the counts. */
void acs_cpe_auth_clear(acs_cpe_auth *a);

/* The factory password of a serial number: the first 16 bytes of
 * HMAC-SHA256(key, serial) as 32 lower-case hex digits. */
void acs_cpe_auth_factory_password(const unsigned char key[32], const char *serial, char out[33]);

/* Did c arrive over TLS (the `tls` setting, net/acs_tls.h)? Basic is
 * accepted over TLS only unless cpe_auth_basic = always. */
bool acs_cpe_auth_conn_is_tls(const acs_conn *c);

#endif
