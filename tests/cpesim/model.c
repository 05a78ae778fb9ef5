/* model.c: the device model file (docs/cpesim.md), loaded once and shared
 * by every simulated device.
 *
 * Nodes are sorted segment by segment (numeric segments as numbers, an
 * object before its children), so that every subtree is one contiguous
 * range [i, nodes[i].end): a partial path is a range scan. Names with {i}
 * are templates for AddObject and live in a second array. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/acs_err.h"
#include "sim.h"

static uint32_t fnv(const char *s, size_t n) {
  uint32_t h = 2166136261u;
  for (size_t i = 0; i < n; i++) {
    h ^= (unsigned char)s[i];
    h *= 16777619u;
  }
  return h;
}

uint8_t sim_name_depth(const char *name, size_t len) {
  unsigned d = 0;
  for (size_t i = 0; i + 1 < len; i++)
    if (name[i] == '.') d++;
  return (uint8_t)(d > 255 ? 255 : d);
}

static bool all_digits(const char *s, size_t n) {
  if (n == 0) return false;
  for (size_t i = 0; i < n; i++)
    if (!isdigit((unsigned char)s[i])) return false;
  return true;
}

void sim_template_name(const char *name, size_t len, acs_buf *out) {
  size_t i = 0;
  while (i < len) {
    size_t j = i;
    while (j < len && name[j] != '.') j++;
    if (all_digits(name + i, j - i))
      acs_buf_puts(out, "{i}");
    else
      acs_buf_append(out, name + i, j - i);
    if (j < len) acs_buf_putc(out, '.');
    i = j + 1;
  }
  if (out->cap == 0) acs_buf_reserve(out, 1);
}

/* Segment-wise order: numbers as numbers, "" (the end of an object name)
 * before anything. */
static int name_cmp(const char *a, const char *b) {
  for (;;) {
    size_t la = strcspn(a, "."), lb = strcspn(b, ".");
    int c;
    if (all_digits(a, la) && all_digits(b, lb)) {
      unsigned long long x = strtoull(a, NULL, 10), y = strtoull(b, NULL, 10);
      c = x < y ? -1 : x > y;
    } else {
      size_t m = la < lb ? la : lb;
      c = memcmp(a, b, m);
      if (c == 0) c = la < lb ? -1 : la > lb;
    }
    if (c) return c;
    a += la;
    b += lb;
    if (!*a || !*b) return *a ? 1 : *b ? -1 : 0;
    a++;
    b++;
    if (!*a || !*b) return *a ? 1 : *b ? -1 : 0;
  }
}

static int node_cmp(const void *x, const void *y) {
  return name_cmp(((const sim_node *)x)->name, ((const sim_node *)y)->name);
}

static void build_hash(sim_node *v, uint32_t n, uint32_t **hash, uint32_t *cap) {
  uint32_t c = 16;
  while (c < n * 2 + 1) c *= 2;
  uint32_t *h = sim_xmalloc(c * sizeof *h);
  memset(h, 0xff, c * sizeof *h);
  for (uint32_t i = 0; i < n; i++) {
    uint32_t k = fnv(v[i].name, v[i].name_len) & (c - 1);
    while (h[k] != SIM_NONE) k = (k + 1) & (c - 1);
    h[k] = i;
  }
  *hash = h;
  *cap = c;
}

static uint32_t lookup(const sim_node *v, const uint32_t *h, uint32_t cap, const char *name,
                       size_t len) {
  if (!h) return SIM_NONE;
  uint32_t k = fnv(name, len) & (cap - 1);
  while (h[k] != SIM_NONE) {
    const sim_node *nd = &v[h[k]];
    if (nd->name_len == len && memcmp(nd->name, name, len) == 0) return h[k];
    k = (k + 1) & (cap - 1);
  }
  return SIM_NONE;
}

uint32_t sim_model_find(const sim_model *m, const char *name, size_t len) {
  return lookup(m->nodes, m->hash, m->hcap, name, len);
}

uint32_t sim_model_find_tpl(const sim_model *m, const char *name, size_t len) {
  return lookup(m->tpl, m->thash, m->thcap, name, len);
}

/* Subtree ends and parents of a sorted array; for the main array every
 * node's parent must be there. */
