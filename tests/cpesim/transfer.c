/* transfer.c: what happens after a Download, ScheduleDownload, Upload or
 * ChangeDUState was accepted: the HTTP transfer (loopback and the ACS's
 * host only), its effect on the device, and the TransferComplete or
 * DUStateChangeComplete that reports it in the next session.
 *
 * One transfer at a time per device, in the order they were queued, never
 * while the device is in a session. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/acs_err.h"
#include "sim.h"

#define KEEP_BODY (1u << 20)

struct sim_job {
  sim_dev *d;
  sim_httpc *hc;
  sim_xfer x; /* a copy: the queue may change meanwhile */
  int64_t start;
  int auth_tries;
  acs_buf auth, body;
  sim_url url;
  const char *method;
  /* ChangeDUState */
  uint32_t op;
  SIM_VEC(acs_cwmp_du_result) results;
};

static const char *nz(const char *s) { return s ? s : ""; }

static void free_xfer_fields(sim_xfer *x) {
  free(x->key);
  free(x->file_type);
  free(x->url);
  free(x->user);
  free(x->pass);
  free(x->target);
  for (uint32_t j = 0; j < x->nops; j++) {
    acs_cwmp_du_op *o = &x->ops[j];
    free(o->url);
    free(o->uuid);
    free(o->username);
    free(o->password);
    free(o->execution_env_ref);
    free(o->version);
  }
  free(x->ops);
}

static void job_free(sim_job *j) {
  sim_httpc_close(j->hc);
  free_xfer_fields(&j->x);
  acs_buf_free(&j->auth);
  acs_buf_free(&j->body);
  for (uint32_t i = 0; i < j->results.n; i++) {
    acs_cwmp_du_result *r = &j->results.v[i];
    free(r->uuid);
    free(r->deployment_unit_ref);
    free(r->version);
    free(r->current_state);
    free(r->execution_unit_ref_list);
    free(r->start_time);
    free(r->complete_time);
    free(r->fault.string);
  }
  SIM_VFREE(j->results);
  free(j);
}

/* Removes the queue entry the job came from (the one in progress). */
static void dequeue(sim_dev *d) {
  for (uint32_t i = 0; i < d->xfers.n; i++) {
    if (d->xfers.v[i].state == 2) {
      free_xfer_fields(&d->xfers.v[i]);
      SIM_VDEL(d->xfers, i);
      return;
    }
  }
}

/* --- completion */

static void complete(sim_job *j, uint32_t fault, const char *fstr, bool reboot) {
  sim_dev *d = j->d;
  sim_tc *tc = SIM_VPUSH(d->tcs);
  tc->key = sim_xstrdup(nz(j->x.key));
  tc->fault = fault;
  tc->fault_string = sim_xstrdup(fault ? (fstr ? fstr : acs_cwmp_fault_string(fault)) : "");
  tc->start = j->start;
  tc->complete = sim_wall_s();
  tc->in_flight = false;
  sim_ev ev = j->x.kind == SIM_X_UPLOAD              ? SIM_EV_M_UPLOAD
              : j->x.kind == SIM_X_SCHEDULE_DOWNLOAD ? SIM_EV_M_SCHEDULE_DOWNLOAD
                                                     : SIM_EV_M_DOWNLOAD;
  sim_dev_add_event(d, ev, j->x.key);
  if (fault)
    S->st.transfers_failed++;
  else
    S->st.transfers_ok++;
  SIM_LOG("%s: %s %s: %s", d->serial, j->x.kind == SIM_X_UPLOAD ? "upload" : "download", j->x.url,
          fault ? tc->fault_string : "done");
  dequeue(d);
  job_free(j);
  sim_dev_job_done(d, reboot && !fault);
}

/* --- effects of a downloaded file */

static const char *base_name(const char *url, char *buf, size_t n) {
  const char *p = url;
  const char *q = strchr(p, '?');
  size_t len = q ? (size_t)(q - p) : strlen(p);
  const char *slash = NULL;
  for (size_t i = 0; i < len; i++)
    if (p[i] == '/') slash = p + i;
  const char *b = slash ? slash + 1 : p;
  size_t bl = (size_t)(p + len - b);
  if (bl >= n) bl = n - 1;
  memcpy(buf, b, bl);
  buf[bl] = '\0';
  return buf;
}

