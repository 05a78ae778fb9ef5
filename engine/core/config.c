/* config.c: acsd's configuration: defaults < config file < environment <
 * command line. One table describes every key once. */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/acs_config.h"
#include "core/acs_err.h"

typedef enum {
  OPT_UINT,
  OPT_MS,
  OPT_SIZE,
  OPT_STR,
  OPT_ADDR,
  OPT_LEVEL,
  OPT_LOGFMT,
  OPT_FLAG,
  OPT_ONOFF /* a bool with a value: on|off (true|false, yes|no, 1|0) */
} opt_type;

typedef struct opt_def {
  const char *name; /* long option and config file key */
  const char *env;  /* NULL: no environment variable */
  opt_type type;
  size_t off;
  unsigned long long min, max;
  const char *arg; /* for --help */
  const char *help;
} opt_def;

#define OFF(f) offsetof(acs_config, f)
#define MS_MAX 86400000ULL /* one day */

static const opt_def opts[] = {
    {"cwmp", "ACS_CWMP", OPT_ADDR, OFF(cwmp_listen), 0, 0, "HOST:PORT",
     "CWMP listener (0.0.0.0:7547; \"off\": none)"},
    {"api", "ACS_API", OPT_ADDR, OFF(api_listen), 0, 0, "HOST:PORT",
     "API listener (127.0.0.1:7557; \"off\": none)"},
    {"pg", "ACS_PG_DSN", OPT_STR, OFF(pg_dsn), 0, 0, "DSN", "PostgreSQL connection string"},
    {"pg-pipeline", "ACS_PG_PIPELINE", OPT_STR, OFF(pg_pipeline), 0, 0, "auto|on|off",
     "pipeline transactions on a store connection (auto: not through a pooler or proxy)"},
    {"policies", "ACS_POLICIES", OPT_STR, OFF(policies_dir), 0, 0, "DIR",
     "policy directory: imported as a generation at start, then watched"},
    {"store-wait", "ACS_STORE_WAIT", OPT_UINT, OFF(store_wait_s), 0, 31536000, "SECONDS",
     "at start, wait this long for PostgreSQL to answer (0: forever, the default)"},
    {"workers", "ACS_WORKERS", OPT_UINT, OFF(workers), 0, 1024, "N",
     "worker threads (0: one per online core)"},
    {"log-level", "ACS_LOG_LEVEL", OPT_LEVEL, OFF(log_level), 0, 0, "LEVEL",
     "crit, err, warn, info (default) or debug"},
    {"log-format", "ACS_LOG_FORMAT", OPT_LOGFMT, OFF(log_format), 0, 0, "FORMAT",
     "text (default) or json: one object per line"},
    {"max-body", "ACS_MAX_BODY", OPT_SIZE, OFF(max_body_bytes), 1, 1ULL << 30, "BYTES",
     "largest request body, decoded (1M)"},
    {"max-head", "ACS_MAX_HEAD", OPT_SIZE, OFF(max_head_bytes), 256, 1ULL << 20, "BYTES",
     "largest request line + headers (16K)"},
    {"header-timeout-ms", "ACS_HEADER_TIMEOUT_MS", OPT_MS, OFF(header_timeout_ms), 1, MS_MAX, "MS",
     "time allowed to send a request (10000)"},
    {"idle-timeout-ms", "ACS_IDLE_TIMEOUT_MS", OPT_MS, OFF(idle_timeout_ms), 1, MS_MAX, "MS",
     "idle keep-alive connections closed after (60000)"},
    {"shutdown-timeout-ms", "ACS_SHUTDOWN_TIMEOUT_MS", OPT_MS, OFF(shutdown_timeout_ms), 0, MS_MAX,
     "MS", "bound on requests in flight at stop (30000)"},
    {"max-sessions", "ACS_MAX_SESSIONS", OPT_UINT, OFF(max_sessions), 1, 10000000, "N",
     "CWMP sessions in flight on this instance before new Informs get 503 (20000)"},
    {"max-first-contacts", "ACS_MAX_FIRST_CONTACTS", OPT_UINT, OFF(max_first_contacts), 0,
     10000000, "N",
     "first contacts (\"0 BOOTSTRAP\" sessions) in flight before more get 503 (1000; 0: no limit)"},
    {"device-cache", "ACS_DEVICE_CACHE", OPT_SIZE, OFF(device_cache_bytes), 0, 1ULL << 40, "BYTES",
     "device state kept between sessions, per instance (512M; 0: none)"},
    {"session-timeout-ms", "ACS_SESSION_TIMEOUT_MS", OPT_MS, OFF(session_timeout_ms), 100, MS_MAX,
     "MS", "a session waiting this long for the CPE ends (30000)"},
    {"pg-slow-ms", "ACS_PG_SLOW_MS", OPT_MS, OFF(pg_slow_ms), 1, MS_MAX, "MS",
     "store slower than this: new Informs get 503 (2000)"},
    {"retry-after", "ACS_RETRY_AFTER", OPT_UINT, OFF(retry_after_s), 1, 86400, "SECONDS",
     "Retry-After of a 503 (30)"},
    {"fault-retry-base", "ACS_FAULT_RETRY_BASE", OPT_UINT, OFF(fault_retry_base_s), 0, 86400,
     "SECONDS", "a faulted policy channel runs again after base x 2^retries (60)"},
    {"fault-retry-max", "ACS_FAULT_RETRY_MAX", OPT_UINT, OFF(fault_retry_max_s), 0, 30 * 86400,
     "SECONDS", "... capped at this (3600)"},
    {"policy-dry-run-devices", "ACS_POLICY_DRY_RUN_DEVICES", OPT_UINT, OFF(policy_dry_run_devices),
     0, 1000, "N",
     "a push runs each preset's provisions over this many stored devices first and refuses "
     "the tree on any policy error (20; 0: no dry run)"},
    {"policy-dry-run-ms", "ACS_POLICY_DRY_RUN_MS", OPT_MS, OFF(policy_dry_run_ms), 100, MS_MAX,
     "MS", "the whole dry run's time budget: devices past it are not run (10000)"},
    {"policy-log-lines", "ACS_POLICY_LOG_LINES", OPT_UINT, OFF(policy_log_lines), 0, 1000000, "N",
     "log() lines one session's policies may write; the rest are dropped and counted (100)"},
    {"task-unknown-limit", "ACS_TASK_UNKNOWN_LIMIT", OPT_UINT, OFF(task_unknown_limit), 1, 1000,
     "N", "a task sent this many times without an answer (the CPE crashed, rebooted, dropped "
     "the session) is faulted instead of sent again (3)"},
    {"transfer-timeout", "ACS_TRANSFER_TIMEOUT", OPT_UINT, OFF(transfer_timeout_s), 0,
     365 * 86400, "SECONDS",
     "a Download/Upload accepted (Status 1) whose TransferComplete never comes expires (86400; "
     "0: never)"},
    {"instance-id", "ACS_INSTANCE_ID", OPT_STR, OFF(instance_id), 0, 0, "NAME",
     "this instance's name in session cookies (default: random)"},
    {"secret-key-file", "ACS_SECRET_KEY_FILE", OPT_STR, OFF(secret_key_file), 0, 0, "FILE",
     "key of the stored secrets: 64 hex digits or 32 bytes (none: no secrets)"},
    {"connreq-username", "ACS_CONNREQ_USERNAME", OPT_STR, OFF(connreq_username), 0, 0, "NAME",
     "connection requests: username when the device has none stored"},
    {"connreq-password", "ACS_CONNREQ_PASSWORD", OPT_STR, OFF(connreq_password), 0, 0, "TEXT",
     "connection requests: password when the device has none stored"},
    {"connreq-max-in-flight", "ACS_CONNREQ_MAX_IN_FLIGHT", OPT_UINT, OFF(connreq_max_in_flight), 1,
     100000, "N", "connection requests in flight per worker; the rest wait (64)"},
    {"connreq-timeout-ms", "ACS_CONNREQ_TIMEOUT_MS", OPT_MS, OFF(connreq_timeout_ms), 100, 600000,
     "MS", "bound on one connection request (10000)"},
    {"cpe-auth", "ACS_CPE_AUTH", OPT_STR, OFF(cpe_auth), 0, 0, "on|off",
     "authenticate CPEs (HTTP Digest, Basic): off by default"},
    {"cpe-auth-realm", NULL, OPT_STR, OFF(cpe_auth_realm), 0, 0, "TEXT",
     "CPE authentication: the realm (acsd)"},
    {"cpe-auth-username", NULL, OPT_STR, OFF(cpe_auth_username), 0, 0, "NAME",
     "CPE authentication: fleet default username (for devices with none of their own)"},
    {"cpe-auth-password", "ACS_CPE_AUTH_PASSWORD", OPT_STR, OFF(cpe_auth_password), 0, 0, "TEXT",
     "CPE authentication: fleet default password"},
    {"cpe-auth-factory-key-file", "ACS_CPE_AUTH_FACTORY_KEY_FILE", OPT_STR,
     OFF(cpe_auth_factory_key_file), 0, 0, "FILE",
     "CPE authentication: key of the factory credentials (serial, HMAC of the serial)"},
    {"cpe-auth-basic", NULL, OPT_STR, OFF(cpe_auth_basic), 0, 0, "tls|always|off",
     "CPE authentication: where Basic is accepted (tls: over TLS only, the default)"},
    {"cpe-auth-nonce-ttl", NULL, OPT_UINT, OFF(cpe_auth_nonce_ttl_s), 1, 86400, "SECONDS",
     "CPE authentication: a Digest nonce stays fresh this long (300)"},
    {"cpe-auth-max-failures", NULL, OPT_UINT, OFF(cpe_auth_max_failures), 1, 1000000, "N",
     "CPE authentication: wrong credentials per address or device before a lockout (5)"},
    {"cpe-auth-lockout", NULL, OPT_UINT, OFF(cpe_auth_lockout_s), 1, 86400, "SECONDS",
     "CPE authentication: the lockout, and the window failures count in (60)"},
    {"stun", "ACS_STUN", OPT_ADDR, OFF(stun_listen), 0, 0, "HOST:PORT",
     "STUN server and UDP connection requests (TR-069 Annex G) (off)"},
    {"xmpp-jid", "ACS_XMPP_JID", OPT_STR, OFF(xmpp_jid), 0, 0, "JID",
     "XMPP connection requests (Annex K): acsd's account (none: no XMPP)"},
    {"xmpp-password", "ACS_XMPP_PASSWORD", OPT_STR, OFF(xmpp_password), 0, 0, "TEXT",
     "... its password"},
    {"xmpp-server", "ACS_XMPP_SERVER", OPT_STR, OFF(xmpp_server), 0, 0, "HOST[:PORT]",
     "... the XMPP server (default: the JID's domain, by DNS SRV)"},
    {"xmpp-tls", "ACS_XMPP_TLS", OPT_STR, OFF(xmpp_tls), 0, 0, "MODE",
     "... required (default), trusted (required, any certificate), or off"},
    {"files", "ACS_FILES", OPT_ADDR, OFF(files_listen), 0, 0, "HOST:PORT",
     "file server listener (0.0.0.0:7567; \"off\": none)"},
    {"file-server-url", "ACS_FILE_SERVER_URL", OPT_STR, OFF(file_server_url), 0, 0, "URL",
     "file server base URL given to CPEs (default: the CPE's Host, the files port)"},
    {"max-file-size", "ACS_MAX_FILE_SIZE", OPT_SIZE, OFF(max_file_size), 1, 4294967295ULL, "BYTES",
     "largest file upload (512M)"},
    {"file-grant-ttl", "ACS_FILE_GRANT_TTL", OPT_UINT, OFF(file_grant_ttl_s), 60, 31536000,
     "SECONDS", "a download's credentials stay valid this long (86400)"},
    {"redis", "ACS_REDIS", OPT_STR, OFF(redis), 0, 0, "HOST:PORT",
     "Redis master for session locks and signals between instances (none: one instance)"},
    {"redis-sentinels", "ACS_REDIS_SENTINELS", OPT_STR, OFF(redis_sentinels), 0, 0,
     "HOST:PORT[,...]", "Redis Sentinels that name the master (instead of --redis)"},
    {"redis-master", "ACS_REDIS_MASTER", OPT_STR, OFF(redis_master), 0, 0, "NAME",
     "the master's name at the sentinels (acsd)"},
    {"redis-password", "ACS_REDIS_PASSWORD", OPT_STR, OFF(redis_password), 0, 0, "TEXT",
     "Redis AUTH password (none)"},
    {"redis-lock-ms", "ACS_REDIS_LOCK_MS", OPT_MS, OFF(redis_lock_ms), 1000, 3600000, "MS",
     "expiry of a session's lock, refreshed while it runs (30000)"},
    {"proxy-protocol", "ACS_PROXY_PROTOCOL", OPT_ONOFF, OFF(proxy_protocol), 0, 0, "on|off",
     "CWMP connections begin with a PROXY protocol v2 (or v1) header (off)"},
    {"tls", "ACS_TLS", OPT_STR, OFF(tls), 0, 0, "LIST",
     "listeners that speak TLS only: cwmp, files, api, comma-separated (none)"},
    {"tls-cert", "ACS_TLS_CERT", OPT_STR, OFF(tls_cert), 0, 0, "FILE",
     "TLS: server certificate and its chain, PEM (re-read on SIGHUP)"},
    {"tls-key", "ACS_TLS_KEY", OPT_STR, OFF(tls_key), 0, 0, "FILE",
     "TLS: the certificate's private key, PEM (re-read on SIGHUP)"},
    {"tls-client-ca", "ACS_TLS_CLIENT_CA", OPT_STR, OFF(tls_client_ca), 0, 0, "FILE",
     "TLS: CAs of CPE client certificates, PEM (none: no client certificates)"},
    {"tls-client-cert", "ACS_TLS_CLIENT_CERT", OPT_STR, OFF(tls_client_cert), 0, 0, "MODE",
     "TLS: CPE client certificates off, optional (default with a CA) or required"},
    {"tls-client-match", "ACS_TLS_CLIENT_MATCH", OPT_STR, OFF(tls_client_match), 0, 0, "WHAT",
     "TLS: a client certificate names the device (default) or its serial number"},
    {"tls-ticket-key", "ACS_TLS_TICKET_KEY", OPT_STR, OFF(tls_ticket_key), 0, 0, "FILE",
     "TLS: session ticket keys shared by instances, 80 bytes each (default: per process)"},
    {"tls-session-cache", "ACS_TLS_SESSION_CACHE", OPT_UINT, OFF(tls_session_cache), 0, 10000000,
     "N", "TLS: server session cache entries (20000; 0: tickets only)"},
    {"config", NULL, OPT_STR, OFF(config_file), 0, 0, "FILE", "read \"key = value\" lines"},
    {"help", NULL, OPT_FLAG, OFF(help), 0, 0, "", "this text"},
    {"version", NULL, OPT_FLAG, OFF(version), 0, 0, "", "print the version"},
};
#define N_OPTS (sizeof opts / sizeof opts[0])

