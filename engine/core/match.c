/* match.c: bounded text matchers (acs_match.h). Regular expressions are
 * PCRE2's interpreter (no JIT) with a match limit, a depth limit and a heap
 * limit per match: a pattern that would backtrack for minutes stops after
 * ACS_MATCH_STEPS steps. Patterns are UTF-8; a subject that is not valid
 * UTF-8 is an error of the match, counted as no match. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/acs_err.h"
#include "core/acs_match.h"

struct acs_regex {
  pcre2_code *code;
  pcre2_match_context *mctx;
};

bool acs_match_prefix(const char *s, size_t n, const char *prefix, size_t pn) {
  return pn <= n && memcmp(s, prefix, pn) == 0;
}

bool acs_match_contains(const char *s, size_t n, const char *needle, size_t nn) {
  return memmem(s, n, needle, nn) != NULL;
}

int acs_regex_compile(const char *pattern, size_t n, acs_regex **out, char *err, size_t errlen) {
  *out = NULL;
  if (n == 0 || n > ACS_MATCH_REGEX_MAX) {
    snprintf(err, errlen, "a regular expression is 1 to %d bytes", ACS_MATCH_REGEX_MAX);
    return ACS_EINVAL;
  }
  acs_regex *re = calloc(1, sizeof *re);
  if (!re) return ACS_ENOMEM;
  int code;
  PCRE2_SIZE at;
  re->code = pcre2_compile((PCRE2_SPTR)pattern, n, PCRE2_UTF, &code, &at, NULL);
  if (!re->code) {
    PCRE2_UCHAR msg[160];
    if (pcre2_get_error_message(code, msg, sizeof msg) < 0) snprintf((char *)msg, sizeof msg, "?");
    snprintf(err, errlen, "at %zu: %s", (size_t)at + 1, (const char *)msg);
    free(re);
    return ACS_EINVAL;
  }
  re->mctx = pcre2_match_context_create(NULL);
  if (!re->mctx) {
    acs_regex_free(re);
    return ACS_ENOMEM;
  }
  pcre2_set_match_limit(re->mctx, ACS_MATCH_STEPS);
  pcre2_set_depth_limit(re->mctx, ACS_MATCH_DEPTH);
  pcre2_set_heap_limit(re->mctx, 1024); /* KiB */
  *out = re;
  return 0;
}

int acs_regex_match(const acs_regex *re, const char *s, size_t n) {
  pcre2_match_data *md = pcre2_match_data_create_from_pattern(re->code, NULL);
  if (!md) return ACS_ENOMEM;
  int rc = pcre2_match(re->code, (PCRE2_SPTR)s, n, 0, 0, md, re->mctx);
  pcre2_match_data_free(md);
  if (rc >= 0) return 1;
  if (rc == PCRE2_ERROR_NOMATCH) return 0;
  if (rc == PCRE2_ERROR_NOMEMORY) return ACS_ENOMEM;
  return ACS_ERANGE; /* the match, depth or heap limit; an invalid subject */
}

void acs_regex_free(acs_regex *re) {
  if (!re) return;
  pcre2_match_context_free(re->mctx);
  pcre2_code_free(re->code);
  free(re);
}
