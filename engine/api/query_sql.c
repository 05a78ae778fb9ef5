/* query_sql.c: SQL of a parsed device query, over "devices d". Every value
 * is a $n parameter (acs__sql_param); the statement text only ever holds
 * SQL written here, so no input can change its meaning.
 *
 * Parameters (docs/api.md, "Device queries"): a comparison is typed by the
 * stored xsd type of each row, so one predicate becomes up to four "arms"
 * (numeric, dateTime, boolean, string), each only where the literal can be
 * read that way, each matching an index of migration 3:
 *   numeric  parameters_name_num  (name, acs_num(value)) WHERE xsd_type IN (ints)
 *   dateTime parameters_name_time (name, acs_time(value)) WHERE xsd_type = dateTime
 *   string   parameters_name_value (name, left(value, 256) COLLATE "C")
 *   boolean  the same index by name, acs_bool(value) filtered.
 * In a positive position (reached from the root through ANDs and ORs, no
 * NOT) a predicate is "d.id IN (arm UNION ALL arm ...)": each arm is planned
 * on its own index and the device rows are joined after (measured in
 * docs/storage.md: an OR of arms inside one EXISTS let the planner walk the
 * whole primary key when it misjudged the matches), and an OR there is the
 * union of its parts' sets. Under NOT it is a correlated EXISTS, one
 * primary-key probe per device. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/query.h"
#include "core/acs_err.h"
#include "store/acs_pg.h"

#define NUM_TYPES "'xsd:int', 'xsd:unsignedInt', 'xsd:long', 'xsd:unsignedLong'"
#define LEFT(x) "left(" x ", " ACS__Q_VALUE_PREFIX ")"

void acs__sql_init(acs__sql *s) { memset(s, 0, sizeof *s); }

void acs__sql_free(acs__sql *s) {
  for (int i = 0; i < s->n; i++) free(s->params[i]);
  free(s->params);
  acs_buf_free(&s->text);
  memset(s, 0, sizeof *s);
}

int acs__sql_err(const acs__sql *s) { return s->failed || acs_buf_err(&s->text) ? ACS_ENOMEM : 0; }

void acs__sql_param(acs__sql *s, const char *v, size_t n) {
  if (s->n == s->cap) {
    int cap = s->cap ? s->cap * 2 : 16;
    char **p = realloc(s->params, (size_t)cap * sizeof *p);
    if (!p) {
      s->failed = true;
      return;
    }
    s->params = p;
    s->cap = cap;
  }
  char *copy = malloc(n + 1);
  if (!copy) {
    s->failed = true;
    return;
  }
  memcpy(copy, v, n);
  copy[n] = '\0';
  s->params[s->n++] = copy;
  acs_buf_printf(&s->text, "$%d", s->n);
}

static void put(acs__sql *s, const char *t) { acs_buf_puts(&s->text, t); }

static void param_str(acs__sql *s, const char *v) { acs__sql_param(s, v, strlen(v)); }

static const char *op_sql(acs__q_op op) {
  switch (op) {
    case ACS__QO_LT:
      return " < ";
    case ACS__QO_LE:
      return " <= ";
    case ACS__QO_GT:
      return " > ";
    case ACS__QO_GE:
      return " >= ";
    case ACS__QO_NE:
      return " <> ";
    default:
      return " = ";
  }
}

/* The operator on truncated values that the full comparison implies. */
static const char *op_prefix_sql(acs__q_op op) {
  switch (op) {
    case ACS__QO_LT:
    case ACS__QO_LE:
      return " <= ";
    case ACS__QO_GT:
    case ACS__QO_GE:
      return " >= ";
    default:
      return " = ";
  }
}

void acs__q_time_sql(acs__sql *s, const acs__q_value *v) {
  if (v->time_rel) {
    char secs[24];
    snprintf(secs, sizeof secs, "%lld", v->rel_s);
    put(s, "(now() + ");
    param_str(s, secs);
    put(s, "::bigint * interval '1 second')");
  } else {
    put(s, "(");
    param_str(s, v->abs);
    put(s, "::timestamptz)");
  }
}