static int fail(char *errbuf, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(char *errbuf, size_t errlen, const char *fmt, ...) {
  if (errbuf && errlen) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(errbuf, errlen, fmt, ap);
    va_end(ap);
  }
  return ACS_ECONFIG;
}

void acs_config_init(acs_config *cfg) {
  memset(cfg, 0, sizeof *cfg);
  cfg->workers = 0;
  cfg->cwmp_listen = strdup("0.0.0.0:7547");
  cfg->api_listen = strdup("127.0.0.1:7557");
  cfg->log_level = ACS_LOG_INFO;
  cfg->max_body_bytes = 1048576;
  cfg->max_head_bytes = 16384;
  cfg->header_timeout_ms = 10000;
  cfg->idle_timeout_ms = 60000;
  cfg->shutdown_timeout_ms = 30000;
  cfg->max_sessions = 20000;
  cfg->max_first_contacts = 1000;
  cfg->device_cache_bytes = (size_t)512 << 20;
  cfg->session_timeout_ms = 30000;
  cfg->pg_slow_ms = 2000;
  cfg->retry_after_s = 30;
  cfg->fault_retry_base_s = 60;
  cfg->fault_retry_max_s = 3600;
  cfg->policy_dry_run_devices = 20;
  cfg->policy_dry_run_ms = 10000;
  cfg->policy_log_lines = ACS_POLICY_LOG_LINES;
  cfg->task_unknown_limit = 3;
  cfg->transfer_timeout_s = 86400;
  cfg->connreq_max_in_flight = 64;
  cfg->connreq_timeout_ms = 10000;
  cfg->cpe_auth_nonce_ttl_s = 300;
  cfg->cpe_auth_max_failures = 5;
  cfg->cpe_auth_lockout_s = 60;
  cfg->files_listen = strdup("0.0.0.0:7567");
  cfg->files_listen_default = true;
  cfg->max_file_size = 512u << 20;
  cfg->file_grant_ttl_s = 86400;
  cfg->redis_master = strdup("acsd");
  cfg->redis_lock_ms = 30000;
  cfg->tls_session_cache = 20000;
}

