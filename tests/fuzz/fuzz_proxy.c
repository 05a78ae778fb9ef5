/* fuzz_proxy.c: libFuzzer target for the PROXY protocol header parser
 * (net/acs_proxy.h), v2 and v1.
 *
 * Invariants: a header's length is within the input and its limits
 * (536 bytes); every shorter prefix of an accepted header is "need more"
 * (0), so that bytes arriving one at a time give the same answer; a
 * refusal stays a refusal with more bytes; what looks_like says agrees with
 * the parser (a refusal of a PROXY-looking input names the header); the
 * address is a NUL-terminated string. Violations abort(). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/acs_err.h"
#include "net/acs_proxy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_REQUIRE(c)                                                              \
  do {                                                                               \
    if (!(c)) {                                                                      \
      fprintf(stderr, "fuzz_proxy: invariant failed: %s (line %d)\n", #c, __LINE__); \
      abort();                                                                       \
    }                                                                                \
  } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  acs_proxy_info info;
  const char *why = NULL;
  int n = acs_proxy_parse(data, size, &info, &why);
  FUZZ_REQUIRE(n == ACS_EPROXY || (n >= 0 && (size_t)n <= size && n <= 536));
  if (n == ACS_EPROXY) FUZZ_REQUIRE(why != NULL);
  if (n > 0) {
    FUZZ_REQUIRE(memchr(info.src, '\0', sizeof info.src) != NULL);
    FUZZ_REQUIRE(info.local || info.src[0]);
    FUZZ_REQUIRE(acs_proxy_looks_like(data, size));
    for (int k = 0; k < n; k++) {
      acs_proxy_info p;
      FUZZ_REQUIRE(acs_proxy_parse(data, (size_t)k, &p, NULL) == 0);
    }
  }
  if (n == 0) FUZZ_REQUIRE(size == 0 || acs_proxy_looks_like(data, size));
  /* once refused, more bytes cannot make it valid */
  for (size_t k = 1; n > 0 && k <= size; k++) {
    acs_proxy_info p;
    int m = acs_proxy_parse(data, k, &p, NULL);
    if (m == ACS_EPROXY) FUZZ_REQUIRE(0);
  }
  return 0;
}
