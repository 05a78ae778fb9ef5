/* encode.c: CWMP structs -> SOAP envelope text, driven by desc.c.
 *
 * Output: no XML declaration, prefixes soap-env / soap-enc / xsd / xsi /
 * cwmp, child elements unqualified (the schemas' elementFormDefault), every
 * element of a sequence present in schema order. */
#include <inttypes.h>
#include <string.h>

#include "core/acs_err.h"
#include "cwmp/cwmp_internal.h"

#define MEMBER(base, off, T) ((T *)((char *)(base) + (off)))
#define CMEMBER(base, off, T) ((const T *)((const char *)(base) + (off)))

static void put_text(acs_buf *b, const char *s) {
  if (s) acs_buf_put_xml(b, s, strlen(s));
}

static void open_el(acs_buf *b, const char *name) {
  acs_buf_putc(b, '<');
  acs_buf_puts(b, name);
  acs_buf_putc(b, '>');
}

static void close_el(acs_buf *b, const char *name) {
  acs_buf_puts(b, "</");
  acs_buf_puts(b, name);
  acs_buf_putc(b, '>');
}

static void text_el(acs_buf *b, const char *name, const char *text) {
  open_el(b, name);
  put_text(b, text);
  close_el(b, name);
}

static void encode_struct(acs_buf *b, const acs__cwmp_struct *d, const void *base);

static void encode_array(acs_buf *b, const acs__cwmp_field *f, const void *base) {
  const acs__cwmp_array *a = CMEMBER(base, f->off, acs__cwmp_array);
  acs_buf_printf(b, "<%s soap-enc:arrayType=\"%s[%zu]\">", f->name, f->array_type, a->n);
  for (size_t i = 0; i < a->n; i++) {
    if (!f->sub) {
      text_el(b, f->item_name, ((char *const *)a->v)[i]);
      continue;
    }
    open_el(b, f->item_name);
    encode_struct(b, f->sub, (const char *)a->v + i * f->sub->size);
    close_el(b, f->item_name);
  }
  close_el(b, f->name);
}

static void encode_du_ops(acs_buf *b, const acs__cwmp_field *f, const void *base) {
  const acs__cwmp_array *a = CMEMBER(base, f->off, acs__cwmp_array);
  for (size_t i = 0; i < a->n; i++) {
    const acs_cwmp_du_op *op = (const acs_cwmp_du_op *)a->v + i;
    unsigned k = (unsigned)op->kind < 3 ? (unsigned)op->kind : 0;
    acs_buf_printf(b, "<%s xsi:type=\"cwmp:%s\">", f->name, acs__cwmp_du_op_names[k]);
    encode_struct(b, acs__cwmp_du_ops[k], op);
    close_el(b, f->name);
  }
}

static void encode_field(acs_buf *b, const acs__cwmp_field *f, const void *base) {
  switch ((acs__cwmp_fkind)f->kind) {
  case ACS__FK_OSTR:
    if (!*CMEMBER(base, f->off, char *)) return;
    /* fall through */
  case ACS__FK_STR:
    text_el(b, f->name, *CMEMBER(base, f->off, char *));
    return;
  case ACS__FK_TIME: {
    const char *t = *CMEMBER(base, f->off, char *);
    text_el(b, f->name, t && *t ? t : "0001-01-01T00:00:00Z");
    return;
  }
  case ACS__FK_UINT:
    acs_buf_printf(b, "<%s>%" PRIu32 "</%s>", f->name, *CMEMBER(base, f->off, uint32_t),
                   f->name);
    return;
  case ACS__FK_INT:
    acs_buf_printf(b, "<%s>%d</%s>", f->name, *CMEMBER(base, f->off, int), f->name);
    return;
  case ACS__FK_BOOL:
    acs_buf_printf(b, "<%s>%d</%s>", f->name, *CMEMBER(base, f->off, bool) ? 1 : 0, f->name);
    return;
  case ACS__FK_VALUE: {
    const char *q = acs__cwmp_type_qname(*CMEMBER(base, f->off2, acs_cwmp_type));
    if (q)
      acs_buf_printf(b, "<%s xsi:type=\"%s\">", f->name, q);
    else
      open_el(b, f->name);
    put_text(b, *CMEMBER(base, f->off, char *));
    close_el(b, f->name);
    return;
  }
  case ACS__FK_STRUCT:
    open_el(b, f->name);
    encode_struct(b, f->sub, CMEMBER(base, f->off, char));
    close_el(b, f->name);
    return;
  case ACS__FK_ARRAY:
    encode_array(b, f, base);
    return;
  case ACS__FK_REPEAT: {
    const acs__cwmp_array *a = CMEMBER(base, f->off, acs__cwmp_array);
    for (size_t i = 0; i < a->n; i++) {
      open_el(b, f->name);
      encode_struct(b, f->sub, (const char *)a->v + i * f->sub->size);
      close_el(b, f->name);
    }
    return;
  }
  case ACS__FK_DUOPS:
    encode_du_ops(b, f, base);
    return;
  }
}

