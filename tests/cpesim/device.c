/* device.c: the data model of one simulated device, copy on write over
 * the shared model: only changed values, changed attributes, instances it
 * added (dyn nodes, from the model's templates) and deleted model subtrees
 * are the device's own. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/acs_err.h"
#include "sim.h"

static const char *const ev_names[SIM_EV_COUNT] = {
    "0 BOOTSTRAP",
    "1 BOOT",
    "2 PERIODIC",
    "3 SCHEDULED",
    "4 VALUE CHANGE",
    "6 CONNECTION REQUEST",
    "7 TRANSFER COMPLETE",
    "11 DU STATE CHANGE COMPLETE",
    "M Reboot",
    "M ScheduleInform",
    "M Download",
    "M ScheduleDownload",
    "M Upload",
    "M ChangeDUState",
};

const char *sim_ev_name(sim_ev e) { return (unsigned)e < SIM_EV_COUNT ? ev_names[e] : "?"; }

int sim_ev_from_name(const char *s) {
  for (int i = 0; i < SIM_EV_COUNT; i++)
    if (strcmp(s, ev_names[i]) == 0) return i;
  return -1;
}

/* --- lookups */

static const sim_model *M(void) { return S->model; }

static uint32_t deleted_end(const sim_dev *d, uint32_t id) {
  for (uint32_t i = 0; i < d->del.n; i++)
    if (id >= d->del.v[i].lo && id < d->del.v[i].hi) return d->del.v[i].hi;
  return 0;
}

static uint32_t skip_deleted(const sim_dev *d, uint32_t j) {
  uint32_t e;
  while (d->del.n && (e = deleted_end(d, j)) != 0) j = e;
  return j;
}

int sim_dev_find(const sim_dev *d, const char *name, sim_ref *out) {
  size_t len = strlen(name);
  uint32_t i = sim_model_find(M(), name, len);
  if (i != SIM_NONE && !deleted_end(d, i)) {
    *out = i;
    return 0;
  }
  for (uint32_t k = 0; k < d->dyn.n; k++) {
    if (!d->dyn.v[k].dead && strcmp(d->dyn.v[k].name, name) == 0) {
      *out = SIM_DYN | k;
      return 0;
    }
  }
  return ACS_ENOTFOUND;
}

const sim_node *sim_dev_node(const sim_dev *d, sim_ref r) {
  if (r & SIM_DYN) return &M()->tpl[d->dyn.v[r & ~SIM_DYN].tpl];
  return &M()->nodes[r];
}

const char *sim_dev_name(const sim_dev *d, sim_ref r) {
  if (r & SIM_DYN) return d->dyn.v[r & ~SIM_DYN].name;
  return M()->nodes[r].name;
}

bool sim_dev_is_param(const sim_dev *d, sim_ref r) {
  return sim_dev_node(d, r)->type != SIM_OBJECT;
}

bool sim_dev_writable(const sim_dev *d, sim_ref r) {
  const sim_node *n = sim_dev_node(d, r);
  if (n->type != SIM_OBJECT) return n->flags & SIM_F_WRITABLE;
  /* objects: a table that takes AddObject, an instance DeleteObject */
  if (n->flags & SIM_F_TABLE) return n->flags & SIM_F_WRITABLE;
  return n->flags & SIM_F_WRITABLE;
}

static int ovr_index(const sim_dev *d, uint32_t id, bool *found) {
  int lo = 0, hi = (int)d->ovr.n;
  while (lo < hi) {
    int mid = (lo + hi) / 2;
    if (d->ovr.v[mid].id < id)
      lo = mid + 1;
    else
      hi = mid;
  }
  *found = lo < (int)d->ovr.n && d->ovr.v[lo].id == id;
  return lo;
}

static sim_attr *attr_get(const sim_dev *d, sim_ref r) {
  for (uint32_t i = 0; i < d->attrs.n; i++)
    if (d->attrs.v[i].ref == r) return &d->attrs.v[i];
  return NULL;
}

uint8_t sim_dev_notif(const sim_dev *d, sim_ref r) {
  const sim_attr *a = attr_get(d, r);
  return a ? a->notif : sim_dev_node(d, r)->notif;
}

