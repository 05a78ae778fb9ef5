/* cpe_script.h: a scripted CPE for the CWMP session integration tests
 * (tests/session/). Blocking sockets, one thread per CPE if a test wants
 * concurrency; nothing here is shared between threads but the list of acsd
 * children (killed when the test exits, however it exits).
 *
 *  - cs_acsd_*: start build/bin/acsd (ACS_BIN_DIR) on free loopback ports
 *    with --pg $ACS_TEST_PG_DSN, wait until both ports accept and /health
 *    answers, stop it with SIGTERM and check its exit status and log;
 *  - cs_http_*: a minimal HTTP/1.1 client: keep-alive, or a new TCP
 *    connection for every request, optionally from another loopback address;
 *  - cs_cpe_*: a CWMP CPE on the project's codec: it POSTs acs_cwmp_msg
 *    envelopes (or empty bodies), keeps acsd's acsd_session cookie (echoed
 *    plain, with RFC 2109 $-attributes, with Path=/, alongside a stale one,
 *    or never), parses what comes back;
 *  - cs_api*: the REST API with jansson and a bearer token;
 *  - cs_pg*: blocking libpq for checks.
 *
 * Functions print what went wrong on stderr; tests count the checks. */
#ifndef CPE_SCRIPT_H
#define CPE_SCRIPT_H

#include <jansson.h>
#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/acs_arena.h"
#include "cwmp/acs_cwmp.h"

/* ---- environment */

/* getenv(name), or exit 77 (skipped) saying so when it is unset. */
const char *cs_env(const char *name);
uint64_t cs_now_ms(void);
void cs_sleep_ms(unsigned ms);

/* ---- acsd */

typedef struct cs_acsd {
  pid_t pid;
  int cwmp_port, api_port;
  char log_path[256]; /* acsd's stdout and stderr */
} cs_acsd;

/* Starts acsd --cwmp 127.0.0.1:P --api 127.0.0.1:Q --pg $ACS_TEST_PG_DSN
 * --workers N --log-level info, then extra (NULL-terminated, may be NULL;
 * later options win), and waits up to 20 s for both ports, /health and
 * one store connection per worker.
 * Returns 0, or -1 (said why, with the log's tail). */
int cs_acsd_start(cs_acsd *a, unsigned workers, const char *const *extra);
/* SIGTERM, then waits up to timeout_ms. Returns the exit status (0 clean),
 * or -1: not exited in time (then killed), killed by a signal, or the log
 * holds a sanitizer report. */
int cs_acsd_stop(cs_acsd *a, unsigned timeout_ms);
/* Prints the last lines of acsd's log on stderr. */
void cs_acsd_log_tail(const cs_acsd *a, int lines);
/* How many times needle occurs in acsd's log. */
int cs_acsd_log_count(const cs_acsd *a, const char *needle);

/* ---- HTTP */

typedef struct cs_http {
  int port;
  char src_ip[48];     /* connect from this address ("127.0.0.7"); "" any */
  bool keep_alive;     /* false: a new TCP connection per request */
  unsigned timeout_ms; /* per request (10000) */
  int fd;
  unsigned connects; /* TCP connections opened */
  unsigned requests; /* requests sent */
  char *rbuf;        /* bytes read beyond the last response */
  size_t rlen, rcap;
} cs_http;

typedef struct cs_resp {
  int status; /* -1: no answer (I/O error, timeout, closed) */
  char *head; /* the header block without the status line (malloc) */
  char *body; /* NUL-terminated (malloc; "" when empty) */
  size_t body_len;
} cs_resp;

void cs_http_init(cs_http *h, int port);
void cs_http_close(cs_http *h); /* the connection; h can be used again */
/* One request; headers are extra "Name: value\r\n" lines (may be NULL). On
 * a reused connection that the server had closed, it reconnects once.
 * Returns out->status. out must be freed with cs_resp_free. */
int cs_http_request(cs_http *h, const char *method, const char *path, const char *headers,
                    const char *body, size_t len, cs_resp *out);
/* The value of the n-th (0-based) header called name, copied into buf;
 * NULL when there is none. */
const char *cs_resp_header(const cs_resp *r, const char *name, int n, char *buf, size_t len);
void cs_resp_free(cs_resp *r);

/* ---- CPE */

typedef enum cs_cookie_mode {
  CS_COOKIE_PLAIN = 0, /* Cookie: acsd_session=V */
  CS_COOKIE_RFC2109,   /* Cookie: $Version="1"; acsd_session="V"; $Path="/" */
  CS_COOKIE_ATTRS,     /* Cookie: acsd_session=V; Path=/ */
  CS_COOKIE_NONE,      /* never sends a cookie */
} cs_cookie_mode;

