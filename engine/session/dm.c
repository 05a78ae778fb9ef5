/* dm.c: a device's data model during a session (acs_plan.h): a sorted array
 * of parameters and objects, so that everything under an object is one
 * contiguous range found by binary search. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/acs_err.h"
#include "session/acs_plan.h"

void acs_dm_init(acs_dm *dm) { memset(dm, 0, sizeof *dm); }

/* Paths are interned per thread: every device of a model has the same
 * 1,000+ names, so a model (a session's, or one the worker's device cache
 * keeps) points into one copy of them instead of holding its own. A
 * model never leaves the worker thread that made it (sessions and the
 * device cache are per worker). The table only grows, up to INTERN_MAX
 * bytes of names per thread (names a CPE made up cannot grow it past
 * that); past it, and for long names, a model owns its copy. */
#define INTERN_MAX ((size_t)32 << 20)
#define INTERN_BLOCK ((size_t)64 << 10)
#define INTERN_LONGEST 512

typedef struct intern_tab {
  const char **slot;
  size_t cap, n, bytes;
  char *blk;
  size_t left;
  void *blocks; /* each block begins with a pointer to the one before */
} intern_tab;

static _Thread_local intern_tab tl_paths;

static uint32_t path_hash(const char *s, size_t len) {
  uint32_t h = 2166136261u; /* FNV-1a */
  for (size_t i = 0; i < len; i++) h = (h ^ (uint8_t)s[i]) * 16777619u;
  return h;
}

static bool intern_grow(intern_tab *t) {
  size_t cap = t->cap ? t->cap * 2 : 4096;
  const char **slot = calloc(cap, sizeof *slot);
  if (!slot) return false;
  for (size_t i = 0; i < t->cap; i++) {
    if (!t->slot[i]) continue;
    size_t j = path_hash(t->slot[i], strlen(t->slot[i])) & (cap - 1);
    while (slot[j]) j = (j + 1) & (cap - 1);
    slot[j] = t->slot[i];
  }
  free(t->slot);
  t->slot = slot;
  t->cap = cap;
  return true;
}

/* The thread's copy of name, or NULL (not interned: the caller copies). */
static const char *intern(const char *name) {
  intern_tab *t = &tl_paths;
  size_t len = strlen(name);
  if (len > INTERN_LONGEST) return NULL;
  if (t->cap) {
    for (size_t j = path_hash(name, len) & (t->cap - 1); t->slot[j]; j = (j + 1) & (t->cap - 1))
      if (strcmp(t->slot[j], name) == 0) return t->slot[j];
  }
  if (t->bytes + len + 1 > INTERN_MAX) return NULL;
  if ((t->n + 1) * 2 > t->cap && !intern_grow(t)) return NULL;
  if (t->left < len + 1) {
    char *b = malloc(INTERN_BLOCK);
    if (!b) {
      t->left = 0;
      return NULL;
    }
    memcpy(b, &t->blocks, sizeof t->blocks);
    t->blocks = b;
    t->blk = b + sizeof(void *);
    t->left = INTERN_BLOCK - sizeof(void *);
    t->bytes += INTERN_BLOCK;
  }
  char *copy = t->blk;
  memcpy(copy, name, len + 1);
  t->blk += len + 1;
  t->left -= len + 1;
  size_t j = path_hash(name, len) & (t->cap - 1);
  while (t->slot[j]) j = (j + 1) & (t->cap - 1);
  t->slot[j] = copy;
  t->n++;
  return copy;
}

void acs_dm_thread_free(void) {
  intern_tab *t = &tl_paths;
  while (t->blocks) {
    void *prev;
    memcpy(&prev, t->blocks, sizeof prev);
    free(t->blocks);
    t->blocks = prev;
  }
  free(t->slot);
  memset(t, 0, sizeof *t);
}

static void param_clear(acs_dm_param *p) {
  if (p->own_name) free(p->name);
  free(p->value);
}

void acs_dm_free(acs_dm *dm) {
  for (size_t i = 0; i < dm->n; i++) param_clear(&dm->v[i]);
  free(dm->v);
  memset(dm, 0, sizeof *dm);
}

/* First index whose name is >= key. */
static size_t lower_bound(const acs_dm *dm, const char *key) {
  size_t lo = 0, hi = dm->n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (strcmp(dm->v[mid].name, key) < 0) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  return lo;
}