static bool version_in(const char *name, char *out, size_t n) {
  static const char *const exts[] = {".bin", ".img", ".tar", ".gz",  ".tgz", ".zip",
                                     ".fw",  ".trx", ".chk", ".ubi", ".itb", ".ipk"};
  for (const char *p = name; *p; p++) {
    if (!isdigit((unsigned char)*p) ||
        (p > name && isalnum((unsigned char)p[-1]) && !(p[-1] == 'v' || p[-1] == 'V')))
      continue;
    const char *q = p;
    while (isdigit((unsigned char)*q)) q++;
    if (*q != '.' || !isdigit((unsigned char)q[1])) continue;
    while (isalnum((unsigned char)*q) || *q == '.' || *q == '-' || *q == '_') q++;
    size_t l = (size_t)(q - p);
    for (bool again = true; again;) {
      again = false;
      for (size_t e = 0; e < sizeof exts / sizeof exts[0]; e++) {
        size_t el = strlen(exts[e]);
        if (l > el && strncasecmp(p + l - el, exts[e], el) == 0) {
          l -= el;
          again = true;
        }
      }
    }
    while (l && (p[l - 1] == '.' || p[l - 1] == '-' || p[l - 1] == '_')) l--;
    if (l == 0 || l >= n) continue;
    memcpy(out, p, l);
    out[l] = '\0';
    return true;
  }
  return false;
}

int sim_firmware_version(const char *url, const char *body, size_t len, char *out, size_t n) {
  if (body && len >= 15 && strncmp(body, "cpesim-firmware", 15) == 0) {
    const char *eol = memchr(body, '\n', len);
    size_t ll = eol ? (size_t)(eol - body) : len;
    const char *v = memmem(body, ll, "version=", 8);
    if (v) {
      v += 8;
      size_t vl = 0;
      while (v + vl < body + ll && !isspace((unsigned char)v[vl])) vl++;
      if (vl && vl < n) {
        memcpy(out, v, vl);
        out[vl] = '\0';
        return 0;
      }
    }
  }
  if (S->o.firmware_version) {
    snprintf(out, n, "%s", S->o.firmware_version);
    return 0;
  }
  char b[256];
  if (url && version_in(base_name(url, b, sizeof b), out, n)) return 0;
  return ACS_ENOTFOUND;
}

void sim_config_dump(sim_dev *d, acs_buf *out) {
  char t[21];
  sim_time_iso(sim_wall_s(), t);
  acs_buf_printf(out, "# cpesim configuration of %s at %s\n", d->serial, t);
  acs_buf v = ACS_BUF_INIT;
  const sim_model *m = S->model;
  /* every writable parameter: the model's, then the device's own */
  for (uint32_t i = 0; i < m->n; i++) {
    sim_ref r;
    const sim_node *n = &m->nodes[i];
    if (n->type == SIM_OBJECT || !(n->flags & SIM_F_WRITABLE) || (n->flags & SIM_F_HIDDEN))
      continue;
    if (sim_dev_find(d, n->name, &r)) continue;
    acs_buf_printf(out, "%s\t%s\t%s\n", n->name, acs_cwmp_type_name((acs_cwmp_type)n->type),
                   sim_dev_value(d, r, &v, false));
  }
  for (uint32_t k = 0; k < d->dyn.n; k++) {
    sim_ref r = SIM_DYN | k;
    const sim_node *n = sim_dev_node(d, r);
    if (d->dyn.v[k].dead || n->type == SIM_OBJECT || !(n->flags & SIM_F_WRITABLE) ||
        (n->flags & SIM_F_HIDDEN))
      continue;
    acs_buf_printf(out, "%s\t%s\t%s\n", d->dyn.v[k].name,
                   acs_cwmp_type_name((acs_cwmp_type)n->type), sim_dev_value(d, r, &v, false));
  }
  acs_buf_free(&v);
}

/* A vendor configuration file: lines "name TAB [type TAB] value" or
 * "name=value"; all or nothing. Returns 0 or a fault with a message. */
