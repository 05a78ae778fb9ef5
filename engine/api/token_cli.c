/* token_cli.c: `acsd token create|list|revoke`, talking to the store
 * directly with blocking libpq (a command, not the server). The store comes
 * from the same settings as acsd's (--pg, --config FILE, ACS_PG_DSN); the
 * schema is migrated first. A new token is printed once; only its sha256 is
 * kept. Every change is written to audit_log (actor "cli:USER"). */
#include <errno.h>
#include <libpq-fe.h>
#include <openssl/rand.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/api_internal.h"
#include "core/acs_config.h"
#include "core/acs_err.h"
#include "core/acs_log.h"
#include "store/acs_store.h"

#define EXIT_FAIL 1
#define EXIT_USAGE 2
#define MAX_NAME_BYTES 128

static const char usage[] =
    "usage: acsd token create --role readonly|operator|admin [--name NAME] [OPTIONS]\n"
    "       acsd token list [OPTIONS]\n"
    "       acsd token revoke ID [OPTIONS]\n"
    "\n"
    "Manages the API's bearer tokens in the store. create prints the new token\n"
    "once on stdout (only its sha256 is kept); list never shows tokens; a revoked\n"
    "token stops working within 5 seconds. OPTIONS are acsd's own, of which the\n"
    "store is what matters: --pg DSN, --config FILE, or ACS_PG_DSN.\n";

static int usage_error(const char *fmt, const char *arg) {
  fprintf(stderr, "acsd token: ");
  fprintf(stderr, fmt, arg);
  fprintf(stderr, "\n%s", usage);
  return EXIT_USAGE;
}

typedef struct token_args {
  const char *cmd;
  const char *role;
  const char *name;
  const char *id;
} token_args;

/* Our options out of argv; the rest goes to acs_config_load (cfg_argv,
 * cfg_argv[0] is a program name). */
static int parse_args(int argc, char **argv, token_args *ta, char **cfg_argv, int *cfg_argc) {
  int n = 0;
  cfg_argv[n++] = "acsd token";
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char **mine = NULL;
    const char *val = NULL;
    if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
      fputs(usage, stdout);
      return -1;
    }
    if (strncmp(a, "--role", 6) == 0 && (a[6] == '\0' || a[6] == '=')) {
      mine = &ta->role;
    } else if (strncmp(a, "--name", 6) == 0 && (a[6] == '\0' || a[6] == '=')) {
      mine = &ta->name;
    }
    if (mine) {
      if (a[6] == '=') {
        val = a + 7;
      } else if (i + 1 < argc) {
        val = argv[++i];
      } else {
        return usage_error("option '%s' needs a value", a);
      }
      *mine = val;
      continue;
    }
    if (strncmp(a, "--", 2) == 0) {
      /* one of acsd's options: --key=value, --key value, or a flag */
      cfg_argv[n++] = argv[i];
      if (!strchr(a, '=') && strcmp(a, "--version") != 0 && i + 1 < argc) cfg_argv[n++] = argv[++i];
      continue;
    }
    if (!ta->cmd) {
      ta->cmd = a;
    } else if (strcmp(ta->cmd, "revoke") == 0 && !ta->id) {
      ta->id = a;
    } else {
      return usage_error("unexpected argument '%s'", a);
    }
  }
  cfg_argv[n] = NULL;
  *cfg_argc = n;
  return 0;
}

static bool valid_name(const char *s) {
  size_t n = strlen(s);
  if (n == 0 || n > MAX_NAME_BYTES) return false;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c < 0x20 || c == 0x7f) return false;
  }
  return true;
}

static bool valid_id(const char *s) {
  size_t n = strlen(s);
  if (n == 0 || n > 18) return false;
  for (size_t i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9') return false;
  }
  return true;
}

static void actor_name(char *out, size_t len) {
  struct passwd *pw = getpwuid(geteuid());
  snprintf(out, len, "cli:%s", pw && pw->pw_name ? pw->pw_name : "unknown");
}

/* Runs one statement; prints the error and returns NULL on failure. */
static PGresult *exec(PGconn *db, const char *sql, int n, const char *const *params) {
  PGresult *res = PQexecParams(db, sql, n, NULL, params, NULL, NULL, 0);
  ExecStatusType st = PQresultStatus(res);
  if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
    fprintf(stderr, "acsd token: store: %s", PQresultErrorMessage(res));
    PQclear(res);
    return NULL;
  }
  return res;
}

