/* rpc.c: what a simulated CPE answers to each ACS->CPE RPC (the table in
 * docs/cpesim.md). Effects that happen after the session (reboot, factory
 * reset, transfers, software modules) are only recorded here. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/acs_err.h"
#include "sim.h"

const char *const sim_rpc_methods[] = {
    "GetRPCMethods",
    "GetParameterNames",
    "GetParameterValues",
    "SetParameterValues",
    "GetParameterAttributes",
    "SetParameterAttributes",
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
    "ChangeDUState",
};
const size_t sim_rpc_nmethods = sizeof sim_rpc_methods / sizeof sim_rpc_methods[0];

#define MAX_QUEUED 16

static void fault(acs_cwmp_msg *rsp, acs_arena *a, uint32_t code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void fault(acs_cwmp_msg *rsp, acs_arena *a, uint32_t code, const char *fmt, ...) {
  memset(&rsp->u, 0, sizeof rsp->u);
  rsp->kind = ACS_CWMP_FAULT;
  rsp->u.fault.code = code;
  if (fmt) {
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    rsp->u.fault.string = acs_arena_strdup(a, buf);
  }
}

static const char *nz(const char *s) { return s ? s : ""; }

/* --- collecting nodes */

typedef struct collect {
  SIM_VEC(sim_ref) refs;
  bool params_only;
} collect;

static void collect_cb(sim_dev *d, sim_ref r, void *ctx) {
  collect *c = ctx;
  if (c->params_only && !sim_dev_is_param(d, r)) return;
  *SIM_VPUSH(c->refs) = r;
}

/* Walks each path; returns 0 or the first path that does not exist. */
static const char *collect_paths(sim_dev *d, const acs_cwmp_strings *names, collect *c) {
  for (size_t i = 0; i < names->n; i++) {
    const char *p = nz(names->v[i]);
    if (sim_dev_walk(d, p, false, collect_cb, c)) return p;
  }
  return NULL;
}

/* --- Get/SetParameterValues */

/* object-only: a partial path answered with the object alone
 * (<Name>X.</Name><Value xsi:type="object"></Value>), full names as usual. */
static void gpv_object_only(sim_dev *d, const acs_cwmp_msg *req, acs_arena *a,
                            acs_cwmp_msg *rsp) {
  const acs_cwmp_strings *names = &req->u.get_parameter_values.names;
  acs_cwmp_param_values *pv = &rsp->u.get_parameter_values_response.params;
  pv->v = acs_arena_calloc(a, names->n ? names->n : 1, sizeof *pv->v);
  acs_buf scratch = ACS_BUF_INIT;
  for (size_t i = 0; i < names->n; i++) {
    const char *p = nz(names->v[i]);
    if (!*p) p = S->model->root;
    sim_ref r;
    if (sim_dev_find(d, p, &r)) {
      acs_buf_free(&scratch);
      fault(rsp, a, 9005, "Invalid parameter name: %s", p);
      return;
    }
    acs_cwmp_param_value *v = &pv->v[pv->n++];
    v->name = (char *)sim_dev_name(d, r);
    if (sim_dev_is_param(d, r)) {
      v->value = acs_arena_strdup(a, sim_dev_value(d, r, &scratch, false));
      v->type = (acs_cwmp_type)sim_dev_node(d, r)->type;
    } else {
      v->value = "";
      v->type = ACS_XSD_OBJECT;
    }
  }
  acs_buf_free(&scratch);
  rsp->kind = ACS_CWMP_GET_PARAMETER_VALUES_RESPONSE;
}

