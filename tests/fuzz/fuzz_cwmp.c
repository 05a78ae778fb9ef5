/* fuzz_cwmp.c: libFuzzer target for the CWMP codec.
 *
 * Any input: acs_cwmp_parse() must return (no crash, no sanitizer report)
 * and, when it fails, say why. When it succeeds with an encodable kind, the
 * message must survive the codec's own round trip:
 *   parse(input) = m1 -> encode = e1 -> parse(e1) = m2 (must succeed)
 *   m1 == m2 as the codec guarantees it (msg_equal_wire: NULL and "" are
 *   one value, a missing dateTime is the unknown time, fault defaults, ...)
 *   encode(m2) = e2 must be byte-identical to e1.
 * Any disagreement abort()s with a description on stderr. Seeds are in
 * corpus/cwmp/, the dictionary in cwmp.dict; replay.c runs the corpus under
 * ctest. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/acs_arena.h"
#include "core/acs_buf.h"
#include "cwmp/acs_cwmp.h"
#include "../unit/cwmp_samples.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fail(const char *what, const acs_buf *e1, const acs_buf *e2) {
  fprintf(stderr, "fuzz_cwmp: %s\n", what);
  if (e1 && e1->data) fprintf(stderr, "---- first encoding\n%.*s\n", (int)e1->len, e1->data);
  if (e2 && e2->data) fprintf(stderr, "---- second encoding\n%.*s\n", (int)e2->len, e2->data);
  abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  acs_arena a1, a2;
  acs_arena_init(&a1, 0);
  acs_arena_init(&a2, 0);
  acs_buf e1 = ACS_BUF_INIT, e2 = ACS_BUF_INIT;
  acs_cwmp_msg m1, m2;
  acs_cwmp_error err;

  int rc = acs_cwmp_parse((const char *)data, size, &a1, NULL, &m1, &err);
  if (rc != 0) {
    if (rc != err.code || err.msg[0] == '\0' || !memchr(err.msg, '\0', sizeof err.msg))
      fail("parse failed without a proper error", NULL, NULL);
    goto out;
  }
  if (m1.kind == ACS_CWMP_UNKNOWN && !m1.unknown_method)
    fail("UNKNOWN without unknown_method", NULL, NULL);
  if (!sample_kind_ok(m1.kind)) goto out; /* NONE, UNKNOWN: nothing to encode */

  if (acs_cwmp_encode(&m1, &e1) != 0) fail("encode of a parsed message failed", NULL, NULL);
  /* The encoding may be larger (escaping, elements the input left out), so
   * the second parse gets room; the depth of an encoding is fixed. */
  acs_cwmp_parse_limits big = ACS_CWMP_PARSE_LIMITS_DEFAULT;
  big.max_bytes = (size_t)1 << 40;
  big.max_elements = (size_t)1 << 40;
  rc = acs_cwmp_parse(e1.data, e1.len, &a2, &big, &m2, &err);
  if (rc != 0) {
    fprintf(stderr, "fuzz_cwmp: the codec's own encoding does not parse: %s\n", err.msg);
    fail("reparse failed", &e1, NULL);
  }
  if (!msg_equal_wire(&m1, &m2)) {
    fprintf(stderr, "fuzz_cwmp: round trip changed the message: %s\n", msg_equal_why);
    fail("parse/encode disagreement", &e1, NULL);
  }
  if (acs_cwmp_encode(&m2, &e2) != 0) fail("second encode failed", &e1, NULL);
  if (e1.len != e2.len || memcmp(e1.data, e2.data, e1.len) != 0)
    fail("encode(parse(encode(m))) differs from encode(m)", &e1, &e2);

out:
  acs_buf_free(&e1);
  acs_buf_free(&e2);
  acs_arena_reset(&a1);
  acs_arena_reset(&a2);
  return 0;
}
