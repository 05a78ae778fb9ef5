/* test_config.c: acs_config_load: defaults, config file, environment and
 * command line in that order of priority, bad values, size suffixes. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "acs_test.h"
#include "core/acs_config.h"
#include "core/acs_err.h"
#include "net/acs_server.h"

static const char *const env_vars[] = {
    "ACS_CONFIG",
    "ACS_WORKERS",
    "ACS_CWMP",
    "ACS_API",
    "ACS_PG_DSN",
    "ACS_POLICIES",
    "ACS_LOG_LEVEL",
    "ACS_MAX_BODY",
    "ACS_MAX_HEAD",
    "ACS_HEADER_TIMEOUT_MS",
    "ACS_IDLE_TIMEOUT_MS",
    "ACS_SHUTDOWN_TIMEOUT_MS",
    "ACS_SECRET_KEY_FILE",
    "ACS_CONNREQ_USERNAME",
    "ACS_CONNREQ_PASSWORD",
    "ACS_CONNREQ_MAX_IN_FLIGHT",
    "ACS_CONNREQ_TIMEOUT_MS",
    "ACS_FILES",
    "ACS_FILE_SERVER_URL",
    "ACS_MAX_FILE_SIZE",
    "ACS_FILE_GRANT_TTL",
};

static void clear_env(void) {
  for (size_t i = 0; i < sizeof env_vars / sizeof env_vars[0]; i++) unsetenv(env_vars[i]);
}

static char errbuf[512];

/* Loads from a NULL-terminated argument list (program name added). */
static int load(acs_config *cfg, const char *const *args) {
  char *argv[32];
  int argc = 0;
  argv[argc++] = "acsd";
  for (; args && *args && argc < 31; args++) argv[argc++] = (char *)*args;
  argv[argc] = NULL;
  errbuf[0] = '\0';
  acs_config_init(cfg);
  return acs_config_load(argc, argv, cfg, errbuf, sizeof errbuf);
}

static char tmpfile_path[64];

static const char *write_file(const char *text) {
  strcpy(tmpfile_path, "/tmp/acs_test_config_XXXXXX");
  int fd = mkstemp(tmpfile_path);
  if (fd < 0) {
    perror("mkstemp");
    exit(1);
  }
  size_t n = strlen(text);
  if (write(fd, text, n) != (ssize_t)n) {
    perror("write");
    exit(1);
  }
  close(fd);
  return tmpfile_path;
}

static void test_defaults(void) {
  acs_config cfg;
  CHECK_INT(load(&cfg, NULL), 0);
  CHECK_INT(cfg.workers, 0);
  CHECK_STR(cfg.cwmp_listen, "0.0.0.0:7547");
  CHECK_STR(cfg.api_listen, "127.0.0.1:7557");
  CHECK(cfg.pg_dsn == NULL);
  CHECK(cfg.policies_dir == NULL);
  CHECK(cfg.config_file == NULL);
  CHECK_INT(cfg.log_level, ACS_LOG_INFO);
  CHECK_INT(cfg.max_body_bytes, 1048576);
  CHECK_INT(cfg.max_head_bytes, 16384);
  CHECK_INT(cfg.header_timeout_ms, 10000);
  CHECK_INT(cfg.idle_timeout_ms, 60000);
  CHECK_INT(cfg.shutdown_timeout_ms, 30000);
  CHECK(!cfg.help && !cfg.version);

  acs_server_config sc;
  acs_config_to_server(&cfg, &sc);
  CHECK_STR(sc.listen[ACS_LISTENER_CWMP], "0.0.0.0:7547");
  CHECK_STR(sc.listen[ACS_LISTENER_API], "127.0.0.1:7557");
  CHECK_INT(sc.http_limits.max_body_bytes, 1048576);
  CHECK_INT(sc.http_limits.max_head_bytes, 16384);
  CHECK_INT(sc.header_timeout_ms, 10000);
  CHECK_INT(sc.backlog, 4096);
  CHECK(sc.handler[ACS_LISTENER_CWMP] == NULL);
  acs_config_free(&cfg);
}

