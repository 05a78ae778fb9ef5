/* acs_plan.h: a device's data model as the engine knows it during a session,
 * and the planner that turns declarations into the fewest RPCs.
 *
 * Pure: no I/O, no loop, no Lua. The session loads the device's stored
 * parameters into an acs_dm, policies declare what they need (values at
 * least as fresh as a time, values to set, instance counts, notification
 * attributes), and acs_plan_next() answers with the RPCs of the next stage:
 *
 *   1. GetParameterNames for subtrees the engine does not know (or knows
 *      from before the declared time), one per subtree, NextLevel false;
 *   2. AddObject / DeleteObject to reach declared instance counts;
 *   3. one GetParameterValues for every value older than its declared time;
 *   4. one SetParameterValues for every declared value that differs;
 *   5. one SetParameterAttributes for every notification that differs.
 *
 * The caller sends them, applies the answers with acs_dm_apply(), and plans
 * again, until a round has nothing left to do. Stage after stage, so a
 * value declared on every instance of a table is set on the instances that
 * exist after AddObject, and nothing is read twice.
 *
 * Paths: "Device.WiFi.SSID.1.SSID" (a parameter), "Device.WiFi.SSID." (an
 * object; instances are its children with numeric names), with "*" for any
 * instance and "[Name:value,Name2:value2]" for the instances whose child
 * parameters have those values (alias selectors), e.g.
 * "Device.WiFi.SSID.[SSID:guest].Enable". */
#ifndef ACS_PLAN_H
#define ACS_PLAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/acs_arena.h"
#include "cwmp/acs_cwmp.h"

/* --- the data model */

typedef struct acs_dm_param {
  char *name;  /* full path; objects end with '.' (shared unless own_name: dm.c) */
  char *value; /* NULL: never read (objects have none) */
  acs_cwmp_type type;
  int8_t writable;     /* -1 unknown */
  int8_t notification; /* -1 unknown */
  bool object;
  bool own_name;    /* name is this model's copy, not the thread's shared one */
  bool absent;      /* an object the CPE said it does not have (9005) */
  bool leaves_only; /* the CPE answers a partial path of this object with the object alone:
                       its parameters are asked for by name */
  bool list_whole;  /* an object whose parameters the CPE refused to list by their own
                       names (a fault other than 9005): it is listed instead */
  bool unstored;    /* listed by this session, its listing not yet in the store (the
                       session writes it with the value, or at its end) */
  bool fresh;       /* added to the model by a listing of this session: no row of it
                       was in the store when the model was read (written without a
                       probe for one) */
  int64_t value_at; /* ms, engine clock; 0: never read */
  int64_t names_at; /* when its existence (and, for objects, its subtree) was last listed */
} acs_dm_param;

typedef struct acs_dm {
  acs_dm_param *v; /* sorted by name (bytewise) */
  size_t n, cap;
  size_t swept; /* names the last subtree listing applied (acs_dm_apply) found gone and
                   dropped: the store may still hold rows of them */
} acs_dm;

void acs_dm_init(acs_dm *dm);
void acs_dm_free(acs_dm *dm);
/* Frees this thread's shared copies of paths (dm.c): once no model of the
 * thread is used any more (a worker's end). */
void acs_dm_thread_free(void);
/* The entry for name, or NULL. */
acs_dm_param *acs_dm_get(const acs_dm *dm, const char *name);
/* Finds or adds name (and, for a parameter, nothing else: parents are
 * implied). Returns NULL on allocation failure. */
acs_dm_param *acs_dm_put(acs_dm *dm, const char *name);
/* What a 9005 taught, forgotten, as the store never holds it: parameters
 * a listing of their name found missing removed, other absent entries no
 * longer marked (an object's listing stays: nothing under it). */
void acs_dm_forget_absent(acs_dm *dm);
/* Removes name and, for an object, everything under it. */
void acs_dm_remove_subtree(acs_dm *dm, const char *name);
/* Range [*first, *end) of the entries under prefix (prefix itself included). */
void acs_dm_range(const acs_dm *dm, const char *prefix, size_t *first, size_t *end);
/* The first index at or after from whose name does not begin with prefix (len
 * bytes), given that the names at from .. that index do: a subtree skipped by
 * binary search. */
size_t acs_dm_skip(const acs_dm *dm, size_t from, const char *prefix, size_t len);

/* The CPE's answer to an RPC that the planner made (or any task): updates
 * the model as of now_ms. sent is the RPC, rsp its response (a fault changes
 * nothing). An object in a GetParameterValues answer (a name ending in '.'
 * or xsi:type "object") stays an object, no value; a partial path answered
 * without any parameter under it marks the object leaves_only. Returns 0 or
 * ACS_ENOMEM. */
int acs_dm_apply(acs_dm *dm, const acs_cwmp_msg *sent, const acs_cwmp_msg *rsp, int64_t now_ms);

/* Is a value an answer names so an object (a name ending in '.', or
 * xsi:type "object", some stacks' answer to a partial path)? */
bool acs_dm_is_object_value(const char *name, acs_cwmp_type type);

/* --- declarations */

typedef struct acs_decl {
  const char *path;
  int64_t value_at;   /* values must be at least this fresh (0: no need) */
  int64_t path_at;    /* existence / instances at least this fresh (0: no need) */
  const char *value;  /* to set (NULL: none) */
  acs_cwmp_type type; /* of value; ACS_XSD_ANY: the device's own type */
  int instances;      /* object paths: ensure this many instances (-1: no) */
  int notification;   /* ensure this attribute (-1: no) */
} acs_decl;

#define ACS_DECL_INIT \
  { NULL, 0, 0, NULL, ACS_XSD_ANY, -1, -1 }

/* Does name match the pattern path (wildcards, alias selectors) in dm? */
bool acs_plan_match(const acs_dm *dm, const char *pattern, const char *name);

/* --- planning */

typedef struct acs_plan {
  acs_cwmp_msg *rpcs; /* arena memory; ns and id left for the caller */
  size_t n;
  int stage; /* 1..5 as above, 0 when nothing is left */
} acs_plan;

/* The RPCs of the next stage for these declarations. now_ms is the engine
 * clock (used for declarations that ask for "now"). Returns 0 or
 * ACS_ENOMEM / ACS_EINVAL (a malformed path). */
int acs_plan_next(const acs_dm *dm, const acs_decl *decls, size_t n, int64_t now_ms,
                  acs_arena *arena, acs_plan *out);
/* True when d certainly needs no RPC, decided without planning: a
 * parameter by its own name that the model knows, read recently enough and
 * (when d sets it) holding the value already. False: ask acs_plan_next. */
bool acs_plan_settled(const acs_dm *dm, const acs_decl *d);

#endif
