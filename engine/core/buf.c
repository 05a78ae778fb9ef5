#include "core/acs_buf.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/acs_err.h"

void acs_buf_init(acs_buf *b) { *b = (acs_buf)ACS_BUF_INIT; }

void acs_buf_free(acs_buf *b) {
  free(b->data);
  acs_buf_init(b);
}

void acs_buf_reset(acs_buf *b) {
  b->len = 0;
  b->failed = false;
  if (b->data) b->data[0] = '\0';
}

int acs_buf_reserve(acs_buf *b, size_t extra) {
  if (b->failed) return ACS_ENOMEM;
  if (extra > SIZE_MAX / 2 - b->len) goto fail;
  size_t need = b->len + extra + 1;
  if (need <= b->cap) return 0;
  size_t cap = b->cap ? b->cap : 256;
  while (cap < need) cap *= 2;
  char *p = realloc(b->data, cap);
  if (!p) goto fail;
  p[b->len] = '\0'; /* the header's promise: NUL-terminated once allocated */
  b->data = p;
  b->cap = cap;
  return 0;
fail:
  b->failed = true;
  return ACS_ENOMEM;
}

void acs_buf_append(acs_buf *b, const void *p, size_t n) {
  if (acs_buf_reserve(b, n)) return;
  if (n) memcpy(b->data + b->len, p, n);
  b->len += n;
  b->data[b->len] = '\0';
}

void acs_buf_puts(acs_buf *b, const char *s) { acs_buf_append(b, s, strlen(s)); }

void acs_buf_putc(acs_buf *b, char c) { acs_buf_append(b, &c, 1); }

void acs_buf_vprintf(acs_buf *b, const char *fmt, va_list ap) {
  va_list ap2;
  va_copy(ap2, ap);
  int n = vsnprintf(NULL, 0, fmt, ap2);
  va_end(ap2);
  if (n < 0 || acs_buf_reserve(b, (size_t)n)) {
    b->failed = true;
    return;
  }
  vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
  b->len += (size_t)n;
}

void acs_buf_printf(acs_buf *b, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  acs_buf_vprintf(b, fmt, ap);
  va_end(ap);
}

/* Length of the valid UTF-8 sequence at s (n bytes left), or 0 if invalid. */
static size_t utf8_seq(const unsigned char *s, size_t n) {
  unsigned c = s[0];
  size_t len;
  unsigned min;
  if (c < 0x80) return 1;
  if (c >= 0xC2 && c <= 0xDF) len = 2, min = 0x80;
  else if (c >= 0xE0 && c <= 0xEF) len = 3, min = 0x800;
  else if (c >= 0xF0 && c <= 0xF4) len = 4, min = 0x10000;
  else return 0;
  if (len > n) return 0;
  unsigned cp = c & (0x7F >> len);
  for (size_t i = 1; i < len; i++) {
    if ((s[i] & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (s[i] & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  if (cp == 0xFFFE || cp == 0xFFFF) return 0; /* not XML characters */
  return len;
}

void acs_buf_put_xml(acs_buf *b, const char *str, size_t n) {
  const unsigned char *s = (const unsigned char *)str;
  size_t run = 0; /* start of the pending run of plain bytes */
  size_t i = 0;
  while (i < n) {
    const char *rep = NULL;
    size_t adv = 1;
    unsigned char c = s[i];
    if (c < 0x80) {
      switch (c) {
      case '&': rep = "&amp;"; break;
      case '<': rep = "&lt;"; break;
      case '>': rep = "&gt;"; break;
      case '"': rep = "&quot;"; break;
      case '\'': rep = "&apos;"; break;
      case '\t': case '\n': break;
      case '\r': rep = "&#13;"; break; /* keep CR through end-of-line normalisation */
      default:
        if (c < 0x20) rep = "";
        break;
      }
    } else {
      adv = utf8_seq(s + i, n - i);
      if (adv == 0) {
        rep = "\xEF\xBF\xBD";
        adv = 1;
      }
    }
    if (rep) {
      acs_buf_append(b, s + run, i - run);
      acs_buf_puts(b, rep);
      run = i + adv;
    }
    i += adv;
  }
  acs_buf_append(b, s + run, n - run);
}

void acs_buf_consume(acs_buf *b, size_t n) {
  if (n >= b->len) {
    acs_buf_reset(b);
    return;
  }
  memmove(b->data, b->data + n, b->len - n);
  b->len -= n;
  b->data[b->len] = '\0';
}

char *acs_buf_steal(acs_buf *b, size_t *len) {
  char *p = b->data;
  if (len) *len = b->len;
  acs_buf_init(b);
  return p;
}
