/* stun.c: STUN messages and UDP connection requests (acs_stun.h). Pure
 * code: no I/O. HMAC-SHA1 comes from OpenSSL, CRC-32 from zlib. */
#include <arpa/inet.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>

#include "connreq/acs_stun.h"
#include "core/acs_err.h"

#define HDR 20
#define FP_XOR 0x5354554eu

static uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static uint32_t rd32(const uint8_t *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static void wr16(uint8_t *p, uint16_t v) {
  p[0] = (uint8_t)(v >> 8);
  p[1] = (uint8_t)v;
}
static void wr32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)(v >> 24);
  p[1] = (uint8_t)(v >> 16);
  p[2] = (uint8_t)(v >> 8);
  p[3] = (uint8_t)v;
}

bool acs_stun_is_stun(const uint8_t *buf, size_t len) {
  if (len < HDR || (buf[0] & 0xC0) != 0) return false;
  size_t mlen = rd16(buf + 2);
  return mlen % 4 == 0 && mlen + HDR == len;
}

/* An address attribute (family, port, address), XORed when xor. */
static int parse_addr(const uint8_t *v, size_t n, bool xor, const uint8_t *hdr,
                      struct sockaddr_storage *out) {
  if (n < 4) return ACS_EINVAL;
  uint16_t port = rd16(v + 2);
  if (xor) port ^= (uint16_t)(ACS_STUN_MAGIC >> 16);
  memset(out, 0, sizeof *out);
  if (v[1] == 1 && n == 8) {
    struct sockaddr_in *a = (struct sockaddr_in *)out;
    a->sin_family = AF_INET;
    a->sin_port = htons(port);
    uint8_t ip[4];
    for (int i = 0; i < 4; i++) ip[i] = (uint8_t)(v[4 + i] ^ (xor? hdr[4 + i] : 0));
    memcpy(&a->sin_addr, ip, 4);
    return 0;
  }
  if (v[1] == 2 && n == 20) {
    struct sockaddr_in6 *a = (struct sockaddr_in6 *)out;
    a->sin6_family = AF_INET6;
    a->sin6_port = htons(port);
    uint8_t ip[16];
    for (int i = 0; i < 16; i++) ip[i] = (uint8_t)(v[4 + i] ^ (xor? hdr[4 + i] : 0));
    memcpy(&a->sin6_addr, ip, 16);
    return 0;
  }
  return ACS_EINVAL;
}

int acs_stun_parse(const uint8_t *buf, size_t len, acs_stun_msg *out) {
  memset(out, 0, sizeof *out);
  if (!acs_stun_is_stun(buf, len)) return ACS_EINVAL;
  out->type = rd16(buf);
  out->classic = rd32(buf + 4) != ACS_STUN_MAGIC;
  if (out->classic) {
    memcpy(out->txid, buf + 4, 16);
  } else {
    memcpy(out->txid, buf + 8, 12);
  }
  bool after_mi = false, have_xor = false;
  size_t off = HDR;
  while (off < len) {
    if (len - off < 4) return ACS_EINVAL;
    uint16_t t = rd16(buf + off), n = rd16(buf + off + 2);
    const uint8_t *v = buf + off + 4;
    size_t padded = ((size_t)n + 3) & ~(size_t)3;
    if (padded > len - off - 4) return ACS_EINVAL;
    if (t == ACS_STUN_ATTR_FINGERPRINT) {
      if (n != 4 || off + 8 != len) return ACS_EINVAL; /* always last */
      uint32_t crc = (uint32_t)crc32(0L, buf, (uInt)off) ^ FP_XOR;
      if (crc != rd32(v)) return ACS_EINVAL;
      out->fingerprint = true;
    } else if (after_mi) {
      /* RFC 5389 15.4: anything else after MESSAGE-INTEGRITY is ignored */
    } else {
      switch (t) {
        case ACS_STUN_ATTR_USERNAME:
          if (n == 0 || n > 513) return ACS_EINVAL;
          out->username = (const char *)v;
          out->username_len = n;
          break;
        case ACS_STUN_ATTR_MESSAGE_INTEGRITY:
          if (n != 20) return ACS_EINVAL;
          out->integrity_at = off;
          after_mi = true;
          break;
        case ACS_STUN_ATTR_XOR_MAPPED_ADDRESS:
          if (out->classic || parse_addr(v, n, true, buf, &out->mapped_addr)) return ACS_EINVAL;
          out->mapped = have_xor = true;
          break;
        case ACS_STUN_ATTR_MAPPED_ADDRESS:
          if (!have_xor) {
            if (parse_addr(v, n, false, buf, &out->mapped_addr)) return ACS_EINVAL;
            out->mapped = true;
          }
          break;
        case ACS_STUN_ATTR_ERROR_CODE:
          if (n < 4) return ACS_EINVAL;
          out->error_code = (v[2] & 7) * 100 + v[3];
          break;
        case ACS_STUN_ATTR_CONNECTION_REQUEST_BINDING:
          /* Annex G: the value is the fixed text; some CPEs send it without the
           * trailing space */
          if (n >= 19 && memcmp(v, ACS_STUN_CR_BINDING, 19) == 0) out->cr_binding = true;
          break;
        case ACS_STUN_ATTR_BINDING_CHANGE:
          out->binding_change = true;
          break;
        default:
          if (t < 0x8000 && t != ACS_STUN_ATTR_UNKNOWN_ATTRIBUTES && t != ACS_STUN_ATTR_SOFTWARE &&
              out->nunknown < ACS_STUN_MAX_UNKNOWN)
            out->unknown[out->nunknown++] = t;
      }
    }
    off += 4 + padded;
  }
  return 0;
}