static int link_tree(sim_node *v, uint32_t n, bool need_parents, char *err, size_t errlen) {
  uint32_t *stack = sim_xmalloc((n + 1) * sizeof *stack);
  uint32_t sp = 0;
  int rc = 0;
  for (uint32_t i = 0; i < n; i++) {
    sim_node *nd = &v[i];
    while (sp && !(nd->name_len > v[stack[sp - 1]].name_len &&
                   memcmp(nd->name, v[stack[sp - 1]].name, v[stack[sp - 1]].name_len) == 0))
      v[stack[--sp]].end = i;
    nd->parent = SIM_NONE;
    if (sp) {
      sim_node *p = &v[stack[sp - 1]];
      /* the direct parent: the rest of the name is one segment */
      const char *rest = nd->name + p->name_len;
      size_t rl = nd->name_len - p->name_len;
      const char *dot = memchr(rest, '.', rl);
      if (!dot || (size_t)(dot - rest) == rl - 1) nd->parent = stack[sp - 1];
    }
    if (need_parents && nd->parent == SIM_NONE && nd->depth > 0) {
      snprintf(err, errlen, "%s: its parent object is not in the model", nd->name);
      rc = ACS_EINVAL;
      break;
    }
    if (i && strcmp(v[i - 1].name, nd->name) == 0) {
      snprintf(err, errlen, "%s: listed twice", nd->name);
      rc = ACS_EINVAL;
      break;
    }
    nd->end = i + 1;
    if (nd->type == SIM_OBJECT) stack[sp++] = i;
  }
  while (sp) v[stack[--sp]].end = n;
  free(stack);
  return rc;
}

