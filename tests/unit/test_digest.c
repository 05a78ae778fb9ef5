/* test_digest: WWW-Authenticate challenges as CPEs send them (quoted or
 * bare, folded over lines, LF-only, several schemes) and the Authorization
 * answers, against RFC 2617's worked example; the server's side: parsing
 * Authorization headers and checking Digest responses against an HA1. */
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

/* Challenges whose parameters are separated by spaces alone (issue 11):
 * quoted, bare, and mixed with commas; the head's block unterminated. */
static void test_commaless(void) {
  acs_auth_challenge ch;
  static const char q[] = "Digest realm=\"IGD\" nonce=\"a1b2\" qop=\"auth\" algorithm=MD5";
  CHECK_INT(acs_auth_parse(q, sizeof q - 1, &ch), 0);
  CHECK_INT(ch.scheme, ACS_AUTH_DIGEST);
  CHECK_STR(ch.realm, "IGD");
  CHECK_STR(ch.nonce, "a1b2");
  CHECK_STR(ch.algorithm, "MD5");
  CHECK(ch.qop_auth);
  static const char bare[] = "Digest realm=r nonce=n9 qop=auth, opaque=\"o\" algorithm=MD5-sess";
  CHECK_INT(acs_auth_parse(bare, sizeof bare - 1, &ch), 0);
  CHECK_STR(ch.realm, "r");
  CHECK_STR(ch.nonce, "n9");
  CHECK_STR(ch.opaque, "o");
  CHECK_STR(ch.algorithm, "MD5-sess");
  CHECK(ch.qop_auth);
  static const char head[] = "HTTP/1.1 401 Unauthorized\nWWW-Authenticate: Digest realm=\"cpe\"\n"
                             "\tnonce=\"n0\" qop=\"auth\"\n";
  CHECK_INT(acs_auth_from_head(head, sizeof head - 1, &ch), 0);
  CHECK_STR(ch.nonce, "n0");
  CHECK(ch.qop_auth);
}

/* The server's side: what a client's Authorization says, checked against
 * the stored HA1; every answer acs_auth_header() writes verifies. */
