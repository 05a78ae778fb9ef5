/* strlib.c: the bounded string library (and utf8).
 *
 * Lua's count hook never fires inside a C function, so every function here
 * whose cost grows with its input charges the run's instruction budget for
 * it (about one unit per 64 bytes), and the ones that build strings from
 * small inputs cap their result: string.rep, string.format (widths and
 * precisions of at most two digits, as Lua 5.4 has it, and a capped result).
 * Strings are built with acs__sbuf, which needs no finalizer.
 * string.dump, string.pack, string.packsize and string.unpack are left out.
 * The pattern functions are in pattern.c. */
#include <lauxlib.h>
#include <string.h>

#include "script/script_internal.h"

/* --- the string builder (script_internal.h) */
void acs__sb_init(lua_State *L, acs__sbuf *b) {
  b->L = L;
  lua_pushnil(L);
  b->slot = lua_gettop(L);
  b->p = NULL;
  b->n = b->cap = 0;
}

char *acs__sb_reserve(acs__sbuf *b, size_t extra) {
  if (b->cap - b->n >= extra) return b->p + b->n;
  size_t cap = b->cap ? b->cap : 128;
  while (cap - b->n < extra) {
    if (cap > SIZE_MAX / 2) luaL_error(b->L, "string too large");
    cap *= 2;
  }
  char *p = lua_newuserdatauv(b->L, cap, 0);
  if (b->n) memcpy(p, b->p, b->n);
  lua_replace(b->L, b->slot);
  b->p = p;
  b->cap = cap;
  return p + b->n;
}

void acs__sb_add(acs__sbuf *b, const char *s, size_t n) {
  if (!n) return;
  memcpy(acs__sb_reserve(b, n), s, n);
  b->n += n;
}

void acs__sb_addvalue(acs__sbuf *b) {
  size_t n;
  const char *s = lua_tolstring(b->L, -1, &n);
  if (n) {
    char *d = acs__sb_reserve(b, n); /* the string stays on the stack: s stays valid */
    memcpy(d, s, n);
    b->n += n;
  }
  lua_pop(b->L, 1);
}

void acs__sb_result(acs__sbuf *b) {
  lua_pushlstring(b->L, b->p ? b->p : "", b->n);
  lua_replace(b->L, b->slot);
}

/* Lua's posrelatI / getendpos, for computing what a call will cost. */
static size_t acs__pos_start(lua_Integer pos, size_t len) {
  if (pos > 0) return (size_t)pos;
  if (pos == 0) return 1;
  if (pos < -(lua_Integer)len) return 1;
  return len + (size_t)pos + 1;
}

static size_t acs__pos_end(lua_Integer pos, size_t len) {
  if (pos > (lua_Integer)len) return len;
  if (pos >= 0) return (size_t)pos;
  if (pos < -(lua_Integer)len) return 0;
  return len + (size_t)pos + 1;
}

/* Length of s[i..j] as string.sub (j defaults to -1) or string.byte (j
 * defaults to i) would take it. */
static size_t acs__range_len(lua_State *L, size_t len, int j_is_i) {
  lua_Integer i = luaL_optinteger(L, 2, 1);
  lua_Integer j = luaL_optinteger(L, 3, j_is_i ? i : -1);
  size_t a = acs__pos_start(i, len), b = acs__pos_end(j, len);
  return a > b ? 0 : b - a + 1;
}

static int l_string_sub(lua_State *L) {
  size_t n;
  luaL_checklstring(L, 1, &n);
  luaL_checkinteger(L, 2);
  acs__charge(L, acs__bytes_units(acs__range_len(L, n, 0)));
  return acs__vm_of(L)->std.s_sub(L);
}

static int l_string_byte(lua_State *L) {
  size_t n;
  luaL_checklstring(L, 1, &n);
  acs__charge(L, 1 + acs__range_len(L, n, 1));
  return acs__vm_of(L)->std.s_byte(L);
}

static int l_string_char(lua_State *L) {
  acs__charge(L, 1 + (uint64_t)lua_gettop(L) / 16);
  return acs__vm_of(L)->std.s_char(L);
}

/* byte by byte, through a buffer: a unit per 16 bytes */
#define ACS__LINEAR(fname, field)       \
  static int fname(lua_State *L) {      \
    size_t n;                           \
    luaL_checklstring(L, 1, &n);        \
    acs__charge(L, 1 + n / 16);         \
    return acs__vm_of(L)->std.field(L); \
  }
ACS__LINEAR(l_string_lower, s_lower)
ACS__LINEAR(l_string_upper, s_upper)
ACS__LINEAR(l_string_reverse, s_reverse)
#undef ACS__LINEAR

static int l_string_len(lua_State *L) { return acs__vm_of(L)->std.s_len(L); }

