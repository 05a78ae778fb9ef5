/* state.c: --state FILE, what each device keeps across runs (loaded at
 * start, written at exit through a temporary file and rename). Text, one
 * record per line after "dev SERIAL" (docs/cpesim.md):
 *
 *   b 1                      bootstrapped (next start: "1 BOOT")
 *   o NAME                   a node of an instance it added
 *   x NAME                   a model subtree it deleted
 *   v NAME TAB VALUE         a changed value
 *   a NAME TAB NOTIF TAB ACL changed attributes
 *   i TABLE TAB NEXT         next instance number of a table
 *   e CODE TAB KEY           an event not yet delivered
 *   c NAME                   a change not yet notified
 *   t KEY TAB FAULT TAB START TAB COMPLETE TAB TEXT   a TransferComplete to deliver
 *   u UUID TAB NAME TAB VERSION TAB URL TAB EE TAB INSTANCE   a deployment unit
 *
 * Queued transfers, scheduled informs and DUStateChangeCompletes not yet
 * delivered are not kept. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/acs_err.h"
#include "sim.h"

static void esc(FILE *f, const char *s) {
  for (; s && *s; s++) {
    if (*s == '\\')
      fputs("\\\\", f);
    else if (*s == '\t')
      fputs("\\t", f);
    else if (*s == '\n')
      fputs("\\n", f);
    else
      fputc(*s, f);
  }
}

static void unesc(char *s) {
  char *w = s;
  for (char *r = s; *r; r++) {
    if (*r == '\\' && r[1]) {
      r++;
      *w++ = *r == 't' ? '\t' : *r == 'n' ? '\n' : *r;
    } else {
      *w++ = *r;
    }
  }
  *w = '\0';
}

int sim_state_save(const char *path, char *err, size_t errlen) {
  char tmp[4096];
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  FILE *f = fopen(tmp, "w");
  if (!f) {
    snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
    return -errno;
  }
  const sim_model *m = S->model;
  fprintf(f, "cpesim-state 1\nmodel %s\n", m->root);
  for (uint32_t i = 0; i < S->ndev; i++) {
    sim_dev *d = &S->devs[i];
    fprintf(f, "dev %s\nb %d\n", d->serial, d->bootstrapped ? 1 : 0);
    for (uint32_t k = 0; k < d->dyn.n; k++)
      if (!d->dyn.v[k].dead) fprintf(f, "o %s\n", d->dyn.v[k].name);
    for (uint32_t k = 0; k < d->del.n; k++) fprintf(f, "x %s\n", m->nodes[d->del.v[k].lo].name);
    for (uint32_t k = 0; k < d->ovr.n; k++) {
      fprintf(f, "v %s\t", m->nodes[d->ovr.v[k].id].name);
      esc(f, d->ovr.v[k].value);
      fputc('\n', f);
    }
    for (uint32_t k = 0; k < d->dyn.n; k++) {
      if (d->dyn.v[k].dead || !d->dyn.v[k].value) continue;
      fprintf(f, "v %s\t", d->dyn.v[k].name);
      esc(f, d->dyn.v[k].value);
      fputc('\n', f);
    }
    for (uint32_t k = 0; k < d->attrs.n; k++) {
      const sim_attr *a = &d->attrs.v[k];
      if ((a->ref & SIM_DYN) && d->dyn.v[a->ref & ~SIM_DYN].dead) continue;
      fprintf(f, "a %s\t%u\t", sim_dev_name(d, a->ref), a->notif);
      esc(f, a->acl ? a->acl : "");
      fputc('\n', f);
    }
    for (uint32_t k = 0; k < d->next.n; k++)
      fprintf(f, "i %s\t%u\n", d->next.v[k].table, d->next.v[k].next);
    for (uint32_t k = 0; k < d->events.n; k++) {
      fprintf(f, "e %s\t", sim_ev_name((sim_ev)d->events.v[k].code));
      esc(f, d->events.v[k].key ? d->events.v[k].key : "");
      fputc('\n', f);
    }
    for (uint32_t k = 0; k < d->changed.n; k++)
      fprintf(f, "c %s\n", sim_dev_name(d, d->changed.v[k].ref));
    for (uint32_t k = 0; k < d->tcs.n; k++) {
      const sim_tc *t = &d->tcs.v[k];
      fputs("t ", f);
      esc(f, t->key ? t->key : "");
      fprintf(f, "\t%u\t%lld\t%lld\t", t->fault, (long long)t->start, (long long)t->complete);
      esc(f, t->fault_string ? t->fault_string : "");
      fputc('\n', f);
    }
    for (uint32_t k = 0; k < d->dus.n; k++) {
      const sim_du *u = &d->dus.v[k];
      const char *fs[] = {u->uuid, u->name, u->version, u->url, u->ee};
      fputs("u ", f);
      for (int q = 0; q < 5; q++) {
        esc(f, fs[q] ? fs[q] : "");
        fputc('\t', f);
      }
      fprintf(f, "%u\n", u->inst);
    }
  }
  int bad = ferror(f);
  if (fclose(f) || bad) {
    snprintf(err, errlen, "%s: write error", tmp);
    return ACS_EINVAL;
  }
  if (rename(tmp, path)) {
    snprintf(err, errlen, "%s: %s", path, strerror(errno));
    return -errno;
  }
  return 0;
}

static sim_dev *find_dev(const char *serial) {
  size_t pl = strlen(S->o.serial_prefix);
  if (strncmp(serial, S->o.serial_prefix, pl) != 0) return NULL;
  char *e;
  unsigned long idx = strtoul(serial + pl, &e, 10);
  if (*e || idx < S->o.first || idx - S->o.first >= S->ndev) return NULL;
  sim_dev *d = &S->devs[idx - S->o.first];
  return strcmp(d->serial, serial) == 0 ? d : NULL;
}

/* Splits s at tabs into up to n fields (unescaped); returns the count. */
static int fields(char *s, char **f, int n) {
  int k = 0;
  while (k < n) {
    f[k++] = s;
    char *t = strchr(s, '\t');
    if (!t) break;
    *t = '\0';
    s = t + 1;
  }
  for (int i = 0; i < k; i++) unesc(f[i]);
  return k;
}

