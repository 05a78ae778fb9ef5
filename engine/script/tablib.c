/* tablib.c: the bounded table library.
 *
 * Written here rather than wrapped because the cost of Lua's versions
 * depends on lengths that a policy controls (a __len metamethod, or a range
 * like table.move(t, 1, 2^62, 2)), and their loops run without the count
 * hook: every function reads a length once, charges the run for the work
 * before doing it, and then does exactly that work. table.concat caps its
 * result; table.sort is a heap sort (O(n log n) whatever the comparator
 * does; an inconsistent comparator gives some order instead of an error).
 * Arguments must be tables (Lua also accepts objects with metamethods). */
#include <lauxlib.h>
#include <limits.h>
#include <string.h>

#include "script/script_internal.h"

static lua_Integer acs__len(lua_State *L, int idx) {
  luaL_checktype(L, idx, LUA_TTABLE);
  return luaL_len(L, idx);
}

static int l_table_insert(lua_State *L) {
  lua_Integer e = acs__len(L, 1);
  e = (lua_Integer)((lua_Unsigned)e + 1u); /* first empty slot */
  lua_Integer pos;
  switch (lua_gettop(L)) {
    case 2:
      pos = e;
      break;
    case 3:
      pos = luaL_checkinteger(L, 2);
      luaL_argcheck(L, (lua_Unsigned)pos - 1u < (lua_Unsigned)e, 2, "position out of bounds");
      acs__charge(L, 1 + (uint64_t)(e - pos));
      for (lua_Integer i = e; i > pos; i--) {
        lua_geti(L, 1, i - 1);
        lua_seti(L, 1, i);
      }
      break;
    default:
      return luaL_error(L, "wrong number of arguments to 'insert'");
  }
  lua_seti(L, 1, pos);
  return 0;
}

static int l_table_remove(lua_State *L) {
  lua_Integer size = acs__len(L, 1);
  lua_Integer pos = luaL_optinteger(L, 2, size);
  if (pos != size)
    luaL_argcheck(L, (lua_Unsigned)pos - 1u <= (lua_Unsigned)size, 2, "position out of bounds");
  lua_geti(L, 1, pos);
  if (size > pos) acs__charge(L, 1 + (uint64_t)(size - pos));
  for (; pos < size; pos++) {
    lua_geti(L, 1, pos + 1);
    lua_seti(L, 1, pos);
  }
  lua_pushnil(L);
  lua_seti(L, 1, pos);
  return 1;
}

static int l_table_move(lua_State *L) {
  lua_Integer f = luaL_checkinteger(L, 2), e = luaL_checkinteger(L, 3);
  lua_Integer t = luaL_checkinteger(L, 4);
  int tt = !lua_isnoneornil(L, 5) ? 5 : 1;
  luaL_checktype(L, 1, LUA_TTABLE);
  luaL_checktype(L, tt, LUA_TTABLE);
  if (e >= f) {
    luaL_argcheck(L, f > 0 || e < LUA_MAXINTEGER + f, 3, "too many elements to move");
    lua_Integer n = e - f + 1;
    luaL_argcheck(L, t <= LUA_MAXINTEGER - n + 1, 4, "destination wrap around");
    acs__charge(L, (uint64_t)n);
    if (t > e || t <= f || (tt != 1 && !lua_compare(L, 1, tt, LUA_OPEQ))) {
      for (lua_Integer i = 0; i < n; i++) {
        lua_geti(L, 1, f + i);
        lua_seti(L, tt, t + i);
      }
    } else {
      for (lua_Integer i = n - 1; i >= 0; i--) {
        lua_geti(L, 1, f + i);
        lua_seti(L, tt, t + i);
      }
    }
  }
  lua_pushvalue(L, tt);
  return 1;
}

static int l_table_unpack(lua_State *L) {
  lua_Integer i = luaL_optinteger(L, 2, 1);
  lua_Integer e = lua_isnoneornil(L, 3) ? acs__len(L, 1) : luaL_checkinteger(L, 3);
  if (i > e) return 0;
  lua_Unsigned n = (lua_Unsigned)e - (lua_Unsigned)i;
  if (n >= (unsigned)INT_MAX || !lua_checkstack(L, (int)(++n)))
    return luaL_error(L, "too many results to unpack");
  acs__charge(L, (uint64_t)n);
  for (; i < e; i++) lua_geti(L, 1, i);
  lua_geti(L, 1, e);
  return (int)n;
}

static int l_table_pack(lua_State *L) {
  acs__charge(L, 1 + (uint64_t)lua_gettop(L));
  return acs__vm_of(L)->std.tpack(L);
}

