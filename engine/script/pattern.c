/* pattern.c: string.find, match, gmatch and gsub with Lua 5.4 pattern
 * semantics and a step budget.
 *
 * Lua's matcher backtracks and runs inside one C call, where the count hook
 * never fires: "a?a?...aaa" against "aaa..." takes 2^n steps. This matcher
 * counts a step for every pattern item it tries (and for every character an
 * expansion or %b scans); each call may take limits.pattern_steps plus 16
 * per subject byte, and its steps are charged to the run's instruction
 * budget as it goes. Past the per-call cap the channel is killed with
 * script.pattern ("pattern too complex"); past the run's budget, with
 * script.timeout. Recursion is bounded too (200 levels, as in Lua; past it
 * the channel is killed with script.pattern as well). Plain finds (plain = true, or no special
 * characters) are a memmem. */
#include <ctype.h>
#include <lauxlib.h>
#include <string.h>

#include "script/script_internal.h"

#define PAT_ESC '%'
#define PAT_MAXCAP 32
#define PAT_MAXDEPTH 200
#define PAT_UNFINISHED (-1)
#define PAT_POSITION (-2)

typedef struct pat_state {
  lua_State *L;
  const char *s0, *se; /* subject */
  const char *pe;      /* end of pattern */
  int depth;           /* recursion levels left */
  int level;           /* captures open or closed */
  uint64_t steps, cap;
  uint32_t unpaid; /* steps not yet charged to the run */
  struct {
    const char *at;
    ptrdiff_t len; /* or PAT_UNFINISHED / PAT_POSITION */
  } caps[PAT_MAXCAP];
} pat_state;

static void pat_prepare(pat_state *ms, lua_State *L, const char *s, size_t ls, const char *p,
                        size_t lp) {
  ms->L = L;
  ms->s0 = s;
  ms->se = s + ls;
  ms->pe = p + lp;
  ms->steps = 0;
  ms->unpaid = 0;
  ms->cap = acs__limits_of(L)->pattern_steps + 16 * (uint64_t)ls;
  ms->level = 0;
  ms->depth = PAT_MAXDEPTH;
}

static void pat_restart(pat_state *ms) {
  ms->level = 0;
  ms->depth = PAT_MAXDEPTH;
}

/* Charges what is still unpaid (at the end of a call, before calling Lua). */
static void pat_settle(pat_state *ms) {
  if (ms->unpaid) {
    uint32_t n = ms->unpaid;
    ms->unpaid = 0;
    acs__charge(ms->L, n);
  }
}

static void pat_too_complex(pat_state *ms, int deep) {
  acs_script_chan *ch = acs__chan_of(ms->L);
  if (ch) {
    if (deep)
      acs__kill(ch, ACS_SCRIPT_FAULT_PATTERN, "pattern too complex (nested over %d levels)",
                PAT_MAXDEPTH);
    else
      acs__kill(ch, ACS_SCRIPT_FAULT_PATTERN, "pattern too complex (over %llu steps in one call)",
                (unsigned long long)ms->cap);
    acs__kill_raise(ms->L, ch);
  }
  luaL_error(ms->L, "pattern too complex");
}

static inline void pat_steps(pat_state *ms, uint32_t n) {
  ms->steps += n;
  if (ms->steps > ms->cap) pat_too_complex(ms, 0);
  ms->unpaid += n;
  if (ms->unpaid >= 1024) pat_settle(ms);
}
static inline void pat_step(pat_state *ms) { pat_steps(ms, 1); }

/* A set scan costs a step per 16 bytes of the set: "[" .. 100 KiB .. "]"
 * tested against every subject byte is that much work. */
static inline void pat_set_steps(pat_state *ms, const char *p, const char *ep) {
  if (*p == '[') pat_steps(ms, (uint32_t)((size_t)(ep - p) / 16));
}

/* --- single items */

/* Past the item at p: a character, %x, or a [set]. */
static const char *pat_item_end(pat_state *ms, const char *p) {
  char c = *p++;
  if (c == PAT_ESC) {
    if (p >= ms->pe) luaL_error(ms->L, "malformed pattern (ends with '%%')");
    return p + 1;
  }
  if (c == '[') {
    if (p < ms->pe && *p == '^') p++;
    do { /* the first character of a set, even ']', is a member */
      if (p >= ms->pe) luaL_error(ms->L, "malformed pattern (missing ']')");
      c = *p++;
      if (c == PAT_ESC && p < ms->pe) p++;
    } while (p >= ms->pe || *p != ']');
    return p + 1;
  }
  return p;
}

