/* acs_http_range.h: conditional and partial GETs (RFC 9110 13 and 14),
 * pure: a Range header against a representation's size, and entity-tag
 * lists (If-None-Match, If-Range) against its ETag. Used by the file
 * server. No I/O. */
#ifndef ACS_HTTP_RANGE_H
#define ACS_HTTP_RANGE_H

#include <stdbool.h>
#include <stdint.h>

typedef enum acs_http_range_kind {
  ACS_RANGE_IGNORE = 0,    /* answer the whole representation (200) */
  ACS_RANGE_OK,            /* answer [first, last] (206) */
  ACS_RANGE_UNSATISFIABLE, /* 416 with Content-Range: bytes * /size */
} acs_http_range_kind;

/* A Range value ("bytes=0-499", "bytes=500-", "bytes=-500") against a
 * representation of size bytes: one range, its bytes [*first, *last]
 * (inclusive, clipped to the size). Several ranges, another unit and
 * malformed values are ignored (a server may answer the whole, RFC 9110
 * 14.2); a range that starts at or past the end (or a zero suffix, or any
 * range of an empty representation) is unsatisfiable. */
acs_http_range_kind acs_http_range_parse(const char *value, uint64_t size, uint64_t *first,
                                         uint64_t *last);

/* Does a list of entity tags ("\"a\", W/\"b\"", or "*") match etag (a
 * quoted strong tag, "\"hex\"")? weak: the weak comparison (If-None-Match:
 * W/"x" matches "x"); otherwise strong (If-Range: a weak tag never
 * matches). "*" matches any. */
bool acs_http_etag_match(const char *list, const char *etag, bool weak);

#endif
