/* secret_cli.c: `acsd secret set|list|delete` (acs_secret_cli.h). A value
 * is sealed here, with the same key file acsd loads (--secret-key-file,
 * ACS_SECRET_KEY_FILE or secret_key_file in --config), and bound to its
 * device and name (AAD), so acsd opens it and nothing else can. */
#include <libpq-fe.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app/acs_secret_cli.h"
#include "core/acs_config.h"
#include "core/acs_err.h"
#include "core/acs_log.h"
#include "core/acs_secret.h"
#include "store/acs_store.h"

#define EXIT_FAIL 1
#define EXIT_USAGE 2
#define MAX_NAME_BYTES 256
#define MAX_VALUE_BYTES 4096

static const char usage[] =
    "usage: acsd secret set DEVICE NAME [VALUE | -] [OPTIONS]\n"
    "       acsd secret list [DEVICE] [OPTIONS]\n"
    "       acsd secret delete DEVICE NAME [OPTIONS]\n"
    "\n"
    "Keeps a device's secrets in the store (device_secrets), sealed with\n"
    "AES-256-GCM under the key file acsd loads. NAME is the parameter path the\n"
    "secret belongs to; connection requests use\n"
    "  Device.ManagementServer.ConnectionRequestUsername / ...Password\n"
    "  (InternetGatewayDevice.ManagementServer... on TR-098 devices).\n"
    "Without VALUE, or with -, the value is the first line of standard input\n"
    "(so that it stays out of the process list and the shell history).\n"
    "list shows names, key ids and times, never values. DEVICE is the device\n"
    "id as the API shows it (OUI-ProductClass-Serial); it must be in the store.\n"
    "OPTIONS are acsd's own: --pg DSN, --secret-key-file FILE, --config FILE\n"
    "(or ACS_PG_DSN, ACS_SECRET_KEY_FILE).\n";

static int usage_error(const char *msg) {
  fprintf(stderr, "acsd secret: %s\n%s", msg, usage);
  return EXIT_USAGE;
}

static bool valid_text(const char *s, size_t max) {
  size_t n = strlen(s);
  if (n == 0 || n > max) return false;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c < 0x20 || c == 0x7f) return false;
  }
  return true;
}

static void actor_name(char *out, size_t len) {
  struct passwd *pw = getpwuid(geteuid());
  snprintf(out, len, "cli:%s", pw && pw->pw_name ? pw->pw_name : "unknown");
}

/* Runs one statement; prints the store's error and returns NULL on failure.
 * *sqlstate (may be NULL) gets the failure's SQLSTATE. */
static PGresult *exec(PGconn *db, const char *sql, int n, const char *const *params,
                      char sqlstate[6]) {
  PGresult *res = PQexecParams(db, sql, n, NULL, params, NULL, NULL, 0);
  ExecStatusType st = PQresultStatus(res);
  if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK) return res;
  const char *code = PQresultErrorField(res, PG_DIAG_SQLSTATE);
  if (sqlstate) snprintf(sqlstate, 6, "%s", code ? code : "");
  if (!sqlstate || strcmp(sqlstate, "23503") != 0)
    fprintf(stderr, "acsd secret: store: %s", PQresultErrorMessage(res));
  PQclear(res);
  return NULL;
}

/* The value: the argument, or the first line of stdin (without its line
 * end). Returns 0 or prints why not. */
static int read_value(const char *arg, acs_buf *out) {
  if (arg && strcmp(arg, "-") != 0) {
    acs_buf_puts(out, arg);
    return acs_buf_err(out);
  }
  char *line = NULL;
  size_t cap = 0;
  ssize_t n = getline(&line, &cap, stdin);
  if (n < 0) {
    free(line);
    fprintf(stderr, "acsd secret: no value on standard input\n");
    return ACS_EINVAL;
  }
  while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r')) n--;
  acs_buf_append(out, line, (size_t)n);
  memset(line, 0, cap);
  free(line);
  return acs_buf_err(out);
}