static void test_argv(void) {
  acs_config cfg;
  const char *args[] = {"--cwmp",
                        "127.0.0.1:17547",
                        "--api=[::1]:17557",
                        "--pg",
                        "host=127.0.0.1 dbname=acs",
                        "--policies",
                        "/srv/policies",
                        "--workers",
                        "3",
                        "--log-level",
                        "debug",
                        "--max-body",
                        "64k",
                        "--max-head=8K",
                        "--header-timeout-ms",
                        "1000",
                        "--idle-timeout-ms",
                        "2000",
                        "--shutdown-timeout-ms",
                        "0",
                        NULL};
  CHECK_INT(load(&cfg, args), 0);
  CHECK_STR(cfg.cwmp_listen, "127.0.0.1:17547");
  CHECK_STR(cfg.api_listen, "[::1]:17557");
  CHECK_STR(cfg.pg_dsn, "host=127.0.0.1 dbname=acs");
  CHECK_STR(cfg.policies_dir, "/srv/policies");
  CHECK_INT(cfg.workers, 3);
  CHECK_INT(cfg.log_level, ACS_LOG_DEBUG);
  CHECK_INT(cfg.max_body_bytes, 65536);
  CHECK_INT(cfg.max_head_bytes, 8192);
  CHECK_INT(cfg.header_timeout_ms, 1000);
  CHECK_INT(cfg.idle_timeout_ms, 2000);
  CHECK_INT(cfg.shutdown_timeout_ms, 0);
  acs_config_free(&cfg);

  const char *off[] = {"--api", "off", NULL};
  CHECK_INT(load(&cfg, off), 0);
  CHECK(cfg.api_listen == NULL);
  acs_config_free(&cfg);

  const char *help[] = {"--workers", "bogus", "--help", NULL};
  CHECK_INT(load(&cfg, help), 0); /* --help wins over what it would load */
  CHECK(cfg.help);
  acs_config_free(&cfg);
  const char *version[] = {"--version", NULL};
  CHECK_INT(load(&cfg, version), 0);
  CHECK(cfg.version);
  acs_config_free(&cfg);
  CHECK(strstr(acs_config_usage(), "--shutdown-timeout-ms") != NULL);
}

static void expect_error(const char *const *args, const char *needle) {
  acs_config cfg;
  int rc = load(&cfg, args);
  CHECK_INT(rc, ACS_ECONFIG);
  if (!strstr(errbuf, needle)) {
    acs_test_failures++;
    fprintf(stderr, "error message \"%s\" does not name \"%s\"\n", errbuf, needle);
  }
  acs_config_free(&cfg);
}

static void test_bad_values(void) {
  const char *a1[] = {"--frobnicate", NULL};
  expect_error(a1, "--frobnicate");
  const char *a2[] = {"--workers", "-1", NULL};
  expect_error(a2, "--workers");
  const char *a3[] = {"--workers", "2000", NULL};
  expect_error(a3, "--workers");
  const char *a4[] = {"--workers", NULL};
  expect_error(a4, "needs a value");
  const char *a5[] = {"--max-body", "1x", NULL};
  expect_error(a5, "--max-body");
  const char *a6[] = {"--max-body", "0", NULL};
  expect_error(a6, "--max-body");
  const char *a7[] = {"--max-body", "k", NULL};
  expect_error(a7, "--max-body");
  const char *a8[] = {"--cwmp", "localhost", NULL};
  expect_error(a8, "--cwmp");
  const char *a9[] = {"--cwmp", "1.2.3.4:70000", NULL};
  expect_error(a9, "--cwmp");
  const char *a10[] = {"--api", "::1:7557", NULL};
  expect_error(a10, "--api");
  const char *a11[] = {"--api", "[::1:7557", NULL};
  expect_error(a11, "--api");
  const char *a12[] = {"--log-level", "loud", NULL};
  expect_error(a12, "--log-level");
  const char *a13[] = {"--idle-timeout-ms", "0", NULL};
  expect_error(a13, "--idle-timeout-ms");
  const char *a14[] = {"--header-timeout-ms", "10s", NULL};
  expect_error(a14, "--header-timeout-ms");
  const char *a15[] = {"stray", NULL};
  expect_error(a15, "stray");
  const char *a16[] = {"--help=yes", NULL};
  expect_error(a16, "--help");
  const char *a17[] = {"--pg", "", NULL};
  expect_error(a17, "--pg");
  const char *a18[] = {"--config", "/nonexistent/acsd.conf", NULL};
  expect_error(a18, "/nonexistent/acsd.conf");
}

