/* load.c: compiling policies into generations.
 *
 * A policy is text (mode "t"; a chunk starting with the binary signature is
 * refused before Lua sees it). It is compiled twice: once as it is, for the
 * syntax check and its messages ("name:line: message"), and once wrapped as
 *     return function(_ENV, ...) <text>\nend
 * on the same first line, so line numbers do not move. Since the text
 * compiled as a chunk on its own, it is a complete block and cannot close
 * the wrapper early; calling the wrapper's chunk only creates the function
 * (no policy code runs at load time), and that function has no upvalues at
 * all: each channel calls it with its run's environment as _ENV, so one
 * compiled function serves every run and no run's globals can leak.
 *
 * Lua 5.4.4 miscompiles a local _ENV declared <const> (fixed in 5.4.5), so
 * a policy in which _ENV is followed by an attribute is refused.
 *
 * A generation is a table name -> function in the registry; loading builds
 * a new one and swaps it in only when everything compiled (and its library
 * chunks ran). Runs keep the generation they started with.
 *
 * Library chunks (acs_script_chunk.library) are compiled the same way but
 * called once, here, with a _ENV that is the calling run's environment
 * whenever their functions run later (sandbox.c): the functions are shared
 * by every run of the generation, their globals (frozen) are read after a
 * run's own, and what they keep per run goes to the run's private table
 * (the library's one argument), never to an upvalue. */
#include <lauxlib.h>
#include <stdio.h>
#include <string.h>

#include "core/acs_err.h"
#include "script/script_internal.h"

int acs__check_name(const char *name) {
  if (!name || !*name) return ACS_EINVAL;
  size_t n = strlen(name);
  if (n >= sizeof(((acs_script_chan *)0)->policy)) return ACS_EINVAL;
  for (size_t i = 0; i < n; i++)
    if ((unsigned char)name[i] < 0x20 || name[i] == 0x7f) return ACS_EINVAL;
  return 0;
}

/* --- a small lexer: finds the name _ENV followed by '<' (an attribute),
 * skipping comments and strings. The text has compiled, so it is
 * well-formed. Returns the line of the offence or 0. */
static size_t acs__long_bracket(const char *p, const char *e) {
  /* p at '[': level of "[==[" or (size_t)-1 */
  size_t lvl = 0;
  const char *q = p + 1;
  while (q < e && *q == '=') q++, lvl++;
  return (q < e && *q == '[') ? lvl : (size_t)-1;
}

static const char *acs__skip_long(const char *p, const char *e, size_t lvl, int *line) {
  /* p after the opening bracket; returns past the closing one */
  while (p < e) {
    if (*p == '\n') (*line)++;
    if (*p == ']') {
      const char *q = p + 1;
      size_t n = 0;
      while (q < e && *q == '=') q++, n++;
      if (n == lvl && q < e && *q == ']') return q + 1;
    }
    p++;
  }
  return e;
}

/* Skips whitespace and comments. */
static const char *acs__skip_space(const char *p, const char *e, int *line) {
  for (;;) {
    while (p < e &&
           (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n' || *p == '\f' || *p == '\v')) {
      if (*p == '\n') (*line)++;
      p++;
    }
    if (e - p >= 2 && p[0] == '-' && p[1] == '-') {
      p += 2;
      size_t lvl;
      if (p < e && *p == '[' && (lvl = acs__long_bracket(p, e)) != (size_t)-1) {
        p = acs__skip_long(p + lvl + 2, e, lvl, line);
      } else {
        while (p < e && *p != '\n') p++;
      }
      continue;
    }
    return p;
  }
}

static int acs__env_attrib_line(const char *p, size_t len) {
  const char *e = p + len;
  int line = 1;
  for (;;) {
    p = acs__skip_space(p, e, &line);
    if (p >= e) return 0;
    char c = *p;
    if (c == '"' || c == '\'') {
      for (p++; p < e && *p != c; p++) {
        if (*p == '\\' && p + 1 < e) {
          p++;
          if (*p == '\n') line++;
        } else if (*p == '\n') {
          line++;
        }
      }
      p++;
    } else if (c == '[' && acs__long_bracket(p, e) != (size_t)-1) {
      size_t lvl = acs__long_bracket(p, e);
      p = acs__skip_long(p + lvl + 2, e, lvl, &line);
    } else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_') {
      const char *s = p;
      while (p < e && ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || *p == '_' ||
                       (*p >= '0' && *p <= '9')))
        p++;
      if (p - s == 4 && memcmp(s, "_ENV", 4) == 0) {
        int at = line;
        const char *q = acs__skip_space(p, e, &line);
        if (q < e && *q == '<') return at;
      }
    } else if (c >= '0' && c <= '9') { /* numbers: digits, letters, '.', exponent signs */
      while (p < e &&
             ((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
              *p == '.' || *p == '_' || ((*p == '+' || *p == '-') && strchr("eEpP", p[-1]))))
        p++;
    } else {
      p++;
    }
  }
}

