/* main.c: cpesim, a CPE simulator for acsd (docs/cpesim.md): options, start,
 * the run, the summary. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "core/acs_err.h"
#include "core/acs_secret.h"
#include "sim.h"

#ifndef CPESIM_MODEL_DIR
#define CPESIM_MODEL_DIR "tests/cpesim/models"
#endif

sim *S;

static const char usage[] =
    "usage: cpesim [options]\n"
    "  --acs URL               the ACS (default http://127.0.0.1:7547/; https://: TLS)\n"
    "  --count N               simulated devices (default 1)\n"
    "  --first N               number of the first device (default 0)\n"
    "  --serial-prefix S       serial numbers are S + number (default CPESIM)\n"
    "  --model FILE            device model: a file, or tr181 / tr098 (default tr181)\n"
    "  --rate R                sessions started per second at most\n"
    "  --concurrency C         sessions in flight at most\n"
    "  --loop / --no-loop      keep the load up with back-to-back \"2 PERIODIC\" sessions\n"
    "                          (default: on when --rate or --concurrency is given)\n"
    "  --duration S            stop after S seconds\n"
    "  --sessions N            stop after N sessions (default: --count unless --duration)\n"
    "  --periodic              start as known devices (\"2 PERIODIC\") instead of booting\n"
    "  --periodic-interval S   PeriodicInformInterval default of the model\n"
    "  --spread S              devices power on at random times within S seconds\n"
    "  --think-ms MS           wait MS before each POST after the Inform (slow CPEs)\n"
    "  --timeout S             HTTP response timeout (default 30)\n"
    "  --reboot-ms MS          how long a reboot takes (default 1000)\n"
    "  --cr-listen HOST:PORT   connection-request listener (default 127.0.0.1:0)\n"
    "  --cr-challenge STYLE    the 401's lines: crlf (default), folded, lf, folded-lf\n"
    "  --xmpp-server HOST:PORT where devices with XMPP.Connection.1 enabled log in\n"
    "  --state FILE            device state, loaded at start and saved at exit\n"
    "  --ack-log FILE          one line per acknowledged Inform\n"
    "  --seed N                random seed (default: from the clock)\n"
    "  --change-interval S     mean seconds between local changes of a device\n"
    "  --cwmp-version V        1.0 .. 1.4 (default 1.2)\n"
    "  --set NAME=VALUE        change a model default for every device\n"
    "  --firmware-version V    version a firmware image installs when its file has no header\n"
    "  --source-ip A[,B...]    local addresses the sessions connect from (device i: the\n"
    "                          (i mod n)-th), e.g. 127.0.0.2,127.0.0.3: more than 64K\n"
    "                          connections to one ACS address\n"
    "  --quirk NAME[,NAME...]  play deployed CPE stacks' quirks (repeatable): cr-unterminated,\n"
    "                          object-only, crash-partial, fault-in-faultstring, no-bootstrap,\n"
    "                          no-periodic, boot-without-m-reboot, stale-cookies,\n"
    "                          digest-no-commas, xsd-1999, download-no-credentials,\n"
    "                          xmpp-silent, gpn-objects-only\n"
    "  --auth-scheme S        answer the ACS's 401 with S when offered: md5, md5-sess or basic\n"
    "                          (default: the strongest offered)\n"
    "  --auth-wrong            answer 401s with a wrong password\n"
    "  --auth-none             never answer a 401\n"
    "  --factory-key FILE      an empty ManagementServer.Password is the factory credential\n"
    "                          made with this key (as acsd's cpe-auth-factory-key-file)\n"
    "  --tls-ca FILE           https: CAs the ACS's certificate must chain to (default:\n"
    "                          the system's)\n"
    "  --tls-cert FILE         https: client certificate (PEM); \"%s\" in FILE is replaced\n"
    "                          by each device's serial number\n"
    "  --tls-key FILE          its private key (\"%s\" too; default: in --tls-cert's file)\n"
    "  --tls-no-resume         https: a full handshake on every connection\n"
    "  --quiet, --verbose\n";

enum {
  O_ACS = 256,
  O_COUNT,
  O_FIRST,
  O_PREFIX,
  O_MODEL,
  O_RATE,
  O_CONC,
  O_LOOP,
  O_NOLOOP,
  O_DUR,
  O_SESS,
  O_PERIODIC,
  O_PINT,
  O_SPREAD,
  O_THINK,
  O_TIMEOUT,
  O_REBOOT,
  O_CR,
  O_CRCH,
  O_XMPP,
  O_STATE,
  O_ACK,
  O_SEED,
  O_CHANGE,
  O_CWMP,
  O_SET,
  O_FW,
  O_SRC,
  O_QUIRK,
  O_TLS_CA,
  O_TLS_CERT,
  O_TLS_KEY,
  O_TLS_NORESUME,
  O_QUIET,
  O_VERBOSE,
  O_AUTH_SCHEME,
  O_AUTH_WRONG,
  O_AUTH_NONE,
  O_FACTORY_KEY,
  O_HELP
};

static const struct option longopts[] = {
    {"acs", 1, 0, O_ACS},
    {"count", 1, 0, O_COUNT},
    {"first", 1, 0, O_FIRST},
    {"serial-prefix", 1, 0, O_PREFIX},
    {"model", 1, 0, O_MODEL},
    {"rate", 1, 0, O_RATE},
    {"concurrency", 1, 0, O_CONC},
    {"loop", 0, 0, O_LOOP},
    {"no-loop", 0, 0, O_NOLOOP},
    {"duration", 1, 0, O_DUR},
    {"sessions", 1, 0, O_SESS},
    {"periodic", 0, 0, O_PERIODIC},
    {"periodic-interval", 1, 0, O_PINT},
    {"spread", 1, 0, O_SPREAD},
    {"think-ms", 1, 0, O_THINK},
    {"timeout", 1, 0, O_TIMEOUT},
    {"reboot-ms", 1, 0, O_REBOOT},
    {"cr-listen", 1, 0, O_CR},
    {"cr-challenge", 1, 0, O_CRCH},
    {"xmpp-server", 1, 0, O_XMPP},
    {"state", 1, 0, O_STATE},
    {"ack-log", 1, 0, O_ACK},
    {"seed", 1, 0, O_SEED},
    {"change-interval", 1, 0, O_CHANGE},
    {"cwmp-version", 1, 0, O_CWMP},
    {"set", 1, 0, O_SET},
    {"firmware-version", 1, 0, O_FW},
    {"source-ip", 1, 0, O_SRC},
    {"quirk", 1, 0, O_QUIRK},
    {"tls-ca", 1, 0, O_TLS_CA},
    {"tls-cert", 1, 0, O_TLS_CERT},
    {"tls-key", 1, 0, O_TLS_KEY},
    {"tls-no-resume", 0, 0, O_TLS_NORESUME},
    {"quiet", 0, 0, O_QUIET},
    {"verbose", 0, 0, O_VERBOSE},
    {"auth-scheme", 1, 0, O_AUTH_SCHEME},
    {"auth-wrong", 0, 0, O_AUTH_WRONG},
    {"auth-none", 0, 0, O_AUTH_NONE},
    {"factory-key", 1, 0, O_FACTORY_KEY},
    {"help", 0, 0, O_HELP},
    {0, 0, 0, 0},
};

static int die(const char *fmt, const char *a) {
  fprintf(stderr, "cpesim: ");
  fprintf(stderr, fmt, a);
  fputc('\n', stderr);
  return 2;
}

static bool num(const char *s, double lo, double hi, double *out) {
  char *e;
  errno = 0;
  double v = strtod(s, &e);
  if (errno || e == s || *e || v < lo || v > hi) return false;
  *out = v;
  return true;
}

/* --source-ip A[,B...]: numeric IPv4 / IPv6 addresses (port 0). */
static int parse_sources(const char *list, sim_opts *o) {
  SIM_VFREE(o->sources);
  const char *p = list;
  while (*p) {
    size_t n = strcspn(p, ",");
    char ip[64];
    if (n == 0 || n >= sizeof ip) return -1;
    memcpy(ip, p, n);
    ip[n] = '\0';
    struct sockaddr_storage *ss = SIM_VPUSH(o->sources);
    memset(ss, 0, sizeof *ss);
    if (uv_ip4_addr(ip, 0, (struct sockaddr_in *)ss) &&
        uv_ip6_addr(ip, 0, (struct sockaddr_in6 *)ss))
      return -1;
    p += n;
    if (*p == ',') p++;
  }
  return o->sources.n ? 0 : -1;
}