static void gpv(sim_dev *d, const acs_cwmp_msg *req, acs_arena *a, acs_cwmp_msg *rsp) {
  if (SIM_QUIRK(SIM_Q_OBJECT_ONLY)) {
    gpv_object_only(d, req, a, rsp);
    return;
  }
  collect c = {.params_only = true};
  const char *bad = collect_paths(d, &req->u.get_parameter_values.names, &c);
  if (bad) {
    fault(rsp, a, 9005, "Invalid parameter name: %s", bad);
    SIM_VFREE(c.refs);
    return;
  }
  acs_cwmp_param_values *pv = &rsp->u.get_parameter_values_response.params;
  pv->v = acs_arena_calloc(a, c.refs.n ? c.refs.n : 1, sizeof *pv->v);
  acs_buf scratch = ACS_BUF_INIT;
  for (uint32_t i = 0; i < c.refs.n; i++) {
    sim_ref r = c.refs.v[i];
    acs_cwmp_param_value *v = &pv->v[pv->n++];
    v->name = (char *)sim_dev_name(d, r);
    v->value = acs_arena_strdup(a, sim_dev_value(d, r, &scratch, false));
    v->type = (acs_cwmp_type)sim_dev_node(d, r)->type;
  }
  acs_buf_free(&scratch);
  SIM_VFREE(c.refs);
  rsp->kind = ACS_CWMP_GET_PARAMETER_VALUES_RESPONSE;
}

static void after_set(sim_dev *d) { sim_dev_rearm(d); }

static void spv(sim_dev *d, const acs_cwmp_msg *req, acs_arena *a, acs_cwmp_msg *rsp) {
  const acs_cwmp_spv *s = &req->u.set_parameter_values;
  size_t n = s->params.n;
  sim_ref *refs = sim_xcalloc(n ? n : 1, sizeof *refs);
  acs_cwmp_spv_fault *faults = acs_arena_calloc(a, n ? n : 1, sizeof *faults);
  size_t nf = 0;
  for (size_t i = 0; i < n; i++) {
    const acs_cwmp_param_value *p = &s->params.v[i];
    const char *name = nz(p->name);
    uint32_t code = 0;
    for (size_t j = 0; j < i && !code; j++)
      if (strcmp(nz(s->params.v[j].name), name) == 0) code = 9003;
    if (!code && (sim_dev_find(d, name, &refs[i]) || !sim_dev_is_param(d, refs[i])))
      code = 9005;
    else if (!code && !sim_dev_writable(d, refs[i]))
      code = 9008;
    else if (!code)
      code = sim_check_value(sim_dev_node(d, refs[i]), nz(p->value), p->type);
    if (code) {
      faults[nf].parameter_name = (char *)name;
      faults[nf].code = code;
      faults[nf].string = (char *)acs_cwmp_fault_string(code);
      nf++;
    }
  }
  if (nf) {
    fault(rsp, a, 9003, "Invalid arguments");
    rsp->u.fault.spv_faults.v = faults;
    rsp->u.fault.spv_faults.n = nf;
    free(refs);
    return;
  }
  for (size_t i = 0; i < n; i++) sim_dev_set(d, refs[i], nz(s->params.v[i].value), true);
  sim_dev_set_known(d, S->model->param_key, nz(s->parameter_key), true);
  free(refs);
  after_set(d);
  rsp->kind = ACS_CWMP_SET_PARAMETER_VALUES_RESPONSE;
  rsp->u.status_response.status = 0;
}

/* --- names */

static void gpn(sim_dev *d, const acs_cwmp_msg *req, acs_arena *a, acs_cwmp_msg *rsp) {
  const char *path = nz(req->u.get_parameter_names.parameter_path);
  size_t pl = strlen(path);
  if (SIM_QUIRK(SIM_Q_GPN_OBJECTS_ONLY) && pl && path[pl - 1] != '.') {
    fault(rsp, a, 9003, "Invalid arguments: %s is not an object", path);
    return;
  }
  collect c = {.params_only = false};
  int rc = sim_dev_walk(d, path, req->u.get_parameter_names.next_level, collect_cb, &c);
  if (rc) {
    if (rc == ACS_EINVAL)
      fault(rsp, a, 9003, "NextLevel true with a parameter name: %s", path);
    else
      fault(rsp, a, 9005, "Invalid parameter name: %s", path);
    SIM_VFREE(c.refs);
    return;
  }
  rsp->kind = ACS_CWMP_GET_PARAMETER_NAMES_RESPONSE;
  acs_cwmp_gpn_response *g = &rsp->u.get_parameter_names_response;
  g->params.v = acs_arena_calloc(a, c.refs.n ? c.refs.n : 1, sizeof *g->params.v);
  for (uint32_t i = 0; i < c.refs.n; i++) {
    g->params.v[i].name = (char *)sim_dev_name(d, c.refs.v[i]);
    g->params.v[i].writable = sim_dev_writable(d, c.refs.v[i]);
  }
  g->params.n = c.refs.n;
  SIM_VFREE(c.refs);
}

