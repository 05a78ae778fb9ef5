/* cpe_model.h: the data model of a scripted CPE (tests/session/), answering
 * the ACS's RPCs as a real CPE would: values, names with their writable
 * flags, attributes, object instances, queued transfers, DU operations.
 * One model per CPE; no locking. */
#ifndef CPE_MODEL_H
#define CPE_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/acs_arena.h"
#include "cwmp/acs_cwmp.h"

typedef struct cm_param {
  char name[160]; /* objects end with '.' */
  char value[256];
  acs_cwmp_type type;
  bool writable;
  int notification;
  char access[64]; /* access list, joined by ',' */
} cm_param;

typedef struct cm_transfer {
  char command_key[64];
  bool is_download;
  char file_type[64];
  char target[64];
  uint32_t size;
  int state; /* 1 not yet started, 2 in progress, 3 completed */
} cm_transfer;

typedef struct cm_model {
  cm_param *p;
  size_t n, cap;
  cm_transfer q[8];
  size_t nq;
  unsigned reboots, factory_resets, schedule_informs, du_changes;
  char last_command_key[64]; /* of the last one-shot RPC */
  char du_command_key[64];
  unsigned answered[ACS_CWMP_KIND_COUNT]; /* RPCs answered, by kind */
} cm_model;

/* A small TR-181 tree: Device.DeviceInfo., Device.ManagementServer.,
 * Device.WiFi.SSID.{1,2,3}. (SSID writable, Enable boolean writable). */
void cm_init(cm_model *m);
void cm_free(cm_model *m);
/* Adds or changes a parameter (its parent objects are created). */
void cm_set(cm_model *m, const char *name, const char *value, acs_cwmp_type type, bool writable);
cm_param *cm_find(cm_model *m, const char *name);
/* Removes name and, for an object ("X."), everything under it. Returns how
 * many entries went. */
size_t cm_remove(cm_model *m, const char *name);
/* The answer to rpc (a response, or a CWMP fault as a CPE sends it), memory
 * from a. Returns 0. */
int cm_answer(cm_model *m, const acs_cwmp_msg *rpc, acs_arena *a, acs_cwmp_msg *out);
/* A cs_answer_fn (cpe_script.h) whose arg is a cm_model. */
struct cs_cpe;
int cm_turn_answer(struct cs_cpe *c, const acs_cwmp_msg *rpc, acs_arena *a, acs_cwmp_msg *out,
                   void *model);
/* Fills out with a CWMP fault (faultcode Client for 9003/9005-9008, Server
 * otherwise). */
void cm_fault(acs_arena *a, acs_cwmp_msg *out, uint32_t code, const char *text);

#endif