#define time_value acs__q_time_sql

/* The values of an IN list as one text[] parameter. */
static void param_list(acs__sql *s, const acs__q_node *x) {
  const char *items[ACS__Q_MAX_IN];
  int n = x->nin < ACS__Q_MAX_IN ? x->nin : ACS__Q_MAX_IN;
  for (int i = 0; i < n; i++) items[i] = x->in[i].text;
  acs_buf b = ACS_BUF_INIT;
  acs_pg_array_append(&b, items, (size_t)n);
  if (acs_buf_err(&b)) {
    s->failed = true;
  } else {
    acs__sql_param(s, b.data, b.len);
  }
  acs_buf_free(&b);
  put(s, "::text[]");
}

/* "v" matched against the text operand written before it (MATCHES,
 * CONTAINS): " ~ $n" or a strpos() around it is written by the caller. */
static void text_match(acs__sql *s, const char *operand, const acs__q_node *x) {
  if (x->op == ACS__QO_REGEX) {
    acs_buf_printf(&s->text, "%s ~ ", operand);
    acs__sql_param(s, x->v.text, x->v.len);
  } else {
    acs_buf_printf(&s->text, "strpos(%s, ", operand);
    acs__sql_param(s, x->v.text, x->v.len);
    put(s, ") > 0");
  }
}

bool acs__q_costly(const acs__q_node *q) {
  if (!q) return false;
  if (q->kind != ACS__QN_PRED) return acs__q_costly(q->a) || acs__q_costly(q->b);
  return q->op == ACS__QO_REGEX || q->op == ACS__QO_CONTAINS;
}

/* --- device columns */

static const char *column(acs__q_field f) {
  switch (f) {
    case ACS__QF_ID:
      return "d.id";
    case ACS__QF_OUI:
      return "d.oui";
    case ACS__QF_PRODUCT_CLASS:
      return "d.product_class";
    case ACS__QF_SERIAL:
      return "d.serial_number";
    case ACS__QF_MANUFACTURER:
      return "d.manufacturer";
    case ACS__QF_SOFTWARE:
      return "d.software_version";
    case ACS__QF_HARDWARE:
      return "d.hardware_version";
    case ACS__QF_LAST_INFORM:
      return "d.last_inform";
    case ACS__QF_CREATED_AT:
      return "d.created_at";
    case ACS__QF_LAST_BOOT:
      return "d.last_boot";
    case ACS__QF_LAST_BOOTSTRAP:
      return "d.last_bootstrap";
    default:
      return "d.tags";
  }
}

/* A text column as the indexes of migration 3 hold it (bytewise; NULL as
 * '' for the nullable ones, which also need IS NOT NULL), into buf. */
static const char *text_key_expr(acs__q_field f, char *buf, size_t n) {
  if (f == ACS__QF_ID) return "d.id";
  if (f == ACS__QF_SOFTWARE || f == ACS__QF_HARDWARE) {
    snprintf(buf, n, "(coalesce(%s, '') COLLATE \"C\")", column(f));
  } else {
    snprintf(buf, n, "(%s COLLATE \"C\")", column(f));
  }
  return buf;
}

static void text_key(acs__sql *s, acs__q_field f) {
  char buf[96];
  put(s, text_key_expr(f, buf, sizeof buf));
}

