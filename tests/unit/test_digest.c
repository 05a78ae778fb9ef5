/* test_digest: WWW-Authenticate challenges as CPEs send them (quoted or
 * bare, folded over lines, LF-only, several schemes) and the Authorization
 * answers, against RFC 2617's worked example. */
#include "acs_test.h"
#include "core/acs_err.h"
#include "http/acs_digest.h"

static void test_rfc2617(void) {
  static const char v[] =
      "Digest realm=\"testrealm@host.com\", qop=\"auth,auth-int\", "
      "nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\", opaque=\"5ccc069c403ebaf9f0171e9517f40e41\"";
  acs_auth_challenge ch;
  CHECK_INT(acs_auth_parse(v, sizeof v - 1, &ch), 0);
  CHECK_INT(ch.scheme, ACS_AUTH_DIGEST);
  CHECK_STR(ch.realm, "testrealm@host.com");
  CHECK_STR(ch.nonce, "dcd98b7102dd2f0e8b11d0f600bfb0c093");
  CHECK_STR(ch.opaque, "5ccc069c403ebaf9f0171e9517f40e41");
  CHECK(ch.qop_auth);
  acs_buf b = ACS_BUF_INIT;
  CHECK_INT(
      acs_auth_header(&ch, "Mufasa", "Circle Of Life", "GET", "/dir/index.html", "0a4f113b", 1, &b),
      0);
  CHECK(b.data && strstr(b.data, "response=\"6629fae49393a05397450978507c4ef1\"") != NULL);
  CHECK(b.data && strstr(b.data, "nc=00000001") != NULL);
  CHECK(b.data && strstr(b.data, "opaque=\"5ccc069c403ebaf9f0171e9517f40e41\"") != NULL);
  CHECK(b.data && strncmp(b.data, "Authorization: Digest username=\"Mufasa\"", 39) == 0);
  acs_buf_free(&b);
}

static void test_heads(void) {
  /* folded over three lines, LF-only, bare values, Basic offered too */
  static const char head[] =
      "HTTP/1.1 401 Unauthorized\n"
      "Server: tiny\n"
      "WWW-Authenticate: Basic realm=\"cpe\"\n"
      "WWW-Authenticate: Digest realm=\"IGD\",\n"
      "\tnonce=abc123, qop=auth,\n"
      " algorithm=MD5\n"
      "Content-Length: 0\n\n";
  acs_auth_challenge ch;
  CHECK_INT(acs_auth_from_head(head, sizeof head - 1, &ch), 0);
  CHECK_INT(ch.scheme, ACS_AUTH_DIGEST);
  CHECK_STR(ch.realm, "IGD");
  CHECK_STR(ch.nonce, "abc123");
  CHECK(ch.qop_auth);
  /* Basic only */
  static const char basic[] = "HTTP/1.1 401 X\r\nwww-authenticate: Basic realm=\"r\"\r\n\r\n";
  CHECK_INT(acs_auth_from_head(basic, sizeof basic - 1, &ch), 0);
  CHECK_INT(ch.scheme, ACS_AUTH_BASIC);
  acs_buf b = ACS_BUF_INIT;
  CHECK_INT(acs_auth_header(&ch, "Aladdin", "open sesame", "GET", "/", "", 1, &b), 0);
  CHECK_STR(b.data, "Authorization: Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==\r\n");
  acs_buf_free(&b);
  /* none at all, and one we cannot answer */
  static const char none[] = "HTTP/1.1 401 X\r\nServer: y\r\n\r\n";
  CHECK_INT(acs_auth_from_head(none, sizeof none - 1, &ch), ACS_ENOTFOUND);
  static const char sha[] = "Digest realm=\"r\", nonce=\"n\", algorithm=SHA-256";
  CHECK_INT(acs_auth_parse(sha, sizeof sha - 1, &ch), ACS_EINVAL);
  /* two challenges in one header: Digest wins */
  static const char both[] = "Basic realm=\"a\", Digest realm=\"b\", nonce=\"n1\"";
  CHECK_INT(acs_auth_parse(both, sizeof both - 1, &ch), 0);
  CHECK_INT(ch.scheme, ACS_AUTH_DIGEST);
  CHECK_STR(ch.realm, "b");
  CHECK(!ch.qop_auth);
  /* RFC 2069 style (no qop) and MD5-sess both answer */
  CHECK_INT(acs_auth_header(&ch, "u", "p", "GET", "/x", "c1", 1, &b), 0);
  CHECK(b.data && strstr(b.data, "qop") == NULL);
  acs_buf_reset(&b);
  static const char sess[] = "Digest realm=\"r\", nonce=\"n\", algorithm=MD5-sess, qop=auth";
  CHECK_INT(acs_auth_parse(sess, sizeof sess - 1, &ch), 0);
  CHECK_INT(acs_auth_header(&ch, "u", "p", "GET", "/x", "c1", 2, &b), 0);
  CHECK(b.data && strstr(b.data, "algorithm=MD5-sess") != NULL);
  CHECK(b.data && strstr(b.data, "nc=00000002") != NULL);
  acs_buf_free(&b);
}

int main(void) {
  test_rfc2617();
  test_heads();
  return acs_test_result("test_digest");
}
