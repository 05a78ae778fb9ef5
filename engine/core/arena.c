#include "core/acs_arena.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/acs_err.h"

struct acs_arena_block {
  acs_arena_block *next;
  size_t size; /* usable bytes after the header */
  size_t used;
  _Alignas(16) unsigned char mem[];
};

struct acs_arena_cleanup {
  acs_arena_cleanup *next;
  void (*fn)(void *);
  void *data;
};

#define ALIGN16(n) (((n) + 15u) & ~(size_t)15u)

void acs_arena_init(acs_arena *a, size_t block_size) {
  memset(a, 0, sizeof *a);
  a->block_size = block_size ? block_size : 8192;
}

void acs_arena_reset(acs_arena *a) {
  for (acs_arena_cleanup *c = a->cleanups; c; c = c->next) c->fn(c->data);
  a->cleanups = NULL;
  acs_arena_block *b = a->head;
  while (b) {
    acs_arena_block *next = b->next;
    free(b);
    b = next;
  }
  a->head = NULL;
  a->total = 0;
}

void acs_arena_rewind(acs_arena *a) {
  for (acs_arena_cleanup *c = a->cleanups; c; c = c->next) c->fn(c->data);
  a->cleanups = NULL;
  acs_arena_block *keep = NULL;
  for (acs_arena_block *b = a->head, *next; b; b = next) {
    next = b->next;
    if (!keep && b->size == a->block_size) {
      keep = b;
      continue;
    }
    free(b);
  }
  a->head = keep;
  a->total = 0;
  if (keep) {
    keep->next = NULL;
    keep->used = 0;
    a->total = sizeof *keep + keep->size;
  }
}

void *acs_arena_alloc(acs_arena *a, size_t n) {
  if (n > SIZE_MAX / 2) return NULL;
  n = ALIGN16(n ? n : 1);
  acs_arena_block *b = a->head;
  if (!b || b->size - b->used < n) {
    size_t size = n > a->block_size / 4 ? n : a->block_size;
    size_t bytes = sizeof *b + size;
    if (a->limit && a->total + bytes > a->limit) return NULL;
    acs_arena_block *nb = malloc(bytes);
    if (!nb) return NULL;
    nb->size = size;
    nb->used = 0;
    a->total += bytes;
    if (b && size != a->block_size) {
      /* A large, dedicated block goes behind the current one so the current
       * block's free space stays usable. */
      nb->next = b->next;
      b->next = nb;
    } else {
      nb->next = b;
      a->head = nb;
    }
    b = nb;
  }
  void *p = b->mem + b->used;
  b->used += n;
  return p;
}

void *acs_arena_calloc(acs_arena *a, size_t n, size_t size) {
  if (size && n > SIZE_MAX / size) return NULL;
  void *p = acs_arena_alloc(a, n * size);
  if (p) memset(p, 0, n * size);
  return p;
}

char *acs_arena_strndup(acs_arena *a, const char *s, size_t n) {
  char *p = acs_arena_alloc(a, n + 1);
  if (!p) return NULL;
  memcpy(p, s, n);
  p[n] = '\0';
  return p;
}

char *acs_arena_strdup(acs_arena *a, const char *s) {
  return s ? acs_arena_strndup(a, s, strlen(s)) : NULL;
}

int acs_arena_add_cleanup(acs_arena *a, void (*fn)(void *), void *data) {
  acs_arena_cleanup *c = acs_arena_alloc(a, sizeof *c);
  if (!c) return ACS_ENOMEM;
  c->fn = fn;
  c->data = data;
  c->next = a->cleanups;
  a->cleanups = c;
  return 0;
}