static uint32_t apply_config(sim_dev *d, const char *body, size_t len, char *msg, size_t ml) {
  char *text = sim_xstrndup(body, len);
  SIM_VEC(sim_ref) refs = {0};
  SIM_VEC(char *) vals = {0};
  uint32_t fault = 0;
  int lineno = 0;
  for (char *line = text, *next; line && *line && !fault; line = next) {
    next = strchr(line, '\n');
    if (next) *next++ = '\0';
    lineno++;
    size_t l = strlen(line);
    if (l && line[l - 1] == '\r') line[--l] = '\0';
    if (l == 0 || line[0] == '#') continue;
    char *name = line, *value;
    char *tab = strchr(line, '\t');
    if (tab) {
      *tab = '\0';
      value = tab + 1;
      char *tab2 = strchr(value, '\t');
      if (tab2) value = tab2 + 1;
    } else {
      char *eq = strchr(line, '=');
      if (!eq) {
        snprintf(msg, ml, "configuration file line %d: no value", lineno);
        fault = 9018;
        break;
      }
      *eq = '\0';
      value = eq + 1;
    }
    sim_ref r;
    if (sim_dev_find(d, name, &r) || !sim_dev_is_param(d, r) || !sim_dev_writable(d, r) ||
        sim_check_value(sim_dev_node(d, r), value, ACS_XSD_ANY)) {
      snprintf(msg, ml, "configuration file line %d: cannot set %s", lineno, name);
      fault = 9018;
      break;
    }
    *SIM_VPUSH(refs) = r;
    *SIM_VPUSH(vals) = value;
  }
  if (!fault)
    for (uint32_t i = 0; i < refs.n; i++) sim_dev_set(d, refs.v[i], vals.v[i], true);
  SIM_VFREE(refs);
  SIM_VFREE(vals);
  free(text);
  return fault;
}

/* Records a configuration file in DeviceInfo.VendorConfigFile when the
 * model has that table. */
static void note_config_file(sim_dev *d, const char *name) {
  acs_buf b = ACS_BUF_INIT;
  acs_buf_printf(&b, "%sDeviceInfo.VendorConfigFile.", S->model->root);
  uint32_t inst;
  if (sim_dev_add_object(d, b.data, true, &inst) == 0) {
    const char *leaf[][2] = {{"Name", name}, {"Date", NULL}, {"UseForBackupRestore", "false"}};
    char t[21];
    sim_time_iso(sim_wall_s(), t);
    for (size_t i = 0; i < 3; i++) {
      acs_buf p = ACS_BUF_INIT;
      acs_buf_printf(&p, "%s%u.%s", b.data, inst, leaf[i][0]);
      sim_ref r;
      if (sim_dev_find(d, p.data, &r) == 0) sim_dev_set(d, r, leaf[i][1] ? leaf[i][1] : t, true);
      acs_buf_free(&p);
    }
  }
  acs_buf_free(&b);
}

static void downloaded(sim_job *j, const sim_http_rsp *r) {
  sim_dev *d = j->d;
  char msg[256];
  if (j->x.file_size && r->body_total != j->x.file_size) {
    snprintf(msg, sizeof msg, "file size %llu, expected %u", (unsigned long long)r->body_total,
             j->x.file_size);
    complete(j, 9018, msg, false);
    return;
  }
  const char *ft = j->x.file_type;
  if (strcmp(ft, "1 Firmware Upgrade Image") == 0) {
    char v[128];
    if (sim_firmware_version(j->x.url, r->body, r->body_len, v, sizeof v) &&
        sim_firmware_version(j->x.target, NULL, 0, v, sizeof v)) {
      complete(j, 9018, "not a firmware image: no version in its header or file name", false);
      return;
    }
    if (S->model->sw_version != SIM_NONE && sim_dev_set(d, S->model->sw_version, v, false))
      sim_dev_due(d, false);
    complete(j, 0, NULL, true); /* the new image boots */
    return;
  }
  if (strcmp(ft, "3 Vendor Configuration File") == 0) {
    uint32_t f = apply_config(d, r->body, r->body_len, msg, sizeof msg);
    if (f) {
      complete(j, f, msg, false);
      return;
    }
    char b[256];
    note_config_file(d, *j->x.target ? j->x.target : base_name(j->x.url, b, sizeof b));
  }
  complete(j, 0, NULL, false);
}

