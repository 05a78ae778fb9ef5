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
 * Retries go before new items. Connection failures are not retried.
 *
 * Set statements (acs_store.h): while a group is built, the rows its items
 * add are appended to one text-array literal per column; once every item
 * has queued its own statements, each set statement goes out with those
 * arrays, and its result rows are dealt to the items by their position. A
 * set statement that fails names no item (its index is past theirs), so
 * its group is split in halves like a failed COMMIT. */
#include <stdio.h>
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

#define MAX_SETS 4
#define MAX_SET_COLS 32

typedef struct setref {
  acs_store_row_fn fn;
  void *arg;
} setref;

/* One set statement of the group being built (and then in flight). */
typedef struct setacc {
  const acs_store_set_def *def;
  int ncols, first_col[ACS_STORE_SET_GROUPS];
  size_t nrows[ACS_STORE_SET_GROUPS];
  acs_buf cols[MAX_SET_COLS];
  setref *refs;
  size_t nrefs, caprefs;
  const char *last_key;
} setacc;

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
  bitem *building; /* the item whose build function runs */
  setacc sets[MAX_SETS];
  int nsets;
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

static void set_cb(acs_pg_result *r, void *arg) {
  setacc *a = arg;
  if (r->status) return;
  for (int i = 0; i < r->ntuples; i++) {
    long ord = strtol(acs_pg_getvalue(r, i, 0), NULL, 10);
    if (ord < 1 || (size_t)ord > a->nrefs) continue;
    const setref *ref = &a->refs[ord - 1];
    if (ref->fn) ref->fn(r, i, ref->arg);
  }
}

static void sets_reset(acs_store_batch *b) {
  for (int i = 0; i < b->nsets; i++) {
    setacc *a = &b->sets[i];
    for (int j = 0; j < a->ncols; j++) acs_buf_reset(&a->cols[j]);
    memset(a->nrows, 0, sizeof a->nrows);
    a->nrefs = 0;
    a->last_key = NULL;
    a->def = NULL;
  }
  b->nsets = 0;
}

static void sets_free(acs_store_batch *b) {
  for (int i = 0; i < MAX_SETS; i++) {
    for (int j = 0; j < MAX_SET_COLS; j++) acs_buf_free(&b->sets[i].cols[j]);
    free(b->sets[i].refs);
  }
}

static setacc *set_find(acs_store_batch *b, const acs_store_set_def *def, bool add) {
  for (int i = 0; i < b->nsets; i++)
    if (b->sets[i].def == def) return &b->sets[i];
  if (!add || b->nsets == MAX_SETS) return NULL;
  setacc *a = &b->sets[b->nsets];
  int n = 0;
  for (int g = 0; g < def->ngroups; g++) {
    a->first_col[g] = n;
    n += def->ncols[g];
  }
  if (n > MAX_SET_COLS) return NULL;
  a->def = def;
  a->ncols = n;
  b->nsets++;
  return a;
}

static int set_add(setacc *a, int group, const char *const *values) {
  for (int j = 0; j < a->def->ncols[group]; j++) {
    acs_buf *col = &a->cols[a->first_col[group] + j];
    acs_buf_putc(col, a->nrows[group] ? ',' : '{');
    acs_pg_array_elem(col, values[j]);
    if (acs_buf_err(col)) return ACS_ENOMEM;
  }
  a->nrows[group]++;
  return 0;
}

int acs_store_batch_set_item(acs_store_batch *b, const acs_store_set_def *def,
                             const char *const *values, acs_store_row_fn fn, void *arg) {
  if (!b || !b->building || !def || def->ngroups < 1 || def->ngroups > ACS_STORE_SET_GROUPS)
    return ACS_ESTATE;
  setacc *a = set_find(b, def, true);
  if (!a) return ACS_EINVAL;
  const char *key = b->building->key ? b->building->key : "";
  if (def->unique_key && a->last_key && strcmp(a->last_key, key) == 0) return ACS_EAGAIN;
  if (a->nrefs == a->caprefs) {
    size_t cap = a->caprefs ? a->caprefs * 2 : 64;
    setref *v = realloc(a->refs, cap * sizeof *v);
    if (!v) return ACS_ENOMEM;
    a->refs = v;
    a->caprefs = cap;
  }
  int rc = set_add(a, 0, values);
  if (rc) return rc;
  a->refs[a->nrefs++] = (setref){fn, arg};
  a->last_key = key;
  return 0;
}

int acs_store_batch_set_row(acs_store_batch *b, const acs_store_set_def *def, int group,
                            const char *const *values) {
  if (!b || !b->building) return ACS_ESTATE;
  setacc *a = set_find(b, def, false);
  if (!a || group < 1 || group >= def->ngroups) return ACS_EINVAL;
  return set_add(a, group, values);
}

/* The set statements of the group built, after the items' own. */
static int sets_send(acs_store_batch *b) {
  for (int i = 0; i < b->nsets; i++) {
    setacc *a = &b->sets[i];
    const char *params[MAX_SET_COLS];
    for (int g = 0; g < a->def->ngroups; g++) {
      for (int j = 0; j < a->def->ncols[g]; j++) {
        acs_buf *col = &a->cols[a->first_col[g] + j];
        acs_buf_puts(col, a->nrows[g] ? "}" : "{}");
        if (acs_buf_err(col)) return ACS_ENOMEM;
        params[a->first_col[g] + j] = col->data;
      }
    }
    int rc = acs_pg_query(b->c, a->def->sql, a->ncols, params, 0, set_cb, a);
    if (rc) return rc;
    b->st.set_statements++;
    b->st.set_items += a->nrefs;
  }
  return 0;
}

/* An item that must wait for the next transaction goes back to the head of
 * the queue. */
static void defer(acs_store_batch *b, bitem *it) {
  it->next = b->wait_head;
  b->wait_head = it;
  if (!b->wait_tail) b->wait_tail = it;
  b->nwait++;
}

/* Builds g into one sync group and sends it; 0 when it is in flight. An
 * item whose build fails is dropped (told later) and the group rebuilt
 * without it, since its partial statements cannot be taken back. */
static int group_send(acs_store_batch *b, bgroup *g) {
  int rc;
again:
  if (g->n == 0) return ACS_EINVAL;
  sets_reset(b);
  rc = acs_pg_begin_batch(b->c, 0);
  if (rc) return rc;
  for (size_t i = 0; i < g->n; i++) {
    bitem *it = g->items[i];
    size_t before = acs_pg_queue_depth(b->c);
    b->building = it;
    rc = it->build(b->c, it->arg);
    b->building = NULL;
    it->nstmts = (int)(acs_pg_queue_depth(b->c) - before);
    if (rc) {
      acs_pg_abort_batch(b->c);
      group_remove(g, i);
      if (rc == ACS_EAGAIN) {
        defer(b, it);
      } else {
        tell_later(b, it, rc);
      }
      goto again;
    }
  }
  rc = sets_send(b);
  if (rc == 0) rc = acs_pg_sync(b->c, sync_cb, b);
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
  sets_free(b);
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