acs_dm_param *acs_dm_get(const acs_dm *dm, const char *name) {
  size_t i = lower_bound(dm, name);
  return i < dm->n && strcmp(dm->v[i].name, name) == 0 ? &dm->v[i] : NULL;
}

acs_dm_param *acs_dm_put(acs_dm *dm, const char *name) {
  /* names read in order (the store's key order) append: one comparison */
  size_t i = dm->n && strcmp(dm->v[dm->n - 1].name, name) < 0 ? dm->n : lower_bound(dm, name);
  if (i < dm->n && strcmp(dm->v[i].name, name) == 0) return &dm->v[i];
  if (dm->n == dm->cap) {
    size_t cap = dm->cap ? dm->cap * 2 : 64;
    acs_dm_param *v = realloc(dm->v, cap * sizeof *v);
    if (!v) return NULL;
    dm->v = v;
    dm->cap = cap;
  }
  const char *shared = intern(name);
  char *copy = shared ? (char *)shared : strdup(name);
  if (!copy) return NULL;
  memmove(&dm->v[i + 1], &dm->v[i], (dm->n - i) * sizeof *dm->v);
  dm->n++;
  acs_dm_param *p = &dm->v[i];
  memset(p, 0, sizeof *p);
  p->name = copy;
  p->own_name = !shared;
  p->type = ACS_XSD_ANY;
  p->writable = -1;
  p->notification = -1;
  size_t len = strlen(name);
  p->object = len == 0 || name[len - 1] == '.';
  return p;
}

/* First index whose name is past every name beginning with prefix (of len
 * bytes, len > 0): the lower bound of prefix with its last byte raised
 * ("T.3." -> "T.3/"), a binary search instead of a walk over the range. */
static size_t past_prefix(const acs_dm *dm, size_t from, const char *prefix, size_t len) {
  unsigned char last = (unsigned char)prefix[len - 1];
  size_t lo = from, hi = dm->n;
  if (last == 0xff) { /* no byte above it: walk (never a path's dot) */
    while (lo < hi && strncmp(dm->v[lo].name, prefix, len) == 0) lo++;
    return lo;
  }
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    int c = strncmp(dm->v[mid].name, prefix, len - 1);
    if (c == 0) c = (unsigned char)dm->v[mid].name[len - 1] <= last ? -1 : 1;
    if (c < 0) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  return lo;
}

void acs_dm_range(const acs_dm *dm, const char *prefix, size_t *first, size_t *end) {
  size_t len = strlen(prefix);
  size_t i = lower_bound(dm, prefix);
  *first = i;
  *end = len ? past_prefix(dm, i, prefix, len) : dm->n;
}

size_t acs_dm_skip(const acs_dm *dm, size_t from, const char *prefix, size_t len) {
  return len ? past_prefix(dm, from, prefix, len) : dm->n;
}

void acs_dm_remove_subtree(acs_dm *dm, const char *name) {
  size_t len = strlen(name);
  size_t first, end;
  if (len && name[len - 1] == '.') {
    acs_dm_range(dm, name, &first, &end);
  } else {
    first = lower_bound(dm, name);
    end = first < dm->n && strcmp(dm->v[first].name, name) == 0 ? first + 1 : first;
  }
  if (end == first) return; /* nothing (an empty model has no array at all) */
  for (size_t i = first; i < end; i++) param_clear(&dm->v[i]);
  memmove(&dm->v[first], &dm->v[end], (dm->n - end) * sizeof *dm->v);
  dm->n -= end - first;
}

void acs_dm_forget_absent(acs_dm *dm) {
  size_t out = 0;
  for (size_t i = 0; i < dm->n; i++) {
    acs_dm_param *p = &dm->v[i];
    if (p->absent && !p->object && !p->value) { /* a name a listing found missing */
      param_clear(p);
      continue;
    }
    p->absent = false;
    dm->v[out++] = *p;
  }
  dm->n = out;
}

bool acs_dm_is_object_value(const char *name, acs_cwmp_type type) {
  size_t len = name ? strlen(name) : 0;
  return type == ACS_XSD_OBJECT || (len && name[len - 1] == '.');
}

