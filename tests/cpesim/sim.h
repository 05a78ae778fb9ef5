/* sim.h: cpesim's internals, shared by its files (docs/cpesim.md).
 *
 * One process, one libuv loop, one thread: N simulated CPEs that share one
 * device model (sim_model) and keep only what differs from it (copy on
 * write: changed values, attributes, added and deleted instances, events,
 * transfers). Files by job:
 *
 *   model.c     the model file: nodes, templates, lookups
 *   device.c    a device's data model: values, attributes, instances
 *   values.c    value placeholders and type checks
 *   rpc.c       answering the ACS's RPCs
 *   transfer.c  downloads, uploads, software modules
 *   httpc.c     HTTP client (libuv + llhttp) and Digest/Basic for it
 *   tls.c       its TLS (https), client certificates, session resumption
 *   session.c   the CWMP session (Inform .. 204), cookies, retries
 *   crserver.c  connection-request listener and the control endpoints
 *   stunc.c     STUN keepalives and UDP connection requests (Annex G)
 *   xmppc.c     XMPP connection requests (Annex K), libstrophe in a thread
 *   sched.c     the pacer, device timers, reboots, stop
 *   stats.c     counters, latency histograms, RSS, the summary
 *   state.c     --state FILE
 *   quirks.c    --quirk: real CPE stacks' deviations, played on purpose
 *   util.c      allocation, vectors, random numbers, MD5, URLs, time
 *   main.c      options */
#ifndef CPESIM_SIM_H
#define CPESIM_SIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <uv.h>

#include "core/acs_arena.h"
#include "core/acs_buf.h"
#include "cwmp/acs_cwmp.h"

typedef struct ssl_session_st SSL_SESSION; /* OpenSSL's (tls.c) */

#define SIM_NONE UINT32_MAX
#define SIM_DYN 0x80000000u /* a reference to a device's own node */

/* ---- util.c */

void *sim_xmalloc(size_t n);
void *sim_xcalloc(size_t n, size_t size);
void *sim_xrealloc(void *p, size_t n);
char *sim_xstrdup(const char *s);
char *sim_xstrndup(const char *s, size_t n);
void sim_strset(char **dst, const char *s); /* free old, copy new (NULL allowed) */

#define SIM_VEC(T) \
  struct {         \
    T *v;          \
    uint32_t n;    \
    uint32_t cap;  \
  }
void *sim__vec_grow(void *v, uint32_t *cap, size_t elem, uint32_t need);
#define SIM_VPUSH(vec)                                                                       \
  ((vec).n < (vec).cap                                                                       \
       ? (void)0                                                                             \
       : (void)((vec).v = sim__vec_grow((vec).v, &(vec).cap, sizeof *(vec).v, (vec).n + 1)), \
   &(vec).v[(vec).n++])
#define SIM_VFREE(vec) (free((vec).v), (vec).v = NULL, (vec).n = (vec).cap = 0)
/* Removes item i, keeping the order. */
#define SIM_VDEL(vec, i) \
  (memmove(&(vec).v[i], &(vec).v[(i) + 1], ((vec).n - (i)-1) * sizeof *(vec).v), (vec).n--)

uint64_t sim_rand(void); /* xoshiro256**, seeded by --seed */
double sim_rand01(void); /* [0, 1) */
void sim_rand_seed(uint64_t seed);
uint64_t sim_hash64(const void *p, size_t n, uint64_t seed); /* FNV-1a 64 + mix */
uint64_t sim_now_ms(void);                                   /* the loop's clock */
int64_t sim_wall_s(void);                                    /* Unix time */
void sim_time_iso(int64_t t, char buf[static 21]);

/* MD5 of the concatenation of parts, as 32 lower-case hex digits. */
void sim_md5_hex(char out[33], const char *const *parts, size_t nparts);

typedef struct sim_url {
  char host[256];
  uint16_t port;
  char path[1024]; /* "/..." with query */
  bool https;
} sim_url;
/* http://host[:port][/path]; returns 0, ACS_EINVAL, or ACS_ERANGE for a
 * scheme other than http/https. */
int sim_url_parse(const char *s, sim_url *u);
/* Resolves host (numeric, "localhost", or the ACS's host) for port; only
 * loopback addresses and the ACS's own address are allowed. Returns 0,
 * ACS_EINVAL (cannot resolve) or ACS_ERANGE (not allowed). */
