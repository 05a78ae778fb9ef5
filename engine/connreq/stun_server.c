/* stun_server.c: a worker's STUN server and the UDP connection requests it
 * sends from the same port (connreq_internal.h, TR-069 Annex G).
 *
 * A binding request is answered at once when it names no user (plain STUN:
 * the CPE learns its public address). One with a USERNAME waits for one
 * statement that finds the device (ManagementServer.STUNUsername, through
 * the parameters_name_value index) and its sealed STUNPassword; with a
 * password, MESSAGE-INTEGRITY must verify (else 401, nothing recorded); with
 * CONNECTION-REQUEST-BINDING the source address is then recorded in
 * connreq_udp (a second statement; changed_at moves only when the address
 * changed). The answer carries MAPPED-ADDRESS, XOR-MAPPED-ADDRESS and,
 * with a password, MESSAGE-INTEGRITY. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "connreq/acs_stun.h"
#include "connreq/connreq_internal.h"
#include "core/acs_err.h"
#include "core/acs_log.h"

#define MAX_DGRAM 2048

struct acs_stun_server {
  uv_loop_t *loop;
  acs_pg *pg;
  const acs_secret_key *key;
  uv_udp_t udp;
  bool open, stopping;
  int holds; /* statements and sends outstanding */
  unsigned long long answered, refused;
};

typedef struct breq { /* a binding request waiting for the store */
  acs_stun_server *s;
  struct sockaddr_storage from;
  acs_stun_msg m;
  size_t len;
  uint8_t buf[MAX_DGRAM];
  char username[514];
  char device_id[512];
  char addr[64];
  bool authenticated;
  acs_buf key;
} breq;

static void maybe_free(acs_stun_server *s) {
  if (s->stopping && !s->open && !s->holds) free(s);
}

static void udp_closed_cb(uv_handle_t *h) {
  acs_stun_server *s = h->data;
  s->open = false;
  maybe_free(s);
}

/* --- sending */

typedef struct usend {
  uv_udp_send_t req;
  acs_stun_server *s;
  acs_buf data;
  struct sockaddr_storage to;
  uv_timer_t timer;
  bool timer_open;
  unsigned left, sent, gap_ms;
  int status;
  acs_stun_sent_cb cb;
  void *arg;
} usend;

static void usend_free(usend *u) {
  acs_stun_server *s = u->s;
  acs_buf_free(&u->data);
  free(u);
  s->holds--;
  maybe_free(s);
}

static void answer_sent_cb(uv_udp_send_t *req, int status) {
  usend *u = req->data;
  (void)status;
  usend_free(u);
}

/* One datagram, fire and forget (answers). */
static void send_once(acs_stun_server *s, const struct sockaddr *to, acs_buf *data) {
  if (!s->open || s->stopping) return;
  usend *u = calloc(1, sizeof *u);
  if (!u) return;
  u->s = s;
  u->data = *data;
  *data = (acs_buf)ACS_BUF_INIT;
  u->req.data = u;
  s->holds++;
  uv_buf_t b = uv_buf_init(u->data.data, (unsigned)u->data.len);
  if (uv_udp_send(&u->req, &s->udp, &b, 1, to, answer_sent_cb)) usend_free(u);
}

static void repeat_timer_closed_cb(uv_handle_t *h) {
  usend *u = h->data;
  if (u->cb) u->cb(u->sent ? 0 : u->status, u->sent, u->arg);
  usend_free(u);
}

static void repeat_timer_cb(uv_timer_t *t);

static void repeat_sent_cb(uv_udp_send_t *req, int status) {
  usend *u = req->data;
  if (status) {
    u->status = status;
  } else {
    u->sent++;
  }
  if (--u->left == 0 || u->s->stopping) {
    uv_close((uv_handle_t *)&u->timer, repeat_timer_closed_cb);
    return;
  }
  uv_timer_start(&u->timer, repeat_timer_cb, u->gap_ms, 0);
  u->gap_ms *= 2;
}