/* --- attributes */

static void split_acl(const char *acl, acs_arena *a, acs_cwmp_strings *out) {
  out->n = 0;
  out->v = NULL;
  if (!acl || !*acl) return;
  size_t n = 1;
  for (const char *p = acl; *p; p++) n += *p == ',';
  out->v = acs_arena_calloc(a, n, sizeof *out->v);
  for (const char *p = acl; *p;) {
    size_t l = strcspn(p, ",");
    out->v[out->n++] = acs_arena_strndup(a, p, l);
    p += l;
    if (*p) p++;
  }
}

static void gpa(sim_dev *d, const acs_cwmp_msg *req, acs_arena *a, acs_cwmp_msg *rsp) {
  collect c = {.params_only = true};
  const char *bad = collect_paths(d, &req->u.get_parameter_attributes.names, &c);
  if (bad) {
    fault(rsp, a, 9005, "Invalid parameter name: %s", bad);
    SIM_VFREE(c.refs);
    return;
  }
  rsp->kind = ACS_CWMP_GET_PARAMETER_ATTRIBUTES_RESPONSE;
  acs_cwmp_gpa_response *g = &rsp->u.get_parameter_attributes_response;
  g->params.v = acs_arena_calloc(a, c.refs.n ? c.refs.n : 1, sizeof *g->params.v);
  for (uint32_t i = 0; i < c.refs.n; i++) {
    acs_cwmp_param_attr *pa = &g->params.v[i];
    pa->name = (char *)sim_dev_name(d, c.refs.v[i]);
    pa->notification = sim_dev_notif(d, c.refs.v[i]);
    split_acl(sim_dev_acl(d, c.refs.v[i]), a, &pa->access_list);
  }
  g->params.n = c.refs.n;
  SIM_VFREE(c.refs);
}

typedef struct spa_ctx {
  const acs_cwmp_set_attr *sa;
  bool explicit_name; /* a full parameter name, not a partial path */
  bool apply;
  uint32_t code;
  const char *bad;
  char acl[512];
} spa_ctx;

static void spa_cb(sim_dev *d, sim_ref r, void *ctx) {
  spa_ctx *c = ctx;
  if (!sim_dev_is_param(d, r) || c->code) return;
  const sim_node *n = sim_dev_node(d, r);
  bool set_notif = c->sa->notification_change;
  if (set_notif) {
    bool deny = (c->sa->notification == 2 && (n->flags & SIM_F_CAN_DENY)) ||
                ((n->flags & SIM_F_FORCE_ACTIVE) && c->sa->notification != 2);
    if (deny) {
      if (c->explicit_name) {
        c->code = 9009;
        c->bad = sim_dev_name(d, r);
        return;
      }
      set_notif = false; /* a partial path: those parameters keep theirs */
    }
  }
  if (c->apply)
    sim_dev_set_attr(d, r, set_notif, (uint8_t)c->sa->notification, c->sa->access_list_change,
                     c->acl);
}

