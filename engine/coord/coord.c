/* coord.c: Redis connections of acsd's workers (acs_coord.h): finding the
 * master (directly or through the sentinels), keeping a connection up,
 * session locks with fencing tokens, signals. */
#include <hiredis/adapters/libuv.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coord/acs_coord.h"
#include "core/acs_err.h"
#include "core/acs_log.h"

#define MAX_SENTINELS 16
#define TICK_MS 100 /* reconnect attempts and the reply watchdog */
#define REPLY_TIMEOUT_MS 1500
#define SIGNAL_CHANNEL "acsd:signal"

/* Acquire: the fencing token from INCR, raised to Redis's clock in
 * microseconds when it lags (a failover that lost increments), then SET NX
 * PX. Numbers are formatted with %d: Redis's Lua would print 1.7e+15. */
static const char lua_acquire[] =
    "if redis.call('EXISTS', KEYS[1]) == 1 then return {0, redis.call('PTTL', KEYS[1])} end\n"
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000000 + tonumber(t[2])\n"
    "local c = redis.call('INCR', KEYS[2])\n"
    "if c < now then c = now; redis.call('SET', KEYS[2], string.format('%d', c)) end\n"
    "local tok = string.format('%d', c)\n"
    "if not redis.call('SET', KEYS[1], tok .. ' ' .. ARGV[2], 'NX', 'PX', ARGV[1]) then\n"
    "  return {0, 0} end\n"
    "return {1, tok}\n";
static const char lua_extend[] =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then\n"
    "  return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end\n"
    "return 0\n";
static const char lua_release[] =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end\n"
    "return 0\n";

typedef struct addr {
  char host[256];
  int port;
} addr;

struct acs_coord {
  addr direct;
  bool have_direct;
  addr sentinels[MAX_SENTINELS];
  size_t nsentinels;
  char *master_name, *password, *instance_id;
  uint32_t lock_ms;
  acs_coord_signal_cb on_signal;
  void *signal_arg;
  uv_mutex_t lock; /* workers: the list, for acs_coord_failover; and switched */
  acs_coord_worker *workers;
  addr switched; /* the new master a +switch-master named (port 0: none) */
  _Atomic uint64_t connects, disconnects, failovers, locks, lock_busy, lock_lost, signals_in;
  _Atomic uint64_t fenced;
  _Atomic unsigned workers_n, workers_up;
};

typedef enum { L_DOWN = 0, L_ASKING, L_CONNECTING, L_HANDSHAKE, L_UP } link_state;
typedef enum { LINK_CMD = 0, LINK_SUB, LINK_WATCH, NLINKS } link_kind;

typedef struct rlink {
  acs_coord_worker *w;
  link_kind kind;
  link_state st;
  redisAsyncContext *ac;  /* the master (CMD, SUB) or a sentinel (WATCH) */
  redisAsyncContext *ask; /* a sentinel being asked for the master */
  addr master;
  unsigned sentinel_next; /* the sentinel to ask (or watch) next */
  uint64_t retry_at;      /* DOWN: when to try again */
  uint32_t backoff_ms;
  unsigned inflight;    /* commands without their reply */
  uint64_t progress_at; /* the last reply, or the first command after none */
  bool enabled;
} rlink;

struct acs_coord_worker {
  acs_coord *c;
  uv_loop_t *loop;
  unsigned index;
  acs_coord_worker *next; /* c->workers */
  rlink links[NLINKS];
  uv_timer_t tick;
  uv_async_t failover;
  int open_handles;
  bool stopping;
  bool tick_closed;
  uint64_t stop_deadline; /* stopping: the last replies (unlocks) awaited until then */
  _Atomic bool failover_pending;
};

/* A command in flight: its callback, and the link whose counters it moves. */
typedef struct req {
  rlink *l;
  acs_coord_lock_cb cb;
  void *arg;
  int op; /* 0 acquire, 1 extend, 2 release, 3 publish, 4 handshake */
} req;

static uint64_t now_ms(const acs_coord_worker *w) { return uv_now(w->loop); }

/* --- options */

