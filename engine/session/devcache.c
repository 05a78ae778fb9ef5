/* devcache.c: the per-worker device cache (acs_devcache.h): a hash table of
 * entries chained per bucket, and a doubly linked LRU list over them. */
#include <stdlib.h>
#include <string.h>

#include "core/acs_err.h"
#include "session/acs_devcache.h"

typedef struct known_param {
  const char *name, *value; /* into the entry's parameter block */
  acs_cwmp_type type;
  size_t ord; /* position in the Inform: of two with one name, the last counts */
} known_param;

struct acs_devcache_entry {
  acs_devcache_entry *hnext;
  acs_devcache_entry *prev, *next; /* LRU: prev is more recent */
  uint32_t hash;
  int64_t version;
  known_param *params; /* sorted by name; one block with their strings */
  size_t nparams, params_bytes;
  bool has_model;
  acs_dm model;
  size_t model_bytes;
  bool has_ctx;
  acs_devctx ctx;
  size_t ctx_bytes;
  char id[];
};

struct acs_devcache {
  acs_devcache_entry **buckets;
  size_t nbuckets, n;
  acs_devcache_entry *head, *tail;
  size_t bytes, budget;
  acs_devcache_stats st;
};

static uint32_t hash_id(const char *s) {
  uint32_t h = 2166136261u; /* FNV-1a */
  for (; *s; s++) h = (h ^ (uint8_t)*s) * 16777619u;
  return h;
}

static size_t entry_bytes(const acs_devcache_entry *e) {
  return sizeof *e + strlen(e->id) + 1 + e->params_bytes + e->model_bytes + e->ctx_bytes + 32;
}

acs_devcache *acs_devcache_new(size_t budget) {
  acs_devcache *c = calloc(1, sizeof *c);
  if (!c) return NULL;
  c->nbuckets = 1024;
  c->buckets = calloc(c->nbuckets, sizeof *c->buckets);
  if (!c->buckets) {
    free(c);
    return NULL;
  }
  c->budget = budget;
  return c;
}

static void drop_model(acs_devcache *c, acs_devcache_entry *e) {
  if (!e->has_model) return;
  acs_dm_free(&e->model);
  e->has_model = false;
  c->bytes -= e->model_bytes;
  e->model_bytes = 0;
}

static void drop_ctx(acs_devcache *c, acs_devcache_entry *e) {
  if (!e->has_ctx) return;
  acs_devctx_free(&e->ctx);
  e->has_ctx = false;
  c->bytes -= e->ctx_bytes;
  e->ctx_bytes = 0;
}

static void entry_free(acs_devcache_entry *e) {
  if (e->has_model) acs_dm_free(&e->model);
  if (e->has_ctx) acs_devctx_free(&e->ctx);
  free(e->params);
  free(e);
}

void acs_devcache_free(acs_devcache *c) {
  if (!c) return;
  acs_devcache_entry *e = c->head;
  while (e) {
    acs_devcache_entry *next = e->next;
    entry_free(e);
    e = next;
  }
  free(c->buckets);
  free(c);
}

static void lru_unlink(acs_devcache *c, acs_devcache_entry *e) {
  if (e->prev) {
    e->prev->next = e->next;
  } else {
    c->head = e->next;
  }
  if (e->next) {
    e->next->prev = e->prev;
  } else {
    c->tail = e->prev;
  }
  e->prev = e->next = NULL;
}

static void lru_front(acs_devcache *c, acs_devcache_entry *e) {
  e->prev = NULL;
  e->next = c->head;
  if (c->head) c->head->prev = e;
  c->head = e;
  if (!c->tail) c->tail = e;
}

static acs_devcache_entry **slot_of(acs_devcache *c, const char *id, uint32_t h) {
  acs_devcache_entry **p = &c->buckets[h & (c->nbuckets - 1)];
  while (*p && ((*p)->hash != h || strcmp((*p)->id, id) != 0)) p = &(*p)->hnext;
  return p;
}

static void remove_entry(acs_devcache *c, acs_devcache_entry *e) {
  acs_devcache_entry **p = slot_of(c, e->id, e->hash);
  if (*p == e) *p = e->hnext;
  lru_unlink(c, e);
  c->bytes -= entry_bytes(e);
  c->n--;
  entry_free(e);
}

