/* names.c: namespaces, message and type names, fault texts, dateTime. */
#include <stdio.h>
#include <string.h>

#include "core/acs_err.h"
#include "cwmp/cwmp_internal.h"

static const char *const ns_uris[ACS_CWMP_NS_COUNT] = {
    "urn:dslforum-org:cwmp-1-0", "urn:dslforum-org:cwmp-1-1", "urn:dslforum-org:cwmp-1-2",
    "urn:dslforum-org:cwmp-1-3", "urn:dslforum-org:cwmp-1-4",
};

const char *acs_cwmp_ns_uri(acs_cwmp_ns ns) {
  return (unsigned)ns < ACS_CWMP_NS_COUNT ? ns_uris[ns] : ns_uris[0];
}

static const char *const kind_names[ACS_CWMP_KIND_COUNT] = {
    [ACS_CWMP_NONE] = NULL,
#define ACS_CWMP_KIND_NAME(E, el, m, t) [ACS_CWMP_##E] = #el,
    ACS_CWMP_MESSAGES(ACS_CWMP_KIND_NAME)
#undef ACS_CWMP_KIND_NAME
    [ACS_CWMP_FAULT] = "Fault",
    [ACS_CWMP_UNKNOWN] = NULL,
};

const char *acs_cwmp_kind_name(acs_cwmp_kind k) {
  return (unsigned)k < ACS_CWMP_KIND_COUNT ? kind_names[k] : NULL;
}

acs_cwmp_kind acs_cwmp_kind_from_name(const char *name) {
  /* Messages are few (52); a linear scan of short strings is cheaper than
   * building a hash table and is not on any hot path worth more. */
  for (int k = ACS_CWMP_NONE + 1; k < ACS_CWMP_FAULT; k++)
    if (strcmp(kind_names[k], name) == 0) return (acs_cwmp_kind)k;
  return ACS_CWMP_UNKNOWN;
}

acs_cwmp_kind acs_cwmp_response_kind(acs_cwmp_kind k) {
  if (k <= ACS_CWMP_NONE || k >= ACS_CWMP_FAULT) return ACS_CWMP_UNKNOWN;
  const char *name = kind_names[k];
  size_t n = strlen(name);
  if (n > 8 && strcmp(name + n - 8, "Response") == 0) return ACS_CWMP_UNKNOWN;
  /* The table lists every request directly followed by its response. */
  return (acs_cwmp_kind)(k + 1);
}

bool acs_cwmp_is_cpe_request(acs_cwmp_kind k) {
  switch (k) {
  case ACS_CWMP_INFORM:
  case ACS_CWMP_TRANSFER_COMPLETE:
  case ACS_CWMP_AUTONOMOUS_TRANSFER_COMPLETE:
  case ACS_CWMP_REQUEST_DOWNLOAD:
  case ACS_CWMP_DU_STATE_CHANGE_COMPLETE:
  case ACS_CWMP_AUTONOMOUS_DU_STATE_CHANGE_COMPLETE:
  case ACS_CWMP_KICKED:
  case ACS_CWMP_GET_RPC_METHODS:
    return true;
  default:
    return false;
  }
}

static const char *const type_names[ACS_XSD_COUNT] = {
    [ACS_XSD_STRING] = "string",       [ACS_XSD_INT] = "int",
    [ACS_XSD_UNSIGNEDINT] = "unsignedInt", [ACS_XSD_LONG] = "long",
    [ACS_XSD_UNSIGNEDLONG] = "unsignedLong", [ACS_XSD_BOOLEAN] = "boolean",
    [ACS_XSD_DATETIME] = "dateTime",   [ACS_XSD_BASE64] = "base64",
    [ACS_XSD_HEXBINARY] = "hexBinary", [ACS_XSD_DECIMAL] = "decimal",
    [ACS_XSD_OBJECT] = "object",       [ACS_XSD_ANY] = "",
};

