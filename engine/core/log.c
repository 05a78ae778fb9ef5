#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "core/acs_err.h"
#include "core/acs_log.h"

static _Atomic int log_level = ACS_LOG_INFO;
static _Atomic int log_format = ACS_LOG_TEXT;
static const char *const level_names[] = {"crit", "err", "warn", "info", "debug"};
static char log_instance[64];
static _Thread_local int log_worker = -1;
static _Thread_local const char *log_device, *log_session;
static _Thread_local char log_trace[33]; /* W3C trace-id, "" for none */

const char *acs_log_level_name(acs_log_level lvl) {
  return (unsigned)lvl <= ACS_LOG_DEBUG ? level_names[lvl] : "?";
}
const char *acs_log_format_name(acs_log_format f) { return f == ACS_LOG_JSON ? "json" : "text"; }

int acs_log_parse_format(const char *s, acs_log_format *out) {
  if (strcmp(s, "text") == 0) {
    *out = ACS_LOG_TEXT;
  } else if (strcmp(s, "json") == 0) {
    *out = ACS_LOG_JSON;
  } else {
    return ACS_EINVAL;
  }
  return 0;
}

void acs_log_set_format(acs_log_format f) { atomic_store(&log_format, (int)f); }
acs_log_format acs_log_get_format(void) { return (acs_log_format)atomic_load(&log_format); }
void acs_log_set_instance(const char *id) {
  snprintf(log_instance, sizeof log_instance, "%s", id ? id : "");
}
void acs_log_set_worker(int index) { log_worker = index; }
void acs_log_set_context(const char *device, const char *session) {
  log_device = device;
  log_session = session;
  if (!device && !session) log_trace[0] = '\0';
}

void acs_log_set_trace(const char *trace_id) {
  snprintf(log_trace, sizeof log_trace, "%s", trace_id ? trace_id : "");
}
const char *acs_log_get_trace(void) { return log_trace[0] ? log_trace : NULL; }

/* Length of the valid UTF-8 sequence at s (n bytes left), or 0. */
static size_t utf8_len(const unsigned char *s, size_t n) {
  size_t len = s[0] < 0x80                    ? 1
               : s[0] >= 0xc2 && s[0] <= 0xdf ? 2
               : s[0] >= 0xe0 && s[0] <= 0xef ? 3
               : s[0] >= 0xf0 && s[0] <= 0xf4 ? 4
                                              : 0;
  if (!len || len > n) return 0;
  for (size_t i = 1; i < len; i++)
    if ((s[i] & 0xc0) != 0x80) return 0;
  if (len == 3 && ((s[0] == 0xe0 && s[1] < 0xa0) || (s[0] == 0xed && s[1] >= 0xa0))) return 0;
  if (len == 4 && ((s[0] == 0xf0 && s[1] < 0x90) || (s[0] == 0xf4 && s[1] >= 0x90))) return 0;
  return len;
}

/* s as the inside of a JSON string into out (at most cap - 1 bytes, never
 * cut inside an escape); invalid UTF-8 becomes U+FFFD. Returns the length. */
static size_t json_escape(const char *s, char *out, size_t cap) {
  size_t o = 0, n = strlen(s);
  for (size_t i = 0; i < n;) {
    const unsigned char *p = (const unsigned char *)s + i;
    char esc[8];
    size_t el = 0, adv = 1;
    if (*p == '"' || *p == '\\') {
      esc[0] = '\\';
      esc[1] = (char)*p;
      el = 2;
    } else if (*p < 0x20) {
      el = (size_t)snprintf(esc, sizeof esc, "\\u%04x", *p);
    } else if ((adv = utf8_len(p, n - i)) == 0) {
      memcpy(esc, "\\ufffd", 6);
      el = 6;
      adv = 1;
    } else {
      memcpy(esc, p, adv);
      el = adv;
    }
    if (o + el >= cap) break;
    memcpy(out + o, esc, el);
    o += el;
    i += adv;
  }
  return o;
}

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

/* Appends ,"key":"value" (escaped, at most max bytes of it) or ,"key":null. */
static size_t json_field(char *line, size_t len, size_t cap, const char *key, const char *v,
                         size_t max) {
  if (len + 16 + strlen(key) >= cap) return len;
  if (!v) return len + (size_t)snprintf(line + len, cap - len, ",\"%s\":null", key);
  len += (size_t)snprintf(line + len, cap - len, ",\"%s\":\"", key);
  size_t room = cap - len - 8; /* the closing quote, and what the record ends with */
  len += json_escape(v, line + len, max < room ? max : room);
  line[len++] = '"';
  return len;
}

