/* acs_match.h: bounded text matchers for policies' preset preconditions
 * (docs/policies.md, "Presets"): prefix, substring, one of a set, and
 * regular expressions by PCRE2 under a step budget, so that no pattern a
 * policy writes can stall a worker (catastrophic backtracking ends the
 * match as "no match", reported as ACS_ERANGE). */
#ifndef ACS_MATCH_H
#define ACS_MATCH_H

#include <stdbool.h>
#include <stddef.h>

/* Longest regular expression accepted, bytes (as the device query's). */
#define ACS_MATCH_REGEX_MAX 256
/* Backtracking steps of one regular-expression match (PCRE2's match
 * limit), and its depth limit. */
#define ACS_MATCH_STEPS 20000
#define ACS_MATCH_DEPTH 200

bool acs_match_prefix(const char *s, size_t n, const char *prefix, size_t pn);
bool acs_match_contains(const char *s, size_t n, const char *needle, size_t nn);

/* A compiled regular expression (PCRE2 syntax, UTF-8, no JIT). */
typedef struct acs_regex acs_regex;

/* Compiles pattern (n bytes: 1..ACS_MATCH_REGEX_MAX). Returns 0, ACS_EINVAL
 * with a message "at N: ..." in err (a bad or too long pattern), or
 * ACS_ENOMEM. */
int acs_regex_compile(const char *pattern, size_t n, acs_regex **out, char *err, size_t errlen);
/* 1 when s (n bytes) matches somewhere (anchor with ^ and $), 0 when not,
 * ACS_ERANGE when the step budget ran out (count it as no match), or
 * ACS_ENOMEM. */
int acs_regex_match(const acs_regex *re, const char *s, size_t n);
void acs_regex_free(acs_regex *re);

#endif