static int parse_addr(const char *s, size_t n, addr *out) {
  if (n == 0 || n >= sizeof out->host) return ACS_ECONFIG;
  char tmp[sizeof out->host];
  memcpy(tmp, s, n);
  tmp[n] = '\0';
  char *colon = strrchr(tmp, ':');
  if (!colon || colon == tmp) return ACS_ECONFIG;
  *colon = '\0';
  char *end;
  long p = strtol(colon + 1, &end, 10);
  if (*end || end == colon + 1 || p < 1 || p > 65535) return ACS_ECONFIG;
  memcpy(out->host, tmp, (size_t)(colon - tmp) + 1);
  out->port = (int)p;
  return 0;
}

int acs_coord_new(const acs_coord_opts *o, acs_coord_signal_cb on_signal, void *arg,
                  acs_coord **out, char *err, size_t errlen) {
  *out = NULL;
  if (o->redis && o->sentinels) {
    snprintf(err, errlen, "redis and redis-sentinels: configure one of them");
    return ACS_ECONFIG;
  }
  acs_coord *c = calloc(1, sizeof *c);
  if (!c) return ACS_ENOMEM;
  if (o->redis) {
    if (parse_addr(o->redis, strlen(o->redis), &c->direct)) {
      snprintf(err, errlen, "redis: invalid address '%s' (expected HOST:PORT)", o->redis);
      goto bad;
    }
    c->have_direct = true;
  } else if (o->sentinels) {
    const char *p = o->sentinels;
    while (*p) {
      size_t n = strcspn(p, ",");
      while (n && p[0] == ' ') p++, n--;
      if (c->nsentinels == MAX_SENTINELS || parse_addr(p, n, &c->sentinels[c->nsentinels])) {
        snprintf(err, errlen,
                 "redis-sentinels: invalid list '%s' (expected HOST:PORT[,...], "
                 "at most %d)",
                 o->sentinels, MAX_SENTINELS);
        goto bad;
      }
      c->nsentinels++;
      p += n;
      if (*p == ',') p++;
    }
    if (!c->nsentinels) {
      snprintf(err, errlen, "redis-sentinels: empty list");
      goto bad;
    }
  } else {
    snprintf(err, errlen, "neither redis nor redis-sentinels is configured");
    goto bad;
  }
  c->master_name = strdup(o->master_name ? o->master_name : "acsd");
  c->password = o->password ? strdup(o->password) : NULL;
  c->instance_id = strdup(o->instance_id ? o->instance_id : "acsd");
  if (!c->master_name || !c->instance_id || (o->password && !c->password)) {
    acs_coord_free(c);
    return ACS_ENOMEM;
  }
  c->lock_ms = o->lock_ms ? o->lock_ms : 30000;
  c->on_signal = on_signal;
  c->signal_arg = arg;
  uv_mutex_init(&c->lock);
  *out = c;
  return 0;
bad:
  free(c);
  return ACS_ECONFIG;
}

void acs_coord_free(acs_coord *c) {
  if (!c) return;
  if (c->master_name && c->instance_id) uv_mutex_destroy(&c->lock);
  free(c->master_name);
  free(c->password);
  free(c->instance_id);
  free(c);
}

uint32_t acs_coord_lock_ms(const acs_coord *c) { return c->lock_ms; }

void acs_coord_get_stats(const acs_coord *c, acs_coord_stats *s) {
  s->connects = atomic_load_explicit(&c->connects, memory_order_relaxed);
  s->disconnects = atomic_load_explicit(&c->disconnects, memory_order_relaxed);
  s->failovers = atomic_load_explicit(&c->failovers, memory_order_relaxed);
  s->locks = atomic_load_explicit(&c->locks, memory_order_relaxed);
  s->lock_busy = atomic_load_explicit(&c->lock_busy, memory_order_relaxed);
  s->lock_lost = atomic_load_explicit(&c->lock_lost, memory_order_relaxed);
  s->signals_in = atomic_load_explicit(&c->signals_in, memory_order_relaxed);
  s->fenced = atomic_load_explicit(&c->fenced, memory_order_relaxed);
  s->workers = atomic_load_explicit(&c->workers_n, memory_order_relaxed);
  s->workers_up = atomic_load_explicit(&c->workers_up, memory_order_relaxed);
}