static int load_line(sim_dev *d, char type, char *rest) {
  char *f[8];
  int nf;
  sim_ref r;
  acs_buf b = ACS_BUF_INIT;
  int rc = 0;
  switch (type) {
    case 'b':
      d->bootstrapped = atoi(rest) != 0;
      break;
    case 'o': {
      sim_template_name(rest, strlen(rest), &b);
      uint32_t t = sim_model_find_tpl(S->model, b.data, b.len);
      if (t == SIM_NONE) {
        rc = ACS_ENOTFOUND;
        break;
      }
      sim_dyn *dy = SIM_VPUSH(d->dyn);
      dy->name = sim_xstrdup(rest);
      dy->value = NULL;
      dy->tpl = t;
      dy->dead = false;
      break;
    }
    case 'x':
      rc = sim_dev_delete_object(d, rest, true) ? ACS_ENOTFOUND : 0;
      break;
    case 'v':
      nf = fields(rest, f, 2);
      if (nf < 2 || sim_dev_find(d, f[0], &r)) {
        rc = ACS_ENOTFOUND;
        break;
      }
      sim_dev_set(d, r, f[1], true);
      break;
    case 'a':
      nf = fields(rest, f, 3);
      if (nf < 3 || sim_dev_find(d, f[0], &r)) {
        rc = ACS_ENOTFOUND;
        break;
      }
      sim_dev_set_attr(d, r, true, (uint8_t)atoi(f[1]), true, f[2]);
      break;
    case 'i': {
      nf = fields(rest, f, 2);
      if (nf < 2) {
        rc = ACS_EINVAL;
        break;
      }
      sim_next *nx = SIM_VPUSH(d->next);
      nx->table = sim_xstrdup(f[0]);
      nx->next = (uint32_t)strtoul(f[1], NULL, 10);
      break;
    }
    case 'e': {
      nf = fields(rest, f, 2);
      int code = sim_ev_from_name(f[0]);
      if (code < 0) {
        rc = ACS_EINVAL;
        break;
      }
      sim_dev_add_event(d, (sim_ev)code, nf > 1 ? f[1] : NULL);
      break;
    }
    case 'c':
      if (sim_dev_find(d, rest, &r) == 0) {
        sim_changed *c = SIM_VPUSH(d->changed);
        c->ref = r;
        c->in_flight = false;
      }
      break;
    case 't': {
      nf = fields(rest, f, 5);
      if (nf < 5) {
        rc = ACS_EINVAL;
        break;
      }
      sim_tc *t = SIM_VPUSH(d->tcs);
      t->key = sim_xstrdup(f[0]);
      t->fault = (uint32_t)strtoul(f[1], NULL, 10);
      t->start = strtoll(f[2], NULL, 10);
      t->complete = strtoll(f[3], NULL, 10);
      t->fault_string = sim_xstrdup(f[4]);
      t->in_flight = false;
      break;
    }
    case 'u': {
      nf = fields(rest, f, 6);
      if (nf < 6) {
        rc = ACS_EINVAL;
        break;
      }
      sim_du *u = SIM_VPUSH(d->dus);
      u->uuid = sim_xstrdup(f[0]);
      u->name = sim_xstrdup(f[1]);
      u->version = sim_xstrdup(f[2]);
      u->url = sim_xstrdup(f[3]);
      u->ee = sim_xstrdup(f[4]);
      u->inst = (uint32_t)strtoul(f[5], NULL, 10);
      break;
    }
    default:
      rc = ACS_EINVAL;
  }
  acs_buf_free(&b);
  return rc;
}

