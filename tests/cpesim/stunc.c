/* stunc.c: a CPE behind NAT (TR-069 Annex G): once the ACS has set
 * ManagementServer.STUNEnable true and STUNServerAddress/Port, the device
 * keeps a UDP binding alive: a Binding request with USERNAME
 * (STUNUsername), CONNECTION-REQUEST-BINDING, BINDING-CHANGE when its
 * address changed, and MESSAGE-INTEGRITY keyed with STUNPassword when one
 * is set, every STUNMinimumKeepAlivePeriod seconds (at least 1) from one
 * socket of its own. The mapped address of the answer becomes its
 * UDPConnectionRequestAddress (a value change).
 *
 * A datagram on that socket that is a UDP connection request
 * ("GET http://...?ts&id&un&cn&sig") is checked: un must be the
 * ConnectionRequestUsername and sig its HMAC-SHA1 keyed with the
 * ConnectionRequestPassword; a repeated id (the ACS sends each request
 * several times) or a ts older than the last accepted one is ignored. An
 * accepted one makes a session with "6 CONNECTION REQUEST". */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "connreq/acs_stun.h"
#include "core/acs_err.h"
#include "sim.h"

#define SEEN 16

typedef struct sim_stun {
  sim_dev *d;
  uv_udp_t udp;
  uv_timer_t timer;
  struct sockaddr_storage server;
  char mapped[64]; /* "" until the first answer */
  bool changed;    /* the next request says BINDING-CHANGE */
  long long last_ts;
  char seen[SEEN][24];
  unsigned nseen;
  int open_handles;
  struct sim_stun *next;
} sim_stun;

static sim_stun *all;

static const char *value(sim_dev *d, const char *leaf, acs_buf *scratch) {
  char name[128];
  snprintf(name, sizeof name, "%sManagementServer.%s", S->model->root, leaf);
  sim_ref r;
  if (sim_dev_find(d, name, &r)) return "";
  return sim_dev_value(d, r, scratch, true);
}

static void set_value(sim_dev *d, const char *leaf, const char *v) {
  char name[128];
  snprintf(name, sizeof name, "%sManagementServer.%s", S->model->root, leaf);
  sim_ref r;
  if (sim_dev_find(d, name, &r) == 0 && sim_dev_set(d, r, v, false)) sim_dev_due(d, false);
}

static void send_binding(sim_stun *s) {
  acs_buf scratch = ACS_BUF_INIT, out = ACS_BUF_INIT;
  char user[257], pass[257];
  snprintf(user, sizeof user, "%s", value(s->d, "STUNUsername", &scratch));
  snprintf(pass, sizeof pass, "%s", value(s->d, "STUNPassword", &scratch));
  acs_stun_out o = {.type = ACS_STUN_BINDING_REQUEST,
                    .username = user[0] ? user : NULL,
                    .cr_binding = true,
                    .binding_change = s->changed,
                    .key = pass[0] ? pass : NULL,
                    .keylen = strlen(pass),
                    .fingerprint = true};
  for (int i = 0; i < 12; i++) o.txid[i] = (uint8_t)sim_rand();
  if (acs_stun_write(&o, &out) == 0) {
    /* a keepalive that cannot go out now (a full socket buffer) is skipped:
     * the next one follows */
    uv_buf_t b = uv_buf_init(out.data, (unsigned)out.len);
    uv_udp_try_send(&s->udp, &b, 1, (struct sockaddr *)&s->server);
  }
  acs_buf_free(&out);
  acs_buf_free(&scratch);
}

static void timer_cb(uv_timer_t *t) {
  sim_stun *s = t->data;
  send_binding(s);
  acs_buf scratch = ACS_BUF_INIT;
  long period = strtol(value(s->d, "STUNMinimumKeepAlivePeriod", &scratch), NULL, 10);
  acs_buf_free(&scratch);
  uv_timer_start(&s->timer, timer_cb, (uint64_t)(period > 0 ? period : 1) * 1000, 0);
}

static void on_stun(sim_stun *s, const uint8_t *buf, size_t n) {
  acs_stun_msg m;
  if (acs_stun_parse(buf, n, &m)) return;
  if (m.type != ACS_STUN_BINDING_RESPONSE || !m.mapped) {
    if (m.type == ACS_STUN_BINDING_ERROR) SIM_LOG("%s: STUN error %d", s->d->serial, m.error_code);
    return;
  }
  char ip[INET6_ADDRSTRLEN], addr[64];
  if (m.mapped_addr.ss_family == AF_INET6) {
    struct sockaddr_in6 *a = (struct sockaddr_in6 *)&m.mapped_addr;
    inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof ip);
    snprintf(addr, sizeof addr, "[%s]:%u", ip, ntohs(a->sin6_port));
  } else {
    struct sockaddr_in *a = (struct sockaddr_in *)&m.mapped_addr;
    inet_ntop(AF_INET, &a->sin_addr, ip, sizeof ip);
    snprintf(addr, sizeof addr, "%s:%u", ip, ntohs(a->sin_port));
  }
  s->changed = false;
  if (strcmp(addr, s->mapped) != 0) {
    snprintf(s->mapped, sizeof s->mapped, "%s", addr);
    SIM_LOG("%s: STUN binding %s", s->d->serial, addr);
    set_value(s->d, "UDPConnectionRequestAddress", addr);
  }
}

