/* rpc_json.c: CWMP message bodies <-> JSON, driven by the codec's descriptor
 * tables (cwmp/desc.c), so every kind the codec knows converts one way.
 *
 * Written out here is only what the tables cannot say: the "Type" that goes
 * with a Value (its xsi:type), the "Op" selector of ChangeDUState operations
 * (an xsi:type on the wire), and the Fault, which has no body description:
 * it gets one below, in the codec's own terms. */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/acs_err.h"
#include "cwmp/cwmp_internal.h"
#include "session/acs_rpc_json.h"

#define MEMBER(base, off, T) ((T *)((char *)(base) + (off)))
#define CMEMBER(base, off, T) ((const T *)((const char *)(base) + (off)))

/* The JSON key of a Value's xsi:type, beside the Value. */
#define TYPE_KEY "Type"
/* The JSON key that selects a ChangeDUState operation's struct. */
#define OP_KEY "Op"

/* The cwmp:Fault detail. The SOAP faultcode and faultstring are not part of
 * the JSON: the encoder derives them from FaultCode. */
static const acs__cwmp_field fault_fields[] = {
    {"FaultCode", ACS__FK_UINT, offsetof(acs_cwmp_fault, code), 0, NULL, NULL, NULL},
    {"FaultString", ACS__FK_STR, offsetof(acs_cwmp_fault, string), 0, NULL, NULL, NULL},
    {"SetParameterValuesFault", ACS__FK_REPEAT, offsetof(acs_cwmp_fault, spv_faults), 0,
     &acs__cwmp_spv_fault_desc, NULL, NULL},
};
static const acs__cwmp_struct fault_desc = {
    "Fault", sizeof(acs_cwmp_fault), sizeof fault_fields / sizeof fault_fields[0], fault_fields};

static const acs__cwmp_struct *body_desc(acs_cwmp_kind k) {
  if (k == ACS_CWMP_FAULT) return &fault_desc;
  return (unsigned)k < ACS_CWMP_KIND_COUNT ? acs__cwmp_bodies[k] : NULL;
}

bool acs_rpc_is_task_kind(acs_cwmp_kind k) {
  switch (k) {
    case ACS_CWMP_GET_PARAMETER_VALUES:
    case ACS_CWMP_GET_PARAMETER_NAMES:
    case ACS_CWMP_SET_PARAMETER_VALUES:
    case ACS_CWMP_GET_PARAMETER_ATTRIBUTES:
    case ACS_CWMP_SET_PARAMETER_ATTRIBUTES:
    case ACS_CWMP_ADD_OBJECT:
    case ACS_CWMP_DELETE_OBJECT:
    case ACS_CWMP_REBOOT:
    case ACS_CWMP_FACTORY_RESET:
    case ACS_CWMP_DOWNLOAD:
    case ACS_CWMP_UPLOAD:
    case ACS_CWMP_SCHEDULE_INFORM:
    case ACS_CWMP_SCHEDULE_DOWNLOAD:
    case ACS_CWMP_CANCEL_TRANSFER:
    case ACS_CWMP_GET_QUEUED_TRANSFERS:
    case ACS_CWMP_GET_ALL_QUEUED_TRANSFERS:
    case ACS_CWMP_CHANGE_DU_STATE:
    case ACS_CWMP_GET_RPC_METHODS:
      return true;
    default:
      return false;
  }
}

bool acs_rpc_is_one_shot(acs_cwmp_kind k) {
  switch (k) {
    case ACS_CWMP_REBOOT:
    case ACS_CWMP_FACTORY_RESET:
    case ACS_CWMP_DOWNLOAD:
    case ACS_CWMP_UPLOAD:
    case ACS_CWMP_SCHEDULE_INFORM:
    case ACS_CWMP_SCHEDULE_DOWNLOAD:
    case ACS_CWMP_CHANGE_DU_STATE:
      return true;
    default:
      return false;
  }
}

