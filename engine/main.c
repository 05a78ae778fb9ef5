/* main.c: acsd. Reads the configuration, starts the server, waits for
 * SIGTERM or SIGINT on a small loop of its own, stops gracefully. */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <uv.h>

#include "core/acs_config.h"
#include "core/acs_err.h"
#include "core/acs_log.h"
#include "net/acs_health.h"
#include "net/acs_server.h"
#include "session/acs_endpoint.h"

typedef struct main_ctx {
  acs_server *srv;
  uv_signal_t sig[2];
} main_ctx;

static void on_signal(uv_signal_t *h, int signum) {
  main_ctx *m = h->data;
  acs_log(ACS_LOG_INFO, "main", "%s received, stopping", signum == SIGTERM ? "SIGTERM" : "SIGINT");
  acs_server_stop(m->srv);
  /* Closing the watchers restores the default actions: a second signal
   * ends the process at once. */
  for (int i = 0; i < 2; i++) uv_close((uv_handle_t *)&m->sig[i], NULL);
}

static int run(const acs_config *cfg) {
  int rc = 0;
  uv_loop_t loop;
  main_ctx m = {0};
  bool loop_ready = false;

  acs_server_config scfg;
  acs_config_to_server(cfg, &scfg);
  scfg.handler[ACS_LISTENER_CWMP] = acs_cwmp_endpoint_handle;
  scfg.handler[ACS_LISTENER_API] = acs_api_basic_handle;

  if ((rc = uv_loop_init(&loop))) goto cleanup;
  loop_ready = true;
  /* Watch the signals before the workers exist, so that no signal arriving
   * during start-up takes the default action. */
  static const int signums[2] = {SIGTERM, SIGINT};
  for (int i = 0; i < 2; i++) {
    uv_signal_init(&loop, &m.sig[i]);
    m.sig[i].data = &m;
  }
  for (int i = 0; i < 2; i++) {
    if ((rc = uv_signal_start(&m.sig[i], on_signal, signums[i]))) goto cleanup;
  }
  if ((rc = acs_server_start(&scfg, &m.srv))) {
    fprintf(stderr, "acsd: cannot start: %s\n", acs_strerror(rc));
    goto cleanup;
  }
  acs_log(ACS_LOG_INFO, "main", "acsd %s started: cwmp %s (port %d), api %s (port %d), %u workers",
          ACS_VERSION, cfg->cwmp_listen ? cfg->cwmp_listen : "off",
          acs_server_port(m.srv, ACS_LISTENER_CWMP), cfg->api_listen ? cfg->api_listen : "off",
          acs_server_port(m.srv, ACS_LISTENER_API), acs_server_workers(m.srv));
  uv_run(&loop, UV_RUN_DEFAULT);

  acs_server_stats st;
  acs_server_stats_get(m.srv, &st);
  int jrc = acs_server_join(m.srv);
  m.srv = NULL;
  acs_log(jrc ? ACS_LOG_WARN : ACS_LOG_INFO, "main",
          "acsd stopped%s (%llu connections, %llu requests served)",
          jrc ? ", requests in flight cut at the deadline" : "",
          (unsigned long long)st.connections_total, (unsigned long long)st.requests);

cleanup:
  if (loop_ready) {
    for (int i = 0; i < 2; i++) {
      if (!uv_is_closing((uv_handle_t *)&m.sig[i])) uv_close((uv_handle_t *)&m.sig[i], NULL);
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
  }
  return rc ? 1 : 0;
}

int main(int argc, char **argv) {
  char err[512] = "";
  acs_config cfg;
  int rc;

  signal(SIGPIPE, SIG_IGN);
  acs_config_init(&cfg);
  if ((rc = acs_config_load(argc, argv, &cfg, err, sizeof err))) {
    fprintf(stderr, "acsd: %s\n", rc == ACS_ECONFIG ? err : acs_strerror(rc));
    acs_config_free(&cfg);
    return 2;
  }
  if (cfg.help) {
    fputs(acs_config_usage(), stdout);
    rc = 0;
  } else if (cfg.version) {
    printf("acsd %s\n", ACS_VERSION);
    rc = 0;
  } else {
    acs_log_set_level(cfg.log_level);
    rc = run(&cfg);
  }
  acs_config_free(&cfg);
  return rc;
}
