/* device_list.c: GET /api/v1/devices?q=&sort=&projection=&limit=&cursor=
 * (docs/api.md, "Device queries"). One statement for the page, one for the
 * count, in one sync group; every value a $n parameter.
 *
 * Pages are keyset pages in the sort order, ties broken by id in the
 * direction of the last key: the cursor carries the sort spec and the last
 * item's sort values and id, so a page starts exactly after the previous
 * one however the rows between them change. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_internal.h"
#include "api/query.h"
#include "core/acs_err.h"

#define MAX_SORT_KEYS 4
#define MAX_PROJECTION 64

typedef struct sort_key {
  int field; /* acs__q_field */
  bool desc;
} sort_key;

typedef struct list_ctx {
  sort_key keys[MAX_SORT_KEYS + 1]; /* the last is always id */
  int nkeys;                        /* keys before id */
  bool by_id;                       /* the default order: cursor kind 'd' */
  char spec[256];                   /* canonical sort spec (in the cursor) */
  unsigned proj_cols;               /* bit i: device_cols[i] asked for */
  bool projection;
  int nproj_params;
  acs_buf names, prefixes; /* text[] literals of parameter names, subtrees */
  int nnames, nprefixes;
} list_ctx;

static bool is_time_key(int f) { return f == ACS__QF_LAST_INFORM || f == ACS__QF_CREATED_AT; }

/* The sort key expression (as indexed by migration 3 where there is one). */
static const char *key_expr(int f) {
  switch (f) {
    case ACS__QF_OUI:
      return "(d.oui COLLATE \"C\")";
    case ACS__QF_PRODUCT_CLASS:
      return "(d.product_class COLLATE \"C\")";
    case ACS__QF_SERIAL:
      return "(d.serial_number COLLATE \"C\")";
    case ACS__QF_MANUFACTURER:
      return "(d.manufacturer COLLATE \"C\")";
    case ACS__QF_SOFTWARE:
      return "(coalesce(d.software_version, '') COLLATE \"C\")";
    case ACS__QF_HARDWARE:
      return "(coalesce(d.hardware_version, '') COLLATE \"C\")";
    case ACS__QF_LAST_INFORM:
      return "coalesce(d.last_inform, '-infinity'::timestamptz)";
    case ACS__QF_CREATED_AT:
      return "d.created_at";
    default:
      return "d.id";
  }
}

static const char sort_help[] =
    "sort: expected FIELD[,-FIELD...] of id, oui, product_class, serial_number, manufacturer, "
    "software_version, hardware_version, last_inform, created_at (at most 4, id last)";

static bool parse_sort(acs__api_req *r, list_ctx *lc) {
  char *v = NULL;
  if (!acs__api_query_param(r, "sort", &v)) return false;
  lc->nkeys = 0;
  bool id_last = false, ok = true;
  lc->spec[0] = '\0';
  for (char *p = v, *tok; ok && p && (tok = strsep(&p, ",")) != NULL;) {
    bool desc = tok[0] == '-';
    const char *name = tok + (tok[0] == '-' || tok[0] == '+');
    int f = acs__q_field_lookup(name, strlen(name));
    bool sortable =
        f >= 0 && f != ACS__QF_TAG && f != ACS__QF_LAST_BOOT && f != ACS__QF_LAST_BOOTSTRAP;
    if (!sortable || id_last) {
      ok = false;
      break;
    }
    for (int i = 0; i < lc->nkeys; i++) ok = ok && lc->keys[i].field != f;
    if (f == ACS__QF_ID) {
      id_last = true;
      lc->keys[MAX_SORT_KEYS].desc = desc; /* id's direction */
    } else if (lc->nkeys == MAX_SORT_KEYS) {
      ok = false;
    } else {
      lc->keys[lc->nkeys++] = (sort_key){f, desc};
    }
    size_t used = strlen(lc->spec);
    snprintf(lc->spec + used, sizeof lc->spec - used, "%s%s%s", used ? "," : "", desc ? "-" : "",
             name);
  }
  bool id_desc = lc->keys[MAX_SORT_KEYS].desc;
  free(v);
  if (!ok) {
    acs__api_error(r, 400, "%s", sort_help);
    return false;
  }
  /* ties by id, in the direction of the last key (one index direction) */
  if (!id_last && lc->nkeys) id_desc = lc->keys[lc->nkeys - 1].desc;
  lc->keys[lc->nkeys] = (sort_key){ACS__QF_ID, id_desc};
  lc->by_id = lc->nkeys == 0 && !id_desc;
  return true;
}

