/* query_parse.c: the device query language, lexed and parsed by recursive
 * descent (grammar in docs/api.md, "Device queries"):
 *
 *   query  := or EOF
 *   or     := and { OR and }
 *   and    := unary { AND unary }
 *   unary  := NOT unary | '(' or ')' | pred
 *   pred   := FIELD OP value | FIELD EXISTS | FIELD IN '(' value { ',' value } ')'
 *   OP     := '=' | '!=' | '<>' | '<' | '<=' | '>' | '>=' | '~=' | '=~'
 *           | MATCHES | CONTAINS
 *   value  := "string" | 'string' | WORD
 *
 * Keywords are case-insensitive. Every error names the byte offset (1-based)
 * where it was found. Nothing here knows SQL. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/query.h"
#include "core/acs_secret_param.h"
#include "core/acs_err.h"

typedef enum tok_kind {
  T_EOF,
  T_LPAREN,
  T_RPAREN,
  T_AND,
  T_OR,
  T_NOT,
  T_EXISTS,
  T_OP,
  T_STRING, /* quoted */
  T_WORD,
  T_COMMA, /* inside an IN list only */
} tok_kind;

typedef struct tok {
  tok_kind kind;
  acs__q_op op;
  size_t pos;       /* 0-based offset */
  const char *text; /* T_STRING: unescaped (arena); T_WORD: into the input */
  size_t len;
} tok;

typedef struct parser {
  const char *s;
  size_t n, i;
  acs_arena *arena;
  tok t; /* the current token */
  int depth, preds;
  bool list; /* inside an IN list: ',' separates values */
  int rc;
  char *err;
  size_t errlen;
} parser;

static bool fail(parser *p, size_t pos, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static bool fail(parser *p, size_t pos, const char *fmt, ...) {
  if (p->rc) return false;
  p->rc = ACS_EINVAL;
  int k = snprintf(p->err, p->errlen, "at %zu: ", pos + 1);
  if (k > 0 && (size_t)k < p->errlen) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->err + k, p->errlen - (size_t)k, fmt, ap);
    va_end(ap);
  }
  return false;
}

static bool nomem(parser *p) {
  if (!p->rc) p->rc = ACS_ENOMEM;
  return false;
}

/* Length of the valid UTF-8 sequence at s (n bytes left), or 0. */
static size_t utf8_len(const unsigned char *s, size_t n) {
  unsigned c = s[0];
  size_t len;
  unsigned cp;
  if (c < 0x80) return 1;
  if (c >= 0xc2 && c <= 0xdf) {
    len = 2, cp = c & 0x1f;
  } else if (c >= 0xe0 && c <= 0xef) {
    len = 3, cp = c & 0x0f;
  } else if (c >= 0xf0 && c <= 0xf4) {
    len = 4, cp = c & 0x07;
  } else {
    return 0;
  }
  if (n < len) return 0;
  for (size_t i = 1; i < len; i++) {
    if ((s[i] & 0xc0) != 0x80) return 0;
    cp = cp << 6 | (s[i] & 0x3f);
  }
  if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
      (cp >= 0xd800 && cp <= 0xdfff))
    return 0;
  return len;
}

static const char *tok_kind_name(const tok *t) {
  switch (t->kind) {
    case T_EOF:
      return "the end of the query";
    case T_LPAREN:
      return "'('";
    case T_RPAREN:
      return "')'";
    case T_AND:
      return "AND";
    case T_OR:
      return "OR";
    case T_NOT:
      return "NOT";
    case T_EXISTS:
      return "EXISTS";
    case T_OP:
      return "an operator";
    case T_STRING:
      return "a string";
    case T_COMMA:
      return "','";
    default:
      return "a word";
  }
}