/* Length of the short operation name in acs__cwmp_du_op_names[k]:
 * "Install" of "InstallOpStruct". */
static size_t du_op_short_len(int k) {
  const char *name = acs__cwmp_du_op_names[k];
  size_t n = strlen(name);
  return n > 8 && strcmp(name + n - 8, "OpStruct") == 0 ? n - 8 : n;
}

/* ------------------------------------------------------------------------ */
/* JSON -> message */

typedef struct jctx {
  acs_arena *arena;
  char *err;
  size_t errlen;
  size_t plen;    /* length of path */
  char path[256]; /* key path of the value being read: "ParameterList[2].Value" */
} jctx;

static size_t path_set(jctx *c, size_t mark, int n) {
  size_t end = n < 0 ? mark : mark + (size_t)n;
  c->plen = end < sizeof c->path ? end : sizeof c->path - 1;
  return mark;
}

/* Appends ".key" (or "key" at the top); returns the mark path_pop() restores. */
static size_t path_key(jctx *c, const char *key) {
  size_t mark = c->plen;
  return path_set(c, mark,
                  snprintf(c->path + mark, sizeof c->path - mark, "%s%s", mark ? "." : "", key));
}

static size_t path_index(jctx *c, size_t i) {
  size_t mark = c->plen;
  return path_set(c, mark, snprintf(c->path + mark, sizeof c->path - mark, "[%zu]", i));
}

static void path_pop(jctx *c, size_t mark) {
  c->plen = mark;
  c->path[mark] = '\0';
}

