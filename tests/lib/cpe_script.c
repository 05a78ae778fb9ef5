/* cpe_script.c: the scripted CPE of the session tests (cpe_script.h). */
#include "cpe_script.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/acs_buf.h"

extern char **environ;

/* ---- environment */

const char *cs_env(const char *name) {
  const char *v = getenv(name);
  if (!v || !*v) {
    fprintf(stderr, "SKIP: %s not set (run through tests/lib/run_with_pg.py)\n", name);
    exit(77);
  }
  return v;
}

uint64_t cs_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void cs_sleep_ms(unsigned ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

/* ---- acsd children: killed when the test exits, however it exits */

#define MAX_CHILDREN 8
static pid_t children[MAX_CHILDREN];
static pthread_mutex_t children_mu = PTHREAD_MUTEX_INITIALIZER;

static void kill_children(void) {
  for (int i = 0; i < MAX_CHILDREN; i++) {
    if (children[i] > 0) {
      kill(children[i], SIGKILL);
      waitpid(children[i], NULL, 0);
      children[i] = 0;
    }
  }
}

static void on_fatal_signal(int sig) {
  for (int i = 0; i < MAX_CHILDREN; i++)
    if (children[i] > 0) kill(children[i], SIGKILL);
  signal(sig, SIG_DFL);
  raise(sig);
}

static void track_child(pid_t pid, bool add) {
  static bool installed;
  pthread_mutex_lock(&children_mu);
  if (!installed) {
    installed = true;
    atexit(kill_children);
    static const int sigs[] = {SIGTERM, SIGINT, SIGHUP, SIGABRT, SIGSEGV, SIGBUS};
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) signal(sigs[i], on_fatal_signal);
  }
  for (int i = 0; i < MAX_CHILDREN; i++) {
    if (add && children[i] == 0) {
      children[i] = pid;
      break;
    }
    if (!add && children[i] == pid) {
      children[i] = 0;
      break;
    }
  }
  pthread_mutex_unlock(&children_mu);
}

