/* acs_config.h: acsd's configuration and where it comes from.
 *
 * Sources, each overriding the one before: built-in defaults, a config file
 * (--config FILE or ACS_CONFIG: "key = value" lines, '#' comments, keys named
 * like the long options, with '-' or '_'), the environment (ACS_WORKERS,
 * ACS_CWMP, ACS_API, ACS_PG_DSN, ACS_POLICIES, ACS_STORE_WAIT, ACS_LOG_LEVEL, ACS_MAX_BODY,
 * ACS_MAX_HEAD, ACS_HEADER_TIMEOUT_MS, ACS_IDLE_TIMEOUT_MS,
 * ACS_SHUTDOWN_TIMEOUT_MS, ACS_MAX_SESSIONS, ACS_SESSION_TIMEOUT_MS, ACS_PG_SLOW_MS,
 * ACS_RETRY_AFTER, ACS_INSTANCE_ID, ACS_SECRET_KEY_FILE, ACS_CONNREQ_USERNAME,
 * ACS_CONNREQ_PASSWORD, ACS_CONNREQ_MAX_IN_FLIGHT, ACS_CONNREQ_TIMEOUT_MS,
 * ACS_FILES, ACS_FILE_SERVER_URL, ACS_MAX_FILE_SIZE, ACS_FILE_GRANT_TTL, ACS_CPE_AUTH,
 * ACS_CPE_AUTH_PASSWORD, ACS_CPE_AUTH_FACTORY_KEY_FILE, ACS_TLS,
 * ACS_TLS_CERT, ACS_TLS_KEY, ACS_TLS_CLIENT_CA, ACS_TLS_CLIENT_CERT,
 * ACS_TLS_CLIENT_MATCH, ACS_TLS_TICKET_KEY, ACS_TLS_SESSION_CACHE, ACS_REDIS,
 * ACS_REDIS_SENTINELS, ACS_REDIS_MASTER, ACS_REDIS_PASSWORD, ACS_REDIS_LOCK_MS,
 * ACS_PROXY_PROTOCOL; an empty
 * variable counts as unset) and the command
 * line (--key VALUE or --key=VALUE). Unknown keys and bad values fail with
 * ACS_ECONFIG and a message that names the key and where it came from. */
#ifndef ACS_CONFIG_H
#define ACS_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "core/acs_log.h"

/* policy-log-lines' default (also the cap of a run with no configuration) */
#define ACS_POLICY_LOG_LINES 100

