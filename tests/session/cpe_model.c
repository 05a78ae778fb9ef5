/* cpe_model.c: a scripted CPE's data model (cpe_model.h). */
#include "cpe_model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool is_object(const char *name) {
  size_t n = strlen(name);
  return n && name[n - 1] == '.';
}

cm_param *cm_find(cm_model *m, const char *name) {
  for (size_t i = 0; i < m->n; i++)
    if (strcmp(m->p[i].name, name) == 0) return &m->p[i];
  return NULL;
}

static cm_param *add(cm_model *m, const char *name) {
  cm_param *p = cm_find(m, name);
  if (p) return p;
  if (m->n == m->cap) {
    m->cap = m->cap ? m->cap * 2 : 64;
    m->p = realloc(m->p, m->cap * sizeof *m->p);
  }
  p = &m->p[m->n++];
  memset(p, 0, sizeof *p);
  snprintf(p->name, sizeof p->name, "%s", name);
  return p;
}

/* An instance object ("...SSID.3.") can be deleted: writable. */
static bool is_instance(const char *obj) {
  size_t n = strlen(obj);
  if (n < 2) return false;
  size_t i = n - 1;
  while (i > 0 && obj[i - 1] >= '0' && obj[i - 1] <= '9') i--;
  return i < n - 1 && i > 0 && obj[i - 1] == '.';
}

void cm_set(cm_model *m, const char *name, const char *value, acs_cwmp_type type, bool writable) {
  char prefix[160];
  for (const char *dot = strchr(name, '.'); dot; dot = strchr(dot + 1, '.')) {
    size_t n = (size_t)(dot - name) + 1;
    if (n >= sizeof prefix || !dot[1]) break;
    memcpy(prefix, name, n);
    prefix[n] = '\0';
    if (!cm_find(m, prefix)) add(m, prefix)->writable = is_instance(prefix);
  }
  cm_param *p = add(m, name);
  snprintf(p->value, sizeof p->value, "%s", value ? value : "");
  p->type = type;
  p->writable = writable;
}

size_t cm_remove(cm_model *m, const char *name) {
  size_t o = 0, gone = 0, nl = strlen(name);
  bool obj = is_object(name);
  for (size_t i = 0; i < m->n; i++) {
    bool hit = obj ? strncmp(m->p[i].name, name, nl) == 0 : strcmp(m->p[i].name, name) == 0;
    if (hit) {
      gone++;
    } else {
      m->p[o++] = m->p[i];
    }
  }
  m->n = o;
  return gone;
}

void cm_init(cm_model *m) {
  memset(m, 0, sizeof *m);
  const acs_cwmp_type S = ACS_XSD_STRING, B = ACS_XSD_BOOLEAN, U = ACS_XSD_UNSIGNEDINT;
  cm_set(m, "Device.DeviceInfo.Manufacturer", "ACME Networks", S, false);
  cm_set(m, "Device.DeviceInfo.ModelName", "Roadrunner 9000", S, false);
  cm_set(m, "Device.DeviceInfo.HardwareVersion", "HW-1.0", S, false);
  cm_set(m, "Device.DeviceInfo.SoftwareVersion", "SW-2.3.4", S, false);
  cm_set(m, "Device.DeviceInfo.UpTime", "4711", U, false);
  cm_set(m, "Device.ManagementServer.PeriodicInformInterval", "300", U, true);
  cm_set(m, "Device.ManagementServer.ParameterKey", "", S, false);
  for (int i = 1; i <= 3; i++) {
    char n[96], v[32];
    snprintf(n, sizeof n, "Device.WiFi.SSID.%d.SSID", i);
    snprintf(v, sizeof v, "acme-%d", i);
    cm_set(m, n, v, S, true);
    snprintf(n, sizeof n, "Device.WiFi.SSID.%d.Enable", i);
    cm_set(m, n, i == 1 ? "true" : "false", B, true);
  }
  cm_param *ssid = cm_find(m, "Device.WiFi.SSID.1.SSID");
  ssid->notification = 2;
  snprintf(ssid->access, sizeof ssid->access, "Subscriber");
}

void cm_free(cm_model *m) {
  free(m->p);
  memset(m, 0, sizeof *m);
}