/* An object in a value answer: known to exist, never a value. */
static int set_object(acs_dm *dm, const char *name) {
  size_t len = strlen(name);
  char *obj = NULL;
  if (!len || name[len - 1] != '.') {
    if (!(obj = malloc(len + 2))) return ACS_ENOMEM;
    memcpy(obj, name, len);
    obj[len] = '.';
    obj[len + 1] = '\0';
  }
  acs_dm_param *p = acs_dm_put(dm, obj ? obj : name);
  free(obj);
  if (!p) return ACS_ENOMEM;
  p->object = true;
  p->absent = false;
  return 0;
}

static int set_value(acs_dm *dm, const char *name, const char *value, acs_cwmp_type type,
                     int64_t now) {
  if (!name) return 0;
  if (acs_dm_is_object_value(name, type)) return set_object(dm, name);
  acs_dm_param *p = acs_dm_put(dm, name);
  if (!p) return ACS_ENOMEM;
  char *v = strdup(value ? value : "");
  if (!v) return ACS_ENOMEM;
  free(p->value);
  p->value = v;
  if (type != ACS_XSD_ANY) p->type = type;
  p->value_at = now;
  p->absent = false;
  return 0;
}

/* GetParameterNames of path with NextLevel false: what is not listed under
 * path has vanished; everything listed is known as of now. */
static int apply_names(acs_dm *dm, const acs_cwmp_gpn *req, const acs_cwmp_gpn_response *r,
                       int64_t now) {
  const char *path = req->parameter_path ? req->parameter_path : "";
  size_t plen = strlen(path);
  bool subtree = !req->next_level && (plen == 0 || path[plen - 1] == '.');
  if (subtree) {
    /* mark, then sweep the unmarked */
    size_t first, end;
    acs_dm_range(dm, path, &first, &end);
    for (size_t i = first; i < end; i++) dm->v[i].names_at = -1;
  }
  for (size_t i = 0; i < r->params.n; i++) {
    const char *n = r->params.v[i].name;
    if (!n) continue;
    size_t before = dm->n;
    acs_dm_param *p = acs_dm_put(dm, n);
    if (!p) return ACS_ENOMEM;
    if (dm->n > before) p->fresh = true; /* new to the model */
    p->writable = r->params.v[i].writable;
    p->names_at = now;
    p->absent = false;
  }
  if (subtree) {
    size_t first, end, out;
    acs_dm_range(dm, path, &first, &end);
    out = first;
    dm->swept = 0;
    for (size_t i = first; i < end; i++) {
      if (dm->v[i].names_at == -1 && strcmp(dm->v[i].name, path) != 0) {
        param_clear(&dm->v[i]);
        dm->swept++;
        continue;
      }
      dm->v[out++] = dm->v[i];
    }
    memmove(&dm->v[out], &dm->v[end], (dm->n - end) * sizeof *dm->v);
    dm->n -= end - out;
    acs_dm_param *p = acs_dm_put(dm, path);
    if (!p) return ACS_ENOMEM;
    p->names_at = now;
    p->absent = false;
  }
  return 0;
}