/* Does a loopback port bind now (port 0: the kernel's pick, returned)? */
static int bind_port(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in sa = {.sin_family = AF_INET,
                           .sin_port = htons((uint16_t)port),
                           .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t sl = sizeof sa;
  int got = -1;
  if (fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0 &&
      getsockname(fd, (struct sockaddr *)&sa, &sl) == 0)
    got = ntohs(sa.sin_port);
  if (fd >= 0) close(fd);
  return got;
}

/* A loopback port for a server to listen on: a random one below the
 * kernel's ephemeral range that binds now, as tests/lib/ports.py picks them.
 * A port the kernel picks (bind to 0) is in that range, where any outgoing
 * connection of a test running meanwhile (cpesim opens thousands) may be
 * given it before the server binds it: "Address already in use". */
static int free_port(void) {
  int low = 32768;
  FILE *f = fopen("/proc/sys/net/ipv4/ip_local_port_range", "r");
  if (f) {
    if (fscanf(f, "%d", &low) != 1) low = 32768;
    fclose(f);
  }
  int first = low - 12000 > 1024 ? low - 12000 : 1024;
  static unsigned seed;
  if (!seed) seed = (unsigned)time(NULL) ^ ((unsigned)getpid() << 16);
  for (int i = 0; i < 200 && low - 1 > first; i++) {
    int port = first + (int)(rand_r(&seed) % (unsigned)(low - first));
    if (bind_port(port) == port) return port;
  }
  return bind_port(0); /* no room below: the kernel's pick */
}

static bool child_exited(cs_acsd *a, int *status) {
  pid_t r = waitpid(a->pid, status, WNOHANG);
  if (r == a->pid) {
    track_child(a->pid, false);
    a->pid = 0;
    return true;
  }
  return false;
}

static bool wants_env(const char *kv) {
  if (strncmp(kv, "ACS_", 4) != 0) return true;
  return strncmp(kv, "ACS_TEST_", 9) == 0 || strncmp(kv, "ACS_BIN_DIR=", 12) == 0 ||
         strncmp(kv, "ACS_SOURCE_DIR=", 15) == 0 ||
         strncmp(kv, "ACS_CLOCK_OFFSET_MS=", 20) == 0; /* tests move acsd's clock */
}

/* /health answers before the workers' store connections are up (and until
 * they are, Informs get 503): waits for one connection per worker, seen
 * twice in a row (the migration's connection, closing, does not count
 * long). */
static int wait_store(cs_acsd *a, unsigned workers, uint64_t t0) {
  PGconn *pg = cs_pg_connect(cs_env("ACS_TEST_PG_DSN"));
  int seen = 0;
  while (cs_now_ms() - t0 < 20000 && seen < 2) {
    long long n = cs_pg_ll(pg,
                           "SELECT count(*) FROM pg_stat_activity WHERE application_name = "
                           "'acsd' AND datname = current_database() AND pid <> pg_backend_pid()",
                           0);
    seen = n >= (long long)workers ? seen + 1 : 0;
    cs_sleep_ms(50);
  }
  PQfinish(pg);
  if (seen < 2) {
    fprintf(stderr, "acsd's %u store connections not up within 20 s\n", workers);
    cs_acsd_log_tail(a, 40);
    return -1;
  }
  cs_sleep_ms(50);
  return 0;
}

int cs_acsd_start(cs_acsd *a, unsigned workers, const char *const *extra) {
  memset(a, 0, sizeof *a);
  const char *bin = cs_env("ACS_BIN_DIR"), *dsn = cs_env("ACS_TEST_PG_DSN");
  char path[512], cwmp[64], api[64], nw[16];
  snprintf(path, sizeof path, "%s/acsd", bin);
  a->cwmp_port = free_port();
  do {
    a->api_port = free_port();
  } while (a->api_port == a->cwmp_port);
  snprintf(cwmp, sizeof cwmp, "127.0.0.1:%d", a->cwmp_port);
  snprintf(api, sizeof api, "127.0.0.1:%d", a->api_port);
  snprintf(nw, sizeof nw, "%u", workers);
  snprintf(a->log_path, sizeof a->log_path, "/tmp/cs-acsd-XXXXXX.log");
  int lfd = mkstemps(a->log_path, 4);
  if (lfd < 0) {
    perror("mkstemps");
    return -1;
  }
  const char *argv[64] = {path, "--cwmp",    cwmp, "--api",       api,   "--pg",
                          dsn,  "--workers", nw,   "--log-level", "info"};
  int n = 11;
  for (int i = 0; extra && extra[i] && n < 63; i++) argv[n++] = extra[i];
  argv[n] = NULL;
  char *envp[512];
  int ne = 0;
  for (char **e = environ; *e && ne < 511; e++)
    if (wants_env(*e)) envp[ne++] = *e;
  envp[ne] = NULL;
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid < 0) {
    perror("fork");
    close(lfd);
    return -1;
  }
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127);
    int nul = open("/dev/null", O_RDONLY);
    dup2(nul, 0);
    dup2(lfd, 1);
    dup2(lfd, 2);
    execve(path, (char *const *)argv, envp);
    fprintf(stderr, "exec %s: %s\n", path, strerror(errno));
    _exit(127);
  }
  close(lfd);
  a->pid = pid;
  track_child(pid, true);
  uint64_t t0 = cs_now_ms();
  while (cs_now_ms() - t0 < 20000) {
    int st;
    if (child_exited(a, &st)) {
      fprintf(stderr, "acsd exited (status 0x%x) before it was ready\n", st);
      cs_acsd_log_tail(a, 40);
      return -1;
    }
    cs_http h;
    cs_resp r;
    cs_http_init(&h, a->cwmp_port);
    h.timeout_ms = 1000;
    int s1 = cs_http_request(&h, "GET", "/health", NULL, NULL, 0, &r);
    cs_resp_free(&r);
    cs_http_close(&h);
    cs_http_init(&h, a->api_port);
    h.timeout_ms = 1000;
    int s2 = s1 == 200 ? cs_http_request(&h, "GET", "/health", NULL, NULL, 0, &r) : -1;
    if (s1 == 200) cs_resp_free(&r);
    cs_http_close(&h);
    if (s1 == 200 && s2 == 200) return wait_store(a, workers, t0);
    cs_sleep_ms(50);
  }
  fprintf(stderr, "acsd not ready on ports %d/%d within 20 s\n", a->cwmp_port, a->api_port);
  cs_acsd_log_tail(a, 40);
  return -1;
}