/* The token for a message: its kind, and the text of words and operators. */
static const char *tok_name_(char *buf, size_t len, const tok *t) {
  if (t->kind == T_WORD || t->kind == T_OP) {
    snprintf(buf, len, "'%.*s'", (int)(t->len > 40 ? 40 : t->len), t->text);
    return buf;
  }
  return tok_kind_name(t);
}
#define tok_name(t) tok_name_((char[64]){0}, 64, (t))

static bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
static bool is_special(const parser *p, char c) {
  return c == '(' || c == ')' || c == '"' || c == '\'' || c == '=' || c == '!' || c == '<' ||
         c == '>' || c == '~' || (c == ',' && p->list);
}

static int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

static bool lex_string(parser *p) {
  char quote = p->s[p->i];
  size_t start = p->i++;
  acs_buf b = ACS_BUF_INIT;
  for (;;) {
    if (p->i >= p->n) {
      acs_buf_free(&b);
      return fail(p, start, "unterminated string (no closing %c)", quote);
    }
    char c = p->s[p->i];
    if (c == quote) {
      p->i++;
      break;
    }
    if (c != '\\') {
      acs_buf_putc(&b, c);
      p->i++;
      continue;
    }
    size_t esc = p->i;
    if (p->i + 1 >= p->n) {
      acs_buf_free(&b);
      return fail(p, esc, "a backslash ends the query");
    }
    char e = p->s[p->i + 1];
    p->i += 2;
    switch (e) {
      case 'n':
        acs_buf_putc(&b, '\n');
        break;
      case 't':
        acs_buf_putc(&b, '\t');
        break;
      case 'r':
        acs_buf_putc(&b, '\r');
        break;
      case '\\':
      case '"':
      case '\'':
        acs_buf_putc(&b, e);
        break;
      case 'u': {
        unsigned cp = 0;
        for (int k = 0; k < 4; k++) {
          int h = p->i < p->n ? hexval(p->s[p->i]) : -1;
          if (h < 0) {
            acs_buf_free(&b);
            return fail(p, esc, "\\u needs four hex digits");
          }
          cp = cp << 4 | (unsigned)h;
          p->i++;
        }
        if (cp == 0 || (cp >= 0xd800 && cp <= 0xdfff)) {
          acs_buf_free(&b);
          return fail(p, esc, "\\u%04X is not a character allowed here", cp);
        }
        char u[3];
        if (cp < 0x80) {
          acs_buf_putc(&b, (char)cp);
        } else if (cp < 0x800) {
          u[0] = (char)(0xc0 | cp >> 6), u[1] = (char)(0x80 | (cp & 0x3f));
          acs_buf_append(&b, u, 2);
        } else {
          u[0] = (char)(0xe0 | cp >> 12), u[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
          u[2] = (char)(0x80 | (cp & 0x3f));
          acs_buf_append(&b, u, 3);
        }
        break;
      }
      default:
        acs_buf_free(&b);
        return fail(p, esc, "unknown escape \\%c (known: \\\" \\' \\\\ \\n \\t \\r \\uXXXX)", e);
    }
  }
  char *v = acs_buf_err(&b) ? NULL : acs_arena_strndup(p->arena, b.data ? b.data : "", b.len);
  size_t len = b.len;
  acs_buf_free(&b);
  if (!v) return nomem(p);
  p->t = (tok){.kind = T_STRING, .pos = start, .text = v, .len = len};
  return true;
}

static bool word_is(const tok *t, const char *kw) {
  return t->len == strlen(kw) && strncasecmp(t->text, kw, t->len) == 0;
}

/* Reads the next token into p->t. */
static bool next(parser *p) {
  while (p->i < p->n && is_space(p->s[p->i])) p->i++;
  size_t start = p->i;
  if (p->i >= p->n) {
    p->t = (tok){.kind = T_EOF, .pos = start};
    return true;
  }
  char c = p->s[p->i], c2 = p->i + 1 < p->n ? p->s[p->i + 1] : '\0';
  p->t = (tok){.kind = T_OP, .pos = start, .text = p->s + start, .len = 1};
  switch (c) {
    case '(':
      p->t.kind = T_LPAREN;
      p->i++;
      return true;
    case ')':
      p->t.kind = T_RPAREN;
      p->i++;
      return true;
    case '"':
    case '\'':
      return lex_string(p);
    case ',':
      if (!p->list) break;
      p->t.kind = T_COMMA;
      p->i++;
      return true;
    case '=':
      p->t.op = c2 == '~' ? ACS__QO_REGEX : ACS__QO_EQ;
      p->i += c2 == '=' || c2 == '~' ? 2 : 1; /* == too */
      p->t.len = p->i - start;
      return true;
    case '!':
      if (c2 != '=') return fail(p, start, "'!' must be followed by '=' (use NOT to negate)");
      p->t.op = ACS__QO_NE;
      p->i += 2;
      p->t.len = p->i - start;
      return true;
    case '<':
      p->t.op = c2 == '=' ? ACS__QO_LE : c2 == '>' ? ACS__QO_NE : ACS__QO_LT;
      p->i += c2 == '=' || c2 == '>' ? 2 : 1;
      p->t.len = p->i - start;
      return true;
    case '>':
      p->t.op = c2 == '=' ? ACS__QO_GE : ACS__QO_GT;
      p->i += c2 == '=' ? 2 : 1;
      p->t.len = p->i - start;
      return true;
    case '~':
      if (c2 != '=') return fail(p, start, "'~' must be followed by '=' (prefix match)");
      p->t.op = ACS__QO_PREFIX;
      p->i += 2;
      p->t.len = p->i - start;
      return true;
    default:
      break;
  }
  while (p->i < p->n && !is_space(p->s[p->i]) && !is_special(p, p->s[p->i])) p->i++;
  p->t = (tok){.kind = T_WORD, .pos = start, .text = p->s + start, .len = p->i - start};
  if (word_is(&p->t, "and") || word_is(&p->t, "&&")) {
    p->t.kind = T_AND;
  } else if (word_is(&p->t, "or") || word_is(&p->t, "||")) {
    p->t.kind = T_OR;
  } else if (word_is(&p->t, "not")) {
    p->t.kind = T_NOT;
  } else if (word_is(&p->t, "exists")) {
    p->t.kind = T_EXISTS;
  }
  return true;
}

/* --- fields */

static const struct {
  const char *name;
  acs__q_field f;
} fields[] = {
    {"id", ACS__QF_ID},
    {"oui", ACS__QF_OUI},
    {"product_class", ACS__QF_PRODUCT_CLASS},
    {"serial_number", ACS__QF_SERIAL},
    {"manufacturer", ACS__QF_MANUFACTURER},
    {"software_version", ACS__QF_SOFTWARE},
    {"hardware_version", ACS__QF_HARDWARE},
    {"tag", ACS__QF_TAG},
    {"tags", ACS__QF_TAG},
    {"last_inform", ACS__QF_LAST_INFORM},
    {"created_at", ACS__QF_CREATED_AT},
    {"last_boot", ACS__QF_LAST_BOOT},
    {"last_bootstrap", ACS__QF_LAST_BOOTSTRAP},
};

int acs__q_field_lookup(const char *name, size_t n) {
  for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
    if (strlen(fields[i].name) == n && memcmp(fields[i].name, name, n) == 0) return fields[i].f;
  }
  return -1;
}

