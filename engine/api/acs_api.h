/* acs_api.h: the operator REST API on the API listener (/health and
 * /api/v1/...), bearer-token authentication and the `acsd token` command.
 * Handlers run on the connection's worker and use that worker's store
 * connection (acs_app_worker.pg); nothing blocks the loop. */
#ifndef ACS_API_H
#define ACS_API_H

#include "app/acs_app.h"

/* Per-worker state of the API (token cache, ...): made by the worker's
 * start hook, closed by its stop hook (must close every handle it opened). */
int acs_api_worker_init(acs_app_worker *aw);
void acs_api_worker_stop(acs_app_worker *aw);

/* The API listener's request handler; ctx is the acs_app. */
void acs_api_handle(acs_conn *c, const acs_http_request *req, void *ctx);
/* The API listener's head hook: takes POST /api/v1/files before its body
 * is read (the upload is streamed into the store), leaves the rest. */
bool acs_api_head(acs_conn *c, const acs_http_request *head, void *ctx);

/* `acsd token SUBCOMMAND ...` (argv[0] is "token"): talks to the store
 * directly (blocking) and prints to stdout. Returns the exit status. */
int acs_api_token_main(int argc, char **argv);

#endif