static void device_pred(acs__sql *s, const acs__q_node *x) {
  acs__q_field f = x->field;
  const char *col = column(f);
  bool nullable = f == ACS__QF_SOFTWARE || f == ACS__QF_HARDWARE;
  acs__q_op op = x->op;
  if (f == ACS__QF_TAG) {
    if (op == ACS__QO_EXISTS) {
      put(s, "cardinality(d.tags) > 0");
    } else if (op == ACS__QO_PREFIX) {
      put(s, "EXISTS (SELECT 1 FROM unnest(d.tags) t(v) WHERE starts_with(t.v, ");
      acs__sql_param(s, x->v.text, x->v.len);
      put(s, "))");
    } else if (op == ACS__QO_IN) {
      put(s, "(d.tags && "); /* GIN */
      param_list(s, x);
      put(s, ")");
    } else if (op == ACS__QO_REGEX || op == ACS__QO_CONTAINS) {
      put(s, "EXISTS (SELECT 1 FROM unnest(d.tags) t(v) WHERE ");
      text_match(s, "t.v", x);
      put(s, ")");
    } else {
      put(s, op == ACS__QO_NE ? "NOT (d.tags @> ARRAY[" : "(d.tags @> ARRAY[");
      acs__sql_param(s, x->v.text, x->v.len);
      put(s, "]::text[])");
    }
    return;
  }
  if (f == ACS__QF_LAST_INFORM || f == ACS__QF_CREATED_AT || f == ACS__QF_LAST_BOOT ||
      f == ACS__QF_LAST_BOOTSTRAP) {
    if (op == ACS__QO_EXISTS) {
      acs_buf_printf(&s->text, "%s IS NOT NULL", col);
    } else if (op == ACS__QO_NE) {
      acs_buf_printf(&s->text, "(%s IS NULL OR %s <> ", col, col);
      time_value(s, &x->v);
      put(s, ")");
    } else if (f == ACS__QF_LAST_INFORM) {
      /* last_inform has no index (every Inform writes it; docs/storage.md):
       * its hour, which changes at most hourly, has (migration 3) */
      put(s, "(d.last_inform_hour");
      put(s, op_prefix_sql(op));
      put(s, "date_trunc('hour', ");
      time_value(s, &x->v);
      acs_buf_printf(&s->text, ", 'UTC') AND %s%s", col, op_sql(op));
      time_value(s, &x->v);
      put(s, ")");
    } else {
      acs_buf_printf(&s->text, "(%s%s", col, op_sql(op));
      time_value(s, &x->v);
      put(s, ")");
    }
    return;
  }
  if (op == ACS__QO_EXISTS) {
    if (nullable) {
      acs_buf_printf(&s->text, "(%s IS NOT NULL AND %s <> '')", col, col);
    } else {
      acs_buf_printf(&s->text, "(%s <> '')", col);
    }
    return;
  }
  if (op == ACS__QO_NE) put(s, "NOT ");
  put(s, "(");
  if (op == ACS__QO_PREFIX) {
    put(s, "starts_with(");
    text_key(s, f);
    put(s, ", ");
    acs__sql_param(s, x->v.text, x->v.len);
    put(s, ")");
  } else if (op == ACS__QO_IN) {
    text_key(s, f);
    put(s, " = ANY(");
    param_list(s, x);
    put(s, ")");
  } else if (op == ACS__QO_REGEX || op == ACS__QO_CONTAINS) {
    /* on the key as indexed: an anchored expression's fixed prefix is a
     * range of the (field COLLATE "C") index */
    char buf[96];
    text_match(s, text_key_expr(f, buf, sizeof buf), x);
  } else {
    text_key(s, f);
    put(s, op == ACS__QO_NE ? " = " : op_sql(op));
    acs__sql_param(s, x->v.text, x->v.len);
  }
  if (nullable) acs_buf_printf(&s->text, " AND %s IS NOT NULL", col);
  put(s, ")"); /* never NULL: NOT of it is exact */
}

/* --- parameters */

enum { ARM_STRING, ARM_NUM, ARM_TIME, ARM_BOOL, ARM_PREFIX, ARM_ANY, ARM_TEXT };