int sim_resolve_allowed(const sim_url *u, struct sockaddr_storage *out);
/* Value of key in an HTTP auth header (Digest a="b", c=d); 0 or ACS_ENOTFOUND. */
int sim_auth_param(const char *hdr, const char *key, char *out, size_t n);
/* Reads the whole file into a NUL-terminated buffer; NULL on error (errno). */
char *sim_read_file(const char *path, size_t *len);

/* ---- model.c */

enum {
  SIM_OBJECT = ACS_XSD_COUNT, /* type of object nodes */
};

enum {
  SIM_F_WRITABLE = 1 << 0,     /* W: parameter writable; table: AddObject/DeleteObject */
  SIM_F_FORCED = 1 << 1,       /* F: in every Inform */
  SIM_F_FORCE_ACTIVE = 1 << 2, /* A: active notification always on */
  SIM_F_CAN_DENY = 1 << 3,     /* D: active notification may be refused (9009) */
  SIM_F_HIDDEN = 1 << 4,       /* H: reads back empty (passwords) */
  SIM_F_CHANGING = 1 << 5,     /* C: changes by itself (--change-interval) */
  SIM_F_TABLE = 1 << 6,        /* T: a multi-instance object (its instances are children) */
  SIM_F_TEMPLATE = 1 << 7,     /* the name has {i}: only a pattern for AddObject */
};

typedef struct sim_node {
  char *name;
  char *value;          /* default, with placeholders; tables: NumberOfEntries leaf */
  char *constraint;     /* NULL or "enum:a|b;len:64;range:1..14;list;max:8" */
  char *count_leaf;     /* NumberOfEntries parameters: leaf of their table ("Host.") */
  uint32_t parent;      /* index in the same array, SIM_NONE when outside it */
  uint32_t end;         /* objects: one past their subtree */
  uint32_t next_inst;   /* tables: default next instance number */
  uint32_t max_entries; /* tables: 0 = unbounded */
  uint16_t name_len;
  uint16_t flags;
  uint8_t type; /* acs_cwmp_type or SIM_OBJECT */
  uint8_t notif;
  uint8_t depth; /* dots before the last segment: "Device." 0, "Device.A" 1 */
} sim_node;

typedef struct sim_model {
  char *path;
  char *root; /* "Device." or "InternetGatewayDevice." */
  sim_node *nodes;
  uint32_t n;
  sim_node *tpl; /* template nodes (names with {i}) */
  uint32_t ntpl;
  uint32_t *hash, hcap, *thash, thcap;
  uint32_t *forced;
  uint32_t nforced;
  uint32_t *changing;
  uint32_t nchanging;
  uint32_t nparams;
  /* well-known parameters (SIM_NONE when the model lacks one) */
  uint32_t manufacturer, oui, product_class, serial, sw_version, hw_version, prov_code;
  uint32_t param_key, cr_url, cr_user, cr_pass, pi_enable, pi_interval, retry_min, retry_mult;
  uint32_t acs_user, acs_pass, du_table;
  uint8_t oui_bytes[3];
} sim_model;

int sim_model_load(const char *path, sim_model **out, char *err, size_t errlen);
void sim_model_free(sim_model *m);
/* Index of a node by exact name (objects end with '.'), or SIM_NONE. */
uint32_t sim_model_find(const sim_model *m, const char *name, size_t len);
uint32_t sim_model_find_tpl(const sim_model *m, const char *name, size_t len);
/* Replaces the default value of a parameter (--set); 0 or ACS_ENOTFOUND. */
int sim_model_set_default(sim_model *m, const char *name, const char *value);
/* "A.1.B.2." -> "A.{i}.B.{i}." */
void sim_template_name(const char *name, size_t len, acs_buf *out);
uint8_t sim_name_depth(const char *name, size_t len);

/* ---- device state */

