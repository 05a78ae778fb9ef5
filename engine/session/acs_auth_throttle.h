/* acs_auth_throttle.h: failed authentications counted per key (a source
 * address, a device id) in a bounded table, and the lockout they earn.
 *
 * A key that failed max times within window_s seconds is locked out until
 * window_s seconds after its last failure. The table holds at most its
 * slot count of keys (8-way sets; a full set forgets its oldest entry), so
 * an attacker spraying keys costs no memory, only the forgetting of old
 * counts. Keys are truncated to 95 bytes.
 *
 * Threading: one table per worker thread; no locks. */
#ifndef ACS_AUTH_THROTTLE_H
#define ACS_AUTH_THROTTLE_H

#include <stddef.h>
#include <stdint.h>

typedef struct acs_auth_throttle acs_auth_throttle;

/* A table of at least slots entries (rounded up to a multiple of 8);
 * NULL when out of memory. */
acs_auth_throttle *acs_auth_throttle_new(size_t slots, unsigned max, unsigned window_s);
void acs_auth_throttle_free(acs_auth_throttle *t);

/* Seconds left of key's lockout at now_s, 0 when it may try. */
unsigned acs_auth_throttle_blocked(const acs_auth_throttle *t, const char *key, uint64_t now_s);
/* Counts a failure of key at now_s; returns the failures counted in the
 * current window. */
unsigned acs_auth_throttle_fail(acs_auth_throttle *t, const char *key, uint64_t now_s);
/* Forgets key (a success). */
void acs_auth_throttle_clear(acs_auth_throttle *t, const char *key);

/* The same counts shared by every worker of an instance, lock-free: a
 * count-min sketch (two rows of atomic counters, a key counts in one slot
 * of each; its count is the smaller). Keys that share both slots share a
 * count, so a key may be locked out by another's failures: rarely, with
 * 2 x 32768 slots. For source addresses, which any worker may see. */
typedef struct acs_auth_sketch acs_auth_sketch;
acs_auth_sketch *acs_auth_sketch_new(unsigned max, unsigned window_s);
void acs_auth_sketch_free(acs_auth_sketch *k);
unsigned acs_auth_sketch_blocked(const acs_auth_sketch *k, const char *key, uint64_t now_s);
unsigned acs_auth_sketch_fail(acs_auth_sketch *k, const char *key, uint64_t now_s);

#endif