void acs_config_free(acs_config *cfg) {
  free(cfg->cwmp_listen);
  free(cfg->api_listen);
  free(cfg->pg_dsn);
  free(cfg->pg_pipeline);
  free(cfg->policies_dir);
  free(cfg->config_file);
  free(cfg->instance_id);
  free(cfg->secret_key_file);
  free(cfg->connreq_username);
  free(cfg->connreq_password);
  free(cfg->cpe_auth);
  free(cfg->cpe_auth_realm);
  free(cfg->cpe_auth_username);
  free(cfg->cpe_auth_password);
  free(cfg->cpe_auth_factory_key_file);
  free(cfg->cpe_auth_basic);
  free(cfg->stun_listen);
  free(cfg->xmpp_jid);
  free(cfg->xmpp_password);
  free(cfg->xmpp_server);
  free(cfg->xmpp_tls);
  free(cfg->files_listen);
  free(cfg->file_server_url);
  free(cfg->redis);
  free(cfg->redis_sentinels);
  free(cfg->redis_master);
  free(cfg->redis_password);
  free(cfg->tls);
  free(cfg->tls_cert);
  free(cfg->tls_key);
  free(cfg->tls_client_ca);
  free(cfg->tls_client_cert);
  free(cfg->tls_client_match);
  free(cfg->tls_ticket_key);
  memset(cfg, 0, sizeof *cfg);
}