int acs_dm_apply(acs_dm *dm, const acs_cwmp_msg *sent, const acs_cwmp_msg *rsp, int64_t now) {
  int rc = 0;
  if (rsp->kind == ACS_CWMP_FAULT) {
    /* listing a subtree that is not there: remember it is absent */
    if (sent->kind == ACS_CWMP_GET_PARAMETER_NAMES && rsp->u.fault.code == 9005) {
      const char *path = sent->u.get_parameter_names.parameter_path;
      if (!path) return 0;
      acs_dm_remove_subtree(dm, path);
      acs_dm_param *p = acs_dm_put(dm, path);
      if (!p) return ACS_ENOMEM;
      p->names_at = now;
      p->absent = true;
    } else if (sent->kind == ACS_CWMP_GET_PARAMETER_NAMES) {
      /* a parameter's own name refused otherwise (a stack that lists
       * objects only): its object is listed from now on */
      const char *path = sent->u.get_parameter_names.parameter_path;
      size_t pl = path ? strlen(path) : 0;
      const char *dot = pl && path[pl - 1] != '.' ? strrchr(path, '.') : NULL;
      if (dot) {
        char *obj = strndup(path, (size_t)(dot - path) + 1);
        acs_dm_param *o = obj ? acs_dm_put(dm, obj) : NULL;
        free(obj);
        if (!o) return ACS_ENOMEM;
        o->list_whole = true;
      }
    }
    return 0;
  }
  switch (rsp->kind) {
    case ACS_CWMP_GET_PARAMETER_VALUES_RESPONSE: {
      const acs_cwmp_param_values *pv = &rsp->u.get_parameter_values_response.params;
      for (size_t i = 0; i < pv->n && !rc; i++)
        rc = set_value(dm, pv->v[i].name, pv->v[i].value, pv->v[i].type, now);
      /* a partial path answered with no parameter under it (the object
       * alone, or nothing): asking the same again would bring nothing */
      const acs_cwmp_strings *asked = &sent->u.get_parameter_values.names;
      for (size_t k = 0; k < asked->n && !rc && sent->kind == ACS_CWMP_GET_PARAMETER_VALUES; k++) {
        const char *a = asked->v[k];
        size_t al = a ? strlen(a) : 0;
        if (!al || a[al - 1] != '.') continue;
        bool leaf = false;
        for (size_t i = 0; i < pv->n && !leaf; i++)
          leaf = pv->v[i].name && !strncmp(pv->v[i].name, a, al) &&
                 !acs_dm_is_object_value(pv->v[i].name, pv->v[i].type);
        if (leaf) continue;
        acs_dm_param *o = acs_dm_put(dm, a);
        if (!o) return ACS_ENOMEM;
        o->leaves_only = true;
      }
      return rc;
    }
    case ACS_CWMP_SET_PARAMETER_VALUES_RESPONSE: {
      const acs_cwmp_param_values *pv = &sent->u.set_parameter_values.params;
      for (size_t i = 0; i < pv->n && !rc; i++)
        rc = set_value(dm, pv->v[i].name, pv->v[i].value, pv->v[i].type, now);
      return rc;
    }
    case ACS_CWMP_GET_PARAMETER_NAMES_RESPONSE:
      return apply_names(dm, &sent->u.get_parameter_names, &rsp->u.get_parameter_names_response,
                         now);
    case ACS_CWMP_GET_PARAMETER_ATTRIBUTES_RESPONSE: {
      const acs_cwmp_gpa_response *g = &rsp->u.get_parameter_attributes_response;
      for (size_t i = 0; i < g->params.n; i++) {
        if (!g->params.v[i].name) continue;
        acs_dm_param *p = acs_dm_put(dm, g->params.v[i].name);
        if (!p) return ACS_ENOMEM;
        p->notification = (int8_t)g->params.v[i].notification;
      }
      return 0;
    }
    case ACS_CWMP_SET_PARAMETER_ATTRIBUTES_RESPONSE: {
      const acs_cwmp_spa *s = &sent->u.set_parameter_attributes;
      for (size_t i = 0; i < s->params.n; i++) {
        if (!s->params.v[i].name || !s->params.v[i].notification_change) continue;
        acs_dm_param *p = acs_dm_get(dm, s->params.v[i].name);
        if (p) p->notification = (int8_t)s->params.v[i].notification;
      }
      return 0;
    }
    case ACS_CWMP_ADD_OBJECT_RESPONSE: {
      const char *obj = sent->u.add_object.object_name;
      if (!obj) return 0;
      size_t len = strlen(obj);
      char *name = malloc(len + 16);
      if (!name) return ACS_ENOMEM;
      snprintf(name, len + 16, "%s%s%u.", obj, len && obj[len - 1] == '.' ? "" : ".",
               rsp->u.add_object_response.instance_number);
      acs_dm_param *p = acs_dm_put(dm, name);
      free(name);
      if (!p) return ACS_ENOMEM;
      p->writable = 1;
      /* the listings of the table and its ancestors no longer tell what is
       * under the new instance */
      char buf[1024];
      size_t blen = strlen(obj);
      if (blen >= sizeof buf) return 0;
      memcpy(buf, obj, blen + 1);
      for (;;) {
        acs_dm_param *t = acs_dm_get(dm, buf);
        if (t) t->names_at = 0;
        if (blen == 0) break;
        size_t j = blen - 1;
        while (j > 0 && buf[j - 1] != '.') j--;
        blen = j;
        buf[blen] = '\0';
      }
      return 0;
    }
    case ACS_CWMP_DELETE_OBJECT_RESPONSE:
      if (sent->u.delete_object.object_name)
        acs_dm_remove_subtree(dm, sent->u.delete_object.object_name);
      return 0;
    default:
      return 0;
  }
}