static const char sql_set[] =
    "WITH s AS (INSERT INTO device_secrets (device_id, name, ciphertext, key_id) "
    "VALUES ($1, $2, decode($3, 'hex'), $4) ON CONFLICT (device_id, name) DO UPDATE SET "
    "ciphertext = excluded.ciphertext, key_id = excluded.key_id, set_at = now() "
    "RETURNING device_id, name), "
    "a AS (INSERT INTO audit_log (actor, action, target, detail) SELECT $5, 'secret.set', "
    "s.device_id, jsonb_build_object('name', s.name, 'key_id', $4::text) FROM s) "
    "SELECT 1 FROM s";

static int cmd_set(PGconn *db, const acs_config *cfg, const char *dev, const char *name,
                   const char *value_arg) {
  acs_secret_key key;
  int rc = acs_secret_key_load(cfg->secret_key_file, &key);
  if (rc) {
    fprintf(stderr, "acsd secret: secret_key_file %s: %s\n", cfg->secret_key_file,
            rc == ACS_EINVAL ? "not a key (expected 64 hex digits, or exactly 32 bytes)"
                             : acs_strerror(rc));
    return EXIT_FAIL;
  }
  acs_buf value = ACS_BUF_INIT, aad = ACS_BUF_INIT, sealed = ACS_BUF_INIT, hex = ACS_BUF_INIT;
  int status = EXIT_FAIL;
  if (read_value(value_arg, &value)) goto out;
  if (value.len > MAX_VALUE_BYTES || memchr(value.data ? value.data : "", '\0', value.len)) {
    fprintf(stderr, "acsd secret: the value must be text of at most %d bytes\n", MAX_VALUE_BYTES);
    goto out;
  }
  acs_secret_aad(dev, name, &aad);
  if (acs_buf_err(&aad) ||
      acs_secret_seal(&key, aad.data, value.data ? value.data : "", value.len, &sealed)) {
    fprintf(stderr, "acsd secret: cannot seal the value\n");
    goto out;
  }
  for (size_t i = 0; i < sealed.len; i++)
    acs_buf_printf(&hex, "%02x", (unsigned char)sealed.data[i]);
  if (acs_buf_err(&hex)) goto out;
  char actor[96], sqlstate[6] = "";
  actor_name(actor, sizeof actor);
  const char *p[5] = {dev, name, hex.data, key.id, actor};
  PGresult *res = exec(db, sql_set, 5, p, sqlstate);
  if (res) {
    printf("secret %s of %s set (key %s)\n", name, dev, key.id);
    status = 0;
  } else if (strcmp(sqlstate, "23503") == 0) {
    fprintf(stderr, "acsd secret: no device '%s' in the store (it must have informed once)\n", dev);
  }
  PQclear(res);
out:
  acs_secret_buf_free(&value);
  acs_buf_free(&aad);
  acs_buf_free(&sealed);
  acs_buf_free(&hex);
  memset(&key, 0, sizeof key);
  return status;
}

static const char sql_list_all[] =
    "SELECT device_id, name, key_id, to_char(set_at AT TIME ZONE 'UTC', "
    "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') FROM device_secrets ORDER BY device_id, name";
static const char sql_list_dev[] =
    "SELECT device_id, name, key_id, to_char(set_at AT TIME ZONE 'UTC', "
    "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') FROM device_secrets WHERE device_id = $1 ORDER BY name";

static int cmd_list(PGconn *db, const char *dev) {
  const char *p[1] = {dev};
  PGresult *res = dev ? exec(db, sql_list_dev, 1, p, NULL) : exec(db, sql_list_all, 0, NULL, NULL);
  if (!res) return EXIT_FAIL;
  printf("DEVICE\tNAME\tKEY\tSET\n");
  for (int i = 0; i < PQntuples(res); i++)
    printf("%s\t%s\t%s\t%s\n", PQgetvalue(res, i, 0), PQgetvalue(res, i, 1), PQgetvalue(res, i, 2),
           PQgetvalue(res, i, 3));
  PQclear(res);
  return fflush(stdout) == 0 ? 0 : EXIT_FAIL;
}

static const char sql_delete[] =
    "WITH s AS (DELETE FROM device_secrets WHERE device_id = $1 AND name = $2 "
    "RETURNING device_id, name), "
    "a AS (INSERT INTO audit_log (actor, action, target, detail) SELECT $3, 'secret.delete', "
    "s.device_id, jsonb_build_object('name', s.name) FROM s) "
    "SELECT 1 FROM s";