static void spa(sim_dev *d, const acs_cwmp_msg *req, acs_arena *a, acs_cwmp_msg *rsp) {
  const acs_cwmp_spa *s = &req->u.set_parameter_attributes;
  for (int pass = 0; pass < 2; pass++) {
    for (size_t i = 0; i < s->params.n; i++) {
      const acs_cwmp_set_attr *sa = &s->params.v[i];
      const char *name = nz(sa->name);
      if (sa->notification_change && (sa->notification < 0 || sa->notification > 2)) {
        fault(rsp, a, 9009, "Notification %d not supported: %s", sa->notification, name);
        return;
      }
      spa_ctx c = {.sa = sa, .apply = pass == 1};
      c.explicit_name = *name && name[strlen(name) - 1] != '.';
      size_t o = 0;
      for (size_t k = 0; k < sa->access_list.n && o + 1 < sizeof c.acl; k++)
        o += (size_t)snprintf(c.acl + o, sizeof c.acl - o, "%s%s", k ? "," : "",
                              nz(sa->access_list.v[k]));
      if (o >= sizeof c.acl) c.acl[sizeof c.acl - 1] = '\0';
      if (sim_dev_walk(d, name, false, spa_cb, &c)) {
        fault(rsp, a, 9005, "Invalid parameter name: %s", name);
        return;
      }
      if (c.code) {
        fault(rsp, a, c.code, "Notification request rejected: %s", c.bad);
        return;
      }
    }
  }
  rsp->kind = ACS_CWMP_SET_PARAMETER_ATTRIBUTES_RESPONSE;
}

/* --- objects */

static void add_object(sim_dev *d, const acs_cwmp_msg *req, acs_arena *a, acs_cwmp_msg *rsp) {
  const char *name = nz(req->u.add_object.object_name);
  uint32_t inst = 0, code = sim_dev_add_object(d, name, false, &inst);
  if (code) {
    fault(rsp, a, code, "%s: %s", acs_cwmp_fault_string(code), name);
    return;
  }
  sim_dev_set_known(d, S->model->param_key, nz(req->u.add_object.parameter_key), true);
  rsp->kind = ACS_CWMP_ADD_OBJECT_RESPONSE;
  rsp->u.add_object_response.instance_number = inst;
  rsp->u.add_object_response.status = 0;
}

static void delete_object(sim_dev *d, const acs_cwmp_msg *req, acs_arena *a, acs_cwmp_msg *rsp) {
  const char *name = nz(req->u.delete_object.object_name);
  uint32_t code = sim_dev_delete_object(d, name, false);
  if (code) {
    fault(rsp, a, code, "%s: %s", acs_cwmp_fault_string(code), name);
    return;
  }
  sim_dev_set_known(d, S->model->param_key, nz(req->u.delete_object.parameter_key), true);
  rsp->kind = ACS_CWMP_DELETE_OBJECT_RESPONSE;
  rsp->u.status_response.status = 0;
}

/* --- transfers */

static bool download_type_ok(const char *t) {
  return strcmp(t, "1 Firmware Upgrade Image") == 0 || strcmp(t, "2 Web Content") == 0 ||
         strcmp(t, "3 Vendor Configuration File") == 0 || strncmp(t, "X ", 2) == 0;
}

static bool upload_type_ok(const char *t) {
  return strncmp(t, "1 Vendor Configuration File", 27) == 0 ||
         strncmp(t, "2 Vendor Log File", 17) == 0 ||
         strncmp(t, "3 Vendor Configuration File", 27) == 0 ||
         strncmp(t, "4 Vendor Log File", 17) == 0 || strncmp(t, "X ", 2) == 0;
}

static uint32_t check_url(const char *url) {
  sim_url u;
  int rc = sim_url_parse(url, &u);
  if (rc == ACS_ERANGE || (rc == 0 && u.https && !sim_tls_ready())) return 9013;
  return rc ? 9003 : 0;
}

static uint32_t queued(const sim_dev *d) {
  uint32_t n = 0;
  for (uint32_t i = 0; i < d->xfers.n; i++) n += d->xfers.v[i].kind != SIM_X_DU;
  return n;
}

static sim_xfer *new_xfer(sim_dev *d, sim_xfer_kind kind, const char *key, const char *ft,
                          const char *url, const char *user, const char *pass) {
  sim_xfer *x = SIM_VPUSH(d->xfers);
  memset(x, 0, sizeof *x);
  x->kind = (uint8_t)kind;
  x->state = 1;
  x->key = sim_xstrdup(nz(key));
  x->file_type = sim_xstrdup(nz(ft));
  x->url = sim_xstrdup(nz(url));
  x->user = sim_xstrdup(nz(user));
  x->pass = sim_xstrdup(nz(pass));
  x->accepted = sim_wall_s();
  return x;
}