/* The cursor of a sorted list: {"s": spec, "k": [key..., id]}. */
static char *sorted_cursor(const list_ctx *lc, const acs_pg_result *res, int row) {
  json_t *o = json_object(), *k = json_array();
  for (int i = 0; o && k && i <= lc->nkeys; i++) {
    int col = i < lc->nkeys ? ACS__N_DEVICE_COLS + i : 0;
    json_array_append_new(k, acs__api_string(acs_pg_getvalue(res, row, col),
                                             (size_t)acs_pg_getlength(res, row, col)));
  }
  if (o && k) {
    json_object_set_new(o, "s", json_string(lc->spec));
    json_object_set(o, "k", k);
  }
  char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
  json_decref(o);
  json_decref(k);
  char *c = text ? acs__api_cursor_encode('s', text) : NULL;
  free(text);
  return c;
}

/* The cursor's keys, checked against the sort; NULL (400 answered). */
static json_t *cursor_keys(acs__api_req *r, const list_ctx *lc) {
  json_t *o = json_loads(r->cursor, JSON_REJECT_DUPLICATES, NULL);
  json_t *k = json_object_get(o, "k");
  const char *s = json_string_value(json_object_get(o, "s"));
  bool ok = s && json_is_array(k) && json_array_size(k) == (size_t)lc->nkeys + 1;
  for (size_t i = 0; ok && i < json_array_size(k); i++) {
    const char *v = json_string_value(json_array_get(k, i));
    acs__q_value tv;
    ok = v != NULL;
    if (ok && i < (size_t)lc->nkeys && is_time_key(lc->keys[i].field)) /* as made by the page */
      ok = strcmp(v, "-infinity") == 0 || (acs__q_time_parse(v, strlen(v), &tv) && !tv.time_rel);
  }
  if (ok && strcmp(s, lc->spec) != 0) {
    acs__api_error(r, 400, "cursor: made for sort=%.64s, not sort=%s", s, lc->spec);
    json_decref(o); /* s is o's */
    return NULL;
  }
  if (!ok) {
    json_decref(o);
    acs__api_error(r, 400, "cursor: invalid (use next_cursor of a previous page)");
    return NULL;
  }
  json_incref(k);
  json_decref(o);
  return k;
}

/* (k1, ..., id) after the cursor's values, in the sort's directions. */
static void keyset(acs__sql *s, const list_ctx *lc, json_t *k) {
  bool same = true;
  for (int i = 0; i < lc->nkeys; i++) same = same && lc->keys[i].desc == lc->keys[lc->nkeys].desc;
  int n = lc->nkeys + 1;
  if (same) {
    acs_buf_puts(&s->text, "(");
    for (int i = 0; i < n; i++)
      acs_buf_printf(&s->text, "%s%s", i ? ", " : "", key_expr(lc->keys[i].field));
    acs_buf_puts(&s->text, lc->keys[0].desc ? ") < (" : ") > (");
    for (int i = 0; i < n; i++) {
      const char *v = json_string_value(json_array_get(k, (size_t)i));
      if (i) acs_buf_puts(&s->text, ", ");
      acs__sql_param(s, v, strlen(v));
      if (is_time_key(lc->keys[i].field)) acs_buf_puts(&s->text, "::timestamptz");
    }
    acs_buf_puts(&s->text, ")");
    return;
  }
  /* mixed directions: (k1 > v1) OR (k1 = v1 AND k2 < v2) OR ... */
  acs_buf_puts(&s->text, "(");
  for (int i = 0; i < n; i++) {
    acs_buf_puts(&s->text, i ? " OR (" : "(");
    for (int j = 0; j <= i; j++) {
      const char *v = json_string_value(json_array_get(k, (size_t)j));
      const char *op = j < i ? " = " : lc->keys[j].desc ? " < " : " > ";
      acs_buf_printf(&s->text, "%s%s%s", j ? " AND " : "", key_expr(lc->keys[j].field), op);
      acs__sql_param(s, v, strlen(v));
      if (is_time_key(lc->keys[j].field)) acs_buf_puts(&s->text, "::timestamptz");
    }
    acs_buf_puts(&s->text, ")");
  }
  acs_buf_puts(&s->text, ")");
}

