/* util.c: allocation, vectors, random numbers, hashing, MD5, URLs, time. */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/acs_err.h"
#include "sim.h"

static void oom(void) {
  fputs("cpesim: out of memory\n", stderr);
  abort();
}

void *sim_xmalloc(size_t n) {
  void *p = malloc(n ? n : 1);
  if (!p) oom();
  return p;
}

void *sim_xcalloc(size_t n, size_t size) {
  void *p = calloc(n ? n : 1, size ? size : 1);
  if (!p) oom();
  return p;
}

void *sim_xrealloc(void *p, size_t n) {
  p = realloc(p, n ? n : 1);
  if (!p) oom();
  return p;
}

char *sim_xstrdup(const char *s) { return s ? sim_xstrndup(s, strlen(s)) : NULL; }

char *sim_xstrndup(const char *s, size_t n) {
  char *p = sim_xmalloc(n + 1);
  memcpy(p, s, n);
  p[n] = '\0';
  return p;
}

void sim_strset(char **dst, const char *s) {
  char *n = sim_xstrdup(s);
  free(*dst);
  *dst = n;
}

void *sim__vec_grow(void *v, uint32_t *cap, size_t elem, uint32_t need) {
  uint32_t c = *cap ? *cap : 2;
  while (c < need) c *= 2;
  v = sim_xrealloc(v, (size_t)c * elem);
  *cap = c;
  return v;
}

void sim_log(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("cpesim: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
}

/* --- random numbers: xoshiro256** seeded by splitmix64 */

static uint64_t rs[4] = {1, 2, 3, 4};

static uint64_t splitmix(uint64_t *x) {
  uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

void sim_rand_seed(uint64_t seed) {
  for (int i = 0; i < 4; i++) rs[i] = splitmix(&seed);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t sim_rand(void) {
  uint64_t r = rotl(rs[1] * 5, 7) * 9, t = rs[1] << 17;
  rs[2] ^= rs[0];
  rs[3] ^= rs[1];
  rs[1] ^= rs[2];
  rs[0] ^= rs[3];
  rs[2] ^= t;
  rs[3] = rotl(rs[3], 45);
  return r;
}

double sim_rand01(void) { return (double)(sim_rand() >> 11) * (1.0 / 9007199254740992.0); }

uint64_t sim_hash64(const void *p, size_t n, uint64_t seed) {
  uint64_t h = 1469598103934665603ull ^ seed;
  for (size_t i = 0; i < n; i++) {
    h ^= ((const unsigned char *)p)[i];
    h *= 1099511628211ull;
  }
  return splitmix(&h);
}

uint64_t sim_now_ms(void) { return uv_now(S->loop); }

int64_t sim_wall_s(void) { return (int64_t)time(NULL); }

void sim_time_iso(int64_t t, char buf[static 21]) { acs_cwmp_time_format(t, buf); }

/* --- MD5 */

void sim_md5_hex(char out[33], const char *const *parts, size_t nparts) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_MD_CTX *c = EVP_MD_CTX_new();
  if (!c) oom();
  EVP_DigestInit_ex(c, EVP_md5(), NULL);
  for (size_t i = 0; i < nparts; i++) EVP_DigestUpdate(c, parts[i], strlen(parts[i]));
  EVP_DigestFinal_ex(c, md, &len);
  EVP_MD_CTX_free(c);
  for (unsigned i = 0; i < 16; i++) snprintf(out + 2 * i, 3, "%02x", md[i]);
  out[32] = '\0';
}

/* --- URLs */

int sim_url_parse(const char *s, sim_url *u) {
  memset(u, 0, sizeof *u);
  const char *p;
  if (strncasecmp(s, "http://", 7) == 0) {
    p = s + 7;
    u->port = 80;
  } else if (strncasecmp(s, "https://", 8) == 0) {
    p = s + 8;
    u->port = 443;
    u->https = true;
  } else {
    return strstr(s, "://") ? ACS_ERANGE : ACS_EINVAL;
  }
  const char *end = p + strcspn(p, "/?#");
  const char *at = memchr(p, '@', (size_t)(end - p));
  if (at) p = at + 1; /* credentials in the URL are ignored */
  const char *hs = p, *he;
  const char *colon;
  if (*p == '[') {
    he = memchr(p, ']', (size_t)(end - p));
    if (!he) return ACS_EINVAL;
    hs = p + 1;
    colon = he + 1 < end && he[1] == ':' ? he + 1 : NULL;
  } else {
    colon = memchr(p, ':', (size_t)(end - p));
    he = colon ? colon : end;
  }
  if (he == hs || (size_t)(he - hs) >= sizeof u->host) return ACS_EINVAL;
  memcpy(u->host, hs, (size_t)(he - hs));
  if (colon) {
    char *e;
    long port = strtol(colon + 1, &e, 10);
    if (e != end || port <= 0 || port > 65535) return ACS_EINVAL;
    u->port = (uint16_t)port;
  }
  const char *path = *end == '/' ? end : "/";
  size_t pl = strcspn(path, "#");
  if (*end == '?') {
    if (strlen(end) + 2 > sizeof u->path) return ACS_EINVAL;
    snprintf(u->path, sizeof u->path, "/%s", end);
    return 0;
  }
  if (pl >= sizeof u->path) return ACS_EINVAL;
  memcpy(u->path, path, pl);
  u->path[pl] = '\0';
  return 0;
}

static bool addr_is_loopback(const struct sockaddr_storage *a) {
  if (a->ss_family == AF_INET) {
    const struct sockaddr_in *s = (const struct sockaddr_in *)a;
    return (ntohl(s->sin_addr.s_addr) >> 24) == 127;
  }
  if (a->ss_family == AF_INET6) {
    const struct sockaddr_in6 *s = (const struct sockaddr_in6 *)a;
    return IN6_IS_ADDR_LOOPBACK(&s->sin6_addr);
  }
  return false;
}

static bool addr_same_host(const struct sockaddr_storage *a, const struct sockaddr_storage *b) {
  if (a->ss_family != b->ss_family) return false;
  if (a->ss_family == AF_INET)
    return ((const struct sockaddr_in *)a)->sin_addr.s_addr ==
           ((const struct sockaddr_in *)b)->sin_addr.s_addr;
  if (a->ss_family == AF_INET6)
    return memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
                  &((const struct sockaddr_in6 *)b)->sin6_addr, sizeof(struct in6_addr)) == 0;
  return false;
}

static int numeric(const char *host, uint16_t port, struct sockaddr_storage *out) {
  memset(out, 0, sizeof *out);
  struct sockaddr_in *s4 = (struct sockaddr_in *)out;
  struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)out;
  if (inet_pton(AF_INET, host, &s4->sin_addr) == 1) {
    s4->sin_family = AF_INET;
    s4->sin_port = htons(port);
    return 0;
  }
  if (inet_pton(AF_INET6, host, &s6->sin6_addr) == 1) {
    s6->sin6_family = AF_INET6;
    s6->sin6_port = htons(port);
    return 0;
  }
  if (strcasecmp(host, "localhost") == 0) return numeric("127.0.0.1", port, out);
  return ACS_EINVAL;
}

