/* cwmp_internal.h: the descriptor tables that drive both the CWMP parser and
 * the encoder. Each message body and each CWMP struct is described once, as
 * a list of fields (element name, kind, offset); parse and encode walk the
 * same description, so the two directions cannot drift apart. */
#ifndef ACS_CWMP_INTERNAL_H
#define ACS_CWMP_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "cwmp/acs_cwmp.h"

#define ACS_NS_SOAP_ENV "http://schemas.xmlsoap.org/soap/envelope/"
#define ACS_NS_SOAP_ENC "http://schemas.xmlsoap.org/soap/encoding/"
#define ACS_NS_XSD "http://www.w3.org/2001/XMLSchema"
#define ACS_NS_XSI "http://www.w3.org/2001/XMLSchema-instance"
#define ACS_NS_XSD_1999 "http://www.w3.org/1999/XMLSchema"
#define ACS_NS_XSI_1999 "http://www.w3.org/1999/XMLSchema-instance"
#define ACS_NS_CWMP_PREFIX "urn:dslforum-org:cwmp-1-"

typedef enum acs__cwmp_fkind {
  ACS__FK_STR = 0, /* char *: NULL when absent, encoded as an empty element */
  ACS__FK_OSTR,    /* char *: optional element, omitted from output when NULL */
  ACS__FK_TIME,    /* char * dateTime: NULL encodes as 0001-01-01T00:00:00Z */
  ACS__FK_UINT,    /* uint32_t */
  ACS__FK_INT,     /* int (int32) */
  ACS__FK_BOOL,    /* bool */
  ACS__FK_VALUE,   /* char *value at off, acs_cwmp_type at off2: Value with xsi:type */
  ACS__FK_STRUCT,  /* embedded struct described by sub */
  ACS__FK_ARRAY,   /* SOAP-encoded array of sub structs, or of strings when sub is NULL */
  ACS__FK_REPEAT,  /* repeated element of sub structs, no wrapper (DU Results) */
  ACS__FK_DUOPS,   /* ChangeDUState Operations: repeated, xsi:type selects the struct */
} acs__cwmp_fkind;

typedef struct acs__cwmp_struct acs__cwmp_struct;

typedef struct acs__cwmp_field {
  const char *name;
  uint8_t kind;
  uint16_t off;
  uint16_t off2;
  const acs__cwmp_struct *sub;
  const char *item_name;  /* ARRAY: element name of each item */
  const char *array_type; /* ARRAY: soap-enc:arrayType without the [n] */
} acs__cwmp_field;

struct acs__cwmp_struct {
  const char *name;
  uint16_t size; /* sizeof the C struct (items of arrays) */
  uint16_t n;
  const acs__cwmp_field *fields;
};

/* Body description of each message kind (NULL for NONE, FAULT, UNKNOWN). */
extern const acs__cwmp_struct *const acs__cwmp_bodies[ACS_CWMP_KIND_COUNT];
/* The three ChangeDUState operation structs, by acs_cwmp_du_op_kind. */
extern const acs__cwmp_struct *const acs__cwmp_du_ops[3];
extern const char *const acs__cwmp_du_op_names[3]; /* "InstallOpStruct", ... */
extern const acs__cwmp_struct acs__cwmp_spv_fault_desc;

/* Array header inside message structs (layout of ACS_CWMP_ARRAY). */
typedef struct acs__cwmp_array {
  void *v;
  size_t n;
} acs__cwmp_array;

/* The xsi:type spelling the encoder uses ("xsd:string", "soap-enc:base64"),
 * or NULL for ACS_XSD_ANY. */
const char *acs__cwmp_type_qname(acs_cwmp_type t);
/* 1 when a fault code's SOAP faultcode is "Client", else 0 ("Server"). */
int acs__cwmp_fault_is_client(uint32_t code);

#endif