static void encode_struct(acs_buf *b, const acs__cwmp_struct *d, const void *base) {
  for (uint16_t i = 0; i < d->n; i++) encode_field(b, &d->fields[i], base);
}

static void encode_header(acs_buf *b, const acs_cwmp_msg *m) {
  bool any = m->id || m->has_hold_requests || m->session_timeout ||
             m->supported_cwmp_versions || m->use_cwmp_version;
  if (!any) return;
  acs_buf_puts(b, "<soap-env:Header>");
  if (m->id) {
    acs_buf_puts(b, "<cwmp:ID soap-env:mustUnderstand=\"1\">");
    put_text(b, m->id);
    acs_buf_puts(b, "</cwmp:ID>");
  }
  if (m->has_hold_requests)
    acs_buf_printf(b,
                   "<cwmp:HoldRequests soap-env:mustUnderstand=\"1\">%d</cwmp:HoldRequests>",
                   m->hold_requests ? 1 : 0);
  if (m->session_timeout)
    acs_buf_printf(b, "<cwmp:SessionTimeout>%" PRIu32 "</cwmp:SessionTimeout>",
                   m->session_timeout);
  if (m->supported_cwmp_versions) {
    acs_buf_puts(b, "<cwmp:SupportedCWMPVersions>");
    put_text(b, m->supported_cwmp_versions);
    acs_buf_puts(b, "</cwmp:SupportedCWMPVersions>");
  }
  if (m->use_cwmp_version) {
    acs_buf_puts(b, "<cwmp:UseCWMPVersion soap-env:mustUnderstand=\"1\">");
    put_text(b, m->use_cwmp_version);
    acs_buf_puts(b, "</cwmp:UseCWMPVersion>");
  }
  acs_buf_puts(b, "</soap-env:Header>");
}

static void encode_fault_body(acs_buf *b, const acs_cwmp_fault *f) {
  const char *fc = f->faultcode && *f->faultcode ? f->faultcode
                   : acs__cwmp_fault_is_client(f->code) ? "Client"
                                                         : "Server";
  acs_buf_puts(b, "<soap-env:Fault><faultcode>");
  put_text(b, fc);
  acs_buf_puts(b, "</faultcode><faultstring>");
  put_text(b, f->faultstring && *f->faultstring ? f->faultstring : "CWMP fault");
  acs_buf_printf(b, "</faultstring><detail><cwmp:Fault><FaultCode>%" PRIu32 "</FaultCode>",
                 f->code);
  text_el(b, "FaultString", f->string ? f->string : acs_cwmp_fault_string(f->code));
  for (size_t i = 0; i < f->spv_faults.n; i++) {
    open_el(b, "SetParameterValuesFault");
    encode_struct(b, &acs__cwmp_spv_fault_desc, &f->spv_faults.v[i]);
    close_el(b, "SetParameterValuesFault");
  }
  acs_buf_puts(b, "</cwmp:Fault></detail></soap-env:Fault>");
}

int acs_cwmp_encode(const acs_cwmp_msg *m, acs_buf *out) {
  const acs__cwmp_struct *body = NULL;
  if (m->kind != ACS_CWMP_FAULT) {
    if ((unsigned)m->kind >= ACS_CWMP_KIND_COUNT || !(body = acs__cwmp_bodies[m->kind]))
      return ACS_EINVAL;
  }
  size_t start = out->len;
  acs_buf_printf(out,
                 "<soap-env:Envelope xmlns:soap-env=\"" ACS_NS_SOAP_ENV
                 "\" xmlns:soap-enc=\"" ACS_NS_SOAP_ENC "\" xmlns:xsd=\"" ACS_NS_XSD
                 "\" xmlns:xsi=\"" ACS_NS_XSI "\" xmlns:cwmp=\"%s\">",
                 acs_cwmp_ns_uri(m->ns));
  encode_header(out, m);
  acs_buf_puts(out, "<soap-env:Body>");
  if (m->kind == ACS_CWMP_FAULT) {
    encode_fault_body(out, &m->u.fault);
  } else {
    const char *name = acs_cwmp_kind_name(m->kind);
    acs_buf_printf(out, "<cwmp:%s>", name);
    encode_struct(out, body, &m->u);
    acs_buf_printf(out, "</cwmp:%s>", name);
  }
  acs_buf_puts(out, "</soap-env:Body></soap-env:Envelope>");
  if (acs_buf_err(out)) {
    out->len = start < out->len ? start : out->len;
    return ACS_ENOMEM;
  }
  return 0;
}

int acs_cwmp_encode_fault(acs_cwmp_ns ns, const char *id, uint32_t code, const char *string,
                          acs_buf *out) {
  acs_cwmp_msg m;
  memset(&m, 0, sizeof m);
  m.ns = ns;
  m.id = (char *)id;
  m.kind = ACS_CWMP_FAULT;
  m.u.fault.code = code;
  m.u.fault.string = (char *)string;
  return acs_cwmp_encode(&m, out);
}