/* One arm's conditions on "parameters p" (the name comes before). */
static void arm(acs__sql *s, int kind, acs__q_op op, const acs__q_value *v,
                const acs__q_node *x) {
  switch (kind) {
    case ARM_NUM:
      put(s, "p.xsd_type IN (" NUM_TYPES ") AND acs_num(p.value)");
      put(s, op_sql(op));
      acs__sql_param(s, v->text, v->len);
      put(s, "::numeric");
      return;
    case ARM_TIME:
      put(s, "p.xsd_type = 'xsd:dateTime' AND acs_time(p.value)");
      put(s, op_sql(op));
      time_value(s, v);
      return;
    case ARM_BOOL:
      put(s, "p.xsd_type = 'xsd:boolean' AND acs_bool(p.value) = ");
      param_str(s, v->boolean ? "true" : "false");
      return;
    case ARM_PREFIX:
      /* a text prefix of the stored value, whatever its type */
      put(s, "starts_with(" LEFT("p.value") " COLLATE \"C\", left(");
      acs__sql_param(s, v->text, v->len);
      put(s, ", " ACS__Q_VALUE_PREFIX ")) AND starts_with(p.value, ");
      acs__sql_param(s, v->text, v->len);
      put(s, ")");
      return;
    case ARM_ANY:
      put(s, "true");
      return;
    case ARM_TEXT: /* MATCHES, CONTAINS, IN: the stored text, whatever its type */
      if (op == ACS__QO_IN) {
        put(s, LEFT("p.value") " COLLATE \"C\" = ANY(ARRAY(SELECT left(x, " ACS__Q_VALUE_PREFIX
               ") FROM unnest(");
        param_list(s, x);
        put(s, ") x)) AND p.value = ANY(");
        param_list(s, x);
        put(s, ")");
      } else {
        text_match(s, "p.value", x);
      }
      return;
    default:
      put(s, "(p.xsd_type IS NULL OR p.xsd_type NOT IN (" NUM_TYPES
             ", 'xsd:dateTime', 'xsd:boolean')) AND " LEFT("p.value") " COLLATE \"C\"");
      put(s, op_prefix_sql(op));
      put(s, "left(");
      acs__sql_param(s, v->text, v->len);
      put(s, ", " ACS__Q_VALUE_PREFIX ") AND p.value COLLATE \"C\"");
      put(s, op_sql(op));
      acs__sql_param(s, v->text, v->len);
      return;
  }
}

/* The arms a literal can match with this operator. */
static int arms_of(const acs__q_node *x, int out[5]) {
  int n = 0;
  switch (x->op) {
    case ACS__QO_EXISTS:
      out[n++] = ARM_ANY;
      return n;
    case ACS__QO_PREFIX:
      out[n++] = ARM_PREFIX;
      return n;
    case ACS__QO_REGEX:
    case ACS__QO_CONTAINS:
    case ACS__QO_IN:
      out[n++] = ARM_TEXT;
      return n;
    default:
      break;
  }
  /* a relative time ("now-1h") is a time only, never text */
  if (!x->v.time_rel) out[n++] = ARM_STRING;
  if (x->v.number) out[n++] = ARM_NUM;
  if (x->v.time) out[n++] = ARM_TIME;
  if (x->v.boolean >= 0 && (x->op == ACS__QO_EQ || x->op == ACS__QO_NE)) out[n++] = ARM_BOOL;
  return n;
}

static void name_cond(acs__sql *s, const acs__q_node *x) {
  put(s, "p.name = ");
  param_str(s, x->name);
}

/* "a != v" is "NOT (a = v)": true for the devices without the parameter. */
static acs__q_op positive_op(acs__q_op op) { return op == ACS__QO_NE ? ACS__QO_EQ : op; }