const char *sim_dev_acl(const sim_dev *d, sim_ref r) {
  const sim_attr *a = attr_get(d, r);
  return a && a->acl ? a->acl : "";
}

/* The parent object's name length of a parameter name. */
static size_t parent_len(const char *name, size_t len) {
  size_t pl = len;
  if (pl && name[pl - 1] == '.') pl--;
  while (pl > 0 && name[pl - 1] != '.') pl--;
  return pl;
}

const char *sim_dev_value(const sim_dev *d, sim_ref r, acs_buf *scratch, bool raw) {
  const sim_node *n = sim_dev_node(d, r);
  if (n->type == SIM_OBJECT) return "";
  if ((n->flags & SIM_F_HIDDEN) && !raw) return "";
  const char *name = sim_dev_name(d, r);
  acs_buf_reset(scratch);
  if (n->count_leaf) {
    size_t nl = strlen(name), pl = parent_len(name, nl);
    acs_buf_append(scratch, name, pl);
    acs_buf_puts(scratch, n->count_leaf);
    uint32_t c = sim_dev_count_instances(d, scratch->data, scratch->len);
    acs_buf_reset(scratch);
    acs_buf_printf(scratch, "%u", c);
    return scratch->data;
  }
  if (r & SIM_DYN) {
    const sim_dyn *dy = &d->dyn.v[r & ~SIM_DYN];
    if (dy->value) return dy->value;
  } else if (d->ovr.n) {
    bool found;
    int i = ovr_index(d, r, &found);
    if (found) return d->ovr.v[i].value;
  }
  if (!n->value || !strchr(n->value, '%')) return n->value ? n->value : "";
  sim_expand(d, name, n->type, n->value, scratch);
  return scratch->data ? scratch->data : "";
}

/* --- walking */

static bool under(const char *name, const char *path, size_t pl) {
  return strncmp(name, path, pl) == 0;
}

int sim_dev_walk(sim_dev *d, const char *path, bool next_level, sim_walk_fn fn, void *ctx) {
  const sim_model *m = M();
  size_t pl = strlen(path);
  if (pl == 0) {
    if (next_level) {
      fn(d, 0, ctx);
      return 0;
    }
    for (uint32_t j = skip_deleted(d, 0); j < m->n; j = skip_deleted(d, j + 1)) fn(d, j, ctx);
    for (uint32_t k = 0; k < d->dyn.n; k++)
      if (!d->dyn.v[k].dead) fn(d, SIM_DYN | k, ctx);
    return 0;
  }
  sim_ref r;
  if (sim_dev_find(d, path, &r)) return ACS_ENOTFOUND;
  if (path[pl - 1] != '.') {
    if (next_level) return ACS_EINVAL;
    fn(d, r, ctx);
    return 0;
  }
  uint8_t depth = sim_name_depth(path, pl);
  if (!(r & SIM_DYN)) {
    for (uint32_t j = r; j < m->nodes[r].end;) {
      const sim_node *nd = &m->nodes[j];
      if (!next_level || nd->parent == r) fn(d, j, ctx);
      /* next level: a child object's subtree is skipped whole */
      j = skip_deleted(d, next_level && j != r && nd->type == SIM_OBJECT ? nd->end : j + 1);
    }
  }
  for (uint32_t k = 0; k < d->dyn.n; k++) {
    const sim_dyn *dy = &d->dyn.v[k];
    if (dy->dead || !under(dy->name, path, pl)) continue;
    if (next_level) {
      size_t nl = strlen(dy->name);
      if (nl == pl || sim_name_depth(dy->name, nl) != depth + 1) continue;
    }
    fn(d, SIM_DYN | k, ctx);
  }
  return 0;
}

/* --- changes */

static void note_change(sim_dev *d, sim_ref r) {
  for (uint32_t i = 0; i < d->changed.n; i++) {
    if (d->changed.v[i].ref == r) {
      d->changed.v[i].in_flight = false; /* changed again: notify again */
      return;
    }
  }
  sim_changed *c = SIM_VPUSH(d->changed);
  c->ref = r;
  c->in_flight = false;
}

