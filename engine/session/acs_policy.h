/* acs_policy.h: the Lua policies of a worker and their part in sessions
 * (policy.c). A worker's acs_policy_vm holds its script VM with the policy
 * tree compiled into it (the lua/ folder, compiled into acsd, plus the
 * directory's provisions/ and presets/), and the names of the presets
 * files. docs/policies.md is the manual for policy writers. */
#ifndef ACS_POLICY_H
#define ACS_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "script/acs_script.h"

typedef struct acs_policy_vm {
  acs_script_vm *vm;
  char **presets; /* "presets/NAME" of the current generation, in name order */
  size_t npresets;
  size_t chunks; /* chunks of the current generation (0: none loaded) */
  bool error;    /* no generation could be loaded: sessions run no policies */
} acs_policy_vm;

/* A VM with the host functions and the tree of dir loaded (dir NULL: the
 * standard library only). A tree that does not load is reported in err and
 * logged, and the VM runs no policies (error set); NULL only when out of
 * memory. */
acs_policy_vm *acs_policy_vm_new(const char *dir, char *err, size_t errlen);
/* Loads dir as the next generation; on any error the current one stays
 * (ACS_EINVAL, "file:line: message" in err). */
int acs_policy_vm_reload(acs_policy_vm *pv, const char *dir, char *err, size_t errlen);
void acs_policy_vm_free(acs_policy_vm *pv);

/* The engine's clock, ms since the epoch: the real time plus
 * ACS_CLOCK_OFFSET_MS from the environment (tests move time with it). */
int64_t acs_policy_now_ms(void);

#endif