const char *acs_cwmp_type_name(acs_cwmp_type t) {
  return (unsigned)t < ACS_XSD_COUNT ? type_names[t] : "string";
}

acs_cwmp_type acs_cwmp_type_from_name(const char *local) {
  if (!local || !*local) return ACS_XSD_ANY;
  for (int t = 0; t < ACS_XSD_ANY; t++)
    if (strcmp(type_names[t], local) == 0) return (acs_cwmp_type)t;
  if (strcmp(local, "base64Binary") == 0) return ACS_XSD_BASE64;
  if (strcmp(local, "unsignedShort") == 0 || strcmp(local, "unsignedByte") == 0)
    return ACS_XSD_UNSIGNEDINT;
  if (strcmp(local, "short") == 0 || strcmp(local, "byte") == 0) return ACS_XSD_INT;
  return ACS_XSD_STRING;
}

const char *acs__cwmp_type_qname(acs_cwmp_type t) {
  switch (t) {
  case ACS_XSD_ANY:
    return NULL;
  case ACS_XSD_BASE64:
    /* SOAP 1.1's own base64 type; xsd has only base64Binary. */
    return "soap-enc:base64";
  default:
    break;
  }
  static const char *const q[ACS_XSD_COUNT] = {
      "xsd:string", "xsd:int",      "xsd:unsignedInt", "xsd:long",    "xsd:unsignedLong",
      "xsd:boolean", "xsd:dateTime", NULL,              "xsd:hexBinary", "xsd:decimal", "object",
      NULL,
  };
  return (unsigned)t < ACS_XSD_COUNT && q[t] ? q[t] : "xsd:string";
}

static const struct {
  uint32_t code;
  const char *text;
} fault_texts[] = {
    {8000, "Method not supported"},
    {8001, "Request denied"},
    {8002, "Internal error"},
    {8003, "Invalid arguments"},
    {8004, "Resources exceeded"},
    {8005, "Retry request"},
    {8006, "ACS version incompatible"},
    {9000, "Method not supported"},
    {9001, "Request denied"},
    {9002, "Internal error"},
    {9003, "Invalid arguments"},
    {9004, "Resources exceeded"},
    {9005, "Invalid parameter name"},
    {9006, "Invalid parameter type"},
    {9007, "Invalid parameter value"},
    {9008, "Attempt to set a non-writable parameter"},
    {9009, "Notification request rejected"},
    {9010, "Download failure"},
    {9011, "Upload failure"},
    {9012, "File transfer server authentication failure"},
    {9013, "Unsupported protocol for file transfer"},
    {9014, "Download failure: unable to join multicast group"},
    {9015, "Download failure: unable to contact file server"},
    {9016, "Download failure: unable to access file"},
    {9017, "Download failure: unable to complete download"},
    {9018, "Download failure: file corrupted"},
    {9019, "Download failure: file authentication failure"},
    {9020, "Download failure: unable to complete download within specified time windows"},
    {9021, "Cancelation of file transfer not permitted in current transfer state"},
    {9022, "Invalid UUID format"},
    {9023, "Unknown Execution Environment"},
    {9024, "Disabled Execution Environment"},
    {9025, "Deployment Unit to Execution Environment mismatch"},
    {9026, "Duplicate Deployment Unit"},
    {9027, "System resources exceeded"},
    {9028, "Unknown Deployment Unit"},
    {9029, "Invalid Deployment Unit state"},
    {9030, "Invalid Deployment Unit Update: downgrade not permitted"},
    {9031, "Invalid Deployment Unit Update: version not specified"},
    {9032, "Invalid Deployment Unit Update: version already exists"},
};

const char *acs_cwmp_fault_string(uint32_t code) {
  for (size_t i = 0; i < sizeof fault_texts / sizeof fault_texts[0]; i++)
    if (fault_texts[i].code == code) return fault_texts[i].text;
  if (code >= 8800 && code <= 8899) return "Vendor defined fault";
  if (code >= 9800 && code <= 9899) return "Vendor defined fault";
  return NULL;
}