typedef enum sim_ev {
  SIM_EV_BOOTSTRAP = 0,
  SIM_EV_BOOT,
  SIM_EV_PERIODIC,
  SIM_EV_SCHEDULED,
  SIM_EV_VALUE_CHANGE,
  SIM_EV_CONNECTION_REQUEST,
  SIM_EV_TRANSFER_COMPLETE,
  SIM_EV_DU_STATE_CHANGE_COMPLETE,
  SIM_EV_M_REBOOT,
  SIM_EV_M_SCHEDULE_INFORM,
  SIM_EV_M_DOWNLOAD,
  SIM_EV_M_SCHEDULE_DOWNLOAD,
  SIM_EV_M_UPLOAD,
  SIM_EV_M_CHANGE_DU_STATE,
  SIM_EV_COUNT
} sim_ev;
const char *sim_ev_name(sim_ev e);
int sim_ev_from_name(const char *s); /* -1 when unknown */

typedef struct sim_event {
  uint8_t code;   /* sim_ev */
  bool in_flight; /* carried by the Inform of the session in progress */
  char *key;
} sim_event;

typedef struct sim_ovr { /* a changed value of a model parameter */
  uint32_t id;
  char *value; /* literal (no placeholders) */
} sim_ovr;

typedef struct sim_attr { /* changed attributes of a parameter */
  uint32_t ref;
  uint8_t notif;
  char *acl; /* comma-separated, NULL = empty */
} sim_attr;

typedef struct sim_dyn { /* a node of an instance the device added */
  char *name;
  char *value; /* NULL: the template's default */
  uint32_t tpl;
  bool dead;
} sim_dyn;

typedef struct sim_range {
  uint32_t lo, hi;
} sim_range;

typedef struct sim_next {
  char *table;
  uint32_t next;
} sim_next;

typedef struct sim_changed {
  uint32_t ref;
  bool in_flight;
} sim_changed;

typedef struct sim_tc { /* a TransferComplete to deliver */
  char *key;
  uint32_t fault;
  char *fault_string;
  int64_t start, complete;
  bool in_flight;
} sim_tc;

typedef struct sim_du { /* an installed deployment unit */
  char *uuid, *name, *version, *url, *ee;
  uint32_t inst; /* instance in the DeploymentUnit table, 0 when none */
} sim_du;

typedef struct sim_dusc { /* a DUStateChangeComplete to deliver */
  char *key;
  acs_cwmp_du_result *results; /* strings malloc'd */
  uint32_t n;
  bool in_flight;
} sim_dusc;

typedef enum sim_xfer_kind {
  SIM_X_DOWNLOAD,
  SIM_X_UPLOAD,
  SIM_X_SCHEDULE_DOWNLOAD,
  SIM_X_DU
} sim_xfer_kind;

typedef struct sim_xfer { /* a transfer the ACS asked for, not done yet */
  uint8_t kind;
  uint8_t state; /* 1 not yet started, 2 in progress */
  char *key, *file_type, *url, *user, *pass, *target;
  uint32_t file_size;
  uint64_t due_ms;      /* not before */
  uint64_t deadline_ms; /* ScheduleDownload: end of the last window, 0 none */
  int64_t accepted;
  acs_cwmp_du_op *ops; /* SIM_X_DU: the operations (strings malloc'd) */
  uint32_t nops;
} sim_xfer;

typedef struct sim_sched { /* ScheduleInform */
  uint64_t due_ms;
  char *key;
} sim_sched;

typedef enum sim_dstate {
  SIM_D_IDLE = 0,
  SIM_D_DUE,
  SIM_D_SESSION,
  SIM_D_BACKOFF,
  SIM_D_OFF,
} sim_dstate;

typedef struct sim_sess sim_sess;
typedef struct sim_job sim_job;

typedef struct sim_dev {
  uint32_t idx; /* --first + position */
  uint8_t state;
  uint8_t list; /* 0 none, 1 due queue, 2 idle list */
  bool timer_open;
  bool reboot_after, reset_after; /* when the session ends */
  bool bootstrapped;              /* some InformResponse received since the last reset */
  uint32_t retries;               /* consecutive failed sessions */
  struct sim_dev *qprev, *qnext;
  uv_timer_t timer;
  uint64_t wake_ms;
  uint64_t boot_ms;  /* loop time of the last boot */
  int64_t boot_wall; /* Unix time of the last boot */
  uint64_t periodic_ms, retry_ms, off_ms, change_ms;
  sim_sess *sess;
  sim_job *job; /* a transfer in progress */
  char *reboot_key;
  char *stale_cookie; /* --quirk stale-cookies: the last session's Cookie value */
  struct sim_auth *auth; /* the ACS's last challenge, answered again with nc + 1 */
  SSL_SESSION *tls_session; /* the ACS's last TLS session, offered again (tls.c) */
  struct sim_stun *stun; /* stunc.c: the STUN binding, NULL when STUN is off */
  char serial[40];
  /* copy on write over the model */
  SIM_VEC(sim_ovr) ovr;
  SIM_VEC(sim_attr) attrs;
  SIM_VEC(sim_dyn) dyn;
  SIM_VEC(sim_range) del;
  SIM_VEC(sim_next) next;
  SIM_VEC(sim_changed) changed;
  SIM_VEC(sim_event) events;
  SIM_VEC(sim_tc) tcs;
  SIM_VEC(sim_dusc) duscs;
  SIM_VEC(sim_xfer) xfers;
  SIM_VEC(sim_sched) scheds;
  SIM_VEC(sim_du) dus;
} sim_dev;

