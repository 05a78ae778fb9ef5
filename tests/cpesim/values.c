/* values.c: placeholders in default values, and the type checks of
 * SetParameterValues (docs/cpesim.md lists both). */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim.h"

static uint64_t node_hash(const sim_dev *d, const char *name, uint64_t salt) {
  uint64_t seed = S->o.seed ^ ((uint64_t)d->idx * 0x9e3779b97f4a7c15ull) ^ salt;
  return sim_hash64(name, strlen(name), seed);
}

static uint64_t uptime_s(const sim_dev *d) {
  uint64_t now = sim_now_ms();
  return now > d->boot_ms ? (now - d->boot_ms) / 1000 : 0;
}

/* The last instance number in a name ("A.3.B.7.X" -> 7), 0 when none. */
static unsigned long last_instance(const char *name) {
  unsigned long inst = 0;
  for (const char *p = name; *p; p++) {
    if (*p == '.' && isdigit((unsigned char)p[1])) {
      char *e;
      unsigned long v = strtoul(p + 1, &e, 10);
      if (*e == '.') inst = v;
    }
  }
  return inst;
}

static void put_mac(acs_buf *out, const uint8_t b[6]) {
  acs_buf_printf(out, "%02X:%02X:%02X:%02X:%02X:%02X", b[0], b[1], b[2], b[3], b[4], b[5]);
}