static bool is_time_field(acs__q_field f) {
  return f == ACS__QF_LAST_INFORM || f == ACS__QF_CREATED_AT || f == ACS__QF_LAST_BOOT ||
         f == ACS__QF_LAST_BOOTSTRAP;
}

/* A parameter path: letters, digits, '_', '-', '.'; no empty segment but
 * the last (an object's name ends with '.'). */
static bool valid_param_name(const char *s, size_t n) {
  if (n == 0 || n > 256 || s[0] == '.') return false;
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-' || c == '.';
    if (!ok || (c == '.' && i + 1 < n && s[i + 1] == '.')) return false;
  }
  return true;
}

/* --- literals */

static int digits(const char *s, size_t n, size_t *i, int max) {
  int k = 0;
  while (*i < n && k < max && s[*i] >= '0' && s[*i] <= '9') (*i)++, k++;
  return k;
}

static int num_at(const char *s, size_t at, int len) {
  int v = 0;
  for (int k = 0; k < len; k++) v = v * 10 + (s[at + (size_t)k] - '0');
  return v;
}

static bool is_number(const char *s, size_t n) {
  size_t i = 0;
  if (i < n && (s[i] == '-' || s[i] == '+')) i++;
  if (digits(s, n, &i, 40) == 0) return false;
  if (i < n && s[i] == '.') {
    i++;
    if (digits(s, n, &i, 40) == 0) return false;
  }
  return i == n;
}