static void repeat_timer_cb(uv_timer_t *t) {
  usend *u = t->data;
  uv_buf_t b = uv_buf_init(u->data.data, (unsigned)u->data.len);
  int rc = u->s->open && !u->s->stopping
               ? uv_udp_send(&u->req, &u->s->udp, &b, 1, (struct sockaddr *)&u->to, repeat_sent_cb)
               : UV_ECANCELED;
  if (rc) {
    u->status = rc;
    u->left = 1;
    repeat_sent_cb(&u->req, rc);
  }
}

static int parse_hostport(const char *addr, struct sockaddr_storage *out) {
  char host[64];
  const char *colon = strrchr(addr, ':');
  if (!colon || colon == addr || (size_t)(colon - addr) >= sizeof host) return ACS_EINVAL;
  char *e;
  long port = strtol(colon + 1, &e, 10);
  if (*e || port <= 0 || port > 65535) return ACS_EINVAL;
  const char *h = addr;
  size_t n = (size_t)(colon - addr);
  if (*h == '[' && colon[-1] == ']') {
    h++;
    n -= 2;
  }
  memcpy(host, h, n);
  host[n] = '\0';
  memset(out, 0, sizeof *out);
  if (uv_ip4_addr(host, (int)port, (struct sockaddr_in *)out) == 0) return 0;
  if (uv_ip6_addr(host, (int)port, (struct sockaddr_in6 *)out) == 0) return 0;
  return ACS_EINVAL;
}

int acs_stun_server_send(acs_stun_server *s, const char *addr, const char *msg, size_t len,
                         acs_stun_sent_cb cb, void *arg) {
  if (!s->open || s->stopping) return ACS_ESTATE;
  usend *u = calloc(1, sizeof *u);
  if (!u) return ACS_ENOMEM;
  if (parse_hostport(addr, &u->to)) {
    free(u);
    return ACS_EINVAL;
  }
  acs_buf_init(&u->data);
  acs_buf_append(&u->data, msg, len);
  if (acs_buf_err(&u->data)) {
    acs_buf_free(&u->data);
    free(u);
    return ACS_ENOMEM;
  }
  u->s = s;
  u->cb = cb;
  u->arg = arg;
  u->left = ACS_UDPCR_REPEAT;
  u->gap_ms = ACS_UDPCR_GAP_MS;
  u->req.data = u;
  uv_timer_init(s->loop, &u->timer);
  u->timer.data = u;
  s->holds++;
  /* the first goes out from the loop too: cb never runs inside this call */
  uv_timer_start(&u->timer, repeat_timer_cb, 0, 0);
  return 0;
}

/* --- answering binding requests */

static void answer(breq *r, int error_code, const char *reason) {
  acs_stun_server *s = r->s;
  acs_buf out = ACS_BUF_INIT;
  acs_stun_out o = {.type = error_code ? ACS_STUN_BINDING_ERROR : ACS_STUN_BINDING_RESPONSE,
                    .classic = r->m.classic,
                    .mapped = error_code ? NULL : (struct sockaddr *)&r->from,
                    .error_code = error_code,
                    .reason = reason,
                    .software = "acsd"};
  memcpy(o.txid, r->m.txid, sizeof o.txid);
  if (!error_code && r->key.len) {
    o.key = r->key.data;
    o.keylen = r->key.len;
  }
  if (acs_stun_write(&o, &out) == 0) send_once(s, (struct sockaddr *)&r->from, &out);
  acs_buf_free(&out);
  if (error_code) {
    s->refused++;
  } else {
    s->answered++;
  }
}

static void breq_free(breq *r) {
  acs_stun_server *s = r->s;
  acs_secret_buf_free(&r->key);
  free(r);
  s->holds--;
  maybe_free(s);
}

