/* acs_log.h: leveled logging to stderr, one line per record, thread-safe. */
#ifndef ACS_LOG_H
#define ACS_LOG_H

typedef enum {
  ACS_LOG_CRIT = 0,
  ACS_LOG_ERR,
  ACS_LOG_WARN,
  ACS_LOG_INFO,
  ACS_LOG_DEBUG,
} acs_log_level;

/* Records above this level are dropped (default ACS_LOG_INFO). */
void acs_log_set_level(acs_log_level lvl);
acs_log_level acs_log_get_level(void);
/* Parses "crit", "err", "warn", "info", "debug"; returns 0 or ACS_EINVAL. */
int acs_log_parse_level(const char *s, acs_log_level *out);

void acs_log(acs_log_level lvl, const char *area, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define acs_log_enabled(lvl) ((lvl) <= acs_log_get_level())

#endif
