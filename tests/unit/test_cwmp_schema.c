/* test_cwmp_schema.c: every envelope the encoder emits validates against the
 * Broadband Forum's official CWMP schemas (../shared/schemas), through
 * libxml2's XML Schema validator, offline.
 *
 *  - ns cwmp-1-0 messages against all-1-0.xsd, cwmp-1-1 against all-1-1.xsd,
 *    for the kinds those schemas declare (the others are skipped, and said);
 *  - ns cwmp-1-2 messages against all-1-2.xsd (ID, HoldRequests headers),
 *    all-1-3.xsd (+ SessionTimeout) and all-1-4.xsd (+ SupportedCWMPVersions,
 *    UseCWMPVersion): CWMP 1.3 and 1.4 keep the cwmp-1-2 namespace;
 *  - acs_cwmp_encode_fault() envelopes against each.
 * cwmp-1-3.xsd / -1-4.xsd include the older schemas and the SOAP schemas by
 * URL: an external entity loader maps every URL by its basename to the local
 * directory and refuses anything else, so nothing ever reaches the network. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <libxml/parser.h>
#include <libxml/parserInternals.h>
#include <libxml/xmlschemas.h>

#include "acs_test.h"
#include "core/acs_arena.h"
#include "core/acs_buf.h"
#include "cwmp/acs_cwmp.h"
#include "cwmp_samples.h"

static char schema_dir[4096];
static int refused_loads;

static bool file_exists(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* Every URL or path maps by its basename to the schemas directory; only
 * names of files that exist there are served. */
static xmlParserInputPtr offline_loader(const char *url, const char *id, xmlParserCtxtPtr ctxt) {
  (void)id;
  if (!url) return NULL;
  const char *base;
  if (strcmp(url, "http://schemas.xmlsoap.org/soap/envelope/") == 0)
    base = "soapenv-stub.xsd";
  else if (strcmp(url, "http://schemas.xmlsoap.org/soap/encoding/") == 0)
    base = "soapenc-stub.xsd";
  else {
    const char *slash = strrchr(url, '/');
    base = slash ? slash + 1 : url;
  }
  bool ok = base[0] != '\0' && base[0] != '.' && strlen(base) < 64 &&
            strspn(base, "abcdefghijklmnopqrstuvwxyz0123456789-.") == strlen(base) &&
            strlen(base) > 4 && strcmp(base + strlen(base) - 4, ".xsd") == 0;
  char path[4200];
  if (ok) {
    snprintf(path, sizeof path, "%s/%s", schema_dir, base);
    ok = file_exists(path);
  }
  if (!ok) {
    refused_loads++;
    fprintf(stderr, "schema loader: refused %s\n", url);
    return NULL;
  }
  return xmlNewInputFromFile(ctxt, path);
}

/* Collects the first validation errors into a buffer. */
typedef struct errbuf {
  char text[2048];
  size_t len;
  int count;
} errbuf;

static void collect_error(void *ctx, xmlErrorPtr e) {
  errbuf *eb = ctx;
  if (!e || e->level == XML_ERR_WARNING) return;
  eb->count++;
  if (eb->len < sizeof eb->text - 1) {
    int n = snprintf(eb->text + eb->len, sizeof eb->text - eb->len, "  line %d: %s", e->line,
                     e->message ? e->message : "(no message)");
    if (n > 0) eb->len += (size_t)n < sizeof eb->text - eb->len ? (size_t)n : sizeof eb->text - eb->len - 1;
  }
}

static void quiet(void *ctx, xmlErrorPtr e) {
  (void)ctx;
  if (e && e->level != XML_ERR_WARNING)
    fprintf(stderr, "schema: %s:%d: %s", e->file ? e->file : "", e->line, e->message ? e->message : "");
}

static xmlSchemaPtr load_schema(const char *name) {
  char path[4200];
  snprintf(path, sizeof path, "%s/%s", schema_dir, name);
  xmlSchemaParserCtxtPtr pc = xmlSchemaNewParserCtxt(path);
  if (!pc) return NULL;
  xmlSchemaSetParserStructuredErrors(pc, quiet, NULL);
  xmlSchemaPtr s = xmlSchemaParse(pc);
  xmlSchemaFreeParserCtxt(pc);
  return s;
}

static char *read_file(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *buf = n >= 0 ? malloc((size_t)n + 1) : NULL;
  if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
    free(buf);
    buf = NULL;
  }
  if (buf) buf[n] = '\0';
  fclose(f);
  return buf;
}

/* Validates one envelope; 0 when valid. Prints the envelope and the errors
 * otherwise. */