/* Does c belong to class %cl? */
static int pat_class(int c, int cl) {
  int r;
  switch (tolower(cl)) {
    case 'a':
      r = isalpha(c);
      break;
    case 'c':
      r = iscntrl(c);
      break;
    case 'd':
      r = isdigit(c);
      break;
    case 'g':
      r = isgraph(c);
      break;
    case 'l':
      r = islower(c);
      break;
    case 'p':
      r = ispunct(c);
      break;
    case 's':
      r = isspace(c);
      break;
    case 'u':
      r = isupper(c);
      break;
    case 'w':
      r = isalnum(c);
      break;
    case 'x':
      r = isxdigit(c);
      break;
    case 'z':
      r = c == 0;
      break; /* deprecated in Lua, still there */
    default:
      return cl == c;
  }
  r = r != 0;
  return isupper(cl) ? !r : r;
}

/* Does c belong to the set [p .. close], p at '[' and close at ']'? */
static int pat_in_set(int c, const char *p, const char *close) {
  int in = 1;
  p++;
  if (*p == '^') {
    in = 0;
    p++;
  }
  for (; p < close; p++) {
    if (*p == PAT_ESC) {
      p++;
      if (pat_class(c, (unsigned char)*p)) return in;
    } else if (p + 2 < close && p[1] == '-') {
      if ((unsigned char)p[0] <= c && c <= (unsigned char)p[2]) return in;
      p += 2;
    } else if ((unsigned char)*p == c) {
      return in;
    }
  }
  return !in;
}

/* Does the subject character at s match the item [p, ep)? */
static int pat_single(pat_state *ms, const char *s, const char *p, const char *ep) {
  if (s >= ms->se) return 0;
  int c = (unsigned char)*s;
  switch (*p) {
    case '.':
      return 1;
    case PAT_ESC:
      return pat_class(c, (unsigned char)p[1]);
    case '[':
      pat_set_steps(ms, p, ep);
      return pat_in_set(c, p, ep - 1);
    default:
      return (unsigned char)*p == c;
  }
}

/* --- the matcher: end of the match of [p, pe) at s, or NULL */
static const char *pat_match(pat_state *ms, const char *s, const char *p);

static const char *pat_greedy(pat_state *ms, const char *s, const char *p, const char *ep) {
  ptrdiff_t n = 0;
  while (pat_single(ms, s + n, p, ep)) {
    pat_step(ms);
    n++;
  }
  for (; n >= 0; n--) { /* longest first, then give back one at a time */
    const char *r = pat_match(ms, s + n, ep + 1);
    if (r) return r;
  }
  return NULL;
}

static const char *pat_lazy(pat_state *ms, const char *s, const char *p, const char *ep) {
  for (;;) {
    const char *r = pat_match(ms, s, ep + 1);
    if (r) return r;
    if (!pat_single(ms, s, p, ep)) return NULL;
    s++;
  }
}

static const char *pat_open(pat_state *ms, const char *s, const char *p, ptrdiff_t what) {
  if (ms->level >= PAT_MAXCAP) luaL_error(ms->L, "too many captures");
  ms->caps[ms->level].at = s;
  ms->caps[ms->level].len = what;
  ms->level++;
  const char *r = pat_match(ms, s, p);
  if (!r) ms->level--;
  return r;
}

static const char *pat_close(pat_state *ms, const char *s, const char *p) {
  int l = ms->level - 1;
  while (l >= 0 && ms->caps[l].len != PAT_UNFINISHED) l--;
  if (l < 0) luaL_error(ms->L, "invalid pattern capture");
  ms->caps[l].len = s - ms->caps[l].at;
  const char *r = pat_match(ms, s, p);
  if (!r) ms->caps[l].len = PAT_UNFINISHED;
  return r;
}

/* %bxy at p (p after "%b") */
static const char *pat_balance(pat_state *ms, const char *s, const char *p) {
  if (p + 1 >= ms->pe) luaL_error(ms->L, "malformed pattern (missing arguments to '%%b')");
  if (s >= ms->se || *s != p[0]) return NULL;
  char open = p[0], close = p[1];
  int depth = 1;
  while (++s < ms->se) {
    pat_step(ms);
    if (*s == close) {
      if (--depth == 0) return s + 1;
    } else if (*s == open) {
      depth++;
    }
  }
  return NULL;
}

