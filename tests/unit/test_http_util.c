/* test_http_util: the pure helpers around requests: a parsed request written
 * back to bytes parses to the same request (worker hand-off relies on it),
 * URL decoding and encoding, query lookup, and the device id of the
 * Contracts. */
#include "acs_test.h"
#include "core/acs_err.h"
#include "cwmp/acs_cwmp.h"
#include "http/acs_http.h"

static const acs_http_request *feed(acs_http_parser *p, const char *data, size_t len) {
  size_t used = 0;
  acs_http_status st = acs_http_feed(p, data, len, &used);
  CHECK_INT(st, ACS_HTTP_REQUEST);
  return st == ACS_HTTP_REQUEST ? acs_http_request_get(p) : NULL;
}

static void test_rewrite(void) {
  static const char chunked[] =
      "POST /acs?x=1 HTTP/1.1\r\nHost: acs\r\nCookie: acsd_session=a.1.ff; $Path=/\r\n"
      "Transfer-Encoding: chunked\r\nSOAPAction: \"\"\r\n\r\n"
      "5\r\n<soap\r\n3\r\n-x>\r\n0\r\n\r\n";
  acs_http_limits lim = ACS_HTTP_LIMITS_DEFAULT;
  acs_http_parser *p = acs_http_parser_new(&lim), *q = acs_http_parser_new(&lim);
  const acs_http_request *a = feed(p, chunked, sizeof chunked - 1);
  if (!a) goto out;
  acs_buf out = ACS_BUF_INIT;
  acs_http_request_write(&out, a);
  CHECK(strstr(out.data, "Transfer-Encoding") == NULL);
  CHECK(strstr(out.data, "Content-Length: 8\r\n") != NULL);
  const acs_http_request *b = feed(q, out.data, out.len);
  if (b) {
    CHECK_STR(b->method, "POST");
    CHECK_STR(b->target, "/acs?x=1");
    CHECK_STR(b->query, "x=1");
    CHECK_INT(b->body_len, 8);
    CHECK(b->body_len == 8 && memcmp(b->body, "<soap-x>", 8) == 0);
    CHECK_STR(acs_http_header_get(b, "cookie"), "acsd_session=a.1.ff; $Path=/");
    CHECK_STR(acs_http_header_get(b, "SOAPAction"), "\"\"");
    CHECK_INT(b->keep_alive, a->keep_alive);
  }
  acs_buf_free(&out);
  /* an empty POST keeps its Content-Length: 0 */
  acs_http_next(p);
  static const char empty[] = "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n";
  a = feed(p, empty, sizeof empty - 1);
  if (a) {
    acs_http_request_write(&out, a);
    CHECK(strstr(out.data, "Content-Length: 0\r\n") != NULL);
    acs_http_next(q);
    b = feed(q, out.data, out.len);
    if (b) CHECK_INT(b->body_len, 0);
    acs_buf_free(&out);
  }
out:
  acs_http_parser_free(p);
  acs_http_parser_free(q);
}

static void test_url(void) {
  acs_buf b = ACS_BUF_INIT;
  CHECK_INT(acs_http_url_decode("a%2Db%25c+d", 11, false, &b), 0);
  CHECK_STR(b.data, "a-b%c+d");
  acs_buf_reset(&b);
  CHECK_INT(acs_http_url_decode("a+b", 3, true, &b), 0);
  CHECK_STR(b.data, "a b");
  acs_buf_reset(&b);
  CHECK_INT(acs_http_url_decode("", 0, false, &b), 0);
  CHECK_STR(b.data, "");
  acs_buf_reset(&b);
  CHECK_INT(acs_http_url_decode("%4", 2, false, &b), ACS_EINVAL);
  acs_buf_reset(&b);
  CHECK_INT(acs_http_url_decode("%zz", 3, false, &b), ACS_EINVAL);
  acs_buf_reset(&b);
  CHECK_INT(acs_http_url_decode("a%00", 4, false, &b), ACS_EINVAL);
  acs_buf_reset(&b);
  acs_http_url_encode("00AABB-HG%2D1-S N/1", &b);
  CHECK_STR(b.data, "00AABB-HG%252D1-S%20N%2F1");
  acs_buf_reset(&b);
  CHECK_INT(acs_http_query_get("limit=5&cursor=ab%3D&flag", "cursor", &b), 0);
  CHECK_STR(b.data, "ab=");
  CHECK_INT(acs_http_query_get("limit=5&cursor=ab%3D&flag", "flag", &b), 0);
  CHECK_STR(b.data, ""); /* the old "ab=" must not show through */
  CHECK_INT(acs_http_query_get("limit=&x=1", "limit", &b), 0);
  CHECK_STR(b.data, "");
  CHECK_INT(acs_http_query_get("limit=5&cursor=x", "limi", &b), ACS_ENOTFOUND);
  CHECK_INT(acs_http_query_get("", "limit", &b), ACS_ENOTFOUND);
  CHECK_INT(acs_http_query_get("limit=%G1", "limit", &b), ACS_EINVAL);
  acs_buf_free(&b);
}

static void test_device_id(void) {
  acs_buf b = ACS_BUF_INIT;
  CHECK_INT(acs_cwmp_device_id_format("00AABB", "HG-1", "SN 1", &b), 0);
  CHECK_STR(b.data, "00AABB-HG%2D1-SN%201");
  acs_buf_reset(&b);
  CHECK_INT(acs_cwmp_device_id_format("00AABB", "", "X.y_z~", &b), 0);
  CHECK_STR(b.data, "00AABB-X.y_z~");
  acs_buf_reset(&b);
  CHECK_INT(acs_cwmp_device_id_format("00AABB", NULL, "\xc3\xa9", &b), 0);
  CHECK_STR(b.data, "00AABB-%C3%A9");
  acs_buf_reset(&b);
  CHECK_INT(acs_cwmp_device_id_format("", "P", "S", &b), ACS_EINVAL);
  CHECK_INT(acs_cwmp_device_id_format("O", "P", NULL, &b), ACS_EINVAL);
  acs_buf_free(&b);
}

int main(void) {
  test_rewrite();
  test_url();
  test_device_id();
  return acs_test_result("test_http_util");
}
