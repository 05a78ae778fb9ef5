/* acs_devcache.h: what a worker remembers of the devices it serves between
 * their sessions, so that a periodic Inform costs the store one shared
 * statement and no read (docs/storage.md, "The device cache").
 *
 * Workers are device-affine (a device's sessions all run on its owner
 * worker), so the cache is per worker and needs no lock. An entry holds:
 *  - version: devices.version as this worker's last Inform of the device
 *    left it (the writing transaction's id). The next Inform sends it and
 *    the store answers whether the row still has it; if anything else wrote
 *    the device meanwhile (another instance, a session before a restart),
 *    the entry is stale and the store treats the Inform as uncached;
 *  - the Inform's parameters as stored by that Inform, so that the next one
 *    sends as "known" the values that did not change (the store skips them
 *    when the version still matches);
 *  - with policies, the data model as the device's last session left it, if
 *    that session wrote nothing to the model but its Inform: the next
 *    session starts from it instead of reading every stored parameter;
 *  - with policies, the policy context (acs_devctx.h) at the ctx_gen the
 *    store last sent: the store sends it again only when that moved.
 *
 * Entries live in an LRU list with a byte budget; the least recently used
 * go first. A session takes the model out while it runs (no copy) and
 * gives it back at its end. */
#ifndef ACS_DEVCACHE_H
#define ACS_DEVCACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cwmp/acs_cwmp.h"
#include "session/acs_devctx.h"
#include "session/acs_plan.h"

typedef struct acs_devcache acs_devcache;
typedef struct acs_devcache_entry acs_devcache_entry;

typedef struct acs_devcache_stats {
  unsigned long long hits;      /* Informs sent with a version */
  unsigned long long misses;    /* Informs of a device the cache did not know */
  unsigned long long stale;     /* versions sent that the store did not confirm */
  unsigned long long model_hits; /* sessions that started from a cached model */
  unsigned long long ctx_hits;   /* sessions that started from a cached policy context */
  unsigned long long evictions;
  size_t entries, bytes, budget;
} acs_devcache_stats;

/* budget: bytes the entries may hold (0: nothing is kept). */
acs_devcache *acs_devcache_new(size_t budget);
void acs_devcache_free(acs_devcache *c);

/* The entry of id, made most recently used, or NULL (counted as a hit when
 * it has a version, else a miss). Valid until the next call that adds to
 * the cache. */
acs_devcache_entry *acs_devcache_get(acs_devcache *c, const char *id);
/* The entry's version (0: none known). */
int64_t acs_devcache_version(const acs_devcache_entry *e);
/* Whether the entry knows name with this value and type as stored. */
bool acs_devcache_known(const acs_devcache_entry *e, const char *name, const char *value,
                        acs_cwmp_type type);

/* After an Inform's transaction committed: the device's version and the
 * Inform's parameters as now stored. stale: the store did not confirm the
 * version the Inform was sent with (counted). The entry's model, if any,
 * is dropped when stale. Returns 0 or ACS_ENOMEM (the entry is then
 * forgotten, which is always safe). */
int acs_devcache_informed(acs_devcache *c, const char *id, int64_t version, bool stale,
                          const acs_cwmp_param_values *params);
/* Moves the cached model of id into *dm (which must be empty) if there is
 * one for this version; true when it did. */
bool acs_devcache_take_model(acs_devcache *c, const char *id, int64_t version, acs_dm *dm);
/* Moves *dm into the cache (it is left empty) as the model of id at
 * version, if the entry still has that version; otherwise frees it. */
void acs_devcache_keep_model(acs_devcache *c, const char *id, int64_t version, acs_dm *dm);
/* Moves the cached policy context of id into *ctx (which must be empty)
 * if there is one for this version; true when it did. */
bool acs_devcache_take_ctx(acs_devcache *c, const char *id, int64_t version, acs_devctx *ctx);
/* Moves *ctx into the cache (it is left empty) as the policy context of id
 * at version, if the entry still has that version; otherwise frees it. */
void acs_devcache_keep_ctx(acs_devcache *c, const char *id, int64_t version, acs_devctx *ctx);
/* Forgets what the cache knows of id (its next Inform is sent uncached). */
void acs_devcache_forget(acs_devcache *c, const char *id);

void acs_devcache_get_stats(const acs_devcache *c, acs_devcache_stats *st);

#endif
