/* main.c: acsd. Reads the configuration and runs acsd (engine/app), or a
 * subcommand: `acsd token ...` (engine/api), `acsd policies ...`
 * (engine/session/policy_gen.c), `acsd secret ...` (engine/app/secret_cli.c). */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "api/acs_api.h"
#include "app/acs_app.h"
#include "app/acs_secret_cli.h"
#include "core/acs_config.h"
#include "core/acs_err.h"
#include "core/acs_log.h"
#include "session/acs_policy.h"

/* acsd's commands, after the options in --help. */
static const char commands[] =
    "\n"
    "Commands (each with --help; options --pg DSN, --config FILE or ACS_PG_DSN for the store):\n"
    "  acsd policies push DIR [--force]  store a policy tree as a new generation\n"
    "  acsd policies list                 the stored generations\n"
    "  acsd token create --role ROLE [--name NAME]  a new API token, printed once\n"
    "  acsd token list | revoke ID        the API tokens\n"
    "  acsd secret set|list|delete ...    the stored secrets of devices\n";

int main(int argc, char **argv) {
  char err[512] = "";
  acs_config cfg;
  int rc;

  signal(SIGPIPE, SIG_IGN);
  if (argc > 1 && strcmp(argv[1], "token") == 0) return acs_api_token_main(argc - 1, argv + 1);
  if (argc > 1 && strcmp(argv[1], "policies") == 0) return acs_policy_cli_main(argc - 1, argv + 1);
  if (argc > 1 && strcmp(argv[1], "secret") == 0) return acs_app_secret_main(argc - 1, argv + 1);
  acs_config_init(&cfg);
  if ((rc = acs_config_load(argc, argv, &cfg, err, sizeof err))) {
    fprintf(stderr, "acsd: %s\n", rc == ACS_ECONFIG ? err : acs_strerror(rc));
    acs_config_free(&cfg);
    return 2;
  }
  if (cfg.help) {
    fputs(acs_config_usage(), stdout);
    fputs(commands, stdout);
    rc = 0;
  } else if (cfg.version) {
    printf("acsd %s\n", ACS_VERSION);
    rc = 0;
  } else {
    acs_log_set_level(cfg.log_level);
    acs_log_set_format(cfg.log_format);
    rc = acs_app_run(&cfg);
  }
  acs_config_free(&cfg);
  return rc;
}