int sim_resolve_allowed(const sim_url *u, struct sockaddr_storage *out) {
  if (numeric(u->host, u->port, out) == 0) {
    if (addr_is_loopback(out) || addr_same_host(out, &S->o.acs_addr)) return 0;
    return ACS_ERANGE;
  }
  /* a name: only the ACS's own host name, resolved once at start */
  if (strcasecmp(u->host, S->o.acs.host) != 0) return ACS_ERANGE;
  *out = S->o.acs_addr;
  if (out->ss_family == AF_INET)
    ((struct sockaddr_in *)out)->sin_port = htons(u->port);
  else
    ((struct sockaddr_in6 *)out)->sin6_port = htons(u->port);
  return 0;
}

int sim_auth_param(const char *hdr, const char *key, char *out, size_t n) {
  size_t kl = strlen(key);
  const char *p = hdr;
  /* skip the scheme */
  while (*p && !isspace((unsigned char)*p)) p++;
  while (*p) {
    while (*p == ' ' || *p == '\t' || *p == ',') p++;
    const char *ks = p;
    while (*p && *p != '=' && *p != ',' && *p != ' ') p++;
    size_t l = (size_t)(p - ks);
    while (*p == ' ') p++;
    if (*p != '=') continue;
    p++;
    while (*p == ' ') p++;
    const char *vs;
    size_t vl;
    if (*p == '"') {
      vs = ++p;
      while (*p && *p != '"') p += (*p == '\\' && p[1]) ? 2 : 1;
      vl = (size_t)(p - vs);
      if (*p == '"') p++;
    } else {
      vs = p;
      while (*p && *p != ',' && *p != ' ') p++;
      vl = (size_t)(p - vs);
    }
    if (l == kl && strncasecmp(ks, key, kl) == 0) {
      if (vl >= n) vl = n - 1;
      memcpy(out, vs, vl);
      out[vl] = '\0';
      return 0;
    }
  }
  return ACS_ENOTFOUND;
}

char *sim_read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  size_t cap = 65536, n = 0;
  char *b = sim_xmalloc(cap);
  size_t r;
  while ((r = fread(b + n, 1, cap - n - 1, f)) > 0) {
    n += r;
    if (cap - n - 1 == 0) b = sim_xrealloc(b, cap *= 2);
  }
  int bad = ferror(f);
  fclose(f);
  if (bad) {
    free(b);
    errno = EIO;
    return NULL;
  }
  b[n] = '\0';
  if (len) *len = n;
  return b;
}