void acs_coord_count_fenced(acs_coord *c) {
  if (c) atomic_fetch_add_explicit(&c->fenced, 1, memory_order_relaxed);
}

static void bump(_Atomic uint64_t *v) { atomic_fetch_add_explicit(v, 1, memory_order_relaxed); }

void acs_coord_count_lock_lost(acs_coord *c) {
  if (c) bump(&c->lock_lost);
}

/* --- links */

static const char *link_name(const rlink *l) {
  static const char *const n[NLINKS] = {"commands", "signals", "sentinel watch"};
  return n[l->kind];
}

static void link_down(rlink *l, const char *why) {
  if (l->kind == LINK_CMD && l->st == L_UP)
    atomic_fetch_sub_explicit(&l->w->c->workers_up, 1, memory_order_relaxed);
  if (l->w->stopping) {
    l->st = L_DOWN;
    return;
  }
  bool was_up = l->st == L_UP;
  l->st = L_DOWN;
  l->inflight = 0;
  uint64_t now = now_ms(l->w);
  l->retry_at = now + l->backoff_ms;
  l->backoff_ms = l->backoff_ms ? (l->backoff_ms * 2 > 1000 ? 1000 : l->backoff_ms * 2) : 50;
  if (was_up) bump(&l->w->c->disconnects);
  if (why && (was_up || l->w->index == 0))
    acs_log(was_up ? ACS_LOG_WARN : ACS_LOG_DEBUG, "coord", "worker %u: Redis %s connection: %s",
            l->w->index, link_name(l), why);
}

/* Drops the link's connections; their callbacks run with no reply. */
static void link_drop(rlink *l, const char *why) {
  redisAsyncContext *ac = l->ac, *ask = l->ask;
  l->ac = l->ask = NULL;
  if (ac) {
    ac->data = NULL;
    redisAsyncFree(ac);
  }
  if (ask) {
    ask->data = NULL;
    redisAsyncFree(ask);
  }
  if (l->st != L_DOWN) link_down(l, why);
}

static void sent(rlink *l) {
  if (l->inflight++ == 0) l->progress_at = now_ms(l->w);
}

static void answered(rlink *l) {
  if (l->inflight) l->inflight--;
  l->progress_at = now_ms(l->w);
}

static void stop_check(acs_coord_worker *w);

static void on_disconnect(const redisAsyncContext *ac, int status) {
  rlink *l = ac->data;
  if (!l) return;
  if (l->ac == ac) l->ac = NULL;
  if (l->ask == ac) l->ask = NULL;
  link_down(l, status == REDIS_OK ? "closed" : (ac->errstr[0] ? ac->errstr : "lost"));
  if (l->w->stopping) {
    stop_check(l->w);
    return;
  }
  if (l->ac) { /* the master's went while asking: drop the rest too */
    redisAsyncContext *o = l->ac;
    l->ac = NULL;
    o->data = NULL;
    redisAsyncFree(o);
  }
}

static void on_connect(const redisAsyncContext *ac, int status) {
  rlink *l = ac->data;
  if (!l || status == REDIS_OK) return;
  /* hiredis frees the context after this callback */
  if (l->ac == ac) l->ac = NULL;
  if (l->ask == ac) l->ask = NULL;
  link_drop(l, ac->errstr[0] ? ac->errstr : "cannot connect");
}

static redisAsyncContext *open_ctx(rlink *l, const addr *a) {
  redisAsyncContext *ac = redisAsyncConnect(a->host, a->port);
  if (!ac) return NULL;
  if (ac->err) {
    acs_log(ACS_LOG_DEBUG, "coord", "worker %u: %s:%d: %s", l->w->index, a->host, a->port,
            ac->errstr);
    redisAsyncFree(ac);
    return NULL;
  }
  ac->data = l;
  if (redisLibuvAttach(ac, l->w->loop) != REDIS_OK) {
    redisAsyncFree(ac);
    return NULL;
  }
  redisAsyncSetConnectCallback(ac, on_connect);
  redisAsyncSetDisconnectCallback(ac, on_disconnect);
  return ac;
}