/* Compiles chunk c and pushes its function(_ENV, ...). On failure pushes
 * nothing, writes the message to err and returns ACS_EINVAL / ACS_ENOMEM. */
static int acs__compile(lua_State *L, const acs_script_chunk *c, char *err, size_t errlen) {
  if (acs__check_name(c->name)) {
    snprintf(err, errlen, "invalid policy name");
    return ACS_EINVAL;
  }
  if (!c->text) {
    snprintf(err, errlen, "%s: no text", c->name);
    return ACS_EINVAL;
  }
  if (c->len > 0 && c->text[0] == LUA_SIGNATURE[0]) {
    snprintf(err, errlen, "%s: binary chunks are not accepted", c->name);
    return ACS_EINVAL;
  }
  lua_pushfstring(L, "=%s", c->name);
  const char *chunkname = lua_tostring(L, -1);
  int st = luaL_loadbufferx(L, c->text, c->len, chunkname, "t");
  if (st == LUA_OK) {
    lua_pop(L, 1);
    int line = acs__env_attrib_line(c->text, c->len);
    if (line) {
      snprintf(err, errlen, "%s:%d: _ENV cannot be declared with an attribute in policies", c->name,
               line);
      lua_pop(L, 1);
      return ACS_EINVAL;
    }
    static const char head[] = "return function(_ENV, ...) ", tail[] = "\nend";
    size_t wl = sizeof head - 1 + c->len + sizeof tail - 1;
    char *w = lua_newuserdatauv(L, wl, 0);
    memcpy(w, head, sizeof head - 1);
    memcpy(w + sizeof head - 1, c->text, c->len);
    memcpy(w + sizeof head - 1 + c->len, tail, sizeof tail - 1);
    st = luaL_loadbufferx(L, w, wl, chunkname, "t");
    lua_remove(L, -2); /* the text */
  }
  if (st != LUA_OK) {
    const char *m = lua_tostring(L, -1);
    snprintf(err, errlen, "%s", m ? m : "?");
    lua_pop(L, 2);
    return st == LUA_ERRMEM ? ACS_ENOMEM : ACS_EINVAL;
  }
  lua_remove(L, -2); /* the chunk name */
  lua_pushnil(L);
  if (!lua_setupvalue(L, -2, 1)) lua_pop(L, 1); /* the wrapper's _ENV: nothing */
  lua_call(L, 0, 1);                            /* creates the function, runs no policy code */
  if (lua_type(L, -1) != LUA_TFUNCTION) {
    lua_pop(L, 1);
    snprintf(err, errlen, "%s: does not compile as a policy", c->name);
    return ACS_EINVAL;
  }
  return 0;
}

typedef struct acs__load_req {
  acs_script_vm *vm;
  const acs_script_chunk *chunks;
  size_t n;
  bool merge; /* keep the current generation's other policies */
  char *err;
  size_t errlen;
  int rc;
} acs__load_req;

/* Runs the library chunks (at 4) in order, in a library of their own that
 * starts as a copy of the current generation's when merging, freezes its
 * tables and completes the new generation (at 2). */
static int acs__lib_run(lua_State *L, acs_script_vm *vm, acs__load_req *ld) {
  lua_newtable(L); /* 5: the library's globals */
  lua_newtable(L); /* 6: its lazy globals */
  if (ld->merge) {
    lua_rawgeti(L, LUA_REGISTRYINDEX, vm->ref_gen);
    for (int i = 0; i < 2; i++) {
      lua_rawgetp(L, -1, i ? (const void *)&acs__gen_lazy : (const void *)&acs__gen_lib);
      lua_pushnil(L);
      while (lua_next(L, -2)) {
        lua_pushvalue(L, -2);
        lua_insert(L, -2);
        lua_rawset(L, 5 + i);
      }
      lua_pop(L, 1);
    }
    lua_pop(L, 1);
  }
  lua_Integer n = (lua_Integer)lua_rawlen(L, 4);
  for (lua_Integer i = 1; i <= n; i++) {
    lua_rawgeti(L, 4, i);
    acs__lib_env_push(L, vm, 5);
    acs__lib_state_push(L);
    vm->lib_loading = true;
    int st = lua_pcall(L, 2, 1, 0);
    vm->lib_loading = false;
    if (st != LUA_OK) {
      const char *m = lua_tostring(L, -1);
      snprintf(ld->err, ld->errlen, "%s", m ? m : "a library failed to load");
      return st == LUA_ERRMEM ? ACS_ENOMEM : ACS_EINVAL;
    }
    if (lua_istable(L, -1)) {
      lua_pushnil(L);
      while (lua_next(L, -2)) {
        if (lua_type(L, -2) != LUA_TSTRING || lua_type(L, -1) != LUA_TFUNCTION) {
          snprintf(ld->err, ld->errlen, "a library's lazy globals must be name = function");
          return ACS_EINVAL;
        }
        lua_pushvalue(L, -2);
        lua_insert(L, -2);
        lua_rawset(L, 6);
      }
    }
    lua_pop(L, 1);
  }
  acs__freeze_fields(L, vm, 5);
  acs__gen_finish(L, vm, 2, 5, 6);
  lua_pop(L, 2);
  return 0;
}