static const char sql_create[] =
    "WITH n AS (SELECT nextval(pg_get_serial_sequence('api_tokens', 'id')) AS id), "
    "t AS (INSERT INTO api_tokens (id, name, role, token_hash) "
    "SELECT n.id, coalesce($1, $2 || '-token-' || n.id), $2, decode($3, 'hex') FROM n "
    "RETURNING id, name, role), "
    "a AS (INSERT INTO audit_log (actor, action, target, detail) "
    "SELECT $4, 'token.create', t.id::text, jsonb_build_object('name', t.name, 'role', t.role) "
    "FROM t) "
    "SELECT id, name, role FROM t";

int acs__api_token_new(acs_buf *tok, char hex[65]) {
  unsigned char rnd[32], hash[32];
  if (RAND_bytes(rnd, sizeof rnd) != 1) return -EIO;
  acs_buf_puts(tok, "acs_");
  acs__api_base64url(rnd, sizeof rnd, tok);
  OPENSSL_cleanse(rnd, sizeof rnd);
  if (acs_buf_err(tok)) return ACS_ENOMEM;
  acs__api_sha256(tok->data, tok->len, hash);
  for (int i = 0; i < 32; i++) snprintf(hex + 2 * i, 3, "%02x", hash[i]);
  return 0;
}

static int cmd_create(PGconn *db, const token_args *ta) {
  acs_buf tok = ACS_BUF_INIT;
  char hex[65], actor[96];
  int err = acs__api_token_new(&tok, hex);
  if (err) {
    acs_buf_free(&tok);
    fprintf(stderr, "acsd token: %s\n",
            err == ACS_ENOMEM ? "out of memory" : "no random bytes (RAND_bytes failed)");
    return EXIT_FAIL;
  }
  actor_name(actor, sizeof actor);
  const char *params[4] = {ta->name, ta->role, hex, actor};
  PGresult *res = exec(db, sql_create, 4, params);
  int rc = EXIT_FAIL;
  if (res && PQntuples(res) == 1) {
    printf("%s\n", tok.data);
    fflush(stdout);
    fprintf(stderr, "acsd token: created token %s '%s' (role %s); it is shown only this once\n",
            PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1), PQgetvalue(res, 0, 2));
    rc = 0;
  } else if (res) {
    fprintf(stderr, "acsd token: store: the token was not created\n");
  }
  PQclear(res);
  OPENSSL_cleanse(tok.data, tok.len);
  acs_buf_free(&tok);
  return rc;
}

#define TS(col) ACS__SQL_TIME(col)
static const char sql_list[] = "SELECT id, name, role, " TS("created_at") ", " TS(
    "last_used_at") ", " TS("revoked_at") " FROM api_tokens ORDER BY id";

/* A field for the terminal: NULL as "-", control characters as '?'. */
static char *field(PGresult *res, int row, int col) {
  if (PQgetisnull(res, row, col)) return strdup("-");
  char *s = strdup(PQgetvalue(res, row, col));
  for (char *p = s; p && *p; p++) {
    if ((unsigned char)*p < 0x20 || *p == 0x7f) *p = '?';
  }
  return s;
}

static int cmd_list(PGconn *db) {
  PGresult *res = exec(db, sql_list, 0, NULL);
  if (!res) return EXIT_FAIL;
  static const char *const head[6] = {"ID", "NAME", "ROLE", "CREATED", "LAST USED", "REVOKED"};
  int rows = PQntuples(res);
  size_t w[6];
  for (int c = 0; c < 6; c++) w[c] = strlen(head[c]);
  for (int i = 0; i < rows; i++) {
    for (int c = 0; c < 6; c++) {
      size_t n = PQgetisnull(res, i, c) ? 1 : (size_t)PQgetlength(res, i, c);
      if (n > w[c]) w[c] = n;
    }
  }
  for (int c = 0; c < 6; c++) printf("%-*s%s", c < 5 ? (int)w[c] : 0, head[c], c < 5 ? "  " : "\n");
  for (int i = 0; i < rows; i++) {
    for (int c = 0; c < 6; c++) {
      char *f = field(res, i, c);
      printf("%-*s%s", c < 5 ? (int)w[c] : 0, f ? f : "?", c < 5 ? "  " : "\n");
      free(f);
    }
  }
  PQclear(res);
  return fflush(stdout) == 0 ? 0 : EXIT_FAIL;
}

static const char sql_revoke[] =
    "WITH t AS (UPDATE api_tokens SET revoked_at = now() WHERE id = $1::bigint AND "
    "revoked_at IS NULL RETURNING id, name), "
    "a AS (INSERT INTO audit_log (actor, action, target, detail) "
    "SELECT $2, 'token.revoke', t.id::text, jsonb_build_object('name', t.name) FROM t) "
    "SELECT id, name FROM t";