/* --- value parsers */

static int parse_ull(const char *s, unsigned long long *out) {
  if (!isdigit((unsigned char)s[0])) return ACS_ECONFIG;
  errno = 0;
  char *end;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno || *end) return ACS_ECONFIG;
  *out = v;
  return 0;
}

int acs_size_parse(const char *s, size_t *out) {
  if (!isdigit((unsigned char)s[0])) return ACS_ECONFIG;
  errno = 0;
  char *end;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno) return ACS_ECONFIG;
  unsigned shift = 0;
  switch (*end) {
    case '\0':
      break;
    case 'k':
    case 'K':
      shift = 10;
      break;
    case 'm':
    case 'M':
      shift = 20;
      break;
    case 'g':
    case 'G':
      shift = 30;
      break;
    default:
      return ACS_ECONFIG;
  }
  if (*end && end[1]) return ACS_ECONFIG;
  if (v > (SIZE_MAX >> shift)) return ACS_ECONFIG;
  *out = (size_t)(v << shift);
  return 0;
}

int acs_addr_parse(const char *s, struct sockaddr_storage *out) {
  char host[64];
  const char *port;
  memset(out, 0, sizeof *out);
  if (s[0] == '[') {
    const char *rb = strchr(s, ']');
    if (!rb || rb[1] != ':' || (size_t)(rb - s - 1) >= sizeof host) return ACS_ECONFIG;
    memcpy(host, s + 1, (size_t)(rb - s - 1));
    host[rb - s - 1] = '\0';
    port = rb + 2;
  } else {
    const char *colon = strrchr(s, ':');
    if (!colon || (size_t)(colon - s) >= sizeof host) return ACS_ECONFIG;
    memcpy(host, s, (size_t)(colon - s));
    host[colon - s] = '\0';
    if (strchr(host, ':')) return ACS_ECONFIG; /* IPv6 needs brackets */
    port = colon + 1;
  }
  unsigned long long p;
  if (parse_ull(port, &p) || p > 65535) return ACS_ECONFIG;
  if (s[0] == '[') {
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)out;
    a6->sin6_family = AF_INET6;
    a6->sin6_port = htons((uint16_t)p);
    if (inet_pton(AF_INET6, host, &a6->sin6_addr) != 1) return ACS_ECONFIG;
    return 0;
  }
  struct sockaddr_in *a4 = (struct sockaddr_in *)out;
  a4->sin_family = AF_INET;
  a4->sin_port = htons((uint16_t)p);
  if (host[0] == '\0' || strcmp(host, "*") == 0) {
    a4->sin_addr.s_addr = htonl(INADDR_ANY);
  } else if (strcmp(host, "localhost") == 0) {
    a4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  } else if (inet_pton(AF_INET, host, &a4->sin_addr) != 1) {
    return ACS_ECONFIG;
  }
  return 0;
}