static int l_string_rep(lua_State *L) {
  size_t l, lsep;
  const char *s = luaL_checklstring(L, 1, &l);
  lua_Integer n = luaL_checkinteger(L, 2);
  const char *sep = luaL_optlstring(L, 3, "", &lsep);
  size_t max = acs__limits_of(L)->max_string;
  if (n <= 0 || (l == 0 && lsep == 0)) {
    lua_pushliteral(L, "");
    return 1;
  }
  size_t total, seps;
  if ((uint64_t)n > SIZE_MAX || __builtin_mul_overflow(l, (size_t)n, &total) ||
      __builtin_mul_overflow(lsep, (size_t)n - 1, &seps) ||
      __builtin_add_overflow(total, seps, &total) || total > max)
    return luaL_error(L, "string.rep: result too large (at most %I bytes)", (lua_Integer)max);
  acs__charge(L, acs__bytes_units(total));
  acs__sbuf b;
  acs__sb_init(L, &b);
  char *p = acs__sb_reserve(&b, total);
  /* n - 1 times s..sep by doubling what is written (a copy per piece of a
   * one-byte string was the cost of a byte each), then s */
  if (n > 1) {
    size_t unit = l + lsep, want = unit * ((size_t)n - 1), done = unit;
    memcpy(p, s, l);
    memcpy(p + l, sep, lsep);
    while (done < want) {
      size_t c = done < want - done ? done : want - done;
      memcpy(p + done, p, c);
      done += c;
    }
    p += want;
  }
  memcpy(p, s, l);
  b.n = total;
  acs__sb_result(&b);
  return 1;
}

/* Widths and precisions of at most 2 digits (Lua 5.4 enforces the same;
 * checked here so that no library version can be talked into more). */
static int l_string_format(lua_State *L) {
  size_t fl;
  const char *f = luaL_checklstring(L, 1, &fl);
  const char *p = f, *e = f + fl;
  int arg = 1, top = lua_gettop(L);
  size_t max = acs__limits_of(L)->max_string;
  uint64_t pre = 0;
  while ((p = memchr(p, '%', (size_t)(e - p))) != NULL) {
    p++;
    if (p < e && *p == '%') {
      p++;
      continue;
    }
    arg++;
    while (p < e && *p && strchr("-+ #0", *p)) p++;
    int digits = 0;
    while (p < e && *p >= '0' && *p <= '9') p++, digits++;
    if (digits > 2) return luaL_error(L, "invalid conversion (width over 99) to 'format'");
    if (p < e && *p == '.') {
      p++;
      digits = 0;
      while (p < e && *p >= '0' && *p <= '9') p++, digits++;
      if (digits > 2) return luaL_error(L, "invalid conversion (precision over 99) to 'format'");
    }
    /* %s of a value with __tostring: call it here, so that no policy code
     * runs while Lua's format holds its buffer */
    if (p < e && *p == 's' && arg <= top && lua_type(L, arg) != LUA_TSTRING &&
        lua_type(L, arg) != LUA_TNUMBER) {
      luaL_tolstring(L, arg, NULL);
      lua_replace(L, arg);
    }
    /* what %s and %q read and write, paid before Lua's format does it: %q
     * writes at least its input and looks at every byte */
    if (p < e && (*p == 's' || *p == 'q') && arg <= top && lua_type(L, arg) == LUA_TSTRING) {
      size_t al = lua_rawlen(L, arg);
      if (*p == 'q' && al > max)
        return luaL_error(L, "string.format: result too large (at most %I bytes)",
                          (lua_Integer)max);
      pre += *p == 'q' ? 1 + al : acs__bytes_units(al); /* %q: per byte */
    }
  }
  acs__charge(L, acs__bytes_units(fl) + pre);
  int n = acs__vm_of(L)->std.s_format(L);
  size_t rl;
  lua_tolstring(L, -1, &rl);
  if (rl > max)
    return luaL_error(L, "string.format: result too large (at most %I bytes)", (lua_Integer)max);
  acs__charge(L, acs__bytes_units(rl));
  return n;
}

void acs__strlib_fill(lua_State *L, acs_script_vm *vm, int idx) {
  (void)vm;
  static const luaL_Reg funcs[] = {
      {"byte", l_string_byte},       {"char", l_string_char},
      {"format", l_string_format},   {"len", l_string_len},
      {"lower", l_string_lower},     {"upper", l_string_upper},
      {"reverse", l_string_reverse}, {"rep", l_string_rep},
      {"sub", l_string_sub},         {NULL, NULL},
  };
  lua_pushvalue(L, idx);
  luaL_setfuncs(L, funcs, 0);
  lua_pop(L, 1);
  acs__pattern_fill(L, idx);
}

/* --- utf8 */
static int l_utf8_len(lua_State *L) {
  size_t n;
  luaL_checklstring(L, 1, &n);
  acs__charge(L, 1 + n / 16); /* decoded byte by byte */
  return acs__vm_of(L)->std.u_len(L);
}

static int l_utf8_offset(lua_State *L) {
  size_t n;
  luaL_checklstring(L, 1, &n);
  acs__charge(L, acs__bytes_units(n));
  return acs__vm_of(L)->std.u_offset(L);
}

static int l_utf8_codepoint(lua_State *L) {
  size_t n;
  luaL_checklstring(L, 1, &n);
  acs__charge(L, 1 + acs__range_len(L, n, 1));
  return acs__vm_of(L)->std.u_codepoint(L);
}

static int l_utf8_char(lua_State *L) {
  acs__charge(L, 1 + (uint64_t)lua_gettop(L) / 16);
  return acs__vm_of(L)->std.u_char(L);
}

static int l_utf8_codes(lua_State *L) { return acs__vm_of(L)->std.u_codes(L); }

void acs__utf8_fill(lua_State *L, acs_script_vm *vm, int idx) {
  (void)vm;
  static const luaL_Reg funcs[] = {
      {"len", l_utf8_len},   {"offset", l_utf8_offset}, {"codepoint", l_utf8_codepoint},
      {"char", l_utf8_char}, {"codes", l_utf8_codes},   {NULL, NULL},
  };
  lua_pushvalue(L, idx);
  luaL_setfuncs(L, funcs, 0);
  lua_pop(L, 1);
}
