/* digest.c: WWW-Authenticate challenges in, Authorization headers out
 * (acs_digest.h). */
#include <ctype.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/acs_err.h"
#include "http/acs_digest.h"

static bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

static bool is_tchar(char c) { return c > ' ' && c < 127 && !strchr("\"(),/:;<=>?@[\\]{}", c); }

typedef struct one {
  acs_auth_challenge ch;
  bool algo_ok;
} one;

static void set(char *dst, size_t cap, const char *v, size_t n) {
  if (n >= cap) n = cap - 1;
  memcpy(dst, v, n);
  dst[n] = '\0';
}

/* qop="auth,auth-int" */
static bool has_auth(const char *v, size_t n) {
  size_t i = 0;
  while (i < n) {
    while (i < n && (is_space(v[i]) || v[i] == ',')) i++;
    size_t s = i;
    while (i < n && !is_space(v[i]) && v[i] != ',') i++;
    if (i - s == 4 && strncasecmp(v + s, "auth", 4) == 0) return true;
  }
  return false;
}

static void param(one *o, const char *k, size_t kl, const char *v, size_t vl) {
  acs_auth_challenge *c = &o->ch;
  if (kl == 5 && !strncasecmp(k, "realm", 5)) {
    set(c->realm, sizeof c->realm, v, vl);
  } else if (kl == 5 && !strncasecmp(k, "nonce", 5)) {
    set(c->nonce, sizeof c->nonce, v, vl);
  } else if (kl == 6 && !strncasecmp(k, "opaque", 6)) {
    set(c->opaque, sizeof c->opaque, v, vl);
  } else if (kl == 9 && !strncasecmp(k, "algorithm", 9)) {
    set(c->algorithm, sizeof c->algorithm, v, vl);
    o->algo_ok = !strcasecmp(c->algorithm, "MD5") || !strcasecmp(c->algorithm, "MD5-sess");
  } else if (kl == 3 && !strncasecmp(k, "qop", 3)) {
    c->qop_auth = has_auth(v, vl);
  } else if (kl == 5 && !strncasecmp(k, "stale", 5)) {
    c->stale = vl == 4 && !strncasecmp(v, "true", 4);
  }
}

/* How good a challenge is: Digest (with an algorithm we speak) over
 * Basic, and the one the client prefers (pref) over both. */
static int rank(const one *o, const char *pref) {
  int r = 0;
  if (o->ch.scheme == ACS_AUTH_DIGEST && o->algo_ok && o->ch.nonce[0]) r = 2;
  if (o->ch.scheme == ACS_AUTH_BASIC) r = 1;
  if (r && pref) {
    bool want = o->ch.scheme == ACS_AUTH_BASIC ? !strcasecmp(pref, "basic")
                                               : !strcasecmp(pref, o->ch.algorithm);
    if (want) r = 3;
  }
  return r;
}

static void consider(const one *cur, one *best, const char *pref) {
  if (rank(cur, pref) > rank(best, pref)) *best = *cur;
}

/* One item of an auth header value at s[*i]: a bare token (a scheme, or a
 * Basic credential's token68) or token=value (a quoted value unquoted into
 * unq, truncated at its size). False at the end of the value. */
typedef struct item {
  const char *k, *v;
  size_t kl, vl;
  bool param;
} item;

static bool next_item(const char *s, size_t len, size_t *pi, item *it, char *unq, size_t cap) {
  size_t i = *pi, ts;
  for (;;) {
    while (i < len && (is_space(s[i]) || s[i] == ',')) i++;
    if (i >= len) {
      *pi = i;
      return false;
    }
    ts = i;
    while (i < len && is_tchar(s[i])) i++;
    if (i > ts) break;
    i++; /* a stray character */
  }
  *it = (item){s + ts, NULL, i - ts, 0, false};
  size_t j = i;
  while (j < len && is_space(s[j])) j++;
  if (j < len && s[j] == '=') {
    j++;
    while (j < len && is_space(s[j])) j++;
    it->param = true;
    if (j < len && s[j] == '"') {
      j++;
      size_t o = 0;
      while (j < len && s[j] != '"') {
        if (s[j] == '\\' && j + 1 < len) j++;
        if (o < cap) unq[o++] = s[j];
        j++;
      }
      if (j < len) j++;
      it->v = unq;
      it->vl = o;
    } else {
      size_t vs = j;
      while (j < len && s[j] != ',' && !is_space(s[j])) j++;
      it->v = s + vs;
      it->vl = j - vs;
    }
    i = j;
  }
  *pi = i;
  return true;
}