int acs__cwmp_fault_is_client(uint32_t code) {
  switch (code) {
  case 8003: case 8006: case 9003: case 9005: case 9006: case 9007: case 9008: case 9022:
    return 1;
  default:
    return 0;
  }
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
 * days_from_civil), valid far outside time_t's comfortable range. */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = (unsigned)(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + (int64_t)doe - 719468;
}

static int digits(const char **p, int n, int *out) {
  int v = 0;
  for (int i = 0; i < n; i++) {
    char c = (*p)[i];
    if (c < '0' || c > '9') return -1;
    v = v * 10 + (c - '0');
  }
  *p += n;
  *out = v;
  return 0;
}

int acs_cwmp_time_parse(const char *s, int64_t *unix_seconds, bool *unknown) {
  int Y, M, D, h, m, sec, oh = 0, om = 0, sign = 0;
  if (!s) return ACS_EINVAL;
  while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r') s++;
  const char *p = s;
  if (digits(&p, 4, &Y) || *p++ != '-' || digits(&p, 2, &M) || *p++ != '-' ||
      digits(&p, 2, &D) || *p++ != 'T' || digits(&p, 2, &h) || *p++ != ':' ||
      digits(&p, 2, &m) || *p++ != ':' || digits(&p, 2, &sec))
    return ACS_EINVAL;
  if (*p == '.') {
    p++;
    if (*p < '0' || *p > '9') return ACS_EINVAL;
    while (*p >= '0' && *p <= '9') p++;
  }
  if (*p == 'Z' || *p == 'z') {
    p++;
  } else if (*p == '+' || *p == '-') {
    sign = *p++ == '-' ? -1 : 1;
    if (digits(&p, 2, &oh) || *p++ != ':' || digits(&p, 2, &om) || oh > 14 || om > 59)
      return ACS_EINVAL;
  }
  while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') p++;
  if (*p) return ACS_EINVAL;
  static const unsigned char mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (M < 1 || M > 12 || D < 1 || D > mdays[M - 1] || h > 24 || m > 59 || sec > 60)
    return ACS_EINVAL;
  if (h == 24 && (m || sec)) return ACS_EINVAL;
  bool leap = (Y % 4 == 0 && Y % 100 != 0) || Y % 400 == 0;
  if (M == 2 && D == 29 && !leap) return ACS_EINVAL;
  if (unknown) *unknown = Y == 1 && M == 1 && D == 1 && h == 0 && m == 0 && sec == 0;
  int64_t t = days_from_civil(Y, (unsigned)M, (unsigned)D) * 86400 + h * 3600 + m * 60 + sec;
  t -= sign * (oh * 3600 + om * 60);
  if (unix_seconds) *unix_seconds = t;
  return 0;
}

void acs_cwmp_time_format(int64_t t, char buf[static 21]) {
  /* xsd:dateTime years have four digits here: clamp to 0001..9999. */
  const int64_t tmin = days_from_civil(1, 1, 1) * 86400;
  const int64_t tmax = days_from_civil(9999, 12, 31) * 86400 + 86399;
  if (t < tmin) t = tmin;
  if (t > tmax) t = tmax;
  int64_t days = t >= 0 ? t / 86400 : -((-t + 86399) / 86400);
  int64_t rem = t - days * 86400;
  /* civil_from_days */
  int64_t z = days + 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = (unsigned)(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  int64_t y = (int64_t)yoe + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  const unsigned d = doy - (153 * mp + 2) / 5 + 1;
  const unsigned mo = mp < 10 ? mp + 3 : mp - 9;
  y += mo <= 2;
  unsigned hh = (unsigned)(rem / 3600) % 24u, mi = (unsigned)(rem / 60 % 60), ss = (unsigned)(rem % 60);
  snprintf(buf, 21, "%04u-%02u-%02uT%02u:%02u:%02uZ", (unsigned)y % 10000u, mo % 13u, d % 32u, hh,
           mi, ss);
}