/* %1..%9: the text of an earlier capture again */
static const char *pat_backref(pat_state *ms, const char *s, int digit) {
  int l = digit - '1';
  if (l < 0 || l >= ms->level || ms->caps[l].len == PAT_UNFINISHED)
    luaL_error(ms->L, "invalid capture index %%%d", l + 1);
  ptrdiff_t len = ms->caps[l].len;
  if (len < 0 || ms->se - s < len || memcmp(ms->caps[l].at, s, (size_t)len) != 0) return NULL;
  pat_steps(ms, (uint32_t)((size_t)len / 64));
  return s + len;
}

static const char *pat_match(pat_state *ms, const char *s, const char *p) {
  if (ms->depth-- == 0) pat_too_complex(ms, 1);
  for (;;) {
    pat_step(ms);
    if (p >= ms->pe) break; /* end of pattern: matched */
    if (*p == '(') {
      if (p + 1 < ms->pe && p[1] == ')')
        s = pat_open(ms, s, p + 2, PAT_POSITION);
      else
        s = pat_open(ms, s, p + 1, PAT_UNFINISHED);
      break;
    }
    if (*p == ')') {
      s = pat_close(ms, s, p + 1);
      break;
    }
    if (*p == '$' && p + 1 == ms->pe) { /* anchored at the end */
      if (s != ms->se) s = NULL;
      break;
    }
    if (*p == PAT_ESC && p + 1 < ms->pe) {
      char e = p[1];
      if (e == 'b') {
        s = pat_balance(ms, s, p + 2);
        if (!s) break;
        p += 4;
        continue;
      }
      if (e == 'f') { /* frontier: previous character outside the set, this one inside */
        p += 2;
        if (p >= ms->pe || *p != '[') luaL_error(ms->L, "missing '[' after '%%f' in pattern");
        const char *ep = pat_item_end(ms, p);
        pat_steps(ms, 1 + 3 * (uint32_t)((size_t)(ep - p) / 16)); /* the end, then two scans */
        int prev = s == ms->s0 ? 0 : (unsigned char)s[-1];
        int cur = s < ms->se ? (unsigned char)*s : 0;
        if (!pat_in_set(prev, p, ep - 1) && pat_in_set(cur, p, ep - 1)) {
          p = ep;
          continue;
        }
        s = NULL;
        break;
      }
      if (e >= '0' && e <= '9') {
        s = pat_backref(ms, s, (unsigned char)e);
        if (!s) break;
        p += 2;
        continue;
      }
    }
    /* one item, maybe with a quantifier */
    const char *ep = pat_item_end(ms, p);
    pat_set_steps(ms, p, ep); /* finding its end scanned the set */
    char q = ep < ms->pe ? *ep : '\0';
    if (!pat_single(ms, s, p, ep)) {
      if (q == '*' || q == '?' || q == '-') { /* zero repetitions will do */
        p = ep + 1;
        continue;
      }
      s = NULL;
      break;
    }
    if (q == '?') {
      const char *r = pat_match(ms, s + 1, ep + 1);
      if (r) {
        s = r;
        break;
      }
      p = ep + 1;
      continue;
    }
    if (q == '+') {
      s = pat_greedy(ms, s + 1, p, ep);
      break;
    }
    if (q == '*') {
      s = pat_greedy(ms, s, p, ep);
      break;
    }
    if (q == '-') {
      s = pat_lazy(ms, s, p, ep);
      break;
    }
    s++;
    p = ep;
  }
  ms->depth++;
  return s;
}

/* --- captures */

/* Capture i; with no captures, capture 0 is the whole match [s, e). */
static void pat_push_capture(pat_state *ms, int i, const char *s, const char *e) {
  if (i >= ms->level) {
    if (i != 0) luaL_error(ms->L, "invalid capture index %%%d", i + 1);
    lua_pushlstring(ms->L, s, (size_t)(e - s));
    return;
  }
  ptrdiff_t l = ms->caps[i].len;
  if (l == PAT_UNFINISHED) luaL_error(ms->L, "unfinished capture");
  if (l == PAT_POSITION)
    lua_pushinteger(ms->L, (ms->caps[i].at - ms->s0) + 1);
  else
    lua_pushlstring(ms->L, ms->caps[i].at, (size_t)l);
}