static void test_server_side(void) {
  acs_auth_credentials c;
  /* RFC 2617's example, as the client sent it */
  static const char v[] =
      "Digest username=\"Mufasa\", realm=\"testrealm@host.com\", "
      "nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\", uri=\"/dir/index.html\", qop=auth, "
      "nc=00000001, cnonce=\"0a4f113b\", response=\"6629fae49393a05397450978507c4ef1\", "
      "opaque=\"5ccc069c403ebaf9f0171e9517f40e41\"";
  CHECK_INT(acs_auth_credentials_parse(v, &c), 0);
  CHECK_INT(c.scheme, ACS_AUTH_DIGEST);
  CHECK_STR(c.username, "Mufasa");
  CHECK_STR(c.uri, "/dir/index.html");
  CHECK_STR(c.nc, "00000001");
  char ha1[33];
  acs_auth_ha1("Mufasa", "testrealm@host.com", "Circle Of Life", ha1);
  CHECK(acs_auth_digest_check(&c, ha1, "GET"));
  CHECK(!acs_auth_digest_check(&c, ha1, "HEAD")); /* the method is part of it */
  char other[33];
  acs_auth_ha1("Mufasa", "testrealm@host.com", "Circle of Life", other);
  CHECK(!acs_auth_digest_check(&c, other, "GET"));
  c.response[0] = c.response[0] == '6' ? '7' : '6';
  CHECK(!acs_auth_digest_check(&c, ha1, "GET"));
  /* answers written by our own client side verify: MD5, MD5-sess, RFC 2069 */
  static const char *const challenges[] = {
      "Digest realm=\"acsd files\", qop=\"auth\", algorithm=MD5, nonce=\"00000000abcdef01\"",
      "Digest realm=\"acsd files\", qop=\"auth\", algorithm=MD5-sess, nonce=\"n2\"",
      "Digest realm=\"acsd files\", nonce=\"n3\"",
  };
  acs_auth_ha1("acsd-dl-7", "acsd files", "pw \"quoted\"", ha1);
  for (size_t i = 0; i < sizeof challenges / sizeof challenges[0]; i++) {
    acs_auth_challenge ch;
    CHECK_INT(acs_auth_parse(challenges[i], strlen(challenges[i]), &ch), 0);
    acs_buf b = ACS_BUF_INIT;
    CHECK_INT(acs_auth_header(&ch, "acsd-dl-7", "pw \"quoted\"", "GET", "/files/a.bin?x=1",
                              "cafe01", 3, &b),
              0);
    const char *val = b.data + strlen("Authorization: ");
    b.data[b.len - 2] = '\0'; /* the CRLF */
    CHECK_INT(acs_auth_credentials_parse(val, &c), 0);
    CHECK_STR(c.uri, "/files/a.bin?x=1");
    CHECK(acs_auth_digest_check(&c, ha1, "GET"));
    acs_buf_free(&b);
  }
  /* Basic: user and password, the password may hold ':' */
  CHECK_INT(acs_auth_credentials_parse("Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==", &c), 0);
  CHECK_INT(c.scheme, ACS_AUTH_BASIC);
  CHECK_STR(c.username, "Aladdin");
  CHECK_STR(c.password, "open sesame");
  CHECK_INT(acs_auth_credentials_parse("basic dTpwOnE=", &c), 0); /* u:p:q */
  CHECK_STR(c.username, "u");
  CHECK_STR(c.password, "p:q");
  CHECK_INT(acs_auth_credentials_parse("Basic dTp2", &c), 0); /* u:v, no padding */
  CHECK_STR(c.password, "v");
  /* refused: no colon, bad base64, another scheme, missing fields, unknown
   * algorithm, qop without its cnonce, a NUL inside */
  static const char *const bad[] = {
      "Basic YWxhZGRpbg==",
      "Basic !!!!",
      "Basic",
      "Bearer acs_x",
      "",
      "Digest username=\"u\", nonce=\"n\", uri=\"/\"",
      "Digest username=\"u\", nonce=\"n\", response=\"r\"",
      "Digest username=\"u\", nonce=\"n\", uri=\"/\", response=\"r\", algorithm=SHA-256",
      "Digest username=\"u\", nonce=\"n\", uri=\"/\", response=\"r\", qop=auth",
      ("Digest username=\"u\", nonce=\"n\", uri=\"/\", response=\"r\", qop=auth-int, nc=1, "
       "cnonce=\"c\""),
      "Basic dQB4OnA=",
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    int rc = acs_auth_credentials_parse(bad[i], &c);
    if (rc != ACS_EINVAL) fprintf(stderr, "accepted: %s\n", bad[i]);
    CHECK_INT(rc, ACS_EINVAL);
  }
  /* a response of the wrong length never matches */
  CHECK_INT(acs_auth_credentials_parse(
                "Digest username=\"u\", nonce=\"n\", uri=\"/\", response=\"abc\"", &c),
            0);
  acs_auth_ha1("u", "r", "p", ha1);
  CHECK(!acs_auth_digest_check(&c, ha1, "GET"));
}

/* CPE authentication's pieces: stateless nonces (fresh, stale, forged,
 * another realm or key), the challenges acsd writes, a client's preferred
 * challenge among them, Basic's check. */