static void start_master(rlink *l);
static void handshake(rlink *l);

/* The answer of a sentinel: the master's address, or try the next one. */
static void ask_cb(redisAsyncContext *ac, void *r, void *priv) {
  rlink *l = priv;
  redisReply *rep = r;
  if (!ac->data || l->ask != ac) return; /* dropped meanwhile */
  answered(l);
  l->ask = NULL;
  ac->data = NULL;
  redisAsyncDisconnect(ac);
  if (!rep || rep->type != REDIS_REPLY_ARRAY || rep->elements != 2 ||
      rep->element[0]->type != REDIS_REPLY_STRING || rep->element[1]->type != REDIS_REPLY_STRING) {
    link_down(l, "a sentinel does not know the master");
    return;
  }
  snprintf(l->master.host, sizeof l->master.host, "%s", rep->element[0]->str);
  l->master.port = atoi(rep->element[1]->str);
  start_master(l);
}

static void start_ask(rlink *l) {
  acs_coord *c = l->w->c;
  const addr *s = &c->sentinels[l->sentinel_next++ % c->nsentinels];
  l->st = L_ASKING;
  if (!(l->ask = open_ctx(l, s))) {
    link_down(l, "cannot reach a sentinel");
    return;
  }
  sent(l);
  if (redisAsyncCommand(l->ask, ask_cb, l, "SENTINEL get-master-addr-by-name %s", c->master_name) !=
      REDIS_OK)
    link_drop(l, "cannot ask a sentinel");
}

static void start_master(rlink *l) {
  l->st = L_CONNECTING;
  if (!(l->ac = open_ctx(l, &l->master))) {
    link_down(l, "cannot connect to the master");
    return;
  }
  handshake(l);
}

static void link_start(rlink *l) {
  acs_coord *c = l->w->c;
  if (l->kind == LINK_WATCH) { /* a sentinel itself, subscribed */
    const addr *s = &c->sentinels[l->sentinel_next++ % c->nsentinels];
    l->st = L_CONNECTING;
    if (!(l->ac = open_ctx(l, s))) {
      link_down(l, "cannot reach a sentinel");
      return;
    }
    handshake(l);
    return;
  }
  if (c->have_direct) {
    l->master = c->direct;
    start_master(l);
  } else {
    start_ask(l);
  }
}

static void up(rlink *l);

/* A published signal, or a sentinel's +switch-master. */
static void sub_cb(redisAsyncContext *ac, void *r, void *priv) {
  rlink *l = priv;
  redisReply *rep = r;
  if (!rep || !ac->data || l->ac != ac) return;
  if (rep->type != REDIS_REPLY_ARRAY || rep->elements < 3) return;
  const char *what = rep->element[0]->str ? rep->element[0]->str : "";
  if (strcmp(what, "subscribe") == 0) {
    answered(l);
    if (l->kind == LINK_SUB) {
      up(l);
    } else {
      l->st = L_UP;
      l->backoff_ms = 0;
    }
    return;
  }
  if (strcmp(what, "message") != 0 || rep->element[2]->type != REDIS_REPLY_STRING) return;
  acs_coord *c = l->w->c;
  const char *msg = rep->element[2]->str;
  if (l->kind == LINK_WATCH) {
    /* "<name> <old ip> <old port> <new ip> <new port>" */
    size_t nl = strlen(c->master_name);
    addr to;
    if (strncmp(msg, c->master_name, nl) == 0 && msg[nl] == ' ' &&
        sscanf(msg + nl + 1, "%*s %*d %255s %d", to.host, &to.port) == 2) {
      acs_log(ACS_LOG_WARN, "coord", "sentinel: +switch-master %s", msg);
      /* straight to the new master: a sentinel asked now may not know yet,
       * and the old master takes writes until the sentinels demote it */
      uv_mutex_lock(&c->lock);
      c->switched = to;
      uv_mutex_unlock(&c->lock);
      acs_coord_failover(c);
    }
    return;
  }
  bump(&c->signals_in);
  /* "INSTANCE KIND PAYLOAD" */
  char inst[64], kind[64];
  int off = 0;
  if (sscanf(msg, "%63s %63s %n", inst, kind, &off) < 2) return;
  if (c->on_signal) c->on_signal(inst, kind, msg + off, c->signal_arg);
}