void cm_fault(acs_arena *a, acs_cwmp_msg *out, uint32_t code, const char *text) {
  out->kind = ACS_CWMP_FAULT;
  bool client = code == 9003 || (code >= 9005 && code <= 9008);
  out->u.fault.faultcode = acs_arena_strdup(a, client ? "Client" : "Server");
  out->u.fault.faultstring = acs_arena_strdup(a, "CWMP fault");
  out->u.fault.code = code;
  out->u.fault.string = acs_arena_strdup(a, text ? text : acs_cwmp_fault_string(code));
}

/* The entries a name selects: a parameter, or what is under an object
 * (objects included when with_objects). Indexes into m->p; count in *n. */
static size_t *select_names(cm_model *m, acs_arena *a, const acs_cwmp_strings *names,
                            bool with_objects, size_t *n, const char **missing) {
  size_t *v = acs_arena_calloc(a, m->n * (names->n ? names->n : 1) + 1, sizeof *v);
  *n = 0;
  *missing = NULL;
  for (size_t k = 0; k < names->n; k++) {
    const char *name = names->v[k] ? names->v[k] : "";
    size_t nl = strlen(name), found = 0;
    for (size_t i = 0; i < m->n; i++) {
      bool obj = is_object(m->p[i].name);
      bool hit = (nl == 0 || is_object(name)) ? strncmp(m->p[i].name, name, nl) == 0
                                              : strcmp(m->p[i].name, name) == 0;
      if (hit && (with_objects || !obj)) v[(*n)++] = i;
      if (hit) found++;
    }
    if (!found && !*missing) *missing = name;
  }
  return v;
}

static void answer_gpn(cm_model *m, const acs_cwmp_gpn *q, acs_arena *a, acs_cwmp_msg *out) {
  const char *path = q->parameter_path ? q->parameter_path : "";
  size_t pl = strlen(path);
  acs_cwmp_gpn_response *r = &out->u.get_parameter_names_response;
  r->params.v = acs_arena_calloc(a, m->n + 1, sizeof *r->params.v);
  bool found = false;
  for (size_t i = 0; i < m->n; i++) {
    const char *nm = m->p[i].name;
    bool hit;
    if (pl && !is_object(path)) {
      hit = strcmp(nm, path) == 0;
    } else if (strncmp(nm, path, pl) != 0) {
      hit = false;
    } else if (q->next_level) {
      const char *rest = nm + pl, *dot = strchr(rest, '.');
      hit = *rest && (!dot || !dot[1]); /* a child: "X" or "X." */
    } else {
      hit = true;
    }
    found = found || strncmp(nm, path, pl) == 0;
    if (hit) {
      r->params.v[r->params.n].name = acs_arena_strdup(a, nm);
      r->params.v[r->params.n++].writable = m->p[i].writable;
    }
  }
  if (!found) cm_fault(a, out, 9005, NULL);
}

static int answer_spv(cm_model *m, const acs_cwmp_spv *q, acs_arena *a, acs_cwmp_msg *out) {
  acs_cwmp_fault *f = &out->u.fault;
  f->spv_faults.v = acs_arena_calloc(a, q->params.n + 1, sizeof *f->spv_faults.v);
  for (size_t i = 0; i < q->params.n; i++) {
    const char *name = q->params.v[i].name ? q->params.v[i].name : "";
    cm_param *p = is_object(name) ? NULL : cm_find(m, name);
    uint32_t code = !p ? 9005 : !p->writable ? 9008 : 0;
    if (!code) continue;
    acs_cwmp_spv_fault *sf = &f->spv_faults.v[f->spv_faults.n++];
    sf->parameter_name = acs_arena_strdup(a, name);
    sf->code = code;
    sf->string = acs_arena_strdup(a, acs_cwmp_fault_string(code));
  }
  if (f->spv_faults.n) {
    size_t nf = f->spv_faults.n;
    uint32_t first = f->spv_faults.v[0].code;
    acs_cwmp_spv_fault *list = f->spv_faults.v;
    cm_fault(a, out, first, NULL);
    out->u.fault.spv_faults.v = list;
    out->u.fault.spv_faults.n = nf;
    return 0;
  }
  for (size_t i = 0; i < q->params.n; i++) {
    cm_param *p = cm_find(m, q->params.v[i].name);
    snprintf(p->value, sizeof p->value, "%s", q->params.v[i].value ? q->params.v[i].value : "");
    if (q->params.v[i].type != ACS_XSD_ANY) p->type = q->params.v[i].type;
  }
  cm_param *pk = cm_find(m, "Device.ManagementServer.ParameterKey");
  if (pk) snprintf(pk->value, sizeof pk->value, "%s", q->parameter_key ? q->parameter_key : "");
  out->kind = ACS_CWMP_SET_PARAMETER_VALUES_RESPONSE;
  out->u.status_response.status = 0;
  return 0;
}