static const char sql_record[] =
    "INSERT INTO connreq_udp AS u (device_id, address, stun_username, authenticated) "
    "VALUES ($1, $2, $3, $4::boolean) ON CONFLICT (device_id) DO UPDATE SET "
    "address = excluded.address, stun_username = excluded.stun_username, "
    "authenticated = excluded.authenticated, seen_at = now(), "
    "changed_at = CASE WHEN u.address = excluded.address THEN u.changed_at ELSE now() END "
    /* a keepalive that changes nothing writes nothing, but once a minute */
    "WHERE u.address IS DISTINCT FROM excluded.address "
    "OR u.stun_username IS DISTINCT FROM excluded.stun_username "
    "OR u.authenticated IS DISTINCT FROM excluded.authenticated "
    "OR u.seen_at < now() - interval '1 minute'";

static void record_cb(acs_pg_result *res, void *arg) {
  breq *r = arg;
  if (res->status && res->status != ACS_ECANCELED)
    acs_log(ACS_LOG_WARN, "stun", "%s: binding %s not recorded: %s", r->device_id, r->addr,
            res->error);
  breq_free(r);
}

static const char sql_lookup[] =
    "SELECT p.device_id, s.name, encode(s.ciphertext, 'hex'), s.key_id "
    "FROM parameters p LEFT JOIN LATERAL (SELECT name, ciphertext, key_id FROM device_secrets x "
    "WHERE x.device_id = p.device_id AND x.name IN "
    "('Device.ManagementServer.STUNPassword', "
    "'InternetGatewayDevice.ManagementServer.STUNPassword') "
    "LIMIT 1) s ON true "
    "WHERE p.name IN ('Device.ManagementServer.STUNUsername', "
    "'InternetGatewayDevice.ManagementServer.STUNUsername') "
    "AND left(p.value, 256) COLLATE \"C\" = $1 AND p.value = $1 LIMIT 2";

static void lookup_cb(acs_pg_result *res, void *arg) {
  breq *r = arg;
  acs_stun_server *s = r->s;
  if (s->stopping || res->status) {
    if (res->status && res->status != ACS_ECANCELED)
      acs_log(ACS_LOG_WARN, "stun", "binding request of '%.64s': store: %s", r->username,
              res->error);
    /* no answer: the CPE asks again, and a 5xx would not tell it more */
    breq_free(r);
    return;
  }
  if (res->ntuples != 1) {
    acs_log(
        ACS_LOG_INFO, "stun", "binding request of '%.64s': %s", r->username,
        res->ntuples ? "the STUN username of several devices" : "no device has this STUNUsername");
    answer(r, 401, "Unauthorized");
    breq_free(r);
    return;
  }
  snprintf(r->device_id, sizeof r->device_id, "%s", acs_pg_getvalue(res, 0, 0));
  if (!acs_pg_isnull(res, 0, 1)) {
    char err[256];
    int rc = acs__connreq_open_secret(s->key, r->device_id, acs_pg_getvalue(res, 0, 1),
                                      acs_pg_getvalue(res, 0, 2), acs_pg_getvalue(res, 0, 3),
                                      &r->key, err, sizeof err);
    if (rc) {
      acs_log(ACS_LOG_WARN, "stun", "%s: %s", r->device_id, err);
      answer(r, 500, "Server Error");
      breq_free(r);
      return;
    }
    rc =
        acs_stun_check_integrity(r->buf, r->len, &r->m, r->key.data ? r->key.data : "", r->key.len);
    if (rc) {
      acs_log(ACS_LOG_INFO, "stun", "%s: binding request from %s %s", r->device_id, r->addr,
              rc == ACS_ENOTFOUND ? "without MESSAGE-INTEGRITY" : "with a wrong MESSAGE-INTEGRITY");
      acs_secret_buf_free(&r->key); /* the error answer carries none */
      answer(r, 401, "Unauthorized");
      breq_free(r);
      return;
    }
    r->authenticated = true;
  }
  answer(r, 0, NULL);
  if (!r->m.cr_binding) {
    breq_free(r);
    return;
  }
  const char *p[4] = {r->device_id, r->addr, r->username, r->authenticated ? "true" : "false"};
  if (acs_pg_query(s->pg, sql_record, 4, p, ACS_PG_FAILFAST, record_cb, r)) breq_free(r);
}

