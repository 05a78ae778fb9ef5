/* query.h: the device query language of GET /api/v1/devices?q= (docs/api.md,
 * "Device queries"): a recursive-descent parser into a small tree
 * (query_parse.c) and the SQL built from it (query_sql.c), with every value
 * a $n parameter, never text in the statement. Internal to engine/api. */
#ifndef ACS_API_QUERY_H
#define ACS_API_QUERY_H

#include <stdbool.h>
#include <stddef.h>

#include "core/acs_arena.h"
#include "core/acs_buf.h"

/* Limits of one query (each breach is a 400 naming it). */
#define ACS__Q_MAX_BYTES 4096
#define ACS__Q_MAX_DEPTH 32      /* nested parentheses and NOTs */
#define ACS__Q_MAX_PREDICATES 32 /* comparisons in one query */
#define ACS__Q_MAX_IN 256        /* values of one IN list */
#define ACS__Q_MAX_REGEX 256     /* bytes of one regular expression */
/* A query with MATCHES or CONTAINS (which no index may serve) runs under
 * this statement timeout (SET LOCAL through set_config: PgBouncer-safe). */
#define ACS__Q_COSTLY_TIMEOUT_MS 5000

/* Values of parameters shorter than this many characters are indexed whole
 * (migration 3: parameters (name, left(value, 256))); longer ones by their
 * first 256 characters, and the full value is compared after. */
#define ACS__Q_VALUE_PREFIX "256"

typedef enum acs__q_field {
  ACS__QF_ID,
  ACS__QF_OUI,
  ACS__QF_PRODUCT_CLASS,
  ACS__QF_SERIAL,
  ACS__QF_MANUFACTURER,
  ACS__QF_SOFTWARE,
  ACS__QF_HARDWARE,
  ACS__QF_TAG,
  ACS__QF_LAST_INFORM,
  ACS__QF_CREATED_AT,
  ACS__QF_LAST_BOOT,
  ACS__QF_LAST_BOOTSTRAP,
  ACS__QF_PARAM, /* any name with a '.' */
} acs__q_field;

typedef enum acs__q_op {
  ACS__QO_EQ,
  ACS__QO_NE,
  ACS__QO_LT,
  ACS__QO_LE,
  ACS__QO_GT,
  ACS__QO_GE,
  ACS__QO_PREFIX, /* ~= */
  ACS__QO_EXISTS,
  ACS__QO_REGEX,    /* MATCHES or =~: a PostgreSQL regular expression */
  ACS__QO_CONTAINS, /* CONTAINS: a substring */
  ACS__QO_IN,       /* IN (v, ...): one of the values, as = does */
} acs__q_op;

/* A literal and what it can also be read as. */
typedef struct acs__q_value {
  const char *text; /* as written, unquoted and unescaped, NUL-terminated */
  size_t len;
  bool number; /* [-+]digits[.digits] */
  int boolean; /* -1 none, 0 false/0, 1 true/1 */
  /* a time: absolute (RFC 3339, normalised into abs) or now +- rel_s */
  bool time;
  bool time_rel;
  long long rel_s;
  char abs[40];
} acs__q_value;

typedef enum acs__q_kind { ACS__QN_AND, ACS__QN_OR, ACS__QN_NOT, ACS__QN_PRED } acs__q_kind;

typedef struct acs__q_node acs__q_node;
struct acs__q_node {
  acs__q_kind kind;
  acs__q_node *a, *b; /* AND, OR: both; NOT: a */
  /* ACS__QN_PRED */
  acs__q_field field;
  const char *name; /* the field as written (the parameter's name) */
  acs__q_op op;
  acs__q_value v;
  acs__q_value *in; /* ACS__QO_IN: nin values (v is the first) */
  int nin;
  size_t pos; /* 1-based byte offset of the predicate, for messages */
};

/* Parses q (n bytes; any bytes: invalid UTF-8 is an error). The tree lives
 * in arena. Returns 0, ACS_EINVAL with a message "at N: ..." in err, or
 * ACS_ENOMEM. */
int acs__q_parse(const char *q, size_t n, acs_arena *arena, acs__q_node **out, char *err,
                 size_t errlen);

/* A statement under construction: its text and its $n parameters. */
typedef struct acs__sql {
  acs_buf text;
  char **params; /* malloc'd copies */
  int n, cap;
  bool failed;
} acs__sql;

void acs__sql_init(acs__sql *s);
void acs__sql_free(acs__sql *s);
/* Adds a parameter and writes "$k" into the text. */
void acs__sql_param(acs__sql *s, const char *v, size_t n);
/* 0 or ACS_ENOMEM. */
int acs__sql_err(const acs__sql *s);

/* Does the tree use MATCHES or CONTAINS (a scan no index serves, run under
 * ACS__Q_COSTLY_TIMEOUT_MS)? */
bool acs__q_costly(const acs__q_node *q);

/* Writes the boolean SQL expression of the tree over "devices d" into s
 * (parameters numbered from s->n + 1). */
void acs__q_to_sql(const acs__q_node *q, acs__sql *s);

/* A time literal alone (RFC 3339, a date, now-1h): true and v filled in. */
bool acs__q_time_parse(const char *text, size_t n, acs__q_value *v);
/* Writes a time literal as an SQL timestamptz expression (parameters). */
void acs__q_time_sql(acs__sql *s, const acs__q_value *v);

/* Device fields by name: the query and sort fields (id, oui, ...,
 * last_inform). Returns the field, or -1. */
int acs__q_field_lookup(const char *name, size_t n);

#endif