/* All captures (or the whole match if s is not NULL and there are none). */
static int pat_push_captures(pat_state *ms, const char *s, const char *e) {
  int n = (ms->level == 0 && s) ? 1 : ms->level;
  luaL_checkstack(ms->L, n, "too many captures");
  for (int i = 0; i < n; i++) pat_push_capture(ms, i, s, e);
  return n;
}

/* --- the library functions */
static size_t pat_start(lua_Integer pos, size_t len) {
  if (pos > 0) return (size_t)pos;
  if (pos == 0) return 1;
  if (pos < -(lua_Integer)len) return 1;
  return len + (size_t)pos + 1;
}

static int pat_has_specials(const char *p, size_t l) {
  for (size_t i = 0; i < l; i++)
    if (p[i] && strchr("^$*+?.([%-", p[i])) return 1;
  return 0;
}

static int pat_find_aux(lua_State *L, int find) {
  size_t ls, lp;
  const char *s = luaL_checklstring(L, 1, &ls);
  const char *p = luaL_checklstring(L, 2, &lp);
  size_t init = pat_start(luaL_optinteger(L, 3, 1), ls) - 1;
  if (init > ls) {
    lua_pushnil(L);
    return 1;
  }
  if (find && (lua_toboolean(L, 4) || !pat_has_specials(p, lp))) {
    acs__charge(L, 1 + (ls - init) / 16 + lp / 16);
    const char *r = lp == 0 ? s + init : memmem(s + init, ls - init, p, lp);
    if (r) {
      lua_pushinteger(L, (r - s) + 1);
      lua_pushinteger(L, (lua_Integer)((size_t)(r - s) + lp));
      return 2;
    }
    lua_pushnil(L);
    return 1;
  }
  pat_state ms;
  int anchor = lp > 0 && *p == '^';
  if (anchor) p++, lp--;
  pat_prepare(&ms, L, s, ls, p, lp);
  const char *s1 = s + init;
  do {
    pat_restart(&ms);
    const char *e = pat_match(&ms, s1, p);
    if (e) {
      pat_settle(&ms);
      if (find) {
        lua_pushinteger(L, (s1 - s) + 1);
        lua_pushinteger(L, e - s);
        return pat_push_captures(&ms, NULL, NULL) + 2;
      }
      return pat_push_captures(&ms, s1, e);
    }
  } while (s1++ < ms.se && !anchor);
  pat_settle(&ms);
  lua_pushnil(L);
  return 1;
}

static int l_string_find(lua_State *L) { return pat_find_aux(L, 1); }
static int l_string_match(lua_State *L) { return pat_find_aux(L, 0); }

typedef struct pat_gm {
  size_t pos;     /* where the next search starts */
  ptrdiff_t last; /* end of the last match, -1: none */
} pat_gm;

static int pat_gmatch_next(lua_State *L) {
  size_t ls, lp;
  const char *s = lua_tolstring(L, lua_upvalueindex(1), &ls);
  const char *p = lua_tolstring(L, lua_upvalueindex(2), &lp);
  pat_gm *gm = lua_touserdata(L, lua_upvalueindex(3));
  if (gm->pos > ls) return 0;
  pat_state ms;
  pat_prepare(&ms, L, s, ls, p, lp);
  for (const char *src = s + gm->pos; src <= ms.se; src++) {
    pat_restart(&ms);
    const char *e = pat_match(&ms, src, p);
    if (e && (gm->last < 0 || e != s + gm->last)) {
      gm->pos = (size_t)(e - s);
      gm->last = e - s;
      pat_settle(&ms);
      return pat_push_captures(&ms, src, e);
    }
  }
  gm->pos = ls + 1;
  pat_settle(&ms);
  return 0;
}

/* gmatch(s, pattern [, init]); as in Lua 5.4, '^' is not an anchor here. */
static int l_string_gmatch(lua_State *L) {
  size_t ls, lp;
  luaL_checklstring(L, 1, &ls);
  luaL_checklstring(L, 2, &lp);
  size_t init = pat_start(luaL_optinteger(L, 3, 1), ls) - 1;
  if (init > ls) init = ls + 1;
  lua_settop(L, 2);
  pat_gm *gm = lua_newuserdatauv(L, sizeof *gm, 0);
  gm->pos = init;
  gm->last = -1;
  lua_pushcclosure(L, pat_gmatch_next, 3);
  return 1;
}

