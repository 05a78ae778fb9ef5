/* acs_devctx.h: a device's policy context as a worker keeps it between
 * sessions (docs/storage.md, "The device cache"): the context as the store
 * sent it (tags, boots, policy actions, faults, open alarms, sealed
 * secrets), the generation it was read at (devices.ctx_gen), and the
 * device's events of the last day counted per minute, so that a warm
 * session counts its Inform's events itself instead of asking the store.
 * Policies see the counts as "events": code -> [last hour, last day]. */
#ifndef ACS_DEVCTX_H
#define ACS_DEVCTX_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct json_t;

typedef struct acs_devctx_minute {
  uint32_t minute; /* since the epoch */
  uint32_t count;
} acs_devctx_minute;

typedef struct acs_devctx_code {
  char *code;
  acs_devctx_minute *m; /* oldest first */
  size_t n, cap;
} acs_devctx_code;

typedef struct acs_devctx {
  struct json_t *json; /* NULL: none */
  int64_t gen;
  size_t json_bytes; /* about what the JSON takes */
  acs_devctx_code *codes;
  size_t ncodes;
} acs_devctx;

#define ACS_DEVCTX_INIT {NULL, 0, 0, NULL, 0}

/* From the store's text ("event_minutes" taken out of it); 0, ACS_EINVAL
 * (not a JSON object) or ACS_ENOMEM; *c is empty on failure. */
int acs_devctx_load(acs_devctx *c, const char *json_text, int64_t gen);
/* One event of this session's Inform, received at now_ms. */
int acs_devctx_add_event(acs_devctx *c, const char *code, int64_t now_ms);
/* This Inform's boot or bootstrap, at now_ms. */
void acs_devctx_booted(acs_devctx *c, bool boot, bool bootstrap, int64_t now_ms);
/* Drops the minutes older than a day and sets "events" in the JSON. */
int acs_devctx_count(acs_devctx *c, int64_t now_ms);
/* What the context holds, roughly, in bytes (the cache's budget). */
size_t acs_devctx_bytes(const acs_devctx *c);
void acs_devctx_free(acs_devctx *c);
#endif