/* --- setting one key */

static const opt_def *find_opt(const char *key) {
  char norm[64];
  size_t n = strlen(key);
  if (n >= sizeof norm) return NULL;
  for (size_t i = 0; i <= n; i++) norm[i] = key[i] == '_' ? '-' : key[i];
  for (size_t i = 0; i < N_OPTS; i++) {
    if (strcmp(opts[i].name, norm) == 0) return &opts[i];
  }
  return NULL;
}

/* where: "--workers", "ACS_WORKERS", "file.conf:3: workers" (for messages). */
static int set_opt(acs_config *cfg, const opt_def *o, const char *value, const char *where,
                   char *errbuf, size_t errlen) {
  char *base = (char *)cfg + o->off;
  unsigned long long v = 0;
  if (o->off == OFF(files_listen)) cfg->files_listen_default = false;
  switch (o->type) {
    case OPT_UINT:
    case OPT_MS:
      if (parse_ull(value, &v) || v < o->min || v > o->max) {
        return fail(errbuf, errlen, "%s: invalid value '%s' (expected an integer %llu..%llu)",
                    where, value, o->min, o->max);
      }
      if (o->type == OPT_UINT) {
        *(unsigned *)base = (unsigned)v;
      } else {
        *(uint32_t *)base = (uint32_t)v;
      }
      return 0;
    case OPT_SIZE: {
      size_t sz;
      if (acs_size_parse(value, &sz) || sz < o->min || sz > o->max) {
        return fail(errbuf, errlen,
                    "%s: invalid size '%s' (expected %llu..%llu bytes; suffixes k, m, g)", where,
                    value, o->min, o->max);
      }
      *(size_t *)base = sz;
      return 0;
    }
    case OPT_LEVEL: {
      acs_log_level lvl;
      if (acs_log_parse_level(value, &lvl)) {
        return fail(errbuf, errlen,
                    "%s: invalid log level '%s' (expected crit, err, warn, info or debug)", where,
                    value);
      }
      *(acs_log_level *)base = lvl;
      return 0;
    }
    case OPT_LOGFMT: {
      acs_log_format f;
      if (acs_log_parse_format(value, &f))
        return fail(errbuf, errlen, "%s: invalid log format '%s' (expected text or json)", where,
                    value);
      *(acs_log_format *)base = f;
      return 0;
    }
    case OPT_ADDR: {
      struct sockaddr_storage ss;
      char *dup = NULL;
      if (strcmp(value, "off") != 0) {
        if (acs_addr_parse(value, &ss)) {
          return fail(errbuf, errlen,
                      "%s: invalid address '%s' (expected HOST:PORT or [IPV6]:PORT, or off)", where,
                      value);
        }
        if (!(dup = strdup(value))) return ACS_ENOMEM;
      }
      free(*(char **)base);
      *(char **)base = dup;
      return 0;
    }
    case OPT_STR: {
      if (value[0] == '\0') return fail(errbuf, errlen, "%s: empty value", where);
      char *dup = strdup(value);
      if (!dup) return ACS_ENOMEM;
      free(*(char **)base);
      *(char **)base = dup;
      return 0;
    }
    case OPT_ONOFF:
      if (strcmp(value, "on") == 0) value = "true";
      if (strcmp(value, "off") == 0) value = "false";
      /* fall through */
    case OPT_FLAG:
      if (strcmp(value, "true") == 0 || strcmp(value, "1") == 0 || strcmp(value, "yes") == 0) {
        *(bool *)base = true;
      } else if (strcmp(value, "false") == 0 || strcmp(value, "0") == 0 ||
                 strcmp(value, "no") == 0) {
        *(bool *)base = false;
      } else {
        return fail(errbuf, errlen, "%s: invalid value '%s' (expected %s)", where, value,
                    o->type == OPT_ONOFF ? "on or off" : "true or false");
      }
      return 0;
  }
  return fail(errbuf, errlen, "%s: unsupported option", where);
}