/* ---- device.c: the data model of one device */

typedef uint32_t sim_ref; /* model node index, or SIM_DYN | index in d->dyn */

/* Finds an exact name (objects end with '.'); 0 or ACS_ENOTFOUND. */
int sim_dev_find(const sim_dev *d, const char *name, sim_ref *out);
const sim_node *sim_dev_node(const sim_dev *d, sim_ref r);
const char *sim_dev_name(const sim_dev *d, sim_ref r);
bool sim_dev_is_param(const sim_dev *d, sim_ref r);
/* The current value (expanded placeholders for defaults); the pointer is
 * valid until the next call with the same scratch buffer. Hidden
 * parameters read back as "" unless raw. */
const char *sim_dev_value(const sim_dev *d, sim_ref r, acs_buf *scratch, bool raw);
uint8_t sim_dev_notif(const sim_dev *d, sim_ref r);
const char *sim_dev_acl(const sim_dev *d, sim_ref r);
bool sim_dev_writable(const sim_dev *d, sim_ref r);

/* Calls fn for every node under path ("" = everything; an object name with
 * its subtree, itself included; a parameter name: itself). next_level: the
 * path's children only. Returns ACS_ENOTFOUND when path does not exist. */
typedef void (*sim_walk_fn)(sim_dev *d, sim_ref r, void *ctx);
int sim_dev_walk(sim_dev *d, const char *path, bool next_level, sim_walk_fn fn, void *ctx);

/* Sets a value (already checked). by_acs: a SetParameterValues, which never
 * triggers a notification; otherwise the change is noted for "4 VALUE
 * CHANGE" and returns true when it asks for a session (active). */
bool sim_dev_set(sim_dev *d, sim_ref r, const char *value, bool by_acs);
void sim_dev_set_attr(sim_dev *d, sim_ref r, bool set_notif, uint8_t notif, bool set_acl,
                      const char *acl);
/* 0 or the CWMP fault code (9005 unknown, 9003 not a table, 9001 read-only
 * table, 9004 maxEntries). internal: the device itself, writability ignored. */
uint32_t sim_dev_add_object(sim_dev *d, const char *table, bool internal, uint32_t *inst);
uint32_t sim_dev_delete_object(sim_dev *d, const char *obj, bool internal);
uint32_t sim_dev_count_instances(const sim_dev *d, const char *table, size_t len);
/* Back to the model's defaults (FactoryReset). */
void sim_dev_reset_data(sim_dev *d);
void sim_dev_free_data(sim_dev *d);
/* The value of a well-known model parameter (SIM_NONE -> fallback). */
const char *sim_dev_get_known(const sim_dev *d, uint32_t id, acs_buf *scratch,
                              const char *fallback);
uint32_t sim_dev_get_uint(const sim_dev *d, uint32_t id, uint32_t fallback);
void sim_dev_set_known(sim_dev *d, uint32_t id, const char *value, bool by_acs);

void sim_dev_add_event(sim_dev *d, sim_ev code, const char *key);
bool sim_dev_has_event(const sim_dev *d, sim_ev code);
void sim_dev_drop_event(sim_dev *d, sim_ev code);
/* True when something waits for the ACS (events, changes to notify,
 * TransferCompletes, DUStateChangeCompletes). */
bool sim_dev_wants_session(const sim_dev *d);

/* ---- values.c */

/* Appends the expansion of a default value for node name (placeholders
 * %{serial}, %{mac:K}, ...; docs/cpesim.md). */
