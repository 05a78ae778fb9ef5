/* plan.c: declarations -> the fewest RPCs, one stage at a time (acs_plan.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/acs_buf.h"
#include "core/acs_err.h"
#include "session/acs_plan.h"

/* --- path patterns */

enum { SEG_LIT, SEG_STAR, SEG_ALIAS };

typedef struct seg {
  const char *p; /* LIT: the name; ALIAS: inside the brackets */
  size_t len;
  int kind;
} seg;

#define MAX_SEGS 32

/* Reads one segment of a path at *pp (as split() does) and moves past it
 * and its dot; sets *object when the path ends with that dot. Returns false
 * on a malformed segment. */
static bool next_seg(const char **pp, seg *sg, bool *object) {
  const char *p = *pp, *start = p;
  if (*p == '[') {
    const char *close = strchr(p, ']');
    if (!close || (close[1] != '.' && close[1] != '\0')) return false;
    *sg = (seg){p + 1, (size_t)(close - p - 1), SEG_ALIAS};
    p = close + 1;
  } else {
    while (*p && *p != '.') p++;
    size_t len = (size_t)(p - start);
    if (len == 0) return false;
    *sg = (seg){start, len, len == 1 && *start == '*' ? SEG_STAR : SEG_LIT};
  }
  if (*p == '.') {
    p++;
    if (!*p) *object = true;
  }
  *pp = p;
  return true;
}

/* Splits "A.B.*.[K:v].C" (or ending in '.': an object) into segments; '.'
 * inside brackets belongs to the selector. */
static int split(const char *path, seg *segs, size_t *n, bool *object) {
  size_t k = 0;
  const char *p = path;
  *object = !*p; /* "": the root object */
  while (*p) {
    if (k == MAX_SEGS || !next_seg(&p, &segs[k], object)) return ACS_EINVAL;
    k++;
  }
  *n = k;
  return 0;
}

static bool all_digits(const char *p, size_t n) {
  if (n == 0) return false;
  for (size_t i = 0; i < n; i++)
    if (p[i] < '0' || p[i] > '9') return false;
  return true;
}

/* Does instance object inst ("T.3.") satisfy the selector "K:v,K2:v2"? */
static bool alias_ok(const acs_dm *dm, const char *inst, const char *sel, size_t len) {
  char name[1024];
  const char *p = sel, *end = sel + len;
  while (p < end) {
    const char *comma = memchr(p, ',', (size_t)(end - p));
    if (!comma) comma = end;
    const char *colon = memchr(p, ':', (size_t)(comma - p));
    if (!colon) return false;
    size_t il = strlen(inst), kl = (size_t)(colon - p);
    if (il + kl >= sizeof name) return false;
    memcpy(name, inst, il);
    memcpy(name + il, p, kl);
    name[il + kl] = '\0';
    const acs_dm_param *v = acs_dm_get(dm, name);
    size_t vl = (size_t)(comma - colon - 1);
    if (!v || !v->value || strlen(v->value) != vl || memcmp(v->value, colon + 1, vl) != 0)
      return false;
    p = comma + 1;
  }
  return true;
}

typedef struct names {
  const char **v;
  size_t n, cap;
  acs_arena *arena;
  int err;
} names;

static void names_add(names *l, const char *s, size_t len) {
  if (l->err) return;
  if (l->n == l->cap) {
    size_t cap = l->cap ? l->cap * 2 : 32;
    const char **v = acs_arena_alloc(l->arena, cap * sizeof *v);
    if (!v) {
      l->err = ACS_ENOMEM;
      return;
    }
    if (l->n) memcpy(v, l->v, l->n * sizeof *v);
    l->v = v;
    l->cap = cap;
  }
  char *c = acs_arena_strndup(l->arena, s, len);
  if (!c) {
    l->err = ACS_ENOMEM;
    return;
  }
  l->v[l->n++] = c;
}

