#include "core/acs_log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "core/acs_err.h"

static _Atomic int log_level = ACS_LOG_INFO;
static const char *const level_names[] = {"crit", "err", "warn", "info", "debug"};

void acs_log_set_level(acs_log_level lvl) { atomic_store(&log_level, (int)lvl); }
acs_log_level acs_log_get_level(void) { return (acs_log_level)atomic_load(&log_level); }

int acs_log_parse_level(const char *s, acs_log_level *out) {
  for (int i = 0; i <= ACS_LOG_DEBUG; i++) {
    if (strcmp(s, level_names[i]) == 0) {
      *out = (acs_log_level)i;
      return 0;
    }
  }
  return ACS_EINVAL;
}

void acs_log(acs_log_level lvl, const char *area, const char *fmt, ...) {
  if (!acs_log_enabled(lvl)) return;
  char line[2048];
  struct timeval tv;
  struct tm tm;
  gettimeofday(&tv, NULL);
  gmtime_r(&tv.tv_sec, &tm);
  int n = snprintf(line, sizeof line, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ %s %s: ",
                   tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                   tm.tm_sec, (int)(tv.tv_usec / 1000), level_names[lvl], area);
  if (n < 0) return;
  va_list ap;
  va_start(ap, fmt);
  int m = vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
  va_end(ap);
  size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
  if (len > sizeof line - 2) len = sizeof line - 2;
  line[len++] = '\n';
  /* One write per record so that lines from workers never interleave. */
  fwrite(line, 1, len, stderr);
}
