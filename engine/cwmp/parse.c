/* parse.c: SOAP envelope text -> CWMP structs, driven by desc.c.
 *
 * libxml2 builds a tree under guard: SAX hooks refuse any DTD (so no entity
 * can be declared: no billion laughs, no external entities), count elements
 * and bound the depth; the parser never touches the network. The tree is then
 * walked by namespace URI and local name, never by prefix, copying what the
 * descriptions ask for into the caller's arena, and freed before returning. */
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/parserInternals.h>
#include <libxml/tree.h>

#include "core/acs_err.h"
#include "cwmp/cwmp_internal.h"

#define MEMBER(base, off, T) ((T *)((char *)(base) + (off)))

typedef struct pctx {
  acs_arena *arena;
  acs_cwmp_parse_limits lim;
  acs_cwmp_error *err;
  int fail; /* set by the SAX guards: ACS_EDTD, ACS_EDEPTH, ACS_ETOOBIG */
  int fail_line;
  unsigned depth;
  size_t elements;
  startElementNsSAX2Func start_element;
  endElementNsSAX2Func end_element;
} pctx;

static pthread_once_t xml_once = PTHREAD_ONCE_INIT;
static void xml_init(void) { xmlInitParser(); }

static int set_err(acs_cwmp_error *err, int code, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int set_err(acs_cwmp_error *err, int code, int line, const char *fmt, ...) {
  if (err) {
    err->code = code;
    err->line = line;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
  }
  return code;
}

/* ---- SAX guards ---- */

static pctx *guard_of(void *ctx) { return ((xmlParserCtxtPtr)ctx)->_private; }

static void guard_stop(void *ctx, int code) {
  xmlParserCtxtPtr c = ctx;
  pctx *pc = guard_of(ctx);
  if (!pc->fail) {
    pc->fail = code;
    pc->fail_line = c->input ? c->input->line : 0;
  }
  xmlStopParser(c);
}

static void guard_dtd(void *ctx, const xmlChar *name, const xmlChar *ext, const xmlChar *sys) {
  guard_stop(ctx, ACS_EDTD);
}

static void guard_entity(void *ctx, const xmlChar *name, int type, const xmlChar *pub,
                         const xmlChar *sys, xmlChar *content) {
  guard_stop(ctx, ACS_EDTD);
}

static void guard_start(void *ctx, const xmlChar *localname, const xmlChar *prefix,
                        const xmlChar *uri, int nb_namespaces, const xmlChar **namespaces,
                        int nb_attributes, int nb_defaulted, const xmlChar **attributes) {
  pctx *pc = guard_of(ctx);
  if (pc->fail) return;
  if (++pc->elements > pc->lim.max_elements) {
    guard_stop(ctx, ACS_ETOOBIG);
    return;
  }
  if (++pc->depth > pc->lim.max_depth) {
    guard_stop(ctx, ACS_EDEPTH);
    return;
  }
  pc->start_element(ctx, localname, prefix, uri, nb_namespaces, namespaces, nb_attributes,
                    nb_defaulted, attributes);
}

static void guard_end(void *ctx, const xmlChar *localname, const xmlChar *prefix,
                      const xmlChar *uri) {
  pctx *pc = guard_of(ctx);
  if (pc->fail) return;
  pc->depth--;
  pc->end_element(ctx, localname, prefix, uri);
}

static void quiet_error(void *ctx, xmlErrorPtr e) {}

/* ---- tree helpers ---- */

static bool ns_is(const xmlNode *n, const char *uri) {
  return n->ns && n->ns->href && strcmp((const char *)n->ns->href, uri) == 0;
}

static bool name_is(const xmlNode *n, const char *name) {
  return strcmp((const char *)n->name, name) == 0;
}

/* Namespace version of a URI "urn:dslforum-org:cwmp-1-N", or -1. */
static int cwmp_ns_version(const xmlChar *href) {
  const size_t plen = sizeof ACS_NS_CWMP_PREFIX - 1;
  if (!href || strncmp((const char *)href, ACS_NS_CWMP_PREFIX, plen) != 0) return -1;
  const char *v = (const char *)href + plen;
  if (v[0] >= '0' && v[0] < '0' + ACS_CWMP_NS_COUNT && v[1] == '\0') return v[0] - '0';
  return -1;
}

static xmlNode *first_element(xmlNode *n) {
  for (; n; n = n->next)
    if (n->type == XML_ELEMENT_NODE) return n;
  return NULL;
}
#define next_element(n) first_element((n)->next)

static const char *attr_ns(const xmlNode *n, const char *local, const char *uri1,
                           const char *uri2) {
  for (const xmlAttr *a = n->properties; a; a = a->next) {
    if (strcmp((const char *)a->name, local) != 0 || !a->ns) continue;
    const char *href = (const char *)a->ns->href;
    if (strcmp(href, uri1) == 0 || (uri2 && strcmp(href, uri2) == 0)) {
      const xmlNode *t = a->children;
      return t && t->type == XML_TEXT_NODE ? (const char *)t->content : "";
    }
  }
  return NULL;
}

/* Text content of an element: its text and CDATA children, concatenated
 * (child elements, comments and PIs are skipped). Never NULL on success. */
static char *text_of(pctx *pc, const xmlNode *n) {
  size_t len = 0;
  const xmlNode *only = NULL;
  int parts = 0;
  for (const xmlNode *c = n->children; c; c = c->next) {
    if (c->type != XML_TEXT_NODE && c->type != XML_CDATA_SECTION_NODE) continue;
    len += strlen((const char *)c->content);
    only = c;
    parts++;
  }
  if (parts == 1) return acs_arena_strndup(pc->arena, (const char *)only->content, len);
  char *s = acs_arena_alloc(pc->arena, len + 1);
  if (!s) return NULL;
  size_t off = 0;
  for (const xmlNode *c = n->children; c; c = c->next) {
    if (c->type != XML_TEXT_NODE && c->type != XML_CDATA_SECTION_NODE) continue;
    size_t l = strlen((const char *)c->content);
    memcpy(s + off, c->content, l);
    off += l;
  }
  s[off] = '\0';
  return s;
}

static int nomem(pctx *pc) { return set_err(pc->err, ACS_ENOMEM, 0, "out of memory"); }

/* Trimmed copy of a short scalar into buf; returns false when too long. */
static bool scalar(const char *s, char *buf, size_t cap) {
  while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r') s++;
  size_t n = strlen(s);
  while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\n' || s[n - 1] == '\r'))
    n--;
  if (n >= cap) return false;
  memcpy(buf, s, n);
  buf[n] = '\0';
  return true;
}

static int parse_uint(pctx *pc, const xmlNode *n, const char *s, uint32_t *out) {
  char b[32];
  if (scalar(s, b, sizeof b)) {
    if (!b[0]) {
      *out = 0; /* empty element: sloppy stacks send it; 0 is what they mean */
      return 0;
    }
    char *end;
    errno = 0;
    unsigned long long v = b[0] == '-' ? ULLONG_MAX : strtoull(b, &end, 10);
    if (b[0] != '-' && !errno && !*end && v <= UINT32_MAX) {
      *out = (uint32_t)v;
      return 0;
    }
  }
  return set_err(pc->err, ACS_ERPC, n->line, "%s: \"%.40s\" is not an unsignedInt",
                 (const char *)n->name, s);
}

static int parse_int(pctx *pc, const xmlNode *n, const char *s, int *out) {
  char b[32];
  if (scalar(s, b, sizeof b)) {
    if (!b[0]) {
      *out = 0;
      return 0;
    }
    char *end;
    errno = 0;
    long long v = strtoll(b, &end, 10);
    if (!errno && !*end && v >= INT_MIN && v <= INT_MAX) {
      *out = (int)v;
      return 0;
    }
  }
  return set_err(pc->err, ACS_ERPC, n->line, "%s: \"%.40s\" is not an int",
                 (const char *)n->name, s);
}

static int parse_bool(pctx *pc, const xmlNode *n, const char *s, bool *out) {
  char b[8];
  if (scalar(s, b, sizeof b)) {
    if (!b[0] || strcmp(b, "0") == 0 || strcasecmp(b, "false") == 0) {
      *out = false;
      return 0;
    }
    if (strcmp(b, "1") == 0 || strcasecmp(b, "true") == 0) {
      *out = true;
      return 0;
    }
  }
  return set_err(pc->err, ACS_ERPC, n->line, "%s: \"%.40s\" is not a boolean",
                 (const char *)n->name, s);
}

static acs_cwmp_type value_type(const xmlNode *n) {
  const char *t = attr_ns(n, "type", ACS_NS_XSI, ACS_NS_XSI_1999);
  if (!t) return ACS_XSD_ANY;
  const char *colon = strrchr(t, ':');
  acs_cwmp_type ty = acs_cwmp_type_from_name(colon ? colon + 1 : t);
  return ty == ACS_XSD_ANY ? ACS_XSD_STRING : ty; /* xsi:type="" */
}

static int parse_struct(pctx *pc, const acs__cwmp_struct *d, xmlNode *node, void *base);

static int parse_array(pctx *pc, const acs__cwmp_field *f, xmlNode *node, void *base) {
  acs__cwmp_array *a = MEMBER(base, f->off, acs__cwmp_array);
  size_t n = 0;
  /* soap-enc:arrayType sizes are often wrong: count the items instead. */
  for (xmlNode *c = first_element(node->children); c; c = next_element(c)) n++;
  size_t isz = f->sub ? f->sub->size : sizeof(char *);
  a->n = 0;
  a->v = n ? acs_arena_calloc(pc->arena, n, isz) : NULL;
  if (n && !a->v) return nomem(pc);
  for (xmlNode *c = first_element(node->children); c; c = next_element(c)) {
    void *item = (char *)a->v + a->n * isz;
    if (f->sub) {
      int rc = parse_struct(pc, f->sub, c, item);
      if (rc) return rc;
    } else if (!(*(char **)item = text_of(pc, c))) {
      return nomem(pc);
    }
    a->n++;
  }
  return 0;
}

/* ChangeDUState Operations: <Operations xsi:type="cwmp:InstallOpStruct">,
 * or the wrapped form <Operations><InstallOpStruct>... some stacks send. */
static int parse_du_op(pctx *pc, xmlNode *node, acs_cwmp_du_op *op) {
  const char *t = attr_ns(node, "type", ACS_NS_XSI, ACS_NS_XSI_1999);
  xmlNode *src = node;
  if (t) {
    const char *colon = strrchr(t, ':');
    t = colon ? colon + 1 : t;
  } else if ((src = first_element(node->children)) &&
             strstr((const char *)src->name, "OpStruct")) {
    t = (const char *)src->name;
  } else {
    src = node;
  }
  for (int k = 0; t && k < 3; k++) {
    if (strcmp(t, acs__cwmp_du_op_names[k]) == 0) {
      op->kind = (acs_cwmp_du_op_kind)k;
      return parse_struct(pc, acs__cwmp_du_ops[k], src, op);
    }
  }
  return set_err(pc->err, ACS_ERPC, node->line,
                 "Operations: missing or unknown operation type \"%.40s\"", t ? t : "");
}

static int parse_field(pctx *pc, const acs__cwmp_field *f, xmlNode *c, void *base) {
  char *s;
  switch ((acs__cwmp_fkind)f->kind) {
  case ACS__FK_STR:
  case ACS__FK_OSTR:
  case ACS__FK_TIME:
    if (!(*MEMBER(base, f->off, char *) = text_of(pc, c))) return nomem(pc);
    return 0;
  case ACS__FK_UINT:
    if (!(s = text_of(pc, c))) return nomem(pc);
    return parse_uint(pc, c, s, MEMBER(base, f->off, uint32_t));
  case ACS__FK_INT:
    if (!(s = text_of(pc, c))) return nomem(pc);
    return parse_int(pc, c, s, MEMBER(base, f->off, int));
  case ACS__FK_BOOL:
    if (!(s = text_of(pc, c))) return nomem(pc);
    return parse_bool(pc, c, s, MEMBER(base, f->off, bool));
  case ACS__FK_VALUE:
    if (!(*MEMBER(base, f->off, char *) = text_of(pc, c))) return nomem(pc);
    *MEMBER(base, f->off2, acs_cwmp_type) = value_type(c);
    return 0;
  case ACS__FK_STRUCT:
    return parse_struct(pc, f->sub, c, MEMBER(base, f->off, char));
  case ACS__FK_ARRAY:
    return parse_array(pc, f, c, base);
  case ACS__FK_REPEAT: {
    acs__cwmp_array *a = MEMBER(base, f->off, acs__cwmp_array);
    return parse_struct(pc, f->sub, c, (char *)a->v + a->n++ * f->sub->size);
  }
  case ACS__FK_DUOPS: {
    acs__cwmp_array *a = MEMBER(base, f->off, acs__cwmp_array);
    return parse_du_op(pc, c, (acs_cwmp_du_op *)a->v + a->n++);
  }
  }
  return 0;
}

static int parse_struct(pctx *pc, const acs__cwmp_struct *d, xmlNode *node, void *base) {
  uint32_t seen = 0; /* first occurrence wins for single-valued fields */
  /* Repeated fields: size their arrays first. */
  for (uint16_t i = 0; i < d->n; i++) {
    const acs__cwmp_field *f = &d->fields[i];
    if (f->kind != ACS__FK_REPEAT && f->kind != ACS__FK_DUOPS) continue;
    size_t n = 0;
    for (xmlNode *c = first_element(node->children); c; c = next_element(c))
      if (name_is(c, f->name)) n++;
    acs__cwmp_array *a = MEMBER(base, f->off, acs__cwmp_array);
    size_t isz = f->kind == ACS__FK_DUOPS ? sizeof(acs_cwmp_du_op) : f->sub->size;
    a->n = 0;
    a->v = n ? acs_arena_calloc(pc->arena, n, isz) : NULL;
    if (n && !a->v) return nomem(pc);
  }
  for (xmlNode *c = first_element(node->children); c; c = next_element(c)) {
    for (uint16_t i = 0; i < d->n; i++) {
      const acs__cwmp_field *f = &d->fields[i];
      if (!name_is(c, f->name)) continue;
      bool repeat = f->kind == ACS__FK_REPEAT || f->kind == ACS__FK_DUOPS;
      if (!repeat && (seen & (1u << i))) break;
      seen |= 1u << i;
      int rc = parse_field(pc, f, c, base);
      if (rc) return rc;
      break;
    }
  }
  return 0;
}

/* ---- envelope ---- */

static int parse_header(pctx *pc, xmlNode *hdr, acs_cwmp_msg *m, int *hdr_ns) {
  for (xmlNode *c = first_element(hdr->children); c; c = next_element(c)) {
    int v = c->ns ? cwmp_ns_version(c->ns->href) : -1;
    if (v < 0) continue; /* foreign header entries are not ours to judge */
    if (*hdr_ns < 0) *hdr_ns = v;
    char *s = text_of(pc, c);
    if (!s) return nomem(pc);
    int rc = 0;
    if (name_is(c, "ID")) {
      m->id = s;
      const char *mu = attr_ns(c, "mustUnderstand", ACS_NS_SOAP_ENV, NULL);
      m->id_must_understand = mu && (strcmp(mu, "1") == 0 || strcmp(mu, "true") == 0);
    } else if (name_is(c, "HoldRequests")) {
      m->has_hold_requests = true;
      rc = parse_bool(pc, c, s, &m->hold_requests);
    } else if (name_is(c, "NoMoreRequests")) {
      rc = parse_bool(pc, c, s, &m->no_more_requests);
    } else if (name_is(c, "SessionTimeout")) {
      rc = parse_uint(pc, c, s, &m->session_timeout);
    } else if (name_is(c, "SupportedCWMPVersions")) {
      m->supported_cwmp_versions = s;
    } else if (name_is(c, "UseCWMPVersion")) {
      m->use_cwmp_version = s;
    }
    if (rc) return rc;
  }
  return 0;
}

static void strip_prefix(char *s) {
  char *colon = s ? strrchr(s, ':') : NULL;
  if (colon) memmove(s, colon + 1, strlen(colon + 1) + 1);
}

static int parse_fault(pctx *pc, xmlNode *fault, acs_cwmp_msg *m) {
  acs_cwmp_fault *f = &m->u.fault;
  m->kind = ACS_CWMP_FAULT;
  for (xmlNode *c = first_element(fault->children); c; c = next_element(c)) {
    if (name_is(c, "faultcode") && !f->faultcode) {
      if (!(f->faultcode = text_of(pc, c))) return nomem(pc);
      strip_prefix(f->faultcode);
      continue;
    }
    xmlNode *det = NULL;
    if (name_is(c, "faultstring") && !f->faultstring) {
      if (!(f->faultstring = text_of(pc, c))) return nomem(pc);
      /* lenient: some stacks put the detail inside faultstring (SOAP 1.1
       * section 4.4 has it beside); read it there too */
      for (xmlNode *d = first_element(c->children); d && !det; d = next_element(d))
        if (name_is(d, "detail")) det = d;
    } else if (name_is(c, "detail")) {
      det = c;
    }
    if (det && !f->code) {
      xmlNode *cf = first_element(det->children);
      while (cf && !(name_is(cf, "Fault") && cf->ns && cwmp_ns_version(cf->ns->href) >= 0))
        cf = next_element(cf);
      if (!cf) continue;
      m->ns = (acs_cwmp_ns)cwmp_ns_version(cf->ns->href);
      size_t n = 0;
      for (xmlNode *e = first_element(cf->children); e; e = next_element(e))
        if (name_is(e, "SetParameterValuesFault")) n++;
      f->spv_faults.v = n ? acs_arena_calloc(pc->arena, n, sizeof *f->spv_faults.v) : NULL;
      if (n && !f->spv_faults.v) return nomem(pc);
      bool have_code = false, have_string = false;
      for (xmlNode *e = first_element(cf->children); e; e = next_element(e)) {
        int rc = 0;
        if (name_is(e, "FaultCode") && !have_code) {
          char *s = text_of(pc, e);
          if (!s) return nomem(pc);
          rc = parse_uint(pc, e, s, &f->code);
          have_code = true;
        } else if (name_is(e, "FaultString") && !have_string) {
          if (!(f->string = text_of(pc, e))) return nomem(pc);
          have_string = true;
        } else if (name_is(e, "SetParameterValuesFault")) {
          rc = parse_struct(pc, &acs__cwmp_spv_fault_desc, e, &f->spv_faults.v[f->spv_faults.n++]);
        }
        if (rc) return rc;
      }
    }
  }
  return 0;
}

static int parse_envelope(pctx *pc, xmlDoc *doc, acs_cwmp_msg *m) {
  xmlNode *env = xmlDocGetRootElement(doc);
  if (!env || !name_is(env, "Envelope") || !ns_is(env, ACS_NS_SOAP_ENV))
    return set_err(pc->err, ACS_ESOAP, env ? env->line : 0,
                   "root element is not a SOAP 1.1 Envelope (got {%s}%s)",
                   env && env->ns ? (const char *)env->ns->href : "",
                   env ? (const char *)env->name : "nothing");
  xmlNode *hdr = NULL, *body = NULL;
  for (xmlNode *c = first_element(env->children); c; c = next_element(c)) {
    if (!ns_is(c, ACS_NS_SOAP_ENV)) continue;
    if (name_is(c, "Header") && !hdr && !body) hdr = c;
    else if (name_is(c, "Body") && !body) body = c;
  }
  if (!body) return set_err(pc->err, ACS_ESOAP, env->line, "SOAP Envelope has no Body");
  int hdr_ns = -1;
  if (hdr) {
    int rc = parse_header(pc, hdr, m, &hdr_ns);
    if (rc) return rc;
  }
  m->ns = hdr_ns >= 0 ? (acs_cwmp_ns)hdr_ns : ACS_CWMP_NS_1_0;
  xmlNode *rpc = first_element(body->children);
  if (!rpc) {
    m->kind = ACS_CWMP_NONE;
    return 0;
  }
  if (ns_is(rpc, ACS_NS_SOAP_ENV)) {
    if (!name_is(rpc, "Fault"))
      return set_err(pc->err, ACS_ESOAP, rpc->line, "unexpected SOAP element %s in Body",
                     (const char *)rpc->name);
    return parse_fault(pc, rpc, m);
  }
  int v = rpc->ns ? cwmp_ns_version(rpc->ns->href) : -1;
  if (v < 0 && !rpc->ns) {
    /* Unqualified RPC element: take the CWMP namespace declared in scope. */
    xmlNs **list = xmlGetNsList(doc, rpc);
    for (xmlNs **p = list; p && *p && v < 0; p++) v = cwmp_ns_version((*p)->href);
    xmlFree(list);
    if (v < 0) v = hdr_ns;
  }
  if (v < 0)
    return set_err(pc->err, ACS_ENS, rpc->line, "%s is not in a CWMP namespace (%s)",
                   (const char *)rpc->name,
                   rpc->ns ? (const char *)rpc->ns->href : "no namespace");
  m->ns = (acs_cwmp_ns)v;
  m->kind = acs_cwmp_kind_from_name((const char *)rpc->name);
  if (m->kind == ACS_CWMP_UNKNOWN) {
    if (!(m->unknown_method = acs_arena_strdup(pc->arena, (const char *)rpc->name)))
      return nomem(pc);
    return 0;
  }
  return parse_struct(pc, acs__cwmp_bodies[m->kind], rpc, &m->u);
}

/* libxml2 2.9 checks each attribute and namespace declaration of a start tag
 * against all earlier ones of that tag: quadratic. A few hundred KB of
 * attributes on one element would pin a worker for minutes, so count them
 * (roughly: '=' outside quotes inside a tag; comments, CDATA and PIs are
 * skipped) before libxml2 sees the document. */
#define ACS_CWMP_MAX_ATTRS 256
static bool too_many_attributes(const char *d, size_t len) {
  size_t i = 0;
  while (i < len) {
    const char *lt = memchr(d + i, '<', len - i);
    if (!lt) return false;
    i = (size_t)(lt - d) + 1;
    if (i < len && (d[i] == '!' || d[i] == '?')) {
      const char *end = d[i] == '?' ? "?>" : (i + 2 < len && d[i + 1] == '-') ? "-->" :
                        (i + 1 < len && d[i + 1] == '[') ? "]]>" : ">";
      const char *e = memmem(d + i, len - i, end, strlen(end));
      if (!e) return false;
      i = (size_t)(e - d) + strlen(end);
      continue;
    }
    unsigned n = 0;
    char q = 0;
    for (; i < len; i++) {
      char c = d[i];
      if (q) {
        if (c == q) q = 0;
      } else if (c == '"' || c == '\'') {
        q = c;
      } else if (c == '=') {
        if (++n > ACS_CWMP_MAX_ATTRS) return true;
      } else if (c == '>') {
        break;
      }
    }
  }
  return false;
}

int acs_cwmp_parse(const char *data, size_t len, acs_arena *arena,
                   const acs_cwmp_parse_limits *limits, acs_cwmp_msg *msg, acs_cwmp_error *err) {
  static const acs_cwmp_parse_limits defaults = ACS_CWMP_PARSE_LIMITS_DEFAULT;
  pctx pc = {.arena = arena, .lim = limits ? *limits : defaults, .err = err};
  memset(msg, 0, sizeof *msg);
  if (err) memset(err, 0, sizeof *err);
  if (len > pc.lim.max_bytes || len > INT_MAX)
    return set_err(err, ACS_ETOOBIG, 0, "envelope of %zu bytes exceeds the limit of %zu", len,
                   pc.lim.max_bytes);
  size_t i = 0;
  while (i < len && (data[i] == ' ' || data[i] == '\t' || data[i] == '\r' || data[i] == '\n'))
    i++;
  if (i == len) return set_err(err, ACS_EXML, 0, "empty document");
  if (too_many_attributes(data, len))
    return set_err(err, ACS_ETOOBIG, 0, "more than %d attributes on one element", ACS_CWMP_MAX_ATTRS);

  pthread_once(&xml_once, xml_init);
  xmlParserCtxtPtr ctxt = xmlCreateMemoryParserCtxt(data, (int)len);
  if (!ctxt) return set_err(err, ACS_ENOMEM, 0, "cannot create XML parser");
  xmlCtxtUseOptions(ctxt, XML_PARSE_NONET | XML_PARSE_NOCDATA | XML_PARSE_NOERROR |
                              XML_PARSE_NOWARNING);
  ctxt->_private = &pc;
  xmlSAXHandler *sax = ctxt->sax;
  pc.start_element = sax->startElementNs;
  pc.end_element = sax->endElementNs;
  sax->startElementNs = guard_start;
  sax->endElementNs = guard_end;
  sax->internalSubset = guard_dtd;
  sax->externalSubset = guard_dtd;
  sax->entityDecl = guard_entity;
  sax->serror = quiet_error;
  sax->error = NULL;
  sax->warning = NULL;

  xmlParseDocument(ctxt);
  int rc;
  xmlDoc *doc = ctxt->myDoc;
  if (pc.fail) {
    const char *what = pc.fail == ACS_EDTD     ? "document type declarations are not accepted"
                       : pc.fail == ACS_EDEPTH ? "element nesting deeper than the limit"
                                               : "more elements than the limit";
    rc = set_err(err, pc.fail, pc.fail_line, "%s (line %d)", what, pc.fail_line);
  } else if (!ctxt->wellFormed || !doc) {
    const xmlError *e = &ctxt->lastError;
    char msgbuf[200] = "not well-formed";
    if (e->message) {
      snprintf(msgbuf, sizeof msgbuf, "%s", e->message);
      size_t l = strlen(msgbuf);
      while (l && (msgbuf[l - 1] == '\n' || msgbuf[l - 1] == ' ')) msgbuf[--l] = '\0';
    }
    rc = set_err(err, ACS_EXML, e->line, "XML error at line %d: %s", e->line, msgbuf);
  } else {
    rc = parse_envelope(&pc, doc, msg);
  }
  if (doc) xmlFreeDoc(doc);
  ctxt->myDoc = NULL;
  xmlFreeParserCtxt(ctxt);
  if (rc) {
    acs_cwmp_kind k = msg->kind;
    memset(msg, 0, sizeof *msg);
    msg->kind = k == ACS_CWMP_NONE ? ACS_CWMP_NONE : ACS_CWMP_UNKNOWN;
  }
  return rc;
}