/* The known, present instances under table prefix (ends with '.') that a
 * STAR or ALIAS segment selects, as full names ("T.3."). Each instance's
 * subtree is skipped by binary search: the cost is per instance, not per
 * parameter under the table. */
static void instances(const acs_dm *dm, const char *prefix, const seg *sg, names *out) {
  size_t first, end, plen = strlen(prefix);
  acs_dm_range(dm, prefix, &first, &end);
  char buf[1024];
  for (size_t i = first; i < end;) {
    const char *name = dm->v[i].name, *rest = name + plen;
    const char *dot = strchr(rest, '.');
    if (!dot) { /* a parameter of the table itself */
      i++;
      continue;
    }
    size_t len = (size_t)(dot - rest), n = plen + len + 1;
    size_t next = acs_dm_skip(dm, i, name, n); /* past "T.<seg>." and all under it */
    bool inst = all_digits(rest, len) && n < sizeof buf;
    /* the subtree's first name is the instance object, when it is known */
    bool is_obj = name[n] == '\0';
    const acs_dm_param *obj = is_obj ? &dm->v[i] : NULL;
    i = next;
    if (!inst || (obj && obj->absent)) continue;
    memcpy(buf, name, n);
    buf[n] = '\0';
    if (sg->kind == SEG_ALIAS && !alias_ok(dm, buf, sg->p, sg->len)) continue;
    names_add(out, buf, n);
  }
}

static bool present(const acs_dm *dm, const char *name, bool object) {
  const acs_dm_param *p = acs_dm_get(dm, name);
  if (p) return !p->absent;
  if (!object) return false;
  size_t first, end;
  acs_dm_range(dm, name, &first, &end);
  return first < end;
}

/* Appends the known names matching segs[i..] under prefix. */
static void expand_from(const acs_dm *dm, const seg *segs, size_t n, size_t i, bool object,
                        const char *prefix, names *out) {
  if (out->err) return;
  if (i == n) {
    if (present(dm, prefix, true)) names_add(out, prefix, strlen(prefix));
    return;
  }
  bool last = i + 1 == n;
  if (segs[i].kind == SEG_LIT) {
    char buf[1024];
    size_t pl = strlen(prefix), len = pl + segs[i].len + (last && !object ? 0 : 1);
    if (len >= sizeof buf) return;
    memcpy(buf, prefix, pl);
    memcpy(buf + pl, segs[i].p, segs[i].len);
    if (len > pl + segs[i].len) buf[len - 1] = '.';
    buf[len] = '\0';
    if (last) {
      if (present(dm, buf, object)) names_add(out, buf, len);
    } else {
      expand_from(dm, segs, n, i + 1, object, buf, out);
    }
    return;
  }
  names inst = {NULL, 0, 0, out->arena, 0};
  instances(dm, prefix, &segs[i], &inst);
  if (inst.err) out->err = inst.err;
  for (size_t k = 0; k < inst.n; k++) {
    if (last) {
      names_add(out, inst.v[k], strlen(inst.v[k])); /* "T.*" and "T.*." name instances */
    } else {
      expand_from(dm, segs, n, i + 1, object, inst.v[k], out);
    }
  }
}

static int expand(const acs_dm *dm, const char *path, acs_arena *a, names *out) {
  seg segs[MAX_SEGS];
  size_t n;
  bool object;
  int rc = split(path, segs, &n, &object);
  if (rc) return rc;
  out->arena = a;
  expand_from(dm, segs, n, 0, object, "", out);
  return out->err;
}

/* Walks pattern and name segment by segment (no copies: this runs for
 * every name a read of a pattern looks at). The same answer as splitting
 * both: a malformed path, or a name over 1023 bytes, matches nothing. */