static int parse_opts(int argc, char **argv, sim_opts *o) {
  o->acs_url = "http://127.0.0.1:7547/";
  o->count = 1;
  o->serial_prefix = "CPESIM";
  o->model_path = "tr181";
  o->loop = -1;
  o->periodic_interval = -1;
  o->timeout_ms = 30000;
  o->reboot_ms = 1000;
  o->cr_listen = "127.0.0.1:0";
  o->ns = ACS_CWMP_NS_1_2;
  o->cwmp_version = "1.2";
  o->seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
  int c;
  double v;
  while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
    const char *a = optarg;
    switch (c) {
      case O_ACS:
        o->acs_url = a;
        break;
      case O_TLS_CA:
        o->tls_ca = a;
        break;
      case O_TLS_CERT:
        o->tls_cert = a;
        break;
      case O_TLS_KEY:
        o->tls_key = a;
        break;
      case O_TLS_NORESUME:
        o->tls_no_resume = true;
        break;
      case O_COUNT:
        if (!num(a, 1, 10000000, &v)) return die("--count %s: expected 1 .. 10000000", a);
        o->count = (uint32_t)v;
        break;
      case O_FIRST:
        if (!num(a, 0, 4e9, &v)) return die("--first %s: expected a number", a);
        o->first = (uint32_t)v;
        break;
      case O_PREFIX:
        if (!*a || strlen(a) > 24) return die("--serial-prefix %s: 1 to 24 characters", a);
        o->serial_prefix = a;
        break;
      case O_MODEL:
        o->model_path = a;
        break;
      case O_RATE:
        if (!num(a, 0.001, 1e7, &o->rate)) return die("--rate %s: expected a positive number", a);
        break;
      case O_CONC:
        if (!num(a, 1, 10000000, &v)) return die("--concurrency %s: expected 1 or more", a);
        o->concurrency = (uint32_t)v;
        break;
      case O_LOOP:
        o->loop = 1;
        break;
      case O_NOLOOP:
        o->loop = 0;
        break;
      case O_DUR:
        if (!num(a, 0.001, 1e7, &o->duration)) return die("--duration %s: expected seconds", a);
        break;
      case O_SESS:
        if (!num(a, 1, 1e15, &v)) return die("--sessions %s: expected 1 or more", a);
        o->sessions = (uint64_t)v;
        break;
      case O_PERIODIC:
        o->periodic = true;
        break;
      case O_PINT:
        if (!num(a, 1, 4e9, &v)) return die("--periodic-interval %s: expected seconds", a);
        o->periodic_interval = (long)v;
        break;
      case O_SPREAD:
        if (!num(a, 0, 1e7, &o->spread)) return die("--spread %s: expected seconds", a);
        break;
      case O_THINK:
        if (!num(a, 0, 600000, &v)) return die("--think-ms %s: expected milliseconds", a);
        o->think_ms = (uint32_t)v;
        break;
      case O_TIMEOUT:
        if (!num(a, 0.1, 3600, &v)) return die("--timeout %s: expected seconds", a);
        o->timeout_ms = (uint32_t)(v * 1000);
        break;
      case O_REBOOT:
        if (!num(a, 0, 3600000, &v)) return die("--reboot-ms %s: expected milliseconds", a);
        o->reboot_ms = (uint32_t)v;
        break;
      case O_CR:
        o->cr_listen = a;
        break;
      case O_CRCH:
        if (strcmp(a, "crlf") == 0 || strcmp(a, "folded") == 0 || strcmp(a, "lf") == 0 ||
            strcmp(a, "folded-lf") == 0) {
          o->cr_folded = strncmp(a, "folded", 6) == 0;
          o->cr_lf = strcmp(a, "lf") == 0 || strcmp(a, "folded-lf") == 0;
        } else {
          return die("--cr-challenge %s: expected crlf, folded, lf or folded-lf", a);
        }
        break;
      case O_XMPP:
        o->xmpp_server = a;
        break;
      case O_STATE:
        o->state_path = a;
        break;
      case O_ACK:
        o->ack_log = a;
        break;
      case O_SEED:
        if (!num(a, 0, 1.8e19, &v)) return die("--seed %s: expected a number", a);
        o->seed = strtoull(a, NULL, 10);
        break;
      case O_CHANGE:
        if (!num(a, 0.001, 1e9, &o->change_interval))
          return die("--change-interval %s: expected seconds", a);
        break;
      case O_CWMP:
        if (strcmp(a, "1.0") == 0)
          o->ns = ACS_CWMP_NS_1_0;
        else if (strcmp(a, "1.1") == 0)
          o->ns = ACS_CWMP_NS_1_1;
        else if (strcmp(a, "1.2") == 0 || strcmp(a, "1.3") == 0 || strcmp(a, "1.4") == 0)
          o->ns = ACS_CWMP_NS_1_2;
        else
          return die("--cwmp-version %s: expected 1.0 .. 1.4", a);
        o->cwmp_version = a;
        break;
      case O_SET: {
        const char *eq = strchr(a, '=');
        if (!eq || eq == a) return die("--set %s: expected NAME=VALUE", a);
        sim_set *s = SIM_VPUSH(o->sets);
        s->name = sim_xstrndup(a, (size_t)(eq - a));
        s->value = sim_xstrdup(eq + 1);
        break;
      }
      case O_FW:
        if (!*a || strlen(a) > 64) return die("--firmware-version %s: 1 to 64 characters", a);
        o->firmware_version = a;
        break;
      case O_SRC:
        if (parse_sources(a, o)) return die("--source-ip %s: expected numeric addresses, comma-separated", a);
        break;
      case O_QUIET:
        o->quiet = true;
        break;
      case O_QUIRK: {
        char bad[64];
        if (sim_quirks_parse(a, &o->quirks, bad, sizeof bad))
          return die("--quirk: unknown quirk \"%s\" (see --help)", bad);
        break;
      }
      case O_VERBOSE:
        o->verbose = true;
        break;
      case O_AUTH_SCHEME:
        if (strcmp(a, "md5") && strcmp(a, "md5-sess") && strcmp(a, "basic"))
          return die("--auth-scheme %s: expected md5, md5-sess or basic", a);
        o->auth_scheme = a;
        break;
      case O_AUTH_WRONG:
        o->auth_wrong = true;
        break;
      case O_AUTH_NONE:
        o->auth_none = true;
        break;
      case O_FACTORY_KEY: {
        acs_secret_key k;
        if (acs_secret_key_load(a, &k))
          return die("--factory-key %s: not readable as a key (64 hex digits or 32 bytes)", a);
        memcpy(o->factory_key, k.key, sizeof o->factory_key);
        o->have_factory_key = true;
        break;
      }
      case O_HELP:
        fputs(usage, stdout);
        exit(0);
      default:
        fputs(usage, stderr);
        return 2;
    }
  }
  if (optind < argc) return die("unexpected argument %s", argv[optind]);
  if (!o->sessions && o->duration <= 0) o->sessions = o->count;
  if ((uint64_t)o->first + o->count > 4000000000ull)
    return die("%s", "--first + --count too large");
  return 0;
}

