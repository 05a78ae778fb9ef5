/* tls_app.c: the listeners' TLS from acsd's configuration, and its reload
 * on SIGHUP (docs/security.md ("TLS")).
 *
 * Two identities from one certificate: "cpe" for the CWMP listener and the
 * file server (client certificates as configured), "api" for the API (no
 * client certificate asked for: operators' tools and browsers). Either
 * exists only when a listener of its kind is named in `tls`. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/acs_app.h"
#include "core/acs_err.h"
#include "core/acs_log.h"

struct acs_app_tls {
  acs_tls *cpe, *api;
};

static const char *const names[ACS_LISTENER_COUNT] = {"cwmp", "api", "files"};

/* "cwmp,files" -> on[]; ACS_ECONFIG for a name that is not a listener. */
static int parse_list(const char *list, bool on[ACS_LISTENER_COUNT]) {
  const char *p = list;
  while (*p) {
    while (*p == ' ' || *p == ',') p++;
    size_t n = strcspn(p, ", ");
    if (n == 0) break;
    int k;
    for (k = 0; k < ACS_LISTENER_COUNT; k++)
      if (strlen(names[k]) == n && strncmp(p, names[k], n) == 0) break;
    if (k == ACS_LISTENER_COUNT) {
      fprintf(stderr, "acsd: tls: unknown listener '%.*s' (expected cwmp, files or api)\n", (int)n,
              p);
      return ACS_ECONFIG;
    }
    on[k] = true;
    p += n;
  }
  return 0;
}

static void log_loaded(acs_tls *t, const char *what, const char *verb) {
  char serial[80];
  acs_tls_serial(t, serial, sizeof serial);
  acs_log(ACS_LOG_INFO, "tls", "%s: certificate %s (serial %s)", what, verb, serial);
}

int acs_app_tls_start(acs_app *app, acs_server_config *scfg) {
  const acs_config *cfg = app->cfg;
  bool on[ACS_LISTENER_COUNT] = {false};
  char err[512] = "";
  int rc;
  if (cfg->tls_client_match && strcmp(cfg->tls_client_match, "device") != 0 &&
      strcmp(cfg->tls_client_match, "serial") != 0) {
    fprintf(stderr, "acsd: tls-client-match: invalid value '%s' (expected device or serial)\n",
            cfg->tls_client_match);
    return ACS_ECONFIG;
  }
  app->tls_match_serial = cfg->tls_client_match && strcmp(cfg->tls_client_match, "serial") == 0;
  acs_tls_client_mode mode = cfg->tls_client_ca ? ACS_TLS_CLIENT_OPTIONAL : ACS_TLS_CLIENT_OFF;
  if (cfg->tls_client_cert) {
    if (strcmp(cfg->tls_client_cert, "off") == 0) {
      mode = ACS_TLS_CLIENT_OFF;
    } else if (strcmp(cfg->tls_client_cert, "optional") == 0) {
      mode = ACS_TLS_CLIENT_OPTIONAL;
    } else if (strcmp(cfg->tls_client_cert, "required") == 0) {
      mode = ACS_TLS_CLIENT_REQUIRED;
    } else {
      fprintf(stderr,
              "acsd: tls-client-cert: invalid value '%s' (expected off, optional or required)\n",
              cfg->tls_client_cert);
      return ACS_ECONFIG;
    }
  }
  if (cfg->tls && (rc = parse_list(cfg->tls, on))) return rc;
  bool any = on[ACS_LISTENER_CWMP] || on[ACS_LISTENER_FILES] || on[ACS_LISTENER_API];
  if (!any) {
    if (cfg->tls_cert || cfg->tls_client_ca)
      acs_log(ACS_LOG_WARN, "tls",
              "a TLS certificate is configured but no listener speaks TLS "
              "(tls = cwmp,files)");
    return 0;
  }
  if (!(app->tls = calloc(1, sizeof *app->tls))) return ACS_ENOMEM;
  acs_tls_config tc = {
      .cert_file = cfg->tls_cert,
      .key_file = cfg->tls_key,
      .client_ca_file = cfg->tls_client_ca,
      .client_mode = mode,
      .ticket_key_file = cfg->tls_ticket_key,
      .session_cache = cfg->tls_session_cache,
      .name = "cpe",
  };
  if (on[ACS_LISTENER_CWMP] || on[ACS_LISTENER_FILES]) {
    if ((rc = acs_tls_new(&tc, &app->tls->cpe, err, sizeof err))) goto fail;
    log_loaded(app->tls->cpe, "cwmp/files", "loaded");
  }
  if (on[ACS_LISTENER_API]) {
    tc.client_ca_file = NULL;
    tc.client_mode = ACS_TLS_CLIENT_OFF;
    tc.name = "api";
    if ((rc = acs_tls_new(&tc, &app->tls->api, err, sizeof err))) goto fail;
  }
  for (int k = 0; k < ACS_LISTENER_COUNT; k++)
    if (on[k]) scfg->tls[k] = k == ACS_LISTENER_API ? app->tls->api : app->tls->cpe;
  return 0;
fail:
  fprintf(stderr, "acsd: %s\n", rc == ACS_ENOMEM ? "out of memory" : err);
  acs_app_tls_free(app);
  return rc;
}

void acs_app_tls_reload(acs_app *app) {
  if (!app->tls) {
    acs_log(ACS_LOG_INFO, "tls", "SIGHUP: no listener speaks TLS, nothing to reload");
    return;
  }
  acs_tls *ts[2] = {app->tls->cpe, app->tls->api};
  static const char *const what[2] = {"cwmp/files", "api"};
  for (int i = 0; i < 2; i++) {
    if (!ts[i]) continue;
    char err[512] = "";
    if (acs_tls_reload(ts[i], err, sizeof err)) {
      acs_log(ACS_LOG_ERR, "tls", "SIGHUP: %s: %s; the current certificate stays", what[i], err);
      continue;
    }
    log_loaded(ts[i], what[i], "reloaded: new connections use it");
  }
}

void acs_app_tls_free(acs_app *app) {
  if (!app->tls) return;
  acs_tls_free(app->tls->cpe);
  acs_tls_free(app->tls->api);
  free(app->tls);
  app->tls = NULL;
}