int acs_config_set(acs_config *cfg, const char *key, const char *value, char *errbuf,
                   size_t errlen) {
  const opt_def *o = find_opt(key);
  if (!o) return fail(errbuf, errlen, "unknown configuration key '%s'", key);
  return set_opt(cfg, o, value, key, errbuf, errlen);
}

/* --- config file */

static char *trim(char *s) {
  while (isspace((unsigned char)*s)) s++;
  size_t n = strlen(s);
  while (n && isspace((unsigned char)s[n - 1])) s[--n] = '\0';
  return s;
}

static int load_file(acs_config *cfg, const char *path, char *errbuf, size_t errlen) {
  int rc = 0;
  char *line = NULL;
  size_t cap = 0;
  unsigned lineno = 0;
  FILE *f = fopen(path, "r");
  if (!f) {
    rc = fail(errbuf, errlen, "config file %s: %s", path, strerror(errno));
    goto cleanup;
  }
  while (getline(&line, &cap, f) != -1) {
    lineno++;
    char *s = trim(line);
    if (*s == '\0' || *s == '#') continue;
    char *eq = strchr(s, '=');
    if (!eq) {
      rc = fail(errbuf, errlen, "config file %s:%u: expected 'key = value'", path, lineno);
      goto cleanup;
    }
    *eq = '\0';
    char *key = trim(s);
    char *value = trim(eq + 1);
    size_t vn = strlen(value);
    if (vn >= 2 && ((value[0] == '"' && value[vn - 1] == '"') ||
                    (value[0] == '\'' && value[vn - 1] == '\''))) {
      value[vn - 1] = '\0';
      value++;
    }
    char where[512];
    snprintf(where, sizeof where, "config file %s:%u: %s", path, lineno, key);
    const opt_def *o = find_opt(key);
    if (!o || o->type == OPT_FLAG || strcmp(o->name, "config") == 0) {
      rc = fail(errbuf, errlen, "config file %s:%u: unknown key '%s'", path, lineno, key);
      goto cleanup;
    }
    rc = set_opt(cfg, o, value, where, errbuf, errlen);
    if (rc) goto cleanup;
  }
  if (ferror(f)) rc = fail(errbuf, errlen, "config file %s: read error", path);
cleanup:
  free(line);
  if (f) fclose(f);
  return rc;
}

