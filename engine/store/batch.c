/* batch.c: group commit without a timer (acs_store.h, docs/storage.md).
 *
 * Items wait in a FIFO. When no transaction is in flight, the idle phase
 * (the loop iteration after the one in which something was submitted: an
 * active idle handle keeps the loop from blocking) or the
 * previous transaction's sync takes up to max_items of them, sorts them by
 * key, has each build its statements into one sync group, and sends it.
 * Whatever is submitted while that transaction is in flight waits and forms
 * the next one, so the number of transactions follows the database's
 * latency, not the number of submissions.
 *
 * A transaction that fails with a server error is not the end for its
 * items: acs_pg reports which statement failed, so the item that appended it
 * fails alone and the others are retried together at once. When no statement
 * is to blame (the COMMIT failed), the items are split in halves and each
 * half retried, down to single items. Deadlocks and serialization failures
 * (SQLSTATE class 40) retry the same transaction up to three times first.
 * Retries go before new items. Connection failures are not retried. */
#include <stdlib.h>
#include <string.h>

#include "core/acs_err.h"
#include "core/acs_log.h"
#include "store/acs_store.h"

typedef struct bitem {
  struct bitem *next;
  char *key;
  unsigned long long seq;
  acs_store_build_fn build;
  acs_store_done_cb done;
  void *arg;
  int nstmts; /* statements appended by the last build */
  int status; /* for the told list */
  uint64_t submitted_ns;
} bitem;

typedef struct bgroup {
  struct bgroup *next;
  size_t n;
  int attempts; /* class-40 retries */
  bitem *items[];
} bgroup;

struct acs_store_batch {
  acs_pg *c;
  acs_store_batch_opts o;
  uv_idle_t prep;
  bool prep_active;
  bool freeing;
  bool prep_closed;
  bitem *wait_head, *wait_tail;
  size_t nwait;
  bgroup *retry; /* LIFO of groups to retry (pushed in the order they run) */
  bgroup *cur;   /* in flight */
  bitem *told_head, *told_tail;
  unsigned long long seq;
  acs_store_batch_stats st;
};

static void batch_start(acs_store_batch *b);

static void item_free(bitem *it) {
  free(it->key);
  free(it);
}

/* Tells an item now (the caller runs from the loop, not from submit). */
static void tell(acs_store_batch *b, bitem *it, int status, const acs_pg_result *r) {
  acs_pg_result local = {status, status ? acs_strerror(status) : NULL, NULL, "", 0, 0, -1, NULL};
  if (status) b->st.failed_items++;
  it->done(status, r ? r : &local, it->arg);
  item_free(it);
}

static void batch_prep_cb(uv_idle_t *h);

static void batch_kick(acs_store_batch *b) {
  if (b->prep_active || b->freeing) return;
  uv_idle_start(&b->prep, batch_prep_cb);
  b->prep_active = true;
}

/* Tells an item later, from the idle phase. */
static void tell_later(acs_store_batch *b, bitem *it, int status) {
  it->status = status;
  it->next = NULL;
  if (b->told_tail) {
    b->told_tail->next = it;
  } else {
    b->told_head = it;
  }
  b->told_tail = it;
  batch_kick(b);
}

static void run_told(acs_store_batch *b) {
  bitem *it;
  while ((it = b->told_head)) {
    b->told_head = it->next;
    if (!b->told_head) b->told_tail = NULL;
    tell(b, it, it->status, NULL);
  }
}

static bgroup *group_new(size_t n) {
  bgroup *g = calloc(1, sizeof *g + n * sizeof(bitem *));
  if (g) g->n = n;
  return g;
}

