/* test_cwmp_hostile.c: malformed and hostile input. Each document must be
 * refused with its specific ACS_E* code and a message, in bounded time
 * (clock_gettime) and bounded memory (the arena's total, and libxml2's own
 * peak allocation, counted through xmlMemSetup): entity bombs, external
 * entities and DTDs, deep nesting, too many elements, oversized input, every
 * truncation of a valid envelope, invalid UTF-8, wrong namespaces, non-XML,
 * processing instructions, XInclude, huge attributes and names, and values
 * that are not numbers where numbers belong. */
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libxml/xmlmemory.h>

#include "acs_test.h"
#include "core/acs_arena.h"
#include "core/acs_buf.h"
#include "core/acs_err.h"
#include "cwmp/acs_cwmp.h"
#include "cwmp_samples.h"

#define SOAP_NS "http://schemas.xmlsoap.org/soap/envelope/"
#define MAX_SECONDS 2.0
#define MAX_ARENA (8u << 20)   /* the arena's total per input */
#define MAX_XML_PEAK (64u << 20) /* libxml2's peak allocation per input */

/* ---- libxml2 allocation accounting */
typedef struct memhdr {
  size_t size;
  size_t pad; /* keeps the payload 16-byte aligned */
} memhdr;
static size_t xml_cur, xml_peak;

static void *count_malloc(size_t n) {
  memhdr *h = malloc(sizeof *h + n);
  if (!h) return NULL;
  h->size = n;
  xml_cur += n;
  if (xml_cur > xml_peak) xml_peak = xml_cur;
  return h + 1;
}
static void count_free(void *p) {
  if (!p) return;
  memhdr *h = (memhdr *)p - 1;
  xml_cur -= h->size;
  free(h);
}
static void *count_realloc(void *p, size_t n) {
  if (!p) return count_malloc(n);
  memhdr *h = (memhdr *)p - 1;
  size_t old = h->size;
  memhdr *nh = realloc(h, sizeof *nh + n);
  if (!nh) return NULL;
  nh->size = n;
  xml_cur = xml_cur - old + n;
  if (xml_cur > xml_peak) xml_peak = xml_cur;
  return nh + 1;
}
static char *count_strdup(const char *s) {
  size_t n = strlen(s) + 1;
  char *p = count_malloc(n);
  if (p) memcpy(p, s, n);
  return p;
}

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static double worst_seconds;
static size_t worst_arena, worst_xml_peak;
static int hostile_count;

/* Parses one hostile input; checks the result code, the message, the time
 * and the memory. want 0 means "parses" (and then *out holds the message);
 * want -1 means any outcome (the caller checks it). */
static int run(const char *what, const char *data, size_t len, const acs_cwmp_parse_limits *lim,
               int want, acs_arena *arena, acs_cwmp_msg *out) {
  acs_cwmp_error err;
  acs_cwmp_msg m;
  memset(&err, 0x5A, sizeof err);
  xml_peak = xml_cur;
  size_t base = xml_cur;
  double t0 = now();
  int rc = acs_cwmp_parse(data, len, arena, lim, &m, &err);
  double dt = now() - t0;
  size_t peak = xml_peak - base;
  hostile_count++;
  if (want != -1) { /* -1: any outcome, the caller checks */
    if (rc != want)
      fprintf(stderr, "%s: got %d %s, expected %d %s (%s)\n", what, rc, acs_errname(rc), want,
              acs_errname(want), rc ? err.msg : "parsed");
    CHECK_INT(rc, want);
  }
  if (rc != 0) {
    CHECK_INT(err.code, rc);
    CHECK(memchr(err.msg, '\0', sizeof err.msg) != NULL);
    CHECK(err.msg[0] != '\0' && err.msg[0] != 0x5A);
  }
  if (dt > MAX_SECONDS) fprintf(stderr, "%s: took %.3f s\n", what, dt);
  CHECK(dt < MAX_SECONDS);
  if (arena->total > MAX_ARENA) fprintf(stderr, "%s: arena holds %zu bytes\n", what, arena->total);
  CHECK(arena->total <= MAX_ARENA);
  if (peak > MAX_XML_PEAK) fprintf(stderr, "%s: libxml2 peaked at %zu bytes\n", what, peak);
  CHECK(peak <= MAX_XML_PEAK);
  /* libxml2 gave (nearly) everything back: it keeps only its last error */
  if (xml_cur > base + (256u << 10)) fprintf(stderr, "%s: libxml2 kept %zu bytes\n", what, xml_cur - base);
  CHECK(xml_cur <= base + (256u << 10));
  if (dt > 0.05 || peak > (8u << 20) || getenv("HOSTILE_VERBOSE"))
    fprintf(stderr, "  %-40s %8.3f s  arena %9zu  libxml2 peak %9zu\n", what, dt, arena->total, peak);
  if (dt > worst_seconds) worst_seconds = dt;
  if (arena->total > worst_arena) worst_arena = arena->total;
  if (peak > worst_xml_peak) worst_xml_peak = peak;
  if (out) *out = m;
  return rc;
}

/* Same with a fresh arena that is dropped afterwards. */
static int hostile(const char *what, const char *data, size_t len, const acs_cwmp_parse_limits *lim,
                   int want) {
  acs_arena a;
  acs_arena_init(&a, 0);
  int rc = run(what, data, len, lim, want, &a, NULL);
  acs_arena_reset(&a);
  return rc;
}
static int hostile_s(const char *what, const char *data, int want) {
  return hostile(what, data, strlen(data), NULL, want);
}

