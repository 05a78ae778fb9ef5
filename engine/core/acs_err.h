/* acs_err.h: the one error scheme of acsd.
 *
 * Every fallible function returns 0 on success or a negative code: either a
 * negated errno value or one of the ACS_E* codes below. The codes and their
 * messages come from one X-macro table, as libuv's UV_ERRNO_MAP does.
 * A function that returns an error never calls its callback. */
#ifndef ACS_ERR_H
#define ACS_ERR_H

#include <errno.h>

/* Codes below -1000 so that they never collide with negated errno values. */
#define ACS_ERR_MAP(X)                                                        \
  X(NOMEM, -1001, "out of memory")                                            \
  X(INVAL, -1002, "invalid argument")                                         \
  X(XML, -1003, "malformed XML")                                              \
  X(DTD, -1004, "document type declarations are not accepted")                \
  X(DEPTH, -1005, "element nesting too deep")                                 \
  X(TOOBIG, -1006, "document too large")                                      \
  X(SOAP, -1007, "not a SOAP envelope")                                       \
  X(NS, -1008, "unknown or missing CWMP namespace")                           \
  X(RPC, -1009, "malformed CWMP message")                                     \
  X(HTTP, -1010, "malformed HTTP request")                                    \
  X(HDRSIZE, -1011, "HTTP header block too large")                            \
  X(BODYSIZE, -1012, "HTTP body too large")                                   \
  X(ENCODING, -1013, "unsupported or corrupt content encoding")               \
  X(TIMEOUT, -1014, "timed out")                                              \
  X(CONFIG, -1015, "invalid configuration")                                   \
  X(RANGE, -1016, "value out of range")                                       \
  X(NOTFOUND, -1017, "not found")                                             \
  X(STATE, -1018, "operation not valid in this state")                        \
  X(PG, -1019, "database error")                                              \
  X(UNAVAILABLE, -1020, "store unavailable")                                  \
  X(CANCELED, -1021, "operation cancelled")                                   \
  X(ABORTED, -1022, "skipped: an earlier statement of its transaction failed") \
  X(AGAIN, -1023, "not now: try again later")                                 \
  X(PROXY, -1040, "bad or missing PROXY protocol header")                     \
  X(FENCED, -1041, "a newer session holds the device (stale fencing token)")  \
  X(COORD, -1042, "Redis unavailable")

enum {
#define ACS_ERR_ENUM(name, code, msg) ACS_E##name = (code),
  ACS_ERR_MAP(ACS_ERR_ENUM)
#undef ACS_ERR_ENUM
};

/* Message for a code returned by any acs_ function (thread-safe, static). */
const char *acs_strerror(int err);
/* Symbolic name ("ACS_EXML", "ENOENT"), for logs and tests. */
const char *acs_errname(int err);

/* Assertions. acs_require() aborts on a broken invariant in every build;
 * acs_fails_assert() logs a broken expectation and returns true so the caller
 * can recover (Knot's kr_require / kr_fails_assert). */
void acs__assert_fail(const char *expr, const char *file, int line, int fatal);
#define acs_require(e) ((e) ? (void)0 : acs__assert_fail(#e, __FILE__, __LINE__, 1))
#define acs_fails_assert(e) ((e) ? 0 : (acs__assert_fail(#e, __FILE__, __LINE__, 0), 1))

#endif