static void expand_one(const sim_dev *d, const char *name, uint8_t type, const char *key, size_t kl,
                       acs_buf *out) {
  char k[64];
  if (kl >= sizeof k) kl = sizeof k - 1;
  memcpy(k, key, kl);
  k[kl] = '\0';
  char *arg = strchr(k, ':');
  if (arg) *arg++ = '\0';
  const sim_model *m = S->model;
  char t[21];
  if (strcmp(k, "serial") == 0) {
    acs_buf_puts(out, d->serial);
  } else if (strcmp(k, "idx") == 0) {
    acs_buf_printf(out, "%" PRIu32, d->idx);
  } else if (strcmp(k, "mac") == 0) {
    uint32_t v = (d->idx * 16u + (arg ? (uint32_t)atoi(arg) : 0u)) & 0xffffffu;
    uint8_t b[6] = {m->oui_bytes[0],    m->oui_bytes[1],   m->oui_bytes[2],
                    (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
    put_mac(out, b);
  } else if (strcmp(k, "rmac") == 0) {
    uint64_t h = node_hash(d, "rmac", arg ? (uint64_t)atoi(arg) : 0);
    uint8_t b[6];
    for (int i = 0; i < 6; i++) b[i] = (uint8_t)(h >> (8 * i));
    b[0] = (uint8_t)((b[0] & 0xfc) | 0x02); /* locally administered, as phones randomise */
    put_mac(out, b);
  } else if (strcmp(k, "wanip") == 0) {
    uint32_t v = d->idx + 2;
    acs_buf_printf(out, "100.%u.%u.%u", 64 + ((v >> 16) & 63), (v >> 8) & 255, v & 255);
  } else if (strcmp(k, "wangw") == 0) {
    acs_buf_puts(out, "100.64.0.1");
  } else if (strcmp(k, "crurl") == 0) {
    acs_buf_printf(out, "%s%s", S->cr_base, d->serial);
  } else if (strcmp(k, "acsurl") == 0) {
    acs_buf_puts(out, S->o.acs_url);
  } else if (strcmp(k, "uptime") == 0) {
    acs_buf_printf(out, "%" PRIu64, uptime_s(d));
  } else if (strcmp(k, "now") == 0) {
    sim_time_iso(sim_wall_s(), t);
    acs_buf_puts(out, t);
  } else if (strcmp(k, "boottime") == 0) {
    sim_time_iso(d->boot_wall, t);
    acs_buf_puts(out, t);
  } else if (strcmp(k, "ctr") == 0) {
    uint64_t rate = arg ? strtoull(arg, NULL, 10) : 1;
    uint64_t v = uptime_s(d) * rate + node_hash(d, name, 1) % 100000;
    if (type == ACS_XSD_UNSIGNEDINT) v &= 0xffffffffu;
    acs_buf_printf(out, "%" PRIu64, v);
  } else if (strcmp(k, "hash") == 0) {
    long lo = 0, hi = 100;
    if (arg) sscanf(arg, "%ld:%ld", &lo, &hi);
    if (hi < lo) hi = lo;
    acs_buf_printf(out, "%ld", lo + (long)(node_hash(d, name, 2) % (uint64_t)(hi - lo + 1)));
  } else if (strcmp(k, "hex") == 0) {
    int n = arg ? atoi(arg) : 8;
    for (int i = 0; i < n && i < 64; i += 16) {
      uint64_t h = node_hash(d, name, 3 + (uint64_t)i);
      char hx[17];
      snprintf(hx, sizeof hx, "%016" PRIx64, h);
      acs_buf_append(out, hx, (size_t)(n - i < 16 ? n - i : 16));
    }
  } else if (strcmp(k, "inst") == 0) {
    acs_buf_printf(out, "%lu", last_instance(name));
  } else {
    acs_buf_printf(out, "%%{%s}", key); /* unknown: kept as is */
  }
}

void sim_expand(const sim_dev *d, const char *name, uint8_t type, const char *tmpl, acs_buf *out) {
  const char *p = tmpl;
  while (*p) {
    const char *pc = strchr(p, '%');
    if (!pc) {
      acs_buf_puts(out, p);
      break;
    }
    acs_buf_append(out, p, (size_t)(pc - p));
    if (pc[1] == '%') {
      acs_buf_putc(out, '%');
      p = pc + 2;
      continue;
    }
    const char *close = pc[1] == '{' ? strchr(pc + 2, '}') : NULL;
    if (!close) {
      acs_buf_putc(out, '%');
      p = pc + 1;
      continue;
    }
    expand_one(d, name, type, pc + 2, (size_t)(close - pc - 2), out);
    p = close + 1;
  }
  if (out->cap == 0) acs_buf_reserve(out, 1);
}

void sim_dev_id(const sim_dev *d, acs_buf *out) {
  acs_buf a = ACS_BUF_INIT, b = ACS_BUF_INIT;
  const sim_model *m = S->model;
  const char *oui = sim_dev_get_known(d, m->oui, &a, "000000");
  const char *pc = sim_dev_get_known(d, m->product_class, &b, "");
  acs_cwmp_device_id_format(oui, pc, d->serial, out);
  acs_buf_free(&a);
  acs_buf_free(&b);
}

/* --- checks */

static bool parse_int(const char *s, bool is_signed, int bits, long double *out) {
  const char *p = s;
  if (*p == '-') {
    if (!is_signed) return false;
    p++;
  } else if (*p == '+') {
    p++;
  }
  if (!*p) return false;
  for (const char *q = p; *q; q++)
    if (!isdigit((unsigned char)*q)) return false;
  errno = 0;
  if (is_signed) {
    long long v = strtoll(s, NULL, 10);
    if (errno) return false;
    if (bits == 32 && (v < INT32_MIN || v > INT32_MAX)) return false;
    *out = (long double)v;
  } else {
    unsigned long long v = strtoull(s, NULL, 10);
    if (errno) return false;
    if (bits == 32 && v > UINT32_MAX) return false;
    *out = (long double)v;
  }
  return true;
}

static bool in_ranges(const char *ranges, long double v) {
  /* "a..b,c..d", either bound may be empty */
  const char *p = ranges;
  while (*p && *p != ';') {
    const char *e = p + strcspn(p, ",;");
    const char *dd = strstr(p, "..");
    if (dd && dd < e) {
      bool ok = true;
      if (dd > p) ok = ok && v >= strtold(p, NULL);
      if (dd + 2 < e) ok = ok && v <= strtold(dd + 2, NULL);
      if (ok) return true;
    }
    p = *e == ',' ? e + 1 : e;
  }
  return false;
}

static bool in_enum(const char *list, const char *v, size_t vl) {
  /* "a|b|c" up to ';', with \| and \; escapes */
  const char *p = list;
  char item[256];
  while (*p && *p != ';') {
    size_t n = 0;
    while (*p && *p != '|' && *p != ';') {
      if (*p == '\\' && p[1]) p++;
      if (n + 1 < sizeof item) item[n++] = *p;
      p++;
    }
    item[n] = '\0';
    if (n == vl && memcmp(item, v, vl) == 0) return true;
    if (*p == '|') p++;
  }
  return false;
}

static const char *cons_get(const char *c, const char *key) {
  if (!c) return NULL;
  size_t kl = strlen(key);
  for (const char *p = c; *p;) {
    if (strncmp(p, key, kl) == 0) return p + kl;
    const char *s = p;
    while (*s && *s != ';') s += (*s == '\\' && s[1]) ? 2 : 1;
    p = *s ? s + 1 : s;
  }
  return NULL;
}

static bool is_base64(const char *s) {
  size_t n = 0, pad = 0;
  for (const char *p = s; *p; p++) {
    if (isspace((unsigned char)*p)) continue;
    if (*p == '=') {
      pad++;
    } else if (pad || !(isalnum((unsigned char)*p) || *p == '+' || *p == '/')) {
      return false;
    }
    n++;
  }
  return n % 4 == 0 && pad <= 2;
}

static bool is_hex(const char *s) {
  size_t n = 0;
  for (const char *p = s; *p; p++, n++)
    if (!isxdigit((unsigned char)*p)) return false;
  return n % 2 == 0;
}

static bool numeric_type(int t) {
  return t == ACS_XSD_INT || t == ACS_XSD_UNSIGNEDINT || t == ACS_XSD_LONG ||
         t == ACS_XSD_UNSIGNEDLONG || t == ACS_XSD_DECIMAL;
}

uint32_t sim_check_value(const sim_node *n, const char *value, acs_cwmp_type given) {
  int t = n->type;
  if (!value) value = "";
  /* the declared type: an xsd:string (or none) may carry any type's text;
   * otherwise it must be the same family */
  if (given != ACS_XSD_ANY && given != ACS_XSD_STRING && (int)given != t) {
    bool ok = (numeric_type(given) && numeric_type(t)) ||
              (given == ACS_XSD_BASE64 && t == ACS_XSD_STRING) ||
              (given == ACS_XSD_HEXBINARY && t == ACS_XSD_STRING);
    if (!ok) return 9006;
  }
  long double v = 0;
  switch (t) {
    case ACS_XSD_BOOLEAN:
      if (strcmp(value, "true") && strcmp(value, "false") && strcmp(value, "1") &&
          strcmp(value, "0"))
        return 9007;
      return 0;
    case ACS_XSD_INT:
    case ACS_XSD_LONG:
      if (!parse_int(value, true, t == ACS_XSD_INT ? 32 : 64, &v)) return 9007;
      break;
    case ACS_XSD_UNSIGNEDINT:
    case ACS_XSD_UNSIGNEDLONG:
      if (!parse_int(value, false, t == ACS_XSD_UNSIGNEDINT ? 32 : 64, &v)) return 9007;
      break;
    case ACS_XSD_DECIMAL: {
      char *e;
      errno = 0;
      v = strtold(value, &e);
      if (!*value || *e || errno) return 9007;
      break;
    }
    case ACS_XSD_DATETIME: {
      int64_t ts;
      bool unknown;
      return acs_cwmp_time_parse(value, &ts, &unknown) ? 9007 : 0;
    }
    case ACS_XSD_BASE64:
      if (!is_base64(value)) return 9007;
      break;
    case ACS_XSD_HEXBINARY:
      if (!is_hex(value)) return 9007;
      break;
    default:
      break;
  }
  const char *c = n->constraint;
  if (!c) return 0;
  const char *r = cons_get(c, "range:");
  if (r && numeric_type(t) && !in_ranges(r, v)) return 9007;
  const char *l = cons_get(c, "len:");
  if (l && strlen(value) > strtoul(l, NULL, 10)) return 9007;
  const char *en = cons_get(c, "enum:");
  if (en && t == ACS_XSD_STRING) {
    if (cons_get(c, "list")) {
      for (const char *p = value; *p;) {
        size_t il = strcspn(p, ",");
        const char *s = p;
        size_t sl = il;
        while (sl && *s == ' ') s++, sl--;
        if (sl && !in_enum(en, s, sl)) return 9007;
        p += il;
        if (*p == ',') p++;
      }
    } else if (!in_enum(en, value, strlen(value))) {
      return 9007;
    }
  }
  return 0;
}
