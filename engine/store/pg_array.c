/* pg_array.c: PostgreSQL array literals from C strings (see acs_pg.h). */
#include <string.h>

#include "store/acs_pg.h"

/* Every element is double-quoted, so that no content (empty string, spaces,
 * braces, commas, the word NULL) can be mistaken for syntax; inside quotes
 * only '"' and '\' need a backslash. */
void acs_pg_array_elem(acs_buf *b, const char *s) {
  if (!s) {
    acs_buf_puts(b, "NULL");
    return;
  }
  acs_buf_putc(b, '"');
  for (;;) {
    size_t run = strcspn(s, "\"\\");
    acs_buf_append(b, s, run);
    s += run;
    if (!*s) break;
    acs_buf_putc(b, '\\');
    acs_buf_putc(b, *s++);
  }
  acs_buf_putc(b, '"');
}

void acs_pg_array_append(acs_buf *b, const char *const *items, size_t n) {
  acs_buf_putc(b, '{');
  for (size_t i = 0; i < n; i++) {
    if (i) acs_buf_putc(b, ',');
    acs_pg_array_elem(b, items[i]);
  }
  acs_buf_putc(b, '}');
}