/* RFC 3339 (YYYY-MM-DDTHH:MM:SS[.frac](Z|+HH:MM)) or a date alone
 * (midnight UTC), normalised into out as the same text for ::timestamptz. */
static bool parse_abs_time(const char *s, size_t n, char *out, size_t outlen) {
  static const int mdays[12] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  size_t i = 0;
  if (digits(s, n, &i, 4) != 4 || i >= n || s[i++] != '-' || digits(s, n, &i, 2) != 2 || i >= n ||
      s[i++] != '-' || digits(s, n, &i, 2) != 2)
    return false;
  int y = num_at(s, 0, 4), mo = num_at(s, 5, 2), d = num_at(s, 8, 2);
  bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  if (y < 1 || mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || (mo == 2 && d == 29 && !leap))
    return false;
  if (i == n) {
    snprintf(out, outlen, "%.10sT00:00:00Z", s);
    return true;
  }
  if (s[i] != 'T' && s[i] != 't') return false;
  i++;
  size_t t0 = i;
  if (digits(s, n, &i, 2) != 2 || i >= n || s[i++] != ':' || digits(s, n, &i, 2) != 2 || i >= n ||
      s[i++] != ':' || digits(s, n, &i, 2) != 2)
    return false;
  if (num_at(s, t0, 2) > 23 || num_at(s, t0 + 3, 2) > 59 || num_at(s, t0 + 6, 2) > 59) return false;
  if (i < n && s[i] == '.') {
    i++;
    if (digits(s, n, &i, 9) == 0) return false;
  }
  if (i < n && (s[i] == 'Z' || s[i] == 'z')) {
    i++;
  } else if (i < n && (s[i] == '+' || s[i] == '-')) {
    size_t z = ++i;
    if (digits(s, n, &i, 2) != 2 || i >= n || s[i++] != ':' || digits(s, n, &i, 2) != 2)
      return false;
    if (num_at(s, z, 2) > 23 || num_at(s, z + 3, 2) > 59) return false;
  } else {
    return false; /* RFC 3339 needs the offset */
  }
  if (i != n || n + 1 > outlen) return false;
  memcpy(out, s, n);
  out[n] = '\0';
  out[10] = 'T';
  if (out[n - 1] == 'z') out[n - 1] = 'Z';
  return true;
}

/* now, now-90s, now+2h, now-7d (units s, m, h, d, w). */
static bool parse_rel_time(const char *s, size_t n, long long *secs) {
  if (n < 3 || strncasecmp(s, "now", 3) != 0) return false;
  if (n == 3) {
    *secs = 0;
    return true;
  }
  if (s[3] != '-' && s[3] != '+') return false;
  size_t i = 4;
  if (digits(s, n, &i, 9) == 0 || i + 1 != n) return false;
  long long v = 0;
  for (size_t k = 4; k < i; k++) v = v * 10 + (s[k] - '0');
  static const char units[] = "smhdw";
  static const long long mult[] = {1, 60, 3600, 86400, 604800};
  const char *u = strchr(units, s[i]);
  if (!u || !s[i]) return false;
  v *= mult[u - units];
  if (v > 3155760000LL) return false; /* 100 years: PostgreSQL's range is not far */
  *secs = s[3] == '-' ? -v : v;
  return true;
}