/* --- projection */

static bool parse_projection(acs__api_req *r, list_ctx *lc) {
  char *v = NULL;
  if (!acs__api_query_param(r, "projection", &v)) return false;
  if (!v) return true;
  lc->projection = true;
  lc->proj_cols = 0xf; /* id, oui, product_class, serial_number */
  const char **names = calloc(MAX_PROJECTION + 1, sizeof *names);
  const char **prefixes = calloc(MAX_PROJECTION + 1, sizeof *prefixes);
  int count = 0;
  bool ok = names && prefixes;
  const char *bad = NULL;
  for (char *p = v, *tok; ok && p && (tok = strsep(&p, ",")) != NULL;) {
    while (*tok == ' ') tok++;
    size_t n = strlen(tok);
    while (n && tok[n - 1] == ' ') tok[--n] = '\0';
    if (++count > MAX_PROJECTION || n == 0) {
      ok = false, bad = count > MAX_PROJECTION ? "too many names" : "an empty name";
      break;
    }
    if (strchr(tok, '.')) {
      bool good = n <= 256 && tok[0] != '.';
      for (size_t i = 0; good && i < n; i++) {
        char c = tok[i];
        good = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == '_' || c == '-' || (c == '.' && tok[i + 1] != '.');
      }
      if (!good) {
        ok = false, bad = tok;
      } else if (tok[n - 1] == '.') {
        prefixes[lc->nprefixes++] = tok;
      } else {
        names[lc->nnames++] = tok;
      }
      continue;
    }
    bool found = false;
    for (int i = 0; i < ACS__N_DEVICE_COLS; i++) {
      if (strcmp(acs__api_device_cols[i].name, tok) == 0) lc->proj_cols |= 1u << i, found = true;
    }
    if (!found) ok = false, bad = tok;
  }
  if (ok) {
    acs_pg_array_append(&lc->names, names, (size_t)lc->nnames);
    acs_pg_array_append(&lc->prefixes, prefixes, (size_t)lc->nprefixes);
    lc->nproj_params = lc->nnames + lc->nprefixes;
  }
  free(names);
  free(prefixes);
  if (!ok) {
    if (!bad) {
      acs__api_error(r, 500, "out of memory");
    } else {
      acs__api_error(r, 400,
                     "projection: %.80s%s (expected device fields and parameter names, "
                     "comma-separated; a name ending with '.' selects the subtree)",
                     bad, strlen(bad) > 80 ? "..." : "");
    }
  }
  free(v);
  return ok;
}

/* The parameters of the projection as one JSON object per device. */
static void projection_sql(acs__sql *s, const list_ctx *lc) {
  acs_buf_puts(&s->text,
               ", (SELECT json_object_agg(p.name, json_build_object('value', p.value, 'type', "
               "p.xsd_type, 'writable', p.writable, 'object', p.is_object, 'notification', "
               "p.notification, 'access_list', p.access_list, 'value_at', " ACS__SQL_TIME(
                   "p.value_at") ") ORDER BY p.name)::text FROM parameters p WHERE p.device_id "
                                 "= d.id AND (");
  if (lc->nnames) {
    acs_buf_puts(&s->text, "p.name = ANY(");
    acs__sql_param(s, lc->names.data, lc->names.len);
    acs_buf_puts(&s->text, "::text[])");
  }
  if (lc->nprefixes) {
    acs_buf_puts(&s->text, lc->nnames ? " OR " : "");
    acs_buf_puts(&s->text, "EXISTS (SELECT 1 FROM unnest(");
    acs__sql_param(s, lc->prefixes.data, lc->prefixes.len);
    acs_buf_puts(&s->text, "::text[]) u(v) WHERE starts_with(p.name, u.v))");
  }
  acs_buf_puts(&s->text, "))");
}