static void test_nonces_and_challenges(void) {
  unsigned char key[32], other[32];
  for (int i = 0; i < 32; i++) key[i] = (unsigned char)i, other[i] = (unsigned char)(i + 1);
  char n[ACS_AUTH_NONCE_LEN + 1], n2[ACS_AUTH_NONCE_LEN + 1];
  static const unsigned char salt[4] = {1, 2, 3, 4}, salt2[4] = {1, 2, 3, 5};
  acs_auth_nonce_make(key, "acsd", 1700000000, salt, n);
  acs_auth_nonce_make(key, "acsd", 1700000000, salt2, n2);
  CHECK(strcmp(n, n2) != 0); /* the same second, another salt: another nonce */
  CHECK_INT(acs_auth_nonce_check(key, "acsd", n2, 1700000010, 300, 30, NULL), 0);
  CHECK(strncmp(n, "006553f10001020304", 18) == 0); /* time, then salt */
  CHECK_INT(strlen(n), ACS_AUTH_NONCE_LEN);
  uint64_t age = 99;
  CHECK_INT(acs_auth_nonce_check(key, "acsd", n, 1700000010, 300, 30, &age), 0);
  CHECK_INT(age, 10);
  CHECK_INT(acs_auth_nonce_check(key, "acsd", n, 1700000301, 300, 30, NULL), ACS_ETIMEOUT);
  CHECK_INT(acs_auth_nonce_check(key, "acsd", n, 1699999980, 300, 30, NULL), 0); /* skew */
  CHECK_INT(acs_auth_nonce_check(key, "acsd", n, 1699999900, 300, 30, NULL), ACS_ETIMEOUT);
  CHECK_INT(acs_auth_nonce_check(other, "acsd", n, 1700000010, 300, 30, NULL), ACS_EINVAL);
  CHECK_INT(acs_auth_nonce_check(key, "other", n, 1700000010, 300, 30, NULL), ACS_EINVAL);
  char forged[ACS_AUTH_NONCE_LEN + 1];
  memcpy(forged, n, sizeof forged);
  forged[9] = forged[9] == '0' ? '1' : '0'; /* another time, the same MAC */
  CHECK_INT(acs_auth_nonce_check(key, "acsd", forged, 1700000010, 300, 30, NULL), ACS_EINVAL);
  memcpy(forged, n, sizeof forged);
  forged[17] = forged[17] == '4' ? '5' : '4'; /* another salt, the same MAC */
  CHECK_INT(acs_auth_nonce_check(key, "acsd", forged, 1700000010, 300, 30, NULL), ACS_EINVAL);
  CHECK_INT(acs_auth_nonce_check(key, "acsd", "abc", 1700000010, 300, 30, NULL), ACS_EINVAL);

  acs_buf h = ACS_BUF_INIT;
  acs_auth_challenge_write("acsd", n, false, true, &h);
  static const char first[] = "WWW-Authenticate: Digest realm=\"acsd\", qop=\"auth\", nonce=";
  CHECK(strncmp(h.data, first, sizeof first - 1) == 0);
  CHECK(strstr(h.data, "algorithm=MD5\r\n") && strstr(h.data, "algorithm=MD5-sess\r\n"));
  CHECK(strstr(h.data, "WWW-Authenticate: Basic realm=\"acsd\"\r\n") != NULL);
  CHECK(strstr(h.data, "stale") == NULL);
  /* the values joined as a client sees them: each preference finds its own */
  acs_buf all = ACS_BUF_INIT;
  for (char *line = h.data; line && *line;) {
    char *eol = strstr(line, "\r\n");
    if (all.len) acs_buf_puts(&all, ", ");
    acs_buf_append(&all, line + 18, (size_t)(eol - line - 18));
    line = eol + 2;
  }
  acs_auth_challenge ch;
  CHECK_INT(acs_auth_parse_pref(all.data, all.len, NULL, &ch), 0);
  CHECK_INT(ch.scheme, ACS_AUTH_DIGEST);
  CHECK_STR(ch.algorithm, "MD5");
  CHECK_STR(ch.nonce, n);
  CHECK_INT(acs_auth_parse_pref(all.data, all.len, "md5-sess", &ch), 0);
  CHECK_STR(ch.algorithm, "MD5-sess");
  CHECK_INT(acs_auth_parse_pref(all.data, all.len, "basic", &ch), 0);
  CHECK_INT(ch.scheme, ACS_AUTH_BASIC);
  acs_buf_reset(&h);
  acs_auth_challenge_write("acsd", n, true, false, &h);
  CHECK(strstr(h.data, "Basic") == NULL && strstr(h.data, "stale=true") != NULL);
  CHECK_INT(acs_auth_parse(h.data + 18, strlen(h.data + 18), &ch), 0);
  CHECK(ch.stale);
  acs_buf_free(&h);
  acs_buf_free(&all);

  acs_auth_credentials c;
  CHECK_INT(acs_auth_credentials_parse("Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==", &c), 0);
  CHECK(acs_auth_basic_check(&c, "Aladdin", "open sesame"));
  CHECK(!acs_auth_basic_check(&c, "Aladdin", "open sesame!"));
  CHECK(!acs_auth_basic_check(&c, "aladdin", "open sesame"));
  CHECK(!acs_auth_basic_check(&c, "Aladdin", "open sesamE"));
}

int main(void) {
  test_rfc2617();
  test_heads();
  test_commaless();
  test_server_side();
  test_nonces_and_challenges();
  return acs_test_result("test_digest");
}