/* --- the HTTP part */

static void http_cb(void *ctx, int err, const sim_http_rsp *r);

static int job_send(sim_job *j) {
  acs_buf hdr = ACS_BUF_INIT;
  if (j->auth.len) acs_buf_append(&hdr, j->auth.data, j->auth.len);
  if (j->body.len) acs_buf_puts(&hdr, "Content-Type: text/plain\r\n");
  acs_buf_puts(&hdr, "Connection: close\r\n");
  char host[300];
  snprintf(host, sizeof host, "%s:%u", j->url.host, j->url.port);
  int rc = sim_httpc_request(j->hc, j->method, host, j->url.path, hdr.data, j->body.data,
                             j->body.len, S->o.timeout_ms * 2, http_cb, j);
  acs_buf_free(&hdr);
  return rc;
}

static uint32_t transfer_fault(const sim_job *j, int what) {
  bool up = j->x.kind == SIM_X_UPLOAD;
  switch (what) {
    case 0:
      return up ? 9011 : 9015; /* cannot contact the server */
    case 1:
      return 9012; /* authentication */
    case 2:
      return up ? 9011 : 9016; /* cannot access the file */
    default:
      return up ? 9011 : 9017; /* cannot complete */
  }
}

static void du_next(sim_job *j);
static void du_fetched(sim_job *j, uint32_t fault, const char *msg, const sim_http_rsp *r);

static void http_done(sim_job *j, uint32_t fault, const char *msg, const sim_http_rsp *r) {
  if (j->x.kind == SIM_X_DU) {
    du_fetched(j, fault, msg, r);
    return;
  }
  if (fault) {
    complete(j, fault, msg, false);
    return;
  }
  if (j->x.kind == SIM_X_UPLOAD)
    complete(j, 0, NULL, false);
  else
    downloaded(j, r);
}

static void http_cb(void *ctx, int err, const sim_http_rsp *r) {
  sim_job *j = ctx;
  char msg[256];
  if (err) {
    snprintf(msg, sizeof msg, "%s: %s", j->x.url, acs_strerror(err));
    http_done(j, transfer_fault(j, err == ACS_ETIMEOUT ? 3 : 0), msg, NULL);
    return;
  }
  const char *user = j->x.user, *pass = j->x.pass;
  if (SIM_QUIRK(SIM_Q_DOWNLOAD_NO_CREDENTIALS) && j->x.kind != SIM_X_UPLOAD)
    user = pass = ""; /* the Download's Username/Password ignored */
  if (r->status == 401) {
    if (j->auth_tries++ == 0 && *user && r->www_authenticate) {
      acs_buf_reset(&j->auth);
      if (sim_http_authorization(r->www_authenticate, user, pass, j->method, j->url.path,
                                 &j->auth) == 0 &&
          job_send(j) == 0)
        return;
    }
    snprintf(msg, sizeof msg, "%s: HTTP 401", j->x.url);
    http_done(j, transfer_fault(j, 1), msg, NULL);
    return;
  }
  if (r->status < 200 || r->status >= 300) {
    snprintf(msg, sizeof msg, "%s: HTTP %d", j->x.url, r->status);
    http_done(j, transfer_fault(j, 2), msg, NULL);
    return;
  }
  http_done(j, 0, NULL, r);
}

/* Starts the HTTP request of the job; a fault when it cannot. */
static uint32_t begin_http(sim_job *j, const char *url, const char *method, char *msg, size_t ml) {
  struct sockaddr_storage addr;
  int rc = sim_url_parse(url, &j->url);
  if (rc || (j->url.https && !sim_tls_ready())) {
    snprintf(msg, ml, "unsupported URL %s", url);
    return 9013;
  }
  if ((rc = sim_resolve_allowed(&j->url, &addr))) {
    snprintf(msg, ml, "%s: cpesim only contacts loopback addresses and the ACS's host", url);
    return transfer_fault(j, 0);
  }
  j->method = method;
  sim_httpc_close(j->hc);
  j->hc = sim_httpc_new(&addr, KEEP_BODY);
  if (j->url.https) sim_httpc_set_tls(j->hc, j->url.host, j->d->serial, NULL);
  j->auth_tries = 0;
  acs_buf_reset(&j->auth);
  if ((rc = job_send(j))) {
    snprintf(msg, ml, "%s: %s", url, acs_strerror(rc));
    return transfer_fault(j, 0);
  }
  return 0;
}