bool sim_dev_set(sim_dev *d, sim_ref r, const char *value, bool by_acs) {
  acs_buf scratch = ACS_BUF_INIT;
  bool same = strcmp(sim_dev_value(d, r, &scratch, true), value) == 0;
  acs_buf_free(&scratch);
  if (same) return false;
  if (r & SIM_DYN) {
    sim_strset(&d->dyn.v[r & ~SIM_DYN].value, value);
  } else {
    bool found;
    int i = ovr_index(d, r, &found);
    if (found) {
      sim_strset(&d->ovr.v[i].value, value);
    } else {
      SIM_VPUSH(d->ovr);
      memmove(&d->ovr.v[i + 1], &d->ovr.v[i], (d->ovr.n - 1 - (uint32_t)i) * sizeof *d->ovr.v);
      d->ovr.v[i].id = r;
      d->ovr.v[i].value = sim_xstrdup(value);
    }
  }
  if (by_acs) return false;
  uint8_t n = sim_dev_notif(d, r);
  if (n == 0) return false;
  note_change(d, r);
  return n >= 2;
}

void sim_dev_set_attr(sim_dev *d, sim_ref r, bool set_notif, uint8_t notif, bool set_acl,
                      const char *acl) {
  sim_attr *a = attr_get(d, r);
  if (!a) {
    a = SIM_VPUSH(d->attrs);
    a->ref = r;
    a->notif = sim_dev_node(d, r)->notif;
    a->acl = NULL;
  }
  if (set_notif) a->notif = notif;
  if (set_acl) sim_strset(&a->acl, acl && *acl ? acl : NULL);
}

/* --- instances */

static sim_next *next_get(sim_dev *d, const char *table) {
  for (uint32_t i = 0; i < d->next.n; i++)
    if (strcmp(d->next.v[i].table, table) == 0) return &d->next.v[i];
  return NULL;
}

uint32_t sim_dev_count_instances(const sim_dev *d, const char *table, size_t len) {
  const sim_model *m = M();
  uint32_t n = 0;
  uint32_t t = sim_model_find(m, table, len);
  if (t != SIM_NONE && !deleted_end(d, t)) {
    for (uint32_t j = t + 1; j < m->nodes[t].end;) {
      uint32_t e = deleted_end(d, j);
      if (e) {
        j = e;
        continue;
      }
      if (m->nodes[j].parent == t && m->nodes[j].type == SIM_OBJECT) n++;
      j = m->nodes[j].type == SIM_OBJECT ? m->nodes[j].end : j + 1;
    }
  }
  for (uint32_t k = 0; k < d->dyn.n; k++) {
    const sim_dyn *dy = &d->dyn.v[k];
    if (dy->dead || strncmp(dy->name, table, len) != 0) continue;
    const char *p = dy->name + len;
    if (!isdigit((unsigned char)*p)) continue;
    while (isdigit((unsigned char)*p)) p++;
    if (p[0] == '.' && p[1] == '\0') n++;
  }
  return n;
}

uint32_t sim_dev_add_object(sim_dev *d, const char *table, bool internal, uint32_t *inst) {
  const sim_model *m = M();
  size_t tl = strlen(table);
  sim_ref r;
  if (tl == 0 || table[tl - 1] != '.' || sim_dev_find(d, table, &r)) return 9005;
  const sim_node *tn = sim_dev_node(d, r);
  if (!(tn->flags & SIM_F_TABLE)) return 9005;
  if (!internal && !(tn->flags & SIM_F_WRITABLE)) return 9001;
  if (tn->max_entries && sim_dev_count_instances(d, table, tl) >= tn->max_entries) return 9004;
  acs_buf b = ACS_BUF_INIT;
  sim_template_name(table, tl, &b);
  acs_buf_puts(&b, "{i}.");
  uint32_t t = sim_model_find_tpl(m, b.data, b.len);
  acs_buf_free(&b);
  if (t == SIM_NONE) return 9002;
  sim_next *nx = next_get(d, table);
  if (!nx) {
    nx = SIM_VPUSH(d->next);
    nx->table = sim_xstrdup(table);
    nx->next = (r & SIM_DYN) ? 1 : (tn->next_inst ? tn->next_inst : 1);
  }
  uint32_t n = nx->next++;
  size_t base = m->tpl[t].name_len;
  for (uint32_t k = t; k < m->tpl[t].end; k++) {
    const char *rel = m->tpl[k].name + base;
    if (strstr(rel, "{i}")) continue; /* instances of nested tables: none yet */
    acs_buf nb = ACS_BUF_INIT;
    acs_buf_printf(&nb, "%s%u.%s", table, n, rel);
    sim_dyn *dy = SIM_VPUSH(d->dyn);
    dy->name = acs_buf_steal(&nb, NULL);
    dy->value = NULL;
    dy->tpl = k;
    dy->dead = false;
  }
  *inst = n;
  return 0;
}