typedef struct cs_cpe {
  cs_http http;
  cs_cookie_mode cookie_mode;
  char cookie[160]; /* current acsd_session value, "" none */
  char stale[160];  /* an older value, sent too when not "" */
  bool stale_first; /* the stale one before the current one */
  acs_cwmp_ns ns;
  char oui[16], product_class[64], serial[64];
  char device_id[256]; /* the Contracts' id */
  char conn_req_url[128];
  unsigned seq;
  char last_id[96];         /* cwmp:ID of the last request sent */
  acs_arena arena;          /* the last message received */
  cs_resp resp;             /* the last HTTP answer */
  int set_cookies;          /* Set-Cookie headers seen */
  char set_cookie_raw[256]; /* the last one */
} cs_cpe;

void cs_cpe_init(cs_cpe *c, int port, const char *oui, const char *product_class,
                 const char *serial);
void cs_cpe_free(cs_cpe *c);
/* Starts over as after a reboot: no cookie, a new TCP connection. */
void cs_cpe_forget(cs_cpe *c);
/* POSTs msg (NULL: an empty POST) in c->ns, with a cwmp:ID of its own when
 * msg->id is NULL. Returns the HTTP status (-1: no answer); *in gets the
 * parsed answer (ACS_CWMP_NONE for an empty body; kind ACS_CWMP_UNKNOWN with
 * unknown_method "?" for a body that does not parse), in c->arena until the
 * next post. Keeps the cookie of a Set-Cookie. */
int cs_cpe_post(cs_cpe *c, acs_cwmp_msg *msg, acs_cwmp_msg *in);
/* The same with a body of the caller's (an envelope the codec cannot make). */
int cs_cpe_post_raw(cs_cpe *c, const char *xml, acs_cwmp_msg *in);

typedef struct cs_param {
  const char *name, *value;
  acs_cwmp_type type;
} cs_param;

/* An Inform of c's device into m (memory from a): events is a list of
 * "CODE" or "CODE|CommandKey" separated by ',' ("1 BOOT,M Reboot|k1"); the
 * parameters are DeviceInfo.{HardwareVersion,SoftwareVersion,
 * ProvisioningCode}, ManagementServer.{ConnectionRequestURL,ParameterKey}
 * under root ("Device." or "InternetGatewayDevice.") and then extra. */
void cs_cpe_inform_msg(cs_cpe *c, acs_arena *a, const char *root, const char *events,
                       const cs_param *extra, size_t nextra, acs_cwmp_msg *m);
/* Inform (Device. root, no extra parameters) and expect an InformResponse.
 * Returns the HTTP status (200 only with an InformResponse, else says
 * why and returns -1 for a 200 that is not one). */
int cs_cpe_inform(cs_cpe *c, const char *events);

/* Answers an ACS RPC like a CPE would: fills out (memory from a), returns 0,
 * or -1 to stop the session (the callback said why). */
typedef int (*cs_answer_fn)(cs_cpe *c, const acs_cwmp_msg *rpc, acs_arena *a, acs_cwmp_msg *out,
                            void *arg);
/* The ACS's turn: an empty POST, then every RPC answered with fn (its
 * cwmp:ID echoed) until the 204. Returns the number of RPCs answered, or -1
 * (said why). */
int cs_cpe_acs_turn(cs_cpe *c, cs_answer_fn fn, void *arg);

/* ---- the REST API */

/* `acsd token create --role admin --name NAME --pg $ACS_TEST_PG_DSN`: the
 * token (malloc), or NULL. */
char *cs_token_create(const char *name);
/* Appends s to out percent-encoded for a URL path segment (everything but
 * [A-Za-z0-9_.~-] encoded). */
void cs_url_segment(const char *s, char *out, size_t len);
/* method path with a JSON body (may be NULL) and Authorization: Bearer
 * token (NULL: none). Returns the parsed answer (NULL when it is not JSON)
 * and the HTTP status in *status (-1: no answer). */
json_t *cs_api(const cs_acsd *a, const char *token, const char *method, const char *path,
               const json_t *body, int *status);
/* POST /api/v1/devices/{id}/tasks {"rpc": rpc, "args": args_json}: the
 * task's id, or -1 (said why). */
long long cs_api_task(const cs_acsd *a, const char *token, const char *device_id, const char *rpc,
                      const char *args_json);
/* GET /api/v1/tasks/{id}, GET /api/v1/devices/{id}: the JSON, or NULL. */
json_t *cs_api_get_task(const cs_acsd *a, const char *token, long long id);
json_t *cs_api_get_device(const cs_acsd *a, const char *token, const char *device_id);
/* ---- PostgreSQL */

/* Connects (exit 1 when it cannot). */
PGconn *cs_pg_connect(const char *dsn);
/* sql with n text parameters (const char *, NULL for SQL NULL): the first
 * column of the first row, malloc'd; NULL for no row, an SQL NULL or an
 * error (printed; *failed set when failed is not NULL). */
char *cs_pg_str(PGconn *pg, bool *failed, const char *sql, int n, ...);
/* The same as a number: -1 for no row, NULL or error. */
long long cs_pg_ll(PGconn *pg, const char *sql, int n, ...);
/* Runs a statement; 0 or -1 (printed). */
int cs_pg_exec(PGconn *pg, const char *sql);

#endif