static void unescape(char *s) {
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

static int parse_type(const char *s) {
  static const char *const names[] = {"string",       "int",     "unsignedInt", "long",
                                      "unsignedLong", "boolean", "dateTime",    "base64",
                                      "hexBinary",    "decimal"};
  if (strcmp(s, "object") == 0) return SIM_OBJECT;
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
    if (strcmp(s, names[i]) == 0) return acs_cwmp_type_from_name(s);
  return -1;
}

static int parse_line(char *line, sim_node *nd, char *err, size_t errlen) {
  char *f[5] = {0};
  int nf = 0;
  char *p = line;
  while (nf < 5) {
    f[nf++] = p;
    char *t = strchr(p, '\t');
    if (!t) break;
    *t = '\0';
    p = t + 1;
  }
  if (nf < 3) {
    snprintf(err, errlen, "expected name, type, flags, value");
    return ACS_EINVAL;
  }
  memset(nd, 0, sizeof *nd);
  size_t nl = strlen(f[0]);
  if (nl == 0 || nl > 1024) {
    snprintf(err, errlen, "bad name");
    return ACS_EINVAL;
  }
  int t = parse_type(f[1]);
  if (t < 0) {
    snprintf(err, errlen, "%s: unknown type '%s'", f[0], f[1]);
    return ACS_EINVAL;
  }
  bool is_obj = f[0][nl - 1] == '.';
  if (is_obj != (t == SIM_OBJECT)) {
    snprintf(err, errlen, "%s: objects (and only they) end with '.' and have type object", f[0]);
    return ACS_EINVAL;
  }
  nd->type = (uint8_t)t;
  for (const char *c = f[2]; *c; c++) {
    switch (*c) {
      case 'W':
        nd->flags |= SIM_F_WRITABLE;
        break;
      case 'F':
        nd->flags |= SIM_F_FORCED;
        break;
      case 'A':
        nd->flags |= SIM_F_FORCE_ACTIVE;
        break;
      case 'D':
        nd->flags |= SIM_F_CAN_DENY;
        break;
      case 'H':
        nd->flags |= SIM_F_HIDDEN;
        break;
      case 'C':
        nd->flags |= SIM_F_CHANGING;
        break;
      case 'T':
        nd->flags |= SIM_F_TABLE;
        break;
      case '-':
        break;
      default:
        if (*c >= '0' && *c <= '6') {
          nd->notif = (uint8_t)(*c - '0');
          break;
        }
        snprintf(err, errlen, "%s: unknown flag '%c'", f[0], *c);
        return ACS_EINVAL;
    }
  }
  if ((nd->flags & SIM_F_TABLE) && t != SIM_OBJECT) {
    snprintf(err, errlen, "%s: flag T on a parameter", f[0]);
    return ACS_EINVAL;
  }
  nd->name = sim_xstrdup(f[0]);
  nd->name_len = (uint16_t)nl;
  nd->depth = sim_name_depth(nd->name, nl);
  if (strstr(nd->name, "{i}")) nd->flags |= SIM_F_TEMPLATE;
  if (nf > 3) {
    unescape(f[3]);
    nd->value = sim_xstrdup(f[3]);
  } else {
    nd->value = sim_xstrdup("");
  }
  if (nf > 4 && *f[4]) {
    unescape(f[4]);
    nd->constraint = sim_xstrdup(f[4]);
    const char *mx = strstr(nd->constraint, "max:");
    if (mx && (nd->flags & SIM_F_TABLE)) nd->max_entries = (uint32_t)strtoul(mx + 4, NULL, 10);
  }
  if (nd->type != SIM_OBJECT && nd->value && !(nd->flags & SIM_F_TEMPLATE) &&
      !strstr(nd->value, "%{")) {
    uint32_t fc = sim_check_value(nd, nd->value, ACS_XSD_ANY);
    if (fc) {
      snprintf(err, errlen, "%s: default '%s' is not a valid %s", nd->name, nd->value,
               acs_cwmp_type_name((acs_cwmp_type)nd->type));
      return ACS_EINVAL;
    }
  }
  return 0;
}

/* NumberOfEntries parameters and next instance numbers of the tables. */
static void link_tables(sim_node *v, uint32_t n, const uint32_t *h, uint32_t cap) {
  acs_buf b = ACS_BUF_INIT;
  for (uint32_t i = 0; i < n; i++) {
    sim_node *t = &v[i];
    if (!(t->flags & SIM_F_TABLE)) continue;
    uint32_t next = 1;
    for (uint32_t j = i + 1; j<t->end; j = v[j].end> j ? v[j].end : j + 1) {
      if (v[j].parent != i || v[j].type != SIM_OBJECT) continue;
      unsigned long k = strtoul(v[j].name + t->name_len, NULL, 10);
      if (k >= next) next = (uint32_t)k + 1;
    }
    t->next_inst = next;
    if (!t->value || !*t->value) continue;
    /* the table "A.B.C." counts in "A.B." + leaf */
    size_t pl = t->name_len - 1;
    while (pl > 0 && t->name[pl - 1] != '.') pl--;
    acs_buf_reset(&b);
    acs_buf_append(&b, t->name, pl);
    acs_buf_puts(&b, t->value);
    uint32_t c = lookup(v, h, cap, b.data, b.len);
    if (c != SIM_NONE && v[c].type != SIM_OBJECT) {
      free(v[c].count_leaf);
      v[c].count_leaf = sim_xstrndup(t->name + pl, t->name_len - pl);
    }
  }
  acs_buf_free(&b);
}

static uint32_t known(const sim_model *m, const char *suffix) {
  char buf[256];
  snprintf(buf, sizeof buf, "%s%s", m->root, suffix);
  return sim_model_find(m, buf, strlen(buf));
}

int sim_model_load(const char *path, sim_model **out, char *err, size_t errlen) {
  size_t len;
  char *text = sim_read_file(path, &len);
  if (!text) {
    snprintf(err, errlen, "%s: %s", path, strerror(errno));
    return -errno;
  }
  sim_model *m = sim_xcalloc(1, sizeof *m);
  m->path = sim_xstrdup(path);
  SIM_VEC(sim_node) main = {0}, tpl = {0};
  char lerr[512];
  int rc = 0, lineno = 0;
  for (char *line = text, *next; line && *line; line = next) {
    next = strchr(line, '\n');
    if (next) *next++ = '\0';
    lineno++;
    size_t l = strlen(line);
    if (l && line[l - 1] == '\r') line[--l] = '\0';
    if (l == 0 || line[0] == '#') continue;
    sim_node nd;
    if ((rc = parse_line(line, &nd, lerr, sizeof lerr))) {
      snprintf(err, errlen, "%s:%d: %s", path, lineno, lerr);
      break;
    }
    if (nd.flags & SIM_F_TEMPLATE)
      *SIM_VPUSH(tpl) = nd;
    else
      *SIM_VPUSH(main) = nd;
  }
  free(text);
  m->nodes = main.v;
  m->n = main.n;
  m->tpl = tpl.v;
  m->ntpl = tpl.n;
  if (rc) goto fail;
  if (m->n == 0) {
    snprintf(err, errlen, "%s: no nodes", path);
    rc = ACS_EINVAL;
    goto fail;
  }
  qsort(m->nodes, m->n, sizeof *m->nodes, node_cmp);
  if (m->ntpl) qsort(m->tpl, m->ntpl, sizeof *m->tpl, node_cmp);
  const sim_node *r = &m->nodes[0];
  if (r->type != SIM_OBJECT || r->depth != 0) {
    snprintf(err, errlen, "%s: the first node must be the root object", path);
    rc = ACS_EINVAL;
    goto fail;
  }
  m->root = sim_xstrdup(r->name);
  for (uint32_t i = 0; i < m->n; i++) {
    if (strncmp(m->nodes[i].name, m->root, r->name_len) != 0) {
      snprintf(err, errlen, "%s: %s is not under %s", path, m->nodes[i].name, m->root);
      rc = ACS_EINVAL;
      goto fail;
    }
    if (m->nodes[i].type != SIM_OBJECT) m->nparams++;
  }
  if ((rc = link_tree(m->nodes, m->n, true, lerr, sizeof lerr)) ||
      (rc = link_tree(m->tpl, m->ntpl, false, lerr, sizeof lerr))) {
    snprintf(err, errlen, "%s: %s", path, lerr);
    goto fail;
  }
  build_hash(m->nodes, m->n, &m->hash, &m->hcap);
  if (m->ntpl) build_hash(m->tpl, m->ntpl, &m->thash, &m->thcap);
  link_tables(m->nodes, m->n, m->hash, m->hcap);
  link_tables(m->tpl, m->ntpl, m->thash, m->thcap);
  /* count parameters inside templates may count a table that is itself a
   * template's child: link_tables on tpl handled those. */
  SIM_VEC(uint32_t) forced = {0}, changing = {0};
  for (uint32_t i = 0; i < m->n; i++) {
    if (m->nodes[i].flags & SIM_F_FORCED) *SIM_VPUSH(forced) = i;
    if ((m->nodes[i].flags & SIM_F_CHANGING) && m->nodes[i].type != SIM_OBJECT)
      *SIM_VPUSH(changing) = i;
  }
  m->forced = forced.v;
  m->nforced = forced.n;
  m->changing = changing.v;
  m->nchanging = changing.n;
  m->manufacturer = known(m, "DeviceInfo.Manufacturer");
  m->oui = known(m, "DeviceInfo.ManufacturerOUI");
  m->product_class = known(m, "DeviceInfo.ProductClass");
  m->serial = known(m, "DeviceInfo.SerialNumber");
  m->sw_version = known(m, "DeviceInfo.SoftwareVersion");
  m->hw_version = known(m, "DeviceInfo.HardwareVersion");
  m->prov_code = known(m, "DeviceInfo.ProvisioningCode");
  m->param_key = known(m, "ManagementServer.ParameterKey");
  m->cr_url = known(m, "ManagementServer.ConnectionRequestURL");
  m->cr_user = known(m, "ManagementServer.ConnectionRequestUsername");
  m->cr_pass = known(m, "ManagementServer.ConnectionRequestPassword");
  m->pi_enable = known(m, "ManagementServer.PeriodicInformEnable");
  m->pi_interval = known(m, "ManagementServer.PeriodicInformInterval");
  m->retry_min = known(m, "ManagementServer.CWMPRetryMinimumWaitInterval");
  m->retry_mult = known(m, "ManagementServer.CWMPRetryIntervalMultiplier");
  m->acs_user = known(m, "ManagementServer.Username");
  m->acs_pass = known(m, "ManagementServer.Password");
  m->du_table = known(m, "SoftwareModules.DeploymentUnit.");
  if (m->oui == SIM_NONE || m->serial == SIM_NONE) {
    snprintf(err, errlen, "%s: the model needs DeviceInfo.ManufacturerOUI and SerialNumber", path);
    rc = ACS_EINVAL;
    goto fail;
  }
  const char *o = m->nodes[m->oui].value;
  unsigned b[3] = {0x02, 0xCA, 0xFE};
  if (strlen(o) == 6) sscanf(o, "%2x%2x%2x", &b[0], &b[1], &b[2]);
  for (int i = 0; i < 3; i++) m->oui_bytes[i] = (uint8_t)b[i];
  *out = m;
  return 0;
fail:
  sim_model_free(m);
  return rc;
}

int sim_model_set_default(sim_model *m, const char *name, const char *value) {
  uint32_t i = sim_model_find(m, name, strlen(name));
  if (i == SIM_NONE || m->nodes[i].type == SIM_OBJECT) return ACS_ENOTFOUND;
  if (sim_check_value(&m->nodes[i], value, ACS_XSD_ANY)) return ACS_EINVAL;
  sim_strset(&m->nodes[i].value, value);
  return 0;
}

static void free_nodes(sim_node *v, uint32_t n) {
  for (uint32_t i = 0; i < n; i++) {
    free(v[i].name);
    free(v[i].value);
    free(v[i].constraint);
    free(v[i].count_leaf);
  }
  free(v);
}

void sim_model_free(sim_model *m) {
  if (!m) return;
  free_nodes(m->nodes, m->n);
  free_nodes(m->tpl, m->ntpl);
  free(m->hash);
  free(m->thash);
  free(m->forced);
  free(m->changing);
  free(m->root);
  free(m->path);
  free(m);
}
