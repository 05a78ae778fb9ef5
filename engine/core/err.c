#include "core/acs_err.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/acs_log.h"

const char *acs_strerror(int err) {
  switch (err) {
#define ACS_ERR_MSG(name, code, msg) \
  case code:                         \
    return msg;
    ACS_ERR_MAP(ACS_ERR_MSG)
#undef ACS_ERR_MSG
  case 0:
    return "success";
  default:
    break;
  }
  if (err < 0 && err > -1000) return strerror(-err); /* glibc: thread-safe */
  return "unknown error";
}

const char *acs_errname(int err) {
  switch (err) {
#define ACS_ERR_NAME(name, code, msg) \
  case code:                          \
    return "ACS_E" #name;
    ACS_ERR_MAP(ACS_ERR_NAME)
#undef ACS_ERR_NAME
  case 0:
    return "OK";
  default:
    break;
  }
  if (err < 0 && err > -1000) {
    const char *n = strerrorname_np(-err);
    if (n) return n;
  }
  return "EUNKNOWN";
}

void acs__assert_fail(const char *expr, const char *file, int line, int fatal) {
  acs_log(fatal ? ACS_LOG_CRIT : ACS_LOG_ERR, "assert", "assertion failed: %s (%s:%d)", expr,
          file, line);
  if (fatal) abort();
}