static void up(rlink *l) {
  if (l->kind == LINK_CMD && l->st != L_UP)
    atomic_fetch_add_explicit(&l->w->c->workers_up, 1, memory_order_relaxed);
  l->st = L_UP;
  l->backoff_ms = 0;
  bump(&l->w->c->connects);
  acs_log(ACS_LOG_INFO, "coord", "worker %u: Redis %s connection up (%s:%d)", l->w->index,
          link_name(l), l->master.host, l->master.port);
}

/* ROLE: a master, or ask again (a sentinel's answer can be stale). */
static void role_cb(redisAsyncContext *ac, void *r, void *priv) {
  rlink *l = priv;
  redisReply *rep = r;
  if (!ac->data || l->ac != ac) return;
  answered(l);
  if (!rep || rep->type != REDIS_REPLY_ARRAY || rep->elements < 1 ||
      rep->element[0]->type != REDIS_REPLY_STRING || strcmp(rep->element[0]->str, "master") != 0) {
    link_drop(l, rep && rep->type == REDIS_REPLY_ERROR ? rep->str : "not a master");
    return;
  }
  if (l->kind == LINK_SUB) {
    sent(l);
    if (redisAsyncCommand(ac, sub_cb, l, "SUBSCRIBE " SIGNAL_CHANNEL) != REDIS_OK)
      link_drop(l, "cannot subscribe");
    return;
  }
  up(l);
}

static void auth_cb(redisAsyncContext *ac, void *r, void *priv) {
  rlink *l = priv;
  redisReply *rep = r;
  if (!ac->data || l->ac != ac) return;
  answered(l);
  if (!rep || rep->type == REDIS_REPLY_ERROR) link_drop(l, rep ? rep->str : "AUTH failed");
}

static void handshake(rlink *l) {
  acs_coord *c = l->w->c;
  l->st = L_HANDSHAKE;
  /* sentinels of this setup have no password of their own */
  if (c->password && l->kind != LINK_WATCH) {
    sent(l);
    redisAsyncCommand(l->ac, auth_cb, l, "AUTH %s", c->password);
  }
  sent(l);
  int rc;
  if (l->kind == LINK_WATCH) {
    l->master.port = 0;
    rc = redisAsyncCommand(l->ac, sub_cb, l, "SUBSCRIBE +switch-master");
  } else {
    rc = redisAsyncCommand(l->ac, role_cb, l, "ROLE");
  }
  if (rc != REDIS_OK) link_drop(l, "cannot send");
}

/* --- the worker */

static int command(acs_coord_worker *w, int op, acs_coord_lock_cb cb, void *arg, int argc,
                   const char **argv);

static void handle_closed(uv_handle_t *h);

/* Stopping: the command connection's last replies (the sessions' unlocks)
 * come, or the deadline passes; then the handles close. */
static void stop_check(acs_coord_worker *w) {
  rlink *l = &w->links[LINK_CMD];
  if (w->tick_closed || (l->ac && now_ms(w) < w->stop_deadline)) return;
  link_drop(l, NULL);
  w->tick_closed = true;
  uv_close((uv_handle_t *)&w->tick, handle_closed);
}

static void tick_cb(uv_timer_t *t) {
  acs_coord_worker *w = t->data;
  uint64_t now = now_ms(w);
  if (w->stopping) {
    stop_check(w);
    return;
  }
  for (int k = 0; k < NLINKS; k++) {
    rlink *l = &w->links[k];
    if (!l->enabled) continue;
    if (l->st == L_DOWN) {
      if (now >= l->retry_at) link_start(l);
    } else if (l->inflight && now - l->progress_at > REPLY_TIMEOUT_MS) {
      link_drop(l, "no reply in time");
    } else if (k == LINK_CMD && l->st == L_UP && !l->inflight && now - l->progress_at > 1000) {
      /* an idle connection proves itself, so that a frozen master is
       * noticed before a session needs it */
      const char *argv[] = {"PING"};
      command(w, 5, NULL, NULL, 1, argv);
    }
  }
}