static void answer_attrs(cm_model *m, const acs_cwmp_msg *rpc, acs_arena *a, acs_cwmp_msg *out) {
  if (rpc->kind == ACS_CWMP_GET_PARAMETER_ATTRIBUTES) {
    size_t n;
    const char *missing;
    size_t *sel = select_names(m, a, &rpc->u.get_parameter_attributes.names, false, &n, &missing);
    if (missing) {
      cm_fault(a, out, 9005, NULL);
      return;
    }
    acs_cwmp_gpa_response *r = &out->u.get_parameter_attributes_response;
    out->kind = ACS_CWMP_GET_PARAMETER_ATTRIBUTES_RESPONSE;
    r->params.v = acs_arena_calloc(a, n + 1, sizeof *r->params.v);
    for (size_t i = 0; i < n; i++) {
      cm_param *p = &m->p[sel[i]];
      acs_cwmp_param_attr *pa = &r->params.v[r->params.n++];
      pa->name = acs_arena_strdup(a, p->name);
      pa->notification = p->notification;
      if (p->access[0]) {
        pa->access_list.v = acs_arena_calloc(a, 1, sizeof(char *));
        pa->access_list.v[0] = acs_arena_strdup(a, p->access);
        pa->access_list.n = 1;
      }
    }
    return;
  }
  const acs_cwmp_spa *q = &rpc->u.set_parameter_attributes;
  for (size_t k = 0; k < q->params.n; k++) {
    const acs_cwmp_set_attr *sa = &q->params.v[k];
    acs_cwmp_strings one = {(char **)&sa->name, 1};
    size_t n;
    const char *missing;
    size_t *sel = select_names(m, a, &one, false, &n, &missing);
    if (missing) {
      cm_fault(a, out, 9005, NULL);
      return;
    }
    for (size_t i = 0; i < n; i++) {
      cm_param *p = &m->p[sel[i]];
      if (sa->notification_change) p->notification = sa->notification;
      if (sa->access_list_change) {
        p->access[0] = '\0';
        for (size_t j = 0; j < sa->access_list.n; j++)
          snprintf(p->access + strlen(p->access), sizeof p->access - strlen(p->access), "%s%s",
                   j ? "," : "", sa->access_list.v[j]);
      }
    }
  }
  out->kind = ACS_CWMP_SET_PARAMETER_ATTRIBUTES_RESPONSE;
}

static void answer_add(cm_model *m, const acs_cwmp_object_req *q, acs_arena *a, acs_cwmp_msg *out) {
  const char *obj = q->object_name ? q->object_name : "";
  size_t ol = strlen(obj);
  if (!is_object(obj) || !cm_find(m, obj)) {
    cm_fault(a, out, 9005, NULL);
    return;
  }
  unsigned max = 0;
  const char *tmpl = NULL;
  for (size_t i = 0; i < m->n; i++) {
    if (strncmp(m->p[i].name, obj, ol) != 0) continue;
    char *end;
    unsigned long v = strtoul(m->p[i].name + ol, &end, 10);
    if (end != m->p[i].name + ol && *end == '.') {
      if (v > max) max = (unsigned)v;
      if (!tmpl && v == 1) tmpl = obj;
    }
  }
  unsigned inst = max + 1;
  char iname[200];
  snprintf(iname, sizeof iname, "%s%u.", obj, inst);
  add(m, iname)->writable = true;
  size_t n0 = m->n;
  for (size_t i = 0; tmpl && i < n0; i++) { /* leaves of instance 1, default values */
    char pre[200];
    snprintf(pre, sizeof pre, "%s1.", obj);
    const char *leaf = m->p[i].name + strlen(pre);
    if (strncmp(m->p[i].name, pre, strlen(pre)) != 0 || is_object(m->p[i].name)) continue;
    char nm[200];
    snprintf(nm, sizeof nm, "%s%s", iname, leaf);
    cm_param t = m->p[i];
    cm_set(m, nm, "", t.type, t.writable);
  }
  out->kind = ACS_CWMP_ADD_OBJECT_RESPONSE;
  out->u.add_object_response.instance_number = inst;
  out->u.add_object_response.status = 0;
}