static void add_deleted(sim_dev *d, uint32_t lo, uint32_t hi) {
  sim_range *g = SIM_VPUSH(d->del);
  g->lo = lo;
  g->hi = hi;
}

uint32_t sim_dev_delete_object(sim_dev *d, const char *obj, bool internal) {
  size_t ol = strlen(obj);
  sim_ref r;
  if (ol < 3 || obj[ol - 1] != '.' || !isdigit((unsigned char)obj[ol - 2]) ||
      sim_dev_find(d, obj, &r))
    return 9005;
  size_t pl = parent_len(obj, ol);
  char *table = sim_xstrndup(obj, pl);
  sim_ref tr;
  int rc = sim_dev_find(d, table, &tr);
  free(table);
  if (rc || !(sim_dev_node(d, tr)->flags & SIM_F_TABLE)) return 9005;
  if (!internal && !(sim_dev_node(d, tr)->flags & SIM_F_WRITABLE)) return 9001;
  if (!(r & SIM_DYN)) add_deleted(d, r, M()->nodes[r].end);
  for (uint32_t k = 0; k < d->dyn.n; k++)
    if (!d->dyn.v[k].dead && strncmp(d->dyn.v[k].name, obj, ol) == 0) d->dyn.v[k].dead = true;
  return 0;
}

/* --- reset */

static void free_queues(sim_dev *d) {
  for (uint32_t i = 0; i < d->events.n; i++) free(d->events.v[i].key);
  for (uint32_t i = 0; i < d->tcs.n; i++) {
    free(d->tcs.v[i].key);
    free(d->tcs.v[i].fault_string);
  }
  for (uint32_t i = 0; i < d->duscs.n; i++) {
    sim_dusc *u = &d->duscs.v[i];
    for (uint32_t j = 0; j < u->n; j++) {
      acs_cwmp_du_result *x = &u->results[j];
      free(x->uuid);
      free(x->deployment_unit_ref);
      free(x->version);
      free(x->current_state);
      free(x->execution_unit_ref_list);
      free(x->start_time);
      free(x->complete_time);
      free(x->fault.string);
    }
    free(u->results);
    free(u->key);
  }
  for (uint32_t i = 0; i < d->xfers.n; i++) {
    sim_xfer *x = &d->xfers.v[i];
    free(x->key);
    free(x->file_type);
    free(x->url);
    free(x->user);
    free(x->pass);
    free(x->target);
    for (uint32_t j = 0; j < x->nops; j++) {
      acs_cwmp_du_op *o = &x->ops[j];
      free(o->url);
      free(o->uuid);
      free(o->username);
      free(o->password);
      free(o->execution_env_ref);
      free(o->version);
    }
    free(x->ops);
  }
  for (uint32_t i = 0; i < d->scheds.n; i++) free(d->scheds.v[i].key);
  for (uint32_t i = 0; i < d->dus.n; i++) {
    sim_du *u = &d->dus.v[i];
    free(u->uuid);
    free(u->name);
    free(u->version);
    free(u->url);
    free(u->ee);
  }
  d->events.n = d->tcs.n = d->duscs.n = d->xfers.n = d->scheds.n = d->dus.n = 0;
}

