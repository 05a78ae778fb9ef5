/* acs_cron.h: cron expressions for preset schedules (pure: no I/O, no Lua).
 *
 * Five fields, in UTC: minute (0-59), hour (0-23), day of month (1-31),
 * month (1-12 or jan-dec), day of week (0-7, 0 and 7 Sunday, or sun-sat).
 * Each field is "*", a number, a range "a-b", a step "*\/n" or "a-b/n", or a
 * comma-separated list of those. As in Vixie cron, when both the day of
 * month and the day of week are restricted a day matching either matches.
 * The shorthands @hourly, @daily (@midnight), @weekly, @monthly and @yearly
 * (@annually) are accepted. */
#ifndef ACS_CRON_H
#define ACS_CRON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct acs_cron {
  uint64_t minutes; /* bit m */
  uint32_t hours;   /* bit h */
  uint32_t mdays;   /* bit d, 1..31 */
  uint16_t months;  /* bit m, 1..12 */
  uint8_t wdays;    /* bit w, 0..6 (Sunday 0) */
  bool mday_star, wday_star;
} acs_cron;

/* Parses expr. 0, or ACS_EINVAL with the reason in err. */
int acs_cron_parse(const char *expr, acs_cron *out, char *err, size_t errlen);

/* Does the minute that contains t (seconds since the epoch, UTC) match? */
bool acs_cron_matches(const acs_cron *c, int64_t t);

/* The start (seconds, a whole minute) of the latest matching minute at or
 * before t, looking back at most max_back seconds; -1 when there is none in
 * that span. */
int64_t acs_cron_prev(const acs_cron *c, int64_t t, int64_t max_back);

#endif