static const char sql_revoked[] =
    "SELECT " TS("revoked_at") " FROM api_tokens WHERE id = $1::bigint";

static int cmd_revoke(PGconn *db, const token_args *ta) {
  char actor[96];
  actor_name(actor, sizeof actor);
  const char *params[2] = {ta->id, actor};
  PGresult *res = exec(db, sql_revoke, 2, params);
  if (!res) return EXIT_FAIL;
  if (PQntuples(res) == 1) {
    printf("revoked token %s '%s'; it stops working within %d s\n", PQgetvalue(res, 0, 0),
           PQgetvalue(res, 0, 1), ACS__API_TOKEN_TTL_MS / 1000);
    PQclear(res);
    return 0;
  }
  PQclear(res);
  if (!(res = exec(db, sql_revoked, 1, params))) return EXIT_FAIL;
  int rc = 0;
  if (PQntuples(res) == 1) {
    printf("token %s was already revoked at %s\n", ta->id, PQgetvalue(res, 0, 0));
  } else {
    fprintf(stderr, "acsd token: no token %s\n", ta->id);
    rc = EXIT_FAIL;
  }
  PQclear(res);
  return rc;
}

int acs_api_token_main(int argc, char **argv) {
  token_args ta = {0};
  char **cfg_argv = calloc((size_t)argc + 2, sizeof *cfg_argv);
  int cfg_argc = 0, rc;
  if (!cfg_argv) return EXIT_FAIL;
  if ((rc = parse_args(argc, argv, &ta, cfg_argv, &cfg_argc))) {
    free(cfg_argv);
    return rc < 0 ? 0 : rc;
  }
  if (!ta.cmd) {
    free(cfg_argv);
    return usage_error("%s", "missing command (create, list or revoke)");
  }
  bool create = strcmp(ta.cmd, "create") == 0, list = strcmp(ta.cmd, "list") == 0,
       revoke = strcmp(ta.cmd, "revoke") == 0;
  char bad[300] = "";
  if (!create && !list && !revoke) {
    snprintf(bad, sizeof bad, "unknown command '%s' (create, list or revoke)", ta.cmd);
  } else if (create && !ta.role) {
    snprintf(bad, sizeof bad, "create needs --role readonly|operator|admin");
  } else if (create && acs__api_role_parse(ta.role) == ACS__ROLE_NONE) {
    snprintf(bad, sizeof bad, "invalid role '%s' (readonly, operator or admin)", ta.role);
  } else if (create && ta.name && !valid_name(ta.name)) {
    snprintf(bad, sizeof bad, "invalid name (1..%d bytes, no control characters)", MAX_NAME_BYTES);
  } else if (!create && (ta.role || ta.name)) {
    snprintf(bad, sizeof bad, "--role and --name are options of create");
  } else if (revoke && !ta.id) {
    snprintf(bad, sizeof bad, "revoke needs the token's ID (see acsd token list)");
  } else if (revoke && !valid_id(ta.id)) {
    snprintf(bad, sizeof bad, "invalid token ID '%.64s'", ta.id);
  }
  if (bad[0]) {
    free(cfg_argv);
    return usage_error("%s", bad);
  }

  acs_config cfg;
  char err[512] = "";
  acs_config_init(&cfg);
  rc = acs_config_load(cfg_argc, cfg_argv, &cfg, err, sizeof err);
  free(cfg_argv);
  if (rc) {
    fprintf(stderr, "acsd token: %s\n", rc == ACS_ECONFIG ? err : acs_strerror(rc));
    acs_config_free(&cfg);
    return EXIT_USAGE;
  }
  if (!cfg.pg_dsn) {
    fprintf(stderr, "acsd token: no store configured (--pg DSN, ACS_PG_DSN or pg in --config)\n");
    acs_config_free(&cfg);
    return EXIT_USAGE;
  }
  acs_log_set_level(cfg.log_level);
  if (acs_store_migrate(cfg.pg_dsn, err, sizeof err)) {
    fprintf(stderr, "acsd token: store: %s\n", err);
    acs_config_free(&cfg);
    return EXIT_FAIL;
  }
  PGconn *db = PQconnectdb(cfg.pg_dsn);
  acs_config_free(&cfg);
  if (PQstatus(db) != CONNECTION_OK) {
    fprintf(stderr, "acsd token: store: %s", PQerrorMessage(db));
    PQfinish(db);
    return EXIT_FAIL;
  }
  if (create) {
    rc = cmd_create(db, &ta);
  } else if (list) {
    rc = cmd_list(db);
  } else {
    rc = cmd_revoke(db, &ta);
  }
  PQfinish(db);
  return rc;
}