static void test_sizes(void) {
  size_t v = 0;
  CHECK_INT(acs_size_parse("0", &v), 0);
  CHECK_INT(v, 0);
  CHECK_INT(acs_size_parse("123", &v), 0);
  CHECK_INT(v, 123);
  CHECK_INT(acs_size_parse("64k", &v), 0);
  CHECK_INT(v, 65536);
  CHECK_INT(acs_size_parse("64K", &v), 0);
  CHECK_INT(v, 65536);
  CHECK_INT(acs_size_parse("2m", &v), 0);
  CHECK_INT(v, 2097152);
  CHECK_INT(acs_size_parse("2M", &v), 0);
  CHECK_INT(v, 2097152);
  CHECK_INT(acs_size_parse("1G", &v), 0);
  CHECK_INT(v, 1073741824);
  CHECK_INT(acs_size_parse("", &v), ACS_ECONFIG);
  CHECK_INT(acs_size_parse("k", &v), ACS_ECONFIG);
  CHECK_INT(acs_size_parse("1kb", &v), ACS_ECONFIG);
  CHECK_INT(acs_size_parse("-1", &v), ACS_ECONFIG);
  CHECK_INT(acs_size_parse(" 1", &v), ACS_ECONFIG);
  CHECK_INT(acs_size_parse("99999999999999999999", &v), ACS_ECONFIG);
  CHECK_INT(acs_size_parse("18014398509481984k", &v), ACS_ECONFIG); /* 2^54 KiB overflows */
}

static void test_addr(void) {
  struct sockaddr_storage ss;
  CHECK_INT(acs_addr_parse("0.0.0.0:7547", &ss), 0);
  CHECK_INT(ss.ss_family, AF_INET);
  CHECK_INT(ntohs(((struct sockaddr_in *)&ss)->sin_port), 7547);
  CHECK_INT(acs_addr_parse("[::1]:7557", &ss), 0);
  CHECK_INT(ss.ss_family, AF_INET6);
  CHECK_INT(ntohs(((struct sockaddr_in6 *)&ss)->sin6_port), 7557);
  CHECK_INT(acs_addr_parse("[::]:0", &ss), 0);
  CHECK_INT(acs_addr_parse("localhost:80", &ss), 0);
  CHECK_INT(ntohl(((struct sockaddr_in *)&ss)->sin_addr.s_addr), INADDR_LOOPBACK);
  CHECK_INT(acs_addr_parse(":80", &ss), 0);
  CHECK_INT(acs_addr_parse("*:80", &ss), 0);
  CHECK_INT(ntohl(((struct sockaddr_in *)&ss)->sin_addr.s_addr), INADDR_ANY);
  CHECK_INT(acs_addr_parse("1.2.3.4", &ss), ACS_ECONFIG);
  CHECK_INT(acs_addr_parse("1.2.3.4:", &ss), ACS_ECONFIG);
  CHECK_INT(acs_addr_parse("1.2.3.4:x", &ss), ACS_ECONFIG);
  CHECK_INT(acs_addr_parse("1.2.3.400:1", &ss), ACS_ECONFIG);
  CHECK_INT(acs_addr_parse("example.com:1", &ss), ACS_ECONFIG);
  CHECK_INT(acs_addr_parse("[1.2.3.4]:1", &ss), ACS_ECONFIG);
  CHECK_INT(acs_addr_parse("[::1]", &ss), ACS_ECONFIG);
}