/* --- ChangeDUState */

static bool uuid_ok(const char *u) {
  if (strlen(u) != 36) return false;
  for (int i = 0; i < 36; i++) {
    bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash ? u[i] != '-' : !isxdigit((unsigned char)u[i])) return false;
  }
  return true;
}

static sim_du *du_find(sim_dev *d, const char *uuid, const char *url) {
  for (uint32_t i = 0; i < d->dus.n; i++) {
    if (uuid && *uuid && strcasecmp(d->dus.v[i].uuid, uuid) == 0) return &d->dus.v[i];
    if ((!uuid || !*uuid) && url && *url && strcmp(d->dus.v[i].url, url) == 0) return &d->dus.v[i];
  }
  return NULL;
}

static void du_table_set(sim_dev *d, uint32_t inst, const char *leaf, const char *value) {
  const sim_model *m = S->model;
  if (m->du_table == SIM_NONE || !inst) return;
  acs_buf p = ACS_BUF_INIT;
  acs_buf_printf(&p, "%s%u.%s", m->nodes[m->du_table].name, inst, leaf);
  sim_ref r;
  if (sim_dev_find(d, p.data, &r) == 0) sim_dev_set(d, r, value, true);
  acs_buf_free(&p);
}

static acs_cwmp_du_result *du_result(sim_job *j, const char *uuid, const char *version,
                                     uint32_t inst, const char *state, uint32_t fault,
                                     const char *msg) {
  acs_cwmp_du_result *r = SIM_VPUSH(j->results);
  memset(r, 0, sizeof *r);
  char t[21], ref[512] = "";
  const sim_model *m = S->model;
  if (inst && m->du_table != SIM_NONE)
    snprintf(ref, sizeof ref, "%s%u.", m->nodes[m->du_table].name, inst);
  r->uuid = sim_xstrdup(nz(uuid));
  r->deployment_unit_ref = sim_xstrdup(ref);
  r->version = sim_xstrdup(nz(version));
  r->current_state = sim_xstrdup(state);
  r->resolved = fault == 0;
  r->execution_unit_ref_list = sim_xstrdup("");
  sim_time_iso(j->start, t);
  r->start_time = sim_xstrdup(t);
  sim_time_iso(sim_wall_s(), t);
  r->complete_time = sim_xstrdup(t);
  r->fault.code = fault;
  r->fault.string = sim_xstrdup(fault ? (msg ? msg : acs_cwmp_fault_string(fault)) : "");
  return r;
}

static void du_finish(sim_job *j) {
  sim_dev *d = j->d;
  sim_dusc *u = SIM_VPUSH(d->duscs);
  u->key = sim_xstrdup(nz(j->x.key));
  u->n = j->results.n;
  u->results = j->results.v;
  u->in_flight = false;
  j->results.v = NULL;
  j->results.n = j->results.cap = 0;
  sim_dev_add_event(d, SIM_EV_M_CHANGE_DU_STATE, j->x.key);
  dequeue(d);
  job_free(j);
  sim_dev_job_done(d, false);
}