static void failover_cb(uv_async_t *a) {
  acs_coord_worker *w = a->data;
  if (!atomic_exchange(&w->failover_pending, false) || w->stopping) return;
  addr to;
  uv_mutex_lock(&w->c->lock);
  to = w->c->switched;
  uv_mutex_unlock(&w->c->lock);
  for (int k = 0; k < NLINKS; k++) {
    rlink *l = &w->links[k];
    if (!l->enabled || k == LINK_WATCH) continue;
    if (l->st != L_DOWN) link_drop(l, "the master changed");
    if (to.port) {
      l->master = to;
      start_master(l); /* ROLE still checks it */
    } else {
      l->retry_at = 0; /* ask the sentinels at the next tick */
    }
  }
}

void acs_coord_failover(acs_coord *c) {
  bump(&c->failovers);
  uv_mutex_lock(&c->lock);
  for (acs_coord_worker *w = c->workers; w; w = w->next) {
    atomic_store(&w->failover_pending, true);
    uv_async_send(&w->failover);
  }
  uv_mutex_unlock(&c->lock);
}

int acs_coord_worker_start(acs_coord *c, uv_loop_t *loop, unsigned index, acs_coord_worker **out) {
  acs_coord_worker *w = calloc(1, sizeof *w);
  if (!w) return ACS_ENOMEM;
  w->c = c;
  w->loop = loop;
  w->index = index;
  for (int k = 0; k < NLINKS; k++) {
    w->links[k].w = w;
    w->links[k].kind = (link_kind)k;
  }
  w->links[LINK_CMD].enabled = true;
  w->links[LINK_SUB].enabled = index == 0 && c->on_signal;
  w->links[LINK_WATCH].enabled = index == 0 && c->nsentinels > 0;
  uv_timer_init(loop, &w->tick);
  w->tick.data = w;
  uv_async_init(loop, &w->failover, failover_cb);
  w->failover.data = w;
  w->open_handles = 2;
  uv_timer_start(&w->tick, tick_cb, TICK_MS, TICK_MS);
  uv_mutex_lock(&c->lock);
  w->next = c->workers;
  c->workers = w;
  uv_mutex_unlock(&c->lock);
  atomic_fetch_add_explicit(&c->workers_n, 1, memory_order_relaxed);
  for (int k = 0; k < NLINKS; k++)
    if (w->links[k].enabled) link_start(&w->links[k]);
  *out = w;
  return 0;
}

static void handle_closed(uv_handle_t *h) {
  acs_coord_worker *w = h->data;
  if (--w->open_handles == 0) free(w);
}

void acs_coord_worker_stop(acs_coord_worker *w) {
  if (!w) return;
  acs_coord *c = w->c;
  w->stopping = true;
  atomic_fetch_sub_explicit(&c->workers_n, 1, memory_order_relaxed);
  uv_mutex_lock(&c->lock);
  for (acs_coord_worker **pp = &c->workers; *pp; pp = &(*pp)->next) {
    if (*pp == w) {
      *pp = w->next;
      break;
    }
  }
  uv_mutex_unlock(&c->lock);
  w->stop_deadline = now_ms(w) + 1000;
  for (int k = 0; k < NLINKS; k++) {
    rlink *l = &w->links[k];
    if (k == LINK_CMD && l->ac && l->st == L_UP) {
      redisAsyncDisconnect(l->ac); /* after the replies of what was sent */
      continue;
    }
    link_drop(l, NULL);
  }
  uv_close((uv_handle_t *)&w->failover, handle_closed);
  stop_check(w);
}

bool acs_coord_worker_up(const acs_coord_worker *w) { return w && w->links[LINK_CMD].st == L_UP; }

/* --- locks and signals */

