/* acs_secret_param.h: which parameters are secrets (passwords, keys,
 * passphrases, PINs) whose values acsd never shows through the API nor
 * writes to its log. Pure: the answer depends on the name alone.
 *
 * The rule (docs/api.md, "Secret parameters"): a parameter is secret when
 *  - its last name segment ends, in any case, with one of
 *    Password, Passwd, Passphrase, Secret, PreSharedKey, PSK, WEPKey,
 *    WPAKey, PrivateKey, EncryptionKey, PasswordHash
 *    (vendor spellings included: X_ACME_WlanPassword, X_TP_PreSharedKey),
 *    except the boolean flags HexadecimalPassword and SharedPassword; or
 *  - its last segment is exactly PIN or KeyValue; or
 *  - its path ends with the one Broadband Forum parameter marked secured
 *    whose name says nothing: USPAgent.ControllerTrust.Challenge.{i}.Value.
 * Every parameter TR-181 2.17 and TR-098 1.8 mark secured is covered
 * (tests/unit/test_secret_param.c checks it against the models). Those
 * marked only hidden are write-only triggers (TemperatureSensor.{i}.Reset,
 * SampleSet.{i}.ForceSample): no secrets, and read back empty anyway. */
#ifndef ACS_SECRET_PARAM_H
#define ACS_SECRET_PARAM_H

#include <stdbool.h>
#include <stddef.h>

/* True when the parameter called name (len bytes, no NUL needed) is a
 * secret. An object's name (ending with '.') is never a secret. */
bool acs_param_is_secret(const char *name, size_t len);

/* The same for a NUL-terminated name; NULL is not a secret. */
bool acs_param_is_secret_z(const char *name);

#endif