bool acs_plan_match(const acs_dm *dm, const char *pattern, const char *name) {
  const char *p = pattern, *q = name;
  bool po = !*p, no = !*q;
  char prefix[1024];
  for (size_t k = 0; *p && *q; k++) {
    seg ps, ns;
    if (k == MAX_SEGS || !next_seg(&p, &ps, &po) || !next_seg(&q, &ns, &no)) return false;
    if (ns.kind != SEG_LIT) return false;
    if (ps.kind == SEG_LIT) {
      if (ps.len != ns.len || memcmp(ps.p, ns.p, ns.len) != 0) return false;
    } else if (!all_digits(ns.p, ns.len)) {
      return false;
    }
    if (ps.kind == SEG_ALIAS) { /* the instance object: the name up to here, and a dot */
      size_t plen = (size_t)(ns.p + ns.len - name);
      if (plen + 1 >= sizeof prefix) return false;
      memcpy(prefix, name, plen);
      prefix[plen] = '.';
      prefix[plen + 1] = '\0';
      if (!alias_ok(dm, prefix, ps.p, ps.len)) return false;
    }
  }
  if (*p || *q || po != no) return false;
  size_t nl = strlen(name);
  return nl + (no ? 0 : 1) < sizeof prefix; /* as long as the instance prefix may be */
}

/* --- stages */

static bool wants(const acs_decl *d) {
  return d->value_at > 0 || d->path_at > 0 || d->value || d->instances >= 0 || d->notification >= 0;
}

/* The literal prefix object of a path: up to its first wildcard or selector,
 * or the parent object of a literal parameter. */
static void literal_prefix(const char *path, char *out, size_t outlen) {
  seg segs[MAX_SEGS];
  size_t n, len = 0;
  bool object;
  out[0] = '\0';
  if (split(path, segs, &n, &object)) return;
  for (size_t i = 0; i < n; i++) {
    if (segs[i].kind != SEG_LIT || (i + 1 == n && !object)) break;
    if (len + segs[i].len + 2 > outlen) return; /* as far as it fits, as before */
    memcpy(out + len, segs[i].p, segs[i].len);
    len += segs[i].len;
    out[len++] = '.';
    out[len] = '\0';
  }
}

/* When was the subtree under obj last listed whole (obj or an ancestor
 * listed with NextLevel false), and is it absent? */