/* --- the statements */

static list_ctx *ctx_of(acs__api_req *r) { return (list_ctx *)r->aux_ctx; }

static json_t *item(acs__api_req *r, const acs_pg_result *res, int row) {
  list_ctx *lc = ctx_of(r);
  json_t *o = acs__api_row_object(res, row, 0, acs__api_device_cols, ACS__N_DEVICE_COLS);
  if (!o || !lc->projection) return o;
  for (int i = 0; i < ACS__N_DEVICE_COLS; i++) {
    if (!(lc->proj_cols & 1u << i)) json_object_del(o, acs__api_device_cols[i].name);
  }
  if (lc->nproj_params) {
    int col = ACS__N_DEVICE_COLS + lc->nkeys;
    json_t *p = acs_pg_isnull(res, row, col) ? json_object()
                                             : acs__api_col_value(res, row, col, ACS__COL_JSON);
    if (p && acs__api_params_render(p)) {
      json_decref(p);
      p = NULL;
    }
    if (!p || json_object_set_new(o, "parameters", p)) {
      json_decref(o);
      return NULL;
    }
  }
  return o;
}

static void page_cb(acs_pg_result *res, void *arg) {
  acs__api_req *r = arg;
  list_ctx *lc = ctx_of(r);
  if (acs__api_stmt_ok(r, res)) {
    int n = res->ntuples < r->limit ? res->ntuples : r->limit;
    r->doc = json_array();
    for (int i = 0; r->doc && i < n; i++) {
      json_t *o = item(r, res, i);
      if (!o || json_array_append_new(r->doc, o)) {
        json_decref(r->doc);
        r->doc = NULL;
      }
    }
    if (r->doc && res->ntuples > r->limit) {
      r->next_cursor = lc->by_id ? acs__api_cursor_encode('d', acs_pg_getvalue(res, n - 1, 0))
                                 : sorted_cursor(lc, res, n - 1);
      if (!r->next_cursor) {
        json_decref(r->doc);
        r->doc = NULL;
      }
    }
    if (!r->doc) r->pg_status = ACS_ENOMEM;
  }
  acs__api_stmt_done(r);
}

/* Exact below the threshold; past it the planner's estimate (kept fresh by
 * autovacuum), so that a large fleet is never counted row by row. A table
 * never analysed has reltuples -1: counted. */
static const char sql_count_all[] =
    "SELECT CASE WHEN c.reltuples > " ACS__STR(ACS__API_EXACT_COUNT_MAX) " THEN "
    "c.reltuples::bigint ELSE (SELECT count(*) FROM devices) END, "
    "c.reltuples > " ACS__STR(ACS__API_EXACT_COUNT_MAX) " FROM pg_class c WHERE c.oid = "
    "'devices'::regclass";

static void list_ctx_free(void *p) {
  list_ctx *lc = p;
  acs_buf_free(&lc->names);
  acs_buf_free(&lc->prefixes);
  free(lc);
}