static void test_file(void) {
  acs_config cfg;
  const char *path = write_file(
      "# acsd configuration\n"
      "\n"
      "workers = 5\n"
      "  cwmp=127.0.0.2:7547  \n"
      "max_body = 2m\n"
      "max-head = 4k\n"
      "header_timeout_ms = 1234\n"
      "pg = \"host=db password=a#b\"\n"
      "policies = '/etc/acs/policies'\n"
      "log_level = warn\n");
  const char *args[] = {"--config", path, NULL};
  CHECK_INT(load(&cfg, args), 0);
  CHECK_INT(cfg.workers, 5);
  CHECK_STR(cfg.cwmp_listen, "127.0.0.2:7547");
  CHECK_STR(cfg.api_listen, "127.0.0.1:7557");
  CHECK_INT(cfg.max_body_bytes, 2097152);
  CHECK_INT(cfg.max_head_bytes, 4096);
  CHECK_INT(cfg.header_timeout_ms, 1234);
  CHECK_STR(cfg.pg_dsn, "host=db password=a#b");
  CHECK_STR(cfg.policies_dir, "/etc/acs/policies");
  CHECK_INT(cfg.log_level, ACS_LOG_WARN);
  CHECK_STR(cfg.config_file, path);
  acs_config_free(&cfg);

  /* ACS_CONFIG names the file when --config does not */
  setenv("ACS_CONFIG", path, 1);
  CHECK_INT(load(&cfg, NULL), 0);
  CHECK_INT(cfg.workers, 5);
  acs_config_free(&cfg);
  clear_env();
  unlink(path);

  path = write_file("workers = 2\ncolour = blue\n");
  const char *a2[] = {"--config", path, NULL};
  expect_error(a2, "colour");
  CHECK(strstr(errbuf, ":2") != NULL); /* the line number */
  unlink(path);

  path = write_file("workers 2\n");
  expect_error(a2, "key = value");
  unlink(path);

  path = write_file("idle_timeout_ms = soon\n");
  expect_error(a2, "idle_timeout_ms");
  unlink(path);

  path = write_file("config = /etc/other.conf\n");
  expect_error(a2, "config");
  unlink(path);
}

static void test_env(void) {
  acs_config cfg;
  setenv("ACS_WORKERS", "7", 1);
  setenv("ACS_CWMP", "127.0.0.1:1", 1);
  setenv("ACS_API", "127.0.0.1:2", 1);
  setenv("ACS_PG_DSN", "dbname=x", 1);
  setenv("ACS_POLICIES", "/p", 1);
  setenv("ACS_LOG_LEVEL", "err", 1);
  setenv("ACS_MAX_BODY", "3k", 1);
  setenv("ACS_MAX_HEAD", "2k", 1);
  setenv("ACS_HEADER_TIMEOUT_MS", "11", 1);
  setenv("ACS_IDLE_TIMEOUT_MS", "12", 1);
  setenv("ACS_SHUTDOWN_TIMEOUT_MS", "13", 1);
  CHECK_INT(load(&cfg, NULL), 0);
  CHECK_INT(cfg.workers, 7);
  CHECK_STR(cfg.cwmp_listen, "127.0.0.1:1");
  CHECK_STR(cfg.api_listen, "127.0.0.1:2");
  CHECK_STR(cfg.pg_dsn, "dbname=x");
  CHECK_STR(cfg.policies_dir, "/p");
  CHECK_INT(cfg.log_level, ACS_LOG_ERR);
  CHECK_INT(cfg.max_body_bytes, 3072);
  CHECK_INT(cfg.max_head_bytes, 2048);
  CHECK_INT(cfg.header_timeout_ms, 11);
  CHECK_INT(cfg.idle_timeout_ms, 12);
  CHECK_INT(cfg.shutdown_timeout_ms, 13);
  acs_config_free(&cfg);
  clear_env();

  setenv("ACS_WORKERS", "", 1); /* empty: unset */
  CHECK_INT(load(&cfg, NULL), 0);
  CHECK_INT(cfg.workers, 0);
  acs_config_free(&cfg);

  setenv("ACS_WORKERS", "lots", 1);
  expect_error(NULL, "ACS_WORKERS");
  clear_env();
}

