/* digest.c: WWW-Authenticate challenges in, Authorization headers out
 * (acs_digest.h). */
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
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

/* Is a better than b? Digest (with an algorithm we speak) over Basic. */
static int rank(const one *o) {
  if (o->ch.scheme == ACS_AUTH_DIGEST && o->algo_ok && o->ch.nonce[0]) return 2;
  if (o->ch.scheme == ACS_AUTH_BASIC) return 1;
  return 0;
}

static void consider(const one *cur, one *best) {
  if (rank(cur) > rank(best)) *best = *cur;
}

static void parse_into(const char *s, size_t len, one *best) {
  one cur;
  memset(&cur, 0, sizeof cur);
  size_t i = 0;
  while (i < len) {
    while (i < len && (is_space(s[i]) || s[i] == ',')) i++;
    size_t ts = i;
    while (i < len && is_tchar(s[i])) i++;
    size_t tl = i - ts;
    if (tl == 0) {
      i++; /* a stray character */
      continue;
    }
    size_t j = i;
    while (j < len && is_space(s[j])) j++;
    if (j < len && s[j] == '=') { /* an auth-param of the current challenge */
      j++;
      while (j < len && is_space(s[j])) j++;
      const char *v = s + j;
      size_t vl = 0;
      char unq[512];
      if (j < len && s[j] == '"') {
        j++;
        size_t o = 0;
        while (j < len && s[j] != '"') {
          if (s[j] == '\\' && j + 1 < len) j++;
          if (o < sizeof unq) unq[o++] = s[j];
          j++;
        }
        if (j < len) j++;
        v = unq;
        vl = o;
      } else {
        size_t vs = j;
        while (j < len && s[j] != ',' && !is_space(s[j])) j++;
        vl = j - vs;
      }
      if (cur.ch.scheme != ACS_AUTH_NONE) param(&cur, s + ts, tl, v, vl);
      i = j;
      continue;
    }
    /* a new challenge begins with its scheme */
    consider(&cur, best);
    memset(&cur, 0, sizeof cur);
    if (tl == 6 && !strncasecmp(s + ts, "Digest", 6)) {
      cur.ch.scheme = ACS_AUTH_DIGEST;
      cur.algo_ok = true; /* MD5 unless said otherwise */
      strcpy(cur.ch.algorithm, "MD5");
    } else if (tl == 5 && !strncasecmp(s + ts, "Basic", 5)) {
      cur.ch.scheme = ACS_AUTH_BASIC;
    }
  }
  consider(&cur, best);
}

int acs_auth_parse(const char *value, size_t len, acs_auth_challenge *out) {
  one best;
  memset(&best, 0, sizeof best);
  parse_into(value, len, &best);
  if (!rank(&best)) return ACS_EINVAL;
  *out = best.ch;
  return 0;
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
      parse_into(head + vs, ve - vs, &best);
      eol = ve;
    }
    i = eol + 1;
  }
  if (!found) return ACS_ENOTFOUND;
  if (!rank(&best)) return ACS_EINVAL;
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