/* The devices a positive parameter predicate matches, one SELECT per arm. */
static void param_arms(acs__sql *s, const acs__q_node *x) {
  int arms[5], n = arms_of(x, arms);
  acs__q_op op = positive_op(x->op);
  for (int i = 0; i < n; i++) {
    if (i) put(s, " UNION ALL ");
    put(s, "SELECT p.device_id FROM parameters p WHERE ");
    name_cond(s, x);
    if (arms[i] != ARM_ANY) {
      put(s, " AND ");
      arm(s, arms[i], op, &x->v, x);
    }
  }
}

static void param_in(acs__sql *s, const acs__q_node *x) {
  put(s, "d.id IN (");
  param_arms(s, x);
  put(s, ")");
}

static void param_exists(acs__sql *s, const acs__q_node *x) {
  int arms[5], n = arms_of(x, arms);
  acs__q_op op = positive_op(x->op);
  put(s, "EXISTS (SELECT 1 FROM parameters p WHERE p.device_id = d.id AND ");
  name_cond(s, x);
  if (arms[0] != ARM_ANY) {
    put(s, " AND (");
    for (int i = 0; i < n; i++) {
      put(s, i ? " OR (" : "(");
      arm(s, arms[i], op, &x->v, x);
      put(s, ")");
    }
    put(s, ")");
  }
  put(s, ")");
}

static void walk(acs__sql *s, const acs__q_node *x, bool positive);

/* A parameter predicate a semi-join can answer (not "!=", a NOT). */
static bool is_param_set(const acs__q_node *x) {
  return x->kind == ACS__QN_PRED && x->field == ACS__QF_PARAM && x->op != ACS__QO_NE;
}

static bool has_param_set(const acs__q_node *x) {
  if (x->kind == ACS__QN_AND || x->kind == ACS__QN_OR)
    return has_param_set(x->a) || has_param_set(x->b);
  return is_param_set(x);
}

/* The ids of the devices x matches, as SELECTs joined by UNION ALL: an OR
 * of sets is their union, each part planned on its own indexes (an OR of
 * correlated EXISTS would probe every device). */
static void ids(acs__sql *s, const acs__q_node *x) {
  if (x->kind == ACS__QN_OR) {
    ids(s, x->a);
    put(s, " UNION ALL ");
    ids(s, x->b);
  } else if (is_param_set(x)) {
    param_arms(s, x);
  } else {
    put(s, "SELECT d.id FROM devices d WHERE ");
    walk(s, x, true);
  }
}

/* positive: reached from the root through ANDs and ORs only (no NOT), so
 * that a semi-join (d.id IN ...) means the same as the predicate. */
static void walk(acs__sql *s, const acs__q_node *x, bool positive) {
  switch (x->kind) {
    case ACS__QN_AND:
      put(s, "(");
      walk(s, x->a, positive);
      put(s, " AND ");
      walk(s, x->b, positive);
      put(s, ")");
      return;
    case ACS__QN_OR:
      if (positive && has_param_set(x)) {
        put(s, "d.id IN (");
        ids(s, x);
        put(s, ")");
        return;
      }
      put(s, "(");
      walk(s, x->a, positive);
      put(s, " OR ");
      walk(s, x->b, positive);
      put(s, ")");
      return;
    case ACS__QN_NOT:
      if (x->a->kind == ACS__QN_PRED && x->a->field == ACS__QF_PARAM) {
        /* EXISTS is never NULL: an anti-join */
        put(s, "NOT ");
        walk(s, x->a, false);
        return;
      }
      put(s, "((");
      walk(s, x->a, false);
      put(s, ") IS NOT TRUE)"); /* NULL (a missing time) is "not true" */
      return;
    default:
      break;
  }
  if (x->field != ACS__QF_PARAM) {
    device_pred(s, x);
  } else if (x->op == ACS__QO_NE) {
    put(s, "NOT ");
    param_exists(s, x);
  } else if (positive) {
    param_in(s, x);
  } else {
    param_exists(s, x);
  }
}

void acs__q_to_sql(const acs__q_node *q, acs__sql *s) { walk(s, q, true); }