/* --- command line */

typedef struct arg_iter {
  int argc, i;
  char **argv;
} arg_iter;

/* Next option: *o and *value (NULL for flags); returns 1, 0 at the end, or an
 * error. */
static int next_arg(arg_iter *it, const opt_def **o, const char **value, char *tmp, size_t tmplen,
                    char *errbuf, size_t errlen) {
  if (it->i >= it->argc) return 0;
  const char *a = it->argv[it->i++];
  if (strncmp(a, "--", 2) != 0 || a[2] == '\0') {
    if (strcmp(a, "-h") == 0) {
      *o = find_opt("help");
      *value = NULL;
      return 1;
    }
    return fail(errbuf, errlen, "unexpected argument '%s' (see --help)", a);
  }
  const char *name = a + 2;
  const char *eq = strchr(name, '=');
  size_t n = eq ? (size_t)(eq - name) : strlen(name);
  if (n >= tmplen) return fail(errbuf, errlen, "unknown option '%s' (see --help)", a);
  memcpy(tmp, name, n);
  tmp[n] = '\0';
  const opt_def *d = NULL;
  for (size_t i = 0; i < N_OPTS; i++) {
    if (strcmp(opts[i].name, tmp) == 0) d = &opts[i];
  }
  if (!d) return fail(errbuf, errlen, "unknown option '--%s' (see --help)", tmp);
  *o = d;
  if (d->type == OPT_FLAG) {
    if (eq) return fail(errbuf, errlen, "option '--%s' takes no value", tmp);
    *value = NULL;
    return 1;
  }
  if (eq) {
    *value = eq + 1;
  } else if (it->i < it->argc) {
    *value = it->argv[it->i++];
  } else {
    return fail(errbuf, errlen, "option '--%s' needs a value", tmp);
  }
  return 1;
}