static void addr_text(const struct sockaddr_storage *a, char *out, size_t n) {
  char ip[INET6_ADDRSTRLEN] = "?";
  if (a->ss_family == AF_INET6) {
    const struct sockaddr_in6 *a6 = (const struct sockaddr_in6 *)a;
    inet_ntop(AF_INET6, &a6->sin6_addr, ip, sizeof ip);
    snprintf(out, n, "[%s]:%u", ip, ntohs(a6->sin6_port));
  } else {
    const struct sockaddr_in *a4 = (const struct sockaddr_in *)a;
    inet_ntop(AF_INET, &a4->sin_addr, ip, sizeof ip);
    snprintf(out, n, "%s:%u", ip, ntohs(a4->sin_port));
  }
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  static __thread char mem[MAX_DGRAM];
  (void)h;
  (void)suggested;
  *buf = uv_buf_init(mem, sizeof mem);
}

static void recv_cb(uv_udp_t *h, ssize_t n, const uv_buf_t *buf, const struct sockaddr *from,
                    unsigned flags) {
  acs_stun_server *s = h->data;
  if (n <= 0 || !from || s->stopping || (flags & UV_UDP_PARTIAL)) return;
  breq *r = calloc(1, sizeof *r);
  if (!r) return;
  r->s = s;
  s->holds++;
  acs_buf_init(&r->key);
  r->len = (size_t)n;
  memcpy(r->buf, buf->base, r->len);
  memcpy(&r->from, from,
         from->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in));
  addr_text(&r->from, r->addr, sizeof r->addr);
  if (acs_stun_parse(r->buf, r->len, &r->m) || r->m.type != ACS_STUN_BINDING_REQUEST) {
    breq_free(r); /* not ours: dropped without an answer (RFC 5389 7.3) */
    return;
  }
  if (r->m.nunknown) {
    answer(r, 420, "Unknown Attribute");
    breq_free(r);
    return;
  }
  if (!r->m.username) {
    answer(r, 0, NULL);
    breq_free(r);
    return;
  }
  memcpy(r->username, r->m.username, r->m.username_len);
  r->username[r->m.username_len] = '\0';
  if (strlen(r->username) != r->m.username_len) {
    answer(r, 400, "Bad Request");
    breq_free(r);
    return;
  }
  const char *p[1] = {r->username};
  if (acs_pg_query(s->pg, sql_lookup, 1, p, ACS_PG_FAILFAST, lookup_cb, r)) breq_free(r);
}

int acs_stun_server_start(uv_loop_t *loop, acs_pg *pg, const acs_secret_key *key,
                          const char *listen, unsigned worker, acs_stun_server **out) {
  struct sockaddr_storage ss;
  if (acs_addr_parse(listen, &ss)) return ACS_ECONFIG;
  int fd = socket(ss.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -errno;
  int one = 1;
  socklen_t len =
      ss.ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
  if (setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) ||
      bind(fd, (struct sockaddr *)&ss, len)) {
    int rc = -errno;
    acs_log(ACS_LOG_ERR, "stun", "worker %u: cannot bind %s: %s", worker, listen, strerror(errno));
    close(fd);
    return rc;
  }
  acs_stun_server *s = calloc(1, sizeof *s);
  if (!s) {
    close(fd);
    return ACS_ENOMEM;
  }
  s->loop = loop;
  s->pg = pg;
  s->key = key;
  uv_udp_init(loop, &s->udp);
  s->udp.data = s;
  s->open = true;
  int rc = uv_udp_open(&s->udp, fd);
  if (!rc) rc = uv_udp_recv_start(&s->udp, alloc_cb, recv_cb);
  if (rc) {
    s->stopping = true;
    uv_close((uv_handle_t *)&s->udp, udp_closed_cb);
    return rc;
  }
  if (worker == 0) acs_log(ACS_LOG_INFO, "stun", "STUN and UDP connection requests on %s", listen);
  *out = s;
  return 0;
}

void acs_stun_server_stop(acs_stun_server *s) {
  if (!s) return;
  s->stopping = true;
  if (s->open && !uv_is_closing((uv_handle_t *)&s->udp))
    uv_close((uv_handle_t *)&s->udp, udp_closed_cb);
}