static void classify(acs__q_value *v) {
  v->number = is_number(v->text, v->len);
  v->boolean = -1;
  if (v->len == 4 && strncasecmp(v->text, "true", 4) == 0) v->boolean = 1;
  if (v->len == 5 && strncasecmp(v->text, "false", 5) == 0) v->boolean = 0;
  if (v->len == 1 && (v->text[0] == '1' || v->text[0] == '0')) v->boolean = v->text[0] == '1';
  if (parse_abs_time(v->text, v->len, v->abs, sizeof v->abs)) {
    v->time = true;
  } else if (parse_rel_time(v->text, v->len, &v->rel_s)) {
    v->time = v->time_rel = true;
  }
}

bool acs__q_time_parse(const char *text, size_t n, acs__q_value *v) {
  memset(v, 0, sizeof *v);
  v->text = text;
  v->len = n;
  if (memchr(text, '\0', n)) return false;
  classify(v);
  return v->time;
}

/* --- grammar */

static acs__q_node *parse_or(parser *p);

static acs__q_node *node(parser *p, acs__q_kind k, acs__q_node *a, acs__q_node *b) {
  acs__q_node *x = acs_arena_calloc(p->arena, 1, sizeof *x);
  if (!x) {
    nomem(p);
    return NULL;
  }
  x->kind = k, x->a = a, x->b = b;
  return x;
}

static const char ops_help[] =
    "=, !=, <, <=, >, >=, ~= (prefix), MATCHES or =~ (regular expression), CONTAINS, IN (...) "
    "or EXISTS";

/* One value token into v (classified), or false with the error set. */
static bool take_value(parser *p, acs__q_value *v) {
  if (p->t.kind != T_STRING && p->t.kind != T_WORD) {
    fail(p, p->t.pos, "expected a value, found %s (quote it: \"...\")", tok_name(&p->t));
    return false;
  }
  if (p->t.kind == T_WORD) {
    v->text = acs_arena_strndup(p->arena, p->t.text, p->t.len);
    if (!v->text) return nomem(p);
  } else {
    v->text = p->t.text;
  }
  v->len = p->t.len;
  if (memchr(v->text, '\0', v->len)) return fail(p, p->t.pos, "a value may not contain NUL");
  classify(v);
  return true;
}

/* IN '(' value { ',' value } ')' from the '(' (the current token). */
static bool parse_in_list(parser *p, acs__q_node *x) {
  if (p->t.kind != T_LPAREN)
    return fail(p, p->t.pos, "IN takes a list in parentheses: %s IN (a, b, \"c d\")", x->name);
  size_t open = p->t.pos;
  acs__q_value *vals = acs_arena_calloc(p->arena, ACS__Q_MAX_IN, sizeof *vals);
  if (!vals) return nomem(p);
  int n = 0;
  p->list = true;
  for (;;) {
    if (!next(p)) return false;
    if (n == ACS__Q_MAX_IN) return fail(p, p->t.pos, "more than %d values in IN", ACS__Q_MAX_IN);
    if (!take_value(p, &vals[n])) return false;
    n++;
    if (!next(p)) return false;
    if (p->t.kind == T_COMMA) continue;
    if (p->t.kind == T_RPAREN) break;
    return fail(p, p->t.pos, "expected ',' or ')' to close the IN list at %zu, found %s", open + 1,
                tok_name(&p->t));
  }
  p->list = false;
  x->in = vals;
  x->nin = n;
  x->v = vals[0];
  return next(p);
}