int cs_acsd_stop(cs_acsd *a, unsigned timeout_ms) {
  if (a->pid <= 0) return -1;
  kill(a->pid, SIGTERM);
  uint64_t t0 = cs_now_ms();
  int st = 0;
  bool exited = false;
  while (!(exited = child_exited(a, &st)) && cs_now_ms() - t0 < timeout_ms) cs_sleep_ms(20);
  if (!exited) {
    fprintf(stderr, "acsd still running %u ms after SIGTERM: killed\n", timeout_ms);
    kill(a->pid, SIGKILL);
    waitpid(a->pid, NULL, 0);
    track_child(a->pid, false);
    a->pid = 0;
    cs_acsd_log_tail(a, 40);
    return -1;
  }
  int rc = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  int bad = cs_acsd_log_count(a, "Sanitizer") + cs_acsd_log_count(a, "runtime error:");
  if (rc != 0 || bad) {
    fprintf(stderr, "acsd exit: %s %d%s\n", WIFEXITED(st) ? "status" : "signal",
            WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st),
            bad ? ", and its log has sanitizer reports" : "");
    cs_acsd_log_tail(a, bad ? 200 : 40);
    return rc ? rc : -1;
  }
  unlink(a->log_path);
  return 0;
}

static char *read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  acs_buf b = ACS_BUF_INIT;
  char tmp[8192];
  size_t n;
  while ((n = fread(tmp, 1, sizeof tmp, f)) > 0) acs_buf_append(&b, tmp, n);
  fclose(f);
  acs_buf_putc(&b, '\0');
  return acs_buf_steal(&b, len);
}

void cs_acsd_log_tail(const cs_acsd *a, int lines) {
  size_t len;
  char *t = read_file(a->log_path, &len);
  if (!t) return;
  const char *p = t + strlen(t);
  int n = 0;
  while (p > t && n <= lines) {
    p--;
    if (*p == '\n') n++;
  }
  fprintf(stderr, "--- acsd log (%s, tail) ---\n%s--- end of acsd log ---\n", a->log_path,
          p == t ? p : p + 1);
  free(t);
}

int cs_acsd_log_count(const cs_acsd *a, const char *needle) {
  size_t len;
  char *t = read_file(a->log_path, &len);
  int n = 0;
  for (const char *p = t; p && (p = strstr(p, needle)); p += strlen(needle)) n++;
  free(t);
  return n;
}

/* ---- HTTP */

void cs_http_init(cs_http *h, int port) {
  memset(h, 0, sizeof *h);
  h->port = port;
  h->keep_alive = true;
  h->timeout_ms = 10000;
  h->fd = -1;
}

void cs_http_close(cs_http *h) {
  if (h->fd >= 0) close(h->fd);
  h->fd = -1;
  free(h->rbuf);
  h->rbuf = NULL;
  h->rlen = h->rcap = 0;
}

static int http_connect(cs_http *h) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  struct timeval tv = {h->timeout_ms / 1000, (long)(h->timeout_ms % 1000) * 1000};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (h->src_ip[0]) {
    struct sockaddr_in src = {.sin_family = AF_INET};
    if (inet_pton(AF_INET, h->src_ip, &src.sin_addr) != 1 ||
        bind(fd, (struct sockaddr *)&src, sizeof src) != 0) {
      fprintf(stderr, "bind %s: %s\n", h->src_ip, strerror(errno));
      close(fd);
      return -1;
    }
  }
  struct sockaddr_in sa = {.sin_family = AF_INET,
                           .sin_port = htons((uint16_t)h->port),
                           .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
    close(fd);
    return -1;
  }
  h->fd = fd;
  h->connects++;
  h->rlen = 0;
  return 0;
}