/* Builds a string in a malloc'd buffer. */
static char *build(size_t cap, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static char *build(size_t cap, const char *fmt, ...) {
  char *s = malloc(cap);
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(s, cap, fmt, ap);
  va_end(ap);
  return s;
}

#define ENV_OPEN "<s:Envelope xmlns:s=\"" SOAP_NS "\" xmlns:c=\"urn:dslforum-org:cwmp-1-0\"><s:Body>"
#define ENV_CLOSE "</s:Body></s:Envelope>"

/* ---- DTDs and entities */
static void test_dtd(void) {
  static const char laughs[] =
      "<?xml version=\"1.0\"?>\n<!DOCTYPE lolz [\n <!ENTITY lol \"lol\">\n"
      " <!ENTITY lol1 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">\n"
      " <!ENTITY lol2 \"&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;\">\n"
      " <!ENTITY lol3 \"&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;\">\n"
      " <!ENTITY lol4 \"&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;\">\n"
      " <!ENTITY lol5 \"&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;\">\n"
      " <!ENTITY lol6 \"&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;\">\n"
      " <!ENTITY lol7 \"&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;\">\n"
      " <!ENTITY lol8 \"&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;\">\n"
      " <!ENTITY lol9 \"&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;\">\n"
      "]>\n" ENV_OPEN "<c:Kicked><Command>&lol9;</Command><Referer/><Arg/><Next/></c:Kicked>" ENV_CLOSE;
  hostile_s("billion laughs", laughs, ACS_EDTD);

  static const char quadratic_head[] = "<!DOCTYPE e [<!ENTITY a \"";
  {
    /* quadratic blowup: one 100 KB entity referenced 30,000 times */
    size_t n = 100000, refs = 30000;
    size_t cap = sizeof quadratic_head + n + 64 + refs * 3 + 256;
    char *s = malloc(cap), *p = s;
    p += sprintf(p, "%s", quadratic_head);
    memset(p, 'x', n);
    p += n;
    p += sprintf(p, "\">]>" ENV_OPEN "<c:Kicked><Command>");
    for (size_t i = 0; i < refs; i++) p += sprintf(p, "&a;");
    p += sprintf(p, "</Command></c:Kicked>" ENV_CLOSE);
    hostile("quadratic blowup", s, (size_t)(p - s), NULL, ACS_EDTD);
    free(s);
  }

  hostile_s("external entity",
            "<?xml version=\"1.0\"?>\n<!DOCTYPE foo [ <!ENTITY xxe SYSTEM \"file:///etc/passwd\"> ]>\n" ENV_OPEN
            "<c:Kicked><Command>&xxe;</Command><Referer/><Arg/><Next/></c:Kicked>" ENV_CLOSE,
            ACS_EDTD);
  hostile_s("external parameter entity",
            "<!DOCTYPE foo [ <!ENTITY % p SYSTEM \"http://203.0.113.1/evil.dtd\"> %p; ]>" ENV_OPEN
            "<c:GetRPCMethods/>" ENV_CLOSE,
            ACS_EDTD);
  hostile_s("DOCTYPE alone", "<!DOCTYPE s:Envelope>" ENV_OPEN "<c:GetRPCMethods/>" ENV_CLOSE,
            ACS_EDTD);
  hostile_s("DOCTYPE with an empty internal subset",
            "<!DOCTYPE s:Envelope []>" ENV_OPEN "<c:GetRPCMethods/>" ENV_CLOSE, ACS_EDTD);
  hostile_s("external DTD (SYSTEM)",
            "<?xml version=\"1.0\"?><!DOCTYPE s:Envelope SYSTEM \"http://203.0.113.1/soap.dtd\">" ENV_OPEN
            "<c:GetRPCMethods/>" ENV_CLOSE,
            ACS_EDTD);
  hostile_s("external DTD (PUBLIC)",
            "<!DOCTYPE s:Envelope PUBLIC \"-//W3C//DTD XHTML 1.0 Strict//EN\" "
            "\"file:///etc/xml/catalog\">" ENV_OPEN "<c:GetRPCMethods/>" ENV_CLOSE,
            ACS_EDTD);
  hostile_s("attribute defaults from a DTD",
            "<!DOCTYPE s:Envelope [<!ATTLIST s:Envelope xmlns:c CDATA \"urn:dslforum-org:cwmp-1-0\">]>"
            "<s:Envelope xmlns:s=\"" SOAP_NS "\"><s:Body><c:GetRPCMethods/></s:Body></s:Envelope>",
            ACS_EDTD);
  /* an entity reference without any DTD is just malformed */
  hostile_s("undeclared entity",
            ENV_OPEN "<c:Kicked><Command>&xxe;</Command></c:Kicked>" ENV_CLOSE, ACS_EXML);
}

/* ---- depth, element count, size */
static void test_limits(void) {
  const size_t deep = 100000;
  {
    char *s = malloc(deep * 7 + 16), *p = s;
    for (size_t i = 0; i < deep; i++) p += sprintf(p, "<a>");
    for (size_t i = 0; i < deep; i++) p += sprintf(p, "</a>");
    int rc = hostile("100,000-deep nesting", s, (size_t)(p - s), NULL, ACS_EDEPTH);
    (void)rc;
    free(s);
  }
  {
    /* the same inside a valid envelope, in a Value */
    size_t cap = deep * 16 + 1024;
    char *s = malloc(cap), *p = s;
    p += sprintf(p, ENV_OPEN "<c:SetParameterValues><ParameterList><ParameterValueStruct><Name>x</Name><Value>");
    for (size_t i = 0; i < deep; i++) p += sprintf(p, "<v>");
    for (size_t i = 0; i < deep; i++) p += sprintf(p, "</v>");
    p += sprintf(p, "</Value></ParameterValueStruct></ParameterList></c:SetParameterValues>" ENV_CLOSE);
    hostile("deep nesting in a Value", s, (size_t)(p - s), NULL, ACS_EDEPTH);
    /* unclosed: never finishes the document */
    p = s;
    for (size_t i = 0; i < deep; i++) p += sprintf(p, "<v>");
    hostile("100,000 unclosed elements", s, (size_t)(p - s), NULL, ACS_EDEPTH);
    free(s);
  }
  {
    /* the depth limit is the limit: 40 levels fail at max_depth 32 and pass at 64 */
    acs_buf b = ACS_BUF_INIT;
    acs_buf_puts(&b, ENV_OPEN "<c:Kicked><Command>");
    for (int i = 0; i < 36; i++) acs_buf_puts(&b, "<x>");
    for (int i = 0; i < 36; i++) acs_buf_puts(&b, "</x>");
    acs_buf_puts(&b, "</Command><Referer/><Arg/><Next/></c:Kicked>" ENV_CLOSE);
    hostile("40 levels, default limit", b.data, b.len, NULL, ACS_EDEPTH);
    acs_cwmp_parse_limits lim = ACS_CWMP_PARSE_LIMITS_DEFAULT;
    lim.max_depth = 64;
    hostile("40 levels, max_depth 64", b.data, b.len, &lim, 0);
    acs_buf_free(&b);
  }

  acs_arena a;
  acs_arena_init(&a, 0);
  acs_cwmp_msg sample;
  acs_buf inform = ACS_BUF_INIT;
  sample_msg(&a, ACS_CWMP_INFORM, ACS_CWMP_NS_1_2, &sample);
  CHECK_INT(acs_cwmp_encode(&sample, &inform), 0);
  {
    acs_cwmp_parse_limits lim = ACS_CWMP_PARSE_LIMITS_DEFAULT;
    hostile("sample Inform, default limits", inform.data, inform.len, &lim, 0);
    lim.max_elements = 20;
    hostile("sample Inform, max_elements 20", inform.data, inform.len, &lim, ACS_ETOOBIG);
    lim = (acs_cwmp_parse_limits)ACS_CWMP_PARSE_LIMITS_DEFAULT;
    lim.max_bytes = inform.len - 1;
    hostile("sample Inform, max_bytes len-1", inform.data, inform.len, &lim, ACS_ETOOBIG);
    lim.max_bytes = inform.len;
    hostile("sample Inform, max_bytes len", inform.data, inform.len, &lim, 0);
  }
  {
    /* 300,000 tiny elements in a 1.2 MB document: over the default 200,000 */
    size_t n = 300000;
    char *s = malloc(n * 4 + 1024), *p = s;
    p += sprintf(p, ENV_OPEN "<c:GetParameterValues><ParameterNames>");
    for (size_t i = 0; i < n; i++) p += sprintf(p, "<a/>");
    p += sprintf(p, "</ParameterNames></c:GetParameterValues>" ENV_CLOSE);
    hostile("300,000 elements", s, (size_t)(p - s), NULL, ACS_ETOOBIG);
    free(s);
  }
  {
    /* over the default 4 MiB */
    size_t n = (4u << 20) + 1;
    char *s = malloc(n);
    memset(s, ' ', n);
    memcpy(s, ENV_OPEN, strlen(ENV_OPEN));
    hostile("4 MiB + 1 byte", s, n, NULL, ACS_ETOOBIG);
    free(s);
  }

  /* ---- every truncation of a valid envelope is an error; the whole parses */
  {
    int bad = 0, wrong_code = 0;
    double t0 = now();
    for (size_t len = 0; len < inform.len; len++) {
      acs_arena pa;
      acs_arena_init(&pa, 0);
      acs_cwmp_msg m;
      acs_cwmp_error err;
      err.msg[0] = '\0';
      int rc = acs_cwmp_parse(inform.data, len, &pa, NULL, &m, &err);
      if (rc == 0) {
        if (bad++ < 5) fprintf(stderr, "truncated to %zu of %zu bytes: parsed\n", len, inform.len);
      } else if (rc != ACS_EXML || err.msg[0] == '\0') {
        if (wrong_code++ < 5) fprintf(stderr, "truncated to %zu: %d %s\n", len, rc, err.msg);
      }
      acs_arena_reset(&pa);
    }
    double dt = now() - t0;
    fprintf(stderr, "%zu truncations in %.3f s\n", inform.len, dt);
    CHECK_INT(bad, 0);
    CHECK_INT(wrong_code, 0);
    CHECK(dt < 10.0);
    acs_arena pa;
    acs_arena_init(&pa, 0);
    acs_cwmp_msg m;
    CHECK_INT(run("full sample Inform", inform.data, inform.len, NULL, 0, &pa, &m), 0);
    CHECK(msg_equal_wire(&sample, &m));
    acs_arena_reset(&pa);
  }
  acs_buf_free(&inform);
  acs_arena_reset(&a);
}

/* ---- bytes that are not (UTF-8) XML */
static void test_not_xml(void) {
  hostile("empty input", "", 0, NULL, ACS_EXML);
  hostile("zero length of a non-empty buffer", "<x/>", 0, NULL, ACS_EXML);
  hostile_s("whitespace only", " \r\n\t ", ACS_EXML);
  hostile_s("plain text", "hello, world", ACS_EXML);
  hostile_s("JSON", "{\"Inform\": {\"DeviceId\": 1}}", ACS_EXML);
  hostile_s("HTTP request", "POST / HTTP/1.1\r\nHost: acs\r\n\r\n", ACS_EXML);
  hostile_s("two root elements", ENV_OPEN ENV_CLOSE ENV_OPEN ENV_CLOSE, ACS_EXML);
  hostile_s("mismatched tags", ENV_OPEN "<c:GetRPCMethods></c:GetRPCMethodsResponse>" ENV_CLOSE,
            ACS_EXML);
  {
    /* an unbound prefix makes the document namespace-ill-formed: refused,
     * or at least never taken for a known method */
    acs_arena a;
    acs_arena_init(&a, 0);
    acs_cwmp_msg m;
    acs_cwmp_error err;
    static const char unbound[] = ENV_OPEN "<q:GetRPCMethods/>" ENV_CLOSE;
    int rc = acs_cwmp_parse(unbound, strlen(unbound), &a, NULL, &m, &err);
    CHECK(rc == ACS_EXML || (rc == 0 && m.kind == ACS_CWMP_UNKNOWN));
    acs_arena_reset(&a);
  }
  hostile_s("duplicate attribute",
            "<s:Envelope xmlns:s=\"" SOAP_NS "\" a=\"1\" a=\"2\"><s:Body/></s:Envelope>", ACS_EXML);
  hostile_s("bare ampersand", ENV_OPEN "<c:Kicked><Command>a & b</Command></c:Kicked>" ENV_CLOSE,
            ACS_EXML);
  hostile_s("forbidden character reference",
            ENV_OPEN "<c:Kicked><Command>&#0;</Command></c:Kicked>" ENV_CLOSE, ACS_EXML);
  hostile_s("control character", ENV_OPEN "<c:Kicked><Command>\x01</Command></c:Kicked>" ENV_CLOSE,
            ACS_EXML);
  {
    static const char nul[] = ENV_OPEN "<c:Kicked><Command>a\0b</Command></c:Kicked>" ENV_CLOSE;
    hostile("NUL byte", nul, sizeof nul - 1, NULL, ACS_EXML);
  }
  static const char *const bad_utf8[] = {
      "\xC3\x28",         /* bad continuation */
      "\xFF\xFE",         /* never valid */
      "\xC0\xAF",         /* overlong '/' */
      "\xED\xA0\x80",     /* UTF-16 surrogate */
      "\xF4\x90\x80\x80", /* past U+10FFFF */
      "\xE2\x82",         /* cut short */
      "\x80",             /* lone continuation */
  };
  for (size_t i = 0; i < sizeof bad_utf8 / sizeof bad_utf8[0]; i++) {
    char *s = build(1024, ENV_OPEN "<c:Kicked><Command>ok%sok</Command><Referer/><Arg/><Next/></c:Kicked>" ENV_CLOSE,
                    bad_utf8[i]);
    hostile_s("invalid UTF-8", s, ACS_EXML);
    free(s);
  }
  {
    char *s = build(1024, "<s:Envelope xmlns:s=\"" SOAP_NS "\" xmlns:c=\"urn:dslforum-org:cwmp-1-0\">"
                          "<s:Body><c:Kick\xC3\x28" "ed/></s:Body></s:Envelope>");
    hostile_s("invalid UTF-8 in a name", s, ACS_EXML);
    free(s);
  }
  /* declared UTF-16 but is not */
  hostile_s("lying encoding declaration",
            "<?xml version=\"1.0\" encoding=\"UTF-16\"?>" ENV_OPEN "<c:GetRPCMethods/>" ENV_CLOSE,
            ACS_EXML);
}

/* ---- well-formed, but not a SOAP envelope / not CWMP */
static void test_namespaces(void) {
  hostile_s("Envelope without namespace",
            "<Envelope><Body><GetRPCMethods/></Body></Envelope>", ACS_ESOAP);
  hostile_s("SOAP 1.2 Envelope",
            "<e:Envelope xmlns:e=\"http://www.w3.org/2003/05/soap-envelope\"><e:Body>"
            "<c:GetRPCMethods xmlns:c=\"urn:dslforum-org:cwmp-1-0\"/></e:Body></e:Envelope>",
            ACS_ESOAP);
  hostile_s("Envelope in the cwmp namespace",
            "<c:Envelope xmlns:c=\"urn:dslforum-org:cwmp-1-0\"><c:Body><c:GetRPCMethods/></c:Body></c:Envelope>",
            ACS_ESOAP);
  hostile_s("root is Body",
            "<s:Body xmlns:s=\"" SOAP_NS "\"><c:GetRPCMethods xmlns:c=\"urn:dslforum-org:cwmp-1-0\"/></s:Body>",
            ACS_ESOAP);
  hostile_s("root is the RPC",
            "<c:Inform xmlns:c=\"urn:dslforum-org:cwmp-1-0\"><MaxEnvelopes>1</MaxEnvelopes></c:Inform>",
            ACS_ESOAP);
  hostile_s("Envelope without Body",
            "<s:Envelope xmlns:s=\"" SOAP_NS "\"><s:Header/></s:Envelope>", ACS_ESOAP);
  hostile_s("Body in another namespace",
            "<s:Envelope xmlns:s=\"" SOAP_NS "\"><b:Body xmlns:b=\"urn:x\"><c:GetRPCMethods "
            "xmlns:c=\"urn:dslforum-org:cwmp-1-0\"/></b:Body></s:Envelope>",
            ACS_ESOAP);
  hostile_s("RPC in a non-CWMP namespace",
            "<s:Envelope xmlns:s=\"" SOAP_NS "\"><s:Body><x:Inform xmlns:x=\"urn:example:not-cwmp\">"
            "<MaxEnvelopes>1</MaxEnvelopes></x:Inform></s:Body></s:Envelope>",
            ACS_ENS);
  hostile_s("RPC in cwmp-1-9",
            "<s:Envelope xmlns:s=\"" SOAP_NS "\"><s:Body><x:GetRPCMethods "
            "xmlns:x=\"urn:dslforum-org:cwmp-1-9\"/></s:Body></s:Envelope>",
            ACS_ENS);
  hostile_s("RPC in cwmp-1-",
            "<s:Envelope xmlns:s=\"" SOAP_NS "\"><s:Body><x:GetRPCMethods "
            "xmlns:x=\"urn:dslforum-org:cwmp-1-\"/></s:Body></s:Envelope>",
            ACS_ENS);
  hostile_s("RPC in cwmp-1-20",
            "<s:Envelope xmlns:s=\"" SOAP_NS "\"><s:Body><x:GetRPCMethods "
            "xmlns:x=\"urn:dslforum-org:cwmp-1-20\"/></s:Body></s:Envelope>",
            ACS_ENS);
  hostile_s("RPC without any namespace",
            "<s:Envelope xmlns:s=\"" SOAP_NS "\"><s:Body><GetRPCMethods/></s:Body></s:Envelope>",
            ACS_ENS);
  hostile_s("RPC in the SOAP namespace",
            "<s:Envelope xmlns:s=\"" SOAP_NS "\"><s:Body><s:GetRPCMethods/></s:Body></s:Envelope>",
            ACS_ESOAP);
}

/* ---- things libxml2 could act on: PIs, XInclude, huge names/attributes */
static void test_active_content(void) {
  acs_arena a;
  acs_arena_init(&a, 0);
  acs_cwmp_msg m;
  /* processing instructions are ignored, never executed or fetched */
  int rc = run("processing instructions",
               "<?xml-stylesheet type=\"text/xsl\" href=\"http://203.0.113.1/x.xsl\"?>" ENV_OPEN
               "<c:Kicked><Command>a<?php system('id'); ?>b</Command><Referer/><Arg/><Next/>"
               "</c:Kicked>" ENV_CLOSE,
               strlen("<?xml-stylesheet type=\"text/xsl\" href=\"http://203.0.113.1/x.xsl\"?>" ENV_OPEN
                      "<c:Kicked><Command>a<?php system('id'); ?>b</Command><Referer/><Arg/><Next/>"
                      "</c:Kicked>" ENV_CLOSE),
               NULL, 0, &a, &m);
  if (rc == 0) {
    CHECK_INT(m.kind, ACS_CWMP_KICKED);
    CHECK_STR(m.u.kicked.command, "ab");
  }
  acs_arena_reset(&a);
  hostile_s("PI named xml in the middle",
            ENV_OPEN "<?xml version=\"1.0\"?><c:GetRPCMethods/>" ENV_CLOSE, ACS_EXML);

  /* XInclude is not processed */
  static const char xi[] =
      ENV_OPEN "<c:Kicked><Command>a<xi:include xmlns:xi=\"http://www.w3.org/2001/XInclude\" "
      "href=\"file:///etc/passwd\" parse=\"text\"/>b</Command><Referer/><Arg/><Next/></c:Kicked>" ENV_CLOSE;
  rc = run("xinclude in a value", xi, strlen(xi), NULL, 0, &a, &m);
  if (rc == 0) {
    CHECK_INT(m.kind, ACS_CWMP_KICKED);
    CHECK_STR(m.u.kicked.command, "ab");
  }
  acs_arena_reset(&a);
  hostile_s("xinclude as the RPC",
            ENV_OPEN "<xi:include xmlns:xi=\"http://www.w3.org/2001/XInclude\" href=\"file:///etc/passwd\" "
            "parse=\"xml\"/>" ENV_CLOSE,
            ACS_ENS);

  /* a 3 MB attribute value: harmless, bounded */
  {
    size_t n = 3u << 20;
    char *s = malloc(n + 1024), *p = s;
    p += sprintf(p, "<s:Envelope xmlns:s=\"" SOAP_NS "\" junk=\"");
    memset(p, 'A', n);
    p += n;
    p += sprintf(p, "\"><s:Body><c:GetRPCMethods xmlns:c=\"urn:dslforum-org:cwmp-1-0\"/></s:Body></s:Envelope>");
    rc = run("3 MB attribute", s, (size_t)(p - s), NULL, 0, &a, &m);
    if (rc == 0) CHECK_INT(m.kind, ACS_CWMP_GET_RPC_METHODS);
    acs_arena_reset(&a);
    /* a 3 MB text value is kept, and the arena holds it once */
    p = s;
    p += sprintf(p, ENV_OPEN "<c:Kicked><Command>");
    memset(p, 'B', n);
    p += n;
    p += sprintf(p, "</Command><Referer/><Arg/><Next/></c:Kicked>" ENV_CLOSE);
    rc = run("3 MB value", s, (size_t)(p - s), NULL, 0, &a, &m);
    if (rc == 0) {
      CHECK_INT(m.kind, ACS_CWMP_KICKED);
      CHECK(m.u.kicked.command && strlen(m.u.kicked.command) == n);
      CHECK(a.total < 2 * n);
    }
    acs_arena_reset(&a);
    /* a 100,000-byte element name (libxml2 allows 50,000) */
    p = s;
    p += sprintf(p, ENV_OPEN "<c:");
    memset(p, 'N', 100000);
    p += 100000;
    p += sprintf(p, "/>" ENV_CLOSE);
    hostile("100 KB element name", s, (size_t)(p - s), NULL, ACS_EXML);
    free(s);
  }
  /* many attributes / namespace declarations on one element: libxml2 2.9
   * checks both for duplicates pair by pair (quadratic), so a few hundred
   * KB of them must be refused before libxml2 sees them, or parse fast */
  {
    size_t n = 40000;
    char *s = malloc(100000 * 40 + 1024), *p = s;
    p += sprintf(p, "<s:Envelope xmlns:s=\"" SOAP_NS "\"");
    for (size_t i = 0; i < n; i++) p += sprintf(p, " a%zx=\"\"", i);
    p += sprintf(p, "><s:Body><c:GetRPCMethods xmlns:c=\"urn:dslforum-org:cwmp-1-0\"/></s:Body></s:Envelope>");
    acs_cwmp_parse_limits lim = ACS_CWMP_PARSE_LIMITS_DEFAULT;
    rc = run("40,000 attributes (356 KB)", s, (size_t)(p - s), &lim, -1, &a, &m);
    CHECK(rc == 0 || rc == ACS_ETOOBIG || rc == ACS_EXML);
    if (rc == 0) CHECK_INT(m.kind, ACS_CWMP_GET_RPC_METHODS);
    acs_arena_reset(&a);
    n = 100000;
    p = s;
    p += sprintf(p, "<s:Envelope xmlns:s=\"" SOAP_NS "\"");
    for (size_t i = 0; i < n; i++) p += sprintf(p, " xmlns:n%zx=\"u\"", i);
    p += sprintf(p, "><s:Body><c:GetRPCMethods xmlns:c=\"urn:dslforum-org:cwmp-1-0\"/></s:Body></s:Envelope>");
    rc = run("100,000 namespace declarations (1.6 MB)", s, (size_t)(p - s), &lim, -1, &a, &m);
    CHECK(rc == 0 || rc == ACS_ETOOBIG || rc == ACS_EXML);
    if (rc == 0) CHECK_INT(m.kind, ACS_CWMP_GET_RPC_METHODS);
    acs_arena_reset(&a);
    free(s);
  }
  /* one value split into 100,000 pieces by comments and CDATA */
  {
    size_t n = 100000;
    char *s = malloc(n * 24 + 1024), *p = s;
    p += sprintf(p, ENV_OPEN "<c:Kicked><Command>");
    for (size_t i = 0; i < n; i++) p += sprintf(p, i % 2 ? "x<!---->" : "<![CDATA[y]]>");
    p += sprintf(p, "</Command><Referer/><Arg/><Next/></c:Kicked>" ENV_CLOSE);
    rc = run("100,000 text pieces", s, (size_t)(p - s), NULL, 0, &a, &m);
    if (rc == 0) CHECK(m.u.kicked.command && strlen(m.u.kicked.command) == n);
    acs_arena_reset(&a);
    free(s);
  }
  /* 150,000 array items: allowed, and bounded */
  {
    size_t n = 150000;
    char *s = malloc(n * 32 + 1024), *p = s;
    p += sprintf(p, ENV_OPEN "<c:GetParameterValues><ParameterNames>");
    for (size_t i = 0; i < n; i++) p += sprintf(p, "<string>%zu</string>", i);
    p += sprintf(p, "</ParameterNames></c:GetParameterValues>" ENV_CLOSE);
    rc = run("150,000 array items", s, (size_t)(p - s), NULL, 0, &a, &m);
    if (rc == 0) {
      CHECK_INT(m.u.get_parameter_values.names.n, n);
      if (m.u.get_parameter_values.names.n == n) CHECK_STR(m.u.get_parameter_values.names.v[n - 1], "149999");
    }
    acs_arena_reset(&a);
    free(s);
  }
}

/* ---- numbers and booleans that are not */
static void test_bad_values(void) {
  static const struct {
    const char *what, *body;
  } bad[] = {
      {"MaxEnvelopes abc", "<c:InformResponse><MaxEnvelopes>abc</MaxEnvelopes></c:InformResponse>"},
      {"MaxEnvelopes -1", "<c:InformResponse><MaxEnvelopes>-1</MaxEnvelopes></c:InformResponse>"},
      {"MaxEnvelopes 2^32", "<c:InformResponse><MaxEnvelopes>4294967296</MaxEnvelopes></c:InformResponse>"},
      {"MaxEnvelopes 1e3", "<c:InformResponse><MaxEnvelopes>1e3</MaxEnvelopes></c:InformResponse>"},
      {"MaxEnvelopes 12abc", "<c:InformResponse><MaxEnvelopes>12abc</MaxEnvelopes></c:InformResponse>"},
      {"MaxEnvelopes 1 2", "<c:InformResponse><MaxEnvelopes>1 2</MaxEnvelopes></c:InformResponse>"},
      {"MaxEnvelopes 0x10", "<c:InformResponse><MaxEnvelopes>0x10</MaxEnvelopes></c:InformResponse>"},
      {"MaxEnvelopes huge", "<c:InformResponse><MaxEnvelopes>99999999999999999999999999</MaxEnvelopes></c:InformResponse>"},
      {"DelaySeconds -5", "<c:ScheduleInform><DelaySeconds>-5</DelaySeconds><CommandKey/></c:ScheduleInform>"},
      {"Status abc", "<c:SetParameterValuesResponse><Status>abc</Status></c:SetParameterValuesResponse>"},
      {"Status 2^31", "<c:DeleteObjectResponse><Status>2147483648</Status></c:DeleteObjectResponse>"},
      {"InstanceNumber -3", "<c:AddObjectResponse><InstanceNumber>-3</InstanceNumber><Status>0</Status></c:AddObjectResponse>"},
      {"NextLevel maybe", "<c:GetParameterNames><ParameterPath>A.</ParameterPath><NextLevel>maybe</NextLevel></c:GetParameterNames>"},
      {"Writable 2", "<c:GetParameterNamesResponse><ParameterList><ParameterInfoStruct><Name>A</Name>"
                     "<Writable>2</Writable></ParameterInfoStruct></ParameterList></c:GetParameterNamesResponse>"},
      {"FaultCode in TransferComplete", "<c:TransferComplete><CommandKey/><FaultStruct><FaultCode>x</FaultCode>"
                                        "<FaultString/></FaultStruct><StartTime/><CompleteTime/></c:TransferComplete>"},
      {"Notification abc", "<c:SetParameterAttributes><ParameterList><SetParameterAttributesStruct><Name>A</Name>"
                           "<NotificationChange>1</NotificationChange><Notification>abc</Notification>"
                           "<AccessListChange>0</AccessListChange><AccessList/></SetParameterAttributesStruct>"
                           "</ParameterList></c:SetParameterAttributes>"},
      {"nested: RetryCount -1 in Inform", "<c:Inform><DeviceId><Manufacturer/><OUI/><ProductClass/><SerialNumber/>"
                                          "</DeviceId><Event/><MaxEnvelopes>1</MaxEnvelopes><CurrentTime/>"
                                          "<RetryCount>-1</RetryCount><ParameterList/></c:Inform>"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    char *s = build(4096, ENV_OPEN "%s" ENV_CLOSE, bad[i].body);
    hostile_s(bad[i].what, s, ACS_ERPC);
    free(s);
  }
  /* header values too */
  hostile_s("HoldRequests yes",
            "<s:Envelope xmlns:s=\"" SOAP_NS "\" xmlns:c=\"urn:dslforum-org:cwmp-1-0\"><s:Header>"
            "<c:HoldRequests s:mustUnderstand=\"1\">yes</c:HoldRequests></s:Header><s:Body/></s:Envelope>",
            ACS_ERPC);
  hostile_s("SessionTimeout -5",
            "<s:Envelope xmlns:s=\"" SOAP_NS "\" xmlns:c=\"urn:dslforum-org:cwmp-1-2\"><s:Header>"
            "<c:SessionTimeout>-5</c:SessionTimeout></s:Header><s:Body/></s:Envelope>",
            ACS_ERPC);
  hostile_s("Fault FaultCode abc",
            ENV_OPEN "<s:Fault><faultcode>Client</faultcode><faultstring>CWMP fault</faultstring>"
            "<detail><c:Fault><FaultCode>abc</FaultCode></c:Fault></detail></s:Fault>" ENV_CLOSE,
            ACS_ERPC);
  hostile_s("SetParameterValuesFault FaultCode -9007",
            ENV_OPEN "<s:Fault><faultcode>Client</faultcode><faultstring>CWMP fault</faultstring>"
            "<detail><c:Fault><FaultCode>9003</FaultCode><SetParameterValuesFault><ParameterName>A"
            "</ParameterName><FaultCode>-9007</FaultCode></SetParameterValuesFault></c:Fault></detail>"
            "</s:Fault>" ENV_CLOSE,
            ACS_ERPC);
  /* the good spellings next to them do parse */
  acs_arena a;
  acs_arena_init(&a, 0);
  acs_cwmp_msg m;
  CHECK_INT(run("MaxEnvelopes 4294967295",
                ENV_OPEN "<c:InformResponse><MaxEnvelopes>4294967295</MaxEnvelopes></c:InformResponse>" ENV_CLOSE,
                strlen(ENV_OPEN "<c:InformResponse><MaxEnvelopes>4294967295</MaxEnvelopes></c:InformResponse>" ENV_CLOSE),
                NULL, 0, &a, &m),
            0);
  CHECK_INT(m.u.inform_response.max_envelopes, 4294967295u);
  acs_arena_reset(&a);
  CHECK_INT(run("Status -1",
                ENV_OPEN "<c:DeleteObjectResponse><Status>-1</Status></c:DeleteObjectResponse>" ENV_CLOSE,
                strlen(ENV_OPEN "<c:DeleteObjectResponse><Status>-1</Status></c:DeleteObjectResponse>" ENV_CLOSE),
                NULL, 0, &a, &m),
            0);
  CHECK_INT(m.u.status_response.status, -1);
  acs_arena_reset(&a);
}

/* ---- the arena runs out at every point of a parse */
static void test_arena_exhaustion(void) {
  acs_arena a, sa;
  acs_arena_init(&sa, 0);
  acs_cwmp_msg sample;
  acs_buf xml = ACS_BUF_INIT;
  sample_msg(&sa, ACS_CWMP_INFORM, ACS_CWMP_NS_1_2, &sample);
  CHECK_INT(acs_cwmp_encode(&sample, &xml), 0);
  /* how much a successful parse takes with small blocks */
  acs_arena_init(&a, 256);
  acs_cwmp_msg m;
  acs_cwmp_error err;
  CHECK_INT(acs_cwmp_parse(xml.data, xml.len, &a, NULL, &m, &err), 0);
  size_t need = a.total;
  acs_arena_reset(&a);
  int nomem = 0, ok = 0, other = 0;
  for (size_t limit = 1; limit <= need + 512; limit += 97) {
    acs_arena_init(&a, 256);
    a.limit = limit;
    memset(&err, 0, sizeof err);
    int rc = acs_cwmp_parse(xml.data, xml.len, &a, NULL, &m, &err);
    if (rc == ACS_ENOMEM && err.msg[0]) {
      nomem++;
      if (m.kind != ACS_CWMP_NONE && m.kind != ACS_CWMP_UNKNOWN) other++;
    } else if (rc == 0) {
      ok++;
      bool same = msg_equal_wire(&sample, &m);
      if (!same) fprintf(stderr, "arena limit %zu: parsed, but %s\n", limit, msg_equal_why);
      CHECK(same);
    } else {
      other++;
      fprintf(stderr, "arena limit %zu: %d %s\n", limit, rc, err.msg);
    }
    CHECK(a.total <= limit);
    acs_arena_reset(&a);
  }
  fprintf(stderr, "arena exhaustion: %d x ENOMEM, %d x parsed (a parse needs %zu bytes)\n", nomem,
          ok, need);
  CHECK(nomem > 10);
  CHECK(ok >= 1);
  CHECK_INT(other, 0);
  acs_buf_free(&xml);
  acs_arena_reset(&sa);
}

/* ---- the error says where */
static void test_error_line(void) {
  acs_arena a;
  acs_arena_init(&a, 0);
  acs_cwmp_msg m;
  acs_cwmp_error err;
  static const char xml[] = "<s:Envelope xmlns:s=\"" SOAP_NS "\">\n<s:Body>\n<c:GetRPCMethods "
                            "xmlns:c=\"urn:dslforum-org:cwmp-1-0\">\n</c:Oops>\n</s:Body></s:Envelope>";
  CHECK_INT(acs_cwmp_parse(xml, strlen(xml), &a, NULL, &m, &err), ACS_EXML);
  CHECK_INT(err.line, 4);
  static const char num[] = "<s:Envelope xmlns:s=\"" SOAP_NS "\">\n<s:Body>\n<c:InformResponse "
                            "xmlns:c=\"urn:dslforum-org:cwmp-1-0\">\n\n<MaxEnvelopes>x</MaxEnvelopes>"
                            "</c:InformResponse></s:Body></s:Envelope>";
  CHECK_INT(acs_cwmp_parse(num, strlen(num), &a, NULL, &m, &err), ACS_ERPC);
  CHECK_INT(err.line, 5);
  CHECK(strstr(err.msg, "MaxEnvelopes") != NULL);
  acs_arena_reset(&a);
}

int main(void) {
  /* count libxml2's allocations (before anything initialises it) */
  if (xmlMemSetup(count_free, count_malloc, count_realloc, count_strdup) != 0) {
    printf("skipped: xmlMemSetup failed\n");
    return 77;
  }
  double t0 = now();
  test_dtd();
  test_limits();
  test_not_xml();
  test_namespaces();
  test_active_content();
  test_bad_values();
  test_arena_exhaustion();
  test_error_line();
  double dt = now() - t0;
  fprintf(stderr,
          "%d hostile parses; slowest %.3f s, largest arena %zu bytes, libxml2 peak %zu bytes; "
          "%.2f s in all\n",
          hostile_count, worst_seconds, worst_arena, worst_xml_peak, dt);
  CHECK(hostile_count >= 80);
  return acs_test_result("test_cwmp_hostile");
}