static int validate(xmlSchemaPtr schema, const char *schema_name, const char *what,
                    const char *xml, size_t len, bool expect_valid) {
  errbuf eb = {{0}, 0, 0};
  xmlDocPtr doc = xmlReadMemory(xml, (int)len, "envelope.xml", NULL,
                                XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
  if (!doc) {
    fprintf(stderr, "%s: %s is not well-formed XML\n%.*s\n", schema_name, what, (int)len, xml);
    return -1;
  }
  xmlSchemaValidCtxtPtr vc = xmlSchemaNewValidCtxt(schema);
  xmlSchemaSetValidStructuredErrors(vc, collect_error, &eb);
  int rc = xmlSchemaValidateDoc(vc, doc);
  xmlSchemaFreeValidCtxt(vc);
  xmlFreeDoc(doc);
  if ((rc == 0) != expect_valid) {
    if (expect_valid)
      fprintf(stderr, "%s: %s does not validate:\n%s\n---- envelope\n%.*s\n----\n", schema_name,
              what, eb.text, (int)len, xml);
    else
      fprintf(stderr, "%s: %s validates but should not\n", schema_name, what);
  }
  return rc;
}

typedef struct target {
  const char *schema; /* all-1-N.xsd */
  const char *decls;  /* the file whose <xs:element name="X" tell which kinds exist */
  acs_cwmp_ns ns;
  int headers; /* 0: ID + HoldRequests, 1: + SessionTimeout, 2: + the 1.4 headers */
} target;

static const target targets[] = {
    {"all-1-0.xsd", "cwmp-1-0.xsd", ACS_CWMP_NS_1_0, 0},
    {"all-1-1.xsd", "cwmp-1-1.xsd", ACS_CWMP_NS_1_1, 0},
    {"all-1-2.xsd", "cwmp-1-2.xsd", ACS_CWMP_NS_1_2, 0},
    {"all-1-3.xsd", "cwmp-1-2.xsd", ACS_CWMP_NS_1_2, 1},
    {"all-1-4.xsd", "cwmp-1-2.xsd", ACS_CWMP_NS_1_2, 2},
};

static bool declares(const char *xsd_text, const char *element) {
  char pat[160];
  snprintf(pat, sizeof pat, "<xs:element name=\"%s\"", element);
  return strstr(xsd_text, pat) != NULL;
}

int main(void) {
  const char *shared = getenv("ACS_SHARED_DIR");
  if (!shared || !*shared) shared = "../shared";
  snprintf(schema_dir, sizeof schema_dir, "%s/schemas", shared);
  char probe[4200];
  snprintf(probe, sizeof probe, "%s/all-1-0.xsd", schema_dir);
  if (!file_exists(probe)) {
    printf("skipped: ../shared/schemas not found (looked in %s)\n", schema_dir);
    return 77;
  }
  xmlInitParser();
  xmlSetExternalEntityLoader(offline_loader);
  /* the loader serves the local schemas and nothing else */
  CHECK(offline_loader("http://www.example.com/passwd", NULL, NULL) == NULL);
  CHECK(offline_loader("file:///etc/passwd", NULL, NULL) == NULL);
  CHECK(offline_loader("http://www.broadband-forum.org/cwmp/../../etc/x.xsd", NULL, NULL) == NULL);
  CHECK_INT(refused_loads, 3);
  refused_loads = 0;

  int validations = 0, expected = 0, skipped_kinds = 0;
  for (size_t t = 0; t < sizeof targets / sizeof targets[0]; t++) {
    const target *tg = &targets[t];
    xmlSchemaPtr schema = load_schema(tg->schema);
    CHECK(schema != NULL);
    if (!schema) {
      fprintf(stderr, "cannot compile %s\n", tg->schema);
      continue;
    }
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", schema_dir, tg->decls);
    char *decls = read_file(path);
    CHECK(decls != NULL);
    if (!decls) {
      xmlSchemaFree(schema);
      continue;
    }
    /* the schema really is strict: a broken Inform and an undeclared
     * method must fail, or a "valid" below would mean nothing */
    {
      acs_arena a;
      acs_arena_init(&a, 0);
      acs_cwmp_msg m;
      acs_buf out = ACS_BUF_INIT;
      sample_msg(&a, ACS_CWMP_INFORM, tg->ns, &m);
      m.u.inform.device_id.oui = "not-an-oui";
      CHECK_INT(acs_cwmp_encode(&m, &out), 0);
      CHECK(validate(schema, tg->schema, "Inform with a bad OUI", out.data, out.len, false) != 0);
      acs_buf_reset(&out);
      sample_msg(&a, ACS_CWMP_ADD_OBJECT, tg->ns, &m);
      m.u.add_object.object_name = "Device.IP.Interface"; /* no trailing '.' */
      CHECK_INT(acs_cwmp_encode(&m, &out), 0);
      CHECK(validate(schema, tg->schema, "AddObject without trailing dot", out.data, out.len,
                     false) != 0);
      acs_buf_reset(&out);
      static const char undeclared[] =
          "<soap-env:Envelope xmlns:soap-env=\"http://schemas.xmlsoap.org/soap/envelope/\" "
          "xmlns:cwmp=\"%s\"><soap-env:Body><cwmp:X_ACME_Frobnicate/></soap-env:Body>"
          "</soap-env:Envelope>";
      acs_buf_printf(&out, undeclared, acs_cwmp_ns_uri(tg->ns));
      CHECK(validate(schema, tg->schema, "an undeclared method", out.data, out.len, false) != 0);
      acs_buf_reset(&out);
      /* headers this schema does not know must fail too */
      sample_msg(&a, ACS_CWMP_INFORM_RESPONSE, tg->ns, &m);
      if (tg->headers == 0)
        m.session_timeout = 30;
      else if (tg->headers == 1)
        m.use_cwmp_version = "1.4";
      else
        m.no_more_requests = true, m.kind = ACS_CWMP_UNKNOWN; /* nothing more to learn here */
      if (m.kind != ACS_CWMP_UNKNOWN) {
        CHECK_INT(acs_cwmp_encode(&m, &out), 0);
        CHECK(validate(schema, tg->schema, "a header from a later CWMP version", out.data, out.len,
                       false) != 0);
      }
      acs_buf_free(&out);
      acs_arena_reset(&a);
    }

    for (int k = ACS_CWMP_NONE + 1; k < ACS_CWMP_UNKNOWN; k++) {
      const char *name = acs_cwmp_kind_name((acs_cwmp_kind)k);
      if (!name) continue;
      if (!declares(decls, name)) {
        fprintf(stderr, "%s: no %s in this schema, not validated\n", tg->schema, name);
        skipped_kinds++;
        continue;
      }
      expected++;
      acs_arena a;
      acs_arena_init(&a, 0);
      acs_cwmp_msg m;
      acs_buf out = ACS_BUF_INIT;
      CHECK_INT(sample_msg(&a, (acs_cwmp_kind)k, tg->ns, &m), 0);
      /* vary the header over the kinds */
      if (k % 3 == 0) {
        m.has_hold_requests = true;
        m.hold_requests = k % 2;
      }
      if (k % 5 == 0) m.id = NULL;
      if (tg->headers >= 1) m.session_timeout = 30 + (uint32_t)k;
      if (tg->headers >= 2) {
        if (k % 2) m.supported_cwmp_versions = "1.0,1.1,1.2,1.3,1.4";
        else m.use_cwmp_version = "1.4";
      }
      int rc = acs_cwmp_encode(&m, &out);
      CHECK_INT(rc, 0);
      if (rc == 0) {
        char what[160];
        snprintf(what, sizeof what, "%s (ns %s)", name, acs_cwmp_ns_uri(tg->ns));
        int v = validate(schema, tg->schema, what, out.data, out.len, true);
        CHECK_INT(v, 0);
        if (v == 0) validations++;
      }
      acs_buf_free(&out);
      acs_arena_reset(&a);
    }

    /* acs_cwmp_encode_fault */
    static const uint32_t codes[] = {8000, 8003, 8005, 9005, 9002};
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
      expected++;
      acs_buf out = ACS_BUF_INIT;
      CHECK_INT(acs_cwmp_encode_fault(tg->ns, i % 2 ? "cpe-7" : NULL, codes[i], NULL, &out), 0);
      char what[64];
      snprintf(what, sizeof what, "fault %u", codes[i]);
      int v = validate(schema, tg->schema, what, out.data, out.len, true);
      CHECK_INT(v, 0);
      if (v == 0) validations++;
      acs_buf_free(&out);
    }
    free(decls);
    xmlSchemaFree(schema);
  }

  /* 37 kinds in cwmp-1-0, 41 in cwmp-1-1, 51 in cwmp-1-2 (three times), five
   * fault envelopes each: the schemas are here, so nothing may be skipped
   * beyond the kinds the older schemas do not have. */
  fprintf(stderr, "%d envelopes validated (%d expected), %d kind/schema pairs skipped\n",
          validations, expected, skipped_kinds);
  CHECK_INT(expected, 37 + 41 + 3 * 51 + 5 * 5);
  CHECK_INT(validations, expected);
  CHECK_INT(skipped_kinds, (51 - 37) + (51 - 41));
  CHECK_INT(refused_loads, 0);
  xmlCleanupParser();
  return acs_test_result("test_cwmp_schema");
}
