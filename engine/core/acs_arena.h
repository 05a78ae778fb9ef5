/* acs_arena.h: a bump allocator with cleanup handlers, for everything that
 * lives exactly as long as one message or one session (parsed CWMP structs,
 * XML documents, query results). Freed all at once; cleanups run in reverse
 * order of registration (nginx pool cleanups, Knot's request pool). */
#ifndef ACS_ARENA_H
#define ACS_ARENA_H

#include <stddef.h>

typedef struct acs_arena_block acs_arena_block;
typedef struct acs_arena_cleanup acs_arena_cleanup;

typedef struct acs_arena {
  acs_arena_block *head;
  acs_arena_cleanup *cleanups;
  size_t block_size; /* size of a regular block (default 8 KiB) */
  size_t total;      /* bytes obtained from malloc, blocks included */
  size_t limit;      /* 0 = unlimited; allocations past it fail */
} acs_arena;

void acs_arena_init(acs_arena *a, size_t block_size);
/* Runs the cleanups and releases all memory; the arena can be reused. */
void acs_arena_reset(acs_arena *a);
#define acs_arena_free acs_arena_reset
/* As reset, but keeps one regular block for the next use (an arena reused
 * many times over, as a planner's scratch space, mallocs nothing once warm). */
void acs_arena_rewind(acs_arena *a);

/* Returns 16-byte aligned memory or NULL (out of memory or past limit). */
void *acs_arena_alloc(acs_arena *a, size_t n);
void *acs_arena_calloc(acs_arena *a, size_t n, size_t size);
char *acs_arena_strdup(acs_arena *a, const char *s);
char *acs_arena_strndup(acs_arena *a, const char *s, size_t n);
/* Registers fn(data) to run at reset; returns 0 or ACS_ENOMEM (in which case
 * fn is not registered: the caller still owns data). */
int acs_arena_add_cleanup(acs_arena *a, void (*fn)(void *), void *data);

#endif