static int send_all(int fd, const char *p, size_t n) {
  while (n) {
    ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return -1;
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

/* Reads more into rbuf: bytes read, 0 at EOF, -1 on error or timeout. */
static ssize_t fill(cs_http *h) {
  if (h->rcap - h->rlen < 4096) {
    size_t cap = h->rcap ? h->rcap * 2 : 16384;
    char *p = realloc(h->rbuf, cap + 1);
    if (!p) return -1;
    h->rbuf = p;
    h->rcap = cap;
  }
  ssize_t r;
  do {
    r = recv(h->fd, h->rbuf + h->rlen, h->rcap - h->rlen, 0);
  } while (r < 0 && errno == EINTR);
  if (r > 0) h->rlen += (size_t)r;
  h->rbuf[h->rlen] = '\0';
  return r;
}

static const char *head_find(const char *head, const char *name, int n, size_t *vlen) {
  size_t nl = strlen(name);
  for (const char *p = head; p && *p;) {
    const char *eol = strstr(p, "\r\n");
    size_t ll = eol ? (size_t)(eol - p) : strlen(p);
    if (ll > nl && p[nl] == ':' && strncasecmp(p, name, nl) == 0 && n-- == 0) {
      const char *v = p + nl + 1;
      while (*v == ' ' || *v == '\t') v++;
      *vlen = (size_t)(p + ll - v);
      while (*vlen && (v[*vlen - 1] == ' ' || v[*vlen - 1] == '\t')) (*vlen)--;
      return v;
    }
    p = eol ? eol + 2 : NULL;
  }
  return NULL;
}

const char *cs_resp_header(const cs_resp *r, const char *name, int n, char *buf, size_t len) {
  size_t vl;
  const char *v = r->head ? head_find(r->head, name, n, &vl) : NULL;
  if (!v || len == 0) return NULL;
  if (vl >= len) vl = len - 1;
  memcpy(buf, v, vl);
  buf[vl] = '\0';
  return buf;
}

void cs_resp_free(cs_resp *r) {
  free(r->head);
  free(r->body);
  memset(r, 0, sizeof *r);
  r->status = -1;
}

/* Reads one response; 0, or -1 (got is set when any byte came). */
static int read_response(cs_http *h, bool head_only, cs_resp *out, bool *got) {
  char *end;
  *got = h->rlen > 0;
  while (!(h->rbuf && (end = strstr(h->rbuf, "\r\n\r\n")))) {
    if (fill(h) <= 0) return -1;
    *got = true;
  }
  *end = '\0';
  char *sp = strchr(h->rbuf, ' ');
  if (strncmp(h->rbuf, "HTTP/1.", 7) != 0 || !sp) return -1;
  out->status = atoi(sp + 1);
  char *eol = strstr(h->rbuf, "\r\n");
  out->head = strdup(eol ? eol + 2 : "");
  size_t hl = (size_t)(end - h->rbuf) + 4, vl;
  const char *cl = head_find(out->head, "Content-Length", 0, &vl);
  const char *conn = head_find(out->head, "Connection", 0, &vl);
  bool close_after = conn && strncasecmp(conn, "close", 5) == 0;
  bool no_body = head_only || out->status == 204 || out->status == 304 || out->status < 200;
  size_t blen = no_body ? 0 : cl ? strtoull(cl, NULL, 10) : SIZE_MAX;
  while ((blen == SIZE_MAX || h->rlen - hl < blen)) {
    ssize_t r = fill(h);
    if (r < 0) return -1;
    if (r == 0) {
      if (blen != SIZE_MAX) return -1;
      blen = h->rlen - hl;
    }
  }
  out->body = malloc(blen + 1);
  memcpy(out->body, h->rbuf + hl, blen);
  out->body[blen] = '\0';
  out->body_len = blen;
  memmove(h->rbuf, h->rbuf + hl + blen, h->rlen - hl - blen);
  h->rlen -= hl + blen;
  h->rbuf[h->rlen] = '\0';
  if (close_after || !h->keep_alive) cs_http_close(h);
  return 0;
}

int cs_http_request(cs_http *h, const char *method, const char *path, const char *headers,
                    const char *body, size_t len, cs_resp *out) {
  memset(out, 0, sizeof *out);
  out->status = -1;
  acs_buf req = ACS_BUF_INIT;
  acs_buf_printf(&req, "%s %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n%s", method, path, h->port,
                 headers ? headers : "");
  if (body || strcmp(method, "POST") == 0) acs_buf_printf(&req, "Content-Length: %zu\r\n", len);
  if (!h->keep_alive) acs_buf_puts(&req, "Connection: close\r\n");
  acs_buf_puts(&req, "\r\n");
  if (len) acs_buf_append(&req, body, len);
  if (!h->keep_alive) cs_http_close(h);
  for (int attempt = 0; attempt < 2; attempt++) {
    bool reused = h->fd >= 0, got = false;
    if (!reused && http_connect(h) != 0) break;
    h->requests++;
    if (send_all(h->fd, req.data, req.len) == 0 &&
        read_response(h, strcmp(method, "HEAD") == 0, out, &got) == 0)
      break;
    cs_http_close(h);
    free(out->head);
    out->head = NULL;
    out->status = -1;
    if (!reused || got) break; /* only a kept connection the server closed is retried */
  }
  acs_buf_free(&req);
  if (!out->body) out->body = strdup("");
  return out->status;
}

/* ---- CPE */

void cs_cpe_init(cs_cpe *c, int port, const char *oui, const char *product_class,
                 const char *serial) {
  memset(c, 0, sizeof *c);
  cs_http_init(&c->http, port);
  c->ns = ACS_CWMP_NS_1_2;
  snprintf(c->oui, sizeof c->oui, "%s", oui);
  snprintf(c->product_class, sizeof c->product_class, "%s", product_class ? product_class : "");
  snprintf(c->serial, sizeof c->serial, "%s", serial);
  acs_buf id = ACS_BUF_INIT;
  if (acs_cwmp_device_id_format(oui, product_class, serial, &id) == 0)
    snprintf(c->device_id, sizeof c->device_id, "%s", id.data);
  acs_buf_free(&id);
  snprintf(c->conn_req_url, sizeof c->conn_req_url, "http://192.0.2.1:30005/cr/%s", serial);
  acs_arena_init(&c->arena, 16384);
  c->resp.status = -1;
}

void cs_cpe_free(cs_cpe *c) {
  cs_http_close(&c->http);
  cs_resp_free(&c->resp);
  acs_arena_reset(&c->arena);
}

void cs_cpe_forget(cs_cpe *c) {
  cs_http_close(&c->http);
  c->cookie[0] = c->stale[0] = '\0';
}

static void cookie_pair(acs_buf *b, cs_cookie_mode m, const char *v) {
  if (b->len) acs_buf_puts(b, "; ");
  if (m == CS_COOKIE_RFC2109) {
    acs_buf_printf(b, "$Version=\"1\"; acsd_session=\"%s\"; $Path=\"/\"", v);
  } else if (m == CS_COOKIE_ATTRS) {
    acs_buf_printf(b, "acsd_session=%s; Path=/", v);
  } else {
    acs_buf_printf(b, "acsd_session=%s", v);
  }
}

static void take_cookies(cs_cpe *c) {
  char v[256];
  for (int i = 0; cs_resp_header(&c->resp, "Set-Cookie", i, v, sizeof v); i++) {
    c->set_cookies++;
    snprintf(c->set_cookie_raw, sizeof c->set_cookie_raw, "%s", v);
    if (strncmp(v, "acsd_session=", 13) != 0) continue;
    size_t n = strcspn(v + 13, ";");
    if (n < sizeof c->cookie) {
      memcpy(c->cookie, v + 13, n);
      c->cookie[n] = '\0';
    }
  }
}

/* POSTs body (may be empty) with the session's cookies; parses the answer. */
static int post_body(cs_cpe *c, const char *body, size_t len, acs_cwmp_msg *in) {
  acs_buf hdr = ACS_BUF_INIT, ck = ACS_BUF_INIT;
  acs_arena_reset(&c->arena); /* body may come from the last answer: encoded already */
  acs_buf_puts(&hdr, "Content-Type: text/xml; charset=\"utf-8\"\r\nSOAPAction: \"\"\r\n");
  if (c->cookie_mode != CS_COOKIE_NONE) {
    if (c->stale[0] && c->stale_first) cookie_pair(&ck, c->cookie_mode, c->stale);
    if (c->cookie[0]) cookie_pair(&ck, c->cookie_mode, c->cookie);
    if (c->stale[0] && !c->stale_first) cookie_pair(&ck, c->cookie_mode, c->stale);
    if (ck.len) acs_buf_printf(&hdr, "Cookie: %s\r\n", ck.data);
  }
  cs_resp_free(&c->resp);
  int status = cs_http_request(&c->http, "POST", "/", hdr.data, body, len, &c->resp);
  acs_buf_free(&hdr);
  acs_buf_free(&ck);
  memset(in, 0, sizeof *in);
  if (status < 0) return -1;
  take_cookies(c);
  const char *p = c->resp.body;
  while (*p && isspace((unsigned char)*p)) p++;
  if (!*p) return status;
  acs_cwmp_error err;
  if (acs_cwmp_parse(c->resp.body, c->resp.body_len, &c->arena, NULL, in, &err) != 0) {
    memset(in, 0, sizeof *in);
    in->kind = ACS_CWMP_UNKNOWN;
    in->unknown_method = "?";
  }
  return status;
}

int cs_cpe_post(cs_cpe *c, acs_cwmp_msg *msg, acs_cwmp_msg *in) {
  acs_buf body = ACS_BUF_INIT;
  if (msg) {
    msg->ns = c->ns;
    if (!msg->id) {
      snprintf(c->last_id, sizeof c->last_id, "cpe-%s-%u", c->serial, ++c->seq);
      msg->id = c->last_id;
    } else if (msg->id != c->last_id) {
      snprintf(c->last_id, sizeof c->last_id, "%s", msg->id);
    }
    if (acs_cwmp_encode(msg, &body) != 0) {
      fprintf(stderr, "%s: cannot encode %s\n", c->serial, acs_cwmp_kind_name(msg->kind));
      return -1;
    }
  }
  int st = post_body(c, body.data ? body.data : "", body.len, in);
  acs_buf_free(&body);
  return st;
}

int cs_cpe_post_raw(cs_cpe *c, const char *xml, acs_cwmp_msg *in) {
  char *copy = strdup(xml); /* xml may live in c->arena */
  int st = post_body(c, copy, strlen(copy), in);
  free(copy);
  return st;
}

void cs_cpe_inform_msg(cs_cpe *c, acs_arena *a, const char *root, const char *events,
                       const cs_param *extra, size_t nextra, acs_cwmp_msg *m) {
  memset(m, 0, sizeof *m);
  m->kind = ACS_CWMP_INFORM;
  acs_cwmp_inform *in = &m->u.inform;
  in->device_id.manufacturer = acs_arena_strdup(a, "ACME Networks");
  in->device_id.oui = c->oui;
  in->device_id.product_class = c->product_class;
  in->device_id.serial_number = c->serial;
  size_t ne = 0;
  for (const char *p = events; p && *p; p++) ne += *p == ',';
  in->events.v = acs_arena_calloc(a, ne + 1, sizeof *in->events.v);
  for (const char *p = events; p && *p;) {
    size_t n = strcspn(p, ",");
    char *code = acs_arena_strndup(a, p, n), *bar = strchr(code, '|');
    if (bar) *bar = '\0';
    in->events.v[in->events.n].code = code;
    in->events.v[in->events.n++].command_key = bar ? bar + 1 : "";
    p += n + (p[n] == ',');
  }
  in->max_envelopes = 1;
  char now[21];
  acs_cwmp_time_format((int64_t)time(NULL), now);
  in->current_time = acs_arena_strdup(a, now);
  static const char *const std[][2] = {
      {"DeviceInfo.HardwareVersion", "HW-1.0"}, {"DeviceInfo.SoftwareVersion", "SW-2.3.4"},
      {"DeviceInfo.ProvisioningCode", ""},      {"ManagementServer.ConnectionRequestURL", NULL},
      {"ManagementServer.ParameterKey", ""},
  };
  size_t nstd = sizeof std / sizeof std[0];
  in->params.v = acs_arena_calloc(a, nstd + nextra, sizeof *in->params.v);
  for (size_t i = 0; i < nstd; i++) {
    acs_cwmp_param_value *pv = &in->params.v[in->params.n++];
    char name[256];
    snprintf(name, sizeof name, "%s%s", root, std[i][0]);
    pv->name = acs_arena_strdup(a, name);
    pv->value = acs_arena_strdup(a, std[i][1] ? std[i][1] : c->conn_req_url);
    pv->type = ACS_XSD_STRING;
  }
  for (size_t i = 0; i < nextra; i++) {
    acs_cwmp_param_value *pv = &in->params.v[in->params.n++];
    pv->name = (char *)extra[i].name;
    pv->value = (char *)extra[i].value;
    pv->type = extra[i].type;
  }
}

int cs_cpe_inform(cs_cpe *c, const char *events) {
  acs_arena a;
  acs_arena_init(&a, 4096);
  acs_cwmp_msg m, in;
  cs_cpe_inform_msg(c, &a, "Device.", events, NULL, 0, &m);
  int st = cs_cpe_post(c, &m, &in);
  acs_arena_reset(&a);
  if (st == 200 && in.kind != ACS_CWMP_INFORM_RESPONSE) {
    fprintf(stderr, "%s: Inform answered 200 with %s\n", c->serial,
            in.kind == ACS_CWMP_UNKNOWN ? in.unknown_method : acs_cwmp_kind_name(in.kind));
    return -1;
  }
  return st;
}

int cs_cpe_acs_turn(cs_cpe *c, cs_answer_fn fn, void *arg) {
  acs_cwmp_msg in;
  int st = cs_cpe_post(c, NULL, &in);
  for (int n = 0; n < 1000; n++) {
    if (st == 204) return n;
    bool rpc = st == 200 && in.kind != ACS_CWMP_NONE && in.kind != ACS_CWMP_UNKNOWN &&
               in.kind != ACS_CWMP_FAULT && acs_cwmp_response_kind(in.kind) != ACS_CWMP_UNKNOWN;
    if (!rpc) {
      fprintf(stderr, "%s: expected an RPC or 204, got HTTP %d %s: %.300s\n", c->serial, st,
              in.kind == ACS_CWMP_UNKNOWN ? in.unknown_method
              : in.kind                   ? acs_cwmp_kind_name(in.kind)
                                          : "(empty)",
              c->resp.body ? c->resp.body : "");
      return -1;
    }
    if (!fn) {
      fprintf(stderr, "%s: no RPC expected, got %s\n", c->serial, acs_cwmp_kind_name(in.kind));
      return -1;
    }
    acs_arena a;
    acs_arena_init(&a, 8192);
    acs_cwmp_msg out;
    memset(&out, 0, sizeof out);
    if (fn(c, &in, &a, &out, arg) != 0) {
      acs_arena_reset(&a);
      return -1;
    }
    out.id = in.id ? in.id : NULL;
    st = cs_cpe_post(c, &out, &in);
    acs_arena_reset(&a);
  }
  fprintf(stderr, "%s: more than 1000 RPCs in one session\n", c->serial);
  return -1;
}

/* ---- the REST API */

char *cs_token_create(const char *name) {
  char cmd[2048];
  snprintf(cmd, sizeof cmd, "'%s/acsd' token create --role admin --name '%s' --pg '%s'",
           cs_env("ACS_BIN_DIR"), name, cs_env("ACS_TEST_PG_DSN"));
  FILE *p = popen(cmd, "r");
  if (!p) return NULL;
  char line[512] = "";
  char *ok = fgets(line, sizeof line, p);
  int st = pclose(p);
  line[strcspn(line, "\r\n")] = '\0';
  if (!ok || st != 0 || !line[0]) {
    fprintf(stderr, "acsd token create failed (status 0x%x)\n", st);
    return NULL;
  }
  return strdup(line);
}

void cs_url_segment(const char *s, char *out, size_t len) {
  size_t o = 0;
  for (const unsigned char *p = (const unsigned char *)s; *p && o + 4 < len; p++) {
    if (isalnum(*p) || *p == '_' || *p == '.' || *p == '~' || *p == '-') {
      out[o++] = (char)*p;
    } else {
      o += (size_t)snprintf(out + o, len - o, "%%%02X", *p);
    }
  }
  out[o] = '\0';
}

json_t *cs_api(const cs_acsd *a, const char *token, const char *method, const char *path,
               const json_t *body, int *status) {
  cs_http h;
  cs_resp r;
  cs_http_init(&h, a->api_port);
  h.keep_alive = false;
  char hdr[512] = "";
  if (token) snprintf(hdr, sizeof hdr, "Authorization: Bearer %s\r\n", token);
  char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
  if (text) strncat(hdr, "Content-Type: application/json\r\n", sizeof hdr - strlen(hdr) - 1);
  *status = cs_http_request(&h, method, path, hdr, text, text ? strlen(text) : 0, &r);
  free(text);
  json_t *j = r.body && r.body_len ? json_loadb(r.body, r.body_len, 0, NULL) : NULL;
  cs_resp_free(&r);
  cs_http_close(&h);
  return j;
}

long long cs_api_task(const cs_acsd *a, const char *token, const char *device_id, const char *rpc,
                      const char *args_json) {
  char seg[768], path[1024];
  cs_url_segment(device_id, seg, sizeof seg);
  snprintf(path, sizeof path, "/api/v1/devices/%s/tasks", seg);
  json_error_t jerr;
  json_t *args = json_loads(args_json ? args_json : "{}", 0, &jerr);
  if (!args) {
    fprintf(stderr, "bad task args %s: %s\n", args_json, jerr.text);
    return -1;
  }
  json_t *body = json_pack("{s:s, s:o}", "rpc", rpc, "args", args);
  int st;
  json_t *j = cs_api(a, token, "POST", path, body, &st);
  json_decref(body);
  json_t *id = json_object_get(j, "id");
  long long v = st == 201 && json_is_integer(id) ? (long long)json_integer_value(id) : -1;
  if (v < 0) {
    char *t = j ? json_dumps(j, 0) : NULL;
    fprintf(stderr, "POST %s %s: HTTP %d %s\n", path, rpc, st, t ? t : "");
    free(t);
  }
  json_decref(j);
  return v;
}

static json_t *api_get(const cs_acsd *a, const char *token, const char *path) {
  int st;
  json_t *j = cs_api(a, token, "GET", path, NULL, &st);
  if (st == 200) return j;
  fprintf(stderr, "GET %s: HTTP %d\n", path, st);
  json_decref(j);
  return NULL;
}

json_t *cs_api_get_task(const cs_acsd *a, const char *token, long long id) {
  char path[64];
  snprintf(path, sizeof path, "/api/v1/tasks/%lld", id);
  return api_get(a, token, path);
}

json_t *cs_api_get_device(const cs_acsd *a, const char *token, const char *device_id) {
  char seg[768], path[1024];
  cs_url_segment(device_id, seg, sizeof seg);
  snprintf(path, sizeof path, "/api/v1/devices/%s", seg);
  return api_get(a, token, path);
}

/* ---- PostgreSQL */

PGconn *cs_pg_connect(const char *dsn) {
  PGconn *pg = PQconnectdb(dsn);
  if (PQstatus(pg) != CONNECTION_OK) {
    fprintf(stderr, "cannot connect to %s: %s", dsn, PQerrorMessage(pg));
    exit(1);
  }
  return pg;
}

static char *pg_vstr(PGconn *pg, bool *failed, const char *sql, int n, va_list ap) {
  const char *p[16];
  for (int i = 0; i < n && i < 16; i++) p[i] = va_arg(ap, const char *);
  PGresult *r = PQexecParams(pg, sql, n, NULL, p, NULL, NULL, 0);
  char *v = NULL;
  ExecStatusType s = PQresultStatus(r);
  if (s != PGRES_TUPLES_OK && s != PGRES_COMMAND_OK) {
    fprintf(stderr, "query failed: %s: %s", sql, PQresultErrorMessage(r));
    if (failed) *failed = true;
  } else if (PQntuples(r) > 0 && PQnfields(r) > 0 && !PQgetisnull(r, 0, 0)) {
    v = strdup(PQgetvalue(r, 0, 0));
  }
  PQclear(r);
  return v;
}

char *cs_pg_str(PGconn *pg, bool *failed, const char *sql, int n, ...) {
  va_list ap;
  va_start(ap, n);
  char *v = pg_vstr(pg, failed, sql, n, ap);
  va_end(ap);
  return v;
}

long long cs_pg_ll(PGconn *pg, const char *sql, int n, ...) {
  va_list ap;
  va_start(ap, n);
  char *v = pg_vstr(pg, NULL, sql, n, ap);
  va_end(ap);
  long long x = v ? strtoll(v, NULL, 10) : -1;
  free(v);
  return x;
}

int cs_pg_exec(PGconn *pg, const char *sql) {
  PGresult *r = PQexec(pg, sql);
  ExecStatusType s = PQresultStatus(r);
  int rc = s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK ? 0 : -1;
  if (rc) fprintf(stderr, "statement failed: %s: %s", sql, PQresultErrorMessage(r));
  PQclear(r);
  return rc;
}