static void grow(acs_devcache *c) {
  size_t nb = c->nbuckets * 2;
  acs_devcache_entry **b = calloc(nb, sizeof *b);
  if (!b) return; /* longer chains, still correct */
  for (size_t i = 0; i < c->nbuckets; i++) {
    acs_devcache_entry *e = c->buckets[i];
    while (e) {
      acs_devcache_entry *next = e->hnext;
      e->hnext = b[e->hash & (nb - 1)];
      b[e->hash & (nb - 1)] = e;
      e = next;
    }
  }
  free(c->buckets);
  c->buckets = b;
  c->nbuckets = nb;
}

/* Evicts from the cold end until the budget holds (keep, the entry just
 * written, is at the front: it goes last, when it alone is too big). */
static void trim(acs_devcache *c) {
  while (c->bytes > c->budget && c->tail) {
    remove_entry(c, c->tail);
    c->st.evictions++;
  }
}

acs_devcache_entry *acs_devcache_get(acs_devcache *c, const char *id) {
  if (!c) return NULL;
  acs_devcache_entry *e = *slot_of(c, id, hash_id(id));
  if (e && e->version) {
    c->st.hits++;
  } else {
    c->st.misses++;
  }
  if (e && c->head != e) {
    lru_unlink(c, e);
    lru_front(c, e);
  }
  return e;
}

int64_t acs_devcache_version(const acs_devcache_entry *e) { return e ? e->version : 0; }


bool acs_devcache_known(const acs_devcache_entry *e, const char *name, const char *value,
                        acs_cwmp_type type) {
  if (!e || !e->version || !name) return false;
  size_t lo = 0, hi = e->nparams;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    int cmp = strcmp(e->params[mid].name, name);
    if (cmp == 0)
      return e->params[mid].type == type && strcmp(e->params[mid].value, value ? value : "") == 0;
    if (cmp < 0) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  return false;
}

static int param_cmp(const void *a, const void *b) {
  const known_param *x = a, *y = b;
  int c = strcmp(x->name, y->name);
  if (c) return c;
  return x->ord < y->ord ? -1 : x->ord > y->ord;
}

/* The Inform's parameters as one block: the sorted array, then the strings;
 * of two with one name the last is kept, as the store keeps it. */
static known_param *pack_params(const acs_cwmp_param_values *pv, size_t *n_out, size_t *bytes) {
  size_t n = 0, strs = 0;
  for (size_t i = 0; i < pv->n; i++) {
    if (!pv->v[i].name) continue;
    n++;
    strs += strlen(pv->v[i].name) + 1 + strlen(pv->v[i].value ? pv->v[i].value : "") + 1;
  }
  *n_out = 0;
  *bytes = 0;
  if (n == 0) return NULL;
  known_param *kp = malloc(n * sizeof *kp + strs);
  if (!kp) return NULL;
  char *p = (char *)(kp + n);
  size_t k = 0;
  for (size_t i = 0; i < pv->n; i++) {
    if (!pv->v[i].name) continue;
    const char *v = pv->v[i].value ? pv->v[i].value : "";
    size_t nl = strlen(pv->v[i].name) + 1, vl = strlen(v) + 1;
    memcpy(p, pv->v[i].name, nl);
    kp[k].name = p;
    p += nl;
    memcpy(p, v, vl);
    kp[k].value = p;
    p += vl;
    kp[k].type = pv->v[i].type;
    kp[k].ord = i;
    k++;
  }
  qsort(kp, n, sizeof *kp, param_cmp);
  size_t out = 0;
  for (size_t i = 0; i < n; i++) {
    if (i + 1 < n && strcmp(kp[i].name, kp[i + 1].name) == 0) continue;
    kp[out++] = kp[i];
  }
  *n_out = out;
  *bytes = n * sizeof *kp + strs;
  return kp;
}

int acs_devcache_informed(acs_devcache *c, const char *id, int64_t version, bool stale,
                          const acs_cwmp_param_values *params) {
  if (!c) return 0;
  uint32_t h = hash_id(id);
  acs_devcache_entry **slot = slot_of(c, id, h);
  acs_devcache_entry *e = *slot;
  if (stale && e && e->version) c->st.stale++; /* a version sent, not confirmed */
  size_t np = 0, pbytes = 0;
  known_param *kp = pack_params(params, &np, &pbytes);
  if (params->n && !kp) {
    if (e) remove_entry(c, e);
    return ACS_ENOMEM;
  }
  if (!e) {
    size_t idl = strlen(id) + 1;
    e = calloc(1, sizeof *e + idl);
    if (!e) {
      free(kp);
      return ACS_ENOMEM;
    }
    memcpy(e->id, id, idl);
    e->hash = h;
    e->hnext = NULL;
    *slot = e;
    c->n++;
    c->bytes += entry_bytes(e);
    lru_front(c, e);
    if (c->n > c->nbuckets) grow(c);
  } else {
    c->bytes -= e->params_bytes;
    free(e->params);
    if (stale) {
      drop_model(c, e);
      drop_ctx(c, e);
    }
    lru_unlink(c, e);
    lru_front(c, e);
  }
  e->params = kp;
  e->nparams = np;
  e->params_bytes = pbytes;
  c->bytes += pbytes;
  e->version = version;
  trim(c);
  return 0;
}