/* HMAC-SHA1 of the message up to MESSAGE-INTEGRITY (at), the header's length
 * counting up to the end of MESSAGE-INTEGRITY (RFC 5389 15.4); a classic
 * message is taken as sent, padded with zeros to a multiple of 64 bytes. */
static void integrity(const uint8_t *buf, size_t at, bool classic, const void *key, size_t keylen,
                      uint8_t mac[20]) {
  uint8_t tmp[2048 + 64];
  size_t n = at;
  if (n > 2048) n = 2048;
  memcpy(tmp, buf, n);
  if (classic) {
    size_t pad = (64 - n % 64) % 64;
    memset(tmp + n, 0, pad);
    n += pad;
  } else {
    wr16(tmp + 2, (uint16_t)(at + 24 - HDR));
  }
  unsigned maclen = 20;
  HMAC(EVP_sha1(), key, (int)keylen, tmp, n, mac, &maclen);
}

int acs_stun_check_integrity(const uint8_t *buf, size_t len, const acs_stun_msg *m, const void *key,
                             size_t keylen) {
  if (!m->integrity_at || m->integrity_at + 24 > len) return ACS_ENOTFOUND;
  if (m->integrity_at > 2048) return ACS_EINVAL;
  uint8_t mac[20];
  integrity(buf, m->integrity_at, m->classic, key, keylen, mac);
  return CRYPTO_memcmp(mac, buf + m->integrity_at + 4, 20) == 0 ? 0 : ACS_EINVAL;
}

/* --- writing */

static void put_attr(acs_buf *out, uint16_t type, const void *v, size_t n) {
  uint8_t h[4];
  wr16(h, type);
  wr16(h + 2, (uint16_t)n);
  acs_buf_append(out, h, 4);
  if (n) acs_buf_append(out, v, n);
  static const uint8_t zero[4];
  if (n % 4) acs_buf_append(out, zero, 4 - n % 4);
}

static int put_addr(acs_buf *out, uint16_t type, const struct sockaddr *sa, bool xor,
                    const uint8_t *hdr) {
  uint8_t v[20] = {0};
  size_t n;
  uint16_t port;
  if (sa->sa_family == AF_INET) {
    const struct sockaddr_in *a = (const struct sockaddr_in *)sa;
    v[1] = 1;
    port = ntohs(a->sin_port);
    memcpy(v + 4, &a->sin_addr, 4);
    n = 8;
  } else if (sa->sa_family == AF_INET6) {
    const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)sa;
    v[1] = 2;
    port = ntohs(a->sin6_port);
    memcpy(v + 4, &a->sin6_addr, 16);
    n = 20;
  } else {
    return ACS_EINVAL;
  }
  if (xor) {
    port ^= (uint16_t)(ACS_STUN_MAGIC >> 16);
    for (size_t i = 4; i < n; i++) v[i] ^= hdr[i];
  }
  wr16(v + 2, port);
  put_attr(out, type, v, n);
  return 0;
}