static void test_priority(void) {
  acs_config cfg;
  const char *path = write_file(
      "api = 127.0.0.1:1001\n"
      "cwmp = 127.0.0.1:2001\n"
      "workers = 1\n"
      "idle-timeout-ms = 100\n");
  setenv("ACS_API", "127.0.0.1:1002", 1);
  setenv("ACS_WORKERS", "2", 1);
  const char *args[] = {"--api", "127.0.0.1:1003", "--config", path, NULL};
  CHECK_INT(load(&cfg, args), 0);
  CHECK_STR(cfg.api_listen, "127.0.0.1:1003");  /* command line */
  CHECK_INT(cfg.workers, 2);                    /* environment over file */
  CHECK_STR(cfg.cwmp_listen, "127.0.0.1:2001"); /* file over default */
  CHECK_INT(cfg.idle_timeout_ms, 100);
  CHECK_INT(cfg.header_timeout_ms, 10000); /* default */
  acs_config_free(&cfg);

  const char *args2[] = {"--config", path, NULL};
  CHECK_INT(load(&cfg, args2), 0);
  CHECK_STR(cfg.api_listen, "127.0.0.1:1002");
  acs_config_free(&cfg);
  clear_env();

  CHECK_INT(load(&cfg, args2), 0);
  CHECK_STR(cfg.api_listen, "127.0.0.1:1001");
  acs_config_free(&cfg);

  /* the last occurrence on the command line wins */
  const char *args3[] = {"--workers", "3", "--workers=4", NULL};
  CHECK_INT(load(&cfg, args3), 0);
  CHECK_INT(cfg.workers, 4);
  acs_config_free(&cfg);
  unlink(path);
}

/* The file server's settings: its listener is optional only at its
 * default; max-file-size fits a Download's FileSize (unsignedInt). */
static void test_files(void) {
  acs_config cfg;
  CHECK_INT(load(&cfg, NULL), 0);
  CHECK_STR(cfg.files_listen, "0.0.0.0:7567");
  CHECK(cfg.files_listen_default);
  CHECK(cfg.file_server_url == NULL);
  CHECK_INT(cfg.max_file_size, 512u << 20);
  CHECK_INT(cfg.file_grant_ttl_s, 86400);
  acs_server_config sc;
  acs_config_to_server(&cfg, &sc);
  CHECK_STR(sc.listen[ACS_LISTENER_FILES], "0.0.0.0:7567");
  CHECK(sc.listen_optional[ACS_LISTENER_FILES]);
  CHECK(!sc.listen_optional[ACS_LISTENER_API]);
  acs_config_free(&cfg);

  const char *a[] = {"--files",
                     "127.0.0.1:17567",
                     "--file-server-url",
                     "https://files.example/",
                     "--max-file-size",
                     "4g",
                     "--file-grant-ttl",
                     "600",
                     NULL};
  CHECK_INT(load(&cfg, a), ACS_ECONFIG); /* 4 GiB does not fit */
  acs_config_free(&cfg);
  a[5] = "1g";
  CHECK_INT(load(&cfg, a), 0);
  CHECK_STR(cfg.files_listen, "127.0.0.1:17567");
  CHECK(!cfg.files_listen_default); /* configured: a port in use is fatal */
  CHECK_STR(cfg.file_server_url, "https://files.example/");
  CHECK_INT(cfg.max_file_size, 1u << 30);
  CHECK_INT(cfg.file_grant_ttl_s, 600);
  acs_config_to_server(&cfg, &sc);
  CHECK(!sc.listen_optional[ACS_LISTENER_FILES]);
  acs_config_free(&cfg);

  const char *off[] = {"--files", "off", NULL};
  CHECK_INT(load(&cfg, off), 0);
  CHECK(cfg.files_listen == NULL);
  acs_config_free(&cfg);
  const char *ttl[] = {"--file-grant-ttl", "5", NULL};
  expect_error(ttl, "--file-grant-ttl");
  const char *path = write_file("max_file_size = 3M\nfile_server_url = http://10.0.0.1:8080\n");
  const char *f[] = {"--config", path, NULL};
  CHECK_INT(load(&cfg, f), 0);
  CHECK_INT(cfg.max_file_size, 3u << 20);
  CHECK_STR(cfg.file_server_url, "http://10.0.0.1:8080");
  CHECK(cfg.files_listen_default);
  acs_config_free(&cfg);
  unlink(path);
}

