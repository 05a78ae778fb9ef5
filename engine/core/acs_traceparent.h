/* acs_traceparent.h: the W3C Trace Context `traceparent` header
 * (https://www.w3.org/TR/trace-context/): version-traceid-parentid-flags,
 * lower-case hex. */
#ifndef ACS_TRACEPARENT_H
#define ACS_TRACEPARENT_H

#include <stdbool.h>
#include <stddef.h>

#define ACS_TRACEPARENT_LEN 55 /* "00-" 32 "-" 16 "-" 2 */

/* Parses a traceparent header value (n bytes). Valid: version 00 exactly
 * 55 bytes; a later version (not ff) its first 55 bytes followed by the end
 * or '-'; a trace-id and a parent-id not all zeros. On success true, the
 * version-00 form of it in out (56 bytes with the NUL) and its trace-id in
 * trace_id (33 bytes); an invalid value is to be ignored (the W3C rule). */
bool acs_traceparent_parse(const char *s, size_t n, char out[56], char trace_id[33]);

#endif