int acs_config_load(int argc, char **argv, acs_config *cfg, char *errbuf, size_t errlen) {
  int rc;
  const opt_def *o;
  const char *value;
  char name[64], where[96];

  /* Pass 1: syntax, --config, --help, --version. */
  const char *file = NULL;
  arg_iter it = {argc, 1, argv};
  while ((rc = next_arg(&it, &o, &value, name, sizeof name, errbuf, errlen)) == 1) {
    if (o->type == OPT_FLAG) {
      *(bool *)((char *)cfg + o->off) = true;
    } else if (strcmp(o->name, "config") == 0) {
      file = value;
    }
  }
  if (rc < 0) return rc;
  if (cfg->help || cfg->version) return 0;

  /* Config file. */
  if (!file) {
    const char *e = getenv("ACS_CONFIG");
    if (e && *e) file = e;
  }
  if (file) {
    if ((rc = set_opt(cfg, find_opt("config"), file, "--config", errbuf, errlen))) return rc;
    if ((rc = load_file(cfg, cfg->config_file, errbuf, errlen))) return rc;
  }

  /* Environment. */
  for (size_t i = 0; i < N_OPTS; i++) {
    if (!opts[i].env) continue;
    const char *e = getenv(opts[i].env);
    if (!e || !*e) continue;
    snprintf(where, sizeof where, "environment %s", opts[i].env);
    if ((rc = set_opt(cfg, &opts[i], e, where, errbuf, errlen))) return rc;
  }

  /* Command line. */
  it = (arg_iter){argc, 1, argv};
  while ((rc = next_arg(&it, &o, &value, name, sizeof name, errbuf, errlen)) == 1) {
    if (o->type == OPT_FLAG || strcmp(o->name, "config") == 0) continue;
    snprintf(where, sizeof where, "--%s", o->name);
    if ((rc = set_opt(cfg, o, value, where, errbuf, errlen))) return rc;
  }
  if (rc == 0 && cfg->xmpp_tls && strcmp(cfg->xmpp_tls, "required") != 0 &&
      strcmp(cfg->xmpp_tls, "trusted") != 0 && strcmp(cfg->xmpp_tls, "off") != 0)
    return fail(errbuf, errlen, "xmpp-tls: invalid value '%s' (expected required, trusted or off)",
                cfg->xmpp_tls);
  return rc;
}

const char *acs_config_usage(void) {
  static char text[32768]; /* ~8 KiB today: room for what comes */
  static const char head[] =
      "usage: acsd [options]\n"
      "\n"
      "Runs the acsd TR-069 ACS engine. Settings come from built-in defaults, then\n"
      "the config file, then the environment (ACS_*), then these options.\n"
      "\n";
  /* Built on first use; the table is constant, so racing callers write the
   * same bytes (main calls this once, before any thread exists). */
  size_t n = 0;
  n += (size_t)snprintf(text + n, sizeof text - n, "%s", head);
  for (size_t i = 0; i < N_OPTS && n < sizeof text; i++) {
    char left[64];
    snprintf(left, sizeof left, "--%s %s", opts[i].name, opts[i].arg);
    n += (size_t)snprintf(text + n, sizeof text - n, "  %-30s %s%s%s%s\n", left, opts[i].help,
                          opts[i].env ? " [" : "", opts[i].env ? opts[i].env : "",
                          opts[i].env ? "]" : "");
  }
  return text;
}