static void parse_into(const char *s, size_t len, one *best, const char *pref) {
  one cur;
  memset(&cur, 0, sizeof cur);
  size_t i = 0;
  item it;
  char unq[512];
  while (next_item(s, len, &i, &it, unq, sizeof unq)) {
    if (it.param) { /* an auth-param of the current challenge */
      if (cur.ch.scheme != ACS_AUTH_NONE) param(&cur, it.k, it.kl, it.v, it.vl);
      continue;
    }
    /* a new challenge begins with its scheme */
    consider(&cur, best, pref);
    memset(&cur, 0, sizeof cur);
    if (it.kl == 6 && !strncasecmp(it.k, "Digest", 6)) {
      cur.ch.scheme = ACS_AUTH_DIGEST;
      cur.algo_ok = true; /* MD5 unless said otherwise */
      strcpy(cur.ch.algorithm, "MD5");
    } else if (it.kl == 5 && !strncasecmp(it.k, "Basic", 5)) {
      cur.ch.scheme = ACS_AUTH_BASIC;
    }
  }
  consider(&cur, best, pref);
}

int acs_auth_parse_pref(const char *value, size_t len, const char *pref, acs_auth_challenge *out) {
  one best;
  memset(&best, 0, sizeof best);
  parse_into(value, len, &best, pref);
  if (!rank(&best, pref)) return ACS_EINVAL;
  *out = best.ch;
  return 0;
}

int acs_auth_parse(const char *value, size_t len, acs_auth_challenge *out) {
  return acs_auth_parse_pref(value, len, NULL, out);
}

int acs_auth_from_head(const char *head, size_t len, acs_auth_challenge *out) {
  one best;
  memset(&best, 0, sizeof best);
  bool found = false;
  size_t i = 0;
  static const char name[] = "WWW-Authenticate:";
  const size_t nl = sizeof name - 1;
  while (i < len) {
    size_t eol = i;
    while (eol < len && head[eol] != '\n') eol++;
    if (eol - i >= nl && !strncasecmp(head + i, name, nl)) {
      found = true;
      /* the value, with its continuation lines (folded headers) */
      size_t vs = i + nl, ve = eol;
      while (ve + 1 < len && (head[ve + 1] == ' ' || head[ve + 1] == '\t')) {
        ve++;
        while (ve < len && head[ve] != '\n') ve++;
      }
      parse_into(head + vs, ve - vs, &best, NULL);
      eol = ve;
    }
    i = eol + 1;
  }
  if (!found) return ACS_ENOTFOUND;
  if (!rank(&best, NULL)) return ACS_EINVAL;
  *out = best.ch;
  return 0;
}

