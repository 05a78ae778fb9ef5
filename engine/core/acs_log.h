/* acs_log.h: leveled logging to stderr, one line per record, thread-safe:
 * text ("TIME LEVEL AREA: message") or JSON, one object per line
 * ({"time", "level", "instance", "worker", "subsystem", "device", "session",
 * "message"}). */
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

typedef enum { ACS_LOG_TEXT = 0, ACS_LOG_JSON } acs_log_format;
/* Parses "text", "json"; returns 0 or ACS_EINVAL. */
int acs_log_parse_format(const char *s, acs_log_format *out);
void acs_log_set_format(acs_log_format f);
acs_log_format acs_log_get_format(void);
const char *acs_log_level_name(acs_log_level lvl);
const char *acs_log_format_name(acs_log_format f);
/* The instance id JSON records carry (copied; set once, before threads). */
void acs_log_set_instance(const char *id);
/* The worker index the calling thread's JSON records carry (-1: none, the
 * default). */
void acs_log_set_worker(int index);
/* The device and session the calling thread works for until cleared
 * (NULL, NULL): JSON records carry them. The strings must outlive it. */
void acs_log_set_context(const char *device, const char *session);

void acs_log(acs_log_level lvl, const char *area, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define acs_log_enabled(lvl) ((lvl) <= acs_log_get_level())

#endif