static int cmd_delete(PGconn *db, const char *dev, const char *name) {
  char actor[96];
  actor_name(actor, sizeof actor);
  const char *p[3] = {dev, name, actor};
  PGresult *res = exec(db, sql_delete, 3, p, NULL);
  if (!res) return EXIT_FAIL;
  int rc = 0;
  if (PQntuples(res) == 1) {
    printf("secret %s of %s deleted\n", name, dev);
  } else {
    fprintf(stderr, "acsd secret: %s has no secret %s\n", dev, name);
    rc = EXIT_FAIL;
  }
  PQclear(res);
  return rc;
}

int acs_app_secret_main(int argc, char **argv) {
  /* positional arguments first, then acsd's own options */
  const char *pos[4] = {NULL};
  int npos = 0, i = 1;
  for (; i < argc && strncmp(argv[i], "--", 2) != 0; i++) {
    if (strcmp(argv[i], "-h") == 0) break;
    if (npos == 4) return usage_error("too many arguments");
    pos[npos++] = argv[i];
  }
  for (int j = i; j < argc; j++) {
    if (strcmp(argv[j], "--help") == 0 || strcmp(argv[j], "-h") == 0) {
      fputs(usage, stdout);
      return 0;
    }
  }
  const char *cmd = pos[0];
  bool set = cmd && strcmp(cmd, "set") == 0, list = cmd && strcmp(cmd, "list") == 0,
       del = cmd && strcmp(cmd, "delete") == 0;
  if (!cmd) return usage_error("missing command (set, list or delete)");
  if (!set && !list && !del) return usage_error("unknown command (set, list or delete)");
  if ((set && (npos < 3 || npos > 4)) || (del && npos != 3) || (list && npos > 2))
    return usage_error("wrong number of arguments");
  if (npos > 1 && !valid_text(pos[1], MAX_NAME_BYTES))
    return usage_error("invalid DEVICE (text without control characters)");
  if (npos > 2 && !list && !valid_text(pos[2], MAX_NAME_BYTES))
    return usage_error("invalid NAME (1..256 bytes, no control characters)");

  char **rest = calloc((size_t)(argc - i) + 2, sizeof *rest);
  if (!rest) return EXIT_FAIL;
  int nrest = 0;
  rest[nrest++] = "acsd secret";
  for (int j = i; j < argc; j++) rest[nrest++] = argv[j];
  acs_config cfg;
  char err[512] = "";
  acs_config_init(&cfg);
  int rc = acs_config_load(nrest, rest, &cfg, err, sizeof err);
  free(rest);
  int status = EXIT_USAGE;
  PGconn *db = NULL;
  if (rc) {
    fprintf(stderr, "acsd secret: %s\n", rc == ACS_ECONFIG ? err : acs_strerror(rc));
    goto out;
  }
  if (!cfg.pg_dsn) {
    fprintf(stderr, "acsd secret: no store configured (--pg DSN, ACS_PG_DSN or pg in --config)\n");
    goto out;
  }
  if (set && !cfg.secret_key_file) {
    fprintf(stderr,
            "acsd secret: no key (--secret-key-file FILE, ACS_SECRET_KEY_FILE or "
            "secret_key_file in --config)\n");
    goto out;
  }
  status = EXIT_FAIL;
  acs_log_set_level(cfg.log_level);
  if (acs_store_migrate(cfg.pg_dsn, err, sizeof err)) {
    fprintf(stderr, "acsd secret: store: %s\n", err);
    goto out;
  }
  db = PQconnectdb(cfg.pg_dsn);
  if (PQstatus(db) != CONNECTION_OK) {
    fprintf(stderr, "acsd secret: store: %s", PQerrorMessage(db));
    goto out;
  }
  if (set) {
    status = cmd_set(db, &cfg, pos[1], pos[2], pos[3]);
  } else if (list) {
    status = cmd_list(db, pos[1]);
  } else {
    status = cmd_delete(db, pos[1], pos[2]);
  }
out:
  if (db) PQfinish(db);
  acs_config_free(&cfg);
  return status;
}