static void md5_hex(char out[33], const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void md5_hex(char out[33], const char *fmt, ...) {
  char buf[2048];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  if (n < 0) n = 0;
  if ((size_t)n >= sizeof buf) n = (int)sizeof buf - 1;
  unsigned char d[EVP_MAX_MD_SIZE];
  unsigned int dl = 0;
  EVP_Digest(buf, (size_t)n, d, &dl, EVP_md5(), NULL);
  for (unsigned i = 0; i < 16; i++) snprintf(out + 2 * i, 3, "%02x", d[i]);
}

static void put_quoted(acs_buf *out, const char *k, const char *v) {
  acs_buf_printf(out, "%s=\"", k);
  for (const char *p = v; *p; p++) {
    if (*p == '"' || *p == '\\') acs_buf_putc(out, '\\');
    acs_buf_putc(out, *p);
  }
  acs_buf_putc(out, '"');
}

int acs_auth_header(const acs_auth_challenge *ch, const char *user, const char *pass,
                    const char *method, const char *uri, const char *cnonce, unsigned nc,
                    acs_buf *out) {
  if (!user || !pass) return ACS_EINVAL;
  if (ch->scheme == ACS_AUTH_BASIC) {
    char plain[1024];
    int n = snprintf(plain, sizeof plain, "%s:%s", user, pass);
    if (n < 0 || (size_t)n >= sizeof plain) return ACS_EINVAL;
    unsigned char b64[1400];
    EVP_EncodeBlock(b64, (const unsigned char *)plain, n);
    acs_buf_printf(out, "Authorization: Basic %s\r\n", b64);
    return acs_buf_err(out);
  }
  if (ch->scheme != ACS_AUTH_DIGEST) return ACS_EINVAL;
  bool sess = !strcasecmp(ch->algorithm, "MD5-sess");
  char ha1[33], ha2[33], resp[33], ncs[9];
  md5_hex(ha1, "%s:%s:%s", user, ch->realm, pass);
  if (sess) {
    char base[33];
    memcpy(base, ha1, sizeof base);
    md5_hex(ha1, "%s:%s:%s", base, ch->nonce, cnonce);
  }
  md5_hex(ha2, "%s:%s", method, uri);
  snprintf(ncs, sizeof ncs, "%08x", nc);
  if (ch->qop_auth) {
    md5_hex(resp, "%s:%s:%s:%s:auth:%s", ha1, ch->nonce, ncs, cnonce, ha2);
  } else {
    md5_hex(resp, "%s:%s:%s", ha1, ch->nonce, ha2); /* RFC 2069 */
  }
  acs_buf_puts(out, "Authorization: Digest ");
  put_quoted(out, "username", user);
  acs_buf_puts(out, ", ");
  put_quoted(out, "realm", ch->realm);
  acs_buf_puts(out, ", ");
  put_quoted(out, "nonce", ch->nonce);
  acs_buf_puts(out, ", ");
  put_quoted(out, "uri", uri);
  acs_buf_printf(out, ", algorithm=%s", sess ? "MD5-sess" : "MD5");
  if (ch->qop_auth) acs_buf_printf(out, ", qop=auth, nc=%s, cnonce=\"%s\"", ncs, cnonce);
  acs_buf_printf(out, ", response=\"%s\"", resp);
  if (ch->opaque[0]) {
    acs_buf_puts(out, ", ");
    put_quoted(out, "opaque", ch->opaque);
  }
  acs_buf_puts(out, "\r\n");
  return acs_buf_err(out);
}

/* --- the server's side */

void acs_auth_ha1(const char *user, const char *realm, const char *pass, char out[33]) {
  md5_hex(out, "%s:%s:%s", user, realm, pass);
}

static void copy_to(char *dst, size_t cap, const item *it) { set(dst, cap, it->v, it->vl); }

static int parse_basic(const char *s, size_t len, acs_auth_credentials *out) {
  while (len && is_space(*s)) s++, len--;
  while (len && is_space(s[len - 1])) len--;
  unsigned char dec[768];
  if (len == 0 || len % 4 || len > 1000) return ACS_EINVAL;
  int n = EVP_DecodeBlock(dec, (const unsigned char *)s, (int)len);
  if (n < 0) return ACS_EINVAL;
  if (s[len - 1] == '=') n--; /* EVP_DecodeBlock counts the padding */
  if (len >= 2 && s[len - 2] == '=') n--;
  const unsigned char *colon = memchr(dec, ':', (size_t)n);
  if (!colon || memchr(dec, '\0', (size_t)n)) return ACS_EINVAL;
  size_t ul = (size_t)(colon - dec), pl = (size_t)n - ul - 1;
  if (ul >= sizeof out->username || pl >= sizeof out->password) return ACS_EINVAL;
  memcpy(out->username, dec, ul);
  out->username[ul] = '\0';
  memcpy(out->password, colon + 1, pl);
  out->password[pl] = '\0';
  out->scheme = ACS_AUTH_BASIC;
  return 0;
}

int acs_auth_credentials_parse(const char *value, acs_auth_credentials *out) {
  memset(out, 0, sizeof *out);
  size_t len = strlen(value), i = 0;
  item it;
  char unq[1024];
  if (!next_item(value, len, &i, &it, unq, sizeof unq) || it.param) return ACS_EINVAL;
  if (it.kl == 5 && !strncasecmp(it.k, "Basic", 5)) return parse_basic(value + i, len - i, out);
  if (it.kl != 6 || strncasecmp(it.k, "Digest", 6)) return ACS_EINVAL;
  strcpy(out->algorithm, "MD5");
  while (next_item(value, len, &i, &it, unq, sizeof unq)) {
    if (!it.param) return ACS_EINVAL;
    struct {
      const char *name;
      char *dst;
      size_t cap;
    } const fields[] = {
        {"username", out->username, sizeof out->username},
        {"realm", out->realm, sizeof out->realm},
        {"nonce", out->nonce, sizeof out->nonce},
        {"uri", out->uri, sizeof out->uri},
        {"response", out->response, sizeof out->response},
        {"cnonce", out->cnonce, sizeof out->cnonce},
        {"nc", out->nc, sizeof out->nc},
        {"qop", out->qop, sizeof out->qop},
        {"algorithm", out->algorithm, sizeof out->algorithm},
        {"opaque", out->opaque, sizeof out->opaque},
    };
    for (size_t f = 0; f < sizeof fields / sizeof fields[0]; f++) {
      if (strlen(fields[f].name) == it.kl && !strncasecmp(it.k, fields[f].name, it.kl)) {
        if (it.vl >= fields[f].cap) return ACS_EINVAL; /* truncated would not verify anyway */
        copy_to(fields[f].dst, fields[f].cap, &it);
      }
    }
  }
  if (!out->username[0] || !out->nonce[0] || !out->response[0] || !out->uri[0]) return ACS_EINVAL;
  bool sess = !strcasecmp(out->algorithm, "MD5-sess");
  if (!sess && strcasecmp(out->algorithm, "MD5")) return ACS_EINVAL;
  if (out->qop[0] && (strcasecmp(out->qop, "auth") || !out->cnonce[0] || !out->nc[0]))
    return ACS_EINVAL;
  if (sess && !out->cnonce[0]) return ACS_EINVAL;
  out->scheme = ACS_AUTH_DIGEST;
  return 0;
}

bool acs_auth_digest_check(const acs_auth_credentials *c, const char *ha1_hex, const char *method) {
  if (c->scheme != ACS_AUTH_DIGEST || strlen(ha1_hex) != 32) return false;
  char ha1[33], ha2[33], want[33];
  if (!strcasecmp(c->algorithm, "MD5-sess")) {
    md5_hex(ha1, "%s:%s:%s", ha1_hex, c->nonce, c->cnonce);
  } else {
    memcpy(ha1, ha1_hex, sizeof ha1);
  }
  md5_hex(ha2, "%s:%s", method, c->uri);
  if (c->qop[0]) {
    md5_hex(want, "%s:%s:%s:%s:auth:%s", ha1, c->nonce, c->nc, c->cnonce, ha2);
  } else {
    md5_hex(want, "%s:%s:%s", ha1, c->nonce, ha2); /* RFC 2069 */
  }
  char got[33];
  size_t n = strlen(c->response);
  if (n != 32) return false;
  for (size_t k = 0; k <= n; k++) got[k] = (char)tolower((unsigned char)c->response[k]);
  return CRYPTO_memcmp(got, want, 32) == 0;
}

bool acs_auth_basic_check(const acs_auth_credentials *c, const char *user, const char *pass) {
  if (c->scheme != ACS_AUTH_BASIC || !user || !pass) return false;
  /* equal lengths first (they are not secret), then the bytes in constant time */
  size_t ul = strlen(user), pl = strlen(pass);
  bool ok = strlen(c->username) == ul && strlen(c->password) == pl;
  bool u = ok && CRYPTO_memcmp(c->username, user, ul) == 0;
  bool p = ok && CRYPTO_memcmp(c->password, pass, pl) == 0;
  return ok & u & p;
}

/* --- stateless nonces */

static void nonce_mac(const unsigned char key[32], const char *realm, const char *ts_salt,
                      char out[33]) {
  unsigned char msg[300], mac[EVP_MAX_MD_SIZE];
  int n = snprintf((char *)msg, sizeof msg, "acsd-nonce:%s:%s", ts_salt, realm);
  if (n < 0) n = 0;
  if ((size_t)n >= sizeof msg) n = (int)sizeof msg - 1;
  unsigned int ml = 0;
  HMAC(EVP_sha256(), key, 32, msg, (size_t)n, mac, &ml);
  for (unsigned i = 0; i < 16; i++) snprintf(out + 2 * i, 3, "%02x", mac[i]);
}

void acs_auth_nonce_make(const unsigned char key[32], const char *realm, uint64_t now_s,
                         const unsigned char salt[4], char out[ACS_AUTH_NONCE_LEN + 1]) {
  char ts[19], mac[33];
  snprintf(ts, sizeof ts, "%010llx%02x%02x%02x%02x", (unsigned long long)(now_s & 0xffffffffffULL),
           salt[0], salt[1], salt[2], salt[3]);
  nonce_mac(key, realm, ts, mac);
  snprintf(out, ACS_AUTH_NONCE_LEN + 1, "%s%s", ts, mac);
}

int acs_auth_nonce_check(const unsigned char key[32], const char *realm, const char *nonce,
                         uint64_t now_s, unsigned ttl_s, unsigned skew_s, uint64_t *age_s) {
  if (strlen(nonce) != ACS_AUTH_NONCE_LEN) return ACS_EINVAL;
  char ts[19], mac[33], want[33];
  memcpy(ts, nonce, 18);
  ts[18] = '\0';
  for (int i = 0; i < ACS_AUTH_NONCE_LEN; i++) {
    char c = nonce[i];
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return ACS_EINVAL;
  }
  memcpy(mac, nonce + 18, 32);
  mac[32] = '\0';
  nonce_mac(key, realm, ts, want);
  if (CRYPTO_memcmp(mac, want, 32) != 0) return ACS_EINVAL;
  ts[10] = '\0';
  uint64_t t = strtoull(ts, NULL, 16);
  if (t > now_s) {
    if (age_s) *age_s = 0;
    return t - now_s > skew_s ? ACS_ETIMEOUT : 0;
  }
  if (age_s) *age_s = now_s - t;
  return now_s - t > ttl_s ? ACS_ETIMEOUT : 0;
}

void acs_auth_challenge_write(const char *realm, const char *nonce, bool stale, bool basic,
                              acs_buf *out) {
  static const char *const algos[2] = {"MD5", "MD5-sess"};
  for (int i = 0; i < 2; i++) {
    acs_buf_puts(out, "WWW-Authenticate: Digest ");
    put_quoted(out, "realm", realm);
    acs_buf_puts(out, ", qop=\"auth\", ");
    put_quoted(out, "nonce", nonce);
    acs_buf_printf(out, ", algorithm=%s%s\r\n", algos[i], stale ? ", stale=true" : "");
  }
  if (basic) {
    acs_buf_puts(out, "WWW-Authenticate: Basic ");
    put_quoted(out, "realm", realm);
    acs_buf_puts(out, "\r\n");
  }
}
