/* range.c: Range values and entity-tag lists (acs_http_range.h). */
#include <string.h>
#include <strings.h>

#include "http/acs_http_range.h"

static bool blank(char c) { return c == ' ' || c == '\t'; }

/* Digits at *p into *out (no overflow past 19 digits); false when none. */
static bool number(const char **p, uint64_t *out) {
  const char *s = *p;
  uint64_t v = 0;
  size_t n = 0;
  while (*s >= '0' && *s <= '9') {
    if (++n > 19) return false;
    v = v * 10 + (uint64_t)(*s++ - '0');
  }
  if (n == 0) return false;
  *p = s;
  *out = v;
  return true;
}

acs_http_range_kind acs_http_range_parse(const char *value, uint64_t size, uint64_t *first,
                                         uint64_t *last) {
  const char *p = value;
  while (blank(*p)) p++;
  if (strncasecmp(p, "bytes", 5) != 0) return ACS_RANGE_IGNORE;
  p += 5;
  while (blank(*p)) p++;
  if (*p++ != '=') return ACS_RANGE_IGNORE;
  while (blank(*p)) p++;
  uint64_t a = 0, b = 0;
  bool has_a = number(&p, &a), has_b = false;
  while (blank(*p)) p++;
  if (*p++ != '-') return ACS_RANGE_IGNORE;
  while (blank(*p)) p++;
  has_b = number(&p, &b);
  while (blank(*p)) p++;
  if (*p != '\0') return ACS_RANGE_IGNORE; /* several ranges, or junk */
  if (!has_a && !has_b) return ACS_RANGE_IGNORE;
  if (has_a && has_b && b < a) return ACS_RANGE_IGNORE; /* invalid: ignored, not refused */
  if (!has_a) {                                         /* the last b bytes */
    if (b == 0 || size == 0) return ACS_RANGE_UNSATISFIABLE;
    *first = b >= size ? 0 : size - b;
    *last = size - 1;
    return ACS_RANGE_OK;
  }
  if (a >= size) return ACS_RANGE_UNSATISFIABLE;
  *first = a;
  *last = has_b && b < size - 1 ? b : size - 1;
  return ACS_RANGE_OK;
}

bool acs_http_etag_match(const char *list, const char *etag, bool weak) {
  size_t el = strlen(etag);
  const char *p = list;
  for (;;) {
    while (blank(*p) || *p == ',') p++;
    if (*p == '\0') return false;
    if (*p == '*') return true;
    bool is_weak = strncmp(p, "W/", 2) == 0;
    if (is_weak) p += 2;
    if (*p != '"') return false; /* malformed: matches nothing */
    const char *q = strchr(p + 1, '"');
    if (!q) return false;
    size_t n = (size_t)(q + 1 - p);
    if ((weak || !is_weak) && n == el && memcmp(p, etag, n) == 0) return true;
    p = q + 1;
  }
}