static int64_t listed_at(const acs_dm *dm, const char *obj, bool *absent) {
  int64_t best = 0;
  char buf[1024];
  size_t len = strlen(obj);
  *absent = false;
  if (len >= sizeof buf) return 0;
  memcpy(buf, obj, len + 1);
  for (;;) {
    const acs_dm_param *p = acs_dm_get(dm, buf);
    if (p && p->names_at > best) {
      best = p->names_at;
      if (p->absent) *absent = true;
    }
    if (len == 0) break;
    /* the parent object: drop the last segment */
    size_t j = len - 1;
    while (j > 0 && buf[j - 1] != '.') j--;
    len = j;
    buf[len] = '\0';
  }
  return best;
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Sorts, drops duplicates and names under another listed object path. */
static void dedupe(names *l, bool drop_covered) {
  if (l->n < 2) return;
  qsort(l->v, l->n, sizeof *l->v, cmp_str);
  size_t out = 0;
  for (size_t i = 0; i < l->n; i++) {
    if (out) {
      const char *prev = l->v[out - 1];
      size_t pl = strlen(prev);
      if (strcmp(prev, l->v[i]) == 0) continue;
      if (drop_covered && pl && prev[pl - 1] == '.' && strncmp(l->v[i], prev, pl) == 0) continue;
    }
    l->v[out++] = l->v[i];
  }
  l->n = out;
}

static acs_cwmp_msg *new_rpcs(acs_arena *a, size_t n) {
  return acs_arena_calloc(a, n ? n : 1, sizeof(acs_cwmp_msg));
}

/* Unknown parameters declared by their full name (one listing each, or
 * their object's when several share it) and the object each is under. */
typedef struct lone {
  names path, obj;
} lone;

static int stage_names(const acs_dm *dm, const acs_decl *decls, size_t n, acs_arena *a,
                       acs_plan *out) {
  names l = {NULL, 0, 0, a, 0};
  lone one = {{NULL, 0, 0, a, 0}, {NULL, 0, 0, a, 0}};
  char prefix[1024];
  for (size_t i = 0; i < n; i++) {
    const acs_decl *d = &decls[i];
    if (!wants(d)) continue;
    const acs_dm_param *p = acs_dm_get(dm, d->path);
    if (p && !p->absent && d->path_at == 0 && !strpbrk(d->path, "*[")) continue; /* known */
    literal_prefix(d->path, prefix, sizeof prefix);
    bool absent;
    int64_t at = listed_at(dm, prefix, &absent);
    int64_t need = d->path_at > 0 ? d->path_at : 1;
    if (at >= need) continue; /* listed recently enough (or known absent) */
    size_t pl = strlen(d->path);
    if (pl && d->path[pl - 1] != '.' && !strpbrk(d->path, "*[")) {
      /* a parameter by its full name: listed alone (one name, not its
       * object's whole subtree), unless others of its object are wanted
       * too (below); a 9005 leaves it known absent */
      if (p && p->names_at >= need) continue;
      names_add(&one.path, d->path, pl);
      names_add(&one.obj, prefix, strlen(prefix));
      continue;
    }
    names_add(&l, prefix, strlen(prefix));
  }
  /* one round trip per object at most: two or more parameters of one object
   * are listed with it, a lone one by its name */
  for (size_t i = 0; i < one.path.n && !one.path.err && !one.obj.err; i++) {
    const acs_dm_param *o = acs_dm_get(dm, one.obj.v[i]);
    bool shared = o && o->list_whole; /* a CPE that lists objects only */
    for (size_t k = 0; k < one.path.n && !shared; k++)
      shared = k != i && strcmp(one.obj.v[k], one.obj.v[i]) == 0 &&
               strcmp(one.path.v[k], one.path.v[i]) != 0;
    const char *name = shared ? one.obj.v[i] : one.path.v[i];
    names_add(&l, name, strlen(name));
  }
  if (one.path.err || one.obj.err) return ACS_ENOMEM;
  if (l.err) return l.err;
  dedupe(&l, true);
  if (!l.n) return 0;
  out->rpcs = new_rpcs(a, l.n);
  if (!out->rpcs) return ACS_ENOMEM;
  for (size_t i = 0; i < l.n; i++) {
    out->rpcs[i].kind = ACS_CWMP_GET_PARAMETER_NAMES;
    out->rpcs[i].u.get_parameter_names.parameter_path = (char *)l.v[i];
    out->rpcs[i].u.get_parameter_names.next_level = false;
  }
  out->n = l.n;
  out->stage = 1;
  return 0;
}

/* The table part of an instance declaration ("T.*", "T.[K:v]", "T.", with or
 * without a final dot) and its last selector segment, if any. */
static int table_of(const char *path, char *table, size_t tlen, seg *sel, bool *has_sel) {
  seg segs[MAX_SEGS];
  size_t n;
  bool object;
  int rc = split(path, segs, &n, &object);
  if (rc) return rc;
  *has_sel = n > 0 && segs[n - 1].kind != SEG_LIT;
  if (*has_sel) *sel = segs[n - 1];
  size_t upto = *has_sel ? n - 1 : n, len = 0;
  table[0] = '\0';
  for (size_t i = 0; i < upto; i++) {
    int w;
    if (segs[i].kind == SEG_ALIAS) {
      w = snprintf(table + len, tlen - len, "[%.*s].", (int)segs[i].len, segs[i].p);
    } else {
      w = snprintf(table + len, tlen - len, "%.*s.", (int)segs[i].len, segs[i].p);
    }
    if (w < 0 || (size_t)w >= tlen - len) return ACS_EINVAL;
    len += (size_t)w;
  }
  return 0;
}

static unsigned long inst_num(const char *table, const char *inst) {
  return strtoul(inst + strlen(table), NULL, 10);
}

static int stage_instances(const acs_dm *dm, const acs_decl *decls, size_t n, acs_arena *a,
                           acs_plan *out) {
  names add = {NULL, 0, 0, a, 0}, del = {NULL, 0, 0, a, 0};
  char table[1024];
  for (size_t i = 0; i < n; i++) {
    const acs_decl *d = &decls[i];
    if (d->instances < 0) continue;
    seg sel = {"*", 1, SEG_STAR};
    bool has_sel;
    int rc = table_of(d->path, table, sizeof table, &sel, &has_sel);
    if (rc) return rc;
    if (!has_sel) sel = (seg){"*", 1, SEG_STAR};
    names tables = {NULL, 0, 0, a, 0};
    if ((rc = expand(dm, table, a, &tables))) return rc;
    for (size_t t = 0; t < tables.n; t++) {
      names inst = {NULL, 0, 0, a, 0};
      instances(dm, tables.v[t], &sel, &inst);
      if (inst.err) return inst.err;
      size_t have = inst.n, want = (size_t)d->instances;
      /* new instances cannot be made to match an alias selector here */
      for (size_t k = have; k < want && sel.kind == SEG_STAR; k++)
        names_add(&add, tables.v[t], strlen(tables.v[t]));
      if (have > want) {
        /* the highest-numbered instances are the ones deleted (sent in name order) */
        for (size_t x = 0; x + 1 < inst.n; x++)
          for (size_t y = x + 1; y < inst.n; y++)
            if (inst_num(tables.v[t], inst.v[y]) > inst_num(tables.v[t], inst.v[x])) {
              const char *tmp = inst.v[x];
              inst.v[x] = inst.v[y];
              inst.v[y] = tmp;
            }
        for (size_t k = 0; k < have - want; k++) names_add(&del, inst.v[k], strlen(inst.v[k]));
      }
    }
  }
  if (add.err || del.err) return ACS_ENOMEM;
  dedupe(&del, false);
  if (!add.n && !del.n) return 0;
  out->rpcs = new_rpcs(a, add.n + del.n);
  if (!out->rpcs) return ACS_ENOMEM;
  for (size_t i = 0; i < del.n; i++) {
    out->rpcs[out->n].kind = ACS_CWMP_DELETE_OBJECT;
    out->rpcs[out->n++].u.delete_object.object_name = (char *)del.v[i];
  }
  for (size_t i = 0; i < add.n; i++) {
    out->rpcs[out->n].kind = ACS_CWMP_ADD_OBJECT;
    out->rpcs[out->n++].u.add_object.object_name = (char *)add.v[i];
  }
  out->stage = 2;
  return 0;
}

static int stage_values(const acs_dm *dm, const acs_decl *decls, size_t n, acs_arena *a,
                        acs_plan *out) {
  names l = {NULL, 0, 0, a, 0};
  for (size_t i = 0; i < n; i++) {
    const acs_decl *d = &decls[i];
    if (d->value_at <= 0) continue;
    names m = {NULL, 0, 0, a, 0};
    int rc = expand(dm, d->path, a, &m);
    if (rc) return rc;
    for (size_t k = 0; k < m.n; k++) {
      const acs_dm_param *p = acs_dm_get(dm, m.v[k]);
      size_t len = strlen(m.v[k]);
      if (len && m.v[k][len - 1] == '.') {
        /* an object: refresh all of it with one partial path if anything is
         * old; a CPE that answers its partial path with the object alone
         * (leaves_only) is asked for the parameters it listed, by name */
        size_t first, end;
        acs_dm_range(dm, m.v[k], &first, &end);
        bool by_name = p && p->leaves_only;
        for (size_t j = first; j < end; j++) {
          if (dm->v[j].object || dm->v[j].value_at >= d->value_at) continue;
          if (!by_name) {
            names_add(&l, m.v[k], len);
            break;
          }
          names_add(&l, dm->v[j].name, strlen(dm->v[j].name));
        }
      } else if (!p || p->value_at < d->value_at) {
        names_add(&l, m.v[k], len);
      }
    }
  }
  if (l.err) return l.err;
  dedupe(&l, true);
  if (!l.n) return 0;
  out->rpcs = new_rpcs(a, 1);
  if (!out->rpcs) return ACS_ENOMEM;
  out->rpcs[0].kind = ACS_CWMP_GET_PARAMETER_VALUES;
  out->rpcs[0].u.get_parameter_values.names.v = (char **)l.v;
  out->rpcs[0].u.get_parameter_values.names.n = l.n;
  out->n = 1;
  out->stage = 3;
  return 0;
}

static int parse_bool(const char *s) {
  if (!strcmp(s, "1") || !strcasecmp(s, "true")) return 1;
  if (!strcmp(s, "0") || !strcasecmp(s, "false")) return 0;
  return -1;
}

static bool same_value(const char *cur, const char *want, acs_cwmp_type t) {
  if (!cur) return false;
  switch (t) {
    case ACS_XSD_BOOLEAN: {
      int a = parse_bool(cur), b = parse_bool(want);
      return a >= 0 && a == b;
    }
    case ACS_XSD_INT:
    case ACS_XSD_LONG:
    case ACS_XSD_UNSIGNEDINT:
    case ACS_XSD_UNSIGNEDLONG: {
      char *e1, *e2;
      long long a = strtoll(cur, &e1, 10), b = strtoll(want, &e2, 10);
      if (*cur && *want && !*e1 && !*e2) return a == b;
      return strcmp(cur, want) == 0;
    }
    default:
      return strcmp(cur, want) == 0;
  }
}

/* The type a value is set with: the declaration's, else the device's. */
static acs_cwmp_type set_type(const acs_decl *d, const acs_dm_param *p) {
  if (d->type != ACS_XSD_ANY && d->type != ACS_XSD_OBJECT) return d->type;
  if (p->type != ACS_XSD_ANY && p->type != ACS_XSD_OBJECT) return p->type;
  return ACS_XSD_STRING; /* "object" is never sent as a value's type */
}

static int stage_set(const acs_dm *dm, const acs_decl *decls, size_t n, acs_arena *a,
                     acs_plan *out) {
  size_t cap = 0, cnt = 0;
  acs_cwmp_param_value *pv = NULL;
  for (size_t i = 0; i < n; i++) {
    const acs_decl *d = &decls[i];
    if (!d->value) continue;
    names m = {NULL, 0, 0, a, 0};
    int rc = expand(dm, d->path, a, &m);
    if (rc) return rc;
    for (size_t k = 0; k < m.n; k++) {
      const acs_dm_param *p = acs_dm_get(dm, m.v[k]);
      if (!p || p->object || p->writable == 0) continue; /* read-only: 9008 anyway */
      acs_cwmp_type t = set_type(d, p);
      if (p->value_at > 0 && same_value(p->value, d->value, t)) continue;
      size_t j;
      for (j = 0; j < cnt && strcmp(pv[j].name, m.v[k]) != 0; j++) {
      }
      if (j == cnt) {
        if (cnt == cap) {
          size_t nc = cap ? cap * 2 : 16;
          acs_cwmp_param_value *v = acs_arena_alloc(a, nc * sizeof *v);
          if (!v) return ACS_ENOMEM;
          if (cnt) memcpy(v, pv, cnt * sizeof *v);
          pv = v;
          cap = nc;
        }
        cnt++;
      }
      pv[j].name = (char *)m.v[k];
      pv[j].value = acs_arena_strdup(a, d->value);
      pv[j].type = t;
      if (!pv[j].value) return ACS_ENOMEM;
    }
  }
  if (!cnt) return 0;
  out->rpcs = new_rpcs(a, 1);
  if (!out->rpcs) return ACS_ENOMEM;
  out->rpcs[0].kind = ACS_CWMP_SET_PARAMETER_VALUES;
  out->rpcs[0].u.set_parameter_values.params.v = pv;
  out->rpcs[0].u.set_parameter_values.params.n = cnt;
  out->rpcs[0].u.set_parameter_values.parameter_key = acs_arena_strdup(a, "");
  out->n = 1;
  out->stage = 4;
  return 0;
}

static int stage_attrs(const acs_dm *dm, const acs_decl *decls, size_t n, acs_arena *a,
                       acs_plan *out) {
  size_t cap = 0, cnt = 0;
  acs_cwmp_set_attr *sa = NULL;
  for (size_t i = 0; i < n; i++) {
    const acs_decl *d = &decls[i];
    if (d->notification < 0) continue;
    names m = {NULL, 0, 0, a, 0};
    int rc = expand(dm, d->path, a, &m);
    if (rc) return rc;
    for (size_t k = 0; k < m.n; k++) {
      const acs_dm_param *p = acs_dm_get(dm, m.v[k]);
      if (!p || p->object || p->notification == d->notification) continue;
      if (cnt == cap) {
        size_t nc = cap ? cap * 2 : 16;
        acs_cwmp_set_attr *v = acs_arena_calloc(a, nc, sizeof *v);
        if (!v) return ACS_ENOMEM;
        if (cnt) memcpy(v, sa, cnt * sizeof *v);
        sa = v;
        cap = nc;
      }
      sa[cnt].name = (char *)m.v[k];
      sa[cnt].notification_change = true;
      sa[cnt].notification = d->notification;
      cnt++;
    }
  }
  if (!cnt) return 0;
  out->rpcs = new_rpcs(a, 1);
  if (!out->rpcs) return ACS_ENOMEM;
  out->rpcs[0].kind = ACS_CWMP_SET_PARAMETER_ATTRIBUTES;
  out->rpcs[0].u.set_parameter_attributes.params.v = sa;
  out->rpcs[0].u.set_parameter_attributes.params.n = cnt;
  out->n = 1;
  out->stage = 5;
  return 0;
}

bool acs_plan_settled(const acs_dm *dm, const acs_decl *d) {
  if (!d->path || (d->value_at <= 0 && !d->value) || d->path_at != 0 || d->instances >= 0 ||
      d->notification >= 0 || strpbrk(d->path, "*["))
    return false;
  size_t len = strlen(d->path);
  if (!len || d->path[len - 1] == '.' || len >= 1024) return false; /* objects: a range */
  seg segs[MAX_SEGS];
  size_t ns;
  bool object;
  if (split(d->path, segs, &ns, &object)) return false; /* the plan reports it */
  /* stage_names: known; stage_values: read recently enough */
  const acs_dm_param *p = acs_dm_get(dm, d->path);
  if (!p || p->absent || p->value_at < d->value_at) return false;
  if (!d->value || p->writable == 0) return true; /* stage_set: nothing, or read-only */
  return p->value_at > 0 && same_value(p->value, d->value, set_type(d, p));
}

int acs_plan_next(const acs_dm *dm, const acs_decl *decls, size_t n, int64_t now_ms,
                  acs_arena *arena, acs_plan *out) {
  typedef int (*stage_fn)(const acs_dm *, const acs_decl *, size_t, acs_arena *, acs_plan *);
  static const stage_fn stages[] = {stage_names, stage_instances, stage_values, stage_set,
                                    stage_attrs};
  (void)now_ms;
  memset(out, 0, sizeof *out);
  for (size_t i = 0; i < n; i++) {
    seg segs[MAX_SEGS];
    size_t ns;
    bool object;
    if (!decls[i].path || split(decls[i].path, segs, &ns, &object)) return ACS_EINVAL;
  }
  for (size_t i = 0; i < sizeof stages / sizeof stages[0]; i++) {
    int rc = stages[i](dm, decls, n, arena, out);
    if (rc || out->n) return rc;
  }
  return 0;
}