static acs__q_node *parse_pred(parser *p) {
  tok f = p->t;
  if (f.kind != T_WORD) {
    fail(p, f.pos, "expected a field (a device field or a parameter name), found %s", tok_name(&f));
    return NULL;
  }
  if (++p->preds > ACS__Q_MAX_PREDICATES) {
    fail(p, f.pos, "more than %d comparisons", ACS__Q_MAX_PREDICATES);
    return NULL;
  }
  acs__q_node *x = node(p, ACS__QN_PRED, NULL, NULL);
  if (!x) return NULL;
  x->pos = f.pos + 1;
  x->name = acs_arena_strndup(p->arena, f.text, f.len);
  if (!x->name) return nomem(p), NULL;
  if (memchr(f.text, '.', f.len)) {
    if (!valid_param_name(f.text, f.len)) {
      fail(p, f.pos, "'%.*s' is not a parameter name (letters, digits, _ - and single dots)",
           (int)(f.len > 80 ? 80 : f.len), f.text);
      return NULL;
    }
    x->field = ACS__QF_PARAM;
  } else {
    int k = acs__q_field_lookup(f.text, f.len);
    if (k < 0) {
      fail(p, f.pos,
           "unknown field '%.*s' (device fields: id, oui, product_class, serial_number, "
           "manufacturer, software_version, hardware_version, tag, last_inform, created_at, "
           "last_boot, last_bootstrap; parameter names contain a '.')",
           (int)(f.len > 64 ? 64 : f.len), f.text);
      return NULL;
    }
    x->field = (acs__q_field)k;
  }
  if (!next(p)) return NULL;
  if (p->t.kind == T_EXISTS) {
    x->op = ACS__QO_EXISTS;
    return next(p) ? x : NULL;
  }
  if (p->t.kind == T_WORD) { /* the operators that are words */
    if (word_is(&p->t, "matches")) {
      p->t.kind = T_OP, p->t.op = ACS__QO_REGEX;
    } else if (word_is(&p->t, "contains")) {
      p->t.kind = T_OP, p->t.op = ACS__QO_CONTAINS;
    } else if (word_is(&p->t, "in")) {
      p->t.kind = T_OP, p->t.op = ACS__QO_IN;
    }
  }
  if (p->t.kind != T_OP) {
    fail(p, p->t.pos, "expected %s after '%s', found %s", ops_help, x->name, tok_name(&p->t));
    return NULL;
  }
  x->op = p->t.op;
  size_t oppos = p->t.pos;
  if (x->field == ACS__QF_PARAM && acs_param_is_secret(f.text, f.len)) {
    /* a comparison would tell its value, one guess at a time */
    fail(p, oppos, "%s is a secret parameter: only EXISTS applies to it", x->name);
    return NULL;
  }
  bool textual = x->op == ACS__QO_PREFIX || x->op == ACS__QO_REGEX ||
                 x->op == ACS__QO_CONTAINS || x->op == ACS__QO_IN;
  if (x->field == ACS__QF_TAG && !textual && x->op != ACS__QO_EQ && x->op != ACS__QO_NE) {
    fail(p, oppos, "tag takes =, !=, ~=, MATCHES, CONTAINS, IN or EXISTS");
    return NULL;
  }
  if (is_time_field(x->field) && textual) {
    fail(p, oppos, "%s is a time: %.*s does not apply (only =, !=, <, <=, >, >= and EXISTS)",
         x->name, (int)p->t.len, p->t.text);
    return NULL;
  }
  if (!next(p)) return NULL;
  if (x->op == ACS__QO_IN) return parse_in_list(p, x) ? x : NULL;
  if (!take_value(p, &x->v)) return NULL;
  const char *star = memchr(x->v.text, '*', x->v.len);
  if ((x->op == ACS__QO_EQ || x->op == ACS__QO_NE) && p->t.kind == T_WORD && star) {
    /* serial_number = LDA* would match nothing, silently */
    fail(p, p->t.pos,
         "'*' is not a wildcard: for a prefix write %s ~= %.*s, for a pattern %s MATCHES "
         "'REGEX'; quote the value to compare a literal '*'",
         x->name, (int)(star - x->v.text), x->v.text, x->name);
    return NULL;
  }
  if (x->op == ACS__QO_REGEX && (x->v.len == 0 || x->v.len > ACS__Q_MAX_REGEX)) {
    fail(p, p->t.pos, "a regular expression is 1 to %d bytes", ACS__Q_MAX_REGEX);
    return NULL;
  }
  if (is_time_field(x->field) && !x->v.time) {
    fail(p, p->t.pos,
         "%s: expected an RFC 3339 time (2026-12-01T08:00:00Z), a date (2026-12-01) or a "
         "relative time within 100 years (now-1h; units s, m, h, d, w)",
         x->name);
    return NULL;
  }
  return next(p) ? x : NULL;
}