static cm_transfer *queue(cm_model *m, const char *key, bool dl, const char *type,
                          const char *target, uint32_t size) {
  if (m->nq == sizeof m->q / sizeof m->q[0]) return NULL;
  cm_transfer *t = &m->q[m->nq++];
  memset(t, 0, sizeof *t);
  snprintf(t->command_key, sizeof t->command_key, "%s", key ? key : "");
  snprintf(t->file_type, sizeof t->file_type, "%s", type ? type : "");
  snprintf(t->target, sizeof t->target, "%s", target ? target : "");
  t->is_download = dl;
  t->size = size;
  t->state = 1;
  return t;
}

static void answer_queued(cm_model *m, bool all, acs_arena *a, acs_cwmp_msg *out) {
  out->kind =
      all ? ACS_CWMP_GET_ALL_QUEUED_TRANSFERS_RESPONSE : ACS_CWMP_GET_QUEUED_TRANSFERS_RESPONSE;
  acs_cwmp_queued_transfers_response *r = &out->u.queued_transfers_response;
  r->transfers.v = acs_arena_calloc(a, m->nq + 1, sizeof *r->transfers.v);
  for (size_t i = 0; i < m->nq; i++) {
    acs_cwmp_queued_transfer *t = &r->transfers.v[r->transfers.n++];
    t->command_key = acs_arena_strdup(a, m->q[i].command_key);
    t->state = m->q[i].state;
    if (!all) continue;
    t->is_download = m->q[i].is_download;
    t->file_type = acs_arena_strdup(a, m->q[i].file_type);
    t->file_size = m->q[i].size;
    t->target_file_name = acs_arena_strdup(a, m->q[i].target);
  }
}

static void one_shot(cm_model *m, const char *key) {
  snprintf(m->last_command_key, sizeof m->last_command_key, "%s", key ? key : "");
}

int cm_turn_answer(struct cs_cpe *c, const acs_cwmp_msg *rpc, acs_arena *a, acs_cwmp_msg *out,
                   void *model) {
  (void)c;
  return cm_answer(model, rpc, a, out);
}

