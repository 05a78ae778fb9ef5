/* acs_buf.h: a growable byte buffer, the string builder that encoders write
 * into. Appends never fail silently: on allocation failure the buffer turns
 * "failed" (all later appends are no-ops) and acs_buf_err() reports ACS_ENOMEM,
 * so builders check once at the end instead of after every append. */
#ifndef ACS_BUF_H
#define ACS_BUF_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct acs_buf {
  char *data; /* always NUL-terminated when len > 0 or cap > 0 */
  size_t len;
  size_t cap;
  bool failed;
} acs_buf;

#define ACS_BUF_INIT {NULL, 0, 0, false}

void acs_buf_init(acs_buf *b);
void acs_buf_free(acs_buf *b);
void acs_buf_reset(acs_buf *b); /* len = 0, keeps memory and clears failure */
int acs_buf_reserve(acs_buf *b, size_t extra);
void acs_buf_append(acs_buf *b, const void *p, size_t n);
void acs_buf_puts(acs_buf *b, const char *s);
void acs_buf_putc(acs_buf *b, char c);
void acs_buf_printf(acs_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void acs_buf_vprintf(acs_buf *b, const char *fmt, va_list ap);
/* Appends s with &, <, >, " and ' escaped, and characters XML 1.0 forbids
 * (C0 controls but tab/LF/CR) dropped; invalid UTF-8 bytes become U+FFFD. */
void acs_buf_put_xml(acs_buf *b, const char *s, size_t n);
/* Removes the first n bytes. */
void acs_buf_consume(acs_buf *b, size_t n);
/* Hands the memory to the caller (who free()s it) and resets b. */
char *acs_buf_steal(acs_buf *b, size_t *len);
static inline int acs_buf_err(const acs_buf *b) { return b->failed ? -1001 /* ACS_ENOMEM */ : 0; }

#endif