static int resolve_acs(sim_opts *o) {
  int rc = sim_url_parse(o->acs_url, &o->acs);
  if (rc) return die("--acs %s: expected http://HOST[:PORT]/PATH or https://...", o->acs_url);
  if (o->tls_key && !o->tls_cert) return die("%s", "--tls-key needs --tls-cert");
  struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
  char port[8];
  snprintf(port, sizeof port, "%u", o->acs.port);
  if (getaddrinfo(o->acs.host, port, &hints, &res) || !res)
    return die("--acs: cannot resolve %s", o->acs.host);
  memcpy(&o->acs_addr, res->ai_addr, res->ai_addrlen);
  freeaddrinfo(res);
  return 0;
}

static char *model_file(const char *m) {
  char buf[4096];
  if (strcmp(m, "tr181") == 0 || strcmp(m, "tr098") == 0) {
    snprintf(buf, sizeof buf, "%s/%s-gateway.model", CPESIM_MODEL_DIR, m);
    return sim_xstrdup(buf);
  }
  return sim_xstrdup(m);
}

static void raise_nofile(uint32_t want) {
  struct rlimit r;
  if (getrlimit(RLIMIT_NOFILE, &r)) return;
  rlim_t need = (rlim_t)want * 2 + 256;
  if (r.rlim_cur >= need) return;
  struct rlimit n = r;
  n.rlim_cur = need < r.rlim_max ? need : r.rlim_max;
  if (n.rlim_cur < need && need <= 1048576) {
    n.rlim_max = n.rlim_cur = need; /* works as root */
    if (setrlimit(RLIMIT_NOFILE, &n) == 0) return;
    n = r;
    n.rlim_cur = r.rlim_max;
  }
  setrlimit(RLIMIT_NOFILE, &n);
  if (n.rlim_cur < (rlim_t)want + 64)
    sim_log("warning: open files limited to %llu for %u devices", (unsigned long long)n.rlim_cur,
            want);
}