int cm_answer(cm_model *m, const acs_cwmp_msg *rpc, acs_arena *a, acs_cwmp_msg *out) {
  memset(out, 0, sizeof *out);
  if (rpc->kind > 0 && rpc->kind < ACS_CWMP_KIND_COUNT) m->answered[rpc->kind]++;
  size_t n;
  const char *missing;
  switch (rpc->kind) {
    case ACS_CWMP_GET_PARAMETER_VALUES: {
      size_t *sel = select_names(m, a, &rpc->u.get_parameter_values.names, false, &n, &missing);
      if (missing) {
        cm_fault(a, out, 9005, NULL);
        break;
      }
      out->kind = ACS_CWMP_GET_PARAMETER_VALUES_RESPONSE;
      acs_cwmp_param_values *pv = &out->u.get_parameter_values_response.params;
      pv->v = acs_arena_calloc(a, n + 1, sizeof *pv->v);
      for (size_t i = 0; i < n; i++) {
        cm_param *p = &m->p[sel[i]];
        pv->v[pv->n].name = acs_arena_strdup(a, p->name);
        pv->v[pv->n].value = acs_arena_strdup(a, p->value);
        pv->v[pv->n++].type = p->type;
      }
      break;
    }
    case ACS_CWMP_GET_PARAMETER_NAMES:
      out->kind = ACS_CWMP_GET_PARAMETER_NAMES_RESPONSE;
      answer_gpn(m, &rpc->u.get_parameter_names, a, out);
      break;
    case ACS_CWMP_SET_PARAMETER_VALUES:
      answer_spv(m, &rpc->u.set_parameter_values, a, out);
      break;
    case ACS_CWMP_GET_PARAMETER_ATTRIBUTES:
    case ACS_CWMP_SET_PARAMETER_ATTRIBUTES:
      answer_attrs(m, rpc, a, out);
      break;
    case ACS_CWMP_ADD_OBJECT:
      answer_add(m, &rpc->u.add_object, a, out);
      break;
    case ACS_CWMP_DELETE_OBJECT: {
      const char *obj = rpc->u.delete_object.object_name ? rpc->u.delete_object.object_name : "";
      if (!is_object(obj) || cm_remove(m, obj) == 0) {
        cm_fault(a, out, 9005, NULL);
        break;
      }
      out->kind = ACS_CWMP_DELETE_OBJECT_RESPONSE;
      break;
    }
    case ACS_CWMP_REBOOT:
      m->reboots++;
      one_shot(m, rpc->u.command_key_req.command_key);
      out->kind = ACS_CWMP_REBOOT_RESPONSE;
      break;
    case ACS_CWMP_FACTORY_RESET:
      m->factory_resets++;
      out->kind = ACS_CWMP_FACTORY_RESET_RESPONSE;
      break;
    case ACS_CWMP_DOWNLOAD: {
      const acs_cwmp_download *d = &rpc->u.download;
      one_shot(m, d->command_key);
      queue(m, d->command_key, true, d->file_type, d->target_file_name, d->file_size);
      out->kind = ACS_CWMP_DOWNLOAD_RESPONSE;
      out->u.transfer_response.status = 1; /* TransferComplete follows */
      break;
    }
    case ACS_CWMP_UPLOAD: {
      const acs_cwmp_upload *u = &rpc->u.upload;
      one_shot(m, u->command_key);
      queue(m, u->command_key, false, u->file_type, "", 0);
      out->kind = ACS_CWMP_UPLOAD_RESPONSE;
      out->u.transfer_response.status = 1;
      break;
    }
    case ACS_CWMP_SCHEDULE_INFORM:
      m->schedule_informs++;
      one_shot(m, rpc->u.schedule_inform.command_key);
      out->kind = ACS_CWMP_SCHEDULE_INFORM_RESPONSE;
      break;
    case ACS_CWMP_SCHEDULE_DOWNLOAD: {
      const acs_cwmp_schedule_download *d = &rpc->u.schedule_download;
      one_shot(m, d->command_key);
      queue(m, d->command_key, true, d->file_type, d->target_file_name, d->file_size);
      out->kind = ACS_CWMP_SCHEDULE_DOWNLOAD_RESPONSE;
      break;
    }
    case ACS_CWMP_CANCEL_TRANSFER: {
      const char *key =
          rpc->u.command_key_req.command_key ? rpc->u.command_key_req.command_key : "";
      size_t i = 0;
      while (i < m->nq && strcmp(m->q[i].command_key, key) != 0) i++;
      if (i == m->nq || m->q[i].state != 1) {
        cm_fault(a, out, 9021, NULL);
        break;
      }
      memmove(&m->q[i], &m->q[i + 1], (m->nq - i - 1) * sizeof m->q[0]);
      m->nq--;
      out->kind = ACS_CWMP_CANCEL_TRANSFER_RESPONSE;
      break;
    }
    case ACS_CWMP_GET_QUEUED_TRANSFERS:
    case ACS_CWMP_GET_ALL_QUEUED_TRANSFERS:
      answer_queued(m, rpc->kind == ACS_CWMP_GET_ALL_QUEUED_TRANSFERS, a, out);
      break;
    case ACS_CWMP_CHANGE_DU_STATE:
      m->du_changes++;
      one_shot(m, rpc->u.change_du_state.command_key);
      snprintf(m->du_command_key, sizeof m->du_command_key, "%s",
               rpc->u.change_du_state.command_key ? rpc->u.change_du_state.command_key : "");
      out->kind = ACS_CWMP_CHANGE_DU_STATE_RESPONSE;
      break;
    case ACS_CWMP_GET_RPC_METHODS: {
      static const char *const methods[] = {"GetRPCMethods",
                                            "SetParameterValues",
                                            "GetParameterValues",
                                            "GetParameterNames",
                                            "SetParameterAttributes",
                                            "GetParameterAttributes",
                                            "AddObject",
                                            "DeleteObject",
                                            "Reboot",
                                            "FactoryReset",
                                            "Download",
                                            "Upload",
                                            "ScheduleInform",
                                            "ScheduleDownload",
                                            "CancelTransfer",
                                            "GetQueuedTransfers",
                                            "GetAllQueuedTransfers",
                                            "ChangeDUState"};
      size_t nm = sizeof methods / sizeof methods[0];
      out->kind = ACS_CWMP_GET_RPC_METHODS_RESPONSE;
      acs_cwmp_strings *l = &out->u.get_rpc_methods_response.methods;
      l->v = acs_arena_calloc(a, nm, sizeof *l->v);
      for (size_t i = 0; i < nm; i++) l->v[l->n++] = acs_arena_strdup(a, methods[i]);
      break;
    }
    default:
      cm_fault(a, out, 9000, NULL);
      break;
  }
  return 0;
}