int acs_stun_write(const acs_stun_out *m, acs_buf *out) {
  size_t start = out->len;
  uint8_t hdr[HDR];
  wr16(hdr, m->type);
  wr16(hdr + 2, 0);
  if (m->classic) {
    memcpy(hdr + 4, m->txid, 16);
  } else {
    wr32(hdr + 4, ACS_STUN_MAGIC);
    memcpy(hdr + 8, m->txid, 12);
  }
  acs_buf_append(out, hdr, HDR);
  if (m->mapped) {
    if (put_addr(out, ACS_STUN_ATTR_MAPPED_ADDRESS, m->mapped, false, hdr)) goto inval;
    if (!m->classic && put_addr(out, ACS_STUN_ATTR_XOR_MAPPED_ADDRESS, m->mapped, true, hdr))
      goto inval;
  }
  if (m->username) {
    size_t n = strlen(m->username);
    if (n == 0 || n > 513) goto inval;
    put_attr(out, ACS_STUN_ATTR_USERNAME, m->username, n);
  }
  if (m->error_code) {
    const char *reason = m->reason ? m->reason : "";
    size_t n = strlen(reason);
    if (m->error_code < 300 || m->error_code > 699 || n > 763) goto inval;
    uint8_t v[4 + 763];
    v[0] = v[1] = 0;
    v[2] = (uint8_t)(m->error_code / 100);
    v[3] = (uint8_t)(m->error_code % 100);
    memcpy(v + 4, reason, n);
    put_attr(out, ACS_STUN_ATTR_ERROR_CODE, v, 4 + n);
  }
  if (m->cr_binding)
    put_attr(out, ACS_STUN_ATTR_CONNECTION_REQUEST_BINDING, ACS_STUN_CR_BINDING,
             sizeof ACS_STUN_CR_BINDING - 1);
  if (m->binding_change) put_attr(out, ACS_STUN_ATTR_BINDING_CHANGE, NULL, 0);
  if (m->software) {
    size_t n = strlen(m->software);
    if (n > 763) goto inval;
    put_attr(out, ACS_STUN_ATTR_SOFTWARE, m->software, n);
  }
  if (acs_buf_err(out)) return ACS_ENOMEM;
  if (m->key) {
    size_t at = out->len - start;
    if (at > 2048) goto inval;
    uint8_t *msg = (uint8_t *)out->data + start;
    if (m->classic) wr16(msg + 2, (uint16_t)(at + 24 - HDR)); /* as sent */
    uint8_t mac[20];
    integrity(msg, at, m->classic, m->key, m->keylen, mac);
    put_attr(out, ACS_STUN_ATTR_MESSAGE_INTEGRITY, mac, 20);
  }
  if (acs_buf_err(out)) return ACS_ENOMEM;
  uint8_t *msg = (uint8_t *)out->data + start;
  if (m->fingerprint && !m->classic) {
    size_t at = out->len - start;
    wr16(msg + 2, (uint16_t)(at + 8 - HDR));
    uint8_t v[4];
    wr32(v, (uint32_t)crc32(0L, msg, (uInt)at) ^ FP_XOR);
    put_attr(out, ACS_STUN_ATTR_FINGERPRINT, v, 4);
    if (acs_buf_err(out)) return ACS_ENOMEM;
    msg = (uint8_t *)out->data + start;
  }
  wr16(msg + 2, (uint16_t)(out->len - start - HDR));
  return 0;
inval:
  out->len = start;
  return ACS_EINVAL;
}

/* --- the UDP connection request */

void acs_udpcr_sign(const char *ts, const char *id, const char *un, const char *cn,
                    const char *pass, char sig[41]) {
  uint8_t text[24 + 24 + 257 + 129];
  size_t n = 0;
  const char *parts[4] = {ts, id, un, cn};
  for (int i = 0; i < 4; i++) {
    size_t l = strnlen(parts[i], 256);
    if (n + l > sizeof text) l = sizeof text - n;
    memcpy(text + n, parts[i], l);
    n += l;
  }
  uint8_t mac[20];
  unsigned maclen = 20;
  HMAC(EVP_sha1(), pass, (int)strlen(pass), text, n, mac, &maclen);
  for (int i = 0; i < 20; i++) snprintf(sig + 2 * i, 3, "%02X", mac[i]);
}