static void du_fetched(sim_job *j, uint32_t fault, const char *msg, const sim_http_rsp *r) {
  sim_dev *d = j->d;
  acs_cwmp_du_op *o = &j->x.ops[j->op];
  bool install = o->kind == ACS_CWMP_DU_INSTALL;
  sim_du *du = install ? NULL : du_find(d, o->uuid, o->url);
  if (fault) {
    du_result(j, o->uuid, o->version, du ? du->inst : 0, install ? "Failed" : "Installed", fault,
              msg);
    j->op++;
    du_next(j);
    return;
  }
  char ver[128], name[256];
  if (o->version && *o->version)
    snprintf(ver, sizeof ver, "%s", o->version);
  else if (sim_firmware_version(o->url ? o->url
                                : du   ? du->url
                                       : "",
                                r->body, r->body_len, ver, sizeof ver))
    snprintf(ver, sizeof ver, "1.0");
  const char *url = o->url && *o->url ? o->url : du ? du->url : "";
  if (install) {
    char uuid[40];
    if (o->uuid && *o->uuid) {
      snprintf(uuid, sizeof uuid, "%s", o->uuid);
    } else {
      uint64_t a = sim_rand(), b = sim_rand();
      snprintf(uuid, sizeof uuid, "%08x-%04x-4%03x-%04x-%012llx", (unsigned)(a >> 32),
               (unsigned)(a >> 16) & 0xffff, (unsigned)a & 0xfff,
               (unsigned)((b >> 48) & 0x3fff) | 0x8000,
               (unsigned long long)(b & 0xffffffffffffull));
    }
    du = SIM_VPUSH(d->dus);
    memset(du, 0, sizeof *du);
    du->uuid = sim_xstrdup(uuid);
    base_name(url, name, sizeof name);
    char *dot = strchr(name, '.');
    if (dot && dot != name) *dot = '\0';
    du->name = sim_xstrdup(name);
    du->version = sim_xstrdup(ver);
    du->url = sim_xstrdup(url);
    du->ee = sim_xstrdup(o->execution_env_ref && *o->execution_env_ref ? o->execution_env_ref : "");
    const sim_model *m = S->model;
    if (m->du_table != SIM_NONE &&
        sim_dev_add_object(d, m->nodes[m->du_table].name, true, &du->inst) == 0) {
      du_table_set(d, du->inst, "UUID", du->uuid);
      du_table_set(d, du->inst, "Name", du->name);
      du_table_set(d, du->inst, "Status", "Installed");
      du_table_set(d, du->inst, "Resolved", "true");
      du_table_set(d, du->inst, "URL", du->url);
      du_table_set(d, du->inst, "Version", du->version);
      du_table_set(d, du->inst, "Vendor", "cpesim Networks");
      if (*du->ee) du_table_set(d, du->inst, "ExecutionEnvRef", du->ee);
    }
    du_result(j, du->uuid, du->version, du->inst, "Installed", 0, NULL);
  } else {
    sim_strset(&du->version, ver);
    sim_strset(&du->url, url); /* url may be du->url itself: use du's copy from here */
    du_table_set(d, du->inst, "Version", du->version);
    du_table_set(d, du->inst, "URL", du->url);
    du_result(j, du->uuid, du->version, du->inst, "Installed", 0, NULL);
  }
  j->op++;
  du_next(j);
}

static void du_next(sim_job *j) {
  sim_dev *d = j->d;
  char msg[256];
  while (j->op < j->x.nops) {
    acs_cwmp_du_op *o = &j->x.ops[j->op];
    if (o->uuid && *o->uuid && !uuid_ok(o->uuid)) {
      du_result(j, o->uuid, o->version, 0, "Failed", 9022, NULL);
      j->op++;
      continue;
    }
    if (o->kind == ACS_CWMP_DU_INSTALL) {
      if (o->uuid && *o->uuid && du_find(d, o->uuid, NULL)) {
        du_result(j, o->uuid, o->version, 0, "Failed", 9026, NULL);
        j->op++;
        continue;
      }
    } else {
      sim_du *du = du_find(d, o->uuid, o->url);
      if (!du) {
        du_result(j, o->uuid, o->version, 0, "Failed", 9028, NULL);
        j->op++;
        continue;
      }
      if (o->kind == ACS_CWMP_DU_UNINSTALL) {
        if (o->version && *o->version && strcmp(o->version, du->version) != 0) {
          du_result(j, du->uuid, o->version, du->inst, "Installed", 9028, NULL);
          j->op++;
          continue;
        }
        if (du->inst && S->model->du_table != SIM_NONE) {
          acs_buf p = ACS_BUF_INIT;
          acs_buf_printf(&p, "%s%u.", S->model->nodes[S->model->du_table].name, du->inst);
          sim_dev_delete_object(d, p.data, true);
          acs_buf_free(&p);
        }
        du_result(j, du->uuid, du->version, du->inst, "Uninstalled", 0, NULL);
        free(du->uuid);
        free(du->name);
        free(du->version);
        free(du->url);
        free(du->ee);
        SIM_VDEL(d->dus, (uint32_t)(du - d->dus.v));
        j->op++;
        continue;
      }
      if (o->version && *o->version && strcmp(o->version, du->version) == 0) {
        du_result(j, du->uuid, o->version, du->inst, "Installed", 9032, NULL);
        j->op++;
        continue;
      }
    }
    const char *url = o->url && *o->url ? o->url : NULL;
    if (!url) {
      sim_du *du = du_find(d, o->uuid, NULL);
      url = du ? du->url : "";
    }
    free(j->x.url);
    j->x.url = sim_xstrdup(url);
    free(j->x.user);
    j->x.user = sim_xstrdup(nz(o->username));
    free(j->x.pass);
    j->x.pass = sim_xstrdup(nz(o->password));
    uint32_t f = begin_http(j, url, "GET", msg, sizeof msg);
    if (!f) return; /* du_fetched continues */
    du_result(j, o->uuid, o->version, 0, o->kind == ACS_CWMP_DU_INSTALL ? "Failed" : "Installed", f,
              msg);
    j->op++;
  }
  du_finish(j);
}

