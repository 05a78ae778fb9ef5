/* auth_throttle.c: failure counts in a bounded, set-associative table
 * (acs_auth_throttle.h). */
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "session/acs_auth_throttle.h"

#define WAYS 8
#define KEY_MAX 96

typedef struct entry {
  uint64_t hash;
  uint64_t first_s, last_s; /* the window's first failure, the last one */
  unsigned count;           /* 0: free */
  char key[KEY_MAX];
} entry;

struct acs_auth_throttle {
  entry *e;
  size_t nsets;
  unsigned max, window_s;
};

static uint64_t fnv(const char *s) {
  uint64_t h = 1469598103934665603ULL;
  for (size_t i = 0; s[i] && i < KEY_MAX - 1; i++) h = (h ^ (unsigned char)s[i]) * 1099511628211ULL;
  return h;
}

acs_auth_throttle *acs_auth_throttle_new(size_t slots, unsigned max, unsigned window_s) {
  acs_auth_throttle *t = calloc(1, sizeof *t);
  if (!t) return NULL;
  t->nsets = slots < WAYS ? 1 : (slots + WAYS - 1) / WAYS;
  t->max = max ? max : 1;
  t->window_s = window_s;
  t->e = calloc(t->nsets * WAYS, sizeof *t->e);
  if (!t->e) {
    free(t);
    return NULL;
  }
  return t;
}

void acs_auth_throttle_free(acs_auth_throttle *t) {
  if (!t) return;
  free(t->e);
  free(t);
}

static bool same(const entry *e, uint64_t h, const char *key) {
  return e->count && e->hash == h && strncmp(e->key, key, KEY_MAX - 1) == 0;
}

static entry *find(const acs_auth_throttle *t, const char *key, uint64_t h) {
  entry *set = t->e + (h % t->nsets) * WAYS;
  for (int i = 0; i < WAYS; i++)
    if (same(&set[i], h, key)) return &set[i];
  return NULL;
}

unsigned acs_auth_throttle_blocked(const acs_auth_throttle *t, const char *key, uint64_t now_s) {
  const entry *e = find(t, key, fnv(key));
  if (!e || e->count < t->max || now_s >= e->last_s + t->window_s) return 0;
  return (unsigned)(e->last_s + t->window_s - now_s);
}

unsigned acs_auth_throttle_fail(acs_auth_throttle *t, const char *key, uint64_t now_s) {
  uint64_t h = fnv(key);
  entry *e = find(t, key, h);
  if (!e) {
    entry *set = t->e + (h % t->nsets) * WAYS;
    e = &set[0];
    for (int i = 0; i < WAYS && e->count; i++)
      if (!set[i].count || set[i].last_s < e->last_s) e = &set[i];
    memset(e, 0, sizeof *e);
    e->hash = h;
    strncpy(e->key, key, KEY_MAX - 1);
  }
  if (e->count && now_s >= e->last_s + t->window_s) e->count = 0; /* a new window */
  if (!e->count) e->first_s = now_s;
  e->count++;
  e->last_s = now_s;
  return e->count;
}

void acs_auth_throttle_clear(acs_auth_throttle *t, const char *key) {
  entry *e = find(t, key, fnv(key));
  if (e) memset(e, 0, sizeof *e);
}

/* --- the shared sketch */

#define SK_ROWS 2
#define SK_SLOTS 32768

typedef struct sk_slot {
  _Atomic uint32_t count;
  _Atomic uint32_t last_s; /* low 32 bits of the time: windows are short */
} sk_slot;

struct acs_auth_sketch {
  sk_slot s[SK_ROWS][SK_SLOTS];
  unsigned max, window_s;
};

acs_auth_sketch *acs_auth_sketch_new(unsigned max, unsigned window_s) {
  acs_auth_sketch *k = calloc(1, sizeof *k);
  if (!k) return NULL;
  k->max = max ? max : 1;
  k->window_s = window_s;
  return k;
}

void acs_auth_sketch_free(acs_auth_sketch *k) { free(k); }

static size_t sk_index(const char *key, int row) {
  uint64_t h = fnv(key);
  return (size_t)(row ? (h >> 32) ^ (h * 0x9e3779b97f4a7c15ULL >> 17) : h) % SK_SLOTS;
}

unsigned acs_auth_sketch_blocked(const acs_auth_sketch *k, const char *key, uint64_t now_s) {
  uint32_t now = (uint32_t)now_s;
  unsigned left = 0;
  for (int r = 0; r < SK_ROWS; r++) {
    const sk_slot *s = &k->s[r][sk_index(key, r)];
    uint32_t c = atomic_load_explicit(&s->count, memory_order_relaxed);
    uint32_t last = atomic_load_explicit(&s->last_s, memory_order_relaxed);
    uint32_t age = now - last;
    if (c < k->max || age >= k->window_s) return 0;
    unsigned l = k->window_s - age;
    if (!left || l < left) left = l;
  }
  return left;
}

unsigned acs_auth_sketch_fail(acs_auth_sketch *k, const char *key, uint64_t now_s) {
  uint32_t now = (uint32_t)now_s;
  unsigned least = 0;
  for (int r = 0; r < SK_ROWS; r++) {
    sk_slot *s = &k->s[r][sk_index(key, r)];
    uint32_t last = atomic_exchange_explicit(&s->last_s, now, memory_order_relaxed);
    uint32_t c;
    if (now - last >= k->window_s) {
      atomic_store_explicit(&s->count, 1, memory_order_relaxed); /* a new window */
      c = 1;
    } else {
      c = atomic_fetch_add_explicit(&s->count, 1, memory_order_relaxed) + 1;
    }
    if (!least || c < least) least = c;
  }
  return least;
}
