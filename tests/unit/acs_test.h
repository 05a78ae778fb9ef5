/* acs_test.h: the few macros the unit tests share. A failed check prints
 * where and what, counts, and the test carries on; main() returns
 * acs_test_result() (0 = all passed). Exit code 77 means "skipped". */
#ifndef ACS_TEST_H
#define ACS_TEST_H

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int acs_test_failures;
static int acs_test_checks;

#define CHECK(cond)                                                             \
  do {                                                                          \
    acs_test_checks++;                                                          \
    if (!(cond)) {                                                              \
      acs_test_failures++;                                                      \
      fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);  \
    }                                                                           \
  } while (0)

#define CHECK_INT(a, b)                                                          \
  do {                                                                           \
    long long va_ = (long long)(a), vb_ = (long long)(b);                        \
    acs_test_checks++;                                                           \
    if (va_ != vb_) {                                                            \
      acs_test_failures++;                                                       \
      fprintf(stderr, "%s:%d: %s == %lld, expected %s == %lld\n", __FILE__,      \
              __LINE__, #a, va_, #b, vb_);                                       \
    }                                                                            \
  } while (0)

#define CHECK_STR(a, b)                                                          \
  do {                                                                           \
    const char *sa_ = (a), *sb_ = (b);                                           \
    acs_test_checks++;                                                           \
    if (!sa_ || !sb_ || strcmp(sa_, sb_) != 0) {                                 \
      acs_test_failures++;                                                       \
      fprintf(stderr, "%s:%d: %s is \"%s\", expected \"%s\"\n", __FILE__,        \
              __LINE__, #a, sa_ ? sa_ : "(null)", sb_ ? sb_ : "(null)");         \
    }                                                                            \
  } while (0)

static inline int acs_test_result(const char *name) {
  fprintf(stderr, "%s: %d checks, %d failed\n", name, acs_test_checks, acs_test_failures);
  return acs_test_failures ? 1 : 0;
}

#endif