static int acs__load_p(lua_State *L) {
  acs__load_req *ld = lua_touserdata(L, 1);
  acs_script_vm *vm = ld->vm;
  lua_newtable(L); /* 2: the new generation */
  if (ld->merge) {
    lua_rawgeti(L, LUA_REGISTRYINDEX, vm->ref_gen);
    lua_pushnil(L);
    while (lua_next(L, -2)) {
      lua_pushvalue(L, -2);
      lua_insert(L, -2);
      lua_rawset(L, 2);
    }
    lua_pop(L, 1);
  }
  lua_newtable(L); /* 3: names seen */
  lua_newtable(L); /* 4: the library chunks' functions, in order */
  for (size_t i = 0; i < ld->n; i++) {
    const acs_script_chunk *c = &ld->chunks[i];
    if (c->name && lua_getfield(L, 3, c->name) != LUA_TNIL) {
      snprintf(ld->err, ld->errlen, "%s: policy defined twice", c->name);
      ld->rc = ACS_EINVAL;
      return 0;
    }
    lua_pop(L, c->name ? 1 : 0);
    int rc = acs__compile(L, c, ld->err, ld->errlen);
    if (rc) {
      ld->rc = rc;
      return 0;
    }
    if (c->library)
      lua_rawseti(L, 4, (lua_Integer)lua_rawlen(L, 4) + 1);
    else
      lua_setfield(L, 2, c->name);
    lua_pushboolean(L, 1);
    lua_setfield(L, 3, c->name);
  }
  if ((ld->rc = acs__lib_run(L, vm, ld))) return 0;
  lua_pushvalue(L, 2);
  int ref = luaL_ref(L, LUA_REGISTRYINDEX);
  luaL_unref(L, LUA_REGISTRYINDEX, vm->ref_gen);
  vm->ref_gen = ref;
  vm->generation++;
  ld->rc = 0;
  return 0;
}

static int acs__load_gen(acs_script_vm *vm, const acs_script_chunk *chunks, size_t n, bool merge,
                         char *err, size_t errlen) {
  char dummy[8];
  if (!err || !errlen) err = dummy, errlen = sizeof dummy;
  err[0] = '\0';
  if (vm->cur) return ACS_ESTATE;
  acs__load_req ld = {vm, chunks, n, merge, err, errlen, ACS_ENOMEM};
  int rc = acs__pcall(vm, acs__load_p, &ld);
  if (rc) {
    snprintf(err, errlen, "out of memory while loading policies");
    return rc;
  }
  return ld.rc;
}

int acs_script_vm_load(acs_script_vm *vm, const char *name, const char *text, size_t len, char *err,
                       size_t errlen) {
  acs_script_chunk c = {name, text, len, false};
  return acs__load_gen(vm, &c, 1, true, err, errlen);
}

int acs_script_vm_load_set(acs_script_vm *vm, const acs_script_chunk *chunks, size_t n, char *err,
                           size_t errlen) {
  return acs__load_gen(vm, chunks, n, false, err, errlen);
}

uint64_t acs_script_vm_generation(const acs_script_vm *vm) { return vm->generation; }

static int acs__has_p(lua_State *L) {
  const char **name = lua_touserdata(L, 1);
  acs_script_vm *vm = acs__vm_of(L);
  lua_rawgeti(L, LUA_REGISTRYINDEX, vm->ref_gen);
  if (lua_getfield(L, -1, *name) != LUA_TFUNCTION) *name = NULL;
  return 0;
}

bool acs_script_vm_has(acs_script_vm *vm, const char *name) {
  if (!name) return false;
  const char *n = name;
  if (acs__pcall(vm, acs__has_p, &n)) return false;
  return n != NULL;
}
