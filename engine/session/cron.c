/* cron.c: cron expressions (acs_cron.h). Dates are computed from day
 * numbers (H. Hinnant's civil calendar algorithm), not with gmtime(), so
 * the code is pure and the same on every platform. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/acs_err.h"
#include "session/acs_cron.h"

typedef struct field {
  const char *what;
  int lo, hi;
  const char *const *names; /* names[i] is the value lo + i, or NULL */
} field;

static const char *const month_names[] = {"jan", "feb", "mar", "apr", "may", "jun", "jul",
                                          "aug", "sep", "oct", "nov", "dec", NULL};
static const char *const day_names[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat", NULL};

static const field fields[5] = {
    {"minute", 0, 59, NULL},          {"hour", 0, 23, NULL},
    {"day of month", 1, 31, NULL},    {"month", 1, 12, month_names},
    {"day of week", 0, 7, day_names},
};

/* A number or a name at *p; advances *p. -1 when neither. */
static int value(const field *f, const char **p) {
  const char *s = *p;
  if (isdigit((unsigned char)*s)) {
    long v = 0;
    while (isdigit((unsigned char)*s) && v < 1000) v = v * 10 + (*s++ - '0');
    *p = s;
    return (int)v;
  }
  for (int i = 0; f->names && f->names[i]; i++) {
    if (strncasecmp(s, f->names[i], 3) == 0 && !isalpha((unsigned char)s[3])) {
      *p = s + 3;
      return f->lo + i;
    }
  }
  return -1;
}

/* One field's text [s, end) into a bit set. */
static int parse_field(const field *f, const char *s, const char *end, uint64_t *bits, bool *star,
                       char *err, size_t errlen) {
  *bits = 0;
  *star = false;
  const char *p = s;
  while (p < end) {
    int lo, hi, step = 1;
    if (*p == '*') {
      lo = f->lo;
      hi = f->hi;
      p++;
      *star = true;
    } else {
      lo = value(f, &p);
      hi = lo;
      if (lo >= 0 && p < end && *p == '-') {
        p++;
        hi = value(f, &p);
      }
      if (lo < 0 || hi < 0) goto bad;
    }
    if (p < end && *p == '/') {
      p++;
      step = value(f, &p);
      if (step <= 0) goto bad;
      if (lo == hi && !*star) hi = f->hi; /* "5/15": from 5 to the end */
      *star = false;
    }
    if (lo < f->lo || hi > f->hi || lo > hi) {
      snprintf(err, errlen, "%s: %d-%d is outside %d-%d", f->what, lo, hi, f->lo, f->hi);
      return ACS_EINVAL;
    }
    for (int v = lo; v <= hi; v += step) *bits |= 1ull << v;
    if (p < end && *p != ',') goto bad;
    if (p < end) p++;
    if (p == end && p[-1] == ',') goto bad;
  }
  if (*bits) return 0;
bad:
  snprintf(err, errlen, "%s: cannot read '%.*s'", f->what, (int)(end - s), s);
  return ACS_EINVAL;
}

int acs_cron_parse(const char *expr, acs_cron *out, char *err, size_t errlen) {
  static const struct {
    const char *name, *expr;
  } macros[] = {{"@hourly", "0 * * * *"},  {"@daily", "0 0 * * *"},   {"@midnight", "0 0 * * *"},
                {"@weekly", "0 0 * * 0"},  {"@monthly", "0 0 1 * *"}, {"@yearly", "0 0 1 1 *"},
                {"@annually", "0 0 1 1 *"}};
  if (!expr) {
    snprintf(err, errlen, "no cron expression");
    return ACS_EINVAL;
  }
  while (isspace((unsigned char)*expr)) expr++;
  for (size_t i = 0; i < sizeof macros / sizeof macros[0]; i++) {
    size_t n = strlen(macros[i].name);
    if (strncasecmp(expr, macros[i].name, n) == 0) {
      const char *rest = expr + n;
      while (isspace((unsigned char)*rest)) rest++;
      if (!*rest) return acs_cron_parse(macros[i].expr, out, err, errlen);
    }
  }
  if (*expr == '@') {
    snprintf(err, errlen, "unknown shorthand '%.20s' (@hourly, @daily, @weekly, @monthly, @yearly)",
             expr);
    return ACS_EINVAL;
  }
  memset(out, 0, sizeof *out);
  const char *p = expr;
  uint64_t bits[5];
  bool star[5];
  for (int i = 0; i < 5; i++) {
    while (isspace((unsigned char)*p)) p++;
    const char *s = p;
    while (*p && !isspace((unsigned char)*p)) p++;
    if (p == s) {
      snprintf(err, errlen, "expected 5 fields (minute hour day month weekday), got %d", i);
      return ACS_EINVAL;
    }
    int rc = parse_field(&fields[i], s, p, &bits[i], &star[i], err, errlen);
    if (rc) return rc;
  }
  while (isspace((unsigned char)*p)) p++;
  if (*p) {
    snprintf(err, errlen, "more than 5 fields at '%s'", p);
    return ACS_EINVAL;
  }
  out->minutes = bits[0];
  out->hours = (uint32_t)bits[1];
  out->mdays = (uint32_t)bits[2];
  out->months = (uint16_t)bits[3];
  uint64_t w = bits[4];
  if (w & (1u << 7)) w = (w | 1u) & 0x7f; /* 7 is Sunday too */
  out->wdays = (uint8_t)w;
  out->mday_star = star[2];
  out->wday_star = star[4];
  return 0;
}

/* --- the calendar */

static int64_t floor_div(int64_t a, int64_t b) {
  return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

/* Day number (days since 1970-01-01) to year, month 1..12, day 1..31. */
static void civil(int64_t z, int *mon, int *mday) {
  z += 719468;
  int64_t era = floor_div(z, 146097);
  int64_t doe = z - era * 146097;
  int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  int64_t mp = (5 * doy + 2) / 153;
  *mday = (int)(doy - (153 * mp + 2) / 5 + 1);
  *mon = (int)(mp < 10 ? mp + 3 : mp - 9);
}

static bool day_matches(const acs_cron *c, int64_t day) {
  int mon, mday;
  civil(day, &mon, &mday);
  if (!(c->months & (1u << mon))) return false;
  int wday = (int)((day % 7 + 11) % 7); /* 1970-01-01 was a Thursday (4) */
  bool md = (c->mdays >> mday) & 1, wd = (c->wdays >> wday) & 1;
  if (c->mday_star || c->wday_star) return md && wd;
  return md || wd; /* both restricted: either */
}

bool acs_cron_matches(const acs_cron *c, int64_t t) {
  int64_t day = floor_div(t, 86400), sod = t - day * 86400;
  int hour = (int)(sod / 3600), minute = (int)(sod % 3600 / 60);
  return day_matches(c, day) && ((c->hours >> hour) & 1) && ((c->minutes >> minute) & 1);
}

static int highest_bit_upto(uint64_t bits, int upto) {
  for (int i = upto; i >= 0; i--)
    if ((bits >> i) & 1) return i;
  return -1;
}

int64_t acs_cron_prev(const acs_cron *c, int64_t t, int64_t max_back) {
  int64_t limit = t - max_back;
  int64_t day = floor_div(t, 86400), sod = t - day * 86400;
  int hour = (int)(sod / 3600), minute = (int)(sod % 3600 / 60);
  /* at most a span of max_back, and never more than 4 years of days */
  for (int guard = 0; guard < 1500; guard++, day--, hour = 23, minute = 59) {
    if ((day + 1) * 86400 <= limit) return -1;
    if (!day_matches(c, day)) continue;
    for (int h = highest_bit_upto(c->hours, hour); h >= 0;
         h = highest_bit_upto(c->hours, h - 1), minute = 59) {
      int m = highest_bit_upto(c->minutes, h == hour ? minute : 59);
      if (m < 0) continue;
      int64_t at = day * 86400 + h * 3600 + m * 60;
      return at >= limit ? at : -1;
    }
  }
  return -1;
}
