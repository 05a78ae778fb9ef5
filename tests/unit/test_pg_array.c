/* test_pg_array: PostgreSQL text-array literals built from C strings
 * (acs_pg_array_append). The round trip through a real server is in
 * tests/store/test_store_pg.c. */
#include "acs_test.h"
#include "core/acs_buf.h"
#include "store/acs_pg.h"

static void check_array(const char *const *items, size_t n, const char *want) {
  acs_buf b = ACS_BUF_INIT;
  acs_pg_array_append(&b, items, n);
  CHECK_INT(acs_buf_err(&b), 0);
  CHECK_STR(b.data, want);
  acs_buf_free(&b);
}

int main(void) {
  check_array(NULL, 0, "{}");
  {
    const char *v[] = {"a"};
    check_array(v, 1, "{\"a\"}");
  }
  {
    const char *v[] = {"a", "b c", ""};
    check_array(v, 3, "{\"a\",\"b c\",\"\"}");
  }
  {
    /* NULL element vs the string "NULL" */
    const char *v[] = {NULL, "NULL", "null"};
    check_array(v, 3, "{NULL,\"NULL\",\"null\"}");
  }
  {
    const char *v[] = {"say \"hi\"", "back\\slash", "\\\"", "\"", "\\"};
    check_array(v, 5, "{\"say \\\"hi\\\"\",\"back\\\\slash\",\"\\\\\\\"\",\"\\\"\",\"\\\\\"}");
  }
  {
    /* array syntax inside elements stays inside the quotes */
    const char *v[] = {"{x,y}", "a,b", " lead", "trail ", "tab\tnl\n", "caf\xc3\xa9"};
    check_array(v, 6, "{\"{x,y}\",\"a,b\",\" lead\",\"trail \",\"tab\tnl\n\",\"caf\xc3\xa9\"}");
  }
  {
    /* appends to what is already there */
    acs_buf b = ACS_BUF_INIT;
    acs_buf_puts(&b, "x=");
    const char *v[] = {"1", "2"};
    acs_pg_array_append(&b, v, 2);
    CHECK_STR(b.data, "x={\"1\",\"2\"}");
    acs_buf_free(&b);
  }
  {
    /* a long element crosses buffer growth */
    char big[5000];
    for (size_t i = 0; i < sizeof big - 1; i++) big[i] = (i % 7 == 0) ? '"' : 'x';
    big[sizeof big - 1] = '\0';
    const char *v[] = {big};
    acs_buf b = ACS_BUF_INIT;
    acs_pg_array_append(&b, v, 1);
    size_t quotes = 0;
    for (size_t i = 0; i < sizeof big - 1; i++) quotes += big[i] == '"';
    CHECK_INT(b.len, (sizeof big - 1) + quotes + 4);
    acs_buf_free(&b);
  }
  return acs_test_result("test_pg_array");
}