/* The replacement string at index 3, with %0..%9 and %%. */
static void pat_add_string(pat_state *ms, acs__sbuf *b, const char *s, const char *e) {
  size_t l;
  const char *r = lua_tolstring(ms->L, 3, &l), *end = r + l, *p;
  while ((p = memchr(r, PAT_ESC, (size_t)(end - r))) != NULL) {
    acs__sb_add(b, r, (size_t)(p - r));
    p++;
    if (p < end && *p == PAT_ESC) {
      acs__sb_add(b, p, 1);
    } else if (p < end && *p == '0') {
      acs__sb_add(b, s, (size_t)(e - s));
    } else if (p < end && isdigit((unsigned char)*p)) {
      pat_push_capture(ms, *p - '1', s, e); /* a position capture is a number */
      acs__sb_addvalue(b);
    } else {
      luaL_error(ms->L, "invalid use of '%c' in replacement string", PAT_ESC);
    }
    r = p + 1;
  }
  acs__sb_add(b, r, (size_t)(end - r));
}

/* Adds the replacement of [s, e); returns whether it differs from the match. */
static int pat_add_value(pat_state *ms, acs__sbuf *b, const char *s, const char *e, int tr) {
  lua_State *L = ms->L;
  if (tr == LUA_TFUNCTION) {
    pat_settle(ms);
    lua_pushvalue(L, 3);
    int n = pat_push_captures(ms, s, e);
    lua_call(L, n, 1);
  } else if (tr == LUA_TTABLE) {
    pat_settle(ms);
    pat_push_capture(ms, 0, s, e);
    lua_gettable(L, 3);
  } else {
    pat_add_string(ms, b, s, e);
    return 1;
  }
  if (!lua_toboolean(L, -1)) {
    lua_pop(L, 1);
    acs__sb_add(b, s, (size_t)(e - s));
    return 0;
  }
  if (!lua_isstring(L, -1))
    return luaL_error(L, "invalid replacement value (a %s)", luaL_typename(L, -1));
  acs__sb_addvalue(b);
  return 1;
}

static int l_string_gsub(lua_State *L) {
  size_t ls, lp;
  const char *src = luaL_checklstring(L, 1, &ls);
  const char *p = luaL_checklstring(L, 2, &lp);
  const char *last = NULL;
  int tr = lua_type(L, 3);
  lua_Integer max_n = luaL_optinteger(L, 4, (lua_Integer)ls + 1);
  luaL_argexpected(
      L, tr == LUA_TNUMBER || tr == LUA_TSTRING || tr == LUA_TFUNCTION || tr == LUA_TTABLE, 3,
      "string/function/table");
  size_t max = acs__limits_of(L)->max_string;
  int anchor = lp > 0 && *p == '^', changed = 0;
  lua_Integer n = 0;
  if (anchor) p++, lp--;
  lua_settop(L, 3);
  acs__sbuf b;
  acs__sb_init(L, &b);
  pat_state ms;
  pat_prepare(&ms, L, src, ls, p, lp);
  while (n < max_n) {
    pat_restart(&ms);
    const char *e = pat_match(&ms, src, p);
    if (e && e != last) {
      n++;
      changed = pat_add_value(&ms, &b, src, e, tr) | changed;
      src = last = e;
    } else if (src < ms.se) {
      acs__sb_add(&b, src++, 1);
    } else {
      break;
    }
    if (b.n > max)
      return luaL_error(L, "string.gsub: result too large (at most %I bytes)", (lua_Integer)max);
    if (anchor) break;
  }
  pat_settle(&ms);
  if (!changed) {
    lua_pushvalue(L, 1);
  } else {
    if (b.n + (size_t)(ms.se - src) > max)
      return luaL_error(L, "string.gsub: result too large (at most %I bytes)", (lua_Integer)max);
    acs__sb_add(&b, src, (size_t)(ms.se - src));
    acs__charge(L, acs__bytes_units(b.n));
    acs__sb_result(&b);
  }
  lua_pushinteger(L, n);
  return 2;
}

void acs__pattern_fill(lua_State *L, int idx) {
  static const luaL_Reg funcs[] = {
      {"find", l_string_find},
      {"match", l_string_match},
      {"gmatch", l_string_gmatch},
      {"gsub", l_string_gsub},
      {NULL, NULL},
  };
  lua_pushvalue(L, idx);
  luaL_setfuncs(L, funcs, 0);
  lua_pop(L, 1);
}