void sim_expand(const sim_dev *d, const char *name, uint8_t type, const char *tmpl, acs_buf *out);
/* 0, 9006 (given type incompatible) or 9007 (value invalid for the node). */
uint32_t sim_check_value(const sim_node *n, const char *value, acs_cwmp_type given);
/* The device id of DESIGN.md (OUI-ProductClass-Serial) into out. */
void sim_dev_id(const sim_dev *d, acs_buf *out);

/* ---- rpc.c */

/* Answers one ACS request; rsp (in arena a) is the response or a fault. */
void sim_rpc_answer(sim_dev *d, const acs_cwmp_msg *req, acs_arena *a, acs_cwmp_msg *rsp);
/* The methods GetRPCMethods lists. */
extern const char *const sim_rpc_methods[];
extern const size_t sim_rpc_nmethods;

/* ---- transfer.c */

/* Starts the first due transfer of an idle device; true if one started. */
bool sim_xfer_start(sim_dev *d);
void sim_xfer_abort(sim_dev *d); /* stop: a transfer in progress is dropped */
/* The configuration dump of Upload (writable parameters, name TAB value). */
void sim_config_dump(sim_dev *d, acs_buf *out);
/* SoftwareVersion a firmware image brings: its "cpesim-firmware version=V"
 * header line, else a version in the file name; 0 or ACS_ENOTFOUND. */
int sim_firmware_version(const char *url, const char *body, size_t len, char *out, size_t n);

/* ---- httpc.c */

#define SIM_HTTP_MAX_COOKIES 8

typedef struct sim_http_rsp {
  int status;
  const char *body;
  size_t body_len;     /* bytes kept (up to the body limit) */
  uint64_t body_total; /* bytes received */
  const char *set_cookie[SIM_HTTP_MAX_COOKIES];
  size_t nset_cookie;
  const char *www_authenticate; /* the first Digest challenge, else the first */
  const char *www_all;          /* every challenge offered, joined by ", " (NULL: none) */
  const char *content_type;
  long retry_after; /* -1 when absent */
  bool keep_alive;
} sim_http_rsp;

typedef struct sim_httpc sim_httpc;
/* err: 0 (rsp valid), ACS_ETIMEOUT, or a libuv error; never called after
 * sim_httpc_close(). */
typedef void (*sim_http_cb)(void *ctx, int err, const sim_http_rsp *rsp);

sim_httpc *sim_httpc_new(const struct sockaddr_storage *addr, size_t body_keep);
/* Connections made from now on are bound to src (port 0: any; on Linux the
 * port is chosen at connect, per destination: IP_BIND_ADDRESS_NO_PORT). */
void sim_httpc_set_source(sim_httpc *c, const struct sockaddr_storage *src);
/* Sends one request (connecting or reconnecting as needed). headers: NULL
 * or complete "Name: value\r\n" lines. The body is copied. */
int sim_httpc_request(sim_httpc *c, const char *method, const char *host, const char *target,
                      const char *headers, const char *body, size_t len, uint32_t timeout_ms,
                      sim_http_cb cb, void *ctx);
void sim_httpc_close(sim_httpc *c);
/* An Authorization header line for a 401's challenge (Digest MD5 / qop=auth,
 * or Basic), into out; 0 or ACS_EINVAL. */
int sim_http_authorization(const char *challenge, const char *user, const char *pass,
                           const char *method, const char *uri, acs_buf *out);

/* https: before the first request, the URL's host (checked against the
 * server's certificate), the device's serial (for --tls-cert's "%s") and
 * where the device keeps its TLS session (NULL: no resumption). */
void sim_httpc_set_tls(sim_httpc *c, const char *host, const char *serial, SSL_SESSION **slot);

/* ---- tls.c */

typedef struct sim_tls sim_tls;
/* The process's client context (--tls-ca, --tls-cert, --tls-key); 0 or an
 * error with a message in err. */
int sim_tls_setup(const char *ca_file, const char *cert, const char *key, char *err, size_t n);
void sim_tls_cleanup(void);
bool sim_tls_ready(void);
void sim_tls_session_free(SSL_SESSION **slot);
sim_tls *sim_tls_new(const char *host, const char *serial, SSL_SESSION **slot, char *err,
                     size_t n);