static int fail(jctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(jctx *c, const char *fmt, ...) {
  if (c->err && c->errlen) {
    int n = snprintf(c->err, c->errlen, "%s: ", c->plen ? c->path : "arguments");
    if (n >= 0 && (size_t)n < c->errlen) {
      va_list ap;
      va_start(ap, fmt);
      vsnprintf(c->err + n, c->errlen - (size_t)n, fmt, ap);
      va_end(ap);
    }
  }
  return ACS_EINVAL;
}

static int nomem(jctx *c) {
  if (c->err && c->errlen) snprintf(c->err, c->errlen, "out of memory");
  return ACS_ENOMEM;
}

/* The C string of a JSON string without NUL characters, else NULL. */
static const char *str_of(const json_t *v) {
  const char *s = json_string_value(v);
  return s && strlen(s) == json_string_length(v) ? s : NULL;
}

/* What v is, for messages: "an object", "\"abc\"", "-3". */
static const char *describe(const json_t *v, char *buf, size_t cap) {
  switch (json_typeof(v)) {
    case JSON_OBJECT:
      return "an object";
    case JSON_ARRAY:
      return "an array";
    case JSON_STRING:
      snprintf(buf, cap, "\"%.40s\"%s", json_string_value(v),
               json_string_length(v) > 40 ? "..." : "");
      return buf;
    case JSON_INTEGER:
      snprintf(buf, cap, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
      return buf;
    case JSON_REAL:
      snprintf(buf, cap, "%g", json_real_value(v));
      return buf;
    case JSON_TRUE:
      return "true";
    case JSON_FALSE:
      return "false";
    default:
      return "null";
  }
}

static int expected(jctx *c, const char *what, const json_t *v) {
  char buf[64];
  return fail(c, "expected %s, got %s", what, describe(v, buf, sizeof buf));
}

static int dup_string(jctx *c, const json_t *v, char **out) {
  if (!json_is_string(v)) return expected(c, "a string", v);
  const char *s = str_of(v);
  if (!s) return fail(c, "a string with a NUL character");
  if (!(*out = acs_arena_strndup(c->arena, s, json_string_length(v)))) return nomem(c);
  return 0;
}

/* A JSON integer, or a string of decimal digits with an optional '-'. */
static int get_integer(jctx *c, const json_t *v, long long lo, long long hi, long long *out) {
  char buf[64];
  long long x;
  if (json_is_integer(v)) {
    x = json_integer_value(v);
  } else if (json_is_string(v)) {
    const char *s = str_of(v), *d = s ? s + (*s == '-') : NULL;
    if (!d || !*d || strspn(d, "0123456789") != strlen(d)) return expected(c, "an integer", v);
    errno = 0;
    x = strtoll(s, NULL, 10);
    if (errno == ERANGE)
      return fail(c, "%s is out of range (%lld..%lld)", describe(v, buf, sizeof buf), lo, hi);
  } else {
    return expected(c, "an integer", v);
  }
  if (x < lo || x > hi) return fail(c, "%lld is out of range (%lld..%lld)", x, lo, hi);
  *out = x;
  return 0;
}

static int get_bool(jctx *c, const json_t *v, bool *out) {
  const char *s = str_of(v);
  if (json_is_boolean(v))
    *out = json_is_true(v);
  else if (json_is_integer(v) && (json_integer_value(v) == 0 || json_integer_value(v) == 1))
    *out = json_integer_value(v) == 1;
  else if (s && (strcmp(s, "true") == 0 || strcmp(s, "1") == 0))
    *out = true;
  else if (s && (strcmp(s, "false") == 0 || strcmp(s, "0") == 0))
    *out = false;
  else
    return expected(c, "a boolean", v);
  return 0;
}

/* "xsd:unsignedInt", "unsignedInt", "soap-enc:base64", ... */
static int get_type(jctx *c, const json_t *v, acs_cwmp_type *out) {
  if (!json_is_string(v)) return expected(c, "a string", v);
  const char *s = str_of(v), *local = s ? s : "";
  if (strncmp(local, "xsd:", 4) == 0)
    local += 4;
  else if (strncmp(local, "soap-enc:", 9) == 0)
    local += 9;
  acs_cwmp_type t = strchr(local, ':') ? ACS_XSD_ANY : acs_cwmp_type_from_name(local);
  /* acs_cwmp_type_from_name() takes unknown names for strings. */
  /* "object" is a type CPEs write in answers, never one to send */
  if (t == ACS_XSD_ANY || t == ACS_XSD_OBJECT ||
      (t == ACS_XSD_STRING && strcmp(local, "string") != 0)) {
    char buf[64];
    return fail(c, "unknown type %s", describe(v, buf, sizeof buf));
  }
  *out = t;
  return 0;
}

/* Shortest %g spelling that reads back as d. */
static void format_real(double d, char *buf, size_t cap) {
  for (int prec = 1; prec <= 17; prec++) {
    snprintf(buf, cap, "%.*g", prec, d);
    if (strtod(buf, NULL) == d) return;
  }
}

/* A Value and its Type, both members of obj. */
static int value_from_json(jctx *c, const acs__cwmp_field *f, const json_t *obj, void *base) {
  const json_t *v = json_object_get(obj, f->name), *t = json_object_get(obj, TYPE_KEY);
  char **val = MEMBER(base, f->off, char *);
  acs_cwmp_type *type = MEMBER(base, f->off2, acs_cwmp_type);
  acs_cwmp_type guess = ACS_XSD_STRING;
  char num[40];
  const char *text = NULL;
  int rc = 0;
  size_t mark = path_key(c, f->name);
  if (!v || json_is_null(v)) {
    /* absent: NULL, an empty element on the wire */
  } else if (json_is_string(v)) {
    rc = dup_string(c, v, val);
  } else if (json_is_boolean(v)) {
    text = json_is_true(v) ? "true" : "false";
    guess = ACS_XSD_BOOLEAN;
  } else if (json_is_integer(v)) {
    json_int_t x = json_integer_value(v);
    snprintf(num, sizeof num, "%" JSON_INTEGER_FORMAT, x);
    text = num;
    guess = x < INT32_MIN     ? ACS_XSD_LONG
            : x < 0           ? ACS_XSD_INT
            : x <= UINT32_MAX ? ACS_XSD_UNSIGNEDINT
                              : ACS_XSD_UNSIGNEDLONG;
  } else if (json_is_real(v)) {
    format_real(json_real_value(v), num, sizeof num);
    text = num;
  } else {
    rc = expected(c, "a string, number or boolean", v);
  }
  if (!rc && text && !(*val = acs_arena_strdup(c->arena, text))) rc = nomem(c);
  path_pop(c, mark);
  if (rc) return rc;
  *type = guess;
  if (!t || json_is_null(t)) return 0;
  mark = path_key(c, TYPE_KEY);
  rc = get_type(c, t, type);
  path_pop(c, mark);
  return rc;
}

static int struct_from_json(jctx *c, const acs__cwmp_struct *d, const json_t *obj, void *base,
                            const char *extra_key);

static int unknown_key(jctx *c, const acs__cwmp_struct *d, const char *extra_key) {
  char keys[256];
  size_t o = 0;
  keys[0] = '\0';
  for (uint16_t i = 0; i < d->n && o < sizeof keys; i++) {
    const acs__cwmp_field *f = &d->fields[i];
    o += (size_t)snprintf(keys + o, sizeof keys - o, "%s%s%s", o ? ", " : "", f->name,
                          f->kind == ACS__FK_VALUE ? ", " TYPE_KEY : "");
  }
  if (extra_key && o < sizeof keys)
    snprintf(keys + o, sizeof keys - o, "%s%s", o ? ", " : "", extra_key);
  if (!keys[0]) return fail(c, "unknown key (no arguments are taken)");
  return fail(c, "unknown key (known: %s)", keys);
}

/* One ChangeDUState operation: "Op" chooses the struct. */
static int du_op_from_json(jctx *c, const json_t *item, acs_cwmp_du_op *op) {
  if (!json_is_object(item)) return expected(c, "an object", item);
  const json_t *v = json_object_get(item, OP_KEY);
  const char *s = str_of(v);
  int k = -1;
  for (int i = 0; s && i < 3 && k < 0; i++) {
    size_t n = du_op_short_len(i);
    const char *name = acs__cwmp_du_op_names[i];
    if (strncmp(s, name, n) == 0 && (s[n] == '\0' || strcmp(s + n, name + n) == 0)) k = i;
  }
  if (k < 0) {
    size_t mark = path_key(c, OP_KEY);
    int rc = v ? expected(c, "\"Install\", \"Update\" or \"Uninstall\"", v)
               : fail(c, "missing (\"Install\", \"Update\" or \"Uninstall\")");
    path_pop(c, mark);
    return rc;
  }
  op->kind = (acs_cwmp_du_op_kind)k;
  return struct_from_json(c, acs__cwmp_du_ops[k], item, op, OP_KEY);
}

/* ARRAY (of strings or structs), REPEAT and DUOPS: a JSON array. */
static int array_from_json(jctx *c, const acs__cwmp_field *f, const json_t *v, void *base) {
  acs__cwmp_array *a = MEMBER(base, f->off, acs__cwmp_array);
  if (!json_is_array(v)) return expected(c, "an array", v);
  size_t n = json_array_size(v);
  size_t isz = f->kind == ACS__FK_DUOPS ? sizeof(acs_cwmp_du_op)
               : f->sub                 ? f->sub->size
                                        : sizeof(char *);
  a->v = NULL;
  a->n = 0;
  if (!n) return 0;
  if (!(a->v = acs_arena_calloc(c->arena, n, isz))) return nomem(c);
  for (size_t i = 0; i < n; i++) {
    const json_t *item = json_array_get(v, i);
    void *p = (char *)a->v + i * isz;
    size_t mark = path_index(c, i);
    int rc = f->kind == ACS__FK_DUOPS ? du_op_from_json(c, item, p)
             : f->sub                 ? struct_from_json(c, f->sub, item, p, NULL)
                                      : dup_string(c, item, p);
    path_pop(c, mark);
    if (rc) return rc;
    a->n++;
  }
  return 0;
}

static int field_from_json(jctx *c, const acs__cwmp_field *f, const json_t *v, void *base) {
  long long x;
  int rc;
  if (json_is_null(v)) return 0; /* null: absent, the default stays */
  switch ((acs__cwmp_fkind)f->kind) {
    case ACS__FK_STR:
    case ACS__FK_OSTR:
      return dup_string(c, v, MEMBER(base, f->off, char *));
    case ACS__FK_TIME: {
      char **s = MEMBER(base, f->off, char *);
      if ((rc = dup_string(c, v, s))) return rc;
      if (**s && acs_cwmp_time_parse(*s, NULL, NULL) != 0) {
        char buf[64];
        return fail(c, "%s is not an xsd:dateTime", describe(v, buf, sizeof buf));
      }
      return 0;
    }
    case ACS__FK_UINT:
      if ((rc = get_integer(c, v, 0, UINT32_MAX, &x))) return rc;
      *MEMBER(base, f->off, uint32_t) = (uint32_t)x;
      return 0;
    case ACS__FK_INT:
      if ((rc = get_integer(c, v, INT32_MIN, INT32_MAX, &x))) return rc;
      *MEMBER(base, f->off, int) = (int)x;
      return 0;
    case ACS__FK_BOOL:
      return get_bool(c, v, MEMBER(base, f->off, bool));
    case ACS__FK_VALUE:
      return 0; /* read with its Type by struct_from_json() */
    case ACS__FK_STRUCT:
      return struct_from_json(c, f->sub, v, MEMBER(base, f->off, char), NULL);
    case ACS__FK_ARRAY:
    case ACS__FK_REPEAT:
    case ACS__FK_DUOPS:
      return array_from_json(c, f, v, base);
  }
  return 0;
}

/* obj's members into the struct d describes at base; extra_key is a key the
 * caller has read already (the Op of a DU operation). */
static int struct_from_json(jctx *c, const acs__cwmp_struct *d, const json_t *obj, void *base,
                            const char *extra_key) {
  if (!json_is_object(obj)) return expected(c, "an object", obj);
  const acs__cwmp_field *value = NULL;
  for (uint16_t i = 0; i < d->n; i++)
    if (d->fields[i].kind == ACS__FK_VALUE) value = &d->fields[i];
  const char *key;
  json_t *v;
  json_object_foreach((json_t *)obj, key, v) {
    const acs__cwmp_field *f = NULL;
    for (uint16_t i = 0; i < d->n && !f; i++)
      if (strcmp(d->fields[i].name, key) == 0) f = &d->fields[i];
    if (!f && ((value && strcmp(key, TYPE_KEY) == 0) || (extra_key && strcmp(key, extra_key) == 0)))
      continue;
    size_t mark = path_key(c, key);
    int rc = f ? field_from_json(c, f, v, base) : unknown_key(c, d, extra_key);
    path_pop(c, mark);
    if (rc) return rc;
  }
  return value ? value_from_json(c, value, obj, base) : 0;
}

int acs_rpc_from_json(acs_cwmp_kind kind, const json_t *args, acs_arena *arena, acs_cwmp_msg *out,
                      char *err, size_t errlen) {
  jctx c = {.arena = arena, .err = err, .errlen = errlen};
  memset(out, 0, sizeof *out);
  if (err && errlen) err[0] = '\0';
  const acs__cwmp_struct *d = body_desc(kind);
  if (!d) {
    if (err && errlen) snprintf(err, errlen, "message kind %d has no body to fill", (int)kind);
    return ACS_EINVAL;
  }
  out->kind = kind;
  if (!args || json_is_null(args)) return 0;
  int rc = struct_from_json(&c, d, args, &out->u, NULL);
  if (rc) memset(&out->u, 0, sizeof out->u);
  return rc;
}

/* ------------------------------------------------------------------------ */
/* message -> JSON */

/* Length of the valid UTF-8 sequence at p (as jansson checks it: no
 * overlong forms, surrogates or code points past U+10FFFF), 0 if invalid. */
static size_t utf8_seq(const unsigned char *p) {
  size_t n;
  if (p[0] < 0x80) return 1;
  if (p[0] >= 0xC2 && p[0] <= 0xDF)
    n = 2;
  else if (p[0] >= 0xE0 && p[0] <= 0xEF)
    n = 3;
  else if (p[0] >= 0xF0 && p[0] <= 0xF4)
    n = 4;
  else
    return 0;
  uint32_t cp = p[0] & (0x3Fu >> (n - 1));
  for (size_t i = 1; i < n; i++) {
    if ((p[i] & 0xC0) != 0x80) return 0; /* also stops at the NUL */
    cp = cp << 6 | (p[i] & 0x3Fu);
  }
  if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
      (cp >= 0xD800 && cp <= 0xDFFF))
    return 0;
  return n;
}

/* A JSON string of s; bytes that are not UTF-8 become U+FFFD (JSON strings
 * are Unicode, and a struct built in C may hold anything). */
static json_t *jstr(const char *s) {
  json_t *j = json_string(s);
  if (j) return j;
  size_t len = strlen(s), o = 0;
  char *fixed = malloc(len * 3 + 1);
  if (!fixed) return NULL;
  for (const unsigned char *p = (const unsigned char *)s; *p;) {
    size_t n = utf8_seq(p);
    if (n) {
      memcpy(fixed + o, p, n);
      o += n;
      p += n;
    } else {
      memcpy(fixed + o, "\xEF\xBF\xBD", 3);
      o += 3;
      p++;
    }
  }
  j = json_stringn(fixed, o);
  free(fixed);
  return j;
}

static int struct_fill(json_t *o, const acs__cwmp_struct *d, const void *base);

static json_t *struct_to_json(const acs__cwmp_struct *d, const void *base) {
  json_t *o = json_object();
  if (o && struct_fill(o, d, base)) {
    json_decref(o);
    return NULL;
  }
  return o;
}

static json_t *du_op_to_json(const acs_cwmp_du_op *op) {
  unsigned k = (unsigned)op->kind < 3 ? (unsigned)op->kind : 0; /* as the encoder does */
  json_t *o = json_object();
  if (o && (json_object_set_new(o, OP_KEY,
                                json_stringn(acs__cwmp_du_op_names[k], du_op_short_len((int)k))) ||
            struct_fill(o, acs__cwmp_du_ops[k], op))) {
    json_decref(o);
    return NULL;
  }
  return o;
}

static json_t *array_to_json(const acs__cwmp_field *f, const void *base) {
  const acs__cwmp_array *a = CMEMBER(base, f->off, acs__cwmp_array);
  size_t isz = f->kind == ACS__FK_DUOPS ? sizeof(acs_cwmp_du_op)
               : f->sub                 ? f->sub->size
                                        : sizeof(char *);
  json_t *arr = json_array();
  for (size_t i = 0; arr && i < a->n; i++) {
    const void *p = (const char *)a->v + i * isz;
    const char *s = f->sub ? NULL : *(char *const *)p;
    json_t *item = f->kind == ACS__FK_DUOPS ? du_op_to_json(p)
                   : f->sub                 ? struct_to_json(f->sub, p)
                                            : jstr(s ? s : "");
    if (json_array_append_new(arr, item)) {
      json_decref(arr);
      return NULL;
    }
  }
  return arr;
}

static int field_to_json(json_t *o, const acs__cwmp_field *f, const void *base) {
  switch ((acs__cwmp_fkind)f->kind) {
    case ACS__FK_STR:
    case ACS__FK_OSTR:
    case ACS__FK_TIME: {
      const char *s = *CMEMBER(base, f->off, char *);
      return s ? json_object_set_new(o, f->name, jstr(s)) : 0;
    }
    case ACS__FK_UINT:
      return json_object_set_new(o, f->name, json_integer(*CMEMBER(base, f->off, uint32_t)));
    case ACS__FK_INT:
      return json_object_set_new(o, f->name, json_integer(*CMEMBER(base, f->off, int)));
    case ACS__FK_BOOL:
      return json_object_set_new(o, f->name, json_boolean(*CMEMBER(base, f->off, bool)));
    case ACS__FK_VALUE: {
      const char *s = *CMEMBER(base, f->off, char *);
      const char *q = acs__cwmp_type_qname(*CMEMBER(base, f->off2, acs_cwmp_type));
      if (s && json_object_set_new(o, f->name, jstr(s))) return -1;
      return q ? json_object_set_new(o, TYPE_KEY, json_string(q)) : 0;
    }
    case ACS__FK_STRUCT:
      return json_object_set_new(o, f->name, struct_to_json(f->sub, CMEMBER(base, f->off, char)));
    case ACS__FK_ARRAY:
    case ACS__FK_REPEAT:
    case ACS__FK_DUOPS:
      return json_object_set_new(o, f->name, array_to_json(f, base));
  }
  return 0;
}

static int struct_fill(json_t *o, const acs__cwmp_struct *d, const void *base) {
  for (uint16_t i = 0; i < d->n; i++)
    if (field_to_json(o, &d->fields[i], base)) return -1;
  return 0;
}

json_t *acs_rpc_to_json(const acs_cwmp_msg *msg) {
  const acs__cwmp_struct *d = body_desc(msg->kind);
  json_t *o = json_object();
  if (!o || !d) return o; /* NONE, UNKNOWN: no body */
  if (struct_fill(o, d, &msg->u)) goto fail;
  if (msg->kind == ACS_CWMP_FAULT) {
    const acs_cwmp_fault *f = &msg->u.fault;
    const char *text = acs_cwmp_fault_string(f->code);
    /* What the encoder would send for a NULL FaultString. */
    if (!f->string && text && json_object_set_new(o, "FaultString", json_string(text))) goto fail;
    if (!f->spv_faults.n) json_object_del(o, "SetParameterValuesFault");
  }
  return o;
fail:
  json_decref(o);
  return NULL;
}

int acs_rpc_provision_check(const json_t *args, char *err, size_t errlen) {
  const json_t *list = json_is_object(args) ? json_object_get(args, "provisions") : NULL;
  size_t n = json_array_size(list);
  if (!json_is_array(list) || n == 0 || n > ACS_RPC_PROVISIONS_MAX) {
    snprintf(err, errlen, "provisions: expected a list of 1 to %d provision names",
             ACS_RPC_PROVISIONS_MAX);
    return ACS_EINVAL;
  }
  for (size_t i = 0; i < n; i++) {
    const char *name = json_string_value(json_array_get(list, i));
    size_t len = name ? strlen(name) : 0;
    bool ok = len >= 1 && len <= 64 && name[0] != '/';
    for (size_t j = 0; ok && j < len; j++)
      ok = isalnum((unsigned char)name[j]) || strchr("_-/", name[j]) != NULL;
    if (!ok || strstr(name, "..") || strstr(name, "//")) {
      snprintf(err, errlen, "provisions[%zu]: expected a provision name such as \"refresh\"", i);
      return ACS_EINVAL;
    }
  }
  const char *key;
  const json_t *v;
  json_object_foreach((json_t *)args, key, v) {
    if (strcmp(key, "provisions") == 0) continue;
    if (strcmp(key, "args") == 0 && (json_is_object(v) || json_is_null(v))) continue;
    if (strcmp(key, "args") == 0)
      snprintf(err, errlen, "args: expected an object");
    else
      snprintf(err, errlen, "unknown key '%s' (expected provisions, args)", key);
    return ACS_EINVAL;
  }
  return 0;
}
