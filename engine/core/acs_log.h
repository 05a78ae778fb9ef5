/* acs_log.h: leveled logging to stderr, one line per record, thread-safe:
 * text ("TIME LEVEL AREA: message[ key=value...]") or JSON, one object per
 * line ({"time", "level", "instance", "worker", "subsystem", "device",
 * "session", "trace_id", "message", "fields"}: fields an object of the
 * record's structured extras, {} when none). */
#ifndef ACS_LOG_H
#define ACS_LOG_H

#include <stddef.h>

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

/* The W3C trace-id (32 hex digits) the calling thread's records carry, as
 * "trace_id" (NULL: none; copied). acs_log_set_context(NULL, NULL) clears
 * it too. */
void acs_log_set_trace(const char *trace_id);
const char *acs_log_get_trace(void);

void acs_log(acs_log_level lvl, const char *area, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* A structured extra of a record: JSON "fields": {key: value}, text
 * " key=value" after the message. value NULL is null ("-" in text). */
typedef struct acs_log_field {
  const char *key, *value;
} acs_log_field;
void acs_log_fields(acs_log_level lvl, const char *area, const acs_log_field *fields,
                    size_t nfields, const char *fmt, ...) __attribute__((format(printf, 5, 6)));

#define acs_log_enabled(lvl) ((lvl) <= acs_log_get_level())

#endif
