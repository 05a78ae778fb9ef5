/* bench_codec: throughput of the pure codecs on this machine, one core.
 *
 *   build/bin/bench_codec [seconds-per-case]   (default 2)
 *
 * Cases: parse a periodic Inform of a home gateway (60 parameters), encode
 * an InformResponse, encode a GetParameterValues of 20 names, parse a
 * GetParameterValuesResponse of 200 values, and parse an HTTP POST carrying
 * the Inform. Prints one line per case (operations/s, MB/s, ns/op) and a JSON
 * line at the end. Each case runs for a bounded time and stops by itself. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cwmp/acs_cwmp.h"
#include "http/acs_http.h"

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

typedef struct result {
  const char *name;
  double ops, mbps, ns;
} result;

static acs_cwmp_param_value *make_params(acs_arena *a, size_t n) {
  acs_cwmp_param_value *p = acs_arena_calloc(a, n, sizeof *p);
  for (size_t i = 0; i < n; i++) {
    char name[96], value[64];
    snprintf(name, sizeof name, "Device.WiFi.SSID.%zu.Stats.X_Counter%zu", i % 8 + 1, i);
    snprintf(value, sizeof value, "%zu", i * 7919u);
    p[i].name = acs_arena_strdup(a, name);
    p[i].value = acs_arena_strdup(a, value);
    p[i].type = i % 3 ? ACS_XSD_UNSIGNEDINT : ACS_XSD_STRING;
  }
  return p;
}

static void encode_inform(acs_buf *out, acs_arena *a, size_t nparams) {
  acs_cwmp_msg m;
  memset(&m, 0, sizeof m);
  m.ns = ACS_CWMP_NS_1_2;
  m.id = "1234567";
  m.kind = ACS_CWMP_INFORM;
  acs_cwmp_inform *in = &m.u.inform;
  in->device_id = (acs_cwmp_device_id){"ExampleCorp", "00259E", "HG8245", "SN00000001"};
  static acs_cwmp_event ev[] = {{"2 PERIODIC", ""}};
  in->events.v = ev;
  in->events.n = 1;
  in->max_envelopes = 1;
  in->current_time = "2026-11-28T10:00:00Z";
  in->params.v = make_params(a, nparams);
  in->params.n = nparams;
  acs_cwmp_encode(&m, out);
}

static result run_parse(const char *name, const acs_buf *doc, double secs) {
  acs_arena a;
  acs_arena_init(&a, 65536);
  acs_cwmp_msg m;
  acs_cwmp_error err;
  long n = 0;
  double t0 = now(), t;
  do {
    for (int i = 0; i < 64; i++, n++) {
      if (acs_cwmp_parse(doc->data, doc->len, &a, NULL, &m, &err)) {
        fprintf(stderr, "%s: %s\n", name, err.msg);
        exit(1);
      }
      acs_arena_reset(&a);
    }
    t = now() - t0;
  } while (t < secs);
  return (result){name, n / t, n * (double)doc->len / t / 1e6, t / n * 1e9};
}

static result run_encode(const char *name, const acs_cwmp_msg *m, double secs) {
  acs_buf out = ACS_BUF_INIT;
  long n = 0;
  size_t bytes = 0;
  double t0 = now(), t;
  do {
    for (int i = 0; i < 256; i++, n++) {
      acs_buf_reset(&out);
      acs_cwmp_encode(m, &out);
      bytes += out.len;
    }
    t = now() - t0;
  } while (t < secs);
  acs_buf_free(&out);
  return (result){name, n / t, bytes / t / 1e6, t / n * 1e9};
}

static result run_http(const char *name, const acs_buf *req, double secs) {
  acs_http_limits lim = ACS_HTTP_LIMITS_DEFAULT;
  acs_http_parser *p = acs_http_parser_new(&lim);
  long n = 0;
  double t0 = now(), t;
  do {
    for (int i = 0; i < 256; i++, n++) {
      size_t used;
      if (acs_http_feed(p, req->data, req->len, &used) != ACS_HTTP_REQUEST) {
        fprintf(stderr, "%s: parse failed\n", name);
        exit(1);
      }
      acs_http_next(p);
    }
    t = now() - t0;
  } while (t < secs);
  acs_http_parser_free(p);
  return (result){name, n / t, n * (double)req->len / t / 1e6, t / n * 1e9};
}

int main(int argc, char **argv) {
  double secs = argc > 1 ? atof(argv[1]) : 2.0;
  if (secs <= 0 || secs > 60) secs = 2.0;
  acs_arena a;
  acs_arena_init(&a, 0);
  result r[5];
  int nr = 0;

  acs_buf inform = ACS_BUF_INIT;
  encode_inform(&inform, &a, 60);
  r[nr++] = run_parse("parse Inform (60 params)", &inform, secs);

  acs_cwmp_msg ir;
  memset(&ir, 0, sizeof ir);
  ir.id = "1234567";
  ir.kind = ACS_CWMP_INFORM_RESPONSE;
  ir.u.inform_response.max_envelopes = 1;
  r[nr++] = run_encode("encode InformResponse", &ir, secs);

  acs_cwmp_msg gpv;
  memset(&gpv, 0, sizeof gpv);
  gpv.id = "acs-1";
  gpv.kind = ACS_CWMP_GET_PARAMETER_VALUES;
  char *names[20];
  acs_cwmp_param_value *pv = make_params(&a, 20);
  for (int i = 0; i < 20; i++) names[i] = pv[i].name;
  gpv.u.get_parameter_values.names.v = names;
  gpv.u.get_parameter_values.names.n = 20;
  r[nr++] = run_encode("encode GetParameterValues (20 names)", &gpv, secs);

  acs_cwmp_msg gpvr;
  memset(&gpvr, 0, sizeof gpvr);
  gpvr.id = "acs-1";
  gpvr.kind = ACS_CWMP_GET_PARAMETER_VALUES_RESPONSE;
  gpvr.u.get_parameter_values_response.params.v = make_params(&a, 200);
  gpvr.u.get_parameter_values_response.params.n = 200;
  acs_buf gpvr_doc = ACS_BUF_INIT;
  acs_cwmp_encode(&gpvr, &gpvr_doc);
  r[nr++] = run_parse("parse GetParameterValuesResponse (200)", &gpvr_doc, secs);

  acs_buf req = ACS_BUF_INIT;
  acs_buf_printf(&req,
                 "POST /cwmp HTTP/1.1\r\nHost: acs.example.net:7547\r\nUser-Agent: cpe/1.0\r\n"
                 "Content-Type: text/xml; charset=\"utf-8\"\r\nSOAPAction: \"\"\r\n"
                 "Cookie: acsd=w1.0123456789abcdef\r\nContent-Length: %zu\r\n\r\n",
                 inform.len);
  acs_buf_append(&req, inform.data, inform.len);
  r[nr++] = run_http("http parse POST with Inform", &req, secs);

  printf("%-42s %14s %10s %10s\n", "case", "ops/s", "MB/s", "ns/op");
  for (int i = 0; i < nr; i++)
    printf("%-42s %14.0f %10.1f %10.0f\n", r[i].name, r[i].ops, r[i].mbps, r[i].ns);
  printf("{\"bench\":\"codec\",\"seconds_per_case\":%.1f", secs);
  for (int i = 0; i < nr; i++) printf(",\"case%d\":{\"name\":\"%s\",\"ops_per_s\":%.0f}", i, r[i].name, r[i].ops);
  printf("}\n");
  acs_buf_free(&inform);
  acs_buf_free(&gpvr_doc);
  acs_buf_free(&req);
  acs_arena_reset(&a);
  return 0;
}
