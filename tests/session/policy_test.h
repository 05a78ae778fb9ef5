/* policy_test.h: what the policy runtime tests (tests/session/test_policy_*.c)
 * share on top of session_test.h: policy trees written into temporary
 * directories, `acsd policies push DIR`, a CPE data model with more of a
 * TR-181 tree, CPE turns that record every RPC they answer (kind, names,
 * values) and may stop before answering one, and devices chosen by the
 * worker that owns them. */
#ifndef POLICY_TEST_H
#define POLICY_TEST_H

#include <errno.h>
#include <ftw.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/acs_buf.h"
#include "session/acs_session.h"
#include "session_test.h"

/* A check of a bug found and left to its owners: when cond does not hold
 * it prints "KNOWN BUG: ..." and fails the test only with ACS_TEST_STRICT
 * set in the environment; once fixed, it is an ordinary check. */
#define KNOWN_BUG(cond, ...)                                     \
  do {                                                           \
    if (!(cond)) {                                               \
      fprintf(stderr, "%s:%d: KNOWN BUG: ", __FILE__, __LINE__); \
      fprintf(stderr, __VA_ARGS__);                              \
      fputc('\n', stderr);                                       \
      if (getenv("ACS_TEST_STRICT")) CHECK(cond);                \
    } else {                                                     \
      CHECK(cond);                                               \
    }                                                            \
  } while (0)

/* ---- policy trees */

/* A new empty tree (provisions/, presets/) under /tmp; its path into dir. */
static inline void pt_tree_new(char *dir, size_t len) {
  snprintf(dir, len, "/tmp/acs-pol-XXXXXX");
  if (!mkdtemp(dir)) {
    perror("mkdtemp");
    exit(1);
  }
  char sub[512];
  snprintf(sub, sizeof sub, "%.400s/provisions", dir);
  mkdir(sub, 0755);
  snprintf(sub, sizeof sub, "%.400s/presets", dir);
  mkdir(sub, 0755);
}

/* Writes dir/rel (e.g. "provisions/x.lua") in place, as an editor does
 * (its folder made when missing). */
static inline void pt_write(const char *dir, const char *rel, const char *text) {
  char path[1200];
  snprintf(path, sizeof path, "%.500s/%.500s", dir, rel);
  for (char *slash = strchr(path + strlen(dir) + 1, '/'); slash; slash = strchr(slash + 1, '/')) {
    *slash = '\0';
    mkdir(path, 0755); /* the folders on the way */
    *slash = '/';
  }
  FILE *f = fopen(path, "w");
  if (!f || fputs(text, f) < 0 || fclose(f) != 0) {
    fprintf(stderr, "cannot write %s: %s\n", path, strerror(errno));
    exit(1);
  }
}

static inline int pt_rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
  (void)st;
  (void)flag;
  (void)ftw;
  return remove(path);
}