static void download(sim_dev *d, const acs_cwmp_msg *req, acs_arena *a, acs_cwmp_msg *rsp) {
  const acs_cwmp_download *q = &req->u.download;
  uint32_t code = check_url(nz(q->url));
  if (code) {
    fault(rsp, a, code, "%s: %s", code == 9013 ? "Unsupported protocol" : "Bad URL", nz(q->url));
    return;
  }
  if (!download_type_ok(nz(q->file_type))) {
    fault(rsp, a, 9003, "Unsupported FileType: %s", nz(q->file_type));
    return;
  }
  if (queued(d) >= MAX_QUEUED) {
    fault(rsp, a, 9004, "Too many queued transfers");
    return;
  }
  sim_xfer *x =
      new_xfer(d, SIM_X_DOWNLOAD, q->command_key, q->file_type, q->url, q->username, q->password);
  x->target = sim_xstrdup(nz(q->target_file_name));
  x->file_size = q->file_size;
  x->due_ms = sim_now_ms() + (uint64_t)q->delay_seconds * 1000;
  rsp->kind = ACS_CWMP_DOWNLOAD_RESPONSE;
  rsp->u.transfer_response.status = 1; /* not yet completed: TransferComplete later */
}

static void upload(sim_dev *d, const acs_cwmp_msg *req, acs_arena *a, acs_cwmp_msg *rsp) {
  const acs_cwmp_upload *q = &req->u.upload;
  uint32_t code = check_url(nz(q->url));
  if (code) {
    fault(rsp, a, code, "%s: %s", code == 9013 ? "Unsupported protocol" : "Bad URL", nz(q->url));
    return;
  }
  if (!upload_type_ok(nz(q->file_type))) {
    fault(rsp, a, 9003, "Unsupported FileType: %s", nz(q->file_type));
    return;
  }
  if (queued(d) >= MAX_QUEUED) {
    fault(rsp, a, 9004, "Too many queued transfers");
    return;
  }
  sim_xfer *x =
      new_xfer(d, SIM_X_UPLOAD, q->command_key, q->file_type, q->url, q->username, q->password);
  x->due_ms = sim_now_ms() + (uint64_t)q->delay_seconds * 1000;
  rsp->kind = ACS_CWMP_UPLOAD_RESPONSE;
  rsp->u.transfer_response.status = 1;
}

static void schedule_download(sim_dev *d, const acs_cwmp_msg *req, acs_arena *a,
                              acs_cwmp_msg *rsp) {
  const acs_cwmp_schedule_download *q = &req->u.schedule_download;
  uint32_t code = check_url(nz(q->url));
  if (code) {
    fault(rsp, a, code, "%s: %s", code == 9013 ? "Unsupported protocol" : "Bad URL", nz(q->url));
    return;
  }
  if (!download_type_ok(nz(q->file_type))) {
    fault(rsp, a, 9003, "Unsupported FileType: %s", nz(q->file_type));
    return;
  }
  size_t nw = q->time_windows.n;
  if (nw < 1 || nw > 2) {
    fault(rsp, a, 9003, "TimeWindowList needs 1 or 2 windows");
    return;
  }
  for (size_t i = 0; i < nw; i++) {
    const acs_cwmp_time_window *w = &q->time_windows.v[i];
    if (w->window_end <= w->window_start ||
        (i && w->window_start < q->time_windows.v[i - 1].window_end)) {
      fault(rsp, a, 9003, "Time windows must be ordered and not overlap");
      return;
    }
  }
  if (queued(d) >= MAX_QUEUED) {
    fault(rsp, a, 9004, "Too many queued transfers");
    return;
  }
  sim_xfer *x = new_xfer(d, SIM_X_SCHEDULE_DOWNLOAD, q->command_key, q->file_type, q->url,
                         q->username, q->password);
  x->target = sim_xstrdup(nz(q->target_file_name));
  x->file_size = q->file_size;
  uint64_t now = sim_now_ms();
  x->due_ms = now + (uint64_t)q->time_windows.v[0].window_start * 1000;
  x->deadline_ms = now + (uint64_t)q->time_windows.v[nw - 1].window_end * 1000;
  rsp->kind = ACS_CWMP_SCHEDULE_DOWNLOAD_RESPONSE;
}