int sim_state_load(const char *path, char *err, size_t errlen) {
  size_t len;
  char *text = sim_read_file(path, &len);
  if (!text) {
    if (errno == ENOENT) return ACS_ENOTFOUND;
    snprintf(err, errlen, "%s: %s", path, strerror(errno));
    return -errno;
  }
  int lineno = 0, rc = 0;
  uint32_t loaded = 0, skipped = 0, bad = 0;
  sim_dev *d = NULL;
  bool dev_seen = false;
  for (char *line = text, *next; line && *line; line = next) {
    next = strchr(line, '\n');
    if (next) *next++ = '\0';
    lineno++;
    if (lineno == 1) {
      if (strcmp(line, "cpesim-state 1") != 0) {
        snprintf(err, errlen, "%s: not a cpesim state file", path);
        rc = ACS_EINVAL;
        break;
      }
      continue;
    }
    if (strncmp(line, "model ", 6) == 0) {
      if (strcmp(line + 6, S->model->root) != 0) {
        snprintf(err, errlen, "%s: written for a %s model, this one is %s", path, line + 6,
                 S->model->root);
        rc = ACS_EINVAL;
        break;
      }
      continue;
    }
    if (strncmp(line, "dev ", 4) == 0) {
      d = find_dev(line + 4);
      dev_seen = true;
      if (d) {
        sim_dev_reset_data(d);
        loaded++;
      } else {
        skipped++;
      }
      continue;
    }
    if (!dev_seen || strlen(line) < 2 || line[1] != ' ') {
      bad++;
      continue;
    }
    if (d && load_line(d, line[0], line + 2)) bad++;
  }
  free(text);
  if (rc) return rc;
  if (!S->o.quiet)
    sim_log("state %s: %u devices loaded, %u not in this run, %u lines ignored", path, loaded,
            skipped, bad);
  return 0;
}