static void log_json(const struct timeval *tv, const struct tm *tm, acs_log_level lvl,
                     const char *area, const char *msg, const acs_log_field *fields,
                     size_t nfields) {
  char line[4608];
  int n = snprintf(line, sizeof line,
                   "{\"time\":\"%04d-%02d-%02dT%02d:%02d:%02d.%03dZ\",\"level\":\"%s\"",
                   tm->tm_year + 1900, tm->tm_mon + 1, tm->tm_mday, tm->tm_hour, tm->tm_min,
                   tm->tm_sec, (int)(tv->tv_usec / 1000), level_names[lvl]);
  if (n < 0) return;
  size_t len = (size_t)n;
  len = json_field(line, len, sizeof line, "instance", log_instance, 200);
  if (log_worker >= 0) {
    len += (size_t)snprintf(line + len, sizeof line - len, ",\"worker\":%d", log_worker);
  } else {
    len = json_field(line, len, sizeof line, "worker", NULL, 0);
  }
  len = json_field(line, len, sizeof line, "subsystem", area, 100);
  len = json_field(line, len, sizeof line, "device", log_device, 400);
  len = json_field(line, len, sizeof line, "session", log_session, 200);
  len = json_field(line, len, sizeof line, "trace_id", log_trace[0] ? log_trace : NULL, 40);
  len = json_field(line, len, sizeof line, "message", msg, 2048);
  /* "fields": {"key": "value", ...}: structured extras, each bounded */
  if (len + 16 < sizeof line) {
    memcpy(line + len, ",\"fields\":{", 11);
    len += 11;
    for (size_t i = 0; i < nfields && len + 300 < sizeof line; i++) {
      size_t at = len;
      len = json_field(line, len, sizeof line - 8, fields[i].key, fields[i].value, 512);
      if (i == 0 && len > at) memmove(line + at, line + at + 1, --len - at); /* no leading ',' */
    }
    line[len++] = '}';
  }
  line[len++] = '}';
  line[len++] = '\n';
  fwrite(line, 1, len, stderr);
}

static void log_v(acs_log_level lvl, const char *area, const acs_log_field *fields,
                  size_t nfields, const char *fmt, va_list ap0) {
  char line[2048];
  struct timeval tv;
  struct tm tm;
  gettimeofday(&tv, NULL);
  gmtime_r(&tv.tv_sec, &tm);
  if (acs_log_get_format() == ACS_LOG_JSON) {
    va_list ap;
    va_copy(ap, ap0);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    log_json(&tv, &tm, lvl, area, line, fields, nfields);
    return;
  }
  int n =
      snprintf(line, sizeof line, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ %s %s: ", tm.tm_year + 1900,
               tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
               (int)(tv.tv_usec / 1000), level_names[lvl], area);
  if (n < 0) return;
  va_list ap;
  va_copy(ap, ap0);
  int m = vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
  va_end(ap);
  size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
  if (len > sizeof line - 2) len = sizeof line - 2;
  /* text: the fields as " key=value" after the message */
  for (size_t i = 0; i < nfields && len < sizeof line - 2; i++) {
    m = snprintf(line + len, sizeof line - 1 - len, " %s=%s", fields[i].key,
                 fields[i].value ? fields[i].value : "-");
    len += m < 0 ? 0 : (size_t)m;
    if (len > sizeof line - 2) len = sizeof line - 2;
  }
  line[len++] = '\n';
  /* One write per record so that lines from workers never interleave. */
  fwrite(line, 1, len, stderr);
}

void acs_log(acs_log_level lvl, const char *area, const char *fmt, ...) {
  if (!acs_log_enabled(lvl)) return;
  va_list ap;
  va_start(ap, fmt);
  log_v(lvl, area, NULL, 0, fmt, ap);
  va_end(ap);
}

void acs_log_fields(acs_log_level lvl, const char *area, const acs_log_field *fields,
                    size_t nfields, const char *fmt, ...) {
  if (!acs_log_enabled(lvl)) return;
  va_list ap;
  va_start(ap, fmt);
  log_v(lvl, area, fields, nfields, fmt, ap);
  va_end(ap);
}