static int l_table_concat(lua_State *L) {
  size_t lsep;
  lua_Integer last = acs__len(L, 1);
  const char *sep = luaL_optlstring(L, 2, "", &lsep);
  lua_Integer i = luaL_optinteger(L, 3, 1);
  last = luaL_optinteger(L, 4, last);
  size_t max = acs__limits_of(L)->max_string;
  acs__sbuf b;
  acs__sb_init(L, &b);
  for (; i <= last; i++) {
    acs__charge(L, 1);
    lua_geti(L, 1, i);
    if (!lua_isstring(L, -1))
      return luaL_error(L, "invalid value (at index %I) in table for 'concat'", i);
    size_t n;
    lua_tolstring(L, -1, &n);
    if (b.n + n + (i < last ? lsep : 0) > max)
      return luaL_error(L, "table.concat: result too large (at most %I bytes)", (lua_Integer)max);
    acs__charge(L, n / 64);
    acs__sb_addvalue(&b);
    if (i == last) break;
    acs__sb_add(&b, sep, lsep);
  }
  acs__sb_result(&b);
  return 1;
}

/* --- heap sort over t[1..n], comparing with comp (index 2) or '<' */
/* Two strings compare byte by byte as Lua's '<' does in the C locale (the
 * engine never sets another), charged by the length compared: Lua's own
 * comparison runs strcoll once per NUL-separated segment, which made a
 * sort of long strings full of NULs cost far more than it was charged. */
static int acs__str_lt(lua_State *L, int a, int b) {
  size_t la, lb;
  const char *sa = lua_tolstring(L, a, &la), *sb = lua_tolstring(L, b, &lb);
  size_t n = la < lb ? la : lb;
  acs__charge(L, acs__bytes_units(n));
  int c = memcmp(sa, sb, n);
  return c < 0 || (c == 0 && la < lb);
}

static int acs__sort_lt(lua_State *L, int a, int b) {
  if (lua_isnil(L, 2)) {
    if (lua_type(L, a) == LUA_TSTRING && lua_type(L, b) == LUA_TSTRING) return acs__str_lt(L, a, b);
    return lua_compare(L, a, b, LUA_OPLT);
  }
  lua_pushvalue(L, 2);
  lua_pushvalue(L, a - 1);
  lua_pushvalue(L, b - 2);
  lua_call(L, 2, 1);
  int r = lua_toboolean(L, -1);
  lua_pop(L, 1);
  return r;
}

/* Restores the heap property below root in t[1..end]. */
static void acs__sift(lua_State *L, lua_Integer root, lua_Integer end) {
  for (;;) {
    lua_Integer child = root * 2;
    if (child > end) return;
    acs__charge(L, 2);
    lua_geti(L, 1, child);
    if (child + 1 <= end) {
      lua_geti(L, 1, child + 1);
      if (acs__sort_lt(L, -2, -1)) {
        lua_remove(L, -2);
        child++;
      } else {
        lua_pop(L, 1);
      }
    }
    lua_geti(L, 1, root); /* child value, root value */
    if (!acs__sort_lt(L, -1, -2)) {
      lua_pop(L, 2);
      return;
    }
    lua_seti(L, 1, child);
    lua_seti(L, 1, root);
    root = child;
  }
}

static int l_table_sort(lua_State *L) {
  lua_Integer n = acs__len(L, 1);
  if (n > 1) {
    luaL_argcheck(L, n < INT_MAX, 1, "array too big");
    if (!lua_isnoneornil(L, 2)) luaL_checktype(L, 2, LUA_TFUNCTION);
    lua_settop(L, 2);
    luaL_checkstack(L, 8, NULL);
    uint64_t lg = 1;
    while (((uint64_t)1 << lg) < (uint64_t)n) lg++;
    acs__charge(L, (uint64_t)n * lg);
    for (lua_Integer r = n / 2; r >= 1; r--) acs__sift(L, r, n);
    for (lua_Integer end = n; end > 1; end--) {
      lua_geti(L, 1, 1);
      lua_geti(L, 1, end);
      lua_seti(L, 1, 1);
      lua_seti(L, 1, end);
      acs__sift(L, 1, end - 1);
    }
  }
  return 0;
}

void acs__tablib_fill(lua_State *L, int idx) {
  static const luaL_Reg funcs[] = {
      {"concat", l_table_concat}, {"insert", l_table_insert},
      {"move", l_table_move},     {"pack", l_table_pack},
      {"remove", l_table_remove}, {"sort", l_table_sort},
      {"unpack", l_table_unpack}, {NULL, NULL},
  };
  lua_pushvalue(L, idx);
  luaL_setfuncs(L, funcs, 0);
  lua_pop(L, 1);
}