static inline void pt_tree_remove(const char *dir) {
  nftw(dir, pt_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* `acsd policies push DIR --pg $ACS_TEST_PG_DSN [--force]`: its exit status
 * (-1 when it did not exit), its stdout and stderr into out. */
static inline int pt_push(const char *dir, bool force, char *out, size_t outlen) {
  char cmd[2048];
  snprintf(cmd, sizeof cmd, "'%s/acsd' policies push '%s' --pg '%s'%s 2>&1 </dev/null",
           cs_env("ACS_BIN_DIR"), dir, cs_env("ACS_TEST_PG_DSN"), force ? " --force" : "");
  FILE *p = popen(cmd, "r");
  if (!p) {
    snprintf(out, outlen, "popen: %s", strerror(errno));
    return -1;
  }
  size_t n = 0, got;
  char tmp[1024];
  while ((got = fread(tmp, 1, sizeof tmp, p)) > 0) {
    size_t room = outlen > n + 1 ? outlen - n - 1 : 0;
    size_t k = got < room ? got : room;
    memcpy(out + n, tmp, k);
    n += k;
  }
  if (outlen) out[n] = '\0';
  int st = pclose(p);
  return st >= 0 && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* ---- the CPE */

/* cm_init's tree and more of TR-181: ProvisioningCode (writable), the
 * ManagementServer's periodic inform parameters, Hosts, IP, Time. */
static inline void pt_model_init(cm_model *m, const cs_cpe *c) {
  const acs_cwmp_type S = ACS_XSD_STRING, B = ACS_XSD_BOOLEAN, U = ACS_XSD_UNSIGNEDINT;
  cm_init(m);
  cm_set(m, "Device.DeviceInfo.ProvisioningCode", "", S, true);
  cm_set(m, "Device.DeviceInfo.SerialNumber", c ? c->serial : "SN", S, false);
  cm_set(m, "Device.ManagementServer.ConnectionRequestURL", c ? c->conn_req_url : "", S, false);
  cm_set(m, "Device.ManagementServer.PeriodicInformEnable", "true", B, true);
  cm_set(m, "Device.ManagementServer.PeriodicInformTime", "0001-01-01T00:00:00Z", ACS_XSD_DATETIME,
         true);
  for (int i = 1; i <= 3; i++) {
    char n[96], v[32];
    snprintf(n, sizeof n, "Device.Hosts.Host.%d.HostName", i);
    snprintf(v, sizeof v, "host-%d", i);
    cm_set(m, n, v, S, false);
    snprintf(n, sizeof n, "Device.Hosts.Host.%d.IPAddress", i);
    snprintf(v, sizeof v, "192.168.1.%d", 10 + i);
    cm_set(m, n, v, S, false);
    snprintf(n, sizeof n, "Device.Hosts.Host.%d.Active", i);
    cm_set(m, n, "true", B, false);
  }
  cm_set(m, "Device.IP.Interface.1.Enable", "true", B, true);
  cm_set(m, "Device.IP.Interface.1.Status", "Up", S, false);
  cm_set(m, "Device.IP.Interface.1.Name", "wan0", S, false);
  cm_set(m, "Device.Time.NTPServer1", "pool.ntp.org", S, true);
  cm_set(m, "Device.Time.LocalTimeZone", "CET-1CEST", S, true);
  (void)U;
}

/* One RPC the CPE answered: its kind, how many names / values / params it
 * carried, the first one's name (GPN: the path; Add/DeleteObject: the
 * object) and, for SetParameterValues, the first value. */
typedef struct pt_rpc {
  acs_cwmp_kind kind;
  size_t n;
  char name[160];
  char value[256];
  char all[1024]; /* GPV, SPV: every name, each followed by ' ' */
  bool next_level;
} pt_rpc;

#define PT_MAX_RPCS 64

struct pt_turn;
/* Called before the CPE answers an RPC (it may wait); non-zero stops. */
typedef int (*pt_hook_fn)(struct pt_turn *t, const acs_cwmp_msg *rpc);

typedef struct pt_turn {
  cm_model *m;
  pt_rpc rpc[PT_MAX_RPCS];
  int n;
  pt_hook_fn hook;
  void *arg;
  int status; /* of the Inform: 200 */
} pt_turn;

static inline int pt_answer(cs_cpe *c, const acs_cwmp_msg *rpc, acs_arena *a, acs_cwmp_msg *out,
                            void *arg) {
  (void)c;
  pt_turn *t = arg;
  if (t->n < PT_MAX_RPCS) {
    pt_rpc *r = &t->rpc[t->n];
    memset(r, 0, sizeof *r);
    r->kind = rpc->kind;
    const char *first = NULL, *value = NULL;
    switch (rpc->kind) {
      case ACS_CWMP_GET_PARAMETER_VALUES:
        r->n = rpc->u.get_parameter_values.names.n;
        first = r->n ? rpc->u.get_parameter_values.names.v[0] : NULL;
        break;
      case ACS_CWMP_SET_PARAMETER_VALUES:
        r->n = rpc->u.set_parameter_values.params.n;
        first = r->n ? rpc->u.set_parameter_values.params.v[0].name : NULL;
        value = r->n ? rpc->u.set_parameter_values.params.v[0].value : NULL;
        break;
      case ACS_CWMP_GET_PARAMETER_NAMES:
        r->n = 1;
        first = rpc->u.get_parameter_names.parameter_path;
        r->next_level = rpc->u.get_parameter_names.next_level;
        break;
      case ACS_CWMP_ADD_OBJECT:
        r->n = 1;
        first = rpc->u.add_object.object_name;
        break;
      case ACS_CWMP_DELETE_OBJECT:
        r->n = 1;
        first = rpc->u.delete_object.object_name;
        break;
      case ACS_CWMP_SET_PARAMETER_ATTRIBUTES:
        r->n = rpc->u.set_parameter_attributes.params.n;
        first = r->n ? rpc->u.set_parameter_attributes.params.v[0].name : NULL;
        break;
      default:
        break;
    }
    size_t o = 0;
    for (size_t i = 0; i < r->n && o + 1 < sizeof r->all; i++) {
      const char *nm = rpc->kind == ACS_CWMP_GET_PARAMETER_VALUES
                           ? rpc->u.get_parameter_values.names.v[i]
                       : rpc->kind == ACS_CWMP_SET_PARAMETER_VALUES
                           ? rpc->u.set_parameter_values.params.v[i].name
                           : NULL;
      if (!nm) break;
      int w = snprintf(r->all + o, sizeof r->all - o, "%s ", nm);
      if (w < 0) break;
      o += (size_t)w;
    }
    snprintf(r->name, sizeof r->name, "%s", first ? first : "");
    snprintf(r->value, sizeof r->value, "%s", value ? value : "");
  }
  t->n++;
  if (t->hook && t->hook(t, rpc) != 0) return -1;
  return cm_answer(t->m, rpc, a, out);
}

/* Inform with events, then the ACS's turn answered from m, every RPC
 * recorded in t (whose hook and arg are kept). Returns the RPCs answered,
 * or -1 (said why). */
static inline int pt_session(cs_cpe *c, cm_model *m, const char *events, pt_turn *t) {
  pt_hook_fn hook = t->hook;
  void *arg = t->arg;
  memset(t, 0, sizeof *t);
  t->m = m;
  t->hook = hook;
  t->arg = arg;
  t->status = cs_cpe_inform(c, events);
  if (t->status != 200) {
    fprintf(stderr, "%s: Inform (%s) answered %d\n", c->serial, events, t->status);
    return -1;
  }
  return cs_cpe_acs_turn(c, pt_answer, t);
}

static inline int pt_count(const pt_turn *t, acs_cwmp_kind kind) {
  int n = 0;
  for (int i = 0; i < t->n && i < PT_MAX_RPCS; i++) n += t->rpc[i].kind == kind;
  return n;
}

static inline const char *pt_short(acs_cwmp_kind k) {
  switch (k) {
    case ACS_CWMP_GET_PARAMETER_VALUES:
      return "GPV";
    case ACS_CWMP_SET_PARAMETER_VALUES:
      return "SPV";
    case ACS_CWMP_GET_PARAMETER_NAMES:
      return "GPN";
    case ACS_CWMP_ADD_OBJECT:
      return "AddObject";
    case ACS_CWMP_DELETE_OBJECT:
      return "DeleteObject";
    case ACS_CWMP_SET_PARAMETER_ATTRIBUTES:
      return "SPA";
    default:
      return acs_cwmp_kind_name(k);
  }
}

/* "GPN(Device.Hosts.Host.) GPV(3 names)" into buf. */
static inline const char *pt_describe(const pt_turn *t, char *buf, size_t len) {
  size_t o = 0;
  buf[0] = '\0';
  if (t->n == 0) snprintf(buf, len, "(no RPC)");
  for (int i = 0; i < t->n && i < PT_MAX_RPCS && o + 1 < len; i++) {
    const pt_rpc *r = &t->rpc[i];
    int w;
    if (r->kind == ACS_CWMP_GET_PARAMETER_VALUES || r->kind == ACS_CWMP_SET_PARAMETER_VALUES)
      w = snprintf(buf + o, len - o, "%s%s(%zu: %s%s)", i ? " " : "", pt_short(r->kind), r->n,
                   r->name, r->n > 1 ? ", ..." : "");
    else
      w = snprintf(buf + o, len - o, "%s%s(%s)", i ? " " : "", pt_short(r->kind), r->name);
    if (w < 0) break;
    o += (size_t)w < len - o ? (size_t)w : len - o - 1;
  }
  return buf;
}

/* Initialises c with a serial "PREFIX-N" whose device the given worker (of
 * nworkers) owns. */
static inline void pt_cpe_on_worker(cs_cpe *c, int port, const char *oui, const char *pc,
                                    const char *prefix, unsigned worker, unsigned nworkers) {
  for (int i = 0; i < 1000; i++) {
    char serial[64];
    snprintf(serial, sizeof serial, "%s-%d", prefix, i);
    cs_cpe_init(c, port, oui, pc, serial);
    if (acs_session_owner(c->device_id, nworkers) == worker) return;
    cs_cpe_free(c);
  }
  fprintf(stderr, "no serial for worker %u\n", worker);
  exit(1);
}

/* A device of a given worker (pt_cpe_on_worker), its CPE's data model
 * (pt_model_init) and the record of its last turn. */
typedef struct pt_dev {
  cs_cpe c;
  cm_model m;
  pt_turn t;
} pt_dev;

static inline void pt_dev_init(pt_dev *d, int port, const char *pc, const char *prefix,
                               unsigned worker, unsigned nworkers) {
  pt_cpe_on_worker(&d->c, port, "00D09E", pc, prefix, worker, nworkers);
  pt_model_init(&d->m, &d->c);
  memset(&d->t, 0, sizeof d->t);
}

static inline void pt_dev_free(pt_dev *d) {
  cm_free(&d->m);
  cs_cpe_free(&d->c);
}

/* Waits up to ms for sql (one text parameter) to answer want; the time it
 * took in ms, or -1. */
static inline long long pt_wait_sql(PGconn *pg, const char *sql, const char *p1, const char *want,
                                    unsigned ms) {
  uint64_t t0 = cs_now_ms();
  for (;;) {
    char *v = p1 ? cs_pg_str(pg, NULL, sql, 1, p1) : cs_pg_str(pg, NULL, sql, 0);
    bool ok = v && strcmp(v, want) == 0;
    free(v);
    if (ok) return (long long)(cs_now_ms() - t0);
    if (cs_now_ms() - t0 > ms) return -1;
    cs_sleep_ms(20);
  }
}

#endif