bool acs_devcache_take_model(acs_devcache *c, const char *id, int64_t version, acs_dm *dm) {
  if (!c) return false;
  acs_devcache_entry *e = *slot_of(c, id, hash_id(id));
  if (!e || !e->has_model || e->version != version || !version) return false;
  *dm = e->model;
  acs_dm_init(&e->model);
  e->has_model = false;
  c->bytes -= e->model_bytes;
  e->model_bytes = 0;
  c->st.model_hits++;
  return true;
}

static size_t model_bytes(acs_dm *dm) {
  acs_dm_forget_absent(dm); /* a 9005 is asked again next session, as from the store */
  if (dm->cap > dm->n && dm->n) { /* kept, it does not grow: give back the spare room */
    acs_dm_param *v = realloc(dm->v, dm->n * sizeof *v);
    if (v) {
      dm->v = v;
      dm->cap = dm->n;
    }
  }
  size_t b = dm->cap * sizeof *dm->v;
  for (size_t i = 0; i < dm->n; i++) {
    acs_dm_param *p = &dm->v[i];
    p->fresh = false; /* in the store now, as the version says */
    if (p->own_name) b += strlen(p->name) + 1 + 16; /* else shared by the worker's models */
    if (p->value) b += strlen(p->value) + 1 + 16;
  }
  return b;
}

void acs_devcache_keep_model(acs_devcache *c, const char *id, int64_t version, acs_dm *dm) {
  acs_devcache_entry *e = c ? *slot_of(c, id, hash_id(id)) : NULL;
  if (!e || !version || e->version != version || !c->budget) {
    acs_dm_free(dm);
    return;
  }
  drop_model(c, e);
  lru_unlink(c, e);
  lru_front(c, e);
  e->model = *dm;
  acs_dm_init(dm);
  e->has_model = true;
  e->model_bytes = model_bytes(&e->model);
  c->bytes += e->model_bytes;
  trim(c);
}

bool acs_devcache_take_ctx(acs_devcache *c, const char *id, int64_t version, acs_devctx *ctx) {
  if (!c) return false;
  acs_devcache_entry *e = *slot_of(c, id, hash_id(id));
  if (!e || !e->has_ctx || e->version != version || !version) return false;
  *ctx = e->ctx;
  e->ctx = (acs_devctx)ACS_DEVCTX_INIT;
  e->has_ctx = false;
  c->bytes -= e->ctx_bytes;
  e->ctx_bytes = 0;
  c->st.ctx_hits++;
  return true;
}

void acs_devcache_keep_ctx(acs_devcache *c, const char *id, int64_t version, acs_devctx *ctx) {
  acs_devcache_entry *e = c ? *slot_of(c, id, hash_id(id)) : NULL;
  if (!e || !version || e->version != version || !c->budget || !ctx->json) {
    acs_devctx_free(ctx);
    return;
  }
  drop_ctx(c, e);
  lru_unlink(c, e);
  lru_front(c, e);
  e->ctx = *ctx;
  *ctx = (acs_devctx)ACS_DEVCTX_INIT;
  e->has_ctx = true;
  e->ctx_bytes = acs_devctx_bytes(&e->ctx);
  c->bytes += e->ctx_bytes;
  trim(c);
}

void acs_devcache_forget(acs_devcache *c, const char *id) {
  if (!c) return;
  acs_devcache_entry *e = *slot_of(c, id, hash_id(id));
  if (e) remove_entry(c, e);
}

void acs_devcache_get_stats(const acs_devcache *c, acs_devcache_stats *st) {
  if (!c) {
    memset(st, 0, sizeof *st);
    return;
  }
  *st = c->st;
  st->entries = c->n;
  st->bytes = c->bytes;
  st->budget = c->budget;
}