static void test_set(void) {
  acs_config cfg;
  acs_config_init(&cfg);
  CHECK_INT(acs_config_set(&cfg, "max_body", "10k", errbuf, sizeof errbuf), 0);
  CHECK_INT(cfg.max_body_bytes, 10240);
  CHECK_INT(acs_config_set(&cfg, "no-such-key", "1", errbuf, sizeof errbuf), ACS_ECONFIG);
  CHECK(strstr(errbuf, "no-such-key") != NULL);
  acs_config_free(&cfg);
}

/* The secret key file and the connection-request settings: file keys
 * with '_', environment, defaults, bounds; the usage text holds them all. */
static void test_connreq_keys(void) {
  acs_config cfg;
  CHECK_INT(load(&cfg, NULL), 0);
  CHECK(cfg.secret_key_file == NULL && cfg.connreq_username == NULL);
  CHECK_INT(cfg.connreq_max_in_flight, 64);
  CHECK_INT(cfg.connreq_timeout_ms, 10000);
  acs_config_free(&cfg);
  const char *path = write_file(
      "secret_key_file = /etc/acsd/secret.key\nconnreq_username = acs\n"
      "connreq_password = \"s3cret\"\nconnreq_max_in_flight = 8\n");
  const char *a[] = {"--config", path, "--connreq-timeout-ms", "2500", NULL};
  setenv("ACS_CONNREQ_MAX_IN_FLIGHT", "16", 1);
  CHECK_INT(load(&cfg, a), 0);
  CHECK_STR(cfg.secret_key_file, "/etc/acsd/secret.key");
  CHECK_STR(cfg.connreq_username, "acs");
  CHECK_STR(cfg.connreq_password, "s3cret");
  CHECK_INT(cfg.connreq_max_in_flight, 16); /* the environment over the file */
  CHECK_INT(cfg.connreq_timeout_ms, 2500);
  acs_config_free(&cfg);
  unsetenv("ACS_CONNREQ_MAX_IN_FLIGHT");
  unlink(path);
  const char *bad[] = {"--connreq-max-in-flight", "0", NULL};
  expect_error(bad, "--connreq-max-in-flight");
  /* UDP and XMPP connection requests; a TLS mode that is not one of the
   * three is refused (a typo must not turn TLS off) */
  const char *x[] = {"--stun", "127.0.0.1:3478", "--xmpp-jid", "acs@example.net/a",
                     "--xmpp-password", "pw", "--xmpp-server", "127.0.0.1:5222", "--xmpp-tls",
                     "trusted", NULL};
  CHECK_INT(load(&cfg, x), 0);
  CHECK_STR(cfg.stun_listen, "127.0.0.1:3478");
  CHECK_STR(cfg.xmpp_jid, "acs@example.net/a");
  CHECK_STR(cfg.xmpp_server, "127.0.0.1:5222");
  CHECK_STR(cfg.xmpp_tls, "trusted");
  acs_config_free(&cfg);
  const char *typo[] = {"--xmpp-tls", "requred", NULL};
  expect_error(typo, "xmpp-tls");
  const char *badstun[] = {"--stun", "nowhere", NULL};
  expect_error(badstun, "--stun");
  const char *u = acs_config_usage();
  CHECK(strstr(u, "--secret-key-file") && strstr(u, "ACS_CONNREQ_TIMEOUT_MS") &&
        strstr(u, "--version"));
}

int main(void) {
  clear_env();
  test_defaults();
  test_files();
  test_argv();
  test_bad_values();
  test_sizes();
  test_addr();
  test_file();
  test_env();
  test_priority();
  test_set();
  test_connreq_keys();
  return acs_test_result("test_config");
}