static int item_cmp(const void *a, const void *b) {
  const bitem *x = *(bitem *const *)a, *y = *(bitem *const *)b;
  int c = strcmp(x->key ? x->key : "", y->key ? y->key : "");
  if (c) return c;
  return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* The next transaction's items: a retry first, else the waiting ones. */
static bgroup *next_group(acs_store_batch *b) {
  if (b->retry) {
    bgroup *g = b->retry;
    b->retry = g->next;
    g->next = NULL;
    return g;
  }
  if (!b->wait_head) return NULL;
  size_t n = b->nwait < b->o.max_items ? b->nwait : b->o.max_items;
  bgroup *g = group_new(n);
  if (!g) return NULL; /* retried at the next kick */
  for (size_t i = 0; i < n; i++) {
    bitem *it = b->wait_head;
    b->wait_head = it->next;
    it->next = NULL;
    g->items[i] = it;
  }
  if (!b->wait_head) b->wait_tail = NULL;
  b->nwait -= n;
  qsort(g->items, n, sizeof g->items[0], item_cmp);
  return g;
}

static void group_remove(bgroup *g, size_t i) {
  memmove(&g->items[i], &g->items[i + 1], (g->n - i - 1) * sizeof g->items[0]);
  g->n--;
}

static void sync_cb(acs_pg_result *r, void *arg);

/* Builds g into one sync group and sends it; 0 when it is in flight. An
 * item whose build fails is dropped (told later) and the group rebuilt
 * without it, since its partial statements cannot be taken back. */
static int group_send(acs_store_batch *b, bgroup *g) {
  int rc;
again:
  if (g->n == 0) return ACS_EINVAL;
  rc = acs_pg_begin_batch(b->c, 0);
  if (rc) return rc;
  for (size_t i = 0; i < g->n; i++) {
    bitem *it = g->items[i];
    size_t before = acs_pg_queue_depth(b->c);
    rc = it->build(b->c, it->arg);
    it->nstmts = (int)(acs_pg_queue_depth(b->c) - before);
    if (rc) {
      acs_pg_abort_batch(b->c);
      group_remove(g, i);
      tell_later(b, it, rc);
      goto again;
    }
  }
  rc = acs_pg_sync(b->c, sync_cb, b);
  if (rc) {
    acs_pg_abort_batch(b->c);
    return rc;
  }
  b->cur = g;
  b->st.transactions++;
  return 0;
}

static void batch_start(acs_store_batch *b) {
  bgroup *g;
  while (!b->cur && !b->freeing && (g = next_group(b))) {
    int rc = group_send(b, g);
    if (rc == 0) return;
    for (size_t i = 0; i < g->n; i++) tell_later(b, g->items[i], rc);
    free(g);
  }
}

static void push_retry(acs_store_batch *b, bgroup *g) {
  g->next = b->retry;
  b->retry = g;
}

/* Splits a failed group (see the top of the file); takes g. */
static void group_failed(acs_store_batch *b, bgroup *g, const acs_pg_result *r) {
  bool transient = strncmp(r->sqlstate, "40", 2) == 0;
  if (transient && g->attempts < 3) {
    g->attempts++;
    push_retry(b, g);
    return;
  }
  if (g->n == 1) {
    tell(b, g->items[0], ACS_EPG, r);
    free(g);
    return;
  }
  b->st.splits++;
  if (r->failed_index >= 0) {
    int pos = 0;
    for (size_t i = 0; i < g->n; i++) {
      pos += g->items[i]->nstmts;
      if (r->failed_index < pos) {
        bitem *bad = g->items[i];
        group_remove(g, i);
        g->attempts = 0;
        push_retry(b, g); /* the others, together, next */
        tell(b, bad, ACS_EPG, r);
        return;
      }
    }
  }
  size_t half = g->n / 2;
  bgroup *second = group_new(g->n - half);
  if (!second) { /* cannot split: tell them all */
    for (size_t i = 0; i < g->n; i++) tell(b, g->items[i], ACS_EPG, r);
    free(g);
    return;
  }
  memcpy(second->items, g->items + half, second->n * sizeof g->items[0]);
  g->n = half;
  g->attempts = 0;
  push_retry(b, second); /* LIFO: the first half runs first */
  push_retry(b, g);
}

static void maybe_finish(acs_store_batch *b) {
  if (!b->freeing || !b->prep_closed || b->cur) return;
  run_told(b);
  free(b);
}

static void sync_cb(acs_pg_result *r, void *arg) {
  acs_store_batch *b = arg;
  bgroup *g = b->cur;
  b->cur = NULL;
  if (r->status == 0) {
    b->st.items += g->n;
    for (size_t i = 0; i < g->n; i++) tell(b, g->items[i], 0, r);
    free(g);
  } else if (r->status == ACS_EPG && !b->freeing) {
    group_failed(b, g, r);
  } else {
    for (size_t i = 0; i < g->n; i++) tell(b, g->items[i], r->status, r);
    free(g);
  }
  if (b->freeing) {
    maybe_finish(b);
    return;
  }
  batch_start(b);
}

static void batch_prep_cb(uv_idle_t *h) {
  acs_store_batch *b = h->data;
  run_told(b);
  batch_start(b);
  run_told(b); /* items whose build failed just now */
  if (!b->freeing && !b->told_head) {
    uv_idle_stop(&b->prep);
    b->prep_active = false;
  }
}

int acs_store_batch_new(acs_pg *c, const acs_store_batch_opts *opts, acs_store_batch **out) {
  acs_store_batch *b = calloc(1, sizeof *b);
  *out = NULL;
  if (!b) return ACS_ENOMEM;
  b->c = c;
  b->o.max_items = opts && opts->max_items ? opts->max_items : 256;
  uv_idle_init(acs_pg_loop(c), &b->prep);
  b->prep.data = b;
  *out = b;
  return 0;
}

int acs_store_batch_submit(acs_store_batch *b, const char *key, unsigned flags,
                           acs_store_build_fn build, acs_store_done_cb done, void *arg) {
  if (!b || !build || !done) return ACS_EINVAL;
  if (b->freeing) return ACS_ESTATE;
  if ((flags & ACS_PG_FAILFAST) && !acs_pg_is_up(b->c)) return ACS_EUNAVAILABLE;
  bitem *it = calloc(1, sizeof *it);
  if (!it) return ACS_ENOMEM;
  if (key && !(it->key = strdup(key))) {
    free(it);
    return ACS_ENOMEM;
  }
  it->seq = b->seq++;
  it->submitted_ns = uv_hrtime();
  it->build = build;
  it->done = done;
  it->arg = arg;
  if (b->wait_tail) {
    b->wait_tail->next = it;
  } else {
    b->wait_head = it;
  }
  b->wait_tail = it;
  b->nwait++;
  if (!b->cur) batch_kick(b);
  return 0;
}

uint64_t acs_store_batch_wait_us(const acs_store_batch *b) {
  if (!b->wait_head) return 0;
  return (uv_hrtime() - b->wait_head->submitted_ns) / 1000;
}

size_t acs_store_batch_depth(const acs_store_batch *b) {
  size_t n = b->nwait + (b->cur ? b->cur->n : 0);
  for (const bgroup *g = b->retry; g; g = g->next) n += g->n;
  return n;
}

void acs_store_batch_get_stats(const acs_store_batch *b, acs_store_batch_stats *st) { *st = b->st; }

static void batch_prep_closed_cb(uv_handle_t *h) {
  acs_store_batch *b = h->data;
  b->prep_closed = true;
  maybe_finish(b);
}

void acs_store_batch_free(acs_store_batch *b) {
  if (!b || b->freeing) return;
  b->freeing = true;
  bitem *it;
  while ((it = b->wait_head)) {
    b->wait_head = it->next;
    tell_later(b, it, ACS_ECANCELED);
  }
  b->wait_tail = NULL;
  b->nwait = 0;
  bgroup *g;
  while ((g = b->retry)) {
    b->retry = g->next;
    for (size_t i = 0; i < g->n; i++) tell_later(b, g->items[i], ACS_ECANCELED);
    free(g);
  }
  uv_close((uv_handle_t *)&b->prep, batch_prep_closed_cb);
}
