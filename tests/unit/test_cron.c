/* test_cron.c: cron expressions for preset schedules: parsing (and its
 * errors), matching, and acs_cron_prev() against a brute force over
 * gmtime_r() minute by minute, for many expressions and instants. */
#include <time.h>

#include "acs_test.h"
#include "core/acs_err.h"
#include "session/acs_cron.h"

static int64_t utc(int y, int mo, int d, int h, int mi) {
  struct tm tm = {.tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d, .tm_hour = h, .tm_min = mi};
  return (int64_t)timegm(&tm);
}

/* The reference: the fields of gmtime_r(), Vixie cron's day rule. */
static bool ref_match(const char *expr, const acs_cron *c, int64_t t) {
  (void)expr;
  time_t tt = (time_t)t;
  struct tm tm;
  gmtime_r(&tt, &tm);
  bool md = (c->mdays >> tm.tm_mday) & 1, wd = (c->wdays >> tm.tm_wday) & 1;
  bool day = (c->mday_star || c->wday_star) ? (md && wd) : (md || wd);
  return ((c->minutes >> tm.tm_min) & 1) && ((c->hours >> tm.tm_hour) & 1) &&
         ((c->months >> (tm.tm_mon + 1)) & 1) && day;
}

static int64_t ref_prev(const char *expr, const acs_cron *c, int64_t t, int64_t back) {
  for (int64_t m = t - t % 60; m >= t - back; m -= 60)
    if (ref_match(expr, c, m)) return m;
  return -1;
}

static void parse_ok(const char *expr, acs_cron *c) {
  char err[128] = "";
  int rc = acs_cron_parse(expr, c, err, sizeof err);
  if (rc) fprintf(stderr, "'%s': %s\n", expr, err);
  CHECK_INT(rc, 0);
}

static void parse_bad(const char *expr, const char *why) {
  acs_cron c;
  char err[128] = "";
  CHECK_INT(acs_cron_parse(expr, &c, err, sizeof err), ACS_EINVAL);
  if (!strstr(err, why)) fprintf(stderr, "'%s': error '%s' lacks '%s'\n", expr, err, why);
  CHECK(strstr(err, why) != NULL);
}

int main(void) {
  acs_cron c;

  /* fields */
  parse_ok("*/15 2-4 * * *", &c);
  CHECK_INT(c.minutes, (1ull << 0) | (1ull << 15) | (1ull << 30) | (1ull << 45));
  CHECK_INT(c.hours, (1u << 2) | (1u << 3) | (1u << 4));
  CHECK(c.mday_star && c.wday_star);
  parse_ok("0 3 * jan-mar,dec sun", &c);
  CHECK_INT(c.months, (1u << 1) | (1u << 2) | (1u << 3) | (1u << 12));
  CHECK_INT(c.wdays, 1);
  parse_ok("0 0 * * 7", &c); /* 7 is Sunday */
  CHECK_INT(c.wdays, 1);
  parse_ok("5/20 * * * *", &c);
  CHECK_INT(c.minutes, (1ull << 5) | (1ull << 25) | (1ull << 45));
  parse_ok("1-10/3 * * * MON-fri", &c);
  CHECK_INT(c.minutes, (1ull << 1) | (1ull << 4) | (1ull << 7) | (1ull << 10));
  CHECK_INT(c.wdays, 0x3e);
  parse_ok("@daily", &c);
  CHECK_INT(c.minutes, 1);
  CHECK_INT(c.hours, 1);
  parse_ok("  @weekly  ", &c);
  CHECK_INT(c.wdays, 1);

  parse_bad("", "expected 5 fields");
  parse_bad("* * * *", "expected 5 fields");
  parse_bad("* * * * * *", "more than 5 fields");
  parse_bad("60 * * * *", "minute");
  parse_bad("* 24 * * *", "hour");
  parse_bad("* * 0 * *", "day of month");
  parse_bad("* * * 13 *", "month");
  parse_bad("* * * * 8", "day of week");
  parse_bad("5-1 * * * *", "minute");
  parse_bad("*/0 * * * *", "minute");
  parse_bad("1,,2 * * * *", "minute");
  parse_bad("1, * * * *", "minute");
  parse_bad("x * * * *", "minute");
  parse_bad("* * * foo *", "month");
  parse_bad("@often", "unknown shorthand");

  /* matching and the window's start */
  parse_ok("0 3 * * *", &c);
  CHECK(acs_cron_matches(&c, utc(2026, 12, 1, 3, 0) + 42));
  CHECK(!acs_cron_matches(&c, utc(2026, 12, 1, 3, 1)));
  CHECK_INT(acs_cron_prev(&c, utc(2026, 12, 1, 4, 30), 7200), utc(2026, 12, 1, 3, 0));
  CHECK_INT(acs_cron_prev(&c, utc(2026, 12, 1, 5, 30), 7200), -1); /* 2.5 h after */
  CHECK_INT(acs_cron_prev(&c, utc(2026, 12, 1, 2, 30), 86400), utc(2026, 11, 30, 3, 0));
  parse_ok("0 0 1 * *", &c); /* month boundaries and a leap day */
  CHECK_INT(acs_cron_prev(&c, utc(2028, 3, 1, 0, 0), 60), utc(2028, 3, 1, 0, 0));
  CHECK_INT(acs_cron_prev(&c, utc(2028, 2, 29, 23, 59), 40 * 86400), utc(2028, 2, 1, 0, 0));
  parse_ok("30 12 13 * 5", &c);                           /* the 13th or any Friday */
  CHECK(acs_cron_matches(&c, utc(2026, 12, 4, 12, 30)));  /* a Friday */
  CHECK(acs_cron_matches(&c, utc(2026, 12, 13, 12, 30))); /* a Sunday, the 13th */
  CHECK(!acs_cron_matches(&c, utc(2026, 12, 5, 12, 30)));

  /* against the reference */
  static const char *const exprs[] = {
      "* * * * *",     "0 * * * *",    "*/7 */5 * * *", "15 4 * * 1-5",          "0 0 29 2 *",
      "0 12 1,15 * 0", "59 23 31 * *", "0 0 * * 6,0",   "10-20/5 1 * jun-aug *", "0 9 13 * fri",
      "@monthly",      "3 3 3 3 3",
  };
  uint64_t seed = 0x9e3779b97f4a7c15ull;
  for (size_t e = 0; e < sizeof exprs / sizeof exprs[0]; e++) {
    parse_ok(exprs[e], &c);
    for (int k = 0; k < 60; k++) {
      seed = seed * 6364136223846793005ull + 1442695040888963407ull;
      int64_t t = utc(2024, 1, 1, 0, 0) + (int64_t)((seed >> 20) % (4ull * 365 * 86400));
      int64_t back = (int64_t)((seed >> 7) % (9 * 86400)) + 60;
      int64_t want = ref_prev(exprs[e], &c, t, back), got = acs_cron_prev(&c, t, back);
      if (want != got)
        fprintf(stderr, "'%s' t=%lld back=%lld\n", exprs[e], (long long)t, (long long)back);
      CHECK_INT(got, want);
      CHECK_INT(acs_cron_matches(&c, t), ref_match(exprs[e], &c, t));
    }
  }
  return acs_test_result("test_cron");
}