int main(int argc, char **argv) {
  signal(SIGPIPE, SIG_IGN);
  static sim s;
  S = &s;
  int rc = parse_opts(argc, argv, &s.o);
  if (rc) return rc;
  if ((rc = resolve_acs(&s.o))) return rc;
  snprintf(s.acs_host_hdr, sizeof s.acs_host_hdr, "%s%s%s:%u", strchr(s.o.acs.host, ':') ? "[" : "",
           s.o.acs.host, strchr(s.o.acs.host, ':') ? "]" : "", s.o.acs.port);
  sim_rand_seed(s.o.seed);
  char err[1024];
  /* https for the ACS, and for file URLs whenever a CA or a certificate is given */
  if ((s.o.acs.https || s.o.tls_ca || s.o.tls_cert) &&
      sim_tls_setup(s.o.tls_ca, s.o.tls_cert, s.o.tls_key, err, sizeof err))
    return die("%s", err);
  char *mpath = model_file(s.o.model_path);
  if ((rc = sim_model_load(mpath, &s.model, err, sizeof err))) {
    free(mpath);
    return die("%s", err);
  }
  free(mpath);
  for (uint32_t i = 0; i < s.o.sets.n; i++) {
    if (sim_model_set_default(s.model, s.o.sets.v[i].name, s.o.sets.v[i].value))
      return die("--set %s: no such parameter, or a value not valid for it", s.o.sets.v[i].name);
  }
  if (s.o.periodic_interval > 0 && s.model->pi_interval != SIM_NONE) {
    char v[24];
    snprintf(v, sizeof v, "%ld", s.o.periodic_interval);
    sim_strset(&s.model->nodes[s.model->pi_interval].value, v);
  }
  raise_nofile((s.o.concurrency && s.o.concurrency < s.o.count ? s.o.concurrency : s.o.count) + 64);
  s.loop = sim_xmalloc(sizeof *s.loop);
  uv_loop_init(s.loop);
  s.ack_fd = -1;
  if ((rc = sim_cr_start(s.o.cr_listen, err, sizeof err))) return die("%s", err);
  if (s.o.ack_log) {
    s.ack_fd = open(s.o.ack_log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (s.ack_fd < 0) return die("--ack-log: %s", strerror(errno));
  }
  s.ndev = s.o.count;
  s.devs = sim_xcalloc(s.ndev, sizeof *s.devs);
  uint32_t last = s.o.first + s.o.count - 1;
  int width = 6;
  for (uint32_t x = last; x >= 1000000; x /= 10) width++;
  for (uint32_t i = 0; i < s.ndev; i++) {
    s.devs[i].idx = s.o.first + i;
    snprintf(s.devs[i].serial, sizeof s.devs[i].serial, "%s%0*u", s.o.serial_prefix, width,
             s.o.first + i);
  }
  bool from_state = false;
  if (s.o.state_path) {
    rc = sim_state_load(s.o.state_path, err, sizeof err);
    if (rc && rc != ACS_ENOTFOUND) return die("%s", err);
    from_state = rc == 0;
  }
  if (!s.o.quiet)
    sim_log("%u devices %s..%s, model %s (%u parameters), ACS %s, connection requests at %s",
            s.ndev, s.devs[0].serial, s.devs[s.ndev - 1].serial, s.model->path, s.model->nparams,
            s.o.acs_url, s.cr_base);
  uint64_t t0 = uv_hrtime();
  sim_sched_init();
  for (uint32_t i = 0; i < s.ndev; i++) sim_dev_boot_init(&s.devs[i], from_state);
  uv_run(s.loop, UV_RUN_DEFAULT);
  double elapsed = (double)(uv_hrtime() - t0) / 1e9;
  sim_stats_print(elapsed);
  if (s.o.state_path && (rc = sim_state_save(s.o.state_path, err, sizeof err)))
    sim_log("state not saved: %s", err);
  if (s.ack_fd >= 0) close(s.ack_fd);
  for (uint32_t i = 0; i < s.ndev; i++) {
    sim_dev_free_data(&s.devs[i]);
    sim_tls_session_free(&s.devs[i].tls_session);
  }
  sim_tls_cleanup();
  free(s.devs);
  for (uint32_t i = 0; i < s.o.sets.n; i++) {
    free(s.o.sets.v[i].name);
    free(s.o.sets.v[i].value);
  }
  SIM_VFREE(s.o.sets);
  SIM_VFREE(s.o.sources);
  sim_model_free(s.model);
  int crc = uv_loop_close(s.loop);
  if (crc) sim_log("loop not closed cleanly: %s", uv_strerror(crc));
  free(s.loop);
  return 0;
}