typedef struct acs_config {
  unsigned workers;   /* 0: one per online core */
  char *cwmp_listen;  /* "0.0.0.0:7547"; NULL ("off"): not listened on */
  char *api_listen;   /* "127.0.0.1:7557"; NULL ("off"): not listened on */
  char *pg_dsn;       /* NULL: no store */
  char *pg_pipeline;  /* "auto" (NULL), "on" or "off" (store/acs_pg.h) */
  char *policies_dir; /* NULL: none imported (the store's generations still serve) */
  unsigned store_wait_s; /* at start, wait this long for the store (0: forever) */
  char *config_file;  /* the file that was read, or NULL */
  acs_log_level log_level;
  acs_log_format log_format; /* text (default) or json */
  size_t max_body_bytes;        /* 1 MiB */
  size_t max_head_bytes;        /* 16 KiB */
  uint32_t header_timeout_ms;   /* 10000 */
  uint32_t idle_timeout_ms;     /* 60000 */
  uint32_t shutdown_timeout_ms; /* 30000 */
  unsigned max_sessions;        /* CWMP sessions in flight before 503 (20000) */
  unsigned max_first_contacts;  /* "0 BOOTSTRAP" sessions in flight before 503 (1000; 0: any) */
  size_t device_cache_bytes;    /* device state kept between sessions, per instance (512 MiB) */
  uint32_t session_timeout_ms;  /* waiting for the CPE (30000) */
  uint32_t pg_slow_ms;          /* store latency above which Informs get 503 (2000) */
  unsigned retry_after_s;       /* Retry-After of a 503 (30) */
  char *instance_id;            /* in session cookies; NULL: random at start */
  unsigned fault_retry_base_s;  /* a faulted policy channel waits base x 2^retries (60) */
  unsigned fault_retry_max_s;   /* ... at most this long (3600) */
  unsigned policy_dry_run_devices; /* devices a push's dry run runs over (20; 0: none) */
  uint32_t policy_dry_run_ms;      /* the whole dry run's time budget (10000) */
  unsigned policy_log_lines;    /* log() lines a session's policies may write (100) */
  unsigned task_unknown_limit;  /* a task whose outcome was unknown this often is faulted (3) */
  unsigned transfer_timeout_s;  /* a transfer 'sent' this long without TransferComplete expires
                                   (86400; 0: never) */

  /* secrets and connection requests */
  char *secret_key_file;          /* key of device_secrets (core/acs_secret.h); NULL: none */
  char *connreq_username;         /* credentials of a connection request when the */
  char *connreq_password;         /*   device has none stored (NULL: none) */
  unsigned connreq_max_in_flight; /* per worker (64) */
  uint32_t connreq_timeout_ms;    /* bound on one connection request (10000) */
  char *stun_listen;              /* STUN / UDP connection requests; NULL: off */
  char *xmpp_jid, *xmpp_password; /* XMPP connection requests; NULL: off */
  char *xmpp_server;              /* HOST[:PORT]; NULL: the JID's domain */
  char *xmpp_tls;                 /* "required" (NULL), "trusted" or "off" */

  /* CPE authentication (session/acs_cpe_auth.h; checked when acsd starts) */
  char *cpe_auth;                  /* "off" (NULL, the default) or "on" */
  char *cpe_auth_realm;            /* NULL: "acsd" */
  char *cpe_auth_username;         /* the fleet default credentials (NULL: none) */
  char *cpe_auth_password;
  char *cpe_auth_factory_key_file; /* key of the factory credentials (NULL: none) */
  char *cpe_auth_basic;            /* "tls" (NULL, the default), "always" or "off" */
  unsigned cpe_auth_nonce_ttl_s;   /* a Digest nonce is fresh this long (300) */
  unsigned cpe_auth_max_failures;  /* failures per address or device before a lockout (5) */
  unsigned cpe_auth_lockout_s;     /* the lockout, and the window failures are counted in (60) */


  /* the file server */
  char *files_listen;           /* file server "0.0.0.0:7567"; NULL ("off"): none */
  bool files_listen_default;    /* not configured: a port in use is not fatal */
  char *file_server_url;        /* base URL CPEs are given; NULL: from the request */
  size_t max_file_size;         /* largest file upload (512 MiB) */
  unsigned file_grant_ttl_s;    /* a download's credentials last this long (86400) */
  /* several instances (engine/coord, docs/architecture.md "Several instances") */
  char *redis;                  /* "HOST:PORT" of a Redis master; NULL: none */
  char *redis_sentinels;        /* "HOST:PORT[,HOST:PORT...]": find the master through them */
  char *redis_master;           /* the sentinels' name of the master ("acsd") */
  char *redis_password;         /* AUTH, NULL: none */
  uint32_t redis_lock_ms;       /* a session lock's expiry (30000) */
  bool proxy_protocol;          /* CWMP connections begin with a PROXY header (v2 or v1) */
  /* TLS (net/acs_tls.h, app/tls_app.c, docs/security.md ("TLS")) */
  char *tls;                    /* listeners that speak TLS: "cwmp,files,api"; NULL: none */
  char *tls_cert, *tls_key;     /* PEM files of the server certificate (chain) and key */
  char *tls_client_ca;          /* PEM: CAs of CPE client certificates; NULL: none asked for */
  char *tls_client_cert;        /* off, optional or required (optional with a client CA) */
  char *tls_client_match;       /* device (default) or serial: what a certificate must name */
  char *tls_ticket_key;         /* session ticket keys shared by instances; NULL: per process */
  unsigned tls_session_cache;   /* server session cache entries (20000; 0: none) */
  bool help;                    /* --help was given: print acs_config_usage() and exit */
  bool version;                 /* --version was given */
} acs_config;

/* Built-in defaults; strings are owned by cfg (free with acs_config_free). */
void acs_config_init(acs_config *cfg);
void acs_config_free(acs_config *cfg);

/* Applies file, environment and command line (argv[0] is the program name)
 * over cfg, which acs_config_init() has prepared. Returns 0, ACS_ECONFIG with
 * a message in errbuf, or ACS_ENOMEM. */
int acs_config_load(int argc, char **argv, acs_config *cfg, char *errbuf, size_t errlen);

/* Sets one key ("workers", "max-body", "max_body", ...) from text, as the
 * config file would. Returns 0 or ACS_ECONFIG (message in errbuf). */
int acs_config_set(acs_config *cfg, const char *key, const char *value, char *errbuf,
                   size_t errlen);


/* The --help text. */
const char *acs_config_usage(void);

/* Parses a listen address: "HOST:PORT" with a numeric IPv4 host, "localhost",
 * "*" or nothing for all addresses, or "[IPv6]:PORT". Returns 0 or
 * ACS_ECONFIG. */
int acs_addr_parse(const char *s, struct sockaddr_storage *out);

/* Parses a size: digits with an optional k/K, m/M or g/G suffix (powers of
 * 1024). Returns 0 or ACS_ECONFIG. */
int acs_size_parse(const char *s, size_t *out);

#endif