/* --- start */

static sim_xfer copy_xfer(const sim_xfer *x) {
  sim_xfer c = *x;
  c.key = sim_xstrdup(x->key);
  c.file_type = sim_xstrdup(x->file_type);
  c.url = sim_xstrdup(x->url);
  c.user = sim_xstrdup(x->user);
  c.pass = sim_xstrdup(x->pass);
  c.target = sim_xstrdup(x->target ? x->target : "");
  c.ops = NULL;
  c.nops = x->nops;
  if (x->nops) {
    c.ops = sim_xcalloc(x->nops, sizeof *c.ops);
    for (uint32_t i = 0; i < x->nops; i++) {
      const acs_cwmp_du_op *o = &x->ops[i];
      c.ops[i].kind = o->kind;
      c.ops[i].url = sim_xstrdup(o->url);
      c.ops[i].uuid = sim_xstrdup(o->uuid);
      c.ops[i].username = sim_xstrdup(o->username);
      c.ops[i].password = sim_xstrdup(o->password);
      c.ops[i].execution_env_ref = sim_xstrdup(o->execution_env_ref);
      c.ops[i].version = sim_xstrdup(o->version);
    }
  }
  return c;
}

bool sim_xfer_start(sim_dev *d) {
  if (d->job || d->state == SIM_D_SESSION || d->state == SIM_D_OFF || S->stopping) return false;
  uint64_t now = sim_now_ms();
  for (uint32_t i = 0; i < d->xfers.n; i++) {
    sim_xfer *x = &d->xfers.v[i];
    if (x->state != 1 || x->due_ms > now) continue;
    x->state = 2;
    sim_job *j = sim_xcalloc(1, sizeof *j);
    j->d = d;
    j->x = copy_xfer(x);
    j->start = sim_wall_s();
    d->job = j;
    char msg[256];
    if (j->x.kind == SIM_X_DU) {
      du_next(j);
      return true;
    }
    if (j->x.deadline_ms && now > j->x.deadline_ms) {
      complete(j, 9020, NULL, false);
      return true;
    }
    uint32_t f;
    if (j->x.kind == SIM_X_UPLOAD) {
      if (strstr(j->x.file_type, "Log File")) {
        char t[21];
        sim_time_iso(sim_wall_s(), t);
        acs_buf_printf(&j->body, "%s cpesim[%u]: device %s up, software %s\n", t, d->idx, d->serial,
                       "running");
      } else {
        sim_config_dump(d, &j->body);
      }
      f = begin_http(j, j->x.url, "PUT", msg, sizeof msg);
    } else {
      f = begin_http(j, j->x.url, "GET", msg, sizeof msg);
    }
    if (f) complete(j, f, msg, false);
    return true;
  }
  return false;
}

void sim_xfer_abort(sim_dev *d) {
  if (!d->job) return;
  job_free(d->job);
  d->job = NULL;
}
