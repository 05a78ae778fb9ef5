/* test_match.c: the bounded matchers of preset preconditions
 * (core/acs_match.h): prefix and substring on bytes (NULs included), PCRE2
 * regular expressions anchored or not, bad and oversized patterns refused
 * with the place of the error, and catastrophic backtracking ended by the
 * step budget (ACS_ERANGE) instead of running for minutes. */
#include <string.h>

#include "acs_test.h"
#include "core/acs_err.h"
#include "core/acs_match.h"

static int rx(const char *pattern, const char *subject) {
  acs_regex *re = NULL;
  char err[200];
  int rc = acs_regex_compile(pattern, strlen(pattern), &re, err, sizeof err);
  if (rc) return rc;
  rc = acs_regex_match(re, subject, strlen(subject));
  acs_regex_free(re);
  return rc;
}

static void test_plain(void) {
  CHECK(acs_match_prefix("LDA1234", 7, "LDA", 3));
  CHECK(acs_match_prefix("LDA", 3, "LDA", 3));
  CHECK(acs_match_prefix("LDA", 3, "", 0));
  CHECK(!acs_match_prefix("LD", 2, "LDA", 3));
  CHECK(!acs_match_prefix("lda1", 4, "LDA", 3));
  CHECK(acs_match_contains("a\0bc", 4, "\0b", 2));
  CHECK(acs_match_contains("abc", 3, "bc", 2));
  CHECK(!acs_match_contains("abc", 3, "cb", 2));
}

static void test_regex(void) {
  CHECK_INT(rx("^LDA[0-9]+$", "LDA1234"), 1);
  CHECK_INT(rx("^LDA[0-9]+$", "LDA12x"), 0);
  CHECK_INT(rx("DA1", "LDA1234"), 1); /* unanchored: anywhere */
  CHECK_INT(rx("^(HG|XG)-\\d{3}$", "XG-100"), 1);
  CHECK_INT(rx("^caf\xc3\xa9.$", "caf\xc3\xa9\xe2\x98\x83"), 1); /* UTF-8: one character */
  /* a subject that is not UTF-8: an error of the match, never a match */
  CHECK(rx("^a", "a\xff") != 1);

  acs_regex *re = NULL;
  char err[200] = "";
  CHECK_INT(acs_regex_compile("SN-(", 4, &re, err, sizeof err), ACS_EINVAL);
  CHECK(re == NULL);
  CHECK(strstr(err, "at 5:") && strstr(err, "parenthesis"));
  CHECK_INT(acs_regex_compile("", 0, &re, err, sizeof err), ACS_EINVAL);
  char big[ACS_MATCH_REGEX_MAX + 2];
  memset(big, 'a', sizeof big - 1);
  big[sizeof big - 1] = '\0';
  CHECK_INT(acs_regex_compile(big, strlen(big), &re, err, sizeof err), ACS_EINVAL);
  CHECK(strstr(err, "1 to 256 bytes"));
  big[ACS_MATCH_REGEX_MAX] = '\0';
  CHECK_INT(acs_regex_compile(big, strlen(big), &re, err, sizeof err), 0);
  acs_regex_free(re);
}

static void test_budget(void) {
  /* (a+)+$ over 40 a's and a b: 2^40 ways to split before failing */
  char subject[64];
  memset(subject, 'a', 40);
  strcpy(subject + 40, "b");
  CHECK_INT(rx("^(a+)+$", subject), ACS_ERANGE);
  /* the same pattern without the trap answers */
  subject[40] = '\0';
  CHECK_INT(rx("^(a+)+$", subject), 1);
  /* nested alternatives over a serial number (the session test's bomb) */
  CHECK_INT(rx("^(\\w|-|\\w+|[A-Z0-9-]+)*\\d[a-z]$", "SN-SCHED-1"), ACS_ERANGE);
}

int main(void) {
  test_plain();
  test_regex();
  test_budget();
  return acs_test_result("test_match");
}