static acs__q_node *parse_unary(parser *p) {
  if (p->t.kind == T_NOT || p->t.kind == T_LPAREN) {
    if (++p->depth > ACS__Q_MAX_DEPTH) {
      fail(p, p->t.pos, "nested deeper than %d", ACS__Q_MAX_DEPTH);
      return NULL;
    }
    acs__q_node *x;
    if (p->t.kind == T_NOT) {
      if (!next(p)) return NULL;
      acs__q_node *a = parse_unary(p);
      x = a ? node(p, ACS__QN_NOT, a, NULL) : NULL;
    } else {
      size_t open = p->t.pos;
      if (!next(p)) return NULL;
      x = parse_or(p);
      if (x && p->t.kind != T_RPAREN) {
        fail(p, p->t.pos, "expected ')' to close the '(' at %zu, found %s", open + 1,
             tok_name(&p->t));
        return NULL;
      }
      if (x && !next(p)) return NULL;
    }
    p->depth--;
    return x;
  }
  return parse_pred(p);
}

static acs__q_node *parse_and(parser *p) {
  acs__q_node *x = parse_unary(p);
  while (x && p->t.kind == T_AND) {
    if (!next(p)) return NULL;
    acs__q_node *b = parse_unary(p);
    x = b ? node(p, ACS__QN_AND, x, b) : NULL;
  }
  return x;
}

static acs__q_node *parse_or(parser *p) {
  acs__q_node *x = parse_and(p);
  while (x && p->t.kind == T_OR) {
    if (!next(p)) return NULL;
    acs__q_node *b = parse_and(p);
    x = b ? node(p, ACS__QN_OR, x, b) : NULL;
  }
  return x;
}

int acs__q_parse(const char *q, size_t n, acs_arena *arena, acs__q_node **out, char *err,
                 size_t errlen) {
  parser p = {.s = q, .n = n, .arena = arena, .err = err, .errlen = errlen};
  *out = NULL;
  if (errlen) err[0] = '\0';
  if (n > ACS__Q_MAX_BYTES) {
    snprintf(err, errlen, "longer than %d bytes", ACS__Q_MAX_BYTES);
    return ACS_EINVAL;
  }
  for (size_t i = 0; i < n;) {
    size_t l = utf8_len((const unsigned char *)q + i, n - i);
    if (l == 0 || q[i] == '\0') {
      fail(&p, i, "not valid UTF-8 (or a NUL byte)");
      return p.rc;
    }
    i += l;
  }
  if (!next(&p)) return p.rc;
  if (p.t.kind == T_EOF) {
    fail(&p, 0, "empty query (leave q out to list every device)");
    return p.rc;
  }
  acs__q_node *x = parse_or(&p);
  if (x && p.t.kind != T_EOF) {
    fail(&p, p.t.pos, "expected AND, OR or the end of the query, found %s", tok_name(&p.t));
  }
  if (p.rc) return p.rc;
  *out = x;
  return 0;
}