void sim_tls_free(sim_tls *t);
int sim_tls_input(sim_tls *t, const char *data, size_t n);
/* 1 established, 0 more input needed, < 0 failed. */
int sim_tls_handshake(sim_tls *t);
/* plaintext bytes, 0 (more input needed), UV_EOF (close_notify) or < 0 */
int sim_tls_read(sim_tls *t, char *buf, size_t cap);
int sim_tls_write(sim_tls *t, const char *data, size_t n);
size_t sim_tls_out_pending(const sim_tls *t);
size_t sim_tls_out_take(sim_tls *t, char *buf, size_t n);

/* ---- session.c */

void sim_session_start(sim_dev *d);
void sim_session_abort(sim_dev *d); /* at stop: close without a verdict */

/* ---- sched.c */

void sim_sched_init(void);
void sim_dev_boot_init(sim_dev *d, bool from_state);
/* The device wants a session (events are pending): queue it. urgent: ahead
 * of the others (connection requests). */
void sim_dev_due(sim_dev *d, bool urgent);
/* The session ended: ok, or failed (retry_after_s >= 0: the ACS said when). */
void sim_dev_session_done(sim_dev *d, bool ok, long retry_after_s);
/* Recomputes the device's timer (periodic, retry, scheduled, transfers). */
void sim_dev_rearm(sim_dev *d);
void sim_pump(void);
void sim_stop(const char *why);
/* A transfer or DU job finished; the device may inform again. */
void sim_dev_job_done(sim_dev *d, bool reboot);
void sim_dev_reboot(sim_dev *d, bool factory);

/* ---- crserver.c */

int sim_cr_start(const char *listen, char *err, size_t errlen);
void sim_cr_stop(void);

/* ---- stunc.c */

/* Starts, moves or stops the device's STUN binding as its STUNEnable,
 * STUNServerAddress and STUNServerPort say (after each session). */
void sim_stun_update(sim_dev *d);
void sim_stun_stop_all(void);

/* ---- xmppc.c */

/* Logs the device in to --xmpp-server (or out, or again) as its
 * XMPP.Connection.1 says (after each session). */
void sim_xmpp_update(sim_dev *d);
void sim_xmpp_stop_all(void);

/* ---- stats.c */

typedef enum sim_fail {
  SIM_FAIL_CONNECT = 0,
  SIM_FAIL_TIMEOUT,
  SIM_FAIL_HTTP,
  SIM_FAIL_503,
  SIM_FAIL_401,
  SIM_FAIL_XML,
  SIM_FAIL_FAULT,
  SIM_FAIL_PROTOCOL,
  SIM_FAIL_COUNT
} sim_fail;

void sim_stats_session(bool ok, uint64_t session_us, sim_fail why);
void sim_stats_inform(uint64_t rtt_us);
void sim_stats_rpc(acs_cwmp_kind k, bool fault);
void sim_stats_sample(void);
void sim_stats_print(double elapsed_s);
uint64_t sim_rss_kib(bool peak);

/* ---- state.c */

int sim_state_load(const char *path, char *err, size_t errlen);
int sim_state_save(const char *path, char *err, size_t errlen);

/* ---- quirks.c: --quirk NAME (docs/cpesim.md, "Quirks") */

enum {
  SIM_Q_CR_UNTERMINATED = 1 << 0,    /* connection-request answers without the head's end */
  SIM_Q_OBJECT_ONLY = 1 << 1,        /* GPV of a partial path: the object alone */
  SIM_Q_CRASH_PARTIAL = 1 << 2,      /* GPV of a partial path or unknown name: crash, reboot */
  SIM_Q_FAULT_IN_FAULTSTRING = 1 << 3, /* <detail> inside <faultstring> */
  SIM_Q_NO_BOOTSTRAP = 1 << 4,       /* first Inform ever "2 PERIODIC" */
  SIM_Q_NO_PERIODIC = 1 << 5,        /* never a periodic Inform */
  SIM_Q_BOOT_WITHOUT_M_REBOOT = 1 << 6, /* after Reboot "1 BOOT" alone */
  SIM_Q_STALE_COOKIES = 1 << 7,      /* the last session's cookies sent again */
  SIM_Q_DIGEST_NO_COMMAS = 1 << 8,   /* connection-request challenge without commas */
  SIM_Q_XSD_1999 = 1 << 9,           /* 1999 XMLSchema namespaces */
  SIM_Q_DOWNLOAD_NO_CREDENTIALS = 1 << 10, /* Download's Username/Password ignored */
  SIM_Q_XMPP_SILENT = 1 << 11,       /* XMPP connection requests never answered */
  SIM_Q_GPN_OBJECTS_ONLY = 1 << 12,  /* GetParameterNames of a parameter's name: 9003 */
};
#define SIM_QUIRK(q) ((S->o.quirks & (q)) != 0)

