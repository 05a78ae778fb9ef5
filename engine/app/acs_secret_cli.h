/* acs_secret_cli.h: `acsd secret set|list|delete`, the operator's way to
 * keep a device's secrets (connection request credentials, say) in the
 * store, sealed with the key of secret_key_file (core/acs_secret.h). */
#ifndef ACS_SECRET_CLI_H
#define ACS_SECRET_CLI_H

/* argv[0] is "secret". Talks to the store directly (blocking libpq), after
 * migrating it; every change is written to audit_log (actor "cli:USER").
 * Values are never printed. Returns the exit status (0, 1 failure, 2 usage). */
int acs_app_secret_main(int argc, char **argv);

#endif