static void cancel_transfer(sim_dev *d, const acs_cwmp_msg *req, acs_arena *a, acs_cwmp_msg *rsp) {
  const char *key = nz(req->u.command_key_req.command_key);
  for (uint32_t i = 0; i < d->xfers.n; i++) {
    sim_xfer *x = &d->xfers.v[i];
    if (x->kind == SIM_X_DU || strcmp(x->key, key) != 0) continue;
    if (x->state != 1) {
      fault(rsp, a, 9021, "Transfer %s is in progress", key);
      return;
    }
    free(x->key);
    free(x->file_type);
    free(x->url);
    free(x->user);
    free(x->pass);
    free(x->target);
    SIM_VDEL(d->xfers, i);
    rsp->kind = ACS_CWMP_CANCEL_TRANSFER_RESPONSE;
    return;
  }
  fault(rsp, a, 9021, "No queued transfer with CommandKey %s", key);
}

static void queued_transfers(sim_dev *d, bool all, acs_arena *a, acs_cwmp_msg *rsp) {
  rsp->kind =
      all ? ACS_CWMP_GET_ALL_QUEUED_TRANSFERS_RESPONSE : ACS_CWMP_GET_QUEUED_TRANSFERS_RESPONSE;
  acs_cwmp_queued_transfers_response *q = &rsp->u.queued_transfers_response;
  q->transfers.v = acs_arena_calloc(a, d->xfers.n ? d->xfers.n : 1, sizeof *q->transfers.v);
  for (uint32_t i = 0; i < d->xfers.n; i++) {
    const sim_xfer *x = &d->xfers.v[i];
    bool is_dl = x->kind == SIM_X_DOWNLOAD || x->kind == SIM_X_SCHEDULE_DOWNLOAD;
    if (x->kind == SIM_X_DU || (!all && !is_dl)) continue;
    acs_cwmp_queued_transfer *t = &q->transfers.v[q->transfers.n++];
    t->command_key = x->key;
    t->state = x->state;
    t->is_download = is_dl;
    t->file_type = x->file_type;
    t->file_size = x->file_size;
    t->target_file_name = x->target ? x->target : "";
  }
}

static void schedule_inform(sim_dev *d, const acs_cwmp_msg *req, acs_arena *a, acs_cwmp_msg *rsp) {
  const acs_cwmp_schedule_inform *q = &req->u.schedule_inform;
  if (q->delay_seconds == 0) {
    fault(rsp, a, 9003, "DelaySeconds must be greater than 0");
    return;
  }
  sim_sched *s = SIM_VPUSH(d->scheds);
  s->due_ms = sim_now_ms() + (uint64_t)q->delay_seconds * 1000;
  s->key = sim_xstrdup(nz(q->command_key));
  rsp->kind = ACS_CWMP_SCHEDULE_INFORM_RESPONSE;
}

static void change_du_state(sim_dev *d, const acs_cwmp_msg *req, acs_arena *a, acs_cwmp_msg *rsp) {
  const acs_cwmp_change_du_state *q = &req->u.change_du_state;
  if (q->operations.n == 0 || q->operations.n > 16) {
    fault(rsp, a, 9003, "ChangeDUState needs 1 to 16 operations");
    return;
  }
  for (size_t i = 0; i < q->operations.n; i++) {
    const acs_cwmp_du_op *o = &q->operations.v[i];
    if (o->kind == ACS_CWMP_DU_INSTALL && (!o->url || !*o->url)) {
      fault(rsp, a, 9003, "Install needs a URL");
      return;
    }
    if (o->kind == ACS_CWMP_DU_UNINSTALL && (!o->uuid || !*o->uuid)) {
      fault(rsp, a, 9003, "Uninstall needs a UUID");
      return;
    }
    if (o->url && *o->url && check_url(o->url)) {
      fault(rsp, a, check_url(o->url), "Unsupported URL: %s", o->url);
      return;
    }
  }
  sim_xfer *x = new_xfer(d, SIM_X_DU, q->command_key, "", "", "", "");
  x->nops = (uint32_t)q->operations.n;
  x->ops = sim_xcalloc(x->nops, sizeof *x->ops);
  for (uint32_t i = 0; i < x->nops; i++) {
    const acs_cwmp_du_op *o = &q->operations.v[i];
    acs_cwmp_du_op *c = &x->ops[i];
    c->kind = o->kind;
    c->url = sim_xstrdup(o->url);
    c->uuid = sim_xstrdup(o->uuid);
    c->username = sim_xstrdup(o->username);
    c->password = sim_xstrdup(o->password);
    c->execution_env_ref = sim_xstrdup(o->execution_env_ref);
    c->version = sim_xstrdup(o->version);
  }
  x->due_ms = sim_now_ms();
  rsp->kind = ACS_CWMP_CHANGE_DU_STATE_RESPONSE;
}