static void req_cb(redisAsyncContext *ac, void *r, void *priv) {
  req *q = priv;
  redisReply *rep = r;
  rlink *l = q->l;
  acs_coord *c = l->w->c;
  int status = ACS_ECOORD;
  int64_t token = 0;
  if (!ac->data) {
    status = l->w->stopping ? ACS_ECANCELED : ACS_ECOORD;
    rep = NULL;
  } else {
    answered(l);
  }
  if (rep && rep->type == REDIS_REPLY_ERROR) {
    acs_log(ACS_LOG_WARN, "coord", "worker %u: Redis: %s", l->w->index, rep->str);
    if (strncmp(rep->str, "READONLY", 8) == 0) link_drop(l, "the master became a replica");
  } else if (rep && q->op == 0 && rep->type == REDIS_REPLY_ARRAY && rep->elements == 2) {
    if (rep->element[0]->integer == 1 && rep->element[1]->type == REDIS_REPLY_STRING) {
      token = strtoll(rep->element[1]->str, NULL, 10);
      status = 0;
      bump(&c->locks);
    } else {
      status = ACS_EAGAIN;
      bump(&c->lock_busy);
    }
  } else if (rep && rep->type == REDIS_REPLY_INTEGER) {
    status = rep->integer == 1 ? 0 : ACS_EAGAIN;
    if (q->op == 1 && status) bump(&c->lock_lost);
  }
  if (q->cb) q->cb(status, token, q->arg);
  free(q);
}

static int command(acs_coord_worker *w, int op, acs_coord_lock_cb cb, void *arg, int argc,
                   const char **argv) {
  rlink *l = &w->links[LINK_CMD];
  if (l->st != L_UP || !l->ac) return ACS_ECOORD;
  req *q = calloc(1, sizeof *q);
  if (!q) return ACS_ENOMEM;
  q->l = l;
  q->cb = cb;
  q->arg = arg;
  q->op = op;
  if (redisAsyncCommandArgv(l->ac, req_cb, q, argc, argv, NULL) != REDIS_OK) {
    free(q);
    return ACS_ECOORD;
  }
  sent(l);
  return 0;
}

static void lock_key(char *buf, size_t n, const char *device_id) {
  snprintf(buf, n, "acsd:lock:%s", device_id);
}

int acs_coord_lock(acs_coord_worker *w, const char *device_id, acs_coord_lock_cb cb, void *arg) {
  char key[600], ms[16];
  lock_key(key, sizeof key, device_id);
  snprintf(ms, sizeof ms, "%u", w->c->lock_ms);
  const char *argv[] = {"EVAL", lua_acquire, "2", key, "acsd:fence", ms, w->c->instance_id};
  return command(w, 0, cb, arg, 7, argv);
}

int acs_coord_lock_extend(acs_coord_worker *w, const char *device_id, int64_t token,
                          acs_coord_lock_cb cb, void *arg) {
  char key[600], ms[16], val[128];
  lock_key(key, sizeof key, device_id);
  snprintf(ms, sizeof ms, "%u", w->c->lock_ms);
  snprintf(val, sizeof val, "%lld %s", (long long)token, w->c->instance_id);
  const char *argv[] = {"EVAL", lua_extend, "1", key, val, ms};
  return command(w, 1, cb, arg, 6, argv);
}

void acs_coord_unlock(acs_coord_worker *w, const char *device_id, int64_t token) {
  char key[600], val[128];
  lock_key(key, sizeof key, device_id);
  snprintf(val, sizeof val, "%lld %s", (long long)token, w->c->instance_id);
  const char *argv[] = {"EVAL", lua_release, "1", key, val};
  command(w, 2, NULL, NULL, 5, argv);
}

int acs_coord_publish(acs_coord_worker *w, const char *kind, const char *payload) {
  char msg[1024];
  snprintf(msg, sizeof msg, "%s %s %s", w->c->instance_id, kind, payload ? payload : "");
  const char *argv[] = {"PUBLISH", SIGNAL_CHANNEL, msg};
  return command(w, 3, NULL, NULL, 3, argv);
}