static void on_udpcr(sim_stun *s, const char *buf, size_t n) {
  sim_dev *d = s->d;
  acs_udpcr r;
  if (acs_udpcr_parse(buf, n, &r)) return;
  for (unsigned i = 0; i < SEEN; i++)
    if (strcmp(s->seen[i], r.id) == 0) return; /* a repeat of one already taken */
  acs_buf scratch = ACS_BUF_INIT;
  char user[257], pass[257];
  snprintf(user, sizeof user, "%s", value(d, "ConnectionRequestUsername", &scratch));
  snprintf(pass, sizeof pass, "%s", value(d, "ConnectionRequestPassword", &scratch));
  acs_buf_free(&scratch);
  long long ts = strtoll(r.ts, NULL, 10);
  if (strcmp(r.un, user) != 0 || !acs_udpcr_verify(&r, pass) || ts < s->last_ts) {
    S->st.cr_denied++;
    SIM_LOG("%s: UDP connection request refused (%s)", d->serial,
            strcmp(r.un, user) != 0 ? "username"
            : ts < s->last_ts       ? "old ts"
                                    : "signature");
    return;
  }
  snprintf(s->seen[s->nseen++ % SEEN], sizeof s->seen[0], "%s", r.id);
  s->last_ts = ts;
  if (d->state == SIM_D_OFF || S->stopping) return;
  S->st.cr_received++;
  SIM_LOG("%s: UDP connection request", d->serial);
  sim_dev_add_event(d, SIM_EV_CONNECTION_REQUEST, NULL);
  sim_dev_due(d, true);
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  static char mem[2048];
  (void)h;
  (void)suggested;
  *buf = uv_buf_init(mem, sizeof mem);
}

static void recv_cb(uv_udp_t *h, ssize_t n, const uv_buf_t *buf, const struct sockaddr *from,
                    unsigned flags) {
  sim_stun *s = h->data;
  if (n <= 0 || !from || (flags & UV_UDP_PARTIAL)) return;
  if (acs_stun_is_stun((const uint8_t *)buf->base, (size_t)n)) {
    on_stun(s, (const uint8_t *)buf->base, (size_t)n);
  } else {
    on_udpcr(s, buf->base, (size_t)n);
  }
}

static void closed_cb(uv_handle_t *h) {
  sim_stun *s = h->data;
  if (--s->open_handles == 0) free(s);
}

static void stun_close(sim_stun *s) {
  for (sim_stun **p = &all; *p; p = &(*p)->next) {
    if (*p == s) {
      *p = s->next;
      break;
    }
  }
  s->d->stun = NULL;
  uv_close((uv_handle_t *)&s->udp, closed_cb);
  uv_close((uv_handle_t *)&s->timer, closed_cb);
}

void sim_stun_update(sim_dev *d) {
  acs_buf scratch = ACS_BUF_INIT;
  bool on = strcmp(value(d, "STUNEnable", &scratch), "true") == 0 ||
            strcmp(value(d, "STUNEnable", &scratch), "1") == 0;
  char host[257];
  snprintf(host, sizeof host, "%s", value(d, "STUNServerAddress", &scratch));
  long port = strtol(value(d, "STUNServerPort", &scratch), NULL, 10);
  acs_buf_free(&scratch);
  struct sockaddr_storage server;
  memset(&server, 0, sizeof server);
  bool ok = on && host[0] && port > 0 && port < 65536 &&
            (uv_ip4_addr(host, (int)port, (struct sockaddr_in *)&server) == 0 ||
             uv_ip6_addr(host, (int)port, (struct sockaddr_in6 *)&server) == 0);
  if (d->stun && (!ok || memcmp(&server, &d->stun->server, sizeof server) != 0))
    stun_close(d->stun);
  if (!ok || d->stun || S->stopping) return;
  sim_stun *s = sim_xcalloc(1, sizeof *s);
  s->d = d;
  s->server = server;
  s->changed = true;
  uv_udp_init(S->loop, &s->udp);
  uv_timer_init(S->loop, &s->timer);
  s->udp.data = s->timer.data = s;
  s->open_handles = 2;
  s->next = all;
  all = s;
  d->stun = s;
  struct sockaddr_storage any;
  memset(&any, 0, sizeof any);
  if (server.ss_family == AF_INET6) {
    uv_ip6_addr("::", 0, (struct sockaddr_in6 *)&any);
  } else {
    uv_ip4_addr(((struct sockaddr_in *)&server)->sin_addr.s_addr == htonl(INADDR_LOOPBACK)
                    ? "127.0.0.1"
                    : "0.0.0.0",
                0, (struct sockaddr_in *)&any);
  }
  if (uv_udp_bind(&s->udp, (struct sockaddr *)&any, 0) ||
      uv_udp_recv_start(&s->udp, alloc_cb, recv_cb)) {
    fprintf(stderr, "cpesim: %s: cannot open a UDP socket for STUN\n", d->serial);
    stun_close(s);
    return;
  }
  uv_timer_start(&s->timer, timer_cb, 0, 0);
}

void sim_stun_stop_all(void) {
  while (all) stun_close(all);
}