void sim_rpc_answer(sim_dev *d, const acs_cwmp_msg *req, acs_arena *a, acs_cwmp_msg *rsp) {
  memset(rsp, 0, sizeof *rsp);
  rsp->ns = req->ns;
  rsp->id = req->id;
  switch (req->kind) {
    case ACS_CWMP_GET_PARAMETER_VALUES:
      gpv(d, req, a, rsp);
      break;
    case ACS_CWMP_SET_PARAMETER_VALUES:
      spv(d, req, a, rsp);
      break;
    case ACS_CWMP_GET_PARAMETER_NAMES:
      gpn(d, req, a, rsp);
      break;
    case ACS_CWMP_GET_PARAMETER_ATTRIBUTES:
      gpa(d, req, a, rsp);
      break;
    case ACS_CWMP_SET_PARAMETER_ATTRIBUTES:
      spa(d, req, a, rsp);
      break;
    case ACS_CWMP_ADD_OBJECT:
      add_object(d, req, a, rsp);
      break;
    case ACS_CWMP_DELETE_OBJECT:
      delete_object(d, req, a, rsp);
      break;
    case ACS_CWMP_REBOOT:
      d->reboot_after = true;
      sim_strset(&d->reboot_key, nz(req->u.command_key_req.command_key));
      rsp->kind = ACS_CWMP_REBOOT_RESPONSE;
      break;
    case ACS_CWMP_FACTORY_RESET:
      d->reset_after = true;
      rsp->kind = ACS_CWMP_FACTORY_RESET_RESPONSE;
      break;
    case ACS_CWMP_DOWNLOAD:
      download(d, req, a, rsp);
      break;
    case ACS_CWMP_UPLOAD:
      upload(d, req, a, rsp);
      break;
    case ACS_CWMP_SCHEDULE_INFORM:
      schedule_inform(d, req, a, rsp);
      break;
    case ACS_CWMP_SCHEDULE_DOWNLOAD:
      schedule_download(d, req, a, rsp);
      break;
    case ACS_CWMP_CANCEL_TRANSFER:
      cancel_transfer(d, req, a, rsp);
      break;
    case ACS_CWMP_GET_QUEUED_TRANSFERS:
      queued_transfers(d, false, a, rsp);
      break;
    case ACS_CWMP_GET_ALL_QUEUED_TRANSFERS:
      queued_transfers(d, true, a, rsp);
      break;
    case ACS_CWMP_CHANGE_DU_STATE:
      change_du_state(d, req, a, rsp);
      break;
    case ACS_CWMP_GET_RPC_METHODS:
      rsp->kind = ACS_CWMP_GET_RPC_METHODS_RESPONSE;
      rsp->u.get_rpc_methods_response.methods.v = (char **)sim_rpc_methods;
      rsp->u.get_rpc_methods_response.methods.n = sim_rpc_nmethods;
      break;
    default: {
      const char *name =
          req->kind == ACS_CWMP_UNKNOWN ? req->unknown_method : acs_cwmp_kind_name(req->kind);
      fault(rsp, a, 9000, "Method not supported: %s", nz(name));
      break;
    }
  }
  sim_stats_rpc(req->kind, rsp->kind == ACS_CWMP_FAULT);
}
