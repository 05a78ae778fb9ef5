/* traceparent.c: the W3C traceparent header (acs_traceparent.h). */
#include <stdio.h>
#include <string.h>

#include "core/acs_traceparent.h"

static bool hex_run(const char *s, size_t n, bool *nonzero) {
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
    if (c != '0' && nonzero) *nonzero = true;
  }
  return true;
}

bool acs_traceparent_parse(const char *s, size_t n, char out[56], char trace_id[33]) {
  if (!s || n < ACS_TRACEPARENT_LEN) return false;
  bool trace_nz = false, parent_nz = false;
  if (!hex_run(s, 2, NULL) || s[2] != '-' || !hex_run(s + 3, 32, &trace_nz) || s[35] != '-' ||
      !hex_run(s + 36, 16, &parent_nz) || s[52] != '-' || !hex_run(s + 53, 2, NULL))
    return false;
  if (!trace_nz || !parent_nz || memcmp(s, "ff", 2) == 0) return false;
  bool v00 = memcmp(s, "00", 2) == 0;
  if (v00 ? n != ACS_TRACEPARENT_LEN : (n > ACS_TRACEPARENT_LEN && s[55] != '-')) return false;
  snprintf(out, 56, "00-%.52s", s + 3);
  snprintf(trace_id, 33, "%.32s", s + 3);
  return true;
}