void acs__api_devices_list(acs__api_req *r) {
  list_ctx *lc = calloc(1, sizeof *lc);
  if (!lc) {
    acs__api_error(r, 500, "out of memory");
    return;
  }
  char *q = NULL;
  json_t *ck = NULL;
  acs__q_node *tree = NULL;
  acs_arena arena;
  acs_arena_init(&arena, 0);
  acs__sql where, page, count;
  acs__sql_init(&where);
  acs__sql_init(&page);
  acs__sql_init(&count);
  bool answered = true;
  if (!parse_sort(r, lc) || !acs__api_list_params(r, lc->by_id ? 'd' : 's') ||
      (!lc->by_id && r->cursor && !(ck = cursor_keys(r, lc))) || !parse_projection(r, lc) ||
      !acs__api_query_param(r, "q", &q))
    goto out;
  if (q) {
    char err[400];
    int rc = acs__q_parse(q, strlen(q), &arena, &tree, err, sizeof err);
    if (rc) {
      if (rc == ACS_ENOMEM) {
        acs__api_error(r, 500, "out of memory");
      } else {
        acs__api_error(r, 400, "q: %s", err);
      }
      goto out;
    }
    if (acs__q_costly(tree)) r->stmt_timeout_ms = ACS__Q_COSTLY_TIMEOUT_MS;
  }

  /* the page: the filter, the keyset, the order, the limit */
  acs__sql *s = &page;
  acs_buf_puts(&s->text, "SELECT " ACS__DEVICE_COLS);
  for (int i = 0; i < lc->nkeys; i++) {
    if (is_time_key(lc->keys[i].field)) {
      acs_buf_printf(&s->text,
                     ", CASE WHEN isfinite(_k%d) THEN to_char(_k%d AT TIME ZONE 'UTC', "
                     "'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') ELSE _k%d::text END",
                     i, i, i);
    } else {
      acs_buf_printf(&s->text, ", _k%d", i);
    }
  }
  if (lc->nproj_params) projection_sql(s, lc);
  /* the page's ids and keys first (index-only where the filter allows:
   * walking an index in order to fill a page then reads no device rows),
   * the devices' columns after, for the page only */
  acs_buf_puts(&s->text, " FROM (SELECT d.id AS _id");
  for (int i = 0; i < lc->nkeys; i++)
    acs_buf_printf(&s->text, ", %s AS _k%d", key_expr(lc->keys[i].field), i);
  acs_buf_puts(&s->text, " FROM devices d WHERE true");
  if (tree) {
    acs_buf_puts(&s->text, " AND ");
    acs__q_to_sql(tree, s);
  }
  if (r->cursor) {
    acs_buf_puts(&s->text, " AND ");
    if (lc->by_id) {
      acs_buf_puts(&s->text, "d.id > ");
      acs__sql_param(s, r->cursor, strlen(r->cursor));
    } else {
      keyset(s, lc, ck);
    }
  }
  acs_buf_puts(&s->text, " ORDER BY ");
  for (int i = 0; i <= lc->nkeys; i++)
    acs_buf_printf(&s->text, "%s%s%s", i ? ", " : "", key_expr(lc->keys[i].field),
                   lc->keys[i].desc ? " DESC" : "");
  char lim[16];
  snprintf(lim, sizeof lim, "%d", r->limit + 1); /* one more: is there a next page? */
  acs_buf_puts(&s->text, " LIMIT ");
  acs__sql_param(s, lim, strlen(lim));
  acs_buf_puts(&s->text, ") k JOIN devices d ON d.id = k._id ORDER BY ");
  for (int i = 0; i <= lc->nkeys; i++) {
    if (i < lc->nkeys) {
      acs_buf_printf(&s->text, "k._k%d%s, ", i, lc->keys[i].desc ? " DESC" : "");
    } else {
      acs_buf_printf(&s->text, "d.id%s", lc->keys[i].desc ? " DESC" : "");
    }
  }

  /* the count: all devices (estimated past the threshold), or the matches
   * counted up to the threshold */
  if (tree) {
    acs_buf_puts(&count.text, "SELECT least(count(*), " ACS__STR(ACS__API_EXACT_COUNT_MAX) "), "
                              "count(*) > " ACS__STR(ACS__API_EXACT_COUNT_MAX) " FROM (SELECT 1 "
                              "FROM devices d WHERE ");
    acs__q_to_sql(tree, &count);
    acs_buf_puts(&count.text, ACS__API_COUNT_CAPPED_END);
  } else {
    acs_buf_puts(&count.text, sql_count_all);
  }
  if (acs__sql_err(&page) || acs__sql_err(&count)) {
    acs__api_error(r, 500, "out of memory");
    goto out;
  }

  r->aux_ctx = lc;
  r->aux_free = list_ctx_free;
  lc = NULL;
  answered = false;
  acs__api_send_list(r, &page, &count, page_cb);
out:
  free(q);
  json_decref(ck);
  acs_arena_free(&arena);
  acs__sql_free(&where);
  acs__sql_free(&page);
  acs__sql_free(&count);
  if (lc) list_ctx_free(lc);
  if (!answered) acs__api_step_queued(r);
}
