/* session_test.h: what the CWMP session integration tests share. They run
 * under tests/lib/run_with_pg.py (ACS_TEST_PG_DSN, ACS_TEST_PG_ADMIN_DSN,
 * ACS_TEST_PG_STOP / ACS_TEST_PG_START) and start their own acsd
 * (ACS_BIN_DIR) with tests/lib/cpe_script.h. Checks count in the main
 * thread only (acs_test.h is not thread-safe). */
#ifndef SESSION_TEST_H
#define SESSION_TEST_H

#include <jansson.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "acs_test.h"
#include "cpe_model.h"
#include "cpe_script.h"

/* o at a path of keys and array indexes separated by '/'
 * ("result/ParameterList/0/Name"); NULL when absent. */
static inline json_t *jpath(json_t *o, const char *path) {
  char key[256];
  while (o && *path) {
    size_t n = strcspn(path, "/");
    if (n >= sizeof key) return NULL;
    memcpy(key, path, n);
    key[n] = '\0';
    if (json_is_array(o)) {
      char *end;
      unsigned long i = strtoul(key, &end, 10);
      o = *end ? NULL : json_array_get(o, i);
    } else {
      o = json_object_get(o, key);
    }
    path += n + (path[n] == '/');
  }
  return o;
}

static inline const char *jstr(json_t *o, const char *path) {
  return json_string_value(jpath(o, path));
}

static inline long long jint(json_t *o, const char *path) {
  json_t *v = jpath(o, path);
  return json_is_integer(v) ? (long long)json_integer_value(v) : -1;
}

/* sql with up to two text parameters (NULL: not passed): the first value as
 * a string kept in a small ring (valid for the next 15 calls), NULL for no
 * row or SQL NULL. Main thread only. */
static inline const char *qs(PGconn *pg, const char *sql, const char *p1, const char *p2) {
  static char *ring[16];
  static unsigned next;
  unsigned i = next++ % 16;
  free(ring[i]);
  bool failed = false;
  ring[i] = p2   ? cs_pg_str(pg, &failed, sql, 2, p1, p2)
            : p1 ? cs_pg_str(pg, &failed, sql, 1, p1)
                 : cs_pg_str(pg, &failed, sql, 0);
  CHECK(!failed);
  return ring[i];
}

static inline long long qll(PGconn *pg, const char *sql, const char *p1, const char *p2) {
  const char *v = qs(pg, sql, p1, p2);
  return v ? strtoll(v, NULL, 10) : -1;
}

/* The status of task id in the store. */
static inline const char *task_status(PGconn *pg, long long id) {
  char b[24];
  snprintf(b, sizeof b, "%lld", id);
  return qs(pg, "SELECT status FROM tasks WHERE id = $1::bigint", b, NULL);
}

#endif