void sim_dev_reset_data(sim_dev *d) {
  for (uint32_t i = 0; i < d->ovr.n; i++) free(d->ovr.v[i].value);
  for (uint32_t i = 0; i < d->attrs.n; i++) free(d->attrs.v[i].acl);
  for (uint32_t i = 0; i < d->dyn.n; i++) {
    free(d->dyn.v[i].name);
    free(d->dyn.v[i].value);
  }
  for (uint32_t i = 0; i < d->next.n; i++) free(d->next.v[i].table);
  d->ovr.n = d->attrs.n = d->dyn.n = d->del.n = d->next.n = d->changed.n = 0;
  free_queues(d);
  free(d->reboot_key);
  d->reboot_key = NULL;
  d->bootstrapped = false;
}

void sim_dev_free_data(sim_dev *d) {
  sim_dev_reset_data(d);
  free(d->stale_cookie);
  d->stale_cookie = NULL;
  free(d->auth);
  d->auth = NULL;
  SIM_VFREE(d->ovr);
  SIM_VFREE(d->attrs);
  SIM_VFREE(d->dyn);
  SIM_VFREE(d->del);
  SIM_VFREE(d->next);
  SIM_VFREE(d->changed);
  SIM_VFREE(d->events);
  SIM_VFREE(d->tcs);
  SIM_VFREE(d->duscs);
  SIM_VFREE(d->xfers);
  SIM_VFREE(d->scheds);
  SIM_VFREE(d->dus);
}

/* --- well-known parameters */

const char *sim_dev_get_known(const sim_dev *d, uint32_t id, acs_buf *scratch,
                              const char *fallback) {
  if (id == SIM_NONE || deleted_end(d, id)) return fallback;
  return sim_dev_value(d, id, scratch, true);
}

uint32_t sim_dev_get_uint(const sim_dev *d, uint32_t id, uint32_t fallback) {
  acs_buf b = ACS_BUF_INIT;
  const char *v = sim_dev_get_known(d, id, &b, NULL);
  uint32_t r = fallback;
  if (v && *v) {
    char *e;
    unsigned long x = strtoul(v, &e, 10);
    if (!*e) r = (uint32_t)x;
  }
  acs_buf_free(&b);
  return r;
}

void sim_dev_set_known(sim_dev *d, uint32_t id, const char *value, bool by_acs) {
  if (id == SIM_NONE) return;
  if (sim_dev_set(d, id, value, by_acs)) sim_dev_due(d, false);
}

/* --- events */

void sim_dev_add_event(sim_dev *d, sim_ev code, const char *key) {
  bool multi = code >= SIM_EV_M_REBOOT;
  for (uint32_t i = 0; i < d->events.n; i++) {
    sim_event *e = &d->events.v[i];
    if (e->code != code || e->in_flight) continue;
    if (!multi || strcmp(e->key ? e->key : "", key ? key : "") == 0) return;
  }
  sim_event *e = SIM_VPUSH(d->events);
  e->code = (uint8_t)code;
  e->in_flight = false;
  e->key = key && *key ? sim_xstrdup(key) : NULL;
}

bool sim_dev_has_event(const sim_dev *d, sim_ev code) {
  for (uint32_t i = 0; i < d->events.n; i++)
    if (d->events.v[i].code == code) return true;
  return false;
}

void sim_dev_drop_event(sim_dev *d, sim_ev code) {
  for (uint32_t i = 0; i < d->events.n;) {
    if (d->events.v[i].code == code && !d->events.v[i].in_flight) {
      free(d->events.v[i].key);
      SIM_VDEL(d->events, i);
    } else {
      i++;
    }
  }
}

bool sim_dev_wants_session(const sim_dev *d) {
  for (uint32_t i = 0; i < d->events.n; i++)
    if (!d->events.v[i].in_flight) return true;
  for (uint32_t i = 0; i < d->changed.n; i++)
    if (!d->changed.v[i].in_flight && sim_dev_notif(d, d->changed.v[i].ref) >= 2) return true;
  for (uint32_t i = 0; i < d->tcs.n; i++)
    if (!d->tcs.v[i].in_flight) return true;
  for (uint32_t i = 0; i < d->duscs.n; i++)
    if (!d->duscs.v[i].in_flight) return true;
  return false;
}