/* Query values are written as they are: only characters that need no
 * escaping in a URL query are allowed. */
static bool plain(const char *s, size_t max) {
  size_t n = strlen(s);
  if (n == 0 || n > max) return false;
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c <= ' ' || c >= 0x7f || strchr("&=?#%+\"<>\\", c)) return false;
  }
  return true;
}

int acs_udpcr_write(const char *hostport, const char *ts, const char *id, const char *un,
                    const char *cn, const char *pass, acs_buf *out) {
  if (!plain(hostport, 63) || !plain(ts, 23) || !plain(id, 23) || !plain(un, 256) ||
      !plain(cn, 128) || !pass)
    return ACS_EINVAL;
  char sig[41];
  acs_udpcr_sign(ts, id, un, cn, pass, sig);
  acs_buf_printf(out, "GET http://%s?ts=%s&id=%s&un=%s&cn=%s&sig=%s HTTP/1.1\r\nHost: %s\r\n\r\n",
                 hostport, ts, id, un, cn, sig, hostport);
  return acs_buf_err(out) ? ACS_ENOMEM : 0;
}

static int field(const char *q, const char *qend, const char *key, char *out, size_t n) {
  size_t kl = strlen(key);
  const char *p = q;
  while (p < qend) {
    const char *amp = memchr(p, '&', (size_t)(qend - p));
    const char *e = amp ? amp : qend;
    if ((size_t)(e - p) > kl && memcmp(p, key, kl) == 0 && p[kl] == '=') {
      size_t vl = (size_t)(e - p) - kl - 1;
      if (vl == 0 || vl >= n) return ACS_EINVAL;
      memcpy(out, p + kl + 1, vl);
      out[vl] = '\0';
      return 0;
    }
    p = e + 1;
  }
  return ACS_EINVAL;
}

int acs_udpcr_parse(const char *buf, size_t len, acs_udpcr *out) {
  memset(out, 0, sizeof *out);
  const char *eol = memchr(buf, '\n', len);
  const char *end = eol ? eol : buf + len;
  if (end > buf && end[-1] == '\r') end--;
  if (end - buf < 20 || memcmp(buf, "GET http://", 11) != 0) return ACS_EINVAL;
  if (memcmp(end - 9, " HTTP/1.1", 9) != 0) return ACS_EINVAL;
  const char *h = buf + 11, *uend = end - 9;
  const char *q = memchr(h, '?', (size_t)(uend - h));
  if (!q) return ACS_EINVAL;
  const char *hp_end = q;
  if (hp_end > h && hp_end[-1] == '/') hp_end--; /* "http://host:port/?..." */
  const char *colon = NULL;
  for (const char *c = h; c < hp_end; c++)
    if (*c == ':') colon = c;
  if (!colon || (size_t)(colon - h) >= sizeof out->host || colon == h) return ACS_EINVAL;
  if (*h == '[' && colon[-1] != ']') return ACS_EINVAL;
  memcpy(out->host, h, (size_t)(colon - h));
  unsigned port = 0;
  for (const char *c = colon + 1; c < hp_end; c++) {
    if (*c < '0' || *c > '9' || port > 65535) return ACS_EINVAL;
    port = port * 10 + (unsigned)(*c - '0');
  }
  if (port == 0 || port > 65535) return ACS_EINVAL;
  out->port = port;
  q++;
  if (field(q, uend, "ts", out->ts, sizeof out->ts) ||
      field(q, uend, "id", out->id, sizeof out->id) ||
      field(q, uend, "un", out->un, sizeof out->un) ||
      field(q, uend, "cn", out->cn, sizeof out->cn) ||
      field(q, uend, "sig", out->sig, sizeof out->sig))
    return ACS_EINVAL;
  return strlen(out->sig) == 40 ? 0 : ACS_EINVAL;
}

bool acs_udpcr_verify(const acs_udpcr *r, const char *pass) {
  char want[41];
  acs_udpcr_sign(r->ts, r->id, r->un, r->cn, pass, want);
  char got[41];
  for (int i = 0; i < 41; i++) {
    char c = r->sig[i];
    got[i] = c >= 'a' && c <= 'f' ? (char)(c - 'a' + 'A') : c;
  }
  return CRYPTO_memcmp(want, got, 41) == 0;
}