/* Adds the quirks of a comma-separated list to *out; 0, or -1 naming the
 * unknown one in bad. */
int sim_quirks_parse(const char *list, uint32_t *out, char *bad, size_t badlen);
/* Rewrites an encoded message as the quirks have it (namespaces, faults). */
void sim_quirks_rewrite(acs_buf *body, acs_cwmp_kind kind);
/* crash-partial: true when req makes the device crash. */
bool sim_quirk_crashes(sim_dev *d, const acs_cwmp_msg *req);

/* ---- the simulator */

typedef struct sim_set { /* --set NAME=VALUE */
  char *name, *value;
} sim_set;

typedef struct sim_opts {
  const char *acs_url;
  sim_url acs;
  struct sockaddr_storage acs_addr;
  uint32_t count, first;
  const char *serial_prefix;
  const char *model_path;
  double rate;
  uint32_t concurrency;
  int loop; /* -1 auto: on when --rate or --concurrency is given */
  double duration;
  uint64_t sessions;
  bool periodic;
  long periodic_interval; /* -1: the model's */
  double spread;
  uint32_t think_ms, timeout_ms, reboot_ms;
  const char *cr_listen;
  bool cr_folded, cr_lf; /* --cr-challenge: the 401's header folded, LF-only lines */
  const char *state_path, *ack_log;
  const char *xmpp_server; /* --xmpp-server HOST:PORT; NULL: no XMPP */
  uint64_t seed;
  double change_interval;
  acs_cwmp_ns ns;
  const char *cwmp_version;
  const char *firmware_version; /* --firmware-version: images without a header install it */
  bool quiet, verbose;
  uint32_t quirks; /* SIM_Q_* */
  SIM_VEC(sim_set) sets;
  SIM_VEC(struct sockaddr_storage) sources; /* --source-ip: device i connects from i mod n */
  /* authenticating to the ACS */
  const char *auth_scheme;     /* --auth-scheme: basic, md5, md5-sess (NULL: the first offered) */
  bool auth_wrong, auth_none;  /* --auth-wrong: a wrong password; --auth-none: never answer a 401 */
  bool have_factory_key;       /* --factory-key FILE */
  unsigned char factory_key[32];
  const char *tls_ca, *tls_cert, *tls_key;  /* https (tls.c) */
  bool tls_no_resume;                       /* --tls-no-resume: a full handshake each time */
} sim_opts;

typedef struct sim_list {
  sim_dev *head, *tail;
  uint32_t n;
} sim_list;

typedef struct sim_stats {
  uint64_t started, ok, failed, fail[SIM_FAIL_COUNT];
  uint64_t http_503, http_401, acs_faults, informs_acked, cr_received, cr_denied;
  uint64_t rpc[ACS_CWMP_KIND_COUNT], rpc_faults;
  uint64_t transfers_ok, transfers_failed;
  uint64_t rss_max_kib, in_flight_at_rss_max;
  uint64_t tls_handshakes, tls_resumed;
} sim_stats;

typedef struct sim {
  uv_loop_t *loop;
  sim_opts o;
  sim_model *model;
  sim_dev *devs;
  uint32_t ndev;
  sim_list due, idle;
  uint32_t in_flight, max_in_flight;
  bool stopping, stopped;
  uint64_t t_start_ms, t_first_ms, t_last_ms;
  uv_timer_t pace_timer, stop_timer, sample_timer, pump_timer, grace_timer;
  uv_signal_t sigint, sigterm;
  double tokens;
  uint64_t last_tick_ms;
  bool pump_armed;
  int ack_fd;
  char cr_base[128]; /* "http://127.0.0.1:PORT/" */
  char acs_host_hdr[300];
  sim_stats st;
  uint32_t sess_seq;
} sim;

extern sim *S;

#define SIM_LOG(...)                        \
  do {                                      \
    if (S->o.verbose) sim_log(__VA_ARGS__); \
  } while (0)
void sim_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
