/* acs_secret_param.c: the secret-parameter predicate (acs_secret_param.h). */
#include "core/acs_secret_param.h"

#include <string.h>

/* Endings of the last segment, compared without regard to case. */
static const char *const secret_suffixes[] = {
    "password",      "passwd", "passphrase", "secret",     "presharedkey", "psk",
    "wepkey",        "wpakey", "privatekey", "encryptionkey", "passwordhash",
};

/* Last segments that are secrets only in this exact spelling: short or
 * common words that vendors also use for harmless things in other cases. */
static const char *const secret_leaves_exact[] = {"PIN", "KeyValue"};

/* Flags whose names end like a secret (booleans of the data models). */
static const char *const not_secret_leaves[] = {"hexadecimalpassword", "sharedpassword"};

/* Tails of paths ("{i}" is an instance number) the models mark secured
 * although their names say nothing. (Parameters marked only "hidden" are
 * write-only triggers such as TemperatureSensor.{i}.Reset: they read back
 * empty by the standard, and are no secrets.) */
static const char *const secret_tails[] = {
    "ControllerTrust.Challenge.{i}.Value",
};

static int lower(int c) { return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c; }

static bool eq_nocase(const char *s, size_t n, const char *lit) {
  size_t m = strlen(lit);
  if (n != m) return false;
  for (size_t i = 0; i < n; i++)
    if (lower((unsigned char)s[i]) != lit[i]) return false;
  return true;
}

static bool ends_nocase(const char *s, size_t n, const char *lit) {
  size_t m = strlen(lit);
  return n >= m && eq_nocase(s + (n - m), m, lit);
}

/* name[0..n) matches pattern exactly, "{i}" standing for 1+ digits. */
static bool tail_match(const char *s, size_t n, const char *pat) {
  size_t i = 0;
  while (*pat) {
    if (strncmp(pat, "{i}", 3) == 0) {
      size_t start = i;
      while (i < n && s[i] >= '0' && s[i] <= '9') i++;
      if (i == start) return false;
      pat += 3;
    } else {
      if (i >= n || s[i] != *pat) return false;
      i++;
      pat++;
    }
  }
  return i == n;
}

bool acs_param_is_secret(const char *name, size_t len) {
  if (!name || len == 0 || name[len - 1] == '.') return false;
  size_t leaf = len;
  while (leaf > 0 && name[leaf - 1] != '.') leaf--;
  const char *s = name + leaf;
  size_t n = len - leaf;

  for (size_t i = 0; i < sizeof not_secret_leaves / sizeof *not_secret_leaves; i++)
    if (eq_nocase(s, n, not_secret_leaves[i])) return false;
  for (size_t i = 0; i < sizeof secret_suffixes / sizeof *secret_suffixes; i++)
    if (ends_nocase(s, n, secret_suffixes[i])) return true;
  for (size_t i = 0; i < sizeof secret_leaves_exact / sizeof *secret_leaves_exact; i++)
    if (strlen(secret_leaves_exact[i]) == n && memcmp(s, secret_leaves_exact[i], n) == 0)
      return true;

  /* each tail begins at the start of a segment */
  for (size_t i = 0; i < sizeof secret_tails / sizeof *secret_tails; i++) {
    for (size_t at = 0; at < len; at++) {
      if ((at == 0 || name[at - 1] == '.') && name[at] == secret_tails[i][0] &&
          tail_match(name + at, len - at, secret_tails[i]))
        return true;
    }
  }
  return false;
}

bool acs_param_is_secret_z(const char *name) {
  return name && acs_param_is_secret(name, strlen(name));
}
